// SPDX-License-Identifier: GPL-2.0

//! The simulated engine of one GPU: channel groups (TSGs) and channels, a
//! runlist scheduler, and the loop its kernel thread runs.
//!
//! Work reaches the engine as on hardware, never through an ioctl: user
//! space writes GPFIFO entries ([`crate::fgcore::nvabi::sim`]) into the
//! channel's memory object, advances `GPPut` in USERD and writes the
//! channel's work-submit token to the doorbell register of a mapped
//! usermode (0xc661) object. The engine learns of new work **only** from
//! doorbell writes: it then reads `GPPut`, so a process whose doorbell
//! mapping is revoked submits nothing new while what it queued drains.
//!
//! Scheduling: round robin over the groups that have work; a group runs
//! until its timeslice is used up (then it is preempted, mid-entry if need
//! be, and goes to the back) or until it has no runnable work (the engine
//! moves on: work-conserving). Switching between two groups costs the
//! profile's switch time, charged to nobody. Time is modelled: a busy
//! entry of N µs is N µs of engine time, and the thread sleeps to keep the
//! model in step with the wall clock, so shares in the accounting are
//! exact and throughput is real time.

use crate::{
    fgcore::nvabi::sim::{self, Entry},
    gpu::Gpu,
    kthread,
    mem::Backing,
};
use core::fmt;
use kernel::{
    new_mutex,
    prelude::*,
    sync::{Arc, Mutex},
    time::{delay::fsleep, Delta, Instant, Monotonic},
};

/// Longest piece of one entry run without looking at doorbells, channel
/// disables or removals, µs.
const MAX_CHUNK_US: u64 = 500;
/// Doorbell poll period while idle, µs.
const IDLE_POLL_US: i64 = 200;
/// Sleep while idle with no doorbell object on the GPU, µs.
const IDLE_NO_DOORBELL_US: i64 = 5000;
/// Channel ids (work-submit tokens) start here.
const FIRST_CHID: u32 = 1;

/// One channel group.
pub(crate) struct TsgState {
    id: u32,
    h_client: u32,
    h_tsg: u32,
    tgid: i32,
    timeslice_us: u64,
    enabled: bool,
    interleave: u32,
    preempt_pending: bool,
    busy_us: u64,
    next_chan: usize,
    /// Slices that ended early because the group ran out of work.
    dry: u64,
    /// Slices the group was given.
    slices: u64,
    /// Times the round robin passed the group over for having no work.
    skipped: u64,
    /// Re-enables of a channel of the group that had work, and the summed
    /// µs from each until the engine next ran the group (diagnosis of the
    /// cost of stopping channels).
    resumes: u64,
    resume_lat_us: u64,
}

/// One channel.
struct ChanState {
    chid: u32,
    tsg: u32,
    h_client: u32,
    mem: Arc<Backing>,
    userd: usize,
    ring: usize,
    entries: u32,
    get: u32,
    put: u32,
    /// Remaining µs of the busy entry at `get`, once started.
    cur: Option<u64>,
    /// FIFO_DISABLE_CHANNELS: disabled from this time on. The engine's
    /// model time may lag the wall clock (see [`Clock`]); it runs the
    /// channel up to this instant, as hardware would have.
    off: Option<Instant<Monotonic>>,
    /// Runnable from this time on: when it was enabled, or when the engine
    /// learnt of work for it while it had none (never before it was known).
    on: Instant<Monotonic>,
    /// Re-enabled with work queued at this time, not run since.
    resumed_at: Option<Instant<Monotonic>>,
    done: u64,
}

/// One mapped doorbell page (usermode object).
struct Doorbell {
    id: u32,
    h_client: u32,
    mem: Arc<Backing>,
}

/// Busy time of one client (kept after the client is gone).
struct ClientBusy {
    h_client: u32,
    tgid: i32,
    busy_us: u64,
}

