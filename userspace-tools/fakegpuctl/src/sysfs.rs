//! The module's sysfs interface, `/sys/kernel/fakegpu/` (documented file by
//! file in `Documentation/ABI/testing/sysfs-kernel-fakegpu-*`), and the
//! contexts' nodes under `/dev/fakegpu/NAME/`.
//!
//! Everything the tool knows about the module comes from here; both roots
//! can be moved (tests use a plain directory tree).

use crate::error::{libc_errno, Error, Kind, Result};
use std::fs;
use std::io::{self, Write};
use std::path::{Path, PathBuf};

/// The default sysfs directory of the module.
pub const DEFAULT_ROOT: &str = "/sys/kernel/fakegpu";
/// The default directory of the contexts' nodes.
pub const DEFAULT_DEV_ROOT: &str = "/dev/fakegpu";
/// Where fakegpufs is mounted: the contexts' nodes as the vendor numbers
/// them (`stat` shows 195:255 for `nvidiactl`), for NVIDIA user space that
/// checks device numbers (550). The module makes the mount point.
pub const DEFAULT_NODEFS_ROOT: &str = "/sys/fs/fakegpu";
/// fakegpufs's file-system type.
pub const NODEFS_TYPE: &str = "fakegpu";
/// Means "no cap" in `mem_limit_bytes`.
pub const NO_LIMIT: u64 = u64::MAX;

/// Compute priority of a context (`priority`: `high` or `normal`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Priority {
    /// Served first.
    High,
    /// The default.
    Normal,
}

impl Priority {
    /// The word sysfs uses.
    pub fn as_str(self) -> &'static str {
        match self {
            Priority::High => "high",
            Priority::Normal => "normal",
        }
    }

    /// Parses `high` or `normal`.
    pub fn parse(s: &str) -> Result<Priority> {
        match s.trim() {
            "high" => Ok(Priority::High),
            "normal" => Ok(Priority::Normal),
            other => {
                Err(Error::usage(format!("bad priority '{other}'")).hint("use 'high' or 'normal'"))
            }
        }
    }
}

/// What `create` asks for.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CreateSpec {
    /// Host GPU indices, in the order the container numbers them (empty: GPU 0).
    pub gpus: Vec<u32>,
    /// Memory cap in bytes (`u64::MAX`: no cap).
    pub mem_bytes: u64,
    /// Compute limit in percent, 1..=100.
    pub compute_pct: Option<u32>,
    /// Compute weight, 1..=1000.
    pub weight: Option<u32>,
    /// Compute priority.
    pub priority: Option<Priority>,
}

impl CreateSpec {
    fn has_compute(&self) -> bool {
        self.compute_pct.is_some() || self.weight.is_some() || self.priority.is_some()
    }
}

/// What `update` changes (`None`: leave as is).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct UpdateSpec {
    /// New memory cap in bytes (`u64::MAX`: no cap).
    pub mem_bytes: Option<u64>,
    /// New compute limit in percent.
    pub compute_pct: Option<u32>,
    /// New compute weight.
    pub weight: Option<u32>,
    /// New priority.
    pub priority: Option<Priority>,
}

impl UpdateSpec {
    fn has_compute(&self) -> bool {
        self.compute_pct.is_some() || self.weight.is_some() || self.priority.is_some()
    }
}

/// One context as sysfs shows it. Compute fields are `None` when the module
/// has no compute scheduling (the files are absent).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ContextInfo {
    /// Its name.
    pub name: String,
    /// Host GPU indices (the first is the container's nvidia0).
    pub gpus: Vec<u32>,
    /// Memory cap in bytes; `None` means no cap.
    pub mem_limit_bytes: Option<u64>,
    /// Memory held now.
    pub mem_used_bytes: u64,
    /// Highest use since creation.
    pub mem_peak_bytes: u64,
    /// Allocations refused at the cap.
    pub alloc_refused: u64,
    /// Open files on its nodes.
    pub open_files: u64,
    /// Processes with its nodes open (initial pid namespace).
    pub pids: Vec<u32>,
    /// Compute limit in percent.
    pub compute_limit_pct: Option<u32>,
    /// Compute weight.
    pub compute_weight: Option<u32>,
    /// Priority.
    pub priority: Option<Priority>,
    /// GPU time used, microseconds.
    pub compute_used_us: Option<u64>,
    /// Time spent throttled, microseconds.
    pub throttled_us: Option<u64>,
}

