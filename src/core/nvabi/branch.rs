// SPDX-License-Identifier: GPL-2.0

//! Driver branches: what differs in the RM ioctl ABI between the branches
//! fakegpu has a table for. The declarations of this crate are 580's
//! (checked against the 580.142 headers); a [`Branch`] says where another
//! branch differs from them, and the decoder, the routes and the reply
//! rewrites ask it. The 550 entries are `docs/abi-550.md`: every check of
//! `layout_check` evaluated against the 550.163.01 headers by
//! `scripts/nvabi-diff`, whose output is kept in
//! `tests/abi/550.163.01.diff` and compared with this table by a test
//! ([`tests`]), so a number here that the headers do not give fails.
//!
//! Where a 550 structure is its 580 one less trailing fields, the decoder
//! reads it into a zeroed 580 block (the missing fields are zero, their
//! 580 default); the two structures whose middle differs (NVOS46, the
//! dma-buf export block) have their own declarations below.

use super::class::*;
use super::ctrl::*;
use super::escape::{Escape, SizeRule};
use super::rm::Nvos46;
use super::uvm::*;
use super::wire::Wire;

/// A driver branch with an ABI table.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Branch {
    /// 580 (580.65.06 ... 580.159.04): the crate's own declarations.
    #[default]
    R580,
    /// 550 (550.163.01 is the one read).
    R550,
}

wire_struct! {
    /// 550's `NVOS46_PARAMETERS` (56 bytes): no `flags2`, no `kindOverride`.
    Nvos46R550 = "NVOS46_PARAMETERS", size 56;
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
    /// Padding.
    @36 pad0: u32 = "";
    /// IN/OUT GPU VA.
    @40 dma_offset: u64 = "dmaOffset";
    /// OUT status.
    @48 status: u32 = "status";
    /// Padding.
    @52 pad1: u32 = "";
}

/// 550's `nv_ioctl_export_to_dma_buf_fd_t`: no `mappingType`/`bAllowMmap`,
/// so `handles` is at 32 and `status` at 2592 (2600 bytes in all).
pub const EXPORT_DMABUF_SIZE_R550: usize = 2600;
/// Offset of `status` in 550's export block.
pub const EXPORT_DMABUF_STATUS_R550: usize = 2592;

/// Controls whose parameter size differs in 550 (same command number).
const CONTROL_SIZES_R550: &[(u32, usize)] = &[
    (NV0000_CTRL_CMD_GPU_GET_PROBED_IDS, 256),
    (
        NV2080_CTRL_CMD_FB_GET_INFO_V2,
        4 + 8 * FB_INFO_MAX_R550 as usize,
    ),
    (NV0080_CTRL_CMD_GPU_GET_VIRTUALIZATION_MODE, 4),
    (NV2080_CTRL_CMD_BUS_GET_PCIE_REQ_ATOMICS_CAPS, 4),
    // Undocumented (no header): NV2080_GSS_LEGACY_PMGR_0x12 and 0x18,
    // 11680 and 8620 bytes from 580's nvidia-smi on the H100, 3608 and
    // 6952 from 550's `nvidia-smi -q`
    // (tests/fidelity/nvsim-550-clients/nvtrace.smiq.bin.zst).
    (0x2080_a612, 3608),
    (0x2080_a618, 6952),
    (NV2080_CTRL_CMD_GPU_QUERY_ECC_STATUS, 1024),
    (NV2080_CTRL_CMD_GPU_GET_ENGINES_V2, 260),
    (NV2080_CTRL_CMD_GET_GPU_FABRIC_PROBE_INFO, 48),
    (NV2080_CTRL_CMD_GR_GET_GLOBAL_SM_ORDER, 6168),
    (NV2080_CTRL_CMD_BUS_GET_PCIE_SUPPORTED_GPU_ATOMICS, 104),
    (
        NV2080_CTRL_CMD_PERF_GET_GPUMON_PERFMON_UTIL_SAMPLES_V2,
        50704,
    ),
    (NV2080_CTRL_CMD_NVLINK_GET_NVLINK_STATUS, 5896),
    (NVA06F_CTRL_CMD_GPFIFO_SCHEDULE, 2),
    (NVA06C_CTRL_CMD_GPFIFO_SCHEDULE, 2),
];

