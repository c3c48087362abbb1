// SPDX-License-Identifier: GPL-2.0

//! The resource manager: clients, their object trees, and the operations
//! on them (alloc, free, dup, map), with the real driver's rules:
//!
//! - a client belongs to the file it was allocated through (its "OS
//!   info"); a user call on a client of another file fails with
//!   `NV_ERR_INVALID_CLIENT` (the strict client validation of 580);
//!   kernel callers ([`Os::Kernel`]) may act on any client;
//! - freeing an object frees its whole subtree, freeing the client handle
//!   frees the client; closing a file frees every client it owns;
//! - a dup shares the underlying resource (memory stays charged, a channel
//!   group stays on the runlist) until its last handle is freed;
//! - RM failures are `NV_STATUS` values, never errnos.
//!
//! One global mutex ([`RM`]) serializes all of it, as the RM's API lock
//! does. Lock order: `RM` → a file's mmap context → an engine's lock.

use crate::{
    fgcore::nvabi::{
        class::{self, *},
        rm::RsSharePolicy,
        sim,
        status::*,
        wire::Wire,
    },
    gpu::Gpu,
    mem::Backing,
};
use core::sync::atomic::{AtomicU32, Ordering};
use kernel::{
    new_mutex,
    page::PAGE_SIZE,
    prelude::*,
    sync::{Arc, Mutex},
};

kernel::sync::global_lock! {
    // SAFETY: initialized in the module initializer before first use.
    pub(crate) unsafe(uninit) static RM: Mutex<RmState> = RmState::new();
}

/// Who owns a client / who is calling.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum Os {
    /// A user file (its nvsim file id).
    File(u64),
    /// A kernel caller of the exported RM API.
    Kernel,
}

/// The calling context of one RM operation.
#[derive(Clone, Copy)]
pub(crate) struct Caller {
    /// Whose OS info the call carries (the ctl file, or kernel).
    pub(crate) os: Os,
    /// `current`'s thread-group id.
    pub(crate) tgid: i32,
    /// `capable(CAP_SYS_ADMIN)` (RS_PRIV_LEVEL_USER_ROOT).
    pub(crate) admin: bool,
    /// `capable(CAP_SYS_NICE)` (the RS_ACCESS_NICE right).
    pub(crate) nice: bool,
}

impl Caller {
    /// Whether the call may use controls that need the NICE access right.
    pub(crate) fn has_nice(&self) -> bool {
        self.os == Os::Kernel || self.admin || self.nice
    }
}

/// A memory object's resource, shared by its dups.
#[pin_data(PinnedDrop)]
pub(crate) struct MemObj {
    pub(crate) gpu: Arc<Gpu>,
    /// Size in bytes (as allocated, after rounding).
    pub(crate) size: u64,
    /// Charged to the GPU's heap (video memory).
    pub(crate) vid: bool,
    /// (client, handle) of the allocation that made it: the memory
    /// descriptor's owner (`isMemDescOwner`); dups and imports are not.
    pub(crate) owner: (u32, u32),
    /// How many objects (the allocation, its dups and its imports) name
    /// it: the memory descriptor's `DupCount`. Kept by [`Obj::new`] and
    /// `Obj`'s drop.
    pub(crate) objects: AtomicU32,
    #[pin]
    backing: Mutex<Option<Arc<Backing>>>,
}

#[pinned_drop]
impl PinnedDrop for MemObj {
    fn drop(self: Pin<&mut Self>) {
        if self.vid {
            self.gpu.uncharge(self.size);
        }
    }
}

impl MemObj {
    /// The pages behind the object, allocated on first use.
    pub(crate) fn backing(&self) -> Result<Arc<Backing>> {
        let mut b = self.backing.lock();
        if let Some(b) = b.as_ref() {
            return Ok(b.clone());
        }
        let new = Arc::new(Backing::new(self.size)?, GFP_KERNEL)?;
        *b = Some(new.clone());
        Ok(new)
    }
}

/// A channel group on an engine's runlist; leaves it when dropped.
pub(crate) struct TsgRef {
    pub(crate) gpu: Arc<Gpu>,
    pub(crate) id: u32,
}

impl Drop for TsgRef {
    fn drop(&mut self) {
        self.gpu.engine.remove_tsg(self.id);
    }
}

/// A channel on an engine; removed when dropped.
pub(crate) struct ChanRef {
    pub(crate) gpu: Arc<Gpu>,
    pub(crate) chid: u32,
}

impl Drop for ChanRef {
    fn drop(&mut self) {
        self.gpu.engine.remove_chan(self.chid);
    }
}

/// A usermode (doorbell) region watched by an engine; unwatched when dropped.
pub(crate) struct DoorbellRef {
    pub(crate) gpu: Arc<Gpu>,
    pub(crate) id: u32,
    pub(crate) mem: Arc<Backing>,
}

impl Drop for DoorbellRef {
    fn drop(&mut self) {
        self.gpu.engine.remove_doorbell(self.id);
    }
}

