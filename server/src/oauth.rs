//! OAuth 2.0 with Microsoft (identity platform v2 + Graph) and Google: the authorization code
//! flow with PKCE, the callback, and the tokens that keep the connection alive.
//!
//! - `state` is random, single-use, expires after 10 minutes and lives in the administrator's
//!   server-side session, with the PKCE verifier and the settings version it was started for.
//! - The redirect URI is the one the page shows for registration (ManagerRoot + callback path);
//!   each provider has its own callback, which is also the defence against mix-up.
//! - The HTTP client follows no redirects and has timeouts.
//! - Tokens are stored only through [`Store`], sealed; they never reach a response or a log
//!   line. Errors are classified into [`OauthCode`]s plus the provider's code.

use crate::clock::now_secs;
use crate::clock::utc_text;
use crate::config::ProviderEndpoints;
use crate::store::{Connection, Store, StoreError, Tokens, secret_names};
use app::domain::{
    ManagerRoot, OauthCode, OauthProblem, OauthStatus, Provider, SettingsView, check_settings,
    missing_scopes, parse_date,
};
use oauth2::basic::{
    BasicRevocationErrorResponse, BasicTokenIntrospectionResponse, BasicTokenType,
};
use oauth2::{
    AuthType, AuthUrl, AuthorizationCode, ClientId, ClientSecret, CsrfToken, EndpointNotSet,
    EndpointSet, ErrorResponse, ExtraTokenFields, PkceCodeChallenge, PkceCodeVerifier, RedirectUrl,
    RefreshToken, Scope, StandardRevocableToken, StandardTokenResponse, TokenResponse, TokenUrl,
};
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};
use std::fmt;
use std::net::IpAddr;
use std::time::Duration;
use subtle::ConstantTimeEq;

mod classify;

use classify::{classify_redirect_error, classify_token_error, network_outcome};

/// How long the consent screen may stay open.
pub const STATE_LIFETIME_SECS: i64 = 600;
/// An access token this close to expiry is refreshed before use.
const REFRESH_AHEAD_SECS: i64 = 300;
/// The keep-alive refreshes a connection whose last refresh is older than this, so a dead
/// refresh token is found before a notification needs it (and Microsoft's inactivity expiry
/// never starts).
const KEEPALIVE_AFTER_SECS: i64 = 12 * 3600;
/// Session key of the connect attempt under way.
pub const PENDING_KEY: &str = "oauth_pending";

/// Fields of the token response beyond RFC 6749's.
#[derive(Clone, Deserialize, Serialize)]
pub struct IdTokenField {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    id_token: Option<String>,
}

impl fmt::Debug for IdTokenField {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("IdTokenField([REDACTED])")
    }
}

impl ExtraTokenFields for IdTokenField {}

type TokenAnswer = StandardTokenResponse<IdTokenField, BasicTokenType>;

/// A token endpoint's error answer: RFC 6749 §5.2 plus Microsoft's `error_codes`.
#[derive(Clone, Debug, Deserialize, Serialize)]
pub struct ProviderError {
    pub error: String,
    #[serde(default)]
    pub error_description: Option<String>,
    #[serde(default)]
    pub error_codes: Vec<u64>,
}

impl fmt::Display for ProviderError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {:?}", self.error, self.error_codes)
    }
}

impl ErrorResponse for ProviderError {}

type OauthClient = oauth2::Client<
    ProviderError,
    TokenAnswer,
    BasicTokenIntrospectionResponse,
    StandardRevocableToken,
    BasicRevocationErrorResponse,
    EndpointSet,
    EndpointNotSet,
    EndpointNotSet,
    EndpointNotSet,
    EndpointSet,
>;

/// A connect attempt under way, kept in the administrator's session.
#[derive(Clone, Serialize, Deserialize)]
pub struct Pending {
    state: String,
    verifier: String,
    provider: Provider,
    settings_version: i64,
    redirect_uri: String,
    created_at: i64,
}

