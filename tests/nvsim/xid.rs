// SPDX-License-Identifier: GPL-2.0

//! Xid injection: `/sys/kernel/debug/nvsim/gpu<N>/xid` and `.../recover`.
//!
//! The real driver reports an error on a GPU as a kernel log line from
//! `krcReportXid` (src/nvidia/src/kernel/gpu/rc/kernel_rc.c, 580 branch):
//!
//! ```text
//! NVRM: Xid (PCI:%04x:%02x:%02x): %d, pid=%s, name=%s, %s
//! ```
//!
//! (domain, bus, device; pid `'<unknown>'` and name `<unknown>` when no
//! channel is known). Writing `XID [MESSAGE]` to `xid` prints that line for
//! the GPU; an Xid other than the application ones (13, 31, 43, 45, 68,
//! 109) also sets the GPU's recovery action to 1 (GPU Reset Required) and,
//! as r550+ drivers do, reports the change as Xid 154; Xid 79 also prints
//! the driver's "GPU has fallen off the bus." line. Writing anything to
//! `recover` (the reset an administrator would do) reports the recovery
//! action back to 0 (None) as Xid 154. Reading either file shows the state.
//!
//! Only the report is simulated: the GPU goes on answering RM calls (the
//! real one would fail them with NV_ERR_GPU_IS_LOST). The RM's own event
//! path (NV2080_NOTIFIERS_* events to clients, what NVML's
//! `nvmlEventSetWait` reads) is not modelled: tools read the log line.

use crate::gpu::Gpu;
use core::fmt;
use core::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use kernel::{prelude::*, sync::Arc, uaccess::UserSliceReader};

/// The application Xids (the GPU stays usable).
const APPLICATION: [u32; 6] = [13, 31, 43, 45, 68, 109];

/// The message the driver prints for a few Xids.
fn default_message(xid: u32) -> &'static str {
    match xid {
        13 => "Graphics SM Warp Exception on (GPC 0, TPC 0, SM 0): Out Of Range Address",
        31 => "MMU Fault: ENGINE GRAPHICS GPCCLIENT_T1_0 faulted @ 0x0_00000000. Fault is of type FAULT_PDE ACCESS_TYPE_VIRT_READ",
        43 => "Ch 00000008",
        48 => "An uncorrectable double bit error (DBE) has been detected on GPU in the framebuffer at partition 0, subpartition 0.",
        74 => "NVLink: fatal error detected on link 0",
        79 => "GPU has fallen off the bus.",
        94 => "Contained: SM (0x1). RST: No, D-RST: No",
        95 => "Uncontained: FBHUB. RST: Yes, D-RST: No",
        119 => "Timeout after 6s of waiting for RPC response from GPU0 GSP! Expected function 76 (GSP_RM_CONTROL).",
        _ => "Simulated error",
    }
}

fn action_name(a: u32) -> &'static str {
    match a {
        0 => "None",
        1 => "GPU Reset Required",
        2 => "Node Reboot Required",
        _ => "Unknown",
    }
}

/// One GPU's injected errors.
pub(crate) struct XidState {
    gpu: Arc<Gpu>,
    /// The recovery action (0 None, 1 GPU Reset Required).
    action: AtomicU32,
    last: AtomicU32,
    count: AtomicU64,
}

impl XidState {
    pub(crate) fn new(gpu: Arc<Gpu>) -> Result<Arc<XidState>> {
        Ok(Arc::new(
            XidState {
                gpu,
                action: AtomicU32::new(0),
                last: AtomicU32::new(0),
                count: AtomicU64::new(0),
            },
            GFP_KERNEL,
        )?)
    }

    fn log(&self, args: fmt::Arguments<'_>) {
        // "NVRM: " as the real driver's lines start, not "nvsim: ".
        // SAFETY: ERR is one of `format_strings`; the name ends in NUL.
        unsafe { kernel::print::call_printk(&kernel::print::format_strings::ERR, b"NVRM\0", args) };
    }

    fn set_action(&self, to: u32) {
        let from = self.action.swap(to, Ordering::Relaxed);
        if from != to {
            self.report(
                154,
                format_args!(
                    "GPU recovery action changed from {:#x} ({}) to {:#x} ({})",
                    from,
                    action_name(from),
                    to,
                    action_name(to)
                ),
                false,
            );
        }
    }

    /// Prints the Xid line (`with_process`: the `pid=, name=` part).
    fn report(&self, xid: u32, msg: fmt::Arguments<'_>, with_process: bool) {
        let bus = self.gpu.bus();
        self.last.store(xid, Ordering::Relaxed);
        self.count.fetch_add(1, Ordering::Relaxed);
        if with_process {
            self.log(format_args!(
                "Xid (PCI:{:04x}:{:02x}:{:02x}): {}, pid='<unknown>', name=<unknown>, {}\n",
                0, bus, 0, xid, msg
            ));
        } else {
            self.log(format_args!(
                "Xid (PCI:{:04x}:{:02x}:{:02x}): {}, {}\n",
                0, bus, 0, xid, msg
            ));
        }
    }

    /// Injects Xid `xid` with `msg` (empty: the driver's message).
    fn inject(&self, xid: u32, msg: &str) {
        let m = if msg.is_empty() {
            default_message(xid)
        } else {
            msg
        };
        self.report(xid, format_args!("{m}"), true);
        if xid == 79 {
            self.log(format_args!(
                "GPU {:04x}:{:02x}:{:02x}.0: GPU has fallen off the bus.\n",
                0,
                self.gpu.bus(),
                0
            ));
        }
        if !APPLICATION.contains(&xid) && xid != 154 {
            self.set_action(1);
        }
    }
}

/// The `xid` file (`recover: false`) or the `recover` file.
pub(crate) struct XidFile {
    pub(crate) state: Arc<XidState>,
    pub(crate) recover: bool,
}

impl fmt::Debug for XidFile {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let s = &self.state;
        let a = s.action.load(Ordering::Relaxed);
        writeln!(
            f,
            "pci 0000:{:02x}:00\nlast_xid {}\nxids {}\nrecovery_action {:#x} ({})",
            s.gpu.bus(),
            s.last.load(Ordering::Relaxed),
            s.count.load(Ordering::Relaxed),
            a,
            action_name(a)
        )
    }
}

impl kernel::debugfs::Reader for XidFile {
    fn read_from_slice(&self, reader: &mut UserSliceReader) -> Result {
        let mut buf = [0u8; 200];
        let n = reader.len();
        if n > buf.len() {
            return Err(EINVAL);
        }
        reader.read_slice(&mut buf[..n])?;
        let text = core::str::from_utf8(&buf[..n]).map_err(|_| EINVAL)?.trim();
        if self.recover {
            self.state.set_action(0);
            return Ok(());
        }
        let (num, msg) = match text.split_once(' ') {
            Some((a, b)) => (a, b.trim()),
            None => (text, ""),
        };
        let xid: u32 = num.parse().map_err(|_| EINVAL)?;
        if xid == 0 {
            return Err(EINVAL);
        }
        self.state.inject(xid, msg);
        Ok(())
    }
}
