//! The edit form (`/System/MailSetting/Edit`).

mod import;
mod panels;
use super::fields::{
    CheckboxField, Choice, FormState, ManagerRootInfo, RadioGroup, SecretField, TextField,
};
use super::yielding::Defer;
use super::{Links, TabBar, leave_to, provider_of, show_in_url};
use crate::api::{ApiError, PageData, save_mail_settings, send_test_alert};
use crate::domain::{
    AlertTestResult, AlertsInput, AuthType, BackupInput, BackupOauthInput, BackupOauthView,
    BackupView, DeliveryOptions, Field, FieldError, ImportError, OauthCredential, OauthFlow,
    OauthInput, Port, Provider, SettingsInput, SettingsView, SmtpInput, Tab, TypedSecret, notices,
    validate,
};
use crate::i18n::*;
use import::ImportFile;
use leptos::prelude::*;
use panels::{OauthForm, SmtpForm};

/// The form's values as typed. OAuth keeps one draft per provider so that looking at the other
/// provider's tab loses nothing; only the selected provider's block is sent.
#[derive(Clone, Copy)]
struct Draft {
    auth: RwSignal<AuthType>,
    provider: RwSignal<Provider>,
    smtp_server: RwSignal<String>,
    smtp_port: RwSignal<String>,
    smtp_user: RwSignal<String>,
    smtp_password: RwSignal<String>,
    smtp_ssl: RwSignal<bool>,
    microsoft: OauthDraft,
    google: OauthDraft,
    manager_root: RwSignal<String>,
    divert_to: RwSignal<String>,
    paused: RwSignal<bool>,
    alerts_enabled: RwSignal<bool>,
    webhook_url: RwSignal<String>,
    backup: BackupDraft,
}

/// Which kind of backup connection the form shows.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
enum BackupKind {
    #[default]
    Smtp,
    Microsoft,
}

/// The backup connection as typed: both kinds' fields are kept while switching between them;
/// only the chosen kind is sent.
#[derive(Clone, Copy)]
struct BackupDraft {
    on: RwSignal<bool>,
    kind: RwSignal<BackupKind>,
    server: RwSignal<String>,
    port: RwSignal<String>,
    user: RwSignal<String>,
    password: RwSignal<String>,
    ssl: RwSignal<bool>,
    tenant_id: RwSignal<String>,
    client_id: RwSignal<String>,
    secret: RwSignal<String>,
    secret_expires_on: RwSignal<String>,
    sender: RwSignal<String>,
}

impl BackupDraft {
    fn new(s: &SettingsView) -> Self {
        let b = s.backup.as_ref().and_then(BackupView::smtp);
        let o = s.backup.as_ref().and_then(BackupView::oauth);
        let text = |get: fn(&BackupOauthView) -> &String| {
            RwSignal::new(o.map(|o| get(o).clone()).unwrap_or_default())
        };
        BackupDraft {
            on: RwSignal::new(s.backup.is_some()),
            kind: RwSignal::new(if o.is_some() {
                BackupKind::Microsoft
            } else {
                BackupKind::Smtp
            }),
            server: RwSignal::new(b.map(|b| b.server.clone()).unwrap_or_default()),
            port: RwSignal::new(b.and_then(|b| b.port).unwrap_or(587).to_string()),
            user: RwSignal::new(b.map(|b| b.user.clone()).unwrap_or_default()),
            password: RwSignal::new(String::new()),
            ssl: RwSignal::new(b.is_none_or(|b| b.ssl)),
            tenant_id: text(|o| &o.tenant_id),
            client_id: text(|o| &o.client_id),
            secret: RwSignal::new(String::new()),
            secret_expires_on: text(|o| &o.client_secret_expires_on),
            sender: text(|o| &o.sender),
        }
    }

    /// The backup block of the save request (`None`: no backup).
    fn to_input(self, port: Option<i64>) -> Option<BackupInput> {
        self.on.get().then(|| match self.kind.get() {
            BackupKind::Smtp => BackupInput::Smtp(SmtpInput {
                server: self.server.get(),
                port,
                user: self.user.get(),
                password: secret(self.password),
                ssl: self.ssl.get(),
            }),
            BackupKind::Microsoft => BackupInput::Oauth(BackupOauthInput {
                tenant_id: self.tenant_id.get(),
                client_id: self.client_id.get(),
                client_secret: secret(self.secret),
                client_secret_expires_on: self.secret_expires_on.get(),
                sender: self.sender.get(),
            }),
        })
    }
}

