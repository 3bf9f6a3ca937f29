//! Pages and components. Rules live in [`crate::domain`]; this module only shows their results.

mod access;
mod connection;
mod edit;
mod fields;
mod log;
mod templates;
mod test_mail;
mod view;

use crate::api::{ApiError, PageData, get_mail_settings};
use crate::domain::{Provider, Tab};
use crate::i18n::*;
use leptos::prelude::*;
use leptos_meta::{MetaTags, Stylesheet, Title, provide_meta_context};
use leptos_router::components::{A, Route, Router, Routes};
use leptos_router::hooks::use_query_map;
use leptos_router::{NavigateOptions, SsrMode, path};

/// Name of the `<meta>` that tells the browser the base path the server runs under.
pub const BASE_META: &str = "mail-settings-base";

/// The HTML document the server renders around [`App`].
pub fn shell(options: LeptosOptions, base: String) -> impl IntoView {
    view! {
        <!DOCTYPE html>
        <html lang="ja">
            <head>
                <meta charset="utf-8" />
                <meta name="viewport" content="width=device-width, initial-scale=1" />
                <meta name=BASE_META content=base.clone() />
                <link rel="icon" href="data:," />
                <AutoReload options=options.clone() />
                <HydrationScripts options />
                <MetaTags />
            </head>
            <body>
                <App base />
            </body>
        </html>
    }
}

/// The console's base path (`/ConMasManager`), for links that leave the router.
#[derive(Clone, Debug)]
pub struct BasePath(pub String);

/// A message shown once at the top of the next page (after a save, for example).
#[derive(Clone, Copy)]
pub struct Flash(pub RwSignal<Option<FlashKind>>);

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FlashKind {
    Saved,
}

#[component]
pub fn App(base: String) -> impl IntoView {
    provide_meta_context();
    provide_context(BasePath(base.clone()));
    provide_context(Flash(RwSignal::new(None)));
    // Tells the browser tests (and anyone curious) that the page is interactive.
    #[cfg(feature = "hydrate")]
    Effect::new(|_| {
        if let Some(body) = document().body() {
            let _ = body.set_attribute("data-hydrated", "true");
        }
    });

    view! {
        <Stylesheet id="leptos" href="/pkg/mail-settings.css" />
        <I18nContextProvider>
            <Header />
            <Router base>
                <main id="main" class="page">
                    <Routes fallback=NotFound>
                        <Route
                            path=path!("/System/MailSetting")
                            view=|| view! { <SettingsPage edit=false /> }
                            ssr=SsrMode::Async
                        />
                        <Route
                            path=path!("/System/MailSetting/Edit")
                            view=|| view! { <SettingsPage edit=true /> }
                            ssr=SsrMode::Async
                        />
                        <Route path=path!("/System/MailLog") view=log::LogPageView ssr=SsrMode::Async />
                        <Route path=path!("/System/MailTemplates") view=templates::TemplatesPage ssr=SsrMode::Async />
                        <Route path=path!("/System/Login") view=access::LoginPage />
                        <Route path=path!("/System/Setup") view=access::SetupPage />
                    </Routes>
                </main>
            </Router>
        </I18nContextProvider>
    }
}

#[component]
fn Header() -> impl IntoView {
    let i18n = use_i18n();
    let lang_button = move |locale: Locale, label: &'static str| {
        view! {
            <button
                type="button"
                class="lang-button"
                lang=locale.as_str()
                aria-pressed=move || (i18n.get_locale() == locale).to_string()
                on:click=move |_| i18n.set_locale(locale)
            >
                {label}
            </button>
        }
    };
    view! {
        <Title text=move || format!("{} | {}", t_string!(i18n, page_title), t_string!(i18n, app_title)) />
        <a class="skip-link" href="#main">
            {t!(i18n, page_title)}
        </a>
        <header class="topbar">
            <span class="brand">{t!(i18n, app_title)}</span>
            <div class="lang-switch" role="group" aria-label=move || t_string!(i18n, lang_label)>
                {lang_button(Locale::ja, "日本語")}
                {lang_button(Locale::en, "English")}
            </div>
        </header>
    }
}

#[component]
fn NotFound() -> impl IntoView {
    let base = use_context::<BasePath>().map(|b| b.0).unwrap_or_default();
    view! {
        <h1>"404"</h1>
        <p>
            <a href=format!("{base}/System/MailSetting")>"Mail basic settings / メール基本設定"</a>
        </p>
    }
}

