// SPDX-License-Identifier: GPL-2.0

//! Parameter blocks of the `NV_ESC_RM_*` escapes (the `NVOSxx_PARAMETERS`
//! of `src/common/sdk/nvidia/inc/nvos.h` and the `_with_fd` wrappers of
//! `nv-unix-nvos-params-wrappers.h`), driver 580.142, x86_64.
//!
//! Handles are `u32`; `NvP64` user pointers are `u64`. Every layout here is
//! checked field by field by the layout test against the headers.

wire_struct! {
    /// `NVOS00_PARAMETERS`, `NV_ESC_RM_FREE` (16 bytes).
    Nvos00 = "NVOS00_PARAMETERS", size 16;
    /// Client.
    @0 h_root: u32 = "hRoot";
    /// Parent of the object.
    @4 h_object_parent: u32 = "hObjectParent";
    /// Object to free (== `h_root` frees the whole client).
    @8 h_object_old: u32 = "hObjectOld";
    /// OUT status.
    @12 status: u32 = "status";
}

wire_struct! {
    /// `NVOS02_PARAMETERS`, legacy memory alloc (48 bytes).
    Nvos02 = "NVOS02_PARAMETERS", size 48;
    /// Client.
    @0 h_root: u32 = "hRoot";
    /// Parent.
    @4 h_object_parent: u32 = "hObjectParent";
    /// New handle.
    @8 h_object_new: u32 = "hObjectNew";
    /// Memory class.
    @12 h_class: u32 = "hClass";
    /// `NVOS02_FLAGS_*`.
    @16 flags: u32 = "flags";
    /// Padding.
    @20 pad0: u32 = "";
    /// IN/OUT address (OS descriptor: the user VA).
    @24 p_memory: u64 = "pMemory";
    /// Size - 1.
    @32 limit: u64 = "limit";
    /// OUT status.
    @40 status: u32 = "status";
    /// Padding.
    @44 pad1: u32 = "";
}

wire_struct! {
    /// `nv_ioctl_nvos02_parameters_with_fd`, `NV_ESC_RM_ALLOC_MEMORY` (56 bytes).
    Nvos02WithFd = "nv_ioctl_nvos02_parameters_with_fd", size 56;
    /// The NVOS02 block.
    @0 params: Nvos02 = "params";
    /// File that receives the mmap context for class 0x3e with mapping.
    @48 fd: i32 = "fd";
    /// Padding.
    @52 pad0: u32 = "";
}

wire_struct! {
    /// `NVOS05_PARAMETERS`, legacy object alloc (20 bytes).
    Nvos05 = "NVOS05_PARAMETERS", size 20;
    /// Client.
    @0 h_root: u32 = "hRoot";
    /// Parent.
    @4 h_object_parent: u32 = "hObjectParent";
    /// New handle.
    @8 h_object_new: u32 = "hObjectNew";
    /// Class.
    @12 h_class: u32 = "hClass";
    /// OUT status.
    @16 status: u32 = "status";
}

wire_struct! {
    /// `NVOS21_PARAMETERS`, `NV_ESC_RM_ALLOC` short form (32 bytes).
    Nvos21 = "NVOS21_PARAMETERS", size 32;
    /// Client (for a client alloc: the requested client handle).
    @0 h_root: u32 = "hRoot";
    /// Parent.
    @4 h_object_parent: u32 = "hObjectParent";
    /// IN/OUT new handle (0: the RM picks).
    @8 h_object_new: u32 = "hObjectNew";
    /// Class.
    @12 h_class: u32 = "hClass";
    /// User pointer to the class's allocation parameters.
    @16 p_alloc_parms: u64 = "pAllocParms";
    /// Size userspace claims; the RM copies the class's registered size instead.
    @24 params_size: u32 = "paramsSize";
    /// OUT status.
    @28 status: u32 = "status";
}

