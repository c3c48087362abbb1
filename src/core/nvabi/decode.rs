// SPDX-License-Identifier: GPL-2.0

//! The decoder: from `(file kind, command, argument bytes)` to a typed view
//! of the call, without allocation and without panicking on any input.
//!
//! Two levels:
//!
//! 1. [`decode`] looks at the ioctl argument block (what the driver copies
//!    from the ioctl's user pointer) and returns a [`Decoded`]. For calls
//!    whose interesting part lives behind a user pointer (RM_ALLOC's
//!    `pAllocParms`, RM_CONTROL's `params`, XFER's `ptr`) it reports where
//!    that pointer is and how many bytes the driver will copy from it
//!    ([`Decoded::nested`]).
//! 2. Given those nested bytes, [`Decoded::decode_nested`] (or
//!    [`decode_alloc_params`] / [`decode_control_params`]) returns the typed
//!    nested view: memory sizes, scheduling arguments, fds in controls.
//!
//! Fields the proxy may have to rewrite (fds) are reported with their
//! offset inside the block they live in ([`FdField`]).
//!
//! **How a proxy should treat [`Body::Rejected`]**: the driver would refuse
//! the call (wrong size, wrong file, no handler). The proxy should fail it
//! itself (`-EINVAL`) rather than forward it unaccounted: if this decoder
//! disagreed with the driver, forwarding would turn the disagreement into a
//! cap bypass, while failing only turns it into a visible error.
//!
//! The same applies to [`Body::Unknown`] (a command this ABI does not know)
//! and to [`AllocParams::Serialized`] / [`ControlParams::Serialized`]
//! (FINN-serialized blocks, whose layout is not the plain struct).

use super::class::{self, ClassKind, ParamSpec};
use super::ctrl::{self, *};
use super::escape::{self, Escape, NvIoctlXfer, Where};
use super::rm::*;
use super::uvm::{self, *};
use super::wire::{rd_i32, rd_u16, rd_u32, rd_u64, rd_u8, wr_i32, wr_u32, wr_u64, Wire};
use core::mem::offset_of;

/// Which device node a call was made on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FileKind {
    /// `/dev/nvidiactl` (195:255).
    Ctl,
    /// `/dev/nvidiaN` (195:N).
    Gpu,
    /// `/dev/nvidia-uvm`.
    Uvm,
    /// `/dev/nvidia-uvm-tools`.
    UvmTools,
}

/// What an fd inside a parameter block must refer to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FdRole {
    /// A real `/dev/nvidiactl` file of the caller (`nv_get_file_private(fd, TRUE)`).
    NvCtl,
    /// A real `/dev/nvidiaN` file (`nv_get_file_private(fd, FALSE)`).
    NvGpu,
    /// A ctl file (system memory) or a GPU file (FB/registers), depending on
    /// the memory being mapped.
    NvCtlOrGpu,
    /// Only a number used as a key (OS events); never dereferenced.
    EventKey,
    /// -1, or a dma-buf fd.
    DmaBuf,
    /// A real `/dev/nvidia-uvm` file (`f_op` checked, reference kept).
    Uvm,
    /// `rmCtrlFd` of UVM calls: carried but not validated by UVM in 580.
    UvmRmCtrl,
    /// A real `/dev/nvidia-caps/nvidia-capN` file (`capDescriptor`;
    /// `nv_cap_validate_and_dup_fd` checks `f_op` and the minor, and dups
    /// it into the caller). Never a proxy fd: the caps nodes are not proxied.
    NvCap,
}

/// An fd inside a parameter block.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FdField {
    /// Offset in the block that holds it (outer block, or nested block for
    /// [`Nested`] results).
    pub offset: usize,
    /// Width of the field in bytes (4, or 8 for `devDescriptor`/`data`).
    pub width: usize,
    /// Its value (sign-extended from 32 bits, or the raw 64-bit value).
    pub value: i64,
    /// What it must refer to.
    pub role: FdRole,
}

impl FdField {
    fn i32_at(b: &[u8], offset: usize, role: FdRole) -> Option<FdField> {
        rd_i32(b, offset).map(|v| FdField {
            offset,
            width: 4,
            value: i64::from(v),
            role,
        })
    }

    fn u32_at(b: &[u8], offset: usize, role: FdRole) -> Option<FdField> {
        rd_u32(b, offset).map(|v| FdField {
            offset,
            width: 4,
            value: i64::from(v),
            role,
        })
    }

    fn u64_at(b: &[u8], offset: usize, role: FdRole) -> Option<FdField> {
        rd_u64(b, offset).map(|v| FdField {
            offset,
            width: 8,
            value: v as i64,
            role,
        })
    }

    /// The value as an fd number, if it fits in an `i32`.
    pub fn fd(&self) -> Option<i32> {
        i32::try_from(self.value).ok()
    }

    /// Writes `fd` into `block` at this field (sign-extended for 8-byte
    /// fields); `false`, writing nothing, if the block is too short.
    pub fn write(&self, block: &mut [u8], fd: i32) -> bool {
        match self.width {
            8 => wr_u64(block, self.offset, i64::from(fd) as u64),
            _ => wr_i32(block, self.offset, fd),
        }
    }
}

/// What a nested block is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NestedKind {
    /// Allocation parameters of this class (RM_ALLOC).
    AllocParams {
        /// The class.
        class: u32,
    },
    /// Parameters of this control (RM_CONTROL).
    ControlParams {
        /// The control command.
        cmd: u32,
    },
    /// The inner block of an XFER call.
    XferInner {
        /// The inner escape number.
        cmd: u32,
    },
    /// The v1 FB_GET_INFO list (second level: inside a control's params).
    FbInfoList,
}

/// A block behind a user pointer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NestedRef {
    /// Offset of the pointer field in the enclosing block.
    pub ptr_offset: usize,
    /// The user pointer.
    pub ptr: u64,
    /// Bytes the driver copies from it (for allocs: the class's registered
    /// size, not `paramsSize`, when the class is known; otherwise `paramsSize`).
    pub size: usize,
    /// Whether `size` is exactly what the driver copies (false for allocs of
    /// classes whose parameter size is not declared here).
    pub size_exact: bool,
    /// What it is.
    pub kind: NestedKind,
}

/// Which allocation escape form was used.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AllocForm {
    /// NVOS21 (32 bytes).
    Nvos21,
    /// NVOS64 (48 bytes, with access rights).
    Nvos64,
}

/// `NV_ESC_RM_ALLOC`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AllocCall {
    /// Parameter form.
    pub form: AllocForm,
    /// Client.
    pub h_client: u32,
    /// Parent.
    pub h_parent: u32,
    /// Requested new handle (0: the RM picks; the result is written back).
    pub h_new: u32,
    /// Class as sent.
    pub h_class: u32,
    /// Class the driver allocates (client classes forced to 0x41).
    pub class: u32,
    /// `paramsSize` as sent (informational; the RM ignores it).
    pub params_size: u32,
    /// NVOS64 flags (0 for NVOS21).
    pub flags: u32,
    /// NVOS64 rights pointer (0 for NVOS21).
    pub p_rights_requested: u64,
    /// The class parameter block.
    pub params: NestedRef,
    /// NVOS64 `FINN_SERIALIZED`: the nested block is not a plain struct.
    pub serialized: bool,
}

