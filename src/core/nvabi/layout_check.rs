// SPDX-License-Identifier: GPL-2.0

//! Cross-check of every declaration against NVIDIA's headers.
//!
//! The test `emit_c_layout_check` writes a C file of `_Static_assert`s: the
//! size of each declared structure, the offset and size of each of its
//! named fields, the value of each constant in the `abi_consts!` tables and
//! the parameter size of each UVM command. If the environment variable
//! `NVIDIA_OGKM` names a checkout of `open-gpu-kernel-modules` (580.x) and
//! `gcc` exists, the file is compiled against its headers and the test fails
//! on any mismatch:
//!
//! ```text
//! git -C ogkm checkout 580.142   # or: git archive 580.142 | tar -x -C ogkm
//! NVIDIA_OGKM=$PWD/ogkm cargo test -p fakegpu-core layout_check -- --nocapture
//! ```
//!
//! Without the variable the file is only written (its path is printed).

use super::wire::{ConstEntry, StructLayout};
use super::{class, ctrl, escape, rm, status, uvm};
use std::fmt::Write as _;
use std::string::String;

/// Every declared structure.
const LAYOUTS: &[StructLayout] = &[
    escape::NvPciInfo::LAYOUT,
    escape::NvIoctlXfer::LAYOUT,
    escape::NvIoctlCardInfo::LAYOUT,
    escape::NvIoctlAllocOsEvent::LAYOUT,
    escape::NvIoctlFreeOsEvent::LAYOUT,
    escape::NvIoctlStatusCode::LAYOUT,
    escape::NvIoctlRmApiVersion::LAYOUT,
    escape::NvIoctlQueryDeviceIntr::LAYOUT,
    escape::NvIoctlSysParams::LAYOUT,
    escape::NvIoctlRegisterFd::LAYOUT,
    escape::NvIoctlExportToDmaBufFd::LAYOUT,
    escape::NvIoctlWaitOpenComplete::LAYOUT,
    escape::NvOfflineAddresses::LAYOUT,
    escape::NvIoctlNumaInfo::LAYOUT,
    escape::NvIoctlSetNumaStatus::LAYOUT,
    rm::Nvos00::LAYOUT,
    rm::Nvos02::LAYOUT,
    rm::Nvos02WithFd::LAYOUT,
    rm::Nvos05::LAYOUT,
    rm::Nvos21::LAYOUT,
    rm::Nvos64::LAYOUT,
    rm::Nvos30::LAYOUT,
    rm::Nvos32::LAYOUT,
    rm::Nvos32AllocSize::LAYOUT,
    rm::Nvos32AllocTiledPitchHeight::LAYOUT,
    rm::Nvos32AllocSizeRange::LAYOUT,
    rm::Nvos32Free::LAYOUT,
    rm::Nvos33::LAYOUT,
    rm::Nvos33WithFd::LAYOUT,
    rm::Nvos34::LAYOUT,
    rm::Nvos38::LAYOUT,
    rm::Nvos39::LAYOUT,
    rm::Nvos41::LAYOUT,
    rm::Nvos46::LAYOUT,
    rm::Nvos47::LAYOUT,
    rm::Nvos49::LAYOUT,
    rm::Nvos54::LAYOUT,
    rm::Nvos55::LAYOUT,
    rm::Nvos56::LAYOUT,
    rm::RsSharePolicy::LAYOUT,
    rm::Nvos57::LAYOUT,
    class::NvMemoryAllocationParams::LAYOUT,
    class::NvMemoryVirtualAllocationParams::LAYOUT,
    class::Nv00f8Map::LAYOUT,
    class::Nv00f8AllocationParameters::LAYOUT,
    class::Nv0005AllocParameters::LAYOUT,
    class::Nv0080AllocParameters::LAYOUT,
    class::Nv2080AllocParameters::LAYOUT,
    class::NvVaspaceAllocationParameters::LAYOUT,
    class::NvChannelGroupAllocationParameters::LAYOUT,
    class::NvCtxshareAllocationParameters::LAYOUT,
    class::NvMemoryDescParams::LAYOUT,
    class::NvChannelAllocParams::LAYOUT,
    class::NvGrAllocationParameters::LAYOUT,
    class::NvHopperUsermodeAParams::LAYOUT,
    class::NvB0b5AllocationParameters::LAYOUT,
    class::NvC637AllocationParameters::LAYOUT,
    class::NvC639AllocationParameters::LAYOUT,
    class::NvC640AllocationParameters::LAYOUT,
    class::Nv00deAllocParameters::LAYOUT,
    class::Nv2081AllocParameters::LAYOUT,
    class::Nv503cAllocParameters::LAYOUT,
    class::Nv83deAllocParameters::LAYOUT,
    class::NvConfidentialComputeAllocParams::LAYOUT,
    ctrl::Nv2080CtrlFbInfo::LAYOUT,
    ctrl::Nv2080CtrlFbGetInfoParams::LAYOUT,
    ctrl::Nv2080CtrlFbGetInfoV2Params::LAYOUT,
    ctrl::Nv2080CtrlGpuPidInfo::LAYOUT,
    ctrl::Nv2080CtrlGpuGetPidInfoParams::LAYOUT,
    ctrl::Nv2080CtrlGpuGetNameStringParams::LAYOUT,
    ctrl::Nv2080CtrlGpuGetShortNameStringParams::LAYOUT,
    ctrl::Nv2080CtrlGpuGetGidInfoParams::LAYOUT,
    ctrl::Nv0000CtrlGpuGetUuidFromGpuIdParams::LAYOUT,
    ctrl::Nv0000CtrlGpuGetProbedIdsParams::LAYOUT,
    ctrl::Nv0000CtrlGpuGetAttachedIdsParams::LAYOUT,
    ctrl::NvA06fCtrlGpfifoScheduleParams::LAYOUT,
    ctrl::NvA06cCtrlTimesliceParams::LAYOUT,
    ctrl::NvA06cCtrlPreemptParams::LAYOUT,
    ctrl::NvA06cCtrlGetInfoParams::LAYOUT,
    ctrl::NvA06cCtrlInterleaveLevelParams::LAYOUT,
    ctrl::NvA06cCtrlMakeRealtimeParams::LAYOUT,
    ctrl::NvA06fCtrlBindParams::LAYOUT,
    ctrl::NvA06fCtrlStopChannelParams::LAYOUT,
    ctrl::NvA06fCtrlRestartRunlistParams::LAYOUT,
    ctrl::NvA06fCtrlInterleaveLevelParams::LAYOUT,
    ctrl::Nv2080CtrlFifoDisableChannelsParams::LAYOUT,
    ctrl::Nv2080CtrlFifoRunlistSetSchedPolicyParams::LAYOUT,
    ctrl::Nv2080CtrlFifoDisableUsermodeChannelsParams::LAYOUT,
    ctrl::Nv2080CtrlFifoConfigCtxswTimeoutParams::LAYOUT,
    ctrl::Nv2080CtrlGpuSetComputePolicyConfigParams::LAYOUT,
    ctrl::NvC36fCtrlGpfifoGetWorkSubmitTokenParams::LAYOUT,
    ctrl::Nv00fdCtrlAttachGpuParams::LAYOUT,
    ctrl::Nv00e0CtrlExportMemParams::LAYOUT,
    ctrl::Nv0000CtrlOsUnixExportObject::LAYOUT,
    ctrl::Nv0000CtrlOsUnixExportObjectToFdParams::LAYOUT,
    ctrl::Nv0000CtrlOsUnixImportObjectFromFdParams::LAYOUT,
    ctrl::Nv0000CtrlOsUnixGetExportObjectInfoParams::LAYOUT,
    ctrl::Nv0000CtrlOsUnixCreateExportObjectFdParams::LAYOUT,
    ctrl::Nv0000CtrlOsUnixExportObjectsToFdParams::LAYOUT,
    ctrl::Nv0000CtrlOsUnixImportObjectsFromFdParams::LAYOUT,
    ctrl::Nv2080CtrlGrGetCtxBufferSizeParams::LAYOUT,
    ctrl::Nv00deCtrlRequestDataPollParams::LAYOUT,
    ctrl::Nv503cCtrlRegisterVidmemParams::LAYOUT,
    ctrl::Nv0000CtrlSystemGetBuildVersionParams::LAYOUT,
    uvm::UvmInitializeParams::LAYOUT,
    uvm::UvmMmInitializeParams::LAYOUT,
    uvm::UvmRegisterGpuParams::LAYOUT,
    uvm::UvmUnregisterGpuParams::LAYOUT,
    uvm::UvmRegisterGpuVaspaceParams::LAYOUT,
    uvm::UvmUnregisterGpuVaspaceParams::LAYOUT,
    uvm::UvmRegisterChannelParams::LAYOUT,
    uvm::UvmUnregisterChannelParams::LAYOUT,
    uvm::UvmGpuMappingAttributes::LAYOUT,
    uvm::UvmMapExternalAllocationParams::LAYOUT,
    uvm::UvmCreateExternalRangeParams::LAYOUT,
    uvm::UvmFreeParams::LAYOUT,
    uvm::UvmUnmapExternalParams::LAYOUT,
    uvm::UvmMapExternalSparseParams::LAYOUT,
    uvm::UvmAllocDeviceP2pParams::LAYOUT,
    uvm::UvmToolsInitEventTrackerParams::LAYOUT,
    uvm::UvmMigrateParams::LAYOUT,
    uvm::UvmValidateVaRangeParams::LAYOUT,
];

