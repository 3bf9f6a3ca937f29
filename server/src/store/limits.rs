//! Sending limits per connection, and how much of them the rolling windows have used: what
//! went out (or is going out) through the connection in the last minute and the last day.

use super::{Context, Store, StoreError, Tx, insert_audit};
use app::domain::{LimitNumbers, LimitPreset, SendingLimits};
use sqlx::Row as _;

/// The two windows of the limits (the minute is the worker's `limit_minute`, shorter in tests).
pub const MINUTE_MS: i64 = 60_000;
pub const DAY_MS: i64 = 24 * 60 * 60_000;

/// A connection's limits as a claim applies them.
#[derive(Clone, Debug)]
pub struct Quota {
    pub connection: String,
    pub limits: LimitNumbers,
    pub minute_ms: i64,
    /// When `limits` were read. A claim holds back only mail last changed before then: mail
    /// released by a save of new limits after that moment is judged by the next round, with
    /// the new limits, not held for a day by the old ones.
    pub read_at_ms: i64,
}

/// Use of a connection's limits.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Usage {
    pub minute: i64,
    pub day: i64,
    pub recipients_day: i64,
    /// The oldest claim still in each window (when the window frees a place).
    pub first_in_minute: Option<i64>,
    pub first_in_day: Option<i64>,
}

impl Usage {
    /// How many messages and recipients may go now under `limits` (`None`: no limit), and,
    /// when nothing may, the time something may again.
    pub fn budget(&self, limits: &LimitNumbers, now_ms: i64, minute_ms: i64) -> Budget {
        let mut messages: Option<i64> = None;
        let mut free_at: Option<i64> = None;
        let mut tighten = |left: i64, frees: Option<i64>| {
            messages = Some(messages.map_or(left, |m| m.min(left)));
            if left <= 0 {
                let at = frees.unwrap_or(now_ms);
                free_at = Some(free_at.map_or(at, |f: i64| f.max(at)));
            }
        };
        if let Some(limit) = limits.per_minute {
            tighten(
                limit - self.minute,
                self.first_in_minute.map(|t| t + minute_ms),
            );
        }
        if let Some(limit) = limits.per_day {
            tighten(limit - self.day, self.first_in_day.map(|t| t + DAY_MS));
        }
        let recipients = limits
            .recipients_per_day
            .map(|limit| limit - self.recipients_day);
        if let Some(left) = recipients
            && left <= 0
        {
            let at = self.first_in_day.map_or(now_ms, |t| t + DAY_MS);
            free_at = Some(free_at.map_or(at, |f| f.max(at)));
        }
        Budget {
            messages: messages.map(|m| m.max(0)),
            recipients: recipients.map(|r| r.max(0)),
            free_at,
        }
    }
}

/// What a round may claim under the limits.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Budget {
    pub messages: Option<i64>,
    pub recipients: Option<i64>,
    /// Set when nothing may go now: when the first window frees.
    pub free_at: Option<i64>,
}

impl Store {
    /// The limits saved for `connection` (automatic when none were).
    #[tracing::instrument(level = "debug", skip_all)]
    pub async fn sending_limits(&self, connection: &str) -> Result<SendingLimits, StoreError> {
        let row = sqlx::query(
            "SELECT preset, per_minute, per_day, recipients_per_day FROM sending_limits
             WHERE connection = $1",
        )
        .bind(connection)
        .fetch_optional(&self.pool)
        .await
        .context("Failed to read the sending limits")?;
        Ok(row
            .map(|r| SendingLimits {
                preset: LimitPreset::parse(&r.get::<String, _>("preset")).unwrap_or_default(),
                custom: LimitNumbers {
                    per_minute: r.get("per_minute"),
                    per_day: r.get("per_day"),
                    recipients_per_day: r.get("recipients_per_day"),
                },
            })
            .unwrap_or_default())
    }

