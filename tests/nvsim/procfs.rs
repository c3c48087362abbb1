// SPDX-License-Identifier: GPL-2.0

//! What nvidia.ko shows user space besides its nodes, which NVIDIA's
//! clients read: `/proc/driver/nvidia/{version,params,registry}`,
//! `/proc/driver/nvidia/gpus/<bus id>/information` (formats of
//! kernel-open/nvidia/nv-procfs.c, the same in 550 and 580) and
//! `/sys/module/nvidia/{initstate,version}`. The entries are made by the C
//! glue (nvsim_exports.c), which calls [`nvsim_rust_proc_text`] for the
//! text of each read. On a real host nvidia.ko makes all of these itself.

use crate::{branch, gpu, rm::RM};
use core::fmt::Write;
use kernel::{ffi::c_char, prelude::*};

extern "C" {
    fn nvsim_userspace_create(ngpus: u32, buses: *const u8) -> c_int;
    fn nvsim_userspace_remove();
    fn nvsim_set_module_version(v: *const c_char) -> c_int;
}
use kernel::ffi::c_int;

/// The entries, removed on drop.
pub(crate) struct UserSpace(());

impl UserSpace {
    /// Makes the entries for GPUs on `buses` (domain 0, slot 0, function 0).
    pub(crate) fn create(buses: &[u8]) -> Result<UserSpace> {
        let n = u32::try_from(buses.len()).map_err(|_| EINVAL)?;
        // SAFETY: `buses` holds `n` bytes, read during the call only; the
        // C side keeps no pointer to it.
        let r = unsafe { nvsim_userspace_create(n, buses.as_ptr()) };
        if r != 0 {
            return Err(Error::from_errno(r));
        }
        Ok(UserSpace(()))
    }
}

impl Drop for UserSpace {
    fn drop(&mut self) {
        // SAFETY: the entries were made by `create`; removing them waits
        // for readers in progress (proc_remove, kobject_put).
        unsafe { nvsim_userspace_remove() };
    }
}

/// Sets the module's version (what /sys/module/nvsim/version and fakegpu's
/// vendor check read) to the branch's, when it is not the built-in one.
pub(crate) fn set_module_version() -> Result {
    let v = branch::current().version_c;
    // SAFETY: `v` is a NUL-terminated static string; the C side copies it.
    let r = unsafe { nvsim_set_module_version(v.as_char_ptr()) };
    if r != 0 {
        return Err(Error::from_errno(r));
    }
    Ok(())
}

/// A `fmt::Write` over a byte buffer that stops at its end.
struct Buf<'a> {
    b: &'a mut [u8],
    n: usize,
}

impl Write for Buf<'_> {
    fn write_str(&mut self, s: &str) -> core::fmt::Result {
        let room = self.b.len() - self.n;
        let k = s.len().min(room);
        self.b[self.n..self.n + k].copy_from_slice(&s.as_bytes()[..k]);
        self.n += k;
        Ok(())
    }
}

/// The text of file `what` (0 version, 1 params, 2 registry, 3 a GPU's
/// information) into `out`; its length.
fn text(what: u32, gpu_index: u32, out: &mut [u8]) -> usize {
    let b = branch::current();
    let mut w = Buf { b: out, n: 0 };
    let _ = match what {
        0 => write!(
            w,
            "NVRM version: NVIDIA UNIX Open Kernel Module for x86_64  {}  Release Build  (nvsim@fakegpu)  simulated\nGCC version:  rustc (nvsim)\n",
            b.version
        ),
        1 => w.write_str(b.params),
        // No registry keys set: nv_procfs_read_registry prints "Binary: \"\"".
        2 => w.write_str("Binary: \"\"\n"),
        3 => {
            let g = RM.lock().gpu(gpu_index).cloned();
            match g {
                Some(g) => {
                    let uuid = g.uuid_ascii();
                    let uuid = core::str::from_utf8(&uuid)
                        .unwrap_or("")
                        .trim_end_matches('\0');
                    write!(
                        w,
                        "Model: \t\t {}\nIRQ:   \t\t {}\nGPU UUID: \t {}\nVideo BIOS: \t {}\nBus Type: \t PCIe\nDMA Size: \t 52 bits\nDMA Mask: \t 0xfffffffffffff\nBus Location: \t {:04x}:{:02x}:{:02x}.{:x}\nDevice Minor: \t {}\nGPU Firmware: \t {}\nGPU Excluded:\t No\n",
                        gpu::GPU_NAME,
                        0,
                        uuid,
                        gpu::VBIOS_VERSION,
                        0,
                        g.bus(),
                        0,
                        0,
                        g.index,
                        b.version
                    )
                }
                None => Ok(()),
            }
        }
        _ => Ok(()),
    };
    w.n
}

/// Called by the C glue for each read of an entry.
///
/// # Safety
///
/// `buf` must be valid for writes of `len` bytes for the call.
#[no_mangle]
pub(crate) unsafe extern "C" fn nvsim_rust_proc_text(
    what: u32,
    gpu: u32,
    buf: *mut u8,
    len: usize,
) -> usize {
    if buf.is_null() {
        return 0;
    }
    // SAFETY: the caller guarantees `buf` is valid for `len` bytes.
    let out = unsafe { core::slice::from_raw_parts_mut(buf, len) };
    text(what, gpu, out)
}

/// The version string of the branch in use, for the C glue.
#[no_mangle]
pub(crate) extern "C" fn nvsim_rust_version() -> *const c_char {
    branch::current().version_c.as_char_ptr()
}
