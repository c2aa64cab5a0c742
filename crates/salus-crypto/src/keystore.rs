//! Encrypted key files.
//!
//! A key file holds an ed25519 signing seed and an x25519 agreement secret,
//! encrypted with XChaCha20-Poly1305 under a key stretched from a passphrase by
//! Argon2id. The public key and the file's name are bound as associated data, so
//! a file whose visible fields were edited fails to open instead of lying.

use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{Key, XChaCha20Poly1305, XNonce};
use serde::{Deserialize, Serialize};
use zeroize::Zeroizing;

use crate::{random_bytes, AgreementPublicKey, AgreementSecret, PublicKey, SigningKey};

const FORMAT_VERSION: u32 = 1;
const SECRET_LEN: usize = 64;
/// Upper bounds on KDF parameters read from a file, so a hostile file cannot
/// make `open` allocate gigabytes or spin for minutes.
const MAX_M_COST_KIB: u32 = 1 << 20;
const MAX_T_COST: u32 = 16;

/// Argon2id cost parameters.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct KdfParams {
    pub m_cost_kib: u32,
    pub t_cost: u32,
    pub p_cost: u32,
}

impl KdfParams {
    /// OWASP's 2023 Argon2id recommendation (19 MiB, 2 passes).
    pub const RECOMMENDED: KdfParams = KdfParams {
        m_cost_kib: 19 * 1024,
        t_cost: 2,
        p_cost: 1,
    };
}

/// The on-disk JSON form of a key file.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KeyFile {
    pub version: u32,
    pub name: String,
    pub public_key: PublicKey,
    pub agreement_key: AgreementPublicKey,
    pub kdf: KdfParams,
    pub salt: String,
    pub nonce: String,
    pub ciphertext: String,
}

/// A decrypted key pair.
#[derive(Debug, Clone)]
pub struct KeyPair {
    pub signing: SigningKey,
    pub agreement: AgreementSecret,
}

