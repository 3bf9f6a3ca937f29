//! Configuration from the environment (12-factor), with documented defaults.

mod providers;
use crate::secrets::KeySource;
use anyhow::{Context, bail};
pub use providers::ProviderEndpoints;
use secrecy::SecretString;
use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::time::Duration;

/// Settings of one server process.
#[derive(Clone, Debug)]
pub struct Config {
    /// `LEPTOS_SITE_ADDR`, default `127.0.0.1:3000`.
    pub site_addr: SocketAddr,
    /// `DATABASE_URL`, default `sqlite://data/mail-settings.db` (created on first run).
    pub database_url: String,
    /// `BASE_PATH`, default `/ConMasManager`.
    pub base_path: String,
    /// `SERVER_IP`: the address `{0}` in ManagerRoot stands for; detected when unset.
    pub server_ip: Option<IpAddr>,
    /// `LEPTOS_SITE_ROOT` (default `target/site`) and `LEPTOS_SITE_PKG_DIR` (default `pkg`):
    /// where the built browser bundle is served from.
    pub site_root: String,
    pub site_pkg_dir: String,
    /// `LEPTOS_OUTPUT_NAME`, default `mail-settings`: the bundle's file names.
    pub output_name: String,
    /// `LEPTOS_HASH_FILES` (`true`/`false`): the bundle's file names carry a content hash,
    /// listed in `hash.txt` beside the server binary (cargo-leptos `hash-files`). Default: on
    /// when that file is there. Hashed files are served as immutable.
    pub hash_files: bool,
    /// `MAIL_SECRET_KEY` (+ `MAIL_SECRET_KEY_PREVIOUS`), or the key file `MAIL_SECRET_KEY_FILE`
    /// (default `data/secret.key`, created 0600 on first run).
    pub secret_key: KeySource,
    /// `PUBLIC_ORIGIN`: the address(es) administrators open, comma-separated, such as
    /// `https://reports.example.co.jp`. Needed behind a proxy that rewrites `Host`; an `https`
    /// origin also marks the session cookie `Secure`.
    pub public_origins: Vec<String>,
    /// `COOKIE_SECURE` (`true`/`false`); default: true when a `PUBLIC_ORIGIN` is https.
    pub cookie_secure: bool,
    /// `ADMIN_USER` (default `admin`) and `ADMIN_PASSWORD`: the first administrator, created
    /// at start-up when none exists.
    pub admin: Option<(String, SecretString)>,
    /// `SESSION_IDLE_MINUTES` (default 30) and `SESSION_MAX_HOURS` (default 8).
    pub session_idle: Duration,
    pub session_max: Duration,
    /// Where the OAuth providers and mail APIs are (national clouds; local fakes in tests).
    pub providers: ProviderEndpoints,
    /// `SMTP_CA_FILE`: PEM certificates trusted for SMTP STARTTLS besides the public roots (a
    /// company CA, or the tests' throwaway certificate).
    pub smtp_ca_file: Option<PathBuf>,
    /// `SMTP_TIMEOUT_SECONDS` (default 30): how long one SMTP step may wait for the server.
    pub smtp_timeout: Duration,
    /// `TIME_ZONE_OFFSET` (default `+09:00`): the offset `{sys_date}` and `{sys_datetime}` are
    /// written in.
    pub time_offset: time::UtcOffset,
    /// `SMTP_POOL_SIZE` (default 4): idle SMTP connections kept for the next notification;
    /// 0 opens a new connection for every mail.
    pub smtp_pool_size: usize,
    /// The delivery worker's timing (retries, lease); tests shorten it.
    pub worker: WorkerConfig,
    /// The alert sender's timing (poll, retries); tests shorten it.
    pub alerts: crate::service::alerts::AlertConfig,
    /// `HTTP_HEADER_TIMEOUT_SECONDS`, `HTTP_REQUEST_TIMEOUT_SECONDS`, `HTTP_MAX_CONNECTIONS`,
    /// `HTTP_CONNECTION_LIFETIME_SECONDS`: see [`HttpLimits`].
    pub http: HttpLimits,
    /// `NOTIFY_RATE_PER_SECOND` (default 20) and `NOTIFY_BURST` (default 200): notifications
    /// one API token may submit; more get 429 with `Retry-After`.
    pub notify_rate: NotifyRate,
    /// `RETENTION_NOTIFICATIONS_DAYS` (default 90) and `RETENTION_AUDIT_DAYS` (default 365):
    /// how long finished notifications and audit entries are kept.
    pub retention: Retention,
}

