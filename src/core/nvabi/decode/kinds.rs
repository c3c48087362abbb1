// SPDX-License-Identifier: GPL-2.0

//! The decoder's vocabulary: which file a call came on, what its block
//! holds ([`Body`], [`Decoded`]), where its nested blocks and fds are.

use super::super::branch::Branch;
use super::super::escape::Escape;
use super::super::uvm::*;
use super::super::wire::{rd_i32, rd_u32, rd_u64, wr_i32, wr_u64};

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
    pub(super) fn i32_at(b: &[u8], offset: usize, role: FdRole) -> Option<FdField> {
        rd_i32(b, offset).map(|v| FdField {
            offset,
            width: 4,
            value: i64::from(v),
            role,
        })
    }

    pub(super) fn u32_at(b: &[u8], offset: usize, role: FdRole) -> Option<FdField> {
        rd_u32(b, offset).map(|v| FdField {
            offset,
            width: 4,
            value: i64::from(v),
            role,
        })
    }

    pub(super) fn u64_at(b: &[u8], offset: usize, role: FdRole) -> Option<FdField> {
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
    /// The driver branch whose ABI it was decoded with.
    pub branch: Branch,
    /// File kind it was decoded for.
    pub file: FileKind,
    /// The call.
    pub call: Call,
    /// Bytes the driver copies in and out at the ioctl pointer.
    pub size: usize,
    /// Typed content.
    pub body: Body,
}
