// SPDX-License-Identifier: GPL-2.0

//! fakegpu: share one GPU between containers with hard isolation.
//!
//! This crate is the kernel glue. All logic that needs no kernel lives in
//! [`fgcore`] (`src/core/`), a `no_std` cargo package compiled into this
//! module from the same source that is unit-, property- and fuzz-tested on
//! the host. All `unsafe` code is confined to the FFI edge files
//! ([`sysfs`]); the rest of the crate uses safe APIs only.

use kernel::prelude::*;

#[path = "core/lib.rs"]
#[allow(missing_docs, clippy::all)]
pub(crate) mod fgcore;

mod selftest;
mod sysfs;

module! {
    type: FakeGpu,
    name: "fakegpu",
    authors: ["fakegpu developers"],
    description: "Share one GPU between containers: memory caps, compute slices, proxy nodes",
    license: "GPL",
}

/// Version of the module and of its sysfs ABI, as `version` reports it.
pub(crate) const VERSION: &str = "0.1.0";

/// The loaded module.
struct FakeGpu {
    /// `/sys/kernel/fakegpu/`; dropping it removes the directory.
    _root: sysfs::Dir,
}

fn show_version(_dir: sysfs::DirKey, out: &mut sysfs::ShowBuf<'_>) -> Result {
    out.line(format_args!("{VERSION}"))
}

/// `/sys/kernel/fakegpu/version` (read-only, world-readable).
static VERSION_ATTR: sysfs::Attr = sysfs::Attr::read_only(c"version", show_version);
static ROOT_ATTRS: sysfs::AttrList<1> = sysfs::AttrList::new([&VERSION_ATTR]);
static ROOT_GROUP: sysfs::Group = sysfs::Group::new(&ROOT_ATTRS);

impl kernel::Module for FakeGpu {
    fn init(_module: &'static ThisModule) -> Result<Self> {
        let root = sysfs::Dir::new_in_kernel_kobj(c"fakegpu")?;
        root.add_group(&ROOT_GROUP)?;
        pr_info!("fakegpu {VERSION} loaded: /sys/kernel/fakegpu\n");
        Ok(Self { _root: root })
    }
}

impl Drop for FakeGpu {
    fn drop(&mut self) {
        pr_info!("fakegpu {VERSION} unloaded\n");
    }
}
