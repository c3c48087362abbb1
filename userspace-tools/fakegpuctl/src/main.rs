//! fakegpuctl: the operator's command-line tool for fakegpu.
//!
//! It talks to the kernel module only through the documented sysfs ABI
//! (`/sys/kernel/fakegpu/`, see `Documentation/ABI/`). The sysfs root can be
//! moved with `--sysfs-root DIR` or `FAKEGPU_SYSFS_ROOT` (used by tests).

use std::path::PathBuf;
use std::process::ExitCode;

const USAGE: &str = "\
fakegpuctl - manage fakegpu, GPU sharing with hard isolation

USAGE:
    fakegpuctl [--sysfs-root DIR] <COMMAND>

COMMANDS:
    version     Print the versions of this tool and of the loaded module
    help        Print this help

OPTIONS:
    --sysfs-root DIR   Where the module's sysfs directory is
                       (default /sys/kernel/fakegpu, or $FAKEGPU_SYSFS_ROOT)

EXIT CODES:
    0 success, 1 the module is not loaded or answered an error, 2 bad usage
";

fn main() -> ExitCode {
    let mut args = std::env::args().skip(1);
    let mut root = std::env::var_os("FAKEGPU_SYSFS_ROOT")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/sys/kernel/fakegpu"));
    let mut command = None;
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--sysfs-root" => match args.next() {
                Some(dir) => root = PathBuf::from(dir),
                None => return usage_error("--sysfs-root needs a directory"),
            },
            "-h" | "--help" | "help" => {
                print!("{USAGE}");
                return ExitCode::SUCCESS;
            }
            _ if command.is_none() => command = Some(arg),
            _ => return usage_error(&format!("unexpected argument '{arg}'")),
        }
    }
    match command.as_deref() {
        Some("version") => version(&root),
        Some(other) => usage_error(&format!("unknown command '{other}'")),
        None => usage_error("no command given"),
    }
}

fn usage_error(msg: &str) -> ExitCode {
    eprintln!("error: {msg}\n\n{USAGE}");
    ExitCode::from(2)
}

fn version(root: &std::path::Path) -> ExitCode {
    println!("fakegpuctl {}", env!("CARGO_PKG_VERSION"));
    let path = root.join("version");
    match std::fs::read_to_string(&path) {
        Ok(v) => {
            println!("module {}", v.trim());
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!(
                "error: cannot read {}: {e}\nhint: is the module loaded? Try `modprobe fakegpu` (or `insmod fakegpu.ko`).",
                path.display()
            );
            ExitCode::from(1)
        }
    }
}
