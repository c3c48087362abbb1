// SPDX-License-Identifier: GPL-2.0

//! Parsing of the management interface's input: the line written to
//! `/sys/kernel/fakegpu/create` and the values written to per-context files.
//!
//! `create` takes `NAME key=value...`, separated by blanks:
//!
//! - `gpus=LIST`: the host GPU indices the context may use, as a comma list
//!   of indices and ranges (`0`, `0,1`, `0-3`); default `0`. The container
//!   sees them numbered from 0 in this order.
//! - `mem=QUANTITY`: the memory cap in bytes ([`super::quantity`] syntax:
//!   `8G`, `8Gi`, `512M`, `4096`); default: no cap.
//!
//! Later keys (compute shares) are added here; anything else is refused.

use super::quantity::{parse_bytes, QuantityError};

/// Most GPUs a host may have (GPU indices are 0..MAX_GPUS).
pub const MAX_GPUS: u32 = 64;
/// Longest context name.
pub const MAX_NAME_LEN: usize = 32;

/// A set of GPU indices, kept in the order the container numbers them.
///
/// # Invariants
///
/// `order[..len]` are distinct indices below [`MAX_GPUS`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GpuList {
    order: [u8; MAX_GPUS as usize],
    len: u8,
}

impl GpuList {
    /// No GPUs.
    pub const EMPTY: Self = Self {
        order: [0; MAX_GPUS as usize],
        len: 0,
    };

    /// The list holding only `index` (which must be below [`MAX_GPUS`]).
    pub fn single(index: u32) -> Option<Self> {
        let mut l = Self::EMPTY;
        l.push(index).ok()?;
        Some(l)
    }

    fn push(&mut self, index: u32) -> Result<(), MgmtError> {
        if index >= MAX_GPUS {
            return Err(MgmtError::BadGpuList);
        }
        if self.contains(index) {
            return Err(MgmtError::BadGpuList);
        }
        let slot = self
            .order
            .get_mut(usize::from(self.len))
            .ok_or(MgmtError::BadGpuList)?;
        *slot = index as u8;
        self.len += 1;
        Ok(())
    }

    /// Number of GPUs.
    pub fn len(&self) -> usize {
        usize::from(self.len)
    }

    /// Whether the list is empty.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Host GPU indices, in the container's order.
    pub fn iter(&self) -> impl Iterator<Item = u32> + '_ {
        self.order.iter().take(self.len()).map(|&i| u32::from(i))
    }

    /// Whether host GPU `index` is in the list.
    pub fn contains(&self, index: u32) -> bool {
        self.iter().any(|i| i == index)
    }

    /// The host index of the container's GPU number `local`.
    pub fn host_index(&self, local: u32) -> Option<u32> {
        self.iter().nth(local as usize)
    }

    /// The container's number for host GPU `host`.
    pub fn local_index(&self, host: u32) -> Option<u32> {
        self.iter().position(|i| i == host).map(|p| p as u32)
    }

    /// Parses `0`, `0,1`, `0-3`, `2,0-1`.
    pub fn parse(s: &[u8]) -> Result<Self, MgmtError> {
        let mut list = Self::EMPTY;
        if s.is_empty() {
            return Err(MgmtError::BadGpuList);
        }
        for item in s.split(|&c| c == b',') {
            let (lo, hi) = match item.iter().position(|&c| c == b'-') {
                Some(p) => (parse_index(&item[..p])?, parse_index(&item[p + 1..])?),
                None => {
                    let i = parse_index(item)?;
                    (i, i)
                }
            };
            if lo > hi {
                return Err(MgmtError::BadGpuList);
            }
            for i in lo..=hi {
                list.push(i)?;
            }
        }
        Ok(list)
    }
}

fn parse_index(s: &[u8]) -> Result<u32, MgmtError> {
    if s.is_empty() || s.len() > 3 || !s.iter().all(u8::is_ascii_digit) {
        return Err(MgmtError::BadGpuList);
    }
    let v = s
        .iter()
        .fold(0u32, |acc, &c| acc * 10 + u32::from(c - b'0'));
    if v >= MAX_GPUS {
        return Err(MgmtError::BadGpuList);
    }
    Ok(v)
}

/// What `create` asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CreateSpec<'a> {
    /// The context's name (validated by [`check_name`]).
    pub name: &'a str,
    /// Its GPUs.
    pub gpus: GpuList,
    /// Its memory cap in bytes, `None` for no cap.
    pub mem_limit: Option<u64>,
    /// Its compute settings (`compute=`, `weight=`, `priority=`).
    pub compute: super::sched::Params,
}

