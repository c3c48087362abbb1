// SPDX-License-Identifier: GPL-2.0

//! The proxy: what happens to each call a container makes on our nodes.
//!
//! Every call is decoded by the pure core ([`crate::fgcore::nvabi`]); the
//! policy then forwards it to the vendor's file unchanged, refuses it, or
//! forwards it with accounting (memory allocations are charged before the
//! vendor sees them and settled at the size the vendor allocated), and
//! rewrites memory-info replies so the container sees its cap as the card.
//! Parameter blocks stay in user memory: the vendor copies them itself.

use crate::{
    context::{Context, Refused},
    fgcore::ledger::audit,
    fgcore::nvabi::{
        self,
        class::{ClassKind, NV01_MEMORY_LOCAL_USER, NV01_ROOT_CLIENT},
        ctrl::{
            Nv2080CtrlFbGetInfoV2Params, Nv2080CtrlFifoDisableChannelsParams,
            NV2080_CTRL_CMD_FB_GET_INFO_V2, NV2080_CTRL_CMD_FIFO_DISABLE_CHANNELS,
        },
        decode::{
            self as dec, AllocCall, AllocParams, Body, ControlCall, ControlParams, Decoded,
            ExportCall, FdField, FdRole, FileKind, HeapAlloc, NestedRef,
        },
        rm::Nvos55,
        status::{
            NV_ERR_INVALID_ARGUMENT, NV_ERR_INVALID_CLIENT, NV_ERR_INVALID_PARAMETER,
            NV_ERR_NO_MEMORY, NV_ERR_OBJECT_NOT_FOUND, NV_OK,
        },
        wire::Wire,
        wire::{rd_u32, rd_u64},
    },
    fgcore::policy::{self, ContextView, Refusal, Route, Unrouted},
    fgcore::visibility::{attach_allowed, filter_card_info, filter_gpu_ids, VisibleIds},
    kapi,
    objects::{self, Kind},
    vendor::{PrivateFds, VendorFile},
};
use kernel::{
    bindings,
    fs::{
        file::{flags::O_CLOEXEC, FileDescriptorReservation},
        File, LocalFile,
    },
    prelude::*,
    sync::{aref::ARef, atomic::Relaxed, Arc},
    task::Task,
    uaccess::{UserPtr, UserSlice},
};

/// How long a reference to the vendor file seen after fd translation may
/// take to go away before it counts as an escape (see `untranslate_fd`):
/// up to 20 looks, 500 µs apart.
const ESCAPE_SETTLE_TRIES: u32 = 20;
const ESCAPE_SETTLE_US: i64 = 500;

/// Largest parameter block the vendor accepts (`NV_ABSOLUTE_MAX_IOCTL_SIZE`).
const MAX_PARAMS: usize = 16384;

/// What fd translation did.
enum Xlate {
    /// Nothing to translate.
    Untouched,
    /// The call was refused (status written).
    Refused,
    /// A temporary fd names the vendor file.
    Installed(TempFd),
}

