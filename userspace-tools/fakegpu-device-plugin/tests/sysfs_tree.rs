//! The plugin with the real backend (fakegpuctl's library) against a
//! stand-in sysfs tree in a temporary directory, driven by the fake kubelet.
//! A plain directory cannot play the kernel, so a thin wrapper does the
//! kernel's part right after each write to `create`/`destroy` (makes or
//! removes the context's directory, and its nodes as links to /dev/null,
//! which stat as character devices); everything else is fakegpuctl's code:
//! the create line, list, the context's attributes, the nodes, the CDI spec.

use std::fs;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use fakegpu_device_plugin::backend::{Backend, Fakegpuctl};
use fakegpu_device_plugin::config::{Config, Profile};
use fakegpu_device_plugin::fake_kubelet::{self as fk, FakeKubelet};
use fakegpu_device_plugin::plugin::Shared;
use fakegpu_device_plugin::{reconcile, server};

/// fakegpuctl on the tree, plus the kernel's side effects.
struct Kernel {
    real: Fakegpuctl,
    root: PathBuf,
    /// Every line written to `create` and `destroy`.
    writes: Mutex<Vec<String>>,
}

impl Kernel {
    fn sys(&self) -> PathBuf {
        self.root.join("sys")
    }
    fn take(&self, file: &str) -> String {
        let p = self.sys().join(file);
        let line = fs::read_to_string(&p).unwrap();
        fs::write(&p, "").unwrap();
        self.writes
            .lock()
            .unwrap()
            .push(format!("{file}: {}", line.trim_end()));
        line
    }
}

impl Backend for Kernel {
    fn module_loaded(&self) -> bool {
        self.real.module_loaded()
    }
    fn gpu_present(&self, gpu: u32) -> bool {
        self.real.gpu_present(gpu)
    }
    fn list(&self) -> Result<Vec<String>, String> {
        self.real.list()
    }
    fn exists(&self, name: &str) -> bool {
        self.real.exists(name)
    }
    fn open_files(&self, name: &str) -> Result<u64, String> {
        self.real.open_files(name)
    }
    fn create(&self, name: &str, p: &Profile) -> Result<(), String> {
        self.real.create(name, p)?;
        let line = self.take("create");
        let mut w = line.split_whitespace();
        let n = w.next().unwrap();
        let mut gpus = "0".to_string();
        let mut mem = u64::MAX;
        for kv in w {
            if let Some(v) = kv.strip_prefix("gpus=") {
                gpus = v.to_string();
            }
            if let Some(v) = kv.strip_prefix("mem=") {
                mem = v.parse().unwrap();
            }
        }
        let d = self.sys().join("contexts").join(n);
        fs::create_dir_all(&d).unwrap();
        for (f, v) in [
            ("gpus", gpus.as_str()),
            ("mem_limit_bytes", &mem.to_string()),
            ("mem_used_bytes", "0"),
            ("mem_peak_bytes", "0"),
            ("alloc_refused", "0"),
            ("open_files", "0"),
            ("pids", ""),
        ] {
            fs::write(d.join(f), format!("{v}\n")).unwrap();
        }
        let nd = self.root.join("dev/fakegpu").join(n);
        fs::create_dir_all(&nd).unwrap();
        for node in ["nvidiactl", "nvidia0", "nvidia-uvm"] {
            std::os::unix::fs::symlink("/dev/null", nd.join(node)).unwrap();
        }
        Ok(())
    }
    fn destroy(&self, name: &str) -> Result<(), String> {
        self.real.destroy(name)?;
        let n = self.take("destroy");
        fs::remove_dir_all(self.sys().join("contexts").join(n.trim())).unwrap();
        fs::remove_dir_all(self.root.join("dev/fakegpu").join(n.trim())).unwrap();
        Ok(())
    }
    fn node_paths(&self, name: &str) -> Result<Vec<PathBuf>, String> {
        self.real.node_paths(name)
    }
    fn write_cdi(&self, name: &str) -> Result<(), String> {
        self.real.write_cdi(name)
    }
    fn remove_cdi(&self, name: &str) -> Result<(), String> {
        self.real.remove_cdi(name)
    }
}

fn tree(tag: &str) -> PathBuf {
    let t = std::env::temp_dir().join(format!("fgdp-tree-{tag}-{}", std::process::id()));
    let _ = fs::remove_dir_all(&t);
    fs::create_dir_all(t.join("sys/contexts")).unwrap();
    fs::create_dir_all(t.join("dev/fakegpu")).unwrap();
    fs::write(t.join("sys/version"), "0.1.0\n").unwrap();
    fs::write(t.join("sys/create"), "").unwrap();
    fs::write(t.join("sys/destroy"), "").unwrap();
    fs::write(t.join("dev/nvidia0"), "").unwrap();
    t
}

