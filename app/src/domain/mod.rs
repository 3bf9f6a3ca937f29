//! Settings types and the rules that decide whether they can be saved.
//!
//! Everything here is pure (no I/O) and compiled for both the browser and the server, so the
//! instant feedback in the form and the server's final check are the same code.

mod codes;
mod delivery;
mod export;
mod host;
mod mailbox;
mod manager_root;
mod oauth;
mod oauth_ids;
mod port;
mod template;

pub use codes::{ErrorCode, Field, FieldError, Notice, NoticeCode};
pub use delivery::{
    DeliveryReport, SendCode, SendFailure, Step, StepName, StepStatus, TestMailRequest,
};
pub use export::{EXPORT_FORMAT, EXPORT_VERSION, ImportError, SettingsExport, parse_export};
pub use host::Host;
pub use mailbox::Mailbox;
pub use manager_root::{ManagerRoot, RedirectCheck};
pub use oauth::{
    GOOGLE_SCOPES, MICROSOFT_SCOPES, MicrosoftCloud, OauthCode, OauthProblem, OauthStatus,
    SECRET_EXPIRY_WARNING_DAYS, missing_scopes,
};
pub use oauth_ids::{GoogleClientId, MicrosoftClientId, MicrosoftTenant, parse_date};
pub use port::Port;
pub use template::{
    Code, MAX_BODY, MAX_SUBJECT, Parsed, RENDERED_BODY_MAX, RENDERED_SUBJECT_MAX, TemplateError,
    TemplateErrorKind, VALUE_MAX, body_value, parse_part, subject_value,
};

use serde::{Deserialize, Serialize};
use std::fmt;

/// Longest value accepted in any free-text field; protects storage and logs from abuse.
pub const MAX_FIELD_LEN: usize = 1024;

/// How the system authenticates when it sends mail.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AuthType {
    #[default]
    Smtp,
    Oauth,
}

impl AuthType {
    pub fn as_str(self) -> &'static str {
        match self {
            AuthType::Smtp => "smtp",
            AuthType::Oauth => "oauth",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "smtp" => Some(AuthType::Smtp),
            "oauth" => Some(AuthType::Oauth),
            _ => None,
        }
    }
}

/// OAuth 2.0 provider whose mail API sends the notifications.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Provider {
    #[default]
    Microsoft,
    Google,
}

impl Provider {
    pub fn as_str(self) -> &'static str {
        match self {
            Provider::Microsoft => "microsoft",
            Provider::Google => "google",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "microsoft" => Some(Provider::Microsoft),
            "google" => Some(Provider::Google),
            _ => None,
        }
    }

    /// Path of the OAuth callback below the console's base path (contract in DESIGN.md).
    pub fn callback_path(self) -> &'static str {
        match self {
            Provider::Microsoft => "/System/MailOAuthMicrosoft",
            Provider::Google => "/System/MailOAuthGoogle",
        }
    }
}

/// The three panels of the settings page (`?tab=` in the URL).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Tab {
    Smtp,
    Microsoft,
    Google,
}

impl Tab {
    pub const ALL: [Tab; 3] = [Tab::Smtp, Tab::Microsoft, Tab::Google];

    pub fn as_str(self) -> &'static str {
        match self {
            Tab::Smtp => "smtp",
            Tab::Microsoft => "microsoft",
            Tab::Google => "google",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "smtp" => Some(Tab::Smtp),
            "microsoft" => Some(Tab::Microsoft),
            "google" => Some(Tab::Google),
            _ => None,
        }
    }

    /// The tab that shows the method currently selected for sending.
    pub fn for_settings(auth: AuthType, provider: Provider) -> Self {
        match (auth, provider) {
            (AuthType::Smtp, _) => Tab::Smtp,
            (AuthType::Oauth, Provider::Microsoft) => Tab::Microsoft,
            (AuthType::Oauth, Provider::Google) => Tab::Google,
        }
    }

    /// The tab asked for in the URL, or the one matching the saved settings when the query is
    /// missing or unknown.
    pub fn from_query(query: Option<&str>, auth: AuthType, provider: Provider) -> Self {
        query
            .and_then(Tab::parse)
            .unwrap_or_else(|| Tab::for_settings(auth, provider))
    }
}

/// A secret typed by the administrator on its way to the server. Its `Debug` never shows the
/// value; the server wraps it in `secrecy` as soon as it arrives.
#[derive(Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct TypedSecret(String);

impl TypedSecret {
    pub fn new(value: impl Into<String>) -> Self {
        TypedSecret(value.into())
    }

    /// The clear value: only for encrypting it into storage or handing it to a transport.
    pub fn expose(&self) -> &str {
        &self.0
    }

