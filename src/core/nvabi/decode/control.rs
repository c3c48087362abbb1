// SPDX-License-Identifier: GPL-2.0

//! The control level: a control's parameters behind RM_CONTROL's
//! `params`, fds in them, and the export-fd controls' object lists.

use super::super::branch::Branch;
use super::super::ctrl::{self, *};
use super::super::wire::{rd_u16, rd_u32, rd_u64, rd_u8, Wire};
use super::kinds::*;
use core::mem::offset_of;

/// Typed view of a control's parameters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ControlParams {
    /// `FB_GET_INFO_V2`: the list is inline.
    FbInfoV2 {
        /// `fbInfoListSize` as sent (the rewriter clamps it to 128).
        count: u32,
    },
    /// `FB_GET_INFO` (v1): the list is behind a second pointer.
    FbInfoV1 {
        /// Entries.
        count: u32,
        /// Where the list is (`size` = count × 8, capped at 128 entries).
        list: NestedRef,
    },
    /// GPFIFO_SCHEDULE (TSG or channel).
    Schedule(NvA06fCtrlGpfifoScheduleParams),
    /// SET/GET_TIMESLICE.
    Timeslice {
        /// Microseconds.
        us: u64,
    },
    /// PREEMPT.
    Preempt(NvA06cCtrlPreemptParams),
    /// SET/GET_INTERLEAVE_LEVEL (TSG or channel).
    InterleaveLevel {
        /// Level.
        level: u32,
    },
    /// MAKE_REALTIME.
    Realtime {
        /// On/off.
        on: bool,
    },
    /// FIFO_DISABLE_CHANNELS (the lists are not copied here).
    DisableChannels {
        /// Disable (vs enable).
        disable: bool,
        /// Entries used.
        num_channels: u32,
        /// Only scheduling.
        only_disable_scheduling: bool,
        /// Kernel-only event pointer (non-zero is refused for users).
        p_runlist_preempt_event: u64,
    },
    /// SET_COMPUTE_POLICY_CONFIG.
    ComputePolicy {
        /// Type (0 timeslice).
        type_: u32,
        /// Value.
        data: u32,
    },
    /// A control that carries an fd.
    WithFd {
        /// The fd (offset inside the control's parameters).
        fd: FdField,
        /// For `NV00E0_CTRL_CMD_EXPORT_MEM`: `hParent` (the driver skips the
        /// fd check when it equals the client).
        h_parent: Option<u32>,
    },
    /// GPFIFO_GET_WORK_SUBMIT_TOKEN.
    WorkSubmitToken {
        /// OUT token.
        token: u32,
    },
    /// A known control whose parameters are not decoded.
    Other,
    /// Not a control this ABI knows.
    Unknown,
    /// FINN-serialized parameters.
    Serialized,
    /// `paramsSize` differs from the control's size (the RM fails the call
    /// with `NV_ERR_INVALID_PARAM_STRUCT`), or fewer bytes were given.
    BadSize {
        /// Expected.
        need: usize,
        /// Given.
        got: usize,
    },
}

