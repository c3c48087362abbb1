//! fgtest: workloads for fakegpu's in-guest tests.
//!
//! - `fgtest fuzz-ioctl DIR ITERS SEED [UID]`: drops to UID (default 65534,
//!   nobody), opens every node in DIR (a context's `/dev/fakegpu/NAME`) and
//!   issues ITERS random ioctls: real escape numbers and random ones, with
//!   random sizes and bytes, and random (often wild) pointers inside the
//!   blocks. It must not crash the kernel; errors are expected. Prints the
//!   counts of each errno seen.
//! - `fgtest hold PATH SECS`: opens PATH and keeps it open for SECS.
//! - `fgtest bench [ITERS [SCHED_SECS]] [--parts LIST] [--dev DIR] [--sys DIR]`:
//!   the proxy's own cost: median and p99 per call type on the vendor's
//!   nodes and through a context's, how they scale with objects and
//!   contexts, and the scheduler thread's CPU time (see `bench`); a table
//!   and a JSON document. Run as root in the VM (it creates contexts).
//! - `fgtest alloc-race DIR THREADS SIZE HOLD`: one RM session per thread on
//!   the nodes in DIR; all threads start together and allocate SIZE bytes of
//!   video memory until refused; prints the number granted, holds everything
//!   for HOLD seconds (or, HOLD a path, until that file exists), then frees
//!   by exiting.
//! - `fgtest fd-race DIR SECS VENDOR_MAJOR [UID]` (at least SECS s and 200 calls): races dup, /proc/self/fd,
//!   SCM_RIGHTS and pidfd_getfd against fd-carrying calls (see `fdrace`).
//! - `fgtest exec-race DIR SECS VENDOR_MAJOR`: execs against the files the
//!   proxy lends for device allocations; `fgtest fd-check VENDOR_MAJOR` is
//!   what the exec'd image runs (fails if it holds a vendor file).
//! - `fgtest flip DIR CASE SECS HOLD`: the double-fetch attack: a second
//!   thread rewrites one field of the block a call is made with (CASE:
//!   class, size, pointer, free, device), then holds what it got for HOLD s (see
//!   `flip`).
//! - `fgtest managed [--dir DIR] --mib N [--migrate-mib M] [--hold-file PATH]
//!   [--unmap-half] [--bad-offset] [--uninit]`: UVM managed memory as
//!   cudaMallocManaged maps it, migrated to GPU 0 (see `managed`); exits 3
//!   when the mmap is refused.
//! - `fgtest chaos DIR_A DIR_B SECS SEED [PROCS] [--uid UID] [--round-ms MS]
//!   [--flips all|none|CASE,...] [--ops all|[-]KIND,...]`:
//!   the stateful fuzzer (issue 16 §8): PROCS workers per context, as UID,
//!   making valid-looking call sequences and attacks, with the ledger
//!   checked against nvsim's heap at quiescent points (see `chaos`). Run as
//!   root; exits 1 on a broken invariant.
//! - `fgtest as-uid UID CMD...`: becomes UID (group UID, no supplementary
//!   groups; nothing to do if it already is) and execs CMD: the guest suite
//!   runs its tenants through it.

mod bench;
mod chaos;
mod fdrace;
mod flip;
mod managed;

use std::collections::BTreeMap;
use std::ffi::CString;
use std::process::ExitCode;

/// A small deterministic generator (xorshift64*), so a failing run can be
/// repeated with its seed.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }
}

/// `_IOWR('F', nr, size)`.
fn nv_iowr(nr: u32, size: u32) -> u32 {
    (3 << 30) | ((size & 0x3fff) << 16) | ((b'F' as u32) << 8) | nr
}

fn open(path: &str) -> Option<i32> {
    let c = CString::new(path).ok()?;
    // SAFETY: `c` is a valid C string.
    let fd = unsafe { libc::open(c.as_ptr(), libc::O_RDWR | libc::O_CLOEXEC) };
    (fd >= 0).then_some(fd)
}

fn drop_privileges(uid: u32) -> Result<(), String> {
    // SAFETY: plain system calls on the current process.
    unsafe {
        // Already that user (the suite run as the tenant): nothing to drop.
        if libc::getuid() == uid && libc::geteuid() == uid {
            return Ok(());
        }
        if libc::setgroups(0, std::ptr::null()) != 0
            || libc::setgid(uid) != 0
            || libc::setuid(uid) != 0
        {
            return Err(format!(
                "cannot drop to uid {uid}: {}",
                std::io::Error::last_os_error()
            ));
        }
    }
    Ok(())
}

