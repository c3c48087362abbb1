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
    disabled: bool,
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
            }, "Engine::inner"),
        })
    }

    /// Adds a channel group; returns its id (its hardware TSG id).
    pub(crate) fn add_tsg(&self, h_client: u32, h_tsg: u32, tgid: i32, timeslice_us: u64) -> Result<u32> {
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
            ChanState { chid, tsg, h_client, mem, userd, ring, entries, get: 0, put: 0, cur: None, disabled: false, done: 0 },
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
        g.doorbells.push(Doorbell { id, h_client, mem }, GFP_KERNEL)?;
        Ok(id)
    }

    /// Forgets a doorbell page.
    pub(crate) fn remove_doorbell(&self, id: u32) {
        self.inner.lock().doorbells.retain(|d| d.id != id);
    }

    fn with_tsg<R>(&self, id: u32, f: impl FnOnce(&mut TsgState) -> R) -> Option<R> {
        self.inner.lock().tsgs.iter_mut().find(|t| t.id == id).map(f)
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
        match self.inner.lock().chans.iter_mut().find(|c| c.chid == chid) {
            Some(c) => {
                c.disabled = disabled;
                true
            }
            None => false,
        }
    }

    /// Writes the debugfs table of groups.
    pub(crate) fn fmt_tsgs(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let g = self.inner.lock();
        writeln!(f, "tsg client handle pid timeslice_us enabled interleave channels busy_us slices dry skipped")?;
        for t in g.tsgs.iter() {
            let n = g.chans.iter().filter(|c| c.tsg == t.id).count();
            writeln!(
                f,
                "{} {:#x} {:#x} {} {} {} {} {} {} {} {} {}",
                t.id, t.h_client, t.h_tsg, t.tgid, t.timeslice_us, u8::from(t.enabled), t.interleave, n, t.busy_us,
                t.slices, t.dry, t.skipped
            )?;
        }
        Ok(())
    }

    /// Writes the debugfs table of channels.
    pub(crate) fn fmt_chans(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let g = self.inner.lock();
        writeln!(f, "chid tsg client get put disabled done")?;
        for c in g.chans.iter() {
            writeln!(f, "{} {} {:#x} {} {} {} {}", c.chid, c.tsg, c.h_client, c.get, c.put, u8::from(c.disabled), c.done)?;
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
        writeln!(f, "tsgs {}", g.tsgs.len())?;
        writeln!(f, "channels {}", g.chans.len())
    }
}

impl EngineInner {
    /// Consumes every doorbell write: refreshes `put` of the channel named by
    /// the token and of every channel of the doorbell's client (a second
    /// write before the engine looked may have replaced the first).
    fn poll_doorbells(&mut self) {
        let mut i = 0;
        while let Some(d) = self.doorbells.get(i) {
            i += 1;
            let token = match d.mem.take_u32(sim::USERMODE_DOORBELL) {
                Some(0) | None => continue,
                Some(t) => t,
            };
            let owner = d.h_client;
            self.doorbell_rings += 1;
            for c in self.chans.iter_mut() {
                if c.chid == token || c.h_client == owner {
                    if let Some(p) = c.mem.read_u32(c.userd + sim::USERD_GP_PUT) {
                        if p < c.entries {
                            c.put = p;
                        }
                    }
                }
            }
        }
    }

    fn chan_runnable(c: &ChanState) -> bool {
        !c.disabled && (c.cur.is_some() || c.get != c.put)
    }

    fn tsg_runnable(&self, t: &TsgState, gpu: &Gpu) -> bool {
        (t.enabled || !gpu.profile.schedule_disable_effective)
            && self.chans.iter().any(|c| c.tsg == t.id && Self::chan_runnable(c))
    }

