// SPDX-License-Identifier: GPL-2.0

//! The module's own kernel RM client (FFI edge): through the vendor's
//! exported kernel RM API (`nvidia_get_rm_ops`, which nvidia-modeset uses;
//! nvsim exports the same symbol with the same signature) the compute
//! scheduler stops and resumes a container's channels with
//! `NV2080_CTRL_CMD_FIFO_DISABLE_CHANNELS` when its gate shuts and opens,
//! so the work it queued before the gate shut does not run on in the other
//! contexts' time (the drain; `docs/compute-levers.md` §3: on the H100 the
//! control stops queued and running work at once and resumes within 1 ms).
//! The proxy asks it, after every allocating call, how much video memory
//! the vendor holds for a context's processes ([`vidmem_of`],
//! `docs/isolation.md` §5).
//!
//! Kernel callers run at kernel privilege: the control names the
//! container's own (client, channel) handles. The RM API takes kernel
//! pointers for the nested parameters. The client holds a reference on the
//! vendor module (`__symbol_get`) and is freed, and the reference dropped,
//! when no context has channels any more ([`release_if_idle`]) and at
//! unload, so the vendor's module can be unloaded when no container runs.

use crate::fgcore::drivers;
use crate::fgcore::nvabi::{
    class::{Nv0080AllocParameters, NV01_DEVICE_0, NV01_ROOT_CLIENT, NV20_SUBDEVICE_0},
    ctrl::{
        Nv0000CtrlGpuGetAttachedIdsParams, Nv2080CtrlFbGetInfoV2Params, Nv2080CtrlFbInfo,
        Nv2080CtrlFifoDisableChannelsParams, Nv2080CtrlGpuGetPidInfoParams, Nv2080CtrlGpuPidInfo,
        NV0000_CTRL_CMD_GPU_GET_ATTACHED_IDS, NV2080_CTRL_CMD_FB_GET_INFO_V2,
        NV2080_CTRL_CMD_FIFO_DISABLE_CHANNELS, NV2080_CTRL_CMD_GPU_GET_PID_INFO,
        NV2080_CTRL_FB_INFO_INDEX_HEAP_SIZE, NV2080_CTRL_GPU_GET_PID_INFO_MAX_COUNT,
        NV2080_CTRL_GPU_PID_INFO_INDEX_VIDEO_MEMORY_USAGE,
    },
    kapi::{
        NvKernelRmapiOps, RmOps, NV01_FREE, NV04_ALLOC, NV04_CONTROL, NV04_DUP_OBJECT,
        NV_KERNEL_RMAPI_OPS_PARAMS_OFFSET,
    },
    rm::{Nvos00, Nvos54, Nvos55, Nvos64, NV04_DUP_HANDLE_FLAGS_REJECT_KERNEL_DUP_PRIVILEGE},
    status::{
        NV_ERR_GENERIC, NV_ERR_INVALID_CLIENT, NV_ERR_NOT_SUPPORTED, NV_ERR_NO_MEMORY, NV_OK,
    },
    wire::{rd_u32, wr_u32, Wire},
    Branch,
};
use core::mem::offset_of;
use kernel::{bindings, ffi::c_void, prelude::*, str::CStr};

type GetRmOps = unsafe extern "C" fn(*mut RmOps) -> u32;

/// The symbol the vendor exports.
const SYMBOL: &CStr = c"nvidia_get_rm_ops";
/// The version we first offer; the driver answers a mismatch with its own,
/// which we accept if its ABI is one we support.
const FIRST_VERSION: &CStr = c"580.159.04";

/// A kernel RM client with a device and subdevice per GPU it was used on.
///
/// # Invariants
///
/// `op` and `free_stack` are the vendor's functions, valid while the module
/// reference taken by `__symbol_get(SYMBOL)` is held, which is until `drop`.
/// `client` is a live client of ours until `drop` frees it.
pub(crate) struct Kapi {
    op: unsafe extern "C" fn(*mut c_void, *mut c_void),
    free_stack: Option<unsafe extern "C" fn(*mut c_void)>,
    sp: *mut c_void,
    client: u32,
    /// (host GPU index, device handle, subdevice handle).
    gpus: KVec<(u32, u32, u32)>,
    /// The driver's branch (from the version handshake).
    branch: Branch,
}

