//! The parts of the pages that run in the browser (Leptos islands). The server renders every
//! page whole; the browser receives only these components' code, and hydrates each where the
//! server marked it (`<leptos-island>`). Everything else on a page is HTML and needs no code.
//!
//! An island in the browser sees no context from the page around it, so each one sets up what
//! its components read: the i18n context in the page's language (`<html lang>`), and the
//! console's base path (`<meta name="mail-settings-base">`). On the server the page's own
//! context is there already and is used as it is.

use super::BasePath;
use crate::domain::{OauthCode, OauthStatus, Provider, QuotaMeter, SettingsView};
use crate::i18n::*;
use leptos::prelude::*;

/// Provides what the islands' components read, where the page around them does not.
fn island_context() {
    if use_context::<leptos_i18n::I18nContext<Locale>>().is_none() {
        let locale = page_locale();
        let ctx =
            leptos_i18n::context::init_i18n_subcontext::<Locale>(Some(Signal::stored(locale)));
        provide_context(ctx);
    }
    if use_context::<BasePath>().is_none() {
        provide_context(BasePath(page_base()));
    }
}

/// The language the server rendered the page in.
fn page_locale() -> Locale {
    #[cfg(feature = "hydrate")]
    {
        document()
            .document_element()
            .and_then(|html| html.get_attribute("lang"))
            .and_then(|lang| lang.parse::<Locale>().ok())
            .unwrap_or_default()
    }
    #[cfg(not(feature = "hydrate"))]
    Locale::default()
}

/// The console's base path the server rendered into the page.
fn page_base() -> String {
    #[cfg(feature = "hydrate")]
    {
        document()
            .query_selector(&format!("meta[name=\"{}\"]", super::BASE_META))
            .ok()
            .flatten()
            .and_then(|meta| meta.get_attribute("content"))
            .unwrap_or_default()
    }
    #[cfg(not(feature = "hydrate"))]
    String::new()
}

/// The language buttons in the header. Choosing one remembers it (one cookie for the whole
/// console) and loads the page again in that language.
#[island]
pub fn LanguageSwitch() -> impl IntoView {
    island_context();
    super::language::LanguageButtons()
}

/// The OAuth connection of a provider's tab. `callback`: the outcome the provider's redirect
/// brought back (`?oauth=`), read by the server.
#[island]
pub fn ConnectionIsland(
    provider: Provider,
    settings: SettingsView,
    status: OauthStatus,
    callback: Option<OauthCode>,
) -> impl IntoView {
    island_context();
    view! { <super::connection::ConnectionPanel provider settings status callback /> }
}

/// The sending limits card.
#[island]
pub fn LimitsIsland(meter: QuotaMeter) -> impl IntoView {
    island_context();
    view! { <super::limits::SendingLimitsPanel meter /> }
}

/// The test mail card of the settings page (the saved settings).
#[island]
pub fn TestMailIsland(backup: bool) -> impl IntoView {
    island_context();
    view! { <super::test_mail::TestMail backup /> }
}

/// The settings form (its own chunk, fetched by the edit page only). `tab`: the tab the
/// address names; the form then switches tabs in place.
#[island(lazy)]
pub fn EditIsland(page: crate::api::PageData, tab: crate::domain::Tab) -> impl IntoView {
    island_context();
    view! { <super::edit::EditSettings page tab /> }
}

/// The delivery log's table, filters and actions (its own chunk). After a retry or a cancel
/// the same page of the log is read again.
#[island(lazy)]
pub fn LogIsland(log: crate::api::LogPage) -> impl IntoView {
    island_context();
    let (status, page, search) = (log.status.clone(), log.page, log.search.clone());
    let (current, reload) = refreshed(log, move || {
        crate::api::delivery_log(status.clone(), page, search.clone())
    });
    move || view! { <super::log::LogView log=current.get() reload /> }
}

/// The notification templates' editor (its own chunk).
#[island(lazy)]
pub fn TemplatesIsland(list: Vec<crate::api::TemplateView>) -> impl IntoView {
    island_context();
    view! { <super::templates::Editor list /> }
}

/// The API tokens: the list, creating and revoking (its own chunk). After each change the
/// list is read again.
#[island(lazy)]
pub fn TokensIsland(page: crate::api::TokensPage) -> impl IntoView {
    island_context();
    // Outside the list, which is rendered again on every reload: the new value stays shown
    // until the page is left.
    let created = RwSignal::new(None);
    let (current, reload) = refreshed(page, crate::api::list_api_tokens);
    move || view! { <super::tokens::Tokens page=current.get() reload created /> }
}

/// `initial`, read again with `fetch` each time the returned counter is bumped. A failed read
/// keeps what is shown.
fn refreshed<T, F, Fut>(initial: T, fetch: F) -> (RwSignal<T>, RwSignal<u32>)
where
    T: Send + Sync + 'static,
    F: Fn() -> Fut + 'static,
    Fut: std::future::Future<Output = Result<T, crate::api::ApiError>> + 'static,
{
    let current = RwSignal::new(initial);
    let reload = RwSignal::new(0u32);
    Effect::new(move |shown: Option<u32>| {
        let wanted = reload.get();
        if shown.is_some_and(|s| s != wanted) {
            let read = fetch();
            leptos::task::spawn_local(async move {
                if let Ok(value) = read.await {
                    current.set(value);
                }
            });
        }
        wanted
    });
    (current, reload)
}

/// A copy button on a page outside the islands (the redirect URI on the settings page).
#[island]
pub fn CopyIsland(text: String) -> impl IntoView {
    island_context();
    view! { <super::fields::CopyButton text /> }
}

/// "Saved", on the settings page the form came back to (`saved=1`). The address then loses
/// `saved=1`, so a reload or a bookmark does not say it again.
#[island]
pub fn SavedBanner() -> impl IntoView {
    island_context();
    let i18n = use_i18n();
    #[cfg(feature = "hydrate")]
    Effect::new(|_| {
        let location = window().location();
        let (Ok(path), Ok(search)) = (location.pathname(), location.search()) else {
            return;
        };
        let kept = search
            .trim_start_matches('?')
            .split('&')
            .filter(|pair| !pair.is_empty() && *pair != "saved=1")
            .collect::<Vec<_>>()
            .join("&");
        let href = if kept.is_empty() {
            path
        } else {
            format!("{path}?{kept}")
        };
        super::show_in_url(&href);
    });
    view! {
        <div class="banner banner-ok" role="status" id="saved-banner">
            {t!(i18n, saved)}
        </div>
    }
}
