//! `fgtest flip DIR CASE SECS HOLD`: the double-fetch attack (issue 16 §1).
//!
//! One thread makes calls whose verdict depends on their parameters; a
//! second thread of the same process rewrites one field of the very block
//! the first one passes, in a tight loop, for the whole run. A proxy that
//! checks its own copy and then lets the vendor read the caller's memory
//! again decides on one value while the vendor acts on the other. CASE:
//!
//! - `class`: RM_ALLOC (NVOS64) of 1 MiB, `hClass` flipped between
//!   NV01_MEMORY_SYSTEM (0x3e, charged nothing) and NV01_MEMORY_LOCAL_USER
//!   (0x40, video memory);
//! - `size`: RM_ALLOC of video memory, the nested `size` flipped between
//!   1 MiB and 64 MiB (also after the call, where a proxy reading the size
//!   back would settle on what the tenant wrote);
//! - `pointer`: RM_ALLOC of video memory, the outer `pAllocParms` flipped
//!   between a 1 MiB and a 64 MiB parameter block;
//! - `free`: each round allocates a 1 MiB and a 16 MiB block and frees one
//!   of them (RM_FREE) with `hObjectOld` flipped between the two, then
//!   frees whatever is left;
//! - `status`: RM_ALLOC of 1 MiB of video memory, the outer `status`
//!   rewritten to NV_ERR_GENERIC in a loop, so a proxy that reads the
//!   vendor's answer back from the caller's memory sees a failure where
//!   the vendor allocated (the object is held all the same);
//! - `dup`: RM_DUP_OBJECT of the object named by `FLIP_SRC=CLIENT:HANDLE`
//!   (another context's shared memory) into this process's client, with
//!   `hClientSrc` flipped between this process's own client (which passes
//!   the proxy's check, and holds no object of that handle) and the other
//!   context's. Every NV_OK is a dup of another context's memory; each
//!   is freed again and counted as "foreign dups";
//! - `disable`: FIFO_DISABLE_CHANNELS (bDisable 1) of the channel named by
//!   `FLIP_SRC=CLIENT:CHANNEL` (another context's), on this process's own
//!   subdevice, with `hClientList[0]` flipped between this process's own
//!   client (which passes the proxy's check, and has no such channel) and
//!   the other context's. The test reads nvsim's channel table: that
//!   channel must never be disabled;
//! - `mapmem`: RM_MAP_MEMORY onto a fresh GPU file, `hMemory` flipped
//!   between 64 KiB of video memory and the subdevice's usermode
//!   (doorbell) object, then an mmap of that file. A proxy that decides
//!   from its own read of `hMemory` whether the file maps a doorbell
//!   leaves the doorbell ungated whenever it read the memory and the
//!   vendor the usermode object. The tool counts the mappings the vendor
//!   made as PFN mappings (a register window: the doorbell) and how many of
//!   those the proxy did not gate (no VM_DONTCOPY, `dc`, in smaps);
//! - `meminfo`: not a rewrite but a read: one thread calls FB_GET_INFO_V2
//!   (RAM_SIZE) on its subdevice in a loop while a second reads the
//!   reply's data word in a loop; it prints the largest value it saw, in
//!   KiB. A proxy that lets the vendor write the card's own size into the
//!   tenant's memory and rewrites it afterwards shows it to the second
//!   thread in between;
//! - `gpuids`: GPU_GET_ATTACHED_IDS on the client in a loop while a second
//!   thread reads the reply's second id: the context has one GPU, so any
//!   valid id there is another GPU of the host (nvsim has two), which a
//!   proxy that filters the list after the vendor wrote it shows in
//!   between; it prints how many such reads it saw;
//! - `heapinfo`: the same through VID_HEAP_CONTROL's NVOS32_FUNCTION_INFO,
//!   whose `total` is in the ioctl block itself; the largest `total` seen,
//!   in KiB;
//! - `meminfo1`: the same through FB_GET_INFO (v1), whose one-entry list
//!   is at a pointer in the parameters (the RM's deprecated layer runs it
//!   as FB_GET_INFO_V2 and copies the list back).
//!
//! The allocations are kept (`class`, `size`, `pointer`) until the run
//! ends, so the cap is reached and every later call is decided at the cap.
//! After SECS the tool prints what it got and holds everything for HOLD
//! seconds (or until the file HOLD exists), in which the test compares the
//! context's ledger with nvsim's heap; then it exits, which frees everything.

