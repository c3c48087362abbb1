// SPDX-License-Identifier: GPL-2.0

//! The sysfs FFI edge: kobject directories and attributes.
//!
//! The `kernel` crate has no sysfs abstraction, so this file holds the small
//! amount of `unsafe` needed to create directories under `/sys/kernel/` and
//! attach static attribute groups to them, behind safe types: [`Dir`] (a
//! directory, removed on drop), [`Attr`] (one attribute with safe `show` and
//! `store` callbacks), [`AttrList`] and [`Group`]. Nothing else in the crate
//! touches kobjects.

use core::{fmt, ptr::NonNull};
use kernel::ffi::c_char;
use kernel::{bindings, error::to_result, page::PAGE_SIZE, prelude::*};

/// Identifies the directory a callback was invoked for, so attributes shared
/// by many directories (one per context) can find their object.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) struct DirKey(usize);

/// The page a `show` callback writes into.
pub(crate) struct ShowBuf<'a> {
    page: &'a mut [u8],
    len: usize,
}

impl ShowBuf<'_> {
    /// Appends formatted text and a newline; fails with `EFBIG` if the page
    /// is full (sysfs values are one short line, so that is a bug).
    pub(crate) fn line(&mut self, args: fmt::Arguments<'_>) -> Result {
        fmt::Write::write_fmt(self, args).map_err(|_| EFBIG)?;
        fmt::Write::write_str(self, "\n").map_err(|_| EFBIG)
    }
}

impl ShowBuf<'_> {
    /// Appends formatted text without a newline.
    pub(crate) fn text(&mut self, args: fmt::Arguments<'_>) -> Result {
        fmt::Write::write_fmt(self, args).map_err(|_| EFBIG)
    }
}

impl fmt::Write for ShowBuf<'_> {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        let end = self.len.checked_add(s.len()).ok_or(fmt::Error)?;
        let dst = self.page.get_mut(self.len..end).ok_or(fmt::Error)?;
        dst.copy_from_slice(s.as_bytes());
        self.len = end;
        Ok(())
    }
}