/// The outcome of a step, with the provider's own code for the administrator.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Outcome {
    pub code: OauthCode,
    pub detail: String,
}

impl Outcome {
    fn new(code: OauthCode, detail: impl Into<String>) -> Self {
        Outcome {
            code,
            detail: detail.into(),
        }
    }
}

pub struct OauthService {
    store: Store,
    endpoints: ProviderEndpoints,
    http: reqwest::Client,
    server_ip: Option<IpAddr>,
    /// One refresh at a time: concurrent callers wait and reuse its result.
    refresh_lock: tokio::sync::Mutex<()>,
    /// Counts finished refreshes, so a caller that waited knows one happened meanwhile.
    refreshes: std::sync::atomic::AtomicU64,
}

/// Why no access token could be handed out.
#[derive(Debug, thiserror::Error)]
pub enum TokenError {
    #[error("not connected")]
    NotConnected,
    #[error("the token could not be refreshed: {}", .0.code.as_str())]
    Refresh(Outcome),
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl OauthService {
    pub fn new(store: Store, endpoints: ProviderEndpoints, server_ip: Option<IpAddr>) -> Self {
        let http = crate::http_client::new(&endpoints);
        OauthService {
            store,
            endpoints,
            http,
            server_ip,
            refresh_lock: tokio::sync::Mutex::new(()),
            refreshes: std::sync::atomic::AtomicU64::new(0),
        }
    }

    fn authorize_url(&self, s: &SettingsView) -> String {
        match s.oauth.provider {
            Provider::Microsoft => format!(
                "{}/{}/oauth2/v2.0/authorize",
                self.endpoints.microsoft_authority,
                s.oauth.tenant_id.trim()
            ),
            Provider::Google => self.endpoints.google_auth.clone(),
        }
    }

    fn token_url(&self, s: &SettingsView) -> String {
        match s.oauth.provider {
            Provider::Microsoft => format!(
                "{}/{}/oauth2/v2.0/token",
                self.endpoints.microsoft_authority,
                s.oauth.tenant_id.trim()
            ),
            Provider::Google => self.endpoints.google_token.clone(),
        }
    }

    /// The redirect URI for `provider`, exactly as the page shows it for registration.
    pub fn redirect_uri(&self, s: &SettingsView) -> Option<String> {
        ManagerRoot::parse(&s.manager_root)
            .ok()
            .map(|root| root.redirect_uri(s.oauth.provider, self.server_ip))
    }

    /// The saved OAuth settings are complete (for the saved provider), with the client secret.
    async fn credentials(&self) -> Result<(SettingsView, SecretString), Outcome> {
        let settings = self.store.load().await.map_err(store_outcome)?;
        let mut as_oauth = settings.clone();
        as_oauth.auth = app::domain::AuthType::Oauth;
        if !check_settings(&as_oauth).is_empty() {
            return Err(Outcome::new(OauthCode::SettingsIncomplete, ""));
        }
        let secret = self
            .store
            .secret(secret_names::OAUTH_CLIENT_SECRET)
            .await
            .map_err(store_outcome)?
            .ok_or_else(|| Outcome::new(OauthCode::SettingsIncomplete, ""))?;
        Ok((settings, secret))
    }

    fn client(
        &self,
        s: &SettingsView,
        secret: &SecretString,
        redirect_uri: Option<&str>,
    ) -> Result<OauthClient, Outcome> {
        let bad = |what: &str| Outcome::new(OauthCode::SettingsIncomplete, what);
        let mut client = oauth2::Client::new(ClientId::new(s.oauth.client_id.trim().to_string()))
            .set_client_secret(ClientSecret::new(secret.expose_secret().to_string()))
            .set_auth_uri(AuthUrl::new(self.authorize_url(s)).map_err(|_| bad("authorize URL"))?)
            .set_token_uri(TokenUrl::new(self.token_url(s)).map_err(|_| bad("token URL"))?)
            // Both providers document the secret in the form body.
            .set_auth_type(AuthType::RequestBody);
        if let Some(uri) = redirect_uri {
            client = client.set_redirect_uri(
                RedirectUrl::new(uri.to_string()).map_err(|_| bad("redirect URI"))?,
            );
        }
        Ok(client)
    }

    /// Starts a connection: the provider's consent URL and what the session must remember.
    pub async fn begin(&self) -> Result<(String, Pending), Outcome> {
        let (settings, secret) = self.credentials().await?;
        let redirect_uri = self
            .redirect_uri(&settings)
            .ok_or_else(|| Outcome::new(OauthCode::SettingsIncomplete, "manager_root"))?;
        let client = self.client(&settings, &secret, Some(&redirect_uri))?;
        let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
        let provider = settings.oauth.provider;
        let mut request = client
            .authorize_url(CsrfToken::new_random)
            .set_pkce_challenge(challenge)
            .add_scopes(provider.scopes().iter().map(|s| Scope::new(s.to_string())));
        match provider {
            Provider::Microsoft => {
                request = request
                    .add_extra_param("response_mode", "query")
                    .add_extra_param("prompt", "select_account");
                // Moving from SMTP AUTH keeps the mailbox: suggest it on the sign-in page.
                if app::domain::Mailbox::parse(&settings.smtp.user).is_ok() {
                    request = request.add_extra_param("login_hint", settings.smtp.user.clone());
                }
            }
            Provider::Google => {
                request = request
                    .add_extra_param("access_type", "offline")
                    .add_extra_param("prompt", "consent");
            }
        }
        let (url, state) = request.url();
        Ok((
            url.to_string(),
            Pending {
                state: state.secret().clone(),
                verifier: verifier.secret().clone(),
                provider,
                settings_version: settings.version,
                redirect_uri,
                created_at: now_secs(),
            },
        ))
    }

    /// Finishes a connection from the provider's redirect. `pending` was already removed from
    /// the session, so a `state` works once.
    #[tracing::instrument(skip_all, fields(provider = callback_provider.as_str()))]
    pub async fn finish(
        &self,
        pending: Option<Pending>,
        callback_provider: Provider,
        query: &CallbackQuery,
        actor: &str,
    ) -> Outcome {
        let outcome = self
            .finish_inner(pending, callback_provider, query, actor)
            .await;
        match outcome.code {
            OauthCode::Connected => tracing::info!("OAuth account connected"),
            code => {
                tracing::warn!(code = code.as_str(), detail = %outcome.detail, "OAuth connect failed");
                let _ = self
                    .store
                    .audit(
                        actor,
                        "oauth.connect_failed",
                        &format!("{}: {}", code.as_str(), outcome.detail),
                    )
                    .await;
            }
        }
        outcome
    }

    async fn finish_inner(
        &self,
        pending: Option<Pending>,
        callback_provider: Provider,
        query: &CallbackQuery,
        actor: &str,
    ) -> Outcome {
        let pending = match check_state(pending, callback_provider, query, now_secs()) {
            Ok(p) => p,
            Err(o) => return o,
        };
        if let Some(error) = &query.error {
            return classify_redirect_error(error, query.error_description.as_deref());
        }
        let Some(code) = query.code.as_deref().filter(|c| !c.is_empty()) else {
            return Outcome::new(OauthCode::ProviderError, "no code in the callback");
        };
        let (settings, secret) = match self.credentials().await {
            Ok(c) => c,
            Err(o) => return o,
        };
        if settings.version != pending.settings_version
            || settings.oauth.provider != pending.provider
        {
            return Outcome::new(OauthCode::SettingsChanged, "");
        }
        let client = match self.client(&settings, &secret, Some(&pending.redirect_uri)) {
            Ok(c) => c,
            Err(o) => return o,
        };
        let provider = settings.oauth.provider;
        let mut exchange = client
            .exchange_code(AuthorizationCode::new(code.to_string()))
            .set_pkce_verifier(PkceCodeVerifier::new(pending.verifier.clone()));
        if provider == Provider::Microsoft {
            exchange = exchange.add_extra_param("scope", provider.scopes().join(" "));
        }
        let answer = match exchange.request_async(&self.http).await {
            Ok(a) => a,
            Err(e) => return classify_token_error(provider, &e, false, None),
        };
        let granted = answer
            .scopes()
            .map(|s| s.iter().map(|s| s.as_str()).collect::<Vec<_>>().join(" "))
            // RFC 6749 §5.1: no `scope` in the answer means the scopes asked for.
            .unwrap_or_else(|| provider.scopes().join(" "));
        let access = SecretString::from(answer.access_token().secret().clone());
        let Some(refresh) = answer.refresh_token() else {
            return Outcome::new(OauthCode::NoRefreshToken, "");
        };
        let account = match self
            .read_account(provider, &access, answer.extra_fields().id_token.as_deref())
            .await
        {
            Ok(a) => a,
            Err(o) => return o,
        };
        let now = now_secs();
        let missing = missing_scopes(provider, &granted);
        let problem =
            (!missing.is_empty()).then(|| (OauthCode::ScopeMissing, missing.join(" "), now));
        let connection = Connection {
            provider,
            account: account.address,
            display_name: account.display_name,
            account_id: account.id,
            scopes: granted,
            connected_at: now,
            connected_by: actor.to_string(),
            refresh_token_at: now,
            access_expires_at: expires_at(now, answer.expires_in()),
            last_refresh_at: None,
            problem: problem.clone(),
            generation: crate::secrets::random_text(16),
        };
        let tokens = Tokens {
            access,
            access_expires_at: connection.access_expires_at,
            refresh: Some(SecretString::from(refresh.secret().clone())),
        };
        match self
            .store
            .connect(&connection, &tokens, pending.settings_version)
            .await
        {
            Ok(true) => match problem {
                Some((code, detail, _)) => Outcome::new(code, detail),
                None => Outcome::new(OauthCode::Connected, connection.account),
            },
            Ok(false) => Outcome::new(OauthCode::SettingsChanged, ""),
            Err(e) => store_outcome(e),
        }
    }

    /// Who consented: Microsoft through Graph `GET /me` (the ID token of these scopes need not
    /// carry an address), Google from the ID token or the userinfo endpoint.
    async fn read_account(
        &self,
        provider: Provider,
        access: &SecretString,
        id_token: Option<&str>,
    ) -> Result<Account, Outcome> {
        let claims = id_token.and_then(id_token_claims).unwrap_or_default();
        match provider {
            Provider::Microsoft => {
                let url = format!("{}/v1.0/me", self.endpoints.microsoft_graph);
                let me: GraphMe = self.get_json(&url, access).await?;
                let address = me
                    .mail
                    .filter(|m| !m.is_empty())
                    .or(me.user_principal_name)
                    .filter(|a| !a.is_empty())
                    .ok_or_else(|| Outcome::new(OauthCode::AccountUnreadable, "no address"))?;
                let id = match (claims.tid, claims.oid) {
                    (Some(tid), Some(oid)) => format!("{tid}/{oid}"),
                    _ => me.id.unwrap_or_default(),
                };
                Ok(Account {
                    address,
                    display_name: me.display_name.unwrap_or_default(),
                    id,
                })
            }
            Provider::Google => {
                let (email, sub, name) = match claims.email {
                    Some(email) => (email, claims.sub, claims.name),
                    None => {
                        let info: GoogleUserinfo = self
                            .get_json(&self.endpoints.google_userinfo, access)
                            .await?;
                        let email = info.email.ok_or_else(|| {
                            Outcome::new(OauthCode::AccountUnreadable, "no email")
                        })?;
                        (email, info.sub, info.name)
                    }
                };
                Ok(Account {
                    address: email,
                    display_name: name.unwrap_or_default(),
                    id: sub.unwrap_or_default(),
                })
            }
        }
    }

    async fn get_json<T: serde::de::DeserializeOwned>(
        &self,
        url: &str,
        access: &SecretString,
    ) -> Result<T, Outcome> {
        let response = self
            .http
            .get(url)
            .bearer_auth(access.expose_secret())
            .send()
            .await
            .map_err(|e| network_outcome(&e))?;
        let status = response.status();
        if !status.is_success() {
            let code = response
                .json::<ApiErrorBody>()
                .await
                .ok()
                .and_then(|b| b.error)
                .and_then(|e| e.code().map(str::to_string))
                .unwrap_or_default();
            return Err(Outcome::new(
                OauthCode::AccountUnreadable,
                format!("HTTP {} {code}", status.as_u16())
                    .trim()
                    .to_string(),
            ));
        }
        response.json::<T>().await.map_err(|_| {
            Outcome::new(
                OauthCode::AccountUnreadable,
                format!("HTTP {} unreadable answer", status.as_u16()),
            )
        })
    }

    /// An access token for sending, refreshed first when it is about to expire.
    pub async fn access_token(&self) -> Result<(SecretString, Connection), TokenError> {
        self.token(false).await
    }

    /// A new access token now, whatever the old one's expiry (after a 401 from a mail API).
    pub async fn fresh_token(&self) -> Result<(SecretString, Connection), TokenError> {
        self.token(true).await
    }

    /// A real refresh, now ("Check token"): a dead token shows before a notification fails.
    pub async fn check(&self, actor: &str) -> Result<Connection, TokenError> {
        let result = self.token(true).await.map(|(_, c)| c);
        let detail = match &result {
            Ok(_) => "ok".to_string(),
            Err(TokenError::Refresh(o)) => format!("{}: {}", o.code.as_str(), o.detail),
            Err(e) => e.to_string(),
        };
        let _ = self.store.audit(actor, "oauth.checked", &detail).await;
        result
    }

    async fn token(&self, force: bool) -> Result<(SecretString, Connection), TokenError> {
        use std::sync::atomic::Ordering;
        let seen = self.refreshes.load(Ordering::SeqCst);
        let _guard = self.refresh_lock.lock().await;
        let connection = self
            .store
            .connection()
            .await?
            .ok_or(TokenError::NotConnected)?;
        let now = now_secs();
        // Someone refreshed while this caller waited: use that result.
        let fresh_enough = self.refreshes.load(Ordering::SeqCst) != seen;
        let valid = connection.access_expires_at - now > REFRESH_AHEAD_SECS;
        if (fresh_enough || (!force && valid))
            && connection.problem.is_none()
            && let Some(access) = self.store.secret(secret_names::OAUTH_ACCESS_TOKEN).await?
        {
            return Ok((access, connection));
        }
        self.refresh(connection).await
    }

    async fn refresh(
        &self,
        connection: Connection,
    ) -> Result<(SecretString, Connection), TokenError> {
        let outcome = async {
            let (settings, secret) = self.credentials().await?;
            let refresh = self
                .store
                .secret(secret_names::OAUTH_REFRESH_TOKEN)
                .await
                .map_err(store_outcome)?
                .ok_or_else(|| Outcome::new(OauthCode::NotConnected, ""))?;
            let client = self.client(&settings, &secret, None)?;
            let provider = settings.oauth.provider;
            let refresh_token = RefreshToken::new(refresh.expose_secret().to_string());
            let mut request = client.exchange_refresh_token(&refresh_token);
            if provider == Provider::Microsoft {
                request =
                    request.add_scopes(provider.scopes().iter().map(|s| Scope::new(s.to_string())));
            }
            let age_days = (now_secs() - connection.connected_at) / 86_400;
            request
                .request_async(&self.http)
                .await
                .map_err(|e| classify_token_error(provider, &e, true, Some(age_days)))
        }
        .await;
        let now = now_secs();
        match outcome {
            Ok(answer) => {
                let tokens = Tokens {
                    access: SecretString::from(answer.access_token().secret().clone()),
                    access_expires_at: expires_at(now, answer.expires_in()),
                    refresh: answer
                        .refresh_token()
                        .map(|r| SecretString::from(r.secret().clone())),
                };
                if !self
                    .store
                    .refreshed(&tokens, now, &connection.generation)
                    .await?
                {
                    // Disconnected or reconnected meanwhile: what is stored now stands, and
                    // this refresh's tokens are dropped.
                    tracing::info!(
                        "the OAuth connection changed during a refresh; kept the new one"
                    );
                    let current = self
                        .store
                        .connection()
                        .await?
                        .ok_or(TokenError::NotConnected)?;
                    let access = self
                        .store
                        .secret(secret_names::OAUTH_ACCESS_TOKEN)
                        .await?
                        .ok_or(TokenError::NotConnected)?;
                    return Ok((access, current));
                }
                self.refreshes
                    .fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                // A permission taken away since the consent shows here too.
                if let Some(scopes) = answer.scopes() {
                    let granted: Vec<&str> = scopes.iter().map(|s| s.as_str()).collect();
                    let missing = missing_scopes(connection.provider, &granted.join(" "));
                    if !missing.is_empty() {
                        self.store
                            .set_connection_problem(
                                Some((OauthCode::ScopeMissing, &missing.join(" "))),
                                now,
                                &connection.generation,
                            )
                            .await?;
                    }
                }
                tracing::info!(rotated = tokens.refresh.is_some(), "OAuth token refreshed");
                let connection = self
                    .store
                    .connection()
                    .await?
                    .ok_or(TokenError::NotConnected)?;
                Ok((tokens.access, connection))
            }
            Err(o) => {
                tracing::warn!(code = o.code.as_str(), detail = %o.detail, "OAuth token refresh failed");
                self.store
                    .set_connection_problem(Some((o.code, &o.detail)), now, &connection.generation)
                    .await?;
                Err(TokenError::Refresh(o))
            }
        }
    }

    /// Revokes the grant where the provider offers it (Google), then forgets the tokens.
    /// A failed revocation is reported but does not keep the tokens.
    pub async fn disconnect(&self, actor: &str) -> Result<Option<Outcome>, StoreError> {
        let _guard = self.refresh_lock.lock().await;
        let Some(connection) = self.store.connection().await? else {
            return Ok(None);
        };
        let mut revoke_problem = None;
        if connection.provider == Provider::Google
            && let Some(token) = self.store.secret(secret_names::OAUTH_REFRESH_TOKEN).await?
        {
            let answer = self
                .http
                .post(&self.endpoints.google_revoke)
                .form(&[("token", token.expose_secret())])
                .send()
                .await;
            match answer {
                Ok(r) if r.status().is_success() => {}
                // 400 invalid_token: already dead, nothing left to revoke.
                Ok(r) if r.status() == reqwest::StatusCode::BAD_REQUEST => {}
                Ok(r) => {
                    revoke_problem = Some(Outcome::new(
                        OauthCode::ProviderError,
                        format!("revoke: HTTP {}", r.status().as_u16()),
                    ))
                }
                Err(e) => revoke_problem = Some(network_outcome(&e)),
            }
        }
        let reason = match &revoke_problem {
            None => format!("{}: {}", connection.provider.as_str(), connection.account),
            Some(o) => format!(
                "{}: {} (revocation failed: {})",
                connection.provider.as_str(),
                connection.account,
                o.detail
            ),
        };
        self.store.disconnect(actor, &reason).await?;
        tracing::info!("OAuth account disconnected");
        Ok(revoke_problem)
    }

    /// What the page shows about the connection.
    pub async fn status(&self, settings: &SettingsView) -> Result<OauthStatus, StoreError> {
        let now = now_secs();
        let secret_expires_in_days = (settings.oauth.provider == Provider::Microsoft)
            .then(|| parse_date(&settings.oauth.client_secret_expires_on))
            .flatten()
            .and_then(|(y, m, d)| {
                let month = time::Month::try_from(m).ok()?;
                let date = time::Date::from_calendar_date(y, month, d).ok()?;
                let today = time::OffsetDateTime::now_utc().date();
                Some((date - today).whole_days())
            });
        let Some(c) = self.store.connection().await? else {
            return Ok(OauthStatus {
                secret_expires_in_days,
                ..OauthStatus::default()
            });
        };
        Ok(OauthStatus {
            provider: Some(c.provider),
            account: Some(c.account),
            display_name: Some(c.display_name).filter(|n| !n.is_empty()),
            connected_at: Some(utc_text(c.connected_at)),
            connected_by: Some(c.connected_by),
            last_refresh_at: c.last_refresh_at.map(utc_text),
            refresh_token_age_days: Some((now - c.refresh_token_at) / 86_400),
            scopes: c.scopes.split_whitespace().map(str::to_string).collect(),
            problem: c.problem.map(|(code, detail, at)| OauthProblem {
                code,
                detail,
                at: utc_text(at),
            }),
            secret_expires_in_days,
        })
    }

    /// Keeps the connection alive in the background: refreshes when the last refresh is old,
    /// so a dead token shows on the page before a notification needs it.
    pub fn spawn_keepalive(
        self: std::sync::Arc<Self>,
        every: Duration,
    ) -> tokio::task::JoinHandle<()> {
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(every);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tick.tick().await;
                let Ok(Some(c)) = self.store.connection().await else {
                    continue;
                };
                let last = c.last_refresh_at.unwrap_or(c.connected_at);
                // A dead grant waits for the administrator; a network problem is retried.
                let retry = c
                    .problem
                    .as_ref()
                    .is_none_or(|p| p.0 == OauthCode::Unreachable);
                if retry && now_secs() - last > KEEPALIVE_AFTER_SECS {
                    let _ = self.token(true).await;
                }
            }
        })
    }
}

