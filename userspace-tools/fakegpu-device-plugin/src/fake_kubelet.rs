//! A kubelet stand-in for tests, in-process or as the `fake-kubelet` binary.
//!
//! [`FakeKubelet::start`] does what the kubelet's device manager does at
//! start: removes every socket in the device-plugin directory, serves
//! `Registration` on `kubelet.sock` and, if asked, `PodResourcesLister` on a
//! pod-resources socket. On `Register` it dials the plugin's endpoint, calls
//! `GetDevicePluginOptions` and keeps a `ListAndWatch` stream open. Everything
//! it learns goes to a state directory, so shell tests can read it:
//!
//! - `registrations`: one line `RESOURCE ENDPOINT` per Register;
//! - `endpoints/RES`: the endpoint of the last registration of a resource;
//! - `options/RES`: the plugin's options;
//! - `devices/RES`: the last device list, lines `ID HEALTH`;
//! - `pods`: the pods holding devices, lines `POD RESOURCE ID...`; the
//!   pod-resources `List` answers from it. [`allocate`] adds to it (like the
//!   kubelet records an allocation), [`delete_pod`] removes from it.
//!
//! (`RES` is the resource name with `/` replaced by `_`.) A kubelet restart is
//! [`FakeKubelet::stop`] then [`FakeKubelet::start`] again.

use std::io;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use tokio::net::UnixListener;
use tokio::sync::watch;
use tokio_stream::wrappers::UnixListenerStream;
use tonic::{Request, Response, Status};

use crate::api::podresources::pod_resources_lister_server::{
    PodResourcesLister, PodResourcesListerServer,
};
use crate::api::podresources::{
    ContainerDevices, ContainerResources, ListPodResourcesRequest, ListPodResourcesResponse,
    PodResources,
};
use crate::api::v1beta1::device_plugin_client::DevicePluginClient;
use crate::api::v1beta1::registration_server::{Registration, RegistrationServer};
use crate::api::v1beta1::{
    AllocateRequest, AllocateResponse, ContainerAllocateRequest,
    ContainerPreferredAllocationRequest, Empty, PreferredAllocationRequest, RegisterRequest,
};
use crate::{API_VERSION, KUBELET_SOCKET};

/// Where the fake kubelet works.
#[derive(Clone, Debug)]
pub struct Options {
    /// The device-plugin directory (holds `kubelet.sock` and the plugins' sockets).
    pub dir: PathBuf,
    /// Where it records what it learns.
    pub state: PathBuf,
    /// Serve the pod-resources API on this socket.
    pub pod_resources_socket: Option<PathBuf>,
    /// Leave the plugins' sockets in place at start (the real kubelet
    /// removes them; tests use this to re-create only `kubelet.sock`).
    pub keep_plugin_sockets: bool,
}

/// A running fake kubelet.
pub struct FakeKubelet {
    stop: watch::Sender<bool>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

/// The state file name of a resource.
pub fn res_file(resource: &str) -> String {
    resource.replace('/', "_")
}

fn write_atomic(path: &Path, text: &str) -> io::Result<()> {
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(".tmp");
    std::fs::write(&tmp, text)?;
    std::fs::rename(&tmp, path)
}

fn append(path: &Path, line: &str) -> io::Result<()> {
    use std::io::Write;
    // One write(2) of the whole line: concurrent Registers append whole
    // lines (writeln! would write the line and its newline separately).
    let mut f = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)?;
    f.write_all(format!("{line}\n").as_bytes())
}

async fn stopped(mut s: watch::Receiver<bool>) {
    while !*s.borrow_and_update() {
        if s.changed().await.is_err() {
            return;
        }
    }
}

struct Reg {
    opts: Options,
    stop: watch::Receiver<bool>,
}

