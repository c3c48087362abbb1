//! A claim's allocation, as the scheduler wrote it, into the settings of
//! the claim's context: the GPUs of the results that are ours, the memory
//! cap (the sum of the results' consumed `memory`) and the compute limit
//! (their consumed `compute`, which must be the same on every GPU: the
//! kernel has one compute limit per context; 0 means no limit).

use k8s_openapi::api::resource::v1::ResourceClaim;

use crate::quantity;
use crate::slice::gpu_index;

/// One allocated device of the claim, as the response names it.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct AllocatedDevice {
    pub request: String,
    pub pool: String,
    pub device: String,
}

/// What the claim's context gets.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Plan {
    /// Host GPU indices, in the order of the results (no duplicates).
    pub gpus: Vec<u32>,
    /// Memory cap in bytes.
    pub mem_bytes: u64,
    /// Compute limit in percent; `None`: no limit.
    pub compute_pct: Option<u32>,
    /// The devices, one per result.
    pub devices: Vec<AllocatedDevice>,
}

/// Reads the claim's allocation for driver `driver` on pool `pool`.
pub fn plan(claim: &ResourceClaim, driver: &str, pool: &str) -> Result<Plan, String> {
    let alloc = claim
        .status
        .as_ref()
        .and_then(|s| s.allocation.as_ref())
        .ok_or("the claim is not allocated (no status.allocation)")?;
    let results = alloc
        .devices
        .as_ref()
        .and_then(|d| d.results.as_ref())
        .map(|r| r.as_slice())
        .unwrap_or_default();
    // Per GPU: (memory, compute), summed over the results naming it.
    let mut per_gpu: Vec<(u32, u64, u64)> = Vec::new();
    let mut devices = Vec::new();
    for r in results.iter().filter(|r| r.driver == driver) {
        if r.admin_access == Some(true) {
            return Err(format!(
                "device {} is allocated with adminAccess, which this driver does not support",
                r.device
            ));
        }
        if r.pool != pool {
            return Err(format!(
                "device {} is from pool '{}', not this node's pool '{pool}'",
                r.device, r.pool
            ));
        }
        let gpu = gpu_index(&r.device)
            .ok_or_else(|| format!("'{}' is not a device of this driver (gpu-N)", r.device))?;
        let consumed = r.consumed_capacity.as_ref().ok_or_else(|| {
            format!(
                "the result for device {} has no consumedCapacity: was the claim allocated by a \
                 scheduler without consumable capacity (DRAConsumableCapacity)?",
                r.device
            )
        })?;
        let get = |k: &str| -> Result<u64, String> {
            consumed
                .get(k)
                .map(|q| {
                    quantity::parse(&q.0)
                        .map_err(|e| format!("consumedCapacity.{k} of {}: {e}", r.device))
                })
                .transpose()
                .map(|v| v.unwrap_or(0))
        };
        let mem = get("memory")?;
        let compute = get("compute")?;
        if !consumed.contains_key("memory") {
            return Err(format!(
                "the result for device {} has no consumedCapacity.memory",
                r.device
            ));
        }
        match per_gpu.iter_mut().find(|(g, _, _)| *g == gpu) {
            Some(e) => {
                e.1 = e.1.saturating_add(mem);
                e.2 = e.2.saturating_add(compute);
            }
            None => per_gpu.push((gpu, mem, compute)),
        }
        devices.push(AllocatedDevice {
            request: r.request.clone(),
            pool: r.pool.clone(),
            device: r.device.clone(),
        });
    }
    if per_gpu.is_empty() {
        return Err(format!(
            "the claim has no device of driver {driver} allocated"
        ));
    }
    let compute = per_gpu[0].2;
    if per_gpu.iter().any(|(_, _, c)| *c != compute) {
        return Err(format!(
            "the claim's devices consume different compute amounts ({}): a context has one \
             compute limit for all its GPUs",
            per_gpu
                .iter()
                .map(|(g, _, c)| format!("gpu-{g}: {c}"))
                .collect::<Vec<_>>()
                .join(", ")
        ));
    }
    if compute > 100 {
        return Err(format!("compute {compute} is more than 100 percent"));
    }
    Ok(Plan {
        gpus: per_gpu.iter().map(|(g, _, _)| *g).collect(),
        mem_bytes: per_gpu
            .iter()
            .fold(0u64, |a, (_, m, _)| a.saturating_add(*m)),
        compute_pct: (compute > 0).then_some(compute as u32),
        devices,
    })
}