/// Size of a decoded control's parameter block.
fn decoded_control_size(cmd: u32) -> Option<usize> {
    Some(match cmd {
        NV2080_CTRL_CMD_FB_GET_INFO_V2 => Nv2080CtrlFbGetInfoV2Params::SIZE,
        NV2080_CTRL_CMD_FB_GET_INFO => Nv2080CtrlFbGetInfoParams::SIZE,
        NVA06C_CTRL_CMD_GPFIFO_SCHEDULE | NVA06F_CTRL_CMD_GPFIFO_SCHEDULE => {
            NvA06fCtrlGpfifoScheduleParams::SIZE
        }
        NVA06C_CTRL_CMD_SET_TIMESLICE | NVA06C_CTRL_CMD_GET_TIMESLICE => {
            NvA06cCtrlTimesliceParams::SIZE
        }
        NVA06C_CTRL_CMD_PREEMPT => NvA06cCtrlPreemptParams::SIZE,
        NVA06C_CTRL_CMD_SET_INTERLEAVE_LEVEL | NVA06C_CTRL_CMD_GET_INTERLEAVE_LEVEL => {
            NvA06cCtrlInterleaveLevelParams::SIZE
        }
        NVA06F_CTRL_CMD_SET_INTERLEAVE_LEVEL => NvA06fCtrlInterleaveLevelParams::SIZE,
        NVA06C_CTRL_CMD_MAKE_REALTIME => NvA06cCtrlMakeRealtimeParams::SIZE,
        NV2080_CTRL_CMD_FIFO_DISABLE_CHANNELS => Nv2080CtrlFifoDisableChannelsParams::SIZE,
        NV2080_CTRL_CMD_GPU_SET_COMPUTE_POLICY_CONFIG => {
            Nv2080CtrlGpuSetComputePolicyConfigParams::SIZE
        }
        NV00FD_CTRL_CMD_ATTACH_GPU => Nv00fdCtrlAttachGpuParams::SIZE,
        NV00E0_CTRL_CMD_EXPORT_MEM => Nv00e0CtrlExportMemParams::SIZE,
        NV0000_CTRL_CMD_OS_UNIX_EXPORT_OBJECT_TO_FD => Nv0000CtrlOsUnixExportObjectToFdParams::SIZE,
        NV0000_CTRL_CMD_OS_UNIX_IMPORT_OBJECT_FROM_FD => {
            Nv0000CtrlOsUnixImportObjectFromFdParams::SIZE
        }
        NV0000_CTRL_CMD_OS_UNIX_GET_EXPORT_OBJECT_INFO => {
            Nv0000CtrlOsUnixGetExportObjectInfoParams::SIZE
        }
        NV0000_CTRL_CMD_OS_UNIX_CREATE_EXPORT_OBJECT_FD => {
            Nv0000CtrlOsUnixCreateExportObjectFdParams::SIZE
        }
        NV0000_CTRL_CMD_OS_UNIX_EXPORT_OBJECTS_TO_FD => {
            Nv0000CtrlOsUnixExportObjectsToFdParams::SIZE
        }
        NV0000_CTRL_CMD_OS_UNIX_IMPORT_OBJECTS_FROM_FD => {
            Nv0000CtrlOsUnixImportObjectsFromFdParams::SIZE
        }
        NVC36F_CTRL_CMD_GPFIFO_GET_WORK_SUBMIT_TOKEN => {
            NvC36fCtrlGpfifoGetWorkSubmitTokenParams::SIZE
        }
        _ => return None,
    })
}

/// Decodes a control's parameters of the 580 ABI (tools and tests; the
/// proxy decodes with its vendor's branch).
pub fn decode_control_params(cmd: u32, nested: &[u8]) -> ControlParams {
    decode_control_params_for(Branch::R580, cmd, nested)
}

/// Decodes a control's parameters in driver branch `branch` (`nested` =
/// the `paramsSize` bytes at `params`).
pub fn decode_control_params_for(branch: Branch, cmd: u32, nested: &[u8]) -> ControlParams {
    if !branch.has_control(cmd) {
        return ControlParams::Unknown;
    }
    let own = branch.control_size(cmd);
    let need = match own.or_else(|| decoded_control_size(cmd)) {
        Some(n) if decoded_control_size(cmd).is_some() => n,
        _ => {
            // Known but not decoded field by field: check the size where
            // the headers give one (the RM itself fails a mismatch).
            return match own.or_else(|| ctrl::control_param_size(cmd)) {
                Some(n) if n != nested.len() => ControlParams::BadSize {
                    need: n,
                    got: nested.len(),
                },
                Some(_) => ControlParams::Other,
                None if ctrl::control_known(cmd) => ControlParams::Other,
                None => ControlParams::Unknown,
            };
        }
    };
    if nested.len() != need {
        return ControlParams::BadSize {
            need,
            got: nested.len(),
        };
    }
    let bad = ControlParams::BadSize {
        need,
        got: nested.len(),
    };
    match decoded_control_size(cmd) {
        // The branch's block is the 580 one less trailing fields (which
        // read as zero, their 580 default) or, for FB_GET_INFO_V2, a
        // shorter list.
        Some(full) if need < full => {
            let mut padded = [0u8; PADDED_CONTROL_MAX];
            match padded.get_mut(..need) {
                Some(dst) if full <= PADDED_CONTROL_MAX => {
                    dst.copy_from_slice(nested);
                    control_typed(cmd, &padded[..full]).unwrap_or(bad)
                }
                _ => bad,
            }
        }
        _ => control_typed(cmd, nested).unwrap_or(bad),
    }
}

