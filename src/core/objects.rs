// SPDX-License-Identifier: GPL-2.0

//! The RM objects a context's containers made, and the GPU memory behind
//! them, so that every way memory goes away uncharges exactly what the
//! vendor freed: a free of the object, a free of an ancestor (the RM frees
//! subtrees; freeing a client frees all of it), the close of the file that
//! owns the client (or its process's death), and duplicates: memory
//! duplicated into another client (RM_DUP_OBJECT) lives until its last
//! handle is freed, so the charge stays until then; and export fds (the
//! NV0000 OS_UNIX export controls): a slot of an export fd holds the
//! memory exported into it until the slot is overwritten or that fd's file
//! is released, and an import is a new handle to the same memory.
//!
//! The table is per context; the caller keeps it under the context's lock,
//! together with the ledger it feeds: every operation returns the bytes
//! that no object or slot refers to any more, which the caller uncharges.
//!
//! The table allocates nothing itself: it is written over ordered maps
//! with a fallible insert ([`Storage`]), which the kernel implements with
//! its red-black trees and the host tests with `BTreeMap`. Every operation
//! costs `O(log n)` per entry it touches: lookups are by key, a free walks
//! the subtree through an index of children, a close walks the file's
//! clients through an index of clients by file. Only adding can fail (the
//! storage is out of memory), and then nothing changed; frees, closes and
//! removals never fail.
//!
//! # Invariants
//!
//! - Every entry of `objs` has exactly one entry in `edges`, keyed by its
//!   parent (or by [`WORK`] inside a free), its handle and its sequence
//!   number; `edges` has no other entries, and none under [`WORK`] between
//!   calls.
//! - `files` holds `(file, client, seq)` for exactly the entries whose
//!   handle is their client; `channels` holds `seq -> (client, handle)` for
//!   exactly the entries of kind [`Kind::Channel`].
//! - An entry's or a slot's `alloc` is 0 or the id of an entry of `allocs`,
//!   whose `refs` is the number of entries and slots naming it (at least
//!   one: an allocation nothing refers to is dropped, and its bytes
//!   returned, by the operation that dropped the last reference).
//! - An allocation's `slots` is the number of slots naming it, and its
//!   `owner` whether the entry [`ObjectTable::add_memory`] made for it (the
//!   only entry whose `owner` is set) is still in `objs`.
//! - `unattributed` is the sum of `bytes` of the allocations
//!   [`Alloc::unattributed`] says the vendor's per-process count leaves out.
//! - Sequence numbers are unique and below `u64::MAX`; allocation ids are
//!   unique and nonzero.

/// The storage has no room for one more entry (out of memory).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Full;

/// An ordered map of `Copy` keys and values whose insert may fail.
pub trait Map<K: Ord + Copy, V: Copy> {
    /// The value at `key`.
    fn get(&self, key: &K) -> Option<V>;
    /// The value at `key`, to change in place.
    fn get_mut(&mut self, key: &K) -> Option<&mut V>;
    /// Inserts `value` at `key`, replacing what was there. On `Err` the map
    /// is unchanged.
    fn insert(&mut self, key: K, value: V) -> Result<(), Full>;
    /// Removes and returns the value at `key`.
    fn remove(&mut self, key: &K) -> Option<V>;
    /// The entry of the smallest key not below `key`.
    fn lower_bound(&self, key: &K) -> Option<(K, V)>;
    /// Moves the entry at `old` to `new` (replacing what was at `new`)
    /// without allocating; `false` if there is none at `old`.
    fn rekey(&mut self, old: &K, new: K) -> bool;
    /// Whether the map is empty.
    fn is_empty(&self) -> bool;
}

/// How a user of the table stores its maps.
pub trait Storage {
    /// The map type.
    type Map<K: Ord + Copy, V: Copy>: Map<K, V>;
    /// An empty map.
    fn new_map<K: Ord + Copy, V: Copy>() -> Self::Map<K, V>;
}

/// What kind of object an entry is, where it matters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Anything else.
    Plain,
    /// A usermode (doorbell) object: its mapping is gated by the compute
    /// scheduler.
    Usermode,
    /// A GPFIFO channel: the scheduler stops and resumes it.
    Channel,
    /// A device (NV01_DEVICE_0) of the host's GPU with this index.
    Device(u32),
}

