//! Secrets at rest: AES-256-GCM under a key that is not in the database.
//!
//! Where the key comes from (see [`KeySource`]):
//! - `MAIL_SECRET_KEY`: 32 bytes, base64. `MAIL_SECRET_KEY_PREVIOUS` may hold the key before a
//!   rotation, for reading only.
//! - otherwise a key file (`MAIL_SECRET_KEY_FILE`, default `data/secret.key`), created with
//!   permissions 0600 on first run. A `<file>.new` left by an interrupted rotation is read too.
//!
//! A stored value is `0x01 ‖ key id (8) ‖ nonce (12) ‖ ciphertext and tag`. The key id (the first
//! 8 bytes of the key's SHA-256) says which key wrote it, so a rotation can be finished or
//! repeated safely. The secret's name is the associated data: a value copied into another slot
//! does not decrypt.

use aes_gcm::aead::{Aead, KeyInit, OsRng, Payload};
use aes_gcm::{AeadCore, Aes256Gcm, Key as AesKey, Nonce};
use anyhow::{Context as _, bail};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use secrecy::{ExposeSecret, SecretBox, SecretString};
use sha2::{Digest, Sha256};
use std::fmt;
use std::path::{Path, PathBuf};

const FORMAT_V1: u8 = 1;
const ID_LEN: usize = 8;
const NONCE_LEN: usize = 12;

/// Where the encryption key lives.
#[derive(Clone)]
pub enum KeySource {
    /// From the environment (`MAIL_SECRET_KEY`, `MAIL_SECRET_KEY_PREVIOUS`), base64.
    Env {
        current: SecretString,
        previous: Option<SecretString>,
    },
    /// A key file, created (0600) when missing.
    File(PathBuf),
}

impl fmt::Debug for KeySource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            KeySource::Env { previous, .. } => f
                .debug_struct("Env")
                .field("previous", &previous.is_some())
                .finish_non_exhaustive(),
            KeySource::File(path) => f.debug_tuple("File").field(path).finish(),
        }
    }
}

/// One AES-256 key.
struct DataKey {
    id: [u8; ID_LEN],
    cipher: Aes256Gcm,
}

impl DataKey {
    fn from_bytes(bytes: &[u8]) -> anyhow::Result<DataKey> {
        if bytes.len() != 32 {
            bail!(
                "an encryption key must be 32 bytes (base64 of 32 random bytes, e.g. `openssl rand -base64 32`), got {} bytes",
                bytes.len()
            );
        }
        let digest = Sha256::digest(bytes);
        let mut id = [0u8; ID_LEN];
        id.copy_from_slice(&digest[..ID_LEN]);
        Ok(DataKey {
            id,
            cipher: Aes256Gcm::new(AesKey::<Aes256Gcm>::from_slice(bytes)),
        })
    }

    fn from_base64(text: &str) -> anyhow::Result<DataKey> {
        let bytes = SecretBox::new(Box::new(
            B64.decode(text.trim())
                .context("an encryption key must be base64 text")?,
        ));
        DataKey::from_bytes(bytes.expose_secret())
    }

    fn id_hex(&self) -> String {
        self.id.iter().map(|b| format!("{b:02x}")).collect()
    }
}

/// The keys in use: `current` encrypts; all of them decrypt.
pub struct Keyring {
    current: DataKey,
    others: Vec<DataKey>,
}

impl fmt::Debug for Keyring {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Keyring")
            .field("current", &self.current.id_hex())
            .field("others", &self.others.len())
            .finish()
    }
}

#[derive(Debug, thiserror::Error)]
pub enum SecretError {
    #[error(
        "a stored secret was written with a key this server does not have (key id {0}); set the key it was written with, or enter the secret again"
    )]
    UnknownKey(String),
    #[error(
        "a stored secret could not be decrypted: it was altered, or moved from another slot; enter it again"
    )]
    Corrupt,
}

fn random_key_bytes() -> SecretBox<Vec<u8>> {
    SecretBox::new(Box::new(Aes256Gcm::generate_key(OsRng).to_vec()))
}

/// `bytes` random bytes from the OS as URL-safe base64 text: setup tokens, API tokens, CSP
/// nonces.
pub fn random_text(bytes: usize) -> String {
    use aes_gcm::aead::rand_core::RngCore as _;
    let mut buf = vec![0u8; bytes];
    OsRng.fill_bytes(&mut buf);
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(buf)
}

