//! Start-up: builds the application state once (the server, the operator commands and the
//! tests use it), owns the background tasks (delivery worker, OAuth keep-alive, session and
//! retention sweeps, heartbeat) so they stop with the application, and serves until a signal.

use crate::config::Config;
use crate::http::{self, AppState, sessions};
use crate::service::settings::AppBackend;
use crate::service::{accounts, notify, outbox, retention};
use crate::tasks::{DELIVERY_WORKER, Tasks};
use crate::{oauth, secrets, store, transport};
use axum::Router;
use leptos::prelude::*;
use std::sync::Arc;
use tokio::net::TcpListener;
use tower_sessions::cookie::SameSite;
use tower_sessions::{Expiry, SessionManagerLayer};

/// Builds the whole application on an open store: creates the first administrator (or the
/// one-time setup link) and the session table.
pub async fn router(config: &Config, store: store::Store) -> anyhow::Result<Router> {
    use anyhow::Context as _;
    let leptos_options = LeptosOptions::builder()
        .output_name(config.output_name.clone())
        .site_root(config.site_root.clone())
        .site_pkg_dir(config.site_pkg_dir.clone())
        .site_addr(config.site_addr)
        .hash_files(config.hash_files)
        .build();
    let base = config.base_path.clone();
    let access = crate::http::state::AccessState::new();
    let setup_url = format!("http://{}{base}/System/Setup", config.site_addr);
    accounts::bootstrap(&store, config.admin.clone(), &setup_url)
        .await
        .context("Failed to prepare the first administrator")?;

    let session_store = sessions::DbSessions::open(&config.database_url).await?;
    let tasks = Arc::new(Tasks::default());
    {
        use tower_sessions::session_store::ExpiredDeletion as _;
        let sweeper = session_store.clone();
        tasks.add(
            "session sweep",
            tokio::spawn(async move {
                if let Err(e) = sweeper
                    .continuously_delete_expired(tokio::time::Duration::from_secs(600))
                    .await
                {
                    tracing::warn!(error = %e, "stopped deleting expired sessions");
                }
            }),
        );
    }
    let idle = time::Duration::seconds(config.session_idle.as_secs() as i64);
    let sessions = SessionManagerLayer::new(sessions::HashedIds::new(session_store))
        .with_name("mail_settings_session")
        .with_http_only(true)
        .with_same_site(SameSite::Lax)
        .with_secure(config.cookie_secure)
        .with_path("/")
        .with_expiry(Expiry::OnInactivity(idle));

    // This process's heartbeat, from before the worker's first claim: other processes on the
    // database leave its leases alone while it beats. Rows of earlier processes on this host
    // that are gone are forgotten first, so their unsent mail is recovered at once.
    let host = instance_host();
    store
        .forget_gone_local_instances(&host, *PROCESS_STARTED_MS)
        .await
        .context("Failed to read the server rows")?;
    store
        .heartbeat(store.instance(), &host, std::process::id())
        .await
        .context("Failed to record the server's heartbeat")?;
    {
        let store = store.clone();
        tasks.add(
            "heartbeat",
            tokio::spawn(async move {
                let mut tick = tokio::time::interval(HEARTBEAT_EVERY);
                tick.tick().await;
                loop {
                    tick.tick().await;
                    if let Err(e) = store
                        .heartbeat(store.instance(), &host, std::process::id())
                        .await
                    {
                        tracing::warn!(error = %e, "could not record the server's heartbeat");
                    }
                    // A server on this host that died leaves its leases to the others within
                    // a beat, not only when its heartbeat goes stale.
                    if let Err(e) = store
                        .forget_gone_local_instances(&host, *PROCESS_STARTED_MS)
                        .await
                    {
                        tracing::warn!(error = %e, "could not read the server rows");
                    }
                }
            }),
        );
    }

    let wake_worker = Arc::new(tokio::sync::Notify::new());
    let backend = Arc::new(backend(config, store.clone(), wake_worker.clone()));
    tasks.add(
        "OAuth keep-alive",
        backend
            .oauth
            .clone()
            .spawn_keepalive(std::time::Duration::from_secs(600)),
    );
    tasks.add(
        DELIVERY_WORKER,
        outbox::Worker::new(
            store.clone(),
            backend.mailer.clone(),
            wake_worker.clone(),
            config.worker.clone(),
        )
        .spawn(),
    );
    tasks.add(
        "alerts",
        crate::service::alerts::AlertSender::new(
            store.clone(),
            backend.alerts_http.clone(),
            config.alerts.clone(),
        )
        .spawn(),
    );
    tasks.add(
        "retention purge",
        retention::spawn(store.clone(), config.retention),
    );
    let state = AppState {
        tasks,
        notify_limit: Arc::new(notify::SubmissionLimit::new(
            config.notify_rate,
            store.backend() == crate::store::Backend::Postgres,
        )),
        wake_worker: wake_worker.clone(),
        time_offset: config.time_offset,
        leptos_options: leptos_options.clone(),
        backend,
        base_path: base.clone(),
        access,
        session_policy: crate::http::state::SessionPolicy {
            idle: config.session_idle,
            absolute: config.session_max,
        },
        public_origins: Arc::new(config.public_origins.clone()),
        allowed_hosts: Arc::new(crate::http::hosts::HostAllowList::new(
            &config.public_origins,
        )),
        cookie_secure: config.cookie_secure,
    };
    let app = http::app(state, sessions);
    Ok(app)
}

