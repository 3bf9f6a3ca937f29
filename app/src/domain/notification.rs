//! Where a notification is in the outbox, and what an administrator may do with it: one
//! definition for the log page, the server's actions and the database statements.

use serde::{Deserialize, Serialize};

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DeliveryStatus {
    /// Accepted, waiting for the worker.
    Queued,
    /// Claimed by a worker (under a lease).
    Sending,
    Sent,
    /// Failed for now; tried again later.
    Retrying,
    /// Given up (a permanent error, or out of attempts).
    Failed,
    /// Held back by the connection's sending limits until its next attempt time.
    Waiting,
    /// Cancelled by an administrator.
    Cancelled,
}

impl DeliveryStatus {
    pub const ALL: [DeliveryStatus; 7] = [
        DeliveryStatus::Queued,
        DeliveryStatus::Waiting,
        DeliveryStatus::Sending,
        DeliveryStatus::Sent,
        DeliveryStatus::Retrying,
        DeliveryStatus::Failed,
        DeliveryStatus::Cancelled,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            DeliveryStatus::Queued => "queued",
            DeliveryStatus::Sending => "sending",
            DeliveryStatus::Sent => "sent",
            DeliveryStatus::Retrying => "retrying",
            DeliveryStatus::Failed => "failed",
            DeliveryStatus::Cancelled => "cancelled",
            DeliveryStatus::Waiting => "waiting",
        }
    }

    pub fn parse(s: &str) -> Option<DeliveryStatus> {
        Self::ALL.into_iter().find(|x| x.as_str() == s)
    }

    /// "Retry now": a failed notification, or one waiting for its next attempt.
    pub fn can_retry(self) -> bool {
        matches!(self, DeliveryStatus::Failed | DeliveryStatus::Retrying)
    }

    /// "Cancel": anything not sent and not being sent.
    pub fn can_cancel(self) -> bool {
        matches!(
            self,
            DeliveryStatus::Queued
                | DeliveryStatus::Waiting
                | DeliveryStatus::Retrying
                | DeliveryStatus::Failed
        )
    }

    /// Nothing more will happen to it (retention may delete it once old).
    pub fn is_finished(self) -> bool {
        matches!(
            self,
            DeliveryStatus::Sent | DeliveryStatus::Failed | DeliveryStatus::Cancelled
        )
    }

    /// The statuses for which `rule` holds, as an SQL list: `'failed', 'retrying'`.
    pub fn sql_list(rule: fn(DeliveryStatus) -> bool) -> String {
        Self::ALL
            .into_iter()
            .filter(|s| rule(*s))
            .map(|s| format!("'{}'", s.as_str()))
            .collect::<Vec<_>>()
            .join(", ")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn actions_follow_the_status() {
        assert_eq!(
            DeliveryStatus::sql_list(DeliveryStatus::can_retry),
            "'retrying', 'failed'"
        );
        assert_eq!(
            DeliveryStatus::sql_list(DeliveryStatus::can_cancel),
            "'queued', 'waiting', 'retrying', 'failed'"
        );
        assert_eq!(
            DeliveryStatus::sql_list(DeliveryStatus::is_finished),
            "'sent', 'failed', 'cancelled'"
        );
        for s in DeliveryStatus::ALL {
            assert_eq!(DeliveryStatus::parse(s.as_str()), Some(s));
            assert!(!(s == DeliveryStatus::Sent && (s.can_retry() || s.can_cancel())));
        }
        assert_eq!(DeliveryStatus::parse("SENT"), None);
    }
}
