//! Submitting a notification: the template rendered with the data (sizes checked before
//! rendering), the recipients checked, the result stored in the outbox (committed before the
//! caller hears of it) and the delivery worker woken. Independent of HTTP: the handler maps
//! [`Accepted`] and [`Refusal`] to statuses.

use crate::clock::now_ms;
use crate::error::internal;
use crate::store::{NewNotification, Store};
use app::api::ApiError;
use app::domain::{
    Code, Mailbox, ManagerRoot, RENDERED_BODY_MAX, RENDERED_SUBJECT_MAX, TemplateId, VALUE_MAX,
    body_value, parse_part, subject_value,
};
use serde::Deserialize;
use serde_json::json;
use std::collections::BTreeMap;
use std::net::IpAddr;
use std::sync::Arc;

/// Most recipients of one notification (Gmail and Microsoft 365 allow 100 per message).
pub const MAX_RECIPIENTS: usize = 100;
/// Largest request body accepted (refused with 413 before it is read further).
pub const SUBMISSION_BODY_MAX: usize = 2 * 1024 * 1024;
/// Most entries in `data` (there are six codes; unknown names are ignored, not collected).
pub const MAX_DATA_ENTRIES: usize = 32;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Submission {
    /// A saved template's id, or `subject` + `body` given here.
    #[serde(default)]
    pub template: Option<String>,
    #[serde(default)]
    pub subject: Option<String>,
    #[serde(default)]
    pub body: Option<String>,
    pub to: Vec<String>,
    /// Values for the codes: `rep_name`, `rep_id`, `user_name`, and `rep_path` (appended to
    /// ManagerRoot for `rep_url`).
    #[serde(default)]
    pub data: BTreeMap<String, String>,
}

/// The per-token submission limit: a burst, then a steady rate; one key per API token (tokens
/// are few: administrators create them). Checked in this process's memory first, so that a
/// flood costs a counter and nothing more. On PostgreSQL, where several server processes share
/// the database, it is then taken from a budget in the database as well (the sign-in
/// throttle's GCRA), so that N instances together accept what one would, not N times it. The
/// shared budget counts in milliseconds: at most 1,000 a second per token.
pub struct SubmissionLimit {
    local: governor::DefaultKeyedRateLimiter<String>,
    /// The shared budget (PostgreSQL): one submission per `interval_ms`, `burst` at once.
    shared: Option<(i64, i64)>,
}

impl SubmissionLimit {
    /// `shared`: keep the budget in the database too (several processes on one database).
    pub fn new(rate: crate::config::NotifyRate, shared: bool) -> Self {
        let nz = |n: u32| std::num::NonZeroU32::new(n.max(1)).expect("at least 1");
        SubmissionLimit {
            local: governor::RateLimiter::keyed(
                governor::Quota::per_second(nz(rate.per_second)).allow_burst(nz(rate.burst)),
            ),
            shared: shared.then(|| {
                let interval_ms = (1000 / i64::from(rate.per_second.max(1))).max(1);
                (interval_ms, i64::from(rate.burst.max(1)))
            }),
        }
    }

    /// `Ok(Ok(()))` when `caller` may submit now; `Ok(Err(seconds))`: how many whole seconds
    /// to wait.
    pub async fn check(
        &self,
        store: &Store,
        caller: &str,
    ) -> Result<Result<(), u64>, crate::store::StoreError> {
        use governor::clock::Clock as _;
        if let Err(not_until) = self.local.check_key(&caller.to_string()) {
            let wait = not_until.wait_time_from(governor::clock::DefaultClock::default().now());
            return Ok(Err(wait.as_secs() + u64::from(wait.subsec_nanos() > 0)));
        }
        if let Some((interval_ms, burst)) = self.shared
            && !store
                .throttle_take(&format!("notify:{caller}"), now_ms(), interval_ms, burst)
                .await?
        {
            // The shared budget frees a place every `interval_ms`.
            return Ok(Err((interval_ms as u64).div_ceil(1000).max(1)));
        }
        Ok(Ok(()))
    }
}

/// What a submission needs besides its input.
pub struct Submitter<'a> {
    pub store: &'a Store,
    /// For `{0}` in ManagerRoot.
    pub server_ip: Option<IpAddr>,
    /// The offset `{sys_date}` and `{sys_datetime}` are written in.
    pub time_offset: time::UtcOffset,
    pub wake_worker: &'a Arc<tokio::sync::Notify>,
}

/// A submission taken.
#[derive(Debug, PartialEq, Eq)]
pub enum Accepted {
    /// Stored and queued, under this id.
    Queued(String),
    /// The same Idempotency-Key was accepted before, under this id; nothing new is queued.
    Duplicate(String),
}

/// A submission refused: what is wrong, in a stable code and plain words, or an internal error.
#[derive(Debug)]
pub enum Refusal {
    Invalid {
        code: String,
        message: String,
        /// More detail for the caller (`field`, `recipients`, `template_errors`, sizes).
        extra: serde_json::Value,
    },
    Internal(ApiError),
}

fn refuse(code: &str, message: String, extra: serde_json::Value) -> Result<Accepted, Refusal> {
    Err(Refusal::Invalid {
        code: code.to_string(),
        message,
        extra,
    })
}

