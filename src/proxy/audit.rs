// SPDX-License-Identifier: GPL-2.0

//! The audit of the vendor's own count: after an allocating call, the
//! video memory the vendor holds for the context's processes must not
//! exceed what the ledger charges (`docs/isolation.md` §5).

use super::file::ProxyFile;
use crate::{fgcore::ledger::audit, fgcore::nvabi::status::NV_ERR_NO_MEMORY, kapi, vendor};
use kernel::{
    prelude::*,
    sync::{aref::ARef, atomic::Relaxed},
    task::Task,
};

impl ProxyFile {
    /// Records the calling process as one whose video memory the audit
    /// asks the vendor for (before its allocating call reaches the vendor);
    /// returns whether it is audited. A process that holds the vendor's
    /// own control node besides the context's (a host process, never a
    /// container's: a container has no vendor node) is not: the vendor's
    /// count of its memory includes what it allocated directly, which the
    /// context's ledger never saw.
    pub(super) fn note_auditee(&self) -> Result<bool> {
        let current = kernel::current!();
        let me = current.group_leader();
        let mut inner = self.ctx.inner.lock();
        if inner.auditees.iter().any(|t| core::ptr::eq(&**t, me)) {
            return Ok(true);
        }
        // The walk takes the fd table's spinlock: fine under this mutex.
        if self.vendor.held_directly() {
            return Ok(false);
        }
        inner.auditees.retain(|t| vendor::task_alive(t));
        inner.auditees.push(ARef::from(me), GFP_KERNEL)?;
        Ok(true)
    }

    /// After an allocating call, whatever it returned: the video memory the
    /// vendor holds for the context's processes (counted by the vendor
    /// from its own objects, [`kapi::vidmem_of`]) must not exceed what the
    /// ledger charges (`docs/isolation.md` §5). A call whose class, size,
    /// nested pointer, handle, client or status a second thread rewrote
    /// between the proxy's read and the vendor's shows up here, whichever
    /// field it was. A surplus that a close in flight explains (the ledger
    /// is returned before the vendor's file is released) goes within
    /// [`audit::SETTLE_TRIES`] retries; one that stays is an attack.
    pub(super) fn audit_vidmem(&self) {
        self.ctx.audit_checks.fetch_add(1, Relaxed);
        let mut tries = 0;
        loop {
            let excess = match self.vidmem_excess() {
                Ok(e) => e,
                Err(status) => {
                    pr_debug!(
                        "context {}: the vendor could not count its video memory (status {:#x})\n",
                        self.ctx_name(),
                        status
                    );
                    return;
                }
            };
            let Some((vendor, ledger)) = excess else {
                return;
            };
            if tries >= audit::SETTLE_TRIES {
                self.diverged(vendor, ledger);
                return;
            }
            tries += 1;
            kernel::time::delay::fsleep(kernel::time::Delta::from_micros(audit::SETTLE_US));
        }
    }

    /// (vendor's bytes, the ledger's bytes it can see) when the vendor
    /// holds more.
    fn vidmem_excess(&self) -> core::result::Result<Option<(u64, u64)>, u32> {
        let mut pids: KVec<u32> = KVec::new();
        {
            let inner = self.ctx.inner.lock();
            for t in inner.auditees.iter() {
                // As the RM numbers them for this caller (0: not visible).
                let nr = t.tgid_nr_ns(None);
                if nr > 0 {
                    pids.push(nr as u32, GFP_KERNEL)
                        .map_err(|_| NV_ERR_NO_MEMORY)?;
                }
            }
        }
        let mut vendor = 0u64;
        for gpu in self.ctx.gpus.iter() {
            vendor = vendor.saturating_add(kapi::vidmem_of(gpu, &pids)?);
        }
        // What of the ledger the vendor's count can see: not the charges
        // it attributes to no process (memory held only by dups or export
        // slots after its allocation was freed), nor managed memory (UVM
        // backs it from the PMA, outside any RM object): left in, they are
        // slack a rewritten call could fill unseen (F1 of
        // docs/chaos-findings.md).
        let ledger = {
            let inner = self.ctx.inner.lock();
            audit::visible(
                inner.ledger.used(),
                inner.objects.unattributed(),
                inner.managed.ranges.total(),
            )
        };
        Ok(audit::diverges(vendor, ledger).then_some((vendor, ledger)))
    }

    /// The vendor holds video memory the ledger does not charge: the tenant
    /// changed a call after the proxy read it. Every process that made an
    /// allocating call through the context is killed (their files close,
    /// and the vendor frees their clients, the hidden object with them),
    /// and the context refuses every further open and call until it is
    /// destroyed.
    fn diverged(&self, vendor: u64, ledger: u64) {
        self.ctx.audit_divergences.fetch_add(1, Relaxed);
        if !self.ctx.is_compromised() {
            pr_err!(
                "context {}: the vendor holds {} B of video memory for its processes, the ledger charges {} B: a call was rewritten after the proxy read it (pid {}); killing the context's processes and refusing further calls\n",
                self.ctx_name(),
                vendor,
                ledger,
                kernel::current!().tgid()
            );
        }
        self.ctx.mark_compromised();
        let tasks: KVec<ARef<Task>> = {
            let inner = self.ctx.inner.lock();
            let mut v = KVec::new();
            for t in inner.auditees.iter() {
                // On allocation failure the caller's group is still killed.
                let _ = v.push(t.clone(), GFP_KERNEL);
            }
            v
        };
        // The caller is one of them. (Not its process group: a context's
        // processes need not share one, and a group may hold more than
        // the context's.)
        for t in tasks.iter() {
            vendor::kill_process(t);
        }
    }
}
