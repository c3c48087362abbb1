// SPDX-License-Identifier: GPL-2.0

//! The vendor FFI edge: the vendor driver's device files, opened and called
//! from the kernel.
//!
//! [`VendorPath`] is a path resolved once, in the mount namespace of whoever
//! creates a context (the host's administrator), so that a later open from
//! inside a container — where `/dev/nvidiactl` is our own node — still
//! reaches the vendor's node. [`VendorFile`] is an open vendor file with the
//! forwarders the proxy needs: ioctl, poll and mmap go straight to the
//! vendor's `file_operations`, with the caller's user pointers untouched.

use core::ptr::NonNull;
use kernel::{
    bindings,
    error::{from_err_ptr, to_result},
    ffi::{c_char, c_int, c_long, c_uint, c_ulong},
    fs::File,
    prelude::*,
    sync::aref::ARef,
};

#[allow(improper_ctypes)] // `struct path` only travels by pointer.
extern "C" {
    // Exported by fs/namei.c; `linux/namei.h` is not in the bindings.
    fn kern_path(name: *const c_char, flags: c_uint, path: *mut bindings::path) -> c_int;
}

/// `LOOKUP_FOLLOW`: follow a final symlink, as `open` does.
const LOOKUP_FOLLOW: c_uint = 0x0001;
/// `S_IFMT` and `S_IFCHR` of `include/uapi/linux/stat.h`.
const S_IFMT: u32 = 0o170000;
const S_IFCHR: u32 = 0o020000;
/// `DEFAULT_POLLMASK` (`EPOLLIN | EPOLLOUT | EPOLLRDNORM | EPOLLWRNORM`).
const DEFAULT_POLLMASK: bindings::__poll_t = 0x0001 | 0x0004 | 0x0040 | 0x0100;

/// A path to a vendor device node, resolved once.
///
/// # Invariants
///
/// `path` holds a reference on its mount and dentry (from `kern_path`),
/// dropped once in `Drop`.
pub(crate) struct VendorPath {
    path: bindings::path,
}

// SAFETY: a `struct path` reference may be used and dropped from any thread.
unsafe impl Send for VendorPath {}
// SAFETY: shared use only reads the path (`dentry_open`).
unsafe impl Sync for VendorPath {}

impl VendorPath {
    /// Resolves `name` in the caller's mount namespace. The node must be a
    /// character device.
    pub(crate) fn resolve(name: &CStr) -> Result<Self> {
        // SAFETY: all-zeroes is a valid empty `struct path`.
        let mut path: bindings::path = unsafe { core::mem::zeroed() };
        // SAFETY: `name` is a valid C string; `path` is writable.
        to_result(unsafe { kern_path(name.as_char_ptr(), LOOKUP_FOLLOW, &mut path) })?;
        // INVARIANT: `kern_path` succeeded, so we hold the references.
        let this = Self { path };
        // SAFETY: the dentry is live while we hold the path; a positive
        // dentry of a resolved path has an inode.
        let mode = unsafe { (*(*this.path.dentry).d_inode).i_mode };
        if u32::from(mode) & S_IFMT != S_IFCHR {
            return Err(ENODEV);
        }
        Ok(this)
    }

    /// Opens the node with `flags` (the proxy file's open flags) and the
    /// opener's credentials.
    pub(crate) fn open(&self, opener: &File) -> Result<VendorFile> {
        let flags = opener.flags() as c_int;
        // SAFETY: `path` is live (type invariant); the credentials are those
        // of a live file.
        let raw = from_err_ptr(unsafe { bindings::dentry_open(&self.path, flags, opener.cred().as_ptr()) })?;
        let raw = NonNull::new(raw).ok_or(ENODEV)?;
        // SAFETY: `dentry_open` returned a new file with one reference, in no
        // fd table, which we take over; no `fdget_pos` can exist on it.
        let file = unsafe { ARef::from_raw(raw.cast::<File>()) };
        Ok(VendorFile { file })
    }
}

impl Drop for VendorPath {
    fn drop(&mut self) {
        // SAFETY: we hold the references (type invariant) and drop them once.
        unsafe { bindings::path_put(&self.path) };
    }
}

/// An open vendor file.
pub(crate) struct VendorFile {
    file: ARef<File>,
}

impl VendorFile {
    fn fops(&self) -> &bindings::file_operations {
        // SAFETY: an open file's `f_op` points at the driver's static table,
        // which lives while the file holds its module reference.
        unsafe { &*(*self.file.as_ptr()).f_op }
    }

    /// The vendor file itself (for fd translation).
    pub(crate) fn file(&self) -> &ARef<File> {
        &self.file
    }

