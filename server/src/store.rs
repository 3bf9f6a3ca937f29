//! Storage: SQLite through sqlx, migrations embedded and run at start-up, WAL mode.

use app::domain::{
    AuthType, Field, OauthView, Provider, SecretChange, SettingsView, SmtpView, ValidatedSettings,
};
use secrecy::SecretString;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{Row, SqliteConnection, SqlitePool};
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use crate::secrets::{Keyring, SecretError};

mod connection;
mod instances;
mod outbox;
mod templates;
mod tokens;
use connection::delete_connection;
pub use connection::{Connection, Tokens};
pub use instances::LiveInstance;
pub use outbox::{NewNotification, Notification, Status};
pub use templates::Template;
pub use tokens::{NewToken, StoredToken, TokenListing, TokenScope};

/// Names of the secrets kept in the `secrets` table.
pub mod secret_names {
    pub const SMTP_PASSWORD: &str = "smtp_password";
    pub const OAUTH_CLIENT_SECRET: &str = "oauth_client_secret";
    pub const OAUTH_REFRESH_TOKEN: &str = "oauth_refresh_token";
    pub const OAUTH_ACCESS_TOKEN: &str = "oauth_access_token";
}

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("settings were saved by someone else (stored version {current})")]
    Conflict { current: i64 },
    #[error("Failed to read the secret {name}")]
    Secret {
        name: String,
        #[source]
        source: SecretError,
    },
    #[error("a live API token is named \"{0}\" already; choose another name or revoke that one")]
    TokenNameTaken(String),
    #[error("{context}")]
    Database {
        context: &'static str,
        #[source]
        source: sqlx::Error,
    },
}

trait Context<T> {
    fn context(self, context: &'static str) -> Result<T, StoreError>;
}

impl<T> Context<T> for Result<T, sqlx::Error> {
    fn context(self, context: &'static str) -> Result<T, StoreError> {
        self.map_err(|source| StoreError::Database { context, source })
    }
}

/// Handle to the database; cheap to clone (a pool inside).
#[derive(Clone, Debug)]
pub struct Store {
    pool: SqlitePool,
    base_path: String,
    keys: Arc<Keyring>,
}

impl Store {
    /// Opens (creating it if needed) the database and runs the migrations. A failed migration
    /// stops the start with its cause.
    pub async fn open(database_url: &str, base_path: &str, keys: Keyring) -> anyhow::Result<Store> {
        use anyhow::Context as _;
        let dir = sqlite_file_path(database_url)
            .and_then(|path| {
                std::path::Path::new(&path)
                    .parent()
                    .map(|d| d.to_path_buf())
            })
            .filter(|d| !d.as_os_str().is_empty());
        if let Some(dir) = dir {
            std::fs::create_dir_all(&dir).with_context(|| {
                format!("Failed to create the database directory {}", dir.display())
            })?;
        }
        if let Some(path) = sqlite_file_path(database_url) {
            restrict_database_files(std::path::Path::new(&path))?;
        }
        let options = SqliteConnectOptions::from_str(database_url)
            .with_context(
                || "DATABASE_URL is not a valid SQLite URL (e.g. sqlite://data/mail-settings.db)",
            )?
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Full)
            .foreign_keys(true)
            .busy_timeout(Duration::from_secs(5));
        let pool = SqlitePoolOptions::new()
            .max_connections(8)
            .connect_with(options)
            .await
            .with_context(|| "Failed to open the SQLite database")?;
        sqlx::migrate!("./migrations")
            .run(&pool)
            .await
            .with_context(|| "Failed to run the database migrations")?;
        Ok(Store {
            pool,
            base_path: base_path.to_string(),
            keys: Arc::new(keys),
        })
    }

    /// The database file path of this store (SQLite), for checks of its permissions.
    pub fn database_files(database_url: &str) -> Vec<std::path::PathBuf> {
        sqlite_file_path(database_url)
            .map(|p| {
                ["", "-wal", "-shm"]
                    .iter()
                    .map(|suffix| std::path::PathBuf::from(format!("{p}{suffix}")))
                    .collect()
            })
            .unwrap_or_default()
    }

