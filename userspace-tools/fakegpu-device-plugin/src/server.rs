//! Serving the plugins, registering with the kubelet and registering again
//! when the kubelet restarts, and polling the devices' health.
//!
//! Kubelet restarts: the kubelet deletes every socket in its device-plugin
//! directory when it starts and re-creates `kubelet.sock`. Each resource's
//! loop polls (every `watch_interval`) its own socket and `kubelet.sock`'s
//! inode: when its socket is gone it serves on a new one and registers
//! again; when `kubelet.sock` is a new file it registers again.

use std::io;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use tokio::net::UnixListener;
use tokio::sync::watch;
use tokio_stream::wrappers::UnixListenerStream;

use crate::api::v1beta1::device_plugin_server::DevicePluginServer;
use crate::api::v1beta1::registration_client::RegistrationClient;
use crate::api::v1beta1::{Device, RegisterRequest};
use crate::config::Profile;
use crate::plugin::{device_list, options, profile_healthy, ResourcePlugin, Shared};
pub use crate::shutdown::Shutdown;
use crate::shutdown::{sleep_or_stop, stopped};
use crate::{API_VERSION, KUBELET_SOCKET};

/// Where and how often.
#[derive(Clone, Debug)]
pub struct Options {
    /// The kubelet's device-plugin directory.
    pub kubelet_dir: PathBuf,
    /// How often the health of the module and GPUs is checked.
    pub health_interval: Duration,
    /// How often the sockets are checked for a kubelet restart.
    pub watch_interval: Duration,
    /// The kernel log read for the GPU driver's Xid reports (`/dev/kmsg`):
    /// a fatal Xid makes the devices on that GPU `Unhealthy` until the
    /// driver reports the GPU recovered (docs/health.md). `None`: not read.
    pub kmsg: Option<PathBuf>,
}

/// A file's identity: device, inode and change time (an inode number alone
/// is often reused at once for a re-created file).
fn inode(p: &Path) -> Option<(u64, u64, i64, i64)> {
    std::fs::symlink_metadata(p)
        .ok()
        .map(|m| (m.dev(), m.ino(), m.ctime(), m.ctime_nsec()))
}

/// Registers `profile`'s socket with the kubelet at `kubelet_sock`.
pub async fn register(kubelet_sock: &Path, profile: &Profile) -> Result<(), String> {
    let ch = crate::uds::connect(kubelet_sock)
        .await
        .map_err(|e| format!("cannot connect to {}: {e}", kubelet_sock.display()))?;
    let mut c = RegistrationClient::new(ch);
    let req = RegisterRequest {
        version: API_VERSION.to_string(),
        endpoint: profile.socket_name(),
        resource_name: profile.resource.clone(),
        options: Some(options()),
    };
    tokio::time::timeout(Duration::from_secs(10), c.register(req))
        .await
        .map_err(|_| "Register timed out".to_string())?
        .map_err(|s| format!("Register refused: {}", s.message()))?;
    Ok(())
}

/// Serves one resource until shutdown: binds its socket, registers, and does
/// both again after a kubelet restart.
pub async fn run_resource(
    shared: Arc<Shared>,
    profile: Profile,
    devices: watch::Receiver<Vec<Device>>,
    opts: Options,
    shutdown: Shutdown,
) {
    let sock = opts.kubelet_dir.join(profile.socket_name());
    let kubelet_sock = opts.kubelet_dir.join(KUBELET_SOCKET);
    let tag = profile.resource.clone();
    loop {
        let _ = std::fs::remove_file(&sock);
        let listener = match UnixListener::bind(&sock) {
            Ok(l) => l,
            Err(e) => {
                tracing::error!("{tag}: cannot listen on {}: {e}", sock.display());
                if sleep_or_stop(opts.watch_interval, &shutdown).await {
                    return;
                }
                continue;
            }
        };
        let my_inode = inode(&sock);
        if my_inode.is_none() {
            // Removed between bind and stat (a kubelet starting): again.
            continue;
        }
        // Ends this server's ListAndWatch streams and the server itself.
        let (stop_tx, stop_rx) = watch::channel(false);
        let plugin = Arc::new(ResourcePlugin {
            shared: shared.clone(),
            profile: profile.clone(),
            devices: devices.clone(),
            stop: stop_rx.clone(),
        });
        let server = tokio::spawn(
            tonic::transport::Server::builder()
                .add_service(DevicePluginServer::new(plugin))
                .serve_with_incoming_shutdown(UnixListenerStream::new(listener), stopped(stop_rx)),
        );
        tracing::info!("{tag}: serving on {}", sock.display());

        let mut registered_with = None;
        let quit = loop {
            if inode(&sock) != my_inode {
                tracing::info!(
                    "{tag}: {} was removed (kubelet restart): serving anew",
                    sock.display()
                );
                break false;
            }
            let k = inode(&kubelet_sock);
            if k.is_some() && k != registered_with {
                match register(&kubelet_sock, &profile).await {
                    Ok(()) => {
                        tracing::info!(
                            "{tag}: registered with the kubelet as {}",
                            profile.socket_name()
                        );
                        registered_with = k;
                    }
                    Err(e) => tracing::warn!("{tag}: {e}; trying again"),
                }
            }
            if sleep_or_stop(opts.watch_interval, &shutdown).await {
                break true;
            }
        };
        let _ = stop_tx.send(true);
        if tokio::time::timeout(Duration::from_secs(5), server)
            .await
            .is_err()
        {
            tracing::warn!("{tag}: the old server did not stop in 5 s");
        }
        if quit {
            if inode(&sock) == my_inode {
                let _ = std::fs::remove_file(&sock);
            }
            return;
        }
    }
}

