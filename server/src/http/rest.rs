//! REST API for scripts and operations: `GET`/`PUT {base}/api/v1/mail-settings`, same types as
//! the server functions.

use crate::http::state::AppState;
use crate::service::accounts::Principal;
use app::api::{ApiError, OauthActionResult};
use app::domain::{ErrorCode, Field, FieldError, OauthCode, SettingsInput};
use app::i18n::Locale;
use app::messages::{error_message, locale_from_accept_language, oauth_message};
use axum::Json;
use axum::body::Bytes;
use axum::extract::{Extension, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;

#[derive(Serialize)]
struct ErrorItem {
    /// The field's path (`smtp.port`); for `unknown_field`, the unknown member's path.
    field: String,
    code: ErrorCode,
    message: &'static str,
}

fn field_path(field: Field) -> String {
    match serde_json::to_value(field) {
        Ok(serde_json::Value::String(path)) => path,
        _ => "body".into(),
    }
}

#[derive(Serialize)]
struct ErrorBody {
    errors: Vec<ErrorItem>,
    #[serde(skip_serializing_if = "Option::is_none")]
    current_version: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    reference: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    oauth: Option<OauthItem>,
}

/// An OAuth outcome for scripts: the stable code, the provider's detail and the text.
#[derive(Serialize)]
struct OauthItem {
    code: OauthCode,
    detail: String,
    message: &'static str,
}

fn locale(headers: &HeaderMap) -> Locale {
    locale_from_accept_language(
        headers
            .get(header::ACCEPT_LANGUAGE)
            .and_then(|v| v.to_str().ok()),
    )
}

fn field_errors(locale: Locale, errors: Vec<FieldError>) -> Vec<ErrorItem> {
    errors
        .into_iter()
        .map(|e| ErrorItem {
            field: field_path(e.field),
            code: e.code,
            message: error_message(locale, e.code),
        })
        .collect()
}

/// The response for an [`ApiError`]: 422 field errors, 409 conflict, 500 with a reference.
pub fn error_response(locale: Locale, error: ApiError) -> Response {
    let (status, body) = match error {
        ApiError::Invalid(errors) => (
            StatusCode::UNPROCESSABLE_ENTITY,
            ErrorBody {
                errors: field_errors(locale, errors),
                current_version: None,
                reference: None,
                oauth: None,
            },
        ),
        ApiError::Conflict { current_version } => (
            StatusCode::CONFLICT,
            ErrorBody {
                errors: field_errors(
                    locale,
                    vec![FieldError::new(Field::Version, ErrorCode::VersionConflict)],
                ),
                current_version: Some(current_version),
                reference: None,
                oauth: None,
            },
        ),
        ApiError::Internal { reference } => (
            StatusCode::INTERNAL_SERVER_ERROR,
            ErrorBody {
                errors: Vec::new(),
                current_version: None,
                reference: Some(reference),
                oauth: None,
            },
        ),
        ApiError::Transport => (
            StatusCode::BAD_GATEWAY,
            ErrorBody {
                errors: Vec::new(),
                current_version: None,
                reference: None,
                oauth: None,
            },
        ),
        ApiError::Template(errors) => {
            let body = serde_json::json!({"error": "template_invalid", "template_errors": errors});
            return (StatusCode::UNPROCESSABLE_ENTITY, Json(body)).into_response();
        }
        ApiError::Oauth { code, detail } => (
            if code == OauthCode::SettingsIncomplete {
                StatusCode::UNPROCESSABLE_ENTITY
            } else {
                StatusCode::BAD_GATEWAY
            },
            ErrorBody {
                errors: Vec::new(),
                current_version: None,
                reference: None,
                oauth: Some(OauthItem {
                    code,
                    detail,
                    message: oauth_message(locale, code),
                }),
            },
        ),
    };
    (status, Json(body)).into_response()
}

pub async fn get_settings(State(state): State<AppState>, headers: HeaderMap) -> Response {
    match state.backend.store.load().await {
        Ok(view) => Json(view).into_response(),
        Err(e) => error_response(locale(&headers), crate::error::internal(&e)),
    }
}

pub async fn put_settings(
    State(state): State<AppState>,
    Extension(principal): Extension<Principal>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let locale = locale(&headers);
    let is_json = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|ct| {
            ct.split(';')
                .next()
                .is_some_and(|m| m.trim().eq_ignore_ascii_case("application/json"))
        });
    if !is_json {
        return (
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            Json(ErrorBody {
                errors: field_errors(
                    locale,
                    vec![FieldError::new(Field::Body, ErrorCode::InvalidJson)],
                ),
                current_version: None,
                reference: None,
                oauth: None,
            }),
        )
            .into_response();
    }
    let input = match parse_input(&body) {
        Ok((_, unknown)) if !unknown.is_empty() => {
            let errors = unknown
                .into_iter()
                .map(|field| ErrorItem {
                    field,
                    code: ErrorCode::UnknownField,
                    message: error_message(locale, ErrorCode::UnknownField),
                })
                .collect();
            let body = ErrorBody {
                errors,
                current_version: None,
                reference: None,
                oauth: None,
            };
            return (StatusCode::UNPROCESSABLE_ENTITY, Json(body)).into_response();
        }
        Ok((input, _)) => input,
        Err(error) => return error_response(locale, ApiError::Invalid(vec![error])),
    };
    let actor = principal.actor();
    match app::api::backend::SettingsBackend::save(state.backend.as_ref(), input, &actor).await {
        Ok(view) => Json(view).into_response(),
        Err(e) => error_response(locale, e),
    }
}

