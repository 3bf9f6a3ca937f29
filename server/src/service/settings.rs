//! The server's implementation of the app's settings port.

use crate::error::internal;
use crate::oauth::{OauthService, PENDING_KEY, TokenError};
use crate::store::{Store, StoreError};
use crate::transport::{Mailer, Outgoing};
use app::api::backend::SettingsBackend;
use app::api::{
    ApiError, AuditEntry, LogPage, NotificationRow, OauthActionResult, PageData, PausedQueue,
};
use app::domain::{
    AuthType, Connection, DeliveryReport, ErrorCode, Field, FieldError, OauthCode, OauthStatus,
    QuotaMeter, SecretChange, SendingLimits, SettingsInput, SettingsView, TestMailRequest,
    check_settings, validate,
};
use secrecy::SecretString;
use std::net::IpAddr;
use std::sync::Arc;

impl AppBackend {
    /// The meter of the connection `settings` send through.
    pub async fn meter(&self, settings: &SettingsView) -> Result<QuotaMeter, StoreError> {
        let connection = Connection::of(settings);
        let saved = self.store.sending_limits(&connection.key).await?;
        let (preset, limits) = saved.effective(&connection);
        let usage = self
            .store
            .quota_usage(
                &connection.key,
                crate::clock::now_ms(),
                self.limit_minute_ms,
            )
            .await?;
        let (waiting, next) = self.store.waiting().await?;
        Ok(QuotaMeter {
            connection,
            saved,
            preset,
            limits,
            used_minute: usage.minute,
            used_day: usage.day,
            recipients_day: usage.recipients_day,
            waiting,
            next_at: next.map(ms_text),
        })
    }
}

/// How many audit log entries the settings page shows.
const AUDIT_ON_PAGE: i64 = 20;

pub struct AppBackend {
    pub store: Store,
    pub base_path: String,
    pub server_ip: Option<IpAddr>,
    pub oauth: Arc<OauthService>,
    pub mailer: Arc<Mailer>,
    /// Wakes the delivery worker (a retry, a resume).
    pub wake_worker: Arc<tokio::sync::Notify>,
    /// The short window of the sending limits (the worker's `limit_minute`), in ms.
    pub limit_minute_ms: i64,
    /// For the webhook of alerts (no redirects, time limits).
    pub alerts_http: reqwest::Client,
    pub alerts: crate::service::alerts::AlertConfig,
}

impl AppBackend {
    /// The alert queued last, as the page shows it.
    async fn last_alert(&self) -> Result<Option<app::domain::LastAlert>, ApiError> {
        use app::domain::{AlertEvent, AlertState, LastAlert};
        let record = self.store.last_alert().await.map_err(|e| internal(&e))?;
        Ok(record.and_then(|r| {
            Some(LastAlert {
                event: AlertEvent::parse(&r.event)?,
                at: crate::clock::utc_text(r.at_ms),
                state: match (r.delivered, r.done) {
                    (true, _) => AlertState::Delivered,
                    (false, true) => AlertState::Failed,
                    (false, false) => AlertState::Retrying,
                },
                // A delivered alert's error is cleared when it is recorded.
                error: r.last_error,
            })
        }))
    }
}

/// Rows per page of the delivery log.
const LOG_PAGE: i64 = 50;

fn ms_text(ms: i64) -> String {
    crate::clock::utc_text(ms)
}

fn send_code(text: &str) -> Option<app::domain::SendCode> {
    serde_json::from_value(serde_json::Value::from(text)).ok()
}

impl AppBackend {
    async fn queue_state(&self) -> Result<(Option<PausedQueue>, i64), ApiError> {
        let paused = self
            .store
            .queue_paused()
            .await
            .map_err(|e| internal(&e))?
            .map(|(code, reply, since)| PausedQueue {
                code: send_code(&code).unwrap_or(app::domain::SendCode::Other),
                reply,
                since: ms_text(since),
            });
        let failures = self
            .store
            .failures_since(crate::clock::now_ms() - 24 * 3600 * 1000)
            .await
            .map_err(|e| internal(&e))?;
        Ok((paused, failures))
    }

