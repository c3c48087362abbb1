// SPDX-License-Identifier: GPL-2.0

//! RM controls (`NVOS54.cmd`) and their parameter blocks, driver 580.142
//! (`src/common/sdk/nvidia/inc/ctrl/`). A command is
//! `(class << 16) | (category << 8) | index`.
//!
//! Only the controls fakegpu has to look at are declared: memory info,
//! GPU identity, scheduling, and every control that carries an fd.
//! Privilege notes come from the research notes (§5.2–5.4), not from here.

abi_consts! {
    /// Control commands.
    CONTROL_CMDS: u32 {
        /// Address space type of an object (issued on a client).
        NV0000_CTRL_CMD_CLIENT_GET_ADDR_SPACE_TYPE = 0xd01;
        /// Attached GPU ids.
        NV0000_CTRL_CMD_GPU_GET_ATTACHED_IDS = 0x201;
        /// GPU id info v2.
        NV0000_CTRL_CMD_GPU_GET_ID_INFO_V2 = 0x205;
        /// Probed GPU ids.
        NV0000_CTRL_CMD_GPU_GET_PROBED_IDS = 0x214;
        /// Attach GPUs.
        NV0000_CTRL_CMD_GPU_ATTACH_IDS = 0x215;
        /// UUID of a GPU id.
        NV0000_CTRL_CMD_GPU_GET_UUID_FROM_GPU_ID = 0x275;
        /// Export an object to an fd (fd @16).
        NV0000_CTRL_CMD_OS_UNIX_EXPORT_OBJECT_TO_FD = 0x3d05;
        /// Import an object from an fd (fd @0).
        NV0000_CTRL_CMD_OS_UNIX_IMPORT_OBJECT_FROM_FD = 0x3d06;
        /// Info on an export fd (fd @0).
        NV0000_CTRL_CMD_OS_UNIX_GET_EXPORT_OBJECT_INFO = 0x3d08;
        /// Create an export fd (fd @72, OUT).
        NV0000_CTRL_CMD_OS_UNIX_CREATE_EXPORT_OBJECT_FD = 0x3d0a;
        /// Export objects to an fd (fd @0).
        NV0000_CTRL_CMD_OS_UNIX_EXPORT_OBJECTS_TO_FD = 0x3d0b;
        /// Import objects from an fd (fd @0).
        NV0000_CTRL_CMD_OS_UNIX_IMPORT_OBJECTS_FROM_FD = 0x3d0c;
        /// Surface info of a memory object.
        NV0041_CTRL_CMD_GET_SURFACE_INFO = 0x410110;
        /// Number of subdevices.
        NV0080_CTRL_CMD_GPU_GET_NUM_SUBDEVICES = 0x800280;
        /// Class list v2.
        NV0080_CTRL_CMD_GPU_GET_CLASSLIST_V2 = 0x800292;
        /// Export memory (devDescriptor fd @1040).
        NV00E0_CTRL_CMD_EXPORT_MEM = 0xe00101;
        /// Attach a GPU to multicast memory (devDescriptor fd @8).
        NV00FD_CTRL_CMD_ATTACH_GPU = 0xfd0104;
        /// GPU info v2.
        NV2080_CTRL_CMD_GPU_GET_INFO_V2 = 0x20800102;
        /// GPU name.
        NV2080_CTRL_CMD_GPU_GET_NAME_STRING = 0x20800110;
        /// GPU short name.
        NV2080_CTRL_CMD_GPU_GET_SHORT_NAME_STRING = 0x20800111;
        /// GPU id (UUID) info.
        NV2080_CTRL_CMD_GPU_GET_GID_INFO = 0x2080014a;
        /// Engines v2.
        NV2080_CTRL_CMD_GPU_GET_ENGINES_V2 = 0x20800170;
        /// PIDs using the GPU.
        NV2080_CTRL_CMD_GPU_GET_PIDS = 0x2080018d;
        /// Per-PID info (video memory usage).
        NV2080_CTRL_CMD_GPU_GET_PID_INFO = 0x2080018e;
        /// Read compute policy.
        NV2080_CTRL_CMD_GPU_GET_COMPUTE_POLICY_CONFIG = 0x20800195;
        /// Disable/enable channels by (client, channel) list.
        NV2080_CTRL_CMD_FIFO_DISABLE_CHANNELS = 0x2080110b;
        /// Context-switch timeout (privileged).
        NV2080_CTRL_CMD_FIFO_CONFIG_CTXSW_TIMEOUT = 0x20801110;
        /// Runlist scheduling policy (needs NICE).
        NV2080_CTRL_CMD_FIFO_RUNLIST_SET_SCHED_POLICY = 0x20801115;
        /// Disable all usermode channels (kernel only).
        NV2080_CTRL_CMD_FIFO_DISABLE_USERMODE_CHANNELS = 0x20801117;
        /// Context-switch preemption mode.
        NV2080_CTRL_CMD_GR_SET_CTXSW_PREEMPTION_MODE = 0x20801210;
        /// FB info, v1 (list at a user pointer).
        NV2080_CTRL_CMD_FB_GET_INFO = 0x20801301;
        /// FB info, v2 (list inline).
        NV2080_CTRL_CMD_FB_GET_INFO_V2 = 0x20801303;
        /// FB region info.
        NV2080_CTRL_CMD_FB_GET_FB_REGION_INFO = 0x20801320;
        /// TSG: enable/disable scheduling.
        NVA06C_CTRL_CMD_GPFIFO_SCHEDULE = 0xa06c0101;
        /// TSG: bind to an engine.
        NVA06C_CTRL_CMD_BIND = 0xa06c0102;
        /// TSG: set timeslice.
        NVA06C_CTRL_CMD_SET_TIMESLICE = 0xa06c0103;
        /// TSG: get timeslice.
        NVA06C_CTRL_CMD_GET_TIMESLICE = 0xa06c0104;
        /// TSG: preempt.
        NVA06C_CTRL_CMD_PREEMPT = 0xa06c0105;
        /// TSG: hardware id.
        NVA06C_CTRL_CMD_GET_INFO = 0xa06c0106;
        /// TSG: set interleave level (needs NICE).
        NVA06C_CTRL_CMD_SET_INTERLEAVE_LEVEL = 0xa06c0107;
        /// TSG: get interleave level.
        NVA06C_CTRL_CMD_GET_INTERLEAVE_LEVEL = 0xa06c0108;
        /// TSG: realtime (needs NICE).
        NVA06C_CTRL_CMD_MAKE_REALTIME = 0xa06c0110;
        /// TSG: internal schedule (kernel only).
        NVA06C_CTRL_CMD_INTERNAL_GPFIFO_SCHEDULE = 0xa06c0201;
        /// TSG: internal timeslice (kernel only).
        NVA06C_CTRL_CMD_INTERNAL_SET_TIMESLICE = 0xa06c0202;
        /// Channel: enable/disable scheduling.
        NVA06F_CTRL_CMD_GPFIFO_SCHEDULE = 0xa06f0103;
        /// Channel: bind.
        NVA06F_CTRL_CMD_BIND = 0xa06f0104;
        /// Channel: interleave level (needs NICE).
        NVA06F_CTRL_CMD_SET_INTERLEAVE_LEVEL = 0xa06f0109;
        /// Channel: restart runlist (needs NICE).
        NVA06F_CTRL_CMD_RESTART_RUNLIST = 0xa06f0111;
        /// Channel: stop.
        NVA06F_CTRL_CMD_STOP_CHANNEL = 0xa06f0112;
        /// Channel: doorbell token.
        NVC36F_CTRL_CMD_GPFIFO_GET_WORK_SUBMIT_TOKEN = 0xc36f0108;
        // Controls seen in the H100 captures (CUDA 13, PyTorch, nvidia-smi):
        // queries and settings with no fd and no memory effect. Sizes in
        // CONTROL_PARAM_SIZES.
        /// Driver build version (deprecated form: three user pointers to string buffers the RM writes).
        NV0000_CTRL_CMD_SYSTEM_GET_BUILD_VERSION = 0x101;
        /// P2P capabilities between GPUs.
        NV0000_CTRL_CMD_SYSTEM_GET_P2P_CAPS_MATRIX = 0x13a;
        /// System feature bits.
        NV0000_CTRL_CMD_SYSTEM_GET_FEATURES = 0x1f0;
        /// GPU id info (v1; holds a user pointer to a name buffer).
        NV0000_CTRL_CMD_GPU_GET_ID_INFO = 0x202;
        /// Detach GPUs (nvidia-smi at exit).
        NV0000_CTRL_CMD_GPU_DETACH_IDS = 0x216;
        /// PCI ids of a GPU.
        NV0000_CTRL_CMD_GPU_GET_PCI_INFO = 0x21b;
        /// Drain state of a GPU.
        NV0000_CTRL_CMD_GPU_QUERY_DRAIN_STATE = 0x279;
        /// Whether stream memory operations are enabled.
        NV0000_CTRL_CMD_GPU_GET_MEMOP_ENABLE = 0x27b;
        /// Active device ids (GPUs and MIG devices).
        NV0000_CTRL_CMD_GPU_GET_ACTIVE_DEVICE_IDS = 0x288;
        /// Start attaching a GPU.
        NV0000_CTRL_CMD_GPU_ASYNC_ATTACH_ID = 0x289;
        /// Sync-boost groups.
        NV0000_CTRL_CMD_SYNC_GPU_BOOST_GROUP_INFO = 0xa04;
        /// Share policy inherited by the client's objects.
        NV0000_CTRL_CMD_CLIENT_SET_INHERITED_SHARE_POLICY = 0xd04;
        /// Persistence mode.
        NV0080_CTRL_CMD_GPU_QUERY_SW_STATE_PERSISTENCE = 0x800288;
        /// Virtualization mode.
        NV0080_CTRL_CMD_GPU_GET_VIRTUALIZATION_MODE = 0x800289;
        /// Whether the GPU is a vGPU host (`isVgx`; NVML, nvidia-smi).
        NV0080_CTRL_CMD_GPU_GET_VGX_CAPS = 0x80028e;
        /// Brand capabilities (NV0080_CTRL_GPU_GET_BRAND_CAPS_PARAMS).
        NV0080_CTRL_CMD_GPU_GET_BRAND_CAPS = 0x800294;
        /// MIG partitions' swizzle ids (libcuda's device probe).
        NV2080_CTRL_CMD_GPU_GET_ACTIVE_PARTITION_IDS = 0x2080018b;
        /// The current performance state (nvidia-smi's `Perf` column).
        NV2080_CTRL_CMD_PERF_GET_CURRENT_PSTATE = 0x20802068;
        /// The InfoROM's board data: build date, serial and part numbers
        /// (`nvidia-smi -q`).
        NV2080_CTRL_CMD_GPU_GET_OEM_BOARD_INFO = 0x2080013f;
        /// VBIOS facts (a list the RM reads through a second pointer; `nvidia-smi -q`).
        NV2080_CTRL_CMD_BIOS_GET_INFO = 0x20800802;
        /// Chip revision details (`nvidia-smi -q`).
        NV2080_CTRL_CMD_GPU_GET_CHIP_DETAILS = 0x208001a4;
        /// The board's module id (`nvidia-smi -q`).
        NV2080_CTRL_CMD_PMGR_GET_MODULE_INFO = 0x20802609;
        /// Whether a reset is pending (`nvidia-smi -q`).
        NV2080_CTRL_CMD_GPU_GET_RESET_STATUS = 0x208001ab;
        /// Whether a drain and reset is recommended (`nvidia-smi -q`).
        NV2080_CTRL_CMD_GPU_GET_DRAIN_AND_RESET_STATUS = 0x208001ae;
        /// PCIe error counters of the GPU (`nvidia-smi -q`).
        NV2080_CTRL_CMD_BUS_GET_PEX_COUNTERS = 0x20801813;
        /// PCIe traffic counters of the GPU (`nvidia-smi -q`).
        NV2080_CTRL_CMD_BUS_GET_PEX_UTIL_COUNTERS = 0x20801819;
        /// PCIe requester atomics (12 bytes; 4 in 550).
        NV2080_CTRL_CMD_BUS_GET_PCIE_REQ_ATOMICS_CAPS = 0x20801829;
        /// ECC error counts since boot (`nvidia-smi -q`).
        NV2080_CTRL_CMD_ECC_GET_VOLATILE_COUNTS = 0x20803401;
        /// Remapped memory rows (`nvidia-smi -q`).
        NV2080_CTRL_CMD_FB_GET_REMAPPED_ROWS = 0x20801344;
        /// Whether per-process accounting is on for a GPU (`nvidia-smi -q`).
        NV0000_CTRL_CMD_GPUACCT_GET_ACCOUNTING_STATE = 0xb02;
        /// The InfoROM image version (`nvidia-smi -q`).
        NV2080_CTRL_CMD_GPU_GET_INFOROM_IMAGE_VERSION = 0x20800156;
        /// Utilization samples of a video engine (`nvidia-smi -q`).
        NV2080_CTRL_CMD_PERF_GET_VID_ENG_PERFMON_SAMPLE = 0x20802087;
        /// NVENC session counts of the GPU (`nvidia-smi -q`).
        NV2080_CTRL_GPU_GET_NVENC_SW_SESSION_STATS = 0x2080016d;
        /// NvFBC session counts of the GPU (`nvidia-smi -q`).
        NV2080_CTRL_GPU_GET_NVFBC_SW_SESSION_STATS = 0x2080017b;
        /// ECC counters exposed to clients (`nvidia-smi -q`).
        NV2080_CTRL_CMD_ECC_GET_CLIENT_EXPOSED_COUNTERS = 0x20803400;
        /// Retired (offlined) framebuffer pages (`nvidia-smi -q`).
        NV2080_CTRL_CMD_FB_GET_OFFLINED_PAGES = 0x20801322;
        /// FB capability bits (no sizes).
        NV0080_CTRL_CMD_FB_GET_CAPS_V2 = 0x801307;
        /// Host capability bits.
        NV0080_CTRL_CMD_HOST_GET_CAPS_V2 = 0x801402;
        /// Hardware channel ids of channels (two user pointers to lists).
        NV0080_CTRL_CMD_FIFO_GET_CHANNELLIST = 0x80170d;
        /// CUDA clock limit on/off.
        NV0080_CTRL_CMD_PERF_CUDA_LIMIT_SET_CONTROL = 0x801909;
        /// Which RUSD fields the RM should keep polling.
        NV00DE_CTRL_CMD_REQUEST_DATA_POLL = 0xde0001;
        /// Simulation/emulation type.
        NV2080_CTRL_CMD_GPU_GET_SIMULATION_INFO = 0x20800119;
        /// ECC status and counts.
        NV2080_CTRL_CMD_GPU_QUERY_ECC_STATUS = 0x2080012f;
        /// Compute mode (default, exclusive, prohibited).
        NV2080_CTRL_CMD_GPU_QUERY_COMPUTE_MODE_RULES = 0x20800131;
        /// ECC configuration.
        NV2080_CTRL_CMD_GPU_QUERY_ECC_CONFIGURATION = 0x20800133;
        /// InfoROM object version.
        NV2080_CTRL_CMD_GPU_GET_INFOROM_OBJECT_VERSION = 0x2080014b;
        /// InfoROM ECC support (no parameters).
        NV2080_CTRL_CMD_GPU_QUERY_INFOROM_ECC_SUPPORT = 0x20800157;
        /// NVLink fabric probe state.
        NV2080_CTRL_CMD_GET_GPU_FABRIC_PROBE_INFO = 0x208001a3;
        /// GPU/CPU timestamp pairs.
        NV2080_CTRL_CMD_TIMER_GET_GPU_CPU_TIME_CORRELATION_INFO = 0x20800406;
        /// GR engine info (list at a user pointer).
        NV2080_CTRL_CMD_GR_GET_INFO = 0x20801201;
        /// Size of a channel's GR context buffers (declared: [`Nv2080CtrlGrGetCtxBufferSizeParams`]).
        NV2080_CTRL_CMD_GR_GET_CTX_BUFFER_SIZE = 0x20801218;
        /// SM numbering.
        NV2080_CTRL_CMD_GR_GET_GLOBAL_SM_ORDER = 0x2080121b;
        /// GR capability bits.
        NV2080_CTRL_CMD_GR_GET_CAPS_V2 = 0x20801227;
        /// GPC mask.
        NV2080_CTRL_CMD_GR_GET_GPC_MASK = 0x2080122a;
        /// TPC mask of a GPC.
        NV2080_CTRL_CMD_GR_GET_TPC_MASK = 0x2080122b;
        /// SM issue rates.
        NV2080_CTRL_CMD_GR_GET_SM_ISSUE_RATE_MODIFIER = 0x20801230;
        /// DRAM encryption support (no sizes).
        NV2080_CTRL_CMD_FB_QUERY_DRAM_ENCRYPTION_INFOROM_SUPPORT = 0x20801357;
        /// Architecture and implementation.
        NV2080_CTRL_CMD_MC_GET_ARCH_INFO = 0x20801701;
        /// PCI ids.
        NV2080_CTRL_CMD_BUS_GET_PCI_INFO = 0x20801801;
        /// Bus info (deprecated form: list at a user pointer).
        NV2080_CTRL_CMD_BUS_GET_INFO = 0x20801802;
        /// PCI BAR sizes (BAR1 is not FB size).
        NV2080_CTRL_CMD_BUS_GET_PCI_BAR_INFO = 0x20801803;
        /// Bus info (inline list).
        NV2080_CTRL_CMD_BUS_GET_INFO_V2 = 0x20801823;
        /// PCIe atomics.
        NV2080_CTRL_CMD_BUS_GET_PCIE_SUPPORTED_GPU_ATOMICS = 0x2080182a;
        /// C2C link info.
        NV2080_CTRL_CMD_BUS_GET_C2C_INFO = 0x2080182b;
        /// Clock boost request.
        NV2080_CTRL_CMD_PERF_BOOST = 0x2080200a;
        /// Utilization samples (nvidia-smi pmon).
        NV2080_CTRL_CMD_PERF_GET_GPUMON_PERFMON_UTIL_SAMPLES_V2 = 0x20802096;
        /// Release the client's watchdog requests (no parameters).
        NV2080_CTRL_CMD_RC_RELEASE_WATCHDOG_REQUESTS = 0x2080220c;
        /// Soft-disable the RC watchdog (no parameters).
        NV2080_CTRL_CMD_RC_SOFT_DISABLE_WATCHDOG = 0x20802210;
        /// Copy-engine capabilities.
        NV2080_CTRL_CMD_CE_GET_ALL_CAPS = 0x20802a0a;
        /// NVLink status.
        NV2080_CTRL_CMD_NVLINK_GET_NVLINK_STATUS = 0x20803002;
        /// NVLink capabilities (JAX, capture 10; H200).
        NV2080_CTRL_CMD_NVLINK_GET_NVLINK_CAPS = 0x20803001;
        /// P2P capabilities between a list of GPUs (NCCL through PyTorch,
        /// capture 12; H200).
        NV0000_CTRL_CMD_SYSTEM_GET_P2P_CAPS_V2 = 0x12b;
        /// GSP features.
        NV2080_CTRL_CMD_GSP_GET_FEATURES = 0x20803601;
        /// GR floorsweeping info.
        NV2080_CTRL_CMD_GRMGR_GET_GR_FS_INFO = 0x20803801;
        /// InfoROM checksum check (diag object).
        NV208F_CTRL_CMD_GPU_VERIFY_INFOROM = 0x208f1105;
        /// Register a VA space with the P2P object.
        NV503C_CTRL_CMD_REGISTER_VA_SPACE = 0x503c0102;
        /// Register existing vidmem for P2P (no new memory; declared: [`Nv503cCtrlRegisterVidmemParams`]).
        NV503C_CTRL_CMD_REGISTER_VIDMEM = 0x503c0104;
        /// Unregister P2P vidmem.
        NV503C_CTRL_CMD_UNREGISTER_VIDMEM = 0x503c0105;
        /// SM exception mask of a debugger session.
        NV83DE_CTRL_CMD_DEBUG_SET_EXCEPTION_MASK = 0x83de0309;
        /// Engine id of an object on a channel (any GPFIFO channel class).
        NV906F_CTRL_GET_CLASS_ENGINEID = 0x906f0101;
        /// Error-containment interrupt mask.
        NV90E6_CTRL_CMD_MASTER_GET_VIRTUAL_FUNCTION_ERROR_CONT_INTR_MASK = 0x90e60102;
        /// Confidential-computing capabilities.
        NV_CONF_COMPUTE_CTRL_CMD_SYSTEM_GET_CAPABILITIES = 0xcb330101;
    }
}

