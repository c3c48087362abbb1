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

use crate::fgcore::drivers::Met;
use core::ptr::NonNull;
use kernel::{
    bindings,
    error::{from_err_ptr, to_result},
    ffi::{c_char, c_int, c_long, c_uint, c_ulong},
    fs::File,
    prelude::*,
    sync::aref::ARef,
    task::Task,
};

kernel::sync::global_lock! {
    // SAFETY: `init` is called in the module initializer, before first use.
    pub(crate) unsafe(uninit) static MET: Mutex<Option<Met>> = None;
}

/// Records the vendor driver a vendor file (or the kernel RM API) belongs
/// to, for sysfs `driver`.
pub(crate) fn note_driver(module: &[u8], version: &[u8]) {
    *MET.lock() = Some(Met::new(module, version));
}

/// The vendor driver met last, if any.
pub(crate) fn met() -> Option<Met> {
    *MET.lock()
}

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

/// `MNT_NODEV` of `include/linux/mount.h`.
const MNT_NODEV: c_int = 0x02;

/// A path to a vendor device node, resolved once, on a private mount of
/// our own that forbids opening device nodes.
///
/// Files are opened through it with `dentry_open`, which does not check
/// `nodev`; but a file opened through it that a container manages to see
/// (for example as `/proc/<pid>/fd/N` while an fd is translated) cannot be
/// opened again through that magic link: the VFS refuses to open a device
/// node on a `nodev` mount (`may_open_dev`), so no second, unproxied
/// vendor file can come of it.
///
/// # Invariants
///
/// `mnt` is a long-term private clone (`clone_private_mount`) of the mount
/// the node was found on, rooted at the node's dentry, with `MNT_NODEV`
/// set; we own it and release it once with `kern_unmount` in `Drop`.
pub(crate) struct VendorPath {
    mnt: NonNull<bindings::vfsmount>,
    /// The node's device number (as resolved).
    rdev: u32,
}

// SAFETY: a long-term mount may be used and released from any thread.
unsafe impl Send for VendorPath {}
// SAFETY: shared use only reads the mount (`dentry_open`).
unsafe impl Sync for VendorPath {}

impl VendorPath {
    /// Resolves `name` in the caller's mount namespace (which must be the
    /// one the caller administers: the clone needs CAP_SYS_ADMIN over it).
    /// The node must be a character device.
    pub(crate) fn resolve(name: &CStr) -> Result<Self> {
        let mut path: bindings::path = pin_init::zeroed();
        // SAFETY: `name` is a valid C string; `path` is writable.
        to_result(unsafe { kern_path(name.as_char_ptr(), LOOKUP_FOLLOW, &mut path) })?;
        // SAFETY: `kern_path` succeeded: we hold references on the path's
        // mount and dentry, a positive dentry with an inode. The clone
        // takes its own references; ours are dropped once, right after.
        let (mode, rdev, mnt) = unsafe {
            let inode = (*path.dentry).d_inode;
            let (mode, rdev) = ((*inode).i_mode, (*inode).i_rdev);
            let mnt = bindings::clone_private_mount(&path);
            bindings::path_put(&path);
            (mode, rdev, mnt)
        };
        let mnt = NonNull::new(from_err_ptr(mnt)?).ok_or(ENODEV)?;
        // SAFETY: the clone is ours alone (in no namespace, reachable by no
        // path walk until files are opened through it), so setting a flag
        // races with nobody.
        unsafe { (*mnt.as_ptr()).mnt_flags |= MNT_NODEV };
        // INVARIANT: a private clone we own, rooted at the node, nodev.
        let this = Self { mnt, rdev };
        if u32::from(mode) & S_IFMT != S_IFCHR {
            return Err(ENODEV);
        }
        Ok(this)
    }

    /// The node's device number (the vendor's, shown to containers by
    /// fakegpufs).
    pub(crate) fn rdev(&self) -> u32 {
        self.rdev
    }

    /// Opens the node with `flags` (the proxy file's open flags) and the
    /// opener's credentials.
    pub(crate) fn open(&self, opener: &File) -> Result<VendorFile> {
        let flags = opener.flags() as c_int;
        let mnt = self.mnt.as_ptr();
        // SAFETY: the mount is live (type invariant) and pins its root.
        let dentry = unsafe { (*mnt).mnt_root };
        let path = bindings::path { mnt, dentry };
        // SAFETY: `path` is live; the credentials are those of a live file.
        let raw = unsafe { bindings::dentry_open(&path, flags, opener.cred().as_ptr()) };
        let raw = from_err_ptr(raw)?;
        let raw = NonNull::new(raw).ok_or(ENODEV)?;
        // SAFETY: `dentry_open` returned a new file with one reference, in no
        // fd table, which we take over; no `fdget_pos` can exist on it.
        let file = unsafe { ARef::from_raw(raw.cast::<File>()) };
        Ok(VendorFile { file })
    }
}

