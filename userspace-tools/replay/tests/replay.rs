// SPDX-License-Identifier: GPL-2.0-only
//! Replay tests: the H100 captures through fakegpu-core's decoder,
//! classifier, ledger and memory-info rewriter (see the crate docs and
//! docs/replay.md). Each test also shows that it can fail: a perturbed
//! trace or a wrong checkpoint must be caught.

use fakegpu_core::nvabi::{self, ctrl, decode::Body, rewrite_memory_info, Decoded};
use nvreplay::*;
use nvtrace::format::{Body as RBody, Ioctl};

const MIB: u64 = 1 << 20;
const GIB: u64 = 1 << 30;
const CAP: u64 = 8 * GIB;

fn cap(name: &str) -> Capture {
    load(name).unwrap_or_else(|e| panic!("{e}"))
}

fn ioctls_mut(c: &mut Capture) -> impl Iterator<Item = &mut Ioctl> {
    c.traces
        .iter_mut()
        .flat_map(|t| t.records.iter_mut())
        .filter_map(|r| match &mut r.body {
            RBody::Ioctl(io) => Some(io),
            _ => None,
        })
}

fn is_alloc_of(io: &Ioctl, class: u32) -> bool {
    io.cmd & 0xff == 0x2b && io.before.get(12..16) == Some(&class.to_le_bytes()[..])
}

fn nested_size(io: &Ioctl) -> u64 {
    u64::from_le_bytes(io.nested[0].after[64..72].try_into().unwrap())
}

// ---- decoder completeness -------------------------------------------------

#[test]
fn no_call_in_any_capture_is_unknown() {
    let mut calls = 0;
    for name in CAPTURES {
        let c = cap(name);
        let u = unknowns(&c);
        assert!(u.is_empty(), "{name}: not fully decoded: {u:#?}");
        for t in &c.traces {
            // nvtrace's own listing (the `nvtrace show/stats` view) agrees.
            let s = nvtrace::listing::stats(t);
            assert!(
                s.undecoded.is_empty(),
                "{name}: nvtrace flags {:#?}",
                s.undecoded
            );
            calls += s.records.get("ioctl").copied().unwrap_or(0);
        }
    }
    assert!(calls > 3000, "only {calls} ioctls in the captures");
}

#[test]
fn every_control_matches_its_declared_size() {
    // Controls with a header-checked size carry exactly that paramsSize in
    // the captures; undocumented ones the size recorded in the table.
    let mut seen = std::collections::BTreeSet::new();
    for name in CAPTURES {
        for t in &cap(name).traces {
            for (_, io) in nvtrace::listing::ioctls(t) {
                let d = nvabi::decode(nvabi::FileKind::Ctl, io.cmd, &io.before);
                let Body::Control(c) = d.body else { continue };
                if io.node != nvtrace::format::Node::Ctl {
                    continue;
                }
                seen.insert(c.cmd);
                if let Some(n) = ctrl::control_param_size(c.cmd) {
                    assert_eq!(c.params.size, n, "{name}: {}", ctrl::control_name(c.cmd));
                }
                if let Some(u) = ctrl::undocumented_control(c.cmd) {
                    assert_eq!(c.params.size, u.observed_size, "{name}: {}", u.name);
                }
            }
        }
    }
    // NVIDIA's 550 clients against nvsim (tests/fidelity/nvsim-550-clients),
    // at 550's sizes.
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../tests/fidelity/nvsim-550-clients");
    let r550 = fakegpu_core::nvabi::Branch::R550;
    for client in ["smi", "smiq", "nvml", "cuda"] {
        let f = dir.join(format!("nvtrace.{client}.bin.zst"));
        let t = nvtrace::format::parse(&nvtrace::read_trace_file(&f).unwrap()).unwrap();
        for (_, io) in nvtrace::listing::ioctls(&t) {
            if io.node != nvtrace::format::Node::Ctl {
                continue;
            }
            let d = nvabi::decode_for(r550, nvabi::FileKind::Ctl, io.cmd, &io.before);
            let Body::Control(c) = d.body else { continue };
            seen.insert(c.cmd);
            if let Some(n) = r550.control_size(c.cmd).or(ctrl::control_param_size(c.cmd)) {
                assert_eq!(
                    c.params.size,
                    n,
                    "550 {client}: {}",
                    ctrl::control_name(c.cmd)
                );
            }
            // An undocumented control's 550 size, where it differs from
            // 580's, is the branch table's (checked above).
            if let Some(u) =
                ctrl::undocumented_control(c.cmd).filter(|_| r550.control_size(c.cmd).is_none())
            {
                assert_eq!(c.params.size, u.observed_size, "550 {client}: {}", u.name);
            }
        }
    }
    for u in ctrl::UNDOCUMENTED_CONTROLS {
        assert!(seen.contains(&u.cmd), "{} is in no capture", u.name);
    }
    assert!(seen.len() > 90, "{} distinct controls", seen.len());
}

