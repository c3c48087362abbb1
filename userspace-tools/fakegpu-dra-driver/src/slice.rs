//! The ResourceSlice of a node, from its GPUs: one device per GPU, shared
//! by amount (`allowMultipleAllocations: true`), with two capacities:
//!
//! - `memory`: the card's memory in bytes; a claim asks for it in 256 MiB
//!   steps from 256 MiB; one that asks for none gets the whole card (rounded
//!   down to a step);
//! - `compute`: 100 (percent of the GPU's time); a claim asks for 1 % steps;
//!   one that asks for none gets 0, meaning no compute cap (its time is
//!   shared work-conservingly with the others).
//!
//! The scheduler rounds each request up by these policies and writes the
//! result into the claim's `consumedCapacity`, which [`crate::claim`] reads.
//!
//! A GPU a fatal Xid made unhealthy (docs/health.md) carries the taint
//! `gpu.fakegpu.io/xid=<Xid>:NoSchedule` (the `taints` of a v1 Device, beta
//! in 1.37 behind the DRADeviceTaints gate): the scheduler allocates it to
//! no new claim that does not tolerate the taint; running pods stay
//! (`NoExecute` would evict them).

use std::collections::BTreeMap;

use k8s_openapi::api::resource::v1::{
    CapacityRequestPolicy, CapacityRequestPolicyRange, Device, DeviceAttribute, DeviceCapacity,
    DeviceTaint, ResourcePool, ResourceSlice, ResourceSliceSpec,
};
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, OwnerReference};

use fakegpuctl::health::Xid;

use crate::backend::Inventory;
use crate::quantity::format_bytes;

/// The memory step (and minimum) of a request.
pub const MEMORY_STEP: u64 = 256 << 20;
/// The compute capacity: percent.
pub const COMPUTE_TOTAL: u64 = 100;

/// What a claim that asks for no memory gets: the card's memory, rounded
/// down to a step (the API server requires the default to be a multiple of
/// the step; a real H100 80GB has 81559 MiB, which is not).
pub fn memory_default(total: u64) -> u64 {
    (total / MEMORY_STEP * MEMORY_STEP).max(MEMORY_STEP)
}

/// The device name of GPU `index`.
pub fn device_name(index: u32) -> String {
    format!("gpu-{index}")
}

/// The GPU index of a device name ([`device_name`]'s inverse).
pub fn gpu_index(device: &str) -> Option<u32> {
    let n = device.strip_prefix("gpu-")?;
    if n.is_empty() || (n.len() > 1 && n.starts_with('0')) {
        return None;
    }
    n.parse().ok()
}

/// The slice's name: the node's name and the driver's, as a DNS subdomain.
pub fn slice_name(node: &str, driver: &str) -> String {
    format!("{node}-{}", driver.replace('.', "-"))
}

/// The driver branch of a version (`580.159.04` -> `580`).
pub fn driver_branch(version: &str) -> &str {
    version.split('.').next().unwrap_or(version)
}

fn string(s: &str) -> DeviceAttribute {
    DeviceAttribute {
        string: Some(s.to_string()),
        ..Default::default()
    }
}

/// The node the slice belongs to (for its owner reference: the slice goes
/// when the node object goes).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct NodeRef {
    pub name: String,
    /// The Node object's UID; empty: no owner reference.
    pub uid: String,
}

/// The taint key of an unhealthy GPU; its value is the Xid.
pub const TAINT_KEY: &str = "gpu.fakegpu.io/xid";
/// The taint's effect.
pub const TAINT_EFFECT: &str = "NoSchedule";

/// The taint of a GPU the Xid `x` made unhealthy.
pub fn taint(x: &Xid) -> DeviceTaint {
    DeviceTaint {
        key: TAINT_KEY.to_string(),
        value: Some(x.xid.to_string()),
        effect: TAINT_EFFECT.to_string(),
        // The API server sets it.
        time_added: None,
    }
}

/// The slice for `node`, pool generation `generation`, all GPUs healthy.
pub fn build(driver: &str, node: &NodeRef, inv: &Inventory, generation: i64) -> ResourceSlice {
    build_with_taints(driver, node, inv, generation, &BTreeMap::new())
}

