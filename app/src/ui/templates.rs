//! Notification templates (`/System/MailTemplates`): subject and body with data replacement
//! codes, the list of codes, a live preview with sample data, and the same checks the server
//! runs when it saves (an unknown code is an error here, not at send time).

use super::access::SessionBar;
use crate::api::{
    ApiError, TemplateInput, TemplateView, list_templates, page_resource, save_template,
    valid_template_id,
};
use crate::domain::{
    Code, TemplateError, TemplateErrorKind, body_value, parse_part, subject_value,
};
use crate::i18n::*;
use leptos::prelude::*;
use std::collections::BTreeMap;

fn sample(code: Code) -> &'static str {
    match code {
        Code::RepUrl => "https://reports.example.co.jp/ConMasManager/Report/1024",
        Code::RepName => "設備点検報告書",
        Code::RepId => "1024",
        Code::UserName => "山田 太郎",
        Code::SysDate => "2026/11/27",
        Code::SysDateTime => "2026/11/27 14:05",
    }
}

fn code_help(locale: Locale, code: Code) -> &'static str {
    match code {
        Code::RepUrl => td_string!(locale, tpl_code_rep_url),
        Code::RepName => td_string!(locale, tpl_code_rep_name),
        Code::RepId => td_string!(locale, tpl_code_rep_id),
        Code::UserName => td_string!(locale, tpl_code_user_name),
        Code::SysDate => td_string!(locale, tpl_code_sys_date),
        Code::SysDateTime => td_string!(locale, tpl_code_sys_datetime),
    }
}

fn error_text(locale: Locale, kind: TemplateErrorKind) -> &'static str {
    match kind {
        TemplateErrorKind::UnknownCode => td_string!(locale, tpl_err_unknown_code),
        TemplateErrorKind::Unclosed => td_string!(locale, tpl_err_unclosed),
        TemplateErrorKind::StrayClose => td_string!(locale, tpl_err_stray_close),
        TemplateErrorKind::Empty => td_string!(locale, tpl_err_empty),
        TemplateErrorKind::SubjectLineBreak => td_string!(locale, tpl_err_subject_line_break),
        TemplateErrorKind::TooLong => td_string!(locale, tpl_err_too_long),
    }
}

#[component]
pub fn TemplatesPage() -> impl IntoView {
    let i18n = use_i18n();
    let data = page_resource(|| (), |_| list_templates());
    view! {
        <nav class="breadcrumb" aria-label="breadcrumb">
            <ol>
                <li>{t!(i18n, crumb_system)}</li>
                <li>{t!(i18n, crumb_mail)}</li>
                <li aria-current="page">{t!(i18n, tpl_title)}</li>
            </ol>
        </nav>
        <Suspense fallback=move || view! { <p class="loading">{t!(i18n, loading)}</p> }>
            {move || Suspend::new(async move {
                match data.await {
                    Ok((list, viewer, delivery)) => view! {
                        <SessionBar viewer delivery />
                        <super::islands::TemplatesIsland list />
                    }
                    .into_any(),
                    Err(_) => view! { <p class="banner banner-error">{t!(i18n, load_failed)}</p> }.into_any(),
                }
            })}
        </Suspense>
    }
}