/// A control's parameter block: the C type the RM's export table copies
/// (`paramSize` in `src/nvidia/generated/g_*_nvoc.c`, 580.142) and its size.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ControlSize {
    /// The command.
    pub cmd: u32,
    /// Its C name.
    pub name: &'static str,
    /// The C type of its parameters (empty: the control takes none).
    pub c_type: &'static str,
    /// `sizeof` that type (0 with no parameters). The RM fails a call whose
    /// `paramsSize` differs (`NV_ERR_INVALID_PARAM_STRUCT`).
    pub size: usize,
}

macro_rules! control_sizes {
    ($( $c:ident, $t:literal, $n:expr; )*) => {
        /// Parameter sizes of the controls in [`CONTROL_CMDS`] that are not
        /// decoded field by field (checked against the headers by the
        /// layout test, and against the captures by the replay tests).
        pub const CONTROL_PARAM_SIZES: &[ControlSize] = &[
            $( ControlSize { cmd: $c, name: stringify!($c), c_type: $t, size: $n }, )*
        ];
    };
}

control_sizes! {
    NV0000_CTRL_CMD_SYSTEM_GET_BUILD_VERSION, "NV0000_CTRL_SYSTEM_GET_BUILD_VERSION_PARAMS", 40;
    NV0000_CTRL_CMD_SYSTEM_GET_P2P_CAPS_MATRIX, "NV0000_CTRL_SYSTEM_GET_P2P_CAPS_MATRIX_PARAMS", 1352;
    NV0000_CTRL_CMD_SYSTEM_GET_FEATURES, "NV0000_CTRL_SYSTEM_GET_FEATURES_PARAMS", 4;
    NV0000_CTRL_CMD_GPU_GET_ID_INFO, "NV0000_CTRL_GPU_GET_ID_INFO_PARAMS", 40;
    NV0000_CTRL_CMD_GPU_DETACH_IDS, "NV0000_CTRL_GPU_DETACH_IDS_PARAMS", 128;
    NV0000_CTRL_CMD_GPU_GET_PCI_INFO, "NV0000_CTRL_GPU_GET_PCI_INFO_PARAMS", 12;
    NV0000_CTRL_CMD_CLIENT_GET_ADDR_SPACE_TYPE, "NV0000_CTRL_CLIENT_GET_ADDR_SPACE_TYPE_PARAMS", 12;
    NV0000_CTRL_CMD_GPU_QUERY_DRAIN_STATE, "NV0000_CTRL_GPU_QUERY_DRAIN_STATE_PARAMS", 12;
    NV0000_CTRL_CMD_GPU_GET_MEMOP_ENABLE, "NV0000_CTRL_GPU_GET_MEMOP_ENABLE_PARAMS", 4;
    NV0000_CTRL_CMD_GPU_GET_ACTIVE_DEVICE_IDS, "NV0000_CTRL_GPU_GET_ACTIVE_DEVICE_IDS_PARAMS", 3076;
    NV0000_CTRL_CMD_GPU_ASYNC_ATTACH_ID, "NV0000_CTRL_GPU_ASYNC_ATTACH_ID_PARAMS", 4;
    NV0000_CTRL_CMD_SYNC_GPU_BOOST_GROUP_INFO, "NV0000_SYNC_GPU_BOOST_GROUP_INFO_PARAMS", 2244;
    NV0000_CTRL_CMD_CLIENT_SET_INHERITED_SHARE_POLICY, "NV0000_CTRL_CLIENT_SET_INHERITED_SHARE_POLICY_PARAMS", 12;
    NV0080_CTRL_CMD_GPU_QUERY_SW_STATE_PERSISTENCE, "NV0080_CTRL_GPU_QUERY_SW_STATE_PERSISTENCE_PARAMS", 4;
    NV0080_CTRL_CMD_GPU_GET_VIRTUALIZATION_MODE, "NV0080_CTRL_GPU_GET_VIRTUALIZATION_MODE_PARAMS", 8;
    NV0080_CTRL_CMD_GPU_GET_VGX_CAPS, "NV0080_CTRL_GPU_GET_VGX_CAPS_PARAMS", 1;
    NV0080_CTRL_CMD_GPU_GET_BRAND_CAPS, "NV0080_CTRL_GPU_GET_BRAND_CAPS_PARAMS", 4;
    NV2080_CTRL_CMD_GPU_GET_PIDS, "NV2080_CTRL_GPU_GET_PIDS_PARAMS", 3812;
    NV2080_CTRL_CMD_GPU_GET_ACTIVE_PARTITION_IDS, "NV2080_CTRL_GPU_GET_ACTIVE_PARTITION_IDS_PARAMS", 40;
    NV2080_CTRL_CMD_PERF_GET_CURRENT_PSTATE, "NV2080_CTRL_PERF_GET_CURRENT_PSTATE_PARAMS", 4;
    NV2080_CTRL_CMD_GPU_GET_OEM_BOARD_INFO, "NV2080_CTRL_GPU_GET_OEM_BOARD_INFO_PARAMS", 136;
    NV2080_CTRL_CMD_BIOS_GET_INFO, "NV2080_CTRL_BIOS_GET_INFO_PARAMS", 16;
    NV2080_CTRL_CMD_GPU_GET_CHIP_DETAILS, "NV2080_CTRL_GPU_GET_CHIP_DETAILS_PARAMS", 16;
    NV2080_CTRL_CMD_PMGR_GET_MODULE_INFO, "NV2080_CTRL_PMGR_MODULE_INFO_PARAMS", 8;
    NV2080_CTRL_CMD_GPU_GET_RESET_STATUS, "NV2080_CTRL_GPU_GET_RESET_STATUS_PARAMS", 1;
    NV2080_CTRL_CMD_GPU_GET_DRAIN_AND_RESET_STATUS, "NV2080_CTRL_GPU_GET_DRAIN_AND_RESET_STATUS_PARAMS", 1;
    NV2080_CTRL_CMD_BUS_GET_PEX_COUNTERS, "NV2080_CTRL_BUS_GET_PEX_COUNTERS_PARAMS", 76;
    NV2080_CTRL_CMD_BUS_GET_PEX_UTIL_COUNTERS, "NV2080_CTRL_BUS_GET_PEX_UTIL_COUNTERS_PARAMS", 32;
    NV2080_CTRL_CMD_BUS_GET_PCIE_REQ_ATOMICS_CAPS, "NV2080_CTRL_CMD_BUS_GET_PCIE_REQ_ATOMICS_CAPS_PARAMS", 12;
    NV2080_CTRL_CMD_ECC_GET_VOLATILE_COUNTS, "NV2080_CTRL_ECC_GET_VOLATILE_COUNTS_PARAMS", 40;
    NV2080_CTRL_CMD_FB_GET_REMAPPED_ROWS, "NV2080_CTRL_FB_GET_REMAPPED_ROWS_PARAMS", 6152;
    NV0000_CTRL_CMD_GPUACCT_GET_ACCOUNTING_STATE, "NV0000_CTRL_GPUACCT_GET_ACCOUNTING_STATE_PARAMS", 12;
    NV2080_CTRL_CMD_GPU_GET_INFOROM_IMAGE_VERSION, "NV2080_CTRL_GPU_GET_INFOROM_IMAGE_VERSION_PARAMS", 16;
    NV2080_CTRL_CMD_PERF_GET_VID_ENG_PERFMON_SAMPLE, "NV2080_CTRL_PERF_GET_VID_ENG_PERFMON_SAMPLE_PARAMS", 12;
    NV2080_CTRL_GPU_GET_NVENC_SW_SESSION_STATS, "NV2080_CTRL_GPU_GET_NVENC_SW_SESSION_STATS_PARAMS", 12;
    NV2080_CTRL_GPU_GET_NVFBC_SW_SESSION_STATS, "NV2080_CTRL_GPU_GET_NVFBC_SW_SESSION_STATS_PARAMS", 12;
    NV2080_CTRL_CMD_ECC_GET_CLIENT_EXPOSED_COUNTERS, "NV2080_CTRL_ECC_GET_CLIENT_EXPOSED_COUNTERS_PARAMS", 96;
    NV2080_CTRL_CMD_FB_GET_OFFLINED_PAGES, "NV2080_CTRL_FB_GET_OFFLINED_PAGES_PARAMS", 2056;
    NV0080_CTRL_CMD_FB_GET_CAPS_V2, "NV0080_CTRL_FB_GET_CAPS_V2_PARAMS", 3;
    NV0080_CTRL_CMD_HOST_GET_CAPS_V2, "NV0080_CTRL_HOST_GET_CAPS_V2_PARAMS", 3;
    NV0080_CTRL_CMD_FIFO_GET_CHANNELLIST, "NV0080_CTRL_FIFO_GET_CHANNELLIST_PARAMS", 24;
    NV0080_CTRL_CMD_PERF_CUDA_LIMIT_SET_CONTROL, "NV0080_CTRL_PERF_CUDA_LIMIT_CONTROL_PARAMS", 1;
    NV00DE_CTRL_CMD_REQUEST_DATA_POLL, "NV00DE_CTRL_REQUEST_DATA_POLL_PARAMS", 8;
    NV2080_CTRL_CMD_GPU_GET_SIMULATION_INFO, "NV2080_CTRL_GPU_GET_SIMULATION_INFO_PARAMS", 4;
    NV2080_CTRL_CMD_GPU_QUERY_ECC_STATUS, "NV2080_CTRL_GPU_QUERY_ECC_STATUS_PARAMS", 1464;
    NV2080_CTRL_CMD_GPU_GET_ENGINES_V2, "NV2080_CTRL_GPU_GET_ENGINES_V2_PARAMS", 340;
    NV2080_CTRL_CMD_GPU_QUERY_COMPUTE_MODE_RULES, "NV2080_CTRL_GPU_QUERY_COMPUTE_MODE_RULES_PARAMS", 4;
    NV2080_CTRL_CMD_GPU_QUERY_ECC_CONFIGURATION, "NV2080_CTRL_GPU_QUERY_ECC_CONFIGURATION_PARAMS", 8;
    NV2080_CTRL_CMD_GPU_GET_INFOROM_OBJECT_VERSION, "NV2080_CTRL_GPU_GET_INFOROM_OBJECT_VERSION_PARAMS", 5;
    NV2080_CTRL_CMD_GPU_QUERY_INFOROM_ECC_SUPPORT, "", 0;
    NV2080_CTRL_CMD_GET_GPU_FABRIC_PROBE_INFO, "NV2080_CTRL_CMD_GET_GPU_FABRIC_PROBE_INFO_PARAMS", 56;
    NV2080_CTRL_CMD_TIMER_GET_GPU_CPU_TIME_CORRELATION_INFO, "NV2080_CTRL_TIMER_GET_GPU_CPU_TIME_CORRELATION_INFO_PARAMS", 264;
    NV2080_CTRL_CMD_GR_GET_INFO, "NV2080_CTRL_GR_GET_INFO_PARAMS", 32;
    NV2080_CTRL_CMD_GR_GET_CTX_BUFFER_SIZE, "NV2080_CTRL_GR_GET_CTX_BUFFER_SIZE_PARAMS", 16;
    NV2080_CTRL_CMD_GR_GET_GLOBAL_SM_ORDER, "NV2080_CTRL_GR_GET_GLOBAL_SM_ORDER_PARAMS", 9240;
    NV2080_CTRL_CMD_GR_GET_CAPS_V2, "NV2080_CTRL_GR_GET_CAPS_V2_PARAMS", 48;
    NV2080_CTRL_CMD_GR_GET_GPC_MASK, "NV2080_CTRL_GR_GET_GPC_MASK_PARAMS", 24;
    NV2080_CTRL_CMD_GR_GET_TPC_MASK, "NV2080_CTRL_GR_GET_TPC_MASK_PARAMS", 24;
    NV2080_CTRL_CMD_GR_GET_SM_ISSUE_RATE_MODIFIER, "NV2080_CTRL_GR_GET_SM_ISSUE_RATE_MODIFIER_PARAMS", 32;
    NV2080_CTRL_CMD_FB_QUERY_DRAM_ENCRYPTION_INFOROM_SUPPORT, "NV2080_CTRL_FB_DRAM_ENCRYPTION_INFOROM_SUPPORT_PARAMS", 4;
    NV2080_CTRL_CMD_MC_GET_ARCH_INFO, "NV2080_CTRL_MC_GET_ARCH_INFO_PARAMS", 16;
    NV2080_CTRL_CMD_BUS_GET_PCI_INFO, "NV2080_CTRL_BUS_GET_PCI_INFO_PARAMS", 16;
    NV2080_CTRL_CMD_BUS_GET_INFO, "NV2080_CTRL_BUS_GET_INFO_PARAMS", 16;
    NV2080_CTRL_CMD_BUS_GET_PCI_BAR_INFO, "NV2080_CTRL_BUS_GET_PCI_BAR_INFO_PARAMS", 200;
    NV2080_CTRL_CMD_BUS_GET_INFO_V2, "NV2080_CTRL_BUS_GET_INFO_V2_PARAMS", 420;
    NV2080_CTRL_CMD_BUS_GET_PCIE_SUPPORTED_GPU_ATOMICS, "NV2080_CTRL_CMD_BUS_GET_PCIE_SUPPORTED_GPU_ATOMICS_PARAMS", 112;
    NV2080_CTRL_CMD_BUS_GET_C2C_INFO, "NV2080_CTRL_CMD_BUS_GET_C2C_INFO_PARAMS", 28;
    NV2080_CTRL_CMD_PERF_BOOST, "NV2080_CTRL_PERF_BOOST_PARAMS", 8;
    NV2080_CTRL_CMD_PERF_GET_GPUMON_PERFMON_UTIL_SAMPLES_V2, "NV2080_CTRL_PERF_GET_GPUMON_PERFMON_UTIL_SAMPLES_V2_PARAMS", 55888;
    NV2080_CTRL_CMD_RC_RELEASE_WATCHDOG_REQUESTS, "", 0;
    NV2080_CTRL_CMD_RC_SOFT_DISABLE_WATCHDOG, "", 0;
    NV2080_CTRL_CMD_CE_GET_ALL_CAPS, "NV2080_CTRL_CE_GET_ALL_CAPS_PARAMS", 136;
    NV2080_CTRL_CMD_NVLINK_GET_NVLINK_STATUS, "NV2080_CTRL_CMD_NVLINK_GET_NVLINK_STATUS_PARAMS", 13344;
    NV2080_CTRL_CMD_GSP_GET_FEATURES, "NV2080_CTRL_GSP_GET_FEATURES_PARAMS", 72;
    NV2080_CTRL_CMD_GRMGR_GET_GR_FS_INFO, "NV2080_CTRL_GRMGR_GET_GR_FS_INFO_PARAMS", 1928;
    NV208F_CTRL_CMD_GPU_VERIFY_INFOROM, "NV208F_CTRL_GPU_VERIFY_INFOROM_PARAMS", 8;
    NV503C_CTRL_CMD_REGISTER_VA_SPACE, "NV503C_CTRL_REGISTER_VA_SPACE_PARAMS", 16;
    NV503C_CTRL_CMD_REGISTER_VIDMEM, "NV503C_CTRL_REGISTER_VIDMEM_PARAMS", 32;
    NV503C_CTRL_CMD_UNREGISTER_VIDMEM, "NV503C_CTRL_UNREGISTER_VIDMEM_PARAMS", 4;
    NV83DE_CTRL_CMD_DEBUG_SET_EXCEPTION_MASK, "NV83DE_CTRL_DEBUG_SET_EXCEPTION_MASK_PARAMS", 4;
    NV906F_CTRL_GET_CLASS_ENGINEID, "NV906F_CTRL_GET_CLASS_ENGINEID_PARAMS", 16;
    NV90E6_CTRL_CMD_MASTER_GET_VIRTUAL_FUNCTION_ERROR_CONT_INTR_MASK, "NV90E6_CTRL_MASTER_GET_VIRTUAL_FUNCTION_ERROR_CONT_INTR_MASK_PARAMS", 8;
    NV_CONF_COMPUTE_CTRL_CMD_SYSTEM_GET_CAPABILITIES, "NV_CONF_COMPUTE_CTRL_CMD_SYSTEM_GET_CAPABILITIES_PARAMS", 6;
}

