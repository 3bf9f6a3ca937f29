//! The tokens that keep the connection alive: access tokens (refreshed ahead of expiry, one
//! refresh for concurrent callers), the check, disconnect (with revocation), the status shown
//! on the page and the keep-alive.

use super::classify::{classify_token_error, network_outcome};
use super::{
    KEEPALIVE_AFTER_MS, OauthService, Outcome, REFRESH_AHEAD_MS, REFRESH_LOCK_MS, TokenError,
    expires_at, store_outcome,
};
use crate::clock::utc_text;
use crate::clock::{DAY_MS, now_ms};
use crate::store::{Connection, StoreError, Tokens, secret_names};
use app::domain::{OauthCode, OauthProblem, OauthStatus, Provider, SettingsView, missing_scopes};
use oauth2::{RefreshToken, Scope, TokenResponse};
use secrecy::{ExposeSecret, SecretString};
use std::time::Duration;

impl OauthService {
    /// An access token for sending, refreshed first when it is about to expire.
    #[tracing::instrument(level = "debug", skip_all)]
    pub async fn access_token(&self) -> Result<(SecretString, Connection), TokenError> {
        self.token(false).await
    }

    /// A new access token now, whatever the old one's expiry (after a 401 from a mail API).
    #[tracing::instrument(level = "debug", skip_all)]
    pub async fn fresh_token(&self) -> Result<(SecretString, Connection), TokenError> {
        self.token(true).await
    }

    /// A real refresh, now ("Check token"): a dead token shows before a notification fails.
    #[tracing::instrument(skip_all)]
    pub async fn check(&self, actor: &str) -> Result<Connection, TokenError> {
        let result = self.token(true).await.map(|(_, c)| c);
        let detail = match &result {
            Ok(_) => "ok".to_string(),
            Err(TokenError::Refresh(o)) => format!("{}: {}", o.code.as_str(), o.detail),
            Err(e) => e.to_string(),
        };
        let _ = self.store.audit(actor, "oauth.checked", &detail).await;
        result
    }