/// Controls 550 does not have (its RM answers `NV_ERR_NOT_SUPPORTED`).
const CONTROLS_ABSENT_R550: &[u32] = &[
    NV2080_CTRL_CMD_FIFO_CONFIG_CTXSW_TIMEOUT,
    NV2080_CTRL_CMD_FB_QUERY_DRAM_ENCRYPTION_INFOROM_SUPPORT,
];

/// Classes 550 does not have (Blackwell; its RM answers
/// `NV_ERR_INVALID_CLASS`).
const CLASSES_ABSENT_R550: &[u32] = &[
    BLACKWELL_CHANNEL_GPFIFO_A,
    BLACKWELL_CHANNEL_GPFIFO_B,
    BLACKWELL_DMA_COPY_A,
    BLACKWELL_DMA_COPY_B,
    BLACKWELL_COMPUTE_A,
    BLACKWELL_COMPUTE_B,
    BLACKWELL_USERMODE_A,
];

/// UVM commands 550 does not have (`uvm_ioctl`'s default: `-EINVAL`).
const UVM_ABSENT_R550: &[u32] = &[
    UVM_TOOLS_INIT_EVENT_TRACKER_V2,
    UVM_TOOLS_GET_PROCESSOR_UUID_TABLE_V2,
    UVM_ALLOC_DEVICE_P2P,
    UVM_CLEAR_ALL_ACCESS_COUNTERS,
    UVM_DISCARD,
];

/// UVM commands whose block differs in size in 550.
const UVM_SIZES_R550: &[(u32, usize)] = &[
    (UVM_TOOLS_INIT_EVENT_TRACKER, 64),
    (UVM_TOOLS_GET_PROCESSOR_UUID_TABLE, 24),
];

/// `NV2080_CTRL_FB_INFO_MAX_LIST_SIZE` of 550.
pub const FB_INFO_MAX_R550: u32 = 55;

impl Branch {
    /// Every branch with a table.
    pub const ALL: [Branch; 2] = [Branch::R580, Branch::R550];

