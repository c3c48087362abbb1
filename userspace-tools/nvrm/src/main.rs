//! `nvrm`: a CLI over the nvrm library.
//!
//! ```text
//! nvrm [--dev DIR] info [-o json]
//! nvrm [--dev DIR] alloc SIZE... [--gpu N] [--hold SECS]
//! nvrm [--dev DIR] burn --gpu N --busy-us U --for SECS [--timeslice-us T] [--depth D | --sync] [--spin] [--no-doorbell] [--mmap-storm] [--second-mmap] [--dup-doorbell] [-o json]
//! nvrm [--dev DIR] latency --gpu N --busy-us U --count C --gap-ms G: C times, after G ms idle, submits one
//!   entry of U µs and times ring-to-completion; prints p50/p99/max (ms)
//! nvrm [--dev DIR] stress [--threads N] [--iters N] [--gpu N]
//! nvrm script FILE|-          (see `script.rs`)
//! ```

mod script;

use fakegpu_core::nvabi::sim::Entry;
use nvrm::{parse_size, uuid_string, Channel, Error, Session};
use std::process::ExitCode;
use std::time::{Duration, Instant};

fn usage() -> ExitCode {
    eprintln!(
        "usage: nvrm [--dev DIR] info [-o json]\n       nvrm [--dev DIR] alloc SIZE... [--gpu N] [--hold SECS]\n       nvrm [--dev DIR] burn --gpu N --busy-us U --for SECS [--timeslice-us T] [--depth D | --sync] [-o json]\n       nvrm [--dev DIR] latency --gpu N --busy-us U --count C --gap-ms G\n       nvrm script FILE|-"
    );
    ExitCode::from(2)
}

struct Args {
    rest: Vec<String>,
}

impl Args {
    fn flag(&mut self, name: &str) -> bool {
        if let Some(i) = self.rest.iter().position(|a| a == name) {
            self.rest.remove(i);
            true
        } else {
            false
        }
    }
    fn opt(&mut self, name: &str) -> Option<String> {
        let i = self.rest.iter().position(|a| a == name)?;
        if i + 1 >= self.rest.len() {
            return None;
        }
        let v = self.rest.remove(i + 1);
        self.rest.remove(i);
        Some(v)
    }
}

fn main() -> ExitCode {
    let mut a = Args {
        rest: std::env::args().skip(1).collect(),
    };
    let dir = a.opt("--dev").unwrap_or_else(|| "/dev".to_string());
    if a.rest.is_empty() {
        return usage();
    }
    let cmd = a.rest.remove(0);
    let r = match cmd.as_str() {
        "info" => info(&dir, &mut a),
        "alloc" => alloc(&dir, &mut a),
        "burn" => burn(&dir, &mut a),
        "latency" => latency(&dir, &mut a),
        "stress" => stress(&dir, &mut a),
        "script" => match a.rest.first() {
            Some(f) => script::run_path(f),
            None => return usage(),
        },
        _ => return usage(),
    };
    match r {
        Ok(code) => code,
        Err(e) => {
            eprintln!("nvrm {cmd}: {e}");
            ExitCode::FAILURE
        }
    }
}

/// A doorbell write taking this long (µs) was held at a shut gate.
const HELD_US: u64 = 1000;

type CmdResult = Result<ExitCode, Box<dyn std::error::Error>>;

fn json_mode(a: &mut Args) -> bool {
    matches!(a.opt("-o").as_deref(), Some("json"))
}