#[test]
fn an_unknown_control_is_detected() {
    let mut c = cap("01-cuda-init");
    let io = ioctls_mut(&mut c).find(|io| io.cmd & 0xff == 0x2a).unwrap();
    io.before[8..12].copy_from_slice(&0x2080_01ffu32.to_le_bytes()); // NVOS54.cmd
    let u = unknowns(&c);
    // The decoder does not know it, and the routing table refuses it.
    assert_eq!(u.len(), 2, "{u:?}");
    assert!(
        u.keys().any(|k| k.contains("unknown control 0x208001ff")),
        "{u:?}"
    );
    assert!(
        u.keys().any(|k| k.contains("refused by the routing table")),
        "{u:?}"
    );
}

#[test]
fn an_unknown_class_and_escape_are_detected() {
    let mut c = cap("01-cuda-init");
    let io = ioctls_mut(&mut c)
        .find(|io| is_alloc_of(io, 0x2081))
        .unwrap();
    io.before[12..16].copy_from_slice(&0x2083u32.to_le_bytes());
    let io = ioctls_mut(&mut c).find(|io| io.cmd == 0xc00846d6).unwrap(); // SYS_PARAMS
    io.cmd = 0xc00846e0; // escape 0xe0: none
    let u = unknowns(&c);
    assert!(
        u.keys().any(|k| k.contains("unknown class 0x2083")),
        "{u:?}"
    );
    assert!(u.keys().any(|k| k.contains("unknown command")), "{u:?}");
}

// ---- the ledger against the ground truth ----------------------------------

fn checkpoints_hold(name: &str) -> (Capture, Replay) {
    let c = cap(name);
    let r = replay(&c, u64::MAX);
    assert!(r.anomalies.is_empty(), "{name}: {:?}", r.anomalies);
    assert!(r.refused.is_empty());
    match check_checkpoints(&c, &r) {
        Ok(n) => assert!(n >= 2, "{name}: only {n} steps checked"),
        Err(e) => panic!("{}", e.join("\n")),
    }
    // Process exit frees everything.
    assert!(
        r.final_used.values().all(|&u| u == 0),
        "{name}: {:?}",
        r.final_used
    );
    (c, r)
}

fn ledger_at(r: &Replay, pid: u32, step: &str) -> u64 {
    r.checkpoints
        .iter()
        .find(|c| c.pid == pid && c.step == step)
        .unwrap_or_else(|| panic!("{step}"))
        .used
}

#[test]
fn cuda_init_costs_the_explicit_allocations_plus_the_rm_internal_ones() {
    let (c, r) = checkpoints_hold("01-cuda-init");
    let pid = c.traces[0].header.pid;
    // 17 RM_ALLOCs of vidmem by libcuda during cudaFree(0).
    let init: Vec<&Allocation> = r
        .allocations
        .iter()
        .filter(|a| a.after_marker.as_deref() == Some("do:cudaFree0_init"))
        .collect();
    assert_eq!(init.len(), 17);
    assert_eq!(init.iter().map(|a| a.allocated).sum::<u64>(), 543_162_368);
    assert_eq!(ledger_at(&r, pid, "before_init"), 0);
    assert_eq!(ledger_at(&r, pid, "after_init"), 543_162_368);
    assert_eq!(internal_bytes(1), 9_240_576);
    assert_eq!(
        c.steps
            .iter()
            .find(|s| s.step == "after_init")
            .unwrap()
            .cuda_used(),
        Some(552_402_944)
    );
}

