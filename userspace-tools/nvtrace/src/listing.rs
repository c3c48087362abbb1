// SPDX-License-Identifier: GPL-2.0-only
//! Decoded listing (`nvtrace show`) and summary (`nvtrace stats`) of a trace,
//! through `fakegpu_core::nvabi`. Anything the decoder cannot place is
//! flagged with `!!` in the listing and counted under "undecoded" in stats.

use crate::format::{Body, Ioctl, Record, Trace, MARKER_CMD};
use fakegpu_core::nvabi::{
    self, class, ctrl,
    decode::{Body as DBody, Nested},
    uvm, Decoded,
};
use std::collections::BTreeMap;
use std::fmt::Write as _;

/// What the decoder made of one ioctl.
pub struct IoctlView {
    /// The decoded outer call (None for nodes the decoder does not cover).
    pub decoded: Option<Decoded>,
    /// Call name.
    pub name: String,
    /// Class (RM_ALLOC) or control command (RM_CONTROL), for grouping.
    pub detail: Option<String>,
    /// RM/UVM status written back by the driver.
    pub status: Option<u32>,
    /// Problems: undecodable, size mismatches, faults.
    pub flags: Vec<String>,
}

fn rd32(b: &[u8], o: usize) -> Option<u32> {
    Some(u32::from_le_bytes(b.get(o..o + 4)?.try_into().ok()?))
}

/// Decodes one ioctl record.
pub fn view(io: &Ioctl, rec_flags: u16) -> IoctlView {
    let mut flags = Vec::new();
    if rec_flags & crate::format::IF_BEFORE_FAULT != 0 {
        flags.push("arg unreadable before".into());
    }
    if rec_flags & crate::format::IF_SIZE_UNKNOWN != 0 {
        flags.push("recorder did not know the size".into());
    }
    let Some(fk) = io.node.file_kind() else {
        return IoctlView {
            decoded: None,
            name: format!("{}:0x{:x}", io.node.name(), io.cmd),
            detail: None,
            status: None,
            flags: vec!["node not decoded".into()],
        };
    };
    let d = nvabi::decode(fk, io.cmd, &io.before);
    let name = d.name().to_string();
    let mut detail = None;
    match d.body {
        DBody::Unknown => flags.push("unknown command".into()),
        DBody::Short { need, got } => flags.push(format!("short: need {need} got {got}")),
        DBody::Rejected(r) => flags.push(format!("driver would reject: {r:?}")),
        DBody::Alloc(a) => {
            let cn = class::class_name(a.class);
            if cn.starts_with('<') {
                flags.push(format!("unknown class 0x{:x}", a.class));
            }
            detail = Some(format!("{cn} (0x{:x})", a.class));
        }
        DBody::Control(c) => {
            let cn = ctrl::control_name(c.cmd);
            if cn.starts_with('<') {
                flags.push(format!("unknown control 0x{:08x}", c.cmd));
            }
            detail = Some(format!("{cn} (0x{:08x})", c.cmd));
        }
        _ => {}
    }
    if let (Some(nr), Some(nb)) = (d.nested(), io.nested.first()) {
        if nr.size_exact && nr.size != nb.before.len() && nr.size != 0 {
            flags.push(format!(
                "nested size: decoder {} recorded {}",
                nr.size,
                nb.before.len()
            ));
        }
        if nb.flags & crate::format::NF_BEFORE_FAULT != 0 {
            flags.push("nested unreadable".into());
        }
    }
    let status = d.status_offset().and_then(|o| rd32(&io.after, o));
    IoctlView {
        decoded: Some(d),
        name,
        detail,
        status,
        flags,
    }
}

fn short_body(b: &DBody) -> String {
    let s = format!("{b:?}");
    if s.len() > 240 {
        format!("{}…", &s[..240])
    } else {
        s
    }
}

fn nested_text(d: &Decoded, io: &Ioctl) -> Option<String> {
    let nb = io.nested.first()?;
    let before = d.decode_nested(&nb.before);
    let after = d.decode_nested(&nb.after);
    let s = |n: &Nested| {
        let t = format!("{n:?}");
        if t.len() > 300 {
            format!("{}…", &t[..300])
        } else {
            t
        }
    };
    Some(if before == after {
        format!("params {}", s(&after))
    } else {
        format!("params in {} out {}", s(&before), s(&after))
    })
}

