// SPDX-License-Identifier: GPL-2.0

//! A context's compute gate: the state the doorbell fault path waits on
//! and the scheduler ([`crate::sched`]) opens and shuts.
//!
//! A container submits GPU work by writing its channel's token to a mapped
//! doorbell; shutting a gate zaps those mappings ([`crate::doorbell`]), and
//! the next write faults and waits here ([`Gate::pass`]) until the gate
//! opens again. The gate knows nothing of contexts: the doorbell records
//! and the context each hold an `Arc<Gate>`.
//!
//! Lock order: a gate's `state` is taken with mmap or VMA locks held (in
//! the fault path); the scheduler takes it only with no mm lock held. The
//! [`WAKER`] lock is taken with a gate's `state` held (a held submitter
//! kicks the scheduler), never the other way round.

use crate::fgcore::sched::{window, Params, Priority};
use kernel::{
    new_condvar, new_mutex,
    prelude::*,
    sync::{
        atomic::{Atomic, Relaxed},
        Arc, CondVar, Mutex,
    },
    time::{Instant, Monotonic},
};

/// `PerGpu::stopped`: a stop of the context's channels was asked for.
pub(crate) const STOP_TRIED: u32 = 1;
/// `PerGpu::stopped`: every stop of the context's channels succeeded.
pub(crate) const STOP_HELD: u32 = 2;

/// Host GPU indices a context's per-GPU state is kept for.
pub(crate) const NGPU: usize = crate::fgcore::mgmt::MAX_GPUS as usize;

/// The state behind a context's gates, one per host GPU (a bit each).
pub(crate) struct GateState {
    /// The GPUs on which the context may submit now.
    open: u64,
    /// The context was destroyed: held submitters get an error.
    dead: bool,
    /// When each gate last opened.
    opened_at: [Option<Instant<Monotonic>>; NGPU],
    /// The GPUs on which its channels may run: a bit is clear from just
    /// before the scheduler stops them until it resumes them (which can be
    /// after the gate opens), so the tenant cannot re-enable them in
    /// between (see [`Gate::if_open`]).
    run: u64,
}

/// Where host GPU `gpu`'s state is kept (host indices are below `NGPU`).
const fn idx(gpu: u32) -> usize {
    gpu as usize % NGPU
}

/// The bit of host GPU `gpu` in [`GateState`]'s masks.
const fn bit(gpu: u32) -> u64 {
    1u64 << idx(gpu)
}

/// Sets or clears `gpu`'s bit in `mask`.
fn set_bit(mask: &mut u64, gpu: u32, on: bool) {
    if on {
        *mask |= bit(gpu);
    } else {
        *mask &= !bit(gpu);
    }
}

/// Adds the time since `since` to the moving average (weight 1/4) in
/// `avg`, µs; the first sample is taken as it is.
pub(crate) fn note_latency(avg: &Atomic<u64>, since: Instant<Monotonic>) {
    let lat = since.elapsed().as_micros_ceil().clamp(1, 1_000_000) as u64;
    let old = avg.load(Relaxed);
    avg.store(window::average(old, lat), Relaxed);
}

/// Compute state of one context on one host GPU.
pub(crate) struct PerGpu {
    /// Rang a doorbell on this GPU since the period started (a fault was
    /// taken).
    pub(crate) active: Atomic<u32>,
    /// Submitters held in the fault path now.
    pub(crate) waiters: Atomic<u32>,
    /// The last zap skipped an mm whose lock was contended: retry soon.
    pub(crate) unzapped: Atomic<u32>,
    /// Its channels were stopped at a shut while it was busy: it has work
    /// queued that cannot run (and so no reason to ring its doorbell),
    /// so it counts as busy until they run again. [`STOP_TRIED`] or, if
    /// every stop succeeded, [`STOP_HELD`]; 0 when running.
    pub(crate) stopped: Atomic<u32>,
    /// How long a held submitter takes to leave the fault once its gate
    /// opens, µs (moving average, 0 until measured).
    pub(crate) wake_us: Atomic<u64>,
    /// How long stopping its channels takes, µs (moving average of the
    /// calls that succeeded, 0 until measured): a window's shut starts
    /// this much before its end, so the stop takes effect at the end.
    pub(crate) stop_us: Atomic<u64>,
    /// Open time owed to the context (µs; negative: owed by it): what its
    /// windows lost to or gained from late wakeups of the scheduler, given
    /// back in the next periods (see `run_period`).
    pub(crate) debt_us: Atomic<i64>,
}

impl PerGpu {
    const fn new() -> Self {
        Self {
            active: Atomic::new(0),
            waiters: Atomic::new(0),
            unzapped: Atomic::new(0),
            stopped: Atomic::new(0),
            wake_us: Atomic::new(0),
            stop_us: Atomic::new(0),
            debt_us: Atomic::new(0),
        }
    }
}

