// SPDX-License-Identifier: GPL-2.0

//! Host tests of the object table: each rule, the shared script, and a
//! property test against a reference model (the kernel's table before it
//! moved here, a `Vec` scanned linearly) and the ledger.

use super::*;
use crate::ledger::Ledger;
use proptest::prelude::*;
use std::cell::Cell;
use std::collections::BTreeMap;
use std::vec::Vec;

impl<K: Ord + Copy, V: Copy> Map<K, V> for BTreeMap<K, V> {
    fn get(&self, key: &K) -> Option<V> {
        BTreeMap::get(self, key).copied()
    }
    fn get_mut(&mut self, key: &K) -> Option<&mut V> {
        BTreeMap::get_mut(self, key)
    }
    fn insert(&mut self, key: K, value: V) -> Result<(), Full> {
        if !BTreeMap::contains_key(self, &key) && !take_budget() {
            return Err(Full);
        }
        BTreeMap::insert(self, key, value);
        Ok(())
    }
    fn remove(&mut self, key: &K) -> Option<V> {
        BTreeMap::remove(self, key)
    }
    fn lower_bound(&self, key: &K) -> Option<(K, V)> {
        self.range(key..).next().map(|(k, v)| (*k, *v))
    }
    fn rekey(&mut self, old: &K, new: K) -> bool {
        match BTreeMap::remove(self, old) {
            Some(v) => {
                BTreeMap::insert(self, new, v);
                true
            }
            None => false,
        }
    }
    fn is_empty(&self) -> bool {
        BTreeMap::is_empty(self)
    }
}

thread_local! {
    /// Inserts of new keys left before the storage is full (`usize::MAX`:
    /// unlimited).
    static BUDGET: Cell<usize> = const { Cell::new(usize::MAX) };
}

fn take_budget() -> bool {
    BUDGET.with(|b| match b.get() {
        0 => false,
        usize::MAX => true,
        n => {
            b.set(n - 1);
            true
        }
    })
}

/// Storage in `BTreeMap`s.
pub(crate) struct Std;

impl Storage for Std {
    type Map<K: Ord + Copy, V: Copy> = BTreeMap<K, V>;
    fn new_map<K: Ord + Copy, V: Copy>() -> BTreeMap<K, V> {
        BTreeMap::new()
    }
}

type Table = ObjectTable<Std>;

fn table() -> Table {
    BUDGET.with(|b| b.set(usize::MAX));
    Table::new()
}

/// Checks the module's invariants by walking every map.
fn check_invariants(t: &Table) {
    assert_eq!(t.objs.len(), t.entries);
    assert_eq!(t.edges.len(), t.objs.len());
    let mut refs: BTreeMap<u64, u64> = BTreeMap::new();
    for (k, o) in &t.objs {
        let e = EdgeKey {
            client: k.client,
            parent: o.parent.into(),
            handle: k.handle,
            seq: k.seq,
        };
        assert!(t.edges.contains_key(&e), "edge of {k:?}");
        assert_eq!(
            t.files.contains_key(&FileKey {
                file: o.file,
                client: k.client,
                seq: k.seq
            }),
            k.handle == k.client
        );
        assert_eq!(
            t.channels.get(&k.seq) == Some(&(k.client, k.handle)),
            o.kind == Kind::Channel
        );
        if o.alloc != 0 {
            *refs.entry(o.alloc).or_default() += 1;
        }
    }
    assert_eq!(
        t.files.len(),
        t.objs.keys().filter(|k| k.handle == k.client).count()
    );
    assert_eq!(
        t.channels.len(),
        t.objs.values().filter(|o| o.kind == Kind::Channel).count()
    );
    let mut slots: BTreeMap<u64, u64> = BTreeMap::new();
    for a in t.slots.values() {
        *refs.entry(*a).or_default() += 1;
        *slots.entry(*a).or_default() += 1;
    }
    let held: BTreeMap<u64, u64> = t.allocs.iter().map(|(id, a)| (*id, a.refs)).collect();
    assert_eq!(held, refs);
    let mut unattributed = 0;
    for (id, a) in &t.allocs {
        assert_eq!(
            a.slots,
            slots.get(id).copied().unwrap_or(0),
            "slots of {id}"
        );
        let owners = t
            .objs
            .values()
            .filter(|o| o.owner && o.alloc == *id)
            .count();
        assert_eq!(usize::from(a.owner), owners, "owner of {id}");
        if a.unattributed() {
            unattributed += a.bytes;
        }
    }
    assert_eq!(t.unattributed(), unattributed);
}

