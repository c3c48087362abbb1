// SPDX-License-Identifier: GPL-2.0-only
//! Replay of the H100 captures (`tests/traces/<name>/`) through the pure
//! core the kernel module runs: `fakegpu_core::nvabi::decode` and `fakegpu_core::policy::route`,
//! the memory [`Ledger`] and `rewrite_memory_info`.
//!
//! A capture is one or more nvtrace files (read with `nvtrace`'s reader)
//! and a `ground-truth.json`. [`replay`] merges the files of a capture by
//! their CLOCK_MONOTONIC time stamps and runs an accounting model over the
//! calls that succeeded:
//!
//! - RM objects are tracked per process as a tree (client → device →
//!   subdevice/VA space/memory/…), with the fd the client was allocated on;
//! - an `RM_ALLOC` of a class whose decoded parameters say it takes
//!   physical video memory (`MemoryAlloc::consumes_vidmem`) charges the
//!   size **the RM wrote back** (the allocated size, not the request) to the
//!   process's ledger; `VID_HEAP_CONTROL` allocations of vidmem likewise;
//! - `RM_DUP_OBJECT` of a memory object shares the charge (reference count);
//! - `RM_FREE` frees the object's subtree; closing the ctl fd a client was
//!   allocated on frees the client; the end of a trace (process exit) frees
//!   everything;
//! - memory-info replies (`FB_GET_INFO_V2`, `VID_HEAP_CONTROL` INFO) are
//!   kept, with the usage of the moment, for the rewrite tests;
//! - every ground-truth marker (`gt:<step>`) snapshots the ledgers.
//!
//! The model consumes the decoder's output only; nothing here re-parses an
//! RM structure by hand.

pub mod routes;

use fakegpu_core::ledger::Ledger;
use fakegpu_core::nvabi::{
    self, class,
    decode::{alloc_result_handle, AllocParams, Body, Nested},
    Decoded,
};
use fakegpu_core::policy::{route, ContextView, Route};
use nvtrace::format::{self, Body as RBody, Ioctl, Trace};
use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;

/// The directory of the captures.
///
/// `FAKEGPU_TRACES` overrides it; else the tree the process runs for
/// (`CARGO_MANIFEST_DIR` as cargo sets it when it runs a test or an
/// example), else the tree it was built in.
pub fn traces_dir() -> PathBuf {
    if let Some(d) = std::env::var_os("FAKEGPU_TRACES") {
        return PathBuf::from(d);
    }
    let dir = std::env::var_os("CARGO_MANIFEST_DIR")
        .map_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")), PathBuf::from);
    dir.join("../../tests/traces")
}

/// Every capture's name.
pub const CAPTURES: &[&str] = &[
    "01-cuda-init",
    "02-torch-alloc",
    "03-cuda-vmm",
    "04-managed",
    "05-nvidia-smi",
    "06-torch-matmul",
    "07-two-procs",
];

/// One ground-truth step.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Step {
    /// Process that wrote the marker.
    pub pid: u32,
    /// Step name (the marker is `gt:<step>`).
    pub step: String,
    /// Bytes the step asked for.
    pub requested: u64,
    /// `cudaMemGetInfo` total, if taken.
    pub cuda_total: Option<u64>,
    /// `cudaMemGetInfo` free, if taken.
    pub cuda_free: Option<u64>,
    /// `nvidia-smi` memory.used in MiB.
    pub smi_used_mib: Option<u64>,
    /// PyTorch `memory_allocated`.
    pub torch_allocated: Option<u64>,
    /// PyTorch `memory_reserved`.
    pub torch_reserved: Option<u64>,
}

impl Step {
    /// Device memory in use as CUDA reports it (`total - free`); `None`
    /// where no reading was taken (no context yet: total 0).
    pub fn cuda_used(&self) -> Option<u64> {
        let total = self.cuda_total.filter(|&t| t != 0)?;
        total.checked_sub(self.cuda_free?)
    }
}

/// A capture: its traces and its ground truth.
#[derive(Debug, Clone)]
pub struct Capture {
    /// Directory name.
    pub name: String,
    /// One trace per process, sorted by file name.
    pub traces: Vec<Trace>,
    /// Ground-truth steps, in file order.
    pub steps: Vec<Step>,
}

