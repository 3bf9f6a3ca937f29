//! `POST {base}/api/v1/notifications`: the caller's rate, the JSON body and the
//! Idempotency-Key here; the submission itself in [`crate::service::notify`].

use crate::http::problem::{Problem, ProblemItem};
use crate::http::state::AppState;
use crate::service::accounts::Principal;
use crate::service::notify;
use axum::Json;
use axum::body::Bytes;
use axum::extract::{Extension, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::json;

/// A refused submission: one entry with the code, the text and its details.
fn problem(status: StatusCode, code: &str, message: String, details: serde_json::Value) -> Problem {
    Problem::of(
        status,
        vec![ProblemItem::new(code, message).with_all(details)],
    )
}

/// `POST {base}/api/v1/notifications`.
pub async fn submit(
    State(state): State<AppState>,
    Extension(principal): Extension<Principal>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let actor = principal.actor();
    // The caller's rate first: a flood costs a counter, nothing more.
    let wait = match state.notify_limit.check(&state.backend.store, &actor).await {
        Ok(allowed) => allowed.err(),
        Err(e) => {
            let e = crate::error::internal(&e);
            return crate::http::rest::error_response(app::i18n::Locale::en, e);
        }
    };
    if let Some(wait) = wait {
        return problem(
            StatusCode::TOO_MANY_REQUESTS,
            "rate_limited",
            format!("Too many notifications from this token; try again in {wait} s."),
            json!({}),
        )
        .with("retry_after", wait)
        .header(axum::http::header::RETRY_AFTER, wait.into())
        .into_response();
    }
    let submission: notify::Submission = match serde_json::from_slice(&body) {
        Ok(s) => s,
        Err(e) => {
            return problem(
                StatusCode::UNPROCESSABLE_ENTITY,
                "invalid_json",
                format!("The body is not a notification: {e}"),
                json!({}),
            )
            .into_response();
        }
    };
    let key = headers
        .get("idempotency-key")
        .and_then(|v| v.to_str().ok())
        .map(str::trim)
        .filter(|k| !k.is_empty());
    let deps = notify::Submitter {
        store: &state.backend.store,
        server_ip: state.backend.server_ip,
        time_offset: state.time_offset,
        wake_worker: &state.wake_worker,
    };
    match notify::submit(&deps, &actor, submission, key).await {
        Ok(notify::Accepted::Queued(id)) => (
            StatusCode::ACCEPTED,
            Json(json!({"id": id, "status": "queued"})),
        )
            .into_response(),
        Ok(notify::Accepted::Duplicate(id)) => {
            (StatusCode::OK, Json(json!({"id": id, "duplicate": true}))).into_response()
        }
        Err(notify::Refusal::Invalid {
            code,
            message,
            extra,
        }) => problem(StatusCode::UNPROCESSABLE_ENTITY, &code, message, extra).into_response(),
        Err(notify::Refusal::Internal(e)) => {
            crate::http::rest::error_response(app::i18n::Locale::en, e)
        }
    }
}
