//! Storage through sqlx on SQLite (the embedded default, WAL mode) or PostgreSQL (several
//! server processes on one database). The same queries serve both: `$n` parameters, integer
//! flags and times, and the few differences in [`Backend`]. Each backend has its own
//! migrations, embedded and run at start-up.

use app::domain::SecretChange;
use secrecy::SecretString;
use sqlx::any::{AnyPoolOptions, AnyRow};
use sqlx::{AnyConnection, AnyPool, Executor as _, Row};
use std::sync::Arc;

use crate::secrets::{Keyring, SecretError};

mod admins;
mod alerts;
mod audit;
mod connection;
mod instances;
mod limits;
mod outbox;
mod settings;
mod templates;
mod throttle;
mod tokens;
pub use alerts::{AlertRecord, QueuedAlert};
use connection::delete_connection;
pub use connection::{Connection, Tokens};
pub use instances::LiveInstance;
pub use limits::{Budget, MINUTE_MS as LIMIT_MINUTE_MS, Quota, Usage};
pub use outbox::{NewNotification, Notification, Status};
pub use templates::Template;
pub use tokens::{NewToken, StoredToken, TokenListing, TokenScope};

/// Names of the secrets kept in the `secrets` table.
pub mod secret_names {
    pub const SMTP_PASSWORD: &str = "smtp_password";
    pub const OAUTH_CLIENT_SECRET: &str = "oauth_client_secret";
    /// The private key (PEM) of the Microsoft certificate credential.
    pub const OAUTH_CERTIFICATE_KEY: &str = "oauth_certificate_key";
    /// The backup connection's SMTP password.
    pub const BACKUP_SMTP_PASSWORD: &str = "backup_smtp_password";
    /// The client secret of the Microsoft 365 backup connection.
    pub const BACKUP_OAUTH_CLIENT_SECRET: &str = "backup_oauth_client_secret";
    pub const OAUTH_REFRESH_TOKEN: &str = "oauth_refresh_token";
    pub const OAUTH_ACCESS_TOKEN: &str = "oauth_access_token";
    /// The alerts webhook's address: it carries the channel's secret (Slack, Teams).
    pub const ALERT_WEBHOOK_URL: &str = "alert_webhook_url";
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

/// Which database a `DATABASE_URL` names.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

impl Backend {
    /// `sqlite:…` or `postgres://…` (`postgresql://…`); anything else is refused with what to
    /// write instead.
    pub fn of(database_url: &str) -> anyhow::Result<Backend> {
        if database_url.starts_with("sqlite:") {
            Ok(Backend::Sqlite)
        } else if database_url.starts_with("postgres://")
            || database_url.starts_with("postgresql://")
        {
            Ok(Backend::Postgres)
        } else {
            anyhow::bail!(
                "DATABASE_URL must start with sqlite: (e.g. sqlite://data/mail-settings.db) or postgres:// (e.g. postgres://mail@db.example/mail)"
            )
        }
    }
}

/// The PostgreSQL advisory lock that makes a write transaction wait for the other writers, as
/// SQLite's `BEGIN IMMEDIATE` does (an arbitrary constant of this application).
const WRITE_LOCK: i64 = 0x6d61_696c_5f73_6574;

/// Handle to the database; cheap to clone (a pool inside).
#[derive(Clone, Debug)]
pub struct Store {
    pool: AnyPool,
    backend: Backend,
    /// This process's name in leases and heartbeats (random, new at each start).
    instance: Arc<str>,
    base_path: String,
    keys: Arc<Keyring>,
}

/// A transaction on either database.
pub(crate) type Tx = sqlx::Transaction<'static, sqlx::Any>;

/// A flag column (0/1), or a `CASE WHEN … THEN 1 ELSE 0 END`: both databases give an integer.
pub(crate) fn flag(row: &AnyRow, column: &str) -> bool {
    row.get::<i64, _>(column) != 0
}

impl Store {
    /// Opens (creating it if needed) the database and runs the migrations. A failed migration
    /// stops the start with its cause.
    #[tracing::instrument(level = "debug", skip_all)]
    pub async fn open(database_url: &str, base_path: &str, keys: Keyring) -> anyhow::Result<Store> {
        use anyhow::Context as _;
        sqlx::any::install_default_drivers();
        let backend = Backend::of(database_url)?;
        let pool = match backend {
            Backend::Sqlite => open_sqlite(database_url).await?,
            Backend::Postgres => AnyPoolOptions::new()
                .max_connections(16)
                .acquire_timeout(std::time::Duration::from_secs(10))
                .connect(database_url)
                .await
                .with_context(|| "Failed to connect to the PostgreSQL database (DATABASE_URL)")?,
        };
        let migrated = match backend {
            Backend::Sqlite => sqlx::migrate!("./migrations/sqlite").run(&pool).await,
            Backend::Postgres => sqlx::migrate!("./migrations/postgres").run(&pool).await,
        };
        migrated.with_context(|| "Failed to run the database migrations")?;
        Ok(Store {
            pool,
            backend,
            instance: Arc::from(crate::secrets::random_text(16)),
            base_path: base_path.to_string(),
            keys: Arc::new(keys),
        })
    }

    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// This process's name in notification leases, the OAuth refresh lock and heartbeats.
    pub fn instance(&self) -> &str {
        &self.instance
    }