impl Drop for VendorPath {
    fn drop(&mut self) {
        // SAFETY: we own the long-term mount (type invariant) and release it
        // once; open files keep their own references to it.
        unsafe { bindings::kern_unmount(self.mnt.as_ptr()) };
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

    /// The vendor file's operations (to recognize its mappings).
    pub(crate) fn fops_ptr(&self) -> *const bindings::file_operations {
        self.fops()
    }

    /// The vendor file itself (for fd translation).
    pub(crate) fn file(&self) -> &ARef<File> {
        &self.file
    }

    /// Whether the calling thread's fd table holds a file of the vendor's
    /// driver with this file's operations (a host process that uses the
    /// vendor's node directly, besides a context). Walks the table once.
    pub(crate) fn held_directly(&self) -> bool {
        let ours: *const bindings::file_operations = self.fops();
        walk_own_fds(&mut |file| {
            // SAFETY: `file` is live for the call ([`walk_own_fds`]).
            core::ptr::eq(unsafe { (*file).f_op }, ours)
        })
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
            let version = if v.is_null() {
                &b""[..]
            } else {
                CStr::from_char_ptr(v).to_bytes()
            };
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
        Ok(ret)
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

/// Calls `f` with every file of the calling thread's fd table (once per fd
/// number) until it returns true, under the table's spinlock (`f` must not
/// sleep); returns whether it did. The pointer `f` gets is valid for that
/// call only.
pub(crate) fn walk_own_fds(f: &mut dyn FnMut(*mut bindings::file) -> bool) -> bool {
    /// # Safety
    ///
    /// Called by `iterate_fd` with `data` the `&mut &mut dyn FnMut` below
    /// and `file` a file of the table, alive while the walk holds its lock.
    unsafe extern "C" fn visit(
        data: *const core::ffi::c_void,
        file: *mut bindings::file,
        _fd: c_uint,
    ) -> c_int {
        // SAFETY: `data` is the closure reference passed below, used by
        // this walk alone.
        let f = unsafe {
            &mut *data
                .cast::<&mut dyn FnMut(*mut bindings::file) -> bool>()
                .cast_mut()
        };
        c_int::from(f(file))
    }
    // SAFETY: process context: `current`'s `files` is live while it runs
    // (NULL only for kernel threads, which hold no files).
    let files = unsafe { (*bindings::get_current()).files };
    if files.is_null() {
        return false;
    }
    let mut f = f;
    // SAFETY: `files` is the current thread's table; `visit` is a valid
    // callback and `f` outlives the walk.
    unsafe { bindings::iterate_fd(files, 0, Some(visit), (&raw mut f).cast_const().cast()) != 0 }
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
        bindings::kill_pgrp(pgrp, bindings::SIGKILL as c_int, 1);
    }
}

/// Whether `task` still has a thread-group id (it has not been reaped).
pub(crate) fn task_alive(task: &Task) -> bool {
    // SAFETY: `task` is a live task_struct (a reference is held);
    // `__task_pid_nr_ns` reads its pid under RCU itself and answers 0 for
    // a task whose pids are gone; `init_pid_ns` is a static.
    let nr = unsafe {
        bindings::__task_pid_nr_ns(
            task.as_ptr(),
            bindings::pid_type_PIDTYPE_TGID,
            &raw mut bindings::init_pid_ns,
        )
    };
    nr != 0
}

/// Sends SIGKILL to every thread of `task`'s process.
pub(crate) fn kill_process(task: &Task) {
    // SAFETY: `task` is a live task_struct; `get_task_pid` takes a
    // reference on its tgid's `struct pid` (or returns null for a task
    // whose pids are gone), which `kill_pid` uses and `put_pid` drops.
    unsafe {
        let pid = bindings::get_task_pid(task.as_ptr(), bindings::pid_type_PIDTYPE_TGID);
        if !pid.is_null() {
            bindings::kill_pid(pid, bindings::SIGKILL as c_int, 1);
            bindings::put_pid(pid);
        }
    }
}

/// `NR_OPEN_DEFAULT`: the fd slots of a table's embedded array.
const NR_OPEN_DEFAULT: u32 = 64;

/// A private fd table the current thread runs on while the vendor looks up
/// a translated fd (see `docs/fd-translation.md`).
///
/// The vendor finds fds in `current->files`. Installing its file in the
/// caller's own table would show it to every thread sharing that table, to
/// `/proc/<pid>/fd` and to `pidfd_getfd`. Instead, for the duration of one
/// call, the calling thread alone runs on a fresh, empty table that holds
/// nothing but the vendor file:
///
/// - other threads keep their (shared) table and never see the number;
/// - `/proc/<pid>/task/<tid>/fd` shows it, but a device node cannot be
///   reopened through that link (the vendor file lives on a `nodev` mount,
///   see [`VendorPath`]);
/// - `pidfd_getfd` and `kcmp` on the thread, and `/proc/<pid>/mem`, wait for
///   the task's `exec_update_lock`, which we hold for writing meanwhile.
///
/// # Invariants
///
/// While a `PrivateFds` exists: `task` is the current task and runs on
/// `table` (`task->files == table`), `saved` is the table it ran on before,
/// and we hold `task->signal->exec_update_lock` for writing. `table` is
/// initialized like `init_files`, with its embedded fdtable; nobody else
/// holds a reference to it (its count stays 1). Not `Send`: it must be
/// dropped by the thread that made it.
pub(crate) struct PrivateFds {
    table: KBox<bindings::files_struct>,
    saved: *mut bindings::files_struct,
    task: *mut bindings::task_struct,
}

impl PrivateFds {
    /// Switches the current thread to a private, empty fd table.
    pub(crate) fn enter() -> Result<Self> {
        // SAFETY: `get_current` is always valid in process context.
        let task = unsafe { bindings::get_current() };
        let table = KBox::<bindings::files_struct>::new_uninit(GFP_KERNEL | __GFP_ZERO)?;
        // SAFETY: all-zeroes is a valid bit pattern for `files_struct`
        // (integers, pointers, locks to be initialized below).
        let mut table = unsafe { table.assume_init() };
        let t: *mut bindings::files_struct = &mut *table;
        // SAFETY: `t` points at our zeroed, boxed (so not moving) table. We
        // initialize it as `INIT_FILES` does: count 1, the embedded fdtable
        // of NR_OPEN_DEFAULT slots, an initialized lock and wait queue.
        unsafe {
            (*t).count.counter = 1;
            bindings::__init_waitqueue_head(
                &raw mut (*t).resize_wait,
                c"fakegpu_private_fds.resize_wait".as_char_ptr(),
                kernel::static_lock_class!().as_ptr(),
            );
            bindings::__spin_lock_init(
                &raw mut (*t).file_lock,
                c"fakegpu_private_fds.file_lock".as_char_ptr(),
                kernel::static_lock_class!().as_ptr(),
            );
            let fdt = &raw mut (*t).fdtab;
            (*fdt).max_fds = NR_OPEN_DEFAULT;
            (*fdt).fd = (&raw mut (*t).fd_array).cast();
            (*fdt).close_on_exec = (&raw mut (*t).close_on_exec_init).cast();
            (*fdt).open_fds = (&raw mut (*t).open_fds_init).cast();
            (*fdt).full_fds_bits = (&raw mut (*t).full_fds_bits_init).cast();
            (*t).fdt = fdt;
        }
        // SAFETY: the current task's `signal` is live while it runs.
        let sem = unsafe { &raw mut (*(*task).signal).exec_update_lock };
        // SAFETY: `sem` is a live rwsem; released in `Drop`.
        to_result(unsafe { bindings::down_write_killable(sem) })?;
        // SAFETY: `task_lock` (the task's `alloc_lock`) orders the switch
        // against every reader of another task's `files` (`fget_task`,
        // `/proc`, `kcmp`); the task itself is this thread.
        let saved = unsafe {
            bindings::spin_lock(&raw mut (*task).alloc_lock);
            let saved = (*task).files;
            (*task).files = t;
            bindings::spin_unlock(&raw mut (*task).alloc_lock);
            saved
        };
        // INVARIANT: the task runs on `table`, `saved` was its table, and we
        // hold the rwsem for writing.
        Ok(Self { table, saved, task })
    }
}

impl Drop for PrivateFds {
    fn drop(&mut self) {
        let t: *mut bindings::files_struct = &mut *self.table;
        let task = self.task;
        // SAFETY: as in `enter`: switching back under `task_lock`; after it,
        // no reader can reach `t` any more (they all go through
        // `task->files` under that lock).
        unsafe {
            bindings::spin_lock(&raw mut (*task).alloc_lock);
            (*task).files = self.saved;
            bindings::spin_unlock(&raw mut (*task).alloc_lock);
        }
        // Whatever is still in the table (normally nothing: the caller closed
        // its temporary fd) is released; the table never grows past its
        // embedded array for the one fd we install.
        // SAFETY: the table is ours alone now (type invariant, switched
        // back); its slots hold file references owned by the table.
        unsafe {
            if !core::ptr::eq((*t).fdt, &raw const (*t).fdtab) {
                pr_err!("fakegpu: private fd table grew; its array is leaked\n");
            } else {
                for slot in (*t).fd_array.iter_mut() {
                    if !slot.is_null() {
                        bindings::fput(*slot);
                        *slot = core::ptr::null_mut();
                    }
                }
            }
            // SAFETY: taken for writing in `enter` (type invariant).
            bindings::up_write(&raw mut (*(*task).signal).exec_update_lock);
        }
    }
}
