// SPDX-License-Identifier: GPL-2.0-only
//! nvtrace: a recorder (LD_PRELOAD, `csrc/nvtrace_preload.c`) and a decoder of
//! the ioctl/mmap traffic of a process on NVIDIA's device nodes.
//!
//! The recorder writes raw bytes only ([`format`] documents the file); the
//! listing and the statistics decode them with `fakegpu_core::nvabi`, the
//! same decoder the kernel module uses ([`listing`]).

pub mod format;
pub mod listing;

/// Path of the recorder library built with this crate.
pub const PRELOAD_SO: &str = env!("NVTRACE_SO");
/// Path of the lever-study harness library built with this crate.
pub const LEVER_SO: &str = env!("NVLEVER_SO");

/// Reads a trace file, decompressing `.zst` in process (pure-Rust `ruzstd`,
/// so no `zstd` program is needed) and `.xz` through the `xz` program.
pub fn read_trace_file(path: &std::path::Path) -> std::io::Result<Vec<u8>> {
    match path.extension().and_then(|e| e.to_str()) {
        Some("zst") => {
            let f = std::io::BufReader::new(std::fs::File::open(path)?);
            let mut d = ruzstd::decoding::StreamingDecoder::new(f)
                .map_err(|e| std::io::Error::other(format!("{}: {e}", path.display())))?;
            let mut out = Vec::new();
            std::io::Read::read_to_end(&mut d, &mut out)?;
            Ok(out)
        }
        Some("xz") => {
            let out = std::process::Command::new("xz")
                .arg("-dc")
                .arg(path)
                .output()?;
            if !out.status.success() {
                return Err(std::io::Error::other(format!(
                    "xz -dc {} failed",
                    path.display()
                )));
            }
            Ok(out.stdout)
        }
        _ => std::fs::read(path),
    }
}
