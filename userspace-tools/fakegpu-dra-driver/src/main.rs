//! `fakegpu-dra-driver`: the kubelet DRA plugin (the default), and the test
//! stand-ins behind subcommands: `fake-apiserver`, `fake-kubelet ...`,
//! `print-slice`.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use clap::{Args, Parser, Subcommand};

use fakegpu_dra_driver::backend::{Backend, Fakegpuctl};
use fakegpu_dra_driver::driver::Driver;
use fakegpu_dra_driver::fake_apiserver::FakeApiServer;
use fakegpu_dra_driver::fake_kubelet::{self as fk, Ask, Scheduler};
use fakegpu_dra_driver::kubeapi::Kube;
use fakegpu_dra_driver::slice::{self, NodeRef};
use fakegpu_dra_driver::state::Checkpoint;
use fakegpu_dra_driver::{server, DEFAULT_PLUGINS_DIR, DEFAULT_REGISTRY_DIR, DRIVER_NAME};

#[derive(Parser)]
#[command(
    name = "fakegpu-dra-driver",
    version,
    about = "Kubernetes DRA driver for fakegpu: GPU shares by amount, enforced by the kernel"
)]
#[command(args_conflicts_with_subcommands = true)]
struct Cli {
    #[command(subcommand)]
    cmd: Option<Cmd>,
    #[command(flatten)]
    run: RunArgs,
    /// Log level (error, warn, info, debug, trace).
    #[arg(long, global = true, default_value = "info")]
    log_level: tracing::Level,
}

#[derive(Args, Clone)]
struct HostArgs {
    /// The module's sysfs directory.
    #[arg(long, env = "FAKEGPU_SYSFS_ROOT", default_value = fakegpuctl::sysfs::DEFAULT_ROOT)]
    sysfs_root: PathBuf,
    /// The contexts' node directory.
    #[arg(long, default_value = fakegpuctl::sysfs::DEFAULT_DEV_ROOT)]
    dev_root: PathBuf,
    /// The vendor's node directory.
    #[arg(long, default_value = "/dev")]
    vendor_dev: PathBuf,
    /// Where CDI specs are written.
    #[arg(long, default_value = "/var/run/cdi")]
    cdi_dir: PathBuf,
}

#[derive(Args, Clone)]
struct RunArgs {
    /// This node's name (the pool and the slice's node).
    #[arg(long, env = "NODE_NAME")]
    node_name: Option<String>,
    /// The driver's name.
    #[arg(long, default_value = DRIVER_NAME)]
    driver_name: String,
    /// The kubelet's plugin registration directory.
    #[arg(long, default_value = DEFAULT_REGISTRY_DIR)]
    registry_dir: PathBuf,
    /// The driver's socket directory (default: <kubelet plugins>/<driver name>).
    #[arg(long)]
    plugin_dir: Option<PathBuf>,
    /// The checkpoint's directory.
    #[arg(long, default_value = "/var/lib/fakegpu/dra")]
    state_dir: PathBuf,
    /// The API server's URL without credentials (tests); default: in-cluster
    /// configuration or the kubeconfig.
    #[arg(long)]
    apiserver: Option<String>,
    /// Seconds between checks of the GPUs (re-publishing on change).
    #[arg(long, default_value_t = 30.0)]
    publish_interval: f64,
    /// The kernel log, read for the GPU driver's Xid reports: a fatal Xid
    /// taints the GPU's device in the slice ("" for none).
    #[arg(long, default_value = "/dev/kmsg")]
    kmsg: PathBuf,
    #[command(flatten)]
    host: HostArgs,
}

#[derive(Subcommand)]
enum Cmd {
    /// A recording stand-in for the API server (tests).
    FakeApiserver {
        /// Address to listen on (port 0: any; the address is printed).
        #[arg(long, default_value = "127.0.0.1:0")]
        listen: String,
        /// Directory receiving every object the server is sent.
        #[arg(long)]
        record: Option<PathBuf>,
        /// Nodes to create at start.
        #[arg(long)]
        node: Vec<String>,
        /// Write the URL to this file once listening.
        #[arg(long)]
        url_file: Option<PathBuf>,
    },
    /// The kubelet's and scheduler's part (tests).
    #[command(subcommand)]
    FakeKubelet(Fk),
    /// Prints the ResourceSlice this node would publish, as YAML.
    PrintSlice {
        #[arg(long, env = "NODE_NAME", default_value = "node")]
        node_name: String,
        #[arg(long, default_value = DRIVER_NAME)]
        driver_name: String,
        /// Taint the GPUs this kernel log's Xids made unhealthy.
        #[arg(long)]
        kmsg: Option<PathBuf>,
        #[command(flatten)]
        host: HostArgs,
    },
}

