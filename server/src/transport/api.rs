//! Microsoft Graph `POST /v1.0/me/sendMail`, or `/v1.0/users/{mailbox}/sendMail` for app-only
//! sending (the MIME message base64-encoded, `text/plain`), and
//! Gmail `POST /gmail/v1/users/me/messages/send` (`{"raw": base64url}`), with their documented
//! errors classified.

use super::failure;
use crate::config::ProviderEndpoints;
use app::domain::{Provider, SendCode, SendFailure, StepName};
use base64::Engine as _;
use lettre::Message;
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;

pub struct MailApis {
    graph: String,
    gmail: String,
    http: reqwest::Client,
}

pub enum ApiFailure {
    /// 401: the access token was refused; worth one refresh.
    Unauthorized(SendFailure),
    Other(SendFailure),
}

impl ApiFailure {
    pub fn into_failure(self) -> SendFailure {
        match self {
            ApiFailure::Unauthorized(f) | ApiFailure::Other(f) => f,
        }
    }
}

/// Graph: `{"error":{"code","message"}}`; Google: `{"error":{"code","status","errors":[{"reason"}],
/// "details":[{"reason"}]}}`.
#[derive(Deserialize, Default)]
struct ErrorBody {
    #[serde(default)]
    error: ErrorInner,
}

#[derive(Deserialize, Default)]
struct ErrorInner {
    #[serde(default)]
    code: serde_json::Value,
    #[serde(default)]
    status: Option<String>,
    #[serde(default)]
    errors: Vec<Reason>,
    #[serde(default)]
    details: Vec<Reason>,
}

#[derive(Deserialize, Default)]
struct Reason {
    #[serde(default)]
    reason: Option<String>,
}

impl MailApis {
    pub fn new(endpoints: &ProviderEndpoints) -> MailApis {
        MailApis {
            graph: endpoints.microsoft_graph.clone(),
            gmail: endpoints.gmail_api.clone(),
            http: crate::http_client::new(endpoints),
        }
    }

    /// Sends; `Ok` carries the answer for the report. `mailbox`: Graph's `/users/{mailbox}`
    /// (app-only) instead of `/me`.
    #[tracing::instrument(level = "debug", skip_all)]
    pub async fn send(
        &self,
        provider: Provider,
        token: &SecretString,
        message: &Message,
        mailbox: Option<&str>,
    ) -> Result<String, ApiFailure> {
        let mime = message.formatted();
        let graph_user = match mailbox {
            Some(m) => format!(
                "users/{}",
                url::form_urlencoded::byte_serialize(m.as_bytes()).collect::<String>()
            ),
            None => "me".to_string(),
        };
        let request = match provider {
            Provider::Microsoft => self
                .http
                .post(format!("{}/v1.0/{graph_user}/sendMail", self.graph))
                .header(reqwest::header::CONTENT_TYPE, "text/plain")
                .body(base64::engine::general_purpose::STANDARD.encode(&mime)),
            Provider::Google => self
                .http
                .post(format!("{}/gmail/v1/users/me/messages/send", self.gmail))
                .json(&serde_json::json!({
                    "raw": base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(&mime)
                })),
        };
        let response = request
            .bearer_auth(token.expose_secret())
            .send()
            .await
            .map_err(|e| {
                let (code, text) = if e.is_timeout() {
                    (SendCode::Timeout, "no answer in time")
                } else {
                    (SendCode::ConnectionRefused, "could not connect")
                };
                ApiFailure::Other(failure(code, StepName::ApiCall, text, true))
            })?;
        let status = response.status();
        let retry_after = response
            .headers()
            .get(reqwest::header::RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<u64>().ok());
        if status.is_success() {
            let id = match provider {
                Provider::Microsoft => String::new(),
                Provider::Google => response
                    .json::<serde_json::Value>()
                    .await
                    .ok()
                    .and_then(|v| v["id"].as_str().map(|s| format!(" id {s}")))
                    .unwrap_or_default(),
            };
            return Ok(format!(
                "{} {}{id}",
                status.as_u16(),
                status.canonical_reason().unwrap_or("")
            ));
        }
        let body: ErrorBody = response.json().await.unwrap_or_default();
        Err(classify(
            provider,
            status.as_u16(),
            &body.error,
            retry_after,
        ))
    }
}