struct Account {
    address: String,
    display_name: String,
    id: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct GraphMe {
    id: Option<String>,
    user_principal_name: Option<String>,
    mail: Option<String>,
    display_name: Option<String>,
}

#[derive(Deserialize)]
struct GoogleUserinfo {
    sub: Option<String>,
    email: Option<String>,
    name: Option<String>,
}

/// Graph: `{"error":{"code":"…"}}`; Google APIs: `{"error":{"status":"…"}}` or a string.
#[derive(Deserialize)]
struct ApiErrorBody {
    error: Option<ApiErrorValue>,
}

#[derive(Deserialize)]
#[serde(untagged)]
enum ApiErrorValue {
    Text(String),
    Object {
        code: Option<serde_json::Value>,
        status: Option<String>,
    },
}

impl ApiErrorValue {
    fn code(&self) -> Option<&str> {
        match self {
            ApiErrorValue::Text(s) => Some(s),
            ApiErrorValue::Object { code, status } => {
                code.as_ref().and_then(|c| c.as_str()).or(status.as_deref())
            }
        }
    }
}

/// Claims of an ID token that name the account. The token came straight from the token
/// endpoint over TLS, which OpenID Connect Core §3.1.3.7 accepts in place of a signature
/// check; it is only used to name the account, never to authorize anything.
#[derive(Default, Deserialize)]
struct IdClaims {
    sub: Option<String>,
    email: Option<String>,
    name: Option<String>,
    tid: Option<String>,
    oid: Option<String>,
}

fn id_token_claims(token: &str) -> Option<IdClaims> {
    use base64::Engine as _;
    let payload = token.split('.').nth(1)?;
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload.trim_end_matches('='))
        .ok()?;
    serde_json::from_slice(&bytes).ok()
}

