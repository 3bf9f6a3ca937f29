//! The server: configuration, storage, the settings backend, HTTP routes.
//! `main.rs` only reads the configuration and calls [`run`].

pub mod auth;
pub mod backend;
pub mod cli;
pub mod config;
pub mod http_server;
pub mod notify;
pub mod oauth;
pub mod outbox;
pub mod rest;
pub mod retention;
pub mod secrets;
pub mod security;
pub mod sessions;
pub mod store;
pub mod transport;

use app::api::backend::{Actor, Backend};
use app::{App, shell};
use axum::Router;
use axum::body::Body;
use axum::extract::{DefaultBodyLimit, FromRef, Request, State};
use axum::middleware::from_fn_with_state;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{MethodRouter, get, post};
use backend::AppBackend;
use config::Config;
use http::Method;
use http::request::Parts;
use leptos::prelude::*;
use leptos_axum::{LeptosRoutes, generate_route_list, handle_server_fns_with_context};
use std::sync::Arc;
use tokio::net::TcpListener;
use tower_http::compression::CompressionLayer;
use tower_http::trace::TraceLayer;
use tower_sessions::cookie::SameSite;
use tower_sessions::{Expiry, SessionManagerLayer};
use tower_sessions_sqlx_store::SqliteStore;

/// Shared by every handler.
#[derive(Clone)]
pub struct AppState {
    pub leptos_options: LeptosOptions,
    pub backend: Arc<AppBackend>,
    pub base_path: String,
    pub access: Arc<auth::AccessState>,
    pub session_policy: auth::SessionPolicy,
    pub public_origins: Arc<Vec<String>>,
    /// Host names served (from `PUBLIC_ORIGIN`; IP literals and localhost always).
    pub allowed_hosts: Arc<security::HostAllowList>,
    pub cookie_secure: bool,
    /// Wakes the delivery worker when a notification is accepted.
    pub wake_worker: Arc<tokio::sync::Notify>,
    /// The delivery worker's task: `/health` reports it stopped once it has finished.
    pub worker: Arc<tokio::task::JoinHandle<()>>,
    /// Submissions per API token (`NOTIFY_RATE_PER_SECOND`, `NOTIFY_BURST`).
    pub notify_limit: Arc<notify::SubmissionLimit>,
    pub time_offset: time::UtcOffset,
}

impl FromRef<AppState> for LeptosOptions {
    fn from_ref(state: &AppState) -> Self {
        state.leptos_options.clone()
    }
}

impl AppState {
    fn port(&self) -> Backend {
        self.backend.clone()
    }
}