/// Key of an object entry. Entries of one handle (the table may hold
/// several should it have missed a free) are ordered by their making.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct ObjKey {
    /// The client the object is in.
    pub client: u32,
    /// Its handle in the client (a client's is its own).
    pub handle: u32,
    /// Order of making, unique.
    pub seq: u64,
}

/// An object entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Obj {
    /// The proxy file it was made through.
    pub file: u64,
    /// Its parent's handle (a client is its own parent).
    pub parent: u32,
    /// The allocation it refers to (0: none).
    pub alloc: u64,
    /// What the scheduler needs to know of it.
    pub kind: Kind,
    /// It is the allocation that made `alloc` (the RM's memory descriptor
    /// owner, `isMemDescOwner`), not a dup or an import of it.
    pub owner: bool,
}

/// Key of the index of children: `parent` is a handle or [`WORK`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct EdgeKey {
    /// The client of the parent and the child.
    pub client: u32,
    /// The parent's handle, or [`WORK`]: the child is doomed by the free
    /// running now.
    pub parent: u64,
    /// The child's handle.
    pub handle: u32,
    /// The child entry's sequence number.
    pub seq: u64,
}

/// The parent key of the children of the objects a free removed, which the
/// free removes next (no handle: handles are 32 bits).
pub const WORK: u64 = 1 << 32;

/// Key of the index of clients by the file they were made through.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct FileKey {
    /// The file.
    pub file: u64,
    /// The client.
    pub client: u32,
    /// The client entry's sequence number.
    pub seq: u64,
}

/// Key of an export fd's slot.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct SlotKey {
    /// The proxy file that is the export fd.
    pub file: u64,
    /// The slot.
    pub index: usize,
}

/// GPU memory charged to the context, referred to by one or more entries
/// and slots.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Alloc {
    /// Its size.
    pub bytes: u64,
    /// How many entries and slots refer to it.
    pub refs: u64,
    /// How many of those are export slots.
    pub slots: u64,
    /// The entry that made it is still there.
    pub owner: bool,
}

impl Alloc {
    /// Whether the vendor's per-process count of video memory
    /// (NV2080_CTRL_CMD_GPU_GET_PID_INFO, `_gpuCollectMemInfo`) counts this
    /// memory for no process: it sums `memPrivate` (a memory descriptor no
    /// other object names, `DupCount == 1`) and `memSharedOwned` (the
    /// descriptor's owner), not `memSharedDuped`. So memory whose owner is
    /// gone is counted only while exactly one object names it; an export
    /// slot is a dup in the RM's own export client (`RmExportObject`), so
    /// with a slot besides it the object left is a dup too, and memory held
    /// by slots alone is counted for nobody. The answer errs only towards
    /// "counted" (a dup the RM holds that the table does not know, such as
    /// UVM's, makes the vendor count less, never more).
    pub fn unattributed(&self) -> bool {
        let entries = self.refs.saturating_sub(self.slots);
        !(self.owner || (entries == 1 && self.slots == 0))
    }
}

/// Objects and allocations of one context. See the module's invariants.
pub struct ObjectTable<S: Storage> {
    objs: S::Map<ObjKey, Obj>,
    edges: S::Map<EdgeKey, ()>,
    files: S::Map<FileKey, ()>,
    channels: S::Map<u64, (u32, u32)>,
    allocs: S::Map<u64, Alloc>,
    slots: S::Map<SlotKey, u64>,
    next_seq: u64,
    next_alloc: u64,
    entries: usize,
    unattributed: u64,
}

impl<S: Storage> Default for ObjectTable<S> {
    fn default() -> Self {
        Self::new()
    }
}

impl<S: Storage> ObjectTable<S> {
    /// An empty table.
    pub fn new() -> Self {
        Self {
            objs: S::new_map(),
            edges: S::new_map(),
            files: S::new_map(),
            channels: S::new_map(),
            allocs: S::new_map(),
            slots: S::new_map(),
            next_seq: 0,
            next_alloc: 1,
            entries: 0,
            unattributed: 0,
        }
    }

    /// Number of object entries.
    pub fn len(&self) -> usize {
        self.entries
    }

