//! What the plugin does to the host: contexts and CDI specs. The real
//! implementation is fakegpuctl's library ([`Fakegpuctl`]); the trait lets
//! the tests put an in-memory stand-in in its place ([`Memory`]), since a
//! plain directory cannot play the kernel creating a context.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use fakegpuctl::sysfs::{CreateSpec, Sysfs};

use crate::config::Profile;

/// A failure of the host side, as text (it ends up in a gRPC status).
pub type Result<T> = std::result::Result<T, String>;

/// The host operations the plugin needs.
pub trait Backend: Send + Sync + 'static {
    /// Whether the fakegpu module is loaded.
    fn module_loaded(&self) -> bool;
    /// Whether host GPU `gpu` is there (its vendor node exists).
    fn gpu_present(&self, gpu: u32) -> bool;
    /// The names of all contexts (ours and others').
    fn list(&self) -> Result<Vec<String>>;
    /// Whether context `name` exists.
    fn exists(&self, name: &str) -> bool;
    /// Open files on the context's nodes.
    fn open_files(&self, name: &str) -> Result<u64>;
    /// Creates context `name` with the profile's limits.
    fn create(&self, name: &str, profile: &Profile) -> Result<()>;
    /// Destroys context `name`.
    fn destroy(&self, name: &str) -> Result<()>;
    /// The context's nodes on the host (`/dev/fakegpu/NAME/nvidiactl`, ...).
    fn node_paths(&self, name: &str) -> Result<Vec<PathBuf>>;
    /// Writes the context's CDI spec.
    fn write_cdi(&self, name: &str) -> Result<()>;
    /// Removes the context's CDI spec (fine if absent).
    fn remove_cdi(&self, name: &str) -> Result<()>;
    /// The context's fully qualified CDI device name.
    fn cdi_device_name(&self, name: &str) -> String {
        fakegpuctl::cdi::device_name(name)
    }
    /// The GPUs as the vendor driver lists them (for the PCI location of
    /// an Xid report); empty if it cannot be asked.
    fn gpus(&self) -> Vec<fakegpuctl::gpus::GpuInfo> {
        Vec::new()
    }
}