/// What the Leptos renderer and the server functions get from a request: the backend, the
/// caller (for the audit log and the page header) and the CSP nonce for inline scripts.
fn provide_request_context(backend: &Backend) {
    provide_context(backend.clone());
    if let Some(parts) = use_context::<Parts>() {
        if let Some(p) = parts.extensions.get::<auth::Principal>() {
            provide_context(Actor(p.actor()));
        }
        if let Some(n) = parts.extensions.get::<security::CspNonce>() {
            provide_context(leptos::nonce::Nonce::from_value(n.0.clone()));
        }
    }
}

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
    let access = auth::AccessState::new();
    let setup_url = format!("http://{}{base}/System/Setup", config.site_addr);
    auth::bootstrap(&store, config.admin.clone(), &access.setup, &setup_url)
        .await
        .context("Failed to prepare the first administrator")?;

    let session_store = SqliteStore::new(store.pool().clone())
        .with_table_name("sessions")
        .map_err(|e| anyhow::anyhow!("invalid session table name: {e}"))?;
    session_store
        .migrate()
        .await
        .context("Failed to create the session table")?;
    {
        use tower_sessions::session_store::ExpiredDeletion as _;
        let sweeper = session_store.clone();
        tokio::spawn(async move {
            if let Err(e) = sweeper
                .continuously_delete_expired(tokio::time::Duration::from_secs(600))
                .await
            {
                tracing::warn!(error = %e, "stopped deleting expired sessions");
            }
        });
    }
    let idle = time::Duration::seconds(config.session_idle.as_secs() as i64);
    let sessions = SessionManagerLayer::new(sessions::HashedIds::new(session_store))
        .with_name("mail_settings_session")
        .with_http_only(true)
        .with_same_site(SameSite::Lax)
        .with_secure(config.cookie_secure)
        .with_path("/")
        .with_expiry(Expiry::OnInactivity(idle));

    let oauth = Arc::new(oauth::OauthService::new(
        store.clone(),
        config.providers.clone(),
        config.server_ip,
    ));
    oauth
        .clone()
        .spawn_keepalive(std::time::Duration::from_secs(600));
    let wake_worker = Arc::new(tokio::sync::Notify::new());
    let mailer = Arc::new(transport::Mailer::new(
        store.clone(),
        oauth.clone(),
        &config.providers,
        config.smtp_ca_file.as_deref(),
        config.smtp_timeout,
        config.smtp_pool_size,
    ));
    let worker = Arc::new(
        outbox::Worker::new(
            store.clone(),
            mailer.clone(),
            wake_worker.clone(),
            config.worker.clone(),
        )
        .spawn(),
    );
    crate::retention::spawn(store.clone(), config.retention);
    let state = AppState {
        worker,
        notify_limit: Arc::new(notify::SubmissionLimit::new(config.notify_rate)),
        wake_worker: wake_worker.clone(),
        time_offset: config.time_offset,
        leptos_options: leptos_options.clone(),
        backend: Arc::new(AppBackend {
            store,
            base_path: base.clone(),
            server_ip: config.server_ip,
            oauth,
            mailer,
            wake_worker,
        }),
        base_path: base.clone(),
        access,
        session_policy: auth::SessionPolicy {
            idle: config.session_idle,
            absolute: config.session_max,
        },
        public_origins: Arc::new(config.public_origins.clone()),
        allowed_hosts: Arc::new(security::HostAllowList::new(&config.public_origins)),
        cookie_secure: config.cookie_secure,
    };

    let routes = {
        let base = base.clone();
        generate_route_list(move || view! { <App base=base.clone() /> })
    };

    let context = {
        let backend = state.port();
        move || provide_request_context(&backend)
    };
    let shell_fn = {
        let options = leptos_options.clone();
        let base = base.clone();
        move || shell(options.clone(), base.clone())
    };

    let mut router = Router::new();
    for (_, path, handler) in own_routes(&base) {
        router = router.route(&path, handler);
    }
    let router = router
        .leptos_routes_with_context(&state, routes, context.clone(), shell_fn.clone())
        .fallback(leptos_axum::file_and_error_handler_with_context::<
            AppState,
            _,
        >(context, {
            let base = base.clone();
            move |options: LeptosOptions| shell(options, base.clone())
        }))
        // Outermost last: trace → headers → host → compression → session → origin → login.
        .layer(from_fn_with_state(state.clone(), auth::require_login))
        .layer(from_fn_with_state(state.clone(), security::check_origin))
        .layer(sessions)
        .layer(CompressionLayer::new())
        .layer(from_fn_with_state(state.clone(), security::check_host))
        .layer(from_fn_with_state(state.clone(), security::headers))
        // The span names the path only: queries carry the OAuth `code` and `state` and the
        // one-time set-up `token`, which must not reach a log at any level.
        .layer(TraceLayer::new_for_http().make_span_with(|req: &Request<Body>| {
            tracing::debug_span!("request", method = %req.method(), path = %req.uri().path())
        }))
        .with_state(state);
    Ok(router)
}

