//! The sign-in throttle: per address, per account and address, per account; bounded memory.

use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};
use std::net::IpAddr;
use std::num::NonZeroU32;
use std::sync::Mutex;
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
/// Every map is bounded: past [`Throttle::PRUNE_AT`] keys, the ones back at a full burst are
/// dropped, and if an attacker with very many addresses still keeps it full, it is cleared
/// (which only forgets throttling state, never lets a wrong password in).
pub struct Throttle {
    per_address: Bounded<IpAddr>,
    per_pair: Bounded<(String, IpAddr)>,
    per_account: Bounded<String>,
    /// One `login_throttled` audit row a minute per address.
    audit_throttled: Bounded<IpAddr>,
    /// When each address last failed a sign-in.
    failures: Mutex<std::collections::HashMap<IpAddr, std::time::Instant>>,
}

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
    const FAILURE_MEMORY: Duration = Duration::from_secs(15 * 60);

    pub fn new() -> Throttle {
        let nz = |n: u32| NonZeroU32::new(n).expect("non-zero");
        Throttle {
            per_address: Bounded::new(
                Quota::with_period(Duration::from_secs(15))
                    .expect("non-zero period")
                    .allow_burst(nz(20)),
            ),
            per_pair: Bounded::new(Quota::per_minute(nz(1)).allow_burst(nz(10))),
            per_account: Bounded::new(Quota::per_minute(nz(1)).allow_burst(nz(30))),
            audit_throttled: Bounded::new(Quota::per_minute(nz(1))),
            failures: Mutex::new(std::collections::HashMap::new()),
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

    /// The account limits, for an address within its own limit. `account` is the user name as
    /// typed, already length-checked.
    pub fn attempt(&self, account: &str, address: IpAddr) -> Attempt {
        let account = account.to_lowercase();
        if !self.per_pair.check(&(account.clone(), address)) {
            return Attempt::Refused;
        }
        Attempt::Check {
            account_busy: !self.per_account.check(&account),
        }
    }

    /// Records a failed password from `address`.
    pub fn failed(&self, address: IpAddr) {
        let now = std::time::Instant::now();
        let mut failures = self.failures.lock().unwrap_or_else(|e| e.into_inner());
        if failures.len() >= Self::PRUNE_AT {
            failures.retain(|_, at| now.duration_since(*at) < Self::FAILURE_MEMORY);
            if failures.len() >= Self::PRUNE_AT {
                failures.clear();
            }
        }
        failures.insert(address, now);
    }

    /// True when `address` failed a sign-in within the last 15 minutes.
    pub fn failed_recently(&self, address: IpAddr) -> bool {
        let failures = self.failures.lock().unwrap_or_else(|e| e.into_inner());
        failures
            .get(&address)
            .is_some_and(|at| at.elapsed() < Self::FAILURE_MEMORY)
    }

    /// True at most once a minute per address: whether to write a `login_throttled` row.
    pub fn audit_throttled(&self, address: IpAddr) -> bool {
        self.audit_throttled.check(&address)
    }

    /// Keys held over all maps (for the flood tests and the health report).
    pub fn tracked_keys(&self) -> usize {
        self.per_address.len()
            + self.per_pair.len()
            + self.per_account.len()
            + self.audit_throttled.len()
            + self.failures.lock().map(|f| f.len()).unwrap_or(0)
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

    fn allowed(t: &Throttle, account: &str, ip: IpAddr) -> bool {
        t.address_allows(ip)
            && t.attempt(account, ip)
                == Attempt::Check {
                    account_busy: false,
                }
    }

    #[test]
    fn throttle_blocks_an_account_from_one_address_after_a_burst() {
        let t = Throttle::new();
        let ip: IpAddr = "192.0.2.1".parse().unwrap();
        let passed = (0..15).filter(|_| allowed(&t, "Admin", ip)).count();
        assert_eq!(passed, 10);
        // The same account from another address, another account: not affected.
        assert!(allowed(&t, "admin", "192.0.2.2".parse().unwrap()));
        assert!(allowed(&t, "other", ip));
    }

    #[test]
    fn an_address_over_its_limit_adds_no_keys() {
        let t = Throttle::new();
        let ip: IpAddr = "192.0.2.1".parse().unwrap();
        for n in 0..1000 {
            if t.address_allows(ip) {
                let _ = t.attempt(&format!("user{n}"), ip);
            }
        }
        // 1 address + 20 pairs + 20 accounts, not 1000 of each.
        assert_eq!(t.tracked_keys(), 41);
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
