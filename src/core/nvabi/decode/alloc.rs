// SPDX-License-Identifier: GPL-2.0

//! The allocation level: a class's parameters behind RM_ALLOC's
//! `pAllocParms`, and what the RM writes back.

use super::super::branch::Branch;
use super::super::class::{self, ClassKind, ParamSpec};
use super::super::rm::*;
use super::super::wire::{rd_u32, rd_u64, Wire};
use super::kinds::*;
use core::mem::offset_of;

/// Typed view of a class's allocation parameters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AllocParams {
    /// A memory class with `NV_MEMORY_ALLOCATION_PARAMS`.
    Memory(MemoryAlloc),
    /// `NV01_MEMORY_VIRTUAL`.
    VirtualMemory {
        /// Offset.
        offset: u64,
        /// Limit.
        limit: u64,
        /// VA space.
        h_va_space: u32,
    },
    /// `NV_MEMORY_FABRIC` (maps existing vidmem; consumes no new FB).
    Fabric {
        /// Size.
        alloc_size: u64,
        /// Page size.
        page_size: u64,
        /// Video memory mapped.
        h_vid_mem: u32,
    },
    /// A client class; the RM reads one handle.
    Client {
        /// Requested client handle (`None` with a null pointer).
        h_client: Option<u32>,
    },
    /// `NV01_DEVICE_0` (`None` fields with a null pointer).
    Device(Option<class::Nv0080AllocParameters>),
    /// `NV20_SUBDEVICE_0`.
    Subdevice {
        /// Subdevice instance (`None` with a null pointer).
        sub_device_id: Option<u32>,
    },
    /// `FERMI_VASPACE_A`.
    VaSpace(class::NvVaspaceAllocationParameters),
    /// `KEPLER_CHANNEL_GROUP_A`.
    ChannelGroup(class::NvChannelGroupAllocationParameters),
    /// `FERMI_CONTEXT_SHARE_A`.
    ContextShare(class::NvCtxshareAllocationParameters),
    /// A GPFIFO channel (the main fields of `NV_CHANNEL_ALLOC_PARAMS`).
    Channel {
        /// Error notifier.
        h_object_error: u32,
        /// Push buffer.
        h_object_buffer: u32,
        /// GPFIFO offset.
        gp_fifo_offset: u64,
        /// GPFIFO entries.
        gp_fifo_entries: u32,
        /// Flags.
        flags: u32,
        /// Subcontext.
        h_context_share: u32,
        /// VA space.
        h_va_space: u32,
        /// Engine type.
        engine_type: u32,
    },
    /// An event (`NV0005_ALLOC_PARAMETERS`).
    Event {
        /// Client of the source.
        h_parent_client: u32,
        /// Source.
        h_src_resource: u32,
        /// Event class.
        h_class: u32,
        /// Notifier.
        notify_index: u32,
        /// For `NV01_EVENT_OS_EVENT`: the key fd in `data` (offset 16, 8 bytes).
        fd: Option<FdField>,
    },
    /// Usermode (doorbell) with `NV_HOPPER_USERMODE_A_PARAMS`.
    Usermode(Option<class::NvHopperUsermodeAParams>),
    /// A compute object with optional `NV_GR_ALLOCATION_PARAMETERS`.
    Compute(Option<class::NvGrAllocationParameters>),
    /// A copy-engine object with optional `NVB0B5_ALLOCATION_PARAMETERS`.
    Copy(Option<class::NvB0b5AllocationParameters>),
    /// A MIG session or partition reference: carries a capability fd.
    CapSession {
        /// `capDescriptor` (offset 0, 8 bytes, role [`FdRole::NvCap`]).
        fd: FdField,
        /// `swizzId` for `AMPERE_SMC_PARTITION_REF`.
        swizz_id: Option<u32>,
    },
    /// `RM_USER_SHARED_DATA`. Its mapping (`RM_MAP_MEMORY` of this object,
    /// then `mmap`) exposes the PMA's total and free memory, which no ioctl
    /// rewrite can reach.
    SharedData {
        /// `polledDataMask`.
        polled_data_mask: u64,
    },
    /// A known class whose declared parameters hold nothing fakegpu acts on.
    Other {
        /// The class.
        class: u32,
    },
    /// The class takes no parameters, or optional ones were not given.
    NoParams,
    /// The class is not known, or its parameters are not declared here.
    Unknown {
        /// The class.
        class: u32,
    },
    /// NVOS64 FINN-serialized parameters: not a plain struct.
    Serialized,
    /// Fewer bytes than the class's parameter block.
    Short {
        /// Needed.
        need: usize,
        /// Given.
        got: usize,
    },
}

