// SPDX-License-Identifier: GPL-2.0

//! `/dev/nvidia-uvm`: initialize, MM_INITIALIZE, and the registrations that
//! carry an RM control fd (GPU, GPU VA space, channel).
//!
//! As in nvidia-uvm: commands are plain integers whose parameter size comes
//! from a table; the result goes to the block's `rmStatus` and the ioctl
//! returns 0. `rmCtrlFd` is carried but **not** validated (580 ignores it);
//! UVM reaches RM objects by (hClient, handle) through its own kernel
//! client, whose dups require the source client to belong to the calling
//! process. MM_INITIALIZE's `uvmFd` is checked to be a UVM file.
//! Commands outside this set are not simulated (-EINVAL).

use crate::{
    chrdev,
    fgcore::nvabi::{
        class::{FERMI_VASPACE_A, HOPPER_CHANNEL_GPFIFO_A},
        status::*,
        uvm::*,
        wire::Wire,
    },
    file::{read_user, write_user, Kind, NvFile},
    rm::RM,
};
use kernel::prelude::*;

/// UVM state of one file (its VA space).
pub(crate) struct UvmState {
    initialized: bool,
    /// A UVM_MM_INITIALIZE named this VA space's file: it has an mm.
    mm: bool,
    gpus: KVec<u32>,
    vaspaces: KVec<(u32, u32, u32)>,
    channels: KVec<(u32, u32, u32)>,
}

impl UvmState {
    /// Not initialized.
    pub(crate) fn new() -> Self {
        UvmState {
            initialized: false,
            mm: false,
            gpus: KVec::new(),
            vaspaces: KVec::new(),
            channels: KVec::new(),
        }
    }
}

fn gpu_by_uuid(uuid: &[u8; 16]) -> Option<u32> {
    RM.lock()
        .gpus
        .iter()
        .find(|g| &g.uuid == uuid)
        .map(|g| g.index)
}

fn tgid() -> i32 {
    kernel::current!().tgid()
}

/// One UVM ioctl on `nv`.
pub(crate) fn ioctl(nv: &NvFile, cmd: u32, arg: usize) -> Result<isize> {
    let size = match cmd {
        UVM_DEINITIALIZE => return Ok(0),
        _ => uvm_param_size(cmd).ok_or(EINVAL)?,
    };
    let mut buf = KVec::from_elem(0u8, size, GFP_KERNEL)?;
    read_user(arg as u64, &mut buf)?;
    match cmd {
        UVM_INITIALIZE => {
            let mut p = UvmInitializeParams::read(&buf).ok_or(EINVAL)?;
            // A second INITIALIZE of the same file succeeds (H100).
            p.rm_status = nv.with_uvm(|s| {
                s.initialized = true;
                NV_OK
            });
            p.write(&mut buf);
        }
        UVM_MM_INITIALIZE => {
            let mut p = UvmMmInitializeParams::read(&buf).ok_or(EINVAL)?;
            // fget + f_op check: a UVM file whose VA space is initialized.
            let other = u32::try_from(p.uvm_fd).ok().and_then(chrdev::lookup_fd);
            p.rm_status = match other {
                Some((_, o))
                    if o.kind == Kind::Uvm && o.id != nv.id && o.with_uvm(|s| s.initialized) =>
                {
                    o.with_uvm(|s| s.mm = true);
                    NV_OK
                }
                _ => NV_ERR_INVALID_ARGUMENT,
            };
            p.write(&mut buf);
        }
        UVM_REGISTER_GPU => {
            let mut p = UvmRegisterGpuParams::read(&buf).ok_or(EINVAL)?;
            p.rm_status = register_gpu(nv, &p);
            if p.rm_status == NV_OK {
                p.numa_enabled = 0;
                p.numa_node_id = -1;
            }
            p.write(&mut buf);
        }
        UVM_UNREGISTER_GPU => {
            let mut p = UvmUnregisterGpuParams::read(&buf).ok_or(EINVAL)?;
            let g = gpu_by_uuid(&p.gpu_uuid);
            p.rm_status = nv.with_uvm(|s| match g {
                Some(g) if s.initialized && s.gpus.contains(&g) => {
                    s.gpus.retain(|x| *x != g);
                    s.vaspaces.retain(|v| v.0 != g);
                    s.channels.retain(|c| c.0 != g);
                    NV_OK
                }
                _ if !s.initialized => NV_ERR_ILLEGAL_ACTION,
                _ => NV_ERR_INVALID_DEVICE,
            });
            p.write(&mut buf);
        }
        UVM_REGISTER_GPU_VASPACE => {
            let mut p = UvmRegisterGpuVaspaceParams::read(&buf).ok_or(EINVAL)?;
            p.rm_status =
                register_object(nv, &p.gpu_uuid, p.h_client, p.h_va_space, FERMI_VASPACE_A);
            p.write(&mut buf);
        }
        UVM_UNREGISTER_GPU_VASPACE => {
            let mut p = UvmUnregisterGpuVaspaceParams::read(&buf).ok_or(EINVAL)?;
            let g = gpu_by_uuid(&p.gpu_uuid);
            p.rm_status = nv.with_uvm(|s| {
                let before = s.vaspaces.len();
                s.vaspaces.retain(|v| Some(v.0) != g);
                if s.vaspaces.len() == before {
                    NV_ERR_INVALID_DEVICE
                } else {
                    NV_OK
                }
            });
            p.write(&mut buf);
        }
        UVM_REGISTER_CHANNEL => {
            let mut p = UvmRegisterChannelParams::read(&buf).ok_or(EINVAL)?;
            p.rm_status = register_object(
                nv,
                &p.gpu_uuid,
                p.h_client,
                p.h_channel,
                HOPPER_CHANNEL_GPFIFO_A,
            );
            p.write(&mut buf);
        }
        UVM_UNREGISTER_CHANNEL => {
            let mut p = UvmUnregisterChannelParams::read(&buf).ok_or(EINVAL)?;
            let key = (gpu_by_uuid(&p.gpu_uuid), p.h_client, p.h_channel);
            p.rm_status = nv.with_uvm(|s| {
                let before = s.channels.len();
                s.channels.retain(|c| (Some(c.0), c.1, c.2) != key);
                if s.channels.len() == before {
                    NV_ERR_INVALID_CHANNEL
                } else {
                    NV_OK
                }
            });
            p.write(&mut buf);
        }
        _ => return Err(EINVAL),
    }
    write_user(arg as u64, &buf)?;
    Ok(0)
}