/// Base64 text of a fresh random key, e.g. for `MAIL_SECRET_KEY`.
pub fn generate_key_text() -> SecretString {
    SecretString::from(B64.encode(random_key_bytes().expose_secret()))
}

impl Keyring {
    /// Loads the keys, creating the key file on first run.
    pub fn load(source: &KeySource) -> anyhow::Result<Keyring> {
        match source {
            KeySource::Env { current, previous } => {
                let current = DataKey::from_base64(current.expose_secret())
                    .context("MAIL_SECRET_KEY is not a valid key")?;
                let others = match previous {
                    Some(p) => vec![
                        DataKey::from_base64(p.expose_secret())
                            .context("MAIL_SECRET_KEY_PREVIOUS is not a valid key")?,
                    ],
                    None => Vec::new(),
                };
                Ok(Keyring { current, others })
            }
            KeySource::File(path) => {
                if !path.exists() {
                    write_key_file(path, &generate_key_text())?;
                    tracing::info!(path = %path.display(), "created a new encryption key file (0600); back it up apart from the database");
                }
                let current = read_key_file(path)?;
                let mut others = Vec::new();
                let pending = pending_path(path);
                if pending.exists() {
                    tracing::warn!(path = %pending.display(), "a key rotation was interrupted; run `server rotate-key` again to finish it");
                    others.push(read_key_file(&pending)?);
                }
                Ok(Keyring { current, others })
            }
        }
    }

    /// A keyring holding just one key (tests and tools).
    pub fn from_key_text(text: &str) -> anyhow::Result<Keyring> {
        Ok(Keyring {
            current: DataKey::from_base64(text)?,
            others: Vec::new(),
        })
    }

    /// The current key's id (hex), for logs: never the key.
    pub fn current_id(&self) -> String {
        self.current.id_hex()
    }

    /// Encrypts `plain` for the slot `name`.
    pub fn seal(&self, name: &str, plain: &SecretString) -> Vec<u8> {
        let nonce = Aes256Gcm::generate_nonce(&mut OsRng);
        let ciphertext = self
            .current
            .cipher
            .encrypt(
                &nonce,
                Payload {
                    msg: plain.expose_secret().as_bytes(),
                    aad: name.as_bytes(),
                },
            )
            .expect("AES-GCM encryption of a short secret cannot fail");
        let mut out = Vec::with_capacity(1 + ID_LEN + NONCE_LEN + ciphertext.len());
        out.push(FORMAT_V1);
        out.extend_from_slice(&self.current.id);
        out.extend_from_slice(&nonce);
        out.extend_from_slice(&ciphertext);
        out
    }

    /// Decrypts a value stored in the slot `name`.
    pub fn open(&self, name: &str, sealed: &[u8]) -> Result<SecretString, SecretError> {
        let header = 1 + ID_LEN + NONCE_LEN;
        if sealed.len() < header || sealed[0] != FORMAT_V1 {
            return Err(SecretError::Corrupt);
        }
        let id = &sealed[1..1 + ID_LEN];
        let key = std::iter::once(&self.current)
            .chain(&self.others)
            .find(|k| k.id == id)
            .ok_or_else(|| {
                SecretError::UnknownKey(id.iter().map(|b| format!("{b:02x}")).collect())
            })?;
        let nonce = Nonce::from_slice(&sealed[1 + ID_LEN..header]);
        let plain = key
            .cipher
            .decrypt(
                nonce,
                Payload {
                    msg: &sealed[header..],
                    aad: name.as_bytes(),
                },
            )
            .map_err(|_| SecretError::Corrupt)?;
        let text = String::from_utf8(plain).map_err(|_| SecretError::Corrupt)?;
        Ok(SecretString::from(text))
    }

    /// True when `sealed` was written with the current key (nothing to re-encrypt).
    pub fn is_current(&self, sealed: &[u8]) -> bool {
        sealed.len() > ID_LEN && sealed[1..1 + ID_LEN] == self.current.id
    }

    /// A keyring that encrypts with `next` and still reads everything this one reads.
    pub fn rotated_to(self, next_text: &str) -> anyhow::Result<Keyring> {
        let next = DataKey::from_base64(next_text)?;
        let mut others = self.others;
        others.push(self.current);
        Ok(Keyring {
            current: next,
            others,
        })
    }
}

