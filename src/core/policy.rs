// SPDX-License-Identifier: GPL-2.0

//! The proxy's routing table: what happens to each call a container makes.
//!
//! [`route`] is the only place a call's verdict is made. It names every
//! case: an escape, a class or a control this table does not route is
//! [`Route::Unrouted`] (refused with the vendor's status for it, counted and
//! logged by the module; forwarded only in `permissive` mode, which is for
//! discovery and never the default). There is no arm that forwards by
//! default.
//!
//! Some verdicts depend on bytes the decoder does not see (the nested
//! parameter block, or the context's state): the route then names the
//! check, and the pure functions beside it ([`sched_answered`]) decide, so
//! the module only reads and executes.

use super::drivers::round_vidmem;
use super::nvabi::{
    branch::Branch,
    class::{self, ClassKind, NV01_DEVICE_0, NV01_MEMORY_LOCAL_USER},
    ctrl::*,
    decode::{
        decode_alloc_params, is_export_fd_control, AllocCall, AllocParams, Body, Call, ControlCall,
        Decoded, HeapAlloc, NestedRef,
    },
    escape::Escape,
    status::{
        NV_ERR_INSUFFICIENT_PERMISSIONS, NV_ERR_INVALID_ARGUMENT, NV_ERR_INVALID_CLASS,
        NV_ERR_NOT_SUPPORTED,
    },
    uvm::*,
};

/// What the context lets through besides the table.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ContextView {
    /// The module's `permissive` parameter: unrouted calls are forwarded
    /// (and still counted and logged) instead of refused.
    pub permissive: bool,
}

/// How a call is refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// The ioctl fails with `EINVAL` (framing errors, which the vendor
    /// answers with an errno too).
    Inval,
    /// The RM status written into the caller's block, the ioctl returning
    /// 0; where the call has no status field, `EINVAL`.
    Status(u32),
}

/// What a call was not routed by.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unrouted {
    /// An nvidia.ko escape number (or a UVM command) the table does not name.
    Escape(u32),
    /// An RM class.
    Class(u32),
    /// An RM control command.
    Control(u32),
}

impl Unrouted {
    /// The number, for the log and the per-context counter.
    pub fn number(self) -> u32 {
        match self {
            Unrouted::Escape(n) | Unrouted::Class(n) | Unrouted::Control(n) => n,
        }
    }

    /// What the vendor answers for it.
    pub fn refusal(self) -> Refusal {
        match self {
            Unrouted::Escape(_) => Refusal::Inval,
            Unrouted::Class(_) => Refusal::Status(NV_ERR_INVALID_CLASS),
            Unrouted::Control(_) => Refusal::Status(NV_ERR_NOT_SUPPORTED),
        }
    }
}

/// Why a call is forwarded unchanged.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rule {
    /// A query with no effect on memory, scheduling or other contexts.
    Query,
    /// An undocumented control seen in the H100 captures (CUDA, PyTorch,
    /// nvidia-smi), forwarded as observed.
    Captured,
    /// Object lifetime or mapping the RM checks itself (unmap, DMA map,
    /// share, events, version check, open completion).
    Lifetime,
    /// A call whose only field the proxy cares about is an fd, translated
    /// to the vendor's file for the call.
    FdOnly,
    /// A scheduling lever on the context's own objects that leaves the
    /// scheduler's share alone (bind, preempt, stop, enable).
    OwnChannels,
    /// UVM: address-space management of the calling process.
    Uvm,
}

/// The verdict on one call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Route {
    /// Forwarded unchanged (fds translated).
    Forward(Rule),
    /// Refused as stated.
    Refuse(Refusal),
    /// Not in the table: refused with `refusal` (or forwarded when
    /// `forward`, permissive mode), counted and logged.
    Unrouted {
        /// What was not routed.
        what: Unrouted,
        /// Whether it is forwarded anyway (permissive).
        forward: bool,
    },
    /// RM_ALLOC of a memory class: reserve the size the driver will
    /// allocate under the cap, forward, settle at the size the vendor
    /// wrote back (refused if its parameters cannot be read).
    ChargeAlloc(AllocCall),
    /// VID_HEAP_CONTROL allocation: reserve `charge`, forward, settle.
    ChargeHeap {
        /// The request.
        alloc: HeapAlloc,
        /// What is reserved under the cap: the size the driver will
        /// allocate for video memory (`u64::MAX` if it overflows), 0 for
        /// other memory.
        charge: u64,
        /// Client.
        h_client: u32,
        /// Parent (device).
        h_parent: u32,
    },
    /// RM_ALLOC of a class that holds no memory: forward and track it as
    /// the object the class makes.
    Track(Tracked),
    /// NV01_DEVICE_0: the container's device instance is renumbered to
    /// the host's, forwarded and tracked. The RM's GPU-access check runs
    /// on it ([`Route::lends_gpu_files`]).
    AllocDevice(AllocCall),
    /// UVM_REGISTER_GPU: forwarded (its `rmCtrlFd` translated) with the
    /// caller's GPU files lent for the RM's GPU-access check
    /// ([`Route::lends_gpu_files`]).
    RegisterGpu,
    /// RM_FREE / VID_HEAP FREE: forward; on success the subtree is dropped
    /// and its memory uncharged.
    Free {
        /// Client.
        h_client: u32,
        /// Object.
        h_object: u32,
    },
    /// RM_DUP_OBJECT: the source client must be the context's; forward
    /// and track the new handle (sharing the charge).
    Dup {
        /// Destination client.
        h_client: u32,
        /// Destination parent.
        h_parent: u32,
        /// Source client and object.
        src: (u32, u32),
    },
    /// FB_GET_INFO_V2 (not serialized): executed from the proxy's copy on
    /// the module's own subdevice (kernel RM API) and rewritten to the cap
    /// before the tenant sees it; the client must be the calling file's.
    FbInfoV2(ControlCall),
    /// VID_HEAP_CONTROL's NVOS32_FUNCTION_INFO: as the RM's deprecated
    /// layer answers it (an FB_GET_INFO_V2 of six indices on the device's
    /// subdevice, `_nvos32FunctionInfo`), from the proxy's copy on the
    /// module's own subdevice, rewritten to the cap before the block is
    /// written back; the client must be the calling file's.
    HeapInfo {
        /// The client (`hRoot`).
        h_client: u32,
        /// The device or subdevice (`hObjectParent`).
        h_parent: u32,
    },
    /// FB_GET_INFO (v1, not serialized; its list at a user pointer): as
    /// the RM's deprecated layer runs it (`rmapi_deprecated_control.c`,
    /// `CONVERT_TO_V2`), converted to FB_GET_INFO_V2, executed from the
    /// proxy's copy like [`Route::FbInfoV2`], and the rewritten list
    /// written to the caller's list.
    FbInfoV1(ControlCall),
    /// CARD_INFO: forward, then only the context's GPUs, renumbered.
    CardInfo,
    /// GPU_GET_ATTACHED_IDS / GET_PROBED_IDS: executed from the proxy's
    /// copy on the module's own client (kernel RM API; system-wide,
    /// read-only queries), and only the context's GPU ids are written to
    /// the caller (forwarded, the vendor would write every GPU of the host
    /// into the tenant's memory, readable until the proxy filtered it).
    /// The client must be the calling file's.
    GpuIdList {
        /// PROBED_IDS (also clears the excluded list).
        probed: bool,
        /// The control.
        c: ControlCall,
    },
    /// GPU_GET_ID_INFO(_V2): refused unless the GPU id in the parameters
    /// is one of the context's, then forwarded.
    GpuIdCheck(NestedRef),
    /// GPU_GET_PIDS / GPU_GET_PID_INFO: forward, then the reply names only
    /// the context's processes (the RM lists every process of the GPU
    /// that the caller's pid namespace can see, which without a pid
    /// namespace is every tenant's).
    Pids {
        /// GET_PID_INFO (else GET_PIDS).
        info: bool,
        /// The parameters.
        params: NestedRef,
    },
    /// ATTACH_GPUS_TO_FD: refused (EINVAL) unless every id is the
    /// context's, then forwarded.
    AttachGpus,
    /// FIFO_DISABLE_CHANNELS: every client named must be the context's;
    /// re-enabling goes through the compute gate.
    DisableChannels(NestedRef),
    /// A tenant's lever on its own share: answered `NV_OK` without being
    /// forwarded where [`sched_answered`] says so, else forwarded.
    SchedLever {
        /// The control.
        cmd: u32,
        /// Its parameters.
        params: NestedRef,
    },
    /// RM_MAP_MEMORY: forward; a usermode (doorbell) object's mapping is
    /// gated by the compute scheduler.
    MapMemory,
    /// An OS_UNIX export-fd control: the fd translated and the export or
    /// import followed by the object table.
    ExportFd(ControlCall),
}

