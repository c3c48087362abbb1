// SPDX-License-Identifier: GPL-2.0-only
//! The nvtrace file format, version 1 (written by `csrc/nvtrace_preload.c`).
//!
//! One file per process, `nvtrace.<pid>.bin` in `$NVTRACE_OUT` (default
//! `/tmp`), created by the first record (processes that never touch an NVIDIA
//! node leave no file). After a fork the child starts its own file. Every
//! record is appended with one `write(2)` under a mutex: nothing is buffered,
//! so a crash loses at most the record being built. All integers are
//! little-endian; records are packed (no alignment padding).
//!
//! ```text
//! header (40 bytes)
//!   0  magic    [u8; 8]  "NVTRACE\0"
//!   8  version  u16      1
//!  10  hdr_len  u16      40 (records start here)
//!  12  pid      u32
//!  16  ppid     u32
//!  20  flags    u32      0
//!  24  real_ns  u64      CLOCK_REALTIME when the file was created
//!  32  mono_ns  u64      CLOCK_MONOTONIC at the same moment
//!
//! record header (24 bytes)
//!   0  len      u32      whole record, header included
//!   4  type     u16      see RecordType
//!   6  flags    u16      per type (IOCTL: IF_*)
//!   8  t_ns     u64      CLOCK_MONOTONIC (IOCTL/MMAP/MUNMAP: before the call)
//!  16  tid      u32
//!  20  fd       i32      -1 where none
//!
//! type 1 PROC      body: /proc/self/cmdline (NUL-separated)
//! type 2 OPEN      body: oflags u32, errno i32, path bytes (fd = result)
//! type 3 FD_SEEN   body: oflags u32 (0), errno i32 (0), path bytes; an fd
//!                  first met at an ioctl/mmap (opened by a path we do not
//!                  wrap, or dup'd): readlink of /proc/self/fd/N
//! type 4 CLOSE     body: ret i32, errno i32
//! type 5 IOCTL     body: t_end u64, cmd u32, ret i32, errno i32, arg_len u32,
//!                  arg_ptr u64, n_nested u16, node u8, pad u8, pad u32 (40)
//!                  then arg bytes before the call [arg_len], after [arg_len],
//!                  then n_nested blocks, each:
//!                    kind u16, nflags u16, len u32, ptr u64 (16),
//!                    bytes before [len], bytes after [len]
//!                  arg_len is _IOC_SIZE(cmd) on nvidiactl/nvidiaN, a per-command
//!                  table on nvidia-uvm (plain command numbers), 0 if unknown
//!                  (flag IF_SIZE_UNKNOWN). Nested kinds: 1 RM_ALLOC pAllocParms
//!                  (size by class; paramsSize when the class is not in the
//!                  recorder's table, NF_SIZE_FROM_PARAMSSIZE), 2 RM_CONTROL
//!                  params (paramsSize), 3 IOCTL_XFER inner block (then the
//!                  inner call's own nested block follows), 4 GET_EVENT_DATA
//!                  pEvent (16). Sizes are capped at 1 MiB (NF_TRUNCATED).
//!                  Unreadable memory is recorded as zeros with *_FAULT set.
//! type 6 MMAP      body: addr u64, len u64, prot i32, flags i32, off i64,
//!                  ret u64, errno i32, node u8, pad [3] (48)
//! type 7 MUNMAP    body: addr u64, len u64, ret i32, errno i32 (24); only
//!                  munmaps that overlap a traced mmap (all with
//!                  NVTRACE_ALL_MUNMAP=1)
//! type 8 MARKER    body: text (from ioctl(fd, 0x4E565452 'NVTR', "text"),
//!                  which is not forwarded, or nvtrace_mark())
//! node: 1 nvidiactl, 2 nvidiaN, 3 nvidia-uvm, 4 nvidia-uvm-tools, 5 other /dev/nvidia*
//! ```

