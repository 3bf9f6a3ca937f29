//! Stable identifiers of fields, errors and notices. Their wire names are part of the REST
//! contract; the texts shown to people live in the locale files (`app/locales/*.json`).

use super::Provider;
use serde::{Deserialize, Serialize};

/// A settings field, named as in the settings JSON (`smtp.port`, `manager_root`, …).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Field {
    #[serde(rename = "auth")]
    Auth,
    #[serde(rename = "smtp.server")]
    SmtpServer,
    #[serde(rename = "smtp.port")]
    SmtpPort,
    #[serde(rename = "smtp.user")]
    SmtpUser,
    #[serde(rename = "smtp.password")]
    SmtpPassword,
    #[serde(rename = "smtp.ssl")]
    SmtpSsl,
    #[serde(rename = "oauth.provider")]
    OauthProvider,
    #[serde(rename = "oauth.client_id")]
    OauthClientId,
    #[serde(rename = "oauth.client_secret")]
    OauthClientSecret,
    #[serde(rename = "oauth.tenant_id")]
    OauthTenantId,
    #[serde(rename = "oauth.client_secret_expires_on")]
    OauthSecretExpiresOn,
    #[serde(rename = "oauth.flow")]
    OauthFlow,
    #[serde(rename = "oauth.sender")]
    OauthSender,
    #[serde(rename = "oauth.credential")]
    OauthCredential,
    #[serde(rename = "oauth.certificate")]
    OauthCertificate,
    #[serde(rename = "oauth.certificate_key")]
    OauthCertificateKey,
    #[serde(rename = "oauth.send_as")]
    OauthSendAs,
    #[serde(rename = "manager_root")]
    ManagerRoot,
    #[serde(rename = "delivery.divert_to")]
    DeliveryDivertTo,
    #[serde(rename = "delivery.paused")]
    DeliveryPaused,
    #[serde(rename = "backup.smtp.server")]
    BackupSmtpServer,
    #[serde(rename = "backup.smtp.port")]
    BackupSmtpPort,
    #[serde(rename = "backup.smtp.user")]
    BackupSmtpUser,
    #[serde(rename = "backup.smtp.password")]
    BackupSmtpPassword,
    #[serde(rename = "backup.smtp.ssl")]
    BackupSmtpSsl,
    #[serde(rename = "backup.oauth.tenant_id")]
    BackupOauthTenantId,
    #[serde(rename = "backup.oauth.client_id")]
    BackupOauthClientId,
    #[serde(rename = "backup.oauth.client_secret")]
    BackupOauthClientSecret,
    #[serde(rename = "backup.oauth.client_secret_expires_on")]
    BackupOauthSecretExpiresOn,
    #[serde(rename = "backup.oauth.sender")]
    BackupOauthSender,
    #[serde(rename = "alerts.enabled")]
    AlertsEnabled,
    #[serde(rename = "alerts.webhook_url")]
    AlertsWebhookUrl,
    /// The request as a whole (malformed JSON, wrong types).
    #[serde(rename = "body")]
    Body,
    #[serde(rename = "version")]
    Version,
}

impl Field {
    /// True when a rule checks `self` and `other` together, so that a change to `self` can
    /// make `other` wrong and its error must show at once, not only once `other` is touched:
    /// the port / SSL pairing (587 with SSL, 25 without) is reported on the SSL box; a stored
    /// password is void once the server, port, SSL or user changes, and a stored client secret
    /// once the client ID or tenant does; alerts turned on need a webhook address.
    pub fn rule_shared_with(self, other: Field) -> bool {
        use Field::*;
        matches!(
            (self, other),
            (SmtpPort, SmtpSsl)
                | (SmtpSsl, SmtpPort)
                | (SmtpServer | SmtpPort | SmtpSsl | SmtpUser, SmtpPassword)
                | (BackupSmtpPort, BackupSmtpSsl)
                | (BackupSmtpSsl, BackupSmtpPort)
                | (
                    BackupSmtpServer | BackupSmtpPort | BackupSmtpSsl | BackupSmtpUser,
                    BackupSmtpPassword
                )
                | (
                    OauthClientId | OauthTenantId,
                    OauthClientSecret | OauthCertificateKey
                )
                | (OauthCertificate, OauthCertificateKey)
                | (
                    BackupOauthClientId | BackupOauthTenantId,
                    BackupOauthClientSecret
                )
                | (AlertsEnabled, AlertsWebhookUrl)
        )
    }

