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
            libc::mmap(std::ptr::null_mut(), len, libc::PROT_READ | libc::PROT_WRITE, libc::MAP_SHARED, fd.as_raw_fd(), 0)
        };
        if p == libc::MAP_FAILED {
            return Err(io::Error::last_os_error());
        }
        Ok(Mapping { ptr: p.cast(), len })
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
        assert!(off % std::mem::align_of::<T>() == 0 && off + std::mem::size_of::<T>() <= self.len, "offset {off} out of the mapping");
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
