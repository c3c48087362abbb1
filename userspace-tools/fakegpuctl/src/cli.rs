//! The command line: argument parsing, the subcommands and their output
//! (`-o table|json|yaml`). `run` is what `main` calls; tests call it too.

use crate::cdi::{self, NvidiaSpec};
use crate::error::{Error, Kind, Result, EXIT_CODES};
use crate::gpus;
use crate::metrics;
use crate::quantity::{format_bytes, parse_bytes};
use crate::sysfs::{parse_gpus, ContextInfo, CreateSpec, Priority, Sysfs, UpdateSpec, NO_LIMIT};
use serde_json::{json, Value};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// The version of the JSON/YAML output's layout.
pub const SCHEMA_VERSION: u32 = 1;

const USAGE: &str = "\
fakegpuctl - manage fakegpu: share one NVIDIA GPU between containers
with a memory cap and a compute share per container

USAGE:
    fakegpuctl [GLOBAL OPTIONS] <COMMAND> [ARGS]
    fakegpuctl <COMMAND> --help          help on one command

COMMANDS:
    gpus                 List the physical GPUs and the contexts on each
    list (ls)            List the contexts
    create NAME ...      Create a context (a virtual GPU for one container)
    update NAME ...      Change a context's memory cap or compute share
    delete (rm) NAME     Destroy a context (and remove its CDI spec)
    inspect NAME         Show everything about one context
    top                  Live table of every context's usage
    doctor               Check the module, the driver, the nodes, CDI
    cdi generate NAME    Write the CDI spec of a context
    cdi remove NAME      Remove the CDI spec of a context
    metrics              Serve Prometheus metrics over HTTP
    version              Print the versions of this tool and of the module

A first session:
    fakegpuctl gpus                                    # what is there
    fakegpuctl create web --gpus 0 --mem 8Gi --cdi     # an 8 GiB slice of GPU 0
    podman run --device fakegpu.io/vgpu=web IMAGE nvidia-smi
    fakegpuctl top --once                              # who uses what
    fakegpuctl delete web

GLOBAL OPTIONS (also accepted after the command):
    -o, --output FORMAT  table (default), json or yaml; JSON has
                         \"schema_version\", sizes in bytes, times in microseconds
    --json               Same as -o json
    --sysfs-root DIR     The module's sysfs directory
                         (default /sys/kernel/fakegpu, or $FAKEGPU_SYSFS_ROOT)
    --dev-root DIR       Where the contexts' nodes are
                         (default /dev/fakegpu, or $FAKEGPU_DEV_ROOT)
    --cdi-dir DIR        Where CDI specs are written
                         (default /var/run/cdi, or $FAKEGPU_CDI_DIR)
    --vendor-dev DIR     Where the NVIDIA driver's nodes are
                         (default /dev, or $FAKEGPU_VENDOR_DEV)
    -h, --help           Print help

QUANTITIES: memory sizes are Kubernetes quantities: 512Mi, 8Gi (binary),
8G = 8*10^9 bytes (decimal, as in Kubernetes), 1.5Gi, or plain bytes.
";