/// Checks, renders and queues one submission by `actor` (the caller's rate is checked before,
/// with [`SubmissionLimit`]). `key`: the Idempotency-Key, at most 200 characters.
#[tracing::instrument(skip_all, fields(actor = %actor))]
pub async fn submit(
    deps: &Submitter<'_>,
    actor: &str,
    submission: Submission,
    key: Option<&str>,
) -> Result<Accepted, Refusal> {
    if key.is_some_and(|k| k.len() > 200) {
        return refuse(
            "idempotency_key_too_long",
            "Idempotency-Key may have at most 200 characters.".into(),
            json!({}),
        );
    }
    let store = deps.store;

    // A retry of an accepted submission answers at once, before any rendering.
    if let Some(k) = key {
        match store.notification_by_key(actor, k).await {
            Ok(Some(id)) => return Ok(Accepted::Duplicate(id)),
            Ok(None) => {}
            Err(e) => {
                return Err(Refusal::Internal(internal(&e)));
            }
        }
    }

    // Values: a bounded number, each of bounded size.
    if submission.data.len() > MAX_DATA_ENTRIES {
        return refuse(
            "data_too_large",
            format!("`data` may have at most {MAX_DATA_ENTRIES} entries."),
            json!({}),
        );
    }
    if let Some((name, _)) = submission
        .data
        .iter()
        .find(|(name, value)| name.len() > 64 || value.len() > VALUE_MAX)
    {
        return refuse(
            "value_too_long",
            format!("Each value in `data` may have at most {VALUE_MAX} bytes (and each name 64)."),
            json!({ "field": name.chars().take(64).collect::<String>() }),
        );
    }

    // Recipients: like the sender, RFC 5321 mailboxes; a limited number.
    if submission.to.is_empty() || submission.to.len() > MAX_RECIPIENTS {
        return refuse(
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
        return refuse(
            "recipient_invalid",
            "Some recipients are not valid mail addresses (RFC 5321).".into(),
            json!({ "recipients": bad }),
        );
    }

    // The template: saved, or given inline (checked the same way).
    let (subject_text, body_text) = match (
        &submission.template,
        &submission.subject,
        &submission.body,
    ) {
        // A malformed id is not looked up (it cannot exist).
        (Some(id), None, None) if TemplateId::parse(id).is_none() => {
            return refuse(
                "template_unknown",
                format!(
                    "There is no template {:?}: ids are 1 to 64 lowercase letters, digits, _ and -.",
                    id.chars().take(64).collect::<String>()
                ),
                json!({}),
            );
        }
        (Some(id), None, None) => match store.template(id).await {
            Ok(Some(t)) => (t.subject, t.body),
            Ok(None) => {
                return refuse(
                    "template_unknown",
                    format!("There is no template {id:?}."),
                    json!({}),
                );
            }
            Err(e) => {
                return Err(Refusal::Internal(internal(&e)));
            }
        },
        (None, Some(s), Some(b)) => (s.clone(), b.clone()),
        _ => {
            return refuse(
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
            return refuse(
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
            return Err(Refusal::Internal(internal(&e)));
        }
    };
    // `{rep_url}`: ManagerRoot and the report's path, never a link to another host.
    let rep_path = submission
        .data
        .get("rep_path")
        .map(String::as_str)
        .unwrap_or("");
    let report_url = match ManagerRoot::parse(&settings.manager_root) {
        Ok(root) => match root.report_url(deps.server_ip, rep_path) {
            Some(url) => url,
            None => {
                return refuse(
                    "rep_path_invalid",
                    "`rep_path` must be a path on the ManagerRoot server: empty, or starting with \
                     / (not //), ? or #, without spaces, control characters or backslashes."
                        .into(),
                    json!({ "field": "rep_path" }),
                );
            }
        },
        Err(_) => String::new(),
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
        values.insert(Code::RepUrl, fold(&report_url));
        let (date, datetime) = local_now(deps.time_offset);
        values.insert(Code::SysDate, date);
        values.insert(Code::SysDateTime, datetime);
        values
    };
    // Sizes are known before rendering: a template repeating a code thousands of times with a
    // long value is refused here, without building it.
    let subject_values = values_for(subject_value);
    let body_values = values_for(body_value);
    for (part, len, max) in [
        (
            "subject",
            subject.rendered_len(&subject_values),
            RENDERED_SUBJECT_MAX,
        ),
        ("body", body.rendered_len(&body_values), RENDERED_BODY_MAX),
    ] {
        if len > max {
            return refuse(
                &format!("{part}_too_long"),
                format!(
                    "The rendered {part} would have {len} bytes; at most {max} are allowed. \
                     Shorten the template or the values."
                ),
                json!({ "bytes": len, "max": max }),
            );
        }
    }
    let rendered_subject = subject.render(&subject_values);
    let rendered_body = body.render(&body_values);

    let id = uuid::Uuid::new_v4().simple().to_string();
    // The Message-ID goes on the domain of the sender that will send it: the SMTP user, or
    // the connected OAuth account (the sender re-homes it at send time if that changes).
    let sender = match settings.auth {
        app::domain::AuthType::Smtp => Some(settings.smtp.user.clone()),
        app::domain::AuthType::Oauth => store.connection().await.ok().flatten().map(|c| c.account),
    };
    let domain = sender
        .as_deref()
        .and_then(|s| s.rsplit_once('@'))
        .map(|(_, d)| d.to_string())
        .filter(|d| !d.is_empty())
        .unwrap_or_else(|| "localhost".into());
    let message_id = crate::transport::new_message_id(&domain);
    let recipients: Vec<String> = submission.to.iter().map(|a| a.trim().to_string()).collect();
    let stored = store
        .enqueue(&NewNotification {
            id: &id,
            actor,
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
            deps.wake_worker.notify_one();
            Ok(Accepted::Queued(id))
        }
        // The same Idempotency-Key again: the first one's id, nothing new queued.
        Ok((id, false)) => Ok(Accepted::Duplicate(id)),
        Err(e) => Err(Refusal::Internal(internal(&e))),
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
