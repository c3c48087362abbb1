//! GPU health from the vendor driver's Xid reports, shared by the exporter,
//! the device plugin and the DRA driver (docs/health.md).
//!
//! The NVIDIA driver reports an error on a GPU as a kernel log line (from
//! `krcReportXid`, src/nvidia/src/kernel/gpu/rc/kernel_rc.c):
//!
//! ```text
//! NVRM: Xid (PCI:0000:01:00): 79, pid='<unknown>', name=<unknown>, GPU has fallen off the bus.
//! NVRM: Xid (PCI:0000:01:00): 154, GPU recovery action changed from 0x0 (None) to 0x1 (GPU Reset Required)
//! ```
//!
//! (`PCI:domain:bus:device`; on a MIG GPU the parenthesis also holds
//! ` GPU-I:NN` and ` GPU-CI:NN`.) NVML turns the same RM events into
//! `nvmlEventTypeXidCriticalError`, which NVIDIA's k8s-device-plugin
//! watches: every Xid marks the GPU unhealthy except the application ones
//! (13, 31, 43, 45, 68, 109: the GPU is fine, a program faulted). We read
//! the log lines from `/dev/kmsg` ([`KmsgWatcher`]) and apply the same rule
//! ([`classify`]); in addition an Xid 154 whose recovery action changed to
//! `0x0 (None)` (the driver's report after a reset) makes the GPU healthy
//! again, which the device plugin of NVIDIA does not do (it never recovers
//! a device without a restart).

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::fs::File;
use std::io::{ErrorKind, Read};
use std::path::Path;

/// The Xids of application errors: logged, counted, never unhealthy (the
/// list NVIDIA's k8s-device-plugin ignores, internal/rm/health.go).
pub const APPLICATION_XIDS: &[u32] = &[13, 31, 43, 45, 68, 109];

/// Xid 154: the GPU's recovery action changed.
pub const XID_RECOVERY_ACTION: u32 = 154;

/// A PCI location as the Xid line writes it: `domain:bus:device`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct PciAddr {
    pub domain: u32,
    pub bus: u8,
    pub device: u8,
}

impl fmt::Display for PciAddr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{:04x}:{:02x}:{:02x}",
            self.domain, self.bus, self.device
        )
    }
}

impl PciAddr {
    /// Parses `dddd:bb:dd` (hex).
    pub fn parse(s: &str) -> Option<PciAddr> {
        let mut it = s.split(':');
        let (d, b, v) = (it.next()?, it.next()?, it.next()?);
        if it.next().is_some() || d.is_empty() || b.len() != 2 || v.len() != 2 {
            return None;
        }
        Some(PciAddr {
            domain: u32::from_str_radix(d, 16).ok()?,
            bus: u8::from_str_radix(b, 16).ok()?,
            device: u8::from_str_radix(v, 16).ok()?,
        })
    }

    /// DCGM's `pci_bus_id` spelling: `00000000:01:00.0`.
    pub fn dcgm(&self) -> String {
        format!("{:08X}:{:02X}:{:02X}.0", self.domain, self.bus, self.device)
    }
}

/// One Xid report.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Xid {
    pub pci: PciAddr,
    pub xid: u32,
    /// The rest of the line after `NN, ` (pid, name, message).
    pub message: String,
}

/// The Xid a kernel log message reports, if it is an Xid line.
pub fn parse_line(msg: &str) -> Option<Xid> {
    let at = msg.find("NVRM: Xid (PCI:")?;
    let rest = &msg[at + "NVRM: Xid (PCI:".len()..];
    let close = rest.find("): ")?;
    let loc = &rest[..close];
    let pci = PciAddr::parse(loc.split(' ').next()?)?;
    let after = &rest[close + 3..];
    let digits: String = after.chars().take_while(|c| c.is_ascii_digit()).collect();
    if digits.is_empty() {
        return None;
    }
    let xid = digits.parse().ok()?;
    let tail = &after[digits.len()..];
    if !(tail.is_empty() || tail.starts_with(',')) {
        return None;
    }
    let message = tail.trim_start_matches(',').trim().to_string();
    Some(Xid { pci, xid, message })
}

/// What an Xid means for the GPU's health.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// The GPU is unhealthy from now on.
    Fatal,
    /// An application error (or an Xid the administrator ignores): the GPU
    /// stays as it is.
    Ignored,
    /// The driver reports the GPU recovered (Xid 154 to `0x0 (None)`).
    Recovered,
}