use std::os::fd::AsRawFd;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed};
use std::sync::Arc;
use std::time::{Duration, Instant};

use fakegpu_core::nvabi::{
    class::{NV01_DEVICE_0, NV01_MEMORY_LOCAL_USER, NV01_MEMORY_SYSTEM},
    ctrl::{
        NV2080_CTRL_CMD_FB_GET_INFO, NV2080_CTRL_CMD_FB_GET_INFO_V2,
        NV2080_CTRL_CMD_FIFO_DISABLE_CHANNELS, NV2080_CTRL_FB_INFO_INDEX_RAM_SIZE,
    },
    escape::{nv_iowr, NV_ESC_RM_ALLOC, NV_ESC_RM_CONTROL, NV_ESC_RM_DUP_OBJECT, NV_ESC_RM_FREE},
    status::{NV_ERR_NO_MEMORY, NV_OK},
};

const MIB: u64 = 1 << 20;

/// A parameter block both threads share: 8-byte words, read and written
/// atomically (the kernel reads the bytes whatever the flipper does).
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
}

// NVOS64_PARAMETERS (48 bytes) and NVOS00_PARAMETERS (16 bytes) offsets.
const A_ROOT: usize = 0;
const A_PARENT: usize = 4;
const A_NEW: usize = 8;
const A_CLASS: usize = 12;
const A_PARAMS: usize = 16;
const A_SIZE: usize = 32;
// NVOS64_PARAMETERS' status (offset 40; 44 is padding).
const A_STATUS: usize = 40;
const F_ROOT: usize = 0;
const F_PARENT: usize = 4;
const F_OLD: usize = 8;
const F_STATUS: usize = 12;
// NVOS55_PARAMETERS (28 bytes).
const D_CLIENT: usize = 0;
const D_PARENT: usize = 4;
const D_OBJECT: usize = 8;
const D_CLIENT_SRC: usize = 12;
const D_OBJECT_SRC: usize = 16;
const D_STATUS: usize = 24;
// NVOS54_PARAMETERS (32 bytes) and NV2080_CTRL_FIFO_DISABLE_CHANNELS_PARAMS (536).
const C_CLIENT: usize = 0;
const C_OBJECT: usize = 4;
const C_CMD: usize = 8;
const C_PARAMS: usize = 16;
const C_SIZE: usize = 24;
const C_STATUS: usize = 28;
const X_DISABLE: usize = 0;
const X_NUM: usize = 4;
const X_CLIENTS: usize = 24;
const X_CHANNELS: usize = 280;
// NV_MEMORY_ALLOCATION_PARAMS (128 bytes).
const M_OWNER: usize = 0;
const M_SIZE: usize = 64;
const M_NUMA: usize = 120;

fn ioctl(fd: i32, nr: u32, b: &Block, len: u32) -> bool {
    // SAFETY: `b` is valid for at least `len` bytes of reads and writes.
    unsafe { libc::ioctl(fd, nv_iowr(nr, len) as _, b.addr() as *mut libc::c_void) == 0 }
}

/// Fills `outer` as an NVOS64 RM_ALLOC of `class` under `parent` of
/// client `root`, with `size` bytes of parameters at `params`, handle
/// chosen by the RM.
fn alloc_block(outer: &Block, root: u32, parent: u32, class: u32, params: &Block, size: u32) {
    outer.clear();
    outer.set32(A_ROOT, root);
    outer.set32(A_PARENT, parent);
    outer.set32(A_NEW, 0);
    outer.set32(A_CLASS, class);
    outer.set64(A_PARAMS, params.addr());
    outer.set32(A_SIZE, size);
}

/// Fills `outer` as an NVOS54 RM_CONTROL `cmd` of `object` in client
/// `client`, with `size` bytes of parameters at `params`.
fn control_block(outer: &Block, client: u32, object: u32, cmd: u32, params: &Block, size: u32) {
    outer.clear();
    outer.set32(C_CLIENT, client);
    outer.set32(C_OBJECT, object);
    outer.set32(C_CMD, cmd);
    outer.set64(C_PARAMS, params.addr());
    outer.set32(C_SIZE, size);
}

fn memory_params(size: u64) -> Block {
    let m = Block::new(128);
    m.set32(M_OWNER, nvrm::OWNER);
    m.set64(M_SIZE, size);
    m.set32(M_NUMA, u32::MAX); // numaNode -1
    m
}