    /// A transaction that writes after reading: it waits for the other writers first (SQLite:
    /// `BEGIN IMMEDIATE`; PostgreSQL: one advisory lock for the same purpose), so what it read
    /// stays true until it commits, across every process on the database.
    pub(crate) async fn begin_write(&self) -> Result<Tx, sqlx::Error> {
        match self.backend {
            Backend::Sqlite => self.pool.begin_with("BEGIN IMMEDIATE").await,
            Backend::Postgres => {
                let mut tx = self.pool.begin().await?;
                // A count, not the function's `void`, which no driver decodes.
                sqlx::query("SELECT COUNT(*) FROM (SELECT pg_advisory_xact_lock($1)) AS l")
                    .bind(WRITE_LOCK)
                    .execute(&mut *tx)
                    .await?;
                Ok(tx)
            }
        }
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
        let row = sqlx::query("SELECT value FROM secrets WHERE name = $1")
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
            .begin_write()
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
            sqlx::query("UPDATE secrets SET value = $1 WHERE name = $2")
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

    /// The pool, for tests and operator checks.
    pub fn pool(&self) -> &AnyPool {
        &self.pool
    }
}

/// One audit log row, on the pool or inside a transaction.
#[tracing::instrument(level = "debug", skip_all)]
async fn insert_audit<'e>(
    executor: impl sqlx::Executor<'e, Database = sqlx::Any>,
    actor: &str,
    action: &str,
    detail: &str,
) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO audit_log (at, actor, action, fields)
         VALUES ($1, $2, $3, $4)",
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
    conn: &mut AnyConnection,
    keys: &Keyring,
    name: &str,
    change: &SecretChange,
) -> Result<(), StoreError> {
    let SecretChange::Replace(value) = change else {
        return Ok(());
    };
    let value = SecretString::from(value.expose().to_owned());
    sqlx::query(
        "INSERT INTO secrets (name, value, updated_at) VALUES ($1, $2, $3)
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

/// The SQLite database: its directory and file created first (the file 0600), WAL, full
/// synchronous commits, foreign keys, a busy timeout, on every connection of the pool.
async fn open_sqlite(database_url: &str) -> anyhow::Result<AnyPool> {
    use anyhow::Context as _;
    let path = sqlite_file_path(database_url);
    let dir = path
        .as_deref()
        .and_then(|path| std::path::Path::new(path).parent().map(|d| d.to_path_buf()))
        .filter(|d| !d.as_os_str().is_empty());
    if let Some(dir) = dir {
        std::fs::create_dir_all(&dir).with_context(|| {
            format!("Failed to create the database directory {}", dir.display())
        })?;
    }
    if let Some(path) = &path {
        restrict_database_files(std::path::Path::new(path))?;
    }
    AnyPoolOptions::new()
        .max_connections(8)
        .after_connect(|conn, _| {
            Box::pin(async move {
                for pragma in [
                    "PRAGMA journal_mode = WAL",
                    "PRAGMA synchronous = FULL",
                    "PRAGMA foreign_keys = ON",
                    "PRAGMA busy_timeout = 5000",
                ] {
                    conn.execute(pragma).await?;
                }
                Ok(())
            })
        })
        .connect(database_url)
        .await
        .with_context(|| {
            "Failed to open the SQLite database (DATABASE_URL, e.g. sqlite://data/mail-settings.db)"
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
