//! `fgtest chaos DIR_A DIR_B SECS SEED [PROCS] [--uid UID] [--round-ms MS] [--flips all|none|CASE,...] [--ops [-]KIND,...]`:
//! the stateful fuzzer of issue 16 §8.
//!
//! Run as root. DIR_A and DIR_B are two contexts' node directories
//! (`/dev/fakegpu/NAME`), each on a GPU of its own (the test gives A host
//! GPU 0 and B host GPU 1), so that each context's ledger can be compared
//! with nvsim's heap of its GPU. The parent (the checker) forks PROCS
//! worker processes per context (default 3), each in a process group of its
//! own, dropped to UID (default 65534) at once. A worker keeps a model of
//! its live state (ctl, GPU, UVM and export files; clients, devices,
//! subdevices, memory objects with their sizes, dups, imports, mappings)
//! and makes weighted, valid-looking calls on it with a generator seeded
//! from SEED, its context, its slot and its generation: open/close files,
//! REGISTER_FD, alloc trees (client, device, subdevice, video memory of
//! 4 KiB..64 MiB in either RM_ALLOC form, system memory, VA spaces, channel
//! groups, usermode objects), frees in any order (parents before children,
//! whole clients), dups of its own objects, RM_SHARE, RM_MAP_MEMORY + mmap
//! (memory and doorbells, a second mmap of a mapped GPU file), munmap,
//! RM_UNMAP_MEMORY, export fds (export, import, close, and passing one to
//! the other context over a unix socket), controls (FB_GET_INFO_V2 must
//! show at most the cap), UVM calls, a forked child that carries on with
//! the inherited state for a few calls and exits (or is killed), and an
//! abrupt exit. Attacks: calls naming the other context's handles (dup,
//! free, alloc under, control, map), an import of the other context's
//! export fd, and now and then a *flip child*: a short-lived process of
//! its own session in which a second thread rewrites one field of a block
//! in flight (class, size, pointer, free, status, dup's source client, as
//! `flip` does).
//!
//! Invariants, checked by the parent:
//! - the ledger never passes the cap (sampled every 25 ms while calls run);
//! - no call naming the other context's objects succeeds, no import of its
//!   export fd, and FB_GET_INFO_V2 never shows more than the cap (workers
//!   report these);
//! - at quiescent points (every ROUND_MS the parent SIGSTOPs every process
//!   group and waits until every task of it is stopped, so no call is in
//!   flight; the vendor's asynchronous releases are then waited for, up to
//!   20 s): ledger == nvsim heap used − baseline, per context; while a flip
//!   child is alive the ledger may hold more than the heap (a flipped
//!   class charges video memory the vendor made as system memory, which is
//!   the tenant's own loss), never less;
//! - a context the audit marks compromised had a flip child since it was
//!   created (a fair client is never killed); after its processes are gone
//!   its ledger is 0 and its heap back at baseline; it is then destroyed,
//!   created again and its workers respawned (counted);
//! - no task stays in the kernel for 30 s (a hang), and after the run, once
//!   every process exited, both ledgers are 0 and both heaps at baseline.
//!
//! Counts per context, operation kind and result are printed at the end,
//! one line each (`chaos ctx=A kind=NAME RESULT=N ...`), with totals
//! (`chaos kind=NAME total=N ok=N`), the checks made and the violations
//! (`chaos violations=N`); each violation is printed as it is found
//! (`CHAOS-VIOLATION ...`) with the last calls of the context's workers.
//! Exits 1 if any invariant broke.

use std::os::fd::{AsRawFd, RawFd};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed};
use std::sync::Arc;
use std::time::{Duration, Instant};

use fakegpu_core::nvabi::{class, ctrl, escape::nv_iowr, status, wire::Wire};

use crate::Rng;

const MIB: u64 = 1 << 20;
/// Workers per context at most.
const MAX_PROCS: usize = 8;
/// Distinct results counted per (context, kind).
const SLOTS: usize = 14;
/// Calls remembered per worker slot.
const RING: usize = 96;

macro_rules! ops {
    ($($op:ident $name:literal $w:literal,)*) => {
        #[derive(Clone, Copy, PartialEq, Eq, Debug)]
        enum Op { $($op,)* }
        /// Every kind: (kind, name, weight).
        const OPS: &[(Op, &str, u32)] = &[$((Op::$op, $name, $w),)*];
    };
}

ops! {
    OpenCtl "open_ctl" 4,
    CloseCtl "close_ctl" 1,
    OpenGpu "open_gpu" 3,
    CloseGpu "close_gpu" 1,
    RegisterFd "register_fd" 1,
    AllocClient "alloc_client" 4,
    AllocDevice "alloc_device" 4,
    AllocSubdevice "alloc_subdevice" 3,
    AllocVidmem "alloc_vidmem" 14,
    AllocSysmem "alloc_sysmem" 2,
    AllocVaspace "alloc_vaspace" 1,
    AllocTsg "alloc_tsg" 1,
    Free "free" 9,
    FreeClient "free_client" 1,
    Dup "dup" 4,
    Share "share" 1,
    Map "map_memory" 3,
    Mmap "mmap" 0,
    Munmap "munmap" 2,
    UnmapMemory "unmap_memory" 1,
    Doorbell "doorbell" 1,
    Remap "remap" 1,
    ExportOpen "export_open" 1,
    Export "export" 3,
    Import "import" 3,
    ExportClose "export_close" 1,
    ExportSend "export_send" 1,
    ExportRecv "export_recv" 1,
    FbInfo "fb_info" 2,
    Control "control" 1,
    UvmOpen "uvm_open" 1,
    UvmInit "uvm_init" 1,
    UvmRegister "uvm_register_gpu" 1,
    UvmUnregister "uvm_unregister_gpu" 1,
    UvmClose "uvm_close" 1,
    DupForeign "dup_foreign" 2,
    FreeForeign "free_foreign" 1,
    AllocForeign "alloc_foreign" 1,
    ControlForeign "control_foreign" 1,
    MapForeign "map_foreign" 1,
    Fork "fork" 2,
    Flip "flip" 1,
    Exit "exit" 1,
}

const NOPS: usize = OPS.len();

/// Result keys: an RM status s is s + 1, a failed system call
/// `ERRNO | errno`, a success without a status 1 (NV_OK).
const ERRNO: u64 = 1 << 32;
const OK: u64 = 1;

fn key_name(k: u64) -> String {
    if k & ERRNO != 0 {
        format!("errno_{}", k & 0xffff_ffff)
    } else if k == 0 {
        "none".into()
    } else {
        status::status_name((k - 1) as u32).to_string()
    }
}

fn st_key(s: nvrm::Status) -> u64 {
    u64::from(s.0) + 1
}

fn io_key(e: &std::io::Error) -> u64 {
    ERRNO | e.raw_os_error().unwrap_or(0) as u64
}

fn res_key<T>(r: &nvrm::Result<T>) -> u64 {
    match r {
        Ok(_) => OK,
        Err(nvrm::Error::Rm(s)) => st_key(*s),
        Err(nvrm::Error::Io(e)) => io_key(e),
    }
}

fn ios_key(r: &std::io::Result<nvrm::Status>) -> u64 {
    match r {
        Ok(s) => st_key(*s),
        Err(e) => io_key(e),
    }
}

fn io_unit_key(r: &std::io::Result<()>) -> u64 {
    match r {
        Ok(()) => OK,
        Err(e) => io_key(e),
    }
}

fn errno_key() -> u64 {
    io_key(&std::io::Error::last_os_error())
}

/// Kinds of violations, told apart by their messages: (name, pattern).
const VIOLATIONS: [(&str, &str); 9] = [
    ("cap", "past the cap"),
    ("quiescent_flip", "want heap <="),
    ("quiescent", "want heap =="),
    ("cross_context", "other context"),
    ("fb_info", "FB_GET_INFO"),
    ("fair_tenant_killed", "compromised, but"),
    ("leak", "(want 0, 0)"),
    ("hang", "after SIGSTOP"),
    ("other", ""),
];

/// What the parent and every worker share (an anonymous shared mapping made
/// before the first fork; all-zero is the initial state).
#[repr(C)]
struct Shared {
    stop: AtomicU64,
    violations: AtomicU64,
    /// Flip children started per context since it was (re)created.
    flips: [AtomicU64; 2],
    /// (key, count) pairs per context and kind.
    res: [[[AtomicU64; 2 * SLOTS]; NOPS]; 2],
    /// Handles each worker offers the other context's attacks, as
    /// client << 32 | object: two memory objects, a device, a subdevice.
    foreign: [[[AtomicU64; 4]; MAX_PROCS]; 2],
    /// Violations per kind (`VIOLATIONS`).
    vkinds: [AtomicU64; 9],
    /// The flip case + 1 a worker slot's flip child runs, 0 if none.
    flip_case: [[AtomicU64; MAX_PROCS]; 2],
    /// The last calls of each worker slot: head, then (op, key), (h, size).
    ring: [[[AtomicU64; 1 + 2 * RING]; MAX_PROCS]; 2],
}

impl Shared {
    fn record(&self, ctx: usize, slot: usize, op: Op, key: u64, h: u32, size: u64) {
        let t = &self.res[ctx][op as usize];
        for i in 0..SLOTS {
            let k = t[2 * i].load(Relaxed);
            if k == key
                || (k == 0
                    && t[2 * i]
                        .compare_exchange(0, key, Relaxed, Relaxed)
                        .map_or_else(|cur| cur == key, |_| true))
            {
                t[2 * i + 1].fetch_add(1, Relaxed);
                break;
            }
        }
        let r = &self.ring[ctx][slot];
        let n = r[0].fetch_add(1, Relaxed) as usize % RING;
        r[1 + 2 * n].store(((op as u64) << 48) | (key & 0xffff_ffff_ffff), Relaxed);
        r[2 + 2 * n].store((u64::from(h) << 32) | (size >> 12), Relaxed);
    }

    fn violation(&self, msg: &str) {
        self.violations.fetch_add(1, Relaxed);
        let tag = VIOLATIONS
            .iter()
            .position(|(_, pat)| msg.contains(pat))
            .unwrap_or(VIOLATIONS.len() - 1);
        self.vkinds[tag].fetch_add(1, Relaxed);
        eprintln!("CHAOS-VIOLATION {msg}");
    }

    fn count(&self, ctx: usize, op: Op) -> Vec<(u64, u64)> {
        let t = &self.res[ctx][op as usize];
        (0..SLOTS)
            .map(|i| (t[2 * i].load(Relaxed), t[2 * i + 1].load(Relaxed)))
            .filter(|(k, _)| *k != 0)
            .collect()
    }

    fn dump_ring(&self, ctx: usize, slot: usize) -> String {
        let r = &self.ring[ctx][slot];
        let head = r[0].load(Relaxed) as usize;
        let mut out = Vec::new();
        for i in head.saturating_sub(RING)..head {
            let n = i % RING;
            let (a, b) = (r[1 + 2 * n].load(Relaxed), r[2 + 2 * n].load(Relaxed));
            let op = OPS.get((a >> 48) as usize).map_or("?", |o| o.1);
            out.push(format!(
                "{op}:{}:h={:#x}:size={}",
                key_name(a & 0xffff_ffff_ffff),
                b >> 32,
                (b & 0xffff_ffff) << 12
            ));
        }
        out.join(" ")
    }
}