/// A secret box's value for a save request: `None` when left empty (keep the stored one).
fn secret(s: RwSignal<String>) -> Option<TypedSecret> {
    let v = s.get();
    (!v.is_empty()).then(|| TypedSecret::new(v))
}

/// One provider's OAuth fields as typed.
#[derive(Clone, Copy)]
pub(super) struct OauthDraft {
    client_id: RwSignal<String>,
    tenant_id: RwSignal<String>,
    secret: RwSignal<String>,
    secret_expires_on: RwSignal<String>,
    flow: RwSignal<OauthFlow>,
    sender: RwSignal<String>,
    credential: RwSignal<OauthCredential>,
    /// A new certificate (PEM) and its key, as pasted or read from files; empty keeps the
    /// stored ones.
    certificate: RwSignal<String>,
    certificate_key: RwSignal<String>,
    send_as: RwSignal<String>,
}

impl OauthDraft {
    /// Filled from the stored block when it belongs to `provider`, empty otherwise.
    fn new(s: &SettingsView, provider: Provider) -> Self {
        let stored = (s.oauth.provider == provider).then_some(&s.oauth);
        OauthDraft {
            client_id: RwSignal::new(stored.map(|o| o.client_id.clone()).unwrap_or_default()),
            tenant_id: RwSignal::new(stored.map(|o| o.tenant_id.clone()).unwrap_or_default()),
            secret: RwSignal::new(String::new()),
            secret_expires_on: RwSignal::new(
                stored
                    .map(|o| o.client_secret_expires_on.clone())
                    .unwrap_or_default(),
            ),
            flow: RwSignal::new(stored.map(|o| o.flow).unwrap_or_default()),
            sender: RwSignal::new(stored.map(|o| o.sender.clone()).unwrap_or_default()),
            credential: RwSignal::new(stored.map(|o| o.credential).unwrap_or_default()),
            certificate: RwSignal::new(String::new()),
            certificate_key: RwSignal::new(String::new()),
            send_as: RwSignal::new(stored.map(|o| o.send_as.clone()).unwrap_or_default()),
        }
    }
}

impl Draft {
    fn new(s: &SettingsView) -> Self {
        Draft {
            auth: RwSignal::new(s.auth),
            provider: RwSignal::new(s.oauth.provider),
            smtp_server: RwSignal::new(s.smtp.server.clone()),
            smtp_port: RwSignal::new(s.smtp.port.map(|p| p.to_string()).unwrap_or_default()),
            smtp_user: RwSignal::new(s.smtp.user.clone()),
            smtp_password: RwSignal::new(String::new()),
            smtp_ssl: RwSignal::new(s.smtp.ssl),
            microsoft: OauthDraft::new(s, Provider::Microsoft),
            google: OauthDraft::new(s, Provider::Google),
            manager_root: RwSignal::new(s.manager_root.clone()),
            divert_to: RwSignal::new(s.delivery.divert_to.clone().unwrap_or_default()),
            paused: RwSignal::new(s.delivery.paused),
            alerts_enabled: RwSignal::new(s.alerts.enabled),
            webhook_url: RwSignal::new(String::new()),
            backup: BackupDraft::new(s),
        }
    }

