// SPDX-License-Identifier: GPL-2.0

//! `/dev/nvidiactl` and `/dev/nvidiaN` escapes: numbers, ioctl encoding and
//! the `nv_ioctl_*` parameter blocks that `nv.c`/`osapi.c` handle
//! themselves.
//!
//! Sources (driver 580.142): `kernel-open/common/inc/nv-ioctl-numbers.h`,
//! `nv-ioctl.h`, `nv-ioctl-numa.h` and
//! `src/nvidia/arch/nvalloc/unix/include/nv_escape.h`. Every number and
//! layout here is checked by the layout test against those headers.
//!
//! **Decoding rule of the driver** (`nvidia_ioctl`, `nv.c`): only `_IOC_NR`
//! and `_IOC_SIZE` of the command are used; the type (`'F'`) and direction
//! bits are ignored. A proxy must therefore classify by [`ioc_nr`] and
//! [`ioc_size`] alone, or a tenant could hide an `RM_ALLOC` behind a
//! different type byte.

abi_consts! {
    /// Escape numbers and ioctl constants.
    ESCAPES: u32 {
        /// `'F'`, the type byte userspace puts in the command (ignored by the driver).
        NV_IOCTL_MAGIC = 0x46;
        /// First number of the `nv.c` group.
        NV_IOCTL_BASE = 200;
        /// Card list (`nv_ioctl_card_info_t[]`), ctl only.
        NV_ESC_CARD_INFO = 200;
        /// Link a file to a ctl file (`nv_ioctl_register_fd_t`).
        NV_ESC_REGISTER_FD = 201;
        /// Create an OS event (`nv_ioctl_alloc_os_event_t`).
        NV_ESC_ALLOC_OS_EVENT = 206;
        /// Free an OS event (`nv_ioctl_free_os_event_t`).
        NV_ESC_FREE_OS_EVENT = 207;
        /// Status of a GPU by PCI location (`nv_ioctl_status_code_t`).
        NV_ESC_STATUS_CODE = 209;
        /// Version handshake (`nv_ioctl_rm_api_version_t`).
        NV_ESC_CHECK_VERSION_STR = 210;
        /// Indirection for blocks over 16 KiB (`nv_ioctl_xfer_t`).
        NV_ESC_IOCTL_XFER_CMD = 211;
        /// Attach GPUs to a ctl file (`NvU32 gpu_id[]`).
        NV_ESC_ATTACH_GPUS_TO_FD = 212;
        /// Interrupt query (`nv_ioctl_query_device_intr`).
        NV_ESC_QUERY_DEVICE_INTR = 213;
        /// System parameters (`nv_ioctl_sys_params_t`).
        NV_ESC_SYS_PARAMS = 214;
        /// NUMA info (`nv_ioctl_numa_info_t`).
        NV_ESC_NUMA_INFO = 215;
        /// Set NUMA status (`nv_ioctl_set_numa_status_t`), root only.
        NV_ESC_SET_NUMA_STATUS = 216;
        /// Export RM memory as a dma-buf (`nv_ioctl_export_to_dma_buf_fd_t`).
        NV_ESC_EXPORT_TO_DMABUF_FD = 217;
        /// Wait for a deferred open (`nv_ioctl_wait_open_complete_t`).
        NV_ESC_WAIT_OPEN_COMPLETE = 218;
        /// Legacy memory alloc (`nv_ioctl_nvos02_parameters_with_fd`).
        NV_ESC_RM_ALLOC_MEMORY = 0x27;
        /// Legacy object alloc (NVOS05).
        NV_ESC_RM_ALLOC_OBJECT = 0x28;
        /// Free an object and its subtree (NVOS00).
        NV_ESC_RM_FREE = 0x29;
        /// Control call (NVOS54).
        NV_ESC_RM_CONTROL = 0x2A;
        /// Object alloc (NVOS21 or NVOS64).
        NV_ESC_RM_ALLOC = 0x2B;
        /// No handler in 580.
        NV_ESC_RM_CONFIG_GET = 0x32;
        /// No handler in 580.
        NV_ESC_RM_CONFIG_SET = 0x33;
        /// Duplicate an object (NVOS55).
        NV_ESC_RM_DUP_OBJECT = 0x34;
        /// Share an object (NVOS57).
        NV_ESC_RM_SHARE = 0x35;
        /// No handler in 580.
        NV_ESC_RM_CONFIG_GET_EX = 0x37;
        /// No handler in 580.
        NV_ESC_RM_CONFIG_SET_EX = 0x38;
        /// I2C access (`NVOS_I2C_ACCESS_PARAMS`, not declared here).
        NV_ESC_RM_I2C_ACCESS = 0x39;
        /// Idle channels (NVOS30).
        NV_ESC_RM_IDLE_CHANNELS = 0x41;
        /// Legacy heap control (NVOS32).
        NV_ESC_RM_VID_HEAP_CONTROL = 0x4A;
        /// Registry access (NVOS38).
        NV_ESC_RM_ACCESS_REGISTRY = 0x4D;
        /// CPU mapping (`nv_ioctl_nvos33_parameters_with_fd`).
        NV_ESC_RM_MAP_MEMORY = 0x4E;
        /// CPU unmapping (NVOS34).
        NV_ESC_RM_UNMAP_MEMORY = 0x4F;
        /// Drain an event queue (NVOS41).
        NV_ESC_RM_GET_EVENT_DATA = 0x52;
        /// Context DMA alloc (NVOS39).
        NV_ESC_RM_ALLOC_CONTEXT_DMA2 = 0x54;
        /// No user handler.
        NV_ESC_RM_ADD_VBLANK_CALLBACK = 0x56;
        /// GPU VA mapping (NVOS46).
        NV_ESC_RM_MAP_MEMORY_DMA = 0x57;
        /// GPU VA unmapping (NVOS47).
        NV_ESC_RM_UNMAP_MEMORY_DMA = 0x58;
        /// Bind a context DMA (NVOS49).
        NV_ESC_RM_BIND_CONTEXT_DMA = 0x59;
        /// No handler in 580 (done through NV0000 OS_UNIX controls).
        NV_ESC_RM_EXPORT_OBJECT_TO_FD = 0x5C;
        /// No handler in 580 (done through NV0000 OS_UNIX controls).
        NV_ESC_RM_IMPORT_OBJECT_FROM_FD = 0x5D;
        /// Update the CPU address of a mapping (NVOS56).
        NV_ESC_RM_UPDATE_DEVICE_MAPPING_INFO = 0x5E;
        /// Lockless diagnostics, CAP_SYS_ADMIN (not declared here).
        NV_ESC_RM_LOCKLESS_DIAGNOSTIC = 0x5F;
        /// Largest inner size `NV_ESC_IOCTL_XFER_CMD` accepts (`NV_ABSOLUTE_MAX_IOCTL_SIZE`).
        NV_ABSOLUTE_MAX_IOCTL_SIZE = 16384;
        /// `NV_RM_API_VERSION_STRING_LENGTH`.
        NV_RM_API_VERSION_STRING_LENGTH = 64;
        /// `NV_DMABUF_EXPORT_MAX_HANDLES`.
        NV_DMABUF_EXPORT_MAX_HANDLES = 128;
        /// `NV_IOCTL_NUMA_INFO_MAX_OFFLINE_ADDRESSES`.
        NV_IOCTL_NUMA_INFO_MAX_OFFLINE_ADDRESSES = 64;
        /// Version check: strict.
        NV_RM_API_VERSION_CMD_STRICT = 0;
        /// Version check: relaxed (`'1'`).
        NV_RM_API_VERSION_CMD_RELAXED = 0x31;
        /// Version check: query (`'2'`).
        NV_RM_API_VERSION_CMD_QUERY = 0x32;
    }
}

