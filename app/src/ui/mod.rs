//! Pages and components. Rules live in [`crate::domain`]; this module only shows their results.

mod access;
mod connection;
mod edit;
mod fields;
pub mod language;
mod limits;
mod log;
mod templates;
mod test_mail;
mod tokens;
mod view;
mod yielding;

use crate::api::{ApiError, PageData, get_mail_settings, page_resource};
use crate::domain::{Provider, Tab};
use crate::i18n::*;
use leptos::prelude::*;
use leptos_meta::{HashedStylesheet, MetaTags, provide_meta_context};
use leptos_router::components::{A, Route, Router, Routes};
use leptos_router::hooks::use_query_map;
use leptos_router::{Lazy, LazyRoute, NavigateOptions, SsrMode, lazy_route, path};

/// Name of the `<meta>` that tells the browser the base path the server runs under.
pub const BASE_META: &str = "mail-settings-base";

/// The HTML document the server renders around [`App`]. `<html>` gets its `lang` and `dir`
/// from the i18n context (the chosen language), so none is written here: two `lang`
/// attributes would leave the browser to pick one.
pub fn shell(options: LeptosOptions, base: String) -> impl IntoView {
    view! {
        <!DOCTYPE html>
        <html>
            <head>
                <meta charset="utf-8" />
                <meta name="viewport" content="width=device-width, initial-scale=1" />
                <meta name="description" content="Mail basic settings / メール基本設定" />
                <meta name=BASE_META content=base.clone() />
                <link rel="icon" href="data:," />
                <HashedStylesheet options=options.clone() id="leptos" />
                <AutoReload options=options.clone() />
                <DeferredHydration options />
                <MetaTags />
            </head>
            <body>
                <App base />
            </body>
        </html>
    }
}

/// Starts the browser bundle once the server-rendered page has painted. Leptos'
/// `HydrationScripts` preloads the main module and every chunk of the page from `<head>`, so on
/// a slow phone the first paint waits behind 400 KB that only add interactivity. Here nothing
/// is fetched before the first frame: the page shows as rendered, then the bundle loads, and
/// the chunks of lazy routes come when the route asks for them. Forms work without it.
#[component]
fn DeferredHydration(options: LeptosOptions) -> impl IntoView {
    let (js, wasm) = bundle_names(&options);
    let pkg = format!("/{}", options.site_pkg_dir);
    // After the next frame is painted: a task queued from inside `requestAnimationFrame`
    // runs after that frame.
    let script = format!(
        "const h=()=>import({js:?}).then(m=>m.default({{module_or_path:{wasm:?}}}).then(()=>m.hydrate()));\
         requestAnimationFrame(()=>setTimeout(h,0));",
        js = format!("{pkg}/{js}.js"),
        wasm = format!("{pkg}/{wasm}.wasm"),
    );
    view! { <script type="module" nonce=leptos::nonce::use_nonce() inner_html=script></script> }
}

/// The main module's file names (without extension): with the hashes cargo-leptos wrote beside
/// the server binary when file hashing is on. Read once.
fn bundle_names(options: &LeptosOptions) -> (String, String) {
    static NAMES: std::sync::OnceLock<(String, String)> = std::sync::OnceLock::new();
    NAMES
        .get_or_init(|| {
            let name = options.output_name.to_string();
            if !options.hash_files {
                // `cargo leptos` names the unhashed module `<name>_bg.wasm` unless it was
                // given an output name at build time.
                let wasm = if option_env!("LEPTOS_OUTPUT_NAME").is_some() {
                    name.clone()
                } else {
                    format!("{name}_bg")
                };
                return (name, wasm);
            }
            let hashes = std::env::current_exe()
                .ok()
                .and_then(|exe| {
                    std::fs::read_to_string(exe.with_file_name(options.hash_file.as_ref())).ok()
                })
                .unwrap_or_default();
            let hash = |kind: &str| {
                hashes.lines().find_map(|line| {
                    let (file, hash) = line.trim().split_once(':')?;
                    (file == kind).then(|| format!("{name}.{}", hash.trim()))
                })
            };
            (
                hash("js").unwrap_or_else(|| name.clone()),
                hash("wasm").unwrap_or_else(|| name.clone()),
            )
        })
        .clone()
}