/// Every constant table (names are C names).
const TABLES: &[&[ConstEntry]] = &[
    status::STATUS_CODES,
    escape::ESCAPES,
    rm::NVOS32_FUNCTIONS,
    class::CLASS_IDS,
    class::MEMORY_FLAGS,
    ctrl::CONTROL_CMDS,
    ctrl::FB_INFO_INDEXES,
    uvm::UVM_CMDS,
];

/// Constants that are field values of a DRF field in C (`FLD_TEST_DRF`
/// style); their C macro is the value, checked like the others.
const PREAMBLE: &str = r#"/* Generated by fakegpu-core's layout_check test. */
#include <stddef.h>
#include <stdint.h>
#include "nvtypes.h"
#include "nvstatus.h"
#include "nvos.h"
#include "nv-ioctl.h"
#include "nv-ioctl-numbers.h"
#include "nv-ioctl-numa.h"
#include "nv_escape.h"
#include "nv-unix-nvos-params-wrappers.h"
#include "nv.h"
#include "rs_access.h"
#include "alloc/alloc_channel.h"
#include "class/cl0000.h"
#include "class/cl0001.h"
#include "class/cl0002.h"
#include "class/cl0005.h"
#include "class/cl003e.h"
#include "class/cl003f.h"
#include "class/cl0040.h"
#include "class/cl0042.h"
#include "class/cl0070.h"
#include "class/cl0071.h"
#include "class/cl0073.h"
#include "class/cl0076.h"
#include "class/cl0080.h"
#include "class/cl00b1.h"
#include "class/cl00c2.h"
#include "class/cl00e0.h"
#include "class/cl00f8.h"
#include "class/cl00f9.h"
#include "class/cl00fb.h"
#include "class/cl00fd.h"
#include "class/cl00fe.h"
#include "class/cl2080.h"
#include "class/cl50a0.h"
#include "class/cl9067.h"
#include "class/cl90ce.h"
#include "class/cl90f1.h"
#include "class/cla06c.h"
#include "class/cla06f.h"
#include "class/clc361.h"
#include "class/clc36f.h"
#include "class/clc461.h"
#include "class/clc46f.h"
#include "class/clc561.h"
#include "class/clc56f.h"
#include "class/clc637.h"
#include "class/clc661.h"
#include "class/clc6b5.h"
#include "class/clc6c0.h"
#include "class/clc761.h"
#include "class/clc7b5.h"
#include "class/clc7c0.h"
#include "class/clc86f.h"
#include "class/clc8b5.h"
#include "class/clc96f.h"
#include "class/clc9b5.h"
#include "class/clc9c0.h"
#include "class/clca6f.h"
#include "class/clcab5.h"
#include "class/clcbc0.h"
#include "class/clcdc0.h"
#include "class/clcec0.h"
#include "ctrl/ctrl0000/ctrl0000client.h"
#include "ctrl/ctrl0000/ctrl0000gpu.h"
#include "ctrl/ctrl0000/ctrl0000unix.h"
#include "ctrl/ctrl0041.h"
#include "ctrl/ctrl0080/ctrl0080gpu.h"
#include "ctrl/ctrl00e0.h"
#include "ctrl/ctrl00fd.h"
#include "ctrl/ctrl2080/ctrl2080fb.h"
#include "ctrl/ctrl2080/ctrl2080fifo.h"
#include "ctrl/ctrl2080/ctrl2080gpu.h"
#include "ctrl/ctrl2080/ctrl2080gr.h"
#include "ctrl/ctrla06c.h"
#include "ctrl/ctrla06f/ctrla06fgpfifo.h"
#include "ctrl/ctrlc36f.h"
#include "class/cl00de.h"
#include "class/cl2081.h"
#include "class/cl208f.h"
#include "class/cl503c.h"
#include "class/cl83de.h"
#include "class/cl90e6.h"
#include "class/clb0b5sw.h"
#include "class/clc639.h"
#include "class/clc640.h"
#include "class/clcb33.h"
#include "ctrl/ctrl0000/ctrl0000syncgpuboost.h"
#include "ctrl/ctrl0000/ctrl0000system.h"
#include "ctrl/ctrl0000/ctrl0000gpuacct.h"
#include "ctrl/ctrl0080/ctrl0080fb.h"
#include "ctrl/ctrl0080/ctrl0080fifo.h"
#include "ctrl/ctrl0080/ctrl0080host.h"
#include "ctrl/ctrl0080/ctrl0080perf.h"
#include "ctrl/ctrl00de.h"
#include "ctrl/ctrl2080/ctrl2080bios.h"
#include "ctrl/ctrl2080/ctrl2080bus.h"
#include "ctrl/ctrl2080/ctrl2080ecc.h"
#include "ctrl/ctrl2080/ctrl2080pmgr.h"
#include "ctrl/ctrl2080/ctrl2080ce.h"
#include "ctrl/ctrl2080/ctrl2080grmgr.h"
#include "ctrl/ctrl2080/ctrl2080gsp.h"
#include "ctrl/ctrl2080/ctrl2080mc.h"
#include "ctrl/ctrl2080/ctrl2080nvlink.h"
#include "ctrl/ctrl2080/ctrl2080perf.h"
#include "ctrl/ctrl2080/ctrl2080rc.h"
#include "ctrl/ctrl2080/ctrl2080tmr.h"
#include "ctrl/ctrl208f/ctrl208fgpu.h"
#include "ctrl/ctrl503c.h"
#include "ctrl/ctrl83de/ctrl83dedebug.h"
#include "ctrl/ctrl906f.h"
#include "ctrl/ctrl90e6.h"
#include "ctrl/ctrlcb33.h"
#include "uvm_ioctl.h"
#include "uvm_linux_ioctl.h"
#define CHECK(cond, what) _Static_assert(cond, what)
"#;

