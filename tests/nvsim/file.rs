// SPDX-License-Identifier: GPL-2.0

//! Open files of the nvidia nodes and their ioctls: escape decoding as
//! `nvidia_ioctl` does it (only `_IOC_NR` and `_IOC_SIZE` matter; the
//! whole block is copied in, handled and copied back), the per-escape file
//! and size rules, fd lookups, and the mmap context.

use crate::{
    branch,
    chrdev::{self, capable},
    ctrl, deprecated,
    fgcore::nvabi::{
        class::{class_info, NV01_ROOT, NV01_ROOT_CLIENT, NV01_ROOT_NON_PRIV},
        escape::*,
        rm::*,
        status::*,
        wire::Wire,
    },
    gpu,
    mem::Backing,
    rm::{Caller, MapTarget, Os, RM},
    uvm::UvmState,
};
use core::sync::atomic::{AtomicU64, Ordering};
use kernel::{
    bindings,
    fs::File,
    mm::virt::VmaNew,
    new_mutex,
    prelude::*,
    sync::aref::ARef,
    sync::{Arc, Mutex},
    uaccess::{UserPtr, UserSlice},
};

/// Escapes that reached nvsim (after XFER unwrapping), per escape number,
/// on ctl files and on GPU files (debugfs `nvsim/escapes`): a test checks
/// that a number the proxy must never forward did not arrive.
static ESCAPES: [[AtomicU64; 256]; 2] = [const { [const { AtomicU64::new(0) }; 256] }; 2];

fn count_escape(ctl: bool, nr: u32) {
    if let Some(c) = ESCAPES[usize::from(!ctl)].get(nr as usize) {
        c.fetch_add(1, Ordering::Relaxed);
    }
}

/// Writes the debugfs `nvsim/escapes` table: one line `ctl|gpu 0xNN COUNT`
/// per escape number seen since nvsim was loaded.
pub(crate) fn fmt_escapes(f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
    for (which, table) in [("ctl", &ESCAPES[0]), ("gpu", &ESCAPES[1])] {
        for (nr, c) in table.iter().enumerate() {
            let n = c.load(Ordering::Relaxed);
            if n != 0 {
                writeln!(f, "{which} {nr:#04x} {n}")?;
            }
        }
    }
    Ok(())
}

/// Which node a file was opened on.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum Kind {
    /// `/dev/nvidiactl`.
    Ctl,
    /// `/dev/nvidia<n>`.
    Gpu(u32),
    /// `/dev/nvidia-uvm`.
    Uvm,
}

/// A mapping prepared by RM_MAP_MEMORY, consumed by mmap.
struct MmapCtx {
    backing: Arc<Backing>,
    first: usize,
    pages: usize,
    /// Map as the vendor maps registers (usermode): a PFN mapping.
    pfnmap: bool,
}

/// What REGISTER_FD linked this file to.
struct Registered {
    /// Keeps the ctl file open (and so its clients alive) until this file closes.
    _file: ARef<File>,
    ctl_id: u64,
}

struct FileInner {
    registered: Option<Registered>,
    /// What this file holds as an export fd (released with the file).
    export: Option<crate::export::ExportFd>,
    attached: bool,
    mmap: Option<MmapCtx>,
    uvm: UvmState,
}

/// The private data of one open nvidia node.
#[pin_data]
pub(crate) struct NvFile {
    /// Identifies the file as the owner of RM clients.
    pub(crate) id: u64,
    pub(crate) kind: Kind,
    #[pin]
    inner: Mutex<FileInner>,
}

/// Reads `buf.len()` bytes from user address `addr`.
pub(crate) fn read_user(addr: u64, buf: &mut [u8]) -> Result {
    let addr = usize::try_from(addr).map_err(|_| EFAULT)?;
    UserSlice::new(UserPtr::from_addr(addr), buf.len())
        .reader()
        .read_slice(buf)
}

/// The little-endian u64 at `at` of a block copied from user space.
pub(crate) fn u64_at(b: &[u8], at: usize) -> u64 {
    let mut v = [0u8; 8];
    v.copy_from_slice(&b[at..at + 8]);
    u64::from_le_bytes(v)
}

/// Writes `data` to user address `addr`.
pub(crate) fn write_user(addr: u64, data: &[u8]) -> Result {
    let addr = usize::try_from(addr).map_err(|_| EFAULT)?;
    UserSlice::new(UserPtr::from_addr(addr), data.len())
        .writer()
        .write_slice(data)
}

