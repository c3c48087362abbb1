// SPDX-License-Identifier: GPL-2.0

//! GPU visibility: a container sees only its context's GPUs, numbered from
//! 0 in the context's order, as its nodes are.
//!
//! `NV_ESC_CARD_INFO` returns one 72-byte `nv_ioctl_card_info_t` per GPU.
//! [`filter_card_info`] rewrites the vendor's reply in place: the entries of
//! the context's GPUs come first, in the container's order, with
//! `minor_number` set to the container's number; every other entry is
//! zeroed (not valid). `gpu_id`s are kept (they are opaque ids that later
//! calls name), and [`VisibleIds`] remembers them so that
//! `NV_ESC_ATTACH_GPUS_TO_FD` can be limited to them.

use super::mgmt::GpuList;

/// Size of one card-info entry.
pub const CARD_INFO_SIZE: usize = 72;
const OFF_VALID: usize = 0;
const OFF_GPU_ID: usize = 16;
const OFF_MINOR: usize = 56;

/// The vendor GPU ids a container may name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct VisibleIds {
    ids: [u32; 64],
    len: usize,
}

impl VisibleIds {
    /// None yet.
    pub const EMPTY: Self = Self {
        ids: [0; 64],
        len: 0,
    };

    /// Whether `id` may be named.
    pub fn contains(&self, id: u32) -> bool {
        self.ids.iter().take(self.len).any(|&i| i == id)
    }

    fn add(&mut self, id: u32) {
        if !self.contains(id) {
            if let Some(slot) = self.ids.get_mut(self.len) {
                *slot = id;
                self.len += 1;
            }
        }
    }
}

use super::nvabi::wire::{rd_u32 as rd32, wr_u32};

fn wr32(b: &mut [u8], off: usize, v: u32) {
    // Out of range writes are skipped, as the slices they would fill.
    let _ = wr_u32(b, off, v);
}

fn swap_entries(buf: &mut [u8], i: usize, j: usize) {
    if i == j {
        return;
    }
    let (lo, hi) = if i < j { (i, j) } else { (j, i) };
    let (a, b) = buf.split_at_mut(hi * CARD_INFO_SIZE);
    if let (Some(x), Some(y)) = (
        a.get_mut(lo * CARD_INFO_SIZE..(lo + 1) * CARD_INFO_SIZE),
        b.get_mut(..CARD_INFO_SIZE),
    ) {
        x.swap_with_slice(y);
    }
}

/// Rewrites a CARD_INFO reply for a context with `gpus`; adds the visible
/// GPUs' ids to `visible`. Returns how many GPUs the container sees.
pub fn filter_card_info(buf: &mut [u8], gpus: &GpuList, visible: &mut VisibleIds) -> usize {
    let n = buf.len() / CARD_INFO_SIZE;
    let mut placed = 0;
    for host in gpus.iter() {
        // Find the valid entry of this host GPU at or after `placed`.
        let found = (placed..n).find(|&j| {
            let e = j * CARD_INFO_SIZE;
            buf.get(e + OFF_VALID).copied().unwrap_or(0) != 0
                && rd32(buf, e + OFF_MINOR) == Some(host)
        });
        if let Some(j) = found {
            swap_entries(buf, placed, j);
            let e = placed * CARD_INFO_SIZE;
            wr32(buf, e + OFF_MINOR, placed as u32);
            if let Some(id) = rd32(buf, e + OFF_GPU_ID) {
                visible.add(id);
            }
            placed += 1;
        }
    }
    for b in buf.iter_mut().skip(placed * CARD_INFO_SIZE) {
        *b = 0;
    }
    placed
}

/// Whether every GPU id of an ATTACH_GPUS_TO_FD block is visible.
pub fn attach_allowed(ids: &[u8], visible: &VisibleIds) -> bool {
    ids.chunks_exact(4)
        .all(|c| visible.contains(u32::from_le_bytes([c[0], c[1], c[2], c[3]])))
}

/// Offset of `deviceInstance` in both GPU_GET_ID_INFO parameter blocks
/// (`NV0000_CTRL_GPU_GET_ID_INFO_PARAMS` and `..._V2_PARAMS`:
/// `gpuId`, `gpuFlags`, then `deviceInstance`, in 550 and 580 alike).
pub const ID_INFO_DEVICE_INSTANCE: usize = 8;

