// SPDX-License-Identifier: GPL-2.0

//! Compute time slices: the scheduler that opens and shuts the gates
//! ([`crate::gate`]) of every physical GPU, period after period.
//!
//! The lever (`docs/compute-levers.md`): a container submits GPU work by
//! writing its channel's token to the doorbell of a mapped usermode object
//! (class 0xc661 on Hopper). Those mappings go through the proxy's mmap, so
//! the module owns their page tables: shutting a context's gate zaps the
//! doorbell PTEs, and the next doorbell write faults into
//! [`crate::doorbell`], which holds the submitter (sleeping interruptibly)
//! until the gate opens again, then re-inserts the page. Work already queued
//! drains; nothing is lost.
//!
//! Every period (module parameter `sched_period_ms`) the scheduler thread
//! asks the pure policy ([`crate::fgcore::sched::plan`]) for each busy
//! context's share of each GPU, then opens the busy contexts' gates together
//! and shuts them one by one ([`crate::fgcore::sched::staircase`], which
//! allows for the engine time switching between them costs), so that
//! each gets its share while the engine stays busy as long as anybody may
//! run. A busy context's channels are stopped at its shut (the kernel RM
//! client, [`crate::kapi`]) and resumed for its next window; its gate opens
//! a little before that, so that its held submitters have queued their
//! work when the window starts (`run_period`). A context is busy if it rang its
//! doorbell during the last period or a submitter of it is held now: at the
//! start of every period each context's doorbell pages are zapped again
//! ("armed"), so the first ring of a period faults once and is seen, even
//! while the gate is open. A held submitter of a context that has no share
//! in the running period wakes the scheduler at once when it deserves the
//! GPU now (high priority over normal ones, or a GPU nobody else uses).
//!
//! Accounting is the scheduler's own grants: `compute_used_us` is the open
//! time of a context's windows in periods it was busy; `throttled_us` sums
//! the time its submitters spent held. Queued work that runs after a gate
//! shut (the drain) is not seen by these figures; see the docs.
//!
//! Lock order: a context's gate is taken with mmap or VMA locks held (in
//! the fault path); the scheduler takes a gate only with no mm lock held,
//! and an mm lock only with `mmap_read_trylock` (never waiting), so a
//! submitter held in a fault cannot deadlock the scheduler.

use crate::{
    context::Context,
    fgcore::sched::{plan, staircase, window, Demand, Priority, MAX_PER_GPU},
    gate::{note_latency, PerGpu, Waker, STOP_HELD, STOP_TRIED},
    registry,
};
use kernel::{
    bindings,
    prelude::*,
    sync::{atomic::Relaxed, Arc},
    time::{Delta, Instant, Monotonic},
};

/// The scheduler: one kernel thread for all GPUs (each GPU's plan is
/// independent; the thread only merges their timelines).
pub(crate) struct Sched {
    waker: Arc<Waker>,
    period_us: u64,
}

/// The running scheduler thread; stopped when dropped.
pub(crate) struct Running {
    thread: crate::kthread::Thread,
}

impl Drop for Running {
    fn drop(&mut self) {
        self.thread.stop();
        Waker::unregister();
        crate::kapi::release();
    }
}

/// Starts the scheduler with a period of `period_ms` (clamped to 1..=1000).
pub(crate) fn start(period_ms: u32) -> Result<Running> {
    let period_us = u64::from(period_ms.clamp(1, 1000)) * 1000;
    let s = Sched {
        waker: Waker::register()?,
        period_us,
    };
    let thread = crate::kthread::Thread::spawn(c"fakegpu-sched", move || run(&s))?;
    Ok(Running { thread })
}

/// One context's place in the running period.
struct Slot {
    ctx: Arc<Context>,
    gpu: u32,
    busy: bool,
    /// Its channels run (its gate is open) from `lead` µs into the period
    /// for `len` µs.
    len: u64,
    /// How early its gate opens before its channels resume (µs from the
    /// period's start; see `run_period`), 0 for most.
    lead: u64,
    /// Its gate opened early; its channels resume at `lead`.
    resume_pending: bool,
    /// When its shut starts (µs from the period's start), once its window
    /// started; `u64::MAX` while it has not, or if it stays open.
    end: u64,
    /// GPU time the plan gives it this period (what a full window charges).
    share: u64,
    open: bool,
    /// The window the plan gave, before the debt was applied to `len`.
    planned: u64,
    /// When its window started this period: its gate opened or was found
    /// open, or (with a lead) its channels resumed.
    opened_at: Option<Instant<Monotonic>>,
    /// How long its window really lasted this period (from its start to
    /// the end of its shut, its channels' stop), µs (set by `charge`).
    open_us: u64,
}

