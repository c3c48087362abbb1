//! Shared by the host tests: a stand-in for the kernel around the real
//! backend, and strict schema validation with kubernetes-validate.
#![allow(dead_code)]

use std::fs;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use fakegpu_dra_driver::backend::{Backend, Fakegpuctl, Inventory};
use fakegpuctl::gpus::GpuInfo;
use fakegpuctl::sysfs::{ContextInfo, CreateSpec};

/// fakegpuctl on a plain directory tree, plus the kernel's side effects: a
/// thin wrapper does the kernel's part right after each write to
/// `create`/`destroy` (makes or removes the context's directory with its
/// attributes, and its nodes as links to /dev/null, which stat as character
/// devices); everything else is fakegpuctl's code (the create line, list,
/// the attributes, the CDI spec). The GPUs are H100s as the real one
/// reports itself (the vendor driver cannot be asked here).
pub struct Kernel {
    pub real: Fakegpuctl,
    pub root: PathBuf,
    pub gpus: Mutex<Vec<GpuInfo>>,
    /// Every line written to `create` and `destroy`.
    pub writes: Mutex<Vec<String>>,
    /// If set, the next create is refused with this errno (as the module
    /// refuses a write).
    pub refuse: Mutex<Option<i32>>,
}

pub const H100: &str = "NVIDIA H100 80GB HBM3";

pub fn h100(index: u32) -> GpuInfo {
    GpuInfo {
        index,
        name: H100.into(),
        uuid: format!("GPU-5a1e0000-0000-4000-8000-00000000000{index}"),
        // What the H100 80GB HBM3 reports (tests/fidelity/h100-580.159.04).
        mem_total_bytes: 85520809984,
        pci_bus: index as u8 + 1,
        pci_device_id: 0x2330,
    }
}

impl Kernel {
    pub fn new(root: &Path, gpus: u32) -> Kernel {
        for d in ["sys/contexts", "dev/fakegpu", "cdi"] {
            fs::create_dir_all(root.join(d)).unwrap();
        }
        fs::write(root.join("sys/version"), "0.1.0\n").unwrap();
        fs::write(root.join("sys/create"), "").unwrap();
        fs::write(root.join("sys/destroy"), "").unwrap();
        Kernel {
            real: Fakegpuctl::new(
                &root.join("sys"),
                &root.join("dev/fakegpu"),
                &root.join("cdi"),
                &root.join("dev"),
            ),
            root: root.to_path_buf(),
            gpus: Mutex::new((0..gpus).map(h100).collect()),
            writes: Mutex::new(Vec::new()),
            refuse: Mutex::new(None),
        }
    }
    fn sys(&self) -> PathBuf {
        self.root.join("sys")
    }
    fn take(&self, file: &str) -> String {
        let p = self.sys().join(file);
        let line = fs::read_to_string(&p).unwrap();
        fs::write(&p, "").unwrap();
        self.writes
            .lock()
            .unwrap()
            .push(format!("{file}: {}", line.trim_end()));
        line
    }
    /// The kernel's part of a create line.
    pub fn kernel_create(&self, line: &str) {
        let mut w = line.split_whitespace();
        let n = w.next().unwrap();
        let (mut gpus, mut mem, mut compute) = ("0".to_string(), u64::MAX, 100u32);
        for kv in w {
            if let Some(v) = kv.strip_prefix("gpus=") {
                gpus = v.to_string();
            }
            if let Some(v) = kv.strip_prefix("mem=") {
                mem = v.parse().unwrap();
            }
            if let Some(v) = kv.strip_prefix("compute=") {
                compute = v.parse().unwrap();
            }
        }
        let d = self.sys().join("contexts").join(n);
        fs::create_dir_all(&d).unwrap();
        for (f, v) in [
            ("gpus", gpus.clone()),
            ("mem_limit_bytes", mem.to_string()),
            ("mem_used_bytes", "0".into()),
            ("mem_peak_bytes", "0".into()),
            ("alloc_refused", "0".into()),
            ("open_files", "0".into()),
            ("pids", "".into()),
            ("compute_limit_pct", compute.to_string()),
            ("compute_weight", "1".into()),
            ("priority", "normal".into()),
            ("compute_used_us", "0".into()),
            ("throttled_us", "0".into()),
        ] {
            fs::write(d.join(f), format!("{v}\n")).unwrap();
        }
        let nd = self.root.join("dev/fakegpu").join(n);
        fs::create_dir_all(&nd).unwrap();
        let n_gpus = gpus.split(',').count();
        let mut nodes = vec!["nvidiactl".to_string(), "nvidia-uvm".to_string()];
        nodes.extend((0..n_gpus).map(|i| format!("nvidia{i}")));
        for node in nodes {
            std::os::unix::fs::symlink("/dev/null", nd.join(node)).unwrap();
        }
    }
    /// A context's attribute, trimmed.
    pub fn attr(&self, ctx: &str, file: &str) -> String {
        fs::read_to_string(self.sys().join("contexts").join(ctx).join(file))
            .unwrap_or_default()
            .trim()
            .to_string()
    }
    /// The contexts in the tree.
    pub fn contexts(&self) -> Vec<String> {
        let mut v: Vec<String> = fs::read_dir(self.sys().join("contexts"))
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().to_string())
            .collect();
        v.sort();
        v
    }
    pub fn set_open_files(&self, ctx: &str, n: u64) {
        fs::write(
            self.sys().join("contexts").join(ctx).join("open_files"),
            format!("{n}\n"),
        )
        .unwrap();
    }
}

