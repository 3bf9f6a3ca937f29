//! The OAuth connection as the page and the REST API see it: who is connected, since when, and
//! the precise reason when it does not work. Token values never appear here.

use super::Provider;
use serde::{Deserialize, Serialize};

/// Scopes asked of Microsoft (delegated Microsoft Graph permissions).
pub const MICROSOFT_SCOPES: [&str; 4] = ["offline_access", "openid", "Mail.Send", "User.Read"];
/// Scopes asked of Google.
pub const GOOGLE_SCOPES: [&str; 3] = [
    "openid",
    "email",
    "https://www.googleapis.com/auth/gmail.send",
];

/// Gmail's read-only settings scope: lets the server read the account's send-as aliases
/// (`users.settings.sendAs.get`), to make sure an alias is verified before mail goes out from
/// it (Gmail silently sends an unverified alias from the account's own address).
pub const GOOGLE_SETTINGS_SCOPE: &str = "https://www.googleapis.com/auth/gmail.settings.basic";

/// The delegated permission to send as a shared mailbox (Graph `/users/{shared}/sendMail`).
pub const MICROSOFT_SHARED_SCOPE: &str = "Mail.Send.Shared";

/// Days before a client secret's expiry date from which the page warns.
pub const SECRET_EXPIRY_WARNING_DAYS: i64 = 30;

impl Provider {
    /// What the authorization request asks for.
    pub fn scopes(self) -> &'static [&'static str] {
        match self {
            Provider::Microsoft => &MICROSOFT_SCOPES,
            Provider::Google => &GOOGLE_SCOPES,
        }
    }

    /// Scopes without which mail cannot be sent or the account cannot be read. `openid`,
    /// `email` and `offline_access` are not always echoed back by the providers, so they are
    /// checked through their effect (an ID token, an address, a refresh token) instead.
    pub fn required_scopes(self) -> &'static [&'static str] {
        match self {
            Provider::Microsoft => &["Mail.Send", "User.Read"],
            Provider::Google => &["https://www.googleapis.com/auth/gmail.send"],
        }
    }
}

/// The scopes of `required` that a grant's `scope` value lacks. Microsoft may answer with the
/// resource prefix (`https://graph.microsoft.com/Mail.Send`), and case is not significant there.
pub fn missing_scopes(provider: Provider, required: &[&str], granted: &str) -> Vec<String> {
    let granted: Vec<String> = granted
        .split_whitespace()
        .map(|s| match provider {
            Provider::Microsoft => s
                .rsplit_once('/')
                .filter(|(prefix, _)| prefix.starts_with("https://"))
                .map_or(s, |(_, name)| name)
                .to_ascii_lowercase(),
            Provider::Google => s.to_string(),
        })
        .collect();
    required
        .iter()
        .filter(|want| {
            let want = match provider {
                Provider::Microsoft => want.to_ascii_lowercase(),
                Provider::Google => want.to_string(),
            };
            !granted.contains(&want)
        })
        .map(|s| s.to_string())
        .collect()
}

/// How the Microsoft app gets its tokens: on behalf of a user who consented (`delegated`, the
/// default), or as the application itself (`app_only`: the client credentials grant, sending
/// as one mailbox with the application permission Mail.Send).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OauthFlow {
    #[default]
    Delegated,
    AppOnly,
}

impl OauthFlow {
    pub fn as_str(self) -> &'static str {
        match self {
            OauthFlow::Delegated => "delegated",
            OauthFlow::AppOnly => "app_only",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "delegated" => Some(OauthFlow::Delegated),
            "app_only" => Some(OauthFlow::AppOnly),
            _ => None,
        }
    }
}

/// How the Microsoft app proves who it is at the token endpoint: a client secret (the
/// default) or a certificate, whose private key signs a client assertion (a JWT, RS256, with
/// the certificate's `x5t#S256`), as tenants that forbid client secrets require.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OauthCredential {
    #[default]
    Secret,
    Certificate,
}

