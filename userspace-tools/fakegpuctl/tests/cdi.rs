//! CDI specs: generated specs validate against our JSON schema of the CDI
//! spec (tests/cdi-schema.json), broken ones do not; NVIDIA's mounts, hooks
//! and env are merged, its device nodes are not; files are written
//! atomically and removed.

mod common;
use common::{json, Tree};
use fakegpuctl::cdi::{self, NvidiaSpec};
use fakegpuctl::Sysfs;
use serde_json::{json, Value};

fn validator() -> jsonschema::Validator {
    let schema: Value = serde_json::from_str(include_str!("cdi-schema.json")).unwrap();
    jsonschema::validator_for(&schema).expect("the schema compiles")
}

fn errors(v: &Value) -> Vec<String> {
    validator()
        .iter_errors(v)
        .map(|e| format!("{} at {}", e, e.instance_path))
        .collect()
}

fn sysfs(t: &Tree) -> Sysfs {
    Sysfs::new(t.sys()).with_dev_root(t.dev())
}

const NVIDIA_YAML: &str = r#"---
cdiVersion: 0.5.0
kind: nvidia.com/gpu
devices:
- name: "0"
  containerEdits:
    deviceNodes:
    - path: /dev/nvidia0
containerEdits:
  env:
  - NVIDIA_VISIBLE_DEVICES=void
  - NVIDIA_CTK_LIBCUDA_DIR=/usr/lib/x86_64-linux-gnu
  deviceNodes:
  - path: /dev/nvidiactl
  - path: /dev/nvidia-uvm
  hooks:
  - hookName: createContainer
    path: /usr/bin/nvidia-cdi-hook
    args: [nvidia-cdi-hook, create-symlinks, --link, libcuda.so.1::/usr/lib/x86_64-linux-gnu/libcuda.so]
  - hookName: createContainer
    path: /usr/bin/nvidia-cdi-hook
    args: [nvidia-cdi-hook, disable-device-node-modification]
  mounts:
  - hostPath: /usr/lib/x86_64-linux-gnu/libcuda.so.580.95.05
    containerPath: /usr/lib/x86_64-linux-gnu/libcuda.so.580.95.05
    options: [ro, nosuid, nodev, rbind, rprivate]
"#;

#[test]
fn generated_spec_is_valid_and_maps_nodes() {
    let t = Tree::new();
    t.context("c1", "2,0", 1 << 30, 0, false);
    let p = cdi::write_spec_with(&t.cdi(), &sysfs(&t), "c1", &NvidiaSpec::None).unwrap();
    assert_eq!(p, t.cdi().join("fakegpu.io-vgpu_c1.json"));
    let v = json(&t.read("cdi/fakegpu.io-vgpu_c1.json"));
    assert_eq!(errors(&v), Vec::<String>::new());
    assert_eq!(v["kind"], "fakegpu.io/vgpu");
    assert_eq!(v["cdiVersion"], "0.5.0");
    assert_eq!(v["devices"][0]["name"], "c1");
    let nodes = v["devices"][0]["containerEdits"]["deviceNodes"]
        .as_array()
        .unwrap();
    let paths: Vec<&str> = nodes.iter().map(|n| n["path"].as_str().unwrap()).collect();
    assert_eq!(
        paths,
        [
            "/dev/nvidiactl",
            "/dev/nvidia0",
            "/dev/nvidia1",
            "/dev/nvidia-uvm"
        ]
    );
    for n in nodes {
        let host = n["hostPath"].as_str().unwrap();
        assert!(
            host.starts_with(t.dev().join("c1").to_str().unwrap()),
            "{host}"
        );
        assert!(host.ends_with(n["path"].as_str().unwrap().trim_start_matches("/dev/")));
        // /dev/null, which the test nodes link to: c 1:3.
        assert_eq!(
            (n["type"].as_str(), n["major"].as_u64(), n["minor"].as_u64()),
            (Some("c"), Some(1), Some(3))
        );
        assert_eq!(n["permissions"], "rw");
    }
    assert_eq!(
        v["containerEdits"]["env"],
        json!(["NVIDIA_VISIBLE_DEVICES=void"])
    );
    // Written atomically: nothing else left in the directory.
    let names: Vec<String> = std::fs::read_dir(t.cdi())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into())
        .collect();
    assert_eq!(names, ["fakegpu.io-vgpu_c1.json"]);
    assert_eq!(cdi::device_name("c1"), "fakegpu.io/vgpu=c1");

    cdi::remove_spec(&t.cdi(), "c1").unwrap();
    assert!(!p.exists());
    cdi::remove_spec(&t.cdi(), "c1").expect("removing a missing spec is fine");
}

