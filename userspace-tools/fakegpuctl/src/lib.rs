//! fakegpuctl as a library: the module's sysfs interface ([`sysfs`]), CDI
//! specs for contexts ([`cdi`]), memory sizes by the module's rule ([`quantity`]),
//! Prometheus metrics ([`metrics`]) and the physical GPUs ([`gpus`]). The
//! `fakegpuctl` binary and the device plugin are built on it.
//!
//! It talks to the module only through the documented sysfs ABI
//! (`Documentation/ABI/testing/sysfs-kernel-fakegpu-*`).

pub mod cdi;
pub mod error;
pub mod quantity;
pub mod sysfs;

pub use error::{Error, Kind, Result};
pub use sysfs::{ContextInfo, CreateSpec, Priority, Sysfs, UpdateSpec};

/// This tool's version.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");
pub mod cli;
pub mod gpus;
pub mod health;
pub mod metrics;
pub mod podresources;
