//! Which pod and container use which context, from the kubelet's
//! pod-resources API (`v1.PodResourcesLister/List` on
//! `/var/lib/kubelet/pod-resources/kubelet.sock`), for the exporter's
//! `namespace`, `pod` and `container` labels.
//!
//! The rule ([`map`], documented in docs/metrics.md):
//!
//! - **DRA claims**: a container's `dynamic_resources` carry, per claim,
//!   the CDI devices the driver's NodePrepareResources returned. Ours are
//!   `fakegpu.io/vgpu=NAME`, one per context ([`crate::cdi::device_name`]),
//!   whatever the driver named the context: the CDI id names the context.
//! - **Device plugin devices**: a container's `devices` carry the resource
//!   and the device IDs the kubelet allocated; the device plugin's context
//!   of device ID `ID` is `k8s-ID` ([`DEVICE_PLUGIN_CONTEXT_PREFIX`]).
//!
//! A context several containers use (a claim shared by several pods) has
//! one consumer per container. No socket, no answer in time, or an error:
//! no consumers (the scrape goes on with empty labels).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// The generated messages, client and server of `proto/podresources.proto`.
pub mod api {
    #![allow(clippy::all, missing_docs)]
    tonic::include_proto!("v1");
}

/// The kubelet's default socket.
pub const DEFAULT_SOCKET: &str = "/var/lib/kubelet/pod-resources/kubelet.sock";

/// The device plugin's context name of a device ID is this and the ID
/// (fakegpu-device-plugin's `config::CONTEXT_PREFIX`; a test there checks
/// they agree).
pub const DEVICE_PLUGIN_CONTEXT_PREFIX: &str = "k8s-";

/// One container that uses a context.
#[derive(Clone, Debug, Default, PartialEq, Eq, PartialOrd, Ord)]
pub struct Consumer {
    pub namespace: String,
    pub pod: String,
    pub container: String,
}

/// Per context name: the containers using it (sorted, each once).
pub type ContextPods = BTreeMap<String, Vec<Consumer>>;

/// The context a CDI device name names, if it is one of ours.
pub fn context_of_cdi(name: &str) -> Option<&str> {
    name.strip_prefix(crate::cdi::KIND)
        .and_then(|r| r.strip_prefix('='))
        .filter(|n| !n.is_empty())
}

/// The contexts each container uses, by the rule in the module's doc.
pub fn map(resp: &api::ListPodResourcesResponse) -> ContextPods {
    let mut m = ContextPods::new();
    for p in &resp.pod_resources {
        for c in &p.containers {
            let who = Consumer {
                namespace: p.namespace.clone(),
                pod: p.name.clone(),
                container: c.name.clone(),
            };
            let mut contexts: Vec<String> = Vec::new();
            for d in &c.dynamic_resources {
                for r in &d.claim_resources {
                    for cdi in &r.cdi_devices {
                        if let Some(n) = context_of_cdi(&cdi.name) {
                            contexts.push(n.to_string());
                        }
                    }
                }
            }
            for d in &c.devices {
                for id in &d.device_ids {
                    if !id.is_empty() {
                        contexts.push(format!("{DEVICE_PLUGIN_CONTEXT_PREFIX}{id}"));
                    }
                }
            }
            for n in contexts {
                let v = m.entry(n).or_default();
                if !v.contains(&who) {
                    v.push(who.clone());
                }
            }
        }
    }
    for v in m.values_mut() {
        v.sort();
    }
    m
}

/// Asks `List` of the server on the unix socket `socket`, within `timeout`.
pub async fn list_async(
    socket: &Path,
    timeout: Duration,
) -> Result<api::ListPodResourcesResponse, String> {
    use api::pod_resources_lister_client::PodResourcesListerClient;
    use hyper_util::rt::TokioIo;
    use tonic::transport::{Endpoint, Uri};
    let path: PathBuf = socket.to_path_buf();
    let call = async move {
        // The URI is not used for unix sockets, but must parse.
        let ch = Endpoint::from_static("http://[::]:50051")
            .connect_timeout(timeout)
            .connect_with_connector(tower::service_fn(move |_: Uri| {
                let path = path.clone();
                async move {
                    Ok::<_, std::io::Error>(TokioIo::new(
                        tokio::net::UnixStream::connect(path).await?,
                    ))
                }
            }))
            .await
            .map_err(|e| format!("cannot connect: {e}"))?;
        PodResourcesListerClient::new(ch)
            .list(api::ListPodResourcesRequest {})
            .await
            .map(|r| r.into_inner())
            .map_err(|s| format!("List failed: {}", s.message()))
    };
    tokio::time::timeout(timeout, call)
        .await
        .map_err(|_| format!("no answer in {timeout:?}"))?
}