wire_struct! {
    /// `NVOS64_PARAMETERS`, `NV_ESC_RM_ALLOC` with access rights (48 bytes).
    /// The first five fields sit where NVOS21 has them (asserted in `escape.c`).
    Nvos64 = "NVOS64_PARAMETERS", size 48;
    /// Client.
    @0 h_root: u32 = "hRoot";
    /// Parent.
    @4 h_object_parent: u32 = "hObjectParent";
    /// IN/OUT new handle.
    @8 h_object_new: u32 = "hObjectNew";
    /// Class.
    @12 h_class: u32 = "hClass";
    /// User pointer to the class's allocation parameters.
    @16 p_alloc_parms: u64 = "pAllocParms";
    /// User pointer to an `RS_ACCESS_MASK`, or 0.
    @24 p_rights_requested: u64 = "pRightsRequested";
    /// Size userspace claims.
    @32 params_size: u32 = "paramsSize";
    /// Bit 0: FINN-serialized parameters.
    @36 flags: u32 = "flags";
    /// OUT status.
    @40 status: u32 = "status";
    /// Padding.
    @44 pad0: u32 = "";
}

wire_struct! {
    /// `NVOS30_PARAMETERS`, `NV_ESC_RM_IDLE_CHANNELS` (56 bytes).
    Nvos30 = "NVOS30_PARAMETERS", size 56;
    /// Client.
    @0 h_client: u32 = "hClient";
    /// Device.
    @4 h_device: u32 = "hDevice";
    /// Channel.
    @8 h_channel: u32 = "hChannel";
    /// Number of entries in the lists.
    @12 num_channels: u32 = "numChannels";
    /// User pointer to client handles.
    @16 ph_clients: u64 = "phClients";
    /// User pointer to device handles.
    @24 ph_devices: u64 = "phDevices";
    /// User pointer to channel handles.
    @32 ph_channels: u64 = "phChannels";
    /// Flags.
    @40 flags: u32 = "flags";
    /// Timeout.
    @44 timeout: u32 = "timeout";
    /// OUT status.
    @48 status: u32 = "status";
    /// Padding.
    @52 pad0: u32 = "";
}

wire_struct! {
    /// `NVOS32_PARAMETERS`, `NV_ESC_RM_VID_HEAP_CONTROL` (184 bytes). The
    /// union `data` is kept as bytes; its members that matter are declared
    /// separately ([`Nvos32AllocSize`], [`Nvos32AllocTiledPitchHeight`],
    /// [`Nvos32AllocSizeRange`], [`Nvos32Free`]) and sit at
    /// [`NVOS32_DATA_OFFSET`].
    Nvos32 = "NVOS32_PARAMETERS", size 184;
    /// Client.
    @0 h_root: u32 = "hRoot";
    /// Device.
    @4 h_object_parent: u32 = "hObjectParent";
    /// `NVOS32_FUNCTION_*`.
    @8 function: u32 = "function";
    /// VA space.
    @12 h_va_space: u32 = "hVASpace";
    /// IVC heap number.
    @16 ivc_heap_number: i16 = "ivcHeapNumber";
    /// Padding.
    @18 pad0: u16 = "";
    /// OUT status.
    @20 status: u32 = "status";
    /// OUT heap total, bytes (INFO).
    @24 total: u64 = "total";
    /// OUT heap free, bytes (INFO).
    @32 free: u64 = "free";
    /// The function's union.
    @40 data: [u8; 144] = "data";
}

/// Offset of `NVOS32_PARAMETERS.data`.
pub const NVOS32_DATA_OFFSET: usize = 40;

wire_struct! {
    /// `NVOS32_PARAMETERS.data.AllocSize` (function ALLOC_SIZE, 2).
    Nvos32AllocSize = "__typeof__(((NVOS32_PARAMETERS*)0)->data.AllocSize)", size 120;
    /// Owner id.
    @0 owner: u32 = "owner";
    /// IN/OUT memory handle.
    @4 h_memory: u32 = "hMemory";
    /// Surface type.
    @8 type_: u32 = "type";
    /// `NVOS32_ALLOC_FLAGS_*`.
    @12 flags: u32 = "flags";
    /// `NVOS32_ATTR_*`.
    @16 attr: u32 = "attr";
    /// Format.
    @20 format: u32 = "format";
    /// Compression coverage.
    @24 compr_covg: u32 = "comprCovg";
    /// Zcull coverage.
    @28 zcull_covg: u32 = "zcullCovg";
    /// Partition stride.
    @32 partition_stride: u32 = "partitionStride";
    /// Width hint.
    @36 width: u32 = "width";
    /// Height hint.
    @40 height: u32 = "height";
    /// Padding.
    @44 pad0: u32 = "";
    /// IN/OUT size in bytes.
    @48 size: u64 = "size";
    /// Alignment.
    @56 alignment: u64 = "alignment";
    /// IN/OUT offset.
    @64 offset: u64 = "offset";
    /// OUT limit.
    @72 limit: u64 = "limit";
    /// OUT address.
    @80 address: u64 = "address";
    /// Range start.
    @88 range_begin: u64 = "rangeBegin";
    /// Range end (inclusive).
    @96 range_end: u64 = "rangeEnd";
    /// `NVOS32_ATTR2_*`.
    @104 attr2: u32 = "attr2";
    /// Comptag offset.
    @108 ctag_offset: u32 = "ctagOffset";
    /// NUMA node.
    @112 numa_node: i32 = "numaNode";
    /// Padding.
    @116 pad1: u32 = "";
}