    /// Whether the table holds nothing: no object, allocation or slot.
    pub fn is_empty(&self) -> bool {
        self.objs.is_empty()
            && self.edges.is_empty()
            && self.files.is_empty()
            && self.channels.is_empty()
            && self.allocs.is_empty()
            && self.slots.is_empty()
    }

    /// Bytes of the allocations the table holds (all of them charged):
    /// what the ledger's usage must be when every charge is tracked. Walks
    /// every allocation: for checks, not for the hot path.
    pub fn charged(&self) -> u64 {
        let mut sum = 0u64;
        let mut at = 0u64;
        while let Some((id, a)) = self.allocs.lower_bound(&at) {
            sum = sum.saturating_add(a.bytes);
            match id.checked_add(1) {
                Some(n) => at = n,
                None => break,
            }
        }
        sum
    }

    /// Bytes of the allocations the vendor's per-process count attributes
    /// to no process ([`Alloc::unattributed`]): charged, but never part of
    /// what the audit can see (`docs/isolation.md` §5, F1 of
    /// `docs/chaos-findings.md`).
    pub fn unattributed(&self) -> u64 {
        self.unattributed
    }

    /// Records an object that holds no memory of its own (a client is its
    /// own parent).
    pub fn add_object(
        &mut self,
        file: u64,
        client: u32,
        handle: u32,
        parent: u32,
        kind: Kind,
    ) -> Result<(), Full> {
        self.insert(file, client, handle, parent, 0, kind, false)
    }

    /// Records a memory object of `bytes` (already charged to the ledger).
    pub fn add_memory(
        &mut self,
        file: u64,
        client: u32,
        handle: u32,
        parent: u32,
        bytes: u64,
    ) -> Result<(), Full> {
        let id = self.next_alloc;
        let next = id.checked_add(1).ok_or(Full)?;
        let a = Alloc {
            bytes,
            refs: 0,
            slots: 0,
            owner: true,
        };
        self.allocs.insert(id, a)?;
        if let Err(e) = self.insert(file, client, handle, parent, id, Kind::Plain, true) {
            self.allocs.remove(&id);
            return Err(e);
        }
        self.next_alloc = next;
        Ok(())
    }

    /// Records a duplicate of `(src_client, src_handle)`: it refers to the
    /// same memory, if any.
    pub fn add_dup(
        &mut self,
        file: u64,
        client: u32,
        handle: u32,
        parent: u32,
        src: (u32, u32),
    ) -> Result<(), Full> {
        let alloc = self.first(src.0, src.1).map_or(0, |(_, o)| o.alloc);
        // A dup of a usermode object maps the same doorbell: it is gated
        // like the original (issue 16 §3).
        let kind = if self.is_usermode(src.0, src.1) {
            Kind::Usermode
        } else {
            Kind::Plain
        };
        self.insert(file, client, handle, parent, alloc, kind, false)
    }

    /// An export into slot `index` of export fd `file` succeeded: the slot
    /// now holds what `(client, handle)` refers to (`handle` 0: nothing).
    /// Returns the bytes no object or slot refers to any more (what the
    /// slot held before). On `Err` (no room for a new slot) nothing
    /// changed: the slot was empty before.
    pub fn export(
        &mut self,
        file: u64,
        index: usize,
        client: u32,
        handle: u32,
    ) -> Result<u64, Full> {
        let alloc = match handle {
            0 => 0,
            h => self.first(client, h).map_or(0, |(_, o)| o.alloc),
        };
        let key = SlotKey { file, index };
        let old = if alloc == 0 {
            self.slots.remove(&key)
        } else {
            let old = match self.slots.get_mut(&key) {
                Some(v) => Some(core::mem::replace(v, alloc)),
                None => {
                    self.slots.insert(key, alloc)?;
                    None
                }
            };
            // Referenced before the old one is let go: they may be the same.
            self.hold(alloc, true);
            old
        };
        Ok(old.map_or(0, |a| self.release(a, true)))
    }

    /// An import from slot `index` of export fd `export_file` made
    /// `handle`: it refers to the slot's memory, if any.
    pub fn import(
        &mut self,
        file: u64,
        client: u32,
        handle: u32,
        parent: u32,
        export_file: u64,
        index: usize,
    ) -> Result<(), Full> {
        let alloc = self
            .slots
            .get(&SlotKey {
                file: export_file,
                index,
            })
            .unwrap_or(0);
        self.insert(file, client, handle, parent, alloc, Kind::Plain, false)
    }

