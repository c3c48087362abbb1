//! nvrm: a small, safe user-space client of the NVIDIA resource-manager
//! (RM) ioctl ABI of driver 580, on the structure declarations of
//! `fakegpu_core::nvabi` (declared once there, sizes asserted at compile
//! time). It talks to whatever answers at the paths it is given: the real
//! driver, nvsim, or fakegpu's proxy nodes.
//!
//! - [`Ctl`]: a `/dev/nvidiactl` file: version check, card info, attach,
//!   RM_ALLOC / FREE / CONTROL / DUP / MAP_MEMORY / UNMAP_MEMORY.
//! - [`Gpu`]: a `/dev/nvidiaN` file (REGISTER_FD, mmap target).
//! - [`Uvm`]: a `/dev/nvidia-uvm` file.
//! - [`Session`]: version check + client + device + subdevice of one GPU,
//!   with typed controls (memory info, name, UUID, channel-group scheduling).
//! - [`Channel`]: a channel group and a channel whose ring and doorbell
//!   are mapped, to submit work as on hardware (against nvsim's engine).
//!
//! RM failures are [`Status`] values (the parameter block's status field);
//! `io::Error` is for failed system calls (a malformed call, `-EINVAL`).

pub mod sys;

use fakegpu_core::drivers;
use fakegpu_core::nvabi::{class, ctrl, escape, rm, sim, status, uvm, wire::Wire, Branch};
use std::fmt;
use std::io;
use std::os::fd::{AsRawFd, OwnedFd, RawFd};
use std::sync::atomic::{AtomicU8, Ordering};

pub use sys::Mapping;

/// An `NV_STATUS` value.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct Status(pub u32);

impl Status {
    /// `NV_OK`.
    pub const OK: Status = Status(status::NV_OK);
    /// Whether this is `NV_OK`.
    pub fn ok(self) -> bool {
        self.0 == status::NV_OK
    }
    /// The C name (`NV_ERR_NO_MEMORY`, ...).
    pub fn name(self) -> &'static str {
        status::status_name(self.0)
    }
    /// `Ok(())` for NV_OK, else `Err(self)`.
    pub fn check(self) -> std::result::Result<(), Status> {
        if self.ok() {
            Ok(())
        } else {
            Err(self)
        }
    }
}

impl fmt::Debug for Status {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({:#x})", self.name(), self.0)
    }
}

impl fmt::Display for Status {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Either a failed system call or an RM status.
#[derive(Debug)]
pub enum Error {
    /// The ioctl itself failed.
    Io(io::Error),
    /// The RM refused.
    Rm(Status),
}

impl From<io::Error> for Error {
    fn from(e: io::Error) -> Self {
        Error::Io(e)
    }
}
impl From<Status> for Error {
    fn from(s: Status) -> Self {
        Error::Rm(s)
    }
}
impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Io(e) => write!(f, "ioctl failed: {e}"),
            Error::Rm(s) => write!(f, "{s}"),
        }
    }
}
impl std::error::Error for Error {}

/// Result of nvrm calls.
pub type Result<T> = std::result::Result<T, Error>;

fn to_bytes<T: Wire>(v: &T) -> Vec<u8> {
    let mut b = vec![0u8; T::SIZE];
    v.write(&mut b);
    b
}

fn from_bytes<T: Wire>(b: &[u8]) -> T {
    T::read(b).expect("buffer sized for the type")
}

/// Sends escape `nr` with `block` on `fd` (`_IOWR('F', nr, size)`).
pub fn escape(fd: RawFd, nr: u32, block: &mut [u8]) -> io::Result<()> {
    sys::ioctl(fd, escape::nv_iowr(nr, block.len() as u32), block)
}

/// Which parameter form RM_ALLOC uses.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AllocForm {
    /// NVOS21 (32 bytes).
    Nvos21,
    /// NVOS64 (48 bytes).
    Nvos64,
}

/// A `/dev/nvidiactl` file.
pub struct Ctl {
    fd: OwnedFd,
    /// The driver branch whose structures the calls use: 580 until a
    /// version check succeeds with another branch's version (then the
    /// controls whose size differs are sent at that branch's size, as its
    /// own clients do).
    branch: AtomicU8,
}

impl From<Ctl> for OwnedFd {
    fn from(c: Ctl) -> OwnedFd {
        c.fd
    }
}

impl AsRawFd for Ctl {
    fn as_raw_fd(&self) -> RawFd {
        self.fd.as_raw_fd()
    }
}

/// One card of CARD_INFO.
#[derive(Clone, Debug)]
pub struct Card {
    /// Driver GPU id.
    pub gpu_id: u32,
    /// Minor of `/dev/nvidiaN`.
    pub minor: u32,
    /// PCI bus.
    pub bus: u8,
    /// PCI device id.
    pub device_id: u16,
    /// FB BAR size.
    pub fb_size: u64,
}

impl Ctl {
    /// Opens the control node at `path`.
    pub fn open(path: &str) -> io::Result<Ctl> {
        Ok(Ctl::from_fd(sys::open_rw(path)?))
    }

    /// Wraps an open fd.
    pub fn from_fd(fd: OwnedFd) -> Ctl {
        Ctl {
            fd,
            branch: AtomicU8::new(0),
        }
    }

    /// The branch the calls are encoded for (see [`Ctl::check_version`]).
    pub fn branch(&self) -> Branch {
        Branch::ALL
            .get(usize::from(self.branch.load(Ordering::Relaxed)))
            .copied()
            .unwrap_or_default()
    }

    fn set_branch(&self, version: &str) {
        if let Some(d) = drivers::lookup(b"nvidia", version.as_bytes()) {
            let i = Branch::ALL.iter().position(|b| *b == d.branch).unwrap_or(0);
            self.branch.store(i as u8, Ordering::Relaxed);
        }
    }