/// Renumbers a GPU_GET_ID_INFO(_V2) reply for the container: the device
/// instance the RM wrote (the host's) becomes the container's number of
/// that GPU, the one it allocates NV01_DEVICE_0 with. Returns whether the
/// block changed; a host instance outside `gpus` is left alone (the
/// request's GPU id was checked to be the context's).
pub fn renumber_id_info(buf: &mut [u8], gpus: &GpuList) -> bool {
    let Some(host) = rd32(buf, ID_INFO_DEVICE_INSTANCE) else {
        return false;
    };
    match gpus.local_index(host) {
        Some(local) if local != host => {
            wr32(buf, ID_INFO_DEVICE_INSTANCE, local);
            true
        }
        _ => false,
    }
}

/// The id the RM uses for an empty slot in GPU id lists.
pub const INVALID_GPU_ID: u32 = 0xffff_ffff;

/// Rewrites a list of `count` GPU ids (little-endian u32s at `off` in
/// `buf`, e.g. GPU_GET_ATTACHED_IDS / GET_PROBED_IDS replies): the visible
/// ids stay, in order, moved to the front; every other slot becomes
/// [`INVALID_GPU_ID`]. `companion`, if given, is the offset of a parallel
/// u32 array (per-GPU flags) moved along with the ids.
pub fn filter_gpu_ids(
    buf: &mut [u8],
    off: usize,
    count: usize,
    companion: Option<usize>,
    visible: &VisibleIds,
) {
    let mut out = 0;
    for i in 0..count {
        let Some(id) = rd32(buf, off + 4 * i) else {
            return;
        };
        if id != INVALID_GPU_ID && visible.contains(id) {
            wr32(buf, off + 4 * out, id);
            if let Some(c) = companion {
                if let Some(v) = rd32(buf, c + 4 * i) {
                    wr32(buf, c + 4 * out, v);
                }
            }
            out += 1;
        }
    }
    for i in out..count {
        wr32(buf, off + 4 * i, INVALID_GPU_ID);
        if let Some(c) = companion {
            wr32(buf, c + 4 * i, 0);
        }
    }
}

#[cfg(all(test, not(MODULE)))]
mod tests {
    use super::*;

    #[test]
    fn id_info_device_instance_becomes_the_containers_number() {
        let gpus = GpuList::parse(b"2,0").unwrap();
        let block = |inst: u32| {
            let mut b = [0u8; 32];
            b[0..4].copy_from_slice(&0xc100u32.to_le_bytes());
            b[8..12].copy_from_slice(&inst.to_le_bytes());
            b[12..16].copy_from_slice(&7u32.to_le_bytes());
            b
        };
        let inst = |b: &[u8]| u32::from_le_bytes(b[8..12].try_into().unwrap());
        // Host GPU 2 is the container's 0, host 0 its 1.
        let mut b = block(2);
        assert!(renumber_id_info(&mut b, &gpus));
        assert_eq!(inst(&b), 0);
        let mut b = block(0);
        assert!(renumber_id_info(&mut b, &gpus));
        assert_eq!(inst(&b), 1);
        // Nothing else moves; a GPU outside the list and a short block are left alone.
        assert_eq!(&b[0..8], &block(0)[0..8]);
        assert_eq!(&b[12..], &block(0)[12..]);
        let mut b = block(5);
        assert!(!renumber_id_info(&mut b, &gpus));
        assert_eq!(inst(&b), 5);
        let mut short = [0u8; 10];
        assert!(!renumber_id_info(&mut short, &gpus));
        // Same numbering: unchanged.
        let same = GpuList::parse(b"0").unwrap();
        let mut b = block(0);
        assert!(!renumber_id_info(&mut b, &same));
    }

