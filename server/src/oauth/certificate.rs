//! The Microsoft certificate credential: reading the uploaded certificate and private key,
//! checking that they belong together, and signing the client assertion that replaces the
//! client secret at the token endpoint (RFC 7523: a JWT, RS256, with the certificate's
//! SHA-256 thumbprint as `x5t#S256`, as the Microsoft identity platform documents).
//!
//! The key never leaves this server: only the signed assertion goes out, bound to the one
//! token endpoint (`aud`) and valid for ten minutes.

use app::domain::{CertificateInfo, ErrorCode, Field, FieldError};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header};
use secrecy::{ExposeSecret, SecretString};
use sha2::{Digest, Sha256};

/// `client_assertion_type` of a JWT client assertion (RFC 7523 §2.2).
pub const ASSERTION_TYPE: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";
/// How long a signed assertion is valid.
const ASSERTION_LIFETIME_SECS: i64 = 600;

/// A certificate that was read: what the page shows, and what signing and checking need.
pub struct Certificate {
    pub info: CertificateInfo,
    /// Base64url SHA-256 of the DER certificate: the assertion's `x5t#S256`.
    pub x5t_s256: String,
    not_before: i64,
    not_after: i64,
    /// The RSA public key (PKCS#1 DER).
    public_key: Vec<u8>,
}

impl Certificate {
    /// Valid at `now` (seconds since the epoch).
    pub fn is_valid_at(&self, now: i64) -> bool {
        self.not_before <= now && now <= self.not_after
    }
}

/// Reads a PEM certificate (the first one, when a chain was pasted). Only RSA certificates:
/// the identity platform signs and checks assertions with RS256.
pub fn read(pem: &str) -> Result<Certificate, ErrorCode> {
    let (_, pem) = x509_parser::pem::parse_x509_pem(pem.trim_start().as_bytes())
        .map_err(|_| ErrorCode::CertificateInvalid)?;
    if pem.label != "CERTIFICATE" {
        return Err(ErrorCode::CertificateInvalid);
    }
    let cert = pem
        .parse_x509()
        .map_err(|_| ErrorCode::CertificateInvalid)?;
    let spki = cert.public_key();
    if spki.algorithm.algorithm != x509_parser::oid_registry::OID_PKCS1_RSAENCRYPTION {
        return Err(ErrorCode::CertificateInvalid);
    }
    let validity = cert.validity();
    let not_after = validity.not_after.to_datetime();
    Ok(Certificate {
        info: CertificateInfo {
            thumbprint: sha1_hex(&pem.contents),
            subject: cert.subject().to_string(),
            expires_on: not_after.date().to_string(),
        },
        x5t_s256: URL_SAFE_NO_PAD.encode(Sha256::digest(&pem.contents)),
        not_before: validity.not_before.timestamp(),
        not_after: validity.not_after.timestamp(),
        public_key: spki.subject_public_key.data.to_vec(),
    })
}

/// What the page shows of a stored certificate; `None` when it cannot be read (it was
/// checked when saved, so only a damaged database gets here).
pub fn info(pem: &str) -> Option<CertificateInfo> {
    read(pem).ok().map(|c| c.info)
}

fn sha1_hex(der: &[u8]) -> String {
    use sha1::Digest as _;
    sha1::Sha1::digest(der)
        .iter()
        .map(|b| format!("{b:02X}"))
        .collect()
}

/// Reads an unencrypted RSA private key (PKCS#8 `PRIVATE KEY` or PKCS#1 `RSA PRIVATE KEY`).
fn signing_key(pem: &SecretString) -> Result<EncodingKey, ErrorCode> {
    EncodingKey::from_rsa_pem(pem.expose_secret().as_bytes())
        .map_err(|_| ErrorCode::CertificateKeyInvalid)
}