/// F1 (docs/chaos-findings.md): what the vendor's per-process count leaves
/// out, as `_gpuCollectMemInfo` decides it.
#[test]
fn unattributed_memory_is_what_the_vendor_counts_for_nobody() {
    let mut t = table();
    t.add_object(1, 10, 10, 10, Kind::Plain).unwrap();
    t.add_object(1, 10, 1, 10, Kind::Device(0)).unwrap();
    // The owner alive, with or without dups: counted (private, then
    // shared-owned).
    t.add_memory(1, 10, 5, 1, 100).unwrap();
    assert_eq!(t.unattributed(), 0);
    t.add_dup(1, 10, 6, 1, (10, 5)).unwrap();
    t.add_dup(1, 10, 7, 1, (10, 5)).unwrap();
    assert_eq!(t.unattributed(), 0);
    // The owner freed, two dups left: each is shared-duped, counted for
    // nobody.
    assert_eq!(t.free(10, 5), 0);
    assert_eq!(t.unattributed(), 100);
    check_invariants(&t);
    // One dup left: the descriptor is named once, private again.
    assert_eq!(t.free(10, 6), 0);
    assert_eq!(t.unattributed(), 0);
    // An export slot besides it: the RM's export client holds a dup.
    t.export(3, 0, 10, 7).unwrap();
    assert_eq!(t.unattributed(), 100);
    // The slot alone.
    assert_eq!(t.free(10, 7), 0);
    assert_eq!(t.unattributed(), 100);
    check_invariants(&t);
    // The slot emptied: the memory goes, and leaves the sum.
    assert_eq!(t.export(3, 0, 10, 0), Ok(100));
    assert_eq!(t.unattributed(), 0);
    // An owner exported stays counted; closing the export fd changes
    // nothing for it.
    t.add_memory(1, 10, 8, 1, 40).unwrap();
    t.export(3, 1, 10, 8).unwrap();
    assert_eq!(t.unattributed(), 0);
    assert_eq!(t.close_file(3), 0);
    assert_eq!(t.unattributed(), 0);
    assert_eq!(t.free(10, 10), 40);
    assert_eq!(t.unattributed(), 0);
    check_invariants(&t);
    assert!(t.is_empty());
}

#[test]
fn script() {
    let mut t = table();
    assert_eq!(run_script(&mut t, SCRIPT), Ok(()));
    assert!(t.is_empty());
}

#[test]
fn script_notices_a_wrong_answer() {
    let mut t = table();
    let bad = [Step::Memory(1, 1, 1, 1, 10), Step::Free(1, 1, 9)];
    assert_eq!(run_script(&mut t, &bad), Err(1));
}

#[test]
fn memory_is_freed_once() {
    let mut t = table();
    t.add_object(1, 1, 1, 1, Kind::Plain).unwrap();
    t.add_memory(1, 1, 2, 1, 64).unwrap();
    assert_eq!(t.charged(), 64);
    assert_eq!(t.free(1, 2), 64);
    assert_eq!(t.free(1, 2), 0);
    assert_eq!(t.charged(), 0);
    check_invariants(&t);
}

#[test]
fn subtree_free_takes_descendants_only() {
    let mut t = table();
    t.add_object(1, 1, 1, 1, Kind::Plain).unwrap();
    t.add_object(1, 1, 2, 1, Kind::Device(0)).unwrap();
    t.add_object(1, 1, 3, 2, Kind::Plain).unwrap();
    t.add_memory(1, 1, 4, 3, 8).unwrap();
    t.add_memory(1, 1, 5, 1, 16).unwrap();
    // Same handles in another client are not children.
    t.add_object(1, 9, 9, 9, Kind::Plain).unwrap();
    t.add_memory(1, 9, 3, 2, 32).unwrap();
    assert_eq!(t.free(1, 2), 8);
    check_invariants(&t);
    assert_eq!(t.len(), 4);
    assert!(t.has_client(1));
    assert_eq!(t.free(1, 1), 16);
    assert_eq!(t.free(9, 3), 32);
    assert_eq!(t.free(9, 9), 0);
    assert!(t.is_empty());
}

