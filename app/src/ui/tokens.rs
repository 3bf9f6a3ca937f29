//! The API tokens page (`/System/MailApiTokens`): list, create (the value shown once, with a
//! copy button), revoke.

use super::access::SessionBar;
use crate::api::{
    ApiError, TokensPage, create_api_token, list_api_tokens, page_resource, revoke_api_token,
};
use crate::domain::{
    CreatedToken, NewTokenRequest, TOKEN_EXPIRY_DAYS_MAX, TOKEN_NAME_MAX, TokenError, TokenRow,
    TokenScopeChoice,
};
use crate::i18n::*;
use crate::messages::token_message;
use leptos::prelude::*;

#[component]
pub fn TokensPageView() -> impl IntoView {
    let i18n = use_i18n();
    let data = page_resource(|| (), |_| list_api_tokens());
    view! {
        <nav class="breadcrumb" aria-label="breadcrumb">
            <ol>
                <li>{t!(i18n, crumb_system)}</li>
                <li>{t!(i18n, crumb_mail)}</li>
                <li aria-current="page">{t!(i18n, tokens_title)}</li>
            </ol>
        </nav>
        <Suspense fallback=move || view! { <p class="loading">{t!(i18n, loading)}</p> }>
            {move || Suspend::new(async move {
                match data.await {
                    Ok(page) => view! {
                        <SessionBar viewer=page.viewer.clone() delivery=page.delivery.clone() />
                        <super::islands::TokensIsland page />
                    }
                    .into_any(),
                    Err(_) => view! { <p class="banner banner-error">{t!(i18n, load_failed)}</p> }.into_any(),
                }
            })}
        </Suspense>
    }
}

/// The expiry box as typed: empty is "never"; anything else must be a whole number of days.
fn expiry_of(text: &str) -> Result<Option<u32>, TokenError> {
    let text = text.trim();
    if text.is_empty() {
        return Ok(None);
    }
    text.parse::<u32>()
        .map(Some)
        .map_err(|_| TokenError::ExpiryOutOfRange)
}

#[component]
pub(super) fn Tokens(
    page: TokensPage,
    reload: RwSignal<u32>,
    created: RwSignal<Option<CreatedToken>>,
) -> impl IntoView {
    let i18n = use_i18n();
    let base = use_context::<super::BasePath>()
        .map(|b| b.0)
        .unwrap_or_default();
    let name = RwSignal::new(String::new());
    let scope = RwSignal::new(TokenScopeChoice::Notify);
    let expires = RwSignal::new(String::new());
    let submitted = RwSignal::new(false);
    let server_error = RwSignal::new(None::<TokenError>);
    // Anything else that went wrong (the server or the network): said, never silent.
    let failed = RwSignal::new(false);
    let request = move || -> Result<NewTokenRequest, TokenError> {
        let request = NewTokenRequest {
            name: name.get(),
            scope: scope.get(),
            expires_days: expiry_of(&expires.get())?,
        };
        request.check()?;
        Ok(request)
    };
    // The same rules as the server, shown once the form was submitted (or the server said).
    let error = Memo::new(move |_| {
        server_error
            .get()
            .or_else(|| submitted.get().then(|| request().err()).flatten())
    });
    let create = Action::new(move |r: &NewTokenRequest| {
        let r = r.clone();
        async move { create_api_token(r).await }
    });
    Effect::new(move |_| match create.value().get() {
        Some(Ok(token)) => {
            created.set(Some(token));
            name.set(String::new());
            expires.set(String::new());
            submitted.set(false);
            reload.update(|n| *n += 1);
        }
        Some(Err(ApiError::Token(code))) => server_error.set(Some(code)),
        Some(Err(_)) => failed.set(true),
        None => {}
    });
    let on_submit = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        submitted.set(true);
        server_error.set(None);
        failed.set(false);
        if let Ok(r) = request() {
            create.dispatch(r);
        }
    };
    let revoke = Action::new(move |id: &String| {
        let id = id.clone();
        async move { revoke_api_token(id).await }
    });
    Effect::new(move |_| {
        if let Some(r) = revoke.value().get() {
            match r {
                Err(ApiError::Token(code)) => server_error.set(Some(code)),
                Err(_) => failed.set(true),
                Ok(()) => {}
            }
            reload.update(|n| *n += 1);
        }
    });
    let rows = if page.tokens.is_empty() {
        view! { <tr><td colspan="7" class="muted">{t!(i18n, tokens_none)}</td></tr> }.into_any()
    } else {
        page.tokens
            .into_iter()
            .map(|row| view! { <Row row revoke /> })
            .collect_view()
            .into_any()
    };
    view! {
        <div class="page-head">
            <h1>{t!(i18n, tokens_title)}</h1>
            <a class="button" href=format!("{base}/System/MailSetting")>{t!(i18n, page_title)}</a>
        </div>
        <p class="hint">{t!(i18n, tokens_help)}</p>
        {move || created.get().map(|c| view! { <Created created=c /> })}
        {move || failed.get().then(|| view! {
            <p class="banner banner-error" role="alert" id="token-failed">{t!(i18n, save_failed)}</p>
        })}
        <section class="card">
            <form class="token-form" id="token-form" novalidate on:submit=on_submit>
                <div class="field" class:has-error=move || error.get().is_some_and(|e| e != TokenError::ExpiryOutOfRange)>
                    <label for="token-name">{t!(i18n, tokens_name)}</label>
                    <input
                        id="token-name"
                        name="name"
                        maxlength=(TOKEN_NAME_MAX * 4).to_string()
                        autocomplete="off"
                        prop:value=move || name.get()
                        on:input=move |ev| {
                            name.set(event_target_value(&ev));
                            server_error.set(None);
                        }
                    />
                </div>
                <div class="field">
                    <label for="token-scope">{t!(i18n, tokens_scope)}</label>
                    <select
                        id="token-scope"
                        name="scope"
                        on:change=move |ev| {
                            scope.set(if event_target_value(&ev) == "admin" {
                                TokenScopeChoice::Admin
                            } else {
                                TokenScopeChoice::Notify
                            })
                        }
                    >
                        <option value="notify" selected=true>{t!(i18n, tokens_scope_notify)}</option>
                        <option value="admin">{t!(i18n, tokens_scope_admin)}</option>
                    </select>
                </div>
                <div class="field">
                    <label for="token-expires">{t!(i18n, tokens_expires_days)}</label>
                    <input
                        id="token-expires"
                        name="expires_days"
                        type="number"
                        inputmode="numeric"
                        min="1"
                        max=TOKEN_EXPIRY_DAYS_MAX.to_string()
                        prop:value=move || expires.get()
                        on:input=move |ev| {
                            expires.set(event_target_value(&ev));
                            server_error.set(None);
                        }
                    />
                </div>
                <p
                    class="error"
                    id="token-error"
                    aria-live="polite"
                    data-code=move || error.get().map(TokenError::as_str)
                >
                    {move || error.get().map(|e| token_message(i18n.get_locale(), e))}
                </p>
                <button type="submit" class="button primary" id="token-create" disabled=move || create.pending().get()>
                    {t!(i18n, tokens_create)}
                </button>
            </form>
        </section>
        <section class="card">
            <table class="log" id="token-list">
                <thead>
                    <tr>
                        <th>{t!(i18n, tokens_name)}</th>
                        <th>{t!(i18n, tokens_scope)}</th>
                        <th>{t!(i18n, tokens_created_at)}</th>
                        <th>{t!(i18n, tokens_created_by)}</th>
                        <th>{t!(i18n, tokens_expires_at)}</th>
                        <th>{t!(i18n, tokens_last_used)}</th>
                        <th></th>
                    </tr>
                </thead>
                <tbody>{rows}</tbody>
            </table>
        </section>
    }
}