fn cmd_help(cmd: &str) -> Option<&'static str> {
    Some(match cmd {
        "gpus" => {
            "\
fakegpuctl gpus [-o table|json|yaml]

Lists the physical GPUs of the NVIDIA driver (opened at --vendor-dev,
default /dev): index, name, UUID, memory, and for each GPU the contexts
using it and the sum of their memory caps (\"overcommitted\" when the caps
add up to more than the GPU has).
"
        }
        "list" | "ls" => {
            "\
fakegpuctl list [-o table|json|yaml]

Lists the contexts: GPUs, memory used/cap/peak, refused allocations,
compute limit, open files. \"-\" means the module does not report it.
"
        }
        "create" => {
            "\
fakegpuctl create NAME [--gpus LIST] [--mem QUANTITY] [--compute PCT]
                  [--weight W] [--priority high|normal] [--cdi]

Creates the context NAME: nodes /dev/fakegpu/NAME/{nvidiactl,nvidia0..,
nvidia-uvm} that a container gets at /dev/nvidia*.

    NAME              1-32 of A-Z a-z 0-9 _ . - (not starting with . or -)
    --gpus LIST       host GPU indices, in the container's order: 0, 0,1, 0-3
                      (default 0; `fakegpuctl gpus` lists them)
    --mem QUANTITY    memory cap, e.g. 8Gi (default: no cap)
    --compute PCT     compute limit, 1-100 percent of the GPU's time (default 100)
    --weight W        share of the GPU when contended, 1-1000 (default 1)
    --priority P      high or normal (default normal)
    --cdi             also write the CDI spec (see `fakegpuctl cdi --help`);
                      if that fails the context is destroyed again

--compute/--weight/--priority need a module with compute scheduling
(exit 7 otherwise). On any error nothing is created.

Example: fakegpuctl create train --gpus 0 --mem 8Gi --compute 30 --cdi
"
        }
        "update" => {
            "\
fakegpuctl update NAME [--mem QUANTITY] [--compute PCT] [--weight W]
                  [--priority high|normal]

Changes a live context. Raising the cap takes effect at once; lowering it
below the current use refuses new allocations and takes nothing back.
If one change fails, the ones before it are undone.
"
        }
        "delete" | "rm" => {
            "\
fakegpuctl delete NAME

Destroys the context: its nodes disappear, files still open in a
container fail with ENODEV from then on, their memory is freed when
they are closed. Removes the context's CDI spec from --cdi-dir.
"
        }
        "inspect" => {
            "\
fakegpuctl inspect NAME [-o table|json|yaml]

Everything about one context: GPUs, caps, usage, compute, processes,
nodes and their CDI device name.
"
        }
        "top" => {
            "\
fakegpuctl top [--interval SECS] [--iterations N | --once] [-o table|json]

A live table of every context: memory used/cap/peak, refusals, compute
limit, GPU time used in the last interval (percent) and throttled time,
processes. Runs until interrupted, or N times (--once = 1). With -o json,
one JSON document per line and iteration.
"
        }
        "doctor" => {
            "\
fakegpuctl doctor [-o table|json|yaml]

Checks: the module is loaded and speaks this tool's interface; the
NVIDIA driver can be opened and its version is supported; every context's
nodes exist; the CDI directory is writable; NVIDIA's CDI spec is found
(for the driver libraries); each context has a CDI spec. Exits 10 if a
check failed (warnings do not fail).
"
        }
        "cdi" => {
            "\
fakegpuctl cdi generate NAME [--nvidia-spec FILE|none] [--stdout]
fakegpuctl cdi remove NAME

generate writes --cdi-dir/fakegpu.io-vgpu_NAME.json (atomically), a CDI
spec with the device fakegpu.io/vgpu=NAME: the context's nodes (hostPath)
at /dev/nvidiactl, /dev/nvidia0.., /dev/nvidia-uvm in the container, with
type and major/minor read from the nodes; plus the driver libraries'
mounts, hooks and env from NVIDIA's spec (nvidia.yaml/json searched in
--cdi-dir, then /etc/cdi; --nvidia-spec picks one or none).
--stdout prints the spec instead of writing it.

Then: podman run --device fakegpu.io/vgpu=NAME ...
      docker run --device fakegpu.io/vgpu=NAME ...   (Docker >= 25 with CDI)
Do not also pass nvidia.com/gpu devices: that bypasses the proxy.
"
        }
        "metrics" => {
            "\
fakegpuctl metrics [--listen ADDR] [--max-requests N]
fakegpuctl metrics --once

Serves Prometheus metrics on http://ADDR/metrics (default
127.0.0.1:9455; \":9455\" means every address): per context
fakegpu_vgpu_memory_{used,limit,peak}_bytes, fakegpu_vgpu_alloc_refused_total,
fakegpu_vgpu_compute_used_seconds_total, fakegpu_vgpu_throttled_seconds_total
(labels vgpu, gpu, UUID as DCGM names them), fakegpu_build_info.
--once prints one scrape to stdout and exits.
"
        }
        "version" => {
            "\
fakegpuctl version [-o table|json|yaml]

The versions of this tool and of the loaded module's interface.
"
        }
        _ => return None,
    })
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Format {
    Table,
    Json,
    Yaml,
}

struct Opts {
    sysfs: Sysfs,
    cdi_dir: PathBuf,
    vendor_dev: PathBuf,
    format: Format,
}

/// Arguments left after the global options, with option helpers.
struct Args {
    rest: Vec<String>,
}

impl Args {
    fn flag(&mut self, names: &[&str]) -> bool {
        let before = self.rest.len();
        self.rest.retain(|a| !names.contains(&a.as_str()));
        self.rest.len() != before
    }

    fn opt(&mut self, names: &[&str]) -> Result<Option<String>> {
        let mut found = None;
        let mut i = 0;
        while i < self.rest.len() {
            let a = &self.rest[i];
            if let Some((k, v)) = a.split_once('=') {
                if names.contains(&k) && k.starts_with("--") {
                    found = Some(v.to_string());
                    self.rest.remove(i);
                    continue;
                }
            }
            if names.contains(&a.as_str()) {
                if i + 1 >= self.rest.len() {
                    return Err(Error::usage(format!("{a} needs a value")));
                }
                found = Some(self.rest.remove(i + 1));
                self.rest.remove(i);
                continue;
            }
            i += 1;
        }
        Ok(found)
    }

    fn positional(&mut self, what: &str, cmd: &str) -> Result<String> {
        match self
            .rest
            .iter()
            .position(|a| !a.starts_with('-') || a == "-")
        {
            Some(i) => Ok(self.rest.remove(i)),
            None => Err(Error::usage(format!("{cmd} needs {what}"))
                .hint(format!("see `fakegpuctl {cmd} --help`"))),
        }
    }

    fn done(&self, cmd: &str) -> Result<()> {
        match self.rest.first() {
            None => Ok(()),
            Some(a) => Err(Error::usage(format!("unexpected argument '{a}' for {cmd}"))
                .hint(format!("see `fakegpuctl {cmd} --help`"))),
        }
    }
}

fn env_or(var: &str, default: &str) -> PathBuf {
    std::env::var_os(var)
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(default))
}

fn parse_u32(s: &str, what: &str) -> Result<u32> {
    s.trim_end_matches('%')
        .parse()
        .map_err(|_| Error::usage(format!("bad {what} '{s}': not a whole number")))
}

