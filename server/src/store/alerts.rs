//! Alerts for the webhook: queued at most once per event kind per window, claimed by one
//! process at a time, retried, then delivered or given up.

use super::{Context, Store, StoreError, secret_names};
use sqlx::Row as _;

/// An alert claimed for sending.
#[derive(Debug, Clone)]
pub struct QueuedAlert {
    pub id: i64,
    pub event: String,
    pub at_ms: i64,
    pub detail: String,
    /// Including this one.
    pub attempts: i64,
}

/// The last alert queued, for the page.
#[derive(Debug, Clone)]
pub struct AlertRecord {
    pub event: String,
    pub at_ms: i64,
    pub delivered: bool,
    pub done: bool,
    pub last_error: Option<String>,
}

impl Store {
    /// Queues an alert when alerts are on with a webhook set and no alert of this `event` was
    /// queued within `window_ms`. Returns whether it was queued. One transaction: processes
    /// raising the same event at once queue it once.
    #[tracing::instrument(level = "debug", skip(self, detail))]
    pub async fn raise_alert(
        &self,
        event: &str,
        detail: &str,
        now_ms: i64,
        window_ms: i64,
    ) -> Result<bool, StoreError> {
        let mut tx = self
            .begin_write()
            .await
            .context("Failed to start the alert transaction")?;
        let on: i64 = sqlx::query_scalar(
            "SELECT COUNT(*) FROM mail_settings
             WHERE id = 1 AND alerts_enabled = 1
               AND EXISTS (SELECT 1 FROM secrets WHERE name = $1)",
        )
        .bind(secret_names::ALERT_WEBHOOK_URL)
        .fetch_one(&mut *tx)
        .await
        .context("Failed to read the alert settings")?;
        if on == 0 {
            return Ok(false);
        }
        let fresh = sqlx::query(
            "INSERT INTO alert_kinds (event, last_at) VALUES ($1, $2)
             ON CONFLICT (event) DO UPDATE SET last_at = excluded.last_at
             WHERE alert_kinds.last_at <= $3",
        )
        .bind(event)
        .bind(now_ms)
        .bind(now_ms - window_ms)
        .execute(&mut *tx)
        .await
        .context("Failed to record the alert kind")?
        .rows_affected();
        if fresh == 0 {
            return Ok(false);
        }
        sqlx::query("INSERT INTO alerts (event, at_ms, detail, next_at) VALUES ($1, $2, $3, $2)")
            .bind(event)
            .bind(now_ms)
            .bind(detail)
            .execute(&mut *tx)
            .await
            .context("Failed to queue the alert")?;
        tx.commit().await.context("Failed to commit the alert")?;
        Ok(true)
    }

    /// Claims the oldest due alert for `lease_ms` (no other process takes it meanwhile) and
    /// counts the attempt.
    #[tracing::instrument(level = "debug", skip(self))]
    pub async fn claim_alert(
        &self,
        now_ms: i64,
        lease_ms: i64,
    ) -> Result<Option<QueuedAlert>, StoreError> {
        let row = sqlx::query(
            "UPDATE alerts SET attempts = attempts + 1, next_at = $2
             WHERE id = (SELECT id FROM alerts WHERE done_at IS NULL AND next_at <= $1
                         ORDER BY id LIMIT 1)
               AND done_at IS NULL AND next_at <= $1
             RETURNING id, event, at_ms, detail, attempts",
        )
        .bind(now_ms)
        .bind(now_ms + lease_ms)
        .fetch_optional(&self.pool)
        .await
        .context("Failed to claim an alert")?;
        Ok(row.map(|r| QueuedAlert {
            id: r.get("id"),
            event: r.get("event"),
            at_ms: r.get("at_ms"),
            detail: r.get("detail"),
            attempts: r.get("attempts"),
        }))
    }

    /// Records an attempt's end: delivered, given up (`retry_at` none) or due again.
    #[tracing::instrument(level = "debug", skip(self, error))]
    pub async fn alert_attempted(
        &self,
        id: i64,
        delivered: bool,
        error: Option<&str>,
        retry_at: Option<i64>,
        now_ms: i64,
    ) -> Result<(), StoreError> {
        let query = match retry_at {
            Some(at) if !delivered => {
                sqlx::query("UPDATE alerts SET next_at = $2, last_error = $3 WHERE id = $1")
                    .bind(id)
                    .bind(at)
                    .bind(error)
            }
            _ => sqlx::query(
                "UPDATE alerts SET done_at = $2, delivered = $4, last_error = $3 WHERE id = $1",
            )
            .bind(id)
            .bind(now_ms)
            .bind(error)
            .bind(i64::from(delivered)),
        };
        query
            .execute(&self.pool)
            .await
            .context("Failed to record the alert's attempt")?;
        Ok(())
    }

    /// The alert queued last, if any.
    #[tracing::instrument(level = "debug", skip(self))]
    pub async fn last_alert(&self) -> Result<Option<AlertRecord>, StoreError> {
        let row = sqlx::query(
            "SELECT event, at_ms, delivered, done_at, last_error FROM alerts
             ORDER BY id DESC LIMIT 1",
        )
        .fetch_optional(&self.pool)
        .await
        .context("Failed to read the last alert")?;
        Ok(row.map(|r| AlertRecord {
            event: r.get("event"),
            at_ms: r.get("at_ms"),
            delivered: super::flag(&r, "delivered"),
            done: r.get::<Option<i64>, _>("done_at").is_some(),
            last_error: r.get("last_error"),
        }))
    }

    /// Deletes up to `limit` alerts that ended before `before_ms`. Returns how many.
    #[tracing::instrument(level = "debug", skip(self))]
    pub async fn purge_alerts(&self, before_ms: i64, limit: i64) -> Result<u64, StoreError> {
        let done = sqlx::query(
            "DELETE FROM alerts WHERE id IN (
                 SELECT id FROM alerts WHERE done_at IS NOT NULL AND done_at < $1 LIMIT $2)",
        )
        .bind(before_ms)
        .bind(limit)
        .execute(&self.pool)
        .await
        .context("Failed to delete old alerts")?;
        Ok(done.rows_affected())
    }
}
