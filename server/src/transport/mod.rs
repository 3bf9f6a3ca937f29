//! Sending mail through whatever the settings say: SMTP (lettre, step by step), Microsoft
//! Graph `sendMail` or the Gmail API. One message builder for all three; every failure is
//! classified (what to do, retryable or not) and keeps the provider's code.

mod api;
mod smtp;

use crate::oauth::{OauthService, TokenError};
use crate::store::{Store, StoreError, secret_names};
use app::domain::{
    AuthType, BackupView, DeliveryReport, Mailbox, Provider, SendCode, SendFailure, SettingsView,
    Step, StepName, StepStatus,
};
use lettre::Message;
use lettre::message::header::{ContentType, HeaderName, HeaderValue};
use secrecy::SecretString;
use std::future::Future;
use std::sync::Arc;
use std::time::Instant;

pub use smtp::classify as classify_smtp;

/// A failure at `step`.
pub fn failure(code: SendCode, step: StepName, reply: &str, retryable: bool) -> SendFailure {
    SendFailure {
        code,
        step,
        reply: reply.to_string(),
        retryable,
        retry_after_secs: None,
    }
}

/// Collects the steps of one delivery with their timing.
#[derive(Default)]
pub struct Recorder {
    pub steps: Vec<Step>,
}

impl Recorder {
    /// Runs one step; its `Ok` carries the value and a detail line for the report.
    #[tracing::instrument(level = "debug", skip_all)]
    pub async fn step<T>(
        &mut self,
        name: StepName,
        work: impl Future<Output = Result<(T, String), SendFailure>>,
    ) -> Result<T, SendFailure> {
        let started = Instant::now();
        let result = work.await;
        let millis = started.elapsed().as_millis() as u64;
        match result {
            Ok((value, detail)) => {
                self.steps.push(Step {
                    name,
                    status: StepStatus::Ok,
                    millis,
                    detail,
                });
                Ok(value)
            }
            Err(f) => {
                self.steps.push(Step {
                    name,
                    status: StepStatus::Failed,
                    millis,
                    detail: f.reply.clone(),
                });
                Err(f)
            }
        }
    }

    /// A step done outside [`Recorder::step`].
    pub fn ok(&mut self, name: StepName, took: std::time::Duration, detail: &str) {
        self.steps.push(Step {
            name,
            status: StepStatus::Ok,
            millis: took.as_millis() as u64,
            detail: detail.to_string(),
        });
    }

    pub fn skip(&mut self, name: StepName, detail: &str) {
        self.steps.push(Step {
            name,
            status: StepStatus::Skipped,
            millis: 0,
            detail: detail.to_string(),
        });
    }
}

/// One mail to send.
pub struct Outgoing<'a> {
    /// Empty: to the sender itself (the test mail's default).
    pub to: &'a [String],
    /// Diverted: the recipients the mail was meant for, named in an `X-Original-To` header
    /// (empty otherwise).
    pub original_to: &'a [String],
    pub subject: &'a str,
    pub body: &'a str,
    /// Kept over retries so a duplicate can be recognised; a new one when `None`.
    pub message_id: Option<&'a str>,
}

impl Outgoing<'_> {
    fn recipients(&self, sender: &str) -> Vec<String> {
        if self.to.is_empty() {
            vec![sender.to_string()]
        } else {
            self.to.to_vec()
        }
    }
}

pub struct Mailer {
    store: Store,
    oauth: Arc<OauthService>,
    api: api::MailApis,
    /// PEM file trusted for STARTTLS besides the public roots; read at each send, so a renewed
    /// company CA needs no restart.
    smtp_ca_file: Option<std::path::PathBuf>,
    pool: smtp::Pool,
    smtp_timeout: std::time::Duration,
    /// Graph requests in flight for the Microsoft backup: the round's width follows the main
    /// connection (an SMTP pool may be wider than Graph's 4 per mailbox).
    backup_api_slots: tokio::sync::Semaphore,
}

