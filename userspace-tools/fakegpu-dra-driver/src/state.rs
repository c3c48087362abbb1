//! The checkpoint: every claim the driver has prepared (or started to), in
//! one JSON file written atomically after each change, so a restarted
//! driver knows which contexts are its claims' ([`crate::server`]
//! reconciles it against sysfs at start).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::claim::Plan;

/// The checkpoint's format version.
pub const VERSION: u32 = 1;

/// One claim.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Entry {
    pub namespace: String,
    pub name: String,
    pub uid: String,
    /// Its context.
    pub context: String,
    /// What the context was created with.
    pub plan: Plan,
    /// The CDI device ids returned to the kubelet.
    pub cdi_ids: Vec<String>,
    /// false while Prepare is under way (the entry is written before the
    /// context is created, so a crash in between leaves no unknown context).
    pub prepared: bool,
}

#[derive(Debug, Default, Serialize, Deserialize)]
struct File {
    version: u32,
    claims: BTreeMap<String, Entry>,
}

/// The checkpoint in memory and its file.
#[derive(Debug)]
pub struct Checkpoint {
    path: PathBuf,
    /// By claim UID.
    pub claims: BTreeMap<String, Entry>,
}

impl Checkpoint {
    /// Loads `path` (none yet: empty).
    pub fn load(path: &Path) -> Result<Checkpoint, String> {
        let claims = match std::fs::read(path) {
            Ok(b) => {
                let f: File = serde_json::from_slice(&b)
                    .map_err(|e| format!("bad checkpoint {}: {e}", path.display()))?;
                if f.version != VERSION {
                    return Err(format!(
                        "checkpoint {} has version {}, this driver writes {VERSION}",
                        path.display(),
                        f.version
                    ));
                }
                f.claims
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => BTreeMap::new(),
            Err(e) => {
                return Err(format!(
                    "cannot read the checkpoint {}: {e}",
                    path.display()
                ))
            }
        };
        Ok(Checkpoint {
            path: path.to_path_buf(),
            claims,
        })
    }

    /// Writes the file (atomically: a crash leaves the old or the new one).
    pub fn save(&self) -> Result<(), String> {
        if let Some(d) = self.path.parent() {
            std::fs::create_dir_all(d)
                .map_err(|e| format!("cannot create {}: {e}", d.display()))?;
        }
        let f = File {
            version: VERSION,
            claims: self.claims.clone(),
        };
        let text = serde_json::to_vec_pretty(&f).map_err(|e| e.to_string())?;
        fakegpuctl::cdi::write_atomic(&self.path, &text).map_err(crate::backend::text)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip() {
        let dir = std::env::temp_dir().join(format!("fgdra-state-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let p = dir.join("checkpoint.json");
        let mut c = Checkpoint::load(&p).unwrap();
        assert!(c.claims.is_empty());
        c.claims.insert(
            "u".into(),
            Entry {
                namespace: "n".into(),
                name: "c".into(),
                uid: "u".into(),
                context: "dra-x".into(),
                plan: Plan {
                    gpus: vec![0],
                    mem_bytes: 1 << 30,
                    compute_pct: Some(25),
                    devices: vec![],
                },
                cdi_ids: vec!["fakegpu.io/vgpu=dra-x".into()],
                prepared: true,
            },
        );
        c.save().unwrap();
        let d = Checkpoint::load(&p).unwrap();
        assert_eq!(d.claims, c.claims);
        std::fs::write(&p, r#"{"version": 9, "claims": {}}"#).unwrap();
        assert!(Checkpoint::load(&p).unwrap_err().contains("version 9"));
        let _ = std::fs::remove_dir_all(&dir);
    }
}
