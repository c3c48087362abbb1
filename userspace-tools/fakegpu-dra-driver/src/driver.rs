//! Prepare and Unprepare of claims, and the start-up reconciliation.
//!
//! Prepare: the claim's context exists and matches the checkpoint: answer
//! as before (the kubelet retries). Otherwise read the claim from the API
//! server, turn its allocation into a [`Plan`], checkpoint it as under way,
//! create the context (exactly the plan's GPUs, memory cap and compute
//! limit: the kernel enforces them), write its CDI spec, checkpoint it as
//! prepared, answer its CDI id for each device. A failure undoes what was
//! done and is the claim's error (the kernel's refusal, as fakegpuctl words
//! it).
//!
//! Unprepare: destroy the context (refused while files are open on it, so
//! the kubelet retries), remove its CDI spec, forget the claim.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;

use fakegpuctl::health::{Change, Policy, Watch, Xid};

use fakegpuctl::sysfs::{ContextInfo, CreateSpec};
use tokio::sync::Mutex;

use crate::api::dra;
use crate::backend::Backend;
use crate::claim::{self, Plan};
use crate::kubeapi::Kube;
use crate::state::{Checkpoint, Entry};

/// The driver's state.
pub struct Driver {
    pub backend: Arc<dyn Backend>,
    pub kube: Kube,
    /// The driver's name (the results it owns name it).
    pub driver_name: String,
    /// The node's pool (the node's name).
    pub pool: String,
    state: Mutex<Checkpoint>,
    /// The GPUs' health from the driver's Xid reports (docs/health.md).
    health: std::sync::Mutex<Watch>,
}

/// What [`Driver::reconcile`] did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Reconciled {
    /// Contexts of ours no claim names, destroyed.
    pub destroyed: Vec<String>,
    /// Contexts of ours no claim names, kept because files are open on them.
    pub kept_busy: Vec<String>,
    /// Prepared claims whose context was gone, created again.
    pub recreated: Vec<String>,
    /// Claims checkpointed, left as they are.
    pub kept: Vec<String>,
}

/// Whether context `c` is what `plan` asks for.
pub fn matches(c: &ContextInfo, plan: &Plan) -> bool {
    c.gpus == plan.gpus
        && c.mem_limit_bytes == Some(plan.mem_bytes)
        && match plan.compute_pct {
            Some(p) => c.compute_limit_pct == Some(p),
            None => c.compute_limit_pct.is_none_or(|p| p == 100),
        }
}

/// The create spec of a plan.
pub fn create_spec(plan: &Plan) -> CreateSpec {
    CreateSpec {
        gpus: plan.gpus.clone(),
        mem_bytes: plan.mem_bytes,
        compute_pct: plan.compute_pct,
        weight: None,
        priority: None,
    }
}

fn response_devices(e: &Entry) -> Vec<dra::Device> {
    e.plan
        .devices
        .iter()
        .map(|d| dra::Device {
            request_names: vec![d.request.clone()],
            pool_name: d.pool.clone(),
            device_name: d.device.clone(),
            cdi_device_ids: e.cdi_ids.clone(),
        })
        .collect()
}

impl Driver {
    /// A driver with the checkpoint `state` (loaded).
    pub fn new(
        backend: Arc<dyn Backend>,
        kube: Kube,
        driver_name: &str,
        pool: &str,
        state: Checkpoint,
    ) -> Driver {
        Driver {
            backend,
            kube,
            driver_name: driver_name.to_string(),
            pool: pool.to_string(),
            state: Mutex::new(state),
            health: std::sync::Mutex::new(Watch::new(None, Policy::default())),
        }
    }

    /// Watches the kernel log at `kmsg` (`/dev/kmsg`) for Xids.
    pub fn with_kmsg(self, kmsg: Option<PathBuf>) -> Driver {
        *self.health.lock().unwrap() = Watch::new(kmsg, Policy::from_env());
        self
    }

    /// Reads the new Xid reports; logs each change of health as an event
    /// line about the node's ResourceSlice; the changes.
    pub fn poll_health(&self) -> Vec<Change> {
        let changes = self.health.lock().unwrap().poll();
        let object = format!(
            "resourceslice/{}",
            crate::slice::slice_name(&self.pool, &self.driver_name)
        );
        for c in &changes {
            let line = c.event_line(&object);
            if c.healthy {
                tracing::info!(pci = %c.pci, xid = c.xid.xid, "{line}");
            } else {
                tracing::warn!(pci = %c.pci, xid = c.xid.xid, "{line}");
            }
        }
        changes
    }

    /// The unhealthy GPUs among `gpus`, by index, with their Xid.
    pub fn unhealthy_gpus(&self, gpus: &[fakegpuctl::gpus::GpuInfo]) -> BTreeMap<u32, Xid> {
        self.health.lock().unwrap().unhealthy_gpus(gpus)
    }

    /// The checkpointed claims (for tests and logs).
    pub async fn claims(&self) -> Vec<Entry> {
        self.state.lock().await.claims.values().cloned().collect()
    }

    /// Creates the context and its CDI spec; on failure nothing is left.
    fn make_context(&self, name: &str, plan: &Plan) -> Result<(), String> {
        self.backend
            .create(name, &create_spec(plan))
            .map_err(|e| format!("the kernel refused context {name}: {e}"))?;
        if let Err(e) = self.backend.write_cdi(name) {
            let _ = self.backend.destroy(name);
            return Err(format!("writing the CDI spec of {name}: {e}"));
        }
        Ok(())
    }