/// The saved settings and the stored SMTP password, read once for a round of the delivery
/// worker rather than once per notification: a change saved meanwhile applies from the next
/// round (a round is at most one batch).
pub struct SavedTransport {
    settings: SettingsView,
    smtp_password: Option<SecretString>,
    /// `SMTP_CA_FILE`, read once for the round (or why it could not be read).
    smtp_roots: ExtraRoots,
    /// The backup connection (its own secrets, tokens and sending limits).
    backup: bool,
}

/// Certificates trusted besides the public roots, or why `SMTP_CA_FILE` could not be read
/// (each SMTP send then reports it as its certificate problem).
type ExtraRoots = Result<Vec<Vec<u8>>, String>;

impl SavedTransport {
    /// The connection whose sending limits this transport's mail counts against.
    pub fn connection(&self) -> app::domain::Connection {
        let connection = app::domain::Connection::of(&self.settings);
        // A Microsoft backup has limits of its own mailbox, apart from a Microsoft primary's.
        if self.backup && self.settings.auth == AuthType::Oauth {
            let sender = self.settings.oauth.sender.to_ascii_lowercase();
            return app::domain::Connection {
                key: format!("{}:{sender}", connection.key),
                label: format!("{} {sender}", connection.label),
            };
        }
        connection
    }

    pub fn auth(&self) -> AuthType {
        self.settings.auth
    }
}

/// Requests in flight at once per mailbox on the mail APIs: Microsoft Graph allows 4
/// concurrent requests per mailbox (more get 429, "ApplicationThrottled").
pub const API_CONCURRENCY: usize = 4;

impl Mailer {
    pub fn new(
        store: Store,
        oauth: Arc<OauthService>,
        endpoints: &crate::config::ProviderEndpoints,
        smtp_ca_file: Option<&std::path::Path>,
        smtp_timeout: std::time::Duration,
        smtp_pool_size: usize,
    ) -> Mailer {
        Mailer {
            store,
            oauth,
            api: api::MailApis::new(endpoints),
            smtp_ca_file: smtp_ca_file.map(|p| p.to_path_buf()),
            pool: smtp::Pool::new(smtp_pool_size),
            smtp_timeout,
            backup_api_slots: tokio::sync::Semaphore::new(API_CONCURRENCY),
        }
    }

    /// How many notifications may be sent at once over `auth`: one per pooled SMTP connection
    /// (at least one), and for the mail APIs at most [`API_CONCURRENCY`].
    pub fn concurrency(&self, auth: AuthType) -> usize {
        let smtp = self.pool.size().max(1);
        match auth {
            AuthType::Smtp => smtp,
            AuthType::Oauth => smtp.min(API_CONCURRENCY),
        }
    }

    /// Reads what the worker sends a round with: the saved settings and, for SMTP, the stored
    /// password (an unreadable password counts as none, which the send reports as such).
    #[tracing::instrument(level = "debug", skip_all)]
    pub async fn load_saved(&self) -> Result<SavedTransport, StoreError> {
        let settings = self.store.load().await?;
        Ok(self.saved_with(settings).await)
    }

    /// [`Mailer::load_saved`] for settings already read: the password and `SMTP_CA_FILE`.
    pub async fn saved_with(&self, settings: SettingsView) -> SavedTransport {
        let (smtp_password, smtp_roots) = match settings.auth {
            AuthType::Smtp => (
                self.store
                    .secret(secret_names::SMTP_PASSWORD)
                    .await
                    .ok()
                    .flatten(),
                self.extra_roots().await,
            ),
            AuthType::Oauth => (None, Ok(Vec::new())),
        };
        SavedTransport {
            settings,
            smtp_password,
            smtp_roots,
            backup: false,
        }
    }