/// `NV_ESC_RM_CONTROL`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ControlCall {
    /// Client.
    pub h_client: u32,
    /// Object.
    pub h_object: u32,
    /// Command.
    pub cmd: u32,
    /// Flags.
    pub flags: u32,
    /// The parameter block (`size` = `paramsSize`).
    pub params: NestedRef,
    /// `NVOS54_FLAGS_FINN_SERIALIZED`.
    pub serialized: bool,
}

/// A size-carrying allocation request of `NV_ESC_RM_VID_HEAP_CONTROL`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HeapAlloc {
    /// Class the RM will allocate internally (0x50a0, 0x42, 0x40 or 0x3e).
    pub class: u32,
    /// IN/OUT handle (IN only with `MEMORY_HANDLE_PROVIDED`).
    pub h_memory: u32,
    /// Offset of `h_memory` in the NVOS32 block (to read the result).
    pub h_memory_offset: usize,
    /// Requested size, bytes.
    pub size: u64,
    /// Offset of the IN/OUT size in the NVOS32 block.
    pub size_offset: usize,
    /// `NVOS32_ALLOC_FLAGS_*`.
    pub flags: u32,
    /// `NVOS32_ATTR_*`.
    pub attr: u32,
    /// `NVOS32_ATTR2_*`.
    pub attr2: u32,
}

/// `NV_ESC_RM_VID_HEAP_CONTROL`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct VidHeapCall {
    /// Client.
    pub h_client: u32,
    /// Device.
    pub h_parent: u32,
    /// `NVOS32_FUNCTION_*`.
    pub function: u32,
    /// Allocation functions: the request.
    pub alloc: Option<HeapAlloc>,
    /// FREE: the memory handle.
    pub free_h_memory: Option<u32>,
}

/// Why the driver would refuse a call outright.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reject {
    /// The argument size does not satisfy the escape's rule.
    BadSize,
    /// The escape is not accepted on this kind of file.
    WrongFile,
    /// The escape has no handler in this driver.
    NoHandler,
    /// XFER inner size over `NV_ABSOLUTE_MAX_IOCTL_SIZE`.
    XferTooLarge,
}

/// The typed content of a call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Body {
    /// A command this ABI does not know.
    Unknown,
    /// The driver would refuse the call.
    Rejected(Reject),
    /// The argument bytes given to the decoder are fewer than the driver
    /// reads (a caller error: pass all the bytes the size says).
    Short {
        /// Bytes needed.
        need: usize,
        /// Bytes given.
        got: usize,
    },
    /// Known, nothing fakegpu looks at.
    Opaque,
    /// `NV_ESC_IOCTL_XFER_CMD`: decode the inner block with [`decode_nv`].
    Xfer {
        /// Inner escape number (compared as a full value).
        inner_cmd: u32,
        /// Inner size.
        inner_size: u32,
        /// Inner block pointer.
        ptr: u64,
    },
    /// `NV_ESC_CARD_INFO`.
    CardInfo {
        /// Entries the driver fills (`size / 72`).
        entries: u32,
    },
    /// `NV_ESC_ATTACH_GPUS_TO_FD`.
    AttachGpus {
        /// Number of GPU ids.
        count: u32,
    },
    /// `NV_ESC_CHECK_VERSION_STR`.
    CheckVersion {
        /// 0 strict, `'1'` relaxed, `'2'` query.
        cmd: u32,
    },
    /// `NV_ESC_REGISTER_FD`.
    RegisterFd {
        /// The ctl fd.
        fd: FdField,
    },
    /// `NV_ESC_ALLOC_OS_EVENT` / `NV_ESC_FREE_OS_EVENT`.
    OsEvent {
        /// FREE rather than ALLOC.
        free: bool,
        /// Client.
        h_client: u32,
        /// Device.
        h_device: u32,
        /// The key fd.
        fd: FdField,
    },
    /// `NV_ESC_EXPORT_TO_DMABUF_FD`.
    ExportDmabuf {
        /// Client.
        h_client: u32,
        /// Objects in this call.
        num_objects: u32,
        /// Total dma-buf size.
        total_size: u64,
        /// -1 or a dma-buf fd.
        fd: FdField,
    },
    /// `NV_ESC_RM_ALLOC`.
    Alloc(AllocCall),
    /// `NV_ESC_RM_FREE`.
    Free {
        /// Client.
        h_client: u32,
        /// Parent.
        h_parent: u32,
        /// Object (== client: the whole client).
        h_object: u32,
    },
    /// `NV_ESC_RM_CONTROL`.
    Control(ControlCall),
    /// `NV_ESC_RM_MAP_MEMORY`.
    MapMemory {
        /// Client.
        h_client: u32,
        /// Device or subdevice.
        h_device: u32,
        /// Memory.
        h_memory: u32,
        /// Offset.
        offset: u64,
        /// Length.
        length: u64,
        /// Flags.
        flags: u32,
        /// File receiving the mmap context.
        fd: FdField,
    },
    /// `NV_ESC_RM_UNMAP_MEMORY`.
    UnmapMemory {
        /// Client.
        h_client: u32,
        /// Device.
        h_device: u32,
        /// Memory.
        h_memory: u32,
    },
    /// `NV_ESC_RM_ALLOC_MEMORY` (NVOS02).
    AllocMemory {
        /// Client.
        h_client: u32,
        /// Parent.
        h_parent: u32,
        /// New handle.
        h_new: u32,
        /// Class.
        h_class: u32,
        /// `NVOS02_FLAGS_*`.
        flags: u32,
        /// Size - 1.
        limit: u64,
        /// File receiving the mmap context (sysmem with mapping).
        fd: FdField,
    },
    /// `NV_ESC_RM_VID_HEAP_CONTROL`.
    VidHeap(VidHeapCall),
    /// `NV_ESC_RM_DUP_OBJECT`.
    Dup {
        /// Destination client.
        h_client: u32,
        /// Destination parent.
        h_parent: u32,
        /// IN/OUT new handle.
        h_object: u32,
        /// Source client.
        h_client_src: u32,
        /// Source object.
        h_object_src: u32,
        /// Flags.
        flags: u32,
    },
    /// `NV_ESC_RM_SHARE`.
    Share {
        /// Client.
        h_client: u32,
        /// Object.
        h_object: u32,
    },
    /// `NV_ESC_RM_MAP_MEMORY_DMA`.
    MapMemoryDma {
        /// Client.
        h_client: u32,
        /// Device.
        h_device: u32,
        /// VA space / DMA object.
        h_dma: u32,
        /// Memory.
        h_memory: u32,
        /// Offset.
        offset: u64,
        /// Length.
        length: u64,
    },
    /// `NV_ESC_RM_UNMAP_MEMORY_DMA`.
    UnmapMemoryDma {
        /// Client.
        h_client: u32,
        /// Device.
        h_device: u32,
        /// DMA object.
        h_dma: u32,
        /// Memory.
        h_memory: u32,
        /// GPU VA.
        dma_offset: u64,
    },
    /// UVM calls whose only interesting field is an fd (MM_INITIALIZE, tools trackers).
    UvmFd {
        /// The fd.
        fd: FdField,
    },
    /// `UVM_REGISTER_GPU`.
    UvmRegisterGpu {
        /// GPU UUID.
        uuid: [u8; 16],
        /// RM client.
        h_client: u32,
        /// rmCtrlFd.
        fd: FdField,
    },
    /// `UVM_REGISTER_GPU_VASPACE`.
    UvmRegisterVaSpace {
        /// GPU UUID.
        uuid: [u8; 16],
        /// RM client.
        h_client: u32,
        /// RM VA space.
        h_va_space: u32,
        /// rmCtrlFd.
        fd: FdField,
    },
    /// `UVM_REGISTER_CHANNEL`.
    UvmRegisterChannel {
        /// GPU UUID.
        uuid: [u8; 16],
        /// RM client.
        h_client: u32,
        /// RM channel.
        h_channel: u32,
        /// Base.
        base: u64,
        /// Length.
        length: u64,
        /// rmCtrlFd.
        fd: FdField,
    },
    /// `UVM_UNREGISTER_CHANNEL`.
    UvmUnregisterChannel {
        /// GPU UUID.
        uuid: [u8; 16],
        /// RM client.
        h_client: u32,
        /// RM channel.
        h_channel: u32,
    },
    /// `UVM_MAP_EXTERNAL_ALLOCATION` / `UVM_ALLOC_DEVICE_P2P`.
    UvmMapExternal {
        /// Base VA.
        base: u64,
        /// Length.
        length: u64,
        /// Offset into the RM memory.
        offset: u64,
        /// RM client.
        h_client: u32,
        /// RM memory.
        h_memory: u32,
        /// rmCtrlFd.
        fd: FdField,
    },
    /// `UVM_CREATE_EXTERNAL_RANGE`, `UVM_FREE`, and other base/length calls.
    UvmRange {
        /// Base VA.
        base: u64,
        /// Length.
        length: u64,
    },
}

