// SPDX-License-Identifier: GPL-2.0

//! Export fds: the NV0000 OS_UNIX controls that move RM objects between
//! clients through a ctl file (CUDA IPC, `cuMemExportToShareableHandle`
//! with a POSIX fd), as nvidia.ko implements them (`os.c`
//! `cliresCtrlCmdOsUnix*`, `rmobjexportimport.c`):
//!
//! - the fd is looked up in the *caller's* fd table and must be a ctl file
//!   (device 195:255), else `NV_ERR_INVALID_PARAMETER`;
//! - a ctl file becomes an export fd once (`maxObjects` slots, a device
//!   instance, 64 bytes of metadata); preparing it again is
//!   `NV_ERR_STATE_IN_USE`;
//! - exporting stores a reference to each object's resource in a slot (the
//!   vendor dups it into an internal client), kept until the slot is
//!   overwritten or the export file is released: the memory outlives every
//!   user handle meanwhile;
//! - importing dups the slot's object into the importing client under
//!   `hParent`, whatever process or file it is: no new memory.
//!
//! nvsim exports memory objects only (video or system memory); other
//! objects get `NV_ERR_NOT_SUPPORTED`.

use crate::{
    chrdev,
    ctrl::fixed,
    fgcore::nvabi::{ctrl::*, status::*, wire::Wire},
    rm::{Data, RmState},
};
use core::sync::atomic::Ordering;
use kernel::prelude::*;

const TYPE_RM: u32 = NV0000_CTRL_OS_UNIX_EXPORT_OBJECT_TYPE_RM;
/// `NV0000_CTRL_OS_UNIX_EXPORT_OBJECT_TO_FD_FLAGS_EMPTY_FD` (bit 0).
const FLAG_EMPTY_FD: u32 = 1;
/// `NV_MAX_DEVICES`: the device instance of an fd prepared without a device.
const NV_MAX_DEVICES: u32 = 32;
/// `NV0000_CTRL_OS_UNIX_EXPORT_OBJECTS_TO_FD_MAX_OBJECTS`.
const EXPORT_MAX: u16 = 512;
/// `NV0000_CTRL_OS_UNIX_IMPORT_OBJECTS_TO_FD_MAX_OBJECTS`.
const IMPORT_MAX: u16 = 128;
/// `NV0000_CTRL_CMD_OS_UNIX_IMPORT_OBJECT_TYPE_{NONE,VIDMEM,SYSMEM}`.
const IMPORT_NONE: u8 = 0;
const IMPORT_VIDMEM: u8 = 1;
const IMPORT_SYSMEM: u8 = 2;

type CtlResult = core::result::Result<u32, u32>;

/// An exported object: what the vendor's export client holds. It is a dup
/// (`RmExportObject` dups the object into the RM's own export client), so
/// it names the memory descriptor as an object does: it counts in its
/// `DupCount` (`MemObj::objects`) for as long as it lives, which
/// GPU_GET_PID_INFO's split into private and shared reads.
pub(crate) struct ExportRef {
    class: u32,
    gpu: u32,
    data: Data,
}

impl ExportRef {
    fn new(class: u32, gpu: u32, data: Data) -> Self {
        if let Data::Memory(m) = &data {
            m.objects.fetch_add(1, Ordering::Relaxed);
        }
        ExportRef { class, gpu, data }
    }
}

impl Clone for ExportRef {
    fn clone(&self) -> Self {
        ExportRef::new(self.class, self.gpu, self.data.clone())
    }
}

impl Drop for ExportRef {
    fn drop(&mut self) {
        if let Data::Memory(m) = &self.data {
            m.objects.fetch_sub(1, Ordering::Relaxed);
        }
    }
}

/// The export state of a ctl file (`nvfp->handles` and friends).
pub(crate) struct ExportFd {
    device_instance: u32,
    metadata: [u8; 64],
    slots: KVec<Option<ExportRef>>,
}

impl ExportFd {
    fn new(device_instance: u32, max: u16, metadata: [u8; 64]) -> core::result::Result<Self, u32> {
        let mut slots =
            KVec::with_capacity(usize::from(max), GFP_KERNEL).map_err(|_| NV_ERR_NO_MEMORY)?;
        for _ in 0..max {
            slots.push(None, GFP_KERNEL).map_err(|_| NV_ERR_NO_MEMORY)?;
        }
        Ok(ExportFd {
            device_instance,
            metadata,
            slots,
        })
    }
}

/// The device instance an export fd is prepared for (`hDevice`, or none).
fn device_instance(rm: &RmState, ci: usize, h_device: u32) -> core::result::Result<u32, u32> {
    if h_device == 0 {
        return Ok(NV_MAX_DEVICES);
    }
    let o = rm.client(ci).obj(h_device).ok_or(NV_ERR_OBJECT_NOT_FOUND)?;
    match o.data {
        Data::Device => Ok(o.gpu),
        _ => Err(NV_ERR_INVALID_PARAMETER),
    }
}