    /// CHECK_VERSION_STR (strict). Returns the driver's reply and version
    /// string; `Err` if the driver refused (it then names its version).
    pub fn check_version(&self, version: &str) -> std::result::Result<String, (io::Error, String)> {
        let mut p = escape::NvIoctlRmApiVersion::ZERO;
        p.cmd = escape::NV_RM_API_VERSION_CMD_STRICT;
        let n = version.len().min(63);
        p.version_string[..n].copy_from_slice(&version.as_bytes()[..n]);
        let mut b = to_bytes(&p);
        let r = escape(self.as_raw_fd(), escape::NV_ESC_CHECK_VERSION_STR, &mut b);
        let p: escape::NvIoctlRmApiVersion = from_bytes(&b);
        let s = cstr(&p.version_string);
        match r {
            Ok(()) => {
                self.set_branch(version);
                Ok(s)
            }
            Err(e) => Err((e, s)),
        }
    }

    /// Asks the driver for its version (CHECK_VERSION_STR with the query command).
    pub fn query_version(&self) -> io::Result<String> {
        let mut p = escape::NvIoctlRmApiVersion::ZERO;
        p.cmd = escape::NV_RM_API_VERSION_CMD_QUERY;
        let mut b = to_bytes(&p);
        escape(self.as_raw_fd(), escape::NV_ESC_CHECK_VERSION_STR, &mut b)?;
        Ok(cstr(
            &from_bytes::<escape::NvIoctlRmApiVersion>(&b).version_string,
        ))
    }

    /// CARD_INFO with room for 32 cards; the valid ones.
    pub fn card_info(&self) -> io::Result<Vec<Card>> {
        let mut b = vec![0u8; 32 * escape::NvIoctlCardInfo::SIZE];
        escape(self.as_raw_fd(), escape::NV_ESC_CARD_INFO, &mut b)?;
        Ok(b.chunks(escape::NvIoctlCardInfo::SIZE)
            .map(from_bytes::<escape::NvIoctlCardInfo>)
            .filter(|c| c.valid != 0)
            .map(|c| Card {
                gpu_id: c.gpu_id,
                minor: c.minor_number,
                bus: c.pci_info.bus,
                device_id: c.pci_info.device_id,
                fb_size: c.fb_size,
            })
            .collect())
    }

    /// ATTACH_GPUS_TO_FD.
    pub fn attach_gpus(&self, ids: &[u32]) -> io::Result<()> {
        let mut b: Vec<u8> = ids.iter().flat_map(|i| i.to_le_bytes()).collect();
        escape(self.as_raw_fd(), escape::NV_ESC_ATTACH_GPUS_TO_FD, &mut b)
    }

    /// RM_ALLOC of `class` under `parent` with parameter block `params`
    /// (written back by the driver). `new` 0 lets the RM pick the handle.
    pub fn alloc_raw(
        &self,
        form: AllocForm,
        root: u32,
        parent: u32,
        new: u32,
        class: u32,
        params: Option<&mut [u8]>,
    ) -> io::Result<(Status, u32)> {
        let (ptr, size) = match params {
            Some(p) => (p.as_mut_ptr() as u64, p.len() as u32),
            None => (0, 0),
        };
        match form {
            AllocForm::Nvos21 => {
                let p = rm::Nvos21 {
                    h_root: root,
                    h_object_parent: parent,
                    h_object_new: new,
                    h_class: class,
                    p_alloc_parms: ptr,
                    params_size: size,
                    status: 0,
                };
                let mut b = to_bytes(&p);
                escape(self.as_raw_fd(), escape::NV_ESC_RM_ALLOC, &mut b)?;
                let p: rm::Nvos21 = from_bytes(&b);
                Ok((Status(p.status), p.h_object_new))
            }
            AllocForm::Nvos64 => {
                let mut p = rm::Nvos64::ZERO;
                p.h_root = root;
                p.h_object_parent = parent;
                p.h_object_new = new;
                p.h_class = class;
                p.p_alloc_parms = ptr;
                p.params_size = size;
                let mut b = to_bytes(&p);
                escape(self.as_raw_fd(), escape::NV_ESC_RM_ALLOC, &mut b)?;
                let p: rm::Nvos64 = from_bytes(&b);
                Ok((Status(p.status), p.h_object_new))
            }
        }
    }

    /// RM_ALLOC with typed parameters (NVOS64); returns the new handle.
    pub fn alloc<T: Wire>(
        &self,
        root: u32,
        parent: u32,
        class: u32,
        params: Option<&mut T>,
    ) -> Result<u32> {
        self.alloc_h(root, parent, 0, class, params)
    }

    /// As [`Ctl::alloc`] with a chosen handle.
    pub fn alloc_h<T: Wire>(
        &self,
        root: u32,
        parent: u32,
        new: u32,
        class: u32,
        params: Option<&mut T>,
    ) -> Result<u32> {
        let (s, h) = match params {
            Some(p) => {
                let mut b = to_bytes(p);
                let r =
                    self.alloc_raw(AllocForm::Nvos64, root, parent, new, class, Some(&mut b))?;
                *p = from_bytes(&b);
                r
            }
            None => self.alloc_raw(AllocForm::Nvos64, root, parent, new, class, None)?,
        };
        s.check()?;
        Ok(h)
    }

    /// Allocates a client (class NV01_ROOT_CLIENT); returns its handle.
    pub fn alloc_client(&self) -> Result<u32> {
        let mut h = 0u32;
        self.alloc(0, 0, class::NV01_ROOT_CLIENT, Some(&mut h))
    }