impl Slot {
    /// The context's state on the slot's GPU.
    fn g(&self) -> &PerGpu {
        self.ctx.gate.on(self.gpu)
    }
}

impl Sched {
    /// Sleeps until `deadline` or a kick; returns whether kicked.
    fn sleep_until(&self, deadline: Instant<Monotonic>) -> bool {
        self.waker
            .sleep_until(deadline, crate::kthread::should_stop)
    }
}

fn run(s: &Sched) {
    // The lowest real-time priority: the gates' timing is the accuracy of
    // every share, and a period's work is short; a busy tenant's threads
    // must not delay it (in the test VM they delayed planning by 5-13 ms).
    // SAFETY: the current task is this kernel thread, alive.
    unsafe { bindings::sched_set_fifo_low(kernel::task::Task::current_raw()) };
    let mut last_end: Option<Instant<Monotonic>> = None;
    let mut periods: u64 = 0;
    while !crate::kthread::should_stop() {
        // Every 20 periods: free the kernel RM client if no channel is left.
        if periods % 20 == 0 {
            let any_channels = registry::all()
                .is_ok_and(|all| all.iter().any(|c| c.inner.lock().objects.has_channels()));
            crate::kapi::release_if_idle(any_channels);
        }
        periods = periods.wrapping_add(1);
        let mut slots = match plan_period(s.period_us) {
            Ok(v) => v,
            Err(_) => {
                s.sleep_until(Instant::<Monotonic>::now() + Delta::from_micros(s.period_us as i64));
                continue;
            }
        };
        // The time between periods (planning) passes for the contexts too.
        let gap_us = last_end.map_or(0, |t| t.elapsed().as_micros_ceil().max(0) as u64);
        run_period(s, &mut slots, gap_us);
        last_end = Some(Instant::<Monotonic>::now());
    }
    // Leave nobody held: contexts are gone at unload, but be safe.
    for c in registry::all().unwrap_or_default().iter() {
        c.set_channels(None, false);
        for gpu in c.gpus.iter() {
            c.gate.set_run(gpu, true);
            c.gate.set_open(gpu, true);
        }
    }
}

/// Plans one period: every context's window on its GPU.
fn plan_period(period_us: u64) -> Result<KVec<Slot>> {
    let all = registry::all()?;
    let mut slots = KVec::with_capacity(all.len(), GFP_KERNEL)?;
    let mut gpus: KVec<u32> = KVec::new();
    for c in all.iter() {
        for gpu in c.gpus.iter() {
            if !gpus.contains(&gpu) {
                gpus.push(gpu, GFP_KERNEL)?;
            }
        }
    }
    let mut demands: KVec<Demand> = KVec::new();
    let mut out: KVec<u64> = KVec::new();
    let mut members: KVec<Arc<Context>> = KVec::new();
    for &gpu in gpus.iter() {
        demands.clear();
        members.clear();
        for c in all
            .iter()
            .filter(|c| c.gpus.iter().any(|g| g == gpu))
            .take(MAX_PER_GPU)
        {
            let pg = c.gate.on(gpu);
            let busy = pg.active.xchg(0, Relaxed) != 0
                || pg.waiters.load(Relaxed) != 0
                || pg.stopped.load(Relaxed) != 0;
            demands.push(
                Demand {
                    params: c.gate.params(),
                    busy,
                },
                GFP_KERNEL,
            )?;
            members.push(c.clone(), GFP_KERNEL)?;
        }
        out.clear();
        for _ in 0..demands.len() {
            out.push(0, GFP_KERNEL)?;
        }
        plan(period_us, &demands, &mut out);
        // All gates open together and shut one by one (see `staircase`).
        let mut close = KVec::with_capacity(out.len(), GFP_KERNEL)?;
        for _ in 0..out.len() {
            close.push(0u64, GFP_KERNEL)?;
        }
        staircase(period_us, crate::switch_loss_pct(), &mut out, &mut close);
        for (i, m) in members.iter().enumerate() {
            slots.push(
                Slot {
                    ctx: m.clone(),
                    gpu,
                    busy: demands[i].busy,
                    len: close[i],
                    lead: 0,
                    resume_pending: false,
                    end: u64::MAX,
                    share: out[i],
                    open: false,
                    planned: close[i],
                    opened_at: None,
                    open_us: 0,
                },
                GFP_KERNEL,
            )?;
        }
    }
    Ok(slots)
}

