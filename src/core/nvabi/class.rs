// SPDX-License-Identifier: GPL-2.0

//! RM classes (`hClass` of `NV_ESC_RM_ALLOC`) and their allocation
//! parameter blocks, driver 580.142 (`src/common/sdk/nvidia/inc/class/*.h`,
//! `nvos.h`, `alloc/alloc_channel.h`).
//!
//! Which parameter block each class takes, and whether it is required, is
//! read from `src/nvidia/src/kernel/rmapi/resource_list.h` (transcribed into
//! [`CLASSES`]; checked by hand, not by the layout test). Important: the RM
//! copies **the class's registered parameter size** from `pAllocParms` and
//! ignores `paramsSize` (`rmapiGetClassAllocParamSize`, `resource_desc.c`),
//! so a proxy must fetch [`ClassInfo::params`]'s size, not `paramsSize`.

abi_consts! {
    /// Class ids.
    CLASS_IDS: u32 {
        /// Client (forced to `NV01_ROOT_CLIENT` by the driver).
        NV01_ROOT = 0x0;
        /// Client (forced to `NV01_ROOT_CLIENT`).
        NV01_ROOT_NON_PRIV = 0x1;
        /// Client.
        NV01_ROOT_CLIENT = 0x41;
        /// Legacy context DMA.
        NV01_CONTEXT_DMA = 0x2;
        /// Event.
        NV01_EVENT = 0x5;
        /// Pinned system memory.
        NV01_MEMORY_SYSTEM = 0x3e;
        /// Register memory.
        NV01_MEMORY_LOCAL_PRIVILEGED = 0x3f;
        /// Video memory (what cudaMalloc allocates).
        NV01_MEMORY_LOCAL_USER = 0x40;
        /// Extended GPU memory (host memory on coherent systems).
        NV_MEMORY_EXTENDED_USER = 0x42;
        /// Virtual memory range.
        NV01_MEMORY_VIRTUAL = 0x70;
        /// OS descriptor (pins user pages).
        NV01_MEMORY_SYSTEM_OS_DESCRIPTOR = 0x71;
        /// Kernel callback event.
        NV01_EVENT_KERNEL_CALLBACK = 0x78;
        /// OS event (poll on an fd).
        NV01_EVENT_OS_EVENT = 0x79;
        /// Kernel callback event (extended).
        NV01_EVENT_KERNEL_CALLBACK_EX = 0x7e;
        /// Device.
        NV01_DEVICE_0 = 0x80;
        /// Hardware resources (compression tags).
        NV01_MEMORY_HW_RESOURCES = 0xb1;
        /// Whole-FB physical handle (privileged).
        NV01_MEMORY_LOCAL_PHYSICAL = 0xc2;
        /// Memory export container.
        NV_MEMORY_EXPORT = 0xe0;
        /// Fabric (FLA) memory.
        NV_MEMORY_FABRIC = 0xf8;
        /// Fabric import.
        NV_MEMORY_FABRIC_IMPORT_V2 = 0xf9;
        /// Fabric imported reference.
        NV_MEMORY_FABRIC_IMPORTED_REF = 0xfb;
        /// Multicast fabric memory.
        NV_MEMORY_MULTICAST_FABRIC = 0xfd;
        /// Memory mapper helper.
        NV_MEMORY_MAPPER = 0xfe;
        /// Subdevice.
        NV20_SUBDEVICE_0 = 0x2080;
        /// GPU virtual memory (VA reservation).
        NV50_MEMORY_VIRTUAL = 0x50a0;
        /// Subcontext.
        FERMI_CONTEXT_SHARE_A = 0x9067;
        /// Deviceless memory.
        NV01_MEMORY_DEVICELESS = 0x90ce;
        /// GPU VA space.
        FERMI_VASPACE_A = 0x90f1;
        /// Channel group (TSG).
        KEPLER_CHANNEL_GROUP_A = 0xa06c;
        /// Kepler GPFIFO channel (its controls are the `NVA06F_*` ones).
        KEPLER_CHANNEL_GPFIFO_A = 0xa06f;
        /// Volta GPFIFO channel.
        VOLTA_CHANNEL_GPFIFO_A = 0xc36f;
        /// Turing GPFIFO channel.
        TURING_CHANNEL_GPFIFO_A = 0xc46f;
        /// Ampere GPFIFO channel.
        AMPERE_CHANNEL_GPFIFO_A = 0xc56f;
        /// Hopper GPFIFO channel.
        HOPPER_CHANNEL_GPFIFO_A = 0xc86f;
        /// Blackwell GPFIFO channel.
        BLACKWELL_CHANNEL_GPFIFO_A = 0xc96f;
        /// Blackwell GPFIFO channel B.
        BLACKWELL_CHANNEL_GPFIFO_B = 0xca6f;
        /// Volta doorbell page.
        VOLTA_USERMODE_A = 0xc361;
        /// Turing doorbell page.
        TURING_USERMODE_A = 0xc461;
        /// Ampere doorbell page.
        AMPERE_USERMODE_A = 0xc561;
        /// Hopper doorbell page.
        HOPPER_USERMODE_A = 0xc661;
        /// Blackwell doorbell page.
        BLACKWELL_USERMODE_A = 0xc761;
        /// Ampere compute.
        AMPERE_COMPUTE_A = 0xc6c0;
        /// Ampere compute B.
        AMPERE_COMPUTE_B = 0xc7c0;
        /// Ada compute.
        ADA_COMPUTE_A = 0xc9c0;
        /// Hopper compute.
        HOPPER_COMPUTE_A = 0xcbc0;
        /// Blackwell compute.
        BLACKWELL_COMPUTE_A = 0xcdc0;
        /// Blackwell compute B.
        BLACKWELL_COMPUTE_B = 0xcec0;
        /// Ampere copy engine.
        AMPERE_DMA_COPY_A = 0xc6b5;
        /// Ampere copy engine B.
        AMPERE_DMA_COPY_B = 0xc7b5;
        /// Hopper copy engine.
        HOPPER_DMA_COPY_A = 0xc8b5;
        /// Blackwell copy engine.
        BLACKWELL_DMA_COPY_A = 0xc9b5;
        /// Blackwell copy engine B.
        BLACKWELL_DMA_COPY_B = 0xcab5;
        /// MIG partition reference (takes a capability fd; see notes §6.2).
        AMPERE_SMC_PARTITION_REF = 0xc637;
        /// MIG configuration session (nvidia-smi; takes a capability fd).
        AMPERE_SMC_CONFIG_SESSION = 0xc639;
        /// MIG monitor session (nvidia-smi; takes a capability fd).
        AMPERE_SMC_MONITOR_SESSION = 0xc640;
        /// RM user shared data (RUSD): a page the RM keeps updated and the
        /// client maps (`NV00DE_SHARED_DATA`, which **includes the PMA's
        /// total and free memory**). Allocated and mapped by CUDA and nvidia-smi.
        RM_USER_SHARED_DATA = 0xde;
        /// Legacy display common object (nvidia-smi allocates it).
        NV04_DISPLAY_COMMON = 0x73;
        /// "Binary API" object: a handle for controls whose parameters are
        /// opaque, passed to GSP as they are.
        NV2081_BINAPI = 0x2081;
        /// Subdevice diagnostics (nvidia-smi: inforom checks).
        NV20_SUBDEVICE_DIAG = 0x208f;
        /// Third-party P2P (GPUDirect RDMA) object; CUDA allocates one per context.
        NV50_THIRD_PARTY_P2P = 0x503c;
        /// SM debugger session (CUDA allocates one per context for exception masks).
        GT200_DEBUGGER = 0x83de;
        /// Subdevice "master" (PMC) object.
        GF100_SUBDEVICE_MASTER = 0x90e6;
        /// Confidential-computing query object.
        NV_CONFIDENTIAL_COMPUTE = 0xcb33;
    }
}