/// Linux `_IOC_NR`: bits 7..0.
pub const fn ioc_nr(cmd: u32) -> u32 {
    cmd & 0xff
}

/// Linux `_IOC_TYPE`: bits 15..8.
pub const fn ioc_type(cmd: u32) -> u32 {
    (cmd >> 8) & 0xff
}

/// Linux `_IOC_SIZE`: bits 29..16 (14 bits).
pub const fn ioc_size(cmd: u32) -> u32 {
    (cmd >> 16) & 0x3fff
}

/// Linux `_IOC_DIR`: bits 31..30.
pub const fn ioc_dir(cmd: u32) -> u32 {
    cmd >> 30
}

/// `_IOWR(NV_IOCTL_MAGIC, nr, size)`, the command userspace sends.
/// `size` is truncated to 14 bits and `nr` to 8, as the C macro would.
pub const fn nv_iowr(nr: u32, size: u32) -> u32 {
    (3 << 30) | ((size & 0x3fff) << 16) | (NV_IOCTL_MAGIC << 8) | (nr & 0xff)
}

wire_struct! {
    /// `nv_pci_info_t` (12 bytes).
    NvPciInfo = "nv_pci_info_t", size 12;
    /// PCI domain.
    @0 domain: u32 = "domain";
    /// PCI bus.
    @4 bus: u8 = "bus";
    /// PCI slot.
    @5 slot: u8 = "slot";
    /// PCI function.
    @6 function: u8 = "function";
    /// Padding.
    @7 pad0: u8 = "";
    /// PCI vendor id.
    @8 vendor_id: u16 = "vendor_id";
    /// PCI device id.
    @10 device_id: u16 = "device_id";
}

