//! Settings types and the rules that decide whether they can be saved.
//!
//! Everything here is pure (no I/O) and compiled for both the browser and the server, so the
//! instant feedback in the form and the server's final check are the same code.

mod alerts;
mod codes;
mod delivery;
mod export;
mod host;
mod mailbox;
mod manager_root;
mod notification;
mod oauth;
mod oauth_ids;
mod port;
mod quota;
mod settings;
mod template;
mod tokens;
mod validate;
mod web_url;

pub use alerts::{
    AlertEvent, AlertState, AlertTestResult, AlertsInput, AlertsView, LastAlert, WEBHOOK_URL_MAX,
    webhook_host,
};
pub use codes::{ErrorCode, Field, FieldError, Notice, NoticeCode};
pub use delivery::{
    DeliveryReport, SendCode, SendFailure, Step, StepName, StepStatus, TestMailRequest,
};
pub use export::{EXPORT_FORMAT, EXPORT_VERSION, ImportError, SettingsExport, parse_export};
pub use host::Host;
pub use mailbox::Mailbox;
pub use manager_root::{ManagerRoot, RedirectCheck};
pub use notification::DeliveryStatus;
pub use oauth::{
    CertificateInfo, GOOGLE_SCOPES, GOOGLE_SETTINGS_SCOPE, MICROSOFT_SCOPES,
    MICROSOFT_SHARED_SCOPE, MicrosoftCloud, OauthCode, OauthCredential, OauthFlow, OauthProblem,
    OauthStatus, SECRET_EXPIRY_WARNING_DAYS, missing_scopes,
};
pub use oauth_ids::{GoogleClientId, MicrosoftClientId, MicrosoftTenant, parse_date};
pub use port::Port;
pub use quota::{
    Connection, LIMIT_MAX, LimitError, LimitNumbers, LimitPreset, QuotaMeter, SendingLimits,
};
pub use settings::{
    BackupInput, BackupOauthInput, BackupOauthView, BackupView, DeliveryOptions, OauthInput,
    OauthView, SecretChange, SettingsInput, SettingsView, SmtpInput, SmtpView, TypedSecret,
    ValidatedSettings,
};
pub use template::{
    Code, MAX_BODY, MAX_SUBJECT, Parsed, RENDERED_BODY_MAX, RENDERED_SUBJECT_MAX, TemplateError,
    TemplateErrorKind, TemplateId, VALUE_MAX, body_value, parse_part, subject_value,
};
pub use tokens::{
    CreatedToken, NewTokenRequest, TOKEN_EXPIRY_DAYS_MAX, TOKEN_NAME_MAX, TokenError, TokenRow,
    TokenScopeChoice,
};
pub use validate::{check_settings, merge, notices, same_oauth_client, same_smtp_target, validate};

use serde::{Deserialize, Serialize};

/// Longest value accepted in any free-text field; protects storage and logs from abuse.
pub const MAX_FIELD_LEN: usize = 1024;
/// Longest PEM text accepted (a certificate or a private key): a 4096-bit RSA key in PKCS#8 is
/// about 3.3 KB, a certificate with a long chain of names a few KB.
pub const MAX_PEM_LEN: usize = 16 * 1024;

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

#[cfg(test)]
mod tests;
