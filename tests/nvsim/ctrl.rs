// SPDX-License-Identifier: GPL-2.0

//! RM controls (RM_CONTROL / NV04_CONTROL) that nvsim answers.
//!
//! Rules as in resserv: the control must exist for the object's class
//! (else `NV_ERR_NOT_SUPPORTED`), a control with a fixed parameter size
//! needs exactly that `paramsSize` (else `NV_ERR_INVALID_ARGUMENT`, as
//! measured), an unknown object is `NV_ERR_OBJECT_NOT_FOUND`,
//! and controls that need the NICE access right need root, CAP_SYS_NICE or
//! a kernel caller (else `NV_ERR_INSUFFICIENT_PERMISSIONS`).

use crate::h100_replies as h100;
use crate::{
    branch,
    fgcore::nvabi::{class::*, ctrl::*, status::*, wire::Wire},
    gpu::{self, Gpu},
    rm::{Caller, Data, Os, RmState},
};
use core::sync::atomic::Ordering;
use kernel::{page::PAGE_SIZE, prelude::*, sync::Arc};

/// `NV0000_CTRL_GPU_INVALID_ID`.
const INVALID_ID: u32 = 0xffff_ffff;

/// Controls the core does not declare (numbers from ctrl0000gpu.h and
/// ctrl0000system.h, the same in 550 and 580).
pub(crate) const NV0000_CTRL_CMD_SYSTEM_GET_BUILD_VERSION_V2: u32 = 0x13e;
const NV0000_CTRL_CMD_GPU_WAIT_ATTACH_ID: u32 = 0x290;
/// NV2080_CTRL_CMD_GR_GET_INFO_V2 (ctrl2080gr.h): the inline-list form
/// GR_GET_INFO runs through.
pub(crate) const NV2080_CTRL_CMD_GR_GET_INFO_V2: u32 = 0x2080_1228;
const NV0000_CTRL_CMD_GPU_GET_INIT_STATUS: u32 = 0x203;
/// sizeof(NV0000_CTRL_SYSTEM_GET_BUILD_VERSION_V2_PARAMS): three 256-byte
/// strings and two changelist numbers.
pub(crate) const BUILD_VERSION_V2_SIZE: usize = 3 * 256 + 8;

pub(crate) fn fixed<T: Wire>(params: &[u8]) -> core::result::Result<T, u32> {
    // A `paramsSize` other than the control's: NV_ERR_INVALID_ARGUMENT, as
    // the H100 with 580.159.04 answered (tests/fidelity).
    if params.len() != T::SIZE {
        return Err(NV_ERR_INVALID_ARGUMENT);
    }
    T::read(params).ok_or(NV_ERR_INVALID_ARGUMENT)
}

fn put<T: Wire>(v: &T, params: &mut [u8]) -> u32 {
    v.write(params);
    NV_OK
}

/// [`fixed`] for a structure whose size depends on the driver branch
/// (`size` bytes in this branch, at most `T::SIZE`: the branch's block is
/// the 580 one less trailing fields, read here as zero).
fn fixed_sized<T: Wire>(params: &[u8], size: usize) -> core::result::Result<T, u32> {
    if params.len() != size || size > T::SIZE {
        return Err(NV_ERR_INVALID_ARGUMENT);
    }
    let mut b = KVec::from_elem(0u8, T::SIZE, GFP_KERNEL).map_err(|_| NV_ERR_NO_MEMORY)?;
    b[..size].copy_from_slice(params);
    T::read(&b).ok_or(NV_ERR_INVALID_ARGUMENT)
}

/// [`put`] for a structure read with [`fixed_sized`]: the branch's bytes.
fn put_sized<T: Wire>(v: &T, params: &mut [u8]) -> CtlResult {
    let mut b = KVec::from_elem(0u8, T::SIZE, GFP_KERNEL).map_err(|_| NV_ERR_NO_MEMORY)?;
    v.write(&mut b);
    let n = params.len().min(T::SIZE);
    params[..n].copy_from_slice(&b[..n]);
    Ok(NV_OK)
}

fn copy_str(dst: &mut [u8], s: &[u8]) {
    let n = s.len().min(dst.len().saturating_sub(1));
    dst[..n].copy_from_slice(&s[..n]);
    for b in dst[n..].iter_mut() {
        *b = 0;
    }
}

/// Runs control `cmd` on object `h_object` of client `h_client`.
pub(crate) fn control(
    rm: &mut RmState,
    caller: &Caller,
    h_client: u32,
    h_object: u32,
    cmd: u32,
    params: &mut [u8],
) -> u32 {
    let ci = match rm.client_for(caller, h_client) {
        Ok(i) => i,
        Err(s) => return s,
    };
    // The object: the client itself, or one of its objects.
    let (class, gpu_idx, data) = if h_object == h_client {
        (NV01_ROOT_CLIENT, u32::MAX, Data::Plain)
    } else {
        match rm.client(ci).obj(h_object) {
            Some(o) => (o.class, o.gpu, o.data.clone()),
            None => return NV_ERR_OBJECT_NOT_FOUND,
        }
    };
    let r = match (class, control_class(cmd)) {
        (NV01_ROOT_CLIENT, 0x0000) if cmd == NV0000_CTRL_CMD_CLIENT_GET_ADDR_SPACE_TYPE => {
            addr_space_type(rm, ci, params)
        }
        (NV01_ROOT_CLIENT, 0x0000) => match crate::export::control(rm, ci, cmd, params) {
            Some(r) => r,
            None => client_control(rm, cmd, params),
        },
        (NV20_SUBDEVICE_0, 0x2080) => match rm.gpu(gpu_idx).cloned() {
            Some(g) => subdevice_control(rm, caller, &g, cmd, params),
            None => Err(NV_ERR_INVALID_DEVICE),
        },
        (NV01_DEVICE_0, 0x0080) => device_control(cmd, params),
        (NV50_THIRD_PARTY_P2P, 0x503c) => third_party_p2p_control(rm, ci, cmd, params),
        (KEPLER_CHANNEL_GROUP_A, 0xa06c) => match &data {
            Data::Tsg(t) => tsg_control(caller, &t.gpu, t.id, cmd, params),
            _ => Err(NV_ERR_INVALID_OBJECT_HANDLE),
        },
        (HOPPER_CHANNEL_GPFIFO_A, 0xc36f)
            if cmd == NVC36F_CTRL_CMD_GPFIFO_GET_WORK_SUBMIT_TOKEN =>
        {
            match &data {
                Data::Channel(c) => {
                    fixed::<NvC36fCtrlGpfifoGetWorkSubmitTokenParams>(params).map(|_| {
                        put(
                            &NvC36fCtrlGpfifoGetWorkSubmitTokenParams {
                                work_submit_token: c.chid,
                            },
                            params,
                        )
                    })
                }
                _ => Err(NV_ERR_INVALID_OBJECT_HANDLE),
            }
        }
        _ => Err(NV_ERR_NOT_SUPPORTED),
    };
    r.unwrap_or_else(|s| s)
}

type CtlResult = core::result::Result<u32, u32>;

