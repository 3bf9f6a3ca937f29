//! Who may use the console: administrators (password, then a server-side session) and scripts
//! (bearer API tokens, REST only). Everything else is refused.

use crate::AppState;
use crate::secrets::random_text;
use crate::store::Store;
use anyhow::Context as _;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::{Algorithm, Argon2, Params, Version};
use axum::Json;
use axum::extract::{ConnectInfo, Form, Request, State};
use axum::http::{HeaderValue, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Redirect, Response};
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use sha2::{Digest, Sha256};
use std::net::{IpAddr, SocketAddr};
use std::num::NonZeroU32;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use subtle::ConstantTimeEq as _;
use tower_sessions::Session;

/// Session keys.
const SESSION_USER: &str = "admin";
const SESSION_LOGIN_AT: &str = "login_at";

/// Password rules for administrators (NIST SP 800-63B: length, not composition).
pub const PASSWORD_MIN: usize = 12;
pub const PASSWORD_MAX: usize = 256;

/// The authenticated caller of a request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Principal {
    Admin(String),
    Token(String),
}

impl Principal {
    /// How the caller appears in the audit log.
    pub fn actor(&self) -> String {
        match self {
            Principal::Admin(name) => name.clone(),
            Principal::Token(name) => format!("token:{name}"),
        }
    }
}

/// Session lifetimes: idle (sliding, enforced by the session store) and absolute (from login).
#[derive(Clone, Copy, Debug)]
pub struct SessionPolicy {
    pub idle: Duration,
    pub absolute: Duration,
}

fn argon2() -> Argon2<'static> {
    // OWASP's Argon2id minimum: m = 19 MiB, t = 2, p = 1.
    Argon2::new(
        Algorithm::Argon2id,
        Version::V0x13,
        Params::new(19 * 1024, 2, 1, None).expect("valid Argon2 parameters"),
    )
}

/// Why a chosen password is refused; the text is shown to the administrator.
pub fn check_new_password(username: &str, password: &SecretString) -> Result<(), &'static str> {
    let p = password.expose_secret();
    let len = p.chars().count();
    if len < PASSWORD_MIN {
        return Err("password_too_short");
    }
    if len > PASSWORD_MAX {
        return Err("password_too_long");
    }
    if p.eq_ignore_ascii_case(username) {
        return Err("password_is_username");
    }
    Ok(())
}

/// Checks a user name for an administrator account.
pub fn check_username(username: &str) -> Result<(), &'static str> {
    let ok = (1..=64).contains(&username.len())
        && username
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"._-@".contains(&b));
    if ok { Ok(()) } else { Err("username_invalid") }
}

/// Both checks for an account made outside the page, with errors that name where the value
/// came from (`ADMIN_USER`, `--user`, …).
pub fn check_new_admin(
    username: &str,
    password: &SecretString,
    user_source: &str,
    password_source: &str,
) -> anyhow::Result<()> {
    check_username(username).map_err(|_| {
        anyhow::anyhow!("{user_source} may hold letters, digits and . _ - @ (1 to 64)")
    })?;
    check_new_password(username, password).map_err(|_| {
        anyhow::anyhow!(
            "{password_source} must be {PASSWORD_MIN} to {PASSWORD_MAX} characters and differ from the user name"
        )
    })
}

/// An Argon2id PHC string for `password`.
pub fn hash_password(password: &SecretString) -> anyhow::Result<String> {
    let salt = SaltString::generate(&mut argon2::password_hash::rand_core::OsRng);
    argon2()
        .hash_password(password.expose_secret().as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| anyhow::anyhow!("Failed to hash a password: {e}"))
}

/// A hash to verify against when the user does not exist, so both cases take as long.
fn dummy_hash() -> &'static str {
    static DUMMY: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    DUMMY.get_or_init(|| {
        hash_password(&SecretString::from("not-a-real-password-000"))
            .expect("hashing a constant works")
    })
}

fn verify_password(hash: &str, password: &SecretString) -> bool {
    PasswordHash::new(hash)
        .map(|parsed| {
            argon2()
                .verify_password(password.expose_secret().as_bytes(), &parsed)
                .is_ok()
        })
        .unwrap_or(false)
}

/// Login throttling per account and per client address (GCRA; a burst, then one try per
/// interval). Limits are checked before the password is looked at.
pub struct Throttle {
    per_account: DefaultKeyedRateLimiter<String>,
    per_address: DefaultKeyedRateLimiter<IpAddr>,
}

impl Throttle {
    pub fn new() -> Throttle {
        let nz = |n: u32| NonZeroU32::new(n).expect("non-zero");
        Throttle {
            // 10 tries, then one a minute for the same account.
            per_account: RateLimiter::keyed(Quota::per_minute(nz(1)).allow_burst(nz(10))),
            // 20 tries, then one every 15 s from the same address.
            per_address: RateLimiter::keyed(
                Quota::with_period(Duration::from_secs(15))
                    .expect("non-zero period")
                    .allow_burst(nz(20)),
            ),
        }
    }

