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
//! The table is per context, under the context's lock, together with the
//! ledger it feeds.

use kernel::prelude::*;

/// One object: a handle in a client, made through a file of the context.
#[derive(Clone, Copy)]
struct Obj {
    /// The proxy file it was made through.
    file: u64,
    client: u32,
    handle: u32,
    parent: u32,
    /// The memory allocation it refers to (0: none).
    alloc: u64,
    /// What the scheduler needs to know of it.
    kind: Kind,
}

/// What kind of object an [`ObjectTable`] entry is, where it matters.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
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

/// GPU memory charged to the context, referred to by one or more objects.
#[derive(Clone, Copy)]
struct Alloc {
    id: u64,
    bytes: u64,
}

/// A slot of an export fd holding an allocation.
#[derive(Clone, Copy)]
struct Slot {
    /// The proxy file that is the export fd.
    file: u64,
    index: usize,
    alloc: u64,
}

/// Objects and allocations of one context.
pub(crate) struct ObjectTable {
    objs: KVec<Obj>,
    allocs: KVec<Alloc>,
    slots: KVec<Slot>,
    next_alloc: u64,
}

impl ObjectTable {
    /// An empty table.
    pub(crate) const fn new() -> Self {
        Self {
            objs: KVec::new(),
            allocs: KVec::new(),
            slots: KVec::new(),
            next_alloc: 1,
        }
    }

    /// Records an object that holds no memory of its own (a client is its
    /// own parent).
    pub(crate) fn add_object(
        &mut self,
        file: u64,
        client: u32,
        handle: u32,
        parent: u32,
        kind: Kind,
    ) -> Result {
        self.objs.push(
            Obj {
                file,
                client,
                handle,
                parent,
                alloc: 0,
                kind,
            },
            GFP_KERNEL,
        )?;
        Ok(())
    }

    /// Appends `(host GPU, client, channel)` for every channel of the
    /// context whose device is known (a channel's ancestors in its client
    /// lead to its device).
    pub(crate) fn channels(&self, out: &mut KVec<(u32, u32, u32)>) -> Result {
        for o in self.objs.iter().filter(|o| o.kind == Kind::Channel) {
            if let Some(gpu) = self.gpu_of(o.client, o.parent) {
                out.push((gpu, o.client, o.handle), GFP_KERNEL)?;
            }
        }
        Ok(())
    }

    /// The host GPU of object `handle` of `client`: that of the device it
    /// is, or is under (channel -> channel group -> device, usermode ->
    /// subdevice -> device; a few levels at most); `None` if unknown.
    pub(crate) fn gpu_of(&self, client: u32, handle: u32) -> Option<u32> {
        let mut at = handle;
        for _ in 0..5 {
            match self
                .objs
                .iter()
                .find(|p| p.client == client && p.handle == at)
            {
                Some(Obj {
                    kind: Kind::Device(gpu),
                    ..
                }) => return Some(*gpu),
                Some(p) if p.handle != p.parent => at = p.parent,
                _ => return None,
            }
        }
        None
    }

    /// Whether the context has a channel.
    pub(crate) fn has_channels(&self) -> bool {
        self.objs.iter().any(|o| o.kind == Kind::Channel)
    }

    /// Whether `client` is a client made through one of the context's files.
    pub(crate) fn has_client(&self, client: u32) -> bool {
        self.objs
            .iter()
            .any(|o| o.client == client && o.handle == client)
    }

    /// Whether `handle` of `client` is a usermode (doorbell) object.
    pub(crate) fn is_usermode(&self, client: u32, handle: u32) -> bool {
        self.objs
            .iter()
            .any(|o| o.client == client && o.handle == handle && o.kind == Kind::Usermode)
    }

    /// Records a memory object of `bytes` (already charged to the ledger).
    pub(crate) fn add_memory(
        &mut self,
        file: u64,
        client: u32,
        handle: u32,
        parent: u32,
        bytes: u64,
    ) -> Result {
        let id = self.next_alloc;
        self.allocs.push(Alloc { id, bytes }, GFP_KERNEL)?;
        if let Err(e) = self.objs.push(
            Obj {
                file,
                client,
                handle,
                parent,
                alloc: id,
                kind: Kind::Plain,
            },
            GFP_KERNEL,
        ) {
            self.allocs.pop();
            return Err(e.into());
        }
        self.next_alloc += 1;
        Ok(())
    }