abi_consts! {
    /// Bit fields and flags of memory allocation parameters (`nvos.h`).
    MEMORY_FLAGS: u32 {
        /// `NVOS32_ALLOC_FLAGS_FIXED_ADDRESS_ALLOCATE`.
        NVOS32_ALLOC_FLAGS_FIXED_ADDRESS_ALLOCATE = 0x10;
        /// `NVOS32_ALLOC_FLAGS_MEMORY_HANDLE_PROVIDED`.
        NVOS32_ALLOC_FLAGS_MEMORY_HANDLE_PROVIDED = 0x4000;
        /// `NVOS32_ALLOC_FLAGS_VIRTUAL`: a VA reservation, no physical memory.
        NVOS32_ALLOC_FLAGS_VIRTUAL = 0x0008_0000;
        /// `NVOS32_ATTR_LOCATION_VIDMEM` (field value of attr 26:25).
        NVOS32_ATTR_LOCATION_VIDMEM = 0;
        /// `NVOS32_ATTR_LOCATION_PCI` (sysmem).
        NVOS32_ATTR_LOCATION_PCI = 1;
        /// `NVOS32_ATTR_LOCATION_ANY`.
        NVOS32_ATTR_LOCATION_ANY = 3;
        /// `NVOS02_FLAGS_ALLOC_NONE` (field value of flags 17:16).
        NVOS02_FLAGS_ALLOC_NONE = 1;
        /// `NVOS02_FLAGS_MAPPING_NO_MAP` (field value of flags 31:30).
        NVOS02_FLAGS_MAPPING_NO_MAP = 1;
        /// `NVOS54_FLAGS_FINN_SERIALIZED`.
        NVOS54_FLAGS_FINN_SERIALIZED = 0x4;
        /// `NVOS64_FLAGS_FINN_SERIALIZED`.
        NVOS64_FLAGS_FINN_SERIALIZED = 0x1;
    }
}

