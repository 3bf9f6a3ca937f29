//! Administrators and API tokens: password rules and hashing (Argon2id), the first
//! administrator or the one-time set-up link, API tokens (created, looked up by prefix,
//! compared by hash, scoped and expiring), and who the caller of a request is.

use crate::secrets::random_text;
use crate::store::{NewToken, Store, TokenScope};
use anyhow::Context as _;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::{Algorithm, Argon2, Params, Version};
use secrecy::{ExposeSecret, SecretString};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq as _;

/// Password rules for administrators (NIST SP 800-63B: length, not composition).
pub const PASSWORD_MIN: usize = 12;
pub const PASSWORD_MAX: usize = 256;

/// The authenticated caller of a request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Principal {
    Admin(String),
    Token { name: String, scope: TokenScope },
}

impl Principal {
    /// How the caller appears in the audit log.
    pub fn actor(&self) -> String {
        match self {
            Principal::Admin(name) => name.clone(),
            Principal::Token { name, .. } => format!("token:{name}"),
        }
    }
}

fn argon2() -> Argon2<'static> {
    // OWASP's Argon2id minimum: m = 19 MiB, t = 2, p = 1.
    Argon2::new(
        Algorithm::Argon2id,
        Version::V0x13,
        Params::new(19 * 1024, 2, 1, None).expect("valid Argon2 parameters"),
    )
}

/// Why a chosen password is refused; the text is shown to the administrator.
pub fn check_new_password(username: &str, password: &SecretString) -> Result<(), &'static str> {
    let p = password.expose_secret();
    let len = p.chars().count();
    if len < PASSWORD_MIN {
        return Err("password_too_short");
    }
    if len > PASSWORD_MAX {
        return Err("password_too_long");
    }
    if p.eq_ignore_ascii_case(username) {
        return Err("password_is_username");
    }
    Ok(())
}

/// Checks a user name for an administrator account.
pub fn check_username(username: &str) -> Result<(), &'static str> {
    let ok = (1..=64).contains(&username.len())
        && username
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"._-@".contains(&b));
    if ok { Ok(()) } else { Err("username_invalid") }
}

/// Both checks for an account made outside the page, with errors that name where the value
/// came from (`ADMIN_USER`, `--user`, …).
pub fn check_new_admin(
    username: &str,
    password: &SecretString,
    user_source: &str,
    password_source: &str,
) -> anyhow::Result<()> {
    check_username(username).map_err(|_| {
        anyhow::anyhow!("{user_source} may hold letters, digits and . _ - @ (1 to 64)")
    })?;
    check_new_password(username, password).map_err(|_| {
        anyhow::anyhow!(
            "{password_source} must be {PASSWORD_MIN} to {PASSWORD_MAX} characters and differ from the user name"
        )
    })
}

/// An Argon2id PHC string for `password`.
pub fn hash_password(password: &SecretString) -> anyhow::Result<String> {
    let salt = SaltString::generate(&mut argon2::password_hash::rand_core::OsRng);
    argon2()
        .hash_password(password.expose_secret().as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| anyhow::anyhow!("Failed to hash a password: {e}"))
}

/// A hash to verify against when the user does not exist, so both cases take as long.
pub fn dummy_hash() -> &'static str {
    static DUMMY: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    DUMMY.get_or_init(|| {
        hash_password(&SecretString::from("not-a-real-password-000"))
            .expect("hashing a constant works")
    })
}

pub fn verify_password(hash: &str, password: &SecretString) -> bool {
    PasswordHash::new(hash)
        .map(|parsed| {
            argon2()
                .verify_password(password.expose_secret().as_bytes(), &parsed)
                .is_ok()
        })
        .unwrap_or(false)
}

/// The one-time token that lets the first administrator choose a password: printed once,
/// kept in the database as a SHA-256 only, so that a link printed by one server process works
/// on every other process of the same database.
pub async fn issue_setup_token(store: &Store) -> anyhow::Result<SecretString> {
    let token = SecretString::from(random_text(24));
    store
        .insert_setup_token(&Sha256::digest(token.expose_secret().as_bytes()))
        .await?;
    Ok(token)
}

/// Whether `offered` is a set-up token issued by any process and not used up. Only tokens of
/// the issued length are looked up.
pub async fn setup_token_valid(
    store: &Store,
    offered: &str,
) -> Result<bool, crate::store::StoreError> {
    if offered.len() > 64 || offered.is_empty() {
        return Ok(false);
    }
    store
        .setup_token_known(&Sha256::digest(offered.as_bytes()))
        .await
}

/// A new API token: `mst_<prefix>_<secret>`. Returns (token, prefix, SHA-256 of the token).
pub fn new_api_token() -> (SecretString, String, Vec<u8>) {
    use argon2::password_hash::rand_core::{OsRng, RngCore as _};
    let mut p = [0u8; 6];
    OsRng.fill_bytes(&mut p);
    let prefix: String = p.iter().map(|b| format!("{b:02x}")).collect();
    let token = format!("mst_{prefix}_{}", random_text(32));
    let hash = Sha256::digest(token.as_bytes()).to_vec();
    (SecretString::from(token), prefix, hash)
}

