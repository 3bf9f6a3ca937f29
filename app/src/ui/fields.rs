//! Form fields and the information blocks shared by the view and edit pages.

use crate::domain::{ErrorCode, Field, FieldError, ManagerRoot, Notice, Provider};
use crate::i18n::*;
use crate::messages::{error_message, notice_message};
use leptos::prelude::*;
use std::net::IpAddr;

/// Validation state of the edit form, shared by its fields through context.
#[derive(Clone, Copy)]
pub struct FormState {
    /// The same rules the server runs, re-evaluated on every change.
    pub client_errors: Memo<Vec<FieldError>>,
    /// What the server refused on the last save.
    pub server_errors: RwSignal<Vec<FieldError>>,
    /// Fields the administrator has typed in or left: their errors show at once.
    pub touched: RwSignal<Vec<Field>>,
    /// After a save attempt every error shows.
    pub submitted: RwSignal<bool>,
    /// The OAuth provider selected in the form.
    pub provider: RwSignal<Provider>,
}

/// Marks the fields of one provider's OAuth form. Both providers' forms edit the same `oauth.*`
/// fields, so errors show only on the form of the provider that is selected.
#[derive(Clone, Copy)]
pub struct OauthScope(pub Provider);

impl FormState {
    /// The error to show for `field`; `scope` is the OAuth form the field is on, if any.
    pub fn error_for(&self, field: Field, scope: Option<OauthScope>) -> Option<ErrorCode> {
        if scope.is_some_and(|OauthScope(p)| p != self.provider.get()) {
            return None;
        }
        let shown = self.submitted.get()
            || self
                .touched
                .with(|t| t.iter().any(|f| *f == field || f.rule_shared_with(field)));
        let find =
            |errors: &Vec<FieldError>| errors.iter().find(|e| e.field == field).map(|e| e.code);
        shown
            .then(|| self.client_errors.with(find))
            .flatten()
            .or_else(|| self.server_errors.with(find))
    }

    pub fn touch(&self, field: Field) {
        if !self.touched.with_untracked(|t| t.contains(&field)) {
            self.touched.update(|t| t.push(field));
        }
        // A server error on this field, or on one whose rule reads it, is outdated once the
        // value changes (the browser's own check of the new value shows instead).
        let outdated = |e: &FieldError| e.field == field || field.rule_shared_with(e.field);
        if self
            .server_errors
            .with_untracked(|e| e.iter().any(outdated))
        {
            self.server_errors.update(|e| e.retain(|e| !outdated(e)));
        }
    }
}

/// One choice of a [`RadioGroup`]: the value it selects, its input's id and form value, and
/// its label.
pub struct Choice<T: 'static> {
    pub value: T,
    pub id: &'static str,
    pub form_value: &'static str,
    pub label: Signal<&'static str>,
}

/// Radio buttons choosing one value, as one `fieldset` with its legend, help and error line.
#[component]
pub fn RadioGroup<T>(
    id: &'static str,
    name: &'static str,
    /// The field whose errors show under the choice; none for a choice of which fields to show.
    #[prop(optional)]
    field: Option<Field>,
    #[prop(into)] legend: Signal<&'static str>,
    #[prop(into, optional)] help: Option<Signal<&'static str>>,
    selected: RwSignal<T>,
    choices: Vec<Choice<T>>,
) -> impl IntoView
where
    T: Copy + PartialEq + Send + Sync + 'static,
{
    let form = expect_context::<FormState>();
    let radios = choices
        .into_iter()
        .map(|choice| {
            let value = choice.value;
            view! {
                <label>
                    <input
                        type="radio"
                        id=choice.id
                        name=name
                        value=choice.form_value
                        prop:checked=move || selected.get() == value
                        on:change=move |_| {
                            selected.set(value);
                            if let Some(field) = field {
                                form.touch(field);
                            }
                        }
                    />
                    " "
                    {choice.label}
                </label>
            }
        })
        .collect_view();
    view! {
        <fieldset class="field" id=id>
            <legend>{legend}</legend>
            {radios}
            {help.map(|h| view! { <p class="help">{h}</p> })}
            {field.map(|field| view! { <ErrorText id=format!("{id}-error") field /> })}
        </fieldset>
    }
}

