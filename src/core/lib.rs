// SPDX-License-Identifier: GPL-2.0

//! fakegpu's pure core: logic that needs no kernel.
//!
//! This file is both the root of the `fakegpu-core` cargo package (built and
//! tested on the host) and a module of the kernel crate (`#[path]` from
//! `src/fakegpu_main.rs`), so the kernel runs exactly the code that was tested.
//! Rules for everything under this directory:
//!
//! - `no_std`, no allocation, no `unsafe`, no panics on any input;
//! - only `core` is used, so the same source compiles in both places;
//! - items are `pub` so that cargo tests and the module can reach them.

#![cfg_attr(not(any(test, MODULE)), no_std)]
#![forbid(unsafe_code)]
#![allow(unreachable_pub, dead_code, unused_imports)]

pub mod admission;
pub mod drivers;
pub mod ledger;
pub mod limits;
pub mod managed;
pub mod mgmt;
pub mod nvabi;
pub mod objects;
pub mod policy;
pub mod quantity;
pub mod sched;
pub mod visibility;
