//! Provider answers to [`OauthCode`]s: by `error` and Microsoft's `error_codes`, never by the
//! description's wording (only a redirect's error has no codes, and carries the AADSTS code at
//! the start of its description).

use super::{Outcome, ProviderError};
use app::domain::{OauthCode, Provider};
use oauth2::RequestTokenError;

pub(super) fn network_outcome(e: &reqwest::Error) -> Outcome {
    let detail = if e.is_timeout() {
        "timeout"
    } else if e.is_connect() {
        "connection failed"
    } else {
        "request failed"
    };
    Outcome::new(OauthCode::Unreachable, detail)
}

/// `AADSTS7000215: Invalid client secret…` → 7000215. Only for the redirect's error, which
/// has no `error_codes` field.
fn aadsts_code(description: Option<&str>) -> Option<u64> {
    let rest = description?.trim_start().strip_prefix("AADSTS")?;
    let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
    digits.parse().ok()
}

/// Microsoft's AADSTS codes that administrators meet (REFERENCE.md §1).
fn aadsts_outcome(code: u64) -> Option<OauthCode> {
    Some(match code {
        50011 => OauthCode::RedirectUriMismatch,
        7000215 => OauthCode::WrongSecret,
        7000222 => OauthCode::SecretExpired,
        // The client assertion failed signature validation (the certificate is not on the app
        // registration), or is outside its valid time (the server's clock).
        700027 | 700024 => OauthCode::CertificateRejected,
        700016 => OauthCode::ClientNotFound,
        90002 => OauthCode::TenantNotFound,
        // The user may not consent (65001), or the permissions need an administrator's
        // consent (90094, and 90095 where the admin consent workflow is on).
        65001 | 90094 | 90095 => OauthCode::ConsentMissing,
        70008 | 700082 | 50173 | 700084 => OauthCode::ReconnectNeeded,
        _ => return None,
    })
}

/// The standard `error` values (RFC 6749 §4.1.2.1, §5.2) and Google's extras.
fn error_outcome(error: &str) -> OauthCode {
    match error {
        "access_denied" => OauthCode::Denied,
        "redirect_uri_mismatch" => OauthCode::RedirectUriMismatch,
        "invalid_client" => OauthCode::WrongSecret,
        "unauthorized_client" | "deleted_client" => OauthCode::ClientNotFound,
        "consent_required" | "interaction_required" => OauthCode::ConsentMissing,
        "admin_policy_enforced" | "org_internal" => OauthCode::PolicyBlocked,
        "invalid_grant" => OauthCode::ReconnectNeeded,
        "temporarily_unavailable" | "server_error" => OauthCode::Unreachable,
        _ => OauthCode::ProviderError,
    }
}

pub(super) fn classify_redirect_error(error: &str, description: Option<&str>) -> Outcome {
    match aadsts_code(description) {
        Some(n) => Outcome::new(
            aadsts_outcome(n).unwrap_or_else(|| error_outcome(error)),
            format!("AADSTS{n}"),
        ),
        None => Outcome::new(error_outcome(error), error),
    }
}

pub(super) fn classify_token_error<RE: std::error::Error + 'static>(
    provider: Provider,
    e: &RequestTokenError<RE, ProviderError>,
    refreshing: bool,
    age_days: Option<i64>,
) -> Outcome {
    match e {
        RequestTokenError::ServerResponse(err) => {
            let ms_code = err
                .error_codes
                .first()
                .copied()
                .or_else(|| aadsts_code(err.error_description.as_deref()));
            let mut code = ms_code
                .and_then(aadsts_outcome)
                .unwrap_or_else(|| error_outcome(&err.error));
            // Google apps in "Testing" publishing status lose their refresh tokens after 7 days.
            if refreshing
                && code == OauthCode::ReconnectNeeded
                && provider == Provider::Google
                && age_days.is_some_and(|d| (6..=8).contains(&d))
            {
                code = OauthCode::ReconnectNeededTesting;
            }
            let detail = match ms_code {
                Some(n) => format!("{} AADSTS{n}", err.error),
                None => err.error.clone(),
            };
            Outcome::new(code, detail)
        }
        RequestTokenError::Request(inner) => {
            // The reqwest error sits below oauth2's wrapper.
            let mut source: Option<&(dyn std::error::Error + 'static)> = Some(inner);
            while let Some(s) = source {
                if let Some(re) = s.downcast_ref::<reqwest::Error>() {
                    return network_outcome(re);
                }
                source = s.source();
            }
            Outcome::new(OauthCode::Unreachable, "request failed")
        }
        // The body may hold anything, tokens included: it is never shown or logged.
        RequestTokenError::Parse(_, _) => {
            Outcome::new(OauthCode::ProviderError, "unreadable answer")
        }
        RequestTokenError::Other(_) => Outcome::new(OauthCode::ProviderError, "unexpected answer"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn aadsts_codes_from_redirect_descriptions() {
        let o = classify_redirect_error(
            "invalid_request",
            Some("AADSTS50011: The redirect URI 'x' specified in the request does not match"),
        );
        assert_eq!(o.code, OauthCode::RedirectUriMismatch);
        assert_eq!(o.detail, "AADSTS50011");
        assert_eq!(
            classify_redirect_error("access_denied", Some("The user has denied access")).code,
            OauthCode::Denied
        );
        assert_eq!(
            classify_redirect_error("org_internal", None).code,
            OauthCode::PolicyBlocked
        );
        for needs_admin in [
            "AADSTS65001: The user or administrator has not consented to use the application",
            "AADSTS90094: The grant requires admin permission.",
        ] {
            assert_eq!(
                classify_redirect_error("consent_required", Some(needs_admin)).code,
                OauthCode::ConsentMissing,
                "{needs_admin}"
            );
        }
    }

    #[test]
    fn token_errors_by_code_not_by_text() {
        let e = |error: &str, codes: Vec<u64>| {
            RequestTokenError::<std::io::Error, ProviderError>::ServerResponse(ProviderError {
                error: error.into(),
                error_description: Some("AADSTS50011: misleading text".into()),
                error_codes: codes,
            })
        };
        let o = classify_token_error(
            Provider::Microsoft,
            &e("invalid_client", vec![7000215]),
            false,
            None,
        );
        assert_eq!(o.code, OauthCode::WrongSecret);
        assert_eq!(o.detail, "invalid_client AADSTS7000215");
        assert_eq!(
            classify_token_error(
                Provider::Microsoft,
                &e("invalid_client", vec![7000222]),
                true,
                None
            )
            .code,
            OauthCode::SecretExpired
        );
        let google = |age| {
            classify_token_error(
                Provider::Google,
                &RequestTokenError::<std::io::Error, ProviderError>::ServerResponse(
                    ProviderError {
                        error: "invalid_grant".into(),
                        error_description: Some("Token has been expired or revoked.".into()),
                        error_codes: vec![],
                    },
                ),
                true,
                Some(age),
            )
            .code
        };
        assert_eq!(google(7), OauthCode::ReconnectNeededTesting);
        assert_eq!(google(40), OauthCode::ReconnectNeeded);
    }
}
