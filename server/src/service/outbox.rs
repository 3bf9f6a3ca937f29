//! The delivery worker: takes due notifications from the outbox, sends them with the saved
//! transport, and marks each sent, schedules a retry (exponential backoff with jitter, or the
//! provider's `Retry-After`), or gives up with the last error kept. Refused credentials pause the
//! queue instead of burning retries.

use crate::clock::now_ms;
use crate::config::WorkerConfig;
use crate::store::{Notification, Store};
use crate::transport::{Mailer, Outgoing, SavedTransport};
use app::domain::{SendCode, SendFailure};
use futures_util::stream::{self, StreamExt};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;
use tokio::sync::Notify;

/// Failures no retry can fix until an administrator acts: they pause the whole queue.
pub fn pauses_queue(f: &SendFailure) -> bool {
    matches!(
        f.code,
        SendCode::AuthFailed
            | SendCode::AppPasswordRequired
            | SendCode::SmtpAuthDisabled
            | SendCode::BasicAuthBlocked
            | SendCode::AuthRequired
            | SendCode::GraphAccessDenied
            | SendCode::GmailInsufficientPermissions
            | SendCode::SettingsInvalid
    ) || (f.code == SendCode::TokenUnavailable && !f.retryable)
}

/// Whether the backup connection takes over from a failure of the primary on attempt
/// `attempts`: not for what the recipient or the message caused, and for the provider's
/// passing trouble (4xx, 429, 5xx) only once the primary had its own retry.
pub fn backup_takes_over(f: &SendFailure, attempts: i64) -> bool {
    use SendCode::*;
    match f.code {
        DnsFailed
        | ConnectionRefused
        | Timeout
        | StarttlsUnavailable
        | CertificateInvalid
        | StarttlsRequired
        | AuthFailed
        | AppPasswordRequired
        | SmtpAuthDisabled
        | BasicAuthBlocked
        | AuthUnsupported
        | AuthRequired
        | SendAsDenied
        | RelayDenied
        | GraphAccessDenied
        | GraphSendAsDenied
        | MailboxNotEnabled
        | GmailInsufficientPermissions
        | GmailNotEnabled
        | TokenUnavailable
        | SettingsInvalid => true,
        Temporary | Throttled | ProviderUnavailable => attempts >= 2,
        Rejected | RecipientInvalid | Other => false,
    }
}

/// The longest wait a provider's `Retry-After` can impose on one notification: a broken or
/// hostile answer ("Retry-After: 999999999") must not park mail for years.
pub const RETRY_AFTER_MAX: Duration = Duration::from_secs(3600);

/// The delay before attempt `attempts + 1`.
pub fn backoff(config: &WorkerConfig, attempts: i64, retry_after: Option<u64>) -> Duration {
    let exp = config
        .base_backoff
        .saturating_mul(1u32 << attempts.clamp(0, 16) as u32)
        .min(config.max_backoff);
    // ±20 % so that many messages failing together do not come back together.
    let spread = exp.as_millis() as i64 / 5;
    let jitter = if spread > 0 {
        (rand_u64() % (2 * spread as u64 + 1)) as i64 - spread
    } else {
        0
    };
    let with_jitter = Duration::from_millis((exp.as_millis() as i64 + jitter).max(0) as u64);
    match retry_after {
        Some(s) => with_jitter.max(Duration::from_secs(s).min(RETRY_AFTER_MAX)),
        None => with_jitter,
    }
}

fn rand_u64() -> u64 {
    let mut b = [0u8; 8];
    aes_gcm::aead::rand_core::RngCore::fill_bytes(&mut aes_gcm::aead::OsRng, &mut b);
    u64::from_le_bytes(b)
}

/// What one attempt did.
enum Attempted {
    /// Delivered; the round marks it sent.
    Sent,
    /// Delivered by the backup connection; the round marks it sent, via the backup.
    SentByBackup,
    /// Failed, and the retry or the end is recorded.
    Recorded,
    /// Credentials refused: the queue is paused and this one goes back untouched.
    Paused,
}

