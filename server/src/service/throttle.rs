//! The sign-in throttle: per address (in memory, the cheap first line), per account and
//! address and per account (in the database, shared by every server process on it).

use crate::clock::now_ms;
use crate::store::{Store, StoreError};
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};
use std::net::IpAddr;
use std::num::NonZeroU32;
use std::time::Duration;

/// Sign-in throttling (GCRA: a burst, then one try per interval), decided before the password
/// is looked at and cheapest first, so that a flood costs almost nothing:
/// - per client address (IPv6 by /64): 20 tries, then one every 15 s. Checked first and alone:
///   an address over its limit makes the server remember nothing more (no account key, no log
///   line per try, at most one audit row a minute);
/// - per account *and* address: 10 tries, then one a minute;
/// - per account from anywhere: 30 tries, then one a minute, against guessing from many
///   addresses. It cannot be used to lock the owner out: a correct password from an address
///   with no failure in the last 15 minutes still gets in.
///
/// The account limits and the failure marks are kept in the database, so that several server
/// processes behind a load balancer add up to one budget, not one each. The per-address limit
/// stays in each process's memory: it runs before anything touches the database, so a flood
/// costs no writes.
///
/// Every map in memory is bounded: past [`Throttle::PRUNE_AT`] keys, the ones back at a full
/// burst are dropped, and if an attacker with very many addresses still keeps it full, it is
/// cleared (which only forgets throttling state, never lets a wrong password in). The
/// database's rows are deleted once past their time by the retention sweep.
pub struct Throttle {
    per_address: Bounded<IpAddr>,
    /// One `login_throttled` audit row a minute per address.
    audit_throttled: Bounded<IpAddr>,
}

/// The per account-and-address limit: 10 tries, then one a minute.
const PAIR: (i64, i64) = (60_000, 10);
/// The per-account limit: 30 tries, then one a minute.
const ACCOUNT: (i64, i64) = (60_000, 30);

/// What the throttle says about a sign-in attempt, before the password is checked.
#[derive(Debug, PartialEq, Eq)]
pub enum Attempt {
    /// Over a limit: answer "throttled" without looking at the password.
    Refused,
    /// Check the password. `account_busy`: the account's own limit is spent, so only a correct
    /// password from an address without recent failures may get in.
    Check { account_busy: bool },
}

impl Throttle {
    /// Keys kept per map before pruning.
    pub const PRUNE_AT: usize = 10_000;
    /// How long a failure counts as recent for [`Attempt::Check::account_busy`].
    const FAILURE_MEMORY_MS: i64 = 15 * 60 * 1000;

    pub fn new() -> Throttle {
        let nz = |n: u32| NonZeroU32::new(n).expect("non-zero");
        Throttle {
            per_address: Bounded::new(
                Quota::with_period(Duration::from_secs(15))
                    .expect("non-zero period")
                    .allow_burst(nz(20)),
            ),
            audit_throttled: Bounded::new(Quota::per_minute(nz(1))),
        }
    }

