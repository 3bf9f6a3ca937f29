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

use crate::config::ProviderEndpoints;
use crate::store::{Store, StoreError, secret_names};
use app::domain::{ManagerRoot, OauthCode, Provider, SettingsView, check_settings};
use oauth2::basic::{
    BasicRevocationErrorResponse, BasicTokenIntrospectionResponse, BasicTokenType,
};
use oauth2::{
    AuthType, AuthUrl, ClientId, ClientSecret, EndpointNotSet, EndpointSet, ErrorResponse,
    ExtraTokenFields, RedirectUrl, StandardRevocableToken, StandardTokenResponse, TokenUrl,
};
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};
use std::fmt;
use std::net::IpAddr;
use std::time::Duration;

mod account;
mod app_only;
pub mod certificate;
mod classify;
mod flow;
mod tokens;

/// How long the consent screen may stay open.
pub const STATE_LIFETIME_SECS: i64 = 600;
/// An access token this close to expiry is refreshed before use.
const REFRESH_AHEAD_MS: i64 = 300_000;
/// How long one process may hold the token refresh lock: longer than a token request may take
/// (the HTTP client's timeout), so a lock past this is one whose process died.
const REFRESH_LOCK_MS: i64 = 60_000;
/// The keep-alive refreshes a connection whose last refresh is older than this, so a dead
/// refresh token is found before a notification needs it (and Microsoft's inactivity expiry
/// never starts).
const KEEPALIVE_AFTER_MS: i64 = 12 * 3600 * 1000;
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
    /// Microsoft app-only: the access token of this process (see [`app_only`]).
    app_token: tokio::sync::Mutex<Option<app_only::AppToken>>,
    /// The same for the Microsoft 365 backup connection.
    backup_app_token: tokio::sync::Mutex<Option<app_only::AppToken>>,
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
            app_token: tokio::sync::Mutex::new(None),
            backup_app_token: tokio::sync::Mutex::new(None),
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

    /// Microsoft's admin-consent link for the saved app (`{authority}/{tenant}/adminconsent`),
    /// to hand to the tenant's administrator when the signed-in user may not consent. Its
    /// `state` is fixed: the callback recognises the administrator's return by it, and the
    /// answer carries no code to exchange. `None` for Google or incomplete settings.
    pub fn admin_consent_url(&self, s: &SettingsView) -> Option<String> {
        use app::domain::{MicrosoftClientId, MicrosoftTenant};
        if s.oauth.provider != Provider::Microsoft
            || MicrosoftClientId::parse(&s.oauth.client_id).is_err()
            || MicrosoftTenant::parse(&s.oauth.tenant_id).is_err()
        {
            return None;
        }
        let redirect = self.redirect_uri(s)?;
        let mut url = url::Url::parse(&format!(
            "{}/{}/adminconsent",
            self.endpoints.microsoft_authority.trim_end_matches('/'),
            s.oauth.tenant_id.trim()
        ))
        .ok()?;
        url.query_pairs_mut()
            .append_pair("client_id", s.oauth.client_id.trim())
            .append_pair("redirect_uri", &redirect)
            .append_pair("state", ADMIN_CONSENT_STATE);
        Some(url.into())
    }

    /// The saved OAuth settings are complete (for the saved provider), with what proves the
    /// app: the client secret, or the certificate and its key.
    async fn credentials(&self) -> Result<(SettingsView, ClientAuth), Outcome> {
        let settings = self.store.load().await.map_err(store_outcome)?;
        let mut as_oauth = settings.clone();
        as_oauth.auth = app::domain::AuthType::Oauth;
        if !check_settings(&as_oauth).is_empty() {
            return Err(Outcome::new(OauthCode::SettingsIncomplete, ""));
        }
        let incomplete = || Outcome::new(OauthCode::SettingsIncomplete, "");
        if settings.oauth.uses_certificate() {
            let cert = self
                .store
                .certificate_pem()
                .await
                .map_err(store_outcome)?
                .and_then(|pem| certificate::read(&pem).ok())
                .ok_or_else(incomplete)?;
            let key = self
                .store
                .secret(secret_names::OAUTH_CERTIFICATE_KEY)
                .await
                .map_err(store_outcome)?
                .ok_or_else(incomplete)?;
            return Ok((settings, ClientAuth::Certificate { cert, key }));
        }
        let secret = self
            .store
            .secret(secret_names::OAUTH_CLIENT_SECRET)
            .await
            .map_err(store_outcome)?
            .ok_or_else(incomplete)?;
        Ok((settings, ClientAuth::Secret(secret)))
    }

    /// The Microsoft 365 backup connection as app-only settings of its own (the primary
    /// block replaced by the backup's app), with its client secret.
    async fn backup_credentials(&self) -> Result<(SettingsView, ClientAuth), Outcome> {
        let mut settings = self.store.load().await.map_err(store_outcome)?;
        let incomplete = || Outcome::new(OauthCode::SettingsIncomplete, "backup");
        let Some(app::domain::BackupView::Oauth(backup)) = settings.backup.take() else {
            return Err(incomplete());
        };
        settings.auth = app::domain::AuthType::Oauth;
        settings.oauth = backup.as_oauth();
        if !check_settings(&settings).is_empty() {
            return Err(incomplete());
        }
        let secret = self
            .store
            .secret(secret_names::BACKUP_OAUTH_CLIENT_SECRET)
            .await
            .map_err(store_outcome)?
            .ok_or_else(incomplete)?;
        Ok((settings, ClientAuth::Secret(secret)))
    }

    fn client(
        &self,
        s: &SettingsView,
        auth: &ClientAuth,
        redirect_uri: Option<&str>,
    ) -> Result<OauthClient, Outcome> {
        let bad = |what: &str| Outcome::new(OauthCode::SettingsIncomplete, what);
        let mut client = oauth2::Client::new(ClientId::new(s.oauth.client_id.trim().to_string()))
            .set_auth_uri(AuthUrl::new(self.authorize_url(s)).map_err(|_| bad("authorize URL"))?)
            .set_token_uri(TokenUrl::new(self.token_url(s)).map_err(|_| bad("token URL"))?)
            // Both providers document the secret in the form body (with a certificate, the
            // body carries the client ID and the assertion instead).
            .set_auth_type(AuthType::RequestBody);
        if let ClientAuth::Secret(secret) = auth {
            client =
                client.set_client_secret(ClientSecret::new(secret.expose_secret().to_string()));
        }
        if let Some(uri) = redirect_uri {
            client = client.set_redirect_uri(
                RedirectUrl::new(uri.to_string()).map_err(|_| bad("redirect URI"))?,
            );
        }
        Ok(client)
    }

    /// With a certificate: the `client_assertion_type` and `client_assertion` parameters every
    /// token request carries, signed now for this app and this token endpoint.
    fn assertion_params(
        &self,
        s: &SettingsView,
        auth: &ClientAuth,
    ) -> Result<Vec<(&'static str, String)>, Outcome> {
        let ClientAuth::Certificate { cert, key } = auth else {
            return Ok(Vec::new());
        };
        let assertion = certificate::client_assertion(
            cert,
            key,
            s.oauth.client_id.trim(),
            &self.token_url(s),
            crate::clock::now_ms() / 1000,
        )
        .map_err(|code| Outcome::new(OauthCode::SettingsIncomplete, code.as_str()))?;
        Ok(vec![
            (
                "client_assertion_type",
                certificate::ASSERTION_TYPE.to_string(),
            ),
            ("client_assertion", assertion),
        ])
    }
}