impl Backend for Kernel {
    fn inventory(&self) -> Result<Inventory, String> {
        Ok(Inventory {
            driver_version: "580.159.04".into(),
            module_version: self
                .real
                .sysfs
                .module_version()
                .map_err(fakegpu_dra_driver::backend::text)?,
            gpus: self.gpus.lock().unwrap().clone(),
        })
    }
    fn list(&self) -> Result<Vec<String>, String> {
        self.real.list()
    }
    fn context(&self, name: &str) -> Result<Option<ContextInfo>, String> {
        self.real.context(name)
    }
    fn create(&self, name: &str, spec: &CreateSpec) -> Result<(), String> {
        if let Some(errno) = self.refuse.lock().unwrap().take() {
            // What fakegpuctl says when the module refuses the write.
            let line = fakegpuctl::sysfs::create_line(name, spec);
            let e = fakegpuctl::Error::io(
                &format!("writing '{line}' was refused"),
                &self.sys().join("create"),
                &std::io::Error::from_raw_os_error(errno),
            );
            return Err(fakegpu_dra_driver::backend::text(e));
        }
        self.real.create(name, spec)?;
        let line = self.take("create");
        self.kernel_create(&line);
        Ok(())
    }
    fn destroy(&self, name: &str) -> Result<(), String> {
        self.real.destroy(name)?;
        let n = self.take("destroy");
        fs::remove_dir_all(self.sys().join("contexts").join(n.trim())).unwrap();
        fs::remove_dir_all(self.root.join("dev/fakegpu").join(n.trim())).unwrap();
        Ok(())
    }
    fn write_cdi(&self, name: &str) -> Result<(), String> {
        self.real.write_cdi(name)
    }
    fn remove_cdi(&self, name: &str) -> Result<(), String> {
        self.real.remove_cdi(name)
    }
}

pub fn tmpdir(tag: &str) -> PathBuf {
    let p = std::env::temp_dir().join(format!("fgdra-{tag}-{}", std::process::id()));
    let _ = fs::remove_dir_all(&p);
    fs::create_dir_all(&p).unwrap();
    p
}

/// kubernetes-validate, from FAKEGPU_KUBERNETES_VALIDATE or the cache's
/// venv (scripts/test installs it there).
pub fn validator() -> Option<PathBuf> {
    if let Ok(p) = std::env::var("FAKEGPU_KUBERNETES_VALIDATE") {
        return Some(PathBuf::from(p));
    }
    let cache = std::env::var("FAKEGPU_CACHE").unwrap_or_else(|_| "/root/.cache/fakegpu".into());
    let p = Path::new(&cache).join("venv-kv-1.37/bin/kubernetes-validate");
    p.exists().then_some(p)
}

/// Validates every file against Kubernetes 1.37 in strict mode; panics with
/// the tool's output on a failure. Without the tool: a note, unless
/// FAKEGPU_REQUIRE_K8S_VALIDATE is set (make test sets it).
pub fn validate_strict(files: &[PathBuf]) {
    assert!(!files.is_empty(), "nothing to validate");
    let Some(tool) = validator() else {
        assert!(
            std::env::var_os("FAKEGPU_REQUIRE_K8S_VALIDATE").is_none(),
            "kubernetes-validate is required but not found"
        );
        eprintln!(
            "note: kubernetes-validate not found, {} files not validated",
            files.len()
        );
        return;
    };
    let out = std::process::Command::new(&tool)
        .args(["-k", "1.37.0", "--strict"])
        .args(files)
        .output()
        .unwrap_or_else(|e| panic!("cannot run {}: {e}", tool.display()));
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        out.status.success(),
        "kubernetes-validate --strict failed:\n{text}"
    );
    let passed = text
        .lines()
        .filter(|l| l.starts_with("INFO") && l.contains("passed"))
        .count();
    assert!(passed >= files.len(), "not every file passed:\n{text}");
}

/// The files of a directory, sorted.
pub fn files_in(dir: &Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    v.sort();
    v
}