/// Most unknown members named in one answer.
const UNKNOWN_FIELDS_MAX: usize = 20;

/// Read-only members of the `GET` answer: a script that sends back what it read, changed,
/// is not refused for them (they are ignored).
const READ_ONLY_FIELDS: [&str; 4] = [
    "smtp.password_set",
    "oauth.client_secret_set",
    "updated_at",
    "updated_by",
];

/// Reads the body, naming the field whose value has the wrong type (`smtp.port`, …), and the
/// members it does not know (up to [`UNKNOWN_FIELDS_MAX`]).
fn parse_input(body: &[u8]) -> Result<(SettingsInput, Vec<String>), FieldError> {
    let mut unknown = Vec::new();
    let de = &mut serde_json::Deserializer::from_slice(body);
    let mut note = |path: serde_ignored::Path<'_>| {
        // `smtp.?.passwrod`: the `?` stands for the Option around the block.
        let path = path
            .to_string()
            .split('.')
            .filter(|segment| *segment != "?")
            .collect::<Vec<_>>()
            .join(".");
        if unknown.len() < UNKNOWN_FIELDS_MAX && !READ_ONLY_FIELDS.contains(&path.as_str()) {
            // A member name is shown as typed, cut short and without control characters.
            unknown.push(path.chars().filter(|c| !c.is_control()).take(100).collect());
        }
    };
    let tracked = serde_ignored::Deserializer::new(de, &mut note);
    let parsed = serde_path_to_error::deserialize(tracked);
    parsed.map(|input| (input, unknown)).map_err(|e| {
        let mut path = e.path().to_string();
        let message = e.inner().to_string();
        // "missing field `auth`" is reported at the parent: name the field itself.
        let missing = message
            .strip_prefix("missing field `")
            .and_then(|rest| rest.split('`').next());
        let code = match missing {
            Some(name) => {
                path = if path == "." {
                    name.to_string()
                } else {
                    format!("{path}.{name}")
                };
                ErrorCode::MissingField
            }
            None if e.inner().is_data() => ErrorCode::InvalidType,
            None => ErrorCode::InvalidJson,
        };
        FieldError::new(Field::from_path(&path).unwrap_or(Field::Body), code)
    })
}

/// `GET {base}/health` (no sign-in): database, delivery worker and queue. `200` when the
/// database answers and the worker runs (a paused queue is reported, and is no failure of the
/// server); `503` otherwise, so a load balancer takes the instance out.
pub async fn health(State(state): State<AppState>) -> Response {
    // Every background task runs for the life of the server: one that ended is reported; the
    // delivery worker's end makes the instance unhealthy.
    let stopped = state.tasks.stopped();
    let worker_running = !stopped.contains(&crate::tasks::DELIVERY_WORKER);
    let worker = if worker_running { "running" } else { "stopped" };
    match state.backend.store.queue_paused().await {
        Ok(paused) => {
            let status = if worker_running {
                StatusCode::OK
            } else {
                StatusCode::SERVICE_UNAVAILABLE
            };
            let body = serde_json::json!({
                "status": if worker_running { "ok" } else { "degraded" },
                "database": "ok",
                "worker": worker,
                "stopped_tasks": stopped,
                "queue": {
                    "paused": paused.is_some(),
                    "paused_code": paused.map(|(code, _, _)| code),
                },
            });
            (status, Json(body)).into_response()
        }
        Err(e) => {
            let _ = crate::error::internal(&e);
            (
                StatusCode::SERVICE_UNAVAILABLE,
                Json(serde_json::json!({
                    "status": "degraded",
                    "database": "unavailable",
                    "worker": worker,
                })),
            )
                .into_response()
        }
    }
}