#[derive(Args, Clone)]
struct ClaimArgs {
    #[arg(long, default_value = "default")]
    namespace: String,
    #[arg(long)]
    name: String,
    #[arg(long)]
    uid: String,
}

#[derive(Subcommand)]
enum Fk {
    /// Registers the driver (GetInfo, checks, NotifyRegistrationStatus);
    /// prints its endpoint.
    Register {
        #[arg(long)]
        registry_dir: PathBuf,
        #[arg(long, default_value = DRIVER_NAME)]
        driver_name: String,
        #[arg(long, default_value_t = 30.0)]
        timeout: f64,
    },
    /// Creates a claim and allocates it as the scheduler would; prints its UID.
    Allocate {
        #[arg(long)]
        apiserver: String,
        #[arg(long, default_value = "default")]
        namespace: String,
        #[arg(long)]
        name: String,
        #[arg(long)]
        node: String,
        #[arg(long, default_value = DRIVER_NAME)]
        driver_name: String,
        /// Devices to allocate, one request each (`gpu-0`).
        #[arg(long, required = true)]
        device: Vec<String>,
        /// Memory each request asks for (`12Gi`).
        #[arg(long)]
        memory: Option<String>,
        /// Compute each request asks for (percent).
        #[arg(long)]
        compute: Option<u64>,
        /// Allocate devices the slice lacks too (as asked), as a claim
        /// written by hand past the scheduler.
        #[arg(long)]
        force: bool,
    },
    /// NodePrepareResources of one claim; prints `device POOL DEVICE CDI`
    /// lines, or `error ...` (and exits 1).
    Prepare {
        #[arg(long)]
        endpoint: PathBuf,
        #[command(flatten)]
        claim: ClaimArgs,
    },
    /// NodeUnprepareResources of one claim; prints `ok` or `error ...`.
    Unprepare {
        #[arg(long)]
        endpoint: PathBuf,
        #[command(flatten)]
        claim: ClaimArgs,
    },
}

fn backend(h: &HostArgs) -> Fakegpuctl {
    Fakegpuctl::new(&h.sysfs_root, &h.dev_root, &h.cdi_dir, &h.vendor_dev)
}

async fn run_driver(a: RunArgs) -> Result<(), String> {
    let node = a
        .node_name
        .clone()
        .ok_or("no node name: give --node-name or set NODE_NAME")?;
    let kube = Kube::connect(a.apiserver.as_deref()).await?;
    let state = Checkpoint::load(&a.state_dir.join("checkpoint.json"))?;
    let be: Arc<dyn Backend> = Arc::new(backend(&a.host));
    let kmsg = (!a.kmsg.as_os_str().is_empty()).then(|| a.kmsg.clone());
    let driver = Arc::new(Driver::new(be, kube, &a.driver_name, &node, state).with_kmsg(kmsg));
    let opts = server::Options {
        registry_dir: a.registry_dir.clone(),
        plugin_dir: a
            .plugin_dir
            .clone()
            .unwrap_or_else(|| Path::new(DEFAULT_PLUGINS_DIR).join(&a.driver_name)),
        publish_interval: Duration::from_secs_f64(a.publish_interval.max(0.05)),
    };
    let (tx, rx) = tokio::sync::watch::channel(false);
    tokio::spawn(async move {
        let mut term =
            tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).ok();
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {}
            _ = async { match term.as_mut() { Some(t) => { t.recv().await; } None => std::future::pending().await } } => {}
        }
        let _ = tx.send(true);
    });
    server::run(driver, opts, rx).await
}