#[test]
fn free_of_a_client_takes_orphans_too() {
    // Objects whose parent the table never saw go with their client.
    let mut t = table();
    t.add_object(1, 1, 1, 1, Kind::Plain).unwrap();
    t.add_memory(1, 1, 7, 55, 3).unwrap();
    assert_eq!(t.free(1, 55), 3);
    t.add_memory(1, 1, 7, 55, 3).unwrap();
    assert_eq!(t.free(1, 1), 3);
    assert!(t.is_empty());
}

#[test]
fn cycles_terminate() {
    // The table may be out of step with the RM: parents that loop.
    let mut t = table();
    t.add_object(1, 1, 1, 1, Kind::Plain).unwrap();
    t.add_object(1, 1, 2, 1, Kind::Plain).unwrap();
    t.add_memory(1, 1, 3, 4, 1).unwrap();
    t.add_memory(1, 1, 4, 3, 2).unwrap();
    t.add_object(1, 1, 3, 2, Kind::Plain).unwrap();
    t.add_memory(1, 1, 5, 5, 4).unwrap();
    t.add_object(1, 1, 6, 5, Kind::Plain).unwrap();
    assert_eq!(t.free(1, 2), 3);
    assert_eq!(t.free(1, 5), 4);
    check_invariants(&t);
    assert_eq!(t.len(), 1);
    assert!(t.edges.keys().all(|e| e.parent != WORK));
}

#[test]
fn duplicate_handles_are_kept_and_the_first_answers() {
    let mut t = table();
    t.add_object(1, 1, 1, 1, Kind::Plain).unwrap();
    t.add_object(1, 1, 2, 1, Kind::Device(4)).unwrap();
    t.add_object(1, 1, 2, 1, Kind::Usermode).unwrap();
    assert_eq!(t.gpu_of(1, 2), Some(4));
    assert!(t.is_usermode(1, 2));
    t.add_memory(1, 1, 3, 1, 10).unwrap();
    t.add_memory(1, 1, 3, 1, 20).unwrap();
    // A dup refers to the first's memory.
    t.add_dup(1, 1, 4, 1, (1, 3)).unwrap();
    assert_eq!(t.free(1, 3), 20);
    assert_eq!(t.free(1, 4), 10);
    assert_eq!(t.free(1, 2), 0);
    assert!(!t.is_usermode(1, 2));
    assert_eq!(t.len(), 1);
    check_invariants(&t);
}

#[test]
fn a_dup_of_a_usermode_object_is_usermode() {
    let mut t = table();
    t.add_object(1, 1, 1, 1, Kind::Plain).unwrap();
    t.add_object(1, 1, 2, 1, Kind::Usermode).unwrap();
    t.add_object(2, 2, 2, 2, Kind::Plain).unwrap();
    t.add_dup(2, 2, 9, 2, (1, 2)).unwrap();
    assert!(t.is_usermode(2, 9), "the dup of a doorbell is a doorbell");
    // And a dup of that dup.
    t.add_dup(1, 1, 10, 1, (2, 9)).unwrap();
    assert!(t.is_usermode(1, 10));
    // A dup of anything else is not.
    t.add_memory(1, 1, 3, 1, 10).unwrap();
    t.add_dup(2, 2, 11, 2, (1, 3)).unwrap();
    assert!(!t.is_usermode(2, 11));
    check_invariants(&t);
}

#[test]
fn dup_keeps_the_charge_until_the_last_handle() {
    let mut t = table();
    t.add_object(1, 1, 1, 1, Kind::Plain).unwrap();
    t.add_object(2, 2, 2, 2, Kind::Plain).unwrap();
    t.add_memory(1, 1, 3, 1, 10).unwrap();
    t.add_dup(2, 2, 4, 2, (1, 3)).unwrap();
    t.add_dup(2, 2, 5, 2, (2, 4)).unwrap();
    // A dup of something unknown or without memory refers to nothing.
    t.add_dup(2, 2, 6, 2, (1, 1)).unwrap();
    t.add_dup(2, 2, 7, 2, (8, 8)).unwrap();
    assert_eq!(t.close_file(1), 0);
    assert_eq!(t.free(2, 4), 0);
    assert_eq!(t.free(2, 5), 10);
    assert_eq!(t.close_file(2), 0);
    assert!(t.is_empty());
}

