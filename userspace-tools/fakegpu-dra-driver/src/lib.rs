//! fakegpu's Kubernetes DRA driver (kubelet DRA plugin API v1,
//! `resource.k8s.io/v1` with consumable capacity).
//!
//! The driver publishes one ResourceSlice for its node, listing every GPU as
//! a device that several claims may share (`allowMultipleAllocations`), with
//! the capacities `memory` (the card's memory) and `compute` (percent). The
//! scheduler writes what each claim consumes into the claim's allocation;
//! on `NodePrepareResources` the driver reads it and creates one fakegpu
//! context per claim with exactly that memory cap and compute limit, so the
//! kernel enforces the amounts. See `docs/dra-driver.md`.
//!
//! The modules, top to bottom (`use crate::` imports point down only;
//! `scripts/import-graph` checks):
//! - [`server`]: serving the DRA and registration sockets, publishing the
//!   slice, the start-up reconciliation;
//! - [`driver`]: Prepare and Unprepare of claims;
//! - [`kubeapi`]: the API server (kube's client): claims, nodes, slices;
//! - [`state`]: the checkpoint on disk;
//! - [`claim`]: reading a claim's allocation into a context's settings;
//! - [`slice`]: the ResourceSlice from the GPUs;
//! - [`backend`]: contexts, CDI specs and the GPU inventory (fakegpuctl's
//!   library) behind a trait;
//! - [`quantity`]: Kubernetes quantities;
//! - [`api`]: the generated gRPC code.
//!
//! Test stand-ins: [`fake_apiserver`] (a recording API server) and
//! [`fake_kubelet`] (registration, Prepare, Unprepare, and the scheduler's
//! part: writing a claim's allocation), both also behind the binary's
//! subcommands for the guest test.

pub mod api;
pub mod backend;
pub mod claim;
pub mod driver;
pub mod fake_apiserver;
pub mod fake_kubelet;
pub mod kubeapi;
pub mod quantity;
pub mod server;
pub mod slice;
pub mod state;
pub mod uds;

/// The driver's name (the DeviceClass selects on it).
pub const DRIVER_NAME: &str = "gpu.fakegpu.io";
/// The plugin type the kubelet's plugin watcher expects from DRA drivers.
pub const PLUGIN_TYPE: &str = "DRAPlugin";
/// The DRA service the driver serves, as listed in `supported_versions`.
pub const DRA_SERVICE: &str = "v1.DRAPlugin";
/// The kubelet's plugin registration directory.
pub const DEFAULT_REGISTRY_DIR: &str = "/var/lib/kubelet/plugins_registry";
/// The kubelet's plugin directory (the driver's own subdirectory holds its
/// DRA socket).
pub const DEFAULT_PLUGINS_DIR: &str = "/var/lib/kubelet/plugins";
/// Prefix of the contexts the driver creates.
pub const CONTEXT_PREFIX: &str = "dra-";
