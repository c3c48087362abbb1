// SPDX-License-Identifier: GPL-2.0

//! The proxy files' operations: what [`crate::miscdev`] calls. An ioctl is
//! [`super::call::ioctl`]; an mmap goes to the vendor and is then charged
//! (UVM: [`crate::managed`]) or gated (a doorbell: [`crate::doorbell`]).

use super::{
    call,
    file::{Node, NodeKind, ProxyFile},
};
use crate::{
    doorbell,
    fgcore::{
        limits::Limited,
        nvabi::{class::USERMODE_WINDOW, decode::FileKind},
    },
    managed,
    miscdev::{FileOps, Fops},
};
use kernel::{
    bindings,
    fs::File,
    prelude::*,
    sync::{aref::ARef, atomic::Relaxed, Arc},
};

impl ProxyFile {
    /// Whether the context may map one more doorbell (sysfs `limits`).
    fn admit_doorbell(&self) -> bool {
        let mapped = u64::from(self.ctx.gate.doorbells());
        self.ctx.inner.lock().admit(Limited::Doorbells, mapped)
    }

    /// The host GPU of a mapping the vendor just made that may be a
    /// register (doorbell) window, decided on what the vendor did, never
    /// on the tenant's parameters: a mapping of a GPU file that the vendor
    /// made as a PFN mapping no longer than the usermode window (the
    /// vendor maps a GPU file's objects as PFN mappings of a BAR, of the
    /// object's exact size: `class::USERMODE_WINDOW`). RM_MAP_MEMORY's
    /// `hMemory` is the tenant's memory, read again by the vendor after
    /// the proxy read it, so a file the proxy saw mapped as video memory
    /// may hold the doorbell (`fgtest flip mapmem`). A small framebuffer
    /// mapping is gated too: fail closed, and harmless (the gate only
    /// delays the tenant's own CPU access while its slice is over).
    ///
    /// # Safety
    ///
    /// `vma` is the vma being set up for this file, and the vendor's mmap
    /// succeeded on it.
    unsafe fn register_window_gpu(
        &self,
        vma: *mut bindings::vm_area_struct,
    ) -> Result<Option<u32>> {
        let NodeKind::Gpu(local) = self.kind else {
            return Ok(None);
        };
        // SAFETY: `vma` is live and locked for writing (caller).
        let (start, end, flags) = unsafe {
            let v = kernel::mm::virt::VmaNew::from_raw(vma);
            (v.start(), v.end(), v.flags())
        };
        let small = ((end - start) as u64) <= USERMODE_WINDOW;
        if flags & bindings::VM_PFNMAP == 0 || !small {
            return Ok(None);
        }
        self.ctx.gpus.host_index(local).map(Some).ok_or(ENODEV)
    }
}

/// The proxy files' one `file_operations` table.
static FOPS: Fops = Fops::new::<ProxyFile>();

impl FileOps for ProxyFile {
    type Node = Node;
    const FOPS: &'static Fops = &FOPS;

    fn open(node: &Arc<Node>, file: &File) -> Result<Arc<Self>> {
        ProxyFile::open(node, file)
    }

    fn release(this: Arc<Self>) {
        this.release();
    }

    fn ioctl(&self, cmd: u32, arg: usize) -> Result<isize> {
        call::ioctl(self, cmd, arg)
    }

    /// Hands an mmap to the vendor.
    ///
    /// # Safety
    ///
    /// `vma` is the vma being set up for this file by the VFS.
    unsafe fn mmap(&self, vma: *mut bindings::vm_area_struct) -> Result {
        if self.ctx.is_dead() {
            return Err(ENODEV);
        }
        if self.file_kind() == FileKind::Uvm {
            // Managed memory: charged by size (crate::managed).
            // SAFETY: forwarded from the caller's contract; the vendor's
            // mmap runs on the same vma.
            return unsafe {
                managed::mmap(&*self.ctx, self.vendor.fops_ptr(), vma, || {
                    self.vendor.mmap(vma)
                })
            };
        }
        // A file that received a doorbell's RM_MAP_MEMORY: every mapping
        // of it is gated (sticky, see the field).
        let sticky = self.doorbell_gpu.load(Relaxed);
        if sticky != 0 && !self.admit_doorbell() {
            return Err(ENOMEM);
        }
        // The proxy's file, the vma's until the vendor's mmap makes it the
        // vendor's: a gated vma gets it back (`gate_vma`).
        // SAFETY: the VFS set up `vma` for this file, which it holds.
        let ours: ARef<File> = unsafe { File::from_raw_file((*vma).vm_file) }.into();
        // SAFETY: forwarded from the caller's contract.
        unsafe { self.vendor.mmap(vma) }?;
        let gpu = if sticky != 0 {
            Some(sticky - 1)
        } else {
            // SAFETY: the vendor's mmap succeeded on `vma` (caller's contract).
            let window = unsafe { self.register_window_gpu(vma) }.and_then(|g| match g {
                Some(_) if !self.admit_doorbell() => Err(ENOMEM),
                g => Ok(g),
            });
            match window {
                Ok(g) => g,
                Err(e) => {
                    // Fail closed: a window that cannot be gated (no GPU
                    // for the node, or past the doorbell limit) is not
                    // mapped.
                    // SAFETY: the vendor's mmap succeeded on `vma`, which
                    // is being set up and not yet in the tree (caller's
                    // contract).
                    unsafe { doorbell::undo_vendor_mmap(vma) };
                    return Err(e);
                }
            }
        };
        if let Some(gpu) = gpu {
            // SAFETY: `vma` is the vma being set up, and the vendor's mmap
            // succeeded on it (caller's contract, above).
            if let Err(e) = unsafe { doorbell::gate_vma(&self.ctx.gate, gpu, vma, ours) } {
                // Fail closed: no doorbell mapping exists ungated. The
                // vendor's mapping is undone as a failed mmap is (its
                // entries are unmapped by the caller).
                pr_warn!(
                    "context {}: a doorbell mapping could not be gated ({:?}); mmap refused\n",
                    self.ctx_name(),
                    e
                );
                // SAFETY: the vendor's mmap succeeded on `vma`, which is
                // being set up and not yet in the tree (caller's contract).
                unsafe { doorbell::undo_vendor_mmap(vma) };
                return Err(e);
            }
        }
        Ok(())
    }

    /// Forwards poll.
    ///
    /// # Safety
    ///
    /// `pt` is the poll table of this poll call.
    unsafe fn poll(&self, pt: *mut bindings::poll_table_struct) -> bindings::__poll_t {
        if self.ctx.is_dead() {
            return bindings::POLLERR;
        }
        // SAFETY: forwarded from the caller's contract.
        unsafe { self.vendor.poll(pt) }
    }
}
