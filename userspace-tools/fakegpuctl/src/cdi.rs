//! CDI (Container Device Interface) specs for contexts: one transient spec
//! per context, `<cdi_dir>/fakegpu.io-vgpu_NAME.json`, kind
//! `fakegpu.io/vgpu`, device `NAME`, mapping the context's nodes
//! (`/dev/fakegpu/NAME/*`, hostPath) to the vendor's paths in the container
//! (`/dev/nvidiactl`, `/dev/nvidia0..`, `/dev/nvidia-uvm`), with type, major
//! and minor taken from the host nodes. The driver libraries' mounts, hooks
//! and env come from NVIDIA's own spec when there is one (its device nodes
//! are left out: they would bypass the proxy).
//!
//! When fakegpufs is mounted (`/sys/fs/fakegpu`, see
//! [`Sysfs::vendor_numbered_dir`]), the vendor's paths get its nodes
//! instead, as bind mounts: they are the same proxy nodes, but `stat`
//! shows the vendor's numbers, which NVIDIA's 550 user space checks. The
//! device nodes then carry fakegpufs's own numbers (its `devices` file),
//! at fakegpu's paths in the container (`/dev/fakegpu/NAME/*`): the device
//! cgroup's allow rule for exactly those nodes. A node made with such a
//! number opens nothing, and the misc nodes are not in the container at
//! all, so a container that outlives its context reaches no other. The
//! numbers are always written out: a runtime that took them from `stat`
//! of a fakegpufs node would make the vendor's own node.

use crate::error::{Error, Kind, Result};
use crate::sysfs::Sysfs;
use serde::Serialize;
use serde_json::Value;
use std::fs;
use std::io::Write;
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::{Path, PathBuf};

/// The CDI vendor.
pub const VENDOR: &str = "fakegpu.io";
/// The CDI class.
pub const CLASS: &str = "vgpu";
/// The CDI kind, `vendor/class`.
pub const KIND: &str = "fakegpu.io/vgpu";
/// The default directory for generated (transient) specs.
pub const DEFAULT_CDI_DIR: &str = "/var/run/cdi";
/// The static spec directory (searched for NVIDIA's spec).
pub const STATIC_CDI_DIR: &str = "/etc/cdi";
/// The lowest cdiVersion our own fields need (deviceNodes hostPath: 0.5.0).
pub const MIN_CDI_VERSION: &str = "0.5.0";

/// The fully qualified CDI device name: `fakegpu.io/vgpu=NAME`.
pub fn device_name(name: &str) -> String {
    format!("{KIND}={name}")
}

/// The spec's file name: `fakegpu.io-vgpu_NAME.json` (the CDI library's
/// transient spec name).
pub fn spec_file_name(name: &str) -> String {
    format!("{VENDOR}-{CLASS}_{}.json", name.replace('/', "_"))
}

/// The spec's path in `cdi_dir`.
pub fn spec_path(cdi_dir: &Path, name: &str) -> PathBuf {
    cdi_dir.join(spec_file_name(name))
}

/// Where NVIDIA's spec comes from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum NvidiaSpec {
    /// Search `nvidia.{yaml,json}`, then `nvidia*.{yaml,json}`, in these
    /// directories in order (the first found wins).
    Search(Vec<PathBuf>),
    /// This file.
    File(PathBuf),
    /// None: only the device nodes.
    None,
}

impl NvidiaSpec {
    /// The default search: the transient directory (which wins in CDI's
    /// own priority), then `/etc/cdi`.
    pub fn default_for(cdi_dir: &Path) -> NvidiaSpec {
        let mut dirs = vec![cdi_dir.to_path_buf()];
        if cdi_dir != Path::new(STATIC_CDI_DIR) {
            dirs.push(PathBuf::from(STATIC_CDI_DIR));
        }
        NvidiaSpec::Search(dirs)
    }