/// A control seen in the captures whose command is **not in NVIDIA's open
/// headers** (580.142): either an NVOC export without a public macro, a
/// "GSS legacy" command (category with bit 0x80 set: the RM forwards the
/// block to GSP unexamined, `IsGssLegacyCall` in
/// `src/nvidia/interface/deprecated/rmapi_deprecated_control.c`), or a
/// control of the opaque `NV2081_BINAPI` class. The names are ours.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UndocumentedControl {
    /// The command.
    pub cmd: u32,
    /// Our name for it.
    pub name: &'static str,
    /// `paramsSize` the captures carry (not checkable against a header).
    pub observed_size: usize,
    /// Who sends it and what is known.
    pub note: &'static str,
}

/// `RM_GSS_LEGACY_MASK`: category bit of the controls the RM passes to GSP
/// as opaque blocks (`rmapi_deprecated.h`).
pub const RM_GSS_LEGACY_MASK: u32 = 0x8000;

/// Whether the RM treats `cmd` as a GSS-legacy control (opaque to the
/// open-source RM, handled by GSP firmware).
pub const fn is_gss_legacy(cmd: u32) -> bool {
    cmd & RM_GSS_LEGACY_MASK != 0
}

/// Controls of the captures that the open headers do not define.
pub const UNDOCUMENTED_CONTROLS: &[UndocumentedControl] = &[
    UndocumentedControl {
        cmd: 0x2080_852a,
        name: "NV2080_GSS_LEGACY_THERMAL_0x2A",
        observed_size: 1496,
        note: "nvidia-smi 550 -q; thermal category, GSS legacy (answered NOT_SUPPORTED by nvsim)",
    },
    UndocumentedControl {
        cmd: 0x2080_8536,
        name: "NV2080_GSS_LEGACY_THERMAL_0x36",
        observed_size: 108,
        note: "nvidia-smi 550 -q; thermal category, GSS legacy (answered NOT_SUPPORTED by nvsim)",
    },
    UndocumentedControl {
        cmd: 0x2080_a637,
        name: "NV2080_GSS_LEGACY_PMGR_0x37",
        observed_size: 88024,
        note: "nvidia-smi 550 -q; PMGR category, GSS legacy (answered INVALID_ARGUMENT by nvsim)",
    },
    UndocumentedControl {
        cmd: 0x2080_a06e,
        name: "NV2080_GSS_LEGACY_PERF_0x6E",
        observed_size: 1,
        note: "nvidia-smi 550 -q; perf category, GSS legacy (answered NOT_SUPPORTED by nvsim)",
    },
    UndocumentedControl {
        cmd: 0x2080_a0a7,
        name: "NV2080_GSS_LEGACY_PERF_0xA7",
        observed_size: 14988,
        note: "nvidia-smi 550 -q; perf category, GSS legacy (answered NOT_SUPPORTED by nvsim)",
    },
    UndocumentedControl {
        cmd: 0x2080_b201,
        name: "NV2080_GSS_LEGACY_VOLT_0x01",
        observed_size: 2060,
        note: "nvidia-smi 550 -q; volt category, GSS legacy (answered NOT_SUPPORTED by nvsim)",
    },
    UndocumentedControl {
        cmd: 0x2080_0145,
        name: "NV2080_CTRL_CMD_GPU_ACQUIRE_COMPUTE_MODE_RESERVATION",
        observed_size: 0,
        note: "CUDA; NVOC export subdeviceCtrlCmdGpuAcquireComputeModeReservation, paramSize 0",
    },
    UndocumentedControl {
        cmd: 0x2081_0111,
        name: "NV2081_BINAPI_CTRL_0x11",
        observed_size: 4,
        note: "nvidia-smi 550 -q; NV2081_BINAPI (GSP-internal; no header)",
    },
    UndocumentedControl {
        cmd: 0x2080_0152,
        name: "NV2080_CTRL_GPU_0x52",
        observed_size: 12,
        note: "nvidia-smi 550 -q; GPU interface 0x52, in neither branch's headers",
    },
    UndocumentedControl {
        cmd: 0x2080_a080,
        name: "NV2080_GSS_LEGACY_0xA0_0x80",
        observed_size: 52,
        note: "nvidia-smi 550 -q; GSS legacy (answered NOT_SUPPORTED by nvsim)",
    },
    UndocumentedControl {
        cmd: 0x2080_8546,
        name: "NV2080_GSS_LEGACY_THERMAL_0x46",
        observed_size: 24,
        note: "nvidia-smi 550 -q, once per sensor; thermal category, GSS legacy (answered NOT_SUPPORTED by nvsim)",
    },
    UndocumentedControl {
        cmd: 0x2080_0146,
        name: "NV2080_CTRL_CMD_GPU_RELEASE_COMPUTE_MODE_RESERVATION",
        observed_size: 0,
        note: "libcuda 550 (cuCtxCreate's unwind); NVOC export subdeviceCtrlCmdGpuReleaseComputeModeReservation, paramSize 0: releases the calling client's own reservation",
    },
    UndocumentedControl {
        cmd: 0x2080_8159,
        name: "NV2080_GSS_LEGACY_GPU_0x59",
        observed_size: 332,
        note: "CUDA init; GPU category, GSS legacy",
    },
    UndocumentedControl {
        cmd: 0x2080_8162,
        name: "NV2080_GSS_LEGACY_GPU_0x62",
        observed_size: 1,
        note: "CUDA init; GPU category, GSS legacy",
    },
    UndocumentedControl {
        cmd: 0x2080_852e,
        name: "NV2080_GSS_LEGACY_THERMAL_0x2E",
        observed_size: 528,
        note: "nvidia-smi; thermal category, GSS legacy",
    },
    UndocumentedControl {
        cmd: 0x2080_8513,
        name: "NV2080_GSS_LEGACY_THERMAL_0x13",
        observed_size: 1432,
        note: "nvidia-smi 550; thermal category, GSS legacy (answered NOT_SUPPORTED by nvsim)",
    },
    UndocumentedControl {
        cmd: 0x2080_852f,
        name: "NV2080_GSS_LEGACY_THERMAL_0x2F",
        observed_size: 776,
        note: "nvidia-smi; thermal category, GSS legacy (answered NOT_SUPPORTED)",
    },
    UndocumentedControl {
        cmd: 0x2080_9001,
        name: "NV2080_GSS_LEGACY_CLK_0x01",
        observed_size: 8,
        note: "PyTorch; clock category, GSS legacy",
    },
    UndocumentedControl {
        cmd: 0x2080_9009,
        name: "NV2080_GSS_LEGACY_CLK_0x09",
        observed_size: 8,
        note: "PyTorch, nvidia-smi; clock category, GSS legacy",
    },
    UndocumentedControl {
        cmd: 0x2080_9038,
        name: "NV2080_GSS_LEGACY_CLK_0x38",
        observed_size: 4,
        note: "CUDA init; clock category, GSS legacy",
    },
    UndocumentedControl {
        cmd: 0x2080_9064,
        name: "NV2080_GSS_LEGACY_CLK_0x64",
        observed_size: 520,
        note: "PyTorch, nvidia-smi; clock category, GSS legacy",
    },
    UndocumentedControl {
        cmd: 0x2080_a026,
        name: "NV2080_GSS_LEGACY_PERF_0x26",
        observed_size: 532,
        note: "PyTorch; perf category, GSS legacy",
    },
    UndocumentedControl {
        cmd: 0x2080_a084,
        name: "NV2080_GSS_LEGACY_PERF_0x84",
        observed_size: 4,
        note: "PyTorch; perf category, GSS legacy",
    },
    UndocumentedControl {
        cmd: 0x2080_a612,
        name: "NV2080_GSS_LEGACY_PMGR_0x12",
        observed_size: 11680,
        note: "nvidia-smi; power-management category, GSS legacy",
    },
    UndocumentedControl {
        cmd: 0x2080_a618,
        name: "NV2080_GSS_LEGACY_PMGR_0x18",
        observed_size: 8620,
        note: "nvidia-smi; power-management category, GSS legacy",
    },
    UndocumentedControl {
        cmd: 0x2081_0108,
        name: "NV2081_BINAPI_CTRL_0x08",
        observed_size: 992,
        note: "CUDA init, on an NV2081_BINAPI object",
    },
    UndocumentedControl {
        cmd: 0x2081_0110,
        name: "NV2081_BINAPI_CTRL_0x10",
        observed_size: 1,
        note: "nvidia-smi, on an NV2081_BINAPI object",
    },
];