/// The largest decoded control block a branch declares shorter
/// (FB_GET_INFO_V2's 1028 bytes).
const PADDED_CONTROL_MAX: usize = 1028;

fn control_typed(cmd: u32, n: &[u8]) -> Option<ControlParams> {
    Some(match cmd {
        NV2080_CTRL_CMD_FB_GET_INFO_V2 => ControlParams::FbInfoV2 {
            count: rd_u32(n, 0)?,
        },
        NV2080_CTRL_CMD_FB_GET_INFO => {
            let p = Nv2080CtrlFbGetInfoParams::read(n)?;
            let entries = p.fb_info_list_size.min(NV2080_CTRL_FB_INFO_MAX_LIST_SIZE) as usize;
            ControlParams::FbInfoV1 {
                count: p.fb_info_list_size,
                list: NestedRef {
                    ptr_offset: offset_of!(Nv2080CtrlFbGetInfoParams, fb_info_list),
                    ptr: p.fb_info_list,
                    size: entries * Nv2080CtrlFbInfo::SIZE,
                    size_exact: p.fb_info_list_size <= NV2080_CTRL_FB_INFO_MAX_LIST_SIZE,
                    kind: NestedKind::FbInfoList,
                },
            }
        }
        NVA06C_CTRL_CMD_GPFIFO_SCHEDULE | NVA06F_CTRL_CMD_GPFIFO_SCHEDULE => {
            ControlParams::Schedule(NvA06fCtrlGpfifoScheduleParams::read(n)?)
        }
        NVA06C_CTRL_CMD_SET_TIMESLICE | NVA06C_CTRL_CMD_GET_TIMESLICE => {
            ControlParams::Timeslice { us: rd_u64(n, 0)? }
        }
        NVA06C_CTRL_CMD_PREEMPT => ControlParams::Preempt(NvA06cCtrlPreemptParams::read(n)?),
        NVA06C_CTRL_CMD_SET_INTERLEAVE_LEVEL
        | NVA06C_CTRL_CMD_GET_INTERLEAVE_LEVEL
        | NVA06F_CTRL_CMD_SET_INTERLEAVE_LEVEL => ControlParams::InterleaveLevel {
            level: rd_u32(n, 0)?,
        },
        NVA06C_CTRL_CMD_MAKE_REALTIME => ControlParams::Realtime {
            on: rd_u8(n, 0)? != 0,
        },
        NV2080_CTRL_CMD_FIFO_DISABLE_CHANNELS => {
            type D = Nv2080CtrlFifoDisableChannelsParams;
            ControlParams::DisableChannels {
                disable: rd_u8(n, offset_of!(D, disable))? != 0,
                num_channels: rd_u32(n, offset_of!(D, num_channels))?,
                only_disable_scheduling: rd_u8(n, offset_of!(D, only_disable_scheduling))? != 0,
                p_runlist_preempt_event: rd_u64(n, offset_of!(D, p_runlist_preempt_event))?,
            }
        }
        NV2080_CTRL_CMD_GPU_SET_COMPUTE_POLICY_CONFIG => {
            let c = Nv2080CtrlGpuSetComputePolicyConfigParams::read(n)?;
            ControlParams::ComputePolicy {
                type_: c.type_,
                data: c.data,
            }
        }
        NV00FD_CTRL_CMD_ATTACH_GPU => ControlParams::WithFd {
            fd: FdField::u64_at(
                n,
                offset_of!(Nv00fdCtrlAttachGpuParams, dev_descriptor),
                FdRole::NvGpu,
            )?,
            h_parent: None,
        },
        NV00E0_CTRL_CMD_EXPORT_MEM => ControlParams::WithFd {
            fd: FdField::u64_at(
                n,
                offset_of!(Nv00e0CtrlExportMemParams, dev_descriptor),
                FdRole::NvGpu,
            )?,
            h_parent: Some(rd_u32(n, offset_of!(Nv00e0CtrlExportMemParams, h_parent))?),
        },
        NV0000_CTRL_CMD_OS_UNIX_EXPORT_OBJECT_TO_FD => ControlParams::WithFd {
            fd: FdField::i32_at(
                n,
                offset_of!(Nv0000CtrlOsUnixExportObjectToFdParams, fd),
                FdRole::NvCtl,
            )?,
            h_parent: None,
        },
        NV0000_CTRL_CMD_OS_UNIX_IMPORT_OBJECT_FROM_FD => ControlParams::WithFd {
            fd: FdField::i32_at(
                n,
                offset_of!(Nv0000CtrlOsUnixImportObjectFromFdParams, fd),
                FdRole::NvCtl,
            )?,
            h_parent: None,
        },
        NV0000_CTRL_CMD_OS_UNIX_GET_EXPORT_OBJECT_INFO => ControlParams::WithFd {
            fd: FdField::i32_at(
                n,
                offset_of!(Nv0000CtrlOsUnixGetExportObjectInfoParams, fd),
                FdRole::NvCtl,
            )?,
            h_parent: None,
        },
        NV0000_CTRL_CMD_OS_UNIX_CREATE_EXPORT_OBJECT_FD => ControlParams::WithFd {
            fd: FdField::i32_at(
                n,
                offset_of!(Nv0000CtrlOsUnixCreateExportObjectFdParams, fd),
                FdRole::NvCtl,
            )?,
            h_parent: None,
        },
        NV0000_CTRL_CMD_OS_UNIX_EXPORT_OBJECTS_TO_FD => ControlParams::WithFd {
            fd: FdField::i32_at(
                n,
                offset_of!(Nv0000CtrlOsUnixExportObjectsToFdParams, fd),
                FdRole::NvCtl,
            )?,
            h_parent: None,
        },
        NV0000_CTRL_CMD_OS_UNIX_IMPORT_OBJECTS_FROM_FD => ControlParams::WithFd {
            fd: FdField::i32_at(
                n,
                offset_of!(Nv0000CtrlOsUnixImportObjectsFromFdParams, fd),
                FdRole::NvCtl,
            )?,
            h_parent: None,
        },
        NVC36F_CTRL_CMD_GPFIFO_GET_WORK_SUBMIT_TOKEN => ControlParams::WorkSubmitToken {
            token: rd_u32(n, 0)?,
        },
        _ => ControlParams::Other,
    })
}

