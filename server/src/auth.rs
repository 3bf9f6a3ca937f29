//! Who may use the console: administrators (password, then a server-side session) and scripts
//! (bearer API tokens, REST only). Everything else is refused.

use crate::AppState;
use crate::secrets::random_text;
use crate::store::{NewToken, Store, TokenScope};
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
    Token { name: String, scope: TokenScope },
}

impl Principal {
    /// How the caller appears in the audit log.
    pub fn actor(&self) -> String {
        match self {
            Principal::Admin(name) => name.clone(),
            Principal::Token { name, .. } => format!("token:{name}"),
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

/// Sign-in throttling (GCRA: a burst, then one try per interval), decided before the password
/// is looked at and cheapest first, so that a flood costs almost nothing:
/// - per client address (IPv6 by /64): 20 tries, then one every 15 s. Checked first and alone:
///   an address over its limit makes the server remember nothing more (no account key, no log
///   line per try, at most one audit row a minute);
/// - per account *and* address: 10 tries, then one a minute;
/// - per account from anywhere: 30 tries, then one a minute, against guessing from many
///   addresses. It cannot be used to lock the owner out: a correct password from an address
///   with no failure in the last 15 minutes still gets in.
///
/// Every map is bounded: past [`Throttle::PRUNE_AT`] keys, the ones back at a full burst are
/// dropped, and if an attacker with very many addresses still keeps it full, it is cleared
/// (which only forgets throttling state, never lets a wrong password in).
pub struct Throttle {
    per_address: Bounded<IpAddr>,
    per_pair: Bounded<(String, IpAddr)>,
    per_account: Bounded<String>,
    /// One `login_throttled` audit row a minute per address.
    audit_throttled: Bounded<IpAddr>,
    /// When each address last failed a sign-in.
    failures: Mutex<std::collections::HashMap<IpAddr, std::time::Instant>>,
}

/// What the throttle says about a sign-in attempt, before the password is checked.
#[derive(Debug, PartialEq, Eq)]
pub enum Attempt {
    /// Over a limit: answer "throttled" without looking at the password.
    Refused,
    /// Check the password. `account_busy`: the account's own limit is spent, so only a correct
    /// password from an address without recent failures may get in.
    Check { account_busy: bool },
}

impl Throttle {
    /// Keys kept per map before pruning.
    pub const PRUNE_AT: usize = 10_000;
    /// How long a failure counts as recent for [`Attempt::Check::account_busy`].
    const FAILURE_MEMORY: Duration = Duration::from_secs(15 * 60);

    pub fn new() -> Throttle {
        let nz = |n: u32| NonZeroU32::new(n).expect("non-zero");
        Throttle {
            per_address: Bounded::new(
                Quota::with_period(Duration::from_secs(15))
                    .expect("non-zero period")
                    .allow_burst(nz(20)),
            ),
            per_pair: Bounded::new(Quota::per_minute(nz(1)).allow_burst(nz(10))),
            per_account: Bounded::new(Quota::per_minute(nz(1)).allow_burst(nz(30))),
            audit_throttled: Bounded::new(Quota::per_minute(nz(1))),
            failures: Mutex::new(std::collections::HashMap::new()),
        }
    }

    /// Addresses are throttled by host (IPv4) or by /64 (IPv6: one subscriber's prefix).
    pub fn client_key(ip: IpAddr) -> IpAddr {
        match ip {
            IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
                Some(v4) => IpAddr::V4(v4),
                None => {
                    let bits = u128::from(v6) & !((1u128 << 64) - 1);
                    IpAddr::V6(std::net::Ipv6Addr::from(bits))
                }
            },
            v4 => v4,
        }
    }

    /// The address's own limit, checked before anything else about the attempt.
    pub fn address_allows(&self, address: IpAddr) -> bool {
        self.per_address.check(&address)
    }

    /// The account limits, for an address within its own limit. `account` is the user name as
    /// typed, already length-checked.
    pub fn attempt(&self, account: &str, address: IpAddr) -> Attempt {
        let account = account.to_lowercase();
        if !self.per_pair.check(&(account.clone(), address)) {
            return Attempt::Refused;
        }
        Attempt::Check {
            account_busy: !self.per_account.check(&account),
        }
    }

    /// Records a failed password from `address`.
    pub fn failed(&self, address: IpAddr) {
        let now = std::time::Instant::now();
        let mut failures = self.failures.lock().unwrap_or_else(|e| e.into_inner());
        if failures.len() >= Self::PRUNE_AT {
            failures.retain(|_, at| now.duration_since(*at) < Self::FAILURE_MEMORY);
            if failures.len() >= Self::PRUNE_AT {
                failures.clear();
            }
        }
        failures.insert(address, now);
    }

    /// True when `address` failed a sign-in within the last 15 minutes.
    pub fn failed_recently(&self, address: IpAddr) -> bool {
        let failures = self.failures.lock().unwrap_or_else(|e| e.into_inner());
        failures
            .get(&address)
            .is_some_and(|at| at.elapsed() < Self::FAILURE_MEMORY)
    }

    /// True at most once a minute per address: whether to write a `login_throttled` row.
    pub fn audit_throttled(&self, address: IpAddr) -> bool {
        self.audit_throttled.check(&address)
    }

    /// Keys held over all maps (for the flood tests and the health report).
    pub fn tracked_keys(&self) -> usize {
        self.per_address.len()
            + self.per_pair.len()
            + self.per_account.len()
            + self.audit_throttled.len()
            + self.failures.lock().map(|f| f.len()).unwrap_or(0)
    }
}

/// A keyed limiter whose map stays within [`Throttle::PRUNE_AT`] keys.
struct Bounded<K: std::hash::Hash + Eq + Clone> {
    quota: Quota,
    limiter: std::sync::RwLock<DefaultKeyedRateLimiter<K>>,
}

impl<K: std::hash::Hash + Eq + Clone> Bounded<K> {
    fn new(quota: Quota) -> Self {
        Bounded {
            quota,
            limiter: std::sync::RwLock::new(RateLimiter::keyed(quota)),
        }
    }

    /// Takes one try for `key`; false when its limit is spent.
    fn check(&self, key: &K) -> bool {
        let (ok, full) = {
            let limiter = self.limiter.read().unwrap_or_else(|e| e.into_inner());
            (
                limiter.check_key(key).is_ok(),
                limiter.len() >= Throttle::PRUNE_AT,
            )
        };
        if full {
            self.prune();
        }
        ok
    }

    /// Drops the keys back at a full burst; if the map is still full of active keys, starts
    /// afresh.
    fn prune(&self) {
        let mut limiter = self.limiter.write().unwrap_or_else(|e| e.into_inner());
        limiter.retain_recent();
        if limiter.len() >= Throttle::PRUNE_AT {
            tracing::warn!(
                keys = limiter.len(),
                "sign-in throttle full of active keys; forgetting them"
            );
            *limiter = RateLimiter::keyed(self.quota);
        }
        limiter.shrink_to_fit();
    }

    fn len(&self) -> usize {
        self.limiter.read().map(|l| l.len()).unwrap_or(0)
    }
}

/// A user name as it may appear in a log line or the audit log when nobody has that name: at
/// most 64 characters, control characters replaced. An unknown name may be anything an
/// attacker typed.
pub fn loggable_name(name: &str) -> String {
    const MAX: usize = 64;
    let mut out: String = name
        .chars()
        .take(MAX)
        .map(|c| if c.is_control() { '?' } else { c })
        .collect();
    if name.chars().count() > MAX {
        out.push('…');
    }
    out
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

/// Longest life a token may be given, in days (ten years).
pub const TOKEN_EXPIRY_DAYS_MAX: u32 = 3650;

/// Creates an API token and records it; the token is returned once and never stored.
pub async fn create_api_token(
    store: &Store,
    name: &str,
    scope: TokenScope,
    expires_days: Option<u32>,
    created_by: &str,
) -> anyhow::Result<SecretString> {
    let name = name.trim();
    if name.is_empty() || name.chars().count() > 100 || name.chars().any(char::is_control) {
        anyhow::bail!("a token name must be 1 to 100 characters, without control characters");
    }
    if let Some(days) = expires_days
        && !(1..=TOKEN_EXPIRY_DAYS_MAX).contains(&days)
    {
        anyhow::bail!(
            "--expires-days must be 1 to {TOKEN_EXPIRY_DAYS_MAX}; leave it out for a token that does not expire"
        );
    }
    let (token, prefix, hash) = new_api_token();
    store
        .insert_token(&NewToken {
            name,
            prefix: &prefix,
            hash: &hash,
            created_by,
            scope,
            expires_days,
        })
        .await?;
    let expiry = expires_days.map_or_else(|| "no expiry".to_string(), |d| format!("{d} days"));
    store
        .audit(
            created_by,
            "token_created",
            &format!("{name} ({prefix}, {}, {expiry})", scope.as_str()),
        )
        .await
        .context("Failed to audit the API token")?;
    Ok(token)
}

/// Why an offered token was not accepted.
enum TokenRefusal {
    Invalid,
    Expired,
}

async fn token_principal(store: &Store, offered: &str) -> Result<Principal, TokenRefusal> {
    let rest = offered.strip_prefix("mst_").ok_or(TokenRefusal::Invalid)?;
    let (prefix, _) = rest.split_once('_').ok_or(TokenRefusal::Invalid)?;
    // A prefix is 12 hex digits: anything else is not looked up.
    if prefix.len() != 12 || !prefix.bytes().all(|b| b.is_ascii_hexdigit()) || offered.len() > 128 {
        return Err(TokenRefusal::Invalid);
    }
    let stored = store
        .live_token(prefix)
        .await
        .ok()
        .flatten()
        .ok_or(TokenRefusal::Invalid)?;
    let offered_hash = Sha256::digest(offered.as_bytes());
    if !bool::from(offered_hash.as_slice().ct_eq(&stored.hash)) {
        return Err(TokenRefusal::Invalid);
    }
    if stored.expired {
        return Err(TokenRefusal::Expired);
    }
    if let Err(e) = store.touch_token(prefix).await {
        tracing::warn!(error = %e, "could not note an API token's use");
    }
    Ok(Principal::Token {
        name: stored.name,
        scope: stored.scope,
    })
}

/// What a token of `scope` may call: a `notify` token only submits notifications.
fn scope_allows(scope: TokenScope, base: &str, method: &Method, path: &str) -> bool {
    match scope {
        TokenScope::Admin => true,
        TokenScope::Notify => {
            method == Method::POST && path == format!("{base}/api/v1/notifications")
        }
    }
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

/// 403 for a token used outside its scope (RFC 6750 `insufficient_scope`).
fn forbidden_scope(scope: TokenScope) -> Response {
    let mut res = (
        StatusCode::FORBIDDEN,
        Json(serde_json::json!({
            "error": "insufficient_scope",
            "scope": scope.as_str(),
            "message": "This API token may only submit notifications (scope notify). Settings, test mails and the OAuth connection need a token created with --scope admin, or a signed-in administrator.",
        })),
    )
        .into_response();
    res.headers_mut().insert(
        header::WWW_AUTHENTICATE,
        HeaderValue::from_static("Bearer error=\"insufficient_scope\""),
    );
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
    // `/pkg/../ConMasManager/System/MailSetting` would pass as a bundle file here and be
    // resolved to a page later: paths with dot segments are refused before any decision.
    if has_dot_segment(&path) {
        return (StatusCode::BAD_REQUEST, "The path has a . or .. segment.").into_response();
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
            Some(token) if rest_api => token_principal(&state.backend.store, token).await,
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

/// Largest sign-in form accepted (the body is refused with 413 before it is read further).
pub const LOGIN_BODY_MAX: usize = 8 * 1024;
/// Longest user name and password looked at; longer ones fail at once, without a database
/// look-up or a hash.
pub const USERNAME_INPUT_MAX: usize = 256;
pub const PASSWORD_INPUT_MAX: usize = 1024;

/// `POST {base}/System/Login`: checks the password, starts a fresh session (new id) and returns
/// to the page that was asked for. Every failure gets the same answer. The throttle decides
/// first (see [`Throttle`]); sizes are capped before any work.
pub async fn login(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    session: Session,
    Form(form): Form<LoginForm>,
) -> Response {
    let base = state.base_path.as_str();
    let store = &state.backend.store;
    let throttle = &state.access.throttle;
    let address = Throttle::client_key(peer.ip());
    let username = form.username.trim().to_string();
    let shown = loggable_name(&username);
    let next = form.next.as_deref().filter(|n| !n.is_empty());
    let throttled = |account_known: bool| {
        tracing::warn!(user = %shown, %address, "login throttled");
        let audit = throttle.audit_throttled(address);
        let shown = shown.clone();
        async move {
            // One audit row a minute per address, whatever the flood.
            if audit {
                let detail = if account_known {
                    address.to_string()
                } else {
                    format!("{address} (unknown or oversized name)")
                };
                let _ = store.audit(&shown, "login_throttled", &detail).await;
            }
            Redirect::to(&login_page(base, "throttled", next)).into_response()
        }
    };
    if !throttle.address_allows(address) {
        return throttled(false).await;
    }
    if username.len() > USERNAME_INPUT_MAX
        || form.password.expose_secret().len() > PASSWORD_INPUT_MAX
    {
        throttle.failed(address);
        tracing::info!(user = %shown, %address, "login failed: oversized input");
        let _ = store
            .audit(&shown, "login_failed", &format!("{address} (oversized)"))
            .await;
        return Redirect::to(&login_page(base, "invalid", next)).into_response();
    }
    let account_busy = match throttle.attempt(&username, address) {
        Attempt::Refused => return throttled(true).await,
        // The account's own limit is spent (guessing from many addresses): only an address
        // without recent failures may still try, so its owner is never locked out.
        Attempt::Check { account_busy: true } if throttle.failed_recently(address) => {
            return throttled(true).await;
        }
        Attempt::Check { account_busy } => account_busy,
    };
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
    // A few password checks at a time: each costs 19 MiB and tens of milliseconds of CPU, and
    // a flood must not take every blocking thread.
    let Ok(_permit) = state.access.hashing.acquire().await else {
        return Redirect::to(&login_page(base, "internal", next)).into_response();
    };
    let ok = tokio::task::spawn_blocking(move || verify_password(&hash, &password))
        .await
        .unwrap_or(false);
    let Some(user) = user.filter(|_| ok) else {
        throttle.failed(address);
        tracing::info!(user = %shown, %address, "login failed");
        let _ = store
            .audit(&shown, "login_failed", &address.to_string())
            .await;
        let error = if account_busy { "throttled" } else { "invalid" };
        return Redirect::to(&login_page(base, error, next)).into_response();
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
    /// Password checks running at once (see [`login`]).
    pub hashing: tokio::sync::Semaphore,
}

impl AccessState {
    pub fn new() -> Arc<AccessState> {
        Arc::new(AccessState {
            throttle: Throttle::new(),
            setup: SetupToken::default(),
            hashing: tokio::sync::Semaphore::new(2),
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

    fn allowed(t: &Throttle, account: &str, ip: IpAddr) -> bool {
        t.address_allows(ip)
            && t.attempt(account, ip)
                == Attempt::Check {
                    account_busy: false,
                }
    }

    #[test]
    fn throttle_blocks_an_account_from_one_address_after_a_burst() {
        let t = Throttle::new();
        let ip: IpAddr = "192.0.2.1".parse().unwrap();
        let passed = (0..15).filter(|_| allowed(&t, "Admin", ip)).count();
        assert_eq!(passed, 10);
        // The same account from another address, another account: not affected.
        assert!(allowed(&t, "admin", "192.0.2.2".parse().unwrap()));
        assert!(allowed(&t, "other", ip));
    }

    #[test]
    fn an_address_over_its_limit_adds_no_keys() {
        let t = Throttle::new();
        let ip: IpAddr = "192.0.2.1".parse().unwrap();
        for n in 0..1000 {
            if t.address_allows(ip) {
                let _ = t.attempt(&format!("user{n}"), ip);
            }
        }
        // 1 address + 20 pairs + 20 accounts, not 1000 of each.
        assert_eq!(t.tracked_keys(), 41);
    }

    #[test]
    fn ipv6_clients_are_throttled_by_their_64_prefix() {
        let a: IpAddr = "2001:db8:1:2:aaaa::1".parse().unwrap();
        let b: IpAddr = "2001:db8:1:2:bbbb::2".parse().unwrap();
        assert_eq!(Throttle::client_key(a), Throttle::client_key(b));
        let mapped: IpAddr = "::ffff:192.0.2.7".parse().unwrap();
        assert_eq!(
            Throttle::client_key(mapped),
            "192.0.2.7".parse::<IpAddr>().unwrap()
        );
    }

    #[test]
    fn unknown_names_are_logged_short_and_safe() {
        assert_eq!(loggable_name("admin"), "admin");
        let long = "x".repeat(50_000);
        assert_eq!(loggable_name(&long).chars().count(), 65);
        assert_eq!(loggable_name("a\r\nb\u{1b}"), "a??b?");
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
