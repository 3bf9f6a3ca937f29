//! The outbox: accepted notifications until they are sent or given up, with a lease so a
//! crashed worker's messages are tried again, and the queue's pause after refused credentials.

use super::{Backend, Context, Quota, Store, StoreError};
use serde::{Deserialize, Serialize};
use sqlx::Row;

pub use app::domain::DeliveryStatus as Status;

/// A notification ready to be stored.
pub struct NewNotification<'a> {
    pub id: &'a str,
    pub actor: &'a str,
    pub idempotency_key: Option<&'a str>,
    pub template_id: Option<&'a str>,
    pub recipients: &'a [String],
    pub subject: &'a str,
    pub body: &'a str,
    pub message_id: &'a str,
    pub now_ms: i64,
}

/// A stored notification.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Notification {
    pub id: String,
    pub actor: String,
    pub template_id: Option<String>,
    pub recipients: Vec<String>,
    pub subject: String,
    pub body: String,
    pub message_id: String,
    pub status: Status,
    pub attempts: i64,
    pub next_attempt_at: i64,
    pub last_error_code: Option<String>,
    pub last_error_step: Option<String>,
    pub last_error_reply: Option<String>,
    pub created_at: i64,
    pub updated_at: i64,
    pub sent_at: Option<i64>,
    /// Where the last attempt went instead of `recipients` (divert was on), if anywhere.
    #[serde(default)]
    pub diverted_to: Option<String>,
    /// `backup` when the backup connection delivered it.
    #[serde(default)]
    pub delivered_via: Option<String>,
}

const COLUMNS: &str = "id, actor, template_id, recipients, subject, body, message_id, status,
    attempts, next_attempt_at, last_error_code, last_error_step, last_error_reply, created_at,
    updated_at, sent_at, diverted_to, delivered_via";