    /// The RM freed `handle` of `client` (all of the client if `handle` is
    /// the client): drops it and its subtree (every object whose parent is
    /// dropped, recursively); returns the bytes no object refers to any
    /// more.
    pub fn free(&mut self, client: u32, handle: u32) -> u64 {
        if handle == client {
            return self.drop_client(client);
        }
        let mut freed = self.doom(client, handle);
        let work = EdgeKey {
            client,
            parent: WORK,
            handle: 0,
            seq: 0,
        };
        // Each round drops at least the entry the first doomed edge is of.
        while let Some((e, ())) = self.edges.lower_bound(&work) {
            if e.client != client || e.parent != WORK {
                break;
            }
            freed = freed.saturating_add(self.doom(client, e.handle));
        }
        freed
    }

    /// The file closed: the vendor freed every client it owned (the clients
    /// made through it) with all their objects, and, if it was an export
    /// fd, what its slots held. Returns the bytes no object refers to any
    /// more.
    pub fn close_file(&mut self, file: u64) -> u64 {
        let mut freed = 0u64;
        let first = FileKey {
            file,
            client: 0,
            seq: 0,
        };
        // Each round drops at least the client entry found.
        while let Some((k, ())) = self.files.lower_bound(&first) {
            if k.file != file {
                break;
            }
            freed = freed.saturating_add(self.drop_client(k.client));
        }
        // An export fd's slots go with its file.
        let first = SlotKey { file, index: 0 };
        while let Some((k, alloc)) = self.slots.lower_bound(&first) {
            if k.file != file {
                break;
            }
            self.slots.remove(&k);
            freed = freed.saturating_add(self.release(alloc, true));
        }
        freed
    }

    /// Calls `f` with every client made through `file` (in handle order).
    pub fn clients_of_file<E>(
        &self,
        file: u64,
        mut f: impl FnMut(u32) -> Result<(), E>,
    ) -> Result<(), E> {
        let mut at = FileKey {
            file,
            client: 0,
            seq: 0,
        };
        while let Some((k, ())) = self.files.lower_bound(&at) {
            if k.file != file {
                break;
            }
            f(k.client)?;
            match k.seq.checked_add(1) {
                Some(seq) => at = FileKey { seq, ..k },
                None => break,
            }
        }
        Ok(())
    }

    /// Whether `client` is a client made through one of the context's files.
    pub fn has_client(&self, client: u32) -> bool {
        self.first(client, client).is_some()
    }

    /// The proxy file `client` was made through, if it is one of the
    /// context's clients (the RM lets a file's calls use only its own).
    pub fn client_file(&self, client: u32) -> Option<u64> {
        self.first(client, client).map(|(_, o)| o.file)
    }

    /// Whether `handle` of `client` is a usermode (doorbell) object.
    pub fn is_usermode(&self, client: u32, handle: u32) -> bool {
        let mut at = ObjKey {
            client,
            handle,
            seq: 0,
        };
        while let Some((k, o)) = self.objs.lower_bound(&at) {
            if (k.client, k.handle) != (client, handle) {
                return false;
            }
            if o.kind == Kind::Usermode {
                return true;
            }
            match k.seq.checked_add(1) {
                Some(s) => at.seq = s,
                None => return false,
            }
        }
        false
    }

    /// The host GPU of object `handle` of `client`: that of the device it
    /// is, or is under (channel -> channel group -> device, usermode ->
    /// subdevice -> device; a few levels at most); `None` if unknown.
    pub fn gpu_of(&self, client: u32, handle: u32) -> Option<u32> {
        let mut at = handle;
        for _ in 0..5 {
            match self.first(client, at) {
                Some((
                    _,
                    Obj {
                        kind: Kind::Device(gpu),
                        ..
                    },
                )) => return Some(gpu),
                Some((k, o)) if k.handle != o.parent => at = o.parent,
                _ => return None,
            }
        }
        None
    }

    /// Whether the context has a channel.
    pub fn has_channels(&self) -> bool {
        !self.channels.is_empty()
    }