/// The context name of a claim: `dra-` and the last 28 hex digits of its
/// UID (the module allows 32 characters; a UID has 32 hex digits, the
/// first four dropped, which leaves about 106 random bits of a v4 UUID).
pub fn context_name(uid: &str) -> Result<String, String> {
    let hex: String = uid.chars().filter(|c| *c != '-').collect();
    if hex.len() < 28 || !hex.chars().all(|c| c.is_ascii_hexdigit()) {
        return Err(format!("claim UID '{uid}' is not a UUID"));
    }
    Ok(format!(
        "{}{}",
        crate::CONTEXT_PREFIX,
        hex[hex.len() - 28..].to_ascii_lowercase()
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn claim(results: serde_json::Value) -> ResourceClaim {
        serde_json::from_value(serde_json::json!({
            "apiVersion": "resource.k8s.io/v1",
            "kind": "ResourceClaim",
            "metadata": {"name": "c", "namespace": "n", "uid": "0b5e8d6c-4a57-4c69-9d47-6b2f3b7a9e11"},
            "spec": {},
            "status": {"allocation": {"devices": {"results": results}}}
        }))
        .unwrap()
    }

    fn r(dev: &str, mem: &str, compute: &str) -> serde_json::Value {
        serde_json::json!({
            "request": "gpu", "driver": "gpu.fakegpu.io", "pool": "n1", "device": dev,
            "consumedCapacity": {"memory": mem, "compute": compute}
        })
    }

    #[test]
    fn one_gpu() {
        let p = plan(
            &claim(serde_json::json!([r("gpu-0", "12Gi", "25")])),
            "gpu.fakegpu.io",
            "n1",
        )
        .unwrap();
        assert_eq!(
            (p.gpus, p.mem_bytes, p.compute_pct),
            (vec![0], 12 << 30, Some(25))
        );
        assert_eq!(p.devices[0].device, "gpu-0");
    }

    #[test]
    fn two_gpus_sum_memory_and_no_compute() {
        let p = plan(
            &claim(serde_json::json!([
                r("gpu-1", "8Gi", "0"),
                r("gpu-0", "4Gi", "0")
            ])),
            "gpu.fakegpu.io",
            "n1",
        )
        .unwrap();
        assert_eq!(
            (p.gpus, p.mem_bytes, p.compute_pct),
            (vec![1, 0], 12 << 30, None)
        );
    }

    #[test]
    fn refusals_say_why() {
        let e = |v| plan(&claim(v), "gpu.fakegpu.io", "n1").unwrap_err();
        assert!(e(serde_json::json!([])).contains("no device of driver"));
        assert!(e(serde_json::json!([
            r("gpu-0", "1Gi", "10"),
            r("gpu-1", "1Gi", "20")
        ]))
        .contains("different compute"));
        assert!(e(serde_json::json!([r("gpu-0", "1500m", "10")])).contains("not a whole number"));
        let mut other_pool = r("gpu-0", "1Gi", "1");
        other_pool["pool"] = "n2".into();
        assert!(e(serde_json::json!([other_pool])).contains("pool 'n2'"));
        let mut no_cc = r("gpu-0", "1Gi", "1");
        no_cc.as_object_mut().unwrap().remove("consumedCapacity");
        assert!(e(serde_json::json!([no_cc])).contains("DRAConsumableCapacity"));
        let mut unalloc = claim(serde_json::json!([]));
        unalloc.status = None;
        assert!(plan(&unalloc, "gpu.fakegpu.io", "n1")
            .unwrap_err()
            .contains("not allocated"));
    }

    #[test]
    fn context_names() {
        assert_eq!(
            context_name("0b5e8d6c-4a57-4c69-9d47-6b2f3b7a9e11").unwrap(),
            "dra-8d6c4a574c699d476b2f3b7a9e11"
        );
        assert_eq!(
            context_name("0b5e8d6c-4a57-4c69-9d47-6b2f3b7a9e11")
                .unwrap()
                .len(),
            32
        );
        assert!(context_name("x").is_err());
    }
}