/// What an object is.
#[derive(Clone)]
pub(crate) enum Data {
    /// No resource of its own (VA space, context share, engine objects).
    Plain,
    /// `NV01_DEVICE_0`.
    Device,
    /// `NV20_SUBDEVICE_0`.
    Subdevice,
    /// Video or system memory.
    Memory(Arc<MemObj>),
    /// `HOPPER_USERMODE_A`.
    Usermode(Arc<DoorbellRef>),
    /// `KEPLER_CHANNEL_GROUP_A`.
    Tsg(Arc<TsgRef>),
    /// `HOPPER_CHANNEL_GPFIFO_A`.
    Channel(Arc<ChanRef>),
}

/// One object of a client.
pub(crate) struct Obj {
    pub(crate) handle: u32,
    pub(crate) parent: u32,
    pub(crate) class: u32,
    /// GPU index (every object below a device has one).
    pub(crate) gpu: u32,
    pub(crate) data: Data,
}

impl Obj {
    /// An object; a memory object counts itself in its resource's
    /// [`MemObj::objects`] until it is dropped.
    pub(crate) fn new(handle: u32, parent: u32, class: u32, gpu: u32, data: Data) -> Self {
        if let Data::Memory(m) = &data {
            m.objects.fetch_add(1, Ordering::Relaxed);
        }
        Obj {
            handle,
            parent,
            class,
            gpu,
            data,
        }
    }
}

impl Drop for Obj {
    fn drop(&mut self) {
        if let Data::Memory(m) = &self.data {
            m.objects.fetch_sub(1, Ordering::Relaxed);
        }
    }
}

/// A CPU mapping made by RM_MAP_MEMORY (for RM_UNMAP_MEMORY).
struct Mapping {
    h_memory: u32,
    addr: u64,
}

/// One RM client.
pub(crate) struct Client {
    pub(crate) handle: u32,
    pub(crate) os: Os,
    pub(crate) tgid: i32,
    pub(crate) objs: KVec<Obj>,
    next_handle: u32,
    maps: KVec<Mapping>,
    /// Objects shared with every client for dup (RM_SHARE, type ALL).
    shared: KVec<u32>,
}

impl Client {
    pub(crate) fn obj(&self, h: u32) -> Option<&Obj> {
        self.objs.iter().find(|o| o.handle == h)
    }
}

/// Objects taken out of the state, dropped by the caller after unlocking.
pub(crate) type Freed = KVec<Obj>;

/// A mapping granted by [`RmState::map_memory`].
pub(crate) struct Granted {
    pub(crate) backing: Arc<Backing>,
    pub(crate) first_page: usize,
    pub(crate) pages: usize,
    pub(crate) addr: u64,
    /// The usermode (doorbell) region: mapped as a PFN mapping.
    pub(crate) pfnmap: bool,
}

/// What the mapping's fd must be.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum MapTarget {
    /// `/dev/nvidiactl` (system memory).
    Ctl,
    /// `/dev/nvidia<n>` (video memory, usermode).
    Gpu(u32),
}

/// The whole RM state.
pub(crate) struct RmState {
    pub(crate) gpus: KVec<Arc<Gpu>>,
    pub(crate) clients: KVec<Client>,
    next_client: u32,
    next_file: u64,
    /// The next GPU virtual address an NV50_MEMORY_VIRTUAL reservation gets
    /// (one range for all VA spaces: nvsim keeps no page tables).
    next_va: u64,
    /// OS events (NV_ESC_ALLOC_OS_EVENT): the driver's `event_list`, one
    /// per (client handle, fd key), each owned by the file it was made on.
    os_events: KVec<OsEvent>,
}

/// One `nv_event_t`: the client handle and fd number it is keyed by (the
/// fd is never dereferenced), and the file whose release frees it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct OsEvent {
    pub(crate) h_client: u32,
    pub(crate) fd: u32,
    pub(crate) file: u64,
}

/// Client handles the RM picks (`0xc1dxxxxx`, as resserv does).
const CLIENT_HANDLE_BASE: u32 = 0xc1d0_0000;
/// Object handles the RM picks (`0xcaf0xxxx`, as resserv does).
const OBJECT_HANDLE_BASE: u32 = 0xcaf0_0000;
/// First GPU virtual address of NV50_MEMORY_VIRTUAL reservations.
const VA_BASE: u64 = 0x1_0000_0000;
/// Base of the fake bus addresses RM_MAP_MEMORY returns.
const MAP_BASE: u64 = 0x2000_0000_0000;

fn is_dev_or_subdev(c: u32) -> bool {
    c == NV01_DEVICE_0 || c == NV20_SUBDEVICE_0
}

impl RmState {
    /// The empty state (the GPUs are set at module init).
    pub(crate) const fn new() -> Self {
        RmState {
            gpus: KVec::new(),
            clients: KVec::new(),
            next_client: 0,
            next_file: 1,
            next_va: VA_BASE,
            os_events: KVec::new(),
        }
    }

