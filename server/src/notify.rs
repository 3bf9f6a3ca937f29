//! Accepting notifications: `POST {base}/api/v1/notifications` renders the template with the
//! data, checks the recipients, stores the result in the outbox (committed before the answer)
//! and wakes the delivery worker.

use crate::AppState;
use crate::auth::Principal;
use crate::outbox::now_ms;
use crate::store::NewNotification;
use app::domain::{Code, Mailbox, ManagerRoot, body_value, parse_part, subject_value};
use axum::Json;
use axum::body::Bytes;
use axum::extract::{Extension, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::json;
use std::collections::BTreeMap;

/// Most recipients of one notification (Gmail and Microsoft 365 allow 100 per message).
pub const MAX_RECIPIENTS: usize = 100;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Submission {
    /// A saved template's id, or `subject` + `body` given here.
    #[serde(default)]
    template: Option<String>,
    #[serde(default)]
    subject: Option<String>,
    #[serde(default)]
    body: Option<String>,
    to: Vec<String>,
    /// Values for the codes: `rep_name`, `rep_id`, `user_name`, and `rep_path` (appended to
    /// ManagerRoot for `rep_url`).
    #[serde(default)]
    data: BTreeMap<String, String>,
}

fn problem(status: StatusCode, code: &str, message: String, extra: serde_json::Value) -> Response {
    let mut body = json!({"error": code, "message": message});
    if let (Some(obj), Some(more)) = (body.as_object_mut(), extra.as_object()) {
        obj.extend(more.clone());
    }
    (status, Json(body)).into_response()
}

/// `POST {base}/api/v1/notifications`.
pub async fn submit(
    State(state): State<AppState>,
    Extension(principal): Extension<Principal>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let submission: Submission = match serde_json::from_slice(&body) {
        Ok(s) => s,
        Err(e) => {
            return problem(
                StatusCode::UNPROCESSABLE_ENTITY,
                "invalid_json",
                format!("The body is not a notification: {e}"),
                json!({}),
            );
        }
    };
    let key = headers
        .get("idempotency-key")
        .and_then(|v| v.to_str().ok())
        .map(str::trim)
        .filter(|k| !k.is_empty());
    if key.is_some_and(|k| k.len() > 200) {
        return problem(
            StatusCode::UNPROCESSABLE_ENTITY,
            "idempotency_key_too_long",
            "Idempotency-Key may have at most 200 characters.".into(),
            json!({}),
        );
    }
    let store = &state.backend.store;

    // Recipients: like the sender, RFC 5321 mailboxes; a limited number.
    if submission.to.is_empty() || submission.to.len() > MAX_RECIPIENTS {
        return problem(
            StatusCode::UNPROCESSABLE_ENTITY,
            "recipients_count",
            format!("Give 1 to {MAX_RECIPIENTS} recipients."),
            json!({}),
        );
    }
    let bad: Vec<serde_json::Value> = submission
        .to
        .iter()
        .filter_map(|a| {
            Mailbox::parse(a.trim())
                .err()
                .map(|code| json!({"address": a, "code": code}))
        })
        .collect();
    if !bad.is_empty() {
        return problem(
            StatusCode::UNPROCESSABLE_ENTITY,
            "recipient_invalid",
            "Some recipients are not valid mail addresses (RFC 5321).".into(),
            json!({ "recipients": bad }),
        );
    }

    // The template: saved, or given inline (checked the same way).
    let (subject_text, body_text) =
        match (&submission.template, &submission.subject, &submission.body) {
            (Some(id), None, None) => match store.template(id).await {
                Ok(Some(t)) => (t.subject, t.body),
                Ok(None) => {
                    return problem(
                        StatusCode::UNPROCESSABLE_ENTITY,
                        "template_unknown",
                        format!("There is no template {id:?}."),
                        json!({}),
                    );
                }
                Err(e) => {
                    return crate::rest::error_response(
                        app::i18n::Locale::en,
                        crate::backend::internal(&e),
                    );
                }
            },
            (None, Some(s), Some(b)) => (s.clone(), b.clone()),
            _ => {
                return problem(
                    StatusCode::UNPROCESSABLE_ENTITY,
                    "template_missing",
                    "Give either `template` or both `subject` and `body`.".into(),
                    json!({}),
                );
            }
        };
    let (subject, body) = match (
        parse_part("subject", &subject_text),
        parse_part("body", &body_text),
    ) {
        (Ok(s), Ok(b)) => (s, b),
        (s, b) => {
            let errors: Vec<_> = s.err().into_iter().chain(b.err()).flatten().collect();
            return problem(
                StatusCode::UNPROCESSABLE_ENTITY,
                "template_invalid",
                "The template has errors.".into(),
                json!({ "template_errors": errors }),
            );
        }
    };

    // Values: the submitter's, plus the ones this service knows.
    let settings = match store.load().await {
        Ok(s) => s,
        Err(e) => {
            return crate::rest::error_response(
                app::i18n::Locale::en,
                crate::backend::internal(&e),
            );
        }
    };
    let values_for = |fold: fn(&str) -> String| {
        let mut values: BTreeMap<Code, String> = BTreeMap::new();
        for (name, value) in &submission.data {
            if let Some(code) = Code::parse(name)
                && !code.is_system()
            {
                values.insert(code, fold(value));
            }
        }
        let root = ManagerRoot::parse(&settings.manager_root)
            .map(|r| r.resolve(state.backend.server_ip))
            .unwrap_or_default();
        let path = submission
            .data
            .get("rep_path")
            .map(String::as_str)
            .unwrap_or("");
        values.insert(
            Code::RepUrl,
            fold(&format!("{}{}", root.trim_end_matches('/'), path)),
        );
        let (date, datetime) = local_now(state.time_offset);
        values.insert(Code::SysDate, date);
        values.insert(Code::SysDateTime, datetime);
        values
    };
    let rendered_subject = subject.render(&values_for(subject_value));
    let rendered_body = body.render(&values_for(body_value));

    let id = uuid::Uuid::new_v4().simple().to_string();
    let domain = settings
        .smtp
        .user
        .rsplit_once('@')
        .map(|(_, d)| d.to_string())
        .unwrap_or_else(|| "localhost".into());
    let message_id = crate::transport::new_message_id(&domain);
    let recipients: Vec<String> = submission.to.iter().map(|a| a.trim().to_string()).collect();
    let actor = principal.actor();
    let stored = store
        .enqueue(&NewNotification {
            id: &id,
            actor: &actor,
            idempotency_key: key,
            template_id: submission.template.as_deref(),
            recipients: &recipients,
            subject: &rendered_subject,
            body: &rendered_body,
            message_id: &message_id,
            now_ms: now_ms(),
        })
        .await;
    match stored {
        Ok((id, true)) => {
            state.wake_worker.notify_one();
            (
                StatusCode::ACCEPTED,
                Json(json!({"id": id, "status": "queued"})),
            )
                .into_response()
        }
        // The same Idempotency-Key again: the first one's id, nothing new queued.
        Ok((id, false)) => {
            (StatusCode::OK, Json(json!({"id": id, "duplicate": true}))).into_response()
        }
        Err(e) => crate::rest::error_response(app::i18n::Locale::en, crate::backend::internal(&e)),
    }
}

/// `2026/11/27` and `2026/11/27 14:05` at the console's UTC offset.
pub fn local_now(offset: time::UtcOffset) -> (String, String) {
    let t = time::OffsetDateTime::now_utc().to_offset(offset);
    let date = format!("{:04}/{:02}/{:02}", t.year(), u8::from(t.month()), t.day());
    (
        date.clone(),
        format!("{date} {:02}:{:02}", t.hour(), t.minute()),
    )
}