    /// The backup connection of the round's settings, with its stored password; `None` when
    /// none is set. `SMTP_CA_FILE` as the round read it (read here when the main connection is
    /// a mail API and so did not). A Microsoft backup reads its secret when it needs a token.
    pub async fn backup_with(&self, saved: &SavedTransport) -> Option<SavedTransport> {
        let backup = saved.settings.backup.as_ref()?;
        let mut settings = saved.settings.clone();
        settings.backup = None;
        let (smtp_password, smtp_roots) = match backup {
            BackupView::Oauth(oauth) => {
                settings.auth = AuthType::Oauth;
                settings.oauth = oauth.as_oauth();
                (None, Ok(Vec::new()))
            }
            BackupView::Smtp(smtp) => {
                settings.auth = AuthType::Smtp;
                settings.smtp = smtp.clone();
                let roots = match saved.settings.auth {
                    AuthType::Smtp => saved.smtp_roots.clone(),
                    AuthType::Oauth => self.extra_roots().await,
                };
                let password = self
                    .store
                    .secret(secret_names::BACKUP_SMTP_PASSWORD)
                    .await
                    .ok()
                    .flatten();
                (password, roots)
            }
        };
        Some(SavedTransport {
            settings,
            smtp_password,
            smtp_roots,
            backup: true,
        })
    }

    /// Reads `SMTP_CA_FILE` (without blocking the runtime), if set.
    async fn extra_roots(&self) -> ExtraRoots {
        match &self.smtp_ca_file {
            Some(path) => tokio::fs::read(path)
                .await
                .map(|pem| vec![pem])
                .map_err(|e| format!("SMTP_CA_FILE {}: {e}", path.display())),
            None => Ok(Vec::new()),
        }
    }

    /// Sends with the saved settings and the stored secrets, reusing idle SMTP connections.
    #[tracing::instrument(level = "debug", skip_all)]
    pub async fn send_saved(&self, mail: &Outgoing<'_>) -> DeliveryReport {
        match self.load_saved().await {
            Ok(saved) => self.send_with(&saved, mail).await,
            Err(e) => {
                let _ = crate::error::internal(&e);
                report_failed(
                    "",
                    "",
                    "",
                    Vec::new(),
                    failure(SendCode::Other, StepName::Connect, "database", true),
                )
            }
        }
    }

    /// Sends with settings read by [`Mailer::load_saved`], reusing idle SMTP connections.
    #[tracing::instrument(level = "debug", skip_all)]
    pub async fn send_with(&self, saved: &SavedTransport, mail: &Outgoing<'_>) -> DeliveryReport {
        self.send_saved_transport(saved, mail, true).await
    }

    /// Sends with a saved transport (the backup connection's, for its test mail) on a fresh
    /// connection, every step shown.
    pub async fn send_fresh(&self, saved: &SavedTransport, mail: &Outgoing<'_>) -> DeliveryReport {
        self.send_saved_transport(saved, mail, false).await
    }

    async fn send_saved_transport(
        &self,
        saved: &SavedTransport,
        mail: &Outgoing<'_>,
        pooled: bool,
    ) -> DeliveryReport {
        match saved.settings.auth {
            AuthType::Smtp => {
                let password = saved.smtp_password.clone();
                let roots = Some(&saved.smtp_roots);
                self.send_smtp(&saved.settings, password, roots, mail, pooled)
                    .await
            }
            AuthType::Oauth => {
                self.send_api(&saved.settings.oauth, mail, saved.backup)
                    .await
            }
        }
    }

    /// Sends with `settings` (saved or being edited) on fresh connections, every step shown;
    /// `smtp_password` replaces the stored one.
    #[tracing::instrument(level = "debug", skip_all)]
    pub async fn send(
        &self,
        settings: &SettingsView,
        smtp_password: Option<SecretString>,
        mail: &Outgoing<'_>,
    ) -> DeliveryReport {
        match settings.auth {
            AuthType::Smtp => {
                self.send_smtp(settings, smtp_password, None, mail, false)
                    .await
            }
            AuthType::Oauth => self.send_api(&settings.oauth, mail, false).await,
        }
    }

