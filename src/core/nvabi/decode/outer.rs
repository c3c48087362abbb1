// SPDX-License-Identifier: GPL-2.0

//! The outer level: the ioctl's own block, escape by escape, down to
//! where its nested blocks are; and [`Decoded`]'s questions about a call.

use super::super::branch::Branch;
use super::super::class::{self};
use super::super::escape::{self, Escape, NvIoctlXfer, Where};
use super::super::rm::*;
use super::super::uvm::*;
use super::super::wire::{rd_u32, rd_u64, wr_u32, Wire};
use super::alloc::*;
use super::control::*;
use super::kinds::*;
use super::uvm_calls::decode_uvm;
use core::mem::offset_of;

/// Decodes one ioctl of the 580 ABI (tools and tests; the proxy decodes
/// with its vendor's branch, [`decode_for`]).
pub fn decode(file: FileKind, cmd: u32, params: &[u8]) -> Decoded {
    decode_for(Branch::R580, file, cmd, params)
}

/// Decodes one ioctl of driver branch `branch`. `params` are the bytes at
/// the ioctl's argument pointer: for nvidia.ko files `ioc_size(cmd)`
/// bytes, for UVM [`Branch::uvm_param_size`]`(cmd)` bytes.
pub fn decode_for(branch: Branch, file: FileKind, cmd: u32, params: &[u8]) -> Decoded {
    match file {
        FileKind::Ctl | FileKind::Gpu => decode_escape(
            branch,
            file,
            escape::ioc_nr(cmd),
            escape::ioc_size(cmd),
            params,
            false,
        ),
        FileKind::Uvm | FileKind::UvmTools => decode_uvm(branch, file, cmd, params),
    }
}

/// Decodes the inner call of an `NV_ESC_IOCTL_XFER_CMD` (`inner_cmd` is
/// compared as a full 32-bit value, as the driver does), 580 ABI.
pub fn decode_nv(file: FileKind, inner_cmd: u32, inner_size: u32, params: &[u8]) -> Decoded {
    decode_escape(Branch::R580, file, inner_cmd, inner_size, params, true)
}

fn decode_escape(
    branch: Branch,
    file: FileKind,
    nr: u32,
    size: u32,
    params: &[u8],
    inner: bool,
) -> Decoded {
    let mut d = Decoded {
        branch,
        file,
        call: Call::Unknown(nr),
        size: size as usize,
        body: Body::Unknown,
    };
    let esc = match Escape::from_nr(nr) {
        Some(e) => e,
        None => return d,
    };
    d.call = Call::Nv(esc);
    d.body = body_of_escape(branch, file, esc, size, params, inner);
    d
}

fn wrong_file(file: FileKind, w: Where) -> bool {
    match w {
        Where::Ctl => file != FileKind::Ctl,
        Where::Dev => file != FileKind::Gpu,
        Where::Both => !matches!(file, FileKind::Ctl | FileKind::Gpu),
        Where::Nowhere => true,
    }
}

fn body_of_escape(
    branch: Branch,
    file: FileKind,
    esc: Escape,
    size: u32,
    p: &[u8],
    inner: bool,
) -> Body {
    if esc.allowed() == Where::Nowhere || (inner && esc == Escape::IoctlXfer) {
        return Body::Rejected(Reject::NoHandler);
    }
    if !branch.escape_size_rule(esc).accepts(size) {
        return Body::Rejected(Reject::BadSize);
    }
    let need = size as usize;
    if p.len() < need {
        return Body::Short { need, got: p.len() };
    }
    // RM_ALLOC: event classes are also accepted on GPU files.
    if esc == Escape::RmAlloc {
        let h_class = rd_u32(p, offset_of!(Nvos21, h_class)).unwrap_or(0);
        let gpu_ok = class::alloc_allowed_on_gpu_file(h_class);
        if file != FileKind::Ctl && !(file == FileKind::Gpu && gpu_ok) {
            return Body::Rejected(Reject::WrongFile);
        }
    } else if wrong_file(file, esc.allowed()) {
        return Body::Rejected(Reject::WrongFile);
    }
    typed_body(branch, esc, size, p).unwrap_or(Body::Short { need, got: p.len() })
}

