// SPDX-License-Identifier: GPL-2.0

//! Page-backed memory of mappable RM objects (the FFI edge for page
//! contents and their user mappings): USERD, GPFIFO rings, semaphores and
//! doorbell pages live here, shared between user space (through mmap) and
//! the engine thread.
//!
//! Two kinds of user mapping, as nvidia.ko makes them:
//!
//! - [`Backing::map_into`]: `vm_insert_page` (`VM_MIXEDMAP`); the PTEs hold
//!   page references, so the pages outlive the mapping by themselves.
//! - [`Backing::map_pfn_into`]: the usermode (doorbell, 0xc661) region, a
//!   PFN mapping as the vendor's `nv_io_remap_page_range` of BAR0 makes it
//!   (`VM_IO | VM_PFNMAP | VM_DONTEXPAND | VM_DONTDUMP`, one
//!   `remap_pfn_range` per page, no `fault` handler), so that a proxy can
//!   revoke it with `zap_vma_ptes` and reinstate it with
//!   `vmf_insert_pfn_prot`. PFN PTEs pin nothing: each such vma holds an
//!   `Arc<Backing>` in `vm_private_data`, taken by `mmap` and by
//!   [`PFNMAP_VM_OPS`]' `open` (vma copied on fork, split, moved) and
//!   dropped by its `close`, which the mm core calls after the vma's PTEs
//!   are zapped and the TLB flushed. So the pages stay alive while any vma
//!   maps them, even after the RM object is freed or the file closed.
//!
//! User space may write these pages at any time, as it writes real GPU
//! memory through BAR1: the engine reads words with single copies and
//! consumes the doorbell with an atomic exchange, which is exactly as much
//! ordering as a real GPU gives.

use crate::file::NvFile;
use core::sync::atomic::{AtomicU32, AtomicUsize, Ordering};
use kernel::{
    bindings,
    error::to_result,
    ffi::{c_ulong, c_void},
    mm::virt::{flags, VmaNew, VmaRef},
    page::{Page, PAGE_SIZE},
    prelude::*,
    sync::Arc,
    types::ForeignOwnable,
};

extern "C" {
    /// `page_to_pfn(page)` (a macro in C; `nvsim_exports.c`). Takes a
    /// `struct page *` (as `void *`: bindgen's `page` is not FFI-safe).
    fn nvsim_page_to_pfn(page: *const c_void) -> c_ulong;
}

/// Largest object nvsim backs with pages (what can be mapped, or hold a
/// channel's ring): the simulated BAR1 window per object.
pub(crate) const MAX_BACKED: u64 = 64 << 20;

/// Live [`Backing`]s, and vmas holding one through [`PFNMAP_VM_OPS`]
/// (debugfs `nvsim/mem`, for the tests of the mappings' lifetime).
static BACKINGS: AtomicUsize = AtomicUsize::new(0);
static PFNMAP_VMAS: AtomicUsize = AtomicUsize::new(0);

/// Writes the debugfs `nvsim/mem` summary.
pub(crate) fn fmt_counts(f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
    writeln!(f, "backings {}", BACKINGS.load(Ordering::Relaxed))?;
    writeln!(f, "pfnmap_vmas {}", PFNMAP_VMAS.load(Ordering::Relaxed))
}

/// Zeroed pages backing one memory object.
///
/// # Invariants
///
/// `pages.len() * PAGE_SIZE >= size`.
pub(crate) struct Backing {
    pages: KVec<Page>,
    size: usize,
}

impl Backing {
    /// Allocates zeroed pages for `size` bytes (at most [`MAX_BACKED`]).
    pub(crate) fn new(size: u64) -> Result<Self> {
        if size == 0 || size > MAX_BACKED {
            return Err(EINVAL);
        }
        let size = usize::try_from(size)?;
        let n = size.div_ceil(PAGE_SIZE);
        let mut pages = KVec::with_capacity(n, GFP_KERNEL)?;
        for _ in 0..n {
            pages.push(Page::alloc_page(GFP_KERNEL | __GFP_ZERO)?, GFP_KERNEL)?;
        }
        BACKINGS.fetch_add(1, Ordering::Relaxed);
        // INVARIANT: `n` pages cover `size` bytes.
        Ok(Backing { pages, size })
    }

    /// Size in bytes.
    pub(crate) fn size(&self) -> usize {
        self.size
    }

    fn locate(&self, off: usize, len: usize) -> Option<(&Page, usize)> {
        let end = off.checked_add(len)?;
        if end > self.size || off / PAGE_SIZE != (end - 1) / PAGE_SIZE {
            return None;
        }
        Some((self.pages.get(off / PAGE_SIZE)?, off % PAGE_SIZE))
    }