/// Process `tgid` (a number of the initial pid namespace, as clients
/// record it) as numbered in the calling task's pid namespace; 0 when it
/// is not visible there or no longer exists. (The RM keeps a `struct pid`
/// per client and translates it, `_gpuConvertPid`; nvsim keeps the number,
/// which is the same while the process lives.)
pub(crate) fn tgid_in_caller_ns(tgid: i32) -> i32 {
    let _rcu = kernel::sync::rcu::read_lock();
    // SAFETY: `init_pid_ns` is a static; under the RCU read lock we hold,
    // the `struct pid` `find_pid_ns` returns stays valid while `pid_vnr`
    // reads it (both documented as callable under RCU).
    unsafe {
        let pid = bindings::find_pid_ns(tgid, &raw mut bindings::init_pid_ns);
        if pid.is_null() {
            return 0;
        }
        bindings::pid_vnr(pid)
    }
}

/// The calling process's context for an RM call issued with OS info `os`.
pub(crate) fn caller(os: Os) -> Caller {
    Caller {
        os,
        tgid: kernel::current!().tgid(),
        admin: capable(bindings::CAP_SYS_ADMIN),
        nice: capable(bindings::CAP_SYS_NICE),
    }
}

impl NvFile {
    /// A new file of `kind`.
    pub(crate) fn new(kind: Kind) -> Result<Arc<NvFile>> {
        let id = RM.lock().new_file_id();
        Arc::pin_init(
            try_pin_init!(NvFile {
                id,
                kind,
                inner <- new_mutex!(
                    FileInner { registered: None, export: None, attached: false, mmap: None, uvm: UvmState::new() },
                    "NvFile::inner"
                ),
            }? Error),
            GFP_KERNEL,
        )
    }

    /// The OS info RM calls through this file carry: the ctl file it was
    /// registered to, else itself.
    pub(crate) fn os(&self) -> Os {
        match self.inner.lock().registered.as_ref() {
            Some(r) => Os::File(r.ctl_id),
            None => Os::File(self.id),
        }
    }

    /// The file's release: frees every client it owns.
    pub(crate) fn release(&self) {
        if self.kind == Kind::Uvm {
            crate::uvm::teardown(self);
            return;
        }
        let freed = {
            let mut rm = RM.lock();
            rm.free_os_events_of(self.id);
            rm.free_clients_of(self.id)
        };
        drop(freed);
        let (reg, export) = {
            let mut inner = self.inner.lock();
            (inner.registered.take(), inner.export.take())
        };
        // Exported objects go with the export fd (the vendor frees its
        // export handles in `rm_cleanup_file_private`).
        drop(export);
        drop(reg);
    }

    /// `mmap` of this file: the context RM_MAP_MEMORY attached.
    pub(crate) fn mmap(&self, vma: &VmaNew, pgoff: usize) -> Result {
        if self.kind == Kind::Uvm || pgoff != 0 {
            return Err(EINVAL);
        }
        let inner = self.inner.lock();
        let ctx = inner.mmap.as_ref().ok_or(EINVAL)?;
        let want = (vma.end() - vma.start()) / kernel::page::PAGE_SIZE;
        let count = match self.kind {
            // Device memory: the size must match exactly.
            Kind::Gpu(_) if want != ctx.pages => return Err(ENXIO),
            Kind::Ctl if want > ctx.pages => return Err(ERANGE),
            _ => want,
        };
        if ctx.pfnmap {
            Backing::map_pfn_into(&ctx.backing, vma, ctx.first, count)
        } else {
            ctx.backing.map_into(vma, ctx.first, count)
        }
    }

    /// `unlocked_ioctl`.
    pub(crate) fn ioctl(&self, cmd: u32, arg: usize) -> Result<isize> {
        if self.kind == Kind::Uvm {
            return crate::uvm::ioctl(self, cmd, arg);
        }
        let (mut nr, mut size, mut ptr) = (ioc_nr(cmd), ioc_size(cmd) as usize, arg as u64);
        if nr == NV_ESC_IOCTL_XFER_CMD {
            if size != NvIoctlXfer::SIZE {
                return Err(EINVAL);
            }
            let mut b = [0u8; NvIoctlXfer::SIZE];
            read_user(ptr, &mut b)?;
            let x = NvIoctlXfer::read(&b).ok_or(EINVAL)?;
            if x.size > NV_ABSOLUTE_MAX_IOCTL_SIZE {
                return Err(EINVAL);
            }
            (nr, size, ptr) = (x.cmd, x.size as usize, x.ptr);
        }
        let mut buf = KVec::from_elem(0u8, size, GFP_KERNEL)?;
        read_user(ptr, &mut buf)?;
        let r = self.escape(nr, &mut buf);
        // Like nvidia_ioctl: the block goes back even when the escape failed.
        write_user(ptr, &buf)?;
        r.map(|_| 0)
    }

