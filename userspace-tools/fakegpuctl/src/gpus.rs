//! The physical GPUs, from the vendor's nodes (`/dev/nvidiactl`,
//! `/dev/nvidiaN`) through the nvrm library, and the contexts using each.

use crate::error::{Error, Kind, Result};
use crate::sysfs::Sysfs;
use std::collections::BTreeMap;
use std::path::Path;

/// One physical GPU.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct GpuInfo {
    /// Index (minor of `/dev/nvidiaN`), as contexts' `gpus` name it.
    pub index: u32,
    /// Marketing name.
    pub name: String,
    /// `GPU-...`.
    pub uuid: String,
    /// Total memory in bytes.
    pub mem_total_bytes: u64,
    /// PCI bus number.
    pub pci_bus: u8,
    /// PCI device id.
    pub pci_device_id: u16,
}

/// The driver's version and its GPUs.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Inventory {
    /// The vendor driver's version string.
    pub driver_version: String,
    /// The GPUs.
    pub gpus: Vec<GpuInfo>,
}

/// The driver branch of `version`, if fakegpu has an ABI table for it
/// (the module's own table: `fakegpu_core::drivers`).
pub fn supported_branch(version: &str) -> Option<&'static str> {
    fakegpu_core::drivers::lookup(b"nvidia", version.as_bytes()).map(|d| d.branch.name())
}

fn driver_err(what: &str, e: impl std::fmt::Display) -> Error {
    Error::new(Kind::Driver, format!("{what}: {e}")).hint(
        "is the NVIDIA driver loaded and /dev/nvidiactl there? (--vendor-dev moves the directory)",
    )
}

/// The vendor driver's version (CHECK_VERSION_STR query).
pub fn driver_version(vendor_dev: &Path) -> Result<String> {
    let ctl_path = vendor_dev.join("nvidiactl");
    let ctl = nvrm::Ctl::open(&ctl_path.to_string_lossy())
        .map_err(|e| driver_err(&format!("cannot open {}", ctl_path.display()), e))?;
    ctl.query_version()
        .map_err(|e| driver_err("the driver did not tell its version", e))
}

/// Queries every GPU of the vendor driver at `vendor_dev`.
pub fn probe(vendor_dev: &Path) -> Result<Inventory> {
    let dir = vendor_dev.to_string_lossy().to_string();
    let ctl_path = vendor_dev.join("nvidiactl");
    let ctl = nvrm::Ctl::open(&ctl_path.to_string_lossy())
        .map_err(|e| driver_err(&format!("cannot open {}", ctl_path.display()), e))?;
    let driver_version = ctl.query_version().unwrap_or_default();
    let cards = ctl
        .card_info()
        .map_err(|e| driver_err("CARD_INFO failed", e))?;
    drop(ctl);
    let mut gpus = Vec::new();
    for c in cards {
        let s = nvrm::Session::open(&dir, c.minor)
            .map_err(|e| driver_err(&format!("cannot open GPU {}", c.minor), e))?;
        let mem = s.mem_info().map_err(|e| driver_err("memory info", e))?;
        let uuid = s
            .uuid()
            .map(|u| nvrm::uuid_string(&u))
            .map_err(|e| driver_err("UUID", e))?;
        gpus.push(GpuInfo {
            index: c.minor,
            name: s.name().unwrap_or_default(),
            uuid,
            mem_total_bytes: mem.total,
            pci_bus: c.bus,
            pci_device_id: c.device_id,
        });
    }
    Ok(Inventory {
        driver_version,
        gpus,
    })
}

/// UUIDs by GPU index (empty if the driver cannot be queried).
pub fn uuids(vendor_dev: &Path) -> BTreeMap<u32, String> {
    probe(vendor_dev)
        .map(|i| i.gpus.into_iter().map(|g| (g.index, g.uuid)).collect())
        .unwrap_or_default()
}

/// Per GPU: the contexts using it and the sum of their caps (`None` if one
/// has no cap).
pub type GpuUsage = BTreeMap<u32, (Vec<String>, Option<u64>)>;

/// Per GPU index: the contexts using it, and the sum of their memory limits
/// (`None` in the sum if one of them has no cap).
pub fn usage_by_gpu(sysfs: &Sysfs) -> Result<GpuUsage> {
    let mut m = GpuUsage::new();
    for name in sysfs.list()? {
        let c = match sysfs.context(&name) {
            Ok(c) => c,
            Err(e) if e.kind == Kind::NotFound => continue, // destroyed meanwhile
            Err(e) => return Err(e),
        };
        for g in &c.gpus {
            let e = m.entry(*g).or_insert((Vec::new(), Some(0)));
            e.0.push(name.clone());
            e.1 = match (e.1, c.mem_limit_bytes) {
                (Some(a), Some(b)) => Some(a.saturating_add(b)),
                _ => None,
            };
        }
    }
    Ok(m)
}