async fn fake_kubelet(cmd: Fk) -> Result<bool, String> {
    match cmd {
        Fk::Register {
            registry_dir,
            driver_name,
            timeout,
        } => {
            let info = fk::register(
                &registry_dir,
                &driver_name,
                Duration::from_secs_f64(timeout),
            )
            .await?;
            println!("{}", info.endpoint);
            Ok(true)
        }
        Fk::Allocate {
            apiserver,
            namespace,
            name,
            node,
            driver_name,
            device,
            memory,
            compute,
            force,
        } => {
            let kube = Kube::connect(Some(&apiserver)).await?;
            let memory = memory
                .map(|m| fakegpu_dra_driver::quantity::parse(&m))
                .transpose()?;
            let asks: Vec<Ask> = device
                .iter()
                .enumerate()
                .map(|(i, d)| Ask {
                    request: if device.len() == 1 {
                        "gpu".into()
                    } else {
                        format!("gpu{i}")
                    },
                    device: d.clone(),
                    memory,
                    compute,
                })
                .collect();
            let s = Scheduler {
                kube: &kube,
                driver: &driver_name,
                node: &node,
                device_class: DRIVER_NAME,
                force,
            };
            let c = s.allocate(&namespace, &name, &asks).await?;
            println!("{}", c.metadata.uid.unwrap_or_default());
            Ok(true)
        }
        Fk::Prepare { endpoint, claim } => {
            let c = fk::claim_ref(&claim.namespace, &claim.name, &claim.uid);
            let r = fk::prepare(&endpoint, &[c]).await?;
            let one = r
                .get(&claim.uid)
                .ok_or("the answer has no entry for the claim")?;
            print!("{}", fk::format_prepare(one));
            Ok(one.error.is_empty())
        }
        Fk::Unprepare { endpoint, claim } => {
            let c = fk::claim_ref(&claim.namespace, &claim.name, &claim.uid);
            let r = fk::unprepare(&endpoint, &[c]).await?;
            let e = r
                .get(&claim.uid)
                .ok_or("the answer has no entry for the claim")?;
            if e.is_empty() {
                println!("ok");
            } else {
                println!("error {e}");
            }
            Ok(e.is_empty())
        }
    }
}

async fn fake_apiserver(
    listen: &str,
    record: Option<PathBuf>,
    nodes: &[String],
    url_file: Option<PathBuf>,
) -> Result<(), String> {
    let s = FakeApiServer::start(listen, record)
        .await
        .map_err(|e| format!("cannot listen on {listen}: {e}"))?;
    for (i, n) in nodes.iter().enumerate() {
        s.insert(
            "/api/v1/nodes",
            &serde_json::json!({"apiVersion": "v1", "kind": "Node", "metadata": {"name": n, "uid": format!("{i}")}}),
        );
    }
    println!("{}", s.url());
    if let Some(f) = url_file {
        std::fs::write(&f, s.url()).map_err(|e| format!("cannot write {}: {e}", f.display()))?;
    }
    std::future::pending::<()>().await;
    Ok(())
}

fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    let _ = tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_max_level(cli.log_level)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .try_init();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("a tokio runtime");
    let r: Result<bool, String> = rt.block_on(async move {
        match cli.cmd {
            None => run_driver(cli.run).await.map(|_| true),
            Some(Cmd::FakeApiserver {
                listen,
                record,
                node,
                url_file,
            }) => fake_apiserver(&listen, record, &node, url_file)
                .await
                .map(|_| true),
            Some(Cmd::FakeKubelet(f)) => fake_kubelet(f).await,
            Some(Cmd::PrintSlice {
                node_name,
                driver_name,
                kmsg,
                host,
            }) => {
                let inv = backend(&host).inventory()?;
                let mut w =
                    fakegpuctl::health::Watch::new(kmsg, fakegpuctl::health::Policy::from_env());
                w.poll();
                let s = slice::build_with_taints(
                    &driver_name,
                    &NodeRef {
                        name: node_name,
                        uid: String::new(),
                    },
                    &inv,
                    1,
                    &w.unhealthy_gpus(&inv.gpus),
                );
                let mut v = serde_json::to_value(&s).map_err(|e| e.to_string())?;
                v["apiVersion"] = "resource.k8s.io/v1".into();
                v["kind"] = "ResourceSlice".into();
                print!("{}", serde_yaml::to_string(&v).map_err(|e| e.to_string())?);
                Ok(true)
            }
        }
    });
    match r {
        Ok(true) => std::process::ExitCode::SUCCESS,
        Ok(false) => std::process::ExitCode::from(1),
        Err(e) => {
            eprintln!("fakegpu-dra-driver: {e}");
            std::process::ExitCode::from(1)
        }
    }
}