/// `NVC361_NV_USERMODE__SIZE` (clc361.h, the same in 550 and 580): the
/// register window a usermode (doorbell) object maps, in bytes. The vendor
/// maps a GPU file's memory only as a PFN mapping of a BAR (nv-mmap.c,
/// `nvidia_mmap_helper`: registers and framebuffer alike), of exactly the
/// mapped object's size, so a doorbell mapping is a PFN mapping of a GPU
/// file at most this long.
pub const USERMODE_WINDOW: u64 = 0x1_0000;

/// `NVOS32_ATTR_LOCATION` (attr bits 26:25).
pub const fn attr_location(attr: u32) -> u32 {
    (attr >> 25) & 0x3
}

/// `NVOS32_ATTR_PAGE_SIZE` (attr bits 24:23).
pub const fn attr_page_size(attr: u32) -> u32 {
    (attr >> 23) & 0x3
}

/// `NVOS32_ATTR_PHYSICALITY` (attr bits 28:27).
pub const fn attr_physicality(attr: u32) -> u32 {
    (attr >> 27) & 0x3
}

/// `NVOS32_ATTR2_USE_EGM` (attr2 bit 24).
pub const fn attr2_use_egm(attr2: u32) -> bool {
    (attr2 >> 24) & 1 != 0
}

wire_struct! {
    /// `NV_MEMORY_ALLOCATION_PARAMS` (128 bytes): classes 0x40, 0x3e,
    /// 0x42, 0x50a0 and 0x90ce.
    NvMemoryAllocationParams = "NV_MEMORY_ALLOCATION_PARAMS", size 128;
    /// Owner id.
    @0 owner: u32 = "owner";
    /// `NVOS32_TYPE_*`.
    @4 type_: u32 = "type";
    /// `NVOS32_ALLOC_FLAGS_*`.
    @8 flags: u32 = "flags";
    /// Width.
    @12 width: u32 = "width";
    /// Height.
    @16 height: u32 = "height";
    /// Pitch.
    @20 pitch: i32 = "pitch";
    /// `NVOS32_ATTR_*`.
    @24 attr: u32 = "attr";
    /// `NVOS32_ATTR2_*`.
    @28 attr2: u32 = "attr2";
    /// Format.
    @32 format: u32 = "format";
    /// Compression coverage.
    @36 compr_covg: u32 = "comprCovg";
    /// Zcull coverage.
    @40 zcull_covg: u32 = "zcullCovg";
    /// Padding.
    @44 pad0: u32 = "";
    /// Range low.
    @48 range_lo: u64 = "rangeLo";
    /// Range high.
    @56 range_hi: u64 = "rangeHi";
    /// IN/OUT size in bytes (the RM writes back the size it allocated).
    @64 size: u64 = "size";
    /// Alignment.
    @72 alignment: u64 = "alignment";
    /// Offset.
    @80 offset: u64 = "offset";
    /// OUT limit.
    @88 limit: u64 = "limit";
    /// OUT address.
    @96 address: u64 = "address";
    /// Comptag offset.
    @104 ctag_offset: u32 = "ctagOffset";
    /// VA space.
    @108 h_va_space: u32 = "hVASpace";
    /// Internal flags.
    @112 internalflags: u32 = "internalflags";
    /// Tag.
    @116 tag: u32 = "tag";
    /// NUMA node.
    @120 numa_node: i32 = "numaNode";
    /// Padding.
    @124 pad1: u32 = "";
}

wire_struct! {
    /// `NV_MEMORY_VIRTUAL_ALLOCATION_PARAMS` (24 bytes): class 0x70.
    NvMemoryVirtualAllocationParams = "NV_MEMORY_VIRTUAL_ALLOCATION_PARAMS", size 24;
    /// Offset.
    @0 offset: u64 = "offset";
    /// Limit.
    @8 limit: u64 = "limit";
    /// VA space.
    @16 h_va_space: u32 = "hVASpace";
    /// Padding.
    @20 pad0: u32 = "";
}

wire_struct! {
    /// Map part of `NV00F8_ALLOCATION_PARAMETERS` (16 bytes).
    Nv00f8Map = "__typeof__(((NV00F8_ALLOCATION_PARAMETERS*)0)->map)", size 16;
    /// Offset into the video memory.
    @0 offset: u64 = "offset";
    /// Video memory to map into the fabric.
    @8 h_vid_mem: u32 = "hVidMem";
    /// Flags.
    @12 flags: u32 = "flags";
}

wire_struct! {
    /// `NV00F8_ALLOCATION_PARAMETERS` (48 bytes): class 0xf8.
    Nv00f8AllocationParameters = "NV00F8_ALLOCATION_PARAMETERS", size 48;
    /// Alignment.
    @0 alignment: u64 = "alignment";
    /// Size.
    @8 alloc_size: u64 = "allocSize";
    /// Page size.
    @16 page_size: u64 = "pageSize";
    /// Flags.
    @24 alloc_flags: u32 = "allocFlags";
    /// Padding.
    @28 pad0: u32 = "";
    /// Mapping of existing vidmem.
    @32 map: Nv00f8Map = "map";
}

