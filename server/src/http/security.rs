//! Response headers every answer carries, the Content-Security-Policy nonce Leptos puts on its
//! inline scripts, and the `Origin` check that stops cross-site requests from changing anything.

use crate::http::hosts::origin_authority;
use crate::http::problem::Problem;
use crate::http::state::AppState;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

/// The CSP nonce of one request; the page's inline scripts carry it.
#[derive(Clone, Debug)]
pub struct CspNonce(pub String);

/// Scripts: our own files and the nonce'd inline bootstrap; WebAssembly compilation needs
/// `wasm-unsafe-eval` (not `unsafe-eval`). No inline styles, no framing, no plugins.
fn csp(nonce: &str) -> String {
    // `cargo leptos watch` (LEPTOS_WATCH) reloads the page through a local websocket.
    static DEV_RELOAD: std::sync::OnceLock<&'static str> = std::sync::OnceLock::new();
    let dev = DEV_RELOAD.get_or_init(|| {
        if std::env::var_os("LEPTOS_WATCH").is_some() {
            " ws://127.0.0.1:* ws://localhost:*"
        } else {
            ""
        }
    });
    format!(
        "default-src 'self'; script-src 'self' 'nonce-{nonce}' 'wasm-unsafe-eval'; \
         style-src 'self'; img-src 'self' data:; connect-src 'self'{dev}; font-src 'self'; \
         object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
    )
}

/// Adds the security headers to every response and hands the nonce to the page renderer.
pub async fn headers(State(state): State<AppState>, mut req: Request, next: Next) -> Response {
    let nonce = crate::secrets::random_text(16);
    req.extensions_mut().insert(CspNonce(nonce.clone()));
    let static_file = req.uri().path().starts_with("/pkg/");
    let mut res = next.run(req).await;
    let status_ok = res.status().is_success() || res.status() == StatusCode::NOT_MODIFIED;
    let h = res.headers_mut();
    if let Ok(v) = HeaderValue::from_str(&csp(&nonce)) {
        h.insert(header::CONTENT_SECURITY_POLICY, v);
    }
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    // Not `no-referrer`: under it browsers send `Origin: null` with same-site form posts, and
    // the Origin check could not tell the console's own sign-in form from a foreign one.
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("same-origin"),
    );
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    h.insert(
        "cross-origin-opener-policy",
        HeaderValue::from_static("same-origin"),
    );
    h.insert(
        "permissions-policy",
        HeaderValue::from_static("camera=(), microphone=(), geolocation=(), payment=()"),
    );
    if state.cookie_secure {
        h.insert(
            header::STRICT_TRANSPORT_SECURITY,
            HeaderValue::from_static("max-age=31536000"),
        );
    }
    // Pages and API answers describe the mail set-up: keep them out of shared caches and the
    // browser's disk cache. The bundle files may be cached: for good when their names carry a
    // content hash (a new build has new names), else only after asking whether they changed.
    if !h.contains_key(header::CACHE_CONTROL) {
        let policy = match (static_file, status_ok) {
            (true, true) if state.leptos_options.hash_files => {
                "public, max-age=31536000, immutable"
            }
            (true, true) => "no-cache",
            _ => "no-store",
        };
        h.insert(header::CACHE_CONTROL, HeaderValue::from_static(policy));
    }
    res
}

fn is_safe(method: &Method) -> bool {
    matches!(*method, Method::GET | Method::HEAD | Method::OPTIONS)
}

/// True when the browser says the request comes from this console's own pages: the `Origin`
/// is one of `PUBLIC_ORIGIN`, or names the host the request was sent to.
pub fn same_origin(headers: &HeaderMap, allowed: &[String]) -> bool {
    if headers
        .get("sec-fetch-site")
        .is_some_and(|v| v.as_bytes() == b"cross-site")
    {
        return false;
    }
    let Some(origin) = headers.get(header::ORIGIN).and_then(|v| v.to_str().ok()) else {
        return false;
    };
    if allowed.iter().any(|a| a.eq_ignore_ascii_case(origin)) {
        return true;
    }
    let host = headers.get(header::HOST).and_then(|v| v.to_str().ok());
    matches!((origin_authority(origin), host), (Some(o), Some(h)) if o.eq_ignore_ascii_case(h))
}

