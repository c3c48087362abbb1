//! Script mode: one RM call per line, for the proxy's and nvsim's tests.
//!
//! ```text
//! # comment
//! open F PATH                  open any node; $F is its fd
//! close F
//! adopt F N                   use inherited fd N as file F
//! version CTL [STRING]         CHECK_VERSION_STR (default: the driver's own, from the query command)
//! client C CTL [HANDLE]        allocate a client; $C is its handle
//! device D CTL C [INDEX]       NV01_DEVICE_0 under client C
//! subdevice S CTL C D
//! alloc H CTL C PARENT CLASS [size=N] [owner=N] [nvos21] [handle=H]   any class (zeroed parameters);
//!                              memory classes take size= and owner= (default nvrm::OWNER)
//! tsg T CTL C D                channel group
//! channel CH CTL C T MEM       HOPPER_CHANNEL_GPFIFO_A with USERD/ring in MEM (nvrm::layout)
//! free CTL C OBJ
//! dup H CTL C PARENT SRC_CLIENT SRC_OBJ [FLAGS]
//! share CTL C OBJ | unshare CTL C OBJ  RM_SHARE with every client for dup (as CUDA IPC does), or revoke it
//! timeslice CTL C T [US]       GET (and SET) the timeslice
//! meminfo CTL C S              FB_GET_INFO_V2: total/heap/free
//! control CTL C OBJ CMD SIZE   a control with a zeroed block of SIZE bytes
//! pids CTL C S [CLASS]         GPU_GET_PIDS (class NV20_SUBDEVICE_0 unless given): prints "pids N: P..."
//! register F CTL               REGISTER_FD
//! map M CTL C DEV MEM OFF LEN F    RM_MAP_MEMORY onto file F; $M is the cookie
//! unmap CTL C DEV MEM M
//! mmap V F LEN                 mmap file F; then read32/write32 V OFF [VAL]
//! fork-write32 V OFF VAL       a forked child (inheriting the mappings) writes VAL, exits; NV_OK if it exited 0
//! munmap V
//! remap V                      remap_file_pages over the whole mapping (maps its vm_file again)
//! uvm-init U | uvm-mm U U2 | uvm-gpu U GPU CTLFD C | uvm-va U GPU CTLFD C VA | uvm-channel U GPU CTLFD C CH
//! export CTL C DEV OBJ EFD    EXPORT_OBJECT_TO_FD: ctl file EFD becomes an export fd holding OBJ
//! exports CTL C DEV EFD MAX INDEX H...   EXPORT_OBJECTS_TO_FD (slots INDEX..; 0 empties a slot)
//! import H CTL C PARENT EFD    IMPORT_OBJECT_FROM_FD; $H is the new handle
//! imports P CTL C PARENT EFD INDEX COUNT   IMPORT_OBJECTS_FROM_FD; $P0.. are the new handles
//! export-info CTL C EFD        GET_EXPORT_OBJECT_INFO: prints max_objects and device_instance
//! create-export CTL C DEV EFD MAX   CREATE_EXPORT_OBJECT_FD
//!                              (EFD: a file name, or a raw fd number such as that of /dev/null)
//! send-fd PATH F               pass file F to the process in recv-fd PATH (unix socket, SCM_RIGHTS)
//! recv-fd F PATH               listen at PATH, receive one fd as file F
//! drop-uid UID                become UID (and group UID, no supplementary groups): the rest runs unprivileged
//! write-pid PATH              write this process's pid to PATH (for a test that kills it)
//! touch PATH | wait-file PATH  create a file / wait (up to 60 s) until it exists: orders two scripts
//! expect WHAT                  last result: NV_OK, an NV_ERR_* name, or an errno (EINVAL, EBADF, ...)
//! echo TEXT...                  (a word naming a variable prints its value)
//! ```
//! `$NAME` expands to a variable; numbers are decimal or 0x-hex; GPU is an
//! index whose UUID is read from the subdevice of the current session-less
//! lookup (`uvm-gpu` takes the UUID from nvsim's GPU index via CARD_INFO
//! order is not needed: it queries GPU_GET_GID_INFO on a temporary session).