/// The C source of all checks.
fn c_source() -> String {
    let mut s = String::from(PREAMBLE);
    for l in LAYOUTS {
        let _ = writeln!(
            s,
            "CHECK(sizeof({}) == {}, \"size of {}\");",
            l.c_name, l.size, l.name
        );
        for f in l.fields.iter().filter(|f| !f.c_name.is_empty()) {
            let _ = writeln!(
                s,
                "CHECK(offsetof({t}, {f}) == {o}, \"{n}.{r} offset\"); \
                 CHECK(sizeof((({t} *)0)->{f}) == {z}, \"{n}.{r} size\");",
                t = l.c_name,
                f = f.c_name,
                o = f.offset,
                z = f.size,
                n = l.name,
                r = f.name
            );
        }
    }
    for t in TABLES {
        for e in t.iter() {
            let _ = writeln!(
                s,
                "CHECK((unsigned long long)({}) == {}ULL, \"{}\");",
                e.name, e.value, e.name
            );
        }
    }
    for c in ctrl::CONTROL_PARAM_SIZES
        .iter()
        .filter(|c| !c.c_type.is_empty())
    {
        let _ = writeln!(
            s,
            "CHECK(sizeof({}) == {}, \"{} params\");",
            c.c_type, c.size, c.name
        );
    }
    for u in uvm::UVM_IOCTLS.iter().filter(|u| u.size != 0) {
        let _ = writeln!(
            s,
            "CHECK(sizeof({}_PARAMS) == {}, \"{} params\");",
            u.name, u.size, u.name
        );
    }
    s
}