// SAFETY: the vendor's RM API may be called from any thread; `sp` is the
// (x86_64: null) stack pointer the API gave us, used by one caller at a
// time (the global lock below).
unsafe impl Send for Kapi {}

kernel::sync::global_lock! {
    // SAFETY: `init` is called in the module initializer, before first use.
    pub(crate) unsafe(uninit) static KAPI: Mutex<Option<Kapi>> = None;
}

/// Runs `f` on the kernel client under [`KAPI`]'s lock, opening it on
/// first need; `Err(NV_ERR_NOT_SUPPORTED)` if it cannot be opened.
fn with_kapi<R>(f: impl FnOnce(&mut Kapi) -> R) -> core::result::Result<R, u32> {
    let mut g = KAPI.lock();
    if g.is_none() {
        *g = Some(Kapi::open().map_err(|_| NV_ERR_NOT_SUPPORTED)?);
    }
    g.as_mut().map(f).ok_or(NV_ERR_NOT_SUPPORTED)
}

impl Kapi {
    /// Resolves the vendor's kernel RM API and makes a client.
    fn open() -> Result<Self> {
        // SAFETY: `SYMBOL` is NUL-terminated; a non-null result holds a
        // reference on the exporting module until `symbol_put_addr`.
        let sym = unsafe { bindings::__symbol_get(SYMBOL.as_char_ptr()) };
        if sym.is_null() {
            return Err(ENODEV);
        }
        // SAFETY: the vendor's `nvidia_get_rm_ops` has this signature
        // (nv-modeset-interface.h), as does nvsim's.
        let get: GetRmOps = unsafe { core::mem::transmute::<*mut c_void, GetRmOps>(sym) };
        let mut ops = RmOps::EMPTY;
        ops.version_string = FIRST_VERSION.as_char_ptr();
        let mut branch = Branch::R580;
        // SAFETY: `ops` is writable and its version string NUL-terminated.
        let mut status = unsafe { get(&mut ops) };
        if status == NV_ERR_GENERIC && !ops.version_string.is_null() {
            // SAFETY: the driver wrote back its own NUL-terminated version,
            // a static string of its module (kept loaded by `sym`).
            let theirs = unsafe { CStr::from_char_ptr(ops.version_string) };
            if let Some(d) = drivers::lookup(b"nvidia", theirs.to_bytes()) {
                branch = d.branch;
                // SAFETY: as above, with the driver's own string.
                status = unsafe { get(&mut ops) };
            }
        }
        let op = match (status, ops.op) {
            (NV_OK, Some(op)) => op,
            _ => {
                // SAFETY: the reference `__symbol_get` took.
                unsafe { bindings::symbol_put_addr(sym) };
                pr_warn!("fakegpu: the vendor's kernel RM API refused us (status {:#x}); channels are not stopped at gate close\n", status);
                return Err(ENODEV);
            }
        };
        let mut sp = core::ptr::null_mut();
        if let Some(alloc_stack) = ops.alloc_stack {
            // SAFETY: `sp` is a valid out pointer.
            if unsafe { alloc_stack(&mut sp) } != 0 {
                // SAFETY: the reference `__symbol_get` took.
                unsafe { bindings::symbol_put_addr(sym) };
                return Err(ENOMEM);
            }
        }
        let mut k = Kapi {
            op,
            free_stack: ops.free_stack,
            sp,
            client: 0,
            gpus: KVec::new(),
            branch,
        };
        let mut cp = [0u8; 4];
        match k.alloc(0, 0, NV01_ROOT_CLIENT, &mut cp) {
            // INVARIANT: a live client of ours from here on.
            Ok(c) => k.client = c,
            Err(s) => {
                pr_warn!("fakegpu: kernel RM client: allocation failed ({:#x})\n", s);
                return Err(ENODEV);
            }
        }
        Ok(k)
    }