#[test]
fn slots_hold_until_overwritten_or_closed() {
    let mut t = table();
    t.add_object(1, 1, 1, 1, Kind::Plain).unwrap();
    t.add_memory(1, 1, 2, 1, 10).unwrap();
    t.add_memory(1, 1, 3, 1, 20).unwrap();
    // Export into two slots of fd 5 and one of fd 6.
    assert_eq!(t.export(5, 0, 1, 2), Ok(0));
    assert_eq!(t.export(5, 1, 1, 2), Ok(0));
    assert_eq!(t.export(6, 0, 1, 3), Ok(0));
    // Re-exporting the same memory into a slot keeps it.
    assert_eq!(t.export(6, 0, 1, 3), Ok(0));
    assert_eq!(t.free(1, 2), 0);
    assert_eq!(t.free(1, 3), 0);
    assert_eq!(t.charged(), 30);
    assert_eq!(t.export(5, 0, 1, 0), Ok(0));
    assert_eq!(t.export(5, 1, 1, 0), Ok(10));
    // An export of nothing into an empty slot.
    assert_eq!(t.export(5, 7, 1, 0), Ok(0));
    // Importing from fd 6 slot 0 and from an empty slot.
    t.import(1, 1, 4, 1, 6, 0).unwrap();
    t.import(1, 1, 5, 1, 6, 3).unwrap();
    assert_eq!(t.close_file(6), 0);
    check_invariants(&t);
    assert_eq!(t.close_file(1), 20);
    assert!(t.is_empty());
}

#[test]
fn close_takes_the_files_clients_with_all_their_objects() {
    let mut t = table();
    t.add_object(1, 1, 1, 1, Kind::Plain).unwrap();
    t.add_object(2, 2, 2, 2, Kind::Plain).unwrap();
    t.add_memory(2, 1, 3, 1, 10).unwrap();
    t.add_memory(1, 2, 4, 2, 20).unwrap();
    t.add_object(1, 3, 5, 3, Kind::Plain).unwrap();
    assert_eq!(t.close_file(1), 10);
    assert!(!t.has_client(1));
    assert!(t.has_client(2));
    // An object in a client the table never saw stays.
    assert_eq!(t.len(), 3);
    assert_eq!(t.close_file(2), 20);
    assert_eq!(t.len(), 1);
    check_invariants(&t);
}

#[test]
fn clients_of_a_file_are_listed_until_it_closes() {
    let mut t = table();
    let list = |t: &Table, file| {
        let mut v = Vec::new();
        t.clients_of_file(file, |c| {
            v.push(c);
            Ok::<(), ()>(())
        })
        .unwrap();
        v
    };
    t.add_object(1, 9, 9, 9, Kind::Plain).unwrap();
    t.add_object(1, 4, 4, 4, Kind::Plain).unwrap();
    t.add_object(2, 5, 5, 5, Kind::Plain).unwrap();
    t.add_memory(1, 4, 6, 4, 10).unwrap();
    assert_eq!(list(&t, 1), vec![4, 9]);
    assert_eq!(list(&t, 2), vec![5]);
    assert_eq!(list(&t, 3), Vec::<u32>::new());
    assert_eq!(t.close_file(1), 10);
    assert_eq!(list(&t, 1), Vec::<u32>::new());
    assert_eq!(list(&t, 2), vec![5]);
}