    pub fn into_inner(self) -> String {
        self.0
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl fmt::Debug for TypedSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("TypedSecret([REDACTED])")
    }
}

/// SMTP block as stored and shown: never the password, only whether one is set.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SmtpView {
    pub server: String,
    pub port: Option<i64>,
    pub user: String,
    pub password_set: bool,
    pub ssl: bool,
}

/// OAuth block as stored and shown: never the client secret, only whether one is set.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct OauthView {
    pub provider: Provider,
    pub client_id: String,
    pub client_secret_set: bool,
    pub tenant_id: String,
    /// Microsoft: the day the client secret expires (`YYYY-MM-DD`, as Azure shows it when the
    /// secret is created), for a warning before mail stops. Empty when not given.
    #[serde(default)]
    pub client_secret_expires_on: String,
}

/// The whole settings as the server holds them, minus secret values.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SettingsView {
    pub auth: AuthType,
    pub smtp: SmtpView,
    pub oauth: OauthView,
    pub manager_root: String,
    /// Increases with every save; a save based on an older version is refused.
    pub version: i64,
    pub updated_at: Option<String>,
    pub updated_by: Option<String>,
}

impl SettingsView {
    /// What a console that was never configured shows.
    pub fn initial(base_path: &str) -> Self {
        SettingsView {
            auth: AuthType::Smtp,
            smtp: SmtpView {
                server: String::new(),
                port: Some(587),
                user: String::new(),
                password_set: false,
                ssl: true,
            },
            oauth: OauthView::default(),
            manager_root: format!("http://{{0}}{base_path}"),
            version: 0,
            updated_at: None,
            updated_by: None,
        }
    }

    pub fn selected_tab(&self) -> Tab {
        Tab::for_settings(self.auth, self.oauth.provider)
    }
}

/// SMTP block of a save request. `password`: missing, `null` or empty keeps the stored one.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SmtpInput {
    #[serde(default)]
    pub server: String,
    #[serde(default)]
    pub port: Option<i64>,
    #[serde(default)]
    pub user: String,
    #[serde(default)]
    pub password: Option<TypedSecret>,
    #[serde(default)]
    pub ssl: bool,
}

/// OAuth block of a save request. `client_secret`: missing, `null` or empty keeps the stored one.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct OauthInput {
    #[serde(default)]
    pub provider: Provider,
    #[serde(default)]
    pub client_id: String,
    #[serde(default)]
    pub client_secret: Option<TypedSecret>,
    #[serde(default)]
    pub tenant_id: String,
    /// `YYYY-MM-DD` or empty.
    #[serde(default)]
    pub client_secret_expires_on: String,
}

/// A save request: the REST `PUT` body and the server function's argument.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SettingsInput {
    pub auth: AuthType,
    #[serde(default)]
    pub smtp: Option<SmtpInput>,
    #[serde(default)]
    pub oauth: Option<OauthInput>,
    pub manager_root: String,
    /// The version the edit started from; when given, a newer stored version is a conflict.
    #[serde(default)]
    pub version: Option<i64>,
}

/// A secret after a save request: kept as stored, or replaced by a new value.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SecretChange {
    Keep,
    Replace(TypedSecret),
}

impl SecretChange {
    fn from_input(value: Option<&TypedSecret>) -> Self {
        match value {
            Some(v) if !v.is_empty() => SecretChange::Replace(v.clone()),
            _ => SecretChange::Keep,
        }
    }

    pub fn is_replace(&self) -> bool {
        matches!(self, SecretChange::Replace(_))
    }
}

/// Settings that passed every rule, ready to be stored. Only [`validate`] builds one.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ValidatedSettings {
    settings: SettingsView,
    smtp_password: SecretChange,
    oauth_client_secret: SecretChange,
    changed_fields: Vec<Field>,
}

impl ValidatedSettings {
    pub fn settings(&self) -> &SettingsView {
        &self.settings
    }
    pub fn smtp_password(&self) -> &SecretChange {
        &self.smtp_password
    }
    pub fn oauth_client_secret(&self) -> &SecretChange {
        &self.oauth_client_secret
    }
    /// Fields whose value differs from what was stored (secrets: replaced), for the audit log.
    pub fn changed_fields(&self) -> &[Field] {
        &self.changed_fields
    }
}

