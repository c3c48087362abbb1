//! The exporter against a fake module tree, a fake kubelet pod-resources
//! server, a list of GPUs and a kernel log file: pod labels on the
//! per-context series, DCGM's series and labels per GPU, Xid health; and the
//! Grafana dashboard asks only for series the exporter has.

mod common;
use common::Tree;
use fakegpuctl::metrics::{metric_names, Exporter, GpuStat};
use fakegpuctl::podresources::api::ListPodResourcesResponse;
use fakegpuctl::podresources::build::{dp_container, dra_container, pod};
use fakegpuctl::podresources::fake::FakeServer;
use fakegpuctl::Sysfs;
use std::collections::BTreeMap;
use std::time::{Duration, Instant};

/// (name, {label: value}) -> value.
fn samples(text: &str) -> Vec<(String, BTreeMap<String, String>, f64)> {
    let mut out = Vec::new();
    for line in text.lines().filter(|l| !l.starts_with('#')) {
        let (series, value) = line.rsplit_once(' ').unwrap();
        let (name, labels) = match series.split_once('{') {
            Some((n, l)) => (n, l.trim_end_matches('}')),
            None => (series, ""),
        };
        let mut m = BTreeMap::new();
        // Values hold no commas or quotes in these tests.
        for kv in labels.split(',').filter(|s| !s.is_empty()) {
            let (k, v) = kv.split_once('=').unwrap_or_else(|| panic!("{line}"));
            m.insert(k.to_string(), v.trim_matches('"').to_string());
        }
        out.push((name.to_string(), m, value.parse().unwrap()));
    }
    out
}

fn find<'a>(
    s: &'a [(String, BTreeMap<String, String>, f64)],
    name: &str,
    want: &[(&str, &str)],
) -> Vec<&'a (String, BTreeMap<String, String>, f64)> {
    s.iter()
        .filter(|(n, l, _)| {
            n == name
                && want
                    .iter()
                    .all(|(k, v)| l.get(*k).map(String::as_str) == Some(*v))
        })
        .collect()
}

fn h100(index: u32, bus: u8, free: u64) -> GpuStat {
    GpuStat {
        info: fakegpuctl::gpus::GpuInfo {
            index,
            name: "NVIDIA H100 80GB HBM3".into(),
            uuid: format!("GPU-{index}"),
            mem_total_bytes: 80 << 30,
            pci_bus: bus,
            pci_device_id: 0x2330,
        },
        fb: Some((80 << 30, 79 << 30, free)),
    }
}