wire_struct! {
    /// `NVOS32_PARAMETERS.data.AllocTiledPitchHeight` (function 6).
    Nvos32AllocTiledPitchHeight = "__typeof__(((NVOS32_PARAMETERS*)0)->data.AllocTiledPitchHeight)", size 120;
    /// Owner id.
    @0 owner: u32 = "owner";
    /// IN/OUT memory handle.
    @4 h_memory: u32 = "hMemory";
    /// Surface type.
    @8 type_: u32 = "type";
    /// `NVOS32_ALLOC_FLAGS_*`.
    @12 flags: u32 = "flags";
    /// Height in pixels.
    @16 height: u32 = "height";
    /// IN/OUT pitch.
    @20 pitch: i32 = "pitch";
    /// `NVOS32_ATTR_*`.
    @24 attr: u32 = "attr";
    /// Width in pixels.
    @28 width: u32 = "width";
    /// Format.
    @32 format: u32 = "format";
    /// Compression coverage.
    @36 compr_covg: u32 = "comprCovg";
    /// Zcull coverage.
    @40 zcull_covg: u32 = "zcullCovg";
    /// Partition stride.
    @44 partition_stride: u32 = "partitionStride";
    /// IN/OUT size in bytes.
    @48 size: u64 = "size";
    /// Alignment.
    @56 alignment: u64 = "alignment";
    /// IN/OUT offset.
    @64 offset: u64 = "offset";
    /// OUT limit.
    @72 limit: u64 = "limit";
    /// OUT address.
    @80 address: u64 = "address";
    /// Range start.
    @88 range_begin: u64 = "rangeBegin";
    /// Range end.
    @96 range_end: u64 = "rangeEnd";
    /// `NVOS32_ATTR2_*`.
    @104 attr2: u32 = "attr2";
    /// Comptag offset.
    @108 ctag_offset: u32 = "ctagOffset";
    /// NUMA node.
    @112 numa_node: i32 = "numaNode";
    /// Padding.
    @116 pad0: u32 = "";
}

wire_struct! {
    /// `NVOS32_PARAMETERS.data.AllocSizeRange` (function 14).
    Nvos32AllocSizeRange = "__typeof__(((NVOS32_PARAMETERS*)0)->data.AllocSizeRange)", size 112;
    /// Owner id.
    @0 owner: u32 = "owner";
    /// IN/OUT memory handle.
    @4 h_memory: u32 = "hMemory";
    /// Surface type.
    @8 type_: u32 = "type";
    /// `NVOS32_ALLOC_FLAGS_*`.
    @12 flags: u32 = "flags";
    /// `NVOS32_ATTR_*`.
    @16 attr: u32 = "attr";
    /// Format.
    @20 format: u32 = "format";
    /// Compression coverage.
    @24 compr_covg: u32 = "comprCovg";
    /// Zcull coverage.
    @28 zcull_covg: u32 = "zcullCovg";
    /// Partition stride.
    @32 partition_stride: u32 = "partitionStride";
    /// Padding.
    @36 pad0: u32 = "";
    /// IN/OUT size in bytes.
    @40 size: u64 = "size";
    /// Alignment.
    @48 alignment: u64 = "alignment";
    /// IN/OUT offset.
    @56 offset: u64 = "offset";
    /// OUT limit.
    @64 limit: u64 = "limit";
    /// Range start.
    @72 range_begin: u64 = "rangeBegin";
    /// Range end.
    @80 range_end: u64 = "rangeEnd";
    /// OUT address.
    @88 address: u64 = "address";
    /// `NVOS32_ATTR2_*`.
    @96 attr2: u32 = "attr2";
    /// Comptag offset.
    @100 ctag_offset: u32 = "ctagOffset";
    /// NUMA node.
    @104 numa_node: i32 = "numaNode";
    /// Padding.
    @108 pad1: u32 = "";
}