/// Which call it is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Call {
    /// A nvidia.ko escape.
    Nv(Escape),
    /// A UVM command.
    Uvm(UvmIoctl),
    /// Not known (the raw command for nvidia.ko files is the escape number).
    Unknown(u32),
}

/// A decoded call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Decoded {
    /// File kind it was decoded for.
    pub file: FileKind,
    /// The call.
    pub call: Call,
    /// Bytes the driver copies in and out at the ioctl pointer.
    pub size: usize,
    /// Typed content.
    pub body: Body,
}

/// Decodes one ioctl. `params` are the bytes at the ioctl's argument
/// pointer: for nvidia.ko files `ioc_size(cmd)` bytes, for UVM
/// [`uvm_param_size`]`(cmd)` bytes.
pub fn decode(file: FileKind, cmd: u32, params: &[u8]) -> Decoded {
    match file {
        FileKind::Ctl | FileKind::Gpu => decode_escape(
            file,
            escape::ioc_nr(cmd),
            escape::ioc_size(cmd),
            params,
            false,
        ),
        FileKind::Uvm | FileKind::UvmTools => decode_uvm(file, cmd, params),
    }
}

/// Decodes the inner call of an `NV_ESC_IOCTL_XFER_CMD` (`inner_cmd` is
/// compared as a full 32-bit value, as the driver does).
pub fn decode_nv(file: FileKind, inner_cmd: u32, inner_size: u32, params: &[u8]) -> Decoded {
    decode_escape(file, inner_cmd, inner_size, params, true)
}