/// `RmExportObject`: a reference to object `h` of client `ci`, and the
/// device instance it lives on.
fn export_object(rm: &RmState, ci: usize, h: u32) -> core::result::Result<ExportRef, u32> {
    let c = rm.client(ci);
    if h == c.handle {
        return Err(NV_ERR_INVALID_OBJECT_HANDLE);
    }
    let o = c.obj(h).ok_or(NV_ERR_OBJECT_NOT_FOUND)?;
    match o.data {
        Data::Memory(_) => Ok(ExportRef::new(o.class, o.gpu, o.data.clone())),
        _ => Err(NV_ERR_NOT_SUPPORTED),
    }
}

/// `RmImportObject`: a new handle in client `ci` under `h_parent` referring
/// to the exported object; returns the import type.
fn import_object(
    rm: &mut RmState,
    ci: usize,
    h_parent: u32,
    h_object: &mut u32,
    r: &ExportRef,
) -> core::result::Result<u8, u32> {
    rm.import_dup(ci, h_parent, h_object, r.class, r.gpu, r.data.clone())?;
    Ok(match &r.data {
        Data::Memory(m) if m.vid => IMPORT_VIDMEM,
        _ => IMPORT_SYSMEM,
    })
}

/// Runs one of the OS_UNIX export controls on client `ci`; `None` if `cmd`
/// is not one of them.
pub(crate) fn control(
    rm: &mut RmState,
    ci: usize,
    cmd: u32,
    params: &mut [u8],
) -> Option<CtlResult> {
    Some(match cmd {
        NV0000_CTRL_CMD_OS_UNIX_EXPORT_OBJECT_TO_FD => export_one(rm, ci, params),
        NV0000_CTRL_CMD_OS_UNIX_CREATE_EXPORT_OBJECT_FD => create(rm, ci, params),
        NV0000_CTRL_CMD_OS_UNIX_EXPORT_OBJECTS_TO_FD => export_many(rm, ci, params),
        NV0000_CTRL_CMD_OS_UNIX_IMPORT_OBJECT_FROM_FD => import_one(rm, ci, params),
        NV0000_CTRL_CMD_OS_UNIX_IMPORT_OBJECTS_FROM_FD => import_many(rm, ci, params),
        NV0000_CTRL_CMD_OS_UNIX_GET_EXPORT_OBJECT_INFO => info(params),
        _ => return None,
    })
}

fn export_one(rm: &mut RmState, ci: usize, params: &mut [u8]) -> CtlResult {
    let p = fixed::<Nv0000CtrlOsUnixExportObjectToFdParams>(params)?;
    if p.flags & FLAG_EMPTY_FD != 0 || p.object.type_ != TYPE_RM || p.fd == -1 {
        return Err(NV_ERR_INVALID_PARAMETER);
    }
    let r = export_object(rm, ci, p.object.h_object)?;
    let (_file, nv) = chrdev::lookup_ctl_fd(p.fd).ok_or(NV_ERR_INVALID_PARAMETER)?;
    nv.with_export(|e| {
        if e.is_some() {
            return Err(NV_ERR_STATE_IN_USE);
        }
        let mut fd = ExportFd::new(device_instance(rm, ci, p.object.h_device)?, 1, [0; 64])?;
        fd.slots[0] = Some(r);
        *e = Some(fd);
        Ok(NV_OK)
    })
}

fn create(rm: &mut RmState, ci: usize, params: &mut [u8]) -> CtlResult {
    let p = fixed::<Nv0000CtrlOsUnixCreateExportObjectFdParams>(params)?;
    if p.max_objects == 0 {
        return Err(NV_ERR_INVALID_PARAMETER);
    }
    let (_file, nv) = chrdev::lookup_ctl_fd(p.fd).ok_or(NV_ERR_INVALID_PARAMETER)?;
    nv.with_export(|e| {
        if e.is_some() {
            return Err(NV_ERR_STATE_IN_USE);
        }
        *e = Some(ExportFd::new(
            device_instance(rm, ci, p.h_device)?,
            p.max_objects,
            p.metadata,
        )?);
        Ok(NV_OK)
    })
}

fn export_many(rm: &mut RmState, ci: usize, params: &mut [u8]) -> CtlResult {
    let p = fixed::<Nv0000CtrlOsUnixExportObjectsToFdParams>(params)?;
    let (_file, nv) = chrdev::lookup_ctl_fd(p.fd).ok_or(NV_ERR_INVALID_PARAMETER)?;
    nv.with_export(|e| {
        let setup = e.is_none();
        if setup {
            if p.max_objects == 0 {
                return Err(NV_ERR_INVALID_PARAMETER);
            }
            *e = Some(ExportFd::new(
                device_instance(rm, ci, p.h_device)?,
                p.max_objects,
                p.metadata,
            )?);
        }
        let r = export_into(rm, ci, &p, e.as_mut().ok_or(NV_ERR_INVALID_STATE)?);
        if r.is_err() && setup {
            // A failed first call leaves the file as it was.
            *e = None;
        }
        r
    })
}