    /// Calls `f(host GPU, client, channel)` for every channel of the
    /// context whose device is known (a channel's ancestors in its client
    /// lead to its device), in the order they were made; stops at the
    /// first error.
    pub fn channels<E>(&self, mut f: impl FnMut(u32, u32, u32) -> Result<(), E>) -> Result<(), E> {
        let mut at = 0u64;
        while let Some((seq, (client, handle))) = self.channels.lower_bound(&at) {
            let key = ObjKey {
                client,
                handle,
                seq,
            };
            if let Some(o) = self.objs.get(&key) {
                if let Some(gpu) = self.gpu_of(client, o.parent) {
                    f(gpu, client, handle)?;
                }
            }
            match seq.checked_add(1) {
                Some(s) => at = s,
                None => break,
            }
        }
        Ok(())
    }

    /// The first-made entry of `handle` in `client`.
    fn first(&self, client: u32, handle: u32) -> Option<(ObjKey, Obj)> {
        let at = ObjKey {
            client,
            handle,
            seq: 0,
        };
        self.objs
            .lower_bound(&at)
            .filter(|(k, _)| (k.client, k.handle) == (client, handle))
    }

    /// Adds an entry and its index entries; on `Err` nothing changed.
    #[allow(clippy::too_many_arguments)]
    fn insert(
        &mut self,
        file: u64,
        client: u32,
        handle: u32,
        parent: u32,
        alloc: u64,
        kind: Kind,
        owner: bool,
    ) -> Result<(), Full> {
        let seq = self.next_seq;
        let next = seq.checked_add(1).filter(|&n| n < u64::MAX).ok_or(Full)?;
        // An allocation the table does not hold is none.
        let alloc = match alloc {
            0 => 0,
            a if self.allocs.get(&a).is_some() => a,
            _ => 0,
        };
        let key = ObjKey {
            client,
            handle,
            seq,
        };
        let edge = EdgeKey {
            client,
            parent: parent.into(),
            handle,
            seq,
        };
        let by_file = FileKey { file, client, seq };
        let obj = Obj {
            file,
            parent,
            alloc,
            kind,
            owner: owner && alloc != 0,
        };
        self.objs.insert(key, obj)?;
        if let Err(e) = self.edges.insert(edge, ()) {
            self.objs.remove(&key);
            return Err(e);
        }
        if handle == client {
            if let Err(e) = self.files.insert(by_file, ()) {
                self.edges.remove(&edge);
                self.objs.remove(&key);
                return Err(e);
            }
        }
        if kind == Kind::Channel {
            if let Err(e) = self.channels.insert(seq, (client, handle)) {
                if handle == client {
                    self.files.remove(&by_file);
                }
                self.edges.remove(&edge);
                self.objs.remove(&key);
                return Err(e);
            }
        }
        if alloc != 0 {
            self.hold(alloc, false);
        }
        self.next_seq = next;
        self.entries = self.entries.saturating_add(1);
        Ok(())
    }

    /// Removes every entry of `client`; returns the bytes freed.
    fn drop_client(&mut self, client: u32) -> u64 {
        let mut freed = 0u64;
        let first = ObjKey {
            client,
            handle: 0,
            seq: 0,
        };
        while let Some((k, _)) = self.objs.lower_bound(&first) {
            if k.client != client {
                break;
            }
            freed = freed.saturating_add(self.remove(&k));
        }
        freed
    }

    /// Removes every entry of `handle` in `client` and moves the edges of
    /// their children to [`WORK`]; returns the bytes freed.
    fn doom(&mut self, client: u32, handle: u32) -> u64 {
        let mut freed = 0u64;
        let first = ObjKey {
            client,
            handle,
            seq: 0,
        };
        while let Some((k, _)) = self.objs.lower_bound(&first) {
            if (k.client, k.handle) != (client, handle) {
                break;
            }
            freed = freed.saturating_add(self.remove(&k));
        }
        let first = EdgeKey {
            client,
            parent: handle.into(),
            handle: 0,
            seq: 0,
        };
        while let Some((e, ())) = self.edges.lower_bound(&first) {
            if (e.client, e.parent) != (client, u64::from(handle)) {
                break;
            }
            if !self.edges.rekey(&e, EdgeKey { parent: WORK, ..e }) {
                break;
            }
        }
        freed
    }