    /// Runs one RM API operation on a parameter block of the NVOS type
    /// `op` names; returns the block as the RM left it.
    fn call(&self, op: u32, params: &[u8]) -> [u8; 64] {
        let mut b = [0u8; NvKernelRmapiOps::SIZE];
        b[..4].copy_from_slice(&op.to_le_bytes());
        let at = NV_KERNEL_RMAPI_OPS_PARAMS_OFFSET;
        let n = params.len().min(64);
        b[at..at + n].copy_from_slice(&params[..n]);
        // SAFETY: `b` is an `nvidia_kernel_rmapi_ops_t`; the kernel pointers
        // inside its parameters (set by our callers) point at live buffers
        // of the sizes named next to them; `op` is valid (invariant).
        unsafe { (self.op)(self.sp, b.as_mut_ptr().cast()) };
        let mut out = [0u8; 64];
        out.copy_from_slice(&b[at..at + 64]);
        out
    }

    /// NV04_ALLOC; returns the new handle or the RM status.
    fn alloc(
        &self,
        root: u32,
        parent: u32,
        class: u32,
        params: &mut [u8],
    ) -> core::result::Result<u32, u32> {
        let mut p = Nvos64::ZERO;
        (p.h_root, p.h_object_parent, p.h_class) = (root, parent, class);
        p.p_alloc_parms = if params.is_empty() {
            0
        } else {
            params.as_mut_ptr() as usize as u64
        };
        p.params_size = params.len() as u32;
        let mut b = [0u8; Nvos64::SIZE];
        p.write(&mut b);
        let out = Nvos64::read(&self.call(NV04_ALLOC, &b)).ok_or(NV_ERR_GENERIC)?;
        if out.status == NV_OK {
            Ok(out.h_object_new)
        } else {
            Err(out.status)
        }
    }

    /// NV04_CONTROL; returns the RM status.
    fn control(&self, object: u32, cmd: u32, params: &mut [u8]) -> u32 {
        let mut p = Nvos54::ZERO;
        (p.h_client, p.h_object, p.cmd) = (self.client, object, cmd);
        p.params = params.as_mut_ptr() as usize as u64;
        p.params_size = params.len() as u32;
        let mut b = [0u8; Nvos54::SIZE];
        p.write(&mut b);
        Nvos54::read(&self.call(NV04_CONTROL, &b)).map_or(NV_ERR_GENERIC, |o| o.status)
    }

    /// NV04_DUP_OBJECT at kernel privilege with
    /// `NV04_DUP_HANDLE_FLAGS_REJECT_KERNEL_DUP_PRIVILEGE` forced on, so the
    /// RM checks the source's dup rights for the destination client as it
    /// does for a user caller (`rs_client.c clientCopyResource_IMPL`).
    /// Returns the RM status and the new handle.
    fn dup(&self, p: &Nvos55) -> (u32, u32) {
        let mut q = *p;
        q.flags |= NV04_DUP_HANDLE_FLAGS_REJECT_KERNEL_DUP_PRIVILEGE;
        q.status = 0;
        let mut b = [0u8; Nvos55::SIZE];
        q.write(&mut b);
        match Nvos55::read(&self.call(NV04_DUP_OBJECT, &b)) {
            Some(out) => (out.status, out.h_object),
            None => (NV_ERR_GENERIC, 0),
        }
    }

    /// Whether the RM still has client `client` (anybody's): a client
    /// control on it answers anything but `NV_ERR_INVALID_CLIENT`.
    fn client_exists(&self, client: u32) -> bool {
        let mut b = [0u8; Nv0000CtrlGpuGetAttachedIdsParams::SIZE];
        let mut p = Nvos54::ZERO;
        (p.h_client, p.h_object, p.cmd) = (client, client, NV0000_CTRL_CMD_GPU_GET_ATTACHED_IDS);
        p.params = b.as_mut_ptr() as usize as u64;
        p.params_size = b.len() as u32;
        let mut q = [0u8; Nvos54::SIZE];
        p.write(&mut q);
        Nvos54::read(&self.call(NV04_CONTROL, &q)).is_none_or(|o| o.status != NV_ERR_INVALID_CLIENT)
    }