wire_struct! {
    /// `nv_ioctl_xfer_t`: the indirection for large blocks (16 bytes).
    NvIoctlXfer = "nv_ioctl_xfer_t", size 16;
    /// Inner escape number, compared by the driver as a full value.
    @0 cmd: u32 = "cmd";
    /// Inner parameter size (at most [`NV_ABSOLUTE_MAX_IOCTL_SIZE`]).
    @4 size: u32 = "size";
    /// User pointer to the inner block.
    @8 ptr: u64 = "ptr";
}

wire_struct! {
    /// `nv_ioctl_card_info_t`, one entry of the CARD_INFO array (72 bytes).
    NvIoctlCardInfo = "nv_ioctl_card_info_t", size 72;
    /// Entry is valid.
    @0 valid: u8 = "valid";
    /// Padding.
    @1 pad0: [u8; 3] = "";
    /// PCI location and ids.
    @4 pci_info: NvPciInfo = "pci_info";
    /// Driver GPU id.
    @16 gpu_id: u32 = "gpu_id";
    /// Interrupt line.
    @20 interrupt_line: u16 = "interrupt_line";
    /// Padding.
    @22 pad1: u16 = "";
    /// BAR0 address.
    @24 reg_address: u64 = "reg_address";
    /// BAR0 size.
    @32 reg_size: u64 = "reg_size";
    /// FB BAR address.
    @40 fb_address: u64 = "fb_address";
    /// FB BAR size.
    @48 fb_size: u64 = "fb_size";
    /// Minor number of `/dev/nvidiaN`.
    @56 minor_number: u32 = "minor_number";
    /// Device name (vmkernel only).
    @60 dev_name: [u8; 10] = "dev_name";
    /// Padding.
    @70 pad2: u16 = "";
}

wire_struct! {
    /// `nv_ioctl_alloc_os_event_t` (16 bytes); FREE_OS_EVENT's
    /// `nv_ioctl_free_os_event_t` has the identical layout and is declared by
    /// [`NvIoctlFreeOsEvent`].
    NvIoctlAllocOsEvent = "nv_ioctl_alloc_os_event_t", size 16;
    /// Client.
    @0 h_client: u32 = "hClient";
    /// Device.
    @4 h_device: u32 = "hDevice";
    /// fd number, used only as a key (never dereferenced by the driver).
    @8 fd: u32 = "fd";
    /// OUT status.
    @12 status: u32 = "Status";
}

wire_struct! {
    /// `nv_ioctl_free_os_event_t` (16 bytes).
    NvIoctlFreeOsEvent = "nv_ioctl_free_os_event_t", size 16;
    /// Client.
    @0 h_client: u32 = "hClient";
    /// Device.
    @4 h_device: u32 = "hDevice";
    /// fd number used as the key at allocation.
    @8 fd: u32 = "fd";
    /// OUT status.
    @12 status: u32 = "Status";
}

