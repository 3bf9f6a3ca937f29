//! The contract between the browser and the server: server functions, their data and errors.
//! Their bodies reach the backend through [`backend::SettingsBackend`], which the server crate
//! implements and provides as context, so this crate never links a database or mail library.

use crate::domain::{
    CreatedToken, DeliveryOptions, DeliveryReport, FieldError, LimitError, NewTokenRequest,
    OauthCode, OauthStatus, QuotaMeter, SendCode, SendingLimits, SettingsInput, SettingsView,
    TemplateError, TestMailRequest, TokenError, TokenRow,
};
use leptos::prelude::*;
use leptos::server::codee;
use leptos::server_fn::codec::{Json, JsonEncoding};
use leptos::server_fn::error::{FromServerFnError, ServerFnErrorErr};
use serde::{Deserialize, Serialize};
use std::net::IpAddr;

/// Everything the settings page needs to render.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PageData {
    pub settings: SettingsView,
    /// The address `{0}` in ManagerRoot stands for.
    pub server_ip: Option<IpAddr>,
    /// The signed-in administrator, for the page header.
    pub viewer: String,
    /// The newest audit log entries (who did what when; never a secret's value).
    pub audit: Vec<AuditEntry>,
    /// The OAuth connection (account, since when, problems); never a token.
    pub oauth: OauthStatus,
    /// Notifications given up in the last 24 hours.
    pub failures_24h: i64,
    /// Why sending is paused, if it is.
    pub paused: Option<PausedQueue>,
    /// The sending limits of the connection in use, and how much of them is used.
    pub quota: QuotaMeter,
    /// The alert queued last, when alerts are on.
    pub last_alert: Option<crate::domain::LastAlert>,
    /// When the backup connection last delivered, and why the main one could not.
    #[serde(default)]
    pub backup_last_used: Option<BackupUse>,
}

/// The backup connection's last delivery.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct BackupUse {
    /// UTC.
    pub at: String,
    /// The main connection's failure: code, step and reply.
    pub reason: String,
}

/// Sending stopped after the transport refused the credentials.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PausedQueue {
    pub code: SendCode,
    pub reply: String,
    /// UTC.
    pub since: String,
}

/// One notification in the delivery log.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct NotificationRow {
    pub id: String,
    pub recipients: Vec<String>,
    pub subject: String,
    /// `queued`, `sending`, `sent`, `retrying`, `failed`, `cancelled`.
    pub status: String,
    pub attempts: i64,
    pub error_code: Option<SendCode>,
    pub error_step: Option<String>,
    pub error_reply: Option<String>,
    pub created_at: String,
    pub sent_at: Option<String>,
    pub next_attempt_at: Option<String>,
    /// The address the last attempt went to instead of `recipients` (divert was on).
    #[serde(default)]
    pub diverted_to: Option<String>,
    /// `backup` when the backup connection delivered it.
    #[serde(default)]
    pub delivered_via: Option<String>,
}

/// A page of the delivery log.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct LogPage {
    pub items: Vec<NotificationRow>,
    pub total: i64,
    pub page: i64,
    pub per_page: i64,
    pub status: Option<String>,
    /// The search the page shows (empty: none).
    #[serde(default)]
    pub search: Option<String>,
    pub paused: Option<PausedQueue>,
    pub failures_24h: i64,
    pub viewer: String,
    /// Divert and pause, for the banner every page shows while either is on.
    pub delivery: DeliveryOptions,
}

/// What an OAuth action (check, disconnect) did, and the connection afterwards.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct OauthActionResult {
    pub code: OauthCode,
    /// The provider's code or other detail; never a token.
    pub detail: String,
    pub status: OauthStatus,
}

/// One line of the audit log.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditEntry {
    /// UTC, `2026-11-27T05:12:00Z`.
    pub at: String,
    /// An administrator's name, `token:NAME`, `cli` or `system`.
    pub actor: String,
    /// `settings.save`, `login`, `login_failed`, `token_created`, …
    pub action: String,
    /// Changed field names, a token's name, an address: never a secret.
    pub detail: String,
}