/// Loads a capture (decompressing the `.zst` files in process).
pub fn load(name: &str) -> Result<Capture, String> {
    let dir = traces_dir().join(name);
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .map_err(|e| format!("{}: {e}", dir.display()))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.to_string_lossy().ends_with(".bin.zst"))
        .collect();
    files.sort();
    let mut traces = Vec::new();
    for f in &files {
        let data = nvtrace::read_trace_file(f).map_err(|e| format!("{}: {e}", f.display()))?;
        traces.push(format::parse(&data).map_err(|e| format!("{}: {e}", f.display()))?);
    }
    let gt = std::fs::read_to_string(dir.join("ground-truth.json"))
        .map_err(|e| format!("{name}: {e}"))?;
    let steps = parse_steps(&gt)?;
    Ok(Capture {
        name: name.into(),
        traces,
        steps,
    })
}

/// A `ground-truth.json` as far as the replay reads it (serde ignores the
/// other members: description, fields, stdout, ...).
#[derive(serde::Deserialize)]
struct GroundTruth {
    steps: Vec<GroundTruthStep>,
}

/// One entry of `steps`. Absent readings are `None`; `requested_bytes`
/// defaults to 0.
#[derive(serde::Deserialize)]
struct GroundTruthStep {
    pid: u32,
    step: String,
    #[serde(default)]
    requested_bytes: u64,
    cuda_total: Option<u64>,
    cuda_free: Option<u64>,
    smi_used_mib: Option<u64>,
    torch_allocated: Option<u64>,
    torch_reserved: Option<u64>,
}

/// Parses the `steps` of a `ground-truth.json`.
pub fn parse_steps(text: &str) -> Result<Vec<Step>, String> {
    let gt: GroundTruth =
        serde_json::from_str(text).map_err(|e| format!("ground-truth.json: {e}"))?;
    Ok(gt
        .steps
        .into_iter()
        .map(|s| Step {
            pid: s.pid,
            step: s.step,
            requested: s.requested_bytes,
            cuda_total: s.cuda_total,
            cuda_free: s.cuda_free,
            smi_used_mib: s.smi_used_mib,
            torch_allocated: s.torch_allocated,
            torch_reserved: s.torch_reserved,
        })
        .collect())
}

/// `(client, handle)`.
pub type Handle = (u32, u32);

#[derive(Debug, Clone)]
struct Obj {
    parent: Option<Handle>,
    class: u32,
    mem: Option<u64>,
}

/// One physical vidmem allocation (shared by its dups).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Allocation {
    /// Process.
    pub pid: u32,
    /// Handle it was created as.
    pub handle: Handle,
    /// Class (0x40 for RM_ALLOC, or the heap class).
    pub class: u32,
    /// Bytes requested (`size` before the call).
    pub requested: u64,
    /// Bytes the RM allocated (`size` after the call): what is charged.
    pub allocated: u64,
    /// `NVOS32_TYPE_*`.
    pub type_: u32,
    /// `NVOS32_ATTR_*`.
    pub attr: u32,
    /// `NVOS32_ATTR2_*`.
    pub attr2: u32,
    /// `NVOS32_ALLOC_FLAGS_*`.
    pub flags: u32,
    /// Last marker seen in this process before the allocation.
    pub after_marker: Option<String>,
    /// Time (CLOCK_MONOTONIC ns).
    pub t_ns: u64,
    /// Time it was freed, if it was before the end of the trace.
    pub freed_ns: Option<u64>,
}

/// A memory-info reply seen in a trace, with the usage of the moment.
#[derive(Debug, Clone)]
pub struct MemInfoReply {
    /// Process.
    pub pid: u32,
    /// Time.
    pub t_ns: u64,
    /// The decoded call.
    pub decoded: Decoded,
    /// Outer block after the call.
    pub outer: Vec<u8>,
    /// Nested block after the call (the control's parameters), if any.
    pub nested: Vec<u8>,
    /// The process's ledger usage when the reply came.
    pub used: u64,
    /// The capture's total ledger usage (all processes) when the reply came.
    pub used_all: u64,
}

/// The ledgers at a ground-truth marker.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Checkpoint {
    /// Process that wrote the marker.
    pub pid: u32,
    /// Step name.
    pub step: String,
    /// Time.
    pub t_ns: u64,
    /// That process's ledger.
    pub used: u64,
    /// All processes' ledgers summed (one container holding them all).
    pub used_all: u64,
    /// Number of live RM clients per process at that moment.
    pub clients: BTreeMap<u32, usize>,
    /// Processes holding a live channel group (`KEPLER_CHANNEL_GROUP_A`):
    /// the CUDA contexts on the device at that moment.
    pub contexts: usize,
}