fn shared() -> Result<&'static Shared, String> {
    let len = std::mem::size_of::<Shared>().next_multiple_of(4096);
    // SAFETY: a new anonymous shared mapping, checked below.
    let p = unsafe {
        libc::mmap(
            std::ptr::null_mut(),
            len,
            libc::PROT_READ | libc::PROT_WRITE,
            libc::MAP_SHARED | libc::MAP_ANONYMOUS,
            -1,
            0,
        )
    };
    if p == libc::MAP_FAILED {
        return Err("mmap of the shared table failed".into());
    }
    // SAFETY: zero-filled, page-aligned, never unmapped; all-zero atomics
    // are valid values, and only atomics are accessed.
    Ok(unsafe { &*(p as *const Shared) })
}

// ---------------------------------------------------------------- workers

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum K {
    Device,
    Subdevice,
    Vidmem,
    Sysmem,
    Dup,
    Import,
    Usermode,
    Vaspace,
    Tsg,
}

#[derive(Clone, Copy)]
struct Obj {
    h: u32,
    parent: u32,
    kind: K,
    size: u64,
}

struct Client {
    h: u32,
    objs: Vec<Obj>,
}

impl Client {
    fn of(&self, kinds: &[K]) -> Vec<Obj> {
        self.objs
            .iter()
            .filter(|o| kinds.contains(&o.kind))
            .copied()
            .collect()
    }
    /// Drops `h` and everything under it from the model.
    fn drop_subtree(&mut self, h: u32) {
        let mut doomed = vec![h];
        loop {
            let more: Vec<u32> = self
                .objs
                .iter()
                .filter(|o| doomed.contains(&o.parent) && !doomed.contains(&o.h))
                .map(|o| o.h)
                .collect();
            if more.is_empty() {
                break;
            }
            doomed.extend(more);
        }
        self.objs.retain(|o| !doomed.contains(&o.h));
    }
}

struct CtlF {
    id: u64,
    ctl: nvrm::Ctl,
    clients: Vec<Client>,
}

struct GpuF {
    gpu: nvrm::Gpu,
    registered: bool,
    /// Length of the RM_MAP_MEMORY made to it, if any.
    mapped: Option<usize>,
}

struct MapM {
    ptr: *mut libc::c_void,
    len: usize,
    ctl: u64,
    client: u32,
    parent: u32,
    h: u32,
    cookie: u64,
}

struct ExportF {
    ctl: nvrm::Ctl,
    used: bool,
}

struct UvmF {
    uvm: nvrm::Uvm,
    registered: bool,
}

struct Worker {
    sh: &'static Shared,
    ctx: usize,
    slot: usize,
    dir: String,
    cap: u64,
    rng: Rng,
    next_id: u64,
    ctls: Vec<CtlF>,
    gpus: Vec<GpuF>,
    maps: Vec<MapM>,
    exports: Vec<ExportF>,
    uvms: Vec<UvmF>,
    sock: RawFd,
    uuid: Option<[u8; 16]>,
    /// A forked child carrying on with the inherited state.
    child: bool,
    /// The flip cases (indices into `CASES`) flip children may run.
    flip_cases: Vec<u32>,
    /// The weight of each kind (`OPS`; 0 for kinds left out with --ops).
    weights: Vec<u32>,
}

fn pick<T>(rng: &mut Rng, v: &[T]) -> Option<usize> {
    (!v.is_empty()).then(|| rng.below(v.len() as u64) as usize)
}

fn mem_params(size: u64) -> Vec<u8> {
    let mut p = class::NvMemoryAllocationParams::ZERO;
    p.owner = nvrm::OWNER;
    p.size = size;
    p.numa_node = -1;
    let mut b = vec![0u8; class::NvMemoryAllocationParams::SIZE];
    p.write(&mut b);
    b
}

impl Worker {
    fn rec(&self, op: Op, key: u64, h: u32, size: u64) {
        self.sh.record(self.ctx, self.slot, op, key, h, size);
    }

    fn violation(&self, what: &str) {
        self.sh.violation(&format!(
            "ctx={} slot={} pid={}: {what}",
            ["A", "B"][self.ctx],
            self.slot,
            std::process::id()
        ));
    }

    fn publish(&self, k: usize, client: u32, h: u32) {
        self.sh.foreign[self.ctx][self.slot][k]
            .store((u64::from(client) << 32) | u64::from(h), Relaxed);
    }

    /// A handle the other context offered: kind 0 memory, 2 device, 3 subdevice.
    fn foreign(&mut self, k: usize) -> Option<(u32, u32)> {
        let slot = self.rng.below(MAX_PROCS as u64) as usize;
        let k = if k == 0 {
            self.rng.below(2) as usize
        } else {
            k
        };
        let v = self.sh.foreign[1 - self.ctx][slot][k].load(Relaxed);
        (v != 0).then_some(((v >> 32) as u32, v as u32))
    }

    fn path(&self, node: &str) -> String {
        format!("{}/{node}", self.dir)
    }

    /// (ctl index, client index) of a random client.
    fn client(&mut self) -> Option<(usize, usize)> {
        let all: Vec<(usize, usize)> = self
            .ctls
            .iter()
            .enumerate()
            .flat_map(|(i, c)| (0..c.clients.len()).map(move |j| (i, j)))
            .collect();
        pick(&mut self.rng, &all).map(|i| all[i])
    }

    /// A random object of one of `kinds`: (ctl, client, object).
    fn obj(&mut self, kinds: &[K]) -> Option<(usize, usize, Obj)> {
        let all: Vec<(usize, usize, Obj)> = self
            .ctls
            .iter()
            .enumerate()
            .flat_map(|(i, c)| {
                c.clients
                    .iter()
                    .enumerate()
                    .flat_map(move |(j, cl)| cl.of(kinds).into_iter().map(move |o| (i, j, o)))
            })
            .collect();
        pick(&mut self.rng, &all).map(|i| all[i])
    }

    fn push_obj(&mut self, c: usize, cl: usize, o: Obj) {
        self.ctls[c].clients[cl].objs.push(o);
    }

    fn choose(&mut self) -> Op {
        let total: u32 = self.weights.iter().sum();
        let mut x = self.rng.below(u64::from(total)) as u32;
        for (&(op, _, _), &w) in OPS.iter().zip(&self.weights) {
            if x < w {
                return op;
            }
            x -= w;
        }
        Op::AllocVidmem
    }

    /// Most workers start as CUDA does: a ctl file, a GPU file, a client,
    /// its device and subdevice, an initialized UVM file.
    fn prologue(&mut self) {
        if self.rng.below(4) == 0 {
            return;
        }
        for op in [
            Op::OpenCtl,
            Op::OpenGpu,
            Op::AllocClient,
            Op::AllocDevice,
            Op::AllocSubdevice,
            Op::UvmOpen,
            Op::UvmInit,
        ] {
            self.act(op);
        }
    }

    fn step(&mut self) {
        let op = self.choose();
        self.act(op);
    }