wire_struct! {
    /// `NVOS32_PARAMETERS.data.Free` (function FREE, 3).
    Nvos32Free = "__typeof__(((NVOS32_PARAMETERS*)0)->data.Free)", size 12;
    /// Owner id.
    @0 owner: u32 = "owner";
    /// Memory handle to free.
    @4 h_memory: u32 = "hMemory";
    /// Free flags.
    @8 flags: u32 = "flags";
}

abi_consts! {
    /// `NVOS32_FUNCTION_*`.
    NVOS32_FUNCTIONS: u32 {
        /// Allocate by size.
        NVOS32_FUNCTION_ALLOC_SIZE = 2;
        /// Free.
        NVOS32_FUNCTION_FREE = 3;
        /// Heap info (total/free).
        NVOS32_FUNCTION_INFO = 5;
        /// Allocate by pitch and height.
        NVOS32_FUNCTION_ALLOC_TILED_PITCH_HEIGHT = 6;
        /// Allocate by size within a range.
        NVOS32_FUNCTION_ALLOC_SIZE_RANGE = 14;
        /// Reacquire compression.
        NVOS32_FUNCTION_REACQUIRE_COMPR = 15;
        /// Release compression.
        NVOS32_FUNCTION_RELEASE_COMPR = 16;
        /// Alignment query.
        NVOS32_FUNCTION_GET_MEM_ALIGNMENT = 18;
        /// HW resource alloc.
        NVOS32_FUNCTION_HW_ALLOC = 19;
        /// HW resource free.
        NVOS32_FUNCTION_HW_FREE = 20;
        /// OS descriptor alloc.
        NVOS32_FUNCTION_ALLOC_OS_DESCRIPTOR = 27;
    }
}

wire_struct! {
    /// `NVOS33_PARAMETERS`, CPU mapping (48 bytes).
    Nvos33 = "NVOS33_PARAMETERS", size 48;
    /// Client.
    @0 h_client: u32 = "hClient";
    /// Device or subdevice.
    @4 h_device: u32 = "hDevice";
    /// Memory.
    @8 h_memory: u32 = "hMemory";
    /// Padding.
    @12 pad0: u32 = "";
    /// Offset into the memory.
    @16 offset: u64 = "offset";
    /// Length.
    @24 length: u64 = "length";
    /// OUT "address" (on Linux a cookie/bus address, not a CPU VA).
    @32 p_linear_address: u64 = "pLinearAddress";
    /// OUT status.
    @40 status: u32 = "status";
    /// `NVOS33_FLAGS_*`.
    @44 flags: u32 = "flags";
}

wire_struct! {
    /// `nv_ioctl_nvos33_parameters_with_fd`, `NV_ESC_RM_MAP_MEMORY` (56 bytes).
    Nvos33WithFd = "nv_ioctl_nvos33_parameters_with_fd", size 56;
    /// The NVOS33 block.
    @0 params: Nvos33 = "params";
    /// File (ctl for sysmem, GPU node for FB/regs) that receives the mmap context.
    @48 fd: i32 = "fd";
    /// Padding.
    @52 pad0: u32 = "";
}

wire_struct! {
    /// `NVOS34_PARAMETERS`, `NV_ESC_RM_UNMAP_MEMORY` (32 bytes).
    Nvos34 = "NVOS34_PARAMETERS", size 32;
    /// Client.
    @0 h_client: u32 = "hClient";
    /// Device.
    @4 h_device: u32 = "hDevice";
    /// Memory.
    @8 h_memory: u32 = "hMemory";
    /// Padding.
    @12 pad0: u32 = "";
    /// Address returned by the map.
    @16 p_linear_address: u64 = "pLinearAddress";
    /// OUT status.
    @24 status: u32 = "status";
    /// Flags.
    @28 flags: u32 = "flags";
}