/// Follows one registered plugin: options, then the device stream.
async fn follow(
    opts: Options,
    req: RegisterRequest,
    stop: watch::Receiver<bool>,
) -> Result<(), String> {
    let res = res_file(&req.resource_name);
    let ch = crate::uds::connect(&opts.dir.join(&req.endpoint))
        .await
        .map_err(|e| format!("dial {}: {e}", req.endpoint))?;
    let mut c = DevicePluginClient::new(ch);
    let o = c
        .get_device_plugin_options(Empty {})
        .await
        .map_err(|s| format!("GetDevicePluginOptions: {s}"))?
        .into_inner();
    let text = format!(
        "pre_start_required={} get_preferred_allocation_available={}\n",
        o.pre_start_required, o.get_preferred_allocation_available
    );
    write_atomic(&opts.state.join("options").join(&res), &text).map_err(|e| e.to_string())?;
    let mut s = c
        .list_and_watch(Empty {})
        .await
        .map_err(|s| format!("ListAndWatch: {s}"))?
        .into_inner();
    loop {
        tokio::select! {
            m = s.message() => match m {
                Ok(Some(m)) => {
                    let text: String = m.devices.iter().map(|d| format!("{} {}\n", d.id, d.health)).collect();
                    write_atomic(&opts.state.join("devices").join(&res), &text).map_err(|e| e.to_string())?;
                }
                Ok(None) => return Ok(()),
                Err(e) => return Err(format!("ListAndWatch stream: {e}")),
            },
            _ = stopped(stop.clone()) => return Ok(()),
        }
    }
}

#[tonic::async_trait]
impl Registration for Reg {
    async fn register(&self, req: Request<RegisterRequest>) -> Result<Response<Empty>, Status> {
        let req = req.into_inner();
        if req.version != API_VERSION {
            return Err(Status::invalid_argument(format!(
                "unsupported version '{}'",
                req.version
            )));
        }
        if !req.resource_name.contains('/') || req.endpoint.contains('/') || req.endpoint.is_empty()
        {
            return Err(Status::invalid_argument("bad resource name or endpoint"));
        }
        let res = res_file(&req.resource_name);
        // The endpoint first: a registration counted is one that can be used.
        write_atomic(&self.opts.state.join("endpoints").join(&res), &req.endpoint)
            .and_then(|_| {
                append(
                    &self.opts.state.join("registrations"),
                    &format!("{} {}", req.resource_name, req.endpoint),
                )
            })
            .map_err(|e| Status::internal(e.to_string()))?;
        eprintln!(
            "fake-kubelet: {} registered at {}",
            req.resource_name, req.endpoint
        );
        let (opts, stop) = (self.opts.clone(), self.stop.clone());
        tokio::spawn(async move {
            let name = req.resource_name.clone();
            if let Err(e) = follow(opts, req, stop).await {
                eprintln!("fake-kubelet: {name}: {e}");
            }
        });
        Ok(Response::new(Empty {}))
    }
}

struct Pods {
    state: PathBuf,
}

/// The `pods` file as pod-resources answers.
pub fn read_pods(state: &Path) -> Vec<PodResources> {
    let text = std::fs::read_to_string(state.join("pods")).unwrap_or_default();
    let mut pods: Vec<PodResources> = Vec::new();
    for line in text.lines() {
        let mut w = line.split_whitespace();
        let (Some(pod), Some(resource)) = (w.next(), w.next()) else {
            continue;
        };
        let devices = ContainerDevices {
            resource_name: resource.to_string(),
            device_ids: w.map(str::to_string).collect(),
        };
        let container = ContainerResources {
            name: format!("c{}", pods.len()),
            devices: vec![devices],
        };
        match pods.iter_mut().find(|p| p.name == pod) {
            Some(p) => p.containers.push(container),
            None => pods.push(PodResources {
                name: pod.to_string(),
                namespace: "default".into(),
                containers: vec![container],
            }),
        }
    }
    pods
}