/// The value of a token just created: shown this once, with a copy button.
#[component]
fn Created(created: CreatedToken) -> impl IntoView {
    let i18n = use_i18n();
    let leptos_use::UseClipboardReturn { copied, copy, .. } = leptos_use::use_clipboard();
    let value = created.token.clone();
    view! {
        <div class="banner banner-ok" role="status" id="token-created" data-id=created.row.id.clone()>
            <p><strong>{t!(i18n, tokens_created)}</strong></p>
            <div class="copy-row">
                <code id="token-value">{created.token}</code>
                <button type="button" class="button small" id="token-copy" on:click=move |_| copy(&value)>
                    {move || if copied.get() { t_string!(i18n, tokens_copied) } else { t_string!(i18n, tokens_copy) }}
                </button>
            </div>
        </div>
    }
}

#[component]
fn Row(row: TokenRow, revoke: Action<String, Result<(), ApiError>>) -> impl IntoView {
    let i18n = use_i18n();
    let never = move || t_string!(i18n, tokens_never);
    let live = row.revoked_at.is_none();
    let id = row.id.clone();
    view! {
        <tr data-id=row.id.clone() data-revoked=(!live).to_string()>
            <td>{row.name.clone()}</td>
            <td><code>{row.scope.clone()}</code></td>
            <td>{row.created_at.clone()}</td>
            <td>{row.created_by.clone()}</td>
            <td>{row.expires_at.clone().unwrap_or_else(|| never().to_string())}</td>
            <td>{row.last_used_at.clone().unwrap_or_else(|| never().to_string())}</td>
            <td class="actions">
                {if live {
                    view! {
                        <button type="button" class="button small danger revoke"
                            on:click=move |_| {
                                if confirm(t_string!(i18n, tokens_revoke_confirm)) {
                                    revoke.dispatch(id.clone());
                                }
                            }>
                            {t!(i18n, tokens_revoke)}
                        </button>
                    }
                    .into_any()
                } else {
                    view! { <span class="muted">{t!(i18n, tokens_revoked)} " " {row.revoked_at.clone()}</span> }.into_any()
                }}
            </td>
        </tr>
    }
}

/// The browser's confirmation dialog (the server render never runs a click).
fn confirm(text: &str) -> bool {
    #[cfg(feature = "hydrate")]
    {
        window().confirm_with_message(text).unwrap_or(false)
    }
    #[cfg(not(feature = "hydrate"))]
    {
        let _ = text;
        false
    }
}
