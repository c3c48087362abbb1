// SPDX-License-Identifier: GPL-2.0

//! The management interface in sysfs, `/sys/kernel/fakegpu/` (documented
//! file by file in `Documentation/ABI/testing/`):
//!
//! - `version` (r): the module's version;
//! - `driver` (r): the vendor driver met, its version and the ABI table
//!   in use (`nvidia 580.159.04 580`; `unsupported`: no table, refused);
//! - `create` (w): `NAME key=value...` creates a context and its nodes;
//! - `destroy` (w): `NAME` removes it;
//! - `overcommit` (rw): how far the caps on a GPU may sum past the card;
//! - `contexts/NAME/`: `gpus`, `mem_limit_bytes` (rw), `mem_used_bytes`,
//!   `mem_peak_bytes`, `alloc_refused`, `open_files`, `pids`, `unrouted`,
//!   `audit`, `managed_memory` (rw), `managed`, `limits` (rw),
//!   `compute_limit_pct` (rw), `compute_weight` (rw), `priority` (rw),
//!   `compute_used_us`, `throttled_us`.
//!
//! Writes need `CAP_SYS_ADMIN` (beyond the files' root-only modes); bad
//! input is refused with an errno and a log line saying why.

use crate::{
    context,
    fgcore::{
        admission,
        ledger::Ledger,
        limits::{self, Limited},
        managed, mgmt as parse, quantity, sched,
    },
    registry,
    sysfs::{Attr, AttrList, Dir, DirKey, Group, ShowBuf},
    vendor, VERSION,
};
use kernel::{bindings, prelude::*, sync::atomic::Relaxed};

fn require_admin() -> Result {
    // SAFETY: `capable` only reads the current task's credentials.
    if unsafe { bindings::capable(bindings::CAP_SYS_ADMIN as i32) } {
        Ok(())
    } else {
        Err(EPERM)
    }
}

/// The module's sysfs directory. `contexts/` is kept by the context
/// registry (new contexts go below it) and given back on drop.
pub(crate) struct Management {
    _root: Dir,
}

impl Management {
    /// Creates `/sys/kernel/fakegpu/` and `contexts/`.
    pub(crate) fn new() -> Result<Self> {
        let root = Dir::new_in_kernel_kobj(c"fakegpu")?;
        root.add_group(&ROOT_GROUP)?;
        registry::set_contexts_dir(Some(root.new_child(c"contexts")?));
        Ok(Self { _root: root })
    }
}

impl Drop for Management {
    fn drop(&mut self) {
        // `contexts/` goes before its parent.
        registry::set_contexts_dir(None);
    }
}

fn show_version(_: DirKey, out: &mut ShowBuf<'_>) -> Result {
    out.line(format_args!("{VERSION}"))
}

fn show_driver(_: DirKey, out: &mut ShowBuf<'_>) -> Result {
    match vendor::met() {
        Some(m) => out.line(format_args!("{m}")),
        None => out.line(format_args!("none")),
    }
}

fn store_create(_: DirKey, input: &[u8]) -> Result {
    require_admin()?;
    let spec = parse::parse_create(input).map_err(|e| {
        pr_warn!("create: {}\n", e.reason());
        EINVAL
    })?;
    registry::create(&spec, &CTX_GROUP)?;
    pr_info!("context {} created\n", spec.name);
    Ok(())
}

fn show_overcommit(_: DirKey, out: &mut ShowBuf<'_>) -> Result {
    let r = registry::overcommit_pct();
    out.line(format_args!("{}.{:02}", r / 100, r % 100))
}

fn store_overcommit(_: DirKey, input: &[u8]) -> Result {
    require_admin()?;
    let r = admission::parse_ratio(input).ok_or_else(|| {
        pr_warn!("overcommit: want a ratio from 1 to 100 with at most two decimals (1.5)\n");
        EINVAL
    })?;
    registry::set_overcommit_pct(r);
    Ok(())
}

