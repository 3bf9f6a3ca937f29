//! The delivery log (`/System/MailLog`): every notification with its status, attempts and last
//! error in plain words; retry and cancel; the queue's pause with a way to resume.

use super::access::SessionBar;
use crate::api::{
    ApiError, LogPage, NotificationRow, delivery_action, delivery_log, page_resource,
};
use crate::domain::DeliveryStatus;
use crate::i18n::*;
use crate::messages::send_message;
use leptos::prelude::*;
use leptos_router::hooks::use_query_map;

#[component]
pub fn LogPageView() -> impl IntoView {
    let i18n = use_i18n();
    let query = use_query_map();
    let status = Memo::new(move |_| {
        query
            .with(|q| q.get("status"))
            .filter(|s| DeliveryStatus::parse(s).is_some())
    });
    let page = Memo::new(move |_| {
        query
            .with(|q| q.get("page"))
            .and_then(|p| p.parse::<i64>().ok())
            .unwrap_or(1)
            .max(1)
    });
    let search = Memo::new(move |_| {
        query
            .with(|q| q.get("q"))
            .map(|q| q.trim().to_string())
            .filter(|q| !q.is_empty())
    });
    let data = page_resource(
        move || (status.get(), page.get(), search.get()),
        |(status, page, search)| delivery_log(status, page, search),
    );
    view! {
        <nav class="breadcrumb" aria-label="breadcrumb">
            <ol>
                <li>{t!(i18n, crumb_system)}</li>
                <li>{t!(i18n, crumb_mail)}</li>
                <li aria-current="page">{t!(i18n, log_title)}</li>
            </ol>
        </nav>
        <Suspense fallback=move || view! { <p class="loading">{t!(i18n, loading)}</p> }>
            {move || Suspend::new(async move {
                match data.await {
                    Ok(log) => view! {
                        <SessionBar viewer=log.viewer.clone() delivery=log.delivery.clone() />
                        <super::islands::LogIsland log />
                    }
                    .into_any(),
                    Err(_) => view! { <p class="banner banner-error">{t!(i18n, load_failed)}</p> }.into_any(),
                }
            })}
        </Suspense>
    }
}

#[component]
pub(super) fn LogView(log: LogPage, reload: RwSignal<u32>) -> impl IntoView {
    let i18n = use_i18n();
    let base = use_context::<super::BasePath>()
        .map(|b| b.0)
        .unwrap_or_default();
    let act = Action::new(move |(id, action): &(String, String)| {
        let (id, action) = (id.clone(), action.clone());
        async move { delivery_action(id, action).await }
    });
    Effect::new(move |_| {
        if let Some(r) = act.value().get()
            && !matches!(r, Err(ApiError::Transport))
        {
            reload.update(|n| *n += 1);
        }
    });
    // The log's own query (`status`, `q`, `page`) and the export's (`format` first): the
    // values are encoded, so a search cannot add parameters.
    let query_of = {
        let status = log.status.clone();
        let search = log.search.clone();
        move |first: Option<(&str, String)>| {
            let mut q = url::form_urlencoded::Serializer::new(String::new());
            if let Some((k, v)) = &first {
                q.append_pair(k, v);
            }
            if let Some(s) = &status {
                q.append_pair("status", s);
            }
            if let Some(s) = &search {
                q.append_pair("q", s);
            }
            q.finish()
        }
    };
    let filter_base = base.clone();
    let filter_search = log.search.clone();
    let on_filter = move |ev: leptos::ev::Event| {
        let mut q = url::form_urlencoded::Serializer::new(String::new());
        let v = event_target_value(&ev);
        if !v.is_empty() {
            q.append_pair("status", &v);
        }
        if let Some(s) = &filter_search {
            q.append_pair("q", s);
        }
        super::leave_to(&format!("{filter_base}/System/MailLog?{}", q.finish()));
    };
    let pages = ((log.total + log.per_page - 1) / log.per_page).max(1);
    let link = {
        let base = base.clone();
        let query_of = query_of.clone();
        move |page: i64| {
            format!(
                "{base}/System/MailLog?{}",
                query_of(Some(("page", page.to_string())))
            )
        }
    };
    let export = {
        let base = base.clone();
        move |format: &str| {
            format!(
                "{base}/api/v1/notifications/export?{}",
                query_of(Some(("format", format.to_string())))
            )
        }
    };
    let paused = log.paused.clone().map(|p| {
        let code = p.code;
        view! {
            <div class="banner banner-error" role="alert" id="queue-paused" data-code=code.as_str()>
                <p><strong>{t!(i18n, log_paused)}</strong></p>
                <p>{move || send_message(i18n.get_locale(), code)}</p>
                <p class="reference">{t!(i18n, test_reply)} ": " <code>{p.reply.clone()}</code> " (" {p.since.clone()} ")"</p>
                <button type="button" class="button small" id="queue-resume"
                    on:click=move |_| { act.dispatch((String::new(), "resume".into())); }>
                    {t!(i18n, log_resume)}
                </button>
            </div>
        }
    });
    let rows = log
        .items
        .into_iter()
        .map(|row| view! { <Row row act /> })
        .collect_view();
    let current = log.status.clone().unwrap_or_default();
    view! {
        <div class="page-head">
            <h1>{t!(i18n, log_title)}</h1>
            <a class="button" href=format!("{base}/System/MailSetting")>{t!(i18n, page_title)}</a>
        </div>
        {paused}
        <p class="hint" id="failures-24h" data-count=log.failures_24h.to_string()>
            {t!(i18n, log_failures_24h)} ": " {log.failures_24h}
        </p>
        <section class="card">
            // A plain GET form: the search works before the page is interactive, and the URL
            // holds it (shareable, Back works).
            <form class="log-filter" id="log-filter" method="get" action=format!("{base}/System/MailLog")>
            <label for="log-status">{t!(i18n, log_filter)}</label>
            " "
            <select id="log-status" name="status" on:change=on_filter>
                <option value="" selected=current.is_empty()>{t!(i18n, log_all)}</option>
                {DeliveryStatus::ALL
                    .iter()
                    .map(|s| {
                        let s = s.as_str();
                        view! {
                            <option value=s selected=current == s>{move || status_label(i18n.get_locale(), s)}</option>
                        }
                    })
                    .collect_view()}
            </select>
            " "
            <label for="log-search">{t!(i18n, log_search_label)}</label>
            " "
            <input
                type="search"
                id="log-search"
                name="q"
                maxlength=crate::api::LOG_SEARCH_MAX.to_string()
                value=log.search.clone().unwrap_or_default()
                autocomplete="off"
                spellcheck="false"
            />
            " "
            <button type="submit" class="button small" id="log-search-button">{t!(i18n, log_search)}</button>
            </form>
            <p class="log-export">
                {t!(i18n, log_export)} ": "
                // File downloads, not pages: `rel="external"` keeps the router's hands off.
                <a id="log-export-csv" href=export("csv") rel="external" download>"CSV"</a>
                " · "
                <a id="log-export-json" href=export("json") rel="external" download>"JSON"</a>
                " "
                <span class="muted">{t!(i18n, log_export_help)}</span>
            </p>
            <table class="log" id="delivery-log">
                <thead>
                    <tr>
                        <th>{t!(i18n, log_created)}</th>
                        <th>{t!(i18n, log_to)}</th>
                        <th>{t!(i18n, log_subject)}</th>
                        <th>{t!(i18n, log_status)}</th>
                        <th>{t!(i18n, log_attempts)}</th>
                        <th>{t!(i18n, log_error)}</th>
                        <th></th>
                    </tr>
                </thead>
                <tbody>{rows}</tbody>
            </table>
            <nav class="pager" aria-label="pages">
                {(log.page > 1).then(|| view! { <a id="log-prev" href=link(log.page - 1)>"‹"</a> })}
                <span id="log-page">{format!("{} / {pages} ({})", log.page, log.total)}</span>
                {(log.page < pages).then(|| view! { <a id="log-next" href=link(log.page + 1)>"›"</a> })}
            </nav>
        </section>
    }
}

