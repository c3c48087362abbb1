//! `fgtest bench`: the proxy's own cost, measured on nvsim in the VM.
//!
//! Every call type is issued on the vendor's nodes (nvsim's `/dev/nvidiactl`,
//! `/dev/nvidia0`, `/dev/nvidia-uvm`) and on a context's proxy nodes
//! (`/dev/fakegpu/<ctx>/...`), interleaved in rounds (direct, proxy, direct,
//! ...) so that a slow spell of the host weighs on both sides alike. Each
//! call is timed on its own with the monotonic clock (`Instant`, the vDSO's
//! `clock_gettime`); where the clock's own cost would pass 5 % of a call, the
//! calls are timed in small batches instead and a sample is the batch's
//! mean (the row says so: `batch` > 1; its p99 is then of batch means).
//!
//! Parts (`--parts`, default all):
//! - `calls`: per call type, median and p99, direct and proxied.
//! - `objects`: a cheap control and an alloc+free of video memory with N
//!   objects live in the caller's context (VA spaces in other clients of the
//!   same files, so that nvsim's per-client lists stay short and what grows
//!   is the proxy's per-context table), direct and proxied; and the free
//!   with N video-memory objects live.
//! - `contexts`: a cheap control and an open+close of the control node
//!   through the proxy with 1, 100 and 1000 contexts open.
//! - `sched`: the scheduler kthread's CPU time per second of wall time with
//!   0, 1, 10 and 100 idle contexts of a capped compute limit, and with one
//!   busy burner (`nvrm burn`) among 100 and alone.
//!
//! Prints a table, then one JSON document between `BENCH-JSON-BEGIN` and
//! `BENCH-JSON-END` (read by `scripts/bench-report`).

use nvrm::{sys, Ctl, Mapping, Session, Uvm};
use serde_json::{json, Value};
use std::os::fd::AsRawFd;
use std::time::{Duration, Instant};

type Res<T> = Result<T, String>;

fn e<E: std::fmt::Display>(what: &str) -> impl Fn(E) -> String + '_ {
    move |x| format!("{what}: {x}")
}

/// Options of one run.
pub struct Opts {
    /// Calls per call type and side (direct, proxy).
    pub iters: usize,
    /// Seconds of each scheduler window.
    pub sched_secs: f64,
    /// Parts to run.
    pub parts: Vec<String>,
    /// The vendor's nodes.
    pub dev: String,
    /// fakegpu's sysfs directory.
    pub sys: String,
}

impl Opts {
    /// Parses `[ITERS [SCHED_SECS]] [--parts a,b] [--dev DIR] [--sys DIR]`.
    pub fn parse(args: &[&str]) -> Res<Opts> {
        let mut o = Opts {
            iters: 1000,
            sched_secs: 2.0,
            parts: PARTS.iter().map(|s| s.to_string()).collect(),
            dev: "/dev".into(),
            sys: "/sys/kernel/fakegpu".into(),
        };
        let mut pos = 0;
        let mut it = args.iter();
        while let Some(a) = it.next() {
            let mut val = |name: &str| {
                it.next()
                    .map(|v| v.to_string())
                    .ok_or(format!("{name} needs a value"))
            };
            match *a {
                "--parts" => o.parts = val("--parts")?.split(',').map(str::to_string).collect(),
                "--dev" => o.dev = val("--dev")?,
                "--sys" => o.sys = val("--sys")?,
                n if pos == 0 => {
                    o.iters = n.parse().map_err(|_| "ITERS is a number")?;
                    pos += 1;
                }
                n if pos == 1 => {
                    o.sched_secs = n.parse().map_err(|_| "SCHED_SECS is a number")?;
                    pos += 1;
                }
                x => return Err(format!("unexpected argument {x}")),
            }
        }
        if let Some(p) = o
            .parts
            .iter()
            .find(|p| !PARTS.contains(&p.as_str()) && p.as_str() != "limit")
        {
            return Err(format!(
                "unknown part {p} (parts: {},limit)",
                PARTS.join(",")
            ));
        }
        if o.iters < 100 {
            return Err("ITERS is at least 100".into());
        }
        Ok(o)
    }
}

/// The parts run by default. `limit` (only when named) makes objects in one
/// context until the proxy refuses, to check [`OBJECTS_NOTE`]; expect a
/// kernel WARN (which fails a VM run).
const PARTS: [&str; 4] = ["calls", "objects", "contexts", "sched"];

