//! Prometheus metrics of every context and GPU, in the text exposition
//! format (version 0.0.4), served over plain HTTP on `GET /metrics`
//! (docs/metrics.md).
//!
//! Per-context series (`fakegpu_vgpu_*`) carry `vgpu` (the context), `gpu`
//! (host GPU index; a comma list for a context on several GPUs), `UUID`
//! (DCGM's spelling; empty if the vendor node cannot be opened) and
//! `namespace`, `pod`, `container` (the container using the context, from
//! the kubelet's pod-resources API, [`crate::podresources`]; empty when
//! none or when the socket is absent; a context several containers use has
//! one series per container, as dcgm-exporter does for a shared GPU).
//!
//! Per-GPU series under DCGM's names (`DCGM_FI_DEV_FB_USED`, `_FB_FREE`,
//! `_FB_TOTAL`, `_FB_RESERVED` in MiB, `_GPU_UTIL` in percent,
//! `_XID_ERRORS`) carry dcgm-exporter's labels (`gpu`, `UUID`,
//! `pci_bus_id`, `device`, `modelName`, `Hostname`, and `namespace`, `pod`,
//! `container` of each container using a context on the GPU), so
//! dashboards written for dcgm-exporter work. Health: `fakegpu_gpu_healthy`
//! and `fakegpu_gpu_xid_total` from the driver's Xid reports
//! ([`crate::health`]).

use crate::error::{Error, Kind, Result};
use crate::sysfs::Sysfs;
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use crate::health::{KmsgWatcher, PciAddr, Policy, Tracker};
use crate::podresources::{Consumer, ContextPods};

/// The metric families: name, type, help.
pub const FAMILIES: &[(&str, &str, &str)] = &[
    (
        "fakegpu_vgpu_memory_used_bytes",
        "gauge",
        "GPU memory the context holds now, in bytes.",
    ),
    (
        "fakegpu_vgpu_memory_limit_bytes",
        "gauge",
        "The context's GPU memory cap, in bytes (absent: no cap).",
    ),
    (
        "fakegpu_vgpu_memory_peak_bytes",
        "gauge",
        "The highest GPU memory use since the context was created, in bytes.",
    ),
    (
        "fakegpu_vgpu_alloc_refused_total",
        "counter",
        "Allocations refused because they would have passed the cap.",
    ),
    (
        "fakegpu_vgpu_open_files",
        "gauge",
        "Open files on the context's nodes.",
    ),
    (
        "fakegpu_vgpu_compute_limit_ratio",
        "gauge",
        "The context's compute limit, as a ratio of the GPU's time (0-1).",
    ),
    (
        "fakegpu_vgpu_compute_used_seconds_total",
        "counter",
        "GPU time the context used, in seconds.",
    ),
    (
        "fakegpu_vgpu_throttled_seconds_total",
        "counter",
        "Time the context spent throttled by its compute limit, in seconds.",
    ),
];

fn esc(v: &str) -> String {
    v.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

/// The per-GPU families: DCGM's names, then ours.
pub const GPU_FAMILIES: &[(&str, &str, &str)] = &[
    (
        "DCGM_FI_DEV_FB_TOTAL",
        "gauge",
        "Framebuffer memory total (in MiB).",
    ),
    (
        "DCGM_FI_DEV_FB_USED",
        "gauge",
        "Framebuffer memory used (in MiB).",
    ),
    (
        "DCGM_FI_DEV_FB_FREE",
        "gauge",
        "Framebuffer memory free (in MiB).",
    ),
    (
        "DCGM_FI_DEV_FB_RESERVED",
        "gauge",
        "Framebuffer memory reserved (in MiB).",
    ),
    (
        "DCGM_FI_DEV_GPU_UTIL",
        "gauge",
        "GPU utilization (in %): the GPU time fakegpu's contexts used since the previous scrape.",
    ),
    (
        "DCGM_FI_DEV_XID_ERRORS",
        "gauge",
        "Value of the last XID error encountered (0: none).",
    ),
    (
        "fakegpu_gpu_healthy",
        "gauge",
        "Whether the GPU is healthy (1) or a fatal Xid made it unhealthy (0).",
    ),
    (
        "fakegpu_gpu_xid_total",
        "counter",
        "Xid errors the driver reported for the GPU, by Xid.",
    ),
];

/// Every metric name a scrape can hold (for dashboards' tests).
pub fn metric_names() -> Vec<&'static str> {
    let mut v: Vec<&str> = FAMILIES.iter().map(|f| f.0).collect();
    v.extend(GPU_FAMILIES.iter().map(|f| f.0));
    v.extend([
        "fakegpu_module_loaded",
        "fakegpu_build_info",
        "fakegpu_pod_resources_up",
    ]);
    v
}