    /// The save request, plus an error for a port box that does not hold a number (the JSON
    /// cannot carry that).
    fn to_input(self, version: i64) -> (SettingsInput, Option<FieldError>) {
        let (port, port_error) = match self.smtp_port.with(|p| Port::number_from_text(p)) {
            Ok(p) => (p, None),
            Err(code) => (None, Some(FieldError::new(Field::SmtpPort, code))),
        };
        let b = self.backup;
        let (backup_port, backup_port_error) = match b.port.with(|p| Port::number_from_text(p)) {
            Ok(p) => (p, None),
            Err(code) => (None, Some(FieldError::new(Field::BackupSmtpPort, code))),
        };
        let provider = self.provider.get();
        let o = self.oauth(provider);
        let oauth = OauthInput {
            provider,
            client_id: o.client_id.get(),
            client_secret: secret(o.secret),
            // Google has no tenant.
            tenant_id: match provider {
                Provider::Microsoft => o.tenant_id.get(),
                Provider::Google => String::new(),
            },
            client_secret_expires_on: match provider {
                Provider::Microsoft => o.secret_expires_on.get(),
                Provider::Google => String::new(),
            },
            // App-only is Microsoft's.
            flow: match provider {
                Provider::Microsoft => o.flow.get(),
                Provider::Google => OauthFlow::Delegated,
            },
            sender: match (provider, o.flow.get()) {
                (Provider::Microsoft, OauthFlow::AppOnly) => o.sender.get(),
                _ => String::new(),
            },
            // So is the certificate credential.
            credential: match provider {
                Provider::Microsoft => o.credential.get(),
                Provider::Google => OauthCredential::Secret,
            },
            certificate: match provider {
                Provider::Microsoft => Some(o.certificate.get()).filter(|c| !c.trim().is_empty()),
                Provider::Google => None,
            },
            certificate_key: match provider {
                Provider::Microsoft => secret(o.certificate_key),
                Provider::Google => None,
            },
            // App-only sends as its mailbox (`sender`).
            send_as: match (provider, o.flow.get()) {
                (Provider::Microsoft, OauthFlow::AppOnly) => String::new(),
                _ => o.send_as.get(),
            },
        };
        let input = SettingsInput {
            auth: self.auth.get(),
            smtp: Some(SmtpInput {
                server: self.smtp_server.get(),
                port,
                user: self.smtp_user.get(),
                password: secret(self.smtp_password),
                ssl: self.smtp_ssl.get(),
            }),
            oauth: Some(oauth),
            manager_root: self.manager_root.get(),
            delivery: Some(DeliveryOptions {
                divert_to: Some(self.divert_to.get()).filter(|a| !a.trim().is_empty()),
                paused: self.paused.get(),
            }),
            alerts: Some(AlertsInput {
                enabled: self.alerts_enabled.get(),
                webhook_url: secret(self.webhook_url),
            }),
            backup: Some(b.to_input(backup_port)),
            version: Some(version),
        };
        let backup_smtp = b.on.get() && b.kind.get() == BackupKind::Smtp;
        let port_error = port_error.or(backup_port_error.filter(|_| backup_smtp));
        (input, port_error)
    }

    fn oauth(self, provider: Provider) -> OauthDraft {
        match provider {
            Provider::Microsoft => self.microsoft,
            Provider::Google => self.google,
        }
    }
}

/// Reads the file chosen in the `<input type="file">` that fired `ev` as text and hands it to
/// `done` (`None`: it could not be read as text). The input is cleared, so choosing the same
/// file again fires `change` again. Only in the browser.
#[cfg_attr(not(feature = "hydrate"), allow(unused_variables))]
fn read_chosen_file(ev: &leptos::ev::Event, done: impl FnOnce(Option<String>) + 'static) {
    #[cfg(feature = "hydrate")]
    {
        use wasm_bindgen::JsCast as _;
        let Some(input) = ev
            .target()
            .and_then(|t| t.dyn_into::<web_sys::HtmlInputElement>().ok())
        else {
            return;
        };
        let Some(file) = input.files().and_then(|f| f.get(0)) else {
            return;
        };
        leptos::task::spawn_local(async move {
            let text = wasm_bindgen_futures::JsFuture::from(file.text())
                .await
                .ok()
                .and_then(|v| v.as_string());
            done(text);
        });
        input.set_value("");
    }
}

/// Set once settings were loaded from a file: the stored secrets then count as not set, so the
/// form asks for them again before it saves.
#[derive(Clone, Copy)]
struct Imported(RwSignal<bool>);

fn imported() -> bool {
    use_context::<Imported>().is_some_and(|i| i.0.get())
}

/// Runs the shared rules on the draft: the port's text check first, then everything else.
/// After an import the secrets must be typed again (`imported`).
fn client_check(stored: &SettingsView, draft: Draft, imported: bool) -> Vec<FieldError> {
    let (input, port_error) = draft.to_input(stored.version);
    let mut errors: Vec<FieldError> = port_error.into_iter().collect();
    let mut basis = stored.clone();
    if imported {
        basis.smtp.password_set = false;
        basis.oauth.client_secret_set = false;
        basis.oauth.certificate = None;
        basis.oauth.certificate_key_set = false;
        match basis.backup.as_mut() {
            Some(BackupView::Smtp(smtp)) => smtp.password_set = false,
            Some(BackupView::Oauth(oauth)) => oauth.client_secret_set = false,
            None => {}
        }
    }
    if let Err(rule_errors) = validate(&basis, &input) {
        for e in rule_errors {
            if !errors.iter().any(|x| x.field == e.field) {
                errors.push(e);
            }
        }
    }
    errors
}