/// The undocumented control with this command, if it is one.
pub fn undocumented_control(cmd: u32) -> Option<&'static UndocumentedControl> {
    UNDOCUMENTED_CONTROLS.iter().find(|u| u.cmd == cmd)
}

/// The declared parameter size of a control of [`CONTROL_PARAM_SIZES`].
pub fn control_param_size(cmd: u32) -> Option<usize> {
    CONTROL_PARAM_SIZES
        .iter()
        .find(|c| c.cmd == cmd)
        .map(|c| c.size)
}

/// Whether this ABI knows the command (a declared constant, with or
/// without a decoded parameter block, or an undocumented control of the
/// captures).
pub fn control_known(cmd: u32) -> bool {
    CONTROL_CMDS.iter().any(|c| c.value == u64::from(cmd)) || undocumented_control(cmd).is_some()
}

/// `NV2080_CTRL_GPU_GET_PIDS_MAX_COUNT`.
pub const NV2080_CTRL_GPU_GET_PIDS_MAX_COUNT: usize = 950;
/// `NV2080_CTRL_GPU_GET_PIDS_ID_TYPE_CLASS`: processes with an object of
/// class `id` on the GPU (`NV20_SUBDEVICE_0`: any client of the GPU).
pub const NV2080_CTRL_GPU_GET_PIDS_ID_TYPE_CLASS: u32 = 0;
/// Offset of `pidTblCount` in `NV2080_CTRL_GPU_GET_PIDS_PARAMS`.
pub const GET_PIDS_COUNT_OFFSET: usize = 8;
/// Offset of `pidTbl` in `NV2080_CTRL_GPU_GET_PIDS_PARAMS`.
pub const GET_PIDS_TABLE_OFFSET: usize = 12;