#[tonic::async_trait]
impl PodResourcesLister for Pods {
    async fn list(
        &self,
        _: Request<ListPodResourcesRequest>,
    ) -> Result<Response<ListPodResourcesResponse>, Status> {
        Ok(Response::new(ListPodResourcesResponse {
            pod_resources: read_pods(&self.state),
        }))
    }
}

fn bind_fresh(path: &Path) -> io::Result<UnixListener> {
    let _ = std::fs::remove_file(path);
    UnixListener::bind(path)
}

impl FakeKubelet {
    /// Starts like the kubelet: clears the sockets in the directory first.
    pub async fn start(opts: Options) -> io::Result<FakeKubelet> {
        std::fs::create_dir_all(&opts.dir)?;
        for d in ["options", "devices", "endpoints"] {
            std::fs::create_dir_all(opts.state.join(d))?;
        }
        for e in std::fs::read_dir(&opts.dir)? {
            let e = e?;
            use std::os::unix::fs::FileTypeExt;
            if e.file_type()?.is_socket() && !opts.keep_plugin_sockets {
                std::fs::remove_file(e.path())?;
            }
        }
        let (stop, stop_rx) = watch::channel(false);
        let mut tasks = Vec::new();
        let l = bind_fresh(&opts.dir.join(KUBELET_SOCKET))?;
        let reg = Reg {
            opts: opts.clone(),
            stop: stop_rx.clone(),
        };
        tasks.push(tokio::spawn({
            let s = stop_rx.clone();
            async move {
                let _ = tonic::transport::Server::builder()
                    .add_service(RegistrationServer::new(reg))
                    .serve_with_incoming_shutdown(UnixListenerStream::new(l), stopped(s))
                    .await;
            }
        }));
        if let Some(p) = &opts.pod_resources_socket {
            if let Some(d) = p.parent() {
                std::fs::create_dir_all(d)?;
            }
            let l = bind_fresh(p)?;
            let pods = Pods {
                state: opts.state.clone(),
            };
            let s = stop_rx.clone();
            tasks.push(tokio::spawn(async move {
                let _ = tonic::transport::Server::builder()
                    .add_service(PodResourcesListerServer::new(pods))
                    .serve_with_incoming_shutdown(UnixListenerStream::new(l), stopped(s))
                    .await;
            }));
        }
        Ok(FakeKubelet { stop, tasks })
    }

    /// Stops serving and drops the plugins' streams.
    pub async fn stop(self) {
        let _ = self.stop.send(true);
        for t in self.tasks {
            let _ = tokio::time::timeout(Duration::from_secs(5), t).await;
        }
    }
}

/// The endpoint a resource last registered.
pub fn endpoint(state: &Path, resource: &str) -> Result<String, String> {
    std::fs::read_to_string(state.join("endpoints").join(res_file(resource)))
        .map(|s| s.trim().to_string())
        .map_err(|_| format!("{resource} has not registered"))
}

async fn plugin_client(
    dir: &Path,
    state: &Path,
    resource: &str,
) -> Result<DevicePluginClient<tonic::transport::Channel>, String> {
    let ep = endpoint(state, resource)?;
    let ch = crate::uds::connect(&dir.join(&ep))
        .await
        .map_err(|e| format!("dial {ep}: {e}"))?;
    Ok(DevicePluginClient::new(ch))
}

/// Calls Allocate for one container with `ids`; with `pod`, records the
/// allocation in `pods` (as the kubelet does once Allocate succeeded).
pub async fn allocate(
    dir: &Path,
    state: &Path,
    resource: &str,
    ids: &[String],
    pod: Option<&str>,
) -> Result<AllocateResponse, String> {
    let mut c = plugin_client(dir, state, resource).await?;
    let req = AllocateRequest {
        container_requests: vec![ContainerAllocateRequest {
            devices_ids: ids.to_vec(),
        }],
    };
    let r = c
        .allocate(req)
        .await
        .map_err(|s| format!("Allocate: {}: {}", s.code(), s.message()))?
        .into_inner();
    if let Some(pod) = pod {
        append(
            &state.join("pods"),
            &format!("{pod} {resource} {}", ids.join(" ")),
        )
        .map_err(|e| e.to_string())?;
    }
    Ok(r)
}