/// The tab the form shows, switched in place.
#[derive(Clone, Copy)]
pub(super) struct EditTab(RwSignal<Tab>);

impl EditTab {
    /// Shows `tab`, and puts its address in the address bar.
    pub(super) fn show(self, links: Links, tab: Tab) {
        self.0.set(tab);
        show_in_url(&links.page(true, tab));
    }
}

#[derive(Clone, Debug, PartialEq)]
enum SaveProblem {
    Invalid,
    Conflict,
    Failed(Option<String>),
}

#[component]
pub fn EditSettings(page: PageData, tab: Tab) -> impl IntoView {
    let i18n = use_i18n();
    // The tab switches in place: what was typed on the others stays.
    let shown_tab = EditTab(RwSignal::new(tab));
    provide_context(shown_tab);
    let tab = Memo::new(move |_| shown_tab.0.get());
    let stored = StoredValue::new(page.settings.clone());
    let server_ip = page.server_ip;
    let draft = Draft::new(&page.settings);
    let links = Links::from_context();

    let imported_flag = RwSignal::new(false);
    provide_context(Imported(imported_flag));
    let client_errors = Memo::new(move |_| {
        let imported = imported_flag.get();
        stored.with_value(|s| client_check(s, draft, imported))
    });
    let form = FormState {
        client_errors,
        server_errors: RwSignal::new(Vec::new()),
        touched: RwSignal::new(Vec::new()),
        submitted: RwSignal::new(false),
        provider: draft.provider,
    };
    provide_context(form);
    let problem = RwSignal::new(None::<SaveProblem>);

    // Advice on the values as typed.
    let live_notices = Memo::new(move |_| {
        let (input, _) = draft.to_input(0);
        let merged = stored.with_value(|s| crate::domain::merge(s, &input));
        notices(&merged, server_ip)
    });

    let save = Action::new(move |input: &SettingsInput| {
        let input = input.clone();
        async move { save_mail_settings(input).await }
    });
    let pending = save.pending();

    // Result of a save: go back to the view page, or show why not.
    Effect::new(move |_| {
        let Some(result) = save.value().get() else {
            return;
        };
        match result {
            Ok(saved) => {
                // OAuth without a connected account (new credentials disconnect the old one):
                // straight on to the provider's consent page. App-only has no user to consent.
                if saved.settings.auth == AuthType::Oauth
                    && !saved.oauth.is_connected()
                    && saved.oauth.app_only_sender.is_none()
                {
                    let back = links.page(false, tab.get_untracked());
                    leptos::task::spawn_local(async move {
                        if let Err((code, _)) = super::connection::connect().await {
                            leave_to(&format!("{back}&oauth={}", code.as_str()));
                        }
                    });
                    return;
                }
                // The settings page says "saved" once (`saved=1`).
                leave_to(&format!(
                    "{}&saved=1",
                    links.page(false, tab.get_untracked())
                ));
            }
            Err(ApiError::Invalid(errors)) => {
                form.server_errors.set(errors);
                problem.set(Some(SaveProblem::Invalid));
            }
            Err(ApiError::Conflict { .. }) => problem.set(Some(SaveProblem::Conflict)),
            Err(ApiError::Internal { reference }) => {
                problem.set(Some(SaveProblem::Failed(Some(reference))))
            }
            Err(
                ApiError::Transport
                | ApiError::Oauth { .. }
                | ApiError::Template(_)
                | ApiError::Limits(_)
                | ApiError::Token(_),
            ) => problem.set(Some(SaveProblem::Failed(None))),
        }
    });

    let on_submit = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        if pending.get_untracked() {
            return;
        }
        form.submitted.set(true);
        if !client_errors.with_untracked(Vec::is_empty) {
            problem.set(Some(SaveProblem::Invalid));
            focus_first_error();
            return;
        }
        problem.set(None);
        let (input, _) = draft.to_input(stored.with_value(|s| s.version));
        save.dispatch(input);
    };

    // Choosing a method shows its tab.
    let select_method = move |auth: AuthType, provider: Option<Provider>| {
        draft.auth.set(auth);
        if let Some(p) = provider {
            draft.provider.set(p);
        }
        shown_tab.show(
            links,
            Tab::for_settings(auth, draft.provider.get_untracked()),
        );
    };
    let in_use = Signal::derive(move || Tab::for_settings(draft.auth.get(), draft.provider.get()));

    let problem_banner = move || {
        problem.get().map(|p| {
            let body = match p {
                SaveProblem::Invalid => view! { <p>{t!(i18n, save_blocked)}</p> }.into_any(),
                SaveProblem::Conflict => view! {
                    <p>{t!(i18n, conflict)}</p>
                    <p>
                        <a href="" on:click=move |ev| {
                            ev.prevent_default();
                            reload_page();
                        }>{t!(i18n, reload_latest)}</a>
                    </p>
                }
                .into_any(),
                SaveProblem::Failed(reference) => view! {
                    <p>{t!(i18n, save_failed)}</p>
                    {reference.map(|r| view! { <p class="reference">{t!(i18n, reference)} ": " {r}</p> })}
                }
                .into_any(),
            };
            view! { <div class="banner banner-error" role="alert" id="save-problem">{body}</div> }
        })
    };

    let move_to_microsoft =
        Callback::new(move |()| select_method(AuthType::Oauth, Some(Provider::Microsoft)));

    view! {
        <form class="settings-form" novalidate on:submit=on_submit>
            <div class="page-head">
                <h1>{t!(i18n, page_title)}</h1>
                <div class="actions">
                    <a href=move || links.page(false, tab.get()) class="button" id="cancel-button">
                        {t!(i18n, cancel)}
                    </a>
                    <button type="submit" class="button primary" id="save-button" disabled=move || pending.get() aria-busy=move || pending.get().to_string()>
                        {move || if pending.get() { t_string!(i18n, saving) } else { t_string!(i18n, save) }}
                    </button>
                </div>
            </div>
            {problem_banner}
            // Each card is made and hydrated in a task of its own (see `yielding`).
            <Defer>
            <section class="card">
                <fieldset class="choice">
                    <legend>{t!(i18n, auth_type)}</legend>
                    <label>
                        <input type="radio" name="auth" value="smtp" id="auth-smtp"
                            prop:checked=move || draft.auth.get() == AuthType::Smtp
                            on:change=move |_| select_method(AuthType::Smtp, None) />
                        {t!(i18n, auth_smtp)}
                    </label>
                    <label>
                        <input type="radio" name="auth" value="oauth" id="auth-oauth"
                            prop:checked=move || draft.auth.get() == AuthType::Oauth
                            on:change=move |_| select_method(AuthType::Oauth, None) />
                        {t!(i18n, auth_oauth)}
                    </label>
                </fieldset>
                <Show when=move || draft.auth.get() == AuthType::Oauth>
                    <fieldset class="choice">
                        <legend>{t!(i18n, provider)}</legend>
                        <label>
                            <input type="radio" name="provider" value="microsoft" id="provider-microsoft"
                                prop:checked=move || draft.provider.get() == Provider::Microsoft
                                on:change=move |_| select_method(AuthType::Oauth, Some(Provider::Microsoft)) />
                            {t!(i18n, provider_microsoft)}
                        </label>
                        <label>
                            <input type="radio" name="provider" value="google" id="provider-google"
                                prop:checked=move || draft.provider.get() == Provider::Google
                                on:change=move |_| select_method(AuthType::Oauth, Some(Provider::Google)) />
                            {t!(i18n, provider_google)}
                        </label>
                    </fieldset>
                </Show>
            </section>
            </Defer>
            <Defer>
            <section class="card">
                <TabBar edit=true current=tab in_use select=Callback::new(move |t| shown_tab.show(links, t)) />
                <div class="tab-panel" id="tab-panel" role="tabpanel" data-panel=move || tab.get().as_str()>
                    <Show when=move || in_use.get() != tab.get()>
                        <div class="banner banner-info not-in-use">
                            <p>{t!(i18n, not_in_use_note)}</p>
                            <button type="button" class="button small" id="use-this-method" on:click=move |_| {
                                match provider_of(tab.get_untracked()) {
                                    None => select_method(AuthType::Smtp, None),
                                    Some(p) => select_method(AuthType::Oauth, Some(p)),
                                }
                            }>{t!(i18n, use_this_method)}</button>
                        </div>
                    </Show>
                    {move || match tab.get() {
                        Tab::Smtp => view! { <SmtpForm draft stored live_notices move_to_microsoft /> }.into_any(),
                        Tab::Microsoft => view! { <OauthForm provider=Provider::Microsoft draft stored server_ip /> }.into_any(),
                        Tab::Google => view! { <OauthForm provider=Provider::Google draft stored server_ip /> }.into_any(),
                    }}
                </div>
            </section>
            </Defer>
            <Defer>
            <super::test_mail::TestMail edited=Callback::new(move |()| {
                draft.to_input(stored.with_value(|s| s.version)).0
            }) />
            </Defer>
            <Defer><ImportFile draft imported=imported_flag /></Defer>
            <Defer>
            <section class="card">
                <TextField
                    id="manager-root"
                    field=Field::ManagerRoot
                    label=Signal::derive(move || t_string!(i18n, manager_root))
                    help=Signal::derive(move || t_string!(i18n, manager_root_help))
                    value=draft.manager_root
                    input_type="url"
                    placeholder="http://{0}/ConMasManager"
                />
                <ManagerRootInfo manager_root=draft.manager_root server_ip show_value=false />
            </section>
            </Defer>
            <Defer><DeliveryCard draft /></Defer>
            <Defer><BackupCard draft stored /></Defer>
            <Defer><AlertsCard draft stored /></Defer>
        </form>
    }
}