/// The per-token submission limit of the notification API (GCRA: a burst, then a steady rate).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct NotifyRate {
    pub per_second: u32,
    pub burst: u32,
}

impl Default for NotifyRate {
    fn default() -> Self {
        NotifyRate {
            per_second: 20,
            burst: 200,
        }
    }
}

pub const DEFAULT_BASE_PATH: &str = "/ConMasManager";
pub const DEFAULT_DATABASE_URL: &str = "sqlite://data/mail-settings.db";
pub const DEFAULT_KEY_FILE: &str = "data/secret.key";

/// `https://host[:port]` entries, comma-separated; no path.
pub fn parse_origins(raw: &str) -> anyhow::Result<Vec<String>> {
    raw.split(',')
        .map(str::trim)
        .filter(|o| !o.is_empty())
        .map(|o| {
            let o = o.trim_end_matches('/');
            let rest = o
                .strip_prefix("https://")
                .or_else(|| o.strip_prefix("http://"));
            match rest {
                Some(r) if !r.is_empty() && !r.contains('/') => Ok(o.to_string()),
                _ => {
                    bail!("PUBLIC_ORIGIN must look like https://reports.example.co.jp (got {o:?})")
                }
            }
        })
        .collect()
}

impl Config {
    pub fn from_env() -> anyhow::Result<Config> {
        let var = |name: &str| std::env::var(name).ok().filter(|v| !v.trim().is_empty());
        let site_addr = var("LEPTOS_SITE_ADDR")
            .unwrap_or_else(|| "127.0.0.1:3000".into())
            .parse()
            .context("LEPTOS_SITE_ADDR must be an address such as 127.0.0.1:3000")?;
        let server_ip = match var("SERVER_IP") {
            Some(ip) => Some(
                ip.parse()
                    .context("SERVER_IP must be an IPv4 or IPv6 address")?,
            ),
            None => detect_server_ip(),
        };
        let secret_key = match var("MAIL_SECRET_KEY") {
            Some(current) => KeySource::Env {
                current: SecretString::from(current),
                previous: var("MAIL_SECRET_KEY_PREVIOUS").map(SecretString::from),
            },
            None => KeySource::File(PathBuf::from(
                var("MAIL_SECRET_KEY_FILE").unwrap_or_else(|| DEFAULT_KEY_FILE.into()),
            )),
        };
        let public_origins = parse_origins(&var("PUBLIC_ORIGIN").unwrap_or_default())?;
        let cookie_secure = match var("COOKIE_SECURE").as_deref() {
            Some("true" | "1") => true,
            Some("false" | "0") => false,
            Some(other) => bail!("COOKIE_SECURE must be true or false (got {other:?})"),
            None => public_origins.iter().any(|o| o.starts_with("https://")),
        };
        let admin = var("ADMIN_PASSWORD").map(|p| {
            (
                var("ADMIN_USER").unwrap_or_else(|| "admin".into()),
                SecretString::from(p),
            )
        });
        let minutes =
            |name: &str, default: u64| -> anyhow::Result<u64> {
                match var(name) {
                    Some(v) => v.parse::<u64>().ok().filter(|n| *n > 0).with_context(|| {
                        format!("{name} must be a whole number above 0 (got {v:?})")
                    }),
                    None => Ok(default),
                }
            };
        // A whole number in `range`, or `default` when the variable is unset.
        fn within_range<T>(
            var: impl Fn(&str) -> Option<String>,
            name: &str,
            default: T,
            range: std::ops::RangeInclusive<T>,
        ) -> anyhow::Result<T>
        where
            T: std::str::FromStr + PartialOrd + std::fmt::Display,
        {
            match var(name) {
                Some(v) => v
                    .trim()
                    .parse::<T>()
                    .ok()
                    .filter(|n| range.contains(n))
                    .with_context(|| {
                        format!(
                            "{name} must be a whole number from {} to {} (got {v:?})",
                            range.start(),
                            range.end()
                        )
                    }),
                None => Ok(default),
            }
        }
        Ok(Config {
            providers: ProviderEndpoints::from_env(var)?,
            smtp_ca_file: var("SMTP_CA_FILE").map(PathBuf::from),
            smtp_timeout: Duration::from_secs(minutes("SMTP_TIMEOUT_SECONDS", 30)?),
            worker: WorkerConfig::default(),
            alerts: crate::service::alerts::AlertConfig::default(),
            notify_rate: {
                let d = NotifyRate::default();
                NotifyRate {
                    per_second: within_range(
                        var,
                        "NOTIFY_RATE_PER_SECOND",
                        d.per_second,
                        1..=1_000_000,
                    )?,
                    burst: within_range(var, "NOTIFY_BURST", d.burst, 1..=1_000_000)?,
                }
            },
            retention: {
                let d = Retention::default();
                Retention {
                    notifications_days: within_range(
                        var,
                        "RETENTION_NOTIFICATIONS_DAYS",
                        d.notifications_days,
                        1..=36_500,
                    )?,
                    audit_days: within_range(
                        var,
                        "RETENTION_AUDIT_DAYS",
                        d.audit_days,
                        1..=36_500,
                    )?,
                    ..d
                }
            },
            http: {
                let d = HttpLimits::default();
                let secs = |name: &str, default: Duration| -> anyhow::Result<Duration> {
                    within_range(var, name, default.as_secs(), 1..=86_400).map(Duration::from_secs)
                };
                HttpLimits {
                    header_read: secs("HTTP_HEADER_TIMEOUT_SECONDS", d.header_read)?,
                    request: secs("HTTP_REQUEST_TIMEOUT_SECONDS", d.request)?,
                    connection_lifetime: secs(
                        "HTTP_CONNECTION_LIFETIME_SECONDS",
                        d.connection_lifetime,
                    )?,
                    max_connections: within_range(
                        var,
                        "HTTP_MAX_CONNECTIONS",
                        d.max_connections,
                        1..=100_000,
                    )?,
                }
            },
            smtp_pool_size: match var("SMTP_POOL_SIZE") {
                Some(v) => v.parse().ok().filter(|n| *n <= 64).with_context(|| {
                    format!("SMTP_POOL_SIZE must be a whole number from 0 to 64 (got {v:?})")
                })?,
                None => 4,
            },
            time_offset: parse_offset(&var("TIME_ZONE_OFFSET").unwrap_or_else(|| "+09:00".into()))?,
            secret_key,
            public_origins,
            cookie_secure,
            admin,
            session_idle: Duration::from_secs(60 * minutes("SESSION_IDLE_MINUTES", 30)?),
            session_max: Duration::from_secs(3600 * minutes("SESSION_MAX_HOURS", 8)?),
            site_addr,
            database_url: var("DATABASE_URL").unwrap_or_else(|| DEFAULT_DATABASE_URL.into()),
            base_path: parse_base_path(
                &var("BASE_PATH").unwrap_or_else(|| DEFAULT_BASE_PATH.into()),
            )?,
            server_ip,
            site_root: var("LEPTOS_SITE_ROOT").unwrap_or_else(|| "target/site".into()),
            site_pkg_dir: var("LEPTOS_SITE_PKG_DIR").unwrap_or_else(|| "pkg".into()),
            output_name: var("LEPTOS_OUTPUT_NAME").unwrap_or_else(|| "mail-settings".into()),
            hash_files: match var("LEPTOS_HASH_FILES") {
                Some(v) => v.trim().parse().with_context(|| {
                    format!("LEPTOS_HASH_FILES must be true or false (got {v:?})")
                })?,
                None => hash_file_beside_binary(),
            },
        })
    }
}