    fn escape(&self, nr: u32, buf: &mut [u8]) -> Result {
        let ctl = self.kind == Kind::Ctl;
        count_escape(ctl, nr);
        let size = buf.len();
        let need = |ok: bool| if ok { Ok(()) } else { Err(EINVAL) };
        match nr {
            NV_ESC_CHECK_VERSION_STR => {
                need(ctl && size == NvIoctlRmApiVersion::SIZE)?;
                check_version(buf)
            }
            NV_ESC_CARD_INFO => {
                need(ctl && size % NvIoctlCardInfo::SIZE == 0)?;
                card_info(buf)
            }
            NV_ESC_ATTACH_GPUS_TO_FD => {
                need(ctl && size != 0 && size % 4 == 0)?;
                self.attach_gpus(buf)
            }
            NV_ESC_REGISTER_FD => {
                need(size == NvIoctlRegisterFd::SIZE)?;
                self.register_fd(buf)
            }
            NV_ESC_WAIT_OPEN_COMPLETE => {
                need(size == NvIoctlWaitOpenComplete::SIZE)?;
                buf.fill(0);
                Ok(())
            }
            // nvidia_ioctl NV_ESC_NUMA_INFO: GPU nodes only, exact size
            // (else EINVAL); a GPU whose memory is not a NUMA node (all
            // but coherent Grace-Hopper): nid NV0000_CTRL_NO_NUMA_NODE,
            // no range, no offlined pages, status DISABLED, no auto-online
            // (x86), memblock_size as recorded by SYS_PARAMS (none: 0).
            NV_ESC_NUMA_INFO => {
                need(!ctl && size == NvIoctlNumaInfo::SIZE)?;
                let mut p = NvIoctlNumaInfo::ZERO;
                p.nid = -1;
                p.write(buf);
                Ok(())
            }
            NV_ESC_SYS_PARAMS => {
                need(ctl && size == NvIoctlSysParams::SIZE)?;
                NvIoctlSysParams {
                    memblock_size: 128 << 20,
                }
                .write(buf);
                Ok(())
            }
            // escape.c: on any node, exact size (else EINVAL); `Status` is
            // rm_alloc_os_event's / rm_free_os_event's.
            NV_ESC_ALLOC_OS_EVENT => {
                need(size == NvIoctlAllocOsEvent::SIZE)?;
                let mut p = NvIoctlAllocOsEvent::read(buf).ok_or(EINVAL)?;
                p.status = RM.lock().alloc_os_event(p.h_client, p.fd, self.id);
                p.write(buf);
                Ok(())
            }
            NV_ESC_FREE_OS_EVENT => {
                need(size == NvIoctlFreeOsEvent::SIZE)?;
                // nv_ioctl_free_os_event_t has the alloc block's layout.
                let mut p = NvIoctlAllocOsEvent::read(buf).ok_or(EINVAL)?;
                p.status = RM.lock().free_os_event(p.h_client, p.fd);
                p.write(buf);
                Ok(())
            }
            NV_ESC_RM_ALLOC => {
                need(size == Nvos21::SIZE || size == Nvos64::SIZE)?;
                self.rm_alloc(buf, ctl)
            }
            NV_ESC_RM_FREE => {
                need(ctl && size == Nvos00::SIZE)?;
                let mut p = Nvos00::read(buf).ok_or(EINVAL)?;
                let mut freed = KVec::new();
                p.status = RM
                    .lock()
                    .free(&caller(self.os()), p.h_root, p.h_object_old, &mut freed);
                drop(freed);
                p.write(buf);
                Ok(())
            }
            NV_ESC_RM_CONTROL => {
                need(ctl && size == Nvos54::SIZE)?;
                let mut p = Nvos54::read(buf).ok_or(EINVAL)?;
                p.status = self.rm_control(&p);
                p.write(buf);
                Ok(())
            }
            NV_ESC_RM_DUP_OBJECT => {
                need(ctl && size == Nvos55::SIZE)?;
                let mut p = Nvos55::read(buf).ok_or(EINVAL)?;
                p.status = RM.lock().dup(
                    &caller(self.os()),
                    p.h_client,
                    p.h_parent,
                    &mut p.h_object,
                    p.h_client_src,
                    p.h_object_src,
                    p.flags,
                );
                p.write(buf);
                Ok(())
            }
            NV_ESC_RM_SHARE => {
                need(ctl && size == Nvos57::SIZE)?;
                let mut p = Nvos57::read(buf).ok_or(EINVAL)?;
                p.status =
                    RM.lock()
                        .share(&caller(self.os()), p.h_client, p.h_object, &p.share_policy);
                p.write(buf);
                Ok(())
            }
            NV_ESC_RM_MAP_MEMORY => {
                need(ctl && size == Nvos33WithFd::SIZE)?;
                let mut p = Nvos33WithFd::read(buf).ok_or(EINVAL)?;
                self.rm_map(&mut p);
                p.write(buf);
                Ok(())
            }
            NV_ESC_RM_VID_HEAP_CONTROL => {
                need(ctl && size == Nvos32::SIZE)?;
                let mut p = Nvos32::read(buf).ok_or(EINVAL)?;
                crate::deprecated::vid_heap(self, &mut p);
                p.write(buf);
                Ok(())
            }
            NV_ESC_RM_UNMAP_MEMORY => {
                need(ctl && size == Nvos34::SIZE)?;
                let mut p = Nvos34::read(buf).ok_or(EINVAL)?;
                p.status = RM.lock().unmap_memory(
                    &caller(self.os()),
                    p.h_client,
                    p.h_memory,
                    p.p_linear_address,
                );
                p.write(buf);
                Ok(())
            }
            _ => Err(EINVAL),
        }
    }

