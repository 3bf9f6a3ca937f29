//! The HTTP layer: handlers only. Each parses its request, calls a service or the store, and
//! maps the result to a status and a body. [`app`] assembles the routes (this module's table,
//! the Leptos pages and the server functions) with the layers every request passes.

pub mod access;
pub mod hosts;
pub mod log_export;
pub mod notify;
pub mod oauth_callback;
pub mod problem;
pub mod rest;
pub mod security;
pub mod server;
pub mod sessions;
pub mod state;

use app::api::backend::{Actor, Backend};
use app::{App, shell};
use axum::Router;
use axum::body::Body;
use axum::extract::{DefaultBodyLimit, Request, State};
use axum::middleware::from_fn_with_state;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{MethodRouter, get, post};
use http::Method;
use http::request::Parts;
use leptos::prelude::*;
use leptos_axum::{
    AxumRouteListing, LeptosRoutes, generate_route_list, handle_server_fns_with_context,
};
use leptos_router::SsrMode;
pub use state::AppState;
use std::sync::OnceLock;
use tower_http::compression::CompressionLayer;
use tower_http::trace::TraceLayer;
use tower_sessions::SessionManagerLayer;

/// What the Leptos renderer and the server functions get from a request: the backend, the
/// caller (for the audit log and the page header) and the CSP nonce for inline scripts.
fn provide_request_context(backend: &Backend) {
    provide_context(backend.clone());
    if let Some(parts) = use_context::<Parts>() {
        if let Some(p) = parts
            .extensions
            .get::<crate::service::accounts::Principal>()
        {
            provide_context(Actor(p.actor()));
        }
        if let Some(n) = parts.extensions.get::<security::CspNonce>() {
            provide_context(leptos::nonce::Nonce::from_value(n.0.clone()));
        }
    }
}

/// The whole application: routes and layers, on `state`, with `sessions` as the session layer.
pub fn app<S>(state: AppState, sessions: SessionManagerLayer<S>) -> Router
where
    S: tower_sessions::SessionStore + Clone,
{
    let base = state.base_path.clone();
    let leptos_options = state.leptos_options.clone();
    let routes = page_routes(&base);

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
    router
        .leptos_routes_with_context(&state, routes, context.clone(), shell_fn.clone())
        .fallback(leptos_axum::file_and_error_handler_with_context::<
            AppState,
            _,
        >(context, {
            let base = base.clone();
            move |options: LeptosOptions| shell(options, base.clone())
        }))
        // Outermost last: trace → headers → host → compression → session → origin → login →
        // one error body.
        .layer(from_fn_with_state(state.clone(), problem::json_errors))
        .layer(from_fn_with_state(state.clone(), access::require_login))
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
        .with_state(state)
}

/// The Leptos pages under `base`.
///
/// The application is walked once per process, with an empty base, and the base is put in
/// front of each path. While leptos_axum walks the application it sets a process-wide flag
/// that makes every resource first polled meanwhile wait forever (leptos-rs/leptos#4773):
/// a second walk while another router of the same process renders a page (the tests build
/// many) hung that page's response.
fn page_routes(base: &str) -> Vec<AxumRouteListing> {
    static PAGES: OnceLock<Vec<(String, SsrMode, Vec<leptos_router::Method>)>> = OnceLock::new();
    PAGES
        .get_or_init(|| {
            generate_route_list(|| view! { <App base=String::new() /> })
                .iter()
                .map(|r| {
                    (
                        r.path().to_string(),
                        r.mode().clone(),
                        r.methods().collect(),
                    )
                })
                .collect()
        })
        .iter()
        .map(|(path, mode, methods)| {
            AxumRouteListing::new(
                format!("{base}{path}"),
                mode.clone(),
                methods.iter().copied(),
                Vec::new(),
            )
        })
        .collect()
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
            &[Method::GET, Method::PUT],
            format!("{base}/api/v1/sending-limits"),
            get(rest::get_limits).put(rest::put_limits),
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
            get(oauth_callback::callback_microsoft),
        ),
        (
            &[Method::GET],
            format!("{base}/System/MailOAuthGoogle"),
            get(oauth_callback::callback_google),
        ),
        (
            &[Method::POST],
            format!("{base}/api/v1/mail/test"),
            post(rest::test_mail),
        ),
        (
            &[Method::POST],
            format!("{base}/api/v1/alerts/test"),
            post(rest::test_alert),
        ),
        (
            &[Method::POST],
            format!("{base}/api/v1/notifications"),
            post(notify::submit).layer(DefaultBodyLimit::max(
                crate::service::notify::SUBMISSION_BODY_MAX,
            )),
        ),
        (
            &[Method::GET],
            format!("{base}/api/v1/notifications/export"),
            get(log_export::export_log),
        ),
        (&[Method::GET], format!("{base}/health"), get(rest::health)),
        (
            &[Method::POST],
            format!("{base}/System/Login"),
            post(access::login).layer(DefaultBodyLimit::max(access::LOGIN_BODY_MAX)),
        ),
        (
            &[Method::POST],
            format!("{base}/System/Logout"),
            post(access::logout),
        ),
        (
            &[Method::POST],
            format!("{base}/System/Setup"),
            post(access::setup).layer(DefaultBodyLimit::max(access::LOGIN_BODY_MAX)),
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
    let pages = page_routes(base);
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
