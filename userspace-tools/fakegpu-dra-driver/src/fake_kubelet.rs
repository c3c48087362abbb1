//! A kubelet (and scheduler) stand-in for the tests, in-process or behind
//! `fakegpu-dra-driver fake-kubelet ...`:
//!
//! - [`register`]: what the kubelet's plugin watcher does: finds the
//!   driver's registration socket, asks GetInfo, checks the answer (type
//!   `DRAPlugin`, the driver's name, `v1.DRAPlugin` among the versions, an
//!   endpoint that answers), and reports NotifyRegistrationStatus;
//! - [`prepare`] and [`unprepare`]: the DRA calls;
//! - [`allocate`]: the scheduler's part, against the API server: creates a
//!   ResourceClaim asking for `capacity.requests`, reads the node's
//!   ResourceSlice, rounds each request up by the device's request policy
//!   (or takes its default) as the scheduler does, and writes
//!   `status.allocation` (results with `consumedCapacity` and a `shareID`,
//!   the node selector) through the status subresource. It does not check
//!   what other claims consume (the scheduler's fit check): tests use that
//!   to write claims past the card.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use k8s_openapi::api::core::v1::{NodeSelector, NodeSelectorRequirement, NodeSelectorTerm};
use k8s_openapi::api::resource::v1::{
    AllocationResult, CapacityRequirements, DeviceAllocationResult, DeviceClaim, DeviceRequest,
    DeviceRequestAllocationResult, ExactDeviceRequest, ResourceClaim, ResourceClaimSpec,
    ResourceClaimStatus, ResourceSlice,
};
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;

use crate::api::dra::dra_plugin_client::DraPluginClient;
use crate::api::dra::{
    Claim, NodePrepareResourceResponse, NodePrepareResourcesRequest, NodeUnprepareResourcesRequest,
};
use crate::api::registration::registration_client::RegistrationClient;
use crate::api::registration::{InfoRequest, PluginInfo, RegistrationStatus};
use crate::kubeapi::{self, Kube};
use crate::quantity;
use crate::uds;
use crate::{DRA_SERVICE, PLUGIN_TYPE};

