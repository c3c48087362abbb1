// SPDX-License-Identifier: GPL-2.0

//! `/dev/nvidia-uvm` (and `/dev/nvidia-uvm-tools`) ioctls, driver 580.142
//! (`kernel-open/nvidia-uvm/uvm_ioctl.h`, `uvm_linux_ioctl.h`).
//!
//! UVM commands are **plain integers** (`UVM_IOCTL_BASE(i) = i` on Linux),
//! not `_IOC` encoded, so the argument size is not in the command: the
//! handler copies `sizeof(<CMD>_PARAMS)` bytes. [`uvm_param_size`] is that
//! table. Each handler stores its result in `rmStatus` and returns 0.
//!
//! The sizes in [`UVM_IOCTLS`] are checked by the layout test against
//! `sizeof(<NAME>_PARAMS)`. The set of commands equals the dispatch tables
//! of 580.142: the 45 `UVM_ROUTE_CMD_*` entries plus `UVM_DEINITIALIZE` of
//! `uvm.c`, and the 7 tools commands of `uvm_tools.c` (compared by script,
//! not by a test). The tools file has its own switch, which answers
//! `-EINVAL` to anything else; [`UvmIoctl::tools`] says which file a
//! command belongs to.

abi_consts! {
    /// UVM commands.
    UVM_CMDS: u32 {
        /// Initialize the VA space of this file.
        UVM_INITIALIZE = 0x3000_0001;
        /// Tear down.
        UVM_DEINITIALIZE = 0x3000_0002;
        /// Create a range group.
        UVM_CREATE_RANGE_GROUP = 23;
        /// Destroy a range group.
        UVM_DESTROY_RANGE_GROUP = 24;
        /// Register an RM VA space (rmCtrlFd @16).
        UVM_REGISTER_GPU_VASPACE = 25;
        /// Unregister a VA space.
        UVM_UNREGISTER_GPU_VASPACE = 26;
        /// Register an RM channel (rmCtrlFd @16).
        UVM_REGISTER_CHANNEL = 27;
        /// Unregister a channel.
        UVM_UNREGISTER_CHANNEL = 28;
        /// Enable peer access.
        UVM_ENABLE_PEER_ACCESS = 29;
        /// Disable peer access.
        UVM_DISABLE_PEER_ACCESS = 30;
        /// Set range group.
        UVM_SET_RANGE_GROUP = 31;
        /// Map RM memory into an external range (rmCtrlFd @9248).
        UVM_MAP_EXTERNAL_ALLOCATION = 33;
        /// Free a range.
        UVM_FREE = 34;
        /// Register a GPU (rmCtrlFd @24).
        UVM_REGISTER_GPU = 37;
        /// Unregister a GPU.
        UVM_UNREGISTER_GPU = 38;
        /// Pageable memory access query.
        UVM_PAGEABLE_MEM_ACCESS = 39;
        /// Prevent migration.
        UVM_PREVENT_MIGRATION_RANGE_GROUPS = 40;
        /// Allow migration.
        UVM_ALLOW_MIGRATION_RANGE_GROUPS = 41;
        /// Preferred location.
        UVM_SET_PREFERRED_LOCATION = 42;
        /// Unset preferred location.
        UVM_UNSET_PREFERRED_LOCATION = 43;
        /// Read duplication on.
        UVM_ENABLE_READ_DUPLICATION = 44;
        /// Read duplication off.
        UVM_DISABLE_READ_DUPLICATION = 45;
        /// Accessed-by.
        UVM_SET_ACCESSED_BY = 46;
        /// Unset accessed-by.
        UVM_UNSET_ACCESSED_BY = 47;
        /// Migrate (prefetch).
        UVM_MIGRATE = 51;
        /// Migrate a range group.
        UVM_MIGRATE_RANGE_GROUP = 53;
        /// System-wide atomics on.
        UVM_ENABLE_SYSTEM_WIDE_ATOMICS = 54;
        /// System-wide atomics off.
        UVM_DISABLE_SYSTEM_WIDE_ATOMICS = 55;
        /// Tools: event tracker (uvmFd @44), on nvidia-uvm-tools.
        UVM_TOOLS_INIT_EVENT_TRACKER = 56;
        /// Tools: notification threshold (nvidia-uvm-tools).
        UVM_TOOLS_SET_NOTIFICATION_THRESHOLD = 57;
        /// Tools: enable events (nvidia-uvm-tools).
        UVM_TOOLS_EVENT_QUEUE_ENABLE_EVENTS = 58;
        /// Tools: disable events (nvidia-uvm-tools).
        UVM_TOOLS_EVENT_QUEUE_DISABLE_EVENTS = 59;
        /// Tools: enable counters (nvidia-uvm-tools).
        UVM_TOOLS_ENABLE_COUNTERS = 60;
        /// Tools: disable counters (nvidia-uvm-tools).
        UVM_TOOLS_DISABLE_COUNTERS = 61;
        /// Tools: read process memory.
        UVM_TOOLS_READ_PROCESS_MEMORY = 62;
        /// Tools: write process memory.
        UVM_TOOLS_WRITE_PROCESS_MEMORY = 63;
        /// Tools: processor UUID table.
        UVM_TOOLS_GET_PROCESSOR_UUID_TABLE = 64;
        /// Dynamic parallelism region.
        UVM_MAP_DYNAMIC_PARALLELISM_REGION = 65;
        /// Unmap external.
        UVM_UNMAP_EXTERNAL = 66;
        /// Tools: flush events.
        UVM_TOOLS_FLUSH_EVENTS = 67;
        /// Semaphore pool.
        UVM_ALLOC_SEMAPHORE_POOL = 68;
        /// Clean up zombies.
        UVM_CLEAN_UP_ZOMBIE_RESOURCES = 69;
        /// Pageable access on GPU.
        UVM_PAGEABLE_MEM_ACCESS_ON_GPU = 70;
        /// Populate pageable.
        UVM_POPULATE_PAGEABLE = 71;
        /// Validate a VA range.
        UVM_VALIDATE_VA_RANGE = 72;
        /// Create an external range.
        UVM_CREATE_EXTERNAL_RANGE = 73;
        /// Map external sparse.
        UVM_MAP_EXTERNAL_SPARSE = 74;
        /// Bind this (second) file to the mm of a VA-space file (uvmFd @0).
        UVM_MM_INITIALIZE = 75;
        /// Tools: event tracker v2 (uvmFd @44).
        UVM_TOOLS_INIT_EVENT_TRACKER_V2 = 76;
        /// Tools: processor UUID table v2.
        UVM_TOOLS_GET_PROCESSOR_UUID_TABLE_V2 = 77;
        /// Device P2P allocation (rmCtrlFd @40).
        UVM_ALLOC_DEVICE_P2P = 78;
        /// Clear access counters.
        UVM_CLEAR_ALL_ACCESS_COUNTERS = 79;
        /// Discard.
        UVM_DISCARD = 80;
    }
}

