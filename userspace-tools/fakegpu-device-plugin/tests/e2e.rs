//! The plugin and the fake kubelet in one process, over real unix sockets in
//! a temporary directory, with the in-memory host standing in for the module
//! (the guest test tests/guest/55-device-plugin.sh does the same against
//! the real module).

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use fakegpu_device_plugin::backend::{Backend, Memory};
use fakegpu_device_plugin::config::Config;
use fakegpu_device_plugin::fake_kubelet::{self as fk, FakeKubelet};
use fakegpu_device_plugin::plugin::Shared;
use fakegpu_device_plugin::{reconcile, server};

const CONFIG: &str = r#"
[[profile]]
name = "vgpu-1gi"
gpu = 0
mem = "1Gi"
count = 2

[[profile]]
name = "vgpu-2gi"
gpu = 1
mem = "2Gi"
compute = 50
count = 1
"#;

const R1: &str = "fakegpu.io/vgpu-1gi";
const R2: &str = "fakegpu.io/vgpu-2gi";
const T: Duration = Duration::from_secs(10);

struct Env {
    tmp: PathBuf,
    dir: PathBuf,
    state: PathBuf,
    podres: PathBuf,
    mem: Arc<Memory>,
    stop: tokio::sync::watch::Sender<bool>,
    plugin: tokio::task::JoinHandle<std::io::Result<()>>,
}

impl Env {
    fn kubelet_opts(&self, pod_resources: bool) -> fk::Options {
        fk::Options {
            dir: self.dir.clone(),
            state: self.state.clone(),
            pod_resources_socket: pod_resources.then(|| self.podres.clone()),
            keep_plugin_sockets: false,
        }
    }
    async fn allocate(&self, r: &str, ids: &[&str], pod: Option<&str>) -> Result<String, String> {
        let ids: Vec<String> = ids.iter().map(|s| s.to_string()).collect();
        fk::allocate(&self.dir, &self.state, r, &ids, pod)
            .await
            .map(|r| fk::format_response(&r))
    }
    async fn shutdown(self) {
        let _ = self.stop.send(true);
        let _ = tokio::time::timeout(T, self.plugin).await;
        let _ = std::fs::remove_dir_all(&self.tmp);
    }
}