/// The context the call and scaling parts measure through.
const CTX: &str = "fgbench";
/// Its memory cap: the proxy rewrites FB_GET_INFO to report it.
const CTX_MEM: &str = "4Gi";
/// Rounds a measurement is split into (direct and proxy alternate).
const ROUNDS: usize = 10;
/// Video memory of the alloc+free rows.
const ALLOC_SIZE: u64 = 2 << 20;
/// VA spaces per filler client.
const PER_CLIENT: usize = 1000;
/// Object counts of the `objects` part (see [`OBJECTS_NOTE`]).
const OBJECT_COUNTS: [usize; 3] = [10, 1000, 60_000];
const OBJECTS_NOTE: &str = "The context's objects live in core::objects (red-black trees in the kernel, no entry limit; \
free, subtree free and close are O(log n) per object touched). The largest row is 60 000 objects because making the fillers \
through the proxy under TCG takes most of the bench's run; 100 000 is not measured. Holds for every class: every object is \
tracked.";
/// Video-memory objects live in the free rows of the `objects` part.
const VIDMEM_COUNTS: [usize; 2] = [10, 1000];
const VIDMEM_NOTE: &str = "Free with video-memory objects live: an allocation no object refers to any more is found through \
its reference count in core::objects (O(log n)), not by a scan.";
/// Context counts of the `contexts` part.
const CONTEXT_COUNTS: [usize; 3] = [1, 100, 1000];
/// Idle capped contexts of the `sched` part.
const SCHED_COUNTS: [usize; 4] = [0, 1, 10, 100];
/// Their compute limit.
const SCHED_PCT: u32 = 50;
/// Calls per side of a scaling row (before [`ROW_BUDGET`] stops it).
fn scaling_iters(o: &Opts) -> usize {
    (o.iters / 10).max(100)
}

/// Time one scaling row may take per side before it stops early.
const ROW_BUDGET: Duration = Duration::from_secs(5);

/// Median and p99 of a set of samples.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Stats {
    /// Median, ns.
    pub median: u64,
    /// 99th percentile (nearest rank), ns.
    pub p99: u64,
}

/// Median and p99 (nearest rank) of `v` (sorted in place).
pub fn stats(v: &mut [u64]) -> Stats {
    if v.is_empty() {
        return Stats::default();
    }
    v.sort_unstable();
    let n = v.len();
    let rank = (n * 99).div_ceil(100).clamp(1, n);
    Stats {
        median: v[n / 2],
        p99: v[rank - 1],
    }
}

/// Median ns of one `Instant::now()` (from back-to-back pairs).
fn clock_cost() -> u64 {
    let mut v: Vec<u64> = (0..2000)
        .map(|_| {
            let a = Instant::now();
            let b = Instant::now();
            (b - a).as_nanos() as u64
        })
        .collect();
    stats(&mut v).median
}

/// A call under measurement: `Plain` ones may be batched; `Staged` ones
/// do untimed set-up and tear-down around the timed part and return its
/// duration (ns), so they are always timed one by one.
enum Op<'a> {
    Plain(Box<dyn FnMut() -> Res<()> + 'a>),
    Staged(Box<dyn FnMut() -> Res<u64> + 'a>),
}

/// Samples of one side of a row.
struct Sampler<'a> {
    op: Op<'a>,
    batch: usize,
    samples: Vec<u64>,
    calls: usize,
    spent: Duration,
}

impl<'a> Sampler<'a> {
    fn new(op: Op<'a>) -> Self {
        Sampler {
            op,
            batch: 1,
            samples: Vec::new(),
            calls: 0,
            spent: Duration::ZERO,
        }
    }

    /// Warms up and picks the batch size: one call timed alone is enough
    /// unless the clock costs more than 5 % of it.
    fn calibrate(&mut self, clock: u64) -> Res<()> {
        let mut v = Vec::new();
        for _ in 0..20 {
            v.push(self.one()?);
        }
        let m = stats(&mut v).median.max(1);
        if matches!(self.op, Op::Plain(_)) && clock * 20 > m {
            self.batch = ((clock * 20).div_ceil(m) as usize).min(64);
        }
        Ok(())
    }

    fn one(&mut self) -> Res<u64> {
        match &mut self.op {
            Op::Plain(f) => {
                let t = Instant::now();
                f()?;
                Ok(t.elapsed().as_nanos() as u64)
            }
            Op::Staged(f) => f(),
        }
    }

    /// About `calls` more calls.
    fn run(&mut self, calls: usize) -> Res<()> {
        let start = Instant::now();
        let mut done = 0;
        while done < calls {
            let s = match &mut self.op {
                Op::Plain(f) if self.batch > 1 => {
                    let t = Instant::now();
                    for _ in 0..self.batch {
                        f()?;
                    }
                    t.elapsed().as_nanos() as u64 / self.batch as u64
                }
                _ => self.one()?,
            };
            self.samples.push(s);
            done += self.batch;
        }
        self.calls += done;
        self.spent += start.elapsed();
        Ok(())
    }

    fn stats(&mut self) -> Stats {
        stats(&mut self.samples)
    }
}

/// One measured row: direct and proxied.
struct Pair {
    direct: Stats,
    proxy: Stats,
    iters: usize,
    batch: (usize, usize),
}

/// Measures `direct` and `proxy` alternately in [`ROUNDS`] rounds, `iters`
/// calls each, stopping after a round once either side has spent `budget`.
fn pair(
    clock: u64,
    iters: usize,
    budget: Option<Duration>,
    direct: Op<'_>,
    proxy: Op<'_>,
) -> Res<Pair> {
    let (mut d, mut p) = (Sampler::new(direct), Sampler::new(proxy));
    d.calibrate(clock)?;
    p.calibrate(clock)?;
    let chunk = iters.div_ceil(ROUNDS);
    for _ in 0..ROUNDS {
        d.run(chunk)?;
        p.run(chunk)?;
        if budget.is_some_and(|b| d.spent > b || p.spent > b) {
            break;
        }
    }
    Ok(Pair {
        direct: d.stats(),
        proxy: p.stats(),
        iters: d.calls.min(p.calls),
        batch: (d.batch, p.batch),
    })
}