wire_struct! {
    /// `UVM_INITIALIZE_PARAMS` (16 bytes).
    UvmInitializeParams = "UVM_INITIALIZE_PARAMS", size 16;
    /// Flags.
    @0 flags: u64 = "flags";
    /// OUT status.
    @8 rm_status: u32 = "rmStatus";
    /// Padding.
    @12 pad0: u32 = "";
}

wire_struct! {
    /// `UVM_MM_INITIALIZE_PARAMS` (8 bytes).
    UvmMmInitializeParams = "UVM_MM_INITIALIZE_PARAMS", size 8;
    /// A UVM VA-space fd; UVM `fget`s it, checks `f_op` and keeps it.
    @0 uvm_fd: i32 = "uvmFd";
    /// OUT status.
    @4 rm_status: u32 = "rmStatus";
}

wire_struct! {
    /// `UVM_REGISTER_GPU_PARAMS` (40 bytes).
    UvmRegisterGpuParams = "UVM_REGISTER_GPU_PARAMS", size 40;
    /// IN/OUT GPU UUID.
    @0 gpu_uuid: [u8; 16] = "gpu_uuid";
    /// OUT NUMA enabled.
    @16 numa_enabled: u8 = "numaEnabled";
    /// Padding.
    @17 pad0: [u8; 3] = "";
    /// OUT NUMA node.
    @20 numa_node_id: i32 = "numaNodeId";
    /// RM ctl fd (carried but not validated by UVM in 580).
    @24 rm_ctrl_fd: i32 = "rmCtrlFd";
    /// RM client.
    @28 h_client: u32 = "hClient";
    /// SMC partition reference.
    @32 h_smc_part_ref: u32 = "hSmcPartRef";
    /// OUT status.
    @36 rm_status: u32 = "rmStatus";
}

