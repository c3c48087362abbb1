// SPDX-License-Identifier: GPL-2.0

//! The doorbell FFI edge: a container's usermode (doorbell) mappings, whose
//! page-table entries the compute scheduler removes to hold the container's
//! submitters, and the fault handler that puts them back.
//!
//! The vendor maps the doorbell as a PFN mapping with no fault handler: a
//! zapped entry would be a SIGBUS. So right after the vendor's mmap the
//! proxy takes the vma over ([`gate_vma`]): it remembers the vendor's
//! `vm_ops`, `vm_private_data` and the PFN and protection of every page,
//! and installs [`GATED_OPS`], which forwards `open`/`close` to the
//! vendor's and adds a `fault` that waits at the context's gate and then
//! re-inserts the remembered PFN. Splitting and moving such a vma is
//! refused, and it is not inherited across fork (`VM_DONTCOPY`): a CUDA
//! context does not survive fork either.
//!
//! Records live in one registry, keyed by vma. Lock order: mmap lock (or the
//! VMA lock of a fault) → `DOORBELLS` → a context's gate. The scheduler
//! takes an mm's lock only with `mmap_read_trylock`, with nothing else held.

use crate::{
    gate::{Gate, Held},
    ModuleRef,
};
use kernel::{
    bindings,
    ffi::{c_int, c_ulong},
    fs::File,
    mm::Mm,
    prelude::*,
    sync::{aref::ARef, Arc},
};

/// `VM_FAULT_SIGBUS`, `VM_FAULT_NOPAGE` (`enum vm_fault_reason`).
const VM_FAULT_SIGBUS: bindings::vm_fault_t = bindings::vm_fault_reason_VM_FAULT_SIGBUS;
const VM_FAULT_NOPAGE: bindings::vm_fault_t = bindings::vm_fault_reason_VM_FAULT_NOPAGE;
/// Most pages of one doorbell mapping we take over (the H100's usermode
/// region is 64 KiB).
const MAX_PAGES: usize = 64;

/// One gated vma.
///
/// # Invariants
///
/// `vma` is a live vma of `mm` whose `vm_ops` is [`GATED_OPS`] for as long
/// as the record is in [`DOORBELLS`] (it is removed by our `close`, under
/// the mm's write lock).
pub(crate) struct Record {
    vma: *mut bindings::vm_area_struct,
    mm: ARef<Mm>,
    orig_ops: *const bindings::vm_operations_struct,
    start: usize,
    pfns: KVec<c_ulong>,
    prot: bindings::pgprot_t,
    /// The gate of the context that mapped it.
    gate: Arc<Gate>,
    /// The host GPU whose doorbell this is (its gate is that GPU's).
    gpu: u32,
    /// The vendor's file the vendor mapped (the vma's `vm_file` is the
    /// proxy's: see `gate_vma`).
    vendor_file: ARef<File>,
    /// Our `vm_ops` must outlive every gated vma: hold the module.
    _module: ModuleRef,
}

// SAFETY: the raw pointers are only dereferenced under the locks the
// invariant names; the record itself may move between threads.
unsafe impl Send for Record {}

impl Drop for Record {
    fn drop(&mut self) {
        self.gate.doorbell_unmapped();
    }
}

kernel::sync::global_lock! {
    // SAFETY: `init` is called in the module initializer, before first use.
    pub(crate) unsafe(uninit) static DOORBELLS: Mutex<KVec<Record>> = KVec::new();
}

/// Frees the registry's storage at unload (it is empty then: every record
/// holds the module).
pub(crate) fn release_registry() {
    let old = core::mem::take(&mut *DOORBELLS.lock());
    drop(old);
}

/// `vm_operations_struct` is plain function pointers.
struct Ops(bindings::vm_operations_struct);
// SAFETY: a static table of function pointers, never written.
unsafe impl Sync for Ops {}

static GATED_OPS: Ops = Ops(bindings::vm_operations_struct {
    open: Some(gated_open),
    close: Some(gated_close),
    may_split: Some(gated_refuse_split),
    mremap: Some(gated_refuse_mremap),
    fault: Some(gated_fault),
    ..pin_init::zeroed()
});

