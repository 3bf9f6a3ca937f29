//! Retention: finished notifications and the audit log are deleted once older than their
//! retention period, a small batch per statement so the database is never held for long.
//! Expired sessions are deleted by the session store's own sweeper (every 10 minutes).

use crate::clock::now_ms;
use crate::config::Retention;
use crate::store::{Store, StoreError};

/// What one purge deleted.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Purged {
    pub notifications: u64,
    pub audit_entries: u64,
}

const DAY_MS: i64 = 86_400_000;

/// Deletes everything past its retention, batch by batch, yielding between batches.
#[tracing::instrument(skip_all)]
pub async fn purge(store: &Store, retention: &Retention) -> Result<Purged, StoreError> {
    let mut purged = Purged::default();
    let limit = i64::from(retention.batch.max(1));
    let before_ms = now_ms() - i64::from(retention.notifications_days) * DAY_MS;
    loop {
        let n = store.purge_notifications(before_ms, limit).await?;
        purged.notifications += n;
        if n < limit as u64 {
            break;
        }
        tokio::task::yield_now().await;
    }
    let days = retention.audit_days;
    loop {
        let n = store.purge_audit(days, limit).await?;
        purged.audit_entries += n;
        if n < limit as u64 {
            break;
        }
        tokio::task::yield_now().await;
    }
    if purged != Purged::default() {
        tracing::info!(
            notifications = purged.notifications,
            audit_entries = purged.audit_entries,
            "deleted what is past its retention"
        );
        store
            .audit(
                "system",
                "retention_purge",
                &format!(
                    "{} notifications older than {} days, {} audit entries older than {} days",
                    purged.notifications,
                    retention.notifications_days,
                    purged.audit_entries,
                    retention.audit_days
                ),
            )
            .await?;
    }
    Ok(purged)
}

/// Purges now and then every `retention.every`, for the life of the server.
pub fn spawn(store: Store, retention: Retention) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(retention.every);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            if let Err(e) = purge(&store, &retention).await {
                tracing::warn!(error = %e, "the retention purge failed; it runs again later");
            }
        }
    })
}
