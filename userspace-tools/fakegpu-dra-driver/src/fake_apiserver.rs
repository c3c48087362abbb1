//! A stand-in for the Kubernetes API server, for tests: plain HTTP/1.1 on
//! a TCP port, answering the verbs the driver and the fake kubelet use, as
//! the API server does:
//!
//! - ResourceSlices (`/apis/resource.k8s.io/v1/resourceslices[/NAME]`):
//!   GET (one or the list), POST, PUT, DELETE;
//! - ResourceClaims (`/apis/resource.k8s.io/v1/namespaces/NS/resourceclaims[/NAME[/status]]`):
//!   GET, POST (status dropped, as on create), PUT (spec; `/status`: status only), DELETE;
//! - Nodes (`/api/v1/nodes[/NAME]`): GET, POST.
//!
//! Every stored object gets a `resourceVersion` (one counter for all), a
//! `uid` and a `creationTimestamp`; a missing object is a 404 `NotFound`
//! Status, a POST of an existing name a 409 `AlreadyExists`, a PUT with a
//! stale `resourceVersion` a 409 `Conflict`. Every object received is
//! checked (JSON, apiVersion and kind of the path, the name, and that it
//! reads as the k8s-openapi 1.37 type) and recorded, in order, in memory and
//! as `NNNN-VERB-KIND-NAME.json` in the record directory, where the tests
//! validate each against the 1.37 schema with `kubernetes-validate
//! --strict`. No watch, no field selectors, no authentication.

use std::collections::BTreeMap;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use http_body_util::{BodyExt, Full};
use hyper::body::{Bytes, Incoming};
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use serde_json::{json, Value};
use tokio::net::TcpListener;

/// One request as the server saw it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Logged {
    pub method: String,
    pub path: String,
    pub status: u16,
}

#[derive(Default)]
struct Store {
    rv: u64,
    /// By (collection path, name).
    objects: BTreeMap<(String, String), Value>,
    log: Vec<Logged>,
    /// Objects received (POST and PUT bodies), in order.
    received: Vec<Value>,
    record_dir: Option<PathBuf>,
    /// PUTs still to answer with a 409 Conflict (a concurrent writer).
    conflicts: u32,
}

/// A running fake API server.
#[derive(Clone)]
pub struct FakeApiServer {
    pub addr: SocketAddr,
    store: Arc<Mutex<Store>>,
}

fn status(code: StatusCode, reason: &str, message: String) -> (StatusCode, Value) {
    (
        code,
        json!({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
               "message": message, "reason": reason, "code": code.as_u16()}),
    )
}

/// Which kind a collection path holds: (apiVersion, kind, type check).
fn kind_of(collection: &str) -> Option<(&'static str, &'static str)> {
    if collection == "/apis/resource.k8s.io/v1/resourceslices" {
        Some(("resource.k8s.io/v1", "ResourceSlice"))
    } else if collection.starts_with("/apis/resource.k8s.io/v1/namespaces/")
        && collection.ends_with("/resourceclaims")
    {
        Some(("resource.k8s.io/v1", "ResourceClaim"))
    } else if collection == "/api/v1/nodes" {
        Some(("v1", "Node"))
    } else {
        None
    }
}