wire_struct! {
    /// `NV0005_ALLOC_PARAMETERS` (24 bytes): event classes 0x5, 0x79.
    Nv0005AllocParameters = "NV0005_ALLOC_PARAMETERS", size 24;
    /// Client of the source.
    @0 h_parent_client: u32 = "hParentClient";
    /// Source resource.
    @4 h_src_resource: u32 = "hSrcResource";
    /// Event class.
    @8 h_class: u32 = "hClass";
    /// Notifier index.
    @12 notify_index: u32 = "notifyIndex";
    /// For `NV01_EVENT_OS_EVENT`: the fd number (a key only).
    @16 data: u64 = "data";
}

wire_struct! {
    /// `NV0080_ALLOC_PARAMETERS` (56 bytes): device 0x80.
    Nv0080AllocParameters = "NV0080_ALLOC_PARAMETERS", size 56;
    /// Device instance.
    @0 device_id: u32 = "deviceId";
    /// Client share.
    @4 h_client_share: u32 = "hClientShare";
    /// Target client.
    @8 h_target_client: u32 = "hTargetClient";
    /// Target device.
    @12 h_target_device: u32 = "hTargetDevice";
    /// Flags.
    @16 flags: u32 = "flags";
    /// Padding.
    @20 pad0: u32 = "";
    /// VA space size.
    @24 va_space_size: u64 = "vaSpaceSize";
    /// Internal VA start.
    @32 va_start_internal: u64 = "vaStartInternal";
    /// Internal VA limit.
    @40 va_limit_internal: u64 = "vaLimitInternal";
    /// VA mode.
    @48 va_mode: u32 = "vaMode";
    /// Padding.
    @52 pad1: u32 = "";
}

wire_struct! {
    /// `NV2080_ALLOC_PARAMETERS` (4 bytes): subdevice 0x2080.
    Nv2080AllocParameters = "NV2080_ALLOC_PARAMETERS", size 4;
    /// Subdevice instance.
    @0 sub_device_id: u32 = "subDeviceId";
}

wire_struct! {
    /// `NV_VASPACE_ALLOCATION_PARAMETERS` (56 bytes): 0x90f1.
    NvVaspaceAllocationParameters = "NV_VASPACE_ALLOCATION_PARAMETERS", size 56;
    /// Index.
    @0 index: u32 = "index";
    /// Flags.
    @4 flags: u32 = "flags";
    /// VA size.
    @8 va_size: u64 = "vaSize";
    /// Internal start.
    @16 va_start_internal: u64 = "vaStartInternal";
    /// Internal limit.
    @24 va_limit_internal: u64 = "vaLimitInternal";
    /// Big page size.
    @32 big_page_size: u32 = "bigPageSize";
    /// Padding.
    @36 pad0: u32 = "";
    /// VA base.
    @40 va_base: u64 = "vaBase";
    /// PASID.
    @48 pasid: u32 = "pasid";
    /// Padding.
    @52 pad1: u32 = "";
}

wire_struct! {
    /// `NV_CHANNEL_GROUP_ALLOCATION_PARAMETERS` (20 bytes): TSG 0xa06c.
    NvChannelGroupAllocationParameters = "NV_CHANNEL_GROUP_ALLOCATION_PARAMETERS", size 20;
    /// Error notifier.
    @0 h_object_error: u32 = "hObjectError";
    /// ECC error notifier.
    @4 h_object_ecc_error: u32 = "hObjectEccError";
    /// VA space.
    @8 h_va_space: u32 = "hVASpace";
    /// Engine type.
    @12 engine_type: u32 = "engineType";
    /// vGPU plugin context flag.
    @16 is_calling_context_vgpu_plugin: u8 = "bIsCallingContextVgpuPlugin";
    /// Padding.
    @17 pad0: [u8; 3] = "";
}

wire_struct! {
    /// `NV_CTXSHARE_ALLOCATION_PARAMETERS` (12 bytes): 0x9067.
    NvCtxshareAllocationParameters = "NV_CTXSHARE_ALLOCATION_PARAMETERS", size 12;
    /// VA space.
    @0 h_va_space: u32 = "hVASpace";
    /// Flags.
    @4 flags: u32 = "flags";
    /// Subcontext id.
    @8 subctx_id: u32 = "subctxId";
}

wire_struct! {
    /// `NV_MEMORY_DESC_PARAMS` (24 bytes).
    NvMemoryDescParams = "NV_MEMORY_DESC_PARAMS", size 24;
    /// Base.
    @0 base: u64 = "base";
    /// Size.
    @8 size: u64 = "size";
    /// Address space.
    @16 address_space: u32 = "addressSpace";
    /// Cache attribute.
    @20 cache_attrib: u32 = "cacheAttrib";
}