    /// The next group with work, round robin from `rr`.
    fn pick(&mut self, gpu: &Gpu) -> Option<u32> {
        let n = self.tsgs.len();
        for k in 0..n {
            let idx = (self.rr + k) % n;
            let t = &self.tsgs[idx];
            if self.tsg_runnable(t, gpu) {
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
    fn next_chan(&mut self, tsg: u32) -> Option<usize> {
        let ti = self.tsgs.iter().position(|t| t.id == tsg)?;
        let members = self.chans.iter().filter(|c| c.tsg == tsg).count();
        if members == 0 {
            return None;
        }
        let start = self.tsgs[ti].next_chan % members;
        for k in 0..members {
            let want = (start + k) % members;
            let ci = self.chans.iter().enumerate().filter(|(_, c)| c.tsg == tsg).nth(want).map(|(i, _)| i)?;
            if Self::chan_runnable(&self.chans[ci]) {
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
    fn prepare(c: &mut ChanState) -> Option<u64> {
        loop {
            if let Some(rem) = c.cur {
                if rem > 0 {
                    return Some(rem);
                }
                Self::complete(c);
                continue;
            }
            if c.get == c.put || c.disabled {
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
        let Some(t) = self.tsgs.iter_mut().find(|t| t.id == tsg) else { return };
        t.busy_us += us;
        let (h, pid) = (t.h_client, t.tgid);
        if let Some(c) = self.clients.iter_mut().find(|c| c.h_client == h && c.tgid == pid) {
            c.busy_us += us;
        } else {
            // Accounting is best effort under memory pressure.
            let _ = self.clients.push(ClientBusy { h_client: h, tgid: pid, busy_us: us }, GFP_KERNEL);
        }
    }
}

/// Keeps modelled engine time in step with the wall clock.
struct Pacer {
    anchor: Instant<Monotonic>,
    virt_ns: i64,
}

impl Pacer {
    fn new() -> Self {
        Pacer { anchor: Instant::now(), virt_ns: 0 }
    }

    fn reset(&mut self) {
        *self = Self::new();
    }

    /// Lets `us` of modelled time pass.
    fn advance(&mut self, us: u64) {
        self.virt_ns = self.virt_ns.saturating_add(i64::try_from(us).unwrap_or(i64::MAX).saturating_mul(1000));
        let ahead = self.virt_ns - self.anchor.elapsed().as_nanos();
        if ahead > 20_000 {
            fsleep(Delta::from_nanos(ahead));
        } else if ahead < -50_000_000 {
            // Far behind (the host stalled us): do not make it up in a burst.
            self.reset();
        }
    }
}

/// The engine thread of `gpu`: runs until the thread is asked to stop.
pub(crate) fn run(gpu: &Gpu) {
    let eng = &gpu.engine;
    let mut pace = Pacer::new();
    while !kthread::should_stop() {
        let picked = {
            let mut g = eng.inner.lock();
            g.poll_doorbells();
            let p = g.pick(gpu);
            if let Some(id) = p {
                if g.last_tsg.is_some_and(|l| l != id) {
                    g.switches += 1;
                }
            }
            p.map(|id| (id, g.last_tsg.replace(id))).ok_or(g.doorbells.is_empty())
        };
        let (tsg, last) = match picked {
            Ok(x) => x,
            Err(no_doorbells) => {
                // With no doorbell mapped nothing can be submitted: poll slowly.
                fsleep(Delta::from_micros(if no_doorbells { IDLE_NO_DOORBELL_US } else { IDLE_POLL_US }));
                pace.reset();
                continue;
            }
        };
        if last.is_some_and(|l| l != tsg) && gpu.profile.switch_cost_us > 0 {
            pace.advance(u64::from(gpu.profile.switch_cost_us));
        }
        run_slice(gpu, tsg, &mut pace);
    }
}

/// Runs group `tsg` for at most its timeslice.
fn run_slice(gpu: &Gpu, tsg: u32, pace: &mut Pacer) {
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
        let step = {
            let mut g = eng.inner.lock();
            g.poll_doorbells();
            let Some(t) = g.tsgs.iter_mut().find(|t| t.id == tsg) else { return };
            if gpu.profile.preempt_effective && core::mem::take(&mut t.preempt_pending) {
                return;
            }
            if gpu.profile.schedule_disable_effective && !t.enabled {
                return;
            }
            let mut found = None;
            while let Some(ci) = g.next_chan(tsg) {
                match EngineInner::prepare(&mut g.chans[ci]) {
                    Some(rem) => {
                        found = Some((g.chans[ci].chid, rem));
                        break;
                    }
                    None => continue,
                }
            }
            found
        };
        let Some((chid, rem)) = step else {
            if let Some(t) = eng.inner.lock().tsgs.iter_mut().find(|t| t.id == tsg) {
                t.dry += 1;
            }
            return;
        };
        let d = rem.min(left).min(MAX_CHUNK_US);
        pace.advance(d);
        left -= d;
        let mut g = eng.inner.lock();
        if let Some(c) = g.chans.iter_mut().find(|c| c.chid == chid) {
            if let Some(r) = c.cur.as_mut() {
                *r = r.saturating_sub(d);
            }
            if c.cur == Some(0) {
                EngineInner::complete(c);
            }
        }
        g.charge(tsg, d);
    }
}
