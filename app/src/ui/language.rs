//! The console's language: chosen with the buttons in the header, remembered in one cookie for
//! the whole console (`Path=/`), and read by the server so the next page is rendered in it.
//!
//! leptos_i18n's own `cookie` feature would do the same through leptos-use's cookie signal,
//! which brings a cookie parser and a date library into the browser bundle for one short
//! string. Here the browser writes the cookie with `document.cookie`, and the server reads it
//! with the `cookie` crate.

use crate::i18n::*;
use leptos::prelude::*;
use leptos_i18n::context::UseLocalesOptions;

/// The cookie that remembers the language.
pub const COOKIE: &str = "i18n_pref_locale";

/// How long the choice is remembered: a year.
#[cfg(feature = "hydrate")]
const MAX_AGE_SECS: u32 = 365 * 24 * 60 * 60;

/// Where the server finds the request's languages, for leptos_i18n: the remembered choice
/// when the request carries one, otherwise its `Accept-Language` header.
pub fn request_languages() -> UseLocalesOptions {
    #[cfg(feature = "ssr")]
    {
        UseLocalesOptions::default().ssr_lang_header_getter(|| {
            let parts = use_context::<http::request::Parts>()?;
            remembered(&parts.headers)
                .map(|locale| locale.as_str().to_owned())
                .or_else(|| {
                    let header = parts.headers.get(http::header::ACCEPT_LANGUAGE)?;
                    header.to_str().ok().map(str::to_owned)
                })
        })
    }
    #[cfg(not(feature = "ssr"))]
    UseLocalesOptions::default()
}

/// The language a request's cookie remembers, if it names one of ours.
#[cfg(feature = "ssr")]
pub fn remembered(headers: &http::HeaderMap) -> Option<Locale> {
    headers
        .get_all(http::header::COOKIE)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(cookie::Cookie::split_parse)
        .filter_map(Result::ok)
        .find(|c| c.name() == COOKIE)
        .and_then(|c| c.value().parse::<Locale>().ok())
}

/// The two language buttons. Choosing the other language remembers it and loads the page again,
/// rendered by the server in that language.
#[component]
pub fn LanguageButtons() -> impl IntoView {
    let i18n = use_i18n();
    let button = move |locale: Locale, label: &'static str| {
        let on_click = move |_| {
            #[cfg(feature = "hydrate")]
            if i18n.get_locale_untracked() != locale {
                write_cookie(locale);
                let _ = window().location().reload();
            }
        };
        view! {
            <button
                type="button"
                class="lang-button"
                lang=locale.as_str()
                aria-pressed=(i18n.get_locale_untracked() == locale).to_string()
                on:click=on_click
            >
                {label}
            </button>
        }
    };
    view! {
        <div class="lang-switch" role="group" aria-label=t_string!(i18n, lang_label)>
            {button(Locale::ja, "日本語")}
            {button(Locale::en, "English")}
        </div>
    }
}

#[cfg(feature = "hydrate")]
fn write_cookie(locale: Locale) {
    use wasm_bindgen::JsCast;
    let Ok(document) = document().dyn_into::<web_sys::HtmlDocument>() else {
        return;
    };
    let https = window().location().protocol().is_ok_and(|p| p == "https:");
    let secure = if https { "; Secure" } else { "" };
    let cookie = format!(
        "{COOKIE}={}; Path=/; Max-Age={MAX_AGE_SECS}; SameSite=Lax{secure}",
        locale.as_str()
    );
    let _ = document.set_cookie(&cookie);
}

#[cfg(all(test, feature = "ssr"))]
mod tests {
    use super::*;

    fn headers(cookies: &[&str]) -> http::HeaderMap {
        let mut map = http::HeaderMap::new();
        for c in cookies {
            map.append(http::header::COOKIE, c.parse().unwrap());
        }
        map
    }

    #[test]
    fn the_cookie_names_the_language_among_others() {
        let h = headers(&["id=abc; i18n_pref_locale=en; other=1"]);
        assert_eq!(remembered(&h), Some(Locale::en));
        let h = headers(&["id=abc", "i18n_pref_locale=ja"]);
        assert_eq!(remembered(&h), Some(Locale::ja));
    }

    #[test]
    fn an_unknown_or_missing_language_is_not_remembered() {
        assert_eq!(remembered(&headers(&["i18n_pref_locale=fr"])), None);
        assert_eq!(remembered(&headers(&["i18n_pref_locale_x=en"])), None);
        assert_eq!(remembered(&headers(&[])), None);
    }
}
