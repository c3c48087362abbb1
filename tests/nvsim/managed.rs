// SPDX-License-Identifier: GPL-2.0

//! UVM managed memory (`cudaMallocManaged`) of one VA space: the managed
//! ranges its file's mmaps created, and where each range's pages are.
//!
//! As in nvidia-uvm (`uvm_mmap`, `uvm_va_range_create_mmap`): an mmap of
//! the VA-space file creates one managed range covering the vma; a split
//! of the vma (partial munmap, mprotect) splits the range; the close of a
//! vma destroys the ranges under it and frees their pages. Nothing is on a
//! GPU until UVM_MIGRATE (or, on hardware, a GPU fault) puts it there. The
//! pages UVM places on a GPU come from the PMA, not through RM clients: on
//! the H100 (580.159.04) 1 GiB of managed memory touched on the GPU took
//! exactly 1 GiB of the card's free memory and nothing from the process's
//! RM count (GPU_GET_PID_INFO). nvsim charges the same heap RM video memory
//! uses ([`Gpu::charge_managed`]), outside every client.
//!
//! Granularity: 4 KiB pages (the CPU page, and UVM's smallest GPU page).
//! Every boundary here is page-aligned (vma boundaries, and UVM_MIGRATE
//! refuses unaligned ranges), so a migration charges exactly the bytes of
//! the pages it makes resident. Real UVM allocates 4 KiB, 64 KiB or 2 MiB
//! chunks from the PMA and may round a touch up to its chunk; nvsim does
//! not model chunks, nor eviction: a migration the heap cannot take fails
//! with `NV_ERR_NO_MEMORY` and changes nothing (UVM would evict to the CPU).
//!
//! Residency is kept as sorted extents per range, so a 160 GiB range with
//! a few migrations costs a few entries, not a bit per page.

use crate::gpu::Gpu;
use core::cmp::{max, min};
use kernel::{prelude::*, sync::Arc};

/// Pages `[start, end)` resident on `gpu`.
struct Extent {
    start: u64,
    end: u64,
    gpu: Arc<Gpu>,
}

impl Extent {
    fn len(&self) -> u64 {
        self.end - self.start
    }

    /// Bytes of this extent inside `[a, b)`.
    fn overlap(&self, a: u64, b: u64) -> u64 {
        min(self.end, b).saturating_sub(max(self.start, a))
    }
}

/// One managed range (what one vma of the VA space covers) and its pages.
///
/// # Invariants
///
/// `start < end`, both page-aligned. `resident` is sorted by address,
/// disjoint, each extent non-empty and inside `[start, end)`. Each extent's
/// bytes are charged to its GPU with [`Gpu::charge_managed`]; whoever
/// shrinks or removes an extent returns them, and dropping the range
/// returns all that remain.
pub(crate) struct Range {
    start: u64,
    end: u64,
    resident: KVec<Extent>,
}

impl Drop for Range {
    fn drop(&mut self) {
        for e in self.resident.iter() {
            e.gpu.uncharge_managed(e.len());
        }
    }
}

/// Appends `e` to `v` (which must end below `e.start`), merged with the last
/// extent where they touch on one GPU. `v` has room (the callers reserve
/// it); were it full, the extent's pages are returned instead, so the
/// books stay right.
fn push_merge(v: &mut KVec<Extent>, e: Extent) {
    if let Some(last) = v.last_mut() {
        if last.end == e.start && last.gpu.index == e.gpu.index {
            last.end = e.end;
            return;
        }
    }
    if let Err(err) = v.push_within_capacity(e) {
        let e = err.0;
        e.gpu.uncharge_managed(e.len());
    }
}

/// Why a migration was refused.
pub(crate) enum MigrateError {
    /// The destination's heap cannot take the pages (`NV_ERR_NO_MEMORY`).
    NoMemory,
}

/// The managed ranges of one VA space.
///
/// # Invariants
///
/// `ranges` is sorted by address and its ranges are disjoint.
pub(crate) struct Managed {
    ranges: KVec<Range>,
}

impl Managed {
    /// No range.
    pub(crate) const fn new() -> Self {
        Managed {
            ranges: KVec::new(),
        }
    }