/// Runs the command line `args` (without the program name), writing normal
/// output to `out`; returns the exit code (errors as `Err`).
pub fn run(args: &[String], out: &mut dyn Write) -> Result<u8> {
    let mut a = Args {
        rest: args.to_vec(),
    };
    let sysfs_root = a
        .opt(&["--sysfs-root"])?
        .map(PathBuf::from)
        .unwrap_or_else(|| env_or("FAKEGPU_SYSFS_ROOT", crate::sysfs::DEFAULT_ROOT));
    let dev_root = a
        .opt(&["--dev-root"])?
        .map(PathBuf::from)
        .unwrap_or_else(|| env_or("FAKEGPU_DEV_ROOT", crate::sysfs::DEFAULT_DEV_ROOT));
    let cdi_dir = a
        .opt(&["--cdi-dir"])?
        .map(PathBuf::from)
        .unwrap_or_else(|| env_or("FAKEGPU_CDI_DIR", cdi::DEFAULT_CDI_DIR));
    let vendor_dev = a
        .opt(&["--vendor-dev"])?
        .map(PathBuf::from)
        .unwrap_or_else(|| env_or("FAKEGPU_VENDOR_DEV", "/dev"));
    let mut format = match a.opt(&["-o", "--output"])?.as_deref() {
        None | Some("table") | Some("wide") => Format::Table,
        Some("json") => Format::Json,
        Some("yaml") => Format::Yaml,
        Some(f) => {
            return Err(Error::usage(format!("unknown output format '{f}'"))
                .hint("use -o table, -o json or -o yaml"))
        }
    };
    if a.flag(&["--json"]) {
        format = Format::Json;
    }
    let help = a.flag(&["-h", "--help"]);
    // CDI wants absolute host paths.
    let abs = |p: PathBuf| {
        if p.is_relative() {
            std::env::current_dir().map(|d| d.join(&p)).unwrap_or(p)
        } else {
            p
        }
    };
    let o = Opts {
        sysfs: Sysfs::new(sysfs_root).with_dev_root(abs(dev_root)),
        cdi_dir,
        vendor_dev,
        format,
    };
    let cmd = if a.rest.is_empty() {
        None
    } else {
        Some(a.rest.remove(0))
    };
    let cmd = match (cmd, help) {
        (None, _) if help => {
            write!(out, "{USAGE}\n{EXIT_CODES}").ok();
            return Ok(0);
        }
        (None, _) => {
            return Err(
                Error::usage("no command given").hint("`fakegpuctl --help` lists the commands")
            )
        }
        (Some(c), _) if c == "help" => {
            match a.rest.first().and_then(|c| cmd_help(c)) {
                Some(h) => write!(out, "{h}").ok(),
                None => write!(out, "{USAGE}\n{EXIT_CODES}").ok(),
            };
            return Ok(0);
        }
        (Some(c), true) => {
            match cmd_help(&c) {
                Some(h) => write!(out, "{h}\n{EXIT_CODES}").ok(),
                None => return Err(unknown_command(&c)),
            };
            return Ok(0);
        }
        (Some(c), false) => c,
    };
    match cmd.as_str() {
        "version" => version(&o, a, out),
        "list" | "ls" => list(&o, a, out),
        "inspect" => inspect(&o, a, out),
        "create" => create(&o, a, out),
        "update" => update(&o, a, out),
        "delete" | "rm" => delete(&o, a, out),
        "gpus" => gpus_cmd(&o, a, out),
        "top" => top(&o, a, out),
        "doctor" => doctor(&o, a, out),
        "cdi" => cdi_cmd(&o, a, out),
        "metrics" => metrics_cmd(&o, a, out),
        other => Err(unknown_command(other)),
    }
}

fn unknown_command(c: &str) -> Error {
    Error::usage(format!("unknown command '{c}'")).hint("`fakegpuctl --help` lists the commands")
}

fn emit(
    o: &Opts,
    out: &mut dyn Write,
    mut v: Value,
    table: impl FnOnce(&mut dyn Write) -> std::io::Result<()>,
) -> Result<()> {
    let r = match o.format {
        Format::Table => table(out),
        Format::Json | Format::Yaml => {
            if let Value::Object(m) = &mut v {
                let mut n = serde_json::Map::new();
                n.insert("schema_version".into(), json!(SCHEMA_VERSION));
                n.extend(std::mem::take(m));
                *m = n;
            }
            if o.format == Format::Json {
                writeln!(
                    out,
                    "{}",
                    serde_json::to_string_pretty(&v).expect("JSON values serialize")
                )
            } else {
                write!(
                    out,
                    "{}",
                    serde_yaml::to_string(&v).expect("JSON values serialize as YAML")
                )
            }
        }
    };
    r.map_err(|e| Error::new(Kind::Other, format!("cannot write the output: {e}")))
}

fn opt_str<T: ToString>(v: Option<T>) -> String {
    v.map(|x| x.to_string()).unwrap_or_else(|| "-".to_string())
}

fn limit_str(c: &ContextInfo) -> String {
    c.mem_limit_bytes
        .map(format_bytes)
        .unwrap_or_else(|| "none".into())
}

fn gpus_str(g: &[u32]) -> String {
    g.iter()
        .map(|g| g.to_string())
        .collect::<Vec<_>>()
        .join(",")
}

fn context_json(o: &Opts, c: &ContextInfo) -> Value {
    let nodes: Vec<String> = o
        .sysfs
        .node_paths(&c.name)
        .unwrap_or_default()
        .iter()
        .map(|p| p.to_string_lossy().to_string())
        .collect();
    let spec = cdi::spec_path(&o.cdi_dir, &c.name);
    json!({
        "name": c.name,
        "gpus": c.gpus,
        "mem_limit_bytes": c.mem_limit_bytes,
        "mem_used_bytes": c.mem_used_bytes,
        "mem_peak_bytes": c.mem_peak_bytes,
        "alloc_refused": c.alloc_refused,
        "open_files": c.open_files,
        "pids": c.pids,
        "compute_limit_pct": c.compute_limit_pct,
        "compute_weight": c.compute_weight,
        "priority": c.priority.map(|p| p.as_str()),
        "compute_used_us": c.compute_used_us,
        "throttled_us": c.throttled_us,
        "nodes": nodes,
        "cdi_device": cdi::device_name(&c.name),
        "cdi_spec": if spec.exists() { Some(spec.to_string_lossy().to_string()) } else { None },
    })
}