/// Divert and pause, for a staging copy or a maintenance window: they apply to every
/// connection, so they sit outside the tabs.
#[component]
fn DeliveryCard(draft: Draft) -> impl IntoView {
    let i18n = use_i18n();
    view! {
        <section class="card" id="delivery-options">
            <h2>{t!(i18n, delivery_title)}</h2>
            <TextField
                id="divert-to"
                field=Field::DeliveryDivertTo
                label=Signal::derive(move || t_string!(i18n, divert_to))
                help=Signal::derive(move || t_string!(i18n, divert_to_help))
                value=draft.divert_to
                input_type="email"
                autocomplete="email"
                placeholder="qa@example.co.jp"
            />
            <CheckboxField
                id="delivery-paused"
                name="delivery.paused"
                field=Field::DeliveryPaused
                label=Signal::derive(move || t_string!(i18n, delivery_paused))
                help=Signal::derive(move || t_string!(i18n, delivery_paused_help))
                checked=draft.paused
            />
        </section>
    }
}

/// The backup connection: an SMTP server, or a Microsoft 365 mailbox (Graph, app-only), that
/// takes over when the primary connection cannot deliver for a reason that is not the
/// recipient's.
#[component]
fn BackupCard(draft: Draft, stored: StoredValue<SettingsView>) -> impl IntoView {
    let i18n = use_i18n();
    let b = draft.backup;
    // The stored backup, and the one this draft would save.
    let both = move || {
        stored.with_value(|s| {
            let (input, _) = draft.to_input(s.version);
            (s.backup.clone(), crate::domain::merge(s, &input).backup)
        })
    };
    // The stored password only for the same server and account (`domain::same_smtp_target`).
    let password_stored = Signal::derive(move || {
        !imported()
            && match both() {
                (Some(BackupView::Smtp(old)), Some(BackupView::Smtp(new))) => {
                    old.password_set && crate::domain::same_smtp_target(&old, &new)
                }
                _ => false,
            }
    });
    // The stored client secret only for the same app of the same tenant.
    let secret_stored = Signal::derive(move || {
        !imported()
            && match both() {
                (Some(BackupView::Oauth(old)), Some(BackupView::Oauth(new))) => {
                    old.client_secret_set
                        && crate::domain::same_oauth_client(&old.as_oauth(), &new.as_oauth())
                }
                _ => false,
            }
    });
    view! {
        <section class="card" id="backup">
            <h2>{t!(i18n, backup_title)}</h2>
            <p class="hint">{t!(i18n, backup_intro)}</p>
            <CheckboxField
                id="backup-on"
                name="backup"
                label=Signal::derive(move || t_string!(i18n, backup_on))
                checked=b.on
            />
            <Show when=move || b.on.get()>
                <RadioGroup
                    id="backup-kind"
                    name="backup.kind"
                    legend=Signal::derive(move || t_string!(i18n, backup_kind))
                    selected=b.kind
                    choices=backup_kinds()
                />
                <Show when=move || b.kind.get() == BackupKind::Smtp>
                    <BackupSmtpFields b password_stored />
                </Show>
                <Show when=move || b.kind.get() == BackupKind::Microsoft>
                    <BackupMicrosoftFields b secret_stored />
                </Show>
            </Show>
        </section>
    }
}