    /// Our subdevice of host GPU `gpu`, made on first use.
    fn subdevice(&mut self, gpu: u32) -> core::result::Result<u32, u32> {
        if let Some(&(_, _, s)) = self.gpus.iter().find(|g| g.0 == gpu) {
            return Ok(s);
        }
        let mut dp = [0u8; Nv0080AllocParameters::SIZE];
        let mut d = Nv0080AllocParameters::ZERO;
        d.device_id = gpu;
        d.write(&mut dp);
        let dev = self.alloc(self.client, self.client, NV01_DEVICE_0, &mut dp)?;
        let mut sp = [0u8; 4];
        let sub = self.alloc(self.client, dev, NV20_SUBDEVICE_0, &mut sp)?;
        self.gpus
            .push((gpu, dev, sub), GFP_KERNEL)
            .map_err(|_| NV_ERR_GENERIC)?;
        Ok(sub)
    }

    /// Stops (`disable`) or resumes the channels `list` of host GPU `gpu`,
    /// 64 per call; returns the first failing status.
    fn disable_channels(&mut self, gpu: u32, list: &[(u32, u32)], disable: bool) -> u32 {
        let sub = match self.subdevice(gpu) {
            Ok(s) => s,
            Err(s) => return s,
        };
        type P = Nv2080CtrlFifoDisableChannelsParams;
        let mut status = NV_OK;
        for chunk in list.chunks(64) {
            let mut p = P::ZERO;
            p.disable = u8::from(disable);
            p.num_channels = chunk.len() as u32;
            for (i, &(c, ch)) in chunk.iter().enumerate() {
                p.h_client_list[i] = c;
                p.h_channel_list[i] = ch;
            }
            let mut b = [0u8; P::SIZE];
            p.write(&mut b);
            let s = self.control(sub, NV2080_CTRL_CMD_FIFO_DISABLE_CHANNELS, &mut b);
            if s != NV_OK && status == NV_OK {
                status = s;
            }
        }
        status
    }
}

impl Drop for Kapi {
    fn drop(&mut self) {
        // `client` is 0 when `open` failed to make one.
        if self.client != 0 {
            let mut b = [0u8; Nvos00::SIZE];
            Nvos00 {
                h_root: self.client,
                h_object_parent: 0,
                h_object_old: self.client,
                status: 0,
            }
            .write(&mut b);
            let _ = self.call(NV01_FREE, &b);
        }
        if let Some(f) = self.free_stack {
            // SAFETY: the stack `alloc_stack` gave us, freed once.
            unsafe { f(self.sp) };
        }
        // SAFETY: the reference `__symbol_get` took in `open` (invariant).
        unsafe { bindings::__symbol_put(SYMBOL.as_char_ptr()) };
    }
}

/// Stops (`disable`) or resumes the channels `list` (host GPU, client,
/// channel) that are on host GPU `only` (`None`: on every GPU); opens the
/// kernel client on first need. Returns whether there is a channel there
/// and every one of them was stopped (resumed). A failing control is
/// logged at debug level and leaves the gate alone in charge (no worse
/// than without this).
pub(crate) fn set_channels(
    list: &mut KVec<(u32, u32, u32)>,
    only: Option<u32>,
    disable: bool,
) -> bool {
    list.retain(|e| only.is_none_or(|g| e.0 == g));
    if list.is_empty() {
        return false;
    }
    with_kapi(|k| disable_channels(k, list, disable)).unwrap_or(false)
}

/// [`set_channels`] on the opened kernel client.
fn disable_channels(k: &mut Kapi, list: &[(u32, u32, u32)], disable: bool) -> bool {
    let mut gpus: KVec<u32> = KVec::new();
    for &(gpu, _, _) in list.iter() {
        if !gpus.contains(&gpu) && gpus.push(gpu, GFP_KERNEL).is_err() {
            return false;
        }
    }
    let mut pairs: KVec<(u32, u32)> = KVec::new();
    let mut all = true;
    for &gpu in gpus.iter() {
        pairs.clear();
        for &(_, c, ch) in list.iter().filter(|e| e.0 == gpu) {
            if pairs.push((c, ch), GFP_KERNEL).is_err() {
                return false;
            }
        }
        let s = k.disable_channels(gpu, &pairs, disable);
        if s != NV_OK {
            all = false;
            pr_debug!(
                "fakegpu: FIFO_DISABLE_CHANNELS({}) on gpu {}: status {:#x}\n",
                u8::from(disable),
                gpu,
                s
            );
        }
    }
    all
}