/// Magic bytes at offset 0.
pub const MAGIC: &[u8; 8] = b"NVTRACE\0";
/// The version this reader understands.
pub const VERSION: u16 = 1;
/// The marker ioctl command ('NVTR').
pub const MARKER_CMD: u32 = 0x4E56_5452;

/// IOCTL flag: the argument could not be read before the call.
pub const IF_BEFORE_FAULT: u16 = 0x1;
/// IOCTL flag: the argument could not be read after the call.
pub const IF_AFTER_FAULT: u16 = 0x2;
/// IOCTL flag: the recorder does not know this command's size.
pub const IF_SIZE_UNKNOWN: u16 = 0x4;
/// Nested flag: unreadable before the call.
pub const NF_BEFORE_FAULT: u16 = 0x1;
/// Nested flag: unreadable after the call.
pub const NF_AFTER_FAULT: u16 = 0x2;
/// Nested flag: size taken from paramsSize, not the class table.
pub const NF_SIZE_FROM_PARAMSSIZE: u16 = 0x4;
/// Nested flag: capped at 1 MiB.
pub const NF_TRUNCATED: u16 = 0x8;

/// The device node kind, as the recorder classified the fd's path.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Node {
    /// Not classified.
    None,
    /// `/dev/nvidiactl`.
    Ctl,
    /// `/dev/nvidiaN`.
    Gpu,
    /// `/dev/nvidia-uvm`.
    Uvm,
    /// `/dev/nvidia-uvm-tools`.
    UvmTools,
    /// Another `/dev/nvidia*` node.
    Other,
}

impl Node {
    /// The decoder's file kind for this node, if it is one the decoder knows.
    pub fn file_kind(self) -> Option<fakegpu_core::nvabi::FileKind> {
        use fakegpu_core::nvabi::FileKind;
        match self {
            Node::Ctl => Some(FileKind::Ctl),
            Node::Gpu => Some(FileKind::Gpu),
            Node::Uvm => Some(FileKind::Uvm),
            Node::UvmTools => Some(FileKind::UvmTools),
            _ => None,
        }
    }
}

impl Node {
    fn from_u8(v: u8) -> Node {
        match v {
            1 => Node::Ctl,
            2 => Node::Gpu,
            3 => Node::Uvm,
            4 => Node::UvmTools,
            5 => Node::Other,
            _ => Node::None,
        }
    }

    /// Short name.
    pub fn name(self) -> &'static str {
        match self {
            Node::None => "?",
            Node::Ctl => "ctl",
            Node::Gpu => "gpu",
            Node::Uvm => "uvm",
            Node::UvmTools => "uvm-tools",
            Node::Other => "nv-other",
        }
    }
}

/// File header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Header {
    /// Format version.
    pub version: u16,
    /// Process id.
    pub pid: u32,
    /// Parent process id.
    pub ppid: u32,
    /// CLOCK_REALTIME at creation (ns).
    pub real_ns: u64,
    /// CLOCK_MONOTONIC at creation (ns).
    pub mono_ns: u64,
}

/// A nested parameter block.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NestedBlock {
    /// 1 RM_ALLOC, 2 RM_CONTROL, 3 XFER, 4 EVENT_DATA.
    pub kind: u16,
    /// NF_* flags.
    pub flags: u16,
    /// User pointer.
    pub ptr: u64,
    /// Bytes before the call.
    pub before: Vec<u8>,
    /// Bytes after the call.
    pub after: Vec<u8>,
}

/// One ioctl.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ioctl {
    /// Monotonic ns after the call.
    pub t_end: u64,
    /// Command.
    pub cmd: u32,
    /// Return value.
    pub ret: i32,
    /// errno (0 on success).
    pub errno: i32,
    /// Argument pointer.
    pub arg_ptr: u64,
    /// Node kind.
    pub node: Node,
    /// Argument bytes before.
    pub before: Vec<u8>,
    /// Argument bytes after.
    pub after: Vec<u8>,
    /// Nested blocks.
    pub nested: Vec<NestedBlock>,
}