    /// Removes the entry at `key` with its index entries; returns the bytes
    /// freed.
    fn remove(&mut self, key: &ObjKey) -> u64 {
        let Some(o) = self.objs.remove(key) else {
            return 0;
        };
        self.entries = self.entries.saturating_sub(1);
        let mut edge = EdgeKey {
            client: key.client,
            parent: o.parent.into(),
            handle: key.handle,
            seq: key.seq,
        };
        if self.edges.remove(&edge).is_none() {
            edge.parent = WORK;
            self.edges.remove(&edge);
        }
        if key.handle == key.client {
            self.files.remove(&FileKey {
                file: o.file,
                client: key.client,
                seq: key.seq,
            });
        }
        if o.kind == Kind::Channel {
            self.channels.remove(&key.seq);
        }
        if o.owner {
            self.change(o.alloc, |a| a.owner = false);
        }
        match o.alloc {
            0 => 0,
            a => self.release(a, false),
        }
    }

    /// Changes allocation `id` by `f`, keeping `unattributed` its sum.
    fn change(&mut self, id: u64, f: impl FnOnce(&mut Alloc)) {
        let Some(a) = self.allocs.get_mut(&id) else {
            return;
        };
        let (was, bytes) = (a.unattributed(), a.bytes);
        f(a);
        let now = a.unattributed();
        if was && !now {
            self.unattributed = self.unattributed.saturating_sub(bytes);
        } else if now && !was {
            self.unattributed = self.unattributed.saturating_add(bytes);
        }
    }

    /// One more reference to allocation `id` (`slot`: an export slot's).
    fn hold(&mut self, id: u64, slot: bool) {
        self.change(id, |a| {
            a.refs = a.refs.saturating_add(1);
            a.slots = a.slots.saturating_add(u64::from(slot));
        });
    }

    /// One reference less to allocation `id` (`slot`: an export slot's);
    /// returns its bytes if that was the last (and drops it).
    fn release(&mut self, id: u64, slot: bool) -> u64 {
        self.change(id, |a| {
            a.refs = a.refs.saturating_sub(1);
            a.slots = a.slots.saturating_sub(u64::from(slot));
        });
        match self.allocs.get(&id) {
            Some(a) if a.refs == 0 => {
                // Nothing names it: it leaves the sum with the table.
                if a.unattributed() {
                    self.unattributed = self.unattributed.saturating_sub(a.bytes);
                }
                self.allocs.remove(&id).map_or(0, |a| a.bytes)
            }
            _ => 0,
        }
    }
}

/// One step of a test script ([`SCRIPT`]), run by the host tests and by
/// the in-kernel KUnit tests over each side's storage.
#[derive(Debug, Clone, Copy)]
pub enum Step {
    /// `add_object(file, client, handle, parent, kind)`.
    Object(u64, u32, u32, u32, Kind),
    /// `add_memory(file, client, handle, parent, bytes)`.
    Memory(u64, u32, u32, u32, u64),
    /// `add_dup(file, client, handle, parent, src)`.
    Dup(u64, u32, u32, u32, (u32, u32)),
    /// `export(file, index, client, handle)`, returning the bytes freed.
    Export(u64, usize, u32, u32, u64),
    /// `import(file, client, handle, parent, export_file, index)`.
    Import(u64, u32, u32, u32, u64, usize),
    /// `free(client, handle)`, returning the bytes freed.
    Free(u32, u32, u64),
    /// `close_file(file)`, returning the bytes freed.
    Close(u64, u64),
    /// `gpu_of(client, handle)` answers this.
    Gpu(u32, u32, Option<u32>),
    /// `has_client`, `is_usermode`, `has_channels` answer these.
    Has(u32, u32, bool, bool, bool),
    /// The table holds this many entries.
    Len(usize),
}