fn info(dir: &str, a: &mut Args) -> CmdResult {
    let json = json_mode(a);
    let probe = nvrm::Ctl::open(&format!("{dir}/nvidiactl"))?;
    let version = probe.query_version().unwrap_or_default();
    let cards = probe.card_info()?;
    drop(probe);
    let mut rows = Vec::new();
    for c in &cards {
        let s = Session::open(dir, c.minor)?;
        let m = s.mem_info()?;
        rows.push((c.minor, s.name()?, uuid_string(&s.uuid()?), m));
    }
    if json {
        let gpus: Vec<String> = rows
            .iter()
            .map(|(i, name, uuid, m)| {
                format!(
                    "{{\"index\":{i},\"name\":\"{name}\",\"uuid\":\"{uuid}\",\"memory\":{{\"total\":{},\"used\":{},\"free\":{}}}}}",
                    m.total,
                    m.used(),
                    m.free
                )
            })
            .collect();
        println!(
            "{{\"driver_version\":\"{version}\",\"gpus\":[{}]}}",
            gpus.join(",")
        );
    } else {
        println!("driver version: {version}");
        for (i, name, uuid, m) in &rows {
            println!(
                "GPU {i}: {name} ({uuid})\n  memory: total {} MiB, used {} MiB, free {} MiB",
                m.total >> 20,
                m.used() >> 20,
                m.free >> 20
            );
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn alloc(dir: &str, a: &mut Args) -> CmdResult {
    let gpu: u32 = a.opt("--gpu").map(|s| s.parse()).transpose()?.unwrap_or(0);
    let hold: f64 = a
        .opt("--hold")
        .map(|s| s.parse())
        .transpose()?
        .unwrap_or(0.0);
    if a.rest.is_empty() {
        return Ok(usage());
    }
    let s = Session::open(dir, gpu)?;
    let mut held = Vec::new();
    let mut refused = false;
    for arg in &a.rest {
        let size = parse_size(arg).ok_or_else(|| format!("bad size {arg:?}"))?;
        match s.alloc_vidmem(size) {
            Ok((h, got)) => {
                println!("alloc {size} -> NV_OK handle {h:#x} size {got}");
                held.push(h);
            }
            Err(Error::Rm(st)) => {
                println!("alloc {size} -> {st}");
                refused = true;
            }
            Err(e) => return Err(e.into()),
        }
    }
    if hold > 0.0 {
        std::thread::sleep(Duration::from_secs_f64(hold));
    }
    for h in held {
        s.free(s.device, h)?;
    }
    Ok(if refused {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    })
}

fn burn(dir: &str, a: &mut Args) -> CmdResult {
    let gpu: u32 = a.opt("--gpu").map(|s| s.parse()).transpose()?.unwrap_or(0);
    let busy: u32 = a.opt("--busy-us").ok_or("--busy-us is required")?.parse()?;
    let secs: f64 = a.opt("--for").ok_or("--for is required")?.parse()?;
    let slice: Option<u64> = a.opt("--timeslice-us").map(|s| s.parse()).transpose()?;
    let sync = a.flag("--sync");
    // Write entries and GPPut but never ring: the engine must not see them.
    let no_ring = a.flag("--no-doorbell");
    // Poll for completions with sched_yield instead of sleeping: keeps a
    // shallow queue full where sleeps are coarse (the TCG test VM).
    let spin = a.flag("--spin");
    let depth: u32 = if sync {
        1
    } else {
        a.opt("--depth")
            .map(|s| s.parse())
            .transpose()?
            .unwrap_or(8)
    };
    // A second thread maps and unmaps memory without pause, so the mm's
    // lock is often held for writing: the scheduler's zaps (which never
    // wait for that lock) must still shut the doorbell.
    let storm = a.flag("--mmap-storm");
    // Ring through a second mmap of the doorbell's GPU file, not the first.
    let second_mmap = a.flag("--second-mmap");
    // Ring through a mapping of a dup of the usermode object.
    let dup_doorbell = a.flag("--dup-doorbell");
    let json = json_mode(a);
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let stormer = storm.then(|| {
        let stop = stop.clone();
        std::thread::spawn(move || {
            let mut n: u64 = 0;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                // SAFETY: a fresh private anonymous mapping, unmapped at once;
                // nothing else refers to it.
                unsafe {
                    let p = libc::mmap(
                        std::ptr::null_mut(),
                        1 << 16,
                        libc::PROT_READ | libc::PROT_WRITE,
                        libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
                        -1,
                        0,
                    );
                    if p != libc::MAP_FAILED {
                        libc::munmap(p, 1 << 16);
                    }
                }
                n += 1;
            }
            n
        })
    });
    let s = Session::open(dir, gpu)?;
    let mut ch = Channel::new(&s)?;
    if second_mmap {
        ch.remap_doorbell()?;
    }
    if dup_doorbell {
        ch.dup_doorbell(&s)?;
    }
    if let Some(t) = slice {
        s.set_timeslice(ch.tsg, t)?;
    }
    let timeslice = s.timeslice(ch.tsg)?;
    let start = Instant::now();
    let end = start + Duration::from_secs_f64(secs);
    let mut submitted: u64 = 0;
    let mut held_us: u64 = 0;
    let mut last_get = ch.get();
    let mut completed: u64 = 0;
    while Instant::now() < end {
        let get = ch.get();
        completed += u64::from((get + nvrm::layout::ENTRIES - last_get) % nvrm::layout::ENTRIES);
        last_get = get;
        let pending = ch.pending();
        if pending < depth.min(nvrm::layout::ENTRIES - 1) {
            let n = depth - pending;
            let entries: Vec<Entry> = (0..n).map(|_| Entry::Busy(busy)).collect();
            ch.push(&entries);
            if !no_ring {
                // A ring that takes long was held at a shut doorbell gate
                // (the fault sleeps until the gate opens).
                let t = Instant::now();
                ch.ring();
                let d = t.elapsed().as_micros() as u64;
                if d >= HELD_US {
                    held_us += d;
                }
            }
            submitted += u64::from(n);
        } else if spin {
            std::thread::yield_now();
        } else {
            std::thread::sleep(Duration::from_micros(u64::from(busy.clamp(50, 2000)) / 2));
        }
    }
    let elapsed = start.elapsed();
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let storms = stormer.map(|t| t.join().unwrap_or(0));
    let get = ch.get();
    completed += u64::from((get + nvrm::layout::ENTRIES - last_get) % nvrm::layout::ENTRIES);
    let engine_us = completed * u64::from(busy);
    let el_us = elapsed.as_micros() as u64;
    let rate = completed as f64 / elapsed.as_secs_f64();
    let duty = 1.0 - held_us as f64 / el_us.max(1) as f64;
    if json {
        println!(
            "{{\"gpu\":{gpu},\"tsg\":{},\"timeslice_us\":{timeslice},\"busy_us\":{busy},\"depth\":{depth},\"submitted\":{submitted},\"completed\":{completed},\"engine_us\":{engine_us},\"elapsed_us\":{el_us},\"entries_per_s\":{rate:.1},\"held_us\":{held_us},\"duty\":{duty:.3}}}",
            ch.tsg
        );
    } else {
        println!(
            "gpu {gpu} tsg {:#x} timeslice_us {timeslice} busy_us {busy} depth {depth}",
            ch.tsg
        );
        println!("submitted {submitted} completed {completed}");
        println!(
            "engine_us {engine_us} elapsed_us {el_us} share {:.3}",
            engine_us as f64 / el_us.max(1) as f64
        );
        println!("throughput {rate:.1} entries/s");
        println!("held_us {held_us} duty {duty:.3}");
        if let Some(n) = storms {
            println!("mmap_storm {n} map+unmap");
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// N threads on one client allocate and free video memory and channel
/// groups concurrently; every status must be NV_OK and nothing may leak.
fn stress(dir: &str, a: &mut Args) -> CmdResult {
    let gpu: u32 = a.opt("--gpu").map(|s| s.parse()).transpose()?.unwrap_or(0);
    let threads: u32 = a
        .opt("--threads")
        .map(|s| s.parse())
        .transpose()?
        .unwrap_or(32);
    let iters: u32 = a
        .opt("--iters")
        .map(|s| s.parse())
        .transpose()?
        .unwrap_or(50);
    let s = std::sync::Arc::new(Session::open(dir, gpu)?);
    let before = s.mem_info()?;
    let failures = std::sync::atomic::AtomicU32::new(0);
    std::thread::scope(|sc| {
        for t in 0..threads {
            let s = s.clone();
            let failures = &failures;
            sc.spawn(move || {
                let mut held = Vec::new();
                for i in 0..iters {
                    let size = 4096u64 << ((t + i) % 10);
                    match s.alloc_vidmem(size) {
                        Ok((h, _)) => held.push(h),
                        Err(e) => {
                            eprintln!("thread {t}: alloc {size}: {e}");
                            failures.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                        }
                    }
                    if i % 8 == 7 {
                        match s.alloc_tsg() {
                            Ok(tsg) => {
                                let _ = s.set_timeslice(tsg, 1000 + u64::from(t));
                                if let Err(e) = s.free(s.device, tsg) {
                                    eprintln!("thread {t}: free tsg: {e}");
                                    failures.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                                }
                            }
                            Err(e) => {
                                eprintln!("thread {t}: tsg: {e}");
                                failures.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                            }
                        }
                    }
                    if held.len() > 3 {
                        let h = held.remove(0);
                        if let Err(e) = s.free(s.device, h) {
                            eprintln!("thread {t}: free: {e}");
                            failures.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                        }
                    }
                }
                for h in held {
                    if s.free(s.device, h).is_err() {
                        failures.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    }
                }
            });
        }
    });
    let after = s.mem_info()?;
    let f = failures.load(std::sync::atomic::Ordering::Relaxed);
    println!(
        "threads {threads} iters {iters} failures {f} free_before {} free_after {}",
        before.free, after.free
    );
    Ok(if f == 0 && before.free == after.free {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

/// Submission latency: after an idle gap, one entry is submitted and rung;
/// the time until the engine completes it is what a short job waits (held
/// at the doorbell while others own the GPU, plus their drain, plus the
/// entry itself).
fn latency(dir: &str, a: &mut Args) -> CmdResult {
    let gpu: u32 = a.opt("--gpu").map(|s| s.parse()).transpose()?.unwrap_or(0);
    let busy: u32 = a.opt("--busy-us").ok_or("--busy-us is required")?.parse()?;
    let count: usize = a.opt("--count").ok_or("--count is required")?.parse()?;
    let gap: u64 = a.opt("--gap-ms").ok_or("--gap-ms is required")?.parse()?;
    let s = Session::open(dir, gpu)?;
    let mut ch = Channel::new(&s)?;
    let mut ms: Vec<f64> = Vec::with_capacity(count);
    for _ in 0..count {
        std::thread::sleep(Duration::from_millis(gap));
        let start = Instant::now();
        ch.push(&[Entry::Busy(busy)]);
        ch.ring();
        while ch.pending() > 0 {
            std::thread::sleep(Duration::from_micros(100));
        }
        ms.push(start.elapsed().as_secs_f64() * 1e3);
    }
    ms.sort_by(|x, y| x.total_cmp(y));
    let pct = |p: f64| {
        ms.get(((ms.len() as f64 - 1.0) * p).round() as usize)
            .copied()
            .unwrap_or(0.0)
    };
    println!(
        "latency n {} p50 {:.2} p99 {:.2} max {:.2} ms",
        ms.len(),
        pct(0.5),
        pct(0.99),
        pct(1.0)
    );
    Ok(ExitCode::SUCCESS)
}