#[derive(Default)]
struct Tally {
    calls: u64,
    ok: u64,
    refused: u64,
    other: u64,
}

/// A second thread that reads a reply word in a loop until `stop`: each
/// value `read` returns is folded into the result by `fold` (the largest,
/// or a count). Joined, it gives (result, reads).
fn spy(
    stop: &Arc<AtomicBool>,
    read: impl Fn() -> u64 + Send + 'static,
    fold: fn(u64, u64) -> u64,
) -> std::thread::JoinHandle<(u64, u64)> {
    let stop = stop.clone();
    std::thread::spawn(move || {
        let (mut acc, mut reads) = (0u64, 0u64);
        while !stop.load(Relaxed) {
            acc = fold(acc, read());
            reads += 1;
        }
        (acc, reads)
    })
}

/// The `meminfo` and `meminfo1` cases: the largest RAM_SIZE (KiB) a
/// second thread saw, through FB_GET_INFO_V2 or (`v1`) FB_GET_INFO, whose
/// list is at a pointer in its parameters.
fn meminfo(s: &nvrm::Session, secs: u64, v1: bool) -> Result<(), String> {
    let fd = s.ctl.as_raw_fd();
    let outer = Block::new(32);
    let params = Arc::new(Block::new(1028));
    // v1: the list (one NV2080_CTRL_FB_INFO) the parameters point at.
    let list = Arc::new(Block::new(8));
    // Where the answer's data word is.
    let (answer, at) = if v1 {
        (list.clone(), 4)
    } else {
        (params.clone(), 8)
    };
    let stop = Arc::new(AtomicBool::new(false));
    let spy = {
        let answer = answer.clone();
        spy(&stop, move || answer.get32(at).into(), u64::max)
    };
    let (cmd, size) = if v1 {
        (NV2080_CTRL_CMD_FB_GET_INFO, 16)
    } else {
        (NV2080_CTRL_CMD_FB_GET_INFO_V2, 1028)
    };
    let (mut calls, mut ok, mut last) = (0u64, 0u64, 0u32);
    let end = Instant::now() + Duration::from_secs(secs);
    while Instant::now() < end {
        params.clear();
        list.clear();
        params.set32(0, 1);
        if v1 {
            params.set64(8, list.addr());
            list.set32(0, NV2080_CTRL_FB_INFO_INDEX_RAM_SIZE);
        } else {
            params.set32(4, NV2080_CTRL_FB_INFO_INDEX_RAM_SIZE);
        }
        control_block(&outer, s.client, s.subdevice, cmd, &params, size);
        calls += 1;
        if ioctl(fd, NV_ESC_RM_CONTROL, &outer, 32) && outer.get32(C_STATUS) == NV_OK {
            ok += 1;
            last = answer.get32(at);
        }
    }
    stop.store(true, Relaxed);
    let (max, reads) = spy.join().map_err(|_| "spy thread panicked")?;
    let case = if v1 { "meminfo1" } else { "meminfo" };
    println!(
        "flip {case}: {calls} calls, {ok} NV_OK, answer {last} KiB; {reads} reads, largest seen {max} KiB"
    );
    if calls == 0 || ok == 0 {
        return Err(format!(
            "no {} answered",
            if v1 { "FB_GET_INFO" } else { "FB_GET_INFO_V2" }
        ));
    }
    Ok(())
}

/// The `heapinfo` case (see the module's comment).
fn heapinfo(s: &nvrm::Session, secs: u64) -> Result<(), String> {
    use fakegpu_core::nvabi::{escape::NV_ESC_RM_VID_HEAP_CONTROL, rm::NVOS32_FUNCTION_INFO};
    let fd = s.ctl.as_raw_fd();
    // NVOS32_PARAMETERS (184 bytes): hRoot @0, hObjectParent @4, function
    // @8, status @20, total @24, free @32.
    let outer = Arc::new(Block::new(184));
    let stop = Arc::new(AtomicBool::new(false));
    let total = |b: &Block| u64::from(b.get32(24)) | (u64::from(b.get32(28)) << 32);
    let spy = {
        let outer = outer.clone();
        spy(&stop, move || total(&outer), u64::max)
    };
    let (mut calls, mut ok, mut last) = (0u64, 0u64, 0u64);
    let end = Instant::now() + Duration::from_secs(secs);
    while Instant::now() < end {
        outer.clear();
        outer.set32(0, s.client);
        outer.set32(4, s.device);
        outer.set32(8, NVOS32_FUNCTION_INFO);
        calls += 1;
        if ioctl(fd, NV_ESC_RM_VID_HEAP_CONTROL, &outer, 184) && outer.get32(20) == NV_OK {
            ok += 1;
            last = total(&outer);
        }
    }
    stop.store(true, Relaxed);
    let (max, reads) = spy.join().map_err(|_| "spy thread panicked")?;
    println!(
        "flip heapinfo: {calls} calls, {ok} NV_OK, answer {} KiB; {reads} reads, largest seen {} KiB",
        last >> 10,
        max >> 10
    );
    if ok == 0 {
        return Err("no VID_HEAP_CONTROL INFO answered".into());
    }
    Ok(())
}