wire_struct! {
    /// `NV_CHANNEL_ALLOC_PARAMS` (368 bytes): GPFIFO channels (0xc36f ... 0xca6f).
    NvChannelAllocParams = "NV_CHANNEL_ALLOC_PARAMS", size 368;
    /// Error notifier.
    @0 h_object_error: u32 = "hObjectError";
    /// Push buffer memory.
    @4 h_object_buffer: u32 = "hObjectBuffer";
    /// GPFIFO offset.
    @8 gp_fifo_offset: u64 = "gpFifoOffset";
    /// GPFIFO entries.
    @16 gp_fifo_entries: u32 = "gpFifoEntries";
    /// `NVOS04_FLAGS_*`.
    @20 flags: u32 = "flags";
    /// Subcontext.
    @24 h_context_share: u32 = "hContextShare";
    /// VA space.
    @28 h_va_space: u32 = "hVASpace";
    /// USERD memory per subdevice.
    @32 h_userd_memory: [u32; 8] = "hUserdMemory";
    /// USERD offsets per subdevice.
    @64 userd_offset: [u64; 8] = "userdOffset";
    /// Engine type.
    @128 engine_type: u32 = "engineType";
    /// Channel id.
    @132 cid: u32 = "cid";
    /// Subdevice id.
    @136 sub_device_id: u32 = "subDeviceId";
    /// ECC error notifier.
    @140 h_object_ecc_error: u32 = "hObjectEccError";
    /// Instance memory.
    @144 instance_mem: NvMemoryDescParams = "instanceMem";
    /// USERD memory.
    @168 userd_mem: NvMemoryDescParams = "userdMem";
    /// RAMFC memory.
    @192 ramfc_mem: NvMemoryDescParams = "ramfcMem";
    /// Method buffer memory.
    @216 mthdbuf_mem: NvMemoryDescParams = "mthdbufMem";
    /// Physical channel group.
    @240 h_phys_channel_group: u32 = "hPhysChannelGroup";
    /// Internal flags.
    @244 internal_flags: u32 = "internalFlags";
    /// Error notifier memory.
    @248 error_notifier_mem: NvMemoryDescParams = "errorNotifierMem";
    /// ECC error notifier memory.
    @272 ecc_error_notifier_mem: NvMemoryDescParams = "eccErrorNotifierMem";
    /// Process id.
    @296 process_id: u32 = "ProcessID";
    /// Subprocess id.
    @300 sub_process_id: u32 = "SubProcessID";
    /// Confidential-compute encrypt IV.
    @304 encrypt_iv: [u32; 3] = "encryptIv";
    /// Confidential-compute decrypt IV.
    @316 decrypt_iv: [u32; 3] = "decryptIv";
    /// Confidential-compute HMAC nonce.
    @328 hmac_nonce: [u32; 8] = "hmacNonce";
    /// TPC configuration id.
    @360 tpc_config_id: u32 = "tpcConfigID";
    /// Padding.
    @364 pad0: u32 = "";
}

wire_struct! {
    /// `NV_GR_ALLOCATION_PARAMETERS` (16 bytes): compute classes (optional).
    NvGrAllocationParameters = "NV_GR_ALLOCATION_PARAMETERS", size 16;
    /// Version.
    @0 version: u32 = "version";
    /// Flags.
    @4 flags: u32 = "flags";
    /// Size.
    @8 size: u32 = "size";
    /// Caps.
    @12 caps: u32 = "caps";
}

wire_struct! {
    /// `NV_HOPPER_USERMODE_A_PARAMS` (2 bytes): 0xc661/0xc761 (optional).
    NvHopperUsermodeAParams = "NV_HOPPER_USERMODE_A_PARAMS", size 2;
    /// BAR1 (vs BAR0) mapping.
    @0 bar1_mapping: u8 = "bBar1Mapping";
    /// Privileged page.
    @1 priv_: u8 = "bPriv";
}

wire_struct! {
    /// `NVB0B5_ALLOCATION_PARAMETERS` (8 bytes): the copy-engine classes
    /// (`*_DMA_COPY_*`), optional.
    NvB0b5AllocationParameters = "NVB0B5_ALLOCATION_PARAMETERS", size 8;
    /// Version.
    @0 version: u32 = "version";
    /// Copy engine (`NV2080_ENGINE_TYPE_COPY*`).
    @4 engine_type: u32 = "engineType";
}

wire_struct! {
    /// `NVC637_ALLOCATION_PARAMETERS` (16 bytes): `AMPERE_SMC_PARTITION_REF`.
    NvC637AllocationParameters = "NVC637_ALLOCATION_PARAMETERS", size 16;
    /// A `/dev/nvidia-caps/nvidia-capN` fd (`nv_cap_validate_and_dup_fd`).
    @0 cap_descriptor: u64 = "capDescriptor";
    /// MIG GPU instance (swizzle id).
    @8 swizz_id: u32 = "swizzId";
    /// Padding.
    @12 pad0: u32 = "";
}