wire_struct! {
    /// `nv_ioctl_status_code_t` (12 bytes).
    NvIoctlStatusCode = "nv_ioctl_status_code_t", size 12;
    /// PCI domain.
    @0 domain: u32 = "domain";
    /// PCI bus.
    @4 bus: u8 = "bus";
    /// PCI slot.
    @5 slot: u8 = "slot";
    /// Padding.
    @6 pad0: u16 = "";
    /// OUT status.
    @8 status: u32 = "status";
}

wire_struct! {
    /// `nv_ioctl_rm_api_version_t` (72 bytes).
    NvIoctlRmApiVersion = "nv_ioctl_rm_api_version_t", size 72;
    /// 0 strict, `'1'` relaxed, `'2'` query.
    @0 cmd: u32 = "cmd";
    /// OUT: recognised (1) or not (0).
    @4 reply: u32 = "reply";
    /// NUL-terminated version string (IN, and OUT on mismatch/query).
    @8 version_string: [u8; 64] = "versionString";
}

wire_struct! {
    /// `nv_ioctl_query_device_intr` (8 bytes).
    NvIoctlQueryDeviceIntr = "nv_ioctl_query_device_intr", size 8;
    /// OUT interrupt status.
    @0 intr_status: u32 = "intrStatus";
    /// OUT status.
    @4 status: u32 = "status";
}

wire_struct! {
    /// `nv_ioctl_sys_params_t` (8 bytes).
    NvIoctlSysParams = "nv_ioctl_sys_params_t", size 8;
    /// Memory block size.
    @0 memblock_size: u64 = "memblock_size";
}

wire_struct! {
    /// `nv_ioctl_register_fd_t` (4 bytes).
    NvIoctlRegisterFd = "nv_ioctl_register_fd_t", size 4;
    /// A `/dev/nvidiactl` fd of the caller; the driver `fget`s it and keeps it.
    @0 ctl_fd: i32 = "ctl_fd";
}

wire_struct! {
    /// `nv_ioctl_export_to_dma_buf_fd_t` (2608 bytes). Large: in the kernel
    /// read single fields (see the decoder) rather than the whole struct.
    NvIoctlExportToDmaBufFd = "nv_ioctl_export_to_dma_buf_fd_t", size 2608;
    /// IN -1 for a new dma-buf or an existing dma-buf fd; OUT the dma-buf fd.
    @0 fd: i32 = "fd";
    /// Client.
    @4 h_client: u32 = "hClient";
    /// Objects in the whole dma-buf.
    @8 total_objects: u32 = "totalObjects";
    /// Objects in this call.
    @12 num_objects: u32 = "numObjects";
    /// Index of the first object of this call.
    @16 index: u32 = "index";
    /// Padding.
    @20 pad0: u32 = "";
    /// Total size of the dma-buf.
    @24 total_size: u64 = "totalSize";
    /// 0 default, 1 force PCIe.
    @32 mapping_type: u8 = "mappingType";
    /// Allow mmap of the dma-buf.
    @33 allow_mmap: u8 = "bAllowMmap";
    /// Padding.
    @34 pad1: u16 = "";
    /// Memory handles.
    @36 handles: [u32; 128] = "handles";
    /// Padding.
    @548 pad2: u32 = "";
    /// Offsets into each memory object.
    @552 offsets: [u64; 128] = "offsets";
    /// Sizes of each range.
    @1576 sizes: [u64; 128] = "sizes";
    /// OUT status.
    @2600 status: u32 = "status";
    /// Padding.
    @2604 pad3: u32 = "";
}

wire_struct! {
    /// `nv_ioctl_wait_open_complete_t` (8 bytes).
    NvIoctlWaitOpenComplete = "nv_ioctl_wait_open_complete_t", size 8;
    /// OUT errno of the deferred open.
    @0 rc: i32 = "rc";
    /// OUT adapter status.
    @4 adapter_status: u32 = "adapterStatus";
}

wire_struct! {
    /// `nv_offline_addresses_t` (520 bytes).
    NvOfflineAddresses = "nv_offline_addresses_t", size 520;
    /// Offlined addresses.
    @0 addresses: [u64; 64] = "addresses";
    /// Valid entries.
    @512 num_entries: u32 = "numEntries";
    /// Padding.
    @516 pad0: u32 = "";
}