    /// Allocates device `gpu` (NV01_DEVICE_0) under `client`.
    pub fn alloc_device(&self, client: u32, gpu: u32) -> Result<u32> {
        let mut dp = class::Nv0080AllocParameters::ZERO;
        dp.device_id = gpu;
        self.alloc(client, client, class::NV01_DEVICE_0, Some(&mut dp))
    }

    /// Allocates a VA space (FERMI_VASPACE_A, default parameters) under
    /// `parent` (a device or subdevice of `client`): an object that holds
    /// no memory.
    pub fn alloc_vaspace(&self, client: u32, parent: u32) -> Result<u32> {
        let mut p = class::NvVaspaceAllocationParameters::ZERO;
        self.alloc(client, parent, class::FERMI_VASPACE_A, Some(&mut p))
    }

    /// RM_FREE.
    pub fn free(&self, client: u32, parent: u32, object: u32) -> io::Result<Status> {
        let p = rm::Nvos00 {
            h_root: client,
            h_object_parent: parent,
            h_object_old: object,
            status: 0,
        };
        let mut b = to_bytes(&p);
        escape(self.as_raw_fd(), escape::NV_ESC_RM_FREE, &mut b)?;
        Ok(Status(from_bytes::<rm::Nvos00>(&b).status))
    }

    /// GPU_GET_PID_INFO (video memory usage) of process `pid` on the
    /// subdevice `subdevice`: the control's status, and the entry when it
    /// is `NV_OK`.
    pub fn pid_info(
        &self,
        client: u32,
        subdevice: u32,
        pid: u32,
    ) -> io::Result<(Status, Option<ctrl::Nv2080CtrlGpuPidInfo>)> {
        let mut b = vec![0u8; ctrl::Nv2080CtrlGpuGetPidInfoParams::SIZE];
        b[..4].copy_from_slice(&1u32.to_le_bytes());
        let list = std::mem::offset_of!(ctrl::Nv2080CtrlGpuGetPidInfoParams, pid_info_list);
        ctrl::Nv2080CtrlGpuPidInfo {
            pid,
            index: ctrl::NV2080_CTRL_GPU_PID_INFO_INDEX_VIDEO_MEMORY_USAGE,
            ..ctrl::Nv2080CtrlGpuPidInfo::ZERO
        }
        .write(&mut b[list..]);
        let s = self.control_raw(
            client,
            subdevice,
            ctrl::NV2080_CTRL_CMD_GPU_GET_PID_INFO,
            &mut b,
        )?;
        let e = if s.ok() {
            ctrl::Nv2080CtrlGpuPidInfo::read(&b[list..])
        } else {
            None
        };
        Ok((s, e))
    }

    /// RM_CONTROL with an untyped parameter block.
    pub fn control_raw(
        &self,
        client: u32,
        object: u32,
        cmd: u32,
        params: &mut [u8],
    ) -> io::Result<Status> {
        let p = rm::Nvos54 {
            h_client: client,
            h_object: object,
            cmd,
            flags: 0,
            params: if params.is_empty() {
                0
            } else {
                params.as_mut_ptr() as u64
            },
            params_size: params.len() as u32,
            status: 0,
        };
        let mut b = to_bytes(&p);
        escape(self.as_raw_fd(), escape::NV_ESC_RM_CONTROL, &mut b)?;
        Ok(Status(from_bytes::<rm::Nvos54>(&b).status))
    }

    /// RM_CONTROL with typed parameters.
    pub fn control<T: Wire>(
        &self,
        client: u32,
        object: u32,
        cmd: u32,
        params: &mut T,
    ) -> Result<()> {
        let mut b = to_bytes(params);
        // The branch's size where it differs: its block is 580's less
        // trailing fields (or, for FB_GET_INFO_V2, a shorter list).
        let n = self
            .branch()
            .control_size(cmd)
            .unwrap_or(b.len())
            .min(b.len());
        let s = self.control_raw(client, object, cmd, &mut b[..n])?;
        *params = from_bytes(&b);
        Ok(s.check()?)
    }

    /// NV0000_CTRL_CMD_OS_UNIX_EXPORT_OBJECT_TO_FD: makes the ctl file
    /// `export_fd` an export fd holding `object` of `client` (on `device`,
    /// or 0). Pass the fd to another process (e.g. with [`sys::send_fd`])
    /// and import it there with [`Ctl::import_object_from_fd`].
    pub fn export_object_to_fd(
        &self,
        client: u32,
        device: u32,
        object: u32,
        export_fd: RawFd,
    ) -> Result<()> {
        let mut p = ctrl::Nv0000CtrlOsUnixExportObjectToFdParams::ZERO;
        p.object.type_ = ctrl::NV0000_CTRL_OS_UNIX_EXPORT_OBJECT_TYPE_RM;
        p.object.h_device = device;
        p.object.h_object = object;
        p.fd = export_fd;
        self.control(
            client,
            client,
            ctrl::NV0000_CTRL_CMD_OS_UNIX_EXPORT_OBJECT_TO_FD,
            &mut p,
        )
    }

    /// NV0000_CTRL_CMD_OS_UNIX_IMPORT_OBJECT_FROM_FD: a new handle (`new`,
    /// or 0 to let the RM pick) under `parent` of `client` for the object
    /// in export fd `export_fd`; returns the handle.
    pub fn import_object_from_fd(
        &self,
        client: u32,
        parent: u32,
        new: u32,
        export_fd: RawFd,
    ) -> Result<u32> {
        let mut p = ctrl::Nv0000CtrlOsUnixImportObjectFromFdParams::ZERO;
        p.fd = export_fd;
        p.object.type_ = ctrl::NV0000_CTRL_OS_UNIX_EXPORT_OBJECT_TYPE_RM;
        p.object.h_parent = parent;
        p.object.h_object = new;
        self.control(
            client,
            client,
            ctrl::NV0000_CTRL_CMD_OS_UNIX_IMPORT_OBJECT_FROM_FD,
            &mut p,
        )?;
        Ok(p.object.h_object)
    }

