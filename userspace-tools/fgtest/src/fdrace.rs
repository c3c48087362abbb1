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
//! - `escapes`: on every character-device fd number 0..16 of the shared
//!   table, each call the real driver accepts on a GPU file (`/dev/nvidiaN`):
//!   NV_ESC_RM_ALLOC_MEMORY (64 MiB of video memory), NV_ESC_EXPORT_TO_DMABUF_FD,
//!   NV_ESC_RM_I2C_ACCESS, NV_ESC_SET_NUMA_STATUS, NV_ESC_NUMA_INFO,
//!   NV_ESC_QUERY_DEVICE_INTR, and a shared mmap: whatever the number holds
//!   at that instant gets them (the test checks nvsim saw none of the
//!   refused ones and that the ledger equals nvsim's heap);
//! - `fork`: forks; the child looks for a vendor file in the table it got
//!   and exits 1 if it finds one.
//!
//! Each round also allocates and frees a device while the GPU file is open,
//! and registers and unregisters the GPU with UVM: the RM's GPU-access
//! check, for which the proxy lends the thread the vendor's GPU file in a
//! private table for the call's duration (the other window a vendor file
//! exists in).
//!
//! Any file obtained whose device major is VENDOR_MAJOR, and that is not a
//! node of fakegpufs (which shows the vendor's number by design), is the
//! vendor's: an escape (the tool prints it and exits 1). The caller's calls must all
//! succeed. Run it in its own session (`setsid`): if the proxy detects an
//! escaped reference it kills the process group.

use std::fs;
use std::os::fd::{AsRawFd, RawFd};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Fd-carrying calls the race makes at the least, whatever the load.
const MIN_CALLS: u64 = 100;
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
    /// GPU-file calls tried on the shared table's numbers.
    gpu_calls: AtomicU64,
    /// ... of which the kernel answered (ioctl returned 0, mmap mapped).
    gpu_answered: AtomicU64,
    forks: AtomicU64,
    /// UVM_REGISTER_GPU + UNREGISTER rounds (the second lent route).
    uvm_lent: AtomicU64,
    escapes: AtomicU64,
}

fn is_vendor(fd: RawFd, major: u32) -> bool {
    char_major(fd) == Some(major)
}

/// fakegpufs's `f_type` (src/nodefs.c, FAKEGPUFS_MAGIC).
const FAKEGPUFS_MAGIC: i64 = 0x6667_7075;

/// Whether `fd` is a file of fakegpufs: a proxy node whose `stat` shows the
/// vendor's number by design (it is not the vendor's file).
fn on_fakegpufs(fd: RawFd) -> bool {
    // SAFETY: `st` is written by fstatfs.
    let mut st: libc::statfs = unsafe { std::mem::zeroed() };
    // SAFETY: plain system call on an fd number.
    unsafe { libc::fstatfs(fd, &mut st) == 0 && st.f_type as i64 == FAKEGPUFS_MAGIC }
}

