//! Administrators: Argon2id hashes only.

use super::{Context, Store, StoreError};
use sqlx::Row;

impl Store {
    /// How many administrators exist (0 on a first run).
    #[tracing::instrument(level = "debug", skip_all)]
    pub async fn admin_count(&self) -> Result<i64, StoreError> {
        sqlx::query_scalar("SELECT COUNT(*) FROM admins")
            .fetch_one(&self.pool)
            .await
            .context("Failed to count the administrators")
    }
    /// The stored password hash of an administrator (user names are case-insensitive).
    #[tracing::instrument(level = "debug", skip_all)]
    pub async fn admin_password_hash(
        &self,
        username: &str,
    ) -> Result<Option<(String, String)>, StoreError> {
        let row = sqlx::query("SELECT username, password_hash FROM admins WHERE username = $1")
            .bind(username)
            .fetch_optional(&self.pool)
            .await
            .context("Failed to read an administrator")?;
        Ok(row.map(|r| (r.get("username"), r.get("password_hash"))))
    }
    /// Creates an administrator, or sets the password of an existing one. Returns true when
    /// the account is new.
    #[tracing::instrument(level = "debug", skip_all)]
    pub async fn upsert_admin(
        &self,
        username: &str,
        password_hash: &str,
        only_if_none: bool,
    ) -> Result<Option<bool>, StoreError> {
        let mut tx = self
            .begin_write()
            .await
            .context("Failed to start the administrator transaction")?;
        let count: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM admins")
            .fetch_one(&mut *tx)
            .await
            .context("Failed to count the administrators")?;
        if only_if_none && count > 0 {
            return Ok(None);
        }
        let existed: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM admins WHERE username = $1")
            .bind(username)
            .fetch_one(&mut *tx)
            .await
            .context("Failed to read an administrator")?;
        let now = crate::clock::now_ms();
        sqlx::query(
            "INSERT INTO admins (username, password_hash, created_at, updated_at)
             VALUES ($1, $2, $3, $4)
             ON CONFLICT (username) DO UPDATE SET
                 password_hash = excluded.password_hash, updated_at = excluded.updated_at",
        )
        .bind(username)
        .bind(password_hash)
        .bind(now)
        .bind(now)
        .execute(&mut *tx)
        .await
        .context("Failed to store an administrator")?;
        // An administrator exists now: no set-up link works any more.
        sqlx::query("DELETE FROM setup_tokens")
            .execute(&mut *tx)
            .await
            .context("Failed to delete the set-up tokens")?;
        tx.commit()
            .await
            .context("Failed to commit the administrator")?;
        Ok(Some(existed == 0))
    }

    /// Records the SHA-256 of a one-time set-up token (any process may then accept it).
    #[tracing::instrument(level = "debug", skip_all)]
    pub async fn insert_setup_token(&self, hash: &[u8]) -> Result<(), StoreError> {
        sqlx::query("INSERT INTO setup_tokens (hash, created_at) VALUES ($1, $2)")
            .bind(hash)
            .bind(crate::clock::now_ms())
            .execute(&self.pool)
            .await
            .context("Failed to store the set-up token")?;
        Ok(())
    }

    /// Whether a set-up token with this SHA-256 was issued and not yet used up.
    #[tracing::instrument(level = "debug", skip_all)]
    pub async fn setup_token_known(&self, hash: &[u8]) -> Result<bool, StoreError> {
        let n: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM setup_tokens WHERE hash = $1")
            .bind(hash)
            .fetch_one(&self.pool)
            .await
            .context("Failed to read the set-up tokens")?;
        Ok(n > 0)
    }
}