wire_struct! {
    /// `NV2080_CTRL_GR_GET_CTX_BUFFER_SIZE_PARAMS` (16 bytes): the size of
    /// the GR context buffers the RM allocates for a channel (CUDA asks
    /// once per compute channel).
    Nv2080CtrlGrGetCtxBufferSizeParams = "NV2080_CTRL_GR_GET_CTX_BUFFER_SIZE_PARAMS", size 16;
    /// Channel.
    @0 h_channel: u32 = "hChannel";
    /// Padding.
    @4 pad0: u32 = "";
    /// OUT total bytes.
    @8 total_buffer_size: u64 = "totalBufferSize";
}

wire_struct! {
    /// `NV00DE_CTRL_REQUEST_DATA_POLL_PARAMS` (8 bytes).
    Nv00deCtrlRequestDataPollParams = "NV00DE_CTRL_REQUEST_DATA_POLL_PARAMS", size 8;
    /// RUSD fields to keep polling (`NV00DE_RUSD_POLL_*`).
    @0 polled_data_mask: u64 = "polledDataMask";
}

wire_struct! {
    /// `NV503C_CTRL_REGISTER_VIDMEM_PARAMS` (32 bytes): registers existing
    /// video memory with a third-party P2P object (no new memory).
    Nv503cCtrlRegisterVidmemParams = "NV503C_CTRL_REGISTER_VIDMEM_PARAMS", size 32;
    /// The memory object.
    @0 h_memory: u32 = "hMemory";
    /// Padding.
    @4 pad0: u32 = "";
    /// GPU VA.
    @8 address: u64 = "address";
    /// Size.
    @16 size: u64 = "size";
    /// Offset into the memory.
    @24 offset: u64 = "offset";
}