    /// The kernel module that owns the vendor file's operations: its name
    /// and `MODULE_VERSION` (empty when built in or unversioned).
    pub(crate) fn driver(&self) -> (&[u8], &[u8]) {
        let owner = self.fops().owner;
        if owner.is_null() {
            return (b"", b"");
        }
        // SAFETY: the owner module is pinned while its file is open (the
        // VFS took a reference at open); `name` is a NUL-terminated array
        // and `version`, when set, a static string of the module.
        unsafe {
            let name = CStr::from_char_ptr((*owner).name.as_ptr()).to_bytes();
            let v = (*owner).version;
            let version = if v.is_null() { &b""[..] } else { CStr::from_char_ptr(v).to_bytes() };
            (name, version)
        }
    }

    /// The file's reference counter, raw (`file_ref_t`'s encoding: only
    /// differences between two readings mean something).
    pub(crate) fn refs(&self) -> i64 {
        // SAFETY: the file is live; a racy read of an atomic counter.
        unsafe { core::ptr::read_volatile(&(*self.file.as_ptr()).f_ref.refcnt.counter) }
    }

    /// Whether `file` is this vendor file.
    pub(crate) fn is(&self, file: *const bindings::file) -> bool {
        core::ptr::eq(self.file.as_ptr(), file)
    }

    /// Calls the vendor's ioctl with the caller's argument (a user pointer
    /// the vendor copies from and to), as `vfs_ioctl` would.
    pub(crate) fn ioctl(&self, cmd: u32, arg: usize) -> Result<isize> {
        let Some(f) = self.fops().unlocked_ioctl else {
            return Err(ENOTTY);
        };
        // SAFETY: the file is open and `f` is its driver's handler; `arg` is
        // passed through unchanged, as from the system call.
        let ret = unsafe { f(self.file.as_ptr(), cmd, arg as c_ulong) };
        if ret == -(bindings::ENOIOCTLCMD as c_long) {
            return Err(ENOTTY);
        }
        if ret < 0 {
            return Err(Error::from_errno(ret as i32));
        }
        Ok(ret as isize)
    }

    /// Calls the vendor's poll with the caller's poll table.
    ///
    /// # Safety
    ///
    /// `pt` must be the poll table the VFS passed to the proxy's poll for
    /// this call (or NULL).
    pub(crate) unsafe fn poll(&self, pt: *mut bindings::poll_table_struct) -> bindings::__poll_t {
        match self.fops().poll {
            // SAFETY: the file is open; `pt` is valid for this call (caller).
            Some(f) => unsafe { f(self.file.as_ptr(), pt) },
            // DEFAULT_POLLMASK, as `vfs_poll` answers for files without poll.
            None => DEFAULT_POLLMASK,
        }
    }

    /// Hands the vma to the vendor: it becomes a mapping of the vendor file
    /// (`vma_set_file`), and the vendor's mmap sets it up, as `dma_buf_mmap`
    /// does. Accesses then never pass through the proxy.
    ///
    /// # Safety
    ///
    /// `vma` must be the vma being set up by the proxy's own mmap handler.
    pub(crate) unsafe fn mmap(&self, vma: *mut bindings::vm_area_struct) -> Result {
        let fops = self.fops();
        // SAFETY: `vma` is being set up under mmap_lock (caller);
        // `vma_set_file` takes a reference on the vendor file and drops the
        // one on the proxy file.
        unsafe { bindings::vma_set_file(vma, self.file.as_ptr()) };
        // Open-coded `vfs_mmap`.
        let ret = if fops.mmap_prepare.is_some() {
            // SAFETY: as above; the vendor file is the vma's file now.
            unsafe { bindings::compat_vma_mmap(self.file.as_ptr(), vma) }
        } else if let Some(f) = fops.mmap {
            // SAFETY: as above.
            unsafe { f(self.file.as_ptr(), vma) }
        } else {
            -(bindings::ENODEV as c_int)
        };
        to_result(ret)
    }
}

/// Removes `fd` from the current process's fd table, if it still refers to
/// `vendor`, and drops that reference. Returns whether it did.
pub(crate) fn close_fd_if(fd: u32, vendor: &VendorFile) -> bool {
    // SAFETY: `file_close_fd` takes the fd out of the table and returns the
    // file with the table's reference (or NULL), which we own.
    let f = unsafe { bindings::file_close_fd(fd) };
    if f.is_null() {
        return false;
    }
    let ours = vendor.is(f);
    // SAFETY: we own the reference `file_close_fd` handed over. `filp_close`
    // would also flush; the files we install have no flush.
    unsafe { bindings::fput(f) };
    ours
}

/// Sends SIGKILL to the current process's process group.
pub(crate) fn kill_current_pgrp() {
    // `task_pgrp()` (an inline): the group's `struct pid`, stable under RCU.
    let _rcu = kernel::sync::rcu::read_lock();
    // SAFETY: the current task and its `signal` are live while it runs; the
    // pid it points to is protected by the RCU read lock we hold, and
    // `kill_pgrp` takes its own locks.
    unsafe {
        let signal = (*bindings::get_current()).signal;
        let pgrp = (*signal).pids[bindings::pid_type_PIDTYPE_PGID as usize];
        bindings::kill_pgrp(pgrp, 9, 1);
    }
}
