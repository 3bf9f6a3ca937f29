//! REST API for scripts and operations: `GET`/`PUT {base}/api/v1/mail-settings`, same types as
//! the server functions.

use crate::http::problem::{Problem, ProblemItem};
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

pub(crate) fn locale(headers: &HeaderMap) -> Locale {
    locale_from_accept_language(
        headers
            .get(header::ACCEPT_LANGUAGE)
            .and_then(|v| v.to_str().ok()),
    )
}

fn field_errors(locale: Locale, errors: Vec<FieldError>) -> Vec<ProblemItem> {
    errors
        .into_iter()
        .map(|e| {
            ProblemItem::new(e.code.as_str(), error_message(locale, e.code)).field(e.field.as_str())
        })
        .collect()
}

/// The answer for an [`ApiError`]: 422 field errors, 409 conflict, 502 an OAuth provider's
/// refusal, 500 with a reference.
pub fn error_response(locale: Locale, error: ApiError) -> Response {
    problem_of(locale, error).into_response()
}

/// The [`Problem`] for an [`ApiError`].
pub fn problem_of(locale: Locale, error: ApiError) -> Problem {
    match error {
        ApiError::Invalid(errors) => {
            Problem::of(StatusCode::UNPROCESSABLE_ENTITY, field_errors(locale, errors))
        }
        ApiError::Conflict { current_version } => Problem::of(
            StatusCode::CONFLICT,
            field_errors(
                locale,
                vec![FieldError::new(Field::Version, ErrorCode::VersionConflict)],
            ),
        )
        .with("current_version", current_version),
        ApiError::Internal { reference } => {
            let message = app::messages::internal_message(locale, &reference);
            Problem::new(StatusCode::INTERNAL_SERVER_ERROR, "internal", message)
                .with("reference", reference)
        }
        ApiError::Transport => Problem::new(
            StatusCode::BAD_GATEWAY,
            "transport",
            "The answer of an upstream service could not be read. Try again.",
        ),
        ApiError::Template(errors) => Problem::of(
            StatusCode::UNPROCESSABLE_ENTITY,
            vec![
                ProblemItem::new(
                    "template_invalid",
                    "The template has errors: each entry of template_errors names the part, the position and the text.",
                )
                .with("template_errors", errors),
            ],
        ),
        ApiError::Limits(code) => Problem::of(
            StatusCode::UNPROCESSABLE_ENTITY,
            vec![ProblemItem::new(code.as_str(), app::messages::limit_message(locale, code))
                .field("limits")],
        ),
        ApiError::Token(code) => Problem::of(
            match code {
                app::domain::TokenError::NotFound => StatusCode::NOT_FOUND,
                app::domain::TokenError::NameTaken => StatusCode::CONFLICT,
                _ => StatusCode::UNPROCESSABLE_ENTITY,
            },
            vec![ProblemItem::new(code.as_str(), app::messages::token_message(locale, code))
                .field("token")],
        ),
        ApiError::Oauth { code, detail } => Problem::of(
            if code == OauthCode::SettingsIncomplete {
                StatusCode::UNPROCESSABLE_ENTITY
            } else {
                StatusCode::BAD_GATEWAY
            },
            vec![ProblemItem::new(code.as_str(), oauth_message(locale, code)).with("detail", detail)],
        ),
    }
}

/// `GET {base}/api/v1/sending-limits`: the connection in use, its limits and their use.
pub async fn get_limits(State(state): State<AppState>, headers: HeaderMap) -> Response {
    match app::api::backend::SettingsBackend::quota_meter(state.backend.as_ref()).await {
        Ok(meter) => Json(meter).into_response(),
        Err(e) => error_response(locale(&headers), e),
    }
}

/// `PUT {base}/api/v1/sending-limits`: `{"preset": …, "per_minute", "per_day",
/// "recipients_per_day"}` for the connection in use; the meter afterwards.
pub async fn put_limits(
    State(state): State<AppState>,
    Extension(principal): Extension<Principal>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let locale = locale(&headers);
    if let Some(refused) = require_json(locale, &headers) {
        return refused;
    }
    let limits: app::domain::SendingLimits = match serde_json::from_slice(&body) {
        Ok(l) => l,
        Err(_) => {
            return error_response(
                locale,
                ApiError::Invalid(vec![FieldError::new(Field::Body, ErrorCode::InvalidJson)]),
            );
        }
    };
    let actor = principal.actor();
    match app::api::backend::SettingsBackend::save_limits(state.backend.as_ref(), limits, &actor)
        .await
    {
        Ok(meter) => Json(meter).into_response(),
        Err(e) => error_response(locale, e),
    }
}