wire_struct! {
    /// `NV0000_CTRL_SYSTEM_GET_BUILD_VERSION_PARAMS` (40 bytes): a
    /// deprecated control with embedded user pointers (string buffers the
    /// RM fills, `rmapi_deprecated_control.c`).
    Nv0000CtrlSystemGetBuildVersionParams = "NV0000_CTRL_SYSTEM_GET_BUILD_VERSION_PARAMS", size 40;
    /// IN/OUT size of each buffer.
    @0 size_of_strings: u32 = "sizeOfStrings";
    /// Padding.
    @4 pad0: u32 = "";
    /// User pointer: driver version string.
    @8 p_driver_version_buffer: u64 = "pDriverVersionBuffer";
    /// User pointer: branch version string.
    @16 p_version_buffer: u64 = "pVersionBuffer";
    /// User pointer: title string.
    @24 p_title_buffer: u64 = "pTitleBuffer";
    /// Changelist.
    @32 changelist_number: u32 = "changelistNumber";
    /// Official changelist.
    @36 official_changelist_number: u32 = "officialChangelistNumber";
}

abi_consts! {
    /// `NV2080_CTRL_FB_INFO_INDEX_*` (the data of most are KiB).
    FB_INFO_INDEXES: u32 {
        /// BAR1 size, KiB.
        NV2080_CTRL_FB_INFO_INDEX_BAR1_SIZE = 0x05;
        /// FB physically present, KiB.
        NV2080_CTRL_FB_INFO_INDEX_RAM_SIZE = 0x07;
        /// Total video memory, KiB.
        NV2080_CTRL_FB_INFO_INDEX_TOTAL_RAM_SIZE = 0x08;
        /// Heap size (allocatable), KiB.
        NV2080_CTRL_FB_INFO_INDEX_HEAP_SIZE = 0x09;
        /// CPU-mappable heap, KiB.
        NV2080_CTRL_FB_INFO_INDEX_MAPPABLE_HEAP_SIZE = 0x0a;
        /// FB tax (vGPU), KiB.
        NV2080_CTRL_FB_INFO_INDEX_FB_TAX_SIZE_KB = 0x10;
        /// Heap base, KiB.
        NV2080_CTRL_FB_INFO_INDEX_HEAP_BASE_KB = 0x11;
        /// Largest free region, KiB.
        NV2080_CTRL_FB_INFO_INDEX_LARGEST_FREE_REGION_SIZE_KB = 0x12;
        /// Base of the largest free region, KiB.
        NV2080_CTRL_FB_INFO_INDEX_LARGEST_FREE_REGION_BASE_KB = 0x13;
        /// Reserved heap (UVM with PMA), KiB.
        NV2080_CTRL_FB_INFO_INDEX_VISTA_RESERVED_HEAP_SIZE = 0x15;
        /// Free video memory, KiB.
        NV2080_CTRL_FB_INFO_INDEX_HEAP_FREE = 0x16;
        /// Free BAR1, KiB.
        NV2080_CTRL_FB_INFO_INDEX_BAR1_AVAIL_SIZE = 0x1d;
        /// Heap start, KiB.
        NV2080_CTRL_FB_INFO_INDEX_HEAP_START = 0x1e;
        /// Largest contiguous free BAR1, KiB.
        NV2080_CTRL_FB_INFO_INDEX_BAR1_MAX_CONTIGUOUS_AVAIL_SIZE = 0x1f;
        /// Usable FB, KiB.
        NV2080_CTRL_FB_INFO_INDEX_USABLE_RAM_SIZE = 0x20;
        /// Retired pages, KiB.
        NV2080_CTRL_FB_INFO_INDEX_HEAP_OFFLINE_SIZE = 0x27;
        /// Protected memory total, KiB.
        NV2080_CTRL_FB_INFO_INDEX_PROTECTED_MEM_SIZE_TOTAL_KB = 0x33;
        /// Protected memory free, KiB.
        NV2080_CTRL_FB_INFO_INDEX_PROTECTED_MEM_SIZE_FREE_KB = 0x34;
        /// NUMA node id (not a size).
        NV2080_CTRL_FB_INFO_INDEX_NUMA_NODE_ID = 0x3b;
        /// Capacity of the v2 list.
        NV2080_CTRL_FB_INFO_MAX_LIST_SIZE = 128;
    }
}

/// Global timeslice policy (privileged; what `nvidia-smi compute-policy`
/// sends). The 580 headers define no command macro for it, only
/// `NV2080_CTRL_GPU_SET_COMPUTE_POLICY_CONFIG_PARAMS_MESSAGE_ID` (0x94) in the
/// GPU category of class 0x2080, from which this value is derived (not
/// checked by the layout test).
pub const NV2080_CTRL_CMD_GPU_SET_COMPUTE_POLICY_CONFIG: u32 = 0x2080_0194;

wire_struct! {
    /// `NV2080_CTRL_FB_INFO`: one `{index, data}` pair (8 bytes).
    Nv2080CtrlFbInfo = "NV2080_CTRL_FB_INFO", size 8;
    /// `NV2080_CTRL_FB_INFO_INDEX_*`.
    @0 index: u32 = "index";
    /// OUT value (KiB for sizes).
    @4 data: u32 = "data";
}

wire_struct! {
    /// `NV2080_CTRL_FB_GET_INFO_PARAMS` (v1, 16 bytes); the list is at a user pointer.
    Nv2080CtrlFbGetInfoParams = "NV2080_CTRL_FB_GET_INFO_PARAMS", size 16;
    /// Entries in the list.
    @0 fb_info_list_size: u32 = "fbInfoListSize";
    /// Padding.
    @4 pad0: u32 = "";
    /// User pointer to `NV2080_CTRL_FB_INFO[fb_info_list_size]`.
    @8 fb_info_list: u64 = "fbInfoList";
}

wire_struct! {
    /// `NV2080_CTRL_FB_GET_INFO_V2_PARAMS` (1028 bytes).
    Nv2080CtrlFbGetInfoV2Params = "NV2080_CTRL_FB_GET_INFO_V2_PARAMS", size 1028;
    /// Entries used (at most 128).
    @0 fb_info_list_size: u32 = "fbInfoListSize";
    /// The list.
    @4 fb_info_list: [Nv2080CtrlFbInfo; 128] = "fbInfoList";
}

wire_struct! {
    /// `NV2080_CTRL_GPU_PID_INFO` (72 bytes): one process's entry of
    /// GPU_GET_PID_INFO, with the video-memory-usage member of its data
    /// union (`NV2080_CTRL_GPU_PID_INFO_VIDEO_MEMORY_USAGE_DATA`).
    Nv2080CtrlGpuPidInfo = "NV2080_CTRL_GPU_PID_INFO", size 72;
    /// The process, as numbered in the calling task's pid namespace.
    @0 pid: u32 = "pid";
    /// `NV2080_CTRL_GPU_PID_INFO_INDEX_*`.
    @4 index: u32 = "index";
    /// OUT: this entry's status.
    @8 result: u32 = "result";
    /// Padding (the union is 8-aligned).
    @12 pad0: u32 = "";
    /// OUT: bytes of video memory only this process's clients refer to.
    @16 mem_private: u64 = "data.vidMemUsage.memPrivate";
    /// OUT: bytes of shared video memory these clients own.
    @24 mem_shared_owned: u64 = "data.vidMemUsage.memSharedOwned";
    /// OUT: bytes of shared video memory these clients hold dups of.
    @32 mem_shared_duped: u64 = "data.vidMemUsage.memSharedDuped";
    /// OUT: the protected-memory parts of the three above.
    @40 protected: [u64; 3] = "";
    /// OUT: MIG compute instance.
    @64 compute_instance_id: u32 = "smcSubscription.computeInstanceId";
    /// OUT: MIG GPU instance.
    @68 gpu_instance_id: u32 = "smcSubscription.gpuInstanceId";
}

/// `NV2080_CTRL_GPU_GET_PID_INFO_MAX_COUNT`.
pub const NV2080_CTRL_GPU_GET_PID_INFO_MAX_COUNT: usize = 200;
/// `NV2080_CTRL_GPU_PID_INFO_INDEX_VIDEO_MEMORY_USAGE`.
pub const NV2080_CTRL_GPU_PID_INFO_INDEX_VIDEO_MEMORY_USAGE: u32 = 0;

wire_struct! {
    /// `NV2080_CTRL_GPU_GET_PID_INFO_PARAMS` (14408 bytes): per-process
    /// information, computed by the RM at the call from every client whose
    /// process matches (`gpuFindClientInfoWithPidIterator`).
    Nv2080CtrlGpuGetPidInfoParams = "NV2080_CTRL_GPU_GET_PID_INFO_PARAMS", size 14408;
    /// Entries used (1..=200).
    @0 pid_info_list_count: u32 = "pidInfoListCount";
    /// Padding.
    @4 pad0: u32 = "";
    /// The list.
    @8 pid_info_list: [Nv2080CtrlGpuPidInfo; 200] = "pidInfoList";
}

wire_struct! {
    /// `NV2080_CTRL_GPU_GET_NAME_STRING_PARAMS` (132 bytes); the name is a
    /// union of 64 ASCII bytes or 64 UTF-16 units, kept as bytes.
    Nv2080CtrlGpuGetNameStringParams = "NV2080_CTRL_GPU_GET_NAME_STRING_PARAMS", size 132;
    /// 0 ASCII, 1 Unicode.
    @0 gpu_name_string_flags: u32 = "gpuNameStringFlags";
    /// The name.
    @4 gpu_name_string: [u8; 128] = "gpuNameString";
}

