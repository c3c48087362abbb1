// SPDX-License-Identifier: GPL-2.0

//! fd translation and export tracking: a parameter that names one of the
//! context's proxy files names the vendor's file while the vendor reads
//! it, the vendor GPU files the RM's GPU-access check looks for are lent
//! for the call, and export-fd controls are followed in the object table.

use super::{
    file::{NodeKind, ProxyFile},
    user::{read_back, read_nested, status_of, write_user, MAX_PARAMS},
};
use crate::{
    fgcore::nvabi::{
        decode::{self as dec, ControlCall, ControlParams, Decoded, ExportCall, FdField, FdRole},
        status::NV_OK,
    },
    fgcore::policy::Route,
    miscdev, objects,
    vendor::{self, PrivateFds},
};
use kernel::{
    fs::{
        file::{flags::O_CLOEXEC, FileDescriptorReservation},
        File, LocalFile,
    },
    prelude::*,
    sync::{aref::ARef, Arc},
};

/// How long a reference to the vendor file seen after fd translation may
/// take to go away before it counts as an escape (see `untranslate_fd`):
/// up to 20 looks, 500 µs apart.
const ESCAPE_SETTLE_TRIES: u32 = 20;
const ESCAPE_SETTLE_US: i64 = 500;

/// What fd translation did.
pub(super) enum Xlate {
    /// Nothing to translate.
    Untouched,
    /// The fd names another context's file: the call is refused.
    Refused,
    /// A temporary fd names the vendor file.
    Installed(TempFd),
}

/// A temporary fd of the vendor's file, in a private table the calling
/// thread runs on for the duration of the call.
pub(super) struct TempFd {
    fd: u32,
    original: i32,
    /// The user block holding the field (the ioctl's block, or a nested
    /// one such as a control's parameters) and its length.
    block_addr: usize,
    block_len: usize,
    pub(super) target: Arc<ProxyFile>,
    baseline: i64,
    /// Dropped last: switches the thread back to its own table.
    private: PrivateFds,
}

/// The vendor GPU files lent to the calling thread for the RM's
/// GPU-access check ([`Route::lends_gpu_files`]): installed in the private
/// table the thread runs on for the call (fd translation's, or one of its
/// own), closed again before the thread returns to its own table.
///
/// No reference count is compared afterwards, unlike fd translation: the
/// lent files are GPU files that other threads map and unmap concurrently
/// (every mapping holds a reference), and nothing but the calling thread,
/// which is inside the vendor's ioctl meanwhile, can reach the private
/// table (other threads keep their own table; `pidfd_getfd` and `kcmp`
/// wait for the `exec_update_lock` the table's owner holds;
/// `/proc/<pid>/task/<tid>/fd` cannot reopen a device node of the
/// proxy's `nodev` mount). What is checked is that each number still
/// names the file lent when it is closed.
pub(super) struct Lent {
    fds: KVec<(u32, Arc<ProxyFile>)>,
    /// The thread's own private table, when fd translation made none.
    private: Option<PrivateFds>,
}

impl Lent {
    /// Installs the vendor file of each of `files`; `on_private`: the
    /// thread already runs on fd translation's private table.
    pub(super) fn install(files: KVec<Arc<ProxyFile>>, on_private: bool) -> Result<Self> {
        let private = if on_private {
            None
        } else {
            Some(PrivateFds::enter()?)
        };
        let mut lent = Lent {
            fds: KVec::with_capacity(files.len(), GFP_KERNEL)?,
            private,
        };
        for pf in files {
            let reservation = FileDescriptorReservation::get_unused_fd_flags(O_CLOEXEC)?;
            let fd = reservation.reserved_fd();
            reservation.fd_install(pf.vendor.file().clone());
            // Cannot fail: the capacity is `files.len()`.
            lent.fds.push((fd, pf), GFP_KERNEL)?;
        }
        Ok(lent)
    }

    /// Closes the lent numbers (before the private table is left).
    pub(super) fn finish(self, by: &ProxyFile) {
        for (fd, pf) in self.fds.iter() {
            if !vendor::close_fd_if(*fd, &pf.vendor) {
                // Only the vendor's ioctl ran on this table meanwhile.
                by.ctx.mark_compromised();
                pr_err!(
                    "context {}: a lent GPU file's number changed during the call; refusing new opens\n",
                    by.ctx_name()
                );
            }
        }
        drop(self.private);
    }
}

