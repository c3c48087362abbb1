// SPDX-License-Identifier: GPL-2.0

//! Rewriting memory-info replies so a tenant sees its cap as the card.
//!
//! Given `cap` (bytes the tenant may use) and `used` (bytes charged to it),
//! after the driver answered:
//!
//! - "total" entries become `min(real, cap)`;
//! - "free" entries become `min(real, cap - used)` (saturating at 0).
//!
//! Taking the minimum with the real value keeps the answer honest when the
//! cap is larger than the card, or when other tenants have taken memory
//! the cap would otherwise promise. There is no "used" index in the FB info
//! list: tools derive used as total − free (− reserved), which then comes
//! out as at most `used` (plus whatever other entries they subtract).
//!
//! FB info data is in KiB and 32 bits wide; values are rounded down to
//! whole KiB and saturate at `u32::MAX`. Nothing here allocates or panics.

use super::ctrl::*;
use super::rm::{Nvos32, NVOS32_FUNCTION_INFO};
use super::wire::{rd_u32, rd_u64, wr_u32, wr_u64, Wire};
use core::mem::offset_of;

/// How an FB info index is rewritten.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FbInfoRole {
    /// A total: becomes `min(real, cap)`.
    Total,
    /// A free amount: becomes `min(real, cap - used)`.
    Free,
    /// Left alone.
    Keep,
}

/// The role of an `NV2080_CTRL_FB_INFO_INDEX_*` in the rewrite.
pub const fn fb_info_role(index: u32) -> FbInfoRole {
    match index {
        NV2080_CTRL_FB_INFO_INDEX_RAM_SIZE
        | NV2080_CTRL_FB_INFO_INDEX_TOTAL_RAM_SIZE
        | NV2080_CTRL_FB_INFO_INDEX_HEAP_SIZE
        | NV2080_CTRL_FB_INFO_INDEX_MAPPABLE_HEAP_SIZE
        | NV2080_CTRL_FB_INFO_INDEX_USABLE_RAM_SIZE => FbInfoRole::Total,
        NV2080_CTRL_FB_INFO_INDEX_HEAP_FREE
        | NV2080_CTRL_FB_INFO_INDEX_LARGEST_FREE_REGION_SIZE_KB => FbInfoRole::Free,
        _ => FbInfoRole::Keep,
    }
}

fn kib_u32(bytes: u64) -> u32 {
    u32::try_from(bytes / 1024).unwrap_or(u32::MAX)
}

/// Rewrites up to `count` `{index, data}` pairs at the start of `list`
/// (entries beyond the slice are ignored). Returns the number of entries
/// changed.
pub fn rewrite_fb_info_list(list: &mut [u8], count: u32, cap: u64, used: u64) -> usize {
    let total_kib = kib_u32(cap);
    let free_kib = kib_u32(cap.saturating_sub(used));
    let mut changed = 0;
    for i in 0..count.min(NV2080_CTRL_FB_INFO_MAX_LIST_SIZE) as usize {
        let at = i * 8;
        let (index, data) = match (rd_u32(list, at), rd_u32(list, at + 4)) {
            (Some(i), Some(d)) => (i, d),
            _ => break,
        };
        let new = match fb_info_role(index) {
            FbInfoRole::Total => data.min(total_kib),
            FbInfoRole::Free => data.min(free_kib),
            FbInfoRole::Keep => data,
        };
        if new != data && wr_u32(list, at + 4, new) {
            changed += 1;
        }
    }
    changed
}

/// Rewrites an `NV2080_CTRL_FB_GET_INFO_V2_PARAMS` reply in place. Returns
/// the number of entries changed.
pub fn rewrite_fb_info_v2(params: &mut [u8], cap: u64, used: u64) -> usize {
    let count = match rd_u32(
        params,
        offset_of!(Nv2080CtrlFbGetInfoV2Params, fb_info_list_size),
    ) {
        Some(c) => c,
        None => return 0,
    };
    match params.get_mut(offset_of!(Nv2080CtrlFbGetInfoV2Params, fb_info_list)..) {
        Some(list) => rewrite_fb_info_list(list, count, cap, used),
        None => 0,
    }
}

