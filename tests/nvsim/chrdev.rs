// SPDX-License-Identifier: GPL-2.0

//! The character-device FFI edge: device numbers, cdevs, the device class
//! (so devtmpfs creates the nodes), the file operations and their
//! trampolines into [`NvFile`], and fd lookups with the driver's identity
//! check (`f_op` is ours).
//!
//! Registered as nvidia.ko and nvidia-uvm.ko register theirs: the GPU
//! nodes take minors 0..N-1 of major 195 ("nvidia"), the control node minor
//! 255 ("nvidiactl"), UVM a dynamic major ("nvidia-uvm"). Not misc devices:
//! `misc_open` holds the global misc lock while it calls `open`, and the
//! fakegpu proxy (a misc device) opens these nodes from its own `open`.

use crate::file::{Kind, NvFile};
use core::sync::atomic::{AtomicPtr, AtomicU32, Ordering};
use kernel::{
    bindings,
    error::{from_err_ptr, to_result},
    ffi::{c_char, c_int, c_long, c_uint, c_ulong, c_void},
    fs::{File, LocalFile},
    mm::virt::VmaNew,
    prelude::*,
    sync::aref::ARef,
    sync::Arc,
    types::ForeignOwnable,
};

/// NVIDIA's major number.
const NV_MAJOR: u32 = 195;
/// Minor of `/dev/nvidiactl`.
const NV_CTL_MINOR: u32 = 255;
const MINORBITS: u32 = 20;

const fn mkdev(major: u32, minor: u32) -> bindings::dev_t {
    (major << MINORBITS) | minor
}

/// The registered file operations, for the `f_op` identity checks.
static NV_FOPS: AtomicPtr<bindings::file_operations> = AtomicPtr::new(core::ptr::null_mut());
static UVM_FOPS: AtomicPtr<bindings::file_operations> = AtomicPtr::new(core::ptr::null_mut());
/// The dynamic major of nvidia-uvm.
static UVM_MAJOR: AtomicU32 = AtomicU32::new(0);

/// `capable(cap)` of the current task.
pub(crate) fn capable(cap: u32) -> bool {
    // SAFETY: `capable` has no precondition beyond process context, which
    // every ioctl has.
    unsafe { bindings::capable(cap as c_int) }
}

/// Looks up `fd` in the caller's fd table and returns it with its
/// [`NvFile`] if it is one of nvsim's files (`f_op` comparison, as
/// nvidia-uvm does; nvidia.ko's major/minor check is implied by the kind).
pub(crate) fn lookup_fd(fd: u32) -> Option<(ARef<File>, Arc<NvFile>)> {
    let local = LocalFile::fget(fd).ok()?;
    // SAFETY: the reference is only used to read `f_op`/`private_data` and
    // to keep the file alive; no `fdget_pos` is involved.
    nv_file_of(unsafe { LocalFile::assume_no_fdget_pos(local) })
}

/// The [`NvFile`] of `file`, if it is one of nvsim's files.
fn nv_file_of(file: ARef<File>) -> Option<(ARef<File>, Arc<NvFile>)> {
    let raw = file.as_ptr();
    // SAFETY: `raw` is a valid file on which we hold a reference.
    let (fop, pd) = unsafe { ((*raw).f_op, (*raw).private_data) };
    let ours = !fop.is_null()
        && (fop == NV_FOPS.load(Ordering::Acquire).cast_const()
            || fop == UVM_FOPS.load(Ordering::Acquire).cast_const());
    if !ours || pd.is_null() {
        return None;
    }
    // SAFETY: files with our `f_op` carry an `Arc<NvFile>` from `nv_open`
    // in `private_data`, released only by `nv_release`, which cannot run
    // while we hold a reference to the file.
    let nv: Arc<NvFile> = unsafe { <Arc<NvFile> as ForeignOwnable>::borrow(pd) }.into();
    Some((file, nv))
}