impl OauthCredential {
    pub fn as_str(self) -> &'static str {
        match self {
            OauthCredential::Secret => "secret",
            OauthCredential::Certificate => "certificate",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "secret" => Some(OauthCredential::Secret),
            "certificate" => Some(OauthCredential::Certificate),
            _ => None,
        }
    }
}

/// The uploaded certificate as the page shows it (the certificate itself is public; its
/// private key is write-only like a secret). Read by the server from the stored PEM.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CertificateInfo {
    /// SHA-1 of the certificate, upper-case hex: the "Thumbprint" the Azure portal lists
    /// under Certificates & secrets, to compare.
    pub thumbprint: String,
    pub subject: String,
    /// The last day it is valid (`YYYY-MM-DD`, UTC).
    pub expires_on: String,
}

/// What happened to a connection attempt or a token refresh. The snake_case name is the stable
/// code of the REST API and of the `?oauth=` query after a callback; the texts (what happened,
/// what to do) live in the locale files.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OauthCode {
    /// Connected; mail can be sent.
    Connected,
    /// The token was refreshed on request ("Check token").
    TokenOk,
    /// The account was disconnected (and the grant revoked where the provider offers it).
    Disconnected,
    /// The administrator declined consent (`access_denied`).
    Denied,
    /// The callback's `state` was missing, reused, forged or from another session.
    StateInvalid,
    /// The callback came after the connect attempt expired (10 minutes).
    StateExpired,
    /// The settings were saved again while the consent screen was open.
    SettingsChanged,
    /// Client ID, client secret (or tenant) are not saved yet.
    SettingsIncomplete,
    /// The redirect URI is not registered at the provider (AADSTS50011, redirect_uri_mismatch).
    RedirectUriMismatch,
    /// Wrong client secret (AADSTS7000215, invalid_client): the value, not the secret ID.
    WrongSecret,
    /// The client assertion signed with the uploaded certificate's key was refused
    /// (AADSTS700027 and friends): the certificate is not on the app registration, or expired.
    CertificateRejected,
    /// The client secret expired (AADSTS7000222).
    SecretExpired,
    /// No such application (AADSTS700016, Google deleted_client / unauthorized_client).
    ClientNotFound,
    /// No such tenant, or another cloud's (AADSTS90002).
    TenantNotFound,
    /// The permissions were not consented (AADSTS65001).
    ConsentMissing,
    /// The grant lacks Mail.Send / gmail.send or User.Read.
    ScopeMissing,
    /// The Gmail account has no verified send-as alias for `oauth.send_as` (unknown, or its
    /// verification is pending): Gmail would send from the account's own address.
    SendAsNotVerified,
    /// No refresh token came back (offline access not granted).
    NoRefreshToken,
    /// The account could not be read (Graph `GET /me`, Google's ID token / userinfo).
    AccountUnreadable,
    /// The refresh token no longer works (`invalid_grant`): connect again.
    ReconnectNeeded,
    /// As `ReconnectNeeded`, for a Google token that died at about 7 days: the app is in
    /// "Testing" publishing status.
    ReconnectNeededTesting,
    /// Blocked by the organisation's policy (admin_policy_enforced, org_internal).
    PolicyBlocked,
    /// The provider did not answer in time, or could not be reached.
    Unreachable,
    /// Not connected yet.
    NotConnected,
    /// Any other answer of the provider; its code is shown with it.
    ProviderError,
    /// A Microsoft tenant administrator granted the permissions for the whole organisation
    /// (the admin-consent link came back): the account can now be connected.
    AdminConsentGranted,
}