/// A `show` callback.
pub(crate) type ShowFn = fn(DirKey, &mut ShowBuf<'_>) -> Result;
/// A `store` callback: gets the bytes written (at most one page).
pub(crate) type StoreFn = fn(DirKey, &[u8]) -> Result;

/// One sysfs attribute.
///
/// # Invariants
///
/// `raw` is the first field of this `#[repr(C)]` struct, so a pointer to
/// `raw` handed to the trampolines is a pointer to the whole `Attr`; `raw`'s
/// show/store point at the trampolines exactly when `show`/`store` are set.
#[repr(C)]
pub(crate) struct Attr {
    raw: bindings::kobj_attribute,
    show: Option<ShowFn>,
    store: Option<StoreFn>,
}

// SAFETY: an `Attr` is immutable after construction; the kernel only reads
// it (the name, the mode, the callbacks), from any thread.
unsafe impl Sync for Attr {}

impl Attr {
    const fn build(
        name: &'static CStr,
        mode: u16,
        show: Option<ShowFn>,
        store: Option<StoreFn>,
    ) -> Self {
        let mut raw: bindings::kobj_attribute = pin_init::zeroed();
        raw.attr.name = kernel::str::as_char_ptr_in_const_context(name);
        raw.attr.mode = mode;
        if show.is_some() {
            raw.__bindgen_anon_1.show = Some(show_trampoline);
        }
        if store.is_some() {
            raw.__bindgen_anon_2.store = Some(store_trampoline);
        }
        // INVARIANT: the trampolines are set exactly for the callbacks given.
        Self { raw, show, store }
    }

    /// A world-readable attribute (mode 0444).
    pub(crate) const fn read_only(name: &'static CStr, show: ShowFn) -> Self {
        Self::build(name, 0o444, Some(show), None)
    }

    /// A world-readable attribute that root may write (mode 0644). sysfs
    /// itself checks the mode; `store` callbacks check `CAP_SYS_ADMIN`.
    pub(crate) const fn read_write(name: &'static CStr, show: ShowFn, store: StoreFn) -> Self {
        Self::build(name, 0o644, Some(show), Some(store))
    }

    /// A write-only attribute for root (mode 0200).
    pub(crate) const fn write_only(name: &'static CStr, store: StoreFn) -> Self {
        Self::build(name, 0o200, None, Some(store))
    }
}

/// # Safety
///
/// Called by sysfs with `attr` pointing at the `raw` field of a registered
/// [`Attr`] and `buf` at a zeroed page.
unsafe extern "C" fn show_trampoline(
    kobj: *mut bindings::kobject,
    attr: *mut bindings::kobj_attribute,
    buf: *mut c_char,
) -> isize {
    // SAFETY: by the type invariant of `Attr`, `attr` points at the first
    // field of an `Attr`, which lives in a static.
    let attr = unsafe { &*attr.cast::<Attr>() };
    // SAFETY: sysfs passes a buffer of `PAGE_SIZE` bytes, ours alone until we
    // return.
    let page = unsafe { core::slice::from_raw_parts_mut(buf.cast::<u8>(), PAGE_SIZE) };
    let mut out = ShowBuf { page, len: 0 };
    let res = match attr.show {
        Some(show) => show(DirKey(kobj as usize), &mut out),
        None => Err(EIO),
    };
    match res {
        // `len` is at most `PAGE_SIZE`.
        Ok(()) => out.len as isize,
        Err(e) => e.to_errno() as isize,
    }
}

/// # Safety
///
/// Called by sysfs with `attr` pointing at the `raw` field of a registered
/// [`Attr`] and `buf` at `count` readable bytes.
unsafe extern "C" fn store_trampoline(
    kobj: *mut bindings::kobject,
    attr: *mut bindings::kobj_attribute,
    buf: *const c_char,
    count: usize,
) -> isize {
    // SAFETY: as in `show_trampoline`.
    let attr = unsafe { &*attr.cast::<Attr>() };
    // SAFETY: sysfs passes `count` (at most a page) readable bytes that stay
    // valid until we return.
    let input = unsafe { core::slice::from_raw_parts(buf.cast::<u8>(), count) };
    let res = match attr.store {
        Some(store) => store(DirKey(kobj as usize), input),
        None => Err(EIO),
    };
    match res {
        Ok(()) => count as isize,
        Err(e) => e.to_errno() as isize,
    }
}

/// A NULL-terminated array of `N` attributes, as an attribute group wants it.
///
/// # Invariants
///
/// `ptrs` point at the `attr` fields of static [`Attr`]s and `end` is NULL;
/// `#[repr(C)]` places `end` right after `ptrs`, with no padding (same type).
#[repr(C)]
pub(crate) struct AttrList<const N: usize> {
    ptrs: [*const bindings::attribute; N],
    end: *const bindings::attribute,
}

// SAFETY: immutable after construction, and only read by the kernel.
unsafe impl<const N: usize> Sync for AttrList<N> {}

impl<const N: usize> AttrList<N> {
    /// Lists the given attributes.
    pub(crate) const fn new(attrs: [&'static Attr; N]) -> Self {
        let mut ptrs = [core::ptr::null(); N];
        let mut i = 0;
        while i < N {
            ptrs[i] = &attrs[i].raw.attr;
            i += 1;
        }
        // INVARIANT: every pointer comes from a static `Attr`; `end` is NULL.
        Self {
            ptrs,
            end: core::ptr::null(),
        }
    }
}

/// An attribute group: the files of one directory.
#[repr(transparent)]
pub(crate) struct Group(bindings::attribute_group);

// SAFETY: immutable after construction, and only read by the kernel.
unsafe impl Sync for Group {}

impl Group {
    /// A group without a subdirectory name, holding the attributes of `list`.
    pub(crate) const fn new<const N: usize>(list: &'static AttrList<N>) -> Self {
        let mut raw: bindings::attribute_group = pin_init::zeroed();
        raw.__bindgen_anon_2.attrs_const = list.ptrs.as_ptr();
        Self(raw)
    }
}

/// A directory in sysfs.
///
/// # Invariants
///
/// `kobj` is a kobject made by `kobject_create_and_add` of which this value
/// owns one reference; dropping it puts that reference, which removes the
/// directory and its files once nothing else holds the kobject.
pub(crate) struct Dir {
    kobj: NonNull<bindings::kobject>,
}

// SAFETY: kobjects are reference counted and their functions may be called
// from any thread; `Dir` has no other state.
unsafe impl Send for Dir {}
// SAFETY: `&Dir` only allows adding groups, which sysfs serialises itself.
unsafe impl Sync for Dir {}

impl Dir {
    fn create(name: &CStr, parent: *mut bindings::kobject) -> Result<Self> {
        // SAFETY: `name` is a valid C string, copied by the callee; `parent`
        // is a live kobject (the caller holds it).
        let kobj = unsafe { bindings::kobject_create_and_add(name.as_char_ptr(), parent) };
        // INVARIANT: on success we own the one reference it returned.
        NonNull::new(kobj).map(|kobj| Self { kobj }).ok_or(ENOMEM)
    }

    /// Creates `/sys/kernel/<name>`. Fails (with a warning from sysfs) if
    /// the name is taken.
    pub(crate) fn new_in_kernel_kobj(name: &CStr) -> Result<Self> {
        // SAFETY: `kernel_kobj` is set up at boot before any module loads and
        // never freed; reading the pointer is a plain load.
        let parent = unsafe { bindings::kernel_kobj };
        Self::create(name, parent)
    }

    /// Another owner of the same directory (takes a kobject reference).
    pub(crate) fn clone_ref(&self) -> Self {
        // SAFETY: `kobj` is live (type invariant); `kobject_get` returns it
        // with one more reference, which the new value owns.
        let kobj = unsafe { bindings::kobject_get(self.kobj.as_ptr()) };
        // INVARIANT: the new value owns the reference just taken.
        Self {
            kobj: NonNull::new(kobj).unwrap_or(self.kobj),
        }
    }

    /// Creates a subdirectory `name` of this directory.
    pub(crate) fn new_child(&self, name: &CStr) -> Result<Self> {
        Self::create(name, self.kobj.as_ptr())
    }

    /// The key `show`/`store` callbacks receive for files of this directory.
    pub(crate) fn key(&self) -> DirKey {
        DirKey(self.kobj.as_ptr() as usize)
    }

    /// Adds the files of `group` to this directory.
    pub(crate) fn add_group(&self, group: &'static Group) -> Result {
        // SAFETY: `kobj` is live (type invariant); `group` is static.
        to_result(unsafe { bindings::sysfs_create_group(self.kobj.as_ptr(), &group.0) })
    }
}

impl Drop for Dir {
    fn drop(&mut self) {
        // SAFETY: we own one reference (type invariant) and give it back once.
        unsafe { bindings::kobject_put(self.kobj.as_ptr()) };
    }
}
