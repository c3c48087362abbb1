// SPDX-License-Identifier: GPL-2.0

//! Managed (UVM) memory glue: charges a context's nvidia-uvm mappings by
//! their size (the rules and the range table are
//! [`fgcore::managed`](crate::fgcore::managed)) and reconciles the table
//! with its processes' address spaces.
//!
//! Lock order: an mm's mmap lock → the context's lock. Another process's
//! mmap lock is only ever tried (`mmap_read_trylock`) while one is held.

use crate::fgcore::{
    ledger::Ledger,
    managed::{self, Admit},
};
use kernel::{
    bindings,
    mm::{Mm, MmWithUser},
    prelude::*,
    sync::aref::ARef,
};

/// The range table of one context.
pub(crate) type ManagedRanges = managed::ManagedRanges<crate::objects::Kernel>;

/// A context's managed memory, under its lock.
pub(crate) struct ManagedState {
    pub(crate) policy: managed::Policy,
    pub(crate) ranges: ManagedRanges,
    /// The address spaces the ranges are keyed by (their `mm_struct`
    /// address): holding them keeps the address from being reused by a
    /// new mm while a range names it.
    mms: KVec<ARef<Mm>>,
    /// `f_op` of the vendor's UVM files (a static table of its module),
    /// compared, never followed: a vma of it is a UVM mapping.
    fops: usize,
    /// Managed mappings refused (cap, policy or range limit).
    pub(crate) refused: u64,
}

impl ManagedState {
    /// No ranges, the default policy.
    pub(crate) fn new() -> Self {
        ManagedState {
            policy: managed::Policy::Charge,
            ranges: ManagedRanges::new(),
            mms: KVec::new(),
            fops: 0,
            refused: 0,
        }
    }
}

/// What the glue needs of a context: its managed state and its ledger,
/// under the one lock they share, and its name for messages.
pub(crate) trait Host {
    /// Runs `f` with the managed state and the ledger, under the lock.
    fn with_locked<R>(&self, f: impl FnOnce(&mut ManagedState, &mut Ledger) -> R) -> R;
    /// The context's name.
    fn name(&self) -> &str;
}

fn key(mm: *const bindings::mm_struct) -> u64 {
    mm as usize as u64
}

/// Bytes of `[start, end)` of `mm` mapped by vmas of a file with
/// operations `fops`.
///
/// # Safety
///
/// The caller holds `mm`'s mmap lock (read or write) and `mm` is live.
unsafe fn uvm_bytes(mm: *mut bindings::mm_struct, fops: usize, start: u64, end: u64) -> u64 {
    let mut bytes = 0u64;
    let mut at = start;
    while at < end {
        // SAFETY: `mm` is live and its mmap lock held (caller), which
        // `find_vma` needs; the vma it returns stays valid while it is.
        let vma = unsafe { bindings::find_vma(mm, at as usize) };
        if vma.is_null() {
            break;
        }
        // SAFETY: as above; `vm_file` is null or a file the vma holds.
        let (vs, ve, ops) = unsafe {
            let v = kernel::mm::virt::VmaRef::from_raw(vma);
            let f = (*vma).vm_file;
            let ops = if f.is_null() { 0 } else { (*f).f_op as usize };
            (v.start() as u64, v.end() as u64, ops)
        };
        if vs >= end {
            break;
        }
        if ops == fops && fops != 0 {
            bytes += ve.min(end) - vs.max(at);
        }
        at = ve;
    }
    bytes
}

/// Reconciles the ranges of every address space of `h` but `skip` (whose
/// lock the caller holds, or which it reconciles itself): a dead one's
/// ranges go, a live one's are lowered to what is mapped, if its lock can
/// be taken (`wait`: blocking, else only tried). Returns the bytes released
/// (already uncharged).
pub(crate) fn reconcile_others(h: &impl Host, skip: u64, wait: bool) -> u64 {
    // Snapshot the spaces (cheap: a few per context).
    let mut mms: KVec<ARef<Mm>> = KVec::new();
    let snapped = h.with_locked(|st, _| {
        for m in st.mms.iter() {
            if key(m.as_raw()) != skip {
                mms.push(m.clone(), GFP_KERNEL)?;
            }
        }
        Ok::<(), kernel::alloc::AllocError>(())
    });
    if snapped.is_err() {
        return 0;
    }
    let mut released = 0;
    for m in mms.iter() {
        let k = key(m.as_raw());
        match m.mmget_not_zero() {
            None => {
                released += h.with_locked(|st, ledger| {
                    let r = st.ranges.release_space(k);
                    uncharge(h.name(), st, ledger, r, k);
                    r
                });
            }
            Some(user) => released += reconcile_space(h, &user, wait),
        }
    }
    released
}

/// Reconciles the ranges of `mm` under its read lock (taken here).
fn reconcile_space(h: &impl Host, mm: &MmWithUser, wait: bool) -> u64 {
    let guard = if wait {
        Some(mm.mmap_read_lock())
    } else {
        mm.mmap_read_trylock()
    };
    let Some(_guard) = guard else { return 0 };
    h.with_locked(|st, ledger| {
        // SAFETY: `mm` is live (we hold a user reference) and its mmap
        // lock is held (`_guard`).
        unsafe { reconcile_locked(h.name(), st, ledger, mm.as_raw()) }
    })
}