/// Applies a save request to the stored settings: omitted blocks and secrets stay as stored.
/// Text is trimmed here, once, at the boundary.
pub fn merge(stored: &SettingsView, input: &SettingsInput) -> SettingsView {
    let mut merged = stored.clone();
    merged.auth = input.auth;
    merged.manager_root = input.manager_root.trim().to_string();
    if let Some(smtp) = &input.smtp {
        let mut view = SmtpView {
            server: smtp.server.trim().to_string(),
            port: smtp.port,
            user: smtp.user.trim().to_string(),
            password_set: false,
            ssl: smtp.ssl,
        };
        // A stored password only ever goes to the server it was entered for: change the host,
        // port, SSL or user and it must be typed again (else it could be handed to any server,
        // in clear with SSL off).
        view.password_set = (stored.smtp.password_set && same_smtp_target(&stored.smtp, &view))
            || smtp.password.as_ref().is_some_and(|p| !p.is_empty());
        merged.smtp = view;
    }
    if let Some(oauth) = &input.oauth {
        let mut view = OauthView {
            provider: oauth.provider,
            client_id: oauth.client_id.trim().to_string(),
            client_secret_set: false,
            tenant_id: oauth.tenant_id.trim().to_string(),
            client_secret_expires_on: oauth.client_secret_expires_on.trim().to_string(),
        };
        // A client secret belongs to one app of one provider (and tenant): it only counts
        // while provider, client ID and tenant stay the same.
        view.client_secret_set = (stored.oauth.client_secret_set
            && same_oauth_client(&stored.oauth, &view))
            || oauth
                .client_secret
                .as_ref()
                .is_some_and(|s| !s.expose().trim().is_empty());
        merged.oauth = view;
    }
    merged
}

/// True when `new` names the same SMTP server, port, TLS use and account as `stored`: the
/// stored password may be used with it. Host names compare without case.
pub fn same_smtp_target(stored: &SmtpView, new: &SmtpView) -> bool {
    stored.server.eq_ignore_ascii_case(&new.server)
        && stored.port == new.port
        && stored.ssl == new.ssl
        && stored.user == new.user
}

/// True when `new` is the same OAuth app as `stored` (provider, client ID, tenant): the stored
/// client secret may be used with it.
pub fn same_oauth_client(stored: &OauthView, new: &OauthView) -> bool {
    stored.provider == new.provider
        && stored.client_id == new.client_id
        && stored.tenant_id.eq_ignore_ascii_case(&new.tenant_id)
}

/// Every rule for a save request, against the stored settings. On success the result holds
/// exactly what is to be stored; on failure every problem is listed, one per field.
pub fn validate(
    stored: &SettingsView,
    input: &SettingsInput,
) -> Result<ValidatedSettings, Vec<FieldError>> {
    let merged = merge(stored, input);
    let smtp_password =
        SecretChange::from_input(input.smtp.as_ref().and_then(|s| s.password.as_ref()));
    let oauth_client_secret = match input.oauth.as_ref().and_then(|o| o.client_secret.as_ref()) {
        Some(s) if !s.expose().trim().is_empty() => {
            SecretChange::Replace(TypedSecret::new(s.expose().trim()))
        }
        _ => SecretChange::Keep,
    };

    let mut errors = check_settings(&merged);
    if let SecretChange::Replace(p) = &smtp_password {
        check_text(p.expose(), Field::SmtpPassword, &mut errors);
    }
    if let SecretChange::Replace(s) = &oauth_client_secret {
        check_text(s.expose(), Field::OauthClientSecret, &mut errors);
    }
    if !errors.is_empty() {
        return Err(dedupe(errors));
    }
    let changed_fields = changed_fields(stored, &merged, &smtp_password, &oauth_client_secret);
    Ok(ValidatedSettings {
        settings: merged,
        smtp_password,
        oauth_client_secret,
        changed_fields,
    })
}

/// The rules on a complete set of settings (secrets only by presence). The browser runs this on
/// every keystroke; the server runs it again before storing.
pub fn check_settings(s: &SettingsView) -> Vec<FieldError> {
    let mut errors = Vec::new();

    // Control characters and sizes: every text field, selected or not, because all of them are
    // stored and may reach a header or a log line later.
    for (field, value) in [
        (Field::SmtpServer, s.smtp.server.as_str()),
        (Field::SmtpUser, s.smtp.user.as_str()),
        (Field::OauthClientId, s.oauth.client_id.as_str()),
        (Field::OauthTenantId, s.oauth.tenant_id.as_str()),
        (
            Field::OauthSecretExpiresOn,
            s.oauth.client_secret_expires_on.as_str(),
        ),
        (Field::ManagerRoot, s.manager_root.as_str()),
    ] {
        check_text(value, field, &mut errors);
    }

    if let Err(code) = ManagerRoot::parse(&s.manager_root) {
        errors.push(FieldError::new(Field::ManagerRoot, code));
    }

    match s.auth {
        AuthType::Smtp => check_smtp(&s.smtp, &mut errors),
        AuthType::Oauth => check_oauth(&s.oauth, &mut errors),
    }
    dedupe(errors)
}

