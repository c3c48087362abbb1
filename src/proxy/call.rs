// SPDX-License-Identifier: GPL-2.0

//! One ioctl: the pipeline (read the block once, decode, route, lend and
//! translate fds, execute, audit) and [`Call`], which executes a route.
//! [`vendor_ioctl`] is the only place the vendor's ioctl is called.
//!
//! How a call ends is typed ([`Done`]): the vendor's own answer, or an RM
//! status the proxy writes into the caller's block (the ioctl returning
//! 0, as the vendor answers a call it refuses), apart from an errno
//! (`Err`), which leaves the block alone.

use super::{
    fdxlate::{Lent, Xlate},
    file::ProxyFile,
    user::{read_back, read_nested, read_user, status_of, write_user, MAX_PARAMS},
};
use crate::{
    context::Refused,
    fgcore::limits::Limited,
    fgcore::nvabi::{
        self,
        ctrl::{
            Nv0000CtrlGpuGetAttachedIdsParams, Nv0000CtrlGpuGetProbedIdsParams,
            Nv2080CtrlFbGetInfoParams, Nv2080CtrlFbGetInfoV2Params,
            Nv2080CtrlFifoDisableChannelsParams, Nv2080CtrlGpuGetPidInfoParams,
            Nv2080CtrlGpuPidInfo, GET_PIDS_COUNT_OFFSET, GET_PIDS_TABLE_OFFSET,
            NV2080_CTRL_CMD_FB_GET_INFO_V2, NV2080_CTRL_CMD_FIFO_DISABLE_CHANNELS,
            NV2080_CTRL_CMD_GPU_GET_PIDS, NV2080_CTRL_CMD_GPU_GET_PID_INFO,
            NV2080_CTRL_GPU_GET_PIDS_MAX_COUNT, NV2080_CTRL_GPU_GET_PID_INFO_MAX_COUNT,
        },
        decode::{AllocCall, Body, ControlCall, Decoded, FileKind, HeapAlloc, NestedRef},
        rm::{Nvos32, Nvos55},
        status::{
            NV_ERR_INSUFFICIENT_RESOURCES, NV_ERR_INVALID_ARGUMENT, NV_ERR_INVALID_CLIENT,
            NV_ERR_INVALID_PARAMETER, NV_ERR_INVALID_POINTER, NV_ERR_NOT_SUPPORTED,
            NV_ERR_NO_MEMORY, NV_ERR_OBJECT_NOT_FOUND, NV_OK,
        },
        wire::Wire,
        wire::{rd_u32, rd_u64, wr_u32},
    },
    fgcore::policy::{self, ContextView, Refusal, Route, Tracked, Unrouted},
    fgcore::visibility::{
        attach_allowed, filter_card_info, filter_gpu_ids, filter_pid_info, filter_pids,
        renumber_id_info, VisibleIds,
    },
    kapi, managed,
    objects::{self, Kind},
};
use kernel::{prelude::*, sync::atomic::Relaxed};

/// Bytes of `NV2080_CTRL_GPU_GET_PIDS_PARAMS`.
const GET_PIDS_SIZE: usize = GET_PIDS_TABLE_OFFSET + 4 * NV2080_CTRL_GPU_GET_PIDS_MAX_COUNT;

/// The control call of a decoded RM_CONTROL.
fn c_of(d: &Decoded) -> Option<ControlCall> {
    match d.body {
        Body::Control(c) => Some(c),
        _ => None,
    }
}

/// The vendor's ioctl on the proxy file's vendor file: the only call of it.
fn vendor_ioctl(pf: &ProxyFile, cmd: u32, arg: usize) -> Result<isize> {
    pf.vendor.ioctl(cmd, arg)
}

/// Writes RM status `status` into the caller's block `params` (the
/// proxy's copy of the block at `arg`) and answers the ioctl with 0, as
/// the vendor answers a call it refuses; `EINVAL` for a call whose block
/// has no status field.
fn write_status(d: &Decoded, arg: usize, params: &mut [u8], status: u32) -> Result<isize> {
    if d.write_status(params, status) {
        write_user(arg, params)?;
        return Ok(0);
    }
    Err(EINVAL)
}

/// How an executed call ends, when it does not fail with an errno.
pub(super) enum Done {
    /// The vendor's own answer: its ioctl's return value (the block is as
    /// the vendor, and any rewrite of the reply, left it).
    Vendor(isize),
    /// Answered by the proxy with this RM status, written into the
    /// caller's block (a refusal, or the result of a call the proxy
    /// executed itself through the kernel RM API).
    Status(u32),
}