/// Replaces this process with `cmd` (looked up in PATH).
fn exec(cmd: &[&str]) -> Result<(), String> {
    use std::os::unix::process::CommandExt;
    let e = std::process::Command::new(cmd[0]).args(&cmd[1..]).exec();
    Err(format!("exec {}: {e}", cmd[0]))
}

fn fuzz_ioctl(dir: &str, iters: u64, seed: u64, uid: u32) -> Result<(), String> {
    drop_privileges(uid)?;
    let names: Vec<String> = std::fs::read_dir(dir)
        .map_err(|e| format!("{dir}: {e}"))?
        .filter_map(|e| e.ok().map(|e| e.path().display().to_string()))
        .collect();
    let fds: Vec<i32> = names.iter().filter_map(|n| open(n)).collect();
    if fds.is_empty() {
        return Err(format!("no node of {dir} could be opened as uid {uid}"));
    }
    let mut rng = Rng(seed | 1);
    // A writable area the random blocks live in, and which pointers inside
    // them may point into.
    let mut arena = vec![0u8; 64 * 1024];
    let arena_addr = arena.as_mut_ptr() as u64;
    // Escapes CUDA uses, so that decoding goes deep, not only "unknown".
    let escapes: [(u32, u32); 12] = [
        (0x2b, 32),
        (0x2b, 48),
        (0x29, 16),
        (0x2a, 32),
        (0x34, 28),
        (0x4a, 184),
        (0xc8, 72 * 4),
        (0xc9, 4),
        (0xd2, 72),
        (0xcf, 4),
        (0x4e, 56),
        (0x27, 56),
    ];
    // Clients on the ctl nodes, so that the export-fd controls (whose ctl
    // fd the proxy translates inside the control's parameters) get past the
    // client check.
    let clients: Vec<u32> = names
        .iter()
        .filter(|n| n.ends_with("nvidiactl"))
        .filter_map(|n| nvrm::Ctl::open(n).ok())
        .filter_map(|c| {
            let h = c.alloc_client().ok()?;
            // The client lives as long as the file: keep it open.
            let fd: std::os::fd::OwnedFd = c.into();
            std::mem::forget(fd);
            Some(h)
        })
        .collect();
    // Export-fd controls and their parameter sizes and fd offsets.
    let export_ctrls: [(u32, usize, usize); 6] = [
        (0x3d05, 24, 16),
        (0x3d06, 20, 0),
        (0x3d08, 80, 0),
        (0x3d0a, 76, 72),
        (0x3d0b, 2128, 0),
        (0x3d0c, 652, 0),
    ];
    let mut seen: BTreeMap<i32, u64> = BTreeMap::new();
    for _ in 0..iters {
        let fd = fds[rng.below(fds.len() as u64) as usize];
        let cmd = match rng.below(4) {
            0 => rng.next() as u32,
            1 => rng.next() as u32 & 0xff,
            _ => {
                let (nr, size) = escapes[rng.below(escapes.len() as u64) as usize];
                let size = if rng.below(8) == 0 {
                    rng.below(512) as u32
                } else {
                    size
                };
                nv_iowr(nr, size)
            }
        };
        let off = rng.below(60 * 1024) as usize & !7;
        for b in arena[off..off + 512].iter_mut() {
            *b = rng.next() as u8;
        }
        // Plant pointers: into the arena, wild, or null.
        for k in 0..8 {
            let p = match rng.below(3) {
                0 => arena_addr + rng.below(60 * 1024),
                1 => rng.next(),
                _ => 0,
            };
            let at = off + 8 * (rng.below(60) as usize) + k;
            if at + 8 <= arena.len() && rng.below(2) == 0 {
                arena[at & !7..(at & !7) + 8].copy_from_slice(&p.to_le_bytes());
            }
        }
        if cmd == nv_iowr(0x2a, 32) && rng.below(3) == 0 {
            // NVOS54 with an export-fd control: client, cmd, params, size;
            // the nested fd one of ours, -1, or random.
            let (ctrl, size, fd_at) = export_ctrls[rng.below(6) as usize];
            let poff = 32 * 1024 + (rng.below(16 * 1024) as usize & !7);
            for b in arena[poff..poff + size].iter_mut() {
                *b = if rng.below(2) == 0 {
                    0
                } else {
                    rng.next() as u8
                };
            }
            let fd = match rng.below(4) {
                0 => -1,
                1 => rng.next() as i32,
                _ => fds[rng.below(fds.len() as u64) as usize],
            };
            arena[poff + fd_at..poff + fd_at + 4].copy_from_slice(&fd.to_le_bytes());
            let client = match clients.get(rng.below(clients.len() as u64 + 1) as usize) {
                Some(c) => *c,
                None => rng.next() as u32,
            };
            let size = if rng.below(8) == 0 {
                rng.below(2200) as usize
            } else {
                size
            };
            let b = &mut arena[off..off + 32];
            b[0..4].copy_from_slice(&client.to_le_bytes());
            b[4..8].copy_from_slice(&client.to_le_bytes());
            b[8..12].copy_from_slice(&ctrl.to_le_bytes());
            b[12..16].copy_from_slice(&0u32.to_le_bytes());
            b[16..24].copy_from_slice(&(arena_addr + poff as u64).to_le_bytes());
            b[24..28].copy_from_slice(&(size as u32).to_le_bytes());
        }
        let arg = if rng.below(16) == 0 {
            rng.next()
        } else {
            arena_addr + off as u64
        };
        // SAFETY: the kernel validates every user pointer; the arena is ours.
        let r = unsafe { libc::ioctl(fd, cmd as _, arg as usize) };
        let e = if r < 0 {
            std::io::Error::last_os_error().raw_os_error().unwrap_or(-1)
        } else {
            0
        };
        *seen.entry(e).or_default() += 1;
    }
    for fd in fds {
        // SAFETY: our fd.
        unsafe { libc::close(fd) };
    }
    let summary: Vec<String> = seen
        .iter()
        .map(|(e, n)| format!("errno {e}: {n}"))
        .collect();
    println!(
        "fuzz-ioctl: {iters} calls as uid {uid}, seed {seed}: {}",
        summary.join(", ")
    );
    Ok(())
}

