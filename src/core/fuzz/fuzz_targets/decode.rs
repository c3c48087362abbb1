// SPDX-License-Identifier: GPL-2.0

//! Fuzzes `nvabi::decode` and everything downstream of it (nested
//! decoding, classification, fd and status writes, memory-info rewriting)
//! with arbitrary file kinds, commands, classes, controls and bytes.
//! Nothing may panic.

#![no_main]

use fakegpu_core::nvabi::{
    decode, decode_alloc_params, decode_control_params, decode_nv, rewrite, status_name, FileKind,
};
use fakegpu_core::policy::{route, ContextView};
use libfuzzer_sys::fuzz_target;

fn u32_at(d: &[u8], at: usize) -> u32 {
    d.get(at..at + 4)
        .map_or(0, |b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
}

fn u64_at(d: &[u8], at: usize) -> u64 {
    u64::from(u32_at(d, at)) | (u64::from(u32_at(d, at + 4)) << 32)
}

fuzz_target!(|data: &[u8]| {
    // Header: kind(1) cmd(4) aux(4) cap(8) used(8) split(2), then bytes.
    let file = match data.first().copied().unwrap_or(0) % 4 {
        0 => FileKind::Ctl,
        1 => FileKind::Gpu,
        2 => FileKind::Uvm,
        _ => FileKind::UvmTools,
    };
    let cmd = u32_at(data, 1);
    let aux = u32_at(data, 5);
    let cap = u64_at(data, 9);
    let used = u64_at(data, 17);
    let split = data
        .get(25..27)
        .map_or(0, |b| usize::from(u16::from_le_bytes([b[0], b[1]])));
    let rest = data.get(27..).unwrap_or(&[]);
    let (outer, nested) = rest.split_at(split.min(rest.len()));

    let d = decode(file, cmd, outer);
    let _ = route(&d, &ContextView::default());
    let _ = d.name();
    let _ = d.nested();
    let n = d.decode_nested(nested);
    let _ = n.fd();

    let mut o = outer.to_vec();
    let mut i = nested.to_vec();
    if let Some(fd) = d.fd() {
        assert!(fd.write(&mut o, 3));
    }
    if let Some(fd) = n.fd() {
        let _ = fd.write(&mut i, 3);
    }
    let _ = d.write_status(&mut o, 0x51);
    let _ = rewrite::rewrite_memory_info(&d, &mut o, &mut i, cap, used);

    // Nested decoders with arbitrary classes and controls.
    let _ = decode_alloc_params(aux, nested);
    let _ = decode_control_params(aux, nested);
    let inner = decode_nv(
        file,
        aux,
        u32::try_from(nested.len()).unwrap_or(u32::MAX),
        nested,
    );
    let _ = route(&inner, &ContextView::default());
    let _ = rewrite::rewrite_fb_info_v2(&mut i, cap, used);
    let _ = rewrite::rewrite_fb_info_list(&mut i, aux, cap, used);
    let _ = rewrite::rewrite_vid_heap_info(&mut o, cap, used);
    let _ = status_name(aux);
});
