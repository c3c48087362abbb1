//! `fgtest managed`: UVM managed memory as `cudaMallocManaged` makes it.
//!
//! ```text
//! fgtest managed [--dir DIR] --mib N [--migrate-mib M] [--hold-file PATH]
//!                [--unmap-half] [--bad-offset] [--uninit]
//! ```
//!
//! Opens DIR/nvidiactl, DIR/nvidia0 and DIR/nvidia-uvm (DIR: /dev) and
//! does what libcuda does for a UVM VA space with GPU 0 in it:
//! UVM_INITIALIZE, UVM_MM_INITIALIZE (a second UVM file naming the first),
//! an RM client, device and subdevice, UVM_REGISTER_GPU with the GPU's
//! UUID, a GPU VA space (FERMI_VASPACE_A) and UVM_REGISTER_GPU_VASPACE
//! (UVM_MIGRATE to a GPU needs one). Then `mmap(addr, N MiB, RW,
//! MAP_SHARED | MAP_FIXED, uvm_fd, addr)` and UVM_VALIDATE_VA_RANGE, as
//! cudaMallocManaged does, and UVM_MIGRATE of the first M MiB to the GPU.
//! Prints one line of `key=value`:
//!
//! ```text
//! managed mapped=N validate_status=0x0 migrate_status=0x0 free_before=B free_after=A resident_after=R pid_private=P
//! ```
//!
//! (bytes; `resident_after` = free_before − free_after as FB_GET_INFO
//! shows it; `pid_private` the process's GPU_GET_PID_INFO video memory).
//! With `--unmap-half` it then munmaps the first half (where the migrated
//! part is), migrates that half again (must fail) and the first M MiB of
//! the second half (the GPU), and prints
//!
//! ```text
//! managed unmap_half free=F resident=R unmapped_migrate_status=0x1e remigrate_status=0x0 resident_after=R2
//! ```
//!
//! then waits for `--hold-file` to exist (at most 600 s), munmaps all and
//! prints `managed unmapped free=F resident=R`. The statuses are reported,
//! not judged: a refused migration (`NV_ERR_NO_MEMORY`) still exits 0. `--bad-offset` maps with
//! offset = address + 4096 and `--uninit` skips UVM_INITIALIZE: both must
//! fail. When the mmap fails it prints `managed mapped=0 mmap_errno=E`
//! and exits 3 (a proxy refusing managed memory answers ENOMEM); other
//! unexpected errors exit 1.

use crate::Hold;
use std::os::fd::AsRawFd;

/// Parsed options.
pub(crate) struct Opts {
    dir: String,
    mib: u64,
    migrate_mib: u64,
    hold: Option<String>,
    unmap_half: bool,
    bad_offset: bool,
    uninit: bool,
}

impl Opts {
    pub(crate) fn parse(args: &[&str]) -> Result<Opts, String> {
        let mut o = Opts {
            dir: "/dev".into(),
            mib: 0,
            migrate_mib: 0,
            hold: None,
            unmap_half: false,
            bad_offset: false,
            uninit: false,
        };
        let mut it = args.iter();
        while let Some(a) = it.next() {
            let mut val = |name: &str| {
                it.next()
                    .map(|v| v.to_string())
                    .ok_or_else(|| format!("{name} needs a value"))
            };
            let num = |v: String, name: &str| {
                v.parse::<u64>()
                    .map_err(|_| format!("{name} is a number of MiB"))
            };
            match *a {
                "--dir" => o.dir = val("--dir")?,
                "--mib" => o.mib = num(val("--mib")?, "--mib")?,
                "--migrate-mib" => o.migrate_mib = num(val("--migrate-mib")?, "--migrate-mib")?,
                "--hold-file" => o.hold = Some(val("--hold-file")?),
                "--unmap-half" => o.unmap_half = true,
                "--bad-offset" => o.bad_offset = true,
                "--uninit" => o.uninit = true,
                other => return Err(format!("managed: unknown option {other}")),
            }
        }
        if o.mib == 0 || o.migrate_mib > o.mib {
            return Err("managed: --mib N (N > 0), --migrate-mib M (M <= N)".into());
        }
        Ok(o)
    }
}