    fn allow(&self, username: &str, address: IpAddr) -> bool {
        let account_ok = self.per_account.check_key(&username.to_lowercase()).is_ok();
        let address_ok = self.per_address.check_key(&address).is_ok();
        account_ok && address_ok
    }
}

impl Default for Throttle {
    fn default() -> Self {
        Throttle::new()
    }
}

/// The one-time token that lets the first administrator choose a password.
#[derive(Default)]
pub struct SetupToken(Mutex<Option<SecretString>>);

impl SetupToken {
    pub fn issue(&self) -> SecretString {
        let token = SecretString::from(random_text(24));
        *self.0.lock().expect("setup token lock") = Some(token.clone());
        token
    }

    fn matches(&self, offered: &str) -> bool {
        self.0
            .lock()
            .expect("setup token lock")
            .as_ref()
            .is_some_and(|t| bool::from(t.expose_secret().as_bytes().ct_eq(offered.as_bytes())))
    }

    fn clear(&self) {
        *self.0.lock().expect("setup token lock") = None;
    }
}

/// A new API token: `mst_<prefix>_<secret>`. Returns (token, prefix, SHA-256 of the token).
pub fn new_api_token() -> (SecretString, String, Vec<u8>) {
    use argon2::password_hash::rand_core::{OsRng, RngCore as _};
    let mut p = [0u8; 6];
    OsRng.fill_bytes(&mut p);
    let prefix: String = p.iter().map(|b| format!("{b:02x}")).collect();
    let token = format!("mst_{prefix}_{}", random_text(32));
    let hash = Sha256::digest(token.as_bytes()).to_vec();
    (SecretString::from(token), prefix, hash)
}

/// Creates an API token and records it; the token is returned once and never stored.
pub async fn create_api_token(
    store: &Store,
    name: &str,
    created_by: &str,
) -> anyhow::Result<SecretString> {
    let name = name.trim();
    if name.is_empty() || name.chars().count() > 100 || name.chars().any(char::is_control) {
        anyhow::bail!("a token name must be 1 to 100 characters, without control characters");
    }
    let (token, prefix, hash) = new_api_token();
    store
        .insert_token(name, &prefix, &hash, created_by)
        .await
        .context("Failed to store the API token")?;
    store
        .audit(created_by, "token_created", &format!("{name} ({prefix})"))
        .await
        .context("Failed to audit the API token")?;
    Ok(token)
}

async fn token_principal(store: &Store, offered: &str) -> Option<Principal> {
    let rest = offered.strip_prefix("mst_")?;
    let (prefix, _) = rest.split_once('_')?;
    let (name, hash) = store.live_token(prefix).await.ok().flatten()?;
    let offered_hash = Sha256::digest(offered.as_bytes());
    if !bool::from(offered_hash.as_slice().ct_eq(&hash)) {
        return None;
    }
    if let Err(e) = store.touch_token(prefix).await {
        tracing::warn!(error = %e, "could not note an API token's use");
    }
    Some(Principal::Token(name))
}

/// Creates the first administrator from `ADMIN_USER` / `ADMIN_PASSWORD` when none exists, or
/// issues a one-time setup token and prints where to use it.
pub async fn bootstrap(
    store: &Store,
    admin: Option<(String, SecretString)>,
    setup: &SetupToken,
    setup_url: &str,
) -> anyhow::Result<()> {
    if store.admin_count().await? > 0 {
        return Ok(());
    }
    match admin {
        Some((user, password)) => {
            check_new_admin(&user, &password, "ADMIN_USER", "ADMIN_PASSWORD")?;
            let hash = hash_password(&password)?;
            if store.upsert_admin(&user, &hash, true).await? == Some(true) {
                store.audit("system", "admin_created", &user).await?;
                tracing::info!(
                    user,
                    "created the first administrator from ADMIN_USER/ADMIN_PASSWORD"
                );
            }
        }
        None => {
            let token = setup.issue();
            // Printed, not logged: the console of the first start is where the operator looks.
            println!(
                "\nNo administrator exists yet. Open this address once to choose the password:\n  {setup_url}?token={}\n",
                token.expose_secret()
            );
        }
    }
    Ok(())
}

