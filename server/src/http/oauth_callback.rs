//! The providers' redirects back to the console.

use crate::oauth::{CallbackQuery, PENDING_KEY, Pending};
use app::domain::{OauthCode, Provider};
use axum::Extension;
use axum::extract::{Query, State};
use axum::response::Redirect;
use tower_sessions::Session;

/// Where the browser goes after a callback: the provider's tab, with the outcome's code for
/// the banner (a code, never text from the request).
fn back_to_page(base: &str, provider: Provider, code: OauthCode) -> Redirect {
    Redirect::to(&format!(
        "{base}/System/MailSetting?tab={}&oauth={}",
        provider.as_str(),
        code.as_str()
    ))
}

async fn callback(
    state: crate::http::state::AppState,
    session: Session,
    principal: crate::service::accounts::Principal,
    provider: Provider,
    query: CallbackQuery,
) -> Redirect {
    // Taken out first: whatever happens next, this state cannot be used again.
    let pending = session.remove::<Pending>(PENDING_KEY).await.ok().flatten();
    let outcome = state
        .backend
        .oauth
        .finish(pending, provider, &query, &principal.actor())
        .await;
    back_to_page(&state.base_path, provider, outcome.code)
}

/// `GET {base}/System/MailOAuthMicrosoft`: Microsoft's redirect after consent.
pub async fn callback_microsoft(
    State(state): State<crate::http::state::AppState>,
    session: Session,
    Extension(principal): Extension<crate::service::accounts::Principal>,
    Query(query): Query<CallbackQuery>,
) -> Redirect {
    callback(state, session, principal, Provider::Microsoft, query).await
}

/// `GET {base}/System/MailOAuthGoogle`: Google's redirect after consent.
pub async fn callback_google(
    State(state): State<crate::http::state::AppState>,
    session: Session,
    Extension(principal): Extension<crate::service::accounts::Principal>,
    Query(query): Query<CallbackQuery>,
) -> Redirect {
    callback(state, session, principal, Provider::Google, query).await
}
