// SPDX-License-Identifier: GPL-2.0

//! nvsim: a simulated NVIDIA kernel driver for fakegpu's tests.
//!
//! It registers `/dev/nvidiactl` (195:255), `/dev/nvidia0..N-1` (195:0..)
//! and `/dev/nvidia-uvm` (dynamic major) as character devices, speaks the
//! RM ioctl ABI of driver 580 for the subset CUDA uses (structures from the
//! shared core, [`fgcore::nvabi`]), keeps RM clients and object trees with
//! the real driver's ownership rules, accounts a simulated VRAM heap, and
//! runs one engine thread per GPU that executes work submitted through
//! mapped memory and a doorbell, with a runlist scheduler over channel
//! groups that behaves as the real H100 was measured to ([`profile`]).
//!
//! Layout: the FFI edge is [`chrdev`] (cdev, class, file operations, mmap),
//! [`kthread`], [`mem`] (pages and their kernel mappings), [`kapi`] (the
//! exported kernel RM API) and [`debugfs`]; [`rm`], [`ctrl`], [`file`],
//! [`uvm`] and [`engine`] are safe domain code.

use kernel::{prelude::*, str::CString};

#[path = "../../src/core/lib.rs"]
#[allow(missing_docs, clippy::all, unreachable_pub)]
pub(crate) mod fgcore;

mod branch;
mod chrdev;
mod ctrl;
mod debugfs;
mod deprecated;
mod embedded;
mod engine;
mod export;
mod file;
mod gpu;
mod h100_replies;
mod kapi;
#[path = "../../src/kthread.rs"]
mod kthread;
mod managed;
mod mem;
mod procfs;
mod profile;
mod rm;
mod uvm;
mod xid;

module! {
    type: NvSim,
    name: "nvsim",
    authors: ["fakegpu developers"],
    description: "Simulated NVIDIA driver (RM ioctl ABI of driver 580 or 550) for fakegpu's tests",
    license: "GPL",
    params: {
        num_gpus: u32 {
            default: 2,
            description: "Number of simulated GPUs (1..16)",
        },
        vram_mib: u32 {
            default: 16384,
            description: "Video memory per GPU, MiB",
        },
        profile: u32 {
            default: 0,
            description: "Engine behaviour profile: 0 = H100 with driver 580.159.04 as measured, 1 = nominal (controls do what their names say)",
        },
        branch: u32 {
            default: 0,
            description: "Driver branch spoken (version string and ABI): 0 = 580.159.04, 1 = 550.163.01, 2 = 590.44.01 (test only: a version fakegpu has no table for, with 580's layouts)",
        },
    },
}

/// The loaded module. Fields drop in declaration order: device nodes first
/// (no new opens), then the debugfs files, then the engines.
struct NvSim {
    _nodes: chrdev::Nodes,
    _userspace: procfs::UserSpace,
    _debugfs: debugfs::DebugFs,
    engines: KVec<kthread::Thread>,
}

/// The MODULE_VERSION of nvsim_exports.c (the 580 branch).
const BUILT_IN_VERSION: &str = "580.159.04";

impl kernel::Module for NvSim {
    fn init(module: &'static ThisModule) -> Result<Self> {
        let n = module_parameters::num_gpus.value();
        let vram = u64::from(module_parameters::vram_mib.value()) << 20;
        let prof = profile::by_index(module_parameters::profile.value()).ok_or(EINVAL)?;
        let br = branch::select(module_parameters::branch.value()).ok_or(EINVAL)?;
        if n == 0 || n > 16 || vram == 0 {
            return Err(EINVAL);
        }
        // SAFETY: called once, before any other use of the RM state.
        unsafe { rm::RM.init() };
        let mut gpus = KVec::new();
        for i in 0..n {
            gpus.push(gpu::Gpu::new(i, vram, prof)?, GFP_KERNEL)?;
        }
        let mut engines = KVec::new();
        for g in gpus.iter() {
            let name = CString::try_from_fmt(fmt!("nvsim/{}", g.index))?;
            let gpu = g.clone();
            engines.push(
                kthread::Thread::spawn(&name, move || engine::run(&gpu))?,
                GFP_KERNEL,
            )?;
        }
        let mut shared = KVec::new();
        for g in gpus.iter() {
            shared.push(g.clone(), GFP_KERNEL)?;
        }
        rm::RM.lock().set_gpus(shared);
        // A failure from here on leaves no GPU, client or engine behind.
        let parts = (|| -> Result<_> {
            if let Err(what) = kapi::self_test() {
                pr_err!("kernel RM API self-test failed: {what}\n");
                return Err(EINVAL);
            }
            pr_info!("kernel RM API self-test passed\n");
            let dbg = debugfs::DebugFs::new(&gpus)?;
            if br.version != BUILT_IN_VERSION {
                procfs::set_module_version()?;
            }
            let mut buses = KVec::new();
            for g in gpus.iter() {
                buses.push(g.bus(), GFP_KERNEL)?;
            }
            let userspace = procfs::UserSpace::create(&buses)?;
            let nodes = chrdev::Nodes::register(module, n)?;
            Ok((dbg, userspace, nodes))
        })();
        let (dbg, userspace, nodes) = match parts {
            Ok(p) => p,
            Err(e) => {
                drop(rm::RM.lock().teardown());
                for t in engines.iter_mut() {
                    t.stop();
                }
                return Err(e);
            }
        };
        pr_info!(
            "nvsim {} loaded: {n} GPU(s) x {} MiB, profile {}\n",
            br.version,
            vram >> 20,
            prof.name
        );
        Ok(NvSim {
            _nodes: nodes,
            _userspace: userspace,
            _debugfs: dbg,
            engines,
        })
    }
}

impl Drop for NvSim {
    fn drop(&mut self) {
        // No file is open (they pin the module); free what kernel clients left.
        let left = rm::RM.lock().teardown();
        drop(left);
        for t in self.engines.iter_mut() {
            t.stop();
        }
        pr_info!("nvsim unloaded\n");
    }
}