/// Rewrites an `NV_ESC_RM_VID_HEAP_CONTROL` reply of function INFO
/// (`total`/`free` in bytes). Returns whether anything was changed; other
/// functions are left alone.
pub fn rewrite_vid_heap_info(params: &mut [u8], cap: u64, used: u64) -> bool {
    if rd_u32(params, offset_of!(Nvos32, function)) != Some(NVOS32_FUNCTION_INFO) {
        return false;
    }
    let (t_off, f_off) = (offset_of!(Nvos32, total), offset_of!(Nvos32, free));
    let (total, free) = match (rd_u64(params, t_off), rd_u64(params, f_off)) {
        (Some(t), Some(f)) => (t, f),
        _ => return false,
    };
    let (nt, nf) = (total.min(cap), free.min(cap.saturating_sub(used)));
    let changed = nt != total || nf != free;
    changed && wr_u64(params, t_off, nt) && wr_u64(params, f_off, nf)
}

/// Rewrites the memory-info reply of a decoded call. `outer` is the ioctl
/// block; `nested` the control's parameter block (FB_GET_INFO_V2) or, for
/// the v1 FB_GET_INFO, the entry list fetched through
/// [`super::decode::ControlParams::FbInfoV1`]'s `list`. Returns the number
/// of values changed (0 for calls that are not memory info).
pub fn rewrite_memory_info(
    d: &super::decode::Decoded,
    outer: &mut [u8],
    nested: &mut [u8],
    cap: u64,
    used: u64,
) -> usize {
    use super::decode::Body;
    match &d.body {
        Body::VidHeap(_) => usize::from(rewrite_vid_heap_info(outer, cap, used)) * 2,
        Body::Control(c) if c.serialized => 0,
        Body::Control(c) if c.cmd == NV2080_CTRL_CMD_FB_GET_INFO_V2 => {
            rewrite_fb_info_v2(nested, cap, used)
        }
        _ => 0,
    }
}

/// FB_GET_INFO (v1) as the RM's deprecated layer converts it to
/// FB_GET_INFO_V2 (`rmapi_deprecated_control.c`: `CONVERT_TO_V2`,
/// `ctrlparamAcquire`, the same in 550 and 580): how many bytes of the v1
/// list (`count` entries of `NV2080_CTRL_FB_INFO`) are copied into the
/// list of a V2 block of `v2_size` bytes (and back out after an NV_OK), or
/// the status the RM answers: `NV_ERR_OUT_OF_RANGE` past the V2 list's
/// bound. A count of 0 copies nothing and still runs the V2 control.
pub fn fb_info_v1_list_bytes(count: u32, v2_size: usize) -> Result<usize, u32> {
    let entry = Nv2080CtrlFbInfo::SIZE;
    let max = v2_size.saturating_sub(offset_of!(Nv2080CtrlFbGetInfoV2Params, fb_info_list)) / entry;
    match usize::try_from(count) {
        Ok(n) if n <= max => Ok(n * entry),
        _ => Err(super::status::NV_ERR_OUT_OF_RANGE),
    }
}

/// The FB_GET_INFO_V2 indices VID_HEAP_CONTROL's NVOS32_FUNCTION_INFO is
/// answered from (`rmapi_deprecated_vidheapctrl.c` `_nvos32FunctionInfo`,
/// the same in 550 and 580), in its order.
pub const HEAP_INFO_INDICES: [u32; 6] = [
    NV2080_CTRL_FB_INFO_INDEX_HEAP_FREE,
    NV2080_CTRL_FB_INFO_INDEX_HEAP_SIZE,
    NV2080_CTRL_FB_INFO_INDEX_FB_TAX_SIZE_KB,
    NV2080_CTRL_FB_INFO_INDEX_HEAP_BASE_KB,
    NV2080_CTRL_FB_INFO_INDEX_LARGEST_FREE_REGION_SIZE_KB,
    NV2080_CTRL_FB_INFO_INDEX_LARGEST_FREE_REGION_BASE_KB,
];

/// Fills the FB_GET_INFO_V2 block `v2` with the request of
/// [`HEAP_INFO_INDICES`] (data zero).
pub fn heap_info_request(v2: &mut [u8]) {
    v2.fill(0);
    let list = offset_of!(Nv2080CtrlFbGetInfoV2Params, fb_info_list);
    wr_u32(
        v2,
        offset_of!(Nv2080CtrlFbGetInfoV2Params, fb_info_list_size),
        6,
    );
    for (i, index) in HEAP_INFO_INDICES.iter().enumerate() {
        wr_u32(v2, list + i * Nv2080CtrlFbInfo::SIZE, *index);
    }
}