#[test]
fn channels_and_their_gpus() {
    let mut t = table();
    t.add_object(1, 1, 1, 1, Kind::Plain).unwrap();
    t.add_object(1, 1, 2, 1, Kind::Device(7)).unwrap();
    t.add_object(1, 1, 3, 2, Kind::Plain).unwrap();
    t.add_object(1, 1, 4, 3, Kind::Channel).unwrap();
    t.add_object(1, 1, 5, 2, Kind::Channel).unwrap();
    // No device above it: not listed.
    t.add_object(1, 1, 6, 1, Kind::Channel).unwrap();
    // The device five levels above a channel's parent is found, six
    // levels above is too deep to look up.
    t.add_object(1, 1, 10, 2, Kind::Plain).unwrap();
    t.add_object(1, 1, 11, 10, Kind::Plain).unwrap();
    t.add_object(1, 1, 12, 11, Kind::Plain).unwrap();
    t.add_object(1, 1, 13, 12, Kind::Plain).unwrap();
    t.add_object(1, 1, 14, 13, Kind::Channel).unwrap();
    t.add_object(1, 1, 15, 14, Kind::Channel).unwrap();
    assert_eq!(t.gpu_of(1, 13), Some(7));
    assert_eq!(t.gpu_of(1, 14), None);
    let mut got = Vec::new();
    t.channels(|g, c, h| {
        got.push((g, c, h));
        Ok::<(), ()>(())
    })
    .unwrap();
    assert_eq!(got, [(7, 1, 4), (7, 1, 5), (7, 1, 14)]);
    assert_eq!(t.channels(|_, _, _| Err(3)), Err(3));
    assert!(t.has_channels());
    assert_eq!(t.free(1, 2), 0);
    assert!(t.has_channels());
    assert_eq!(t.free(1, 6), 0);
    assert_eq!(t.len(), 1);
    assert!(!t.has_channels());
    check_invariants(&t);
}

#[test]
fn many_objects_and_deep_trees() {
    // Far past the 65 536 entries of the old table, a chain 100 000 deep
    // freed from its root, and a close of 10 000 clients.
    let mut t = table();
    t.add_object(1, 1, 1, 1, Kind::Plain).unwrap();
    let n = 100_000u32;
    for h in 2..n {
        t.add_memory(1, 1, h, h - 1, 1).unwrap();
    }
    assert_eq!(t.len(), n as usize - 1);
    assert_eq!(t.free(1, 2), u64::from(n - 2));
    assert_eq!(t.len(), 1);
    for c in 2..10_000u32 {
        t.add_object(1, c, c, c, Kind::Plain).unwrap();
        t.add_memory(2, c, 1, c, 2).unwrap();
    }
    assert_eq!(t.close_file(1), 2 * 9998);
    assert!(t.is_empty());
}

#[test]
fn a_full_storage_changes_nothing() {
    for budget in 0..6 {
        let mut t = table();
        t.add_object(1, 1, 1, 1, Kind::Plain).unwrap();
        t.add_memory(1, 1, 2, 1, 5).unwrap();
        t.export(9, 0, 1, 2).unwrap();
        let before = (
            t.len(),
            t.charged(),
            t.objs.clone(),
            t.allocs.clone(),
            t.slots.clone(),
        );
        BUDGET.with(|b| b.set(budget));
        let results = [
            t.add_object(1, 1, 3, 1, Kind::Channel),
            t.add_object(1, 4, 4, 4, Kind::Channel),
            t.add_memory(1, 1, 5, 1, 7),
            t.add_dup(1, 1, 6, 1, (1, 2)),
            t.import(1, 1, 7, 1, 9, 0),
            t.export(9, 1, 1, 2).map(|_| ()),
        ];
        BUDGET.with(|b| b.set(usize::MAX));
        check_invariants(&t);
        if budget == 0 {
            assert!(results.iter().all(|r| *r == Err(Full)));
            let after = (
                t.len(),
                t.charged(),
                t.objs.clone(),
                t.allocs.clone(),
                t.slots.clone(),
            );
            assert_eq!(before, after);
        }
        let more = if results[2].is_ok() { 7 } else { 0 };
        assert_eq!(t.close_file(1) + t.close_file(9), 5 + more);
        assert!(t.is_empty(), "budget {budget}");
    }
}

// The reference model: the table as the kernel kept it before (a `Vec`
// of objects, allocations collected by scanning), for `free`, `close_file`,
// `export` and the queries.

#[derive(Clone, Copy, Debug)]
struct MObj {
    file: u64,
    client: u32,
    handle: u32,
    parent: u32,
    alloc: u64,
    kind: Kind,
    owner: bool,
}

