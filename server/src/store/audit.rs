//! The audit log: who changed what (field names, never values), read newest first, purged by
//! age.

use super::{Context, Store, StoreError, insert_audit};
use sqlx::Row;

impl Store {
    /// Records an event in the audit log (field or object names only, never secret values).
    #[tracing::instrument(level = "debug", skip_all)]
    pub async fn audit(&self, actor: &str, action: &str, detail: &str) -> Result<(), StoreError> {
        insert_audit(&self.pool, actor, action, detail).await
    }
    /// Deletes up to `limit` audit entries written before `before_ms`, oldest first. Returns
    /// how many.
    #[tracing::instrument(level = "debug", skip_all)]
    pub async fn purge_audit(&self, before_ms: i64, limit: i64) -> Result<u64, StoreError> {
        let done = sqlx::query(
            "DELETE FROM audit_log WHERE id IN (
                 SELECT id FROM audit_log
                 WHERE at < $1
                 ORDER BY id LIMIT $2)",
        )
        .bind(before_ms)
        .bind(limit)
        .execute(&self.pool)
        .await
        .context("Failed to delete old audit entries")?;
        Ok(done.rows_affected())
    }
    /// The audit log, newest first: (at, actor, action, fields).
    #[tracing::instrument(level = "debug", skip_all)]
    pub async fn audit_entries(
        &self,
        limit: i64,
    ) -> Result<Vec<(String, String, String, String)>, StoreError> {
        let rows = sqlx::query(
            "SELECT at, actor, action, fields FROM audit_log ORDER BY id DESC LIMIT $1",
        )
        .bind(limit)
        .fetch_all(&self.pool)
        .await
        .context("Failed to read the audit log")?;
        Ok(rows
            .into_iter()
            .map(|r| {
                (
                    crate::clock::utc_text(r.get("at")),
                    r.get("actor"),
                    r.get("action"),
                    r.get("fields"),
                )
            })
            .collect())
    }
}
