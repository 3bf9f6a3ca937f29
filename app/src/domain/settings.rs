//! The mail settings as stored and shown ([`SettingsView`]), as sent for saving
//! ([`SettingsInput`]), and once validated ([`ValidatedSettings`]). Secrets are typed, never shown.

use super::{
    AlertsInput, AlertsView, AuthType, CertificateInfo, Field, OauthCredential, OauthFlow,
    Provider, Tab,
};
use serde::{Deserialize, Serialize};
use std::fmt;

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
    /// Microsoft: `delegated` (a user consents; the default) or `app_only`.
    #[serde(default)]
    pub flow: OauthFlow,
    /// Microsoft app-only: the mailbox mail is sent as (required then).
    #[serde(default)]
    pub sender: String,
    /// Microsoft: `secret` (the default) or `certificate`.
    #[serde(default)]
    pub credential: OauthCredential,
    /// The uploaded certificate (Microsoft, credential `certificate`), as read. Named
    /// `certificate_info` on the wire: a save's `certificate` is the PEM text.
    #[serde(default, rename = "certificate_info")]
    pub certificate: Option<CertificateInfo>,
    /// Whether the certificate's private key is stored (never its value).
    #[serde(default)]
    pub certificate_key_set: bool,
    /// Delegated: another address the connected account sends as (a Microsoft shared mailbox
    /// with Mail.Send.Shared, or a verified Gmail send-as alias). Empty: the account itself.
    #[serde(default)]
    pub send_as: String,
}

impl OauthView {
    /// The address mail goes out from as another mailbox (delegated), if one is set.
    pub fn send_as(&self) -> Option<&str> {
        (!self.is_app_only() && !self.send_as.is_empty()).then_some(self.send_as.as_str())
    }

    /// What the authorization request asks for: the provider's scopes, plus what sending as
    /// another address needs (Microsoft: Mail.Send.Shared; Google: reading the aliases).
    pub fn scopes(&self) -> Vec<&'static str> {
        self.with_send_as(self.provider.scopes())
    }

    /// Scopes the grant must hold for this configuration.
    pub fn required_scopes(&self) -> Vec<&'static str> {
        self.with_send_as(self.provider.required_scopes())
    }

    fn with_send_as(&self, scopes: &[&'static str]) -> Vec<&'static str> {
        let mut scopes = scopes.to_vec();
        if self.send_as().is_some() {
            scopes.push(match self.provider {
                Provider::Microsoft => super::MICROSOFT_SHARED_SCOPE,
                Provider::Google => super::GOOGLE_SETTINGS_SCOPE,
            });
        }
        scopes
    }

    /// Microsoft with a certificate instead of a client secret.
    pub fn uses_certificate(&self) -> bool {
        self.provider == Provider::Microsoft && self.credential == OauthCredential::Certificate
    }

    /// The day the credential in use expires (`YYYY-MM-DD`), when known: the certificate's,
    /// or the client secret's as typed. Empty when not known.
    pub fn credential_expires_on(&self) -> &str {
        if self.uses_certificate() {
            self.certificate
                .as_ref()
                .map_or("", |c| c.expires_on.as_str())
        } else {
            &self.client_secret_expires_on
        }
    }

    /// Microsoft app-only: the app sends as `sender`, no account is connected. (A stored
    /// `app_only` with Google never passes validation; it counts as delegated.)
    pub fn is_app_only(&self) -> bool {
        self.provider == Provider::Microsoft && self.flow == OauthFlow::AppOnly
    }
}

/// Staging and maintenance switches (`"delivery"` in the settings JSON).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeliveryOptions {
    /// Every notification goes only to this address (the original recipients are listed in an
    /// `X-Original-To` header and on the delivery log). `null` (or empty) delivers normally.
    #[serde(default)]
    pub divert_to: Option<String>,
    /// Hold all sending; new notifications are still accepted and wait in the queue.
    #[serde(default)]
    pub paused: bool,
}