/// Outcome: `Ok(3)` when the mmap was refused.
pub(crate) fn run(o: &Opts) -> Result<u8, String> {
    let e = |what: &'static str| move |err: nvrm::Error| format!("{what}: {err:?}");
    let io = |what: &'static str| move |err: std::io::Error| format!("{what}: {err}");
    let st =
        |what: &'static str| move |s: nvrm::Status| s.check().map_err(|s| format!("{what}: {s}"));
    let sess = nvrm::Session::open(&o.dir, 0).map_err(e("RM session"))?;
    let uuid = sess.uuid().map_err(e("GPU uuid"))?;
    let uvm_path = format!("{}/nvidia-uvm", o.dir);
    let uvm = nvrm::Uvm::open(&uvm_path).map_err(io("open nvidia-uvm"))?;
    let _mm_file;
    if !o.uninit {
        st("UVM_INITIALIZE")(uvm.initialize().map_err(io("UVM_INITIALIZE"))?)?;
        let mm = nvrm::Uvm::open(&uvm_path).map_err(io("open nvidia-uvm"))?;
        st("UVM_MM_INITIALIZE")(
            mm.mm_initialize(uvm.as_raw_fd())
                .map_err(io("UVM_MM_INITIALIZE"))?,
        )?;
        _mm_file = mm;
        let ctl_fd = sess.ctl.as_raw_fd();
        st("UVM_REGISTER_GPU")(
            uvm.register_gpu(uuid, ctl_fd, sess.client)
                .map_err(io("UVM_REGISTER_GPU"))?,
        )?;
        let va = sess
            .ctl
            .alloc_vaspace(sess.client, sess.device)
            .map_err(e("FERMI_VASPACE_A"))?;
        st("UVM_REGISTER_GPU_VASPACE")(
            uvm.register_vaspace(uuid, ctl_fd, sess.client, va)
                .map_err(io("UVM_REGISTER_GPU_VASPACE"))?,
        )?;
    }
    let free = || sess.mem_info().map(|m| m.free).map_err(e("FB_GET_INFO"));
    let len = o.mib << 20;
    let free_before = free()?;
    // An address as CUDA picks one: a reservation, then MAP_FIXED over it.
    // SAFETY: an anonymous PROT_NONE reservation; nothing aliases it.
    let addr = unsafe {
        libc::mmap(
            std::ptr::null_mut(),
            len as usize,
            libc::PROT_NONE,
            libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_NORESERVE,
            -1,
            0,
        )
    };
    if addr == libc::MAP_FAILED {
        return Err(format!(
            "reserving {len} bytes: {}",
            std::io::Error::last_os_error()
        ));
    }
    let base = addr as u64;
    let offset = if o.bad_offset { base + 4096 } else { base };
    // SAFETY: MAP_FIXED over our own reservation (replaced whole).
    let m = unsafe {
        libc::mmap(
            addr,
            len as usize,
            libc::PROT_READ | libc::PROT_WRITE,
            libc::MAP_SHARED | libc::MAP_FIXED,
            uvm.as_raw_fd(),
            offset as libc::off_t,
        )
    };
    if m == libc::MAP_FAILED {
        let errno = std::io::Error::last_os_error().raw_os_error().unwrap_or(0);
        println!("managed mapped=0 mmap_errno={errno}");
        return Ok(3);
    }
    let validate = uvm
        .validate_va_range(base, len)
        .map_err(io("UVM_VALIDATE_VA_RANGE"))?;
    let migrate = if o.migrate_mib > 0 {
        uvm.migrate(base, o.migrate_mib << 20, uuid)
            .map_err(io("UVM_MIGRATE"))?
    } else {
        nvrm::Status::OK
    };
    let free_after = free()?;
    println!(
        "managed mapped={len} validate_status={:#x} migrate_status={:#x} free_before={free_before} free_after={free_after} resident_after={} pid_private={}",
        validate.0,
        migrate.0,
        free_before as i64 - free_after as i64,
        pid_private(&sess)?
    );
    let mut rest = (base, len);
    if o.unmap_half {
        let half = len / 2;
        // SAFETY: the first half of our managed mapping.
        if unsafe { libc::munmap(addr, half as usize) } != 0 {
            return Err(format!("munmap: {}", std::io::Error::last_os_error()));
        }
        rest = (base + half, len - half);
        let f = free()?;
        let gone = uvm
            .migrate(base, (o.migrate_mib << 20).clamp(4096, half), uuid)
            .map_err(io("UVM_MIGRATE"))?;
        let again = match (o.migrate_mib << 20).min(half) {
            0 => nvrm::Status::OK,
            n => uvm
                .migrate(base + half, n, uuid)
                .map_err(io("UVM_MIGRATE"))?,
        };
        let f2 = free()?;
        println!(
            "managed unmap_half free={f} resident={} unmapped_migrate_status={:#x} remigrate_status={:#x} resident_after={}",
            free_before as i64 - f as i64,
            gone.0,
            again.0,
            free_before as i64 - f2 as i64
        );
    }
    {
        use std::io::Write;
        let _ = std::io::stdout().flush();
    }
    if let Some(h) = &o.hold {
        Hold::Until(h.clone()).wait();
    }
    // SAFETY: what is left of our managed mapping.
    if unsafe { libc::munmap(rest.0 as *mut libc::c_void, rest.1 as usize) } != 0 {
        return Err(format!("munmap: {}", std::io::Error::last_os_error()));
    }
    let f = free()?;
    println!(
        "managed unmapped free={f} resident={}",
        free_before as i64 - f as i64
    );
    Ok(0)
}

/// GPU_GET_PID_INFO video memory (private part) of this process.
fn pid_private(sess: &nvrm::Session) -> Result<u64, String> {
    let (s, e) = sess
        .ctl
        .pid_info(sess.client, sess.subdevice, std::process::id())
        .map_err(|e| format!("GPU_GET_PID_INFO: {e:?}"))?;
    s.check().map_err(|s| format!("GPU_GET_PID_INFO: {s}"))?;
    Ok(e.ok_or("GPU_GET_PID_INFO: short")?.mem_private)
}