impl OauthCode {
    pub const ALL: [OauthCode; 26] = [
        OauthCode::Connected,
        OauthCode::TokenOk,
        OauthCode::Disconnected,
        OauthCode::Denied,
        OauthCode::StateInvalid,
        OauthCode::StateExpired,
        OauthCode::SettingsChanged,
        OauthCode::SettingsIncomplete,
        OauthCode::RedirectUriMismatch,
        OauthCode::WrongSecret,
        OauthCode::CertificateRejected,
        OauthCode::SecretExpired,
        OauthCode::ClientNotFound,
        OauthCode::TenantNotFound,
        OauthCode::ConsentMissing,
        OauthCode::ScopeMissing,
        OauthCode::SendAsNotVerified,
        OauthCode::NoRefreshToken,
        OauthCode::AccountUnreadable,
        OauthCode::ReconnectNeeded,
        OauthCode::ReconnectNeededTesting,
        OauthCode::PolicyBlocked,
        OauthCode::Unreachable,
        OauthCode::NotConnected,
        OauthCode::ProviderError,
        OauthCode::AdminConsentGranted,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            OauthCode::Connected => "connected",
            OauthCode::AdminConsentGranted => "admin_consent_granted",
            OauthCode::TokenOk => "token_ok",
            OauthCode::Disconnected => "disconnected",
            OauthCode::Denied => "denied",
            OauthCode::StateInvalid => "state_invalid",
            OauthCode::StateExpired => "state_expired",
            OauthCode::SettingsChanged => "settings_changed",
            OauthCode::SettingsIncomplete => "settings_incomplete",
            OauthCode::RedirectUriMismatch => "redirect_uri_mismatch",
            OauthCode::WrongSecret => "wrong_secret",
            OauthCode::CertificateRejected => "certificate_rejected",
            OauthCode::SecretExpired => "secret_expired",
            OauthCode::ClientNotFound => "client_not_found",
            OauthCode::TenantNotFound => "tenant_not_found",
            OauthCode::ConsentMissing => "consent_missing",
            OauthCode::ScopeMissing => "scope_missing",
            OauthCode::SendAsNotVerified => "send_as_not_verified",
            OauthCode::NoRefreshToken => "no_refresh_token",
            OauthCode::AccountUnreadable => "account_unreadable",
            OauthCode::ReconnectNeeded => "reconnect_needed",
            OauthCode::ReconnectNeededTesting => "reconnect_needed_testing",
            OauthCode::PolicyBlocked => "policy_blocked",
            OauthCode::Unreachable => "unreachable",
            OauthCode::NotConnected => "not_connected",
            OauthCode::ProviderError => "provider_error",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        OauthCode::ALL.into_iter().find(|c| c.as_str() == s)
    }

    /// Good news rather than a problem.
    pub fn is_success(self) -> bool {
        matches!(
            self,
            OauthCode::Connected
                | OauthCode::TokenOk
                | OauthCode::Disconnected
                | OauthCode::AdminConsentGranted
        )
    }
}

/// A problem with the connection, as last seen.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct OauthProblem {
    pub code: OauthCode,
    /// The provider's own code (`AADSTS7000215`, `invalid_grant`, `HTTP 503`) or the missing
    /// scopes: for the administrator and for support. Never a token or a secret.
    pub detail: String,
    /// UTC, `2026-11-27T05:12:00Z`.
    pub at: String,
}

/// The OAuth connection of the configured provider.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct OauthStatus {
    /// The provider the connection belongs to; `None` when nothing is connected.
    pub provider: Option<Provider>,
    /// The sending address (Microsoft: `mail` or `userPrincipalName` of `GET /me`; Google: the
    /// consenting account's address).
    pub account: Option<String>,
    pub display_name: Option<String>,
    pub connected_at: Option<String>,
    pub connected_by: Option<String>,
    /// Last successful token refresh (UTC).
    pub last_refresh_at: Option<String>,
    /// Days since the refresh token now held was issued.
    pub refresh_token_age_days: Option<i64>,
    /// Scopes the provider granted.
    pub scopes: Vec<String>,
    /// Why the connection does not work, when it does not.
    pub problem: Option<OauthProblem>,
    /// Days until the Microsoft client secret expires (negative: expired), when its expiry date
    /// is set.
    pub secret_expires_in_days: Option<i64>,
    /// Microsoft: the link that lets the tenant's administrator consent for the whole
    /// organisation (AADSTS65001 / 90094: the signed-in user may not consent). Only the client
    /// ID, the tenant and the redirect URI are in it.
    #[serde(default)]
    pub admin_consent_url: Option<String>,
    /// Microsoft app-only: the mailbox mail is sent as (no account is connected).
    #[serde(default)]
    pub app_only_sender: Option<String>,
}

