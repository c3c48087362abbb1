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
//!
//! The same nodes also appear in fakegpufs (`nodefs.c`, mounted at
//! `/sys/fs/fakegpu`): [`NodeFs`] registers the file system, [`FsDir`] is
//! a context's directory and [`FsDir::mknod`] one node in it, opened
//! through the same `file_operations` table with the node taken from the
//! inode (never looked up by number), and reporting to `stat` the number
//! of the vendor node it stands for.

use core::{marker::PhantomData, ptr::NonNull};
use kernel::{
    bindings,
    error::{from_err_ptr, to_result},
    ffi::{c_char, c_int, c_uint, c_ulong, c_void},
    fs::{File, LocalFile},
    module::this_module,
    prelude::*,
    str::{CStr, CString},
    sync::{Arc, ArcBorrow},
    types::{ForeignOwnable, Opaque},
};

/// `MINORBITS` of `include/linux/kdev_t.h`.
const MINORBITS: u32 = 20;

/// The kernel's `MKDEV(major, minor)`.
pub(crate) const fn mkdev(major: u32, minor: u32) -> u32 {
    (major << MINORBITS) | minor
}

/// The kernel's `MAJOR(dev)`.
pub(crate) const fn major(dev: u32) -> u32 {
    dev >> MINORBITS
}

#[allow(improper_ctypes)] // Kernel structs only travel by pointer.
extern "C" {
    // nodefs.c (prototypes in nodefs.h).
    fn fakegpu_nodefs_init() -> c_int;
    fn fakegpu_nodefs_exit();
    fn fakegpu_nodefs_node_of(inode: *mut bindings::inode) -> *const c_void;
    fn fakegpu_nodefs_mkdir(name: *const c_char) -> *mut bindings::dentry;
    fn fakegpu_nodefs_mknod(
        dir: *mut bindings::dentry,
        name: *const c_char,
        shown: u32,
        fops: *const bindings::file_operations,
        node: *mut c_void,
        put: unsafe extern "C" fn(*mut c_void),
    ) -> c_int;
    fn fakegpu_nodefs_rmdir(dir: *mut bindings::dentry);
}

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
/// Called by the VFS for a file being opened through `T::FOPS`: either by
/// `misc_open` (under `misc_mtx`) with `file->private_data` set to the
/// `miscdevice` of one of our registrations of `T`, or directly for an
/// inode of fakegpufs made by [`FsDir::mknod::<T>`].
unsafe extern "C" fn node_open<T: FileOps>(
    inode: *mut bindings::inode,
    file: *mut bindings::file,
) -> c_int {
    // SAFETY: `inode` is the inode being opened, alive for the call.
    let fs_node = unsafe { fakegpu_nodefs_node_of(inode) };
    // SAFETY: `file` is a valid file being opened, used only during this call.
    let f = unsafe { File::from_raw_file(file) };
    let opened = if fs_node.is_null() {
        // SAFETY: not a fakegpufs inode, so `misc_open` called us and
        // stored our registered miscdevice in private_data; the
        // registration cannot be deregistered while `misc_mtx` is held.
        let reg = unsafe {
            let misc = (*file).private_data.cast::<bindings::miscdevice>();
            &*kernel::container_of!(Opaque::cast_from(misc), NodeRegistration<T>, misc)
        };
        T::open(&reg.node, f)
    } else {
        // SAFETY: a fakegpufs inode opened through `T::FOPS` was made by
        // `FsDir::mknod::<T>`, whose node is an `Arc<T::Node>` the inode
        // owns until it is evicted, which the file being opened prevents.
        let node: Arc<T::Node> = unsafe { ArcBorrow::<T::Node>::from_raw(fs_node.cast()) }.into();
        T::open(&node, f)
    };
    match opened {
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

/// fakegpufs, registered (and `/sys/fs/fakegpu` made) while this lives.
///
/// # Invariants
///
/// `fakegpu_nodefs_init` succeeded and `fakegpu_nodefs_exit` has not run.
pub(crate) struct NodeFs(());

impl NodeFs {
    /// Registers the file system and its mount point.
    pub(crate) fn register() -> Result<Self> {
        // SAFETY: called once at module init, paired with the drop below.
        to_result(unsafe { fakegpu_nodefs_init() })?;
        // INVARIANT: registered.
        Ok(Self(()))
    }
}

impl Drop for NodeFs {
    fn drop(&mut self) {
        // SAFETY: registered (type invariant); no context directory exists
        // (each context holds the module) and no mount of it does (each
        // holds the module through the file system type).
        unsafe { fakegpu_nodefs_exit() };
    }
}

/// A context's directory in fakegpufs, removed with its nodes on drop.
///
/// # Invariants
///
/// `dir` was returned by `fakegpu_nodefs_mkdir` and is removed only by the
/// drop below; it stays valid until then (a persistent dentry that nothing
/// else removes: the tree has no operation that changes it).
pub(crate) struct FsDir {
    dir: NonNull<bindings::dentry>,
}

// SAFETY: the dentry is only passed to nodefs.c, which locks what it changes.
unsafe impl Send for FsDir {}
// SAFETY: as above.
unsafe impl Sync for FsDir {}

impl FsDir {
    /// Makes directory `name` (`EEXIST` if there is one).
    pub(crate) fn new(name: &CStr) -> Result<Self> {
        // SAFETY: `name` is a valid C string.
        let dir = from_err_ptr(unsafe { fakegpu_nodefs_mkdir(name.as_char_ptr()) })?;
        let dir = NonNull::new(dir).ok_or(ENOMEM)?;
        // INVARIANT: made by `fakegpu_nodefs_mkdir`.
        Ok(Self { dir })
    }

    /// Makes node `name`: a character device with a number of fakegpufs's
    /// own (which the device cgroup checks, and which opens nothing by
    /// number), opened through `T::FOPS` with `node`, reporting `shown` to
    /// `stat`.
    pub(crate) fn mknod<T: FileOps>(&self, name: &CStr, shown: u32, node: Arc<T::Node>) -> Result {
        let raw = Arc::into_raw(node);
        // SAFETY: `self.dir` is valid (type invariant); `raw` is an
        // `Arc<T::Node>` that the inode owns on success and `put_node::<T>`
        // releases; the fops table is `T`'s, so `node_open::<T>` finds a
        // `T::Node` in it.
        let r = unsafe {
            fakegpu_nodefs_mknod(
                self.dir.as_ptr(),
                name.as_char_ptr(),
                shown,
                &T::FOPS.0,
                raw.cast_mut().cast(),
                put_node::<T>,
            )
        };
        if r != 0 {
            // SAFETY: not taken by the inode: ours to release, once.
            drop(unsafe { Arc::from_raw(raw) });
        }
        to_result(r)
    }
}

impl Drop for FsDir {
    fn drop(&mut self) {
        // SAFETY: made by `fakegpu_nodefs_mkdir`, removed once (type
        // invariant). Inodes still reachable (a container's bind mount)
        // keep their node until they are evicted.
        unsafe { fakegpu_nodefs_rmdir(self.dir.as_ptr()) };
    }
}

/// # Safety
///
/// `node` came from `Arc::<T::Node>::into_raw` in [`FsDir::mknod::<T>`] and
/// is released once, when its inode is evicted.
unsafe extern "C" fn put_node<T: FileOps>(node: *mut c_void) {
    // SAFETY: see the function's contract.
    drop(unsafe { Arc::<T::Node>::from_raw(node.cast()) });
}