/// A memory allocation request (`NV_MEMORY_ALLOCATION_PARAMS`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MemoryAlloc {
    /// Class (0x40, 0x3e, 0x42, 0x50a0, 0x90ce).
    pub class: u32,
    /// Size requested (IN) or allocated (OUT, after the call), bytes.
    pub size: u64,
    /// Offset of `size` in the nested block, to read back the real size.
    pub size_offset: usize,
    /// `NVOS32_TYPE_*`.
    pub type_: u32,
    /// `NVOS32_ALLOC_FLAGS_*`.
    pub flags: u32,
    /// `NVOS32_ATTR_*`.
    pub attr: u32,
    /// `NVOS32_ATTR2_*`.
    pub attr2: u32,
    /// Alignment.
    pub alignment: u64,
    /// VA space.
    pub h_va_space: u32,
    /// NUMA node.
    pub numa_node: i32,
    /// Whether the request takes physical video memory (class 0x40 without
    /// the VIRTUAL flag; the RM itself fails 0x40 with a non-VIDMEM
    /// location or with VIRTUAL).
    pub consumes_vidmem: bool,
}

/// Decodes a class's allocation parameters of the 580 ABI (tools and
/// tests; the proxy decodes with its vendor's branch).
pub fn decode_alloc_params(h_class: u32, nested: &[u8]) -> AllocParams {
    decode_alloc_params_for(Branch::R580, h_class, nested)
}

/// The largest 580 parameter block a branch declares shorter (the GPFIFO
/// channels' 368 bytes), which a shorter block is read into, zero-padded.
const PADDED_MAX: usize = 368;

/// Decodes a class's allocation parameters in driver branch `branch`
/// (`nested` = the bytes at `pAllocParms`, [`NestedRef::size`] of them;
/// empty for a null pointer).
pub fn decode_alloc_params_for(branch: Branch, h_class: u32, nested: &[u8]) -> AllocParams {
    let class = class::effective_class(h_class);
    let info = match class::class_info(class) {
        Some(i) if branch.has_class(class) => i,
        _ => return AllocParams::Unknown { class },
    };
    let own = match info.params {
        ParamSpec::None => return AllocParams::NoParams,
        ParamSpec::Undeclared => return AllocParams::Unknown { class },
        ParamSpec::Optional(_) if nested.is_empty() => 0,
        ParamSpec::Required(n) | ParamSpec::Optional(n) => n,
    };
    let need = match branch.alloc_param_size(class) {
        Some(n) if own > 0 => n,
        _ => own,
    };
    if nested.len() < need {
        return AllocParams::Short {
            need,
            got: nested.len(),
        };
    }
    let short = AllocParams::Short {
        need,
        got: nested.len(),
    };
    if need < own {
        // The branch's block is the 580 one less trailing fields, which
        // read as zero (their 580 default).
        let mut padded = [0u8; PADDED_MAX];
        let Some(dst) = padded.get_mut(..need) else {
            return short;
        };
        dst.copy_from_slice(&nested[..need]);
        return alloc_params_typed(class, info.kind, &padded[..own.min(PADDED_MAX)])
            .unwrap_or(short);
    }
    alloc_params_typed(class, info.kind, nested).unwrap_or(short)
}

