//! Kubernetes quantities (`12Gi`, `25`, `1.5G`, `500m`, `1e3`), as the API
//! server's `resource.Quantity` writes and reads them, to whole numbers and
//! back. Amounts that are not whole (such as `1500m` bytes) are refused:
//! the kernel counts bytes and percent.

/// Parses a quantity into a whole number.
pub fn parse(q: &str) -> Result<u64, String> {
    let s = q.trim();
    let bad = || format!("bad quantity '{q}'");
    let (num, suffix) = s.split_at(
        s.find(|c: char| !(c.is_ascii_digit() || c == '.' || c == '+'))
            .unwrap_or(s.len()),
    );
    let num = num.strip_prefix('+').unwrap_or(num);
    if num.is_empty() || num.matches('.').count() > 1 || num == "." {
        return Err(bad());
    }
    let (int, frac) = num.split_once('.').unwrap_or((num, ""));
    let digits: String = format!("{int}{frac}");
    let mantissa: u128 = digits.parse().map_err(|_| bad())?;
    // value = mantissa * mult / div
    let mut div: u128 = 10u128.checked_pow(frac.len() as u32).ok_or_else(bad)?;
    let mult: u128 = match suffix {
        "" => 1,
        "Ki" => 1 << 10,
        "Mi" => 1 << 20,
        "Gi" => 1 << 30,
        "Ti" => 1 << 40,
        "Pi" => 1 << 50,
        "Ei" => 1 << 60,
        "k" => 1_000,
        "M" => 1_000_000,
        "G" => 1_000_000_000,
        "T" => 1_000_000_000_000,
        "P" => 1_000_000_000_000_000,
        "E" => 1_000_000_000_000_000_000,
        "m" => {
            div = div.checked_mul(1000).ok_or_else(bad)?;
            1
        }
        e if e.starts_with(['e', 'E']) => {
            let n: u32 = e[1..].parse().map_err(|_| bad())?;
            10u128.checked_pow(n).ok_or_else(bad)?
        }
        _ => return Err(bad()),
    };
    let v = mantissa.checked_mul(mult).ok_or_else(bad)?;
    if v % div != 0 {
        return Err(format!("quantity '{q}' is not a whole number"));
    }
    u64::try_from(v / div).map_err(|_| format!("quantity '{q}' is too large"))
}

/// Formats bytes the way the API server writes them canonically: the
/// largest binary suffix that divides exactly (`12Gi`, `256Mi`, `1000`).
pub fn format_bytes(b: u64) -> String {
    for (s, shift) in [
        ("Ei", 60),
        ("Pi", 50),
        ("Ti", 40),
        ("Gi", 30),
        ("Mi", 20),
        ("Ki", 10),
    ] {
        if b != 0 && b.is_multiple_of(1u64 << shift) {
            return format!("{}{s}", b >> shift);
        }
    }
    b.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_what_the_api_server_writes() {
        assert_eq!(parse("12Gi"), Ok(12 << 30));
        assert_eq!(parse("256Mi"), Ok(256 << 20));
        assert_eq!(parse("25"), Ok(25));
        assert_eq!(parse("1.5Gi"), Ok(3 << 29));
        assert_eq!(parse("2G"), Ok(2_000_000_000));
        assert_eq!(parse("2000m"), Ok(2));
        assert_eq!(parse("1e3"), Ok(1000));
        assert_eq!(parse("12884901888"), Ok(12 << 30));
        assert!(parse("1500m").is_err());
        assert!(parse("12GB").is_err());
        assert!(parse("-1").is_err());
        assert!(parse("").is_err());
        assert!(parse("20Ei").is_err());
    }

    #[test]
    fn formats_canonically() {
        assert_eq!(format_bytes(80 << 30), "80Gi");
        assert_eq!(format_bytes(16 << 30), "16Gi");
        assert_eq!(format_bytes(256 << 20), "256Mi");
        assert_eq!(format_bytes(1000), "1000");
        assert_eq!(format_bytes(0), "0");
        for b in [1u64 << 30, 12 << 30, 3 << 29, 4096, 7] {
            assert_eq!(parse(&format_bytes(b)), Ok(b));
        }
    }
}