    /// Addresses are throttled by host (IPv4) or by /64 (IPv6: one subscriber's prefix).
    pub fn client_key(ip: IpAddr) -> IpAddr {
        match ip {
            IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
                Some(v4) => IpAddr::V4(v4),
                None => {
                    let bits = u128::from(v6) & !((1u128 << 64) - 1);
                    IpAddr::V6(std::net::Ipv6Addr::from(bits))
                }
            },
            v4 => v4,
        }
    }

    /// The address's own limit, checked before anything else about the attempt.
    pub fn address_allows(&self, address: IpAddr) -> bool {
        self.per_address.check(&address)
    }

    /// The account limits, for an address within its own limit, shared through `store`.
    /// `account` is the user name as typed, already length-checked.
    pub async fn attempt(
        &self,
        store: &Store,
        account: &str,
        address: IpAddr,
    ) -> Result<Attempt, StoreError> {
        let account = account.to_lowercase();
        let now = now_ms();
        let pair = format!("pair:{account}|{address}");
        if !store.throttle_take(&pair, now, PAIR.0, PAIR.1).await? {
            return Ok(Attempt::Refused);
        }
        let own = format!("account:{account}");
        Ok(Attempt::Check {
            account_busy: !store.throttle_take(&own, now, ACCOUNT.0, ACCOUNT.1).await?,
        })
    }

    /// Records a failed password from `address`.
    pub async fn failed(&self, store: &Store, address: IpAddr) -> Result<(), StoreError> {
        store
            .throttle_mark(
                &format!("failed:{address}"),
                now_ms() + Self::FAILURE_MEMORY_MS,
            )
            .await
    }

    /// True when `address` failed a sign-in within the last 15 minutes (on any process).
    pub async fn failed_recently(
        &self,
        store: &Store,
        address: IpAddr,
    ) -> Result<bool, StoreError> {
        store
            .throttle_marked(&format!("failed:{address}"), now_ms())
            .await
    }

    /// True at most once a minute per address: whether to write a `login_throttled` row.
    pub fn audit_throttled(&self, address: IpAddr) -> bool {
        self.audit_throttled.check(&address)
    }

    /// Keys held in memory over all maps (for the flood tests).
    pub fn tracked_keys(&self) -> usize {
        self.per_address.len() + self.audit_throttled.len()
    }
}

/// A keyed limiter whose map stays within [`Throttle::PRUNE_AT`] keys.
struct Bounded<K: std::hash::Hash + Eq + Clone> {
    quota: Quota,
    limiter: std::sync::RwLock<DefaultKeyedRateLimiter<K>>,
}

impl<K: std::hash::Hash + Eq + Clone> Bounded<K> {
    fn new(quota: Quota) -> Self {
        Bounded {
            quota,
            limiter: std::sync::RwLock::new(RateLimiter::keyed(quota)),
        }
    }

    /// Takes one try for `key`; false when its limit is spent.
    fn check(&self, key: &K) -> bool {
        let (ok, full) = {
            let limiter = self.limiter.read().unwrap_or_else(|e| e.into_inner());
            (
                limiter.check_key(key).is_ok(),
                limiter.len() >= Throttle::PRUNE_AT,
            )
        };
        if full {
            self.prune();
        }
        ok
    }

    /// Drops the keys back at a full burst; if the map is still full of active keys, starts
    /// afresh.
    fn prune(&self) {
        let mut limiter = self.limiter.write().unwrap_or_else(|e| e.into_inner());
        limiter.retain_recent();
        if limiter.len() >= Throttle::PRUNE_AT {
            tracing::warn!(
                keys = limiter.len(),
                "sign-in throttle full of active keys; forgetting them"
            );
            *limiter = RateLimiter::keyed(self.quota);
        }
        limiter.shrink_to_fit();
    }

    fn len(&self) -> usize {
        self.limiter.read().map(|l| l.len()).unwrap_or(0)
    }
}

/// A user name as it may appear in a log line or the audit log when nobody has that name: at
/// most 64 characters, control characters replaced. An unknown name may be anything an
/// attacker typed.
pub fn loggable_name(name: &str) -> String {
    const MAX: usize = 64;
    let mut out: String = name
        .chars()
        .take(MAX)
        .map(|c| if c.is_control() { '?' } else { c })
        .collect();
    if name.chars().count() > MAX {
        out.push('…');
    }
    out
}

