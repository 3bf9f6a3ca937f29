//! The OAuth connection on the provider's tab: who is connected, since when, whether the token
//! works, and the buttons to connect, check and disconnect.

use crate::api::{ApiError, OauthActionResult, oauth_check, oauth_connect, oauth_disconnect};
use crate::domain::{OauthCode, OauthStatus, Provider, SettingsView};
use crate::i18n::*;
use crate::messages::oauth_message;
use leptos::prelude::*;

/// The outcome the provider's redirect brought back to the page (`?oauth=`), read where the
/// router is (on the server).
pub fn callback_code() -> Option<OauthCode> {
    leptos_router::hooks::use_query_map()
        .with_untracked(|q| q.get("oauth"))
        .and_then(|c| OauthCode::parse(&c))
}

/// Asks the server for the consent URL and goes there. On failure returns the reason.
pub async fn connect() -> Result<(), (OauthCode, String)> {
    match oauth_connect().await {
        Ok(url) => {
            #[cfg(feature = "hydrate")]
            {
                let _ = window().location().assign(&url);
            }
            #[cfg(not(feature = "hydrate"))]
            let _ = url;
            Ok(())
        }
        Err(ApiError::Oauth { code, detail }) => Err((code, detail)),
        Err(ApiError::Internal { reference }) => Err((OauthCode::ProviderError, reference)),
        Err(_) => Err((OauthCode::Unreachable, String::new())),
    }
}

/// A message about an OAuth outcome: what happened, what to do, and the provider's code.
#[component]
pub fn OauthBanner(code: OauthCode, detail: String, #[prop(into)] id: String) -> impl IntoView {
    let i18n = use_i18n();
    let class = if code.is_success() {
        "banner banner-ok"
    } else {
        "banner banner-error"
    };
    let role = if code.is_success() { "status" } else { "alert" };
    view! {
        <div class=class role=role id=id data-code=code.as_str()>
            <p>{move || oauth_message(i18n.get_locale(), code)}</p>
            {(!detail.is_empty()).then(|| view! {
                <p class="reference">{t!(i18n, oauth_detail)} ": " <code>{detail.clone()}</code></p>
            })}
        </div>
    }
}