wire_struct! {
    /// `NV2080_CTRL_GPU_GET_SHORT_NAME_STRING_PARAMS` (64 bytes).
    Nv2080CtrlGpuGetShortNameStringParams = "NV2080_CTRL_GPU_GET_SHORT_NAME_STRING_PARAMS", size 64;
    /// The short name.
    @0 gpu_short_name_string: [u8; 64] = "gpuShortNameString";
}

wire_struct! {
    /// `NV2080_CTRL_GPU_GET_GID_INFO_PARAMS` (268 bytes).
    Nv2080CtrlGpuGetGidInfoParams = "NV2080_CTRL_GPU_GET_GID_INFO_PARAMS", size 268;
    /// Index.
    @0 index: u32 = "index";
    /// Format flags.
    @4 flags: u32 = "flags";
    /// OUT length of `data`.
    @8 length: u32 = "length";
    /// OUT GID (UUID) bytes or string.
    @12 data: [u8; 256] = "data";
}

wire_struct! {
    /// `NV0000_CTRL_GPU_GET_UUID_FROM_GPU_ID_PARAMS` (268 bytes).
    Nv0000CtrlGpuGetUuidFromGpuIdParams = "NV0000_CTRL_GPU_GET_UUID_FROM_GPU_ID_PARAMS", size 268;
    /// GPU id.
    @0 gpu_id: u32 = "gpuId";
    /// Format flags.
    @4 flags: u32 = "flags";
    /// OUT UUID.
    @8 gpu_uuid: [u8; 256] = "gpuUuid";
    /// OUT string length.
    @264 uuid_str_len: u32 = "uuidStrLen";
}

wire_struct! {
    /// `NV0000_CTRL_GPU_GET_PROBED_IDS_PARAMS` (384 bytes).
    Nv0000CtrlGpuGetProbedIdsParams = "NV0000_CTRL_GPU_GET_PROBED_IDS_PARAMS", size 384;
    /// Probed GPU ids (invalid entries are 0xffffffff).
    @0 gpu_ids: [u32; 32] = "gpuIds";
    /// Excluded GPU ids.
    @128 excluded_gpu_ids: [u32; 32] = "excludedGpuIds";
    /// Flags per GPU.
    @256 gpu_flags: [u32; 32] = "gpuFlags";
}

wire_struct! {
    /// `NV0000_CTRL_GPU_GET_ATTACHED_IDS_PARAMS` (128 bytes).
    Nv0000CtrlGpuGetAttachedIdsParams = "NV0000_CTRL_GPU_GET_ATTACHED_IDS_PARAMS", size 128;
    /// Attached GPU ids.
    @0 gpu_ids: [u32; 32] = "gpuIds";
}

wire_struct! {
    /// `NVA06F_CTRL_GPFIFO_SCHEDULE_PARAMS` = `NVA06C_CTRL_GPFIFO_SCHEDULE_PARAMS` (3 bytes).
    NvA06fCtrlGpfifoScheduleParams = "NVA06F_CTRL_GPFIFO_SCHEDULE_PARAMS", size 3;
    /// 1 enable (put on the runlist), 0 disable (take off it).
    @0 enable: u8 = "bEnable";
    /// Skip the submit.
    @1 skip_submit: u8 = "bSkipSubmit";
    /// Skip the enable.
    @2 skip_enable: u8 = "bSkipEnable";
}

wire_struct! {
    /// `NVA06C_CTRL_TIMESLICE_PARAMS` (8 bytes), for SET and GET.
    NvA06cCtrlTimesliceParams = "NVA06C_CTRL_TIMESLICE_PARAMS", size 8;
    /// Timeslice in microseconds.
    @0 timeslice_us: u64 = "timesliceUs";
}

wire_struct! {
    /// `NVA06C_CTRL_PREEMPT_PARAMS` (8 bytes).
    NvA06cCtrlPreemptParams = "NVA06C_CTRL_PREEMPT_PARAMS", size 8;
    /// Wait for completion.
    @0 wait: u8 = "bWait";
    /// Use `timeout_us`.
    @1 manual_timeout: u8 = "bManualTimeout";
    /// Padding.
    @2 pad0: u16 = "";
    /// Timeout (at most 1,000,000).
    @4 timeout_us: u32 = "timeoutUs";
}

wire_struct! {
    /// `NVA06C_CTRL_GET_INFO_PARAMS` (4 bytes).
    NvA06cCtrlGetInfoParams = "NVA06C_CTRL_GET_INFO_PARAMS", size 4;
    /// Hardware TSG id.
    @0 tsg_id: u32 = "tsgID";
}

wire_struct! {
    /// `NVA06C_CTRL_INTERLEAVE_LEVEL_PARAMS` (4 bytes), for SET and GET.
    NvA06cCtrlInterleaveLevelParams = "NVA06C_CTRL_INTERLEAVE_LEVEL_PARAMS", size 4;
    /// 0 low, 1 medium, 2 high.
    @0 tsg_interleave_level: u32 = "tsgInterleaveLevel";
}

wire_struct! {
    /// `NVA06C_CTRL_MAKE_REALTIME_PARAMS` (1 byte).
    NvA06cCtrlMakeRealtimeParams = "NVA06C_CTRL_MAKE_REALTIME_PARAMS", size 1;
    /// Realtime on/off.
    @0 realtime: u8 = "bRealtime";
}

wire_struct! {
    /// `NVA06F_CTRL_BIND_PARAMS` = `NVA06C_CTRL_BIND_PARAMS` (4 bytes).
    NvA06fCtrlBindParams = "NVA06F_CTRL_BIND_PARAMS", size 4;
    /// Engine type.
    @0 engine_type: u32 = "engineType";
}

wire_struct! {
    /// `NVA06F_CTRL_STOP_CHANNEL_PARAMS` (1 byte).
    NvA06fCtrlStopChannelParams = "NVA06F_CTRL_STOP_CHANNEL_PARAMS", size 1;
    /// Stop immediately.
    @0 immediate: u8 = "bImmediate";
}

wire_struct! {
    /// `NVA06F_CTRL_RESTART_RUNLIST_PARAMS` (2 bytes).
    NvA06fCtrlRestartRunlistParams = "NVA06F_CTRL_RESTART_RUNLIST_PARAMS", size 2;
    /// Force.
    @0 force_restart: u8 = "bForceRestart";
    /// Bypass wait.
    @1 bypass_wait: u8 = "bBypassWait";
}

wire_struct! {
    /// `NVA06F_CTRL_INTERLEAVE_LEVEL_PARAMS` (4 bytes).
    NvA06fCtrlInterleaveLevelParams = "NVA06F_CTRL_INTERLEAVE_LEVEL_PARAMS", size 4;
    /// Level.
    @0 channel_interleave_level: u32 = "channelInterleaveLevel";
}

wire_struct! {
    /// `NV2080_CTRL_FIFO_DISABLE_CHANNELS_PARAMS` (536 bytes).
    Nv2080CtrlFifoDisableChannelsParams = "NV2080_CTRL_FIFO_DISABLE_CHANNELS_PARAMS", size 536;
    /// 1 disable, 0 enable.
    @0 disable: u8 = "bDisable";
    /// Padding.
    @1 pad0: [u8; 3] = "";
    /// Entries used (at most 64).
    @4 num_channels: u32 = "numChannels";
    /// Only disable scheduling.
    @8 only_disable_scheduling: u8 = "bOnlyDisableScheduling";
    /// Rewind GP_PUT.
    @9 rewind_gp_put: u8 = "bRewindGpPut";
    /// Padding.
    @10 pad1: [u8; 6] = "";
    /// Kernel clients only, if non-null.
    @16 p_runlist_preempt_event: u64 = "pRunlistPreemptEvent";
    /// Clients.
    @24 h_client_list: [u32; 64] = "hClientList";
    /// Channels.
    @280 h_channel_list: [u32; 64] = "hChannelList";
}

wire_struct! {
    /// `NV2080_CTRL_FIFO_RUNLIST_SET_SCHED_POLICY_PARAMS` (8 bytes).
    Nv2080CtrlFifoRunlistSetSchedPolicyParams = "NV2080_CTRL_FIFO_RUNLIST_SET_SCHED_POLICY_PARAMS", size 8;
    /// Flags.
    @0 flags: u32 = "flags";
    /// Policy.
    @4 sched_policy: u32 = "schedPolicy";
}

wire_struct! {
    /// `NV2080_CTRL_FIFO_DISABLE_USERMODE_CHANNELS_PARAMS` (1 byte).
    Nv2080CtrlFifoDisableUsermodeChannelsParams = "NV2080_CTRL_FIFO_DISABLE_USERMODE_CHANNELS_PARAMS", size 1;
    /// Disable.
    @0 disable: u8 = "bDisable";
}

wire_struct! {
    /// `NV2080_CTRL_FIFO_CONFIG_CTXSW_TIMEOUT_PARAMS` (8 bytes).
    Nv2080CtrlFifoConfigCtxswTimeoutParams = "NV2080_CTRL_FIFO_CONFIG_CTXSW_TIMEOUT_PARAMS", size 8;
    /// Timeout (1024 ns ticks).
    @0 timeout: u32 = "timeout";
    /// Enable.
    @4 enable: u8 = "bEnable";
    /// Padding.
    @5 pad0: [u8; 3] = "";
}

wire_struct! {
    /// `NV2080_CTRL_GPU_SET_COMPUTE_POLICY_CONFIG_PARAMS` (8 bytes).
    Nv2080CtrlGpuSetComputePolicyConfigParams = "NV2080_CTRL_GPU_SET_COMPUTE_POLICY_CONFIG_PARAMS", size 8;
    /// Policy type (0 timeslice).
    @0 type_: u32 = "config.type";
    /// Value (timeslice: 0 default, 1 short, 2 medium, 3 long).
    @4 data: u32 = "config.data";
}

