//! The CLI against a fake sysfs tree: output formats of the read-only
//! commands, what create/update/delete write, and that bad input changes
//! nothing and gives the documented exit code.

mod common;
use common::{json, Tree};

const GI: u64 = 1 << 30;

#[test]
fn list_table_json_yaml() {
    let t = Tree::new();
    t.context("alpha", "0", 4 * GI, 1 << 20, true);
    t.context("beta", "1,0", u64::MAX, 0, true);
    let (c, out) = t.run(&["list"]);
    assert_eq!(c, 0);
    let lines: Vec<&str> = out.lines().collect();
    assert!(lines[0].starts_with("NAME"), "{out}");
    assert!(
        lines[1].starts_with("alpha") && lines[1].contains("4 GiB") && lines[1].contains("30%"),
        "{out}"
    );
    assert!(
        lines[2].starts_with("beta") && lines[2].contains("none") && lines[2].contains("1,0"),
        "{out}"
    );

    let (c, out) = t.run(&["list", "-o", "json"]);
    assert_eq!(c, 0);
    let v = json(&out);
    assert_eq!(v["schema_version"], 1);
    let cs = v["contexts"].as_array().unwrap();
    assert_eq!(cs.len(), 2);
    assert_eq!(cs[0]["name"], "alpha");
    assert_eq!(cs[0]["mem_limit_bytes"], 4 * GI);
    assert_eq!(cs[0]["mem_used_bytes"], 1u64 << 20);
    assert_eq!(cs[0]["mem_peak_bytes"], 2u64 << 20);
    assert_eq!(cs[0]["compute_used_us"], 1_500_000);
    assert_eq!(cs[0]["throttled_us"], 250_000);
    assert_eq!(cs[0]["priority"], "high");
    assert_eq!(cs[0]["pids"], serde_json::json!([101, 202]));
    assert_eq!(cs[0]["cdi_device"], "fakegpu.io/vgpu=alpha");
    assert_eq!(cs[1]["gpus"], serde_json::json!([1, 0]));
    assert!(cs[1]["mem_limit_bytes"].is_null(), "no cap is null");
    assert_eq!(cs[1]["nodes"].as_array().unwrap().len(), 4);

    // --json is the same as -o json; yaml carries the same data.
    assert_eq!(json(&t.run(&["--json", "list"]).1), v);
    let (c, y) = t.run(&["list", "-o", "yaml"]);
    assert_eq!(c, 0);
    let yv: serde_json::Value = serde_yaml::from_str(&y).unwrap();
    assert_eq!(yv, v);
}

#[test]
fn without_compute_files_shows_dash_and_null() {
    let t = Tree::new();
    t.context("m", "0", GI, 0, false);
    let (_, out) = t.run(&["list"]);
    let row = out.lines().nth(1).unwrap();
    assert!(row.split_whitespace().any(|f| f == "-"), "{row}");
    let v = json(&t.run(&["inspect", "m", "--json"]).1);
    assert!(v["context"]["compute_limit_pct"].is_null());
    assert!(v["context"]["compute_used_us"].is_null());
    let (_, txt) = t.run(&["inspect", "m"]);
    assert!(txt.contains("no compute scheduling"), "{txt}");
}