impl OauthStatus {
    pub fn is_connected(&self) -> bool {
        self.account.is_some()
    }

    /// Connected and nothing known to be wrong.
    pub fn is_healthy(&self) -> bool {
        self.is_connected() && self.problem.is_none()
    }

    /// The secret expires within the warning window (or has expired).
    pub fn secret_expiry_warning(&self) -> bool {
        self.secret_expires_in_days
            .is_some_and(|d| d <= SECRET_EXPIRY_WARNING_DAYS)
    }
}

/// Microsoft national clouds: the authority (sign-in) host and the Microsoft Graph host always
/// go in pairs; a token from one cloud does not work in another.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MicrosoftCloud {
    Global,
    UsGov,
    UsGovDod,
    China,
}

impl MicrosoftCloud {
    pub const ALL: [MicrosoftCloud; 4] = [
        MicrosoftCloud::Global,
        MicrosoftCloud::UsGov,
        MicrosoftCloud::UsGovDod,
        MicrosoftCloud::China,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            MicrosoftCloud::Global => "global",
            MicrosoftCloud::UsGov => "usgov",
            MicrosoftCloud::UsGovDod => "usgov-dod",
            MicrosoftCloud::China => "china",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        MicrosoftCloud::ALL.into_iter().find(|c| c.as_str() == s)
    }

    /// `https://login.microsoftonline.com` and friends.
    pub fn authority(self) -> &'static str {
        match self {
            MicrosoftCloud::Global => "https://login.microsoftonline.com",
            MicrosoftCloud::UsGov | MicrosoftCloud::UsGovDod => "https://login.microsoftonline.us",
            MicrosoftCloud::China => "https://login.partner.microsoftonline.cn",
        }
    }

    /// `https://graph.microsoft.com` and friends.
    pub fn graph(self) -> &'static str {
        match self {
            MicrosoftCloud::Global => "https://graph.microsoft.com",
            MicrosoftCloud::UsGov => "https://graph.microsoft.us",
            MicrosoftCloud::UsGovDod => "https://dod-graph.microsoft.us",
            MicrosoftCloud::China => "https://microsoftgraph.chinacloudapi.cn",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_round_trip() {
        for code in OauthCode::ALL {
            assert_eq!(OauthCode::parse(code.as_str()), Some(code));
            let json = serde_json::to_string(&code).unwrap();
            assert_eq!(json, format!("\"{}\"", code.as_str()));
        }
        assert_eq!(OauthCode::parse("nope"), None);
    }

    #[test]
    fn microsoft_scopes_with_and_without_resource_prefix() {
        assert!(
            missing_scopes(
                Provider::Microsoft,
                Provider::Microsoft.required_scopes(),
                "Mail.Send User.Read openid"
            )
            .is_empty()
        );
        assert!(
            missing_scopes(
                Provider::Microsoft,
                Provider::Microsoft.required_scopes(),
                "https://graph.microsoft.com/Mail.Send https://graph.microsoft.com/user.read"
            )
            .is_empty()
        );
        assert_eq!(
            missing_scopes(
                Provider::Microsoft,
                Provider::Microsoft.required_scopes(),
                "User.Read openid profile"
            ),
            vec!["Mail.Send"]
        );
    }

    #[test]
    fn google_scope_must_be_exact() {
        assert!(
            missing_scopes(
                Provider::Google,
                Provider::Google.required_scopes(),
                "openid https://www.googleapis.com/auth/gmail.send email"
            )
            .is_empty()
        );
        assert_eq!(
            missing_scopes(
                Provider::Google,
                Provider::Google.required_scopes(),
                "openid https://www.googleapis.com/auth/userinfo.email"
            ),
            vec!["https://www.googleapis.com/auth/gmail.send"]
        );
    }

    #[test]
    fn clouds_come_in_pairs() {
        for cloud in MicrosoftCloud::ALL {
            assert_eq!(MicrosoftCloud::parse(cloud.as_str()), Some(cloud));
            assert!(cloud.authority().starts_with("https://"));
            assert!(cloud.graph().starts_with("https://"));
        }
    }
}
