//! Freeing contexts whose device is no longer allocated.
//!
//! The device plugin API has no "deallocate": the kubelet never says when a
//! pod's devices are free again. The plugin asks the kubelet's pod-resources
//! API instead: every `interval` it calls `List` on the pod-resources socket
//! and collects the device IDs of our resources that active pods hold. A
//! context of ours (`k8s-<device ID>`, for a device ID of a configured
//! profile) whose device ID no pod holds is destroyed, and its CDI spec
//! removed, when
//! - its device ID was not allocated within the last `grace` (the kubelet
//!   records an allocation in pod-resources only after Allocate returns), and
//! - it has no open files (a process still holding it is left alone and
//!   tried again next round).
//!
//! If the pod-resources socket cannot be reached nothing is freed (only a
//! new Allocate of the same device ID replaces its context).

use std::collections::HashSet;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::api::podresources::pod_resources_lister_client::PodResourcesListerClient;
use crate::api::podresources::ListPodResourcesRequest;
use crate::config::{device_of_context, Config};
use crate::plugin::Shared;
use crate::shutdown::{stopped, Shutdown};

/// Where and how often.
#[derive(Clone, Debug)]
pub struct Options {
    /// The kubelet's pod-resources socket.
    pub pod_resources_socket: PathBuf,
    /// How often to reconcile.
    pub interval: Duration,
    /// How long after its Allocate a context is never freed.
    pub grace: Duration,
}

/// The (resource, device ID) pairs the kubelet's active pods hold.
pub async fn in_use(socket: &std::path::Path) -> Result<HashSet<(String, String)>, String> {
    let ch = crate::uds::connect(socket)
        .await
        .map_err(|e| format!("cannot connect to {}: {e}", socket.display()))?;
    let mut c = PodResourcesListerClient::new(ch);
    let r = tokio::time::timeout(Duration::from_secs(10), c.list(ListPodResourcesRequest {}))
        .await
        .map_err(|_| "pod-resources List timed out".to_string())?
        .map_err(|s| format!("pod-resources List failed: {}", s.message()))?
        .into_inner();
    let mut set = HashSet::new();
    for pod in r.pod_resources {
        for c in pod.containers {
            for d in c.devices {
                for id in d.device_ids {
                    set.insert((d.resource_name.clone(), id));
                }
            }
        }
    }
    Ok(set)
}

/// The contexts to free, given what is in use. Pure decision, for tests.
pub fn to_free(
    config: &Config,
    contexts: &[String],
    in_use: &HashSet<(String, String)>,
    recently_allocated: &dyn Fn(&str) -> bool,
    open_files: &dyn Fn(&str) -> u64,
) -> Vec<String> {
    let mut v = Vec::new();
    for ctx in contexts {
        let Some(id) = device_of_context(ctx) else {
            continue;
        };
        let Some(p) = config.profile_of_device(id) else {
            continue;
        };
        if in_use.contains(&(p.resource.clone(), id.to_string())) || recently_allocated(id) {
            continue;
        }
        let open = open_files(ctx);
        if open > 0 {
            tracing::info!("{ctx}: no pod holds {id}, but {open} files are open: kept for now");
            continue;
        }
        v.push(ctx.clone());
    }
    v
}

/// One round: returns the contexts it destroyed.
pub async fn reconcile_once(shared: &Arc<Shared>, opts: &Options) -> Result<Vec<String>, String> {
    let used = in_use(&opts.pod_resources_socket).await?;
    let shared = shared.clone();
    let grace = opts.grace;
    tokio::task::spawn_blocking(move || {
        let b = &shared.backend;
        let _g = shared.ops.lock().unwrap();
        let contexts = b.list()?;
        let now = Instant::now();
        let recent = |id: &str| {
            let at = shared
                .allocated_at
                .lock()
                .unwrap()
                .get(id)
                .copied()
                .unwrap_or(shared.started);
            now.duration_since(at) < grace
        };
        let open = |ctx: &str| b.open_files(ctx).unwrap_or(0);
        let mut freed = Vec::new();
        for ctx in to_free(&shared.config, &contexts, &used, &recent, &open) {
            // The spec first: no spec is left naming a destroyed context.
            if let Err(e) = b.remove_cdi(&ctx) {
                tracing::warn!("{ctx}: {e}");
            }
            match b.destroy(&ctx) {
                Ok(()) => {
                    tracing::info!("freed context {ctx}: no pod holds its device");
                    if let Some(id) = device_of_context(&ctx) {
                        shared.allocated_at.lock().unwrap().remove(id);
                    }
                    freed.push(ctx);
                }
                Err(e) => tracing::warn!("cannot free context {ctx}: {e}"),
            }
        }
        Ok(freed)
    })
    .await
    .map_err(|e| format!("reconcile task: {e}"))?
}

/// Reconciles every `interval` until shutdown.
pub async fn run(shared: Arc<Shared>, opts: Options, shutdown: Shutdown) {
    let mut last_err = None;
    loop {
        if *shutdown.borrow() {
            return;
        }
        match reconcile_once(&shared, &opts).await {
            Ok(_) => last_err = None,
            Err(e) => {
                // Say it once, not every round.
                if last_err.as_ref() != Some(&e) {
                    tracing::warn!("reconcile: {e}; nothing freed");
                }
                last_err = Some(e);
            }
        }
        tokio::select! {
            _ = tokio::time::sleep(opts.interval) => {}
            _ = stopped(shutdown.clone()) => return,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frees_only_unheld_idle_old_contexts_of_our_profiles() {
        let c = Config::parse(
            "[[profile]]\nname='a'\nmem='1Gi'\ncount=4\n[[profile]]\nname='b'\nmem='2Gi'\ncount=1",
        )
        .unwrap();
        let contexts: Vec<String> = [
            "k8s-a-0", "k8s-a-1", "k8s-a-2", "k8s-a-3", "k8s-b-0", "k8s-z-0", "mine", "k8s-a-9",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        let used: HashSet<(String, String)> = [("fakegpu.io/a".to_string(), "a-0".to_string())]
            .into_iter()
            .collect();
        let recent = |id: &str| id == "a-1";
        let open = |ctx: &str| if ctx == "k8s-a-2" { 3 } else { 0 };
        // a-0 held, a-1 just allocated, a-2 has files open; z and a-9 are
        // not our device IDs, "mine" not our context.
        assert_eq!(
            to_free(&c, &contexts, &used, &recent, &open),
            ["k8s-a-3", "k8s-b-0"]
        );
        // A device ID held under another resource name does not count.
        let used: HashSet<(String, String)> = [("fakegpu.io/b".to_string(), "a-3".to_string())]
            .into_iter()
            .collect();
        assert!(to_free(&c, &contexts, &used, &recent, &open).contains(&"k8s-a-3".to_string()));
    }
}