/// Calls GetPreferredAllocation for one container.
pub async fn preferred(
    dir: &Path,
    state: &Path,
    resource: &str,
    available: &[String],
    must: &[String],
    size: i32,
) -> Result<Vec<String>, String> {
    let mut c = plugin_client(dir, state, resource).await?;
    let req = PreferredAllocationRequest {
        container_requests: vec![ContainerPreferredAllocationRequest {
            available_device_i_ds: available.to_vec(),
            must_include_device_i_ds: must.to_vec(),
            allocation_size: size,
        }],
    };
    let r = c
        .get_preferred_allocation(req)
        .await
        .map_err(|s| format!("GetPreferredAllocation: {}", s.message()))?
        .into_inner();
    Ok(r.container_responses
        .into_iter()
        .next()
        .map(|c| c.device_i_ds)
        .unwrap_or_default())
}

/// Removes a pod's allocations from `pods` (the pod is gone).
pub fn delete_pod(state: &Path, pod: &str) -> io::Result<()> {
    let text = std::fs::read_to_string(state.join("pods")).unwrap_or_default();
    let keep: String = text
        .lines()
        .filter(|l| l.split_whitespace().next() != Some(pod))
        .map(|l| format!("{l}\n"))
        .collect();
    write_atomic(&state.join("pods"), &keep)
}

/// How many times a resource registered.
pub fn registrations(state: &Path, resource: &str) -> usize {
    let text = std::fs::read_to_string(state.join("registrations")).unwrap_or_default();
    text.lines()
        .filter(|l| l.split_whitespace().next() == Some(resource))
        .count()
}

/// The last device list of a resource: (ID, health).
pub fn devices(state: &Path, resource: &str) -> Vec<(String, String)> {
    let text =
        std::fs::read_to_string(state.join("devices").join(res_file(resource))).unwrap_or_default();
    text.lines()
        .filter_map(|l| l.split_once(' '))
        .map(|(a, b)| (a.to_string(), b.to_string()))
        .collect()
}

/// The plugin's options as recorded.
pub fn options(state: &Path, resource: &str) -> Option<String> {
    std::fs::read_to_string(state.join("options").join(res_file(resource)))
        .ok()
        .map(|s| s.trim().to_string())
}

/// Polls `cond` every 50 ms until it holds or `timeout` passes.
pub async fn wait_for(timeout: Duration, mut cond: impl FnMut() -> bool) -> bool {
    let end = Instant::now() + timeout;
    loop {
        if cond() {
            return true;
        }
        if Instant::now() >= end {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// The Allocate answer as lines for shell tests:
/// `cdi NAME`, `device CONTAINER_PATH HOST_PATH PERMISSIONS`,
/// `mount CONTAINER_PATH HOST_PATH ro|rw`, `env K=V`, `annotation K=V`.
pub fn format_response(r: &AllocateResponse) -> String {
    let mut out = String::new();
    for c in &r.container_responses {
        for d in &c.cdi_devices {
            out += &format!("cdi {}\n", d.name);
        }
        for d in &c.devices {
            out += &format!(
                "device {} {} {}\n",
                d.container_path, d.host_path, d.permissions
            );
        }
        for m in &c.mounts {
            out += &format!(
                "mount {} {} {}\n",
                m.container_path,
                m.host_path,
                if m.read_only { "ro" } else { "rw" }
            );
        }
        let mut envs: Vec<_> = c.envs.iter().collect();
        envs.sort();
        for (k, v) in envs {
            out += &format!("env {k}={v}\n");
        }
        let mut ann: Vec<_> = c.annotations.iter().collect();
        ann.sort();
        for (k, v) in ann {
            out += &format!("annotation {k}={v}\n");
        }
    }
    out
}