pub struct Worker {
    store: Store,
    mailer: Arc<Mailer>,
    wake: Arc<Notify>,
    config: WorkerConfig,
}

impl Worker {
    pub fn new(store: Store, mailer: Arc<Mailer>, wake: Arc<Notify>, config: WorkerConfig) -> Self {
        Worker {
            store,
            mailer,
            wake,
            config,
        }
    }

    /// Runs until the task is dropped. First, what a killed process left half-sent is due again
    /// (a process with no heartbeat; other running processes keep what they are sending).
    pub fn spawn(self) -> tokio::task::JoinHandle<()> {
        tokio::spawn(async move {
            match self
                .store
                .recover_sending(now_ms(), crate::startup::HEARTBEAT_STALE_MS)
                .await
            {
                Ok(0) => {}
                Ok(n) => tracing::warn!(
                    count = n,
                    "notifications interrupted by a restart are sent again"
                ),
                Err(e) => {
                    let _ = crate::error::internal(&e);
                }
            }
            loop {
                let worked = match self.round().await {
                    Ok(n) => n,
                    Err(e) => {
                        let _ = crate::error::internal(&e);
                        0
                    }
                };
                if worked == 0 {
                    let _ = tokio::time::timeout(self.config.idle, self.wake.notified()).await;
                }
            }
        })
    }

    /// One round: claims what is due and tries each, several at once (one per pooled SMTP
    /// connection; at most [`crate::transport::API_CONCURRENCY`] on a mail API). Returns how
    /// many were claimed.
    pub async fn round(&self) -> Result<usize, crate::store::StoreError> {
        if self.store.queue_paused().await?.is_some() {
            return Ok(0);
        }
        // The settings once for the round: they name the connection whose sending limits the
        // claim respects. The password and CA file only once something was claimed.
        let settings = self.store.load().await?;
        // Held by an administrator (maintenance): nothing is claimed; the queue keeps
        // accepting, and saving the settings wakes the worker again.
        if settings.delivery.paused {
            return Ok(0);
        }
        let divert = settings.delivery.divert().map(str::to_string);
        let quota = self.quota(&settings).await?;
        let now = now_ms();
        let due = self
            .store
            .claim_due(
                now,
                self.config.lease.as_millis() as i64,
                crate::startup::HEARTBEAT_STALE_MS,
                self.config.batch,
                &quota,
                divert.as_deref(),
            )
            .await?;
        let count = due.len();
        if count == 0 {
            return Ok(0);
        }
        let saved = self.mailer.saved_with(settings).await;
        let backup = self.mailer.backup_with(&saved).await;
        let width = self.mailer.concurrency(saved.auth());
        let paused = AtomicBool::new(false);
        type Outcome = Result<Option<(String, bool)>, crate::store::StoreError>;
        let outcomes: Vec<Outcome> = stream::iter(due)
            .map(|n| {
                let paused = &paused;
                let saved = &saved;
                let backup = backup.as_ref();
                async move {
                    // Paused meanwhile: what was claimed goes back untouched.
                    if paused.load(Ordering::SeqCst) {
                        self.store.release(&n.id, now_ms()).await?;
                        return Ok(None);
                    }
                    match self.attempt(&n, saved, backup, paused).await? {
                        Attempted::Sent => Ok(Some((n.id, false))),
                        Attempted::SentByBackup => Ok(Some((n.id, true))),
                        Attempted::Recorded => Ok(None),
                        Attempted::Paused => {
                            self.store.release(&n.id, now_ms()).await?;
                            Ok(None)
                        }
                    }
                }
            })
            .buffer_unordered(width)
            .collect()
            .await;
        // One commit for the round's sent notifications: a crash before it sends them again
        // (same Message-ID), never loses one.
        let (mut sent, mut by_backup) = (Vec::new(), Vec::new());
        let mut first_error = None;
        for outcome in outcomes {
            match outcome {
                Ok(Some((id, false))) => sent.push(id),
                Ok(Some((id, true))) => by_backup.push(id),
                Ok(None) => {}
                Err(e) => first_error = first_error.or(Some(e)),
            }
        }
        if !sent.is_empty() {
            self.store.mark_sent_all(&sent, now_ms(), None).await?;
            tracing::info!(count = sent.len(), "notifications sent");
        }
        // Only the backup connection delivers these, so it is there.
        if !by_backup.is_empty()
            && let Some(backup) = &backup
        {
            let key = backup.connection().key;
            self.store
                .mark_sent_all(&by_backup, now_ms(), Some(&key))
                .await?;
            tracing::info!(
                count = by_backup.len(),
                "notifications sent by the backup connection"
            );
        }
        match first_error {
            Some(e) => Err(e),
            None => Ok(count),
        }
    }