/// Polls `cond` every 50 ms until it holds or `timeout` passes.
pub async fn wait_for(timeout: Duration, mut cond: impl FnMut() -> bool) -> bool {
    let end = Instant::now() + timeout;
    loop {
        if cond() {
            return true;
        }
        if Instant::now() > end {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Registers the driver found in `registry_dir` as `<driver>-reg.sock`,
/// waiting up to `timeout` for the socket. Returns its PluginInfo.
pub async fn register(
    registry_dir: &Path,
    driver: &str,
    timeout: Duration,
) -> Result<PluginInfo, String> {
    let sock = registry_dir.join(format!("{driver}-reg.sock"));
    let end = Instant::now() + timeout;
    let ch = loop {
        match uds::connect(&sock).await {
            Ok(c) => break c,
            Err(e) if Instant::now() > end => {
                return Err(format!("no registration socket {}: {e}", sock.display()))
            }
            Err(_) => tokio::time::sleep(Duration::from_millis(100)).await,
        }
    };
    let mut reg = RegistrationClient::new(ch);
    let info = reg
        .get_info(InfoRequest {})
        .await
        .map_err(|e| format!("GetInfo: {e}"))?
        .into_inner();
    let check = || -> Result<(), String> {
        if info.r#type != PLUGIN_TYPE {
            return Err(format!(
                "plugin type '{}', expected {PLUGIN_TYPE}",
                info.r#type
            ));
        }
        if info.name != driver {
            return Err(format!("plugin name '{}', expected {driver}", info.name));
        }
        if !info.supported_versions.iter().any(|v| v == DRA_SERVICE) {
            return Err(format!(
                "versions {:?} do not include {DRA_SERVICE}",
                info.supported_versions
            ));
        }
        Ok(())
    };
    let mut result = check();
    if result.is_ok() {
        result = uds::connect(Path::new(&info.endpoint))
            .await
            .map(|_| ())
            .map_err(|e| format!("endpoint {}: {e}", info.endpoint));
    }
    reg.notify_registration_status(RegistrationStatus {
        plugin_registered: result.is_ok(),
        error: result.clone().err().unwrap_or_default(),
    })
    .await
    .map_err(|e| format!("NotifyRegistrationStatus: {e}"))?;
    result.map(|_| info)
}

/// A claim as the kubelet names it in DRA calls.
pub fn claim_ref(namespace: &str, name: &str, uid: &str) -> Claim {
    Claim {
        namespace: namespace.into(),
        uid: uid.into(),
        name: name.into(),
    }
}

async fn client(endpoint: &Path) -> Result<DraPluginClient<tonic::transport::Channel>, String> {
    uds::connect(endpoint)
        .await
        .map(DraPluginClient::new)
        .map_err(|e| format!("cannot connect to {}: {e}", endpoint.display()))
}

/// NodePrepareResources for `claims`; the per-claim answers by UID.
pub async fn prepare(
    endpoint: &Path,
    claims: &[Claim],
) -> Result<BTreeMap<String, NodePrepareResourceResponse>, String> {
    let r = client(endpoint)
        .await?
        .node_prepare_resources(NodePrepareResourcesRequest {
            claims: claims.to_vec(),
        })
        .await
        .map_err(|e| format!("NodePrepareResources: {e}"))?
        .into_inner();
    Ok(r.claims.into_iter().collect())
}

/// NodeUnprepareResources for `claims`; the per-claim errors by UID
/// (empty: done).
pub async fn unprepare(
    endpoint: &Path,
    claims: &[Claim],
) -> Result<BTreeMap<String, String>, String> {
    let r = client(endpoint)
        .await?
        .node_unprepare_resources(NodeUnprepareResourcesRequest {
            claims: claims.to_vec(),
        })
        .await
        .map_err(|e| format!("NodeUnprepareResources: {e}"))?
        .into_inner();
    Ok(r.claims.into_iter().map(|(k, v)| (k, v.error)).collect())
}

/// One request of a claim: a device of the class, with amounts.
#[derive(Clone, Debug, Default)]
pub struct Ask {
    /// The request's name.
    pub request: String,
    /// The device the "scheduler" picks (`gpu-N`).
    pub device: String,
    /// `capacity.requests.memory` (bytes), if asked.
    pub memory: Option<u64>,
    /// `capacity.requests.compute` (percent), if asked.
    pub compute: Option<u64>,
}

/// What the scheduler consumes of one capacity for a request of `asked`:
/// the default if none, else rounded up to `min + k * step`.
pub fn consumed(asked: Option<u64>, default: u64, min: u64, step: u64) -> u64 {
    match asked {
        None => default,
        Some(a) if a <= min => min,
        Some(a) if step == 0 => a,
        Some(a) => min + (a - min).div_ceil(step) * step,
    }
}

fn policy_of(slice: &ResourceSlice, device: &str, cap: &str) -> Result<(u64, u64, u64), String> {
    let d = slice
        .spec
        .devices
        .iter()
        .flatten()
        .find(|d| d.name == device)
        .ok_or_else(|| format!("no device {device} in the slice"))?;
    let c = d
        .capacity
        .as_ref()
        .and_then(|c| c.get(cap))
        .ok_or_else(|| format!("device {device} has no capacity {cap}"))?;
    let q = |x: &Quantity| quantity::parse(&x.0);
    let p = c.request_policy.as_ref();
    let value = q(&c.value)?;
    let default = p
        .and_then(|p| p.default.as_ref())
        .map(q)
        .transpose()?
        .unwrap_or(value);
    let range = p.and_then(|p| p.valid_range.as_ref());
    let min = range.map(|r| q(&r.min)).transpose()?.unwrap_or(0);
    let step = range
        .and_then(|r| r.step.as_ref())
        .map(q)
        .transpose()?
        .unwrap_or(0);
    Ok((default, min, step))
}

/// The claim the test's "user" writes: one request per ask, each for one
/// device of `device_class` with the ask's capacity requests.
pub fn claim_object(
    namespace: &str,
    name: &str,
    device_class: &str,
    asks: &[Ask],
) -> ResourceClaim {
    let requests = asks
        .iter()
        .map(|a| {
            let mut req = BTreeMap::new();
            if let Some(m) = a.memory {
                req.insert("memory".to_string(), Quantity(quantity::format_bytes(m)));
            }
            if let Some(c) = a.compute {
                req.insert("compute".to_string(), Quantity(c.to_string()));
            }
            DeviceRequest {
                name: a.request.clone(),
                exactly: Some(ExactDeviceRequest {
                    device_class_name: device_class.into(),
                    allocation_mode: Some("ExactCount".into()),
                    count: Some(1),
                    capacity: (!req.is_empty()).then_some(CapacityRequirements {
                        requests: Some(req),
                    }),
                    ..Default::default()
                }),
                ..Default::default()
            }
        })
        .collect();
    ResourceClaim {
        metadata: ObjectMeta {
            name: Some(name.into()),
            namespace: Some(namespace.into()),
            ..Default::default()
        },
        spec: Some(ResourceClaimSpec {
            devices: Some(DeviceClaim {
                requests: Some(requests),
                ..Default::default()
            }),
        }),
        status: None,
    }
}

/// Where the "scheduler" works.
pub struct Scheduler<'a> {
    pub kube: &'a Kube,
    pub driver: &'a str,
    pub node: &'a str,
    pub device_class: &'a str,
    /// Allocate a device the slice lacks too (its amounts taken as asked),
    /// as a claim written by hand past the scheduler would be.
    pub force: bool,
}

impl Scheduler<'_> {
    /// Creates claim `namespace/name` with `asks` and allocates it on the
    /// node as the scheduler would; returns the claim as stored (with its
    /// UID).
    pub async fn allocate(
        &self,
        namespace: &str,
        name: &str,
        asks: &[Ask],
    ) -> Result<ResourceClaim, String> {
        use kube::api::{Api, PostParams};
        let slices = Api::<ResourceSlice>::all(self.kube.client());
        let slice = slices
            .get(&crate::slice::slice_name(self.node, self.driver))
            .await
            .map_err(kubeapi::text)?;
        let mut results = Vec::new();
        for (i, a) in asks.iter().enumerate() {
            let known = slice
                .spec
                .devices
                .iter()
                .flatten()
                .any(|d| d.name == a.device);
            let ((dm, mm, sm), (dc, mc, sc)) = if !known && self.force {
                ((0, 0, 0), (0, 0, 0))
            } else {
                (
                    policy_of(&slice, &a.device, "memory")?,
                    policy_of(&slice, &a.device, "compute")?,
                )
            };
            let mut cc = BTreeMap::new();
            cc.insert(
                "memory".to_string(),
                Quantity(quantity::format_bytes(consumed(a.memory, dm, mm, sm))),
            );
            cc.insert(
                "compute".to_string(),
                Quantity(consumed(a.compute, dc, mc, sc).to_string()),
            );
            results.push(DeviceRequestAllocationResult {
                request: a.request.clone(),
                driver: self.driver.into(),
                pool: slice.spec.pool.name.clone(),
                device: a.device.clone(),
                consumed_capacity: Some(cc),
                share_id: Some(format!("5a1e{:04x}-0000-4000-8000-{:012x}", i, name.len())),
                ..Default::default()
            });
        }
        let claims = Api::<ResourceClaim>::namespaced(self.kube.client(), namespace);
        let mut c = claims
            .create(
                &PostParams::default(),
                &claim_object(namespace, name, self.device_class, asks),
            )
            .await
            .map_err(kubeapi::text)?;
        c.status = Some(ResourceClaimStatus {
            allocation: Some(AllocationResult {
                devices: Some(DeviceAllocationResult {
                    results: Some(results),
                    config: None,
                }),
                node_selector: Some(NodeSelector {
                    node_selector_terms: vec![NodeSelectorTerm {
                        match_fields: Some(vec![NodeSelectorRequirement {
                            key: "metadata.name".into(),
                            operator: "In".into(),
                            values: Some(vec![self.node.into()]),
                        }]),
                        ..Default::default()
                    }],
                }),
                ..Default::default()
            }),
            ..Default::default()
        });
        claims
            .replace_status(name, &PostParams::default(), &c)
            .await
            .map_err(kubeapi::text)
    }
}