/// Polls the health of every profile (the module, the GPU's node, the
/// GPU's Xid reports in `kmsg`) and publishes a changed device list.
pub async fn run_health(
    shared: Arc<Shared>,
    senders: Vec<watch::Sender<Vec<Device>>>,
    interval: Duration,
    kmsg: Option<PathBuf>,
    shutdown: Shutdown,
) {
    let mut xids = fakegpuctl::health::Watch::new(kmsg, fakegpuctl::health::Policy::from_env());
    let mut gpus: Vec<fakegpuctl::gpus::GpuInfo> = Vec::new();
    loop {
        let changes = xids.poll();
        if !changes.is_empty() || (gpus.is_empty() && !xids.unhealthy().is_empty()) {
            let b = shared.backend.clone();
            gpus = tokio::task::spawn_blocking(move || b.gpus())
                .await
                .unwrap_or_default();
        }
        for c in &changes {
            let gpu = fakegpuctl::health::gpu_index(&c.pci, &gpus);
            let object = gpu.map_or_else(|| format!("gpu/{}", c.pci), |g| format!("gpu/{g}"));
            let line = c.event_line(&object);
            if c.healthy {
                tracing::info!("{line}");
            } else {
                tracing::warn!("{line}");
            }
        }
        let bad = xids.unhealthy_gpus(&gpus);
        for (p, tx) in shared.config.profiles.iter().zip(&senders) {
            let b = shared.backend.clone();
            let p2 = p.clone();
            let healthy = tokio::task::spawn_blocking(move || profile_healthy(&*b, &p2))
                .await
                .unwrap_or(false)
                && !bad.contains_key(&p.gpu);
            let list = device_list(p, healthy);
            tx.send_if_modified(|cur| {
                if *cur == list {
                    return false;
                }
                tracing::info!(
                    "{}: devices now {}",
                    p.resource,
                    if healthy { "Healthy" } else { "Unhealthy" }
                );
                *cur = list;
                true
            });
        }
        if sleep_or_stop(interval, &shutdown).await {
            return;
        }
    }
}

/// Runs everything until shutdown: the health poller, one server per
/// profile, and the reconciler (if given).
pub async fn run(
    shared: Arc<Shared>,
    opts: Options,
    reconcile: Option<crate::reconcile::Options>,
    shutdown: Shutdown,
) -> io::Result<()> {
    std::fs::create_dir_all(&opts.kubelet_dir)?;
    let mut senders = Vec::new();
    let mut tasks = Vec::new();
    for p in &shared.config.profiles {
        let healthy = profile_healthy(&*shared.backend, p);
        let (tx, rx) = watch::channel(device_list(p, healthy));
        senders.push(tx);
        tasks.push(tokio::spawn(run_resource(
            shared.clone(),
            p.clone(),
            rx,
            opts.clone(),
            shutdown.clone(),
        )));
    }
    tasks.push(tokio::spawn(run_health(
        shared.clone(),
        senders,
        opts.health_interval,
        opts.kmsg.clone(),
        shutdown.clone(),
    )));
    if let Some(r) = reconcile {
        tasks.push(tokio::spawn(crate::reconcile::run(
            shared.clone(),
            r,
            shutdown.clone(),
        )));
    }
    for t in tasks {
        let _ = t.await;
    }
    Ok(())
}