/// Marks `<body data-hydrated="true">` once the page around it is interactive, for the browser
/// tests (and anyone curious). Each page renders it after its own content: a page's code may
/// arrive in a chunk of its own after the shell has hydrated.
/// Sections hydrated in a task of their own ([`yielding::Defer`]) are waited for.
#[component]
pub(crate) fn HydratedMark() -> impl IntoView {
    #[cfg(feature = "hydrate")]
    {
        let pending = use_context::<yielding::PendingSections>();
        Effect::new(move |_| {
            if pending.is_some_and(|p| p.0.get() > 0) {
                return;
            }
            if let Some(body) = document().body() {
                let _ = body.set_attribute("data-hydrated", "true");
            }
        });
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
    provide_context(yielding::PendingSections(RwSignal::new(0)));

    view! {
        <I18nContextProvider ssr_lang_header_getter=language::request_languages()>
            <language::RememberLanguage />
            <Header />
            // The routes (matching, fetching the page's chunk) in a task after the header's.
            <yielding::Yield>
            <Router base>
                <main id="main" class="page">
                    // Each console page is its own WebAssembly chunk (`cargo leptos --split`):
                    // the browser fetches a page's code when the page is first shown, so the
                    // settings page does not download the edit form, the templates or the log.
                    <Routes fallback=NotFound>
                        <Route
                            path=path!("/System/MailSetting")
                            view={Lazy::<ViewRoute>::new()}
                            ssr=SsrMode::Async
                        />
                        <Route
                            path=path!("/System/MailSetting/Edit")
                            view={Lazy::<EditRoute>::new()}
                            ssr=SsrMode::Async
                        />
                        <Route path=path!("/System/MailLog") view={Lazy::<LogRoute>::new()} ssr=SsrMode::Async />
                        <Route path=path!("/System/MailTemplates") view={Lazy::<TemplatesRoute>::new()} ssr=SsrMode::Async />
                        // Not a chunk of its own: a fifth lazy route made wasm-split cut the shared
                        // code into twice as many chunks, 17-25 KB more on every page's first load.
                        <Route path=path!("/System/MailApiTokens") view=|| view! { <tokens::TokensPageView /> <HydratedMark /> } ssr=SsrMode::Async />
                        <Route path=path!("/System/Login") view=|| view! { <access::LoginPage /> <HydratedMark /> } />
                        <Route path=path!("/System/Setup") view=|| view! { <access::SetupPage /> <HydratedMark /> } />
                    </Routes>
                </main>
            </Router>
            </yielding::Yield>
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
    let title = move || {
        format!(
            "{} | {}",
            t_string!(i18n, page_title),
            t_string!(i18n, app_title)
        )
    };
    // On the server the title is a plain string: leptos_meta reads it after the render, outside
    // the render's reactive arena, so a closure reading the locale signal there panicked when the
    // response had moved to another worker thread.
    #[cfg(feature = "ssr")]
    let title = view! { <leptos_meta::Title text=TextProp::from(title()) /> };
    // In the browser the server's `<title>` stays until the language changes. (leptos_meta's
    // `<Title>` wrote the same text again while hydrating: 38 ms of the page's first task on
    // a slow phone.)
    #[cfg(not(feature = "ssr"))]
    let title = {
        Effect::new(move |shown: Option<Locale>| {
            let locale = i18n.get_locale();
            if shown.is_some_and(|shown| shown != locale) {
                document().set_title(&title());
            }
            locale
        });
        // Where the server has `<Title>`, which writes nothing into the body either.
        yielding::Nothing.into_any()
    };
    view! {
        {title}
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
        <HydratedMark />
    }
}

/// The settings page, read-only (its own chunk).
#[derive(Debug)]
struct ViewRoute;

#[lazy_route]
impl LazyRoute for ViewRoute {
    fn data() -> Self {
        ViewRoute
    }

    fn view(_this: Self) -> AnyView {
        let body = Callback::new(|page: PageData| view! { <view::ViewSettings page /> }.into_any());
        view! { <SettingsPage body /> }.into_any()
    }
}

/// The settings form (its own chunk: validation as typed, import, secrets).
#[derive(Debug)]
struct EditRoute;

#[lazy_route]
impl LazyRoute for EditRoute {
    fn data() -> Self {
        EditRoute
    }

    fn view(_this: Self) -> AnyView {
        let body = Callback::new(|page: PageData| view! { <edit::EditSettings page /> }.into_any());
        view! { <SettingsPage body /> }.into_any()
    }
}

/// The delivery log (its own chunk).
#[derive(Debug)]
struct LogRoute;

#[lazy_route]
impl LazyRoute for LogRoute {
    fn data() -> Self {
        LogRoute
    }

    fn view(_this: Self) -> AnyView {
        view! { <log::LogPageView /> <HydratedMark /> }.into_any()
    }
}

/// The notification templates (their own chunk).
#[derive(Debug)]
struct TemplatesRoute;

#[lazy_route]
impl LazyRoute for TemplatesRoute {
    fn data() -> Self {
        TemplatesRoute
    }

    fn view(_this: Self) -> AnyView {
        view! { <templates::TemplatesPage /> <HydratedMark /> }.into_any()
    }
}

/// The view page and the edit page: same data, same tabs; `body` shows them read-only or as
/// a form (each from its own chunk).
#[component]
fn SettingsPage(body: Callback<PageData, AnyView>) -> impl IntoView {
    let i18n = use_i18n();
    let data = page_resource(|| (), |_| get_mail_settings());
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
                    Ok(page) => {
                        view! {
                            <access::SessionBar viewer=page.viewer.clone() delivery=page.settings.delivery.clone() />
                            {body.run(page)}
                            <HydratedMark />
                        }
                            .into_any()
                    }
                    Err(e) => view! { <LoadError error=e /> <HydratedMark /> }.into_any(),
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

    /// The API tokens.
    pub fn tokens(self) -> String {
        self.base
            .with_value(|base| format!("{base}/System/MailApiTokens"))
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
