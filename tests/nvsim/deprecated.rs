// SPDX-License-Identifier: GPL-2.0

//! The RM's deprecated-control layer (`rmapi_deprecated_control.c`, run by
//! `_nv04ControlWithSecInfo` before the control table): old controls with
//! embedded user pointers answered through their V2 form, then copied out
//! to the pointers. nvsim has the one NVIDIA's 550 clients send:
//! NV0000_CTRL_CMD_SYSTEM_GET_BUILD_VERSION (NVML at init, libcuda in
//! cuInit), and NV2080_CTRL_CMD_FB_GET_INFO, whose reply a proxy must not
//! let show the card's own size (the list lives in the caller's memory).
//! Also the RM's VID_HEAP_CONTROL layer (`rmapi_deprecated_vidheapctrl.c`,
//! NV_ESC_RM_VID_HEAP_CONTROL): its INFO function; the allocating and
//! other functions of its table are not simulated (NV_ERR_NOT_SUPPORTED;
//! no client of the captures uses the escape).

use crate::{
    ctrl::{BUILD_VERSION_V2_SIZE, NV0000_CTRL_CMD_SYSTEM_GET_BUILD_VERSION_V2},
    fgcore::nvabi::{
        class::{NV01_DEVICE_0, NV20_SUBDEVICE_0},
        ctrl::{
            Nv2080CtrlFbGetInfoParams, NV0000_CTRL_CMD_SYSTEM_GET_BUILD_VERSION,
            NV2080_CTRL_CMD_FB_GET_INFO, NV2080_CTRL_CMD_FB_GET_INFO_V2,
        },
        fb_info_v1_list_bytes, heap_info_reply, heap_info_request,
        rm::*,
        status::*,
        wire::Wire,
    },
    file::{caller, read_user, u64_at, write_user, NvFile},
    rm::RM,
};
use kernel::prelude::*;

/// sizeof(NV0000_CTRL_SYSTEM_GET_BUILD_VERSION_PARAMS): sizeOfStrings @0,
/// pDriverVersionBuffer @8, pVersionBuffer @16, pTitleBuffer @24,
/// changelistNumber @32, officialChangelistNumber @36.
const BUILD_VERSION_SIZE: usize = 40;

/// The status if `p` is a deprecated control nvsim converts, else `None`.
pub(crate) fn control(f: &NvFile, p: &Nvos54) -> Option<u32> {
    match p.cmd {
        NV0000_CTRL_CMD_SYSTEM_GET_BUILD_VERSION => Some(build_version(f, p)),
        NV2080_CTRL_CMD_FB_GET_INFO => Some(fb_info(f, p)),
        _ => None,
    }
}

/// `_ctrl_convert_v2_NV0000_CTRL_CMD_SYSTEM_GET_BUILD_VERSION`: the V2
/// control first (its failure is the answer); then, with any of the three
/// pointers null, only `sizeOfStrings` (the longest string with its NUL);
/// else each string with its NUL to its pointer, if `sizeOfStrings` is at
/// least that size (else NV_ERR_INVALID_PARAM_STRUCT, as is a failed copy),
/// and the changelist numbers.
fn build_version(f: &NvFile, p: &Nvos54) -> u32 {
    let mut v2 = match KVec::from_elem(0u8, BUILD_VERSION_V2_SIZE, GFP_KERNEL) {
        Ok(v) => v,
        Err(_) => return NV_ERR_NO_MEMORY,
    };
    let s = f.control_kernel_params(
        p.h_client,
        p.h_object,
        NV0000_CTRL_CMD_SYSTEM_GET_BUILD_VERSION_V2,
        &mut v2,
    );
    if s != NV_OK {
        return s;
    }
    // ctrlparamAcquire: the block itself.
    if p.params_size as usize != BUILD_VERSION_SIZE || p.params == 0 {
        return NV_ERR_INVALID_ARGUMENT;
    }
    let mut b = [0u8; BUILD_VERSION_SIZE];
    if read_user(p.params, &mut b).is_err() {
        return NV_ERR_INVALID_POINTER;
    }
    let strs = [&v2[0..256], &v2[256..512], &v2[512..768]];
    let len = |s: &[u8]| s.iter().position(|c| *c == 0).unwrap_or(s.len()) + 1;
    let max = strs.iter().map(|s| len(s)).max().unwrap_or(1);
    let ptrs = [u64_at(&b, 8), u64_at(&b, 16), u64_at(&b, 24)];
    if ptrs.contains(&0) {
        b[0..4].copy_from_slice(&(max as u32).to_le_bytes());
    } else {
        let size = u32::from_le_bytes([b[0], b[1], b[2], b[3]]) as usize;
        if size < max {
            return NV_ERR_INVALID_PARAM_STRUCT;
        }
        for (s, ptr) in strs.iter().zip(ptrs) {
            if write_user(ptr, &s[..len(s).min(s.len())]).is_err() {
                return NV_ERR_INVALID_PARAM_STRUCT;
            }
        }
        b[32..40].copy_from_slice(&v2[768..776]);
    }
    if write_user(p.params, &b).is_err() {
        return NV_ERR_INVALID_POINTER;
    }
    NV_OK
}