/// Whether `cmd` is one of the NV0000 OS_UNIX controls that name an
/// export fd (a ctl file holding exported objects): the fds a proxy
/// translates inside control parameters.
pub const fn is_export_fd_control(cmd: u32) -> bool {
    matches!(
        cmd,
        NV0000_CTRL_CMD_OS_UNIX_EXPORT_OBJECT_TO_FD
            | NV0000_CTRL_CMD_OS_UNIX_IMPORT_OBJECT_FROM_FD
            | NV0000_CTRL_CMD_OS_UNIX_GET_EXPORT_OBJECT_INFO
            | NV0000_CTRL_CMD_OS_UNIX_CREATE_EXPORT_OBJECT_FD
            | NV0000_CTRL_CMD_OS_UNIX_EXPORT_OBJECTS_TO_FD
            | NV0000_CTRL_CMD_OS_UNIX_IMPORT_OBJECTS_FROM_FD
    )
}

/// `NV0000_CTRL_OS_UNIX_EXPORT_OBJECTS_TO_FD_MAX_OBJECTS`.
pub const EXPORT_OBJECTS_MAX: usize = 512;
/// `NV0000_CTRL_OS_UNIX_IMPORT_OBJECTS_TO_FD_MAX_OBJECTS`.
pub const IMPORT_OBJECTS_MAX: usize = 128;

/// What an export-fd control does to the slots of the export fd, when it
/// succeeds (for accounting: exported memory lives as long as its slot).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExportCall {
    /// Slots `first..first + count` now hold the objects
    /// [`export_call_object`] names (0: the slot is emptied).
    Export {
        /// First slot.
        first: usize,
        /// Slots written.
        count: usize,
    },
    /// Slots `first..first + count` were imported as new handles of the
    /// calling client under `parent` ([`import_call_result`]).
    Import {
        /// First slot.
        first: usize,
        /// Slots read.
        count: usize,
        /// Parent of the new handles.
        parent: u32,
    },
}

