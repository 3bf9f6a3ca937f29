//! Sign-in, first-administrator set-up and the signed-in bar. The forms are plain HTML forms
//! posted to the server (they work before the WASM has loaded); the server answers with a
//! redirect that carries an error code in the query when something was wrong.

use super::BasePath;
use crate::domain::DeliveryOptions;
use crate::i18n::*;
use leptos::prelude::*;
use leptos_router::hooks::use_query_map;

fn base() -> String {
    use_context::<BasePath>().map(|b| b.0).unwrap_or_default()
}

#[component]
pub fn LoginPage() -> impl IntoView {
    let i18n = use_i18n();
    let query = use_query_map();
    let error = move || query.read().get("error");
    let next = move || query.read().get("next").unwrap_or_default();
    let message = move || {
        error().map(|code| {
            let (class, text) = match code.as_str() {
                "logged_out" => ("banner banner-ok", t_string!(i18n, login_logged_out)),
                "throttled" => ("banner banner-error", t_string!(i18n, login_err_throttled)),
                "internal" => ("banner banner-error", t_string!(i18n, login_err_internal)),
                _ => ("banner banner-error", t_string!(i18n, login_err_invalid)),
            };
            let role = if code == "logged_out" {
                "status"
            } else {
                "alert"
            };
            view! {
                <div id="login-message" class=class role=role data-code=code>
                    <p>{text}</p>
                </div>
            }
        })
    };
    view! {
        <section class="auth-card" aria-labelledby="login-title">
            <h1 id="login-title">{t!(i18n, login_title)}</h1>
            <p class="hint">{t!(i18n, login_intro)}</p>
            {message}
            <form method="post" action=format!("{}/System/Login", base()) class="auth-form">
                <label for="login-username">{t!(i18n, login_username)}</label>
                <input
                    id="login-username"
                    name="username"
                    type="text"
                    autocomplete="username"
                    autocapitalize="none"
                    spellcheck="false"
                    required
                    autofocus
                />
                <label for="login-password">{t!(i18n, login_password)}</label>
                <input
                    id="login-password"
                    name="password"
                    type="password"
                    autocomplete="current-password"
                    required
                />
                // An attribute, not `prop:`: the server renders it, so a form sent before the
                // WebAssembly has loaded still returns to the page that was asked for.
                <input type="hidden" name="next" value=next />
                <button id="login-button" type="submit" class="button primary">
                    {t!(i18n, login_submit)}
                </button>
            </form>
            <p class="hint">{t!(i18n, login_expired_hint)}</p>
        </section>
    }
}

#[component]
pub fn SetupPage() -> impl IntoView {
    let i18n = use_i18n();
    let query = use_query_map();
    let token = move || query.read().get("token").unwrap_or_default();
    let message = move || {
        query.read().get("error").map(|code| {
            let text = match code.as_str() {
                "setup_token_invalid" => t_string!(i18n, setup_err_setup_token_invalid),
                "username_invalid" => t_string!(i18n, setup_err_username_invalid),
                "password_too_short" => t_string!(i18n, setup_err_password_too_short),
                "password_too_long" => t_string!(i18n, setup_err_password_too_long),
                "password_is_username" => t_string!(i18n, setup_err_password_is_username),
                "password_mismatch" => t_string!(i18n, setup_err_password_mismatch),
                _ => t_string!(i18n, setup_err_internal),
            };
            view! {
                <div id="setup-message" class="banner banner-error" role="alert" data-code=code>
                    <p>{text}</p>
                </div>
            }
        })
    };
    view! {
        <section class="auth-card" aria-labelledby="setup-title">
            <h1 id="setup-title">{t!(i18n, setup_title)}</h1>
            <p class="hint">{t!(i18n, setup_intro)}</p>
            {message}
            <form method="post" action=format!("{}/System/Setup", base()) class="auth-form">
                // An attribute, so that the server-rendered form carries the token.
                <input type="hidden" name="token" value=token />
                <label for="setup-username">{t!(i18n, login_username)}</label>
                <input
                    id="setup-username"
                    name="username"
                    type="text"
                    value="admin"
                    autocomplete="username"
                    autocapitalize="none"
                    spellcheck="false"
                    required
                />
                <label for="setup-password">{t!(i18n, login_password)}</label>
                <input
                    id="setup-password"
                    name="password"
                    type="password"
                    autocomplete="new-password"
                    minlength="12"
                    aria-describedby="setup-password-hint"
                    required
                />
                <p id="setup-password-hint" class="hint">{t!(i18n, setup_password_hint)}</p>
                <label for="setup-confirm">{t!(i18n, setup_confirm)}</label>
                <input
                    id="setup-confirm"
                    name="confirm"
                    type="password"
                    autocomplete="new-password"
                    minlength="12"
                    required
                />
                <button id="setup-button" type="submit" class="button primary">
                    {t!(i18n, setup_submit)}
                </button>
            </form>
        </section>
    }
}

/// Who is signed in, and the way out. Sign-out is a POST (a link could be triggered by
/// another site). Below it, on every console page, a banner while mail does not go out as
/// usual (diverted to one address, or held).
#[component]
pub fn SessionBar(viewer: String, delivery: DeliveryOptions) -> impl IntoView {
    let i18n = use_i18n();
    let banner = delivery.is_unusual().then(|| {
        let divert = delivery.divert().map(|to| {
            view! {
                <p id="divert-banner">
                    <strong>{t!(i18n, banner_diverted)}</strong> " " <code>{to.to_string()}</code>
                </p>
            }
        });
        let paused = delivery.paused.then(|| {
            view! {
                <p id="paused-banner"><strong>{t!(i18n, banner_delivery_paused)}</strong></p>
            }
        });
        view! {
            <div class="banner banner-warn" role="status" id="delivery-banner">
                {divert}
                {paused}
                <p>
                    <a href=format!("{}/System/MailSetting/Edit#delivery-options", base())>
                        {t!(i18n, banner_delivery_change)}
                    </a>
                </p>
            </div>
        }
    });
    view! {
        <div class="session-bar">
            <span>
                {t!(i18n, signed_in_as)} " " <strong id="viewer">{viewer}</strong>
            </span>
            <form method="post" action=format!("{}/System/Logout", base())>
                <button id="logout-button" type="submit" class="button">
                    {t!(i18n, logout)}
                </button>
            </form>
        </div>
        {banner}
    }
}
