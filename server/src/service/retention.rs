//! Retention: finished notifications and the audit log are deleted once older than their
//! retention period, a small batch per statement so the database is never held for long; the
//! heartbeat rows of servers gone for a day (killed, crashed) go too. Expired sessions are
//! deleted by the session store's own sweeper (every 10 minutes).

use crate::clock::{DAY_MS, now_ms};
use crate::config::Retention;
use crate::store::{Store, StoreError};

/// What one purge deleted.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Purged {
    pub notifications: u64,
    pub audit_entries: u64,
}

/// Runs `batch` (a delete of at most `limit` rows) until it deletes fewer, yielding between
/// batches; returns how many rows went.
async fn in_batches<F, Fut>(limit: i64, mut batch: F) -> Result<u64, StoreError>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<u64, StoreError>>,
{
    let mut total = 0;
    loop {
        let n = batch().await?;
        total += n;
        if n < limit as u64 {
            return Ok(total);
        }
        tokio::task::yield_now().await;
    }
}

/// Deletes everything past its retention, batch by batch, yielding between batches.
#[tracing::instrument(skip_all)]
pub async fn purge(store: &Store, retention: &Retention) -> Result<Purged, StoreError> {
    let limit = i64::from(retention.batch.max(1));
    let now = now_ms();
    let notifications_before = now - i64::from(retention.notifications_days) * DAY_MS;
    let audit_before = now - i64::from(retention.audit_days) * DAY_MS;
    let purged = Purged {
        notifications: in_batches(limit, || {
            store.purge_notifications(notifications_before, limit)
        })
        .await?,
        audit_entries: in_batches(limit, || store.purge_audit(audit_before, limit)).await?,
    };
    store.purge_gone_instances(now - DAY_MS).await?;
    in_batches(limit, || store.purge_throttle(now, limit)).await?;
    // Alerts delivered or given up: kept 30 days for the page and for questions.
    in_batches(limit, || store.purge_alerts(now - 30 * DAY_MS, limit)).await?;
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
