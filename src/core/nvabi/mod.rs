// SPDX-License-Identifier: GPL-2.0

//! The NVIDIA resource-manager (RM) user/kernel ABI of driver 580 on
//! x86_64, declared by us, and a decoder over it.
//!
//! - [`wire`]: the [`wire::Wire`] trait (safe little-endian read/write of
//!   every structure) and the declaration macros;
//! - [`branch`]: where driver branches other than 580 differ (550);
//! - [`status`]: `NV_STATUS` codes and [`status::status_name`];
//! - [`escape`]: `/dev/nvidiactl` and `/dev/nvidiaN` escapes, ioctl encoding,
//!   the `nv_ioctl_*` blocks;
//! - [`rm`]: the `NVOSxx` blocks of the RM escapes;
//! - [`class`]: RM classes and their allocation parameters;
//! - [`ctrl`]: RM controls and their parameters;
//! - [`uvm`]: `/dev/nvidia-uvm` ioctls;
//! - [`mod@decode`]: the decoder (what a call is; what the proxy does
//!   with it is [`crate::policy`]'s);
//! - [`rewrite`]: memory-info reply rewriting;
//! - [`kapi`]: the kernel-side RM API blocks (`nvidia_get_rm_ops`);
//! - [`sim`]: what nvsim's simulated engine reads (USERD, doorbell, entries).
//!
//! # What is verified
//!
//! Every structure's size and every field offset are asserted at compile
//! time against the numbers written in its declaration, and the declaration
//! has no implicit padding. Those numbers, and every constant in the
//! `abi_consts!` tables, were checked against the headers of NVIDIA's
//! open-gpu-kernel-modules tag **580.142** by compiling C assertions with
//! gcc (the `layout_check` test emits them; see its documentation to rerun).
//! Which class takes which parameter block was transcribed by hand from
//! `resource_list.h`, and escape file/size rules from `nv.c`/`escape.c`
//! (580.142). The machine this targets runs 580.159.04, whose source was not
//! available; the research notes found no ABI change inside the 580 branch.
//! Newer branches (590+) change these layouts: do not use them there.

#[macro_use]
pub mod wire;
pub mod branch;
pub mod class;
pub mod ctrl;
pub mod decode;
pub mod escape;
pub mod kapi;
pub mod rewrite;
pub mod rm;
pub mod sim;
pub mod status;
pub mod uvm;

#[cfg(all(test, not(MODULE)))]
mod layout_check;
#[cfg(all(test, not(MODULE)))]
mod tests;

pub use branch::Branch;
pub use decode::{
    decode, decode_alloc_params, decode_alloc_params_for, decode_control_params,
    decode_control_params_for, decode_for, decode_nv, Decoded, FileKind,
};
pub use rewrite::{
    fb_info_v1_list_bytes, heap_info_reply, heap_info_request, rewrite_fb_info_v2,
    rewrite_memory_info,
};
pub use status::status_name;