/// The error line under a field; empty (but present, for `aria-describedby`) when valid.
#[component]
pub fn ErrorText(id: String, field: Field) -> impl IntoView {
    let i18n = use_i18n();
    let form = expect_context::<FormState>();
    let scope = use_context::<OauthScope>();
    // One look-up for the code and the text.
    let error = Memo::new(move |_| form.error_for(field, scope));
    view! {
        <p
            class="error"
            id=id
            aria-live="polite"
            data-field=field.as_str()
            data-code=move || error.get().map(ErrorCode::as_str)
        >
            {move || error.get().map(|code| error_message(i18n.get_locale(), code))}
        </p>
    }
}

/// A labelled checkbox bound to a signal, with optional help and its field's live errors.
/// `field` is touched on change (for a switch that enables a group, the group's first field).
#[component]
pub fn CheckboxField(
    id: &'static str,
    name: &'static str,
    /// The field whose errors show under the box; none for a switch that only shows or hides
    /// other fields (they show their own errors).
    #[prop(optional)]
    field: Option<Field>,
    #[prop(into)] label: Signal<&'static str>,
    #[prop(into, optional)] help: Option<Signal<&'static str>>,
    checked: RwSignal<bool>,
) -> impl IntoView {
    let form = expect_context::<FormState>();
    let error_id = format!("{id}-error");
    let help_id = format!("{id}-help");
    let described = match field {
        Some(_) => format!("{help_id} {error_id}"),
        None => help_id.clone(),
    };
    let invalid = move || field.is_some_and(|f| form.error_for(f, None).is_some());
    view! {
        <div class="field checkbox-field" class:has-error=invalid>
            <label>
                <input
                    type="checkbox"
                    id=id
                    name=name
                    prop:checked=move || checked.get()
                    on:change=move |ev| {
                        checked.set(event_target_checked(&ev));
                        if let Some(field) = field {
                            form.touch(field);
                        }
                    }
                    aria-describedby=described
                />
                {label}
            </label>
            {help.map(|h| view! { <p class="help" id=help_id>{h}</p> })}
            {field.map(|field| view! { <ErrorText id=error_id field /> })}
        </div>
    }
}

/// A labelled single-line input bound to a signal, with help text and live errors.
#[component]
pub fn TextField(
    id: &'static str,
    field: Field,
    #[prop(into)] label: Signal<&'static str>,
    #[prop(into, optional)] help: Option<Signal<&'static str>>,
    value: RwSignal<String>,
    #[prop(default = "text")] input_type: &'static str,
    #[prop(optional)] inputmode: Option<&'static str>,
    #[prop(optional)] autocomplete: Option<&'static str>,
    #[prop(optional)] placeholder: Option<&'static str>,
) -> impl IntoView {
    let form = expect_context::<FormState>();
    let error_id = format!("{id}-error");
    let help_id = format!("{id}-help");
    let described = if help.is_some() {
        format!("{help_id} {error_id}")
    } else {
        error_id.clone()
    };
    let scope = use_context::<OauthScope>();
    let invalid = move || form.error_for(field, scope).is_some();
    view! {
        <div class="field" class:has-error=invalid>
            <label for=id>{label}</label>
            <input
                id=id
                name=field.as_str()
                type=input_type
                inputmode=inputmode
                autocomplete=autocomplete.unwrap_or("off")
                placeholder=placeholder
                spellcheck="false"
                prop:value=move || value.get()
                on:input=move |ev| {
                    value.set(event_target_value(&ev));
                    form.touch(field);
                }
                on:blur=move |_| form.touch(field)
                aria-invalid=move || invalid().to_string()
                aria-describedby=described
            />
            {help.map(|h| view! { <p class="help" id=help_id>{h}</p> })}
            <ErrorText id=error_id field />
        </div>
    }
}