/// The slice for `node`, pool generation `generation`; the GPUs in
/// `unhealthy` (by index) tainted with their Xid.
pub fn build_with_taints(
    driver: &str,
    node: &NodeRef,
    inv: &Inventory,
    generation: i64,
    unhealthy: &BTreeMap<u32, Xid>,
) -> ResourceSlice {
    let devices = inv
        .gpus
        .iter()
        .map(|g| {
            let mut attributes = BTreeMap::new();
            attributes.insert(
                "index".to_string(),
                DeviceAttribute {
                    int: Some(i64::from(g.index)),
                    ..Default::default()
                },
            );
            attributes.insert("uuid".to_string(), string(&g.uuid));
            attributes.insert("productName".to_string(), string(&g.name));
            attributes.insert("driverVersion".to_string(), string(&inv.driver_version));
            attributes.insert(
                "driverBranch".to_string(),
                string(driver_branch(&inv.driver_version)),
            );
            attributes.insert("moduleVersion".to_string(), string(&inv.module_version));
            let mut capacity = BTreeMap::new();
            capacity.insert(
                "memory".to_string(),
                DeviceCapacity {
                    value: Quantity(format_bytes(g.mem_total_bytes)),
                    request_policy: Some(CapacityRequestPolicy {
                        default: Some(Quantity(format_bytes(memory_default(g.mem_total_bytes)))),
                        valid_range: Some(CapacityRequestPolicyRange {
                            min: Quantity(format_bytes(MEMORY_STEP)),
                            max: None,
                            step: Some(Quantity(format_bytes(MEMORY_STEP))),
                        }),
                        valid_values: None,
                    }),
                },
            );
            capacity.insert(
                "compute".to_string(),
                DeviceCapacity {
                    value: Quantity(COMPUTE_TOTAL.to_string()),
                    request_policy: Some(CapacityRequestPolicy {
                        default: Some(Quantity("0".into())),
                        valid_range: Some(CapacityRequestPolicyRange {
                            min: Quantity("0".into()),
                            max: None,
                            step: Some(Quantity("1".into())),
                        }),
                        valid_values: None,
                    }),
                },
            );
            Device {
                name: device_name(g.index),
                allow_multiple_allocations: Some(true),
                attributes: Some(attributes),
                capacity: Some(capacity),
                taints: unhealthy.get(&g.index).map(|x| vec![taint(x)]),
                ..Default::default()
            }
        })
        .collect();
    let owner_references = (!node.uid.is_empty()).then(|| {
        vec![OwnerReference {
            api_version: "v1".into(),
            kind: "Node".into(),
            name: node.name.clone(),
            uid: node.uid.clone(),
            controller: Some(true),
            block_owner_deletion: None,
        }]
    });
    ResourceSlice {
        metadata: ObjectMeta {
            name: Some(slice_name(&node.name, driver)),
            owner_references,
            ..Default::default()
        },
        spec: ResourceSliceSpec {
            driver: driver.to_string(),
            node_name: Some(node.name.clone()),
            pool: ResourcePool {
                name: node.name.clone(),
                generation,
                resource_slice_count: 1,
            },
            devices: Some(devices),
            ..Default::default()
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use fakegpuctl::gpus::GpuInfo;

    #[test]
    fn names() {
        assert_eq!(device_name(3), "gpu-3");
        assert_eq!(gpu_index("gpu-3"), Some(3));
        assert_eq!(gpu_index("gpu-03"), None);
        assert_eq!(gpu_index("gpu-"), None);
        assert_eq!(gpu_index("mig-1"), None);
        assert_eq!(
            slice_name("node-1", "gpu.fakegpu.io"),
            "node-1-gpu-fakegpu-io"
        );
        assert_eq!(driver_branch("580.159.04"), "580");
        // The H100's 81559 MiB (measured, tests/fidelity) to 318 steps.
        assert_eq!(memory_default(85520809984), 81408 << 20);
        assert_eq!(memory_default(16 << 30), 16 << 30);
    }

    #[test]
    fn one_device_per_gpu_with_capacities() {
        let inv = Inventory {
            driver_version: "580.159.04".into(),
            module_version: "0.1.0".into(),
            gpus: vec![GpuInfo {
                index: 0,
                name: "NVIDIA H100 80GB HBM3".into(),
                uuid: "GPU-x".into(),
                mem_total_bytes: 80 << 30,
                ..Default::default()
            }],
        };
        let s = build(
            "gpu.fakegpu.io",
            &NodeRef {
                name: "n1".into(),
                uid: "u1".into(),
            },
            &inv,
            3,
        );
        let v = serde_json::to_value(&s).unwrap();
        assert_eq!(v["metadata"]["name"], "n1-gpu-fakegpu-io");
        assert_eq!(v["metadata"]["ownerReferences"][0]["uid"], "u1");
        assert_eq!(v["spec"]["pool"]["generation"], 3);
        let d = &v["spec"]["devices"][0];
        assert_eq!(d["name"], "gpu-0");
        assert_eq!(d["allowMultipleAllocations"], true);
        assert_eq!(d["attributes"]["index"]["int"], 0);
        assert_eq!(d["attributes"]["driverBranch"]["string"], "580");
        assert_eq!(d["capacity"]["memory"]["value"], "80Gi");
        assert_eq!(
            d["capacity"]["memory"]["requestPolicy"]["validRange"]["step"],
            "256Mi"
        );
        assert_eq!(d["capacity"]["compute"]["value"], "100");
        assert!(d.get("taints").is_none(), "healthy: no taints");
    }

    #[test]
    fn unhealthy_gpu_is_tainted() {
        let g = |i: u32| GpuInfo {
            index: i,
            name: "NVIDIA H100 80GB HBM3".into(),
            uuid: format!("GPU-{i}"),
            mem_total_bytes: 80 << 30,
            pci_bus: 0x10 + i as u8,
            ..Default::default()
        };
        let inv = Inventory {
            driver_version: "580.159.04".into(),
            module_version: "0.1.0".into(),
            gpus: vec![g(0), g(1)],
        };
        let x = fakegpuctl::health::parse_line(
            "NVRM: Xid (PCI:0000:11:00): 79, pid='<unknown>', name=<unknown>, GPU has fallen off the bus.",
        )
        .unwrap();
        let bad: BTreeMap<u32, Xid> = [(1, x)].into_iter().collect();
        let node = NodeRef {
            name: "n1".into(),
            uid: String::new(),
        };
        let v = serde_json::to_value(build_with_taints("gpu.fakegpu.io", &node, &inv, 1, &bad))
            .unwrap();
        assert!(v["spec"]["devices"][0].get("taints").is_none());
        assert_eq!(
            v["spec"]["devices"][1]["taints"],
            serde_json::json!([{"key": "gpu.fakegpu.io/xid", "value": "79", "effect": "NoSchedule"}])
        );
        assert_ne!(
            build_with_taints("gpu.fakegpu.io", &node, &inv, 1, &bad).spec,
            build("gpu.fakegpu.io", &node, &inv, 1).spec,
            "a taint changes the spec, so publish replaces the slice"
        );
    }
}
