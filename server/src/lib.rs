//! The server: configuration, storage, the settings backend, HTTP routes.
//! `main.rs` only reads the configuration and calls [`run`].

pub mod backend;
pub mod config;
pub mod rest;
pub mod store;

use app::api::backend::Backend;
use app::{App, shell};
use axum::Router;
use axum::body::Body;
use axum::extract::{FromRef, Request, State};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::get;
use backend::AppBackend;
use config::Config;
use leptos::prelude::*;
use leptos_axum::{LeptosRoutes, generate_route_list, handle_server_fns_with_context};
use std::sync::Arc;
use tokio::net::TcpListener;
use tower_http::compression::CompressionLayer;
use tower_http::trace::TraceLayer;

/// Shared by every handler.
#[derive(Clone)]
pub struct AppState {
    pub leptos_options: LeptosOptions,
    pub backend: Arc<AppBackend>,
    pub base_path: String,
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

/// Builds the whole application on an open store.
pub fn router(config: &Config, store: store::Store) -> Router {
    let leptos_options = LeptosOptions::builder()
        .output_name(config.output_name.clone())
        .site_root(config.site_root.clone())
        .site_pkg_dir(config.site_pkg_dir.clone())
        .site_addr(config.site_addr)
        .build();
    let base = config.base_path.clone();
    let state = AppState {
        leptos_options: leptos_options.clone(),
        backend: Arc::new(AppBackend {
            store,
            base_path: base.clone(),
            server_ip: config.server_ip,
        }),
        base_path: base.clone(),
    };

    let routes = {
        let base = base.clone();
        generate_route_list(move || view! { <App base=base.clone() /> })
    };
    let settings_page = format!("{base}/System/MailSetting");

    let context = {
        let backend = state.port();
        move || provide_context(backend.clone())
    };
    let shell_fn = {
        let options = leptos_options.clone();
        let base = base.clone();
        move || shell(options.clone(), base.clone())
    };

    Router::new()
        .route(
            "/",
            get({
                let to = settings_page.clone();
                move || async move { Redirect::to(&to) }
            }),
        )
        .route(
            &base,
            get({
                let to = settings_page.clone();
                move || async move { Redirect::to(&to) }
            }),
        )
        .route(
            &format!("{base}/api/v1/mail-settings"),
            get(rest::get_settings).put(rest::put_settings),
        )
        .route(&format!("{base}/health"), get(rest::health))
        .route(
            "/api/{*fn_name}",
            get(server_fn_handler).post(server_fn_handler),
        )
        .leptos_routes_with_context(&state, routes, context.clone(), shell_fn.clone())
        .fallback(leptos_axum::file_and_error_handler_with_context::<
            AppState,
            _,
        >(context, {
            let base = base.clone();
            move |options: LeptosOptions| shell(options, base.clone())
        }))
        .layer(CompressionLayer::new())
        .layer(TraceLayer::new_for_http())
        .with_state(state)
}

async fn server_fn_handler(State(state): State<AppState>, req: Request<Body>) -> Response {
    let backend = state.port();
    handle_server_fns_with_context(move || provide_context(backend.clone()), req)
        .await
        .into_response()
}

/// Opens the store, binds the address and serves until Ctrl-C / SIGTERM.
pub async fn run(config: Config) -> anyhow::Result<()> {
    use anyhow::Context;
    let store = store::Store::open(&config.database_url, &config.base_path).await?;
    let app = router(&config, store.clone());
    let listener = TcpListener::bind(config.site_addr)
        .await
        .with_context(|| format!("Failed to listen on {}", config.site_addr))?;
    tracing::info!(
        "listening on http://{}{}/System/MailSetting",
        listener.local_addr()?,
        config.base_path
    );
    axum::serve(listener, app)
        .with_graceful_shutdown(shutdown_signal())
        .await
        .context("The HTTP server stopped with an error")?;
    store.close().await;
    Ok(())
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