    /// Reads the little-endian u32 at byte `off` (4-aligned); `None` if out of range.
    pub(crate) fn read_u32(&self, off: usize) -> Option<u32> {
        let (page, at) = self.locate(off, 4).filter(|_| off % 4 == 0)?;
        let mut b = [0u8; 4];
        // SAFETY: `b` is valid for 4 bytes of writes, and `at + 4 <= PAGE_SIZE` (`locate`).
        unsafe { page.read_raw(b.as_mut_ptr(), at, 4) }.ok()?;
        Some(u32::from_le_bytes(b))
    }

    /// Reads the little-endian u64 at byte `off` (8-aligned).
    pub(crate) fn read_u64(&self, off: usize) -> Option<u64> {
        let (page, at) = self.locate(off, 8).filter(|_| off % 8 == 0)?;
        let mut b = [0u8; 8];
        // SAFETY: `b` is valid for 8 bytes of writes, and `at + 8 <= PAGE_SIZE` (`locate`).
        unsafe { page.read_raw(b.as_mut_ptr(), at, 8) }.ok()?;
        Some(u64::from_le_bytes(b))
    }

    /// Writes the little-endian u32 `v` at byte `off` (4-aligned); `false` if out of range.
    pub(crate) fn write_u32(&self, off: usize, v: u32) -> bool {
        let Some((page, at)) = self.locate(off, 4).filter(|_| off % 4 == 0) else {
            return false;
        };
        let b = v.to_le_bytes();
        // SAFETY: `b` is valid for 4 bytes of reads, and `at + 4 <= PAGE_SIZE` (`locate`).
        unsafe { page.write_raw(b.as_ptr(), at, 4) }.is_ok()
    }

    /// Atomically replaces the u32 at byte `off` (4-aligned) by 0 and
    /// returns what was there: how a doorbell write is consumed.
    pub(crate) fn take_u32(&self, off: usize) -> Option<u32> {
        let (page, at) = self.locate(off, 4).filter(|_| off % 4 == 0)?;
        // SAFETY: `page` is a valid, owned page; `kmap_local_page` maps it
        // and the mapping is released below, on the same thread, before
        // any other mapping is made (the LIFO rule of local mappings).
        let base = unsafe { bindings::kmap_local_page(page.as_ptr()) };
        // SAFETY: `at + 4 <= PAGE_SIZE` and `at` is 4-aligned, so the word
        // lies inside the mapped page and is suitably aligned for an
        // `AtomicU32`; other accesses to it (user space through its
        // mapping) are single aligned stores, which an atomic RMW tolerates.
        let old = unsafe { AtomicU32::from_ptr(base.cast::<u8>().add(at).cast::<u32>()) }
            .swap(0, Ordering::AcqRel);
        // SAFETY: `base` came from `kmap_local_page` above and is unmapped once.
        unsafe { bindings::kunmap_local(base) };
        Some(u32::from_le(old))
    }

    /// Maps pages `[first, first + count)` into `vma` (which must be exactly
    /// `count` pages long) and marks it as the driver does for device memory.
    pub(crate) fn map_into(&self, vma: &VmaNew, first: usize, count: usize) -> Result {
        let end = first.checked_add(count).ok_or(EINVAL)?;
        let pages = self.pages.get(first..end).ok_or(ERANGE)?;
        if vma.end() - vma.start() != count * PAGE_SIZE {
            return Err(ENXIO);
        }
        vma.set_dontexpand();
        vma.set_dontdump();
        let mixed = vma.set_mixedmap();
        for (i, page) in pages.iter().enumerate() {
            mixed.vm_insert_page(vma.start() + i * PAGE_SIZE, page)?;
        }
        Ok(())
    }