wire_struct! {
    /// `NVOS38_PARAMETERS`, `NV_ESC_RM_ACCESS_REGISTRY` (72 bytes).
    Nvos38 = "NVOS38_PARAMETERS", size 72;
    /// Client.
    @0 h_client: u32 = "hClient";
    /// Object.
    @4 h_object: u32 = "hObject";
    /// Access type.
    @8 access_type: u32 = "AccessType";
    /// Length of the device node string.
    @12 dev_node_length: u32 = "DevNodeLength";
    /// User pointer to the device node string.
    @16 p_dev_node: u64 = "pDevNode";
    /// Length of the parameter string.
    @24 parm_str_length: u32 = "ParmStrLength";
    /// Padding.
    @28 pad0: u32 = "";
    /// User pointer to the parameter string.
    @32 p_parm_str: u64 = "pParmStr";
    /// Length of the binary data.
    @40 binary_data_length: u32 = "BinaryDataLength";
    /// Padding.
    @44 pad1: u32 = "";
    /// User pointer to the binary data.
    @48 p_binary_data: u64 = "pBinaryData";
    /// Data.
    @56 data: u32 = "Data";
    /// Entry.
    @60 entry: u32 = "Entry";
    /// OUT status.
    @64 status: u32 = "status";
    /// Padding.
    @68 pad2: u32 = "";
}

wire_struct! {
    /// `NVOS39_PARAMETERS`, `NV_ESC_RM_ALLOC_CONTEXT_DMA2` (56 bytes).
    Nvos39 = "NVOS39_PARAMETERS", size 56;
    /// Parent.
    @0 h_object_parent: u32 = "hObjectParent";
    /// Subdevice.
    @4 h_sub_device: u32 = "hSubDevice";
    /// New handle.
    @8 h_object_new: u32 = "hObjectNew";
    /// Class.
    @12 h_class: u32 = "hClass";
    /// Flags.
    @16 flags: u32 = "flags";
    /// Selector.
    @20 selector: u32 = "selector";
    /// Memory.
    @24 h_memory: u32 = "hMemory";
    /// Padding.
    @28 pad0: u32 = "";
    /// Offset.
    @32 offset: u64 = "offset";
    /// Limit.
    @40 limit: u64 = "limit";
    /// OUT status.
    @48 status: u32 = "status";
    /// Padding.
    @52 pad1: u32 = "";
}

wire_struct! {
    /// `NVOS41_PARAMETERS`, `NV_ESC_RM_GET_EVENT_DATA` (16 bytes).
    Nvos41 = "NVOS41_PARAMETERS", size 16;
    /// User pointer to a 16-byte `NvUnixEvent`.
    @0 p_event: u64 = "pEvent";
    /// OUT more events pending.
    @8 more_events: u32 = "MoreEvents";
    /// OUT status.
    @12 status: u32 = "status";
}

wire_struct! {
    /// `NVOS46_PARAMETERS`, `NV_ESC_RM_MAP_MEMORY_DMA` (64 bytes).
    Nvos46 = "NVOS46_PARAMETERS", size 64;
    /// Client.
    @0 h_client: u32 = "hClient";
    /// Device.
    @4 h_device: u32 = "hDevice";
    /// DMA (VA space) handle.
    @8 h_dma: u32 = "hDma";
    /// Memory.
    @12 h_memory: u32 = "hMemory";
    /// Offset into the memory.
    @16 offset: u64 = "offset";
    /// Length.
    @24 length: u64 = "length";
    /// Flags.
    @32 flags: u32 = "flags";
    /// Flags 2.
    @36 flags2: u32 = "flags2";
    /// Page kind override.
    @40 kind_override: u32 = "kindOverride";
    /// Padding.
    @44 pad0: u32 = "";
    /// IN/OUT GPU VA.
    @48 dma_offset: u64 = "dmaOffset";
    /// OUT status.
    @56 status: u32 = "status";
    /// Padding.
    @60 pad1: u32 = "";
}

wire_struct! {
    /// `NVOS47_PARAMETERS`, `NV_ESC_RM_UNMAP_MEMORY_DMA` (48 bytes).
    Nvos47 = "NVOS47_PARAMETERS", size 48;
    /// Client.
    @0 h_client: u32 = "hClient";
    /// Device.
    @4 h_device: u32 = "hDevice";
    /// DMA handle.
    @8 h_dma: u32 = "hDma";
    /// Memory.
    @12 h_memory: u32 = "hMemory";
    /// Flags.
    @16 flags: u32 = "flags";
    /// Padding.
    @20 pad0: u32 = "";
    /// GPU VA of the mapping.
    @24 dma_offset: u64 = "dmaOffset";
    /// Size to unmap (0: all).
    @32 size: u64 = "size";
    /// OUT status.
    @40 status: u32 = "status";
    /// Padding.
    @44 pad1: u32 = "";
}