fn store_destroy(_: DirKey, input: &[u8]) -> Result {
    require_admin()?;
    let name = parse::parse_destroy(input).map_err(|e| {
        pr_warn!("destroy: {}\n", e.reason());
        EINVAL
    })?;
    registry::destroy(name)?;
    pr_info!("context {name} destroyed\n");
    Ok(())
}

static VERSION_ATTR: Attr = Attr::read_only(c"version", show_version);
static CREATE_ATTR: Attr = Attr::write_only(c"create", store_create);
static DESTROY_ATTR: Attr = Attr::write_only(c"destroy", store_destroy);
static OVERCOMMIT_ATTR: Attr = Attr::read_write(c"overcommit", show_overcommit, store_overcommit);
static DRIVER_ATTR: Attr = Attr::read_only(c"driver", show_driver);
static ROOT_ATTRS: AttrList<5> = AttrList::new([
    &VERSION_ATTR,
    &CREATE_ATTR,
    &DESTROY_ATTR,
    &OVERCOMMIT_ATTR,
    &DRIVER_ATTR,
]);
static ROOT_GROUP: Group = Group::new(&ROOT_ATTRS);

fn ctx_of(key: DirKey) -> Result<kernel::sync::Arc<context::Context>> {
    registry::by_dir(key).ok_or(ENODEV)
}

fn show_gpus(key: DirKey, out: &mut ShowBuf<'_>) -> Result {
    let ctx = ctx_of(key)?;
    let mut first = true;
    for g in ctx.gpus.iter() {
        out.text(format_args!("{}{g}", if first { "" } else { "," }))?;
        first = false;
    }
    out.line(format_args!(""))
}

/// Shows one value of a context's ledger.
fn show_ledger(key: DirKey, out: &mut ShowBuf<'_>, value: fn(&Ledger) -> u64) -> Result {
    let v = value(&ctx_of(key)?.inner.lock().ledger);
    out.line(format_args!("{v}"))
}

fn show_mem_limit(key: DirKey, out: &mut ShowBuf<'_>) -> Result {
    show_ledger(key, out, Ledger::limit)
}

fn store_mem_limit(key: DirKey, input: &[u8]) -> Result {
    require_admin()?;
    let v = quantity::parse_bytes(input).map_err(|_| {
        pr_warn!("mem_limit_bytes: invalid quantity\n");
        EINVAL
    })?;
    let ctx = ctx_of(key)?;
    let pct = ctx.gate.params().limit_pct;
    registry::recap(&ctx, v, pct)
}

fn show_mem_used(key: DirKey, out: &mut ShowBuf<'_>) -> Result {
    // What closed files still hold counts until the vendor has freed it;
    // managed memory that was unmapped goes.
    let ctx = ctx_of(key)?;
    ctx.settle_lingering();
    crate::managed::reconcile(&*ctx, true);
    show_ledger(key, out, Ledger::used)
}

fn show_mem_peak(key: DirKey, out: &mut ShowBuf<'_>) -> Result {
    show_ledger(key, out, Ledger::peak)
}

fn show_alloc_refused(key: DirKey, out: &mut ShowBuf<'_>) -> Result {
    show_ledger(key, out, Ledger::refused)
}

fn show_open_files(key: DirKey, out: &mut ShowBuf<'_>) -> Result {
    let v = ctx_of(key)?.open_files.load(Relaxed);
    out.line(format_args!("{v}"))
}

fn show_pids(key: DirKey, out: &mut ShowBuf<'_>) -> Result {
    let ctx = ctx_of(key)?;
    let inner = ctx.inner.lock();
    for (pid, _) in inner.pids.iter() {
        out.line(format_args!("{pid}"))?;
    }
    Ok(())
}

fn show_unrouted(key: DirKey, out: &mut ShowBuf<'_>) -> Result {
    let ctx = ctx_of(key)?;
    let log = ctx.inner.lock().unrouted;
    for (what, n) in log.entries() {
        out.line(format_args!("{} {:#x} {n}", what.kind(), what.number()))?;
    }
    if log.others > 0 {
        out.line(format_args!("others - {}", log.others))?;
    }
    Ok(())
}