#[test]
fn nvidia_spec_is_merged_without_its_nodes() {
    let t = Tree::new();
    t.context("c2", "0", 1 << 30, 0, false);
    std::fs::create_dir_all(t.cdi()).unwrap();
    std::fs::write(t.cdi().join("nvidia.yaml"), NVIDIA_YAML).unwrap();
    // The default search finds nvidia.yaml in the CDI directory.
    let p = cdi::write_spec(&t.cdi(), &sysfs(&t), "c2").unwrap();
    let v = json(&std::fs::read_to_string(p).unwrap());
    assert_eq!(errors(&v), Vec::<String>::new());
    let ce = &v["containerEdits"];
    assert!(
        ce.get("deviceNodes").is_none(),
        "NVIDIA's nodes must not be copied: {ce}"
    );
    assert_eq!(ce["hooks"].as_array().unwrap().len(), 2);
    assert_eq!(
        ce["hooks"][1]["args"][1],
        "disable-device-node-modification"
    );
    assert_eq!(ce["mounts"][0]["options"][0], "ro");
    assert_eq!(
        ce["env"],
        json!([
            "NVIDIA_VISIBLE_DEVICES=void",
            "NVIDIA_CTK_LIBCUDA_DIR=/usr/lib/x86_64-linux-gnu"
        ])
    );
    let all = v.to_string();
    assert!(!all.contains("\"/dev/nvidiactl\",\"hostPath\":null"));
    assert_eq!(
        v["devices"][0]["containerEdits"]["deviceNodes"]
            .as_array()
            .unwrap()
            .len(),
        3
    );
    // The spec keeps its own devices only.
    assert_eq!(v["devices"].as_array().unwrap().len(), 1);

    // A newer NVIDIA spec raises our cdiVersion (its fields may need it).
    std::fs::write(
        t.cdi().join("nvidia.yaml"),
        NVIDIA_YAML.replace("0.5.0", "0.7.0"),
    )
    .unwrap();
    let v = cdi::build_spec(&sysfs(&t), "c2", &NvidiaSpec::default_for(&t.cdi())).unwrap();
    assert_eq!(v["cdiVersion"], "0.7.0");

    // A broken NVIDIA spec is an error, not silently ignored.
    std::fs::write(t.cdi().join("nvidia.yaml"), "cdiVersion: [unclosed").unwrap();
    let e = cdi::write_spec(&t.cdi(), &sysfs(&t), "c2").unwrap_err();
    assert_eq!(e.exit_code(), 11);
}

#[test]
fn node_that_is_not_a_device_fails() {
    let t = Tree::new();
    t.context("c3", "0", 1 << 30, 0, false);
    let n = t.dev().join("c3/nvidia0");
    std::fs::remove_file(&n).unwrap();
    std::fs::write(&n, "").unwrap();
    assert!(cdi::write_spec_with(&t.cdi(), &sysfs(&t), "c3", &NvidiaSpec::None).is_err());
    std::fs::remove_file(&n).unwrap();
    let e = cdi::write_spec_with(&t.cdi(), &sysfs(&t), "c3", &NvidiaSpec::None).unwrap_err();
    assert_eq!(e.exit_code(), 4);
    assert!(!t.cdi().join("fakegpu.io-vgpu_c3.json").exists());
    // A context name CDI cannot carry.
    t.context("bad_", "0", 1 << 30, 0, false);
    assert!(cdi::write_spec_with(&t.cdi(), &sysfs(&t), "bad_", &NvidiaSpec::None).is_err());
}

fn good() -> Value {
    json!({"cdiVersion":"0.5.0","kind":"fakegpu.io/vgpu",
        "devices":[{"name":"c1","containerEdits":{"deviceNodes":[
            {"path":"/dev/nvidiactl","hostPath":"/dev/fakegpu/c1/nvidiactl","type":"c","major":10,"minor":120,"permissions":"rw"}]}}],
        "containerEdits":{"env":["A=b"],"hooks":[{"hookName":"createContainer","path":"/usr/bin/hook","args":["hook"]}],
            "mounts":[{"hostPath":"/a","containerPath":"/a","options":["ro"]}]}})
}