/// One mmap.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mmap {
    /// Requested address.
    pub addr: u64,
    /// Length.
    pub len: u64,
    /// PROT_*.
    pub prot: i32,
    /// MAP_*.
    pub flags: i32,
    /// Offset.
    pub off: i64,
    /// Result address (MAP_FAILED = u64::MAX).
    pub ret: u64,
    /// errno.
    pub errno: i32,
    /// Node kind.
    pub node: Node,
}

/// Record payloads.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Body {
    /// Process command line.
    Proc { cmdline: Vec<String> },
    /// open/openat of a traced node.
    Open {
        oflags: u32,
        errno: i32,
        path: String,
    },
    /// An fd found lazily.
    FdSeen { path: String },
    /// close of a traced fd.
    Close { ret: i32, errno: i32 },
    /// ioctl.
    Ioctl(Ioctl),
    /// mmap.
    Mmap(Mmap),
    /// munmap.
    Munmap {
        addr: u64,
        len: u64,
        ret: i32,
        errno: i32,
    },
    /// Step marker.
    Marker { text: String },
    /// A record type this reader does not know.
    Unknown { rtype: u16, bytes: Vec<u8> },
}

/// One record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record {
    /// Record flags.
    pub flags: u16,
    /// Monotonic ns.
    pub t_ns: u64,
    /// Thread id.
    pub tid: u32,
    /// File descriptor (-1 if none).
    pub fd: i32,
    /// Payload.
    pub body: Body,
}

/// A parsed trace.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Trace {
    /// Header.
    pub header: Header,
    /// Records in file order.
    pub records: Vec<Record>,
    /// Bytes at the end that do not form a whole record (a crash mid-write).
    pub trailing: usize,
}

/// Parse error.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Error {
    /// Not an nvtrace file.
    BadMagic,
    /// A version this reader does not know.
    Version(u16),
    /// The file is shorter than its header.
    Short,
    /// A record is inconsistent (offset of the record).
    BadRecord(usize),
}

impl core::fmt::Display for Error {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            Error::BadMagic => write!(f, "not an nvtrace file"),
            Error::Version(v) => write!(f, "unsupported nvtrace version {v}"),
            Error::Short => write!(f, "file shorter than its header"),
            Error::BadRecord(o) => write!(f, "malformed record at offset {o}"),
        }
    }
}

struct Rd<'a> {
    b: &'a [u8],
    o: usize,
}

impl<'a> Rd<'a> {
    fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        let s = self.b.get(self.o..self.o.checked_add(n)?)?;
        self.o += n;
        Some(s)
    }
    fn u8(&mut self) -> Option<u8> {
        Some(self.take(1)?[0])
    }
    fn u16(&mut self) -> Option<u16> {
        Some(u16::from_le_bytes(self.take(2)?.try_into().ok()?))
    }
    fn u32(&mut self) -> Option<u32> {
        Some(u32::from_le_bytes(self.take(4)?.try_into().ok()?))
    }
    fn i32(&mut self) -> Option<i32> {
        Some(self.u32()? as i32)
    }
    fn u64(&mut self) -> Option<u64> {
        Some(u64::from_le_bytes(self.take(8)?.try_into().ok()?))
    }
    fn rest(&mut self) -> &'a [u8] {
        let s = &self.b[self.o..];
        self.o = self.b.len();
        s
    }
}