/// Video memory the vendor holds for processes `pids` (numbered in the
/// calling task's pid namespace) on host GPU `gpu`: what GPU_GET_PID_INFO
/// reports as owned by them (`memPrivate + memSharedOwned`; dups and
/// imports of memory they do not own are the owner's). The RM computes it
/// at the call from every client of those processes, so an object the
/// proxy never saw is counted too. Opens the kernel client on first need.
pub(crate) fn vidmem_of(gpu: u32, pids: &[u32]) -> core::result::Result<u64, u32> {
    if pids.is_empty() {
        return Ok(0);
    }
    with_kapi(|k| pid_vidmem(k, gpu, pids))?
}

/// [`vidmem_of`] on the opened kernel client.
fn pid_vidmem(k: &mut Kapi, gpu: u32, pids: &[u32]) -> core::result::Result<u64, u32> {
    type P = Nv2080CtrlGpuGetPidInfoParams;
    type E = Nv2080CtrlGpuPidInfo;
    let sub = k.subdevice(gpu)?;
    // 14 KiB: on the heap, not the stack.
    let mut b = KVec::from_elem(0u8, P::SIZE, GFP_KERNEL).map_err(|_| NV_ERR_NO_MEMORY)?;
    let list = core::mem::offset_of!(P, pid_info_list);
    let mut total = 0u64;
    for chunk in pids.chunks(NV2080_CTRL_GPU_GET_PID_INFO_MAX_COUNT) {
        b.fill(0);
        b[..4].copy_from_slice(&(chunk.len() as u32).to_le_bytes());
        for (i, &pid) in chunk.iter().enumerate() {
            let e = E {
                pid,
                index: NV2080_CTRL_GPU_PID_INFO_INDEX_VIDEO_MEMORY_USAGE,
                ..E::ZERO
            };
            e.write(&mut b[list + i * E::SIZE..]);
        }
        let s = k.control(sub, NV2080_CTRL_CMD_GPU_GET_PID_INFO, &mut b);
        if s != NV_OK {
            return Err(s);
        }
        for i in 0..chunk.len() {
            let e = E::read(&b[list + i * E::SIZE..]).ok_or(NV_ERR_GENERIC)?;
            // An entry the RM could not answer (a process that is gone)
            // holds nothing.
            if e.result == NV_OK {
                total = total
                    .saturating_add(e.mem_private)
                    .saturating_add(e.mem_shared_owned);
            }
        }
    }
    Ok(total)
}

/// Executes a tenant's RM_DUP_OBJECT from the proxy's copy `p` of its
/// block (`docs/isolation.md` §4 (K′)): the vendor acts on exactly the
/// bytes the proxy checked, whatever the tenant writes meanwhile. The
/// caller has checked that the destination client is the calling file's
/// and the source client the context's (kernel callers may name any
/// client). Returns the RM status and the new handle.
pub(crate) fn dup_object(p: &Nvos55) -> core::result::Result<(u32, u32), u32> {
    with_kapi(|k| k.dup(p))
}

/// Runs control `cmd` with `params` on our own subdevice of host GPU
/// `gpu` (opening the kernel client on first need); returns the RM status.
/// For a tenant's FIFO_DISABLE_CHANNELS executed from the proxy's copy
/// (`docs/isolation.md` §4 (K′)).
pub(crate) fn subdevice_control(gpu: u32, cmd: u32, params: &mut [u8]) -> u32 {
    with_kapi(|k| match k.subdevice(gpu) {
        Ok(sub) => k.control(sub, cmd, params),
        Err(s) => s,
    })
    .unwrap_or_else(|s| s)
}