/// One context's compute gate: whether its submitters may ring their
/// doorbells on each of its GPUs, its settings and its figures.
#[pin_data]
pub(crate) struct Gate {
    #[pin]
    state: Mutex<GateState>,
    /// Held submitters wait here for their GPU's bit in `state.open`, or
    /// for `state.dead`.
    #[pin]
    opened: CondVar,
    limit_pct: Atomic<u32>,
    weight: Atomic<u32>,
    high: Atomic<u32>,
    /// Per host GPU (a multi-GPU context is scheduled on each of its GPUs).
    per: [PerGpu; NGPU],
    used_us: Atomic<u64>,
    throttled_us: Atomic<u64>,
    /// Gated doorbell mappings that exist.
    doorbells: Atomic<u32>,
}

impl Gate {
    /// Open gate, no cap, weight 1, normal priority.
    pub(crate) fn new() -> impl PinInit<Self, Error> {
        try_pin_init!(Self {
            state <- new_mutex!(GateState { open: !0, dead: false, opened_at: [None; NGPU], run: !0 }),
            opened <- new_condvar!(),
            limit_pct: Atomic::new(100),
            weight: Atomic::new(1),
            high: Atomic::new(0),
            per: [const { PerGpu::new() }; NGPU],
            used_us: Atomic::new(0),
            throttled_us: Atomic::new(0),
            doorbells: Atomic::new(0),
        })
    }

    /// Its state on host GPU `gpu`.
    pub(crate) fn on(&self, gpu: u32) -> &PerGpu {
        &self.per[idx(gpu)]
    }

    /// The settings.
    pub(crate) fn params(&self) -> Params {
        let priority = if self.high.load(Relaxed) != 0 {
            Priority::High
        } else {
            Priority::Normal
        };
        Params {
            limit_pct: self.limit_pct.load(Relaxed),
            weight: self.weight.load(Relaxed),
            priority,
        }
    }

    /// Sets the hard cap (validated by the caller); effective next period.
    pub(crate) fn set_limit_pct(&self, v: u32) {
        self.limit_pct.store(v, Relaxed);
    }

    /// Sets the weight (validated by the caller); effective next period.
    pub(crate) fn set_weight(&self, v: u32) {
        self.weight.store(v, Relaxed);
    }

    /// Sets the priority; effective next period.
    pub(crate) fn set_priority(&self, p: Priority) {
        self.high.store(u32::from(p == Priority::High), Relaxed);
    }

    /// GPU time granted while busy, µs.
    pub(crate) fn used_us(&self) -> u64 {
        self.used_us.load(Relaxed)
    }

    /// Gated doorbell mappings of the context that exist now.
    pub(crate) fn doorbells(&self) -> u32 {
        self.doorbells.load(Relaxed)
    }

    /// A doorbell mapping was gated.
    pub(crate) fn doorbell_mapped(&self) {
        self.doorbells.add(1, Relaxed);
    }

    /// A gated doorbell mapping went.
    pub(crate) fn doorbell_unmapped(&self) {
        self.doorbells.fetch_sub(1, Relaxed);
    }

    /// Adds `us` of granted GPU time (the scheduler's charge of a window).
    pub(crate) fn add_used(&self, us: u64) {
        self.used_us.fetch_add(us, Relaxed);
    }

    /// Time submitters spent held, µs (summed over submitters).
    pub(crate) fn throttled_us(&self) -> u64 {
        self.throttled_us.load(Relaxed)
    }

    /// Releases every held submitter with an error, for good (destroy).
    pub(crate) fn kill(&self) {
        self.state.lock().dead = true;
        self.opened.notify_all();
    }

    /// Whether the scheduler stopped the context's channels on host GPU
    /// `gpu` (and has not re-enabled them); clears the mark.
    pub(crate) fn take_stopped(&self, gpu: u32) -> bool {
        self.on(gpu).stopped.xchg(0, Relaxed) != 0
    }

    /// Whether its channels on `gpu` are stopped and every stop succeeded
    /// (so the channels, not the gate, decide when its work runs).
    pub(crate) fn stop_held(&self, gpu: u32) -> bool {
        self.on(gpu).stopped.load(Relaxed) == STOP_HELD
    }