#[derive(Default, Debug)]
struct Model {
    objs: Vec<MObj>,
    allocs: Vec<(u64, u64)>,
    slots: Vec<(u64, usize, u64)>,
    next_alloc: u64,
}

impl Model {
    fn new() -> Self {
        Self {
            next_alloc: 1,
            ..Self::default()
        }
    }
    fn push(&mut self, file: u64, client: u32, handle: u32, parent: u32, alloc: u64, kind: Kind) {
        self.objs.push(MObj {
            file,
            client,
            handle,
            parent,
            alloc,
            kind,
            owner: false,
        });
    }
    fn find(&self, client: u32, handle: u32) -> Option<&MObj> {
        self.objs
            .iter()
            .find(|o| (o.client, o.handle) == (client, handle))
    }
    fn add_memory(&mut self, file: u64, client: u32, handle: u32, parent: u32, bytes: u64) {
        let id = self.next_alloc;
        self.allocs.push((id, bytes));
        self.push(file, client, handle, parent, id, Kind::Plain);
        if let Some(o) = self.objs.last_mut() {
            o.owner = true;
        }
        self.next_alloc += 1;
    }
    /// Bytes the vendor's per-process count leaves out: memory whose
    /// allocation is gone, unless exactly one object and no slot names it.
    fn unattributed(&self) -> u64 {
        self.allocs
            .iter()
            .filter(|(id, _)| {
                let owner = self.objs.iter().any(|o| o.owner && o.alloc == *id);
                let entries = self.objs.iter().filter(|o| o.alloc == *id).count();
                let slots = self.slots.iter().filter(|s| s.2 == *id).count();
                !(owner || (entries == 1 && slots == 0))
            })
            .map(|a| a.1)
            .sum()
    }
    fn add_dup(&mut self, file: u64, client: u32, handle: u32, parent: u32, src: (u32, u32)) {
        let alloc = self.find(src.0, src.1).map_or(0, |o| o.alloc);
        // The dup of a doorbell is a doorbell (issue 16 §3).
        let usermode = self
            .objs
            .iter()
            .any(|o| (o.client, o.handle) == src && o.kind == Kind::Usermode);
        let kind = if usermode {
            Kind::Usermode
        } else {
            Kind::Plain
        };
        self.push(file, client, handle, parent, alloc, kind);
    }
    fn export(&mut self, file: u64, index: usize, client: u32, handle: u32) -> u64 {
        self.slots.retain(|s| !(s.0 == file && s.1 == index));
        let alloc = match handle {
            0 => 0,
            h => self.find(client, h).map_or(0, |o| o.alloc),
        };
        if alloc != 0 {
            self.slots.push((file, index, alloc));
        }
        self.collect()
    }
    fn import(&mut self, file: u64, client: u32, handle: u32, parent: u32, xf: u64, index: usize) {
        let alloc = self
            .slots
            .iter()
            .find(|s| s.0 == xf && s.1 == index)
            .map_or(0, |s| s.2);
        self.push(file, client, handle, parent, alloc, Kind::Plain);
    }
    fn free(&mut self, client: u32, handle: u32) -> u64 {
        let mut doomed = vec![handle];
        if handle != client {
            loop {
                let before = doomed.len();
                for o in self.objs.iter() {
                    if o.client == client
                        && doomed.contains(&o.parent)
                        && !doomed.contains(&o.handle)
                    {
                        doomed.push(o.handle);
                    }
                }
                if doomed.len() == before {
                    break;
                }
            }
        }
        self.objs
            .retain(|o| !(o.client == client && (handle == client || doomed.contains(&o.handle))));
        self.collect()
    }
    fn close_file(&mut self, file: u64) -> u64 {
        let clients: Vec<u32> = self
            .objs
            .iter()
            .filter(|o| o.file == file && o.handle == o.client)
            .map(|o| o.client)
            .collect();
        self.objs.retain(|o| !clients.contains(&o.client));
        self.slots.retain(|s| s.0 != file);
        self.collect()
    }
    fn collect(&mut self) -> u64 {
        let mut freed = 0;
        let (objs, slots) = (&self.objs, &self.slots);
        self.allocs.retain(|a| {
            let live = objs.iter().any(|o| o.alloc == a.0) || slots.iter().any(|s| s.2 == a.0);
            if !live {
                freed += a.1;
            }
            live
        });
        freed
    }
    fn gpu_of(&self, client: u32, handle: u32) -> Option<u32> {
        let mut at = handle;
        for _ in 0..5 {
            match self.find(client, at) {
                Some(MObj {
                    kind: Kind::Device(gpu),
                    ..
                }) => return Some(*gpu),
                Some(p) if p.handle != p.parent => at = p.parent,
                _ => return None,
            }
        }
        None
    }
    fn channels(&self) -> Vec<(u32, u32, u32)> {
        self.objs
            .iter()
            .filter(|o| o.kind == Kind::Channel)
            .filter_map(|o| {
                self.gpu_of(o.client, o.parent)
                    .map(|g| (g, o.client, o.handle))
            })
            .collect()
    }
}

