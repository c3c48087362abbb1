// SPDX-License-Identifier: GPL-2.0-only
//! Builds the C side with the `cc` crate's compiler (which honours $CC,
//! $CFLAGS and the target): the recorder `libnvtrace.so`, the lever harness
//! `libnvlever.so` and the test driver `fakedev_test`, all into OUT_DIR.
//!
//! `cc::Build` compiles static archives; two shared libraries and an
//! executable need a link step, so the compiler `cc::Build` configures
//! (`get_compiler()`: its path, target flags and our warnings) is run once
//! per output to compile and link it.
use std::{env, path::PathBuf};

/// Compiles and links `src` into OUT_DIR/`name` with `extra` flags.
fn build(out: &std::path::Path, name: &str, src: &str, extra: &[&str]) {
    let compiler = cc::Build::new()
        .cargo_metadata(false)
        .opt_level(2)
        .debug(false)
        .warnings(true)
        .extra_warnings(true)
        .warnings_into_errors(true)
        .get_compiler();
    // The compiler and its flags, less `-static`, which cc adds under
    // crt-static (the guest build's RUSTFLAGS): the preloads are shared
    // libraries, loaded into dynamically linked programs.
    let mut cmd = std::process::Command::new(compiler.path());
    cmd.args(compiler.args().iter().filter(|a| *a != "-static"))
        .envs(compiler.get_envs());
    cmd.arg("-o").arg(out.join(name)).arg(src).args(extra);
    let st = cmd
        .status()
        .unwrap_or_else(|e| panic!("running the C compiler {cmd:?}: {e}"));
    assert!(st.success(), "{cmd:?} failed");
}

fn main() {
    let out = PathBuf::from(env::var("OUT_DIR").unwrap());
    for f in [
        "csrc/nvtrace_preload.c",
        "csrc/nvlever_preload.c",
        "csrc/fakedev_test.c",
    ] {
        println!("cargo:rerun-if-changed={f}");
    }
    let shared = ["-shared", "-fPIC", "-ldl", "-lpthread"];
    build(&out, "libnvtrace.so", "csrc/nvtrace_preload.c", &shared);
    build(&out, "libnvlever.so", "csrc/nvlever_preload.c", &shared);
    build(&out, "fakedev_test", "csrc/fakedev_test.c", &["-lpthread"]);
    let o = |n: &str| out.join(n).to_str().unwrap().to_owned();
    println!("cargo:rustc-env=NVTRACE_SO={}", o("libnvtrace.so"));
    println!("cargo:rustc-env=NVLEVER_SO={}", o("libnvlever.so"));
    println!("cargo:rustc-env=NVTRACE_FAKEDEV_TEST={}", o("fakedev_test"));
}
