//! The configuration file (TOML), documented in `docs/device-plugin.md`:
//!
//! ```toml
//! resource_domain = "fakegpu.io"   # optional; resources are DOMAIN/PROFILE
//! cdi_dir = "/var/run/cdi"         # optional; where the CDI specs go
//! cdi_devices = true               # optional; answer with CDI device names
//! device_specs = true              # optional; also with device nodes (runtimes without CDI)
//!
//! [[profile]]
//! name = "vgpu-8gi"    # resource fakegpu.io/vgpu-8gi
//! gpu = 0              # host GPU index
//! mem = "8Gi"          # memory cap: 8Gi = 8G = 8*2^30 (the module's rule)
//! compute = 30         # optional: compute limit, percent of the GPU's time
//! count = 4            # how many such vGPUs (device IDs vgpu-8gi-0 .. -3)
//! ```

use std::collections::HashSet;
use std::fmt;
use std::path::Path;

use serde::Deserialize;

/// Prefix of the contexts the plugin creates: `k8s-<device ID>`.
pub const CONTEXT_PREFIX: &str = "k8s-";
/// The module's limit on context names.
const MAX_CONTEXT_NAME: usize = 32;

/// A configuration error, with the file's name when it came from one.
#[derive(Debug)]
pub struct ConfigError(pub String);

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for ConfigError {}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawConfig {
    resource_domain: Option<String>,
    cdi_dir: Option<String>,
    cdi_devices: Option<bool>,
    device_specs: Option<bool>,
    #[serde(default)]
    profile: Vec<RawProfile>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawProfile {
    name: String,
    #[serde(default)]
    gpu: u32,
    mem: String,
    compute: Option<u32>,
    count: u32,
}

/// One profile: a fixed-size vGPU offered `count` times as one resource.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Profile {
    /// The profile's name: the resource's name after the domain.
    pub name: String,
    /// The full resource name, `DOMAIN/NAME`.
    pub resource: String,
    /// The host GPU index.
    pub gpu: u32,
    /// The memory cap in bytes.
    pub mem_bytes: u64,
    /// The compute limit in percent, if any.
    pub compute_pct: Option<u32>,
    /// How many device IDs.
    pub count: u32,
}

impl Profile {
    /// The device IDs: `NAME-0` .. `NAME-(count-1)`.
    pub fn device_ids(&self) -> Vec<String> {
        (0..self.count)
            .map(|i| format!("{}-{i}", self.name))
            .collect()
    }

    /// Whether `id` is one of this profile's device IDs.
    pub fn has_device(&self, id: &str) -> bool {
        id.strip_prefix(&self.name)
            .and_then(|r| r.strip_prefix('-'))
            .and_then(|n| {
                if n.len() > 1 && n.starts_with('0') {
                    None
                } else {
                    n.parse::<u32>().ok()
                }
            })
            .is_some_and(|i| i < self.count)
    }

    /// The socket file name, relative to the kubelet's directory.
    pub fn socket_name(&self) -> String {
        format!("fakegpu-{}.sock", self.name)
    }
}

/// The context name of a device ID.
pub fn context_name(device_id: &str) -> String {
    format!("{CONTEXT_PREFIX}{device_id}")
}

/// The device ID of a context name, if the plugin made it.
pub fn device_of_context(context: &str) -> Option<&str> {
    context.strip_prefix(CONTEXT_PREFIX)
}

/// The whole configuration.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Config {
    pub resource_domain: String,
    pub cdi_dir: String,
    pub cdi_devices: bool,
    pub device_specs: bool,
    pub profiles: Vec<Profile>,
}

impl Config {
    /// Reads and checks the file at `path`.
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| ConfigError(format!("cannot read {}: {e}", path.display())))?;
        Config::parse(&text).map_err(|e| ConfigError(format!("{}: {}", path.display(), e.0)))
    }

    /// Parses and checks a configuration.
    pub fn parse(text: &str) -> Result<Config, ConfigError> {
        let raw: RawConfig =
            toml::from_str(text).map_err(|e| ConfigError(e.to_string().trim_end().to_string()))?;
        let domain = raw
            .resource_domain
            .unwrap_or_else(|| "fakegpu.io".to_string());
        if !is_dns_subdomain(&domain) {
            return Err(ConfigError(format!(
                "resource_domain '{domain}' is not a DNS subdomain"
            )));
        }
        if raw.profile.is_empty() {
            return Err(ConfigError("no [[profile]]: nothing to offer".into()));
        }
        let mut names = HashSet::new();
        let mut profiles = Vec::new();
        for p in raw.profile {
            let bad = |why: String| ConfigError(format!("profile '{}': {why}", p.name));
            if !is_dns_label(&p.name) {
                return Err(bad("the name must be a DNS label: a-z, 0-9 and '-', at most 63, starting and ending alphanumeric".into()));
            }
            if !names.insert(p.name.clone()) {
                return Err(bad("defined twice".into()));
            }
            if p.count == 0 {
                return Err(bad("count must be at least 1".into()));
            }
            let longest = context_name(&format!("{}-{}", p.name, p.count - 1));
            if longest.len() > MAX_CONTEXT_NAME {
                return Err(bad(format!(
                    "context names would be too long ('{longest}' has {} characters, the module takes {MAX_CONTEXT_NAME}): shorten the name",
                    longest.len()
                )));
            }
            let mem_bytes =
                fakegpuctl::quantity::parse_bytes(&p.mem).map_err(|e| bad(format!("mem: {e}")))?;
            if mem_bytes == 0 {
                return Err(bad("mem must be more than 0".into()));
            }
            if let Some(c) = p.compute {
                if !(1..=100).contains(&c) {
                    return Err(bad(format!("compute {c} is out of range 1..100 (percent)")));
                }
            }
            profiles.push(Profile {
                resource: format!("{domain}/{}", p.name),
                name: p.name,
                gpu: p.gpu,
                mem_bytes,
                compute_pct: p.compute,
                count: p.count,
            });
        }
        let cdi_devices = raw.cdi_devices.unwrap_or(true);
        let device_specs = raw.device_specs.unwrap_or(true);
        if !cdi_devices && !device_specs {
            return Err(ConfigError(
                "cdi_devices and device_specs are both false: the container would get no device"
                    .into(),
            ));
        }
        Ok(Config {
            resource_domain: domain,
            cdi_dir: raw.cdi_dir.unwrap_or_else(|| "/var/run/cdi".to_string()),
            cdi_devices,
            device_specs,
            profiles,
        })
    }

    /// The profile a device ID belongs to.
    pub fn profile_of_device(&self, id: &str) -> Option<&Profile> {
        self.profiles.iter().find(|p| p.has_device(id))
    }
}

