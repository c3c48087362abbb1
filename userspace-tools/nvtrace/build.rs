// SPDX-License-Identifier: GPL-2.0-only
//! Builds the C side with the system C compiler ($CC, else `cc`): the
//! recorder `libnvtrace.so`, the lever harness `libnvlever.so` and the test
//! driver `fakedev_test`, all into OUT_DIR. No build dependencies.
use std::{env, path::PathBuf, process::Command};

fn cc(args: &[&str]) {
    let compiler = env::var("CC").unwrap_or_else(|_| "cc".into());
    let st = Command::new(&compiler)
        .args(args)
        .status()
        .expect("running the C compiler");
    assert!(st.success(), "{compiler} {args:?} failed");
}

fn main() {
    let out = PathBuf::from(env::var("OUT_DIR").unwrap());
    let o = |n: &str| out.join(n).to_str().unwrap().to_owned();
    for f in [
        "csrc/nvtrace_preload.c",
        "csrc/nvlever_preload.c",
        "csrc/fakedev_test.c",
    ] {
        println!("cargo:rerun-if-changed={f}");
    }
    println!("cargo:rerun-if-env-changed=CC");
    let w = ["-O2", "-Wall", "-Wextra", "-Werror"];
    cc(&[
        &w[..],
        &[
            "-shared",
            "-fPIC",
            "-o",
            &o("libnvtrace.so"),
            "csrc/nvtrace_preload.c",
            "-ldl",
            "-lpthread",
        ],
    ]
    .concat());
    cc(&[
        &w[..],
        &[
            "-shared",
            "-fPIC",
            "-o",
            &o("libnvlever.so"),
            "csrc/nvlever_preload.c",
            "-ldl",
            "-lpthread",
        ],
    ]
    .concat());
    cc(&[
        &w[..],
        &["-o", &o("fakedev_test"), "csrc/fakedev_test.c", "-lpthread"],
    ]
    .concat());
    println!("cargo:rustc-env=NVTRACE_SO={}", o("libnvtrace.so"));
    println!("cargo:rustc-env=NVLEVER_SO={}", o("libnvlever.so"));
    println!("cargo:rustc-env=NVTRACE_FAKEDEV_TEST={}", o("fakedev_test"));
}
