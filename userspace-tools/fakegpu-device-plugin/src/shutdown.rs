//! The shutdown signal shared by the plugins, the server and the
//! reconciler. A leaf module: it imports nothing of this crate, so that
//! [`crate::plugin`], [`crate::reconcile`] and [`crate::server`] can all
//! use it without importing each other (`scripts/import-graph` checks that
//! `use crate::` imports only point down).

use std::time::Duration;

use tokio::sync::watch;

/// A shutdown signal: `true` once the plugin should stop.
pub type Shutdown = watch::Receiver<bool>;

/// Returns once `s` says stop (never, if its sender is gone).
pub async fn stopped(mut s: Shutdown) {
    while !*s.borrow_and_update() {
        if s.changed().await.is_err() {
            // The sender is gone: nobody can ask us to stop any more.
            std::future::pending::<()>().await;
        }
    }
}

/// Sleeps `d`; true if shutdown came first.
pub async fn sleep_or_stop(d: Duration, s: &Shutdown) -> bool {
    tokio::select! {
        _ = tokio::time::sleep(d) => false,
        _ = stopped(s.clone()) => true,
    }
}