#[component]
pub fn ConnectionPanel(
    provider: Provider,
    settings: SettingsView,
    status: OauthStatus,
    /// The outcome the provider's redirect brought back (`?oauth=`).
    callback: Option<OauthCode>,
) -> impl IntoView {
    let i18n = use_i18n();
    let status = RwSignal::new(status);
    // The outcome of the last step: from the callback's `?oauth=` or from a button here.
    let from_callback = callback.map(|code| {
        let detail = status
            .with_untracked(|s| {
                s.problem
                    .as_ref()
                    .filter(|p| p.code == code)
                    .map(|p| p.detail.clone())
            })
            .unwrap_or_default();
        (code, detail)
    });
    let outcome = RwSignal::new(from_callback);

    let saved_for_this = settings.oauth.provider == provider;
    let connecting = RwSignal::new(false);
    let on_connect = move |_| {
        if connecting.get_untracked() {
            return;
        }
        connecting.set(true);
        leptos::task::spawn_local(async move {
            if let Err(problem) = connect().await {
                outcome.set(Some(problem));
                connecting.set(false);
            }
        });
    };
    let apply = move |result: Result<OauthActionResult, ApiError>| match result {
        Ok(r) => {
            outcome.set(Some((r.code, r.detail)));
            status.set(r.status);
        }
        Err(ApiError::Internal { reference }) => {
            outcome.set(Some((OauthCode::ProviderError, reference)))
        }
        Err(_) => outcome.set(Some((OauthCode::Unreachable, String::new()))),
    };
    let check = Action::new(move |_: &()| async move { oauth_check().await });
    let disconnect = Action::new(move |_: &()| async move { oauth_disconnect().await });
    Effect::new(move |_| {
        if let Some(r) = check.value().get() {
            apply(r);
        }
    });
    Effect::new(move |_| {
        if let Some(r) = disconnect.value().get() {
            apply(r);
        }
    });
    let busy = move || connecting.get() || check.pending().get() || disconnect.pending().get();
    let on_disconnect = move |_| {
        #[cfg(feature = "hydrate")]
        {
            let ok = window()
                .confirm_with_message(t_string!(i18n, oauth_disconnect_confirm))
                .unwrap_or(false);
            if !ok {
                return;
            }
        }
        disconnect.dispatch(());
    };

    let mine = move || status.with(|s| s.provider == Some(provider) && s.is_connected());
    // Microsoft app-only: nothing to connect; the app sends as the saved mailbox.
    let app_only_sender = move || {
        (provider == Provider::Microsoft && saved_for_this)
            .then(|| status.with(|s| s.app_only_sender.clone()))
            .flatten()
    };
    let app_only = move || app_only_sender().is_some();
    let other_connected =
        move || status.with(|s| s.provider.is_some_and(|p| p != provider) && s.is_connected());
    let state_attr = move || {
        if app_only() {
            return "app_only";
        }
        status.with(|s| {
            match (
                s.provider == Some(provider),
                s.is_healthy(),
                s.is_connected(),
            ) {
                (true, true, _) => "ok",
                (true, false, true) => "problem",
                _ => "none",
            }
        })
    };
    let text = move |v: Option<String>| match v {
        Some(v) if !v.is_empty() => view! { <span class="value">{v}</span> }.into_any(),
        _ => view! { <span class="muted">{t!(i18n, oauth_never)}</span> }.into_any(),
    };
    let details = move || {
        let s = status.get();
        if s.provider != Some(provider) || !s.is_connected() {
            return None;
        }
        let account = match &s.display_name {
            Some(name) => format!("{} ({name})", s.account.clone().unwrap_or_default()),
            None => s.account.clone().unwrap_or_default(),
        };
        Some(view! {
            <dt>{t!(i18n, oauth_account)}</dt>
            <dd id="oauth-account">{account}</dd>
            <dt>{t!(i18n, oauth_connected_since)}</dt>
            <dd id="oauth-connected-at">{text(s.connected_at.clone())}</dd>
            <dt>{t!(i18n, oauth_connected_by)}</dt>
            <dd id="oauth-connected-by">{text(s.connected_by.clone())}</dd>
            <dt>{t!(i18n, oauth_last_refresh)}</dt>
            <dd id="oauth-last-refresh">{text(s.last_refresh_at.clone())}</dd>
            <dt>{t!(i18n, oauth_refresh_age)}</dt>
            <dd id="oauth-refresh-age">{s.refresh_token_age_days.map(|d| d.to_string()).unwrap_or_default()}</dd>
            <dt>{t!(i18n, oauth_scopes)}</dt>
            <dd id="oauth-scopes"><code>{s.scopes.join(" ")}</code></dd>
        })
    };
    let problem = move || {
        let s = status.get();
        let p = s.problem.filter(|_| s.provider == Some(provider))?;
        // The banner above already says it when it is the same news.
        if outcome.with(|o| o.as_ref().is_some_and(|(c, _)| *c == p.code)) {
            return None;
        }
        Some(view! {
            <OauthBanner code=p.code detail=p.detail id="oauth-problem" />
        })
    };
    let expiry = move || {
        let days = status.with(|s| {
            s.secret_expiry_warning()
                .then_some(s.secret_expires_in_days)
                .flatten()
        })?;
        (provider == Provider::Microsoft && saved_for_this).then(|| {
            let text = match (settings.oauth.uses_certificate(), days < 0) {
                (false, true) => t_string!(i18n, oauth_secret_expiry_passed),
                (false, false) => t_string!(i18n, oauth_secret_expiry_soon),
                (true, true) => t_string!(i18n, oauth_certificate_expiry_passed),
                (true, false) => t_string!(i18n, oauth_certificate_expiry_soon),
            };
            view! {
                <div class="banner banner-warn" role="status" id="oauth-secret-expiry" data-days=days.to_string()>
                    <p>{text}</p>
                    <p>{settings.oauth.credential_expires_on().to_string()} " (" {days.max(0)} " " {t!(i18n, oauth_days_left)} ")"</p>
                </div>
            }
        })
    };

    // Microsoft: the link for the tenant's administrator, open when consent is what failed.
    let admin_consent = move || {
        let url = status.with(|s| s.admin_consent_url.clone())?;
        (provider == Provider::Microsoft && saved_for_this).then(|| {
            let consent_failed = move || {
                outcome.with(|o| {
                    o.as_ref()
                        .is_some_and(|(c, _)| *c == OauthCode::ConsentMissing)
                }) || status.with(|s| {
                    s.problem
                        .as_ref()
                        .is_some_and(|p| p.code == OauthCode::ConsentMissing)
                })
            };
            view! {
                <details class="admin-consent" id="admin-consent" open=consent_failed>
                    <summary>{t!(i18n, oauth_admin_consent_title)}</summary>
                    <p class="hint">{t!(i18n, oauth_admin_consent_help)}</p>
                    <p><code id="admin-consent-url" class="copyable">{url}</code></p>
                </details>
            }
        })
    };

    view! {
        <section class="connection" aria-labelledby="oauth-connection-title">
            <h2 id="oauth-connection-title">{t!(i18n, oauth_connection_title)}</h2>
            {move || outcome.get().map(|(code, detail)| view! { <OauthBanner code detail id="oauth-banner" /> })}
            {expiry}
            <dl class="settings-list">
                <dt>{t!(i18n, oauth_state)}</dt>
                <dd id="oauth-status" data-state=state_attr>
                    {move || match state_attr() {
                        "ok" => t_string!(i18n, oauth_state_ok).to_string(),
                        "problem" => t_string!(i18n, oauth_state_problem).to_string(),
                        "app_only" => format!(
                            "{} {}",
                            t_string!(i18n, oauth_app_only_status),
                            app_only_sender().unwrap_or_default()
                        ),
                        _ => t_string!(i18n, oauth_state_none).to_string(),
                    }}
                </dd>
                {details}
            </dl>
            {problem}
            {admin_consent}
            {move || other_connected().then(|| view! { <p class="hint">{t!(i18n, oauth_connected_other)}</p> })}
            {(!saved_for_this).then(|| view! { <p class="hint" id="oauth-not-saved">{t!(i18n, oauth_not_saved_provider)}</p> })}
            <div class="actions">
                <Show when=move || !app_only()>
                <button type="button" class="button primary" id="oauth-connect"
                    disabled=move || !saved_for_this || busy()
                    aria-busy=move || connecting.get().to_string()
                    on:click=on_connect>
                    {move || if connecting.get() {
                        t_string!(i18n, oauth_connecting)
                    } else if mine() {
                        t_string!(i18n, oauth_reconnect)
                    } else {
                        t_string!(i18n, oauth_connect)
                    }}
                </button>
                </Show>
                <Show when=move || mine() || app_only()>
                    <button type="button" class="button" id="oauth-check"
                        disabled=busy
                        aria-busy=move || check.pending().get().to_string()
                        on:click=move |_| { check.dispatch(()); }>
                        {move || if check.pending().get() { t_string!(i18n, oauth_checking) } else { t_string!(i18n, oauth_check) }}
                    </button>
                </Show>
                <Show when=mine>
                    <button type="button" class="button danger" id="oauth-disconnect"
                        disabled=busy
                        on:click=on_disconnect>
                        {t!(i18n, oauth_disconnect)}
                    </button>
                </Show>
            </div>
        </section>
    }
}