    /// NV0000_CTRL_CMD_OS_UNIX_EXPORT_OBJECTS_TO_FD: exports `objects` into
    /// slots `index..` of `export_fd` (prepared for `max` objects of
    /// `device` on the first call).
    pub fn export_objects_to_fd(
        &self,
        client: u32,
        device: u32,
        export_fd: RawFd,
        max: u16,
        index: u16,
        objects: &[u32],
    ) -> Result<()> {
        let mut p = ctrl::Nv0000CtrlOsUnixExportObjectsToFdParams::ZERO;
        p.fd = export_fd;
        p.h_device = device;
        p.max_objects = max;
        p.index = index;
        p.num_objects = objects.len() as u16;
        for (d, s) in p.objects.iter_mut().zip(objects) {
            *d = *s;
        }
        self.control(
            client,
            client,
            ctrl::NV0000_CTRL_CMD_OS_UNIX_EXPORT_OBJECTS_TO_FD,
            &mut p,
        )
    }

    /// NV0000_CTRL_CMD_OS_UNIX_IMPORT_OBJECTS_FROM_FD: imports slots
    /// `index..index + count` of `export_fd` under `parent`; returns the
    /// new handle per slot (`None` where the slot was empty).
    pub fn import_objects_from_fd(
        &self,
        client: u32,
        parent: u32,
        export_fd: RawFd,
        index: u16,
        count: u16,
    ) -> Result<Vec<Option<u32>>> {
        let mut p = ctrl::Nv0000CtrlOsUnixImportObjectsFromFdParams::ZERO;
        p.fd = export_fd;
        p.h_parent = parent;
        p.index = index;
        p.num_objects = count;
        self.control(
            client,
            client,
            ctrl::NV0000_CTRL_CMD_OS_UNIX_IMPORT_OBJECTS_FROM_FD,
            &mut p,
        )?;
        Ok((0..usize::from(count).min(p.objects.len()))
            .map(|i| (p.object_types[i] != 0).then_some(p.objects[i]))
            .collect())
    }

    /// NV0000_CTRL_CMD_OS_UNIX_GET_EXPORT_OBJECT_INFO of `export_fd`:
    /// (maxObjects, deviceInstance).
    pub fn export_object_info(&self, client: u32, export_fd: RawFd) -> Result<(u16, u32)> {
        let mut p = ctrl::Nv0000CtrlOsUnixGetExportObjectInfoParams::ZERO;
        p.fd = export_fd;
        self.control(
            client,
            client,
            ctrl::NV0000_CTRL_CMD_OS_UNIX_GET_EXPORT_OBJECT_INFO,
            &mut p,
        )?;
        Ok((p.max_objects, p.device_instance))
    }

    /// RM_DUP_OBJECT; returns the new handle.
    pub fn dup(
        &self,
        client: u32,
        parent: u32,
        new: u32,
        src_client: u32,
        src_object: u32,
        flags: u32,
    ) -> Result<u32> {
        let p = rm::Nvos55 {
            h_client: client,
            h_parent: parent,
            h_object: new,
            h_client_src: src_client,
            h_object_src: src_object,
            flags,
            status: 0,
        };
        let mut b = to_bytes(&p);
        escape(self.as_raw_fd(), escape::NV_ESC_RM_DUP_OBJECT, &mut b)?;
        let p: rm::Nvos55 = from_bytes(&b);
        Status(p.status).check()?;
        Ok(p.h_object)
    }

    /// RM_SHARE: shares `object` with every client for dup (`revoke`
    /// takes that back), as cudaIpcGetMemHandle does.
    pub fn share_all(&self, client: u32, object: u32, revoke: bool) -> io::Result<Status> {
        let mut p = rm::Nvos57::ZERO;
        p.h_client = client;
        p.h_object = object;
        p.share_policy.target = client;
        p.share_policy.access_mask = 1; // RS_ACCESS_DUP_OBJECT
        p.share_policy.type_ = 1; // RS_SHARE_TYPE_ALL
        p.share_policy.action = u8::from(revoke); // RS_SHARE_ACTION_FLAG_REVOKE
        let mut b = to_bytes(&p);
        escape(self.as_raw_fd(), escape::NV_ESC_RM_SHARE, &mut b)?;
        Ok(Status(from_bytes::<rm::Nvos57>(&b).status))
    }

    /// RM_MAP_MEMORY with the mapping attached to file `fd`; returns the
    /// driver's address cookie (not a CPU address: mmap `fd` next).
    pub fn map_memory(
        &self,
        client: u32,
        device: u32,
        memory: u32,
        offset: u64,
        length: u64,
        fd: RawFd,
    ) -> Result<u64> {
        let mut p = rm::Nvos33WithFd::ZERO;
        p.params.h_client = client;
        p.params.h_device = device;
        p.params.h_memory = memory;
        p.params.offset = offset;
        p.params.length = length;
        p.fd = fd;
        let mut b = to_bytes(&p);
        escape(self.as_raw_fd(), escape::NV_ESC_RM_MAP_MEMORY, &mut b)?;
        let p: rm::Nvos33WithFd = from_bytes(&b);
        Status(p.params.status).check()?;
        Ok(p.params.p_linear_address)
    }