wire_struct! {
    /// `UVM_UNREGISTER_GPU_PARAMS` (20 bytes).
    UvmUnregisterGpuParams = "UVM_UNREGISTER_GPU_PARAMS", size 20;
    /// GPU UUID.
    @0 gpu_uuid: [u8; 16] = "gpu_uuid";
    /// OUT status.
    @16 rm_status: u32 = "rmStatus";
}

wire_struct! {
    /// `UVM_REGISTER_GPU_VASPACE_PARAMS` (32 bytes).
    UvmRegisterGpuVaspaceParams = "UVM_REGISTER_GPU_VASPACE_PARAMS", size 32;
    /// GPU UUID.
    @0 gpu_uuid: [u8; 16] = "gpuUuid";
    /// RM ctl fd (not validated).
    @16 rm_ctrl_fd: i32 = "rmCtrlFd";
    /// RM client.
    @20 h_client: u32 = "hClient";
    /// RM VA space.
    @24 h_va_space: u32 = "hVaSpace";
    /// OUT status.
    @28 rm_status: u32 = "rmStatus";
}

wire_struct! {
    /// `UVM_UNREGISTER_GPU_VASPACE_PARAMS` (20 bytes).
    UvmUnregisterGpuVaspaceParams = "UVM_UNREGISTER_GPU_VASPACE_PARAMS", size 20;
    /// GPU UUID.
    @0 gpu_uuid: [u8; 16] = "gpuUuid";
    /// OUT status.
    @16 rm_status: u32 = "rmStatus";
}

wire_struct! {
    /// `UVM_REGISTER_CHANNEL_PARAMS` (56 bytes).
    UvmRegisterChannelParams = "UVM_REGISTER_CHANNEL_PARAMS", size 56;
    /// GPU UUID.
    @0 gpu_uuid: [u8; 16] = "gpuUuid";
    /// RM ctl fd (not validated).
    @16 rm_ctrl_fd: i32 = "rmCtrlFd";
    /// RM client.
    @20 h_client: u32 = "hClient";
    /// RM channel.
    @24 h_channel: u32 = "hChannel";
    /// Padding.
    @28 pad0: u32 = "";
    /// Base VA.
    @32 base: u64 = "base";
    /// Length.
    @40 length: u64 = "length";
    /// OUT status.
    @48 rm_status: u32 = "rmStatus";
    /// Padding.
    @52 pad1: u32 = "";
}

wire_struct! {
    /// `UVM_UNREGISTER_CHANNEL_PARAMS` (28 bytes).
    UvmUnregisterChannelParams = "UVM_UNREGISTER_CHANNEL_PARAMS", size 28;
    /// GPU UUID.
    @0 gpu_uuid: [u8; 16] = "gpuUuid";
    /// RM client.
    @16 h_client: u32 = "hClient";
    /// RM channel.
    @20 h_channel: u32 = "hChannel";
    /// OUT status.
    @24 rm_status: u32 = "rmStatus";
}

wire_struct! {
    /// `UvmGpuMappingAttributes` (36 bytes).
    UvmGpuMappingAttributes = "UvmGpuMappingAttributes", size 36;
    /// GPU UUID.
    @0 gpu_uuid: [u8; 16] = "gpuUuid";
    /// Mapping type.
    @16 gpu_mapping_type: u32 = "gpuMappingType";
    /// Caching type.
    @20 gpu_caching_type: u32 = "gpuCachingType";
    /// Format type.
    @24 gpu_format_type: u32 = "gpuFormatType";
    /// Element bits.
    @28 gpu_element_bits: u32 = "gpuElementBits";
    /// Compression type.
    @32 gpu_compression_type: u32 = "gpuCompressionType";
}