/// `nv_is_gpu_accessible` of nvidia.ko (`kernel-open/nvidia/nv.c`), which
/// `osIsGpuAccessible` answers with: whether the calling thread's fd table
/// holds an open nvsim file of GPU `gpu` (its `f_op` is nvsim's, by
/// pointer, and its `private_data` is set). The RM asks it on every device
/// construct by a caller below kernel privilege (root included) and on
/// every UVM_REGISTER_GPU (`nvGpuOpsGetGpuInfo`); without such a file both
/// fail with `NV_ERR_INSUFFICIENT_PERMISSIONS`, as measured on the H200
/// (`tests/fidelity/h200-580.159.04/gpu-access-*.txt`).
pub(crate) fn gpu_accessible(gpu: u32) -> bool {
    /// `nv_match_dev_state`: nonzero stops the walk.
    ///
    /// # Safety
    ///
    /// Called by `iterate_fd` with `data` the `&u32` below and `file` a file
    /// of the table, alive while the walk holds the table's lock.
    unsafe extern "C" fn matches(
        data: *const c_void,
        file: *mut bindings::file,
        _fd: c_uint,
    ) -> c_int {
        // SAFETY: `data` is the `&u32` `gpu_accessible` passed (see above).
        let gpu = unsafe { *data.cast::<u32>() };
        // SAFETY: `file` is live during the walk (see above).
        let (fop, pd) = unsafe { ((*file).f_op, (*file).private_data) };
        if fop.is_null() || fop != NV_FOPS.load(Ordering::Acquire).cast_const() || pd.is_null() {
            return 0;
        }
        // SAFETY: files with our `f_op` carry an `Arc<NvFile>` from `nv_open`
        // in `private_data`, released only by `nv_release`, which cannot run
        // while the file is in a table (the table holds a reference).
        let nv = unsafe { <Arc<NvFile> as ForeignOwnable>::borrow(pd) };
        c_int::from(nv.kind == Kind::Gpu(gpu))
    }
    // SAFETY: process context (an ioctl); `current` is live, and so is its
    // `files` while it runs (NULL only for kernel threads, refused below).
    let files = unsafe { (*bindings::get_current()).files };
    if files.is_null() {
        return false;
    }
    // SAFETY: `files` is the current thread's table, which it keeps while
    // it runs; `matches` is a valid callback for `iterate_fd` and `gpu`
    // outlives the walk.
    unsafe { bindings::iterate_fd(files, 0, Some(matches), (&raw const gpu).cast()) != 0 }
}

/// `nv_get_file_private(fd, ctl = TRUE, ..)` of nvidia.ko: `fget(fd)` in
/// the caller's fd table, then the device-number check the vendor makes
/// (major 195, minor 255: a ctl file). nvidia.ko then trusts
/// `private_data`; nvsim also compares `f_op` (so that a foreign file with
/// the same device number is never misread), which a real ctl file passes.
pub(crate) fn lookup_ctl_fd(fd: i32) -> Option<(ARef<File>, Arc<NvFile>)> {
    let fd = u32::try_from(fd).ok()?;
    let local = LocalFile::fget(fd).ok()?;
    // SAFETY: the reference is only used to read the inode's device number
    // and to keep the file alive; no `fdget_pos` is involved.
    let file: ARef<File> = unsafe { LocalFile::assume_no_fdget_pos(local) };
    let raw = file.as_ptr();
    // SAFETY: `raw` is a valid file on which we hold a reference; an open
    // file's inode is live while the file is.
    let rdev = unsafe { (*(*raw).f_inode).i_rdev };
    if rdev != mkdev(NV_MAJOR, NV_CTL_MINOR) {
        return None;
    }
    let (file, nv) = nv_file_of(file)?;
    (nv.kind == Kind::Ctl).then_some((file, nv))
}

unsafe extern "C" fn nv_open(inode: *mut bindings::inode, file: *mut bindings::file) -> c_int {
    // SAFETY: the VFS passes valid inode and file pointers.
    let rdev = unsafe { (*inode).i_rdev };
    let (major, minor) = (rdev >> MINORBITS, rdev & ((1 << MINORBITS) - 1));
    let kind = if major == UVM_MAJOR.load(Ordering::Relaxed) {
        Kind::Uvm
    } else if minor == NV_CTL_MINOR {
        Kind::Ctl
    } else {
        Kind::Gpu(minor)
    };
    match NvFile::new(kind) {
        Ok(nv) => {
            // SAFETY: `file` is valid and not yet shared; `private_data` is ours.
            unsafe { (*file).private_data = nv.into_foreign() };
            0
        }
        Err(e) => e.to_errno(),
    }
}