use fakegpu_core::nvabi::{class, ctrl, wire::Wire};
use nvrm::{AllocForm, Ctl, Mapping, Session, Status};
use std::collections::HashMap;
use std::io::{self, BufRead};
use std::os::fd::{AsRawFd, FromRawFd, IntoRawFd, OwnedFd, RawFd};
use std::process::ExitCode;

enum Last {
    None,
    Status(Status),
    Errno(i32),
}

struct Env {
    vars: HashMap<String, u64>,
    files: HashMap<String, OwnedFd>,
    maps: HashMap<String, Mapping>,
    last: Last,
}

fn num(s: &str) -> Result<u64, String> {
    let r = if let Some(h) = s.strip_prefix("0x") {
        u64::from_str_radix(h, 16)
    } else {
        s.parse()
    };
    r.map_err(|_| format!("not a number: {s}"))
}

fn errno_name(e: i32) -> &'static str {
    match e {
        libc::EINVAL => "EINVAL",
        libc::EBADF => "EBADF",
        libc::EFAULT => "EFAULT",
        libc::ENOTTY => "ENOTTY",
        libc::ENXIO => "ENXIO",
        libc::ERANGE => "ERANGE",
        libc::ENOENT => "ENOENT",
        libc::EPERM => "EPERM",
        libc::EACCES => "EACCES",
        libc::ENOMEM => "ENOMEM",
        libc::ENODEV => "ENODEV",
        libc::EBUSY => "EBUSY",
        libc::EMFILE => "EMFILE",
        _ => "E?",
    }
}

impl Env {
    fn val(&self, s: &str) -> Result<u64, String> {
        match s.strip_prefix('$') {
            Some(v) => self
                .vars
                .get(v)
                .copied()
                .ok_or_else(|| format!("unknown variable {s}")),
            None => num(s),
        }
    }
    fn h(&self, s: &str) -> Result<u32, String> {
        Ok(self.val(s)? as u32)
    }
    fn fd(&self, name: &str) -> Result<RawFd, String> {
        let n = name.trim_start_matches('$');
        self.files
            .get(n)
            .map(|f| f.as_raw_fd())
            .ok_or_else(|| format!("unknown file {name}"))
    }
    /// A temporary `Ctl` view of file `name` (not closed when dropped).
    fn ctl(&self, name: &str) -> Result<CtlView, String> {
        let fd = self.fd(name)?;
        // SAFETY: the fd stays open in `files`; `CtlView` never closes it.
        Ok(CtlView(Some(Ctl::from_fd(unsafe {
            OwnedFd::from_raw_fd(fd)
        }))))
    }
    fn io<T>(&mut self, r: io::Result<T>) -> Option<T> {
        match r {
            Ok(v) => {
                self.last = Last::Status(Status::OK);
                Some(v)
            }
            Err(e) => {
                self.last = Last::Errno(e.raw_os_error().unwrap_or(0));
                None
            }
        }
    }
    fn rm<T>(&mut self, r: nvrm::Result<T>) -> Option<T> {
        match r {
            Ok(v) => {
                self.last = Last::Status(Status::OK);
                Some(v)
            }
            Err(nvrm::Error::Rm(s)) => {
                self.last = Last::Status(s);
                None
            }
            Err(nvrm::Error::Io(e)) => {
                self.last = Last::Errno(e.raw_os_error().unwrap_or(0));
                None
            }
        }
    }
    fn status(&mut self, r: io::Result<Status>) {
        match r {
            Ok(s) => self.last = Last::Status(s),
            Err(e) => self.last = Last::Errno(e.raw_os_error().unwrap_or(0)),
        }
    }
    fn last_text(&self) -> String {
        match self.last {
            Last::None => "-".into(),
            Last::Status(s) => s.name().into(),
            Last::Errno(e) => errno_name(e).into(),
        }
    }
}

/// A `Ctl` over a borrowed fd: forgets the fd instead of closing it.
struct CtlView(Option<Ctl>);
impl std::ops::Deref for CtlView {
    type Target = Ctl;
    fn deref(&self) -> &Ctl {
        self.0.as_ref().expect("present until drop")
    }
}
impl Drop for CtlView {
    fn drop(&mut self) {
        if let Some(c) = self.0.take() {
            let fd: OwnedFd = c.into();
            let _ = fd.into_raw_fd();
        }
    }
}

