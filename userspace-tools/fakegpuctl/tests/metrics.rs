//! The metrics server: started on 127.0.0.1:0 against a fake tree, scraped
//! over HTTP, the exposition parsed.

mod common;
use common::Tree;
use fakegpuctl::metrics::Exporter;
use fakegpuctl::Sysfs;
use std::collections::HashMap;
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};

fn get(addr: &str, path: &str) -> (String, String) {
    let mut s = TcpStream::connect(addr).unwrap();
    write!(s, "GET {path} HTTP/1.1\r\nHost: x\r\n\r\n").unwrap();
    let mut r = String::new();
    s.read_to_string(&mut r).unwrap();
    let (head, body) = r.split_once("\r\n\r\n").unwrap();
    (head.to_string(), body.to_string())
}

/// Parses the text format: (name, labels) -> value; checks HELP and TYPE
/// come once per family, before its samples.
pub fn parse(body: &str) -> HashMap<(String, String), f64> {
    let mut m = HashMap::new();
    let mut typed: HashMap<String, String> = HashMap::new();
    let mut helped = std::collections::HashSet::new();
    assert!(body.ends_with('\n'));
    for line in body.lines() {
        if let Some(rest) = line.strip_prefix("# HELP ") {
            let name = rest.split_whitespace().next().unwrap();
            assert!(helped.insert(name.to_string()), "HELP twice for {name}");
            continue;
        }
        if let Some(rest) = line.strip_prefix("# TYPE ") {
            let mut it = rest.split_whitespace();
            let (name, typ) = (it.next().unwrap(), it.next().unwrap());
            assert!(["counter", "gauge"].contains(&typ), "{line}");
            assert!(
                typed.insert(name.to_string(), typ.to_string()).is_none(),
                "TYPE twice for {name}"
            );
            continue;
        }
        let (series, value) = line.rsplit_once(' ').unwrap();
        let (name, labels) = match series.split_once('{') {
            Some((n, l)) => (n.to_string(), l.trim_end_matches('}').to_string()),
            None => (series.to_string(), String::new()),
        };
        let typ = typed
            .get(&name)
            .unwrap_or_else(|| panic!("sample before TYPE: {line}"));
        assert!(helped.contains(&name));
        if typ == "counter" {
            assert!(name.ends_with("_total"), "{name}");
        }
        assert!(name.starts_with("fakegpu_") || name.starts_with("DCGM_FI_"));
        m.insert(
            (name, labels),
            value
                .parse::<f64>()
                .unwrap_or_else(|_| panic!("bad value: {line}")),
        );
    }
    m
}

#[test]
fn scrape_over_http() {
    let t = Tree::new();
    t.context("alpha", "0", 4 << 30, 3 << 20, true);
    t.context("beta", "1", u64::MAX, 0, false);
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = l.local_addr().unwrap().to_string();
    let sys = Sysfs::new(t.sys()).with_dev_root(t.dev());
    let srv = std::thread::spawn(move || {
        Exporter::new(sys, "/nonexistent".into())
            .serve(l, Some(3))
            .unwrap()
    });

    let (head, body) = get(&addr, "/metrics");
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    assert!(
        head.contains("Content-Type: text/plain; version=0.0.4"),
        "{head}"
    );
    let m = parse(&body);
    let a = |n: &str| {
        m.get(&(
            n.to_string(),
            "vgpu=\"alpha\",gpu=\"0\",UUID=\"\",namespace=\"\",pod=\"\",container=\"\"".to_string(),
        ))
        .copied()
    };
    assert_eq!(
        a("fakegpu_vgpu_memory_used_bytes"),
        Some((3u64 << 20) as f64)
    );
    assert_eq!(
        a("fakegpu_vgpu_memory_limit_bytes"),
        Some((4u64 << 30) as f64)
    );
    assert_eq!(
        a("fakegpu_vgpu_memory_peak_bytes"),
        Some((6u64 << 20) as f64)
    );
    assert_eq!(a("fakegpu_vgpu_alloc_refused_total"), Some(3.0));
    assert_eq!(a("fakegpu_vgpu_compute_used_seconds_total"), Some(1.5));
    assert_eq!(a("fakegpu_vgpu_throttled_seconds_total"), Some(0.25));
    assert_eq!(a("fakegpu_vgpu_compute_limit_ratio"), Some(0.3));
    let b = |n: &str| {
        m.get(&(
            n.to_string(),
            "vgpu=\"beta\",gpu=\"1\",UUID=\"\",namespace=\"\",pod=\"\",container=\"\"".to_string(),
        ))
        .copied()
    };
    assert_eq!(b("fakegpu_vgpu_memory_used_bytes"), Some(0.0));
    assert_eq!(
        b("fakegpu_vgpu_memory_limit_bytes"),
        None,
        "no cap, no limit sample"
    );
    assert_eq!(
        b("fakegpu_vgpu_compute_used_seconds_total"),
        None,
        "no compute files, no sample"
    );
    let bi = format!(
        "version=\"{}\",module_version=\"0.1.0\"",
        env!("CARGO_PKG_VERSION")
    );
    assert_eq!(m.get(&("fakegpu_build_info".to_string(), bi)), Some(&1.0));

    let (head, _) = get(&addr, "/other");
    assert!(head.starts_with("HTTP/1.1 404"), "{head}");
    // Live: a change in sysfs shows in the next scrape.
    t.write("sys/contexts/alpha/mem_used_bytes", "42\n");
    let m = parse(&get(&addr, "/metrics?x=1").1);
    assert_eq!(
        m.get(&(
            "fakegpu_vgpu_memory_used_bytes".into(),
            "vgpu=\"alpha\",gpu=\"0\",UUID=\"\",namespace=\"\",pod=\"\",container=\"\"".into()
        )),
        Some(&42.0)
    );
    srv.join().unwrap();
}

#[test]
fn module_not_loaded_still_answers() {
    let t = Tree::new();
    std::fs::remove_dir_all(t.sys()).unwrap();
    let text = fakegpuctl::metrics::render(&Sysfs::new(t.sys()), &Default::default());
    let m = parse(&text);
    assert_eq!(
        m.get(&("fakegpu_module_loaded".into(), String::new())),
        Some(&0.0)
    );
}