fn typed_body(branch: Branch, esc: Escape, size: u32, p: &[u8]) -> Option<Body> {
    Some(match esc {
        Escape::IoctlXfer => {
            let x = NvIoctlXfer::read(p)?;
            if x.size > escape::NV_ABSOLUTE_MAX_IOCTL_SIZE {
                Body::Rejected(Reject::XferTooLarge)
            } else {
                Body::Xfer {
                    inner_cmd: x.cmd,
                    inner_size: x.size,
                    ptr: x.ptr,
                }
            }
        }
        Escape::CardInfo => Body::CardInfo {
            entries: size / escape::NvIoctlCardInfo::SIZE as u32,
        },
        Escape::AttachGpusToFd => Body::AttachGpus { count: size / 4 },
        Escape::CheckVersionStr => Body::CheckVersion { cmd: rd_u32(p, 0)? },
        Escape::RegisterFd => Body::RegisterFd {
            fd: FdField::i32_at(p, 0, FdRole::NvCtl)?,
        },
        Escape::AllocOsEvent | Escape::FreeOsEvent => Body::OsEvent {
            free: esc == Escape::FreeOsEvent,
            h_client: rd_u32(p, 0)?,
            h_device: rd_u32(p, 4)?,
            fd: FdField::u32_at(
                p,
                offset_of!(escape::NvIoctlAllocOsEvent, fd),
                FdRole::EventKey,
            )?,
        },
        Escape::ExportToDmabufFd => {
            type E = escape::NvIoctlExportToDmaBufFd;
            Body::ExportDmabuf {
                h_client: rd_u32(p, offset_of!(E, h_client))?,
                num_objects: rd_u32(p, offset_of!(E, num_objects))?,
                total_size: rd_u64(p, offset_of!(E, total_size))?,
                fd: FdField::i32_at(p, offset_of!(E, fd), FdRole::DmaBuf)?,
            }
        }
        Escape::RmAlloc => Body::Alloc(alloc_call(branch, size, p)?),
        Escape::RmFree => {
            let f = Nvos00::read(p)?;
            Body::Free {
                h_client: f.h_root,
                h_parent: f.h_object_parent,
                h_object: f.h_object_old,
            }
        }
        Escape::RmControl => {
            let c = Nvos54::read(p)?;
            Body::Control(ControlCall {
                h_client: c.h_client,
                h_object: c.h_object,
                cmd: c.cmd,
                flags: c.flags,
                params: NestedRef {
                    ptr_offset: offset_of!(Nvos54, params),
                    ptr: c.params,
                    size: c.params_size as usize,
                    size_exact: true,
                    kind: NestedKind::ControlParams { cmd: c.cmd },
                },
                serialized: c.flags & class::NVOS54_FLAGS_FINN_SERIALIZED != 0,
            })
        }
        Escape::RmMapMemory => {
            let m = Nvos33WithFd::read(p)?;
            Body::MapMemory {
                h_client: m.params.h_client,
                h_device: m.params.h_device,
                h_memory: m.params.h_memory,
                offset: m.params.offset,
                length: m.params.length,
                flags: m.params.flags,
                fd: FdField::i32_at(p, offset_of!(Nvos33WithFd, fd), FdRole::NvCtlOrGpu)?,
            }
        }
        Escape::RmUnmapMemory => {
            let m = Nvos34::read(p)?;
            Body::UnmapMemory {
                h_client: m.h_client,
                h_device: m.h_device,
                h_memory: m.h_memory,
            }
        }
        Escape::RmAllocMemory => {
            let m = Nvos02WithFd::read(p)?;
            Body::AllocMemory {
                h_client: m.params.h_root,
                h_parent: m.params.h_object_parent,
                h_new: m.params.h_object_new,
                h_class: m.params.h_class,
                flags: m.params.flags,
                limit: m.params.limit,
                fd: FdField::i32_at(p, offset_of!(Nvos02WithFd, fd), FdRole::NvCtlOrGpu)?,
            }
        }
        Escape::RmVidHeapControl => Body::VidHeap(vid_heap_call(p)?),
        Escape::RmDupObject => {
            let x = Nvos55::read(p)?;
            Body::Dup {
                h_client: x.h_client,
                h_parent: x.h_parent,
                h_object: x.h_object,
                h_client_src: x.h_client_src,
                h_object_src: x.h_object_src,
                flags: x.flags,
            }
        }
        Escape::RmShare => Body::Share {
            h_client: rd_u32(p, 0)?,
            h_object: rd_u32(p, 4)?,
        },
        // The fields up to `length` are at the same offsets in 550's
        // shorter block (`Nvos46R550`); the size rule checked the size.
        Escape::RmMapMemoryDma => {
            type M = Nvos46;
            Body::MapMemoryDma {
                h_client: rd_u32(p, offset_of!(M, h_client))?,
                h_device: rd_u32(p, offset_of!(M, h_device))?,
                h_dma: rd_u32(p, offset_of!(M, h_dma))?,
                h_memory: rd_u32(p, offset_of!(M, h_memory))?,
                offset: rd_u64(p, offset_of!(M, offset))?,
                length: rd_u64(p, offset_of!(M, length))?,
            }
        }
        Escape::RmUnmapMemoryDma => {
            let m = Nvos47::read(p)?;
            Body::UnmapMemoryDma {
                h_client: m.h_client,
                h_device: m.h_device,
                h_dma: m.h_dma,
                h_memory: m.h_memory,
                dma_offset: m.dma_offset,
            }
        }
        _ => Body::Opaque,
    })
}