/// The module's sysfs directory and the contexts' node directory.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Sysfs {
    /// `/sys/kernel/fakegpu` or a stand-in.
    pub root: PathBuf,
    /// `/dev/fakegpu` or a stand-in.
    pub dev_root: PathBuf,
    /// `/sys/fs/fakegpu` or a stand-in; `None`: not used.
    pub nodefs_root: Option<PathBuf>,
}

impl Default for Sysfs {
    fn default() -> Sysfs {
        Sysfs {
            root: PathBuf::from(DEFAULT_ROOT),
            dev_root: PathBuf::from(DEFAULT_DEV_ROOT),
            nodefs_root: Some(PathBuf::from(DEFAULT_NODEFS_ROOT)),
        }
    }
}

/// Checks a context name as the module does: 1 to 32 of `[A-Za-z0-9_.-]`,
/// not starting with `.` or `-`.
pub fn check_name(name: &str) -> Result<()> {
    // The module's own check (fakegpu-core), so both accept the same names.
    match fakegpu_core::mgmt::check_name(name) {
        Ok(()) => Ok(()),
        Err(_) => Err(Error::usage(format!("bad context name '{name}'"))
            .hint("use 1 to 32 characters of A-Z a-z 0-9 _ . - , not starting with '.' or '-'")),
    }
}

/// Checks the compute values' ranges (before anything is written).
fn check_compute(pct: Option<u32>, weight: Option<u32>) -> Result<()> {
    if let Some(p) = pct {
        if !(1..=100).contains(&p) {
            return Err(Error::usage(format!("compute limit {p}% is out of range"))
                .hint("use 1 to 100 (percent of the GPU's time)"));
        }
    }
    if let Some(w) = weight {
        if !(1..=1000).contains(&w) {
            return Err(
                Error::usage(format!("compute weight {w} is out of range")).hint("use 1 to 1000")
            );
        }
    }
    Ok(())
}

fn no_compute() -> Error {
    Error::new(
        Kind::Unsupported,
        "this fakegpu module has no compute scheduling (no compute_limit_pct in sysfs)",
    )
    .hint(
        "leave out --compute/--weight/--priority, or load a fakegpu module with compute scheduling",
    )
}

impl Sysfs {
    /// The module's sysfs at `root`, nodes at the default `/dev/fakegpu`.
    pub fn new(root: impl Into<PathBuf>) -> Sysfs {
        Sysfs {
            root: root.into(),
            dev_root: PathBuf::from(DEFAULT_DEV_ROOT),
            nodefs_root: Some(PathBuf::from(DEFAULT_NODEFS_ROOT)),
        }
    }

    /// Sets where fakegpufs is mounted (`None`: do not use it).
    pub fn with_nodefs_root(mut self, root: Option<PathBuf>) -> Sysfs {
        self.nodefs_root = root;
        self
    }

    /// The context's directory in fakegpufs, if fakegpufs is mounted there
    /// and has it: its nodes report the vendor's device numbers to `stat`.
    pub fn vendor_numbered_dir(&self, name: &str) -> Option<PathBuf> {
        let d = self.nodefs_root.as_ref()?.join(name);
        d.join("nvidiactl").exists().then_some(d)
    }

    /// Mounts fakegpufs at its root unless it is mounted there: `Ok(true)`
    /// if it is mounted now, `Ok(false)` if this module has none (no mount
    /// point) or no root is set.
    pub fn ensure_nodefs(&self) -> Result<bool> {
        let Some(root) = &self.nodefs_root else {
            return Ok(false);
        };
        if !root.is_dir() {
            return Ok(false);
        }
        if is_mounted(root, NODEFS_TYPE) {
            return Ok(true);
        }
        mount_fs(NODEFS_TYPE, root).map_err(|e| {
            let kind = if e.kind() == io::ErrorKind::PermissionDenied {
                Kind::Permission
            } else {
                Kind::Other
            };
            Error::new(
                kind,
                format!("cannot mount fakegpufs at {}: {e}", root.display()),
            )
            .hint(format!(
                "mounting needs root: `mount -t {NODEFS_TYPE} {NODEFS_TYPE} {}`",
                root.display()
            ))
        })?;
        Ok(true)
    }

