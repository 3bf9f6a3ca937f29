//! The SMTP port and its pairing with the SSL (STARTTLS) box.

use super::ErrorCode;

/// A port the SMTP transport may use: 1–65535, never 465 (implicit TLS is not supported).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Port(u16);

impl Port {
    pub const SUBMISSION: u16 = 587;
    pub const SMTP: u16 = 25;
    pub const SMTPS: u16 = 465;

    /// From the number in the settings JSON.
    pub fn from_number(n: Option<i64>) -> Result<Port, ErrorCode> {
        let n = n.ok_or(ErrorCode::PortRequired)?;
        let n = u16::try_from(n)
            .ok()
            .filter(|n| *n != 0)
            .ok_or(ErrorCode::PortOutOfRange)?;
        if n == Self::SMTPS {
            return Err(ErrorCode::Port465Unsupported);
        }
        Ok(Port(n))
    }

    /// From the text of the form's port box; `Ok(None)` when it is empty.
    pub fn number_from_text(text: &str) -> Result<Option<i64>, ErrorCode> {
        let t = text.trim();
        if t.is_empty() {
            return Ok(None);
        }
        if !t.bytes().all(|b| b.is_ascii_digit()) {
            return Err(ErrorCode::PortNotNumber);
        }
        // Too many digits for any port: still a number, just out of range.
        Ok(Some(t.parse::<i64>().unwrap_or(i64::MAX)))
    }

    /// 587 is submission with STARTTLS; 25 is plain relay. Other ports follow the box.
    pub fn check_ssl(self, ssl: bool) -> Result<(), ErrorCode> {
        match (self.0, ssl) {
            (Self::SUBMISSION, false) => Err(ErrorCode::Port587RequiresSsl),
            (Self::SMTP, true) => Err(ErrorCode::Port25RequiresNoSsl),
            _ => Ok(()),
        }
    }

    pub fn get(self) -> u16 {
        self.0
    }
}
