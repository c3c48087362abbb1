// SPDX-License-Identifier: GPL-2.0

//! Managed memory (`cudaMallocManaged`) of one context, charged by its
//! virtual size.
//!
//! A managed allocation is an `mmap` of the nvidia-uvm file (offset = the
//! address); UVM backs its pages from the GPU's PMA when the GPU touches
//! them, without any RM allocation, so neither the ledger's RM charges nor
//! the RM's per-process count (`GPU_GET_PID_INFO`) see it (measured on the
//! H100: tests/fidelity/h100-580.159.04/managed.txt). What the proxy does
//! see is the mapping: under the `charge` policy every managed mapping is
//! charged to the context's ledger at its full size when it is made, so a
//! context can never make more of its managed memory resident than its
//! cap, whatever it touches. The charge goes when the mapping goes.
//!
//! The proxy is not told of munmap (UVM's own `vm_ops` must stay on the
//! vma: UVM recognizes its vmas by them), so the table is reconciled with
//! the address space at the points where a charge matters: before a new
//! managed mapping is admitted, at calls on the UVM file, when the ledger
//! is read, and when a file closes. [`ManagedRanges::reconcile`] lowers
//! each range's charge to the bytes of it that are still mapped by a UVM
//! vma (a vma of UVM never grows: `VM_DONTEXPAND`; a split keeps both
//! pieces; a move or a fork gives a vma UVM disables, which is still
//! counted: a conservative charge, never a missing one).
//!
//! Storage is the object table's ordered [`Map`] (red-black tree in the
//! kernel, `BTreeMap` on the host), keyed by (address space, start).
//!
//! # Invariants
//!
//! - Every range has `start < end` and `0 < charged <= end - start`.
//! - Ranges of one space never overlap.
//! - `total` is the sum of `charged` over all ranges.

use super::objects::{Full, Map, Storage};

/// What a context does with managed (UVM) mappings: sysfs
/// `managed_memory`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Policy {
    /// Charged at their size against the cap (the default).
    Charge,
    /// Refused, except ranges of at most [`RUNTIME_RANGE`] bytes, which
    /// are charged: the CUDA driver maps one such range at init in every
    /// process (all captures in tests/traces), so refusing it would refuse
    /// CUDA itself. `cudaMallocManaged` of more fails.
    Deny,
    /// Forwarded and not charged: the context's managed memory is limited
    /// by nothing but the card.
    Allow,
}

/// The largest managed range [`Policy::Deny`] lets through: the 2 MiB
/// (one UVM VA block) the CUDA driver maps at init.
pub const RUNTIME_RANGE: u64 = 2 << 20;

/// Most managed ranges a context may hold at once; beyond, mappings are
/// refused (ENOMEM) and counted.
pub const MAX_RANGES: usize = 4096;

impl Policy {
    /// The sysfs spelling.
    pub const fn name(self) -> &'static str {
        match self {
            Policy::Charge => "charge",
            Policy::Deny => "deny",
            Policy::Allow => "allow",
        }
    }

    /// Parses the sysfs spelling (surrounding whitespace ignored).
    pub fn parse(s: &str) -> Option<Self> {
        match s.trim() {
            "charge" => Some(Policy::Charge),
            "deny" => Some(Policy::Deny),
            "allow" => Some(Policy::Allow),
            _ => None,
        }
    }
}

/// The verdict on a new managed mapping of `len` bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Admit {
    /// Forward it and record nothing.
    Forward,
    /// Charge `len` bytes (refused with ENOMEM if the cap cannot take
    /// them), record the range, then forward.
    Charge,
    /// Refuse it (ENOMEM) without asking the vendor.
    Refuse,
}

/// What `policy` says of a new managed mapping of `len` bytes.
pub const fn admit(policy: Policy, len: u64) -> Admit {
    match policy {
        Policy::Allow => Admit::Forward,
        Policy::Charge => Admit::Charge,
        Policy::Deny if len <= RUNTIME_RANGE => Admit::Charge,
        Policy::Deny => Admit::Refuse,
    }
}

/// One recorded range (its key holds the space and the end).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Extent {
    /// First byte.
    pub start: u64,
    /// Bytes charged for it; 0 only for an entry `add` is making.
    pub charged: u64,
}

/// The managed ranges of one context.
pub struct ManagedRanges<S: Storage> {
    /// Keyed by (space, end): the first range that may overlap
    /// `[a, b)` is the first key above `(space, a)`.
    ranges: S::Map<(u64, u64), Extent>,
    count: usize,
    total: u64,
}