/// One call being executed: the file it came in on, what it decoded to,
/// and the proxy's copy of its block.
struct Call<'a> {
    pf: &'a ProxyFile,
    d: &'a Decoded,
    cmd: u32,
    arg: usize,
    params: &'a mut [u8],
}

impl Call<'_> {
    /// Forwards the call to the vendor as the caller made it.
    fn forward(&self) -> Result<isize> {
        vendor_ioctl(self.pf, self.cmd, self.arg)
    }

    /// Executes route `r` (see [`policy::route`]) and ends the call.
    fn execute(mut self, r: Route) -> Result<isize> {
        let done = self.run(r)?;
        match done {
            Done::Vendor(v) => Ok(v),
            Done::Status(s) => write_status(self.d, self.arg, self.params, s),
        }
    }

    fn run(&mut self, r: Route) -> Result<Done> {
        if r.makes_object() {
            let mut inner = self.pf.ctx.inner.lock();
            let used = inner.objects.len() as u64;
            if !inner.admit(Limited::Objects, used) {
                // As the RM answers when it has no room for another object.
                return Ok(Done::Status(NV_ERR_INSUFFICIENT_RESOURCES));
            }
        }
        match r {
            // fds were translated and export controls are followed by
            // `ioctl`; doorbell mappings are noted after the call.
            Route::Forward(_) | Route::MapMemory | Route::ExportFd(_) | Route::RegisterGpu => {
                self.forward().map(Done::Vendor)
            }
            Route::Refuse(why) => self.refuse(why),
            Route::Unrouted { what, forward } => self.unrouted(what, forward),
            Route::ChargeAlloc(a) => self.alloc_memory(&a),
            Route::ChargeHeap {
                alloc,
                charge,
                h_client,
                h_parent,
            } => self.heap_alloc(alloc, charge, (h_client, h_parent)),
            Route::Track(t) => self.forward_alloc_object(Some(t), None),
            Route::AllocDevice(a) => self.alloc_device(&a.params),
            Route::Free { h_client, h_object } => self.free(h_client, h_object),
            Route::Dup {
                h_client,
                h_parent,
                src,
            } => self.dup(h_client, h_parent, src),
            Route::HeapInfo { h_client, h_parent } => self.heap_info(h_client, h_parent),
            Route::FbInfoV2(c) => self.fb_info_v2(&c),
            Route::FbInfoV1(c) => self.fb_info_v1(&c),
            Route::CardInfo => self.card_info(),
            Route::GpuIdList { probed, c } => self.gpu_id_list(probed, &c),
            Route::Pids { info, params: n } => self.pids(info, c_of(self.d), &n),
            Route::GpuIdCheck(n) => {
                // The GPU id is the first field of both parameter blocks.
                let nested = read_nested(&n)?;
                let visible = rd_u32(&nested, 0)
                    .is_some_and(|id| self.pf.ctx.inner.lock().visible.contains(id));
                if !visible {
                    return Ok(Done::Status(NV_ERR_INVALID_ARGUMENT));
                }
                // The reply's device instance is the host's; the caller
                // allocates NV01_DEVICE_0 in its own numbering (see
                // `alloc_device`), so it is told its own.
                self.forward_rewriting(&n, |c, reply| renumber_id_info(reply, &c.pf.ctx.gpus))
            }
            Route::AttachGpus => {
                let allowed = attach_allowed(self.params, &self.pf.ctx.inner.lock().visible);
                if !allowed {
                    if self.pf.ctx.first_refusal(Refused::Attach) {
                        pr_warn!(
                            "context {}: refused attaching a GPU outside the context\n",
                            self.pf.ctx_name()
                        );
                    }
                    return Err(EINVAL);
                }
                self.forward().map(Done::Vendor)
            }
            Route::DisableChannels(n) => self.disable_channels(&n),
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
                    return Ok(Done::Status(NV_OK));
                }
                self.forward().map(Done::Vendor)
            }
        }
    }

    /// Refuses a call as its route says.
    fn refuse(&self, why: Refusal) -> Result<Done> {
        match why {
            Refusal::Inval => Err(EINVAL),
            Refusal::Status(status) => Ok(Done::Status(status)),
        }
    }

    /// A call the table does not route: counted per context (sysfs
    /// `unrouted`), logged the first time its number is seen, and refused
    /// as the vendor refuses an unknown call, or forwarded in permissive
    /// mode.
    fn unrouted(&mut self, what: Unrouted, forward: bool) -> Result<Done> {
        if self.pf.ctx.inner.lock().unrouted.note(what) {
            pr_warn!(
                "context {}: {} {:#x} is not routed ({}); {}\n",
                self.pf.ctx_name(),
                what.kind(),
                what.number(),
                self.d.name(),
                if forward {
                    "permissive mode: forwarded"
                } else {
                    "refused"
                }
            );
        }
        if forward {
            return self.forward().map(Done::Vendor);
        }
        self.refuse(what.refusal())
    }

    /// RM_ALLOC of a memory class: reserve, forward, settle.
    fn alloc_memory(&mut self, a: &AllocCall) -> Result<Done> {
        // Parameters the proxy cannot read could hide video memory.
        let unreadable = Refusal::Status(NV_ERR_INVALID_ARGUMENT);
        if a.serialized {
            return self.refuse(unreadable);
        }
        let nested = read_nested(&a.params)?;
        // What the driver will allocate, so rounding cannot pass the cap.
        let Some(requested) = policy::alloc_charge(a.h_class, &nested) else {
            return self.refuse(unreadable);
        };
        if let Some(refused) = self.reserve(requested)? {
            return Ok(refused);
        }
        let ret = self.forward();
        let after = read_back(self.arg, self.params.len());
        let outcome = match (&ret, &after) {
            (Ok(_), Ok(outer)) if status_of(self.d, outer) == Some(NV_OK) => {
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
        ret.map(Done::Vendor)
    }

    /// Reserves `requested` bytes under the cap before the vendor is asked.
    /// Over the cap, answers the call with the vendor's own out-of-memory
    /// status (`Some`).
    fn reserve(&self, requested: u64) -> Result<Option<Done>> {
        if requested == 0 {
            return Ok(None);
        }
        // Closed files' charges the vendor may have returned meanwhile
        // (asked only while there are any, and before the one charge, so
        // a refusal is counted once).
        if !self.pf.ctx.inner.lock().lingering.is_empty() {
            self.pf.ctx.settle_lingering();
        }
        if self.pf.ctx.inner.lock().ledger.charge(requested).is_ok() {
            return Ok(None);
        }
        Ok(Some(Done::Status(NV_ERR_NO_MEMORY)))
    }

    /// VID_HEAP_CONTROL allocation (the legacy heap interface): the size is
    /// in the outer block; charged like RM_ALLOC of video memory (`charge`:
    /// [`policy::heap_charge`]).
    fn heap_alloc(
        &mut self,
        h: HeapAlloc,
        requested: u64,
        (h_client, h_parent): (u32, u32),
    ) -> Result<Done> {
        if let Some(refused) = self.reserve(requested)? {
            return Ok(refused);
        }
        let ret = self.forward();
        let outcome = match (&ret, read_back(self.arg, self.params.len())) {
            (Ok(_), Ok(outer)) if status_of(self.d, &outer) == Some(NV_OK) => {
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
        ret.map(Done::Vendor)
    }

    /// NV01_DEVICE_0: the container's device instance N is the context's
    /// N-th GPU. The instance in the caller's parameter block is rewritten
    /// to the host's for the call and restored after it (the RM numbers
    /// devices as the driver numbers its GPUs, `/dev/nvidiaN`); an instance
    /// beyond the context's GPUs is refused as the vendor refuses a device
    /// it does not have.
    fn alloc_device(&mut self, n: &NestedRef) -> Result<Done> {
        let mut nested = read_nested(n)?;
        // Without parameters the RM takes instance 0.
        let local = if nested.is_empty() {
            0
        } else {
            rd_u32(&nested, 0).ok_or(EINVAL)?
        };
        let Some(host) = self.pf.ctx.gpus.host_index(local) else {
            return Ok(Done::Status(NV_ERR_INVALID_ARGUMENT));
        };
        if nested.is_empty() {
            if host != 0 {
                return Ok(Done::Status(NV_ERR_INVALID_ARGUMENT));
            }
            return self.forward_alloc_object(None, Some(host));
        }
        if host == local {
            return self.forward_alloc_object(None, Some(host));
        }
        nested[..4].copy_from_slice(&host.to_le_bytes());
        write_user(n.ptr as usize, &nested)?;
        let ret = self.forward_alloc_object(None, Some(host));
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
    /// it as `tracked` says, or, for an NV01_DEVICE_0, as the device of
    /// host GPU `device`.
    fn forward_alloc_object(
        &mut self,
        tracked: Option<Tracked>,
        device: Option<u32>,
    ) -> Result<Done> {
        let ret = self.forward()?;
        if let Body::Alloc(a) = self.d.body {
            let outer = read_back(self.arg, self.d.size)?;
            if status_of(self.d, &outer) == Some(NV_OK) {
                if let Some(handle) = nvabi::decode::alloc_result_handle(&outer) {
                    // A client is its own root: the RM returns its handle.
                    let (client, parent) = if tracked == Some(Tracked::Client) {
                        (handle, handle)
                    } else {
                        (a.h_client, a.h_parent)
                    };
                    let kind = match (device, tracked) {
                        (Some(gpu), _) => Kind::Device(gpu),
                        (None, Some(Tracked::Usermode)) => Kind::Usermode,
                        (None, Some(Tracked::Channel)) => Kind::Channel,
                        _ => Kind::Plain,
                    };
                    self.pf
                        .ctx
                        .inner
                        .lock()
                        .objects
                        .add_object(self.pf.id, client, handle, parent, kind)
                        .map_err(objects::enomem)?;
                }
            }
        }
        Ok(Done::Vendor(ret))
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
    fn disable_channels(&mut self, n: &NestedRef) -> Result<Done> {
        type P = Nv2080CtrlFifoDisableChannelsParams;
        let Body::Control(c) = self.d.body else {
            return Err(EINVAL);
        };
        let nested = read_nested(n)?;
        let Some(p) = P::read(&nested).filter(|_| nested.len() == P::SIZE) else {
            return Ok(Done::Status(NV_ERR_INVALID_ARGUMENT));
        };
        if p.num_channels as usize > p.h_client_list.len() || p.p_runlist_preempt_event != 0 {
            return Ok(Done::Status(NV_ERR_INVALID_ARGUMENT));
        }
        let count = p.num_channels as usize;
        let (own, gpu, foreign) = {
            let inner = self.pf.ctx.inner.lock();
            (
                inner.objects.client_file(c.h_client) == Some(self.pf.id),
                inner.objects.gpu_of(c.h_client, c.h_object),
                p.h_client_list[..count]
                    .iter()
                    .any(|&cl| !inner.objects.has_client(cl)),
            )
        };
        if !own {
            return Ok(Done::Status(NV_ERR_INVALID_CLIENT));
        }
        let Some(gpu) = gpu else {
            return Ok(Done::Status(NV_ERR_OBJECT_NOT_FOUND));
        };
        if foreign {
            if self.pf.ctx.first_refusal(Refused::ForeignChannels) {
                pr_warn!(
                    "context {}: refused FIFO_DISABLE_CHANNELS naming a client outside the context\n",
                    self.pf.ctx_name()
                );
            }
            return Ok(Done::Status(NV_ERR_INVALID_CLIENT));
        }
        let mut b = [0u8; P::SIZE];
        p.write(&mut b);
        let mut run =
            || kapi::subdevice_control(gpu, NV2080_CTRL_CMD_FIFO_DISABLE_CHANNELS, &mut b);
        let status = if p.disable != 0 {
            run()
        } else {
            self.pf.ctx.gate.if_open(run).unwrap_or(NV_OK)
        };
        Ok(Done::Status(status))
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
    fn dup(&mut self, client: u32, parent: u32, src: (u32, u32)) -> Result<Done> {
        let (own, ours) = {
            let inner = self.pf.ctx.inner.lock();
            (
                inner.objects.client_file(client) == Some(self.pf.id),
                inner.objects.has_client(src.0),
            )
        };
        if !ours {
            if self.pf.ctx.first_refusal(Refused::ForeignDup) {
                pr_warn!(
                    "context {}: refused a dup from a client outside the context\n",
                    self.pf.ctx_name()
                );
            }
            return Ok(Done::Status(NV_ERR_INVALID_CLIENT));
        }
        if !own {
            return Ok(Done::Status(NV_ERR_INVALID_CLIENT));
        }
        let mut p = Nvos55::read(self.params).ok_or(EINVAL)?;
        (p.h_client, p.h_parent, p.h_client_src, p.h_object_src) = (client, parent, src.0, src.1);
        let (status, handle) = match kapi::dup_object(&p) {
            Ok(r) => r,
            // No kernel RM API: nothing is forwarded unchecked.
            Err(s) => (s, 0),
        };
        if status == NV_OK {
            self.pf
                .ctx
                .inner
                .lock()
                .objects
                .add_dup(self.pf.id, client, handle, parent, src)
                .map_err(objects::enomem)?;
            p.h_object = handle;
        }
        p.write(self.params);
        Ok(Done::Status(status))
    }

    /// RM_FREE (and VID_HEAP FREE): forward; if the vendor freed, drop the
    /// object and its subtree, and uncharge memory no handle refers to.
    fn free(&mut self, client: u32, object: u32) -> Result<Done> {
        let ret = self.forward()?;
        let outer = read_back(self.arg, self.d.size)?;
        if status_of(self.d, &outer) != Some(NV_OK) {
            return Ok(Done::Vendor(ret));
        }
        let mut inner = self.pf.ctx.inner.lock();
        let freed = inner.objects.free(client, object);
        if inner.ledger.uncharge(freed).is_err() {
            pr_err!("context {}: ledger underflow on free\n", self.pf.ctx_name());
        }
        Ok(Done::Vendor(ret))
    }

    /// GPU_GET_ATTACHED_IDS / GET_PROBED_IDS: only the context's GPUs.
    fn gpu_id_list(&mut self, probed: bool, c: &ControlCall) -> Result<Done> {
        if self.pf.ctx.inner.lock().objects.client_file(c.h_client) != Some(self.pf.id) {
            return Ok(Done::Status(NV_ERR_INVALID_CLIENT));
        }
        // The control's fixed size in the vendor's branch, as the RM
        // checks it.
        let size = self.d.branch.control_size(c.cmd).unwrap_or(if probed {
            Nv0000CtrlGpuGetProbedIdsParams::SIZE
        } else {
            Nv0000CtrlGpuGetAttachedIdsParams::SIZE
        });
        if c.params.size != size {
            return Ok(Done::Status(NV_ERR_INVALID_ARGUMENT));
        }
        let mut list = read_nested(&c.params)?;
        let status = kapi::client_control(c.cmd, &mut list);
        if status == NV_OK {
            let inner = self.pf.ctx.inner.lock();
            // Both start with `gpuIds[32]`; PROBED_IDS has `excludedGpuIds[32]`
            // at 128 (none of the context's) and, in 580, `gpuFlags[32]` at
            // 256.
            if probed {
                let flags = self.d.branch.probed_ids_flags().then_some(256);
                filter_gpu_ids(&mut list, 0, 32, flags, &inner.visible);
                filter_gpu_ids(&mut list, 128, 32, None, &VisibleIds::EMPTY);
            } else {
                filter_gpu_ids(&mut list, 0, 32, None, &inner.visible);
            }
            drop(inner);
            write_user(c.params.ptr as usize, &list)?;
        }
        Ok(Done::Status(status))
    }

    /// Forwards the call and, if the RM answered `NV_OK`, hands the reply's
    /// nested block to `rewrite`, which says whether it changed it; a
    /// changed block goes back to the caller.
    fn forward_rewriting(
        &mut self,
        n: &NestedRef,
        rewrite: impl FnOnce(&Self, &mut [u8]) -> bool,
    ) -> Result<Done> {
        let ret = self.forward()?;
        let outer = read_back(self.arg, self.d.size)?;
        if status_of(self.d, &outer) != Some(NV_OK) {
            return Ok(Done::Vendor(ret));
        }
        let mut reply = read_nested(n)?;
        if rewrite(self, &mut reply) {
            write_user(n.ptr as usize, &reply)?;
        }
        Ok(Done::Vendor(ret))
    }

    /// GPU_GET_PIDS / GET_PID_INFO: executed from the proxy's copy on the
    /// module's own subdevice of the GPU (kernel RM API, in the caller's
    /// task, so the RM numbers the pids in the caller's pid namespace as
    /// it would), and the reply keeps only the context's processes before
    /// the tenant sees it (the RM lists every process of the GPU the
    /// caller's pid namespace can see: without a pid namespace, every
    /// tenant's). The client must be the calling file's.
    fn pids(&mut self, info: bool, c: Option<ControlCall>, n: &NestedRef) -> Result<Done> {
        type I = Nv2080CtrlGpuGetPidInfoParams;
        type E = Nv2080CtrlGpuPidInfo;
        let Some(c) = c else {
            return Err(EINVAL);
        };
        let (own, gpu) = {
            let inner = self.pf.ctx.inner.lock();
            (
                inner.objects.client_file(c.h_client) == Some(self.pf.id),
                inner.objects.gpu_of(c.h_client, c.h_object),
            )
        };
        if !own {
            return Ok(Done::Status(NV_ERR_INVALID_CLIENT));
        }
        let Some(gpu) = gpu else {
            return Ok(Done::Status(NV_ERR_OBJECT_NOT_FOUND));
        };
        let size = if info { I::SIZE } else { GET_PIDS_SIZE };
        if n.size != size {
            return Ok(Done::Status(NV_ERR_INVALID_ARGUMENT));
        }
        let mut nested = read_nested(n)?;
        let cmd = if info {
            NV2080_CTRL_CMD_GPU_GET_PID_INFO
        } else {
            NV2080_CTRL_CMD_GPU_GET_PIDS
        };
        let status = kapi::subdevice_control(gpu, cmd, &mut nested);
        if status == NV_OK {
            let ours = self.pf.ctx.pids_in_caller_ns()?;
            let keep = |p: u32| p != 0 && ours.iter().any(|&o| o == p);
            if info {
                let count = rd_u32(&nested, 0).unwrap_or(0) as usize;
                filter_pid_info(
                    &mut nested,
                    count.min(NV2080_CTRL_GPU_GET_PID_INFO_MAX_COUNT),
                    core::mem::offset_of!(I, pid_info_list),
                    E::SIZE,
                    core::mem::offset_of!(E, pid),
                    core::mem::offset_of!(E, mem_private)
                        ..core::mem::offset_of!(E, compute_instance_id),
                    keep,
                );
            } else {
                filter_pids(
                    &mut nested,
                    GET_PIDS_COUNT_OFFSET,
                    GET_PIDS_TABLE_OFFSET,
                    NV2080_CTRL_GPU_GET_PIDS_MAX_COUNT,
                    keep,
                );
            }
            write_user(n.ptr as usize, &nested)?;
        }
        Ok(Done::Status(status))
    }

    /// CARD_INFO: the container sees its GPUs only, numbered from 0.
    fn card_info(&mut self) -> Result<Done> {
        let ret = self.forward()?;
        let mut list = read_back(self.arg, self.d.size)?;
        {
            let mut inner = self.pf.ctx.inner.lock();
            filter_card_info(&mut list, &self.pf.ctx.gpus, &mut inner.visible);
        }
        write_user(self.arg, &list)?;
        Ok(Done::Vendor(ret))
    }

    /// VID_HEAP_CONTROL's NVOS32_FUNCTION_INFO, as `RmDeprecatedVidHeapControl`
    /// and `_nvos32FunctionInfo` run it (NV_ERR_NOT_SUPPORTED for an IVC
    /// heap; then an FB_GET_INFO_V2 of six indices, whose status is the
    /// answer, and whose values, zero on failure, fill `free`, `total` and
    /// `data.Info`): from the proxy's copy on the module's own subdevice of
    /// the device's GPU, rewritten to the cap, then the block written back.
    /// Forwarded, the vendor wrote the card's heap into the tenant's block
    /// before the proxy rewrote it.
    fn heap_info(&mut self, h_client: u32, h_parent: u32) -> Result<Done> {
        // NVOS32_IVC_HEAP_NUMBER_DONT_ALLOCATE_ON_IVC_HEAP is 0.
        if Nvos32::read(self.params).is_some_and(|p| p.ivc_heap_number > 0) {
            return Ok(Done::Status(NV_ERR_NOT_SUPPORTED));
        }
        let (gpu, cap, used) = match self.fb_info_target(h_client, h_parent) {
            Ok(t) => t,
            Err(status) => return Ok(Done::Status(status)),
        };
        let mut v2 = KVec::from_elem(0u8, self.fb_info_v2_size(), GFP_KERNEL)?;
        nvabi::heap_info_request(&mut v2);
        let status = kapi::subdevice_control(gpu, NV2080_CTRL_CMD_FB_GET_INFO_V2, &mut v2);
        if status == NV_OK {
            nvabi::rewrite_fb_info_v2(&mut v2, cap, used);
        }
        nvabi::heap_info_reply(&v2, status == NV_OK, self.params);
        Ok(Done::Status(status))
    }

    /// FB_GET_INFO_V2, executed from the proxy's copy of its parameters on
    /// the module's own subdevice of the same GPU (kernel RM API, a
    /// read-only query) and rewritten to the context's cap before the
    /// tenant sees a byte of it: forwarded, the vendor would write the
    /// card's own figures into the tenant's memory, readable by a second
    /// thread until the proxy rewrote them. The control's client must be
    /// the calling file's and its object one of the context's (else the
    /// status the RM gives an unknown client or object).
    fn fb_info_v2(&mut self, c: &ControlCall) -> Result<Done> {
        let (gpu, cap, used) = match self.fb_info_target(c.h_client, c.h_object) {
            Ok(t) => t,
            Err(status) => return Ok(Done::Status(status)),
        };
        // The control's fixed size in the vendor's branch, as the RM
        // checks it.
        if c.params.size != self.fb_info_v2_size() {
            return Ok(Done::Status(NV_ERR_INVALID_ARGUMENT));
        }
        let mut nested = read_nested(&c.params)?;
        let status = kapi::subdevice_control(gpu, NV2080_CTRL_CMD_FB_GET_INFO_V2, &mut nested);
        if status == NV_OK {
            nvabi::rewrite_memory_info(self.d, self.params, &mut nested, cap, used);
            write_user(c.params.ptr as usize, &nested)?;
        }
        Ok(Done::Status(status))
    }

    /// FB_GET_INFO (v1): its list is at a user pointer in the parameters.
    /// Run as the RM's deprecated layer runs it (`CONVERT_TO_V2`: the v1
    /// block and the list copied in once, the list put into an
    /// FB_GET_INFO_V2 block, the V2 control run, the list copied out after
    /// an NV_OK), from the proxy's copy on the module's own subdevice, so
    /// the tenant's list only ever holds the rewritten figures (forwarded,
    /// the vendor wrote the card's own sizes into it, and the proxy's
    /// rewrite came after). The vendor reads `sizeof` the v1 block whatever
    /// `paramsSize` says.
    fn fb_info_v1(&mut self, c: &ControlCall) -> Result<Done> {
        type P1 = Nv2080CtrlFbGetInfoParams;
        type P = Nv2080CtrlFbGetInfoV2Params;
        let (gpu, cap, used) = match self.fb_info_target(c.h_client, c.h_object) {
            Ok(t) => t,
            Err(status) => return Ok(Done::Status(status)),
        };
        let mut v1 = [0u8; P1::SIZE];
        if c.params.ptr == 0 || read_user(c.params.ptr as usize, &mut v1).is_err() {
            return Ok(Done::Status(NV_ERR_INVALID_POINTER));
        }
        let Some(v1) = P1::read(&v1) else {
            return Ok(Done::Status(NV_ERR_INVALID_POINTER));
        };
        let size = self.fb_info_v2_size();
        let bytes = match nvabi::fb_info_v1_list_bytes(v1.fb_info_list_size, size) {
            Ok(b) => b,
            Err(status) => return Ok(Done::Status(status)),
        };
        let list_at = core::mem::offset_of!(P, fb_info_list);
        let mut v2 = KVec::from_elem(0u8, size, GFP_KERNEL)?;
        wr_u32(
            &mut v2,
            core::mem::offset_of!(P, fb_info_list_size),
            v1.fb_info_list_size,
        );
        let list = v1.fb_info_list as usize;
        if bytes > 0 && read_user(list, &mut v2[list_at..list_at + bytes]).is_err() {
            return Ok(Done::Status(NV_ERR_INVALID_POINTER));
        }
        let status = kapi::subdevice_control(gpu, NV2080_CTRL_CMD_FB_GET_INFO_V2, &mut v2);
        if status == NV_OK && bytes > 0 {
            nvabi::rewrite_fb_info_v2(&mut v2, cap, used);
            // The vendor's copy-out failing changes nothing for the caller.
            let _ = write_user(list, &v2[list_at..list_at + bytes]);
        }
        Ok(Done::Status(status))
    }

    /// FB_GET_INFO_V2's fixed size in the vendor's branch (a shorter list
    /// in 550).
    fn fb_info_v2_size(&self) -> usize {
        self.d
            .branch
            .control_size(NV2080_CTRL_CMD_FB_GET_INFO_V2)
            .unwrap_or(Nv2080CtrlFbGetInfoV2Params::SIZE)
    }

    /// The GPU an FB_GET_INFO or heap INFO names, and the context's cap and usage; or
    /// the status the RM gives a client other than the calling file's or an
    /// object it does not know.
    fn fb_info_target(
        &self,
        h_client: u32,
        h_object: u32,
    ) -> core::result::Result<(u32, u64, u64), u32> {
        // What exited processes left is shown once the vendor freed it.
        self.pf.ctx.settle_lingering();
        let inner = self.pf.ctx.inner.lock();
        if inner.objects.client_file(h_client) != Some(self.pf.id) {
            return Err(NV_ERR_INVALID_CLIENT);
        }
        let gpu = inner
            .objects
            .gpu_of(h_client, h_object)
            .ok_or(NV_ERR_OBJECT_NOT_FOUND)?;
        Ok((gpu, inner.ledger.limit(), inner.ledger.used()))
    }

    /// After the vendor answered an allocation reserved with `reserve`: on
    /// success (`done` = client, handle, parent, bytes allocated) the charge
    /// becomes what the vendor allocated and the object is tracked; on
    /// failure the reservation is returned.
    fn settle(&self, requested: u64, done: Option<(u32, u32, u32, u64)>) {
        let mut inner = self.pf.ctx.inner.lock();
        let Some((client, handle, parent, actual)) = done else {
            let _ = inner.ledger.uncharge(requested);
            return;
        };
        inner.ledger.settle(requested, actual);
        let tracked = if actual > 0 {
            inner
                .objects
                .add_memory(self.pf.id, client, handle, parent, actual)
        } else {
            inner
                .objects
                .add_object(self.pf.id, client, handle, parent, Kind::Plain)
        };
        if tracked.is_err() {
            pr_err!(
                "context {}: out of memory tracking an allocation\n",
                self.pf.ctx_name()
            );
        }
    }
}

/// An ioctl from the container: read → decode → route → execute. The
/// parameter block is read once; the route is the one verdict on it
/// ([`policy::route`]); [`Call`] executes it.
pub(super) fn ioctl(pf: &ProxyFile, cmd: u32, arg: usize) -> Result<isize> {
    if pf.ctx.is_dead() {
        return Err(ENODEV);
    }
    // The tenant attacked the boundary: nothing more reaches the vendor.
    if pf.ctx.is_compromised() {
        return Err(EIO);
    }
    // No ABI table for the vendor (permissive mode only; the open is
    // refused otherwise): nothing can be decoded.
    let Some(branch) = pf.branch else {
        if crate::permissive() {
            return vendor_ioctl(pf, cmd, arg);
        }
        return Err(EPROTONOSUPPORT);
    };
    let kind = pf.file_kind();
    if kind == FileKind::Uvm {
        // What this process unmapped of its managed memory goes before
        // the call (crate::managed).
        managed::reconcile_current(&*pf.ctx);
    }
    let size = match kind {
        FileKind::Uvm | FileKind::UvmTools => branch.uvm_param_size(cmd).ok_or(EINVAL)?,
        _ => kernel::ioctl::_IOC_SIZE(cmd),
    };
    if size > MAX_PARAMS {
        return Err(EINVAL);
    }
    let mut params = KVec::from_elem(0u8, size, GFP_KERNEL)?;
    read_user(arg, &mut params)?;
    let d = nvabi::decode_for(branch, kind, cmd, &params);
    // The one verdict on the call; everything below executes it.
    let view = ContextView {
        permissive: crate::permissive(),
    };
    let r = policy::route(&d, &view);
    // Before fd translation or lending may switch the thread to a
    // private table that holds vendor files.
    let audit = r.audits_vidmem(&d) && pf.note_auditee()?;
    // Read off the caller's own table before fd translation may switch
    // the thread to a private one.
    let lend = if r.lends_gpu_files() {
        Some(pf.held_gpu_files()?)
    } else {
        None
    };
    // An fd in the ioctl's block, or in an export-fd control's
    // parameters (a separate user block).
    let export = pf.export_control(r)?;
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
            match pf.translate_fd(field, addr, block)? {
                Xlate::Refused => {
                    if pf.ctx.first_refusal(Refused::ForeignFile) {
                        pr_warn!(
                            "context {}: refused a call naming another context's file\n",
                            pf.ctx_name()
                        );
                    }
                    return write_status(&d, arg, &mut params, foreign);
                }
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
                let _ = pf.untranslate_fd(field, temp);
            }
            return Err(e);
        }
        None => None,
    };
    let ret = Call {
        pf,
        d: &d,
        cmd,
        arg,
        params: &mut params,
    }
    .execute(r);
    if let Some(l) = lent {
        l.finish(pf);
    }
    if audit {
        pf.audit_vidmem();
    }
    if let (Route::MapMemory, Ok(_), Some((_, temp))) = (r, &ret, &xlate) {
        note_doorbell_map(pf, &d, arg, &temp.target);
    }
    if let (Ok(_), Some((c, before, _))) = (&ret, &export) {
        let target = xlate.as_ref().map(|(_, t)| t.target.id);
        pf.account_export(&d, c, before, target, arg);
    }
    match xlate {
        Some((field, temp)) => {
            let restored = pf.untranslate_fd(field, temp);
            ret.and_then(|v| restored.map(|()| v))
        }
        None => ret,
    }
}

/// After a successful RM_MAP_MEMORY of a usermode (doorbell) object,
/// marks the file that receives the mapping.
fn note_doorbell_map(pf: &ProxyFile, d: &Decoded, arg: usize, target: &ProxyFile) {
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
    let inner = pf.ctx.inner.lock();
    let objects = &inner.objects;
    if objects.is_usermode(h_client, h_memory) {
        // The doorbell's GPU, plus one (0: no doorbell mapping next);
        // a usermode object always hangs under a device, but should
        // that be unknown, the context's first GPU.
        let gpu = objects
            .gpu_of(h_client, h_memory)
            .or_else(|| pf.ctx.gpus.iter().next())
            .unwrap_or(0);
        target.doorbell_gpu.store(gpu + 1, Relaxed);
    }
}
