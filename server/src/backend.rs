//! The server's implementation of the app's settings port.

use crate::store::{Store, StoreError};
use app::api::backend::SettingsBackend;
use app::api::{ApiError, AuditEntry, PageData};
use app::domain::{SettingsInput, SettingsView, validate};
use std::net::IpAddr;

/// How many audit log entries the settings page shows.
const AUDIT_ON_PAGE: i64 = 20;

pub struct AppBackend {
    pub store: Store,
    pub base_path: String,
    pub server_ip: Option<IpAddr>,
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
        Ok(PageData {
            settings,
            server_ip: self.server_ip,
            viewer: String::new(),
            audit,
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
}