impl<S: Storage> ManagedRanges<S> {
    /// No ranges.
    pub fn new() -> Self {
        Self {
            ranges: S::new_map(),
            count: 0,
            total: 0,
        }
    }

    /// Bytes charged for all ranges.
    pub fn total(&self) -> u64 {
        self.total
    }

    /// How many ranges are recorded.
    pub fn count(&self) -> usize {
        self.count
    }

    /// Whether one more range fits under [`MAX_RANGES`].
    pub fn has_room(&self) -> bool {
        self.count < MAX_RANGES
    }

    /// The first range of `space` ending after `after`: (end, extent).
    fn next_in(&self, space: u64, after: u64) -> Option<(u64, Extent)> {
        let from = after.checked_add(1)?;
        match self.ranges.lower_bound(&(space, from)) {
            Some(((s, end), e)) if s == space => Some((end, e)),
            _ => None,
        }
    }

    /// The smallest recorded space at or above `from`.
    pub fn next_space(&self, from: u64) -> Option<u64> {
        self.ranges.lower_bound(&(from, 0)).map(|((s, _), _)| s)
    }

    fn take(&mut self, space: u64, end: u64) -> Option<Extent> {
        let e = self.ranges.remove(&(space, end))?;
        self.count -= 1;
        self.total -= e.charged;
        Some(e)
    }

    /// Records `[start, end)` of `space`, charged in full, in place of
    /// whatever part of other ranges of `space` it covers (a `MAP_FIXED`
    /// mapping replaces what was there). What is left of a covered range
    /// outside `[start, end)` keeps the charge `live` reports for it
    /// (capped by its old charge). Returns the bytes no range holds any
    /// more, which the caller uncharges; the caller has charged
    /// `end - start` already. On `Err` (the storage is out of memory)
    /// nothing changed.
    pub fn add(
        &mut self,
        space: u64,
        start: u64,
        end: u64,
        live: &mut dyn FnMut(u64, u64) -> u64,
    ) -> Result<u64, Full> {
        if start >= end {
            return Ok(0);
        }
        // What the new range covers: the first and the last overlapping
        // ranges (the only ones that can reach outside it).
        let first = self.next_in(space, start).filter(|(_, e)| e.start < end);
        let mut last = first;
        let mut at_end = false;
        let mut c = start;
        while let Some((k, e)) = self.next_in(space, c) {
            if e.start >= end {
                break;
            }
            at_end |= k == end;
            last = Some((k, e));
            c = k;
        }
        let head = first.filter(|(_, e)| e.start < start);
        let tail = last.filter(|(k, _)| *k > end);
        // The entries to make: the new range's (unless a covered range
        // ends where it ends: that entry is reused) and the head's. Made
        // first, as placeholders (charged 0), so a failure changes
        // nothing.
        if !at_end {
            self.ranges
                .insert((space, end), Extent { start, charged: 0 })?;
        }
        if head.is_some() {
            if let Err(f) = self
                .ranges
                .insert((space, start), Extent { start, charged: 0 })
            {
                if !at_end {
                    self.ranges.remove(&(space, end));
                }
                return Err(f);
            }
            self.count += 1;
        }
        if !at_end {
            self.count += 1;
        }
        let before = self.total;
        // Every covered range but the tail's goes; a range ending at
        // `end` becomes the new range's placeholder.
        let mut c = start;
        while let Some((k, e)) = self.next_in(space, c) {
            c = k;
            if e.charged == 0 {
                continue;
            }
            if e.start >= end || Some(k) == tail.map(|t| t.0) {
                break;
            }
            if k == end {
                self.total -= e.charged;
                if let Some(x) = self.ranges.get_mut(&(space, k)) {
                    *x = Extent { start, charged: 0 };
                }
            } else {
                self.take(space, k);
            }
        }
        // The head keeps what is live of it, within the first range's
        // old charge.
        let mut head_charge = 0;
        if let Some((_, e)) = head {
            head_charge = live(e.start, start).min(start - e.start).min(e.charged);
            if head_charge == 0 {
                self.ranges.remove(&(space, start));
                self.count -= 1;
            } else if let Some(x) = self.ranges.get_mut(&(space, start)) {
                *x = Extent {
                    start: e.start,
                    charged: head_charge,
                };
                self.total += head_charge;
            }
        }
        // The tail likewise, within what the last range's charge left
        // (less the head's, if it was the same range).
        if let Some((k, e)) = tail {
            let room = if head.map(|h| h.0) == Some(k) {
                e.charged - head_charge
            } else {
                e.charged
            };
            let t = live(end, k).min(k - end).min(room);
            self.total -= e.charged;
            if t == 0 {
                self.ranges.remove(&(space, k));
                self.count -= 1;
            } else if let Some(x) = self.ranges.get_mut(&(space, k)) {
                *x = Extent {
                    start: end,
                    charged: t,
                };
                self.total += t;
            }
        }
        // Nothing above charges more than it dropped: the head and the
        // tail are capped by the charges they came from.
        let released = before - self.total;
        // The new range, in its placeholder.
        let len = end - start;
        if let Some(x) = self.ranges.get_mut(&(space, end)) {
            *x = Extent {
                start,
                charged: len,
            };
            self.total += len;
        }
        Ok(released)
    }