    /// Saves validated limits for `connection`, with an audit entry, in one transaction.
    #[tracing::instrument(level = "debug", skip_all)]
    pub async fn save_sending_limits(
        &self,
        connection: &str,
        limits: &SendingLimits,
        actor: &str,
    ) -> Result<(), StoreError> {
        let mut tx = self
            .pool
            .begin()
            .await
            .context("Failed to start saving the sending limits")?;
        sqlx::query(
            "INSERT INTO sending_limits (connection, preset, per_minute, per_day,
                 recipients_per_day, updated_at, updated_by)
             VALUES ($1, $2, $3, $4, $5, $6, $7)
             ON CONFLICT (connection) DO UPDATE SET preset = excluded.preset,
                 per_minute = excluded.per_minute, per_day = excluded.per_day,
                 recipients_per_day = excluded.recipients_per_day,
                 updated_at = excluded.updated_at, updated_by = excluded.updated_by",
        )
        .bind(connection)
        .bind(limits.preset.as_str())
        .bind(limits.custom.per_minute)
        .bind(limits.custom.per_day)
        .bind(limits.custom.recipients_per_day)
        .bind(crate::clock::now_ms())
        .bind(actor)
        .execute(&mut *tx)
        .await
        .context("Failed to save the sending limits")?;
        let c = limits.custom;
        let number = |n: Option<i64>| n.map_or("-".to_string(), |n| n.to_string());
        let detail = format!(
            "{connection}: {} ({}/min, {}/day, {} recipients/day)",
            limits.preset.as_str(),
            number(c.per_minute),
            number(c.per_day),
            number(c.recipients_per_day)
        );
        insert_audit(&mut *tx, actor, "limits.save", &detail).await?;
        tx.commit()
            .await
            .context("Failed to save the sending limits")?;
        Ok(())
    }

    /// What went out through `connection` in the last minute and day (claims, also those
    /// still being sent or failed later: the provider counted them).
    #[tracing::instrument(level = "debug", skip_all)]
    pub async fn quota_usage(
        &self,
        connection: &str,
        now_ms: i64,
        minute_ms: i64,
    ) -> Result<Usage, StoreError> {
        let mut conn = self
            .pool
            .acquire()
            .await
            .context("Failed to read the sending limits' use")?;
        usage_with(&mut conn, connection, now_ms, minute_ms).await
    }

    /// Every waiting notification is due now (the limits changed): the next claim decides
    /// again. Returns how many.
    #[tracing::instrument(level = "debug", skip_all)]
    pub async fn requeue_waiting(&self, now_ms: i64) -> Result<u64, StoreError> {
        Ok(sqlx::query(
            "UPDATE notifications SET status = 'queued', next_attempt_at = $1, updated_at = $1
             WHERE status = 'waiting'",
        )
        .bind(now_ms)
        .execute(&self.pool)
        .await
        .context("Failed to release the waiting notifications")?
        .rows_affected())
    }

    /// Notifications waiting for the limits, and the earliest time one may go.
    #[tracing::instrument(level = "debug", skip_all)]
    pub async fn waiting(&self) -> Result<(i64, Option<i64>), StoreError> {
        let row = sqlx::query(
            "SELECT COUNT(*) AS n, MIN(next_attempt_at) AS next FROM notifications
             WHERE status = 'waiting'",
        )
        .fetch_one(&self.pool)
        .await
        .context("Failed to count the waiting notifications")?;
        Ok((row.get("n"), row.get("next")))
    }
}

pub(super) async fn usage_with(
    conn: &mut sqlx::AnyConnection,
    connection: &str,
    now_ms: i64,
    minute_ms: i64,
) -> Result<Usage, StoreError> {
    let window = |since: i64| {
        sqlx::query(
            "SELECT COUNT(*) AS n, CAST(COALESCE(SUM(recipient_count), 0) AS BIGINT) AS r,
                    MIN(claimed_at) AS first
             FROM notifications WHERE via = $1 AND claimed_at > $2",
        )
        .bind(connection.to_string())
        .bind(since)
    };
    let day = window(now_ms - DAY_MS)
        .fetch_one(&mut *conn)
        .await
        .context("Failed to read the sending limits' use")?;
    let minute = window(now_ms - minute_ms)
        .fetch_one(&mut *conn)
        .await
        .context("Failed to read the sending limits' use")?;
    Ok(Usage {
        minute: minute.get("n"),
        day: day.get("n"),
        recipients_day: day.get("r"),
        first_in_minute: minute.get("first"),
        first_in_day: day.get("first"),
    })
}

/// When the earliest notification still waiting for the limits may go (`None`: none waits).
pub(super) async fn waiting_until(tx: &mut Tx, now_ms: i64) -> Result<Option<i64>, StoreError> {
    sqlx::query_scalar(
        "SELECT MIN(next_attempt_at) FROM notifications
         WHERE status = 'waiting' AND next_attempt_at > $1",
    )
    .bind(now_ms)
    .fetch_one(&mut **tx)
    .await
    .context("Failed to read the notifications waiting for the limits")
}

/// Marks every due notification `waiting` until `until_ms` (the limits are spent), except
/// what changed since the limits were read ([`Quota::read_at_ms`]).
pub(super) async fn hold_due(
    tx: &mut Tx,
    now_ms: i64,
    until_ms: i64,
    quota: &Quota,
) -> Result<u64, StoreError> {
    Ok(sqlx::query(
        "UPDATE notifications SET status = 'waiting', next_attempt_at = $1, updated_at = $2
         WHERE status IN ('queued', 'retrying', 'waiting') AND next_attempt_at <= $2
           AND updated_at < $3",
    )
    .bind(until_ms)
    .bind(now_ms)
    .bind(quota.read_at_ms)
    .execute(&mut **tx)
    .await
    .context("Failed to hold notifications for the sending limits")?
    .rows_affected())
}
