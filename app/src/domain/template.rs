//! Notification templates and their data replacement codes (データ置き換え).
//!
//! A template is plain text with codes in braces: `{rep_name}`. `{{` and `}}` stand for literal
//! braces. Unknown codes are found when the template is saved, not when a mail is sent; values
//! are inserted as text, and a subject never receives a line break (header injection).

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// The replacement codes a template may use.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Code {
    /// Link to the report: ManagerRoot (with `{0}` resolved) plus the report's path.
    RepUrl,
    /// The report's name.
    RepName,
    /// The report's ID.
    RepId,
    /// The user the notification is about (who submitted, approved, …).
    UserName,
    /// The date the notification is sent (`2026/11/27`, the console's time zone).
    SysDate,
    /// The time it is sent (`2026/11/27 14:05`).
    SysDateTime,
}

impl Code {
    pub const ALL: [Code; 6] = [
        Code::RepUrl,
        Code::RepName,
        Code::RepId,
        Code::UserName,
        Code::SysDate,
        Code::SysDateTime,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Code::RepUrl => "rep_url",
            Code::RepName => "rep_name",
            Code::RepId => "rep_id",
            Code::UserName => "user_name",
            Code::SysDate => "sys_date",
            Code::SysDateTime => "sys_datetime",
        }
    }

    pub fn parse(s: &str) -> Option<Code> {
        Code::ALL.into_iter().find(|c| c.as_str() == s)
    }

    /// Filled by the service itself, not by the submitter.
    pub fn is_system(self) -> bool {
        matches!(self, Code::SysDate | Code::SysDateTime | Code::RepUrl)
    }
}

/// A problem in a template's text, with where it is.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TemplateError {
    /// `subject` or `body`.
    pub part: String,
    pub kind: TemplateErrorKind,
    /// Character offset in that part.
    pub at: usize,
    /// The unknown code or the unclosed text.
    pub text: String,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TemplateErrorKind {
    /// `{something}` that is not a replacement code.
    UnknownCode,
    /// `{` without its `}` (write `{{` for a literal brace).
    Unclosed,
    /// `}` alone (write `}}` for a literal brace).
    StrayClose,
    /// Empty subject or body.
    Empty,
    /// A line break in the subject.
    SubjectLineBreak,
    /// Longer than the limit.
    TooLong,
}

/// Longest subject and body accepted.
pub const MAX_SUBJECT: usize = 998;
pub const MAX_BODY: usize = 100_000;

#[derive(Clone, Debug, PartialEq, Eq)]
enum Piece {
    Text(String),
    Code(Code),
}

/// A template part that passed every check.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Parsed(Vec<Piece>);

impl Parsed {
    /// The codes used, in order of first use.
    pub fn codes(&self) -> Vec<Code> {
        let mut out = Vec::new();
        for p in &self.0 {
            if let Piece::Code(c) = p
                && !out.contains(c)
            {
                out.push(*c);
            }
        }
        out
    }

    /// The length in bytes [`Parsed::render`] would produce, computed without producing it:
    /// a size limit can be checked before any rendering work (a template may repeat a code
    /// thousands of times).
    pub fn rendered_len(&self, values: &BTreeMap<Code, String>) -> usize {
        self.0.iter().fold(0usize, |sum, p| {
            sum.saturating_add(match p {
                Piece::Text(t) => t.len(),
                Piece::Code(c) => values.get(c).map_or(0, String::len),
            })
        })
    }

    /// The text with every code replaced; a missing value leaves the part empty.
    pub fn render(&self, values: &BTreeMap<Code, String>) -> String {
        let mut out = String::new();
        for p in &self.0 {
            match p {
                Piece::Text(t) => out.push_str(t),
                Piece::Code(c) => out.push_str(values.get(c).map(String::as_str).unwrap_or("")),
            }
        }
        out
    }
}

/// Longest rendered subject: one header line of RFC 5322 (§2.1.1: 998 characters).
pub const RENDERED_SUBJECT_MAX: usize = 998;
/// Longest rendered body of a notification.
pub const RENDERED_BODY_MAX: usize = 1024 * 1024;
/// Longest value for one replacement code.
pub const VALUE_MAX: usize = 8 * 1024;