#[test]
fn pod_labels_dcgm_series_and_health() {
    let t = Tree::new();
    // A DRA claim's context (shared by two pods), a device plugin one, and
    // one nobody uses.
    t.context("dra-0123", "0", 12 << 30, 5 << 20, true);
    t.context("k8s-vgpu-8gi-0", "1", 8 << 30, 7 << 20, false);
    t.context("idle", "1", 1 << 30, 0, false);
    let sock = t.dir.join("pod-resources/kubelet.sock");
    std::fs::create_dir_all(sock.parent().unwrap()).unwrap();
    let kubelet = FakeServer::start(&sock).unwrap();
    kubelet.set(ListPodResourcesResponse {
        pod_resources: vec![
            pod(
                "ml",
                "train-a",
                vec![dra_container(
                    "trainer",
                    &[("ml", "claim-1", &["fakegpu.io/vgpu=dra-0123"])],
                )],
            ),
            pod(
                "ml",
                "train-b",
                vec![dra_container(
                    "trainer",
                    &[("ml", "claim-1", &["fakegpu.io/vgpu=dra-0123"])],
                )],
            ),
            pod(
                "web",
                "infer",
                vec![dp_container("srv", "fakegpu.io/vgpu-8gi", &["vgpu-8gi-0"])],
            ),
        ],
    });
    let kmsg = t.dir.join("kmsg");
    std::fs::write(&kmsg, "6,1,1,-;nvsim: loaded\n").unwrap();
    let sys = Sysfs::new(t.sys()).with_dev_root(t.dev());
    let mut e = Exporter::new(sys, "/nonexistent".into())
        .with_pod_resources(Some(sock.clone()))
        .with_kmsg(Some(kmsg.clone()))
        .with_hostname("node-1")
        .with_gpu_source(Box::new(|| {
            vec![h100(0, 0x10, 60 << 30), h100(1, 0x11, 70 << 30)]
        }));
    let t0 = Instant::now();
    let s = samples(&e.scrape_at(t0));

    // Per context: one series per container using it.
    let used = find(
        &s,
        "fakegpu_vgpu_memory_used_bytes",
        &[("vgpu", "dra-0123")],
    );
    assert_eq!(used.len(), 2, "{used:?}");
    for (p, (_, l, v)) in ["train-a", "train-b"].iter().zip(&used) {
        assert_eq!(l["namespace"], "ml");
        assert_eq!(l["pod"], *p);
        assert_eq!(l["container"], "trainer");
        assert_eq!(l["UUID"], "GPU-0");
        assert_eq!(*v, (5u64 << 20) as f64);
    }
    let dp = find(
        &s,
        "fakegpu_vgpu_memory_limit_bytes",
        &[("vgpu", "k8s-vgpu-8gi-0")],
    );
    assert_eq!(dp.len(), 1);
    assert_eq!(
        (
            dp[0].1["namespace"].as_str(),
            dp[0].1["pod"].as_str(),
            dp[0].1["container"].as_str()
        ),
        ("web", "infer", "srv")
    );
    let idle = find(&s, "fakegpu_vgpu_memory_used_bytes", &[("vgpu", "idle")]);
    assert_eq!(idle.len(), 1);
    assert_eq!(idle[0].1["pod"], "", "nobody uses it: empty labels");
    assert_eq!(find(&s, "fakegpu_pod_resources_up", &[])[0].2, 1.0);

    // DCGM per GPU: MiB, dcgm-exporter's labels, one per container using it.
    let fb = find(&s, "DCGM_FI_DEV_FB_USED", &[("gpu", "0")]);
    assert_eq!(fb.len(), 2, "two pods share GPU 0: {fb:?}");
    let l = &fb[0].1;
    assert_eq!(l["UUID"], "GPU-0");
    assert_eq!(l["device"], "nvidia0");
    assert_eq!(l["modelName"], "NVIDIA H100 80GB HBM3");
    assert_eq!(l["Hostname"], "node-1");
    assert_eq!(l["pci_bus_id"], "00000000:10:00.0");
    assert_eq!(
        (l["namespace"].as_str(), l["pod"].as_str()),
        ("ml", "train-a")
    );
    assert_eq!(fb[0].2, (19 * 1024) as f64, "heap 79 GiB - free 60 GiB");
    let total = find(&s, "DCGM_FI_DEV_FB_TOTAL", &[("gpu", "1")]);
    assert_eq!(total.len(), 1);
    assert_eq!(total[0].2, (80 * 1024) as f64);
    assert_eq!(total[0].1["pod"], "infer");
    assert_eq!(
        find(&s, "DCGM_FI_DEV_FB_FREE", &[("gpu", "1")])[0].2,
        (70 * 1024) as f64
    );
    assert_eq!(
        find(&s, "DCGM_FI_DEV_FB_RESERVED", &[("gpu", "1")])[0].2,
        1024.0
    );
    assert!(
        find(&s, "DCGM_FI_DEV_GPU_UTIL", &[]).is_empty(),
        "no utilisation before a second scrape"
    );
    assert_eq!(find(&s, "fakegpu_gpu_healthy", &[("gpu", "0")])[0].2, 1.0);
    assert_eq!(
        find(&s, "DCGM_FI_DEV_XID_ERRORS", &[("gpu", "0")])[0].2,
        0.0
    );

    // One second later: 0.25 s more GPU time on GPU 0 is 25 %; an Xid 79
    // on GPU 1 (bus 0x11) and an application Xid on GPU 0.
    t.write("sys/contexts/dra-0123/compute_used_us", "1750000\n");
    {
        use std::io::Write;
        let mut f = std::fs::OpenOptions::new()
            .append(true)
            .open(&kmsg)
            .unwrap();
        f.write_all(b"4,2,2,-;NVRM: Xid (PCI:0000:10:00): 13, pid=7, name=app, Graphics Exception\n3,3,3,-;NVRM: Xid (PCI:0000:11:00): 79, pid='<unknown>', name=<unknown>, GPU has fallen off the bus.\n").unwrap();
    }
    let s = samples(&e.scrape_at(t0 + Duration::from_secs(1)));
    let u = find(&s, "DCGM_FI_DEV_GPU_UTIL", &[("gpu", "0")]);
    assert_eq!(u[0].2, 25.0, "{u:?}");
    assert_eq!(find(&s, "DCGM_FI_DEV_GPU_UTIL", &[("gpu", "1")])[0].2, 0.0);
    assert_eq!(find(&s, "fakegpu_gpu_healthy", &[("gpu", "1")])[0].2, 0.0);
    assert_eq!(
        find(&s, "fakegpu_gpu_healthy", &[("gpu", "0")])[0].2,
        1.0,
        "Xid 13 is an application's"
    );
    assert_eq!(
        find(&s, "fakegpu_gpu_xid_total", &[("gpu", "1"), ("xid", "79")])[0].2,
        1.0
    );
    assert_eq!(
        find(&s, "DCGM_FI_DEV_XID_ERRORS", &[("gpu", "1")])[0].2,
        79.0
    );
    assert_eq!(
        find(&s, "DCGM_FI_DEV_XID_ERRORS", &[("gpu", "0")])[0].2,
        13.0
    );

    // Recovery.
    {
        use std::io::Write;
        let mut f = std::fs::OpenOptions::new()
            .append(true)
            .open(&kmsg)
            .unwrap();
        f.write_all(b"3,4,4,-;NVRM: Xid (PCI:0000:11:00): 154, GPU recovery action changed from 0x1 (GPU Reset Required) to 0x0 (None)\n").unwrap();
    }
    let s = samples(&e.scrape_at(t0 + Duration::from_secs(2)));
    assert_eq!(find(&s, "fakegpu_gpu_healthy", &[("gpu", "1")])[0].2, 1.0);

    // The kubelet goes away: the scrape goes on, labels empty.
    drop(kubelet);
    let _ = std::fs::remove_file(&sock);
    let s = samples(&e.scrape_at(t0 + Duration::from_secs(3)));
    let used = find(
        &s,
        "fakegpu_vgpu_memory_used_bytes",
        &[("vgpu", "dra-0123")],
    );
    assert_eq!(used.len(), 1);
    assert_eq!(used[0].1["pod"], "");
    assert_eq!(find(&s, "fakegpu_pod_resources_up", &[])[0].2, 0.0);
}