    /// `allocate_os_event` (osapi.c): one event per (client, fd) whatever
    /// file made it (else, as `RmAllocOsEvent` maps every failure,
    /// NV_ERR_INSUFFICIENT_RESOURCES); the client is not looked up.
    pub(crate) fn alloc_os_event(&mut self, h_client: u32, fd: u32, file: u64) -> u32 {
        if self
            .os_events
            .iter()
            .any(|e| e.h_client == h_client && e.fd == fd)
        {
            return NV_ERR_INSUFFICIENT_RESOURCES;
        }
        match self
            .os_events
            .push(OsEvent { h_client, fd, file }, GFP_KERNEL)
        {
            Ok(()) => NV_OK,
            Err(_) => NV_ERR_INSUFFICIENT_RESOURCES,
        }
    }

    /// `free_os_events(nvfp, 0)`: the events made on file `file` (its
    /// release).
    pub(crate) fn free_os_events_of(&mut self, file: u64) {
        let mut i = 0;
        while i < self.os_events.len() {
            if self.os_events[i].file == file {
                let _ = self.os_events.remove(i);
            } else {
                i += 1;
            }
        }
    }

    /// `free_os_event`: the event of (client, fd), from any file; none is
    /// NV_ERR_INVALID_EVENT.
    pub(crate) fn free_os_event(&mut self, h_client: u32, fd: u32) -> u32 {
        match self
            .os_events
            .iter()
            .position(|e| e.h_client == h_client && e.fd == fd)
        {
            Some(i) => {
                let _ = self.os_events.remove(i);
                NV_OK
            }
            None => NV_ERR_INVALID_EVENT,
        }
    }

    /// Sets the GPUs (module init).
    pub(crate) fn set_gpus(&mut self, gpus: KVec<Arc<Gpu>>) {
        self.gpus = gpus;
    }

    /// A new file id (files are clients' owners).
    pub(crate) fn new_file_id(&mut self) -> u64 {
        let id = self.next_file;
        self.next_file += 1;
        id
    }

    /// Frees everything (module unload); returns it for dropping.
    pub(crate) fn teardown(&mut self) -> (KVec<Client>, KVec<Arc<Gpu>>) {
        // The event list's buffer goes too (its entries went with their
        // files; the static outlives the module's allocations otherwise).
        drop(core::mem::take(&mut self.os_events));
        (
            core::mem::take(&mut self.clients),
            core::mem::take(&mut self.gpus),
        )
    }

    pub(crate) fn gpu(&self, i: u32) -> Option<&Arc<Gpu>> {
        self.gpus.get(usize::try_from(i).ok()?)
    }

    fn client_index(&self, h: u32) -> Option<usize> {
        self.clients.iter().position(|c| c.handle == h)
    }

    /// The client `h` if `caller` may use it.
    pub(crate) fn client_for(&self, caller: &Caller, h: u32) -> core::result::Result<usize, u32> {
        let i = self.client_index(h).ok_or(NV_ERR_INVALID_CLIENT)?;
        match caller.os {
            Os::Kernel => Ok(i),
            os if self.clients[i].os == os => Ok(i),
            _ => Err(NV_ERR_INVALID_CLIENT),
        }
    }

    /// The client at index `i`.
    pub(crate) fn client(&self, i: usize) -> &Client {
        &self.clients[i]
    }

    /// Frees every client owned by file `id` (its release).
    pub(crate) fn free_clients_of(&mut self, id: u64) -> KVec<Client> {
        let mut out = KVec::new();
        let mut i = 0;
        while i < self.clients.len() {
            if self.clients[i].os == Os::File(id) {
                if let Ok(c) = self.clients.remove(i) {
                    // On allocation failure the client is dropped here, under
                    // the lock, which the lock order allows.
                    let _ = out.push(c, GFP_KERNEL);
                }
            } else {
                i += 1;
            }
        }
        out
    }

    fn pick_client_handle(&mut self) -> u32 {
        loop {
            let h = CLIENT_HANDLE_BASE | (self.next_client & 0xf_ffff);
            self.next_client = self.next_client.wrapping_add(1);
            if self.client_index(h).is_none() {
                return h;
            }
        }
    }

    /// Checks or picks the handle of a new object in client `ci`.
    fn new_handle(&mut self, ci: usize, want: u32) -> core::result::Result<u32, u32> {
        let c = &mut self.clients[ci];
        if want != 0 {
            if want == c.handle || c.obj(want).is_some() {
                return Err(NV_ERR_INSERT_DUPLICATE_NAME);
            }
            return Ok(want);
        }
        loop {
            let h = OBJECT_HANDLE_BASE | (c.next_handle & 0xf_ffff);
            c.next_handle = c.next_handle.wrapping_add(1);
            if h != c.handle && c.obj(h).is_none() {
                return Ok(h);
            }
        }
    }

