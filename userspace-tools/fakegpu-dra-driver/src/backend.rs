//! What the driver does to the host: the GPU inventory, contexts and CDI
//! specs. The real implementation is fakegpuctl's library ([`Fakegpuctl`]),
//! as in the device plugin; the trait lets the host tests put a stand-in
//! for the kernel around it (a plain directory cannot create a context).

use std::path::{Path, PathBuf};

use fakegpuctl::gpus::GpuInfo;
use fakegpuctl::sysfs::{ContextInfo, CreateSpec, Sysfs};

/// A failure of the host side, as text (it ends up in a claim's error).
pub type Result<T> = std::result::Result<T, String>;

/// The node's GPUs as the slice publishes them.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Inventory {
    /// The vendor driver's version (`580.159.04`).
    pub driver_version: String,
    /// The fakegpu module's version (sysfs `version`).
    pub module_version: String,
    /// The GPUs, by index.
    pub gpus: Vec<GpuInfo>,
}

/// The host operations the driver needs.
pub trait Backend: Send + Sync + 'static {
    /// The GPUs, the vendor driver's and the module's versions.
    fn inventory(&self) -> Result<Inventory>;
    /// The names of all contexts (ours and others').
    fn list(&self) -> Result<Vec<String>>;
    /// Context `name` as sysfs shows it, `None` if there is none.
    fn context(&self, name: &str) -> Result<Option<ContextInfo>>;
    /// Creates context `name`.
    fn create(&self, name: &str, spec: &CreateSpec) -> Result<()>;
    /// Destroys context `name`.
    fn destroy(&self, name: &str) -> Result<()>;
    /// Writes the context's CDI spec.
    fn write_cdi(&self, name: &str) -> Result<()>;
    /// Removes the context's CDI spec (fine if absent).
    fn remove_cdi(&self, name: &str) -> Result<()>;
    /// The context's fully qualified CDI device name.
    fn cdi_device_name(&self, name: &str) -> String {
        fakegpuctl::cdi::device_name(name)
    }
}

/// The real host: the module's sysfs and `/dev` through fakegpuctl, the
/// vendor driver through nvrm (fakegpuctl's `gpus`).
pub struct Fakegpuctl {
    pub sysfs: Sysfs,
    pub cdi_dir: PathBuf,
    /// Where the vendor's nodes are (`/dev`).
    pub vendor_dev: PathBuf,
}

impl Fakegpuctl {
    pub fn new(
        sysfs_root: &Path,
        dev_root: &Path,
        cdi_dir: &Path,
        vendor_dev: &Path,
    ) -> Fakegpuctl {
        Fakegpuctl {
            sysfs: Sysfs::new(sysfs_root).with_dev_root(dev_root),
            cdi_dir: cdi_dir.to_path_buf(),
            vendor_dev: vendor_dev.to_path_buf(),
        }
    }
}

/// fakegpuctl's error as one line.
pub fn text(e: fakegpuctl::Error) -> String {
    e.to_string().trim_end().replace('\n', "; ")
}

impl Backend for Fakegpuctl {
    fn inventory(&self) -> Result<Inventory> {
        let module_version = self.sysfs.module_version().map_err(text)?;
        let inv = fakegpuctl::gpus::probe(&self.vendor_dev).map_err(text)?;
        Ok(Inventory {
            driver_version: inv.driver_version,
            module_version,
            gpus: inv.gpus,
        })
    }
    fn list(&self) -> Result<Vec<String>> {
        self.sysfs.list().map_err(text)
    }
    fn context(&self, name: &str) -> Result<Option<ContextInfo>> {
        if !self.sysfs.exists(name) {
            return Ok(None);
        }
        match self.sysfs.context(name) {
            Ok(c) => Ok(Some(c)),
            Err(e) if e.kind == fakegpuctl::error::Kind::NotFound => Ok(None),
            Err(e) => Err(text(e)),
        }
    }
    fn create(&self, name: &str, spec: &CreateSpec) -> Result<()> {
        self.sysfs.create(name, spec).map_err(text)
    }
    fn destroy(&self, name: &str) -> Result<()> {
        self.sysfs.destroy(name).map_err(text)
    }
    fn write_cdi(&self, name: &str) -> Result<()> {
        fakegpuctl::cdi::write_spec(&self.cdi_dir, &self.sysfs, name)
            .map(|_| ())
            .map_err(text)
    }
    fn remove_cdi(&self, name: &str) -> Result<()> {
        fakegpuctl::cdi::remove_spec(&self.cdi_dir, name).map_err(text)
    }
}