/// Why management input was refused. Each maps to an errno in the module
/// and has a reason for the log line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MgmtError {
    /// No name given.
    MissingName,
    /// The name has characters other than `[A-Za-z0-9_.-]`, starts with
    /// `.` or `-`, or is too long.
    BadName,
    /// A `key=value` item without `=`, or an unknown key.
    UnknownKey,
    /// A key given twice.
    DuplicateKey,
    /// A bad `gpus=` list.
    BadGpuList,
    /// A bad quantity.
    BadQuantity(QuantityError),
    /// A bad `compute=` (1-100), `weight=` (1-1000) or `priority=`
    /// (`high`, `normal`).
    BadCompute,
    /// Input that is not UTF-8 or has control characters.
    BadInput,
}

impl MgmtError {
    /// A short reason for the log line.
    pub fn reason(&self) -> &'static str {
        match self {
            Self::MissingName => "no context name given",
            Self::BadName => {
                "invalid context name (1-32 of [A-Za-z0-9_.-], not starting with '.' or '-')"
            }
            Self::UnknownKey => "unknown key (known: gpus=, mem=, compute=, weight=, priority=)",
            Self::BadCompute => {
                "invalid compute setting (compute=1..100, weight=1..1000, priority=high|normal)"
            }
            Self::DuplicateKey => "key given twice",
            Self::BadGpuList => {
                "invalid gpus= list (indices 0-63, e.g. 0 or 0,1 or 0-3, no repeats)"
            }
            Self::BadQuantity(QuantityError::Overflow) => "quantity too large",
            Self::BadQuantity(QuantityError::Invalid) => {
                "invalid quantity (bytes, or with K/M/G/T or Ki/Mi/Gi/Ti)"
            }
            Self::BadInput => "input is not printable text",
        }
    }
}

/// Checks a context name: 1 to [`MAX_NAME_LEN`] bytes of `[A-Za-z0-9_.-]`,
/// not starting with `.` or `-` (so never `.`, `..` or an option).
pub fn check_name(name: &str) -> Result<(), MgmtError> {
    let b = name.as_bytes();
    let ok_char = |c: &u8| c.is_ascii_alphanumeric() || matches!(c, b'_' | b'.' | b'-');
    match b.first() {
        None => Err(MgmtError::MissingName),
        Some(b'.' | b'-') => Err(MgmtError::BadName),
        Some(_) if b.len() > MAX_NAME_LEN || !b.iter().all(ok_char) => Err(MgmtError::BadName),
        Some(_) => Ok(()),
    }
}

/// Parses the line written to `create`.
pub fn parse_create(input: &[u8]) -> Result<CreateSpec<'_>, MgmtError> {
    let text = core::str::from_utf8(input).map_err(|_| MgmtError::BadInput)?;
    if text
        .chars()
        .any(|c| c.is_control() && !c.is_ascii_whitespace())
    {
        return Err(MgmtError::BadInput);
    }
    let mut words = text.split_ascii_whitespace();
    let name = words.next().ok_or(MgmtError::MissingName)?;
    check_name(name)?;
    let mut gpus = None;
    let mut mem_limit = None;
    let (mut pct, mut weight, mut priority) = (None, None, None);
    for word in words {
        let (key, value) = word.split_once('=').ok_or(MgmtError::UnknownKey)?;
        match key {
            "gpus" => {
                if gpus.is_some() {
                    return Err(MgmtError::DuplicateKey);
                }
                gpus = Some(GpuList::parse(value.as_bytes())?);
            }
            "mem" => {
                if mem_limit.is_some() {
                    return Err(MgmtError::DuplicateKey);
                }
                mem_limit = Some(parse_bytes(value.as_bytes()).map_err(MgmtError::BadQuantity)?);
            }
            "compute" | "weight" | "priority" => {
                let v = value.as_bytes();
                let dup = match key {
                    "compute" => pct
                        .replace(super::sched::parse_pct(v).ok_or(MgmtError::BadCompute)?)
                        .is_some(),
                    "weight" => weight
                        .replace(super::sched::parse_weight(v).ok_or(MgmtError::BadCompute)?)
                        .is_some(),
                    _ => priority
                        .replace(super::sched::Priority::parse(v).ok_or(MgmtError::BadCompute)?)
                        .is_some(),
                };
                if dup {
                    return Err(MgmtError::DuplicateKey);
                }
            }
            _ => return Err(MgmtError::UnknownKey),
        }
    }
    let gpus = match gpus {
        Some(g) => g,
        None => GpuList::single(0).ok_or(MgmtError::BadGpuList)?,
    };
    let d = super::sched::Params::DEFAULT;
    let compute = super::sched::Params {
        limit_pct: pct.unwrap_or(d.limit_pct),
        weight: weight.unwrap_or(d.weight),
        priority: priority.unwrap_or(d.priority),
    };
    Ok(CreateSpec {
        name,
        gpus,
        mem_limit,
        compute,
    })
}