fn alloc_params_typed(class: u32, kind: ClassKind, n: &[u8]) -> Option<AllocParams> {
    use class::*;
    let present = !n.is_empty();
    Some(match kind {
        ClassKind::Memory => {
            let m = NvMemoryAllocationParams::read(n)?;
            AllocParams::Memory(MemoryAlloc {
                class,
                size: m.size,
                size_offset: offset_of!(NvMemoryAllocationParams, size),
                type_: m.type_,
                flags: m.flags,
                attr: m.attr,
                attr2: m.attr2,
                alignment: m.alignment,
                h_va_space: m.h_va_space,
                numa_node: m.numa_node,
                consumes_vidmem: class == NV01_MEMORY_LOCAL_USER
                    && m.flags & NVOS32_ALLOC_FLAGS_VIRTUAL == 0,
            })
        }
        ClassKind::OtherMemory if class == NV01_MEMORY_VIRTUAL => {
            let v = NvMemoryVirtualAllocationParams::read(n)?;
            AllocParams::VirtualMemory {
                offset: v.offset,
                limit: v.limit,
                h_va_space: v.h_va_space,
            }
        }
        ClassKind::OtherMemory if class == NV_MEMORY_FABRIC => {
            let f = Nv00f8AllocationParameters::read(n)?;
            AllocParams::Fabric {
                alloc_size: f.alloc_size,
                page_size: f.page_size,
                h_vid_mem: f.map.h_vid_mem,
            }
        }
        ClassKind::Client => AllocParams::Client {
            h_client: if present { Some(rd_u32(n, 0)?) } else { None },
        },
        ClassKind::Device => AllocParams::Device(if present {
            Some(Nv0080AllocParameters::read(n)?)
        } else {
            None
        }),
        ClassKind::Subdevice => AllocParams::Subdevice {
            sub_device_id: if present { Some(rd_u32(n, 0)?) } else { None },
        },
        ClassKind::VaSpace => AllocParams::VaSpace(NvVaspaceAllocationParameters::read(n)?),
        ClassKind::ChannelGroup => {
            AllocParams::ChannelGroup(NvChannelGroupAllocationParameters::read(n)?)
        }
        ClassKind::ContextShare => {
            AllocParams::ContextShare(NvCtxshareAllocationParameters::read(n)?)
        }
        ClassKind::Channel => {
            type C = NvChannelAllocParams;
            AllocParams::Channel {
                h_object_error: rd_u32(n, offset_of!(C, h_object_error))?,
                h_object_buffer: rd_u32(n, offset_of!(C, h_object_buffer))?,
                gp_fifo_offset: rd_u64(n, offset_of!(C, gp_fifo_offset))?,
                gp_fifo_entries: rd_u32(n, offset_of!(C, gp_fifo_entries))?,
                flags: rd_u32(n, offset_of!(C, flags))?,
                h_context_share: rd_u32(n, offset_of!(C, h_context_share))?,
                h_va_space: rd_u32(n, offset_of!(C, h_va_space))?,
                engine_type: rd_u32(n, offset_of!(C, engine_type))?,
            }
        }
        ClassKind::Event => {
            let e = Nv0005AllocParameters::read(n)?;
            AllocParams::Event {
                h_parent_client: e.h_parent_client,
                h_src_resource: e.h_src_resource,
                h_class: e.h_class,
                notify_index: e.notify_index,
                fd: if class == NV01_EVENT_OS_EVENT {
                    FdField::u64_at(n, offset_of!(Nv0005AllocParameters, data), FdRole::EventKey)
                } else {
                    None
                },
            }
        }
        ClassKind::Usermode => AllocParams::Usermode(if present {
            Some(NvHopperUsermodeAParams::read(n)?)
        } else {
            None
        }),
        ClassKind::Compute => AllocParams::Compute(if present {
            Some(NvGrAllocationParameters::read(n)?)
        } else {
            None
        }),
        ClassKind::Copy => AllocParams::Copy(if present {
            Some(NvB0b5AllocationParameters::read(n)?)
        } else {
            None
        }),
        ClassKind::CapSession => AllocParams::CapSession {
            // capDescriptor is the first field of NVC637/C639/C640.
            fd: FdField::u64_at(n, 0, FdRole::NvCap)?,
            swizz_id: if class == AMPERE_SMC_PARTITION_REF {
                Some(rd_u32(n, offset_of!(NvC637AllocationParameters, swizz_id))?)
            } else {
                None
            },
        },
        ClassKind::SharedData => AllocParams::SharedData {
            polled_data_mask: Nv00deAllocParameters::read(n)?.polled_data_mask,
        },
        ClassKind::Other => AllocParams::Other { class },
        _ => AllocParams::Unknown { class },
    })
}

/// Reads the `hObjectNew` the RM wrote back into an RM_ALLOC block.
pub fn alloc_result_handle(outer: &[u8]) -> Option<u32> {
    rd_u32(outer, offset_of!(Nvos21, h_object_new))
}

/// Reads the size the RM wrote back into `NV_MEMORY_ALLOCATION_PARAMS`.
pub fn memory_alloc_result_size(nested: &[u8]) -> Option<u64> {
    rd_u64(nested, offset_of!(class::NvMemoryAllocationParams, size))
}
