//! Server processes using the database: each running server keeps a heartbeat row, so an
//! operator command can tell whether a server is still at work.

use super::{Context as _, Store, StoreError};
use crate::clock::now_ms;
use sqlx::Row as _;

/// A server seen recently: (host, pid, milliseconds since its last heartbeat).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LiveInstance {
    pub host: String,
    pub pid: i64,
    pub seen_ms_ago: i64,
}

impl Store {
    /// Records this process (again): its heartbeat.
    #[tracing::instrument(level = "debug", skip_all)]
    pub async fn heartbeat(&self, id: &str, host: &str, pid: u32) -> Result<(), StoreError> {
        let now = now_ms();
        sqlx::query(
            "INSERT INTO server_instances (id, host, pid, started_at, seen_at) VALUES ($1, $2, $3, $4, $5)
             ON CONFLICT (id) DO UPDATE SET seen_at = excluded.seen_at",
        )
        .bind(id)
        .bind(host)
        .bind(i64::from(pid))
        .bind(now)
        .bind(now)
        .execute(&self.pool)
        .await
        .context("Failed to record the server's heartbeat")?;
        Ok(())
    }

    /// Deletes the rows of servers last seen before `before_ms` (killed, crashed: a clean stop
    /// removes its own row). Returns how many.
    #[tracing::instrument(level = "debug", skip_all)]
    pub async fn purge_gone_instances(&self, before_ms: i64) -> Result<u64, StoreError> {
        let done = sqlx::query("DELETE FROM server_instances WHERE seen_at < $1")
            .bind(before_ms)
            .execute(&self.pool)
            .await
            .context("Failed to clear old server rows")?;
        Ok(done.rows_affected())
    }

    /// Forgets the rows of earlier server processes on this host that are gone: their process
    /// no longer exists, or it has this process's pid but started before it (a container
    /// restarted). Then what they were sending can be recovered at once, without waiting for
    /// their heartbeats to go stale. Returns how many.
    #[tracing::instrument(level = "debug", skip_all)]
    pub async fn forget_gone_local_instances(
        &self,
        host: &str,
        process_started_ms: i64,
    ) -> Result<u64, StoreError> {
        let own_pid = i64::from(std::process::id());
        let rows = sqlx::query(
            "SELECT id, pid, started_at FROM server_instances WHERE host = $1 AND id <> $2",
        )
        .bind(host)
        .bind(self.instance())
        .fetch_all(&self.pool)
        .await
        .context("Failed to read the server rows")?;
        let mut forgotten = 0;
        for r in rows {
            let pid: i64 = r.get("pid");
            let gone = if pid == own_pid {
                r.get::<i64, _>("started_at") < process_started_ms
            } else {
                !process_exists(pid)
            };
            if gone {
                let id: String = r.get("id");
                self.unregister(&id).await?;
                forgotten += 1;
            }
        }
        Ok(forgotten)
    }

    /// Removes this process's row at a clean shutdown.
    #[tracing::instrument(level = "debug", skip_all)]
    pub async fn unregister(&self, id: &str) -> Result<(), StoreError> {
        sqlx::query("DELETE FROM server_instances WHERE id = $1")
            .bind(id)
            .execute(&self.pool)
            .await
            .context("Failed to remove the server's row")?;
        Ok(())
    }

    /// Servers with a heartbeat in the last `within_ms`.
    #[tracing::instrument(level = "debug", skip_all)]
    pub async fn live_instances(&self, within_ms: i64) -> Result<Vec<LiveInstance>, StoreError> {
        let now = now_ms();
        let rows = sqlx::query(
            "SELECT host, pid, seen_at FROM server_instances WHERE seen_at >= $1 ORDER BY seen_at DESC",
        )
        .bind(now - within_ms)
        .fetch_all(&self.pool)
        .await
        .context("Failed to read the server rows")?;
        Ok(rows
            .into_iter()
            .map(|r| LiveInstance {
                host: r.get("host"),
                pid: r.get("pid"),
                seen_ms_ago: now - r.get::<i64, _>("seen_at"),
            })
            .collect())
    }
}

/// Whether a process with this pid runs on this machine (Linux: `/proc/<pid>`). Elsewhere every
/// process counts as running, and a gone one is recognised by its stale heartbeat instead.
fn process_exists(pid: i64) -> bool {
    if cfg!(target_os = "linux") {
        std::path::Path::new(&format!("/proc/{pid}")).exists()
    } else {
        true
    }
}
