//! TLS parameters, certificate summaries and the classification of SMTP replies and errors
//! into [`SendCode`]s.

use crate::transport::failure;
use app::domain::{SendCode, SendFailure, StepName};
use lettre::transport::smtp::client::{Certificate, TlsParameters};

/// Opportunistic TLS (SSL off): encryption without a certificate check, better than clear
/// text; a server that needs checking is used with SSL on.
pub(super) fn opportunistic_tls_parameters(host: &str) -> Result<TlsParameters, SendFailure> {
    TlsParameters::builder(host.trim_matches(['[', ']']).to_string())
        .dangerous_accept_invalid_certs(true)
        .dangerous_accept_invalid_hostnames(true)
        .build_rustls()
        .map_err(|e| failure(SendCode::Other, StepName::Starttls, &e.to_string(), false))
}

pub(super) fn tls_parameters(
    host: &str,
    extra_roots: &[Vec<u8>],
) -> Result<TlsParameters, SendFailure> {
    let mut builder = TlsParameters::builder(host.trim_matches(['[', ']']).to_string());
    for pem in extra_roots {
        let cert = Certificate::from_pem(pem).map_err(|e| {
            failure(
                SendCode::Other,
                StepName::Starttls,
                &format!("SMTP_CA_FILE: {e}"),
                false,
            )
        })?;
        builder = builder.add_root_certificate(cert);
    }
    builder.build_rustls().map_err(|e| {
        failure(
            SendCode::CertificateInvalid,
            StepName::Starttls,
            &e.to_string(),
            false,
        )
    })
}

/// `CN=mail.example.co.jp, valid 2026-01-01 – 2027-01-01`.
pub(super) fn certificate_summary(der: &[u8]) -> String {
    match x509_parser::parse_x509_certificate(der) {
        Ok((_, cert)) => {
            let v = cert.validity();
            format!(
                "{}, valid {} – {}",
                cert.subject(),
                v.not_before.to_datetime().date(),
                v.not_after.to_datetime().date()
            )
        }
        Err(_) => "certificate not readable".into(),
    }
}

pub(super) fn reply_text(r: &lettre::transport::smtp::response::Response) -> String {
    format!("{} {}", r.code(), r.message().collect::<Vec<_>>().join(" "))
}

/// The enhanced status code (`5.7.8`) at the start of a reply text, if any.
pub(super) fn enhanced(text: &str) -> &str {
    let first = text.split_whitespace().next().unwrap_or("");
    let looks = first.split('.').count() == 3
        && first
            .split('.')
            .all(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()));
    if looks { first } else { "" }
}

/// An SMTP error as what to do: by reply code and enhanced status code (RFC 3463), never by
/// wording alone.
pub fn classify(step: StepName, e: &lettre::transport::smtp::Error) -> SendFailure {
    if let Some(code) = e.status() {
        let text = std::error::Error::source(e)
            .map(|s| s.to_string())
            .unwrap_or_default();
        let reply = format!("{code} {text}").trim().to_string();
        let basic = code.to_string();
        let ext = enhanced(&text);
        let lower = text.to_ascii_lowercase();
        let sc = match (basic.as_str(), ext) {
            (_, "5.7.139") | ("535", "5.7.3") => SendCode::SmtpAuthDisabled,
            ("534", _) if ext == "5.7.9" || ext == "5.7.14" => SendCode::AppPasswordRequired,
            ("535", _) => SendCode::AuthFailed,
            ("550", "5.7.30") => SendCode::BasicAuthBlocked,
            ("530", "5.7.57") => SendCode::AuthRequired,
            ("530", _) if ext == "5.7.0" && lower.contains("starttls") => {
                SendCode::StarttlsRequired
            }
            ("530", _) if lower.contains("starttls") => SendCode::StarttlsRequired,
            ("530", _) => SendCode::AuthRequired,
            ("550", "5.7.60") => SendCode::SendAsDenied,
            ("550" | "554", "5.7.1") => SendCode::RelayDenied,
            (b, _) if b.starts_with('4') => SendCode::Temporary,
            _ => SendCode::Rejected,
        };
        return failure(sc, step, &reply, e.is_transient());
    }
    if e.is_timeout() {
        return failure(SendCode::Timeout, step, "no answer in time", true);
    }
    if e.is_tls() {
        let text = std::error::Error::source(e)
            .map(|s| s.to_string())
            .unwrap_or_else(|| e.to_string());
        return failure(SendCode::CertificateInvalid, step, &text, false);
    }
    // A failed handshake arrives as a connection error carrying rustls' reason.
    if step == StepName::Starttls {
        let text = error_chain(e);
        let code = if text.contains("certificate") {
            SendCode::CertificateInvalid
        } else {
            SendCode::Other
        };
        return failure(code, step, &text, false);
    }
    // The I/O error below lettre's wrapper says what the network did.
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(s) = source {
        if let Some(io) = s.downcast_ref::<std::io::Error>() {
            let code = match io.kind() {
                std::io::ErrorKind::ConnectionRefused => SendCode::ConnectionRefused,
                std::io::ErrorKind::TimedOut => SendCode::Timeout,
                _ => SendCode::Other,
            };
            return failure(code, step, &io.to_string(), true);
        }
        source = s.source();
    }
    failure(SendCode::Other, step, &e.to_string(), false)
}

/// The innermost cause's text (lettre's own words are generic).
pub(super) fn error_chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        text = s.to_string();
        source = s.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn enhanced_codes_are_read_from_the_reply() {
        assert_eq!(
            enhanced("5.7.8 Username and Password not accepted"),
            "5.7.8"
        );
        assert_eq!(enhanced("Must issue a STARTTLS command first"), "");
        assert_eq!(enhanced("5.7 partial"), "");
    }
}