/// Decodes an export-fd control's parameters (`nested`, exactly the
/// control's size) into its effect on the slots; `None` for other
/// controls, wrong sizes, and counts the vendor refuses.
pub fn export_call(cmd: u32, nested: &[u8]) -> Option<ExportCall> {
    if decoded_control_size(cmd) != Some(nested.len()) {
        return None;
    }
    match cmd {
        NV0000_CTRL_CMD_OS_UNIX_EXPORT_OBJECT_TO_FD => {
            Some(ExportCall::Export { first: 0, count: 1 })
        }
        NV0000_CTRL_CMD_OS_UNIX_IMPORT_OBJECT_FROM_FD => {
            type P = Nv0000CtrlOsUnixImportObjectFromFdParams;
            let parent = rd_u32(
                nested,
                offset_of!(P, object) + offset_of!(Nv0000CtrlOsUnixExportObject, h_parent),
            )?;
            Some(ExportCall::Import {
                first: 0,
                count: 1,
                parent,
            })
        }
        NV0000_CTRL_CMD_OS_UNIX_EXPORT_OBJECTS_TO_FD => {
            type P = Nv0000CtrlOsUnixExportObjectsToFdParams;
            let count = usize::from(rd_u16(nested, offset_of!(P, num_objects))?);
            let first = usize::from(rd_u16(nested, offset_of!(P, index))?);
            (count <= EXPORT_OBJECTS_MAX).then_some(ExportCall::Export { first, count })
        }
        NV0000_CTRL_CMD_OS_UNIX_IMPORT_OBJECTS_FROM_FD => {
            type P = Nv0000CtrlOsUnixImportObjectsFromFdParams;
            let count = usize::from(rd_u16(nested, offset_of!(P, num_objects))?);
            let first = usize::from(rd_u16(nested, offset_of!(P, index))?);
            let parent = rd_u32(nested, offset_of!(P, h_parent))?;
            (count <= IMPORT_OBJECTS_MAX).then_some(ExportCall::Import {
                first,
                count,
                parent,
            })
        }
        _ => None,
    }
}

/// The handle an export control puts into slot `first + i` (0: the slot is
/// emptied); `None` if `i` is out of the call's range.
pub fn export_call_object(cmd: u32, nested: &[u8], i: usize) -> Option<u32> {
    let Some(ExportCall::Export { count, .. }) = export_call(cmd, nested) else {
        return None;
    };
    if i >= count {
        return None;
    }
    match cmd {
        NV0000_CTRL_CMD_OS_UNIX_EXPORT_OBJECT_TO_FD => {
            type P = Nv0000CtrlOsUnixExportObjectToFdParams;
            rd_u32(
                nested,
                offset_of!(P, object) + offset_of!(Nv0000CtrlOsUnixExportObject, h_object),
            )
        }
        _ => rd_u32(
            nested,
            offset_of!(Nv0000CtrlOsUnixExportObjectsToFdParams, objects) + 4 * i,
        ),
    }
}

/// After a successful import control (`nested` as the vendor wrote it
/// back): the handle made for slot `first + i`, or `None` if nothing was
/// imported there (an empty slot) or `i` is out of the call's range.
pub fn import_call_result(cmd: u32, nested: &[u8], i: usize) -> Option<u32> {
    let Some(ExportCall::Import { count, .. }) = export_call(cmd, nested) else {
        return None;
    };
    if i >= count {
        return None;
    }
    match cmd {
        NV0000_CTRL_CMD_OS_UNIX_IMPORT_OBJECT_FROM_FD => {
            type P = Nv0000CtrlOsUnixImportObjectFromFdParams;
            rd_u32(
                nested,
                offset_of!(P, object) + offset_of!(Nv0000CtrlOsUnixExportObject, h_object),
            )
        }
        _ => {
            type P = Nv0000CtrlOsUnixImportObjectsFromFdParams;
            // NV0000_CTRL_CMD_OS_UNIX_IMPORT_OBJECT_TYPE_NONE: not imported.
            if rd_u8(nested, offset_of!(P, object_types) + i)? == 0 {
                return None;
            }
            rd_u32(nested, offset_of!(P, objects) + 4 * i)
        }
    }
}