/// Something the model could not place (must stay empty on good traces).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Anomaly {
    /// Process.
    pub pid: u32,
    /// Time.
    pub t_ns: u64,
    /// What.
    pub what: String,
}

/// A call the decoder or classifier did not fully know.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Unknown {
    /// Which capture process.
    pub pid: u32,
    /// Description (escape/class/control and what was unknown).
    pub what: String,
}

/// What a replay produced.
#[derive(Debug, Default)]
pub struct Replay {
    /// Ledger snapshots at the ground-truth markers, in time order.
    pub checkpoints: Vec<Checkpoint>,
    /// Every vidmem allocation.
    pub allocations: Vec<Allocation>,
    /// Memory-info replies.
    pub mem_info: Vec<MemInfoReply>,
    /// Calls not fully decoded (see [`unknowns`]).
    pub unknown: Vec<Unknown>,
    /// Bookkeeping problems (frees of unknown handles, underflows, ...).
    pub anomalies: Vec<Anomaly>,
    /// Charges refused by a capped ledger (pid, bytes).
    pub refused: Vec<(u32, u64)>,
    /// RM_ALLOC counts by class name (all processes).
    pub classes: BTreeMap<String, usize>,
    /// Final ledger per process (after everything was freed).
    pub final_used: BTreeMap<u32, u64>,
    /// Peak per process.
    pub peak: BTreeMap<u32, u64>,
}

struct ProcState {
    pid: u32,
    ledger: Ledger,
    objs: HashMap<Handle, Obj>,
    children: HashMap<Handle, Vec<Handle>>,
    /// Clients allocated through each ctl fd.
    clients_by_fd: HashMap<i32, Vec<u32>>,
    marker: Option<String>,
    /// Handles freed before they existed (CUDA frees the device handle it
    /// is about to allocate; the RM answers NV_OK). An anomaly only if the
    /// handle is never allocated afterwards.
    pre_freed: HashMap<Handle, u64>,
}

struct Mem {
    alloc: usize,
    refs: u32,
}

/// How to replay.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Options {
    /// Cap of each process's ledger (`u64::MAX`: none).
    pub limit: u64,
    /// Charge the size *requested* instead of the size the RM wrote back
    /// (wrong on purpose: the tests show the checkpoints catch it).
    pub charge_requested: bool,
}

/// Replays a capture with the given cap on each process's ledger
/// (`u64::MAX` for "no cap").
pub fn replay(cap: &Capture, limit: u64) -> Replay {
    replay_with(
        cap,
        Options {
            limit,
            charge_requested: false,
        },
    )
}