/// True when cargo-leptos wrote `hash.txt` beside this binary: the bundle it built has
/// hashed file names, and Leptos reads them from there.
fn hash_file_beside_binary() -> bool {
    std::env::current_exe()
        .ok()
        .and_then(|exe| exe.parent().map(|dir| dir.join("hash.txt")))
        .is_some_and(|file| file.is_file())
}

/// `+09:00`, `-05:30`, `Z`.
pub fn parse_offset(raw: &str) -> anyhow::Result<time::UtcOffset> {
    let t = raw.trim();
    if t == "Z" || t == "+00:00" {
        return Ok(time::UtcOffset::UTC);
    }
    let sign = match t.as_bytes().first() {
        Some(b'+') => 1,
        Some(b'-') => -1,
        _ => bail!("TIME_ZONE_OFFSET must look like +09:00 (got {raw:?})"),
    };
    let (h, m) = t[1..]
        .split_once(':')
        .and_then(|(h, m)| Some((h.parse::<i8>().ok()?, m.parse::<i8>().ok()?)))
        .with_context(|| format!("TIME_ZONE_OFFSET must look like +09:00 (got {raw:?})"))?;
    time::UtcOffset::from_hms(sign * h, sign * m, 0)
        .with_context(|| format!("TIME_ZONE_OFFSET is out of range (got {raw:?})"))
}