#[component]
fn Row(
    row: NotificationRow,
    act: Action<(String, String), Result<bool, ApiError>>,
) -> impl IntoView {
    let i18n = use_i18n();
    let status = row.status.clone();
    let known = DeliveryStatus::parse(&status);
    let can_retry = known.is_some_and(DeliveryStatus::can_retry);
    let can_cancel = known.is_some_and(DeliveryStatus::can_cancel);
    let error = row.error_code.map(|code| {
        let reply = row.error_reply.clone().unwrap_or_default();
        view! {
            <span class="log-error">{move || send_message(i18n.get_locale(), code)}</span>
            <code class="log-reply">{reply}</code>
        }
    });
    let id = row.id.clone();
    let retry_id = id.clone();
    let cancel_id = id.clone();
    let s = status.clone();
    view! {
        <tr data-id=id.clone() data-status=status.clone()>
            <td>{row.created_at.clone()}</td>
            <td>
                {row.recipients.join(", ")}
                {row.diverted_to.clone().map(|to| view! {
                    <br />
                    <span class="muted diverted-to">{t!(i18n, log_diverted_to)} " " {to}</span>
                })}
            </td>
            <td>{row.subject.clone()}</td>
            <td class=format!("status status-{status}")>
                {move || status_label(i18n.get_locale(), &s)}
                {(row.delivered_via.as_deref() == Some("backup")).then(|| view! {
                    <br /><span class="muted via-backup">{t!(i18n, log_via_backup)}</span>
                })}
                {row.next_attempt_at.clone().map(|t| view! { <br /><span class="muted">{t}</span> })}
            </td>
            <td>{row.attempts}</td>
            <td>{error}</td>
            <td class="actions">
                {can_retry.then(|| view! {
                    <button type="button" class="button small retry"
                        on:click=move |_| { act.dispatch((retry_id.clone(), "retry".into())); }>
                        {t!(i18n, log_retry)}
                    </button>
                })}
                {can_cancel.then(|| view! {
                    <button type="button" class="button small cancel"
                        on:click=move |_| { act.dispatch((cancel_id.clone(), "cancel".into())); }>
                        {t!(i18n, log_cancel)}
                    </button>
                })}
            </td>
        </tr>
    }
}

fn status_label(locale: Locale, status: &str) -> &'static str {
    match status {
        "queued" => td_string!(locale, log_status_queued),
        "sending" => td_string!(locale, log_status_sending),
        "sent" => td_string!(locale, log_status_sent),
        "retrying" => td_string!(locale, log_status_retrying),
        "waiting" => td_string!(locale, log_status_waiting),
        "failed" => td_string!(locale, log_status_failed),
        _ => td_string!(locale, log_status_cancelled),
    }
}
