// SPDX-License-Identifier: GPL-2.0

//! The kernel-side RM API (FFI edge): `nvidia_get_rm_ops` (exported by
//! `nvsim_exports.c`) with nvidia.ko's signature and semantics, so the
//! fakegpu proxy can own kernel RM clients and act on a container's
//! objects (dup, then controls) exactly as it would against the real
//! driver.
//!
//! ```c
//! NV_STATUS nvidia_get_rm_ops(nvidia_modeset_rm_ops_t *rm_ops);
//! // rm_ops->version_string must be "580.159.04"; on a mismatch the
//! // driver's string is written back and NV_ERR_GENERIC returned.
//! // Then: rm_ops->op(sp, nvidia_kernel_rmapi_ops_t *ops) with
//! // ops->op = NV01_FREE (NVOS00), NV04_ALLOC (NVOS64), NV04_CONTROL (NVOS54)
//! // or NV04_DUP_OBJECT (NVOS55); parameter pointers are kernel pointers.
//! ```
//!
//! Kernel callers run at kernel privilege: they may use any client's
//! objects and dup any object (unless they pass the
//! REJECT_KERNEL_DUP_PRIVILEGE flag); their own clients belong to no file
//! and live until freed (or until nvsim is unloaded).

use crate::{
    ctrl,
    fgcore::nvabi::{class::class_info, kapi::*, rm::*, status::*, wire::Wire},
    file::caller,
    rm::{Os, RM},
};
use kernel::{
    ffi::{c_int, c_void},
    prelude::*,
};

/// The driver's version string, NUL-terminated for C.
fn version_c() -> &'static CStr {
    crate::branch::current().version_c
}

/// Called by the exported `nvidia_get_rm_ops`.
///
/// # Safety
///
/// `ops` must point to a writable `nvidia_modeset_rm_ops_t` whose
/// `version_string` is null or a NUL-terminated string.
#[no_mangle]
pub(crate) unsafe extern "C" fn nvsim_rust_get_rm_ops(ops: *mut RmOps) -> u32 {
    if ops.is_null() {
        return NV_ERR_INVALID_ARGUMENT;
    }
    // SAFETY: `ops` is valid (function contract).
    let ops = unsafe { &mut *ops };
    let matches = !ops.version_string.is_null()
        // SAFETY: a NUL-terminated string (function contract).
        && unsafe { CStr::from_char_ptr(ops.version_string) }.to_bytes() == version_c().to_bytes();
    if !matches {
        ops.version_string = version_c().as_char_ptr();
        return NV_ERR_GENERIC;
    }
    ops.allow_write_combining = 0;
    ops.alloc_stack = Some(alloc_stack);
    ops.free_stack = Some(free_stack);
    ops.enumerate_gpus = Some(enumerate_gpus);
    ops.open_gpu = Some(open_gpu);
    ops.close_gpu = Some(close_gpu);
    ops.op = Some(op);
    ops.set_callbacks = Some(set_callbacks);
    NV_OK
}

unsafe extern "C" fn alloc_stack(sp: *mut *mut c_void) -> c_int {
    // No alternate stacks on x86_64: sp = NULL, success.
    if !sp.is_null() {
        // SAFETY: a valid out pointer (API contract).
        unsafe { *sp = core::ptr::null_mut() };
    }
    0
}

unsafe extern "C" fn free_stack(_sp: *mut c_void) {}

unsafe extern "C" fn enumerate_gpus(info: *mut u8) -> u32 {
    let rm = RM.lock();
    let n = rm.gpus.len().min(NVIDIA_MAX_GPUS);
    if info.is_null() {
        return n as u32;
    }
    // SAFETY: `info` is an array of NVIDIA_MAX_GPUS `nv_gpu_info_t` (API contract).
    let out = unsafe { core::slice::from_raw_parts_mut(info, NVIDIA_MAX_GPUS * NvGpuInfo::SIZE) };
    for i in 0..n {
        let g = &rm.gpus[i];
        let mut v = NvGpuInfo::ZERO;
        v.gpu_id = g.gpu_id();
        v.pci_bus = g.bus();
        v.write(&mut out[i * NvGpuInfo::SIZE..]);
    }
    n as u32
}