fn contexts(o: &Opts) -> Result<Vec<ContextInfo>> {
    let mut v = Vec::new();
    for n in o.sysfs.list()? {
        match o.sysfs.context(&n) {
            Ok(c) => v.push(c),
            Err(e) if e.kind == Kind::NotFound => {} // destroyed while we looked
            Err(e) => return Err(e),
        }
    }
    Ok(v)
}

fn version(o: &Opts, a: Args, out: &mut dyn Write) -> Result<u8> {
    a.done("version")?;
    let module = o.sysfs.module_version();
    let compute = if module.is_ok() {
        o.sysfs.compute_supported().ok().flatten()
    } else {
        None
    };
    let v = json!({
        "fakegpuctl": crate::VERSION,
        "module": module.as_ref().ok(),
        "compute_scheduling": compute,
    });
    emit(o, out, v, |w| {
        writeln!(w, "fakegpuctl {}", crate::VERSION)?;
        match &module {
            Ok(m) => writeln!(w, "module {m}"),
            Err(_) => writeln!(w, "module not loaded"),
        }
    })?;
    // The tool's version printed, the missing module is still an error.
    module.map(|_| 0)
}

fn list(o: &Opts, a: Args, out: &mut dyn Write) -> Result<u8> {
    a.done("list")?;
    let cs = contexts(o)?;
    let v = json!({ "contexts": cs.iter().map(|c| context_json(o, c)).collect::<Vec<_>>() });
    emit(o, out, v, |w| {
        writeln!(
            w,
            "{:<16} {:<6} {:>10} {:>10} {:>10} {:>8} {:>8} {:>7} {:>6}",
            "NAME",
            "GPUS",
            "MEM-USED",
            "MEM-LIMIT",
            "PEAK",
            "REFUSED",
            "COMPUTE",
            "WEIGHT",
            "FILES"
        )?;
        for c in &cs {
            writeln!(
                w,
                "{:<16} {:<6} {:>10} {:>10} {:>10} {:>8} {:>8} {:>7} {:>6}",
                c.name,
                gpus_str(&c.gpus),
                format_bytes(c.mem_used_bytes),
                limit_str(c),
                format_bytes(c.mem_peak_bytes),
                c.alloc_refused,
                c.compute_limit_pct
                    .map(|p| format!("{p}%"))
                    .unwrap_or_else(|| "-".into()),
                opt_str(c.compute_weight),
                c.open_files
            )?;
        }
        Ok(())
    })?;
    Ok(0)
}

fn inspect(o: &Opts, mut a: Args, out: &mut dyn Write) -> Result<u8> {
    let name = a.positional("a context NAME", "inspect")?;
    a.done("inspect")?;
    let c = o.sysfs.context(&name)?;
    let v = json!({ "context": context_json(o, &c) });
    let nodes = o.sysfs.node_paths(&name)?;
    let spec = cdi::spec_path(&o.cdi_dir, &name);
    emit(o, out, v, |w| {
        writeln!(w, "Name:            {}", c.name)?;
        writeln!(
            w,
            "GPUs:            {} (the first is the container's nvidia0)",
            gpus_str(&c.gpus)
        )?;
        writeln!(
            w,
            "Memory limit:    {}",
            c.mem_limit_bytes
                .map(|l| format!("{} ({l} bytes)", format_bytes(l)))
                .unwrap_or_else(|| "none".into())
        )?;
        writeln!(
            w,
            "Memory used:     {} ({} bytes)",
            format_bytes(c.mem_used_bytes),
            c.mem_used_bytes
        )?;
        writeln!(
            w,
            "Memory peak:     {} ({} bytes)",
            format_bytes(c.mem_peak_bytes),
            c.mem_peak_bytes
        )?;
        writeln!(w, "Alloc refused:   {}", c.alloc_refused)?;
        writeln!(
            w,
            "Compute limit:   {}",
            c.compute_limit_pct
                .map(|p| format!("{p}%"))
                .unwrap_or_else(|| "- (no compute scheduling)".into())
        )?;
        writeln!(w, "Compute weight:  {}", opt_str(c.compute_weight))?;
        writeln!(
            w,
            "Priority:        {}",
            opt_str(c.priority.map(|p| p.as_str()))
        )?;
        writeln!(
            w,
            "Compute used:    {}",
            c.compute_used_us
                .map(|u| format!("{:.3} s", u as f64 / 1e6))
                .unwrap_or_else(|| "-".into())
        )?;
        writeln!(
            w,
            "Throttled:       {}",
            c.throttled_us
                .map(|u| format!("{:.3} s", u as f64 / 1e6))
                .unwrap_or_else(|| "-".into())
        )?;
        writeln!(w, "Open files:      {}", c.open_files)?;
        writeln!(
            w,
            "Processes:       {}",
            if c.pids.is_empty() {
                "none".into()
            } else {
                c.pids
                    .iter()
                    .map(|p| p.to_string())
                    .collect::<Vec<_>>()
                    .join(" ")
            }
        )?;
        writeln!(
            w,
            "Nodes:           {}",
            nodes
                .iter()
                .map(|p| p.to_string_lossy())
                .collect::<Vec<_>>()
                .join(" ")
        )?;
        writeln!(w, "CDI device:      {}", cdi::device_name(&name))?;
        writeln!(
            w,
            "CDI spec:        {}",
            if spec.exists() {
                spec.to_string_lossy().to_string()
            } else {
                format!("none (`fakegpuctl cdi generate {name}`)")
            }
        )
    })?;
    Ok(0)
}