    #[tracing::instrument(level = "debug", skip_all)]
    async fn send_smtp(
        &self,
        settings: &SettingsView,
        password: Option<SecretString>,
        roots: Option<&ExtraRoots>,
        mail: &Outgoing<'_>,
        pooled: bool,
    ) -> DeliveryReport {
        let from = settings.smtp.user.clone();
        let recipients = mail.recipients(&from);
        let to = recipients.join(", ");
        let mut rec = Recorder::default();
        let result = async {
            let message = build_message(&from, &recipients, mail)?;
            let password = match password {
                Some(p) => p,
                None => self
                    .store
                    .secret(secret_names::SMTP_PASSWORD)
                    .await
                    .ok()
                    .flatten()
                    .ok_or_else(|| {
                        failure(
                            SendCode::SettingsInvalid,
                            StepName::Auth,
                            "no SMTP password is stored",
                            false,
                        )
                    })?,
            };
            let port = settings
                .smtp
                .port
                .and_then(|p| u16::try_from(p).ok())
                .ok_or_else(|| {
                    failure(SendCode::SettingsInvalid, StepName::Connect, "port", false)
                })?;
            let read;
            let roots = match roots {
                Some(roots) => roots,
                None => {
                    read = self.extra_roots().await;
                    &read
                }
            };
            let extra_roots = roots
                .as_ref()
                .map_err(|e| failure(SendCode::CertificateInvalid, StepName::Starttls, e, false))?;
            let target = smtp::SmtpTarget {
                host: &settings.smtp.server,
                port,
                starttls: settings.smtp.ssl,
                user: &settings.smtp.user,
                password: &password,
                extra_roots,
                timeout: self.smtp_timeout,
            };
            smtp::deliver(&target, &message, &mut rec, pooled.then_some(&self.pool)).await
        }
        .await;
        finish("smtp", &from, &to, rec, result)
    }

    #[tracing::instrument(level = "debug", skip_all)]
    async fn send_api(
        &self,
        oauth: &app::domain::OauthView,
        mail: &Outgoing<'_>,
        backup: bool,
    ) -> DeliveryReport {
        let provider = oauth.provider;
        let app_only = oauth.is_app_only();
        let transport = match provider {
            Provider::Microsoft => "microsoft_graph",
            Provider::Google => "gmail_api",
        };
        // Within Graph's concurrency per mailbox also when the main connection's width is more.
        let _slot = if backup {
            self.backup_api_slots.acquire().await.ok()
        } else {
            None
        };
        let mut rec = Recorder::default();
        let mut from = String::new();
        let mut to = mail.to.join(", ");
        let result = async {
            let (token, sender) = rec
                .step(StepName::Token, async {
                    let (token, sender) = self.api_token(provider, app_only, false, backup).await?;
                    let detail = if backup {
                        format!("app-only backup, as {sender} ({})", provider.as_str())
                    } else if app_only {
                        format!("app-only, as {sender} ({})", provider.as_str())
                    } else {
                        format!("{sender} ({})", provider.as_str())
                    };
                    Ok(((token, sender), detail))
                })
                .await?;
            // Delegated may send as a shared mailbox or an alias of the account.
            from = oauth.send_as().map_or(sender, str::to_string);
            let recipients = mail.recipients(&from);
            to = recipients.join(", ");
            let message = build_message(&from, &recipients, mail)?;
            // App-only sends as the mailbox and delegated as a shared one through Graph
            // `/users/{mailbox}`; otherwise `/me` (Gmail: `users/me`, the alias in From).
            let mailbox = (app_only || oauth.send_as().is_some()).then_some(from.as_str());
            rec.step(StepName::ApiCall, async {
                match self.api.send(provider, &token, &message, mailbox).await {
                    // An expired or revoked access token: one new token, one retry, no loop.
                    Err(api::ApiFailure::Unauthorized(_)) => {
                        let (fresh, _) = self.api_token(provider, app_only, true, backup).await?;
                        self.api
                            .send(provider, &fresh, &message, mailbox)
                            .await
                            .map_err(api::ApiFailure::into_failure)
                    }
                    other => other.map_err(api::ApiFailure::into_failure),
                }
                .map(|detail| ((), detail))
            })
            .await
        }
        .await;
        finish(transport, &from, &to, rec, result)
    }