/// Why a server function failed, in terms the page can act on.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
pub enum ApiError {
    /// Input the administrator must correct; nothing was stored.
    #[error("invalid settings")]
    Invalid(Vec<FieldError>),
    /// Someone saved a newer version first; nothing was stored.
    #[error("settings were changed by someone else (now version {current_version})")]
    Conflict { current_version: i64 },
    /// Something broke inside; the details are in the server log under this reference.
    #[error("internal error (reference {reference})")]
    Internal { reference: String },
    /// The request did not reach the server or its answer could not be read.
    #[error("request failed")]
    Transport,
    /// An OAuth step could not be done (settings incomplete, provider refused, …).
    #[error("OAuth: {}", code.as_str())]
    Oauth { code: OauthCode, detail: String },
    /// A template with errors (unknown codes, unclosed braces …); nothing was stored.
    #[error("invalid template")]
    Template(Vec<TemplateError>),
    /// Sending limits that cannot be saved; nothing was stored.
    #[error("invalid sending limits: {}", .0.as_str())]
    Limits(LimitError),
    /// An API token that cannot be created or revoked; nothing changed.
    #[error("API token: {}", .0.as_str())]
    Token(TokenError),
}

/// A notification template as stored.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TemplateView {
    pub id: String,
    pub name: String,
    pub subject: String,
    pub body: String,
    pub version: i64,
    pub updated_at: String,
    pub updated_by: String,
}

/// A template to save; `version` guards against overwriting someone else's edit.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct TemplateInput {
    pub id: String,
    pub name: String,
    pub subject: String,
    pub body: String,
    #[serde(default)]
    pub version: Option<i64>,
}

/// True for a valid template id (see [`crate::domain::TemplateId`]).
pub fn valid_template_id(id: &str) -> bool {
    crate::domain::TemplateId::parse(id).is_some()
}

impl FromServerFnError for ApiError {
    type Encoder = JsonEncoding;

    fn from_server_fn_error(_value: ServerFnErrorErr) -> Self {
        // The cause is logged where it happens (browser console or server log); the page only
        // needs to know that the request itself failed.
        ApiError::Transport
    }
}

/// The codec of the pages' resources (what the server render hands to the browser): JSON as
/// leptos' default, but decoded with `serde_json::from_slice`, as server functions decode their
/// answers. Each answer type's decoder is then compiled into the browser bundle once, not a
/// second time for `from_str`.
pub struct PageJson;

impl<T: Serialize> codee::Encoder<T> for PageJson {
    type Error = serde_json::Error;
    type Encoded = String;

    fn encode(val: &T) -> Result<String, Self::Error> {
        serde_json::to_string(val)
    }
}

impl<T: serde::de::DeserializeOwned> codee::Decoder<T> for PageJson {
    type Error = serde_json::Error;
    type Encoded = str;

    fn decode(val: &str) -> Result<T, Self::Error> {
        serde_json::from_slice(val.as_bytes())
    }
}

/// A page's data: loaded by `fetcher` whenever `source` changes, rendered on the server and
/// handed to the browser in [`PageJson`].
pub fn page_resource<S, T, Fut>(
    source: impl Fn() -> S + Send + Sync + 'static,
    fetcher: impl Fn(S) -> Fut + Send + Sync + 'static,
) -> Resource<Result<T, ApiError>, PageJson>
where
    S: PartialEq + Clone + Send + Sync + 'static,
    T: Serialize + serde::de::DeserializeOwned + Send + Sync + 'static,
    Fut: Future<Output = Result<T, ApiError>> + Send + 'static,
{
    Resource::new_with_options(source, fetcher, false)
}

/// Loads the settings as stored (secrets only as "set" / "not set").
#[server(input = Json, endpoint = "mail_settings/get")]
pub async fn get_mail_settings() -> Result<PageData, ApiError> {
    let backend = backend::from_context()?;
    let mut data = backend::with_status(backend.page_data().await)?;
    data.viewer = backend::actor()?.0;
    Ok(data)
}

