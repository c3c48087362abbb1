// SPDX-License-Identifier: GPL-2.0

//! Contexts: one per container. A context owns its proxy nodes, its sysfs
//! directory and its memory ledger; the registry maps names to contexts.
//!
//! Lock order: `CONTEXTS` before `Context::inner`. Neither is held while
//! registering or dropping nodes (`misc_mtx`, taken by the open path) or a
//! sysfs directory (which waits for running `show`/`store` callbacks, which
//! take `CONTEXTS`).

use crate::{
    fgcore::{ledger::Ledger, mgmt::GpuList, visibility::VisibleIds},
    miscdev::NodeRegistration,
    objects::ObjectTable,
    proxy::{Node, NodeKind},
    sysfs,
    vendor::VendorPath,
};
use kernel::{
    fmt, new_mutex,
    prelude::*,
    str::CString,
    sync::{
        aref::ARef,
        atomic::{Atomic, Relaxed},
        Arc, Mutex,
    },
    task::Task,
};

/// Where the vendor's nodes are (the host's paths).
pub(crate) const VENDOR_CTL: &CStr = c"/dev/nvidiactl";
pub(crate) const VENDOR_UVM: &CStr = c"/dev/nvidia-uvm";

/// The vendor's paths a context opens, resolved at creation.
pub(crate) struct VendorPaths {
    pub(crate) ctl: VendorPath,
    /// Indexed by the container's GPU number.
    pub(crate) gpus: KVec<VendorPath>,
    pub(crate) uvm: VendorPath,
}

/// State of a context that changes under its lock.
pub(crate) struct ContextInner {
    pub(crate) ledger: Ledger,
    /// Processes (tgid, in the initial pid namespace) with files open, and
    /// how many each.
    pub(crate) pids: KVec<(i32, u32)>,
    /// Vendor GPU ids the container was shown (and may attach).
    pub(crate) visible: VisibleIds,
    /// RM objects and the memory behind them.
    pub(crate) objects: ObjectTable,
    /// Calls the routing table does not route, per number (sysfs
    /// `unrouted`).
    pub(crate) unrouted: crate::fgcore::policy::UnroutedLog,
    /// Every process (its group leader) that made an allocating call
    /// through the context: the RM numbers a client by the process that
    /// made it, so these are the processes whose video memory the audit
    /// asks the vendor for. Dead ones are dropped at the next audit.
    pub(crate) auditees: KVec<ARef<Task>>,
    /// Charges of closed proxy files whose clients the vendor may still
    /// hold (its file outlives ours while a mapping or a registered GPU
    /// file holds it): (those clients, bytes). Returned by
    /// [`Context::settle_lingering`] once the vendor has freed them all.
    pub(crate) lingering: KVec<(KVec<u32>, u64)>,
    /// Managed (UVM) mappings, charged by size (sysfs `managed_memory`).
    pub(crate) managed: crate::managed::ManagedState,
}

/// One container's share of the GPU.
#[pin_data]
pub(crate) struct Context {
    pub(crate) name: CString,
    pub(crate) gpus: GpuList,
    pub(crate) paths: VendorPaths,
    #[pin]
    pub(crate) inner: Mutex<ContextInner>,
    /// Set when destroyed: opens fail and calls on open files get `ENODEV`.
    dead: Atomic<bool>,
    /// Source of the ids of the context's proxy files.
    next_file: Atomic<u64>,
    /// Set when a vendor file escaped fd translation or the vendor held
    /// more video memory than the ledger charged: opens and calls are
    /// refused until the context is destroyed.
    compromised: Atomic<bool>,
    pub(crate) open_files: Atomic<u32>,
    /// Which [`Refused`] kinds were logged: a tenant's refused calls are
    /// logged once per kind and context, so it cannot flood the kernel log.
    logged: [Atomic<bool>; 4],
    /// Audits of the vendor's video memory against the ledger (sysfs `audit`).
    pub(crate) audit_checks: Atomic<u64>,
    /// Audits that found the vendor holding more than the ledger charges.
    pub(crate) audit_divergences: Atomic<u64>,
    /// Compute share: the doorbell gate and the scheduler's figures.
    #[pin]
    pub(crate) compute: crate::compute::Compute,
}

impl Context {
    /// Whether the context was destroyed.
    pub(crate) fn is_dead(&self) -> bool {
        self.dead.load(Relaxed)
    }

    /// A new id for a proxy file of this context.
    pub(crate) fn next_file_id(&self) -> u64 {
        self.next_file.fetch_add(1, Relaxed)
    }

    /// Whether a vendor file escaped (see [`crate::proxy`]'s fd translation).
    pub(crate) fn is_compromised(&self) -> bool {
        self.compromised.load(Relaxed)
    }

    /// Refuses further opens, and every call on its open files, until the
    /// context is destroyed.
    pub(crate) fn mark_compromised(&self) {
        self.compromised.store(true, Relaxed);
    }
}

