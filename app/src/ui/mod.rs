//! Pages and components. Rules live in [`crate::domain`]; this module only shows their results.

mod access;
mod connection;
mod edit;
mod fields;
mod islands;
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
use leptos_router::components::{Route, Router, Routes};
use leptos_router::hooks::use_query_map;
use leptos_router::{SsrMode, path};

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

/// Starts the browser bundle once the server-rendered page has painted, and hydrates the page's
/// islands. Nothing is fetched before the first frame: the page shows as rendered, then the
/// bundle loads, and a lazy island's chunk comes when its page has one. Forms and links work
/// without it.
#[component]
fn DeferredHydration(options: LeptosOptions) -> impl IntoView {
    let (js, wasm) = bundle_names(&options);
    let pkg = format!("/{}", options.site_pkg_dir);
    // After the next frame is painted (a task queued from inside `requestAnimationFrame` runs
    // after that frame): load the module, then hydrate the islands in document order, each in
    // a task of its own. An island inside another's children hydrates under that island's
    // owner (`$$on_hydrate` of the `<leptos-children>` around it). `<body data-hydrated>`
    // tells the browser tests (and anyone curious) that every island is interactive, with the
    // sections an island hydrates later (`yielding::Defer`).
    let script = format!(
        "const t=()=>new Promise(r=>setTimeout(r,0));\
         const h=async()=>{{const m=await import({js:?});await m.default({{module_or_path:{wasm:?}}});m.hydrate();\
         const o=[];const w=async n=>{{for(const c of n.children){{const g=c.tagName;\
         if(g==='LEPTOS-ISLAND'){{const f=m[c.dataset.component];const p=o[o.length-1];\
         if(f){{await t();if(p)p();const r=f(c);if(r&&r.then)await r;}}await w(c);}}\
         else if(g==='LEPTOS-CHILDREN'){{o.push(c.$$on_hydrate);await w(c);o.pop();}}else await w(c);}}}};\
         await w(document.body);const b=document.body;while(b.dataset.pendingSections)await t();b.dataset.hydrated='true';}};\
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

/// The console's base path (`/ConMasManager`), for full links to its pages.
#[derive(Clone, Debug)]
pub struct BasePath(pub String);

#[component]
pub fn App(base: String) -> impl IntoView {
    provide_meta_context();
    provide_context(BasePath(base.clone()));

    view! {
        <I18nContextProvider ssr_lang_header_getter=language::request_languages()>
            <Header />
            <Router base>
                <main id="main" class="page">
                    // The server renders every page. The browser gets the code of a page's
                    // islands only (`ui::islands`): the edit form, the log, the templates and the
                    // tokens each come in a chunk of their own (`cargo leptos --split`).
                    <Routes fallback=NotFound>
                        <Route
                            path=path!("/System/MailSetting")
                            view=view_route
                            ssr=SsrMode::Async
                        />
                        <Route
                            path=path!("/System/MailSetting/Edit")
                            view=edit_route
                            ssr=SsrMode::Async
                        />
                        <Route path=path!("/System/MailLog") view=log::LogPageView ssr=SsrMode::Async />
                        <Route path=path!("/System/MailTemplates") view=templates::TemplatesPage ssr=SsrMode::Async />
                        <Route path=path!("/System/MailApiTokens") view=tokens::TokensPageView ssr=SsrMode::Async />
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
    let title = format!(
        "{} | {}",
        t_string!(i18n, page_title),
        t_string!(i18n, app_title)
    );
    view! {
        <leptos_meta::Title text=title />
        <a class="skip-link" href="#main">
            {t!(i18n, page_title)}
        </a>
        <header class="topbar">
            <span class="brand">{t!(i18n, app_title)}</span>
            <islands::LanguageSwitch />
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

/// The settings page, read-only.
fn view_route() -> impl IntoView {
    let body = Callback::new(|page: PageData| view! { <view::ViewSettings page /> }.into_any());
    view! { <SettingsPage body /> }
}

/// The settings form.
fn edit_route() -> impl IntoView {
    let body = Callback::new(|page: PageData| {
        let tab = use_tab(&page).get_untracked();
        view! { <islands::EditIsland page tab /> }.into_any()
    });
    view! { <SettingsPage body /> }
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

/// Full links to the console's pages: the base path is added here, once.
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

/// Goes to another page of the console (a full page load: the server renders every page).
pub(crate) fn leave_to(href: &str) {
    #[cfg(feature = "hydrate")]
    {
        let _ = window().location().assign(href);
    }
    #[cfg(not(feature = "hydrate"))]
    let _ = href;
}

/// Shows `href` in the address bar without loading it: for a tab switched in place, so a
/// reload or a shared link opens the same tab.
pub(crate) fn show_in_url(href: &str) {
    #[cfg(feature = "hydrate")]
    {
        if let Ok(history) = window().history() {
            let _ = history.replace_state_with_url(&wasm_bindgen::JsValue::NULL, "", Some(href));
        }
    }
    #[cfg(not(feature = "hydrate"))]
    let _ = href;
}

/// The tab bar. `in_use` marks the method selected for sending.
#[component]
pub(crate) fn TabBar(
    edit: bool,
    current: Memo<Tab>,
    #[prop(into)] in_use: Signal<Tab>,
    /// Switches the tab in place (the edit form, which keeps what was typed). Without it each
    /// tab is a link to its page.
    #[prop(optional)]
    select: Option<Callback<Tab>>,
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
                        <a
                            href=links.page(edit, tab)
                            id=format!("tab-{}", tab.as_str())
                            role="tab"
                            class="tab"
                            aria-selected=move || (current.get() == tab).to_string()
                            aria-controls="tab-panel"
                            data-tab=tab.as_str()
                            on:click=move |ev| {
                                if let Some(select) = select {
                                    ev.prevent_default();
                                    select.run(tab);
                                }
                            }
                        >
                            <span>{move || label(tab)}</span>
                            <Show when=move || in_use.get() == tab>
                                <span class="badge">{t!(i18n, in_use)}</span>
                            </Show>
                        </a>
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