wire_struct! {
    /// `NVC639_ALLOCATION_PARAMETERS` (8 bytes): `AMPERE_SMC_CONFIG_SESSION`.
    NvC639AllocationParameters = "NVC639_ALLOCATION_PARAMETERS", size 8;
    /// A `/dev/nvidia-caps/nvidia-capN` fd (MIG config capability).
    @0 cap_descriptor: u64 = "capDescriptor";
}

wire_struct! {
    /// `NVC640_ALLOCATION_PARAMETERS` (8 bytes): `AMPERE_SMC_MONITOR_SESSION`.
    NvC640AllocationParameters = "NVC640_ALLOCATION_PARAMETERS", size 8;
    /// A `/dev/nvidia-caps/nvidia-capN` fd (MIG monitor capability).
    @0 cap_descriptor: u64 = "capDescriptor";
}

wire_struct! {
    /// `NV00DE_ALLOC_PARAMETERS` (8 bytes): `RM_USER_SHARED_DATA`.
    Nv00deAllocParameters = "NV00DE_ALLOC_PARAMETERS", size 8;
    /// Data the RM should poll from the start (`NV00DE_RUSD_POLL_*`), 0 for none.
    @0 polled_data_mask: u64 = "polledDataMask";
}

wire_struct! {
    /// `NV2081_ALLOC_PARAMETERS` (4 bytes): `NV2081_BINAPI`, optional.
    Nv2081AllocParameters = "NV2081_ALLOC_PARAMETERS", size 4;
    /// Reserved.
    @0 reserved: u32 = "reserved";
}

wire_struct! {
    /// `NV503C_ALLOC_PARAMETERS` (4 bytes): `NV50_THIRD_PARTY_P2P`, optional.
    Nv503cAllocParameters = "NV503C_ALLOC_PARAMETERS", size 4;
    /// `NV503C_ALLOC_PARAMETERS_FLAGS_TYPE_*` (proprietary, BAR1, NVLink).
    @0 flags: u32 = "flags";
}

wire_struct! {
    /// `NV83DE_ALLOC_PARAMETERS` (12 bytes): `GT200_DEBUGGER`, required.
    Nv83deAllocParameters = "NV83DE_ALLOC_PARAMETERS", size 12;
    /// Must be 0.
    @0 h_debugger_client_obsolete: u32 = "hDebuggerClient_Obsolete";
    /// Client being debugged.
    @4 h_app_client: u32 = "hAppClient";
    /// Its compute (or 3D) object.
    @8 h_class3d_object: u32 = "hClass3dObject";
}

wire_struct! {
    /// `NV_CONFIDENTIAL_COMPUTE_ALLOC_PARAMS` (4 bytes): `NV_CONFIDENTIAL_COMPUTE`, optional.
    NvConfidentialComputeAllocParams = "NV_CONFIDENTIAL_COMPUTE_ALLOC_PARAMS", size 4;
    /// Client.
    @0 h_client: u32 = "hClient";
}

/// How a class takes allocation parameters (`resource_list.h`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ParamSpec {
    /// No parameters (`RS_NONE`).
    None,
    /// Required block of this size (`RS_REQUIRED`).
    Required(usize),
    /// Optional block of this size, read only if `pAllocParms` is non-null (`RS_OPTIONAL`).
    Optional(usize),
    /// The class takes parameters whose layout is not declared here.
    Undeclared,
}

impl ParamSpec {
    /// Bytes the RM copies from `pAllocParms` (given whether it is null), if known.
    pub const fn copy_size(self, ptr_is_null: bool) -> Option<usize> {
        match self {
            ParamSpec::None => Some(0),
            ParamSpec::Required(n) => Some(n),
            ParamSpec::Optional(n) => Some(if ptr_is_null { 0 } else { n }),
            ParamSpec::Undeclared => None,
        }
    }
}

/// What kind of object a class creates.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClassKind {
    /// A client.
    Client,
    /// A device.
    Device,
    /// A subdevice.
    Subdevice,
    /// A memory object with `NV_MEMORY_ALLOCATION_PARAMS`.
    Memory,
    /// Another memory-like object (virtual, fabric, export, ...).
    OtherMemory,
    /// An event.
    Event,
    /// A VA space.
    VaSpace,
    /// A channel group (TSG).
    ChannelGroup,
    /// A subcontext.
    ContextShare,
    /// A GPFIFO channel.
    Channel,
    /// A doorbell (usermode) object.
    Usermode,
    /// A compute engine object.
    Compute,
    /// A copy engine object.
    Copy,
    /// A session that takes an nvidia-caps capability fd (MIG).
    CapSession,
    /// `RM_USER_SHARED_DATA`: a mappable page with live memory figures.
    SharedData,
    /// Anything else.
    Other,
}

/// Facts about one class.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClassInfo {
    /// Class id.
    pub class: u32,
    /// C name.
    pub name: &'static str,
    /// Kind.
    pub kind: ClassKind,
    /// Allocation parameters.
    pub params: ParamSpec,
}

use super::wire::Wire;
use ClassKind as K;
use ParamSpec as P;