impl Route {
    /// The route's name (the variant), for logs and test vectors.
    pub fn kind(self) -> &'static str {
        match self {
            Route::Forward(_) => "Forward",
            Route::Refuse(_) => "Refuse",
            Route::Unrouted { .. } => "Unrouted",
            Route::ChargeAlloc(_) => "ChargeAlloc",
            Route::ChargeHeap { .. } => "ChargeHeap",
            Route::Track(_) => "Track",
            Route::AllocDevice(_) => "AllocDevice",
            Route::RegisterGpu => "RegisterGpu",
            Route::Free { .. } => "Free",
            Route::Dup { .. } => "Dup",
            Route::FbInfoV2(_) => "FbInfoV2",
            Route::FbInfoV1(_) => "FbInfoV1",
            Route::HeapInfo { .. } => "HeapInfo",
            Route::CardInfo => "CardInfo",
            Route::GpuIdList { .. } => "GpuIdList",
            Route::GpuIdCheck(_) => "GpuIdCheck",
            Route::Pids { .. } => "Pids",
            Route::AttachGpus => "AttachGpus",
            Route::DisableChannels(_) => "DisableChannels",
            Route::SchedLever { .. } => "SchedLever",
            Route::MapMemory => "MapMemory",
            Route::ExportFd(_) => "ExportFd",
        }
    }

    /// Whether the call makes an object the proxy tracks (so the context's
    /// object limit applies before it is forwarded).
    pub fn makes_object(self) -> bool {
        matches!(
            self,
            Route::ChargeAlloc(_)
                | Route::ChargeHeap { .. }
                | Route::Track(_)
                | Route::AllocDevice(_)
                | Route::Dup { .. }
                | Route::ExportFd(_)
        )
    }

    /// Whether the vendor checks the caller's fd table for one of its own
    /// GPU files during the call (`osIsGpuAccessible`: device construct and
    /// `nvGpuOpsGetGpuInfo`, docs/real-driver.md). The caller holds only
    /// proxy files, so for such a call the proxy runs the calling thread on
    /// a private table holding the vendor file behind each of the
    /// context's GPU files the caller holds: the check passes exactly when
    /// it would have passed without the proxy.
    pub fn lends_gpu_files(self) -> bool {
        matches!(self, Route::AllocDevice(_) | Route::RegisterGpu)
    }

    /// Whether the video memory the vendor holds for the context must be
    /// audited after call `d` went this way (docs/isolation.md §5): every
    /// call that reaches the vendor through an escape that can allocate
    /// (RM_ALLOC, NVOS02 and VID_HEAP_CONTROL), whatever the proxy read in
    /// its copy of the block. The escape number is the ioctl's own, never
    /// the tenant's memory; class, size, nested pointer, handle, function
    /// and the status written back all are, and a second thread may have
    /// rewritten any of them between the proxy's read and the vendor's.
    pub fn audits_vidmem(self, d: &Decoded) -> bool {
        let allocating = matches!(
            d.call,
            Call::Nv(Escape::RmAlloc | Escape::RmAllocMemory | Escape::RmVidHeapControl)
        );
        allocating && self.reaches_vendor()
    }

    /// Whether the vendor sees the call (possibly after checks that may
    /// still refuse it).
    pub fn reaches_vendor(self) -> bool {
        match self {
            Route::Refuse(_) => false,
            Route::Unrouted { forward, .. } => forward,
            _ => true,
        }
    }
}

/// What an RM_ALLOC of a class that holds no memory makes, for the
/// object table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tracked {
    /// A client (NV01_ROOT_CLIENT): its own root; the RM returns its handle.
    Client,
    /// A usermode (doorbell) object: its mappings are gated.
    Usermode,
    /// A channel: the scheduler stops and resumes it.
    Channel,
    /// Any other object.
    Plain,
}

impl Tracked {
    /// What a class of kind `kind` makes.
    pub fn of(kind: ClassKind) -> Tracked {
        match kind {
            ClassKind::Client => Tracked::Client,
            ClassKind::Usermode => Tracked::Usermode,
            ClassKind::Channel => Tracked::Channel,
            _ => Tracked::Plain,
        }
    }
}

/// The charge of a VID_HEAP_CONTROL allocation: the size the driver will
/// allocate for video memory (so rounding cannot pass the cap; `u64::MAX`
/// if it overflows), 0 for other memory.
pub fn heap_charge(h: &HeapAlloc) -> u64 {
    if h.class == NV01_MEMORY_LOCAL_USER {
        round_vidmem(h.size).unwrap_or(u64::MAX)
    } else {
        0
    }
}

/// The charge of an RM_ALLOC of memory class `h_class` whose parameters
/// are `nested`: the size the driver will allocate for video memory
/// (`u64::MAX` if it overflows), 0 for memory that is not video memory;
/// `None` when the parameters cannot be read (the call is refused: they
/// could hide video memory).
pub fn alloc_charge(h_class: u32, nested: &[u8]) -> Option<u64> {
    match decode_alloc_params(h_class, nested) {
        AllocParams::Memory(m) if m.consumes_vidmem => {
            Some(round_vidmem(m.size).unwrap_or(u64::MAX))
        }
        AllocParams::Memory(_) => Some(0),
        _ => None,
    }
}