/// The kinds of backup connection, for the radio buttons.
fn backup_kinds() -> Vec<Choice<BackupKind>> {
    let i18n = use_i18n();
    vec![
        Choice {
            value: BackupKind::Smtp,
            id: "backup-kind-smtp",
            form_value: "smtp",
            label: Signal::derive(move || t_string!(i18n, backup_kind_smtp)),
        },
        Choice {
            value: BackupKind::Microsoft,
            id: "backup-kind-microsoft",
            form_value: "oauth",
            label: Signal::derive(move || t_string!(i18n, backup_kind_microsoft)),
        },
    ]
}

#[component]
fn BackupSmtpFields(b: BackupDraft, password_stored: Signal<bool>) -> impl IntoView {
    let i18n = use_i18n();
    view! {
        <TextField
            id="backup-server"
            field=Field::BackupSmtpServer
            label=Signal::derive(move || t_string!(i18n, smtp_server))
            value=b.server
            placeholder="relay.example.co.jp"
        />
        <TextField
            id="backup-port"
            field=Field::BackupSmtpPort
            label=Signal::derive(move || t_string!(i18n, smtp_port))
            help=Signal::derive(move || t_string!(i18n, smtp_port_help))
            value=b.port
            inputmode="numeric"
        />
        <CheckboxField
            id="backup-ssl"
            name="backup.smtp.ssl"
            field=Field::BackupSmtpSsl
            label=Signal::derive(move || t_string!(i18n, smtp_ssl))
            checked=b.ssl
        />
        <TextField
            id="backup-user"
            field=Field::BackupSmtpUser
            label=Signal::derive(move || t_string!(i18n, smtp_user))
            help=Signal::derive(move || t_string!(i18n, backup_user_help))
            value=b.user
            input_type="email"
            placeholder="notice@example.co.jp"
        />
        <SecretField
            id="backup-password"
            field=Field::BackupSmtpPassword
            label=Signal::derive(move || t_string!(i18n, smtp_password))
            stored=password_stored
            value=b.password
        />
    }
}