    /// Index of the range holding `addr`.
    fn find(&self, addr: u64) -> Option<usize> {
        self.ranges
            .iter()
            .position(|r| r.start <= addr && addr < r.end)
    }

    /// Creates the range `[start, end)` with nothing resident:
    /// `EADDRINUSE` if it overlaps one (`NV_ERR_UVM_ADDRESS_IN_USE`, as
    /// `uvm_range_tree_add` answers), `ENOMEM` if it cannot be recorded.
    pub(crate) fn add(&mut self, start: u64, end: u64) -> Result {
        if start >= end {
            return Err(EINVAL);
        }
        if self.ranges.iter().any(|r| r.start < end && start < r.end) {
            return Err(EADDRINUSE);
        }
        let at = self.ranges.iter().take_while(|r| r.end <= start).count();
        self.ranges.reserve(1, GFP_KERNEL)?;
        let r = Range {
            start,
            end,
            resident: KVec::new(),
        };
        // INVARIANT: disjoint from every range (checked), inserted in order.
        if self.ranges.insert_within_capacity(at, r).is_err() {
            return Err(ENOMEM);
        }
        Ok(())
    }

    /// Whether `[start, end)` is exactly one range (UVM_VALIDATE_VA_RANGE).
    pub(crate) fn is_range(&self, start: u64, end: u64) -> bool {
        self.ranges.iter().any(|r| r.start == start && r.end == end)
    }

    /// Whether ranges cover `[start, end)` without a gap
    /// (`uvm_api_range_type_check`'s managed case).
    pub(crate) fn covers(&self, start: u64, end: u64) -> bool {
        let Some(mut i) = self.find(start) else {
            return false;
        };
        let mut at = start;
        while let Some(r) = self.ranges.get(i) {
            if r.start != at && at != start {
                return false;
            }
            at = r.end;
            if at >= end {
                return true;
            }
            i += 1;
        }
        false
    }

    /// The range `[start, end)` lies in, if any.
    pub(crate) fn enclosing(&self, start: u64, end: u64) -> Option<(u64, u64)> {
        let r = self.ranges.get(self.find(start)?)?;
        (end <= r.end).then_some((r.start, r.end))
    }

    /// Splits the range strictly holding `at` into `[start, at)` and
    /// `[at, end)`; nothing to do if `at` is a boundary or unmanaged.
    /// `ENOMEM` leaves everything as it was.
    pub(crate) fn split(&mut self, at: u64) -> Result {
        let Some(i) = self.find(at) else {
            return Ok(());
        };
        if self.ranges[i].start == at {
            return Ok(());
        }
        let moving = self.ranges[i]
            .resident
            .iter()
            .filter(|e| e.end > at)
            .count();
        let mut right = KVec::with_capacity(moving, GFP_KERNEL)?;
        self.ranges.reserve(1, GFP_KERNEL)?;
        // Nothing fails from here: `right` and `ranges` have room, and the
        // extent put back below takes the slot it was popped from.
        let r = &mut self.ranges[i];
        while r.resident.last().is_some_and(|e| e.end > at) {
            let Some(mut e) = r.resident.pop() else {
                break;
            };
            if e.start < at {
                // Straddles: the charge is shared between the two halves.
                let tail = Extent {
                    start: at,
                    end: e.end,
                    gpu: e.gpu.clone(),
                };
                e.end = at;
                push_merge(&mut right, tail);
                push_merge(&mut r.resident, e);
                break;
            }
            push_merge(&mut right, e);
        }
        right.as_mut_slice().reverse();
        let tail = Range {
            start: at,
            end: r.end,
            resident: right,
        };
        // INVARIANT: both halves keep their extents inside their bounds.
        r.end = at;
        if let Err(e) = self.ranges.insert_within_capacity(i + 1, tail) {
            // Unreachable (reserved above); dropping the half frees its pages.
            drop(e);
        }
        Ok(())
    }