    /// Lowers the charge of every range of `space` to the bytes of it
    /// that `live(start, end)` reports still mapped (never raising it),
    /// dropping ranges with none left. Returns the bytes released.
    pub fn reconcile(&mut self, space: u64, live: &mut dyn FnMut(u64, u64) -> u64) -> u64 {
        let mut released = 0;
        let mut c = 0;
        while let Some((k, e)) = self.next_in(space, c) {
            c = k;
            let l = live(e.start, k).min(k - e.start);
            if l >= e.charged {
                continue;
            }
            if l == 0 {
                if let Some(old) = self.take(space, k) {
                    released += old.charged;
                }
            } else if let Some(x) = self.ranges.get_mut(&(space, k)) {
                released += x.charged - l;
                self.total -= x.charged - l;
                x.charged = l;
            }
        }
        released
    }

    /// Drops every range of `space` (its address space is gone). Returns
    /// the bytes released.
    pub fn release_space(&mut self, space: u64) -> u64 {
        self.reconcile(space, &mut |_, _| 0)
    }
}

impl<S: Storage> Default for ManagedRanges<S> {
    fn default() -> Self {
        Self::new()
    }
}

#[cfg(all(test, not(MODULE)))]
mod tests {
    use super::super::objects::tests::Std;
    use super::*;
    use proptest::prelude::*;
    use std::vec::Vec;

    type R = ManagedRanges<Std>;

    const M: u64 = 1 << 20;

    fn ranges(r: &R, space: u64) -> Vec<(u64, u64, u64)> {
        let mut v = Vec::new();
        let mut c = 0;
        while let Some((end, e)) = r.next_in(space, c) {
            v.push((e.start, end, e.charged));
            c = end;
        }
        v
    }

    /// Everything is live.
    fn all(s: u64, e: u64) -> u64 {
        e - s
    }

    #[test]
    fn policy_names_round_trip() {
        for p in [Policy::Charge, Policy::Deny, Policy::Allow] {
            assert_eq!(Policy::parse(p.name()), Some(p));
        }
        assert_eq!(Policy::parse(" deny\n"), Some(Policy::Deny));
        assert_eq!(Policy::parse("yes"), None);
    }

    #[test]
    fn admit_rules() {
        assert_eq!(admit(Policy::Allow, 1 << 40), Admit::Forward);
        assert_eq!(admit(Policy::Charge, 1 << 40), Admit::Charge);
        assert_eq!(admit(Policy::Deny, RUNTIME_RANGE), Admit::Charge);
        assert_eq!(admit(Policy::Deny, RUNTIME_RANGE + 4096), Admit::Refuse);
    }

    #[test]
    fn add_reconcile_release() {
        let mut r = R::new();
        assert_eq!(
            r.add(1, 0x1000_0000, 0x1000_0000 + 256 * M, &mut all),
            Ok(0)
        );
        assert_eq!(r.add(2, 0x1000_0000, 0x1000_0000 + 64 * M, &mut all), Ok(0));
        assert_eq!(r.total(), 320 * M);
        // Half of space 1's range unmapped.
        assert_eq!(r.reconcile(1, &mut |_, _| 128 * M), 128 * M);
        assert_eq!(r.total(), 192 * M);
        // Never raised again.
        assert_eq!(r.reconcile(1, &mut |s, e| e - s), 0);
        assert_eq!(r.total(), 192 * M);
        assert_eq!(r.release_space(1), 128 * M);
        assert_eq!(r.count(), 1);
        assert_eq!(r.release_space(2), 64 * M);
        assert_eq!((r.total(), r.count()), (0, 0));
    }