#[test]
fn torch_tensors_are_charged_exactly() {
    let (c, r) = checkpoints_hold("02-torch-alloc");
    let pid = c.traces[0].header.pid;
    let base = ledger_at(&r, pid, "after_init");
    let step = |n: &str| c.steps.iter().find(|s| s.step == n).unwrap().clone();
    let res0 = step("after_init").torch_reserved.unwrap();
    // The ledger moves exactly as PyTorch's reserved segments (the caching
    // allocator's cudaMallocs): the 1 MiB tensor fits in the 2 MiB small-pool
    // segment made at init (no call), 64 MiB / 1 GiB / 4 GiB are segments of
    // exactly that size, frees go back to the cache (no call) and
    // empty_cache() returns them.
    for s in &c.steps {
        let (Some(res), true) = (s.torch_reserved, s.step != "before_import") else {
            continue;
        };
        assert_eq!(ledger_at(&r, pid, &s.step) - base, res - res0, "{}", s.step);
    }
    assert_eq!(ledger_at(&r, pid, "after_alloc_1MiB"), base);
    let tensors: Vec<u64> = r
        .allocations
        .iter()
        .filter(|a| {
            a.after_marker
                .as_deref()
                .is_some_and(|m| m.starts_with("do:alloc_"))
        })
        .map(|a| a.allocated)
        .collect();
    assert_eq!(tensors, [64 * MIB, GIB, 4 * GIB]);
    assert_eq!(
        ledger_at(&r, pid, "after_alloc_4GiB") - base,
        64 * MIB + GIB + 4 * GIB
    );
    assert_eq!(ledger_at(&r, pid, "after_empty_cache"), base);
}

#[test]
fn the_rm_writes_back_the_allocated_size() {
    // libcuda asks for sizes the RM rounds up to its 2 MiB page size and
    // writes back; the ledger must charge the written-back size.
    let c = cap("01-cuda-init");
    let r = replay(&c, u64::MAX);
    let rounded: Vec<(u64, u64)> = r
        .allocations
        .iter()
        .filter(|a| a.requested != a.allocated)
        .map(|a| (a.requested, a.allocated))
        .collect();
    assert_eq!(
        rounded,
        [
            (4_325_376, 6 * MIB),
            (72_116_352, 70 * MIB),
            (432_537_600, 414 * MIB)
        ]
    );
    for a in &r.allocations {
        assert_eq!(
            a.allocated,
            a.requested.div_ceil(2 * MIB) * (2 * MIB),
            "{a:?}"
        );
        assert_eq!(
            fakegpu_core::nvabi::class::attr_page_size(a.attr),
            3,
            "huge pages"
        );
    }
    // Charging the request instead is caught by the checkpoints.
    let wrong = replay_with(
        &c,
        Options {
            limit: u64::MAX,
            charge_requested: true,
        },
    );
    let e = check_checkpoints(&c, &wrong).unwrap_err();
    // 1,966,080 + 1,283,968 + 1,572,864 bytes of rounding go missing.
    assert_eq!(e.len(), 2, "after_init and end: {e:?}");
    assert!(e.iter().all(|x| x.contains("(+4822912)")), "{e:?}");
}

#[test]
fn cuda_vmm_allocation_is_charged_at_create_and_returned_at_release() {
    let (c, r) = checkpoints_hold("03-cuda-vmm");
    let pid = c.traces[0].header.pid;
    assert_eq!(
        ledger_at(&r, pid, "after_cuMemCreate") - ledger_at(&r, pid, "after_init"),
        512 * MIB
    );
    assert_eq!(
        ledger_at(&r, pid, "after_map_and_touch"),
        ledger_at(&r, pid, "after_cuMemCreate")
    );
    assert_eq!(
        ledger_at(&r, pid, "after_release"),
        ledger_at(&r, pid, "after_init")
    );
}