/// What proves the app at the token endpoint.
enum ClientAuth {
    Secret(SecretString),
    Certificate {
        cert: certificate::Certificate,
        key: SecretString,
    },
}

/// When an access token given at `now` (ms) expires (ms).
fn expires_at(now: i64, expires_in: Option<Duration>) -> i64 {
    // Without `expires_in`, assume the usual hour.
    now + expires_in.map_or(3600, |d| d.as_secs() as i64) * 1000
}

/// The callback's query: `code` and `state`, or `error` (RFC 6749 §4.1.2).
#[derive(Debug, Default, Deserialize)]
pub struct CallbackQuery {
    pub code: Option<String>,
    pub state: Option<String>,
    pub error: Option<String>,
    pub error_description: Option<String>,
    /// Microsoft's answer to the admin-consent link: `True` when granted.
    pub admin_consent: Option<String>,
}

/// The `state` of the admin-consent link (nothing to protect: its answer grants no token and
/// is only reported).
pub const ADMIN_CONSENT_STATE: &str = "admin_consent";

/// What the administrator's return from the admin-consent link says: granted, or the refusal
/// classified as any other redirect error.
pub fn admin_consent_outcome(query: &CallbackQuery) -> OauthCode {
    match (&query.error, query.admin_consent.as_deref()) {
        (Some(error), _) => {
            classify::classify_redirect_error(error, query.error_description.as_deref()).code
        }
        (None, Some(granted)) if granted.eq_ignore_ascii_case("true") => {
            OauthCode::AdminConsentGranted
        }
        (None, _) => OauthCode::ProviderError,
    }
}

fn store_outcome(e: StoreError) -> Outcome {
    let reference = crate::error::internal(&e);
    let detail = match reference {
        app::api::ApiError::Internal { reference } => format!("reference {reference}"),
        _ => String::new(),
    };
    Outcome::new(OauthCode::ProviderError, detail)
}
