//! The `DevicePlugin` service of one resource (one profile).

use std::collections::{BTreeMap, HashMap};
use std::path::Path;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use tokio::sync::watch;
use tokio_stream::Stream;
use tonic::{Request, Response, Status};

use crate::api::v1beta1::device_plugin_server::DevicePlugin;
use crate::api::v1beta1::{
    AllocateRequest, AllocateResponse, CdiDevice, ContainerAllocateResponse,
    ContainerPreferredAllocationResponse, Device, DevicePluginOptions, DeviceSpec, Empty,
    ListAndWatchResponse, PreStartContainerRequest, PreStartContainerResponse,
    PreferredAllocationRequest, PreferredAllocationResponse,
};
use crate::backend::Backend;
use crate::config::{context_name, Config, Profile};
use crate::{HEALTHY, UNHEALTHY};

/// What all the resources' plugins and the reconciler share.
pub struct Shared {
    pub config: Config,
    pub backend: Arc<dyn Backend>,
    /// When each device ID was last allocated (by this process). The
    /// reconciler leaves a context alone for a grace period after that.
    pub allocated_at: Mutex<HashMap<String, Instant>>,
    /// Serializes context creation and destruction (Allocate of several
    /// resources, the reconciler).
    pub ops: Mutex<()>,
    /// When the plugin started: contexts found then count as allocated then.
    pub started: Instant,
}

impl Shared {
    pub fn new(config: Config, backend: Arc<dyn Backend>) -> Arc<Shared> {
        Arc::new(Shared {
            config,
            backend,
            allocated_at: Mutex::new(HashMap::new()),
            ops: Mutex::new(()),
            started: Instant::now(),
        })
    }
}

/// The device list of a profile, all with the given health.
pub fn device_list(profile: &Profile, healthy: bool) -> Vec<Device> {
    let health = if healthy { HEALTHY } else { UNHEALTHY };
    profile
        .device_ids()
        .into_iter()
        .map(|id| Device {
            id,
            health: health.to_string(),
            topology: None,
        })
        .collect()
}

/// A profile's health: the module is loaded and its GPU is there.
pub fn profile_healthy(backend: &dyn Backend, profile: &Profile) -> bool {
    backend.module_loaded() && backend.gpu_present(profile.gpu)
}

/// The plugin of one profile.
pub struct ResourcePlugin {
    pub shared: Arc<Shared>,
    pub profile: Profile,
    /// The current device list; the health poller updates it.
    pub devices: watch::Receiver<Vec<Device>>,
    /// Becomes true when this server is replaced or stops: ends the streams.
    pub stop: watch::Receiver<bool>,
}

impl ResourcePlugin {
    /// Creates (or re-creates) the context of device `id` and writes its CDI
    /// spec. A context left from an earlier allocation of the same ID (the
    /// kubelet only hands out IDs it considers free, so its pod is gone, or
    /// this is a retry of the same Allocate) is destroyed first, so every
    /// allocation starts from a fresh context with the profile's limits.
    pub fn ensure_context(&self, id: &str) -> Result<String, Status> {
        let name = context_name(id);
        let b = &self.shared.backend;
        let _g = self.shared.ops.lock().unwrap();
        if b.exists(&name) {
            let open = b.open_files(&name).unwrap_or(0);
            tracing::info!("{id} allocated again: re-creating context {name} ({open} open files)");
            b.destroy(&name).map_err(|e| {
                Status::internal(format!("cannot destroy the old context {name}: {e}"))
            })?;
        }
        b.create(&name, &self.profile)
            .map_err(|e| Status::unavailable(format!("cannot create context {name}: {e}")))?;
        if let Err(e) = b.write_cdi(&name) {
            let _ = b.destroy(&name);
            return Err(Status::internal(format!(
                "cannot write the CDI spec of {name}: {e}"
            )));
        }
        self.shared
            .allocated_at
            .lock()
            .unwrap()
            .insert(id.to_string(), Instant::now());
        Ok(name)
    }

    /// The answer for one container that got device `id` (its context `name`).
    pub fn container_response(&self, name: &str) -> Result<ContainerAllocateResponse, Status> {
        let b = &self.shared.backend;
        let cfg = &self.shared.config;
        let mut r = ContainerAllocateResponse::default();
        if cfg.cdi_devices {
            r.cdi_devices.push(CdiDevice {
                name: b.cdi_device_name(name),
            });
        }
        if cfg.device_specs {
            let nodes = b
                .node_paths(name)
                .map_err(|e| Status::internal(format!("nodes of {name}: {e}")))?;
            for host in nodes {
                let base = host
                    .file_name()
                    .and_then(|f| f.to_str())
                    .unwrap_or_default()
                    .to_string();
                r.devices.push(DeviceSpec {
                    container_path: Path::new("/dev").join(base).to_string_lossy().into_owned(),
                    host_path: host.to_string_lossy().into_owned(),
                    permissions: "rw".to_string(),
                });
            }
        }
        let mut envs = BTreeMap::new();
        envs.insert("FAKEGPU_CONTEXT".to_string(), name.to_string());
        envs.insert(
            "FAKEGPU_MEM_LIMIT_BYTES".to_string(),
            self.profile.mem_bytes.to_string(),
        );
        if let Some(c) = self.profile.compute_pct {
            envs.insert("FAKEGPU_COMPUTE_PCT".to_string(), c.to_string());
        }
        // Keeps NVIDIA's legacy runtime hook from adding the real nodes.
        envs.insert("NVIDIA_VISIBLE_DEVICES".to_string(), "void".to_string());
        r.envs = envs.into_iter().collect();
        Ok(r)
    }
}

