// SPDX-License-Identifier: GPL-2.0-only
//! The routing table against the H100 captures: every call of every
//! capture (CUDA init, PyTorch, CUDA VMM, managed memory, nvidia-smi, two
//! processes, CUDA IPC) is routed, and none is refused or unrouted.
use nvreplay::load;
use nvreplay::routes::{all_captures, refused, routes};

#[test]
fn every_call_of_every_capture_is_routed() {
    let names = all_captures();
    assert!(names.len() >= 9, "captures: {names:?}");
    let mut calls = 0;
    for name in &names {
        let cap = load(name).unwrap();
        let r = routes(&cap);
        calls += r.values().sum::<usize>();
        let bad = refused(&cap);
        assert!(
            bad.is_empty(),
            "{name}: calls the table refuses or does not route: {bad:#?}"
        );
    }
    assert!(calls > 3000, "only {calls} calls");
}

#[test]
fn the_captures_exercise_the_special_routes() {
    let mut all = std::collections::BTreeMap::new();
    for name in all_captures() {
        for (k, v) in routes(&load(&name).unwrap()) {
            *all.entry(
                k.split(" <- ")
                    .next()
                    .unwrap()
                    .split(['(', ' ', '{'])
                    .next()
                    .unwrap()
                    .to_string(),
            )
            .or_insert(0) += v;
        }
    }
    for want in [
        "ChargeAlloc",
        "Track",
        "AllocDevice",
        "Free",
        "Dup",
        "FbInfoV2",
        "CardInfo",
        "GpuIdList",
        "SchedLever",
        "MapMemory",
        "Forward",
    ] {
        assert!(all.contains_key(want), "no call routed {want}: {all:?}");
    }
}