/// The real host: the module's sysfs and `/dev` through fakegpuctl.
pub struct Fakegpuctl {
    pub sysfs: Sysfs,
    pub cdi_dir: PathBuf,
    /// Where the vendor's nodes are (`/dev`), for the GPU health check.
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

fn text(e: fakegpuctl::Error) -> String {
    e.to_string().trim_end().replace('\n', "; ")
}

impl Backend for Fakegpuctl {
    fn module_loaded(&self) -> bool {
        self.sysfs.check_loaded().is_ok()
    }
    fn gpu_present(&self, gpu: u32) -> bool {
        self.vendor_dev.join(format!("nvidia{gpu}")).exists()
    }
    fn gpus(&self) -> Vec<fakegpuctl::gpus::GpuInfo> {
        fakegpuctl::gpus::probe(&self.vendor_dev)
            .map(|i| i.gpus)
            .unwrap_or_default()
    }
    fn list(&self) -> Result<Vec<String>> {
        self.sysfs.list().map_err(text)
    }
    fn exists(&self, name: &str) -> bool {
        self.sysfs.exists(name)
    }
    fn open_files(&self, name: &str) -> Result<u64> {
        self.sysfs.context(name).map(|c| c.open_files).map_err(text)
    }
    fn create(&self, name: &str, p: &Profile) -> Result<()> {
        let spec = CreateSpec {
            gpus: vec![p.gpu],
            mem_bytes: p.mem_bytes,
            compute_pct: p.compute_pct,
            weight: None,
            priority: None,
        };
        self.sysfs.create(name, &spec).map_err(text)
    }
    fn destroy(&self, name: &str) -> Result<()> {
        self.sysfs.destroy(name).map_err(text)
    }
    fn node_paths(&self, name: &str) -> Result<Vec<PathBuf>> {
        self.sysfs.node_paths(name).map_err(text)
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

/// One context of the in-memory stand-in.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MemContext {
    pub gpu: u32,
    pub mem_bytes: u64,
    pub compute_pct: Option<u32>,
    pub open_files: u64,
    pub cdi: bool,
}

/// An in-memory host for tests: contexts, open files, CDI specs, the
/// module's and GPUs' presence, and a log of every operation.
#[derive(Default)]
pub struct Memory {
    pub state: Mutex<MemState>,
}

#[derive(Default)]
pub struct MemState {
    pub loaded: bool,
    pub gpus: Vec<u32>,
    pub contexts: BTreeMap<String, MemContext>,
    pub log: Vec<String>,
}

impl Memory {
    /// Module loaded, the given GPUs present, no contexts.
    pub fn new(gpus: &[u32]) -> Memory {
        Memory {
            state: Mutex::new(MemState {
                loaded: true,
                gpus: gpus.to_vec(),
                ..MemState::default()
            }),
        }
    }
    pub fn with<R>(&self, f: impl FnOnce(&mut MemState) -> R) -> R {
        f(&mut self.state.lock().unwrap())
    }
}

impl Backend for Memory {
    fn module_loaded(&self) -> bool {
        self.with(|s| s.loaded)
    }
    fn gpu_present(&self, gpu: u32) -> bool {
        self.with(|s| s.gpus.contains(&gpu))
    }
    /// GPU N at PCI bus N + 1.
    fn gpus(&self) -> Vec<fakegpuctl::gpus::GpuInfo> {
        self.with(|s| {
            s.gpus
                .iter()
                .map(|g| fakegpuctl::gpus::GpuInfo {
                    index: *g,
                    pci_bus: *g as u8 + 1,
                    ..Default::default()
                })
                .collect()
        })
    }
    fn list(&self) -> Result<Vec<String>> {
        self.with(|s| {
            if s.loaded {
                Ok(s.contexts.keys().cloned().collect())
            } else {
                Err("not loaded".into())
            }
        })
    }
    fn exists(&self, name: &str) -> bool {
        self.with(|s| s.contexts.contains_key(name))
    }
    fn open_files(&self, name: &str) -> Result<u64> {
        self.with(|s| {
            s.contexts
                .get(name)
                .map(|c| c.open_files)
                .ok_or_else(|| format!("no context {name}"))
        })
    }
    fn create(&self, name: &str, p: &Profile) -> Result<()> {
        self.with(|s| {
            s.log
                .push(format!("create {name} gpus={} mem={}", p.gpu, p.mem_bytes));
            if !s.loaded {
                return Err("not loaded".into());
            }
            if !s.gpus.contains(&p.gpu) {
                return Err(format!("GPU {} does not exist", p.gpu));
            }
            if s.contexts.contains_key(name) {
                return Err(format!("a context named '{name}' exists already"));
            }
            let c = MemContext {
                gpu: p.gpu,
                mem_bytes: p.mem_bytes,
                compute_pct: p.compute_pct,
                open_files: 0,
                cdi: false,
            };
            s.contexts.insert(name.to_string(), c);
            Ok(())
        })
    }
    fn destroy(&self, name: &str) -> Result<()> {
        self.with(|s| {
            s.log.push(format!("destroy {name}"));
            s.contexts
                .remove(name)
                .map(|_| ())
                .ok_or_else(|| format!("no context {name}"))
        })
    }
    fn node_paths(&self, name: &str) -> Result<Vec<PathBuf>> {
        if !self.exists(name) {
            return Err(format!("no context {name}"));
        }
        let base = Path::new("/dev/fakegpu").join(name);
        Ok(vec![
            base.join("nvidiactl"),
            base.join("nvidia0"),
            base.join("nvidia-uvm"),
        ])
    }
    fn write_cdi(&self, name: &str) -> Result<()> {
        self.with(|s| {
            s.log.push(format!("write_cdi {name}"));
            s.contexts
                .get_mut(name)
                .map(|c| c.cdi = true)
                .ok_or_else(|| format!("no context {name}"))
        })
    }
    fn remove_cdi(&self, name: &str) -> Result<()> {
        self.with(|s| {
            s.log.push(format!("remove_cdi {name}"));
            if let Some(c) = s.contexts.get_mut(name) {
                c.cdi = false;
            }
            Ok(())
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Config;

    /// Against a plain directory standing in for /sys/kernel/fakegpu, create
    /// writes the module's create line (a directory cannot make the context
    /// appear, so that is all we can check here; the guest test does the rest).
    #[test]
    fn fakegpuctl_backend_writes_the_create_line() {
        let tmp = std::env::temp_dir().join(format!("fgdp-backend-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&tmp);
        let sys = tmp.join("sys");
        std::fs::create_dir_all(sys.join("contexts")).unwrap();
        std::fs::write(sys.join("version"), "0.1.0\n").unwrap();
        std::fs::write(sys.join("create"), "").unwrap();
        std::fs::write(sys.join("destroy"), "").unwrap();
        let dev = tmp.join("dev");
        std::fs::create_dir_all(&dev).unwrap();
        std::fs::write(dev.join("nvidia0"), "").unwrap();
        let b = Fakegpuctl::new(&sys, &dev.join("fakegpu"), &tmp.join("cdi"), &dev);
        assert!(b.module_loaded());
        assert!(b.gpu_present(0));
        assert!(!b.gpu_present(1));
        let c = Config::parse("[[profile]]\nname='vgpu-1gi'\nmem='1Gi'\ncount=2").unwrap();
        b.create("k8s-vgpu-1gi-0", &c.profiles[0]).unwrap();
        let line = std::fs::read_to_string(sys.join("create")).unwrap();
        assert_eq!(line.trim_end(), "k8s-vgpu-1gi-0 gpus=0 mem=1073741824");
        assert_eq!(b.list().unwrap(), Vec::<String>::new());
        b.destroy("k8s-vgpu-1gi-0").ok();
        assert_eq!(
            b.cdi_device_name("k8s-vgpu-1gi-0"),
            "fakegpu.io/vgpu=k8s-vgpu-1gi-0"
        );
        std::fs::remove_file(sys.join("version")).unwrap();
        assert!(!b.module_loaded());
        let _ = std::fs::remove_dir_all(&tmp);
    }
}