unsafe extern "C" fn open_gpu(gpu_id: u32, _sp: *mut c_void) -> c_int {
    if RM.lock().gpus.iter().any(|g| g.gpu_id() == gpu_id) {
        0
    } else {
        ENODEV.to_errno()
    }
}

unsafe extern "C" fn close_gpu(_gpu_id: u32, _sp: *mut c_void) {}

unsafe extern "C" fn set_callbacks(_cb: *const c_void) -> c_int {
    // nvidia-modeset holds the only registration.
    EBUSY.to_errno()
}

/// Copies `n` bytes from kernel address `p` (0 or `n == 0`: nothing).
///
/// # Safety
///
/// A non-null `p` must be valid for `n` bytes of reads.
unsafe fn kread(p: u64, n: usize) -> Option<KVec<u8>> {
    let mut v = KVec::from_elem(0u8, n, GFP_KERNEL).ok()?;
    if n > 0 && p != 0 {
        // SAFETY: valid for `n` bytes (function contract); `v` holds `n` bytes.
        unsafe { core::ptr::copy_nonoverlapping(p as usize as *const u8, v.as_mut_ptr(), n) };
    }
    Some(v)
}

/// Copies `data` to kernel address `p`.
///
/// # Safety
///
/// A non-null `p` must be valid for `data.len()` bytes of writes.
unsafe fn kwrite(p: u64, data: &[u8]) {
    if p != 0 && !data.is_empty() {
        // SAFETY: valid for `data.len()` bytes (function contract).
        unsafe { core::ptr::copy_nonoverlapping(data.as_ptr(), p as usize as *mut u8, data.len()) };
    }
}

unsafe extern "C" fn op(_sp: *mut c_void, cmd: *mut c_void) {
    if cmd.is_null() {
        return;
    }
    // SAFETY: `cmd` points to an `nvidia_kernel_rmapi_ops_t` (API contract).
    let block =
        unsafe { core::slice::from_raw_parts_mut(cmd.cast::<u8>(), NvKernelRmapiOps::SIZE) };
    let Some(mut ops) = NvKernelRmapiOps::read(block) else {
        return;
    };
    let c = caller(Os::Kernel);
    let params = &mut ops.params;
    match ops.op {
        NV01_FREE => {
            let Some(mut p) = Nvos00::read(params) else {
                return;
            };
            let mut freed = KVec::new();
            p.status = RM.lock().free(&c, p.h_root, p.h_object_old, &mut freed);
            drop(freed);
            p.write(params);
        }
        NV04_ALLOC => {
            let Some(mut p) = Nvos64::read(params) else {
                return;
            };
            let n = class_info(p.h_class)
                .and_then(|i| i.params.copy_size(p.p_alloc_parms == 0))
                .unwrap_or(0);
            // SAFETY: `pAllocParms` is a kernel pointer to the class's parameters (API contract).
            p.status = match unsafe { kread(p.p_alloc_parms, n) } {
                None => NV_ERR_NO_MEMORY,
                Some(_) if n > 0 && p.p_alloc_parms == 0 => NV_ERR_INVALID_ARGUMENT,
                Some(mut buf) => {
                    let h_root = if class_info(p.h_class).map(|i| i.kind)
                        == Some(crate::fgcore::nvabi::class::ClassKind::Client)
                    {
                        0
                    } else {
                        p.h_root
                    };
                    let s = RM.lock().alloc(
                        &c,
                        h_root,
                        p.h_object_parent,
                        &mut p.h_object_new,
                        p.h_class,
                        &mut buf,
                    );
                    if s == NV_OK {
                        // SAFETY: as above, writable.
                        unsafe { kwrite(p.p_alloc_parms, &buf) };
                    }
                    s
                }
            };
            p.write(params);
        }
        NV04_CONTROL => {
            let Some(mut p) = Nvos54::read(params) else {
                return;
            };
            let n = p.params_size as usize;
            p.status = if n > ctrl::MAX_PARAMS || (n > 0 && p.params == 0) {
                NV_ERR_INVALID_ARGUMENT
            } else {
                // SAFETY: `params` is a kernel pointer to `paramsSize` bytes (API contract).
                match unsafe { kread(p.params, n) } {
                    None => NV_ERR_NO_MEMORY,
                    Some(mut buf) => {
                        let s = ctrl::control(
                            &mut RM.lock(),
                            &c,
                            p.h_client,
                            p.h_object,
                            p.cmd,
                            &mut buf,
                        );
                        if s == NV_OK {
                            // SAFETY: as above, writable.
                            unsafe { kwrite(p.params, &buf) };
                        }
                        s
                    }
                }
            };
            p.write(params);
        }
        NV04_DUP_OBJECT => {
            let Some(mut p) = Nvos55::read(params) else {
                return;
            };
            p.status = RM.lock().dup(
                &c,
                p.h_client,
                p.h_parent,
                &mut p.h_object,
                p.h_client_src,
                p.h_object_src,
                p.flags,
            );
            p.write(params);
        }
        _ => return,
    }
    ops.write(block);
}