/// Runs control `cmd` with `params` on our own client (an NV0000 control;
/// opening the kernel client on first need); returns the RM status. For
/// the system-wide GPU id lists, executed from the proxy's copy.
pub(crate) fn client_control(cmd: u32, params: &mut [u8]) -> u32 {
    with_kapi(|k| k.control(k.client, cmd, params)).unwrap_or_else(|s| s)
}

/// The video memory the vendor can allocate on host GPU `gpu` (its heap,
/// FB_GET_INFO_V2's HEAP_SIZE), bytes; `None` if it cannot be asked.
pub(crate) fn card_bytes(gpu: u32) -> Option<u64> {
    type P = Nv2080CtrlFbGetInfoV2Params;
    // The block is the driver's branch's size (a shorter list in 550).
    let branch = with_kapi(|k| k.branch).ok()?;
    let size = branch
        .control_size(NV2080_CTRL_CMD_FB_GET_INFO_V2)
        .unwrap_or(P::SIZE);
    let mut b = KVec::from_elem(0u8, size, GFP_KERNEL).ok()?;
    let list = offset_of!(P, fb_info_list);
    let entry = (
        wr_u32(&mut b, offset_of!(P, fb_info_list_size), 1),
        wr_u32(&mut b, list, NV2080_CTRL_FB_INFO_INDEX_HEAP_SIZE),
    );
    if entry != (true, true) {
        return None;
    }
    if subdevice_control(gpu, NV2080_CTRL_CMD_FB_GET_INFO_V2, &mut b) != NV_OK {
        return None;
    }
    let kib = rd_u32(&b, list + offset_of!(Nv2080CtrlFbInfo, data))?;
    (kib > 0).then_some(u64::from(kib) * 1024)
}

/// The version of the vendor's kernel RM API, if the vendor is loaded
/// (its `nvidia_get_rm_ops` answers a mismatched version with its own).
/// Copies it into `buf`; returns its length.
pub(crate) fn vendor_version(buf: &mut [u8; 32]) -> Option<usize> {
    // SAFETY: `SYMBOL` is NUL-terminated; a non-null result holds a
    // reference on the exporting module until `symbol_put_addr` below.
    let sym = unsafe { bindings::__symbol_get(SYMBOL.as_char_ptr()) };
    if sym.is_null() {
        return None;
    }
    // SAFETY: as in `Kapi::open`.
    let get: GetRmOps = unsafe { core::mem::transmute::<*mut c_void, GetRmOps>(sym) };
    let mut ops = RmOps::EMPTY;
    ops.version_string = FIRST_VERSION.as_char_ptr();
    // SAFETY: `ops` is writable and its version string NUL-terminated; the
    // call only fills in `ops`.
    let status = unsafe { get(&mut ops) };
    let theirs = if status == NV_OK {
        Some(FIRST_VERSION.to_bytes())
    } else if status == NV_ERR_GENERIC && !ops.version_string.is_null() {
        // SAFETY: the driver's own NUL-terminated static version string,
        // valid while `sym` holds its module.
        Some(unsafe { CStr::from_char_ptr(ops.version_string) }.to_bytes())
    } else {
        None
    };
    let n = theirs.map(|v| {
        let n = v.len().min(buf.len());
        buf[..n].copy_from_slice(&v[..n]);
        n
    });
    // SAFETY: the reference `__symbol_get` took.
    unsafe { bindings::symbol_put_addr(sym) };
    n
}

/// Whether the RM still holds any of `clients` (a closed proxy file's:
/// its vendor file outlives it while a mapping or a registered GPU file
/// holds it, and the RM frees them only at that file's release). `true`
/// when the kernel RM API cannot be asked: the charge stays.
pub(crate) fn any_client_exists(clients: &[u32]) -> bool {
    with_kapi(|k| clients.iter().any(|&c| k.client_exists(c))).unwrap_or(true)
}

/// Frees the kernel client when no context has channels (so the vendor's
/// module is not held while no container uses it).
pub(crate) fn release_if_idle(any_channels: bool) {
    if !any_channels {
        release();
    }
}

/// Frees the kernel client, if any (at unload).
pub(crate) fn release() {
    let old = KAPI.lock().take();
    drop(old);
}