/// `secret.key.new`: the key a rotation is moving to, until it is finished.
pub fn pending_path(path: &Path) -> PathBuf {
    let mut name = path.file_name().unwrap_or_default().to_os_string();
    name.push(".new");
    path.with_file_name(name)
}

fn read_key_file(path: &Path) -> anyhow::Result<DataKey> {
    let text = SecretString::from(
        std::fs::read_to_string(path)
            .with_context(|| format!("Failed to read the key file {}", path.display()))?,
    );
    DataKey::from_base64(text.expose_secret())
        .with_context(|| format!("The key file {} does not hold a valid key", path.display()))
}

/// Writes a key file that only the owner can read, never replacing an existing one.
pub fn write_key_file(path: &Path, key_text: &SecretString) -> anyhow::Result<()> {
    use std::io::Write as _;
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir)
            .with_context(|| format!("Failed to create the directory {}", dir.display()))?;
    }
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt as _;
        options.mode(0o600);
    }
    let mut file = options
        .open(path)
        .with_context(|| format!("Failed to create the key file {}", path.display()))?;
    file.write_all(key_text.expose_secret().as_bytes())
        .and_then(|()| file.write_all(b"\n"))
        .and_then(|()| file.sync_all())
        .with_context(|| format!("Failed to write the key file {}", path.display()))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ring() -> Keyring {
        Keyring::from_key_text(generate_key_text().expose_secret()).unwrap()
    }

    #[test]
    fn round_trip_and_no_plaintext() {
        let ring = ring();
        let secret = SecretString::from("pässword-123");
        let sealed = ring.seal("smtp_password", &secret);
        assert!(!sealed.windows("password".len()).any(|w| w == b"password"));
        assert_eq!(
            ring.open("smtp_password", &sealed).unwrap().expose_secret(),
            "pässword-123"
        );
        // Two seals of the same value differ (fresh nonce).
        assert_ne!(sealed, ring.seal("smtp_password", &secret));
    }

    #[test]
    fn other_slot_tampering_and_unknown_key_are_refused() {
        let ring = ring();
        let sealed = ring.seal("smtp_password", &SecretString::from("x"));
        assert!(matches!(
            ring.open("oauth_client_secret", &sealed),
            Err(SecretError::Corrupt)
        ));
        let mut bent = sealed.clone();
        *bent.last_mut().unwrap() ^= 1;
        assert!(matches!(
            ring.open("smtp_password", &bent),
            Err(SecretError::Corrupt)
        ));
        assert!(matches!(
            self::ring().open("smtp_password", &sealed),
            Err(SecretError::UnknownKey(_))
        ));
        assert!(matches!(
            ring.open("smtp_password", &[1, 2]),
            Err(SecretError::Corrupt)
        ));
    }

    #[test]
    fn rotation_reads_old_writes_new() {
        let old = ring();
        let sealed = old.seal("s", &SecretString::from("v"));
        let next = generate_key_text();
        let rotated = old.rotated_to(next.expose_secret()).unwrap();
        assert!(!rotated.is_current(&sealed));
        assert_eq!(rotated.open("s", &sealed).unwrap().expose_secret(), "v");
        let resealed = rotated.seal("s", &SecretString::from("v"));
        assert!(rotated.is_current(&resealed));
        let only_new = Keyring::from_key_text(next.expose_secret()).unwrap();
        assert_eq!(only_new.open("s", &resealed).unwrap().expose_secret(), "v");
    }

    #[test]
    fn bad_keys_are_explained() {
        let short = Keyring::from_key_text(&B64.encode([0u8; 16])).unwrap_err();
        assert!(format!("{short:#}").contains("32 bytes"));
        assert!(Keyring::from_key_text("not base64!").is_err());
    }

    #[test]
    fn key_file_is_created_owner_only_and_reused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("keys/secret.key");
        let first = Keyring::load(&KeySource::File(path.clone())).unwrap();
        let again = Keyring::load(&KeySource::File(path.clone())).unwrap();
        assert_eq!(first.current_id(), again.current_id());
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt as _;
            let mode = std::fs::metadata(&path).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        assert!(!format!("{first:?}").contains(&std::fs::read_to_string(&path).unwrap()));
    }
}