    #[test]
    fn a_fixed_mapping_replaces_what_it_covers() {
        let mut r = R::new();
        r.add(1, 0, 100 * M, &mut all).unwrap();
        // Inside: the old range keeps [0, 10M) and [20M, 100M).
        assert_eq!(r.add(1, 10 * M, 20 * M, &mut all), Ok(10 * M));
        assert_eq!(
            ranges(&r, 1),
            [
                (0, 10 * M, 10 * M),
                (10 * M, 20 * M, 10 * M),
                (20 * M, 100 * M, 80 * M)
            ]
        );
        assert_eq!(r.total(), 100 * M);
        // Over all three and more.
        assert_eq!(r.add(1, 0, 200 * M, &mut all), Ok(100 * M));
        assert_eq!(ranges(&r, 1), [(0, 200 * M, 200 * M)]);
        // At the same start, shorter.
        assert_eq!(r.add(1, 0, 50 * M, &mut all), Ok(50 * M));
        assert_eq!(
            ranges(&r, 1),
            [(0, 50 * M, 50 * M), (50 * M, 200 * M, 150 * M)]
        );
        assert_eq!(r.total(), 200 * M);
    }

    /// Model: one byte per page of a small address space, per space.
    #[derive(Debug, Clone)]
    enum Op {
        Add(u8, u8, u8),
        Unmap(u8, u8, u8),
        Reconcile(u8),
        Release(u8),
    }

    fn op() -> impl Strategy<Value = Op> {
        prop_oneof![
            (0..3u8, 0..64u8, 1..32u8).prop_map(|(s, a, l)| Op::Add(s, a, l)),
            (0..3u8, 0..64u8, 1..32u8).prop_map(|(s, a, l)| Op::Unmap(s, a, l)),
            (0..3u8).prop_map(Op::Reconcile),
            (0..3u8).prop_map(Op::Release),
        ]
    }

    proptest! {
        /// Against a model of the address spaces (which pages are mapped
        /// managed): the charge is never below what is mapped (no range
        /// goes uncharged, whatever the order of maps, unmaps and
        /// reconciles), after a reconcile of every space it is exactly
        /// what is mapped, and it is never above what was ever charged
        /// and not released.
        #[test]
        fn never_undercharges(ops in proptest::collection::vec(op(), 1..60)) {
            const P: u64 = 4096;
            let mut r = R::new();
            let mut mapped = [[false; 96]; 3];
            let mut charged: u64 = 0;
            let live = |m: &[bool; 96], s: u64, e: u64| (s / P..e / P).filter(|&i| m[i as usize]).count() as u64 * P;
            for o in ops {
                match o {
                    Op::Add(sp, a, l) => {
                        let (s, e) = (a as u64 * P, (a as u64 + l as u64) * P);
                        charged += e - s;
                        let m = mapped[sp as usize];
                        let rel = r.add(sp as u64, s, e, &mut |a, b| live(&m, a, b)).unwrap();
                        charged -= rel;
                        for i in a..a + l { mapped[sp as usize][i as usize] = true; }
                    }
                    Op::Unmap(sp, a, l) => {
                        for i in a..a + l { mapped[sp as usize][i as usize] = false; }
                    }
                    Op::Reconcile(sp) => {
                        let m = mapped[sp as usize];
                        charged -= r.reconcile(sp as u64, &mut |s, e| live(&m, s, e));
                    }
                    Op::Release(sp) => {
                        charged -= r.release_space(sp as u64);
                        mapped[sp as usize] = [false; 96];
                    }
                }
                prop_assert_eq!(r.total(), charged);
                let all: u64 = (0..3).map(|s| live(&mapped[s], 0, 96 * P)).sum();
                prop_assert!(r.total() >= all, "charged {} < mapped {}", r.total(), all);
                for sp in 0..3u64 {
                    let v = ranges(&r, sp);
                    for w in v.windows(2) { prop_assert!(w[0].1 <= w[1].0, "overlap {:?}", w); }
                    for (s, e, c) in v { prop_assert!(s < e && c > 0 && c <= e - s); }
                }
            }
            for sp in 0..3u64 {
                let m = mapped[sp as usize];
                r.reconcile(sp, &mut |s, e| live(&m, s, e));
            }
            let all: u64 = (0..3).map(|s| live(&mapped[s], 0, 96 * P)).sum();
            prop_assert_eq!(r.total(), all);
        }
    }
}
