//! The access layer: which paths are public, the session or API token every other request
//! needs (a token only on the REST API, and only within its scope), and the sign-in, sign-out
//! and first set-up handlers.

use crate::clock::now_secs;
use crate::http::problem::{Problem, ProblemItem};
use crate::http::state::{AppState, SessionPolicy};
use crate::service::accounts::{
    Principal, TokenRefusal, authenticate_token, check_new_password, check_username, hash_password,
};
use crate::service::sign_in::{SignIn, sign_in};
use crate::store::TokenScope;
use axum::extract::{ConnectInfo, Form, Request, State};
use axum::http::{HeaderValue, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Redirect, Response};
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use std::net::SocketAddr;
use tower_sessions::Session;

/// Session keys.
const SESSION_USER: &str = "admin";
const SESSION_LOGIN_AT: &str = "login_at";

/// What a token of `scope` may call: a `notify` token only submits notifications.
fn scope_allows(scope: TokenScope, base: &str, method: &Method, path: &str) -> bool {
    match scope {
        TokenScope::Admin => true,
        TokenScope::Notify => {
            method == Method::POST && path == format!("{base}/api/v1/notifications")
        }
    }
}

/// True when a segment of the raw path is `.` or `..`, also percent-encoded (`%2e%2e`), or
/// hides a separator (`%2f`, `%5c`, a backslash).
pub fn has_dot_segment(path: &str) -> bool {
    path.split('/').any(|segment| {
        let decoded = segment
            .replace("%2e", ".")
            .replace("%2E", ".")
            .replace("%2f", "/")
            .replace("%2F", "/")
            .replace("%5c", "\\")
            .replace("%5C", "\\");
        decoded == "." || decoded == ".." || decoded.contains('/') || decoded.contains('\\')
    })
}

/// Paths that need no login: the bundle, the sign-in and set-up pages, `GET /health`.
fn is_public(base: &str, method: &Method, path: &str) -> bool {
    let rest = path.strip_prefix(base).unwrap_or("");
    let pkg = path.starts_with("/pkg/");
    let page = matches!(rest, "/System/Login" | "/System/Setup");
    let health = rest == "/health" && method == Method::GET;
    pkg || page || health
}

/// The local path a login may return to: under the base path, no scheme or host.
pub fn safe_next(base: &str, next: Option<&str>) -> String {
    let fallback = format!("{base}/System/MailSetting");
    match next {
        Some(n)
            if n.starts_with(&format!("{base}/"))
                && !n.starts_with("//")
                && !n.contains('\\')
                && !n.chars().any(char::is_control)
                && !n.contains("/System/Login")
                && !n.contains("/System/Setup") =>
        {
            n.to_string()
        }
        _ => fallback,
    }
}