/// Replays a capture with explicit [`Options`].
pub fn replay_with(cap: &Capture, opts: Options) -> Replay {
    let limit = opts.limit;
    let mut out = Replay::default();
    let mut procs: Vec<ProcState> = cap
        .traces
        .iter()
        .map(|t| ProcState {
            pid: t.header.pid,
            ledger: Ledger::new(limit),
            objs: HashMap::new(),
            children: HashMap::new(),
            clients_by_fd: HashMap::new(),
            marker: None,
            pre_freed: HashMap::new(),
        })
        .collect();
    let mut mems: HashMap<u64, Mem> = HashMap::new();
    let mut next_mem = 1u64;
    // Merge the records of all processes by time (stable per file).
    let mut order: Vec<(u64, usize, usize)> = Vec::new();
    for (ti, t) in cap.traces.iter().enumerate() {
        for (ri, r) in t.records.iter().enumerate() {
            order.push((r.t_ns, ti, ri));
        }
    }
    order.sort();
    for &(t_ns, ti, ri) in &order {
        let rec = &cap.traces[ti].records[ri];
        match &rec.body {
            RBody::Marker { text } => {
                if let Some(step) = text.strip_prefix("gt:") {
                    let used_all = procs.iter().map(|p| p.ledger.used()).sum();
                    let clients = procs.iter().map(|p| (p.pid, live_clients(p))).collect();
                    let contexts = procs
                        .iter()
                        .filter(|p| {
                            p.objs
                                .values()
                                .any(|o| o.class == class::KEPLER_CHANNEL_GROUP_A)
                        })
                        .count();
                    let p = &procs[ti];
                    out.checkpoints.push(Checkpoint {
                        contexts,
                        pid: p.pid,
                        step: step.into(),
                        t_ns,
                        used: p.ledger.used(),
                        used_all,
                        clients,
                    });
                }
                procs[ti].marker = Some(text.clone());
            }
            RBody::Close { ret: 0, .. } => {
                let fd = rec.fd;
                let clients = procs[ti].clients_by_fd.remove(&fd).unwrap_or_default();
                for c in clients {
                    free_subtree(&mut procs[ti], &mut mems, &mut out, (c, c), t_ns);
                }
            }
            RBody::Ioctl(io) if io.cmd != format::MARKER_CMD => {
                let used_all: u64 = procs.iter().map(|p| p.ledger.used()).sum();
                on_ioctl(
                    &mut procs[ti],
                    &mut mems,
                    &mut next_mem,
                    &mut out,
                    rec.fd,
                    t_ns,
                    io,
                    used_all,
                    opts,
                );
            }
            _ => {}
        }
    }
    // Process exit: the RM frees every client of the process.
    for p in &mut procs {
        let end = cap
            .traces
            .iter()
            .find(|t| t.header.pid == p.pid)
            .and_then(|t| t.records.last())
            .map_or(0, |r| r.t_ns);
        let clients: Vec<u32> = p.clients_by_fd.drain().flat_map(|(_, v)| v).collect();
        for c in clients {
            free_subtree(p, &mut mems, &mut out, (c, c), end);
        }
        let mut pre: Vec<(Handle, u64)> = p.pre_freed.drain().collect();
        pre.sort();
        for ((c, h), t) in pre {
            out.anomalies.push(Anomaly {
                pid: p.pid,
                t_ns: t,
                what: format!("free of unknown object 0x{c:x}/0x{h:x}"),
            });
        }
        out.final_used.insert(p.pid, p.ledger.used());
        out.peak.insert(p.pid, p.ledger.peak());
    }
    out
}

fn live_clients(p: &ProcState) -> usize {
    p.clients_by_fd.values().map(Vec::len).sum()
}

fn rd_u32(b: &[u8], o: usize) -> Option<u32> {
    Some(u32::from_le_bytes(b.get(o..o + 4)?.try_into().ok()?))
}

fn rd_u64(b: &[u8], o: usize) -> Option<u64> {
    Some(u64::from_le_bytes(b.get(o..o + 8)?.try_into().ok()?))
}

/// The decoder's verdict on one recorded ioctl: the outer call, and the
/// nested call for XFER. Returns what was not known, if anything.
pub fn unknowns_of(io: &Ioctl) -> Vec<String> {
    let mut v = Vec::new();
    let Some(fk) = io.node.file_kind() else {
        v.push(format!(
            "node {:?} not decoded (cmd 0x{:x})",
            io.node, io.cmd
        ));
        return v;
    };
    let d = nvabi::decode(fk, io.cmd, &io.before);
    check_known(&d, io.nested.first().map(|n| &n.before[..]), &mut v);
    if let Body::Xfer { .. } = d.body {
        if let Some(inner) = io.nested.first() {
            if let Nested::Xfer(id) = d.decode_nested(&inner.before) {
                check_known(&id, io.nested.get(1).map(|n| &n.before[..]), &mut v);
            }
        }
    }
    v
}