    pub async fn close(&self) {
        self.pool.close().await;
    }

    /// The stored settings, or the initial ones when nothing was saved yet.
    #[tracing::instrument(skip(self))]
    pub async fn load(&self) -> Result<SettingsView, StoreError> {
        let mut conn = self
            .pool
            .acquire()
            .await
            .context("Failed to get a database connection")?;
        load_with(&mut conn, &self.base_path).await
    }

    /// Validates against what is stored and saves in one transaction, or changes nothing.
    /// `check` runs inside the transaction, so it sees exactly the row being replaced.
    #[tracing::instrument(skip_all, fields(actor))]
    pub async fn save<E>(
        &self,
        actor: &str,
        expected_version: Option<i64>,
        check: impl FnOnce(&SettingsView) -> Result<ValidatedSettings, E>,
    ) -> Result<Result<SettingsView, E>, StoreError> {
        // BEGIN IMMEDIATE takes the write lock first, so two saves cannot interleave. The
        // transaction rolls back when dropped, also when the request is cancelled midway.
        let mut tx = self
            .pool
            .begin_with("BEGIN IMMEDIATE")
            .await
            .context("Failed to start the save transaction")?;
        let result = save_in_tx(
            &mut tx,
            &self.base_path,
            &self.keys,
            actor,
            expected_version,
            check,
        )
        .await?;
        if result.is_ok() {
            tx.commit().await.context("Failed to commit the settings")?;
        }
        Ok(result)
    }

    /// A stored secret, for the transports (later) and tests. `None` when not set.
    pub async fn secret(&self, name: &str) -> Result<Option<SecretString>, StoreError> {
        let row = sqlx::query("SELECT value FROM secrets WHERE name = ?")
            .bind(name)
            .fetch_optional(&self.pool)
            .await
            .context("Failed to read a secret")?;
        row.map(|r| {
            let sealed: Vec<u8> = r.get("value");
            self.keys
                .open(name, &sealed)
                .map_err(|source| StoreError::Secret {
                    name: name.to_string(),
                    source,
                })
        })
        .transpose()
    }

    /// Re-encrypts, in one transaction, every stored secret not yet under the current key.
    /// Returns how many values were rewritten.
    pub async fn reencrypt_all_current(&self) -> Result<usize, StoreError> {
        let keys = &self.keys;
        let mut tx = self
            .pool
            .begin_with("BEGIN IMMEDIATE")
            .await
            .context("Failed to start the re-encryption transaction")?;
        let rows = sqlx::query("SELECT name, value FROM secrets")
            .fetch_all(&mut *tx)
            .await
            .context("Failed to read the secrets")?;
        let mut rewritten = 0;
        for row in rows {
            let name: String = row.get("name");
            let sealed: Vec<u8> = row.get("value");
            if keys.is_current(&sealed) {
                continue;
            }
            let plain = keys
                .open(&name, &sealed)
                .map_err(|source| StoreError::Secret {
                    name: name.clone(),
                    source,
                })?;
            sqlx::query("UPDATE secrets SET value = ? WHERE name = ?")
                .bind(keys.seal(&name, &plain))
                .bind(&name)
                .execute(&mut *tx)
                .await
                .context("Failed to rewrite a secret")?;
            rewritten += 1;
        }
        tx.commit()
            .await
            .context("Failed to commit the re-encryption")?;
        Ok(rewritten)
    }

    /// Records an event in the audit log (field or object names only, never secret values).
    pub async fn audit(&self, actor: &str, action: &str, detail: &str) -> Result<(), StoreError> {
        insert_audit(&self.pool, actor, action, detail).await
    }

    /// How many administrators exist (0 on a first run).
    pub async fn admin_count(&self) -> Result<i64, StoreError> {
        sqlx::query_scalar("SELECT COUNT(*) FROM admins")
            .fetch_one(&self.pool)
            .await
            .context("Failed to count the administrators")
    }

