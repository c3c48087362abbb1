//! Serving: the start-up reconciliation, the DRA service on
//! `<plugins>/<driver>/dra.sock`, the registration service on
//! `<plugins_registry>/<driver>-reg.sock` (the kubelet's plugin watcher finds
//! it there, asks GetInfo, dials the endpoint it names and reports with
//! NotifyRegistrationStatus), and the node's ResourceSlice, published at
//! start and again whenever the GPUs change (checked every interval) or a
//! GPU's health does (the kernel log read every second for Xids).

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use tokio::net::UnixListener;
use tokio::sync::watch;
use tokio_stream::wrappers::UnixListenerStream;
use tonic::{Request, Response, Status};

use crate::api::dra::dra_plugin_server::{DraPlugin, DraPluginServer};
use crate::api::dra::{
    NodePrepareResourceResponse, NodePrepareResourcesRequest, NodePrepareResourcesResponse,
    NodeUnprepareResourceResponse, NodeUnprepareResourcesRequest, NodeUnprepareResourcesResponse,
};
use crate::api::registration::registration_server::{Registration, RegistrationServer};
use crate::api::registration::{
    InfoRequest, PluginInfo, RegistrationStatus, RegistrationStatusResponse,
};
use crate::driver::Driver;
use crate::slice::{self, NodeRef};
use crate::{DRA_SERVICE, PLUGIN_TYPE};

/// Where and how the driver serves.
#[derive(Clone, Debug)]
pub struct Options {
    /// The kubelet's plugin registration directory.
    pub registry_dir: PathBuf,
    /// The driver's own directory (holds `dra.sock`).
    pub plugin_dir: PathBuf,
    /// How often the GPUs are checked for changes.
    pub publish_interval: Duration,
}

impl Options {
    pub fn dra_socket(&self) -> PathBuf {
        self.plugin_dir.join("dra.sock")
    }
    pub fn registration_socket(&self, driver: &str) -> PathBuf {
        self.registry_dir.join(format!("{driver}-reg.sock"))
    }
}

struct Dra(Arc<Driver>);

#[tonic::async_trait]
impl DraPlugin for Dra {
    async fn node_prepare_resources(
        &self,
        req: Request<NodePrepareResourcesRequest>,
    ) -> Result<Response<NodePrepareResourcesResponse>, Status> {
        let mut out = NodePrepareResourcesResponse::default();
        for c in req.into_inner().claims {
            let r = match self.0.prepare(&c).await {
                Ok(devices) => NodePrepareResourceResponse {
                    devices,
                    error: String::new(),
                },
                Err(error) => {
                    tracing::warn!(claim = %format!("{}/{}", c.namespace, c.name), %error, "prepare failed");
                    NodePrepareResourceResponse {
                        devices: vec![],
                        error,
                    }
                }
            };
            out.claims.insert(c.uid.clone(), r);
        }
        Ok(Response::new(out))
    }

    async fn node_unprepare_resources(
        &self,
        req: Request<NodeUnprepareResourcesRequest>,
    ) -> Result<Response<NodeUnprepareResourcesResponse>, Status> {
        let mut out = NodeUnprepareResourcesResponse::default();
        for c in req.into_inner().claims {
            let error = match self.0.unprepare(&c).await {
                Ok(()) => String::new(),
                Err(e) => {
                    tracing::warn!(claim = %format!("{}/{}", c.namespace, c.name), error = %e, "unprepare failed");
                    e
                }
            };
            out.claims
                .insert(c.uid.clone(), NodeUnprepareResourceResponse { error });
        }
        Ok(Response::new(out))
    }
}

struct Reg {
    info: PluginInfo,
}

#[tonic::async_trait]
impl Registration for Reg {
    async fn get_info(&self, _: Request<InfoRequest>) -> Result<Response<PluginInfo>, Status> {
        Ok(Response::new(self.info.clone()))
    }
    async fn notify_registration_status(
        &self,
        req: Request<RegistrationStatus>,
    ) -> Result<Response<RegistrationStatusResponse>, Status> {
        let s = req.into_inner();
        if s.plugin_registered {
            tracing::info!("registered with the kubelet");
        } else {
            tracing::error!(error = %s.error, "the kubelet refused the registration");
        }
        Ok(Response::new(RegistrationStatusResponse {}))
    }
}