    /// RM_UNMAP_MEMORY.
    pub fn unmap_memory(
        &self,
        client: u32,
        device: u32,
        memory: u32,
        addr: u64,
    ) -> io::Result<Status> {
        let mut p = rm::Nvos34::ZERO;
        p.h_client = client;
        p.h_device = device;
        p.h_memory = memory;
        p.p_linear_address = addr;
        let mut b = to_bytes(&p);
        escape(self.as_raw_fd(), escape::NV_ESC_RM_UNMAP_MEMORY, &mut b)?;
        Ok(Status(from_bytes::<rm::Nvos34>(&b).status))
    }
}

/// A `/dev/nvidiaN` file.
pub struct Gpu {
    fd: OwnedFd,
}

impl AsRawFd for Gpu {
    fn as_raw_fd(&self) -> RawFd {
        self.fd.as_raw_fd()
    }
}

impl Gpu {
    /// Opens the GPU node at `path`.
    pub fn open(path: &str) -> io::Result<Gpu> {
        Ok(Gpu {
            fd: sys::open_rw(path)?,
        })
    }

    /// REGISTER_FD: links this file to the ctl file `ctl_fd`.
    pub fn register_fd(&self, ctl_fd: RawFd) -> io::Result<()> {
        let mut b = to_bytes(&escape::NvIoctlRegisterFd { ctl_fd });
        escape(self.as_raw_fd(), escape::NV_ESC_REGISTER_FD, &mut b)
    }
}

/// A `/dev/nvidia-uvm` file.
pub struct Uvm {
    fd: OwnedFd,
}

impl AsRawFd for Uvm {
    fn as_raw_fd(&self) -> RawFd {
        self.fd.as_raw_fd()
    }
}

impl Uvm {
    /// Opens the UVM node at `path`.
    pub fn open(path: &str) -> io::Result<Uvm> {
        Ok(Uvm {
            fd: sys::open_rw(path)?,
        })
    }

    /// Wraps an open fd.
    pub fn from_owned(fd: OwnedFd) -> Uvm {
        Uvm { fd }
    }

    fn call<T: Wire>(&self, cmd: u32, p: &mut T) -> io::Result<()> {
        let mut b = to_bytes(p);
        sys::ioctl(self.as_raw_fd(), cmd, &mut b)?;
        *p = from_bytes(&b);
        Ok(())
    }

    /// UVM_INITIALIZE.
    pub fn initialize(&self) -> io::Result<Status> {
        let mut p = uvm::UvmInitializeParams::ZERO;
        self.call(uvm::UVM_INITIALIZE, &mut p)?;
        Ok(Status(p.rm_status))
    }

    /// UVM_MM_INITIALIZE with the VA-space file `uvm_fd`.
    pub fn mm_initialize(&self, uvm_fd: RawFd) -> io::Result<Status> {
        let mut p = uvm::UvmMmInitializeParams {
            uvm_fd,
            rm_status: 0,
        };
        self.call(uvm::UVM_MM_INITIALIZE, &mut p)?;
        Ok(Status(p.rm_status))
    }

    /// UVM_REGISTER_GPU.
    pub fn register_gpu(
        &self,
        uuid: [u8; 16],
        rm_ctrl_fd: RawFd,
        client: u32,
    ) -> io::Result<Status> {
        let mut p = uvm::UvmRegisterGpuParams::ZERO;
        p.gpu_uuid = uuid;
        p.rm_ctrl_fd = rm_ctrl_fd;
        p.h_client = client;
        self.call(uvm::UVM_REGISTER_GPU, &mut p)?;
        Ok(Status(p.rm_status))
    }

    /// UVM_UNREGISTER_GPU.
    pub fn unregister_gpu(&self, uuid: [u8; 16]) -> io::Result<Status> {
        let mut p = uvm::UvmUnregisterGpuParams::ZERO;
        p.gpu_uuid = uuid;
        self.call(uvm::UVM_UNREGISTER_GPU, &mut p)?;
        Ok(Status(p.rm_status))
    }

    /// UVM_REGISTER_GPU_VASPACE.
    pub fn register_vaspace(
        &self,
        uuid: [u8; 16],
        rm_ctrl_fd: RawFd,
        client: u32,
        va: u32,
    ) -> io::Result<Status> {
        let mut p = uvm::UvmRegisterGpuVaspaceParams::ZERO;
        p.gpu_uuid = uuid;
        p.rm_ctrl_fd = rm_ctrl_fd;
        p.h_client = client;
        p.h_va_space = va;
        self.call(uvm::UVM_REGISTER_GPU_VASPACE, &mut p)?;
        Ok(Status(p.rm_status))
    }

    /// UVM_MIGRATE of `[base, base + length)` to the processor `dest` (a
    /// GPU's UUID, or all zero for the CPU), synchronously.
    pub fn migrate(&self, base: u64, length: u64, dest: [u8; 16]) -> io::Result<Status> {
        let mut p = uvm::UvmMigrateParams::ZERO;
        p.base = base;
        p.length = length;
        p.destination_uuid = dest;
        p.cpu_numa_node = -1;
        self.call(uvm::UVM_MIGRATE, &mut p)?;
        Ok(Status(p.rm_status))
    }

    /// UVM_VALIDATE_VA_RANGE: whether `[base, base + length)` is one range.
    pub fn validate_va_range(&self, base: u64, length: u64) -> io::Result<Status> {
        let mut p = uvm::UvmValidateVaRangeParams::ZERO;
        p.base = base;
        p.length = length;
        self.call(uvm::UVM_VALIDATE_VA_RANGE, &mut p)?;
        Ok(Status(p.rm_status))
    }

    /// UVM_REGISTER_CHANNEL.
    pub fn register_channel(
        &self,
        uuid: [u8; 16],
        rm_ctrl_fd: RawFd,
        client: u32,
        channel: u32,
    ) -> io::Result<Status> {
        let mut p = uvm::UvmRegisterChannelParams::ZERO;
        p.gpu_uuid = uuid;
        p.rm_ctrl_fd = rm_ctrl_fd;
        p.h_client = client;
        p.h_channel = channel;
        self.call(uvm::UVM_REGISTER_CHANNEL, &mut p)?;
        Ok(Status(p.rm_status))
    }
}