wire_struct! {
    /// `UVM_MAP_EXTERNAL_ALLOCATION_PARAMS` (9264 bytes). Large: in the
    /// kernel read single fields rather than the whole struct.
    UvmMapExternalAllocationParams = "UVM_MAP_EXTERNAL_ALLOCATION_PARAMS", size 9264;
    /// Base VA (inside an external range).
    @0 base: u64 = "base";
    /// Length.
    @8 length: u64 = "length";
    /// Offset into the RM memory.
    @16 offset: u64 = "offset";
    /// Per-GPU attributes (256 = `UVM_MAX_GPUS`).
    @24 per_gpu_attributes: [UvmGpuMappingAttributes; 256] = "perGpuAttributes";
    /// Entries used.
    @9240 gpu_attributes_count: u64 = "gpuAttributesCount";
    /// RM ctl fd (not validated).
    @9248 rm_ctrl_fd: i32 = "rmCtrlFd";
    /// RM client.
    @9252 h_client: u32 = "hClient";
    /// RM memory.
    @9256 h_memory: u32 = "hMemory";
    /// OUT status.
    @9260 rm_status: u32 = "rmStatus";
}

wire_struct! {
    /// `UVM_CREATE_EXTERNAL_RANGE_PARAMS` (24 bytes).
    UvmCreateExternalRangeParams = "UVM_CREATE_EXTERNAL_RANGE_PARAMS", size 24;
    /// Base VA.
    @0 base: u64 = "base";
    /// Length.
    @8 length: u64 = "length";
    /// OUT status.
    @16 rm_status: u32 = "rmStatus";
    /// Padding.
    @20 pad0: u32 = "";
}

wire_struct! {
    /// `UVM_FREE_PARAMS` (24 bytes).
    UvmFreeParams = "UVM_FREE_PARAMS", size 24;
    /// Base VA.
    @0 base: u64 = "base";
    /// Length.
    @8 length: u64 = "length";
    /// OUT status.
    @16 rm_status: u32 = "rmStatus";
    /// Padding.
    @20 pad0: u32 = "";
}

wire_struct! {
    /// `UVM_UNMAP_EXTERNAL_PARAMS` (40 bytes).
    UvmUnmapExternalParams = "UVM_UNMAP_EXTERNAL_PARAMS", size 40;
    /// Base VA.
    @0 base: u64 = "base";
    /// Length.
    @8 length: u64 = "length";
    /// GPU UUID.
    @16 gpu_uuid: [u8; 16] = "gpuUuid";
    /// OUT status.
    @32 rm_status: u32 = "rmStatus";
    /// Padding.
    @36 pad0: u32 = "";
}

wire_struct! {
    /// `UVM_MAP_EXTERNAL_SPARSE_PARAMS` (40 bytes).
    UvmMapExternalSparseParams = "UVM_MAP_EXTERNAL_SPARSE_PARAMS", size 40;
    /// Base VA.
    @0 base: u64 = "base";
    /// Length.
    @8 length: u64 = "length";
    /// GPU UUID.
    @16 gpu_uuid: [u8; 16] = "gpuUuid";
    /// OUT status.
    @32 rm_status: u32 = "rmStatus";
    /// Padding.
    @36 pad0: u32 = "";
}

wire_struct! {
    /// `UVM_ALLOC_DEVICE_P2P_PARAMS` (56 bytes).
    UvmAllocDeviceP2pParams = "UVM_ALLOC_DEVICE_P2P_PARAMS", size 56;
    /// Base VA.
    @0 base: u64 = "base";
    /// Length.
    @8 length: u64 = "length";
    /// Offset.
    @16 offset: u64 = "offset";
    /// GPU UUID.
    @24 gpu_uuid: [u8; 16] = "gpuUuid";
    /// RM ctl fd (not validated).
    @40 rm_ctrl_fd: i32 = "rmCtrlFd";
    /// RM client.
    @44 h_client: u32 = "hClient";
    /// RM memory.
    @48 h_memory: u32 = "hMemory";
    /// OUT status.
    @52 rm_status: u32 = "rmStatus";
}