fn alloc_call(branch: Branch, size: u32, p: &[u8]) -> Option<AllocCall> {
    let nvos64 = size as usize == Nvos64::SIZE;
    let h_class = rd_u32(p, offset_of!(Nvos21, h_class))?;
    let ptr = rd_u64(p, offset_of!(Nvos21, p_alloc_parms))?;
    let (params_size, flags, rights) = if nvos64 {
        let a = Nvos64::read(p)?;
        (a.params_size, a.flags, a.p_rights_requested)
    } else {
        (rd_u32(p, offset_of!(Nvos21, params_size))?, 0, 0)
    };
    let class = class::effective_class(h_class);
    let copy = class::class_info(class).and_then(|c| c.params.copy_size(ptr == 0));
    let (nsize, exact) = match copy.map(|n| {
        branch
            .alloc_param_size(class)
            .filter(|_| n > 0)
            .unwrap_or(n)
    }) {
        Some(n) => (n, true),
        None => (params_size as usize, false),
    };
    Some(AllocCall {
        form: if nvos64 {
            AllocForm::Nvos64
        } else {
            AllocForm::Nvos21
        },
        h_client: rd_u32(p, offset_of!(Nvos21, h_root))?,
        h_parent: rd_u32(p, offset_of!(Nvos21, h_object_parent))?,
        h_new: rd_u32(p, offset_of!(Nvos21, h_object_new))?,
        h_class,
        class,
        params_size,
        flags,
        p_rights_requested: rights,
        params: NestedRef {
            ptr_offset: offset_of!(Nvos21, p_alloc_parms),
            ptr,
            size: nsize,
            size_exact: exact,
            kind: NestedKind::AllocParams { class },
        },
        serialized: flags & class::NVOS64_FLAGS_FINN_SERIALIZED != 0,
    })
}

/// The class `_rmVidHeapControlAllocCommon` picks for a heap allocation.
pub const fn heap_alloc_class(flags: u32, attr: u32, attr2: u32) -> u32 {
    if flags & class::NVOS32_ALLOC_FLAGS_VIRTUAL != 0 {
        class::NV50_MEMORY_VIRTUAL
    } else if class::attr2_use_egm(attr2) {
        class::NV_MEMORY_EXTENDED_USER
    } else if class::attr_location(attr) == class::NVOS32_ATTR_LOCATION_VIDMEM {
        class::NV01_MEMORY_LOCAL_USER
    } else {
        class::NV01_MEMORY_SYSTEM
    }
}

