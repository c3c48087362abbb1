// SPDX-License-Identifier: GPL-2.0

//! Driver branches nvsim can speak: the version string of the handshake
//! (NV_ESC_CHECK_VERSION_STR) and the structures whose layout differs
//! between branches (`docs/abi-550.md`, made by `scripts/nvabi-diff` from
//! the two branches' headers). The shared core declares the 580 layouts;
//! where a 550 structure is a 580 one less trailing fields, nvsim copies the
//! 550 size in and out of a zeroed 580 block (the missing fields are zero,
//! which is their default in 580), so the domain code stays one.
//!
//! Selected by the module parameter `branch` (0 = 580.159.04, 1 =
//! 550.163.01, 2 = 590.44.01 with 580's layouts: test only, a version
//! fakegpu has no table for) and fixed for the module's life.

use core::sync::atomic::{AtomicUsize, Ordering};

/// One driver branch.
#[derive(Debug)]
pub(crate) struct Branch {
    /// `NV_VERSION_STRING` of the driver.
    pub(crate) version: &'static str,
    /// The same, NUL-terminated (for `nvidia_get_rm_ops` and procfs).
    pub(crate) version_c: &'static kernel::str::CStr,
    /// sizeof(NV_VASPACE_ALLOCATION_PARAMETERS) (class 0x90f1).
    pub(crate) vaspace_params: usize,
    /// sizeof(NV_CHANNEL_ALLOC_PARAMS) (GPFIFO channel classes).
    pub(crate) channel_params: usize,
    /// sizeof(NV0000_CTRL_GPU_GET_PROBED_IDS_PARAMS); 550 has no `gpuFlags`.
    pub(crate) probed_ids_params: usize,
    /// NV2080_CTRL_FB_INFO_MAX_LIST_SIZE (the FB_GET_INFO_V2 block is
    /// `4 + 8 * max`).
    pub(crate) fb_info_max: usize,
    /// sizeof(NVA06F_CTRL_GPFIFO_SCHEDULE_PARAMS); 550 has no `bSkipEnable`.
    pub(crate) gpfifo_schedule_params: usize,
    /// NV2080_CTRL_GR_INFO_MAX_SIZE (550 0x38, 580 0x3a).
    pub(crate) gr_info_max: usize,
    /// /proc/driver/nvidia/params of an unconfigured driver: the branch's
    /// `nv_parms` table (nv-reg.h) with its defaults, then the string
    /// parameters (nv-procfs.c `nv_procfs_read_params`).
    pub(crate) params: &'static str,
    /// NV_BUILD_BRANCH_VERSION (nvBldVer.h, Linux).
    pub(crate) build_branch: &'static str,
    /// NV_DISPLAY_DRIVER_TITLE (nvBldVer.h, Linux).
    pub(crate) build_title: &'static str,
    /// NV_BUILD_CHANGELIST_NUM = NV_LAST_OFFICIAL_CHANGELIST_NUM.
    pub(crate) build_changelist: u32,
}

/// 580's /proc/driver/nvidia/params.
const PARAMS_580: &str = concat!(
    "ResmanDebugLevel: 4294967295\n",
    "RmLogonRC: 1\n",
    "ModifyDeviceFiles: 1\n",
    "DeviceFileUID: 0\n",
    "DeviceFileGID: 0\n",
    "DeviceFileMode: 438\n",
    "InitializeSystemMemoryAllocations: 1\n",
    "UsePageAttributeTable: 4294967295\n",
    "EnableMSI: 1\n",
    "EnablePCIeGen3: 0\n",
    "MemoryPoolSize: 0\n",
    "KMallocHeapMaxSize: 0\n",
    "VMallocHeapMaxSize: 0\n",
    "IgnoreMMIOCheck: 0\n",
    "EnableStreamMemOPs: 0\n",
    "EnableUserNUMAManagement: 1\n",
    "NvLinkDisable: 0\n",
    "PreserveVideoMemoryAllocations: 0\n",
    "EnableS0ixPowerManagement: 0\n",
    "S0ixPowerManagementVideoMemoryThreshold: 256\n",
    "DynamicPowerManagement: 3\n",
    "DynamicPowerManagementVideoMemoryThreshold: 200\n",
    "RegisterPCIDriver: 1\n",
    "EnablePCIERelaxedOrderingMode: 0\n",
    "EnableResizableBar: 0\n",
    "EnableGpuFirmware: 18\n",
    "EnableGpuFirmwareLogs: 2\n",
    "RmNvlinkBandwidthLinkCount: 0\n",
    "EnableDbgBreakpoint: 0\n",
    "OpenRmEnableUnsupportedGpus: 1\n",
    "DmaRemapPeerMmio: 1\n",
    "ImexChannelCount: 2048\n",
    "CreateImexChannel0: 0\n",
    "GrdmaPciTopoCheckOverride: 0\n",
    "RegistryDwords: \"\"\n",
    "RegistryDwordsPerDevice: \"\"\n",
    "RmMsg: \"\"\n",
    "GpuBlacklist: \"\"\n",
    "TemporaryFilePath: \"\"\n",
    "ExcludedGpus: \"\"\n",
);