    /// RM_ALLOC / NV04_ALLOC. `params` holds the class's registered
    /// parameter block (empty when it has none); it is copied back to the
    /// caller on success.
    pub(crate) fn alloc(
        &mut self,
        caller: &Caller,
        h_root: u32,
        h_parent: u32,
        h_new: &mut u32,
        class: u32,
        params: &mut [u8],
    ) -> u32 {
        let class = effective_class(class);
        if class == NV01_ROOT_CLIENT {
            let h = if *h_new != 0 {
                if self.client_index(*h_new).is_some() {
                    return NV_ERR_INSERT_DUPLICATE_NAME;
                }
                *h_new
            } else {
                self.pick_client_handle()
            };
            let c = Client {
                handle: h,
                os: caller.os,
                tgid: caller.tgid,
                objs: KVec::new(),
                next_handle: 0,
                maps: KVec::new(),
                shared: KVec::new(),
            };
            if self.clients.push(c, GFP_KERNEL).is_err() {
                return NV_ERR_NO_MEMORY;
            }
            // The handle is also written to *pAllocParms.
            if params.len() >= 4 {
                params[..4].copy_from_slice(&h.to_le_bytes());
            }
            *h_new = h;
            return NV_OK;
        }
        let ci = match self.client_for(caller, h_root) {
            Ok(i) => i,
            Err(s) => return s,
        };
        // The parent: the client itself, or one of its objects.
        let (pclass, pgpu, pdata) = if h_parent == h_root {
            (NV01_ROOT_CLIENT, u32::MAX, Data::Plain)
        } else {
            match self.clients[ci].obj(h_parent) {
                Some(o) => (o.class, o.gpu, o.data.clone()),
                None => return NV_ERR_INVALID_OBJECT_PARENT,
            }
        };
        let handle = match self.new_handle(ci, *h_new) {
            Ok(h) => h,
            Err(s) => return s,
        };
        let (gpu, data) =
            match self.construct(caller, ci, handle, class, pclass, pgpu, &pdata, params) {
                Ok(x) => x,
                Err(s) => return s,
            };
        let obj = Obj::new(handle, h_parent, class, gpu, data);
        if self.clients[ci].objs.push(obj, GFP_KERNEL).is_err() {
            return NV_ERR_NO_MEMORY;
        }
        *h_new = handle;
        NV_OK
    }