/// The callback belongs to this session's attempt, for this provider, in time.
fn check_state(
    pending: Option<Pending>,
    callback_provider: Provider,
    query: &CallbackQuery,
    now: i64,
) -> Result<Pending, Outcome> {
    let Some(pending) = pending else {
        return Err(Outcome::new(
            OauthCode::StateInvalid,
            "no connect attempt in this session",
        ));
    };
    let state_ok = query
        .state
        .as_deref()
        .is_some_and(|s| bool::from(s.as_bytes().ct_eq(pending.state.as_bytes())));
    if !state_ok || pending.provider != callback_provider {
        return Err(Outcome::new(
            OauthCode::StateInvalid,
            "state does not match",
        ));
    }
    if now - pending.created_at > STATE_LIFETIME_SECS {
        return Err(Outcome::new(OauthCode::StateExpired, ""));
    }
    Ok(pending)
}

fn expires_at(now: i64, expires_in: Option<Duration>) -> i64 {
    // Without `expires_in`, assume the usual hour.
    now + expires_in.map_or(3600, |d| d.as_secs() as i64)
}

/// The callback's query: `code` and `state`, or `error` (RFC 6749 §4.1.2).
#[derive(Debug, Default, Deserialize)]
pub struct CallbackQuery {
    pub code: Option<String>,
    pub state: Option<String>,
    pub error: Option<String>,
    pub error_description: Option<String>,
}