fn check_known(d: &Decoded, nested: Option<&[u8]>, v: &mut Vec<String>) {
    match d.body {
        Body::Unknown => v.push(format!("unknown command on {:?}: {:?}", d.file, d.call)),
        Body::Rejected(r) => v.push(format!("{} rejected: {r:?}", d.name())),
        Body::Short { need, got } => v.push(format!("{} short: need {need} got {got}", d.name())),
        Body::Alloc(a) => {
            if class::class_info(a.class).is_none() || class::class_name(a.class).starts_with('<') {
                v.push(format!("unknown class 0x{:x}", a.class));
            } else if let Some(n) = nested {
                match d.decode_nested(n) {
                    Nested::Alloc(AllocParams::Unknown { class }) => v.push(format!(
                        "class 0x{class:x} ({}): parameters not declared",
                        class::class_name(class)
                    )),
                    Nested::Alloc(AllocParams::Short { need, got }) => v.push(format!(
                        "class 0x{:x}: params short need {need} got {got}",
                        a.class
                    )),
                    Nested::Alloc(AllocParams::Serialized) => {
                        v.push(format!("class 0x{:x}: serialized", a.class))
                    }
                    _ => {}
                }
            }
        }
        Body::Control(c) => {
            if nvabi::ctrl::control_name(c.cmd).starts_with('<') {
                v.push(format!("unknown control 0x{:08x}", c.cmd));
            } else if let Some(n) = nested {
                match d.decode_nested(n) {
                    Nested::Control(nvabi::decode::ControlParams::Unknown) => {
                        v.push(format!("control 0x{:08x}: decoder says Unknown", c.cmd))
                    }
                    Nested::Control(nvabi::decode::ControlParams::BadSize { need, got }) => {
                        v.push(format!(
                            "control 0x{:08x} ({}): size need {need} got {got}",
                            c.cmd,
                            nvabi::ctrl::control_name(c.cmd)
                        ))
                    }
                    Nested::Control(nvabi::decode::ControlParams::Serialized) => {
                        v.push(format!("control 0x{:08x}: serialized", c.cmd))
                    }
                    _ => {}
                }
            }
        }
        _ => {}
    }
    if !route(d, &ContextView::default()).reaches_vendor() {
        v.push(format!("{}: refused by the routing table", d.name()));
    }
}

/// Every call of a capture the decoder did not fully know, with counts.
pub fn unknowns(cap: &Capture) -> BTreeMap<String, usize> {
    let mut m = BTreeMap::new();
    for t in &cap.traces {
        for r in &t.records {
            if let RBody::Ioctl(io) = &r.body {
                if io.cmd == format::MARKER_CMD {
                    continue;
                }
                for u in unknowns_of(io) {
                    *m.entry(u).or_insert(0) += 1;
                }
            }
        }
    }
    m
}