/// Runs one period: gives every context with a share an open gate from the
/// period's start (a gate that was open stays open: its doorbells are only
/// zapped again, "armed", so the first ring is seen; a held submitter is
/// never made to wait for a gate that shuts and reopens at the boundary),
/// shuts the others, and shuts each window at its end. A window that lasts
/// the whole period is left open for the next period to decide. Ends early
/// (the caller plans again at once) when a held submitter deserves the GPU
/// now.
fn run_period(s: &Sched, slots: &mut [Slot], gap_us: u64) {
    let t0 = Instant::<Monotonic>::now();
    // A window shorter than the period gets back what earlier ones lost
    // (or gave up) to the scheduler's own lateness: periods run longer than
    // planned when a wakeup is late, and a window's share is of the time
    // that really passed. Bounded, so a long stall is not made up in a
    // burst; forgotten when the context has no such window.
    for sl in slots.iter_mut() {
        if window::owes(sl.busy, sl.planned, s.period_us) {
            // Never below half the plan: a window of 0 would read as "no
            // share" (and a held submitter would ask for a replan).
            sl.len = window::len(sl.planned, sl.g().debt_us.load(Relaxed), s.period_us);
        } else {
            sl.g().debt_us.store(0, Relaxed);
        }
    }
    // Shut first the gates that lose the GPU, then open the new ones.
    for sl in slots.iter_mut().filter(|sl| sl.len == 0) {
        if sl.ctx.gate.is_open(sl.gpu) {
            shut(sl);
        }
    }
    for sl in slots.iter_mut().filter(|sl| sl.len > 0) {
        sl.open = true;
        let (ctx, gpu) = (sl.ctx.clone(), sl.gpu);
        let cs = &ctx.gate;
        if cs.is_open(gpu) {
            // Arm: a shut gate's doorbells are already zapped. (Channels
            // left stopped by a period cut short run again now.)
            zap(&sl.ctx, gpu);
            resume(sl);
        } else {
            if cs.stop_held(gpu) && sl.len < s.period_us {
                // Its channels, not its gate, decide when its work runs:
                // open the gate now and resume the channels a little
                // later, so that the submitters held at the shut are back
                // (their doorbell writes through, their work queued) when
                // the window starts. Woken submitters take a while to get
                // going (a moment on hardware, milliseconds in the test
                // VM), and the window is theirs only while the channels
                // run.
                let wake = cs.on(gpu).wake_us.load(Relaxed);
                sl.lead = window::lead(wake, LEAD_MARGIN_US, s.period_us, sl.len);
            }
            sl.resume_pending = sl.lead > 0;
            // Without a head start: its channels run again, then its
            // submitters may add work.
            if !sl.resume_pending {
                resume(sl);
            }
            cs.set_open(gpu, true);
        }
        if !sl.resume_pending {
            set_end(sl, t0, s.period_us);
        }
    }
    loop {
        let now_us = t0.elapsed().as_micros_ceil().max(0) as u64;
        let mut next = s.period_us;
        for sl in slots.iter_mut().filter(|sl| sl.open && sl.resume_pending) {
            if now_us >= sl.lead {
                resume(sl);
                set_end(sl, t0, s.period_us);
            } else {
                next = next.min(sl.lead);
            }
        }
        for sl in slots.iter_mut().filter(|sl| sl.open && sl.end != u64::MAX) {
            if now_us >= sl.end {
                shut(sl);
                charge(sl, sl.len);
            } else {
                next = next.min(sl.end);
            }
        }
        // A zap that skipped a contended mm (a shut gate's, or an arming)
        // is retried every RETRY_ZAP_US until it holds.
        for sl in slots.iter().filter(|sl| sl.g().unzapped.load(Relaxed) != 0) {
            if !zap(&sl.ctx, sl.gpu) {
                next = next.min(now_us + RETRY_ZAP_US);
            }
        }
        if now_us >= s.period_us {
            break;
        }
        let kicked = s.sleep_until(t0 + Delta::from_micros(next as i64));
        if crate::kthread::should_stop() {
            break;
        }
        if kicked && deserves_now(slots) {
            let now_us = t0.elapsed().as_micros_ceil().max(0) as u64;
            for sl in slots.iter_mut().filter(|sl| sl.open) {
                // Still stopped channels keep their mark: the next
                // period resumes them (the gate stays open).
                sl.resume_pending = false;
                charge(sl, now_us.saturating_sub(sl.lead));
            }
            return;
        }
    }
    for sl in slots.iter_mut().filter(|sl| sl.open) {
        charge(sl, sl.len);
    }
    // Settle the debts: each short window was owed its planned fraction of
    // the time that really passed.
    let real =
        (t0.elapsed().as_micros_ceil().max(1) as u64).saturating_add(gap_us.min(s.period_us));
    for sl in slots
        .iter()
        .filter(|sl| window::owes(sl.busy, sl.planned, s.period_us))
    {
        let d = sl.g().debt_us.load(Relaxed);
        let d = window::settle(d, sl.planned, real, sl.open_us, s.period_us);
        sl.g().debt_us.store(d, Relaxed);
    }
}