/// The lines the CLI prints for a Prepare answer: `device POOL DEVICE
/// CDI-ID...` per device, or `error MESSAGE`.
pub fn format_prepare(r: &NodePrepareResourceResponse) -> String {
    if !r.error.is_empty() {
        return format!("error {}\n", r.error);
    }
    r.devices
        .iter()
        .map(|d| {
            format!(
                "device {} {} {}\n",
                d.pool_name,
                d.device_name,
                d.cdi_device_ids.join(" ")
            )
        })
        .collect()
}

/// The default registration directory of a test layout under `root`.
pub fn registry_dir(root: &Path) -> PathBuf {
    root.join("plugins_registry")
}

#[cfg(test)]
mod tests {
    use super::consumed;

    #[test]
    fn rounds_like_the_scheduler() {
        let (mi, gi) = (1u64 << 20, 1u64 << 30);
        assert_eq!(
            consumed(Some(12 * gi), 80 * gi, 256 * mi, 256 * mi),
            12 * gi
        );
        assert_eq!(
            consumed(Some(300 * mi), 80 * gi, 256 * mi, 256 * mi),
            512 * mi
        );
        assert_eq!(consumed(Some(mi), 80 * gi, 256 * mi, 256 * mi), 256 * mi);
        assert_eq!(consumed(None, 80 * gi, 256 * mi, 256 * mi), 80 * gi);
        assert_eq!(consumed(Some(25), 0, 0, 1), 25);
        assert_eq!(consumed(None, 0, 0, 1), 0);
    }
}
