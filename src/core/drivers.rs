// SPDX-License-Identifier: GPL-2.0

//! The vendor drivers whose ABI fakegpu knows. The proxy refuses to open a
//! vendor file whose driver is not in this table (unless the module runs
//! in permissive mode): an unknown ABI is never passed through blindly.
//!
//! The driver is identified by the kernel module that owns the vendor
//! file's operations (its name and `MODULE_VERSION`).

/// One supported driver ABI.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DriverAbi {
    /// Kernel module name.
    pub module: &'static str,
    /// Version prefix (a driver branch: the ABI is stable inside it; see
    /// `research/nvidia-abi.md` §0).
    pub version_prefix: &'static str,
    /// The ABI declarations that describe it.
    pub abi: &'static str,
}

/// The table of supported driver ABIs.
pub const SUPPORTED: &[DriverAbi] = &[
    DriverAbi {
        module: "nvidia",
        version_prefix: "580.",
        abi: "r580",
    },
    DriverAbi {
        module: "nvidia_uvm",
        version_prefix: "580.",
        abi: "r580",
    },
    // The simulated driver of the test VM speaks the 580 ABI.
    DriverAbi {
        module: "nvsim",
        version_prefix: "580.",
        abi: "r580",
    },
];

/// The entry for `module` at `version`, if supported. Dotted versions must
/// match the prefix at a component boundary (`580.` matches `580.159.04`,
/// not `5800.1`).
pub fn lookup(module: &[u8], version: &[u8]) -> Option<&'static DriverAbi> {
    SUPPORTED
        .iter()
        .find(|d| d.module.as_bytes() == module && version.starts_with(d.version_prefix.as_bytes()))
}

/// The size the 580 driver allocates for a video-memory request of `size`
/// bytes (measured on the H100, tests/fidelity/h100-580.159.04/): 64 KiB
/// granules up to 2 MiB (1 B, 4 KiB and 64 KiB all become 64 KiB), 2 MiB
/// granules above (2 MiB + 1 B becomes 4 MiB; CUDA's 4,325,376 B becomes
/// 6 MiB in the captures). The proxy reserves this much before asking the
/// vendor, so rounding can never carry a context past its cap. `None` on
/// overflow.
pub fn round_vidmem(size: u64) -> Option<u64> {
    const SMALL: u64 = 64 << 10;
    const LARGE: u64 = 2 << 20;
    size.checked_next_multiple_of(if size > LARGE { LARGE } else { SMALL })
}

#[cfg(all(test, not(MODULE)))]
mod tests {
    use super::*;

    #[test]
    fn vidmem_rounding_as_measured() {
        for (req, got) in [
            (1, 65536),
            (4096, 65536),
            (65536, 65536),
            (1 << 20, 1 << 20),
            (2097153, 4 << 20),
            (64 << 20, 64 << 20),
            (4325376, 6 << 20),
            (72116352, 70 << 20),
            (432537600, 414 << 20),
        ] {
            assert_eq!(round_vidmem(req), Some(got), "{req}");
        }
        assert_eq!(round_vidmem(0), Some(0));
        assert_eq!(round_vidmem(u64::MAX), None);
    }

    #[test]
    fn table() {
        assert_eq!(
            lookup(b"nvidia", b"580.159.04").map(|d| d.abi),
            Some("r580")
        );
        assert_eq!(
            lookup(b"nvidia_uvm", b"580.65.06").map(|d| d.abi),
            Some("r580")
        );
        assert_eq!(lookup(b"nvsim", b"580.159.04").map(|d| d.abi), Some("r580"));
        assert!(lookup(b"nvidia", b"590.44.01").is_none());
        assert!(lookup(b"nvidia", b"5800.1").is_none());
        assert!(lookup(b"nvidia", b"").is_none());
        assert!(lookup(b"nouveau", b"580.1").is_none());
    }
}