#[component]
pub(super) fn Editor(list: Vec<TemplateView>) -> impl IntoView {
    let i18n = use_i18n();
    let first = list.first().cloned();
    let id = RwSignal::new(first.as_ref().map(|t| t.id.clone()).unwrap_or_default());
    let name = RwSignal::new(first.as_ref().map(|t| t.name.clone()).unwrap_or_default());
    let subject = RwSignal::new(
        first
            .as_ref()
            .map(|t| t.subject.clone())
            .unwrap_or_default(),
    );
    let body = RwSignal::new(first.as_ref().map(|t| t.body.clone()).unwrap_or_default());
    let version = RwSignal::new(first.as_ref().map(|t| t.version));
    let saved = RwSignal::new(None::<Result<(), String>>);
    let server_errors = RwSignal::new(Vec::<TemplateError>::new());
    // Kept here, so a save updates the list without re-creating the form.
    let list = RwSignal::new(list);

    let open = move |t: Option<TemplateView>| {
        let t = t.unwrap_or(TemplateView {
            id: String::new(),
            name: String::new(),
            subject: String::new(),
            body: String::new(),
            version: 0,
            updated_at: String::new(),
            updated_by: String::new(),
        });
        id.set(t.id);
        name.set(t.name);
        subject.set(t.subject);
        body.set(t.body);
        version.set((t.version > 0).then_some(t.version));
        saved.set(None);
        server_errors.set(Vec::new());
    };

    // The same checks as the server, on every keystroke.
    let errors = Memo::new(move |_| {
        let mut all = Vec::new();
        if let Err(e) = parse_part("subject", &subject.get()) {
            all.extend(e);
        }
        if let Err(e) = parse_part("body", &body.get()) {
            all.extend(e);
        }
        all
    });
    let id_ok =
        Memo::new(move |_| valid_template_id(id.get().trim()) && !name.get().trim().is_empty());
    let preview = move || {
        let values_with = |fold: fn(&str) -> String| {
            Code::ALL
                .into_iter()
                .map(|c| (c, fold(sample(c))))
                .collect::<BTreeMap<_, _>>()
        };
        let s = parse_part("subject", &subject.get())
            .map(|p| p.render(&values_with(subject_value)))
            .unwrap_or_default();
        let b = parse_part("body", &body.get())
            .map(|p| p.render(&values_with(body_value)))
            .unwrap_or_default();
        (s, b)
    };

    let save = Action::new(move |input: &TemplateInput| {
        let input = input.clone();
        async move { save_template(input).await }
    });
    Effect::new(move |_| {
        if let Some(result) = save.value().get() {
            match result {
                Ok(t) => {
                    version.set(Some(t.version));
                    server_errors.set(Vec::new());
                    saved.set(Some(Ok(())));
                    list.update(|l| match l.iter_mut().find(|x| x.id == t.id) {
                        Some(x) => *x = t,
                        None => l.push(t),
                    });
                }
                Err(ApiError::Template(e)) => {
                    server_errors.set(e);
                    saved.set(Some(Err(String::new())));
                }
                Err(ApiError::Conflict { .. }) => saved.set(Some(Err("conflict".into()))),
                Err(_) => saved.set(Some(Err("failed".into()))),
            }
        }
    });
    let on_save = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        if save.pending().get_untracked()
            || !errors.with_untracked(Vec::is_empty)
            || !id_ok.get_untracked()
        {
            saved.set(Some(Err(String::new())));
            return;
        }
        save.dispatch(TemplateInput {
            id: id.get_untracked().trim().to_string(),
            name: name.get_untracked().trim().to_string(),
            subject: subject.get_untracked(),
            body: body.get_untracked(),
            version: version.get_untracked(),
        });
    };

    let shown_errors = move || {
        let mut e = errors.get();
        e.extend(server_errors.get());
        e.dedup();
        e
    };

    view! {
        <div class="page-head">
            <h1>{t!(i18n, tpl_title)}</h1>
        </div>
        <div class="templates">
            <section class="card template-list">
                <ul id="tpl-list">
                    {move || list
                        .get()
                        .into_iter()
                        .map(|t| {
                            let tid = t.id.clone();
                            let label = format!("{} ({})", t.name, t.id);
                            view! {
                                <li data-id=tid>
                                    <button type="button" class="link" on:click=move |_| open(Some(t.clone()))>{label}</button>
                                </li>
                            }
                        })
                        .collect_view()}
                </ul>
                <button type="button" class="button small" id="tpl-new" on:click=move |_| open(None)>
                    {t!(i18n, tpl_new)}
                </button>
            </section>
            <form class="card template-form" novalidate on:submit=on_save>
                <div class="field">
                    <label for="tpl-id">{t!(i18n, tpl_id)}</label>
                    <input id="tpl-id" prop:value=move || id.get() readonly=move || version.get().is_some()
                        on:input=move |ev| id.set(event_target_value(&ev)) placeholder="report_submitted" />
                    <p class="help">{t!(i18n, tpl_id_help)}</p>
                </div>
                <div class="field">
                    <label for="tpl-name">{t!(i18n, tpl_name)}</label>
                    <input id="tpl-name" prop:value=move || name.get() on:input=move |ev| name.set(event_target_value(&ev)) />
                </div>
                <div class="field">
                    <label for="tpl-subject">{t!(i18n, tpl_subject)}</label>
                    <input id="tpl-subject" prop:value=move || subject.get() on:input=move |ev| subject.set(event_target_value(&ev)) />
                </div>
                <div class="field">
                    <label for="tpl-body">{t!(i18n, tpl_body)}</label>
                    <textarea id="tpl-body" rows="10" prop:value=move || body.get() on:input=move |ev| body.set(event_target_value(&ev))></textarea>
                </div>
                <Show when=move || !shown_errors().is_empty()>
                    <ul class="banner banner-error" id="tpl-errors" role="alert">
                        {move || shown_errors()
                            .into_iter()
                            .map(|e| {
                                let kind = e.kind;
                                let where_ = if e.part == "subject" { t_string!(i18n, tpl_subject) } else { t_string!(i18n, tpl_body) };
                                view! {
                                    <li data-kind=format!("{kind:?}") data-text=e.text.clone()>
                                        {where_} ": " {move || error_text(i18n.get_locale(), kind)}
                                        {(!e.text.is_empty()).then(|| view! { " " <code>{format!("{{{}}}", e.text.trim_matches(['{', '}']))}</code> })}
                                    </li>
                                }
                            })
                            .collect_view()}
                    </ul>
                </Show>
                <button type="submit" class="button primary" id="tpl-save" disabled=move || save.pending().get()
                    aria-busy=move || save.pending().get().to_string()>
                    {t!(i18n, save)}
                </button>
                {move || saved.get().map(|r| match r {
                    Ok(()) => view! { <p class="banner banner-ok" id="tpl-saved" role="status">{t!(i18n, saved)}</p> }.into_any(),
                    Err(reason) if reason == "conflict" => view! { <p class="banner banner-error" id="tpl-problem" role="alert">{t!(i18n, conflict)}</p> }.into_any(),
                    Err(_) => view! { <p class="banner banner-error" id="tpl-problem" role="alert">{t!(i18n, save_blocked)}</p> }.into_any(),
                })}
            </form>
            <section class="card template-help">
                <h2>{t!(i18n, tpl_codes)}</h2>
                <table class="codes" id="tpl-codes">
                    <tbody>
                        {Code::ALL
                            .into_iter()
                            .map(|c| view! {
                                <tr data-code=c.as_str()>
                                    <td><code>{format!("{{{}}}", c.as_str())}</code></td>
                                    <td>{move || code_help(i18n.get_locale(), c)}</td>
                                </tr>
                            })
                            .collect_view()}
                    </tbody>
                </table>
                <h2>{t!(i18n, tpl_preview)}</h2>
                <p class="hint">{t!(i18n, tpl_preview_help)}</p>
                <p><strong id="tpl-preview-subject">{move || preview().0}</strong></p>
                <pre id="tpl-preview-body">{move || preview().1}</pre>
            </section>
        </div>
    }
}