fn tmpdir(tag: &str) -> PathBuf {
    let p = std::env::temp_dir().join(format!("fgdp-{tag}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&p);
    std::fs::create_dir_all(&p).unwrap();
    p
}

/// Starts the plugin (not the kubelet) with short intervals.
fn start_plugin(tag: &str, grace: Duration) -> Env {
    let tmp = tmpdir(tag);
    let dir = tmp.join("device-plugins");
    let state = tmp.join("state");
    let podres = tmp.join("pod-resources").join("kubelet.sock");
    let mem = Arc::new(Memory::new(&[0, 1]));
    std::fs::write(tmp.join("kmsg"), "6,1,1,-;nvsim: loaded\n").unwrap();
    let backend: Arc<dyn Backend> = mem.clone();
    let shared = Shared::new(Config::parse(CONFIG).unwrap(), backend);
    let opts = server::Options {
        kubelet_dir: dir.clone(),
        health_interval: Duration::from_millis(50),
        watch_interval: Duration::from_millis(50),
        kmsg: Some(tmp.join("kmsg")),
    };
    let rec = reconcile::Options {
        pod_resources_socket: podres.clone(),
        interval: Duration::from_millis(100),
        grace,
    };
    let (stop, rx) = tokio::sync::watch::channel(false);
    let plugin = tokio::spawn(server::run(shared, opts, Some(rec), rx));
    Env {
        tmp,
        dir,
        state,
        podres,
        mem,
        stop,
        plugin,
    }
}

async fn wait(what: &str, cond: impl FnMut() -> bool) {
    assert!(fk::wait_for(T, cond).await, "timed out waiting for: {what}");
}

fn ids(state: &Path, r: &str) -> Vec<(String, String)> {
    fk::devices(state, r)
}

fn healthy(v: &[&str]) -> Vec<(String, String)> {
    v.iter()
        .map(|i| (i.to_string(), "Healthy".to_string()))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn registers_lists_and_allocates() {
    let e = start_plugin("alloc", Duration::from_secs(600));
    let k = FakeKubelet::start(e.kubelet_opts(true)).await.unwrap();
    wait("both resources registered", || {
        fk::registrations(&e.state, R1) == 1 && fk::registrations(&e.state, R2) == 1
    })
    .await;
    assert_eq!(fk::endpoint(&e.state, R1).unwrap(), "fakegpu-vgpu-1gi.sock");
    wait("device lists", || {
        ids(&e.state, R1).len() == 2 && ids(&e.state, R2).len() == 1
    })
    .await;
    assert_eq!(ids(&e.state, R1), healthy(&["vgpu-1gi-0", "vgpu-1gi-1"]));
    assert_eq!(ids(&e.state, R2), healthy(&["vgpu-2gi-0"]));
    wait("options", || fk::options(&e.state, R1).is_some()).await;
    assert_eq!(
        fk::options(&e.state, R1).unwrap(),
        "pre_start_required=false get_preferred_allocation_available=true"
    );

    let out = e.allocate(R1, &["vgpu-1gi-1"], Some("p1")).await.unwrap();
    let want = "cdi fakegpu.io/vgpu=k8s-vgpu-1gi-1
device /dev/nvidiactl /dev/fakegpu/k8s-vgpu-1gi-1/nvidiactl rw
device /dev/nvidia0 /dev/fakegpu/k8s-vgpu-1gi-1/nvidia0 rw
device /dev/nvidia-uvm /dev/fakegpu/k8s-vgpu-1gi-1/nvidia-uvm rw
env FAKEGPU_CONTEXT=k8s-vgpu-1gi-1
env FAKEGPU_MEM_LIMIT_BYTES=1073741824
env NVIDIA_VISIBLE_DEVICES=void
";
    assert_eq!(out, want);
    e.mem.with(|s| {
        let c = &s.contexts["k8s-vgpu-1gi-1"];
        assert_eq!(
            (c.gpu, c.mem_bytes, c.compute_pct, c.cdi),
            (0, 1 << 30, None, true)
        );
        assert_eq!(
            s.log,
            [
                "create k8s-vgpu-1gi-1 gpus=0 mem=1073741824",
                "write_cdi k8s-vgpu-1gi-1"
            ]
        );
    });

    // The profile's GPU and compute limit go to the context.
    let out = e.allocate(R2, &["vgpu-2gi-0"], None).await.unwrap();
    assert!(out.contains("env FAKEGPU_COMPUTE_PCT=50\n"), "{out}");
    e.mem
        .with(|s| assert_eq!(s.contexts["k8s-vgpu-2gi-0"].gpu, 1));

    // A retry (or a re-allocation) replaces the context with a fresh one.
    e.mem.with(|s| s.log.clear());
    e.allocate(R1, &["vgpu-1gi-1"], None).await.unwrap();
    e.mem.with(|s| {
        assert_eq!(
            s.log,
            [
                "destroy k8s-vgpu-1gi-1",
                "create k8s-vgpu-1gi-1 gpus=0 mem=1073741824",
                "write_cdi k8s-vgpu-1gi-1"
            ]
        );
    });

    // Refused before anything is created.
    e.mem.with(|s| s.log.clear());
    let err = e
        .allocate(R1, &["vgpu-1gi-0", "vgpu-1gi-1"], None)
        .await
        .unwrap_err();
    assert!(err.contains("exactly one"), "{err}");
    let err = e.allocate(R1, &["vgpu-2gi-0"], None).await.unwrap_err();
    assert!(err.contains("unknown device ID"), "{err}");
    e.mem.with(|s| assert!(s.log.is_empty(), "{:?}", s.log));

    // A failing create is the kubelet's error, and nothing is left.
    e.mem.with(|s| s.gpus = vec![1]);
    let err = e.allocate(R1, &["vgpu-1gi-0"], None).await.unwrap_err();
    assert!(
        err.contains("cannot create context k8s-vgpu-1gi-0"),
        "{err}"
    );
    e.mem
        .with(|s| assert!(!s.contexts.contains_key("k8s-vgpu-1gi-0")));
    e.mem.with(|s| s.gpus = vec![0, 1]);

    // Preferred allocation: IDs without a context first.
    let avail = vec!["vgpu-1gi-1".to_string(), "vgpu-1gi-0".to_string()];
    let p = fk::preferred(&e.dir, &e.state, R1, &avail, &[], 1)
        .await
        .unwrap();
    assert_eq!(p, ["vgpu-1gi-0"]);
    let p = fk::preferred(&e.dir, &e.state, R1, &avail, &["vgpu-1gi-1".to_string()], 1)
        .await
        .unwrap();
    assert_eq!(p, ["vgpu-1gi-1"]);

    // Stopping the plugin leaves the contexts to their pods.
    k.stop().await;
    let mem = e.mem.clone();
    let dir = e.dir.clone();
    e.shutdown().await;
    mem.with(|s| assert!(s.contexts.contains_key("k8s-vgpu-1gi-1")));
    assert!(!dir.join("fakegpu-vgpu-1gi.sock").exists());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn health_follows_module_and_gpu() {
    let e = start_plugin("health", Duration::from_secs(600));
    let k = FakeKubelet::start(e.kubelet_opts(false)).await.unwrap();
    wait("devices", || {
        ids(&e.state, R1) == healthy(&["vgpu-1gi-0", "vgpu-1gi-1"])
    })
    .await;
    let all = |st: &Path, r: &str, h: &str| {
        let d = ids(st, r);
        !d.is_empty() && d.iter().all(|(_, x)| x == h)
    };
    // GPU 1 goes away: only the profile on it turns unhealthy.
    e.mem.with(|s| s.gpus = vec![0]);
    wait("vgpu-2gi unhealthy", || all(&e.state, R2, "Unhealthy")).await;
    assert!(all(&e.state, R1, "Healthy"));
    // The module is unloaded: everything is unhealthy.
    e.mem.with(|s| s.loaded = false);
    wait("vgpu-1gi unhealthy", || all(&e.state, R1, "Unhealthy")).await;
    // And back.
    e.mem.with(|s| {
        s.loaded = true;
        s.gpus = vec![0, 1];
    });
    wait("all healthy again", || {
        all(&e.state, R1, "Healthy") && all(&e.state, R2, "Healthy")
    })
    .await;
    k.stop().await;
    e.shutdown().await;
}

fn append(path: &Path, line: &str) {
    use std::io::Write;
    let mut f = std::fs::OpenOptions::new().append(true).open(path).unwrap();
    writeln!(f, "{line}").unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn health_follows_xids() {
    let e = start_plugin("xid", Duration::from_secs(600));
    let k = FakeKubelet::start(e.kubelet_opts(false)).await.unwrap();
    let all = |st: &Path, r: &str, h: &str| {
        let d = ids(st, r);
        !d.is_empty() && d.iter().all(|(_, x)| x == h)
    };
    wait("devices", || {
        all(&e.state, R1, "Healthy") && all(&e.state, R2, "Healthy")
    })
    .await;
    let kmsg = e.tmp.join("kmsg");
    // An application's Xid on GPU 1 (bus 2 in the stand-in): still healthy.
    append(
        &kmsg,
        "4,2,2,-;NVRM: Xid (PCI:0000:02:00): 31, pid=9, name=app, MMU Fault",
    );
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(all(&e.state, R2, "Healthy"), "Xid 31 is an application's");
    // A fatal one: only the profile on GPU 1 turns unhealthy.
    append(&kmsg, "3,3,3,-;NVRM: Xid (PCI:0000:02:00): 79, pid='<unknown>', name=<unknown>, GPU has fallen off the bus.");
    wait("vgpu-2gi unhealthy", || all(&e.state, R2, "Unhealthy")).await;
    assert!(all(&e.state, R1, "Healthy"));
    // Recovery.
    append(&kmsg, "3,4,4,-;NVRM: Xid (PCI:0000:02:00): 154, GPU recovery action changed from 0x1 (GPU Reset Required) to 0x0 (None)");
    wait("vgpu-2gi healthy again", || all(&e.state, R2, "Healthy")).await;
    k.stop().await;
    e.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn registers_again_after_kubelet_restart() {
    // The plugin starts first and waits for the kubelet.
    let e = start_plugin("restart", Duration::from_secs(600));
    wait("plugin socket", || {
        e.dir.join("fakegpu-vgpu-1gi.sock").exists()
    })
    .await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(fk::registrations(&e.state, R1), 0);
    let k = FakeKubelet::start(e.kubelet_opts(true)).await.unwrap();
    wait("registered once", || {
        fk::registrations(&e.state, R1) == 1 && fk::registrations(&e.state, R2) == 1
    })
    .await;
    e.allocate(R1, &["vgpu-1gi-0"], Some("p1")).await.unwrap();

    // The kubelet restarts: it stops, and on start removes every socket in
    // the directory (the plugins' too) and makes a new kubelet.sock.
    k.stop().await;
    std::fs::remove_dir_all(e.state.join("devices")).unwrap();
    let k = FakeKubelet::start(e.kubelet_opts(true)).await.unwrap();
    wait("registered again", || {
        fk::registrations(&e.state, R1) == 2 && fk::registrations(&e.state, R2) == 2
    })
    .await;
    wait("device list again", || ids(&e.state, R1).len() == 2).await;
    assert!(e.dir.join("fakegpu-vgpu-1gi.sock").exists());
    // The contexts survive the restart, and Allocate works on the new socket.
    e.mem
        .with(|s| assert!(s.contexts.contains_key("k8s-vgpu-1gi-0")));
    e.allocate(R1, &["vgpu-1gi-1"], Some("p2")).await.unwrap();

    // A restart that only re-creates kubelet.sock (the plugin's socket kept)
    // is noticed too.
    k.stop().await;
    let ino = |p: &Path| std::os::unix::fs::MetadataExt::ino(&std::fs::metadata(p).unwrap());
    let before = ino(&e.dir.join("fakegpu-vgpu-1gi.sock"));
    let k = FakeKubelet::start(fk::Options {
        keep_plugin_sockets: true,
        ..e.kubelet_opts(true)
    })
    .await
    .unwrap();
    wait("registered a third time", || {
        fk::registrations(&e.state, R1) == 3
    })
    .await;
    assert_eq!(
        ino(&e.dir.join("fakegpu-vgpu-1gi.sock")),
        before,
        "the plugin kept its socket"
    );
    k.stop().await;
    e.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn frees_contexts_no_pod_holds() {
    let e = start_plugin("free", Duration::from_millis(1000));
    let k = FakeKubelet::start(e.kubelet_opts(true)).await.unwrap();
    wait("registered", || {
        fk::registrations(&e.state, R1) == 1 && fk::registrations(&e.state, R2) == 1
    })
    .await;
    // A context nobody allocated through us, and one of another tool.
    let p = Config::parse(CONFIG).unwrap().profiles[0].clone();
    e.mem.create("k8s-vgpu-1gi-0", &p).unwrap();
    e.mem.create("mine", &p).unwrap();

    e.allocate(R1, &["vgpu-1gi-1"], Some("p1")).await.unwrap();
    e.allocate(R2, &["vgpu-2gi-0"], Some("p2")).await.unwrap();
    // The stray k8s- context of a configured device is freed after the
    // grace; the held ones and "mine" stay.
    let has = |n: &str| e.mem.exists(n);
    wait("stray context freed", || !has("k8s-vgpu-1gi-0")).await;
    tokio::time::sleep(Duration::from_millis(600)).await;
    assert!(has("k8s-vgpu-1gi-1") && has("k8s-vgpu-2gi-0") && has("mine"));

    // Pod p1 goes, but a process still has the context open: kept.
    e.mem
        .with(|s| s.contexts.get_mut("k8s-vgpu-1gi-1").unwrap().open_files = 2);
    fk::delete_pod(&e.state, "p1").unwrap();
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert!(has("k8s-vgpu-1gi-1"));
    // The files close: freed, its CDI spec with it.
    e.mem
        .with(|s| s.contexts.get_mut("k8s-vgpu-1gi-1").unwrap().open_files = 0);
    wait("k8s-vgpu-1gi-1 freed", || !has("k8s-vgpu-1gi-1")).await;
    e.mem
        .with(|s| assert!(s.log.iter().any(|l| l == "remove_cdi k8s-vgpu-1gi-1")));
    assert!(has("k8s-vgpu-2gi-0") && has("mine"));

    // Without the pod-resources API nothing is freed.
    k.stop().await;
    let k = FakeKubelet::start(e.kubelet_opts(false)).await.unwrap();
    fk::delete_pod(&e.state, "p2").unwrap();
    tokio::time::sleep(Duration::from_millis(800)).await;
    assert!(has("k8s-vgpu-2gi-0"));
    k.stop().await;
    e.shutdown().await;
}