/// The verdict on `d` in a context with `view`.
pub fn route(d: &Decoded, view: &ContextView) -> Route {
    let unrouted = |what| Route::Unrouted {
        what,
        forward: view.permissive,
    };
    match d.body {
        Body::Unknown => unrouted(Unrouted::Escape(unknown_number(d))),
        // Framing errors are errnos at the vendor too.
        Body::Rejected(_) | Body::Short { .. } => Route::Refuse(Refusal::Inval),
        // The driver runs an XFER's inner call as if it came alone, so one
        // forwarded unread would take any call around these checks; no
        // captured workload uses it on the 580 ABI.
        Body::Xfer { .. } => Route::Refuse(Refusal::Status(NV_ERR_INVALID_ARGUMENT)),
        Body::CardInfo { .. } => Route::CardInfo,
        Body::AttachGpus { .. } => Route::AttachGpus,
        // What the vendor's branch does not have, answered as its RM does
        // (`docs/abi-550.md`): never forwarded under another branch's rules.
        Body::Alloc(a) if !d.branch.has_class(a.class) => {
            Route::Refuse(Refusal::Status(NV_ERR_INVALID_CLASS))
        }
        Body::Control(c) if !d.branch.has_control(c.cmd) => {
            Route::Refuse(Refusal::Status(NV_ERR_NOT_SUPPORTED))
        }
        Body::CheckVersion { .. } => Route::Forward(Rule::Lifetime),
        Body::RegisterFd { .. } => Route::Forward(Rule::FdOnly),
        Body::OsEvent { .. } => Route::Forward(Rule::Lifetime),
        // A dma-buf of the context's own memory objects (the RM checks the
        // handles are the caller's); what it keeps charged is the
        // isolation issue's.
        Body::ExportDmabuf { .. } => Route::Forward(Rule::FdOnly),
        Body::Alloc(a) => match class::class_info(a.class).map(|c| c.kind) {
            None => unrouted(Unrouted::Class(a.class)),
            Some(ClassKind::Memory) | Some(ClassKind::OtherMemory) => Route::ChargeAlloc(a),
            Some(_) if a.class == NV01_DEVICE_0 => Route::AllocDevice(a),
            Some(kind) => Route::Track(Tracked::of(kind)),
        },
        Body::Free {
            h_client, h_object, ..
        } => Route::Free { h_client, h_object },
        Body::Control(c) => control_route(c, view),
        Body::MapMemory { .. } => Route::MapMemory,
        Body::UnmapMemory { .. } => Route::Forward(Rule::Lifetime),
        // NVOS02 makes system memory (OS descriptors, sysmem with a
        // mapping context); video memory is allocated with RM_ALLOC.
        Body::AllocMemory { h_class, .. } => match h_class {
            class::NV01_MEMORY_SYSTEM | class::NV01_MEMORY_SYSTEM_OS_DESCRIPTOR => {
                Route::Forward(Rule::FdOnly)
            }
            other => unrouted(Unrouted::Class(other)),
        },
        Body::VidHeap(v) => match (v.alloc, v.free_h_memory) {
            (Some(alloc), _) => Route::ChargeHeap {
                alloc,
                charge: heap_charge(&alloc),
                h_client: v.h_client,
                h_parent: v.h_parent,
            },
            (None, Some(h)) => Route::Free {
                h_client: v.h_client,
                h_object: h,
            },
            (None, None) if v.function == super::nvabi::rm::NVOS32_FUNCTION_INFO => {
                Route::HeapInfo {
                    h_client: v.h_client,
                    h_parent: v.h_parent,
                }
            }
            (None, None) => unrouted(Unrouted::Escape(Escape::RmVidHeapControl.nr())),
        },
        Body::Dup {
            h_client,
            h_parent,
            h_client_src,
            h_object_src,
            ..
        } => Route::Dup {
            h_client,
            h_parent,
            src: (h_client_src, h_object_src),
        },
        // Sharing out is harmless: a dup from another context's client is
        // refused by that context's proxy (`Route::Dup`).
        Body::Share { .. } => Route::Forward(Rule::Lifetime),
        Body::MapMemoryDma { .. } | Body::UnmapMemoryDma { .. } => Route::Forward(Rule::Lifetime),
        Body::UvmRegisterGpu { .. } => Route::RegisterGpu,
        Body::UvmFd { .. }
        | Body::UvmRegisterVaSpace { .. }
        | Body::UvmRegisterChannel { .. }
        | Body::UvmUnregisterChannel { .. }
        | Body::UvmMapExternal { .. }
        | Body::UvmRange { .. } => Route::Forward(Rule::Uvm),
        Body::Opaque => opaque_route(d, view),
    }
}

fn unknown_number(d: &Decoded) -> u32 {
    match d.call {
        Call::Nv(e) => e.nr(),
        Call::Uvm(u) => u.cmd,
        Call::Unknown(n) => n,
    }
}

/// Calls the decoder knows but reads nothing of: by escape or UVM command.
fn opaque_route(d: &Decoded, view: &ContextView) -> Route {
    let unrouted = Route::Unrouted {
        what: Unrouted::Escape(unknown_number(d)),
        forward: view.permissive,
    };
    match d.call {
        Call::Nv(e) => match e {
            Escape::StatusCode
            | Escape::SysParams
            | Escape::NumaInfo
            | Escape::QueryDeviceIntr
            | Escape::RmGetEventData => Route::Forward(Rule::Query),
            Escape::WaitOpenComplete
            | Escape::RmIdleChannels
            | Escape::RmAllocContextDma2
            | Escape::RmBindContextDma
            | Escape::RmUpdateDeviceMappingInfo => Route::Forward(Rule::Lifetime),
            // Host-wide state and hardware buses: never a tenant's.
            Escape::SetNumaStatus | Escape::RmI2cAccess | Escape::RmAccessRegistry => {
                Route::Refuse(Refusal::Status(NV_ERR_INSUFFICIENT_PERMISSIONS))
            }
            Escape::RmLocklessDiagnostic | Escape::RmAllocObject => unrouted,
            // Everything else has a typed body and never reaches here.
            _ => unrouted,
        },
        Call::Uvm(u) => match u.cmd {
            UVM_INITIALIZE
            | UVM_DEINITIALIZE
            | UVM_CREATE_RANGE_GROUP
            | UVM_DESTROY_RANGE_GROUP
            | UVM_UNREGISTER_GPU_VASPACE
            | UVM_UNREGISTER_GPU
            | UVM_ENABLE_PEER_ACCESS
            | UVM_DISABLE_PEER_ACCESS
            | UVM_SET_RANGE_GROUP
            | UVM_PAGEABLE_MEM_ACCESS
            | UVM_PREVENT_MIGRATION_RANGE_GROUPS
            | UVM_ALLOW_MIGRATION_RANGE_GROUPS
            | UVM_SET_PREFERRED_LOCATION
            | UVM_UNSET_PREFERRED_LOCATION
            | UVM_ENABLE_READ_DUPLICATION
            | UVM_DISABLE_READ_DUPLICATION
            | UVM_SET_ACCESSED_BY
            | UVM_UNSET_ACCESSED_BY
            | UVM_MIGRATE
            | UVM_MIGRATE_RANGE_GROUP
            | UVM_ENABLE_SYSTEM_WIDE_ATOMICS
            | UVM_DISABLE_SYSTEM_WIDE_ATOMICS
            | UVM_MAP_DYNAMIC_PARALLELISM_REGION
            | UVM_UNMAP_EXTERNAL
            | UVM_ALLOC_SEMAPHORE_POOL
            | UVM_CLEAN_UP_ZOMBIE_RESOURCES
            | UVM_PAGEABLE_MEM_ACCESS_ON_GPU
            | UVM_POPULATE_PAGEABLE
            | UVM_VALIDATE_VA_RANGE
            | UVM_MAP_EXTERNAL_SPARSE
            | UVM_CLEAR_ALL_ACCESS_COUNTERS
            | UVM_DISCARD => Route::Forward(Rule::Uvm),
            // The tools node (event queues, counters, other processes'
            // memory): not one of the context's nodes.
            _ => unrouted,
        },
        Call::Unknown(_) => unrouted,
    }
}