    /// The file this resolves to, if any.
    pub fn find(&self) -> Option<PathBuf> {
        match self {
            NvidiaSpec::None => None,
            NvidiaSpec::File(p) => Some(p.clone()),
            NvidiaSpec::Search(dirs) => {
                for d in dirs {
                    for f in ["nvidia.yaml", "nvidia.json"] {
                        if d.join(f).is_file() {
                            return Some(d.join(f));
                        }
                    }
                    let mut others: Vec<PathBuf> = fs::read_dir(d)
                        .into_iter()
                        .flatten()
                        .flatten()
                        .map(|e| e.path())
                        .filter(|p| {
                            let n = p.file_name().and_then(|n| n.to_str()).unwrap_or("");
                            n.starts_with("nvidia")
                                && (n.ends_with(".yaml") || n.ends_with(".json"))
                                && p.is_file()
                        })
                        .collect();
                    others.sort();
                    if let Some(p) = others.into_iter().next() {
                        return Some(p);
                    }
                }
                None
            }
        }
    }
}

/// Reads a CDI spec (JSON or YAML, by extension).
pub fn read_spec_file(path: &Path) -> Result<Value> {
    let text = fs::read_to_string(path).map_err(|e| {
        Error::new(
            Kind::Cdi,
            format!("cannot read CDI spec {}: {e}", path.display()),
        )
    })?;
    let v: Value = if path.extension().and_then(|e| e.to_str()) == Some("json") {
        serde_json::from_str(&text).map_err(|e| {
            Error::new(
                Kind::Cdi,
                format!("{} is not valid JSON: {e}", path.display()),
            )
        })?
    } else {
        serde_yaml::from_str(&text).map_err(|e| {
            Error::new(
                Kind::Cdi,
                format!("{} is not valid YAML: {e}", path.display()),
            )
        })?
    };
    if !v.is_object() {
        return Err(Error::new(
            Kind::Cdi,
            format!("{} is not a CDI spec (not an object)", path.display()),
        ));
    }
    Ok(v)
}

fn version_tuple(v: &str) -> (u32, u32, u32) {
    let mut it = v
        .trim_start_matches('v')
        .split('.')
        .map(|x| x.parse::<u32>().unwrap_or(0));
    (
        it.next().unwrap_or(0),
        it.next().unwrap_or(0),
        it.next().unwrap_or(0),
    )
}

/// Type, major and minor of a device node (stat, following links).
pub fn node_info(path: &Path) -> Result<(&'static str, u64, u64)> {
    let md = fs::metadata(path).map_err(|e| {
        Error::new(
            Kind::NotFound,
            format!("cannot stat {}: {e}", path.display()),
        )
        .hint("is the context's node there? `ls -l` the directory; is devtmpfs mounted on /dev?")
    })?;
    let ft = md.file_type();
    let t = if ft.is_char_device() {
        "c"
    } else if ft.is_block_device() {
        "b"
    } else {
        return Err(Error::new(
            Kind::Cdi,
            format!("{} is not a device node", path.display()),
        ));
    };
    let dev = md.rdev();
    let major = ((dev >> 8) & 0xfff) | ((dev >> 32) & !0xfff);
    let minor = (dev & 0xff) | ((dev >> 12) & !0xff);
    Ok((t, major, minor))
}