#[test]
fn no_socket_no_kmsg_no_gpus() {
    let t = Tree::new();
    t.context("a", "0", 1 << 30, 0, false);
    let mut e = Exporter::new(Sysfs::new(t.sys()), "/nonexistent".into())
        .with_pod_resources(Some(t.dir.join("absent.sock")))
        .with_kmsg(Some(t.dir.join("absent-kmsg")));
    let text = e.scrape();
    let s = samples(&text);
    let u = find(&s, "fakegpu_vgpu_memory_used_bytes", &[("vgpu", "a")]);
    assert_eq!(u.len(), 1);
    assert_eq!(u[0].1["namespace"], "");
    assert!(find(&s, "DCGM_FI_DEV_FB_USED", &[]).is_empty());
    assert!(find(&s, "fakegpu_gpu_healthy", &[]).is_empty());
}

/// Every metric name the dashboard's queries use is one the exporter emits.
#[test]
fn grafana_dashboard_asks_for_our_series() {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../deploy/grafana/fakegpu.json"
    );
    let text = std::fs::read_to_string(path).unwrap();
    let v: serde_json::Value = serde_json::from_str(&text).expect("valid JSON");
    let names = metric_names();
    let mut exprs = Vec::new();
    fn walk(v: &serde_json::Value, out: &mut Vec<String>) {
        match v {
            serde_json::Value::Object(m) => {
                for (k, x) in m {
                    if (k == "expr" || k == "query") && x.is_string() {
                        out.push(x.as_str().unwrap().to_string());
                    } else {
                        walk(x, out);
                    }
                }
            }
            serde_json::Value::Array(a) => a.iter().for_each(|x| walk(x, out)),
            _ => {}
        }
    }
    walk(&v, &mut exprs);
    assert!(exprs.len() >= 6, "{exprs:?}");
    let mut used = std::collections::BTreeSet::new();
    for e in &exprs {
        // Metric names: identifiers starting with fakegpu_ or DCGM_.
        let mut cur = String::new();
        for ch in e.chars().chain(std::iter::once(' ')) {
            if ch.is_ascii_alphanumeric() || ch == '_' || ch == ':' {
                cur.push(ch);
            } else {
                if cur.starts_with("fakegpu_") || cur.starts_with("DCGM_") {
                    assert!(
                        names.contains(&cur.as_str()),
                        "the dashboard asks for {cur}, which the exporter does not emit ({e})"
                    );
                    used.insert(cur.clone());
                }
                cur.clear();
            }
        }
    }
    for must in [
        "DCGM_FI_DEV_FB_USED",
        "DCGM_FI_DEV_GPU_UTIL",
        "fakegpu_vgpu_memory_used_bytes",
        "fakegpu_gpu_healthy",
    ] {
        assert!(used.contains(must), "the dashboard lacks {must}");
    }
    assert_eq!(v["uid"], "fakegpu");
}