/// RM controls.
fn control_route(c: ControlCall, view: &ContextView) -> Route {
    let params = c.params;
    match c.cmd {
        NV2080_CTRL_CMD_FB_GET_INFO_V2 if !c.serialized => Route::FbInfoV2(c),
        NV2080_CTRL_CMD_FB_GET_INFO if !c.serialized => Route::FbInfoV1(c),
        // FINN-serialized, the reply is a serialized blob the proxy does
        // not rewrite: forwarded, it would show the card's own figures.
        // No client sends these controls serialized (no capture has one).
        NV2080_CTRL_CMD_FB_GET_INFO_V2 | NV2080_CTRL_CMD_FB_GET_INFO => {
            Route::Refuse(Refusal::Status(NV_ERR_NOT_SUPPORTED))
        }
        NV0000_CTRL_CMD_GPU_GET_ATTACHED_IDS => Route::GpuIdList { probed: false, c },
        NV0000_CTRL_CMD_GPU_GET_PROBED_IDS => Route::GpuIdList { probed: true, c },
        NV0000_CTRL_CMD_GPU_GET_ID_INFO | NV0000_CTRL_CMD_GPU_GET_ID_INFO_V2 => {
            Route::GpuIdCheck(params)
        }
        NV2080_CTRL_CMD_GPU_GET_PIDS if !c.serialized => Route::Pids {
            info: false,
            params,
        },
        NV2080_CTRL_CMD_GPU_GET_PID_INFO if !c.serialized => Route::Pids { info: true, params },
        NV2080_CTRL_CMD_FIFO_DISABLE_CHANNELS => Route::DisableChannels(params),
        cmd if is_export_fd_control(cmd) => Route::ExportFd(c),
        // A tenant's levers on its own share (see `sched_answered`).
        NVA06C_CTRL_CMD_SET_TIMESLICE
        | NVA06C_CTRL_CMD_SET_INTERLEAVE_LEVEL
        | NVA06C_CTRL_CMD_MAKE_REALTIME
        | NVA06C_CTRL_CMD_INTERNAL_SET_TIMESLICE
        | NVA06C_CTRL_CMD_INTERNAL_GPFIFO_SCHEDULE
        | NVA06F_CTRL_CMD_SET_INTERLEAVE_LEVEL
        | NV2080_CTRL_CMD_FIFO_RUNLIST_SET_SCHED_POLICY
        | NVA06C_CTRL_CMD_GPFIFO_SCHEDULE
        | NVA06F_CTRL_CMD_GPFIFO_SCHEDULE => Route::SchedLever { cmd: c.cmd, params },
        // Levers over the whole GPU (every context's channels, the global
        // timeslice policy, context-switch timeouts): never a tenant's.
        NV2080_CTRL_CMD_FIFO_DISABLE_USERMODE_CHANNELS
        | NV2080_CTRL_CMD_GPU_SET_COMPUTE_POLICY_CONFIG
        | NV2080_CTRL_CMD_FIFO_CONFIG_CTXSW_TIMEOUT => {
            Route::Refuse(Refusal::Status(NV_ERR_INSUFFICIENT_PERMISSIONS))
        }
        // Multicast and fabric export hand the vendor a GPU file the proxy
        // does not translate (and multicast is off on shared hosts).
        NV00FD_CTRL_CMD_ATTACH_GPU | NV00E0_CTRL_CMD_EXPORT_MEM => {
            Route::Refuse(Refusal::Status(NV_ERR_NOT_SUPPORTED))
        }
        // The context's own channel groups and channels.
        NVA06C_CTRL_CMD_BIND
        | NVA06C_CTRL_CMD_PREEMPT
        | NVA06F_CTRL_CMD_BIND
        | NVA06F_CTRL_CMD_RESTART_RUNLIST
        | NVA06F_CTRL_CMD_STOP_CHANNEL
        | NV2080_CTRL_CMD_GR_SET_CTXSW_PREEMPTION_MODE
        | NV2080_CTRL_CMD_RC_RELEASE_WATCHDOG_REQUESTS
        | NV2080_CTRL_CMD_RC_SOFT_DISABLE_WATCHDOG
        | NV83DE_CTRL_CMD_DEBUG_SET_EXCEPTION_MASK
        | NV503C_CTRL_CMD_REGISTER_VA_SPACE
        | NV503C_CTRL_CMD_REGISTER_VIDMEM
        | NV503C_CTRL_CMD_UNREGISTER_VIDMEM
        | NV0000_CTRL_CMD_CLIENT_SET_INHERITED_SHARE_POLICY
        | NV0000_CTRL_CMD_GPU_ATTACH_IDS
        | NV0000_CTRL_CMD_GPU_DETACH_IDS
        | NV0000_CTRL_CMD_GPU_ASYNC_ATTACH_ID
        | NV0080_CTRL_CMD_PERF_CUDA_LIMIT_SET_CONTROL
        | NV2080_CTRL_CMD_PERF_BOOST
        | NV00DE_CTRL_CMD_REQUEST_DATA_POLL => Route::Forward(Rule::OwnChannels),
        // Queries.
        NV0000_CTRL_CMD_CLIENT_GET_ADDR_SPACE_TYPE
        | NV0000_CTRL_CMD_GPU_GET_UUID_FROM_GPU_ID
        | NV0041_CTRL_CMD_GET_SURFACE_INFO
        | NV0080_CTRL_CMD_GPU_GET_NUM_SUBDEVICES
        | NV0080_CTRL_CMD_GPU_GET_CLASSLIST_V2
        | NV2080_CTRL_CMD_GPU_GET_INFO_V2
        | NV2080_CTRL_CMD_GPU_GET_NAME_STRING
        | NV2080_CTRL_CMD_GPU_GET_SHORT_NAME_STRING
        | NV2080_CTRL_CMD_GPU_GET_GID_INFO
        | NV2080_CTRL_CMD_GPU_GET_ENGINES_V2
        | NV2080_CTRL_CMD_GPU_GET_COMPUTE_POLICY_CONFIG
        | NV2080_CTRL_CMD_FB_GET_FB_REGION_INFO
        | NVA06C_CTRL_CMD_GET_TIMESLICE
        | NVA06C_CTRL_CMD_GET_INFO
        | NVA06C_CTRL_CMD_GET_INTERLEAVE_LEVEL
        | NVC36F_CTRL_CMD_GPFIFO_GET_WORK_SUBMIT_TOKEN
        | NV0000_CTRL_CMD_SYSTEM_GET_BUILD_VERSION
        | NV0000_CTRL_CMD_SYSTEM_GET_P2P_CAPS_MATRIX
        | NV0000_CTRL_CMD_SYSTEM_GET_FEATURES
        | NV0000_CTRL_CMD_GPU_GET_PCI_INFO
        | NV0000_CTRL_CMD_GPU_QUERY_DRAIN_STATE
        | NV0000_CTRL_CMD_GPU_GET_MEMOP_ENABLE
        | NV0000_CTRL_CMD_GPU_GET_ACTIVE_DEVICE_IDS
        | NV0000_CTRL_CMD_SYNC_GPU_BOOST_GROUP_INFO
        | NV0080_CTRL_CMD_GPU_QUERY_SW_STATE_PERSISTENCE
        | NV0080_CTRL_CMD_GPU_GET_VIRTUALIZATION_MODE
        | NV0080_CTRL_CMD_GPU_GET_VGX_CAPS
        | NV0080_CTRL_CMD_GPU_GET_BRAND_CAPS
        | NV2080_CTRL_CMD_GPU_GET_ACTIVE_PARTITION_IDS
        | NV2080_CTRL_CMD_PERF_GET_CURRENT_PSTATE
        | NV2080_CTRL_CMD_GPU_GET_OEM_BOARD_INFO
        | NV2080_CTRL_CMD_BIOS_GET_INFO
        | NV2080_CTRL_CMD_GPU_GET_CHIP_DETAILS
        | NV2080_CTRL_CMD_PMGR_GET_MODULE_INFO
        | NV2080_CTRL_CMD_GPU_GET_RESET_STATUS
        | NV2080_CTRL_CMD_GPU_GET_DRAIN_AND_RESET_STATUS
        | NV2080_CTRL_CMD_BUS_GET_PEX_COUNTERS
        | NV2080_CTRL_CMD_BUS_GET_PEX_UTIL_COUNTERS
        | NV2080_CTRL_CMD_BUS_GET_PCIE_REQ_ATOMICS_CAPS
        | NV2080_CTRL_CMD_ECC_GET_VOLATILE_COUNTS
        | NV2080_CTRL_CMD_FB_GET_REMAPPED_ROWS
        | NV0000_CTRL_CMD_GPUACCT_GET_ACCOUNTING_STATE
        | NV2080_CTRL_CMD_GPU_GET_INFOROM_IMAGE_VERSION
        | NV2080_CTRL_CMD_PERF_GET_VID_ENG_PERFMON_SAMPLE
        | NV2080_CTRL_GPU_GET_NVENC_SW_SESSION_STATS
        | NV2080_CTRL_GPU_GET_NVFBC_SW_SESSION_STATS
        | NV2080_CTRL_CMD_ECC_GET_CLIENT_EXPOSED_COUNTERS
        | NV2080_CTRL_CMD_FB_GET_OFFLINED_PAGES
        | NV0080_CTRL_CMD_FB_GET_CAPS_V2
        | NV0080_CTRL_CMD_HOST_GET_CAPS_V2
        | NV0080_CTRL_CMD_FIFO_GET_CHANNELLIST
        | NV2080_CTRL_CMD_GPU_GET_SIMULATION_INFO
        | NV2080_CTRL_CMD_GPU_QUERY_ECC_STATUS
        | NV2080_CTRL_CMD_GPU_QUERY_COMPUTE_MODE_RULES
        | NV2080_CTRL_CMD_GPU_QUERY_ECC_CONFIGURATION
        | NV2080_CTRL_CMD_GPU_GET_INFOROM_OBJECT_VERSION
        | NV2080_CTRL_CMD_GPU_QUERY_INFOROM_ECC_SUPPORT
        | NV2080_CTRL_CMD_GET_GPU_FABRIC_PROBE_INFO
        | NV2080_CTRL_CMD_TIMER_GET_GPU_CPU_TIME_CORRELATION_INFO
        | NV2080_CTRL_CMD_GR_GET_INFO
        | NV2080_CTRL_CMD_GR_GET_CTX_BUFFER_SIZE
        | NV2080_CTRL_CMD_GR_GET_GLOBAL_SM_ORDER
        | NV2080_CTRL_CMD_GR_GET_CAPS_V2
        | NV2080_CTRL_CMD_GR_GET_GPC_MASK
        | NV2080_CTRL_CMD_GR_GET_TPC_MASK
        | NV2080_CTRL_CMD_GR_GET_SM_ISSUE_RATE_MODIFIER
        | NV2080_CTRL_CMD_FB_QUERY_DRAM_ENCRYPTION_INFOROM_SUPPORT
        | NV2080_CTRL_CMD_MC_GET_ARCH_INFO
        | NV2080_CTRL_CMD_BUS_GET_PCI_INFO
        | NV2080_CTRL_CMD_BUS_GET_INFO
        | NV2080_CTRL_CMD_BUS_GET_PCI_BAR_INFO
        | NV2080_CTRL_CMD_BUS_GET_INFO_V2
        | NV2080_CTRL_CMD_BUS_GET_PCIE_SUPPORTED_GPU_ATOMICS
        | NV2080_CTRL_CMD_BUS_GET_C2C_INFO
        | NV2080_CTRL_CMD_PERF_GET_GPUMON_PERFMON_UTIL_SAMPLES_V2
        | NV2080_CTRL_CMD_CE_GET_ALL_CAPS
        | NV2080_CTRL_CMD_NVLINK_GET_NVLINK_STATUS
        | NV2080_CTRL_CMD_NVLINK_GET_NVLINK_CAPS
        | NV0000_CTRL_CMD_SYSTEM_GET_P2P_CAPS_V2
        | NV2080_CTRL_CMD_GSP_GET_FEATURES
        | NV2080_CTRL_CMD_GRMGR_GET_GR_FS_INFO
        | NV208F_CTRL_CMD_GPU_VERIFY_INFOROM
        | NV90E6_CTRL_CMD_MASTER_GET_VIRTUAL_FUNCTION_ERROR_CONT_INTR_MASK
        | NV906F_CTRL_GET_CLASS_ENGINEID
        | NV_CONF_COMPUTE_CTRL_CMD_SYSTEM_GET_CAPABILITIES => Route::Forward(Rule::Query),
        // A device control of the GPU interface (0x8b) that neither
        // branch's device class exports (g_device_nvoc.c of 550.163.01 and
        // 580.142 lack it, so the RM answers NV_ERR_NOT_SUPPORTED), sent with
        // 1 byte by libcuda 550's cuInit: answered as the RM would, never
        // forwarded.
        0x0080_028b => Route::Refuse(Refusal::Status(NV_ERR_NOT_SUPPORTED)),
        c if undocumented_control(c).is_some() => Route::Forward(Rule::Captured),
        other => Route::Unrouted {
            what: Unrouted::Control(other),
            forward: view.permissive,
        },
    }
}

