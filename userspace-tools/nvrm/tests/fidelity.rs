//! Fidelity of nvsim against the real driver: the statuses of the
//! fidelity sequence (tests/fidelity/sequence.nvrm) as the H100 with driver
//! 580.159.04 answered (tests/fidelity/h100-580.159.04/, run with
//! scripts/h100/fidelity.sh) and as nvsim answers
//! (tests/fidelity/nvsim/output.txt, from `scripts/vm-run
//! scripts/h100/fidelity.sh`).
//!
//! Every call of the sequence must get the same status from both, and
//! every allocation the same size (the driver's rounding). The memory
//! totals differ by design (nvsim's VRAM size is a module parameter and it
//! reserves none): `memory_info_shape` checks their shape instead.

use std::collections::BTreeMap;
use std::path::PathBuf;

fn root() -> PathBuf {
    // Read when the test runs (cargo sets it for the test process), not
    // baked in at build time: a test binary from the build cache then reads
    // the fidelity data of the tree it runs for.
    let dir = std::env::var_os("CARGO_MANIFEST_DIR")
        .map_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")), PathBuf::from);
    dir.join("../../tests/fidelity")
}

/// `line -> status` of one run's sequence output.
fn statuses(text: &str) -> BTreeMap<String, String> {
    text.lines()
        .filter_map(|l| l.rsplit_once(" -> "))
        .map(|(a, b)| (a.trim().to_string(), b.trim().to_string()))
        .collect()
}

fn read(rel: &str) -> String {
    std::fs::read_to_string(root().join(rel)).unwrap_or_else(|e| panic!("{rel}: {e}"))
}

#[test]
fn statuses_agree_with_the_h100() {
    let h100 = statuses(&read("h100-580.159.04/sequence.txt"));
    let sim = statuses(&read("nvsim/output.txt"));
    let seq = read("sequence.nvrm");
    // write32/read32 make no driver call (and print no status when they work).
    let calls: Vec<&str> = seq
        .lines()
        .map(str::trim)
        .filter(|l| {
            !l.is_empty()
                && !l.starts_with('#')
                && !l.starts_with("write32")
                && !l.starts_with("read32")
        })
        .collect();
    for line in &calls {
        let (Some(h), Some(s)) = (h100.get(*line), sim.get(*line)) else {
            panic!("{line}: missing from one of the runs");
        };
        assert_eq!(s, h, "{line}: nvsim answers {s}, the H100 {h}");
    }
    assert!(calls.len() >= 50, "only {} calls compared", calls.len());
}

/// The `size N` lines (allocated sizes, in sequence order).
fn sizes(text: &str) -> Vec<u64> {
    text.lines()
        .filter_map(|l| l.strip_prefix("size "))
        .filter_map(|v| v.trim().parse().ok())
        .collect()
}

#[test]
fn allocation_sizes_agree_with_the_h100() {
    let h = sizes(&read("h100-580.159.04/sequence.txt"));
    let s = sizes(&read("nvsim/output.txt"));
    assert!(h.len() >= 8, "H100 sizes: {h:?}");
    assert_eq!(s, h, "allocated sizes (rounding) differ");
}

#[test]
fn memory_info_shape() {
    // H100: RAM_SIZE > HEAP_SIZE (reserved), HEAP_FREE == HEAP_SIZE with
    // nothing allocated by this client (others may hold memory). nvsim:
    // HEAP_SIZE == RAM_SIZE (no reserve simulated), free <= heap.
    for (rel, strict) in [
        ("h100-580.159.04/sequence.txt", true),
        ("nvsim/output.txt", false),
    ] {
        let t = read(rel);
        let l = t
            .lines()
            .find(|l| l.starts_with("total "))
            .expect("a meminfo line");
        let v: Vec<u64> = l
            .split_whitespace()
            .filter_map(|w| w.parse().ok())
            .collect();
        let (total, heap, free) = (v[0], v[1], v[2]);
        assert!(heap <= total && free <= heap, "{rel}: {l}");
        assert_eq!(total % 1024, 0, "{rel}: sizes are KiB multiples");
        if strict {
            assert!(heap < total, "{rel}: the real driver reserves memory");
        }
    }
}

#[test]
fn node_numbers_agree() {
    // Both register 195:0 and 195:255 and a dynamic nvidia-uvm major.
    for rel in ["h100-580.159.04/env.txt", "nvsim/output.txt"] {
        let t = read(rel);
        assert!(t.lines().any(|l| l.trim() == "195 nvidia"), "{rel}");
        assert!(t.lines().any(|l| l.trim() == "195 nvidiactl"), "{rel}");
        assert!(
            t.lines()
                .any(|l| l.ends_with(" nvidia-uvm") && !l.starts_with("195")),
            "{rel}"
        );
        assert!(
            t.contains("195,   0") || t.contains("195,   0 "),
            "{rel}: nvidia0 is 195:0"
        );
        assert!(t.contains("195, 255"), "{rel}: nvidiactl is 195:255");
    }
}
