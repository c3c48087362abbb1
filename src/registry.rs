// SPDX-License-Identifier: GPL-2.0

//! The registry: every live context by name, and what is registered for
//! each (its proxy nodes, its sysfs directory, a module reference).
//! Creating a context is all or nothing; destroying one lets its held
//! submitters go and leaves its open files failing until they close.
//!
//! Lock order: `CONTEXTS` before `Context::inner`. Neither is held while
//! registering or dropping nodes (`misc_mtx`, taken by the open path) or a
//! sysfs directory (which waits for running `show`/`store` callbacks, which
//! take `CONTEXTS`).

use crate::{
    context::{Context, VendorPaths},
    doorbell,
    fgcore::{
        admission::{self, Overcommit, Reservation},
        mgmt::{CreateSpec, GpuList},
    },
    kapi,
    miscdev::{self, FsDir, NodeRegistration},
    proxy::file::{Node, NodeKind, ProxyFile},
    sysfs,
    vendor::VendorPath,
};
use kernel::{
    fmt,
    prelude::*,
    str::CString,
    sync::{
        atomic::{Atomic, Relaxed},
        Arc,
    },
};

/// The overcommit ratio, percent (sysfs `overcommit`): the memory caps of
/// the contexts on a GPU may sum to the card's memory times it, their
/// compute caps to 100 % times it ([`admission::check`]).
static OVERCOMMIT_PCT: Atomic<u32> = Atomic::new(admission::DEFAULT_RATIO_PCT);

/// The overcommit ratio, percent.
pub(crate) fn overcommit_pct() -> u32 {
    OVERCOMMIT_PCT.load(Relaxed)
}

/// Sets the overcommit ratio (validated by the caller). Contexts admitted
/// under a larger one stay.
pub(crate) fn set_overcommit_pct(pct: u32) {
    OVERCOMMIT_PCT.store(pct, Relaxed);
}

/// The cards' memory of `gpus`, asked of the vendor (before a lock).
fn cards(gpus: GpuList) -> Result<KVec<(u32, Option<u64>)>> {
    let mut v = KVec::with_capacity(gpus.len(), GFP_KERNEL)?;
    for gpu in gpus.iter() {
        v.push((gpu, kapi::card_bytes(gpu)), GFP_KERNEL)?;
    }
    Ok(v)
}

/// What `ctx` reserves now.
fn reservation(ctx: &Context) -> Reservation {
    Reservation {
        gpus: ctx.gpus,
        mem: ctx.inner.lock().ledger.limit(),
        compute_pct: ctx.gate.params().limit_pct,
    }
}

/// Whether `new` fits beside the contexts of `list` but `skip` (a context
/// whose caps change), on cards of `cards`' sizes; the refusal logged for
/// `name`. Called with `CONTEXTS` held, so that two admissions cannot both
/// take the last room.
fn admit(
    list: &ContextList,
    new: &Reservation,
    skip: Option<&Context>,
    cards: &[(u32, Option<u64>)],
    name: fmt::Arguments<'_>,
) -> Result {
    let mut others = KVec::with_capacity(list.entries.len(), GFP_KERNEL)?;
    for e in list.entries.iter() {
        if skip.is_some_and(|s| core::ptr::eq(s, &*e.ctx)) {
            continue;
        }
        others.push(reservation(&e.ctx), GFP_KERNEL)?;
    }
    let card = |gpu| cards.iter().find(|(g, _)| *g == gpu).and_then(|(_, b)| *b);
    let ratio = overcommit_pct();
    admission::check(&others, new, card, ratio).map_err(|e| {
        match e {
            Overcommit::Memory { gpu, wanted, room } => pr_warn!(
                "{name}: the memory caps on GPU {gpu} would sum to {wanted} B, past its {room} B (card memory x overcommit {}.{:02})\n",
                ratio / 100,
                ratio % 100
            ),
            Overcommit::Compute { gpu, wanted, room } => pr_warn!(
                "{name}: the compute caps on GPU {gpu} would sum to {wanted} %, past {room} % (overcommit {}.{:02})\n",
                ratio / 100,
                ratio % 100
            ),
            Overcommit::UnknownCard { gpu } => pr_warn!(
                "{name}: the memory of GPU {gpu} could not be asked of the vendor; a memory cap cannot be admitted\n"
            ),
        }
        ENOSPC
    })
}

/// Changes `ctx`'s caps to `mem` bytes (`u64::MAX`: none) and
/// `compute_pct` if they fit beside the other contexts (see
/// [`admission::check`]); `ENOSPC` if not.
pub(crate) fn recap(ctx: &Context, mem: u64, compute_pct: u32) -> Result {
    let new = Reservation {
        gpus: ctx.gpus,
        mem,
        compute_pct,
    };
    let cards = cards(ctx.gpus)?;
    let list = CONTEXTS.lock();
    admit(&list, &new, Some(ctx), &cards, fmt!("{}", ctx.name_str()))?;
    ctx.inner.lock().ledger.set_limit(mem);
    ctx.gate.set_limit_pct(compute_pct);
    Ok(())
}