/// The settings service with its OAuth client and mailer, as the configuration says: the one
/// wiring for the server, the operator commands and the bench. `wake_worker` is notified when
/// something is queued.
pub fn backend(
    config: &Config,
    store: store::Store,
    wake_worker: Arc<tokio::sync::Notify>,
) -> AppBackend {
    let oauth = Arc::new(oauth::OauthService::new(
        store.clone(),
        config.providers.clone(),
        config.server_ip,
    ));
    let mailer = Arc::new(transport::Mailer::new(
        store.clone(),
        oauth.clone(),
        &config.providers,
        config.smtp_ca_file.as_deref(),
        config.smtp_timeout,
        config.smtp_pool_size,
    ));
    AppBackend {
        store,
        base_path: config.base_path.clone(),
        server_ip: config.server_ip,
        oauth,
        mailer,
        wake_worker,
        limit_minute_ms: config.worker.limit_minute.as_millis() as i64,
        alerts_http: crate::http_client::new(&config.providers),
        alerts: config.alerts.clone(),
    }
}

/// Opens the store, binds the address and serves until Ctrl-C / SIGTERM.
pub async fn run(config: Config) -> anyhow::Result<()> {
    use anyhow::Context;
    let keys = secrets::Keyring::load(&config.secret_key)?;
    tracing::info!(key = keys.current_id(), "secrets are encrypted at rest");
    let store = store::Store::open(&config.database_url, &config.base_path, keys).await?;
    let app = router(&config, store.clone()).await?;
    let listener = TcpListener::bind(config.site_addr)
        .await
        .with_context(|| format!("Failed to listen on {}", config.site_addr))?;
    tracing::info!(
        "listening on http://{}{}/System/MailSetting",
        listener.local_addr()?,
        config.base_path
    );
    let served = http::server::serve(listener, app, config.http.clone(), shutdown_signal()).await;
    // The application (and its heartbeat task) has ended with the server.
    if let Err(e) = store.unregister(store.instance()).await {
        tracing::warn!(error = %e, "could not remove the server's row");
    }
    served.context("The HTTP server stopped with an error")?;
    store.close().await;
    Ok(())
}

/// How often a running server notes that it is alive in the database.
pub const HEARTBEAT_EVERY: std::time::Duration = std::time::Duration::from_secs(10);
/// A server whose heartbeat is older than this is taken to be gone: operator commands may run,
/// and other servers take over what it was sending.
pub const HEARTBEAT_STALE_MS: i64 = 30_000;

/// When this process started (its first use of this value, early in the start-up), to tell its
/// own earlier incarnations (same pid, after a container restart) from servers in this process.
static PROCESS_STARTED_MS: std::sync::LazyLock<i64> =
    std::sync::LazyLock::new(crate::clock::now_ms);

/// This machine's name, for the operator's message (the kernel's, else "unknown").
fn instance_host() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_string())
        .ok()
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "unknown".into())
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        if let Ok(mut s) = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        {
            s.recv().await;
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {},
        _ = terminate => {},
    }
    tracing::info!("shutting down");
}