    /// The OAuth connection alone (no audit log, no queue state).
    pub async fn oauth_status(&self) -> Result<OauthStatus, ApiError> {
        let settings = self.store.load().await.map_err(|e| internal(&e))?;
        self.oauth.status(&settings).await.map_err(|e| internal(&e))
    }
}

impl AppBackend {
    /// What only the server can check of a new Microsoft certificate or key: that the
    /// certificate reads, is valid today and is RSA, and that the key (new or stored) belongs to
    /// it. The rules in `app::domain` checked their shape already.
    async fn certificate_errors(
        &self,
        input: &SettingsInput,
    ) -> Result<Vec<app::domain::FieldError>, ApiError> {
        use crate::oauth::certificate;
        use app::domain::{Field, FieldError, OauthCredential, Provider};
        let Some(oauth) = input.oauth.as_ref().filter(|o| {
            o.provider == Provider::Microsoft && o.credential == OauthCredential::Certificate
        }) else {
            return Ok(Vec::new());
        };
        let given = |t: Option<&str>| {
            t.map(str::trim)
                .filter(|t| !t.is_empty())
                .map(str::to_string)
        };
        let new_cert = given(oauth.certificate.as_deref());
        let new_key = given(oauth.certificate_key.as_ref().map(|k| k.expose()));
        if new_cert.is_none() && new_key.is_none() {
            // Nothing new: the stored pair was checked when it was saved.
            return Ok(Vec::new());
        }
        let cert_pem = match new_cert.clone() {
            Some(pem) => Some(pem),
            None => self
                .store
                .certificate_pem()
                .await
                .map_err(|e| internal(&e))?,
        };
        let cert = match cert_pem.as_deref().map(certificate::read) {
            Some(Ok(cert)) => cert,
            Some(Err(code)) if new_cert.is_some() => {
                return Ok(vec![FieldError::new(Field::OauthCertificate, code)]);
            }
            // No readable stored certificate to check a new key against: the rules ask for one.
            _ => return Ok(Vec::new()),
        };
        let key = match new_key {
            Some(key) => Some(SecretString::from(key)),
            None => self
                .store
                .secret(crate::store::secret_names::OAUTH_CERTIFICATE_KEY)
                .await
                .map_err(|e| internal(&e))?,
        };
        let now = crate::clock::now_ms() / 1000;
        Ok(certificate::check_pair(&cert, key.as_ref(), now))
    }
}

#[async_trait::async_trait]
impl SettingsBackend for AppBackend {
    async fn page_data(&self) -> Result<PageData, ApiError> {
        let settings = self.store.load().await.map_err(|e| internal(&e))?;
        let audit = self
            .store
            .audit_entries(AUDIT_ON_PAGE)
            .await
            .map_err(|e| internal(&e))?
            .into_iter()
            .map(|(at, actor, action, detail)| AuditEntry {
                at,
                actor,
                action,
                detail,
            })
            .collect();
        let oauth = self
            .oauth
            .status(&settings)
            .await
            .map_err(|e| internal(&e))?;
        let (paused, failures_24h) = self.queue_state().await?;
        let quota = self.meter(&settings).await.map_err(|e| internal(&e))?;
        let last_alert = if settings.alerts.enabled {
            self.last_alert().await?
        } else {
            None
        };
        let backup_last_used = if settings.backup.is_some() {
            self.store
                .backup_last_use()
                .await
                .map_err(|e| internal(&e))?
                .map(|(at, reason)| app::api::BackupUse {
                    at: ms_text(at),
                    reason,
                })
        } else {
            None
        };
        Ok(PageData {
            backup_last_used,
            last_alert,
            quota,
            settings,
            server_ip: self.server_ip,
            viewer: String::new(),
            audit,
            oauth,
            failures_24h,
            paused,
        })
    }

