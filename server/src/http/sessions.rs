//! Session ids are kept hashed: the table holds SHA-256 of each id (cut to the id's 128 bits),
//! so a copy of the database (a backup, a stolen file) holds no id that would sign anyone in.
//! The browser's cookie carries the id itself; every look-up hashes it first.

use async_trait::async_trait;
use sha2::{Digest, Sha256};
use tower_sessions::session::{Id, Record};
use tower_sessions::session_store::{self, ExpiredDeletion, SessionStore};

/// Wraps a session store so that it only ever sees hashed ids.
#[derive(Clone, Debug)]
pub struct HashedIds<S> {
    inner: S,
}

impl<S> HashedIds<S> {
    pub fn new(inner: S) -> Self {
        HashedIds { inner }
    }
}

/// The id a session is stored under.
pub fn stored_id(id: &Id) -> Id {
    let digest = Sha256::digest(id.0.to_le_bytes());
    let mut bytes = [0u8; 16];
    bytes.copy_from_slice(&digest[..16]);
    Id(i128::from_le_bytes(bytes))
}

fn hashed(record: &Record) -> Record {
    Record {
        id: stored_id(&record.id),
        data: record.data.clone(),
        expiry_date: record.expiry_date,
    }
}

#[async_trait]
impl<S: SessionStore + Clone> SessionStore for HashedIds<S> {
    async fn create(&self, record: &mut Record) -> session_store::Result<()> {
        // A new random id until its hash is free (a collision of 128-bit ids is not expected,
        // but an existing session must never be overwritten).
        for _ in 0..8 {
            if self.inner.load(&stored_id(&record.id)).await?.is_none() {
                return self.inner.save(&hashed(record)).await;
            }
            record.id = Id::default();
        }
        Err(session_store::Error::Backend(
            "no free session id after 8 tries".into(),
        ))
    }

    async fn save(&self, record: &Record) -> session_store::Result<()> {
        self.inner.save(&hashed(record)).await
    }

    async fn load(&self, id: &Id) -> session_store::Result<Option<Record>> {
        Ok(self.inner.load(&stored_id(id)).await?.map(|mut record| {
            record.id = *id;
            record
        }))
    }

    async fn delete(&self, id: &Id) -> session_store::Result<()> {
        self.inner.delete(&stored_id(id)).await
    }
}

#[async_trait]
impl<S: ExpiredDeletion + Clone> ExpiredDeletion for HashedIds<S> {
    async fn delete_expired(&self) -> session_store::Result<()> {
        self.inner.delete_expired().await
    }
}

/// The session table on the application's database: SQLite or PostgreSQL, as the store.
#[derive(Clone, Debug)]
pub enum DbSessions {
    Sqlite(tower_sessions_sqlx_store::SqliteStore),
    Postgres(tower_sessions_sqlx_store::PostgresStore),
}

impl DbSessions {
    /// Connects a small pool of its own to `database_url` and creates the table if needed.
    pub async fn open(database_url: &str) -> anyhow::Result<DbSessions> {
        use anyhow::Context as _;
        use std::str::FromStr as _;
        let sessions = match crate::store::Backend::of(database_url)? {
            crate::store::Backend::Sqlite => {
                let options = sqlx::sqlite::SqliteConnectOptions::from_str(database_url)
                    .context("DATABASE_URL is not a valid SQLite URL")?
                    .journal_mode(sqlx::sqlite::SqliteJournalMode::Wal)
                    .synchronous(sqlx::sqlite::SqliteSynchronous::Full)
                    .busy_timeout(std::time::Duration::from_secs(5));
                let pool = sqlx::sqlite::SqlitePoolOptions::new()
                    .max_connections(4)
                    .connect_with(options)
                    .await
                    .context("Failed to open the SQLite database for the sessions")?;
                DbSessions::Sqlite(
                    tower_sessions_sqlx_store::SqliteStore::new(pool)
                        .with_table_name("sessions")
                        .map_err(|e| anyhow::anyhow!("invalid session table name: {e}"))?,
                )
            }
            crate::store::Backend::Postgres => {
                let pool = sqlx::postgres::PgPoolOptions::new()
                    .max_connections(4)
                    .connect(database_url)
                    .await
                    .context("Failed to connect to PostgreSQL for the sessions")?;
                DbSessions::Postgres(
                    tower_sessions_sqlx_store::PostgresStore::new(pool)
                        .with_table_name("sessions")
                        .map_err(|e| anyhow::anyhow!("invalid session table name: {e}"))?,
                )
            }
        };
        // Two servers starting at once may both create the table: the loser tries once more.
        let mut created = sessions.migrate().await;
        if created.is_err() {
            tokio::time::sleep(std::time::Duration::from_millis(200)).await;
            created = sessions.migrate().await;
        }
        created.context("Failed to create the session table")?;
        Ok(sessions)
    }

    async fn migrate(&self) -> sqlx::Result<()> {
        match self {
            DbSessions::Sqlite(s) => s.migrate().await,
            DbSessions::Postgres(s) => s.migrate().await,
        }
    }
}

#[async_trait]
impl SessionStore for DbSessions {
    async fn create(&self, record: &mut Record) -> session_store::Result<()> {
        match self {
            DbSessions::Sqlite(s) => s.create(record).await,
            DbSessions::Postgres(s) => s.create(record).await,
        }
    }

    async fn save(&self, record: &Record) -> session_store::Result<()> {
        match self {
            DbSessions::Sqlite(s) => s.save(record).await,
            DbSessions::Postgres(s) => s.save(record).await,
        }
    }

    async fn load(&self, id: &Id) -> session_store::Result<Option<Record>> {
        match self {
            DbSessions::Sqlite(s) => s.load(id).await,
            DbSessions::Postgres(s) => s.load(id).await,
        }
    }

    async fn delete(&self, id: &Id) -> session_store::Result<()> {
        match self {
            DbSessions::Sqlite(s) => s.delete(id).await,
            DbSessions::Postgres(s) => s.delete(id).await,
        }
    }
}

#[async_trait]
impl ExpiredDeletion for DbSessions {
    async fn delete_expired(&self) -> session_store::Result<()> {
        match self {
            DbSessions::Sqlite(s) => s.delete_expired().await,
            DbSessions::Postgres(s) => s.delete_expired().await,
        }
    }
}
