//! The connected OAuth account and its tokens. The row holds who and when; the tokens are
//! secrets, sealed like the others. Every change of tokens and row happens in one transaction.

use super::{Context, Store, StoreError, insert_audit, secret_names};
use app::domain::{OauthCode, Provider};
use secrecy::SecretString;
use sqlx::{AnyConnection, Row};

/// The stored connection (no token values).
/// The OAuth connection; times in Unix milliseconds, as everywhere in the database.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Connection {
    pub provider: Provider,
    pub account: String,
    pub display_name: String,
    pub account_id: String,
    pub scopes: String,
    pub connected_at: i64,
    pub connected_by: String,
    pub refresh_token_at: i64,
    pub access_expires_at: i64,
    pub last_refresh_at: Option<i64>,
    pub problem: Option<(OauthCode, String, i64)>,
    /// Random, new at every connect: what a refresh checks before it stores its tokens.
    pub generation: String,
}

/// Tokens fresh from the provider.
pub struct Tokens {
    pub access: SecretString,
    pub access_expires_at: i64,
    /// `None` when the provider kept the old refresh token.
    pub refresh: Option<SecretString>,
}

impl Store {
    /// The connection, if an account is connected.
    #[tracing::instrument(level = "debug", skip_all)]
    pub async fn connection(&self) -> Result<Option<Connection>, StoreError> {
        let row = sqlx::query(
            "SELECT provider, account, display_name, account_id, scopes, connected_at, connected_by,
                    refresh_token_at, access_expires_at, last_refresh_at, problem_code,
                    problem_detail, problem_at, generation
             FROM oauth_connection WHERE id = 1",
        )
        .fetch_optional(&self.pool)
        .await
        .context("Failed to read the OAuth connection")?;
        Ok(row.map(|r| {
            let provider: String = r.get("provider");
            let problem_code: Option<String> = r.get("problem_code");
            Connection {
                provider: Provider::parse(&provider).unwrap_or_default(),
                account: r.get("account"),
                display_name: r.get("display_name"),
                account_id: r.get("account_id"),
                scopes: r.get("scopes"),
                connected_at: r.get("connected_at"),
                connected_by: r.get("connected_by"),
                refresh_token_at: r.get("refresh_token_at"),
                access_expires_at: r.get("access_expires_at"),
                last_refresh_at: r.get("last_refresh_at"),
                generation: r.get("generation"),
                problem: problem_code.map(|c| {
                    (
                        OauthCode::parse(&c).unwrap_or(OauthCode::ProviderError),
                        r.get::<Option<String>, _>("problem_detail")
                            .unwrap_or_default(),
                        r.get::<Option<i64>, _>("problem_at").unwrap_or_default(),
                    )
                }),
            }
        }))
    }