fn vid_heap_call(p: &[u8]) -> Option<VidHeapCall> {
    let h = Nvos32::read(p)?;
    let data = p.get(NVOS32_DATA_OFFSET..)?;
    let base = NVOS32_DATA_OFFSET;
    // The three sized allocation functions share their fields under
    // different layouts.
    macro_rules! heap_alloc {
        ($t:ty) => {{
            let a = <$t>::read(data)?;
            Some(HeapAlloc {
                class: heap_alloc_class(a.flags, a.attr, a.attr2),
                h_memory: a.h_memory,
                h_memory_offset: base + offset_of!($t, h_memory),
                size: a.size,
                size_offset: base + offset_of!($t, size),
                flags: a.flags,
                attr: a.attr,
                attr2: a.attr2,
            })
        }};
    }
    let alloc = match h.function {
        NVOS32_FUNCTION_ALLOC_SIZE => heap_alloc!(Nvos32AllocSize),
        NVOS32_FUNCTION_ALLOC_TILED_PITCH_HEIGHT => heap_alloc!(Nvos32AllocTiledPitchHeight),
        NVOS32_FUNCTION_ALLOC_SIZE_RANGE => heap_alloc!(Nvos32AllocSizeRange),
        _ => None,
    };
    let free_h_memory = if h.function == NVOS32_FUNCTION_FREE {
        Some(Nvos32Free::read(data)?.h_memory)
    } else {
        None
    };
    Some(VidHeapCall {
        h_client: h.h_root,
        h_parent: h.h_object_parent,
        function: h.function,
        alloc,
        free_h_memory,
    })
}

/// A decoded nested block.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Nested {
    /// Allocation parameters.
    Alloc(AllocParams),
    /// Control parameters.
    Control(ControlParams),
    /// The inner call of an XFER.
    Xfer(Decoded),
    /// The call has no nested block of interest.
    None,
}

impl Nested {
    /// The fd inside the nested block, if any (offset relative to that block).
    pub fn fd(&self) -> Option<FdField> {
        match self {
            Nested::Alloc(AllocParams::Event { fd, .. }) => *fd,
            Nested::Alloc(AllocParams::CapSession { fd, .. }) => Some(*fd),
            Nested::Control(ControlParams::WithFd { fd, .. }) => Some(*fd),
            Nested::Xfer(d) => d.fd(),
            _ => None,
        }
    }
}

impl Decoded {
    /// The fd in the outer block, if the call carries one.
    pub fn fd(&self) -> Option<FdField> {
        match self.body {
            Body::RegisterFd { fd }
            | Body::OsEvent { fd, .. }
            | Body::ExportDmabuf { fd, .. }
            | Body::MapMemory { fd, .. }
            | Body::AllocMemory { fd, .. }
            | Body::UvmFd { fd }
            | Body::UvmRegisterGpu { fd, .. }
            | Body::UvmRegisterVaSpace { fd, .. }
            | Body::UvmRegisterChannel { fd, .. }
            | Body::UvmMapExternal { fd, .. } => Some(fd),
            _ => None,
        }
    }

    /// The nested block the driver will read, if any.
    pub fn nested(&self) -> Option<NestedRef> {
        match self.body {
            Body::Alloc(a) => Some(a.params),
            Body::Control(c) => Some(c.params),
            Body::Xfer {
                inner_cmd,
                inner_size,
                ptr,
            } => Some(NestedRef {
                ptr_offset: offset_of!(NvIoctlXfer, ptr),
                ptr,
                size: inner_size as usize,
                size_exact: true,
                kind: NestedKind::XferInner { cmd: inner_cmd },
            }),
            _ => None,
        }
    }

    /// Decodes the nested block (`nested` = the bytes at [`Self::nested`]).
    pub fn decode_nested(&self, nested: &[u8]) -> Nested {
        match self.body {
            Body::Alloc(a) if a.serialized => Nested::Alloc(AllocParams::Serialized),
            Body::Alloc(a) => {
                Nested::Alloc(decode_alloc_params_for(self.branch, a.h_class, nested))
            }
            Body::Control(c) if c.serialized => Nested::Control(ControlParams::Serialized),
            Body::Control(c) => {
                Nested::Control(decode_control_params_for(self.branch, c.cmd, nested))
            }
            Body::Xfer {
                inner_cmd,
                inner_size,
                ..
            } => Nested::Xfer(decode_escape(
                self.branch,
                self.file,
                inner_cmd,
                inner_size,
                nested,
                true,
            )),
            _ => Nested::None,
        }
    }

