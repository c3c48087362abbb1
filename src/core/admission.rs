// SPDX-License-Identifier: GPL-2.0

//! Admission of contexts' amounts (issue 18 §2): the memory caps of the
//! contexts on a GPU must fit the card, and their compute caps 100 %,
//! each times the administrator's overcommit ratio (default 1.0). A
//! context without a memory cap reserves no memory, and one without a
//! compute cap (100 %) reserves no compute: they share what the others
//! leave. A cap of a context over several GPUs counts on each of them
//! (its ledger is one for all, so it may use all of it on any).

use super::mgmt::GpuList;

/// What a context reserves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Reservation {
    /// Its GPUs.
    pub gpus: GpuList,
    /// Its memory cap in bytes (`u64::MAX`: none).
    pub mem: u64,
    /// Its compute cap in percent (100: none).
    pub compute_pct: u32,
}

/// Why a reservation does not fit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Overcommit {
    /// The memory caps on host GPU `gpu` would sum to `wanted` bytes,
    /// past `room` (the card's memory times the ratio).
    Memory {
        /// Host GPU.
        gpu: u32,
        /// The caps' sum with the new one.
        wanted: u64,
        /// What the GPU takes.
        room: u64,
    },
    /// The compute caps on `gpu` would sum to `wanted` percent, past
    /// `room`.
    Compute {
        /// Host GPU.
        gpu: u32,
        /// The caps' sum with the new one, percent.
        wanted: u64,
        /// What the GPU takes, percent.
        room: u64,
    },
    /// The card's memory on `gpu` is not known (the vendor could not be
    /// asked): a memory cap cannot be admitted.
    UnknownCard {
        /// Host GPU.
        gpu: u32,
    },
}

/// The default overcommit ratio, percent (1.0).
pub const DEFAULT_RATIO_PCT: u32 = 100;
/// The largest ratio, percent (100.0).
pub const MAX_RATIO_PCT: u32 = 10_000;

/// Whether `new` fits beside `others` on its GPUs, whose memory (usable
/// bytes) `card` gives, at an overcommit ratio of `ratio_pct` percent.
pub fn check(
    others: &[Reservation],
    new: &Reservation,
    card: impl Fn(u32) -> Option<u64>,
    ratio_pct: u32,
) -> Result<(), Overcommit> {
    let ratio = u64::from(ratio_pct);
    for gpu in new.gpus.iter() {
        let on = |r: &&Reservation| r.gpus.contains(gpu);
        if new.mem != u64::MAX {
            let card = card(gpu).ok_or(Overcommit::UnknownCard { gpu })?;
            let wanted = others
                .iter()
                .filter(on)
                .filter(|r| r.mem != u64::MAX)
                .fold(new.mem, |s, r| s.saturating_add(r.mem));
            // card x ratio / 100 without 128-bit division (the kernel has none).
            let room = (card / 100)
                .saturating_mul(ratio)
                .saturating_add(card % 100 * ratio / 100);
            if wanted > room {
                return Err(Overcommit::Memory { gpu, wanted, room });
            }
        }
        if new.compute_pct < 100 {
            let wanted = others
                .iter()
                .filter(on)
                .filter(|r| r.compute_pct < 100)
                .fold(u64::from(new.compute_pct), |s, r| {
                    s + u64::from(r.compute_pct)
                });
            let room = u64::from(ratio_pct);
            if wanted > room {
                return Err(Overcommit::Compute { gpu, wanted, room });
            }
        }
    }
    Ok(())
}