/// A script over every rule: subtrees, dups, export slots, imports,
/// closes; it ends with the table empty.
pub const SCRIPT: &[Step] = &[
    // File 1: client 10, device 1 (GPU 3), subdevice 2, memory 5 and 6
    // under the device, a channel group 7 and channel 8 under it, a
    // usermode object 9 under the subdevice.
    Step::Object(1, 10, 10, 10, Kind::Plain),
    Step::Object(1, 10, 1, 10, Kind::Device(3)),
    Step::Object(1, 10, 2, 1, Kind::Plain),
    Step::Memory(1, 10, 5, 1, 100),
    Step::Memory(1, 10, 6, 1, 20),
    Step::Object(1, 10, 7, 1, Kind::Plain),
    Step::Object(1, 10, 8, 7, Kind::Channel),
    Step::Object(1, 10, 9, 2, Kind::Usermode),
    Step::Len(8),
    Step::Gpu(10, 8, Some(3)),
    Step::Gpu(10, 9, Some(3)),
    Step::Gpu(10, 10, None),
    Step::Gpu(11, 1, None),
    Step::Has(10, 9, true, true, true),
    Step::Has(10, 8, true, false, true),
    Step::Has(11, 11, false, false, true),
    // Freeing memory returns its bytes; a second free of it nothing.
    Step::Free(10, 6, 20),
    Step::Free(10, 6, 0),
    // File 2: client 20; a dup of 5 keeps its charge until both go.
    Step::Object(2, 20, 20, 20, Kind::Plain),
    Step::Dup(2, 20, 21, 20, (10, 5)),
    Step::Free(10, 5, 0),
    Step::Free(20, 21, 100),
    // Memory 30 under 1, exported into slot 0 of export fd 3, then freed:
    // the slot holds it; an import makes a handle to it; overwriting the
    // slot with nothing leaves the import; freeing the import frees it.
    Step::Memory(1, 10, 30, 1, 7),
    Step::Export(3, 0, 10, 30, 0),
    Step::Free(10, 30, 0),
    Step::Import(2, 20, 31, 20, 3, 0),
    Step::Export(3, 0, 10, 0, 0),
    Step::Free(20, 31, 7),
    // A slot overwritten by other memory, and closing the export fd.
    Step::Memory(1, 10, 32, 1, 3),
    Step::Memory(1, 10, 33, 1, 4),
    Step::Export(3, 1, 10, 32, 0),
    Step::Export(3, 1, 10, 33, 0),
    Step::Free(10, 32, 3),
    Step::Free(10, 33, 0),
    Step::Close(3, 4),
    // An export of a handle the table does not know empties the slot.
    Step::Memory(1, 10, 34, 1, 5),
    Step::Export(3, 2, 10, 34, 0),
    Step::Free(10, 34, 0),
    Step::Export(3, 2, 10, 34, 5),
    // Freeing the device frees its subtree (memory 40 under channel
    // group 7 too), not the client.
    Step::Memory(1, 10, 40, 7, 50),
    Step::Free(10, 1, 50),
    Step::Has(10, 9, true, false, false),
    Step::Len(2),
    // Closing a file frees its clients with every object in them, even
    // those made through another file; not other files' clients.
    Step::Memory(2, 10, 41, 10, 9),
    Step::Memory(1, 20, 42, 20, 11),
    Step::Close(1, 9),
    Step::Has(10, 10, false, false, false),
    Step::Has(20, 20, true, false, false),
    // Freeing a client frees all of it.
    Step::Free(20, 20, 11),
    Step::Len(0),
    Step::Close(2, 0),
];

/// Runs `script` on `t`; `Err(i)`: step `i` went otherwise.
pub fn run_script<S: Storage>(t: &mut ObjectTable<S>, script: &[Step]) -> Result<(), usize> {
    for (i, step) in script.iter().enumerate() {
        let ok = match *step {
            Step::Object(f, c, h, p, k) => t.add_object(f, c, h, p, k).is_ok(),
            Step::Memory(f, c, h, p, b) => t.add_memory(f, c, h, p, b).is_ok(),
            Step::Dup(f, c, h, p, src) => t.add_dup(f, c, h, p, src).is_ok(),
            Step::Export(f, i, c, h, want) => t.export(f, i, c, h) == Ok(want),
            Step::Import(f, c, h, p, xf, i) => t.import(f, c, h, p, xf, i).is_ok(),
            Step::Free(c, h, want) => t.free(c, h) == want,
            Step::Close(f, want) => t.close_file(f) == want,
            Step::Gpu(c, h, want) => t.gpu_of(c, h) == want,
            Step::Has(c, h, client, usermode, channels) => {
                (t.has_client(c), t.is_usermode(c, h), t.has_channels())
                    == (client, usermode, channels)
            }
            Step::Len(n) => t.len() == n && (n != 0 || t.is_empty()),
        };
        if !ok {
            return Err(i);
        }
    }
    Ok(())
}

#[cfg(all(test, not(MODULE)))]
pub(crate) mod tests;
