//! Alerts that do not depend on mail: queued by the worker and the OAuth refresh when mail
//! stops (or is about to), posted as JSON to the administrator's webhook, retried with backoff.
//!
//! The webhook's address is a sealed secret: it is read only to post, and never appears in a
//! log line, an error text or the page. An error names what failed (`timeout`, `http 500`),
//! not the address.

use crate::clock::{now_ms, utc_text};
use crate::store::{QueuedAlert, Store, StoreError, secret_names};
use app::domain::{AlertEvent, AlertTestResult, SECRET_EXPIRY_WARNING_DAYS, webhook_host};
use secrecy::{ExposeSecret as _, SecretString};
use std::time::{Duration, Instant};

/// At most this many attempts per alert (about two hours with the default backoff).
pub const MAX_ATTEMPTS: i64 = 8;
/// An alert of one kind at most once per hour; the expiring secret once a day.
pub fn window_ms(event: AlertEvent) -> i64 {
    match event {
        AlertEvent::SecretExpiring => 24 * 3_600_000,
        _ => 3_600_000,
    }
}
/// Longest `detail` sent (a server's reply can be long).
const DETAIL_MAX: usize = 1000;

/// How the sender runs; tests shorten the times.
#[derive(Clone, Debug)]
pub struct AlertConfig {
    /// How often the queue is looked at when idle.
    pub poll: Duration,
    /// The first retry's wait; doubled each time, at most an hour.
    pub retry_base: Duration,
    /// How long one POST may take.
    pub timeout: Duration,
    /// How often the client secret's expiry is checked.
    pub expiry_check: Duration,
}

impl Default for AlertConfig {
    fn default() -> Self {
        AlertConfig {
            poll: Duration::from_secs(5),
            retry_base: Duration::from_secs(30),
            timeout: Duration::from_secs(10),
            expiry_check: Duration::from_secs(3600),
        }
    }
}

/// Queues an alert (when alerts are on and none of this kind went out within its window).
/// Failing to queue is logged, never passed on: an alert must not stop the sending it is about.
pub async fn raise(store: &Store, event: AlertEvent, detail: &str) {
    let detail: String = detail.chars().take(DETAIL_MAX).collect();
    match store
        .raise_alert(event.as_str(), &detail, now_ms(), window_ms(event))
        .await
    {
        Ok(true) => tracing::info!(event = event.as_str(), "alert queued"),
        Ok(false) => {}
        Err(e) => tracing::warn!(error = %e, event = event.as_str(), "could not queue an alert"),
    }
}

/// The human line chat tools show (Slack and Teams display `text`): Japanese and English.
fn headline(event: AlertEvent) -> &'static str {
    match event {
        AlertEvent::QueuePaused => {
            "メール送信を停止しました（認証が拒否されました） / Mail sending paused: the credentials were refused"
        }
        AlertEvent::NotificationFailed => {
            "通知を送信できませんでした / A notification could not be sent"
        }
        AlertEvent::OauthReconnect => {
            "OAuth 接続の再接続が必要です / The OAuth connection must be connected again"
        }
        AlertEvent::SecretExpiring => {
            "クライアント シークレットまたは証明書の期限が近づいています / The client secret or certificate expires soon"
        }
        AlertEvent::BackupUsed => {
            "バックアップ接続で配信しました / The backup connection delivered what the main connection could not"
        }
        AlertEvent::Test => "テスト アラート / Test alert",
    }
}

/// The JSON the webhook gets.
pub fn payload(event: AlertEvent, at_ms: i64, detail: &str) -> serde_json::Value {
    serde_json::json!({
        "event": event.as_str(),
        "at": utc_text(at_ms),
        "detail": detail,
        "text": format!("[Mail settings] {}: {detail}", headline(event)),
    })
}

/// Posts one alert. `Ok(status)` for a 2xx answer; otherwise what failed, without the address.
pub async fn post(
    http: &reqwest::Client,
    url: &SecretString,
    body: &serde_json::Value,
    timeout: Duration,
) -> Result<u16, (Option<u16>, String)> {
    // Checked again: the stored address passed the same rules when saved.
    if webhook_host(url.expose_secret()).is_err() {
        return Err((None, "webhook address refused".into()));
    }
    let answer = http
        .post(url.expose_secret())
        .timeout(timeout)
        .json(body)
        .send()
        .await;
    match answer {
        Ok(r) if r.status().is_success() => Ok(r.status().as_u16()),
        Ok(r) => Err((
            Some(r.status().as_u16()),
            format!("http {}", r.status().as_u16()),
        )),
        Err(e) => Err((None, describe(&e))),
    }
}

/// A transport error in a few words; reqwest's own text would carry the address.
fn describe(e: &reqwest::Error) -> String {
    if e.is_timeout() {
        "timeout".into()
    } else if e.is_connect() {
        "connection failed".into()
    } else if e.is_redirect() {
        "redirect refused".into()
    } else if e.is_request() || e.is_body() {
        "request failed".into()
    } else {
        "no answer".into()
    }
}

