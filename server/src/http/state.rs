//! What every handler shares: the application state, and the access state inside it.

use crate::http::hosts::HostAllowList;
use crate::service::settings::AppBackend;
use crate::service::throttle::Throttle;
use app::api::backend::Backend;
use axum::extract::FromRef;
use leptos::prelude::LeptosOptions;
use std::sync::Arc;
use std::time::Duration;

/// Shared by every handler.
#[derive(Clone)]
pub struct AppState {
    pub leptos_options: LeptosOptions,
    pub backend: Arc<AppBackend>,
    pub base_path: String,
    pub access: Arc<AccessState>,
    pub session_policy: SessionPolicy,
    pub public_origins: Arc<Vec<String>>,
    /// Host names served (from `PUBLIC_ORIGIN`; IP literals and localhost always).
    pub allowed_hosts: Arc<HostAllowList>,
    pub cookie_secure: bool,
    /// Wakes the delivery worker when a notification is accepted.
    pub wake_worker: Arc<tokio::sync::Notify>,
    /// The delivery worker's task: `/health` reports it stopped once it has finished.
    pub tasks: Arc<crate::tasks::Tasks>,
    /// Submissions per API token (`NOTIFY_RATE_PER_SECOND`, `NOTIFY_BURST`).
    pub notify_limit: Arc<crate::service::notify::SubmissionLimit>,
    pub time_offset: time::UtcOffset,
}

impl FromRef<AppState> for LeptosOptions {
    fn from_ref(state: &AppState) -> Self {
        state.leptos_options.clone()
    }
}

impl AppState {
    pub fn port(&self) -> Backend {
        self.backend.clone()
    }
}

/// Session lifetimes: idle (sliding, enforced by the session store) and absolute (from login).
#[derive(Clone, Copy, Debug)]
pub struct SessionPolicy {
    pub idle: Duration,
    pub absolute: Duration,
}

/// Shared between handlers.
pub struct AccessState {
    pub throttle: Throttle,
    /// Password checks running at once (see [`crate::service::sign_in`]).
    pub hashing: tokio::sync::Semaphore,
}

impl AccessState {
    pub fn new() -> Arc<AccessState> {
        Arc::new(AccessState {
            throttle: Throttle::new(),
            hashing: tokio::sync::Semaphore::new(2),
        })
    }
}
