//! Microsoft app-only: the client credentials grant (`scope={graph}/.default`), for sending as
//! one mailbox with the application permission Mail.Send. No user, no refresh token: an access
//! token is asked for when needed and kept in this process until shortly before it expires.

use super::classify::classify_token_error;
use super::{OauthService, REFRESH_AHEAD_MS, TokenError, expires_at};
use crate::clock::now_ms;
use app::domain::{OauthCode, Provider};
use oauth2::{Scope, TokenResponse};
use secrecy::SecretString;

/// An app-only access token and what it was issued for.
pub(super) struct AppToken {
    /// Client, tenant and settings version: any saved change asks for a new token.
    key: String,
    token: SecretString,
    expires_at: i64,
}

impl OauthService {
    /// An access token for the saved Microsoft app-only settings, and the mailbox to send as.
    /// `force`: a new one whatever the kept one's expiry (after a 401 from Graph).
    #[tracing::instrument(level = "debug", skip_all)]
    pub async fn app_only_token(&self, force: bool) -> Result<(SecretString, String), TokenError> {
        let (settings, auth) = self.credentials().await.map_err(TokenError::Refresh)?;
        if !settings.oauth.is_app_only() {
            return Err(TokenError::NotConnected);
        }
        self.app_only_token_with(&settings, &auth, &self.app_token, "", force)
            .await
    }

    /// The same for the Microsoft 365 backup connection: its own app, secret and kept token.
    #[tracing::instrument(level = "debug", skip_all)]
    pub async fn backup_app_only_token(
        &self,
        force: bool,
    ) -> Result<(SecretString, String), TokenError> {
        let (settings, auth) = self
            .backup_credentials()
            .await
            .map_err(TokenError::Refresh)?;
        self.app_only_token_with(&settings, &auth, &self.backup_app_token, " backup", force)
            .await
    }

    /// `kept`: this process's token for the app; `label` names it in the alert.
    async fn app_only_token_with(
        &self,
        settings: &app::domain::SettingsView,
        auth: &super::ClientAuth,
        kept: &tokio::sync::Mutex<Option<AppToken>>,
        label: &str,
        force: bool,
    ) -> Result<(SecretString, String), TokenError> {
        let sender = settings.oauth.sender.clone();
        let key = format!(
            "{}|{}|{}",
            settings.oauth.client_id, settings.oauth.tenant_id, settings.version
        );
        // One request at a time in this process; the others wait and use its token.
        let mut kept = kept.lock().await;
        if !force
            && let Some(t) = kept.as_ref()
            && t.key == key
            && t.expires_at - REFRESH_AHEAD_MS > now_ms()
        {
            return Ok((t.token.clone(), sender));
        }
        let client = self
            .client(settings, auth, None)
            .map_err(TokenError::Refresh)?;
        let assertion = self
            .assertion_params(settings, auth)
            .map_err(TokenError::Refresh)?;
        let scope = format!(
            "{}/.default",
            self.endpoints.microsoft_graph.trim_end_matches('/')
        );
        let now = now_ms();
        let mut request = client
            .exchange_client_credentials()
            .add_scope(Scope::new(scope));
        for (name, value) in assertion {
            request = request.add_extra_param(name, value);
        }
        let answer = request
            .request_async(&self.http)
            .await
            .map_err(|e| classify_token_error(Provider::Microsoft, &e, false, None));
        let answer = match answer {
            Ok(answer) => answer,
            Err(o) => {
                tracing::warn!(code = o.code.as_str(), detail = %o.detail, backup = !label.is_empty(), "app-only token refused");
                // A provider that could not be reached mends itself; anything else needs the
                // administrator (a wrong or expired secret, no admin consent, no such tenant).
                if !matches!(o.code, OauthCode::Unreachable | OauthCode::ProviderError) {
                    crate::service::alerts::raise(
                        &self.store,
                        app::domain::AlertEvent::OauthReconnect,
                        &format!(
                            "microsoft app-only{label} ({sender}): {}: {}",
                            o.code.as_str(),
                            o.detail
                        ),
                    )
                    .await;
                }
                return Err(TokenError::Refresh(o));
            }
        };
        let token = SecretString::from(answer.access_token().secret().clone());
        *kept = Some(AppToken {
            key,
            token: token.clone(),
            expires_at: expires_at(now, answer.expires_in()),
        });
        tracing::info!("app-only access token obtained");
        Ok((token, sender))
    }

    /// Forgets the kept app-only tokens (the settings changed, or Graph refused one).
    pub async fn forget_app_only_token(&self) {
        *self.app_token.lock().await = None;
        *self.backup_app_token.lock().await = None;
    }
}