    #[tracing::instrument(skip(self, input), fields(auth = input.auth.as_str()))]
    async fn save(&self, input: SettingsInput, actor: &str) -> Result<SettingsView, ApiError> {
        let certificate_errors = self.certificate_errors(&input).await?;
        let outcome = self
            .store
            .save(actor, input.version, |stored| {
                match validate(stored, &input) {
                    Ok(valid) if certificate_errors.is_empty() => Ok(valid),
                    Ok(_) => Err(certificate_errors),
                    // The rules' error on a field comes first; the certificate's adds to it.
                    Err(mut errors) => {
                        for e in certificate_errors {
                            if !errors.iter().any(|x| x.field == e.field) {
                                errors.push(e);
                            }
                        }
                        Err(errors)
                    }
                }
            })
            .await;
        match outcome {
            Ok(Ok(view)) => {
                tracing::info!(version = view.version, "settings saved");
                Ok(view)
            }
            Ok(Err(errors)) => Err(ApiError::Invalid(errors)),
            Err(StoreError::Conflict { current }) => Err(ApiError::Conflict {
                current_version: current,
            }),
            Err(e) => Err(internal(&e)),
        }
    }

    fn base_path(&self) -> &str {
        &self.base_path
    }

    async fn oauth_connect(&self) -> Result<String, ApiError> {
        let settings = self.store.load().await.map_err(|e| internal(&e))?;
        if settings.oauth.is_app_only() {
            // Nothing to consent to as a user: the tenant's administrator granted Mail.Send.
            return Err(ApiError::Oauth {
                code: OauthCode::SettingsIncomplete,
                detail: "app_only: no account is connected; check the token instead".into(),
            });
        }
        // The session the access check found; the attempt is bound to it.
        let session = leptos::prelude::use_context::<http::request::Parts>()
            .and_then(|p| p.extensions.get::<tower_sessions::Session>().cloned())
            .ok_or_else(|| ApiError::Internal {
                reference: "no-session".into(),
            })?;
        let (url, pending) = self.oauth.begin().await.map_err(|o| ApiError::Oauth {
            code: o.code,
            detail: o.detail,
        })?;
        session
            .insert(PENDING_KEY, pending)
            .await
            .map_err(|e| internal(&e))?;
        Ok(url)
    }

    async fn oauth_check(&self, actor: &str) -> Result<OauthActionResult, ApiError> {
        let settings = self.store.load().await.map_err(|e| internal(&e))?;
        let checked = if settings.oauth.is_app_only() {
            // A new client-credentials token now: the secret and the tenant are proven.
            let result = self.oauth.app_only_token(true).await.map(|_| ());
            let detail = match &result {
                Ok(()) => "app-only: ok".to_string(),
                Err(TokenError::Refresh(o)) => {
                    format!("app-only: {}: {}", o.code.as_str(), o.detail)
                }
                Err(e) => format!("app-only: {e}"),
            };
            let _ = self.store.audit(actor, "oauth.checked", &detail).await;
            result
        } else {
            self.oauth.check(actor).await.map(|_| ())
        };
        let (code, detail) = match checked {
            Ok(_) => (OauthCode::TokenOk, String::new()),
            Err(TokenError::NotConnected) => (OauthCode::NotConnected, String::new()),
            Err(TokenError::Refresh(o)) => (o.code, o.detail),
            Err(TokenError::Store(e)) => return Err(internal(&e)),
        };
        Ok(OauthActionResult {
            code,
            detail,
            status: self.oauth_status().await?,
        })
    }

