//! Idle SMTP connections kept for the next mail of a burst.

use super::{SmtpTarget, abort};
use lettre::transport::smtp::client::AsyncSmtpConnection;
use secrecy::ExposeSecret;
use std::time::Duration;

/// Idle connections kept for the next mail, so a burst of notifications does not pay for
/// connect, STARTTLS and AUTH each time. A test mail never uses it: it must show every step.
pub struct Pool {
    idle: tokio::sync::Mutex<Vec<Idle>>,
    /// Connections kept at most (0: none, every mail gets its own connection).
    size: usize,
}

struct Idle {
    key: String,
    conn: AsyncSmtpConnection,
    since: std::time::Instant,
}

/// How long an idle connection is kept.
const POOL_IDLE: Duration = Duration::from_secs(60);

impl Pool {
    pub fn new(size: usize) -> Pool {
        Pool {
            idle: tokio::sync::Mutex::new(Vec::new()),
            size,
        }
    }

    /// Connections kept at most.
    pub fn size(&self) -> usize {
        self.size
    }

    #[tracing::instrument(level = "debug", skip_all)]
    pub(super) async fn take(&self, key: &str) -> Option<AsyncSmtpConnection> {
        loop {
            let found = {
                let mut idle = self.idle.lock().await;
                let at = idle.iter().position(|i| i.key == key)?;
                idle.swap_remove(at)
            };
            let mut conn = found.conn;
            // Stale or closed by the server meanwhile: drop it and look again.
            let alive = tokio::time::timeout(Duration::from_secs(5), conn.test_connected())
                .await
                .unwrap_or(false);
            if found.since.elapsed() < POOL_IDLE && alive {
                return Some(conn);
            }
            abort(&mut conn).await;
        }
    }

    #[tracing::instrument(level = "debug", skip_all)]
    pub(super) async fn put(&self, key: String, mut conn: AsyncSmtpConnection) {
        if conn
            .command(lettre::transport::smtp::commands::Rset)
            .await
            .is_err()
        {
            abort(&mut conn).await;
            return;
        }
        let mut idle = self.idle.lock().await;
        idle.retain(|i| i.since.elapsed() < POOL_IDLE);
        if idle.len() < self.size {
            idle.push(Idle {
                key,
                conn,
                since: std::time::Instant::now(),
            });
        } else {
            drop(idle);
            let _ = tokio::time::timeout(Duration::from_secs(5), conn.quit()).await;
        }
    }
}

impl SmtpTarget<'_> {
    /// Identifies the connections a pooled one may stand in for (the password by its hash).
    pub(super) fn pool_key(&self) -> String {
        use sha2::Digest as _;
        let digest = sha2::Sha256::digest(self.password.expose_secret().as_bytes());
        format!(
            "{}|{}|{}|{}|{:x}",
            self.host, self.port, self.starttls, self.user, digest
        )
    }
}