fn is_dns_label(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 63
        && s.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !s.starts_with('-')
        && !s.ends_with('-')
}

fn is_dns_subdomain(s: &str) -> bool {
    s.len() <= 253 && s.split('.').all(is_dns_label)
}

#[cfg(test)]
mod tests {
    use super::*;

    const GOOD: &str = r#"
        [[profile]]
        name = "vgpu-8gi"
        gpu = 0
        mem = "8Gi"
        compute = 30
        count = 4

        [[profile]]
        name = "vgpu-1g"
        mem = "1G"
        count = 2
    "#;

    #[test]
    fn parses_profiles_with_defaults() {
        let c = Config::parse(GOOD).unwrap();
        assert_eq!(c.resource_domain, "fakegpu.io");
        assert_eq!(c.cdi_dir, "/var/run/cdi");
        assert!(c.cdi_devices && c.device_specs);
        assert_eq!(c.profiles.len(), 2);
        let p = &c.profiles[0];
        assert_eq!(p.resource, "fakegpu.io/vgpu-8gi");
        assert_eq!(p.mem_bytes, 8 << 30);
        assert_eq!(p.compute_pct, Some(30));
        assert_eq!(
            p.device_ids(),
            ["vgpu-8gi-0", "vgpu-8gi-1", "vgpu-8gi-2", "vgpu-8gi-3"]
        );
        assert_eq!(p.socket_name(), "fakegpu-vgpu-8gi.sock");
        // The module's rule: 1G = 2^30 (fakegpuctl::quantity).
        assert_eq!(c.profiles[1].mem_bytes, 1 << 30);
        assert_eq!(c.profiles[1].gpu, 0);
        assert_eq!(c.profiles[1].compute_pct, None);
    }

    #[test]
    fn context_prefix_is_the_one_the_exporter_maps() {
        assert_eq!(
            CONTEXT_PREFIX,
            fakegpuctl::podresources::DEVICE_PLUGIN_CONTEXT_PREFIX
        );
    }

    #[test]
    fn device_ids_and_context_names() {
        let c = Config::parse(GOOD).unwrap();
        assert_eq!(c.profile_of_device("vgpu-8gi-3").unwrap().name, "vgpu-8gi");
        assert!(c.profile_of_device("vgpu-8gi-4").is_none());
        assert!(c.profile_of_device("vgpu-8gi-01").is_none());
        assert!(c.profile_of_device("vgpu-8gi").is_none());
        assert!(c.profile_of_device("vgpu-8gi-x").is_none());
        assert_eq!(c.profile_of_device("vgpu-1g-1").unwrap().name, "vgpu-1g");
        assert_eq!(context_name("vgpu-8gi-3"), "k8s-vgpu-8gi-3");
        assert_eq!(device_of_context("k8s-vgpu-8gi-3"), Some("vgpu-8gi-3"));
        assert_eq!(device_of_context("mine"), None);
    }

    #[test]
    fn refuses_bad_configs() {
        let cases = [
            ("", "no [[profile]]"),
            ("[[profile]]\nname='A'\nmem='1Gi'\ncount=1", "DNS label"),
            ("[[profile]]\nname='a'\nmem='1Gi'\ncount=0", "at least 1"),
            ("[[profile]]\nname='a'\nmem='lots'\ncount=1", "mem:"),
            ("[[profile]]\nname='a'\nmem='0'\ncount=1", "more than 0"),
            ("[[profile]]\nname='a'\nmem='1Gi'\ncount=1\ncompute=101", "out of range"),
            ("[[profile]]\nname='a'\nmem='1Gi'\ncount=1\ncolor='red'", "unknown field"),
            ("[[profile]]\nname='a'\nmem='1Gi'\ncount=1\n[[profile]]\nname='a'\nmem='1Gi'\ncount=1", "defined twice"),
            ("[[profile]]\nname='a-very-long-profile-name-xyz'\nmem='1Gi'\ncount=10", "too long"),
            ("resource_domain='Bad_Domain'\n[[profile]]\nname='a'\nmem='1Gi'\ncount=1", "DNS subdomain"),
            ("cdi_devices=false\ndevice_specs=false\n[[profile]]\nname='a'\nmem='1Gi'\ncount=1", "no device"),
        ];
        for (text, want) in cases {
            let e = Config::parse(text).unwrap_err().0;
            assert!(e.contains(want), "{text:?}: want '{want}' in '{e}'");
        }
    }

    #[test]
    fn longest_allowed_names_fit_the_module() {
        // k8s- + 24 + -9 = 30 characters.
        let c = Config::parse("[[profile]]\nname='abcdefghijklmnopqrstuvwx'\nmem='1Gi'\ncount=10")
            .unwrap();
        assert!(context_name(&c.profiles[0].device_ids()[9]).len() <= 32);
    }
}
