//! Storage: SQLite through sqlx, migrations embedded and run at start-up, WAL mode.

use app::domain::SecretChange;
use secrecy::SecretString;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{Row, SqliteConnection, SqlitePool};
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use crate::secrets::{Keyring, SecretError};

mod admins;
mod audit;
mod connection;
mod instances;
mod outbox;
mod settings;
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
    #[error("the stored {table} row {id} cannot be read ({what} is damaged)")]
    Unreadable {
        table: &'static str,
        id: String,
        what: String,
    },
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
    #[tracing::instrument(level = "debug", skip_all)]
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

    /// The same database with another keyring (a key rotation seals with the new key).
    pub fn with_keys(self, keys: Keyring) -> Store {
        Store {
            keys: Arc::new(keys),
            ..self
        }
    }

    #[tracing::instrument(level = "debug", skip_all)]
    pub async fn close(&self) {
        self.pool.close().await;
    }

    /// A stored secret, for the transports (later) and tests. `None` when not set.
    #[tracing::instrument(level = "debug", skip_all)]
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
    #[tracing::instrument(level = "debug", skip_all)]
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

    /// The pool, for the session store.
    pub fn pool(&self) -> &SqlitePool {
        &self.pool
    }
}

/// One audit log row, on the pool or inside a transaction.
#[tracing::instrument(level = "debug", skip_all)]
async fn insert_audit<'e>(
    executor: impl sqlx::Executor<'e, Database = sqlx::Sqlite>,
    actor: &str,
    action: &str,
    detail: &str,
) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO audit_log (at, actor, action, fields)
         VALUES (?, ?, ?, ?)",
    )
    .bind(crate::clock::now_ms())
    .bind(actor)
    .bind(action)
    .bind(detail)
    .execute(executor)
    .await
    .context("Failed to write the audit log")?;
    Ok(())
}

/// Stores a replaced secret, encrypted; `Keep` leaves it as it is.
#[tracing::instrument(level = "debug", skip_all)]
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
        "INSERT INTO secrets (name, value, updated_at) VALUES (?, ?, ?)
         ON CONFLICT (name) DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at",
    )
    .bind(name)
    .bind(keys.seal(name, &value))
    .bind(crate::clock::now_ms())
    .execute(&mut *conn)
    .await
    .context("Failed to store a secret")?;
    Ok(())
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
