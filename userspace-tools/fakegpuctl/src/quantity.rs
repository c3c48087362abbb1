//! Memory sizes, parsed by the module's own rule: this is a thin layer over
//! `fakegpu_core::quantity::parse_bytes`, the parser the kernel runs on
//! `mem=` and `mem_limit_bytes`, so `--mem 8G` means the same bytes in
//! fakegpuctl, the device plugin's config and sysfs.
//!
//! The rule: plain bytes (`4096`, hex `0x1000`), or a whole number with a
//! binary suffix `K M G T P E` (either case), optionally followed by `i`
//! and/or `B`: `8G` = `8Gi` = `8GiB` = 8·2^30 bytes. There are no decimal
//! (10^n) units and no fractions: `1.5Gi` is refused, write `1536Mi`.
//! Refused too: signs, blanks inside, unknown suffixes, more than 2^64-1.

use crate::error::{Error, Result};
use fakegpu_core::quantity::{self, QuantityError};

/// What `--help` and the hints say about quantities.
pub const RULE: &str = "bytes, or a whole number with K, M, G, T, P or E (binary: \
8G = 8Gi = 8GiB = 8*2^30 bytes, as the module reads it; no decimal units, no fractions)";

/// Parses a memory size into bytes, by the module's rule (see the module
/// docs); leading and trailing blanks are ignored.
pub fn parse_bytes(s: &str) -> Result<u64> {
    quantity::parse_bytes(s.as_bytes()).map_err(|e| {
        let why = match e {
            QuantityError::Overflow => "too large (more than 2^64-1 bytes)",
            QuantityError::Invalid if s.contains('.') => "not a whole number (no fractions)",
            QuantityError::Invalid => "not a number with a binary suffix",
        };
        Error::usage(format!("bad quantity '{s}': {why}"))
            .hint("use bytes or a binary suffix: 512M, 8G (= 8Gi = 8*2^30 bytes), 1536Mi")
    })
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

    /// The CLI's parse is the core's (the kernel's), input for input,
    /// refusals included: the core's own vectors and a table of what
    /// operators type.
    #[test]
    fn same_bytes_as_the_module() {
        let typed = [
            "8G",
            "8Gi",
            "8GiB",
            "8GB",
            "8g",
            "1K",
            "1k",
            "2Ki",
            "512M",
            "512Mi",
            "1T",
            "1Ti",
            "4096",
            "0x1000",
            " 7M ",
            "8G\n",
            "15E",
            "16E",
            "0",
            "",
            "Gi",
            "-1Gi",
            "-5",
            "+5",
            "8 Gi",
            "1.5Gi",
            "1.5",
            "0.5Ki",
            "1e9",
            "2000m",
            "8XB",
            "12XB",
            "abc",
            "1.2.3Gi",
            "18446744073709551615",
            "18446744073709551616",
            "99999999999Ei",
            "0x",
            "1Gx",
        ];
        let core = fakegpu_core::quantity::VECTORS.iter().map(|(s, _)| *s);
        for s in typed.into_iter().chain(core) {
            let want = quantity::parse_bytes(s.as_bytes()).ok();
            let got = parse_bytes(s);
            assert_eq!(got.as_ref().ok().copied(), want, "input {s:?}");
            if let Err(e) = got {
                assert_eq!(e.exit_code(), 2, "{s:?}");
                assert!(e.to_string().contains("bad quantity"), "{s:?}: {e}");
            }
        }
    }

    #[test]
    fn the_rule() {
        assert_eq!(parse_bytes("8G").unwrap(), 8 << 30, "G is binary");
        assert_eq!(parse_bytes("8Gi").unwrap(), 8 << 30);
        assert_eq!(parse_bytes("8GiB").unwrap(), 8 << 30);
        assert_eq!(parse_bytes("1k").unwrap(), 1024);
        assert_eq!(parse_bytes("4096").unwrap(), 4096);
        assert_eq!(parse_bytes("18446744073709551615").unwrap(), u64::MAX);
        // Case does not matter: `m` is mebi (not Kubernetes' milli).
        assert_eq!(parse_bytes("2000m").unwrap(), 2000 << 20);
        for s in ["1.5Gi", "1e9", "-1Gi", "8 Gi", "", "16E", "12XB"] {
            assert!(parse_bytes(s).is_err(), "{s:?}");
        }
        assert!(parse_bytes("1.5Gi")
            .unwrap_err()
            .to_string()
            .contains("no fractions"));
    }

    #[test]
    fn formatting() {
        assert_eq!(format_bytes(8 << 30), "8 GiB");
        assert_eq!(format_bytes(3 << 29), "1.5 GiB");
        assert_eq!(format_bytes(100), "100 B");
    }
}
