// SPDX-License-Identifier: GPL-2.0

//! The kernel-side RM API that `nvidia.ko` exports to other modules
//! (`nvidia_get_rm_ops`, `kernel-open/common/inc/nv-modeset-interface.h`)
//! and the operation block its `op` entry takes
//! (`nvidia_kernel_rmapi_ops_t`, `src/nvidia/arch/nvalloc/unix/include/nv-kernel-rmapi-ops.h`),
//! driver 580, x86_64.
//!
//! The ops table itself (`nvidia_modeset_rm_ops_t`, [`RmOps`]) holds
//! function pointers: the driver (nvsim) fills it, the caller (fakegpu's
//! kernel RM client) calls through it. Parameter pointers inside the NVOS
//! blocks of a kernel operation are **kernel** pointers.
//! Not checked by the layout test (the headers are not in its include set).

abi_consts! {
    /// Operation codes of `nvidia_kernel_rmapi_ops_t.op` (`nvos.h`).
    KERNEL_RMAPI_OPS: u32 {
        /// NVOS00: free an object.
        NV01_FREE = 0x00;
        /// NVOS02: legacy memory alloc.
        NV01_ALLOC_MEMORY = 0x02;
        /// NVOS64 (580) with a kernel `pAllocParms`: allocate an object.
        NV04_ALLOC = 0x15;
        /// NVOS32 (by pointer): heap control.
        NV04_VID_HEAP_CONTROL = 0x20;
        /// NVOS33: CPU mapping.
        NV04_MAP_MEMORY = 0x21;
        /// NVOS34: CPU unmapping.
        NV04_UNMAP_MEMORY = 0x22;
        /// NVOS46: GPU VA mapping.
        NV04_MAP_MEMORY_DMA = 0x2e;
        /// NVOS47: GPU VA unmapping.
        NV04_UNMAP_MEMORY_DMA = 0x2f;
        /// NVOS54 with a kernel `params`: control call.
        NV04_CONTROL = 0x36;
        /// NVOS55: duplicate an object (kernel clients may dup any client's object).
        NV04_DUP_OBJECT = 0x37;
        /// NVOS57: share.
        NV04_SHARE = 0x3e;
    }
}

/// Offset of the parameter union in [`NvKernelRmapiOps`].
pub const NV_KERNEL_RMAPI_OPS_PARAMS_OFFSET: usize = 8;

wire_struct! {
    /// `nvidia_kernel_rmapi_ops_t` (72 bytes): the operation code and a
    /// union of NVOS parameter blocks (largest: NVOS46, 64 bytes), which is
    /// kept as bytes; read it with the NVOS type the op names.
    NvKernelRmapiOps = "nvidia_kernel_rmapi_ops_t", size 72;
    /// One of [`KERNEL_RMAPI_OPS`].
    @0 op: u32 = "op";
    /// Padding (the union is 8-aligned).
    @4 pad0: u32 = "";
    /// The parameter union.
    @8 params: [u8; 64] = "params";
}

wire_struct! {
    /// `nv_gpu_info_t` (`kernel-open/common/inc/nv-gpu-info.h`, 24 bytes):
    /// one entry of `enumerate_gpus`.
    NvGpuInfo = "nv_gpu_info_t", size 24;
    /// Driver GPU id (as in CARD_INFO).
    @0 gpu_id: u32 = "gpu_id";
    /// PCI domain.
    @4 pci_domain: u32 = "pci_info.domain";
    /// PCI bus.
    @8 pci_bus: u8 = "pci_info.bus";
    /// PCI slot.
    @9 pci_slot: u8 = "pci_info.slot";
    /// PCI function.
    @10 pci_function: u8 = "pci_info.function";
    /// Padding.
    @11 pad0: [u8; 5] = "";
    /// `struct device *` of the GPU (opaque).
    @16 os_device_ptr: u64 = "os_device_ptr";
}

/// `NVIDIA_MAX_GPUS`: capacity of the `enumerate_gpus` array.
pub const NVIDIA_MAX_GPUS: usize = 32;

use core::ffi::{c_int, c_void};

/// `nvidia_modeset_rm_ops_t` (x86_64, 72 bytes): what
/// `NV_STATUS nvidia_get_rm_ops(nvidia_modeset_rm_ops_t *)` fills in.
/// The caller sets `version_string`; on a mismatch the driver writes its
/// own back and returns `NV_ERR_GENERIC`.
#[repr(C)]
pub struct RmOps {
    /// The caller's driver version (in), the driver's on a mismatch (out):
    /// a NUL-terminated `const char *` (the kernel's `char` is unsigned).
    pub version_string: *const u8,
    /// Whether write-combined mappings are allowed.
    pub allow_write_combining: u8,
    /// Padding.
    pub pad: [u8; 7],
    /// Allocates an alternate stack (`*sp`; NULL on x86_64).
    pub alloc_stack: Option<unsafe extern "C" fn(*mut *mut c_void) -> c_int>,
    /// Frees it.
    pub free_stack: Option<unsafe extern "C" fn(*mut c_void)>,
    /// Fills `nv_gpu_info_t[NVIDIA_MAX_GPUS]`; returns the count.
    pub enumerate_gpus: Option<unsafe extern "C" fn(*mut u8) -> u32>,
    /// Opens a GPU by id.
    pub open_gpu: Option<unsafe extern "C" fn(u32, *mut c_void) -> c_int>,
    /// Closes it.
    pub close_gpu: Option<unsafe extern "C" fn(u32, *mut c_void)>,
    /// Runs one `nvidia_kernel_rmapi_ops_t`.
    pub op: Option<unsafe extern "C" fn(*mut c_void, *mut c_void)>,
    /// Registers modeset callbacks.
    pub set_callbacks: Option<unsafe extern "C" fn(*const c_void) -> c_int>,
}

const _: () = assert!(core::mem::size_of::<RmOps>() == 72);

impl RmOps {
    /// An empty table: no version string, no callbacks (what the caller
    /// hands `nvidia_get_rm_ops` to fill).
    pub const EMPTY: RmOps = RmOps {
        version_string: core::ptr::null(),
        allow_write_combining: 0,
        pad: [0; 7],
        alloc_stack: None,
        free_stack: None,
        enumerate_gpus: None,
        open_gpu: None,
        close_gpu: None,
        op: None,
        set_callbacks: None,
    };
}

#[cfg(all(test, not(MODULE)))]
mod tests {
    use super::super::wire::Wire;
    use super::*;

    #[test]
    fn sizes() {
        assert_eq!(NvKernelRmapiOps::SIZE, 72);
        assert_eq!(NvGpuInfo::SIZE, 24);
        // The union holds the largest user block (NVOS46, 64 bytes).
        assert_eq!(super::super::rm::Nvos46::SIZE, 64);
        const { assert!(super::super::rm::Nvos64::SIZE <= 64) };
    }
}
