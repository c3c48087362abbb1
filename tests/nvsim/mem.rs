// SPDX-License-Identifier: GPL-2.0

//! Page-backed memory of mappable RM objects (the FFI edge for page
//! contents): USERD, GPFIFO rings, semaphores and doorbell pages live here,
//! shared between user space (through mmap) and the engine thread.
//!
//! User space may write these pages at any time, as it writes real GPU
//! memory through BAR1: the engine reads words with single copies and
//! consumes the doorbell with an atomic exchange, which is exactly as much
//! ordering as a real GPU gives.

use core::sync::atomic::{AtomicU32, Ordering};
use kernel::{
    bindings,
    mm::virt::VmaNew,
    page::{Page, PAGE_SIZE},
    prelude::*,
};

/// Largest object nvsim backs with pages (what can be mapped, or hold a
/// channel's ring): the simulated BAR1 window per object.
pub(crate) const MAX_BACKED: u64 = 64 << 20;

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
        let old = unsafe { AtomicU32::from_ptr(base.cast::<u8>().add(at).cast::<u32>()) }.swap(0, Ordering::AcqRel);
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
}