    async fn send_test_mail(
        &self,
        request: TestMailRequest,
        actor: &str,
    ) -> Result<DeliveryReport, ApiError> {
        let stored = self.store.load().await.map_err(|e| internal(&e))?;
        // The settings being edited count over the saved ones; typed secrets replace stored.
        let (settings, password) = match &request.settings {
            None => (stored, None),
            Some(input) => {
                let valid = validate(&stored, input).map_err(ApiError::Invalid)?;
                let password = match valid.smtp_password() {
                    SecretChange::Replace(p) => Some(SecretString::from(p.expose().to_string())),
                    SecretChange::Keep => None,
                };
                (valid.settings().clone(), password)
            }
        };
        let errors = check_settings(&settings);
        if !errors.is_empty() {
            return Err(ApiError::Invalid(errors));
        }
        let to: Vec<String> = Some(request.to.trim().to_string())
            .filter(|t| !t.is_empty())
            .into_iter()
            .collect();
        let (subject, body) = test_mail_text(&settings, actor);
        let mail = Outgoing {
            to: &to,
            original_to: &[],
            subject: &subject,
            body: &body,
            message_id: None,
        };
        let report = if request.backup {
            // The saved backup, with its stored secret (an edited one is tested once saved).
            let refused = |code| ApiError::Invalid(vec![FieldError::new(Field::Body, code)]);
            if request.settings.is_some() {
                return Err(refused(ErrorCode::BackupTestSavedOnly));
            }
            let saved = self.mailer.saved_with(settings.clone()).await;
            let Some(backup) = self.mailer.backup_with(&saved).await else {
                return Err(refused(ErrorCode::BackupNotSet));
            };
            self.mailer.send_fresh(&backup, &mail).await
        } else {
            self.mailer.send(&settings, password, &mail).await
        };
        let outcome = match &report.failure {
            None => "ok".to_string(),
            Some(f) => format!("{} at {}", f.code.as_str(), f.step.as_str()),
        };
        let via = if request.backup { "backup " } else { "" };
        let detail = format!("{via}{} to {}: {outcome}", report.transport, report.to);
        self.store
            .audit(actor, "mail.test", &detail)
            .await
            .map_err(|e| internal(&e))?;
        tracing::info!(transport = %report.transport, ok = report.ok, %outcome, "test mail");
        Ok(report)
    }

    async fn delivery_log(
        &self,
        status: Option<String>,
        page: i64,
        search: Option<String>,
    ) -> Result<LogPage, ApiError> {
        use crate::store::Status;
        let filter = status.as_deref().and_then(Status::parse);
        // Bounded before any work: the page number (an offset past every row is an empty page,
        // never an overflow) and the search's length.
        let page = page.clamp(1, 1_000_000);
        let search: Option<String> = search
            .map(|q| q.trim().chars().take(app::api::LOG_SEARCH_MAX).collect())
            .filter(|q: &String| !q.is_empty());
        let (items, total) = self
            .store
            .search_notifications(filter, search.as_deref(), LOG_PAGE, (page - 1) * LOG_PAGE)
            .await
            .map_err(|e| internal(&e))?;
        let (paused, failures_24h) = self.queue_state().await?;
        Ok(LogPage {
            items: items
                .into_iter()
                .map(|n| NotificationRow {
                    next_attempt_at: matches!(
                        n.status,
                        Status::Queued | Status::Retrying | Status::Waiting
                    )
                    .then(|| ms_text(n.next_attempt_at)),
                    id: n.id,
                    recipients: n.recipients,
                    subject: n.subject,
                    status: n.status.as_str().to_string(),
                    attempts: n.attempts,
                    error_code: n.last_error_code.as_deref().and_then(send_code),
                    error_step: n.last_error_step,
                    error_reply: n.last_error_reply,
                    created_at: ms_text(n.created_at),
                    sent_at: n.sent_at.map(ms_text),
                    diverted_to: n.diverted_to,
                    delivered_via: n.delivered_via,
                })
                .collect(),
            total,
            page,
            per_page: LOG_PAGE,
            status: filter.map(|s| s.as_str().to_string()),
            search,
            paused,
            failures_24h,
            viewer: String::new(),
            delivery: self.delivery_options().await?,
        })
    }

    async fn delivery_options(&self) -> Result<app::domain::DeliveryOptions, ApiError> {
        Ok(self.store.load().await.map_err(|e| internal(&e))?.delivery)
    }

    async fn api_tokens(&self) -> Result<Vec<app::domain::TokenRow>, ApiError> {
        self.store.tokens().await.map_err(|e| internal(&e))
    }