#[test]
fn managed_memory_is_the_one_known_gap() {
    let (c, r) = checkpoints_hold("04-managed");
    let pid = c.traces[0].header.pid;
    // The ledger does not move at all: UVM backs the pages without an RM call...
    let l: Vec<u64> = c
        .steps
        .iter()
        .map(|s| ledger_at(&r, pid, &s.step))
        .collect();
    assert!(l.iter().all(|&x| x == l[0]), "{l:?}");
    // ...while the driver shows exactly the 256 MiB touched.
    let s = |n: &str| {
        c.steps
            .iter()
            .find(|s| s.step == n)
            .unwrap()
            .cuda_used()
            .unwrap()
    };
    assert_eq!(s("after_gpu_touch") - s("after_init"), 256 * MIB);
    // Without the documented gap, the check fails at exactly that step.
    let mut bare = c.clone();
    bare.name = "04-managed-without-gap".into();
    let e = check_checkpoints(&bare, &r).unwrap_err();
    assert_eq!(e.len(), 1);
    assert!(
        e[0].contains("after_gpu_touch") && e[0].contains("(+268435456)"),
        "{e:?}"
    );
}

#[test]
fn matmul_workspace_and_results_are_charged() {
    checkpoints_hold("06-torch-matmul");
}

#[test]
fn two_processes_sum_and_the_second_context_costs_less() {
    let (c, r) = checkpoints_hold("07-two-procs");
    assert_eq!(c.traces.len(), 2);
    assert!(
        r.checkpoints.iter().all(|cp| cp.contexts == 2),
        "{:?}",
        r.checkpoints
    );
    assert_eq!(
        internal_bytes(2) - internal_bytes(1),
        CONTEXT_INTERNAL_BYTES
    );
    for (pid, req) in [
        (c.traces[0].header.pid, 512 * MIB),
        (c.traces[1].header.pid, GIB),
    ] {
        assert_eq!(
            ledger_at(&r, pid, "after_cudaMalloc") - ledger_at(&r, pid, "after_init"),
            req
        );
        assert_eq!(
            ledger_at(&r, pid, "after_free"),
            ledger_at(&r, pid, "after_init")
        );
    }
}

#[test]
fn nvidia_smi_allocates_no_video_memory() {
    let c = cap("05-nvidia-smi");
    let r = replay(&c, u64::MAX);
    assert_eq!(c.traces.len(), 3);
    assert!(r.allocations.is_empty());
    assert!(r.anomalies.is_empty());
    assert!(r.mem_info.len() >= 3);
}

#[test]
fn a_wrong_checkpoint_is_detected() {
    let c = cap("02-torch-alloc");
    let r = replay(&c, u64::MAX);
    for (i, delta) in [(3usize, 4096i64), (6, -(2 * MIB as i64)), (10, 1)] {
        let mut bad = c.clone();
        let s = &mut bad.steps[i];
        s.cuda_free = Some((s.cuda_free.unwrap() as i64 - delta) as u64);
        let e = check_checkpoints(&bad, &r).unwrap_err();
        assert_eq!(e.len(), 1, "{e:?}");
        assert!(e[0].contains(&c.steps[i].step), "{e:?}");
    }
    // A step whose marker is missing from the trace.
    let mut bad = c.clone();
    bad.steps[2].step = "after_alloc_3MiB".into();
    assert!(check_checkpoints(&bad, &r).is_err());
}

