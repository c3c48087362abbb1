// SPDX-License-Identifier: GPL-2.0-only
//! The proxy's routing table over the captures: every recorded call gets
//! the route `fakegpu_core::policy::route` gives it, the module's view.

use fakegpu_core::nvabi::{
    self,
    decode::{Body, Decoded},
};
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

/// A recorded ioctl decoded as the module decodes it, and its route
/// (`None`: not an nvidia node).
fn decode_and_route(io: &Ioctl) -> Option<(Decoded, Route)> {
    let fk = io.node.file_kind()?;
    let d = nvabi::decode(fk, io.cmd, &io.before);
    let r = route(&d, &ContextView::default());
    Some((d, r))
}

/// A name for a route and the call it was given to, for tallies.
fn label(d: &Decoded, r: Route) -> String {
    let what = match d.body {
        Body::Control(c) => format!("{} {}", d.name(), nvabi::ctrl::control_name(c.cmd)),
        Body::Alloc(a) => format!("{} {}", d.name(), nvabi::class::class_name(a.class)),
        _ => d.name().to_string(),
    };
    format!("{r:?} <- {what}")
}

/// The calls of `cap` whose route `keep` accepts, by route and call, with
/// their counts.
fn tally(cap: &Capture, keep: impl Fn(Route) -> bool) -> BTreeMap<String, usize> {
    let mut m = BTreeMap::new();
    for t in &cap.traces {
        for rec in &t.records {
            let RBody::Ioctl(io) = &rec.body else {
                continue;
            };
            if io.cmd == format::MARKER_CMD {
                continue;
            }
            if let Some((d, r)) = decode_and_route(io).filter(|(_, r)| keep(*r)) {
                *m.entry(label(&d, r)).or_insert(0) += 1;
            }
        }
    }
    m
}

/// Every route the calls of `cap` get, with the calls and their counts.
pub fn routes(cap: &Capture) -> BTreeMap<String, usize> {
    tally(cap, |_| true)
}

/// The calls of `cap` the table refuses or does not route (a workload that
/// makes them fails through the proxy).
pub fn refused(cap: &Capture) -> BTreeMap<String, usize> {
    tally(cap, |r| {
        matches!(r, Route::Refuse(_) | Route::Unrouted { .. })
    })
}