/// [`list_async`] from synchronous code (its own small runtime).
pub fn list(socket: &Path, timeout: Duration) -> Result<api::ListPodResourcesResponse, String> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| format!("no runtime: {e}"))?;
    rt.block_on(list_async(socket, timeout))
}

/// The consumers of every context, or none (with the reason) if the socket
/// is absent or does not answer.
pub fn consumers(socket: &Path, timeout: Duration) -> Result<ContextPods, String> {
    if !socket.exists() {
        return Err(format!("{} is absent", socket.display()));
    }
    list(socket, timeout).map(|r| map(&r))
}

/// A stand-in for the kubelet's pod-resources server (tests): answers
/// `List` with whatever was last [`FakeServer::set`].
pub mod fake {
    use super::api;
    use super::api::pod_resources_lister_server::{PodResourcesLister, PodResourcesListerServer};
    use std::path::Path;
    use std::sync::{Arc, Mutex};
    use tonic::{Request, Response, Status};

    #[derive(Clone, Default)]
    struct Pods(Arc<Mutex<api::ListPodResourcesResponse>>);

    #[tonic::async_trait]
    impl PodResourcesLister for Pods {
        async fn list(
            &self,
            _: Request<api::ListPodResourcesRequest>,
        ) -> Result<Response<api::ListPodResourcesResponse>, Status> {
            Ok(Response::new(self.0.lock().unwrap().clone()))
        }
        async fn get_allocatable_resources(
            &self,
            _: Request<api::AllocatableResourcesRequest>,
        ) -> Result<Response<api::AllocatableResourcesResponse>, Status> {
            Err(Status::unimplemented("not in the fake"))
        }
        async fn get(
            &self,
            r: Request<api::GetPodResourcesRequest>,
        ) -> Result<Response<api::GetPodResourcesResponse>, Status> {
            let r = r.into_inner();
            let all = self.0.lock().unwrap();
            let p = all
                .pod_resources
                .iter()
                .find(|p| p.name == r.pod_name && p.namespace == r.pod_namespace)
                .cloned()
                .ok_or_else(|| Status::not_found("no such pod"))?;
            Ok(Response::new(api::GetPodResourcesResponse {
                pod_resources: Some(p),
            }))
        }
    }

    /// A server on its own thread and runtime; stops on drop.
    pub struct FakeServer {
        pods: Pods,
        stop: Option<tokio::sync::oneshot::Sender<()>>,
        thread: Option<std::thread::JoinHandle<()>>,
    }

    impl FakeServer {
        /// Serves on the unix socket `path` (replaced if there).
        pub fn start(path: &Path) -> std::io::Result<FakeServer> {
            let _ = std::fs::remove_file(path);
            let std_l = std::os::unix::net::UnixListener::bind(path)?;
            std_l.set_nonblocking(true)?;
            let pods = Pods::default();
            let p2 = pods.clone();
            let (tx, rx) = tokio::sync::oneshot::channel::<()>();
            let thread = std::thread::spawn(move || {
                let rt = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .expect("a runtime");
                rt.block_on(async move {
                    let l = tokio::net::UnixListener::from_std(std_l).expect("a listener");
                    let _ = tonic::transport::Server::builder()
                        .add_service(PodResourcesListerServer::new(p2))
                        .serve_with_incoming_shutdown(
                            tokio_stream::wrappers::UnixListenerStream::new(l),
                            async {
                                let _ = rx.await;
                            },
                        )
                        .await;
                });
            });
            Ok(FakeServer {
                pods,
                stop: Some(tx),
                thread: Some(thread),
            })
        }

        /// What `List` answers from now on.
        pub fn set(&self, r: api::ListPodResourcesResponse) {
            *self.pods.0.lock().unwrap() = r;
        }
    }

    impl Drop for FakeServer {
        fn drop(&mut self) {
            if let Some(s) = self.stop.take() {
                let _ = s.send(());
            }
            if let Some(t) = self.thread.take() {
                let _ = t.join();
            }
        }
    }
}

/// Builders for the tests' answers.
pub mod build {
    use super::api;