#[test]
fn a_perturbed_trace_is_detected() {
    // The RM's written-back size of the 1 GiB tensor, off by one page.
    let mut c = cap("02-torch-alloc");
    let io = ioctls_mut(&mut c)
        .find(|io| is_alloc_of(io, 0x40) && nested_size(io) == GIB)
        .unwrap();
    io.nested[0].after[64..72].copy_from_slice(&(GIB + 4096).to_le_bytes());
    let e = check_checkpoints(&c, &replay(&c, u64::MAX)).unwrap_err();
    assert_eq!(e.len(), 6, "after_alloc_1GiB .. after_free_4GiB: {e:?}");
    assert!(e.iter().all(|x| x.contains("(-4096)")), "{e:?}");

    // The RM_FREE of the 4 GiB segment (empty_cache) removed from the trace.
    let mut c = cap("02-torch-alloc");
    let r0 = replay(&c, u64::MAX);
    let h = r0
        .allocations
        .iter()
        .find(|a| a.allocated == 4 * GIB)
        .unwrap()
        .handle;
    let t = &mut c.traces[0];
    let before = t.records.len();
    t.records.retain(|r| match &r.body {
        RBody::Ioctl(io) => {
            !(io.cmd & 0xff == 0x29 && io.before.get(8..12) == Some(&h.1.to_le_bytes()[..]))
        }
        _ => true,
    });
    assert_eq!(t.records.len(), before - 1);
    let e = check_checkpoints(&c, &replay(&c, u64::MAX)).unwrap_err();
    assert_eq!(e.len(), 1);
    assert!(
        e[0].contains("after_empty_cache") && e[0].contains("(-4294967296)"),
        "{e:?}"
    );

    // A failed allocation (RM status written back) is not charged.
    let mut c = cap("03-cuda-vmm");
    let io = ioctls_mut(&mut c)
        .find(|io| is_alloc_of(io, 0x40) && nested_size(io) == 512 * MIB)
        .unwrap();
    let off = nvabi::decode(nvabi::FileKind::Ctl, io.cmd, &io.before)
        .status_offset()
        .unwrap();
    io.after[off..off + 4].copy_from_slice(&0x51u32.to_le_bytes()); // NV_ERR_NO_MEMORY
    let r = replay(&c, u64::MAX);
    assert!(check_checkpoints(&c, &r).is_err());
    assert!(!r.allocations.iter().any(|a| a.allocated == 512 * MIB));
}

// ---- caps: refusal and memory-info rewriting -------------------------------

#[test]
fn a_cap_refuses_the_allocation_that_would_pass_it() {
    let c = cap("02-torch-alloc");
    assert!(
        replay(&c, CAP).refused.is_empty(),
        "8 GiB holds the whole run"
    );
    let r = replay(&c, 4 * GIB);
    assert_eq!(r.refused, [(c.traces[0].header.pid, 4 * GIB)]);
}

fn fb_list(nested: &[u8]) -> Vec<(u32, u32)> {
    let n = u32::from_le_bytes(nested[0..4].try_into().unwrap()).min(128) as usize;
    (0..n)
        .map(|i| {
            let o = 4 + 8 * i;
            (
                u32::from_le_bytes(nested[o..o + 4].try_into().unwrap()),
                u32::from_le_bytes(nested[o + 4..o + 8].try_into().unwrap()),
            )
        })
        .collect()
}

fn get(l: &[(u32, u32)], idx: u32) -> Option<u64> {
    l.iter().find(|e| e.0 == idx).map(|e| u64::from(e.1) * 1024)
}

const TOTAL_RAM: u32 = ctrl::NV2080_CTRL_FB_INFO_INDEX_TOTAL_RAM_SIZE;
const HEAP_SIZE: u32 = ctrl::NV2080_CTRL_FB_INFO_INDEX_HEAP_SIZE;
const HEAP_FREE: u32 = ctrl::NV2080_CTRL_FB_INFO_INDEX_HEAP_FREE;