    async fn create_api_token(
        &self,
        request: app::domain::NewTokenRequest,
        actor: &str,
    ) -> Result<app::domain::CreatedToken, ApiError> {
        use app::domain::{TokenError, TokenScopeChoice};
        use secrecy::ExposeSecret;
        // The browser's rules again, before anything is made.
        request.check().map_err(ApiError::Token)?;
        let scope = match request.scope {
            TokenScopeChoice::Notify => crate::store::TokenScope::Notify,
            TokenScopeChoice::Admin => crate::store::TokenScope::Admin,
        };
        let token = crate::service::accounts::create_api_token(
            &self.store,
            &request.name,
            scope,
            request.expires_days,
            actor,
        )
        .await
        .map_err(|e| match e.downcast_ref::<StoreError>() {
            Some(StoreError::TokenNameTaken(_)) => ApiError::Token(TokenError::NameTaken),
            _ => internal(e.as_ref()),
        })?;
        let token = token.expose_secret().to_string();
        // `mst_<id>_<secret>`: the id names the row just stored.
        let id = token
            .strip_prefix("mst_")
            .and_then(|rest| rest.split_once('_'))
            .map(|(id, _)| id.to_string())
            .unwrap_or_default();
        let row = self
            .store
            .token_listing(&id)
            .await
            .map_err(|e| internal(&e))?
            .ok_or_else(|| {
                internal(anyhow::anyhow!("the new token is not in the list").as_ref())
            })?;
        tracing::info!(name = %row.name, scope = %row.scope, "API token created on the page");
        Ok(app::domain::CreatedToken { token, row })
    }

    async fn revoke_api_token(&self, id: &str, actor: &str) -> Result<(), ApiError> {
        let id = id.trim();
        // An id is short; anything longer cannot be one (and is not looked up).
        if id.is_empty() || id.len() > 64 {
            return Err(ApiError::Token(app::domain::TokenError::NotFound));
        }
        let done = self
            .store
            .revoke_token(id)
            .await
            .map_err(|e| internal(&e))?;
        if !done {
            return Err(ApiError::Token(app::domain::TokenError::NotFound));
        }
        self.store
            .audit(actor, "token_revoked", id)
            .await
            .map_err(|e| internal(&e))?;
        Ok(())
    }

    async fn templates(&self) -> Result<Vec<app::api::TemplateView>, ApiError> {
        Ok(self
            .store
            .templates()
            .await
            .map_err(|e| internal(&e))?
            .into_iter()
            .map(template_view)
            .collect())
    }

    async fn save_template(
        &self,
        input: app::api::TemplateInput,
        actor: &str,
    ) -> Result<app::api::TemplateView, ApiError> {
        use app::domain::{ErrorCode, Field, FieldError, parse_part};
        let id = input.id.trim();
        let name = input.name.trim();
        if !app::api::valid_template_id(id) || name.is_empty() || name.len() > 200 {
            return Err(ApiError::Invalid(vec![FieldError::new(
                Field::Body,
                ErrorCode::InvalidType,
            )]));
        }
        let errors: Vec<_> = [("subject", &input.subject), ("body", &input.body)]
            .into_iter()
            .filter_map(|(part, text)| parse_part(part, text).err())
            .flatten()
            .collect();
        if !errors.is_empty() {
            return Err(ApiError::Template(errors));
        }
        match self
            .store
            .save_template(id, name, &input.subject, &input.body, input.version, actor)
            .await
        {
            Ok(t) => Ok(template_view(t)),
            Err(StoreError::Conflict { current }) => Err(ApiError::Conflict {
                current_version: current,
            }),
            Err(e) => Err(internal(&e)),
        }
    }

    async fn quota_meter(&self) -> Result<QuotaMeter, ApiError> {
        let settings = self.store.load().await.map_err(|e| internal(&e))?;
        self.meter(&settings).await.map_err(|e| internal(&e))
    }

    #[tracing::instrument(skip(self, limits), fields(preset = limits.preset.as_str()))]
    async fn save_limits(
        &self,
        limits: SendingLimits,
        actor: &str,
    ) -> Result<QuotaMeter, ApiError> {
        let limits = limits.validate().map_err(ApiError::Limits)?;
        let settings = self.store.load().await.map_err(|e| internal(&e))?;
        let connection = Connection::of(&settings);
        self.store
            .save_sending_limits(&connection.key, &limits, actor)
            .await
            .map_err(|e| internal(&e))?;
        // New limits may let waiting mail go now: the worker looks again at once.
        self.store
            .requeue_waiting(crate::clock::now_ms())
            .await
            .map_err(|e| internal(&e))?;
        self.wake_worker.notify_one();
        tracing::info!(connection = %connection.key, "sending limits saved");
        self.meter(&settings).await.map_err(|e| internal(&e))
    }

