//! The API server, through kube's client: the claim a Prepare names, the
//! node (for the slice's owner reference), and the node's ResourceSlice
//! (created, replaced with the current resourceVersion on change, retried on
//! a 409 conflict; deleted on request).

use k8s_openapi::api::core::v1::Node;
use k8s_openapi::api::resource::v1::{ResourceClaim, ResourceSlice};
use kube::api::{Api, DeleteParams, PostParams};

/// A connection to the API server.
#[derive(Clone)]
pub struct Kube {
    client: kube::Client,
}

/// What [`Kube::publish`] did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Published {
    Created,
    /// Replaced, with the new pool generation.
    Updated(i64),
    Unchanged,
}

/// kube's error as one line (the API server's status code and reason).
pub fn text(e: kube::Error) -> String {
    match e {
        kube::Error::Api(s) => format!("API server: {} {}: {}", s.code, s.reason, s.message),
        e => format!("API server: {e}"),
    }
}

fn is_status(e: &kube::Error, code: u16) -> bool {
    matches!(e, kube::Error::Api(s) if s.code == code)
}

impl Kube {
    /// Connects to `url` (plain HTTP or HTTPS, no credentials: the tests'
    /// fake API server) or, without one, as kube infers it (in-cluster
    /// service account, or the kubeconfig).
    pub async fn connect(url: Option<&str>) -> Result<Kube, String> {
        let config = match url {
            Some(u) => {
                let mut c = kube::Config::new(
                    u.parse()
                        .map_err(|e| format!("bad API server URL '{u}': {e}"))?,
                );
                if u.starts_with("http://") {
                    // Plain HTTP: no TLS, so no trust store either (kube
                    // would otherwise ask the system's, which a minimal
                    // image lacks, and fail).
                    c.root_cert = Some(Vec::new());
                }
                c
            }
            None => kube::Config::infer()
                .await
                .map_err(|e| format!("no API server configuration: {e}"))?,
        };
        let client = kube::Client::try_from(config).map_err(text)?;
        Ok(Kube { client })
    }

    /// The claim `namespace/name`.
    pub async fn claim(&self, namespace: &str, name: &str) -> Result<ResourceClaim, String> {
        Api::<ResourceClaim>::namespaced(self.client.clone(), namespace)
            .get(name)
            .await
            .map_err(text)
    }

    /// The UID of node `name`.
    pub async fn node_uid(&self, name: &str) -> Result<String, String> {
        let n = Api::<Node>::all(self.client.clone())
            .get(name)
            .await
            .map_err(text)?;
        Ok(n.metadata.uid.unwrap_or_default())
    }

    /// Makes the slice named `desired`'s name look like `desired`: creates
    /// it, or replaces it (pool generation one more than the stored one)
    /// when its spec or owner differ. Retries a conflict a few times.
    pub async fn publish(&self, desired: &ResourceSlice) -> Result<Published, String> {
        let api = Api::<ResourceSlice>::all(self.client.clone());
        let name = desired.metadata.name.clone().unwrap_or_default();
        let mut last = String::new();
        for _ in 0..5 {
            match api.get_opt(&name).await.map_err(text)? {
                None => match api.create(&PostParams::default(), desired).await {
                    Ok(_) => return Ok(Published::Created),
                    Err(e) if is_status(&e, 409) => last = text(e),
                    Err(e) => return Err(text(e)),
                },
                Some(cur) => {
                    let mut want = desired.clone();
                    want.spec.pool.generation = cur.spec.pool.generation;
                    if cur.spec == want.spec
                        && cur.metadata.owner_references == want.metadata.owner_references
                    {
                        return Ok(Published::Unchanged);
                    }
                    want.spec.pool.generation = cur.spec.pool.generation + 1;
                    want.metadata.resource_version = cur.metadata.resource_version.clone();
                    match api.replace(&name, &PostParams::default(), &want).await {
                        Ok(_) => return Ok(Published::Updated(want.spec.pool.generation)),
                        Err(e) if is_status(&e, 409) => last = text(e),
                        Err(e) => return Err(text(e)),
                    }
                }
            }
        }
        Err(format!(
            "publishing slice {name}: conflicts each time ({last})"
        ))
    }

    /// Deletes slice `name` (fine if absent).
    pub async fn delete_slice(&self, name: &str) -> Result<(), String> {
        match Api::<ResourceSlice>::all(self.client.clone())
            .delete(name, &DeleteParams::default())
            .await
        {
            Ok(_) => Ok(()),
            Err(e) if is_status(&e, 404) => Ok(()),
            Err(e) => Err(text(e)),
        }
    }
}

impl Kube {
    /// kube's client (for the test stand-ins' own calls).
    pub fn client(&self) -> kube::Client {
        self.client.clone()
    }
}