impl DeliveryOptions {
    /// The address everything goes to, when diverting.
    pub fn divert(&self) -> Option<&str> {
        self.divert_to.as_deref().filter(|a| !a.is_empty())
    }

    /// True when a banner must say that mail does not go out as usual.
    pub fn is_unusual(&self) -> bool {
        self.paused || self.divert().is_some()
    }
}

/// The backup connection (`"backup"` in the settings JSON), used when the primary connection
/// cannot deliver for a reason that is not the recipient's: an SMTP server
/// (`{"smtp": {…}}`), or a Microsoft 365 mailbox through Graph with the app-only flow
/// (`{"oauth": {…}}`: the client credentials grant, so no account has to stay signed in).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BackupView {
    Smtp(SmtpView),
    Oauth(BackupOauthView),
}

impl BackupView {
    pub fn smtp(&self) -> Option<&SmtpView> {
        match self {
            BackupView::Smtp(s) => Some(s),
            BackupView::Oauth(_) => None,
        }
    }

    pub fn oauth(&self) -> Option<&BackupOauthView> {
        match self {
            BackupView::Oauth(o) => Some(o),
            BackupView::Smtp(_) => None,
        }
    }
}

/// A Microsoft 365 mailbox as the backup connection: an app registration with the
/// application permission Mail.Send (admin consent), sending as `sender` through Graph.
/// The client secret is write-only; only whether it is stored is shown.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct BackupOauthView {
    #[serde(default)]
    pub tenant_id: String,
    #[serde(default)]
    pub client_id: String,
    #[serde(default)]
    pub client_secret_set: bool,
    /// The client secret's expiry (`YYYY-MM-DD`, as the Azure portal showed it), for the
    /// warning before it stops working. Empty when not given.
    #[serde(default)]
    pub client_secret_expires_on: String,
    /// The mailbox the backup sends as.
    #[serde(default)]
    pub sender: String,
}

impl BackupOauthView {
    /// The same app as a Microsoft app-only primary block, so the token code serves both.
    pub fn as_oauth(&self) -> OauthView {
        OauthView {
            provider: Provider::Microsoft,
            client_id: self.client_id.clone(),
            client_secret_set: self.client_secret_set,
            tenant_id: self.tenant_id.clone(),
            client_secret_expires_on: self.client_secret_expires_on.clone(),
            flow: OauthFlow::AppOnly,
            sender: self.sender.clone(),
            ..OauthView::default()
        }
    }
}

/// The backup connection of a save request: `{"smtp": {…}}` or `{"oauth": {…}}`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", try_from = "BackupInputWire")]
pub enum BackupInput {
    Smtp(SmtpInput),
    Oauth(BackupOauthInput),
}

/// [`BackupInput`] as read: a struct, so that the REST API's unknown-member check sees the
/// kind in each path (`backup.smtp.passwrod`), which an enum's variant would hide.
#[derive(Deserialize)]
struct BackupInputWire {
    #[serde(default)]
    smtp: Option<SmtpInput>,
    #[serde(default)]
    oauth: Option<BackupOauthInput>,
}

impl TryFrom<BackupInputWire> for BackupInput {
    type Error = &'static str;

    fn try_from(wire: BackupInputWire) -> Result<Self, Self::Error> {
        match (wire.smtp, wire.oauth) {
            (Some(smtp), None) => Ok(BackupInput::Smtp(smtp)),
            (None, Some(oauth)) => Ok(BackupInput::Oauth(oauth)),
            _ => Err("backup: give one of \"smtp\" or \"oauth\" (or null for none)"),
        }
    }
}

/// The Microsoft 365 backup of a save request. `client_secret`: missing, `null` or empty keeps
/// the stored one (while the tenant and client ID stay the same).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct BackupOauthInput {
    #[serde(default)]
    pub tenant_id: String,
    #[serde(default)]
    pub client_id: String,
    #[serde(default)]
    pub client_secret: Option<TypedSecret>,
    #[serde(default)]
    pub client_secret_expires_on: String,
    #[serde(default)]
    pub sender: String,
}