    fn act(&mut self, op: Op) {
        if self.child && matches!(op, Op::Fork | Op::Flip | Op::Exit) {
            return;
        }
        match op {
            Op::OpenCtl => {
                if self.ctls.len() >= 5 {
                    return;
                }
                match nvrm::Ctl::open(&self.path("nvidiactl")) {
                    Ok(ctl) => {
                        if let Err((_, theirs)) = ctl.check_version(nvrm::VERSION) {
                            let _ = ctl.check_version(&theirs);
                        }
                        self.next_id += 1;
                        self.ctls.push(CtlF {
                            id: self.next_id,
                            ctl,
                            clients: Vec::new(),
                        });
                        self.rec(op, OK, 0, 0);
                    }
                    Err(e) => self.rec(op, io_key(&e), 0, 0),
                }
            }
            Op::CloseCtl => {
                if let Some(i) = pick(&mut self.rng, &self.ctls) {
                    self.ctls.swap_remove(i);
                    self.rec(op, OK, 0, 0);
                }
            }
            Op::OpenGpu => {
                if self.gpus.len() < 6 {
                    self.open_gpu();
                }
            }
            Op::CloseGpu => {
                if let Some(i) = pick(&mut self.rng, &self.gpus) {
                    self.gpus.swap_remove(i);
                    self.rec(op, OK, 0, 0);
                }
            }
            Op::RegisterFd => {
                let (Some(g), Some(c)) = (
                    pick(&mut self.rng, &self.gpus),
                    pick(&mut self.rng, &self.ctls),
                ) else {
                    return;
                };
                if self.gpus[g].registered {
                    return;
                }
                let r = self.gpus[g].gpu.register_fd(self.ctls[c].ctl.as_raw_fd());
                self.gpus[g].registered = r.is_ok();
                self.rec(op, io_unit_key(&r), 0, 0);
            }
            Op::AllocClient => {
                let Some(c) = pick(&mut self.rng, &self.ctls) else {
                    return;
                };
                if self.ctls[c].clients.len() >= 3 {
                    return;
                }
                let r = self.ctls[c].ctl.alloc_client();
                self.rec(op, res_key(&r), *r.as_ref().unwrap_or(&0), 0);
                if let Ok(h) = r {
                    self.ctls[c].clients.push(Client {
                        h,
                        objs: Vec::new(),
                    });
                }
            }
            Op::AllocDevice => {
                let Some((c, cl)) = self.client() else {
                    return;
                };
                if self.ctls[c].clients[cl].of(&[K::Device]).len() >= 2 {
                    return;
                }
                if self.gpus.is_empty() && self.rng.below(5) != 0 {
                    self.open_gpu();
                }
                let client = self.ctls[c].clients[cl].h;
                let r = self.ctls[c].ctl.alloc_device(client, 0);
                self.rec(op, res_key(&r), *r.as_ref().unwrap_or(&0), 0);
                if let Ok(h) = r {
                    self.push_obj(
                        c,
                        cl,
                        Obj {
                            h,
                            parent: client,
                            kind: K::Device,
                            size: 0,
                        },
                    );
                    self.publish(2, client, h);
                }
            }
            Op::AllocSubdevice => {
                let Some((c, cl, dev)) = self.obj(&[K::Device]) else {
                    return;
                };
                let client = self.ctls[c].clients[cl].h;
                let mut p = class::Nv2080AllocParameters::ZERO;
                let r =
                    self.ctls[c]
                        .ctl
                        .alloc(client, dev.h, class::NV20_SUBDEVICE_0, Some(&mut p));
                self.rec(op, res_key(&r), *r.as_ref().unwrap_or(&0), 0);
                if let Ok(h) = r {
                    self.push_obj(
                        c,
                        cl,
                        Obj {
                            h,
                            parent: dev.h,
                            kind: K::Subdevice,
                            size: 0,
                        },
                    );
                    self.publish(3, client, h);
                }
            }
            Op::AllocVidmem | Op::AllocSysmem => {
                let Some((c, cl, dev)) = self.obj(&[K::Device]) else {
                    return;
                };
                if self.ctls[c].clients[cl].objs.len() >= 60 {
                    return;
                }
                let vid = op == Op::AllocVidmem;
                // 4 KiB .. 64 MiB, log-uniform; sometimes not page-aligned.
                let e = 12 + self.rng.below(if vid { 15 } else { 11 });
                let mut size = (1u64 << e) + self.rng.below(1 << e);
                if self.rng.below(4) != 0 {
                    size &= !4095;
                }
                let size = size.clamp(4096, 64 * MIB);
                let form = if self.rng.below(2) == 0 {
                    nvrm::AllocForm::Nvos21
                } else {
                    nvrm::AllocForm::Nvos64
                };
                let client = self.ctls[c].clients[cl].h;
                let mut p = mem_params(size);
                let class = if vid {
                    class::NV01_MEMORY_LOCAL_USER
                } else {
                    class::NV01_MEMORY_SYSTEM
                };
                let r = self.ctls[c]
                    .ctl
                    .alloc_raw(form, client, dev.h, 0, class, Some(&mut p));
                match r {
                    Ok((s, h)) => {
                        self.rec(op, st_key(s), h, size);
                        if s.ok() {
                            let got =
                                class::NvMemoryAllocationParams::read(&p).map_or(size, |p| p.size);
                            self.push_obj(
                                c,
                                cl,
                                Obj {
                                    h,
                                    parent: dev.h,
                                    kind: if vid { K::Vidmem } else { K::Sysmem },
                                    size: got,
                                },
                            );
                            let k = self.rng.below(2) as usize;
                            self.publish(k, client, h);
                        }
                    }
                    Err(e) => self.rec(op, io_key(&e), 0, size),
                }
            }
            Op::AllocVaspace | Op::AllocTsg => {
                let Some((c, cl, dev)) = self.obj(&[K::Device]) else {
                    return;
                };
                let client = self.ctls[c].clients[cl].h;
                let r = if op == Op::AllocVaspace {
                    self.ctls[c].ctl.alloc_vaspace(client, dev.h)
                } else {
                    let mut p = class::NvChannelGroupAllocationParameters::ZERO;
                    p.engine_type = nvrm::ENGINE_TYPE_GRAPHICS;
                    self.ctls[c].ctl.alloc(
                        client,
                        dev.h,
                        class::KEPLER_CHANNEL_GROUP_A,
                        Some(&mut p),
                    )
                };
                self.rec(op, res_key(&r), *r.as_ref().unwrap_or(&0), 0);
                if let Ok(h) = r {
                    self.push_obj(
                        c,
                        cl,
                        Obj {
                            h,
                            parent: dev.h,
                            kind: if op == Op::AllocVaspace {
                                K::Vaspace
                            } else {
                                K::Tsg
                            },
                            size: 0,
                        },
                    );
                }
            }
            Op::Free => {
                let all = [
                    K::Device,
                    K::Subdevice,
                    K::Vidmem,
                    K::Sysmem,
                    K::Dup,
                    K::Import,
                    K::Usermode,
                    K::Vaspace,
                    K::Tsg,
                ];
                // Mostly memory; parents (with their children) now and then.
                let kinds: &[K] = if self.rng.below(4) == 0 {
                    &all
                } else {
                    &all[2..6]
                };
                let Some((c, cl, o)) = self.obj(kinds) else {
                    return;
                };
                let client = self.ctls[c].clients[cl].h;
                let r = self.ctls[c].ctl.free(client, o.parent, o.h);
                self.rec(op, ios_key(&r), o.h, o.size);
                if matches!(r, Ok(s) if s.ok()) {
                    self.ctls[c].clients[cl].drop_subtree(o.h);
                }
            }
            Op::FreeClient => {
                let Some((c, cl)) = self.client() else {
                    return;
                };
                let client = self.ctls[c].clients[cl].h;
                let r = self.ctls[c].ctl.free(client, 0, client);
                self.rec(op, ios_key(&r), client, 0);
                if matches!(r, Ok(s) if s.ok()) {
                    self.ctls[c].clients.swap_remove(cl);
                }
            }
            Op::Dup => {
                let Some((sc, scl, src)) = self.obj(&[K::Vidmem, K::Sysmem, K::Usermode, K::Dup])
                else {
                    return;
                };
                let Some((dc, dcl, dev)) = self.obj(&[K::Device, K::Subdevice]) else {
                    return;
                };
                let src_client = self.ctls[sc].clients[scl].h;
                let client = self.ctls[dc].clients[dcl].h;
                let r = self.ctls[dc]
                    .ctl
                    .dup(client, dev.h, 0, src_client, src.h, 0);
                self.rec(op, res_key(&r), src.h, src.size);
                if let Ok(h) = r {
                    self.push_obj(
                        dc,
                        dcl,
                        Obj {
                            h,
                            parent: dev.h,
                            kind: K::Dup,
                            size: src.size,
                        },
                    );
                }
            }
            Op::Share => {
                let Some((c, cl, o)) = self.obj(&[K::Vidmem, K::Sysmem]) else {
                    return;
                };
                let client = self.ctls[c].clients[cl].h;
                let revoke = self.rng.below(3) == 0;
                let r = self.ctls[c].ctl.share_all(client, o.h, revoke);
                self.rec(op, ios_key(&r), o.h, 0);
            }
            Op::Map => {
                let Some((c, cl, o)) = self.obj(&[K::Vidmem, K::Sysmem, K::Dup, K::Import]) else {
                    return;
                };
                let len = if o.size == 0 {
                    4096
                } else {
                    o.size.min(256 << 10).next_multiple_of(4096)
                };
                let parent = self.parent_device(c, cl, o);
                self.map(c, cl, parent, o.h, len as usize, op);
            }
            Op::Mmap => {}
            Op::Munmap => {
                if let Some(i) = pick(&mut self.rng, &self.maps) {
                    let m = self.maps.swap_remove(i);
                    // SAFETY: a mapping this process made and no longer uses.
                    let r = unsafe { libc::munmap(m.ptr, m.len) };
                    self.rec(op, if r == 0 { OK } else { errno_key() }, m.h, m.len as u64);
                }
            }
            Op::UnmapMemory => {
                let Some(i) = pick(&mut self.rng, &self.maps) else {
                    return;
                };
                let m = &self.maps[i];
                let Some(c) = self.ctls.iter().position(|c| c.id == m.ctl) else {
                    return;
                };
                let r = self.ctls[c]
                    .ctl
                    .unmap_memory(m.client, m.parent, m.h, m.cookie);
                self.rec(op, ios_key(&r), m.h, 0);
            }
            Op::Doorbell => {
                let Some((c, cl, sub)) = self.obj(&[K::Subdevice]) else {
                    return;
                };
                let client = self.ctls[c].clients[cl].h;
                let mut p = class::NvHopperUsermodeAParams::ZERO;
                let r =
                    self.ctls[c]
                        .ctl
                        .alloc(client, sub.h, class::HOPPER_USERMODE_A, Some(&mut p));
                self.rec(op, res_key(&r), *r.as_ref().unwrap_or(&0), 0);
                if let Ok(h) = r {
                    self.push_obj(
                        c,
                        cl,
                        Obj {
                            h,
                            parent: sub.h,
                            kind: K::Usermode,
                            size: 0,
                        },
                    );
                    self.map(c, cl, sub.h, h, nvrm::USERMODE_SIZE, Op::Map);
                }
            }
            Op::Remap => {
                let mapped: Vec<usize> = (0..self.gpus.len())
                    .filter(|&i| self.gpus[i].mapped.is_some())
                    .collect();
                let Some(i) = pick(&mut self.rng, &mapped) else {
                    return;
                };
                let g = mapped[i];
                let len = self.gpus[g].mapped.unwrap_or(4096);
                let fd = self.gpus[g].gpu.as_raw_fd();
                self.mmap(fd, len, 0, 0, 0, 0, 0, op);
            }
            Op::ExportOpen => {
                if self.exports.len() >= 3 {
                    return;
                }
                match nvrm::Ctl::open(&self.path("nvidiactl")) {
                    Ok(ctl) => {
                        self.exports.push(ExportF { ctl, used: false });
                        self.rec(op, OK, 0, 0);
                    }
                    Err(e) => self.rec(op, io_key(&e), 0, 0),
                }
            }
            Op::Export => {
                let Some(x) = pick(&mut self.rng, &self.exports) else {
                    return;
                };
                let Some((c, cl, o)) = self.obj(&[K::Vidmem, K::Sysmem, K::Dup, K::Import]) else {
                    return;
                };
                let client = self.ctls[c].clients[cl].h;
                let dev = self.parent_device(c, cl, o);
                let r = self.ctls[c].ctl.export_object_to_fd(
                    client,
                    dev,
                    o.h,
                    self.exports[x].ctl.as_raw_fd(),
                );
                self.rec(op, res_key(&r), o.h, o.size);
                if r.is_ok() {
                    self.exports[x].used = true;
                }
            }
            Op::Import => {
                let used: Vec<usize> = (0..self.exports.len())
                    .filter(|&i| self.exports[i].used)
                    .collect();
                let Some(x) = pick(&mut self.rng, &used) else {
                    return;
                };
                let Some((c, cl, dev)) = self.obj(&[K::Device]) else {
                    return;
                };
                let client = self.ctls[c].clients[cl].h;
                let fd = self.exports[used[x]].ctl.as_raw_fd();
                let r = self.ctls[c].ctl.import_object_from_fd(client, dev.h, 0, fd);
                self.rec(op, res_key(&r), *r.as_ref().unwrap_or(&0), 0);
                if let Ok(h) = r {
                    self.push_obj(
                        c,
                        cl,
                        Obj {
                            h,
                            parent: dev.h,
                            kind: K::Import,
                            size: 0,
                        },
                    );
                }
            }
            Op::ExportClose => {
                if let Some(i) = pick(&mut self.rng, &self.exports) {
                    self.exports.swap_remove(i);
                    self.rec(op, OK, 0, 0);
                }
            }
            Op::ExportSend => {
                let Some(x) = pick(&mut self.rng, &self.exports) else {
                    return;
                };
                let ok = send_fd(self.sock, self.exports[x].ctl.as_raw_fd());
                self.rec(op, if ok { OK } else { errno_key() }, 0, 0);
            }
            Op::ExportRecv => {
                let Some(fd) = recv_fd(self.sock) else {
                    return;
                };
                let Some((c, cl, dev)) = self.obj(&[K::Device]) else {
                    // SAFETY: the fd just received.
                    unsafe { libc::close(fd) };
                    return;
                };
                let client = self.ctls[c].clients[cl].h;
                let r = self.ctls[c].ctl.import_object_from_fd(client, dev.h, 0, fd);
                self.rec(op, res_key(&r), 0, 0);
                // SAFETY: the fd just received.
                unsafe { libc::close(fd) };
                if let Ok(h) = r {
                    self.violation(&format!(
                        "IMPORT_OBJECT_FROM_FD of the other context's export fd returned NV_OK (handle {h:#x})"
                    ));
                    let _ = self.ctls[c].ctl.free(client, dev.h, h);
                }
            }
            Op::FbInfo => {
                let Some((c, cl, sub)) = self.obj(&[K::Subdevice]) else {
                    return;
                };
                let client = self.ctls[c].clients[cl].h;
                let mut p = ctrl::Nv2080CtrlFbGetInfoV2Params::ZERO;
                p.fb_info_list_size = 2;
                p.fb_info_list[0].index = ctrl::NV2080_CTRL_FB_INFO_INDEX_RAM_SIZE;
                p.fb_info_list[1].index = ctrl::NV2080_CTRL_FB_INFO_INDEX_HEAP_SIZE;
                let r = self.ctls[c].ctl.control(
                    client,
                    sub.h,
                    ctrl::NV2080_CTRL_CMD_FB_GET_INFO_V2,
                    &mut p,
                );
                self.rec(op, res_key(&r), sub.h, 0);
                let ram = u64::from(p.fb_info_list[0].data) << 10;
                if r.is_ok() && ram > self.cap {
                    self.violation(&format!(
                        "FB_GET_INFO_V2 RAM_SIZE {ram} B is more than the cap {} B",
                        self.cap
                    ));
                }
            }
            Op::Control => {
                let Some((c, cl, sub)) = self.obj(&[K::Subdevice]) else {
                    return;
                };
                let client = self.ctls[c].clients[cl].h;
                let mut p = ctrl::Nv2080CtrlGpuGetNameStringParams::ZERO;
                let r = self.ctls[c].ctl.control(
                    client,
                    sub.h,
                    ctrl::NV2080_CTRL_CMD_GPU_GET_NAME_STRING,
                    &mut p,
                );
                self.rec(op, res_key(&r), sub.h, 0);
            }
            Op::UvmOpen => {
                if self.uvms.len() >= 2 {
                    return;
                }
                match nvrm::Uvm::open(&self.path("nvidia-uvm")) {
                    Ok(uvm) => {
                        self.uvms.push(UvmF {
                            uvm,
                            registered: false,
                        });
                        self.rec(op, OK, 0, 0);
                    }
                    Err(e) => self.rec(op, io_key(&e), 0, 0),
                }
            }
            Op::UvmInit => {
                if let Some(u) = pick(&mut self.rng, &self.uvms) {
                    let r = self.uvms[u].uvm.initialize();
                    self.rec(op, ios_key(&r), 0, 0);
                }
            }
            Op::UvmRegister | Op::UvmUnregister => {
                let Some(u) = pick(&mut self.rng, &self.uvms) else {
                    return;
                };
                let Some(uuid) = self.uuid() else {
                    return;
                };
                let r = if op == Op::UvmRegister {
                    let Some((c, cl)) = self.client() else {
                        return;
                    };
                    let client = self.ctls[c].clients[cl].h;
                    let fd = self.ctls[c].ctl.as_raw_fd();
                    self.uvms[u].uvm.register_gpu(uuid, fd, client)
                } else {
                    self.uvms[u].uvm.unregister_gpu(uuid)
                };
                if matches!(r, Ok(s) if s.ok()) {
                    self.uvms[u].registered = op == Op::UvmRegister;
                }
                self.rec(op, ios_key(&r), 0, 0);
            }
            Op::UvmClose => {
                if let Some(u) = pick(&mut self.rng, &self.uvms) {
                    let reg = self.uvms.swap_remove(u).registered;
                    self.rec(op, OK, u32::from(reg), 0);
                }
            }
            Op::DupForeign => {
                let Some((fc, fh)) = self.foreign(0) else {
                    return;
                };
                let Some((c, cl, dev)) = self.obj(&[K::Device, K::Subdevice]) else {
                    return;
                };
                let client = self.ctls[c].clients[cl].h;
                let r = self.ctls[c].ctl.dup(client, dev.h, 0, fc, fh, 0);
                self.rec(op, res_key(&r), fh, 0);
                if let Ok(h) = r {
                    self.violation(&format!(
                        "RM_DUP_OBJECT of the other context's object {fc:#x}:{fh:#x} returned NV_OK (new handle {h:#x})"
                    ));
                    let _ = self.ctls[c].ctl.free(client, dev.h, h);
                }
            }
            Op::FreeForeign => {
                let k = [0, 2, 3][self.rng.below(3) as usize];
                let Some((fc, fh)) = self.foreign(k) else {
                    return;
                };
                let Some(c) = pick(&mut self.rng, &self.ctls) else {
                    return;
                };
                let r = self.ctls[c].ctl.free(fc, fc, fh);
                self.rec(op, ios_key(&r), fh, 0);
                if matches!(r, Ok(s) if s.ok()) {
                    self.violation(&format!(
                        "RM_FREE of the other context's object {fc:#x}:{fh:#x} returned NV_OK"
                    ));
                }
            }
            Op::AllocForeign => {
                let Some((fc, fdev)) = self.foreign(2) else {
                    return;
                };
                let Some(c) = pick(&mut self.rng, &self.ctls) else {
                    return;
                };
                let mut p = mem_params(MIB);
                let r = self.ctls[c].ctl.alloc_raw(
                    nvrm::AllocForm::Nvos64,
                    fc,
                    fdev,
                    0,
                    class::NV01_MEMORY_LOCAL_USER,
                    Some(&mut p),
                );
                match r {
                    Ok((s, h)) => {
                        self.rec(op, st_key(s), fdev, MIB);
                        if s.ok() {
                            self.violation(&format!(
                                "RM_ALLOC under the other context's device {fc:#x}:{fdev:#x} returned NV_OK (handle {h:#x})"
                            ));
                        }
                    }
                    Err(e) => self.rec(op, io_key(&e), fdev, MIB),
                }
            }
            Op::ControlForeign => {
                let Some((fc, fsub)) = self.foreign(3) else {
                    return;
                };
                let Some(c) = pick(&mut self.rng, &self.ctls) else {
                    return;
                };
                let mut p = ctrl::Nv2080CtrlGpuGetNameStringParams::ZERO;
                let r = self.ctls[c].ctl.control(
                    fc,
                    fsub,
                    ctrl::NV2080_CTRL_CMD_GPU_GET_NAME_STRING,
                    &mut p,
                );
                self.rec(op, res_key(&r), fsub, 0);
                if r.is_ok() {
                    self.violation(&format!(
                        "RM_CONTROL on the other context's subdevice {fc:#x}:{fsub:#x} returned NV_OK"
                    ));
                }
            }
            Op::MapForeign => {
                let Some((fc, fh)) = self.foreign(0) else {
                    return;
                };
                let Some((_, fdev)) = self.foreign(2) else {
                    return;
                };
                let (Some(c), Some(g)) = (
                    pick(&mut self.rng, &self.ctls),
                    pick(&mut self.rng, &self.gpus),
                ) else {
                    return;
                };
                let fd = self.gpus[g].gpu.as_raw_fd();
                let r = self.ctls[c].ctl.map_memory(fc, fdev, fh, 0, 4096, fd);
                self.rec(op, res_key(&r), fh, 0);
                if r.is_ok() {
                    self.violation(&format!(
                        "RM_MAP_MEMORY of the other context's object {fc:#x}:{fh:#x} returned NV_OK"
                    ));
                }
            }
            Op::Fork => self.fork(),
            // Rarer than their weight: an attack the audit catches
            // ends every process of the context, an exit the worker.
            Op::Flip if self.rng.below(6) == 0 => self.flip(),
            Op::Flip => {}
            Op::Exit if self.rng.below(4) != 0 => {}
            Op::Exit => {
                self.rec(op, OK, 0, 0);
                // SAFETY: leaves at once; the kernel closes every file.
                unsafe {
                    if self.rng.below(2) == 0 {
                        libc::_exit(3);
                    }
                    libc::raise(libc::SIGKILL);
                }
            }
        }
    }