fn check_smtp(smtp: &SmtpView, errors: &mut Vec<FieldError>) {
    if let Err(code) = Host::parse(&smtp.server) {
        errors.push(FieldError::new(Field::SmtpServer, code));
    }
    match Port::from_number(smtp.port) {
        Err(code) => errors.push(FieldError::new(Field::SmtpPort, code)),
        Ok(port) => {
            if let Err(code) = port.check_ssl(smtp.ssl) {
                errors.push(FieldError::new(Field::SmtpSsl, code));
            }
        }
    }
    if let Err(code) = Mailbox::parse(&smtp.user) {
        errors.push(FieldError::new(Field::SmtpUser, code));
    }
    if !smtp.password_set {
        errors.push(FieldError::new(
            Field::SmtpPassword,
            ErrorCode::PasswordRequired,
        ));
    }
}

fn check_oauth(oauth: &OauthView, errors: &mut Vec<FieldError>) {
    match oauth.provider {
        Provider::Microsoft => {
            if let Err(code) = MicrosoftClientId::parse(&oauth.client_id) {
                errors.push(FieldError::new(Field::OauthClientId, code));
            }
            if let Err(code) = MicrosoftTenant::parse(&oauth.tenant_id) {
                errors.push(FieldError::new(Field::OauthTenantId, code));
            }
            if !oauth.client_secret_expires_on.is_empty()
                && parse_date(&oauth.client_secret_expires_on).is_none()
            {
                errors.push(FieldError::new(
                    Field::OauthSecretExpiresOn,
                    ErrorCode::DateInvalid,
                ));
            }
        }
        Provider::Google => {
            if let Err(code) = GoogleClientId::parse(&oauth.client_id) {
                errors.push(FieldError::new(Field::OauthClientId, code));
            }
        }
    }
    if !oauth.client_secret_set {
        errors.push(FieldError::new(
            Field::OauthClientSecret,
            ErrorCode::ClientSecretRequired,
        ));
    }
}

fn check_text(value: &str, field: Field, errors: &mut Vec<FieldError>) {
    if value.chars().any(char::is_control) {
        errors.push(FieldError::new(field, ErrorCode::ControlCharacters));
    } else if value.len() > MAX_FIELD_LEN {
        errors.push(FieldError::new(field, ErrorCode::TooLong));
    }
}

/// One error per field, the first found: the most basic problem is the one to fix first.
fn dedupe(errors: Vec<FieldError>) -> Vec<FieldError> {
    let mut out: Vec<FieldError> = Vec::with_capacity(errors.len());
    for e in errors {
        if !out.iter().any(|o| o.field == e.field) {
            out.push(e);
        }
    }
    out
}

fn changed_fields(
    old: &SettingsView,
    new: &SettingsView,
    password: &SecretChange,
    client_secret: &SecretChange,
) -> Vec<Field> {
    let mut fields = Vec::new();
    let mut diff = |changed: bool, field: Field| {
        if changed {
            fields.push(field);
        }
    };
    diff(old.auth != new.auth, Field::Auth);
    diff(old.smtp.server != new.smtp.server, Field::SmtpServer);
    diff(old.smtp.port != new.smtp.port, Field::SmtpPort);
    diff(old.smtp.user != new.smtp.user, Field::SmtpUser);
    diff(password.is_replace(), Field::SmtpPassword);
    diff(old.smtp.ssl != new.smtp.ssl, Field::SmtpSsl);
    diff(
        old.oauth.provider != new.oauth.provider,
        Field::OauthProvider,
    );
    diff(
        old.oauth.client_id != new.oauth.client_id,
        Field::OauthClientId,
    );
    diff(client_secret.is_replace(), Field::OauthClientSecret);
    diff(
        old.oauth.tenant_id != new.oauth.tenant_id,
        Field::OauthTenantId,
    );
    diff(
        old.oauth.client_secret_expires_on != new.oauth.client_secret_expires_on,
        Field::OauthSecretExpiresOn,
    );
    diff(old.manager_root != new.manager_root, Field::ManagerRoot);
    fields
}

/// Advice that does not block saving: deprecated SMTP AUTH hosts and redirect URIs the
/// providers will refuse.
pub fn notices(s: &SettingsView, server_ip: Option<std::net::IpAddr>) -> Vec<Notice> {
    let mut out = Vec::new();
    if let Some(code) = host::deprecated_smtp_auth_host(&s.smtp.server) {
        out.push(Notice::new(Field::SmtpServer, code));
    }
    if let Ok(root) = ManagerRoot::parse(&s.manager_root) {
        for provider in [Provider::Microsoft, Provider::Google] {
            for code in root.redirect_check(provider, server_ip).problems() {
                out.push(Notice::for_provider(Field::ManagerRoot, code, provider));
            }
        }
    }
    out
}

#[cfg(test)]
mod tests;