macro_rules! classes {
    ($( $c:ident, $k:ident, $p:expr; )*) => {
        /// Classes whose parameters are known (from `resource_list.h`, 580.142).
        pub const CLASSES: &[ClassInfo] = &[
            $( ClassInfo { class: $c, name: stringify!($c), kind: K::$k, params: $p }, )*
        ];
    };
}

const MEM: ParamSpec = P::Required(NvMemoryAllocationParams::SIZE);
const CHAN: ParamSpec = P::Required(NvChannelAllocParams::SIZE);
const GR: ParamSpec = P::Optional(NvGrAllocationParameters::SIZE);
const CE: ParamSpec = P::Optional(NvB0b5AllocationParameters::SIZE);

classes! {
    NV01_ROOT, Client, P::Optional(4);
    NV01_ROOT_NON_PRIV, Client, P::Optional(4);
    NV01_ROOT_CLIENT, Client, P::Optional(4);
    NV01_DEVICE_0, Device, P::Optional(Nv0080AllocParameters::SIZE);
    NV20_SUBDEVICE_0, Subdevice, P::Optional(Nv2080AllocParameters::SIZE);
    NV01_MEMORY_LOCAL_USER, Memory, MEM;
    NV01_MEMORY_SYSTEM, Memory, MEM;
    NV_MEMORY_EXTENDED_USER, Memory, MEM;
    NV50_MEMORY_VIRTUAL, Memory, MEM;
    NV01_MEMORY_DEVICELESS, Memory, MEM;
    NV01_MEMORY_LOCAL_PRIVILEGED, OtherMemory, P::None;
    NV01_MEMORY_VIRTUAL, OtherMemory, P::Required(NvMemoryVirtualAllocationParams::SIZE);
    NV01_MEMORY_SYSTEM_OS_DESCRIPTOR, OtherMemory, P::Undeclared;
    NV01_MEMORY_LOCAL_PHYSICAL, OtherMemory, P::Undeclared;
    NV01_MEMORY_HW_RESOURCES, OtherMemory, P::Undeclared;
    NV_MEMORY_FABRIC, OtherMemory, P::Required(Nv00f8AllocationParameters::SIZE);
    NV_MEMORY_FABRIC_IMPORT_V2, OtherMemory, P::Undeclared;
    NV_MEMORY_FABRIC_IMPORTED_REF, OtherMemory, P::Undeclared;
    NV_MEMORY_MULTICAST_FABRIC, OtherMemory, P::Undeclared;
    NV_MEMORY_MAPPER, OtherMemory, P::Undeclared;
    NV_MEMORY_EXPORT, OtherMemory, P::Undeclared;
    NV01_EVENT, Event, P::Required(Nv0005AllocParameters::SIZE);
    NV01_EVENT_OS_EVENT, Event, P::Required(Nv0005AllocParameters::SIZE);
    FERMI_VASPACE_A, VaSpace, P::Required(NvVaspaceAllocationParameters::SIZE);
    KEPLER_CHANNEL_GROUP_A, ChannelGroup, P::Required(NvChannelGroupAllocationParameters::SIZE);
    FERMI_CONTEXT_SHARE_A, ContextShare, P::Required(NvCtxshareAllocationParameters::SIZE);
    KEPLER_CHANNEL_GPFIFO_A, Channel, CHAN;
    VOLTA_CHANNEL_GPFIFO_A, Channel, CHAN;
    TURING_CHANNEL_GPFIFO_A, Channel, CHAN;
    AMPERE_CHANNEL_GPFIFO_A, Channel, CHAN;
    HOPPER_CHANNEL_GPFIFO_A, Channel, CHAN;
    BLACKWELL_CHANNEL_GPFIFO_A, Channel, CHAN;
    BLACKWELL_CHANNEL_GPFIFO_B, Channel, CHAN;
    VOLTA_USERMODE_A, Usermode, P::None;
    TURING_USERMODE_A, Usermode, P::None;
    AMPERE_USERMODE_A, Usermode, P::None;
    HOPPER_USERMODE_A, Usermode, P::Optional(NvHopperUsermodeAParams::SIZE);
    BLACKWELL_USERMODE_A, Usermode, P::Optional(NvHopperUsermodeAParams::SIZE);
    AMPERE_COMPUTE_A, Compute, GR;
    AMPERE_COMPUTE_B, Compute, GR;
    ADA_COMPUTE_A, Compute, GR;
    HOPPER_COMPUTE_A, Compute, GR;
    BLACKWELL_COMPUTE_A, Compute, GR;
    BLACKWELL_COMPUTE_B, Compute, GR;
    AMPERE_DMA_COPY_A, Copy, CE;
    AMPERE_DMA_COPY_B, Copy, CE;
    HOPPER_DMA_COPY_A, Copy, CE;
    BLACKWELL_DMA_COPY_A, Copy, CE;
    BLACKWELL_DMA_COPY_B, Copy, CE;
    AMPERE_SMC_PARTITION_REF, CapSession, P::Required(NvC637AllocationParameters::SIZE);
    AMPERE_SMC_CONFIG_SESSION, CapSession, P::Required(NvC639AllocationParameters::SIZE);
    AMPERE_SMC_MONITOR_SESSION, CapSession, P::Required(NvC640AllocationParameters::SIZE);
    RM_USER_SHARED_DATA, SharedData, P::Required(Nv00deAllocParameters::SIZE);
    NV04_DISPLAY_COMMON, Other, P::None;
    NV2081_BINAPI, Other, P::Optional(Nv2081AllocParameters::SIZE);
    NV20_SUBDEVICE_DIAG, Other, P::None;
    NV50_THIRD_PARTY_P2P, Other, P::Optional(Nv503cAllocParameters::SIZE);
    GT200_DEBUGGER, Other, P::Required(Nv83deAllocParameters::SIZE);
    GF100_SUBDEVICE_MASTER, Other, P::None;
    NV_CONFIDENTIAL_COMPUTE, Other, P::Optional(NvConfidentialComputeAllocParams::SIZE);
}