impl ProxyFile {
    /// The context's GPU files the calling thread holds in its own fd
    /// table, one per GPU (what the RM's GPU-access check looks for, as
    /// their vendor files; see [`Route::lends_gpu_files`]).
    pub(super) fn held_gpu_files(&self) -> Result<KVec<Arc<ProxyFile>>> {
        let gpus = self.ctx.paths.gpus.len();
        // Reserved up front: the walk runs under the table's spinlock.
        let mut held: KVec<Arc<ProxyFile>> = KVec::with_capacity(gpus, GFP_KERNEL)?;
        miscdev::for_each_held::<ProxyFile>(&mut |pf| {
            let NodeKind::Gpu(i) = pf.kind else { return };
            if !Arc::ptr_eq(&pf.ctx, &self.ctx) || held.iter().any(|h| h.kind == pf.kind) {
                return;
            }
            // Never past the capacity: one entry per GPU index < `gpus`.
            if (i as usize) < gpus && held.len() < gpus {
                let _ = held.push(pf.into(), kernel::alloc::flags::GFP_NOWAIT);
            }
        });
        Ok(held)
    }

    /// fd translation. A parameter that names one of our proxy files must
    /// name the vendor's file when the vendor sees it: the vendor looks the
    /// number up in the calling thread's fd table and checks it is its own
    /// file. So for the duration of the call the thread runs on a private
    /// table ([`PrivateFds`]) holding the vendor file under a fresh number,
    /// the block is rewritten to name it, and all of it is undone afterwards
    /// (see `untranslate_fd`).
    ///
    /// `field` lies in `block`, the bytes of the user block at
    /// `block_addr` (the ioctl's own block, or a nested one). A file of
    /// another context is [`Xlate::Refused`], for the caller to refuse.
    pub(super) fn translate_fd(
        &self,
        field: FdField,
        block_addr: usize,
        block: &mut [u8],
    ) -> Result<Xlate> {
        if !matches!(
            field.role,
            FdRole::NvCtl | FdRole::NvGpu | FdRole::NvCtlOrGpu | FdRole::Uvm | FdRole::UvmRmCtrl
        ) {
            return Ok(Xlate::Untouched);
        }
        let Some(fd) = field.fd().and_then(|v| u32::try_from(v).ok()) else {
            return Ok(Xlate::Untouched);
        };
        // Not an fd, or not ours: the vendor gives its own answer.
        let Ok(caller) = LocalFile::fget(fd) else {
            return Ok(Xlate::Untouched);
        };
        let Some(target) = miscdev::as_ours::<ProxyFile>(&caller) else {
            return Ok(Xlate::Untouched);
        };
        if !Arc::ptr_eq(&target.ctx, &self.ctx) {
            // Another context's file: never let one container act on another's.
            return Ok(Xlate::Refused);
        }
        let vendor: ARef<File> = target.vendor.file().clone();
        let baseline = target.vendor.refs();
        // From here to `untranslate_fd`, this thread alone runs on a private
        // table; the caller's own table never holds the vendor's file.
        let private = PrivateFds::enter()?;
        let reservation = FileDescriptorReservation::get_unused_fd_flags(O_CLOEXEC)?;
        let temp = reservation.reserved_fd();
        if !field.write(block, temp as i32) {
            return Err(EINVAL);
        }
        write_user(block_addr, block)?;
        reservation.fd_install(vendor);
        Ok(Xlate::Installed(TempFd {
            fd: temp,
            original: fd as i32,
            block_addr,
            block_len: block.len(),
            target: target.into(),
            baseline,
            private,
        }))
    }