/// One GPU as a scrape sees it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct GpuStat {
    pub info: crate::gpus::GpuInfo,
    /// Framebuffer bytes: total (RAM_SIZE), heap (HEAP_SIZE), free
    /// (HEAP_FREE); `None`: the driver did not say.
    pub fb: Option<(u64, u64, u64)>,
}

/// Asks the vendor driver at `vendor_dev` about every GPU (empty if it
/// cannot be asked).
pub fn gpu_stats(vendor_dev: &Path) -> Vec<GpuStat> {
    let dir = vendor_dev.to_string_lossy().to_string();
    let Ok(ctl) = nvrm::Ctl::open(&vendor_dev.join("nvidiactl").to_string_lossy()) else {
        return Vec::new();
    };
    let Ok(cards) = ctl.card_info() else {
        return Vec::new();
    };
    drop(ctl);
    let mut out = Vec::new();
    for c in cards {
        let Ok(s) = nvrm::Session::open(&dir, c.minor) else {
            continue;
        };
        let fb = s.mem_info().ok().map(|m| (m.total, m.heap, m.free));
        out.push(GpuStat {
            info: crate::gpus::GpuInfo {
                index: c.minor,
                name: s.name().unwrap_or_default(),
                uuid: s.uuid().map(|u| nvrm::uuid_string(&u)).unwrap_or_default(),
                mem_total_bytes: fb.map(|f| f.0).unwrap_or_default(),
                pci_bus: c.bus,
                pci_device_id: c.device_id,
            },
            fb,
        });
    }
    out
}

/// What one scrape renders besides sysfs.
#[derive(Clone, Debug, Default)]
pub struct Scrape {
    /// UUIDs by GPU index (for per-context series; `gpus` adds to it).
    pub uuids: BTreeMap<u32, String>,
    /// The GPUs (DCGM series).
    pub gpus: Vec<GpuStat>,
    /// The containers using each context.
    pub pods: ContextPods,
    /// Whether pod-resources answered (`None`: not asked).
    pub pods_up: Option<bool>,
    /// GPU utilisation in percent, by index (absent: not known yet).
    pub util: BTreeMap<u32, f64>,
    /// The GPUs' health (`None`: not watched).
    pub health: Option<Tracker>,
    /// DCGM's `Hostname` label.
    pub hostname: String,
}

fn consumer_labels(c: Option<&Consumer>) -> String {
    let d = Consumer::default();
    let c = c.unwrap_or(&d);
    format!(
        "namespace=\"{}\",pod=\"{}\",container=\"{}\"",
        esc(&c.namespace),
        esc(&c.pod),
        esc(&c.container)
    )
}