    #[tracing::instrument(level = "debug", skip_all)]
    pub(super) async fn token(
        &self,
        force: bool,
    ) -> Result<(SecretString, Connection), TokenError> {
        use std::sync::atomic::Ordering;
        let seen = self.refreshes.load(Ordering::SeqCst);
        // One caller of this process at a time; the others wait and reuse its result.
        let _guard = self.refresh_lock.lock().await;
        let mut first = self
            .store
            .connection()
            .await?
            .ok_or(TokenError::NotConnected)?;
        let now = now_ms();
        // Someone refreshed while this caller waited: use that result.
        let fresh_enough = self.refreshes.load(Ordering::SeqCst) != seen;
        let valid = first.access_expires_at - now > REFRESH_AHEAD_MS;
        if (fresh_enough || (!force && valid))
            && first.problem.is_none()
            && let Some(access) = self.store.secret(secret_names::OAUTH_ACCESS_TOKEN).await?
        {
            return Ok((access, first));
        }
        // One refresh at a time across the processes on the database too: a process that
        // finds another refreshing waits for its result instead of spending the refresh
        // token a second time.
        loop {
            let now = now_ms();
            if self
                .store
                .lock_refresh(&first.generation, now, now + REFRESH_LOCK_MS)
                .await?
            {
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
            let current = self
                .store
                .connection()
                .await?
                .ok_or(TokenError::NotConnected)?;
            if let Some(found) = self.refreshed_elsewhere(&first, &current).await? {
                return Ok(found);
            }
            if current.generation != first.generation {
                // Reconnected meanwhile: the new connection came with its own tokens.
                if let Some(access) = self.store.secret(secret_names::OAUTH_ACCESS_TOKEN).await? {
                    return Ok((access, current));
                }
                first = current;
            }
        }
        // The lock is ours; a refresh may have finished just before we took it.
        let result = async {
            let current = self
                .store
                .connection()
                .await?
                .ok_or(TokenError::NotConnected)?;
            if let Some(found) = self.refreshed_elsewhere(&first, &current).await? {
                return Ok(found);
            }
            self.refresh(current).await
        }
        .await;
        if let Err(e) = self.store.unlock_refresh().await {
            tracing::warn!(error = %e, "the token refresh lock stays until it expires");
        }
        result
    }

    /// Another process refreshed since `first` was read, with success: its stored token.
    async fn refreshed_elsewhere(
        &self,
        first: &Connection,
        current: &Connection,
    ) -> Result<Option<(SecretString, Connection)>, TokenError> {
        if current.generation == first.generation
            && current.last_refresh_at != first.last_refresh_at
            && current.problem.is_none()
            && let Some(access) = self.store.secret(secret_names::OAUTH_ACCESS_TOKEN).await?
        {
            // This process's callers waiting behind this one reuse it too.
            self.refreshes
                .fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            return Ok(Some((access, current.clone())));
        }
        Ok(None)
    }

    #[tracing::instrument(skip_all, fields(provider = connection.provider.as_str()))]
    pub(super) async fn refresh(
        &self,
        connection: Connection,
    ) -> Result<(SecretString, Connection), TokenError> {
        let outcome = async {
            let (settings, auth) = self.credentials().await?;
            let refresh = self
                .store
                .secret(secret_names::OAUTH_REFRESH_TOKEN)
                .await
                .map_err(store_outcome)?
                .ok_or_else(|| Outcome::new(OauthCode::NotConnected, ""))?;
            let client = self.client(&settings, &auth, None)?;
            let provider = settings.oauth.provider;
            let refresh_token = RefreshToken::new(refresh.expose_secret().to_string());
            let mut request = client.exchange_refresh_token(&refresh_token);
            for (name, value) in self.assertion_params(&settings, &auth)? {
                request = request.add_extra_param(name, value);
            }
            let scopes = settings.oauth.scopes();
            if provider == Provider::Microsoft {
                request = request.add_scopes(scopes.iter().map(|s| Scope::new(s.to_string())));
            }
            let age_days = (now_ms() - connection.connected_at) / DAY_MS;
            request
                .request_async(&self.http)
                .await
                .map(|answer| {
                    let alias = (provider == Provider::Google)
                        .then(|| settings.oauth.send_as().map(str::to_string))
                        .flatten();
                    (answer, settings.oauth.required_scopes(), alias)
                })
                .map_err(|e| classify_token_error(provider, &e, true, Some(age_days)))
        }
        .await;
        let now = now_ms();
        match outcome {
            Ok((answer, required, alias)) => {
                let tokens = Tokens {
                    access: SecretString::from(answer.access_token().secret().clone()),
                    access_expires_at: expires_at(now, answer.expires_in()),
                    refresh: answer
                        .refresh_token()
                        .map(|r| SecretString::from(r.secret().clone())),
                };
                if !self
                    .store
                    .refreshed(&tokens, now, &connection.generation)
                    .await?
                {
                    // Disconnected or reconnected meanwhile: what is stored now stands, and
                    // this refresh's tokens are dropped.
                    tracing::info!(
                        "the OAuth connection changed during a refresh; kept the new one"
                    );
                    let current = self
                        .store
                        .connection()
                        .await?
                        .ok_or(TokenError::NotConnected)?;
                    let access = self
                        .store
                        .secret(secret_names::OAUTH_ACCESS_TOKEN)
                        .await?
                        .ok_or(TokenError::NotConnected)?;
                    return Ok((access, current));
                }
                self.refreshes
                    .fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                // A permission taken away since the consent shows here too.
                let mut scopes_missing = false;
                if let Some(scopes) = answer.scopes() {
                    let granted: Vec<&str> = scopes.iter().map(|s| s.as_str()).collect();
                    let missing =
                        missing_scopes(connection.provider, &required, &granted.join(" "));
                    if !missing.is_empty() {
                        scopes_missing = true;
                        self.store
                            .set_connection_problem(
                                Some((OauthCode::ScopeMissing, &missing.join(" "))),
                                now,
                                &connection.generation,
                            )
                            .await?;
                    }
                }
                // A Gmail alias checked at every refresh (about hourly): one that is no longer
                // a verified alias stops the sending instead of going out from the account. A
                // check that could not be made (Gmail unreachable) does not stop it: the
                // alias was verified at the consent.
                let unverified = match alias.filter(|_| !scopes_missing) {
                    Some(alias) => match self.check_send_as(&tokens.access, &alias).await {
                        Err(o) if o.code == OauthCode::SendAsNotVerified => Some(o),
                        Err(o) => {
                            tracing::warn!(code = o.code.as_str(), detail = %o.detail, "could not check the Gmail send-as alias");
                            None
                        }
                        Ok(()) => None,
                    },
                    None => None,
                };
                if let Some(o) = unverified {
                    tracing::warn!(detail = %o.detail, "the Gmail send-as alias is not verified");
                    self.store
                        .set_connection_problem(
                            Some((o.code, &o.detail)),
                            now,
                            &connection.generation,
                        )
                        .await?;
                    return Err(TokenError::Refresh(o));
                }
                tracing::info!(rotated = tokens.refresh.is_some(), "OAuth token refreshed");
                let connection = self
                    .store
                    .connection()
                    .await?
                    .ok_or(TokenError::NotConnected)?;
                Ok((tokens.access, connection))
            }
            Err(o) => {
                tracing::warn!(code = o.code.as_str(), detail = %o.detail, "OAuth token refresh failed");
                self.store
                    .set_connection_problem(Some((o.code, &o.detail)), now, &connection.generation)
                    .await?;
                // Not for a provider that could not be reached: that mends itself.
                if !matches!(o.code, OauthCode::Unreachable | OauthCode::ProviderError) {
                    crate::service::alerts::raise(
                        &self.store,
                        app::domain::AlertEvent::OauthReconnect,
                        &format!(
                            "{} ({}): {}: {}",
                            connection.provider.as_str(),
                            connection.account,
                            o.code.as_str(),
                            o.detail
                        ),
                    )
                    .await;
                }
                Err(TokenError::Refresh(o))
            }
        }
    }

    /// Revokes the grant where the provider offers it (Google), then forgets the tokens.
    /// A failed revocation is reported but does not keep the tokens.
    #[tracing::instrument(skip_all)]
    pub async fn disconnect(&self, actor: &str) -> Result<Option<Outcome>, StoreError> {
        let _guard = self.refresh_lock.lock().await;
        let Some(connection) = self.store.connection().await? else {
            return Ok(None);
        };
        let mut revoke_problem = None;
        if connection.provider == Provider::Google
            && let Some(token) = self.store.secret(secret_names::OAUTH_REFRESH_TOKEN).await?
        {
            let answer = self
                .http
                .post(&self.endpoints.google_revoke)
                .form(&[("token", token.expose_secret())])
                .send()
                .await;
            match answer {
                Ok(r) if r.status().is_success() => {}
                // 400 invalid_token: already dead, nothing left to revoke.
                Ok(r) if r.status() == reqwest::StatusCode::BAD_REQUEST => {}
                Ok(r) => {
                    revoke_problem = Some(Outcome::new(
                        OauthCode::ProviderError,
                        format!("revoke: HTTP {}", r.status().as_u16()),
                    ))
                }
                Err(e) => revoke_problem = Some(network_outcome(&e)),
            }
        }
        let reason = match &revoke_problem {
            None => format!("{}: {}", connection.provider.as_str(), connection.account),
            Some(o) => format!(
                "{}: {} (revocation failed: {})",
                connection.provider.as_str(),
                connection.account,
                o.detail
            ),
        };
        self.store.disconnect(actor, &reason).await?;
        tracing::info!("OAuth account disconnected");
        Ok(revoke_problem)
    }

    /// What the page shows about the connection.
    #[tracing::instrument(level = "debug", skip_all)]
    pub async fn status(&self, settings: &SettingsView) -> Result<OauthStatus, StoreError> {
        let now = now_ms();
        let secret_expires_in_days = (settings.oauth.provider == Provider::Microsoft)
            .then(|| crate::clock::days_until(settings.oauth.credential_expires_on()))
            .flatten();
        let admin_consent_url = self.admin_consent_url(settings);
        // App-only: no account is connected; the app sends as the saved mailbox.
        if settings.oauth.is_app_only() {
            return Ok(OauthStatus {
                secret_expires_in_days,
                admin_consent_url,
                app_only_sender: Some(settings.oauth.sender.clone()),
                ..OauthStatus::default()
            });
        }
        let Some(c) = self.store.connection().await? else {
            return Ok(OauthStatus {
                secret_expires_in_days,
                admin_consent_url,
                ..OauthStatus::default()
            });
        };
        Ok(OauthStatus {
            provider: Some(c.provider),
            account: Some(c.account),
            display_name: Some(c.display_name).filter(|n| !n.is_empty()),
            connected_at: Some(utc_text(c.connected_at)),
            connected_by: Some(c.connected_by),
            last_refresh_at: c.last_refresh_at.map(utc_text),
            refresh_token_age_days: Some((now - c.refresh_token_at) / DAY_MS),
            scopes: c.scopes.split_whitespace().map(str::to_string).collect(),
            problem: c.problem.map(|(code, detail, at)| OauthProblem {
                code,
                detail,
                at: utc_text(at),
            }),
            secret_expires_in_days,
            admin_consent_url,
            app_only_sender: None,
        })
    }

    /// Keeps the connection alive in the background: refreshes when the last refresh is old,
    /// so a dead token shows on the page before a notification needs it.
    pub fn spawn_keepalive(
        self: std::sync::Arc<Self>,
        every: Duration,
    ) -> tokio::task::JoinHandle<()> {
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(every);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tick.tick().await;
                let Ok(Some(c)) = self.store.connection().await else {
                    continue;
                };
                let last = c.last_refresh_at.unwrap_or(c.connected_at);
                // A dead grant waits for the administrator; a network problem is retried.
                let retry = c
                    .problem
                    .as_ref()
                    .is_none_or(|p| p.0 == OauthCode::Unreachable);
                if retry && now_ms() - last > KEEPALIVE_AFTER_MS {
                    let _ = self.token(true).await;
                }
            }
        })
    }
}
