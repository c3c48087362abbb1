// SPDX-License-Identifier: GPL-2.0

//! `/sys/kernel/debug/nvsim/`: what the engines and heaps did, for tests
//! that measure shares exactly.
//!
//! ```text
//! nvsim/profile                 the behaviour profile of the engines
//! nvsim/escapes                 escapes received per number, on ctl and GPU files: `ctl|gpu 0xNN COUNT`
//! nvsim/mem                     live page-backed objects (backings) and PFN-mapped vmas holding one (pfnmap_vmas)
//! nvsim/gpu<N>/heap             total_bytes / used_bytes / free_bytes / managed_bytes (UVM residency, part of used_bytes)
//! nvsim/gpu<N>/engine           busy_us, switches, doorbell_rings, tsgs, channels
//! nvsim/gpu<N>/tsgs             one line per channel group (busy_us is engine time)
//! nvsim/gpu<N>/channels         one line per channel (get, put, entries done)
//! nvsim/gpu<N>/clients          engine time per (client, pid), kept after the client is freed
//! nvsim/gpu<N>/trace            the engine's last 1024 events (enable/disable, doorbell, run, idle)
//! nvsim/gpu<N>/xid              write `XID [MESSAGE]`: the driver's Xid report in the kernel log (xid.rs)
//! nvsim/gpu<N>/recover          write anything: the recovery report (Xid 154 to None)
//! ```

use crate::gpu::Gpu;
use crate::xid::{XidFile, XidState};
use core::fmt;
use kernel::{debugfs, prelude::*, str::CString, sync::Arc};

#[derive(Clone, Copy)]
enum What {
    Profile,
    Mem,
    Escapes,
    Heap,
    Engine,
    Tsgs,
    Channels,
    Clients,
    Trace,
}

/// One debugfs file's contents.
struct View {
    gpu: Arc<Gpu>,
    what: What,
}

impl fmt::Debug for View {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let g = &self.gpu;
        match self.what {
            What::Profile => writeln!(f, "{:#?}", g.profile),
            What::Mem => crate::mem::fmt_counts(f),
            What::Escapes => crate::file::fmt_escapes(f),
            What::Heap => {
                let used = g.heap_used();
                writeln!(
                    f,
                    "total_bytes {}\nused_bytes {}\nfree_bytes {}\nmanaged_bytes {}",
                    g.vram,
                    used,
                    g.vram - used,
                    g.managed_bytes()
                )
            }
            What::Engine => g.engine.fmt_summary(f),
            What::Tsgs => g.engine.fmt_tsgs(f),
            What::Channels => g.engine.fmt_chans(f),
            What::Clients => g.engine.fmt_clients(f),
            What::Trace => g.engine.fmt_trace(f),
        }
    }
}

/// The directory and its files; removed on drop.
pub(crate) struct DebugFs {
    _files: KVec<Pin<KBox<debugfs::File<View>>>>,
    _xid_files: KVec<Pin<KBox<debugfs::File<XidFile>>>>,
    _dirs: KVec<debugfs::Dir>,
}

impl DebugFs {
    /// Creates the files for `gpus`.
    pub(crate) fn new(gpus: &KVec<Arc<Gpu>>) -> Result<Self> {
        let root = debugfs::Dir::new(c"nvsim");
        let mut files = KVec::new();
        let mut xid_files = KVec::new();
        let mut dirs = KVec::new();
        if let Some(g0) = gpus.first() {
            for (n, w) in [
                (c"profile", What::Profile),
                (c"mem", What::Mem),
                (c"escapes", What::Escapes),
            ] {
                let v = View {
                    gpu: g0.clone(),
                    what: w,
                };
                files.push(
                    KBox::pin_init(root.read_only_file(n, v), GFP_KERNEL)?,
                    GFP_KERNEL,
                )?;
            }
        }
        for g in gpus.iter() {
            let name = CString::try_from_fmt(fmt!("gpu{}", g.index))?;
            let d = root.subdir(&name);
            for (n, w) in [
                (c"heap", What::Heap),
                (c"engine", What::Engine),
                (c"tsgs", What::Tsgs),
                (c"channels", What::Channels),
                (c"clients", What::Clients),
                (c"trace", What::Trace),
            ] {
                let v = View {
                    gpu: g.clone(),
                    what: w,
                };
                files.push(
                    KBox::pin_init(d.read_only_file(n, v), GFP_KERNEL)?,
                    GFP_KERNEL,
                )?;
            }
            let st = XidState::new(g.clone())?;
            for (n, recover) in [(c"xid", false), (c"recover", true)] {
                let f = XidFile {
                    state: st.clone(),
                    recover,
                };
                xid_files.push(
                    KBox::pin_init(d.read_write_file(n, f), GFP_KERNEL)?,
                    GFP_KERNEL,
                )?;
            }
            dirs.push(d, GFP_KERNEL)?;
        }
        dirs.push(root, GFP_KERNEL)?;
        Ok(DebugFs {
            _files: files,
            _xid_files: xid_files,
            _dirs: dirs,
        })
    }
}
