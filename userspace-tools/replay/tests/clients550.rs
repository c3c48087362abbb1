// SPDX-License-Identifier: GPL-2.0-only
//! NVIDIA's 550.163.01 clients (nvidia-smi, NVML, libcuda; captured against
//! nvsim's 550 profile by tests/guest/27-nvsim-clients.sh, in
//! tests/fidelity/nvsim-550-clients/) decoded with the 550 table and
//! routed as the module routes them: every call they make is decoded and
//! routed by a stated rule (none unrouted), so they run through the proxy.

use fakegpu_core::nvabi::{self, decode::Body, Branch};
use fakegpu_core::policy::{route, ContextView, Route};
use nvtrace::format::{self, Body as RBody};
use std::collections::BTreeMap;
use std::path::PathBuf;

fn dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../tests/fidelity/nvsim-550-clients")
}

/// (client, call label) -> (route, count), for every recorded ioctl.
fn routes(branch: Branch) -> BTreeMap<(String, String), (Route, usize)> {
    let mut m = BTreeMap::new();
    for client in ["smi", "smiq", "ctxsmiq", "nvml", "cuda"] {
        let f = dir().join(format!("nvtrace.{client}.bin.zst"));
        let data = nvtrace::read_trace_file(&f).unwrap_or_else(|e| panic!("{}: {e}", f.display()));
        let t = format::parse(&data).unwrap();
        for rec in &t.records {
            let RBody::Ioctl(io) = &rec.body else {
                continue;
            };
            if io.cmd == format::MARKER_CMD {
                continue;
            }
            let Some(fk) = io.node.file_kind() else {
                continue;
            };
            let d = nvabi::decode_for(branch, fk, io.cmd, &io.before);
            let r = route(&d, &ContextView::default());
            let what = match d.body {
                Body::Control(c) => format!(
                    "{} {:#x} {}",
                    d.name(),
                    c.cmd,
                    nvabi::ctrl::control_name(c.cmd)
                ),
                Body::Alloc(a) => format!(
                    "{} {:#x} {}",
                    d.name(),
                    a.class,
                    nvabi::class::class_name(a.class)
                ),
                _ => d.name().to_string(),
            };
            m.entry((client.to_string(), what)).or_insert((r, 0)).1 += 1;
        }
    }
    m
}

#[test]
fn every_call_of_the_550_clients_is_routed() {
    let m = routes(Branch::R550);
    assert!(m.len() > 40, "only {} distinct calls read", m.len());
    let unrouted: Vec<String> = m
        .iter()
        .filter(|(_, (r, _))| matches!(r, Route::Unrouted { .. }))
        .map(|((c, w), (r, n))| format!("{c}: {w} x{n}: {r:?}"))
        .collect();
    for ((c, w), (r, n)) in &m {
        println!("{c}: {w} x{n} -> {}", r.kind());
    }
    assert!(unrouted.is_empty(), "unrouted:\n{}", unrouted.join("\n"));
}