type OwnRoute = (&'static [Method], String, MethodRouter<AppState>);

/// The routes that are neither Leptos pages nor server functions. The router is built from
/// this table, and [`route_inventory`] lists it, so the access tests see every route.
fn own_routes(base: &str) -> Vec<OwnRoute> {
    let settings_page = format!("{base}/System/MailSetting");
    let to_settings = || {
        let to = settings_page.clone();
        get(move || async move { Redirect::to(&to) })
    };
    vec![
        (&[Method::GET], "/".into(), to_settings()),
        (&[Method::GET], base.into(), to_settings()),
        (
            &[Method::GET, Method::PUT],
            format!("{base}/api/v1/mail-settings"),
            get(rest::get_settings).put(rest::put_settings),
        ),
        (
            &[Method::GET],
            format!("{base}/api/v1/mail-settings/export"),
            get(rest::export_settings),
        ),
        (
            &[Method::GET],
            format!("{base}/api/v1/oauth"),
            get(rest::oauth_status),
        ),
        (
            &[Method::POST],
            format!("{base}/api/v1/oauth/check"),
            post(rest::oauth_check),
        ),
        (
            &[Method::POST],
            format!("{base}/api/v1/oauth/disconnect"),
            post(rest::oauth_disconnect),
        ),
        (
            &[Method::GET],
            format!("{base}/System/MailOAuthMicrosoft"),
            get(oauth::callback_microsoft),
        ),
        (
            &[Method::GET],
            format!("{base}/System/MailOAuthGoogle"),
            get(oauth::callback_google),
        ),
        (
            &[Method::POST],
            format!("{base}/api/v1/mail/test"),
            post(rest::test_mail),
        ),
        (
            &[Method::POST],
            format!("{base}/api/v1/notifications"),
            post(notify::submit).layer(DefaultBodyLimit::max(notify::SUBMISSION_BODY_MAX)),
        ),
        (&[Method::GET], format!("{base}/health"), get(rest::health)),
        (
            &[Method::POST],
            format!("{base}/System/Login"),
            post(auth::login).layer(DefaultBodyLimit::max(auth::LOGIN_BODY_MAX)),
        ),
        (
            &[Method::POST],
            format!("{base}/System/Logout"),
            post(auth::logout),
        ),
        (
            &[Method::POST],
            format!("{base}/System/Setup"),
            post(auth::setup).layer(DefaultBodyLimit::max(auth::LOGIN_BODY_MAX)),
        ),
        (
            &[Method::GET, Method::POST],
            "/api/{*fn_name}".into(),
            get(server_fn_handler).post(server_fn_handler),
        ),
    ]
}

/// Every route the application answers: its own table, the Leptos pages and the server
/// functions (with their real paths). For the access tests.
pub fn route_inventory(base: &str) -> Vec<(Method, String)> {
    let mut all: Vec<(Method, String)> = own_routes(base)
        .into_iter()
        .flat_map(|(methods, path, _)| methods.iter().map(move |m| (m.clone(), path.clone())))
        .filter(|(_, path)| !path.contains('{'))
        .collect();
    let pages = {
        let base = base.to_string();
        generate_route_list(move || view! { <App base=base.clone() /> })
    };
    all.extend(pages.iter().map(|r| (Method::GET, r.path().to_string())));
    all.extend(
        leptos::server_fn::axum::server_fn_paths().map(|(path, method)| (method, path.to_string())),
    );
    all
}

async fn server_fn_handler(State(state): State<AppState>, req: Request<Body>) -> Response {
    let backend = state.port();
    handle_server_fns_with_context(move || provide_request_context(&backend), req)
        .await
        .into_response()
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
    let instance = secrets::random_text(16);
    let heartbeat = {
        let (store, instance) = (store.clone(), instance.clone());
        let host = instance_host();
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(HEARTBEAT_EVERY);
            loop {
                tick.tick().await;
                if let Err(e) = store.heartbeat(&instance, &host, std::process::id()).await {
                    tracing::warn!(error = %e, "could not record the server's heartbeat");
                }
            }
        })
    };
    let served = http_server::serve(listener, app, config.http.clone(), shutdown_signal()).await;
    heartbeat.abort();
    if let Err(e) = store.unregister(&instance).await {
        tracing::warn!(error = %e, "could not remove the server's row");
    }
    served.context("The HTTP server stopped with an error")?;
    store.close().await;
    Ok(())
}

/// How often a running server notes that it is alive in the database.
pub const HEARTBEAT_EVERY: std::time::Duration = std::time::Duration::from_secs(10);
/// A server whose heartbeat is older than this is taken to be gone.
pub const HEARTBEAT_STALE_MS: i64 = 30_000;

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
