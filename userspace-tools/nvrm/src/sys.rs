//! Thin wrappers over open/ioctl/mmap.

use std::ffi::CString;
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};

/// Opens `path` read-write, close-on-exec.
pub fn open_rw(path: &str) -> io::Result<OwnedFd> {
    let c = CString::new(path).map_err(|_| io::Error::from(io::ErrorKind::InvalidInput))?;
    // SAFETY: `c` is a valid C string.
    let fd = unsafe { libc::open(c.as_ptr(), libc::O_RDWR | libc::O_CLOEXEC) };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: `fd` is a fresh descriptor we own.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// `ioctl(fd, cmd, buf)`: the kernel reads and writes `buf` in place.
pub fn ioctl(fd: RawFd, cmd: u32, buf: &mut [u8]) -> io::Result<()> {
    // SAFETY: `buf` is valid for its length, which the command encodes (or
    // which the driver's table gives for UVM commands; callers size it so).
    let r = unsafe { libc::ioctl(fd, cmd as libc::c_ulong, buf.as_mut_ptr()) };
    if r < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(())
    }
}

/// A shared mapping of a device file, unmapped on drop.
pub struct Mapping {
    ptr: *mut u8,
    len: usize,
}

// SAFETY: the mapping is plain memory; accesses are volatile word accesses.
unsafe impl Send for Mapping {}
// SAFETY: as above.
unsafe impl Sync for Mapping {}

impl Mapping {
    /// `mmap(NULL, len, RW, MAP_SHARED, fd, 0)`.
    pub fn new(fd: &impl AsRawFd, len: usize) -> io::Result<Mapping> {
        // SAFETY: a fresh shared mapping; the kernel validates the rest.
        let p = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                len,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_SHARED,
                fd.as_raw_fd(),
                0,
            )
        };
        if p == libc::MAP_FAILED {
            return Err(io::Error::last_os_error());
        }
        Ok(Mapping { ptr: p.cast(), len })
    }

    /// `remap_file_pages(addr, len, 0, 0, 0)`: the kernel maps the vma's
    /// file again over the same range (`do_mmap` of `vm_file`), as an
    /// attacker would to get a mapping that skips the driver's checks.
    pub fn remap(&self) -> io::Result<()> {
        // SAFETY: remaps our own mapping's range onto its own file.
        let r = unsafe { libc::syscall(libc::SYS_remap_file_pages, self.ptr, self.len, 0, 0, 0) };
        if r != 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(())
    }

    /// Length in bytes.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether the mapping is empty (never: mmap refuses length 0).
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    fn at<T>(&self, off: usize) -> *mut T {
        assert!(
            off.is_multiple_of(std::mem::align_of::<T>())
                && off + std::mem::size_of::<T>() <= self.len,
            "offset {off} out of the mapping"
        );
        // SAFETY: checked in range just above.
        unsafe { self.ptr.add(off).cast() }
    }

    /// Volatile read of the u32 at `off`.
    pub fn read_u32(&self, off: usize) -> u32 {
        // SAFETY: in range and aligned (`at`).
        unsafe { std::ptr::read_volatile(self.at::<u32>(off)) }
    }

    /// Volatile write of the u32 at `off`.
    pub fn write_u32(&self, off: usize, v: u32) {
        // SAFETY: in range and aligned (`at`).
        unsafe { std::ptr::write_volatile(self.at::<u32>(off), v) }
    }

    /// Volatile write of the u64 at `off`.
    pub fn write_u64(&self, off: usize, v: u64) {
        // SAFETY: in range and aligned (`at`).
        unsafe { std::ptr::write_volatile(self.at::<u64>(off), v) }
    }
}

impl Drop for Mapping {
    fn drop(&mut self) {
        // SAFETY: a mapping made by `new`, unmapped once.
        unsafe { libc::munmap(self.ptr.cast(), self.len) };
    }
}