wire_struct! {
    /// `nv_ioctl_numa_info_t` (560 bytes).
    NvIoctlNumaInfo = "nv_ioctl_numa_info_t", size 560;
    /// NUMA node id.
    @0 nid: i32 = "nid";
    /// NUMA status (`NV_IOCTL_NUMA_STATUS_*`).
    @4 status: i32 = "status";
    /// Memory block size.
    @8 memblock_size: u64 = "memblock_size";
    /// Start of the GPU's NUMA memory.
    @16 numa_mem_addr: u64 = "numa_mem_addr";
    /// Size of the GPU's NUMA memory.
    @24 numa_mem_size: u64 = "numa_mem_size";
    /// Auto-online setting.
    @32 use_auto_online: u8 = "use_auto_online";
    /// Padding.
    @33 pad0: [u8; 7] = "";
    /// Offlined pages.
    @40 offline_addresses: NvOfflineAddresses = "offline_addresses";
}

wire_struct! {
    /// `nv_ioctl_set_numa_status_t` (4 bytes).
    NvIoctlSetNumaStatus = "nv_ioctl_set_numa_status_t", size 4;
    /// New status.
    @0 status: i32 = "status";
}

/// Which file an escape is accepted on (driver rule, `nv.c`/`escape.c`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Where {
    /// Only `/dev/nvidiactl`.
    Ctl,
    /// Only a `/dev/nvidiaN` file.
    Dev,
    /// Either.
    Both,
    /// No handler exists; the driver fails the call everywhere.
    Nowhere,
}

/// How the driver checks an escape's argument size.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SizeRule {
    /// Exactly this many bytes.
    Exact(u32),
    /// Either of two sizes (RM_ALLOC: NVOS21 or NVOS64).
    Either(u32, u32),
    /// A non-zero multiple of this element size (ATTACH_GPUS_TO_FD).
    Multiple(u32),
    /// At least this many bytes (QUERY_DEVICE_INTR).
    AtLeast(u32),
    /// Not declared here; any size is passed on.
    Any,
}

impl SizeRule {
    /// Whether `size` satisfies the rule.
    pub const fn accepts(self, size: u32) -> bool {
        match self {
            SizeRule::Exact(n) => size == n,
            SizeRule::Either(a, b) => size == a || size == b,
            SizeRule::Multiple(n) => size != 0 && matches!(size.checked_rem(n), Some(0)),
            SizeRule::AtLeast(n) => size >= n,
            SizeRule::Any => true,
        }
    }
}