    /// Called from a fault on a doorbell of host GPU `gpu`: waits until
    /// that gate is open, then runs `insert` (the PTE re-insertion) under
    /// the gate lock, so a concurrent shut either comes first (and we wait)
    /// or zaps after us.
    pub(crate) fn pass<R>(
        &self,
        gpu: u32,
        insert: impl FnOnce() -> R,
    ) -> core::result::Result<R, Held> {
        let pg = self.on(gpu);
        pg.active.store(1, Relaxed);
        let mut g = self.state.lock();
        if g.dead {
            return Err(Held::Dead);
        }
        if g.open & bit(gpu) == 0 {
            pg.waiters.fetch_add(1, Relaxed);
            kick();
            let start = Instant::<Monotonic>::now();
            let mut interrupted = false;
            while g.open & bit(gpu) == 0 && !g.dead {
                if self.opened.wait_interruptible(&mut g) {
                    interrupted = true;
                    break;
                }
            }
            let held = start.elapsed().as_micros_ceil().max(0) as u64;
            self.throttled_us.fetch_add(held, Relaxed);
            pg.waiters.fetch_sub(1, Relaxed);
            if g.dead {
                return Err(Held::Dead);
            }
            if interrupted && g.open & bit(gpu) == 0 {
                return Err(Held::Signal);
            }
            if let Some(t) = g.opened_at[idx(gpu)] {
                // How late a held submitter gets going after its gate
                // opened: what an early opening has to cover (see
                // `run_period`).
                note_latency(&pg.wake_us, t);
            }
            // Passing counts for the period the gate opened in: a gate that
            // opened is not re-armed, and this submitter may not fault again
            // before the period ends.
            pg.active.store(1, Relaxed);
        }
        Ok(insert())
    }

    /// Runs `f` under the gates' lock if every gate of the context is open
    /// and its channels may run everywhere (the scheduler cannot shut one
    /// or stop them meanwhile); `None` if not. (Bits of GPUs the context
    /// does not have are never cleared.)
    pub(crate) fn if_open<R>(&self, f: impl FnOnce() -> R) -> Option<R> {
        let g = self.state.lock();
        if g.open == !0 && g.run == !0 && !g.dead {
            Some(f())
        } else {
            None
        }
    }

    pub(crate) fn is_open(&self, gpu: u32) -> bool {
        self.state.lock().open & bit(gpu) != 0
    }

    pub(crate) fn set_run(&self, gpu: u32, run: bool) {
        set_bit(&mut self.state.lock().run, gpu, run);
    }

    pub(crate) fn set_open(&self, gpu: u32, open: bool) {
        let mut g = self.state.lock();
        if open && g.open & bit(gpu) == 0 {
            g.opened_at[idx(gpu)] = Some(Instant::now());
        }
        set_bit(&mut g.open, gpu, open);
        drop(g);
        if open {
            self.opened.notify_all();
        }
    }
}

/// Why a held submitter was let go without the page.
pub(crate) enum Held {
    /// The context was destroyed.
    Dead,
    /// A signal is pending; the access is retried after it.
    Signal,
}

/// Below this much time to a deadline [`Waker::sleep_until`] sleeps on a
/// high-resolution timer instead of waiting on its condition variable, µs.
const SHORT_SLEEP_US: i64 = 2000;

/// How the scheduler is woken early: a held submitter may deserve the GPU
/// now.
#[pin_data]
pub(crate) struct Waker {
    #[pin]
    kicked: Mutex<bool>,
    #[pin]
    cv: CondVar,
}

kernel::sync::global_lock! {
    // SAFETY: `init` is called in the module initializer, before first use.
    pub(crate) unsafe(uninit) static WAKER: Mutex<Option<Arc<Waker>>> = None;
}

/// Wakes the scheduler, if one runs.
fn kick() {
    let w = WAKER.lock().clone();
    if let Some(w) = w {
        *w.kicked.lock() = true;
        w.cv.notify_all();
    }
}

impl Waker {
    /// A waker, registered for [`kick`] until [`Waker::unregister`].
    pub(crate) fn register() -> Result<Arc<Self>> {
        let w = Arc::pin_init(
            pin_init!(Waker { kicked <- new_mutex!(false), cv <- new_condvar!() }),
            GFP_KERNEL,
        )?;
        *WAKER.lock() = Some(w.clone());
        Ok(w)
    }

    /// No kick reaches a waker any more.
    pub(crate) fn unregister() {
        *WAKER.lock() = None;
    }

    /// Sleeps until `deadline` or a kick; returns whether kicked. Returns
    /// early (not kicked) once `stop` says so.
    pub(crate) fn sleep_until(
        &self,
        deadline: Instant<Monotonic>,
        stop: impl Fn() -> bool,
    ) -> bool {
        let mut k = self.kicked.lock();
        loop {
            if *k {
                *k = false;
                return true;
            }
            if stop() {
                return false;
            }
            let left = deadline - Instant::<Monotonic>::now();
            if left.as_nanos() <= 0 {
                return false;
            }
            if left.as_micros_ceil() <= SHORT_SLEEP_US {
                // The last stretch on a high-resolution timer: a jiffy-based
                // wait would end up to a jiffy late, which is a point of a
                // 10 % cap at 50 ms. A kick waits this long at most.
                drop(k);
                kernel::time::delay::fsleep(left);
                k = self.kicked.lock();
                continue;
            }
            let ms = (left.as_micros_ceil() - SHORT_SLEEP_US / 2) / 1000;
            let j = kernel::time::msecs_to_jiffies(ms.max(1) as u32);
            let _ = self.cv.wait_interruptible_timeout(&mut k, j);
        }
    }
}