    /// Maps pages `[first, first + count)` into `vma` (exactly `count`
    /// pages, a shared mapping) as a PFN mapping, the way nvidia.ko maps
    /// GPU registers: `VM_IO | VM_PFNMAP | VM_DONTEXPAND | VM_DONTDUMP`
    /// (no `VM_DONTCOPY`: the vendor does not set it, so a fork inherits
    /// the mapping), no `fault` handler, and [`PFNMAP_VM_OPS`] holding a
    /// reference to `this` for as long as the vma (or a copy of it) lives.
    ///
    /// Private writable (copy-on-write) mappings are refused with `EINVAL`:
    /// `remap_pfn_range` of a COW vma must cover it whole with contiguous
    /// frames, which nvsim's pages are not, and `vmf_insert_pfn_prot` (how
    /// a proxy reinstates a revoked PTE) refuses COW PFN mappings too.
    pub(crate) fn map_pfn_into(
        this: &Arc<Backing>,
        vma: &VmaNew,
        first: usize,
        count: usize,
    ) -> Result {
        let end = first.checked_add(count).ok_or(EINVAL)?;
        let pages = this.pages.get(first..end).ok_or(ERANGE)?;
        if vma.end() - vma.start() != count * PAGE_SIZE {
            return Err(ENXIO);
        }
        if vma.flags() & (flags::SHARED | flags::MAYWRITE) == flags::MAYWRITE {
            return Err(EINVAL);
        }
        vma.set_io();
        vma.set_dontexpand();
        vma.set_dontdump();
        let raw = vma.as_ptr();
        for (i, page) in pages.iter().enumerate() {
            // SAFETY: `page` is a valid page owned by `this`.
            let pfn = unsafe { nvsim_page_to_pfn(page.as_ptr().cast()) };
            // SAFETY: `raw` is the vma under construction in our `mmap`
            // (mmap lock held, not yet visible to anyone else), the target
            // page lies inside it (size checked above), and the mapping is
            // not COW (checked above). `remap_pfn_range` adds `VM_IO |
            // VM_PFNMAP | VM_DONTEXPAND | VM_DONTDUMP`. The frame stays
            // allocated while it is mapped: on success the vma takes a
            // reference to `this` below; on failure the mm core zaps the
            // partial mapping before `mmap` returns to user space, while
            // the file's mmap context still holds `this`.
            to_result(unsafe {
                bindings::remap_pfn_range(
                    raw,
                    (vma.start() + i * PAGE_SIZE) as c_ulong,
                    pfn,
                    PAGE_SIZE as c_ulong,
                    (*raw).vm_page_prot,
                )
            })?;
        }
        if vma.flags() & flags::PFNMAP == 0 {
            return Err(EINVAL);
        }
        let priv_ = this.clone().into_foreign();
        // SAFETY: the vma is still ours alone (see above); from here on the
        // mm core calls `PFNMAP_VM_OPS.close` exactly once for it, which
        // takes back the reference stored in `vm_private_data`.
        unsafe {
            (*raw).vm_private_data = priv_;
            (*raw).vm_ops = &PFNMAP_VM_OPS;
        }
        PFNMAP_VMAS.fetch_add(1, Ordering::Relaxed);
        Ok(())
    }
}

impl Drop for Backing {
    fn drop(&mut self) {
        BACKINGS.fetch_sub(1, Ordering::Relaxed);
    }
}

/// The `vm_operations_struct` of PFN (doorbell) mappings: a plain static
/// table with only `open` and `close` (no `fault`: every PTE is inserted
/// by `mmap`), so that a proxy wrapping the vma's ops can forward them.
/// `vm_private_data` of such a vma is an `Arc<Backing>` reference (as
/// nvidia.ko keeps its own state there: a wrapper must leave it alone).
///
/// The table lives in this module, which the vma's file keeps loaded until
/// after `close` has run (an nvsim file, `fops.owner` = this module, or a
/// proxy's file that holds the nvsim file it mapped).
pub(crate) static PFNMAP_VM_OPS: bindings::vm_operations_struct = bindings::vm_operations_struct {
    open: Some(pfnmap_vma_open),
    close: Some(pfnmap_vma_close),
    // SAFETY: all-zero is a valid `vm_operations_struct` (no callback).
    ..unsafe { core::mem::zeroed() }
};

/// `open`: a vma of ours was copied (fork), split or moved; the copy takes
/// its own reference to the pages.
unsafe extern "C" fn pfnmap_vma_open(vma: *mut bindings::vm_area_struct) {
    // SAFETY: the mm core passes a valid vma (mmap lock held for writing),
    // a copy of one set up by `map_pfn_into` or by this function, so its
    // `vm_private_data` is an `Arc<Backing>` reference that the source vma
    // still owns for the duration of this call.
    let pd = unsafe { (*vma).vm_private_data };
    // SAFETY: as above: a live `Arc<Backing>` from `into_foreign`.
    let copy: Arc<Backing> = unsafe { <Arc<Backing> as ForeignOwnable>::borrow(pd) }.into();
    // SAFETY: the mm core holds the mmap lock for writing while it calls
    // `open`; the copy's reference is released by its own `close`.
    unsafe { (*vma).vm_private_data = copy.into_foreign() };
    PFNMAP_VMAS.fetch_add(1, Ordering::Relaxed);
}

/// `close`: a vma of ours goes (its PTEs are already zapped and the TLB
/// flushed); drops its reference, the last one frees the pages.
unsafe extern "C" fn pfnmap_vma_close(vma: *mut bindings::vm_area_struct) {
    // SAFETY: the mm core passes a valid vma about to be freed, with the
    // mmap lock held; `close` runs once per vma.
    let pd = unsafe { core::ptr::replace(&raw mut (*vma).vm_private_data, core::ptr::null_mut()) };
    if !pd.is_null() {
        // SAFETY: `pd` is the reference `map_pfn_into` or `pfnmap_vma_open`
        // stored in this vma, taken back exactly once (cleared above).
        drop(unsafe { <Arc<Backing> as ForeignOwnable>::from_foreign(pd) });
        PFNMAP_VMAS.fetch_sub(1, Ordering::Relaxed);
    }
}