fn pair_json(kind: &str, row: &str, p: &Pair) -> Value {
    json!({
        "kind": kind,
        "row": row,
        "direct_median_ns": p.direct.median,
        "direct_p99_ns": p.direct.p99,
        "proxy_median_ns": p.proxy.median,
        "proxy_p99_ns": p.proxy.p99,
        "diff_median_ns": p.proxy.median as i64 - p.direct.median as i64,
        "iters": p.iters,
        "batch": p.batch.0.max(p.batch.1),
    })
}

// --- call types -----------------------------------------------------------

fn op_control(s: &Session) -> Op<'_> {
    Op::Plain(Box::new(move || {
        s.short_name()
            .map(drop)
            .map_err(e("GPU_GET_SHORT_NAME_STRING"))
    }))
}

fn op_fb_info(s: &Session) -> Op<'_> {
    Op::Plain(Box::new(move || {
        s.mem_info().map(drop).map_err(e("FB_GET_INFO_V2"))
    }))
}

fn op_alloc_free(s: &Session) -> Op<'_> {
    Op::Plain(Box::new(move || {
        let (h, _) = s.alloc_vidmem(ALLOC_SIZE).map_err(e("RM_ALLOC vidmem"))?;
        s.free(s.device, h).map_err(e("RM_FREE"))
    }))
}

/// RM_MAP_MEMORY + RM_UNMAP_MEMORY of 4 KiB of `mem`; each map needs a GPU
/// file without a mapping context (one per file), so each call opens a
/// fresh one first and closes it after, outside the timed part.
fn op_map(s: &Session, mem: u32) -> Op<'_> {
    Op::Staged(Box::new(move || {
        let g = s.open_gpu().map_err(e("open GPU node"))?;
        let t = Instant::now();
        let addr = s
            .ctl
            .map_memory(s.client, s.device, mem, 0, 4096, g.as_raw_fd())
            .map_err(e("RM_MAP_MEMORY"))?;
        let st = s
            .ctl
            .unmap_memory(s.client, s.device, mem, addr)
            .map_err(e("RM_UNMAP_MEMORY"))?;
        let ns = t.elapsed().as_nanos() as u64;
        st.check().map_err(e("RM_UNMAP_MEMORY"))?;
        drop(g);
        Ok(ns)
    }))
}

/// mmap + munmap of the doorbell (usermode object `usermode`): the GPU
/// file is opened and RM_MAP_MEMORY'd before, unmapped and closed after,
/// untimed. Through the proxy the mapping is gated (the scheduler's gate).
fn op_doorbell(s: &Session, usermode: u32) -> Op<'_> {
    Op::Staged(Box::new(move || {
        let g = s.open_gpu().map_err(e("open GPU node"))?;
        let len = nvrm::USERMODE_SIZE;
        let addr = s
            .ctl
            .map_memory(
                s.client,
                s.subdevice,
                usermode,
                0,
                len as u64,
                g.as_raw_fd(),
            )
            .map_err(e("RM_MAP_MEMORY usermode"))?;
        let t = Instant::now();
        let m = Mapping::new(&g, len).map_err(e("mmap doorbell"))?;
        drop(m);
        let ns = t.elapsed().as_nanos() as u64;
        s.ctl
            .unmap_memory(s.client, s.subdevice, usermode, addr)
            .map_err(e("RM_UNMAP_MEMORY usermode"))?;
        drop(g);
        Ok(ns)
    }))
}

fn op_uvm(u: &Uvm) -> Op<'_> {
    Op::Plain(Box::new(move || {
        let st = u.initialize().map_err(e("UVM_INITIALIZE"))?;
        st.check().map_err(e("UVM_INITIALIZE"))
    }))
}

/// One side of the call part: a session, a UVM file, a vidmem object to
/// map and a usermode object.
struct Side {
    s: Session,
    uvm: Uvm,
    mem: u32,
    usermode: u32,
}

impl Side {
    fn open(dir: &str) -> Res<Side> {
        let s = Session::open(dir, 0).map_err(e(dir))?;
        let uvm = Uvm::open(&format!("{dir}/nvidia-uvm")).map_err(e("open nvidia-uvm"))?;
        uvm.initialize()
            .map_err(e("UVM_INITIALIZE"))?
            .check()
            .map_err(e("UVM_INITIALIZE"))?;
        let (mem, _) = s.alloc_vidmem(ALLOC_SIZE).map_err(e("RM_ALLOC vidmem"))?;
        let usermode = s.alloc_usermode().map_err(e("RM_ALLOC usermode"))?;
        Ok(Side {
            s,
            uvm,
            mem,
            usermode,
        })
    }
}