/// Everything the engine lock protects.
pub(crate) struct EngineInner {
    tsgs: KVec<TsgState>,
    chans: KVec<ChanState>,
    doorbells: KVec<Doorbell>,
    clients: KVec<ClientBusy>,
    next_id: u32,
    next_chid: u32,
    rr: usize,
    last_tsg: Option<u32>,
    total_busy_us: u64,
    switches: u64,
    doorbell_rings: u64,
    /// Idle polls, and the µs they really slept.
    idle_polls: u64,
    idle_us: u64,
    /// The last [`TRACE_LEN`] engine events (debugfs `trace`), a ring.
    trace: KVec<Event>,
    trace_next: usize,
    epoch: Instant<Monotonic>,
}

/// Whether `a` is strictly before `b` (`Instant<Monotonic>` has no order).
fn before(a: Instant<Monotonic>, b: Instant<Monotonic>) -> bool {
    (b - a).as_nanos() > 0
}

/// The later of two times.
fn later(a: Instant<Monotonic>, b: Instant<Monotonic>) -> Instant<Monotonic> {
    if before(a, b) {
        b
    } else {
        a
    }
}

/// The earlier of two times.
fn earlier(a: Instant<Monotonic>, b: Instant<Monotonic>) -> Instant<Monotonic> {
    if before(b, a) {
        b
    } else {
        a
    }
}

/// Events kept in the engine's trace.
const TRACE_LEN: usize = 4096;

/// One engine event: what happened, when (µs since the engine was made).
#[derive(Clone, Copy)]
struct Event {
    t_us: u64,
    what: u8,
    a: u32,
    b: u64,
    /// R: how far the model was behind the wall clock, µs.
    lag_us: i64,
}

/// The engine of one GPU.
#[pin_data]
pub(crate) struct Engine {
    #[pin]
    inner: Mutex<EngineInner>,
}

impl Engine {
    /// An idle engine with an empty runlist.
    pub(crate) fn new() -> impl PinInit<Self> {
        pin_init!(Engine {
            inner <- new_mutex!(EngineInner {
                tsgs: KVec::new(),
                chans: KVec::new(),
                doorbells: KVec::new(),
                clients: KVec::new(),
                next_id: 1,
                next_chid: FIRST_CHID,
                rr: 0,
                last_tsg: None,
                total_busy_us: 0,
                switches: 0,
                doorbell_rings: 0,
                idle_polls: 0,
                idle_us: 0,
                trace: KVec::new(),
                trace_next: 0,
                epoch: Instant::now(),
            }, "Engine::inner"),
        })
    }

    /// Adds a channel group; returns its id (its hardware TSG id).
    pub(crate) fn add_tsg(
        &self,
        h_client: u32,
        h_tsg: u32,
        tgid: i32,
        timeslice_us: u64,
    ) -> Result<u32> {
        let mut g = self.inner.lock();
        let id = g.next_id;
        g.next_id = id.wrapping_add(1).max(1);
        g.tsgs.push(
            TsgState {
                id,
                h_client,
                h_tsg,
                tgid,
                timeslice_us,
                enabled: true,
                interleave: 1,
                preempt_pending: false,
                busy_us: 0,
                next_chan: 0,
                dry: 0,
                slices: 0,
                skipped: 0,
                resumes: 0,
                resume_lat_us: 0,
            },
            GFP_KERNEL,
        )?;
        Ok(id)
    }

    /// Removes a channel group and whatever channels it still has.
    pub(crate) fn remove_tsg(&self, id: u32) {
        let mut g = self.inner.lock();
        g.tsgs.retain(|t| t.id != id);
        g.chans.retain(|c| c.tsg != id);
    }