    /// Sets where the contexts' nodes are.
    pub fn with_dev_root(mut self, dev_root: impl Into<PathBuf>) -> Sysfs {
        self.dev_root = dev_root.into();
        self
    }

    /// `contexts/NAME`.
    pub fn context_dir(&self, name: &str) -> PathBuf {
        self.root.join("contexts").join(name)
    }

    /// Fails with [`Kind::NotLoaded`] unless the module's directory exists.
    pub fn check_loaded(&self) -> Result<()> {
        if self.root.join("version").exists() {
            Ok(())
        } else {
            Err(Error::new(Kind::NotLoaded, format!("the fakegpu module is not loaded ({} is missing)", self.root.join("version").display()))
                .hint("load it with `modprobe fakegpu` (or `insmod fakegpu.ko`); --sysfs-root or FAKEGPU_SYSFS_ROOT move the sysfs directory"))
        }
    }

    /// The module's version line (`version`).
    pub fn module_version(&self) -> Result<String> {
        self.check_loaded()?;
        let p = self.root.join("version");
        fs::read_to_string(&p)
            .map(|s| s.trim().to_string())
            .map_err(|e| Error::io("cannot read the module version", &p, &e))
    }

    /// The module's `driver` file: the vendor driver it met, its version
    /// and the ABI table in use (`nvidia 580.159.04 580`), `none` before
    /// any; `None` when the module has no such file (before 0.1.0's
    /// branch tables).
    pub fn driver(&self) -> Option<String> {
        fs::read_to_string(self.root.join("driver"))
            .ok()
            .map(|s| s.trim().to_string())
    }

    /// Whether the module has compute scheduling, as far as existing
    /// contexts tell: `Some(true/false)` from the first context, `None` if
    /// there is none.
    pub fn compute_supported(&self) -> Result<Option<bool>> {
        Ok(self
            .list()?
            .first()
            .map(|c| self.context_dir(c).join("compute_limit_pct").exists()))
    }

    /// The contexts' names, sorted.
    pub fn list(&self) -> Result<Vec<String>> {
        self.check_loaded()?;
        let dir = self.root.join("contexts");
        let mut v = Vec::new();
        for e in fs::read_dir(&dir).map_err(|e| Error::io("cannot list contexts", &dir, &e))? {
            let e = e.map_err(|e| Error::io("cannot list contexts", &dir, &e))?;
            if let Some(n) = e.file_name().to_str() {
                if e.path().is_dir() {
                    v.push(n.to_string());
                }
            }
        }
        v.sort();
        Ok(v)
    }

    /// Whether context `name` exists.
    pub fn exists(&self, name: &str) -> bool {
        check_name(name).is_ok() && self.context_dir(name).is_dir()
    }

    fn require(&self, name: &str) -> Result<PathBuf> {
        check_name(name)?;
        self.check_loaded()?;
        let d = self.context_dir(name);
        if d.is_dir() {
            Ok(d)
        } else {
            Err(
                Error::new(Kind::NotFound, format!("no context named '{name}'"))
                    .hint("`fakegpuctl list` shows the contexts"),
            )
        }
    }

    /// Reads one context.
    pub fn context(&self, name: &str) -> Result<ContextInfo> {
        let d = self.require(name)?;
        let gpus = parse_gpus(&read_attr(&d.join("gpus"))?)?;
        let limit = read_u64(&d.join("mem_limit_bytes"))?;
        let pids = read_attr(&d.join("pids"))?
            .split_whitespace()
            .map(|p| p.parse::<u32>().map_err(|_| bad_value(&d.join("pids"), p)))
            .collect::<Result<Vec<_>>>()?;
        Ok(ContextInfo {
            name: name.to_string(),
            gpus,
            mem_limit_bytes: if limit == NO_LIMIT { None } else { Some(limit) },
            mem_used_bytes: read_u64(&d.join("mem_used_bytes"))?,
            mem_peak_bytes: read_u64(&d.join("mem_peak_bytes"))?,
            alloc_refused: read_u64(&d.join("alloc_refused"))?,
            open_files: read_u64(&d.join("open_files"))?,
            pids,
            compute_limit_pct: read_opt(&d.join("compute_limit_pct"))?.map(|v| v as u32),
            compute_weight: read_opt(&d.join("compute_weight"))?.map(|v| v as u32),
            priority: match read_attr_opt(&d.join("priority"))? {
                Some(s) => {
                    Some(Priority::parse(&s).map_err(|_| bad_value(&d.join("priority"), &s))?)
                }
                None => None,
            },
            compute_used_us: read_opt(&d.join("compute_used_us"))?,
            throttled_us: read_opt(&d.join("throttled_us"))?,
        })
    }

