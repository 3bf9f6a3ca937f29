//! Identifiers of the OAuth apps registered at Microsoft Entra ID and Google Cloud.

use super::ErrorCode;
use super::mailbox::is_ldh_label;

/// `8-4-4-4-12` hexadecimal digits, as Azure shows application and directory IDs.
fn is_guid(s: &str) -> bool {
    let groups: Vec<&str> = s.split('-').collect();
    groups.len() == 5
        && groups
            .iter()
            .zip([8, 4, 4, 4, 12])
            .all(|(g, len)| g.len() == len && g.bytes().all(|b| b.is_ascii_hexdigit()))
}

/// A calendar date `YYYY-MM-DD` (year 2000 to 2999) as `(year, month, day)`.
pub fn parse_date(s: &str) -> Option<(i32, u8, u8)> {
    let b = s.as_bytes();
    if b.len() != 10 || b[4] != b'-' || b[7] != b'-' {
        return None;
    }
    let number = |r: std::ops::Range<usize>| -> Option<u32> {
        let part = &s[r];
        part.bytes()
            .all(|c| c.is_ascii_digit())
            .then(|| part.parse().ok())
            .flatten()
    };
    let (year, month, day) = (number(0..4)?, number(5..7)?, number(8..10)?);
    let leap = year % 4 == 0 && (year % 100 != 0 || year % 400 == 0);
    let days = match month {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        2 if leap => 29,
        2 => 28,
        _ => return None,
    };
    ((2000..3000).contains(&year) && (1..=days).contains(&day)).then_some((
        year as i32,
        month as u8,
        day as u8,
    ))
}

/// Application (client) ID of an app registration in Microsoft Entra ID.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MicrosoftClientId(String);

impl MicrosoftClientId {
    pub fn parse(s: &str) -> Result<Self, ErrorCode> {
        let s = s.trim();
        if s.is_empty() {
            return Err(ErrorCode::ClientIdRequired);
        }
        if !is_guid(s) {
            return Err(ErrorCode::MicrosoftClientIdInvalid);
        }
        Ok(MicrosoftClientId(s.to_ascii_lowercase()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// Directory (tenant) ID, or a verified domain of the tenant such as `contoso.onmicrosoft.com`.
/// The app is single-tenant, so `common`, `organizations` and `consumers` are refused.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MicrosoftTenant(String);

impl MicrosoftTenant {
    pub fn parse(s: &str) -> Result<Self, ErrorCode> {
        let s = s.trim();
        if s.is_empty() {
            return Err(ErrorCode::TenantIdRequired);
        }
        let is_domain = {
            let labels: Vec<&str> = s.split('.').collect();
            labels.len() >= 2
                && labels.iter().all(|l| is_ldh_label(l))
                && !labels
                    .last()
                    .is_some_and(|l| l.bytes().all(|b| b.is_ascii_digit()))
        };
        if !is_guid(s) && !is_domain {
            return Err(ErrorCode::MicrosoftTenantIdInvalid);
        }
        Ok(MicrosoftTenant(s.to_ascii_lowercase()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// Client ID of a Google OAuth client: `<digits>-<id>.apps.googleusercontent.com`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GoogleClientId(String);

impl GoogleClientId {
    const SUFFIX: &str = ".apps.googleusercontent.com";

    pub fn parse(s: &str) -> Result<Self, ErrorCode> {
        let s = s.trim();
        if s.is_empty() {
            return Err(ErrorCode::ClientIdRequired);
        }
        let ok = s.strip_suffix(Self::SUFFIX).is_some_and(|prefix| {
            !prefix.is_empty()
                && prefix
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        });
        if !ok {
            return Err(ErrorCode::GoogleClientIdInvalid);
        }
        Ok(GoogleClientId(s.to_string()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}
