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
    // The tenant administrator's return from the admin-consent link: no code to exchange,
    // only news (the sign-in that may follow is an ordinary connect). Audited either way.
    if provider == Provider::Microsoft
        && query.code.is_none()
        && query.state.as_deref() == Some(crate::oauth::ADMIN_CONSENT_STATE)
    {
        let code = crate::oauth::admin_consent_outcome(&query);
        tracing::info!(code = code.as_str(), "Microsoft admin consent answered");
        let _ = state
            .backend
            .store
            .audit(&principal.actor(), "oauth.admin_consent", code.as_str())
            .await;
        return back_to_page(&state.base_path, provider, code);
    }
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