/// 415 unless the body is declared `application/json`.
fn require_json(locale: Locale, headers: &HeaderMap) -> Option<Response> {
    let is_json = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|ct| {
            ct.split(';')
                .next()
                .is_some_and(|m| m.trim().eq_ignore_ascii_case("application/json"))
        });
    (!is_json).then(|| {
        Problem::of(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            field_errors(
                locale,
                vec![FieldError::new(Field::Body, ErrorCode::InvalidJson)],
            ),
        )
        .into_response()
    })
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
    if let Some(refused) = require_json(locale, &headers) {
        return refused;
    }
    let input = match parse_input(&body) {
        Ok((_, unknown)) if !unknown.is_empty() => {
            let errors = unknown
                .into_iter()
                .map(|field| {
                    ProblemItem::new(
                        ErrorCode::UnknownField.as_str(),
                        error_message(locale, ErrorCode::UnknownField),
                    )
                    .field(field)
                })
                .collect();
            return Problem::of(StatusCode::UNPROCESSABLE_ENTITY, errors).into_response();
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
const READ_ONLY_FIELDS: [&str; 10] = [
    "smtp.password_set",
    "backup.smtp.password_set",
    "backup.oauth.client_secret_set",
    "oauth.client_secret_set",
    "oauth.certificate_info",
    "oauth.certificate_key_set",
    "alerts.webhook_set",
    "alerts.webhook_host",
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
    let store = &state.backend.store;
    let queue = async {
        Ok::<_, crate::store::StoreError>((
            store.queue_paused().await?,
            store.load().await?.delivery,
        ))
    };
    match queue.await {
        Ok((paused, delivery)) => {
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
                    // Divert and pause set by an administrator (staging, maintenance): reported,
                    // not a failure. Never the address (this answer needs no sign-in).
                    "held_by_administrator": delivery.paused,
                    "diverted": delivery.divert().is_some(),
                },
            });
            if worker_running {
                return (status, Json(body)).into_response();
            }
            Problem::new(
                status,
                "worker_stopped",
                "The delivery worker has stopped: notifications are kept but not sent. \
                 The server log says why; restart this instance.",
            )
            .with_report(body)
            .into_response()
        }
        Err(e) => {
            let _ = crate::error::internal(&e);
            Problem::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "database_unavailable",
                "The database does not answer. The server log says why (disk full, file \
                 permissions, PostgreSQL down …).",
            )
            .with_report(serde_json::json!({
                "status": "degraded",
                "database": "unavailable",
                "worker": worker,
            }))
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
    let now = crate::clock::utc_text(crate::clock::now_ms());
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
            let body = serde_json::json!({
                "code": r.code,
                "detail": r.detail,
                "message": oauth_message(locale, r.code),
                "status": r.status,
            });
            if r.code.is_success() {
                return Json(body).into_response();
            }
            // The outcome as on success, and the reason as every error answer gives it.
            Problem::of(
                StatusCode::BAD_GATEWAY,
                vec![
                    ProblemItem::new(r.code.as_str(), oauth_message(locale, r.code))
                        .with("detail", &r.detail),
                ],
            )
            .with_report(body)
            .into_response()
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
/// A JSON body, or the 422 `invalid_json` on `body`.
fn json_body<T: serde::de::DeserializeOwned>(body: &[u8]) -> Result<T, ApiError> {
    serde_json::from_slice(body)
        .map_err(|_| ApiError::Invalid(vec![FieldError::new(Field::Body, ErrorCode::InvalidJson)]))
}

/// `POST {base}/api/v1/alerts/test`: a test alert to `{"webhook_url": …}` (checked first), or
/// to the saved webhook with an empty body. 200 when the receiver took it, 502 when not; the
/// answer never holds the address.
pub async fn test_alert(
    State(state): State<AppState>,
    Extension(principal): Extension<Principal>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    use app::api::backend::SettingsBackend as _;
    #[derive(serde::Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Request {
        #[serde(default)]
        webhook_url: Option<app::domain::TypedSecret>,
    }
    let locale = locale(&headers);
    let request: Request = if body.iter().all(u8::is_ascii_whitespace) {
        Request { webhook_url: None }
    } else {
        match json_body(&body) {
            Ok(r) => r,
            Err(e) => return error_response(locale, e),
        }
    };
    match state
        .backend
        .test_alert(request.webhook_url, &principal.actor())
        .await
    {
        Ok(result) if result.delivered => Json(result).into_response(),
        Ok(result) => (StatusCode::BAD_GATEWAY, Json(result)).into_response(),
        Err(e) => error_response(locale, e),
    }
}

pub async fn test_mail(
    State(state): State<AppState>,
    Extension(principal): Extension<Principal>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    use app::api::backend::SettingsBackend as _;
    let locale = locale(&headers);
    let request: app::domain::TestMailRequest = match json_body(&body) {
        Ok(r) => r,
        Err(e) => return error_response(locale, e),
    };
    match state
        .backend
        .send_test_mail(request, &principal.actor())
        .await
    {
        Ok(report) => {
            let mut value = serde_json::to_value(&report).unwrap_or_default();
            if report.ok {
                return Json(value).into_response();
            }
            let (code, step) = report
                .failure
                .as_ref()
                .map_or((app::domain::SendCode::Other, None), |f| {
                    (f.code, Some(f.step))
                });
            let message = app::messages::send_message(locale, code);
            if let Some(obj) = value.as_object_mut() {
                obj.insert("message".into(), serde_json::Value::from(message));
            }
            // The report as on success, and the failed step as every error answer gives it.
            Problem::of(
                StatusCode::BAD_GATEWAY,
                vec![ProblemItem::new(code.as_str(), message).with("step", step)],
            )
            .with_report(value)
            .into_response()
        }
        Err(e) => error_response(locale, e),
    }
}
