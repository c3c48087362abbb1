//! `fgtest fd-race DIR SECS VENDOR_MAJOR`: races every way a process can
//! get hold of another thread's fds against calls whose parameters carry an
//! fd (the proxy translates those: for the call's duration the vendor's own
//! file exists under a temporary number).
//!
//! The caller thread opens `DIR/nvidiactl` once and, until SECS have passed,
//! opens `DIR/nvidia0`, registers the ctl fd on it (`NV_ESC_REGISTER_FD`,
//! an fd-carrying call) and closes it. Meanwhile, in the same process:
//!
//! - `scan`: `fstat`s and `dup`s every fd number 0..16 of the shared table;
//! - `proc`: lists `/proc/self/fd` and `/proc/self/task/*/fd` and opens every
//!   entry, as a process of the same user could;
//! - `scm`: passes every fd number 0..16 over a unix socket (`SCM_RIGHTS`)
//!   and looks at what arrives;
//! - `pidfd`: `pidfd_getfd` on the caller thread itself, fds 0..16.
//!
//! Each round also allocates and frees a device while the GPU file is open:
//! the RM's GPU-access check, for which the proxy lends the thread the
//! vendor's GPU file in a private table for the call's duration (the other
//! window a vendor file exists in).
//!
//! Any file obtained whose device major is VENDOR_MAJOR is the vendor's: an
//! escape (the tool prints it and exits 1). The caller's calls must all
//! succeed. Run it in its own session (`setsid`): if the proxy detects an
//! escaped reference it kills the process group.

use std::fs;
use std::os::fd::{AsRawFd, RawFd};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Fd-carrying calls the race makes at the least, whatever the load.
const MIN_CALLS: u64 = 200;
/// Longest the race may take to make them, s.
const MAX_SECS: u64 = 300;

/// fd numbers probed. The temporary number of the earlier design was the
/// lowest free one, a few above the caller's open files: a short range is
/// probed far more often than a long one, which is what an attacker does.
const SCAN: RawFd = 16;

#[derive(Default)]
struct Counts {
    calls: AtomicU64,
    /// Device allocations (the GPU-access check's lent files).
    lent: AtomicU64,
    scans: AtomicU64,
    dups: AtomicU64,
    proc_opens: AtomicU64,
    proc_refused: AtomicU64,
    scm_passed: AtomicU64,
    pidfd_got: AtomicU64,
    escapes: AtomicU64,
}

fn is_vendor(fd: RawFd, major: u32) -> bool {
    // SAFETY: `st` is written by fstat.
    let mut st: libc::stat = unsafe { std::mem::zeroed() };
    // SAFETY: plain system call on an fd number.
    if unsafe { libc::fstat(fd, &mut st) } != 0 {
        return false;
    }
    st.st_mode & libc::S_IFMT == libc::S_IFCHR && libc::major(st.st_rdev) == major
}

fn escape(c: &Counts, how: &str, fd: RawFd) {
    c.escapes.fetch_add(1, Relaxed);
    eprintln!("ESCAPE via {how}: fd {fd} is the vendor's file");
}

fn close(fd: RawFd) {
    // SAFETY: closing an fd this thread obtained.
    unsafe { libc::close(fd) };
}

fn scan(c: &Counts, major: u32) {
    for fd in 0..SCAN {
        c.scans.fetch_add(1, Relaxed);
        if is_vendor(fd, major) {
            escape(c, "fstat of the shared table", fd);
        }
        // SAFETY: dup of any number; failures are expected.
        let d = unsafe { libc::dup(fd) };
        if d >= 0 {
            c.dups.fetch_add(1, Relaxed);
            if is_vendor(d, major) {
                escape(c, "dup", fd);
            }
            close(d);
        }
    }
}

