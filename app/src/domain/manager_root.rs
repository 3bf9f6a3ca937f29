//! ManagerRoot: the console's public base URL, used for links in mail (`rep_url`) and for the
//! OAuth redirect URIs. `{0}` may stand for the host and is replaced by the server's IP address.

use super::web_url::WebUrl;
use super::{ErrorCode, NoticeCode, Provider};
use std::net::IpAddr;

const PLACEHOLDER: &str = "{0}";
/// Longest `rep_path` accepted for `{rep_url}`.
pub const REP_PATH_MAX: usize = 2048;
/// Stands in for `{0}` while the URL is checked; `.invalid` can never be a real host (RFC 2606).
const PLACEHOLDER_HOST: &str = "server-ip.invalid";

/// A checked ManagerRoot, as typed (with `{0}` kept).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ManagerRoot {
    raw: String,
    url: WebUrl,
    uses_placeholder: bool,
}

impl ManagerRoot {
    pub fn parse(input: &str) -> Result<ManagerRoot, ErrorCode> {
        let raw = input.trim();
        if raw.is_empty() {
            return Err(ErrorCode::ManagerRootRequired);
        }
        let lower = raw.to_ascii_lowercase();
        let rest = if lower.starts_with("http://") {
            &raw[7..]
        } else if lower.starts_with("https://") {
            &raw[8..]
        } else {
            return Err(ErrorCode::ManagerRootScheme);
        };
        if raw.contains('?') || raw.contains('#') {
            return Err(ErrorCode::ManagerRootQueryFragment);
        }
        let (authority, path) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
        if authority.contains('@') {
            return Err(ErrorCode::ManagerRootCredentials);
        }
        // `{0}` is allowed only as the whole host, with or without a port after it.
        let host_part = match authority.rfind(':') {
            Some(i) if !authority.ends_with(']') => &authority[..i],
            _ => authority,
        };
        let uses_placeholder = host_part == PLACEHOLDER;
        let placeholders = raw.matches(PLACEHOLDER).count();
        if placeholders > usize::from(uses_placeholder) || path.contains(['{', '}']) {
            return Err(ErrorCode::ManagerRootPlaceholderPosition);
        }
        if !uses_placeholder && authority.contains(['{', '}']) {
            return Err(ErrorCode::ManagerRootPlaceholderPosition);
        }
        // Characters the URL standard forbids in a host, refused here so that the verdict does
        // not depend on the parser: Chromium's `URL` escapes a space in a host (`exa%20mple`)
        // where the standard and the server's parser refuse it.
        if !uses_placeholder && host_part.chars().any(forbidden_in_host) {
            return Err(ErrorCode::ManagerRootInvalid);
        }
        let checked = raw.replacen(PLACEHOLDER, PLACEHOLDER_HOST, 1);
        let url = WebUrl::parse(&checked).ok_or(ErrorCode::ManagerRootInvalid)?;
        if authority.is_empty() {
            return Err(ErrorCode::ManagerRootInvalid);
        }
        Ok(ManagerRoot {
            raw: raw.to_string(),
            url,
            uses_placeholder,
        })
    }

    pub fn as_str(&self) -> &str {
        &self.raw
    }

    pub fn uses_placeholder(&self) -> bool {
        self.uses_placeholder
    }

    /// The URL with `{0}` replaced by the server's address (IPv6 in brackets). Without a known
    /// address `{0}` stays in place.
    pub fn resolve(&self, server_ip: Option<IpAddr>) -> String {
        match (self.uses_placeholder, server_ip) {
            (true, Some(IpAddr::V4(ip))) => self.raw.replacen(PLACEHOLDER, &ip.to_string(), 1),
            (true, Some(IpAddr::V6(ip))) => self.raw.replacen(PLACEHOLDER, &format!("[{ip}]"), 1),
            _ => self.raw.clone(),
        }
    }