/// Takes a freshly mapped doorbell vma of host GPU `gpu` over, gated by
/// `gate`.
///
/// # Safety
///
/// `vma` must be the vma being set up by the proxy's mmap handler, after
/// the vendor's mmap succeeded on it (its mm's write lock is held).
pub(crate) unsafe fn gate_vma(
    gate: &Arc<Gate>,
    gpu: u32,
    vma: *mut bindings::vm_area_struct,
    proxy_file: ARef<File>,
) -> Result {
    // SAFETY: `vma` is live and locked for writing (caller).
    let (start, end, flags, mm) = unsafe {
        let v = kernel::mm::virt::VmaNew::from_raw(vma);
        (v.start(), v.end(), v.flags(), (*vma).vm_mm)
    };
    if flags & bindings::VM_PFNMAP == 0 {
        pr_warn!(
            "fakegpu: a doorbell mapping is not a PFN mapping; compute gating is off for it\n"
        );
        return Err(ENOTSUPP);
    }
    let pages = (end - start) / kernel::page::PAGE_SIZE;
    if pages == 0 || pages > MAX_PAGES {
        return Err(EINVAL);
    }
    let module = ModuleRef::get()?;
    let mut pfns = KVec::with_capacity(pages, GFP_KERNEL)?;
    // SAFETY: the mmap write lock is held (caller); `follow_pfnmap_start`
    // reads the PTE the vendor's mmap just installed, and `_end` releases
    // the PTE lock it took.
    let prot = unsafe {
        let mut prot = (*vma).vm_page_prot;
        for i in 0..pages {
            let mut args: bindings::follow_pfnmap_args = pin_init::zeroed();
            args.vma = vma;
            args.address = (start + i * kernel::page::PAGE_SIZE) as c_ulong;
            if bindings::follow_pfnmap_start(&mut args) != 0 {
                return Err(EFAULT);
            }
            let pfn = args.pfn;
            prot = args.pgprot;
            bindings::follow_pfnmap_end(&mut args);
            pfns.push(pfn, GFP_KERNEL)?;
        }
        prot
    };
    let mut reg = DOORBELLS.lock();
    reg.reserve(1, GFP_KERNEL)?;
    // SAFETY: the mm lives while its vma does; the `ARef` keeps the
    // struct for the record.
    let mm: ARef<Mm> = unsafe { Mm::from_raw(mm) }.into();
    // SAFETY: the vma's file is the vendor's (its mmap ran on it) and
    // lives while the vma does; the record takes a reference of its own.
    let vendor_file: ARef<File> = unsafe { File::from_raw_file((*vma).vm_file) }.into();
    // SAFETY: the vma is ours to set up (caller). Its file becomes the
    // proxy's again, with the reference `proxy_file` held: the kernel
    // itself maps `vm_file` again in `remap_file_pages` (`do_mmap` of the
    // vma's file), which must reach the proxy's mmap, not the vendor's.
    // The vendor's reference the vma held is dropped (the record holds
    // one), and the vendor's callbacks see their own file (`gated_open`,
    // `gated_close`).
    let orig_ops = unsafe {
        let v = kernel::mm::virt::VmaNew::from_raw(vma);
        v.set_dontcopy();
        let orig = (*vma).vm_ops;
        (*vma).vm_ops = &GATED_OPS.0;
        let theirs = (*vma).vm_file;
        (*vma).vm_file = ARef::into_raw(proxy_file).as_ptr().cast();
        bindings::fput(theirs);
        orig
    };
    // INVARIANT: the vma now has our ops.
    reg.push(
        Record {
            vma,
            mm,
            orig_ops,
            start,
            pfns,
            prot,
            gate: gate.clone(),
            gpu,
            vendor_file,
            _module: module,
        },
        GFP_KERNEL,
    )?;
    drop(reg);
    gate.doorbell_mapped();
    // The mapping starts armed: without the vendor's entries the first
    // doorbell write faults, which marks the context busy, and waits there
    // if its gate is shut. (A gate shut before this mmap zapped nothing.)
    // SAFETY: the vma is live and its mm's write lock is held (caller);
    // the range is the vma's own.
    unsafe { bindings::zap_special_vma_range(vma, start as c_ulong, (end - start) as c_ulong) };
    Ok(())
}

