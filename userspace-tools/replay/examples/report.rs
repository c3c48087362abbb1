// SPDX-License-Identifier: GPL-2.0-only
//! Prints what the replay model sees in each capture: vidmem allocations,
//! checkpoints against the ground truth, memory-info replies and anything
//! the decoder did not know. The numbers of docs/replay.md come from here:
//! `cargo run -p nvreplay --example report [CAPTURE...]`.
use nvreplay::*;

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let names: Vec<&str> = if args.is_empty() {
        CAPTURES.to_vec()
    } else {
        args.iter().map(String::as_str).collect()
    };
    for name in names {
        let cap = load(name).unwrap();
        let r = replay(&cap, u64::MAX);
        println!("=== {name} ({} traces)", cap.traces.len());
        for a in &r.allocations {
            println!(
                "  alloc pid {} h 0x{:x}/0x{:x} class 0x{:x} req {} got {} type {} attr 0x{:x} attr2 0x{:x} flags 0x{:x} after {:?} freed {}",
                a.pid, a.handle.0, a.handle.1, a.class, a.requested, a.allocated, a.type_, a.attr, a.attr2, a.flags,
                a.after_marker, a.freed_ns.is_some()
            );
        }
        for c in &r.checkpoints {
            let gt = cap
                .steps
                .iter()
                .find(|s| s.pid == c.pid && s.step == c.step);
            let used = gt.and_then(Step::cuda_used);
            println!(
                "  gt {} {:<24} ledger {:>12} all {:>12} clients {:?} | cuda_used {:?} diff {:?} smi {:?} torch_res {:?}",
                c.pid, c.step, c.used, c.used_all, c.clients, used,
                used.map(|u| u as i128 - c.used_all as i128),
                gt.and_then(|g| g.smi_used_mib), gt.and_then(|g| g.torch_reserved)
            );
        }
        for m in &r.mem_info {
            println!(
                "  meminfo pid {} t {} {:?} used {} nested {}",
                m.pid,
                m.t_ns,
                nvtrace_fbinfo(&m.nested),
                m.used,
                m.nested.len()
            );
        }
        println!("  classes {:?}", r.classes);
        println!("  anomalies {:?}", r.anomalies);
        println!("  final {:?} peak {:?}", r.final_used, r.peak);
        for t in &cap.traces {
            for r in &t.records {
                if let nvtrace::format::Body::Ioctl(io) = &r.body {
                    if io.cmd & 0xff == 0x2a
                        && io.before.len() >= 12
                        && u32::from_le_bytes(io.before[8..12].try_into().unwrap()) == 0x2080_1218
                    {
                        if let Some(n) = io.nested.first() {
                            println!(
                                "  ctxbuf pid {} hChannel 0x{:x} total {}",
                                t.header.pid,
                                u32::from_le_bytes(n.after[0..4].try_into().unwrap()),
                                u64::from_le_bytes(n.after[8..16].try_into().unwrap())
                            );
                        }
                    }
                }
            }
        }
        for (k, v) in unknowns(&cap) {
            println!("  unknown {v:>4} {k}");
        }
    }
}

fn nvtrace_fbinfo(b: &[u8]) -> Vec<(u32, u32)> {
    let n = b
        .get(0..4)
        .map_or(0, |x| u32::from_le_bytes(x.try_into().unwrap()))
        .min(128) as usize;
    (0..n)
        .filter_map(|i| {
            let o = 4 + 8 * i;
            Some((
                u32::from_le_bytes(b.get(o..o + 4)?.try_into().ok()?),
                u32::from_le_bytes(b.get(o + 4..o + 8)?.try_into().ok()?),
            ))
        })
        .collect()
}