/// Little-endian u32 of a parameter block at `at` (controls whose
/// parameter structure the core does not declare; offsets from the 550 and
/// 580 headers, the same in both).
fn rd32(p: &[u8], at: usize) -> u32 {
    p.get(at..at + 4)
        .map(|b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
        .unwrap_or(0)
}

fn wr32(p: &mut [u8], at: usize, v: u32) {
    if let Some(b) = p.get_mut(at..at + 4) {
        b.copy_from_slice(&v.to_le_bytes());
    }
}

fn wr16(p: &mut [u8], at: usize, v: u16) {
    if let Some(b) = p.get_mut(at..at + 2) {
        b.copy_from_slice(&v.to_le_bytes());
    }
}

/// `paramsSize` must be the control's (the core's table; the same in 550
/// and 580 for the controls checked with it).
fn sized(cmd: u32, params: &[u8]) -> core::result::Result<(), u32> {
    match control_param_size(cmd) {
        Some(n) if n == params.len() => Ok(()),
        _ => Err(NV_ERR_INVALID_ARGUMENT),
    }
}

fn client_control(rm: &RmState, cmd: u32, params: &mut [u8]) -> CtlResult {
    let probed = |id: u32| rm.gpus.iter().find(|g| g.gpu_id() == id).cloned();
    match cmd {
        // cliresCtrlCmdGpuGetPciInfo: a probed GPU's domain, bus and slot
        // (gpuId @0, domain @4, bus u16 @8, slot u16 @10), else
        // NV_ERR_OBJECT_NOT_FOUND (gpumgrGetProbedGpuDomainBusDevice).
        NV0000_CTRL_CMD_GPU_GET_PCI_INFO => {
            sized(cmd, params)?;
            let g = probed(rd32(params, 0)).ok_or(NV_ERR_OBJECT_NOT_FOUND)?;
            wr32(params, 4, 0);
            wr16(params, 8, u16::from(g.bus()));
            wr16(params, 10, 0);
            Ok(NV_OK)
        }
        // cliresCtrlCmdGpuQueryDrainState: gpuId @0, drainState @4, flags @8;
        // nvsim never drains (DISABLED, no REMOVE_DEVICE); unknown id:
        // NV_ERR_OBJECT_NOT_FOUND (gpumgrQueryGpuDrainState).
        NV0000_CTRL_CMD_GPU_QUERY_DRAIN_STATE => {
            sized(cmd, params)?;
            probed(rd32(params, 0)).ok_or(NV_ERR_OBJECT_NOT_FOUND)?;
            wr32(params, 4, 0);
            wr32(params, 8, 0);
            Ok(NV_OK)
        }
        // cliresCtrlCmdGpuAttachIds: gpuIds[32] up to INVALID_ID (0xffff =
        // all probed), each validated against the probed ids, else
        // NV_ERR_INVALID_ARGUMENT; the attach itself is the open of the GPU
        // node (nvsim's GPUs are always initialised).
        // cliresCtrlCmdGpuAsyncAttachId: gpuId @0 validated against the
        // probed ids; cliresCtrlCmdGpuWaitAttachId: NV_OK.
        NV0000_CTRL_CMD_GPU_ASYNC_ATTACH_ID => {
            sized(cmd, params)?;
            probed(rd32(params, 0)).ok_or(NV_ERR_INVALID_ARGUMENT)?;
            Ok(NV_OK)
        }
        // gpumgrGetGpuInitStatus: gpuId @0, status @4 (the GPU's init
        // status: nvsim's GPUs are initialised at load, NV_OK); unknown id:
        // NV_ERR_INVALID_ARGUMENT.
        NV0000_CTRL_CMD_GPU_GET_INIT_STATUS => {
            if params.len() != 8 {
                return Err(NV_ERR_INVALID_ARGUMENT);
            }
            probed(rd32(params, 0)).ok_or(NV_ERR_INVALID_ARGUMENT)?;
            wr32(params, 4, NV_OK);
            Ok(NV_OK)
        }
        // cliresCtrlCmdClientSetInheritedSharePolicy: RS_SHARE_POLICY
        // (target @0, accessMask @4, type u16 @8, action u8 @10), applied
        // as a share of the client object; type >= RS_SHARE_TYPE_MAX (8):
        // NV_ERR_INVALID_ARGUMENT. nvsim keeps no share policies (a dup
        // is not checked against them, README), so a valid one is
        // accepted and has no further effect.
        NV0000_CTRL_CMD_CLIENT_SET_INHERITED_SHARE_POLICY => {
            sized(cmd, params)?;
            let ty = u16::from_le_bytes([params[8], params[9]]);
            if ty >= 8 {
                return Err(NV_ERR_INVALID_ARGUMENT);
            }
            Ok(NV_OK)
        }
        // gpumgrGetGpuIdInfoV2 (V1 0x202: the same, laid out around the
        // unused szName pointer @16): gpuId @0 in; gpuFlags @4, deviceInstance
        // @8, subDeviceInstance @12, sliStatus, boardId, gpuInstance, numaId
        // out. Each nvsim GPU is its own device (instance = index), one
        // subdevice, no SLI, no ATS (numaId NV0000_CTRL_NO_NUMA_NODE, -1);
        // gpuFlags IN_USE stays 0 (nvsim does not track gpuIsInUse),
        // boardId is the gpu id. Unknown id: NV_ERR_INVALID_ARGUMENT.
        NV0000_CTRL_CMD_GPU_GET_ID_INFO | NV0000_CTRL_CMD_GPU_GET_ID_INFO_V2 => {
            let v1 = cmd == NV0000_CTRL_CMD_GPU_GET_ID_INFO;
            if params.len() != if v1 { 40 } else { 32 } {
                return Err(NV_ERR_INVALID_ARGUMENT);
            }
            let g = probed(rd32(params, 0)).ok_or(NV_ERR_INVALID_ARGUMENT)?;
            let tail = if v1 { 24 } else { 16 };
            wr32(params, 4, 0);
            wr32(params, 8, g.index);
            wr32(params, 12, 0);
            wr32(params, tail, 0);
            wr32(params, tail + 4, g.gpu_id());
            wr32(params, tail + 8, g.index);
            wr32(params, tail + 12, u32::MAX);
            Ok(NV_OK)
        }
        // cliresCtrlCmdSystemGetFeatures: featuresMask @0: no UEFI, no EFI
        // init, no IMEX channels (UUID_BASED_MEM_SHARING) in nvsim.
        NV0000_CTRL_CMD_SYSTEM_GET_FEATURES => {
            sized(cmd, params)?;
            wr32(params, 0, 0);
            Ok(NV_OK)
        }
        // gpuboostmgrQueryGroups: no sync-boost groups (groupCount @0 = 0,
        // the configs zeroed).
        NV0000_CTRL_CMD_SYNC_GPU_BOOST_GROUP_INFO => {
            sized(cmd, params)?;
            params.fill(0);
            Ok(NV_OK)
        }
        NV0000_CTRL_CMD_GPU_WAIT_ATTACH_ID => {
            if params.len() != 4 {
                return Err(NV_ERR_INVALID_ARGUMENT);
            }
            Ok(NV_OK)
        }
        // cliresCtrlCmdSystemGetBuildVersionV2: the branch's strings
        // (driverVersionBuffer @0, versionBuffer @256, titleBuffer @512,
        // changelistNumber @768, officialChangelistNumber @772).
        NV0000_CTRL_CMD_SYSTEM_GET_BUILD_VERSION_V2 => {
            if params.len() != BUILD_VERSION_V2_SIZE {
                return Err(NV_ERR_INVALID_ARGUMENT);
            }
            let b = branch::current();
            copy_str(&mut params[0..256], b.version.as_bytes());
            copy_str(&mut params[256..512], b.build_branch.as_bytes());
            copy_str(&mut params[512..768], b.build_title.as_bytes());
            wr32(params, 768, b.build_changelist);
            wr32(params, 772, b.build_changelist);
            Ok(NV_OK)
        }
        NV0000_CTRL_CMD_GPU_ATTACH_IDS => {
            // gpuIds[32] + failedId.
            if params.len() != 132 {
                return Err(NV_ERR_INVALID_ARGUMENT);
            }
            if rd32(params, 0) == 0xffff {
                return Ok(NV_OK);
            }
            for i in 0..32 {
                let id = rd32(params, 4 * i);
                if id == INVALID_ID {
                    break;
                }
                probed(id).ok_or(NV_ERR_INVALID_ARGUMENT)?;
            }
            Ok(NV_OK)
        }
        // cliresCtrlCmdGpuDetachIds: gpuIds[32] up to INVALID_ID (0xffff =
        // all attached), each must be attached, else
        // NV_ERR_INVALID_ARGUMENT; the detach happens when the last file of
        // the GPU closes, so nothing changes here.
        NV0000_CTRL_CMD_GPU_DETACH_IDS => {
            sized(cmd, params)?;
            if rd32(params, 0) == 0xffff {
                return Ok(NV_OK);
            }
            for i in 0..32 {
                let id = rd32(params, 4 * i);
                if id == INVALID_ID {
                    break;
                }
                probed(id).ok_or(NV_ERR_INVALID_ARGUMENT)?;
            }
            Ok(NV_OK)
        }
        NV0000_CTRL_CMD_GPU_GET_ATTACHED_IDS => {
            let mut p = fixed::<Nv0000CtrlGpuGetAttachedIdsParams>(params)?;
            p.gpu_ids = [INVALID_ID; 32];
            for (i, g) in rm.gpus.iter().enumerate().take(32) {
                p.gpu_ids[i] = g.gpu_id();
            }
            Ok(put(&p, params))
        }
        NV0000_CTRL_CMD_GPU_GET_PROBED_IDS => {
            // 550 has no gpuFlags (256 bytes, 580: 384).
            let size = branch::current().probed_ids_params;
            let mut p = fixed_sized::<Nv0000CtrlGpuGetProbedIdsParams>(params, size)?;
            p.gpu_ids = [INVALID_ID; 32];
            p.excluded_gpu_ids = [INVALID_ID; 32];
            p.gpu_flags = [0; 32];
            for (i, g) in rm.gpus.iter().enumerate().take(32) {
                p.gpu_ids[i] = g.gpu_id();
            }
            put_sized(&p, params)
        }
        NV0000_CTRL_CMD_GPU_GET_UUID_FROM_GPU_ID => {
            let mut p = fixed::<Nv0000CtrlGpuGetUuidFromGpuIdParams>(params)?;
            let g = rm
                .gpus
                .iter()
                .find(|g| g.gpu_id() == p.gpu_id)
                .ok_or(NV_ERR_INVALID_ARGUMENT)?;
            p.gpu_uuid = [0; 256];
            if p.flags & 0x3 == 0 {
                // ASCII
                let s = g.uuid_ascii();
                p.gpu_uuid[..s.len()].copy_from_slice(&s);
                p.uuid_str_len = s.len() as u32 + 1;
            } else {
                p.gpu_uuid[..16].copy_from_slice(&g.uuid);
                p.uuid_str_len = 16;
            }
            Ok(put(&p, params))
        }
        _ => static_reply(0x0000, cmd, params),
    }
}

fn device_control(cmd: u32, params: &mut [u8]) -> CtlResult {
    match cmd {
        // deviceCtrlCmdGpuGetVirtualizationMode: a bare-metal GPU is
        // NV0080_CTRL_GPU_VIRTUALIZATION_MODE_NONE (0); 580 adds
        // isGridBuild @4 (NV_FALSE). 550: 4 bytes, 580: 8.
        // deviceCtrlCmdHostGetCapsV2 (_kbusGetHostCaps): on an x86 host with
        // an IO-coherent chipset and no BR04 only
        // GPU_COHERENT_MAPPING_SUPPORTED (byte 0, 0x04).
        NV0080_CTRL_CMD_HOST_GET_CAPS_V2 => {
            sized(cmd, params)?;
            params.copy_from_slice(&[0x04, 0, 0]);
            Ok(NV_OK)
        }
        // deviceCtrlCmdGpuGetClasslistV2 (gpuGetClassList over all engines):
        // numClasses @0, classList[174] @4: the classes this GPU can
        // allocate, which for nvsim are the ones it implements (README).
        // Not the H100's 103 (tests/fidelity/h100-580.159.04/clients): with
        // those libcuda 550 relies on classes nvsim does not implement and
        // cuInit fails (tests/fidelity/nvsim-550-clients/README.md).
        // deviceCtrlCmdGpuGetNumSubdevices: numSubDevices @0 = 1 (no SLI).
        NV0080_CTRL_CMD_GPU_GET_NUM_SUBDEVICES => {
            if params.len() != 4 {
                return Err(NV_ERR_INVALID_ARGUMENT);
            }
            wr32(params, 0, 1);
            Ok(NV_OK)
        }
        NV0080_CTRL_CMD_GPU_GET_CLASSLIST_V2 => {
            if params.len() != 4 + 4 * 174 {
                return Err(NV_ERR_INVALID_ARGUMENT);
            }
            params.fill(0);
            let list = [
                NV01_MEMORY_SYSTEM,
                NV01_MEMORY_LOCAL_USER,
                NV50_MEMORY_VIRTUAL,
                NV01_DEVICE_0,
                NV20_SUBDEVICE_0,
                FERMI_CONTEXT_SHARE_A,
                FERMI_VASPACE_A,
                KEPLER_CHANNEL_GROUP_A,
                HOPPER_USERMODE_A,
                HOPPER_CHANNEL_GPFIFO_A,
                HOPPER_DMA_COPY_A,
                HOPPER_COMPUTE_A,
            ];
            wr32(params, 0, list.len() as u32);
            for (i, c) in list.iter().enumerate() {
                wr32(params, 4 + 4 * i, *c);
            }
            Ok(NV_OK)
        }
        // deviceCtrlCmdGpuGetVgxCaps: isVgx = gpuIsVgxBranded(), the VGX
        // fuse; nvsim's GPU is not VGX-branded (NV_FALSE). 550's NVML asks
        // it while opening a device (nvidia-smi, nvml-probe).
        NV0080_CTRL_CMD_GPU_GET_VGX_CAPS => {
            sized(cmd, params)?;
            params[0] = 0;
            Ok(NV_OK)
        }
        // deviceCtrlCmdGpuGetBrandCaps: brands @0, the NV0080_CTRL_GPU_
        // GET_BRAND_CAPS_* bits (QUADRO, NVS, TITAN): a data-centre H100
        // carries none.
        NV0080_CTRL_CMD_GPU_GET_BRAND_CAPS => {
            sized(cmd, params)?;
            params.fill(0);
            Ok(NV_OK)
        }
        NV0080_CTRL_CMD_GPU_GET_VIRTUALIZATION_MODE => {
            if Some(params.len()) != branch::control_size(cmd) {
                return Err(NV_ERR_INVALID_ARGUMENT);
            }
            params.fill(0);
            Ok(NV_OK)
        }
        _ => static_reply(0x0080, cmd, params),
    }
}

/// subdeviceCtrlCmdGpuGetInfoV2 (getGpuInfos): gpuInfoListSize @0 (at
/// most NV2080_CTRL_GPU_INFO_MAX_LIST_SIZE, 65), {index, data} pairs @4.
/// The values a bare-metal H100 on x86 gets from the kernel RM's cases;
/// an index the open RM has no case for is forwarded to the GSP, whose
/// answer the open source does not show: nvsim answers 0 for those (index
/// 0x11, which libcuda 550 asks, is one).
fn gpu_info_v2(params: &mut [u8]) -> CtlResult {
    if params.len() != 4 + 8 * 65 {
        return Err(NV_ERR_INVALID_ARGUMENT);
    }
    let n = rd32(params, 0) as usize;
    if n > 65 {
        return Err(NV_ERR_INVALID_ARGUMENT);
    }
    for i in 0..n {
        let at = 4 + 8 * i;
        let data = match rd32(params, at) {
            0x04 => 0,        // MINOR_REVISION_EXT: none
            0x0e => 1,        // SYSMEM_ACCESS: YES
            0x22 => 0,        // GEMINI_BOARD: no
            0x26 => u32::MAX, // IBMNPU_RELAXED_ORDERING: UNSUPPORTED (x86)
            0x27 => 1,        // GLOBAL_POISON_FUSE_ENABLED: YES (HBM part)
            0x2a => 2,        // GPU_SMC_MODE: MIG supported, DISABLED
            0x2d => 1,        // GPU_FLA_CAPABILITY: YES (Hopper)
            0x33 => 0,        // 4K_PAGE_ISOLATION_REQUIRED: NO
            0x37 => 1,        // GPU_DEBUGGING_CAPABILITY: ENABLED (bare metal)
            0x3a => 0,        // GPU_LOCAL_EGM_CAPABILITY: NO
            0x3b => 0,        // GPU_SELF_HOSTED_CAPABILITY: NO (PCIe/SXM on x86)
            0x3c => 0,        // CMP_SKU: NO
            0x3d => 1,        // DMABUF_CAPABILITY: YES
            _ => 0,
        };
        wr32(params, at + 4, data);
    }
    Ok(NV_OK)
}

/// subdeviceCtrlCmdBusGetInfoV2 (kern_bus_ctrl.c): busInfoListSize @0 (at
/// most NV2080_CTRL_BUS_INFO_MAX_LIST_SIZE, 52), {index, data} pairs @4.
/// A PCIe GPU on an x86 host whose chipset snoops: TYPE PCI_EXPRESS (3),
/// INTLINE 0 (nvsim has no interrupt line), CAPS 0 (not integrated),
/// COHERENT_DMA_FLAGS CTXDMA|GPUGART (0x5); indexes answered by the GSP or
/// from PCIe registers nvsim does not have: 0.
fn bus_info_v2(params: &mut [u8]) -> CtlResult {
    sized(NV2080_CTRL_CMD_BUS_GET_INFO_V2, params)?;
    let n = rd32(params, 0) as usize;
    if n > 52 {
        return Err(NV_ERR_INVALID_ARGUMENT);
    }
    for i in 0..n {
        let at = 4 + 8 * i;
        let data = match rd32(params, at) {
            0x00 => 3,
            0x0b => 0x5,
            _ => 0,
        };
        wr32(params, at + 4, data);
    }
    Ok(NV_OK)
}

/// The simulated GPU's PTIMER: nanoseconds of the kernel's monotonic clock.
fn gpu_time_ns() -> u64 {
    // SAFETY: ktime_get has no preconditions.
    (unsafe { kernel::bindings::ktime_get() }) as u64
}

/// subdeviceCtrlCmdTimerGetGpuCpuTimeCorrelationInfo (CPU side, not GSP):
/// cpuClkId u8 @0 (source 3:0, processor 7:4 must be CPU), sampleCount u8
/// @1 (<= 16, else NV_ERR_INVALID_ARGUMENT), samples {cpuTime, gpuTime} @8.
/// OSTIME: sampleCount pairs of wall-clock µs and PTIMER; PLATFORM_API: one
/// pair of the performance counter (monotonic ns) and PTIMER; TSC:
/// sampleCount pairs of the TSC and PTIMER; other sources
/// NV_ERR_INVALID_ARGUMENT.
fn time_correlation(params: &mut [u8]) -> CtlResult {
    let clk = params[0];
    let count = usize::from(params[1]);
    if count > 16 || clk >> 4 != 0 {
        return Err(NV_ERR_INVALID_ARGUMENT);
    }
    let mut put = |i: usize, cpu: u64, gpu: u64| {
        let at = 8 + 16 * i;
        params[at..at + 8].copy_from_slice(&cpu.to_le_bytes());
        params[at + 8..at + 16].copy_from_slice(&gpu.to_le_bytes());
    };
    match clk & 0xf {
        1 => {
            for i in 0..count {
                let mut ts = kernel::bindings::timespec64::default();
                // SAFETY: `ts` is a valid, writable timespec64.
                unsafe { kernel::bindings::ktime_get_real_ts64(&mut ts) };
                let us = (ts.tv_sec as u64) * 1_000_000 + (ts.tv_nsec as u64) / 1000;
                put(i, us, gpu_time_ns());
            }
        }
        2 => {
            for i in 0..count {
                // SAFETY: RDTSC has no memory effects; x86-64 always has it.
                let tsc = unsafe { core::arch::x86_64::_rdtsc() };
                put(i, tsc, gpu_time_ns());
            }
        }
        3 => {
            let a = gpu_time_ns();
            let g = gpu_time_ns();
            let b = gpu_time_ns();
            put(0, a / 2 + b / 2, g);
        }
        _ => return Err(NV_ERR_INVALID_ARGUMENT),
    }
    Ok(NV_OK)
}

/// Value of one FB_GET_INFO index, as nvidia.ko reports it (KiB for sizes).
fn fb_info(g: &Gpu, index: u32) -> Option<u32> {
    let kib = |b: u64| u32::try_from(b >> 10).unwrap_or(u32::MAX);
    let total = g.vram;
    let free = total - g.heap_used();
    Some(match index {
        NV2080_CTRL_FB_INFO_INDEX_RAM_SIZE
        | NV2080_CTRL_FB_INFO_INDEX_TOTAL_RAM_SIZE
        | NV2080_CTRL_FB_INFO_INDEX_USABLE_RAM_SIZE
        | NV2080_CTRL_FB_INFO_INDEX_HEAP_SIZE
        | NV2080_CTRL_FB_INFO_INDEX_MAPPABLE_HEAP_SIZE => kib(total),
        NV2080_CTRL_FB_INFO_INDEX_HEAP_FREE
        | NV2080_CTRL_FB_INFO_INDEX_LARGEST_FREE_REGION_SIZE_KB => kib(free),
        NV2080_CTRL_FB_INFO_INDEX_BAR1_SIZE | NV2080_CTRL_FB_INFO_INDEX_BAR1_AVAIL_SIZE => {
            kib(total)
        }
        NV2080_CTRL_FB_INFO_INDEX_BAR1_MAX_CONTIGUOUS_AVAIL_SIZE => kib(total),
        NV2080_CTRL_FB_INFO_INDEX_FB_TAX_SIZE_KB
        | NV2080_CTRL_FB_INFO_INDEX_HEAP_BASE_KB
        | NV2080_CTRL_FB_INFO_INDEX_HEAP_START
        | NV2080_CTRL_FB_INFO_INDEX_LARGEST_FREE_REGION_BASE_KB
        | NV2080_CTRL_FB_INFO_INDEX_VISTA_RESERVED_HEAP_SIZE
        | NV2080_CTRL_FB_INFO_INDEX_HEAP_OFFLINE_SIZE
        | NV2080_CTRL_FB_INFO_INDEX_PROTECTED_MEM_SIZE_TOTAL_KB
        | NV2080_CTRL_FB_INFO_INDEX_PROTECTED_MEM_SIZE_FREE_KB => 0,
        NV2080_CTRL_FB_INFO_INDEX_NUMA_NODE_ID => u32::MAX,
        // The memory system of an H100 SXM5 80GB (indexes the core does not
        // name, numbers of ctrl2080fb.h): BUS_WIDTH 5120 bits (5 HBM3
        // stacks), RAM_TYPE HBM3 (0x14), RAM_LOCATION GPU_DEDICATED (0),
        // FB_IS_BROKEN no, FBP_COUNT 10, L2CACHE_SIZE 50 MiB (bytes); and
        // as the H100 answered them (tests/traces/01-cuda-init): FBP_MASK
        // 0x7bf (10 of 11), LTC_COUNT 20, LTS_COUNT 80.
        0x0b => 5120,
        0x1a => 0x7bf,
        0x22 => 20,
        0x23 => 80,
        0x0d => 0x14,
        0x17 => 0,
        0x18 => 0,
        0x19 => 10,
        0x1b => 50 << 20,
        _ => return None,
    })
}

fn subdevice_control(
    rm: &RmState,
    caller: &Caller,
    g: &Arc<Gpu>,
    cmd: u32,
    params: &mut [u8],
) -> CtlResult {
    match cmd {
        NV2080_CTRL_CMD_GPU_GET_PID_INFO => pid_info(rm, g, params),
        NV2080_CTRL_CMD_GPU_GET_PIDS => get_pids(rm, g, params),
        // subdeviceCtrlCmdMcGetArchInfo (PMC_BOOT_0): GH100, architecture
        // 0x180, implementation 0, revision A1 (major 0xa << 4 | minor 1),
        // subRevision 0.
        NV2080_CTRL_CMD_GPU_GET_INFO_V2 => gpu_info_v2(params),
        NV2080_CTRL_CMD_BUS_GET_INFO_V2 => bus_info_v2(params),
        // subdeviceCtrlCmdBusGetPciBarInfo: pciBarCount @0, then 8 x
        // {flags, barSize (MiB), barSizeBytes, barOffset} @8. nvsim's BARs
        // are those CARD_INFO reports: BAR0 the registers (16 MiB), BAR1
        // the framebuffer window (the GPU's memory size), and the 32 MiB
        // BAR2 an H100 has.
        NV2080_CTRL_CMD_BUS_GET_PCI_BAR_INFO => {
            sized(cmd, params)?;
            params.fill(0);
            let i = u64::from(g.index);
            let bars = [
                (0xf000_0000 + (i << 24), 16u64 << 20),
                (0x20_0000_0000 + (i << 36), g.vram),
                (0x30_0000_0000 + (i << 25), 32 << 20),
            ];
            wr32(params, 0, bars.len() as u32);
            for (k, (base, size)) in bars.iter().enumerate() {
                let at = 8 + 24 * k;
                wr32(params, at + 4, (*size >> 20) as u32);
                params[at + 8..at + 16].copy_from_slice(&size.to_le_bytes());
                params[at + 16..at + 24].copy_from_slice(&base.to_le_bytes());
            }
            Ok(NV_OK)
        }
        // subdeviceCtrlCmdBusGetPciInfo: config dword 0 (device << 16 |
        // vendor), the subsystem dword (H100 SXM5 80GB: 10de:16c1), the
        // revision (A1) and the device id.
        NV2080_CTRL_CMD_BUS_GET_PCI_INFO => {
            sized(cmd, params)?;
            let dev = u32::from(gpu::PCI_DEVICE_ID);
            let ven = u32::from(gpu::PCI_VENDOR_ID);
            wr32(params, 0, (dev << 16) | ven);
            wr32(params, 4, (0x16c1 << 16) | ven);
            wr32(params, 8, 0xa1);
            wr32(params, 12, dev);
            Ok(NV_OK)
        }
        NV2080_CTRL_CMD_MC_GET_ARCH_INFO => {
            sized(cmd, params)?;
            params.fill(0);
            wr32(params, 0, 0x180);
            wr32(params, 4, 0);
            wr32(params, 8, 0xa1);
            Ok(NV_OK)
        }
        NV2080_CTRL_CMD_TIMER_GET_GPU_CPU_TIME_CORRELATION_INFO => {
            sized(cmd, params)?;
            time_correlation(params)
        }
        NV2080_CTRL_CMD_FB_GET_INFO_V2 => {
            // The list bound is the branch's NV2080_CTRL_FB_INFO_MAX_LIST_SIZE
            // (550: 55 entries, 444 bytes; 580: 128, 1028).
            let max = branch::current().fb_info_max;
            let size = branch::current().fb_info_v2_size();
            let mut p = fixed_sized::<Nv2080CtrlFbGetInfoV2Params>(params, size)?;
            let n = p.fb_info_list_size as usize;
            if n > max {
                return Err(NV_ERR_INVALID_ARGUMENT);
            }
            for e in p.fb_info_list[..n].iter_mut() {
                e.data = fb_info(g, e.index).ok_or(NV_ERR_INVALID_ARGUMENT)?;
            }
            put_sized(&p, params)
        }
        NV2080_CTRL_CMD_GPU_GET_NAME_STRING => {
            let mut p = fixed::<Nv2080CtrlGpuGetNameStringParams>(params)?;
            if p.gpu_name_string_flags != 0 {
                // Only ASCII is simulated.
                return Err(NV_ERR_INVALID_ARGUMENT);
            }
            copy_str(&mut p.gpu_name_string, gpu::GPU_NAME.as_bytes());
            Ok(put(&p, params))
        }
        NV2080_CTRL_CMD_GPU_GET_SHORT_NAME_STRING => {
            let mut p = fixed::<Nv2080CtrlGpuGetShortNameStringParams>(params)?;
            copy_str(&mut p.gpu_short_name_string, gpu::GPU_SHORT_NAME.as_bytes());
            Ok(put(&p, params))
        }
        NV2080_CTRL_CMD_GPU_GET_GID_INFO => {
            let mut p = fixed::<Nv2080CtrlGpuGetGidInfoParams>(params)?;
            p.data = [0; 256];
            // NV2080_GPU_CMD_GPU_GET_GID_FLAGS_FORMAT (1:0): 0 ASCII, 2 binary.
            if p.flags & 0x3 == 2 {
                p.data[..16].copy_from_slice(&g.uuid);
                p.length = 16;
            } else {
                let s = g.uuid_ascii();
                p.data[..s.len()].copy_from_slice(&s);
                p.length = s.len() as u32 + 1;
            }
            Ok(put(&p, params))
        }
        // subdeviceCtrlCmdGpuGetEnginesV2: the engine types the GPU has,
        // as the H100 (580.159.04) listed them (tests/traces/01-cuda-init):
        // GR0, COPY0-4, NVDEC1-7, SW, SEC2, NVJPEG0 and 2-7, OFA. The
        // numbers are NV2080_ENGINE_TYPE_*, the same in 550 and 580; the
        // list bound is the branch's NV2080_GPU_MAX_ENGINES_LIST_SIZE.
        NV2080_CTRL_CMD_GPU_GET_ENGINES_V2 => {
            if Some(params.len()) != branch::control_size(cmd) {
                return Err(NV_ERR_INVALID_ARGUMENT);
            }
            params.fill(0);
            wr32(params, 0, H100_ENGINES.len() as u32);
            for (i, e) in H100_ENGINES.iter().enumerate() {
                wr32(params, 4 + 4 * i, *e);
            }
            Ok(NV_OK)
        }
        // subdeviceCtrlCmdGpuQueryEccStatus: per ECC unit {enabled,
        // scrubComplete, supported} and four error counts (40 bytes each),
        // then bFatalPoisonError, uncorrectableError, flags and the GR
        // route. ECC is on (an HBM part); the units the H100 reported
        // enabled, supported and scrubbed (tests/traces/01-cuda-init) are,
        // with no errors counted. The unit count is the branch's.
        NV2080_CTRL_CMD_GPU_QUERY_ECC_STATUS => {
            if Some(params.len()) != branch::control_size(cmd) {
                return Err(NV_ERR_INVALID_ARGUMENT);
            }
            let units = (params.len() - 24) / 40;
            params[..40 * units + 8].fill(0);
            for u in H100_ECC_UNITS.iter().filter(|u| (**u as usize) < units) {
                let at = 40 * *u as usize;
                params[at..at + 3].copy_from_slice(&[1, 1, 1]);
            }
            Ok(NV_OK)
        }
        // subdeviceCtrlCmdKGrGetInfoV2 (_kgraphicsCtrlCmdGrGetInfoV2): 1 to
        // NV2080_CTRL_GR_INFO_MAX_SIZE entries, each index below it (else
        // NV_ERR_INVALID_ARGUMENT), answered from the GPU's static GR info:
        // the H100's (h100_replies::GR_INFO, measured). The block: grInfoListSize @0,
        // grInfoList[max] @4, grRouteInfo 8-aligned after it.
        NV2080_CTRL_CMD_GR_GET_INFO_V2 => {
            let max = branch::current().gr_info_max;
            if params.len() != (4 + 8 * max).next_multiple_of(8) + 16 {
                return Err(NV_ERR_INVALID_ARGUMENT);
            }
            let n = rd32(params, 0) as usize;
            if n == 0 || n > max {
                return Err(NV_ERR_INVALID_ARGUMENT);
            }
            for i in 0..n {
                let index = rd32(params, 4 + 8 * i) as usize;
                if index >= max {
                    return Err(NV_ERR_INVALID_ARGUMENT);
                }
                wr32(
                    params,
                    8 + 8 * i,
                    h100::GR_INFO.get(index).copied().unwrap_or(0),
                );
            }
            Ok(NV_OK)
        }
        // subdeviceCtrlCmdKGrGetTpcMask: grRouteInfo @0, gpcId @16 (a
        // logical GPC below the GPC count, else NV_ERR_INVALID_ARGUMENT),
        // tpcMask @20: the H100's (h100_replies::TPC_MASK).
        NV2080_CTRL_CMD_GR_GET_TPC_MASK => {
            if params.len() != 24 {
                return Err(NV_ERR_INVALID_ARGUMENT);
            }
            let gpc = rd32(params, 16) as usize;
            let mask = *h100::TPC_MASK.get(gpc).ok_or(NV_ERR_INVALID_ARGUMENT)?;
            wr32(params, 20, mask);
            Ok(NV_OK)
        }
        // GRMGR_GET_GR_FS_INFO (answered by GSP-RM; modelled): numQueries
        // @0 (at most 96, else NV_ERR_INVALID_ARGUMENT), then 20-byte
        // queries {queryType u16, status u32 @4, data @8}. GPC_COUNT,
        // CHIPLET_GPC_MAP (logical gpcId @8 -> chiplet GPC @12) and
        // TPC_MASK (gpcId @8 -> mask @12) are answered from the H100's
        // tables; an unknown GPC or another query type sets that query's
        // status (NV_ERR_INVALID_ARGUMENT, NV_ERR_NOT_SUPPORTED).
        NV2080_CTRL_CMD_GRMGR_GET_GR_FS_INFO => {
            sized(cmd, params)?;
            let n = usize::from(u16::from_le_bytes([params[0], params[1]]));
            if n > 96 {
                return Err(NV_ERR_INVALID_ARGUMENT);
            }
            for k in 0..n {
                let at = 8 + 20 * k;
                let ty = u16::from_le_bytes([params[at], params[at + 1]]);
                let gpc = rd32(params, at + 8) as usize;
                let answer = match ty {
                    1 => Ok((8, h100::TPC_MASK.len() as u32)),
                    2 => h100::CHIPLET_GPC_MAP
                        .get(gpc)
                        .map(|p| (12, *p))
                        .ok_or(NV_ERR_INVALID_ARGUMENT),
                    3 => h100::TPC_MASK
                        .get(gpc)
                        .map(|m| (12, *m))
                        .ok_or(NV_ERR_INVALID_ARGUMENT),
                    _ => Err(NV_ERR_NOT_SUPPORTED),
                };
                match answer {
                    Ok((off, v)) => {
                        wr32(params, at + 4, NV_OK);
                        wr32(params, at + off, v);
                    }
                    Err(st) => wr32(params, at + 4, st),
                }
            }
            Ok(NV_OK)
        }
        // subdeviceCtrlCmdKGrGetGlobalSmOrder: 512 SM entries (12 bytes in
        // 550; 580 adds ugpuId, physicalCpcId and virtualTpcId: 18), then
        // numSm and numTpc, then grRouteInfo (8-aligned): the H100's order.
        NV2080_CTRL_CMD_GR_GET_GLOBAL_SM_ORDER => {
            let fields = if branch::table() == crate::fgcore::nvabi::branch::Branch::R550 {
                6
            } else {
                9
            };
            let counts: usize = 512 * 2 * fields;
            if params.len() != (counts + 4).next_multiple_of(8) + 16 {
                return Err(NV_ERR_INVALID_ARGUMENT);
            }
            params[..counts + 4].fill(0);
            for (k, sm) in h100::SM_ORDER.iter().enumerate() {
                for (j, v) in sm[..fields].iter().enumerate() {
                    wr16(params, 2 * (k * fields + j), *v);
                }
            }
            wr16(params, counts, h100::NUM_SM);
            wr16(params, counts + 2, h100::NUM_TPC);
            Ok(NV_OK)
        }
        // subdeviceCtrlCmdGspGetFeatures: gspFeatures @0, bValid @4,
        // bDefaultGspRmGpu @5, firmwareVersion[64] @6: as the H100 answered
        // (features 1, valid, GSP-RM by default), with the branch's own
        // version (GSP firmware and driver ship together).
        NV2080_CTRL_CMD_GSP_GET_FEATURES => {
            sized(cmd, params)?;
            params.fill(0);
            wr32(params, 0, 1);
            params[4] = 1;
            params[5] = 1;
            copy_str(&mut params[6..70], branch::current().version.as_bytes());
            Ok(NV_OK)
        }
        // subdeviceCtrlCmdGpuAcquireComputeModeReservation (0x20800145) /
        // ...Release... (0x20800146; no parameters): nvsim's GPUs are in the default
        // compute mode (COMPUTE_MODE_RULES_NONE, as QUERY_COMPUTE_MODE_RULES
        // answers), where every client gets the reservation and releasing
        // always succeeds.
        0x2080_0145 | 0x2080_0146 => {
            if !params.is_empty() {
                return Err(NV_ERR_INVALID_ARGUMENT);
            }
            Ok(NV_OK)
        }
        // subdeviceCtrlCmdRcReleaseWatchdogRequests / RcSoftDisableWatchdog
        // (no parameters): the RM's channel watchdog, which nvsim does not
        // run; both succeed as on the H100 (tests/traces/01-cuda-init).
        NV2080_CTRL_CMD_RC_RELEASE_WATCHDOG_REQUESTS | NV2080_CTRL_CMD_RC_SOFT_DISABLE_WATCHDOG => {
            if !params.is_empty() {
                return Err(NV_ERR_INVALID_ARGUMENT);
            }
            Ok(NV_OK)
        }
        // subdeviceCtrlCmdPerfBoost: flags @0, duration @4; a boost request
        // changes no state nvsim models (no clocks).
        NV2080_CTRL_CMD_PERF_BOOST => {
            sized(cmd, params)?;
            Ok(NV_OK)
        }
        // subdeviceCtrlCmdGetGpuFabricProbeInfo: no fabric (a PCIe/SXM GPU
        // without NVSwitch): all zero, state NV2080_CTRL_GPU_FABRIC_PROBE_
        // STATE_UNSUPPORTED, as the H100 answered; 550's block is shorter.
        NV2080_CTRL_CMD_GET_GPU_FABRIC_PROBE_INFO => {
            if Some(params.len()) != branch::control_size(cmd) {
                return Err(NV_ERR_INVALID_ARGUMENT);
            }
            params.fill(0);
            Ok(NV_OK)
        }
        // subdeviceCtrlCmdBusGetPcieSupportedGpuAtomics: no PCIe atomic
        // operation supported, as the H100 answered (all zero).
        NV2080_CTRL_CMD_BUS_GET_PCIE_SUPPORTED_GPU_ATOMICS => {
            if Some(params.len()) != branch::control_size(cmd) {
                return Err(NV_ERR_INVALID_ARGUMENT);
            }
            params.fill(0);
            Ok(NV_OK)
        }
        NV2080_CTRL_CMD_FIFO_DISABLE_CHANNELS => {
            let p = fixed::<Nv2080CtrlFifoDisableChannelsParams>(params)?;
            if p.num_channels > 64
                || (p.p_runlist_preempt_event != 0 && caller.os != crate::rm::Os::Kernel)
            {
                return Err(NV_ERR_INVALID_ARGUMENT);
            }
            // Resolve every (client, channel) pair first: all or nothing.
            let mut chids: KVec<u32> = KVec::new();
            for i in 0..p.num_channels as usize {
                let (hc, hch) = (p.h_client_list[i], p.h_channel_list[i]);
                let c = rm
                    .clients
                    .iter()
                    .find(|c| c.handle == hc)
                    .ok_or(NV_ERR_INVALID_CLIENT)?;
                let Some(Data::Channel(ch)) = c.obj(hch).map(|o| &o.data) else {
                    return Err(NV_ERR_INVALID_CHANNEL);
                };
                if !Arc::ptr_eq(&ch.gpu, g) {
                    return Err(NV_ERR_INVALID_CHANNEL);
                }
                chids
                    .push(ch.chid, GFP_KERNEL)
                    .map_err(|_| NV_ERR_NO_MEMORY)?;
            }
            if g.profile.channel_disable_effective {
                for chid in chids.iter() {
                    g.engine.set_chan_disabled(*chid, p.disable != 0);
                }
            }
            Ok(NV_OK)
        }
        _ => static_reply(0x2080, cmd, params),
    }
}

/// cliresCtrlCmdClientGetAddrSpaceType: hObject @0 (an object of the
/// calling client: else NV_ERR_OBJECT_NOT_FOUND), mapFlags @4,
/// addrSpaceType @8. Memory answers its address space (system memory
/// SYSMEM 1, video memory VIDMEM 2, a virtual range is refused with
/// NV_ERR_INVALID_ARGUMENT); every other GPU resource maps registers
/// (gpuresGetMapAddrSpace: REGMEM 3); the client is not a GPU resource
/// (NV_ERR_INVALID_OBJECT).
fn addr_space_type(rm: &RmState, ci: usize, params: &mut [u8]) -> CtlResult {
    sized(NV0000_CTRL_CMD_CLIENT_GET_ADDR_SPACE_TYPE, params)?;
    let h = rd32(params, 0);
    let c = rm.client(ci);
    if h == c.handle {
        return Err(NV_ERR_INVALID_OBJECT);
    }
    let o = c.obj(h).ok_or(NV_ERR_OBJECT_NOT_FOUND)?;
    let t = match o.class {
        NV01_MEMORY_SYSTEM => 1,
        NV01_MEMORY_LOCAL_USER => 2,
        NV50_MEMORY_VIRTUAL => return Err(NV_ERR_INVALID_ARGUMENT),
        _ => 3,
    };
    wr32(params, 8, t);
    Ok(NV_OK)
}

/// NV503C_CTRL_CMD_REGISTER_VA_SPACE / UNREGISTER_VA_SPACE: hVASpace @0
/// must be a FERMI_VASPACE_A of the client (else
/// NV_ERR_INVALID_OBJECT_HANDLE); registering returns the VA space's token
/// @8 (nvsim: the handle, which is unique in the client). Other
/// third-party P2P controls (REGISTER_VIDMEM, ...) are NV_ERR_NOT_SUPPORTED:
/// no peer is modelled.
fn third_party_p2p_control(rm: &RmState, ci: usize, cmd: u32, params: &mut [u8]) -> CtlResult {
    const UNREGISTER_VA_SPACE: u32 = 0x503c_0103;
    match cmd {
        NV503C_CTRL_CMD_REGISTER_VA_SPACE | UNREGISTER_VA_SPACE => {
            if params.len() != if cmd == UNREGISTER_VA_SPACE { 4 } else { 16 } {
                return Err(NV_ERR_INVALID_ARGUMENT);
            }
            let h = rd32(params, 0);
            if rm.client(ci).obj(h).map(|o| o.class) != Some(FERMI_VASPACE_A) {
                return Err(NV_ERR_INVALID_OBJECT_HANDLE);
            }
            if cmd == NV503C_CTRL_CMD_REGISTER_VA_SPACE {
                params[8..16].copy_from_slice(&u64::from(h).to_le_bytes());
            }
            Ok(NV_OK)
        }
        _ => Err(NV_ERR_NOT_SUPPORTED),
    }
}

/// A control that reports fixed facts of the chip, answered as the H100
/// did (`h100_replies`), on an object of the class whose interface the
/// command names (`iface`, the command's top 16 bits); any other is
/// `NV_ERR_NOT_SUPPORTED`.
fn static_reply(iface: u32, cmd: u32, params: &mut [u8]) -> CtlResult {
    let (_, r) = h100::REPLIES
        .iter()
        .find(|(c, _)| *c == cmd && cmd >> 16 == iface)
        .ok_or(NV_ERR_NOT_SUPPORTED)?;
    if params.len() != r.len() {
        return Err(NV_ERR_INVALID_ARGUMENT);
    }
    params.copy_from_slice(r);
    Ok(NV_OK)
}

/// The H100's engines (NV2080_ENGINE_TYPE_*), as GPU_GET_ENGINES_V2
/// listed them on the H100 with 580.159.04.
const H100_ENGINES: [u32; 23] = [
    0x01, 0x09, 0x0a, 0x0b, 0x0c, 0x0d, 0x14, 0x15, 0x16, 0x17, 0x18, 0x19, 0x1a, 0x22, 0x26, 0x2b,
    0x2d, 0x2e, 0x2f, 0x30, 0x31, 0x32, 0x33,
];

/// The ECC units the H100 reported enabled (GPU_QUERY_ECC_STATUS,
/// 580.159.04); their names are not in the open headers.
const H100_ECC_UNITS: [u32; 20] = [
    0, 1, 3, 4, 5, 9, 10, 11, 12, 13, 14, 15, 16, 18, 19, 20, 21, 22, 23, 24,
];

/// GPU_GET_PIDS, as `subdeviceCtrlCmdGpuGetPids_IMPL` and
/// `gpuGetProcWithObject` (550/580) answer it: `idType` CLASS with `id`
/// NV20_SUBDEVICE_0 lists the processes of every client that has a
/// subdevice of this GPU, another `id` those with an object of that class
/// (a channel descendant: a compute or copy object) on it; VGPU_GUEST
/// lists none (no vGPU); another `idType` is `NV_ERR_INVALID_ARGUMENT`.
/// Kernel clients are skipped, each process once, numbered in the calling
/// task's pid namespace (a process it cannot see is left out).
fn get_pids(rm: &RmState, g: &Gpu, params: &mut [u8]) -> CtlResult {
    if params.len() != GET_PIDS_TABLE_OFFSET + 4 * NV2080_CTRL_GPU_GET_PIDS_MAX_COUNT {
        return Err(NV_ERR_INVALID_ARGUMENT);
    }
    let id_type = u32::read(params).ok_or(NV_ERR_INVALID_ARGUMENT)?;
    let id = u32::read(&params[4..]).ok_or(NV_ERR_INVALID_ARGUMENT)?;
    let mut n = 0usize;
    match id_type {
        NV2080_CTRL_GPU_GET_PIDS_ID_TYPE_CLASS => {
            for c in rm.clients.iter().filter(|c| c.os != Os::Kernel) {
                let has = c.objs.iter().any(|o| {
                    o.gpu == g.index
                        && if id == NV20_SUBDEVICE_0 {
                            matches!(o.data, Data::Subdevice)
                        } else {
                            o.class == id
                        }
                });
                if !has {
                    continue;
                }
                let pid = crate::file::tgid_in_caller_ns(c.tgid);
                if pid <= 0 {
                    continue;
                }
                let pid = pid as u32;
                let seen = (0..n)
                    .any(|i| u32::read(&params[GET_PIDS_TABLE_OFFSET + 4 * i..]) == Some(pid));
                if seen {
                    continue;
                }
                let _ = pid.write(&mut params[GET_PIDS_TABLE_OFFSET + 4 * n..]);
                n += 1;
                if n == NV2080_CTRL_GPU_GET_PIDS_MAX_COUNT {
                    break;
                }
            }
        }
        // NV2080_CTRL_GPU_GET_PIDS_ID_TYPE_VGPU_GUEST
        1 => {}
        _ => return Err(NV_ERR_INVALID_ARGUMENT),
    }
    let _ = (n as u32).write(&mut params[GET_PIDS_COUNT_OFFSET..]);
    Ok(NV_OK)
}

/// `PARTITIONID_INVALID`: no MIG instance.
const PARTITIONID_INVALID: u32 = 0xffff_ffff;

/// GPU_GET_PID_INFO, as `subdeviceCtrlCmdGpuGetPidInfo_IMPL` and
/// `gpuFindClientInfoWithPidIterator` / `_gpuCollectMemInfo` (580) answer
/// it: 1..=200 entries (else `NV_ERR_INVALID_ARGUMENT` for the call); an
/// entry of an index other than VIDEO_MEMORY_USAGE gets
/// `NV_ERR_INVALID_ARGUMENT` in its `result`, pid 0 likewise. For each
/// entry, every client not of kernel privilege whose process is that pid
/// in the calling task's pid namespace adds the size of each of its video
/// memory objects on this GPU: to `memPrivate` while no other object names
/// the memory (the descriptor's `DupCount` is 1, whether the object made
/// it or is a dup that outlived it), else to `memSharedOwned` for the
/// allocation that made it and to `memSharedDuped` for a dup or an import
/// (measured on the H100: tests/fidelity/h100-580.159.04/pid-info-*.txt).
fn pid_info(rm: &RmState, g: &Gpu, params: &mut [u8]) -> CtlResult {
    type P = Nv2080CtrlGpuGetPidInfoParams;
    type E = Nv2080CtrlGpuPidInfo;
    if params.len() != P::SIZE {
        return Err(NV_ERR_INVALID_ARGUMENT);
    }
    let count = u32::read(params).ok_or(NV_ERR_INVALID_ARGUMENT)? as usize;
    if count == 0 || count > NV2080_CTRL_GPU_GET_PID_INFO_MAX_COUNT {
        return Err(NV_ERR_INVALID_ARGUMENT);
    }
    let list = core::mem::offset_of!(P, pid_info_list);
    for i in 0..count {
        let at = list + i * E::SIZE;
        let slot = &mut params[at..at + E::SIZE];
        let mut e = E::read(slot).ok_or(NV_ERR_INVALID_ARGUMENT)?;
        e.compute_instance_id = PARTITIONID_INVALID;
        e.gpu_instance_id = PARTITIONID_INVALID;
        (e.mem_private, e.mem_shared_owned, e.mem_shared_duped) = (0, 0, 0);
        e.protected = [0; 3];
        e.result = if e.index != NV2080_CTRL_GPU_PID_INFO_INDEX_VIDEO_MEMORY_USAGE || e.pid == 0 {
            NV_ERR_INVALID_ARGUMENT
        } else {
            for c in rm.clients.iter().filter(|c| c.os != Os::Kernel) {
                if crate::file::tgid_in_caller_ns(c.tgid) != e.pid as i32 {
                    continue;
                }
                for o in c.objs.iter().filter(|o| o.gpu == g.index) {
                    if let Data::Memory(m) = &o.data {
                        if !m.vid {
                            continue;
                        }
                        if m.objects.load(Ordering::Relaxed) == 1 {
                            e.mem_private += m.size;
                        } else if m.owner == (c.handle, o.handle) {
                            e.mem_shared_owned += m.size;
                        } else {
                            e.mem_shared_duped += m.size;
                        }
                    }
                }
            }
            NV_OK
        };
        e.write(slot);
    }
    Ok(NV_OK)
}

fn tsg_control(caller: &Caller, g: &Arc<Gpu>, id: u32, cmd: u32, params: &mut [u8]) -> CtlResult {
    let e = &g.engine;
    match cmd {
        NVA06C_CTRL_CMD_GPFIFO_SCHEDULE => {
            let size = branch::current().gpfifo_schedule_params;
            let p = fixed_sized::<NvA06fCtrlGpfifoScheduleParams>(params, size)?;
            e.set_enabled(id, p.enable != 0);
            Ok(NV_OK)
        }
        NVA06C_CTRL_CMD_SET_TIMESLICE => {
            let p = fixed::<NvA06cCtrlTimesliceParams>(params)?;
            if p.timeslice_us == 0 {
                return Err(NV_ERR_INVALID_ARGUMENT);
            }
            e.set_timeslice(id, p.timeslice_us);
            Ok(NV_OK)
        }
        NVA06C_CTRL_CMD_GET_TIMESLICE => {
            fixed::<NvA06cCtrlTimesliceParams>(params)?;
            let us = e.timeslice(id).ok_or(NV_ERR_INVALID_STATE)?;
            Ok(put(&NvA06cCtrlTimesliceParams { timeslice_us: us }, params))
        }
        NVA06C_CTRL_CMD_PREEMPT => {
            let p = fixed::<NvA06cCtrlPreemptParams>(params)?;
            if p.manual_timeout != 0 && p.timeout_us > 1_000_000 {
                return Err(NV_ERR_INVALID_ARGUMENT);
            }
            e.preempt(id);
            Ok(NV_OK)
        }
        NVA06C_CTRL_CMD_GET_INFO => {
            fixed::<NvA06cCtrlGetInfoParams>(params)?;
            Ok(put(&NvA06cCtrlGetInfoParams { tsg_id: id }, params))
        }
        NVA06C_CTRL_CMD_SET_INTERLEAVE_LEVEL => {
            let p = fixed::<NvA06cCtrlInterleaveLevelParams>(params)?;
            if !caller.has_nice() {
                return Err(NV_ERR_INSUFFICIENT_PERMISSIONS);
            }
            if p.tsg_interleave_level > 2 {
                return Err(NV_ERR_INVALID_ARGUMENT);
            }
            e.interleave(id, Some(p.tsg_interleave_level));
            Ok(NV_OK)
        }
        // The H100 with driver 580 answers NV_ERR_NOT_SUPPORTED to reading
        // a channel group's interleave level (fidelity run).
        NVA06C_CTRL_CMD_GET_INTERLEAVE_LEVEL => Err(NV_ERR_NOT_SUPPORTED),
        _ => Err(NV_ERR_NOT_SUPPORTED),
    }
}

/// Largest control parameter block nvsim copies (the RM's limit is 1 MiB;
/// nvsim's controls are far smaller, and a larger block is refused).
pub(crate) const MAX_PARAMS: usize = 16 * PAGE_SIZE;