wire_struct! {
    /// `NVC36F_CTRL_CMD_GPFIFO_GET_WORK_SUBMIT_TOKEN_PARAMS` (4 bytes).
    NvC36fCtrlGpfifoGetWorkSubmitTokenParams = "NVC36F_CTRL_CMD_GPFIFO_GET_WORK_SUBMIT_TOKEN_PARAMS", size 4;
    /// OUT doorbell token.
    @0 work_submit_token: u32 = "workSubmitToken";
}

wire_struct! {
    /// `NV00FD_CTRL_ATTACH_GPU_PARAMS` (16 bytes).
    Nv00fdCtrlAttachGpuParams = "NV00FD_CTRL_ATTACH_GPU_PARAMS", size 16;
    /// Subdevice.
    @0 h_subdevice: u32 = "hSubdevice";
    /// Flags.
    @4 flags: u32 = "flags";
    /// fd of a `/dev/nvidiaN` file (validated with `nv_get_file_private`).
    @8 dev_descriptor: u64 = "devDescriptor";
}

wire_struct! {
    /// `NV00E0_CTRL_EXPORT_MEM_PARAMS` (1048 bytes).
    Nv00e0CtrlExportMemParams = "NV00E0_CTRL_EXPORT_MEM_PARAMS", size 1048;
    /// Index.
    @0 index: u16 = "index";
    /// Padding.
    @2 pad0: u16 = "";
    /// Parent (== client: no fd check).
    @4 h_parent: u32 = "hParent";
    /// Handles.
    @8 handles: [u32; 256] = "handles";
    /// Handles used.
    @1032 num_handles: u16 = "numHandles";
    /// Padding.
    @1034 pad1: [u8; 6] = "";
    /// fd of a `/dev/nvidiaN` file.
    @1040 dev_descriptor: u64 = "devDescriptor";
}

/// `NV0000_CTRL_OS_UNIX_EXPORT_OBJECT_TYPE_RM`: an RM object.
pub const NV0000_CTRL_OS_UNIX_EXPORT_OBJECT_TYPE_RM: u32 = 1;

wire_struct! {
    /// `NV0000_CTRL_OS_UNIX_EXPORT_OBJECT` (16 bytes).
    Nv0000CtrlOsUnixExportObject = "NV0000_CTRL_OS_UNIX_EXPORT_OBJECT", size 16;
    /// Object type.
    @0 type_: u32 = "type";
    /// Device.
    @4 h_device: u32 = "data.rmObject.hDevice";
    /// Parent.
    @8 h_parent: u32 = "data.rmObject.hParent";
    /// Object.
    @12 h_object: u32 = "data.rmObject.hObject";
}

wire_struct! {
    /// `NV0000_CTRL_OS_UNIX_EXPORT_OBJECT_TO_FD_PARAMS` (24 bytes).
    Nv0000CtrlOsUnixExportObjectToFdParams = "NV0000_CTRL_OS_UNIX_EXPORT_OBJECT_TO_FD_PARAMS", size 24;
    /// Object.
    @0 object: Nv0000CtrlOsUnixExportObject = "object";
    /// A ctl fd (export fd).
    @16 fd: i32 = "fd";
    /// Flags.
    @20 flags: u32 = "flags";
}

wire_struct! {
    /// `NV0000_CTRL_OS_UNIX_IMPORT_OBJECT_FROM_FD_PARAMS` (20 bytes).
    Nv0000CtrlOsUnixImportObjectFromFdParams = "NV0000_CTRL_OS_UNIX_IMPORT_OBJECT_FROM_FD_PARAMS", size 20;
    /// A ctl fd (export fd).
    @0 fd: i32 = "fd";
    /// Object.
    @4 object: Nv0000CtrlOsUnixExportObject = "object";
}

wire_struct! {
    /// `NV0000_CTRL_OS_UNIX_GET_EXPORT_OBJECT_INFO_PARAMS` (80 bytes).
    Nv0000CtrlOsUnixGetExportObjectInfoParams = "NV0000_CTRL_OS_UNIX_GET_EXPORT_OBJECT_INFO_PARAMS", size 80;
    /// A ctl fd (export fd).
    @0 fd: i32 = "fd";
    /// Device instance.
    @4 device_instance: u32 = "deviceInstance";
    /// GPU instance id.
    @8 gpu_instance_id: u32 = "gpuInstanceId";
    /// Max objects.
    @12 max_objects: u16 = "maxObjects";
    /// Metadata.
    @14 metadata: [u8; 64] = "metadata";
    /// Padding.
    @78 pad0: u16 = "";
}

wire_struct! {
    /// `NV0000_CTRL_OS_UNIX_CREATE_EXPORT_OBJECT_FD_PARAMS` (76 bytes).
    Nv0000CtrlOsUnixCreateExportObjectFdParams = "NV0000_CTRL_OS_UNIX_CREATE_EXPORT_OBJECT_FD_PARAMS", size 76;
    /// Device.
    @0 h_device: u32 = "hDevice";
    /// Max objects.
    @4 max_objects: u16 = "maxObjects";
    /// Metadata.
    @6 metadata: [u8; 64] = "metadata";
    /// Padding.
    @70 pad0: u16 = "";
    /// A ctl fd to turn into an export fd.
    @72 fd: i32 = "fd";
}

wire_struct! {
    /// `NV0000_CTRL_OS_UNIX_EXPORT_OBJECTS_TO_FD_PARAMS` (2128 bytes).
    Nv0000CtrlOsUnixExportObjectsToFdParams = "NV0000_CTRL_OS_UNIX_EXPORT_OBJECTS_TO_FD_PARAMS", size 2128;
    /// A ctl fd (export fd).
    @0 fd: i32 = "fd";
    /// Device.
    @4 h_device: u32 = "hDevice";
    /// Max objects.
    @8 max_objects: u16 = "maxObjects";
    /// Metadata.
    @10 metadata: [u8; 64] = "metadata";
    /// Padding.
    @74 pad0: u16 = "";
    /// Objects.
    @76 objects: [u32; 512] = "objects";
    /// Objects used.
    @2124 num_objects: u16 = "numObjects";
    /// Index.
    @2126 index: u16 = "index";
}

wire_struct! {
    /// `NV0000_CTRL_OS_UNIX_IMPORT_OBJECTS_FROM_FD_PARAMS` (652 bytes).
    Nv0000CtrlOsUnixImportObjectsFromFdParams = "NV0000_CTRL_OS_UNIX_IMPORT_OBJECTS_FROM_FD_PARAMS", size 652;
    /// A ctl fd (export fd).
    @0 fd: i32 = "fd";
    /// Parent.
    @4 h_parent: u32 = "hParent";
    /// Objects.
    @8 objects: [u32; 128] = "objects";
    /// Object types.
    @520 object_types: [u8; 128] = "objectTypes";
    /// Objects used.
    @648 num_objects: u16 = "numObjects";
    /// Index.
    @650 index: u16 = "index";
}

/// The C name of a control command, or `"<unknown control>"`.
pub fn control_name(cmd: u32) -> &'static str {
    match super::wire::const_name(CONTROL_CMDS, u64::from(cmd)) {
        Some(n) => n,
        None => match undocumented_control(cmd) {
            Some(u) => u.name,
            None => "<unknown control>",
        },
    }
}

/// The class a control command belongs to (`cmd >> 16`).
pub const fn control_class(cmd: u32) -> u32 {
    cmd >> 16
}

#[cfg(all(test, not(MODULE)))]
mod tests {
    use super::super::wire::Wire;
    use super::*;

    #[test]
    fn sizes_match_research_notes() {
        assert_eq!(Nv2080CtrlFbGetInfoV2Params::SIZE, 1028);
        assert_eq!(Nv2080CtrlFbGetInfoParams::SIZE, 16);
        assert_eq!(Nv2080CtrlFifoDisableChannelsParams::SIZE, 536);
        assert_eq!(Nv2080CtrlGpuPidInfo::SIZE, 72);
        assert_eq!(Nv2080CtrlGpuGetPidInfoParams::SIZE, 14408);
        assert_eq!(Nv00e0CtrlExportMemParams::SIZE, 1048);
        assert_eq!(Nv0000CtrlOsUnixExportObjectsToFdParams::SIZE, 2128);
        assert_eq!(Nv0000CtrlOsUnixImportObjectsFromFdParams::SIZE, 652);
        assert_eq!(
            core::mem::offset_of!(Nv0000CtrlOsUnixCreateExportObjectFdParams, fd),
            72
        );
        assert_eq!(
            core::mem::offset_of!(Nv0000CtrlOsUnixExportObjectToFdParams, fd),
            16
        );
    }

    #[test]
    fn fb_info_v2_round_trip() {
        let mut p = Nv2080CtrlFbGetInfoV2Params::ZERO;
        p.fb_info_list_size = 2;
        p.fb_info_list[0] = Nv2080CtrlFbInfo {
            index: 0x16,
            data: 1234,
        };
        p.fb_info_list[127] = Nv2080CtrlFbInfo {
            index: 0x9,
            data: 99,
        };
        let mut b = [0u8; 1028];
        assert!(p.write(&mut b));
        assert_eq!(&b[4..12], &[0x16, 0, 0, 0, 0xd2, 0x04, 0, 0]);
        assert_eq!(&b[4 + 8 * 127..4 + 8 * 127 + 4], &[9, 0, 0, 0]);
        assert_eq!(Nv2080CtrlFbGetInfoV2Params::read(&b), Some(p));
    }

    #[test]
    fn names() {
        assert_eq!(control_name(0xa06c0103), "NVA06C_CTRL_CMD_SET_TIMESLICE");
        assert_eq!(control_name(0x20801303), "NV2080_CTRL_CMD_FB_GET_INFO_V2");
        assert_eq!(control_name(1), "<unknown control>");
        assert_eq!(control_class(0xa06c0103), 0xa06c);
    }
}