    /// The device (or subdevice) an object hangs under, for calls that name one.
    fn parent_device(&self, c: usize, cl: usize, o: Obj) -> u32 {
        let objs = &self.ctls[c].clients[cl].objs;
        let mut h = o.parent;
        for _ in 0..4 {
            match objs.iter().find(|x| x.h == h) {
                Some(x) if matches!(x.kind, K::Device | K::Subdevice) => return x.h,
                Some(x) => h = x.parent,
                None => break,
            }
        }
        o.parent
    }

    fn open_gpu(&mut self) {
        match nvrm::Gpu::open(&self.path("nvidia0")) {
            Ok(gpu) => {
                self.gpus.push(GpuF {
                    gpu,
                    registered: false,
                    mapped: None,
                });
                self.rec(Op::OpenGpu, OK, 0, 0);
            }
            Err(e) => self.rec(Op::OpenGpu, io_key(&e), 0, 0),
        }
    }

    fn uuid(&mut self) -> Option<[u8; 16]> {
        if self.uuid.is_none() {
            let (c, cl, sub) = self.obj(&[K::Subdevice])?;
            let mut p = ctrl::Nv2080CtrlGpuGetGidInfoParams::ZERO;
            p.flags = 2;
            let client = self.ctls[c].clients[cl].h;
            let r = self.ctls[c].ctl.control(
                client,
                sub.h,
                ctrl::NV2080_CTRL_CMD_GPU_GET_GID_INFO,
                &mut p,
            );
            self.rec(Op::Control, res_key(&r), sub.h, 0);
            r.ok()?;
            let mut u = [0u8; 16];
            u.copy_from_slice(&p.data[..16]);
            self.uuid = Some(u);
        }
        self.uuid
    }

    /// RM_MAP_MEMORY of `h` to a GPU file (mostly a fresh one), then mmap.
    fn map(&mut self, c: usize, cl: usize, parent: u32, h: u32, len: usize, op: Op) {
        if self.maps.len() >= 8 {
            return;
        }
        if (self.gpus.is_empty() || self.rng.below(3) != 0) && self.gpus.len() < 6 {
            self.open_gpu();
        }
        let Some(g) = pick(&mut self.rng, &self.gpus) else {
            return;
        };
        let client = self.ctls[c].clients[cl].h;
        let fd = self.gpus[g].gpu.as_raw_fd();
        let r = self.ctls[c]
            .ctl
            .map_memory(client, parent, h, 0, len as u64, fd);
        self.rec(op, res_key(&r), h, len as u64);
        if let Ok(cookie) = r {
            self.gpus[g].mapped = Some(len);
            let id = self.ctls[c].id;
            self.mmap(fd, len, id, client, parent, h, cookie, Op::Mmap);
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn mmap(
        &mut self,
        fd: RawFd,
        len: usize,
        ctl: u64,
        client: u32,
        parent: u32,
        h: u32,
        cookie: u64,
        op: Op,
    ) {
        if self.maps.len() >= 8 {
            return;
        }
        // SAFETY: a new shared mapping of our own file; touched only
        // within its length below.
        let p = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                len,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_SHARED,
                fd,
                0,
            )
        };
        if p == libc::MAP_FAILED {
            self.rec(op, errno_key(), h, len as u64);
            return;
        }
        self.rec(op, OK, h, len as u64);
        if len != nvrm::USERMODE_SIZE {
            // A word of memory written and read back (not the doorbell:
            // the engine would take it for a submission).
            // SAFETY: inside the mapping just made.
            unsafe {
                std::ptr::write_volatile(p.cast::<u32>(), 0x600d_f00d);
                let _ = std::ptr::read_volatile(p.cast::<u32>());
            }
        }
        self.maps.push(MapM {
            ptr: p,
            len,
            ctl,
            client,
            parent,
            h,
            cookie,
        });
    }