/// Longest life a token may be given, in days (ten years).
pub const TOKEN_EXPIRY_DAYS_MAX: u32 = 3650;

/// Creates an API token and records it; the token is returned once and never stored.
#[tracing::instrument(skip(store))]
pub async fn create_api_token(
    store: &Store,
    name: &str,
    scope: TokenScope,
    expires_days: Option<u32>,
    created_by: &str,
) -> anyhow::Result<SecretString> {
    let name = name.trim();
    if name.is_empty() || name.chars().count() > 100 || name.chars().any(char::is_control) {
        anyhow::bail!("a token name must be 1 to 100 characters, without control characters");
    }
    if let Some(days) = expires_days
        && !(1..=TOKEN_EXPIRY_DAYS_MAX).contains(&days)
    {
        anyhow::bail!(
            "--expires-days must be 1 to {TOKEN_EXPIRY_DAYS_MAX}; leave it out for a token that does not expire"
        );
    }
    let (token, prefix, hash) = new_api_token();
    store
        .insert_token(&NewToken {
            name,
            prefix: &prefix,
            hash: &hash,
            created_by,
            scope,
            expires_days,
        })
        .await?;
    let expiry = expires_days.map_or_else(|| "no expiry".to_string(), |d| format!("{d} days"));
    store
        .audit(
            created_by,
            "token_created",
            &format!("{name} ({prefix}, {}, {expiry})", scope.as_str()),
        )
        .await
        .context("Failed to audit the API token")?;
    Ok(token)
}

/// Why an offered token was not accepted.
pub enum TokenRefusal {
    Invalid,
    Expired,
}

pub async fn authenticate_token(store: &Store, offered: &str) -> Result<Principal, TokenRefusal> {
    let rest = offered.strip_prefix("mst_").ok_or(TokenRefusal::Invalid)?;
    let (prefix, _) = rest.split_once('_').ok_or(TokenRefusal::Invalid)?;
    // A prefix is 12 hex digits: anything else is not looked up.
    if prefix.len() != 12 || !prefix.bytes().all(|b| b.is_ascii_hexdigit()) || offered.len() > 128 {
        return Err(TokenRefusal::Invalid);
    }
    let stored = store
        .live_token(prefix)
        .await
        .ok()
        .flatten()
        .ok_or(TokenRefusal::Invalid)?;
    let offered_hash = Sha256::digest(offered.as_bytes());
    if !bool::from(offered_hash.as_slice().ct_eq(&stored.hash)) {
        return Err(TokenRefusal::Invalid);
    }
    if stored.expired {
        return Err(TokenRefusal::Expired);
    }
    if let Err(e) = store.touch_token(prefix).await {
        tracing::warn!(error = %e, "could not note an API token's use");
    }
    Ok(Principal::Token {
        name: stored.name,
        scope: stored.scope,
    })
}

/// Creates the first administrator from `ADMIN_USER` / `ADMIN_PASSWORD` when none exists, or
/// issues a one-time setup token and prints where to use it.
#[tracing::instrument(skip_all)]
pub async fn bootstrap(
    store: &Store,
    admin: Option<(String, SecretString)>,
    setup_url: &str,
) -> anyhow::Result<()> {
    if store.admin_count().await? > 0 {
        return Ok(());
    }
    match admin {
        Some((user, password)) => {
            check_new_admin(&user, &password, "ADMIN_USER", "ADMIN_PASSWORD")?;
            let hash = hash_password(&password)?;
            if store.upsert_admin(&user, &hash, true).await? == Some(true) {
                store.audit("system", "admin_created", &user).await?;
                tracing::info!(
                    user,
                    "created the first administrator from ADMIN_USER/ADMIN_PASSWORD"
                );
            }
        }
        None => {
            let token = issue_setup_token(store).await?;
            // Printed, not logged: the console of the first start is where the operator looks.
            println!(
                "\nNo administrator exists yet. Open this address once to choose the password:\n  {setup_url}?token={}\n",
                token.expose_secret()
            );
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_hash_and_verify() {
        let p = SecretString::from("correct horse battery");
        let h = hash_password(&p).unwrap();
        assert!(h.starts_with("$argon2id$"));
        assert!(verify_password(&h, &p));
        assert!(!verify_password(&h, &SecretString::from("wrong")));
        assert!(!verify_password("garbage", &p));
    }

    #[test]
    fn password_rules() {
        assert_eq!(
            check_new_password("admin", &SecretString::from("short")),
            Err("password_too_short")
        );
        assert_eq!(
            check_new_password("administrator1", &SecretString::from("Administrator1")),
            Err("password_is_username")
        );
        assert!(check_new_password("admin", &SecretString::from("a long pass phrase")).is_ok());
        assert!(check_username("ops.admin@example").is_ok());
        assert!(check_username("bad name").is_err());
    }

    #[test]
    fn api_tokens_are_random_and_hashed() {
        let (a, pa, ha) = new_api_token();
        let (b, pb, _) = new_api_token();
        assert_ne!(a.expose_secret(), b.expose_secret());
        assert_ne!(pa, pb);
        assert!(a.expose_secret().starts_with(&format!("mst_{pa}_")));
        assert_eq!(ha, Sha256::digest(a.expose_secret().as_bytes()).to_vec());
    }
}