/// Which Xids count (beside the built-in application list).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Policy {
    /// Xids also ignored.
    pub ignore: BTreeSet<u32>,
    /// No Xid makes a GPU unhealthy.
    pub ignore_all: bool,
}

impl Policy {
    /// From a comma list (`FAKEGPU_IGNORE_XIDS`): Xids, or `all`.
    pub fn parse(s: &str) -> Result<Policy, String> {
        let mut p = Policy::default();
        for w in s.split(',').map(str::trim).filter(|w| !w.is_empty()) {
            if w.eq_ignore_ascii_case("all") {
                p.ignore_all = true;
            } else {
                p.ignore
                    .insert(w.parse().map_err(|_| format!("bad Xid '{w}'"))?);
            }
        }
        Ok(p)
    }

    /// From the environment (`FAKEGPU_IGNORE_XIDS`); a bad value is ignored
    /// with a warning.
    pub fn from_env() -> Policy {
        match std::env::var("FAKEGPU_IGNORE_XIDS") {
            Ok(s) => Policy::parse(&s).unwrap_or_else(|e| {
                tracing::warn!("FAKEGPU_IGNORE_XIDS: {e}; using the defaults");
                Policy::default()
            }),
            Err(_) => Policy::default(),
        }
    }
}

/// The verdict on `x` under `policy`.
pub fn classify(x: &Xid, policy: &Policy) -> Verdict {
    if x.xid == XID_RECOVERY_ACTION {
        // "GPU recovery action changed from 0x1 (GPU Reset Required) to 0x0 (None)"
        if let Some(to) = x.message.rsplit(" to ").next() {
            if x.message.contains(" to ") && to.trim_start().starts_with("0x0 ") {
                return Verdict::Recovered;
            }
        }
    }
    if policy.ignore_all || APPLICATION_XIDS.contains(&x.xid) || policy.ignore.contains(&x.xid) {
        return Verdict::Ignored;
    }
    Verdict::Fatal
}

/// One GPU's health as the reports so far make it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct GpuHealth {
    /// The Xid that made it unhealthy (the first since the last recovery);
    /// `None`: healthy.
    pub fatal: Option<Xid>,
    /// Every Xid seen, counted.
    pub counts: BTreeMap<u32, u64>,
    /// The last Xid seen (DCGM's `DCGM_FI_DEV_XID_ERRORS`).
    pub last: Option<u32>,
}

impl GpuHealth {
    pub fn healthy(&self) -> bool {
        self.fatal.is_none()
    }
}

/// A change of a GPU's health.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Change {
    pub pci: PciAddr,
    /// Healthy now?
    pub healthy: bool,
    /// The report that changed it.
    pub xid: Xid,
}

impl Change {
    /// The Kubernetes event's reason.
    pub fn reason(&self) -> &'static str {
        if self.healthy {
            "GPURecovered"
        } else {
            "XidCriticalError"
        }
    }
    /// The Kubernetes event's type.
    pub fn event_type(&self) -> &'static str {
        if self.healthy {
            "Normal"
        } else {
            "Warning"
        }
    }
    /// The event's message.
    pub fn message(&self) -> String {
        if self.healthy {
            format!(
                "GPU at PCI {} recovered (Xid {}: {})",
                self.pci, self.xid.xid, self.xid.message
            )
        } else {
            format!(
                "GPU at PCI {} is unhealthy: Xid {}: {}",
                self.pci, self.xid.xid, self.xid.message
            )
        }
    }
    /// A Kubernetes-style event line, as `kubectl get events` columns:
    /// `TYPE REASON OBJECT MESSAGE`.
    pub fn event_line(&self, object: &str) -> String {
        format!(
            "event type={} reason={} object={} message={:?}",
            self.event_type(),
            self.reason(),
            object,
            self.message()
        )
    }
}

/// The health of every GPU that has reported an Xid.
#[derive(Clone, Debug, Default)]
pub struct Tracker {
    pub policy: Policy,
    pub gpus: BTreeMap<PciAddr, GpuHealth>,
}

impl Tracker {
    pub fn new(policy: Policy) -> Tracker {
        Tracker {
            policy,
            gpus: BTreeMap::new(),
        }
    }