/// Validates and stores the settings in one transaction.
#[server(input = Json, endpoint = "mail_settings/save")]
pub async fn save_mail_settings(input: SettingsInput) -> Result<PageData, ApiError> {
    let backend = backend::from_context()?;
    let actor = backend::actor()?;
    backend::with_status(backend.save(input, &actor.0).await)?;
    let mut data = backend::with_status(backend.page_data().await)?;
    data.viewer = actor.0;
    Ok(data)
}

/// Starts connecting the saved OAuth account: returns the provider's consent URL to go to.
/// The connect attempt (state, PKCE verifier) is kept in the caller's session.
#[server(input = Json, endpoint = "mail_settings/oauth_connect")]
pub async fn oauth_connect() -> Result<String, ApiError> {
    let backend = backend::from_context()?;
    backend::actor()?;
    backend::with_status(backend.oauth_connect().await)
}

/// Refreshes the token now and reports whether it works.
#[server(input = Json, endpoint = "mail_settings/oauth_check")]
pub async fn oauth_check() -> Result<OauthActionResult, ApiError> {
    let backend = backend::from_context()?;
    let actor = backend::actor()?;
    backend::with_status(backend.oauth_check(&actor.0).await)
}

/// Revokes the grant where the provider offers it and forgets the tokens.
#[server(input = Json, endpoint = "mail_settings/oauth_disconnect")]
pub async fn oauth_disconnect() -> Result<OauthActionResult, ApiError> {
    let backend = backend::from_context()?;
    let actor = backend::actor()?;
    backend::with_status(backend.oauth_disconnect(&actor.0).await)
}

/// Sends a test mail with the saved settings, or with the settings being edited, and reports
/// every step. A failed delivery is still `Ok`: the report says where and why.
#[server(input = Json, endpoint = "mail_settings/test_mail")]
pub async fn send_test_mail(request: TestMailRequest) -> Result<DeliveryReport, ApiError> {
    let backend = backend::from_context()?;
    let actor = backend::actor()?;
    backend::with_status(backend.send_test_mail(request, &actor.0).await)
}

/// Longest search of the delivery log, in characters (the page's box allows no more; the
/// server cuts a longer one there and refuses it on the REST export).
pub const LOG_SEARCH_MAX: usize = 200;

/// A page of the delivery log, newest first; `status` filters, `search` finds text in a
/// recipient or the subject, or an id.
#[server(input = Json, endpoint = "mail_settings/delivery_log")]
pub async fn delivery_log(
    status: Option<String>,
    page: i64,
    search: Option<String>,
) -> Result<LogPage, ApiError> {
    let backend = backend::from_context()?;
    let actor = backend::actor()?;
    let mut log = backend::with_status(backend.delivery_log(status, page, search).await)?;
    log.viewer = actor.0;
    Ok(log)
}

/// `retry` or `cancel` one notification, or `resume` sending after a pause (`id` unused).
#[server(input = Json, endpoint = "mail_settings/delivery_action")]
pub async fn delivery_action(id: String, action: String) -> Result<bool, ApiError> {
    let backend = backend::from_context()?;
    let actor = backend::actor()?;
    backend::with_status(backend.delivery_action(&id, &action, &actor.0).await)
}

/// The notification templates, the signed-in administrator, and divert / pause (for the
/// banner).
#[server(input = Json, endpoint = "mail_settings/templates")]
pub async fn list_templates() -> Result<(Vec<TemplateView>, String, DeliveryOptions), ApiError> {
    let backend = backend::from_context()?;
    let actor = backend::actor()?;
    let list = backend::with_status(backend.templates().await)?;
    let delivery = backend::with_status(backend.delivery_options().await)?;
    Ok((list, actor.0, delivery))
}

/// Saves a template after the same checks the browser ran (unknown codes are refused here).
#[server(input = Json, endpoint = "mail_settings/save_template")]
pub async fn save_template(input: TemplateInput) -> Result<TemplateView, ApiError> {
    let backend = backend::from_context()?;
    let actor = backend::actor()?;
    backend::with_status(backend.save_template(input, &actor.0).await)
}