/// Refuses state-changing requests that a browser sent from another site (CSRF). Requests with
/// an API token carry no ambient credential and are not checked.
pub async fn check_origin(State(state): State<AppState>, req: Request, next: Next) -> Response {
    if is_safe(req.method()) || req.headers().contains_key(header::AUTHORIZATION) {
        return next.run(req).await;
    }
    if same_origin(req.headers(), &state.public_origins) {
        return next.run(req).await;
    }
    tracing::warn!(
        origin = ?req.headers().get(header::ORIGIN),
        path = req.uri().path(),
        "refused a cross-origin request"
    );
    Problem::new(
        StatusCode::FORBIDDEN,
        "cross_origin",
        "This request did not come from the console's own pages (Origin missing or foreign), so it was refused. Use the console, or send an API token as `Authorization: Bearer …`. Behind a proxy, set PUBLIC_ORIGIN to the address administrators use.",
    )
    .into_response()
}

/// Refuses requests whose `Host` is not one of the console's names (400, saying what to set).
/// Requests without a `Host` (no browser sends those) pass.
pub async fn check_host(State(state): State<AppState>, req: Request, next: Next) -> Response {
    let host = req
        .headers()
        .get(header::HOST)
        .map(|h| h.to_str().unwrap_or(""))
        .or_else(|| req.uri().authority().map(|a| a.as_str()));
    match host {
        Some(host) if !state.allowed_hosts.allows(host) => {
            let shown: String = host.chars().filter(|c| !c.is_control()).take(100).collect();
            tracing::warn!(host = %shown, "request for a host name this console does not serve");
            Problem::new(
                StatusCode::BAD_REQUEST,
                "host_unknown",
                format!(
                    "This console is not served under the name {shown:?}. If administrators reach it \
                     under this name, add its address to PUBLIC_ORIGIN (for example \
                     PUBLIC_ORIGIN=https://{shown}) and restart the server."
                ),
            )
            .into_response()
        }
        _ => next.run(req).await,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hdrs(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.insert(*k, HeaderValue::from_static(v));
        }
        h
    }

    #[test]
    fn origins() {
        let none: Vec<String> = vec![];
        assert!(same_origin(
            &hdrs(&[
                ("origin", "http://127.0.0.1:3000"),
                ("host", "127.0.0.1:3000")
            ]),
            &none
        ));
        assert!(!same_origin(
            &hdrs(&[
                ("origin", "http://evil.example"),
                ("host", "127.0.0.1:3000")
            ]),
            &none
        ));
        assert!(!same_origin(&hdrs(&[("host", "127.0.0.1:3000")]), &none));
        assert!(!same_origin(
            &hdrs(&[
                ("origin", "http://127.0.0.1:3000"),
                ("host", "127.0.0.1:3000"),
                ("sec-fetch-site", "cross-site")
            ]),
            &none
        ));
        let proxy = vec!["https://reports.example.co.jp".to_string()];
        assert!(same_origin(
            &hdrs(&[
                ("origin", "https://reports.example.co.jp"),
                ("host", "10.0.0.5:3000")
            ]),
            &proxy
        ));
        assert!(!same_origin(
            &hdrs(&[("origin", "null"), ("host", "127.0.0.1:3000")]),
            &none
        ));
    }

    #[test]
    fn csp_allows_wasm_not_inline() {
        let p = csp("abc");
        assert!(p.contains("'nonce-abc'"));
        assert!(p.contains("'wasm-unsafe-eval'"));
        assert!(!p.contains("unsafe-inline"));
        assert!(p.contains("frame-ancestors 'none'"));
    }
}