fn escape(c: &Counts, how: &str, fd: RawFd) {
    c.escapes.fetch_add(1, Relaxed);
    let path = fs::read_link(format!("/proc/self/fd/{fd}"))
        .map(|p| p.display().to_string())
        .unwrap_or_else(|e| format!("? ({e})"));
    eprintln!("ESCAPE via {how}: fd {fd} is the vendor's file ({path})");
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

/// The character-device major of `fd`, with fakegpufs's proxy nodes
/// (which show the vendor's number) counted as the proxy's misc major 10.
/// Reads a dup of `fd`, so that both questions (fstat, fstatfs) are asked
/// of the same file while other threads close and reuse the number.
fn char_major(fd: RawFd) -> Option<u32> {
    // SAFETY: plain system call on an fd number.
    let own = unsafe { libc::fcntl(fd, libc::F_DUPFD_CLOEXEC, 0) };
    if own < 0 {
        return None;
    }
    // SAFETY: `st` is written by fstat.
    let mut st: libc::stat = unsafe { std::mem::zeroed() };
    // SAFETY: plain system call on our own fd.
    let ok =
        unsafe { libc::fstat(own, &mut st) } == 0 && st.st_mode & libc::S_IFMT == libc::S_IFCHR;
    let r = if !ok {
        None
    } else if on_fakegpufs(own) {
        Some(10)
    } else {
        Some(libc::major(st.st_rdev))
    };
    close(own);
    r
}

/// The handles the GPU-file calls name (the race's own client and device).
#[derive(Clone, Copy)]
struct Handles {
    client: u32,
    device: u32,
}

/// Every call the real driver accepts on a GPU file, on every character
/// device number of the shared table (misc devices: the proxy's; the
/// vendor's major: an escape, already counted by `scan`).
fn gpu_escapes(c: &Counts, major: u32, h: Handles, round: u32) {
    use fakegpu_core::nvabi::{escape as esc, rm, wire::Wire};
    for fd in 0..SCAN {
        match char_major(fd) {
            Some(m) if m == 10 || m == major => {}
            _ => continue,
        }
        let mut alloc = vec![0u8; rm::Nvos02WithFd::SIZE];
        alloc[0..4].copy_from_slice(&h.client.to_le_bytes());
        alloc[4..8].copy_from_slice(&h.device.to_le_bytes());
        alloc[8..12].copy_from_slice(&(0xe5c0_0000 + round).to_le_bytes());
        // NV01_MEMORY_LOCAL_USER, 64 MiB.
        alloc[12..16].copy_from_slice(&0x40u32.to_le_bytes());
        alloc[32..40].copy_from_slice(&((64u64 << 20) - 1).to_le_bytes());
        alloc[48..52].copy_from_slice(&(-1i32).to_le_bytes());
        let mut export = vec![0u8; esc::NvIoctlExportToDmaBufFd::SIZE];
        export[4..8].copy_from_slice(&h.client.to_le_bytes());
        export[8..12].copy_from_slice(&h.device.to_le_bytes());
        let calls: [(u32, Vec<u8>); 6] = [
            (esc::NV_ESC_RM_ALLOC_MEMORY, alloc),
            (esc::NV_ESC_EXPORT_TO_DMABUF_FD, export),
            (esc::NV_ESC_RM_I2C_ACCESS, vec![0u8; 64]),
            (
                esc::NV_ESC_SET_NUMA_STATUS,
                vec![0u8; esc::NvIoctlSetNumaStatus::SIZE],
            ),
            (esc::NV_ESC_NUMA_INFO, vec![0u8; esc::NvIoctlNumaInfo::SIZE]),
            (
                esc::NV_ESC_QUERY_DEVICE_INTR,
                vec![0u8; esc::NvIoctlQueryDeviceIntr::SIZE],
            ),
        ];
        for (nr, mut block) in calls {
            c.gpu_calls.fetch_add(1, Relaxed);
            if nvrm::escape(fd, nr, &mut block).is_ok() {
                c.gpu_answered.fetch_add(1, Relaxed);
            }
        }
        // SAFETY: a new shared mapping of whatever the number holds; unmapped
        // right away, never touched.
        unsafe {
            c.gpu_calls.fetch_add(1, Relaxed);
            let p = libc::mmap(
                std::ptr::null_mut(),
                1 << 16,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_SHARED,
                fd,
                0,
            );
            if p != libc::MAP_FAILED {
                c.gpu_answered.fetch_add(1, Relaxed);
                libc::munmap(p, 1 << 16);
            }
        }
    }
}

/// Forks; the child looks for the vendor's file in the table it inherited.
fn fork_scan(c: &Counts, major: u32) {
    // SAFETY: the child only makes system calls (fstat, _exit) before it
    // exits: nothing that needs the locks other threads may hold.
    let pid = unsafe { libc::fork() };
    if pid == 0 {
        let mut found = 0;
        for fd in 0..1024 {
            if char_major(fd) == Some(major) {
                found = 1;
            }
        }
        // SAFETY: leaves the child at once, without running destructors.
        unsafe { libc::_exit(found) };
    }
    if pid < 0 {
        return;
    }
    let mut status = 0;
    // SAFETY: waits for the child just forked.
    unsafe { libc::waitpid(pid, &mut status, 0) };
    c.forks.fetch_add(1, Relaxed);
    if !libc::WIFEXITED(status) || libc::WEXITSTATUS(status) != 0 {
        escape(c, "fork (the child's table)", -1);
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
    let session = nvrm::Session::open(dir, 0).map_err(|e| format!("session: {e:?}"))?;
    let uuid = session.uuid().map_err(|e| format!("uuid: {e:?}"))?;
    let client = ctl.alloc_client().map_err(|e| format!("client: {e:?}"))?;
    // Held open for the whole race: the device the GPU-file calls name.
    let held = nvrm::Gpu::open(&gpu_path).map_err(|e| format!("open {gpu_path}: {e}"))?;
    let device = ctl
        .alloc_device(client, 0)
        .map_err(|e| format!("device: {e:?}"))?;
    drop(held);
    let uvm = nvrm::Uvm::open(&format!("{dir}/nvidia-uvm"))
        .map_err(|e| format!("open nvidia-uvm: {e}"))?;
    match uvm.initialize() {
        Ok(s) if s.ok() => {}
        r => return Err(format!("UVM_INITIALIZE: {r:?}")),
    }
    let h = Handles { client, device };
    let mut threads = Vec::new();
    for kind in 0..6 {
        let (c, stop) = (c.clone(), stop.clone());
        threads.push(std::thread::spawn(move || {
            let mut round = 0u32;
            while !stop.load(Relaxed) {
                round = round.wrapping_add(1);
                match kind {
                    0 => scan(&c, major),
                    1 => proc_scan(&c, major),
                    2 => scm(&c, major, pair),
                    3 => gpu_escapes(&c, major, h, round),
                    4 => {
                        fork_scan(&c, major);
                        std::thread::sleep(Duration::from_millis(5));
                    }
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
        match uvm.register_gpu(uuid, ctl.as_raw_fd(), client) {
            Ok(s) if s.ok() => match uvm.unregister_gpu(uuid) {
                Ok(s) if s.ok() => {
                    c.uvm_lent.fetch_add(1, Relaxed);
                }
                r => {
                    failed += 1;
                    eprintln!("UVM_UNREGISTER_GPU: {r:?}");
                    break;
                }
            },
            r => {
                failed += 1;
                eprintln!("UVM_REGISTER_GPU with the GPU file held: {r:?}");
                break;
            }
        }
        drop(gpu);
    }
    stop.store(true, Relaxed);
    for t in threads {
        let _ = t.join();
    }
    let v = |a: &AtomicU64| a.load(Relaxed);
    println!(
        "fd-race: {} fd-carrying calls, {} device allocations, {} UVM GPU registrations ({} failed); attempts: {} fstat, {} dup, {} /proc opens ({} refused EACCES), {} SCM_RIGHTS, {} GPU-file calls ({} answered), {} forks, {} pidfd_getfd{}; escapes {}",
        v(&c.calls),
        v(&c.lent),
        v(&c.uvm_lent),
        failed,
        v(&c.scans),
        v(&c.dups),
        v(&c.proc_opens),
        v(&c.proc_refused),
        v(&c.scm_passed),
        v(&c.gpu_calls),
        v(&c.gpu_answered),
        v(&c.forks),
        v(&c.pidfd_got),
        if pidfd < 0 { " (pidfd_open unsupported)" } else { "" },
        v(&c.escapes)
    );
    let _ = ctl.free(client, client, device);
    drop(session);
    if v(&c.escapes) > 0 || failed > 0 || v(&c.calls) == 0 {
        return Err("the vendor's file escaped, or the calls failed".into());
    }
    Ok(())
}

/// `fgtest fd-check VENDOR_MAJOR`: what an exec'd image holds. Fails if any
/// fd 0..1024 is a character device of VENDOR_MAJOR.
pub fn fd_check(major: u32) -> Result<(), String> {
    match (0..1024).find(|&fd| char_major(fd) == Some(major)) {
        Some(fd) => Err(format!("ESCAPE via exec: fd {fd} is the vendor's file")),
        None => Ok(()),
    }
}

/// Exec rounds made at the least, whatever the load.
const MIN_EXECS: u64 = 40;

/// `fgtest exec-race DIR SECS VENDOR_MAJOR`: exec against lent files. Each
/// round forks a child that opens `DIR/nvidiactl` and `DIR/nvidia0`, starts
/// a thread allocating and freeing devices in a loop (each one a call for
/// which the proxy lends that thread the vendor's GPU file), and after a
/// varying delay execs `/proc/self/exe fd-check VENDOR_MAJOR` from its main
/// thread, which kills the allocating thread wherever it is. The exec'd
/// image must hold no vendor file. At least SECS s and [`MIN_EXECS`]
/// rounds; prints the rounds and the device allocations the children made.
pub fn exec_race(dir: &str, secs: u64, major: u32) -> Result<(), String> {
    // A counter shared with every child: device allocations made.
    // SAFETY: a new anonymous shared mapping of one page; checked below.
    let shared = unsafe {
        libc::mmap(
            std::ptr::null_mut(),
            4096,
            libc::PROT_READ | libc::PROT_WRITE,
            libc::MAP_SHARED | libc::MAP_ANONYMOUS,
            -1,
            0,
        )
    };
    if shared == libc::MAP_FAILED {
        return Err("mmap of the shared counter failed".into());
    }
    // SAFETY: the page is mapped, aligned and lives until the process
    // exits; only atomics touch it.
    let allocs: &'static AtomicU64 = unsafe { &*(shared as *const AtomicU64) };
    let exe = std::ffi::CString::new("/proc/self/exe").unwrap();
    let args = [
        std::ffi::CString::new("fgtest").unwrap(),
        std::ffi::CString::new("fd-check").unwrap(),
        std::ffi::CString::new(major.to_string()).unwrap(),
    ];
    let start = Instant::now();
    let end = start + Duration::from_secs(secs);
    let (mut rounds, mut failed) = (0u64, 0u64);
    while Instant::now() < end || rounds < MIN_EXECS {
        if start.elapsed() > Duration::from_secs(MAX_SECS) {
            return Err(format!(
                "fewer than {MIN_EXECS} exec rounds in {MAX_SECS} s"
            ));
        }
        // The child's delay before exec: 0..20 ms, moving every round.
        let delay = Duration::from_micros((rounds * 7919) % 20_000);
        // SAFETY: this process is single-threaded here; the child runs its
        // own code only and leaves by exec or _exit.
        let pid = unsafe { libc::fork() };
        if pid == 0 {
            let code = exec_child(dir, allocs, delay, &exe, &args);
            // SAFETY: leaves the child without running the parent's destructors.
            unsafe { libc::_exit(code) };
        }
        if pid < 0 {
            return Err("fork failed".into());
        }
        let mut status = 0;
        // SAFETY: waits for the child just forked.
        unsafe { libc::waitpid(pid, &mut status, 0) };
        rounds += 1;
        if !libc::WIFEXITED(status) || libc::WEXITSTATUS(status) != 0 {
            failed += 1;
            eprintln!("exec round {rounds}: child status {status:#x}");
        }
    }
    let n = allocs.load(Relaxed);
    println!("exec-race: {rounds} exec rounds, {n} device allocations; failed {failed}");
    if failed != 0 {
        return Err(format!("{failed} exec rounds failed"));
    }
    if n == 0 {
        return Err("no device was allocated during the exec rounds".into());
    }
    Ok(())
}

/// One exec round's child; returns only on failure (the exit status).
fn exec_child(
    dir: &str,
    allocs: &'static AtomicU64,
    delay: Duration,
    exe: &std::ffi::CStr,
    args: &[std::ffi::CString; 3],
) -> i32 {
    let Ok(ctl) = nvrm::Ctl::open(&format!("{dir}/nvidiactl")) else {
        return 10;
    };
    let Ok(gpu) = nvrm::Gpu::open(&format!("{dir}/nvidia0")) else {
        return 11;
    };
    let Ok(client) = ctl.alloc_client() else {
        return 12;
    };
    let ctl = Arc::new(ctl);
    let started = Arc::new(AtomicBool::new(false));
    {
        let (ctl, started) = (ctl.clone(), started.clone());
        std::thread::spawn(move || loop {
            if let Ok(d) = ctl.alloc_device(client, 0) {
                allocs.fetch_add(1, Relaxed);
                started.store(true, Relaxed);
                let _ = ctl.free(client, client, d);
            }
        });
    }
    // Exec only once the thread is allocating, so every round races it.
    let t0 = Instant::now();
    while !started.load(Relaxed) {
        if t0.elapsed() > Duration::from_secs(60) {
            return 13;
        }
        std::thread::yield_now();
    }
    std::thread::sleep(delay);
    let argv: [*const libc::c_char; 4] = [
        args[0].as_ptr(),
        args[1].as_ptr(),
        args[2].as_ptr(),
        std::ptr::null(),
    ];
    // SAFETY: `exe` and `argv` are valid NUL-terminated strings and a
    // NULL-terminated array that outlive the call.
    unsafe { libc::execv(exe.as_ptr(), argv.as_ptr()) };
    drop(gpu);
    14
}