#[test]
fn inspect_and_not_found() {
    let t = Tree::new();
    t.context("c1", "0", 8 * GI, 0, true);
    let (c, out) = t.run(&["inspect", "c1", "-o", "json"]);
    assert_eq!(c, 0);
    let v = json(&out);
    assert_eq!(v["schema_version"], 1);
    assert_eq!(v["context"]["mem_limit_bytes"], 8 * GI);
    let nodes: Vec<String> = v["context"]["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n.as_str().unwrap().to_string())
        .collect();
    assert!(
        nodes[0].ends_with("/c1/nvidiactl")
            && nodes[1].ends_with("/c1/nvidia0")
            && nodes[2].ends_with("/c1/nvidia-uvm"),
        "{nodes:?}"
    );
    assert_eq!(t.run(&["inspect", "nope"]).0, 4);
    assert_eq!(t.run(&["inspect", "-bad"]).0, 2);
    let (c, _, err) = t.bin(&["inspect", "nope"]);
    assert_eq!(c, 4);
    assert!(
        err.contains("no context named 'nope'") && err.contains("hint:"),
        "{err}"
    );
}

#[test]
fn create_writes_bytes_and_compute_keys() {
    let t = Tree::new();
    t.context("existing", "0", GI, 0, true); // tells that compute is supported
    let k = t.kernel_creates_once(true);
    let (c, out) = t.run(&[
        "create",
        "c2",
        "--gpus",
        "0",
        "--mem",
        "8Gi",
        "--compute",
        "30",
        "--weight",
        "2",
        "--priority",
        "high",
        "-o",
        "json",
    ]);
    assert_eq!(c, 0, "{out}");
    assert_eq!(
        k.join().unwrap(),
        "c2 gpus=0 mem=8589934592 compute=30 weight=2 priority=high"
    );
    assert_eq!(json(&out)["context"]["name"], "c2");

    // 1G is 2^30 bytes, as the module reads it (one rule: the core's
    // parser); the module gets bytes.
    let t = Tree::new();
    let k = t.kernel_creates_once(false);
    assert_eq!(t.run(&["create", "d", "--mem", "1G", "--gpus", "1,0"]).0, 0);
    assert_eq!(k.join().unwrap(), "d gpus=1,0 mem=1073741824");
}

#[test]
fn create_bad_input_changes_nothing() {
    let t = Tree::new();
    t.context("old", "0", GI, 0, false);
    for (args, code) in [
        (&["create", "old", "--mem", "1Gi"][..], 5), // duplicate
        (&["create", "x", "--mem", "1.5Gi"][..], 2), // bad quantity (no fractions)
        (&["create", "x", "--mem", "8XB"][..], 2),   // bad quantity
        (&["create", "x", "--mem", "-1Gi"][..], 2),  // negative
        (&["create", ".x", "--mem", "1Gi"][..], 2),  // bad name
        (&["create", "x", "--gpus", "a"][..], 2),    // bad GPU list
        (&["create", "x", "--gpus", "0,0"][..], 2),  // a GPU twice (the module refuses it)
        (&["create", "x", "--gpus", "0-1,1"][..], 2),
        (&["create", "x", "--gpus", "64"][..], 2), // past the module's 64 GPUs
        (&["create", "x", "--compute", "101"][..], 2), // out of range
        (&["create", "x", "--compute", "0"][..], 2),
        (&["create", "x", "--weight", "1001"][..], 2),
        (&["create", "x", "--priority", "urgent"][..], 2),
        (&["create", "x", "--compute", "30"][..], 7), // module without compute
        (&["create"][..], 2),
        (&["create", "x", "--bogus"][..], 2),
    ] {
        let (c, _, err) = t.bin(args);
        assert_eq!(c, code, "{args:?}: {err}");
        assert!(err.contains("error:"), "{err}");
        assert_eq!(t.read("sys/create"), "", "{args:?} wrote to create");
        assert!(!t.sys().join("contexts/x").exists());
    }
    let (_, _, err) = t.bin(&["create", "x", "--compute", "30"]);
    assert!(
        err.contains("this fakegpu module has no compute scheduling"),
        "{err}"
    );
}

#[test]
fn create_with_failing_cdi_destroys_again() {
    let t = Tree::new();
    std::fs::write(t.cdi(), "a file where the CDI directory should be").unwrap();
    let k = t.kernel_creates_once(false);
    let (c, _, err) = t.bin(&["create", "e", "--mem", "1Gi", "--cdi"]);
    k.join().unwrap();
    assert_eq!(c, 11, "{err}");
    assert!(err.contains("destroyed again"), "{err}");
    assert_eq!(t.read("sys/destroy"), "e", "the context was not taken back");
}

#[test]
fn create_with_cdi_writes_the_spec() {
    let t = Tree::new();
    let k = t.kernel_creates_once(false);
    let (c, out) = t.run(&["create", "f", "--mem", "512Mi", "--cdi"]);
    assert_eq!(
        k.join().unwrap(),
        "f mem=536870912",
        "no --gpus: the module's default (GPU 0)"
    );
    assert_eq!(c, 0, "{out}");
    let spec = json(&t.read("cdi/fakegpu.io-vgpu_f.json"));
    assert_eq!(spec["devices"][0]["name"], "f");
    assert!(out.contains("--device fakegpu.io/vgpu=f"), "{out}");
}

#[test]
fn update_writes_and_rolls_back() {
    let t = Tree::new();
    t.context("u", "0", GI, 0, true);
    assert_eq!(
        t.run(&[
            "update",
            "u",
            "--mem",
            "2Gi",
            "--compute",
            "50",
            "--weight",
            "7",
            "--priority",
            "normal"
        ])
        .0,
        0
    );
    assert_eq!(t.read("sys/contexts/u/mem_limit_bytes"), "2147483648");
    assert_eq!(t.read("sys/contexts/u/compute_limit_pct"), "50");
    assert_eq!(t.read("sys/contexts/u/compute_weight"), "7");
    assert_eq!(t.read("sys/contexts/u/priority"), "normal");

    // A write that fails (a read-only file) undoes the ones before it.
    let w = t.sys().join("contexts/u/compute_weight");
    std::fs::remove_file(&w).unwrap();
    std::os::unix::fs::symlink("/proc/version", &w).unwrap();
    let (c, _) = t.run(&["update", "u", "--mem", "3Gi", "--weight", "9"]);
    assert_ne!(c, 0);
    assert_eq!(
        t.read("sys/contexts/u/mem_limit_bytes"),
        "2147483648",
        "not rolled back"
    );

    assert_eq!(t.run(&["update", "u", "--compute", "200"]).0, 2);
    assert_eq!(t.run(&["update", "u"]).0, 2, "nothing to update");
    assert_eq!(t.run(&["update", "nope", "--mem", "1Gi"]).0, 4);

    let t = Tree::new();
    t.context("v", "0", GI, 0, false);
    assert_eq!(
        t.run(&["update", "v", "--mem", "1Gi", "--compute", "20"]).0,
        7
    );
    assert_eq!(
        t.read("sys/contexts/v/mem_limit_bytes"),
        "1073741824\n",
        "changed despite the error"
    );
}

#[test]
fn delete_writes_destroy_and_removes_spec() {
    let t = Tree::new();
    t.context("g", "0", GI, 0, false);
    assert_eq!(t.run(&["cdi", "generate", "g"]).0, 0);
    assert!(t.cdi().join("fakegpu.io-vgpu_g.json").exists());
    assert_eq!(t.run(&["delete", "nope"]).0, 4);
    assert_eq!(t.read("sys/destroy"), "");
    let (c, out) = t.run(&["delete", "g", "--json"]);
    assert_eq!(c, 0);
    assert_eq!(t.read("sys/destroy"), "g");
    assert!(!t.cdi().join("fakegpu.io-vgpu_g.json").exists());
    assert_eq!(json(&out)["cdi_spec_removed"], true);
}

#[test]
fn version_not_loaded_and_usage() {
    let t = Tree::new();
    let v = json(&t.run(&["version", "-o", "json"]).1);
    assert_eq!(v["schema_version"], 1);
    assert_eq!(v["module"], "0.1.0");
    assert_eq!(v["fakegpuctl"], env!("CARGO_PKG_VERSION"));
    std::fs::remove_file(t.sys().join("version")).unwrap();
    assert_eq!(t.run(&["version"]).0, 3);
    assert_eq!(t.run(&["list"]).0, 3);
    let (c, _, err) = t.bin(&["create", "z"]);
    assert_eq!(c, 3);
    assert!(err.contains("modprobe fakegpu"), "{err}");
    assert_eq!(t.run(&["frobnicate"]).0, 2);
    assert_eq!(t.run(&["list", "-o", "xml"]).0, 2);
    assert_eq!(t.run(&[]).0, 2);
}

#[test]
fn help_for_every_command() {
    let t = Tree::new();
    let (c, out) = t.run(&["--help"]);
    assert_eq!(c, 0);
    assert!(
        out.contains("EXIT CODES") && out.contains("create NAME"),
        "{out}"
    );
    for cmd in [
        "gpus", "list", "create", "update", "delete", "inspect", "top", "doctor", "cdi", "metrics",
        "version",
    ] {
        let (c, out) = t.run(&[cmd, "--help"]);
        assert_eq!(c, 0, "{cmd}");
        assert!(out.contains(&format!("fakegpuctl {cmd}")), "{cmd}: {out}");
        assert!(out.contains("EXIT CODES"), "{cmd}");
    }
}

#[test]
fn top_iterations() {
    let t = Tree::new();
    t.context("a", "0", GI, 1 << 20, true);
    let (c, out) = t.run(&[
        "top",
        "--iterations",
        "2",
        "--interval",
        "0.05",
        "-o",
        "json",
    ]);
    assert_eq!(c, 0);
    let docs: Vec<serde_json::Value> = out.lines().map(json).collect();
    assert_eq!(docs.len(), 2);
    assert_eq!(docs[1]["iteration"], 2);
    assert_eq!(docs[0]["schema_version"], 1);
    assert!(docs[0]["contexts"][0]["gpu_busy_pct"].is_null());
    assert_eq!(docs[1]["contexts"][0]["gpu_busy_pct"], 0.0);
    let (c, out) = t.run(&["top", "--once"]);
    assert_eq!(c, 0);
    assert_eq!(out.matches("NAME").count(), 1);
    assert!(out.contains("1 MiB") && out.contains("101,202"), "{out}");
    assert_eq!(t.run(&["top", "--interval", "0"]).0, 2);
}

#[test]
fn doctor_reports_problems() {
    let t = Tree::new();
    t.context("ok", "0", GI, 0, false);
    t.context("broken", "0", GI, 0, false);
    std::fs::remove_file(t.dev().join("broken/nvidia0")).unwrap();
    let (c, out) = t.run(&["doctor", "-o", "json"]);
    assert_eq!(c, 10);
    let v = json(&out);
    assert_eq!(v["ok"], false);
    let status = |n: &str| {
        v["checks"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["name"] == n)
            .map(|c| c["status"].as_str().unwrap().to_string())
    };
    assert_eq!(status("module").as_deref(), Some("ok"));
    assert_eq!(status("nodes ok").as_deref(), Some("ok"));
    assert_eq!(status("nodes broken").as_deref(), Some("fail"));
    assert_eq!(
        status("driver").as_deref(),
        Some("fail"),
        "no vendor nodes in the test tree"
    );
    assert_eq!(status("compute").as_deref(), Some("warn"));
}

#[test]
fn help_reads_like_the_docs() {
    // What the VM test and docs/fakegpuctl.md look for.
    let t = Tree::new();
    let (_, out) = t.run(&["create", "--help"]);
    assert!(
        out.contains("--compute PCT") && out.contains("Examples:"),
        "{out}"
    );
    let (_, out) = t.run(&["--help"]);
    assert!(
        out.contains("A first session") && out.contains("8G = 8Gi"),
        "{out}"
    );
    let (c, out) = t.run(&["help", "top"]);
    assert_eq!(c, 0);
    assert!(out.contains("fakegpuctl top"), "{out}");
    // --version, and -v is accepted by every command.
    let (c, out) = t.run(&["--version"]);
    assert_eq!(c, 0);
    assert!(out.contains(fakegpuctl::VERSION), "{out}");
}