    /// Adds a channel to group `tsg`; returns its channel id (work-submit token).
    pub(crate) fn add_chan(
        &self,
        tsg: u32,
        h_client: u32,
        mem: Arc<Backing>,
        userd: usize,
        ring: usize,
        entries: u32,
    ) -> Result<u32> {
        let mut g = self.inner.lock();
        if !g.tsgs.iter().any(|t| t.id == tsg) {
            return Err(ENOENT);
        }
        let chid = g.next_chid;
        g.next_chid = chid.wrapping_add(1).max(FIRST_CHID);
        // Channels start empty: GPGet = GPPut = 0.
        mem.write_u32(userd + sim::USERD_GP_GET, 0);
        g.chans.push(
            ChanState {
                chid,
                tsg,
                h_client,
                mem,
                userd,
                ring,
                entries,
                get: 0,
                put: 0,
                cur: None,
                off: None,
                on: Instant::now(),
                resumed_at: None,
                done: 0,
            },
            GFP_KERNEL,
        )?;
        Ok(chid)
    }

    /// Removes a channel.
    pub(crate) fn remove_chan(&self, chid: u32) {
        self.inner.lock().chans.retain(|c| c.chid != chid);
    }

    /// Registers a doorbell page of client `h_client`; returns its id.
    pub(crate) fn add_doorbell(&self, h_client: u32, mem: Arc<Backing>) -> Result<u32> {
        let mut g = self.inner.lock();
        let id = g.next_id;
        g.next_id = id.wrapping_add(1).max(1);
        g.doorbells
            .push(Doorbell { id, h_client, mem }, GFP_KERNEL)?;
        Ok(id)
    }

    /// Forgets a doorbell page.
    pub(crate) fn remove_doorbell(&self, id: u32) {
        self.inner.lock().doorbells.retain(|d| d.id != id);
    }

    fn with_tsg<R>(&self, id: u32, f: impl FnOnce(&mut TsgState) -> R) -> Option<R> {
        self.inner
            .lock()
            .tsgs
            .iter_mut()
            .find(|t| t.id == id)
            .map(f)
    }

    /// SET_TIMESLICE.
    pub(crate) fn set_timeslice(&self, id: u32, us: u64) -> bool {
        self.with_tsg(id, |t| t.timeslice_us = us).is_some()
    }

    /// GET_TIMESLICE.
    pub(crate) fn timeslice(&self, id: u32) -> Option<u64> {
        self.with_tsg(id, |t| t.timeslice_us)
    }

    /// GPFIFO_SCHEDULE (recorded; whether it matters is the profile's call).
    pub(crate) fn set_enabled(&self, id: u32, en: bool) -> bool {
        self.with_tsg(id, |t| t.enabled = en).is_some()
    }

    /// PREEMPT (recorded; whether it matters is the profile's call).
    pub(crate) fn preempt(&self, id: u32) -> bool {
        self.with_tsg(id, |t| t.preempt_pending = true).is_some()
    }

    /// SET/GET_INTERLEAVE_LEVEL.
    pub(crate) fn interleave(&self, id: u32, set: Option<u32>) -> Option<u32> {
        self.with_tsg(id, |t| {
            if let Some(l) = set {
                t.interleave = l;
            }
            t.interleave
        })
    }

    /// FIFO_DISABLE_CHANNELS for channel `chid`.
    pub(crate) fn set_chan_disabled(&self, chid: u32, disabled: bool) -> bool {
        let mut g = self.inner.lock();
        let now = Instant::now();
        match g.chans.iter_mut().find(|c| c.chid == chid) {
            Some(c) => {
                match (c.off.is_some(), disabled) {
                    (false, true) => c.off = Some(now),
                    (true, false) => {
                        c.off = None;
                        c.on = later(c.on, now);
                        if EngineInner::has_work(c) {
                            c.resumed_at = Some(now);
                        }
                    }
                    _ => {}
                }
                let queued = u64::from((c.put + c.entries - c.get) % c.entries.max(1));
                g.ev(if disabled { b'D' } else { b'E' }, chid, queued, 0);
                true
            }
            None => false,
        }
    }