/// Writes the listing of a trace.
pub fn show(t: &Trace, out: &mut String, hex: bool) {
    let h = &t.header;
    let _ = writeln!(
        out,
        "# nvtrace v{} pid {} ppid {} real_ns {} mono_ns {}",
        h.version, h.pid, h.ppid, h.real_ns, h.mono_ns
    );
    let t0 = h.mono_ns;
    let mut fds: BTreeMap<i32, String> = BTreeMap::new();
    let mut undecoded = 0usize;
    for r in &t.records {
        let ts = (r.t_ns as i128 - t0 as i128) as f64 / 1e9;
        let fdn = fds.get(&r.fd).cloned().unwrap_or_default();
        let _ = write!(out, "{ts:+12.6} {:>6} ", r.tid);
        match &r.body {
            Body::Proc { cmdline } => {
                let _ = writeln!(out, "PROC {}", cmdline.join(" "));
            }
            Body::Open {
                oflags,
                errno,
                path,
            } => {
                fds.insert(r.fd, path.clone());
                let _ = writeln!(
                    out,
                    "OPEN fd={} {path} flags=0x{oflags:x} errno={errno}",
                    r.fd
                );
            }
            Body::FdSeen { path } => {
                fds.insert(r.fd, path.clone());
                let _ = writeln!(out, "FD   fd={} {path} (found lazily)", r.fd);
            }
            Body::Close { ret, errno } => {
                let _ = writeln!(out, "CLOSE fd={} {fdn} ret={ret} errno={errno}", r.fd);
                fds.remove(&r.fd);
            }
            Body::Marker { text } => {
                let _ = writeln!(out, "MARK {text}");
            }
            Body::Mmap(m) => {
                let _ = writeln!(
                    out,
                    "MMAP fd={} {fdn} len=0x{:x} prot={} flags=0x{:x} off=0x{:x} -> 0x{:x} errno={}",
                    r.fd, m.len, m.prot, m.flags, m.off, m.ret, m.errno
                );
            }
            Body::Munmap {
                addr,
                len,
                ret,
                errno,
            } => {
                let _ = writeln!(
                    out,
                    "MUNMAP 0x{addr:x} len=0x{len:x} ret={ret} errno={errno}"
                );
            }
            Body::Unknown { rtype, bytes } => {
                undecoded += 1;
                let _ = writeln!(
                    out,
                    "!! unknown record type {rtype} ({} bytes)",
                    bytes.len()
                );
            }
            Body::Ioctl(io) => {
                let v = view(io, r.flags);
                let dur = io.t_end.saturating_sub(r.t_ns) as f64 / 1e3;
                let _ = write!(
                    out,
                    "IOCTL fd={} {} {} cmd=0x{:08x} ret={}",
                    r.fd,
                    io.node.name(),
                    v.name,
                    io.cmd,
                    io.ret
                );
                if io.ret < 0 {
                    let _ = write!(out, " errno={}", io.errno);
                }
                if let Some(s) = v.status {
                    let _ = write!(out, " status=0x{s:x}({})", nvabi::status_name(s));
                }
                let _ = write!(out, " {dur:.1}us");
                if let Some(dt) = &v.detail {
                    let _ = write!(out, " {dt}");
                }
                let _ = writeln!(out);
                if let Some(d) = &v.decoded {
                    let _ = writeln!(out, "        {}", short_body(&d.body));
                    if let Some(n) = nested_text(d, io) {
                        let _ = writeln!(out, "        {n}");
                    }
                }
                if !v.flags.is_empty() {
                    undecoded += 1;
                    let _ = writeln!(out, "        !! {}", v.flags.join("; "));
                }
                if hex {
                    let _ = writeln!(out, "        before {}", hexs(&io.before));
                    let _ = writeln!(out, "        after  {}", hexs(&io.after));
                    for nb in &io.nested {
                        let _ = writeln!(
                            out,
                            "        nested kind {} flags 0x{:x} ptr 0x{:x}",
                            nb.kind, nb.flags, nb.ptr
                        );
                        let _ = writeln!(out, "          before {}", hexs(&nb.before));
                        let _ = writeln!(out, "          after  {}", hexs(&nb.after));
                    }
                }
            }
        }
    }
    if t.trailing != 0 {
        let _ = writeln!(out, "!! {} trailing bytes (torn last record)", t.trailing);
    }
    let _ = writeln!(out, "# {} records, {} flagged", t.records.len(), undecoded);
}

