//! fakegpuctl: the operator's command-line tool for fakegpu. See `--help`
//! and docs/fakegpuctl.md. It talks to the module only through the
//! documented sysfs ABI; all logic lives in the library (`lib.rs`).

use fakegpuctl::cli;

fn main() -> std::process::ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let mut out = std::io::stdout().lock();
    match cli::run(&args, &mut out) {
        Ok(code) => std::process::ExitCode::from(code),
        Err(e) => {
            eprintln!("fakegpuctl: error: {e}");
            std::process::ExitCode::from(e.exit_code())
        }
    }
}