wire_struct! {
    /// `UVM_MIGRATE_PARAMS` (80 bytes).
    UvmMigrateParams = "UVM_MIGRATE_PARAMS", size 80;
    /// Base VA (page-aligned, nonzero).
    @0 base: u64 = "base";
    /// Length (page-aligned; 0 only to release a semaphore).
    @8 length: u64 = "length";
    /// Destination processor: a registered GPU's UUID, or all zero (the CPU).
    @16 destination_uuid: [u8; 16] = "destinationUuid";
    /// `UVM_MIGRATE_FLAG_*`.
    @32 flags: u32 = "flags";
    /// Padding.
    @36 pad0: u32 = "";
    /// Semaphore to release when done (asynchronous migrations only).
    @40 semaphore_address: u64 = "semaphoreAddress";
    /// Its payload.
    @48 semaphore_payload: u32 = "semaphorePayload";
    /// CPU NUMA node of a migration to the CPU (-1: any).
    @52 cpu_numa_node: i32 = "cpuNumaNode";
    /// OUT: pageable range left to user space (ATS).
    @56 user_space_start: u64 = "userSpaceStart";
    /// OUT: its length.
    @64 user_space_length: u64 = "userSpaceLength";
    /// OUT status.
    @72 rm_status: u32 = "rmStatus";
    /// Padding.
    @76 pad1: u32 = "";
}

/// `UVM_MIGRATE_FLAG_ASYNC`: may return before the migration is done.
pub const UVM_MIGRATE_FLAG_ASYNC: u32 = 0x1;
/// `UVM_MIGRATE_FLAG_SKIP_CPU_MAP` (a test flag).
pub const UVM_MIGRATE_FLAG_SKIP_CPU_MAP: u32 = 0x2;
/// `UVM_MIGRATE_FLAG_NO_GPU_VA_SPACE` (a test flag).
pub const UVM_MIGRATE_FLAG_NO_GPU_VA_SPACE: u32 = 0x4;
/// `UVM_MIGRATE_FLAGS_TEST_ALL`: refused unless the driver was loaded with
/// `uvm_enable_builtin_tests=1`.
pub const UVM_MIGRATE_FLAGS_TEST_ALL: u32 =
    UVM_MIGRATE_FLAG_SKIP_CPU_MAP | UVM_MIGRATE_FLAG_NO_GPU_VA_SPACE;
/// `UVM_MIGRATE_FLAGS_ALL`.
pub const UVM_MIGRATE_FLAGS_ALL: u32 = UVM_MIGRATE_FLAG_ASYNC | UVM_MIGRATE_FLAGS_TEST_ALL;

wire_struct! {
    /// `UVM_VALIDATE_VA_RANGE_PARAMS` (24 bytes).
    UvmValidateVaRangeParams = "UVM_VALIDATE_VA_RANGE_PARAMS", size 24;
    /// Base VA.
    @0 base: u64 = "base";
    /// Length.
    @8 length: u64 = "length";
    /// OUT status.
    @16 rm_status: u32 = "rmStatus";
    /// Padding.
    @20 pad0: u32 = "";
}

wire_struct! {
    /// `UVM_TOOLS_INIT_EVENT_TRACKER_PARAMS` (56 bytes), also used by the v2 command.
    UvmToolsInitEventTrackerParams = "UVM_TOOLS_INIT_EVENT_TRACKER_PARAMS", size 56;
    /// Queue buffer.
    @0 queue_buffer: u64 = "queueBuffer";
    /// Queue buffer size.
    @8 queue_buffer_size: u64 = "queueBufferSize";
    /// Control buffer.
    @16 control_buffer: u64 = "controlBuffer";
    /// Processor UUID.
    @24 processor: [u8; 16] = "processor";
    /// All processors.
    @40 all_processors: u32 = "allProcessors";
    /// A UVM VA-space fd (`fget` + `f_op` check; kept).
    @44 uvm_fd: u32 = "uvmFd";
    /// OUT status.
    @48 rm_status: u32 = "rmStatus";
    /// Padding.
    @52 pad0: u32 = "";
}

/// One UVM command: number, name and parameter size.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UvmIoctl {
    /// Command number.
    pub cmd: u32,
    /// C name (the parameter type is `<name>_PARAMS`).
    pub name: &'static str,
    /// `sizeof(<name>_PARAMS)`; 0 where the command takes no parameters.
    pub size: usize,
    /// Whether it is a `/dev/nvidia-uvm-tools` command.
    pub tools: bool,
}

macro_rules! uvm_table {
    ($( $c:ident, $size:expr, $tools:expr; )*) => {
        /// UVM commands with their parameter sizes.
        pub const UVM_IOCTLS: &[UvmIoctl] = &[
            $( UvmIoctl { cmd: $c, name: stringify!($c), size: $size, tools: $tools }, )*
        ];
    };
}