/// `_ctrl_convert_v2_NV2080_CTRL_CMD_FB_GET_INFO` (`CONVERT_TO_V2` with
/// the list as a count of `NV2080_CTRL_FB_INFO`, copied in and out):
/// `ctrlparamAcquire` copies `sizeof` the v1 block (16 bytes, whatever
/// `paramsSize` says) and, for a nonzero count, the list
/// (NV_ERR_OUT_OF_RANGE past the V2 list's bound, NV_ERR_INVALID_POINTER
/// for a failed copy); the V1 block and the list go into an FB_GET_INFO_V2
/// block, whose control is the answer; the list is copied back to the
/// caller's (`ctrlparamRelease`): the V2 list after an NV_OK, else what was
/// copied in.
fn fb_info(f: &NvFile, p: &Nvos54) -> u32 {
    type P1 = Nv2080CtrlFbGetInfoParams;
    let mut b = [0u8; P1::SIZE];
    if p.params == 0 || read_user(p.params, &mut b).is_err() {
        return NV_ERR_INVALID_POINTER;
    }
    let Some(v1) = P1::read(&b) else {
        return NV_ERR_INVALID_POINTER;
    };
    let size = crate::branch::current().fb_info_v2_size();
    let bytes = match fb_info_v1_list_bytes(v1.fb_info_list_size, size) {
        Ok(n) => n,
        Err(s) => return s,
    };
    let mut v2 = match KVec::from_elem(0u8, size, GFP_KERNEL) {
        Ok(v) => v,
        Err(_) => return NV_ERR_NO_MEMORY,
    };
    // NVMISC_MEMCPY(pParams2, pParams, sizeof(*pParams)), then the list
    // over the V2 list.
    v2[..P1::SIZE].copy_from_slice(&b);
    if bytes > 0 && read_user(v1.fb_info_list, &mut v2[4..4 + bytes]).is_err() {
        return NV_ERR_INVALID_POINTER;
    }
    let mut list = match KVec::from_elem(0u8, bytes, GFP_KERNEL) {
        Ok(v) => v,
        Err(_) => return NV_ERR_NO_MEMORY,
    };
    list.copy_from_slice(&v2[4..4 + bytes]);
    let s = f.control_kernel_params(
        p.h_client,
        p.h_object,
        NV2080_CTRL_CMD_FB_GET_INFO_V2,
        &mut v2,
    );
    if s == NV_OK {
        list.copy_from_slice(&v2[4..4 + bytes]);
    }
    if bytes > 0 {
        // The copy-out's failure is not reported (ctrlparamRelease).
        let _ = write_user(v1.fb_info_list, &list);
    }
    s
}