    #[allow(clippy::too_many_arguments)]
    fn construct(
        &mut self,
        caller: &Caller,
        ci: usize,
        handle: u32,
        class: u32,
        pclass: u32,
        pgpu: u32,
        pdata: &Data,
        params: &mut [u8],
    ) -> core::result::Result<(u32, Data), u32> {
        let h_client = self.clients[ci].handle;
        let need_parent = |ok: bool| {
            if ok {
                Ok(())
            } else {
                Err(NV_ERR_INVALID_OBJECT_PARENT)
            }
        };
        match class {
            NV01_DEVICE_0 => {
                need_parent(pclass == NV01_ROOT_CLIENT)?;
                let p = class::Nv0080AllocParameters::read(params)
                    .unwrap_or(class::Nv0080AllocParameters::ZERO);
                if self.gpu(p.device_id).is_none() {
                    return Err(NV_ERR_INVALID_ARGUMENT);
                }
                // deviceConstruct: below kernel privilege (root included),
                // the caller must hold an open file of this GPU.
                if caller.os != Os::Kernel && !crate::chrdev::gpu_accessible(p.device_id) {
                    return Err(NV_ERR_INSUFFICIENT_PERMISSIONS);
                }
                // A second device of the same GPU under one client is
                // NV_OK on the H200 (gpu-access-root.txt: d2 beside d).
                Ok((p.device_id, Data::Device))
            }
            NV20_SUBDEVICE_0 => {
                need_parent(pclass == NV01_DEVICE_0)?;
                let p = class::Nv2080AllocParameters::read(params)
                    .unwrap_or(class::Nv2080AllocParameters::ZERO);
                if p.sub_device_id != 0 {
                    return Err(NV_ERR_INVALID_ARGUMENT);
                }
                Ok((pgpu, Data::Subdevice))
            }
            NV01_MEMORY_LOCAL_USER | NV01_MEMORY_SYSTEM => {
                need_parent(is_dev_or_subdev(pclass))?;
                let mut p =
                    class::NvMemoryAllocationParams::read(params).ok_or(NV_ERR_INVALID_ARGUMENT)?;
                let vid = class == NV01_MEMORY_LOCAL_USER;
                // Order as measured on the H100 (tests/fidelity): a zero
                // size first, then a zero owner, then everything else.
                if p.size == 0 {
                    return Err(NV_ERR_INVALID_ARGUMENT);
                }
                if p.owner == 0 {
                    return Err(NV_ERR_INVALID_OWNER);
                }
                if vid
                    && (p.flags & NVOS32_ALLOC_FLAGS_VIRTUAL != 0
                        || attr_location(p.attr) == NVOS32_ATTR_LOCATION_PCI)
                {
                    return Err(NV_ERR_INVALID_ARGUMENT);
                }
                let gpu = self.gpu(pgpu).ok_or(NV_ERR_INVALID_DEVICE)?.clone();
                let size = round_alloc(p.size, vid).ok_or(NV_ERR_NO_MEMORY)?;
                if vid && !gpu.charge(size) {
                    return Err(NV_ERR_NO_MEMORY);
                }
                // From here the charge is owned by the `MemObj` (uncharged on drop).
                let m = Arc::pin_init(
                    try_pin_init!(MemObj { gpu, size, vid, owner: (h_client, handle), objects: AtomicU32::new(0), backing <- new_mutex!(None, "MemObj::backing") }? Error),
                    GFP_KERNEL,
                );
                let m = match m {
                    Ok(m) => m,
                    Err(_) => {
                        if vid {
                            self.gpu(pgpu).map(|g| g.uncharge(size));
                        }
                        return Err(NV_ERR_NO_MEMORY);
                    }
                };
                p.size = size;
                p.limit = size - 1;
                p.address = 0;
                p.write(params);
                Ok((pgpu, Data::Memory(m)))
            }
            // binapiConstruct: nothing to construct (the object routes
            // controls to the GSP's physical RM; nvsim answers those it has
            // and NOT_SUPPORTED for the rest, as the physical RM does for a
            // command it does not know). Parent: a subdevice.
            NV2081_BINAPI => {
                need_parent(pclass == NV20_SUBDEVICE_0)?;
                Ok((pgpu, Data::Plain))
            }
            // virtmemConstruct: a GPU virtual address range (no memory) in
            // a VA space of the client (hVASpace; 0: the device's), of a
            // non-zero size, aligned to its alignment (at least 64 KiB, the
            // big page): offset = its address, limit its last byte.
            NV50_MEMORY_VIRTUAL => {
                need_parent(is_dev_or_subdev(pclass))?;
                let mut p =
                    class::NvMemoryAllocationParams::read(params).ok_or(NV_ERR_INVALID_ARGUMENT)?;
                if p.size == 0 {
                    return Err(NV_ERR_INVALID_ARGUMENT);
                }
                if p.h_va_space != 0
                    && self.clients[ci].obj(p.h_va_space).map(|o| o.class) != Some(FERMI_VASPACE_A)
                {
                    return Err(NV_ERR_INVALID_OBJECT_HANDLE);
                }
                let align = p.alignment.max(64 << 10).checked_next_power_of_two();
                let va = align
                    .and_then(|a| self.next_va.checked_next_multiple_of(a))
                    .ok_or(NV_ERR_NO_MEMORY)?;
                let end = va.checked_add(p.size).ok_or(NV_ERR_NO_MEMORY)?;
                if end > 1 << 49 {
                    return Err(NV_ERR_NO_MEMORY);
                }
                self.next_va = end;
                p.offset = va;
                p.limit = end - 1;
                p.write(params);
                Ok((pgpu, Data::Plain))
            }
            // thirdpartyp2pConstruct: the GPUDirect (third-party P2P)
            // object of a subdevice; nvsim models no third-party peer, so
            // it only answers its VA-space registration (ctrl.rs).
            NV50_THIRD_PARTY_P2P => {
                need_parent(pclass == NV20_SUBDEVICE_0)?;
                Ok((pgpu, Data::Plain))
            }
            FERMI_VASPACE_A => {
                need_parent(is_dev_or_subdev(pclass))?;
                Ok((pgpu, Data::Plain))
            }
            KEPLER_CHANNEL_GROUP_A => {
                need_parent(pclass == NV01_DEVICE_0)?;
                let p = class::NvChannelGroupAllocationParameters::read(params)
                    .ok_or(NV_ERR_INVALID_ARGUMENT)?;
                // NV2080_ENGINE_TYPE_NULL is refused (H100: NV_ERR_INVALID_ARGUMENT).
                if p.engine_type == 0 {
                    return Err(NV_ERR_INVALID_ARGUMENT);
                }
                let gpu = self.gpu(pgpu).ok_or(NV_ERR_INVALID_DEVICE)?.clone();
                let id = gpu
                    .engine
                    .add_tsg(
                        h_client,
                        handle,
                        caller.tgid,
                        gpu.profile.default_timeslice_us,
                    )
                    .map_err(|_| NV_ERR_NO_MEMORY)?;
                let r = Arc::new(TsgRef { gpu, id }, GFP_KERNEL).map_err(|_| NV_ERR_NO_MEMORY)?;
                Ok((pgpu, Data::Tsg(r)))
            }
            FERMI_CONTEXT_SHARE_A => {
                need_parent(pclass == KEPLER_CHANNEL_GROUP_A)?;
                Ok((pgpu, Data::Plain))
            }
            HOPPER_CHANNEL_GPFIFO_A => {
                let Data::Tsg(tsg) = pdata else {
                    return Err(NV_ERR_INVALID_OBJECT_PARENT);
                };
                let p = class::NvChannelAllocParams::read(params).ok_or(NV_ERR_INVALID_ARGUMENT)?;
                let Some(Data::Memory(m)) =
                    self.clients[ci].obj(p.h_userd_memory[0]).map(|o| &o.data)
                else {
                    return Err(NV_ERR_INVALID_ARGUMENT);
                };
                let entries = p.gp_fifo_entries;
                if entries < 2 || !entries.is_power_of_two() {
                    return Err(NV_ERR_INVALID_ARGUMENT);
                }
                let mem = m.backing().map_err(|_| NV_ERR_INVALID_ARGUMENT)?;
                let userd =
                    usize::try_from(p.userd_offset[0]).map_err(|_| NV_ERR_INVALID_ARGUMENT)?;
                let ring =
                    usize::try_from(p.gp_fifo_offset).map_err(|_| NV_ERR_INVALID_ARGUMENT)?;
                let ring_end = (entries as usize)
                    .checked_mul(sim::GPFIFO_ENTRY_SIZE)
                    .and_then(|l| l.checked_add(ring));
                let userd_end = userd.checked_add(sim::USERD_SIZE);
                if ring_end.is_none_or(|e| e > mem.size())
                    || userd_end.is_none_or(|e| e > mem.size())
                    || ring % 8 != 0
                    || userd % 4 != 0
                {
                    return Err(NV_ERR_INVALID_ARGUMENT);
                }
                let gpu = tsg.gpu.clone();
                let chid = gpu
                    .engine
                    .add_chan(tsg.id, h_client, mem, userd, ring, entries)
                    .map_err(|_| NV_ERR_INVALID_STATE)?;
                let r =
                    Arc::new(ChanRef { gpu, chid }, GFP_KERNEL).map_err(|_| NV_ERR_NO_MEMORY)?;
                Ok((pgpu, Data::Channel(r)))
            }
            HOPPER_COMPUTE_A | HOPPER_DMA_COPY_A => {
                need_parent(pclass == HOPPER_CHANNEL_GPFIFO_A)?;
                Ok((pgpu, Data::Plain))
            }
            HOPPER_USERMODE_A => {
                need_parent(pclass == NV20_SUBDEVICE_0)?;
                let gpu = self.gpu(pgpu).ok_or(NV_ERR_INVALID_DEVICE)?.clone();
                let mem = Backing::new(sim::USERMODE_SIZE).map_err(|_| NV_ERR_NO_MEMORY)?;
                let mem = Arc::new(mem, GFP_KERNEL).map_err(|_| NV_ERR_NO_MEMORY)?;
                let id = gpu
                    .engine
                    .add_doorbell(h_client, mem.clone())
                    .map_err(|_| NV_ERR_NO_MEMORY)?;
                let r = Arc::new(DoorbellRef { gpu, id, mem }, GFP_KERNEL)
                    .map_err(|_| NV_ERR_NO_MEMORY)?;
                Ok((pgpu, Data::Usermode(r)))
            }
            _ => Err(NV_ERR_INVALID_CLASS),
        }
    }