#[test]
fn schema_accepts_minimal_and_rejects_broken_specs() {
    assert_eq!(errors(&good()), Vec::<String>::new());
    assert!(errors(&json!({"cdiVersion":"0.3.0","kind":"vendor.com/device","devices":[{"name":"myDevice","containerEdits":{"deviceNodes":[{"path":"/dev/card1"}]}}]})).is_empty());
    type Breaker = fn(&mut Value);
    let broken: Vec<(&str, Breaker)> = vec![
        ("no cdiVersion", |v| {
            v.as_object_mut().unwrap().remove("cdiVersion");
        }),
        ("bad version", |v| v["cdiVersion"] = json!("five")),
        ("kind without class", |v| v["kind"] = json!("fakegpu.io")),
        ("kind with upper-case vendor", |v| {
            v["kind"] = json!("FakeGPU.io/vgpu")
        }),
        ("no devices", |v| v["devices"] = json!([])),
        ("device name with a slash", |v| {
            v["devices"][0]["name"] = json!("a/b")
        }),
        ("device name ending in _", |v| {
            v["devices"][0]["name"] = json!("a_")
        }),
        ("device without edits", |v| {
            v["devices"][0]
                .as_object_mut()
                .unwrap()
                .remove("containerEdits");
        }),
        ("node without path", |v| {
            v["devices"][0]["containerEdits"]["deviceNodes"][0]
                .as_object_mut()
                .unwrap()
                .remove("path");
        }),
        ("relative node path", |v| {
            v["devices"][0]["containerEdits"]["deviceNodes"][0]["path"] = json!("dev/nvidiactl")
        }),
        ("bad node type", |v| {
            v["devices"][0]["containerEdits"]["deviceNodes"][0]["type"] = json!("x")
        }),
        ("negative major", |v| {
            v["devices"][0]["containerEdits"]["deviceNodes"][0]["major"] = json!(-1)
        }),
        ("bad permissions", |v| {
            v["devices"][0]["containerEdits"]["deviceNodes"][0]["permissions"] = json!("rwx")
        }),
        ("unknown top-level field", |v| v["frobnicate"] = json!(1)),
        ("unknown edit field", |v| {
            v["containerEdits"]["sysctls"] = json!({})
        }),
        ("env without =", |v| {
            v["containerEdits"]["env"] = json!(["NOVALUE"])
        }),
        ("bad hook name", |v| {
            v["containerEdits"]["hooks"][0]["hookName"] = json!("beforeEverything")
        }),
        ("relative hook path", |v| {
            v["containerEdits"]["hooks"][0]["path"] = json!("hook")
        }),
        ("mount without containerPath", |v| {
            v["containerEdits"]["mounts"][0]
                .as_object_mut()
                .unwrap()
                .remove("containerPath");
        }),
    ];
    for (what, f) in broken {
        let mut v = good();
        f(&mut v);
        assert!(
            !errors(&v).is_empty(),
            "schema accepted a spec with {what}: {v}"
        );
    }
}

/// With fakegpufs: the vendor's paths are bind mounts of its nodes (stat
/// shows the vendor's numbers there), and the device nodes carry
/// fakegpufs's own numbers from its `devices` file at fakegpu's paths,
/// never a number taken from stat of a fakegpufs node.
#[test]
fn spec_with_nodefs_binds_its_nodes_and_names_its_numbers() {
    let t = Tree::new();
    t.context("c1", "2,0", 1 << 30, 0, false);
    let nodefs = t.sys().parent().unwrap().join("nodefs");
    std::fs::create_dir_all(nodefs.join("c1")).unwrap();
    for n in ["nvidiactl", "nvidia0", "nvidia1", "nvidia-uvm"] {
        std::fs::write(nodefs.join("c1").join(n), "").unwrap();
    }
    std::fs::write(
        nodefs.join("c1/devices"),
        "nvidiactl 240:0\nnvidia0 240:1\nnvidia1 240:2\nnvidia-uvm 240:3\n",
    )
    .unwrap();
    let s = sysfs(&t).with_nodefs_root(Some(nodefs.clone()));
    let v = cdi::build_spec(&s, "c1", &NvidiaSpec::None).unwrap();
    assert_eq!(errors(&v), Vec::<String>::new());
    let edits = &v["devices"][0]["containerEdits"];
    let nodes = edits["deviceNodes"].as_array().unwrap();
    let got: Vec<(String, String, u64, u64)> = nodes
        .iter()
        .map(|n| {
            (
                n["path"].as_str().unwrap().to_string(),
                n["hostPath"].as_str().unwrap().to_string(),
                n["major"].as_u64().unwrap(),
                n["minor"].as_u64().unwrap(),
            )
        })
        .collect();
    let dev = t.dev().join("c1");
    let want: Vec<(String, String, u64, u64)> = ["nvidiactl", "nvidia0", "nvidia1", "nvidia-uvm"]
        .iter()
        .enumerate()
        .map(|(i, n)| {
            (
                dev.join(n).display().to_string(),
                nodefs.join("c1").join(n).display().to_string(),
                240,
                i as u64,
            )
        })
        .collect();
    assert_eq!(got, want);
    let mounts = edits["mounts"].as_array().unwrap();
    let binds: Vec<(&str, &str)> = mounts
        .iter()
        .map(|m| {
            assert_eq!(m["options"], json!(["bind", "nosuid", "noexec"]));
            (
                m["hostPath"].as_str().unwrap(),
                m["containerPath"].as_str().unwrap(),
            )
        })
        .collect();
    let hosts: Vec<String> = ["nvidiactl", "nvidia0", "nvidia1", "nvidia-uvm"]
        .iter()
        .map(|n| nodefs.join("c1").join(n).display().to_string())
        .collect();
    assert_eq!(
        binds,
        [
            (hosts[0].as_str(), "/dev/nvidiactl"),
            (hosts[1].as_str(), "/dev/nvidia0"),
            (hosts[2].as_str(), "/dev/nvidia1"),
            (hosts[3].as_str(), "/dev/nvidia-uvm"),
        ]
    );
    // A devices file that lacks a node fails the spec, not a guess.
    std::fs::write(nodefs.join("c1/devices"), "nvidiactl 240:0\n").unwrap();
    assert!(cdi::build_spec(&s, "c1", &NvidiaSpec::None).is_err());
}