/// Renders the scrape.
pub fn render(sysfs: &Sysfs, s: &Scrape) -> String {
    let module_version = sysfs.module_version().unwrap_or_default();
    let mut uuids = s.uuids.clone();
    for g in &s.gpus {
        uuids.insert(g.info.index, g.info.uuid.clone());
    }
    let mut samples: BTreeMap<&str, Vec<String>> = BTreeMap::new();
    // Per GPU: the containers using a context on it.
    let mut gpu_users: BTreeMap<u32, Vec<Consumer>> = BTreeMap::new();
    if let Ok(names) = sysfs.list() {
        for name in names {
            let Ok(c) = sysfs.context(&name) else {
                continue;
            };
            let gpu: Vec<String> = c.gpus.iter().map(|g| g.to_string()).collect();
            let uuid: Vec<String> = c
                .gpus
                .iter()
                .map(|g| uuids.get(g).cloned().unwrap_or_default())
                .collect();
            let base = format!(
                "vgpu=\"{}\",gpu=\"{}\",UUID=\"{}\"",
                esc(&name),
                gpu.join(","),
                esc(&uuid.join(","))
            );
            let users: Vec<Option<&Consumer>> = match s.pods.get(&name) {
                Some(v) if !v.is_empty() => v.iter().map(Some).collect(),
                _ => vec![None],
            };
            for g in &c.gpus {
                let e = gpu_users.entry(*g).or_default();
                for u in users.iter().flatten() {
                    if !e.contains(u) {
                        e.push((*u).clone());
                    }
                }
            }
            for u in users {
                let labels = format!("{base},{}", consumer_labels(u));
                let mut add = |n: &'static str, v: String| {
                    samples
                        .entry(n)
                        .or_default()
                        .push(format!("{n}{{{labels}}} {v}"))
                };
                add(
                    "fakegpu_vgpu_memory_used_bytes",
                    c.mem_used_bytes.to_string(),
                );
                if let Some(l) = c.mem_limit_bytes {
                    add("fakegpu_vgpu_memory_limit_bytes", l.to_string());
                }
                add(
                    "fakegpu_vgpu_memory_peak_bytes",
                    c.mem_peak_bytes.to_string(),
                );
                add(
                    "fakegpu_vgpu_alloc_refused_total",
                    c.alloc_refused.to_string(),
                );
                add("fakegpu_vgpu_open_files", c.open_files.to_string());
                if let Some(p) = c.compute_limit_pct {
                    add(
                        "fakegpu_vgpu_compute_limit_ratio",
                        format!("{}", p as f64 / 100.0),
                    );
                }
                if let Some(u) = c.compute_used_us {
                    add(
                        "fakegpu_vgpu_compute_used_seconds_total",
                        format!("{}", u as f64 / 1e6),
                    );
                }
                if let Some(u) = c.throttled_us {
                    add(
                        "fakegpu_vgpu_throttled_seconds_total",
                        format!("{}", u as f64 / 1e6),
                    );
                }
            }
        }
    }
    // Per GPU.
    let mib = |b: u64| (b >> 20).to_string();
    let mut seen_pci = std::collections::BTreeSet::new();
    for g in &s.gpus {
        let pci = PciAddr {
            domain: 0,
            bus: g.info.pci_bus,
            device: 0,
        };
        seen_pci.insert(pci);
        let ident = format!(
            "gpu=\"{}\",UUID=\"{}\",pci_bus_id=\"{}\",device=\"nvidia{}\",modelName=\"{}\",Hostname=\"{}\"",
            g.info.index,
            esc(&g.info.uuid),
            pci.dcgm(),
            g.info.index,
            esc(&g.info.name),
            esc(&s.hostname)
        );
        let users = gpu_users.get(&g.info.index);
        let users: Vec<Option<&Consumer>> = match users {
            Some(v) if !v.is_empty() => {
                let mut v: Vec<&Consumer> = v.iter().collect();
                v.sort();
                v.into_iter().map(Some).collect()
            }
            _ => vec![None],
        };
        let health = s.health.as_ref().map(|t| t.get(&pci));
        for u in users {
            let labels = format!("{ident},{}", consumer_labels(u));
            let mut add = |n: &'static str, v: String| {
                samples
                    .entry(n)
                    .or_default()
                    .push(format!("{n}{{{labels}}} {v}"))
            };
            if let Some((total, heap, free)) = g.fb {
                add("DCGM_FI_DEV_FB_TOTAL", mib(total));
                add("DCGM_FI_DEV_FB_USED", mib(heap.saturating_sub(free)));
                add("DCGM_FI_DEV_FB_FREE", mib(free));
                add("DCGM_FI_DEV_FB_RESERVED", mib(total.saturating_sub(heap)));
            }
            if let Some(u) = s.util.get(&g.info.index) {
                add("DCGM_FI_DEV_GPU_UTIL", format!("{}", u.round() as u64));
            }
            if let Some(h) = &health {
                add(
                    "DCGM_FI_DEV_XID_ERRORS",
                    h.last.unwrap_or_default().to_string(),
                );
            }
        }
        if let Some(h) = &health {
            let l = format!(
                "gpu=\"{}\",UUID=\"{}\",pci_bus_id=\"{}\"",
                g.info.index,
                esc(&g.info.uuid),
                pci.dcgm()
            );
            samples
                .entry("fakegpu_gpu_healthy")
                .or_default()
                .push(format!(
                    "fakegpu_gpu_healthy{{{l}}} {}",
                    u8::from(h.healthy())
                ));
            for (x, n) in &h.counts {
                samples
                    .entry("fakegpu_gpu_xid_total")
                    .or_default()
                    .push(format!("fakegpu_gpu_xid_total{{{l},xid=\"{x}\"}} {n}"));
            }
        }
    }
    // Xids of GPUs the driver did not list (it could not be asked).
    if let Some(t) = &s.health {
        for (pci, h) in &t.gpus {
            if seen_pci.contains(pci) {
                continue;
            }
            let l = format!("gpu=\"\",UUID=\"\",pci_bus_id=\"{}\"", pci.dcgm());
            samples
                .entry("fakegpu_gpu_healthy")
                .or_default()
                .push(format!(
                    "fakegpu_gpu_healthy{{{l}}} {}",
                    u8::from(h.healthy())
                ));
            for (x, n) in &h.counts {
                samples
                    .entry("fakegpu_gpu_xid_total")
                    .or_default()
                    .push(format!("fakegpu_gpu_xid_total{{{l},xid=\"{x}\"}} {n}"));
            }
        }
    }
    let mut out = String::new();
    for (name, typ, help) in FAMILIES.iter().chain(GPU_FAMILIES) {
        let Some(v) = samples.get(name) else {
            // Our per-context families are always declared; the per-GPU
            // ones only with samples.
            if FAMILIES.iter().any(|f| f.0 == *name) {
                let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} {typ}");
            }
            continue;
        };
        let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} {typ}");
        for s in v {
            let _ = writeln!(out, "{s}");
        }
    }
    let _ = writeln!(out, "# HELP fakegpu_module_loaded Whether the fakegpu module is loaded (1) or not (0).\n# TYPE fakegpu_module_loaded gauge");
    let _ = writeln!(
        out,
        "fakegpu_module_loaded {}",
        u8::from(sysfs.check_loaded().is_ok())
    );
    if let Some(up) = s.pods_up {
        let _ = writeln!(out, "# HELP fakegpu_pod_resources_up Whether the kubelet's pod-resources API answered this scrape (1) or not (0: the pod labels are empty).\n# TYPE fakegpu_pod_resources_up gauge");
        let _ = writeln!(out, "fakegpu_pod_resources_up {}", u8::from(up));
    }
    let _ = writeln!(out, "# HELP fakegpu_build_info The versions of fakegpuctl and of the loaded module.\n# TYPE fakegpu_build_info gauge");
    let _ = writeln!(
        out,
        "fakegpu_build_info{{version=\"{}\",module_version=\"{}\"}} 1",
        crate::VERSION,
        esc(&module_version)
    );
    out
}