#[allow(clippy::too_many_arguments)]
fn on_ioctl(
    p: &mut ProcState,
    mems: &mut HashMap<u64, Mem>,
    next_mem: &mut u64,
    out: &mut Replay,
    fd: i32,
    t_ns: u64,
    io: &Ioctl,
    used_all: u64,
    opts: Options,
) {
    let Some(fk) = io.node.file_kind() else {
        return;
    };
    let outer = nvabi::decode(fk, io.cmd, &io.before);
    // XFER: the real call is the inner one, whose block is nested[0] and
    // whose own nested block follows.
    let (d, after, nested_before, nested_after) = match outer.body {
        Body::Xfer { .. } => {
            let Some(inner) = io.nested.first() else {
                return;
            };
            let Nested::Xfer(id) = outer.decode_nested(&inner.before) else {
                return;
            };
            let nb = io.nested.get(1);
            (
                id,
                &inner.after[..],
                nb.map(|n| &n.before[..]),
                nb.map(|n| &n.after[..]),
            )
        }
        _ => {
            let nb = io.nested.first();
            (
                outer,
                &io.after[..],
                nb.map(|n| &n.before[..]),
                nb.map(|n| &n.after[..]),
            )
        }
    };
    if io.ret != 0 {
        return;
    }
    if let Some(off) = d.status_offset() {
        if rd_u32(after, off) != Some(0) {
            return;
        }
    }
    // The module's own verdict on the call.
    match (route(&d, &ContextView::default()), d.body) {
        (Route::ChargeAlloc(_) | Route::Track(_) | Route::AllocDevice(_), Body::Alloc(a)) => {
            *out.classes
                .entry(format!("{} (0x{:x})", class::class_name(a.class), a.class))
                .or_default() += 1;
            let Some(h) = alloc_result_handle(after) else {
                return;
            };
            let client =
                if class::class_info(a.class).map(|c| c.kind) == Some(class::ClassKind::Client) {
                    p.clients_by_fd.entry(fd).or_default().push(h);
                    h
                } else {
                    a.h_client
                };
            let parent = if client == h {
                None
            } else {
                Some((client, a.h_parent))
            };
            let mut mem = None;
            if let (Some(nb), Some(na)) = (nested_before, nested_after) {
                if let (AllocParams::Memory(mb), AllocParams::Memory(ma)) = (
                    nvabi::decode_alloc_params(a.h_class, nb),
                    nvabi::decode_alloc_params(a.h_class, na),
                ) {
                    if ma.consumes_vidmem {
                        let bytes = if opts.charge_requested {
                            mb.size
                        } else {
                            ma.size
                        };
                        let alloc = Allocation {
                            pid: p.pid,
                            handle: (client, h),
                            class: a.class,
                            requested: mb.size,
                            allocated: bytes,
                            type_: ma.type_,
                            attr: ma.attr,
                            attr2: ma.attr2,
                            flags: ma.flags,
                            after_marker: p.marker.clone(),
                            t_ns,
                            freed_ns: None,
                        };
                        match charge(p, out, bytes) {
                            true => {
                                out.allocations.push(alloc);
                                mems.insert(
                                    *next_mem,
                                    Mem {
                                        alloc: out.allocations.len() - 1,
                                        refs: 1,
                                    },
                                );
                                mem = Some(*next_mem);
                                *next_mem += 1;
                            }
                            // A capped proxy would have refused the call: the
                            // object never exists.
                            false => return,
                        }
                    }
                }
            }
            add_obj(
                p,
                (client, h),
                Obj {
                    parent,
                    class: a.class,
                    mem,
                },
            );
        }
        (Route::ChargeHeap { alloc: ha, .. }, _) => {
            let h = rd_u32(after, ha.h_memory_offset).unwrap_or(0);
            let size = rd_u64(after, ha.size_offset).unwrap_or(0);
            let Body::VidHeap(v) = d.body else { return };
            let mut mem = None;
            if ha.class == class::NV01_MEMORY_LOCAL_USER {
                if !charge(p, out, size) {
                    return;
                }
                out.allocations.push(Allocation {
                    pid: p.pid,
                    handle: (v.h_client, h),
                    class: ha.class,
                    requested: ha.size,
                    allocated: size,
                    type_: 0,
                    attr: ha.attr,
                    attr2: ha.attr2,
                    flags: ha.flags,
                    after_marker: p.marker.clone(),
                    t_ns,
                    freed_ns: None,
                });
                mems.insert(
                    *next_mem,
                    Mem {
                        alloc: out.allocations.len() - 1,
                        refs: 1,
                    },
                );
                mem = Some(*next_mem);
                *next_mem += 1;
            }
            add_obj(
                p,
                (v.h_client, h),
                Obj {
                    parent: Some((v.h_client, v.h_parent)),
                    class: ha.class,
                    mem,
                },
            );
        }
        (Route::Free { h_client, h_object }, Body::VidHeap(_)) => {
            free_subtree(p, mems, out, (h_client, h_object), t_ns)
        }
        (Route::Free { h_client, h_object }, _) => {
            if !p.objs.contains_key(&(h_client, h_object)) {
                p.pre_freed.insert((h_client, h_object), t_ns);
            }
            free_subtree(p, mems, out, (h_client, h_object), t_ns);
            if h_client == h_object {
                for v in p.clients_by_fd.values_mut() {
                    v.retain(|&c| c != h_client);
                }
            }
        }
        // (No capture has FB_GET_INFO v1 or VID_HEAP_CONTROL INFO.)
        (Route::FbInfoV2(_), _) => out.mem_info.push(MemInfoReply {
            pid: p.pid,
            t_ns,
            decoded: d,
            outer: after.to_vec(),
            nested: nested_after.map(<[u8]>::to_vec).unwrap_or_default(),
            used: p.ledger.used(),
            used_all,
        }),
        (
            _,
            Body::Dup {
                h_client,
                h_parent,
                h_client_src,
                h_object_src,
                ..
            },
        ) => {
            let h = rd_u32(after, 8).unwrap_or(0); // NVOS55.hObject (IN/OUT)
            let src = p.objs.get(&(h_client_src, h_object_src)).cloned();
            let Some(src) = src else {
                out.anomalies.push(Anomaly {
                    pid: p.pid,
                    t_ns,
                    what: format!("dup of unknown object 0x{h_client_src:x}/0x{h_object_src:x}"),
                });
                return;
            };
            if let Some(m) = src.mem {
                if let Some(m) = mems.get_mut(&m) {
                    m.refs += 1;
                }
            }
            add_obj(
                p,
                (h_client, h),
                Obj {
                    parent: Some((h_client, h_parent)),
                    class: src.class,
                    mem: src.mem,
                },
            );
        }
        _ => {}
    }
}

fn charge(p: &mut ProcState, out: &mut Replay, bytes: u64) -> bool {
    match p.ledger.charge(bytes) {
        Ok(()) => true,
        Err(_) => {
            out.refused.push((p.pid, bytes));
            false
        }
    }
}