/// Where the vendor's nodes are (the host's paths).
pub(crate) const VENDOR_CTL: &CStr = c"/dev/nvidiactl";
pub(crate) const VENDOR_UVM: &CStr = c"/dev/nvidia-uvm";

/// A live context and what is registered for it.
struct Entry {
    ctx: Arc<Context>,
    /// Its sysfs directory, `contexts/NAME/`.
    dir: sysfs::Dir,
    /// Its nodes in fakegpufs (`/sys/fs/fakegpu/NAME/`), removed first.
    _fsdir: FsDir,
    /// Its nodes.
    _nodes: KVec<Pin<KBox<NodeRegistration<ProxyFile>>>>,
    /// Holds the module while the context exists.
    _module: crate::ModuleRef,
}

/// All contexts.
pub(crate) struct ContextList {
    entries: KVec<Entry>,
    /// `/sys/kernel/fakegpu/contexts/`, while the module is loaded.
    dir: Option<sysfs::Dir>,
}

kernel::sync::global_lock! {
    // SAFETY: `init` is called in the module initializer, before first use.
    pub(crate) unsafe(uninit) static CONTEXTS: Mutex<ContextList> = ContextList { entries: KVec::new(), dir: None };
}

/// Sets (or, with `None`, removes) the `contexts/` directory. Removing it
/// (module unload) also frees the registry's storage: a `static` is never
/// dropped, so its vector's buffer would otherwise outlive the module.
pub(crate) fn set_contexts_dir(dir: Option<sysfs::Dir>) {
    let mut list = CONTEXTS.lock();
    let unloading = dir.is_none();
    let old_dir = core::mem::replace(&mut list.dir, dir);
    // No context can exist at unload (each holds the module).
    let old_entries = if unloading {
        core::mem::take(&mut list.entries)
    } else {
        KVec::new()
    };
    drop(list);
    // Dropped without the lock held.
    drop(old_entries);
    drop(old_dir);
}

/// Creates a context: resolves the vendor's nodes, registers ours, adds the
/// sysfs directory. All or nothing.
pub(crate) fn create(spec: &CreateSpec<'_>, ctx_group: &'static sysfs::Group) -> Result {
    if lookup(spec.name).is_some() {
        pr_warn!("create {}: a context of that name exists\n", spec.name);
        return Err(EEXIST);
    }
    let module = crate::ModuleRef::get()?;
    let ctl = VendorPath::resolve(VENDOR_CTL).inspect_err(|_| {
        pr_warn!(
            "create {}: vendor node {} not found\n",
            spec.name,
            VENDOR_CTL.to_str().unwrap_or("?")
        );
    })?;
    let uvm = VendorPath::resolve(VENDOR_UVM).inspect_err(|_| {
        pr_warn!(
            "create {}: vendor node {} not found\n",
            spec.name,
            VENDOR_UVM.to_str().unwrap_or("?")
        );
    })?;
    let mut gpu_paths = KVec::with_capacity(spec.gpus.len(), GFP_KERNEL)?;
    for host in spec.gpus.iter() {
        let path = CString::try_from_fmt(fmt!("/dev/nvidia{host}"))?;
        let p = VendorPath::resolve(&path).map_err(|_| {
            pr_warn!(
                "create {}: GPU {host} does not exist (no /dev/nvidia{host})\n",
                spec.name
            );
            ENODEV
        })?;
        gpu_paths.push(p, GFP_KERNEL)?;
    }
    let wanted = Reservation {
        gpus: spec.gpus,
        mem: spec.mem_limit.unwrap_or(u64::MAX),
        compute_pct: spec.compute.limit_pct,
    };
    let cards = cards(spec.gpus)?;
    // Early, before nodes are made; again when it is added.
    admit(
        &CONTEXTS.lock(),
        &wanted,
        None,
        &cards,
        fmt!("create {}", spec.name),
    )?;
    let paths = VendorPaths {
        ctl,
        gpus: gpu_paths,
        uvm,
    };
    // What stat reports for each node in fakegpufs: the vendor's number of
    // what the node stands for, as the container numbers it.
    let ctl_rdev = paths.ctl.rdev();
    let uvm_rdev = paths.uvm.rdev();
    let gpu_major = paths.gpus.first().map_or(0, |p| miscdev::major(p.rdev()));
    let ctx = Context::new(spec.name, spec.gpus, paths, spec.mem_limit, &spec.compute)?;
    let fsdir = FsDir::new(&CString::try_from_fmt(fmt!("{}", spec.name))?)?;
    let mut nodes = KVec::with_capacity(spec.gpus.len() + 2, GFP_KERNEL)?;
    let mut add = |kind: NodeKind, node_name: fmt::Arguments<'_>, shown: u32| -> Result {
        let node = Arc::new(
            Node {
                ctx: ctx.clone(),
                kind,
            },
            GFP_KERNEL,
        )?;
        let reg = NodeRegistration::register(
            CString::try_from_fmt(fmt!("fakegpu/{}/{node_name}", spec.name))?,
            node.clone(),
        )?;
        fsdir.mknod::<ProxyFile>(&CString::try_from_fmt(node_name)?, shown, node)?;
        nodes.push(reg, GFP_KERNEL)?;
        Ok(())
    };
    add(NodeKind::Ctl, fmt!("nvidiactl"), ctl_rdev)?;
    for local in 0..spec.gpus.len() as u32 {
        add(
            NodeKind::Gpu(local),
            fmt!("nvidia{local}"),
            miscdev::mkdev(gpu_major, local),
        )?;
    }
    add(NodeKind::Uvm, fmt!("nvidia-uvm"), uvm_rdev)?;

    let parent = CONTEXTS
        .lock()
        .dir
        .as_ref()
        .map(sysfs::Dir::clone_ref)
        .ok_or(ENODEV)?;
    let dir = parent.new_child(&ctx.name)?;
    drop(parent);
    dir.add_group(ctx_group)?;

    let mut list = CONTEXTS.lock();
    if list
        .entries
        .iter()
        .any(|e| e.ctx.name.to_bytes() == spec.name.as_bytes())
    {
        // Lost a race with another create of the same name: undo outside the lock.
        drop(list);
        drop((dir, fsdir, nodes));
        return Err(EEXIST);
    }
    if let Err(e) = admit(&list, &wanted, None, &cards, fmt!("create {}", spec.name)) {
        // Another create took the room meanwhile.
        drop(list);
        drop((dir, fsdir, nodes));
        return Err(e);
    }
    list.entries.push(
        Entry {
            ctx,
            dir,
            _fsdir: fsdir,
            _nodes: nodes,
            _module: module,
        },
        GFP_KERNEL,
    )?;
    Ok(())
}