/// The view page and the edit page: same data, same tabs, read-only or a form.
#[component]
fn SettingsPage(edit: bool) -> impl IntoView {
    let i18n = use_i18n();
    let data = Resource::new(|| (), |_| get_mail_settings());
    view! {
        <nav class="breadcrumb" aria-label="breadcrumb">
            <ol>
                <li>{t!(i18n, crumb_system)}</li>
                <li>{t!(i18n, crumb_mail)}</li>
                <li aria-current="page">{t!(i18n, page_title)}</li>
            </ol>
        </nav>
        <Suspense fallback=move || view! { <p class="loading">{t!(i18n, loading)}</p> }>
            {move || Suspend::new(async move {
                match data.await {
                    Ok(page) if edit => {
                        view! {
                            <access::SessionBar viewer=page.viewer.clone() />
                            <edit::EditSettings page />
                        }
                            .into_any()
                    }
                    Ok(page) => {
                        view! {
                            <access::SessionBar viewer=page.viewer.clone() />
                            <view::ViewSettings page />
                        }
                            .into_any()
                    }
                    Err(e) => view! { <LoadError error=e /> }.into_any(),
                }
            })}
        </Suspense>
    }
}

#[component]
fn LoadError(error: ApiError) -> impl IntoView {
    let i18n = use_i18n();
    let reference = match error {
        ApiError::Internal { reference } => Some(reference),
        _ => None,
    };
    view! {
        <div class="banner banner-error" role="alert">
            <p>{t!(i18n, load_failed)}</p>
            {reference.map(|r| view! { <p class="reference">{t!(i18n, reference)} ": " {r}</p> })}
        </div>
    }
}

/// The tab in the URL (`?tab=`), falling back to the saved method.
pub(crate) fn use_tab(page: &PageData) -> Memo<Tab> {
    let query = use_query_map();
    let auth = page.settings.auth;
    let provider = page.settings.oauth.provider;
    Memo::new(move |_| Tab::from_query(query.read().get("tab").as_deref(), auth, provider))
}

/// Full links to the two pages. `<A>` leaves absolute paths as they are, so the base path is
/// added here, once.
#[derive(Clone, Copy)]
pub(crate) struct Links {
    base: StoredValue<String>,
}

impl Links {
    pub fn from_context() -> Self {
        let base = use_context::<BasePath>().map(|b| b.0).unwrap_or_default();
        Links {
            base: StoredValue::new(base),
        }
    }

    /// The settings file download (REST, same session).
    pub fn export(self) -> String {
        self.base
            .with_value(|base| format!("{base}/api/v1/mail-settings/export"))
    }

    /// The notification templates.
    pub fn templates(self) -> String {
        self.base
            .with_value(|base| format!("{base}/System/MailTemplates"))
    }

    /// The delivery log.
    pub fn log(self) -> String {
        self.base
            .with_value(|base| format!("{base}/System/MailLog"))
    }

    pub fn page(self, edit: bool, tab: Tab) -> String {
        let page = if edit {
            "/System/MailSetting/Edit"
        } else {
            "/System/MailSetting"
        };
        self.base
            .with_value(|base| format!("{base}{page}?tab={}", tab.as_str()))
    }
}

/// Client-side navigation to a full path from [`Links`].
pub(crate) fn go_to(navigate: &impl Fn(&str, NavigateOptions), href: &str) {
    navigate(
        href,
        NavigateOptions {
            resolve: false,
            scroll: false,
            ..Default::default()
        },
    );
}

/// The tab bar. `in_use` marks the method selected for sending.
#[component]
pub(crate) fn TabBar(
    edit: bool,
    current: Memo<Tab>,
    #[prop(into)] in_use: Signal<Tab>,
) -> impl IntoView {
    let i18n = use_i18n();
    let links = Links::from_context();
    let label = move |tab: Tab| match tab {
        Tab::Smtp => t_string!(i18n, tab_smtp),
        Tab::Microsoft => t_string!(i18n, tab_microsoft),
        Tab::Google => t_string!(i18n, tab_google),
    };
    view! {
        <div class="tabs" role="tablist" aria-label=move || t_string!(i18n, tabs_label)>
            {Tab::ALL
                .into_iter()
                .map(|tab| {
                    view! {
                        <A
                            href=links.page(edit, tab)
                            attr:id=format!("tab-{}", tab.as_str())
                            attr:role="tab"
                            attr:class="tab"
                            attr:aria-selected=move || (current.get() == tab).to_string()
                            attr:aria-controls="tab-panel"
                            attr:data-tab=tab.as_str()
                        >
                            <span>{move || label(tab)}</span>
                            <Show when=move || in_use.get() == tab>
                                <span class="badge">{t!(i18n, in_use)}</span>
                            </Show>
                        </A>
                    }
                })
                .collect_view()}
        </div>
    }
}

pub(crate) fn provider_of(tab: Tab) -> Option<Provider> {
    match tab {
        Tab::Smtp => None,
        Tab::Microsoft => Some(Provider::Microsoft),
        Tab::Google => Some(Provider::Google),
    }
}
