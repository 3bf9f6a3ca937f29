//! The server's implementation of the app's settings port.

use crate::oauth::{OauthService, PENDING_KEY, TokenError};
use crate::store::{Store, StoreError};
use app::api::backend::SettingsBackend;
use app::api::{ApiError, AuditEntry, OauthActionResult, PageData};
use app::domain::{OauthCode, OauthStatus, SettingsInput, SettingsView, validate};
use std::net::IpAddr;
use std::sync::Arc;

/// How many audit log entries the settings page shows.
const AUDIT_ON_PAGE: i64 = 20;

pub struct AppBackend {
    pub store: Store,
    pub base_path: String,
    pub server_ip: Option<IpAddr>,
    pub oauth: Arc<OauthService>,
}

impl AppBackend {
    async fn oauth_status(&self) -> Result<OauthStatus, ApiError> {
        let settings = self.store.load().await.map_err(|e| internal(&e))?;
        self.oauth.status(&settings).await.map_err(|e| internal(&e))
    }
}

/// Logs an internal error with its whole cause chain and returns an opaque reference that the
/// administrator can quote. Nothing of the cause reaches the response.
pub fn internal(error: &(dyn std::error::Error + 'static)) -> ApiError {
    let reference = uuid::Uuid::new_v4().simple().to_string()[..12].to_string();
    let mut chain = error.to_string();
    let mut source = error.source();
    while let Some(s) = source {
        chain.push_str(": ");
        chain.push_str(&s.to_string());
        source = s.source();
    }
    tracing::error!(%reference, error = %chain, "internal error");
    ApiError::Internal { reference }
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
        Ok(PageData {
            settings,
            server_ip: self.server_ip,
            viewer: String::new(),
            audit,
            oauth,
        })
    }

    #[tracing::instrument(skip(self, input), fields(auth = input.auth.as_str()))]
    async fn save(&self, input: SettingsInput, actor: &str) -> Result<SettingsView, ApiError> {
        let outcome = self
            .store
            .save(actor, input.version, |stored| validate(stored, &input))
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
        let (code, detail) = match self.oauth.check(actor).await {
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