/// Runs the script at `path` (`-` for stdin, executed line by line as it
/// arrives, so a test can act between two calls).
pub fn run_path(path: &str) -> Result<ExitCode, Box<dyn std::error::Error>> {
    let lines: Box<dyn Iterator<Item = io::Result<String>>> = if path == "-" {
        Box::new(io::stdin().lock().lines())
    } else {
        let text = std::fs::read_to_string(path)?;
        Box::new(
            text.lines()
                .map(|l| Ok(l.to_string()))
                .collect::<Vec<_>>()
                .into_iter(),
        )
    };
    let mut env = Env {
        vars: HashMap::new(),
        files: HashMap::new(),
        maps: HashMap::new(),
        last: Last::None,
    };
    let mut failed = false;
    for (n, line) in lines.enumerate() {
        let line = line?;
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let w: Vec<&str> = line.split_whitespace().collect();
        match step(&mut env, &w) {
            Ok(true) => println!("{line} -> {}", env.last_text()),
            Ok(false) => {}
            Err(e) if e.starts_with("expected ") => {
                eprintln!("line {}: {line}: {e}", n + 1);
                return Ok(ExitCode::FAILURE);
            }
            Err(e) => {
                // A line that could not be issued (e.g. a variable an
                // earlier failed call did not set): reported, not fatal.
                println!("{line} -> SKIP ({e})");
                failed = true;
            }
        }
        use std::io::Write as _;
        let _ = io::stdout().flush();
    }
    Ok(if failed {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    })
}

