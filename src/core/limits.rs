// SPDX-License-Identifier: GPL-2.0

//! Per-context limits on what a tenant can make the kernel keep for it
//! (issue 16 §5): RM objects in the proxy's table, open proxy files and
//! gated doorbell mappings. Past a limit the call is refused as the
//! vendor refuses one it has no room for, and the refusal is counted;
//! sysfs `limits` shows and sets them.

/// What a limit bounds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Limited {
    /// RM objects the proxy tracks for the context (allocations, dups,
    /// imports): refused with `NV_ERR_INSUFFICIENT_RESOURCES`.
    Objects = 0,
    /// Proxy files open on the context's nodes: the open fails (`EMFILE`).
    Files = 1,
    /// Gated doorbell mappings: the mmap fails (`ENOMEM`).
    Doorbells = 2,
}

impl Limited {
    /// Every kind, in sysfs order.
    pub const ALL: [Limited; 3] = [Limited::Objects, Limited::Files, Limited::Doorbells];

    /// Its name in sysfs.
    pub const fn name(self) -> &'static str {
        match self {
            Limited::Objects => "objects",
            Limited::Files => "files",
            Limited::Doorbells => "doorbells",
        }
    }

    /// The default limit: well above what the captured workloads use
    /// (PyTorch, JAX and CuPy: at most a few thousand objects, a few files
    /// and one doorbell per process and GPU) and small enough that a tenant
    /// cannot make the proxy hold much kernel memory (an object costs the
    /// proxy about 100 bytes).
    pub const fn default_limit(self) -> u32 {
        match self {
            Limited::Objects => 131_072,
            Limited::Files => 8_192,
            Limited::Doorbells => 4_096,
        }
    }

    fn by_name(s: &[u8]) -> Option<Limited> {
        Limited::ALL.into_iter().find(|l| l.name().as_bytes() == s)
    }
}

/// The limits of one context.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    values: [u32; 3],
}

impl Default for Limits {
    fn default() -> Self {
        Self::DEFAULT
    }
}

/// Why a `limits` write was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LimitsError {
    /// A word is not `NAME=N`.
    Syntax,
    /// No such limit.
    UnknownLimit,
    /// The value is not a number from 1 to [`MAX_LIMIT`].
    BadValue,
    /// Nothing was given.
    Empty,
}

/// The largest value a limit takes.
pub const MAX_LIMIT: u32 = 1 << 24;

impl Limits {
    /// Every limit at its default.
    pub const DEFAULT: Limits = Limits {
        values: [
            Limited::Objects.default_limit(),
            Limited::Files.default_limit(),
            Limited::Doorbells.default_limit(),
        ],
    };

    /// The limit on `l`.
    pub const fn get(&self, l: Limited) -> u32 {
        self.values[l as usize]
    }

    /// Whether one more of `l` is allowed when `used` exist.
    pub const fn allows(&self, l: Limited, used: u64) -> bool {
        used < self.get(l) as u64
    }

    /// These limits with `input` applied: whitespace-separated
    /// `NAME=N` words (`objects`, `files`, `doorbells`), at least one;
    /// all or nothing.
    pub fn with(&self, input: &[u8]) -> Result<Limits, LimitsError> {
        let mut out = *self;
        let mut any = false;
        for word in input
            .split(|c| c.is_ascii_whitespace())
            .filter(|w| !w.is_empty())
        {
            let eq = word
                .iter()
                .position(|&c| c == b'=')
                .ok_or(LimitsError::Syntax)?;
            let (name, value) = (&word[..eq], &word[eq + 1..]);
            let l = Limited::by_name(name).ok_or(LimitsError::UnknownLimit)?;
            let v = parse_u32(value).ok_or(LimitsError::BadValue)?;
            if v == 0 || v > MAX_LIMIT {
                return Err(LimitsError::BadValue);
            }
            out.values[l as usize] = v;
            any = true;
        }
        if any {
            Ok(out)
        } else {
            Err(LimitsError::Empty)
        }
    }
}

fn parse_u32(s: &[u8]) -> Option<u32> {
    if s.is_empty() || s.len() > 10 {
        return None;
    }
    let mut v: u64 = 0;
    for &c in s {
        if !c.is_ascii_digit() {
            return None;
        }
        v = v * 10 + u64::from(c - b'0');
    }
    u32::try_from(v).ok()
}

/// One vector of [`VECTORS`]: an input and the resulting (objects, files,
/// doorbells), from the defaults.
pub type Vector = (&'static str, Result<(u32, u32, u32), LimitsError>);

/// Shared test vectors of [`Limits::with`] (host tests and KUnit).
pub const VECTORS: &[Vector] = &[
    ("objects=50", Ok((50, 8_192, 4_096))),
    ("files=4 doorbells=1\n", Ok((131_072, 4, 1))),
    ("  objects=1 files=2 doorbells=3 ", Ok((1, 2, 3))),
    ("objects=16777216", Ok((16_777_216, 8_192, 4_096))),
    ("objects=16777217", Err(LimitsError::BadValue)),
    ("objects=0", Err(LimitsError::BadValue)),
    ("objects=-1", Err(LimitsError::BadValue)),
    ("objects=", Err(LimitsError::BadValue)),
    ("objects", Err(LimitsError::Syntax)),
    ("handles=5", Err(LimitsError::UnknownLimit)),
    ("files=4 handles=5", Err(LimitsError::UnknownLimit)),
    ("", Err(LimitsError::Empty)),
    ("\n", Err(LimitsError::Empty)),
];

/// Runs [`VECTORS`]; the index of the first that fails, if any.
pub fn check_vectors() -> Option<usize> {
    for (i, (input, want)) in VECTORS.iter().enumerate() {
        let got = Limits::DEFAULT.with(input.as_bytes()).map(|l| {
            (
                l.get(Limited::Objects),
                l.get(Limited::Files),
                l.get(Limited::Doorbells),
            )
        });
        if got != *want {
            return Some(i);
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn vectors() {
        assert_eq!(check_vectors(), None);
    }

    #[test]
    fn allows_below_the_limit_only() {
        let l = Limits::DEFAULT.with(b"files=2").unwrap();
        assert!(l.allows(Limited::Files, 0));
        assert!(l.allows(Limited::Files, 1));
        assert!(!l.allows(Limited::Files, 2));
        assert!(!l.allows(Limited::Files, u64::MAX));
    }

    proptest! {
        #[test]
        fn a_refused_write_changes_nothing(input in proptest::collection::vec(any::<u8>(), 0..40)) {
            let base = Limits::DEFAULT.with(b"objects=7").unwrap();
            if let Ok(l) = base.with(&input) {
                for k in Limited::ALL {
                    prop_assert!(l.get(k) >= 1 && l.get(k) <= MAX_LIMIT);
                }
            }
            // `with` never mutates its receiver.
            prop_assert_eq!(base.get(Limited::Objects), 7);
        }
    }
}