unsafe extern "C" fn nv_release(_inode: *mut bindings::inode, file: *mut bindings::file) -> c_int {
    // SAFETY: `private_data` holds the `Arc<NvFile>` set by `nv_open`; this is
    // the last use of the file, so the reference is taken back exactly once.
    let nv = unsafe { <Arc<NvFile> as ForeignOwnable>::from_foreign((*file).private_data) };
    nv.release();
    0
}

unsafe extern "C" fn nv_ioctl(file: *mut bindings::file, cmd: c_uint, arg: c_ulong) -> c_long {
    // SAFETY: `private_data` holds the `Arc<NvFile>` set by `nv_open`, valid
    // until release, which cannot run during an ioctl.
    let nv = unsafe { <Arc<NvFile> as ForeignOwnable>::borrow((*file).private_data) };
    match nv.ioctl(cmd, arg as usize) {
        Ok(v) => v as c_long,
        Err(e) => e.to_errno() as c_long,
    }
}

unsafe extern "C" fn nv_mmap(
    file: *mut bindings::file,
    vma: *mut bindings::vm_area_struct,
) -> c_int {
    // SAFETY: as in `nv_ioctl`.
    let nv = unsafe { <Arc<NvFile> as ForeignOwnable>::borrow((*file).private_data) };
    // SAFETY: the mm core passes a vma under construction, with the mmap
    // lock held, valid for the duration of this call.
    let (vma, pgoff) = unsafe { (VmaNew::from_raw(vma), (*vma).vm_pgoff) };
    let r = if nv.kind == Kind::Uvm {
        crate::uvm::mmap(nv.into(), vma, pgoff as usize)
    } else {
        nv.mmap(vma, pgoff as usize)
    };
    match r {
        Ok(()) => 0,
        Err(e) => e.to_errno(),
    }
}

unsafe extern "C" fn nv_devnode(
    _dev: *const bindings::device,
    mode: *mut bindings::umode_t,
) -> *mut c_char {
    if !mode.is_null() {
        // SAFETY: devtmpfs passes a valid pointer when it wants a mode.
        unsafe { *mode = 0o666 };
    }
    core::ptr::null_mut()
}

fn make_fops(module: &'static ThisModule) -> Result<KBox<bindings::file_operations>> {
    // SAFETY: all-zero is a valid `file_operations` (no callbacks).
    let mut f: bindings::file_operations = unsafe { core::mem::zeroed() };
    f.owner = module.as_ptr();
    f.open = Some(nv_open);
    f.release = Some(nv_release);
    f.unlocked_ioctl = Some(nv_ioctl);
    f.compat_ioctl = Some(nv_ioctl);
    f.mmap = Some(nv_mmap);
    Ok(KBox::new(f, GFP_KERNEL)?)
}

/// The registered regions, cdevs, class and device nodes; all removed on drop.
///
/// # Invariants
///
/// Every non-null pointer is a live registration made by `register`; the
/// fops boxes outlive the cdevs that point at them (they drop after
/// `Drop::drop` has deleted the cdevs).
pub(crate) struct Nodes {
    class: *mut bindings::class,
    cdevs: [*mut bindings::cdev; 3],
    regions: [(bindings::dev_t, u32); 3],
    devices: KVec<bindings::dev_t>,
    _nv_fops: KBox<bindings::file_operations>,
    _uvm_fops: KBox<bindings::file_operations>,
}

// SAFETY: the raw pointers are registrations torn down once, from any thread.
unsafe impl Send for Nodes {}
// SAFETY: `&Nodes` exposes nothing.
unsafe impl Sync for Nodes {}

