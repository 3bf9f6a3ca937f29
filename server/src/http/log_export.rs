//! `GET {base}/api/v1/notifications/export?format=csv|json&status=…&q=…`: the delivery log as
//! the page filters it, newest first, at most [`EXPORT_MAX`] rows, streamed page by page (the
//! server never holds the whole file). CSV is UTF-8 with a byte-order mark, so Excel opens the
//! Japanese text as it is, and a cell that a spreadsheet would run as a formula is made text.

use crate::http::problem::Problem;
use crate::http::state::AppState;
use crate::service::accounts::Principal;
use crate::store::{Notification, Status, Store, StoreError};
use app::i18n::Locale;
use axum::body::{Body, Bytes};
use axum::extract::{Extension, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use futures_util::StreamExt;
use serde::Deserialize;

/// Most rows in one export (the newest).
pub const EXPORT_MAX: usize = 10_000;
/// Rows read from the database per page of the stream.
const PAGE: usize = 500;

#[derive(Debug, Deserialize)]
pub struct ExportQuery {
    format: Option<String>,
    status: Option<String>,
    q: Option<String>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Format {
    Csv,
    Json,
}

/// The columns of both formats, in order.
const COLUMNS: [&str; 13] = [
    "id",
    "created_at",
    "status",
    "attempts",
    "recipients",
    "diverted_to",
    "subject",
    "sent_at",
    "delivered_via",
    "next_attempt_at",
    "error_code",
    "error_step",
    "error_reply",
];

fn refuse(locale: Locale, code: &str, ja: &str, en: &str) -> Response {
    let message = match locale {
        Locale::ja => ja,
        _ => en,
    };
    Problem::new(StatusCode::UNPROCESSABLE_ENTITY, code, message).into_response()
}

pub async fn export_log(
    State(state): State<AppState>,
    Extension(principal): Extension<Principal>,
    headers: HeaderMap,
    query: Result<Query<ExportQuery>, axum::extract::rejection::QueryRejection>,
) -> Response {
    let locale = super::rest::locale(&headers);
    let Ok(Query(query)) = query else {
        return refuse(
            locale,
            "bad_request",
            "クエリを読み取れません。format、status、q を指定してください。",
            "The query cannot be read. Give format, status and q.",
        );
    };
    let format = match query.format.as_deref().unwrap_or("csv") {
        "csv" => Format::Csv,
        "json" => Format::Json,
        _ => {
            return refuse(
                locale,
                "export_format_invalid",
                "format は csv か json を指定してください。",
                "format must be csv or json.",
            );
        }
    };
    let status = match query.status.as_deref().filter(|s| !s.is_empty()) {
        None => None,
        Some(s) => match Status::parse(s) {
            Some(s) => Some(s),
            None => {
                return refuse(
                    locale,
                    "status_invalid",
                    "status は queued、waiting、sending、sent、retrying、failed、cancelled のいずれかです。",
                    "status must be one of queued, waiting, sending, sent, retrying, failed, cancelled.",
                );
            }
        },
    };
    let search = query
        .q
        .map(|q| q.trim().to_string())
        .filter(|q| !q.is_empty());
    if search
        .as_ref()
        .is_some_and(|q| q.chars().count() > app::api::LOG_SEARCH_MAX)
    {
        return refuse(
            locale,
            "search_too_long",
            "検索語は 200 文字までです。短くしてください。",
            "The search is at most 200 characters. Shorten it.",
        );
    }
    let store = state.backend.store.clone();
    let detail = format!(
        "format={} status={}",
        match format {
            Format::Csv => "csv",
            Format::Json => "json",
        },
        status.map_or("all", |s| s.as_str())
    );
    if let Err(e) = store.audit(&principal.actor(), "log.export", &detail).await {
        return super::rest::error_response(locale, crate::error::internal(&e));
    }
    let now = crate::clock::utc_text(crate::clock::now_ms());
    let (content_type, extension) = match format {
        Format::Csv => ("text/csv; charset=utf-8", "csv"),
        Format::Json => ("application/json", "json"),
    };
    // `mail-log-20261128T2315.csv`: the export's time, to the minute.
    let stamp: String = now[..16]
        .chars()
        .filter(|c| *c != '-' && *c != ':')
        .collect();
    let disposition = format!("attachment; filename=\"mail-log-{stamp}.{extension}\"");
    // Fused: a layer that polls once more after the end (the compression does) gets the end
    // again instead of a panic.
    let body = Body::from_stream(stream(store, format, status, search).fuse());
    (
        [
            (header::CONTENT_TYPE, content_type.to_string()),
            (header::CONTENT_DISPOSITION, disposition),
            (header::CACHE_CONTROL, "no-store".to_string()),
        ],
        body,
    )
        .into_response()
}

/// Where the stream is: the last row written (the next page starts after it) and how many.
struct Cursor {
    after: Option<(i64, String)>,
    written: usize,
    started: bool,
    done: bool,
}

fn stream(
    store: Store,
    format: Format,
    status: Option<Status>,
    search: Option<String>,
) -> impl futures_util::Stream<Item = Result<Bytes, StoreError>> {
    let cursor = Cursor {
        after: None,
        written: 0,
        started: false,
        done: false,
    };
    futures_util::stream::unfold(cursor, move |mut c| {
        let store = store.clone();
        let search = search.clone();
        async move {
            if c.done {
                return None;
            }
            let mut out = Vec::new();
            if !c.started {
                c.started = true;
                out.extend_from_slice(&header_of(format));
            }
            let want = PAGE.min(EXPORT_MAX - c.written);
            let page = if want == 0 {
                Vec::new()
            } else {
                let after = c.after.as_ref().map(|(at, id)| (*at, id.as_str()));
                match store
                    .export_page(status, search.as_deref(), after, want as i64)
                    .await
                {
                    Ok(page) => page,
                    Err(e) => {
                        // The download ends incomplete (the client sees the broken body); the
                        // reason is in the log.
                        let _ = crate::error::internal(&e);
                        c.done = true;
                        return Some((Err(e), c));
                    }
                }
            };
            for n in &page {
                write_row(format, n, c.written == 0, &mut out);
                c.written += 1;
            }
            if page.len() < want || c.written >= EXPORT_MAX {
                c.done = true;
                if format == Format::Json {
                    out.extend_from_slice(b"\n]\n");
                }
            }
            c.after = page.last().map(|n| (n.created_at, n.id.clone()));
            Some((Ok(Bytes::from(out)), c))
        }
    })
}

fn header_of(format: Format) -> Vec<u8> {
    match format {
        Format::Csv => {
            // The byte-order mark: Excel otherwise reads UTF-8 as the system code page.
            let mut out = b"\xEF\xBB\xBF".to_vec();
            let mut w = csv::Writer::from_writer(&mut out);
            let _ = w.write_record(COLUMNS);
            let _ = w.flush();
            drop(w);
            out
        }
        Format::Json => b"[".to_vec(),
    }
}

fn time(ms: i64) -> String {
    crate::clock::utc_text(ms)
}

fn write_row(format: Format, n: &Notification, first: bool, out: &mut Vec<u8>) {
    let next_attempt_at = matches!(
        n.status,
        Status::Queued | Status::Retrying | Status::Waiting
    )
    .then(|| time(n.next_attempt_at));
    match format {
        Format::Csv => {
            let cells = [
                n.id.clone(),
                time(n.created_at),
                n.status.as_str().to_string(),
                n.attempts.to_string(),
                n.recipients.join(" "),
                n.diverted_to.clone().unwrap_or_default(),
                n.subject.clone(),
                n.sent_at.map(time).unwrap_or_default(),
                n.delivered_via.clone().unwrap_or_default(),
                next_attempt_at.unwrap_or_default(),
                n.last_error_code.clone().unwrap_or_default(),
                n.last_error_step.clone().unwrap_or_default(),
                n.last_error_reply.clone().unwrap_or_default(),
            ];
            let mut w = csv::Writer::from_writer(out);
            let _ = w.write_record(cells.iter().map(|c| as_text_cell(c)));
            let _ = w.flush();
        }
        Format::Json => {
            let row = serde_json::json!({
                "id": n.id,
                "created_at": time(n.created_at),
                "status": n.status.as_str(),
                "attempts": n.attempts,
                "recipients": n.recipients,
                "diverted_to": n.diverted_to,
                "subject": n.subject,
                "sent_at": n.sent_at.map(time),
                "delivered_via": n.delivered_via,
                "next_attempt_at": next_attempt_at,
                "error_code": n.last_error_code,
                "error_step": n.last_error_step,
                "error_reply": n.last_error_reply,
            });
            out.extend_from_slice(if first { b"\n" } else { b",\n" });
            // A json! value of strings and numbers always serialises.
            let _ = serde_json::to_writer(&mut *out, &row);
        }
    }
}

/// A cell a spreadsheet would take as a formula (`=`, `+`, `-`, `@`, a tab or a carriage
/// return first: CSV injection) gets a leading `'`, which makes it text. The subject and the
/// server's reply come from outside.
fn as_text_cell(cell: &str) -> String {
    if cell.starts_with(['=', '+', '-', '@', '\t', '\r']) {
        format!("'{cell}")
    } else {
        cell.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::as_text_cell;

    #[test]
    fn cells_that_a_spreadsheet_would_run_become_text() {
        assert_eq!(as_text_cell("=HYPERLINK(\"x\")"), "'=HYPERLINK(\"x\")");
        assert_eq!(as_text_cell("+81"), "'+81");
        assert_eq!(as_text_cell("@SUM(A1)"), "'@SUM(A1)");
        assert_eq!(as_text_cell("点検報告書"), "点検報告書");
        assert_eq!(as_text_cell(""), "");
    }
}