macro_rules! escape_enum {
    ($( $(#[$m:meta])* $v:ident = $num:ident, $where:ident, $rule:expr; )*) => {
        /// A known escape of nvidia.ko.
        #[derive(Debug, Clone, Copy, PartialEq, Eq)]
        pub enum Escape {
            $( $(#[$m])* $v, )*
        }

        impl Escape {
            /// All escapes.
            pub const ALL: &'static [Escape] = &[$(Escape::$v,)*];

            /// The escape with this number (matched as a full 32-bit value,
            /// as the driver does for an `XFER` inner command).
            pub const fn from_nr(nr: u32) -> Option<Escape> {
                match nr {
                    $( $num => Some(Escape::$v), )*
                    _ => None,
                }
            }

            /// The escape number.
            pub const fn nr(self) -> u32 {
                match self { $( Escape::$v => $num, )* }
            }

            /// The C name.
            pub const fn name(self) -> &'static str {
                match self { $( Escape::$v => stringify!($num), )* }
            }

            /// Which files accept it.
            pub const fn allowed(self) -> Where {
                match self { $( Escape::$v => Where::$where, )* }
            }

            /// The driver's size check.
            pub const fn size_rule(self) -> SizeRule {
                match self { $( Escape::$v => $rule, )* }
            }
        }
    };
}

use super::rm;
use super::wire::Wire;

const fn sz<T: Wire>() -> u32 {
    T::SIZE as u32
}

escape_enum! {
    /// `NV_ESC_CARD_INFO`.
    /// Any size: the driver fills `size / 72` entries and fails if there
    /// are fewer entries than GPUs.
    CardInfo = NV_ESC_CARD_INFO, Ctl, SizeRule::Any;
    /// `NV_ESC_REGISTER_FD`.
    RegisterFd = NV_ESC_REGISTER_FD, Both, SizeRule::Exact(sz::<NvIoctlRegisterFd>());
    /// `NV_ESC_ALLOC_OS_EVENT`.
    AllocOsEvent = NV_ESC_ALLOC_OS_EVENT, Both, SizeRule::Exact(sz::<NvIoctlAllocOsEvent>());
    /// `NV_ESC_FREE_OS_EVENT`.
    FreeOsEvent = NV_ESC_FREE_OS_EVENT, Both, SizeRule::Exact(sz::<NvIoctlFreeOsEvent>());
    /// `NV_ESC_STATUS_CODE`.
    StatusCode = NV_ESC_STATUS_CODE, Ctl, SizeRule::Exact(sz::<NvIoctlStatusCode>());
    /// `NV_ESC_CHECK_VERSION_STR`.
    CheckVersionStr = NV_ESC_CHECK_VERSION_STR, Ctl, SizeRule::Exact(sz::<NvIoctlRmApiVersion>());
    /// `NV_ESC_IOCTL_XFER_CMD`.
    IoctlXfer = NV_ESC_IOCTL_XFER_CMD, Both, SizeRule::Exact(sz::<NvIoctlXfer>());
    /// `NV_ESC_ATTACH_GPUS_TO_FD`.
    AttachGpusToFd = NV_ESC_ATTACH_GPUS_TO_FD, Ctl, SizeRule::Multiple(4);
    /// `NV_ESC_QUERY_DEVICE_INTR`.
    QueryDeviceIntr = NV_ESC_QUERY_DEVICE_INTR, Dev, SizeRule::AtLeast(sz::<NvIoctlQueryDeviceIntr>());
    /// `NV_ESC_SYS_PARAMS`.
    SysParams = NV_ESC_SYS_PARAMS, Ctl, SizeRule::Exact(sz::<NvIoctlSysParams>());
    /// `NV_ESC_NUMA_INFO`.
    NumaInfo = NV_ESC_NUMA_INFO, Dev, SizeRule::Exact(sz::<NvIoctlNumaInfo>());
    /// `NV_ESC_SET_NUMA_STATUS`.
    SetNumaStatus = NV_ESC_SET_NUMA_STATUS, Dev, SizeRule::Exact(sz::<NvIoctlSetNumaStatus>());
    /// `NV_ESC_EXPORT_TO_DMABUF_FD`.
    ExportToDmabufFd = NV_ESC_EXPORT_TO_DMABUF_FD, Dev, SizeRule::Exact(sz::<NvIoctlExportToDmaBufFd>());
    /// `NV_ESC_WAIT_OPEN_COMPLETE`.
    WaitOpenComplete = NV_ESC_WAIT_OPEN_COMPLETE, Both, SizeRule::Exact(sz::<NvIoctlWaitOpenComplete>());
    /// `NV_ESC_RM_ALLOC_MEMORY`.
    RmAllocMemory = NV_ESC_RM_ALLOC_MEMORY, Dev, SizeRule::Exact(sz::<rm::Nvos02WithFd>());
    /// `NV_ESC_RM_ALLOC_OBJECT`.
    RmAllocObject = NV_ESC_RM_ALLOC_OBJECT, Ctl, SizeRule::Exact(sz::<rm::Nvos05>());
    /// `NV_ESC_RM_FREE`.
    RmFree = NV_ESC_RM_FREE, Ctl, SizeRule::Exact(sz::<rm::Nvos00>());
    /// `NV_ESC_RM_CONTROL`.
    RmControl = NV_ESC_RM_CONTROL, Ctl, SizeRule::Exact(sz::<rm::Nvos54>());
    /// `NV_ESC_RM_ALLOC` (event classes are also accepted on GPU files).
    RmAlloc = NV_ESC_RM_ALLOC, Ctl, SizeRule::Either(sz::<rm::Nvos21>(), sz::<rm::Nvos64>());
    /// `NV_ESC_RM_CONFIG_GET`.
    RmConfigGet = NV_ESC_RM_CONFIG_GET, Nowhere, SizeRule::Any;
    /// `NV_ESC_RM_CONFIG_SET`.
    RmConfigSet = NV_ESC_RM_CONFIG_SET, Nowhere, SizeRule::Any;
    /// `NV_ESC_RM_DUP_OBJECT`.
    RmDupObject = NV_ESC_RM_DUP_OBJECT, Ctl, SizeRule::Exact(sz::<rm::Nvos55>());
    /// `NV_ESC_RM_SHARE`.
    RmShare = NV_ESC_RM_SHARE, Ctl, SizeRule::Exact(sz::<rm::Nvos57>());
    /// `NV_ESC_RM_CONFIG_GET_EX`.
    RmConfigGetEx = NV_ESC_RM_CONFIG_GET_EX, Nowhere, SizeRule::Any;
    /// `NV_ESC_RM_CONFIG_SET_EX`.
    RmConfigSetEx = NV_ESC_RM_CONFIG_SET_EX, Nowhere, SizeRule::Any;
    /// `NV_ESC_RM_I2C_ACCESS`.
    RmI2cAccess = NV_ESC_RM_I2C_ACCESS, Dev, SizeRule::Any;
    /// `NV_ESC_RM_IDLE_CHANNELS`.
    RmIdleChannels = NV_ESC_RM_IDLE_CHANNELS, Ctl, SizeRule::Exact(sz::<rm::Nvos30>());
    /// `NV_ESC_RM_VID_HEAP_CONTROL`.
    RmVidHeapControl = NV_ESC_RM_VID_HEAP_CONTROL, Ctl, SizeRule::Exact(sz::<rm::Nvos32>());
    /// `NV_ESC_RM_ACCESS_REGISTRY`.
    RmAccessRegistry = NV_ESC_RM_ACCESS_REGISTRY, Ctl, SizeRule::Exact(sz::<rm::Nvos38>());
    /// `NV_ESC_RM_MAP_MEMORY`.
    RmMapMemory = NV_ESC_RM_MAP_MEMORY, Ctl, SizeRule::Exact(sz::<rm::Nvos33WithFd>());
    /// `NV_ESC_RM_UNMAP_MEMORY`.
    RmUnmapMemory = NV_ESC_RM_UNMAP_MEMORY, Ctl, SizeRule::Exact(sz::<rm::Nvos34>());
    /// `NV_ESC_RM_GET_EVENT_DATA`.
    RmGetEventData = NV_ESC_RM_GET_EVENT_DATA, Both, SizeRule::Exact(sz::<rm::Nvos41>());
    /// `NV_ESC_RM_ALLOC_CONTEXT_DMA2`.
    RmAllocContextDma2 = NV_ESC_RM_ALLOC_CONTEXT_DMA2, Ctl, SizeRule::Exact(sz::<rm::Nvos39>());
    /// `NV_ESC_RM_ADD_VBLANK_CALLBACK`.
    RmAddVblankCallback = NV_ESC_RM_ADD_VBLANK_CALLBACK, Nowhere, SizeRule::Any;
    /// `NV_ESC_RM_MAP_MEMORY_DMA`.
    RmMapMemoryDma = NV_ESC_RM_MAP_MEMORY_DMA, Ctl, SizeRule::Exact(sz::<rm::Nvos46>());
    /// `NV_ESC_RM_UNMAP_MEMORY_DMA`.
    RmUnmapMemoryDma = NV_ESC_RM_UNMAP_MEMORY_DMA, Ctl, SizeRule::Exact(sz::<rm::Nvos47>());
    /// `NV_ESC_RM_BIND_CONTEXT_DMA`.
    RmBindContextDma = NV_ESC_RM_BIND_CONTEXT_DMA, Ctl, SizeRule::Exact(sz::<rm::Nvos49>());
    /// `NV_ESC_RM_EXPORT_OBJECT_TO_FD`.
    RmExportObjectToFd = NV_ESC_RM_EXPORT_OBJECT_TO_FD, Nowhere, SizeRule::Any;
    /// `NV_ESC_RM_IMPORT_OBJECT_FROM_FD`.
    RmImportObjectFromFd = NV_ESC_RM_IMPORT_OBJECT_FROM_FD, Nowhere, SizeRule::Any;
    /// `NV_ESC_RM_UPDATE_DEVICE_MAPPING_INFO`.
    RmUpdateDeviceMappingInfo = NV_ESC_RM_UPDATE_DEVICE_MAPPING_INFO, Ctl, SizeRule::Exact(sz::<rm::Nvos56>());
    /// `NV_ESC_RM_LOCKLESS_DIAGNOSTIC`.
    RmLocklessDiagnostic = NV_ESC_RM_LOCKLESS_DIAGNOSTIC, Ctl, SizeRule::Any;
}

impl Escape {
    /// The command userspace normally sends for this escape, with the
    /// escape's exact size (`None` for array and unsized escapes).
    pub const fn typical_cmd(self) -> Option<u32> {
        match self.size_rule() {
            SizeRule::Exact(n) | SizeRule::Either(n, _) => Some(nv_iowr(self.nr(), n)),
            _ => None,
        }
    }
}

#[cfg(all(test, not(MODULE)))]
mod tests {
    use super::*;

    #[test]
    fn sizes() {
        assert_eq!(NvIoctlCardInfo::SIZE, 72);
        assert_eq!(NvIoctlRmApiVersion::SIZE, 72);
        assert_eq!(NvIoctlExportToDmaBufFd::SIZE, 2608);
        assert_eq!(NvIoctlNumaInfo::SIZE, 560);
        assert_eq!(NvIoctlXfer::SIZE, 16);
        assert_eq!(NvIoctlStatusCode::SIZE, 12);
    }

    #[test]
    fn typical_commands_match_research_notes() {
        assert_eq!(Escape::RmAlloc.typical_cmd(), Some(0xc020_462b));
        assert_eq!(nv_iowr(NV_ESC_RM_ALLOC, 48), 0xc030_462b);
        assert_eq!(Escape::RmControl.typical_cmd(), Some(0xc020_462a));
        assert_eq!(Escape::RmMapMemory.typical_cmd(), Some(0xc038_464e));
        assert_eq!(Escape::RmVidHeapControl.typical_cmd(), Some(0xc0b8_464a));
        assert_eq!(Escape::RegisterFd.typical_cmd(), Some(0xc004_46c9));
        assert_eq!(Escape::NumaInfo.typical_cmd(), Some(0xc230_46d7));
        assert_eq!(Escape::ExportToDmabufFd.typical_cmd(), Some(0xca30_46d9));
        assert_eq!(Escape::CheckVersionStr.typical_cmd(), Some(0xc048_46d2));
        assert_eq!(nv_iowr(NV_ESC_CARD_INFO, 32 * 72), 0xc900_46c8);
        let c = 0xc020_462b;
        assert_eq!(
            (ioc_dir(c), ioc_type(c), ioc_nr(c), ioc_size(c)),
            (3, 0x46, 0x2b, 32)
        );
    }

    #[test]
    fn escape_table_is_consistent() {
        for e in Escape::ALL {
            assert_eq!(Escape::from_nr(e.nr()), Some(*e));
            assert!(e.name().starts_with("NV_ESC_"));
        }
        assert_eq!(Escape::from_nr(0x12a), None);
        assert!(SizeRule::Multiple(4).accepts(8));
        assert!(!SizeRule::Multiple(4).accepts(0));
        assert!(!SizeRule::Multiple(4).accepts(6));
        assert!(SizeRule::AtLeast(8).accepts(9));
        assert!(!SizeRule::AtLeast(8).accepts(7));
    }

    #[test]
    fn round_trip_card_info() {
        let mut c = NvIoctlCardInfo::ZERO;
        c.valid = 1;
        c.pci_info.bus = 0x41;
        c.pci_info.device_id = 0x2330;
        c.gpu_id = 0x4100;
        c.fb_size = 0x20_0000_0000;
        c.minor_number = 3;
        let mut buf = [0u8; 72];
        assert!(c.write(&mut buf));
        assert_eq!(buf[8], 0x41);
        assert_eq!(&buf[14..16], &[0x30, 0x23]);
        assert_eq!(buf[56], 3);
        assert_eq!(NvIoctlCardInfo::read(&buf), Some(c));
    }
}