    /// The branch's major version, as users name it.
    pub const fn name(self) -> &'static str {
        match self {
            Branch::R580 => "580",
            Branch::R550 => "550",
        }
    }

    /// The version prefix of the branch's drivers (`"580."`): the ABI is
    /// stable inside a branch (`research/nvidia-abi.md` §0).
    pub const fn version_prefix(self) -> &'static str {
        match self {
            Branch::R580 => "580.",
            Branch::R550 => "550.",
        }
    }

    /// The size rule of an escape's outer block.
    pub const fn escape_size_rule(self, esc: Escape) -> SizeRule {
        match (self, esc) {
            // Its fields up to `length` are NVOS46's (the decoder reads
            // them at NVOS46's offsets); the test below checks they agree.
            (Branch::R550, Escape::RmMapMemoryDma) => SizeRule::Exact(Nvos46R550::SIZE as u32),
            (Branch::R550, Escape::ExportToDmabufFd) => {
                SizeRule::Exact(EXPORT_DMABUF_SIZE_R550 as u32)
            }
            _ => esc.size_rule(),
        }
    }

    /// Offset of `status` in NVOS46 (RM_MAP_MEMORY_DMA).
    pub const fn nvos46_status(self) -> usize {
        match self {
            Branch::R580 => core::mem::offset_of!(Nvos46, status),
            Branch::R550 => core::mem::offset_of!(Nvos46R550, status),
        }
    }

    /// Offset of `status` in the dma-buf export block.
    pub const fn export_dmabuf_status(self) -> usize {
        match self {
            Branch::R580 => core::mem::offset_of!(super::escape::NvIoctlExportToDmaBufFd, status),
            Branch::R550 => EXPORT_DMABUF_STATUS_R550,
        }
    }

    /// The branch's parameter size of control `cmd` where it differs from
    /// 580's (`None`: 580's, or the control is absent).
    pub fn control_size(self, cmd: u32) -> Option<usize> {
        match self {
            Branch::R580 => None,
            Branch::R550 => CONTROL_SIZES_R550
                .iter()
                .find(|(c, _)| *c == cmd)
                .map(|&(_, s)| s),
        }
    }

    /// Whether the branch's RM has control `cmd` (as far as the 580 table
    /// knows it: a control the table does not know is unknown in every
    /// branch).
    pub fn has_control(self, cmd: u32) -> bool {
        match self {
            Branch::R580 => true,
            Branch::R550 => !CONTROLS_ABSENT_R550.contains(&cmd),
        }
    }

    /// Whether the branch's RM has class `class`.
    pub fn has_class(self, class: u32) -> bool {
        match self {
            Branch::R580 => true,
            Branch::R550 => !CLASSES_ABSENT_R550.contains(&class),
        }
    }

    /// Whether the branch's UVM has command `cmd`.
    pub fn has_uvm(self, cmd: u32) -> bool {
        match self {
            Branch::R580 => true,
            Branch::R550 => !UVM_ABSENT_R550.contains(&cmd),
        }
    }

    /// Bytes UVM copies in (and out) for `cmd` in this branch.
    pub fn uvm_param_size(self, cmd: u32) -> Option<usize> {
        if !self.has_uvm(cmd) {
            return None;
        }
        let own = match self {
            Branch::R580 => None,
            Branch::R550 => UVM_SIZES_R550
                .iter()
                .find(|(c, _)| *c == cmd)
                .map(|&(_, s)| s),
        };
        own.or_else(|| uvm_param_size(cmd))
    }

    /// The size of class `class`'s allocation parameters where it differs
    /// from 580's (the RM copies `sizeof` of the class's structure).
    pub fn alloc_param_size(self, class: u32) -> Option<usize> {
        match self {
            Branch::R580 => None,
            Branch::R550 => match class {
                FERMI_VASPACE_A => Some(48),
                _ if is_gpfifo_channel(class) => Some(360),
                _ => None,
            },
        }
    }

    /// `NV2080_CTRL_FB_INFO_MAX_LIST_SIZE`.
    pub const fn fb_info_max(self) -> u32 {
        match self {
            Branch::R580 => NV2080_CTRL_FB_INFO_MAX_LIST_SIZE,
            Branch::R550 => FB_INFO_MAX_R550,
        }
    }

    /// Whether GET_PROBED_IDS carries `gpuFlags[32]` at 256 (580 only).
    pub const fn probed_ids_flags(self) -> bool {
        matches!(self, Branch::R580)
    }
}

/// Whether `class` is a GPFIFO channel class (`NV_CHANNEL_ALLOC_PARAMS`).
fn is_gpfifo_channel(class: u32) -> bool {
    matches!(class_info(class).map(|c| c.kind), Some(ClassKind::Channel))
}

#[cfg(all(test, not(MODULE)))]
mod tests {
    use super::*;
    use crate::nvabi::ctrl::control_param_size;
    use crate::nvabi::wire::Wire;

    /// `tests/abi/550.163.01.diff`: `scripts/nvabi-diff` against the
    /// 550.163.01 headers (`DIFF name other=X 580=Y`, `ABSENT name 580=Y`).
    const DIFF: &str = include_str!("../../../tests/abi/550.163.01.diff");