/// Where the GPUs come from (the vendor driver; tests give a list).
pub type GpuSource = Box<dyn FnMut() -> Vec<GpuStat> + Send>;

/// What the server scrapes.
pub struct Exporter {
    /// The module's sysfs.
    pub sysfs: Sysfs,
    /// The vendor's node directory (for UUIDs).
    pub vendor_dev: PathBuf,
    uuids: Option<BTreeMap<u32, String>>,
    gpu_source: GpuSource,
    pod_resources: Option<PathBuf>,
    pod_resources_timeout: Duration,
    kmsg: Option<PathBuf>,
    watcher: Option<KmsgWatcher>,
    hostname: String,
    /// The previous scrape's time and GPU time used per GPU (microseconds).
    prev_used: Option<(Instant, BTreeMap<u32, f64>)>,
}

fn default_hostname() -> String {
    std::env::var("NODE_NAME")
        .ok()
        .filter(|s| !s.is_empty())
        .or_else(|| {
            std::fs::read_to_string("/proc/sys/kernel/hostname")
                .ok()
                .map(|s| s.trim().to_string())
        })
        .unwrap_or_default()
}

impl Exporter {
    /// An exporter of `sysfs`, with UUIDs from the driver at `vendor_dev`;
    /// no pod labels and no health until [`Exporter::with_pod_resources`]
    /// and [`Exporter::with_kmsg`].
    pub fn new(sysfs: Sysfs, vendor_dev: PathBuf) -> Exporter {
        let vd = vendor_dev.clone();
        Exporter {
            sysfs,
            vendor_dev,
            uuids: None,
            gpu_source: Box::new(move || gpu_stats(&vd)),
            pod_resources: None,
            pod_resources_timeout: Duration::from_secs(2),
            kmsg: None,
            watcher: None,
            hostname: default_hostname(),
            prev_used: None,
        }
    }