    /// The stored password hash of an administrator (user names are case-insensitive).
    pub async fn admin_password_hash(
        &self,
        username: &str,
    ) -> Result<Option<(String, String)>, StoreError> {
        let row = sqlx::query("SELECT username, password_hash FROM admins WHERE username = ?")
            .bind(username)
            .fetch_optional(&self.pool)
            .await
            .context("Failed to read an administrator")?;
        Ok(row.map(|r| (r.get("username"), r.get("password_hash"))))
    }

    /// Creates an administrator, or sets the password of an existing one. Returns true when
    /// the account is new.
    pub async fn upsert_admin(
        &self,
        username: &str,
        password_hash: &str,
        only_if_none: bool,
    ) -> Result<Option<bool>, StoreError> {
        let mut tx = self
            .pool
            .begin_with("BEGIN IMMEDIATE")
            .await
            .context("Failed to start the administrator transaction")?;
        let count: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM admins")
            .fetch_one(&mut *tx)
            .await
            .context("Failed to count the administrators")?;
        if only_if_none && count > 0 {
            return Ok(None);
        }
        let existed: bool =
            sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM admins WHERE username = ?)")
                .bind(username)
                .fetch_one(&mut *tx)
                .await
                .context("Failed to read an administrator")?;
        sqlx::query(
            "INSERT INTO admins (username, password_hash, created_at, updated_at)
             VALUES (?, ?, strftime('%Y-%m-%dT%H:%M:%SZ', 'now'), strftime('%Y-%m-%dT%H:%M:%SZ', 'now'))
             ON CONFLICT (username) DO UPDATE SET
                 password_hash = excluded.password_hash, updated_at = excluded.updated_at",
        )
        .bind(username)
        .bind(password_hash)
        .execute(&mut *tx)
        .await
        .context("Failed to store an administrator")?;
        tx.commit()
            .await
            .context("Failed to commit the administrator")?;
        Ok(Some(!existed))
    }

    /// Deletes up to `limit` audit entries older than `days` days, oldest first. Returns how many.
    pub async fn purge_audit(&self, days: u32, limit: i64) -> Result<u64, StoreError> {
        let done = sqlx::query(
            "DELETE FROM audit_log WHERE id IN (
                 SELECT id FROM audit_log
                 WHERE at < strftime('%Y-%m-%dT%H:%M:%SZ', 'now', '-' || ? || ' days')
                 ORDER BY id LIMIT ?)",
        )
        .bind(days)
        .bind(limit)
        .execute(&self.pool)
        .await
        .context("Failed to delete old audit entries")?;
        Ok(done.rows_affected())
    }

    /// The pool, for the session store.
    pub fn pool(&self) -> &SqlitePool {
        &self.pool
    }

    /// The audit log, newest first: (at, actor, action, fields).
    pub async fn audit_entries(
        &self,
        limit: i64,
    ) -> Result<Vec<(String, String, String, String)>, StoreError> {
        let rows =
            sqlx::query("SELECT at, actor, action, fields FROM audit_log ORDER BY id DESC LIMIT ?")
                .bind(limit)
                .fetch_all(&self.pool)
                .await
                .context("Failed to read the audit log")?;
        Ok(rows
            .into_iter()
            .map(|r| {
                (
                    r.get("at"),
                    r.get("actor"),
                    r.get("action"),
                    r.get("fields"),
                )
            })
            .collect())
    }
}