    /// RM_FREE / NV01_FREE: frees `h_old` and its subtree, or the client.
    pub(crate) fn free(
        &mut self,
        caller: &Caller,
        h_root: u32,
        h_old: u32,
        out: &mut Freed,
    ) -> u32 {
        if self.client_index(h_root).is_none() {
            return NV_ERR_INVALID_OBJECT_HANDLE;
        }
        let ci = match self.client_for(caller, h_root) {
            Ok(i) => i,
            Err(s) => return s,
        };
        if h_old == h_root {
            if let Ok(c) = self.clients.remove(ci) {
                for o in c.objs {
                    let _ = out.push(o, GFP_KERNEL);
                }
            }
            return NV_OK;
        }
        let c = &mut self.clients[ci];
        if c.obj(h_old).is_none() {
            // The H100 answers NV_OK to freeing a handle the (live) client
            // does not have (a second free; CUDA does it too).
            return NV_OK;
        }
        // Mark the subtree: repeat until no object's parent is newly marked.
        let mut doomed: KVec<u32> = KVec::new();
        if doomed.push(h_old, GFP_KERNEL).is_err() {
            return NV_ERR_NO_MEMORY;
        }
        loop {
            let mut grew = false;
            for o in c.objs.iter() {
                if doomed.contains(&o.parent) && !doomed.contains(&o.handle) {
                    if doomed.push(o.handle, GFP_KERNEL).is_err() {
                        return NV_ERR_NO_MEMORY;
                    }
                    grew = true;
                }
            }
            if !grew {
                break;
            }
        }
        c.maps.retain(|m| !doomed.contains(&m.h_memory));
        let mut i = 0;
        while i < c.objs.len() {
            if doomed.contains(&c.objs[i].handle) {
                if let Ok(o) = c.objs.remove(i) {
                    let _ = out.push(o, GFP_KERNEL);
                }
            } else {
                i += 1;
            }
        }
        NV_OK
    }

    /// RM_SHARE: changes an object's share policy. Modelled: type ALL
    /// (1) with the DUP_OBJECT right (bit 0 of the access mask) lets every
    /// client dup the object, and the REVOKE action (bit 0) takes that
    /// back; the other types (per process, per client, per security token,
    /// ...) are accepted and change nothing, since nvsim's default policy
    /// (same process or same file) already is what CUDA asks of them.
    pub(crate) fn share(
        &mut self,
        caller: &Caller,
        h_client: u32,
        h_object: u32,
        policy: &RsSharePolicy,
    ) -> u32 {
        let ci = match self.client_for(caller, h_client) {
            Ok(i) => i,
            Err(s) => return s,
        };
        let c = &mut self.clients[ci];
        if h_object == h_client || c.obj(h_object).is_none() {
            return NV_ERR_OBJECT_NOT_FOUND;
        }
        const RS_SHARE_TYPE_ALL: u16 = 1;
        const RS_SHARE_TYPE_MAX: u16 = 8;
        const RS_SHARE_ACTION_FLAG_REVOKE: u8 = 1;
        const RS_ACCESS_DUP_OBJECT: u32 = 1;
        if policy.type_ == 0 || policy.type_ >= RS_SHARE_TYPE_MAX {
            return NV_ERR_INVALID_ARGUMENT;
        }
        if policy.type_ != RS_SHARE_TYPE_ALL || policy.access_mask & RS_ACCESS_DUP_OBJECT == 0 {
            return NV_OK;
        }
        if policy.action & RS_SHARE_ACTION_FLAG_REVOKE != 0 {
            c.shared.retain(|h| *h != h_object);
        } else if !c.shared.contains(&h_object) && c.shared.push(h_object, GFP_KERNEL).is_err() {
            return NV_ERR_NO_MEMORY;
        }
        NV_OK
    }

