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
