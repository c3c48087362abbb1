// SPDX-License-Identifier: GPL-2.0

//! The decoder: from `(file kind, command, argument bytes)` to a typed view
//! of the call, without allocation and without panicking on any input.
//!
//! Levels, one file each (imports pointing down: [`outer`] → [`alloc`],
//! [`control`], [`uvm_calls`] → [`kinds`]):
//!
//! 1. [`decode`] looks at the ioctl argument block (what the driver copies
//!    from the ioctl's user pointer) and returns a [`Decoded`]. For calls
//!    whose interesting part lives behind a user pointer (RM_ALLOC's
//!    `pAllocParms`, RM_CONTROL's `params`, XFER's `ptr`) it reports where
//!    that pointer is and how many bytes the driver will copy from it
//!    ([`Decoded::nested`]).
//! 2. Given those nested bytes, [`Decoded::decode_nested`] (or
//!    [`decode_alloc_params`] / [`decode_control_params`]) returns the typed
//!    nested view: memory sizes, scheduling arguments, fds in controls.
//!
//! Fields the proxy may have to rewrite (fds) are reported with their
//! offset inside the block they live in ([`FdField`]).
//!
//! **How a proxy should treat [`Body::Rejected`]**: the driver would refuse
//! the call (wrong size, wrong file, no handler). The proxy should fail it
//! itself (`-EINVAL`) rather than forward it unaccounted: if this decoder
//! disagreed with the driver, forwarding would turn the disagreement into a
//! cap bypass, while failing only turns it into a visible error.
//!
//! The same applies to [`Body::Unknown`] (a command this ABI does not know)
//! and to [`AllocParams::Serialized`] / [`ControlParams::Serialized`]
//! (FINN-serialized blocks, whose layout is not the plain struct).

mod alloc;
mod control;
mod kinds;
mod outer;
mod uvm_calls;

pub use alloc::*;
pub use control::*;
pub use kinds::*;
pub use outer::*;