/// A random call. Handles, clients and files come from small ranges so
/// that they meet.
#[derive(Clone, Copy, Debug)]
enum Op {
    Client(u64, u32),
    Object(u64, u32, u32, u32, Kind),
    Memory(u64, u32, u32, u32, u64),
    Dup(u64, u32, u32, u32, (u32, u32)),
    Export(u64, usize, u32, u32),
    Import(u64, u32, u32, u32, u64, usize),
    Free(u32, u32),
    FreeClient(u32),
    Close(u64),
    Kill,
}

const FILES: u64 = 4;

fn op() -> impl Strategy<Value = Op> {
    let file = 1..=FILES;
    let client = 100u32..104;
    let handle = || 1u32..16;
    let kind = prop_oneof![
        Just(Kind::Plain),
        Just(Kind::Usermode),
        Just(Kind::Channel),
        (0u32..3).prop_map(Kind::Device),
    ];
    prop_oneof![
        2 => (file.clone(), client.clone()).prop_map(|(f, c)| Op::Client(f, c)),
        4 => (file.clone(), client.clone(), handle(), handle(), kind)
            .prop_map(|(f, c, h, p, k)| Op::Object(f, c, h, p, k)),
        // The parent may be the client.
        5 => (file.clone(), client.clone(), handle(), prop_oneof![handle(), Just(0)], 1u64..1000)
            .prop_map(|(f, c, h, p, b)| Op::Memory(f, c, h, if p == 0 { c } else { p }, b)),
        3 => (file.clone(), client.clone(), handle(), handle(), client.clone(), handle())
            .prop_map(|(f, c, h, p, sc, sh)| Op::Dup(f, c, h, p, (sc, sh))),
        2 => (file.clone(), 0usize..3, client.clone(), prop_oneof![handle(), Just(0)])
            .prop_map(|(f, i, c, h)| Op::Export(f, i, c, h)),
        2 => (file.clone(), client.clone(), handle(), handle(), file.clone(), 0usize..3)
            .prop_map(|(f, c, h, p, xf, i)| Op::Import(f, c, h, p, xf, i)),
        4 => (client.clone(), handle()).prop_map(|(c, h)| Op::Free(c, h)),
        1 => client.clone().prop_map(Op::FreeClient),
        1 => file.prop_map(Op::Close),
        1 => Just(Op::Kill),
    ]
}