fn alloc_race(dir: &str, threads: usize, size: u64, hold: &Hold) -> Result<(), String> {
    let sessions: Vec<nvrm::Session> = (0..threads)
        .map(|_| nvrm::Session::open(dir, 0).map_err(|e| format!("session: {e:?}")))
        .collect::<Result<_, _>>()?;
    let start = std::sync::Barrier::new(threads);
    let results: Vec<(u64, String)> = std::thread::scope(|s| {
        let handles: Vec<_> = sessions
            .iter()
            .map(|sess| {
                let start = &start;
                s.spawn(move || {
                    start.wait();
                    let mut granted = 0u64;
                    loop {
                        match sess.alloc_vidmem(size) {
                            Ok(_) => granted += 1,
                            Err(e) => return (granted, format!("{e:?}")),
                        }
                    }
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().unwrap_or((0, "panicked".into())))
            .collect()
    });
    let granted: u64 = results.iter().map(|r| r.0).sum();
    let mut refusals: BTreeMap<&str, u64> = BTreeMap::new();
    for (_, e) in &results {
        *refusals.entry(e.as_str()).or_default() += 1;
    }
    println!("granted={granted} bytes={}", granted * size);
    for (e, n) in refusals {
        println!("refusal {n}x: {e}");
    }
    use std::io::Write;
    let _ = std::io::stdout().flush();
    hold.wait();
    drop(sessions);
    Ok(())
}

/// How long a workload keeps what it got: HOLD seconds, or (HOLD a path)
/// until that file exists, so a test on a loaded machine decides when it
/// has looked (at most 600 s).
pub(crate) enum Hold {
    Secs(u64),
    Until(String),
}

impl Hold {
    fn parse(s: &str) -> Hold {
        s.parse()
            .map_or_else(|_| Hold::Until(s.to_string()), Hold::Secs)
    }
    pub(crate) fn wait(&self) {
        use std::time::{Duration, Instant};
        match self {
            Hold::Secs(s) => std::thread::sleep(Duration::from_secs(*s)),
            Hold::Until(path) => {
                let end = Instant::now() + Duration::from_secs(600);
                while !std::path::Path::new(path).exists() && Instant::now() < end {
                    std::thread::sleep(Duration::from_millis(50));
                }
            }
        }
    }
}

/// Median over batches of the mean time per call, in nanoseconds. The
/// guest's clock may tick only every millisecond (TCG, no HPET), so calls
/// are timed in batches of at least 100 ms, not one by one.
fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let res = match args.iter().map(String::as_str).collect::<Vec<_>>().as_slice() {
        ["fuzz-ioctl", dir, iters, seed, rest @ ..] => {
            let uid = rest.first().and_then(|u| u.parse().ok()).unwrap_or(65534);
            match (iters.parse(), seed.parse()) {
                (Ok(i), Ok(s)) => fuzz_ioctl(dir, i, s, uid),
                _ => Err("ITERS and SEED are numbers".into()),
            }
        }
        ["alloc-race", dir, threads, size, hold] => match (threads.parse(), size.parse()) {
            (Ok(t), Ok(sz)) => alloc_race(dir, t, sz, &Hold::parse(hold)),
            _ => Err("THREADS and SIZE are numbers".into()),
        },
        ["bench", rest @ ..] => bench::Opts::parse(rest).and_then(|o| bench::run(&o)),
        ["fd-race", dir, secs, major, rest @ ..] => match (secs.parse(), major.parse()) {
            (Ok(s), Ok(m)) => match rest.first().map(|u| u.parse::<u32>()) {
                Some(Ok(uid)) => drop_privileges(uid).and_then(|()| fdrace::fd_race(dir, s, m)),
                Some(Err(_)) => Err("UID is a number".into()),
                None => fdrace::fd_race(dir, s, m),
            },
            _ => Err("SECS and VENDOR_MAJOR are numbers".into()),
        },
        ["exec-race", dir, secs, major] => match (secs.parse(), major.parse()) {
            (Ok(s), Ok(m)) => fdrace::exec_race(dir, s, m),
            _ => Err("SECS and VENDOR_MAJOR are numbers".into()),
        },
        ["fd-check", major] => major
            .parse()
            .map_err(|_| "VENDOR_MAJOR is a number".to_string())
            .and_then(fdrace::fd_check),
        ["flip", dir, case, secs, hold] => match secs.parse() {
            Ok(s) => flip::run(dir, case, s, &Hold::parse(hold)),
            _ => Err("SECS is a number".into()),
        },
        ["managed", rest @ ..] => {
            return match managed::Opts::parse(rest).and_then(|o| managed::run(&o)) {
                Ok(code) => ExitCode::from(code),
                Err(e) => {
                    eprintln!("fgtest: {e}");
                    ExitCode::FAILURE
                }
            };
        }
        ["chaos", rest @ ..] => chaos::main(rest),
        ["as-uid", uid, cmd @ ..] if !cmd.is_empty() => match uid.parse() {
            Ok(u) => drop_privileges(u).and_then(|()| exec(cmd)),
            Err(_) => Err("UID is a number".into()),
        },
        ["hold", path, secs] => match (open(path), secs.parse::<u64>()) {
            (Some(_fd), Ok(s)) => {
                std::thread::sleep(std::time::Duration::from_secs(s));
                Ok(())
            }
            _ => Err(format!("cannot open {path}")),
        },
        _ => Err("usage: fgtest fuzz-ioctl DIR ITERS SEED [UID] | fgtest hold PATH SECS | fgtest alloc-race DIR THREADS SIZE HOLD | fgtest bench [ITERS [SCHED_SECS]] [--parts calls,objects,contexts,sched] | fgtest fd-race DIR SECS VENDOR_MAJOR [UID] | fgtest exec-race DIR SECS VENDOR_MAJOR | fgtest fd-check VENDOR_MAJOR | fgtest flip DIR CASE SECS HOLD | fgtest managed [--dir DIR] --mib N [--migrate-mib M] [--hold-file PATH] [--unmap-half] | fgtest chaos DIR_A DIR_B SECS SEED [PROCS] [--uid UID] [--flips ...] [--ops ...] | fgtest as-uid UID CMD...".into()),
    };
    match res {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("fgtest: {e}");
            ExitCode::FAILURE
        }
    }
}
