//! The SMTP server: a DNS host name or an IP address, nothing else (no scheme, port or spaces).

use super::mailbox::is_ldh_label;
use super::{ErrorCode, NoticeCode};
use std::net::IpAddr;

const MAX_HOST: usize = 253;

/// A host the SMTP transport can connect to.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Host {
    Domain(String),
    Ip(IpAddr),
}

impl Host {
    pub fn parse(input: &str) -> Result<Host, ErrorCode> {
        let s = input.trim();
        if s.is_empty() {
            return Err(ErrorCode::ServerRequired);
        }
        if s.contains("://") || s.contains('/') {
            return Err(ErrorCode::ServerHasScheme);
        }
        if s.chars().any(char::is_whitespace) {
            return Err(ErrorCode::ServerHasSpace);
        }
        // An IPv6 address, bare or in brackets.
        let unbracketed = s.strip_prefix('[').and_then(|r| r.strip_suffix(']'));
        if let Ok(ip) = unbracketed.unwrap_or(s).parse::<IpAddr>() {
            return Ok(Host::Ip(ip));
        }
        if s.contains(':') {
            return Err(ErrorCode::ServerHasPort);
        }
        let name = s.strip_suffix('.').unwrap_or(s);
        if name.len() > MAX_HOST {
            return Err(ErrorCode::ServerTooLong);
        }
        let labels: Vec<&str> = name.split('.').collect();
        if !labels.iter().all(|l| is_ldh_label(l)) {
            return Err(ErrorCode::ServerInvalid);
        }
        // No top-level domain is numeric: "300.1.2.3" is a mistyped IP, not a name.
        if labels.len() > 1
            && labels
                .last()
                .is_some_and(|l| l.bytes().all(|b| b.is_ascii_digit()))
        {
            return Err(ErrorCode::ServerInvalid);
        }
        Ok(Host::Domain(name.to_ascii_lowercase()))
    }
}

impl std::fmt::Display for Host {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Host::Domain(d) => f.write_str(d),
            Host::Ip(ip) => write!(f, "{ip}"),
        }
    }
}

/// Microsoft and Google SMTP hosts, whose SMTP AUTH with a password is being retired.
pub(crate) fn deprecated_smtp_auth_host(server: &str) -> Option<NoticeCode> {
    let host = server.trim().trim_end_matches('.').to_ascii_lowercase();
    const MICROSOFT: [&str; 4] = [
        "smtp.office365.com",
        "smtp-mail.outlook.com",
        "smtp.outlook.com",
        "outlook.office365.com",
    ];
    const GOOGLE: [&str; 3] = [
        "smtp.gmail.com",
        "smtp.googlemail.com",
        "smtp-relay.gmail.com",
    ];
    if MICROSOFT.contains(&host.as_str()) || host.ends_with(".mail.protection.outlook.com") {
        Some(NoticeCode::SmtpAuthDeprecatedMicrosoft)
    } else if GOOGLE.contains(&host.as_str()) {
        Some(NoticeCode::SmtpAuthDeprecatedGoogle)
    } else {
        None
    }
}
