// SPDX-License-Identifier: GPL-2.0-only
//! The recorder against fake device nodes (regular files whose path matches
//! NVTRACE_DEV_PREFIX), and the decoder against the committed H100 captures.
use nvtrace::format::{self, Body, Node};
use nvtrace::listing;
use std::path::{Path, PathBuf};
use std::process::Command;

fn tmpdir(tag: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("nvtrace-test-{tag}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(d.join("dev")).unwrap();
    std::fs::create_dir_all(d.join("out")).unwrap();
    d
}

fn record_fake() -> format::Trace {
    let d = tmpdir("fake");
    let st = Command::new(env!("NVTRACE_FAKEDEV_TEST"))
        .arg(d.join("dev"))
        .env("LD_PRELOAD", nvtrace::PRELOAD_SO)
        .env("NVTRACE_OUT", d.join("out"))
        .env("NVTRACE_DEV_PREFIX", d.join("dev/nvidia"))
        .status()
        .unwrap();
    assert!(st.success());
    let files: Vec<_> = std::fs::read_dir(d.join("out"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    assert_eq!(files.len(), 1, "one file per process: {files:?}");
    let name = files[0].file_name().unwrap().to_string_lossy().into_owned();
    assert!(name.starts_with("nvtrace.") && name.ends_with(".bin"));
    let t = format::parse(&std::fs::read(&files[0]).unwrap()).unwrap();
    let _ = std::fs::remove_dir_all(&d);
    t
}

#[test]
fn records_fake_device_traffic() {
    let t = record_fake();
    assert_eq!(t.trailing, 0);
    assert!(
        matches!(&t.records[0].body, Body::Proc { cmdline } if cmdline[0].ends_with("fakedev_test"))
    );
    let opens: Vec<&str> = t
        .records
        .iter()
        .filter_map(|r| match &r.body {
            Body::Open { path, .. } => Some(path.as_str()),
            _ => None,
        })
        .collect();
    assert_eq!(opens.len(), 2, "ctl and uvm, not 'other': {opens:?}");
    assert!(opens[0].ends_with("/nvidiactl") && opens[1].ends_with("/nvidia-uvm"));
    assert!(t
        .records
        .iter()
        .any(|r| matches!(&r.body, Body::Marker { text } if text == "hello marker")));

    let ios: Vec<_> = listing::ioctls(&t).collect();
    // alloc, control, bad control, uvm init, uvm unknown, thread free, dup'd free
    assert_eq!(
        ios.len(),
        7,
        "{:#?}",
        ios.iter().map(|(_, i)| i.cmd).collect::<Vec<_>>()
    );
    let (r0, alloc) = ios[0];
    assert_eq!(alloc.cmd, 0xc020_462b);
    assert_eq!(alloc.node, Node::Ctl);
    assert_eq!(alloc.ret, -1);
    assert_eq!(alloc.errno, 25, "ENOTTY on a regular file");
    assert_eq!(alloc.before.len(), 32);
    assert_eq!(alloc.nested.len(), 1);
    assert_eq!(alloc.nested[0].kind, 1);
    assert_eq!(alloc.nested[0].before.len(), 128, "size by class 0x40");
    assert_eq!(
        u64::from_le_bytes(alloc.nested[0].before[64..72].try_into().unwrap()),
        0x123000
    );
    let v = listing::view(alloc, r0.flags);
    assert_eq!(v.name, "NV_ESC_RM_ALLOC");
    assert!(v.detail.unwrap().contains("0x40"));

    let (_, ctl) = ios[1];
    assert_eq!(ctl.nested.len(), 1);
    assert_eq!(ctl.nested[0].kind, 2);
    assert_eq!(ctl.nested[0].before.len(), 1028);
    let (_, bad) = ios[2];
    assert_eq!(
        bad.nested[0].flags & format::NF_BEFORE_FAULT,
        format::NF_BEFORE_FAULT
    );

    let (_, ui) = ios[3];
    assert_eq!(
        (ui.node, ui.cmd, ui.before.len()),
        (Node::Uvm, 0x3000_0001, 16)
    );
    let (r4, unk) = ios[4];
    assert_eq!(unk.before.len(), 0);
    assert_eq!(r4.flags & format::IF_SIZE_UNKNOWN, format::IF_SIZE_UNKNOWN);

    let (r5, _) = ios[5];
    assert_ne!(r5.tid, r0.tid, "the thread's ioctl carries its own tid");
    assert!(t
        .records
        .iter()
        .any(|r| matches!(&r.body, Body::FdSeen { path } if path.ends_with("/nvidiactl"))));
    assert!(t
        .records
        .iter()
        .any(|r| matches!(&r.body, Body::Mmap(m) if m.len == 65536 && m.node == Node::Ctl)));
    assert!(t
        .records
        .iter()
        .any(|r| matches!(&r.body, Body::Munmap { len: 65536, .. })));
    assert!(
        t.records
            .iter()
            .filter(|r| matches!(&r.body, Body::Close { .. }))
            .count()
            >= 3
    );
    // timestamps are monotonic per record order within one thread
    let mut out = String::new();
    listing::show(&t, &mut out, true);
    assert!(
        out.contains("NV_ESC_RM_ALLOC") && out.contains("MARK hello marker"),
        "{out}"
    );
}

#[test]
fn torn_last_record_is_tolerated() {
    let d = tmpdir("torn");
    let st = Command::new(env!("NVTRACE_FAKEDEV_TEST"))
        .arg(d.join("dev"))
        .env("LD_PRELOAD", nvtrace::PRELOAD_SO)
        .env("NVTRACE_OUT", d.join("out"))
        .env("NVTRACE_DEV_PREFIX", d.join("dev/nvidia"))
        .status()
        .unwrap();
    assert!(st.success());
    let f = std::fs::read_dir(d.join("out"))
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .path();
    let mut data = std::fs::read(&f).unwrap();
    let full = format::parse(&data).unwrap();
    data.truncate(data.len() - 3);
    let t = format::parse(&data).unwrap();
    assert_eq!(t.records.len(), full.records.len() - 1);
    assert!(t.trailing > 0);
    assert_eq!(
        format::parse(b"NOTATRACE-and-some-more-bytes-to-pass-the-length-check"),
        Err(format::Error::BadMagic)
    );
    let _ = std::fs::remove_dir_all(&d);
}

fn traces_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/traces")
}

fn load(rel: &str) -> Vec<format::Trace> {
    let dir = traces_dir().join(rel);
    let mut v: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.to_string_lossy().ends_with(".bin.zst"))
        .collect();
    v.sort();
    v.iter()
        .map(|p| format::parse(&nvtrace::read_trace_file(p).unwrap()).unwrap())
        .collect()
}

#[test]
fn h100_captures_parse_and_decode() {
    for cap in [
        "01-cuda-init",
        "02-torch-alloc",
        "03-cuda-vmm",
        "04-managed",
        "05-nvidia-smi",
        "06-torch-matmul",
        "07-two-procs",
    ] {
        let ts = load(cap);
        assert!(!ts.is_empty(), "{cap}");
        for t in &ts {
            assert_eq!(t.trailing, 0, "{cap}");
            let s = listing::stats(t);
            assert!(s.records.get("ioctl").copied().unwrap_or(0) > 10, "{cap}");
            assert!(!s.records.contains_key("unknown"), "{cap}");
        }
    }
    // PyTorch's 4 GiB tensor: an RM_ALLOC of NV01_MEMORY_LOCAL_USER whose size
    // (nested @64, written back by the RM) is at least 4 GiB.
    let t = &load("02-torch-alloc")[0];
    let big = listing::ioctls(t).any(|(_, io)| {
        io.cmd & 0xff == 0x2b
            && u32::from_le_bytes(io.before[12..16].try_into().unwrap()) == 0x40
            && io
                .nested
                .first()
                .is_some_and(|n| u64::from_le_bytes(n.after[64..72].try_into().unwrap()) >= 4 << 30)
    });
    assert!(big, "4 GiB vidmem allocation not found");
    // The ground-truth markers are in the trace.
    let marks: Vec<String> = t
        .records
        .iter()
        .filter_map(|r| match &r.body {
            Body::Marker { text } => Some(text.clone()),
            _ => None,
        })
        .collect();
    assert!(
        marks.iter().any(|m| m == "gt:after_alloc_4GiB"),
        "{marks:?}"
    );
    // Two processes: two files with different pids.
    let two = load("07-two-procs");
    assert_eq!(two.len(), 2);
    assert_ne!(two[0].header.pid, two[1].header.pid);
}