fn hexs(b: &[u8]) -> String {
    let mut s = String::with_capacity(b.len() * 2);
    for (i, x) in b.iter().enumerate() {
        if i > 0 && i % 4 == 0 {
            s.push(' ');
        }
        let _ = write!(s, "{x:02x}");
    }
    s
}

/// Summary counts.
#[derive(Default, Debug)]
pub struct Stats {
    /// Records by type.
    pub records: BTreeMap<String, usize>,
    /// ioctls by node and call name.
    pub calls: BTreeMap<String, usize>,
    /// RM_ALLOC by class.
    pub classes: BTreeMap<String, usize>,
    /// RM_CONTROL by command.
    pub controls: BTreeMap<String, usize>,
    /// Non-zero RM/UVM statuses by call.
    pub bad_status: BTreeMap<String, usize>,
    /// ioctls that returned < 0, by call and errno.
    pub errors: BTreeMap<String, usize>,
    /// Flagged records, by reason.
    pub undecoded: BTreeMap<String, usize>,
    /// Bytes mapped by node.
    pub mmap_bytes: BTreeMap<String, u64>,
}

/// Computes the summary of a trace.
pub fn stats(t: &Trace) -> Stats {
    let mut s = Stats::default();
    for r in &t.records {
        let kind = match &r.body {
            Body::Proc { .. } => "proc",
            Body::Open { .. } => "open",
            Body::FdSeen { .. } => "fd-seen",
            Body::Close { .. } => "close",
            Body::Ioctl(_) => "ioctl",
            Body::Mmap(_) => "mmap",
            Body::Munmap { .. } => "munmap",
            Body::Marker { .. } => "marker",
            Body::Unknown { .. } => "unknown",
        };
        *s.records.entry(kind.into()).or_default() += 1;
        match &r.body {
            Body::Ioctl(io) if io.cmd != MARKER_CMD => {
                let v = view(io, r.flags);
                let key = format!("{}: {}", io.node.name(), v.name);
                *s.calls.entry(key.clone()).or_default() += 1;
                if let Some(dt) = &v.detail {
                    let m = if v.name.contains("ALLOC") {
                        &mut s.classes
                    } else {
                        &mut s.controls
                    };
                    *m.entry(dt.clone()).or_default() += 1;
                }
                if let Some(st) = v.status.filter(|&x| x != 0) {
                    let k = format!(
                        "{} {} -> 0x{st:x} {}",
                        v.name,
                        v.detail.clone().unwrap_or_default(),
                        nvabi::status_name(st)
                    );
                    *s.bad_status.entry(k).or_default() += 1;
                }
                if io.ret < 0 {
                    *s.errors
                        .entry(format!("{key} errno {}", io.errno))
                        .or_default() += 1;
                }
                for f in v.flags {
                    *s.undecoded.entry(format!("{key}: {f}")).or_default() += 1;
                }
            }
            Body::Mmap(m) => {
                *s.mmap_bytes.entry(m.node.name().into()).or_default() += m.len;
            }
            Body::Unknown { rtype, .. } => {
                *s.undecoded
                    .entry(format!("record type {rtype}"))
                    .or_default() += 1;
            }
            _ => {}
        }
    }
    s
}

/// Writes the summary.
pub fn write_stats(s: &Stats, out: &mut String) {
    fn sec<V: std::fmt::Display>(out: &mut String, title: &str, m: &BTreeMap<String, V>) {
        let _ = writeln!(out, "## {title} ({})", m.len());
        for (k, v) in m {
            let _ = writeln!(out, "{v:>8}  {k}");
        }
    }
    sec(out, "records", &s.records);
    sec(out, "calls by node", &s.calls);
    sec(out, "RM_ALLOC by class", &s.classes);
    sec(out, "RM_CONTROL by command", &s.controls);
    sec(out, "non-zero status", &s.bad_status);
    sec(out, "ioctl errors", &s.errors);
    sec(out, "flagged (not fully decoded)", &s.undecoded);
    sec(out, "mmap bytes by node", &s.mmap_bytes);
}

/// Unused-import guard for the uvm module (names come through `Decoded::name`).
#[allow(dead_code)]
fn _uvm_name(cmd: u32) -> &'static str {
    uvm::uvm_name(cmd)
}

/// Finds records by predicate (used by tests).
pub fn ioctls(t: &Trace) -> impl Iterator<Item = (&Record, &Ioctl)> {
    t.records.iter().filter_map(|r| match &r.body {
        Body::Ioctl(io) => Some((r, io)),
        _ => None,
    })
}
