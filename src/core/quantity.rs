// SPDX-License-Identifier: GPL-2.0

//! Parsing of byte quantities the way operators write them.
//!
//! Accepts what the kernel's `memparse()` accepts for a plain number with a
//! binary suffix (`K`, `M`, `G`, `T`, `P`, `E`, either case, so `1G` is
//! 2^30), plus the Kubernetes/IEC spellings `Ki`, `Mi`, `Gi`, `Ti`, `Pi`,
//! `Ei`, and an optional trailing `B` after a suffix (`8GiB`, `8GB`).
//! Unlike `memparse()`, trailing garbage, empty input, signs and overflow are
//! errors, not silently ignored.

/// Why a quantity was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum QuantityError {
    /// No digits, or characters that are not part of a quantity.
    Invalid,
    /// The value does not fit in 64 bits.
    Overflow,
}

/// Parses a byte quantity such as `4096`, `0x1000`, `512M`, `8Gi` or `1GiB`.
///
/// Leading and trailing ASCII whitespace (a newline from `echo`) is ignored.
pub fn parse_bytes(input: &[u8]) -> Result<u64, QuantityError> {
    let s = trim(input);
    let (digits, radix) = match s {
        [b'0', b'x' | b'X', rest @ ..] => (rest, 16),
        _ => (s, 10),
    };
    let ndigits = digits
        .iter()
        .take_while(|c| (**c as char).is_digit(radix))
        .count();
    if ndigits == 0 {
        return Err(QuantityError::Invalid);
    }
    let mut value: u64 = 0;
    for &c in &digits[..ndigits] {
        // `take_while` above guarantees a digit of this radix.
        let d = match (c as char).to_digit(radix) {
            Some(d) => u64::from(d),
            None => return Err(QuantityError::Invalid),
        };
        value = value
            .checked_mul(u64::from(radix))
            .and_then(|v| v.checked_add(d))
            .ok_or(QuantityError::Overflow)?;
    }
    let shift = match suffix_shift(&digits[ndigits..]) {
        Some(shift) => shift,
        None => return Err(QuantityError::Invalid),
    };
    if shift == 0 {
        return Ok(value);
    }
    if value.leading_zeros() < shift {
        return Err(QuantityError::Overflow);
    }
    Ok(value << shift)
}

/// The binary shift a suffix stands for, or `None` if it is not one.
fn suffix_shift(suffix: &[u8]) -> Option<u32> {
    let (unit, rest) = match suffix.split_first() {
        None => return Some(0),
        Some((u, rest)) => (*u, rest),
    };
    let shift = match unit.to_ascii_uppercase() {
        b'K' => 10,
        b'M' => 20,
        b'G' => 30,
        b'T' => 40,
        b'P' => 50,
        b'E' => 60,
        _ => return None,
    };
    match rest {
        [] | [b'i'] | [b'B'] | [b'i', b'B'] => Some(shift),
        _ => None,
    }
}

fn trim(mut s: &[u8]) -> &[u8] {
    while let [first, rest @ ..] = s {
        if !first.is_ascii_whitespace() {
            break;
        }
        s = rest;
    }
    while let [rest @ .., last] = s {
        if !last.is_ascii_whitespace() {
            break;
        }
        s = rest;
    }
    s
}

/// Test vectors shared by the host tests and the in-kernel KUnit tests, so
/// that both sides check the same behaviour of the same source.
pub const VECTORS: &[(&str, Result<u64, QuantityError>)] = &[
    ("0", Ok(0)),
    ("4096", Ok(4096)),
    ("0x1000", Ok(4096)),
    ("1K", Ok(1 << 10)),
    ("1k", Ok(1 << 10)),
    ("512M", Ok(512 << 20)),
    ("1G", Ok(1 << 30)),
    ("8Gi", Ok(8 << 30)),
    ("8GiB", Ok(8 << 30)),
    ("2T", Ok(2 << 40)),
    ("16E", Err(QuantityError::Overflow)),
    ("15E", Ok(15 << 60)),
    ("18446744073709551615", Ok(u64::MAX)),
    ("18446744073709551616", Err(QuantityError::Overflow)),
    ("8G\n", Ok(8 << 30)),
    ("  7 ", Ok(7)),
    ("", Err(QuantityError::Invalid)),
    ("G", Err(QuantityError::Invalid)),
    ("-1", Err(QuantityError::Invalid)),
    ("1.5G", Err(QuantityError::Invalid)),
    ("1Gx", Err(QuantityError::Invalid)),
    ("1 G", Err(QuantityError::Invalid)),
    ("0x", Err(QuantityError::Invalid)),
];

#[cfg(all(test, not(MODULE)))]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn vectors() {
        for (input, want) in VECTORS {
            assert_eq!(parse_bytes(input.as_bytes()), *want, "input {input:?}");
        }
    }

    proptest! {
        #[test]
        fn never_panics(input in proptest::collection::vec(any::<u8>(), 0..40)) {
            let _ = parse_bytes(&input);
        }

        #[test]
        fn decimal_round_trips(v in any::<u64>()) {
            prop_assert_eq!(parse_bytes(format!("{v}").as_bytes()), Ok(v));
        }

        #[test]
        fn suffixes_scale(v in 0u64..(1 << 20), i in 0usize..4) {
            let (sfx, shift) = [("K", 10), ("Mi", 20), ("GiB", 30), ("t", 40)][i];
            prop_assert_eq!(parse_bytes(format!("{v}{sfx}").as_bytes()), Ok(v << shift));
        }
    }
}