type DeviceStream =
    Pin<Box<dyn Stream<Item = Result<ListAndWatchResponse, Status>> + Send + 'static>>;

#[tonic::async_trait]
impl DevicePlugin for Arc<ResourcePlugin> {
    async fn get_device_plugin_options(
        &self,
        _: Request<Empty>,
    ) -> Result<Response<DevicePluginOptions>, Status> {
        Ok(Response::new(options()))
    }

    type ListAndWatchStream = DeviceStream;

    async fn list_and_watch(
        &self,
        _: Request<Empty>,
    ) -> Result<Response<Self::ListAndWatchStream>, Status> {
        // The current list at once, then the whole list again on each
        // change, until the client goes or this server is replaced.
        let (tx, rx) = tokio::sync::mpsc::channel(4);
        let mut devices = self.devices.clone();
        let stop = self.stop.clone();
        tokio::spawn(async move {
            loop {
                let devices_now = devices.borrow_and_update().clone();
                if tx
                    .send(Ok(ListAndWatchResponse {
                        devices: devices_now,
                    }))
                    .await
                    .is_err()
                {
                    return;
                }
                tokio::select! {
                    r = devices.changed() => if r.is_err() { return },
                    _ = crate::shutdown::stopped(stop.clone()) => return,
                    _ = tx.closed() => return,
                }
            }
        });
        let s = tokio_stream::wrappers::ReceiverStream::new(rx);
        Ok(Response::new(Box::pin(s)))
    }

    async fn get_preferred_allocation(
        &self,
        req: Request<PreferredAllocationRequest>,
    ) -> Result<Response<PreferredAllocationResponse>, Status> {
        let b = self.shared.backend.clone();
        let mut out = PreferredAllocationResponse::default();
        for c in req.into_inner().container_requests {
            let size = c.allocation_size.max(0) as usize;
            let mut ids = c.must_include_device_i_ds.clone();
            // Prefer IDs without a leftover context, then in order.
            let mut rest: Vec<&String> = c
                .available_device_i_ds
                .iter()
                .filter(|i| !ids.contains(i))
                .collect();
            rest.sort_by_key(|i| (b.exists(&context_name(i)), natural_key(i)));
            ids.extend(
                rest.into_iter()
                    .take(size.saturating_sub(ids.len()))
                    .cloned(),
            );
            ids.truncate(size.max(c.must_include_device_i_ds.len()));
            out.container_responses
                .push(ContainerPreferredAllocationResponse { device_i_ds: ids });
        }
        Ok(Response::new(out))
    }

    async fn allocate(
        &self,
        req: Request<AllocateRequest>,
    ) -> Result<Response<AllocateResponse>, Status> {
        let req = req.into_inner();
        // Check the whole request before creating anything.
        for c in &req.container_requests {
            if c.devices_ids.len() != 1 {
                return Err(Status::invalid_argument(format!(
                    "{}: a container can use exactly one fakegpu vGPU (got {} device IDs): its nodes take the vendor's paths",
                    self.profile.resource,
                    c.devices_ids.len()
                )));
            }
            for id in &c.devices_ids {
                if !self.profile.has_device(id) {
                    return Err(Status::invalid_argument(format!(
                        "{}: unknown device ID '{id}'",
                        self.profile.resource
                    )));
                }
            }
        }
        let this = self.clone();
        let resp = tokio::task::spawn_blocking(move || -> Result<AllocateResponse, Status> {
            let mut out = AllocateResponse::default();
            for c in &req.container_requests {
                let name = this.ensure_context(&c.devices_ids[0])?;
                out.container_responses
                    .push(this.container_response(&name)?);
                tracing::info!(
                    "{}: allocated {} as context {name}",
                    this.profile.resource,
                    c.devices_ids[0]
                );
            }
            Ok(out)
        })
        .await
        .map_err(|e| Status::internal(format!("allocate task: {e}")))??;
        Ok(Response::new(resp))
    }

    async fn pre_start_container(
        &self,
        _: Request<PreStartContainerRequest>,
    ) -> Result<Response<PreStartContainerResponse>, Status> {
        // Not required (options say so): Allocate does all the work.
        Ok(Response::new(PreStartContainerResponse {}))
    }
}

/// The plugin's options: no PreStartContainer, a preferred allocation.
pub fn options() -> DevicePluginOptions {
    DevicePluginOptions {
        pre_start_required: false,
        get_preferred_allocation_available: true,
    }
}

/// Sorts `name-10` after `name-9`.
fn natural_key(id: &str) -> (String, u64) {
    match id.rsplit_once('-') {
        Some((p, n)) => (p.to_string(), n.parse().unwrap_or(u64::MAX)),
        None => (id.to_string(), u64::MAX),
    }
}