/// The memory numbers the driver reports for one GPU (bytes).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct MemInfo {
    /// RAM_SIZE.
    pub total: u64,
    /// HEAP_SIZE.
    pub heap: u64,
    /// HEAP_FREE.
    pub free: u64,
}

impl MemInfo {
    /// Used = total − free, as nvidia-smi computes it.
    pub fn used(&self) -> u64 {
        self.total.saturating_sub(self.free)
    }
}

/// The usual prologue: version check, client, device and subdevice of one GPU.
pub struct Session {
    /// The control file.
    pub ctl: Ctl,
    /// Client handle.
    pub client: u32,
    /// Device handle.
    pub device: u32,
    /// Subdevice handle.
    pub subdevice: u32,
    /// GPU index (device instance).
    pub gpu: u32,
    /// Directory of the nodes (`/dev`).
    pub dir: String,
    /// `/dev/nvidia<gpu>`, held open as CUDA does (opening it brings the
    /// GPU up on the real driver, which a device allocation needs).
    _gpu_file: Gpu,
}

/// `owner` of memory allocations: the driver refuses 0 (`NV_ERR_INVALID_OWNER`).
pub const OWNER: u32 = 0x6e76_726d;
/// `NV2080_ENGINE_TYPE_GRAPHICS` (GR0), the engine of compute channel groups;
/// the driver refuses `NV2080_ENGINE_TYPE_NULL`.
pub const ENGINE_TYPE_GRAPHICS: u32 = 1;

/// Size of the usermode (doorbell) region one maps (`NVC661`'s window).
pub const USERMODE_SIZE: usize = sim::USERMODE_SIZE as usize;

/// The version nvrm asks for (that of the H100 host nvsim imitates).
pub const VERSION: &str = "580.159.04";

impl Session {
    /// Opens `<dir>/nvidiactl`, checks the version (falling back to the
    /// driver's own), and allocates client, device `gpu` and its subdevice.
    pub fn open(dir: &str, gpu: u32) -> Result<Session> {
        let gpu_file = Gpu::open(&format!("{dir}/nvidia{gpu}"))?;
        let ctl = Ctl::open(&format!("{dir}/nvidiactl"))?;
        if let Err((_, theirs)) = ctl.check_version(VERSION) {
            ctl.check_version(&theirs).map_err(|(e, _)| e)?;
        }
        let client = ctl.alloc_client()?;
        let device = ctl.alloc_device(client, gpu)?;
        let mut sp = class::Nv2080AllocParameters::ZERO;
        let subdevice = ctl.alloc(client, device, class::NV20_SUBDEVICE_0, Some(&mut sp))?;
        Ok(Session {
            ctl,
            client,
            device,
            subdevice,
            gpu,
            dir: dir.to_string(),
            _gpu_file: gpu_file,
        })
    }

    /// FB_GET_INFO_V2 for RAM_SIZE, HEAP_SIZE and HEAP_FREE.
    pub fn mem_info(&self) -> Result<MemInfo> {
        let idx = [
            ctrl::NV2080_CTRL_FB_INFO_INDEX_RAM_SIZE,
            ctrl::NV2080_CTRL_FB_INFO_INDEX_HEAP_SIZE,
            ctrl::NV2080_CTRL_FB_INFO_INDEX_HEAP_FREE,
        ];
        let v = self.fb_info(&idx)?;
        Ok(MemInfo {
            total: u64::from(v[0]) << 10,
            heap: u64::from(v[1]) << 10,
            free: u64::from(v[2]) << 10,
        })
    }

    /// FB_GET_INFO_V2 for arbitrary indices (values as the driver returns them).
    pub fn fb_info(&self, indices: &[u32]) -> Result<Vec<u32>> {
        let mut p = ctrl::Nv2080CtrlFbGetInfoV2Params::ZERO;
        p.fb_info_list_size = indices.len() as u32;
        for (e, i) in p.fb_info_list.iter_mut().zip(indices) {
            e.index = *i;
        }
        self.ctl.control(
            self.client,
            self.subdevice,
            ctrl::NV2080_CTRL_CMD_FB_GET_INFO_V2,
            &mut p,
        )?;
        Ok(p.fb_info_list[..indices.len()]
            .iter()
            .map(|e| e.data)
            .collect())
    }

    /// GPU_GET_NAME_STRING (ASCII).
    pub fn name(&self) -> Result<String> {
        let mut p = ctrl::Nv2080CtrlGpuGetNameStringParams::ZERO;
        self.ctl.control(
            self.client,
            self.subdevice,
            ctrl::NV2080_CTRL_CMD_GPU_GET_NAME_STRING,
            &mut p,
        )?;
        Ok(cstr(&p.gpu_name_string))
    }

    /// GPU_GET_SHORT_NAME_STRING (ASCII): the smallest GET control nvsim
    /// answers that the proxy forwards untouched.
    pub fn short_name(&self) -> Result<String> {
        let mut p = ctrl::Nv2080CtrlGpuGetShortNameStringParams::ZERO;
        self.ctl.control(
            self.client,
            self.subdevice,
            ctrl::NV2080_CTRL_CMD_GPU_GET_SHORT_NAME_STRING,
            &mut p,
        )?;
        Ok(cstr(&p.gpu_short_name_string))
    }