    /// Destroys the ranges inside `[start, end)` and frees their pages (a
    /// vma's close: the kernel has split the vma, and so the ranges, at
    /// those bounds first). Should a range straddle a bound and splitting
    /// it fail for memory, the whole range goes, as UVM destroys a range it
    /// cannot split (`uvm_vm_open_failure`).
    pub(crate) fn remove(&mut self, start: u64, end: u64) {
        let (a, b) = match (self.split(start), self.split(end)) {
            (Ok(()), Ok(())) => (start, end),
            _ => (0, u64::MAX),
        };
        self.ranges.retain(|r| {
            let inside = a <= r.start && r.end <= b;
            let touches = r.start < end && start < r.end;
            !(inside && touches)
        });
    }

    /// Takes every range (the VA space's teardown); dropping them frees
    /// their pages.
    pub(crate) fn take_all(&mut self) -> KVec<Range> {
        core::mem::take(&mut self.ranges)
    }

    /// Frees every page resident on GPU `gpu` (its unregistration).
    pub(crate) fn evict_gpu(&mut self, gpu: u32) {
        for r in self.ranges.iter_mut() {
            r.resident.retain(|e| {
                if e.gpu.index != gpu {
                    return true;
                }
                e.gpu.uncharge_managed(e.len());
                false
            });
        }
    }

    /// Makes `[start, end)` (which [`Self::covers`] must hold) resident on
    /// `dest`, or on the CPU for `None` (its GPU pages are freed). Pages on
    /// another GPU move: freed there, charged on `dest`. All or nothing.
    pub(crate) fn migrate(
        &mut self,
        start: u64,
        end: u64,
        dest: Option<&Arc<Gpu>>,
    ) -> core::result::Result<(), MigrateError> {
        let mut plans: KVec<(usize, KVec<Extent>)> = KVec::new();
        let mut need = 0u64;
        for (i, r) in self.ranges.iter().enumerate() {
            if r.end <= start || end <= r.start {
                continue;
            }
            let (a, b) = (max(r.start, start), min(r.end, end));
            if let Some(g) = dest {
                let there: u64 = r
                    .resident
                    .iter()
                    .filter(|e| e.gpu.index == g.index)
                    .map(|e| e.overlap(a, b))
                    .sum();
                need += (b - a) - there;
            }
            // At most one more piece on each side, plus the new extent.
            let new = KVec::with_capacity(r.resident.len() + 2, GFP_KERNEL)
                .map_err(|_| MigrateError::NoMemory)?;
            plans
                .push((i, new), GFP_KERNEL)
                .map_err(|_| MigrateError::NoMemory)?;
        }
        if let Some(g) = dest {
            if need > 0 && !g.charge_managed(need) {
                return Err(MigrateError::NoMemory);
            }
        }
        // Nothing fails from here.
        for (i, mut new) in plans.drain_all() {
            let r = &mut self.ranges[i];
            let (a, b) = (max(r.start, start), min(r.end, end));
            let mut placed = dest.is_none();
            let place = |v: &mut KVec<Extent>, placed: &mut bool| {
                if let (Some(g), false) = (dest, *placed) {
                    // Holds `need`'s share plus the pages already on `dest`.
                    push_merge(
                        v,
                        Extent {
                            start: a,
                            end: b,
                            gpu: g.clone(),
                        },
                    );
                }
                *placed = true;
            };
            for e in core::mem::take(&mut r.resident) {
                if e.end <= a {
                    push_merge(&mut new, e);
                    continue;
                }
                if b <= e.start {
                    place(&mut new, &mut placed);
                    push_merge(&mut new, e);
                    continue;
                }
                let stays = dest.is_some_and(|g| g.index == e.gpu.index);
                if !stays {
                    e.gpu.uncharge_managed(e.overlap(a, b));
                }
                if e.start < a {
                    push_merge(
                        &mut new,
                        Extent {
                            start: e.start,
                            end: a,
                            gpu: e.gpu.clone(),
                        },
                    );
                }
                if b < e.end {
                    place(&mut new, &mut placed);
                    push_merge(
                        &mut new,
                        Extent {
                            start: b,
                            end: e.end,
                            gpu: e.gpu,
                        },
                    );
                }
            }
            place(&mut new, &mut placed);
            // INVARIANT: sorted and inside `[r.start, r.end)`; every byte of
            // `new` is charged (kept, or charged above as `need`).
            r.resident = new;
        }
        Ok(())
    }
}