    fn attach_gpus(&self, buf: &mut [u8]) -> Result {
        {
            let rm = RM.lock();
            for id in buf.chunks_exact(4) {
                let id = u32::from_le_bytes([id[0], id[1], id[2], id[3]]);
                if !rm.gpus.iter().any(|g| g.gpu_id() == id) {
                    return Err(EINVAL);
                }
            }
        }
        let mut inner = self.inner.lock();
        if inner.attached {
            return Err(EINVAL);
        }
        inner.attached = true;
        Ok(())
    }

    /// Runs `f` on the export state of this file (lock order: the RM lock,
    /// then this).
    pub(crate) fn with_export<R>(
        &self,
        f: impl FnOnce(&mut Option<crate::export::ExportFd>) -> R,
    ) -> R {
        f(&mut self.inner.lock().export)
    }

    /// Runs `f` on the UVM state of this file (never call with another
    /// file's lock or the RM lock held: see the lock order in [`rm`]).
    pub(crate) fn with_uvm<R>(&self, f: impl FnOnce(&mut UvmState) -> R) -> R {
        f(&mut self.inner.lock().uvm)
    }

    fn register_fd(&self, buf: &mut [u8]) -> Result {
        let p = NvIoctlRegisterFd::read(buf).ok_or(EINVAL)?;
        let fd = u32::try_from(p.ctl_fd).map_err(|_| EINVAL)?;
        // nv_get_file_private(fd, ctl=TRUE): one of our files, the ctl node.
        let (file, nv) = chrdev::lookup_fd(fd).ok_or(EINVAL)?;
        if nv.kind != Kind::Ctl || nv.id == self.id {
            return Err(EINVAL);
        }
        // Not onto a file that is itself registered (locks taken one at a time).
        if nv.inner.lock().registered.is_some() {
            return Err(EINVAL);
        }
        let mut inner = self.inner.lock();
        // Once per file.
        if inner.registered.is_some() {
            return Err(EINVAL);
        }
        inner.registered = Some(Registered {
            _file: file,
            ctl_id: nv.id,
        });
        Ok(())
    }

    fn rm_alloc(&self, buf: &mut [u8], ctl: bool) -> Result {
        // NVOS21 and NVOS64 share their first five fields.
        let short = buf.len() == Nvos21::SIZE;
        let mut p = Nvos64::read(&{
            let mut b = [0u8; Nvos64::SIZE];
            b[..buf.len()].copy_from_slice(buf);
            b
        })
        .ok_or(EINVAL)?;
        if short {
            let s = Nvos21::read(buf).ok_or(EINVAL)?;
            p.params_size = s.params_size;
            p.p_rights_requested = 0;
            p.flags = 0;
        }
        if !ctl && !crate::fgcore::nvabi::class::alloc_allowed_on_gpu_file(p.h_class) {
            return Err(EINVAL);
        }
        let status = self.rm_alloc_inner(&mut p);
        if short {
            let s = Nvos21 {
                h_root: p.h_root,
                h_object_parent: p.h_object_parent,
                h_object_new: p.h_object_new,
                h_class: p.h_class,
                p_alloc_parms: p.p_alloc_parms,
                params_size: p.params_size,
                status,
            };
            s.write(buf);
        } else {
            p.status = status;
            p.write(buf);
        }
        Ok(())
    }