    /// Prepares one claim; the devices to answer, or the claim's error.
    pub async fn prepare(&self, c: &dra::Claim) -> Result<Vec<dra::Device>, String> {
        let mut st = self.state.lock().await;
        let name = claim::context_name(&c.uid)?;
        if let Some(e) = st.claims.get(&c.uid).filter(|e| e.prepared) {
            match self.backend.context(&e.context)? {
                Some(ctx) if matches(&ctx, &e.plan) => {
                    tracing::info!(claim = %format!("{}/{}", c.namespace, c.name), context = %e.context, "already prepared");
                    return Ok(response_devices(e));
                }
                Some(_) => {
                    return Err(format!(
                        "context {} exists with other settings than the claim's (changed by hand?)",
                        e.context
                    ))
                }
                None => {
                    tracing::warn!(context = %e.context, "prepared claim without its context: creating it again");
                    self.make_context(&e.context, &e.plan)?;
                    return Ok(response_devices(e));
                }
            }
        }
        if let Some(other) = st
            .claims
            .values()
            .find(|e| e.context == name && e.uid != c.uid)
        {
            return Err(format!(
                "context name {name} is taken by claim {}/{} (UID {})",
                other.namespace, other.name, other.uid
            ));
        }
        let rc = self.kube.claim(&c.namespace, &c.name).await?;
        let uid = rc.metadata.uid.clone().unwrap_or_default();
        if uid != c.uid {
            return Err(format!(
                "claim {}/{} has UID {uid}, the kubelet asked for {}",
                c.namespace, c.name, c.uid
            ));
        }
        let plan = claim::plan(&rc, &self.driver_name, &self.pool)?;
        let mut entry = Entry {
            namespace: c.namespace.clone(),
            name: c.name.clone(),
            uid: c.uid.clone(),
            context: name.clone(),
            plan: plan.clone(),
            cdi_ids: vec![self.backend.cdi_device_name(&name)],
            prepared: false,
        };
        st.claims.insert(c.uid.clone(), entry.clone());
        st.save()?;
        let done = match self.backend.context(&name)? {
            // Left by an attempt that did not finish (the driver stopped).
            Some(ctx) if matches(&ctx, &plan) => self.backend.write_cdi(&name),
            Some(ctx) if ctx.open_files == 0 => self
                .backend
                .destroy(&name)
                .and_then(|_| self.make_context(&name, &plan)),
            Some(_) => Err(format!(
                "context {name} exists with other settings and is in use"
            )),
            None => self.make_context(&name, &plan),
        };
        if let Err(e) = done {
            st.claims.remove(&c.uid);
            st.save()?;
            return Err(e);
        }
        entry.prepared = true;
        st.claims.insert(c.uid.clone(), entry.clone());
        st.save()?;
        tracing::info!(
            claim = %format!("{}/{}", c.namespace, c.name),
            context = %name,
            gpus = ?plan.gpus,
            mem_bytes = plan.mem_bytes,
            compute_pct = ?plan.compute_pct,
            "prepared"
        );
        Ok(response_devices(&entry))
    }

    /// Unprepares one claim (fine if unknown).
    pub async fn unprepare(&self, c: &dra::Claim) -> Result<(), String> {
        let mut st = self.state.lock().await;
        let name = match st.claims.get(&c.uid) {
            Some(e) => e.context.clone(),
            None => claim::context_name(&c.uid)?,
        };
        if let Some(ctx) = self.backend.context(&name)? {
            if ctx.open_files > 0 {
                return Err(format!(
                    "context {name} still has {} open files (processes {:?}); not destroyed yet",
                    ctx.open_files, ctx.pids
                ));
            }
            self.backend.destroy(&name)?;
        }
        self.backend.remove_cdi(&name)?;
        if st.claims.remove(&c.uid).is_some() {
            st.save()?;
        }
        tracing::info!(claim = %format!("{}/{}", c.namespace, c.name), context = %name, "unprepared");
        Ok(())
    }

    /// At start: checkpoint against sysfs. A context of ours no claim
    /// names is destroyed (unless files are open on it); a prepared
    /// claim's missing context is created again; nothing else changes.
    pub async fn reconcile(&self) -> Result<Reconciled, String> {
        let st = self.state.lock().await;
        let mut r = Reconciled::default();
        let ours: Vec<String> = self
            .backend
            .list()?
            .into_iter()
            .filter(|n| n.starts_with(crate::CONTEXT_PREFIX))
            .collect();
        for n in &ours {
            if st.claims.values().any(|e| &e.context == n) {
                continue;
            }
            match self.backend.context(n)? {
                Some(c) if c.open_files > 0 => {
                    tracing::warn!(context = %n, open_files = c.open_files, "no claim names this context, but it is in use: kept");
                    r.kept_busy.push(n.clone());
                }
                Some(_) => {
                    tracing::warn!(context = %n, "no claim names this context: destroyed");
                    self.backend.destroy(n)?;
                    self.backend.remove_cdi(n)?;
                    r.destroyed.push(n.clone());
                }
                None => {}
            }
        }
        for e in st.claims.values() {
            if e.prepared && self.backend.context(&e.context)?.is_none() {
                match self.make_context(&e.context, &e.plan) {
                    Ok(()) => r.recreated.push(e.context.clone()),
                    Err(err) => {
                        tracing::warn!(context = %e.context, error = %err, "cannot create a prepared claim's context again")
                    }
                }
            } else {
                r.kept.push(e.context.clone());
            }
        }
        Ok(r)
    }
}