wire_struct! {
    /// `NVOS49_PARAMETERS`, `NV_ESC_RM_BIND_CONTEXT_DMA` (16 bytes).
    Nvos49 = "NVOS49_PARAMETERS", size 16;
    /// Client.
    @0 h_client: u32 = "hClient";
    /// Channel.
    @4 h_channel: u32 = "hChannel";
    /// Context DMA.
    @8 h_ctx_dma: u32 = "hCtxDma";
    /// OUT status.
    @12 status: u32 = "status";
}

wire_struct! {
    /// `NVOS54_PARAMETERS`, `NV_ESC_RM_CONTROL` (32 bytes).
    Nvos54 = "NVOS54_PARAMETERS", size 32;
    /// Client.
    @0 h_client: u32 = "hClient";
    /// Object the control is issued on.
    @4 h_object: u32 = "hObject";
    /// Control command, `(class << 16) | (category << 8) | index`.
    @8 cmd: u32 = "cmd";
    /// Flags (0x4: FINN-serialized parameters).
    @12 flags: u32 = "flags";
    /// User pointer to the control's parameter block.
    @16 params: u64 = "params";
    /// Size of that block (must equal the control's registered size).
    @24 params_size: u32 = "paramsSize";
    /// OUT status.
    @28 status: u32 = "status";
}

wire_struct! {
    /// `NVOS55_PARAMETERS`, `NV_ESC_RM_DUP_OBJECT` (28 bytes).
    Nvos55 = "NVOS55_PARAMETERS", size 28;
    /// Destination client.
    @0 h_client: u32 = "hClient";
    /// Destination parent.
    @4 h_parent: u32 = "hParent";
    /// IN/OUT new handle.
    @8 h_object: u32 = "hObject";
    /// Source client.
    @12 h_client_src: u32 = "hClientSrc";
    /// Source object.
    @16 h_object_src: u32 = "hObjectSrc";
    /// Flags (0x1: reject kernel dup privilege).
    @20 flags: u32 = "flags";
    /// OUT status.
    @24 status: u32 = "status";
}

/// `NV04_DUP_HANDLE_FLAGS_REJECT_KERNEL_DUP_PRIVILEGE` (`nvos.h`): a kernel
/// caller's dup gets the same rights check as a user caller's.
pub const NV04_DUP_HANDLE_FLAGS_REJECT_KERNEL_DUP_PRIVILEGE: u32 = 0x1;

wire_struct! {
    /// `NVOS56_PARAMETERS`, `NV_ESC_RM_UPDATE_DEVICE_MAPPING_INFO` (40 bytes).
    Nvos56 = "NVOS56_PARAMETERS", size 40;
    /// Client.
    @0 h_client: u32 = "hClient";
    /// Device.
    @4 h_device: u32 = "hDevice";
    /// Memory.
    @8 h_memory: u32 = "hMemory";
    /// Padding.
    @12 pad0: u32 = "";
    /// Cookie returned by the map.
    @16 p_old_cpu_address: u64 = "pOldCpuAddress";
    /// Real CPU VA after mmap.
    @24 p_new_cpu_address: u64 = "pNewCpuAddress";
    /// OUT status.
    @32 status: u32 = "status";
    /// Padding.
    @36 pad1: u32 = "";
}

wire_struct! {
    /// `RS_SHARE_POLICY` (12 bytes).
    RsSharePolicy = "RS_SHARE_POLICY", size 12;
    /// Target.
    @0 target: u32 = "target";
    /// `RS_ACCESS_MASK` (one 32-bit limb).
    @4 access_mask: u32 = "accessMask";
    /// Policy type.
    @8 type_: u16 = "type";
    /// Action.
    @10 action: u8 = "action";
    /// Padding.
    @11 pad0: u8 = "";
}

wire_struct! {
    /// `NVOS57_PARAMETERS`, `NV_ESC_RM_SHARE` (24 bytes).
    Nvos57 = "NVOS57_PARAMETERS", size 24;
    /// Client.
    @0 h_client: u32 = "hClient";
    /// Object.
    @4 h_object: u32 = "hObject";
    /// Share policy.
    @8 share_policy: RsSharePolicy = "sharePolicy";
    /// OUT status.
    @20 status: u32 = "status";
}