/// Saves the sending limits of the connection in use (checked again here) and returns the
/// meter with them.
#[server(input = Json, endpoint = "mail_settings/save_limits")]
pub async fn save_sending_limits(limits: SendingLimits) -> Result<QuotaMeter, ApiError> {
    let backend = backend::from_context()?;
    let actor = backend::actor()?;
    backend::with_status(backend.save_limits(limits, &actor.0).await)
}

/// The API tokens page: every token (never a value), the signed-in administrator, and divert /
/// pause for the banner.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TokensPage {
    pub tokens: Vec<TokenRow>,
    pub viewer: String,
    pub delivery: DeliveryOptions,
}

#[server(input = Json, endpoint = "mail_settings/tokens")]
pub async fn list_api_tokens() -> Result<TokensPage, ApiError> {
    let backend = backend::from_context()?;
    let actor = backend::actor()?;
    let tokens = backend::with_status(backend.api_tokens().await)?;
    let delivery = backend::with_status(backend.delivery_options().await)?;
    Ok(TokensPage {
        tokens,
        viewer: actor.0,
        delivery,
    })
}

/// Creates a token after the same checks the browser ran; its value is in the answer, once.
#[server(input = Json, endpoint = "mail_settings/create_token")]
pub async fn create_api_token(request: NewTokenRequest) -> Result<CreatedToken, ApiError> {
    let backend = backend::from_context()?;
    let actor = backend::actor()?;
    backend::with_status(backend.create_api_token(request, &actor.0).await)
}

#[server(input = Json, endpoint = "mail_settings/revoke_token")]
pub async fn revoke_api_token(id: String) -> Result<(), ApiError> {
    let backend = backend::from_context()?;
    let actor = backend::actor()?;
    backend::with_status(backend.revoke_api_token(&id, &actor.0).await)
}

/// Sends a test alert to `webhook_url` as typed, or to the saved webhook when none is typed.
#[server(input = Json, endpoint = "mail_settings/test_alert")]
pub async fn send_test_alert(
    webhook_url: Option<crate::domain::TypedSecret>,
) -> Result<crate::domain::AlertTestResult, ApiError> {
    let backend = backend::from_context()?;
    let actor = backend::actor()?;
    backend::with_status(backend.test_alert(webhook_url, &actor.0).await)
}

#[cfg(feature = "ssr")]
pub mod backend {
    //! The port the server implements.

    use super::{ApiError, LogPage, OauthActionResult, PageData, TemplateInput, TemplateView};
    use crate::domain::{
        DeliveryOptions, DeliveryReport, QuotaMeter, SendingLimits, SettingsInput, SettingsView,
        TestMailRequest,
    };
    use std::sync::Arc;

