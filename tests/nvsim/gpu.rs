// SPDX-License-Identifier: GPL-2.0

//! One simulated GPU: identity (name, UUID, PCI location, gpu id), the
//! video-memory heap, and its engine.

use crate::{engine::Engine, profile::Profile};
use core::sync::atomic::{AtomicU64, Ordering};
use kernel::{prelude::*, sync::Arc};

/// PCI device id reported (GH100 SXM5 80GB).
pub(crate) const PCI_DEVICE_ID: u16 = 0x2330;
/// NVIDIA's PCI vendor id.
pub(crate) const PCI_VENDOR_ID: u16 = 0x10de;
/// Marketing name reported by GPU_GET_NAME_STRING.
pub(crate) const GPU_NAME: &str = "NVIDIA H100 80GB HBM3";
/// Short name (GPU_GET_SHORT_NAME_STRING).
pub(crate) const GPU_SHORT_NAME: &str = "GH100";
/// VBIOS version shown in /proc/driver/nvidia/gpus/*/information (the
/// format of an H100's, "96.00.xx.00.yy"; the value is nvsim's own).
pub(crate) const VBIOS_VERSION: &str = "96.00.99.00.01";

/// One simulated GPU.
///
/// # Invariants
///
/// `heap_used <= vram` at all times (charges are compare-and-swapped);
/// `managed <= heap_used` (managed residency is charged to the heap first
/// and returned to it last).
#[pin_data]
pub(crate) struct Gpu {
    /// Index = minor number of `/dev/nvidiaN` = device instance.
    pub(crate) index: u32,
    /// Video memory size, bytes.
    pub(crate) vram: u64,
    heap_used: AtomicU64,
    /// The part of `heap_used` that is UVM managed memory resident here
    /// (taken from the PMA by UVM, not through RM clients).
    managed: AtomicU64,
    /// Deterministic UUID (bytes of `GPU-xxxxxxxx-...`).
    pub(crate) uuid: [u8; 16],
    /// Behaviour profile.
    pub(crate) profile: &'static Profile,
    /// The engine and its runlist.
    #[pin]
    pub(crate) engine: Engine,
}

impl Gpu {
    /// Makes GPU `index` with `vram` bytes.
    pub(crate) fn new(index: u32, vram: u64, profile: &'static Profile) -> Result<Arc<Gpu>> {
        let uuid = uuid_of(index);
        Arc::pin_init(
            try_pin_init!(Gpu {
                index,
                vram,
                heap_used: AtomicU64::new(0),
                managed: AtomicU64::new(0),
                uuid,
                profile,
                engine <- Engine::new(),
            }? Error),
            GFP_KERNEL,
        )
    }

    /// PCI bus number (domain 0, slot 0, function 0).
    pub(crate) fn bus(&self) -> u8 {
        // At most 16 GPUs.
        0x10u8.wrapping_add(self.index as u8)
    }

    /// The driver's GPU id, as in CARD_INFO and the NV0000 id controls
    /// (`(domain << 16) | (bus << 8) | slot`, the encoding nvidia.ko uses).
    pub(crate) fn gpu_id(&self) -> u32 {
        u32::from(self.bus()) << 8
    }

    /// Bytes charged to the heap.
    pub(crate) fn heap_used(&self) -> u64 {
        self.heap_used.load(Ordering::Relaxed)
    }

    /// Charges `size` bytes; `false` (nothing charged) if the heap lacks room.
    pub(crate) fn charge(&self, size: u64) -> bool {
        let mut cur = self.heap_used.load(Ordering::Relaxed);
        loop {
            let new = match cur.checked_add(size) {
                Some(n) if n <= self.vram => n,
                _ => return false,
            };
            // INVARIANT: `new <= vram`.
            match self.heap_used.compare_exchange_weak(
                cur,
                new,
                Ordering::AcqRel,
                Ordering::Relaxed,
            ) {
                Ok(_) => return true,
                Err(now) => cur = now,
            }
        }
    }

    /// Returns `size` bytes charged earlier.
    pub(crate) fn uncharge(&self, size: u64) {
        self.heap_used.fetch_sub(size, Ordering::AcqRel);
    }

    /// Bytes of UVM managed memory resident here (part of [`Self::heap_used`]).
    pub(crate) fn managed_bytes(&self) -> u64 {
        self.managed.load(Ordering::Relaxed)
    }

    /// Charges `size` bytes of managed residency to the heap; `false`
    /// (nothing charged) if the heap lacks room.
    pub(crate) fn charge_managed(&self, size: u64) -> bool {
        if !self.charge(size) {
            return false;
        }
        // INVARIANT: charged to the heap above, so `managed <= heap_used`.
        self.managed.fetch_add(size, Ordering::AcqRel);
        true
    }

    /// Returns `size` bytes of managed residency charged earlier.
    pub(crate) fn uncharge_managed(&self, size: u64) {
        // INVARIANT: `managed` shrinks before `heap_used` does.
        self.managed.fetch_sub(size, Ordering::AcqRel);
        self.uncharge(size);
    }

    /// The UUID as NVIDIA prints it, `GPU-xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx`.
    pub(crate) fn uuid_ascii(&self) -> [u8; 40] {
        let mut out = [0u8; 40];
        out[..4].copy_from_slice(b"GPU-");
        let hex = b"0123456789abcdef";
        let mut at = 4;
        for (i, b) in self.uuid.iter().enumerate() {
            if matches!(i, 4 | 6 | 8 | 10) {
                out[at] = b'-';
                at += 1;
            }
            out[at] = hex[usize::from(b >> 4)];
            out[at + 1] = hex[usize::from(b & 0xf)];
            at += 2;
        }
        out
    }
}

/// A deterministic, well-spread UUID for GPU `index` (FNV-1a of a label,
/// version nibble 4 like a random UUID).
fn uuid_of(index: u32) -> [u8; 16] {
    let mut out = [0u8; 16];
    for (i, chunk) in out.chunks_mut(8).enumerate() {
        let mut h: u64 = 0xcbf2_9ce4_8422_2325;
        for b in Iterator::chain(
            Iterator::chain(b"nvsim-gpu".iter(), index.to_le_bytes().iter()),
            [i as u8].iter(),
        ) {
            h ^= u64::from(*b);
            h = h.wrapping_mul(0x0100_0000_01b3);
        }
        chunk.copy_from_slice(&h.to_be_bytes());
    }
    out[6] = (out[6] & 0x0f) | 0x40;
    out[8] = (out[8] & 0x3f) | 0x80;
    out
}