struct Settings {
    mem: Option<u64>,
    compute: Option<u32>,
    weight: Option<u32>,
    priority: Option<Priority>,
}

fn settings(a: &mut Args) -> Result<Settings> {
    let mem = match a.opt(&["--mem", "--memory"])? {
        Some(m) if m == "none" || m == "max" => Some(NO_LIMIT),
        Some(m) => Some(parse_bytes(&m)?),
        None => None,
    };
    let compute = a
        .opt(&["--compute"])?
        .map(|s| parse_u32(&s, "compute limit"))
        .transpose()?;
    let weight = a
        .opt(&["--weight"])?
        .map(|s| parse_u32(&s, "weight"))
        .transpose()?;
    let priority = a
        .opt(&["--priority"])?
        .map(|s| Priority::parse(&s))
        .transpose()?;
    Ok(Settings {
        mem,
        compute,
        weight,
        priority,
    })
}

fn create(o: &Opts, mut a: Args, out: &mut dyn Write) -> Result<u8> {
    let with_cdi = a.flag(&["--cdi"]);
    let gpus = a
        .opt(&["--gpus", "--gpu"])?
        .map(|g| parse_gpus(&g))
        .transpose()?
        .unwrap_or_default();
    let s = settings(&mut a)?;
    let name = a.positional("a context NAME", "create")?;
    a.done("create")?;
    let spec = CreateSpec {
        gpus,
        mem_bytes: s.mem.unwrap_or(NO_LIMIT),
        compute_pct: s.compute,
        weight: s.weight,
        priority: s.priority,
    };
    o.sysfs.create(&name, &spec)?;
    // sysfs makes the directory before the write returns; allow a moment
    // for anything slower standing in for it.
    let t0 = Instant::now();
    while !o.sysfs.exists(&name) && t0.elapsed() < Duration::from_secs(2) {
        std::thread::sleep(Duration::from_millis(10));
    }
    let mut spec_path = None;
    if with_cdi {
        match cdi::write_spec(&o.cdi_dir, &o.sysfs, &name) {
            Ok(p) => spec_path = Some(p),
            Err(e) => {
                // Nothing half-done: take the context back.
                if let Err(d) = o.sysfs.destroy(&name) {
                    return Err(Error::new(
                        e.kind,
                        format!("{e}\nand destroying '{name}' again failed too: {d}"),
                    ));
                }
                return Err(Error::new(
                    e.kind,
                    format!("{}; context '{name}' was destroyed again", e.message),
                )
                .hint(e.hint.unwrap_or_default()));
            }
        }
    }
    let c = o.sysfs.context(&name)?;
    let v = json!({ "context": context_json(o, &c) });
    emit(o, out, v, |w| {
        writeln!(
            w,
            "created {name}: GPUs {}, memory limit {}",
            gpus_str(&c.gpus),
            limit_str(&c)
        )?;
        for n in o.sysfs.node_paths(&name).unwrap_or_default() {
            writeln!(w, "  {}", n.display())?;
        }
        match &spec_path {
            Some(p) => writeln!(
                w,
                "CDI spec {}: use --device {}",
                p.display(),
                cdi::device_name(&name)
            ),
            None => Ok(()),
        }
    })?;
    Ok(0)
}

fn update(o: &Opts, mut a: Args, out: &mut dyn Write) -> Result<u8> {
    let s = settings(&mut a)?;
    let name = a.positional("a context NAME", "update")?;
    a.done("update")?;
    o.sysfs.update(
        &name,
        &UpdateSpec {
            mem_bytes: s.mem,
            compute_pct: s.compute,
            weight: s.weight,
            priority: s.priority,
        },
    )?;
    let c = o.sysfs.context(&name)?;
    emit(o, out, json!({ "context": context_json(o, &c) }), |w| {
        writeln!(
            w,
            "updated {name}: memory limit {}, compute {}",
            limit_str(&c),
            c.compute_limit_pct
                .map(|p| format!("{p}%"))
                .unwrap_or_else(|| "-".into())
        )
    })?;
    Ok(0)
}

fn delete(o: &Opts, mut a: Args, out: &mut dyn Write) -> Result<u8> {
    let name = a.positional("a context NAME", "delete")?;
    a.done("delete")?;
    o.sysfs.destroy(&name)?;
    let spec = cdi::spec_path(&o.cdi_dir, &name);
    let had_spec = spec.exists();
    cdi::remove_spec(&o.cdi_dir, &name)?;
    emit(
        o,
        out,
        json!({ "deleted": name, "cdi_spec_removed": had_spec }),
        |w| {
            writeln!(
                w,
                "deleted {name}{}",
                if had_spec {
                    format!(" (and {})", spec.display())
                } else {
                    String::new()
                }
            )
        },
    )?;
    Ok(0)
}

