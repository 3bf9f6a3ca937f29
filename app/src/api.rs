//! The contract between the browser and the server: server functions, their data and errors.
//! Their bodies reach the backend through [`backend::SettingsBackend`], which the server crate
//! implements and provides as context, so this crate never links a database or mail library.

use crate::domain::{FieldError, SettingsInput, SettingsView};
use leptos::prelude::*;
use leptos::server_fn::codec::{Json, JsonEncoding};
use leptos::server_fn::error::{FromServerFnError, ServerFnErrorErr};
use serde::{Deserialize, Serialize};
use std::net::IpAddr;

/// Everything the settings page needs to render.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PageData {
    pub settings: SettingsView,
    /// The address `{0}` in ManagerRoot stands for.
    pub server_ip: Option<IpAddr>,
}

/// Why a server function failed, in terms the page can act on.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
pub enum ApiError {
    /// Input the administrator must correct; nothing was stored.
    #[error("invalid settings")]
    Invalid(Vec<FieldError>),
    /// Someone saved a newer version first; nothing was stored.
    #[error("settings were changed by someone else (now version {current_version})")]
    Conflict { current_version: i64 },
    /// Something broke inside; the details are in the server log under this reference.
    #[error("internal error (reference {reference})")]
    Internal { reference: String },
    /// The request did not reach the server or its answer could not be read.
    #[error("request failed")]
    Transport,
}

impl FromServerFnError for ApiError {
    type Encoder = JsonEncoding;

    fn from_server_fn_error(_value: ServerFnErrorErr) -> Self {
        // The cause is logged where it happens (browser console or server log); the page only
        // needs to know that the request itself failed.
        ApiError::Transport
    }
}

/// Loads the settings as stored (secrets only as "set" / "not set").
#[server(input = Json, endpoint = "mail_settings/get")]
pub async fn get_mail_settings() -> Result<PageData, ApiError> {
    let backend = backend::from_context()?;
    backend::with_status(backend.page_data().await)
}

/// Validates and stores the settings in one transaction.
#[server(input = Json, endpoint = "mail_settings/save")]
pub async fn save_mail_settings(input: SettingsInput) -> Result<PageData, ApiError> {
    let backend = backend::from_context()?;
    backend::with_status(backend.save(input, "console").await)?;
    backend::with_status(backend.page_data().await)
}

#[cfg(feature = "ssr")]
pub mod backend {
    //! The port the server implements.

    use super::{ApiError, PageData};
    use crate::domain::{SettingsInput, SettingsView};
    use std::sync::Arc;

    #[async_trait::async_trait]
    pub trait SettingsBackend: Send + Sync + 'static {
        /// The stored settings and the detected server address.
        async fn page_data(&self) -> Result<PageData, ApiError>;
        /// Re-validates `input` against what is stored and saves it, or changes nothing.
        async fn save(&self, input: SettingsInput, actor: &str) -> Result<SettingsView, ApiError>;
        /// The console's base path (`/ConMasManager` by default).
        fn base_path(&self) -> &str;
    }

    /// How the backend travels in Leptos context.
    pub type Backend = Arc<dyn SettingsBackend>;

    /// Gives a failed server function the HTTP status that says what happened (422 invalid,
    /// 409 conflict, 500 internal), like the REST API.
    pub fn with_status<T>(result: Result<T, ApiError>) -> Result<T, ApiError> {
        use http::StatusCode;
        if let (Err(e), Some(response)) = (
            &result,
            leptos::prelude::use_context::<leptos_axum::ResponseOptions>(),
        ) {
            response.set_status(match e {
                ApiError::Invalid(_) => StatusCode::UNPROCESSABLE_ENTITY,
                ApiError::Conflict { .. } => StatusCode::CONFLICT,
                ApiError::Internal { .. } | ApiError::Transport => {
                    StatusCode::INTERNAL_SERVER_ERROR
                }
            });
        }
        result
    }

    pub fn from_context() -> Result<Backend, ApiError> {
        leptos::prelude::use_context::<Backend>().ok_or_else(|| {
            leptos::logging::error!("settings backend missing from the Leptos context");
            ApiError::Internal {
                reference: "no-backend".into(),
            }
        })
    }
}