    /// Writes the debugfs trace: the last events, oldest first, one per
    /// line: `t_us event a b lag_us` (E/D: channel a enabled/disabled with
    /// b entries queued; B: doorbell token a; R: channel a runs up to b µs,
    /// the model lag_us behind the wall clock; C: that piece was cut to b µs
    /// by a disable; I: idle poll slept b µs).
    pub(crate) fn fmt_trace(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let g = self.inner.lock();
        let n = g.trace.len();
        let start = if n < TRACE_LEN { 0 } else { g.trace_next };
        for k in 0..n {
            let e = g.trace[(start + k) % n];
            writeln!(
                f,
                "{} {} {} {} {}",
                e.t_us, e.what as char, e.a, e.b, e.lag_us
            )?;
        }
        Ok(())
    }

    /// Writes the debugfs table of groups.
    pub(crate) fn fmt_tsgs(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let g = self.inner.lock();
        writeln!(
            f,
            "tsg client handle pid timeslice_us enabled interleave channels busy_us slices dry skipped resumes resume_lat_us"
        )?;
        for t in g.tsgs.iter() {
            let n = g.chans.iter().filter(|c| c.tsg == t.id).count();
            writeln!(
                f,
                "{} {:#x} {:#x} {} {} {} {} {} {} {} {} {} {} {}",
                t.id,
                t.h_client,
                t.h_tsg,
                t.tgid,
                t.timeslice_us,
                u8::from(t.enabled),
                t.interleave,
                n,
                t.busy_us,
                t.slices,
                t.dry,
                t.skipped,
                t.resumes,
                t.resume_lat_us
            )?;
        }
        Ok(())
    }

    /// Writes the debugfs table of channels.
    pub(crate) fn fmt_chans(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let g = self.inner.lock();
        writeln!(f, "chid tsg client get put disabled done")?;
        for c in g.chans.iter() {
            writeln!(
                f,
                "{} {} {:#x} {} {} {} {}",
                c.chid,
                c.tsg,
                c.h_client,
                c.get,
                c.put,
                u8::from(c.off.is_some()),
                c.done
            )?;
        }
        Ok(())
    }

    /// Writes the debugfs table of clients.
    pub(crate) fn fmt_clients(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let g = self.inner.lock();
        writeln!(f, "client pid busy_us")?;
        for c in g.clients.iter() {
            writeln!(f, "{:#x} {} {}", c.h_client, c.tgid, c.busy_us)?;
        }
        Ok(())
    }

    /// Writes the debugfs engine summary.
    pub(crate) fn fmt_summary(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let g = self.inner.lock();
        writeln!(f, "busy_us {}", g.total_busy_us)?;
        writeln!(f, "switches {}", g.switches)?;
        writeln!(f, "doorbell_rings {}", g.doorbell_rings)?;
        writeln!(f, "idle_polls {}", g.idle_polls)?;
        writeln!(f, "idle_us {}", g.idle_us)?;
        writeln!(f, "tsgs {}", g.tsgs.len())?;
        writeln!(f, "channels {}", g.chans.len())
    }
}

impl EngineInner {
    /// Records an event in the trace ring (best effort: dropped if the ring
    /// cannot grow).
    fn ev(&mut self, what: u8, a: u32, b: u64, lag_us: i64) {
        let e = Event {
            t_us: self.epoch.elapsed().as_micros_ceil().max(0) as u64,
            what,
            a,
            b,
            lag_us,
        };
        if self.trace.len() < TRACE_LEN {
            let _ = self.trace.push(e, GFP_ATOMIC);
        } else {
            self.trace[self.trace_next % TRACE_LEN] = e;
        }
        self.trace_next = (self.trace_next + 1) % TRACE_LEN;
    }

    /// Consumes every doorbell write: refreshes `put` of the channel named by
    /// the token and of every channel of the doorbell's client (a second
    /// write before the engine looked may have replaced the first).
    fn poll_doorbells(&mut self) {
        let now = Instant::now();
        let mut i = 0;
        while let Some(d) = self.doorbells.get(i) {
            i += 1;
            let token = match d.mem.take_u32(sim::USERMODE_DOORBELL) {
                Some(0) | None => continue,
                Some(t) => t,
            };
            let owner = d.h_client;
            self.doorbell_rings += 1;
            self.ev(b'B', token, 0, 0);
            for c in self.chans.iter_mut() {
                if c.chid == token || c.h_client == owner {
                    if let Some(p) = c.mem.read_u32(c.userd + sim::USERD_GP_PUT) {
                        if p < c.entries {
                            if !Self::has_work(c) && p != c.get {
                                // Known from now on, not from when it was
                                // written (the engine cannot know that).
                                c.on = later(c.on, now);
                            }
                            c.put = p;
                        }
                    }
                }
            }
        }
    }

