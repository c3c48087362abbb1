//! The command line: argument parsing (clap), the subcommands and their
//! output (`-o table|json|yaml`). `run` is what `main` calls; tests call it
//! too.

use crate::cdi::{self, NvidiaSpec};
use crate::error::{Error, Kind, Result, EXIT_CODES};
use crate::gpus;
use crate::metrics;
use crate::quantity::{format_bytes, parse_bytes};
use crate::sysfs::{parse_gpus, ContextInfo, CreateSpec, Priority, Sysfs, UpdateSpec, NO_LIMIT};
use clap::{Args as ClapArgs, Parser, Subcommand, ValueEnum};
use fakegpu_core::drivers::SUPPORTED_VERSIONS;
use serde::Serialize;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// The version of the JSON/YAML output's layout.
pub const SCHEMA_VERSION: u32 = 1;

const ABOUT: &str = "fakegpuctl - manage fakegpu: share one NVIDIA GPU between containers \
with a memory cap and a compute share per container";

const LONG_ABOUT: &str = "\
fakegpuctl - manage fakegpu: share one NVIDIA GPU between containers
with a memory cap and a compute share per container.

Each container gets a context (a virtual GPU): `create NAME` makes its
device nodes /dev/fakegpu/NAME/*, `--cdi` a CDI spec that podman, Docker
and containerd use to put them at /dev/nvidia* in the container.
`fakegpuctl COMMAND --help` explains one command.";

const AFTER_HELP: &str = "\
A first session:
    fakegpuctl doctor                                  # is everything in place?
    fakegpuctl gpus                                    # what is there
    fakegpuctl create web --gpus 0 --mem 8Gi --cdi     # create NAME: an 8 GiB slice of GPU 0
    podman run --device fakegpu.io/vgpu=web IMAGE nvidia-smi
    fakegpuctl top --once                              # who uses what
    fakegpuctl delete web

QUANTITIES: memory sizes follow the module's rule (the same parser as
sysfs): bytes, or a whole number with K, M, G, T, P or E, binary:
8G = 8Gi = 8GiB = 8*2^30 bytes, 512M = 512Mi. No decimal units, no
fractions (1.5Gi: write 1536Mi).

LOGGING: -v (info), -vv (debug), -vvv (trace) on stderr; or
FAKEGPUCTL_LOG=error|warn|info|debug|trace. Default: warnings only.
";

/// The command line (clap).
#[derive(Parser, Debug)]
#[command(
    name = "fakegpuctl",
    version = crate::VERSION,
    about = ABOUT,
    long_about = LONG_ABOUT,
    after_help = tail(AFTER_HELP),
    max_term_width = 100
)]
struct Cli {
    #[command(
        flatten,
        next_help_heading = "Global options (before or after the command)"
    )]
    global: Global,
    #[command(subcommand)]
    command: Option<Command>,
}

/// The options every command takes (before or after the command).
#[derive(ClapArgs, Debug)]
struct Global {
    /// Output format: table (default), json or yaml; JSON/YAML have "schema_version", sizes in
    /// bytes, times in microseconds
    #[arg(
        short = 'o',
        long = "output",
        value_name = "FORMAT",
        global = true,
        value_enum,
        hide_possible_values = true
    )]
    output: Option<OutputArg>,
    /// Same as -o json
    #[arg(long, global = true)]
    json: bool,
    /// The module's sysfs directory [default: /sys/kernel/fakegpu, or $FAKEGPU_SYSFS_ROOT]
    #[arg(long, value_name = "DIR", global = true)]
    sysfs_root: Option<PathBuf>,
    /// Where the contexts' nodes are [default: /dev/fakegpu, or $FAKEGPU_DEV_ROOT]
    #[arg(long, value_name = "DIR", global = true)]
    dev_root: Option<PathBuf>,
    /// Where fakegpufs is mounted (the nodes as the vendor numbers them;
    /// `create` mounts it) [default: /sys/fs/fakegpu, or
    /// $FAKEGPU_NODEFS_ROOT; "" turns it off]
    #[arg(long, value_name = "DIR", global = true)]
    nodefs_root: Option<PathBuf>,
    /// Where CDI specs are written [default: /var/run/cdi, or $FAKEGPU_CDI_DIR]
    #[arg(long, value_name = "DIR", global = true)]
    cdi_dir: Option<PathBuf>,
    /// Where the NVIDIA driver's nodes are [default: /dev, or $FAKEGPU_VENDOR_DEV]
    #[arg(long, value_name = "DIR", global = true)]
    vendor_dev: Option<PathBuf>,
    /// Log more on stderr (-v info, -vv debug, -vvv trace)
    #[arg(short, long, action = clap::ArgAction::Count, global = true)]
    verbose: u8,
}

#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
enum OutputArg {
    /// A table for people (the default; may change)
    Table,
    /// Same as table
    #[value(hide = true)]
    Wide,
    /// JSON, for scripts
    Json,
    /// YAML (the same data as JSON)
    Yaml,
}

/// A command's `after_help`: its examples, then the exit codes.
fn tail(examples: &str) -> String {
    if examples.is_empty() {
        EXIT_CODES.to_string()
    } else {
        format!("{examples}\n\n{EXIT_CODES}")
    }
}

#[derive(Subcommand, Debug)]
enum Command {
    /// List the physical GPUs and the contexts on each
    #[command(long_about = GPUS_HELP, after_help = tail(""))]
    Gpus,
    /// List the contexts
    #[command(visible_alias = "ls", long_about = LIST_HELP, after_help = tail(""))]
    List,
    /// Create a context NAME (a virtual GPU for one container)
    #[command(long_about = CREATE_HELP, after_help = tail(CREATE_EXAMPLES))]
    Create(CreateArgs),
    /// Change a context's memory cap or compute share
    #[command(long_about = UPDATE_HELP, after_help = tail(UPDATE_EXAMPLES))]
    Update(UpdateArgs),
    /// Destroy a context (and remove its CDI spec)
    #[command(visible_alias = "rm", long_about = DELETE_HELP, after_help = tail(""))]
    Delete(NameArg),
    /// Show everything about one context
    #[command(long_about = INSPECT_HELP, after_help = tail(""))]
    Inspect(NameArg),
    /// Live table of every context's usage
    #[command(long_about = TOP_HELP, after_help = tail(TOP_EXAMPLES))]
    Top(TopArgs),
    /// Check the module, the driver, the nodes, CDI
    #[command(long_about = DOCTOR_HELP, after_help = tail(""))]
    Doctor,
    /// Write or remove the CDI spec of a context (cdi generate NAME, cdi remove NAME)
    #[command(long_about = CDI_HELP, after_help = tail(CDI_EXAMPLES), subcommand_required = true)]
    Cdi {
        #[command(subcommand)]
        command: CdiCommand,
    },
    /// Serve Prometheus metrics over HTTP
    #[command(long_about = METRICS_HELP, after_help = tail(METRICS_EXAMPLES))]
    Metrics(MetricsArgs),
    /// Print the versions of this tool and of the module
    #[command(long_about = VERSION_HELP, after_help = tail(""))]
    Version,
}

#[derive(ClapArgs, Debug)]
struct NameArg {
    /// The context's name
    #[arg(value_name = "NAME")]
    name: String,
}

/// Memory and compute settings of `create` and `update`.
#[derive(ClapArgs, Debug)]
struct SettingsArgs {
    /// Memory cap, e.g. 8Gi or 512M (binary: 8G = 8Gi); "none" for no cap
    #[arg(long, visible_alias = "memory", value_name = "QUANTITY")]
    mem: Option<String>,
    /// Compute limit, 1-100 percent of the GPU's time [default: 100]
    #[arg(long, value_name = "PCT")]
    compute: Option<String>,
    /// Share of the GPU when contended, 1-1000 [default: 1]
    #[arg(long, value_name = "W")]
    weight: Option<String>,
    /// high or normal [default: normal]
    #[arg(long, value_name = "P")]
    priority: Option<String>,
}

#[derive(ClapArgs, Debug)]
struct CreateArgs {
    /// 1-32 of A-Z a-z 0-9 _ . - (not starting with . or -)
    #[arg(value_name = "NAME")]
    name: String,
    /// Host GPU indices, in the container's order: 0, 0,1, 0-3, each once [default: 0]
    #[arg(long, visible_alias = "gpu", value_name = "LIST")]
    gpus: Option<String>,
    #[command(flatten)]
    settings: SettingsArgs,
    /// Also write the CDI spec; if that fails the context is destroyed again
    #[arg(long)]
    cdi: bool,
}

#[derive(ClapArgs, Debug)]
struct UpdateArgs {
    /// The context's name
    #[arg(value_name = "NAME")]
    name: String,
    #[command(flatten)]
    settings: SettingsArgs,
}

#[derive(ClapArgs, Debug)]
struct TopArgs {
    /// Seconds between refreshes (0.05-3600)
    #[arg(long, short = 'n', value_name = "SECS")]
    interval: Option<String>,
    /// Stop after N refreshes
    #[arg(long, value_name = "N")]
    iterations: Option<String>,
    /// One refresh (--iterations 1)
    #[arg(long)]
    once: bool,
}

#[derive(Subcommand, Debug)]
enum CdiCommand {
    /// Write --cdi-dir/fakegpu.io-vgpu_NAME.json for the context NAME
    Generate {
        /// The context's name
        #[arg(value_name = "NAME")]
        name: String,
        /// NVIDIA's CDI spec to copy the driver libraries from, or "none"
        /// [default: nvidia.yaml/json in --cdi-dir, then /etc/cdi]
        #[arg(long, value_name = "FILE|none")]
        nvidia_spec: Option<String>,
        /// Print the spec instead of writing it
        #[arg(long)]
        stdout: bool,
    },
    /// Remove the CDI spec of the context NAME
    #[command(visible_alias = "rm")]
    Remove {
        /// The context's name
        #[arg(value_name = "NAME")]
        name: String,
    },
}

#[derive(ClapArgs, Debug)]
struct MetricsArgs {
    /// Address to serve on (":9455" means every address)
    #[arg(
        long,
        visible_alias = "web.listen-address",
        value_name = "ADDR",
        default_value = "127.0.0.1:9455"
    )]
    listen: String,
    /// Stop after N requests (tests)
    #[arg(long, value_name = "N")]
    max_requests: Option<String>,
    /// Print one scrape to stdout and exit
    #[arg(long)]
    once: bool,
    /// The kubelet's pod-resources socket, for the namespace/pod/container
    /// labels ("" for none; absent: the labels stay empty)
    #[arg(long, value_name = "PATH", env = "FAKEGPU_POD_RESOURCES_SOCKET", default_value = crate::podresources::DEFAULT_SOCKET)]
    pod_resources_socket: String,
    /// The kernel log, watched for the driver's Xid reports ("" for none)
    #[arg(long, value_name = "PATH", default_value = "/dev/kmsg")]
    kmsg: String,
    /// DCGM's Hostname label [default: $NODE_NAME, else the host name]
    #[arg(long, value_name = "NAME")]
    hostname: Option<String>,
}

const GPUS_HELP: &str = "\
Lists the physical GPUs of the NVIDIA driver (opened at --vendor-dev,
default /dev): index, name, UUID, memory, and for each GPU the contexts
using it and the sum of their memory caps (\"overcommitted\" when the caps
add up to more than the GPU has).";

const LIST_HELP: &str = "\
Lists the contexts: GPUs, memory used/cap/peak, refused allocations,
compute limit, open files. \"-\" means the module does not report it.";

const CREATE_HELP: &str = "\
fakegpuctl create NAME [--gpus LIST] [--mem QUANTITY] [--compute PCT]
                  [--weight W] [--priority high|normal] [--cdi]

Creates the context NAME: nodes /dev/fakegpu/NAME/{nvidiactl,nvidia0..,
nvidia-uvm} that a container gets at /dev/nvidia*.

NAME, --gpus and --mem are checked with the module's own parsers before
anything is written: what fakegpuctl accepts, the module accepts.
--compute/--weight/--priority need a module with compute scheduling
(exit 7 otherwise). On any error nothing is created.";

const CREATE_EXAMPLES: &str = "\
Examples:
    fakegpuctl create train --gpus 0 --mem 8Gi --compute 30 --cdi
    fakegpuctl create two --gpus 1,0 --mem 512M -o json    # container's nvidia0 is host GPU 1";

const UPDATE_HELP: &str = "\
fakegpuctl update NAME [--mem QUANTITY] [--compute PCT] [--weight W]
                  [--priority high|normal]

Changes a live context. Raising the cap takes effect at once; lowering it
below the current use refuses new allocations and takes nothing back.
If one change fails, the ones before it are undone.";

const UPDATE_EXAMPLES: &str = "\
Examples:
    fakegpuctl update train --mem 16Gi
    fakegpuctl update train --compute 50 --priority high";

const DELETE_HELP: &str = "\
Destroys the context: its nodes disappear, files still open in a
container fail with ENODEV from then on, their memory is freed when
they are closed. Removes the context's CDI spec from --cdi-dir.";

const INSPECT_HELP: &str = "\
Everything about one context: GPUs, caps, usage, compute, processes,
nodes and their CDI device name.";

const TOP_HELP: &str = "\
fakegpuctl top [--interval SECS] [--iterations N | --once] [-o table|json]

A live table of every context: memory used/cap/peak, refusals, compute
limit, GPU time used in the last interval (percent) and throttled time,
processes. Runs until interrupted, or N times (--once = 1). With -o json,
one JSON document per line and iteration.";

const TOP_EXAMPLES: &str = "\
Examples:
    fakegpuctl top                     # refresh every second until Ctrl-C
    fakegpuctl top --once -o json      # one JSON document";

const DOCTOR_HELP: &str = "\
Checks: the module is loaded and speaks this tool's interface; the
NVIDIA driver can be opened and its version is supported; every context's
nodes exist; the CDI directory is writable; NVIDIA's CDI spec is found
(for the driver libraries); each context has a CDI spec. Exits 10 if a
check failed (warnings do not fail).";

const CDI_HELP: &str = "\
fakegpuctl cdi generate NAME [--nvidia-spec FILE|none] [--stdout]
fakegpuctl cdi remove NAME

generate writes --cdi-dir/fakegpu.io-vgpu_NAME.json (atomically), a CDI
spec with the device fakegpu.io/vgpu=NAME: the context's nodes (hostPath)
at /dev/nvidiactl, /dev/nvidia0.., /dev/nvidia-uvm in the container, with
type and major/minor read from the nodes; plus the driver libraries'
mounts, hooks and env from NVIDIA's spec (nvidia.yaml/json searched in
--cdi-dir, then /etc/cdi; --nvidia-spec picks one or none).
--stdout prints the spec instead of writing it.";

const CDI_EXAMPLES: &str = "\
Then: podman run --device fakegpu.io/vgpu=NAME ...
      docker run --device fakegpu.io/vgpu=NAME ...   (Docker >= 25 with CDI)
Do not also pass nvidia.com/gpu devices: that bypasses the proxy.";

const METRICS_HELP: &str = "\
fakegpuctl metrics [--listen ADDR] [--max-requests N]
fakegpuctl metrics --once

Serves Prometheus metrics on http://ADDR/metrics (default
127.0.0.1:9455; \":9455\" means every address): per context
fakegpu_vgpu_memory_{used,limit,peak}_bytes, fakegpu_vgpu_alloc_refused_total,
fakegpu_vgpu_compute_used_seconds_total, fakegpu_vgpu_throttled_seconds_total
(labels vgpu, gpu, UUID as DCGM names them), fakegpu_build_info.
--once prints one scrape to stdout and exits.";

const METRICS_EXAMPLES: &str = "\
Examples:
    fakegpuctl metrics --listen :9455
    fakegpuctl metrics --once | grep memory_used";

const VERSION_HELP: &str = "The versions of this tool and of the loaded module's interface, and the\nNVIDIA driver the module is bound to: its version and the ABI table (driver\nbranch) the module decodes its calls with, e.g. \"driver nvidia 580.159.04 580\"\n(\"unsupported\": the module has no table for it and refuses its files).";

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

/// Starts logging to stderr (once per process): the level from -v, else
/// `$FAKEGPUCTL_LOG`, else warnings only.
fn init_logging(verbose: u8) {
    use tracing::Level;
    let from_env = std::env::var("FAKEGPUCTL_LOG")
        .ok()
        .and_then(|v| v.trim().parse::<Level>().ok());
    let level = match verbose {
        0 => from_env.unwrap_or(Level::WARN),
        1 => Level::INFO,
        2 => Level::DEBUG,
        _ => Level::TRACE,
    };
    let _ = tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_max_level(level)
        .with_target(false)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .try_init();
}

/// Runs the command line `args` (without the program name), writing normal
/// output (and `--help`) to `out`; returns the exit code (errors as `Err`).
pub fn run(args: &[String], out: &mut dyn Write) -> Result<u8> {
    use clap::error::ErrorKind;
    let argv = std::iter::once("fakegpuctl".to_string()).chain(args.iter().cloned());
    let cli = match Cli::try_parse_from(argv) {
        Ok(c) => c,
        Err(e) if matches!(e.kind(), ErrorKind::DisplayHelp | ErrorKind::DisplayVersion) => {
            write!(out, "{}", e.render()).ok();
            return Ok(0);
        }
        Err(e) => {
            let text = e.render().to_string();
            let text = text.trim_end().trim_start_matches("error: ");
            return Err(Error::usage(text.to_string()));
        }
    };
    init_logging(cli.global.verbose);
    let g = cli.global;
    let Some(command) = cli.command else {
        return Err(Error::usage("no command given").hint("`fakegpuctl --help` lists the commands"));
    };
    let sysfs_root = g
        .sysfs_root
        .unwrap_or_else(|| env_or("FAKEGPU_SYSFS_ROOT", crate::sysfs::DEFAULT_ROOT));
    let dev_root = g
        .dev_root
        .unwrap_or_else(|| env_or("FAKEGPU_DEV_ROOT", crate::sysfs::DEFAULT_DEV_ROOT));
    let nodefs_root = g
        .nodefs_root
        .unwrap_or_else(|| env_or("FAKEGPU_NODEFS_ROOT", crate::sysfs::DEFAULT_NODEFS_ROOT));
    let cdi_dir = g
        .cdi_dir
        .unwrap_or_else(|| env_or("FAKEGPU_CDI_DIR", cdi::DEFAULT_CDI_DIR));
    let vendor_dev = g
        .vendor_dev
        .unwrap_or_else(|| env_or("FAKEGPU_VENDOR_DEV", "/dev"));
    let format = match (g.json, g.output) {
        (true, _) | (false, Some(OutputArg::Json)) => Format::Json,
        (false, Some(OutputArg::Yaml)) => Format::Yaml,
        _ => Format::Table,
    };
    // CDI wants absolute host paths.
    let abs = |p: PathBuf| {
        if p.is_relative() {
            std::env::current_dir().map(|d| d.join(&p)).unwrap_or(p)
        } else {
            p
        }
    };
    let o = Opts {
        sysfs: Sysfs::new(sysfs_root)
            .with_dev_root(abs(dev_root))
            .with_nodefs_root((!nodefs_root.as_os_str().is_empty()).then(|| abs(nodefs_root))),
        cdi_dir,
        vendor_dev,
        format,
    };
    tracing::debug!(
        sysfs = %o.sysfs.root.display(),
        cdi_dir = %o.cdi_dir.display(),
        vendor_dev = %o.vendor_dev.display(),
        ?command,
        "fakegpuctl"
    );
    match command {
        Command::Version => version(&o, out),
        Command::List => list(&o, out),
        Command::Inspect(a) => inspect(&o, &a.name, out),
        Command::Create(a) => create(&o, a, out),
        Command::Update(a) => update(&o, a, out),
        Command::Delete(a) => delete(&o, &a.name, out),
        Command::Gpus => gpus_cmd(&o, out),
        Command::Top(a) => top(&o, a, out),
        Command::Doctor => doctor(&o, out),
        Command::Cdi { command } => cdi_cmd(&o, command, out),
        Command::Metrics(a) => metrics_cmd(&o, a, out),
    }
}

/// A JSON/YAML document: `schema_version` first, then the command's data.
#[derive(Serialize)]
struct Doc<'a, T: Serialize> {
    schema_version: u32,
    #[serde(flatten)]
    body: &'a T,
}

fn emit<T: Serialize>(
    o: &Opts,
    out: &mut dyn Write,
    body: &T,
    table: impl FnOnce(&mut dyn Write) -> std::io::Result<()>,
) -> Result<()> {
    let doc = Doc {
        schema_version: SCHEMA_VERSION,
        body,
    };
    let r = match o.format {
        Format::Table => table(out),
        Format::Json => writeln!(
            out,
            "{}",
            serde_json::to_string_pretty(&doc).expect("the output serializes")
        ),
        Format::Yaml => write!(
            out,
            "{}",
            serde_yaml::to_string(&doc).expect("the output serializes as YAML")
        ),
    };
    r.map_err(|e| Error::new(Kind::Other, format!("cannot write the output: {e}")))
}

/// One context in `list`, `inspect`, `create`, `update` and `top`.
#[derive(Serialize)]
struct ContextJson {
    name: String,
    gpus: Vec<u32>,
    mem_limit_bytes: Option<u64>,
    mem_used_bytes: u64,
    mem_peak_bytes: u64,
    alloc_refused: u64,
    open_files: u64,
    pids: Vec<u32>,
    compute_limit_pct: Option<u32>,
    compute_weight: Option<u32>,
    priority: Option<&'static str>,
    compute_used_us: Option<u64>,
    throttled_us: Option<u64>,
    nodes: Vec<String>,
    cdi_device: String,
    cdi_spec: Option<String>,
}

#[derive(Serialize)]
struct ContextDoc {
    context: ContextJson,
}

#[derive(Serialize)]
struct ContextsDoc {
    contexts: Vec<ContextJson>,
}

#[derive(Serialize)]
struct VersionDoc<'a> {
    fakegpuctl: &'a str,
    module: Option<&'a str>,
    /// sysfs `driver`: the vendor driver the module met, its version and
    /// the ABI table in use (`nvidia 580.159.04 580`), or `none`.
    driver: Option<&'a str>,
    compute_scheduling: Option<bool>,
}

#[derive(Serialize)]
struct DeletedDoc<'a> {
    deleted: &'a str,
    cdi_spec_removed: bool,
}

#[derive(Serialize)]
struct GpuJson<'a> {
    index: u32,
    name: &'a str,
    uuid: &'a str,
    mem_total_bytes: u64,
    pci_bus: u8,
    pci_device_id: String,
    contexts: Vec<String>,
    mem_limits_sum_bytes: Option<u64>,
    overcommitted: bool,
}

#[derive(Serialize)]
struct GpusDoc<'a> {
    driver_version: &'a str,
    module_loaded: bool,
    gpus: Vec<GpuJson<'a>>,
}

/// One line of `top -o json`: a document per iteration.
#[derive(Serialize)]
struct TopDoc {
    schema_version: u32,
    iteration: u64,
    contexts: Vec<TopContext>,
}

#[derive(Serialize)]
struct TopContext {
    #[serde(flatten)]
    context: ContextJson,
    gpu_busy_pct: Option<f64>,
}

#[derive(Serialize)]
struct DoctorCheck<'a> {
    name: &'a str,
    status: &'a str,
    detail: &'a str,
    hint: Option<&'a str>,
}

#[derive(Serialize)]
struct DoctorDoc<'a> {
    ok: bool,
    checks: Vec<DoctorCheck<'a>>,
}

#[derive(Serialize)]
struct CdiWrittenDoc {
    cdi_spec: String,
    cdi_device: String,
}

#[derive(Serialize)]
struct CdiRemovedDoc {
    removed: String,
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

fn context_json(o: &Opts, c: &ContextInfo) -> ContextJson {
    let nodes: Vec<String> = o
        .sysfs
        .node_paths(&c.name)
        .unwrap_or_default()
        .iter()
        .map(|p| p.to_string_lossy().to_string())
        .collect();
    let spec = cdi::spec_path(&o.cdi_dir, &c.name);
    ContextJson {
        name: c.name.clone(),
        gpus: c.gpus.clone(),
        mem_limit_bytes: c.mem_limit_bytes,
        mem_used_bytes: c.mem_used_bytes,
        mem_peak_bytes: c.mem_peak_bytes,
        alloc_refused: c.alloc_refused,
        open_files: c.open_files,
        pids: c.pids.clone(),
        compute_limit_pct: c.compute_limit_pct,
        compute_weight: c.compute_weight,
        priority: c.priority.map(|p| p.as_str()),
        compute_used_us: c.compute_used_us,
        throttled_us: c.throttled_us,
        nodes,
        cdi_device: cdi::device_name(&c.name),
        cdi_spec: spec.exists().then(|| spec.to_string_lossy().to_string()),
    }
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

fn version(o: &Opts, out: &mut dyn Write) -> Result<u8> {
    let module = o.sysfs.module_version();
    let compute = if module.is_ok() {
        o.sysfs.compute_supported().ok().flatten()
    } else {
        None
    };
    let driver = module.as_ref().ok().and_then(|_| o.sysfs.driver());
    let v = VersionDoc {
        fakegpuctl: crate::VERSION,
        module: module.as_ref().ok().map(|m| m.as_str()),
        driver: driver.as_deref(),
        compute_scheduling: compute,
    };
    emit(o, out, &v, |w| {
        writeln!(w, "fakegpuctl {}", crate::VERSION)?;
        match &module {
            Ok(m) => writeln!(w, "module {m}")?,
            Err(_) => writeln!(w, "module not loaded")?,
        }
        if let Some(d) = &driver {
            writeln!(w, "driver {d}")?;
        }
        Ok(())
    })?;
    // The tool's version printed, the missing module is still an error.
    module.map(|_| 0)
}

fn list(o: &Opts, out: &mut dyn Write) -> Result<u8> {
    let cs = contexts(o)?;
    let v = ContextsDoc {
        contexts: cs.iter().map(|c| context_json(o, c)).collect(),
    };
    emit(o, out, &v, |w| {
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

fn inspect(o: &Opts, name: &str, out: &mut dyn Write) -> Result<u8> {
    let c = o.sysfs.context(name)?;
    let v = ContextDoc {
        context: context_json(o, &c),
    };
    let nodes = o.sysfs.node_paths(name)?;
    let spec = cdi::spec_path(&o.cdi_dir, name);
    emit(o, out, &v, |w| {
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
        writeln!(w, "CDI device:      {}", cdi::device_name(name))?;
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

fn settings(a: &SettingsArgs) -> Result<Settings> {
    let mem = match a.mem.as_deref() {
        Some(m) if m == "none" || m == "max" => Some(NO_LIMIT),
        Some(m) => Some(parse_bytes(m)?),
        None => None,
    };
    let compute = a
        .compute
        .as_deref()
        .map(|s| parse_u32(s, "compute limit"))
        .transpose()?;
    let weight = a
        .weight
        .as_deref()
        .map(|s| parse_u32(s, "weight"))
        .transpose()?;
    let priority = a.priority.as_deref().map(Priority::parse).transpose()?;
    Ok(Settings {
        mem,
        compute,
        weight,
        priority,
    })
}

fn create(o: &Opts, a: CreateArgs, out: &mut dyn Write) -> Result<u8> {
    let with_cdi = a.cdi;
    let gpus = a
        .gpus
        .as_deref()
        .map(parse_gpus)
        .transpose()?
        .unwrap_or_default();
    let s = settings(&a.settings)?;
    let name = a.name;
    tracing::info!(%name, ?gpus, mem = ?s.mem, "creating the context");
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
    let v = ContextDoc {
        context: context_json(o, &c),
    };
    emit(o, out, &v, |w| {
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

fn update(o: &Opts, a: UpdateArgs, out: &mut dyn Write) -> Result<u8> {
    let s = settings(&a.settings)?;
    let name = a.name;
    tracing::info!(%name, mem = ?s.mem, compute = ?s.compute, "updating the context");
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
    let v = ContextDoc {
        context: context_json(o, &c),
    };
    emit(o, out, &v, |w| {
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

fn delete(o: &Opts, name: &str, out: &mut dyn Write) -> Result<u8> {
    tracing::info!(%name, "deleting the context");
    o.sysfs.destroy(name)?;
    let spec = cdi::spec_path(&o.cdi_dir, name);
    let had_spec = spec.exists();
    cdi::remove_spec(&o.cdi_dir, name)?;
    emit(
        o,
        out,
        &DeletedDoc {
            deleted: name,
            cdi_spec_removed: had_spec,
        },
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

fn gpus_cmd(o: &Opts, out: &mut dyn Write) -> Result<u8> {
    let inv = gpus::probe(&o.vendor_dev)?;
    let usage = if o.sysfs.check_loaded().is_ok() {
        gpus::usage_by_gpu(&o.sysfs)?
    } else {
        Default::default()
    };
    let rows: Vec<GpuJson> = inv
        .gpus
        .iter()
        .map(|g| {
            let (ctxs, sum) = usage
                .get(&g.index)
                .cloned()
                .unwrap_or((Vec::new(), Some(0)));
            GpuJson {
                index: g.index,
                name: &g.name,
                uuid: &g.uuid,
                mem_total_bytes: g.mem_total_bytes,
                pci_bus: g.pci_bus,
                pci_device_id: format!("0x{:04x}", g.pci_device_id),
                overcommitted: sum.is_none_or(|s| s > g.mem_total_bytes) && !ctxs.is_empty(),
                contexts: ctxs,
                mem_limits_sum_bytes: sum,
            }
        })
        .collect();
    let v = GpusDoc {
        driver_version: &inv.driver_version,
        module_loaded: o.sysfs.check_loaded().is_ok(),
        gpus: rows,
    };
    emit(o, out, &v, |w| {
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

fn top(o: &Opts, a: TopArgs, out: &mut dyn Write) -> Result<u8> {
    let interval = a
        .interval
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
        .iterations
        .map(|s| {
            s.parse::<u64>()
                .map_err(|_| Error::usage(format!("bad --iterations '{s}'")))
        })
        .transpose()?;
    if a.once {
        iterations = Some(1);
    }
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
                let v = TopDoc {
                    schema_version: SCHEMA_VERSION,
                    iteration: n + 1,
                    contexts: rows
                        .iter()
                        .map(|(c, pct)| TopContext {
                            context: context_json(o, c),
                            gpu_busy_pct: *pct,
                        })
                        .collect(),
                };
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

fn doctor(o: &Opts, out: &mut dyn Write) -> Result<u8> {
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
        Ok(v) => match gpus::supported_branch(&v) {
            Some(b) => add("driver", "ok", format!("NVIDIA driver {v}: branch {b} (supported: {})", SUPPORTED_VERSIONS), ""),
            None => add("driver", "fail", format!("NVIDIA driver {v} is not supported (supported: {})", SUPPORTED_VERSIONS), "install a driver of a supported branch; fakegpu refuses other RM ABIs"),
        },
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
    let v = DoctorDoc {
        ok: failed == 0,
        checks: checks
            .iter()
            .map(|(n, s, d, h)| DoctorCheck {
                name: n,
                status: s,
                detail: d,
                hint: (!h.is_empty()).then_some(h.as_str()),
            })
            .collect(),
    };
    emit(o, out, &v, |w| {
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

fn cdi_cmd(o: &Opts, c: CdiCommand, out: &mut dyn Write) -> Result<u8> {
    match c {
        CdiCommand::Generate {
            name,
            nvidia_spec,
            stdout,
        } => {
            let nvidia = match nvidia_spec {
                Some(n) if n == "none" => NvidiaSpec::None,
                Some(f) => {
                    if !Path::new(&f).is_file() {
                        return Err(Error::usage(format!("--nvidia-spec {f}: no such file")));
                    }
                    NvidiaSpec::File(PathBuf::from(f))
                }
                None => NvidiaSpec::default_for(&o.cdi_dir),
            };
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
                &CdiWrittenDoc {
                    cdi_spec: p.to_string_lossy().to_string(),
                    cdi_device: cdi::device_name(&name),
                },
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
        CdiCommand::Remove { name } => {
            cdi::remove_spec(&o.cdi_dir, &name)?;
            emit(
                o,
                out,
                &CdiRemovedDoc {
                    removed: cdi::spec_path(&o.cdi_dir, &name)
                        .to_string_lossy()
                        .to_string(),
                },
                |w| writeln!(w, "removed {}", cdi::spec_path(&o.cdi_dir, &name).display()),
            )?;
            Ok(0)
        }
    }
}

fn metrics_cmd(o: &Opts, a: MetricsArgs, out: &mut dyn Write) -> Result<u8> {
    let listen = a.listen;
    let max = a
        .max_requests
        .map(|s| {
            s.parse::<u64>()
                .map_err(|_| Error::usage(format!("bad --max-requests '{s}'")))
        })
        .transpose()?;
    let once = a.once;
    let path = |s: String| (!s.is_empty()).then(|| std::path::PathBuf::from(s));
    let mut exp = metrics::Exporter::new(o.sysfs.clone(), o.vendor_dev.clone())
        .with_pod_resources(path(a.pod_resources_socket))
        .with_kmsg(path(a.kmsg));
    if let Some(h) = &a.hostname {
        exp = exp.with_hostname(h);
    }
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
