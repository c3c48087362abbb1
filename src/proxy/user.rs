// SPDX-License-Identifier: GPL-2.0

//! Copies between the caller's memory and the proxy's.

use crate::fgcore::nvabi::{
    decode::{Decoded, NestedRef},
    wire::rd_u32,
};
use kernel::{
    prelude::*,
    uaccess::{UserPtr, UserSlice},
};

/// Largest parameter block the vendor accepts (`NV_ABSOLUTE_MAX_IOCTL_SIZE`).
pub(super) const MAX_PARAMS: usize = 16384;

/// The RM status in a copy `outer` of call `d`'s block.
pub(super) fn status_of(d: &Decoded, outer: &[u8]) -> Option<u32> {
    rd_u32(outer, d.status_offset()?)
}

pub(super) fn read_user(addr: usize, buf: &mut [u8]) -> Result {
    UserSlice::new(UserPtr::from_addr(addr), buf.len())
        .reader()
        .read_slice(buf)
}

pub(super) fn write_user(addr: usize, buf: &[u8]) -> Result {
    UserSlice::new(UserPtr::from_addr(addr), buf.len())
        .writer()
        .write_slice(buf)
}

pub(super) fn read_back(addr: usize, len: usize) -> Result<KVec<u8>> {
    let mut v = KVec::from_elem(0u8, len, GFP_KERNEL)?;
    read_user(addr, &mut v)?;
    Ok(v)
}

pub(super) fn read_nested(n: &NestedRef) -> Result<KVec<u8>> {
    if n.ptr == 0 || n.size == 0 {
        return Ok(KVec::new());
    }
    if n.size > MAX_PARAMS {
        return Err(EINVAL);
    }
    read_back(n.ptr as usize, n.size)
}