    /// Forks a child that carries on with the inherited state (the same
    /// files, clients and mappings) for a few calls and exits; now and then
    /// it is killed mid-way instead.
    fn fork(&mut self) {
        let steps = 1 + self.rng.below(6);
        let kill_after = (self.rng.below(3) == 0).then(|| self.rng.below(30));
        let seed = self.rng.next();
        // SAFETY: this process is single-threaded (flip threads live in
        // flip children only); the child leaves by _exit.
        let pid = unsafe { libc::fork() };
        if pid == 0 {
            self.child = true;
            self.rng = Rng(seed | 1);
            for _ in 0..steps {
                if self.sh.stop.load(Relaxed) != 0 {
                    break;
                }
                self.step();
            }
            // SAFETY: leaves without running destructors (the kernel closes).
            unsafe { libc::_exit(0) };
        }
        if pid < 0 {
            self.rec(Op::Fork, errno_key(), 0, 0);
            return;
        }
        if let Some(ms) = kill_after {
            std::thread::sleep(Duration::from_millis(ms));
            // SAFETY: our child.
            unsafe { libc::kill(pid, libc::SIGKILL) };
        }
        let mut st = 0;
        // SAFETY: waits for our child.
        unsafe { libc::waitpid(pid, &mut st, 0) };
        let key = if libc::WIFSIGNALED(st) {
            ERRNO | (1000 + libc::WTERMSIG(st) as u64)
        } else {
            OK
        };
        self.rec(Op::Fork, key, 0, 0);
    }

    /// A flip child: a session of its own, a second thread rewriting one
    /// field of the block of each call (see `flip_child`).
    fn flip(&mut self) {
        let Some(i) = pick(&mut self.rng, &self.flip_cases) else {
            return;
        };
        let case = self.flip_cases[i];
        let calls = 4 + self.rng.below(24) as u32;
        let foreign = self.foreign(0);
        self.sh.flips[self.ctx].fetch_add(1, Relaxed);
        self.sh.flip_case[self.ctx][self.slot].store(u64::from(case) + 1, Relaxed);
        // SAFETY: single-threaded here; the child leaves by _exit.
        let pid = unsafe { libc::fork() };
        if pid == 0 {
            let code = flip_child(self, case, calls, foreign);
            // SAFETY: leaves without running destructors.
            unsafe { libc::_exit(code) };
        }
        if pid < 0 {
            self.rec(Op::Flip, errno_key(), 0, 0);
            return;
        }
        let mut st = 0;
        // SAFETY: waits for our child.
        unsafe { libc::waitpid(pid, &mut st, 0) };
        self.sh.flip_case[self.ctx][self.slot].store(0, Relaxed);
        let key = if libc::WIFSIGNALED(st) {
            ERRNO | (1000 + libc::WTERMSIG(st) as u64)
        } else if libc::WEXITSTATUS(st) != 0 {
            ERRNO | (2000 + libc::WEXITSTATUS(st) as u64)
        } else {
            u64::from(case) + 100
        };
        self.rec(Op::Flip, key, case, u64::from(calls));
    }
}

fn set_comm(name: &str) {
    let c = std::ffi::CString::new(name).unwrap_or_default();
    // SAFETY: PR_SET_NAME with a NUL-terminated string of at most 16 bytes.
    unsafe { libc::prctl(libc::PR_SET_NAME, c.as_ptr()) };
}

/// 8-byte words both threads of a flip child share.
struct Block(Box<[AtomicU64]>);

impl Block {
    fn new(bytes: usize) -> Self {
        Block((0..bytes.div_ceil(8)).map(|_| AtomicU64::new(0)).collect())
    }
    fn addr(&self) -> u64 {
        self.0.as_ptr() as u64
    }
    fn set32(&self, off: usize, v: u32) {
        let w = &self.0[off / 8];
        let shift = (off % 8) * 8;
        let old = w.load(Relaxed);
        w.store(
            (old & !(0xffff_ffff << shift)) | (u64::from(v) << shift),
            Relaxed,
        );
    }
    fn get32(&self, off: usize) -> u32 {
        (self.0[off / 8].load(Relaxed) >> ((off % 8) * 8)) as u32
    }
    fn set64(&self, off: usize, v: u64) {
        self.0[off / 8].store(v, Relaxed);
    }
    fn clear(&self) {
        for w in self.0.iter() {
            w.store(0, Relaxed);
        }
    }
    fn mem(size: u64) -> Self {
        let b = Block::new(128);
        b.set32(0, nvrm::OWNER);
        b.set64(64, size);
        b.set32(120, u32::MAX);
        b
    }
    fn call(&self, fd: RawFd, nr: u32, len: u32) -> bool {
        // SAFETY: the block is valid for at least `len` bytes.
        unsafe { libc::ioctl(fd, nv_iowr(nr, len) as _, self.addr() as *mut libc::c_void) == 0 }
    }
}

const CASES: [&str; 6] = ["class", "size", "pointer", "free", "status", "dup"];

/// One flip case (`CASES[case]`) for `calls` calls; returns the exit
/// status (0, or 1 when the session could not be made).
fn flip_child(w: &Worker, case: u32, calls: u32, foreign: Option<(u32, u32)>) -> i32 {
    use fakegpu_core::nvabi::escape::{NV_ESC_RM_ALLOC, NV_ESC_RM_DUP_OBJECT, NV_ESC_RM_FREE};
    set_comm("chaos-flip");
    let Ok(s) = nvrm::Session::open(&w.dir, 0) else {
        return 1;
    };
    let fd = s.ctl.as_raw_fd();
    let outer = Arc::new(Block::new(48));
    let small = Arc::new(Block::mem(MIB));
    let big = Arc::new(Block::mem(64 * MIB));
    let stop = Arc::new(AtomicBool::new(false));
    let pair = Arc::new((AtomicU64::new(0), AtomicU64::new(0)));
    // (block, offset, 64-bit): what the flipper rewrites.
    let (target, off, wide) = match CASES[case as usize] {
        "class" => (outer.clone(), 12, false),
        "size" => (small.clone(), 64, true),
        "pointer" => (outer.clone(), 16, true),
        "free" => (outer.clone(), 8, false),
        "status" => (outer.clone(), 40, false),
        _ => (outer.clone(), 12, false),
    };
    let (a, b) = match CASES[case as usize] {
        "class" => (
            u64::from(class::NV01_MEMORY_SYSTEM),
            u64::from(class::NV01_MEMORY_LOCAL_USER),
        ),
        "size" => (MIB, 64 * MIB),
        "pointer" => (small.addr(), big.addr()),
        "status" => (1, 1),
        "dup" => match foreign {
            Some((fc, _)) => (u64::from(s.client), u64::from(fc)),
            None => return 0,
        },
        _ => (0, 0),
    };
    pair.0.store(a, Relaxed);
    pair.1.store(b, Relaxed);
    if let ("dup", Some((_, fh))) = (CASES[case as usize], foreign) {
        // The handle must not be one of this client's own (a dup of it
        // would then be fair).
        if s.ctl.dup(s.client, s.device, 0, s.client, fh, 0).is_ok() {
            return 0;
        }
    }
    let flipper = {
        let (stop, pair, target) = (stop.clone(), pair.clone(), target);
        std::thread::spawn(move || {
            while !stop.load(Relaxed) {
                for v in [pair.0.load(Relaxed), pair.1.load(Relaxed)] {
                    if v == 0 {
                        continue;
                    }
                    if wide {
                        target.set64(off, v);
                    } else {
                        target.set32(off, v as u32);
                    }
                }
            }
        })
    };
    for _ in 0..calls {
        match CASES[case as usize] {
            "free" => {
                let one = nvrm::Session::alloc_vidmem(&s, MIB);
                let two = nvrm::Session::alloc_vidmem(&s, 16 * MIB);
                let (Ok((h1, _)), Ok((h2, _))) = (&one, &two) else {
                    for (h, _) in [one, two].into_iter().flatten() {
                        let _ = s.ctl.free(s.client, s.device, h);
                    }
                    continue;
                };
                pair.0.store(u64::from(*h1), Relaxed);
                pair.1.store(u64::from(*h2), Relaxed);
                outer.clear();
                outer.set32(0, s.client);
                outer.set32(4, s.device);
                outer.set32(8, *h1);
                outer.call(fd, NV_ESC_RM_FREE, 16);
                pair.0.store(0, Relaxed);
                pair.1.store(0, Relaxed);
                let _ = s.ctl.free(s.client, s.device, *h1);
                let _ = s.ctl.free(s.client, s.device, *h2);
            }
            "dup" => {
                let Some((fc, fh)) = foreign else { break };
                outer.clear();
                outer.set32(0, s.client);
                outer.set32(4, s.device);
                outer.set32(12, s.client);
                outer.set32(16, fh);
                if outer.call(fd, NV_ESC_RM_DUP_OBJECT, 28) && outer.get32(24) == status::NV_OK {
                    w.violation(&format!(
                        "flip dup: RM_DUP_OBJECT with hClientSrc flipped to the other context's {fc:#x} returned NV_OK for {fh:#x}"
                    ));
                    let _ = s.ctl.free(s.client, s.device, outer.get32(8));
                }
            }
            _ => {
                outer.clear();
                outer.set32(0, s.client);
                outer.set32(4, s.device);
                outer.set32(12, class::NV01_MEMORY_LOCAL_USER);
                outer.set64(16, small.addr());
                outer.set32(32, 128);
                small.set64(64, MIB);
                outer.call(fd, NV_ESC_RM_ALLOC, 48);
            }
        }
    }
    stop.store(true, Relaxed);
    let _ = flipper.join();
    0
}

fn send_fd(sock: RawFd, fd: RawFd) -> bool {
    // SAFETY: a one-byte message with one fd of ancillary data, in buffers
    // that outlive the call.
    unsafe {
        let mut byte = [0u8; 1];
        let mut iov = libc::iovec {
            iov_base: byte.as_mut_ptr().cast(),
            iov_len: 1,
        };
        let space = libc::CMSG_SPACE(4) as usize;
        let mut cbuf = vec![0u8; space];
        let mut msg: libc::msghdr = std::mem::zeroed();
        msg.msg_iov = &mut iov;
        msg.msg_iovlen = 1;
        msg.msg_control = cbuf.as_mut_ptr().cast();
        msg.msg_controllen = space as _;
        let cm = libc::CMSG_FIRSTHDR(&msg);
        (*cm).cmsg_level = libc::SOL_SOCKET;
        (*cm).cmsg_type = libc::SCM_RIGHTS;
        (*cm).cmsg_len = libc::CMSG_LEN(4) as _;
        std::ptr::write_unaligned(libc::CMSG_DATA(cm).cast::<RawFd>(), fd);
        libc::sendmsg(sock, &msg, libc::MSG_DONTWAIT) == 1
    }
}