    #[test]
    fn pids_keep_only_the_allowed_in_order() {
        let mut b = [0u8; 12 + 4 * 8];
        b[8..12].copy_from_slice(&5u32.to_le_bytes());
        for (i, p) in [10u32, 20, 30, 40, 50].iter().enumerate() {
            b[12 + 4 * i..16 + 4 * i].copy_from_slice(&p.to_le_bytes());
        }
        let n = filter_pids(&mut b, 8, 12, 8, |p| p == 20 || p == 50 || p == 60);
        assert_eq!(n, 2);
        let read = |i: usize| u32::from_le_bytes(b[12 + 4 * i..16 + 4 * i].try_into().unwrap());
        assert_eq!((read(0), read(1), read(2), read(4)), (20, 50, 0, 0));
        assert_eq!(u32::from_le_bytes(b[8..12].try_into().unwrap()), 2);
        // A count past the table is clamped, never read beyond it.
        b[8..12].copy_from_slice(&u32::MAX.to_le_bytes());
        assert_eq!(filter_pids(&mut b, 8, 12, 8, |_| true), 8);
    }

    #[test]
    fn pid_info_zeroes_other_processes() {
        let mut b = [0xffu8; 8 + 2 * 72];
        b[8..12].copy_from_slice(&7u32.to_le_bytes());
        b[80..84].copy_from_slice(&9u32.to_le_bytes());
        filter_pid_info(&mut b, 2, 8, 72, 0, 16..40, |p| p == 9);
        assert!(b[8 + 16..8 + 40].iter().all(|&x| x == 0));
        assert!(b[80 + 16..80 + 40].iter().all(|&x| x == 0xff));
        assert_eq!(&b[8..12], &7u32.to_le_bytes());
    }
    use proptest::prelude::*;

    fn entry(minor: u32, id: u32) -> [u8; CARD_INFO_SIZE] {
        let mut e = [0u8; CARD_INFO_SIZE];
        e[0] = 1;
        e[OFF_GPU_ID..OFF_GPU_ID + 4].copy_from_slice(&id.to_le_bytes());
        e[OFF_MINOR..OFF_MINOR + 4].copy_from_slice(&minor.to_le_bytes());
        e[40] = minor as u8 + 7; // some other field that must travel along
        e
    }

    fn card_list(entries: &[[u8; CARD_INFO_SIZE]], slots: usize) -> std::vec::Vec<u8> {
        let mut v = std::vec![0u8; slots * CARD_INFO_SIZE];
        for (i, e) in entries.iter().enumerate() {
            v[i * CARD_INFO_SIZE..(i + 1) * CARD_INFO_SIZE].copy_from_slice(e);
        }
        v
    }

    #[test]
    fn shows_only_the_contexts_gpus_renumbered() {
        let mut buf = card_list(&[entry(0, 0x100), entry(1, 0x200), entry(2, 0x300)], 8);
        let mut vis = VisibleIds::EMPTY;
        let gpus = GpuList::parse(b"2,0").unwrap();
        assert_eq!(filter_card_info(&mut buf, &gpus, &mut vis), 2);
        assert_eq!(rd32(&buf, OFF_GPU_ID), Some(0x300));
        assert_eq!(rd32(&buf, OFF_MINOR), Some(0));
        assert_eq!(buf[40], 9);
        assert_eq!(rd32(&buf, CARD_INFO_SIZE + OFF_GPU_ID), Some(0x100));
        assert_eq!(rd32(&buf, CARD_INFO_SIZE + OFF_MINOR), Some(1));
        assert!(buf[2 * CARD_INFO_SIZE..].iter().all(|&b| b == 0));
        assert!(vis.contains(0x300) && vis.contains(0x100) && !vis.contains(0x200));
        assert!(attach_allowed(&0x300u32.to_le_bytes(), &vis));
        assert!(!attach_allowed(&[0x00, 0x02, 0, 0, 0x00, 0x01, 0, 0], &vis));
    }

    #[test]
    fn gpu_id_lists_keep_only_visible_ids() {
        let mut vis = VisibleIds::EMPTY;
        vis.add(0x300);
        vis.add(0x100);
        let mut b = std::vec![0u8; 32];
        for (i, id) in [0x100u32, 0x200, 0x300, INVALID_GPU_ID].iter().enumerate() {
            b[4 * i..4 * i + 4].copy_from_slice(&id.to_le_bytes());
            b[16 + 4 * i..16 + 4 * i + 4].copy_from_slice(&(i as u32 + 1).to_le_bytes());
        }
        filter_gpu_ids(&mut b, 0, 4, Some(16), &vis);
        let ids: std::vec::Vec<u32> = (0..4).map(|i| rd32(&b, 4 * i).unwrap()).collect();
        let flags: std::vec::Vec<u32> = (0..4).map(|i| rd32(&b, 16 + 4 * i).unwrap()).collect();
        assert_eq!(ids, [0x100, 0x300, INVALID_GPU_ID, INVALID_GPU_ID]);
        assert_eq!(flags, [1, 3, 0, 0]);
    }