    /// GPU_GET_GID_INFO, binary form.
    pub fn uuid(&self) -> Result<[u8; 16]> {
        let mut p = ctrl::Nv2080CtrlGpuGetGidInfoParams::ZERO;
        p.flags = 2;
        self.ctl.control(
            self.client,
            self.subdevice,
            ctrl::NV2080_CTRL_CMD_GPU_GET_GID_INFO,
            &mut p,
        )?;
        let mut u = [0u8; 16];
        u.copy_from_slice(&p.data[..16]);
        Ok(u)
    }

    /// GPU_GET_GID_INFO, ASCII form (`GPU-...`).
    pub fn uuid_string(&self) -> Result<String> {
        let mut p = ctrl::Nv2080CtrlGpuGetGidInfoParams::ZERO;
        self.ctl.control(
            self.client,
            self.subdevice,
            ctrl::NV2080_CTRL_CMD_GPU_GET_GID_INFO,
            &mut p,
        )?;
        Ok(cstr(&p.data))
    }

    /// Allocates `size` bytes of video memory under the device; returns
    /// (handle, size the driver allocated).
    pub fn alloc_vidmem(&self, size: u64) -> Result<(u32, u64)> {
        let mut p = class::NvMemoryAllocationParams::ZERO;
        p.owner = OWNER;
        p.size = size;
        p.numa_node = -1;
        let h = self.ctl.alloc(
            self.client,
            self.device,
            class::NV01_MEMORY_LOCAL_USER,
            Some(&mut p),
        )?;
        Ok((h, p.size))
    }

    /// Frees `object` (whose parent is `parent`).
    pub fn free(&self, parent: u32, object: u32) -> Result<()> {
        Ok(self.ctl.free(self.client, parent, object)?.check()?)
    }

    /// Opens a new `/dev/nvidia<gpu>` file.
    pub fn open_gpu(&self) -> io::Result<Gpu> {
        Gpu::open(&format!("{}/nvidia{}", self.dir, self.gpu))
    }

    /// Maps `length` bytes at `offset` of memory object `memory` through a
    /// new GPU file: RM_MAP_MEMORY then mmap.
    pub fn map(
        &self,
        parent: u32,
        memory: u32,
        offset: u64,
        length: u64,
    ) -> Result<(Gpu, Mapping)> {
        let g = self.open_gpu()?;
        self.ctl
            .map_memory(self.client, parent, memory, offset, length, g.as_raw_fd())?;
        let m = Mapping::new(&g, length as usize)?;
        Ok((g, m))
    }

    /// Allocates a usermode (doorbell) object under the subdevice.
    pub fn alloc_usermode(&self) -> Result<u32> {
        let mut p = class::NvHopperUsermodeAParams::ZERO;
        self.ctl.alloc(
            self.client,
            self.subdevice,
            class::HOPPER_USERMODE_A,
            Some(&mut p),
        )
    }

    /// Allocates a channel group under the device.
    pub fn alloc_tsg(&self) -> Result<u32> {
        let mut p = class::NvChannelGroupAllocationParameters::ZERO;
        p.engine_type = ENGINE_TYPE_GRAPHICS;
        self.ctl.alloc(
            self.client,
            self.device,
            class::KEPLER_CHANNEL_GROUP_A,
            Some(&mut p),
        )
    }

    /// NVA06C SET_TIMESLICE.
    pub fn set_timeslice(&self, tsg: u32, us: u64) -> Result<()> {
        let mut p = ctrl::NvA06cCtrlTimesliceParams { timeslice_us: us };
        self.ctl.control(
            self.client,
            tsg,
            ctrl::NVA06C_CTRL_CMD_SET_TIMESLICE,
            &mut p,
        )
    }

    /// NVA06C GET_TIMESLICE.
    pub fn timeslice(&self, tsg: u32) -> Result<u64> {
        let mut p = ctrl::NvA06cCtrlTimesliceParams { timeslice_us: 0 };
        self.ctl.control(
            self.client,
            tsg,
            ctrl::NVA06C_CTRL_CMD_GET_TIMESLICE,
            &mut p,
        )?;
        Ok(p.timeslice_us)
    }
}

/// Layout of nvrm's channel memory object (see `nvabi::sim`).
pub mod layout {
    /// USERD offset.
    pub const USERD: usize = 0;
    /// Ring offset.
    pub const RING: usize = 0x1000;
    /// Ring entries.
    pub const ENTRIES: u32 = 512;
    /// Completion semaphore offset.
    pub const SEMAPHORE: usize = 0x2000;
    /// Size of the object.
    pub const SIZE: u64 = 0x4000;
}

/// A channel group with one channel whose memory and doorbell are mapped.
pub struct Channel {
    /// Channel group handle.
    pub tsg: u32,
    /// Channel handle.
    pub channel: u32,
    /// Memory object (USERD, ring, semaphore).
    pub memory: u32,
    /// Usermode object.
    pub usermode: u32,
    /// Work-submit token.
    pub token: u32,
    mem: Mapping,
    doorbell: Mapping,
    _files: (Gpu, Gpu),
    put: u32,
}

impl Channel {
    /// Creates TSG, memory, channel and usermode objects in `s` and maps them.
    pub fn new(s: &Session) -> Result<Channel> {
        let tsg = s.alloc_tsg()?;
        let (memory, _) = s.alloc_vidmem(layout::SIZE)?;
        let (gm, mem) = s.map(s.device, memory, 0, layout::SIZE)?;
        let mut cp = class::NvChannelAllocParams::ZERO;
        cp.h_userd_memory[0] = memory;
        cp.userd_offset[0] = layout::USERD as u64;
        cp.gp_fifo_offset = layout::RING as u64;
        cp.gp_fifo_entries = layout::ENTRIES;
        let channel = s
            .ctl
            .alloc(s.client, tsg, class::HOPPER_CHANNEL_GPFIFO_A, Some(&mut cp))?;
        let usermode = s.alloc_usermode()?;
        let (gd, doorbell) = s.map(s.subdevice, usermode, 0, sim::USERMODE_SIZE)?;
        let mut tp = ctrl::NvC36fCtrlGpfifoGetWorkSubmitTokenParams::ZERO;
        s.ctl.control(
            s.client,
            channel,
            ctrl::NVC36F_CTRL_CMD_GPFIFO_GET_WORK_SUBMIT_TOKEN,
            &mut tp,
        )?;
        Ok(Channel {
            tsg,
            channel,
            memory,
            usermode,
            token: tp.work_submit_token,
            mem,
            doorbell,
            _files: (gm, gd),
            put: 0,
        })
    }