    /// Records a duplicate of `(src_client, src_handle)`: it refers to the
    /// same memory, if any.
    pub(crate) fn add_dup(
        &mut self,
        file: u64,
        client: u32,
        handle: u32,
        parent: u32,
        src: (u32, u32),
    ) -> Result {
        let alloc = self
            .objs
            .iter()
            .find(|o| (o.client, o.handle) == src)
            .map_or(0, |o| o.alloc);
        self.objs.push(
            Obj {
                file,
                client,
                handle,
                parent,
                alloc,
                kind: Kind::Plain,
            },
            GFP_KERNEL,
        )?;
        Ok(())
    }

    /// An export into slot `index` of export fd `file` succeeded: the slot
    /// now holds what `(client, handle)` refers to (`handle` 0: nothing).
    /// Returns the bytes no object or slot refers to any more (what the
    /// slot held before).
    pub(crate) fn export(
        &mut self,
        file: u64,
        index: usize,
        client: u32,
        handle: u32,
    ) -> Result<u64> {
        self.slots.retain(|s| !(s.file == file && s.index == index));
        let alloc = match handle {
            0 => 0,
            h => self
                .objs
                .iter()
                .find(|o| (o.client, o.handle) == (client, h))
                .map_or(0, |o| o.alloc),
        };
        if alloc != 0 {
            self.slots.push(Slot { file, index, alloc }, GFP_KERNEL)?;
        }
        Ok(self.collect())
    }

    /// An import from slot `index` of export fd `export_file` made
    /// `handle`: it refers to the slot's memory, if any.
    pub(crate) fn import(
        &mut self,
        file: u64,
        client: u32,
        handle: u32,
        parent: u32,
        export_file: u64,
        index: usize,
    ) -> Result {
        let alloc = self
            .slots
            .iter()
            .find(|s| s.file == export_file && s.index == index)
            .map_or(0, |s| s.alloc);
        self.objs.push(
            Obj {
                file,
                client,
                handle,
                parent,
                alloc,
                kind: Kind::Plain,
            },
            GFP_KERNEL,
        )?;
        Ok(())
    }

    /// The RM freed `handle` of `client` (all of the client if `handle` is
    /// the client): drops the subtree; returns the bytes no object refers
    /// to any more.
    pub(crate) fn free(&mut self, client: u32, handle: u32) -> Result<u64> {
        let mut doomed = KVec::<u32>::new();
        doomed.push(handle, GFP_KERNEL)?;
        if handle != client {
            loop {
                let before = doomed.len();
                for o in self.objs.iter() {
                    if o.client == client
                        && doomed.contains(&o.parent)
                        && !doomed.contains(&o.handle)
                    {
                        doomed.push(o.handle, GFP_KERNEL)?;
                    }
                }
                if doomed.len() == before {
                    break;
                }
            }
        }
        self.objs
            .retain(|o| !(o.client == client && (handle == client || doomed.contains(&o.handle))));
        Ok(self.collect())
    }

    /// The file closed: the vendor freed every client it owned (the clients
    /// made through it) with all their objects, and, if it was an export
    /// fd, what its slots held. Returns the bytes no object
    /// refers to any more.
    pub(crate) fn close_file(&mut self, file: u64) -> u64 {
        // Mark the file's clients, then drop every object of a marked client
        // (without allocating: this runs on release, which cannot fail).
        const DOOMED: u64 = u64::MAX;
        for o in self.objs.iter_mut() {
            if o.file == file && o.handle == o.client {
                o.file = DOOMED;
            }
        }
        let mut i = 0;
        while i < self.objs.len() {
            let o = self.objs[i];
            let doomed = o.file != DOOMED
                && self
                    .objs
                    .iter()
                    .any(|c| c.file == DOOMED && c.client == o.client && c.handle == o.client);
            if doomed {
                let _ = self.objs.remove(i);
            } else {
                i += 1;
            }
        }
        self.objs.retain(|o| o.file != DOOMED);
        // An export fd's slots go with its file.
        self.slots.retain(|s| s.file != file);
        self.collect()
    }

    /// Drops allocations no object refers to; returns their bytes.
    fn collect(&mut self) -> u64 {
        let mut freed = 0u64;
        let (objs, slots) = (&self.objs, &self.slots);
        self.allocs.retain(|a| {
            let live =
                objs.iter().any(|o| o.alloc == a.id) || slots.iter().any(|s| s.alloc == a.id);
            if !live {
                freed = freed.saturating_add(a.bytes);
            }
            live
        });
        freed
    }
}