fn export_into(
    rm: &RmState,
    ci: usize,
    p: &Nv0000CtrlOsUnixExportObjectsToFdParams,
    fd: &mut ExportFd,
) -> CtlResult {
    if p.num_objects > EXPORT_MAX {
        return Err(NV_ERR_INVALID_PARAMETER);
    }
    let (first, n) = (usize::from(p.index), usize::from(p.num_objects));
    if first + n > fd.slots.len() {
        return Err(NV_ERR_OUT_OF_RANGE);
    }
    // All or nothing: resolve every object first.
    let mut refs: KVec<Option<ExportRef>> =
        KVec::with_capacity(n, GFP_KERNEL).map_err(|_| NV_ERR_NO_MEMORY)?;
    for &h in p.objects[..n].iter() {
        let r = if h == 0 {
            None
        } else {
            let r = export_object(rm, ci, h)?;
            if r.gpu != fd.device_instance {
                return Err(NV_ERR_INVALID_PARAMETER);
            }
            Some(r)
        };
        refs.push(r, GFP_KERNEL).map_err(|_| NV_ERR_NO_MEMORY)?;
    }
    // Overwriting a slot drops what it held (a 0 handle unexports).
    for (slot, r) in fd.slots[first..first + n].iter_mut().zip(refs) {
        *slot = r;
    }
    Ok(NV_OK)
}

fn import_one(rm: &mut RmState, ci: usize, params: &mut [u8]) -> CtlResult {
    let mut p = fixed::<Nv0000CtrlOsUnixImportObjectFromFdParams>(params)?;
    if p.object.type_ != TYPE_RM || p.fd == -1 {
        return Err(NV_ERR_INVALID_PARAMETER);
    }
    let (_file, nv) = chrdev::lookup_ctl_fd(p.fd).ok_or(NV_ERR_INVALID_PARAMETER)?;
    let r = nv.with_export(|e| match e {
        Some(e) if e.slots.len() == 1 => e.slots[0].clone(),
        _ => None,
    });
    let r = r.ok_or(NV_ERR_INVALID_PARAMETER)?;
    import_object(rm, ci, p.object.h_parent, &mut p.object.h_object, &r)?;
    p.write(params);
    Ok(NV_OK)
}

fn import_many(rm: &mut RmState, ci: usize, params: &mut [u8]) -> CtlResult {
    let mut p = fixed::<Nv0000CtrlOsUnixImportObjectsFromFdParams>(params)?;
    let (_file, nv) = chrdev::lookup_ctl_fd(p.fd).ok_or(NV_ERR_INVALID_PARAMETER)?;
    let (first, n) = (usize::from(p.index), usize::from(p.num_objects));
    let refs = nv.with_export(|e| {
        let e = e.as_ref().ok_or(NV_ERR_INVALID_PARAMETER)?;
        if p.num_objects > IMPORT_MAX {
            return Err(NV_ERR_INVALID_PARAMETER);
        }
        if first + n > e.slots.len() {
            return Err(NV_ERR_OUT_OF_RANGE);
        }
        let mut v: KVec<Option<ExportRef>> =
            KVec::with_capacity(n, GFP_KERNEL).map_err(|_| NV_ERR_NO_MEMORY)?;
        for s in e.slots[first..first + n].iter() {
            v.push(s.clone(), GFP_KERNEL)
                .map_err(|_| NV_ERR_NO_MEMORY)?;
        }
        Ok(v)
    })?;
    for (i, r) in refs.iter().enumerate() {
        let Some(r) = r else {
            p.object_types[i] = IMPORT_NONE;
            continue;
        };
        match import_object(rm, ci, p.h_parent, &mut p.objects[i], r) {
            Ok(t) => p.object_types[i] = t,
            Err(s) => {
                // Undo the imports of this call (only those: the vendor's
                // loop would also free handles it did not make).
                for j in 0..i {
                    if p.object_types[j] != IMPORT_NONE {
                        drop(rm.remove_obj(ci, p.objects[j]));
                    }
                }
                return Err(s);
            }
        }
    }
    p.write(params);
    Ok(NV_OK)
}

fn info(params: &mut [u8]) -> CtlResult {
    let mut p = fixed::<Nv0000CtrlOsUnixGetExportObjectInfoParams>(params)?;
    if p.fd < 0 {
        return Err(NV_ERR_INVALID_PARAMETER);
    }
    let (_file, nv) = chrdev::lookup_ctl_fd(p.fd).ok_or(NV_ERR_INVALID_PARAMETER)?;
    nv.with_export(|e| {
        let e = e.as_ref().ok_or(NV_ERR_INVALID_PARAMETER)?;
        p.max_objects = e.slots.len() as u16;
        p.device_instance = e.device_instance;
        p.gpu_instance_id = u32::MAX;
        p.metadata = e.metadata;
        Ok::<(), u32>(())
    })?;
    p.write(params);
    Ok(NV_OK)
}