/// Undoes the vendor's successful mmap of `vma` before the mmap fails:
/// runs the vendor's `close` (what it set up for the mapping is released,
/// as at an munmap); the caller of the failing mmap unmaps the entries.
///
/// # Safety
///
/// `vma` is the vma being set up by the proxy's mmap handler, after the
/// vendor's mmap succeeded on it (its mm's write lock is held), and it is
/// not one of ours (`gate_vma` failed before installing [`GATED_OPS`]).
pub(crate) unsafe fn undo_vendor_mmap(vma: *mut bindings::vm_area_struct) {
    // SAFETY: `vma` is live and being set up (caller); its `vm_ops` are the
    // vendor's static table or null.
    let close = unsafe { (*vma).vm_ops.as_ref().and_then(|o| o.close) };
    if let Some(f) = close {
        // SAFETY: the vendor's own callback for its own vma, under the
        // mm's write lock as the mm core calls it.
        unsafe { f(vma) };
    }
}

/// Zaps the doorbell pages of every vma gated by `gate` on host GPU `gpu`,
/// so that its next doorbell write there faults. An mm whose lock is
/// contended (a writer holds or waits for it: an mmap or munmap of the
/// tenant) is skipped; returns whether every mm was zapped, so the caller
/// retries the others soon. An mm with no users left is being torn down:
/// its vmas go, nothing of it can ring a doorbell.
pub(crate) fn zap(gate: &Arc<Gate>, gpu: u32) -> bool {
    let mut all = true;
    let ours = |r: &Record| r.gpu == gpu && Arc::ptr_eq(&r.gate, gate);
    // Collect the mms first: their locks cannot be taken under DOORBELLS.
    let mut mms: KVec<ARef<Mm>> = KVec::new();
    {
        let reg = DOORBELLS.lock();
        for r in reg.iter().filter(|r| ours(r)) {
            if !mms.iter().any(|m| m.as_raw() == r.mm.as_raw()) {
                // Without room the mm is skipped: reported as not zapped.
                if mms.push(r.mm.clone(), GFP_ATOMIC).is_err() {
                    all = false;
                }
            }
        }
    }
    for mm in mms.iter() {
        let Some(user) = mm.mmget_not_zero() else {
            continue;
        };
        let Some(_guard) = user.mmap_read_trylock() else {
            all = false;
            continue;
        };
        let reg = DOORBELLS.lock();
        for r in reg
            .iter()
            .filter(|r| r.mm.as_raw() == mm.as_raw() && ours(r))
        {
            let len = r.pfns.len() * kernel::page::PAGE_SIZE;
            // SAFETY: the record is registered, so its vma is live (it
            // leaves the registry only in `close`, under the mm's write
            // lock, which our read lock excludes).
            unsafe { bindings::zap_special_vma_range(r.vma, r.start as c_ulong, len as c_ulong) };
        }
    }
    all
}

/// `vm_operations_struct::open` of a gated vma.
///
/// # Safety
///
/// Called by the mm core with a live vma copied from one of ours.
unsafe extern "C" fn gated_open(vma: *mut bindings::vm_area_struct) {
    // Only reached for copies we did not refuse (none expected: no fork
    // copy, no split, no move); forward to the vendor all the same.
    let orig = {
        let reg = DOORBELLS.lock();
        reg.iter()
            .find(|r| {
                // SAFETY: a new vma copied from one of ours carries our
                // ops; the registered vmas are live while registered.
                unsafe { (*r.vma).vm_private_data == (*vma).vm_private_data }
            })
            .map(|r| (r.orig_ops, r.vendor_file.clone()))
    };
    if let Some((o, theirs)) = orig.filter(|(o, _)| !o.is_null()) {
        // SAFETY: the vendor's own table, for a vma of its mapping.
        if let Some(f) = unsafe { (*o).open } {
            // SAFETY: the vendor's own callback, for a vma of its mapping,
            // which sees its own file for the call (as it mapped it).
            unsafe { with_vendor_file(vma, &theirs, || f(vma)) };
        }
    }
}