fn recv_fd(sock: RawFd) -> Option<RawFd> {
    // SAFETY: as in `send_fd`; the cmsg is read only if present.
    unsafe {
        let mut byte = [0u8; 1];
        let mut iov = libc::iovec {
            iov_base: byte.as_mut_ptr().cast(),
            iov_len: 1,
        };
        let space = libc::CMSG_SPACE(4) as usize;
        let mut cbuf = vec![0u8; space];
        let mut msg: libc::msghdr = std::mem::zeroed();
        msg.msg_iov = &mut iov;
        msg.msg_iovlen = 1;
        msg.msg_control = cbuf.as_mut_ptr().cast();
        msg.msg_controllen = space as _;
        if libc::recvmsg(sock, &mut msg, libc::MSG_DONTWAIT | libc::MSG_CMSG_CLOEXEC) != 1 {
            return None;
        }
        let cm = libc::CMSG_FIRSTHDR(&msg);
        if cm.is_null() || (*cm).cmsg_type != libc::SCM_RIGHTS {
            return None;
        }
        Some(std::ptr::read_unaligned(
            libc::CMSG_DATA(cm).cast::<RawFd>(),
        ))
    }
}

fn worker_main(mut w: Worker, uid: u32) -> ! {
    set_comm(["chaos-A", "chaos-B"][w.ctx]);
    if crate::drop_privileges(uid).is_err() {
        // SAFETY: leaves the child.
        unsafe { libc::_exit(90) };
    }
    // After the credential change (which clears it).
    // SAFETY: plain prctl.
    unsafe { libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL) };
    w.prologue();
    while w.sh.stop.load(Relaxed) == 0 {
        w.step();
    }
    for m in w.maps.drain(..) {
        // SAFETY: our mappings.
        unsafe { libc::munmap(m.ptr, m.len) };
    }
    drop(w);
    // SAFETY: leaves the child.
    unsafe { libc::_exit(0) };
}

// ---------------------------------------------------------------- parent

struct Ctx {
    name: String,
    dir: String,
    gpu: u32,
    cap: u64,
    base: u64,
    /// Live workers' pids per slot.
    workers: Vec<Option<i32>>,
    generation: Vec<u64>,
    /// Process groups that may still have members.
    pgids: Vec<i32>,
    compromised: u64,
}

fn read(path: &str) -> Result<String, String> {
    std::fs::read_to_string(path).map_err(|e| format!("{path}: {e}"))
}

fn read_u64(path: &str) -> Result<u64, String> {
    read(path)?
        .trim()
        .parse()
        .map_err(|_| format!("{path}: not a number"))
}

impl Ctx {
    fn sys(&self, attr: &str) -> String {
        format!("/sys/kernel/fakegpu/contexts/{}/{attr}", self.name)
    }
    fn ledger(&self) -> u64 {
        read_u64(&self.sys("mem_used_bytes")).unwrap_or(u64::MAX)
    }
    fn heap(&self) -> u64 {
        heap_used(self.gpu).unwrap_or(u64::MAX)
    }
    fn audit(&self, key: &str) -> u64 {
        read(&self.sys("audit"))
            .unwrap_or_default()
            .lines()
            .find_map(|l| l.strip_prefix(key)?.trim().parse().ok())
            .unwrap_or(0)
    }
}

fn heap_used(gpu: u32) -> Result<u64, String> {
    let p = format!("/sys/kernel/debug/nvsim/gpu{gpu}/heap");
    read(&p)?
        .lines()
        .find_map(|l| l.strip_prefix("used_bytes ")?.trim().parse().ok())
        .ok_or(format!("{p}: no used_bytes"))
}

/// (pid, pgrp, state of every task, comm) of every process.
/// A task's id and state letter.
type Tasks = Vec<(i32, char)>;
/// (pid, process group, tasks, comm).
type Proc = (i32, i32, Tasks, String);
/// (context, pid, tasks, comm).
type Member = (usize, i32, Tasks, String);

fn processes() -> Vec<Proc> {
    let mut out = Vec::new();
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return out;
    };
    for e in dir.flatten() {
        let Ok(pid) = e.file_name().to_string_lossy().parse::<i32>() else {
            continue;
        };
        let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
            continue;
        };
        let Some(rest) = stat.rsplit_once(')').map(|r| r.1) else {
            continue;
        };
        let f: Vec<&str> = rest.split_whitespace().collect();
        let Some(pgrp) = f.get(2).and_then(|p| p.parse().ok()) else {
            continue;
        };
        let comm = stat
            .split_once('(')
            .and_then(|(_, r)| r.rsplit_once(')'))
            .map_or("", |(c, _)| c)
            .to_string();
        let mut tasks = Vec::new();
        if let Ok(td) = std::fs::read_dir(format!("/proc/{pid}/task")) {
            for t in td.flatten() {
                let Ok(tid) = t.file_name().to_string_lossy().parse::<i32>() else {
                    continue;
                };
                if let Ok(ts) = std::fs::read_to_string(format!("/proc/{pid}/task/{tid}/stat")) {
                    if let Some(c) = ts
                        .rsplit_once(')')
                        .and_then(|r| r.1.split_whitespace().next())
                        .and_then(|s| s.chars().next())
                    {
                        tasks.push((tid, c));
                    }
                }
            }
        }
        out.push((pid, pgrp, tasks, comm));
    }
    out
}

struct Parent {
    sh: &'static Shared,
    ctxs: [Ctx; 2],
    socks: [RawFd; 2],
    uid: u32,
    seed: u64,
    procs: usize,
    flip_cases: Vec<u32>,
    weights: Vec<u32>,
    rng: Rng,
    stopping: bool,
    // counts
    spawned: u64,
    exits: u64,
    signalled: u64,
    chaos_kills: u64,
    cap_checks: u64,
    quiescent: u64,
    quiescent_flip: u64,
    settle_max_ms: u64,
    final_checks: u64,
    rounds: u64,
}

impl Parent {
    fn violation(&self, ctx: usize, msg: &str) {
        let flips: Vec<&str> = (0..self.procs)
            .filter_map(|slot| match self.sh.flip_case[ctx][slot].load(Relaxed) {
                0 => None,
                c => CASES.get(c as usize - 1).copied(),
            })
            .collect();
        eprintln!(
            "  context {}: audit checks {} divergences {}; flip children running: {flips:?}",
            self.ctxs[ctx].name,
            self.ctxs[ctx].audit("checks"),
            self.ctxs[ctx].audit("divergences")
        );
        self.diagnose(ctx);
        self.sh.violation(&format!(
            "ctx={} ({}): {msg}",
            ["A", "B"][ctx],
            self.ctxs[ctx].name
        ));
        for slot in 0..self.procs {
            eprintln!(
                "  last calls of ctx {} slot {slot}: {}",
                ["A", "B"][ctx],
                self.sh.dump_ring(ctx, slot)
            );
        }
    }

    /// What the vendor attributes to each of the context's processes
    /// (GPU_GET_PID_INFO, asked directly of nvsim from a forked helper, so
    /// that no vendor file is ever in the parent's table when it forks a
    /// worker), and their GPU files and mappings.
    fn diagnose(&self, ctx: usize) {
        let pids: Vec<i32> = processes()
            .into_iter()
            .filter(|p| self.ctxs[ctx].pgids.contains(&p.1))
            .map(|p| p.0)
            .collect();
        let gpu = self.ctxs[ctx].gpu;
        // SAFETY: the parent is single-threaded; the child leaves by _exit.
        let pid = unsafe { libc::fork() };
        if pid == 0 {
            let mut sum = (0u64, 0u64, 0u64);
            match nvrm::Session::open("/dev", gpu) {
                Ok(s) => {
                    for &p in &pids {
                        if let Ok((st, Some(e))) = s.ctl.pid_info(s.client, s.subdevice, p as u32) {
                            if e.mem_private + e.mem_shared_owned + e.mem_shared_duped > 0 {
                                eprintln!(
                                    "  vendor count of pid {p}: status {st}, private {} owned {} duped {}",
                                    e.mem_private, e.mem_shared_owned, e.mem_shared_duped
                                );
                            }
                            sum.0 += e.mem_private;
                            sum.1 += e.mem_shared_owned;
                            sum.2 += e.mem_shared_duped;
                        }
                    }
                    eprintln!(
                        "  vendor count over the {} tenant processes: private {} owned {} duped {}",
                        pids.len(),
                        sum.0,
                        sum.1,
                        sum.2
                    );
                }
                Err(e) => eprintln!("  no session on /dev/nvidia{gpu}: {e}"),
            }
            for &p in &pids {
                let comm = read(&format!("/proc/{p}/comm")).unwrap_or_default();
                let maps: Vec<String> = read(&format!("/proc/{p}/maps"))
                    .unwrap_or_default()
                    .lines()
                    .filter(|l| l.contains("/dev/"))
                    .map(|l| {
                        l.split_whitespace()
                            .take(1)
                            .chain(l.split_whitespace().skip(5))
                            .collect::<Vec<_>>()
                            .join(" ")
                    })
                    .collect();
                let fds: Vec<String> = std::fs::read_dir(format!("/proc/{p}/fd"))
                    .map(|d| {
                        d.flatten()
                            .filter_map(|e| {
                                let t = std::fs::read_link(e.path()).ok()?;
                                let t = t.to_string_lossy().to_string();
                                t.starts_with("/dev/")
                                    .then(|| format!("{}:{t}", e.file_name().to_string_lossy()))
                            })
                            .collect()
                    })
                    .unwrap_or_default();
                eprintln!(
                    "  pid {p} ({}): fds {fds:?}; mappings {maps:?}",
                    comm.trim()
                );
            }
            if let Ok(m) = read("/sys/kernel/debug/nvsim/mem") {
                eprintln!("  nvsim mem: {}", m.replace('\n', ", "));
            }
            // SAFETY: leaves the helper.
            unsafe { libc::_exit(0) };
        }
        if pid > 0 {
            let mut st = 0;
            // SAFETY: waits for the helper just forked.
            unsafe { libc::waitpid(pid, &mut st, 0) };
        }
    }

