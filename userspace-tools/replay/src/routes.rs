// SPDX-License-Identifier: GPL-2.0-only
//! The proxy's routing table over the captures: every recorded call gets
//! the route `fakegpu_core::policy::route` gives it, the module's view.

use fakegpu_core::nvabi::{self, decode::Body};
use fakegpu_core::policy::{route, ContextView, Route};
use nvtrace::format::{self, Body as RBody, Ioctl};
use std::collections::BTreeMap;

use crate::Capture;

/// Every capture directory under `tests/traces/` (those with ground truth
/// and those without), sorted.
pub fn all_captures() -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(crate::traces_dir())
        .map(|d| {
            d.filter_map(|e| e.ok())
                .filter(|e| e.path().is_dir())
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default();
    v.sort();
    v
}

/// The route of one recorded ioctl (`None`: not an nvidia node).
pub fn route_of(io: &Ioctl) -> Option<Route> {
    let fk = io.node.file_kind()?;
    let d = nvabi::decode(fk, io.cmd, &io.before);
    Some(route(&d, &ContextView::default()))
}

/// A name for a route and the call it was given to, for tallies.
fn label(io: &Ioctl, r: Route) -> String {
    let what = match io.node.file_kind() {
        Some(fk) => {
            let d = nvabi::decode(fk, io.cmd, &io.before);
            match d.body {
                Body::Control(c) => format!("{} {}", d.name(), nvabi::ctrl::control_name(c.cmd)),
                Body::Alloc(a) => format!("{} {}", d.name(), nvabi::class::class_name(a.class)),
                _ => d.name().to_string(),
            }
        }
        None => format!("{:?}", io.node),
    };
    format!("{r:?} <- {what}")
}

/// Every route the calls of `cap` get, with the calls and their counts.
pub fn routes(cap: &Capture) -> BTreeMap<String, usize> {
    let mut m = BTreeMap::new();
    for t in &cap.traces {
        for rec in &t.records {
            if let RBody::Ioctl(io) = &rec.body {
                if io.cmd == format::MARKER_CMD {
                    continue;
                }
                if let Some(r) = route_of(io) {
                    *m.entry(label(io, r)).or_insert(0) += 1;
                }
            }
        }
    }
    m
}

/// The calls of `cap` the table refuses or does not route (a workload that
/// makes them fails through the proxy).
pub fn refused(cap: &Capture) -> BTreeMap<String, usize> {
    routes(cap)
        .into_iter()
        .filter(|(k, _)| k.starts_with("Refuse") || k.starts_with("Unrouted"))
        .collect()
}
