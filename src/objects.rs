// SPDX-License-Identifier: GPL-2.0

//! The RM objects of a context and the GPU memory behind them: the pure
//! core's [`ObjectTable`](crate::fgcore::objects::ObjectTable) (which holds
//! the rules: subtree frees, closes, dups, export slots and imports), stored
//! in the kernel's red-black trees. The table is per context, under the
//! context's lock, together with the ledger it feeds.

use crate::fgcore::objects::{self, Full, Map, Storage};
use kernel::{prelude::*, rbtree::RBTree};

pub(crate) use objects::Kind;

/// An ordered map in a red-black tree: one node allocation per entry.
pub(crate) struct RbMap<K, V>(RBTree<K, V>);

impl<K: Ord + Copy, V: Copy> Map<K, V> for RbMap<K, V> {
    fn get(&self, key: &K) -> Option<V> {
        self.0.get(key).copied()
    }

    fn get_mut(&mut self, key: &K) -> Option<&mut V> {
        self.0.get_mut(key)
    }

    fn insert(&mut self, key: K, value: V) -> Result<(), Full> {
        if let Some(v) = self.0.get_mut(&key) {
            *v = value;
            return Ok(());
        }
        self.0
            // Charged to the tenant's memory cgroup: its calls make them.
            .try_create_and_insert(key, value, GFP_KERNEL_ACCOUNT)
            .map(|_| ())
            .map_err(|_| Full)
    }

    fn remove(&mut self, key: &K) -> Option<V> {
        self.0.remove(key)
    }

    fn lower_bound(&self, key: &K) -> Option<(K, V)> {
        self.0.cursor_lower_bound(key).map(|c| {
            let (k, v) = c.current();
            (*k, *v)
        })
    }

    fn rekey(&mut self, old: &K, new: K) -> bool {
        // The node is reused: no allocation, so this cannot fail.
        let Some(value) = self.0.get(old).copied() else {
            return false;
        };
        let Some(node) = self.0.remove_node(old) else {
            return false;
        };
        let node = node.into_reservation().into_node(new, value);
        self.0.insert(node);
        true
    }

    fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

/// Storage of the object table in the kernel.
pub(crate) struct Kernel;

impl Storage for Kernel {
    type Map<K: Ord + Copy, V: Copy> = RbMap<K, V>;

    fn new_map<K: Ord + Copy, V: Copy>() -> RbMap<K, V> {
        RbMap(RBTree::new())
    }
}

/// Objects and allocations of one context.
pub(crate) type ObjectTable = objects::ObjectTable<Kernel>;

impl ObjectTable {
    /// Appends `(host GPU, client, channel)` for every channel of the
    /// context whose device is known (a channel's ancestors in its client
    /// lead to its device), in the order they were made.
    pub(crate) fn channels_into(&self, out: &mut KVec<(u32, u32, u32)>) -> Result {
        self.channels(|gpu, client, handle| {
            out.push((gpu, client, handle), GFP_KERNEL)?;
            Ok(())
        })
    }
}

/// The table is out of memory.
pub(crate) fn enomem(_: Full) -> Error {
    ENOMEM
}