/// Facts about `class`, if it is one of [`CLASSES`].
pub fn class_info(class: u32) -> Option<ClassInfo> {
    CLASSES.iter().find(|c| c.class == class).copied()
}

/// The C name of a class, or `"<unknown class>"`.
pub fn class_name(class: u32) -> &'static str {
    super::wire::const_name(CLASS_IDS, u64::from(class)).unwrap_or("<unknown class>")
}

/// The class the driver actually allocates: client classes are forced to
/// `NV01_ROOT_CLIENT` by `RmIoctl`.
pub const fn effective_class(class: u32) -> u32 {
    match class {
        NV01_ROOT | NV01_ROOT_NON_PRIV | NV01_ROOT_CLIENT => NV01_ROOT_CLIENT,
        other => other,
    }
}

/// Whether `RmIoctl` accepts an `RM_ALLOC` of this class on a GPU file
/// (event classes) rather than only on the ctl file.
pub const fn alloc_allowed_on_gpu_file(class: u32) -> bool {
    matches!(
        class,
        NV01_EVENT
            | NV01_EVENT_OS_EVENT
            | NV01_EVENT_KERNEL_CALLBACK
            | NV01_EVENT_KERNEL_CALLBACK_EX
    )
}

#[cfg(all(test, not(MODULE)))]
mod tests {
    use super::*;

    #[test]
    fn sizes_match_research_notes() {
        assert_eq!(NvMemoryAllocationParams::SIZE, 128);
        assert_eq!(Nv0080AllocParameters::SIZE, 56);
        assert_eq!(NvVaspaceAllocationParameters::SIZE, 56);
        assert_eq!(NvChannelGroupAllocationParameters::SIZE, 20);
        assert_eq!(NvCtxshareAllocationParameters::SIZE, 12);
        assert_eq!(NvChannelAllocParams::SIZE, 368);
        assert_eq!(Nv0005AllocParameters::SIZE, 24);
        assert_eq!(Nv00f8AllocationParameters::SIZE, 48);
        assert_eq!(
            core::mem::offset_of!(NvChannelAllocParams, tpc_config_id),
            360
        );
    }

    #[test]
    fn round_trips() {
        let mut m = NvMemoryAllocationParams::ZERO;
        m.size = 1 << 30;
        m.attr = 0x1 << 25;
        m.flags = NVOS32_ALLOC_FLAGS_VIRTUAL;
        m.numa_node = -1;
        let mut b = [0u8; 128];
        assert!(m.write(&mut b));
        assert_eq!(&b[64..72], &(1u64 << 30).to_le_bytes());
        assert_eq!(NvMemoryAllocationParams::read(&b), Some(m));
        assert_eq!(attr_location(m.attr), NVOS32_ATTR_LOCATION_PCI);

        let mut c = NvChannelAllocParams::ZERO;
        c.h_userd_memory[7] = 9;
        c.hmac_nonce[7] = 0xabcd;
        c.instance_mem.size = 77;
        let mut b = [0u8; 368];
        assert!(c.write(&mut b));
        assert_eq!(NvChannelAllocParams::read(&b), Some(c));
        assert_eq!(b[32 + 28], 9);
        assert_eq!(&b[328 + 28..328 + 32], &0xabcdu32.to_le_bytes());
    }

    #[test]
    fn class_table() {
        for c in CLASSES {
            assert_eq!(class_name(c.class), c.name);
        }
        assert_eq!(class_info(0x40).map(|c| c.kind), Some(ClassKind::Memory));
        assert_eq!(
            class_info(0xa06c).map(|c| c.params),
            Some(ParamSpec::Required(20))
        );
        assert_eq!(class_info(0xdead), None);
        assert_eq!(effective_class(0), 0x41);
        assert!(alloc_allowed_on_gpu_file(0x79));
        assert!(!alloc_allowed_on_gpu_file(0x40));
    }
}