async fn save_in_tx<E>(
    conn: &mut SqliteConnection,
    base_path: &str,
    keys: &Keyring,
    actor: &str,
    expected_version: Option<i64>,
    check: impl FnOnce(&SettingsView) -> Result<ValidatedSettings, E>,
) -> Result<Result<SettingsView, E>, StoreError> {
    let stored = load_with(conn, base_path).await?;
    if let Some(expected) = expected_version
        && expected != stored.version
    {
        return Err(StoreError::Conflict {
            current: stored.version,
        });
    }
    let valid = match check(&stored) {
        Ok(v) => v,
        Err(e) => return Ok(Err(e)),
    };
    let s = valid.settings();
    let new_version = stored.version + 1;
    sqlx::query(
        "INSERT INTO mail_settings (id, auth, smtp_server, smtp_port, smtp_user, smtp_ssl, oauth_provider,
             oauth_client_id, oauth_tenant_id, oauth_secret_expires_on, manager_root, version,
             updated_at, updated_by)
         VALUES (1, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, strftime('%Y-%m-%dT%H:%M:%SZ', 'now'), ?)
         ON CONFLICT (id) DO UPDATE SET
             auth = excluded.auth, smtp_server = excluded.smtp_server, smtp_port = excluded.smtp_port,
             smtp_user = excluded.smtp_user, smtp_ssl = excluded.smtp_ssl,
             oauth_provider = excluded.oauth_provider, oauth_client_id = excluded.oauth_client_id,
             oauth_tenant_id = excluded.oauth_tenant_id,
             oauth_secret_expires_on = excluded.oauth_secret_expires_on,
             manager_root = excluded.manager_root,
             version = excluded.version, updated_at = excluded.updated_at, updated_by = excluded.updated_by
         WHERE mail_settings.version = ?",
    )
    .bind(s.auth.as_str())
    .bind(&s.smtp.server)
    .bind(s.smtp.port)
    .bind(&s.smtp.user)
    .bind(s.smtp.ssl)
    .bind(s.oauth.provider.as_str())
    .bind(&s.oauth.client_id)
    .bind(&s.oauth.tenant_id)
    .bind(&s.oauth.client_secret_expires_on)
    .bind(&s.manager_root)
    .bind(new_version)
    .bind(actor)
    .bind(stored.version)
    .execute(&mut *conn)
    .await
    .context("Failed to write the settings")?;

    // A stored secret no longer counts once what it was entered for changed (another SMTP
    // server / port / SSL / user, another provider / client / tenant; see `merge`): forget it,
    // so it can never be sent anywhere else. The validation required a new one where needed.
    for (name, still_valid) in [
        (secret_names::SMTP_PASSWORD, s.smtp.password_set),
        (secret_names::OAUTH_CLIENT_SECRET, s.oauth.client_secret_set),
    ] {
        if !still_valid {
            sqlx::query("DELETE FROM secrets WHERE name = ?")
                .bind(name)
                .execute(&mut *conn)
                .await
                .context("Failed to forget a secret whose server or client changed")?;
        }
    }
    put_secret(
        conn,
        keys,
        secret_names::SMTP_PASSWORD,
        valid.smtp_password(),
    )
    .await?;
    put_secret(
        conn,
        keys,
        secret_names::OAUTH_CLIENT_SECRET,
        valid.oauth_client_secret(),
    )
    .await?;

    // Tokens belong to the app that obtained them: new credentials mean a new connection.
    let credentials_changed = valid.changed_fields().iter().any(|f| {
        matches!(
            f,
            Field::OauthProvider
                | Field::OauthClientId
                | Field::OauthClientSecret
                | Field::OauthTenantId
        )
    });
    if credentials_changed && delete_connection(conn).await? {
        insert_audit(
            &mut *conn,
            actor,
            "oauth.disconnected",
            "credentials changed",
        )
        .await?;
    }

    // New settings may fix what paused sending: the next attempt tries them.
    sqlx::query("UPDATE queue_state SET paused_code = NULL, paused_reply = NULL, paused_at = NULL")
        .execute(&mut *conn)
        .await
        .context("Failed to resume sending")?;

    let fields: Vec<&str> = valid
        .changed_fields()
        .iter()
        .map(|f: &Field| f.as_str())
        .collect();
    insert_audit(&mut *conn, actor, "settings.save", &fields.join(",")).await?;

    Ok(Ok(load_with(conn, base_path).await?))
}

/// One audit log row, on the pool or inside a transaction.
async fn insert_audit<'e>(
    executor: impl sqlx::Executor<'e, Database = sqlx::Sqlite>,
    actor: &str,
    action: &str,
    detail: &str,
) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO audit_log (at, actor, action, fields)
         VALUES (strftime('%Y-%m-%dT%H:%M:%SZ', 'now'), ?, ?, ?)",
    )
    .bind(actor)
    .bind(action)
    .bind(detail)
    .execute(executor)
    .await
    .context("Failed to write the audit log")?;
    Ok(())
}