impl Nodes {
    /// Registers nvidia0..n-1, nvidiactl and nvidia-uvm.
    pub(crate) fn register(module: &'static ThisModule, n: u32) -> Result<Nodes> {
        let nv_fops = make_fops(module)?;
        let uvm_fops = make_fops(module)?;
        let mut nodes = Nodes {
            class: core::ptr::null_mut(),
            cdevs: [core::ptr::null_mut(); 3],
            regions: [(0, 0); 3],
            devices: KVec::new(),
            _nv_fops: nv_fops,
            _uvm_fops: uvm_fops,
        };
        NV_FOPS.store(&*nodes._nv_fops as *const _ as *mut _, Ordering::Release);
        UVM_FOPS.store(&*nodes._uvm_fops as *const _ as *mut _, Ordering::Release);
        // On error, `nodes` drops and undoes what was done.
        // SAFETY: registering device-number ranges with static names.
        to_result(unsafe {
            bindings::register_chrdev_region(mkdev(NV_MAJOR, 0), n, c"nvidia".as_char_ptr())
        })?;
        nodes.regions[0] = (mkdev(NV_MAJOR, 0), n);
        // SAFETY: as above.
        to_result(unsafe {
            bindings::register_chrdev_region(
                mkdev(NV_MAJOR, NV_CTL_MINOR),
                1,
                c"nvidiactl".as_char_ptr(),
            )
        })?;
        nodes.regions[1] = (mkdev(NV_MAJOR, NV_CTL_MINOR), 1);
        let mut uvm: bindings::dev_t = 0;
        // SAFETY: `uvm` is a valid out pointer.
        to_result(unsafe {
            bindings::alloc_chrdev_region(&mut uvm, 0, 1, c"nvidia-uvm".as_char_ptr())
        })?;
        nodes.regions[2] = (uvm, 1);
        UVM_MAJOR.store(uvm >> MINORBITS, Ordering::Relaxed);

        let fops: [*const bindings::file_operations; 3] =
            [&*nodes._nv_fops, &*nodes._nv_fops, &*nodes._uvm_fops];
        for i in 0..3 {
            // SAFETY: `cdev_alloc` has no preconditions.
            let c = unsafe { bindings::cdev_alloc() };
            if c.is_null() {
                return Err(ENOMEM);
            }
            nodes.cdevs[i] = c;
            // SAFETY: `c` is a fresh cdev; its ops and owner outlive it (invariant).
            unsafe {
                (*c).owner = module.as_ptr();
                (*c).ops = fops[i];
            }
            let (dev, count) = nodes.regions[i];
            // SAFETY: `c` is initialized and the range is ours.
            to_result(unsafe { bindings::cdev_add(c, dev, count) })?;
        }

        // SAFETY: a class with a static name.
        let class = from_err_ptr(unsafe { bindings::class_create(c"nvsim".as_char_ptr()) })?;
        // SAFETY: `class` is valid; nodes are world-accessible, like nvidia's.
        unsafe { (*class).devnode = Some(nv_devnode) };
        nodes.class = class;
        for i in 0..n {
            nodes.add_device(mkdev(NV_MAJOR, i), c"nvidia%u", i)?;
        }
        nodes.add_device(mkdev(NV_MAJOR, NV_CTL_MINOR), c"nvidiactl", 0)?;
        nodes.add_device(uvm, c"nvidia-uvm", 0)?;
        Ok(nodes)
    }

    fn add_device(&mut self, dev: bindings::dev_t, fmt: &CStr, arg: u32) -> Result {
        self.devices.push(dev, GFP_KERNEL)?;
        // SAFETY: `class` is a live class; the format takes at most one
        // unsigned int, which is passed.
        let d = unsafe {
            bindings::device_create(
                self.class,
                core::ptr::null_mut(),
                dev,
                core::ptr::null_mut::<c_void>(),
                fmt.as_char_ptr(),
                arg,
            )
        };
        if let Err(e) = from_err_ptr(d) {
            self.devices.pop();
            return Err(e);
        }
        Ok(())
    }
}

impl Drop for Nodes {
    fn drop(&mut self) {
        for dev in self.devices.iter() {
            // SAFETY: created on `class` by `add_device`.
            unsafe { bindings::device_destroy(self.class, *dev) };
        }
        if !self.class.is_null() {
            // SAFETY: created by `register`, no devices left.
            unsafe { bindings::class_destroy(self.class) };
        }
        for c in self.cdevs {
            if !c.is_null() {
                // SAFETY: allocated (and maybe added) by `register`; freed by its kobject.
                unsafe { bindings::cdev_del(c) };
            }
        }
        for (dev, count) in self.regions {
            if count != 0 {
                // SAFETY: registered by `register`.
                unsafe { bindings::unregister_chrdev_region(dev, count) };
            }
        }
        NV_FOPS.store(core::ptr::null_mut(), Ordering::Release);
        UVM_FOPS.store(core::ptr::null_mut(), Ordering::Release);
    }
}