    /// RM_DUP_OBJECT / NV04_DUP_OBJECT.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn dup(
        &mut self,
        caller: &Caller,
        h_client: u32,
        h_parent: u32,
        h_object: &mut u32,
        h_client_src: u32,
        h_object_src: u32,
        flags: u32,
    ) -> u32 {
        let ci = match self.client_for(caller, h_client) {
            Ok(i) => i,
            Err(s) => return s,
        };
        let Some(si) = self.client_index(h_client_src) else {
            return NV_ERR_INVALID_CLIENT;
        };
        let src = &self.clients[si];
        // Share policy: by default the same process (or the same file),
        // or anybody once the owner shared the object (RM_SHARE, type ALL:
        // what cudaIpcGetMemHandle does, capture 08-ipc-legacy); kernel
        // callers may dup anything unless they opt out
        // (NV04_DUP_HANDLE_FLAGS_REJECT_KERNEL_DUP_PRIVILEGE), and then the
        // rights are checked for the destination client, as
        // `clientCopyResource_IMPL` does (`rsAccessCheckRights(pSrcRef,
        // pClientDst, ..)`): its process and its file.
        let dst = &self.clients[ci];
        let (tgid, os) = match caller.os {
            Os::Kernel => (dst.tgid, dst.os),
            Os::File(_) => (caller.tgid, caller.os),
        };
        let same = src.tgid == tgid || src.os == os || src.shared.contains(&h_object_src);
        let allowed = match caller.os {
            Os::Kernel => same || flags & 1 == 0,
            Os::File(_) => same,
        };
        let Some(so) = src.obj(h_object_src) else {
            return NV_ERR_OBJECT_NOT_FOUND;
        };
        if !allowed {
            return NV_ERR_INSUFFICIENT_PERMISSIONS;
        }
        let (class, gpu, data) = (so.class, so.gpu, so.data.clone());
        let pclass = match self.clients[ci].obj(h_parent) {
            Some(p) if p.gpu == gpu => p.class,
            _ => return NV_ERR_INVALID_OBJECT_PARENT,
        };
        let ok_parent = match &data {
            Data::Memory(_) | Data::Usermode(_) => is_dev_or_subdev(pclass),
            Data::Tsg(_) => pclass == NV01_DEVICE_0,
            Data::Channel(_) => pclass == KEPLER_CHANNEL_GROUP_A || pclass == NV01_DEVICE_0,
            Data::Plain => is_dev_or_subdev(pclass),
            Data::Device | Data::Subdevice => return NV_ERR_NOT_SUPPORTED,
        };
        if !ok_parent {
            return NV_ERR_INVALID_OBJECT_PARENT;
        }
        let handle = match self.new_handle(ci, *h_object) {
            Ok(h) => h,
            Err(s) => return s,
        };
        if self.clients[ci]
            .objs
            .push(Obj::new(handle, h_parent, class, gpu, data), GFP_KERNEL)
            .is_err()
        {
            return NV_ERR_NO_MEMORY;
        }
        *h_object = handle;
        NV_OK
    }

    /// The dup an import from an export fd makes (`RmImportObject`): like
    /// [`Self::dup`], but from the export's reference, without the share
    /// policy (holding the export fd is the permission).
    pub(crate) fn import_dup(
        &mut self,
        ci: usize,
        h_parent: u32,
        h_object: &mut u32,
        class: u32,
        gpu: u32,
        data: Data,
    ) -> core::result::Result<(), u32> {
        match self.clients[ci].obj(h_parent) {
            Some(p) if p.gpu == gpu && is_dev_or_subdev(p.class) => {}
            _ => return Err(NV_ERR_INVALID_OBJECT_PARENT),
        }
        let handle = self.new_handle(ci, *h_object)?;
        self.clients[ci]
            .objs
            .push(Obj::new(handle, h_parent, class, gpu, data), GFP_KERNEL)
            .map_err(|_| NV_ERR_NO_MEMORY)?;
        *h_object = handle;
        Ok(())
    }

    /// Takes object `h` (without children) out of client `ci`.
    pub(crate) fn remove_obj(&mut self, ci: usize, h: u32) -> Option<Obj> {
        let c = &mut self.clients[ci];
        let i = c.objs.iter().position(|o| o.handle == h)?;
        c.objs.remove(i).ok()
    }

    /// RM_MAP_MEMORY: validates and returns the pages to attach to the
    /// target file's mmap context.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn map_memory(
        &mut self,
        caller: &Caller,
        h_client: u32,
        h_device: u32,
        h_memory: u32,
        offset: u64,
        length: u64,
        target: MapTarget,
    ) -> core::result::Result<Granted, u32> {
        let ci = self.client_for(caller, h_client)?;
        let c = &self.clients[ci];
        let dev = c
            .obj(h_device)
            .filter(|o| is_dev_or_subdev(o.class))
            .ok_or(NV_ERR_INVALID_OBJECT_HANDLE)?;
        let m = c.obj(h_memory).ok_or(NV_ERR_OBJECT_NOT_FOUND)?;
        if m.gpu != dev.gpu {
            return Err(NV_ERR_INVALID_DEVICE);
        }
        let pfnmap = matches!(m.data, Data::Usermode(_));
        let (backing, sysmem) = match &m.data {
            Data::Memory(mo) => {
                if length == 0 || offset.checked_add(length).is_none_or(|e| e > mo.size) {
                    return Err(NV_ERR_INVALID_LIMIT);
                }
                (mo.backing().map_err(|_| NV_ERR_NO_MEMORY)?, !mo.vid)
            }
            Data::Usermode(d) => {
                if length == 0
                    || offset
                        .checked_add(length)
                        .is_none_or(|e| e > sim::USERMODE_SIZE)
                {
                    return Err(NV_ERR_INVALID_LIMIT);
                }
                (d.mem.clone(), false)
            }
            _ => return Err(NV_ERR_INVALID_OBJECT_HANDLE),
        };
        // rm_create_mmap_context: only the client's own process may map.
        if c.tgid != caller.tgid {
            return Err(NV_ERR_INVALID_CLIENT);
        }
        let want = if sysmem {
            MapTarget::Ctl
        } else {
            MapTarget::Gpu(m.gpu)
        };
        if target != want {
            return Err(NV_ERR_INVALID_ARGUMENT);
        }
        let page = PAGE_SIZE as u64;
        if offset % page != 0 {
            return Err(NV_ERR_INVALID_OFFSET);
        }
        let first_page = usize::try_from(offset / page).map_err(|_| NV_ERR_INVALID_LIMIT)?;
        let pages = usize::try_from(length.div_ceil(page)).map_err(|_| NV_ERR_INVALID_LIMIT)?;
        let addr =
            MAP_BASE + (u64::from(m.gpu) << 40) + (u64::from(h_memory & 0xffff) << 24) + offset;
        let h_mem = m.handle;
        if self.clients[ci]
            .maps
            .push(
                Mapping {
                    h_memory: h_mem,
                    addr,
                },
                GFP_KERNEL,
            )
            .is_err()
        {
            return Err(NV_ERR_NO_MEMORY);
        }
        Ok(Granted {
            backing,
            first_page,
            pages,
            addr,
            pfnmap,
        })
    }

    /// Forgets a mapping recorded by `map_memory` (when the file refused it).
    pub(crate) fn forget_mapping(&mut self, h_client: u32, addr: u64) {
        if let Some(ci) = self.client_index(h_client) {
            let maps = &mut self.clients[ci].maps;
            // The record just added: the last one with this address.
            if let Some(i) = maps.iter().rposition(|m| m.addr == addr) {
                let _ = maps.remove(i);
            }
        }
    }

    /// RM_UNMAP_MEMORY.
    pub(crate) fn unmap_memory(
        &mut self,
        caller: &Caller,
        h_client: u32,
        h_memory: u32,
        addr: u64,
    ) -> u32 {
        let ci = match self.client_for(caller, h_client) {
            Ok(i) => i,
            Err(s) => return s,
        };
        let c = &mut self.clients[ci];
        if c.obj(h_memory).is_none() {
            return NV_ERR_OBJECT_NOT_FOUND;
        }
        match c
            .maps
            .iter()
            .position(|m| m.h_memory == h_memory && m.addr == addr)
        {
            Some(i) => {
                let _ = c.maps.remove(i);
                NV_OK
            }
            None => NV_ERR_INVALID_ARGUMENT,
        }
    }

    /// Looks up object `h` of client `h_client` for UVM, which dups RM
    /// objects into its own client: the client must belong to the calling
    /// process (the share policy), whatever file it lives on.
    pub(crate) fn uvm_lookup(
        &self,
        tgid: i32,
        h_client: u32,
        h: u32,
    ) -> core::result::Result<(u32, u32), u32> {
        let i = self.client_index(h_client).ok_or(NV_ERR_INVALID_CLIENT)?;
        let c = &self.clients[i];
        if c.tgid != tgid {
            return Err(NV_ERR_INSUFFICIENT_PERMISSIONS);
        }
        c.obj(h)
            .map(|o| (o.class, o.gpu))
            .ok_or(NV_ERR_OBJECT_NOT_FOUND)
    }
}

/// Rounds a video/system memory size as the allocator does (4 KiB pages).
/// The allocated size: video memory as the H100 rounds it (shared with the
/// proxy: `fgcore::drivers::round_vidmem`), system memory in pages.
fn round_alloc(size: u64, vidmem: bool) -> Option<u64> {
    if vidmem {
        crate::fgcore::drivers::round_vidmem(size)
    } else {
        size.checked_next_multiple_of(PAGE_SIZE as u64)
    }
}