    /// The context's nodes: `nvidiactl`, `nvidia0..N-1` (one per GPU), `nvidia-uvm`.
    pub fn node_paths(&self, name: &str) -> Result<Vec<PathBuf>> {
        let d = self.require(name)?;
        let n = parse_gpus(&read_attr(&d.join("gpus"))?)?.len();
        let base = self.dev_root.join(name);
        let mut v = vec![base.join("nvidiactl")];
        v.extend((0..n).map(|i| base.join(format!("nvidia{i}"))));
        v.push(base.join("nvidia-uvm"));
        Ok(v)
    }

    /// Creates context `name`. Checks everything it can before writing;
    /// on failure nothing is left behind. Mounts fakegpufs first if the
    /// module has it and it is not mounted ([`Sysfs::ensure_nodefs`]).
    pub fn create(&self, name: &str, spec: &CreateSpec) -> Result<()> {
        check_name(name)?;
        check_compute(spec.compute_pct, spec.weight)?;
        self.check_loaded()?;
        // The nodes as the vendor numbers them, for CDI specs and for
        // containers set up by hand; without fakegpufs the misc nodes still
        // serve clients that do not check numbers (580 and later).
        if let Err(e) = self.ensure_nodefs() {
            tracing::warn!("{e}: CDI specs get the misc nodes");
        }
        if self.context_dir(name).exists() {
            return Err(Error::new(
                Kind::Exists,
                format!("a context named '{name}' exists already"),
            )
            .hint(format!(
                "pick another name, or `fakegpuctl delete {name}` first"
            )));
        }
        if spec.has_compute() && self.compute_supported()? == Some(false) {
            return Err(no_compute());
        }
        let line = create_line(name, spec);
        match self.write(&self.root.join("create"), &line) {
            Ok(()) => Ok(()),
            Err(e) if e.kind == Kind::Rejected && spec.has_compute() => {
                // Perhaps the module does not know the compute keys: find
                // out with a plain create, and take that back at once.
                let plain = CreateSpec {
                    compute_pct: None,
                    weight: None,
                    priority: None,
                    ..spec.clone()
                };
                self.write(&self.root.join("create"), &create_line(name, &plain))
                    .map_err(|e| create_error(e, name, spec))?;
                let supported = self.context_dir(name).join("compute_limit_pct").exists();
                self.destroy(name)?;
                Err(if supported { e } else { no_compute() })
            }
            Err(e) => Err(create_error(e, name, spec)),
        }
    }

    /// Changes a context's settings; if one write fails the ones before it
    /// are undone.
    pub fn update(&self, name: &str, spec: &UpdateSpec) -> Result<()> {
        check_compute(spec.compute_pct, spec.weight)?;
        let d = self.require(name)?;
        if spec.has_compute() && !d.join("compute_limit_pct").exists() {
            return Err(no_compute());
        }
        let mut writes: Vec<(PathBuf, String)> = Vec::new();
        if let Some(m) = spec.mem_bytes {
            writes.push((d.join("mem_limit_bytes"), m.to_string()));
        }
        if let Some(p) = spec.compute_pct {
            writes.push((d.join("compute_limit_pct"), p.to_string()));
        }
        if let Some(w) = spec.weight {
            writes.push((d.join("compute_weight"), w.to_string()));
        }
        if let Some(p) = spec.priority {
            writes.push((d.join("priority"), p.as_str().to_string()));
        }
        if writes.is_empty() {
            return Err(Error::usage("nothing to update")
                .hint("give --mem, --compute, --weight or --priority"));
        }
        // Read every old value first, so a failure can put them all back.
        let olds = writes
            .iter()
            .map(|(p, _)| read_attr(p).map(|s| s.trim().to_string()))
            .collect::<Result<Vec<_>>>()?;
        let mut done: Vec<(PathBuf, String)> = Vec::new();
        for ((path, value), old) in writes.into_iter().zip(olds) {
            if let Err(e) = self.write(&path, &value) {
                for (p, v) in done.iter().rev() {
                    let _ = self.write(p, v);
                }
                return Err(e);
            }
            done.push((path, old));
        }
        Ok(())
    }