    fn has_work(c: &ChanState) -> bool {
        c.cur.is_some() || c.get != c.put
    }

    /// Whether channel `c` may run at model time `at`.
    fn chan_runnable(c: &ChanState, at: Instant<Monotonic>) -> bool {
        Self::has_work(c) && !before(at, c.on) && c.off.is_none_or(|off| before(at, off))
    }

    fn tsg_schedulable(t: &TsgState, gpu: &Gpu) -> bool {
        t.enabled || !gpu.profile.schedule_disable_effective
    }

    fn tsg_runnable(&self, t: &TsgState, gpu: &Gpu, at: Instant<Monotonic>) -> bool {
        Self::tsg_schedulable(t, gpu)
            && self
                .chans
                .iter()
                .any(|c| c.tsg == t.id && Self::chan_runnable(c, at))
    }

    /// The earliest time after `at` at which a channel with work becomes
    /// runnable (it was enabled, or its work became known, after `at`).
    fn next_start(&self, gpu: &Gpu, at: Instant<Monotonic>) -> Option<Instant<Monotonic>> {
        self.chans
            .iter()
            .filter(|c| {
                Self::has_work(c) && before(at, c.on) && c.off.is_none_or(|off| before(c.on, off))
            })
            .filter(|c| {
                self.tsgs
                    .iter()
                    .any(|t| t.id == c.tsg && Self::tsg_schedulable(t, gpu))
            })
            .map(|c| c.on)
            .reduce(earlier)
    }

    /// The next group with work at model time `at`, round robin from `rr`.
    fn pick(&mut self, gpu: &Gpu, at: Instant<Monotonic>) -> Option<u32> {
        let n = self.tsgs.len();
        for k in 0..n {
            let idx = (self.rr + k) % n;
            let t = &self.tsgs[idx];
            if self.tsg_runnable(t, gpu, at) {
                self.rr = (idx + 1) % n;
                // Those passed over lost a turn to having no work.
                let id = t.id;
                for j in 0..k {
                    self.tsgs[(idx + n - j - 1) % n].skipped += 1;
                }
                return Some(id);
            }
        }
        None
    }

    /// Index in `chans` of the next runnable channel of group `tsg`.
    fn next_chan(&mut self, tsg: u32, at: Instant<Monotonic>) -> Option<usize> {
        let ti = self.tsgs.iter().position(|t| t.id == tsg)?;
        let members = self.chans.iter().filter(|c| c.tsg == tsg).count();
        if members == 0 {
            return None;
        }
        let start = self.tsgs[ti].next_chan % members;
        for k in 0..members {
            let want = (start + k) % members;
            let ci = self
                .chans
                .iter()
                .enumerate()
                .filter(|(_, c)| c.tsg == tsg)
                .nth(want)
                .map(|(i, _)| i)?;
            if Self::chan_runnable(&self.chans[ci], at) {
                // Stay on this channel until it runs dry (in order, like a PBDMA).
                self.tsgs[ti].next_chan = want;
                return Some(ci);
            }
        }
        None
    }

    fn complete(c: &mut ChanState) {
        c.cur = None;
        c.get = (c.get + 1) % c.entries.max(1);
        c.done += 1;
        c.mem.write_u32(c.userd + sim::USERD_GP_GET, c.get);
    }