fn proc_scan(c: &Counts, major: u32) {
    let mut dirs = vec!["/proc/self/fd".to_string()];
    if let Ok(tasks) = fs::read_dir("/proc/self/task") {
        dirs.extend(
            tasks
                .flatten()
                .map(|t| format!("{}/fd", t.path().display())),
        );
    }
    for dir in dirs {
        let Ok(entries) = fs::read_dir(&dir) else {
            continue;
        };
        for e in entries.flatten() {
            let p = std::ffi::CString::new(e.path().as_os_str().as_encoded_bytes()).unwrap();
            // SAFETY: `p` is a valid C string.
            let fd = unsafe {
                libc::open(
                    p.as_ptr(),
                    libc::O_RDWR | libc::O_NONBLOCK | libc::O_NOCTTY | libc::O_CLOEXEC,
                )
            };
            if fd < 0 {
                if std::io::Error::last_os_error().raw_os_error() == Some(libc::EACCES) {
                    c.proc_refused.fetch_add(1, Relaxed);
                }
                continue;
            }
            c.proc_opens.fetch_add(1, Relaxed);
            if is_vendor(fd, major) {
                escape(c, "reopening /proc/<pid>/fd", fd);
            }
            close(fd);
        }
    }
}

/// A one-byte message with room for one fd of ancillary data.
struct Msg {
    byte: [u8; 1],
    iov: libc::iovec,
    cbuf: Vec<u8>,
    hdr: libc::msghdr,
}

impl Msg {
    fn new() -> Box<Msg> {
        // SAFETY: CMSG_SPACE is a pure computation.
        let space = unsafe { libc::CMSG_SPACE(std::mem::size_of::<RawFd>() as u32) } as usize;
        // SAFETY: all-zeroes is a valid iovec and msghdr; the pointers are
        // set below, into the box, which does not move.
        let mut m = Box::new(Msg {
            byte: [0],
            iov: unsafe { std::mem::zeroed() },
            cbuf: vec![0; space],
            hdr: unsafe { std::mem::zeroed() },
        });
        m.iov = libc::iovec {
            iov_base: m.byte.as_mut_ptr().cast(),
            iov_len: 1,
        };
        m.hdr.msg_iov = &mut m.iov;
        m.hdr.msg_iovlen = 1;
        m.hdr.msg_control = m.cbuf.as_mut_ptr().cast();
        m.hdr.msg_controllen = space;
        m
    }
}

fn send_fd(sock: RawFd, fd: RawFd) -> bool {
    let m = Msg::new();
    // SAFETY: the control buffer has room for one fd (CMSG_SPACE).
    unsafe {
        let cm = libc::CMSG_FIRSTHDR(&m.hdr);
        (*cm).cmsg_level = libc::SOL_SOCKET;
        (*cm).cmsg_type = libc::SCM_RIGHTS;
        (*cm).cmsg_len = libc::CMSG_LEN(std::mem::size_of::<RawFd>() as u32) as usize;
        std::ptr::write_unaligned(libc::CMSG_DATA(cm).cast::<RawFd>(), fd);
        libc::sendmsg(sock, &m.hdr, libc::MSG_DONTWAIT) == 1
    }
}

fn recv_fd(sock: RawFd) -> Option<RawFd> {
    let mut m = Msg::new();
    // SAFETY: `m` describes live buffers; the cmsg is read only if present.
    unsafe {
        if libc::recvmsg(sock, &mut m.hdr, libc::MSG_CMSG_CLOEXEC) != 1 {
            return None;
        }
        let cm = libc::CMSG_FIRSTHDR(&m.hdr);
        if cm.is_null() || (*cm).cmsg_type != libc::SCM_RIGHTS {
            return None;
        }
        Some(std::ptr::read_unaligned(
            libc::CMSG_DATA(cm).cast::<RawFd>(),
        ))
    }
}

fn scm(c: &Counts, major: u32, pair: [RawFd; 2]) {
    for fd in 0..SCAN {
        if !send_fd(pair[0], fd) {
            continue;
        }
        if let Some(got) = recv_fd(pair[1]) {
            c.scm_passed.fetch_add(1, Relaxed);
            if is_vendor(got, major) {
                escape(c, "SCM_RIGHTS", fd);
            }
            close(got);
        }
    }
}

fn pidfd_scan(c: &Counts, major: u32, pidfd: RawFd) {
    for fd in 0..SCAN {
        // SAFETY: plain system call; failures are expected.
        let got = unsafe { libc::syscall(libc::SYS_pidfd_getfd, pidfd, fd, 0) } as RawFd;
        if got >= 0 {
            c.pidfd_got.fetch_add(1, Relaxed);
            if is_vendor(got, major) {
                escape(c, "pidfd_getfd", fd);
            }
            close(got);
        }
    }
}