    /// Offset of the status field the driver writes its result to (RM
    /// `status` or UVM `rmStatus`), where a proxy writes its own refusal
    /// (e.g. `NV_ERR_NO_MEMORY`) before returning 0.
    pub fn status_offset(&self) -> Option<usize> {
        let off = match self.call {
            Call::Nv(e) => match e {
                Escape::RmAlloc if self.size == Nvos64::SIZE => offset_of!(Nvos64, status),
                Escape::RmAlloc => offset_of!(Nvos21, status),
                Escape::RmFree => offset_of!(Nvos00, status),
                Escape::RmControl => offset_of!(Nvos54, status),
                Escape::RmAllocMemory => offset_of!(Nvos02, status),
                Escape::RmAllocObject => offset_of!(Nvos05, status),
                Escape::RmVidHeapControl => offset_of!(Nvos32, status),
                Escape::RmMapMemory => offset_of!(Nvos33, status),
                Escape::RmUnmapMemory => offset_of!(Nvos34, status),
                Escape::RmDupObject => offset_of!(Nvos55, status),
                Escape::RmShare => offset_of!(Nvos57, status),
                Escape::RmIdleChannels => offset_of!(Nvos30, status),
                Escape::RmAccessRegistry => offset_of!(Nvos38, status),
                Escape::RmAllocContextDma2 => offset_of!(Nvos39, status),
                Escape::RmGetEventData => offset_of!(Nvos41, status),
                Escape::RmMapMemoryDma => self.branch.nvos46_status(),
                Escape::RmUnmapMemoryDma => offset_of!(Nvos47, status),
                Escape::RmBindContextDma => offset_of!(Nvos49, status),
                Escape::RmUpdateDeviceMappingInfo => offset_of!(Nvos56, status),
                Escape::AllocOsEvent => offset_of!(escape::NvIoctlAllocOsEvent, status),
                Escape::FreeOsEvent => offset_of!(escape::NvIoctlFreeOsEvent, status),
                Escape::ExportToDmabufFd => self.branch.export_dmabuf_status(),
                _ => return None,
            },
            Call::Uvm(u) => match u.cmd {
                UVM_INITIALIZE => offset_of!(UvmInitializeParams, rm_status),
                UVM_MM_INITIALIZE => offset_of!(UvmMmInitializeParams, rm_status),
                UVM_REGISTER_GPU => offset_of!(UvmRegisterGpuParams, rm_status),
                UVM_UNREGISTER_GPU => offset_of!(UvmUnregisterGpuParams, rm_status),
                UVM_REGISTER_GPU_VASPACE => offset_of!(UvmRegisterGpuVaspaceParams, rm_status),
                UVM_UNREGISTER_GPU_VASPACE => offset_of!(UvmUnregisterGpuVaspaceParams, rm_status),
                UVM_REGISTER_CHANNEL => offset_of!(UvmRegisterChannelParams, rm_status),
                UVM_UNREGISTER_CHANNEL => offset_of!(UvmUnregisterChannelParams, rm_status),
                UVM_MAP_EXTERNAL_ALLOCATION => {
                    offset_of!(UvmMapExternalAllocationParams, rm_status)
                }
                UVM_CREATE_EXTERNAL_RANGE => offset_of!(UvmCreateExternalRangeParams, rm_status),
                UVM_FREE => offset_of!(UvmFreeParams, rm_status),
                UVM_UNMAP_EXTERNAL => offset_of!(UvmUnmapExternalParams, rm_status),
                UVM_MAP_EXTERNAL_SPARSE => offset_of!(UvmMapExternalSparseParams, rm_status),
                UVM_ALLOC_DEVICE_P2P => offset_of!(UvmAllocDeviceP2pParams, rm_status),
                UVM_TOOLS_INIT_EVENT_TRACKER | UVM_TOOLS_INIT_EVENT_TRACKER_V2 => {
                    offset_of!(UvmToolsInitEventTrackerParams, rm_status)
                }
                _ => return None,
            },
            Call::Unknown(_) => return None,
        };
        Some(off)
    }

    /// Writes `status` into the status field (see [`Self::status_offset`]);
    /// `false` if the call has none or `block` is too short.
    pub fn write_status(&self, block: &mut [u8], status: u32) -> bool {
        match self.status_offset() {
            Some(off) => wr_u32(block, off, status),
            None => false,
        }
    }

    /// The C name of the call (escape or UVM command), for logs.
    pub fn name(&self) -> &'static str {
        match self.call {
            Call::Nv(e) => e.name(),
            Call::Uvm(u) => u.name,
            Call::Unknown(_) => "<unknown>",
        }
    }
}