use super::wire::Wire;

uvm_table! {
    UVM_INITIALIZE, UvmInitializeParams::SIZE, false;
    UVM_DEINITIALIZE, 0, false;
    UVM_CREATE_RANGE_GROUP, 16, false;
    UVM_DESTROY_RANGE_GROUP, 16, false;
    UVM_REGISTER_GPU_VASPACE, UvmRegisterGpuVaspaceParams::SIZE, false;
    UVM_UNREGISTER_GPU_VASPACE, UvmUnregisterGpuVaspaceParams::SIZE, false;
    UVM_REGISTER_CHANNEL, UvmRegisterChannelParams::SIZE, false;
    UVM_UNREGISTER_CHANNEL, UvmUnregisterChannelParams::SIZE, false;
    UVM_ENABLE_PEER_ACCESS, 36, false;
    UVM_DISABLE_PEER_ACCESS, 36, false;
    UVM_SET_RANGE_GROUP, 32, false;
    UVM_MAP_EXTERNAL_ALLOCATION, UvmMapExternalAllocationParams::SIZE, false;
    UVM_FREE, UvmFreeParams::SIZE, false;
    UVM_REGISTER_GPU, UvmRegisterGpuParams::SIZE, false;
    UVM_UNREGISTER_GPU, UvmUnregisterGpuParams::SIZE, false;
    UVM_PAGEABLE_MEM_ACCESS, 8, false;
    UVM_PREVENT_MIGRATION_RANGE_GROUPS, 272, false;
    UVM_ALLOW_MIGRATION_RANGE_GROUPS, 272, false;
    UVM_SET_PREFERRED_LOCATION, 40, false;
    UVM_UNSET_PREFERRED_LOCATION, 24, false;
    UVM_ENABLE_READ_DUPLICATION, 24, false;
    UVM_DISABLE_READ_DUPLICATION, 24, false;
    UVM_SET_ACCESSED_BY, 40, false;
    UVM_UNSET_ACCESSED_BY, 40, false;
    UVM_MIGRATE, UvmMigrateParams::SIZE, false;
    UVM_MIGRATE_RANGE_GROUP, 32, false;
    UVM_ENABLE_SYSTEM_WIDE_ATOMICS, 20, false;
    UVM_DISABLE_SYSTEM_WIDE_ATOMICS, 20, false;
    UVM_TOOLS_INIT_EVENT_TRACKER, UvmToolsInitEventTrackerParams::SIZE, true;
    UVM_TOOLS_SET_NOTIFICATION_THRESHOLD, 8, true;
    UVM_TOOLS_EVENT_QUEUE_ENABLE_EVENTS, 16, true;
    UVM_TOOLS_EVENT_QUEUE_DISABLE_EVENTS, 16, true;
    UVM_TOOLS_ENABLE_COUNTERS, 16, true;
    UVM_TOOLS_DISABLE_COUNTERS, 16, true;
    UVM_TOOLS_READ_PROCESS_MEMORY, 40, false;
    UVM_TOOLS_WRITE_PROCESS_MEMORY, 40, false;
    UVM_TOOLS_GET_PROCESSOR_UUID_TABLE, 16, false;
    UVM_MAP_DYNAMIC_PARALLELISM_REGION, 40, false;
    UVM_UNMAP_EXTERNAL, UvmUnmapExternalParams::SIZE, false;
    UVM_TOOLS_FLUSH_EVENTS, 4, false;
    UVM_ALLOC_SEMAPHORE_POOL, 9248, false;
    UVM_CLEAN_UP_ZOMBIE_RESOURCES, 4, false;
    UVM_PAGEABLE_MEM_ACCESS_ON_GPU, 24, false;
    UVM_POPULATE_PAGEABLE, 24, false;
    UVM_VALIDATE_VA_RANGE, UvmValidateVaRangeParams::SIZE, false;
    UVM_CREATE_EXTERNAL_RANGE, UvmCreateExternalRangeParams::SIZE, false;
    UVM_MAP_EXTERNAL_SPARSE, UvmMapExternalSparseParams::SIZE, false;
    UVM_MM_INITIALIZE, UvmMmInitializeParams::SIZE, false;
    UVM_TOOLS_INIT_EVENT_TRACKER_V2, UvmToolsInitEventTrackerParams::SIZE, true;
    UVM_TOOLS_GET_PROCESSOR_UUID_TABLE_V2, 16, false;
    UVM_ALLOC_DEVICE_P2P, UvmAllocDeviceP2pParams::SIZE, false;
    UVM_CLEAR_ALL_ACCESS_COUNTERS, 4, false;
    UVM_DISCARD, 32, false;
}