/// The sender: one task per process; claims keep two processes from posting the same alert.
pub struct AlertSender {
    store: Store,
    http: reqwest::Client,
    config: AlertConfig,
}

impl AlertSender {
    pub fn new(store: Store, http: reqwest::Client, config: AlertConfig) -> Self {
        AlertSender {
            store,
            http,
            config,
        }
    }

    pub fn spawn(self) -> tokio::task::JoinHandle<()> {
        tokio::spawn(async move {
            let mut last_expiry_check: Option<Instant> = None;
            loop {
                if last_expiry_check.is_none_or(|t| t.elapsed() >= self.config.expiry_check) {
                    last_expiry_check = Some(Instant::now());
                    if let Err(e) = self.check_secret_expiry().await {
                        tracing::warn!(error = %e, "could not check the client secret's expiry");
                    }
                }
                match self.send_due().await {
                    Ok(true) => continue,
                    Ok(false) => {}
                    Err(e) => tracing::warn!(error = %e, "could not send alerts"),
                }
                tokio::time::sleep(self.config.poll).await;
            }
        })
    }

    /// Posts one due alert, if any. True when one was attempted.
    pub async fn send_due(&self) -> Result<bool, StoreError> {
        let lease = (self.config.timeout * 3).as_millis() as i64;
        let Some(alert) = self.store.claim_alert(now_ms(), lease).await? else {
            return Ok(false);
        };
        self.attempt(&alert).await?;
        Ok(true)
    }

    async fn attempt(&self, alert: &QueuedAlert) -> Result<(), StoreError> {
        let Some(event) = AlertEvent::parse(&alert.event) else {
            return self
                .store
                .alert_attempted(alert.id, false, Some("unknown event"), None, now_ms())
                .await;
        };
        let url = self.store.secret(secret_names::ALERT_WEBHOOK_URL).await?;
        let Some(url) = url else {
            // Removed meanwhile: nowhere to send it.
            return self
                .store
                .alert_attempted(alert.id, false, Some("no webhook set"), None, now_ms())
                .await;
        };
        let body = payload(event, alert.at_ms, &alert.detail);
        match post(&self.http, &url, &body, self.config.timeout).await {
            Ok(_) => {
                tracing::info!(event = %alert.event, "alert delivered");
                self.store
                    .alert_attempted(alert.id, true, None, None, now_ms())
                    .await
            }
            Err((_, error)) => {
                let retry_at = (alert.attempts < MAX_ATTEMPTS).then(|| {
                    let wait = self
                        .config
                        .retry_base
                        .saturating_mul(1 << (alert.attempts - 1).clamp(0, 16))
                        .min(Duration::from_secs(3600));
                    now_ms() + wait.as_millis() as i64
                });
                tracing::warn!(
                    event = %alert.event,
                    attempts = alert.attempts,
                    retry = retry_at.is_some(),
                    error = %error,
                    "alert not delivered"
                );
                self.store
                    .alert_attempted(alert.id, false, Some(&error), retry_at, now_ms())
                    .await
            }
        }
    }

    /// Queues the expiring-secret alert when the saved Microsoft client secret or certificate
    /// (of the main connection or of a Microsoft backup) ends within 30 days (or has ended).
    /// Both in one alert, as alerts of one kind go out at most once an hour.
    async fn check_secret_expiry(&self) -> Result<(), StoreError> {
        let settings = self.store.load().await?;
        let mut apps = Vec::new();
        if settings.auth == app::domain::AuthType::Oauth
            && settings.oauth.provider == app::domain::Provider::Microsoft
        {
            apps.push(("", settings.oauth.clone()));
        }
        if let Some(backup) = settings.backup.as_ref().and_then(|b| b.oauth()) {
            apps.push(("backup ", backup.as_oauth()));
        }
        let mut details = Vec::new();
        for (label, oauth) in apps {
            let expires_on = oauth.credential_expires_on();
            let Some(days) = crate::clock::days_until(expires_on) else {
                continue;
            };
            if days <= SECRET_EXPIRY_WARNING_DAYS {
                let what = if oauth.uses_certificate() {
                    "certificate"
                } else {
                    "client secret"
                };
                details.push(format!(
                    "{label}{what} of {} expires on {expires_on} ({days} days)",
                    oauth.client_id
                ));
            }
        }
        if !details.is_empty() {
            raise(&self.store, AlertEvent::SecretExpiring, &details.join("; ")).await;
        }
        Ok(())
    }
}

/// "Send test alert": posts at once (not queued) and says what happened.
pub async fn test(
    http: &reqwest::Client,
    url: &SecretString,
    actor: &str,
    timeout: Duration,
) -> AlertTestResult {
    let started = Instant::now();
    let body = payload(
        AlertEvent::Test,
        now_ms(),
        &format!("sent by {actor} from the mail settings"),
    );
    let result = post(http, url, &body, timeout).await;
    let millis = started.elapsed().as_millis() as u64;
    match result {
        Ok(status) => AlertTestResult {
            delivered: true,
            status: Some(status),
            error: None,
            millis,
        },
        Err((status, error)) => AlertTestResult {
            delivered: false,
            status,
            error: Some(error),
            millis,
        },
    }
}