#[test]
fn cuda_mem_get_info_is_fb_get_info_v2() {
    // Ground truth: each cudaMemGetInfo equals the HEAP_SIZE/HEAP_FREE of
    // the process's first FB_GET_INFO_V2 after its gt marker (the marker is
    // written, then the truth taken; this is the reply the rewrite acts on).
    let mut n = 0;
    for name in CAPTURES {
        let c = cap(name);
        let r = replay(&c, u64::MAX);
        for s in c.steps.iter().filter(|s| s.cuda_used().is_some()) {
            let cp = r
                .checkpoints
                .iter()
                .find(|cp| cp.pid == s.pid && cp.step == s.step)
                .unwrap();
            let m = r
                .mem_info
                .iter()
                .find(|m| {
                    m.pid == s.pid
                        && m.t_ns > cp.t_ns
                        && get(&fb_list(&m.nested), HEAP_FREE).is_some()
                })
                .unwrap_or_else(|| panic!("{name} {}: no FB_GET_INFO_V2 after the marker", s.step));
            let l = fb_list(&m.nested);
            assert_eq!(get(&l, HEAP_FREE), s.cuda_free, "{name} {}", s.step);
            assert_eq!(get(&l, HEAP_SIZE), s.cuda_total, "{name} {}", s.step);
            n += 1;
        }
    }
    assert!(n >= 20, "{n}");
}

fn rewrite(m: &MemInfoReply, used: u64) -> Vec<(u32, u32)> {
    let d: &Decoded = &m.decoded;
    let (mut outer, mut nested) = (m.outer.clone(), m.nested.clone());
    rewrite_memory_info(d, &mut outer, &mut nested, CAP, used);
    fb_list(&nested)
}

#[test]
fn memory_info_replies_report_the_cap() {
    let mut checked = 0;
    for name in CAPTURES {
        let c = cap(name);
        let r = replay(&c, u64::MAX);
        for m in &r.mem_info {
            let Body::Control(_) = m.decoded.body else {
                panic!("{name}: memory info through {}", m.decoded.name())
            };
            let real = fb_list(&m.nested);
            // The container's usage as the proxy would know it: its ledger.
            let used = m.used_all;
            let l = rewrite(m, used);
            for (&(i, v), &(ri, rv)) in l.iter().zip(&real) {
                assert_eq!(i, ri);
                match nvabi::rewrite::fb_info_role(i) {
                    nvabi::rewrite::FbInfoRole::Total => {
                        assert_eq!(u64::from(v) * 1024, CAP, "{name} idx {i}")
                    }
                    nvabi::rewrite::FbInfoRole::Free => {
                        assert_eq!(u64::from(v) * 1024, CAP - used, "{name} idx {i}")
                    }
                    nvabi::rewrite::FbInfoRole::Keep => assert_eq!(v, rv, "{name} idx {i}"),
                }
            }
            if let (Some(total), Some(free)) = (get(&l, HEAP_SIZE), get(&l, HEAP_FREE)) {
                // cudaMemGetInfo inside the container: total = cap, free = cap - used.
                assert_eq!((total, free), (CAP, CAP - used), "{name}");
                checked += 1;
            }
            if let (Some(ram), Some(heap), Some(free)) =
                (get(&l, TOTAL_RAM), get(&l, HEAP_SIZE), get(&l, HEAP_FREE))
            {
                // nvidia-smi: Total = TOTAL_RAM, Reserved = TOTAL_RAM - HEAP, Used = Total - Reserved - Free.
                assert_eq!(
                    (ram, ram - heap, ram - (ram - heap) - free),
                    (CAP, 0, used),
                    "{name}"
                );
            }
        }
    }
    assert!(checked >= 30, "{checked}");
}

#[test]
fn a_wrong_usage_in_the_rewrite_is_visible() {
    let c = cap("02-torch-alloc");
    let r = replay(&c, u64::MAX);
    let m = r
        .mem_info
        .iter()
        .filter(|m| get(&fb_list(&m.nested), HEAP_FREE).is_some())
        .nth(3)
        .unwrap();
    assert!(m.used_all > 0);
    let good = get(&rewrite(m, m.used_all), HEAP_FREE).unwrap();
    let stale = get(&rewrite(m, 0), HEAP_FREE).unwrap();
    assert_eq!(good, CAP - m.used_all);
    assert_ne!(good, stale);
    // Round-down to KiB: a usage that is not a KiB multiple shows up too.
    assert_eq!(
        get(&rewrite(m, m.used_all + 1), HEAP_FREE).unwrap(),
        CAP - m.used_all - 1024
    );
}