/// Exercises the exported API as a client module would (at load time):
/// the version handshake, a kernel client with device, subdevice, video
/// memory, a control, a channel group with SET_TIMESLICE, a dup of the
/// memory into a second kernel client, and frees. Returns the first failure.
pub(crate) fn self_test() -> core::result::Result<(), &'static str> {
    use crate::fgcore::nvabi::{class::*, ctrl::*};
    // SAFETY: all-zero is a valid `RmOps` (null pointers, no callbacks).
    let mut ops: RmOps = unsafe { core::mem::zeroed() };
    ops.version_string = c"1.0".as_char_ptr();
    // SAFETY: `ops` is writable and its version string NUL-terminated.
    if unsafe { nvsim_rust_get_rm_ops(&mut ops) } != NV_ERR_GENERIC
        || ops.version_string != version_c().as_char_ptr()
    {
        return Err("version mismatch not reported");
    }
    // SAFETY: as above; now with the driver's own string.
    if unsafe { nvsim_rust_get_rm_ops(&mut ops) } != NV_OK {
        return Err("handshake");
    }
    let opf = ops.op.ok_or("no op")?;
    let call = |op: u32, params: &[u8]| -> KVec<u8> {
        let mut b = KVec::from_elem(0u8, NvKernelRmapiOps::SIZE, GFP_KERNEL).unwrap_or_default();
        if b.len() == NvKernelRmapiOps::SIZE {
            b[..4].copy_from_slice(&op.to_le_bytes());
            b[8..8 + params.len()].copy_from_slice(params);
            // SAFETY: `b` is a 72-byte `nvidia_kernel_rmapi_ops_t` whose
            // parameter pointers (set by the callers below) point at live
            // kernel buffers of the sizes the op reads.
            unsafe { opf(core::ptr::null_mut(), b.as_mut_ptr().cast()) };
        }
        b
    };
    let alloc =
        |root: u32, parent: u32, class: u32, params: &mut [u8]| -> core::result::Result<u32, u32> {
            let mut p = Nvos64::ZERO;
            (p.h_root, p.h_object_parent, p.h_class) = (root, parent, class);
            p.p_alloc_parms = if params.is_empty() {
                0
            } else {
                params.as_mut_ptr() as usize as u64
            };
            p.params_size = params.len() as u32;
            let mut b = [0u8; 48];
            p.write(&mut b);
            let out = Nvos64::read(&call(NV04_ALLOC, &b)[8..]).ok_or(NV_ERR_GENERIC)?;
            if out.status == NV_OK {
                Ok(out.h_object_new)
            } else {
                Err(out.status)
            }
        };
    let control = |client: u32, obj: u32, cmd: u32, params: &mut [u8]| -> u32 {
        let mut p = Nvos54::ZERO;
        (p.h_client, p.h_object, p.cmd) = (client, obj, cmd);
        p.params = params.as_mut_ptr() as usize as u64;
        p.params_size = params.len() as u32;
        let mut b = [0u8; 32];
        p.write(&mut b);
        Nvos54::read(&call(NV04_CONTROL, &b)[8..]).map_or(NV_ERR_GENERIC, |o| o.status)
    };
    let free = |client: u32, obj: u32| -> u32 {
        let mut b = [0u8; 16];
        Nvos00 {
            h_root: client,
            h_object_parent: 0,
            h_object_old: obj,
            status: 0,
        }
        .write(&mut b);
        Nvos00::read(&call(NV01_FREE, &b)[8..]).map_or(NV_ERR_GENERIC, |o| o.status)
    };
    let used0 = RM.lock().gpu(0).map(|g| g.heap_used()).ok_or("no gpu")?;
    let mut h = [0u8; 4];
    let c1 = alloc(0, 0, NV01_ROOT_CLIENT, &mut h).map_err(|_| "client")?;
    let c2 = alloc(0, 0, NV01_ROOT_CLIENT, &mut h).map_err(|_| "client 2")?;
    let mut dp = [0u8; 56];
    let d1 = alloc(c1, c1, NV01_DEVICE_0, &mut dp).map_err(|_| "device")?;
    let d2 = alloc(c2, c2, NV01_DEVICE_0, &mut dp).map_err(|_| "device 2")?;
    let mut sp = [0u8; 4];
    let s1 = alloc(c1, d1, NV20_SUBDEVICE_0, &mut sp).map_err(|_| "subdevice")?;
    let mut mp = [0u8; 128];
    let mut m = NvMemoryAllocationParams::ZERO;
    (m.owner, m.size) = (1, 1 << 20);
    m.write(&mut mp);
    let mem = alloc(c1, d1, NV01_MEMORY_LOCAL_USER, &mut mp).map_err(|_| "vidmem")?;
    let mut fb = [0u8; 1028];
    let mut q = Nv2080CtrlFbGetInfoV2Params::ZERO;
    q.fb_info_list_size = 1;
    q.fb_info_list[0].index = NV2080_CTRL_FB_INFO_INDEX_HEAP_FREE;
    q.write(&mut fb);
    // The branch's block (NV2080_CTRL_FB_INFO_MAX_LIST_SIZE entries).
    let fb_len = crate::branch::current().fb_info_v2_size();
    if control(c1, s1, NV2080_CTRL_CMD_FB_GET_INFO_V2, &mut fb[..fb_len]) != NV_OK {
        return Err("FB_GET_INFO_V2");
    }
    let mut tp = [0u8; 20];
    tp[12] = 1; // engineType GR0
    let tsg = alloc(c1, d1, KEPLER_CHANNEL_GROUP_A, &mut tp).map_err(|_| "tsg")?;
    let mut ts = 4000u64.to_le_bytes();
    if control(c1, tsg, NVA06C_CTRL_CMD_SET_TIMESLICE, &mut ts) != NV_OK {
        return Err("SET_TIMESLICE");
    }
    // Dup the memory and the TSG into the second client (kernel privilege).
    let mut b = [0u8; 28];
    Nvos55 {
        h_client: c2,
        h_parent: d2,
        h_object: 0,
        h_client_src: c1,
        h_object_src: mem,
        flags: 0,
        status: 0,
    }
    .write(&mut b);
    let dup = Nvos55::read(&call(NV04_DUP_OBJECT, &b)[8..]).ok_or("dup")?;
    if dup.status != NV_OK {
        return Err("dup memory");
    }
    Nvos55 {
        h_client: c2,
        h_parent: d2,
        h_object: 0,
        h_client_src: c1,
        h_object_src: tsg,
        flags: 0,
        status: 0,
    }
    .write(&mut b);
    let tdup = Nvos55::read(&call(NV04_DUP_OBJECT, &b)[8..]).ok_or("dup")?;
    let mut ts = [0u8; 8];
    if tdup.status != NV_OK
        || control(c2, tdup.h_object, NVA06C_CTRL_CMD_GET_TIMESLICE, &mut ts) != NV_OK
    {
        return Err("dup tsg");
    }
    if u64::from_le_bytes(ts) != 4000 {
        return Err("dup shares the TSG");
    }
    if free(c1, c1) != NV_OK {
        return Err("free client");
    }
    // The dup keeps the memory charged until it goes.
    let used1 = RM.lock().gpu(0).map(|g| g.heap_used()).ok_or("no gpu")?;
    if used1 != used0 + (1 << 20) {
        return Err("dup keeps memory");
    }
    if free(c2, c2) != NV_OK {
        return Err("free client 2");
    }
    let used2 = RM.lock().gpu(0).map(|g| g.heap_used()).ok_or("no gpu")?;
    if used2 != used0 {
        return Err("heap back");
    }
    Ok(())
}