    fn spawn(&mut self, ctx: usize, slot: usize) {
        let gen = self.ctxs[ctx].generation[slot];
        self.ctxs[ctx].generation[slot] += 1;
        let seed = splitmix(self.seed ^ ((ctx as u64) << 48) ^ ((slot as u64) << 40) ^ gen);
        for k in &self.sh.foreign[ctx][slot] {
            k.store(0, Relaxed);
        }
        self.sh.flip_case[ctx][slot].store(0, Relaxed);
        // SAFETY: the parent is single-threaded; the child runs worker_main
        // and leaves by _exit.
        let pid = unsafe { libc::fork() };
        if pid == 0 {
            // SAFETY: plain system calls on this process.
            unsafe {
                libc::setpgid(0, 0);
                libc::close(self.socks[1 - ctx]);
            }
            let w = Worker {
                sh: self.sh,
                ctx,
                slot,
                dir: self.ctxs[ctx].dir.clone(),
                cap: self.ctxs[ctx].cap,
                rng: Rng(seed | 1),
                next_id: 0,
                ctls: Vec::new(),
                gpus: Vec::new(),
                maps: Vec::new(),
                exports: Vec::new(),
                uvms: Vec::new(),
                sock: self.socks[ctx],
                uuid: None,
                child: false,
                flip_cases: self.flip_cases.clone(),
                weights: self.weights.clone(),
            };
            worker_main(w, self.uid);
        }
        if pid < 0 {
            eprintln!("chaos: fork failed");
            return;
        }
        // SAFETY: our child (also done by the child: whichever runs first).
        unsafe { libc::setpgid(pid, pid) };
        self.ctxs[ctx].workers[slot] = Some(pid);
        self.ctxs[ctx].pgids.push(pid);
        self.spawned += 1;
    }

    fn signal(&self, ctx: Option<usize>, sig: i32) {
        for (i, c) in self.ctxs.iter().enumerate() {
            if ctx.is_some_and(|x| x != i) {
                continue;
            }
            for &pg in &c.pgids {
                // SAFETY: a process group we made.
                unsafe { libc::kill(-pg, sig) };
            }
        }
    }

    /// Reaps every child that ended; respawns workers unless stopping.
    fn reap(&mut self, respawn: bool) {
        loop {
            let mut st = 0;
            // SAFETY: reaps any child (we are the subreaper of the workers' children).
            let pid = unsafe { libc::waitpid(-1, &mut st, libc::WNOHANG) };
            if pid <= 0 {
                break;
            }
            for ctx in 0..2 {
                if let Some(slot) = self.ctxs[ctx].workers.iter().position(|w| *w == Some(pid)) {
                    self.ctxs[ctx].workers[slot] = None;
                    if libc::WIFSIGNALED(st) {
                        self.signalled += 1;
                    } else {
                        self.exits += 1;
                    }
                    if respawn && !self.stopping {
                        self.spawn(ctx, slot);
                    }
                }
            }
        }
    }

    /// Members of our process groups: (ctx, pid, tasks, comm).
    fn members(&mut self) -> Vec<Member> {
        let procs = processes();
        let mut out = Vec::new();
        for ctx in 0..2 {
            let mut live = Vec::new();
            for &pg in &self.ctxs[ctx].pgids {
                let m: Vec<_> = procs.iter().filter(|p| p.1 == pg).collect();
                if !m.is_empty() {
                    live.push(pg);
                }
                for p in m {
                    out.push((ctx, p.0, p.2.clone(), p.3.clone()));
                }
            }
            self.ctxs[ctx].pgids = live;
        }
        out
    }