    fn rm_alloc_inner(&self, p: &mut Nvos64) -> u32 {
        let is_client = matches!(p.h_class, NV01_ROOT | NV01_ROOT_NON_PRIV | NV01_ROOT_CLIENT);
        if p.flags & crate::fgcore::nvabi::class::NVOS64_FLAGS_FINN_SERIALIZED != 0 {
            return NV_ERR_NOT_SUPPORTED;
        }
        // The RM copies the class's registered size, not paramsSize.
        let n = class_info(p.h_class)
            .and_then(|c| c.params.copy_size(p.p_alloc_parms == 0))
            .unwrap_or(0);
        // The branch's size of the class's structure (docs/abi-550.md): a
        // 550 block is the 580 one less its trailing fields, which stay 0.
        let user_n = branch::class_params_size(p.h_class, n);
        let mut params = match KVec::from_elem(0u8, n, GFP_KERNEL) {
            Ok(v) => v,
            Err(_) => return NV_ERR_NO_MEMORY,
        };
        if n > 0 {
            if p.p_alloc_parms == 0 {
                return NV_ERR_INVALID_ARGUMENT;
            }
            if read_user(p.p_alloc_parms, &mut params[..user_n]).is_err() {
                return NV_ERR_INVALID_POINTER;
            }
        }
        if is_client {
            p.h_root = 0;
        }
        let status = RM.lock().alloc(
            &caller(self.os()),
            p.h_root,
            p.h_object_parent,
            &mut p.h_object_new,
            p.h_class,
            &mut params,
        );
        if status == NV_OK && n > 0 && write_user(p.p_alloc_parms, &params[..user_n]).is_err() {
            return NV_ERR_INVALID_POINTER;
        }
        status
    }

    /// One RM control with `params` in kernel memory (the deprecated
    /// layer's inner call, `pContextInternal->RmControl`).
    pub(crate) fn control_kernel_params(
        &self,
        h_client: u32,
        h_object: u32,
        cmd: u32,
        params: &mut [u8],
    ) -> u32 {
        ctrl::control(
            &mut RM.lock(),
            &caller(self.os()),
            h_client,
            h_object,
            cmd,
            params,
        )
    }

    fn rm_control(&self, p: &Nvos54) -> u32 {
        if p.flags & crate::fgcore::nvabi::class::NVOS54_FLAGS_FINN_SERIALIZED != 0 {
            return NV_ERR_NOT_SUPPORTED;
        }
        if let Some(s) = deprecated::control(self, p) {
            return s;
        }
        if let Some(s) = crate::embedded::control(self, p) {
            return s;
        }
        let n = p.params_size as usize;
        if n > ctrl::MAX_PARAMS || (n > 0 && p.params == 0) {
            return NV_ERR_INVALID_ARGUMENT;
        }
        let mut params = match KVec::from_elem(0u8, n, GFP_KERNEL) {
            Ok(v) => v,
            Err(_) => return NV_ERR_NO_MEMORY,
        };
        if n > 0 && read_user(p.params, &mut params).is_err() {
            return NV_ERR_INVALID_POINTER;
        }
        let status = ctrl::control(
            &mut RM.lock(),
            &caller(self.os()),
            p.h_client,
            p.h_object,
            p.cmd,
            &mut params,
        );
        if status == NV_OK && n > 0 && write_user(p.params, &params).is_err() {
            return NV_ERR_INVALID_POINTER;
        }
        status
    }