fn store_outcome(e: StoreError) -> Outcome {
    let reference = crate::error::internal(&e);
    let detail = match reference {
        app::api::ApiError::Internal { reference } => format!("reference {reference}"),
        _ => String::new(),
    };
    Outcome::new(OauthCode::ProviderError, detail)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn id_token_payload_is_read() {
        use base64::Engine as _;
        let payload = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .encode(br#"{"sub":"1","email":"a@example.com","tid":"t","oid":"o"}"#);
        let claims = id_token_claims(&format!("h.{payload}.s")).unwrap();
        assert_eq!(claims.email.as_deref(), Some("a@example.com"));
        assert_eq!(claims.tid.as_deref(), Some("t"));
        assert!(id_token_claims("garbage").is_none());
    }

    #[test]
    fn state_must_match_belong_to_the_provider_and_be_recent() {
        let pending = Pending {
            state: "s3cr3t-state".into(),
            verifier: "v".into(),
            provider: Provider::Microsoft,
            settings_version: 1,
            redirect_uri: "https://r.example/ConMasManager/System/MailOAuthMicrosoft".into(),
            created_at: 1_000,
        };
        let query = |state: &str| CallbackQuery {
            code: Some("c".into()),
            state: Some(state.into()),
            ..CallbackQuery::default()
        };
        let code = |p: Option<Pending>, provider, q: &CallbackQuery, now| {
            check_state(p, provider, q, now)
                .map(|_| ())
                .map_err(|o| o.code)
        };
        let ok = query("s3cr3t-state");
        assert_eq!(
            code(Some(pending.clone()), Provider::Microsoft, &ok, 1_100),
            Ok(())
        );
        assert_eq!(
            code(
                Some(pending.clone()),
                Provider::Microsoft,
                &ok,
                1_000 + STATE_LIFETIME_SECS + 1
            ),
            Err(OauthCode::StateExpired)
        );
        assert_eq!(
            code(Some(pending.clone()), Provider::Google, &ok, 1_100),
            Err(OauthCode::StateInvalid)
        );
        assert_eq!(
            code(
                Some(pending.clone()),
                Provider::Microsoft,
                &query("s3cr3t-statf"),
                1_100
            ),
            Err(OauthCode::StateInvalid)
        );
        assert_eq!(
            code(
                Some(pending),
                Provider::Microsoft,
                &CallbackQuery::default(),
                1_100
            ),
            Err(OauthCode::StateInvalid)
        );
        assert_eq!(
            code(None, Provider::Microsoft, &ok, 1_100),
            Err(OauthCode::StateInvalid)
        );
    }

    #[test]
    fn times_are_utc_text() {
        assert_eq!(utc_text(0), "1970-01-01T00:00:00Z");
        assert_eq!(utc_text(1_795_000_000), "2026-11-18T11:06:40Z");
    }
}
