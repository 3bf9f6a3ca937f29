//! Internal errors: logged with their whole cause chain under a short reference, which is all
//! the caller (page, REST answer) ever sees.

use app::api::ApiError;

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
