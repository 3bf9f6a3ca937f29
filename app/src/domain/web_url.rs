//! The parts of a WHATWG URL that [`super::ManagerRoot`] needs: scheme, host and port.
//!
//! The server parses with the `url` crate. The browser asks its own `URL` object, which follows
//! the same standard, so the browser bundle carries no URL parser and none of the IDNA tables
//! behind it (about 100 KB of Unicode data and 45 KB of code before optimisation). The server
//! checks every ManagerRoot again with the `url` crate before it is saved; the cases in
//! `manager_root_cases.json` run against both parsers.

use std::net::IpAddr;

/// A parsed absolute URL, reduced to its origin.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) struct WebUrl {
    /// `http` or `https` (lowercase, without the colon).
    pub scheme: String,
    /// The host as the standard serializes it: an ASCII domain (IDN as punycode), a dotted
    /// IPv4 address, or an IPv6 address in brackets.
    pub host: String,
    /// The port, or the scheme's default one.
    pub port: Option<u16>,
}

impl WebUrl {
    /// `None` when the text is no valid absolute URL with a host.
    pub fn parse(input: &str) -> Option<WebUrl> {
        let parsed = parse(input)?;
        (!parsed.host.is_empty()).then_some(parsed)
    }

    /// The host as an IP address, when it is one (the standard turns every host that reads as
    /// an IPv4 number into one, so a domain never parses as an address).
    pub fn ip(&self) -> Option<IpAddr> {
        let bare = self
            .host
            .strip_prefix('[')
            .and_then(|h| h.strip_suffix(']'))
            .unwrap_or(&self.host);
        bare.parse().ok()
    }

    /// Same scheme, host and port.
    pub fn same_origin(&self, other: &WebUrl) -> bool {
        self == other
    }
}

#[cfg(not(all(feature = "hydrate", not(feature = "ssr"))))]
fn parse(input: &str) -> Option<WebUrl> {
    let url = url::Url::parse(input).ok()?;
    Some(WebUrl {
        scheme: url.scheme().to_owned(),
        host: url.host_str()?.to_owned(),
        port: url.port_or_known_default(),
    })
}

#[cfg(all(feature = "hydrate", not(feature = "ssr")))]
fn parse(input: &str) -> Option<WebUrl> {
    let url = web_sys::Url::new(input).ok()?;
    let protocol = url.protocol();
    let scheme = protocol.strip_suffix(':').unwrap_or(&protocol).to_owned();
    let port = match url.port().as_str() {
        "" => match scheme.as_str() {
            "http" | "ws" => Some(80),
            "https" | "wss" => Some(443),
            "ftp" => Some(21),
            _ => None,
        },
        explicit => Some(explicit.parse().ok()?),
    };
    Some(WebUrl {
        scheme,
        host: url.hostname(),
        port,
    })
}