    /// Executes zero-time entries of channel `ci` and starts the next busy
    /// one; returns the µs it still needs, or `None` if the channel ran dry.
    fn prepare(c: &mut ChanState, at: Instant<Monotonic>) -> Option<u64> {
        loop {
            if let Some(rem) = c.cur {
                if rem > 0 {
                    return Some(rem);
                }
                Self::complete(c);
                continue;
            }
            if !Self::chan_runnable(c, at) {
                return None;
            }
            let at = c.ring + c.get as usize * sim::GPFIFO_ENTRY_SIZE;
            match c.mem.read_u64(at).map(Entry::decode) {
                Some(Entry::Busy(us)) => c.cur = Some(u64::from(us)),
                Some(Entry::Semaphore { offset, value }) => {
                    c.mem.write_u32(offset as usize, value);
                    Self::complete(c);
                }
                _ => Self::complete(c),
            }
        }
    }

    fn charge(&mut self, tsg: u32, us: u64) {
        self.total_busy_us += us;
        let Some(t) = self.tsgs.iter_mut().find(|t| t.id == tsg) else {
            return;
        };
        t.busy_us += us;
        let (h, pid) = (t.h_client, t.tgid);
        if let Some(c) = self
            .clients
            .iter_mut()
            .find(|c| c.h_client == h && c.tgid == pid)
        {
            c.busy_us += us;
        } else {
            // Accounting is best effort under memory pressure.
            let _ = self.clients.push(
                ClientBusy {
                    h_client: h,
                    tgid: pid,
                    busy_us: us,
                },
                GFP_KERNEL,
            );
        }
    }
}

/// The engine's model time: where the simulated engine has got to.
///
/// Work takes modelled time (a busy entry of N µs is N µs), and the thread
/// sleeps while the model is ahead of the wall clock. Its sleeps end late
/// (under TCG by 0.3-1 ms), so the model runs up to about one sleep behind
/// the wall clock and catches up without sleeping. Every outside event is
/// therefore applied at its wall-clock time, not when the thread sees it:
/// a channel disabled at T runs up to model time T (the running piece is
/// cut there), one enabled at T runs from model time T on (an idle engine
/// that learns of it late runs it from T), and work learnt from a doorbell
/// runs from when the engine read the doorbell. So a channel gets exactly
/// the engine time its enabled windows allow, as on hardware, however late
/// the thread wakes.
struct Clock {
    model: Instant<Monotonic>,
}

impl Clock {
    /// Longest the model may fall behind before it gives up on the past
    /// (the host stalled us): not made up in a burst.
    const MAX_LAG_NS: i64 = 50_000_000;

    fn new() -> Self {
        Clock {
            model: Instant::now(),
        }
    }

    fn at(&self) -> Instant<Monotonic> {
        self.model
    }

    /// Lets `us` of modelled time pass (sleeps while the model is ahead).
    fn advance(&mut self, us: u64) {
        self.model = self.model + Delta::from_micros(i64::try_from(us).unwrap_or(i64::MAX));
        let ahead = (self.model - Instant::now()).as_nanos();
        if ahead > 20_000 {
            fsleep(Delta::from_nanos(ahead));
        } else if ahead < -Self::MAX_LAG_NS {
            self.model = Instant::now();
        }
    }
}

/// The engine thread of `gpu`: runs until the thread is asked to stop.
pub(crate) fn run(gpu: &Gpu) {
    let eng = &gpu.engine;
    let mut clock = Clock::new();
    while !kthread::should_stop() {
        let picked = {
            let mut g = eng.inner.lock();
            g.poll_doorbells();
            let at = clock.at();
            match g.pick(gpu, at) {
                Some(id) => {
                    if g.last_tsg.is_some_and(|l| l != id) {
                        g.switches += 1;
                    }
                    Ok((id, g.last_tsg.replace(id)))
                }
                // Nothing runnable at the model's time: skip ahead to the
                // next time something is (never past the wall clock).
                None => Err((g.next_start(gpu, at), g.doorbells.is_empty())),
            }
        };
        let (tsg, last) = match picked {
            Ok(x) => x,
            Err((Some(next), _)) => {
                clock.model = next;
                continue;
            }
            Err((None, no_doorbells)) => {
                // Idle: the model catches up with the wall clock, then the
                // doorbells are polled (slowly with none mapped: nothing
                // can be submitted). What becomes runnable during the sleep
                // runs from when it did (`next_start`).
                let t = Instant::<Monotonic>::now();
                clock.model = t;
                fsleep(Delta::from_micros(if no_doorbells {
                    IDLE_NO_DOORBELL_US
                } else {
                    IDLE_POLL_US
                }));
                if !no_doorbells {
                    let mut g = eng.inner.lock();
                    let slept = t.elapsed().as_micros_ceil().max(0) as u64;
                    g.idle_polls += 1;
                    g.idle_us += slept;
                    g.ev(b'I', 0, slept, 0);
                }
                continue;
            }
        };
        if last.is_some_and(|l| l != tsg) && gpu.profile.switch_cost_us > 0 {
            clock.advance(u64::from(gpu.profile.switch_cost_us));
        }
        run_slice(gpu, tsg, &mut clock);
    }
}