    /// (kind, check name, 550 value, 580 value) per line.
    fn lines() -> impl Iterator<Item = (&'static str, &'static str, Option<u64>)> {
        DIFF.lines().filter_map(|l| {
            let f: Vec<&str> = l.split('\t').collect();
            let num = |s: &str| s.strip_prefix("other=").and_then(|v| v.parse::<u64>().ok());
            match f.as_slice() {
                ["DIFF", name, other, _] => Some(("DIFF", *name, num(other))),
                ["ABSENT", name, _] => Some(("ABSENT", *name, None)),
                _ => None,
            }
        })
    }

    /// The 550 value of a check the headers give differently.
    fn other(name: &str) -> u64 {
        lines()
            .find(|l| l.0 == "DIFF" && l.1 == name)
            .and_then(|l| l.2)
            .unwrap_or_else(|| panic!("{name}: no DIFF line"))
    }

    fn absent(name: &str) -> bool {
        lines().any(|l| l.0 == "ABSENT" && l.1 == name)
    }

    fn cmd_of(name: &str) -> u32 {
        CONTROL_CMDS
            .iter()
            .find(|c| c.name == name)
            .map(|c| c.value as u32)
            .unwrap_or_else(|| panic!("{name}: not a control of the table"))
    }

    /// Every line the 550 headers give differently is one this table
    /// answers with the headers' number: a new difference (a rerun of
    /// `scripts/nvabi-diff` against another tree) fails here until the
    /// table knows it.
    #[test]
    fn every_difference_is_in_the_table() {
        let b = Branch::R550;
        let mut handled = 0;
        for (kind, name, val) in lines() {
            if kind != "DIFF" {
                continue;
            }
            let v = val.expect("DIFF lines carry a number") as usize;
            let ok = match name {
                "size of NvIoctlExportToDmaBufFd" => v == EXPORT_DMABUF_SIZE_R550,
                "NvIoctlExportToDmaBufFd.status offset" => v == b.export_dmabuf_status(),
                // Read by no route (the proxy does not look at the handles).
                "NvIoctlExportToDmaBufFd.handles offset"
                | "NvIoctlExportToDmaBufFd.offsets offset"
                | "NvIoctlExportToDmaBufFd.sizes offset" => true,
                "size of Nvos46" => {
                    v == Nvos46R550::SIZE
                        && b.escape_size_rule(Escape::RmMapMemoryDma) == SizeRule::Exact(v as u32)
                }
                "Nvos46.dma_offset offset" => v == core::mem::offset_of!(Nvos46R550, dma_offset),
                "Nvos46.status offset" => v == b.nvos46_status(),
                "size of NvVaspaceAllocationParameters" => {
                    Some(v) == b.alloc_param_size(FERMI_VASPACE_A)
                }
                "size of NvChannelAllocParams" => {
                    Some(v) == b.alloc_param_size(HOPPER_CHANNEL_GPFIFO_A)
                }
                "size of Nv2080CtrlFbGetInfoV2Params" => {
                    Some(v) == b.control_size(NV2080_CTRL_CMD_FB_GET_INFO_V2)
                }
                "Nv2080CtrlFbGetInfoV2Params.fb_info_list size" => {
                    v == 8 * b.fb_info_max() as usize
                }
                "NV2080_CTRL_FB_INFO_MAX_LIST_SIZE" => v == b.fb_info_max() as usize,
                "size of Nv0000CtrlGpuGetProbedIdsParams" => {
                    Some(v) == b.control_size(NV0000_CTRL_CMD_GPU_GET_PROBED_IDS)
                        && !b.probed_ids_flags()
                }
                "size of NvA06fCtrlGpfifoScheduleParams" => {
                    Some(v) == b.control_size(NVA06F_CTRL_CMD_GPFIFO_SCHEDULE)
                        && Some(v) == b.control_size(NVA06C_CTRL_CMD_GPFIFO_SCHEDULE)
                }
                "size of UvmToolsInitEventTrackerParams" => {
                    Some(v) == b.uvm_param_size(UVM_TOOLS_INIT_EVENT_TRACKER)
                }
                _ => match name.strip_suffix(" params") {
                    Some(u) if u.starts_with("UVM_") => {
                        let cmd = UVM_IOCTLS.iter().find(|x| x.name == u).map(|x| x.cmd);
                        cmd.and_then(|c| b.uvm_param_size(c)) == Some(v)
                    }
                    Some(c) => b.control_size(cmd_of(c)) == Some(v),
                    None => false,
                },
            };
            assert!(
                ok,
                "550 differs in `{name}` (= {v}) and the table does not say so"
            );
            handled += 1;
        }
        assert_eq!(handled, 27, "the diff file changed: recount");
    }