/// `GET {base}/api/v1/mail-settings/export`: the settings as a file, without secrets.
pub async fn export_settings(
    State(state): State<AppState>,
    Extension(principal): Extension<Principal>,
    headers: HeaderMap,
) -> Response {
    let store = &state.backend.store;
    let view = match store.load().await {
        Ok(view) => view,
        Err(e) => return error_response(locale(&headers), crate::error::internal(&e)),
    };
    let now = crate::clock::utc_text(crate::clock::now_secs());
    // `mail-settings-20261127.json`: the date part of the export time.
    let disposition = format!(
        "attachment; filename=\"mail-settings-{}.json\"",
        now[..10].replace('-', "")
    );
    let file = app::domain::SettingsExport::of(&view, now);
    let body = match serde_json::to_vec_pretty(&file) {
        Ok(b) => b,
        Err(e) => return error_response(locale(&headers), crate::error::internal(&e)),
    };
    if let Err(e) = store.audit(&principal.actor(), "settings.export", "").await {
        return error_response(locale(&headers), crate::error::internal(&e));
    }
    (
        [
            (header::CONTENT_TYPE, "application/json".to_string()),
            (header::CONTENT_DISPOSITION, disposition),
        ],
        body,
    )
        .into_response()
}

/// An OAuth action's result for scripts: the code with its text, and the status.
fn oauth_result(locale: Locale, result: Result<OauthActionResult, ApiError>) -> Response {
    match result {
        Ok(r) => {
            let status = if r.code.is_success() {
                StatusCode::OK
            } else {
                StatusCode::BAD_GATEWAY
            };
            let body = serde_json::json!({
                "code": r.code,
                "detail": r.detail,
                "message": oauth_message(locale, r.code),
                "status": r.status,
            });
            (status, Json(body)).into_response()
        }
        Err(e) => error_response(locale, e),
    }
}

/// `GET {base}/api/v1/oauth`: the connection (account, since when, problem); never a token.
pub async fn oauth_status(State(state): State<AppState>, headers: HeaderMap) -> Response {
    match state.backend.oauth_status().await {
        Ok(status) => Json(status).into_response(),
        Err(e) => error_response(locale(&headers), e),
    }
}

/// `POST {base}/api/v1/oauth/check`: a real token refresh; 200 when it works, 502 with the
/// reason when not.
pub async fn oauth_check(
    State(state): State<AppState>,
    Extension(principal): Extension<Principal>,
    headers: HeaderMap,
) -> Response {
    use app::api::backend::SettingsBackend as _;
    let result = state.backend.oauth_check(&principal.actor()).await;
    oauth_result(locale(&headers), result)
}

/// `POST {base}/api/v1/oauth/disconnect`: revoke (Google) and forget the tokens.
pub async fn oauth_disconnect(
    State(state): State<AppState>,
    Extension(principal): Extension<Principal>,
    headers: HeaderMap,
) -> Response {
    use app::api::backend::SettingsBackend as _;
    let result = state.backend.oauth_disconnect(&principal.actor()).await;
    oauth_result(locale(&headers), result)
}

/// `POST {base}/api/v1/mail/test` `{"to": "…", "settings": {…}?}`: a test mail, step by step;
/// 200 when it was delivered, 502 with the report when a step failed.
pub async fn test_mail(
    State(state): State<AppState>,
    Extension(principal): Extension<Principal>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    use app::api::backend::SettingsBackend as _;
    let locale = locale(&headers);
    let request: app::domain::TestMailRequest = match serde_json::from_slice(&body) {
        Ok(r) => r,
        Err(_) => {
            return error_response(
                locale,
                ApiError::Invalid(vec![FieldError::new(Field::Body, ErrorCode::InvalidJson)]),
            );
        }
    };
    match state
        .backend
        .send_test_mail(request, &principal.actor())
        .await
    {
        Ok(report) => {
            let status = if report.ok {
                StatusCode::OK
            } else {
                StatusCode::BAD_GATEWAY
            };
            let message = report
                .failure
                .as_ref()
                .map(|f| app::messages::send_message(locale, f.code));
            let mut value = serde_json::to_value(&report).unwrap_or_default();
            if let (Some(m), Some(obj)) = (message, value.as_object_mut()) {
                obj.insert("message".into(), serde_json::Value::from(m));
            }
            (status, Json(value)).into_response()
        }
        Err(e) => error_response(locale, e),
    }
}
