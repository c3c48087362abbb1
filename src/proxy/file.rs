// SPDX-License-Identifier: GPL-2.0

//! A proxy node and an open proxy file: what the file stands for, and the
//! bookkeeping of opening and closing it (the context's processes, the
//! charges a closed file leaves). What a call on it does is
//! [`super::call`]; its file operations are [`super::ops`].

use crate::fgcore::{
    drivers,
    limits::Limited,
    nvabi::{decode::FileKind, Branch},
};
use crate::{
    context::Context,
    managed,
    vendor::{self, VendorFile},
};
use kernel::{
    fs::File,
    prelude::*,
    sync::{
        atomic::{Atomic, Relaxed},
        Arc,
    },
};

/// Which vendor node a proxy node stands for.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum NodeKind {
    /// `nvidiactl`.
    Ctl,
    /// `nvidiaN`, by the container's GPU number.
    Gpu(u32),
    /// `nvidia-uvm`.
    Uvm,
}

/// A proxy node: a context and which of its nodes.
pub(crate) struct Node {
    pub(crate) ctx: Arc<Context>,
    pub(crate) kind: NodeKind,
}

/// One open proxy file.
#[pin_data]
pub(crate) struct ProxyFile {
    pub(super) ctx: Arc<Context>,
    pub(super) kind: NodeKind,
    pub(super) vendor: VendorFile,
    tgid: i32,
    /// The vendor driver's branch, whose ABI table decodes the file's
    /// calls (`None`: no table, possible only in permissive mode, where
    /// calls pass through undecoded).
    pub(super) branch: Option<Branch>,
    /// Identifies the file in the context's object table.
    pub(super) id: u64,
    /// RM_MAP_MEMORY of a usermode (doorbell) object of host GPU N named
    /// this file (N + 1; 0: none). From then on every mmap of this file is
    /// gated by the compute scheduler on that GPU, not only the next: the
    /// vendor keeps the file's mapping context, so a second mmap (or a
    /// forked child's mmap of the inherited fd) maps the doorbell again.
    /// It is never cleared: a later map call naming this file cannot be
    /// trusted to have replaced the context (its parameters are the
    /// tenant's memory), and CUDA maps every object through a file of its
    /// own, so a doorbell file is not reused for other memory.
    pub(super) doorbell_gpu: Atomic<u32>,
}

impl ProxyFile {
    /// Opens the vendor's node behind `node` for `file`.
    pub(crate) fn open(node: &Arc<Node>, file: &File) -> Result<Arc<Self>> {
        let ctx = &node.ctx;
        if ctx.is_dead() {
            return Err(ENODEV);
        }
        if ctx.is_compromised() {
            return Err(EPERM);
        }
        let path = match node.kind {
            NodeKind::Ctl => &ctx.paths.ctl,
            NodeKind::Uvm => &ctx.paths.uvm,
            NodeKind::Gpu(i) => ctx.paths.gpus.get(i as usize).ok_or(ENODEV)?,
        };
        let files = u64::from(ctx.open_files.load(Relaxed));
        if !ctx.inner.lock().admit(Limited::Files, files) {
            return Err(EMFILE);
        }
        let vendor = path.open(file)?;
        let tgid = kernel::current!().tgid();
        let (module, version) = vendor.driver();
        let branch = drivers::lookup(module, version).map(|d| d.branch);
        vendor::note_driver(module, version);
        if branch.is_none() {
            pr_warn!(
                "context {}: vendor driver '{}' version '{}' has no ABI table in fakegpu (supported: {}){}\n",
                ctx.name.to_str().unwrap_or("?"),
                core::str::from_utf8(module).unwrap_or("?"),
                core::str::from_utf8(version).unwrap_or("?"),
                drivers::SUPPORTED_VERSIONS,
                if crate::permissive() { "; permissive mode: passing calls through" } else { "; the open is refused" }
            );
            if !crate::permissive() {
                return Err(ENXIO);
            }
        }
        let pf = Arc::pin_init(
            try_pin_init!(ProxyFile {
                ctx: ctx.clone(),
                kind: node.kind,
                vendor,
                tgid,
                branch,
                id: ctx.next_file_id(),
                doorbell_gpu: Atomic::new(0),
            }),
            GFP_KERNEL,
        )?;
        {
            let mut inner = ctx.inner.lock();
            match inner.pids.iter_mut().find(|(p, _)| *p == tgid) {
                Some((_, n)) => *n += 1,
                None => inner.pids.push((tgid, 1), GFP_KERNEL)?,
            }
        }
        ctx.open_files.add(1, Relaxed);
        Ok(pf)
    }

    /// The last reference to the file went: the vendor frees what its
    /// clients held, so every byte charged through it is returned once
    /// the vendor has freed them.
    pub(crate) fn release(self: Arc<Self>) {
        let mut inner = self.ctx.inner.lock();
        // The vendor frees this file's clients only when its own file is
        // released, which a mapping or a registered GPU file can put off
        // indefinitely. Until it has freed them their objects stay in the
        // table, holding the charges they share as live objects do (a dup
        // in such a client keeps its memory charged after the original is
        // freed: the vendor keeps it too), and the file's close is applied
        // to the table then (`Context::settle_lingering`).
        let mut clients = KVec::new();
        let listed = inner
            .objects
            .clients_of_file(self.id, |c| clients.push(c, GFP_KERNEL));
        let kept = listed.is_ok()
            && !clients.is_empty()
            && inner.lingering.push((clients, self.id), GFP_KERNEL).is_ok();
        if !kept {
            let bytes = inner.objects.close_file(self.id);
            if inner.ledger.uncharge(bytes).is_err() {
                pr_err!(
                    "context {}: ledger underflow on close\n",
                    self.ctx.name_str()
                );
            }
        }
        if let Some(i) = inner.pids.iter().position(|(p, _)| *p == self.tgid) {
            match inner.pids.get_mut(i) {
                Some((_, n)) if *n > 1 => *n -= 1,
                _ => {
                    let _ = inner.pids.remove(i);
                }
            }
        }
        drop(inner);
        if self.kind == NodeKind::Uvm {
            // A dead process's managed ranges go (its mm has no users).
            managed::reconcile(&*self.ctx, false);
        }
        self.ctx.open_files.fetch_sub(1, Relaxed);
    }

    pub(super) fn file_kind(&self) -> FileKind {
        match self.kind {
            NodeKind::Ctl => FileKind::Ctl,
            NodeKind::Gpu(_) => FileKind::Gpu,
            NodeKind::Uvm => FileKind::Uvm,
        }
    }

    /// The context's name, for messages.
    pub(super) fn ctx_name(&self) -> &str {
        self.ctx.name_str()
    }
}