impl Context {
    /// Returns the charges of closed files whose clients the vendor has
    /// freed since (asked through the kernel RM API, without the context's
    /// lock held). Called where a charge matters: before an allocation is
    /// refused at the cap, and when the ledger is read through sysfs.
    pub(crate) fn settle_lingering(&self) {
        // Snapshot the client lists (cheap: rare, short).
        let mut pending: KVec<KVec<u32>> = KVec::new();
        {
            let inner = self.inner.lock();
            for (clients, _) in inner.lingering.iter() {
                let mut c = KVec::new();
                if c.extend_from_slice(clients, GFP_KERNEL).is_err()
                    || pending.push(c, GFP_KERNEL).is_err()
                {
                    return;
                }
            }
        }
        if pending.is_empty() {
            return;
        }
        for clients in pending.iter() {
            if crate::kapi::any_client_exists(clients) {
                continue;
            }
            let mut inner = self.inner.lock();
            let found = inner
                .lingering
                .iter()
                .position(|(c, _)| c[..] == clients[..]);
            if let Some(Ok((_, bytes))) = found.map(|i| inner.lingering.remove(i)) {
                if inner.ledger.uncharge(bytes).is_err() {
                    pr_err!(
                        "context {}: ledger underflow settling a closed file\n",
                        self.name.to_str().unwrap_or("?")
                    );
                }
            }
        }
    }
}

/// Kinds of refused calls that are logged once per context.
#[derive(Clone, Copy)]
pub(crate) enum Refused {
    /// ATTACH_GPUS_TO_FD naming a GPU outside the context.
    Attach = 0,
    /// An fd of another context's file.
    ForeignFile = 1,
    /// RM_DUP_OBJECT from a client outside the context.
    ForeignDup = 2,
    /// FIFO_DISABLE_CHANNELS naming a client outside the context.
    ForeignChannels = 3,
}

impl Context {
    /// Whether a refusal of `kind` is the context's first (to be logged).
    pub(crate) fn first_refusal(&self, kind: Refused) -> bool {
        !self.logged[kind as usize].xchg(true, Relaxed)
    }
}

/// A live context and what is registered for it.
struct Entry {
    ctx: Arc<Context>,
    /// Its sysfs directory, `contexts/NAME/`.
    dir: sysfs::Dir,
    /// Its nodes.
    _nodes: KVec<Pin<KBox<NodeRegistration>>>,
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

fn node_name(ctx: &str, node: fmt::Arguments<'_>) -> Result<CString> {
    CString::try_from_fmt(fmt!("fakegpu/{ctx}/{node}"))
}

/// Creates a context: resolves the vendor's nodes, registers ours, adds the
/// sysfs directory. All or nothing.
pub(crate) fn create(
    spec: &crate::fgcore::mgmt::CreateSpec<'_>,
    ctx_group: &'static sysfs::Group,
) -> Result {
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
    let limit = spec.mem_limit.unwrap_or(u64::MAX);
    let ctx: Arc<Context> = Arc::pin_init(
        try_pin_init!(Context {
            name: CString::try_from_fmt(fmt!("{}", spec.name))?,
            gpus: spec.gpus,
            paths: VendorPaths { ctl, gpus: gpu_paths, uvm },
            inner <- new_mutex!(ContextInner { ledger: Ledger::new(limit), pids: KVec::new(), visible: VisibleIds::EMPTY, objects: ObjectTable::new(), unrouted: crate::fgcore::policy::UnroutedLog::new(), auditees: KVec::new(), lingering: KVec::new(), managed: crate::managed::ManagedState::new() }, "Context::inner"),
            dead: Atomic::new(false),
            next_file: Atomic::new(1),
            compromised: Atomic::new(false),
            open_files: Atomic::new(0),
            logged: [const { Atomic::new(false) }; 4],
            audit_checks: Atomic::new(0),
            audit_divergences: Atomic::new(0),
            compute <- crate::compute::Compute::new(),
        }),
        GFP_KERNEL,
    )?;

    ctx.compute.set_limit_pct(spec.compute.limit_pct);
    ctx.compute.set_weight(spec.compute.weight);
    ctx.compute.set_priority(spec.compute.priority);

    let mut nodes = KVec::with_capacity(spec.gpus.len() + 2, GFP_KERNEL)?;
    let mut add = |kind: NodeKind, name: CString| -> Result {
        let node = Arc::new(
            Node {
                ctx: ctx.clone(),
                kind,
            },
            GFP_KERNEL,
        )?;
        nodes.push(NodeRegistration::register(name, node)?, GFP_KERNEL)?;
        Ok(())
    };
    add(NodeKind::Ctl, node_name(spec.name, fmt!("nvidiactl"))?)?;
    for local in 0..spec.gpus.len() as u32 {
        add(
            NodeKind::Gpu(local),
            node_name(spec.name, fmt!("nvidia{local}"))?,
        )?;
    }
    add(NodeKind::Uvm, node_name(spec.name, fmt!("nvidia-uvm"))?)?;

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
        drop((dir, nodes));
        return Err(EEXIST);
    }
    list.entries.push(
        Entry {
            ctx,
            dir,
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
    entry.ctx.dead.store(true, Relaxed);
    // Held submitters are let go with an error, and a submitter that is
    // not held now gets it at its next doorbell write: the doorbells are
    // zapped (a contended mm is retried for a while).
    entry.ctx.compute.kill();
    for gpu in entry.ctx.gpus.iter() {
        for _ in 0..100 {
            if crate::doorbell::zap_context(&entry.ctx, gpu) {
                break;
            }
            kernel::time::delay::fsleep(kernel::time::Delta::from_micros(500));
        }
        // Stopped channels run again, so a submitter waiting for its queued
        // work to complete gets on to its next doorbell write (and its error).
        if entry.ctx.compute.take_stopped(gpu) {
            crate::kapi::set_channels(&entry.ctx, Some(gpu), false);
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
