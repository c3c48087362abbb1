//! fakegpu's Kubernetes device plugin (kubelet device plugin API v1beta1).
//!
//! Every profile of the configuration file (`gpu`, `mem`, `compute`,
//! `count`) becomes one extended resource, `fakegpu.io/<profile>`, served on
//! its own socket in the kubelet's device-plugin directory, with `count`
//! device IDs. `Allocate` creates one fakegpu context per device ID (named
//! `k8s-<device ID>`), writes its CDI spec, and answers with the CDI device
//! name, the device nodes and environment variables. Contexts are freed by a
//! reconciliation against the kubelet's pod-resources API (see
//! `docs/device-plugin.md` and [`reconcile`]).
//!
//! The modules:
//! - [`api`]: the generated gRPC code of the kubelet's protos;
//! - [`config`]: the configuration file;
//! - [`backend`]: the contexts and CDI specs (fakegpuctl's library) behind a
//!   small trait, so the plugin can be tested without the module;
//! - [`plugin`]: the `DevicePlugin` service of one resource;
//! - [`server`]: serving, registering with the kubelet, re-registering after
//!   a kubelet restart, health polling;
//! - [`reconcile`]: freeing contexts whose device is no longer allocated;
//! - [`shutdown`]: the stop signal the three above share;
//! - [`fake_kubelet`]: a kubelet stand-in for the tests, and
//!   [`fake_kubelet_cli`] its command line (`fakegpu-device-plugin
//!   fake-kubelet ...`).
//!
//! `use crate::` imports point down only (`scripts/import-graph` checks):
//! `server` -> `reconcile` -> `plugin` -> `backend`, `config`, `api`,
//! `shutdown`; nothing below imports what is above it.

pub mod api;
pub mod backend;
pub mod config;
pub mod fake_kubelet;
pub mod fake_kubelet_cli;
pub mod plugin;
pub mod reconcile;
pub mod server;
pub mod shutdown;
pub mod uds;

/// The API version the plugin speaks.
pub const API_VERSION: &str = "v1beta1";
/// The kubelet's device-plugin directory.
pub const DEFAULT_KUBELET_DIR: &str = "/var/lib/kubelet/device-plugins";
/// The kubelet's pod-resources socket.
pub const DEFAULT_POD_RESOURCES_SOCKET: &str = "/var/lib/kubelet/pod-resources/kubelet.sock";
/// The kubelet's registration socket, in the device-plugin directory.
pub const KUBELET_SOCKET: &str = "kubelet.sock";
/// Device health values of the API.
pub const HEALTHY: &str = "Healthy";
pub const UNHEALTHY: &str = "Unhealthy";