fn part_calls(o: &Opts, clock: u64, rows: &mut Vec<Value>) -> Res<()> {
    let d = Side::open(&o.dev)?;
    let p = Side::open(&format!("/dev/fakegpu/{CTX}"))?;
    // The proxy's answer is the cap: check it is the path being timed.
    let capped = p.s.mem_info().map_err(e("FB_GET_INFO_V2"))?.total;
    let want = nvrm::parse_size(CTX_MEM).unwrap_or(0);
    if capped != want {
        return Err(format!(
            "FB_GET_INFO_V2 through the proxy reports {capped} bytes, not the cap {want}"
        ));
    }
    let n = o.iters;
    let list: [(&str, Op<'_>, Op<'_>); 6] = [
        (
            "control GPU_GET_SHORT_NAME_STRING",
            op_control(&d.s),
            op_control(&p.s),
        ),
        (
            "FB_GET_INFO_V2 (3 indices; proxy rewrites)",
            op_fb_info(&d.s),
            op_fb_info(&p.s),
        ),
        (
            "RM_ALLOC+RM_FREE vidmem 2 MiB",
            op_alloc_free(&d.s),
            op_alloc_free(&p.s),
        ),
        (
            "RM_MAP_MEMORY+RM_UNMAP_MEMORY 4 KiB",
            op_map(&d.s, d.mem),
            op_map(&p.s, p.mem),
        ),
        ("UVM_INITIALIZE (again)", op_uvm(&d.uvm), op_uvm(&p.uvm)),
        (
            "doorbell mmap+munmap 64 KiB",
            op_doorbell(&d.s, d.usermode),
            op_doorbell(&p.s, p.usermode),
        ),
    ];
    for (name, dop, pop) in list {
        let r = pair(clock, n, None, dop, pop).map_err(e(name))?;
        rows.push(pair_json("call", name, &r));
    }
    Ok(())
}

// --- objects ---------------------------------------------------------------

/// Filler objects in extra clients (each with its device) on `s`'s control
/// file: VA spaces, [`PER_CLIENT`] per client. Freed by freeing the
/// clients (the RM frees subtrees), which the proxy follows in one pass.
struct Fillers<'a> {
    ctl: &'a Ctl,
    clients: Vec<(u32, u32, usize)>,
    /// Objects of all clients but the last.
    count_before_last: usize,
    /// Most VA spaces a client whose filling then failed held before it
    /// was freed (what was live at once beside the others).
    failed_max: usize,
}

impl<'a> Fillers<'a> {
    fn new(ctl: &'a Ctl) -> Self {
        Fillers {
            ctl,
            clients: Vec::new(),
            count_before_last: 0,
            failed_max: 0,
        }
    }

    fn count(&self) -> usize {
        self.clients.iter().map(|c| c.2).sum()
    }

    fn grow_to(&mut self, n: usize) -> Res<()> {
        // Top up the last client, then make whole new clients (one by one:
        // on two threads the VM made them more slowly).
        if let Some((c, d, k)) = self.clients.last_mut() {
            while *k < PER_CLIENT && self.count_before_last + *k < n {
                self.ctl
                    .alloc_vaspace(*c, *d)
                    .map_err(e("filler VA space"))?;
                *k += 1;
            }
        }
        let left = n.saturating_sub(self.count());
        let sizes: Vec<usize> = (0..left.div_ceil(PER_CLIENT))
            .map(|j| PER_CLIENT.min(left - j * PER_CLIENT))
            .collect();
        let ctl = self.ctl;
        let made: Vec<_> = sizes
            .iter()
            .map(|&k| {
                let c = ctl
                    .alloc_client()
                    .map_err(|x| (0, format!("filler client: {x}")))?;
                let d = ctl.alloc_device(c, 0).map_err(e("filler device"));
                let d = match d {
                    Ok(d) => d,
                    Err(x) => {
                        let _ = ctl.free(c, c, c);
                        return Err((0, x));
                    }
                };
                for i in 0..k {
                    if let Err(x) = ctl.alloc_vaspace(c, d) {
                        let _ = ctl.free(c, c, c);
                        return Err((i, format!("filler VA space: {x}")));
                    }
                }
                Ok((c, d, k))
            })
            .collect();
        let mut first = None;
        for r in made {
            match r {
                Ok(c) => self.push(c),
                Err((k, x)) => {
                    self.failed_max = self.failed_max.max(k);
                    first.get_or_insert(x);
                }
            }
        }
        first.map_or(Ok(()), Err)
    }

    fn push(&mut self, c: (u32, u32, usize)) {
        self.count_before_last = self.count();
        self.clients.push(c);
    }

    fn clear(&mut self) -> Res<()> {
        self.count_before_last = 0;
        for (c, _, _) in self.clients.drain(..) {
            self.ctl
                .free(c, c, c)
                .map_err(e("free filler client"))?
                .check()
                .map_err(e("free filler client"))?;
        }
        Ok(())
    }
}

impl Drop for Fillers<'_> {
    fn drop(&mut self) {
        let _ = self.clear();
    }
}