async fn wait(what: &str, cond: impl FnMut() -> bool) {
    assert!(
        fk::wait_for(Duration::from_secs(10), cond).await,
        "timed out waiting for: {what}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn allocate_and_free_through_fakegpuctl_on_a_sysfs_tree() {
    let t = tree("alloc");
    let cdi = t.join("cdi");
    let k = Arc::new(Kernel {
        real: Fakegpuctl::new(&t.join("sys"), &t.join("dev/fakegpu"), &cdi, &t.join("dev")),
        root: t.clone(),
        writes: Mutex::new(Vec::new()),
    });
    let cfg = Config::parse("[[profile]]\nname = 'vgpu-1gi'\nmem = '1Gi'\ncount = 2\n").unwrap();
    let backend: Arc<dyn Backend> = k.clone();
    let shared = Shared::new(cfg, backend);
    let dir = t.join("device-plugins");
    let state = t.join("state");
    let podres = t.join("pod-resources.sock");
    let opts = server::Options {
        kubelet_dir: dir.clone(),
        health_interval: Duration::from_millis(50),
        watch_interval: Duration::from_millis(50),
        kmsg: None,
    };
    let rec = reconcile::Options {
        pod_resources_socket: podres.clone(),
        interval: Duration::from_millis(100),
        grace: Duration::from_millis(500),
    };
    let (stop, rx) = tokio::sync::watch::channel(false);
    let plugin = tokio::spawn(server::run(shared, opts, Some(rec), rx));
    let kubelet = FakeKubelet::start(fk::Options {
        dir: dir.clone(),
        state: state.clone(),
        pod_resources_socket: Some(podres),
        keep_plugin_sockets: false,
    })
    .await
    .unwrap();
    let r = "fakegpu.io/vgpu-1gi";
    let all = |h: &str| {
        let d = fk::devices(&state, r);
        d.len() == 2 && d.iter().all(|(_, x)| x == h)
    };
    wait("healthy devices", || all("Healthy")).await;

    // Allocate: the module gets fakegpuctl's create line (bytes, not a
    // Kubernetes quantity), and the CDI spec names the context's nodes.
    let resp = fk::allocate(&dir, &state, r, &["vgpu-1gi-0".to_string()], Some("p1"))
        .await
        .unwrap();
    assert_eq!(
        k.writes.lock().unwrap().clone(),
        ["create: k8s-vgpu-1gi-0 gpus=0 mem=1073741824"]
    );
    let out = fk::format_response(&resp);
    assert!(
        out.starts_with("cdi fakegpu.io/vgpu=k8s-vgpu-1gi-0\n"),
        "{out}"
    );
    let node = |n: &str| {
        t.join("dev/fakegpu/k8s-vgpu-1gi-0")
            .join(n)
            .display()
            .to_string()
    };
    assert!(
        out.contains(&format!("device /dev/nvidia0 {} rw\n", node("nvidia0"))),
        "{out}"
    );
    let spec_path = cdi.join("fakegpu.io-vgpu_k8s-vgpu-1gi-0.json");
    let spec = fs::read_to_string(&spec_path).unwrap();
    assert!(
        spec.contains(&format!("\"hostPath\": \"{}\"", node("nvidia-uvm"))),
        "{spec}"
    );
    assert!(spec.contains("\"kind\": \"fakegpu.io/vgpu\""), "{spec}");

    // The pod goes: freed through destroy, the spec removed.
    fk::delete_pod(&state, "p1").unwrap();
    wait("context freed", || {
        !t.join("sys/contexts/k8s-vgpu-1gi-0").exists()
    })
    .await;
    assert!(!spec_path.exists());
    assert_eq!(
        k.writes.lock().unwrap().last().unwrap(),
        "destroy: k8s-vgpu-1gi-0"
    );

    // Health from the tree: the GPU node gone, then the module.
    fs::remove_file(t.join("dev/nvidia0")).unwrap();
    wait("unhealthy without the GPU node", || all("Unhealthy")).await;
    fs::write(t.join("dev/nvidia0"), "").unwrap();
    wait("healthy again", || all("Healthy")).await;
    fs::remove_file(t.join("sys/version")).unwrap();
    wait("unhealthy without the module", || all("Unhealthy")).await;
    // Allocate now fails with fakegpuctl's message, nothing written.
    let n = k.writes.lock().unwrap().len();
    let err = fk::allocate(&dir, &state, r, &["vgpu-1gi-1".to_string()], None)
        .await
        .unwrap_err();
    assert!(err.contains("not loaded"), "{err}");
    assert_eq!(k.writes.lock().unwrap().len(), n);

    kubelet.stop().await;
    let _ = stop.send(true);
    let _ = tokio::time::timeout(Duration::from_secs(10), plugin).await;
    let _ = fs::remove_dir_all(&t);
}
