//! Sending mail, as the page and the REST API see it: the steps of a test mail with their
//! timing, and why a delivery failed (what to do, whether trying again can help).

use super::SettingsInput;
use serde::{Deserialize, Serialize};

/// One step of a delivery, in the order they run.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StepName {
    /// SMTP: look the server's name up.
    Resolve,
    /// SMTP: open the TCP connection and read the greeting.
    Connect,
    /// SMTP: STARTTLS and the certificate check.
    Starttls,
    /// SMTP: AUTH PLAIN / LOGIN.
    Auth,
    /// SMTP: MAIL FROM and RCPT TO.
    Envelope,
    /// SMTP: DATA, the message itself.
    Data,
    /// OAuth: an access token (refreshed when needed).
    Token,
    /// OAuth: Microsoft Graph `sendMail` or Gmail `messages.send`.
    ApiCall,
}

impl StepName {
    pub fn as_str(self) -> &'static str {
        match self {
            StepName::Resolve => "resolve",
            StepName::Connect => "connect",
            StepName::Starttls => "starttls",
            StepName::Auth => "auth",
            StepName::Envelope => "envelope",
            StepName::Data => "data",
            StepName::Token => "token",
            StepName::ApiCall => "api_call",
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StepStatus {
    Ok,
    Failed,
    Skipped,
}

/// A step's result: how long it took and what the server said (never a secret).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Step {
    pub name: StepName,
    pub status: StepStatus,
    pub millis: u64,
    /// The server's reply, the addresses resolved, the certificate's subject and validity …
    pub detail: String,
}

/// Why a delivery failed. The snake_case name is the stable code of the REST API; the texts
/// (what happened, what to do) live in the locale files.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SendCode {
    /// The name does not resolve.
    DnsFailed,
    /// Nothing listens there (or a firewall refuses).
    ConnectionRefused,
    /// No answer in time.
    Timeout,
    /// The server offers no STARTTLS although SSL is on.
    StarttlsUnavailable,
    /// The certificate is not valid for this host name, expired, or not trusted.
    CertificateInvalid,
    /// `530 5.7.0 Must issue a STARTTLS command first`: SSL must be on.
    StarttlsRequired,
    /// `535 5.7.8` wrong user or password (Gmail: app password or OAuth).
    AuthFailed,
    /// `534 5.7.9`: an app password is required.
    AppPasswordRequired,
    /// `535 5.7.139` / `5.7.3`: SMTP AUTH is disabled for the Microsoft 365 tenant or mailbox.
    SmtpAuthDisabled,
    /// `550 5.7.30`: basic authentication is not supported: use OAuth.
    BasicAuthBlocked,
    /// The server offers no AUTH mechanism this product speaks (PLAIN, LOGIN).
    AuthUnsupported,
    /// `530 5.7.57` / `530 5.7.1` authentication required before MAIL FROM.
    AuthRequired,
    /// `550 5.7.60`: not allowed to send as this sender.
    SendAsDenied,
    /// `554 5.7.1`: relaying denied.
    RelayDenied,
    /// A 4xx reply (`421 4.7.0` …): temporary, tried again later.
    Temporary,
    /// Any other 5xx reply.
    Rejected,
    /// Graph 403 `ErrorAccessDenied`: Mail.Send is not granted.
    GraphAccessDenied,
    /// Graph 403 `ErrorSendAsDenied`.
    GraphSendAsDenied,
    /// Graph 404 `MailboxNotEnabledForRESTAPI`: no Exchange Online mailbox.
    MailboxNotEnabled,
    /// Gmail 403: the grant lacks gmail.send.
    GmailInsufficientPermissions,
    /// Gmail 400 `failedPrecondition`: the account has no usable Gmail.
    GmailNotEnabled,
    /// 429 (or a quota 403): throttled; tried again after `Retry-After`.
    Throttled,
    /// The provider's API answered with a server error (5xx).
    ProviderUnavailable,
    /// No working OAuth token (not connected, refresh refused …); see the OAuth code.
    TokenUnavailable,
    /// The recipient address is not a valid mailbox.
    RecipientInvalid,
    /// The settings are incomplete or invalid.
    SettingsInvalid,
    /// Anything else; the detail says what.
    Other,
}

impl SendCode {
    pub fn as_str(self) -> String {
        serde_json::to_value(self)
            .ok()
            .and_then(|v| v.as_str().map(str::to_owned))
            .unwrap_or_default()
    }
}

/// A failed delivery: which step, what the server said, and whether to try again.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SendFailure {
    pub code: SendCode,
    pub step: StepName,
    /// The server's reply code and text, or the HTTP status and error code.
    pub reply: String,
    /// Worth trying again later (timeouts, 4xx SMTP replies, 429 / 5xx HTTP).
    pub retryable: bool,
    /// Seconds the provider asked to wait (`Retry-After`).
    pub retry_after_secs: Option<u64>,
}

/// What a test mail did, step by step.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeliveryReport {
    pub ok: bool,
    /// `smtp`, `microsoft_graph` or `gmail_api`.
    pub transport: String,
    /// The sender address used.
    pub from: String,
    pub to: String,
    pub steps: Vec<Step>,
    pub failure: Option<SendFailure>,
}

/// "Send test mail": to an address, with the saved settings, or with the settings being edited
/// (secrets left empty there mean the stored ones). `backup`: through the saved backup
/// connection instead of the main one (saved settings only), so it is known to work before it
/// is needed.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct TestMailRequest {
    pub to: String,
    #[serde(default)]
    pub settings: Option<SettingsInput>,
    #[serde(default)]
    pub backup: bool,
}