/// Runs `f` (a vendor callback on `vma`) with the vendor's file as the
/// vma's file, then puts the proxy's back.
///
/// # Safety
///
/// `vma` is a live vma of ours whose mm's write lock is held (or that is
/// not in the tree yet), and `theirs` is the vendor file it maps.
unsafe fn with_vendor_file(
    vma: *mut bindings::vm_area_struct,
    theirs: &ARef<File>,
    f: impl FnOnce(),
) {
    // SAFETY: the caller's contract: nobody else reads `vm_file` meanwhile
    // (faults take the vma's read lock, excluded by the write lock).
    let ours = unsafe { core::mem::replace(&mut (*vma).vm_file, theirs.as_ptr()) };
    f();
    // SAFETY: as above.
    unsafe { (*vma).vm_file = ours };
}

/// `vm_operations_struct::close` of a gated vma.
///
/// # Safety
///
/// Called by the mm core with a live vma of ours, under the mm's write lock.
unsafe extern "C" fn gated_close(vma: *mut bindings::vm_area_struct) {
    let rec = {
        let mut reg = DOORBELLS.lock();
        let i = reg.iter().position(|r| core::ptr::eq(r.vma, vma));
        i.and_then(|i| reg.remove(i).ok())
    };
    if let Some(r) = rec {
        if !r.orig_ops.is_null() {
            // SAFETY: the vendor's own table, for its vma.
            if let Some(f) = unsafe { (*r.orig_ops).close } {
                // SAFETY: the vendor's own callback, for its vma, under the
                // mm's write lock as the VFS calls it, with its own file.
                unsafe { with_vendor_file(vma, &r.vendor_file, || f(vma)) };
            }
        }
        drop(r);
    }
}

/// `may_split` of a gated vma: refused.
///
/// # Safety
///
/// Called by the mm core; the arguments are not used.
unsafe extern "C" fn gated_refuse_split(
    _vma: *mut bindings::vm_area_struct,
    _addr: c_ulong,
) -> c_int {
    -(bindings::EINVAL as c_int)
}

/// `mremap` of a gated vma: refused.
///
/// # Safety
///
/// Called by the mm core; the argument is not used.
unsafe extern "C" fn gated_refuse_mremap(_vma: *mut bindings::vm_area_struct) -> c_int {
    -(bindings::EINVAL as c_int)
}

/// `fault` of a gated vma: waits while the gate is shut, then the vendor's.
///
/// # Safety
///
/// Called by the mm core with a live fault description whose vma is locked.
unsafe extern "C" fn gated_fault(vmf: *mut bindings::vm_fault) -> bindings::vm_fault_t {
    // SAFETY: the mm core passes a live fault description whose vma is
    // locked (mmap or VMA read lock) for the whole call.
    let (vma, addr) = unsafe { ((*vmf).__bindgen_anon_1.vma, (*vmf).__bindgen_anon_1.address) };
    let found = {
        let reg = DOORBELLS.lock();
        reg.iter()
            .find(|r| core::ptr::eq(r.vma, vma))
            .and_then(|r| {
                let page = addr.checked_sub(r.start)? / kernel::page::PAGE_SIZE;
                Some((r.gate.clone(), r.gpu, *r.pfns.get(page)?, r.prot))
            })
    };
    let Some((gate, gpu, pfn, prot)) = found else {
        return VM_FAULT_SIGBUS;
    };
    let page_addr = addr & !(kernel::page::PAGE_SIZE - 1);
    // SAFETY: the vma is locked for the call (above) and is a PFN mapping
    // of the vendor's; the PFN and protection are the vendor's own for
    // this page.
    let insert = || unsafe { bindings::vmf_insert_pfn_prot(vma, page_addr as c_ulong, pfn, prot) };
    match gate.pass(gpu, insert) {
        Ok(r) => r,
        // Destroyed: the submitter gets an error.
        Err(Held::Dead) => VM_FAULT_SIGBUS,
        // A signal: the access is retried once it is handled (or the
        // process dies of it).
        Err(Held::Signal) => VM_FAULT_NOPAGE,
    }
}
