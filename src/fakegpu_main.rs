// SPDX-License-Identifier: GPL-2.0

//! fakegpu: share one GPU between containers with hard isolation.
//!
//! This crate is the kernel glue. All logic that needs no kernel lives in
//! [`fgcore`] (`src/core/`), a `no_std` cargo package compiled into this
//! module from the same source that is unit-, property- and fuzz-tested on
//! the host. `unsafe` code is confined to the FFI edges and the few
//! places that hand raw kernel objects to them: [`sysfs`] (kobjects and
//! attributes), [`miscdev`] (the nodes' file operations), [`vendor`]
//! (calling the vendor's files), [`kapi`] (the vendor's kernel RM API),
//! [`kthread`], [`doorbell`] (gated vmas), [`managed`] (walking a UVM
//! mapping's vmas), `proxy::ops` (passing a vma or poll table on), the
//! scheduler's real-time priority ([`sched`]) and the module reference
//! below. The crate's layers, imports pointing down only, are drawn in
//! the README ("Layout").

use kernel::{bindings, module::this_module, prelude::*};

#[path = "core/lib.rs"]
#[allow(missing_docs, clippy::all)]
pub(crate) mod fgcore;

mod context;
mod doorbell;
mod gate;
mod kapi;
mod kthread;
mod managed;
mod mgmt;
mod miscdev;
mod objects;
mod proxy;
mod registry;
mod sched;
mod selftest;
mod sysfs;
mod vendor;

module! {
    type: FakeGpu,
    name: "fakegpu",
    authors: ["fakegpu developers"],
    description: "Share one GPU between containers: memory caps, compute slices, proxy nodes",
    license: "GPL",
    params: {
        permissive: bool {
            default: false,
            description: "Forward calls the routing table does not route (still counted and logged) and calls of unknown ABIs and unsupported driver versions, instead of refusing them (for bring-up only: it lets a container bypass the caps)",
        },
        stop_channels: bool {
            default: true,
            description: "Stop a context's channels (FIFO_DISABLE_CHANNELS through the vendor's kernel RM API) when its gate shuts, so the work it queued does not run on in the others' time (the drain)",
        },
        sched_period_ms: u32 {
            default: 50,
            description: "Compute scheduler period in ms (1-1000): each busy context gets its share of every period; 50 ms keeps the drain overshoot near 1 point on an H100 (docs/compute-levers.md)",
        },
        sched_switch_loss_pct: u32 {
            default: 18,
            description: "Engine time lost to switching while two or more contexts run together, percent (0-90); the scheduler lengthens shared windows by it so weights hold. 18: H100, 1 ms timeslices, 0.23 ms per switch (docs/compute-levers.md)",
        },
    },
}

/// Whether the module runs in permissive mode (module parameter).
pub(crate) fn permissive() -> bool {
    module_parameters::permissive.value()
}

/// Whether the scheduler stops a shut context's channels (module parameter).
pub(crate) fn stop_channels() -> bool {
    module_parameters::stop_channels.value()
}

/// Engine time lost to switching between running contexts, percent
/// (module parameter, clamped to 0..=90).
pub(crate) fn switch_loss_pct() -> u32 {
    module_parameters::sched_switch_loss_pct.value().min(90)
}

/// Version of the module and of its sysfs ABI, as `version` reports it.
pub(crate) const VERSION: &str = "0.1.0";

/// The loaded module.
struct FakeGpu {
    // Fields drop in order: the management interface (no context exists at
    // unload), then the scheduler thread, then fakegpufs (no context
    // directory and no mount of it exist: each holds the module).
    _mgmt: mgmt::Management,
    _sched: sched::Running,
    _nodefs: miscdev::NodeFs,
}

impl kernel::Module for FakeGpu {
    fn init(_module: &'static ThisModule) -> Result<Self> {
        // SAFETY: the module initializer runs once, before any use.
        unsafe {
            registry::CONTEXTS.init();
            doorbell::DOORBELLS.init();
            gate::WAKER.init();
            kapi::KAPI.init();
            vendor::MET.init();
        }
        bind_vendor()?;
        let nodefs = miscdev::NodeFs::register()?;
        let period = module_parameters::sched_period_ms.value();
        let sched = sched::start(period)?;
        let m = mgmt::Management::new()?;
        pr_info!(
            "fakegpu {VERSION} loaded: /sys/kernel/fakegpu, scheduler period {} ms\n",
            period.clamp(1, 1000)
        );
        Ok(Self {
            _mgmt: m,
            _sched: sched,
            _nodefs: nodefs,
        })
    }
}

/// Binds to the vendor driver if it is loaded: its kernel RM API names its
/// version, which selects the ABI table. A vendor whose branch has no
/// table is refused (the module does not load), unless in permissive
/// mode; one loaded later is checked at each open of its files.
fn bind_vendor() -> Result {
    let mut v = [0u8; 32];
    let Some(n) = kapi::vendor_version(&mut v) else {
        pr_info!("no vendor driver loaded yet: its files are checked when opened\n");
        return Ok(());
    };
    let version = &v[..n];
    vendor::note_driver(b"nvidia", version);
    let shown = core::str::from_utf8(version).unwrap_or("?");
    match fgcore::drivers::lookup(b"nvidia", version) {
        Some(d) => {
            pr_info!(
                "vendor driver {shown}: ABI table of branch {}\n",
                d.branch.name()
            );
            Ok(())
        }
        None if permissive() => {
            pr_warn!(
                "vendor driver {shown} has no ABI table (supported: {}); permissive mode: loading anyway, its files are passed through\n",
                fgcore::drivers::SUPPORTED_VERSIONS
            );
            Ok(())
        }
        None => {
            pr_err!(
                "vendor driver {shown} has no ABI table in fakegpu {VERSION} (supported: {}): not loading\n",
                fgcore::drivers::SUPPORTED_VERSIONS
            );
            Err(ENODEV)
        }
    }
}

impl Drop for FakeGpu {
    fn drop(&mut self) {
        doorbell::release_registry();
        pr_info!("fakegpu {VERSION} unloaded\n");
    }
}

/// A reference on this module: while one exists the module cannot be
/// unloaded (`rmmod` fails with `EBUSY`). Each context holds one.
///
/// # Invariants
///
/// Holds one reference taken by `try_module_get`.
pub(crate) struct ModuleRef(());

impl ModuleRef {
    /// Takes a reference; fails if the module is being unloaded.
    pub(crate) fn get() -> Result<Self> {
        // SAFETY: `THIS_MODULE` of a loaded module is valid.
        if unsafe { bindings::try_module_get(this_module::<LocalModule>().as_ptr()) } {
            // INVARIANT: the reference was taken.
            Ok(Self(()))
        } else {
            Err(ENODEV)
        }
    }
}

impl Drop for ModuleRef {
    fn drop(&mut self) {
        // SAFETY: we hold a reference (type invariant) and give it back once.
        unsafe { bindings::module_put(this_module::<LocalModule>().as_ptr()) };
    }
}