pub fn fd_race(dir: &str, secs: u64, major: u32) -> Result<(), String> {
    let ctl =
        nvrm::Ctl::open(&format!("{dir}/nvidiactl")).map_err(|e| format!("open nvidiactl: {e}"))?;
    let gpu_path = format!("{dir}/nvidia0");
    let c = Arc::new(Counts::default());
    let stop = Arc::new(AtomicBool::new(false));
    // SAFETY: gettid has no preconditions.
    let caller_tid = unsafe { libc::gettid() };
    // PIDFD_THREAD (O_EXCL): a pidfd of the caller thread itself.
    // SAFETY: plain system call.
    let pidfd = unsafe { libc::syscall(libc::SYS_pidfd_open, caller_tid, libc::O_EXCL) } as RawFd;
    let mut pair = [0 as RawFd; 2];
    // SAFETY: `pair` has room for two fds.
    if unsafe {
        libc::socketpair(
            libc::AF_UNIX,
            libc::SOCK_DGRAM | libc::SOCK_CLOEXEC,
            0,
            pair.as_mut_ptr(),
        )
    } != 0
    {
        return Err("socketpair failed".into());
    }
    let mut threads = Vec::new();
    for kind in 0..4 {
        let (c, stop) = (c.clone(), stop.clone());
        threads.push(std::thread::spawn(move || {
            while !stop.load(Relaxed) {
                match kind {
                    0 => scan(&c, major),
                    1 => proc_scan(&c, major),
                    2 => scm(&c, major, pair),
                    _ if pidfd >= 0 => pidfd_scan(&c, major, pidfd),
                    _ => return,
                }
            }
        }));
    }
    // At least `secs` seconds and at least MIN_CALLS calls, so that a
    // loaded host makes the race longer, not weaker; a hard limit turns a
    // stall into a failure.
    let start = Instant::now();
    let end = start + Duration::from_secs(secs);
    let mut failed = 0u64;
    let client = ctl.alloc_client().map_err(|e| format!("client: {e:?}"))?;
    while Instant::now() < end || c.calls.load(Relaxed) < MIN_CALLS {
        if start.elapsed() > Duration::from_secs(MAX_SECS) {
            failed += 1;
            eprintln!("fewer than {MIN_CALLS} calls in {MAX_SECS} s");
            break;
        }
        let gpu = match nvrm::Gpu::open(&gpu_path) {
            Ok(g) => g,
            Err(e) => {
                failed += 1;
                eprintln!("open {gpu_path}: {e}");
                break;
            }
        };
        match gpu.register_fd(ctl.as_raw_fd()) {
            Ok(()) => {
                c.calls.fetch_add(1, Relaxed);
            }
            Err(e) => {
                failed += 1;
                eprintln!("REGISTER_FD: {e}");
                break;
            }
        }
        match ctl.alloc_device(client, 0) {
            Ok(d) => {
                c.lent.fetch_add(1, Relaxed);
                let _ = ctl.free(client, client, d);
            }
            Err(e) => {
                failed += 1;
                eprintln!("device alloc with the GPU file held: {e:?}");
                break;
            }
        }
    }
    stop.store(true, Relaxed);
    for t in threads {
        let _ = t.join();
    }
    let v = |a: &AtomicU64| a.load(Relaxed);
    println!(
        "fd-race: {} fd-carrying calls, {} device allocations ({} failed); attempts: {} fstat, {} dup, {} /proc opens ({} refused EACCES), {} SCM_RIGHTS, {} pidfd_getfd{}; escapes {}",
        v(&c.calls),
        v(&c.lent),
        failed,
        v(&c.scans),
        v(&c.dups),
        v(&c.proc_opens),
        v(&c.proc_refused),
        v(&c.scm_passed),
        v(&c.pidfd_got),
        if pidfd < 0 { " (pidfd_open unsupported)" } else { "" },
        v(&c.escapes)
    );
    if v(&c.escapes) > 0 || failed > 0 || v(&c.calls) == 0 {
        return Err("the vendor's file escaped, or the calls failed".into());
    }
    Ok(())
}