/// For a [`Route::SchedLever`] control `cmd` with parameter block `params`:
/// whether the proxy answers it `NV_OK` without forwarding. CUDA sets a
/// timeslice at context creation and must not fail, but the share is the
/// scheduler's to decide. GPFIFO_SCHEDULE is answered when it disables
/// (`bEnable`, the first byte, is 0) and forwarded when it enables
/// (channels do not run until enabled).
pub fn sched_answered(cmd: u32, params: &[u8]) -> bool {
    match cmd {
        NVA06C_CTRL_CMD_GPFIFO_SCHEDULE | NVA06F_CTRL_CMD_GPFIFO_SCHEDULE => {
            params.first() == Some(&0)
        }
        _ => true,
    }
}

/// Whether [`sched_answered`] reads the parameters of `cmd`.
pub fn sched_needs_params(cmd: u32) -> bool {
    matches!(
        cmd,
        NVA06C_CTRL_CMD_GPFIFO_SCHEDULE | NVA06F_CTRL_CMD_GPFIFO_SCHEDULE
    )
}

/// Shared vectors, checked by the host tests and by KUnit in the module: a
/// control command and the kind of route it gets (strict mode).
pub const CONTROL_VECTORS: &[(u32, &str)] = &[
    (NV2080_CTRL_CMD_FB_GET_INFO_V2, "FbInfoV2"),
    (NV2080_CTRL_CMD_FB_GET_INFO, "FbInfoV1"),
    (NV0000_CTRL_CMD_GPU_GET_PROBED_IDS, "GpuIdList"),
    (NV0000_CTRL_CMD_GPU_GET_ID_INFO_V2, "GpuIdCheck"),
    (NV2080_CTRL_CMD_GPU_GET_PIDS, "Pids"),
    (NV2080_CTRL_CMD_GPU_GET_PID_INFO, "Pids"),
    (NV2080_CTRL_CMD_FIFO_DISABLE_CHANNELS, "DisableChannels"),
    (NVA06C_CTRL_CMD_SET_TIMESLICE, "SchedLever"),
    (NVA06C_CTRL_CMD_GPFIFO_SCHEDULE, "SchedLever"),
    (NVA06C_CTRL_CMD_GET_TIMESLICE, "Forward"),
    (NV2080_CTRL_CMD_FIFO_DISABLE_USERMODE_CHANNELS, "Refuse"),
    (NV2080_CTRL_CMD_GPU_SET_COMPUTE_POLICY_CONFIG, "Refuse"),
    (NV2080_CTRL_CMD_GPU_GET_NAME_STRING, "Forward"),
    (NV0000_CTRL_CMD_OS_UNIX_EXPORT_OBJECT_TO_FD, "ExportFd"),
    (0x2080_0145, "Forward"),
    (0x2080_ffff, "Unrouted"),
    (0x0000_0000, "Unrouted"),
];