/// Runs group `tsg` for at most its timeslice.
fn run_slice(gpu: &Gpu, tsg: u32, clock: &mut Clock) {
    let eng = &gpu.engine;
    let mut left = match eng.timeslice(tsg) {
        Some(s) => s.max(1),
        None => return,
    };
    if let Some(t) = eng.inner.lock().tsgs.iter_mut().find(|t| t.id == tsg) {
        t.preempt_pending = false;
        t.slices += 1;
    }
    while left > 0 && !kthread::should_stop() {
        let start = clock.at();
        let step = {
            let mut g = eng.inner.lock();
            g.poll_doorbells();
            let Some(t) = g.tsgs.iter_mut().find(|t| t.id == tsg) else {
                return;
            };
            if gpu.profile.preempt_effective && core::mem::take(&mut t.preempt_pending) {
                return;
            }
            if gpu.profile.schedule_disable_effective && !t.enabled {
                return;
            }
            let mut found = None;
            while let Some(ci) = g.next_chan(tsg, start) {
                if let Some(rem) = EngineInner::prepare(&mut g.chans[ci], start) {
                    let c = &mut g.chans[ci];
                    // A disable already known cuts the piece at its time.
                    let until_off = c
                        .off
                        .map_or(u64::MAX, |off| (off - start).as_micros_ceil().max(1) as u64);
                    let d = rem.min(left).min(MAX_CHUNK_US).min(until_off);
                    found = Some((c.chid, d, c.resumed_at.take()));
                    break;
                }
            }
            let lag = (Instant::<Monotonic>::now() - start).as_micros_ceil();
            if let Some((chid, d, resumed)) = found {
                g.ev(b'R', chid, d, lag);
                if let Some(r) = resumed {
                    if let Some(t) = g.tsgs.iter_mut().find(|t| t.id == tsg) {
                        t.resumes += 1;
                        t.resume_lat_us += (start - r).as_micros_ceil().max(0) as u64;
                    }
                }
            }
            found
        };
        let Some((chid, d, _)) = step else {
            if let Some(t) = eng.inner.lock().tsgs.iter_mut().find(|t| t.id == tsg) {
                t.dry += 1;
            }
            return;
        };
        clock.advance(d);
        let mut g = eng.inner.lock();
        let mut ran = d;
        if let Some(c) = g.chans.iter_mut().find(|c| c.chid == chid) {
            // A disable that came while the piece ran cuts it at its time.
            if let Some(off) = c.off {
                ran = ran.min((off - start).as_micros_ceil().max(0) as u64);
            }
            if let Some(r) = c.cur.as_mut() {
                *r = r.saturating_sub(ran);
            }
            if c.cur == Some(0) {
                EngineInner::complete(c);
            }
        }
        if ran < d {
            clock.model = start + Delta::from_micros(ran as i64);
            g.ev(b'C', chid, ran, 0);
        }
        left = left.saturating_sub(ran);
        g.charge(tsg, ran);
        if ran < d {
            // The channel is off now; the slice ends with it.
            return;
        }
    }
}