/// A secret: never shown, only "set" / "not set", with a way to type a replacement.
#[component]
pub fn SecretField(
    id: &'static str,
    field: Field,
    #[prop(into)] label: Signal<&'static str>,
    #[prop(into, optional)] help: Option<Signal<&'static str>>,
    /// Whether the server holds a value for this secret.
    #[prop(into)]
    stored: Signal<bool>,
    value: RwSignal<String>,
) -> impl IntoView {
    let i18n = use_i18n();
    let form = expect_context::<FormState>();
    let replacing = RwSignal::new(false);
    let show_input = move || !stored.get() || replacing.get();
    let error_id = format!("{id}-error");
    let help_id = format!("{id}-help");
    let status_id = format!("{id}-status");
    let described = format!("{status_id} {help_id} {error_id}");
    let scope = use_context::<OauthScope>();
    let invalid = move || form.error_for(field, scope).is_some();
    view! {
        <div class="field secret-field" class:has-error=invalid>
            <label for=id>{label}</label>
            <div class="secret-row">
                <span class="secret-state" class:is-set=move || stored.get() id=status_id.clone()>
                    {move || if stored.get() { t_string!(i18n, secret_set) } else { t_string!(i18n, secret_not_set) }}
                </span>
                <Show when=move || stored.get()>
                    <button
                        type="button"
                        class="button small"
                        id=format!("{id}-toggle")
                        aria-expanded=move || replacing.get().to_string()
                        on:click=move |_| {
                            replacing.update(|r| *r = !*r);
                            if !replacing.get_untracked() {
                                value.set(String::new());
                            }
                        }
                    >
                        {move || if replacing.get() { t_string!(i18n, secret_keep) } else { t_string!(i18n, secret_replace) }}
                    </button>
                </Show>
            </div>
            <Show when=show_input>
                <input
                    id=id
                    name=field.as_str()
                    type="password"
                    autocomplete="new-password"
                    spellcheck="false"
                    placeholder=move || t_string!(i18n, secret_new_placeholder)
                    prop:value=move || value.get()
                    on:input=move |ev| {
                        value.set(event_target_value(&ev));
                        form.touch(field);
                    }
                    on:blur=move |_| form.touch(field)
                    aria-invalid=move || invalid().to_string()
                    aria-describedby=described.clone()
                />
            </Show>
            <p class="help" id=help_id>
                {help.map(|h| view! { {h} " " })}
                {t!(i18n, secret_hidden_note)}
            </p>
            <ErrorText id=error_id field />
        </div>
    }
}

/// Advice lines (not errors).
#[component]
pub fn NoticeList(#[prop(into)] notices: Signal<Vec<Notice>>) -> impl IntoView {
    let i18n = use_i18n();
    view! {
        <Show when=move || notices.with(|n| !n.is_empty())>
            <ul class="notices" aria-live="polite">
                <For
                    each=move || notices.get()
                    key=|n| (n.code, n.provider)
                    children=move |n| {
                        view! {
                            <li class="notice" data-code=serde_json::to_value(n.code).ok().and_then(|v| v.as_str().map(str::to_owned))>
                                {move || notice_message(i18n.get_locale(), n.code)}
                            </li>
                        }
                    }
                />
            </ul>
        </Show>
    }
}