fn add_obj(p: &mut ProcState, h: Handle, o: Obj) {
    p.pre_freed.remove(&h);
    if let Some(par) = o.parent {
        p.children.entry(par).or_default().push(h);
    }
    p.objs.insert(h, o);
}

fn free_subtree(
    p: &mut ProcState,
    mems: &mut HashMap<u64, Mem>,
    out: &mut Replay,
    h: Handle,
    t_ns: u64,
) {
    let mut stack = vec![h];
    while let Some(x) = stack.pop() {
        if let Some(kids) = p.children.remove(&x) {
            stack.extend(kids);
        }
        let Some(o) = p.objs.remove(&x) else { continue };
        if let Some(par) = o.parent {
            if let Some(k) = p.children.get_mut(&par) {
                k.retain(|&c| c != x);
            }
        }
        if let Some(mid) = o.mem {
            let last = match mems.get_mut(&mid) {
                Some(m) => {
                    m.refs -= 1;
                    m.refs == 0
                }
                None => false,
            };
            if last {
                let m = mems.remove(&mid).expect("present");
                let a = &mut out.allocations[m.alloc];
                a.freed_ns = Some(t_ns);
                if let Err(e) = p.ledger.uncharge(a.allocated) {
                    out.anomalies.push(Anomaly {
                        pid: p.pid,
                        t_ns,
                        what: format!("ledger underflow {e:?}"),
                    });
                }
            }
        }
    }
}

/// Video memory the RM allocates for itself, outside any RM_ALLOC the
/// tenant makes, once per device while at least one CUDA context exists
/// (measured: one context costs 9,240,576 bytes, two cost 15,138,816; see
/// docs/replay.md).
pub const DEVICE_INTERNAL_BYTES: u64 = 3_342_336;

/// Video memory the RM allocates for itself per CUDA context (measured;
/// 5,423,104 bytes of it match the GR context buffer size the RM reports
/// for the context's channels, see docs/replay.md).
pub const CONTEXT_INTERNAL_BYTES: u64 = 5_898_240;

/// The RM-internal video memory with `contexts` CUDA contexts on the device.
pub const fn internal_bytes(contexts: usize) -> u64 {
    if contexts == 0 {
        0
    } else {
        DEVICE_INTERNAL_BYTES + contexts as u64 * CONTEXT_INTERNAL_BYTES
    }
}

/// Device memory no RM call of the tenant accounts for, by design: managed
/// memory (`cudaMallocManaged`) gets its pages from UVM's PMA allocations
/// on GPU faults, with no RM client involved (research notes §10).
pub const KNOWN_GAPS: &[(&str, &str, u64, &str)] = &[(
    "04-managed",
    "after_gpu_touch",
    256 << 20,
    "cudaMallocManaged(256 MiB) touched on the GPU: UVM-resident pages, invisible to RM accounting",
)];

/// Checks every ground-truth step that has a `cudaMemGetInfo` reading:
/// the ledgers of all the capture's processes, plus
/// [`internal_bytes`]`(contexts)`, plus any [`KNOWN_GAPS`] entry, must equal
/// `total - free` exactly. Returns the number of steps checked, or every
/// mismatch.
pub fn check_checkpoints(cap: &Capture, r: &Replay) -> Result<usize, Vec<String>> {
    let mut errs = Vec::new();
    let mut checked = 0;
    for s in &cap.steps {
        let Some(truth) = s.cuda_used() else { continue };
        let Some(c) = r
            .checkpoints
            .iter()
            .find(|c| c.pid == s.pid && c.step == s.step)
        else {
            errs.push(format!(
                "{}: step {} (pid {}) has no gt marker in the trace",
                cap.name, s.step, s.pid
            ));
            continue;
        };
        let gap = KNOWN_GAPS
            .iter()
            .find(|g| g.0 == cap.name && g.1 == s.step)
            .map_or(0, |g| g.2);
        let model = c.used_all + internal_bytes(c.contexts) + gap;
        if model != truth {
            errs.push(format!(
                "{}: step {} (pid {}): ledger {} + internal {} ({} contexts) + gap {} = {} but the driver reported {} used ({:+})",
                cap.name,
                s.step,
                s.pid,
                c.used_all,
                internal_bytes(c.contexts),
                c.contexts,
                gap,
                model,
                truth,
                truth as i128 - model as i128
            ));
        }
        checked += 1;
    }
    if errs.is_empty() {
        Ok(checked)
    } else {
        Err(errs)
    }
}