fn part_objects(o: &Opts, clock: u64, rows: &mut Vec<Value>, notes: &mut Vec<String>) -> Res<()> {
    let d = Session::open(&o.dev, 0).map_err(e("direct session"))?;
    let p = Session::open(&format!("/dev/fakegpu/{CTX}"), 0).map_err(e("proxy session"))?;
    let n = scaling_iters(o);
    {
        let mut fp = Fillers::new(&p.ctl);
        for &k in &OBJECT_COUNTS {
            let t = Instant::now();
            fp.grow_to(k)?;
            eprintln!(
                "fgtest bench: {k} filler objects live ({:.1} s to make)",
                t.elapsed().as_secs_f64()
            );
            let r = pair(clock, n, Some(ROW_BUDGET), op_control(&d), op_control(&p))?;
            let mut j = pair_json("objects", &format!("control, {k} objects live"), &r);
            j["objects"] = json!(k);
            rows.push(j);
            let r = pair(
                clock,
                n,
                Some(ROW_BUDGET),
                op_alloc_free(&d),
                op_alloc_free(&p),
            )?;
            let mut j = pair_json(
                "objects",
                &format!("alloc+free vidmem, {k} objects live"),
                &r,
            );
            j["objects"] = json!(k);
            rows.push(j);
        }
        fp.clear()?;
    }
    notes.push(format!(
        "objects: filler objects are VA spaces (FERMI_VASPACE_A, no memory), {PER_CLIENT} per extra client (each with its device) made \
through the proxy on the measuring process's control file; the context's table also holds those clients and devices (~0.2 % more). \
The direct side runs without fillers: nvsim keeps objects per client and the fillers sit in other clients (a trial run with the same \
fillers on the direct side too measured its control at 0.75, 0.83 and 0.83 ms with 10, 1000 and 60 000 live, its alloc+free at 2.2, \
2.0 and 2.2 ms; fillers for both sides took 165 s of its run). {OBJECTS_NOTE}"
    ));
    // Video memory live: the free's scan of allocations.
    let (mut dc, mut pc) = (Vidmem::new(&d), Vidmem::new(&p));
    for &k in &VIDMEM_COUNTS {
        dc.grow_to(k)?;
        pc.grow_to(k)?;
        let r = pair(
            clock,
            n,
            Some(ROW_BUDGET),
            op_alloc_free(&d),
            op_alloc_free(&p),
        )?;
        let mut j = pair_json(
            "objects",
            &format!("alloc+free vidmem, {k} vidmem objects live"),
            &r,
        );
        j["objects"] = json!(k);
        j["filler"] = json!("vidmem");
        rows.push(j);
    }
    notes.push(VIDMEM_NOTE.into());
    Ok(())
}

/// 4 KiB video-memory objects kept live under a session's device.
struct Vidmem<'a> {
    s: &'a Session,
    h: Vec<u32>,
}

impl<'a> Vidmem<'a> {
    fn new(s: &'a Session) -> Self {
        Vidmem { s, h: Vec::new() }
    }
    fn grow_to(&mut self, n: usize) -> Res<()> {
        while self.h.len() < n {
            self.h
                .push(self.s.alloc_vidmem(4096).map_err(e("filler vidmem"))?.0);
        }
        Ok(())
    }
}

impl Drop for Vidmem<'_> {
    fn drop(&mut self) {
        for h in self.h.drain(..).rev() {
            let _ = self.s.free(self.s.device, h);
        }
    }
}

/// Makes VA spaces through a fresh context until the proxy refuses one (or
/// `LIMIT_MAX` live); reports how many it held.
fn part_limit(o: &Opts, rows: &mut Vec<Value>) -> Res<()> {
    const LIMIT_MAX: usize = 200_000;
    create(o, "fglimit gpus=0")?;
    let r = (|| {
        let s = Session::open("/dev/fakegpu/fglimit", 0).map_err(e("session"))?;
        let mut f = Fillers::new(&s.ctl);
        let mut at = 0;
        let mut err = None;
        while at < LIMIT_MAX && err.is_none() {
            at += 10 * PER_CLIENT;
            err = f.grow_to(at).err();
        }
        let held = f.count() + f.failed_max;
        rows.push(json!({ "kind": "limit", "row": "VA spaces one context took", "objects": held, "refused": err }));
        Ok(())
    })();
    destroy(o, "fglimit")?;
    r
}

// --- contexts --------------------------------------------------------------

fn create(o: &Opts, spec: &str) -> Res<()> {
    std::fs::write(format!("{}/create", o.sys), format!("{spec}\n"))
        .map_err(e(&format!("create {spec}")))
}

fn destroy(o: &Opts, name: &str) -> Res<()> {
    std::fs::write(format!("{}/destroy", o.sys), format!("{name}\n"))
        .map_err(e(&format!("destroy {name}")))
}

/// Contexts this run made beside [`CTX`] (`<prefix><i>`); destroyed when
/// dropped.
struct Extra<'a> {
    o: &'a Opts,
    prefix: &'static str,
    spec: String,
    /// Indices of the live ones, ascending.
    live: Vec<usize>,
    next: usize,
}

impl<'a> Extra<'a> {
    fn new(o: &'a Opts, prefix: &'static str, spec: &str) -> Self {
        Extra {
            o,
            prefix,
            spec: spec.to_string(),
            live: Vec::new(),
            next: 0,
        }
    }
    fn name(&self, i: usize) -> String {
        format!("{}{i}", self.prefix)
    }
    fn grow_to(&mut self, n: usize) -> Res<()> {
        let want: Vec<usize> = (self.next..self.next + n.saturating_sub(self.live.len())).collect();
        self.next += want.len();
        let r: Vec<_> = want
            .iter()
            .map(|&i| create(self.o, &format!("{} {}", self.name(i), self.spec)))
            .collect();
        let mut first = None;
        for (i, r) in want.into_iter().zip(r) {
            match r {
                Ok(()) => self.live.push(i),
                Err(x) => drop(first.get_or_insert(x)),
            }
        }
        first.map_or(Ok(()), Err)
    }
    /// Destroys all but the first `n`.
    fn shrink_to(&mut self, n: usize) -> Res<()> {
        let gone = self.live.split_off(n.min(self.live.len()));
        let r: Vec<_> = gone
            .iter()
            .map(|&i| destroy(self.o, &self.name(i)))
            .collect();
        let mut first = None;
        for (i, r) in gone.into_iter().zip(r) {
            if let Err(x) = r {
                self.live.push(i);
                first.get_or_insert(x);
            }
        }
        self.live.sort_unstable();
        first.map_or(Ok(()), Err)
    }
}