/// An RM_CONTROL of `cmd` on `/dev/nvidiactl` as the module decodes it: an
/// NVOS54 block naming a parameter block of `params_size` bytes at a dummy
/// address (for the shared vectors and the tests).
pub fn decode_control(cmd: u32, params_size: u32) -> Decoded {
    decode_control_for(Branch::R580, cmd, params_size)
}

/// [`decode_control`] in driver branch `branch`.
pub fn decode_control_for(branch: Branch, cmd: u32, params_size: u32) -> Decoded {
    use super::nvabi::{
        decode::{decode_for, FileKind},
        escape::{nv_iowr, NV_ESC_RM_CONTROL},
        rm::Nvos54,
        wire::Wire,
    };
    let mut p = Nvos54::ZERO;
    p.h_client = 0xc1d0_0001;
    p.h_object = 0x5c00_0001;
    p.cmd = cmd;
    p.params = 0x1000;
    p.params_size = params_size;
    let mut b = [0u8; Nvos54::SIZE];
    // The buffer is the block's size: the write cannot fail.
    let _ = p.write(&mut b);
    decode_for(
        branch,
        FileKind::Ctl,
        nv_iowr(NV_ESC_RM_CONTROL, Nvos54::SIZE as u32),
        &b,
    )
}

/// The route of an RM_CONTROL of `cmd` with an 8-byte parameter block
/// ([`decode_control`]), for the shared vectors.
pub fn route_of_control(cmd: u32, view: &ContextView) -> Route {
    route(&decode_control(cmd, 8), view)
}

/// How many distinct unrouted numbers a context remembers (beyond that
/// they are still counted, in [`UnroutedLog::others`]).
pub const UNROUTED_KEPT: usize = 32;

/// What a context's workloads needed that the table does not route: per
/// number, how many calls. Shown in sysfs (`unrouted`); the first call of
/// each number is logged.
#[derive(Debug, Clone, Copy)]
pub struct UnroutedLog {
    seen: [Option<(Unrouted, u64)>; UNROUTED_KEPT],
    /// Calls of numbers beyond the first [`UNROUTED_KEPT`].
    pub others: u64,
}

impl Default for UnroutedLog {
    fn default() -> Self {
        Self::new()
    }
}

impl UnroutedLog {
    /// Nothing seen yet.
    pub const fn new() -> Self {
        Self {
            seen: [None; UNROUTED_KEPT],
            others: 0,
        }
    }

    /// Counts one call; `true` the first time its number is seen (then the
    /// module logs it).
    pub fn note(&mut self, what: Unrouted) -> bool {
        for e in self.seen.iter_mut() {
            match e {
                Some((w, n)) if *w == what => {
                    *n = n.saturating_add(1);
                    return false;
                }
                Some(_) => {}
                None => {
                    *e = Some((what, 1));
                    return true;
                }
            }
        }
        self.others = self.others.saturating_add(1);
        false
    }

    /// Every number seen and its count, in the order first seen.
    pub fn entries(&self) -> impl Iterator<Item = (Unrouted, u64)> + '_ {
        self.seen.iter().flatten().copied()
    }

    /// All calls counted.
    pub fn total(&self) -> u64 {
        self.entries()
            .fold(self.others, |t, (_, n)| t.saturating_add(n))
    }
}

impl Unrouted {
    /// The kind's name in sysfs and the log.
    pub fn kind(self) -> &'static str {
        match self {
            Unrouted::Escape(_) => "escape",
            Unrouted::Class(_) => "class",
            Unrouted::Control(_) => "control",
        }
    }
}

#[cfg(all(test, not(MODULE)))]
mod tests {
    use super::*;
    use crate::nvabi::{
        decode::{decode, FileKind},
        escape::nv_iowr,
    };
    use proptest::prelude::*;

    const STRICT: ContextView = ContextView { permissive: false };

    /// The block size an `_IOWR` command carries.
    fn kernel_size(cmd: u32) -> usize {
        ((cmd >> 16) & 0x3fff) as usize
    }
    const PERMISSIVE: ContextView = ContextView { permissive: true };

    fn control(cmd: u32, size: u32) -> Decoded {
        let d = decode_control(cmd, size);
        assert!(matches!(d.body, Body::Control(c) if c.cmd == cmd));
        d
    }

    /// An RM_ALLOC (NVOS21) of `class` with a parameter pointer.
    fn alloc(branch: Branch, class: u32) -> Decoded {
        use crate::nvabi::{decode::decode_for, escape::NV_ESC_RM_ALLOC, rm::Nvos21, wire::Wire};
        let mut a = Nvos21::ZERO;
        a.h_root = 0xc1d0_0001;
        a.h_object_parent = 0xc1d0_0001;
        a.h_object_new = 0xcafe_0001;
        a.h_class = class;
        a.p_alloc_parms = 0x1000;
        let mut b = [0u8; Nvos21::SIZE];
        let _ = a.write(&mut b);
        decode_for(
            branch,
            FileKind::Ctl,
            nv_iowr(NV_ESC_RM_ALLOC, Nvos21::SIZE as u32),
            &b,
        )
    }