/// The `vm_operations_struct` of UVM managed ranges (`uvm_vm_ops_managed`
/// without its fault handlers): `open` and `close` keep the VA space's
/// ranges in step with the vmas. There is no `fault`: nvsim never places
/// managed pages on the CPU, so a CPU access to managed memory gets
/// SIGBUS (real UVM would fault the page in).
///
/// `vm_private_data` of such a vma is an `Arc<NvFile>` reference to the
/// VA-space file while the vma holds its range, NULL once it holds nothing
/// (a fork's or a move's copy). The table lives in this module, which the
/// vma's file keeps loaded until after `close` (as for [`PFNMAP_VM_OPS`]).
pub(crate) static MANAGED_VM_OPS: bindings::vm_operations_struct = bindings::vm_operations_struct {
    open: Some(managed_vma_open),
    close: Some(managed_vma_close),
    // SAFETY: all-zero is a valid `vm_operations_struct` (no callback).
    ..unsafe { core::mem::zeroed() }
};

/// Makes `vma` (being set up by an mmap of the UVM file `nv`, whose managed
/// range has been created) a managed vma: `VM_MIXEDMAP | VM_DONTEXPAND |
/// VM_DONTCOPY` as `uvm_mmap` sets, and [`MANAGED_VM_OPS`] holding `nv`.
pub(crate) fn set_managed(vma: &VmaNew, nv: Arc<NvFile>) {
    vma.set_mixedmap();
    vma.set_dontexpand();
    vma.set_dontcopy();
    let raw = vma.as_ptr();
    let pd = nv.into_foreign();
    // SAFETY: `raw` is the vma under construction in our `mmap` (mmap lock
    // held, not yet visible to anyone else); from here on the mm core calls
    // `MANAGED_VM_OPS.close` exactly once for it, which takes back the
    // reference stored in `vm_private_data`.
    unsafe {
        (*raw).vm_private_data = pd;
        (*raw).vm_ops = &MANAGED_VM_OPS;
    }
}

/// `open`: a managed vma was copied (split, fork, move); the copy holds its
/// own reference to the file when it keeps access (a split), else nothing.
///
/// # Safety
///
/// Called by the mm core only, with the mmap lock held for writing, on a
/// copy of a vma set up by [`set_managed`] or by this function.
unsafe extern "C" fn managed_vma_open(vma: *mut bindings::vm_area_struct) {
    // SAFETY: the mm core passes a valid vma (mmap lock held for writing),
    // a copy of one of ours, so its `vm_private_data` is NULL or an
    // `Arc<NvFile>` reference the source vma still owns during this call.
    let pd = unsafe { (*vma).vm_private_data };
    if pd.is_null() {
        return;
    }
    // SAFETY: as above.
    let nv: Arc<NvFile> = unsafe { <Arc<NvFile> as ForeignOwnable>::borrow(pd) }.into();
    // SAFETY: as above: valid, with the mmap lock held.
    let v = unsafe { VmaRef::from_raw(vma) };
    // SAFETY: as above.
    let pgoff = unsafe { (*vma).vm_pgoff };
    let keeps = crate::uvm::vma_copied(
        &nv,
        v.mm().as_raw(),
        v.start() as u64,
        v.end() as u64,
        pgoff as u64,
    );
    let own = if keeps {
        nv.into_foreign()
    } else {
        core::ptr::null_mut()
    };
    // SAFETY: the mmap lock is held for writing; the copy's reference (if
    // any) is released by its own `close`.
    unsafe { (*vma).vm_private_data = own };
}

/// `close`: a managed vma goes; its range's pages are freed.
///
/// # Safety
///
/// Called by the mm core only, once per vma of [`MANAGED_VM_OPS`], with
/// the mmap lock held.
unsafe extern "C" fn managed_vma_close(vma: *mut bindings::vm_area_struct) {
    // SAFETY: the mm core passes a valid vma about to be freed, with the
    // mmap lock held; `close` runs once per vma.
    let pd = unsafe { core::ptr::replace(&raw mut (*vma).vm_private_data, core::ptr::null_mut()) };
    if pd.is_null() {
        return;
    }
    // SAFETY: `pd` is the reference `set_managed` or `managed_vma_open`
    // stored in this vma, taken back exactly once (cleared above).
    let nv = unsafe { <Arc<NvFile> as ForeignOwnable>::from_foreign(pd) };
    // SAFETY: as above; only the bounds are read (not the mm, whose users
    // may be gone at exit).
    let v = unsafe { VmaRef::from_raw(vma) };
    crate::uvm::vma_closed(&nv, v.start() as u64, v.end() as u64);
}