/// Reads one part of a template; every problem is listed.
pub fn parse_part(part: &str, text: &str) -> Result<Parsed, Vec<TemplateError>> {
    let err = |kind, at, t: &str| TemplateError {
        part: part.to_string(),
        kind,
        at,
        text: t.to_string(),
    };
    let mut errors = Vec::new();
    let limit = if part == "subject" {
        MAX_SUBJECT
    } else {
        MAX_BODY
    };
    if text.trim().is_empty() {
        errors.push(err(TemplateErrorKind::Empty, 0, ""));
    }
    if text.chars().count() > limit {
        errors.push(err(TemplateErrorKind::TooLong, limit, ""));
    }
    if part == "subject"
        && let Some(at) = text.chars().position(|c| c == '\r' || c == '\n')
    {
        errors.push(err(TemplateErrorKind::SubjectLineBreak, at, ""));
    }
    let chars: Vec<char> = text.chars().collect();
    let mut pieces = Vec::new();
    let mut buf = String::new();
    let mut i = 0;
    while i < chars.len() {
        match chars[i] {
            '{' if chars.get(i + 1) == Some(&'{') => {
                buf.push('{');
                i += 2;
            }
            '}' if chars.get(i + 1) == Some(&'}') => {
                buf.push('}');
                i += 2;
            }
            '{' => {
                let close = chars[i + 1..]
                    .iter()
                    .position(|c| *c == '}' || *c == '{' || *c == '\n');
                match close.map(|n| (n, chars[i + 1 + n])) {
                    Some((n, '}')) => {
                        let name: String = chars[i + 1..i + 1 + n].iter().collect();
                        match Code::parse(name.trim()) {
                            Some(code) => {
                                if !buf.is_empty() {
                                    pieces.push(Piece::Text(std::mem::take(&mut buf)));
                                }
                                pieces.push(Piece::Code(code));
                            }
                            None => errors.push(err(TemplateErrorKind::UnknownCode, i, &name)),
                        }
                        i += n + 2;
                    }
                    _ => {
                        let shown: String = chars[i..].iter().take(20).collect();
                        errors.push(err(TemplateErrorKind::Unclosed, i, &shown));
                        i += 1;
                    }
                }
            }
            '}' => {
                errors.push(err(TemplateErrorKind::StrayClose, i, "}"));
                i += 1;
            }
            c => {
                buf.push(c);
                i += 1;
            }
        }
    }
    if !buf.is_empty() {
        pieces.push(Piece::Text(buf));
    }
    if errors.is_empty() {
        Ok(Parsed(pieces))
    } else {
        Err(errors)
    }
}

/// A value for the subject: line breaks and other control characters become spaces, so a value
/// can never start a new header.
pub fn subject_value(value: &str) -> String {
    let folded: String = value
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    folded.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// A value for the body: CR LF and CR become LF; other control characters (except tab) go.
pub fn body_value(value: &str) -> String {
    value
        .replace("\r\n", "\n")
        .replace('\r', "\n")
        .chars()
        .filter(|c| !c.is_control() || *c == '\n' || *c == '\t')
        .collect()
}

/// A template's id, such as `report_submitted`: lowercase ASCII letters, digits, `_` and `-`,
/// 1 to 64 of them. Checked wherever an id comes in (form, REST, a submission).
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TemplateId(String);

impl TemplateId {
    pub const MAX_LEN: usize = 64;

    pub fn parse(id: &str) -> Option<TemplateId> {
        let ok = (1..=Self::MAX_LEN).contains(&id.len())
            && id
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'-');
        ok.then(|| TemplateId(id.to_string()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rendered_length_is_known_before_rendering() {
        let part = parse_part("body", &"{rep_id}-".repeat(10_000)).unwrap();
        let values = BTreeMap::from([(Code::RepId, "x".repeat(200_000))]);
        assert_eq!(part.rendered_len(&values), 10_000 * 200_001);
        let small = BTreeMap::from([(Code::RepId, "42".to_string())]);
        assert_eq!(part.rendered_len(&small), part.render(&small).len());
    }

    fn values() -> BTreeMap<Code, String> {
        BTreeMap::from([
            (
                Code::RepName,
                "点検報告書\r\nBcc: evil@example.com".to_string(),
            ),
            (Code::RepId, "42".to_string()),
        ])
    }

    #[test]
    fn codes_render_and_braces_escape() {
        let p = parse_part("body", "帳票 {rep_name} (#{ rep_id }) {{literal}}").unwrap();
        assert_eq!(p.codes(), vec![Code::RepName, Code::RepId]);
        let mut v = values();
        v.insert(Code::RepName, body_value("点検\r\n報告書"));
        assert_eq!(p.render(&v), "帳票 点検\n報告書 (#42) {literal}");
    }

    #[test]
    fn unknown_unclosed_and_stray_are_reported_with_their_place() {
        let errors = parse_part("body", "a {rep_nam} b {rep_id c } d").unwrap_err();
        let kinds: Vec<_> = errors
            .iter()
            .map(|e| (e.kind, e.at, e.text.as_str()))
            .collect();
        assert_eq!(
            kinds,
            vec![
                (TemplateErrorKind::UnknownCode, 2, "rep_nam"),
                (TemplateErrorKind::UnknownCode, 14, "rep_id c "),
            ]
        );
        let errors = parse_part("body", "x { y\n}").unwrap_err();
        assert_eq!(errors[0].kind, TemplateErrorKind::Unclosed);
        assert_eq!(errors[1].kind, TemplateErrorKind::StrayClose);
    }

    #[test]
    fn subjects_have_one_line_and_values_cannot_add_headers() {
        let e = parse_part("subject", "a\nb").unwrap_err();
        assert_eq!(e[0].kind, TemplateErrorKind::SubjectLineBreak);
        let p = parse_part("subject", "[{rep_name}]").unwrap();
        let mut v = values();
        v.insert(Code::RepName, subject_value(&v[&Code::RepName]));
        assert_eq!(p.render(&v), "[点検報告書 Bcc: evil@example.com]");
        assert_eq!(
            parse_part("subject", "  ").unwrap_err()[0].kind,
            TemplateErrorKind::Empty
        );
    }
}