    /// Undoes `translate_fd`: the caller's block names its own fd again,
    /// the temporary number is closed, and any reference to the vendor file
    /// taken meanwhile (a racing `dup`, `fork`, or fd passing) is treated
    /// as an escape attempt: the process group is killed and the context
    /// refuses further opens until it is destroyed.
    pub(super) fn untranslate_fd(&self, field: FdField, t: TempFd) -> Result {
        let restored = (|| -> Result {
            let mut block = read_back(t.block_addr, t.block_len)?;
            if field.write(&mut block, t.original) {
                write_user(t.block_addr, &block)?;
            }
            Ok(())
        })();
        let closed = vendor::close_fd_if(t.fd, &t.target.vendor);
        // The vendor may keep one reference for itself (UVM registrations).
        let allowed = if field.role == FdRole::Uvm { 1 } else { 0 };
        let (target, baseline) = (t.target.clone(), t.baseline);
        let over = || target.vendor.refs() > baseline + allowed;
        let mut escaped = !closed || over();
        drop(t.private);
        // A reader of /proc/<pid>/task/<tid>/fd (readdir, readlink) takes a
        // short-lived reference on the files of the private table
        // (`fget_task`); it cannot call into them and drops the reference
        // at once, and now that the thread is back on its own table nobody
        // can take a new one. Only a reference still held after that is
        // an escape.
        let mut tries = 0;
        while escaped && closed && tries < ESCAPE_SETTLE_TRIES {
            kernel::time::delay::fsleep(kernel::time::Delta::from_micros(ESCAPE_SETTLE_US));
            escaped = over();
            tries += 1;
        }
        if escaped {
            self.ctx.mark_compromised();
            pr_err!(
                "context {}: the vendor's file escaped during fd translation (pid {}); killing its process group and refusing new opens\n",
                self.ctx_name(),
                kernel::current!().tgid()
            );
            vendor::kill_current_pgrp();
        }
        restored
    }

    /// An export-fd control (NV0000 OS_UNIX, on a client handle): the
    /// control, its parameters as read before the call, and the fd in them.
    /// `None` for every other call, and for blocks the vendor refuses
    /// (wrong size, serialized), which go on untranslated.
    pub(super) fn export_control(
        &self,
        r: Route,
    ) -> Result<Option<(ControlCall, KVec<u8>, FdField)>> {
        let Route::ExportFd(c) = r else {
            return Ok(None);
        };
        if c.serialized || c.params.size > MAX_PARAMS {
            return Ok(None);
        }
        // An unreadable block: the vendor answers (NV_ERR_INVALID_POINTER).
        let Ok(nested) = read_nested(&c.params) else {
            return Ok(None);
        };
        match dec::decode_control_params_for(self.branch.unwrap_or_default(), c.cmd, &nested) {
            ControlParams::WithFd { fd, .. } => Ok(Some((c, nested, fd))),
            _ => Ok(None),
        }
    }

    /// After an export-fd control: if the vendor succeeded, the context's
    /// object table follows it. An export makes the export fd's slots hold
    /// the exported memory (which stays charged while a slot holds it); an
    /// import is a new handle to a slot's memory, charged once for all its
    /// handles, like a dup. `export_file` is the proxy file the fd named
    /// (`None`: not one of ours, nothing to follow). `before` is the block
    /// as the vendor read it; import results are read back after the call.
    pub(super) fn account_export(
        &self,
        d: &Decoded,
        c: &ControlCall,
        before: &[u8],
        export_file: Option<u64>,
        arg: usize,
    ) {
        let Some(xf) = export_file else { return };
        let ok = read_back(arg, d.size)
            .ok()
            .is_some_and(|outer| status_of(d, &outer) == Some(NV_OK));
        if !ok {
            return;
        }
        let tracked = match dec::export_call(c.cmd, before) {
            Some(ExportCall::Export { first, count }) => {
                let mut inner = self.ctx.inner.lock();
                let mut freed = 0u64;
                let mut r = Ok(());
                for i in 0..count {
                    let h = dec::export_call_object(c.cmd, before, i).unwrap_or(0);
                    match inner.objects.export(xf, first + i, c.h_client, h) {
                        Ok(b) => freed = freed.saturating_add(b),
                        Err(e) => r = Err(objects::enomem(e)),
                    }
                }
                if inner.ledger.uncharge(freed).is_err() {
                    pr_err!("context {}: ledger underflow on export\n", self.ctx_name());
                }
                r
            }
            Some(ExportCall::Import {
                first,
                count,
                parent,
            }) => read_nested(&c.params).and_then(|after| {
                let mut inner = self.ctx.inner.lock();
                for i in 0..count {
                    if let Some(h) = dec::import_call_result(c.cmd, &after, i) {
                        inner
                            .objects
                            .import(self.id, c.h_client, h, parent, xf, first + i)
                            .map_err(objects::enomem)?;
                    }
                }
                Ok(())
            }),
            None => Ok(()),
        };
        if tracked.is_err() {
            pr_err!(
                "context {}: out of memory tracking an export or import\n",
                self.ctx_name()
            );
        }
    }
}