/// The `gpuids` case (see the module's comment).
fn gpuids(s: &nvrm::Session, secs: u64) -> Result<(), String> {
    use fakegpu_core::nvabi::ctrl::NV0000_CTRL_CMD_GPU_GET_ATTACHED_IDS;
    // As every client does first: the context's GPU ids are those its
    // CARD_INFO showed.
    s.ctl.card_info().map_err(|e| format!("CARD_INFO: {e}"))?;
    let fd = s.ctl.as_raw_fd();
    let outer = Block::new(32);
    let params = Arc::new(Block::new(128));
    let stop = Arc::new(AtomicBool::new(false));
    // 1 for a read that shows a valid id where the context has none.
    let spy = {
        let params = params.clone();
        let read = move || {
            let id = params.get32(4);
            u64::from(id != 0 && id != u32::MAX)
        };
        spy(&stop, read, |n, v| n + v)
    };
    let (mut calls, mut ok, mut listed) = (0u64, 0u64, 0usize);
    let end = Instant::now() + Duration::from_secs(secs);
    while Instant::now() < end {
        params.clear();
        control_block(
            &outer,
            s.client,
            s.client,
            NV0000_CTRL_CMD_GPU_GET_ATTACHED_IDS,
            &params,
            128,
        );
        calls += 1;
        if ioctl(fd, NV_ESC_RM_CONTROL, &outer, 32) && outer.get32(C_STATUS) == NV_OK {
            ok += 1;
            listed = (0..32)
                .take_while(|i| params.get32(i * 4) != u32::MAX)
                .count();
        }
    }
    stop.store(true, Relaxed);
    let (foreign, reads) = spy.join().map_err(|_| "spy thread panicked")?;
    println!(
        "flip gpuids: {calls} calls, {ok} NV_OK, {listed} GPUs listed; {reads} reads, {foreign} showed another GPU"
    );
    if ok == 0 {
        return Err("no GPU_GET_ATTACHED_IDS answered".into());
    }
    Ok(())
}

/// The VmFlags of this process's mapping that starts at `addr`.
fn vm_flags(addr: u64) -> Option<Vec<String>> {
    let smaps = std::fs::read_to_string("/proc/self/smaps").ok()?;
    let mut here = false;
    for line in smaps.lines() {
        if let Some((range, _)) = line.split_once(' ') {
            if let Some((start, _)) = range.split_once('-') {
                if let Ok(a) = u64::from_str_radix(start, 16) {
                    if !line.starts_with("VmFlags") {
                        here = a == addr;
                        continue;
                    }
                }
            }
        }
        if here {
            if let Some(f) = line.strip_prefix("VmFlags:") {
                return Some(f.split_whitespace().map(str::to_string).collect());
            }
        }
    }
    None
}