fn count_declarations(src: &str) -> usize {
    src.matches("wire_struct! {").count()
}

#[test]
fn every_declaration_is_checked() {
    let declared = count_declarations(include_str!("escape.rs"))
        + count_declarations(include_str!("rm.rs"))
        + count_declarations(include_str!("class.rs"))
        + count_declarations(include_str!("ctrl.rs"))
        + count_declarations(include_str!("uvm.rs"));
    assert_eq!(declared, LAYOUTS.len());
    for (i, a) in LAYOUTS.iter().enumerate() {
        for b in &LAYOUTS[i + 1..] {
            assert_ne!(a.c_name, b.c_name, "two declarations of one structure");
        }
        // Fields are contiguous: the declaration covers every byte.
        let mut at = 0;
        for f in a.fields {
            assert_eq!(f.offset, at, "{}.{}", a.name, f.name);
            at += f.size;
        }
        assert_eq!(at, a.size, "{}", a.name);
    }
}

#[test]
fn emit_c_layout_check() {
    let src = c_source();
    let dir = std::env::temp_dir();
    let path = dir.join(format!(
        "fakegpu_nvabi_layout_check_{}.c",
        std::process::id()
    ));
    std::fs::write(&path, &src).unwrap();
    let root = match std::env::var("NVIDIA_OGKM") {
        Ok(r) if !r.is_empty() => r,
        _ => {
            std::println!(
                "layout_check: wrote {} (set NVIDIA_OGKM to compile it)",
                path.display()
            );
            return;
        }
    };
    let inc = [
        "src/common/sdk/nvidia/inc",
        "src/common/inc",
        "kernel-open/common/inc",
        "src/nvidia/arch/nvalloc/unix/include",
        "kernel-open/nvidia-uvm",
    ];
    let mut cmd = std::process::Command::new("gcc");
    cmd.arg("-fsyntax-only").arg("-std=gnu11");
    for i in inc {
        cmd.arg(format!("-I{root}/{i}"));
    }
    let out = cmd.arg(&path).output().expect("run gcc");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "C layout check failed:\n{stderr}");
    std::println!(
        "layout_check: {} checks passed against {}",
        src.matches("CHECK(").count() - 1,
        root
    );
}
