// SPDX-License-Identifier: GPL-2.0

//! UVM calls (`/dev/nvidia-uvm`): their blocks are the ioctl's own.

use super::super::branch::Branch;
use super::super::uvm::{self, *};
use super::super::wire::{rd_u32, rd_u64, Wire};
use super::kinds::*;
use core::mem::offset_of;

fn uuid_at(p: &[u8], off: usize) -> Option<[u8; 16]> {
    <[u8; 16]>::read(p.get(off..)?)
}

pub(super) fn decode_uvm(branch: Branch, file: FileKind, cmd: u32, p: &[u8]) -> Decoded {
    let mut d = Decoded {
        branch,
        file,
        call: Call::Unknown(cmd),
        size: 0,
        body: Body::Unknown,
    };
    // A command the branch's UVM does not have is unknown there.
    let (u, size) = match (uvm::uvm_ioctl(cmd), branch.uvm_param_size(cmd)) {
        (Some(u), Some(size)) => (u, size),
        _ => return d,
    };
    d.call = Call::Uvm(u);
    d.size = size;
    if u.tools != (file == FileKind::UvmTools) {
        d.body = Body::Rejected(Reject::WrongFile);
        return d;
    }
    if p.len() < size {
        d.body = Body::Short {
            need: size,
            got: p.len(),
        };
        return d;
    }
    d.body = uvm_body(cmd, p).unwrap_or(Body::Short {
        need: size,
        got: p.len(),
    });
    d
}

fn uvm_body(cmd: u32, p: &[u8]) -> Option<Body> {
    Some(match cmd {
        UVM_MM_INITIALIZE => Body::UvmFd {
            fd: FdField::i32_at(p, offset_of!(UvmMmInitializeParams, uvm_fd), FdRole::Uvm)?,
        },
        UVM_TOOLS_INIT_EVENT_TRACKER | UVM_TOOLS_INIT_EVENT_TRACKER_V2 => Body::UvmFd {
            fd: FdField::u32_at(
                p,
                offset_of!(UvmToolsInitEventTrackerParams, uvm_fd),
                FdRole::Uvm,
            )?,
        },
        UVM_REGISTER_GPU => {
            type P = UvmRegisterGpuParams;
            Body::UvmRegisterGpu {
                uuid: uuid_at(p, offset_of!(P, gpu_uuid))?,
                h_client: rd_u32(p, offset_of!(P, h_client))?,
                fd: FdField::i32_at(p, offset_of!(P, rm_ctrl_fd), FdRole::UvmRmCtrl)?,
            }
        }
        UVM_REGISTER_GPU_VASPACE => {
            type P = UvmRegisterGpuVaspaceParams;
            Body::UvmRegisterVaSpace {
                uuid: uuid_at(p, offset_of!(P, gpu_uuid))?,
                h_client: rd_u32(p, offset_of!(P, h_client))?,
                h_va_space: rd_u32(p, offset_of!(P, h_va_space))?,
                fd: FdField::i32_at(p, offset_of!(P, rm_ctrl_fd), FdRole::UvmRmCtrl)?,
            }
        }
        UVM_REGISTER_CHANNEL => {
            type P = UvmRegisterChannelParams;
            Body::UvmRegisterChannel {
                uuid: uuid_at(p, offset_of!(P, gpu_uuid))?,
                h_client: rd_u32(p, offset_of!(P, h_client))?,
                h_channel: rd_u32(p, offset_of!(P, h_channel))?,
                base: rd_u64(p, offset_of!(P, base))?,
                length: rd_u64(p, offset_of!(P, length))?,
                fd: FdField::i32_at(p, offset_of!(P, rm_ctrl_fd), FdRole::UvmRmCtrl)?,
            }
        }
        UVM_UNREGISTER_CHANNEL => {
            type P = UvmUnregisterChannelParams;
            Body::UvmUnregisterChannel {
                uuid: uuid_at(p, offset_of!(P, gpu_uuid))?,
                h_client: rd_u32(p, offset_of!(P, h_client))?,
                h_channel: rd_u32(p, offset_of!(P, h_channel))?,
            }
        }
        UVM_MAP_EXTERNAL_ALLOCATION => {
            type P = UvmMapExternalAllocationParams;
            Body::UvmMapExternal {
                base: rd_u64(p, offset_of!(P, base))?,
                length: rd_u64(p, offset_of!(P, length))?,
                offset: rd_u64(p, offset_of!(P, offset))?,
                h_client: rd_u32(p, offset_of!(P, h_client))?,
                h_memory: rd_u32(p, offset_of!(P, h_memory))?,
                fd: FdField::i32_at(p, offset_of!(P, rm_ctrl_fd), FdRole::UvmRmCtrl)?,
            }
        }
        UVM_ALLOC_DEVICE_P2P => {
            type P = UvmAllocDeviceP2pParams;
            Body::UvmMapExternal {
                base: rd_u64(p, offset_of!(P, base))?,
                length: rd_u64(p, offset_of!(P, length))?,
                offset: rd_u64(p, offset_of!(P, offset))?,
                h_client: rd_u32(p, offset_of!(P, h_client))?,
                h_memory: rd_u32(p, offset_of!(P, h_memory))?,
                fd: FdField::i32_at(p, offset_of!(P, rm_ctrl_fd), FdRole::UvmRmCtrl)?,
            }
        }
        UVM_CREATE_EXTERNAL_RANGE | UVM_FREE | UVM_UNMAP_EXTERNAL | UVM_MAP_EXTERNAL_SPARSE => {
            Body::UvmRange {
                base: rd_u64(p, 0)?,
                length: rd_u64(p, 8)?,
            }
        }
        _ => Body::Opaque,
    })
}