/// A Microsoft 365 mailbox as the backup: an app registration of its own with the
/// application permission Mail.Send, as for the app-only main connection.
#[component]
fn BackupMicrosoftFields(b: BackupDraft, secret_stored: Signal<bool>) -> impl IntoView {
    let i18n = use_i18n();
    view! {
        <div class="hint" id="backup-ms-steps">
            <p>{t!(i18n, backup_ms_intro)}</p>
            <ol>
                <li>{t!(i18n, app_only_step_permission)}</li>
                <li>{t!(i18n, app_only_step_restrict)}</li>
                <li>{t!(i18n, backup_ms_own_app)}</li>
            </ol>
        </div>
        <TextField
            id="backup-ms-tenant-id"
            field=Field::BackupOauthTenantId
            label=Signal::derive(move || t_string!(i18n, tenant_id))
            help=Signal::derive(move || t_string!(i18n, ms_tenant_help))
            value=b.tenant_id
            placeholder="contoso.onmicrosoft.com"
        />
        <TextField
            id="backup-ms-client-id"
            field=Field::BackupOauthClientId
            label=Signal::derive(move || t_string!(i18n, client_id))
            value=b.client_id
            placeholder="00000000-0000-0000-0000-000000000000"
        />
        <SecretField
            id="backup-ms-client-secret"
            field=Field::BackupOauthClientSecret
            label=Signal::derive(move || t_string!(i18n, client_secret))
            stored=secret_stored
            value=b.secret
        />
        <TextField
            id="backup-ms-secret-expires-on"
            field=Field::BackupOauthSecretExpiresOn
            label=Signal::derive(move || t_string!(i18n, secret_expires_on))
            help=Signal::derive(move || t_string!(i18n, secret_expires_on_help))
            value=b.secret_expires_on
            placeholder="2027-03-31"
        />
        <TextField
            id="backup-ms-sender"
            field=Field::BackupOauthSender
            label=Signal::derive(move || t_string!(i18n, oauth_sender))
            help=Signal::derive(move || t_string!(i18n, backup_ms_sender_help))
            value=b.sender
            input_type="email"
            placeholder="notice@contoso.com"
        />
    }
}

