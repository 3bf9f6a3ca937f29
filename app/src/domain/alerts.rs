//! Alerts that do not depend on mail (`"alerts"` in the settings JSON): a JSON POST to a
//! webhook (Slack, Teams, any HTTP receiver) when mail stops or is about to stop.

use super::{ErrorCode, TypedSecret};
use serde::{Deserialize, Serialize};

/// Longest webhook address accepted (Teams workflow addresses run to about 400 characters).
pub const WEBHOOK_URL_MAX: usize = 2048;

/// As stored and shown. The webhook's address carries the channel's secret (Slack, Teams), so
/// it is write-only like a password: only whether one is set, and its host.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct AlertsView {
    /// Alerts are sent.
    #[serde(default)]
    pub enabled: bool,
    #[serde(default)]
    pub webhook_set: bool,
    /// The host of the stored webhook address (`hooks.slack.com`), to recognise it by.
    #[serde(default)]
    pub webhook_host: String,
}

/// As sent for saving. `webhook_url`: missing, `null` or empty keeps the stored address.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct AlertsInput {
    #[serde(default)]
    pub enabled: bool,
    #[serde(default)]
    pub webhook_url: Option<TypedSecret>,
}

/// What an alert is about. The snake_case name is the `event` of the JSON the webhook gets.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AlertEvent {
    /// The mail server or provider refused the credentials: nothing is sent until the
    /// settings change.
    QueuePaused,
    /// A notification failed for good (no retry left, or a failure retrying cannot mend).
    NotificationFailed,
    /// The OAuth connection stopped working and must be connected again.
    OauthReconnect,
    /// The Microsoft client secret expires within 30 days (or has expired).
    SecretExpiring,
    /// The backup connection delivered what the primary could not.
    BackupUsed,
    /// Sent by the "send test alert" button.
    Test,
}

impl AlertEvent {
    pub const ALL: [AlertEvent; 6] = [
        AlertEvent::QueuePaused,
        AlertEvent::NotificationFailed,
        AlertEvent::OauthReconnect,
        AlertEvent::SecretExpiring,
        AlertEvent::BackupUsed,
        AlertEvent::Test,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            AlertEvent::QueuePaused => "queue_paused",
            AlertEvent::NotificationFailed => "notification_failed",
            AlertEvent::OauthReconnect => "oauth_reconnect",
            AlertEvent::SecretExpiring => "secret_expiring",
            AlertEvent::BackupUsed => "backup_used",
            AlertEvent::Test => "test",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|e| e.as_str() == text)
    }
}

/// Where the last alert stands, for the settings page.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AlertState {
    /// The receiver took it.
    Delivered,
    /// Not yet taken; it is tried again.
    Retrying,
    /// Given up after every attempt.
    Failed,
}

impl AlertState {
    pub fn as_str(self) -> &'static str {
        match self {
            AlertState::Delivered => "delivered",
            AlertState::Retrying => "retrying",
            AlertState::Failed => "failed",
        }
    }
}

/// The alert queued last: what, when (UTC text), how it went, and why not (never the address).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct LastAlert {
    pub event: AlertEvent,
    pub at: String,
    pub state: AlertState,
    pub error: Option<String>,
}

/// The answer to "send test alert".
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AlertTestResult {
    pub delivered: bool,
    /// The receiver's HTTP status, when it answered.
    pub status: Option<u16>,
    /// What went wrong, without the address: `timeout`, `connect`, `http_status` …
    pub error: Option<String>,
    pub millis: u64,
}

