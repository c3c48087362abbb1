// SPDX-License-Identifier: GPL-2.0

//! The proxy nodes' FFI edge: a misc-device registration with our own
//! `file_operations`.
//!
//! The `kernel` crate's `MiscDevice` trait has no `poll` (the vendor's files
//! have one) and takes only `'static` names, so the proxy registers its
//! nodes itself, as Rust Binder does: one static `file_operations` table
//! whose entry points turn raw pointers into safe values and call
//! [`crate::proxy`]. A node's name contains `/`, so devtmpfs creates it as
//! `/dev/fakegpu/<ctx>/<node>`.
//!
//! `misc_open` holds the global `misc_mtx` while it calls our open, and
//! `misc_deregister` takes it too: a [`NodeRegistration`] must never be
//! dropped while holding a lock that the open path takes.

use crate::proxy::{Node, ProxyFile};
use kernel::{
    bindings,
    ffi::{c_int, c_uint, c_ulong},
    fs::{File, LocalFile},
    module::this_module,
    prelude::*,
    str::CString,
    sync::Arc,
    types::{ForeignOwnable, Opaque},
};

/// Makes a C table usable as a `static`.
#[repr(transparent)]
struct AssertSync<T>(T);
// SAFETY: the table is immutable and only read by the kernel.
unsafe impl<T> Sync for AssertSync<T> {}

static PROXY_FOPS: AssertSync<bindings::file_operations> = AssertSync(bindings::file_operations {
    owner: this_module::<crate::LocalModule>().as_ptr(),
    open: Some(proxy_open),
    release: Some(proxy_release),
    unlocked_ioctl: Some(proxy_ioctl),
    // The vendor uses one handler for both; parameter blocks have the same
    // layout for 32-bit callers.
    compat_ioctl: Some(proxy_ioctl),
    mmap: Some(proxy_mmap),
    poll: Some(proxy_poll),
    // SAFETY: all-zeroes is a valid `file_operations` (no handler).
    ..unsafe { core::mem::zeroed() }
});

/// One registered node.
///
/// # Invariants
///
/// `misc` is registered with `misc_register` (name pointing into `name`,
/// fops [`PROXY_FOPS`]) from construction until drop.
#[pin_data(PinnedDrop)]
pub(crate) struct NodeRegistration {
    #[pin]
    misc: Opaque<bindings::miscdevice>,
    node: Arc<Node>,
    // Dropped after `misc` is deregistered (fields drop after `drop()`).
    name: CString,
}

// SAFETY: after registration the miscdevice is only touched by the misc core
// under its own lock; `node` and `name` are `Send`/`Sync`.
unsafe impl Send for NodeRegistration {}
// SAFETY: as above; shared references expose nothing mutable.
unsafe impl Sync for NodeRegistration {}

impl NodeRegistration {
    /// Registers `/dev/<name>` (e.g. `fakegpu/ctx/nvidiactl`) with mode 0666
    /// for `node`.
    pub(crate) fn register(name: CString, node: Arc<Node>) -> Result<Pin<KBox<Self>>> {
        let name_ptr = name.as_char_ptr();
        KBox::try_pin_init(
            try_pin_init!(Self {
                misc <- Opaque::try_ffi_init(move |slot: *mut bindings::miscdevice| {
                    // SAFETY: `slot` is valid for writes; all-zeroes is a
                    // valid `miscdevice` to start from.
                    unsafe {
                        slot.write(core::mem::zeroed());
                        (*slot).minor = bindings::MISC_DYNAMIC_MINOR as c_int;
                        (*slot).name = name_ptr;
                        (*slot).fops = &PROXY_FOPS.0;
                        (*slot).mode = 0o666;
                    }
                    // SAFETY: `slot` is pinned (inside the pinned box) and
                    // stays valid until `misc_deregister` in drop; the name
                    // lives in `name`, dropped after that.
                    kernel::error::to_result(unsafe { bindings::misc_register(slot) })
                }),
                node,
                name,
            }),
            GFP_KERNEL,
        )
    }
}

#[pinned_drop]
impl PinnedDrop for NodeRegistration {
    fn drop(self: Pin<&mut Self>) {
        // SAFETY: registered since construction (type invariant). After this
        // returns no open can be running on it or start.
        unsafe { bindings::misc_deregister(self.misc.get()) };
    }
}

