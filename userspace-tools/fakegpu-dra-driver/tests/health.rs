//! Health: the driver reads a kernel log (a file standing in for
//! /dev/kmsg); an Xid the driver reports as fatal taints the GPU's device
//! in the published ResourceSlice, an application Xid does not, and the
//! recovery report removes the taint. Every slice the fake API server
//! received validates against the 1.37 schema (strict) where the tool is
//! there.

mod common;

use std::io::Write;
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::{files_in, tmpdir, validate_strict, Kernel};
use fakegpu_dra_driver::backend::Backend;
use fakegpu_dra_driver::driver::Driver;
use fakegpu_dra_driver::fake_apiserver::FakeApiServer;
use fakegpu_dra_driver::kubeapi::Kube;
use fakegpu_dra_driver::state::Checkpoint;
use fakegpu_dra_driver::{server, DRIVER_NAME};
use serde_json::Value;

const NODE: &str = "node-1";
const SLICE: &str = "/apis/resource.k8s.io/v1/resourceslices/node-1-gpu-fakegpu-io";

fn append(path: &std::path::Path, line: &str) {
    let mut f = std::fs::OpenOptions::new().append(true).open(path).unwrap();
    writeln!(f, "{line}").unwrap();
}

/// Waits until the stored slice satisfies `f`; the slice.
async fn wait_slice(api: &FakeApiServer, what: &str, f: impl Fn(&Value) -> bool) -> Value {
    let t0 = Instant::now();
    loop {
        if let Some(s) = api.get(SLICE) {
            if f(&s) {
                return s;
            }
        }
        assert!(
            t0.elapsed() < Duration::from_secs(10),
            "{what}: slice now {:#?}",
            api.get(SLICE)
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn taints(s: &Value, dev: usize) -> Value {
    s["spec"]["devices"][dev]
        .get("taints")
        .cloned()
        .unwrap_or(Value::Null)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fatal_xid_taints_the_device_and_recovery_clears_it() {
    let tmp = tmpdir("health");
    let kernel = Arc::new(Kernel::new(&tmp, 2));
    let api = FakeApiServer::start("127.0.0.1:0", Some(tmp.join("received")))
        .await
        .unwrap();
    api.insert(
        "/api/v1/nodes",
        &serde_json::json!({"apiVersion": "v1", "kind": "Node", "metadata": {"name": NODE}}),
    );
    let kube = Kube::connect(Some(&api.url())).await.unwrap();
    let kmsg = tmp.join("kmsg");
    std::fs::write(&kmsg, "6,1,1,-;nvsim: loaded\n").unwrap();
    let be: Arc<dyn Backend> = kernel.clone();
    let state = Checkpoint::load(&tmp.join("state/checkpoint.json")).unwrap();
    let driver =
        Arc::new(Driver::new(be, kube, DRIVER_NAME, NODE, state).with_kmsg(Some(kmsg.clone())));
    let opts = server::Options {
        registry_dir: tmp.join("plugins_registry"),
        plugin_dir: tmp.join("plugins").join(DRIVER_NAME),
        // Long: a taint must be published because health changed, not
        // because the interval came round.
        publish_interval: Duration::from_secs(600),
    };
    let (stop, rx) = tokio::sync::watch::channel(false);
    let task = tokio::spawn(server::run(driver.clone(), opts, rx));

    let s = wait_slice(&api, "first publish", |s| {
        s["spec"]["devices"]
            .as_array()
            .is_some_and(|d| d.len() == 2)
    })
    .await;
    assert_eq!(taints(&s, 0), Value::Null);
    assert_eq!(taints(&s, 1), Value::Null);
    let g0 = s["spec"]["pool"]["generation"].as_i64().unwrap();

    // An application's Xid on GPU 1 (bus 2 in the stand-in): no taint.
    append(
        &kmsg,
        "4,2,2,-;NVRM: Xid (PCI:0000:02:00): 13, pid=77, name=app, Graphics SM Warp Exception",
    );
    // Xid 79 on GPU 1, as the driver reports it.
    append(&kmsg, "3,3,3,-;NVRM: Xid (PCI:0000:02:00): 79, pid='<unknown>', name=<unknown>, GPU has fallen off the bus.");
    append(&kmsg, "3,4,4,-;NVRM: Xid (PCI:0000:02:00): 154, GPU recovery action changed from 0x0 (None) to 0x1 (GPU Reset Required)");
    let s = wait_slice(&api, "taint", |s| taints(s, 1) != Value::Null).await;
    assert_eq!(
        taints(&s, 1),
        serde_json::json!([{"key": "gpu.fakegpu.io/xid", "value": "79", "effect": "NoSchedule"}])
    );
    assert_eq!(taints(&s, 0), Value::Null, "GPU 0 is fine");
    assert!(s["spec"]["pool"]["generation"].as_i64().unwrap() > g0);

    // Recovery.
    append(&kmsg, "3,5,5,-;NVRM: Xid (PCI:0000:02:00): 154, GPU recovery action changed from 0x1 (GPU Reset Required) to 0x0 (None)");
    let s = wait_slice(&api, "untaint", |s| {
        s["spec"]["devices"][1].get("taints").is_none()
    })
    .await;
    assert_eq!(taints(&s, 0), Value::Null);

    let _ = stop.send(true);
    task.await.unwrap().unwrap();
    let slices: Vec<_> = files_in(&tmp.join("received"))
        .into_iter()
        .filter(|p| p.to_string_lossy().contains("ResourceSlice"))
        .collect();
    assert!(slices.len() >= 3, "create, taint, untaint: {slices:?}");
    validate_strict(&slices);
    let _ = std::fs::remove_dir_all(&tmp);
}
