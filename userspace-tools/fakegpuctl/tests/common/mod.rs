//! A fake module tree in a temporary directory: `sys/` (the sysfs ABI as
//! plain files), `dev/` (nodes: links to /dev/null, a real character
//! device), `cdi/`.
#![allow(dead_code)]

use std::fs;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU32, Ordering};

pub struct Tree {
    pub dir: PathBuf,
}

static N: AtomicU32 = AtomicU32::new(0);

impl Tree {
    #[allow(clippy::new_without_default)]
    pub fn new() -> Tree {
        let dir = std::env::temp_dir().join(format!(
            "fakegpuctl-test-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::SeqCst)
        ));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(dir.join("sys/contexts")).unwrap();
        fs::create_dir_all(dir.join("dev")).unwrap();
        fs::write(dir.join("sys/version"), "0.1.0\n").unwrap();
        fs::write(dir.join("sys/create"), "").unwrap();
        fs::write(dir.join("sys/destroy"), "").unwrap();
        Tree { dir }
    }

    pub fn sys(&self) -> PathBuf {
        self.dir.join("sys")
    }
    pub fn dev(&self) -> PathBuf {
        self.dir.join("dev")
    }
    pub fn cdi(&self) -> PathBuf {
        self.dir.join("cdi")
    }
    pub fn read(&self, rel: &str) -> String {
        fs::read_to_string(self.dir.join(rel)).unwrap_or_else(|e| panic!("{rel}: {e}"))
    }
    pub fn write(&self, rel: &str, v: &str) {
        fs::write(self.dir.join(rel), v).unwrap()
    }

    /// A context as the module shows it; `compute` adds the compute files.
    pub fn context(&self, name: &str, gpus: &str, limit: u64, used: u64, compute: bool) {
        let d = self.sys().join("contexts").join(name);
        fs::create_dir_all(&d).unwrap();
        let w = |f: &str, v: String| fs::write(d.join(f), v + "\n").unwrap();
        w("gpus", gpus.to_string());
        w("mem_limit_bytes", limit.to_string());
        w("mem_used_bytes", used.to_string());
        w("mem_peak_bytes", (used * 2).to_string());
        w("alloc_refused", "3".into());
        w("open_files", "2".into());
        fs::write(d.join("pids"), "101\n202\n").unwrap();
        if compute {
            w("compute_limit_pct", "30".into());
            w("compute_weight", "2".into());
            w("priority", "high".into());
            w("compute_used_us", "1500000".into());
            w("throttled_us", "250000".into());
        }
        let nd = self.dev().join(name);
        fs::create_dir_all(&nd).unwrap();
        let n = gpus.split(',').count();
        let mut nodes = vec!["nvidiactl".to_string(), "nvidia-uvm".to_string()];
        nodes.extend((0..n).map(|i| format!("nvidia{i}")));
        for node in nodes {
            let _ = std::os::unix::fs::symlink("/dev/null", nd.join(node));
        }
    }

    pub fn args(&self, rest: &[&str]) -> Vec<String> {
        let mut v: Vec<String> = vec![
            "--sysfs-root".into(),
            self.sys().to_string_lossy().into(),
            "--dev-root".into(),
            self.dev().to_string_lossy().into(),
            "--cdi-dir".into(),
            self.cdi().to_string_lossy().into(),
            "--vendor-dev".into(),
            self.dir.join("no-vendor").to_string_lossy().into(),
        ];
        v.extend(rest.iter().map(|s| s.to_string()));
        v
    }

    /// Runs the CLI in-process: (exit code, stdout).
    pub fn run(&self, rest: &[&str]) -> (u8, String) {
        let mut out = Vec::new();
        let code = match fakegpuctl::cli::run(&self.args(rest), &mut out) {
            Ok(c) => c,
            Err(e) => e.exit_code(),
        };
        (code, String::from_utf8(out).unwrap())
    }

    /// Runs the binary: (exit code, stdout, stderr).
    pub fn bin(&self, rest: &[&str]) -> (i32, String, String) {
        let o = std::process::Command::new(env!("CARGO_BIN_EXE_fakegpuctl"))
            .args(self.args(rest))
            .output()
            .unwrap();
        (
            o.status.code().unwrap_or(-1),
            String::from_utf8_lossy(&o.stdout).into(),
            String::from_utf8_lossy(&o.stderr).into(),
        )
    }

    /// Plays the kernel for one `create` write: when `create` gets a line,
    /// makes the context's directory and nodes (the side effect a plain
    /// directory cannot have). Returns the thread; it ends after one line.
    pub fn kernel_creates_once(&self, compute: bool) -> std::thread::JoinHandle<String> {
        let dir = self.dir.clone();
        std::thread::spawn(move || {
            let t = Tree { dir };
            let t0 = std::time::Instant::now();
            loop {
                let line = t.read("sys/create");
                if !line.is_empty() {
                    let mut it = line.split_whitespace();
                    let name = it.next().unwrap().to_string();
                    let gpus = it
                        .find_map(|kv| kv.strip_prefix("gpus=").map(str::to_string))
                        .unwrap_or("0".into());
                    t.context(&name, &gpus, 1 << 30, 0, compute);
                    let r = line.clone();
                    std::mem::forget(t);
                    return r;
                }
                assert!(t0.elapsed().as_secs() < 10, "nothing written to create");
                std::thread::sleep(std::time::Duration::from_millis(5));
            }
        })
    }
}

impl Drop for Tree {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.dir);
    }
}

pub fn json(s: &str) -> serde_json::Value {
    serde_json::from_str(s).unwrap_or_else(|e| panic!("not JSON ({e}):\n{s}"))
}

pub fn exists(p: &Path) -> bool {
    p.exists()
}