/// The proxy file behind `file`, if `file` is one of ours.
pub(crate) fn as_proxy(file: &LocalFile) -> Option<kernel::sync::ArcBorrow<'_, ProxyFile>> {
    // SAFETY: reading `f_op` of a file we hold a reference to.
    let fops = unsafe { (*file.as_ptr()).f_op };
    if !core::ptr::eq(fops, &PROXY_FOPS.0) {
        return None;
    }
    // SAFETY: our fops: `private_data` holds the `Arc` stored by
    // `proxy_open`, alive as long as the file, which `file` keeps.
    Some(unsafe { Arc::<ProxyFile>::borrow((*file.as_ptr()).private_data.cast()) })
}

/// Calls `f` with every proxy file in the current thread's fd table (one
/// call per fd; a file held under two numbers is seen twice), under the
/// table's lock: `f` must not sleep.
pub(crate) fn for_each_held_proxy(f: &mut dyn FnMut(kernel::sync::ArcBorrow<'_, ProxyFile>)) {
    crate::vendor::walk_own_fds(&mut |file| {
        // SAFETY: `file` is live for the call (`walk_own_fds`).
        if core::ptr::eq(unsafe { (*file).f_op }, &PROXY_FOPS.0) {
            // SAFETY: our fops: `private_data` holds the `Arc` stored by
            // `proxy_open`, alive as long as the file, which the table keeps
            // while the walk holds its lock.
            f(unsafe { Arc::<ProxyFile>::borrow((*file).private_data.cast()) });
        }
        false
    });
}

/// # Safety
///
/// Called by `misc_open` (under `misc_mtx`) with `file->private_data` set to
/// the `miscdevice` of one of our registrations.
unsafe extern "C" fn proxy_open(_inode: *mut bindings::inode, file: *mut bindings::file) -> c_int {
    // SAFETY: `misc_open` stored our registered miscdevice in private_data;
    // the registration cannot be deregistered while `misc_mtx` is held.
    let reg = unsafe {
        let misc = (*file).private_data.cast::<bindings::miscdevice>();
        &*kernel::container_of!(Opaque::cast_from(misc), NodeRegistration, misc)
    };
    // SAFETY: `file` is a valid file being opened, used only during this call.
    let f = unsafe { File::from_raw_file(file) };
    match ProxyFile::open(&reg.node, f) {
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
/// Called once per file opened by [`proxy_open`], when its last reference goes.
unsafe extern "C" fn proxy_release(
    _inode: *mut bindings::inode,
    file: *mut bindings::file,
) -> c_int {
    // SAFETY: private_data holds the `Arc` stored by `proxy_open`; release is
    // the last call on the file, so we take it back once.
    let pf = unsafe { Arc::<ProxyFile>::from_foreign((*file).private_data.cast()) };
    pf.release();
    0
}

/// # Safety
///
/// Called by the VFS on a file opened by [`proxy_open`].
unsafe fn borrow_pf<'a>(file: *mut bindings::file) -> kernel::sync::ArcBorrow<'a, ProxyFile> {
    // SAFETY: private_data holds the `Arc` stored by `proxy_open`, which
    // outlives every file operation but release.
    unsafe { Arc::<ProxyFile>::borrow((*file).private_data.cast()) }
}

/// # Safety
///
/// Called by the VFS on a file opened by [`proxy_open`].
unsafe extern "C" fn proxy_ioctl(file: *mut bindings::file, cmd: c_uint, arg: c_ulong) -> isize {
    // SAFETY: our file (caller).
    let pf = unsafe { borrow_pf(file) };
    match pf.ioctl(cmd, arg) {
        Ok(v) => v,
        Err(e) => e.to_errno() as isize,
    }
}

/// # Safety
///
/// Called by the VFS's mmap on a file opened by [`proxy_open`], with the vma
/// being set up.
unsafe extern "C" fn proxy_mmap(
    file: *mut bindings::file,
    vma: *mut bindings::vm_area_struct,
) -> c_int {
    // SAFETY: our file (caller).
    let pf = unsafe { borrow_pf(file) };
    // SAFETY: `vma` is the vma being set up for this file (caller).
    match unsafe { pf.mmap(vma) } {
        Ok(()) => 0,
        Err(e) => e.to_errno(),
    }
}

/// # Safety
///
/// Called by the VFS's poll on a file opened by [`proxy_open`].
unsafe extern "C" fn proxy_poll(
    file: *mut bindings::file,
    pt: *mut bindings::poll_table_struct,
) -> bindings::__poll_t {
    // SAFETY: our file (caller).
    let pf = unsafe { borrow_pf(file) };
    // SAFETY: `pt` is the poll table of this call.
    unsafe { pf.poll(pt) }
}