    /// Applies one report; the change of health it makes, if any.
    pub fn apply(&mut self, x: Xid) -> Option<Change> {
        let g = self.gpus.entry(x.pci).or_default();
        *g.counts.entry(x.xid).or_default() += 1;
        g.last = Some(x.xid);
        match classify(&x, &self.policy) {
            Verdict::Fatal if g.fatal.is_none() => {
                g.fatal = Some(x.clone());
                Some(Change {
                    pci: x.pci,
                    healthy: false,
                    xid: x,
                })
            }
            Verdict::Recovered if g.fatal.is_some() => {
                g.fatal = None;
                Some(Change {
                    pci: x.pci,
                    healthy: true,
                    xid: x,
                })
            }
            _ => None,
        }
    }

    /// The GPU at `pci`'s health (healthy if it never reported).
    pub fn get(&self, pci: &PciAddr) -> GpuHealth {
        self.gpus.get(pci).cloned().unwrap_or_default()
    }

    /// The unhealthy GPUs, with the Xid that made each so.
    pub fn unhealthy(&self) -> BTreeMap<PciAddr, Xid> {
        self.gpus
            .iter()
            .filter_map(|(p, g)| g.fatal.clone().map(|x| (*p, x)))
            .collect()
    }
}

/// The message of one `/dev/kmsg` record (`PRI,SEQ,TS,FLAGS;MESSAGE`,
/// continuation lines ` KEY=VALUE` dropped).
pub fn kmsg_message(record: &str) -> &str {
    let first = record.lines().next().unwrap_or("");
    match first.split_once(';') {
        Some((head, msg)) if head.split(',').count() >= 3 => msg,
        _ => first,
    }
}

/// Reads the kernel log from its start and then as it grows, without
/// blocking: each [`KmsgWatcher::poll`] reads what is new. Works on
/// `/dev/kmsg` (one record per read) and on a plain file of lines (tests).
pub struct KmsgWatcher {
    file: File,
    partial: String,
    pub tracker: Tracker,
}

impl KmsgWatcher {
    /// Opens `path` (non-blocking) with the given policy.
    pub fn open(path: &Path, policy: Policy) -> std::io::Result<KmsgWatcher> {
        use std::os::unix::fs::OpenOptionsExt;
        let file = std::fs::OpenOptions::new()
            .read(true)
            .custom_flags(libc_o_nonblock())
            .open(path)?;
        Ok(KmsgWatcher {
            file,
            partial: String::new(),
            tracker: Tracker::new(policy),
        })
    }

    /// Reads everything new; the health changes it made, in order.
    pub fn poll(&mut self) -> Vec<Change> {
        let mut out = Vec::new();
        let mut buf = vec![0u8; 16 << 10];
        loop {
            match self.file.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => {
                    self.partial.push_str(&String::from_utf8_lossy(&buf[..n]));
                    let text = std::mem::take(&mut self.partial);
                    let (whole, rest) = match text.rfind('\n') {
                        Some(i) => (&text[..=i], &text[i + 1..]),
                        None => ("", text.as_str()),
                    };
                    let rest = rest.to_string();
                    for line in whole.lines() {
                        if line.starts_with(' ') {
                            continue; // a kmsg continuation (KEY=VALUE)
                        }
                        if let Some(x) = parse_line(kmsg_message(line)) {
                            if let Some(c) = self.tracker.apply(x) {
                                out.push(c);
                            }
                        }
                    }
                    self.partial = rest;
                }
                // Records overwritten before we read them: go on with the next.
                Err(e) if e.raw_os_error() == Some(32) => continue,
                Err(e) if e.kind() == ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == ErrorKind::Interrupted => continue,
                Err(e) => {
                    tracing::warn!("reading the kernel log: {e}");
                    break;
                }
            }
        }
        out
    }
}

/// `O_NONBLOCK` (x86_64 and aarch64 Linux).
const fn libc_o_nonblock() -> i32 {
    0o4000
}

/// The GPU index of a PCI location, from the vendor's GPU list (CARD_INFO
/// gives the bus; nvidia.ko's GPUs sit at device 0 of domain 0 in nvsim and
/// on the machines we know, so the bus decides).
pub fn gpu_index(pci: &PciAddr, gpus: &[crate::gpus::GpuInfo]) -> Option<u32> {
    gpus.iter().find(|g| g.pci_bus == pci.bus).map(|g| g.index)
}