/// The API server's rules for a device's capacities that the schema does
/// not express (resource.k8s.io/v1 CapacityRequestPolicy and its range):
/// a request policy only on a device with allowMultipleAllocations; with a
/// validRange, a default in it; min <= value; min + step <= value; the
/// default a multiple of the step; max <= value and a multiple of the step.
pub fn check_slice_rules(s: &k8s_openapi::api::resource::v1::ResourceSlice) -> Result<(), String> {
    let q = |x: &k8s_openapi::apimachinery::pkg::api::resource::Quantity, what: &str| {
        crate::quantity::parse(&x.0).map_err(|e| format!("{what}: {e}"))
    };
    for d in s.spec.devices.iter().flatten() {
        for (name, c) in d.capacity.iter().flatten() {
            let at = format!("spec.devices[{}].capacity[{name}]", d.name);
            let Some(p) = &c.request_policy else { continue };
            if d.allow_multiple_allocations != Some(true) {
                return Err(format!(
                    "{at}.requestPolicy: Forbidden: allowMultipleAllocations is not true"
                ));
            }
            let value = q(&c.value, &format!("{at}.value"))?;
            let Some(r) = &p.valid_range else { continue };
            let default = q(
                p.default
                    .as_ref()
                    .ok_or(format!("{at}.requestPolicy.default: Required value"))?,
                &format!("{at}.requestPolicy.default"),
            )?;
            let min = q(&r.min, &format!("{at}.validRange.min"))?;
            let step = r
                .step
                .as_ref()
                .map(|x| q(x, &format!("{at}.validRange.step")))
                .transpose()?;
            let max = r
                .max
                .as_ref()
                .map(|x| q(x, &format!("{at}.validRange.max")))
                .transpose()?;
            if min > value {
                return Err(format!(
                    "{at}.validRange.min: Invalid value: more than the capacity {value}"
                ));
            }
            if default < min || max.is_some_and(|m| default > m) {
                return Err(format!("{at}.requestPolicy.default: Invalid value: {default} is outside the valid range"));
            }
            if let Some(st) = step {
                if st == 0 || min + st > value {
                    return Err(format!("{at}.validRange.step: Invalid value: min + step must not exceed the capacity"));
                }
                if default % st != 0 {
                    return Err(format!("{at}.requestPolicy.default: Invalid value: {default} is not a multiple of the step {st}"));
                }
                if max.is_some_and(|m| m % st != 0) {
                    return Err(format!(
                        "{at}.validRange.max: Invalid value: not a multiple of the step {st}"
                    ));
                }
            }
            if max.is_some_and(|m| m > value) {
                return Err(format!(
                    "{at}.validRange.max: Invalid value: more than the capacity {value}"
                ));
            }
        }
    }
    Ok(())
}

/// Reads `v` as the k8s-openapi type of its kind, and checks the rules the
/// API server adds to the schema where this server knows them.
fn typed_check(kind: &str, v: &Value) -> Result<(), String> {
    use k8s_openapi::api::core::v1::Node;
    use k8s_openapi::api::resource::v1::{ResourceClaim, ResourceSlice};
    let r = match kind {
        "ResourceSlice" => serde_json::from_value::<ResourceSlice>(v.clone())
            .map_err(|e| e.to_string())
            .and_then(|s| check_slice_rules(&s))
            .map_err(serde::de::Error::custom),
        "ResourceClaim" => serde_json::from_value::<ResourceClaim>(v.clone()).map(|_| ()),
        "Node" => serde_json::from_value::<Node>(v.clone()).map(|_| ()),
        _ => Ok(()),
    };
    r.map_err(|e| format!("not a valid {kind}: {e}"))
}

/// Splits a path into (collection, name, subresource).
fn split(path: &str) -> Option<(String, Option<String>, Option<String>)> {
    let p = path.trim_end_matches('/');
    for coll in ["/apis/resource.k8s.io/v1/resourceslices", "/api/v1/nodes"] {
        if p == coll {
            return Some((coll.to_string(), None, None));
        }
        if let Some(rest) = p.strip_prefix(&format!("{coll}/")) {
            return Some((coll.to_string(), Some(rest.to_string()), None));
        }
    }
    let rest = p.strip_prefix("/apis/resource.k8s.io/v1/namespaces/")?;
    let parts: Vec<&str> = rest.split('/').collect();
    if parts.len() < 2 || parts[1] != "resourceclaims" {
        return None;
    }
    let coll = format!(
        "/apis/resource.k8s.io/v1/namespaces/{}/resourceclaims",
        parts[0]
    );
    match parts.len() {
        2 => Some((coll, None, None)),
        3 => Some((coll, Some(parts[2].to_string()), None)),
        4 => Some((coll, Some(parts[2].to_string()), Some(parts[3].to_string()))),
        _ => None,
    }
}

fn namespace_of(collection: &str) -> Option<String> {
    collection
        .strip_prefix("/apis/resource.k8s.io/v1/namespaces/")
        .and_then(|r| r.split('/').next())
        .map(str::to_string)
}

impl Store {
    fn next_rv(&mut self) -> String {
        self.rv += 1;
        self.rv.to_string()
    }

    fn record(&mut self, verb: &str, kind: &str, name: &str, body: &Value) {
        self.received.push(body.clone());
        if let Some(d) = &self.record_dir {
            let f = d.join(format!(
                "{:04}-{verb}-{kind}-{name}.json",
                self.received.len()
            ));
            let _ = std::fs::write(f, serde_json::to_vec_pretty(body).unwrap_or_default());
        }
    }

