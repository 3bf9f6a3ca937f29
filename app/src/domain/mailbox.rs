//! The RFC 5321 `Mailbox` (§4.1.2), written as a small recursive-descent parser over the ABNF:
//!
//! ```text
//! Mailbox       = Local-part "@" ( Domain / address-literal )
//! Local-part    = Dot-string / Quoted-string
//! Dot-string    = Atom *("." Atom)            Atom = 1*atext
//! Quoted-string = DQUOTE *QcontentSMTP DQUOTE
//! Domain        = sub-domain *("." sub-domain)
//! sub-domain    = Let-dig [Ldh-str]
//! address-literal = "[" ( IPv4-address-literal / IPv6-address-literal ) "]"
//! ```
//!
//! Plain ASCII only (no SMTPUTF8): international domains must be typed as A-labels (`xn--…`).
//! Limits: local part ≤ 64 octets, domain ≤ 255, whole path ≤ 256 with `<>`, so ≤ 254 here.

use super::ErrorCode;
use std::fmt;

const MAX_LOCAL: usize = 64;
const MAX_MAILBOX: usize = 254;
const MAX_DOMAIN: usize = 255;
const MAX_LABEL: usize = 63;

/// A sender or recipient address that RFC 5321 accepts.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct Mailbox(String);

impl Mailbox {
    pub fn parse(input: &str) -> Result<Mailbox, ErrorCode> {
        if input.is_empty() {
            return Err(ErrorCode::MailboxRequired);
        }
        if !input.is_ascii() {
            return Err(ErrorCode::MailboxNonAscii);
        }
        if input.contains('<') || input.contains('>') {
            // `Jane <jane@example.com>` is an RFC 5322 name-addr, not a mailbox.
            return Err(ErrorCode::MailboxDisplayName);
        }
        let bytes = input.as_bytes();
        let local_end = if bytes[0] == b'"' {
            quoted_string_end(bytes)?
        } else {
            dot_string_end(bytes)?
        };
        if local_end > MAX_LOCAL {
            return Err(ErrorCode::MailboxLocalTooLong);
        }
        if bytes.get(local_end) != Some(&b'@') {
            return Err(if input.contains('@') {
                ErrorCode::MailboxLocalInvalid
            } else {
                ErrorCode::MailboxMissingAt
            });
        }
        let domain = &input[local_end + 1..];
        if domain.starts_with('[') {
            address_literal(domain)?;
        } else {
            domain_name(domain)?;
        }
        if input.len() > MAX_MAILBOX {
            return Err(ErrorCode::MailboxTooLong);
        }
        Ok(Mailbox(input.to_string()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Mailbox {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for Mailbox {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Mailbox({})", self.0)
    }
}

/// RFC 5322 `atext`: letters, digits and ``! # $ % & ' * + - / = ? ^ _ ` { | } ~``.
pub(crate) fn is_atext(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-/=?^_`{|}~".contains(&b)
}

/// End (exclusive) of a Dot-string starting at 0: atoms of atext joined by single dots.
fn dot_string_end(bytes: &[u8]) -> Result<usize, ErrorCode> {
    let mut i = 0;
    loop {
        let start = i;
        while i < bytes.len() && is_atext(bytes[i]) {
            i += 1;
        }
        if i == start {
            // Empty atom: leading dot, doubled dot, dot before '@', or a character outside atext.
            return Err(ErrorCode::MailboxLocalInvalid);
        }
        if i < bytes.len() && bytes[i] == b'.' {
            i += 1;
            continue;
        }
        return Ok(i);
    }
}

/// End (exclusive) of a Quoted-string starting at 0 (which is `"`).
fn quoted_string_end(bytes: &[u8]) -> Result<usize, ErrorCode> {
    let mut i = 1;
    while i < bytes.len() {
        match bytes[i] {
            b'"' => return Ok(i + 1),
            b'\\' => {
                // quoted-pairSMTP = %d92 %d32-126
                match bytes.get(i + 1) {
                    Some(&c) if (32..=126).contains(&c) => i += 2,
                    _ => return Err(ErrorCode::MailboxQuotedInvalid),
                }
            }
            // qtextSMTP = %d32-33 / %d35-91 / %d93-126
            32..=33 | 35..=91 | 93..=126 => i += 1,
            _ => return Err(ErrorCode::MailboxQuotedInvalid),
        }
    }
    Err(ErrorCode::MailboxQuotedInvalid)
}

/// A fully qualified domain: at least two labels of letters, digits and inner hyphens.
fn domain_name(domain: &str) -> Result<(), ErrorCode> {
    if domain.is_empty() {
        return Err(ErrorCode::MailboxDomainInvalid);
    }
    if domain.len() > MAX_DOMAIN {
        return Err(ErrorCode::MailboxTooLong);
    }
    if is_ipv4_literal(domain) {
        // `user@192.0.2.1` is a numeric domain name, not an IP: IPs need brackets.
        return Err(ErrorCode::MailboxIpNeedsBrackets);
    }
    let labels: Vec<&str> = domain.split('.').collect();
    if !labels.iter().all(|l| is_ldh_label(l)) {
        return Err(ErrorCode::MailboxDomainInvalid);
    }
    if labels.len() < 2 {
        return Err(ErrorCode::MailboxDomainNotQualified);
    }
    Ok(())
}

/// `sub-domain = Let-dig [Ldh-str]`, at most 63 octets (RFC 1035).
pub(crate) fn is_ldh_label(label: &str) -> bool {
    let b = label.as_bytes();
    !b.is_empty()
        && b.len() <= MAX_LABEL
        && b[0].is_ascii_alphanumeric()
        && b[b.len() - 1].is_ascii_alphanumeric()
        && b.iter().all(|c| c.is_ascii_alphanumeric() || *c == b'-')
}

fn address_literal(domain: &str) -> Result<(), ErrorCode> {
    let inner = domain
        .strip_prefix('[')
        .and_then(|d| d.strip_suffix(']'))
        .ok_or(ErrorCode::MailboxAddressLiteralInvalid)?;
    let ok = if let Some(v6) = strip_prefix_ignore_case(inner, "IPv6:") {
        is_ipv6_literal(v6)
    } else {
        // General-address-literal needs an IANA-registered tag, and IPv6 is the only one.
        is_ipv4_literal(inner)
    };
    if ok {
        Ok(())
    } else {
        Err(ErrorCode::MailboxAddressLiteralInvalid)
    }
}

fn strip_prefix_ignore_case<'a>(s: &'a str, prefix: &str) -> Option<&'a str> {
    (s.len() >= prefix.len() && s[..prefix.len()].eq_ignore_ascii_case(prefix))
        .then(|| &s[prefix.len()..])
}

/// `Snum 3("." Snum)`, Snum = 1*3DIGIT with a value of 0–255.
fn is_ipv4_literal(s: &str) -> bool {
    let parts: Vec<&str> = s.split('.').collect();
    parts.len() == 4
        && parts.iter().all(|p| {
            !p.is_empty()
                && p.len() <= 3
                && p.bytes().all(|b| b.is_ascii_digit())
                && p.parse::<u16>().is_ok_and(|n| n <= 255)
        })
}

fn is_hex_group(s: &str) -> bool {
    (1..=4).contains(&s.len()) && s.bytes().all(|b| b.is_ascii_hexdigit())
}

/// Groups of a colon-separated run; an empty run is zero groups.
fn hex_groups(s: &str) -> Option<usize> {
    if s.is_empty() {
        return Some(0);
    }
    let groups: Vec<&str> = s.split(':').collect();
    groups
        .iter()
        .all(|g| is_hex_group(g))
        .then_some(groups.len())
}

/// `IPv6-addr = IPv6-full / IPv6-comp / IPv6v4-full / IPv6v4-comp` (RFC 5321 §4.1.3). Unlike
/// RFC 4291, "::" must stand for at least two zero groups.
fn is_ipv6_literal(s: &str) -> bool {
    // An embedded IPv4 address takes the place of the last two groups.
    let (hex, total) = match s.rfind(':') {
        Some(pos) if s[pos + 1..].contains('.') => {
            if !is_ipv4_literal(&s[pos + 1..]) {
                return false;
            }
            let head = &s[..=pos];
            // Drop the separator before the IPv4 part, but keep a "::" whole.
            let head = head
                .strip_suffix(':')
                .filter(|h| !h.ends_with(':'))
                .unwrap_or(head);
            (head, 6)
        }
        _ => (s, 8),
    };
    match hex.split_once("::") {
        None => hex_groups(hex) == Some(total),
        Some((left, right)) => {
            !right.contains("::")
                && matches!(
                    (hex_groups(left), hex_groups(right)),
                    (Some(l), Some(r)) if l + r <= total - 2
                )
        }
    }
}