fn classify(
    provider: Provider,
    status: u16,
    e: &ErrorInner,
    retry_after: Option<u64>,
) -> ApiFailure {
    let code = match &e.code {
        serde_json::Value::String(s) => s.clone(),
        _ => String::new(),
    };
    let reasons: Vec<&str> = e
        .errors
        .iter()
        .chain(e.details.iter())
        .filter_map(|r| r.reason.as_deref())
        .collect();
    let has = |r: &str| reasons.contains(&r) || code == r || e.status.as_deref() == Some(r);
    let mut reply = format!("HTTP {status}");
    for part in [code.as_str(), e.status.as_deref().unwrap_or("")]
        .into_iter()
        .chain(reasons.iter().copied())
    {
        if !part.is_empty() && !reply.contains(part) {
            reply.push(' ');
            reply.push_str(part);
        }
    }
    let (send_code, retryable) = match (provider, status) {
        (_, 401) => {
            return ApiFailure::Unauthorized(failure(
                SendCode::TokenUnavailable,
                StepName::ApiCall,
                &reply,
                false,
            ));
        }
        (_, 429) => (SendCode::Throttled, true),
        (Provider::Google, 403) if has("rateLimitExceeded") || has("userRateLimitExceeded") => {
            (SendCode::Throttled, true)
        }
        (Provider::Microsoft, 403) if has("ErrorSendAsDenied") => {
            (SendCode::GraphSendAsDenied, false)
        }
        (Provider::Microsoft, 403) => (SendCode::GraphAccessDenied, false),
        (Provider::Microsoft, 404) => (SendCode::MailboxNotEnabled, false),
        (Provider::Google, 403) => (SendCode::GmailInsufficientPermissions, false),
        (Provider::Google, 400) if has("failedPrecondition") || has("FAILED_PRECONDITION") => {
            (SendCode::GmailNotEnabled, false)
        }
        (_, s) if s >= 500 => (SendCode::ProviderUnavailable, true),
        _ => (SendCode::Rejected, false),
    };
    let mut f = failure(send_code, StepName::ApiCall, &reply, retryable);
    f.retry_after_secs = retry_after.filter(|_| retryable);
    ApiFailure::Other(f)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn body(json: serde_json::Value) -> ErrorInner {
        serde_json::from_value::<ErrorBody>(json).unwrap().error
    }

    #[test]
    fn graph_and_gmail_errors() {
        let f = classify(
            Provider::Microsoft,
            403,
            &body(serde_json::json!({"error":{"code":"ErrorAccessDenied","message":"Access is denied."}})),
            None,
        )
        .into_failure();
        assert_eq!(f.code, SendCode::GraphAccessDenied);
        assert_eq!(f.reply, "HTTP 403 ErrorAccessDenied");
        let f = classify(
            Provider::Google,
            403,
            &body(
                serde_json::json!({"error":{"code":403,"status":"PERMISSION_DENIED",
                "errors":[{"reason":"insufficientPermissions"}]}}),
            ),
            None,
        )
        .into_failure();
        assert_eq!(f.code, SendCode::GmailInsufficientPermissions);
        let f = classify(Provider::Microsoft, 429, &ErrorInner::default(), Some(30)).into_failure();
        assert_eq!(
            (f.code, f.retryable, f.retry_after_secs),
            (SendCode::Throttled, true, Some(30))
        );
        assert!(matches!(
            classify(Provider::Google, 401, &ErrorInner::default(), None),
            ApiFailure::Unauthorized(_)
        ));
    }
}