/// The `mapmem` case (see the module's comment).
fn mapmem(s: &nvrm::Session, secs: u64) -> Result<(), String> {
    use fakegpu_core::nvabi::{class::HOPPER_USERMODE_A, escape::NV_ESC_RM_MAP_MEMORY};
    let size = nvrm::USERMODE_SIZE;
    let (st, um) = s
        .ctl
        .alloc_raw(
            nvrm::AllocForm::Nvos64,
            s.client,
            s.subdevice,
            0,
            HOPPER_USERMODE_A,
            None,
        )
        .map_err(|e| format!("usermode object: {e}"))?;
    if st.0 != NV_OK {
        return Err(format!("usermode object: {}", st.name()));
    }
    let (st, vm) = s
        .ctl
        .alloc_raw(
            nvrm::AllocForm::Nvos64,
            s.client,
            s.device,
            0,
            NV01_MEMORY_LOCAL_USER,
            Some(&mut nvrm_params(size as u64)),
        )
        .map_err(|e| format!("video memory: {e}"))?;
    if st.0 != NV_OK {
        return Err(format!("video memory: {}", st.name()));
    }
    let fd = s.ctl.as_raw_fd();
    // nv_ioctl_nvos33_parameters_with_fd (56 bytes).
    let outer = Arc::new(Block::new(56));
    let stop = Arc::new(AtomicBool::new(false));
    let flips = Arc::new(AtomicU64::new(0));
    let flipper = {
        let (stop, flips, outer) = (stop.clone(), flips.clone(), outer.clone());
        std::thread::spawn(move || {
            let mut n = 0u64;
            while !stop.load(Relaxed) {
                outer.set32(8, vm);
                outer.set32(8, um);
                n += 1;
            }
            flips.store(n, Relaxed);
        })
    };
    let (mut calls, mut maps, mut doorbells, mut ungated, mut other) =
        (0u64, 0u64, 0u64, 0u64, 0u64);
    let path = format!("{}/nvidia{}", s.dir, s.gpu);
    let end = Instant::now() + Duration::from_secs(secs);
    while Instant::now() < end {
        calls += 1;
        let g = nvrm::Gpu::open(&path).map_err(|e| format!("{path}: {e}"))?;
        outer.clear();
        outer.set32(0, s.client);
        outer.set32(4, s.subdevice);
        outer.set32(8, vm);
        outer.set64(24, size as u64);
        outer.set32(48, g.as_raw_fd() as u32);
        if !ioctl(fd, NV_ESC_RM_MAP_MEMORY, &outer, 56) || outer.get32(40) != NV_OK {
            other += 1;
            continue;
        }
        // SAFETY: a fresh shared mapping of `g`; unmapped below.
        let p = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                size,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_SHARED,
                g.as_raw_fd(),
                0,
            )
        };
        if p == libc::MAP_FAILED {
            other += 1;
            continue;
        }
        maps += 1;
        let flags = vm_flags(p as u64).unwrap_or_default();
        if flags.iter().any(|f| f == "pf") {
            doorbells += 1;
            if !flags.iter().any(|f| f == "dc") {
                ungated += 1;
            }
        }
        // SAFETY: `p` is the mapping made above, `size` long.
        unsafe { libc::munmap(p, size) };
    }
    stop.store(true, Relaxed);
    let _ = flipper.join();
    println!(
        "flip mapmem: {calls} calls, {maps} mapped, {doorbells} doorbells, {ungated} ungated doorbells, {other} other; {} flips",
        flips.load(Relaxed)
    );
    if maps == 0 || doorbells == 0 || doorbells == maps {
        return Err("the race did not run: every mapping was of one object".into());
    }
    Ok(())
}