    async fn delivery_action(&self, id: &str, action: &str, actor: &str) -> Result<bool, ApiError> {
        let now = crate::clock::now_ms();
        let done = match action {
            "retry" => self.store.retry_now(id, now).await,
            "cancel" => self.store.cancel(id, now).await,
            "resume" => self.store.set_queue_paused(None, now).await.map(|_| true),
            _ => {
                return Err(ApiError::Invalid(vec![app::domain::FieldError::new(
                    app::domain::Field::Body,
                    app::domain::ErrorCode::InvalidType,
                )]));
            }
        }
        .map_err(|e| internal(&e))?;
        if done {
            self.store
                .audit(actor, &format!("mail.{action}"), id)
                .await
                .map_err(|e| internal(&e))?;
            self.wake_worker.notify_one();
        }
        Ok(done)
    }

    async fn test_alert(
        &self,
        webhook_url: Option<app::domain::TypedSecret>,
        actor: &str,
    ) -> Result<app::domain::AlertTestResult, ApiError> {
        use app::domain::{ErrorCode, Field, FieldError};
        let invalid =
            |code| ApiError::Invalid(vec![FieldError::new(Field::AlertsWebhookUrl, code)]);
        let typed = webhook_url
            .map(|u| u.expose().trim().to_string())
            .filter(|u| !u.is_empty());
        let url = match typed {
            Some(url) => {
                app::domain::webhook_host(&url).map_err(invalid)?;
                secrecy::SecretString::from(url)
            }
            None => self
                .store
                .secret(crate::store::secret_names::ALERT_WEBHOOK_URL)
                .await
                .map_err(|e| internal(&e))?
                .ok_or_else(|| invalid(ErrorCode::WebhookUrlRequired))?,
        };
        let result =
            crate::service::alerts::test(&self.alerts_http, &url, actor, self.alerts.timeout).await;
        let outcome = match &result.error {
            None => format!("delivered (http {})", result.status.unwrap_or_default()),
            Some(e) => format!("not delivered ({e})"),
        };
        self.store
            .audit(actor, "alert.test", &outcome)
            .await
            .map_err(|e| internal(&e))?;
        Ok(result)
    }

    async fn oauth_disconnect(&self, actor: &str) -> Result<OauthActionResult, ApiError> {
        let revoke = self
            .oauth
            .disconnect(actor)
            .await
            .map_err(|e| internal(&e))?;
        let (code, detail) = match revoke {
            None => (OauthCode::Disconnected, String::new()),
            Some(o) => (o.code, o.detail),
        };
        Ok(OauthActionResult {
            code,
            detail,
            status: self.oauth_status().await?,
        })
    }
}

/// The test mail's subject and body, in both languages (the reader may not be the sender).
pub fn test_mail_text(settings: &SettingsView, actor: &str) -> (String, String) {
    let method = match settings.auth {
        AuthType::Smtp => format!(
            "SMTP {}:{}{}",
            settings.smtp.server,
            settings.smtp.port.unwrap_or_default(),
            if settings.smtp.ssl { " STARTTLS" } else { "" }
        ),
        AuthType::Oauth => format!("OAuth {}", settings.oauth.provider.as_str()),
    };
    let at = crate::clock::utc_text(crate::clock::now_ms());
    (
        "テストメール（メール基本設定） / Test mail (mail settings)".to_string(),
        format!(
            "このメールは、メール基本設定の「テストメール送信」で送信されました。\n\
             This mail was sent by \"Send test mail\" in the mail settings.\n\n\
             送信方法 / Method: {method}\n\
             送信日時 / Sent at: {at}\n\
             実行者 / By: {actor}\n"
        ),
    )
}

fn template_view(t: crate::store::Template) -> app::api::TemplateView {
    app::api::TemplateView {
        id: t.id,
        name: t.name,
        subject: t.subject,
        body: t.body,
        version: t.version,
        updated_at: t.updated_at,
        updated_by: t.updated_by,
    }
}