    pub const ALL: [Field; 34] = [
        Field::Auth,
        Field::SmtpServer,
        Field::SmtpPort,
        Field::SmtpUser,
        Field::SmtpPassword,
        Field::SmtpSsl,
        Field::OauthProvider,
        Field::OauthClientId,
        Field::OauthClientSecret,
        Field::OauthTenantId,
        Field::OauthSecretExpiresOn,
        Field::OauthFlow,
        Field::OauthSender,
        Field::OauthCredential,
        Field::OauthCertificate,
        Field::OauthCertificateKey,
        Field::OauthSendAs,
        Field::ManagerRoot,
        Field::DeliveryDivertTo,
        Field::DeliveryPaused,
        Field::BackupSmtpServer,
        Field::BackupSmtpPort,
        Field::BackupSmtpUser,
        Field::BackupSmtpPassword,
        Field::BackupSmtpSsl,
        Field::BackupOauthTenantId,
        Field::BackupOauthClientId,
        Field::BackupOauthClientSecret,
        Field::BackupOauthSecretExpiresOn,
        Field::BackupOauthSender,
        Field::AlertsEnabled,
        Field::AlertsWebhookUrl,
        Field::Body,
        Field::Version,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Field::Auth => "auth",
            Field::SmtpServer => "smtp.server",
            Field::SmtpPort => "smtp.port",
            Field::SmtpUser => "smtp.user",
            Field::SmtpPassword => "smtp.password",
            Field::SmtpSsl => "smtp.ssl",
            Field::OauthProvider => "oauth.provider",
            Field::OauthClientId => "oauth.client_id",
            Field::OauthClientSecret => "oauth.client_secret",
            Field::OauthTenantId => "oauth.tenant_id",
            Field::OauthSecretExpiresOn => "oauth.client_secret_expires_on",
            Field::OauthFlow => "oauth.flow",
            Field::OauthSender => "oauth.sender",
            Field::OauthCredential => "oauth.credential",
            Field::OauthCertificate => "oauth.certificate",
            Field::OauthCertificateKey => "oauth.certificate_key",
            Field::OauthSendAs => "oauth.send_as",
            Field::ManagerRoot => "manager_root",
            Field::DeliveryDivertTo => "delivery.divert_to",
            Field::DeliveryPaused => "delivery.paused",
            Field::BackupSmtpServer => "backup.smtp.server",
            Field::BackupSmtpPort => "backup.smtp.port",
            Field::BackupSmtpUser => "backup.smtp.user",
            Field::BackupSmtpPassword => "backup.smtp.password",
            Field::BackupSmtpSsl => "backup.smtp.ssl",
            Field::BackupOauthTenantId => "backup.oauth.tenant_id",
            Field::BackupOauthClientId => "backup.oauth.client_id",
            Field::BackupOauthClientSecret => "backup.oauth.client_secret",
            Field::BackupOauthSecretExpiresOn => "backup.oauth.client_secret_expires_on",
            Field::BackupOauthSender => "backup.oauth.sender",
            Field::AlertsEnabled => "alerts.enabled",
            Field::AlertsWebhookUrl => "alerts.webhook_url",
            Field::Body => "body",
            Field::Version => "version",
        }
    }

    /// The field a JSON path such as `smtp.port` names, if any.
    pub fn from_path(path: &str) -> Option<Field> {
        Field::ALL.into_iter().find(|f| f.as_str() == path)
    }
}