/// A [`KmsgWatcher`] that is opened when first polled and again after it
/// could not be (the log may not be readable yet); or none at all.
pub struct Watch {
    path: Option<std::path::PathBuf>,
    policy: Policy,
    watcher: Option<KmsgWatcher>,
    warned: bool,
}

impl Watch {
    /// Watches `path` (`None`: nothing, every GPU stays healthy).
    pub fn new(path: Option<std::path::PathBuf>, policy: Policy) -> Watch {
        Watch {
            path,
            policy,
            watcher: None,
            warned: false,
        }
    }

    /// Reads what is new; the health changes.
    pub fn poll(&mut self) -> Vec<Change> {
        if self.watcher.is_none() {
            let Some(p) = &self.path else {
                return Vec::new();
            };
            match KmsgWatcher::open(p, self.policy.clone()) {
                Ok(w) => self.watcher = Some(w),
                Err(e) => {
                    if !self.warned {
                        tracing::warn!(
                            "cannot read {} for Xids: {e}; GPUs count as healthy",
                            p.display()
                        );
                        self.warned = true;
                    }
                    return Vec::new();
                }
            }
        }
        self.watcher.as_mut().map(|w| w.poll()).unwrap_or_default()
    }

    /// The unhealthy GPUs by PCI location.
    pub fn unhealthy(&self) -> BTreeMap<PciAddr, Xid> {
        self.watcher
            .as_ref()
            .map(|w| w.tracker.unhealthy())
            .unwrap_or_default()
    }