    /// What the headers lack, the branch lacks, and the reverse.
    #[test]
    fn absences_match_the_550_headers() {
        for &c in CLASSES_ABSENT_R550 {
            assert!(absent(class_name(c)), "{}", class_name(c));
            assert!(Branch::R580.has_class(c) && !Branch::R550.has_class(c));
        }
        for &cmd in CONTROLS_ABSENT_R550 {
            assert!(absent(control_name(cmd)), "{}", control_name(cmd));
            assert!(!Branch::R550.has_control(cmd));
        }
        for &cmd in UVM_ABSENT_R550 {
            assert!(absent(uvm_name(cmd)), "{}", uvm_name(cmd));
            assert_eq!(Branch::R550.uvm_param_size(cmd), None);
            assert!(Branch::R580.uvm_param_size(cmd).is_some());
        }
        // Every class, control and UVM command the headers lack is in the
        // lists above.
        for (kind, name, _) in lines() {
            if kind != "ABSENT" || name.contains(' ') || name.contains('.') {
                continue;
            }
            if let Some(c) = CLASS_IDS.iter().find(|c| c.name == name) {
                assert!(!Branch::R550.has_class(c.value as u32), "{name}");
            } else if let Some(c) = CONTROL_CMDS.iter().find(|c| c.name == name) {
                assert!(!Branch::R550.has_control(c.value as u32), "{name}");
            } else if let Some(u) = UVM_IOCTLS.iter().find(|u| u.name == name) {
                assert!(!Branch::R550.has_uvm(u.cmd), "{name}");
            }
        }
        // Sizes the branch changes are of controls 580 declares.
        for &(cmd, s) in CONTROL_SIZES_R550 {
            assert!(
                control_param_size(cmd).is_some() || cmd_known(cmd),
                "{cmd:#x}"
            );
            assert_ne!(Some(s), control_param_size(cmd));
        }
    }

    fn cmd_known(cmd: u32) -> bool {
        crate::nvabi::ctrl::control_known(cmd)
    }

    #[test]
    fn nvos46_550_shares_the_leading_fields() {
        use core::mem::offset_of;
        assert_eq!(
            offset_of!(Nvos46R550, h_client),
            offset_of!(Nvos46, h_client)
        );
        assert_eq!(
            offset_of!(Nvos46R550, h_memory),
            offset_of!(Nvos46, h_memory)
        );
        assert_eq!(offset_of!(Nvos46R550, offset), offset_of!(Nvos46, offset));
        assert_eq!(offset_of!(Nvos46R550, length), offset_of!(Nvos46, length));
    }

    #[test]
    fn escape_rules() {
        assert_eq!(
            Branch::R580.escape_size_rule(Escape::RmMapMemoryDma),
            SizeRule::Exact(64)
        );
        assert_eq!(
            Branch::R550.escape_size_rule(Escape::RmMapMemoryDma),
            SizeRule::Exact(56)
        );
        assert_eq!(
            Branch::R550.escape_size_rule(Escape::RmControl),
            Escape::RmControl.size_rule()
        );
        assert_eq!(Branch::R580.nvos46_status(), 56);
        assert_eq!(Branch::R550.nvos46_status(), 48);
        assert_eq!(Branch::R580.fb_info_max(), 128);
    }
}
