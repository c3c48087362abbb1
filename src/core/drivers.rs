// SPDX-License-Identifier: GPL-2.0

//! The vendor drivers whose ABI fakegpu knows. The proxy refuses to open a
//! vendor file whose driver is not in this table (unless the module runs
//! in permissive mode): an unknown ABI is never passed through blindly.
//!
//! The driver is identified by the kernel module that owns the vendor
//! file's operations (its name and `MODULE_VERSION`).

use super::nvabi::branch::Branch;

/// One supported driver ABI.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DriverAbi {
    /// Kernel module name.
    pub module: &'static str,
    /// The driver branch, whose version prefix the module's version must
    /// have (the ABI is stable inside a branch; see
    /// `research/nvidia-abi.md` §0) and whose table decodes its calls.
    pub branch: Branch,
}

/// The kernel modules whose files fakegpu proxies: NVIDIA's, and nvsim,
/// the simulated driver of the test VM (which speaks either branch).
const MODULES: [&str; 3] = ["nvidia", "nvidia_uvm", "nvsim"];

/// The supported versions, as a message names them.
pub const SUPPORTED_VERSIONS: &str = "580.x, 550.x";

/// The entry for `module` at `version`, if supported. Dotted versions must
/// match the branch's prefix at a component boundary (`580.` matches
/// `580.159.04`, not `5800.1`).
pub fn lookup(module: &[u8], version: &[u8]) -> Option<DriverAbi> {
    let module = *MODULES.iter().find(|m| m.as_bytes() == module)?;
    let branch = *Branch::ALL
        .iter()
        .find(|b| version.starts_with(b.version_prefix().as_bytes()))?;
    Some(DriverAbi { module, branch })
}

/// A vendor driver the module met (a vendor file's owner, or the kernel RM
/// API's handshake): what sysfs `driver` shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Met {
    module: [u8; 32],
    module_len: usize,
    version: [u8; 32],
    version_len: usize,
    /// Its branch, if fakegpu has a table for it.
    pub branch: Option<Branch>,
}

impl Met {
    /// `module` at `version` (each cut at 32 bytes; a longer name or
    /// version is no driver's).
    pub fn new(module: &[u8], version: &[u8]) -> Met {
        let mut m = Met {
            module: [0; 32],
            module_len: module.len().min(32),
            version: [0; 32],
            version_len: version.len().min(32),
            branch: lookup(module, version).map(|d| d.branch),
        };
        m.module[..m.module_len].copy_from_slice(&module[..m.module_len]);
        m.version[..m.version_len].copy_from_slice(&version[..m.version_len]);
        m
    }

    /// The kernel module's name.
    pub fn module(&self) -> &[u8] {
        &self.module[..self.module_len]
    }

    /// Its `MODULE_VERSION` (or the RM API's version string).
    pub fn version(&self) -> &[u8] {
        &self.version[..self.version_len]
    }
}

impl core::fmt::Display for Met {
    /// `MODULE VERSION BRANCH`, the branch `unsupported` when fakegpu has
    /// no table for it (non-UTF-8 bytes shown as `?`).
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        fn text(b: &[u8]) -> &str {
            core::str::from_utf8(b).unwrap_or("?")
        }
        write!(
            f,
            "{} {} {}",
            text(self.module()),
            text(self.version()),
            self.branch.map(Branch::name).unwrap_or("unsupported")
        )
    }
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
        let branch = |m: &[u8], v: &[u8]| lookup(m, v).map(|d| d.branch);
        assert_eq!(branch(b"nvidia", b"580.159.04"), Some(Branch::R580));
        assert_eq!(branch(b"nvidia_uvm", b"580.65.06"), Some(Branch::R580));
        assert_eq!(branch(b"nvsim", b"580.159.04"), Some(Branch::R580));
        assert_eq!(branch(b"nvidia", b"550.163.01"), Some(Branch::R550));
        assert_eq!(branch(b"nvsim", b"550.163.01"), Some(Branch::R550));
        assert!(lookup(b"nvidia", b"590.44.01").is_none());
        assert!(lookup(b"nvidia", b"570.86.15").is_none());
        assert!(lookup(b"nvidia", b"5500.1").is_none());
        assert!(lookup(b"nvidia", b"5800.1").is_none());
        assert!(lookup(b"nvidia", b"").is_none());
        assert!(lookup(b"nouveau", b"580.1").is_none());
    }

    #[test]
    fn met_shows_module_version_branch() {
        extern crate std;
        use std::string::ToString;
        assert_eq!(
            Met::new(b"nvsim", b"550.163.01").to_string(),
            "nvsim 550.163.01 550"
        );
        assert_eq!(
            Met::new(b"nvidia", b"580.159.04").to_string(),
            "nvidia 580.159.04 580"
        );
        assert_eq!(
            Met::new(b"nvidia", b"590.44.01").to_string(),
            "nvidia 590.44.01 unsupported"
        );
        let long = [b'9'; 40];
        assert_eq!(Met::new(b"nvidia", &long).version().len(), 32);
    }
}
