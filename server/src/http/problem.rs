//! The one error body of every route that is not a page.
//!
//! Every answer outside 2xx carries `errors`: one entry or more, each with a stable `code` (for
//! scripts) and a `message` for the administrator (what is wrong, what to do), plus `field` when
//! one member of the request is at fault and any detail of that entry. Members that belong to
//! the answer as a whole (`current_version`, `reference`, `retry_after`, a test mail's report)
//! sit beside `errors`:
//!
//! ```json
//! {"errors":[{"field":"smtp.port","code":"port_465_unsupported","message":"…"}]}
//! {"errors":[{"code":"rate_limited","message":"…"}],"retry_after":3}
//! ```

use crate::http::state::AppState;
use axum::Json;
use axum::extract::{Request, State};
use axum::http::{HeaderName, HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use serde_json::{Map, Value};

/// An error answer: its status, its entries, members beside them and extra headers.
#[derive(Debug)]
pub struct Problem {
    status: StatusCode,
    body: ProblemBody,
    headers: Vec<(HeaderName, HeaderValue)>,
}

#[derive(Debug, Serialize)]
struct ProblemBody {
    errors: Vec<ProblemItem>,
    #[serde(flatten)]
    extra: Map<String, Value>,
}

/// One entry of `errors`.
#[derive(Debug, Serialize)]
pub struct ProblemItem {
    #[serde(skip_serializing_if = "Option::is_none")]
    field: Option<String>,
    code: String,
    message: String,
    #[serde(flatten)]
    extra: Map<String, Value>,
}

impl ProblemItem {
    pub fn new(code: impl Into<String>, message: impl Into<String>) -> Self {
        ProblemItem {
            field: None,
            code: code.into(),
            message: message.into(),
            extra: Map::new(),
        }
    }

    /// The member of the request at fault (`smtp.port`).
    pub fn field(mut self, field: impl Into<String>) -> Self {
        self.field = Some(field.into());
        self
    }

    /// A detail of this entry (`detail`, `recipients`, `template_errors` …). An object's
    /// members are merged in; a `field` among them becomes the entry's field.
    pub fn with(mut self, key: &str, value: impl Serialize) -> Self {
        let value = serde_json::to_value(value).unwrap_or(Value::Null);
        if key == "field" {
            self.field = value.as_str().map(str::to_string);
        } else {
            self.extra.insert(key.to_string(), value);
        }
        self
    }

    /// Merges the members of `details` (a JSON object) into this entry.
    pub fn with_all(mut self, details: Value) -> Self {
        if let Value::Object(members) = details {
            for (key, value) in members {
                self = self.with(&key, value);
            }
        }
        self
    }
}

impl Problem {
    /// One entry.
    pub fn new(status: StatusCode, code: impl Into<String>, message: impl Into<String>) -> Self {
        Self::of(status, vec![ProblemItem::new(code, message)])
    }

    /// Several entries (one per field at fault).
    pub fn of(status: StatusCode, errors: Vec<ProblemItem>) -> Self {
        Problem {
            status,
            body: ProblemBody {
                errors,
                extra: Map::new(),
            },
            headers: Vec::new(),
        }
    }

    /// A member beside `errors` (about the answer as a whole).
    pub fn with(mut self, key: &str, value: impl Serialize) -> Self {
        let value = serde_json::to_value(value).unwrap_or(Value::Null);
        self.body.extra.insert(key.to_string(), value);
        self
    }

    /// Every member of `report` (a JSON object) beside `errors`: a test mail's steps, an OAuth
    /// check's outcome.
    pub fn with_report(mut self, report: Value) -> Self {
        if let Value::Object(members) = report {
            for (key, value) in members {
                if key != "errors" {
                    self.body.extra.insert(key, value);
                }
            }
        }
        self
    }

    pub fn header(mut self, name: HeaderName, value: HeaderValue) -> Self {
        self.headers.push((name, value));
        self
    }

    pub fn status(&self) -> StatusCode {
        self.status
    }
}

impl IntoResponse for Problem {
    fn into_response(self) -> Response {
        let mut res = (self.status, Json(self.body)).into_response();
        for (name, value) in self.headers {
            res.headers_mut().insert(name, value);
        }
        res
    }
}

/// On the REST paths (`{base}/api/…`), the refusals that axum's router and extractors write
/// as plain text (404 unknown path, 405 method, 413 body limit, 400/415/422 unreadable body)
/// get the one error body too; the text is kept as the message where it says more.
pub async fn json_errors(State(state): State<AppState>, req: Request, next: Next) -> Response {
    let rest = req
        .uri()
        .path()
        .strip_prefix(state.base_path.as_str())
        .is_some_and(|p| p.starts_with("/api/"));
    let method = req.method().clone();
    let res = next.run(req).await;
    let status = res.status();
    let is_json = res
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json"));
    if !rest || is_json || !(status.is_client_error() || status.is_server_error()) {
        return res;
    }
    let (parts, body) = res.into_parts();
    let text = axum::body::to_bytes(body, 2048).await.unwrap_or_default();
    let text = String::from_utf8_lossy(&text).trim().to_string();
    let (code, message) = match status {
        StatusCode::NOT_FOUND => (
            "not_found",
            "There is no such API path. The README's API section lists every path.".to_string(),
        ),
        StatusCode::METHOD_NOT_ALLOWED => (
            "method_not_allowed",
            format!(
                "This path does not take {method}; the Allow header names the methods it takes."
            ),
        ),
        StatusCode::PAYLOAD_TOO_LARGE => (
            "body_too_large",
            "The request body is larger than this path accepts; nothing was done.".to_string(),
        ),
        StatusCode::UNSUPPORTED_MEDIA_TYPE => (
            "unsupported_media_type",
            "Send the body as JSON with Content-Type: application/json.".to_string(),
        ),
        s if s.is_server_error() => ("internal", text),
        _ => ("bad_request", text),
    };
    let mut problem = Problem::new(status, code, message);
    for name in [header::ALLOW, header::RETRY_AFTER, header::WWW_AUTHENTICATE] {
        if let Some(value) = parts.headers.get(&name) {
            problem = problem.header(name, value.clone());
        }
    }
    problem.into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn body(problem: Problem) -> Value {
        serde_json::to_value(problem.body).unwrap()
    }

    #[test]
    fn entries_carry_code_message_and_field_and_the_answer_its_own_members() {
        let problem = Problem::of(
            StatusCode::UNPROCESSABLE_ENTITY,
            vec![
                ProblemItem::new("port_465_unsupported", "Use 587.").field("smtp.port"),
                ProblemItem::new("recipient_invalid", "Check the address.")
                    .with_all(serde_json::json!({"field": "to", "recipients": ["a@"]})),
            ],
        )
        .with("current_version", 3);
        assert_eq!(problem.status(), StatusCode::UNPROCESSABLE_ENTITY);
        assert_eq!(
            body(problem),
            serde_json::json!({
                "errors": [
                    {"field": "smtp.port", "code": "port_465_unsupported", "message": "Use 587."},
                    {"field": "to", "code": "recipient_invalid", "message": "Check the address.",
                     "recipients": ["a@"]},
                ],
                "current_version": 3,
            })
        );
    }

    #[test]
    fn a_report_keeps_its_members_but_never_replaces_the_entries() {
        let problem = Problem::new(
            StatusCode::BAD_GATEWAY,
            "auth_failed",
            "Check the password.",
        )
        .with_report(serde_json::json!({"ok": false, "steps": [], "errors": "x"}));
        let body = body(problem);
        assert_eq!(body["errors"][0]["code"], "auth_failed");
        assert_eq!(body["ok"], false);
        assert_eq!(body["steps"], serde_json::json!([]));
    }
}