fn show_audit(key: DirKey, out: &mut ShowBuf<'_>) -> Result {
    let ctx = ctx_of(key)?;
    out.line(format_args!("checks {}", ctx.audit_checks.load(Relaxed)))?;
    out.line(format_args!(
        "divergences {}",
        ctx.audit_divergences.load(Relaxed)
    ))?;
    out.line(format_args!(
        "compromised {}",
        u8::from(ctx.is_compromised())
    ))
}

fn show_managed_memory(key: DirKey, out: &mut ShowBuf<'_>) -> Result {
    let p = ctx_of(key)?.inner.lock().managed.policy;
    out.line(format_args!("{}", p.name()))
}

fn store_managed_memory(key: DirKey, input: &[u8]) -> Result {
    require_admin()?;
    let p = core::str::from_utf8(input)
        .ok()
        .and_then(managed::Policy::parse)
        .ok_or_else(|| {
            pr_warn!("managed_memory: want charge, deny or allow\n");
            EINVAL
        })?;
    ctx_of(key)?.inner.lock().managed.policy = p;
    Ok(())
}

fn show_managed(key: DirKey, out: &mut ShowBuf<'_>) -> Result {
    let ctx = ctx_of(key)?;
    crate::managed::reconcile(&*ctx, true);
    let inner = ctx.inner.lock();
    let m = &inner.managed;
    out.line(format_args!("bytes {}", m.ranges.total()))?;
    out.line(format_args!("ranges {}", m.ranges.count()))?;
    out.line(format_args!("refused {}", m.refused))
}

fn show_limits(key: DirKey, out: &mut ShowBuf<'_>) -> Result {
    let ctx = ctx_of(key)?;
    // Closed files' objects go once the vendor has freed their clients.
    ctx.settle_lingering();
    let doorbells = u64::from(ctx.gate.doorbells());
    let files = u64::from(ctx.open_files.load(Relaxed));
    let inner = ctx.inner.lock();
    for l in Limited::ALL {
        let used = match l {
            Limited::Objects => inner.objects.len() as u64,
            Limited::Files => files,
            Limited::Doorbells => doorbells,
        };
        out.line(format_args!(
            "{} {} {} {}",
            l.name(),
            inner.limits.get(l),
            used,
            inner.limit_refused[l as usize]
        ))?;
    }
    Ok(())
}

fn store_limits(key: DirKey, input: &[u8]) -> Result {
    require_admin()?;
    let ctx = ctx_of(key)?;
    let mut inner = ctx.inner.lock();
    inner.limits = inner.limits.with(input).map_err(|e| {
        pr_warn!(
            "limits: {:?}: want NAME=N words, NAME one of objects, files, doorbells, N 1-{}\n",
            e,
            limits::MAX_LIMIT
        );
        EINVAL
    })?;
    Ok(())
}

fn show_compute_limit(key: DirKey, out: &mut ShowBuf<'_>) -> Result {
    out.line(format_args!("{}", ctx_of(key)?.gate.params().limit_pct))
}

fn store_compute_limit(key: DirKey, input: &[u8]) -> Result {
    require_admin()?;
    let v = sched::parse_pct(input).ok_or_else(|| {
        pr_warn!("compute_limit_pct: not a percentage 1-100\n");
        EINVAL
    })?;
    let ctx = ctx_of(key)?;
    let mem = ctx.inner.lock().ledger.limit();
    registry::recap(&ctx, mem, v)
}

fn show_compute_weight(key: DirKey, out: &mut ShowBuf<'_>) -> Result {
    out.line(format_args!("{}", ctx_of(key)?.gate.params().weight))
}