fn parse_body(rtype: u16, b: &[u8]) -> Option<Body> {
    let mut r = Rd { b, o: 0 };
    Some(match rtype {
        1 => Body::Proc {
            cmdline: b
                .split(|&c| c == 0)
                .filter(|s| !s.is_empty())
                .map(|s| String::from_utf8_lossy(s).into_owned())
                .collect(),
        },
        2 | 3 => {
            let oflags = r.u32()?;
            let errno = r.i32()?;
            let path = String::from_utf8_lossy(r.rest()).into_owned();
            if rtype == 2 {
                Body::Open {
                    oflags,
                    errno,
                    path,
                }
            } else {
                Body::FdSeen { path }
            }
        }
        4 => Body::Close {
            ret: r.i32()?,
            errno: r.i32()?,
        },
        5 => {
            let t_end = r.u64()?;
            let cmd = r.u32()?;
            let ret = r.i32()?;
            let errno = r.i32()?;
            let len = r.u32()? as usize;
            let arg_ptr = r.u64()?;
            let n = r.u16()?;
            let node = Node::from_u8(r.u8()?);
            r.take(5)?;
            let before = r.take(len)?.to_vec();
            let after = r.take(len)?.to_vec();
            let mut nested = Vec::with_capacity(n as usize);
            for _ in 0..n {
                let kind = r.u16()?;
                let flags = r.u16()?;
                let l = r.u32()? as usize;
                let ptr = r.u64()?;
                let before = r.take(l)?.to_vec();
                let after = r.take(l)?.to_vec();
                nested.push(NestedBlock {
                    kind,
                    flags,
                    ptr,
                    before,
                    after,
                });
            }
            if r.o != b.len() {
                return None;
            }
            Body::Ioctl(Ioctl {
                t_end,
                cmd,
                ret,
                errno,
                arg_ptr,
                node,
                before,
                after,
                nested,
            })
        }
        6 => {
            let m = Mmap {
                addr: r.u64()?,
                len: r.u64()?,
                prot: r.i32()?,
                flags: r.i32()?,
                off: r.u64()? as i64,
                ret: r.u64()?,
                errno: r.i32()?,
                node: Node::from_u8(r.u8()?),
            };
            Body::Mmap(m)
        }
        7 => Body::Munmap {
            addr: r.u64()?,
            len: r.u64()?,
            ret: r.i32()?,
            errno: r.i32()?,
        },
        8 => Body::Marker {
            text: String::from_utf8_lossy(b).into_owned(),
        },
        _ => Body::Unknown {
            rtype,
            bytes: b.to_vec(),
        },
    })
}

/// Parses a whole trace file.
pub fn parse(data: &[u8]) -> Result<Trace, Error> {
    if data.len() < 40 {
        return Err(if data.starts_with(&MAGIC[..data.len().min(8)]) {
            Error::Short
        } else {
            Error::BadMagic
        });
    }
    if &data[..8] != MAGIC {
        return Err(Error::BadMagic);
    }
    let mut r = Rd { b: data, o: 8 };
    let version = r.u16().ok_or(Error::Short)?;
    if version != VERSION {
        return Err(Error::Version(version));
    }
    let hdr_len = r.u16().ok_or(Error::Short)? as usize;
    let header = Header {
        version,
        pid: r.u32().ok_or(Error::Short)?,
        ppid: r.u32().ok_or(Error::Short)?,
        real_ns: {
            r.u32().ok_or(Error::Short)?;
            r.u64().ok_or(Error::Short)?
        },
        mono_ns: r.u64().ok_or(Error::Short)?,
    };
    if hdr_len < 40 || hdr_len > data.len() {
        return Err(Error::Short);
    }
    let mut off = hdr_len;
    let mut records = Vec::new();
    while off + 24 <= data.len() {
        let mut h = Rd { b: data, o: off };
        let len = h.u32().ok_or(Error::BadRecord(off))? as usize;
        if len < 24 {
            return Err(Error::BadRecord(off));
        }
        if off + len > data.len() {
            break; // torn last record
        }
        let rtype = h.u16().ok_or(Error::BadRecord(off))?;
        let flags = h.u16().ok_or(Error::BadRecord(off))?;
        let t_ns = h.u64().ok_or(Error::BadRecord(off))?;
        let tid = h.u32().ok_or(Error::BadRecord(off))?;
        let fd = h.i32().ok_or(Error::BadRecord(off))?;
        let body = parse_body(rtype, &data[off + 24..off + len]).ok_or(Error::BadRecord(off))?;
        records.push(Record {
            flags,
            t_ns,
            tid,
            fd,
            body,
        });
        off += len;
    }
    Ok(Trace {
        header,
        records,
        trailing: data.len() - off,
    })
}
