//! fakegpu-device-plugin: the kubelet device plugin of fakegpu. See
//! docs/device-plugin.md.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use clap::Parser;

use fakegpu_device_plugin::backend::Fakegpuctl;
use fakegpu_device_plugin::config::{context_name, Config};
use fakegpu_device_plugin::plugin::Shared;
use fakegpu_device_plugin::{reconcile, server, DEFAULT_KUBELET_DIR, DEFAULT_POD_RESOURCES_SOCKET};

const AFTER_HELP: &str = "\
Examples:
    fakegpu-device-plugin --config /etc/fakegpu/device-plugin.toml --check-config
    fakegpu-device-plugin --config /etc/fakegpu/device-plugin.toml
    fakegpu-device-plugin fake-kubelet serve --dir DIR ...   (a kubelet stand-in for tests)

Logs go to stderr; --log-level or $FAKEGPU_PLUGIN_LOG (error, warn, info,
debug, trace) set the level (default info). Exit codes: 0 stopped by
SIGTERM/SIGINT or --check-config passed, 1 a runtime failure, 2 bad
arguments or a bad configuration file.";

/// The kubelet device plugin of fakegpu: every profile of the
/// configuration file becomes an extended resource fakegpu.io/PROFILE whose
/// devices are fakegpu contexts (see docs/device-plugin.md).
#[derive(Parser, Debug)]
#[command(name = "fakegpu-device-plugin", version, after_help = AFTER_HELP, max_term_width = 100)]
struct Args {
    /// The profiles (TOML, see docs/device-plugin.md)
    #[arg(long, value_name = "FILE")]
    config: PathBuf,
    /// Check the file, print the resources and exit
    #[arg(long = "check-config")]
    check: bool,
    /// The kubelet's device-plugin directory
    #[arg(long, value_name = "DIR", default_value = DEFAULT_KUBELET_DIR)]
    kubelet_dir: PathBuf,
    /// The kubelet's pod-resources socket, for freeing contexts
    #[arg(long = "pod-resources-socket", value_name = "PATH", default_value = DEFAULT_POD_RESOURCES_SOCKET)]
    pod_resources: PathBuf,
    /// Never free contexts (no pod-resources reconciliation)
    #[arg(long)]
    no_free: bool,
    /// The module's sysfs directory
    #[arg(long, value_name = "DIR", default_value = "/sys/kernel/fakegpu")]
    sysfs_root: PathBuf,
    /// The contexts' nodes
    #[arg(long, value_name = "DIR", default_value = "/dev/fakegpu")]
    dev_root: PathBuf,
    /// Where the NVIDIA nodes are, for health
    #[arg(long, value_name = "DIR", default_value = "/dev")]
    vendor_dev: PathBuf,
    /// Where CDI specs go [default: the config's cdi_dir, /var/run/cdi]
    #[arg(long, value_name = "DIR")]
    cdi_dir: Option<PathBuf>,
    /// The kernel log, read for the GPU driver's Xid reports: a fatal Xid
    /// makes the GPU's devices Unhealthy ("" for none)
    #[arg(long, value_name = "PATH", default_value = "/dev/kmsg")]
    kmsg: PathBuf,
    /// Seconds between health checks of the module and the GPUs
    #[arg(long = "health-interval", value_name = "SECS", default_value = "5", value_parser = secs)]
    health: Duration,
    /// Seconds between checks for a kubelet restart
    #[arg(long = "watch-interval", value_name = "SECS", default_value = "1", value_parser = secs)]
    watch: Duration,
    /// Seconds between reconciliations (freeing contexts no pod holds)
    #[arg(long = "reconcile-interval", value_name = "SECS", default_value = "30", value_parser = secs)]
    reconcile: Duration,
    /// Never free a context this soon (seconds) after its Allocate
    #[arg(long = "free-grace", value_name = "SECS", default_value = "60", value_parser = secs)]
    grace: Duration,
    /// Log level: error, warn, info, debug or trace
    #[arg(
        long,
        value_name = "LEVEL",
        env = "FAKEGPU_PLUGIN_LOG",
        default_value = "info"
    )]
    log_level: tracing::Level,
}

fn secs(s: &str) -> Result<Duration, String> {
    s.parse::<f64>()
        .ok()
        .filter(|v| v.is_finite() && *v > 0.0)
        .map(Duration::from_secs_f64)
        .ok_or(format!("bad number of seconds '{s}'"))
}

fn main() -> ExitCode {
    let argv: Vec<String> = std::env::args().collect();
    if argv.get(1).map(String::as_str) == Some("fake-kubelet") {
        return fakegpu_device_plugin::fake_kubelet_cli::main(&argv[2..]);
    }
    // clap prints --help/--version (exit 0) and bad arguments (exit 2).
    let a = Args::parse();
    let _ = tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_max_level(a.log_level)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .try_init();
    let config = match Config::load(&a.config) {
        Ok(c) => c,
        Err(e) => {
            tracing::error!("{e}");
            return ExitCode::from(2);
        }
    };
    if a.check {
        for p in &config.profiles {
            let ids = p.device_ids();
            println!(
                "{} gpu={} mem={} compute={} devices={} contexts={}..{}",
                p.resource,
                p.gpu,
                p.mem_bytes,
                p.compute_pct.map_or("-".to_string(), |c| c.to_string()),
                p.count,
                context_name(&ids[0]),
                context_name(&ids[ids.len() - 1])
            );
        }
        return ExitCode::SUCCESS;
    }
    let cdi_dir = a
        .cdi_dir
        .clone()
        .unwrap_or_else(|| config.cdi_dir.clone().into());
    let backend = Arc::new(Fakegpuctl::new(
        &a.sysfs_root,
        &a.dev_root,
        &cdi_dir,
        &a.vendor_dev,
    ));
    let shared = Shared::new(config, backend);
    let opts = server::Options {
        kubelet_dir: a.kubelet_dir.clone(),
        health_interval: a.health,
        watch_interval: a.watch,
        kmsg: (!a.kmsg.as_os_str().is_empty()).then(|| a.kmsg.clone()),
    };
    let rec = (!a.no_free).then(|| reconcile::Options {
        pod_resources_socket: a.pod_resources.clone(),
        interval: a.reconcile,
        grace: a.grace,
    });
    let rt = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            tracing::error!("cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let r = rt.block_on(async move {
        let (tx, rx) = tokio::sync::watch::channel(false);
        tokio::spawn(async move {
            use tokio::signal::unix::{signal, SignalKind};
            let (Ok(mut term), Ok(mut int)) = (
                signal(SignalKind::terminate()),
                signal(SignalKind::interrupt()),
            ) else {
                return;
            };
            tokio::select! { _ = term.recv() => {}, _ = int.recv() => {} }
            tracing::info!("stopping (contexts stay for their pods)");
            let _ = tx.send(true);
        });
        server::run(shared, opts, rec, rx).await
    });
    match r {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!("{e}");
            ExitCode::FAILURE
        }
    }
}