/// Runs one case; returns the lines to print.
pub fn run(dir: &str, case: &str, secs: u64, hold: &crate::Hold) -> Result<(), String> {
    let s = nvrm::Session::open(dir, 0).map_err(|e| format!("session on {dir}: {e}"))?;
    if case == "meminfo" || case == "meminfo1" {
        return meminfo(&s, secs, case == "meminfo1");
    }
    if case == "mapmem" {
        return mapmem(&s, secs);
    }
    if case == "gpuids" {
        return gpuids(&s, secs);
    }
    if case == "heapinfo" {
        return heapinfo(&s, secs);
    }
    let fd = s.ctl.as_raw_fd();
    let outer = Arc::new(Block::new(48));
    let small = Arc::new(memory_params(MIB));
    let chans = Arc::new(Block::new(536));
    let big = Arc::new(memory_params(64 * MIB));
    // NV0080_ALLOC_PARAMETERS (56 bytes): `device` flips its deviceId.
    let devp = Arc::new(Block::new(56));
    let stop = Arc::new(AtomicBool::new(false));
    // `dup`: the other context's (client, handle).
    let foreign: Option<(u32, u32)> = match case {
        "dup" | "disable" => {
            let v = std::env::var("FLIP_SRC").map_err(|_| "dup needs FLIP_SRC=CLIENT:HANDLE")?;
            let num = |x: &str| u32::from_str_radix(x.trim_start_matches("0x"), 16).ok();
            match v.split_once(':').map(|(c, h)| (num(c), num(h))) {
                Some((Some(c), Some(h))) => Some((c, h)),
                _ => return Err(format!("FLIP_SRC {v}: want CLIENT:HANDLE in hex")),
            }
        }
        _ => None,
    };
    let flips = Arc::new(AtomicU64::new(0));
    // What the flipper alternates: (block, offset, value a, value b, 64-bit).
    let (target, off, a, b, wide): (Arc<Block>, usize, u64, u64, bool) = match case {
        "class" => (
            outer.clone(),
            A_CLASS,
            NV01_MEMORY_SYSTEM.into(),
            NV01_MEMORY_LOCAL_USER.into(),
            false,
        ),
        "size" => (small.clone(), M_SIZE, MIB, 64 * MIB, true),
        "pointer" => (outer.clone(), A_PARAMS, small.addr(), big.addr(), true),
        "free" => (outer.clone(), F_OLD, 0, 0, false), // values set per round
        // NV_ERR_GENERIC twice: the loop writes only that.
        "status" => (outer.clone(), A_STATUS, 1, 1, false),
        // The device instance between the context's only GPU (its 0) and
        // 1, a GPU the context does not have (FLIP_DEVICE overrides).
        "device" => {
            let other = std::env::var("FLIP_DEVICE")
                .ok()
                .and_then(|v| v.parse().ok())
                .unwrap_or(1u64);
            (devp.clone(), 0, 0, other, false)
        }
        "dup" => {
            let (c, _) = foreign.unwrap_or_default();
            (
                outer.clone(),
                D_CLIENT_SRC,
                s.client.into(),
                c.into(),
                false,
            )
        }
        "disable" => {
            let (c, _) = foreign.unwrap_or_default();
            (chans.clone(), X_CLIENTS, s.client.into(), c.into(), false)
        }
        _ => return Err(format!("unknown flip case {case}")),
    };
    let pair = Arc::new((AtomicU64::new(a), AtomicU64::new(b)));
    // 0 means "nothing to write", except where 0 is one of the values.
    let zero_ok = case == "device";
    let flipper = {
        let (stop, flips, pair, target) = (stop.clone(), flips.clone(), pair.clone(), target);
        std::thread::spawn(move || {
            let mut n = 0u64;
            while !stop.load(Relaxed) {
                for v in [pair.0.load(Relaxed), pair.1.load(Relaxed)] {
                    if v == 0 && !zero_ok {
                        continue;
                    }
                    if wide {
                        target.set64(off, v);
                    } else {
                        target.set32(off, v as u32);
                    }
                }
                n += 1;
            }
            flips.store(n, Relaxed);
        })
    };
    let mut t = Tally::default();
    let mut kept = Vec::new();
    let end = Instant::now() + Duration::from_secs(secs);
    while Instant::now() < end {
        t.calls += 1;
        if case == "free" {
            let one = s.ctl.alloc_raw(
                nvrm::AllocForm::Nvos64,
                s.client,
                s.device,
                0,
                NV01_MEMORY_LOCAL_USER,
                Some(&mut nvrm_params(MIB)),
            );
            let two = s.ctl.alloc_raw(
                nvrm::AllocForm::Nvos64,
                s.client,
                s.device,
                0,
                NV01_MEMORY_LOCAL_USER,
                Some(&mut nvrm_params(16 * MIB)),
            );
            let (Ok((s1, h1)), Ok((s2, h2))) = (one, two) else {
                return Err("RM_ALLOC failed outright".into());
            };
            if s1.0 != NV_OK || s2.0 != NV_OK {
                // At the cap (the ledger drifted): free what we got and go on.
                for (st, h) in [(s1, h1), (s2, h2)] {
                    if st.0 == NV_OK {
                        let _ = s.ctl.free(s.client, s.device, h);
                    }
                }
                t.refused += 1;
                continue;
            }
            pair.0.store(h1.into(), Relaxed);
            pair.1.store(h2.into(), Relaxed);
            // The flipper writes `outer`, which is the free's block here.
            outer.clear();
            outer.set32(F_ROOT, s.client);
            outer.set32(F_PARENT, s.device);
            outer.set32(F_OLD, h1);
            if ioctl(fd, NV_ESC_RM_FREE, &outer, 16) && outer.get32(F_STATUS) == NV_OK {
                t.ok += 1;
            } else {
                t.other += 1;
            }
            pair.0.store(0, Relaxed);
            pair.1.store(0, Relaxed);
            // Whichever is left (the other free answers OBJECT_NOT_FOUND).
            let _ = s.ctl.free(s.client, s.device, h1);
            let _ = s.ctl.free(s.client, s.device, h2);
            continue;
        }
        if case == "device" {
            // A device under the client, then 1 MiB of video memory under
            // it, both kept: whichever GPU the vendor made the device on
            // holds the memory.
            alloc_block(&outer, s.client, s.client, NV01_DEVICE_0, &devp, 56);
            if !ioctl(fd, NV_ESC_RM_ALLOC, &outer, 48) {
                t.other += 1;
                continue;
            }
            if outer.get32(A_STATUS) != NV_OK {
                t.refused += 1;
                continue;
            }
            t.ok += 1;
            let dev = outer.get32(A_NEW);
            let m = s.ctl.alloc_raw(
                nvrm::AllocForm::Nvos64,
                s.client,
                dev,
                0,
                NV01_MEMORY_LOCAL_USER,
                Some(&mut nvrm_params(MIB)),
            );
            match m {
                Ok((st, h)) if st.0 == NV_OK => kept.push(h),
                _ => t.other += 1,
            }
            continue;
        }
        if let (Some((_, channel)), "disable") = (foreign, case) {
            chans.clear();
            chans.set32(X_DISABLE, 1);
            chans.set32(X_NUM, 1);
            chans.set32(X_CLIENTS, s.client);
            chans.set32(X_CHANNELS, channel);
            control_block(
                &outer,
                s.client,
                s.subdevice,
                NV2080_CTRL_CMD_FIFO_DISABLE_CHANNELS,
                &chans,
                536,
            );
            if !ioctl(fd, NV_ESC_RM_CONTROL, &outer, 32) {
                t.other += 1;
            } else if outer.get32(C_STATUS) == NV_OK {
                t.ok += 1;
            } else {
                t.refused += 1;
            }
            continue;
        }
        if let Some((_, handle)) = foreign {
            outer.clear();
            outer.set32(D_CLIENT, s.client);
            outer.set32(D_PARENT, s.device);
            outer.set32(D_OBJECT, 0);
            outer.set32(D_CLIENT_SRC, s.client);
            outer.set32(D_OBJECT_SRC, handle);
            if !ioctl(fd, NV_ESC_RM_DUP_OBJECT, &outer, 28) {
                t.other += 1;
                continue;
            }
            if outer.get32(D_STATUS) == NV_OK {
                // A dup of the other context's memory: count it, drop it.
                t.ok += 1;
                let _ = s.ctl.free(s.client, s.device, outer.get32(D_OBJECT));
            } else {
                t.refused += 1;
            }
            continue;
        }
        alloc_block(
            &outer,
            s.client,
            s.device,
            NV01_MEMORY_LOCAL_USER,
            &small,
            128,
        );
        small.set64(M_SIZE, MIB);
        if !ioctl(fd, NV_ESC_RM_ALLOC, &outer, 48) {
            t.other += 1;
            continue;
        }
        match outer.get32(A_STATUS) {
            NV_OK => {
                t.ok += 1;
                kept.push(outer.get32(A_NEW));
            }
            NV_ERR_NO_MEMORY => t.refused += 1,
            _ => t.other += 1,
        }
    }
    stop.store(true, Relaxed);
    let _ = flipper.join();
    if case == "disable" {
        println!(
            "flip {case}: {} calls, {} NV_OK, {} refused, {} other; {} flips",
            t.calls,
            t.ok,
            t.refused,
            t.other,
            flips.load(Relaxed)
        );
    } else if foreign.is_some() {
        println!(
            "flip {case}: {} calls, {} foreign dups, {} refused, {} other; {} flips",
            t.calls,
            t.ok,
            t.refused,
            t.other,
            flips.load(Relaxed)
        );
    } else {
        println!(
        "flip {case}: {} calls, {} NV_OK, {} refused at the cap, {} other; {} flips; {} objects held",
        t.calls,
        t.ok,
        t.refused,
        t.other,
        flips.load(Relaxed),
        kept.len()
    );
    }
    if t.calls == 0 || flips.load(Relaxed) == 0 {
        return Err("the race did not run".into());
    }
    use std::io::Write;
    let _ = std::io::stdout().flush();
    hold.wait();
    Ok(())
}

fn nvrm_params(size: u64) -> Vec<u8> {
    let m = memory_params(size);
    (0..128)
        .map(|i| (m.0[i / 8].load(Relaxed) >> ((i % 8) * 8)) as u8)
        .collect()
}