    /// GPGet: entries the engine has completed (mod ring size).
    pub fn get(&self) -> u32 {
        self.mem.read_u32(layout::USERD + sim::USERD_GP_GET)
    }

    /// Entries submitted and not yet completed.
    pub fn pending(&self) -> u32 {
        (self.put + layout::ENTRIES - self.get()) % layout::ENTRIES
    }

    /// Writes entries into the ring and advances GPPut, without ringing.
    pub fn push(&mut self, entries: &[sim::Entry]) {
        for e in entries {
            self.mem.write_u64(
                layout::RING + self.put as usize * sim::GPFIFO_ENTRY_SIZE,
                e.encode(),
            );
            self.put = (self.put + 1) % layout::ENTRIES;
        }
        self.mem
            .write_u32(layout::USERD + sim::USERD_GP_PUT, self.put);
    }

    /// Maps the doorbell again through the same GPU file and drops the first
    /// mapping: the vendor keeps the file's mapping context, so a second
    /// mmap of that file maps the doorbell too (how a tenant would try to
    /// get a mapping the proxy did not gate).
    pub fn remap_doorbell(&mut self) -> Result<()> {
        self.doorbell = Mapping::new(&self._files.1, sim::USERMODE_SIZE as usize)?;
        Ok(())
    }

    /// Dups the usermode object (RM_DUP_OBJECT, same client, under the
    /// subdevice), maps the dup through a GPU file of its own and rings
    /// through that mapping from now on: the doorbell reached by a handle
    /// the proxy did not see allocated.
    pub fn dup_doorbell(&mut self, s: &Session) -> Result<()> {
        let dup = s
            .ctl
            .dup(s.client, s.subdevice, 0, s.client, self.usermode, 0)?;
        let (g, m) = s.map(s.subdevice, dup, 0, sim::USERMODE_SIZE)?;
        self.doorbell = m;
        self._files.1 = g;
        Ok(())
    }

    /// Rings the doorbell with this channel's token.
    pub fn ring(&self) {
        self.doorbell.write_u32(sim::USERMODE_DOORBELL, self.token);
    }

    /// The u32 at `off` of the channel's memory (semaphores).
    pub fn read(&self, off: usize) -> u32 {
        self.mem.read_u32(off)
    }
}

/// The NUL-terminated prefix of `b` as text.
pub fn cstr(b: &[u8]) -> String {
    let end = b.iter().position(|c| *c == 0).unwrap_or(b.len());
    String::from_utf8_lossy(&b[..end]).into_owned()
}

/// Formats a UUID as NVIDIA does (`GPU-xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx`).
pub fn uuid_string(u: &[u8; 16]) -> String {
    let h: Vec<String> = u.iter().map(|b| format!("{b:02x}")).collect();
    format!(
        "GPU-{}-{}-{}-{}-{}",
        h[..4].concat(),
        h[4..6].concat(),
        h[6..8].concat(),
        h[8..10].concat(),
        h[10..].concat()
    )
}

/// Parses a size: bytes, or with a K/M/G/T suffix (binary, `Ki`/`Mi`/... too).
pub fn parse_size(s: &str) -> Option<u64> {
    let s = s.trim();
    let split = s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
    let (num, unit) = s.split_at(split);
    let n: u64 = num.parse().ok()?;
    let shift = match unit
        .trim_end_matches(['i', 'B'])
        .to_ascii_uppercase()
        .as_str()
    {
        "" => 0,
        "K" => 10,
        "M" => 20,
        "G" => 30,
        "T" => 40,
        _ => return None,
    };
    n.checked_mul(1u64 << shift)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_parse() {
        assert_eq!(parse_size("4096"), Some(4096));
        assert_eq!(parse_size("1Mi"), Some(1 << 20));
        assert_eq!(parse_size("2G"), Some(2 << 30));
        assert_eq!(parse_size("3GiB"), Some(3 << 30));
        assert_eq!(parse_size("1X"), None);
        assert_eq!(parse_size(""), None);
    }

    #[test]
    fn status_names() {
        assert_eq!(Status(0x51).name(), "NV_ERR_NO_MEMORY");
        assert!(Status::OK.ok());
        assert_eq!(
            format!("{:?}", Status(0x23)),
            "NV_ERR_INVALID_CLIENT (0x23)"
        );
    }

    #[test]
    fn uuid_format() {
        let u = [
            0x12, 0x34, 0x56, 0x78, 0x9a, 0xbc, 0xde, 0xf0, 1, 2, 3, 4, 5, 6, 7, 8,
        ];
        assert_eq!(uuid_string(&u), "GPU-12345678-9abc-def0-0102-030405060708");
    }

    #[test]
    fn ioctl_numbers() {
        // _IOWR('F', 0x2b, 48) as CUDA issues RM_ALLOC with NVOS64.
        assert_eq!(
            escape::nv_iowr(escape::NV_ESC_RM_ALLOC, rm::Nvos64::SIZE as u32),
            0xc030462b
        );
        assert_eq!(escape::nv_iowr(escape::NV_ESC_RM_CONTROL, 32), 0xc020462a);
    }
}