    /// A container with DRA claims: `(claim namespace, claim name, [CDI ids])`.
    pub fn dra_container(name: &str, claims: &[(&str, &str, &[&str])]) -> api::ContainerResources {
        api::ContainerResources {
            name: name.into(),
            dynamic_resources: claims
                .iter()
                .map(|(ns, claim, cdis)| api::DynamicResource {
                    claim_name: claim.to_string(),
                    claim_namespace: ns.to_string(),
                    claim_resources: vec![api::ClaimResource {
                        cdi_devices: cdis
                            .iter()
                            .map(|n| api::CdiDevice {
                                name: n.to_string(),
                            })
                            .collect(),
                        driver_name: "gpu.fakegpu.io".into(),
                        pool_name: "node".into(),
                        device_name: "gpu-0".into(),
                        share_id: None,
                    }],
                })
                .collect(),
            ..Default::default()
        }
    }

    /// A container with device plugin devices of `resource`.
    pub fn dp_container(name: &str, resource: &str, ids: &[&str]) -> api::ContainerResources {
        api::ContainerResources {
            name: name.into(),
            devices: vec![api::ContainerDevices {
                resource_name: resource.into(),
                device_ids: ids.iter().map(|s| s.to_string()).collect(),
                topology: None,
            }],
            ..Default::default()
        }
    }

    /// A pod.
    pub fn pod(
        ns: &str,
        name: &str,
        containers: Vec<api::ContainerResources>,
    ) -> api::PodResources {
        api::PodResources {
            name: name.into(),
            namespace: ns.into(),
            containers,
            ..Default::default()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::build::*;
    use super::*;

    fn who(ns: &str, pod: &str, c: &str) -> Consumer {
        Consumer {
            namespace: ns.into(),
            pod: pod.into(),
            container: c.into(),
        }
    }

    #[test]
    fn cdi_names() {
        assert_eq!(context_of_cdi("fakegpu.io/vgpu=dra-abc"), Some("dra-abc"));
        assert_eq!(context_of_cdi("fakegpu.io/vgpu="), None);
        assert_eq!(context_of_cdi("nvidia.com/gpu=0"), None);
        assert_eq!(context_of_cdi("fakegpu.io/vgpux=a"), None);
    }

    #[test]
    fn dra_and_device_plugin_and_shared() {
        let r = api::ListPodResourcesResponse {
            pod_resources: vec![
                pod(
                    "ml",
                    "train-0",
                    vec![
                        dra_container(
                            "trainer",
                            &[("ml", "c1", &["fakegpu.io/vgpu=dra-1", "other.io/x=y"])],
                        ),
                        dra_container("sidecar", &[]),
                    ],
                ),
                pod(
                    "ml",
                    "train-1",
                    vec![dra_container(
                        "trainer",
                        &[("ml", "c1", &["fakegpu.io/vgpu=dra-1"])],
                    )],
                ),
                pod(
                    "web",
                    "infer",
                    vec![dp_container("srv", "fakegpu.io/vgpu-8gi", &["vgpu-8gi-0"])],
                ),
            ],
        };
        let m = map(&r);
        assert_eq!(m.len(), 2, "{m:?}");
        assert_eq!(
            m["dra-1"],
            vec![
                who("ml", "train-0", "trainer"),
                who("ml", "train-1", "trainer")
            ]
        );
        assert_eq!(m["k8s-vgpu-8gi-0"], vec![who("web", "infer", "srv")]);
    }

    #[test]
    fn absent_socket_is_an_error_not_a_panic() {
        let e = consumers(
            Path::new("/nonexistent/kubelet.sock"),
            Duration::from_secs(1),
        );
        assert!(e.unwrap_err().contains("absent"));
    }

    #[test]
    fn fake_server_round_trip() {
        let d = std::env::temp_dir().join(format!("fgpr-{}", std::process::id()));
        std::fs::create_dir_all(&d).unwrap();
        let sock = d.join("kubelet.sock");
        let s = fake::FakeServer::start(&sock).unwrap();
        s.set(api::ListPodResourcesResponse {
            pod_resources: vec![pod(
                "a",
                "p",
                vec![dra_container("c", &[("a", "cl", &["fakegpu.io/vgpu=x"])])],
            )],
        });
        let m = consumers(&sock, Duration::from_secs(5)).unwrap();
        assert_eq!(m["x"], vec![who("a", "p", "c")]);
        drop(s);
        let _ = std::fs::remove_dir_all(&d);
    }
}
