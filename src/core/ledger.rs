// SPDX-License-Identifier: GPL-2.0

//! The memory ledger of one context: bytes in use, the cap, the peak, and how
//! many allocations were refused.
//!
//! The ledger is a plain value; the caller (the kernel module) keeps it under
//! a lock. A charge is reserved before the vendor is asked to allocate and is
//! then either committed (the vendor succeeded) or released (it failed), so
//! that two racing allocations can never both pass a cap that only one fits.
//!
//! # Invariants
//!
//! - `used <= peak` at all times;
//! - `used` only exceeds `limit` after `set_limit` lowered the cap below the
//!   usage of the moment (lowering never kills), never through a charge.

/// Memory accounting of one context, in bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ledger {
    limit: u64,
    used: u64,
    peak: u64,
    refused: u64,
}

/// A charge was refused: it would have taken usage above the cap.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OverLimit {
    /// Bytes still free under the cap when the charge was refused.
    pub available: u64,
}

impl Ledger {
    /// A ledger with the given cap and nothing charged.
    pub const fn new(limit: u64) -> Self {
        Self {
            limit,
            used: 0,
            peak: 0,
            refused: 0,
        }
    }

    /// The cap, in bytes.
    pub const fn limit(&self) -> u64 {
        self.limit
    }

    /// Bytes charged now.
    pub const fn used(&self) -> u64 {
        self.used
    }

    /// Highest `used` ever seen.
    pub const fn peak(&self) -> u64 {
        self.peak
    }

    /// Number of refused charges.
    pub const fn refused(&self) -> u64 {
        self.refused
    }

    /// Bytes that may still be charged (zero when over the cap).
    pub const fn available(&self) -> u64 {
        self.limit.saturating_sub(self.used)
    }

    /// Charges `bytes`, or refuses (and counts the refusal) if the result
    /// would pass the cap.
    pub fn charge(&mut self, bytes: u64) -> Result<(), OverLimit> {
        match self.used.checked_add(bytes) {
            Some(total) if total <= self.limit => {
                self.used = total;
                if total > self.peak {
                    self.peak = total;
                }
                Ok(())
            }
            _ => {
                self.refused = self.refused.saturating_add(1);
                Err(OverLimit {
                    available: self.available(),
                })
            }
        }
    }

    /// Returns `bytes` charged earlier. Returning more than is charged is a
    /// bug of the caller; the ledger clamps at zero and reports it.
    pub fn uncharge(&mut self, bytes: u64) -> Result<(), Underflow> {
        match self.used.checked_sub(bytes) {
            Some(rest) => {
                self.used = rest;
                Ok(())
            }
            None => {
                let err = Underflow {
                    used: self.used,
                    returned: bytes,
                };
                self.used = 0;
                Err(err)
            }
        }
    }

    /// Replaces a charge of `reserved` bytes, made before the vendor was
    /// asked, by the `actual` bytes the vendor allocated. The difference is
    /// taken even past the cap: the memory exists, and the ledger must match
    /// the vendor (the cap then refuses further charges until it is back).
    pub fn settle(&mut self, reserved: u64, actual: u64) {
        self.used = self.used.saturating_sub(reserved).saturating_add(actual);
        if self.used > self.peak {
            self.peak = self.used;
        }
    }

    /// Changes the cap. Raising takes effect at once; lowering below the
    /// current usage refuses new charges but takes nothing back.
    pub fn set_limit(&mut self, limit: u64) {
        self.limit = limit;
    }
}

/// More bytes were returned than were charged: an accounting bug.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Underflow {
    /// Bytes charged before the return.
    pub used: u64,
    /// Bytes returned.
    pub returned: u64,
}

/// The audit of a context's video memory against the vendor's own count
/// (`docs/isolation.md` §5): after every allocating call the proxy asks the
/// vendor how much video memory it holds for the context's processes.
pub mod audit {
    /// Re-counts before a surplus is taken for an attack: the ledger is
    /// returned when a proxy file is released, the vendor frees that file's
    /// clients when its own file is released a moment later, and an audit
    /// in between sees the vendor's old count.
    pub const SETTLE_TRIES: u32 = 50;
    /// Pause between re-counts, in microseconds (at most 500 ms in all).
    pub const SETTLE_US: i64 = 10_000;

    /// Whether the vendor holds video memory the ledger does not charge.
    /// The ledger may hold more than the vendor (reservations in flight,
    /// frees the vendor made first, memory a tenant charged itself), never
    /// less: every byte the vendor allocates for a context is reserved
    /// under the cap before the call, and settled at most to the
    /// reservation.
    pub fn diverges(vendor: u64, ledger: u64) -> bool {
        vendor > ledger
    }

