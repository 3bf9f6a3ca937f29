//! Signing in with a user name and a password, in its fixed order: the address's limit, the
//! input sizes, the account's limit, the password check (a few at a time, as long for an
//! unknown user as for a known one), then the audit row. The HTTP handler only turns the
//! outcome into a session or a redirect.

use crate::service::accounts::{dummy_hash, verify_password};
use crate::service::throttle::{Attempt, Throttle, loggable_name};
use crate::store::Store;
use secrecy::{ExposeSecret, SecretString};
use std::net::IpAddr;

/// Longest user name looked at; longer ones fail before any work.
pub const USERNAME_INPUT_MAX: usize = 256;
/// Longest password looked at (argon2 hashes whatever it gets).
pub const PASSWORD_INPUT_MAX: usize = 1024;

/// What a sign-in needs besides its input.
pub struct SignIn<'a> {
    pub store: &'a Store,
    pub throttle: &'a Throttle,
    /// Password checks running at once: each costs 19 MiB and tens of milliseconds of CPU,
    /// and a flood must not take every blocking thread.
    pub hashing: &'a tokio::sync::Semaphore,
}

/// Why a sign-in did not go through (the login page's `?error=` code).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Refused {
    /// Too many failures from this address, or for this account from addresses that failed.
    Throttled,
    /// Wrong name or password (or an oversized one).
    Invalid,
    /// The database or the password check broke; logged under a reference.
    Internal,
}

impl Refused {
    pub fn code(self) -> &'static str {
        match self {
            Refused::Throttled => "throttled",
            Refused::Invalid => "invalid",
            Refused::Internal => "internal",
        }
    }
}

/// Checks `username` and `password` from `peer`; the administrator's stored name when they
/// are right.
#[tracing::instrument(skip_all)]
pub async fn sign_in(
    deps: &SignIn<'_>,
    username: &str,
    password: SecretString,
    peer: IpAddr,
) -> Result<String, Refused> {
    let SignIn {
        store,
        throttle,
        hashing,
    } = deps;
    let address = Throttle::client_key(peer);
    let username = username.trim();
    let shown = loggable_name(username);
    let throttled = |account_known: bool| {
        tracing::warn!(user = %shown, %address, "login throttled");
        let audit = throttle.audit_throttled(address);
        let shown = shown.clone();
        async move {
            // One audit row a minute per address, whatever the flood.
            if audit {
                let detail = if account_known {
                    address.to_string()
                } else {
                    format!("{address} (unknown or oversized name)")
                };
                let _ = store.audit(&shown, "login_throttled", &detail).await;
            }
            Err(Refused::Throttled)
        }
    };
    if !throttle.address_allows(address) {
        return throttled(false).await;
    }
    if username.len() > USERNAME_INPUT_MAX || password.expose_secret().len() > PASSWORD_INPUT_MAX {
        if let Err(e) = throttle.failed(store, address).await {
            crate::error::internal(&e);
            return Err(Refused::Internal);
        }
        tracing::info!(user = %shown, %address, "login failed: oversized input");
        let _ = store
            .audit(&shown, "login_failed", &format!("{address} (oversized)"))
            .await;
        return Err(Refused::Invalid);
    }
    // The shared limits live in the database: when it cannot answer, nobody is let in.
    let shared = async {
        let attempt = throttle.attempt(store, username, address).await?;
        let failed_recently = match attempt {
            Attempt::Check { account_busy: true } => {
                throttle.failed_recently(store, address).await?
            }
            _ => false,
        };
        Ok::<_, crate::store::StoreError>((attempt, failed_recently))
    };
    let account_busy = match shared.await {
        Err(e) => {
            crate::error::internal(&e);
            return Err(Refused::Internal);
        }
        Ok((Attempt::Refused, _)) => return throttled(true).await,
        // The account's own limit is spent (guessing from many addresses): only an address
        // without recent failures may still try, so its owner is never locked out.
        Ok((Attempt::Check { account_busy: true }, true)) => return throttled(true).await,
        Ok((Attempt::Check { account_busy }, _)) => account_busy,
    };
    // An unknown user is checked against a dummy hash: both failures take as long.
    let (user, hash) = match store.admin_password_hash(username).await {
        Ok(Some((user, hash))) => (Some(user), hash),
        Ok(None) => (None, dummy_hash().to_string()),
        Err(e) => {
            // Logged with its cause chain under a reference.
            crate::error::internal(&e);
            return Err(Refused::Internal);
        }
    };
    let Ok(_permit) = hashing.acquire().await else {
        return Err(Refused::Internal);
    };
    let ok = tokio::task::spawn_blocking(move || verify_password(&hash, &password))
        .await
        .unwrap_or(false);
    let Some(user) = user.filter(|_| ok) else {
        if let Err(e) = throttle.failed(store, address).await {
            crate::error::internal(&e);
        }
        tracing::info!(user = %shown, %address, "login failed");
        let _ = store
            .audit(&shown, "login_failed", &address.to_string())
            .await;
        return Err(if account_busy {
            Refused::Throttled
        } else {
            Refused::Invalid
        });
    };
    tracing::info!(user, "logged in");
    let _ = store.audit(&user, "login", &peer.to_string()).await;
    Ok(user)
}