/// How long before its window's end a slot's shut starts, µs: the
/// measured time a stop of its channels takes to return (the stop takes
/// effect at about its return; 0.5-0.7 ms for 20 channels on the H100,
/// about 1.5 ms in the test VM), at most half the window.
fn shut_cost(sl: &Slot) -> u64 {
    if sl.busy && crate::stop_channels() {
        window::shut_cost(sl.g().stop_us.load(Relaxed), sl.len)
    } else {
        0
    }
}

/// Sets when a slot whose window just started shuts: `len` after the
/// start (resuming channels takes a while: 1.5 ms in the test VM), less
/// the time the stop will take; never past the period. A window the plan
/// lets run to the period's end stays open.
fn set_end(sl: &mut Slot, t0: Instant<Monotonic>, period_us: u64) {
    let started = sl
        .opened_at
        .map_or(0, |t| (t - t0).as_micros_ceil().max(0) as u64);
    sl.end = window::end(started, sl.len, shut_cost(sl), sl.lead, period_us).unwrap_or(u64::MAX);
}

/// Resumes a slot's channels if the scheduler stopped them, and starts
/// the clock of its window.
fn resume(sl: &mut Slot) {
    if sl.ctx.gate.take_stopped(sl.gpu) {
        sl.ctx.set_channels(Some(sl.gpu), false);
    }
    sl.ctx.gate.set_run(sl.gpu, true);
    sl.resume_pending = false;
    sl.opened_at = Some(Instant::<Monotonic>::now());
}

/// Ends a slot's window after `ran` µs of it: records how long it really
/// was open (its channels running) and charges the part of its share that
/// the window covered, if it was busy.
fn charge(sl: &mut Slot, ran: u64) {
    sl.open = false;
    sl.open_us = sl
        .opened_at
        .map_or(0, |t| t.elapsed().as_micros_ceil().max(0) as u64);
    if sl.busy {
        let charged = window::charge(sl.share, ran, sl.len);
        sl.ctx.gate.add_used(charged);
    }
}

/// Shuts a slot's gate and zaps its doorbells; if it was busy, first stops
/// its channels, so that the work it queued does not run on in the others'
/// time (it then counts as busy until they run again: with its channels
/// stopped and its queue full it may never ring its doorbell), and
/// records how long the stop took (see `shut_cost`). A context that had
/// no work keeps its channels running: nothing of its runs.
fn shut(sl: &mut Slot) {
    sl.open = false;
    let cs = &sl.ctx.gate;
    if sl.busy && crate::stop_channels() {
        // The channels first: they end the window (the work queued stops
        // where it is); the gate then holds the submitters.
        let t = Instant::<Monotonic>::now();
        let pg = cs.on(sl.gpu);
        cs.set_run(sl.gpu, false);
        pg.stopped.store(STOP_TRIED, Relaxed);
        if sl.ctx.set_channels(Some(sl.gpu), true) {
            pg.stopped.store(STOP_HELD, Relaxed);
            note_latency(&pg.stop_us, t);
        }
    }
    cs.set_open(sl.gpu, false);
    zap(&sl.ctx, sl.gpu);
}

/// Added to twice the measured wake latency of held submitters to make a
/// gate's early opening (see `run_period`), µs. Bounded to a tenth of the
/// period.
const LEAD_MARGIN_US: u64 = 200;

/// How soon a zap that skipped a contended mm is retried, µs.
const RETRY_ZAP_US: u64 = 500;

/// Zaps `ctx`'s doorbells on host GPU `gpu`; records (and returns)
/// whether it is complete.
fn zap(ctx: &Arc<Context>, gpu: u32) -> bool {
    let done = crate::doorbell::zap(&ctx.gate, gpu);
    ctx.gate.on(gpu).unzapped.store(u32::from(!done), Relaxed);
    done
}

/// Whether a held submitter should get the GPU before the period ends: it
/// is high priority and its GPU had no high-priority share this period, or
/// its GPU had no busy context at all (idle GPU: work-conserving).
fn deserves_now(slots: &[Slot]) -> bool {
    let waiting = |sl: &Slot| sl.g().waiters.load(Relaxed) != 0 && sl.len == 0;
    slots.iter().filter(|sl| waiting(sl)).any(|w| {
        let same = || slots.iter().filter(|o| o.gpu == w.gpu);
        let idle_gpu = same().all(|o| o.len == 0);
        let high = w.ctx.gate.params().priority == Priority::High;
        let high_served =
            same().any(|o| o.len > 0 && o.ctx.gate.params().priority == Priority::High);
        idle_gpu || (high && !high_served)
    })
}