/// Parses an overcommit ratio: a decimal number with at most two
/// fraction digits from 1 to 100 (`1`, `1.0`, `1.25`), optionally
/// followed by a newline; percent.
pub fn parse_ratio(s: &[u8]) -> Option<u32> {
    let s = s.strip_suffix(b"\n").unwrap_or(s);
    let (int, frac) = match s.iter().position(|&c| c == b'.') {
        Some(i) => (&s[..i], &s[i + 1..]),
        None => (s, &b""[..]),
    };
    if int.is_empty() || int.len() > 3 || frac.len() > 2 {
        return None;
    }
    if !int.iter().chain(frac).all(u8::is_ascii_digit) {
        return None;
    }
    let digits = |d: &[u8]| d.iter().fold(0u32, |v, &c| v * 10 + u32::from(c - b'0'));
    let f = match frac.len() {
        0 => 0,
        1 => digits(frac) * 10,
        _ => digits(frac),
    };
    let pct = digits(int) * 100 + f;
    (DEFAULT_RATIO_PCT..=MAX_RATIO_PCT)
        .contains(&pct)
        .then_some(pct)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const GIB: u64 = 1 << 30;

    fn gpus(s: &str) -> GpuList {
        GpuList::parse(s.as_bytes()).unwrap()
    }

    fn r(g: &str, mem: u64, pct: u32) -> Reservation {
        Reservation {
            gpus: gpus(g),
            mem,
            compute_pct: pct,
        }
    }

    fn card(_: u32) -> Option<u64> {
        Some(16 * GIB)
    }

    #[test]
    fn memory_caps_fit_the_card() {
        let others = [r("0", 10 * GIB, 100), r("1", 16 * GIB, 100)];
        assert_eq!(check(&others, &r("0", 6 * GIB, 100), card, 100), Ok(()));
        assert_eq!(
            check(&others, &r("0", 6 * GIB + 1, 100), card, 100),
            Err(Overcommit::Memory {
                gpu: 0,
                wanted: 16 * GIB + 1,
                room: 16 * GIB
            })
        );
        // A context over GPUs 0 and 1 counts its cap on both.
        assert!(check(&others, &r("0,1", GIB, 100), card, 100).is_err());
        // Uncapped contexts reserve nothing.
        let free = [r("0", u64::MAX, 100), r("0", u64::MAX, 100)];
        assert_eq!(check(&free, &r("0", 16 * GIB, 100), card, 100), Ok(()));
        assert_eq!(check(&others, &r("0", u64::MAX, 100), card, 100), Ok(()));
    }

    #[test]
    fn ratio_admits_more() {
        let others = [r("0", 16 * GIB, 100)];
        assert!(check(&others, &r("0", 8 * GIB, 100), card, 100).is_err());
        assert_eq!(check(&others, &r("0", 8 * GIB, 100), card, 150), Ok(()));
        assert!(check(&others, &r("0", 8 * GIB + 1, 100), card, 150).is_err());
    }

    #[test]
    fn compute_caps_fit_100_percent() {
        let others = [r("0", u64::MAX, 60), r("0", u64::MAX, 100)];
        assert_eq!(check(&others, &r("0", u64::MAX, 40), card, 100), Ok(()));
        assert_eq!(
            check(&others, &r("0", u64::MAX, 41), card, 100),
            Err(Overcommit::Compute {
                gpu: 0,
                wanted: 101,
                room: 100
            })
        );
        assert_eq!(check(&others, &r("0", u64::MAX, 100), card, 100), Ok(()));
        assert_eq!(check(&others, &r("1", u64::MAX, 99), card, 100), Ok(()));
    }

    #[test]
    fn unknown_card_refuses_a_memory_cap_only() {
        let none = |_| None;
        assert_eq!(
            check(&[], &r("2", GIB, 100), none, 100),
            Err(Overcommit::UnknownCard { gpu: 2 })
        );
        assert_eq!(check(&[], &r("2", u64::MAX, 50), none, 100), Ok(()));
    }

    #[test]
    fn ratios() {
        for (s, want) in [
            ("1", Some(100)),
            ("1.0", Some(100)),
            ("1.5\n", Some(150)),
            ("1.25", Some(125)),
            ("100", Some(10_000)),
            ("0.5", None),
            ("100.01", None),
            ("1.255", None),
            ("", None),
            (".5", None),
            ("1.", Some(100)),
            ("x", None),
            ("-1", None),
            ("1000", None),
        ] {
            assert_eq!(parse_ratio(s.as_bytes()), want, "{s:?}");
        }
    }

    proptest! {
        #[test]
        fn admitted_caps_never_pass_the_room(
            caps in proptest::collection::vec((0u64..20 * GIB, 1u32..=100), 0..12),
            ratio in 100u32..300,
        ) {
            let mut admitted: Vec<Reservation> = Vec::new();
            for (mem, pct) in caps {
                let new = r("0", mem, pct);
                if check(&admitted, &new, card, ratio).is_ok() {
                    admitted.push(new);
                }
            }
            let mem: u64 = admitted.iter().map(|r| r.mem).sum();
            let pct: u64 = admitted.iter().filter(|r| r.compute_pct < 100).map(|r| u64::from(r.compute_pct)).sum();
            prop_assert!(u128::from(mem) * 100 <= u128::from(16 * GIB) * u128::from(ratio));
            prop_assert!(pct <= u64::from(ratio));
        }
    }
}