fn gpus_cmd(o: &Opts, a: Args, out: &mut dyn Write) -> Result<u8> {
    a.done("gpus")?;
    let inv = gpus::probe(&o.vendor_dev)?;
    let usage = if o.sysfs.check_loaded().is_ok() {
        gpus::usage_by_gpu(&o.sysfs)?
    } else {
        Default::default()
    };
    let rows: Vec<Value> = inv
        .gpus
        .iter()
        .map(|g| {
            let (ctxs, sum) = usage
                .get(&g.index)
                .cloned()
                .unwrap_or((Vec::new(), Some(0)));
            json!({
                "index": g.index,
                "name": g.name,
                "uuid": g.uuid,
                "mem_total_bytes": g.mem_total_bytes,
                "pci_bus": g.pci_bus,
                "pci_device_id": format!("0x{:04x}", g.pci_device_id),
                "contexts": ctxs,
                "mem_limits_sum_bytes": sum,
                "overcommitted": sum.is_none_or(|s| s > g.mem_total_bytes) && !ctxs.is_empty(),
            })
        })
        .collect();
    let v = json!({ "driver_version": inv.driver_version, "module_loaded": o.sysfs.check_loaded().is_ok(), "gpus": rows });
    emit(o, out, v, |w| {
        writeln!(w, "NVIDIA driver {}", inv.driver_version)?;
        writeln!(
            w,
            "{:<4} {:<28} {:<42} {:>10} {:>12}  CONTEXTS",
            "GPU", "NAME", "UUID", "MEMORY", "CAPS-SUM"
        )?;
        for g in &inv.gpus {
            let (ctxs, sum) = usage
                .get(&g.index)
                .cloned()
                .unwrap_or((Vec::new(), Some(0)));
            let sum_s = match sum {
                Some(s) if s > g.mem_total_bytes => format!("{} (over)", format_bytes(s)),
                Some(s) => format_bytes(s),
                None => "unlimited".into(),
            };
            writeln!(
                w,
                "{:<4} {:<28} {:<42} {:>10} {:>12}  {}",
                g.index,
                g.name,
                g.uuid,
                format_bytes(g.mem_total_bytes),
                sum_s,
                if ctxs.is_empty() {
                    "-".into()
                } else {
                    ctxs.join(",")
                }
            )?;
        }
        Ok(())
    })?;
    Ok(0)
}

fn top(o: &Opts, mut a: Args, out: &mut dyn Write) -> Result<u8> {
    let interval = a
        .opt(&["--interval", "-n"])?
        .map(|s| {
            s.parse::<f64>()
                .map_err(|_| Error::usage(format!("bad --interval '{s}'")))
        })
        .transpose()?
        .unwrap_or(1.0);
    if !(0.05..=3600.0).contains(&interval) {
        return Err(Error::usage(
            "--interval must be between 0.05 and 3600 seconds",
        ));
    }
    let mut iterations = a
        .opt(&["--iterations"])?
        .map(|s| {
            s.parse::<u64>()
                .map_err(|_| Error::usage(format!("bad --iterations '{s}'")))
        })
        .transpose()?;
    if a.flag(&["--once"]) {
        iterations = Some(1);
    }
    a.done("top")?;
    let tty =
        iterations.is_none() && o.format == Format::Table && std::env::var_os("TERM").is_some();
    let mut prev: std::collections::BTreeMap<String, (u64, Instant)> = Default::default();
    let mut n = 0u64;
    loop {
        let now = Instant::now();
        let cs = contexts(o)?;
        let mut rows = Vec::new();
        for c in &cs {
            let pct = match (c.compute_used_us, prev.get(&c.name)) {
                (Some(u), Some((pu, pt))) => {
                    let dt = now.duration_since(*pt).as_micros().max(1) as f64;
                    Some(100.0 * u.saturating_sub(*pu) as f64 / dt)
                }
                _ => None,
            };
            rows.push((c, pct));
        }
        match o.format {
            Format::Table => {
                let mut s = String::new();
                if tty {
                    s.push_str("\x1b[H\x1b[2J");
                }
                s.push_str(&format!(
                    "fakegpu top - {} contexts, every {interval}s{}\n",
                    cs.len(),
                    iterations
                        .map(|i| format!(" ({}/{i})", n + 1))
                        .unwrap_or_default()
                ));
                s.push_str(&format!(
                    "{:<16} {:<5} {:>10} {:>10} {:>10} {:>7} {:>7} {:>7} {:>10} {:>10}  {}\n",
                    "NAME",
                    "GPUS",
                    "MEM-USED",
                    "MEM-LIMIT",
                    "PEAK",
                    "REFUSED",
                    "COMPUTE",
                    "GPU%",
                    "GPU-TIME",
                    "THROTTLED",
                    "PIDS"
                ));
                for (c, pct) in &rows {
                    s.push_str(&format!(
                        "{:<16} {:<5} {:>10} {:>10} {:>10} {:>7} {:>7} {:>7} {:>10} {:>10}  {}\n",
                        c.name,
                        gpus_str(&c.gpus),
                        format_bytes(c.mem_used_bytes),
                        limit_str(c),
                        format_bytes(c.mem_peak_bytes),
                        c.alloc_refused,
                        c.compute_limit_pct
                            .map(|p| format!("{p}%"))
                            .unwrap_or_else(|| "-".into()),
                        pct.map(|p| format!("{p:.1}")).unwrap_or_else(|| "-".into()),
                        c.compute_used_us
                            .map(|u| format!("{:.2}s", u as f64 / 1e6))
                            .unwrap_or_else(|| "-".into()),
                        c.throttled_us
                            .map(|u| format!("{:.2}s", u as f64 / 1e6))
                            .unwrap_or_else(|| "-".into()),
                        if c.pids.is_empty() {
                            "-".into()
                        } else {
                            c.pids
                                .iter()
                                .map(|p| p.to_string())
                                .collect::<Vec<_>>()
                                .join(",")
                        }
                    ));
                }
                out.write_all(s.as_bytes())
                    .and_then(|_| out.flush())
                    .map_err(|e| Error::new(Kind::Other, format!("cannot write: {e}")))?;
            }
            _ => {
                let ctxs: Vec<Value> = rows
                    .iter()
                    .map(|(c, pct)| {
                        let mut v = context_json(o, c);
                        v["gpu_busy_pct"] = json!(pct);
                        v
                    })
                    .collect();
                let v = json!({ "schema_version": SCHEMA_VERSION, "iteration": n + 1, "contexts": ctxs });
                let text = if o.format == Format::Json {
                    serde_json::to_string(&v).expect("serializes") + "\n"
                } else {
                    format!("---\n{}", serde_yaml::to_string(&v).expect("serializes"))
                };
                out.write_all(text.as_bytes())
                    .and_then(|_| out.flush())
                    .map_err(|e| Error::new(Kind::Other, format!("cannot write: {e}")))?;
            }
        }
        for c in &cs {
            if let Some(u) = c.compute_used_us {
                prev.insert(c.name.clone(), (u, now));
            }
        }
        n += 1;
        if iterations.is_some_and(|i| n >= i) {
            return Ok(0);
        }
        std::thread::sleep(Duration::from_secs_f64(interval));
    }
}