    /// 550's table: what its RM lacks is answered as its RM answers it,
    /// the controls whose size differs are checked against 550's size,
    /// and routes do not change where the ABI does not.
    #[test]
    fn branch_550_routes() {
        use crate::nvabi::class::{BLACKWELL_COMPUTE_A, HOPPER_CHANNEL_GPFIFO_A, HOPPER_COMPUTE_A};
        use crate::nvabi::decode::{ControlParams, Nested};
        let r550 = Branch::R550;
        for c in [
            BLACKWELL_COMPUTE_A,
            crate::nvabi::class::BLACKWELL_USERMODE_A,
        ] {
            assert_eq!(
                route(&alloc(r550, c), &STRICT),
                Route::Refuse(Refusal::Status(NV_ERR_INVALID_CLASS))
            );
            assert!(route(&alloc(Branch::R580, c), &STRICT).reaches_vendor());
        }
        assert_eq!(
            route(&alloc(r550, HOPPER_COMPUTE_A), &STRICT),
            route(&alloc(Branch::R580, HOPPER_COMPUTE_A), &STRICT)
        );
        // The channel's block is 360 bytes in 550: copied so, decoded.
        let d = alloc(r550, HOPPER_CHANNEL_GPFIFO_A);
        assert_eq!(d.nested().map(|n| n.size), Some(360));
        assert!(matches!(
            d.decode_nested(&[0u8; 360]),
            Nested::Alloc(AllocParams::Channel { .. })
        ));
        assert_eq!(
            alloc(Branch::R580, HOPPER_CHANNEL_GPFIFO_A)
                .nested()
                .map(|n| n.size),
            Some(368)
        );
        // FB_GET_INFO_V2: 444 bytes in 550, 1028 in 580.
        let fb = decode_control_for(r550, NV2080_CTRL_CMD_FB_GET_INFO_V2, 444);
        assert_eq!(route(&fb, &STRICT).kind(), "FbInfoV2");
        let mut block = [0u8; 444];
        block[0] = 3;
        assert_eq!(
            fb.decode_nested(&block),
            Nested::Control(ControlParams::FbInfoV2 { count: 3 })
        );
        assert!(matches!(
            decode_control(NV2080_CTRL_CMD_FB_GET_INFO_V2, 444).decode_nested(&block),
            Nested::Control(ControlParams::BadSize {
                need: 1028,
                got: 444
            })
        ));
        assert!(matches!(
            decode_control_for(r550, NV2080_CTRL_CMD_FB_GET_INFO_V2, 1028)
                .decode_nested(&[0u8; 1028]),
            Nested::Control(ControlParams::BadSize {
                need: 444,
                got: 1028
            })
        ));
        // A control known but not decoded: its 550 size is checked.
        let ecc = decode_control_for(r550, NV2080_CTRL_CMD_GPU_QUERY_ECC_STATUS, 1024);
        assert_eq!(
            ecc.decode_nested(&[0u8; 1024]),
            Nested::Control(ControlParams::Other)
        );
        assert!(matches!(
            ecc.decode_nested(&[0u8; 1464]),
            Nested::Control(ControlParams::BadSize { need: 1024, .. })
        ));
        // GPFIFO_SCHEDULE: 2 bytes in 550 (no bSkipEnable), still a lever.
        let s = decode_control_for(r550, NVA06F_CTRL_CMD_GPFIFO_SCHEDULE, 2);
        assert_eq!(route(&s, &STRICT).kind(), "SchedLever");
        assert!(matches!(
            s.decode_nested(&[1, 0]),
            Nested::Control(ControlParams::Schedule(p)) if p.enable == 1 && p.skip_enable == 0
        ));
        // Controls 550 lacks.
        assert_eq!(
            route(
                &decode_control_for(r550, NV2080_CTRL_CMD_FIFO_CONFIG_CTXSW_TIMEOUT, 8),
                &STRICT
            ),
            Route::Refuse(Refusal::Status(NV_ERR_NOT_SUPPORTED))
        );
        // The shared vectors hold in 550 too (no vector names a control
        // whose route differs between the branches).
        for (cmd, want) in CONTROL_VECTORS {
            assert_eq!(
                route(&decode_control_for(r550, *cmd, 8), &STRICT).kind(),
                *want,
                "{cmd:#x}"
            );
        }
    }

    /// NVOS46 is 56 bytes in 550: its status is at 48, and a 580-sized
    /// block is the wrong size there (and the reverse).
    #[test]
    fn branch_550_map_dma() {
        use crate::nvabi::{decode::decode_for, escape::NV_ESC_RM_MAP_MEMORY_DMA};
        let b = [0u8; 64];
        let d = decode_for(
            Branch::R550,
            FileKind::Ctl,
            nv_iowr(NV_ESC_RM_MAP_MEMORY_DMA, 56),
            &b[..56],
        );
        assert!(matches!(d.body, Body::MapMemoryDma { .. }), "{:?}", d.body);
        assert_eq!(d.status_offset(), Some(48));
        let d = decode_for(
            Branch::R550,
            FileKind::Ctl,
            nv_iowr(NV_ESC_RM_MAP_MEMORY_DMA, 64),
            &b,
        );
        assert_eq!(route(&d, &STRICT), Route::Refuse(Refusal::Inval));
        let d = decode(
            FileKind::Ctl,
            nv_iowr(NV_ESC_RM_MAP_MEMORY_DMA, 56),
            &b[..56],
        );
        assert_eq!(route(&d, &STRICT), Route::Refuse(Refusal::Inval));
        let d = decode(FileKind::Ctl, nv_iowr(NV_ESC_RM_MAP_MEMORY_DMA, 64), &b);
        assert_eq!(d.status_offset(), Some(56));
    }

    /// UVM commands 550 lacks are unknown there (its `uvm_ioctl` answers
    /// -EINVAL); the tools tracker's block is 64 bytes.
    #[test]
    fn branch_550_uvm() {
        use crate::nvabi::decode::decode_for;
        let d = decode_for(Branch::R550, FileKind::Uvm, UVM_DISCARD, &[0u8; 64]);
        assert!(matches!(d.body, Body::Unknown));
        assert!(!route(&d, &STRICT).reaches_vendor());
        let d = decode(FileKind::Uvm, UVM_DISCARD, &[0u8; 64]);
        assert!(route(&d, &STRICT).reaches_vendor());
        let d = decode_for(
            Branch::R550,
            FileKind::UvmTools,
            UVM_TOOLS_INIT_EVENT_TRACKER,
            &[0u8; 64],
        );
        assert_eq!(d.size, 64);
    }

    #[test]
    fn control_vectors() {
        for (cmd, want) in CONTROL_VECTORS {
            assert_eq!(route_of_control(*cmd, &STRICT).kind(), *want, "{cmd:#x}");
            assert_eq!(route(&control(*cmd, 8), &STRICT).kind(), *want, "{cmd:#x}");
        }
    }

    #[test]
    fn every_declared_control_is_routed() {
        let missing: Vec<&str> = CONTROL_CMDS
            .iter()
            .filter(|c| {
                matches!(
                    route(&control(c.value as u32, 8), &STRICT),
                    Route::Unrouted { .. }
                )
            })
            .map(|c| c.name)
            .collect();
        assert!(
            missing.is_empty(),
            "declared controls with no route: {missing:?}"
        );
    }