    /// An access token for the mail API of `provider` and the address mail goes out from: the
    /// connected account (delegated), or the saved sending mailbox (Microsoft app-only, the
    /// client credentials grant). `fresh`: a new token now, after the API refused one.
    /// `backup`: the Microsoft backup connection's own app-only token.
    async fn api_token(
        &self,
        provider: Provider,
        app_only: bool,
        fresh: bool,
        backup: bool,
    ) -> Result<(SecretString, String), SendFailure> {
        if backup {
            return self
                .oauth
                .backup_app_only_token(fresh)
                .await
                .map_err(token_failure);
        }
        if app_only {
            return self
                .oauth
                .app_only_token(fresh)
                .await
                .map_err(token_failure);
        }
        let (token, c) = if fresh {
            self.oauth.fresh_token().await
        } else {
            self.oauth.access_token().await
        }
        .map_err(token_failure)?;
        if c.provider != provider {
            return Err(failure(
                SendCode::TokenUnavailable,
                StepName::Token,
                "not_connected: the connected account belongs to the other provider",
                false,
            ));
        }
        Ok((token, c.account))
    }
}

fn token_failure(e: TokenError) -> SendFailure {
    let (reply, retryable) = match &e {
        TokenError::NotConnected => ("not_connected".to_string(), false),
        TokenError::Refresh(o) => (
            format!("{}: {}", o.code.as_str(), o.detail),
            o.code == app::domain::OauthCode::Unreachable,
        ),
        TokenError::Store(_) => ("internal".to_string(), true),
    };
    if let TokenError::Store(s) = &e {
        let _ = crate::error::internal(s);
    }
    failure(
        SendCode::TokenUnavailable,
        StepName::Token,
        &reply,
        retryable,
    )
}

fn finish(
    transport: &str,
    from: &str,
    to: &str,
    rec: Recorder,
    result: Result<(), SendFailure>,
) -> DeliveryReport {
    match result {
        Ok(()) => DeliveryReport {
            ok: true,
            transport: transport.into(),
            from: from.into(),
            to: to.into(),
            steps: rec.steps,
            failure: None,
        },
        Err(f) => report_failed(transport, from, to, rec.steps, f),
    }
}

fn report_failed(
    transport: &str,
    from: &str,
    to: &str,
    steps: Vec<Step>,
    f: SendFailure,
) -> DeliveryReport {
    DeliveryReport {
        ok: false,
        transport: transport.into(),
        from: from.into(),
        to: to.into(),
        steps,
        failure: Some(f),
    }
}