impl Default for Throttle {
    fn default() -> Self {
        Throttle::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn store_at(path: &std::path::Path) -> Store {
        let keys = {
            use secrecy::ExposeSecret as _;
            let key = crate::secrets::generate_key_text();
            crate::secrets::Keyring::from_key_text(key.expose_secret()).unwrap()
        };
        let url = format!("sqlite://{}", path.display());
        Store::open(&url, "/ConMasManager", keys).await.unwrap()
    }

    async fn allowed(t: &Throttle, store: &Store, account: &str, ip: IpAddr) -> bool {
        t.address_allows(ip)
            && t.attempt(store, account, ip).await.unwrap()
                == Attempt::Check {
                    account_busy: false,
                }
    }

    #[tokio::test]
    async fn throttle_blocks_an_account_from_one_address_after_a_burst() {
        let dir = tempfile::tempdir().unwrap();
        let store = store_at(&dir.path().join("t.db")).await;
        let t = Throttle::new();
        let ip: IpAddr = "192.0.2.1".parse().unwrap();
        let mut passed = 0;
        for _ in 0..15 {
            passed += usize::from(allowed(&t, &store, "Admin", ip).await);
        }
        assert_eq!(passed, 10);
        // The same account from another address, another account: not affected.
        assert!(allowed(&t, &store, "admin", "192.0.2.2".parse().unwrap()).await);
        assert!(allowed(&t, &store, "other", ip).await);
    }

    #[tokio::test]
    async fn an_address_over_its_limit_adds_no_keys() {
        let dir = tempfile::tempdir().unwrap();
        let store = store_at(&dir.path().join("t.db")).await;
        let t = Throttle::new();
        let ip: IpAddr = "192.0.2.1".parse().unwrap();
        for n in 0..1000 {
            if t.address_allows(ip) {
                let _ = t.attempt(&store, &format!("user{n}"), ip).await.unwrap();
            }
        }
        // In memory one address; in the database 20 pairs + 20 accounts, not 1000 of each.
        assert_eq!(t.tracked_keys(), 1);
        let rows: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM throttle")
            .fetch_one(store.pool())
            .await
            .unwrap();
        assert_eq!(rows, 40);
    }

    /// Two server processes (two stores on one database, two throttles) share one budget.
    #[tokio::test]
    async fn two_processes_share_the_account_limits() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.db");
        let (a, b) = (store_at(&path).await, store_at(&path).await);
        let (ta, tb) = (Throttle::new(), Throttle::new());
        let ip: IpAddr = "192.0.2.1".parse().unwrap();
        for _ in 0..5 {
            assert!(allowed(&ta, &a, "admin", ip).await);
            assert!(allowed(&tb, &b, "admin", ip).await);
        }
        assert!(!allowed(&ta, &a, "admin", ip).await, "11th try on one");
        assert!(
            !allowed(&tb, &b, "admin", ip).await,
            "11th try on the other"
        );
        ta.failed(&a, ip).await.unwrap();
        assert!(tb.failed_recently(&b, ip).await.unwrap());
        assert!(
            !tb.failed_recently(&b, "192.0.2.9".parse().unwrap())
                .await
                .unwrap()
        );
    }

    /// The shared limiter is a GCRA: a burst, then one try per interval, never two at once.
    #[tokio::test]
    async fn the_shared_limiter_refills_one_try_per_interval() {
        let dir = tempfile::tempdir().unwrap();
        let store = store_at(&dir.path().join("t.db")).await;
        let take = |at: i64| store.throttle_take("k", at, 1_000, 3);
        for _ in 0..3 {
            assert!(take(10_000).await.unwrap());
        }
        assert!(!take(10_000).await.unwrap());
        assert!(!take(10_999).await.unwrap());
        assert!(take(11_000).await.unwrap());
        assert!(!take(11_000).await.unwrap());
        // Long unused: back to the full burst, not more.
        for _ in 0..3 {
            assert!(take(60_000).await.unwrap());
        }
        assert!(!take(60_000).await.unwrap());
        assert_eq!(store.purge_throttle(70_000, 100).await.unwrap(), 1);
    }

    #[test]
    fn ipv6_clients_are_throttled_by_their_64_prefix() {
        let a: IpAddr = "2001:db8:1:2:aaaa::1".parse().unwrap();
        let b: IpAddr = "2001:db8:1:2:bbbb::2".parse().unwrap();
        assert_eq!(Throttle::client_key(a), Throttle::client_key(b));
        let mapped: IpAddr = "::ffff:192.0.2.7".parse().unwrap();
        assert_eq!(
            Throttle::client_key(mapped),
            "192.0.2.7".parse::<IpAddr>().unwrap()
        );
    }

    #[test]
    fn unknown_names_are_logged_short_and_safe() {
        assert_eq!(loggable_name("admin"), "admin");
        let long = "x".repeat(50_000);
        assert_eq!(loggable_name(&long).chars().count(), 65);
        assert_eq!(loggable_name("a\r\nb\u{1b}"), "a??b?");
    }
}