    #[test]
    fn an_unknown_control_is_refused_not_supported_and_forwarded_only_when_permissive() {
        let d = control(0x2080_ffff, 8);
        assert!(matches!(d.body, Body::Control(_)));
        let r = route(&d, &STRICT);
        assert_eq!(
            r,
            Route::Unrouted {
                what: Unrouted::Control(0x2080_ffff),
                forward: false
            }
        );
        assert!(!r.reaches_vendor());
        assert_eq!(
            Unrouted::Control(1).refusal(),
            Refusal::Status(NV_ERR_NOT_SUPPORTED)
        );
        assert!(route(&d, &PERMISSIVE).reaches_vendor());
    }

    #[test]
    fn whole_gpu_levers_are_refused() {
        for cmd in [
            NV2080_CTRL_CMD_FIFO_DISABLE_USERMODE_CHANNELS,
            NV2080_CTRL_CMD_GPU_SET_COMPUTE_POLICY_CONFIG,
            NV2080_CTRL_CMD_FIFO_CONFIG_CTXSW_TIMEOUT,
        ] {
            assert_eq!(
                route(&control(cmd, 8), &PERMISSIVE),
                Route::Refuse(Refusal::Status(NV_ERR_INSUFFICIENT_PERMISSIONS)),
                "{cmd:#x}"
            );
        }
    }

    #[test]
    fn scheduling_levers_are_answered_and_gpfifo_enable_goes_through() {
        assert!(matches!(
            route(&control(NVA06C_CTRL_CMD_SET_TIMESLICE, 8), &STRICT),
            Route::SchedLever {
                cmd: NVA06C_CTRL_CMD_SET_TIMESLICE,
                ..
            }
        ));
        assert!(sched_answered(NVA06C_CTRL_CMD_SET_TIMESLICE, &[]));
        assert!(!sched_needs_params(NVA06C_CTRL_CMD_SET_TIMESLICE));
        assert!(sched_needs_params(NVA06C_CTRL_CMD_GPFIFO_SCHEDULE));
        assert!(sched_answered(NVA06C_CTRL_CMD_GPFIFO_SCHEDULE, &[0]));
        assert!(!sched_answered(NVA06C_CTRL_CMD_GPFIFO_SCHEDULE, &[1]));
        assert!(!sched_answered(
            NVA06F_CTRL_CMD_GPFIFO_SCHEDULE,
            &[1, 0, 0, 0]
        ));
        // Reading a timeslice is a query.
        assert_eq!(
            route(&control(NVA06C_CTRL_CMD_GET_TIMESLICE, 8), &STRICT),
            Route::Forward(Rule::Query)
        );
    }

    #[test]
    fn the_unrouted_log_counts_per_number_and_logs_each_once() {
        let mut l = UnroutedLog::new();
        assert!(l.note(Unrouted::Control(7)));
        assert!(!l.note(Unrouted::Control(7)));
        assert!(l.note(Unrouted::Class(7)));
        for i in 0..40 {
            l.note(Unrouted::Escape(100 + i));
        }
        let e: std::vec::Vec<_> = l.entries().collect();
        assert_eq!(e.len(), UNROUTED_KEPT);
        assert_eq!(e[0], (Unrouted::Control(7), 2));
        assert_eq!(e[1], (Unrouted::Class(7), 1));
        assert_eq!(l.others, 40 - (UNROUTED_KEPT as u64 - 2));
        assert_eq!(l.total(), 43);
    }

    /// Whether the proxy answers control `cmd` with `params` itself.
    fn answered(cmd: u32, params: &[u8]) -> bool {
        matches!(route(&control(cmd, 8), &STRICT), Route::SchedLever { .. })
            && sched_answered(cmd, params)
    }

    #[test]
    fn answered_controls() {
        assert!(answered(0xa06c0103, &[0; 8]));
        assert!(answered(0xa06c0107, &[0; 4]));
        assert!(answered(0x20801115, &[]));
        assert!(answered(0xa06c0101, &[0, 0, 0]));
        assert!(!answered(0xa06c0101, &[1, 0, 0]));
        assert!(answered(0xa06f0103, &[0, 0, 0]));
        assert!(!answered(0xa06c0104, &[0; 8]), "GET_TIMESLICE is forwarded");
        assert!(!answered(0xa06c0105, &[0; 8]), "PREEMPT is forwarded");
        assert!(
            !answered(0x2080110b, &[0; 8]),
            "FIFO_DISABLE_CHANNELS only stops the caller"
        );
    }

    proptest! {
        /// No control the ABI does not declare is forwarded, whatever its
        /// parameters.
        #[test]
        fn no_undeclared_control_reaches_the_vendor(cmd in any::<u32>(), size in 0u32..4096) {
            prop_assume!(!control_known(cmd));
            let d = control(cmd, size);
            let r = route(&d, &STRICT);
            prop_assert!(!r.reaches_vendor(), "{cmd:#x} -> {r:?}");
            prop_assert_eq!(r, Route::Unrouted { what: Unrouted::Control(cmd), forward: false });
        }

        /// Whatever the bytes, an unrouted call reaches the vendor only in
        /// permissive mode, and refusals never do.
        #[test]
        fn decoded_garbage_is_never_forwarded_unrouted(
            kind in 0usize..3, nr in 0u32..256, bytes in proptest::collection::vec(any::<u8>(), 0..64)
        ) {
            let file = [FileKind::Ctl, FileKind::Gpu, FileKind::Uvm][kind];
            let cmd = if file == FileKind::Uvm { nr } else { nv_iowr(nr, bytes.len() as u32) };
            let d = decode(file, cmd, &bytes);
            let r = route(&d, &STRICT);
            match r {
                Route::Unrouted { forward, .. } => prop_assert!(!forward),
                Route::Refuse(_) => prop_assert!(!r.reaches_vendor()),
                _ => {}
            }
            if matches!(d.body, Body::Unknown) {
                prop_assert!(!r.reaches_vendor());
            }
        }

        /// Whatever the bytes of an allocating escape (so whatever a second
        /// thread made the proxy read), a call that reaches the vendor is
        /// audited; other escapes never are.
        #[test]
        fn every_forwarded_allocating_escape_is_audited(
            pick in 0usize..6, bytes in proptest::collection::vec(any::<u8>(), 0..256),
            permissive in any::<bool>()
        ) {
            let esc = [
                Escape::RmAlloc, Escape::RmAllocMemory, Escape::RmVidHeapControl,
                Escape::RmFree, Escape::RmControl, Escape::RmDupObject,
            ][pick];
            let view = if permissive { PERMISSIVE } else { STRICT };
            let file = if esc == Escape::RmAllocMemory { FileKind::Gpu } else { FileKind::Ctl };
            // The escape's usual size, and whatever size the bytes give.
            for cmd in [esc.typical_cmd().unwrap_or(0), nv_iowr(esc.nr(), bytes.len() as u32)] {
                let mut b = bytes.clone();
                b.resize(kernel_size(cmd).max(b.len()), 0);
                let d = decode(file, cmd, &b[..kernel_size(cmd).min(b.len())]);
                let r = route(&d, &view);
                if pick < 3 {
                    prop_assert_eq!(r.audits_vidmem(&d), r.reaches_vendor(), "{:?}", r);
                } else {
                    prop_assert!(!r.audits_vidmem(&d));
                }
            }
        }
    }
}
