//! Host names and origins: which `Host` the console answers to (against DNS rebinding).

/// The `host[:port]` of an origin such as `https://reports.example.co.jp:8443`.
pub fn origin_authority(origin: &str) -> Option<&str> {
    let rest = origin
        .strip_prefix("https://")
        .or_else(|| origin.strip_prefix("http://"))?;
    (!rest.is_empty() && !rest.contains('/')).then_some(rest)
}

/// The host names the console answers to (against DNS rebinding: a page on a name the attacker
/// controls, re-pointed at this server, would otherwise be served as if it were the console).
/// IP literals are always accepted (rebinding needs a name), as is `localhost`; other names
/// only when they are the host of a `PUBLIC_ORIGIN`.
#[derive(Clone, Debug, Default)]
pub struct HostAllowList {
    names: Vec<String>,
}

impl HostAllowList {
    pub fn new(public_origins: &[String]) -> Self {
        let names = public_origins
            .iter()
            .filter_map(|o| origin_authority(o))
            .filter_map(host_name)
            .collect();
        HostAllowList { names }
    }

    /// True when `authority` (a `Host` header: `name[:port]`, `[v6]:port`) may be served.
    pub fn allows(&self, authority: &str) -> bool {
        let Some(name) = host_name(authority) else {
            return false;
        };
        name == "localhost"
            || name.parse::<std::net::IpAddr>().is_ok()
            || self.names.contains(&name)
    }
}

/// The host of an authority, lower case, without port, brackets or a trailing dot.
fn host_name(authority: &str) -> Option<String> {
    let authority = authority.trim();
    let host = if let Some(rest) = authority.strip_prefix('[') {
        rest.split_once(']')?.0
    } else {
        match authority.rsplit_once(':') {
            Some((h, port)) if port.bytes().all(|b| b.is_ascii_digit()) => h,
            _ => authority,
        }
    };
    let host = host.trim_end_matches('.').to_ascii_lowercase();
    (!host.is_empty()).then_some(host)
}

#[cfg(test)]
mod tests {
    use super::HostAllowList;

    #[test]
    fn names_need_public_origin_ip_literals_do_not() {
        let list = HostAllowList::new(&["https://Reports.example.co.jp".into()]);
        for ok in [
            "reports.example.co.jp",
            "REPORTS.example.co.jp:443",
            "reports.example.co.jp.",
            "127.0.0.1:3000",
            "192.0.2.10",
            "[::1]:3000",
            "localhost:3000",
        ] {
            assert!(list.allows(ok), "{ok}");
        }
        for refused in [
            "attacker.example",
            "attacker.example:3000",
            "reports.example.co.jp.attacker.example",
            "",
            "[::1",
        ] {
            assert!(!list.allows(refused), "{refused}");
        }
    }
}