    /// Destroys context `name`.
    pub fn destroy(&self, name: &str) -> Result<()> {
        self.require(name)?;
        self.write(&self.root.join("destroy"), name).map_err(|e| {
            if e.kind == Kind::NotFound {
                Error::new(Kind::NotFound, format!("no context named '{name}'"))
            } else {
                e
            }
        })
    }

    /// Writes `value` to a sysfs attribute in one write(2) (no create).
    fn write(&self, path: &Path, value: &str) -> Result<()> {
        tracing::debug!(path = %path.display(), value, "writing a sysfs attribute");
        let r = fs::OpenOptions::new()
            .write(true)
            .truncate(true)
            .open(path)
            .and_then(|mut f| f.write_all(value.as_bytes()));
        r.map_err(|e| {
            tracing::debug!(path = %path.display(), error = %e, "the write failed");
            if e.kind() == io::ErrorKind::NotFound && !self.root.exists() {
                return Error::new(Kind::NotLoaded, "the fakegpu module is not loaded")
                    .hint("`modprobe fakegpu`");
            }
            Error::io(&format!("writing '{value}' was refused"), path, &e)
        })
    }
}

/// The line written to `create`: `NAME gpus=0,1 mem=BYTES [compute=..]...`.
pub fn create_line(name: &str, spec: &CreateSpec) -> String {
    let mut s = name.to_string();
    if !spec.gpus.is_empty() {
        let g: Vec<String> = spec.gpus.iter().map(|g| g.to_string()).collect();
        s.push_str(&format!(" gpus={}", g.join(",")));
    }
    if spec.mem_bytes != NO_LIMIT {
        s.push_str(&format!(" mem={}", spec.mem_bytes));
    }
    if let Some(c) = spec.compute_pct {
        s.push_str(&format!(" compute={c}"));
    }
    if let Some(w) = spec.weight {
        s.push_str(&format!(" weight={w}"));
    }
    if let Some(p) = spec.priority {
        s.push_str(&format!(" priority={}", p.as_str()));
    }
    s
}

fn create_error(e: Error, name: &str, spec: &CreateSpec) -> Error {
    match e.kind {
        Kind::NotFound => Error::new(
            Kind::NotFound,
            format!(
                "cannot create '{name}': GPU {:?} (or the NVIDIA control/UVM node) does not exist",
                if spec.gpus.is_empty() {
                    vec![0]
                } else {
                    spec.gpus.clone()
                }
            ),
        )
        .hint("`fakegpuctl gpus` lists the GPUs; the NVIDIA nodes must exist in /dev"),
        Kind::Exists => Error::new(
            Kind::Exists,
            format!("a context named '{name}' exists already"),
        ),
        _ => e,
    }
}

/// Parses a GPU list: `0`, `0,1`, `0-3`, `2,0`.
pub fn parse_gpus(s: &str) -> Result<Vec<u32>> {
    let s = s.trim();
    if s.is_empty() {
        return Ok(Vec::new());
    }
    // The module's own parser (fakegpu-core), so both accept the same lists:
    // indices below 64, ranges upwards, no GPU twice, no blanks.
    fakegpu_core::mgmt::GpuList::parse(s.as_bytes())
        .map(|l| l.iter().collect())
        .map_err(|_| {
            Error::usage(format!("bad GPU list '{s}'"))
                .hint("use indices and ranges, each GPU once: 0, 0,1, 0-3 (indices 0 to 63)")
        })
}

fn bad_value(path: &Path, v: &str) -> Error {
    Error::new(
        Kind::Other,
        format!("unexpected value '{v}' in {}", path.display()),
    )
    .hint("fakegpuctl and the module may not match: compare `fakegpuctl version`")
}