/// Why a value was refused. The snake_case name is the stable `code` of the REST API.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorCode {
    ControlCharacters,
    TooLong,
    // Sender mailbox (RFC 5321)
    MailboxRequired,
    MailboxDisplayName,
    MailboxMissingAt,
    MailboxLocalInvalid,
    MailboxQuotedInvalid,
    MailboxLocalTooLong,
    MailboxDomainInvalid,
    MailboxDomainNotQualified,
    MailboxIpNeedsBrackets,
    MailboxAddressLiteralInvalid,
    MailboxTooLong,
    MailboxNonAscii,
    // SMTP server
    ServerRequired,
    ServerHasScheme,
    ServerHasPort,
    ServerHasSpace,
    ServerInvalid,
    ServerTooLong,
    // Port and SSL
    PortRequired,
    PortNotNumber,
    PortOutOfRange,
    #[serde(rename = "port_465_unsupported")]
    Port465Unsupported,
    #[serde(rename = "port_587_requires_ssl")]
    Port587RequiresSsl,
    #[serde(rename = "port_25_requires_no_ssl")]
    Port25RequiresNoSsl,
    // Secrets
    PasswordRequired,
    ClientSecretRequired,
    // OAuth identifiers
    ClientIdRequired,
    MicrosoftClientIdInvalid,
    TenantIdRequired,
    MicrosoftTenantIdInvalid,
    GoogleClientIdInvalid,
    /// Not a calendar date `YYYY-MM-DD`.
    DateInvalid,
    /// `app_only` is for Microsoft (Google has no such grant for Gmail sending).
    AppOnlyMicrosoftOnly,
    // Certificate credential (Microsoft)
    /// A certificate credential is for Microsoft (Google takes a client secret).
    CertificateMicrosoftOnly,
    CertificateRequired,
    /// Not a PEM certificate (`-----BEGIN CERTIFICATE-----`), or not one that can be read.
    CertificateInvalid,
    /// The certificate's validity has ended (or not begun).
    CertificateExpired,
    CertificateKeyRequired,
    /// Not an unencrypted RSA private key in PEM (PKCS#8 or PKCS#1).
    CertificateKeyInvalid,
    /// A password-protected key (`ENCRYPTED PRIVATE KEY`): export it without a password.
    CertificateKeyEncrypted,
    /// The key does not belong to the certificate.
    CertificateKeyMismatch,
    /// Longer than a PEM certificate or key can be (16 KB).
    PemTooLong,
    /// `send_as` is for delegated sending (app-only sends as `sender`).
    SendAsDelegatedOnly,
    // ManagerRoot
    ManagerRootRequired,
    ManagerRootScheme,
    ManagerRootInvalid,
    ManagerRootPlaceholderPosition,
    ManagerRootQueryFragment,
    ManagerRootCredentials,
    // Alerts webhook
    WebhookUrlRequired,
    WebhookUrlNotHttps,
    WebhookUrlInvalid,
    WebhookUrlCredentials,
    // Test mail through the backup connection
    BackupNotSet,
    BackupTestSavedOnly,
    // Request level
    InvalidJson,
    InvalidType,
    MissingField,
    /// A member the request does not know (a typo such as `smtp.passwrod` would otherwise be
    /// dropped silently); the error's field is the unknown member's path.
    UnknownField,
    VersionConflict,
}

impl ErrorCode {
    pub fn as_str(self) -> String {
        // serde's name is the single source of the wire spelling.
        serde_json::to_value(self)
            .ok()
            .and_then(|v| v.as_str().map(str::to_owned))
            .unwrap_or_default()
    }
}

/// One refused field with the reason.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct FieldError {
    pub field: Field,
    pub code: ErrorCode,
}

impl FieldError {
    pub fn new(field: Field, code: ErrorCode) -> Self {
        FieldError { field, code }
    }
}

/// Advice that does not block saving.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum NoticeCode {
    /// The SMTP server is Microsoft 365 / Outlook.com, which is retiring SMTP AUTH.
    SmtpAuthDeprecatedMicrosoft,
    /// The SMTP server is Gmail, which refuses plain passwords for SMTP AUTH.
    SmtpAuthDeprecatedGoogle,
    /// `http` on a host other than localhost: the provider requires https.
    RedirectHttpsRequired,
    /// Google does not accept a raw IP address in a redirect URI.
    RedirectIpNotAllowed,
    /// The address `{0}` resolves to (or the typed IP) is private: browsers elsewhere cannot
    /// reach it.
    RedirectPrivateAddress,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Notice {
    pub field: Field,
    pub code: NoticeCode,
    /// The provider the advice is about, for redirect URI checks.
    pub provider: Option<Provider>,
}

impl Notice {
    pub fn new(field: Field, code: NoticeCode) -> Self {
        Notice {
            field,
            code,
            provider: None,
        }
    }

    pub fn for_provider(field: Field, code: NoticeCode, provider: Provider) -> Self {
        Notice {
            field,
            code,
            provider: Some(provider),
        }
    }
}
