// SPDX-License-Identifier: GPL-2.0

//! The proxy nodes' FFI edge: a misc-device registration with our own
//! `file_operations`, generic over the file type behind it ([`FileOps`]).
//!
//! The `kernel` crate's `MiscDevice` trait has no `poll` (the vendor's files
//! have one) and takes only `'static` names, so nodes are registered here,
//! as Rust Binder does: one static `file_operations` table per file type
//! ([`Fops::new`], placed in a `static` by the user so that its address is
//! unique and [`as_ours`] can recognise the files) whose entry points turn
//! raw pointers into safe values and call the type's [`FileOps`]. A node's
//! name contains `/`, so devtmpfs creates it as `/dev/fakegpu/<ctx>/<node>`.
//!
//! `misc_open` holds the global `misc_mtx` while it calls our open, and
//! `misc_deregister` takes it too: a [`NodeRegistration`] must never be
//! dropped while holding a lock that the open path takes.

use core::marker::PhantomData;
use kernel::{
    bindings,
    ffi::{c_int, c_uint, c_ulong},
    fs::{File, LocalFile},
    module::this_module,
    prelude::*,
    str::CString,
    sync::{Arc, ArcBorrow},
    types::{ForeignOwnable, Opaque},
};

/// A file type opened through a registered node.
pub(crate) trait FileOps: Send + Sync + Sized + 'static {
    /// What each node stands for (handed to `open`).
    type Node: Send + Sync;
    /// The one `file_operations` table of this type (a `static` of
    /// [`Fops::new`]).
    const FOPS: &'static Fops;
    /// Opens a file of `node` for `file`.
    fn open(node: &Arc<Self::Node>, file: &File) -> Result<Arc<Self>>;
    /// The last reference to the file went.
    fn release(this: Arc<Self>);
    /// An ioctl.
    fn ioctl(&self, cmd: u32, arg: usize) -> Result<isize>;
    /// An mmap.
    ///
    /// # Safety
    ///
    /// `vma` is the vma being set up for this file by the VFS.
    unsafe fn mmap(&self, vma: *mut bindings::vm_area_struct) -> Result;
    /// A poll.
    ///
    /// # Safety
    ///
    /// `pt` is the poll table of this poll call.
    unsafe fn poll(&self, pt: *mut bindings::poll_table_struct) -> bindings::__poll_t;
}

/// A `file_operations` table, usable as a `static`.
#[repr(transparent)]
pub(crate) struct Fops(bindings::file_operations);
// SAFETY: the table is immutable and only read by the kernel.
unsafe impl Sync for Fops {}

impl Fops {
    /// The table of file type `T`.
    pub(crate) const fn new<T: FileOps>() -> Self {
        Fops(bindings::file_operations {
            owner: this_module::<crate::LocalModule>().as_ptr(),
            open: Some(node_open::<T>),
            release: Some(node_release::<T>),
            unlocked_ioctl: Some(node_ioctl::<T>),
            // The vendor uses one handler for both; parameter blocks have the
            // same layout for 32-bit callers.
            compat_ioctl: Some(node_ioctl::<T>),
            mmap: Some(node_mmap::<T>),
            poll: Some(node_poll::<T>),
            ..pin_init::zeroed()
        })
    }
}

/// One registered node.
///
/// # Invariants
///
/// `misc` is registered with `misc_register` (name pointing into `name`,
/// fops `T::FOPS`) from construction until drop.
#[pin_data(PinnedDrop)]
pub(crate) struct NodeRegistration<T: FileOps> {
    #[pin]
    misc: Opaque<bindings::miscdevice>,
    node: Arc<T::Node>,
    // Dropped after `misc` is deregistered (fields drop after `drop()`).
    name: CString,
    _file: PhantomData<T>,
}

// SAFETY: after registration the miscdevice is only touched by the misc core
// under its own lock; `node` and `name` are `Send`/`Sync`.
unsafe impl<T: FileOps> Send for NodeRegistration<T> {}
// SAFETY: as above; shared references expose nothing mutable.
unsafe impl<T: FileOps> Sync for NodeRegistration<T> {}

impl<T: FileOps> NodeRegistration<T> {
    /// Registers `/dev/<name>` (e.g. `fakegpu/ctx/nvidiactl`) with mode 0666
    /// for `node`.
    pub(crate) fn register(name: CString, node: Arc<T::Node>) -> Result<Pin<KBox<Self>>> {
        let name_ptr = name.as_char_ptr();
        KBox::try_pin_init(
            try_pin_init!(Self {
                misc <- Opaque::try_ffi_init(move |slot: *mut bindings::miscdevice| {
                    // SAFETY: `slot` is valid for writes; all-zeroes is a
                    // valid `miscdevice` to start from.
                    unsafe {
                        slot.write(pin_init::zeroed());
                        (*slot).minor = bindings::MISC_DYNAMIC_MINOR as c_int;
                        (*slot).name = name_ptr;
                        (*slot).fops = &T::FOPS.0;
                        (*slot).mode = 0o666;
                    }
                    // SAFETY: `slot` is pinned (inside the pinned box) and
                    // stays valid until `misc_deregister` in drop; the name
                    // lives in `name`, dropped after that.
                    kernel::error::to_result(unsafe { bindings::misc_register(slot) })
                }),
                node,
                name,
                _file: PhantomData,
            }),
            GFP_KERNEL,
        )
    }
}