impl Drop for Extra<'_> {
    fn drop(&mut self) {
        let _ = self.shrink_to(0);
    }
}

fn op_open(path: String) -> Op<'static> {
    Op::Plain(Box::new(move || {
        sys::open_rw(&path).map(drop).map_err(e("open"))
    }))
}

fn part_contexts(o: &Opts, clock: u64, rows: &mut Vec<Value>) -> Res<()> {
    let d = Session::open(&o.dev, 0).map_err(e("direct session"))?;
    let p = Session::open(&format!("/dev/fakegpu/{CTX}"), 0).map_err(e("proxy session"))?;
    let n = scaling_iters(o);
    let mut extra = Extra::new(o, "fgb", "gpus=0");
    for &k in &CONTEXT_COUNTS {
        let t = Instant::now();
        extra.grow_to(k - 1)?;
        eprintln!(
            "fgtest bench: {k} contexts open ({:.1} s to make)",
            t.elapsed().as_secs_f64()
        );
        let r = pair(clock, n, Some(ROW_BUDGET), op_control(&d), op_control(&p))?;
        let mut j = pair_json("contexts", &format!("control, {k} contexts open"), &r);
        j["contexts"] = json!(k);
        rows.push(j);
        let r = pair(
            clock,
            n,
            Some(ROW_BUDGET),
            op_open(format!("{}/nvidiactl", o.dev)),
            op_open(format!("/dev/fakegpu/{CTX}/nvidiactl")),
        )?;
        let mut j = pair_json(
            "contexts",
            &format!("open+close nvidiactl, {k} contexts open"),
            &r,
        );
        j["contexts"] = json!(k);
        rows.push(j);
    }
    let t = Instant::now();
    extra.shrink_to(0)?;
    eprintln!(
        "fgtest bench: extra contexts destroyed ({:.1} s)",
        t.elapsed().as_secs_f64()
    );
    Ok(())
}

// --- scheduler ------------------------------------------------------------

/// The scheduler kthread's name (src/compute.rs).
const SCHED_THREAD: &str = "fakegpu-sched";

fn sched_pid() -> Res<u32> {
    for ent in std::fs::read_dir("/proc").map_err(e("/proc"))?.flatten() {
        let Some(pid) = ent.file_name().to_str().and_then(|s| s.parse::<u32>().ok()) else {
            continue;
        };
        if std::fs::read_to_string(format!("/proc/{pid}/comm"))
            .is_ok_and(|c| c.trim_end() == SCHED_THREAD)
        {
            return Ok(pid);
        }
    }
    Err(format!("no {SCHED_THREAD} thread"))
}

/// utime + stime of `pid` in ns (clock ticks), and the run time in ns from
/// /proc/PID/schedstat where the kernel has it.
fn cpu_of(pid: u32) -> Res<(u64, Option<u64>)> {
    let st = std::fs::read_to_string(format!("/proc/{pid}/stat")).map_err(e("stat"))?;
    let rest = st.rsplit_once(')').map(|x| x.1).ok_or("bad stat")?;
    let f: Vec<&str> = rest.split_whitespace().collect();
    // After the comm: state is field 3, utime 14, stime 15.
    let tick = |i: usize| {
        f.get(i)
            .and_then(|v| v.parse::<u64>().ok())
            .ok_or("bad stat")
    };
    let ticks = tick(11)? + tick(12)?;
    // SAFETY: sysconf has no memory effects.
    let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) }.max(1) as u64;
    let sched = std::fs::read_to_string(format!("/proc/{pid}/schedstat"))
        .ok()
        .and_then(|s| s.split_whitespace().next().and_then(|v| v.parse().ok()));
    Ok((ticks * 1_000_000_000 / hz, sched))
}

fn sched_window(pid: u32, secs: f64) -> Res<(f64, Option<f64>, f64)> {
    let (a, sa) = cpu_of(pid)?;
    let t = Instant::now();
    std::thread::sleep(Duration::from_secs_f64(secs));
    let (b, sb) = cpu_of(pid)?;
    let w = t.elapsed().as_secs_f64();
    let per_s = |x: u64, y: u64| y.saturating_sub(x) as f64 / w;
    Ok((per_s(a, b), sa.zip(sb).map(|(x, y)| per_s(x, y)), w))
}

