// SPDX-License-Identifier: GPL-2.0

//! A context: one container's share of the GPUs. The struct and what
//! changes under its lock (ledger, object table, processes, managed
//! ranges); [`crate::registry`] creates, names and destroys contexts.
//!
//! Lock order: `registry::CONTEXTS` before `Context::inner`; a gate's lock
//! is never held while `inner` is taken.

use crate::{
    fgcore::{
        ledger::Ledger,
        limits::{Limited, Limits},
        mgmt::GpuList,
        policy::UnroutedLog,
        sched::Params,
        visibility::VisibleIds,
    },
    gate::Gate,
    kapi,
    managed::{self, ManagedState},
    objects::ObjectTable,
    vendor::VendorPath,
};
use kernel::{
    bindings, new_mutex,
    prelude::*,
    str::CString,
    sync::{
        aref::ARef,
        atomic::{Atomic, Relaxed},
        Arc, Mutex,
    },
    task::Task,
};

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
    pub(crate) unrouted: UnroutedLog,
    /// Every process (its group leader) that made an allocating call
    /// through the context: the RM numbers a client by the process that
    /// made it, so these are the processes whose video memory the audit
    /// asks the vendor for. Dead ones are dropped at the next audit.
    pub(crate) auditees: KVec<ARef<Task>>,
    /// Closed proxy files whose clients the vendor may still hold (its
    /// file outlives ours while a mapping or a registered GPU file holds
    /// it): (those clients, the file's id in the object table). Their
    /// objects stay in the table, holding their charges, until
    /// [`Context::settle_lingering`] finds the vendor freed them all and
    /// applies the file's close.
    pub(crate) lingering: KVec<(KVec<u32>, u64)>,
    /// Managed (UVM) mappings, charged by size (sysfs `managed_memory`).
    pub(crate) managed: ManagedState,
    /// Limits on objects, files and doorbell mappings (sysfs `limits`).
    pub(crate) limits: Limits,
    /// Calls refused at a limit, per [`Limited`].
    pub(crate) limit_refused: [u64; 3],
}

impl ContextInner {
    /// Whether one more of `l` is allowed with `used` existing; a refusal
    /// is counted.
    pub(crate) fn admit(&mut self, l: Limited, used: u64) -> bool {
        let ok = self.limits.allows(l, used);
        if !ok {
            self.limit_refused[l as usize] += 1;
        }
        ok
    }
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
    /// Compute share: the doorbell gate and the scheduler's figures
    /// (shared with the context's gated doorbell mappings).
    pub(crate) gate: Arc<Gate>,
}

impl Context {
    /// A context named `name` over host GPUs `gpus` (the vendor's nodes at
    /// `paths`), with a memory cap of `mem_limit` bytes (`None`: none) and
    /// the compute settings `compute`.
    pub(crate) fn new(
        name: &str,
        gpus: GpuList,
        paths: VendorPaths,
        mem_limit: Option<u64>,
        compute: &Params,
    ) -> Result<Arc<Self>> {
        let gate = Arc::pin_init(Gate::new(), GFP_KERNEL)?;
        gate.set_limit_pct(compute.limit_pct);
        gate.set_weight(compute.weight);
        gate.set_priority(compute.priority);
        let inner = ContextInner {
            ledger: Ledger::new(mem_limit.unwrap_or(u64::MAX)),
            pids: KVec::new(),
            visible: VisibleIds::EMPTY,
            objects: ObjectTable::new(),
            unrouted: UnroutedLog::new(),
            auditees: KVec::new(),
            lingering: KVec::new(),
            managed: ManagedState::new(),
            limits: Limits::DEFAULT,
            limit_refused: [0; 3],
        };
        Arc::pin_init(
            try_pin_init!(Context {
                name: CString::try_from_fmt(fmt!("{}", name))?,
                gpus,
                paths,
                inner <- new_mutex!(inner, "Context::inner"),
                dead: Atomic::new(false),
                next_file: Atomic::new(1),
                compromised: Atomic::new(false),
                open_files: Atomic::new(0),
                logged: [const { Atomic::new(false) }; 4],
                audit_checks: Atomic::new(0),
                audit_divergences: Atomic::new(0),
                gate,
            }),
            GFP_KERNEL,
        )
    }

    /// The context's name, for messages.
    pub(crate) fn name_str(&self) -> &str {
        self.name.to_str().unwrap_or("?")
    }

    /// Marks the context destroyed: opens fail, calls on its open files get
    /// `ENODEV`, and its held submitters are let go with an error.
    pub(crate) fn mark_dead(&self) {
        self.dead.store(true, Relaxed);
        self.gate.kill();
    }

    /// Stops (`disable`) or resumes the context's channels on host GPU
    /// `only` (`None`: on all its GPUs) through the kernel RM client; see
    /// [`kapi::set_channels`].
    pub(crate) fn set_channels(&self, only: Option<u32>, disable: bool) -> bool {
        let mut list: KVec<(u32, u32, u32)> = KVec::new();
        if self.inner.lock().objects.channels_into(&mut list).is_err() {
            return false;
        }
        kapi::set_channels(&mut list, only, disable)
    }

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
    /// The context's processes (those with a proxy file open), numbered in
    /// the calling task's pid namespace; those it cannot see are left out.
    pub(crate) fn pids_in_caller_ns(&self) -> Result<KVec<u32>> {
        let mut tgids = KVec::new();
        for (t, _) in self.inner.lock().pids.iter() {
            tgids.push(*t, GFP_KERNEL)?;
        }
        let mut out = KVec::with_capacity(tgids.len(), GFP_KERNEL)?;
        for t in tgids {
            let v = tgid_in_caller_ns(t);
            if v > 0 {
                out.push(v as u32, GFP_KERNEL)?;
            }
        }
        Ok(out)
    }

    /// Applies the close of closed files whose clients the vendor has
    /// freed since, returning what no object refers to any more (asked through the kernel RM API, without the context's
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
            if kapi::any_client_exists(clients) {
                continue;
            }
            let mut inner = self.inner.lock();
            let found = inner
                .lingering
                .iter()
                .position(|(c, _)| c[..] == clients[..]);
            if let Some(Ok((_, file))) = found.map(|i| inner.lingering.remove(i)) {
                // The file's close, now that the vendor applied it.
                let bytes = inner.objects.close_file(file);
                if inner.ledger.uncharge(bytes).is_err() {
                    pr_err!(
                        "context {}: ledger underflow settling a closed file\n",
                        self.name_str()
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

// The managed-memory glue reaches the context's state through this.
impl managed::Host for Context {
    fn with_locked<R>(&self, f: impl FnOnce(&mut ManagedState, &mut Ledger) -> R) -> R {
        let mut inner = self.inner.lock();
        let inner = &mut *inner;
        f(&mut inner.managed, &mut inner.ledger)
    }

    fn name(&self) -> &str {
        self.name_str()
    }
}

/// The number of host process `tgid` in the calling task's pid namespace
/// (0 when it is not visible there or has exited), as the RM numbers the
/// processes it reports (`_gpuConvertPid`).
fn tgid_in_caller_ns(tgid: i32) -> i32 {
    let _rcu = kernel::sync::rcu::read_lock();
    // SAFETY: `init_pid_ns` is a static; under the RCU read lock held, the
    // `struct pid` `find_pid_ns` returns stays valid while `pid_vnr` reads
    // it (both documented as callable under RCU).
    unsafe {
        let pid = bindings::find_pid_ns(tgid, &raw mut bindings::init_pid_ns);
        if pid.is_null() {
            return 0;
        }
        bindings::pid_vnr(pid)
    }
}