/// The UVM command `cmd`, if known.
pub fn uvm_ioctl(cmd: u32) -> Option<UvmIoctl> {
    UVM_IOCTLS.iter().find(|u| u.cmd == cmd).copied()
}

/// Bytes UVM copies in (and back out) for `cmd`: what a proxy must fetch.
pub fn uvm_param_size(cmd: u32) -> Option<usize> {
    uvm_ioctl(cmd).map(|u| u.size)
}

/// The C name of a UVM command, or `"<unknown uvm ioctl>"`.
pub fn uvm_name(cmd: u32) -> &'static str {
    uvm_ioctl(cmd)
        .map(|u| u.name)
        .unwrap_or("<unknown uvm ioctl>")
}

#[cfg(all(test, not(MODULE)))]
mod tests {
    use super::*;

    #[test]
    fn sizes_match_research_notes() {
        assert_eq!(uvm_param_size(UVM_REGISTER_GPU), Some(40));
        assert_eq!(uvm_param_size(UVM_REGISTER_GPU_VASPACE), Some(32));
        assert_eq!(uvm_param_size(UVM_REGISTER_CHANNEL), Some(56));
        assert_eq!(uvm_param_size(UVM_MAP_EXTERNAL_ALLOCATION), Some(9264));
        assert_eq!(uvm_param_size(UVM_ALLOC_DEVICE_P2P), Some(56));
        assert_eq!(uvm_param_size(UVM_MM_INITIALIZE), Some(8));
        assert_eq!(uvm_param_size(UVM_INITIALIZE), Some(16));
        assert_eq!(uvm_param_size(12345), None);
        assert_eq!(UvmToolsInitEventTrackerParams::SIZE, 56);
        assert_eq!(uvm_param_size(UVM_MIGRATE), Some(80));
        assert_eq!(uvm_param_size(UVM_VALIDATE_VA_RANGE), Some(24));
    }

    #[test]
    fn migrate_layout() {
        // 580's uvm_ioctl.h: NvProcessorUuid at 16, the 8-aligned
        // semaphoreAddress at 40, rmStatus at 72.
        let mut p = UvmMigrateParams::ZERO;
        p.base = 0x7f00_0000_0000;
        p.length = 32 << 20;
        p.destination_uuid = [9; 16];
        p.cpu_numa_node = -1;
        p.rm_status = 0x51;
        let mut b = [0u8; 80];
        assert!(p.write(&mut b));
        assert_eq!(&b[8..16], &(32u64 << 20).to_le_bytes());
        assert_eq!(&b[16..32], &[9; 16]);
        assert_eq!(&b[52..56], &(-1i32).to_le_bytes());
        assert_eq!(&b[72..76], &0x51u32.to_le_bytes());
        assert_eq!(UvmMigrateParams::read(&b), Some(p));
        assert_eq!(UVM_MIGRATE_FLAGS_ALL, 7);
    }

    #[test]
    fn table_is_consistent() {
        for (i, a) in UVM_IOCTLS.iter().enumerate() {
            assert_eq!(uvm_name(a.cmd), a.name);
            for b in &UVM_IOCTLS[i + 1..] {
                assert_ne!(a.cmd, b.cmd);
            }
        }
        assert_eq!(UVM_IOCTLS.len(), UVM_CMDS.len());
    }

    #[test]
    fn round_trip_register_gpu() {
        let mut p = UvmRegisterGpuParams::ZERO;
        p.gpu_uuid = [7; 16];
        p.rm_ctrl_fd = 12;
        p.h_client = 0xc1d0_0001;
        let mut b = [0u8; 40];
        assert!(p.write(&mut b));
        assert_eq!(&b[24..28], &12i32.to_le_bytes());
        assert_eq!(UvmRegisterGpuParams::read(&b), Some(p));
    }
}