/// Paths that need no login.
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
    let mut res = (
        StatusCode::UNAUTHORIZED,
        Json(serde_json::json!({ "error": code, "message": message })),
    )
        .into_response();
    res.headers_mut()
        .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
    res
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
            Some(token) if rest_api => token_principal(&state.backend.store, token).await,
            _ => None,
        };
        return match principal {
            Some(p) => {
                req.extensions_mut().insert(p);
                next.run(req).await
            }
            None => unauthenticated(
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

fn now_secs() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
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

/// `POST {base}/System/Login`: checks the password, starts a fresh session (new id) and returns
/// to the page that was asked for. Every failure gets the same answer.
pub async fn login(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    session: Session,
    Form(form): Form<LoginForm>,
) -> Response {
    let base = state.base_path.as_str();
    let store = &state.backend.store;
    let username = form.username.trim().to_string();
    let next = form.next.as_deref().filter(|n| !n.is_empty());
    if !state.access.throttle.allow(&username, peer.ip()) {
        tracing::warn!(user = %username, address = %peer.ip(), "login throttled");
        let _ = store
            .audit(&username, "login_throttled", &peer.ip().to_string())
            .await;
        return Redirect::to(&login_page(base, "throttled", next)).into_response();
    }
    // An unknown user is checked against a dummy hash: both failures take as long.
    let (user, hash) = match store.admin_password_hash(&username).await {
        Ok(Some((user, hash))) => (Some(user), hash),
        Ok(None) => (None, dummy_hash().to_string()),
        Err(e) => {
            // Logged with its cause chain under a reference.
            crate::backend::internal(&e);
            return Redirect::to(&login_page(base, "internal", next)).into_response();
        }
    };
    let password = form.password;
    let ok = tokio::task::spawn_blocking(move || verify_password(&hash, &password))
        .await
        .unwrap_or(false);
    let Some(user) = user.filter(|_| ok) else {
        tracing::info!(user = %username, address = %peer.ip(), "login failed");
        let _ = store
            .audit(&username, "login_failed", &peer.ip().to_string())
            .await;
        return Redirect::to(&login_page(base, "invalid", next)).into_response();
    };
    if let Err(e) = start_session(&session, &user).await {
        tracing::error!(error = %e, "could not start a session");
        return Redirect::to(&login_page(base, "internal", next)).into_response();
    }
    tracing::info!(user, "logged in");
    let _ = store.audit(&user, "login", &peer.ip().to_string()).await;
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
    if !state.access.setup.matches(&form.token) {
        return Redirect::to(&format!("{base}/System/Setup?error=setup_token_invalid"))
            .into_response();
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
    match state
        .backend
        .store
        .upsert_admin(&username, &hash, true)
        .await
    {
        Ok(Some(_)) => {}
        Ok(None) => {
            state.access.setup.clear();
            return Redirect::to(&format!("{base}/System/Login")).into_response();
        }
        Err(e) => {
            crate::backend::internal(&e);
            return back("internal");
        }
    }
    state.access.setup.clear();
    let _ = state
        .backend
        .store
        .audit(&username, "admin_created", &username)
        .await;
    if start_session(&session, &username).await.is_err() {
        return Redirect::to(&format!("{base}/System/Login")).into_response();
    }
    Redirect::to(&format!("{base}/System/MailSetting")).into_response()
}

/// Shared between handlers.
pub struct AccessState {
    pub throttle: Throttle,
    pub setup: SetupToken,
}

impl AccessState {
    pub fn new() -> Arc<AccessState> {
        Arc::new(AccessState {
            throttle: Throttle::new(),
            setup: SetupToken::default(),
        })
    }
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
    fn passwords_hash_and_verify() {
        let p = SecretString::from("correct horse battery");
        let h = hash_password(&p).unwrap();
        assert!(h.starts_with("$argon2id$"));
        assert!(verify_password(&h, &p));
        assert!(!verify_password(&h, &SecretString::from("wrong")));
        assert!(!verify_password("garbage", &p));
    }

    #[test]
    fn password_rules() {
        assert_eq!(
            check_new_password("admin", &SecretString::from("short")),
            Err("password_too_short")
        );
        assert_eq!(
            check_new_password("administrator1", &SecretString::from("Administrator1")),
            Err("password_is_username")
        );
        assert!(check_new_password("admin", &SecretString::from("a long pass phrase")).is_ok());
        assert!(check_username("ops.admin@example").is_ok());
        assert!(check_username("bad name").is_err());
    }

    #[test]
    fn throttle_blocks_after_a_burst() {
        let t = Throttle::new();
        let ip: IpAddr = "192.0.2.1".parse().unwrap();
        let allowed = (0..15).filter(|_| t.allow("Admin", ip)).count();
        assert_eq!(allowed, 10);
        // Another account from another address is not affected.
        assert!(t.allow("other", "192.0.2.2".parse().unwrap()));
    }

    #[test]
    fn api_tokens_are_random_and_hashed() {
        let (a, pa, ha) = new_api_token();
        let (b, pb, _) = new_api_token();
        assert_ne!(a.expose_secret(), b.expose_secret());
        assert_ne!(pa, pb);
        assert!(a.expose_secret().starts_with(&format!("mst_{pa}_")));
        assert_eq!(ha, Sha256::digest(a.expose_secret().as_bytes()).to_vec());
    }
}