fn doctor(o: &Opts, a: Args, out: &mut dyn Write) -> Result<u8> {
    a.done("doctor")?;
    // (name, status ok|warn|fail, detail, hint)
    let mut checks: Vec<(String, &str, String, String)> = Vec::new();
    let mut add = |n: &str, s: &'static str, d: String, h: &str| {
        checks.push((n.to_string(), s, d, h.to_string()))
    };
    match o.sysfs.module_version() {
        Ok(v) => {
            let mine: Vec<&str> = crate::VERSION.split('.').collect();
            let theirs: Vec<&str> = v.split('.').collect();
            let compatible = mine.first() == theirs.first()
                && (mine.first() != Some(&"0") || mine.get(1) == theirs.get(1));
            add(
                "module",
                "ok",
                format!("fakegpu {v} loaded ({})", o.sysfs.root.display()),
                "",
            );
            if compatible {
                add(
                    "interface",
                    "ok",
                    format!("module interface {v} matches fakegpuctl {}", crate::VERSION),
                    "",
                );
            } else {
                add(
                    "interface",
                    "fail",
                    format!("module interface {v}, fakegpuctl {}", crate::VERSION),
                    "install the fakegpuctl of the module's release",
                );
            }
        }
        Err(e) => add(
            "module",
            "fail",
            e.message.clone(),
            "modprobe fakegpu (or insmod fakegpu.ko)",
        ),
    }
    match gpus::driver_version(&o.vendor_dev) {
        Ok(v) if v.starts_with(gpus::SUPPORTED_DRIVER_PREFIX) => add("driver", "ok", format!("NVIDIA driver {v} (supported: {}x)", gpus::SUPPORTED_DRIVER_PREFIX), ""),
        Ok(v) => add("driver", "fail", format!("NVIDIA driver {v} is not supported (supported: {}x)", gpus::SUPPORTED_DRIVER_PREFIX), "install a 580 driver; fakegpu refuses other RM ABIs"),
        Err(e) => add("driver", "fail", e.message.clone(), "load the NVIDIA driver; create /dev/nvidiactl (nvidia-modprobe); --vendor-dev moves it"),
    }
    if o.sysfs.check_loaded().is_ok() {
        match o.sysfs.compute_supported() {
            Ok(Some(true)) => add("compute", "ok", "compute scheduling available".into(), ""),
            Ok(Some(false)) => add(
                "compute",
                "warn",
                "this module has no compute scheduling (memory caps only)".into(),
                "",
            ),
            _ => add(
                "compute",
                "ok",
                "no contexts to tell whether compute scheduling is available".into(),
                "",
            ),
        }
        let names = o.sysfs.list().unwrap_or_default();
        for n in &names {
            let nodes = o.sysfs.node_paths(n).unwrap_or_default();
            let missing: Vec<String> = nodes
                .iter()
                .filter(|p| cdi::node_info(p).is_err())
                .map(|p| p.display().to_string())
                .collect();
            if missing.is_empty() {
                add(
                    &format!("nodes {n}"),
                    "ok",
                    format!(
                        "{} nodes in {}",
                        nodes.len(),
                        o.sysfs.dev_root.join(n).display()
                    ),
                    "",
                );
            } else {
                add(
                    &format!("nodes {n}"),
                    "fail",
                    format!("missing or not device nodes: {}", missing.join(" ")),
                    "is devtmpfs mounted on /dev? does a udev rule remove them?",
                );
            }
            if !cdi::spec_path(&o.cdi_dir, n).exists() {
                add(
                    &format!("cdi {n}"),
                    "warn",
                    format!("no CDI spec for {n} in {}", o.cdi_dir.display()),
                    "fakegpuctl cdi generate NAME",
                );
            }
        }
    }
    let dir_ok = if o.cdi_dir.is_dir() {
        let probe = o
            .cdi_dir
            .join(format!(".fakegpuctl-doctor.{}", std::process::id()));
        let w = std::fs::write(&probe, b"").is_ok();
        let _ = std::fs::remove_file(&probe);
        w
    } else {
        false
    };
    if dir_ok {
        add(
            "cdi-dir",
            "ok",
            format!("{} is writable", o.cdi_dir.display()),
            "",
        );
    } else if !o.cdi_dir.exists() {
        add(
            "cdi-dir",
            "warn",
            format!(
                "{} does not exist (created on the first `cdi generate`)",
                o.cdi_dir.display()
            ),
            "",
        );
    } else {
        add(
            "cdi-dir",
            "fail",
            format!("{} is not writable", o.cdi_dir.display()),
            "run as root, or --cdi-dir DIR",
        );
    }
    match NvidiaSpec::default_for(&o.cdi_dir).find() {
        Some(p) => add("nvidia-spec", "ok", format!("NVIDIA's CDI spec {} (driver libraries and hooks are copied from it)", p.display()), ""),
        None => add(
            "nvidia-spec",
            "warn",
            format!("no NVIDIA CDI spec in {} or /etc/cdi: generated specs will carry the device nodes only", o.cdi_dir.display()),
            "nvidia-ctk cdi generate --output=/var/run/cdi/nvidia.yaml",
        ),
    }
    let failed = checks.iter().filter(|c| c.1 == "fail").count();
    let v = json!({
        "ok": failed == 0,
        "checks": checks.iter().map(|(n, s, d, h)| json!({"name": n, "status": s, "detail": d, "hint": if h.is_empty() { None } else { Some(h) }})).collect::<Vec<_>>(),
    });
    emit(o, out, v, |w| {
        for (n, s, d, h) in &checks {
            writeln!(w, "[{:<4}] {:<14} {d}", s, n)?;
            if !h.is_empty() && *s != "ok" {
                writeln!(w, "       {:<14} fix: {h}", "")?;
            }
        }
        writeln!(
            w,
            "{}",
            if failed == 0 {
                "all checks passed".to_string()
            } else {
                format!("{failed} check(s) failed")
            }
        )
    })?;
    Ok(if failed == 0 {
        0
    } else {
        Kind::Unhealthy.exit_code()
    })
}

