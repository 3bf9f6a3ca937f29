//! Configuration from the environment (12-factor), with documented defaults.

use anyhow::{Context, bail};
use std::net::{IpAddr, SocketAddr};

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
}

pub const DEFAULT_BASE_PATH: &str = "/ConMasManager";
pub const DEFAULT_DATABASE_URL: &str = "sqlite://data/mail-settings.db";

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
        Ok(Config {
            site_addr,
            database_url: var("DATABASE_URL").unwrap_or_else(|| DEFAULT_DATABASE_URL.into()),
            base_path: parse_base_path(
                &var("BASE_PATH").unwrap_or_else(|| DEFAULT_BASE_PATH.into()),
            )?,
            server_ip,
            site_root: var("LEPTOS_SITE_ROOT").unwrap_or_else(|| "target/site".into()),
            site_pkg_dir: var("LEPTOS_SITE_PKG_DIR").unwrap_or_else(|| "pkg".into()),
            output_name: var("LEPTOS_OUTPUT_NAME").unwrap_or_else(|| "mail-settings".into()),
        })
    }
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
}