    fn handle(&mut self, method: &Method, path: &str, body: &[u8]) -> (StatusCode, Value) {
        let Some((coll, name, sub)) = split(path) else {
            return status(
                StatusCode::NOT_FOUND,
                "NotFound",
                format!("the server could not find the requested resource ({path})"),
            );
        };
        let (api_version, kind) = kind_of(&coll).expect("split only gives known collections");
        let key = |n: &str| (coll.clone(), n.to_string());
        let parse = |body: &[u8]| -> Result<Value, (StatusCode, Value)> {
            let v: Value = serde_json::from_slice(body).map_err(|e| {
                status(
                    StatusCode::BAD_REQUEST,
                    "BadRequest",
                    format!("bad JSON: {e}"),
                )
            })?;
            if v["apiVersion"] != api_version || v["kind"] != kind {
                return Err(status(
                    StatusCode::BAD_REQUEST,
                    "BadRequest",
                    format!(
                        "expected {api_version} {kind}, got {} {}",
                        v["apiVersion"], v["kind"]
                    ),
                ));
            }
            typed_check(kind, &v)
                .map_err(|e| status(StatusCode::UNPROCESSABLE_ENTITY, "Invalid", e))?;
            Ok(v)
        };
        match (method, name) {
            (&Method::GET, None) => {
                let items: Vec<Value> = self
                    .objects
                    .iter()
                    .filter(|((c, _), _)| *c == coll)
                    .map(|(_, v)| v.clone())
                    .collect();
                (
                    StatusCode::OK,
                    json!({"apiVersion": api_version, "kind": format!("{kind}List"),
                           "metadata": {"resourceVersion": self.rv.to_string()}, "items": items}),
                )
            }
            (&Method::GET, Some(n)) => match self.objects.get(&key(&n)) {
                Some(v) => (StatusCode::OK, v.clone()),
                None => status(
                    StatusCode::NOT_FOUND,
                    "NotFound",
                    format!("{kind} \"{n}\" not found"),
                ),
            },
            (&Method::POST, None) => {
                let mut v = match parse(body) {
                    Ok(v) => v,
                    Err(e) => return e,
                };
                let Some(n) = v["metadata"]["name"].as_str().map(str::to_string) else {
                    return status(
                        StatusCode::UNPROCESSABLE_ENTITY,
                        "Invalid",
                        "metadata.name: Required value".into(),
                    );
                };
                self.record("POST", kind, &n, &v);
                if self.objects.contains_key(&key(&n)) {
                    return status(
                        StatusCode::CONFLICT,
                        "AlreadyExists",
                        format!("{kind} \"{n}\" already exists"),
                    );
                }
                if kind == "ResourceClaim" {
                    if let Some(o) = v.as_object_mut() {
                        o.remove("status");
                    }
                }
                let rv = self.next_rv();
                let m = &mut v["metadata"];
                m["resourceVersion"] = rv.clone().into();
                m["uid"] = format!("0b5e8d6c-0000-4000-8000-{:012x}", self.rv).into();
                m["creationTimestamp"] = "2026-12-07T00:00:00Z".into();
                if let Some(ns) = namespace_of(&coll) {
                    m["namespace"] = ns.into();
                }
                self.objects.insert(key(&n), v.clone());
                (StatusCode::CREATED, v)
            }
            (&Method::PUT, Some(n)) => {
                let v = match parse(body) {
                    Ok(v) => v,
                    Err(e) => return e,
                };
                self.record("PUT", kind, &n, &v);
                if v["metadata"]["name"] != n.as_str() {
                    return status(
                        StatusCode::BAD_REQUEST,
                        "BadRequest",
                        "the name of the object does not match the name on the URL".into(),
                    );
                }
                let Some(cur) = self.objects.get(&key(&n)).cloned() else {
                    return status(
                        StatusCode::NOT_FOUND,
                        "NotFound",
                        format!("{kind} \"{n}\" not found"),
                    );
                };
                let sent_rv = v["metadata"]["resourceVersion"].as_str().unwrap_or("");
                let stale = !sent_rv.is_empty()
                    && sent_rv != cur["metadata"]["resourceVersion"].as_str().unwrap_or("");
                if stale || self.conflicts > 0 {
                    if !stale {
                        // Another writer got there first: its version is
                        // the stored one now.
                        self.conflicts -= 1;
                        let rv = self.next_rv();
                        if let Some(o) = self.objects.get_mut(&key(&n)) {
                            o["metadata"]["resourceVersion"] = rv.into();
                        }
                    }
                    return status(
                        StatusCode::CONFLICT,
                        "Conflict",
                        format!("Operation cannot be fulfilled on {kind} \"{n}\": the object has been modified; please apply your changes to the latest version and try again"),
                    );
                }
                let mut new = if sub.as_deref() == Some("status") {
                    let mut c = cur.clone();
                    c["status"] = v["status"].clone();
                    c
                } else {
                    let mut v = v.clone();
                    if kind == "ResourceClaim" {
                        v["status"] = cur["status"].clone();
                        if v["status"].is_null() {
                            v.as_object_mut().map(|o| o.remove("status"));
                        }
                    }
                    v
                };
                let rv = self.next_rv();
                new["metadata"]["resourceVersion"] = rv.into();
                new["metadata"]["uid"] = cur["metadata"]["uid"].clone();
                new["metadata"]["creationTimestamp"] = cur["metadata"]["creationTimestamp"].clone();
                if let Some(ns) = namespace_of(&coll) {
                    new["metadata"]["namespace"] = ns.into();
                }
                self.objects.insert(key(&n), new.clone());
                (StatusCode::OK, new)
            }
            (&Method::DELETE, Some(n)) => match self.objects.remove(&key(&n)) {
                Some(v) => (StatusCode::OK, v),
                None => status(
                    StatusCode::NOT_FOUND,
                    "NotFound",
                    format!("{kind} \"{n}\" not found"),
                ),
            },
            _ => status(
                StatusCode::METHOD_NOT_ALLOWED,
                "MethodNotAllowed",
                format!("{method} is not supported on {path}"),
            ),
        }
    }
}