#[cfg(all(test, not(MODULE)))]
mod tests {
    use super::super::wire::Wire;
    use super::*;

    fn round_trip<T: Wire + PartialEq + core::fmt::Debug>(seed: u8) {
        let mut bytes = [0u8; 256];
        for (i, b) in bytes.iter_mut().enumerate() {
            *b = (i as u8).wrapping_mul(31).wrapping_add(seed);
        }
        let v = T::read(&bytes).unwrap();
        let mut out = [0u8; 256];
        assert!(v.write(&mut out));
        assert_eq!(&out[..T::SIZE], &bytes[..T::SIZE]);
        assert_eq!(T::read(&out), Some(v));
        assert!(T::read(&bytes[..T::SIZE - 1]).is_none());
        assert!(!v.write(&mut out[..T::SIZE - 1]));
    }

    #[test]
    fn sizes_match_research_notes() {
        assert_eq!(Nvos00::SIZE, 16);
        assert_eq!(Nvos02WithFd::SIZE, 56);
        assert_eq!(Nvos21::SIZE, 32);
        assert_eq!(Nvos64::SIZE, 48);
        assert_eq!(Nvos30::SIZE, 56);
        assert_eq!(Nvos32::SIZE, 184);
        assert_eq!(Nvos33WithFd::SIZE, 56);
        assert_eq!(Nvos34::SIZE, 32);
        assert_eq!(Nvos38::SIZE, 72);
        assert_eq!(Nvos39::SIZE, 56);
        assert_eq!(Nvos41::SIZE, 16);
        assert_eq!(Nvos46::SIZE, 64);
        assert_eq!(Nvos47::SIZE, 48);
        assert_eq!(Nvos49::SIZE, 16);
        assert_eq!(Nvos54::SIZE, 32);
        assert_eq!(Nvos55::SIZE, 28);
        assert_eq!(Nvos56::SIZE, 40);
        assert_eq!(Nvos57::SIZE, 24);
        // The AllocSize size field sits at NVOS32 @88, as the notes say.
        assert_eq!(
            NVOS32_DATA_OFFSET + core::mem::offset_of!(Nvos32AllocSize, size),
            88
        );
    }

    #[test]
    fn round_trips() {
        round_trip::<Nvos00>(1);
        round_trip::<Nvos02>(2);
        round_trip::<Nvos02WithFd>(3);
        round_trip::<Nvos05>(4);
        round_trip::<Nvos21>(5);
        round_trip::<Nvos64>(6);
        round_trip::<Nvos30>(7);
        round_trip::<Nvos32>(8);
        round_trip::<Nvos32AllocSize>(9);
        round_trip::<Nvos32AllocTiledPitchHeight>(10);
        round_trip::<Nvos32AllocSizeRange>(11);
        round_trip::<Nvos32Free>(12);
        round_trip::<Nvos33>(13);
        round_trip::<Nvos33WithFd>(14);
        round_trip::<Nvos34>(15);
        round_trip::<Nvos38>(16);
        round_trip::<Nvos39>(17);
        round_trip::<Nvos41>(18);
        round_trip::<Nvos46>(19);
        round_trip::<Nvos47>(20);
        round_trip::<Nvos49>(21);
        round_trip::<Nvos54>(22);
        round_trip::<Nvos55>(23);
        round_trip::<Nvos56>(24);
        round_trip::<Nvos57>(25);
    }

    #[test]
    fn nvos21_fields_land_where_the_driver_reads_them() {
        let p = Nvos21 {
            h_root: 0xc1d0_0001,
            h_object_parent: 0xc1d0_0002,
            h_object_new: 0xcafe,
            h_class: 0x40,
            p_alloc_parms: 0x7fff_0000_1000,
            params_size: 128,
            status: 0,
        };
        let mut b = [0u8; 32];
        assert!(p.write(&mut b));
        assert_eq!(&b[12..16], &[0x40, 0, 0, 0]);
        assert_eq!(&b[16..24], &0x7fff_0000_1000u64.to_le_bytes());
        assert_eq!(&b[24..28], &[128, 0, 0, 0]);
    }
}