    /// Replaces any connection with a new one and its tokens, in one transaction, but only if
    /// the settings are still at `settings_version` (a save in between wins).
    #[tracing::instrument(skip_all)]
    pub async fn connect(
        &self,
        connection: &Connection,
        tokens: &Tokens,
        settings_version: i64,
    ) -> Result<bool, StoreError> {
        let mut tx = self
            .begin_write()
            .await
            .context("Failed to start the connect transaction")?;
        let version: Option<i64> =
            sqlx::query_scalar("SELECT version FROM mail_settings WHERE id = 1")
                .fetch_optional(&mut *tx)
                .await
                .context("Failed to read the settings version")?;
        if version != Some(settings_version) {
            return Ok(false);
        }
        let Some(refresh) = &tokens.refresh else {
            return Ok(false);
        };
        sqlx::query(
            "INSERT INTO oauth_connection (id, provider, account, display_name,
                 account_id, scopes, connected_at, connected_by, refresh_token_at,
                 access_expires_at, last_refresh_at, problem_code, problem_detail, problem_at,
                 generation, refresh_by, refresh_until)
             VALUES (1, $1, $2, $3, $4, $5, $6, $7, $8, $9, NULL, $10, $11, $12, $13, NULL, NULL)
             ON CONFLICT (id) DO UPDATE SET provider = excluded.provider,
                 account = excluded.account, display_name = excluded.display_name,
                 account_id = excluded.account_id, scopes = excluded.scopes,
                 connected_at = excluded.connected_at, connected_by = excluded.connected_by,
                 refresh_token_at = excluded.refresh_token_at,
                 access_expires_at = excluded.access_expires_at, last_refresh_at = NULL,
                 problem_code = excluded.problem_code, problem_detail = excluded.problem_detail,
                 problem_at = excluded.problem_at, generation = excluded.generation,
                 refresh_by = NULL, refresh_until = NULL",
        )
        .bind(connection.provider.as_str())
        .bind(&connection.account)
        .bind(&connection.display_name)
        .bind(&connection.account_id)
        .bind(&connection.scopes)
        .bind(connection.connected_at)
        .bind(&connection.connected_by)
        .bind(connection.refresh_token_at)
        .bind(tokens.access_expires_at)
        .bind(connection.problem.as_ref().map(|p| p.0.as_str()))
        .bind(connection.problem.as_ref().map(|p| p.1.clone()))
        .bind(connection.problem.as_ref().map(|p| p.2))
        .bind(&connection.generation)
        .execute(&mut *tx)
        .await
        .context("Failed to store the OAuth connection")?;
        self.put_token(&mut tx, secret_names::OAUTH_REFRESH_TOKEN, refresh)
            .await?;
        self.put_token(&mut tx, secret_names::OAUTH_ACCESS_TOKEN, &tokens.access)
            .await?;
        // A new connection may fix what paused sending.
        sqlx::query(
            "UPDATE queue_state SET paused_code = NULL, paused_reply = NULL, paused_at = NULL",
        )
        .execute(&mut *tx)
        .await
        .context("Failed to resume sending")?;
        let detail = format!("{}: {}", connection.provider.as_str(), connection.account);
        insert_audit(
            &mut *tx,
            &connection.connected_by,
            "oauth.connected",
            &detail,
        )
        .await?;
        tx.commit()
            .await
            .context("Failed to commit the OAuth connection")?;
        Ok(true)
    }

    /// Stores refreshed tokens (a rotated refresh token replaces the old one in the same
    /// transaction) and clears any problem — only while the connection is still `generation`:
    /// a disconnect or a reconnect is never undone by a refresh that was under way.
    #[tracing::instrument(skip_all)]
    pub async fn refreshed(
        &self,
        tokens: &Tokens,
        now: i64,
        generation: &str,
    ) -> Result<bool, StoreError> {
        let mut tx = self
            .begin_write()
            .await
            .context("Failed to start the token transaction")?;
        let updated = sqlx::query(
            "UPDATE oauth_connection SET access_expires_at = $1, last_refresh_at = $2,
                 refresh_token_at = CASE WHEN $3 THEN $4 ELSE refresh_token_at END,
                 problem_code = NULL, problem_detail = NULL, problem_at = NULL
             WHERE id = 1 AND generation = $5",
        )
        .bind(tokens.access_expires_at)
        .bind(now)
        .bind(tokens.refresh.is_some())
        .bind(now)
        .bind(generation)
        .execute(&mut *tx)
        .await
        .context("Failed to update the OAuth connection")?
        .rows_affected();
        if updated == 0 {
            return Ok(false);
        }
        if let Some(refresh) = &tokens.refresh {
            self.put_token(&mut tx, secret_names::OAUTH_REFRESH_TOKEN, refresh)
                .await?;
        }
        self.put_token(&mut tx, secret_names::OAUTH_ACCESS_TOKEN, &tokens.access)
            .await?;
        tx.commit()
            .await
            .context("Failed to commit the refreshed tokens")?;
        Ok(true)
    }

    /// Records why the connection `generation` does not work (or clears it with `None`); a
    /// newer connection is left alone.
    #[tracing::instrument(level = "debug", skip_all)]
    pub async fn set_connection_problem(
        &self,
        problem: Option<(OauthCode, &str)>,
        now: i64,
        generation: &str,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "UPDATE oauth_connection SET problem_code = $1, problem_detail = $2, problem_at = $3
             WHERE id = 1 AND generation = $4",
        )
        .bind(problem.map(|p| p.0.as_str()))
        .bind(problem.map(|p| p.1))
        .bind(problem.map(|_| now))
        .bind(generation)
        .execute(&self.pool)
        .await
        .context("Failed to record the OAuth problem")?;
        Ok(())
    }

    /// Takes the token refresh lock of the connection of this `generation` for this process
    /// until `until_ms`, unless another process holds it (a lock past its time is free: its
    /// process died). A rotated refresh token works once, so one refresh at a time across
    /// every process on the database.
    #[tracing::instrument(level = "debug", skip_all)]
    pub async fn lock_refresh(
        &self,
        generation: &str,
        now_ms: i64,
        until_ms: i64,
    ) -> Result<bool, StoreError> {
        let taken = sqlx::query(
            "UPDATE oauth_connection SET refresh_by = $1, refresh_until = $2
             WHERE id = 1 AND generation = $3
               AND (refresh_by IS NULL OR refresh_by = $1 OR refresh_until < $4)",
        )
        .bind(self.instance())
        .bind(until_ms)
        .bind(generation)
        .bind(now_ms)
        .execute(&self.pool)
        .await
        .context("Failed to take the token refresh lock")?
        .rows_affected();
        Ok(taken == 1)
    }

    /// Gives the refresh lock back, if this process holds it.
    #[tracing::instrument(level = "debug", skip_all)]
    pub async fn unlock_refresh(&self) -> Result<(), StoreError> {
        sqlx::query(
            "UPDATE oauth_connection SET refresh_by = NULL, refresh_until = NULL
             WHERE id = 1 AND refresh_by = $1",
        )
        .bind(self.instance())
        .execute(&self.pool)
        .await
        .context("Failed to give the token refresh lock back")?;
        Ok(())
    }

    /// Removes the connection and its tokens. Returns whether there was one.
    #[tracing::instrument(level = "debug", skip_all)]
    pub async fn disconnect(&self, actor: &str, reason: &str) -> Result<bool, StoreError> {
        let mut tx = self
            .begin_write()
            .await
            .context("Failed to start the disconnect transaction")?;
        let existed = delete_connection(&mut tx).await?;
        if existed {
            insert_audit(&mut *tx, actor, "oauth.disconnected", reason).await?;
        }
        tx.commit()
            .await
            .context("Failed to commit the disconnect")?;
        Ok(existed)
    }

    #[tracing::instrument(level = "debug", skip_all)]
    async fn put_token(
        &self,
        conn: &mut AnyConnection,
        name: &str,
        value: &SecretString,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO secrets (name, value, updated_at) VALUES ($1, $2, $3)
             ON CONFLICT (name) DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at",
        )
        .bind(name)
        .bind(self.keys.seal(name, value))
        .bind(crate::clock::now_ms())
        .execute(&mut *conn)
        .await
        .context("Failed to store a token")?;
        Ok(())
    }
}

/// Deletes the connection row and both tokens. Returns whether a connection existed.
#[tracing::instrument(level = "debug", skip_all)]
pub(super) async fn delete_connection(conn: &mut AnyConnection) -> Result<bool, StoreError> {
    let deleted = sqlx::query("DELETE FROM oauth_connection WHERE id = 1")
        .execute(&mut *conn)
        .await
        .context("Failed to delete the OAuth connection")?
        .rows_affected();
    sqlx::query("DELETE FROM secrets WHERE name IN ($1, $2)")
        .bind(secret_names::OAUTH_REFRESH_TOKEN)
        .bind(secret_names::OAUTH_ACCESS_TOKEN)
        .execute(&mut *conn)
        .await
        .context("Failed to delete the OAuth tokens")?;
    Ok(deleted > 0)
}