    /// Labels contexts with the pods the kubelet's pod-resources API on
    /// `socket` reports.
    pub fn with_pod_resources(mut self, socket: Option<PathBuf>) -> Exporter {
        self.pod_resources = socket;
        self
    }

    /// Watches the kernel log at `path` (`/dev/kmsg`) for Xids.
    pub fn with_kmsg(mut self, path: Option<PathBuf>) -> Exporter {
        self.kmsg = path;
        self
    }

    /// DCGM's `Hostname` label (default: `NODE_NAME`, else the host name).
    pub fn with_hostname(mut self, h: &str) -> Exporter {
        self.hostname = h.to_string();
        self
    }

    /// Takes the GPUs from `f` instead of the vendor driver (tests).
    pub fn with_gpu_source(mut self, f: GpuSource) -> Exporter {
        self.gpu_source = f;
        self
    }

    /// GPU time used per GPU now, in microseconds (a context on several
    /// GPUs counts evenly on each).
    fn used_now(&self) -> BTreeMap<u32, f64> {
        let mut m = BTreeMap::new();
        for name in self.sysfs.list().unwrap_or_default() {
            let Ok(c) = self.sysfs.context(&name) else {
                continue;
            };
            let (Some(u), false) = (c.compute_used_us, c.gpus.is_empty()) else {
                continue;
            };
            for g in &c.gpus {
                *m.entry(*g).or_insert(0.0) += u as f64 / c.gpus.len() as f64;
            }
        }
        m
    }

    /// One scrape's text, as of `now`.
    pub fn scrape_at(&mut self, now: Instant) -> String {
        let gpus = (self.gpu_source)();
        if self.uuids.is_none() {
            let u: BTreeMap<u32, String> = gpus
                .iter()
                .map(|g| (g.info.index, g.info.uuid.clone()))
                .collect();
            if !u.is_empty() {
                self.uuids = Some(u);
            }
        }
        let (pods, pods_up) = match &self.pod_resources {
            None => (ContextPods::new(), None),
            Some(p) => match crate::podresources::consumers(p, self.pod_resources_timeout) {
                Ok(m) => (m, Some(true)),
                Err(e) => {
                    tracing::debug!("pod-resources: {e}");
                    (ContextPods::new(), Some(false))
                }
            },
        };
        if self.watcher.is_none() {
            if let Some(k) = &self.kmsg {
                match KmsgWatcher::open(k, Policy::from_env()) {
                    Ok(w) => self.watcher = Some(w),
                    Err(e) => tracing::debug!("cannot open {}: {e}", k.display()),
                }
            }
        }
        let health = self.watcher.as_mut().map(|w| {
            for c in w.poll() {
                tracing::warn!("{}", c.event_line(&format!("node/{}", self.hostname)));
            }
            w.tracker.clone()
        });
        let used = self.used_now();
        let mut util = BTreeMap::new();
        if let Some((t0, u0)) = &self.prev_used {
            let dt = now.saturating_duration_since(*t0).as_secs_f64() * 1e6;
            if dt > 0.0 {
                for g in &gpus {
                    let i = g.info.index;
                    let d =
                        used.get(&i).copied().unwrap_or(0.0) - u0.get(&i).copied().unwrap_or(0.0);
                    util.insert(i, (d / dt * 100.0).clamp(0.0, 100.0));
                }
            }
        }
        self.prev_used = Some((now, used));
        let s = Scrape {
            uuids: self.uuids.clone().unwrap_or_default(),
            gpus,
            pods,
            pods_up,
            util,
            health,
            hostname: self.hostname.clone(),
        };
        render(&self.sysfs, &s)
    }

