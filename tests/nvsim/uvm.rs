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
//!
//! Managed memory (`cudaMallocManaged`, see [`crate::managed`]): `mmap` of
//! an initialized VA-space file with offset == address creates a managed
//! range (`uvm_mmap`'s rules and errnos); UVM_VALIDATE_VA_RANGE checks one;
//! UVM_MIGRATE makes a covered range resident on a registered GPU (charged
//! to its heap) or on the CPU (freed). The vmas have no fault handler: a
//! CPU access to managed memory in nvsim gets SIGBUS (real UVM migrates
//! the page to the CPU), so the tests never touch it from the CPU.

use crate::{
    chrdev,
    fgcore::nvabi::{
        class::{FERMI_VASPACE_A, HOPPER_CHANNEL_GPFIFO_A},
        status::*,
        uvm::*,
        wire::Wire,
    },
    file::{read_user, write_user, Kind, NvFile},
    gpu::Gpu,
    managed::{Managed, MigrateError},
    rm::RM,
};
use kernel::{
    bindings,
    mm::{
        virt::{flags, VmaNew},
        Mm,
    },
    page::PAGE_SHIFT,
    prelude::*,
    sync::{aref::ARef, Arc},
};

/// UVM state of one file (its VA space).
pub(crate) struct UvmState {
    initialized: bool,
    /// A UVM_MM_INITIALIZE named this VA space's file: it has an mm.
    mm: bool,
    gpus: KVec<u32>,
    vaspaces: KVec<(u32, u32, u32)>,
    channels: KVec<(u32, u32, u32)>,
    /// The mm of the process that initialized the VA space
    /// (`uvm_va_space_mm_register`): only it may map managed memory.
    owner_mm: Option<ARef<Mm>>,
    /// Managed ranges and their residency.
    managed: Managed,
    /// Range groups (UVM_CREATE_RANGE_GROUP): their ids, and the counter
    /// they are numbered from (`range_group_id_counter`, first id 1).
    range_groups: KVec<u64>,
    range_group_ids: u64,
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
            owner_mm: None,
            managed: Managed::new(),
            range_groups: KVec::new(),
            range_group_ids: 0,
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

fn gpu_arc_by_uuid(uuid: &[u8; 16]) -> Option<Arc<Gpu>> {
    RM.lock().gpus.iter().find(|g| &g.uuid == uuid).cloned()
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
            let mm = kernel::current!().mm().map(|m| ARef::<Mm>::from(&**m));
            p.rm_status = nv.with_uvm(|s| {
                s.initialized = true;
                if s.owner_mm.is_none() {
                    s.owner_mm = mm;
                }
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
                    // UVM evicts what was resident on it.
                    s.managed.evict_gpu(g);
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
        // uvm_api_create_range_group / uvm_api_destroy_range_group (an
        // initialized VA space, else NV_ERR_ILLEGAL_ACTION): rangeGroupId
        // @0 (the next id of this VA space, out; the group to destroy, in:
        // an unknown one is NV_ERR_OBJECT_NOT_FOUND), rmStatus @8. nvsim
        // puts no range in a group (UVM_SET_RANGE_GROUP is not modelled).
        UVM_CREATE_RANGE_GROUP | UVM_DESTROY_RANGE_GROUP => {
            let id = u64::from_le_bytes(buf[0..8].try_into().map_err(|_| EINVAL)?);
            let (id, st) = nv.with_uvm(|s| {
                if !s.initialized {
                    return (id, NV_ERR_ILLEGAL_ACTION);
                }
                if cmd == UVM_DESTROY_RANGE_GROUP {
                    return match s.range_groups.iter().position(|g| *g == id) {
                        Some(i) => {
                            let _ = s.range_groups.remove(i);
                            (id, NV_OK)
                        }
                        None => (id, NV_ERR_OBJECT_NOT_FOUND),
                    };
                }
                let new = s.range_group_ids + 1;
                match s.range_groups.push(new, GFP_KERNEL) {
                    Ok(()) => {
                        s.range_group_ids = new;
                        (new, NV_OK)
                    }
                    Err(_) => (id, NV_ERR_NO_MEMORY),
                }
            });
            buf[0..8].copy_from_slice(&id.to_le_bytes());
            buf[8..12].copy_from_slice(&st.to_le_bytes());
        }
        UVM_MIGRATE => {
            let mut p = UvmMigrateParams::read(&buf).ok_or(EINVAL)?;
            p.rm_status = migrate(nv, &p);
            p.write(&mut buf);
        }
        // uvm_api_pageable_mem_access (an initialized VA space, else
        // NV_ERR_ILLEGAL_ACTION): pageableMemAccess (NvBool @0) is whether
        // HMM or ATS serve pageable memory; nvsim models neither (as a
        // kernel without CONFIG_HMM_MIRROR): NV_FALSE. rmStatus @4.
        UVM_PAGEABLE_MEM_ACCESS => {
            let st = if nv.with_uvm(|s| s.initialized) {
                buf[0] = 0;
                NV_OK
            } else {
                NV_ERR_ILLEGAL_ACTION
            };
            buf[4..8].copy_from_slice(&st.to_le_bytes());
        }
        UVM_VALIDATE_VA_RANGE => {
            let mut p = UvmValidateVaRangeParams::read(&buf).ok_or(EINVAL)?;
            p.rm_status = nv.with_uvm(|s| match p.base.checked_add(p.length) {
                _ if !s.initialized => NV_ERR_ILLEGAL_ACTION,
                Some(end) if s.managed.is_range(p.base, end) => NV_OK,
                _ => NV_ERR_INVALID_ADDRESS,
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
    // hClient and hSmcPartRef name a MIG partition (nvGpuOpsGetGpuInfo
    // reads them only under IS_MIG_IN_USE, getSwizzIdFromUserSmcPartHandle);
    // without MIG, which nvsim has not, they are not looked at: 550's
    // libcuda registers with hClient 0 and rmCtrlFd -1.
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
    match RM.lock().uvm_lookup(tgid(), h_client, h) {
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

/// The file offset of page offset `pgoff`.
fn offset_of(pgoff: u64) -> Option<u64> {
    pgoff.checked_mul(1 << PAGE_SHIFT)
}

/// `uvm_api_range_invalid`: page-aligned, nonzero base and length, no wrap.
fn range_invalid(base: u64, length: u64) -> bool {
    let page = 1u64 << PAGE_SHIFT;
    base % page != 0
        || length % page != 0
        || base == 0
        || length == 0
        || base.checked_add(length).is_none()
}

/// UVM_MIGRATE (`uvm_api_migrate`), for managed ranges. Without ATS or HMM
/// (as nvsim is), a range not wholly covered by managed ranges is
/// `NV_ERR_INVALID_ADDRESS`. There are no semaphore pools in nvsim, so an
/// asynchronous migration naming a semaphore gets `NV_ERR_INVALID_ADDRESS`;
/// one without is done synchronously. The test-only flags are refused as
/// on a driver loaded without `uvm_enable_builtin_tests`.
fn migrate(nv: &NvFile, p: &UvmMigrateParams) -> u32 {
    if !nv.with_uvm(|s| s.initialized) {
        return NV_ERR_ILLEGAL_ACTION;
    }
    let sync = p.flags & UVM_MIGRATE_FLAG_ASYNC == 0;
    if (p.length > 0 || sync || p.semaphore_address == 0) && range_invalid(p.base, p.length) {
        return NV_ERR_INVALID_ADDRESS;
    }
    if p.flags & !UVM_MIGRATE_FLAGS_ALL != 0 || p.flags & UVM_MIGRATE_FLAGS_TEST_ALL != 0 {
        return NV_ERR_INVALID_ARGUMENT;
    }
    if sync {
        if p.semaphore_address != 0 {
            return NV_ERR_INVALID_ARGUMENT;
        }
    } else if p.semaphore_address == 0 {
        if p.semaphore_payload != 0 {
            return NV_ERR_INVALID_ARGUMENT;
        }
    } else {
        return NV_ERR_INVALID_ADDRESS;
    }
    // The CPU's UUID is all zero (NV_PROCESSOR_UUID_CPU_DEFAULT).
    let dest = if p.destination_uuid == [0; 16] {
        // The guest has one NUMA node with memory.
        if p.cpu_numa_node != -1 && p.cpu_numa_node != 0 {
            return NV_ERR_INVALID_ARGUMENT;
        }
        None
    } else {
        // uvm_va_space_get_gpu_by_uuid_with_gpu_va_space: registered, and
        // with a GPU VA space.
        match gpu_arc_by_uuid(&p.destination_uuid) {
            Some(g)
                if nv.with_uvm(|s| {
                    s.gpus.contains(&g.index) && s.vaspaces.iter().any(|v| v.0 == g.index)
                }) =>
            {
                Some(g)
            }
            _ => return NV_ERR_INVALID_DEVICE,
        }
    };
    if p.length == 0 {
        return NV_OK;
    }
    let end = p.base + p.length;
    nv.with_uvm(|s| {
        if !s.managed.covers(p.base, end) {
            return NV_ERR_INVALID_ADDRESS;
        }
        match s.managed.migrate(p.base, end, dest.as_ref()) {
            Ok(()) => NV_OK,
            Err(MigrateError::NoMemory) => NV_ERR_NO_MEMORY,
        }
    })
}

/// `mmap` of a UVM file (`uvm_mmap`): the file must be an initialized VA
/// space (else `EBADFD`), the caller the process that initialized it (else
/// `EOPNOTSUPP`), the offset the address and the mapping shared, readable
/// and writable (else `EINVAL`), and the range must not overlap another
/// (`EADDRINUSE`). The vma then is a managed range: `VM_MIXEDMAP |
/// VM_DONTEXPAND | VM_DONTCOPY` and [`crate::mem::set_managed`]'s vm_ops.
pub(crate) fn mmap(nv: Arc<NvFile>, vma: &VmaNew, pgoff: usize) -> Result {
    let (start, end) = (vma.start() as u64, vma.end() as u64);
    let cur = kernel::current!().mm().map(|m| m.as_raw());
    let want = flags::SHARED | flags::READ | flags::WRITE;
    nv.with_uvm(|s| {
        if !s.initialized {
            return Err(EBADFD);
        }
        if s.owner_mm.as_ref().map(|m| m.as_raw()) != cur {
            return Err(EOPNOTSUPP);
        }
        if offset_of(pgoff as u64) != Some(start) {
            return Err(EINVAL);
        }
        if vma.flags() & want != want {
            return Err(EINVAL);
        }
        s.managed.add(start, end)
    })?;
    crate::mem::set_managed(vma, nv);
    Ok(())
}

/// `open` of a managed vma (`uvm_vm_open_managed`): a copy of one that
/// holds a range. A split (same mm, offset still the address, one bound
/// shared with its range) splits the range and the copy holds its half:
/// `true`. A fork (another mm) or a move (mremap: offset no longer the
/// address) gives the copy no access: `false` (it holds nothing; its
/// close frees nothing). When the split fails for memory, the range is
/// destroyed (its pages freed) as UVM does.
pub(crate) fn vma_copied(
    nv: &NvFile,
    mm: *const bindings::mm_struct,
    start: u64,
    end: u64,
    pgoff: u64,
) -> bool {
    nv.with_uvm(|s| {
        if s.owner_mm.as_ref().map(|m| m.as_raw().cast_const()) != Some(mm) {
            return false;
        }
        if offset_of(pgoff) != Some(start) {
            return false;
        }
        let Some((rs, re)) = s.managed.enclosing(start, end) else {
            return false;
        };
        let at = match (start == rs, end == re) {
            (true, false) => end,
            (false, true) => start,
            _ => return false,
        };
        if s.managed.split(at).is_err() {
            s.managed.remove(rs, re);
            return false;
        }
        true
    })
}

/// `close` of a managed vma holding `[start, end)`: destroys the ranges
/// there and frees their pages.
pub(crate) fn vma_closed(nv: &NvFile, start: u64, end: u64) {
    nv.with_uvm(|s| s.managed.remove(start, end));
}

/// The VA space's teardown (the file's release): what no vma's close freed.
pub(crate) fn teardown(nv: &NvFile) {
    let ranges = nv.with_uvm(|s| s.managed.take_all());
    drop(ranges);
}