    #[test]
    fn missing_gpu_is_not_invented() {
        let mut buf = card_list(&[entry(0, 0x100)], 2);
        let mut vis = VisibleIds::EMPTY;
        assert_eq!(
            filter_card_info(&mut buf, &GpuList::parse(b"1").unwrap(), &mut vis),
            0
        );
        assert!(buf.iter().all(|&b| b == 0));
    }

    proptest! {
        #[test]
        fn never_panics_and_never_leaks_other_gpus(
            raw in proptest::collection::vec(any::<u8>(), 0..600),
            list in proptest::collection::vec(0u32..8, 1..4),
        ) {
            let mut seen = std::collections::BTreeSet::new();
            let list: std::vec::Vec<u32> = list.into_iter().filter(|x| seen.insert(*x)).collect();
            let text = list.iter().map(|x| std::format!("{x}")).collect::<std::vec::Vec<_>>().join(",");
            let gpus = GpuList::parse(text.as_bytes()).unwrap();
            let mut buf = raw.clone();
            let mut vis = VisibleIds::EMPTY;
            let n = filter_card_info(&mut buf, &gpus, &mut vis);
            prop_assert!(n <= gpus.len());
            // Every visible entry came from one of the context's GPUs.
            for i in 0..n {
                let id = rd32(&buf, i * CARD_INFO_SIZE + OFF_GPU_ID).unwrap();
                let from = (0..raw.len() / CARD_INFO_SIZE).find(|&j| {
                    rd32(&raw, j * CARD_INFO_SIZE + OFF_GPU_ID) == Some(id)
                        && raw[j * CARD_INFO_SIZE] != 0
                        && gpus.contains(rd32(&raw, j * CARD_INFO_SIZE + OFF_MINOR).unwrap())
                });
                prop_assert!(from.is_some());
            }
            // Everything after the visible entries is zeroed.
            prop_assert!(buf.iter().skip(n * CARD_INFO_SIZE).all(|&b| b == 0));
        }
    }
}

/// Rewrites a GPU_GET_PIDS reply (`pidTblCount` at `count_off`, `pidTbl`
/// at `table_off`, at most `max` entries): only the pids `keep` accepts
/// stay, in order, moved to the front; the rest of the table is zeroed and
/// the count is the kept ones. Returns it.
pub fn filter_pids(
    buf: &mut [u8],
    count_off: usize,
    table_off: usize,
    max: usize,
    keep: impl Fn(u32) -> bool,
) -> u32 {
    let count = rd32(buf, count_off).map_or(0, |c| (c as usize).min(max));
    let mut kept = 0;
    for i in 0..count {
        let Some(pid) = rd32(buf, table_off + 4 * i) else {
            break;
        };
        if keep(pid) {
            wr32(buf, table_off + 4 * kept, pid);
            kept += 1;
        }
    }
    for i in kept..max {
        wr32(buf, table_off + 4 * i, 0);
    }
    wr32(buf, count_off, kept as u32);
    kept as u32
}

/// Rewrites a GPU_GET_PID_INFO reply (`count` entries of `entry` bytes from
/// `list_off`, the pid at `pid_off` of each and the memory figures in
/// `figures`, a range of the entry): an entry whose pid `keep` refuses
/// gets the figures of a pid with nothing on the GPU (zeros), as the RM
/// answers for a process it does not find.
pub fn filter_pid_info(
    buf: &mut [u8],
    count: usize,
    list_off: usize,
    entry: usize,
    pid_off: usize,
    figures: core::ops::Range<usize>,
    keep: impl Fn(u32) -> bool,
) {
    for i in 0..count {
        let at = list_off + i * entry;
        let Some(pid) = rd32(buf, at + pid_off) else {
            break;
        };
        if keep(pid) {
            continue;
        }
        if let Some(f) = buf.get_mut(at + figures.start..at + figures.end) {
            f.fill(0);
        }
    }
}