/// Checks the key and the certificate together, as a save does: the certificate must be valid
/// at `now` (seconds), and the key (when there is one yet) must be readable and must sign what
/// the certificate's public key verifies.
pub fn check_pair(cert: &Certificate, key: Option<&SecretString>, now: i64) -> Vec<FieldError> {
    let mut problems = Vec::new();
    if !cert.is_valid_at(now) {
        problems.push(FieldError::new(
            Field::OauthCertificate,
            ErrorCode::CertificateExpired,
        ));
    }
    match key.map(signing_key) {
        None => {}
        Some(Err(code)) => problems.push(FieldError::new(Field::OauthCertificateKey, code)),
        Some(Ok(key)) => {
            let probe = b"does this key belong to the certificate?";
            let verified = jsonwebtoken::crypto::sign(probe, &key, Algorithm::RS256)
                .and_then(|sig| {
                    jsonwebtoken::crypto::verify(
                        &sig,
                        probe,
                        &DecodingKey::from_rsa_der(&cert.public_key),
                        Algorithm::RS256,
                    )
                })
                .unwrap_or(false);
            if !verified {
                problems.push(FieldError::new(
                    Field::OauthCertificateKey,
                    ErrorCode::CertificateKeyMismatch,
                ));
            }
        }
    }
    problems
}

/// A client assertion for `client_id` at `token_url`, signed at `now` (seconds).
pub fn client_assertion(
    cert: &Certificate,
    key: &SecretString,
    client_id: &str,
    token_url: &str,
    now: i64,
) -> Result<String, ErrorCode> {
    let key = signing_key(key)?;
    let mut header = Header::new(Algorithm::RS256);
    header.x5t_s256 = Some(cert.x5t_s256.clone());
    let claims = serde_json::json!({
        "aud": token_url,
        "iss": client_id,
        "sub": client_id,
        "jti": uuid::Uuid::new_v4().to_string(),
        "iat": now,
        "nbf": now,
        "exp": now + ASSERTION_LIFETIME_SECS,
    });
    jsonwebtoken::encode(&header, &claims, &key).map_err(|_| ErrorCode::CertificateKeyInvalid)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A certificate valid for one day and its key, made by the `openssl` command.
    fn pair() -> (String, SecretString) {
        let dir = tempfile::tempdir().unwrap();
        let (key, cert) = (dir.path().join("k.pem"), dir.path().join("c.pem"));
        let out = std::process::Command::new("openssl")
            .args([
                "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=t",
            ])
            .args(["-days", "1", "-keyout"])
            .arg(&key)
            .arg("-out")
            .arg(&cert)
            .output()
            .expect("openssl runs");
        assert!(out.status.success());
        (
            std::fs::read_to_string(cert).unwrap(),
            SecretString::from(std::fs::read_to_string(key).unwrap()),
        )
    }

    #[test]
    fn a_pair_is_good_only_while_the_certificate_is_valid() {
        let (pem, key) = pair();
        let cert = read(&pem).unwrap();
        let now = crate::clock::now_ms() / 1000;
        assert!(check_pair(&cert, Some(&key), now).is_empty());
        assert_eq!(
            check_pair(&cert, Some(&key), now + 2 * 86_400),
            vec![FieldError::new(
                Field::OauthCertificate,
                ErrorCode::CertificateExpired
            )]
        );
        assert_eq!(
            check_pair(&cert, Some(&key), now - 86_400)[0].code,
            ErrorCode::CertificateExpired,
            "not yet valid"
        );
    }

    #[test]
    fn the_assertion_names_the_certificate_and_the_endpoint() {
        let (pem, key) = pair();
        let cert = read(&pem).unwrap();
        let jwt = client_assertion(&cert, &key, "client", "https://login/t/token", 1_000).unwrap();
        let header = jsonwebtoken::decode_header(&jwt).unwrap();
        assert_eq!(header.alg, Algorithm::RS256);
        assert_eq!(header.x5t_s256.as_deref(), Some(cert.x5t_s256.as_str()));
        let mut rules = jsonwebtoken::Validation::new(Algorithm::RS256);
        rules.validate_exp = false;
        rules.set_audience(&["https://login/t/token"]);
        let claims = jsonwebtoken::decode::<serde_json::Value>(
            &jwt,
            &DecodingKey::from_rsa_der(&cert.public_key),
            &rules,
        )
        .unwrap()
        .claims;
        assert_eq!(claims["iss"], "client");
        assert_eq!(claims["sub"], "client");
        assert_eq!(claims["exp"], 1_600);
        assert_eq!(claims["nbf"], 1_000);
    }
}