/// Destroys a context: it disappears from the registry, its nodes and sysfs
/// directory go, and files still open fail every call with `ENODEV` until
/// closed (their charges are released when they close).
pub(crate) fn destroy(name: &str) -> Result {
    let entry = {
        let mut list = CONTEXTS.lock();
        let i = list
            .entries
            .iter()
            .position(|e| e.ctx.name.to_bytes() == name.as_bytes())
            .ok_or_else(|| {
                pr_warn!("destroy {name}: no such context\n");
                ENOENT
            })?;
        list.entries.remove(i)?
    };
    // Held submitters are let go with an error, and a submitter that is
    // not held now gets it at its next doorbell write: the doorbells are
    // zapped (a contended mm is retried for a while).
    entry.ctx.mark_dead();
    for gpu in entry.ctx.gpus.iter() {
        for _ in 0..100 {
            if doorbell::zap(&entry.ctx.gate, gpu) {
                break;
            }
            kernel::time::delay::fsleep(kernel::time::Delta::from_micros(500));
        }
        // Stopped channels run again, so a submitter waiting for its queued
        // work to complete gets on to its next doorbell write (and its error).
        if entry.ctx.gate.take_stopped(gpu) {
            entry.ctx.set_channels(Some(gpu), false);
        }
    }
    // Nodes and directory go here, with no lock held.
    drop(entry);
    Ok(())
}

/// Every live context (for the compute scheduler).
pub(crate) fn all() -> Result<KVec<Arc<Context>>> {
    let list = CONTEXTS.lock();
    let mut v = KVec::with_capacity(list.entries.len(), GFP_KERNEL)?;
    for e in list.entries.iter() {
        v.push(e.ctx.clone(), GFP_KERNEL)?;
    }
    Ok(v)
}

/// The context named `name`.
pub(crate) fn lookup(name: &str) -> Option<Arc<Context>> {
    let list = CONTEXTS.lock();
    list.entries
        .iter()
        .find(|e| e.ctx.name.to_bytes() == name.as_bytes())
        .map(|e| e.ctx.clone())
}

/// The context whose sysfs directory is `key`.
pub(crate) fn by_dir(key: sysfs::DirKey) -> Option<Arc<Context>> {
    let list = CONTEXTS.lock();
    list.entries
        .iter()
        .find(|e| e.dir.key() == key)
        .map(|e| e.ctx.clone())
}