/// The redirect URI to register at the provider, a copy button and what the provider will
/// think of it.
#[component]
pub fn RedirectInfo(
    provider: Provider,
    #[prop(into)] manager_root: Signal<String>,
    server_ip: Option<IpAddr>,
    /// Outside an island (the settings page): the copy button is an island of its own.
    #[prop(optional)]
    copy_island: bool,
) -> impl IntoView {
    let i18n = use_i18n();
    let parsed = Memo::new(move |_| manager_root.with(|m| ManagerRoot::parse(m)));
    let uri = move || parsed.with(|p| p.as_ref().ok().map(|r| r.redirect_uri(provider, server_ip)));
    let problems = Signal::derive(move || {
        parsed.with(|p| {
            p.as_ref()
                .map(|r| {
                    r.redirect_check(provider, server_ip)
                        .problems()
                        .into_iter()
                        .map(|code| Notice::for_provider(Field::ManagerRoot, code, provider))
                        .collect::<Vec<_>>()
                })
                .unwrap_or_default()
        })
    });
    let id = format!("redirect-uri-{}", provider.as_str());
    view! {
        <div class="redirect">
            <p class="label" id=format!("{id}-label")>{t!(i18n, redirect_uri)}</p>
            {move || match uri() {
                Some(uri) => {
                    let button = if copy_island {
                        view! { <super::islands::CopyIsland text=uri.clone() /> }.into_any()
                    } else {
                        view! { <CopyButton text=uri.clone() /> }.into_any()
                    };
                    view! {
                        <div class="copy-row">
                            <code id=id.clone() aria-labelledby=format!("{id}-label")>{uri}</code>
                            {button}
                        </div>
                    }
                    .into_any()
                }
                None => {
                    let code = parsed.with(|p| p.as_ref().err().copied());
                    view! {
                        <p class="error">{code.map(|c| error_message(i18n.get_locale(), c))}</p>
                    }
                    .into_any()
                }
            }}
            <NoticeList notices=problems />
        </div>
    }
}

/// Copies `text` to the clipboard, and says so.
#[component]
pub fn CopyButton(text: String) -> impl IntoView {
    let i18n = use_i18n();
    let leptos_use::UseClipboardReturn { copied, copy, .. } = leptos_use::use_clipboard();
    view! {
        <button type="button" class="button small" on:click=move |_| copy(&text)>
            {move || if copied.get() { t_string!(i18n, copied) } else { t_string!(i18n, copy) }}
        </button>
    }
}

/// The short setup steps at the provider.
#[component]
pub fn SetupSteps(provider: Provider) -> impl IntoView {
    let i18n = use_i18n();
    let steps = move || -> Vec<&'static str> {
        match provider {
            Provider::Microsoft => vec![
                t_string!(i18n, ms_step1),
                t_string!(i18n, ms_step2),
                t_string!(i18n, ms_step3),
                t_string!(i18n, ms_step4),
                t_string!(i18n, ms_step5),
            ],
            Provider::Google => vec![
                t_string!(i18n, g_step1),
                t_string!(i18n, g_step2),
                t_string!(i18n, g_step3),
                t_string!(i18n, g_step4),
            ],
        }
    };
    view! {
        <details class="steps" open>
            <summary>{t!(i18n, setup_steps)}</summary>
            <ol>{move || steps().into_iter().map(|s| view! { <li>{s}</li> }).collect_view()}</ol>
        </details>
    }
}

/// ManagerRoot resolved with the detected server address.
#[component]
pub fn ManagerRootInfo(
    #[prop(into)] manager_root: Signal<String>,
    server_ip: Option<IpAddr>,
    /// The edit page has the value in its input box already.
    #[prop(default = true)]
    show_value: bool,
) -> impl IntoView {
    let i18n = use_i18n();
    let resolved =
        move || manager_root.with(|m| ManagerRoot::parse(m).ok().map(|r| r.resolve(server_ip)));
    view! {
        <dl class="settings-list">
            {show_value
                .then(|| {
                    view! {
                        <dt>{t!(i18n, manager_root)}</dt>
                        <dd id="view-manager-root">{move || manager_root.get()}</dd>
                    }
                })}
            <dt>{t!(i18n, manager_root_preview)}</dt>
            <dd>
                <code id="manager-root-preview">{resolved}</code>
            </dd>
            <dt>{t!(i18n, server_ip)}</dt>
            <dd id="server-ip">
                {match server_ip {
                    Some(ip) => ip.to_string().into_any(),
                    None => t!(i18n, server_ip_unknown).into_any(),
                }}
            </dd>
        </dl>
    }
}
