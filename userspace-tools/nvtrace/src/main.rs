// SPDX-License-Identifier: GPL-2.0-only
//! `nvtrace`: show or summarise recorded NVIDIA ioctl traces, or run a program
//! under the recorder.
use std::path::Path;
use std::process::{Command, ExitCode};

const USAGE: &str = "usage:
  nvtrace show [--hex] FILE...     decoded listing (FILE may be .zst or .xz)
  nvtrace stats FILE...            counts per escape / class / control
  nvtrace run [--out DIR] -- CMD   run CMD with the recorder preloaded
  nvtrace lib                      print the path of the recorder .so";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let Some(cmd) = args.first() else {
        eprintln!("{USAGE}");
        return ExitCode::from(2);
    };
    match cmd.as_str() {
        "show" | "stats" => {
            let hex = args.iter().any(|a| a == "--hex");
            let files: Vec<&String> = args[1..].iter().filter(|a| !a.starts_with("--")).collect();
            if files.is_empty() {
                eprintln!("{USAGE}");
                return ExitCode::from(2);
            }
            let mut rc = ExitCode::SUCCESS;
            for f in files {
                let data = match nvtrace::read_trace_file(Path::new(f)) {
                    Ok(d) => d,
                    Err(e) => {
                        eprintln!("{f}: {e}");
                        rc = ExitCode::FAILURE;
                        continue;
                    }
                };
                let t = match nvtrace::format::parse(&data) {
                    Ok(t) => t,
                    Err(e) => {
                        eprintln!("{f}: {e}");
                        rc = ExitCode::FAILURE;
                        continue;
                    }
                };
                let mut out = String::new();
                out.push_str(&format!("# file {f}\n"));
                if cmd == "show" {
                    nvtrace::listing::show(&t, &mut out, hex);
                } else {
                    nvtrace::listing::write_stats(&nvtrace::listing::stats(&t), &mut out);
                }
                print!("{out}");
            }
            rc
        }
        "lib" => {
            println!("{}", nvtrace::PRELOAD_SO);
            ExitCode::SUCCESS
        }
        "run" => {
            let mut out_dir = std::env::temp_dir().to_string_lossy().into_owned();
            let mut i = 1;
            while i < args.len() && args[i] != "--" {
                if args[i] == "--out" && i + 1 < args.len() {
                    out_dir = args[i + 1].clone();
                    i += 1;
                }
                i += 1;
            }
            let prog = &args[(i + 1).min(args.len())..];
            if prog.is_empty() {
                eprintln!("{USAGE}");
                return ExitCode::from(2);
            }
            let st = Command::new(&prog[0])
                .args(&prog[1..])
                .env("LD_PRELOAD", nvtrace::PRELOAD_SO)
                .env("NVTRACE_OUT", &out_dir)
                .status();
            match st {
                Ok(s) => ExitCode::from(s.code().unwrap_or(1) as u8),
                Err(e) => {
                    eprintln!("{}: {e}", prog[0]);
                    ExitCode::FAILURE
                }
            }
        }
        _ => {
            eprintln!("{USAGE}");
            ExitCode::from(2)
        }
    }
}