/// A temporary fd of the vendor's file, in a private table the calling
/// thread runs on for the duration of the call.
struct TempFd {
    fd: u32,
    original: i32,
    /// The user block holding the field (the ioctl's block, or a nested
    /// one such as a control's parameters) and its length.
    block_addr: usize,
    block_len: usize,
    target: Arc<ProxyFile>,
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
struct Lent {
    fds: KVec<(u32, Arc<ProxyFile>)>,
    /// The thread's own private table, when fd translation made none.
    private: Option<PrivateFds>,
}

impl Lent {
    /// Installs the vendor file of each of `files`; `on_private`: the
    /// thread already runs on fd translation's private table.
    fn install(files: KVec<Arc<ProxyFile>>, on_private: bool) -> Result<Self> {
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
    fn finish(self, by: &ProxyFile) {
        for (fd, pf) in self.fds.iter() {
            if !crate::vendor::close_fd_if(*fd, &pf.vendor) {
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

/// Which vendor node a proxy node stands for.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum NodeKind {
    /// `nvidiactl`.
    Ctl,
    /// `nvidiaN`, by the container's GPU number.
    Gpu(u32),
    /// `nvidia-uvm`.
    Uvm,
}

/// A proxy node: a context and which of its nodes.
pub(crate) struct Node {
    pub(crate) ctx: Arc<Context>,
    pub(crate) kind: NodeKind,
}

/// One open proxy file.
#[pin_data]
pub(crate) struct ProxyFile {
    ctx: Arc<Context>,
    kind: NodeKind,
    vendor: VendorFile,
    tgid: i32,
    /// Whether the vendor driver's ABI is in the supported table.
    abi_ok: bool,
    /// Identifies the file in the context's object table.
    id: u64,
    /// RM_MAP_MEMORY of a usermode (doorbell) object of host GPU N named
    /// this file (N + 1; 0: none). From then on every mmap of this file is
    /// gated by the compute scheduler on that GPU, not only the next: the
    /// vendor keeps the file's mapping context, so a second mmap (or a
    /// forked child's mmap of the inherited fd) maps the doorbell again.
    /// It is never cleared: a later map call naming this file cannot be
    /// trusted to have replaced the context (its parameters are the
    /// tenant's memory), and CUDA maps every object through a file of its
    /// own, so a doorbell file is not reused for other memory.
    doorbell_gpu: kernel::sync::atomic::Atomic<u32>,
}

impl ProxyFile {
    /// Opens the vendor's node behind `node` for `file`.
    pub(crate) fn open(node: &Arc<Node>, file: &File) -> Result<Arc<Self>> {
        let ctx = &node.ctx;
        if ctx.is_dead() {
            return Err(ENODEV);
        }
        if ctx.is_compromised() {
            return Err(EPERM);
        }
        let path = match node.kind {
            NodeKind::Ctl => &ctx.paths.ctl,
            NodeKind::Uvm => &ctx.paths.uvm,
            NodeKind::Gpu(i) => ctx.paths.gpus.get(i as usize).ok_or(ENODEV)?,
        };
        let vendor = path.open(file)?;
        let tgid = kernel::current!().tgid();
        let (module, version) = vendor.driver();
        let abi_ok = crate::fgcore::drivers::lookup(module, version).is_some();
        if !abi_ok {
            pr_warn!(
                "context {}: vendor driver '{}' version '{}' is not a supported ABI (supported: 580.x){}\n",
                ctx.name.to_str().unwrap_or("?"),
                core::str::from_utf8(module).unwrap_or("?"),
                core::str::from_utf8(version).unwrap_or("?"),
                if crate::permissive() { "; permissive mode: passing calls through" } else { "; its calls are refused" }
            );
        }
        let pf = Arc::pin_init(
            try_pin_init!(ProxyFile {
                ctx: ctx.clone(),
                kind: node.kind,
                vendor,
                tgid,
                abi_ok,
                id: ctx.next_file_id(),
                doorbell_gpu: kernel::sync::atomic::Atomic::new(0),
            }),
            GFP_KERNEL,
        )?;
        {
            let mut inner = ctx.inner.lock();
            match inner.pids.iter_mut().find(|(p, _)| *p == tgid) {
                Some((_, n)) => *n += 1,
                None => inner.pids.push((tgid, 1), GFP_KERNEL)?,
            }
        }
        ctx.open_files.add(1, Relaxed);
        Ok(pf)
    }

    /// The last reference to the file went: the vendor frees what its
    /// clients held, so every byte charged through it is returned.
    pub(crate) fn release(self: Arc<Self>) {
        let mut inner = self.ctx.inner.lock();
        // The vendor frees this file's clients only when its own file is
        // released, which a mapping or a registered GPU file can put off
        // indefinitely: their charge stays until the vendor has freed them
        // (`Context::settle_lingering`). Export slots go with the file.
        let mut clients = KVec::new();
        let listed = inner
            .objects
            .clients_of_file(self.id, |c| clients.push(c, GFP_KERNEL));
        let bytes = inner.objects.close_file(self.id);
        let kept = bytes > 0
            && listed.is_ok()
            && !clients.is_empty()
            && inner.lingering.push((clients, bytes), GFP_KERNEL).is_ok();
        if !kept && inner.ledger.uncharge(bytes).is_err() {
            pr_err!(
                "context {}: ledger underflow on close\n",
                self.ctx.name.to_str().unwrap_or("?")
            );
        }
        if let Some(i) = inner.pids.iter().position(|(p, _)| *p == self.tgid) {
            match inner.pids.get_mut(i) {
                Some((_, n)) if *n > 1 => *n -= 1,
                _ => {
                    let _ = inner.pids.remove(i);
                }
            }
        }
        drop(inner);
        if self.kind == NodeKind::Uvm {
            // A dead process's managed ranges go (its mm has no users).
            self.ctx.reconcile_managed(false);
        }
        self.ctx.open_files.fetch_sub(1, Relaxed);
    }

    fn file_kind(&self) -> FileKind {
        match self.kind {
            NodeKind::Ctl => FileKind::Ctl,
            NodeKind::Gpu(_) => FileKind::Gpu,
            NodeKind::Uvm => FileKind::Uvm,
        }
    }

    /// An ioctl from the container.
    pub(crate) fn ioctl(&self, cmd: u32, arg: usize) -> Result<isize> {
        if self.ctx.is_dead() {
            return Err(ENODEV);
        }
        // The tenant attacked the boundary: nothing more reaches the vendor.
        if self.ctx.is_compromised() {
            return Err(EIO);
        }
        if !self.abi_ok {
            if crate::permissive() {
                return self.vendor.ioctl(cmd, arg);
            }
            return Err(EPROTONOSUPPORT);
        }
        let kind = self.file_kind();
        if kind == FileKind::Uvm {
            // What this process unmapped of its managed memory goes before
            // the call (crate::managed).
            self.ctx.reconcile_managed_current();
        }
        let size = match kind {
            FileKind::Uvm | FileKind::UvmTools => nvabi::uvm::uvm_param_size(cmd).ok_or(EINVAL)?,
            _ => kernel::ioctl::_IOC_SIZE(cmd),
        };
        if size > MAX_PARAMS {
            return Err(EINVAL);
        }
        let mut params = KVec::from_elem(0u8, size, GFP_KERNEL)?;
        read_user(arg, &mut params)?;
        let d = nvabi::decode(kind, cmd, &params);
        // The one verdict on the call; everything below executes it.
        let view = ContextView {
            permissive: crate::permissive(),
        };
        let r = policy::route(&d, &view);
        // Before fd translation or lending may switch the thread to a
        // private table that holds vendor files.
        let audit = r.audits_vidmem(&d) && self.note_auditee()?;
        // Read off the caller's own table before fd translation may switch
        // the thread to a private one.
        let lend = if r.lends_gpu_files() {
            Some(self.held_gpu_files()?)
        } else {
            None
        };
        // An fd in the ioctl's block, or in an export-fd control's
        // parameters (a separate user block).
        let export = self.export_control(r)?;
        let mut scratch = KVec::new();
        let at = match (&export, d.fd()) {
            (Some((c, nested, field)), _) => {
                // Rewritten for the call; `nested` stays as the vendor read it.
                scratch.extend_from_slice(nested, GFP_KERNEL)?;
                Some((*field, c.params.ptr as usize, NV_ERR_INVALID_PARAMETER))
            }
            (None, Some(field)) => Some((field, arg, NV_ERR_INVALID_ARGUMENT)),
            (None, None) => None,
        };
        let xlate = match at {
            Some((field, addr, foreign)) => {
                let block: &mut [u8] = if export.is_some() {
                    &mut scratch
                } else {
                    &mut params
                };
                match self.translate_fd(&d, field, addr, block, arg, foreign)? {
                    Xlate::Refused => return Ok(0),
                    Xlate::Installed(t) => Some((field, t)),
                    Xlate::Untouched => None,
                }
            }
            None => None,
        };
        let lent = match lend.map(|files| Lent::install(files, xlate.is_some())) {
            Some(Ok(l)) => Some(l),
            Some(Err(e)) => {
                if let Some((field, temp)) = xlate {
                    let _ = self.untranslate_fd(field, temp);
                }
                return Err(e);
            }
            None => None,
        };
        let ret = self.dispatch(&d, r, cmd, arg, &mut params);
        if let Some(l) = lent {
            l.finish(self);
        }
        if audit {
            self.audit_vidmem();
        }
        if let (Route::MapMemory, Ok(_), Some((_, temp))) = (r, &ret, &xlate) {
            self.note_doorbell_map(&d, arg, &temp.target);
        }
        if let (Ok(_), Some((c, before, _))) = (&ret, &export) {
            let target = xlate.as_ref().map(|(_, t)| t.target.id);
            self.account_export(&d, c, before, target, arg);
        }
        match xlate {
            Some((field, temp)) => {
                let restored = self.untranslate_fd(field, temp);
                ret.and_then(|v| restored.map(|()| v))
            }
            None => ret,
        }
    }

    /// Executes the route `r` of call `d` (see [`policy::route`]).
    fn dispatch(
        &self,
        d: &Decoded,
        r: Route,
        cmd: u32,
        arg: usize,
        params: &mut [u8],
    ) -> Result<isize> {
        match r {
            // fds were translated and export controls are followed by
            // `ioctl`; doorbell mappings are noted after the call.
            Route::Forward(_) | Route::MapMemory | Route::ExportFd(_) | Route::RegisterGpu => {
                self.vendor.ioctl(cmd, arg)
            }
            Route::Refuse(why) => self.refuse(d, arg, params, why),
            Route::Unrouted { what, forward } => self.unrouted(d, what, forward, cmd, arg, params),
            Route::ChargeAlloc(a) => self.alloc_memory(d, &a, cmd, arg, params),
            Route::ChargeHeap {
                alloc,
                h_client,
                h_parent,
            } => self.heap_alloc(d, alloc, (h_client, h_parent), cmd, arg, params),
            Route::Track => self.forward_alloc_object(d, cmd, arg, None),
            Route::AllocDevice(a) => self.alloc_device(d, &a.params, cmd, arg, params),
            Route::Free { h_client, h_object } => self.free(cmd, arg, d, h_client, h_object),
            Route::Dup {
                h_client,
                h_parent,
                src,
            } => self.dup(d, cmd, arg, params, h_client, h_parent, src),
            Route::MemoryInfo => self.memory_info(d, cmd, arg),
            Route::CardInfo => self.card_info(d, cmd, arg),
            Route::GpuIdList { probed, params: n } => self.gpu_id_list(d, probed, &n, cmd, arg),
            Route::GpuIdCheck(n) => {
                // The GPU id is the first field of both parameter blocks.
                let nested = read_nested(&n)?;
                let visible =
                    rd_u32(&nested, 0).is_some_and(|id| self.ctx.inner.lock().visible.contains(id));
                if !visible {
                    return self.refuse_with(d, arg, params, NV_ERR_INVALID_ARGUMENT);
                }
                self.vendor.ioctl(cmd, arg)
            }
            Route::AttachGpus => {
                let allowed = attach_allowed(params, &self.ctx.inner.lock().visible);
                if !allowed {
                    if self.ctx.first_refusal(Refused::Attach) {
                        pr_warn!(
                            "context {}: refused attaching a GPU outside the context\n",
                            self.ctx_name()
                        );
                    }
                    return Err(EINVAL);
                }
                self.vendor.ioctl(cmd, arg)
            }
            Route::DisableChannels(n) => self.disable_channels(d, cmd, arg, params, &n),
            Route::SchedLever {
                cmd: ctrl,
                params: n,
            } => {
                let nested = if policy::sched_needs_params(ctrl) {
                    read_nested(&n).unwrap_or_default()
                } else {
                    KVec::new()
                };
                if policy::sched_answered(ctrl, &nested) {
                    // The share is the scheduler's: answered, not applied.
                    return self.refuse_with(d, arg, params, NV_OK);
                }
                self.vendor.ioctl(cmd, arg)
            }
        }
    }

    /// A call the table does not route: counted per context (sysfs
    /// `unrouted`), logged the first time its number is seen, and refused
    /// as the vendor refuses an unknown call, or forwarded in permissive
    /// mode.
    fn unrouted(
        &self,
        d: &Decoded,
        what: Unrouted,
        forward: bool,
        cmd: u32,
        arg: usize,
        params: &mut [u8],
    ) -> Result<isize> {
        if self.ctx.inner.lock().unrouted.note(what) {
            pr_warn!(
                "context {}: {} {:#x} is not routed ({}); {}\n",
                self.ctx_name(),
                what.kind(),
                what.number(),
                d.name(),
                if forward {
                    "permissive mode: forwarded"
                } else {
                    "refused"
                }
            );
        }
        if forward {
            return self.vendor.ioctl(cmd, arg);
        }
        self.refuse(d, arg, params, what.refusal())
    }

    /// After a successful RM_MAP_MEMORY of a usermode (doorbell) object,
    /// marks the file that receives the mapping.
    fn note_doorbell_map(&self, d: &Decoded, arg: usize, target: &ProxyFile) {
        let Body::MapMemory {
            h_client, h_memory, ..
        } = d.body
        else {
            return;
        };
        let ok = read_back(arg, d.size)
            .ok()
            .is_some_and(|outer| status_of(d, &outer) == Some(NV_OK));
        if !ok {
            return;
        }
        let inner = self.ctx.inner.lock();
        let objects = &inner.objects;
        if objects.is_usermode(h_client, h_memory) {
            // The doorbell's GPU, plus one (0: no doorbell mapping next);
            // a usermode object always hangs under a device, but should
            // that be unknown, the context's first GPU.
            let gpu = objects
                .gpu_of(h_client, h_memory)
                .or_else(|| self.ctx.gpus.iter().next())
                .unwrap_or(0);
            target.doorbell_gpu.store(gpu + 1, Relaxed);
        }
    }

    /// The context's GPU files the calling thread holds in its own fd
    /// table, one per GPU (what the RM's GPU-access check looks for, as
    /// their vendor files; see [`Route::lends_gpu_files`]).
    fn held_gpu_files(&self) -> Result<KVec<Arc<ProxyFile>>> {
        let gpus = self.ctx.paths.gpus.len();
        // Reserved up front: the walk runs under the table's spinlock.
        let mut held: KVec<Arc<ProxyFile>> = KVec::with_capacity(gpus, GFP_KERNEL)?;
        crate::miscdev::for_each_held_proxy(&mut |pf| {
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
    /// `block_addr` (the ioctl's own block, `arg`, or a nested one); a
    /// refusal is written to the ioctl's block with status `foreign`.
    fn translate_fd(
        &self,
        d: &Decoded,
        field: FdField,
        block_addr: usize,
        block: &mut [u8],
        arg: usize,
        foreign: u32,
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
        let Some(target) = crate::miscdev::as_proxy(&caller) else {
            return Ok(Xlate::Untouched);
        };
        if !Arc::ptr_eq(&target.ctx, &self.ctx) {
            // Another context's file: never let one container act on another's.
            if self.ctx.first_refusal(Refused::ForeignFile) {
                pr_warn!(
                    "context {}: refused a call naming another context's file\n",
                    self.ctx_name()
                );
            }
            let mut outer = read_back(arg, d.size)?;
            return self
                .refuse_with(d, arg, &mut outer, foreign)
                .map(|_| Xlate::Refused);
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
    fn untranslate_fd(&self, field: FdField, t: TempFd) -> Result {
        let restored = (|| -> Result {
            let mut block = read_back(t.block_addr, t.block_len)?;
            if field.write(&mut block, t.original) {
                write_user(t.block_addr, &block)?;
            }
            Ok(())
        })();
        let closed = crate::vendor::close_fd_if(t.fd, &t.target.vendor);
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
            crate::vendor::kill_current_pgrp();
        }
        restored
    }

    /// An export-fd control (NV0000 OS_UNIX, on a client handle): the
    /// control, its parameters as read before the call, and the fd in them.
    /// `None` for every other call, and for blocks the vendor refuses
    /// (wrong size, serialized), which go on untranslated.
    fn export_control(&self, r: Route) -> Result<Option<(ControlCall, KVec<u8>, FdField)>> {
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
        match dec::decode_control_params(c.cmd, &nested) {
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
    fn account_export(
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

    fn ctx_name(&self) -> &str {
        self.ctx.name.to_str().unwrap_or("?")
    }

    /// Records the calling process as one whose video memory the audit
    /// asks the vendor for (before its allocating call reaches the vendor);
    /// returns whether it is audited. A process that holds the vendor's
    /// own control node besides the context's (a host process, never a
    /// container's: a container has no vendor node) is not: the vendor's
    /// count of its memory includes what it allocated directly, which the
    /// context's ledger never saw.
    fn note_auditee(&self) -> Result<bool> {
        let current = kernel::current!();
        let me = current.group_leader();
        let mut inner = self.ctx.inner.lock();
        if inner.auditees.iter().any(|t| core::ptr::eq(&**t, me)) {
            return Ok(true);
        }
        // The walk takes the fd table's spinlock: fine under this mutex.
        if self.vendor.held_directly() {
            return Ok(false);
        }
        inner.auditees.retain(|t| crate::vendor::task_alive(t));
        inner.auditees.push(ARef::from(me), GFP_KERNEL)?;
        Ok(true)
    }

    /// After an allocating call, whatever it returned: the video memory the
    /// vendor holds for the context's processes (counted by the vendor
    /// from its own objects, [`kapi::vidmem_of`]) must not exceed what the
    /// ledger charges (`docs/isolation.md` §5). A call whose class, size,
    /// nested pointer, handle, client or status a second thread rewrote
    /// between the proxy's read and the vendor's shows up here, whichever
    /// field it was. A surplus that a close in flight explains (the ledger
    /// is returned before the vendor's file is released) goes within
    /// [`audit::SETTLE_TRIES`] retries; one that stays is an attack.
    fn audit_vidmem(&self) {
        self.ctx.audit_checks.fetch_add(1, Relaxed);
        let mut tries = 0;
        loop {
            let excess = match self.vidmem_excess() {
                Ok(e) => e,
                Err(status) => {
                    pr_debug!(
                        "context {}: the vendor could not count its video memory (status {:#x})\n",
                        self.ctx_name(),
                        status
                    );
                    return;
                }
            };
            let Some((vendor, ledger)) = excess else {
                return;
            };
            if tries >= audit::SETTLE_TRIES {
                self.diverged(vendor, ledger);
                return;
            }
            tries += 1;
            kernel::time::delay::fsleep(kernel::time::Delta::from_micros(audit::SETTLE_US));
        }
    }

    /// (vendor's bytes, ledger's bytes) when the vendor holds more.
    fn vidmem_excess(&self) -> core::result::Result<Option<(u64, u64)>, u32> {
        let mut pids: KVec<u32> = KVec::new();
        {
            let inner = self.ctx.inner.lock();
            for t in inner.auditees.iter() {
                // As the RM numbers them for this caller (0: not visible).
                let nr = t.tgid_nr_ns(None);
                if nr > 0 {
                    pids.push(nr as u32, GFP_KERNEL)
                        .map_err(|_| NV_ERR_NO_MEMORY)?;
                }
            }
        }
        let mut vendor = 0u64;
        for gpu in self.ctx.gpus.iter() {
            vendor = vendor.saturating_add(kapi::vidmem_of(gpu, &pids)?);
        }
        let ledger = self.ctx.inner.lock().ledger.used();
        Ok(audit::diverges(vendor, ledger).then_some((vendor, ledger)))
    }

    /// The vendor holds video memory the ledger does not charge: the tenant
    /// changed a call after the proxy read it. Every process that made an
    /// allocating call through the context is killed (their files close,
    /// and the vendor frees their clients, the hidden object with them),
    /// and the context refuses every further open and call until it is
    /// destroyed.
    fn diverged(&self, vendor: u64, ledger: u64) {
        self.ctx.audit_divergences.fetch_add(1, Relaxed);
        if !self.ctx.is_compromised() {
            pr_err!(
                "context {}: the vendor holds {} B of video memory for its processes, the ledger charges {} B: a call was rewritten after the proxy read it (pid {}); killing the context's processes and refusing further calls\n",
                self.ctx_name(),
                vendor,
                ledger,
                kernel::current!().tgid()
            );
        }
        self.ctx.mark_compromised();
        let tasks: KVec<ARef<Task>> = {
            let inner = self.ctx.inner.lock();
            let mut v = KVec::new();
            for t in inner.auditees.iter() {
                // On allocation failure the caller's group is still killed.
                let _ = v.push(t.clone(), GFP_KERNEL);
            }
            v
        };
        // The caller is one of them. (Not its process group: a context's
        // processes need not share one, and a group may hold more than
        // the context's.)
        for t in tasks.iter() {
            crate::vendor::kill_process(t);
        }
    }

    /// Refuses a call as its route says.
    fn refuse(&self, d: &Decoded, arg: usize, params: &mut [u8], why: Refusal) -> Result<isize> {
        match why {
            Refusal::Inval => Err(EINVAL),
            Refusal::Status(status) => self.refuse_with(d, arg, params, status),
        }
    }

    /// RM_ALLOC of a memory class: reserve, forward, settle.
    fn alloc_memory(
        &self,
        d: &Decoded,
        a: &AllocCall,
        cmd: u32,
        arg: usize,
        params: &mut [u8],
    ) -> Result<isize> {
        // Parameters the proxy cannot read could hide video memory.
        let unreadable = Refusal::Status(NV_ERR_INVALID_ARGUMENT);
        if a.serialized {
            return self.refuse(d, arg, params, unreadable);
        }
        let nested = read_nested(&a.params)?;
        let requested = match nvabi::decode_alloc_params(a.h_class, &nested) {
            // What the driver will allocate, so rounding cannot pass the cap.
            AllocParams::Memory(m) if m.consumes_vidmem => {
                crate::fgcore::drivers::round_vidmem(m.size).unwrap_or(u64::MAX)
            }
            AllocParams::Memory(_) => 0,
            // A memory class whose parameters we cannot read: refuse.
            _ => return self.refuse(d, arg, params, unreadable),
        };
        if let Some(refused) = self.reserve(d, arg, params, requested)? {
            return Ok(refused);
        }
        let ret = self.vendor.ioctl(cmd, arg);
        let after = read_back(arg, params.len());
        let outcome = match (&ret, &after) {
            (Ok(_), Ok(outer)) if status_of(d, outer) == Some(NV_OK) => {
                // Read back from the tenant's memory: never more than was
                // reserved (so the ledger stays under the cap); if the
                // vendor allocated more, the audit after the call sees it.
                let actual = match read_nested(&a.params) {
                    Ok(n) if requested > 0 => nvabi::decode::memory_alloc_result_size(&n)
                        .unwrap_or(requested)
                        .min(requested),
                    _ => requested,
                };
                nvabi::decode::alloc_result_handle(outer)
                    .map(|h| (a.h_client, h, a.h_parent, actual))
            }
            _ => None,
        };
        self.settle(requested, outcome);
        ret
    }

    /// Reserves `requested` bytes under the cap before the vendor is asked.
    /// Over the cap, answers the call with the vendor's own out-of-memory
    /// status and returns the ioctl's result (`Some`).
    fn reserve(
        &self,
        d: &Decoded,
        arg: usize,
        params: &mut [u8],
        requested: u64,
    ) -> Result<Option<isize>> {
        if requested == 0 {
            return Ok(None);
        }
        // Closed files' charges the vendor may have returned meanwhile
        // (asked only while there are any, and before the one charge, so
        // a refusal is counted once).
        if !self.ctx.inner.lock().lingering.is_empty() {
            self.ctx.settle_lingering();
        }
        if self.ctx.inner.lock().ledger.charge(requested).is_ok() {
            return Ok(None);
        }
        self.refuse_with(d, arg, params, NV_ERR_NO_MEMORY).map(Some)
    }

    /// After the vendor answered an allocation reserved with `reserve`: on
    /// success (`done` = client, handle, parent, bytes allocated) the charge
    /// becomes what the vendor allocated and the object is tracked; on
    /// failure the reservation is returned.
    fn settle(&self, requested: u64, done: Option<(u32, u32, u32, u64)>) {
        let mut inner = self.ctx.inner.lock();
        let Some((client, handle, parent, actual)) = done else {
            let _ = inner.ledger.uncharge(requested);
            return;
        };
        inner.ledger.settle(requested, actual);
        let tracked = if actual > 0 {
            inner
                .objects
                .add_memory(self.id, client, handle, parent, actual)
        } else {
            inner
                .objects
                .add_object(self.id, client, handle, parent, Kind::Plain)
        };
        if tracked.is_err() {
            pr_err!(
                "context {}: out of memory tracking an allocation\n",
                self.ctx_name()
            );
        }
    }

    /// VID_HEAP_CONTROL allocation (the legacy heap interface): the size is
    /// in the outer block; charged like RM_ALLOC of video memory.
    fn heap_alloc(
        &self,
        d: &Decoded,
        h: HeapAlloc,
        (h_client, h_parent): (u32, u32),
        cmd: u32,
        arg: usize,
        params: &mut [u8],
    ) -> Result<isize> {
        let requested = if h.class == NV01_MEMORY_LOCAL_USER {
            crate::fgcore::drivers::round_vidmem(h.size).unwrap_or(u64::MAX)
        } else {
            0
        };
        if let Some(refused) = self.reserve(d, arg, params, requested)? {
            return Ok(refused);
        }
        let ret = self.vendor.ioctl(cmd, arg);
        let outcome = match (&ret, read_back(arg, params.len())) {
            (Ok(_), Ok(outer)) if status_of(d, &outer) == Some(NV_OK) => {
                // As in `alloc_memory`: at most the reservation.
                let actual = if requested > 0 {
                    rd_u64(&outer, h.size_offset)
                        .unwrap_or(requested)
                        .min(requested)
                } else {
                    0
                };
                rd_u32(&outer, h.h_memory_offset).map(|handle| (h_client, handle, h_parent, actual))
            }
            _ => None,
        };
        self.settle(requested, outcome);
        ret
    }

    /// NV01_DEVICE_0: the container's device instance N is the context's
    /// N-th GPU. The instance in the caller's parameter block is rewritten
    /// to the host's for the call and restored after it (the RM numbers
    /// devices as the driver numbers its GPUs, `/dev/nvidiaN`); an instance
    /// beyond the context's GPUs is refused as the vendor refuses a device
    /// it does not have.
    fn alloc_device(
        &self,
        d: &Decoded,
        n: &NestedRef,
        cmd: u32,
        arg: usize,
        params: &mut [u8],
    ) -> Result<isize> {
        let mut nested = read_nested(n)?;
        // Without parameters the RM takes instance 0.
        let local = if nested.is_empty() {
            0
        } else {
            rd_u32(&nested, 0).ok_or(EINVAL)?
        };
        let Some(host) = self.ctx.gpus.host_index(local) else {
            return self.refuse_with(d, arg, params, NV_ERR_INVALID_ARGUMENT);
        };
        if nested.is_empty() {
            if host != 0 {
                return self.refuse_with(d, arg, params, NV_ERR_INVALID_ARGUMENT);
            }
            return self.forward_alloc_object(d, cmd, arg, Some(host));
        }
        if host == local {
            return self.forward_alloc_object(d, cmd, arg, Some(host));
        }
        nested[..4].copy_from_slice(&host.to_le_bytes());
        write_user(n.ptr as usize, &nested)?;
        let ret = self.forward_alloc_object(d, cmd, arg, Some(host));
        // The caller sees its own numbering again.
        let restored = read_nested(n).and_then(|mut b| {
            if let Some(f) = b.get_mut(..4) {
                f.copy_from_slice(&local.to_le_bytes());
            }
            write_user(n.ptr as usize, &b)
        });
        ret.and_then(|v| restored.map(|()| v))
    }

    /// Forwards an RM_ALLOC of an object that takes no memory and records
    /// it; `device` is the host GPU of an NV01_DEVICE_0.
    fn forward_alloc_object(
        &self,
        d: &Decoded,
        cmd: u32,
        arg: usize,
        device: Option<u32>,
    ) -> Result<isize> {
        let ret = self.vendor.ioctl(cmd, arg)?;
        if let Body::Alloc(a) = d.body {
            let outer = read_back(arg, d.size)?;
            if status_of(d, &outer) == Some(NV_OK) {
                if let Some(handle) = nvabi::decode::alloc_result_handle(&outer) {
                    // A client is its own root: the RM returns its handle.
                    let is_client = a.class == NV01_ROOT_CLIENT;
                    let (client, parent) = if is_client {
                        (handle, handle)
                    } else {
                        (a.h_client, a.h_parent)
                    };
                    let kind = match (device, nvabi::class::class_info(a.class).map(|c| c.kind)) {
                        (Some(gpu), _) => Kind::Device(gpu),
                        (None, Some(ClassKind::Usermode)) => Kind::Usermode,
                        (None, Some(ClassKind::Channel)) => Kind::Channel,
                        _ => Kind::Plain,
                    };
                    self.ctx
                        .inner
                        .lock()
                        .objects
                        .add_object(self.id, client, handle, parent, kind)
                        .map_err(objects::enomem)?;
                }
            }
        }
        Ok(ret)
    }

    /// FIFO_DISABLE_CHANNELS from a container. Every channel it names must
    /// be of one of the context's clients (the RM would let it stop anybody's
    /// channels). The scheduler stops a shut context's channels with the
    /// same control, so the container's own re-enabling goes through only
    /// while its gate is open (checked under the gate's lock, which the
    /// scheduler's shut takes first); while shut it is answered `NV_OK` and
    /// takes effect when the gate opens, which enables them all.
    ///
    /// The control is executed from the proxy's copy of its parameters on
    /// the module's own subdevice of the same GPU, through the vendor's
    /// kernel RM API (`docs/isolation.md` §4 (K′)): forwarded, the vendor
    /// would read the tenant's parameters again, and a second thread could
    /// point `hClientList` at another context's channels after the check,
    /// or turn `bDisable` off while the gate is shut. What kernel privilege
    /// would add is refused as the RM refuses it from a user: a
    /// `pRunlistPreemptEvent` (kernel clients only), a subdevice or client
    /// that is not the calling file's.
    fn disable_channels(
        &self,
        d: &Decoded,
        _cmd: u32,
        arg: usize,
        params: &mut [u8],
        n: &NestedRef,
    ) -> Result<isize> {
        type P = Nv2080CtrlFifoDisableChannelsParams;
        let Body::Control(c) = d.body else {
            return Err(EINVAL);
        };
        let nested = read_nested(n)?;
        let Some(p) = P::read(&nested).filter(|_| nested.len() == P::SIZE) else {
            return self.refuse_with(d, arg, params, NV_ERR_INVALID_ARGUMENT);
        };
        if p.num_channels as usize > p.h_client_list.len() || p.p_runlist_preempt_event != 0 {
            return self.refuse_with(d, arg, params, NV_ERR_INVALID_ARGUMENT);
        }
        let count = p.num_channels as usize;
        let (own, gpu, foreign) = {
            let inner = self.ctx.inner.lock();
            (
                inner.objects.client_file(c.h_client) == Some(self.id),
                inner.objects.gpu_of(c.h_client, c.h_object),
                p.h_client_list[..count]
                    .iter()
                    .any(|&cl| !inner.objects.has_client(cl)),
            )
        };
        if !own {
            return self.refuse_with(d, arg, params, NV_ERR_INVALID_CLIENT);
        }
        let Some(gpu) = gpu else {
            return self.refuse_with(d, arg, params, NV_ERR_OBJECT_NOT_FOUND);
        };
        if foreign {
            if self.ctx.first_refusal(Refused::ForeignChannels) {
                pr_warn!(
                    "context {}: refused FIFO_DISABLE_CHANNELS naming a client outside the context\n",
                    self.ctx_name()
                );
            }
            return self.refuse_with(d, arg, params, NV_ERR_INVALID_CLIENT);
        }
        let mut b = [0u8; P::SIZE];
        p.write(&mut b);
        let mut run =
            || kapi::subdevice_control(gpu, NV2080_CTRL_CMD_FIFO_DISABLE_CHANNELS, &mut b);
        let status = if p.disable != 0 {
            run()
        } else {
            self.ctx.compute.if_open(run).unwrap_or(NV_OK)
        };
        self.refuse_with(d, arg, params, status)
    }

    /// RM_DUP_OBJECT: a new handle to an existing object; duplicated memory
    /// stays charged until its last handle goes. The source client must be
    /// one of this context's: the RM lets any client dup a shareable object
    /// of any other client by handle (that is how CUDA IPC opens another
    /// process's memory, capture 08-ipc-legacy), so without this check a
    /// container could map another container's memory by guessing handles.
    /// A foreign client gets the status the RM gives a client that does not
    /// exist.
    ///
    /// The dup is executed from the proxy's copy of the block through the
    /// vendor's kernel RM API (`docs/isolation.md` §4 (K′)), never by
    /// letting the vendor read the caller's block again: a second thread
    /// could otherwise point `hClientSrc` at another context's client after
    /// the check. Kernel callers may use any client, so the destination
    /// client must be the calling file's own (else `NV_ERR_INVALID_CLIENT`,
    /// as the RM answers a client of another file); the RM checks the
    /// source's dup rights for the destination client as for a user caller
    /// (`NV04_DUP_HANDLE_FLAGS_REJECT_KERNEL_DUP_PRIVILEGE`). The status and
    /// the new handle are written back to the caller's block.
    #[allow(clippy::too_many_arguments)]
    fn dup(
        &self,
        d: &Decoded,
        _cmd: u32,
        arg: usize,
        params: &mut [u8],
        client: u32,
        parent: u32,
        src: (u32, u32),
    ) -> Result<isize> {
        let (own, ours) = {
            let inner = self.ctx.inner.lock();
            (
                inner.objects.client_file(client) == Some(self.id),
                inner.objects.has_client(src.0),
            )
        };
        if !ours {
            if self.ctx.first_refusal(Refused::ForeignDup) {
                pr_warn!(
                    "context {}: refused a dup from a client outside the context\n",
                    self.ctx_name()
                );
            }
            return self.refuse_with(d, arg, params, NV_ERR_INVALID_CLIENT);
        }
        if !own {
            return self.refuse_with(d, arg, params, NV_ERR_INVALID_CLIENT);
        }
        let mut p = Nvos55::read(params).ok_or(EINVAL)?;
        (p.h_client, p.h_parent, p.h_client_src, p.h_object_src) = (client, parent, src.0, src.1);
        let (status, handle) = match kapi::dup_object(&p) {
            Ok(r) => r,
            // No kernel RM API: nothing is forwarded unchecked.
            Err(s) => (s, 0),
        };
        if status == NV_OK {
            self.ctx
                .inner
                .lock()
                .objects
                .add_dup(self.id, client, handle, parent, src)
                .map_err(objects::enomem)?;
            p.h_object = handle;
        }
        p.status = status;
        p.write(params);
        write_user(arg, params)?;
        Ok(0)
    }

    /// RM_FREE (and VID_HEAP FREE): forward; if the vendor freed, drop the
    /// object and its subtree, and uncharge memory no handle refers to.
    fn free(&self, cmd: u32, arg: usize, d: &Decoded, client: u32, object: u32) -> Result<isize> {
        let ret = self.vendor.ioctl(cmd, arg)?;
        let outer = read_back(arg, d.size)?;
        if status_of(d, &outer) != Some(NV_OK) {
            return Ok(ret);
        }
        let mut inner = self.ctx.inner.lock();
        let freed = inner.objects.free(client, object);
        if inner.ledger.uncharge(freed).is_err() {
            pr_err!("context {}: ledger underflow on free\n", self.ctx_name());
        }
        Ok(ret)
    }

    /// GPU_GET_ATTACHED_IDS / GET_PROBED_IDS: only the context's GPUs.
    fn gpu_id_list(
        &self,
        d: &Decoded,
        probed: bool,
        n: &NestedRef,
        cmd: u32,
        arg: usize,
    ) -> Result<isize> {
        let ret = self.vendor.ioctl(cmd, arg)?;
        let outer = read_back(arg, d.size)?;
        if status_of(d, &outer) != Some(NV_OK) {
            return Ok(ret);
        }
        let mut list = read_nested(n)?;
        {
            let inner = self.ctx.inner.lock();
            // Both start with `gpuIds[32]`; PROBED_IDS has `excludedGpuIds[32]`
            // at 128 (none of the context's) and `gpuFlags[32]` at 256.
            if probed {
                filter_gpu_ids(&mut list, 0, 32, Some(256), &inner.visible);
                filter_gpu_ids(&mut list, 128, 32, None, &VisibleIds::EMPTY);
            } else {
                filter_gpu_ids(&mut list, 0, 32, None, &inner.visible);
            }
        }
        write_user(n.ptr as usize, &list)?;
        Ok(ret)
    }

    /// Refuses a call with an RM status, as the vendor would.
    fn refuse_with(
        &self,
        d: &Decoded,
        arg: usize,
        params: &mut [u8],
        status: u32,
    ) -> Result<isize> {
        if d.write_status(params, status) {
            write_user(arg, params)?;
            return Ok(0);
        }
        Err(EINVAL)
    }

    /// CARD_INFO: the container sees its GPUs only, numbered from 0.
    fn card_info(&self, d: &Decoded, cmd: u32, arg: usize) -> Result<isize> {
        let ret = self.vendor.ioctl(cmd, arg)?;
        let mut list = read_back(arg, d.size)?;
        {
            let mut inner = self.ctx.inner.lock();
            filter_card_info(&mut list, &self.ctx.gpus, &mut inner.visible);
        }
        write_user(arg, &list)?;
        Ok(ret)
    }

    /// A memory-info query: forward, then make the reply show the cap as
    /// the card's size and cap − used as free.
    fn memory_info(&self, d: &Decoded, cmd: u32, arg: usize) -> Result<isize> {
        if let Body::Control(c) = d.body {
            if c.cmd == NV2080_CTRL_CMD_FB_GET_INFO_V2 && !c.serialized {
                return self.fb_info_v2(d, &c, arg);
            }
        }
        let ret = self.vendor.ioctl(cmd, arg)?;
        let mut outer = read_back(arg, d.size)?;
        if status_of(d, &outer) != Some(NV_OK) {
            return Ok(ret);
        }
        self.ctx.settle_lingering();
        let (cap, used) = {
            let inner = self.ctx.inner.lock();
            (inner.ledger.limit(), inner.ledger.used())
        };
        let nref = d.nested();
        let mut nested = match &nref {
            Some(n) => read_nested(n)?,
            None => KVec::new(),
        };
        if nvabi::rewrite_memory_info(d, &mut outer, &mut nested, cap, used) > 0 {
            if let Some(n) = nref {
                write_user(n.ptr as usize, &nested)?;
            }
            write_user(arg, &outer)?;
        }
        Ok(ret)
    }

    /// FB_GET_INFO_V2, executed from the proxy's copy of its parameters on
    /// the module's own subdevice of the same GPU (kernel RM API, a
    /// read-only query) and rewritten to the context's cap before the
    /// tenant sees a byte of it: forwarded, the vendor would write the
    /// card's own figures into the tenant's memory, readable by a second
    /// thread until the proxy rewrote them. The control's client must be
    /// the calling file's and its object one of the context's (else the
    /// status the RM gives an unknown client or object).
    fn fb_info_v2(&self, d: &Decoded, c: &ControlCall, arg: usize) -> Result<isize> {
        type P = Nv2080CtrlFbGetInfoV2Params;
        let mut outer = KVec::from_elem(0u8, d.size, GFP_KERNEL)?;
        read_user(arg, &mut outer)?;
        // What exited processes left is shown once the vendor freed it.
        self.ctx.settle_lingering();
        let (own, gpu, cap, used) = {
            let inner = self.ctx.inner.lock();
            (
                inner.objects.client_file(c.h_client) == Some(self.id),
                inner.objects.gpu_of(c.h_client, c.h_object),
                inner.ledger.limit(),
                inner.ledger.used(),
            )
        };
        if !own {
            return self.refuse_with(d, arg, &mut outer, NV_ERR_INVALID_CLIENT);
        }
        let Some(gpu) = gpu else {
            return self.refuse_with(d, arg, &mut outer, NV_ERR_OBJECT_NOT_FOUND);
        };
        // The control's fixed size, as the RM checks it.
        if c.params.size != P::SIZE {
            return self.refuse_with(d, arg, &mut outer, NV_ERR_INVALID_ARGUMENT);
        }
        let mut nested = read_nested(&c.params)?;
        let status = kapi::subdevice_control(gpu, NV2080_CTRL_CMD_FB_GET_INFO_V2, &mut nested);
        if status == NV_OK {
            nvabi::rewrite_memory_info(d, &mut outer, &mut nested, cap, used);
            write_user(c.params.ptr as usize, &nested)?;
        }
        self.refuse_with(d, arg, &mut outer, status)
    }

    /// Hands an mmap to the vendor.
    ///
    /// # Safety
    ///
    /// `vma` is the vma being set up for this file by the VFS.
    pub(crate) unsafe fn mmap(&self, vma: *mut bindings::vm_area_struct) -> Result {
        if self.ctx.is_dead() {
            return Err(ENODEV);
        }
        if self.file_kind() == FileKind::Uvm {
            // Managed memory: charged by size (crate::managed).
            // SAFETY: forwarded from the caller's contract; the vendor's
            // mmap runs on the same vma.
            return unsafe {
                crate::managed::mmap(&self.ctx, self.vendor.fops_ptr(), vma, || {
                    self.vendor.mmap(vma)
                })
            };
        }
        // SAFETY: forwarded from the caller's contract.
        unsafe { self.vendor.mmap(vma) }?;
        // Sticky (see the field): every mapping of a doorbell file is gated.
        let gpu = self.doorbell_gpu.load(Relaxed);
        if gpu != 0 {
            // SAFETY: `vma` is the vma being set up, and the vendor's mmap
            // succeeded on it (caller's contract, above).
            if let Err(e) = unsafe { crate::doorbell::gate_vma(&self.ctx, gpu - 1, vma) } {
                pr_warn!("context {}: doorbell mapping not gated ({:?}); compute limits do not hold for it\n", self.ctx_name(), e);
            }
        }
        Ok(())
    }

    /// Forwards poll.
    ///
    /// # Safety
    ///
    /// `pt` is the poll table of this poll call.
    pub(crate) unsafe fn poll(&self, pt: *mut bindings::poll_table_struct) -> bindings::__poll_t {
        if self.ctx.is_dead() {
            // EPOLLERR
            return 0x0008;
        }
        // SAFETY: forwarded from the caller's contract.
        unsafe { self.vendor.poll(pt) }
    }
}

fn status_of(d: &Decoded, outer: &[u8]) -> Option<u32> {
    rd_u32(outer, d.status_offset()?)
}

fn read_user(addr: usize, buf: &mut [u8]) -> Result {
    UserSlice::new(UserPtr::from_addr(addr), buf.len())
        .reader()
        .read_slice(buf)
}

fn write_user(addr: usize, buf: &[u8]) -> Result {
    UserSlice::new(UserPtr::from_addr(addr), buf.len())
        .writer()
        .write_slice(buf)
}

fn read_back(addr: usize, len: usize) -> Result<KVec<u8>> {
    let mut v = KVec::from_elem(0u8, len, GFP_KERNEL)?;
    read_user(addr, &mut v)?;
    Ok(v)
}

fn read_nested(n: &NestedRef) -> Result<KVec<u8>> {
    if n.ptr == 0 || n.size == 0 {
        return Ok(KVec::new());
    }
    if n.size > MAX_PARAMS {
        return Err(EINVAL);
    }
    read_back(n.ptr as usize, n.size)
}