    /// The part of the ledger's usage `used` that the vendor's per-process
    /// count can see: less the charges it attributes to no process
    /// (`unattributed`, `ObjectTable::unattributed`) and
    /// managed memory (`managed`), which no RM object holds. Compared with
    /// the whole usage, those charges would be slack: video memory of a
    /// rewritten call up to their size would pass unseen.
    pub fn visible(used: u64, unattributed: u64, managed: u64) -> u64 {
        used.saturating_sub(unattributed).saturating_sub(managed)
    }

    #[cfg(all(test, not(MODULE)))]
    mod tests {
        use super::*;

        #[test]
        fn only_a_vendor_surplus_diverges() {
            assert!(!diverges(0, 0));
            assert!(!diverges(1 << 20, 1 << 20));
            assert!(!diverges(1 << 20, 64 << 20));
            assert!(diverges((1 << 20) + 1, 1 << 20));
            assert!(diverges(1, 0));
            // 192 MiB held by two dups only, 64 MiB plain: a vendor count
            // past 64 MiB diverges.
            let mib = 1u64 << 20;
            assert_eq!(visible(256 * mib, 192 * mib, 0), 64 * mib);
            assert!(diverges(65 * mib, visible(256 * mib, 192 * mib, 0)));
            assert_eq!(visible(10, 20, 0), 0);
            assert_eq!(visible(100, 10, 30), 60);
            const { assert!(SETTLE_TRIES as i64 * SETTLE_US <= 500_000) };
        }
    }
}

#[cfg(all(test, not(MODULE)))]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn charges_up_to_the_cap_exactly() {
        let mut l = Ledger::new(100);
        assert_eq!(l.charge(60), Ok(()));
        assert_eq!(l.charge(41), Err(OverLimit { available: 40 }));
        assert_eq!(l.charge(40), Ok(()));
        assert_eq!((l.used(), l.peak(), l.refused()), (100, 100, 1));
        assert_eq!(l.charge(1), Err(OverLimit { available: 0 }));
        assert_eq!(l.uncharge(100), Ok(()));
        assert_eq!((l.used(), l.peak(), l.refused()), (0, 100, 2));
    }

    #[test]
    fn overflowing_charge_is_refused() {
        let mut l = Ledger::new(u64::MAX);
        assert_eq!(l.charge(u64::MAX), Ok(()));
        assert!(l.charge(1).is_err());
        assert_eq!(l.used(), u64::MAX);
    }

    #[test]
    fn lowering_the_cap_keeps_usage() {
        let mut l = Ledger::new(100);
        l.charge(80).unwrap();
        l.set_limit(50);
        assert_eq!(l.used(), 80);
        assert_eq!(l.available(), 0);
        assert!(l.charge(1).is_err());
        l.uncharge(40).unwrap();
        assert_eq!(l.charge(10), Ok(()));
    }

    #[test]
    fn settle_counts_what_the_vendor_allocated() {
        let mut l = Ledger::new(100);
        l.charge(60).unwrap();
        l.settle(60, 64);
        assert_eq!((l.used(), l.peak()), (64, 64));
        l.charge(36).unwrap();
        l.settle(36, 40);
        assert_eq!((l.used(), l.available()), (104, 0));
        assert!(l.charge(1).is_err());
        l.settle(40, 0);
        assert_eq!((l.used(), l.peak()), (64, 104));
    }

    #[test]
    fn underflow_is_reported_and_clamped() {
        let mut l = Ledger::new(100);
        l.charge(10).unwrap();
        assert_eq!(
            l.uncharge(11),
            Err(Underflow {
                used: 10,
                returned: 11
            })
        );
        assert_eq!(l.used(), 0);
    }

    proptest! {
        /// Any sequence of charges and uncharges of what was charged keeps
        /// usage equal to the sum of live charges, never above the cap, and
        /// peak equal to the highest usage seen.
        #[test]
        fn model(limit in 0u64..1000, ops in proptest::collection::vec((any::<bool>(), 0u64..300), 0..200)) {
            let mut l = Ledger::new(limit);
            let mut live: std::vec::Vec<u64> = std::vec::Vec::new();
            let (mut peak, mut refused) = (0u64, 0u64);
            for (alloc, n) in ops {
                if alloc || live.is_empty() {
                    let sum: u64 = live.iter().sum();
                    if sum + n <= limit {
                        prop_assert!(l.charge(n).is_ok());
                        live.push(n);
                        peak = peak.max(sum + n);
                    } else {
                        prop_assert_eq!(l.charge(n), Err(OverLimit { available: limit - sum }));
                        refused += 1;
                    }
                } else {
                    let v = live.swap_remove(n as usize % live.len());
                    prop_assert!(l.uncharge(v).is_ok());
                }
                prop_assert_eq!(l.used(), live.iter().sum::<u64>());
                prop_assert!(l.used() <= l.limit());
                prop_assert_eq!(l.peak(), peak);
                prop_assert_eq!(l.refused(), refused);
            }
        }
    }
}
