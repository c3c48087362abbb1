//! Kubernetes resource quantities for memory sizes: `8Gi`, `512Mi`, `1G`
//! (= 10^9, as in Kubernetes), `1.5Gi`, `1e9`, plain bytes. The result is
//! bytes; the tool writes bytes to sysfs (whose own parser reads `1G` as
//! 2^30, so we never pass suffixes through).

use crate::error::{Error, Result};

/// Parses a Kubernetes quantity into bytes. Fractions must come out as whole
/// bytes (`1.5Gi` is fine, `0.5` is not); negative values, empty input and
/// values past 2^64-1 are refused.
pub fn parse_bytes(s: &str) -> Result<u64> {
    let bad = |why: &str| {
        Error::usage(format!("bad quantity '{s}': {why}"))
            .hint("use bytes or a Kubernetes quantity: 512Mi, 8Gi (binary), 8G (= 8*10^9), 1.5Gi")
    };
    let t = s.trim();
    if t.is_empty() {
        return Err(bad("empty"));
    }
    // Split number and suffix.
    let split = t
        .find(|c: char| !(c.is_ascii_digit() || c == '.' || c == '+'))
        .unwrap_or(t.len());
    let (num, suffix) = t.split_at(split);
    let (num, mult_num, mult_den): (&str, u128, u128) = match suffix {
        "" => (num, 1, 1),
        "Ki" => (num, 1 << 10, 1),
        "Mi" => (num, 1 << 20, 1),
        "Gi" => (num, 1 << 30, 1),
        "Ti" => (num, 1 << 40, 1),
        "Pi" => (num, 1 << 50, 1),
        "Ei" => (num, 1 << 60, 1),
        "k" => (num, 1_000, 1),
        "M" => (num, 1_000_000, 1),
        "G" => (num, 1_000_000_000, 1),
        "T" => (num, 1_000_000_000_000, 1),
        "P" => (num, 1_000_000_000_000_000, 1),
        "E" => (num, 1_000_000_000_000_000_000, 1),
        "m" => (num, 1, 1000),
        _ if suffix.starts_with('e') || suffix.starts_with('E') => {
            let exp: u32 = suffix[1..].parse().map_err(|_| bad("bad exponent"))?;
            if exp > 19 {
                return Err(bad("too large"));
            }
            (num, 10u128.pow(exp), 1)
        }
        "K" => {
            return Err(bad(
                "unknown suffix 'K' (Kubernetes writes kilo as 'k', kibi as 'Ki')",
            ))
        }
        _ if suffix.starts_with('-') || num.is_empty() && t.starts_with('-') => {
            return Err(bad("negative"))
        }
        _ => return Err(bad(&format!("unknown suffix '{suffix}'"))),
    };
    let num = num.strip_prefix('+').unwrap_or(num);
    if num.is_empty() {
        return Err(bad("no number"));
    }
    let (int, frac) = match num.split_once('.') {
        Some((i, f)) => (i, f),
        None => (num, ""),
    };
    if (int.is_empty() && frac.is_empty())
        || !int.bytes().all(|b| b.is_ascii_digit())
        || !frac.bytes().all(|b| b.is_ascii_digit())
        || frac.len() > 18
    {
        return Err(bad("not a number"));
    }
    let int: u128 = if int.is_empty() {
        0
    } else {
        int.parse().map_err(|_| bad("too large"))?
    };
    let scale = 10u128.pow(frac.len() as u32);
    let frac_v: u128 = if frac.is_empty() {
        0
    } else {
        frac.parse().map_err(|_| bad("not a number"))?
    };
    // value = (int + frac/scale) * mult_num / mult_den
    let numer = int
        .checked_mul(scale)
        .and_then(|v| v.checked_add(frac_v))
        .and_then(|v| v.checked_mul(mult_num))
        .ok_or_else(|| bad("too large"))?;
    let denom = scale * mult_den;
    if numer % denom != 0 {
        return Err(bad("not a whole number of bytes"));
    }
    u64::try_from(numer / denom).map_err(|_| bad("too large (more than 2^64-1 bytes)"))
}

/// Formats bytes for people: `8 GiB`, `512 MiB`, `1.5 GiB`, `123 B`.
pub fn format_bytes(b: u64) -> String {
    const UNITS: [(&str, u64); 4] = [
        ("TiB", 1 << 40),
        ("GiB", 1 << 30),
        ("MiB", 1 << 20),
        ("KiB", 1 << 10),
    ];
    for (u, m) in UNITS {
        if b >= m {
            if (b / m) * m == b {
                return format!("{} {u}", b / m);
            }
            return format!("{:.1} {u}", b as f64 / m as f64);
        }
    }
    format!("{b} B")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn binary_and_decimal_suffixes() {
        assert_eq!(parse_bytes("8Gi").unwrap(), 8 << 30);
        assert_eq!(parse_bytes("512Mi").unwrap(), 512 << 20);
        assert_eq!(parse_bytes("1G").unwrap(), 1_000_000_000);
        assert_eq!(parse_bytes("1k").unwrap(), 1000);
        assert_eq!(parse_bytes("2Ki").unwrap(), 2048);
        assert_eq!(parse_bytes("1Ti").unwrap(), 1 << 40);
        assert_eq!(parse_bytes("4096").unwrap(), 4096);
        assert_eq!(parse_bytes(" 7M ").unwrap(), 7_000_000);
    }

    #[test]
    fn fractions_and_exponents() {
        assert_eq!(parse_bytes("1.5Gi").unwrap(), 3 << 29);
        assert_eq!(parse_bytes("0.5Ki").unwrap(), 512);
        assert_eq!(parse_bytes("1e9").unwrap(), 1_000_000_000);
        assert_eq!(parse_bytes("2E3").unwrap(), 2000);
        assert_eq!(parse_bytes("2000m").unwrap(), 2);
        assert!(parse_bytes("1500m").is_err(), "1.5 bytes");
    }

    #[test]
    fn refused() {
        for s in [
            "",
            "Gi",
            "-1Gi",
            "-5",
            "8GB",
            "8K",
            "8 Gi",
            "1.5",
            "0.1",
            "abc",
            "1.2.3Gi",
            "99999999999Ei",
            "1e30",
            "18446744073709551616",
        ] {
            let e = parse_bytes(s).expect_err(s);
            assert_eq!(e.exit_code(), 2, "{s}");
            assert!(e.to_string().contains("bad quantity"), "{s}: {e}");
        }
        assert_eq!(parse_bytes("18446744073709551615").unwrap(), u64::MAX);
    }

    #[test]
    fn formatting() {
        assert_eq!(format_bytes(8 << 30), "8 GiB");
        assert_eq!(format_bytes(3 << 29), "1.5 GiB");
        assert_eq!(format_bytes(100), "100 B");
    }
}