/// Parses the name written to `destroy` (surrounding blanks ignored).
pub fn parse_destroy(input: &[u8]) -> Result<&str, MgmtError> {
    let text = core::str::from_utf8(input)
        .map_err(|_| MgmtError::BadInput)?
        .trim_ascii();
    check_name(text)?;
    Ok(text)
}

#[cfg(all(test, not(MODULE)))]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn gpus(l: &GpuList) -> std::vec::Vec<u32> {
        l.iter().collect()
    }

    #[test]
    fn create_lines() {
        let s = parse_create(b"ctr1 gpus=0,1 mem=8G\n").unwrap();
        assert_eq!(s.name, "ctr1");
        assert_eq!(gpus(&s.gpus), [0, 1]);
        assert_eq!(s.mem_limit, Some(8 << 30));
        let s = parse_create(b"a").unwrap();
        assert_eq!((gpus(&s.gpus), s.mem_limit), (std::vec![0], None));
        let s = parse_create(b"  b.x-1_2   mem=512Mi gpus=3,0-1 ").unwrap();
        assert_eq!(gpus(&s.gpus), [3, 0, 1]);
        assert_eq!(s.gpus.host_index(0), Some(3));
        assert_eq!(s.gpus.local_index(1), Some(2));
        assert_eq!(s.mem_limit, Some(512 << 20));
        assert_eq!(s.compute, super::super::sched::Params::DEFAULT);
        let s = parse_create(b"c compute=30 weight=2 priority=high").unwrap();
        let want = super::super::sched::Params {
            limit_pct: 30,
            weight: 2,
            priority: super::super::sched::Priority::High,
        };
        assert_eq!(s.compute, want);
    }

    #[test]
    fn refusals() {
        use MgmtError::*;
        for (input, want) in [
            (&b""[..], MissingName),
            (b"   \n", MissingName),
            (b".x", BadName),
            (b"-x", BadName),
            (b"a/b", BadName),
            (b"..", BadName),
            (b"abcdefghijabcdefghijabcdefghijabc", BadName),
            (b"a mem", UnknownKey),
            (b"a cpus=1", UnknownKey),
            (b"a mem=1G mem=2G", DuplicateKey),
            (b"a compute=0", BadCompute),
            (b"a compute=101", BadCompute),
            (b"a weight=0", BadCompute),
            (b"a weight=1001", BadCompute),
            (b"a priority=urgent", BadCompute),
            (b"a compute=30 compute=40", DuplicateKey),
            (b"a priority=high priority=high", DuplicateKey),
            (b"a gpus=0 gpus=1", DuplicateKey),
            (b"a gpus=", BadGpuList),
            (b"a gpus=0,0", BadGpuList),
            (b"a gpus=64", BadGpuList),
            (b"a gpus=2-1", BadGpuList),
            (b"a gpus=x", BadGpuList),
            (b"a mem=1.5G", BadQuantity(QuantityError::Invalid)),
            (b"a mem=99999999E", BadQuantity(QuantityError::Overflow)),
            (b"a\x01 mem=1", BadInput),
            (b"\xff", BadInput),
        ] {
            assert_eq!(
                parse_create(input),
                Err(want),
                "{:?}",
                core::str::from_utf8(input)
            );
        }
        assert_eq!(check_name("abcdefghijabcdefghijabcdefghijab"), Ok(()));
    }

    #[test]
    fn destroy_names() {
        assert_eq!(parse_destroy(b"ctr1\n"), Ok("ctr1"));
        assert_eq!(parse_destroy(b"a b"), Err(MgmtError::BadName));
        assert_eq!(parse_destroy(b""), Err(MgmtError::MissingName));
    }

    proptest! {
        #[test]
        fn never_panics(input in proptest::collection::vec(any::<u8>(), 0..80)) {
            let _ = parse_create(&input);
            let _ = parse_destroy(&input);
            let _ = GpuList::parse(&input);
        }

        #[test]
        fn gpu_lists_round_trip(mut v in proptest::collection::vec(0u32..64, 1..10)) {
            v.dedup();
            let mut seen = std::collections::BTreeSet::new();
            v.retain(|x| seen.insert(*x));
            let text = v.iter().map(|x| std::format!("{x}")).collect::<std::vec::Vec<_>>().join(",");
            let l = GpuList::parse(text.as_bytes()).unwrap();
            prop_assert_eq!(gpus(&l), v);
        }
    }
}