fn cdi_cmd(o: &Opts, mut a: Args, out: &mut dyn Write) -> Result<u8> {
    let sub = a.positional("a subcommand (generate or remove)", "cdi")?;
    let nvidia = match a.opt(&["--nvidia-spec"])? {
        Some(n) if n == "none" => NvidiaSpec::None,
        Some(f) => {
            if !Path::new(&f).is_file() {
                return Err(Error::usage(format!("--nvidia-spec {f}: no such file")));
            }
            NvidiaSpec::File(PathBuf::from(f))
        }
        None => NvidiaSpec::default_for(&o.cdi_dir),
    };
    let stdout = a.flag(&["--stdout"]);
    let name = a.positional("a context NAME", "cdi")?;
    a.done("cdi")?;
    match sub.as_str() {
        "generate" => {
            if stdout {
                let spec = cdi::build_spec(&o.sysfs, &name, &nvidia)?;
                let text = if o.format == Format::Yaml {
                    serde_yaml::to_string(&spec).expect("serializes")
                } else {
                    serde_json::to_string_pretty(&spec).expect("serializes") + "\n"
                };
                out.write_all(text.as_bytes())
                    .map_err(|e| Error::new(Kind::Other, format!("cannot write: {e}")))?;
                return Ok(0);
            }
            let p = cdi::write_spec_with(&o.cdi_dir, &o.sysfs, &name, &nvidia)?;
            emit(
                o,
                out,
                json!({ "cdi_spec": p.to_string_lossy(), "cdi_device": cdi::device_name(&name) }),
                |w| {
                    writeln!(
                        w,
                        "wrote {}\nuse: --device {}",
                        p.display(),
                        cdi::device_name(&name)
                    )
                },
            )?;
            Ok(0)
        }
        "remove" | "rm" => {
            cdi::remove_spec(&o.cdi_dir, &name)?;
            emit(
                o,
                out,
                json!({ "removed": cdi::spec_path(&o.cdi_dir, &name).to_string_lossy() }),
                |w| writeln!(w, "removed {}", cdi::spec_path(&o.cdi_dir, &name).display()),
            )?;
            Ok(0)
        }
        other => Err(Error::usage(format!("unknown cdi subcommand '{other}'"))
            .hint("use `cdi generate NAME` or `cdi remove NAME`")),
    }
}

fn metrics_cmd(o: &Opts, mut a: Args, out: &mut dyn Write) -> Result<u8> {
    let listen = a
        .opt(&["--listen", "--web.listen-address"])?
        .unwrap_or_else(|| "127.0.0.1:9455".into());
    let max = a
        .opt(&["--max-requests"])?
        .map(|s| {
            s.parse::<u64>()
                .map_err(|_| Error::usage(format!("bad --max-requests '{s}'")))
        })
        .transpose()?;
    let once = a.flag(&["--once"]);
    a.done("metrics")?;
    let mut exp = metrics::Exporter::new(o.sysfs.clone(), o.vendor_dev.clone());
    if once {
        out.write_all(exp.scrape().as_bytes())
            .map_err(|e| Error::new(Kind::Other, format!("cannot write: {e}")))?;
        return Ok(0);
    }
    let addr = if listen.starts_with(':') {
        format!("0.0.0.0{listen}")
    } else {
        listen
    };
    let l = metrics::bind(&addr)?;
    let local = l.local_addr().map(|a| a.to_string()).unwrap_or(addr);
    writeln!(out, "serving metrics on http://{local}/metrics").ok();
    out.flush().ok();
    exp.serve(l, max)?;
    Ok(0)
}