    /// Stops every tenant process and waits until no task of theirs is in
    /// the kernel; returns per context whether a flip child is alive.
    fn pause(&mut self) -> [bool; 2] {
        let t0 = Instant::now();
        let mut reported = false;
        loop {
            self.signal(None, libc::SIGSTOP);
            let m = self.members();
            let running: Vec<_> = m
                .iter()
                .flat_map(|(c, pid, tasks, comm)| {
                    tasks
                        .iter()
                        .filter(|t| !matches!(t.1, 'T' | 't' | 'Z' | 'X'))
                        .map(move |t| (*c, *pid, t.0, t.1, comm.clone()))
                })
                .collect();
            if running.is_empty() {
                let mut flip = [false; 2];
                for (c, _, tasks, comm) in &m {
                    if comm == "chaos-flip" && tasks.iter().any(|t| t.1 != 'Z' && t.1 != 'X') {
                        flip[*c] = true;
                    }
                }
                return flip;
            }
            if t0.elapsed() > Duration::from_secs(30) && !reported {
                reported = true;
                for (c, pid, tid, state, comm) in &running {
                    let wchan = read(&format!("/proc/{pid}/task/{tid}/wchan")).unwrap_or_default();
                    let stack = read(&format!("/proc/{pid}/task/{tid}/stack")).unwrap_or_default();
                    self.violation(
                        *c,
                        &format!(
                            "task {tid} of {pid} ({comm}) still in state {state} 30 s after SIGSTOP: wchan {wchan}; stack:\n{stack}"
                        ),
                    );
                }
            }
            if t0.elapsed() > Duration::from_secs(120) {
                return [true; 2];
            }
            self.reap(false);
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    fn drain(&self) {
        for &s in &self.socks {
            while let Some(fd) = recv_fd(s) {
                // SAFETY: the fd just received.
                unsafe { libc::close(fd) };
            }
        }
    }

    /// Waits up to `secs` for `ok(ledger, heap − base)`; returns the last
    /// pair and whether it held, and the time it took.
    fn settle(
        &self,
        ctx: usize,
        secs: u64,
        ok: impl Fn(u64, u64) -> bool,
    ) -> (u64, u64, bool, u64) {
        let c = &self.ctxs[ctx];
        let t0 = Instant::now();
        loop {
            let ledger = c.ledger();
            let heap = c.heap().wrapping_sub(c.base);
            if ok(ledger, heap) {
                return (ledger, heap, true, t0.elapsed().as_millis() as u64);
            }
            if t0.elapsed() > Duration::from_secs(secs) {
                return (ledger, heap, false, t0.elapsed().as_millis() as u64);
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    fn sample(&mut self) {
        for ctx in 0..2 {
            let c = &self.ctxs[ctx];
            let ledger = c.ledger();
            self.cap_checks += 1;
            if ledger > c.cap {
                let cap = c.cap;
                self.violation(ctx, &format!("ledger {ledger} B past the cap {cap} B"));
            }
            if self.ctxs[ctx].audit("compromised") != 0 {
                self.recreate(ctx);
            }
        }
    }

    /// The audit killed the context's tenants: check that a flip was why,
    /// that nothing is left once they are gone, and make it again.
    fn recreate(&mut self, ctx: usize) {
        let flips = self.sh.flips[ctx].swap(0, Relaxed);
        let (div, checks) = (
            self.ctxs[ctx].audit("divergences"),
            self.ctxs[ctx].audit("checks"),
        );
        self.ctxs[ctx].compromised += 1;
        println!(
            "chaos: context {} compromised (audit checks {checks}, divergences {div}; {flips} flip children since it was made): recreating it",
            self.ctxs[ctx].name
        );
        if flips == 0 {
            self.violation(ctx, "compromised, but no flip child ran since the context was made (a fair tenant killed)");
        }
        let t0 = Instant::now();
        loop {
            self.signal(Some(ctx), libc::SIGKILL);
            self.reap(false);
            if self.members().iter().all(|m| m.0 != ctx) {
                break;
            }
            if t0.elapsed() > Duration::from_secs(60) {
                self.violation(ctx, "its processes did not die within 60 s of SIGKILL");
                break;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        self.drain();
        let (ledger, heap, ok, _) = self.settle(ctx, 30, |l, h| l == 0 && h == 0);
        self.final_checks += 1;
        if !ok {
            self.violation(
                ctx,
                &format!("after the compromised context's processes died: ledger {ledger} B, heap {heap} B above baseline (want 0, 0)"),
            );
        }
        let c = &self.ctxs[ctx];
        let spec = format!("{} gpus={} mem={}", c.name, c.gpu, c.cap);
        let _ = std::fs::write("/sys/kernel/fakegpu/destroy", &c.name);
        if let Err(e) = std::fs::write("/sys/kernel/fakegpu/create", &spec) {
            self.violation(
                ctx,
                &format!("cannot create the context again ({spec}): {e}"),
            );
        }
        let c = &mut self.ctxs[ctx];
        c.base = c.heap();
        // The nodes appear with the context (devtmpfs); give them a moment.
        let t0 = Instant::now();
        while !std::path::Path::new(&format!("{}/nvidiactl", c.dir)).exists()
            && t0.elapsed() < Duration::from_secs(10)
        {
            std::thread::sleep(Duration::from_millis(10));
        }
        if !self.stopping {
            for slot in 0..self.procs {
                if self.ctxs[ctx].workers[slot].is_none() {
                    self.spawn(ctx, slot);
                }
            }
        }
    }

    fn check_quiescent(&mut self, ctx: usize, flip_live: bool) {
        let (ledger, heap, ok, ms) = if flip_live {
            self.settle(ctx, 20, |l, h| h <= l)
        } else {
            self.settle(ctx, 20, |l, h| h == l)
        };
        if flip_live {
            self.quiescent_flip += 1;
        } else {
            self.quiescent += 1;
        }
        self.settle_max_ms = self.settle_max_ms.max(ms);
        if !ok {
            let rel = if flip_live { "<=" } else { "==" };
            self.violation(
                ctx,
                &format!("quiescent: ledger {ledger} B, nvsim heap {heap} B above baseline (want heap {rel} ledger) after 20 s"),
            );
        }
        let cap = self.ctxs[ctx].cap;
        if ledger > cap {
            self.violation(
                ctx,
                &format!("quiescent: ledger {ledger} B past the cap {cap} B"),
            );
        }
    }

    fn run(&mut self, secs: u64, round_ms: u64) {
        for ctx in 0..2 {
            for slot in 0..self.procs {
                self.spawn(ctx, slot);
            }
        }
        let end = Instant::now() + Duration::from_secs(secs);
        while Instant::now() < end {
            self.rounds += 1;
            let round_end = Instant::now() + Duration::from_millis(round_ms);
            let kill_at = (self.rng.below(2) == 0)
                .then(|| Instant::now() + Duration::from_millis(self.rng.below(round_ms)));
            let mut killed = false;
            while Instant::now() < round_end {
                self.reap(true);
                self.sample();
                if let Some(t) = kill_at {
                    if !killed && Instant::now() >= t {
                        killed = true;
                        let ctx = self.rng.below(2) as usize;
                        let slot = self.rng.below(self.procs as u64) as usize;
                        if let Some(pid) = self.ctxs[ctx].workers[slot] {
                            // SAFETY: a process group we made.
                            unsafe { libc::kill(-pid, libc::SIGKILL) };
                            self.chaos_kills += 1;
                        }
                    }
                }
                std::thread::sleep(Duration::from_millis(25));
            }
            let flip = self.pause();
            self.drain();
            for (ctx, live) in flip.into_iter().enumerate() {
                if self.ctxs[ctx].audit("compromised") != 0 {
                    self.recreate(ctx);
                } else {
                    self.check_quiescent(ctx, live);
                }
            }
            self.signal(None, libc::SIGCONT);
        }
        self.stopping = true;
        self.sh.stop.store(1, Relaxed);
        self.signal(None, libc::SIGCONT);
        let t0 = Instant::now();
        loop {
            self.reap(false);
            if self.members().is_empty() {
                break;
            }
            if t0.elapsed() > Duration::from_secs(60) {
                self.signal(None, libc::SIGKILL);
            }
            if t0.elapsed() > Duration::from_secs(180) {
                self.violation(0, "tenant processes still alive 180 s after the end");
                break;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        self.drain();
        for ctx in 0..2 {
            if self.ctxs[ctx].audit("compromised") != 0 {
                self.recreate(ctx);
                continue;
            }
            let (ledger, heap, ok, _) = self.settle(ctx, 30, |l, h| l == 0 && h == 0);
            self.final_checks += 1;
            if !ok {
                self.violation(
                    ctx,
                    &format!("after every process exited: ledger {ledger} B, heap {heap} B above baseline (want 0, 0)"),
                );
            }
        }
    }

    fn report(&self) {
        println!(
            "chaos: seed={} procs={} uid={} rounds={}",
            self.seed, self.procs, self.uid, self.rounds
        );
        for (ctx, c) in self.ctxs.iter().enumerate() {
            for &(op, name, _) in OPS {
                let r = self.sh.count(ctx, op);
                if r.is_empty() {
                    continue;
                }
                let parts: Vec<String> = r
                    .iter()
                    .map(|(k, n)| {
                        let name = if op == Op::Flip && (100..106).contains(k) {
                            format!("done_{}", CASES[(k - 100) as usize])
                        } else if k & ERRNO != 0 && (k & 0xffff_ffff) >= 2000 {
                            format!("exit_{}", (k & 0xffff_ffff) - 2000)
                        } else if k & ERRNO != 0 && (k & 0xffff_ffff) >= 1000 {
                            format!("signal_{}", (k & 0xffff_ffff) - 1000)
                        } else {
                            key_name(*k)
                        };
                        format!("{name}={n}")
                    })
                    .collect();
                println!(
                    "chaos ctx={} name={} kind={name} {}",
                    ["A", "B"][ctx],
                    c.name,
                    parts.join(" ")
                );
            }
        }
        for &(op, name, _) in OPS {
            let (mut total, mut ok) = (0, 0);
            for ctx in 0..2 {
                for (k, n) in self.sh.count(ctx, op) {
                    total += n;
                    if k == OK || (op == Op::Flip && (100..106).contains(&k)) {
                        ok += n;
                    }
                }
            }
            println!("chaos kind={name} total={total} ok={ok}");
        }
        let audit = |c: &Ctx| format!("{}/{}", c.audit("checks"), c.audit("divergences"));
        println!(
            "chaos checks cap={} quiescent={} quiescent_flip={} settle_max_ms={} final={} audit_checks/divergences A={} B={}",
            self.cap_checks,
            self.quiescent,
            self.quiescent_flip,
            self.settle_max_ms,
            self.final_checks,
            audit(&self.ctxs[0]),
            audit(&self.ctxs[1])
        );
        println!(
            "chaos events workers={} exits={} signalled={} chaos_kills={} compromised={} compromised_A={} compromised_B={}",
            self.spawned,
            self.exits,
            self.signalled,
            self.chaos_kills,
            self.ctxs[0].compromised + self.ctxs[1].compromised,
            self.ctxs[0].compromised,
            self.ctxs[1].compromised
        );
        let kinds: Vec<String> = VIOLATIONS
            .iter()
            .zip(&self.sh.vkinds)
            .map(|((name, _), n)| format!("{name}={}", n.load(Relaxed)))
            .collect();
        println!("chaos violation_kinds {}", kinds.join(" "));
        println!("chaos violations={}", self.sh.violations.load(Relaxed));
    }
}

fn splitmix(mut x: u64) -> u64 {
    x = x.wrapping_add(0x9e37_79b9_7f4a_7c15);
    x = (x ^ (x >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    x ^ (x >> 31)
}

fn context(dir: &str) -> Result<Ctx, String> {
    let name = dir
        .trim_end_matches('/')
        .rsplit('/')
        .next()
        .unwrap_or(dir)
        .to_string();
    let sys = format!("/sys/kernel/fakegpu/contexts/{name}");
    let gpus = read(&format!("{sys}/gpus"))?;
    let gpu: u32 = gpus
        .trim()
        .split(',')
        .next()
        .and_then(|g| g.parse().ok())
        .ok_or(format!("{sys}/gpus: {gpus}"))?;
    if gpus.trim().contains(',') {
        return Err(format!(
            "context {name} has several GPUs ({}): give it one",
            gpus.trim()
        ));
    }
    let cap = read_u64(&format!("{sys}/mem_limit_bytes"))?;
    Ok(Ctx {
        name,
        dir: dir.to_string(),
        gpu,
        cap,
        base: heap_used(gpu)?,
        workers: Vec::new(),
        generation: Vec::new(),
        pgids: Vec::new(),
        compromised: 0,
    })
}

/// `fgtest chaos DIR_A DIR_B SECS SEED [PROCS] [--uid UID] [--round-ms MS] [--flips all|none|CASE,...] [--ops [-]KIND,...]`.
pub fn main(args: &[&str]) -> Result<(), String> {
    let mut pos = Vec::new();
    let (mut uid, mut round_ms) = (65534u32, 2000u64);
    let mut flip_cases: Vec<u32> = (0..CASES.len() as u32).collect();
    let mut weights: Vec<u32> = OPS.iter().map(|o| o.2).collect();
    let mut it = args.iter();
    while let Some(a) = it.next() {
        match *a {
            "--uid" => uid = it.next().and_then(|v| v.parse().ok()).ok_or("--uid UID")?,
            "--flips" => {
                let v = it.next().ok_or("--flips all|none|CASE,CASE...")?;
                flip_cases = match *v {
                    "all" => (0..CASES.len() as u32).collect(),
                    "none" => Vec::new(),
                    v => v
                        .split(',')
                        .map(|c| {
                            CASES
                                .iter()
                                .position(|x| *x == c)
                                .map(|i| i as u32)
                                .ok_or(format!("--flips: no case {c} (cases: {})", CASES.join(",")))
                        })
                        .collect::<Result<_, _>>()?,
                };
            }
            "--ops" => {
                let v = it.next().ok_or("--ops [-]KIND,KIND...")?;
                // A leading '-': every kind but those named.
                let (but, v) = match v.strip_prefix('-') {
                    Some(rest) => (true, rest),
                    None => (false, *v),
                };
                let names: Vec<&str> = if v == "all" {
                    OPS.iter().map(|o| o.1).collect()
                } else {
                    v.split(',').collect()
                };
                if let Some(bad) = names.iter().find(|n| !OPS.iter().any(|o| o.1 == **n)) {
                    return Err(format!("--ops: no kind {bad}"));
                }
                weights = OPS
                    .iter()
                    .map(|o| match (names.contains(&o.1), but) {
                        (true, false) => o.2.max(1),
                        (false, true) => o.2,
                        _ => 0,
                    })
                    .collect();
            }
            "--round-ms" => {
                round_ms = it
                    .next()
                    .and_then(|v| v.parse().ok())
                    .ok_or("--round-ms MS")?
            }
            _ => pos.push(*a),
        }
    }
    let [dir_a, dir_b, secs, seed, rest @ ..] = pos.as_slice() else {
        return Err(
            "usage: fgtest chaos DIR_A DIR_B SECS SEED [PROCS] [--uid UID] [--round-ms MS] [--flips all|none|CASE,...] [--ops [-]KIND,...]".into(),
        );
    };
    let secs: u64 = secs.parse().map_err(|_| "SECS is a number")?;
    let seed: u64 = seed.parse().map_err(|_| "SEED is a number")?;
    let procs: usize = match rest.first() {
        Some(p) => p.parse().map_err(|_| "PROCS is a number")?,
        None => 3,
    };
    if procs == 0 || procs > MAX_PROCS {
        return Err(format!("PROCS: 1..{MAX_PROCS}"));
    }
    let mut ctxs = [context(dir_a)?, context(dir_b)?];
    if ctxs[0].gpu == ctxs[1].gpu {
        return Err(
            "the two contexts must be on different GPUs (ledger == heap is per GPU)".into(),
        );
    }
    for c in ctxs.iter_mut() {
        c.workers = vec![None; procs];
        c.generation = vec![0; procs];
    }
    let mut sp = [0 as RawFd; 2];
    // SAFETY: `sp` has room for two fds.
    if unsafe {
        libc::socketpair(
            libc::AF_UNIX,
            libc::SOCK_DGRAM | libc::SOCK_CLOEXEC | libc::SOCK_NONBLOCK,
            0,
            sp.as_mut_ptr(),
        )
    } != 0
    {
        return Err("socketpair failed".into());
    }
    // Orphaned children of workers come to us, to be reaped.
    // SAFETY: plain prctl on this process.
    unsafe { libc::prctl(libc::PR_SET_CHILD_SUBREAPER, 1) };
    let mut p = Parent {
        sh: shared()?,
        ctxs,
        socks: sp,
        uid,
        seed,
        procs,
        flip_cases,
        weights,
        rng: Rng(splitmix(seed) | 1),
        stopping: false,
        spawned: 0,
        exits: 0,
        signalled: 0,
        chaos_kills: 0,
        cap_checks: 0,
        quiescent: 0,
        quiescent_flip: 0,
        settle_max_ms: 0,
        final_checks: 0,
        rounds: 0,
    };
    println!(
        "chaos: {} (GPU {}, cap {} B, heap base {} B) and {} (GPU {}, cap {} B, heap base {} B), {procs} workers each as uid {uid}, {secs} s, seed {seed}",
        p.ctxs[0].name,
        p.ctxs[0].gpu,
        p.ctxs[0].cap,
        p.ctxs[0].base,
        p.ctxs[1].name,
        p.ctxs[1].gpu,
        p.ctxs[1].cap,
        p.ctxs[1].base
    );
    use std::io::Write;
    let _ = std::io::stdout().flush();
    p.run(secs, round_ms);
    p.report();
    // SAFETY: our sockets.
    unsafe {
        libc::close(sp[0]);
        libc::close(sp[1]);
    }
    match p.sh.violations.load(Relaxed) {
        0 => Ok(()),
        n => Err(format!("{n} invariant violations")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn op_table_in_order() {
        for (i, o) in OPS.iter().enumerate() {
            assert_eq!(o.0 as usize, i, "{}", o.1);
        }
    }

    #[test]
    fn result_names() {
        assert_eq!(key_name(OK), "NV_OK");
        assert_eq!(key_name(st_key(nvrm::Status(0x51))), "NV_ERR_NO_MEMORY");
        assert_eq!(key_name(ERRNO | 5), "errno_5");
    }

    #[test]
    fn subtree() {
        let mut c = Client {
            h: 1,
            objs: vec![
                Obj {
                    h: 2,
                    parent: 1,
                    kind: K::Device,
                    size: 0,
                },
                Obj {
                    h: 3,
                    parent: 2,
                    kind: K::Subdevice,
                    size: 0,
                },
                Obj {
                    h: 4,
                    parent: 3,
                    kind: K::Usermode,
                    size: 0,
                },
                Obj {
                    h: 5,
                    parent: 1,
                    kind: K::Device,
                    size: 0,
                },
            ],
        };
        c.drop_subtree(2);
        assert_eq!(c.objs.iter().map(|o| o.h).collect::<Vec<_>>(), vec![5]);
    }
}