fn bind_fresh(path: &Path) -> std::io::Result<UnixListener> {
    if let Some(d) = path.parent() {
        std::fs::create_dir_all(d)?;
    }
    let _ = std::fs::remove_file(path);
    UnixListener::bind(path)
}

async fn stopped(mut rx: watch::Receiver<bool>) {
    while !*rx.borrow() {
        if rx.changed().await.is_err() {
            return;
        }
    }
}

/// Publishes the slice once (inventory, node UID, create or replace), the
/// unhealthy GPUs tainted.
pub async fn publish_once(
    driver: &Driver,
    node: &mut NodeRef,
) -> Result<crate::kubeapi::Published, String> {
    if node.uid.is_empty() {
        node.uid = driver.kube.node_uid(&node.name).await?;
    }
    let inv = driver.backend.inventory()?;
    let bad = driver.unhealthy_gpus(&inv.gpus);
    let s = slice::build_with_taints(&driver.driver_name, node, &inv, 1, &bad);
    driver.kube.publish(&s).await
}

/// How often the kernel log is read for Xids (at most).
const HEALTH_TICK: Duration = Duration::from_secs(1);

/// Runs the driver until `stop` turns true.
pub async fn run(
    driver: Arc<Driver>,
    opts: Options,
    stop: watch::Receiver<bool>,
) -> Result<(), String> {
    let r = driver.reconcile().await?;
    tracing::info!(
        destroyed = ?r.destroyed,
        kept_busy = ?r.kept_busy,
        recreated = ?r.recreated,
        kept = ?r.kept,
        "reconciled the checkpoint against sysfs"
    );
    let dra_sock = opts.dra_socket();
    let reg_sock = opts.registration_socket(&driver.driver_name);
    let dra_l = bind_fresh(&dra_sock)
        .map_err(|e| format!("cannot listen on {}: {e}", dra_sock.display()))?;
    let dra = tokio::spawn(
        tonic::transport::Server::builder()
            .add_service(DraPluginServer::new(Dra(driver.clone())))
            .serve_with_incoming_shutdown(UnixListenerStream::new(dra_l), stopped(stop.clone())),
    );
    let reg_l = bind_fresh(&reg_sock)
        .map_err(|e| format!("cannot listen on {}: {e}", reg_sock.display()))?;
    let info = PluginInfo {
        r#type: PLUGIN_TYPE.into(),
        name: driver.driver_name.clone(),
        endpoint: dra_sock.display().to_string(),
        supported_versions: vec![DRA_SERVICE.into()],
    };
    let reg = tokio::spawn(
        tonic::transport::Server::builder()
            .add_service(RegistrationServer::new(Reg { info }))
            .serve_with_incoming_shutdown(UnixListenerStream::new(reg_l), stopped(stop.clone())),
    );
    tracing::info!(dra = %dra_sock.display(), registration = %reg_sock.display(), "serving");

    let mut node = NodeRef {
        name: driver.pool.clone(),
        uid: String::new(),
    };
    let stop_rx = stop.clone();
    let tick = opts.publish_interval.min(HEALTH_TICK);
    let mut last: Option<std::time::Instant> = None;
    // A change of health not published yet.
    let mut pending = false;
    loop {
        // A change of health publishes at once; otherwise every interval.
        pending |= !driver.poll_health().is_empty();
        let due = last.is_none_or(|t| t.elapsed() >= opts.publish_interval);
        if !(pending || due) {
            tokio::select! {
                _ = tokio::time::sleep(tick) => {}
                _ = stopped(stop_rx.clone()) => break,
            }
            continue;
        }
        last = Some(std::time::Instant::now());
        match publish_once(&driver, &mut node).await {
            Ok(crate::kubeapi::Published::Unchanged) => pending = false,
            Ok(p) => {
                pending = false;
                tracing::info!(slice = %slice::slice_name(&node.name, &driver.driver_name), result = ?p, "published the ResourceSlice")
            }
            Err(e) => {
                tracing::warn!(error = %e, "publishing the ResourceSlice failed (retried)")
            }
        }
        tokio::select! {
            _ = tokio::time::sleep(tick) => {}
            _ = stopped(stop_rx.clone()) => break,
        }
    }
    let _ = dra.await;
    let _ = reg.await;
    let _ = std::fs::remove_file(&dra_sock);
    let _ = std::fs::remove_file(&reg_sock);
    tracing::info!("stopped");
    Ok(())
}