/// Writes `_nvos32FunctionInfo`'s answer from the FB_GET_INFO_V2 reply `v2`
/// into the NVOS32 block `nvos32`, as the RM does whatever the control
/// returned (`ok` false: the control failed, and its zeroed request's
/// values, zeros, are written): `free` = HEAP_FREE, `total` = HEAP_SIZE +
/// FB_TAX_SIZE (vGPU), and `data.Info`'s `base`, `size` and `offset` =
/// HEAP_BASE, LARGEST_FREE_REGION_SIZE and _BASE, all KiB shifted to bytes.
pub fn heap_info_reply(v2: &[u8], ok: bool, nvos32: &mut [u8]) {
    let list = offset_of!(Nv2080CtrlFbGetInfoV2Params, fb_info_list);
    let kib = |i: usize| match ok {
        true => u64::from(rd_u32(v2, list + i * Nv2080CtrlFbInfo::SIZE + 4).unwrap_or(0)) << 10,
        false => 0,
    };
    let data = offset_of!(Nvos32, data);
    wr_u64(nvos32, offset_of!(Nvos32, free), kib(0));
    wr_u64(
        nvos32,
        offset_of!(Nvos32, total),
        kib(1).saturating_add(kib(2)),
    );
    // NVOS32_PARAMETERS.data.Info: attr @0, offset @8, size @16, base @24.
    wr_u64(nvos32, data + 24, kib(3));
    wr_u64(nvos32, data + 16, kib(4));
    wr_u64(nvos32, data + 8, kib(5));
}

#[cfg(all(test, not(MODULE)))]
mod tests {
    use super::super::wire::Wire;
    use super::*;

    const GIB: u64 = 1 << 30;

    fn v2(entries: &[(u32, u32)]) -> [u8; 1028] {
        let mut p = Nv2080CtrlFbGetInfoV2Params::ZERO;
        p.fb_info_list_size = entries.len() as u32;
        for (i, (index, data)) in entries.iter().enumerate() {
            p.fb_info_list[i] = Nv2080CtrlFbInfo {
                index: *index,
                data: *data,
            };
        }
        let mut b = [0u8; 1028];
        assert!(p.write(&mut b));
        b
    }

    #[test]
    fn heap_info_is_answered_from_six_indices() {
        let mut v2 = [0u8; 1028];
        heap_info_request(&mut v2);
        let p = Nv2080CtrlFbGetInfoV2Params::read(&v2).unwrap();
        assert_eq!(p.fb_info_list_size, 6);
        assert_eq!(p.fb_info_list[1].index, NV2080_CTRL_FB_INFO_INDEX_HEAP_SIZE);
        // 10 GiB heap, 7 GiB free, 1 MiB tax, base 2 MiB, largest free
        // 6 GiB at 3 GiB; rewritten for a 4 GiB cap with 1 GiB used.
        let mut q = p;
        for (i, kib) in [7u32 << 20, 10 << 20, 1 << 10, 2 << 10, 6 << 20, 3 << 20]
            .iter()
            .enumerate()
        {
            q.fb_info_list[i].data = *kib;
        }
        assert!(q.write(&mut v2));
        assert_eq!(rewrite_fb_info_v2(&mut v2, 4 * GIB, GIB), 3);
        let mut b = [0u8; Nvos32::SIZE];
        heap_info_reply(&v2, true, &mut b);
        let o = Nvos32::read(&b).unwrap();
        assert_eq!((o.total, o.free), (4 * GIB + (1 << 20), 3 * GIB));
        let info = |at: usize| rd_u64(&o.data, at).unwrap();
        assert_eq!((info(8), info(16), info(24)), (3 * GIB, 3 * GIB, 2 << 20));
        // A failed control: zeros, whatever the block held.
        heap_info_reply(&v2, false, &mut b);
        let o = Nvos32::read(&b).unwrap();
        assert_eq!((o.total, o.free, rd_u64(&o.data, 16).unwrap()), (0, 0, 0));
    }