fn decode_escape(file: FileKind, nr: u32, size: u32, params: &[u8], inner: bool) -> Decoded {
    let mut d = Decoded {
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
    d.body = body_of_escape(file, esc, size, params, inner);
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

fn body_of_escape(file: FileKind, esc: Escape, size: u32, p: &[u8], inner: bool) -> Body {
    if esc.allowed() == Where::Nowhere || (inner && esc == Escape::IoctlXfer) {
        return Body::Rejected(Reject::NoHandler);
    }
    if !esc.size_rule().accepts(size) {
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
    typed_body(esc, size, p).unwrap_or(Body::Short { need, got: p.len() })
}

fn typed_body(esc: Escape, size: u32, p: &[u8]) -> Option<Body> {
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
        Escape::RmAlloc => Body::Alloc(alloc_call(size, p)?),
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
        Escape::RmMapMemoryDma => {
            let m = Nvos46::read(p)?;
            Body::MapMemoryDma {
                h_client: m.h_client,
                h_device: m.h_device,
                h_dma: m.h_dma,
                h_memory: m.h_memory,
                offset: m.offset,
                length: m.length,
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

fn alloc_call(size: u32, p: &[u8]) -> Option<AllocCall> {
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
    let (nsize, exact) = match class::class_info(class).and_then(|c| c.params.copy_size(ptr == 0)) {
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

fn uuid_at(p: &[u8], off: usize) -> Option<[u8; 16]> {
    <[u8; 16]>::read(p.get(off..)?)
}

fn decode_uvm(file: FileKind, cmd: u32, p: &[u8]) -> Decoded {
    let mut d = Decoded {
        file,
        call: Call::Unknown(cmd),
        size: 0,
        body: Body::Unknown,
    };
    let u = match uvm::uvm_ioctl(cmd) {
        Some(u) => u,
        None => return d,
    };
    d.call = Call::Uvm(u);
    d.size = u.size;
    if u.tools != (file == FileKind::UvmTools) {
        d.body = Body::Rejected(Reject::WrongFile);
        return d;
    }
    if p.len() < u.size {
        d.body = Body::Short {
            need: u.size,
            got: p.len(),
        };
        return d;
    }
    d.body = uvm_body(cmd, p).unwrap_or(Body::Short {
        need: u.size,
        got: p.len(),
    });
    d
}

fn uvm_body(cmd: u32, p: &[u8]) -> Option<Body> {
    Some(match cmd {
        UVM_MM_INITIALIZE => Body::UvmFd {
            fd: FdField::i32_at(p, offset_of!(UvmMmInitializeParams, uvm_fd), FdRole::Uvm)?,
        },
        UVM_TOOLS_INIT_EVENT_TRACKER | UVM_TOOLS_INIT_EVENT_TRACKER_V2 => Body::UvmFd {
            fd: FdField::u32_at(
                p,
                offset_of!(UvmToolsInitEventTrackerParams, uvm_fd),
                FdRole::Uvm,
            )?,
        },
        UVM_REGISTER_GPU => {
            type P = UvmRegisterGpuParams;
            Body::UvmRegisterGpu {
                uuid: uuid_at(p, offset_of!(P, gpu_uuid))?,
                h_client: rd_u32(p, offset_of!(P, h_client))?,
                fd: FdField::i32_at(p, offset_of!(P, rm_ctrl_fd), FdRole::UvmRmCtrl)?,
            }
        }
        UVM_REGISTER_GPU_VASPACE => {
            type P = UvmRegisterGpuVaspaceParams;
            Body::UvmRegisterVaSpace {
                uuid: uuid_at(p, offset_of!(P, gpu_uuid))?,
                h_client: rd_u32(p, offset_of!(P, h_client))?,
                h_va_space: rd_u32(p, offset_of!(P, h_va_space))?,
                fd: FdField::i32_at(p, offset_of!(P, rm_ctrl_fd), FdRole::UvmRmCtrl)?,
            }
        }
        UVM_REGISTER_CHANNEL => {
            type P = UvmRegisterChannelParams;
            Body::UvmRegisterChannel {
                uuid: uuid_at(p, offset_of!(P, gpu_uuid))?,
                h_client: rd_u32(p, offset_of!(P, h_client))?,
                h_channel: rd_u32(p, offset_of!(P, h_channel))?,
                base: rd_u64(p, offset_of!(P, base))?,
                length: rd_u64(p, offset_of!(P, length))?,
                fd: FdField::i32_at(p, offset_of!(P, rm_ctrl_fd), FdRole::UvmRmCtrl)?,
            }
        }
        UVM_UNREGISTER_CHANNEL => {
            type P = UvmUnregisterChannelParams;
            Body::UvmUnregisterChannel {
                uuid: uuid_at(p, offset_of!(P, gpu_uuid))?,
                h_client: rd_u32(p, offset_of!(P, h_client))?,
                h_channel: rd_u32(p, offset_of!(P, h_channel))?,
            }
        }
        UVM_MAP_EXTERNAL_ALLOCATION => {
            type P = UvmMapExternalAllocationParams;
            Body::UvmMapExternal {
                base: rd_u64(p, offset_of!(P, base))?,
                length: rd_u64(p, offset_of!(P, length))?,
                offset: rd_u64(p, offset_of!(P, offset))?,
                h_client: rd_u32(p, offset_of!(P, h_client))?,
                h_memory: rd_u32(p, offset_of!(P, h_memory))?,
                fd: FdField::i32_at(p, offset_of!(P, rm_ctrl_fd), FdRole::UvmRmCtrl)?,
            }
        }
        UVM_ALLOC_DEVICE_P2P => {
            type P = UvmAllocDeviceP2pParams;
            Body::UvmMapExternal {
                base: rd_u64(p, offset_of!(P, base))?,
                length: rd_u64(p, offset_of!(P, length))?,
                offset: rd_u64(p, offset_of!(P, offset))?,
                h_client: rd_u32(p, offset_of!(P, h_client))?,
                h_memory: rd_u32(p, offset_of!(P, h_memory))?,
                fd: FdField::i32_at(p, offset_of!(P, rm_ctrl_fd), FdRole::UvmRmCtrl)?,
            }
        }
        UVM_CREATE_EXTERNAL_RANGE | UVM_FREE | UVM_UNMAP_EXTERNAL | UVM_MAP_EXTERNAL_SPARSE => {
            Body::UvmRange {
                base: rd_u64(p, 0)?,
                length: rd_u64(p, 8)?,
            }
        }
        _ => Body::Opaque,
    })
}

/// Typed view of a class's allocation parameters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AllocParams {
    /// A memory class with `NV_MEMORY_ALLOCATION_PARAMS`.
    Memory(MemoryAlloc),
    /// `NV01_MEMORY_VIRTUAL`.
    VirtualMemory {
        /// Offset.
        offset: u64,
        /// Limit.
        limit: u64,
        /// VA space.
        h_va_space: u32,
    },
    /// `NV_MEMORY_FABRIC` (maps existing vidmem; consumes no new FB).
    Fabric {
        /// Size.
        alloc_size: u64,
        /// Page size.
        page_size: u64,
        /// Video memory mapped.
        h_vid_mem: u32,
    },
    /// A client class; the RM reads one handle.
    Client {
        /// Requested client handle (`None` with a null pointer).
        h_client: Option<u32>,
    },
    /// `NV01_DEVICE_0` (`None` fields with a null pointer).
    Device(Option<class::Nv0080AllocParameters>),
    /// `NV20_SUBDEVICE_0`.
    Subdevice {
        /// Subdevice instance (`None` with a null pointer).
        sub_device_id: Option<u32>,
    },
    /// `FERMI_VASPACE_A`.
    VaSpace(class::NvVaspaceAllocationParameters),
    /// `KEPLER_CHANNEL_GROUP_A`.
    ChannelGroup(class::NvChannelGroupAllocationParameters),
    /// `FERMI_CONTEXT_SHARE_A`.
    ContextShare(class::NvCtxshareAllocationParameters),
    /// A GPFIFO channel (the main fields of `NV_CHANNEL_ALLOC_PARAMS`).
    Channel {
        /// Error notifier.
        h_object_error: u32,
        /// Push buffer.
        h_object_buffer: u32,
        /// GPFIFO offset.
        gp_fifo_offset: u64,
        /// GPFIFO entries.
        gp_fifo_entries: u32,
        /// Flags.
        flags: u32,
        /// Subcontext.
        h_context_share: u32,
        /// VA space.
        h_va_space: u32,
        /// Engine type.
        engine_type: u32,
    },
    /// An event (`NV0005_ALLOC_PARAMETERS`).
    Event {
        /// Client of the source.
        h_parent_client: u32,
        /// Source.
        h_src_resource: u32,
        /// Event class.
        h_class: u32,
        /// Notifier.
        notify_index: u32,
        /// For `NV01_EVENT_OS_EVENT`: the key fd in `data` (offset 16, 8 bytes).
        fd: Option<FdField>,
    },
    /// Usermode (doorbell) with `NV_HOPPER_USERMODE_A_PARAMS`.
    Usermode(Option<class::NvHopperUsermodeAParams>),
    /// A compute object with optional `NV_GR_ALLOCATION_PARAMETERS`.
    Compute(Option<class::NvGrAllocationParameters>),
    /// A copy-engine object with optional `NVB0B5_ALLOCATION_PARAMETERS`.
    Copy(Option<class::NvB0b5AllocationParameters>),
    /// A MIG session or partition reference: carries a capability fd.
    CapSession {
        /// `capDescriptor` (offset 0, 8 bytes, role [`FdRole::NvCap`]).
        fd: FdField,
        /// `swizzId` for `AMPERE_SMC_PARTITION_REF`.
        swizz_id: Option<u32>,
    },
    /// `RM_USER_SHARED_DATA`. Its mapping (`RM_MAP_MEMORY` of this object,
    /// then `mmap`) exposes the PMA's total and free memory, which no ioctl
    /// rewrite can reach.
    SharedData {
        /// `polledDataMask`.
        polled_data_mask: u64,
    },
    /// A known class whose declared parameters hold nothing fakegpu acts on.
    Other {
        /// The class.
        class: u32,
    },
    /// The class takes no parameters, or optional ones were not given.
    NoParams,
    /// The class is not known, or its parameters are not declared here.
    Unknown {
        /// The class.
        class: u32,
    },
    /// NVOS64 FINN-serialized parameters: not a plain struct.
    Serialized,
    /// Fewer bytes than the class's parameter block.
    Short {
        /// Needed.
        need: usize,
        /// Given.
        got: usize,
    },
}

/// A memory allocation request (`NV_MEMORY_ALLOCATION_PARAMS`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MemoryAlloc {
    /// Class (0x40, 0x3e, 0x42, 0x50a0, 0x90ce).
    pub class: u32,
    /// Size requested (IN) or allocated (OUT, after the call), bytes.
    pub size: u64,
    /// Offset of `size` in the nested block, to read back the real size.
    pub size_offset: usize,
    /// `NVOS32_TYPE_*`.
    pub type_: u32,
    /// `NVOS32_ALLOC_FLAGS_*`.
    pub flags: u32,
    /// `NVOS32_ATTR_*`.
    pub attr: u32,
    /// `NVOS32_ATTR2_*`.
    pub attr2: u32,
    /// Alignment.
    pub alignment: u64,
    /// VA space.
    pub h_va_space: u32,
    /// NUMA node.
    pub numa_node: i32,
    /// Whether the request takes physical video memory (class 0x40 without
    /// the VIRTUAL flag; the RM itself fails 0x40 with a non-VIDMEM
    /// location or with VIRTUAL).
    pub consumes_vidmem: bool,
}

/// Decodes a class's allocation parameters (`nested` = the bytes at
/// `pAllocParms`, [`NestedRef::size`] of them; empty for a null pointer).
pub fn decode_alloc_params(h_class: u32, nested: &[u8]) -> AllocParams {
    let class = class::effective_class(h_class);
    let info = match class::class_info(class) {
        Some(i) => i,
        None => return AllocParams::Unknown { class },
    };
    let need = match info.params {
        ParamSpec::None => return AllocParams::NoParams,
        ParamSpec::Undeclared => return AllocParams::Unknown { class },
        ParamSpec::Optional(_) if nested.is_empty() => 0,
        ParamSpec::Required(n) | ParamSpec::Optional(n) => n,
    };
    if nested.len() < need {
        return AllocParams::Short {
            need,
            got: nested.len(),
        };
    }
    alloc_params_typed(class, info.kind, nested).unwrap_or(AllocParams::Short {
        need,
        got: nested.len(),
    })
}

fn alloc_params_typed(class: u32, kind: ClassKind, n: &[u8]) -> Option<AllocParams> {
    use class::*;
    let present = !n.is_empty();
    Some(match kind {
        ClassKind::Memory => {
            let m = NvMemoryAllocationParams::read(n)?;
            AllocParams::Memory(MemoryAlloc {
                class,
                size: m.size,
                size_offset: offset_of!(NvMemoryAllocationParams, size),
                type_: m.type_,
                flags: m.flags,
                attr: m.attr,
                attr2: m.attr2,
                alignment: m.alignment,
                h_va_space: m.h_va_space,
                numa_node: m.numa_node,
                consumes_vidmem: class == NV01_MEMORY_LOCAL_USER
                    && m.flags & NVOS32_ALLOC_FLAGS_VIRTUAL == 0,
            })
        }
        ClassKind::OtherMemory if class == NV01_MEMORY_VIRTUAL => {
            let v = NvMemoryVirtualAllocationParams::read(n)?;
            AllocParams::VirtualMemory {
                offset: v.offset,
                limit: v.limit,
                h_va_space: v.h_va_space,
            }
        }
        ClassKind::OtherMemory if class == NV_MEMORY_FABRIC => {
            let f = Nv00f8AllocationParameters::read(n)?;
            AllocParams::Fabric {
                alloc_size: f.alloc_size,
                page_size: f.page_size,
                h_vid_mem: f.map.h_vid_mem,
            }
        }
        ClassKind::Client => AllocParams::Client {
            h_client: if present { Some(rd_u32(n, 0)?) } else { None },
        },
        ClassKind::Device => AllocParams::Device(if present {
            Some(Nv0080AllocParameters::read(n)?)
        } else {
            None
        }),
        ClassKind::Subdevice => AllocParams::Subdevice {
            sub_device_id: if present { Some(rd_u32(n, 0)?) } else { None },
        },
        ClassKind::VaSpace => AllocParams::VaSpace(NvVaspaceAllocationParameters::read(n)?),
        ClassKind::ChannelGroup => {
            AllocParams::ChannelGroup(NvChannelGroupAllocationParameters::read(n)?)
        }
        ClassKind::ContextShare => {
            AllocParams::ContextShare(NvCtxshareAllocationParameters::read(n)?)
        }
        ClassKind::Channel => {
            type C = NvChannelAllocParams;
            AllocParams::Channel {
                h_object_error: rd_u32(n, offset_of!(C, h_object_error))?,
                h_object_buffer: rd_u32(n, offset_of!(C, h_object_buffer))?,
                gp_fifo_offset: rd_u64(n, offset_of!(C, gp_fifo_offset))?,
                gp_fifo_entries: rd_u32(n, offset_of!(C, gp_fifo_entries))?,
                flags: rd_u32(n, offset_of!(C, flags))?,
                h_context_share: rd_u32(n, offset_of!(C, h_context_share))?,
                h_va_space: rd_u32(n, offset_of!(C, h_va_space))?,
                engine_type: rd_u32(n, offset_of!(C, engine_type))?,
            }
        }
        ClassKind::Event => {
            let e = Nv0005AllocParameters::read(n)?;
            AllocParams::Event {
                h_parent_client: e.h_parent_client,
                h_src_resource: e.h_src_resource,
                h_class: e.h_class,
                notify_index: e.notify_index,
                fd: if class == NV01_EVENT_OS_EVENT {
                    FdField::u64_at(n, offset_of!(Nv0005AllocParameters, data), FdRole::EventKey)
                } else {
                    None
                },
            }
        }
        ClassKind::Usermode => AllocParams::Usermode(if present {
            Some(NvHopperUsermodeAParams::read(n)?)
        } else {
            None
        }),
        ClassKind::Compute => AllocParams::Compute(if present {
            Some(NvGrAllocationParameters::read(n)?)
        } else {
            None
        }),
        ClassKind::Copy => AllocParams::Copy(if present {
            Some(NvB0b5AllocationParameters::read(n)?)
        } else {
            None
        }),
        ClassKind::CapSession => AllocParams::CapSession {
            // capDescriptor is the first field of NVC637/C639/C640.
            fd: FdField::u64_at(n, 0, FdRole::NvCap)?,
            swizz_id: if class == AMPERE_SMC_PARTITION_REF {
                Some(rd_u32(n, offset_of!(NvC637AllocationParameters, swizz_id))?)
            } else {
                None
            },
        },
        ClassKind::SharedData => AllocParams::SharedData {
            polled_data_mask: Nv00deAllocParameters::read(n)?.polled_data_mask,
        },
        ClassKind::Other => AllocParams::Other { class },
        _ => AllocParams::Unknown { class },
    })
}

/// Typed view of a control's parameters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ControlParams {
    /// `FB_GET_INFO_V2`: the list is inline.
    FbInfoV2 {
        /// `fbInfoListSize` as sent (the rewriter clamps it to 128).
        count: u32,
    },
    /// `FB_GET_INFO` (v1): the list is behind a second pointer.
    FbInfoV1 {
        /// Entries.
        count: u32,
        /// Where the list is (`size` = count × 8, capped at 128 entries).
        list: NestedRef,
    },
    /// GPFIFO_SCHEDULE (TSG or channel).
    Schedule(NvA06fCtrlGpfifoScheduleParams),
    /// SET/GET_TIMESLICE.
    Timeslice {
        /// Microseconds.
        us: u64,
    },
    /// PREEMPT.
    Preempt(NvA06cCtrlPreemptParams),
    /// SET/GET_INTERLEAVE_LEVEL (TSG or channel).
    InterleaveLevel {
        /// Level.
        level: u32,
    },
    /// MAKE_REALTIME.
    Realtime {
        /// On/off.
        on: bool,
    },
    /// FIFO_DISABLE_CHANNELS (the lists are not copied here).
    DisableChannels {
        /// Disable (vs enable).
        disable: bool,
        /// Entries used.
        num_channels: u32,
        /// Only scheduling.
        only_disable_scheduling: bool,
        /// Kernel-only event pointer (non-zero is refused for users).
        p_runlist_preempt_event: u64,
    },
    /// SET_COMPUTE_POLICY_CONFIG.
    ComputePolicy {
        /// Type (0 timeslice).
        type_: u32,
        /// Value.
        data: u32,
    },
    /// A control that carries an fd.
    WithFd {
        /// The fd (offset inside the control's parameters).
        fd: FdField,
        /// For `NV00E0_CTRL_CMD_EXPORT_MEM`: `hParent` (the driver skips the
        /// fd check when it equals the client).
        h_parent: Option<u32>,
    },
    /// GPFIFO_GET_WORK_SUBMIT_TOKEN.
    WorkSubmitToken {
        /// OUT token.
        token: u32,
    },
    /// A known control whose parameters are not decoded.
    Other,
    /// Not a control this ABI knows.
    Unknown,
    /// FINN-serialized parameters.
    Serialized,
    /// `paramsSize` differs from the control's size (the RM fails the call
    /// with `NV_ERR_INVALID_PARAM_STRUCT`), or fewer bytes were given.
    BadSize {
        /// Expected.
        need: usize,
        /// Given.
        got: usize,
    },
}

/// Size of a decoded control's parameter block.
fn decoded_control_size(cmd: u32) -> Option<usize> {
    Some(match cmd {
        NV2080_CTRL_CMD_FB_GET_INFO_V2 => Nv2080CtrlFbGetInfoV2Params::SIZE,
        NV2080_CTRL_CMD_FB_GET_INFO => Nv2080CtrlFbGetInfoParams::SIZE,
        NVA06C_CTRL_CMD_GPFIFO_SCHEDULE | NVA06F_CTRL_CMD_GPFIFO_SCHEDULE => {
            NvA06fCtrlGpfifoScheduleParams::SIZE
        }
        NVA06C_CTRL_CMD_SET_TIMESLICE | NVA06C_CTRL_CMD_GET_TIMESLICE => {
            NvA06cCtrlTimesliceParams::SIZE
        }
        NVA06C_CTRL_CMD_PREEMPT => NvA06cCtrlPreemptParams::SIZE,
        NVA06C_CTRL_CMD_SET_INTERLEAVE_LEVEL | NVA06C_CTRL_CMD_GET_INTERLEAVE_LEVEL => {
            NvA06cCtrlInterleaveLevelParams::SIZE
        }
        NVA06F_CTRL_CMD_SET_INTERLEAVE_LEVEL => NvA06fCtrlInterleaveLevelParams::SIZE,
        NVA06C_CTRL_CMD_MAKE_REALTIME => NvA06cCtrlMakeRealtimeParams::SIZE,
        NV2080_CTRL_CMD_FIFO_DISABLE_CHANNELS => Nv2080CtrlFifoDisableChannelsParams::SIZE,
        NV2080_CTRL_CMD_GPU_SET_COMPUTE_POLICY_CONFIG => {
            Nv2080CtrlGpuSetComputePolicyConfigParams::SIZE
        }
        NV00FD_CTRL_CMD_ATTACH_GPU => Nv00fdCtrlAttachGpuParams::SIZE,
        NV00E0_CTRL_CMD_EXPORT_MEM => Nv00e0CtrlExportMemParams::SIZE,
        NV0000_CTRL_CMD_OS_UNIX_EXPORT_OBJECT_TO_FD => Nv0000CtrlOsUnixExportObjectToFdParams::SIZE,
        NV0000_CTRL_CMD_OS_UNIX_IMPORT_OBJECT_FROM_FD => {
            Nv0000CtrlOsUnixImportObjectFromFdParams::SIZE
        }
        NV0000_CTRL_CMD_OS_UNIX_GET_EXPORT_OBJECT_INFO => {
            Nv0000CtrlOsUnixGetExportObjectInfoParams::SIZE
        }
        NV0000_CTRL_CMD_OS_UNIX_CREATE_EXPORT_OBJECT_FD => {
            Nv0000CtrlOsUnixCreateExportObjectFdParams::SIZE
        }
        NV0000_CTRL_CMD_OS_UNIX_EXPORT_OBJECTS_TO_FD => {
            Nv0000CtrlOsUnixExportObjectsToFdParams::SIZE
        }
        NV0000_CTRL_CMD_OS_UNIX_IMPORT_OBJECTS_FROM_FD => {
            Nv0000CtrlOsUnixImportObjectsFromFdParams::SIZE
        }
        NVC36F_CTRL_CMD_GPFIFO_GET_WORK_SUBMIT_TOKEN => {
            NvC36fCtrlGpfifoGetWorkSubmitTokenParams::SIZE
        }
        _ => return None,
    })
}

/// Decodes a control's parameters (`nested` = the `paramsSize` bytes at `params`).
pub fn decode_control_params(cmd: u32, nested: &[u8]) -> ControlParams {
    let need = match decoded_control_size(cmd) {
        Some(n) => n,
        None => {
            // Known but not decoded field by field: check the size where
            // the headers give one (the RM itself fails a mismatch).
            return match ctrl::control_param_size(cmd) {
                Some(n) if n != nested.len() => ControlParams::BadSize {
                    need: n,
                    got: nested.len(),
                },
                Some(_) => ControlParams::Other,
                None if ctrl::control_known(cmd) => ControlParams::Other,
                None => ControlParams::Unknown,
            };
        }
    };
    if nested.len() != need {
        return ControlParams::BadSize {
            need,
            got: nested.len(),
        };
    }
    control_typed(cmd, nested).unwrap_or(ControlParams::BadSize {
        need,
        got: nested.len(),
    })
}

fn control_typed(cmd: u32, n: &[u8]) -> Option<ControlParams> {
    Some(match cmd {
        NV2080_CTRL_CMD_FB_GET_INFO_V2 => ControlParams::FbInfoV2 {
            count: rd_u32(n, 0)?,
        },
        NV2080_CTRL_CMD_FB_GET_INFO => {
            let p = Nv2080CtrlFbGetInfoParams::read(n)?;
            let entries = p.fb_info_list_size.min(NV2080_CTRL_FB_INFO_MAX_LIST_SIZE) as usize;
            ControlParams::FbInfoV1 {
                count: p.fb_info_list_size,
                list: NestedRef {
                    ptr_offset: offset_of!(Nv2080CtrlFbGetInfoParams, fb_info_list),
                    ptr: p.fb_info_list,
                    size: entries * Nv2080CtrlFbInfo::SIZE,
                    size_exact: p.fb_info_list_size <= NV2080_CTRL_FB_INFO_MAX_LIST_SIZE,
                    kind: NestedKind::FbInfoList,
                },
            }
        }
        NVA06C_CTRL_CMD_GPFIFO_SCHEDULE | NVA06F_CTRL_CMD_GPFIFO_SCHEDULE => {
            ControlParams::Schedule(NvA06fCtrlGpfifoScheduleParams::read(n)?)
        }
        NVA06C_CTRL_CMD_SET_TIMESLICE | NVA06C_CTRL_CMD_GET_TIMESLICE => {
            ControlParams::Timeslice { us: rd_u64(n, 0)? }
        }
        NVA06C_CTRL_CMD_PREEMPT => ControlParams::Preempt(NvA06cCtrlPreemptParams::read(n)?),
        NVA06C_CTRL_CMD_SET_INTERLEAVE_LEVEL
        | NVA06C_CTRL_CMD_GET_INTERLEAVE_LEVEL
        | NVA06F_CTRL_CMD_SET_INTERLEAVE_LEVEL => ControlParams::InterleaveLevel {
            level: rd_u32(n, 0)?,
        },
        NVA06C_CTRL_CMD_MAKE_REALTIME => ControlParams::Realtime {
            on: rd_u8(n, 0)? != 0,
        },
        NV2080_CTRL_CMD_FIFO_DISABLE_CHANNELS => {
            type D = Nv2080CtrlFifoDisableChannelsParams;
            ControlParams::DisableChannels {
                disable: rd_u8(n, offset_of!(D, disable))? != 0,
                num_channels: rd_u32(n, offset_of!(D, num_channels))?,
                only_disable_scheduling: rd_u8(n, offset_of!(D, only_disable_scheduling))? != 0,
                p_runlist_preempt_event: rd_u64(n, offset_of!(D, p_runlist_preempt_event))?,
            }
        }
        NV2080_CTRL_CMD_GPU_SET_COMPUTE_POLICY_CONFIG => {
            let c = Nv2080CtrlGpuSetComputePolicyConfigParams::read(n)?;
            ControlParams::ComputePolicy {
                type_: c.type_,
                data: c.data,
            }
        }
        NV00FD_CTRL_CMD_ATTACH_GPU => ControlParams::WithFd {
            fd: FdField::u64_at(
                n,
                offset_of!(Nv00fdCtrlAttachGpuParams, dev_descriptor),
                FdRole::NvGpu,
            )?,
            h_parent: None,
        },
        NV00E0_CTRL_CMD_EXPORT_MEM => ControlParams::WithFd {
            fd: FdField::u64_at(
                n,
                offset_of!(Nv00e0CtrlExportMemParams, dev_descriptor),
                FdRole::NvGpu,
            )?,
            h_parent: Some(rd_u32(n, offset_of!(Nv00e0CtrlExportMemParams, h_parent))?),
        },
        NV0000_CTRL_CMD_OS_UNIX_EXPORT_OBJECT_TO_FD => ControlParams::WithFd {
            fd: FdField::i32_at(
                n,
                offset_of!(Nv0000CtrlOsUnixExportObjectToFdParams, fd),
                FdRole::NvCtl,
            )?,
            h_parent: None,
        },
        NV0000_CTRL_CMD_OS_UNIX_IMPORT_OBJECT_FROM_FD => ControlParams::WithFd {
            fd: FdField::i32_at(
                n,
                offset_of!(Nv0000CtrlOsUnixImportObjectFromFdParams, fd),
                FdRole::NvCtl,
            )?,
            h_parent: None,
        },
        NV0000_CTRL_CMD_OS_UNIX_GET_EXPORT_OBJECT_INFO => ControlParams::WithFd {
            fd: FdField::i32_at(
                n,
                offset_of!(Nv0000CtrlOsUnixGetExportObjectInfoParams, fd),
                FdRole::NvCtl,
            )?,
            h_parent: None,
        },
        NV0000_CTRL_CMD_OS_UNIX_CREATE_EXPORT_OBJECT_FD => ControlParams::WithFd {
            fd: FdField::i32_at(
                n,
                offset_of!(Nv0000CtrlOsUnixCreateExportObjectFdParams, fd),
                FdRole::NvCtl,
            )?,
            h_parent: None,
        },
        NV0000_CTRL_CMD_OS_UNIX_EXPORT_OBJECTS_TO_FD => ControlParams::WithFd {
            fd: FdField::i32_at(
                n,
                offset_of!(Nv0000CtrlOsUnixExportObjectsToFdParams, fd),
                FdRole::NvCtl,
            )?,
            h_parent: None,
        },
        NV0000_CTRL_CMD_OS_UNIX_IMPORT_OBJECTS_FROM_FD => ControlParams::WithFd {
            fd: FdField::i32_at(
                n,
                offset_of!(Nv0000CtrlOsUnixImportObjectsFromFdParams, fd),
                FdRole::NvCtl,
            )?,
            h_parent: None,
        },
        NVC36F_CTRL_CMD_GPFIFO_GET_WORK_SUBMIT_TOKEN => ControlParams::WorkSubmitToken {
            token: rd_u32(n, 0)?,
        },
        _ => ControlParams::Other,
    })
}

/// Whether `cmd` is one of the NV0000 OS_UNIX controls that name an
/// export fd (a ctl file holding exported objects): the fds a proxy
/// translates inside control parameters.
pub const fn is_export_fd_control(cmd: u32) -> bool {
    matches!(
        cmd,
        NV0000_CTRL_CMD_OS_UNIX_EXPORT_OBJECT_TO_FD
            | NV0000_CTRL_CMD_OS_UNIX_IMPORT_OBJECT_FROM_FD
            | NV0000_CTRL_CMD_OS_UNIX_GET_EXPORT_OBJECT_INFO
            | NV0000_CTRL_CMD_OS_UNIX_CREATE_EXPORT_OBJECT_FD
            | NV0000_CTRL_CMD_OS_UNIX_EXPORT_OBJECTS_TO_FD
            | NV0000_CTRL_CMD_OS_UNIX_IMPORT_OBJECTS_FROM_FD
    )
}

/// `NV0000_CTRL_OS_UNIX_EXPORT_OBJECTS_TO_FD_MAX_OBJECTS`.
pub const EXPORT_OBJECTS_MAX: usize = 512;
/// `NV0000_CTRL_OS_UNIX_IMPORT_OBJECTS_TO_FD_MAX_OBJECTS`.
pub const IMPORT_OBJECTS_MAX: usize = 128;

/// What an export-fd control does to the slots of the export fd, when it
/// succeeds (for accounting: exported memory lives as long as its slot).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExportCall {
    /// Slots `first..first + count` now hold the objects
    /// [`export_call_object`] names (0: the slot is emptied).
    Export {
        /// First slot.
        first: usize,
        /// Slots written.
        count: usize,
    },
    /// Slots `first..first + count` were imported as new handles of the
    /// calling client under `parent` ([`import_call_result`]).
    Import {
        /// First slot.
        first: usize,
        /// Slots read.
        count: usize,
        /// Parent of the new handles.
        parent: u32,
    },
}

/// Decodes an export-fd control's parameters (`nested`, exactly the
/// control's size) into its effect on the slots; `None` for other
/// controls, wrong sizes, and counts the vendor refuses.
pub fn export_call(cmd: u32, nested: &[u8]) -> Option<ExportCall> {
    if decoded_control_size(cmd) != Some(nested.len()) {
        return None;
    }
    match cmd {
        NV0000_CTRL_CMD_OS_UNIX_EXPORT_OBJECT_TO_FD => {
            Some(ExportCall::Export { first: 0, count: 1 })
        }
        NV0000_CTRL_CMD_OS_UNIX_IMPORT_OBJECT_FROM_FD => {
            type P = Nv0000CtrlOsUnixImportObjectFromFdParams;
            let parent = rd_u32(
                nested,
                offset_of!(P, object) + offset_of!(Nv0000CtrlOsUnixExportObject, h_parent),
            )?;
            Some(ExportCall::Import {
                first: 0,
                count: 1,
                parent,
            })
        }
        NV0000_CTRL_CMD_OS_UNIX_EXPORT_OBJECTS_TO_FD => {
            type P = Nv0000CtrlOsUnixExportObjectsToFdParams;
            let count = usize::from(rd_u16(nested, offset_of!(P, num_objects))?);
            let first = usize::from(rd_u16(nested, offset_of!(P, index))?);
            (count <= EXPORT_OBJECTS_MAX).then_some(ExportCall::Export { first, count })
        }
        NV0000_CTRL_CMD_OS_UNIX_IMPORT_OBJECTS_FROM_FD => {
            type P = Nv0000CtrlOsUnixImportObjectsFromFdParams;
            let count = usize::from(rd_u16(nested, offset_of!(P, num_objects))?);
            let first = usize::from(rd_u16(nested, offset_of!(P, index))?);
            let parent = rd_u32(nested, offset_of!(P, h_parent))?;
            (count <= IMPORT_OBJECTS_MAX).then_some(ExportCall::Import {
                first,
                count,
                parent,
            })
        }
        _ => None,
    }
}

/// The handle an export control puts into slot `first + i` (0: the slot is
/// emptied); `None` if `i` is out of the call's range.
pub fn export_call_object(cmd: u32, nested: &[u8], i: usize) -> Option<u32> {
    let Some(ExportCall::Export { count, .. }) = export_call(cmd, nested) else {
        return None;
    };
    if i >= count {
        return None;
    }
    match cmd {
        NV0000_CTRL_CMD_OS_UNIX_EXPORT_OBJECT_TO_FD => {
            type P = Nv0000CtrlOsUnixExportObjectToFdParams;
            rd_u32(
                nested,
                offset_of!(P, object) + offset_of!(Nv0000CtrlOsUnixExportObject, h_object),
            )
        }
        _ => rd_u32(
            nested,
            offset_of!(Nv0000CtrlOsUnixExportObjectsToFdParams, objects) + 4 * i,
        ),
    }
}

/// After a successful import control (`nested` as the vendor wrote it
/// back): the handle made for slot `first + i`, or `None` if nothing was
/// imported there (an empty slot) or `i` is out of the call's range.
pub fn import_call_result(cmd: u32, nested: &[u8], i: usize) -> Option<u32> {
    let Some(ExportCall::Import { count, .. }) = export_call(cmd, nested) else {
        return None;
    };
    if i >= count {
        return None;
    }
    match cmd {
        NV0000_CTRL_CMD_OS_UNIX_IMPORT_OBJECT_FROM_FD => {
            type P = Nv0000CtrlOsUnixImportObjectFromFdParams;
            rd_u32(
                nested,
                offset_of!(P, object) + offset_of!(Nv0000CtrlOsUnixExportObject, h_object),
            )
        }
        _ => {
            type P = Nv0000CtrlOsUnixImportObjectsFromFdParams;
            // NV0000_CTRL_CMD_OS_UNIX_IMPORT_OBJECT_TYPE_NONE: not imported.
            if rd_u8(nested, offset_of!(P, object_types) + i)? == 0 {
                return None;
            }
            rd_u32(nested, offset_of!(P, objects) + 4 * i)
        }
    }
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
            Body::Alloc(a) => Nested::Alloc(decode_alloc_params(a.h_class, nested)),
            Body::Control(c) if c.serialized => Nested::Control(ControlParams::Serialized),
            Body::Control(c) => Nested::Control(decode_control_params(c.cmd, nested)),
            Body::Xfer {
                inner_cmd,
                inner_size,
                ..
            } => Nested::Xfer(decode_nv(self.file, inner_cmd, inner_size, nested)),
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
                Escape::RmMapMemoryDma => offset_of!(Nvos46, status),
                Escape::RmUnmapMemoryDma => offset_of!(Nvos47, status),
                Escape::RmBindContextDma => offset_of!(Nvos49, status),
                Escape::RmUpdateDeviceMappingInfo => offset_of!(Nvos56, status),
                Escape::AllocOsEvent => offset_of!(escape::NvIoctlAllocOsEvent, status),
                Escape::FreeOsEvent => offset_of!(escape::NvIoctlFreeOsEvent, status),
                Escape::ExportToDmabufFd => offset_of!(escape::NvIoctlExportToDmaBufFd, status),
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

/// Reads the `hObjectNew` the RM wrote back into an RM_ALLOC block.
pub fn alloc_result_handle(outer: &[u8]) -> Option<u32> {
    rd_u32(outer, offset_of!(Nvos21, h_object_new))
}

/// Reads the size the RM wrote back into `NV_MEMORY_ALLOCATION_PARAMS`.
pub fn memory_alloc_result_size(nested: &[u8]) -> Option<u64> {
    rd_u64(nested, offset_of!(class::NvMemoryAllocationParams, size))
}
