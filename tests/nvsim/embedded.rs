// SPDX-License-Identifier: GPL-2.0

//! Controls whose block holds a pointer to a second block
//! (`embedded_param_copy.c`, run by the RM before the control table: the
//! second block is copied in, the control runs, and it is copied out).
//! nvsim has the one NVIDIA's 550 libcuda sends in cuInit:
//! NV2080_CTRL_CMD_GR_GET_INFO (`grInfoList` of `grInfoListSize` 8-byte
//! {index, data} entries), answered as `subdeviceCtrlCmdKGrGetInfo_IMPL`
//! does, through the inline-list V2 control.

use crate::{
    branch,
    ctrl::NV2080_CTRL_CMD_GR_GET_INFO_V2,
    fgcore::nvabi::{ctrl::NV2080_CTRL_CMD_GR_GET_INFO, rm::Nvos54, status::*},
    file::{read_user, u64_at, write_user, NvFile},
};
use kernel::prelude::*;

/// sizeof(NV2080_CTRL_GR_GET_INFO_PARAMS): grInfoListSize @0, grInfoList
/// @8, grRouteInfo @16 (the same in 550 and 580).
const GR_GET_INFO_SIZE: usize = 32;
/// `RMAPI_PARAM_COPY_MAX_PARAMS_SIZE`: the most an embedded copy takes.
const PARAM_COPY_MAX: usize = 1 << 20;

/// The status if `p` is a control nvsim copies a second block for, else
/// `None`.
pub(crate) fn control(f: &NvFile, p: &Nvos54) -> Option<u32> {
    match p.cmd {
        NV2080_CTRL_CMD_GR_GET_INFO => Some(gr_get_info(f, p)),
        _ => None,
    }
}

fn gr_get_info(f: &NvFile, p: &Nvos54) -> u32 {
    // CHECK_PARAMS_OR_RETURN: the outer block's size.
    if p.params_size as usize != GR_GET_INFO_SIZE || p.params == 0 {
        return NV_ERR_INVALID_ARGUMENT;
    }
    let mut b = [0u8; GR_GET_INFO_SIZE];
    if read_user(p.params, &mut b).is_err() {
        return NV_ERR_INVALID_POINTER;
    }
    let n = u32::from_le_bytes([b[0], b[1], b[2], b[3]]) as usize;
    let list = u64_at(&b, 8);
    // rmapiParamsCopyIn: a null list is refused, as is a copy past the
    // bound; the handler then takes at most NV2080_CTRL_GR_INFO_MAX_SIZE.
    if list == 0 || n.saturating_mul(8) > PARAM_COPY_MAX {
        return NV_ERR_INVALID_ARGUMENT;
    }
    let max = branch::current().gr_info_max;
    let take = n.min(max);
    let mut entries = match KVec::from_elem(0u8, 8 * take, GFP_KERNEL) {
        Ok(v) => v,
        Err(_) => return NV_ERR_NO_MEMORY,
    };
    if read_user(list, &mut entries).is_err() {
        return NV_ERR_INVALID_POINTER;
    }
    // The V2 block: grInfoListSize @0, grInfoList[max] @4, grRouteInfo
    // (8-aligned) after it.
    let route_at = (4 + 8 * max).next_multiple_of(8);
    let mut v2 = match KVec::from_elem(0u8, route_at + 16, GFP_KERNEL) {
        Ok(v) => v,
        Err(_) => return NV_ERR_NO_MEMORY,
    };
    v2[0..4].copy_from_slice(&(take as u32).to_le_bytes());
    v2[4..4 + 8 * take].copy_from_slice(&entries);
    v2[route_at..route_at + 16].copy_from_slice(&b[16..32]);
    let s = f.control_kernel_params(
        p.h_client,
        p.h_object,
        NV2080_CTRL_CMD_GR_GET_INFO_V2,
        &mut v2,
    );
    if s != NV_OK {
        return s;
    }
    if write_user(list, &v2[4..4 + 8 * take]).is_err() {
        return NV_ERR_INVALID_POINTER;
    }
    NV_OK
}
