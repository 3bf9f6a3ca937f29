//! Throttling state that every server process on the database shares: a rate limiter (GCRA)
//! per key in one statement (sign-in budgets, the per-token submission rate on PostgreSQL), and
//! "failed recently" marks.

use super::{Context, Store, StoreError};

impl Store {
    /// Takes one try from `key`'s budget: `burst` tries, then one per `interval_ms` (GCRA,
    /// the algorithm of the in-memory limiters). False when the budget is spent. One atomic
    /// statement, so processes taking from the same key at once never both get the last try.
    #[tracing::instrument(level = "debug", skip_all)]
    pub async fn throttle_take(
        &self,
        key: &str,
        now_ms: i64,
        interval_ms: i64,
        burst: i64,
    ) -> Result<bool, StoreError> {
        let tolerance = interval_ms * (burst.max(1) - 1);
        let taken = sqlx::query(
            "INSERT INTO throttle (key, until_ms) VALUES ($1, $2 + $3)
             ON CONFLICT (key) DO UPDATE SET until_ms =
                 (CASE WHEN throttle.until_ms > $2 THEN throttle.until_ms ELSE $2 END) + $3
             WHERE (CASE WHEN throttle.until_ms > $2 THEN throttle.until_ms ELSE $2 END) - $4 <= $2",
        )
        .bind(key)
        .bind(now_ms)
        .bind(interval_ms)
        .bind(tolerance)
        .execute(&self.pool)
        .await
        .context("Failed to update a shared rate limit")?
        .rows_affected();
        Ok(taken == 1)
    }

    /// Marks `key` until `until_ms` (a failure that counts as recent until then).
    #[tracing::instrument(level = "debug", skip_all)]
    pub async fn throttle_mark(&self, key: &str, until_ms: i64) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO throttle (key, until_ms) VALUES ($1, $2)
             ON CONFLICT (key) DO UPDATE SET until_ms = excluded.until_ms",
        )
        .bind(key)
        .bind(until_ms)
        .execute(&self.pool)
        .await
        .context("Failed to record a sign-in failure")?;
        Ok(())
    }

    /// Whether `key` is marked past `now_ms`.
    #[tracing::instrument(level = "debug", skip_all)]
    pub async fn throttle_marked(&self, key: &str, now_ms: i64) -> Result<bool, StoreError> {
        let n: i64 =
            sqlx::query_scalar("SELECT COUNT(*) FROM throttle WHERE key = $1 AND until_ms > $2")
                .bind(key)
                .bind(now_ms)
                .fetch_one(&self.pool)
                .await
                .context("Failed to read the sign-in throttle")?;
        Ok(n > 0)
    }

    /// Deletes up to `limit` rows past their time (a limiter back at its full burst, a
    /// failure no longer recent). Returns how many.
    #[tracing::instrument(level = "debug", skip_all)]
    pub async fn purge_throttle(&self, now_ms: i64, limit: i64) -> Result<u64, StoreError> {
        let done = sqlx::query(
            "DELETE FROM throttle WHERE key IN (
                 SELECT key FROM throttle WHERE until_ms < $1 LIMIT $2)",
        )
        .bind(now_ms)
        .bind(limit)
        .execute(&self.pool)
        .await
        .context("Failed to delete old throttle rows")?;
        Ok(done.rows_affected())
    }
}