impl KeyPair {
    pub fn generate() -> Self {
        KeyPair {
            signing: SigningKey::generate(),
            agreement: AgreementSecret::generate(),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum KeystoreError {
    #[error("wrong passphrase, or the key file was altered")]
    Decrypt,
    #[error("key file is malformed: {0}")]
    Malformed(String),
    #[error("key file version {0} is not supported")]
    Version(u32),
    #[error("key file asks for KDF costs above the allowed maximum")]
    KdfTooExpensive,
    #[error("key derivation failed: {0}")]
    Kdf(String),
}

impl KeyFile {
    /// Encrypts `keys` under `passphrase`.
    pub fn seal(
        name: &str,
        keys: &KeyPair,
        passphrase: &[u8],
        kdf: KdfParams,
    ) -> Result<KeyFile, KeystoreError> {
        let salt = random_bytes::<16>();
        let nonce = random_bytes::<24>();
        let public_key = keys.signing.public_key();
        let agreement_key = keys.agreement.public_key();
        let key = derive_key(passphrase, &salt, kdf)?;
        let mut secret = Zeroizing::new([0u8; SECRET_LEN]);
        secret[..32].copy_from_slice(&*keys.signing.seed());
        secret[32..].copy_from_slice(&*keys.agreement.to_bytes());
        let aad = associated_data(name, &public_key, &agreement_key);
        let cipher = XChaCha20Poly1305::new(&Key::from(*key));
        let ciphertext = cipher
            .encrypt(
                &XNonce::from(nonce),
                Payload {
                    msg: secret.as_ref(),
                    aad: &aad,
                },
            )
            .map_err(|_| KeystoreError::Decrypt)?;
        Ok(KeyFile {
            version: FORMAT_VERSION,
            name: name.to_owned(),
            public_key,
            agreement_key,
            kdf,
            salt: hex::encode(salt),
            nonce: hex::encode(nonce),
            ciphertext: hex::encode(ciphertext),
        })
    }

    /// Decrypts the key pair; fails on a wrong passphrase or any edited field.
    pub fn open(&self, passphrase: &[u8]) -> Result<KeyPair, KeystoreError> {
        if self.version != FORMAT_VERSION {
            return Err(KeystoreError::Version(self.version));
        }
        if self.kdf.m_cost_kib > MAX_M_COST_KIB || self.kdf.t_cost > MAX_T_COST {
            return Err(KeystoreError::KdfTooExpensive);
        }
        let salt = hex::decode(&self.salt).map_err(|e| KeystoreError::Malformed(e.to_string()))?;
        let nonce: [u8; 24] = hex::decode(&self.nonce)
            .ok()
            .and_then(|n| n.try_into().ok())
            .ok_or_else(|| KeystoreError::Malformed("nonce must be 24 bytes".into()))?;
        let ciphertext =
            hex::decode(&self.ciphertext).map_err(|e| KeystoreError::Malformed(e.to_string()))?;
        let key = derive_key(passphrase, &salt, self.kdf)?;
        let aad = associated_data(&self.name, &self.public_key, &self.agreement_key);
        let cipher = XChaCha20Poly1305::new(&Key::from(*key));
        let secret = Zeroizing::new(
            cipher
                .decrypt(
                    &XNonce::from(nonce),
                    Payload {
                        msg: &ciphertext,
                        aad: &aad,
                    },
                )
                .map_err(|_| KeystoreError::Decrypt)?,
        );
        let secret: &[u8; SECRET_LEN] = secret
            .as_slice()
            .try_into()
            .map_err(|_| KeystoreError::Malformed("secret has the wrong length".into()))?;
        let mut seed = Zeroizing::new([0u8; 32]);
        seed.copy_from_slice(&secret[..32]);
        let mut agreement = Zeroizing::new([0u8; 32]);
        agreement.copy_from_slice(&secret[32..]);
        let pair = KeyPair {
            signing: SigningKey::from_seed(&seed),
            agreement: AgreementSecret::from_bytes(&agreement),
        };
        // The AEAD already binds the public keys; this guards against a writer bug.
        if pair.signing.public_key() != self.public_key
            || pair.agreement.public_key() != self.agreement_key
        {
            return Err(KeystoreError::Decrypt);
        }
        Ok(pair)
    }

    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(self).expect("a KeyFile always serializes")
    }

    pub fn from_json(text: &str) -> Result<KeyFile, KeystoreError> {
        serde_json::from_str(text).map_err(|e| KeystoreError::Malformed(e.to_string()))
    }
}

fn associated_data(name: &str, public: &PublicKey, agreement: &AgreementPublicKey) -> Vec<u8> {
    let mut aad = b"salus/keyfile/v1".to_vec();
    aad.extend_from_slice(&(name.len() as u32).to_be_bytes());
    aad.extend_from_slice(name.as_bytes());
    aad.extend_from_slice(&public.0);
    aad.extend_from_slice(&agreement.0);
    aad
}

fn derive_key(
    passphrase: &[u8],
    salt: &[u8],
    kdf: KdfParams,
) -> Result<Zeroizing<[u8; 32]>, KeystoreError> {
    let params = argon2::Params::new(kdf.m_cost_kib, kdf.t_cost, kdf.p_cost, Some(32))
        .map_err(|e| KeystoreError::Kdf(e.to_string()))?;
    let argon = argon2::Argon2::new(argon2::Algorithm::Argon2id, argon2::Version::V0x13, params);
    let mut key = Zeroizing::new([0u8; 32]);
    argon
        .hash_password_into(passphrase, salt, key.as_mut())
        .map_err(|e| KeystoreError::Kdf(e.to_string()))?;
    Ok(key)
}

#[cfg(test)]
mod tests {
    use super::*;

    const CHEAP: KdfParams = KdfParams {
        m_cost_kib: 64,
        t_cost: 1,
        p_cost: 1,
    };

    #[test]
    fn seal_open_round_trip() {
        let keys = KeyPair::generate();
        let file = KeyFile::seal("alice", &keys, b"correct horse", CHEAP).unwrap();
        let json = file.to_json();
        assert!(!json.contains(&hex::encode(*keys.signing.seed())));
        let opened = KeyFile::from_json(&json)
            .unwrap()
            .open(b"correct horse")
            .unwrap();
        assert_eq!(opened.signing.public_key(), keys.signing.public_key());
        assert_eq!(opened.agreement.public_key(), keys.agreement.public_key());
    }

    #[test]
    fn wrong_passphrase_and_tampering_fail() {
        let keys = KeyPair::generate();
        let file = KeyFile::seal("alice", &keys, b"pw", CHEAP).unwrap();
        assert!(matches!(file.open(b"pW"), Err(KeystoreError::Decrypt)));
        let mut renamed = file.clone();
        renamed.name = "mallory".into();
        assert!(matches!(renamed.open(b"pw"), Err(KeystoreError::Decrypt)));
        let mut swapped = file.clone();
        swapped.public_key = SigningKey::generate().public_key();
        assert!(matches!(swapped.open(b"pw"), Err(KeystoreError::Decrypt)));
        let mut costly = file.clone();
        costly.kdf.m_cost_kib = u32::MAX;
        assert!(matches!(
            costly.open(b"pw"),
            Err(KeystoreError::KdfTooExpensive)
        ));
        assert!(matches!(
            KeyFile::from_json("{\"version\":1}"),
            Err(KeystoreError::Malformed(_))
        ));
    }

    #[test]
    fn key_directory_saves_lists_and_never_overwrites() {
        let dir = tempfile::tempdir().unwrap();
        let keys = KeyDir::new(dir.path().join("keys"));
        assert!(keys.list().unwrap().is_empty());
        let file = KeyFile::seal("alice", &KeyPair::generate(), b"pw", CHEAP).unwrap();
        keys.save(&file).unwrap();
        assert!(matches!(keys.save(&file), Err(KeyDirError::Exists(_))));
        assert!(keys.exists("alice"));
        assert_eq!(keys.load("alice").unwrap().public_key, file.public_key);
        assert_eq!(
            keys.list().unwrap().len(),
            1,
            "no temporary files left behind"
        );
        assert!(matches!(keys.load("bob"), Err(KeyDirError::NotFound(_))));
        assert!(matches!(
            keys.load("../etc/passwd"),
            Err(KeyDirError::BadName)
        ));
    }
}

/// A directory of key files, one `<name>.json` per key.
#[derive(Debug, Clone)]
pub struct KeyDir {
    path: std::path::PathBuf,
}

#[derive(Debug, thiserror::Error)]
pub enum KeyDirError {
    #[error("key name must be 1..=64 characters of [A-Za-z0-9_-]")]
    BadName,
    #[error("no key named `{0}`")]
    NotFound(String),
    #[error("a key named `{0}` already exists")]
    Exists(String),
    #[error("key directory I/O failed")]
    Io(#[from] std::io::Error),
    #[error(transparent)]
    Keystore(#[from] KeystoreError),
}

impl KeyDir {
    pub fn new(path: impl Into<std::path::PathBuf>) -> Self {
        KeyDir { path: path.into() }
    }

    pub fn path(&self) -> &std::path::Path {
        &self.path
    }

    fn file(&self, name: &str) -> Result<std::path::PathBuf, KeyDirError> {
        let ok = !name.is_empty()
            && name.len() <= 64
            && name
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
        if !ok {
            return Err(KeyDirError::BadName);
        }
        Ok(self.path.join(format!("{name}.json")))
    }

    /// Writes a new key file; never overwrites one. The file appears whole or
    /// not at all: it is written and synced under a temporary name, then linked
    /// into place (which fails if the name is taken).
    pub fn save(&self, file: &KeyFile) -> Result<(), KeyDirError> {
        let path = self.file(&file.name)?;
        std::fs::create_dir_all(&self.path)?;
        let temporary = self.path.join(format!(
            ".{}.{}.tmp",
            file.name,
            hex::encode(random_bytes::<8>())
        ));
        let mut options = std::fs::OpenOptions::new();
        options.write(true).create_new(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt;
            options.mode(0o600);
        }
        let result = (|| {
            let mut handle = options.open(&temporary)?;
            std::io::Write::write_all(&mut handle, file.to_json().as_bytes())?;
            handle.sync_all()?;
            std::fs::hard_link(&temporary, &path)
        })();
        let _ = std::fs::remove_file(&temporary);
        result.map_err(|e| match e.kind() {
            std::io::ErrorKind::AlreadyExists => KeyDirError::Exists(file.name.clone()),
            _ => KeyDirError::Io(e),
        })?;
        if let Ok(dir) = std::fs::File::open(&self.path) {
            let _ = dir.sync_all();
        }
        Ok(())
    }

    pub fn load(&self, name: &str) -> Result<KeyFile, KeyDirError> {
        let path = self.file(name)?;
        let text = std::fs::read_to_string(&path).map_err(|e| match e.kind() {
            std::io::ErrorKind::NotFound => KeyDirError::NotFound(name.to_owned()),
            _ => KeyDirError::Io(e),
        })?;
        Ok(KeyFile::from_json(&text)?)
    }

    pub fn exists(&self, name: &str) -> bool {
        self.file(name).map(|p| p.exists()).unwrap_or(false)
    }

    /// All readable key files, by name.
    pub fn list(&self) -> Result<Vec<KeyFile>, KeyDirError> {
        let mut out = Vec::new();
        let entries = match std::fs::read_dir(&self.path) {
            Ok(entries) => entries,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(out),
            Err(e) => return Err(e.into()),
        };
        for entry in entries {
            let path = entry?.path();
            if path.extension().and_then(|e| e.to_str()) != Some("json") {
                continue;
            }
            if let Ok(file) = KeyFile::from_json(&std::fs::read_to_string(&path)?) {
                out.push(file);
            }
        }
        out.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(out)
    }
}