    fn rm_map(&self, w: &mut Nvos33WithFd) {
        let p = &mut w.params;
        // nv_get_file_private(params.fd): one of our nvidia files.
        let target = u32::try_from(w.fd).ok().and_then(chrdev::lookup_fd);
        let Some((_file, nv)) = target else {
            p.status = NV_ERR_INVALID_ARGUMENT;
            return;
        };
        let kind = match nv.kind {
            Kind::Ctl => MapTarget::Ctl,
            Kind::Gpu(n) => MapTarget::Gpu(n),
            Kind::Uvm => {
                p.status = NV_ERR_INVALID_ARGUMENT;
                return;
            }
        };
        let caller = caller(self.os());
        let mut rm = RM.lock();
        let g = match rm.map_memory(
            &caller, p.h_client, p.h_device, p.h_memory, p.offset, p.length, kind,
        ) {
            Ok(g) => g,
            Err(s) => {
                p.status = s;
                return;
            }
        };
        // One mmap context per file (nv_add_mapping_context_to_file).
        let mut t = nv.inner.lock();
        if t.mmap.is_some() {
            drop(t);
            rm.forget_mapping(p.h_client, g.addr);
            p.status = NV_ERR_STATE_IN_USE;
            return;
        }
        p.p_linear_address = g.addr;
        t.mmap = Some(MmapCtx {
            backing: g.backing,
            first: g.first_page,
            pages: g.pages,
            pfnmap: g.pfnmap,
        });
        p.status = NV_OK;
    }
}

/// NV_ESC_CHECK_VERSION_STR as `RmPerformVersionCheck` (osapi.c, the same
/// in 550 and 580): the reply is RECOGNIZED whatever the outcome; QUERY
/// gets the driver's string; STRICT compares up to the NUL, RELAXED up to
/// the first '.', character by character; on a mismatch the driver's
/// string replaces the client's, a log line names both, and the ioctl fails
/// with EINVAL (the block is still copied back, so the client can print
/// the driver's version).
fn check_version(buf: &mut [u8]) -> Result {
    /// `NV_RM_API_VERSION_REPLY_RECOGNIZED` (nv-ioctl.h).
    const NV_RM_API_VERSION_REPLY_RECOGNIZED: u32 = 1;
    let mut p = NvIoctlRmApiVersion::read(buf).ok_or(EINVAL)?;
    let ours = branch::current().version.as_bytes();
    p.reply = NV_RM_API_VERSION_REPLY_RECOGNIZED;
    let put_ours = |p: &mut NvIoctlRmApiVersion| {
        p.version_string = [0; 64];
        p.version_string[..ours.len()].copy_from_slice(ours);
    };
    if p.cmd == NV_RM_API_VERSION_CMD_QUERY {
        put_ours(&mut p);
        p.write(buf);
        return Ok(());
    }
    let relaxed = p.cmd == NV_RM_API_VERSION_CMD_RELAXED;
    let mut ok = false;
    for i in 0..p.version_string.len() {
        let c = p.version_string[i];
        let r = ours.get(i).copied().unwrap_or(0);
        if c != r {
            break;
        }
        if (relaxed && c == b'.') || c == 0 {
            ok = true;
            break;
        }
    }
    if !ok {
        let last = p.version_string.len() - 1;
        p.version_string[last] = 0;
        let theirs = p.version_string.split(|b| *b == 0).next().unwrap_or(&[]);
        pr_err!(
            "NVRM: API mismatch: the client has the version {}, but this kernel module has the version {}\n",
            kernel::str::BStr::from_bytes(theirs),
            branch::current().version
        );
        put_ours(&mut p);
    }
    p.write(buf);
    if ok {
        Ok(())
    } else {
        Err(EINVAL)
    }
}

fn card_info(buf: &mut [u8]) -> Result {
    let rm = RM.lock();
    let n = buf.len() / NvIoctlCardInfo::SIZE;
    if n < rm.gpus.len() {
        return Err(EINVAL);
    }
    buf.fill(0);
    for (i, g) in rm.gpus.iter().enumerate() {
        let out = &mut buf[i * NvIoctlCardInfo::SIZE..];
        let mut e = NvIoctlCardInfo::ZERO;
        e.valid = 1;
        e.pci_info = NvPciInfo {
            domain: 0,
            bus: g.bus(),
            slot: 0,
            function: 0,
            pad0: 0,
            vendor_id: gpu::PCI_VENDOR_ID,
            device_id: gpu::PCI_DEVICE_ID,
        };
        e.gpu_id = g.gpu_id();
        e.reg_address = 0xf000_0000 + (u64::from(g.index) << 24);
        e.reg_size = 16 << 20;
        e.fb_address = 0x20_0000_0000 + (u64::from(g.index) << 36);
        e.fb_size = g.vram;
        e.minor_number = g.index;
        e.write(out);
    }
    Ok(())
}