fn read_attr(path: &Path) -> Result<String> {
    fs::read_to_string(path).map_err(|e| {
        if e.raw_os_error() == Some(libc_errno::ENODEV) || e.kind() == io::ErrorKind::NotFound {
            Error::new(
                Kind::NotFound,
                format!("{} is gone (context destroyed meanwhile?)", path.display()),
            )
        } else {
            Error::io("cannot read", path, &e)
        }
    })
}

fn read_attr_opt(path: &Path) -> Result<Option<String>> {
    match fs::read_to_string(path) {
        Ok(s) => Ok(Some(s.trim().to_string())),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(Error::io("cannot read", path, &e)),
    }
}

fn read_u64(path: &Path) -> Result<u64> {
    let s = read_attr(path)?;
    s.trim().parse().map_err(|_| bad_value(path, s.trim()))
}

fn read_opt(path: &Path) -> Result<Option<u64>> {
    match read_attr_opt(path)? {
        Some(s) => s.parse().map(Some).map_err(|_| bad_value(path, &s)),
        None => Ok(None),
    }
}

/// Whether `/proc/self/mountinfo` has a mount of type `fstype` at `dir`.
pub fn is_mounted(dir: &Path, fstype: &str) -> bool {
    let Ok(text) = fs::read_to_string("/proc/self/mountinfo") else {
        return false;
    };
    let want = dir.to_string_lossy();
    text.lines().any(|l| {
        // ID PARENT MAJ:MIN ROOT MOUNTPOINT OPTS [OPTIONAL...] - TYPE SOURCE SUPER
        let mut f = l.split(' ');
        let point = f.nth(4);
        let ty = l.split(" - ").nth(1).and_then(|t| t.split(' ').next());
        point == Some(want.as_ref()) && ty == Some(fstype)
    })
}

/// mount(2) of a source-less file system `fstype` at `dir`.
fn mount_fs(fstype: &str, dir: &Path) -> std::io::Result<()> {
    use std::ffi::CString;
    use std::os::unix::ffi::OsStrExt;
    let bad = |_| std::io::Error::from(std::io::ErrorKind::InvalidInput);
    let t = CString::new(fstype).map_err(bad)?;
    let d = CString::new(dir.as_os_str().as_bytes()).map_err(bad)?;
    // SAFETY: three valid NUL-terminated strings and no data.
    let r = unsafe {
        libc::mount(
            t.as_ptr(),
            d.as_ptr(),
            t.as_ptr(),
            libc::MS_NOSUID | libc::MS_NOEXEC,
            std::ptr::null(),
        )
    };
    if r == 0 {
        Ok(())
    } else {
        Err(std::io::Error::last_os_error())
    }
}

#[cfg(test)]
mod same_as_the_module {
    //! The CLI refuses what the kernel refuses, and accepts the same.
    use super::*;
    use fakegpu_core::mgmt;

    #[test]
    fn gpu_lists() {
        for s in [
            "0", "0,1", "1,0", "0-3", "2,0-1", "63", "64", "0,0", "0-1,1", "3-1", "0-63", "1 ,2",
            "a", "-1", "0,", ",0", "0--1", "0001", "1-", "0-64",
        ] {
            let core = mgmt::GpuList::parse(s.as_bytes())
                .ok()
                .map(|l| l.iter().collect::<Vec<_>>());
            assert_eq!(parse_gpus(s).ok(), core, "{s:?}");
        }
        assert_eq!(parse_gpus("2,0-1").unwrap(), vec![2, 0, 1]);
        assert!(parse_gpus("0,0").is_err(), "a GPU twice");
        assert!(parse_gpus("0-1,1").is_err(), "a GPU twice through a range");
        assert!(parse_gpus("64").is_err(), "past MAX_GPUS");
        assert_eq!(
            parse_gpus("").unwrap(),
            Vec::<u32>::new(),
            "empty: the default"
        );
    }

    #[test]
    fn names() {
        let long = "a".repeat(33);
        for s in [
            "a",
            "web-1",
            "x.y_z",
            "",
            ".x",
            "-x",
            "bad name",
            "a/b",
            &long,
            &long[1..],
        ] {
            assert_eq!(check_name(s).is_ok(), mgmt::check_name(s).is_ok(), "{s:?}");
        }
    }
}