/// 401 with a JSON body that says what to do.
fn unauthenticated(code: &str, message: &str) -> Response {
    Problem::new(StatusCode::UNAUTHORIZED, code, message)
        .header(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"))
        .into_response()
}

/// 403 for a token used outside its scope (RFC 6750 `insufficient_scope`).
fn forbidden_scope(scope: TokenScope) -> Response {
    Problem::of(
        StatusCode::FORBIDDEN,
        vec![ProblemItem::new(
            "insufficient_scope",
            "This API token may only submit notifications (scope notify). Settings, test mails and the OAuth connection need a token created with --scope admin, or a signed-in administrator.",
        )
        .with("scope", scope.as_str())],
    )
    .header(
        header::WWW_AUTHENTICATE,
        HeaderValue::from_static("Bearer error=\"insufficient_scope\""),
    )
    .into_response()
}

/// Lets a request through only with a valid session (pages, server functions, REST) or a valid
/// API token (REST only). Pages without one redirect to the login, the rest get 401.
pub async fn require_login(
    State(state): State<AppState>,
    session: Session,
    mut req: Request,
    next: Next,
) -> Response {
    let base = state.base_path.as_str();
    let path = req.uri().path().to_string();
    // `/pkg/../ConMasManager/System/MailSetting` would pass as a bundle file here and be
    // resolved to a page later: paths with dot segments are refused before any decision.
    if has_dot_segment(&path) {
        return Problem::new(
            StatusCode::BAD_REQUEST,
            "path_dot_segment",
            "The path has a . or .. segment (perhaps percent-encoded); request the path itself.",
        )
        .into_response();
    }
    if is_public(base, req.method(), &path) {
        // The set-up page exists only while there is no administrator.
        if path == format!("{base}/System/Setup")
            && !matches!(state.backend.store.admin_count().await, Ok(0))
        {
            return Redirect::to(&format!("{base}/System/Login")).into_response();
        }
        return next.run(req).await;
    }
    let rest_api = path.starts_with(&format!("{base}/api/v1/"));
    if let Some(auth) = req.headers().get(header::AUTHORIZATION) {
        let offered = auth
            .to_str()
            .ok()
            .and_then(|v| v.strip_prefix("Bearer "))
            .map(str::trim);
        let principal = match offered {
            Some(token) if rest_api => authenticate_token(&state.backend.store, token).await,
            _ => Err(TokenRefusal::Invalid),
        };
        return match principal {
            Ok(p) => {
                if let Principal::Token { scope, .. } = &p
                    && !scope_allows(*scope, base, req.method(), &path)
                {
                    return forbidden_scope(*scope);
                }
                req.extensions_mut().insert(p);
                next.run(req).await
            }
            Err(TokenRefusal::Expired) => unauthenticated(
                "token_expired",
                "The API token has expired. Create a new one with `server token create --name … --expires-days …` and revoke the old one.",
            ),
            Err(TokenRefusal::Invalid) => unauthenticated(
                "invalid_token",
                "The API token is not valid (unknown, revoked or malformed), or tokens are not accepted here (they work on the REST API only). Create one with `server token create`.",
            ),
        };
    }
    if let Some(user) = session_user(&session, &state.session_policy).await {
        req.extensions_mut().insert(Principal::Admin(user));
        return next.run(req).await;
    }
    // Server functions live under `/api/`, the REST API under `{base}/api/`.
    let wants_page = req.method() == Method::GET
        && !path.starts_with("/api/")
        && !path.starts_with(&format!("{base}/api/"));
    if wants_page {
        let target = req
            .uri()
            .path_and_query()
            .map(|pq| pq.as_str().to_string())
            .unwrap_or(path);
        let login = format!(
            "{base}/System/Login?next={}",
            url::form_urlencoded::byte_serialize(target.as_bytes()).collect::<String>()
        );
        return Redirect::to(&login).into_response();
    }
    unauthenticated(
        "unauthenticated",
        "Sign in first (the session may have expired), or send an API token as `Authorization: Bearer …`.",
    )
}

async fn session_user(session: &Session, policy: &SessionPolicy) -> Option<String> {
    let user: String = session.get(SESSION_USER).await.ok().flatten()?;
    let login_at: i64 = session.get(SESSION_LOGIN_AT).await.ok().flatten()?;
    let age = now_secs().saturating_sub(login_at);
    if age < 0 || age as u64 > policy.absolute.as_secs() {
        let _ = session.flush().await;
        return None;
    }
    Some(user)
}

/// Signs `user` in on this session, under a new session id: an id planted before sign-in is
/// worth nothing after it.
async fn start_session(
    session: &Session,
    user: &str,
) -> Result<(), tower_sessions::session::Error> {
    session.cycle_id().await?;
    session.insert(SESSION_USER, user).await?;
    session.insert(SESSION_LOGIN_AT, now_secs()).await
}

#[derive(Deserialize)]
pub struct LoginForm {
    username: String,
    password: SecretString,
    next: Option<String>,
}

fn login_page(base: &str, error: &str, next: Option<&str>) -> String {
    let mut url = format!("{base}/System/Login?error={error}");
    if let Some(n) = next {
        url.push_str("&next=");
        url.extend(url::form_urlencoded::byte_serialize(n.as_bytes()));
    }
    url
}

/// Largest sign-in form accepted (the body is refused with 413 before it is read further).
pub const LOGIN_BODY_MAX: usize = 8 * 1024;

/// `POST {base}/System/Login`: the sign-in ([`sign_in`], in its fixed order), then a fresh
/// session (new id) and back to the page that was asked for. Every failure of the same kind
/// gets the same answer.
pub async fn login(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    session: Session,
    Form(form): Form<LoginForm>,
) -> Response {
    let base = state.base_path.as_str();
    let next = form.next.as_deref().filter(|n| !n.is_empty());
    let deps = SignIn {
        store: &state.backend.store,
        throttle: &state.access.throttle,
        hashing: &state.access.hashing,
    };
    let user = match sign_in(&deps, &form.username, form.password, peer.ip()).await {
        Ok(user) => user,
        Err(refused) => {
            return Redirect::to(&login_page(base, refused.code(), next)).into_response();
        }
    };
    if let Err(e) = start_session(&session, &user).await {
        tracing::error!(error = %e, "could not start a session");
        return Redirect::to(&login_page(base, "internal", next)).into_response();
    }
    Redirect::to(&safe_next(base, next)).into_response()
}

/// `POST {base}/System/Logout`: ends the session on the server and in the browser.
pub async fn logout(State(state): State<AppState>, session: Session) -> Response {
    if let Ok(Some(user)) = session.get::<String>(SESSION_USER).await {
        let _ = state.backend.store.audit(&user, "logout", "").await;
    }
    let _ = session.flush().await;
    Redirect::to(&format!(
        "{}/System/Login?error=logged_out",
        state.base_path
    ))
    .into_response()
}

#[derive(Deserialize)]
pub struct SetupForm {
    token: String,
    username: String,
    password: SecretString,
    confirm: SecretString,
}

/// `POST {base}/System/Setup`: the first administrator chooses a password with the one-time
/// token printed at the first start.
pub async fn setup(
    State(state): State<AppState>,
    session: Session,
    Form(form): Form<SetupForm>,
) -> Response {
    let base = state.base_path.as_str();
    let back = |code: &str| {
        let mut url = format!("{base}/System/Setup?error={code}&token=");
        url.extend(url::form_urlencoded::byte_serialize(form.token.as_bytes()));
        Redirect::to(&url).into_response()
    };
    let store = &state.backend.store;
    match crate::service::accounts::setup_token_valid(store, &form.token).await {
        Ok(true) => {}
        Ok(false) => {
            return Redirect::to(&format!("{base}/System/Setup?error=setup_token_invalid"))
                .into_response();
        }
        Err(e) => {
            crate::error::internal(&e);
            return back("internal");
        }
    }
    let username = form.username.trim().to_string();
    if let Err(code) = check_username(&username) {
        return back(code);
    }
    if let Err(code) = check_new_password(&username, &form.password) {
        return back(code);
    }
    if form.password.expose_secret() != form.confirm.expose_secret() {
        return back("password_mismatch");
    }
    let password = form.password;
    let hash = match tokio::task::spawn_blocking(move || hash_password(&password)).await {
        Ok(Ok(h)) => h,
        _ => return back("internal"),
    };
    match store.upsert_admin(&username, &hash, true).await {
        Ok(Some(_)) => {}
        Ok(None) => {
            return Redirect::to(&format!("{base}/System/Login")).into_response();
        }
        Err(e) => {
            crate::error::internal(&e);
            return back("internal");
        }
    }
    let _ = store.audit(&username, "admin_created", &username).await;
    if start_session(&session, &username).await.is_err() {
        return Redirect::to(&format!("{base}/System/Login")).into_response();
    }
    Redirect::to(&format!("{base}/System/MailSetting")).into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn next_stays_on_this_console() {
        let b = "/ConMasManager";
        assert_eq!(
            safe_next(b, Some("/ConMasManager/System/MailSetting/Edit?tab=google")),
            "/ConMasManager/System/MailSetting/Edit?tab=google"
        );
        for bad in [
            "https://evil.example/",
            "//evil.example/ConMasManager/",
            "/other/path",
            "/ConMasManager\\..\\x",
            "/ConMasManager/System/Login",
        ] {
            assert_eq!(
                safe_next(b, Some(bad)),
                "/ConMasManager/System/MailSetting",
                "{bad}"
            );
        }
    }

    #[test]
    fn dot_segments_are_recognised_however_written() {
        for bad in [
            "/pkg/../ConMasManager/System/MailSetting",
            "/pkg/%2e%2e/ConMasManager/System/MailSetting",
            "/pkg/%2E./x",
            "/pkg/./x",
            "/pkg/..",
            "/pkg/..%2fConMasManager",
            "/pkg/..\\ConMasManager",
        ] {
            assert!(has_dot_segment(bad), "{bad}");
        }
        for good in [
            "/pkg/mail-settings.0a1b.wasm",
            "/ConMasManager/System/MailSetting",
            "/pkg/a..b.js",
            "/",
        ] {
            assert!(!has_dot_segment(good), "{good}");
        }
    }
}