/// A CDI spec as fakegpuctl writes it (field names as the CDI schema
/// spells them). NVIDIA's mounts, hooks and env are copied as they are.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Spec<'a> {
    cdi_version: String,
    kind: &'static str,
    devices: Vec<SpecDevice<'a>>,
    container_edits: ContainerEdits,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct SpecDevice<'a> {
    name: &'a str,
    container_edits: DeviceEdits,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct DeviceEdits {
    device_nodes: Vec<DeviceNode>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    mounts: Vec<Mount>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Mount {
    host_path: String,
    container_path: String,
    options: Vec<&'static str>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct DeviceNode {
    path: String,
    host_path: String,
    #[serde(rename = "type")]
    kind: &'static str,
    major: u64,
    minor: u64,
    permissions: &'static str,
}

/// The spec-wide edits: env first, then NVIDIA's mounts and hooks (left
/// out when NVIDIA's spec has none).
#[derive(Serialize)]
struct ContainerEdits {
    env: Vec<Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    mounts: Option<Vec<Value>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    hooks: Option<Vec<Value>>,
}

/// Builds the spec for context `name` (without writing it).
pub fn build_spec(sysfs: &Sysfs, name: &str, nvidia: &NvidiaSpec) -> Result<Value> {
    check_device_name(name)?;
    let nodes = sysfs.node_paths(name)?;
    let numbered = match sysfs.vendor_numbered_dir(name) {
        Some(dir) => Some((nodefs_devices(&dir)?, dir)),
        None => None,
    };
    let mut device_nodes = Vec::new();
    let mut mounts = Vec::new();
    for host in &nodes {
        let file = host
            .file_name()
            .and_then(|f| f.to_str())
            .unwrap_or_default();
        let vendor_path = format!("/dev/{file}");
        let node = match &numbered {
            Some((devices, dir)) => {
                let fs_node = dir.join(file);
                let &(major, minor) = devices.get(file).ok_or_else(|| {
                    Error::new(
                        Kind::Cdi,
                        format!("{} does not list {file}", dir.join("devices").display()),
                    )
                })?;
                mounts.push(Mount {
                    host_path: fs_node.to_string_lossy().to_string(),
                    container_path: vendor_path,
                    options: vec!["bind", "nosuid", "noexec"],
                });
                DeviceNode {
                    path: host.to_string_lossy().to_string(),
                    host_path: fs_node.to_string_lossy().to_string(),
                    kind: "c",
                    major,
                    minor,
                    permissions: "rw",
                }
            }
            None => {
                let (kind, major, minor) = node_info(host)?;
                DeviceNode {
                    path: vendor_path,
                    host_path: host.to_string_lossy().to_string(),
                    kind,
                    major,
                    minor,
                    permissions: "rw",
                }
            }
        };
        device_nodes.push(node);
    }
    let mut version = MIN_CDI_VERSION.to_string();
    let mut edits = ContainerEdits {
        env: Vec::new(),
        mounts: None,
        hooks: None,
    };
    if let Some(path) = nvidia.find() {
        let theirs = read_spec_file(&path)?;
        if let Some(v) = theirs.get("cdiVersion").and_then(|v| v.as_str()) {
            if version_tuple(v) > version_tuple(&version) {
                version = v.to_string();
            }
        }
        if let Some(ce) = theirs.get("containerEdits").and_then(|c| c.as_object()) {
            let list = |key: &str| {
                ce.get(key)
                    .and_then(|a| a.as_array())
                    .filter(|a| !a.is_empty())
                    .cloned()
            };
            edits.mounts = list("mounts");
            edits.hooks = list("hooks");
            if let Some(a) = ce.get("env").and_then(|a| a.as_array()) {
                edits
                    .env
                    .extend(a.iter().filter(|e| e.as_str().is_some()).cloned());
            }
        }
    }
    // Keeps NVIDIA's legacy hook from injecting the real nodes a second time.
    if !edits.env.iter().any(|e| {
        e.as_str()
            .is_some_and(|s| s.starts_with("NVIDIA_VISIBLE_DEVICES="))
    }) {
        edits
            .env
            .insert(0, Value::from("NVIDIA_VISIBLE_DEVICES=void"));
    }
    let spec = Spec {
        cdi_version: version,
        kind: KIND,
        devices: vec![SpecDevice {
            name,
            container_edits: DeviceEdits {
                device_nodes,
                mounts,
            },
        }],
        container_edits: edits,
    };
    Ok(serde_json::to_value(&spec).expect("the spec serializes"))
}

/// A fakegpufs context directory's `devices` file: node name to its own
/// major and minor (`nvidiactl 240:0` per line).
pub fn nodefs_devices(dir: &Path) -> Result<std::collections::BTreeMap<String, (u64, u64)>> {
    let p = dir.join("devices");
    let text = fs::read_to_string(&p)
        .map_err(|e| Error::new(Kind::Cdi, format!("cannot read {}: {e}", p.display())))?;
    let mut m = std::collections::BTreeMap::new();
    for line in text.lines() {
        let parsed = line.split_once(' ').and_then(|(n, num)| {
            let (a, b) = num.split_once(':')?;
            Some((n.to_string(), (a.parse().ok()?, b.parse().ok()?)))
        });
        let (n, num) = parsed
            .ok_or_else(|| Error::new(Kind::Cdi, format!("{}: bad line '{line}'", p.display())))?;
        m.insert(n, num);
    }
    Ok(m)
}

/// CDI device names: `[A-Za-z0-9][A-Za-z0-9_.:-]*`, ending alphanumeric.
fn check_device_name(name: &str) -> Result<()> {
    let b = name.as_bytes();
    let ok = !b.is_empty()
        && b[0].is_ascii_alphanumeric()
        && b[b.len() - 1].is_ascii_alphanumeric()
        && b.iter()
            .all(|c| c.is_ascii_alphanumeric() || b"_.:-".contains(c));
    if ok {
        Ok(())
    } else {
        Err(Error::new(Kind::Cdi, format!("'{name}' cannot be a CDI device name (it must start and end with a letter or digit)"))
            .hint("name the context with a letter or digit at both ends"))
    }
}

/// Writes `content` to `path` atomically: a temporary file in the same
/// directory (named so CDI loaders ignore it), fsync, rename.
pub fn write_atomic(path: &Path, content: &[u8]) -> Result<()> {
    let dir = path.parent().unwrap_or(Path::new("."));
    let fail = |e: std::io::Error, what: &str| {
        Error::new(Kind::Cdi, format!("cannot {what} {}: {e}", path.display())).hint(
            "is the CDI directory writable? (--cdi-dir moves it; writing /var/run/cdi needs root)",
        )
    };
    fs::create_dir_all(dir).map_err(|e| fail(e, "create the directory of"))?;
    let tmp = dir.join(format!(
        ".{}.tmp{}",
        path.file_name().and_then(|f| f.to_str()).unwrap_or("spec"),
        std::process::id()
    ));
    let r = (|| {
        let mut f = fs::File::create(&tmp)?;
        f.write_all(content)?;
        f.sync_all()?;
        fs::rename(&tmp, path)
    })();
    if let Err(e) = r {
        let _ = fs::remove_file(&tmp);
        return Err(fail(e, "write"));
    }
    Ok(())
}

/// Writes the spec of context `name` to `cdi_dir` (NVIDIA's spec searched
/// in `cdi_dir` and `/etc/cdi`); returns its path.
pub fn write_spec(cdi_dir: &Path, sysfs: &Sysfs, name: &str) -> Result<PathBuf> {
    write_spec_with(cdi_dir, sysfs, name, &NvidiaSpec::default_for(cdi_dir))
}

/// [`write_spec`] with NVIDIA's spec chosen by the caller.
pub fn write_spec_with(
    cdi_dir: &Path,
    sysfs: &Sysfs,
    name: &str,
    nvidia: &NvidiaSpec,
) -> Result<PathBuf> {
    let spec = build_spec(sysfs, name, nvidia)?;
    let path = spec_path(cdi_dir, name);
    let mut text = serde_json::to_string_pretty(&spec).expect("JSON values serialize");
    text.push('\n');
    write_atomic(&path, text.as_bytes())?;
    Ok(path)
}

/// Removes the spec of context `name` from `cdi_dir` (fine if there is none).
pub fn remove_spec(cdi_dir: &Path, name: &str) -> Result<()> {
    let p = spec_path(cdi_dir, name);
    match fs::remove_file(&p) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(Error::new(
            Kind::Cdi,
            format!("cannot remove {}: {e}", p.display()),
        )),
    }
}