    /// The sending limits that apply to the connection `settings` send through.
    pub async fn quota(
        &self,
        settings: &app::domain::SettingsView,
    ) -> Result<crate::store::Quota, crate::store::StoreError> {
        let connection = app::domain::Connection::of(settings);
        // Before the read: a save that lands after it is newer than these limits.
        let read_at_ms = crate::clock::now_ms();
        let saved = self.store.sending_limits(&connection.key).await?;
        let (_, limits) = saved.effective(&connection);
        Ok(crate::store::Quota {
            connection: connection.key,
            limits,
            minute_ms: self.config.limit_minute.as_millis() as i64,
            read_at_ms,
        })
    }

    /// Sends one. A failure is recorded at once; a success is left to the round, which marks
    /// all of its sent notifications in one commit. `paused`: set by the first send of the
    /// round whose credentials are refused.
    #[tracing::instrument(skip_all, fields(id = %n.id, attempt = n.attempts))]
    async fn attempt(
        &self,
        n: &Notification,
        saved: &SavedTransport,
        backup: Option<&SavedTransport>,
        paused: &AtomicBool,
    ) -> Result<Attempted, crate::store::StoreError> {
        // Diverted (staging): only to the one address the claim recorded, the original
        // recipients named in `X-Original-To`.
        let diverted: Vec<String> = n.diverted_to.iter().cloned().collect();
        let (to, original_to): (&[String], &[String]) = if diverted.is_empty() {
            (&n.recipients, &[])
        } else {
            (&diverted, &n.recipients)
        };
        let mail = Outgoing {
            to,
            original_to,
            subject: &n.subject,
            body: &n.body,
            message_id: Some(&n.message_id),
        };
        let report = self.mailer.send_with(saved, &mail).await;
        let Some(f) = report.failure else {
            tracing::debug!(id = %n.id, attempts = n.attempts, "notification sent");
            return Ok(Attempted::Sent);
        };
        let mut error = (
            f.code.as_str(),
            f.step.as_str().to_string(),
            f.reply.clone(),
        );
        // The backup connection takes over what the primary could not deliver (the same
        // Message-ID, so a copy that did arrive after all is recognised).
        if let Some(backup) = backup.filter(|_| backup_takes_over(&f, n.attempts)) {
            let reason = format!("{} at {}: {}", error.0, error.1, error.2);
            match self.mailer.send_with(backup, &mail).await.failure {
                None => {
                    tracing::warn!(id = %n.id, code = %error.0, "sent by the backup connection");
                    self.store.record_backup_use(now_ms(), &reason).await?;
                    crate::service::alerts::raise(
                        &self.store,
                        app::domain::AlertEvent::BackupUsed,
                        &format!(
                            "notification {}: the main connection failed ({reason})",
                            n.id
                        ),
                    )
                    .await;
                    return Ok(Attempted::SentByBackup);
                }
                Some(b) => {
                    // Both failed: the primary's failure decides, the backup's is kept beside it.
                    error.2 = format!(
                        "{}; backup: {} at {}: {}",
                        error.2,
                        b.code.as_str(),
                        b.step.as_str(),
                        b.reply
                    );
                }
            }
        }
        let now = now_ms();
        if pauses_queue(&f) {
            // Another send of the same round may have paused the queue already: one pause,
            // one audit entry.
            if paused.swap(true, Ordering::SeqCst) {
                return Ok(Attempted::Paused);
            }
            tracing::warn!(id = %n.id, code = %error.0, "sending paused: credentials refused");
            self.store
                .set_queue_paused(Some((&error.0, &error.2)), now)
                .await?;
            self.store
                .audit(
                    "system",
                    "mail.paused",
                    &format!("{}: {}", error.0, error.2),
                )
                .await?;
            crate::service::alerts::raise(
                &self.store,
                app::domain::AlertEvent::QueuePaused,
                &format!("{} at {}: {}", error.0, error.1, error.2),
            )
            .await;
            return Ok(Attempted::Paused);
        }
        let retry_at = (f.retryable && n.attempts < self.config.max_attempts).then(|| {
            now + backoff(&self.config, n.attempts - 1, f.retry_after_secs).as_millis() as i64
        });
        tracing::warn!(
            id = %n.id,
            attempts = n.attempts,
            code = %error.0,
            retry = retry_at.is_some(),
            "notification not sent"
        );
        self.store
            .mark_failed(&n.id, (&error.0, &error.1, &error.2), retry_at, now)
            .await?;
        if retry_at.is_none() {
            crate::service::alerts::raise(
                &self.store,
                app::domain::AlertEvent::NotificationFailed,
                &format!(
                    "notification {} after {} attempt(s): {} at {}: {}",
                    n.id, n.attempts, error.0, error.1, error.2
                ),
            )
            .await;
        }
        Ok(Attempted::Recorded)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_backup_takes_what_is_not_the_recipients_fault() {
        let f = |code| crate::transport::failure(code, app::domain::StepName::Connect, "", true);
        for code in [
            SendCode::ConnectionRefused,
            SendCode::Timeout,
            SendCode::CertificateInvalid,
            SendCode::AuthFailed,
            SendCode::TokenUnavailable,
            SendCode::GraphAccessDenied,
        ] {
            assert!(backup_takes_over(&f(code), 1), "{code:?}");
        }
        for code in [
            SendCode::RecipientInvalid,
            SendCode::Rejected,
            SendCode::Other,
        ] {
            assert!(!backup_takes_over(&f(code), 5), "{code:?}");
        }
        // The provider's passing trouble: its own retry first.
        for code in [
            SendCode::Temporary,
            SendCode::Throttled,
            SendCode::ProviderUnavailable,
        ] {
            assert!(!backup_takes_over(&f(code), 1), "{code:?}");
            assert!(backup_takes_over(&f(code), 2), "{code:?}");
        }
    }

    #[test]
    fn backoff_doubles_with_jitter_and_honours_retry_after() {
        let c = WorkerConfig::default();
        for attempt in 0..4 {
            let d = backoff(&c, attempt, None).as_secs_f64();
            let expected = 30.0 * 2f64.powi(attempt as i32);
            assert!(
                d >= expected * 0.8 - 0.01 && d <= expected * 1.2 + 0.01,
                "{attempt}: {d}"
            );
        }
        assert!(backoff(&c, 20, None) <= c.max_backoff + c.max_backoff / 5);
        assert!(backoff(&c, 0, Some(120)) >= Duration::from_secs(120));
    }

    #[test]
    fn a_providers_retry_after_is_capped_at_an_hour() {
        let c = WorkerConfig::default();
        for huge in [3601, 86_400, u64::MAX] {
            let d = backoff(&c, 0, Some(huge));
            assert!(d <= RETRY_AFTER_MAX, "{huge}: {d:?}");
            assert!(
                d >= RETRY_AFTER_MAX - Duration::from_secs(1),
                "{huge}: {d:?}"
            );
        }
    }
}