fn register_gpu(nv: &NvFile, p: &UvmRegisterGpuParams) -> u32 {
    if !nv.with_uvm(|s| s.initialized) {
        return NV_ERR_ILLEGAL_ACTION;
    }
    let Some(g) = gpu_by_uuid(&p.gpu_uuid) else {
        return NV_ERR_GPU_UUID_NOT_FOUND;
    };
    // nvGpuOpsGetGpuInfo, in the calling process: the same check as a
    // device construct, for every caller.
    if !crate::chrdev::gpu_accessible(g) {
        return NV_ERR_INSUFFICIENT_PERMISSIONS;
    }
    if let Err(s) = RM.lock().uvm_lookup(tgid(), p.h_client, None) {
        return s;
    }
    nv.with_uvm(|s| {
        if s.gpus.contains(&g) {
            return NV_ERR_INVALID_DEVICE;
        }
        match s.gpus.push(g, GFP_KERNEL) {
            Ok(()) => NV_OK,
            Err(_) => NV_ERR_NO_MEMORY,
        }
    })
}

fn register_object(nv: &NvFile, uuid: &[u8; 16], h_client: u32, h: u32, class: u32) -> u32 {
    if !nv.with_uvm(|s| s.initialized) {
        return NV_ERR_ILLEGAL_ACTION;
    }
    let Some(g) = gpu_by_uuid(uuid) else {
        return NV_ERR_GPU_UUID_NOT_FOUND;
    };
    if !nv.with_uvm(|s| s.gpus.contains(&g)) {
        return NV_ERR_INVALID_DEVICE;
    }
    // uvm.h: a GPU VA space needs the UVM file associated with a process
    // (UVM_MM_INITIALIZE); without, the H200 answers PAGE_TABLE_NOT_AVAIL
    // (tests/fidelity/h200-580.159.04/gpu-access-root.txt). Its order
    // against the handle lookup below is not measured.
    if class == FERMI_VASPACE_A && !nv.with_uvm(|s| s.mm) {
        return NV_ERR_PAGE_TABLE_NOT_AVAIL;
    }
    match RM.lock().uvm_lookup(tgid(), h_client, Some(h)) {
        Ok((c, og)) if c == class && og == g => {}
        Ok(_) => return NV_ERR_INVALID_OBJECT_HANDLE,
        Err(s) => return s,
    }
    nv.with_uvm(|s| {
        let list = if class == FERMI_VASPACE_A {
            &mut s.vaspaces
        } else {
            &mut s.channels
        };
        if list.iter().any(|e| *e == (g, h_client, h)) {
            return NV_ERR_INVALID_STATE;
        }
        if class == HOPPER_CHANNEL_GPFIFO_A && !s.vaspaces.iter().any(|v| v.0 == g) {
            return NV_ERR_INVALID_STATE;
        }
        let list = if class == FERMI_VASPACE_A {
            &mut s.vaspaces
        } else {
            &mut s.channels
        };
        match list.push((g, h_client, h), GFP_KERNEL) {
            Ok(()) => NV_OK,
            Err(_) => NV_ERR_NO_MEMORY,
        }
    })
}
