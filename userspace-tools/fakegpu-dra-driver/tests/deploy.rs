//! deploy/: the DeviceClass and the example claim templates validate
//! against Kubernetes 1.37 (strict), and ask for what the driver publishes.

mod common;

use std::path::Path;

#[test]
fn deploy_yamls_validate_strict() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../deploy/dra");
    let files: Vec<_> = common::files_in(&dir)
        .into_iter()
        .filter(|p| p.extension().is_some_and(|e| e == "yaml"))
        .collect();
    assert!(files.len() >= 4, "{files:?}");
    common::validate_strict(&files);
    let class = std::fs::read_to_string(dir.join("deviceclass.yaml")).unwrap();
    assert!(class.contains("name: gpu.fakegpu.io"), "{class}");
    assert!(
        class.contains("device.driver == \"gpu.fakegpu.io\""),
        "{class}"
    );
    for f in &files {
        let t = std::fs::read_to_string(f).unwrap();
        if t.contains("kind: ResourceClaimTemplate") {
            assert!(
                t.contains("deviceClassName: gpu.fakegpu.io"),
                "{}",
                f.display()
            );
        }
    }
}
