// SPDX-License-Identifier: GPL-2.0

//! The proxy files' operations: what [`crate::miscdev`] calls. An ioctl is
//! [`super::call::ioctl`]; an mmap goes to the vendor and is then charged
//! (UVM: [`crate::managed`]) or gated (a doorbell: [`crate::doorbell`]).

use super::{
    call,
    file::{Node, ProxyFile},
};
use crate::{
    doorbell,
    fgcore::{limits::Limited, nvabi::decode::FileKind},
    managed,
    miscdev::{FileOps, Fops},
};
use kernel::{
    bindings,
    fs::File,
    prelude::*,
    sync::{aref::ARef, atomic::Relaxed, Arc},
};

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
        if self.doorbell_gpu.load(Relaxed) != 0 {
            let mapped = u64::from(self.ctx.gate.doorbells());
            if !self.ctx.inner.lock().admit(Limited::Doorbells, mapped) {
                return Err(ENOMEM);
            }
        }
        // The proxy's file, the vma's until the vendor's mmap makes it the
        // vendor's: a gated vma gets it back (`gate_vma`).
        // SAFETY: the VFS set up `vma` for this file, which it holds.
        let ours: ARef<File> = unsafe { File::from_raw_file((*vma).vm_file) }.into();
        // SAFETY: forwarded from the caller's contract.
        unsafe { self.vendor.mmap(vma) }?;
        // Sticky (see the field): every mapping of a doorbell file is gated.
        let gpu = self.doorbell_gpu.load(Relaxed);
        if gpu != 0 {
            // SAFETY: `vma` is the vma being set up, and the vendor's mmap
            // succeeded on it (caller's contract, above).
            if let Err(e) = unsafe { doorbell::gate_vma(&self.ctx.gate, gpu - 1, vma, ours) } {
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