/// `$first, $first+1, …` for `count` values: the parameter list of an `IN (…)` that both
/// databases read. Callers bound `count` (a round is at most a few hundred rows; SQLite allows
/// 32,766 parameters and PostgreSQL 65,535).
fn placeholders(first: usize, count: usize) -> String {
    (first..first + count)
        .map(|n| format!("${n}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// The delivery log's filter: `$1` a status or NULL, `$2` a `LIKE` pattern of the search (lower
/// case, escaped) or NULL, `$3` the search itself (an exact id).
const SEARCH_WHERE: &str = "($1 IS NULL OR status = $1) AND ($2 IS NULL OR id = $3
    OR LOWER(recipients) LIKE $2 ESCAPE '\\' OR LOWER(subject) LIKE $2 ESCAPE '\\')";

/// The values of [`SEARCH_WHERE`]'s `$1`, `$3` and `$2`: the status, the trimmed search (none
/// when blank) and its `LIKE` pattern.
fn search_args(
    status: Option<Status>,
    search: Option<&str>,
) -> (Option<&'static str>, Option<&str>, Option<String>) {
    let search = search.map(str::trim).filter(|q| !q.is_empty());
    let pattern = search.map(|q| format!("%{}%", like_escape(&q.to_lowercase())));
    (status.map(|s| s.as_str()), search, pattern)
}

/// `text` for a `LIKE … ESCAPE '\'` pattern: its `%`, `_` and `\` match themselves.
fn like_escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        if matches!(c, '%' | '_' | '\\') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// A stored notification, or why its row cannot be read: a damaged row is an error, never a
/// default (an empty recipient list would send the mail to the sender).
fn row_to(r: &sqlx::any::AnyRow) -> Result<Notification, StoreError> {
    let id: String = r.get("id");
    let recipients: String = r.get("recipients");
    let status: String = r.get("status");
    let unreadable = |what: &str| StoreError::Unreadable {
        table: "notifications",
        id: id.clone(),
        what: what.to_string(),
    };
    let recipients: Vec<String> = serde_json::from_str(&recipients)
        .ok()
        .filter(|to: &Vec<String>| !to.is_empty())
        .ok_or_else(|| unreadable("recipients"))?;
    let status = Status::parse(&status).ok_or_else(|| unreadable("status"))?;
    Ok(Notification {
        id: id.clone(),
        actor: r.get("actor"),
        template_id: r.get("template_id"),
        recipients,
        subject: r.get("subject"),
        body: r.get("body"),
        message_id: r.get("message_id"),
        status,
        attempts: r.get("attempts"),
        next_attempt_at: r.get("next_attempt_at"),
        last_error_code: r.get("last_error_code"),
        last_error_step: r.get("last_error_step"),
        last_error_reply: r.get("last_error_reply"),
        created_at: r.get("created_at"),
        updated_at: r.get("updated_at"),
        sent_at: r.get("sent_at"),
        diverted_to: r.get("diverted_to"),
        delivered_via: r.get("delivered_via"),
    })
}

impl Store {
    /// Stores a notification (committed when this returns). With an idempotency key already used
    /// by the same caller, returns the earlier notification's id and `false`.
    #[tracing::instrument(skip_all, fields(id = n.id))]
    pub async fn enqueue(&self, n: &NewNotification<'_>) -> Result<(String, bool), StoreError> {
        let recipients = serde_json::to_string(n.recipients).unwrap_or_else(|_| "[]".into());
        let inserted = sqlx::query(
            "INSERT INTO notifications (id, actor, idempotency_key, template_id, recipients,
                 subject, body, message_id, status, attempts, next_attempt_at, created_at,
                 updated_at, recipient_count)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, 'queued', 0, $9, $10, $11, $12)
             ON CONFLICT (actor, idempotency_key) DO NOTHING",
        )
        .bind(n.id)
        .bind(n.actor)
        .bind(n.idempotency_key)
        .bind(n.template_id)
        .bind(&recipients)
        .bind(n.subject)
        .bind(n.body)
        .bind(n.message_id)
        .bind(n.now_ms)
        .bind(n.now_ms)
        .bind(n.now_ms)
        .bind(n.recipients.len() as i64)
        .execute(&self.pool)
        .await
        .context("Failed to store the notification")?
        .rows_affected();
        if inserted == 1 {
            return Ok((n.id.to_string(), true));
        }
        // Not inserted: the key was used already (a key is always given in that case).
        let earlier = match n.idempotency_key {
            Some(key) => self.notification_by_key(n.actor, key).await?,
            None => None,
        }
        .ok_or(sqlx::Error::RowNotFound)
        .context("Failed to read the earlier notification")?;
        Ok((earlier, false))
    }

    /// The id of the notification `actor` submitted with this idempotency key, if any.
    #[tracing::instrument(level = "debug", skip_all)]
    pub async fn notification_by_key(
        &self,
        actor: &str,
        key: &str,
    ) -> Result<Option<String>, StoreError> {
        sqlx::query_scalar("SELECT id FROM notifications WHERE actor = $1 AND idempotency_key = $2")
            .bind(actor)
            .bind(key)
            .fetch_optional(&self.pool)
            .await
            .context("Failed to look up the idempotency key")
    }

    /// Takes up to `limit` due notifications for sending: they are marked `sending` with a
    /// lease held by this process. One whose lease ran out, or whose process has no heartbeat
    /// within `live_within_ms` (killed), is due again.
    /// Several processes claim at once without taking the same row: SQLite lets one writer in
    /// at a time, PostgreSQL skips the rows another claim has locked.
    ///
    /// Under the connection's sending limits (`quota`), counting what its windows used and
    /// claiming happen in one write transaction, so processes never both spend the last place;
    /// when nothing may go, every due notification is held `waiting` until the window frees.
    #[tracing::instrument(skip(self, quota))]
    pub async fn claim_due(
        &self,
        now_ms: i64,
        lease_ms: i64,
        live_within_ms: i64,
        limit: i64,
        quota: &Quota,
        divert: Option<&str>,
    ) -> Result<Vec<Notification>, StoreError> {
        let limited = !quota.limits.is_unlimited();
        let (tx, lock) = match self.backend {
            Backend::Sqlite => (self.begin_write().await, ""),
            Backend::Postgres if limited => (self.begin_write().await, " FOR UPDATE SKIP LOCKED"),
            Backend::Postgres => (self.pool.begin().await, " FOR UPDATE SKIP LOCKED"),
        };
        let mut tx = tx.context("Failed to start the claim transaction")?;
        let mut limit = limit;
        let mut recipients_left = None;
        let mut day_frees_at = None;
        if limited {
            let usage =
                super::limits::usage_with(&mut tx, &quota.connection, now_ms, quota.minute_ms)
                    .await?;
            let budget = usage.budget(&quota.limits, now_ms, quota.minute_ms);
            // Mail already waiting for the day's window stays ahead: what came due after it
            // joins the wait instead of overtaking it. (A stream of one-recipient notifications
            // would otherwise spend each freed place and keep a larger one waiting for ever.)
            let ahead = match budget.recipients {
                Some(_) => super::limits::waiting_until(&mut tx, now_ms).await?,
                None => None,
            };
            if let Some(until) = budget.free_at.or(ahead) {
                let held = super::limits::hold_due(&mut tx, now_ms, until, quota).await?;
                tx.commit().await.context("Failed to commit the claim")?;
                if held > 0 {
                    tracing::info!(held, until, "sending limit reached; notifications wait");
                }
                return Ok(Vec::new());
            }
            limit = limit.min(budget.messages.unwrap_or(limit));
            recipients_left = budget.recipients.map(|left| (left, usage.recipients_day));
            day_frees_at = usage.first_in_day.map(|t| t + super::limits::DAY_MS);
        }
        let rows = sqlx::query(&format!(
            "SELECT {COLUMNS} FROM notifications
             WHERE (status IN ('queued', 'retrying', 'waiting') AND next_attempt_at <= $1)
                OR (status = 'sending' AND (lease_until <= $1 OR claimed_by IS NULL
                    OR claimed_by NOT IN (SELECT id FROM server_instances WHERE seen_at >= $2)))
             ORDER BY next_attempt_at LIMIT $3{lock}"
        ))
        .bind(now_ms)
        .bind(now_ms - live_within_ms)
        .bind(limit)
        .fetch_all(&mut *tx)
        .await
        .context("Failed to read the due notifications")?;
        let mut claimed = Vec::with_capacity(rows.len());
        for row in &rows {
            match row_to(row) {
                Ok(n) => claimed.push(n),
                // Given up at once, with the reason: never sent to a guessed recipient, and
                // never claimed again.
                Err(e) => {
                    tracing::error!(error = %e, "a stored notification cannot be read; marked failed");
                    sqlx::query(
                        "UPDATE notifications SET status = 'failed', lease_until = NULL,
                             last_error_code = 'stored_row_unreadable', last_error_step = NULL,
                             last_error_reply = $1, updated_at = $2 WHERE id = $3",
                    )
                    .bind(e.to_string())
                    .bind(now_ms)
                    .bind(row.get::<String, _>("id"))
                    .execute(&mut *tx)
                    .await
                    .context("Failed to mark an unreadable notification")?;
                }
            }
        }
        // The recipients a day: what does not fit waits until the day's window frees. One
        // notification with more recipients than the whole day allows goes when the window is
        // empty (the provider then decides), rather than waiting for ever.
        if let Some((mut left, used)) = recipients_left {
            let fits = claimed
                .iter()
                .take_while(|n| {
                    left -= n.recipients.len() as i64;
                    left >= 0
                })
                .count();
            let fits = if fits == 0 && used == 0 { 1 } else { fits };
            if fits == 0 && !claimed.is_empty() {
                let until = day_frees_at.unwrap_or(now_ms + quota.minute_ms);
                super::limits::hold_due(&mut tx, now_ms, until, quota).await?;
            }
            claimed.truncate(fits);
        }
        if !claimed.is_empty() {
            // One statement for the whole round, not one per row: each statement is a hand-off
            // to the database's connection thread.
            let sql = format!(
                "UPDATE notifications SET status = 'sending', lease_until = $1, claimed_by = $2,
                     attempts = attempts + 1, updated_at = $3, via = $4, claimed_at = $3,
                     diverted_to = $5
                 WHERE id IN ({})",
                placeholders(6, claimed.len())
            );
            let mut query = sqlx::query(&sql)
                .bind(now_ms + lease_ms)
                .bind(self.instance())
                .bind(now_ms)
                .bind(&quota.connection)
                .bind(divert);
            for n in &claimed {
                query = query.bind(&n.id);
            }
            query
                .execute(&mut *tx)
                .await
                .context("Failed to claim the due notifications")?;
        }
        tx.commit().await.context("Failed to commit the claim")?;
        Ok(claimed
            .into_iter()
            .map(|mut n| {
                n.attempts += 1;
                n.status = Status::Sending;
                n.diverted_to = divert.map(str::to_string);
                n
            })
            .collect())
    }

    /// At start-up: what a killed process was sending is due again at once (at-least-once; the
    /// Message-ID stays the same), without waiting for its lease. Only rows of processes gone
    /// from the database (no heartbeat within `live_within_ms`): what another running process
    /// is sending stays its own. Returns how many.
    #[tracing::instrument(level = "debug", skip_all)]
    pub async fn recover_sending(
        &self,
        now_ms: i64,
        live_within_ms: i64,
    ) -> Result<u64, StoreError> {
        Ok(sqlx::query(
            "UPDATE notifications SET status = 'retrying', next_attempt_at = $1, lease_until = NULL,
                 claimed_by = NULL, updated_at = $1
             WHERE status = 'sending' AND (claimed_by IS NULL OR claimed_by NOT IN (
                 SELECT id FROM server_instances WHERE seen_at >= $2 AND id <> $3))",
        )
        .bind(now_ms)
        .bind(now_ms - live_within_ms)
        .bind(self.instance())
        .execute(&self.pool)
        .await
        .context("Failed to recover the notifications being sent")?
        .rows_affected())
    }

    /// Marks several sent in one transaction: one durable commit for a round of sends.
    /// `backup`: they were delivered by the backup connection, whose sending-limits key
    /// (`smtp:<host>`) then counts them instead of the main connection's: the main provider
    /// did not send them, so they must not use up its quota.
    #[tracing::instrument(level = "debug", skip_all)]
    pub async fn mark_sent_all(
        &self,
        ids: &[String],
        now_ms: i64,
        backup: Option<&str>,
    ) -> Result<(), StoreError> {
        if ids.is_empty() {
            return Ok(());
        }
        // One statement, so one durable commit and one hand-off to the database for the round.
        let sql = format!(
            "UPDATE notifications SET status = 'sent', sent_at = $1, updated_at = $1,
                 lease_until = NULL, last_error_code = NULL, last_error_step = NULL,
                 last_error_reply = NULL, claimed_by = NULL, delivered_via = $3,
                 via = COALESCE($4, via)
             WHERE status = 'sending' AND claimed_by = $2 AND id IN ({})",
            placeholders(5, ids.len())
        );
        let mut query = sqlx::query(&sql)
            .bind(now_ms)
            .bind(self.instance())
            .bind(backup.map(|_| "backup"))
            .bind(backup);
        for id in ids {
            query = query.bind(id);
        }
        query
            .execute(&self.pool)
            .await
            .context("Failed to mark notifications sent")?;
        Ok(())
    }

    /// Records a failed attempt: `retry_at` schedules the next one, `None` gives up. Only
    /// while this process holds the claim (another may have taken it over meanwhile).
    #[tracing::instrument(level = "debug", skip_all)]
    pub async fn mark_failed(
        &self,
        id: &str,
        error: (&str, &str, &str),
        retry_at: Option<i64>,
        now_ms: i64,
    ) -> Result<(), StoreError> {
        let (status, next) = match retry_at {
            Some(at) => ("retrying", at),
            None => ("failed", now_ms),
        };
        sqlx::query(
            "UPDATE notifications SET status = $1, next_attempt_at = $2, lease_until = NULL,
                 last_error_code = $3, last_error_step = $4, last_error_reply = $5, updated_at = $6
             WHERE id = $7 AND status = 'sending' AND claimed_by = $8",
        )
        .bind(status)
        .bind(next)
        .bind(error.0)
        .bind(error.1)
        .bind(error.2)
        .bind(now_ms)
        .bind(id)
        .bind(self.instance())
        .execute(&self.pool)
        .await
        .context("Failed to record a failed attempt")?;
        Ok(())
    }

    /// Puts a claimed notification back without counting the attempt (the queue was paused).
    #[tracing::instrument(level = "debug", skip_all)]
    pub async fn release(&self, id: &str, now_ms: i64) -> Result<(), StoreError> {
        sqlx::query(
            "UPDATE notifications SET status = 'retrying', attempts = CASE WHEN attempts > 0 THEN attempts - 1 ELSE 0 END,
                 lease_until = NULL, next_attempt_at = $1, updated_at = $2
             WHERE id = $3 AND status = 'sending' AND claimed_by = $4",
        )
        .bind(now_ms)
        .bind(now_ms)
        .bind(id)
        .bind(self.instance())
        .execute(&self.pool)
        .await
        .context("Failed to release a notification")?;
        Ok(())
    }

    #[tracing::instrument(level = "debug", skip_all)]
    pub async fn notification(&self, id: &str) -> Result<Option<Notification>, StoreError> {
        let row = sqlx::query(&format!(
            "SELECT {COLUMNS} FROM notifications WHERE id = $1"
        ))
        .bind(id)
        .fetch_optional(&self.pool)
        .await
        .context("Failed to read a notification")?;
        row.as_ref().map(row_to).transpose()
    }

    /// The newest notifications, optionally of one status, `limit` from `offset`.
    #[tracing::instrument(level = "debug", skip_all)]
    pub async fn notifications(
        &self,
        status: Option<Status>,
        limit: i64,
        offset: i64,
    ) -> Result<(Vec<Notification>, i64), StoreError> {
        self.search_notifications(status, None, limit, offset).await
    }

    /// The delivery log, newest first: with `status`, and with `search` found in a recipient or
    /// the subject (without case), or equal to the id. Returns one page and the total.
    /// `search` is taken literally (`%` and `_` are no wildcards); the caller bounds its length.
    #[tracing::instrument(level = "debug", skip_all)]
    pub async fn search_notifications(
        &self,
        status: Option<Status>,
        search: Option<&str>,
        limit: i64,
        offset: i64,
    ) -> Result<(Vec<Notification>, i64), StoreError> {
        let (filter, search, pattern) = search_args(status, search);
        let rows = sqlx::query(&format!(
            "SELECT {COLUMNS} FROM notifications WHERE {SEARCH_WHERE}
             ORDER BY created_at DESC, id LIMIT $4 OFFSET $5"
        ))
        .bind(filter)
        .bind(pattern.as_deref())
        .bind(search)
        .bind(limit)
        .bind(offset)
        .fetch_all(&self.pool)
        .await
        .context("Failed to list the notifications")?;
        let total: i64 = sqlx::query_scalar(&format!(
            "SELECT COUNT(*) FROM notifications WHERE {SEARCH_WHERE}"
        ))
        .bind(filter)
        .bind(pattern.as_deref())
        .bind(search)
        .fetch_one(&self.pool)
        .await
        .context("Failed to count the notifications")?;
        let list = rows.iter().map(row_to).collect::<Result<Vec<_>, _>>()?;
        Ok((list, total))
    }

    /// One page of the log export, newest first, after the row `after` (created_at, id) of
    /// the previous page: keyset pages, so rows that arrive meanwhile never shift one into the
    /// next page twice. The body is left out (`""`): an export never holds a page of bodies
    /// of up to 1 MB each in memory.
    #[tracing::instrument(level = "debug", skip_all)]
    pub async fn export_page(
        &self,
        status: Option<Status>,
        search: Option<&str>,
        after: Option<(i64, &str)>,
        limit: i64,
    ) -> Result<Vec<Notification>, StoreError> {
        let (filter, search, pattern) = search_args(status, search);
        let columns = COLUMNS.replace(" body,", " '' AS body,");
        let rows = sqlx::query(&format!(
            "SELECT {columns} FROM notifications
             WHERE {SEARCH_WHERE}
               AND ($4 IS NULL OR created_at < $4 OR (created_at = $4 AND id > $5))
             ORDER BY created_at DESC, id LIMIT $6"
        ))
        .bind(filter)
        .bind(pattern.as_deref())
        .bind(search)
        .bind(after.map(|a| a.0))
        .bind(after.map(|a| a.1))
        .bind(limit)
        .fetch_all(&self.pool)
        .await
        .context("Failed to export the delivery log")?;
        rows.iter().map(row_to).collect()
    }

    /// Notifications given up since `since_ms`.
    #[tracing::instrument(level = "debug", skip_all)]
    pub async fn failures_since(&self, since_ms: i64) -> Result<i64, StoreError> {
        sqlx::query_scalar(
            "SELECT COUNT(*) FROM notifications WHERE status = 'failed' AND updated_at >= $1",
        )
        .bind(since_ms)
        .fetch_one(&self.pool)
        .await
        .context("Failed to count the failures")
    }

    /// An administrator's "retry now" (failed or retrying) or "cancel" (not yet sent).
    #[tracing::instrument(level = "debug", skip_all)]
    pub async fn retry_now(&self, id: &str, now_ms: i64) -> Result<bool, StoreError> {
        let n = sqlx::query(&format!(
            "UPDATE notifications SET status = 'retrying', next_attempt_at = $1, updated_at = $2
                 WHERE id = $3 AND status IN ({})",
            Status::sql_list(Status::can_retry)
        ))
        .bind(now_ms)
        .bind(now_ms)
        .bind(id)
        .execute(&self.pool)
        .await
        .context("Failed to schedule a retry")?
        .rows_affected();
        Ok(n == 1)
    }

    #[tracing::instrument(level = "debug", skip_all)]
    pub async fn cancel(&self, id: &str, now_ms: i64) -> Result<bool, StoreError> {
        let n = sqlx::query(&format!(
            "UPDATE notifications SET status = 'cancelled', updated_at = $1
                 WHERE id = $2 AND status IN ({})",
            Status::sql_list(Status::can_cancel)
        ))
        .bind(now_ms)
        .bind(id)
        .execute(&self.pool)
        .await
        .context("Failed to cancel a notification")?
        .rows_affected();
        Ok(n == 1)
    }

    /// Why sending is paused, if it is: `(code, reply, since)`.
    #[tracing::instrument(level = "debug", skip_all)]
    pub async fn queue_paused(&self) -> Result<Option<(String, String, i64)>, StoreError> {
        let row = sqlx::query(
            "SELECT paused_code, paused_reply, paused_at FROM queue_state
             WHERE id = 1 AND paused_code IS NOT NULL",
        )
        .fetch_optional(&self.pool)
        .await
        .context("Failed to read the queue state")?;
        Ok(row.map(|r| {
            (
                r.get("paused_code"),
                r.get::<Option<String>, _>("paused_reply")
                    .unwrap_or_default(),
                r.get::<Option<i64>, _>("paused_at").unwrap_or_default(),
            )
        }))
    }

    /// Pauses sending (`Some`) or resumes it (`None`).
    #[tracing::instrument(level = "debug", skip_all)]
    pub async fn set_queue_paused(
        &self,
        pause: Option<(&str, &str)>,
        now_ms: i64,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO queue_state (id, paused_code, paused_reply, paused_at) VALUES (1, $1, $2, $3)
             ON CONFLICT (id) DO UPDATE SET paused_code = excluded.paused_code,
                 paused_reply = excluded.paused_reply, paused_at = excluded.paused_at",
        )
        .bind(pause.map(|p| p.0))
        .bind(pause.map(|p| p.1))
        .bind(pause.map(|_| now_ms))
        .execute(&self.pool)
        .await
        .context("Failed to set the queue state")?;
        Ok(())
    }

    /// Records that the backup connection delivered at `now_ms`, and why the primary could not.
    #[tracing::instrument(level = "debug", skip_all)]
    pub async fn record_backup_use(&self, now_ms: i64, reason: &str) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO queue_state (id, backup_used_at, backup_reason) VALUES (1, $1, $2)
             ON CONFLICT (id) DO UPDATE SET backup_used_at = excluded.backup_used_at,
                 backup_reason = excluded.backup_reason",
        )
        .bind(now_ms)
        .bind(reason)
        .execute(&self.pool)
        .await
        .context("Failed to record the backup's use")?;
        Ok(())
    }

    /// When the backup connection last delivered, and why.
    #[tracing::instrument(level = "debug", skip_all)]
    pub async fn backup_last_use(&self) -> Result<Option<(i64, String)>, StoreError> {
        let row = sqlx::query(
            "SELECT backup_used_at, backup_reason FROM queue_state
             WHERE id = 1 AND backup_used_at IS NOT NULL",
        )
        .fetch_optional(&self.pool)
        .await
        .context("Failed to read the backup's use")?;
        Ok(row.map(|r| {
            (
                r.get("backup_used_at"),
                r.get::<Option<String>, _>("backup_reason")
                    .unwrap_or_default(),
            )
        }))
    }

    /// Deletes up to `limit` finished (sent, failed, cancelled) notifications created before
    /// `before_ms`; queued and retrying ones stay whatever their age. Returns how many.
    #[tracing::instrument(level = "debug", skip_all)]
    pub async fn purge_notifications(&self, before_ms: i64, limit: i64) -> Result<u64, StoreError> {
        let done = sqlx::query(&format!(
            "DELETE FROM notifications WHERE id IN (
                 SELECT id FROM notifications
                 WHERE created_at < $1 AND status IN ({})
                 LIMIT $2)",
            Status::sql_list(Status::is_finished)
        ))
        .bind(before_ms)
        .bind(limit)
        .execute(&self.pool)
        .await
        .context("Failed to delete old notifications")?;
        Ok(done.rows_affected())
    }
}

#[cfg(test)]
mod tests {
    use super::placeholders;

    #[test]
    fn a_search_is_literal_in_like() {
        assert_eq!(super::like_escape("50%_a\\b"), "50\\%\\_a\\\\b");
    }

    #[test]
    fn placeholders_number_on_from_the_first_free_parameter() {
        assert_eq!(placeholders(5, 3), "$5, $6, $7");
        assert_eq!(placeholders(1, 1), "$1");
    }
}