impl FakeApiServer {
    /// Listens on `addr` (port 0: any) and serves until the runtime ends.
    /// Received objects are written to `record_dir` if given.
    pub async fn start(addr: &str, record_dir: Option<PathBuf>) -> std::io::Result<FakeApiServer> {
        if let Some(d) = &record_dir {
            std::fs::create_dir_all(d)?;
        }
        let l = TcpListener::bind(addr).await?;
        let s = FakeApiServer {
            addr: l.local_addr()?,
            store: Arc::new(Mutex::new(Store {
                record_dir,
                ..Store::default()
            })),
        };
        let store = s.store.clone();
        tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = l.accept().await else {
                    continue;
                };
                let store = store.clone();
                tokio::spawn(async move {
                    let svc = hyper::service::service_fn(move |req: Request<Incoming>| {
                        let store = store.clone();
                        async move {
                            let (parts, body) = req.into_parts();
                            let body = body
                                .collect()
                                .await
                                .map(|b| b.to_bytes())
                                .unwrap_or_default();
                            let path = parts.uri.path().to_string();
                            let (code, v) = {
                                let mut st = store.lock().unwrap();
                                let (code, v) = st.handle(&parts.method, &path, &body);
                                st.log.push(Logged {
                                    method: parts.method.to_string(),
                                    path: path.clone(),
                                    status: code.as_u16(),
                                });
                                (code, v)
                            };
                            tracing::debug!(method = %parts.method, %path, status = code.as_u16(), "fake API server");
                            let resp = Response::builder()
                                .status(code)
                                .header("content-type", "application/json")
                                .body(Full::new(Bytes::from(
                                    serde_json::to_vec(&v).unwrap_or_default(),
                                )))
                                .expect("a valid response");
                            Ok::<_, Infallible>(resp)
                        }
                    });
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), svc)
                        .await;
                });
            }
        });
        Ok(s)
    }

    /// The URL to give kube.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Stores `obj` as if POSTed (for seeding Nodes); returns it stored.
    pub fn insert(&self, collection_path: &str, obj: &Value) -> Value {
        let body = serde_json::to_vec(obj).unwrap_or_default();
        self.store
            .lock()
            .unwrap()
            .handle(&Method::POST, collection_path, &body)
            .1
    }

    /// Replaces the object at `path` as a PUT from another writer would;
    /// the status code.
    pub fn put(&self, path: &str, obj: &Value) -> u16 {
        let body = serde_json::to_vec(obj).unwrap_or_default();
        self.store
            .lock()
            .unwrap()
            .handle(&Method::PUT, path, &body)
            .0
            .as_u16()
    }

    /// The stored object at `path`, if any.
    pub fn get(&self, path: &str) -> Option<Value> {
        let (c, v) = self.store.lock().unwrap().handle(&Method::GET, path, &[]);
        (c == StatusCode::OK).then_some(v)
    }

    /// The next `n` PUTs lose a race with another writer: each bumps the
    /// stored object's resourceVersion and is answered 409 Conflict.
    pub fn conflict_next_puts(&self, n: u32) {
        self.store.lock().unwrap().conflicts = n;
    }

    /// Every request so far.
    pub fn log(&self) -> Vec<Logged> {
        self.store.lock().unwrap().log.clone()
    }

    /// Every object received so far.
    pub fn received(&self) -> Vec<Value> {
        self.store.lock().unwrap().received.clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn capacity_rules_beyond_the_schema() {
        let slice = |default: &str, min: &str, step: &str, shared: bool| {
            let v = json!({"apiVersion": "resource.k8s.io/v1", "kind": "ResourceSlice", "metadata": {"name": "a"},
                "spec": {"driver": "d", "nodeName": "n", "pool": {"name": "p", "generation": 1, "resourceSliceCount": 1},
                    "devices": [{"name": "gpu-0", "allowMultipleAllocations": shared, "capacity": {"memory": {
                        "value": "81559Mi",
                        "requestPolicy": {"default": default, "validRange": {"min": min, "step": step}}}}}]}});
            check_slice_rules(&serde_json::from_value(v).unwrap())
        };
        assert_eq!(slice("81408Mi", "256Mi", "256Mi", true), Ok(()));
        assert!(slice("81559Mi", "256Mi", "256Mi", true)
            .unwrap_err()
            .contains("not a multiple of the step"));
        assert!(slice("128Mi", "256Mi", "256Mi", true)
            .unwrap_err()
            .contains("outside the valid range"));
        assert!(slice("81408Mi", "81408Mi", "256Mi", true)
            .unwrap_err()
            .contains("min + step"));
        assert!(slice("81408Mi", "256Mi", "256Mi", false)
            .unwrap_err()
            .contains("allowMultipleAllocations"));
    }

    #[test]
    fn paths() {
        assert_eq!(
            split("/apis/resource.k8s.io/v1/namespaces/ns/resourceclaims/c/status"),
            Some((
                "/apis/resource.k8s.io/v1/namespaces/ns/resourceclaims".into(),
                Some("c".into()),
                Some("status".into())
            ))
        );
        assert_eq!(
            split("/api/v1/nodes/n1"),
            Some(("/api/v1/nodes".into(), Some("n1".into()), None))
        );
        assert_eq!(split("/api/v1/pods"), None);
    }

    #[test]
    fn versions_conflicts_and_not_found() {
        let mut s = Store::default();
        let coll = "/apis/resource.k8s.io/v1/resourceslices";
        let obj = json!({"apiVersion": "resource.k8s.io/v1", "kind": "ResourceSlice",
            "metadata": {"name": "a"}, "spec": {"driver": "d", "pool": {"name": "p", "generation": 1, "resourceSliceCount": 1}, "nodeName": "n"}});
        let body = serde_json::to_vec(&obj).unwrap();
        let (c, v) = s.handle(&Method::POST, coll, &body);
        assert_eq!(c, StatusCode::CREATED);
        assert_eq!(v["metadata"]["resourceVersion"], "1");
        assert_eq!(s.handle(&Method::POST, coll, &body).0, StatusCode::CONFLICT);
        let mut stale = obj.clone();
        stale["metadata"]["resourceVersion"] = "0".into();
        let (c, v) = s.handle(
            &Method::PUT,
            &format!("{coll}/a"),
            &serde_json::to_vec(&stale).unwrap(),
        );
        assert_eq!(
            (c, v["reason"].as_str()),
            (StatusCode::CONFLICT, Some("Conflict"))
        );
        stale["metadata"]["resourceVersion"] = "1".into();
        assert_eq!(
            s.handle(
                &Method::PUT,
                &format!("{coll}/a"),
                &serde_json::to_vec(&stale).unwrap()
            )
            .0,
            StatusCode::OK
        );
        assert_eq!(
            s.handle(&Method::GET, &format!("{coll}/b"), &[]).0,
            StatusCode::NOT_FOUND
        );
        assert_eq!(
            s.handle(&Method::DELETE, &format!("{coll}/a"), &[]).0,
            StatusCode::OK
        );
        assert_eq!(
            s.handle(&Method::DELETE, &format!("{coll}/a"), &[]).0,
            StatusCode::NOT_FOUND
        );
        // Wrong kind, bad type.
        let mut bad = obj.clone();
        bad["kind"] = "Pod".into();
        assert_eq!(
            s.handle(&Method::POST, coll, &serde_json::to_vec(&bad).unwrap())
                .0,
            StatusCode::BAD_REQUEST
        );
        let mut bad = obj.clone();
        bad["spec"]["pool"]["generation"] = "one".into();
        assert_eq!(
            s.handle(&Method::POST, coll, &serde_json::to_vec(&bad).unwrap())
                .0,
            StatusCode::UNPROCESSABLE_ENTITY
        );
    }
}
