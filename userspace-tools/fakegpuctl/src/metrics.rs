//! Prometheus metrics of every context, in the text exposition format
//! (version 0.0.4), served over plain HTTP on `GET /metrics`.
//!
//! Labels `vgpu` (the context), `gpu` (host GPU index; a comma list for a
//! context on several GPUs) and `UUID` (DCGM's spelling, so queries can join
//! with DCGM-exporter's metrics; empty if the vendor node cannot be opened).

use crate::error::{Error, Kind, Result};
use crate::sysfs::Sysfs;
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::time::Duration;

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

/// Renders the scrape. `uuids` maps GPU index to UUID.
pub fn render(sysfs: &Sysfs, uuids: &BTreeMap<u32, String>) -> String {
    let module_version = sysfs.module_version().unwrap_or_default();
    let mut samples: BTreeMap<&str, Vec<String>> = BTreeMap::new();
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
            let labels = format!(
                "vgpu=\"{}\",gpu=\"{}\",UUID=\"{}\"",
                esc(&name),
                gpu.join(","),
                esc(&uuid.join(","))
            );
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
    let mut out = String::new();
    for (name, typ, help) in FAMILIES {
        let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} {typ}");
        for s in samples.get(name).into_iter().flatten() {
            let _ = writeln!(out, "{s}");
        }
    }
    let _ = writeln!(out, "# HELP fakegpu_module_loaded Whether the fakegpu module is loaded (1) or not (0).\n# TYPE fakegpu_module_loaded gauge");
    let _ = writeln!(
        out,
        "fakegpu_module_loaded {}",
        u8::from(sysfs.check_loaded().is_ok())
    );
    let _ = writeln!(out, "# HELP fakegpu_build_info The versions of fakegpuctl and of the loaded module.\n# TYPE fakegpu_build_info gauge");
    let _ = writeln!(
        out,
        "fakegpu_build_info{{version=\"{}\",module_version=\"{}\"}} 1",
        crate::VERSION,
        esc(&module_version)
    );
    out
}

/// What the server scrapes.
pub struct Exporter {
    /// The module's sysfs.
    pub sysfs: Sysfs,
    /// The vendor's node directory (for UUIDs).
    pub vendor_dev: PathBuf,
    uuids: Option<BTreeMap<u32, String>>,
}

impl Exporter {
    /// An exporter of `sysfs`, with UUIDs from the driver at `vendor_dev`.
    pub fn new(sysfs: Sysfs, vendor_dev: PathBuf) -> Exporter {
        Exporter {
            sysfs,
            vendor_dev,
            uuids: None,
        }
    }

    /// One scrape's text. UUIDs are asked once (and again until found).
    pub fn scrape(&mut self) -> String {
        if self.uuids.is_none() {
            let u = crate::gpus::uuids(&self.vendor_dev);
            if !u.is_empty() {
                self.uuids = Some(u);
            }
        }
        render(&self.sysfs, self.uuids.as_ref().unwrap_or(&BTreeMap::new()))
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