    #[test]
    fn v1_list_bound_is_the_v2_blocks() {
        use super::super::status::NV_ERR_OUT_OF_RANGE;
        // 580: 1028 bytes, 128 entries; 550: 444 bytes, 55 entries.
        assert_eq!(fb_info_v1_list_bytes(0, 1028), Ok(0));
        assert_eq!(fb_info_v1_list_bytes(3, 1028), Ok(24));
        assert_eq!(fb_info_v1_list_bytes(128, 1028), Ok(1024));
        assert_eq!(fb_info_v1_list_bytes(129, 1028), Err(NV_ERR_OUT_OF_RANGE));
        assert_eq!(fb_info_v1_list_bytes(55, 444), Ok(440));
        assert_eq!(fb_info_v1_list_bytes(56, 444), Err(NV_ERR_OUT_OF_RANGE));
        assert_eq!(
            fb_info_v1_list_bytes(u32::MAX, 1028),
            Err(NV_ERR_OUT_OF_RANGE)
        );
    }

    #[test]
    fn v2_caps_totals_and_free() {
        let kib80g = (80 * GIB / 1024) as u32;
        let mut b = v2(&[
            (NV2080_CTRL_FB_INFO_INDEX_RAM_SIZE, kib80g),
            (NV2080_CTRL_FB_INFO_INDEX_HEAP_SIZE, kib80g - 1000),
            (NV2080_CTRL_FB_INFO_INDEX_HEAP_FREE, kib80g - 5000),
            (NV2080_CTRL_FB_INFO_INDEX_BAR1_SIZE, 12345),
        ]);
        let n = rewrite_fb_info_v2(&mut b, 10 * GIB, 3 * GIB);
        assert_eq!(n, 3);
        let p = Nv2080CtrlFbGetInfoV2Params::read(&b).unwrap();
        assert_eq!(p.fb_info_list[0].data, (10 * GIB / 1024) as u32);
        assert_eq!(p.fb_info_list[1].data, (10 * GIB / 1024) as u32);
        assert_eq!(p.fb_info_list[2].data, (7 * GIB / 1024) as u32);
        assert_eq!(p.fb_info_list[3].data, 12345);
    }

    #[test]
    fn v2_over_cap_and_real_is_smaller() {
        let mut b = v2(&[
            (NV2080_CTRL_FB_INFO_INDEX_HEAP_FREE, 100),
            (NV2080_CTRL_FB_INFO_INDEX_HEAP_SIZE, 1000),
        ]);
        // used above cap: free saturates at 0.
        assert_eq!(rewrite_fb_info_v2(&mut b, GIB, 2 * GIB), 1);
        let p = Nv2080CtrlFbGetInfoV2Params::read(&b).unwrap();
        assert_eq!(p.fb_info_list[0].data, 0);
        // real total (1000 KiB) below the cap stays.
        assert_eq!(p.fb_info_list[1].data, 1000);
    }

    #[test]
    fn v2_bogus_count_is_clamped() {
        let mut b = v2(&[(NV2080_CTRL_FB_INFO_INDEX_HEAP_FREE, 100)]);
        b[..4].copy_from_slice(&u32::MAX.to_le_bytes());
        let _ = rewrite_fb_info_v2(&mut b, 0, 0);
        let _ = rewrite_fb_info_v2(&mut b[..7], 0, 0);
        assert_eq!(rewrite_fb_info_v2(&mut [], 0, 0), 0);
    }

    #[test]
    fn vid_heap_info() {
        let mut h = Nvos32::ZERO;
        h.function = NVOS32_FUNCTION_INFO;
        h.total = 80 * GIB;
        h.free = 70 * GIB;
        let mut b = [0u8; 184];
        assert!(h.write(&mut b));
        assert!(rewrite_vid_heap_info(&mut b, 8 * GIB, 6 * GIB));
        let r = Nvos32::read(&b).unwrap();
        assert_eq!((r.total, r.free), (8 * GIB, 2 * GIB));
        // Not INFO: untouched.
        h.function = 2;
        assert!(h.write(&mut b));
        assert!(!rewrite_vid_heap_info(&mut b, 8 * GIB, 6 * GIB));
        assert_eq!(Nvos32::read(&b).unwrap().total, 80 * GIB);
    }
}