    #[async_trait::async_trait]
    pub trait SettingsBackend: Send + Sync + 'static {
        /// The stored settings and the detected server address.
        async fn page_data(&self) -> Result<PageData, ApiError>;
        /// Re-validates `input` against what is stored and saves it, or changes nothing.
        async fn save(&self, input: SettingsInput, actor: &str) -> Result<SettingsView, ApiError>;
        /// The console's base path (`/ConMasManager` by default).
        fn base_path(&self) -> &str;
        /// The consent URL of the saved provider; remembers the attempt in the session.
        async fn oauth_connect(&self) -> Result<String, ApiError>;
        /// A real token refresh.
        async fn oauth_check(&self, actor: &str) -> Result<OauthActionResult, ApiError>;
        /// Revoke (where offered) and forget the tokens.
        async fn oauth_disconnect(&self, actor: &str) -> Result<OauthActionResult, ApiError>;
        /// A test mail, step by step (saved settings, or `request.settings` merged over them).
        async fn send_test_mail(
            &self,
            request: TestMailRequest,
            actor: &str,
        ) -> Result<DeliveryReport, ApiError>;
        /// A page of the delivery log.
        async fn delivery_log(
            &self,
            status: Option<String>,
            page: i64,
            search: Option<String>,
        ) -> Result<LogPage, ApiError>;
        async fn templates(&self) -> Result<Vec<TemplateView>, ApiError>;
        /// Divert and pause as saved (for the banner of pages without the settings).
        async fn delivery_options(&self) -> Result<DeliveryOptions, ApiError>;
        /// Every API token, newest first (never a value or hash).
        async fn api_tokens(&self) -> Result<Vec<crate::domain::TokenRow>, ApiError>;
        async fn create_api_token(
            &self,
            request: crate::domain::NewTokenRequest,
            actor: &str,
        ) -> Result<crate::domain::CreatedToken, ApiError>;
        async fn revoke_api_token(&self, id: &str, actor: &str) -> Result<(), ApiError>;
        async fn save_template(
            &self,
            input: TemplateInput,
            actor: &str,
        ) -> Result<TemplateView, ApiError>;
        /// The sending limits of the connection in use, with their use.
        async fn quota_meter(&self) -> Result<QuotaMeter, ApiError>;
        /// Checks and saves the sending limits of the connection in use.
        async fn save_limits(
            &self,
            limits: SendingLimits,
            actor: &str,
        ) -> Result<QuotaMeter, ApiError>;
        /// `retry`, `cancel` or `resume`; `false` when it did not apply.
        async fn delivery_action(
            &self,
            id: &str,
            action: &str,
            actor: &str,
        ) -> Result<bool, ApiError>;
        /// A test alert to the typed webhook address (checked first) or the saved one.
        async fn test_alert(
            &self,
            webhook_url: Option<crate::domain::TypedSecret>,
            actor: &str,
        ) -> Result<crate::domain::AlertTestResult, ApiError>;
    }

    /// How the backend travels in Leptos context.
    pub type Backend = Arc<dyn SettingsBackend>;

    /// The authenticated caller of the request (an administrator's name, or `token:NAME`),
    /// provided as context by the server after its access check.
    #[derive(Clone, Debug, PartialEq, Eq)]
    pub struct Actor(pub String);

    /// The caller; a request without one never passed the access check, so it is refused.
    pub fn actor() -> Result<Actor, ApiError> {
        leptos::prelude::use_context::<Actor>().ok_or_else(|| {
            leptos::logging::error!("a server function ran without an authenticated caller");
            ApiError::Internal {
                reference: "no-actor".into(),
            }
        })
    }

    /// Gives a failed server function the HTTP status that says what happened (422 invalid,
    /// 409 conflict, 500 internal), like the REST API.
    pub fn with_status<T>(result: Result<T, ApiError>) -> Result<T, ApiError> {
        use http::StatusCode;
        if let (Err(e), Some(response)) = (
            &result,
            leptos::prelude::use_context::<leptos_axum::ResponseOptions>(),
        ) {
            response.set_status(match e {
                ApiError::Invalid(_) => StatusCode::UNPROCESSABLE_ENTITY,
                ApiError::Conflict { .. } => StatusCode::CONFLICT,
                ApiError::Oauth {
                    code: crate::domain::OauthCode::SettingsIncomplete,
                    ..
                } => StatusCode::UNPROCESSABLE_ENTITY,
                ApiError::Oauth { .. } => StatusCode::BAD_GATEWAY,
                ApiError::Template(_) | ApiError::Limits(_) => StatusCode::UNPROCESSABLE_ENTITY,
                ApiError::Token(crate::domain::TokenError::NotFound) => StatusCode::NOT_FOUND,
                ApiError::Token(crate::domain::TokenError::NameTaken) => StatusCode::CONFLICT,
                ApiError::Token(_) => StatusCode::UNPROCESSABLE_ENTITY,
                ApiError::Internal { .. } | ApiError::Transport => {
                    StatusCode::INTERNAL_SERVER_ERROR
                }
            });
        }
        result
    }

    pub fn from_context() -> Result<Backend, ApiError> {
        leptos::prelude::use_context::<Backend>().ok_or_else(|| {
            leptos::logging::error!("settings backend missing from the Leptos context");
            ApiError::Internal {
                reference: "no-backend".into(),
            }
        })
    }
}