    /// The link to a report (`{rep_url}`): ManagerRoot plus the submitter's `rep_path`. `None`
    /// when the path could lead anywhere else: it must be empty or start with `/`, `?` or `#`
    /// (not `//`), hold no spaces, control characters or backslashes, stay within
    /// [`REP_PATH_MAX`] bytes, and the result must name ManagerRoot's own scheme, host and port
    /// (`http://{0}` + `@evil.example/` would otherwise be a link to evil.example).
    pub fn report_url(&self, server_ip: Option<IpAddr>, rep_path: &str) -> Option<String> {
        let resolved = self.resolve(server_ip);
        let root = resolved.trim_end_matches('/');
        if rep_path.is_empty() {
            return Some(root.to_string());
        }
        let starts_well = rep_path.starts_with(['/', '?', '#']) && !rep_path.starts_with("//");
        let clean = rep_path.len() <= REP_PATH_MAX
            && !rep_path
                .chars()
                .any(|c| c.is_control() || c.is_whitespace() || c == '\\');
        if !starts_well || !clean {
            return None;
        }
        let joined = format!("{root}{rep_path}");
        match (WebUrl::parse(root), WebUrl::parse(&joined)) {
            (Some(a), Some(b)) => a.same_origin(&b).then_some(joined),
            // `{0}` left unresolved (no server address known): the checks above keep the host.
            (None, _) => Some(joined),
            (Some(_), None) => None,
        }
    }

    /// The redirect URI to register at the provider: ManagerRoot plus the callback path.
    pub fn redirect_uri(&self, provider: Provider, server_ip: Option<IpAddr>) -> String {
        let root = self.resolve(server_ip);
        format!("{}{}", root.trim_end_matches('/'), provider.callback_path())
    }

    /// What the provider will think of the redirect URI built from this ManagerRoot.
    pub fn redirect_check(&self, provider: Provider, server_ip: Option<IpAddr>) -> RedirectCheck {
        let ip: Option<IpAddr> = if self.uses_placeholder {
            server_ip
        } else {
            self.url.ip()
        };
        let is_localhost = match ip {
            Some(ip) => ip.is_loopback(),
            None => self.url.host.eq_ignore_ascii_case("localhost"),
        };
        let is_ip = ip.is_some() || self.uses_placeholder;
        RedirectCheck {
            https_required: self.url.scheme == "http" && !is_localhost,
            ip_not_allowed: provider == Provider::Google && is_ip && !is_localhost,
            private_address: ip.is_some_and(|ip| !is_publicly_routable(ip)) && !is_localhost,
        }
    }
}

/// Problems a provider would have with a redirect URI.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RedirectCheck {
    pub https_required: bool,
    pub ip_not_allowed: bool,
    pub private_address: bool,
}

impl RedirectCheck {
    pub fn problems(self) -> Vec<NoticeCode> {
        let mut out = Vec::new();
        if self.https_required {
            out.push(NoticeCode::RedirectHttpsRequired);
        }
        if self.ip_not_allowed {
            out.push(NoticeCode::RedirectIpNotAllowed);
        }
        if self.private_address {
            out.push(NoticeCode::RedirectPrivateAddress);
        }
        out
    }

    pub fn is_ok(self) -> bool {
        self == RedirectCheck::default()
    }
}

/// The URL standard's forbidden domain code points, less `[`, `]` and `:` (an IPv6 address in
/// brackets), plus `%` (a percent-encoded host has no place in a console's address).
fn forbidden_in_host(c: char) -> bool {
    c.is_control()
        || matches!(
            c,
            ' ' | '#' | '/' | '<' | '>' | '?' | '@' | '\\' | '^' | '|' | '%'
        )
}

/// Whether browsers elsewhere could reach the address: not private, loopback, link-local,
/// shared (CGNAT) or unique-local.
fn is_publicly_routable(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => {
            let [a, b, ..] = v4.octets();
            !(v4.is_private()
                || v4.is_loopback()
                || v4.is_link_local()
                || v4.is_unspecified()
                || (a == 100 && (64..128).contains(&b)))
        }
        IpAddr::V6(v6) => {
            let first = v6.segments()[0];
            !(v6.is_loopback()
                || v6.is_unspecified()
                || (first & 0xfe00) == 0xfc00
                || (first & 0xffc0) == 0xfe80)
        }
    }
}