/// The one message builder: From = the sender, UTF-8 subject (encoded words) and body,
/// `Message-ID` on the sender's domain (or the one given), `Date`, and `X-Original-To` when the
/// mail was diverted away from `mail.original_to`.
pub fn build_message(
    from: &str,
    to: &[String],
    mail: &Outgoing<'_>,
) -> Result<Message, SendFailure> {
    let (subject, body, message_id) = (mail.subject, mail.body, mail.message_id);
    let invalid = |what: &str| failure(SendCode::SettingsInvalid, StepName::Envelope, what, false);
    let from_box: lettre::message::Mailbox = from.parse().map_err(|_| invalid("sender"))?;
    let domain = from_box.email.domain().to_string();
    let mut builder = Message::builder().from(from_box);
    for addr in to {
        let refused = |code: String| {
            failure(
                SendCode::RecipientInvalid,
                StepName::Envelope,
                &format!("{addr}: {code}"),
                false,
            )
        };
        Mailbox::parse(addr).map_err(|code| refused(code.as_str()))?;
        let mailbox: lettre::message::Mailbox =
            addr.parse().map_err(|_| refused("invalid".into()))?;
        builder = builder.to(mailbox);
    }
    let id = match message_id {
        Some(id) => message_id_on(id, &domain),
        None => new_message_id(&domain),
    };
    if !mail.original_to.is_empty() {
        // The stored recipients passed the mailbox rules when accepted (no control
        // characters), so they cannot break out of the header.
        let name = HeaderName::new_from_ascii_str("X-Original-To");
        builder = builder.raw_header(HeaderValue::new(name, mail.original_to.join(", ")));
    }
    builder
        .subject(subject)
        .message_id(Some(id))
        .date_now()
        .header(ContentType::TEXT_PLAIN)
        .body(body.to_string())
        .map_err(|e| invalid(&e.to_string()))
}

/// `<random@domain>`.
pub fn new_message_id(domain: &str) -> String {
    format!("<{}@{}>", uuid::Uuid::new_v4().simple(), domain)
}

/// The kept Message-ID `<unique@any>` put on the domain of the mail's actual sender. The
/// unique part identifies the notification across retries (a duplicate is recognisable); the
/// domain is always the one of the From address, whichever transport sends (an OAuth
/// account's domain, not the SMTP user's), as RFC 5322 §3.6.4 advises.
pub fn message_id_on(kept: &str, domain: &str) -> String {
    let inner = kept.trim().trim_start_matches('<').trim_end_matches('>');
    let unique = inner.rsplit_once('@').map_or(inner, |(left, _)| left);
    if unique.is_empty() {
        return new_message_id(domain);
    }
    format!("<{unique}@{domain}>")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_kept_message_id_moves_to_the_senders_domain() {
        assert_eq!(
            message_id_on("<0a1b2c@localhost>", "contoso.com"),
            "<0a1b2c@contoso.com>"
        );
        assert_eq!(
            message_id_on("<0a1b2c@contoso.com>", "contoso.com"),
            "<0a1b2c@contoso.com>"
        );
        let fresh = message_id_on("<>", "contoso.com");
        assert!(
            fresh.starts_with('<') && fresh.ends_with("@contoso.com>"),
            "{fresh}"
        );
    }

    #[test]
    fn the_builder_writes_the_message_id_on_the_from_domain() {
        let to = ["user@example.co.jp".to_string()];
        let mail = Outgoing {
            to: &to,
            original_to: &[],
            subject: "subject",
            body: "body",
            message_id: Some("<0a1b2c@localhost>"),
        };
        let m = build_message("sender@contoso.com", &to, &mail).unwrap();
        let text = String::from_utf8(m.formatted()).unwrap();
        assert!(text.contains("Message-ID: <0a1b2c@contoso.com>"), "{text}");
        assert!(!text.contains("X-Original-To"), "{text}");
    }

    #[test]
    fn a_diverted_message_names_its_original_recipients() {
        let to = ["qa@example.co.jp".to_string()];
        let original = ["a@example.co.jp".to_string(), "b@example.co.jp".to_string()];
        let mail = Outgoing {
            to: &to,
            original_to: &original,
            subject: "subject",
            body: "body",
            message_id: None,
        };
        let m = build_message("sender@contoso.com", &to, &mail).unwrap();
        let text = String::from_utf8(m.formatted()).unwrap();
        assert!(
            text.contains("X-Original-To: a@example.co.jp, b@example.co.jp"),
            "{text}"
        );
        assert!(text.contains("\r\nTo: qa@example.co.jp\r\n"), "{text}");
        let envelope: Vec<String> = m.envelope().to().iter().map(|a| a.to_string()).collect();
        assert_eq!(envelope, ["qa@example.co.jp"]);
    }
}