#[pinned_drop]
impl<T: FileOps> PinnedDrop for NodeRegistration<T> {
    fn drop(self: Pin<&mut Self>) {
        // SAFETY: registered since construction (type invariant). After this
        // returns no open can be running on it or start.
        unsafe { bindings::misc_deregister(self.misc.get()) };
    }
}

/// The file of type `T` behind `file`, if `file` is one of ours.
pub(crate) fn as_ours<T: FileOps>(file: &LocalFile) -> Option<ArcBorrow<'_, T>> {
    // SAFETY: reading `f_op` of a file we hold a reference to.
    let fops = unsafe { (*file.as_ptr()).f_op };
    if !core::ptr::eq(fops, &T::FOPS.0) {
        return None;
    }
    // SAFETY: `T`'s fops: `private_data` holds the `Arc<T>` stored by
    // `node_open`, alive as long as the file, which `file` keeps.
    Some(unsafe { Arc::<T>::borrow((*file.as_ptr()).private_data.cast()) })
}

/// Calls `f` with every file of type `T` in the current thread's fd table
/// (one call per fd; a file held under two numbers is seen twice), under
/// the table's lock: `f` must not sleep.
pub(crate) fn for_each_held<T: FileOps>(f: &mut dyn FnMut(ArcBorrow<'_, T>)) {
    crate::vendor::walk_own_fds(&mut |file| {
        // SAFETY: `file` is live for the call (`walk_own_fds`).
        if core::ptr::eq(unsafe { (*file).f_op }, &T::FOPS.0) {
            // SAFETY: `T`'s fops: `private_data` holds the `Arc<T>` stored
            // by `node_open`, alive as long as the file, which the table
            // keeps while the walk holds its lock.
            f(unsafe { Arc::<T>::borrow((*file).private_data.cast()) });
        }
        false
    });
}

/// # Safety
///
/// Called by `misc_open` (under `misc_mtx`) with `file->private_data` set to
/// the `miscdevice` of one of our registrations of `T`.
unsafe extern "C" fn node_open<T: FileOps>(
    _inode: *mut bindings::inode,
    file: *mut bindings::file,
) -> c_int {
    // SAFETY: `misc_open` stored our registered miscdevice in private_data;
    // the registration cannot be deregistered while `misc_mtx` is held.
    let reg = unsafe {
        let misc = (*file).private_data.cast::<bindings::miscdevice>();
        &*kernel::container_of!(Opaque::cast_from(misc), NodeRegistration<T>, misc)
    };
    // SAFETY: `file` is a valid file being opened, used only during this call.
    let f = unsafe { File::from_raw_file(file) };
    match T::open(&reg.node, f) {
        Ok(pf) => {
            // SAFETY: we own private_data of our own files.
            unsafe { (*file).private_data = pf.into_foreign().cast() };
            0
        }
        Err(e) => e.to_errno(),
    }
}

/// # Safety
///
/// Called once per file opened by [`node_open`], when its last reference goes.
unsafe extern "C" fn node_release<T: FileOps>(
    _inode: *mut bindings::inode,
    file: *mut bindings::file,
) -> c_int {
    // SAFETY: private_data holds the `Arc` stored by `node_open`; release is
    // the last call on the file, so we take it back once.
    let pf = unsafe { Arc::<T>::from_foreign((*file).private_data.cast()) };
    T::release(pf);
    0
}

/// # Safety
///
/// Called by the VFS on a file opened by [`node_open`] of `T`.
unsafe fn borrow<'a, T: FileOps>(file: *mut bindings::file) -> ArcBorrow<'a, T> {
    // SAFETY: private_data holds the `Arc` stored by `node_open`, which
    // outlives every file operation but release.
    unsafe { Arc::<T>::borrow((*file).private_data.cast()) }
}

/// # Safety
///
/// Called by the VFS on a file opened by [`node_open`] of `T`.
unsafe extern "C" fn node_ioctl<T: FileOps>(
    file: *mut bindings::file,
    cmd: c_uint,
    arg: c_ulong,
) -> isize {
    // SAFETY: our file (caller).
    let pf = unsafe { borrow::<T>(file) };
    match pf.ioctl(cmd, arg) {
        Ok(v) => v,
        Err(e) => e.to_errno() as isize,
    }
}

/// # Safety
///
/// Called by the VFS's mmap on a file opened by [`node_open`] of `T`, with
/// the vma being set up.
unsafe extern "C" fn node_mmap<T: FileOps>(
    file: *mut bindings::file,
    vma: *mut bindings::vm_area_struct,
) -> c_int {
    // SAFETY: our file (caller).
    let pf = unsafe { borrow::<T>(file) };
    // SAFETY: `vma` is the vma being set up for this file (caller).
    match unsafe { pf.mmap(vma) } {
        Ok(()) => 0,
        Err(e) => e.to_errno(),
    }
}

/// # Safety
///
/// Called by the VFS's poll on a file opened by [`node_open`] of `T`.
unsafe extern "C" fn node_poll<T: FileOps>(
    file: *mut bindings::file,
    pt: *mut bindings::poll_table_struct,
) -> bindings::__poll_t {
    // SAFETY: our file (caller).
    let pf = unsafe { borrow::<T>(file) };
    // SAFETY: `pt` is the poll table of this call.
    unsafe { pf.poll(pt) }
}