/// The branches, by module-parameter index.
pub(crate) static BRANCHES: [Branch; 3] = [
    Branch {
        // nvBldVer.h of 580.142, the newest 580 tree read (580.159.04's
        // was not available).
        version: "580.159.04",
        version_c: c"580.159.04",
        vaspace_params: 56,
        channel_params: 368,
        probed_ids_params: 384,
        fb_info_max: 128,
        gpfifo_schedule_params: 3,
        gr_info_max: 0x3a,
        params: PARAMS_580,
        build_branch: "rel/gpu_drv/r580/r580_00-480",
        build_title: "Official r580_00 rel/gpu_drv/r580/r580_00-480 unknown",
        build_changelist: 37438274,
    },
    Branch {
        version: "550.163.01",
        version_c: c"550.163.01",
        vaspace_params: 48,
        channel_params: 360,
        probed_ids_params: 256,
        fb_info_max: 55,
        gpfifo_schedule_params: 2,
        gr_info_max: 0x38,
        params: concat!(
            "ResmanDebugLevel: 4294967295\n",
            "RmLogonRC: 1\n",
            "ModifyDeviceFiles: 1\n",
            "DeviceFileUID: 0\n",
            "DeviceFileGID: 0\n",
            "DeviceFileMode: 438\n",
            "InitializeSystemMemoryAllocations: 1\n",
            "UsePageAttributeTable: 4294967295\n",
            "EnableMSI: 1\n",
            "EnablePCIeGen3: 0\n",
            "MemoryPoolSize: 0\n",
            "KMallocHeapMaxSize: 0\n",
            "VMallocHeapMaxSize: 0\n",
            "IgnoreMMIOCheck: 0\n",
            "TCEBypassMode: 0\n",
            "EnableStreamMemOPs: 0\n",
            "EnableUserNUMAManagement: 1\n",
            "NvLinkDisable: 0\n",
            "PreserveVideoMemoryAllocations: 0\n",
            "EnableS0ixPowerManagement: 0\n",
            "S0ixPowerManagementVideoMemoryThreshold: 256\n",
            "DynamicPowerManagement: 3\n",
            "DynamicPowerManagementVideoMemoryThreshold: 200\n",
            "RegisterPCIDriver: 1\n",
            "EnablePCIERelaxedOrderingMode: 0\n",
            "EnableResizableBar: 0\n",
            "EnableGpuFirmware: 18\n",
            "EnableGpuFirmwareLogs: 2\n",
            "EnableDbgBreakpoint: 0\n",
            "OpenRmEnableUnsupportedGpus: 1\n",
            "DmaRemapPeerMmio: 1\n",
            "ImexChannelCount: 2048\n",
            "RegistryDwords: \"\"\n",
            "RegistryDwordsPerDevice: \"\"\n",
            "RmMsg: \"\"\n",
            "GpuBlacklist: \"\"\n",
            "TemporaryFilePath: \"\"\n",
            "ExcludedGpus: \"\"\n",
        ),
        build_branch: "rel/gpu_drv/r550/r553_74-609",
        build_title: "Official r553_74 rel/gpu_drv/r550/r553_74-609 unknown",
        build_changelist: 35802577,
    },
    // Test only: a version string of a branch fakegpu has no ABI table
    // for (590), speaking 580's layouts, so the tests can check that
    // fakegpu refuses to bind to it rather than that a layout differs.
    Branch {
        // nvBldVer.h of 580.142, the newest 580 tree read (580.159.04's
        // was not available).
        version: "590.44.01",
        version_c: c"590.44.01",
        vaspace_params: 56,
        channel_params: 368,
        probed_ids_params: 384,
        fb_info_max: 128,
        gpfifo_schedule_params: 3,
        gr_info_max: 0x3a,
        params: PARAMS_580,
        build_branch: "rel/gpu_drv/r580/r580_00-480",
        build_title: "Official r580_00 rel/gpu_drv/r580/r580_00-480 unknown",
        build_changelist: 37438274,
    },
];

static CURRENT: AtomicUsize = AtomicUsize::new(0);

/// Selects branch `i` (module init, before any file exists).
pub(crate) fn select(i: u32) -> Option<&'static Branch> {
    let i = usize::try_from(i).ok()?;
    let b = BRANCHES.get(i)?;
    CURRENT.store(i, Ordering::Relaxed);
    Some(b)
}

impl Branch {
    /// sizeof(NV2080_CTRL_FB_GET_INFO_V2_PARAMS): the count and
    /// `fb_info_max` entries of {index, data}.
    pub(crate) fn fb_info_v2_size(&self) -> usize {
        4 + 8 * self.fb_info_max
    }
}

/// The branch in use.
pub(crate) fn current() -> &'static Branch {
    &BRANCHES[CURRENT.load(Ordering::Relaxed) % BRANCHES.len()]
}

/// The core's ABI table for the branch in use (the test-only 590 speaks
/// 580's layouts).
pub(crate) fn table() -> crate::fgcore::nvabi::branch::Branch {
    use crate::fgcore::nvabi::branch::Branch as B;
    if current().version.starts_with(B::R550.version_prefix()) {
        B::R550
    } else {
        B::R580
    }
}

/// The branch's parameter size of control `cmd` (the core's table).
pub(crate) fn control_size(cmd: u32) -> Option<usize> {
    table()
        .control_size(cmd)
        .or_else(|| crate::fgcore::nvabi::ctrl::control_param_size(cmd))
}

/// Bytes of class `class`'s allocation parameters that the branch's RM
/// copies, given the 580 size `n580` (the core's declaration).
pub(crate) fn class_params_size(class: u32, n580: usize) -> usize {
    use crate::fgcore::nvabi::class::{FERMI_VASPACE_A, HOPPER_CHANNEL_GPFIFO_A};
    let b = current();
    let n = match class {
        FERMI_VASPACE_A if n580 != 0 => b.vaspace_params,
        HOPPER_CHANNEL_GPFIFO_A if n580 != 0 => b.channel_params,
        _ => n580,
    };
    n.min(n580)
}