fn sched_row(pid: u32, secs: f64, contexts: usize, busy: usize) -> Res<Value> {
    std::thread::sleep(Duration::from_millis(500));
    let (cpu, schedstat, wall) = sched_window(pid, secs)?;
    let name = match busy {
        0 => format!("scheduler, {contexts} capped contexts, idle"),
        _ => format!("scheduler, {contexts} capped contexts, {busy} busy"),
    };
    Ok(json!({
        "kind": "sched",
        "row": name,
        "contexts": contexts,
        "busy": busy,
        "compute_limit_pct": SCHED_PCT,
        "cpu_ns_per_s": cpu.round() as u64,
        "schedstat_ns_per_s": schedstat.map(|v| v.round() as u64),
        "wall_s": (wall * 1000.0).round() / 1000.0,
    }))
}

/// A burner (`nvrm burn`) in a context, killed when dropped.
struct Burner(std::process::Child);

impl Drop for Burner {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// The module's overcommit ratio raised to its maximum (100) while held;
/// the old one is put back when dropped.
struct Overcommit {
    path: String,
    old: Option<String>,
}

impl Overcommit {
    fn raise(o: &Opts) -> Res<Overcommit> {
        let path = format!("{}/overcommit", o.sys);
        // A module without the file (older) admits anything.
        let old = std::fs::read_to_string(&path).ok();
        if old.is_some() {
            std::fs::write(&path, "100\n").map_err(|e| format!("raise {path}: {e}"))?;
        }
        Ok(Overcommit { path, old })
    }
}

impl Drop for Overcommit {
    fn drop(&mut self) {
        if let Some(old) = &self.old {
            let _ = std::fs::write(&self.path, old);
        }
    }
}

fn part_sched(o: &Opts, rows: &mut Vec<Value>, notes: &mut Vec<String>) -> Res<()> {
    let pid = sched_pid()?;
    let secs = o.sched_secs;
    // 100 contexts capped at 50 % on one GPU sum past it: the bench wants
    // them (the scheduler's cost), so the ratio goes to its maximum for
    // the part and back to what it was after.
    let _ratio = Overcommit::raise(o)?;
    let mut ctxs = Extra::new(o, "fgs", "gpus=0 compute=50");
    for &k in &SCHED_COUNTS {
        ctxs.grow_to(k)?;
        rows.push(sched_row(pid, secs, k, 0)?);
    }
    // One busy burner in the first of them, the others idle.
    let burn_for = (secs * 3.0 + 30.0).ceil();
    let child = std::process::Command::new("nvrm")
        .args([
            "--dev",
            "/dev/fakegpu/fgs0",
            "burn",
            "--gpu",
            "0",
            "--busy-us",
            "500",
            "--depth",
            "32",
            "--for",
        ])
        .arg(format!("{burn_for}"))
        .stdout(std::process::Stdio::null())
        .spawn()
        .map_err(e("spawn nvrm burn"))?;
    let burner = Burner(child);
    let pids = format!("{}/contexts/fgs0/pids", o.sys);
    let t = Instant::now();
    while std::fs::read_to_string(&pids)
        .unwrap_or_default()
        .trim()
        .is_empty()
    {
        if t.elapsed() > Duration::from_secs(30) {
            return Err("the burner did not open its nodes".into());
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    // Let it reach its queue depth.
    std::thread::sleep(Duration::from_secs(1));
    let top = *SCHED_COUNTS.last().expect("counts");
    rows.push(sched_row(pid, secs, top, 1)?);
    ctxs.shrink_to(1)?;
    rows.push(sched_row(pid, secs, 1, 1)?);
    drop(burner);
    ctxs.shrink_to(0)?;
    notes.push(format!(
        "sched: CPU time of the {SCHED_THREAD} kthread (pid {pid}) per second of wall time over {secs} s windows: cpu_ns_per_s from \
/proc/PID/stat utime+stime (clock ticks: a resolution of {} ns per s over a window), schedstat_ns_per_s from /proc/PID/schedstat (ns); contexts \
have compute_limit_pct {SCHED_PCT}; the busy one runs `nvrm burn --busy-us 500 --depth 32`",
        1_000_000_000 / (secs.max(0.001) * 100.0) as u64
    ));
    Ok(())
}

// --- output ----------------------------------------------------------------

fn num(v: &Value, k: &str) -> String {
    match &v[k] {
        Value::Null => "-".into(),
        x => x.to_string(),
    }
}

fn print_table(rows: &[Value]) {
    let mut kind = "";
    for r in rows {
        let k = r["kind"].as_str().unwrap_or("");
        if k != kind {
            kind = k;
            println!();
            match k {
                "sched" => println!(
                    "{:<48} {:>9} {:>6} {:>14} {:>14}",
                    "scheduler row", "contexts", "busy", "cpu ns/s", "schedstat ns/s"
                ),
                _ => println!(
                    "{:<48} {:>10} {:>10} {:>10} {:>10} {:>9} {:>7} {:>5}",
                    format!("{k} (ns per call)"),
                    "direct p50",
                    "direct p99",
                    "proxy p50",
                    "proxy p99",
                    "diff p50",
                    "iters",
                    "batch"
                ),
            }
        }
        let name = r["row"].as_str().unwrap_or("?");
        if let Some(err) = r["error"].as_str() {
            println!("{name:<48} ERROR: {err}");
            continue;
        }
        match k {
            "sched" => {
                println!(
                    "{:<48} {:>9} {:>6} {:>14} {:>14}",
                    name,
                    num(r, "contexts"),
                    num(r, "busy"),
                    num(r, "cpu_ns_per_s"),
                    num(r, "schedstat_ns_per_s")
                )
            }
            _ => println!(
                "{:<48} {:>10} {:>10} {:>10} {:>10} {:>9} {:>7} {:>5}",
                name,
                num(r, "direct_median_ns"),
                num(r, "direct_p99_ns"),
                num(r, "proxy_median_ns"),
                num(r, "proxy_p99_ns"),
                num(r, "diff_median_ns"),
                num(r, "iters"),
                num(r, "batch")
            ),
        }
    }
}

/// One part: appends its rows and notes.
type PartFn<'a> = dyn FnMut(&mut Vec<Value>, &mut Vec<String>) -> Res<()> + 'a;

/// Runs the bench; `Err` if a part failed (the others still run and
/// everything is printed).
pub fn run(o: &Opts) -> Res<()> {
    let clock = clock_cost();
    let mut rows = Vec::new();
    let mut notes = Vec::new();
    let mut failed = Vec::new();
    let wants = |p: &str| o.parts.iter().any(|x| x == p);
    let t0 = Instant::now();
    let needs_ctx = wants("calls") || wants("objects") || wants("contexts");
    if needs_ctx {
        create(o, &format!("{CTX} gpus=0 mem={CTX_MEM}"))?;
    }
    let mut part = |name: &str, f: &mut PartFn<'_>| {
        if !wants(name) {
            return;
        }
        let t = Instant::now();
        if let Err(x) = f(&mut rows, &mut notes) {
            eprintln!("fgtest bench: part {name} failed: {x}");
            rows.push(json!({ "kind": name, "row": format!("part {name}"), "error": x }));
            failed.push(name.to_string());
        }
        eprintln!(
            "fgtest bench: part {name}: {:.1} s",
            t.elapsed().as_secs_f64()
        );
    };
    part("calls", &mut |r, _| part_calls(o, clock, r));
    part("objects", &mut |r, n| part_objects(o, clock, r, n));
    part("contexts", &mut |r, _| part_contexts(o, clock, r));
    part("limit", &mut |r, _| part_limit(o, r));
    if needs_ctx {
        destroy(o, CTX)?;
    }
    part("sched", &mut |r, n| part_sched(o, r, n));
    let timing = format!(
        "each call timed on its own with CLOCK_MONOTONIC (Instant::now, {clock} ns per reading) unless batch > 1 (clock > 5 % of the call: \
samples are batch means); direct and proxy alternate in {ROUNDS} rounds; p99 is nearest-rank"
    );
    notes.insert(0, timing);
    let uname = std::fs::read_to_string("/proc/sys/kernel/osrelease")
        .unwrap_or_default()
        .trim()
        .to_string();
    let doc = json!({
        "bench": "fgtest bench",
        "format": 1,
        "guest_kernel": uname,
        "iters": o.iters,
        "sched_secs": o.sched_secs,
        "clock_ns": clock,
        "elapsed_s": (t0.elapsed().as_secs_f64() * 10.0).round() / 10.0,
        "notes": notes,
        "rows": rows,
    });
    print_table(doc["rows"].as_array().map(Vec::as_slice).unwrap_or(&[]));
    println!();
    for n in doc["notes"].as_array().into_iter().flatten() {
        println!("note: {}", n.as_str().unwrap_or(""));
    }
    println!("BENCH-JSON-BEGIN");
    println!("{}", serde_json::to_string_pretty(&doc).unwrap_or_default());
    println!("BENCH-JSON-END");
    if failed.is_empty() {
        Ok(())
    } else {
        Err(format!("parts failed: {}", failed.join(", ")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles() {
        let mut v: Vec<u64> = (1..=100).rev().collect();
        assert_eq!(
            stats(&mut v),
            Stats {
                median: 51,
                p99: 99
            }
        );
        let mut v = vec![7];
        assert_eq!(stats(&mut v), Stats { median: 7, p99: 7 });
        assert_eq!(stats(&mut []), Stats::default());
        let mut v: Vec<u64> = (1..=1000).collect();
        assert_eq!(stats(&mut v).p99, 990);
    }

    #[test]
    fn options() {
        let o = Opts::parse(&[]).unwrap();
        assert_eq!((o.iters, o.parts.len()), (1000, 4));
        let o = Opts::parse(&["300", "2", "--parts", "calls,sched"]).unwrap();
        assert_eq!((o.iters, o.sched_secs), (300, 2.0));
        assert_eq!(o.parts, ["calls", "sched"]);
        assert!(Opts::parse(&["--parts", "nope"]).is_err());
        assert!(Opts::parse(&["10"]).is_err());
        assert!(Opts::parse(&["1000", "1", "x"]).is_err());
    }

    #[test]
    fn batching_follows_the_clock() {
        let mut s = Sampler::new(Op::Plain(Box::new(|| Ok(()))));
        s.calibrate(1_000_000).unwrap();
        assert!(s.batch > 1);
        let mut s = Sampler::new(Op::Staged(Box::new(|| Ok(10))));
        s.calibrate(1_000_000).unwrap();
        assert_eq!(s.batch, 1);
        s.run(25).unwrap();
        assert_eq!((s.calls, s.stats().median), (25, 10));
    }
}