fn store_compute_weight(key: DirKey, input: &[u8]) -> Result {
    require_admin()?;
    let v = sched::parse_weight(input).ok_or_else(|| {
        pr_warn!("compute_weight: not a weight 1-{}\n", sched::MAX_WEIGHT);
        EINVAL
    })?;
    ctx_of(key)?.gate.set_weight(v);
    Ok(())
}

fn show_priority(key: DirKey, out: &mut ShowBuf<'_>) -> Result {
    out.line(format_args!(
        "{}",
        ctx_of(key)?.gate.params().priority.name()
    ))
}

fn store_priority(key: DirKey, input: &[u8]) -> Result {
    require_admin()?;
    let p = sched::Priority::parse(input).ok_or_else(|| {
        pr_warn!("priority: not 'high' or 'normal'\n");
        EINVAL
    })?;
    ctx_of(key)?.gate.set_priority(p);
    Ok(())
}

fn show_compute_used(key: DirKey, out: &mut ShowBuf<'_>) -> Result {
    out.line(format_args!("{}", ctx_of(key)?.gate.used_us()))
}

fn show_throttled(key: DirKey, out: &mut ShowBuf<'_>) -> Result {
    out.line(format_args!("{}", ctx_of(key)?.gate.throttled_us()))
}

static GPUS_ATTR: Attr = Attr::read_only(c"gpus", show_gpus);
static MEM_LIMIT_ATTR: Attr = Attr::read_write(c"mem_limit_bytes", show_mem_limit, store_mem_limit);
static MEM_USED_ATTR: Attr = Attr::read_only(c"mem_used_bytes", show_mem_used);
static MEM_PEAK_ATTR: Attr = Attr::read_only(c"mem_peak_bytes", show_mem_peak);
static ALLOC_REFUSED_ATTR: Attr = Attr::read_only(c"alloc_refused", show_alloc_refused);
static OPEN_FILES_ATTR: Attr = Attr::read_only(c"open_files", show_open_files);
static PIDS_ATTR: Attr = Attr::read_only(c"pids", show_pids);
static UNROUTED_ATTR: Attr = Attr::read_only(c"unrouted", show_unrouted);
static AUDIT_ATTR: Attr = Attr::read_only(c"audit", show_audit);
static MANAGED_MEMORY_ATTR: Attr =
    Attr::read_write(c"managed_memory", show_managed_memory, store_managed_memory);
static MANAGED_ATTR: Attr = Attr::read_only(c"managed", show_managed);
static LIMITS_ATTR: Attr = Attr::read_write(c"limits", show_limits, store_limits);
static COMPUTE_LIMIT_ATTR: Attr = Attr::read_write(
    c"compute_limit_pct",
    show_compute_limit,
    store_compute_limit,
);
static COMPUTE_WEIGHT_ATTR: Attr =
    Attr::read_write(c"compute_weight", show_compute_weight, store_compute_weight);
static PRIORITY_ATTR: Attr = Attr::read_write(c"priority", show_priority, store_priority);
static COMPUTE_USED_ATTR: Attr = Attr::read_only(c"compute_used_us", show_compute_used);
static THROTTLED_ATTR: Attr = Attr::read_only(c"throttled_us", show_throttled);
static CTX_ATTRS: AttrList<17> = AttrList::new([
    &GPUS_ATTR,
    &MEM_LIMIT_ATTR,
    &MEM_USED_ATTR,
    &MEM_PEAK_ATTR,
    &ALLOC_REFUSED_ATTR,
    &OPEN_FILES_ATTR,
    &PIDS_ATTR,
    &UNROUTED_ATTR,
    &AUDIT_ATTR,
    &MANAGED_MEMORY_ATTR,
    &MANAGED_ATTR,
    &LIMITS_ATTR,
    &COMPUTE_LIMIT_ATTR,
    &COMPUTE_WEIGHT_ATTR,
    &PRIORITY_ATTR,
    &COMPUTE_USED_ATTR,
    &THROTTLED_ATTR,
]);
/// The files of one context's directory.
pub(crate) static CTX_GROUP: Group = Group::new(&CTX_ATTRS);