/// A member that may be missing (keep what is stored), `null` (none) or a value: serde gives
/// `None`, `Some(None)` and `Some(Some(v))`.
fn present<'de, D, T>(de: D) -> Result<Option<Option<T>>, D::Error>
where
    D: serde::Deserializer<'de>,
    T: Deserialize<'de>,
{
    Option::<T>::deserialize(de).map(Some)
}

/// The whole settings as the server holds them, minus secret values.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SettingsView {
    pub auth: AuthType,
    pub smtp: SmtpView,
    pub oauth: OauthView,
    pub manager_root: String,
    #[serde(default)]
    pub delivery: DeliveryOptions,
    #[serde(default)]
    pub alerts: AlertsView,
    /// The backup connection, when one is set.
    #[serde(default)]
    pub backup: Option<BackupView>,
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
            delivery: DeliveryOptions::default(),
            alerts: AlertsView::default(),
            backup: None,
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
    #[serde(default)]
    pub flow: OauthFlow,
    #[serde(default)]
    pub sender: String,
    #[serde(default)]
    pub credential: OauthCredential,
    /// The certificate (PEM). Missing, `null` or empty keeps the stored one.
    #[serde(default)]
    pub certificate: Option<String>,
    /// Its private key (PEM, unencrypted PKCS#8 or PKCS#1 RSA). Missing, `null` or empty keeps
    /// the stored one.
    #[serde(default)]
    pub certificate_key: Option<TypedSecret>,
    /// Delegated: the address to send as (empty: the connected account).
    #[serde(default)]
    pub send_as: String,
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
    /// Missing or `null`: the stored divert and pause stay.
    #[serde(default)]
    pub delivery: Option<DeliveryOptions>,
    /// Missing or `null`: the stored alert settings stay.
    #[serde(default)]
    pub alerts: Option<AlertsInput>,
    /// Missing: the stored backup connection stays; `null`: none; an object: this one.
    #[serde(
        default,
        deserialize_with = "present",
        skip_serializing_if = "Option::is_none"
    )]
    pub backup: Option<Option<BackupInput>>,
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
    pub(super) fn from_input(value: Option<&TypedSecret>) -> Self {
        match value {
            Some(v) if !v.is_empty() => SecretChange::Replace(v.clone()),
            _ => SecretChange::Keep,
        }
    }

    /// A value typed with surrounding spaces trimmed (client secrets, the webhook address:
    /// copied from a portal, a stray space is never part of them); blank keeps the stored one.
    pub(super) fn from_trimmed(value: Option<&TypedSecret>) -> Self {
        match value.map(|v| v.expose().trim()) {
            Some(v) if !v.is_empty() => SecretChange::Replace(TypedSecret::new(v)),
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
    pub(super) settings: SettingsView,
    pub(super) smtp_password: SecretChange,
    pub(super) oauth_client_secret: SecretChange,
    pub(super) alert_webhook: SecretChange,
    pub(super) certificate: Option<String>,
    pub(super) certificate_key: SecretChange,
    pub(super) backup_password: SecretChange,
    pub(super) backup_client_secret: SecretChange,
    pub(super) changed_fields: Vec<Field>,
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
    /// The alerts webhook address (write-only, like a password).
    pub fn alert_webhook(&self) -> &SecretChange {
        &self.alert_webhook
    }
    /// A new certificate (PEM) to store; `None` keeps the stored one.
    pub fn certificate(&self) -> Option<&str> {
        self.certificate.as_deref()
    }
    /// The certificate's private key (write-only, like a secret).
    pub fn certificate_key(&self) -> &SecretChange {
        &self.certificate_key
    }
    /// The backup SMTP server's password.
    pub fn backup_password(&self) -> &SecretChange {
        &self.backup_password
    }
    /// The Microsoft backup's client secret.
    pub fn backup_client_secret(&self) -> &SecretChange {
        &self.backup_client_secret
    }
    /// Fields whose value differs from what was stored (secrets: replaced), for the audit log.
    pub fn changed_fields(&self) -> &[Field] {
        &self.changed_fields
    }
}