    /// The unhealthy GPUs by index (those `gpus` lists).
    pub fn unhealthy_gpus(&self, gpus: &[crate::gpus::GpuInfo]) -> BTreeMap<u32, Xid> {
        self.unhealthy()
            .into_iter()
            .filter_map(|(p, x)| gpu_index(&p, gpus).map(|i| (i, x)))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pci(bus: u8) -> PciAddr {
        PciAddr {
            domain: 0,
            bus,
            device: 0,
        }
    }

    #[test]
    fn parses_the_drivers_lines() {
        let x = parse_line("NVRM: Xid (PCI:0000:01:00): 79, pid='<unknown>', name=<unknown>, GPU has fallen off the bus.").unwrap();
        assert_eq!(x.pci, pci(1));
        assert_eq!(x.xid, 79);
        assert_eq!(
            x.message,
            "pid='<unknown>', name=<unknown>, GPU has fallen off the bus."
        );
        // No pid/name (the driver's form when it knows no process).
        let x = parse_line("NVRM: Xid (PCI:0000:cb:00): 48, An uncorrectable double bit error")
            .unwrap();
        assert_eq!((x.pci.bus, x.xid), (0xcb, 48));
        // MIG attribution.
        let x = parse_line(
            "NVRM: Xid (PCI:0008:41:00 GPU-I:02 GPU-CI:01): 43, pid=1234, name=python, Ch 00000008",
        )
        .unwrap();
        assert_eq!(
            x.pci,
            PciAddr {
                domain: 8,
                bus: 0x41,
                device: 0
            }
        );
        assert_eq!(x.xid, 43);
        // Prefixed (a syslog line) still parses.
        assert!(parse_line("kernel: [ 12.3] NVRM: Xid (PCI:0000:10:00): 13, x").is_some());
    }

    #[test]
    fn refuses_what_is_not_an_xid_line() {
        for l in [
            "NVRM: Xid : 32, pid=2280636",
            "NVRM: Xid (PCI:0000:66:00): abc, pid=1",
            "NVRM: Xid (PCI:0000:6:00): 79, x",
            "NVRM: Xid (PCI:0000:66:00): 79x, y",
            "NVRM: GPU at PCI:0000:01:00: GPU-1234",
            "nvsim: loaded",
        ] {
            assert_eq!(parse_line(l), None, "{l}");
        }
    }

    #[test]
    fn classifies_as_the_device_plugin_does() {
        let p = Policy::default();
        let x = |n: u32, m: &str| Xid {
            pci: pci(1),
            xid: n,
            message: m.into(),
        };
        for a in APPLICATION_XIDS {
            assert_eq!(classify(&x(*a, ""), &p), Verdict::Ignored, "{a}");
        }
        for f in [48, 63, 64, 74, 79, 92, 94, 95, 119, 120] {
            assert_eq!(classify(&x(f, ""), &p), Verdict::Fatal, "{f}");
        }
        assert_eq!(
            classify(
                &x(
                    154,
                    "GPU recovery action changed from 0x0 (None) to 0x1 (GPU Reset Required)"
                ),
                &p
            ),
            Verdict::Fatal
        );
        assert_eq!(
            classify(
                &x(
                    154,
                    "GPU recovery action changed from 0x1 (GPU Reset Required) to 0x0 (None)"
                ),
                &p
            ),
            Verdict::Recovered
        );
        let q = Policy::parse("79, 48").unwrap();
        assert_eq!(classify(&x(79, ""), &q), Verdict::Ignored);
        assert_eq!(classify(&x(74, ""), &q), Verdict::Fatal);
        let all = Policy::parse("all").unwrap();
        assert_eq!(classify(&x(79, ""), &all), Verdict::Ignored);
        assert!(Policy::parse("7x").is_err());
    }

    #[test]
    fn tracker_changes_once_and_recovers() {
        let mut t = Tracker::default();
        let l = |s: &str| parse_line(s).unwrap();
        assert_eq!(t.apply(l("NVRM: Xid (PCI:0000:10:00): 13, app")), None);
        let c = t
            .apply(l(
                "NVRM: Xid (PCI:0000:10:00): 79, GPU has fallen off the bus.",
            ))
            .unwrap();
        assert!(!c.healthy);
        assert_eq!(c.reason(), "XidCriticalError");
        assert!(c.event_line("node/n1").contains("type=Warning"));
        // A second fatal one changes nothing; the first stays the reason.
        assert_eq!(
            t.apply(l("NVRM: Xid (PCI:0000:10:00): 154, GPU recovery action changed from 0x0 (None) to 0x1 (GPU Reset Required)")),
            None
        );
        assert_eq!(t.get(&pci(0x10)).fatal.unwrap().xid, 79);
        assert!(t.get(&pci(0x11)).healthy());
        let c = t
            .apply(l("NVRM: Xid (PCI:0000:10:00): 154, GPU recovery action changed from 0x1 (GPU Reset Required) to 0x0 (None)"))
            .unwrap();
        assert!(c.healthy);
        let g = t.get(&pci(0x10));
        assert!(g.healthy());
        assert_eq!(g.counts[&154], 2);
        assert_eq!(g.counts[&79], 1);
        assert_eq!(g.last, Some(154));
    }

    #[test]
    fn kmsg_records_and_files() {
        assert_eq!(
            kmsg_message("3,1234,5678901,-;NVRM: Xid (PCI:0000:10:00): 79, x\n SUBSYSTEM=pci\n"),
            "NVRM: Xid (PCI:0000:10:00): 79, x"
        );
        assert_eq!(kmsg_message("plain line"), "plain line");
        let d = std::env::temp_dir().join(format!("fgkmsg-{}", std::process::id()));
        std::fs::create_dir_all(&d).unwrap();
        let f = d.join("kmsg");
        std::fs::write(&f, "6,1,1,-;nvsim: loaded\n3,2,2,-;NVRM: Xid (PCI:0000:10:00): 79, GPU has fallen off the bus.\n").unwrap();
        let mut w = KmsgWatcher::open(&f, Policy::default()).unwrap();
        let c = w.poll();
        assert_eq!(c.len(), 1);
        assert!(!c[0].healthy);
        assert!(w.poll().is_empty(), "nothing new");
        use std::io::Write;
        let mut a = std::fs::OpenOptions::new().append(true).open(&f).unwrap();
        a.write_all(b"3,3,3,-;NVRM: Xid (PCI:0000:10:00): 154, GPU recovery action changed from 0x1 (GPU Reset Required) to 0x0 (None)\n").unwrap();
        let c = w.poll();
        assert_eq!(c.len(), 1);
        assert!(c[0].healthy);
        let _ = std::fs::remove_dir_all(&d);
    }

    #[test]
    fn dcgm_bus_id() {
        assert_eq!(pci(0x10).dcgm(), "00000000:10:00.0");
        assert_eq!(pci(0x10).to_string(), "0000:10:00");
    }
}