/// Sends `fd` over a connection to the unix socket at `path`
/// (`SCM_RIGHTS`), retrying the connection for up to `wait_ms` while the
/// receiver is not yet listening.
pub fn send_fd(path: &str, fd: RawFd, wait_ms: u64) -> io::Result<()> {
    use std::os::unix::net::UnixStream;
    let start = std::time::Instant::now();
    let s = loop {
        match UnixStream::connect(path) {
            Ok(s) => break s,
            Err(e) if start.elapsed().as_millis() as u64 >= wait_ms => return Err(e),
            Err(_) => std::thread::sleep(std::time::Duration::from_millis(20)),
        }
    };
    let mut byte = [0u8; 1];
    let mut iov = libc::iovec {
        iov_base: byte.as_mut_ptr().cast(),
        iov_len: 1,
    };
    let mut cbuf = vec![0u8; fd_cmsg_space()];
    let msg = fd_msghdr(&mut iov, &mut cbuf);
    // SAFETY: `msg` has a control buffer of CMSG_SPACE(one fd) bytes, so the
    // first header and its data fit.
    unsafe {
        let c = libc::CMSG_FIRSTHDR(&msg);
        (*c).cmsg_level = libc::SOL_SOCKET;
        (*c).cmsg_type = libc::SCM_RIGHTS;
        (*c).cmsg_len = libc::CMSG_LEN(std::mem::size_of::<RawFd>() as u32) as _;
        std::ptr::write_unaligned(libc::CMSG_DATA(c).cast::<RawFd>(), fd);
    }
    // SAFETY: a valid socket and message.
    if unsafe { libc::sendmsg(s.as_raw_fd(), &msg, 0) } < 0 {
        return Err(io::Error::last_os_error());
    }
    // Wait for the receiver to close, so the fd is in its table when we return.
    let _ = std::io::Read::read(&mut &s, &mut byte);
    Ok(())
}

/// Listens on a unix socket at `path` (replacing a stale one), accepts one
/// connection and receives one fd from it (`SCM_RIGHTS`).
pub fn recv_fd(path: &str) -> io::Result<OwnedFd> {
    use std::os::unix::net::UnixListener;
    let _ = std::fs::remove_file(path);
    let l = UnixListener::bind(path)?;
    let (s, _) = l.accept()?;
    let _ = std::fs::remove_file(path);
    let mut byte = [0u8; 1];
    let mut iov = libc::iovec {
        iov_base: byte.as_mut_ptr().cast(),
        iov_len: 1,
    };
    let mut cbuf = vec![0u8; fd_cmsg_space()];
    let mut msg = fd_msghdr(&mut iov, &mut cbuf);
    // SAFETY: a valid socket and message.
    if unsafe { libc::recvmsg(s.as_raw_fd(), &mut msg, libc::MSG_CMSG_CLOEXEC) } < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: `msg` was filled by recvmsg; the header, if any, lies in `cbuf`.
    unsafe {
        let c = libc::CMSG_FIRSTHDR(&msg);
        if c.is_null() || (*c).cmsg_level != libc::SOL_SOCKET || (*c).cmsg_type != libc::SCM_RIGHTS
        {
            return Err(io::Error::from(io::ErrorKind::InvalidData));
        }
        let fd = std::ptr::read_unaligned(libc::CMSG_DATA(c).cast::<RawFd>());
        Ok(OwnedFd::from_raw_fd(fd))
    }
}

/// Control-buffer bytes for one fd (`CMSG_SPACE`).
fn fd_cmsg_space() -> usize {
    // SAFETY: CMSG_SPACE is a pure computation.
    unsafe { libc::CMSG_SPACE(std::mem::size_of::<RawFd>() as u32) as usize }
}

/// A one-byte message with room for one fd; `iov` and `cbuf` must outlive
/// every use of the returned header.
fn fd_msghdr(iov: &mut libc::iovec, cbuf: &mut [u8]) -> libc::msghdr {
    // SAFETY: all-zero is a valid msghdr.
    let mut msg: libc::msghdr = unsafe { std::mem::zeroed() };
    msg.msg_iov = iov;
    msg.msg_iovlen = 1;
    msg.msg_control = cbuf.as_mut_ptr().cast();
    msg.msg_controllen = cbuf.len() as _;
    msg
}