/// Reconciles the ranges of `mm` and uncharges what they released.
///
/// # Safety
///
/// `mm` is live and the caller holds its mmap lock (read or write).
unsafe fn reconcile_locked(
    name: &str,
    st: &mut ManagedState,
    ledger: &mut Ledger,
    mm: *mut bindings::mm_struct,
) -> u64 {
    let (k, fops) = (key(mm), st.fops);
    let mut live = |s, e| {
        // SAFETY: the caller's contract.
        unsafe { uvm_bytes(mm, fops, s, e) }
    };
    let r = st.ranges.reconcile(k, &mut live);
    uncharge(name, st, ledger, r, k);
    r
}

/// Reconciles the calling process's ranges (at a call on a UVM file: no
/// mmap lock is held).
pub(crate) fn reconcile_current(h: &impl Host) {
    if h.with_locked(|st, _| st.ranges.count()) == 0 {
        return;
    }
    let task = kernel::current!();
    if let Some(mm) = task.mm() {
        reconcile_space(h, mm, true);
    }
}

/// Everything: at sysfs reads (blocking) and file releases (tried).
pub(crate) fn reconcile(h: &impl Host, wait: bool) {
    if h.with_locked(|st, _| st.ranges.count()) == 0 {
        return;
    }
    reconcile_others(h, 0, wait);
}

/// Uncharges `bytes` released from the table, and forgets `space`'s mm
/// once no range names it.
fn uncharge(name: &str, st: &mut ManagedState, ledger: &mut Ledger, bytes: u64, space: u64) {
    if bytes > 0 && ledger.uncharge(bytes).is_err() {
        pr_err!("context {name}: ledger underflow releasing managed memory\n");
    }
    if st.ranges.next_space(space) != Some(space) {
        st.mms.retain(|m| key(m.as_raw()) != space);
    }
}

/// Admits, charges and forwards a new mapping of a UVM file: `forward`
/// is the vendor's mmap.
///
/// # Safety
///
/// `vma` is the vma being set up by the proxy's mmap handler (its mm's
/// write lock is held); `fops` is the vendor UVM file's `f_op`.
pub(crate) unsafe fn mmap(
    h: &impl Host,
    fops: *const bindings::file_operations,
    vma: *mut bindings::vm_area_struct,
    forward: impl FnOnce() -> Result,
) -> Result {
    // SAFETY: `vma` is live and being set up (caller).
    let (start, end, mm) = unsafe {
        let v = kernel::mm::virt::VmaNew::from_raw(vma);
        (v.start() as u64, v.end() as u64, (*vma).vm_mm)
    };
    let len = end - start;
    let policy = h.with_locked(|st, _| st.policy);
    match managed::admit(policy, len) {
        Admit::Forward => return forward(),
        Admit::Refuse => {
            h.with_locked(|st, _| st.refused += 1);
            return Err(ENOMEM);
        }
        Admit::Charge => {}
    }
    let k = key(mm);
    let fops = fops as usize;
    // Other processes' unmapped ranges first (their locks only tried).
    reconcile_others(h, k, false);
    let name = h.name();
    h.with_locked(|st, ledger| {
        st.fops = fops;
        // This process's: its write lock is held (caller). The vma being
        // set up is not in the tree yet; what it replaces `add` drops.
        // SAFETY: `mm` is live and locked for writing (caller).
        unsafe { reconcile_locked(name, st, ledger, mm) };
        if !st.ranges.has_room() {
            st.refused += 1;
            return Err(ENOMEM);
        }
        // Hold the mm for the key (once per space).
        if !st.mms.iter().any(|m| key(m.as_raw()) == k) {
            // SAFETY: `mm` is the live mm of the vma being set up.
            let m: ARef<Mm> = unsafe { Mm::from_raw(mm) }.into();
            st.mms.push(m, GFP_KERNEL)?;
        }
        if ledger.charge(len).is_err() {
            st.refused += 1;
            uncharge(name, st, ledger, 0, k);
            return Err(ENOMEM);
        }
        let mut live = |s, e| {
            // SAFETY: `mm` is live and locked for writing (caller).
            unsafe { uvm_bytes(mm, fops, s, e) }
        };
        match st.ranges.add(k, start, end, &mut live) {
            Ok(r) => {
                uncharge(name, st, ledger, r, k);
                Ok(())
            }
            Err(_) => {
                uncharge(name, st, ledger, len, k);
                Err(ENOMEM)
            }
        }
    })?;
    if let Err(e) = forward() {
        // The vendor refused: nothing of [start, end) is mapped.
        h.with_locked(|st, ledger| {
            let r = st.ranges.reconcile(k, &mut |s, e2| {
                if s >= start && e2 <= end {
                    0
                } else {
                    e2 - s
                }
            });
            uncharge(name, st, ledger, r, k);
        });
        return Err(e);
    }
    Ok(())
}