/// Checks a webhook address and returns its host: `https://`, or `http://` to this machine
/// (`localhost`, `127.0.0.1`, `[::1]`: a receiver on the same host); no user or password in
/// it, no spaces or control characters. The server parses it once more before each POST.
pub fn webhook_host(url: &str) -> Result<String, ErrorCode> {
    if url.len() > WEBHOOK_URL_MAX {
        return Err(ErrorCode::TooLong);
    }
    if url.chars().any(|c| c.is_control() || c.is_whitespace()) {
        return Err(ErrorCode::WebhookUrlInvalid);
    }
    let lower = url.to_ascii_lowercase();
    let (secure, rest) = if let Some(rest) = lower.strip_prefix("https://") {
        (true, rest)
    } else if let Some(rest) = lower.strip_prefix("http://") {
        (false, rest)
    } else {
        return Err(ErrorCode::WebhookUrlNotHttps);
    };
    let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
    if authority.contains('@') {
        return Err(ErrorCode::WebhookUrlCredentials);
    }
    let host = if authority.starts_with('[') {
        match authority.find(']') {
            Some(end) => &authority[..=end],
            None => return Err(ErrorCode::WebhookUrlInvalid),
        }
    } else {
        authority.split(':').next().unwrap_or_default()
    };
    let port = &authority[host.len()..];
    let host_ok = !host.is_empty()
        && (host
            .strip_prefix('[')
            .and_then(|h| h.strip_suffix(']'))
            .is_some_and(|ip| ip.parse::<std::net::Ipv6Addr>().is_ok())
            || host
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.'));
    let port_ok = port.is_empty()
        || port
            .strip_prefix(':')
            .is_some_and(|p| p.parse::<u16>().is_ok_and(|p| p > 0));
    if !host_ok || !port_ok {
        return Err(ErrorCode::WebhookUrlInvalid);
    }
    if !secure && !matches!(host, "localhost" | "127.0.0.1" | "[::1]") {
        return Err(ErrorCode::WebhookUrlNotHttps);
    }
    Ok(host.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn webhook_addresses() {
        for (url, host) in [
            (
                "https://hooks.slack.com/services/T0/B0/xyz",
                "hooks.slack.com",
            ),
            (
                "https://contoso.webhook.office.com/webhookb2/a@b/IncomingWebhook/c/d",
                "contoso.webhook.office.com",
            ),
            ("HTTPS://Example.COM:8443/x?y=1", "example.com"),
            ("http://localhost:9000/alert", "localhost"),
            ("http://127.0.0.1/alert", "127.0.0.1"),
            ("http://[::1]:8080/", "[::1]"),
            ("https://[2001:db8::1]/hook", "[2001:db8::1]"),
        ] {
            assert_eq!(webhook_host(url).as_deref(), Ok(host), "{url}");
        }
        for (url, code) in [
            ("ftp://example.com/", ErrorCode::WebhookUrlNotHttps),
            ("hooks.slack.com/services/x", ErrorCode::WebhookUrlNotHttps),
            (
                "http://hooks.slack.com/services/x",
                ErrorCode::WebhookUrlNotHttps,
            ),
            ("http://127.0.0.2/", ErrorCode::WebhookUrlNotHttps),
            (
                "https://user:pw@example.com/",
                ErrorCode::WebhookUrlCredentials,
            ),
            ("https://exa mple.com/", ErrorCode::WebhookUrlInvalid),
            ("https://example.com/\nX: y", ErrorCode::WebhookUrlInvalid),
            ("https:///path", ErrorCode::WebhookUrlInvalid),
            ("https://example.com:0/", ErrorCode::WebhookUrlInvalid),
            ("https://example.com:99999/", ErrorCode::WebhookUrlInvalid),
            ("https://ex_ample.com/", ErrorCode::WebhookUrlInvalid),
            ("https://[::1/", ErrorCode::WebhookUrlInvalid),
            ("https://[zz::1]/", ErrorCode::WebhookUrlInvalid),
        ] {
            assert_eq!(webhook_host(url), Err(code), "{url}");
        }
        let long = format!("https://example.com/{}", "a".repeat(WEBHOOK_URL_MAX));
        assert_eq!(webhook_host(&long), Err(ErrorCode::TooLong));
    }

    #[test]
    fn events_have_stable_names() {
        for e in AlertEvent::ALL {
            assert_eq!(AlertEvent::parse(e.as_str()), Some(e));
            assert_eq!(serde_json::to_value(e).unwrap(), e.as_str());
        }
    }
}