/// Alerts to a webhook, for when mail itself stops. The address is a secret: typed, never
/// shown again; the test button posts to the address as typed, or to the saved one.
#[component]
fn AlertsCard(draft: Draft, stored: StoredValue<SettingsView>) -> impl IntoView {
    let i18n = use_i18n();
    let webhook_stored = Signal::derive(move || stored.with_value(|s| s.alerts.webhook_set));
    let host = stored.with_value(|s| s.alerts.webhook_host.clone());
    let test = Action::new(move |url: &Option<TypedSecret>| {
        let url = url.clone();
        async move { send_test_alert(url).await }
    });
    let on_test = move |_| {
        let typed = draft.webhook_url.get_untracked();
        test.dispatch((!typed.trim().is_empty()).then(|| TypedSecret::new(typed)));
    };
    let result = move || {
        test.value().get().map(|r| match r {
            Ok(AlertTestResult { delivered: true, status, .. }) => view! {
                <p class="banner banner-ok" role="status" id="alerts-test-result" data-delivered="true">
                    {t!(i18n, alerts_test_ok)} " " {status.unwrap_or_default()}
                </p>
            }
            .into_any(),
            Ok(AlertTestResult { error, .. }) => view! {
                <p class="field-error" role="alert" id="alerts-test-result" data-delivered="false">
                    {t!(i18n, alerts_test_failed)} " " {error.unwrap_or_default()} " "
                    {t!(i18n, alerts_test_failed_help)}
                </p>
            }
            .into_any(),
            Err(ApiError::Invalid(errors)) => {
                let code = errors.first().map(|e| e.code);
                view! {
                    <p class="field-error" role="alert" id="alerts-test-result" data-delivered="false"
                        data-code=code.map(|c| c.as_str())>
                        {move || match code {
                            Some(crate::domain::ErrorCode::WebhookUrlRequired) | None => {
                                t_string!(i18n, alerts_test_unsaved)
                            }
                            Some(c) => crate::messages::error_message(i18n.get_locale(), c),
                        }}
                    </p>
                }
                .into_any()
            }
            Err(_) => view! {
                <p class="field-error" role="alert" id="alerts-test-result" data-delivered="false">
                    {t!(i18n, load_failed)}
                </p>
            }
            .into_any(),
        })
    };
    view! {
        <section class="card" id="alerts">
            <h2>{t!(i18n, alerts_title)}</h2>
            <p class="hint">{t!(i18n, alerts_intro)}</p>
            <CheckboxField
                id="alerts-enabled"
                name="alerts.enabled"
                field=Field::AlertsEnabled
                label=Signal::derive(move || t_string!(i18n, alerts_enabled))
                checked=draft.alerts_enabled
            />
            <SecretField
                id="alerts-webhook-url"
                field=Field::AlertsWebhookUrl
                label=Signal::derive(move || t_string!(i18n, alerts_webhook_url))
                help=Signal::derive(move || t_string!(i18n, alerts_webhook_help))
                stored=webhook_stored
                value=draft.webhook_url
            />
            {(!host.is_empty()).then(|| view! {
                <p class="hint" id="alerts-webhook-host">{t!(i18n, alerts_webhook_kept)} " " {host}</p>
            })}
            <button type="button" class="button" id="alerts-test" on:click=on_test
                disabled=move || test.pending().get()>
                {move || if test.pending().get() { t_string!(i18n, alerts_test_sending) } else { t_string!(i18n, alerts_test) }}
            </button>
            {result}
        </section>
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum ImportOutcome {
    Loaded,
    Refused(ImportError),
}

/// Moves keyboard focus to the first field with an error, so the administrator lands on it.
fn focus_first_error() {
    #[cfg(feature = "hydrate")]
    {
        use wasm_bindgen::JsCast;
        request_animation_frame(|| {
            let el = document()
                .query_selector("[aria-invalid=\"true\"]")
                .ok()
                .flatten()
                .and_then(|e| e.dyn_into::<web_sys::HtmlElement>().ok());
            if let Some(el) = el {
                let _ = el.focus();
            }
        });
    }
}

fn reload_page() {
    #[cfg(feature = "hydrate")]
    {
        let _ = window().location().reload();
    }
}