/// Stores a replaced secret, encrypted; `Keep` leaves it as it is.
async fn put_secret(
    conn: &mut SqliteConnection,
    keys: &Keyring,
    name: &str,
    change: &SecretChange,
) -> Result<(), StoreError> {
    let SecretChange::Replace(value) = change else {
        return Ok(());
    };
    let value = SecretString::from(value.expose().to_owned());
    sqlx::query(
        "INSERT INTO secrets (name, value, updated_at) VALUES (?, ?, strftime('%Y-%m-%dT%H:%M:%SZ', 'now'))
         ON CONFLICT (name) DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at",
    )
    .bind(name)
    .bind(keys.seal(name, &value))
    .execute(&mut *conn)
    .await
    .context("Failed to store a secret")?;
    Ok(())
}

async fn load_with(
    conn: &mut SqliteConnection,
    base_path: &str,
) -> Result<SettingsView, StoreError> {
    let row = sqlx::query(
        "SELECT auth, smtp_server, smtp_port, smtp_user, smtp_ssl, oauth_provider, oauth_client_id,
                oauth_tenant_id, oauth_secret_expires_on, manager_root, version, updated_at,
                updated_by,
                EXISTS (SELECT 1 FROM secrets WHERE name = ?) AS password_set,
                EXISTS (SELECT 1 FROM secrets WHERE name = ?) AS client_secret_set
         FROM mail_settings WHERE id = 1",
    )
    .bind(secret_names::SMTP_PASSWORD)
    .bind(secret_names::OAUTH_CLIENT_SECRET)
    .fetch_optional(&mut *conn)
    .await
    .context("Failed to read the settings")?;
    let Some(row) = row else {
        return Ok(SettingsView::initial(base_path));
    };
    let auth: String = row.get("auth");
    let provider: String = row.get("oauth_provider");
    Ok(SettingsView {
        // The CHECK constraints keep these two columns to known values.
        auth: AuthType::parse(&auth).unwrap_or_default(),
        smtp: SmtpView {
            server: row.get("smtp_server"),
            port: row.get("smtp_port"),
            user: row.get("smtp_user"),
            password_set: row.get("password_set"),
            ssl: row.get("smtp_ssl"),
        },
        oauth: OauthView {
            provider: Provider::parse(&provider).unwrap_or_default(),
            client_id: row.get("oauth_client_id"),
            client_secret_set: row.get("client_secret_set"),
            tenant_id: row.get("oauth_tenant_id"),
            client_secret_expires_on: row.get("oauth_secret_expires_on"),
        },
        manager_root: row.get("manager_root"),
        version: row.get("version"),
        updated_at: Some(row.get("updated_at")),
        updated_by: Some(row.get("updated_by")),
    })
}

/// The file behind a `sqlite://` URL, so its directory can be created on first run.
fn sqlite_file_path(url: &str) -> Option<String> {
    let rest = url
        .strip_prefix("sqlite://")
        .or_else(|| url.strip_prefix("sqlite:"))?;
    let path = rest.split('?').next().unwrap_or(rest);
    (!path.is_empty() && path != ":memory:").then(|| path.to_string())
}

/// The database holds sealed secrets, sessions and the audit log: only the server's user may
/// read it. The file is created 0600 before SQLite opens it (SQLite gives its `-wal` and `-shm`
/// files the database file's mode), and an existing one is tightened.
fn restrict_database_files(path: &std::path::Path) -> anyhow::Result<()> {
    use anyhow::Context as _;
    #[cfg(unix)]
    {
        use std::os::unix::fs::{OpenOptionsExt as _, PermissionsExt as _};
        if !path.exists() {
            std::fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .mode(0o600)
                .open(path)
                .with_context(|| {
                    format!("Failed to create the database file {}", path.display())
                })?;
        }
        for suffix in ["", "-wal", "-shm"] {
            let file = std::path::PathBuf::from(format!("{}{suffix}", path.display()));
            if file.exists() {
                std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o600))
                    .with_context(|| {
                        format!("Failed to restrict {} to mode 0600", file.display())
                    })?;
            }
        }
    }
    #[cfg(not(unix))]
    let _ = path;
    Ok(())
}