/// Runs `ops` on a table, the model and a ledger. `rm`: skip what the RM
/// would refuse (an object in a client that does not exist, a handle in
/// use, a client handle in use, a parent that does not exist), so that
/// the table stays in step with a real RM.
fn run(ops: &[Op], rm: bool) -> Result<(), TestCaseError> {
    let mut t = table();
    let mut m = Model::new();
    let mut ledger = Ledger::new(u64::MAX);
    let refuse = |m: &Model, c: u32, h: u32, p: u32| {
        rm && (m.find(c, c).is_none()
            || m.find(c, h).is_some()
            || (p != c && m.find(c, p).is_none()))
    };
    for &op in ops {
        let mut freed = (0u64, 0u64);
        match op {
            Op::Client(f, c) => {
                if !(rm && m.objs.iter().any(|o| o.client == c)) {
                    t.add_object(f, c, c, c, Kind::Plain).unwrap();
                    m.push(f, c, c, c, 0, Kind::Plain);
                }
            }
            Op::Object(f, c, h, p, k) => {
                if !refuse(&m, c, h, p) {
                    t.add_object(f, c, h, p, k).unwrap();
                    m.push(f, c, h, p, 0, k);
                }
            }
            Op::Memory(f, c, h, p, b) => {
                if !refuse(&m, c, h, p) {
                    prop_assert!(ledger.charge(b).is_ok());
                    t.add_memory(f, c, h, p, b).unwrap();
                    m.add_memory(f, c, h, p, b);
                }
            }
            Op::Dup(f, c, h, p, src) => {
                let unknown = rm && m.find(src.0, src.1).is_none();
                if !(refuse(&m, c, h, p) || unknown) {
                    t.add_dup(f, c, h, p, src).unwrap();
                    m.add_dup(f, c, h, p, src);
                }
            }
            Op::Export(f, i, c, h) => {
                freed = (t.export(f, i, c, h).unwrap(), m.export(f, i, c, h));
            }
            Op::Import(f, c, h, p, xf, i) => {
                if !refuse(&m, c, h, p) {
                    t.import(f, c, h, p, xf, i).unwrap();
                    m.import(f, c, h, p, xf, i);
                }
            }
            Op::Free(c, h) => freed = (t.free(c, h), m.free(c, h)),
            Op::FreeClient(c) => freed = (t.free(c, c), m.free(c, c)),
            Op::Close(f) => freed = (t.close_file(f), m.close_file(f)),
            Op::Kill => {
                for f in 1..=FILES {
                    freed.0 += t.close_file(f);
                    freed.1 += m.close_file(f);
                }
            }
        }
        prop_assert_eq!(freed.0, freed.1, "{:?}", op);
        prop_assert!(ledger.uncharge(freed.0).is_ok(), "underflow at {:?}", op);
        let live: u64 = m.allocs.iter().map(|a| a.1).sum();
        prop_assert_eq!(ledger.used(), live, "{:?}", op);
        prop_assert_eq!(t.charged(), live);
        prop_assert_eq!(t.unattributed(), m.unattributed(), "{:?}", op);
        prop_assert_eq!(t.len(), m.objs.len());
        prop_assert_eq!(
            t.has_channels(),
            m.objs.iter().any(|o| o.kind == Kind::Channel)
        );
        let mut ch = Vec::new();
        t.channels(|g, c, h| {
            ch.push((g, c, h));
            Ok::<(), ()>(())
        })
        .unwrap();
        prop_assert_eq!(ch, m.channels());
        for c in 100..104 {
            prop_assert_eq!(t.has_client(c), m.find(c, c).is_some());
            for h in 1..16 {
                prop_assert_eq!(t.gpu_of(c, h), m.gpu_of(c, h));
                prop_assert_eq!(
                    t.is_usermode(c, h),
                    m.objs
                        .iter()
                        .any(|o| (o.client, o.handle) == (c, h) && o.kind == Kind::Usermode)
                );
            }
        }
        check_invariants(&t);
    }
    // The containers go away: every file closes.
    let mut freed = 0;
    for f in 1..=FILES {
        let (a, b) = (t.close_file(f), m.close_file(f));
        prop_assert_eq!(a, b);
        freed += a;
    }
    prop_assert!(ledger.uncharge(freed).is_ok());
    check_invariants(&t);
    if rm {
        prop_assert!(t.is_empty(), "left: {:?}", m);
        prop_assert_eq!(ledger.used(), 0);
    } else {
        prop_assert_eq!(t.len(), m.objs.len());
        prop_assert_eq!(ledger.used(), t.charged());
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    /// In step with an RM: the ledger matches live memory after every
    /// step, and closing every file leaves nothing.
    #[test]
    fn ledger_follows_the_rm(ops in proptest::collection::vec(op(), 0..120)) {
        run(&ops, true)?;
    }

    /// Any calls, also those the RM would refuse (duplicate handles,
    /// missing parents, cycles): the table answers as the old one did.
    #[test]
    fn same_as_the_old_table(ops in proptest::collection::vec(op(), 0..120)) {
        run(&ops, false)?;
    }
}