/// NV_ESC_RM_VID_HEAP_CONTROL (`RmDeprecatedVidHeapControl`): an IVC heap
/// is NV_ERR_NOT_SUPPORTED; a function not in the RM's table
/// NV_ERR_INVALID_ARGUMENT; INFO as `_nvos32FunctionInfo`. The status goes
/// to `p.status`.
pub(crate) fn vid_heap(f: &NvFile, p: &mut Nvos32) {
    p.status = if p.ivc_heap_number > 0 {
        NV_ERR_NOT_SUPPORTED
    } else {
        match p.function {
            NVOS32_FUNCTION_INFO => heap_info(f, p),
            NVOS32_FUNCTION_ALLOC_SIZE
            | NVOS32_FUNCTION_ALLOC_SIZE_RANGE
            | NVOS32_FUNCTION_ALLOC_TILED_PITCH_HEIGHT
            | NVOS32_FUNCTION_FREE
            | NVOS32_FUNCTION_RELEASE_COMPR
            | NVOS32_FUNCTION_REACQUIRE_COMPR
            | NVOS32_FUNCTION_GET_MEM_ALIGNMENT
            | NVOS32_FUNCTION_HW_ALLOC
            | NVOS32_FUNCTION_HW_FREE
            | NVOS32_FUNCTION_ALLOC_OS_DESCRIPTOR => NV_ERR_NOT_SUPPORTED,
            _ => NV_ERR_INVALID_ARGUMENT,
        }
    };
}

/// `_nvos32FunctionInfo`: `RmDeprecatedFindOrCreateSubDeviceHandle` (the
/// object itself if it is a subdevice; a device's first subdevice, or one
/// allocated for the call and freed after it; any other class
/// NV_ERR_INVALID_ARGUMENT), then FB_GET_INFO_V2 of six indices on it,
/// whose status is the answer and whose values (zero where it failed) fill
/// `free`, `total` and `data.Info`.
fn heap_info(f: &NvFile, p: &mut Nvos32) -> u32 {
    let c = caller(f.os());
    let (sub, temporary) = {
        let mut rm = RM.lock();
        let ci = match rm.client_for(&c, p.h_root) {
            Ok(i) => i,
            Err(s) => return s,
        };
        let class = match rm.client(ci).obj(p.h_object_parent) {
            Some(o) => o.class,
            None => return NV_ERR_OBJECT_NOT_FOUND,
        };
        match class {
            NV20_SUBDEVICE_0 => (p.h_object_parent, false),
            NV01_DEVICE_0 => {
                let found = rm
                    .client(ci)
                    .objs
                    .iter()
                    .find(|o| o.parent == p.h_object_parent && o.class == NV20_SUBDEVICE_0)
                    .map(|o| o.handle);
                match found {
                    Some(h) => (h, false),
                    None => {
                        let mut h = 0u32;
                        let mut params = [0u8; 4];
                        let s = rm.alloc(
                            &c,
                            p.h_root,
                            p.h_object_parent,
                            &mut h,
                            NV20_SUBDEVICE_0,
                            &mut params,
                        );
                        if s != NV_OK {
                            return s;
                        }
                        (h, true)
                    }
                }
            }
            _ => return NV_ERR_INVALID_ARGUMENT,
        }
    };
    let size = crate::branch::current().fb_info_v2_size();
    let mut v2 = match KVec::from_elem(0u8, size, GFP_KERNEL) {
        Ok(v) => v,
        Err(_) => return NV_ERR_NO_MEMORY,
    };
    heap_info_request(&mut v2);
    let s = f.control_kernel_params(p.h_root, sub, NV2080_CTRL_CMD_FB_GET_INFO_V2, &mut v2);
    let mut b = [0u8; Nvos32::SIZE];
    p.write(&mut b);
    heap_info_reply(&v2, s == NV_OK, &mut b);
    if let Some(out) = Nvos32::read(&b) {
        *p = out;
    }
    if temporary {
        let mut freed = KVec::new();
        RM.lock().free(&c, p.h_root, sub, &mut freed);
        drop(freed);
    }
    s
}