    /// One scrape's text.
    pub fn scrape(&mut self) -> String {
        self.scrape_at(Instant::now())
    }

    /// Answers one HTTP connection: `GET /metrics` gets the scrape, `GET /`
    /// a pointer to it, anything else 404 (or 405 for other methods).
    pub fn handle(&mut self, stream: TcpStream) -> std::io::Result<()> {
        stream.set_read_timeout(Some(Duration::from_secs(5)))?;
        stream.set_write_timeout(Some(Duration::from_secs(5)))?;
        let mut r = BufReader::new(stream.try_clone()?);
        let mut line = String::new();
        r.read_line(&mut line)?;
        // Skip the headers.
        loop {
            let mut h = String::new();
            if r.read_line(&mut h)? == 0 || h == "\r\n" || h == "\n" {
                break;
            }
        }
        let mut parts = line.split_whitespace();
        let method = parts.next().unwrap_or("");
        let target = parts.next().unwrap_or("");
        let path = target.split('?').next().unwrap_or("");
        let (status, ctype, body) = match (method, path) {
            ("GET" | "HEAD", "/metrics") => (
                "200 OK",
                "text/plain; version=0.0.4; charset=utf-8",
                self.scrape(),
            ),
            ("GET" | "HEAD", "/") => (
                "200 OK",
                "text/html",
                "<html><body><a href=\"/metrics\">/metrics</a></body></html>\n".to_string(),
            ),
            ("GET" | "HEAD", _) => (
                "404 Not Found",
                "text/plain",
                "not found: try /metrics\n".to_string(),
            ),
            _ => (
                "405 Method Not Allowed",
                "text/plain",
                "only GET\n".to_string(),
            ),
        };
        let mut w = stream;
        write!(w, "HTTP/1.1 {status}\r\nContent-Type: {ctype}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n", body.len())?;
        if method != "HEAD" {
            w.write_all(body.as_bytes())?;
        }
        w.flush()
    }

    /// Serves `listener`, one connection at a time; stops after
    /// `max_requests` if given.
    pub fn serve(&mut self, listener: TcpListener, max_requests: Option<u64>) -> Result<()> {
        for (n, conn) in (1u64..).zip(listener.incoming()) {
            match conn {
                Ok(s) => {
                    if let Err(e) = self.handle(s) {
                        eprintln!("fakegpuctl metrics: a request failed: {e}");
                    }
                }
                Err(e) => eprintln!("fakegpuctl metrics: accept failed: {e}"),
            }
            if max_requests.is_some_and(|m| n >= m) {
                break;
            }
        }
        Ok(())
    }
}

/// Binds `addr` (`HOST:PORT`).
pub fn bind(addr: &str) -> Result<TcpListener> {
    TcpListener::bind(addr).map_err(|e| {
        Error::new(Kind::Other, format!("cannot listen on {addr}: {e}"))
            .hint("give a free HOST:PORT, e.g. --listen 127.0.0.1:9455 or :9455")
    })
}
