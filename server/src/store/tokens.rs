//! API tokens: only a SHA-256 of each token is kept; the prefix finds the row.

use super::{Context as _, Store, StoreError};
use sqlx::Row as _;

/// What a token may do.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TokenScope {
    /// Settings, test mails, OAuth and submissions.
    Admin,
    /// Submissions (`POST {base}/api/v1/notifications`) only.
    Notify,
}

impl TokenScope {
    pub fn as_str(self) -> &'static str {
        match self {
            TokenScope::Admin => "admin",
            TokenScope::Notify => "notify",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "admin" => Some(TokenScope::Admin),
            "notify" => Some(TokenScope::Notify),
            _ => None,
        }
    }
}

/// A token about to be stored.
pub struct NewToken<'a> {
    pub name: &'a str,
    pub prefix: &'a str,
    pub hash: &'a [u8],
    pub created_by: &'a str,
    pub scope: TokenScope,
    /// Days from now until the token stops working; none: it does not expire.
    pub expires_days: Option<u32>,
}

/// A live token as the access check sees it.
pub struct StoredToken {
    pub name: String,
    pub hash: Vec<u8>,
    pub scope: TokenScope,
    pub expired: bool,
}

/// One token as listed (the CLI's table, the console's page): the shared type, never a value
/// or hash.
pub use app::domain::TokenRow as TokenListing;

/// The columns of a listed token (never the hash).
const LISTING: &str =
    "SELECT prefix, name, scope, created_by, created_at, expires_at, last_used_at,
        revoked_at FROM api_tokens";

fn listing(r: &sqlx::any::AnyRow) -> TokenListing {
    let time = |column: &str| r.get::<Option<i64>, _>(column).map(crate::clock::utc_text);
    TokenListing {
        id: r.get("prefix"),
        name: r.get("name"),
        scope: r.get("scope"),
        created_by: r.get("created_by"),
        created_at: crate::clock::utc_text(r.get("created_at")),
        expires_at: time("expires_at"),
        last_used_at: time("last_used_at"),
        revoked_at: time("revoked_at"),
    }
}

impl Store {
    /// Stores a new API token (its hash only).
    #[tracing::instrument(level = "debug", skip_all)]
    pub async fn insert_token(&self, token: &NewToken<'_>) -> Result<(), StoreError> {
        let now = crate::clock::now_ms();
        let done = sqlx::query(
            "INSERT INTO api_tokens (name, prefix, token_hash, created_by, created_at, scope, expires_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7)",
        )
        .bind(token.name)
        .bind(token.prefix)
        .bind(token.hash)
        .bind(token.created_by)
        .bind(now)
        .bind(token.scope.as_str())
        .bind(
            token
                .expires_days
                .map(|days| now + i64::from(days) * crate::clock::DAY_MS),
        )
        .execute(&self.pool)
        .await;
        match done {
            Err(sqlx::Error::Database(e)) if e.is_unique_violation() => {
                Err(StoreError::TokenNameTaken(token.name.to_string()))
            }
            other => {
                other.context("Failed to store an API token")?;
                Ok(())
            }
        }
    }

    /// The token with this prefix, unless revoked.
    #[tracing::instrument(level = "debug", skip_all)]
    pub async fn live_token(&self, prefix: &str) -> Result<Option<StoredToken>, StoreError> {
        let row = sqlx::query(
            "SELECT name, token_hash, scope, expires_at,
                    CASE WHEN expires_at IS NOT NULL AND expires_at <= $1 THEN 1 ELSE 0 END
                        AS expired
             FROM api_tokens WHERE prefix = $2 AND revoked_at IS NULL",
        )
        .bind(crate::clock::now_ms())
        .bind(prefix)
        .fetch_optional(&self.pool)
        .await
        .context("Failed to read an API token")?;
        Ok(row.map(|r| StoredToken {
            name: r.get("name"),
            hash: r.get("token_hash"),
            scope: TokenScope::parse(r.get::<String, _>("scope").as_str())
                .unwrap_or(TokenScope::Notify),
            expired: super::flag(&r, "expired"),
        }))
    }

    /// Notes the last use of a token (shown by `server token list`), at most once a minute so a
    /// busy script does not write a row per request.
    #[tracing::instrument(level = "debug", skip_all)]
    pub async fn touch_token(&self, prefix: &str) -> Result<(), StoreError> {
        sqlx::query(
            "UPDATE api_tokens SET last_used_at = $1
             WHERE prefix = $2 AND (last_used_at IS NULL OR last_used_at < $1 - 60000)",
        )
        .bind(crate::clock::now_ms())
        .bind(prefix)
        .execute(&self.pool)
        .await
        .context("Failed to note an API token's use")?;
        Ok(())
    }

    /// Every token, newest first, for `server token list` (no hashes).
    #[tracing::instrument(level = "debug", skip_all)]
    pub async fn tokens(&self) -> Result<Vec<TokenListing>, StoreError> {
        let rows = sqlx::query(&format!("{LISTING} ORDER BY id DESC"))
            .fetch_all(&self.pool)
            .await
            .context("Failed to list the API tokens")?;
        Ok(rows.iter().map(listing).collect())
    }

    /// One token as listed, by its prefix (the id a new token's value starts with).
    #[tracing::instrument(level = "debug", skip_all)]
    pub async fn token_listing(&self, prefix: &str) -> Result<Option<TokenListing>, StoreError> {
        let row = sqlx::query(&format!("{LISTING} WHERE prefix = $1"))
            .bind(prefix)
            .fetch_optional(&self.pool)
            .await
            .context("Failed to read an API token")?;
        Ok(row.as_ref().map(listing))
    }

    /// Revokes a token by its prefix; false when no live token has it.
    #[tracing::instrument(level = "debug", skip_all)]
    pub async fn revoke_token(&self, prefix: &str) -> Result<bool, StoreError> {
        let done = sqlx::query(
            "UPDATE api_tokens SET revoked_at = $1
             WHERE prefix = $2 AND revoked_at IS NULL",
        )
        .bind(crate::clock::now_ms())
        .bind(prefix)
        .execute(&self.pool)
        .await
        .context("Failed to revoke an API token")?;
        Ok(done.rows_affected() == 1)
    }
}