fn kv<'a>(w: &'a [&'a str], key: &str) -> Option<&'a str> {
    w.iter()
        .find_map(|a| a.strip_prefix(key).and_then(|r| r.strip_prefix('=')))
}

fn mem_params(size: u64, sysmem: bool, owner: u32) -> Vec<u8> {
    let mut p = class::NvMemoryAllocationParams::ZERO;
    p.owner = owner;
    p.size = size;
    p.numa_node = -1;
    if sysmem {
        p.attr = 1 << 25; // NVOS32_ATTR_LOCATION_PCI
    }
    let mut b = vec![0u8; class::NvMemoryAllocationParams::SIZE];
    p.write(&mut b);
    b
}

fn uuid_of(env: &Env, gpu: u32) -> Result<[u8; 16], String> {
    let _ = env;
    let s = Session::open("/dev", gpu).map_err(|e| format!("uuid lookup: {e}"))?;
    s.uuid().map_err(|e| format!("uuid lookup: {e}"))
}

/// Runs one line; `Ok(true)` if it made a call whose result is reported.
fn step(env: &mut Env, w: &[&str]) -> Result<bool, String> {
    let arg = |i: usize| {
        w.get(i)
            .copied()
            .ok_or_else(|| format!("{}: missing argument {i}", w[0]))
    };
    match w[0] {
        "echo" => {
            // Words naming a variable print its value (hex).
            let words: Vec<String> = w[1..]
                .iter()
                .map(
                    |x| match x.strip_prefix('$').and_then(|v| env.vars.get(v)) {
                        Some(v) => format!("{v:#x}"),
                        None => x.to_string(),
                    },
                )
                .collect();
            println!("{}", words.join(" "));
            Ok(false)
        }
        "expect" => {
            let want = arg(1)?;
            let got = env.last_text();
            if got != want {
                return Err(format!("expected {want}, got {got}"));
            }
            Ok(false)
        }
        "open" => {
            if let Some(f) = env.io(nvrm::sys::open_rw(arg(2)?)) {
                env.vars.insert(arg(1)?.to_string(), f.as_raw_fd() as u64);
                env.files.insert(arg(1)?.to_string(), f);
            }
            Ok(true)
        }
        "adopt" => {
            // Take over an fd inherited from the shell (e.g. `exec 3<>/dev/nvidiactl`).
            let n = num(arg(2)?)? as RawFd;
            // SAFETY: the script owns the inherited descriptor from here on.
            let f = unsafe { OwnedFd::from_raw_fd(n) };
            env.vars.insert(arg(1)?.to_string(), n as u64);
            env.files.insert(arg(1)?.to_string(), f);
            Ok(false)
        }
        "close" => {
            env.files
                .remove(arg(1)?.trim_start_matches('$'))
                .ok_or("no such file")?;
            env.last = Last::Status(Status::OK);
            Ok(true)
        }
        "version" => {
            let c = env.ctl(arg(1)?)?;
            // Without a string: the driver's own version (asked with the
            // query command), as a client built for the installed driver
            // sends it; the check then also selects its branch's sizes.
            let want = match w.get(2) {
                Some(v) => Ok(v.to_string()),
                None => c.query_version(),
            };
            let r = want.and_then(|v| c.check_version(&v).map(|_| ()).map_err(|(e, _)| e));
            drop(c);
            env.io(r);
            Ok(true)
        }
        "client" => {
            let c = env.ctl(arg(2)?)?;
            let want = w.get(3).map(|s| env.h(s)).transpose()?.unwrap_or(0);
            let mut h = 0u32;
            let r = c.alloc_h(0, 0, want, class::NV01_ROOT_CLIENT, Some(&mut h));
            drop(c);
            if let Some(h) = env.rm(r) {
                env.vars.insert(arg(1)?.to_string(), u64::from(h));
            }
            Ok(true)
        }
        "device" | "subdevice" | "tsg" | "alloc" | "channel" => {
            let c = env.ctl(arg(2)?)?;
            let client = env.h(arg(3)?)?;
            let parent = env.h(arg(4)?)?;
            let want = kv(w, "handle").map(|s| env.h(s)).transpose()?.unwrap_or(0);
            let form = if w.contains(&"nvos21") {
                AllocForm::Nvos21
            } else {
                AllocForm::Nvos64
            };
            let (cls, mut params): (u32, Option<Vec<u8>>) = match w[0] {
                "device" => {
                    let mut p = class::Nv0080AllocParameters::ZERO;
                    p.device_id = w.get(5).map(|s| env.h(s)).transpose()?.unwrap_or(0);
                    let mut b = vec![0u8; class::Nv0080AllocParameters::SIZE];
                    p.write(&mut b);
                    (class::NV01_DEVICE_0, Some(b))
                }
                "subdevice" => (class::NV20_SUBDEVICE_0, Some(vec![0u8; 4])),
                "tsg" => {
                    let mut p = class::NvChannelGroupAllocationParameters::ZERO;
                    p.engine_type = nvrm::ENGINE_TYPE_GRAPHICS;
                    let mut b = vec![0u8; class::NvChannelGroupAllocationParameters::SIZE];
                    p.write(&mut b);
                    (class::KEPLER_CHANNEL_GROUP_A, Some(b))
                }
                "channel" => {
                    let mut p = class::NvChannelAllocParams::ZERO;
                    p.h_userd_memory[0] = env.h(arg(5)?)?;
                    p.userd_offset[0] = nvrm::layout::USERD as u64;
                    p.gp_fifo_offset = nvrm::layout::RING as u64;
                    p.gp_fifo_entries = nvrm::layout::ENTRIES;
                    let mut b = vec![0u8; class::NvChannelAllocParams::SIZE];
                    p.write(&mut b);
                    (class::HOPPER_CHANNEL_GPFIFO_A, Some(b))
                }
                _ => {
                    let cls = env.h(arg(5)?)?;
                    let owner = kv(w, "owner")
                        .map(num)
                        .transpose()?
                        .map_or(nvrm::OWNER, |o| o as u32);
                    let p = match (cls, kv(w, "size")) {
                        (class::NV01_MEMORY_LOCAL_USER | class::NV01_MEMORY_SYSTEM, Some(sz)) => {
                            Some(mem_params(
                                nvrm::parse_size(sz).ok_or("bad size")?,
                                cls == class::NV01_MEMORY_SYSTEM,
                                owner,
                            ))
                        }
                        (class::KEPLER_CHANNEL_GROUP_A, _) => Some(vec![0u8; 20]),
                        (class::NV01_MEMORY_LOCAL_USER | class::NV01_MEMORY_SYSTEM, None) => {
                            Some(mem_params(4096, false, owner))
                        }
                        (class::FERMI_VASPACE_A, _) => {
                            Some(vec![0u8; class::NvVaspaceAllocationParameters::SIZE])
                        }
                        (class::NV20_SUBDEVICE_0, _) => Some(vec![0u8; 4]),
                        _ => None,
                    };
                    (cls, p)
                }
            };
            let r = c.alloc_raw(form, client, parent, want, cls, params.as_deref_mut());
            drop(c);
            if let Some((s, h)) = env.io(r) {
                env.last = Last::Status(s);
                if s.ok() {
                    env.vars.insert(arg(1)?.to_string(), u64::from(h));
                    let mem = matches!(
                        cls,
                        class::NV01_MEMORY_LOCAL_USER | class::NV01_MEMORY_SYSTEM
                    );
                    if let (true, Some(p)) = (mem, params.as_deref()) {
                        // The size the driver allocated (written back).
                        if let Some(m) = class::NvMemoryAllocationParams::read(p) {
                            println!("size {}", m.size);
                        }
                    }
                }
            }
            Ok(true)
        }
        "free" => {
            let c = env.ctl(arg(1)?)?;
            let (client, obj) = (env.h(arg(2)?)?, env.h(arg(3)?)?);
            let r = c.free(client, 0, obj);
            drop(c);
            env.status(r);
            Ok(true)
        }
        "dup" => {
            let c = env.ctl(arg(2)?)?;
            let flags = w.get(7).map(|s| env.h(s)).transpose()?.unwrap_or(0);
            let r = c.dup(
                env.h(arg(3)?)?,
                env.h(arg(4)?)?,
                0,
                env.h(arg(5)?)?,
                env.h(arg(6)?)?,
                flags,
            );
            drop(c);
            if let Some(h) = env.rm(r) {
                env.vars.insert(arg(1)?.to_string(), u64::from(h));
            }
            Ok(true)
        }
        "share" | "unshare" => {
            let c = env.ctl(arg(1)?)?;
            let r = c.share_all(env.h(arg(2)?)?, env.h(arg(3)?)?, w[0] == "unshare");
            drop(c);
            env.status(r);
            Ok(true)
        }
        "timeslice" => {
            let c = env.ctl(arg(1)?)?;
            let (client, tsg) = (env.h(arg(2)?)?, env.h(arg(3)?)?);
            if let Some(us) = w.get(4) {
                let mut p = ctrl::NvA06cCtrlTimesliceParams {
                    timeslice_us: num(us)?,
                };
                let r = c.control(client, tsg, ctrl::NVA06C_CTRL_CMD_SET_TIMESLICE, &mut p);
                if env.rm(r).is_none() {
                    return Ok(true);
                }
            }
            let mut p = ctrl::NvA06cCtrlTimesliceParams { timeslice_us: 0 };
            let r = c.control(client, tsg, ctrl::NVA06C_CTRL_CMD_GET_TIMESLICE, &mut p);
            drop(c);
            if env.rm(r).is_some() {
                println!("timeslice_us {}", p.timeslice_us);
            }
            Ok(true)
        }
        "meminfo" => {
            let c = env.ctl(arg(1)?)?;
            let (client, sub) = (env.h(arg(2)?)?, env.h(arg(3)?)?);
            let mut p = ctrl::Nv2080CtrlFbGetInfoV2Params::ZERO;
            let idx = [
                ctrl::NV2080_CTRL_FB_INFO_INDEX_RAM_SIZE,
                ctrl::NV2080_CTRL_FB_INFO_INDEX_HEAP_SIZE,
                ctrl::NV2080_CTRL_FB_INFO_INDEX_HEAP_FREE,
            ];
            p.fb_info_list_size = 3;
            for (e, i) in p.fb_info_list.iter_mut().zip(idx) {
                e.index = i;
            }
            let r = c.control(client, sub, ctrl::NV2080_CTRL_CMD_FB_GET_INFO_V2, &mut p);
            drop(c);
            if env.rm(r).is_some() {
                let kib = |i: usize| u64::from(p.fb_info_list[i].data) << 10;
                println!("total {} heap {} free {}", kib(0), kib(1), kib(2));
                env.vars.insert("FREE".into(), kib(2));
            }
            Ok(true)
        }
        "pidmem" => {
            // pidmem CTL CLIENT SUBDEVICE [PID]: GPU_GET_PID_INFO (video
            // memory usage) of PID, by default this process.
            let c = env.ctl(arg(1)?)?;
            let (client, sub) = (env.h(arg(2)?)?, env.h(arg(3)?)?);
            let pid = match w.get(4) {
                Some(p) => env.val(p)? as u32,
                None => std::process::id(),
            };
            let r = c.pid_info(client, sub, pid);
            drop(c);
            let entry = r.as_ref().ok().and_then(|(_, e)| *e);
            env.status(r.map(|(s, _)| s));
            if matches!(env.last, Last::Status(s) if s.ok()) {
                if let Some(e) = entry {
                    println!(
                        "pidmem result {:#x} private {} shared_owned {} shared_duped {}",
                        e.result, e.mem_private, e.mem_shared_owned, e.mem_shared_duped
                    );
                    env.vars
                        .insert("PIDMEM".into(), e.mem_private + e.mem_shared_owned);
                }
            }
            Ok(true)
        }
        "pids" => {
            let c = env.ctl(arg(1)?)?;
            let class = match w.get(4) {
                Some(v) => env.val(v)? as u32,
                None => class::NV20_SUBDEVICE_0,
            };
            let mut b = vec![
                0u8;
                ctrl::GET_PIDS_TABLE_OFFSET
                    + 4 * ctrl::NV2080_CTRL_GPU_GET_PIDS_MAX_COUNT
            ];
            b[4..8].copy_from_slice(&class.to_le_bytes());
            let r = c.control_raw(
                env.h(arg(2)?)?,
                env.h(arg(3)?)?,
                ctrl::NV2080_CTRL_CMD_GPU_GET_PIDS,
                &mut b,
            );
            drop(c);
            let rd = |o: usize| u32::from_le_bytes([b[o], b[o + 1], b[o + 2], b[o + 3]]);
            if matches!(r, Ok(s) if s.0 == 0) {
                let n = (rd(ctrl::GET_PIDS_COUNT_OFFSET) as usize)
                    .min(ctrl::NV2080_CTRL_GPU_GET_PIDS_MAX_COUNT);
                let pids: Vec<String> = (0..n)
                    .map(|i| rd(ctrl::GET_PIDS_TABLE_OFFSET + 4 * i).to_string())
                    .collect();
                println!("pids {n}: {}", pids.join(" "));
                env.vars.insert("NPIDS".into(), n as u64);
            }
            env.status(r);
            Ok(true)
        }
        "control" => {
            let c = env.ctl(arg(1)?)?;
            let mut b = vec![0u8; env.val(arg(5)?)? as usize];
            let r = c.control_raw(env.h(arg(2)?)?, env.h(arg(3)?)?, env.h(arg(4)?)?, &mut b);
            drop(c);
            env.status(r);
            Ok(true)
        }
        "register" => {
            let fd = env.fd(arg(1)?)?;
            let ctl = env.fd(arg(2)?)?;
            let mut b = ctl.to_le_bytes().to_vec();
            let r = nvrm::escape(fd, fakegpu_core::nvabi::escape::NV_ESC_REGISTER_FD, &mut b);
            env.io(r);
            Ok(true)
        }
        "map" => {
            let c = env.ctl(arg(2)?)?;
            let target = env
                .fd(arg(8)?)
                .or_else(|_| env.val(arg(8)?).map(|v| v as RawFd))?;
            let r = c.map_memory(
                env.h(arg(3)?)?,
                env.h(arg(4)?)?,
                env.h(arg(5)?)?,
                env.val(arg(6)?)?,
                env.val(arg(7)?)?,
                target,
            );
            drop(c);
            if let Some(a) = env.rm(r) {
                env.vars.insert(arg(1)?.to_string(), a);
            }
            Ok(true)
        }
        "unmap" => {
            let c = env.ctl(arg(1)?)?;
            let r = c.unmap_memory(
                env.h(arg(2)?)?,
                env.h(arg(3)?)?,
                env.h(arg(4)?)?,
                env.val(arg(5)?)?,
            );
            drop(c);
            env.status(r);
            Ok(true)
        }
        "mmap" => {
            let fd = env.fd(arg(2)?)?;
            let len = env.val(arg(3)?)? as usize;
            // SAFETY: a borrowed view of an fd kept open in `files`.
            let view = std::mem::ManuallyDrop::new(unsafe { OwnedFd::from_raw_fd(fd) });
            if let Some(m) = env.io(Mapping::new(&*view, len)) {
                env.maps.insert(arg(1)?.to_string(), m);
            }
            Ok(true)
        }
        "remap" => {
            let m = env.maps.get(arg(1)?).ok_or("no such mapping")?;
            let r = m.remap();
            env.io(r);
            Ok(true)
        }
        "munmap" => {
            env.maps.remove(arg(1)?).ok_or("no such mapping")?;
            Ok(false)
        }
        "read32" => {
            let m = env.maps.get(arg(1)?).ok_or("no such mapping")?;
            println!("{}", m.read_u32(env.val(arg(2)?)? as usize));
            Ok(false)
        }
        "write32" => {
            let m = env.maps.get(arg(1)?).ok_or("no such mapping")?;
            m.write_u32(env.val(arg(2)?)? as usize, env.val(arg(3)?)? as u32);
            Ok(false)
        }
        "fork-write32" => {
            // Exercises a mapping's life across fork: the child's copy of
            // the vma is opened, written through and closed at its exit.
            let m = env.maps.get(arg(1)?).ok_or("no such mapping")?;
            let (off, v) = (env.val(arg(2)?)? as usize, env.val(arg(3)?)? as u32);
            // SAFETY: script mode is single-threaded; the child only stores
            // to the mapping and calls `_exit`.
            let pid = unsafe { libc::fork() };
            if pid == 0 {
                m.write_u32(off, v);
                // SAFETY: ends the child without running the parent's
                // destructors (which would unmap and close) or flushing stdio.
                unsafe { libc::_exit(0) };
            }
            if pid < 0 {
                env.last = Last::Errno(io::Error::last_os_error().raw_os_error().unwrap_or(0));
                return Ok(true);
            }
            let mut st = 0;
            // SAFETY: waits for our own child; `st` is a valid out pointer.
            if unsafe { libc::waitpid(pid, &mut st, 0) } != pid
                || !libc::WIFEXITED(st)
                || libc::WEXITSTATUS(st) != 0
            {
                println!("child status {st:#x}");
                env.last = Last::Errno(libc::EFAULT);
            } else {
                env.last = Last::Status(Status::OK);
            }
            Ok(true)
        }
        "uvm-init" | "uvm-mm" | "uvm-gpu" | "uvm-va" | "uvm-channel" => {
            let fd = env.fd(arg(1)?)?;
            // SAFETY: a borrowed view of an fd kept open in `files`.
            let u = std::mem::ManuallyDrop::new(nvrm::Uvm::from_owned(unsafe {
                OwnedFd::from_raw_fd(fd)
            }));
            let r = match w[0] {
                "uvm-init" => u.initialize(),
                "uvm-mm" => u.mm_initialize(env.fd(arg(2)?)?),
                _ => {
                    let uuid = uuid_of(env, env.h(arg(2)?)?)?;
                    let ctlfd = env
                        .fd(arg(3)?)
                        .or_else(|_| env.val(arg(3)?).map(|v| v as RawFd))?;
                    let client = env.h(arg(4)?)?;
                    match w[0] {
                        "uvm-gpu" => u.register_gpu(uuid, ctlfd, client),
                        "uvm-va" => u.register_vaspace(uuid, ctlfd, client, env.h(arg(5)?)?),
                        _ => u.register_channel(uuid, ctlfd, client, env.h(arg(5)?)?),
                    }
                }
            };
            env.status(r);
            Ok(true)
        }
        "export" | "exports" | "import" | "imports" | "export-info" | "create-export" => {
            let c = env.ctl(arg(if w[0] == "import" || w[0] == "imports" {
                2
            } else {
                1
            })?)?;
            let efd = |i: usize| -> Result<RawFd, String> {
                let a = arg(i)?;
                if let Some(n) = a.strip_prefix('-') {
                    return Ok(-(num(n)? as RawFd));
                }
                env.fd(a).or_else(|_| env.val(a).map(|v| v as RawFd))
            };
            match w[0] {
                "export" => {
                    let r = c.export_object_to_fd(
                        env.h(arg(2)?)?,
                        env.h(arg(3)?)?,
                        env.h(arg(4)?)?,
                        efd(5)?,
                    );
                    drop(c);
                    env.rm(r);
                }
                "exports" => {
                    let objs = w
                        .get(7..)
                        .unwrap_or(&[])
                        .iter()
                        .map(|s| env.h(s))
                        .collect::<Result<Vec<_>, _>>()?;
                    let (max, index) = (env.val(arg(5)?)? as u16, env.val(arg(6)?)? as u16);
                    let r = c.export_objects_to_fd(
                        env.h(arg(2)?)?,
                        env.h(arg(3)?)?,
                        efd(4)?,
                        max,
                        index,
                        &objs,
                    );
                    drop(c);
                    env.rm(r);
                }
                "import" => {
                    let r = c.import_object_from_fd(env.h(arg(3)?)?, env.h(arg(4)?)?, 0, efd(5)?);
                    drop(c);
                    if let Some(h) = env.rm(r) {
                        env.vars.insert(arg(1)?.to_string(), u64::from(h));
                    }
                }
                "imports" => {
                    let (index, count) = (env.val(arg(6)?)? as u16, env.val(arg(7)?)? as u16);
                    let r = c.import_objects_from_fd(
                        env.h(arg(3)?)?,
                        env.h(arg(4)?)?,
                        efd(5)?,
                        index,
                        count,
                    );
                    drop(c);
                    if let Some(v) = env.rm(r) {
                        for (i, h) in v.iter().enumerate() {
                            if let Some(h) = h {
                                println!("imported {i} {h:#x}");
                                env.vars.insert(format!("{}{i}", arg(1)?), u64::from(*h));
                            }
                        }
                    }
                }
                "export-info" => {
                    let r = c.export_object_info(env.h(arg(2)?)?, efd(3)?);
                    drop(c);
                    if let Some((max, dev)) = env.rm(r) {
                        println!("max_objects {max} device_instance {dev}");
                    }
                }
                _ => {
                    let mut p = ctrl::Nv0000CtrlOsUnixCreateExportObjectFdParams::ZERO;
                    p.h_device = env.h(arg(3)?)?;
                    p.fd = efd(4)?;
                    p.max_objects = env.val(arg(5)?)? as u16;
                    let client = env.h(arg(2)?)?;
                    let r = c.control(
                        client,
                        client,
                        ctrl::NV0000_CTRL_CMD_OS_UNIX_CREATE_EXPORT_OBJECT_FD,
                        &mut p,
                    );
                    drop(c);
                    env.rm(r);
                }
            }
            Ok(true)
        }
        "send-fd" => {
            let fd = env.fd(arg(2)?)?;
            let r = nvrm::sys::send_fd(arg(1)?, fd, 60_000);
            env.io(r);
            Ok(true)
        }
        "recv-fd" => {
            if let Some(f) = env.io(nvrm::sys::recv_fd(arg(2)?)) {
                env.vars.insert(arg(1)?.to_string(), f.as_raw_fd() as u64);
                env.files.insert(arg(1)?.to_string(), f);
            }
            Ok(true)
        }
        "drop-uid" => {
            let id = env.val(arg(1)?)? as libc::uid_t;
            // SAFETY: plain credential system calls, single-threaded here.
            // Already that user (a test run as the tenant): nothing to drop.
            let ok = unsafe {
                (libc::getuid() == id && libc::geteuid() == id)
                    || (libc::setgroups(0, std::ptr::null()) == 0
                        && libc::setgid(id) == 0
                        && libc::setuid(id) == 0)
            };
            if !ok {
                return Err(format!(
                    "expected to become uid {id}: {}",
                    io::Error::last_os_error()
                ));
            }
            Ok(false)
        }
        "write-pid" => {
            std::fs::write(arg(1)?, format!("{}\n", std::process::id()))
                .map_err(|e| format!("write-pid: {e}"))?;
            Ok(false)
        }
        "touch" => {
            std::fs::write(arg(1)?, b"").map_err(|e| format!("touch: {e}"))?;
            Ok(false)
        }
        "wait-file" => {
            let start = std::time::Instant::now();
            while !std::path::Path::new(arg(1)?).exists() {
                if start.elapsed().as_secs() >= 60 {
                    return Err(format!("expected {} to appear", arg(1)?));
                }
                std::thread::sleep(std::time::Duration::from_millis(20));
            }
            Ok(false)
        }
        other => Err(format!("unknown command {other}")),
    }
}
