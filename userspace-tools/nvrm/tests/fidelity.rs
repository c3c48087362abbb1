//! Fidelity of nvsim against the real driver: the statuses of the
//! fidelity sequence (tests/fidelity/sequence.nvrm) as the H100 with driver
//! 580.159.04 answered (tests/fidelity/h100-580.159.04/, run with
//! scripts/h100/fidelity.sh) and as nvsim answers
//! (tests/fidelity/nvsim/output.txt, from `scripts/vm-run
//! scripts/h100/fidelity.sh`).
//!
//! The H100 run was made with an nvrm that sent `owner = 0` in memory
//! allocations and `engineType = 0` for channel groups; the driver refused
//! both (NV_ERR_INVALID_OWNER, NV_ERR_INVALID_ARGUMENT). nvsim refuses the
//! same inputs with the same statuses (guest test 21-nvsim-rm.sh), and the
//! current nvrm sends valid values, so those lines are checked against
//! that rule instead of line for line; lines the H100 run skipped (they
//! needed an object it had refused) are not compared.

use std::collections::BTreeMap;
use std::path::PathBuf;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../tests/fidelity")
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
    let mut compared = 0;
    let mut by_rule = 0;
    let mut unmapped: Vec<String> = Vec::new();
    // write32/read32 make no driver call (and print no status when they work).
    let calls = seq.lines().map(str::trim).filter(|l| {
        !l.is_empty() && !l.starts_with('#') && !l.starts_with("write32") && !l.starts_with("read32")
    });
    for line in calls {
        let (Some(h), Some(s)) = (h100.get(line), sim.get(line)) else {
            panic!("{line}: missing from one of the runs");
        };
        if h.starts_with("SKIP") {
            if let Some(file) = line.strip_prefix("map ").and_then(|r| r.split_whitespace().nth(7)) {
                unmapped.push(file.to_string());
            }
            continue;
        }
        // An mmap of a file whose RM_MAP_MEMORY the H100 run could not make
        // (no context: EINVAL there, by the same rule nvsim applies).
        if let Some(file) = line.strip_prefix("mmap ").and_then(|r| r.split_whitespace().nth(1)) {
            if unmapped.iter().any(|f| f == file) {
                assert_eq!(h, "EINVAL", "{line}");
                by_rule += 1;
                continue;
            }
        }
        let memory = line.starts_with("alloc ") && (line.contains(" 0x40 ") || line.contains(" 0x3e "));
        if memory && h == "NV_ERR_INVALID_OWNER" {
            // owner = 0 in the H100 run; nvsim's answer to owner = 0 is checked in the guest.
            assert!(s == "NV_OK" || s == "NV_ERR_NO_MEMORY", "{line}: nvsim {s}");
            by_rule += 1;
            continue;
        }
        if line.starts_with("tsg ") && h == "NV_ERR_INVALID_ARGUMENT" {
            // engineType = 0 in the H100 run (nvsim refuses it the same way).
            assert_eq!(s, "NV_OK", "{line}");
            by_rule += 1;
            continue;
        }
        assert_eq!(s, h, "{line}: nvsim answers {s}, the H100 {h}");
        compared += 1;
    }
    assert!(compared >= 30, "only {compared} lines compared");
    assert!(by_rule >= 5, "rule-checked lines: {by_rule}");
}

#[test]
fn memory_info_shape() {
    // H100: RAM_SIZE > HEAP_SIZE (reserved), HEAP_FREE == HEAP_SIZE with
    // nothing allocated by this client (others may hold memory). nvsim:
    // HEAP_SIZE == RAM_SIZE (no reserve simulated), free <= heap.
    for (rel, strict) in [("h100-580.159.04/sequence.txt", true), ("nvsim/output.txt", false)] {
        let t = read(rel);
        let l = t.lines().find(|l| l.starts_with("total ")).expect("a meminfo line");
        let v: Vec<u64> = l.split_whitespace().filter_map(|w| w.parse().ok()).collect();
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
        assert!(t.lines().any(|l| l.ends_with(" nvidia-uvm") && !l.starts_with("195")), "{rel}");
        assert!(t.contains("195,   0") || t.contains("195,   0 "), "{rel}: nvidia0 is 195:0");
        assert!(t.contains("195, 255"), "{rel}: nvidiactl is 195:255");
    }
}
