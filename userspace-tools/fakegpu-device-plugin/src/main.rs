//! fakegpu-device-plugin: the kubelet device plugin of fakegpu. See
//! docs/device-plugin.md.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use fakegpu_device_plugin::backend::Fakegpuctl;
use fakegpu_device_plugin::config::{context_name, Config};
use fakegpu_device_plugin::plugin::Shared;
use fakegpu_device_plugin::{reconcile, server, DEFAULT_KUBELET_DIR, DEFAULT_POD_RESOURCES_SOCKET};

const USAGE: &str = "usage: fakegpu-device-plugin --config FILE [options]
       fakegpu-device-plugin fake-kubelet COMMAND ...   (a kubelet stand-in for tests)

  --config FILE              profiles (TOML, see docs/device-plugin.md)
  --check-config             check the file, print the resources and exit
  --kubelet-dir DIR          the kubelet's device-plugin directory [/var/lib/kubelet/device-plugins]
  --pod-resources-socket P   the kubelet's pod-resources socket, for freeing
                             [/var/lib/kubelet/pod-resources/kubelet.sock]
  --no-free                  never free contexts (no pod-resources reconciliation)
  --sysfs-root DIR           the module's sysfs directory [/sys/kernel/fakegpu]
  --dev-root DIR             the contexts' nodes [/dev/fakegpu]
  --vendor-dev DIR           where the NVIDIA nodes are, for health [/dev]
  --cdi-dir DIR              where CDI specs go [the config's cdi_dir, /var/run/cdi]
  --health-interval SECS     [5]
  --watch-interval SECS      kubelet restart detection [1]
  --reconcile-interval SECS  [30]
  --free-grace SECS          never free a context this soon after its Allocate [60]";

struct Args {
    config: PathBuf,
    check: bool,
    kubelet_dir: PathBuf,
    pod_resources: Option<PathBuf>,
    sysfs_root: PathBuf,
    dev_root: PathBuf,
    vendor_dev: PathBuf,
    cdi_dir: Option<PathBuf>,
    health: Duration,
    watch: Duration,
    reconcile: Duration,
    grace: Duration,
}

fn secs(s: &str) -> Result<Duration, String> {
    s.parse::<f64>()
        .ok()
        .filter(|v| v.is_finite() && *v > 0.0)
        .map(Duration::from_secs_f64)
        .ok_or(format!("bad number of seconds '{s}'"))
}

fn parse_args() -> Result<Args, String> {
    let mut a = Args {
        config: PathBuf::new(),
        check: false,
        kubelet_dir: DEFAULT_KUBELET_DIR.into(),
        pod_resources: Some(DEFAULT_POD_RESOURCES_SOCKET.into()),
        sysfs_root: "/sys/kernel/fakegpu".into(),
        dev_root: "/dev/fakegpu".into(),
        vendor_dev: "/dev".into(),
        cdi_dir: None,
        health: Duration::from_secs(5),
        watch: Duration::from_secs(1),
        reconcile: Duration::from_secs(30),
        grace: Duration::from_secs(60),
    };
    let mut it = std::env::args().skip(1);
    while let Some(k) = it.next() {
        let mut v = || it.next().ok_or(format!("{k} needs a value"));
        match k.as_str() {
            "--config" => a.config = v()?.into(),
            "--check-config" => a.check = true,
            "--kubelet-dir" => a.kubelet_dir = v()?.into(),
            "--pod-resources-socket" => a.pod_resources = Some(v()?.into()),
            "--no-free" => a.pod_resources = None,
            "--sysfs-root" => a.sysfs_root = v()?.into(),
            "--dev-root" => a.dev_root = v()?.into(),
            "--vendor-dev" => a.vendor_dev = v()?.into(),
            "--cdi-dir" => a.cdi_dir = Some(v()?.into()),
            "--health-interval" => a.health = secs(&v()?)?,
            "--watch-interval" => a.watch = secs(&v()?)?,
            "--reconcile-interval" => a.reconcile = secs(&v()?)?,
            "--free-grace" => a.grace = secs(&v()?)?,
            "-h" | "--help" => return Err(String::new()),
            _ => return Err(format!("unknown argument '{k}'")),
        }
    }
    if a.config.as_os_str().is_empty() {
        return Err("--config is required".into());
    }
    Ok(a)
}

fn main() -> ExitCode {
    let argv: Vec<String> = std::env::args().collect();
    if argv.get(1).map(String::as_str) == Some("fake-kubelet") {
        return fakegpu_device_plugin::fake_kubelet_cli::main(&argv[2..]);
    }
    let a = match parse_args() {
        Ok(a) => a,
        Err(e) => {
            if !e.is_empty() {
                eprintln!("fakegpu-device-plugin: {e}");
            }
            eprintln!("{USAGE}");
            return ExitCode::from(2);
        }
    };
    let config = match Config::load(&a.config) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("fakegpu-device-plugin: {e}");
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
    };
    let rec = a.pod_resources.clone().map(|s| reconcile::Options {
        pod_resources_socket: s,
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
            eprintln!("fakegpu-device-plugin: cannot start the runtime: {e}");
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
            eprintln!("fakegpu-device-plugin: stopping (contexts stay for their pods)");
            let _ = tx.send(true);
        });
        server::run(shared, opts, rec, rx).await
    });
    match r {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("fakegpu-device-plugin: {e}");
            ExitCode::FAILURE
        }
    }
}