/// `/ConMasManager0001`: one or more path segments of letters, digits, `-`, `_` and `.`.
pub fn parse_base_path(raw: &str) -> anyhow::Result<String> {
    let trimmed = raw.trim().trim_end_matches('/');
    let ok = trimmed.starts_with('/')
        && trimmed[1..].split('/').all(|seg| {
            !seg.is_empty()
                && seg
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b))
        });
    if !ok {
        bail!("BASE_PATH must look like /ConMasManager (got {raw:?})");
    }
    Ok(trimmed.to_string())
}

/// The machine's primary address, from its network interfaces (no traffic is sent).
fn detect_server_ip() -> Option<IpAddr> {
    match local_ip_address::local_ip() {
        Ok(ip) => Some(ip),
        Err(e) => {
            tracing::warn!(error = %e, "could not detect the server's IP address; set SERVER_IP");
            None
        }
    }
}

/// The delivery worker's timing (retries, lease); tests shorten it.
#[derive(Clone, Debug)]
pub struct WorkerConfig {
    /// How long a claimed notification stays claimed; after that (a crash) it is due again.
    pub lease: Duration,
    /// Notifications taken per round.
    pub batch: i64,
    /// Attempts before a retryable failure is given up.
    pub max_attempts: i64,
    /// First retry delay; doubled per attempt up to `max_backoff`, with ±20 % jitter.
    pub base_backoff: Duration,
    pub max_backoff: Duration,
    /// Longest sleep when nothing is due (new submissions wake the worker at once).
    pub idle: Duration,
    /// The short window of the sending limits ("a minute"; tests shorten it).
    pub limit_minute: Duration,
}

impl Default for WorkerConfig {
    fn default() -> Self {
        WorkerConfig {
            lease: Duration::from_secs(300),
            batch: 50,
            max_attempts: 10,
            base_backoff: Duration::from_secs(30),
            max_backoff: Duration::from_secs(3600),
            idle: Duration::from_secs(5),
            limit_minute: Duration::from_secs(60),
        }
    }
}

/// The server's connection limits (`HTTP_*` settings in [`Config`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HttpLimits {
    /// `HTTP_HEADER_TIMEOUT_SECONDS` (default 10).
    pub header_read: Duration,
    /// `HTTP_REQUEST_TIMEOUT_SECONDS` (default 180: a test mail may wait on several SMTP steps).
    pub request: Duration,
    /// `HTTP_MAX_CONNECTIONS` (default 512).
    pub max_connections: usize,
    /// `HTTP_CONNECTION_LIFETIME_SECONDS` (default 300).
    pub connection_lifetime: Duration,
}

impl Default for HttpLimits {
    fn default() -> Self {
        HttpLimits {
            header_read: Duration::from_secs(10),
            request: Duration::from_secs(180),
            max_connections: 512,
            connection_lifetime: Duration::from_secs(300),
        }
    }
}

/// `RETENTION_NOTIFICATIONS_DAYS` (default 90), `RETENTION_AUDIT_DAYS` (default 365).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Retention {
    /// Sent, failed and cancelled notifications older than this are deleted; queued and
    /// retrying ones never are.
    pub notifications_days: u32,
    pub audit_days: u32,
    /// Rows deleted per statement.
    pub batch: u32,
    /// Time between two purges.
    pub every: Duration,
}

impl Default for Retention {
    fn default() -> Self {
        Retention {
            notifications_days: 90,
            audit_days: 365,
            batch: 500,
            every: Duration::from_secs(3600),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base_paths() {
        assert_eq!(parse_base_path("/ConMasManager").unwrap(), "/ConMasManager");
        assert_eq!(
            parse_base_path("/ConMasManager0001/").unwrap(),
            "/ConMasManager0001"
        );
        assert!(parse_base_path("ConMasManager").is_err());
        assert!(parse_base_path("/").is_err());
        assert!(parse_base_path("/a b").is_err());
        assert!(parse_base_path("/a//b").is_err());
    }

    #[test]
    fn origins() {
        assert_eq!(
            parse_origins(" https://a.example/ , http://b.example:8080").unwrap(),
            vec!["https://a.example", "http://b.example:8080"]
        );
        assert!(parse_origins("").unwrap().is_empty());
        assert!(parse_origins("a.example").is_err());
        assert!(parse_origins("https://a.example/path").is_err());
    }
}
