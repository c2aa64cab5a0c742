//! Envelope encryption for health records.
//!
//! Content is sealed under a fresh random data key with XChaCha20-Poly1305 (a
//! 24-byte random nonce, so random nonces never collide in practice). The data
//! key is then wrapped to each reader with HPKE (RFC 9180, base mode,
//! DHKEM(X25519, HKDF-SHA256), HKDF-SHA256, ChaCha20-Poly1305): the reader's
//! HPKE context exports a key for the data key's binding (record, version,
//! reader) and a random salt, which seals the data key with ChaCha20-Poly1305. A context may wrap
//! many keys ([`WrapSession`]), so one X25519 encapsulation serves a whole
//! batch. Callers pass a binding that names the record, its version and, for a
//! wrapped key, the reader, so a ciphertext or a wrapped key moved to another
//! record or reader fails to open.

use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{ChaCha20Poly1305, Key, XChaCha20Poly1305, XNonce};
use hpke::{Deserializable, OpModeR, OpModeS, Serializable};
use zeroize::Zeroizing;

use crate::sign::{random_bytes, AgreementPublicKey, AgreementSecret};

type HpkeKem = hpke::kem::X25519HkdfSha256;
type HpkeKdf = hpke::kdf::HkdfSha256;
type HpkeAead = hpke::aead::ChaCha20Poly1305;

/// Domain separation for the HPKE key schedule.
const HPKE_INFO: &[u8] = b"salus/data-key/v1";
const NONCE_LEN: usize = 24;
const TAG_LEN: usize = 16;
const SALT_LEN: usize = 16;
/// A wrapped data key: a random salt, the sealed 32 key bytes and the AEAD tag.
pub const WRAPPED_KEY_LEN: usize = SALT_LEN + 32 + TAG_LEN;

/// The key-encryption key a context exports for one wrap. The random salt
/// makes it unique per wrap, so the fixed nonce is never used twice under one
/// key, even if a binding is wrapped again with another data key.
fn exported_key(
    export: impl FnOnce(&[u8], &mut [u8]) -> Result<(), hpke::HpkeError>,
    binding: &[u8],
    salt: &[u8],
) -> Result<ChaCha20Poly1305, SealError> {
    let mut context = Vec::with_capacity(binding.len() + salt.len());
    context.extend_from_slice(binding);
    context.extend_from_slice(salt);
    let mut kek = Zeroizing::new([0u8; 32]);
    export(&context, kek.as_mut()).map_err(|_| SealError::Tampered)?;
    Ok(ChaCha20Poly1305::new(&chacha20poly1305::Key::from(*kek)))
}

/// Why sealed data did not open. Deliberately vague: the caller learns that it
/// failed, never which byte was wrong.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SealError {
    #[error("ciphertext is too short")]
    Truncated,
    #[error("ciphertext or its associated data was tampered with, or the key is wrong")]
    Tampered,
    #[error("the recipient key is not a valid x25519 key")]
    BadKey,
}

/// A record's random content key. Wiped on drop.
pub struct DataKey(Zeroizing<[u8; 32]>);

impl DataKey {
    pub fn generate() -> DataKey {
        DataKey(Zeroizing::new(random_bytes()))
    }

    /// A key derived from another secret for one purpose (`domain`), e.g.
    /// the key that seals an issuer's credential secrets at rest under the
    /// issuer's own (passphrase-protected) signing key.
    pub fn derive(domain: &str, secret: &[u8]) -> DataKey {
        DataKey(Zeroizing::new(crate::sha256(domain, secret).0))
    }
}

impl std::fmt::Debug for DataKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("DataKey(…)")
    }
}

/// Seals `plaintext` under `key`; the output is `nonce ‖ ciphertext ‖ tag`.
pub fn encrypt_content(key: &DataKey, aad: &[u8], plaintext: &[u8]) -> Vec<u8> {
    let cipher = XChaCha20Poly1305::new(&Key::from(*key.0));
    let nonce: [u8; NONCE_LEN] = random_bytes();
    let sealed = cipher
        .encrypt(
            &XNonce::from(nonce),
            Payload {
                msg: plaintext,
                aad,
            },
        )
        .expect("XChaCha20-Poly1305 encryption cannot fail below 256 GiB");
    let mut out = Vec::with_capacity(NONCE_LEN + sealed.len());
    out.extend_from_slice(&nonce);
    out.extend_from_slice(&sealed);
    out
}

/// Opens what [`encrypt_content`] sealed. The plaintext is wiped on drop.
pub fn decrypt_content(
    key: &DataKey,
    aad: &[u8],
    sealed: &[u8],
) -> Result<Zeroizing<Vec<u8>>, SealError> {
    if sealed.len() < NONCE_LEN + TAG_LEN {
        return Err(SealError::Truncated);
    }
    let (nonce, body) = sealed.split_at(NONCE_LEN);
    let nonce: [u8; NONCE_LEN] = nonce.try_into().expect("split at the nonce length");
    let cipher = XChaCha20Poly1305::new(&Key::from(*key.0));
    cipher
        .decrypt(&XNonce::from(nonce), Payload { msg: body, aad })
        .map(Zeroizing::new)
        .map_err(|_| SealError::Tampered)
}

/// An HPKE sender context to one reader: one encapsulation, from which a
/// fresh key is exported for every data key it wraps (RFC 9180 §5.3, secret
/// export), bound to that key's record, version and reader. Reusing a context
/// saves the X25519 work per wrap; a reader who holds the context's secret
/// learns nothing it could not learn with its own private key.
pub struct WrapSession {
    recipient: AgreementPublicKey,
    enc: AgreementPublicKey,
    context: hpke::aead::AeadCtxS<HpkeAead, HpkeKdf, HpkeKem>,
}

impl WrapSession {
    pub fn new(recipient: &AgreementPublicKey) -> Result<WrapSession, SealError> {
        let public = <HpkeKem as hpke::Kem>::PublicKey::from_bytes(&recipient.0)
            .map_err(|_| SealError::BadKey)?;
        let (encapped, context) =
            hpke::setup_sender::<HpkeAead, HpkeKdf, HpkeKem>(&OpModeS::Base, &public, HPKE_INFO)
                .map_err(|_| SealError::BadKey)?;
        let enc: [u8; 32] = encapped
            .to_bytes()
            .as_slice()
            .try_into()
            .expect("an X25519 encapsulated key is 32 bytes");
        Ok(WrapSession {
            recipient: *recipient,
            enc: AgreementPublicKey(enc),
            context,
        })
    }

    /// The reader's agreement key.
    pub fn recipient(&self) -> &AgreementPublicKey {
        &self.recipient
    }

    /// HPKE's encapsulated key, which the reader needs to open the session.
    pub fn enc(&self) -> AgreementPublicKey {
        self.enc
    }

    /// Wraps `key` under a secret exported for `binding` and a fresh salt.
    pub fn wrap(&self, key: &DataKey, binding: &[u8]) -> [u8; WRAPPED_KEY_LEN] {
        let salt: [u8; SALT_LEN] = random_bytes();
        let cipher = exported_key(|c, out| self.context.export(c, out), binding, &salt)
            .expect("a 32-byte export is within HKDF-SHA256's limit");
        let sealed = cipher
            .encrypt(
                &chacha20poly1305::Nonce::default(),
                Payload {
                    msg: key.0.as_ref(),
                    aad: binding,
                },
            )
            .expect("sealing 32 bytes cannot fail");
        let mut out = [0u8; WRAPPED_KEY_LEN];
        out[..SALT_LEN].copy_from_slice(&salt);
        out[SALT_LEN..].copy_from_slice(&sealed);
        out
    }
}

/// The reader's side of a [`WrapSession`]: one decapsulation, many keys.
pub struct UnwrapSession {
    context: hpke::aead::AeadCtxR<HpkeAead, HpkeKdf, HpkeKem>,
}

impl UnwrapSession {
    pub fn new(
        secret: &AgreementSecret,
        enc: &AgreementPublicKey,
    ) -> Result<UnwrapSession, SealError> {
        let private = <HpkeKem as hpke::Kem>::PrivateKey::from_bytes(secret.to_bytes().as_ref())
            .map_err(|_| SealError::BadKey)?;
        let encapped = <HpkeKem as hpke::Kem>::EncappedKey::from_bytes(&enc.0)
            .map_err(|_| SealError::Tampered)?;
        let context = hpke::setup_receiver::<HpkeAead, HpkeKdf, HpkeKem>(
            &OpModeR::Base,
            &private,
            &encapped,
            HPKE_INFO,
        )
        .map_err(|_| SealError::Tampered)?;
        Ok(UnwrapSession { context })
    }

    /// Opens a key wrapped for `binding`.
    pub fn unwrap(
        &self,
        wrapped: &[u8; WRAPPED_KEY_LEN],
        binding: &[u8],
    ) -> Result<DataKey, SealError> {
        let (salt, sealed) = wrapped.split_at(SALT_LEN);
        let cipher = exported_key(|c, out| self.context.export(c, out), binding, salt)?;
        let opened = Zeroizing::new(
            cipher
                .decrypt(
                    &chacha20poly1305::Nonce::default(),
                    Payload {
                        msg: sealed,
                        aad: binding,
                    },
                )
                .map_err(|_| SealError::Tampered)?,
        );
        let bytes: [u8; 32] = opened
            .as_slice()
            .try_into()
            .map_err(|_| SealError::Tampered)?;
        Ok(DataKey(Zeroizing::new(bytes)))
    }
}

/// Wraps `key` to `recipient` in a session of its own. Returns HPKE's
/// encapsulated key and the wrapped data key.
pub fn wrap_key(
    key: &DataKey,
    recipient: &AgreementPublicKey,
    binding: &[u8],
) -> Result<(AgreementPublicKey, [u8; WRAPPED_KEY_LEN]), SealError> {
    let session = WrapSession::new(recipient)?;
    Ok((session.enc(), session.wrap(key, binding)))
}

/// Unwraps a data key wrapped to `secret` by [`wrap_key`] or a [`WrapSession`].
pub fn unwrap_key(
    secret: &AgreementSecret,
    enc: &AgreementPublicKey,
    wrapped: &[u8; WRAPPED_KEY_LEN],
    binding: &[u8],
) -> Result<DataKey, SealError> {
    UnwrapSession::new(secret, enc)?.unwrap(wrapped, binding)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn content_round_trips_and_detects_tampering() {
        let key = DataKey::generate();
        let sealed = encrypt_content(&key, b"record-1", b"{\"resourceType\":\"Observation\"}");
        let opened = decrypt_content(&key, b"record-1", &sealed).unwrap();
        assert_eq!(opened.as_slice(), b"{\"resourceType\":\"Observation\"}");
        assert_eq!(
            decrypt_content(&key, b"record-2", &sealed).unwrap_err(),
            SealError::Tampered
        );
        for index in [0, NONCE_LEN, sealed.len() - 1] {
            let mut bad = sealed.clone();
            bad[index] ^= 1;
            assert_eq!(
                decrypt_content(&key, b"record-1", &bad).unwrap_err(),
                SealError::Tampered
            );
        }
        assert_eq!(
            decrypt_content(&DataKey::generate(), b"record-1", &sealed).unwrap_err(),
            SealError::Tampered
        );
        assert_eq!(
            decrypt_content(&key, b"record-1", &sealed[..10]).unwrap_err(),
            SealError::Truncated
        );
    }

    #[test]
    fn wrapped_keys_open_only_for_their_reader_and_binding() {
        let key = DataKey::generate();
        let reader = AgreementSecret::generate();
        let other = AgreementSecret::generate();
        let (enc, wrapped) = wrap_key(&key, &reader.public_key(), b"r1|v1|reader").unwrap();
        let opened = unwrap_key(&reader, &enc, &wrapped, b"r1|v1|reader").unwrap();
        let sealed = encrypt_content(&key, b"ad", b"secret");
        assert_eq!(
            decrypt_content(&opened, b"ad", &sealed).unwrap().as_slice(),
            b"secret"
        );

        assert!(unwrap_key(&other, &enc, &wrapped, b"r1|v1|reader").is_err());
        assert!(unwrap_key(&reader, &enc, &wrapped, b"r1|v2|reader").is_err());
        let mut bad = wrapped;
        bad[5] ^= 1;
        assert!(unwrap_key(&reader, &enc, &bad, b"r1|v1|reader").is_err());
        let mut bad = wrapped;
        bad[40] ^= 1;
        assert!(unwrap_key(&reader, &enc, &bad, b"r1|v1|reader").is_err());
    }

    #[test]
    fn one_session_wraps_many_keys_each_bound_to_its_record() {
        let reader = AgreementSecret::generate();
        let session = WrapSession::new(&reader.public_key()).unwrap();
        let opener = UnwrapSession::new(&reader, &session.enc()).unwrap();
        let keys: Vec<DataKey> = (0..3).map(|_| DataKey::generate()).collect();
        let wrapped: Vec<_> = keys
            .iter()
            .enumerate()
            .map(|(i, k)| session.wrap(k, format!("record-{i}").as_bytes()))
            .collect();
        for (i, (key, sealed)) in keys.iter().zip(&wrapped).enumerate() {
            let opened = opener
                .unwrap(sealed, format!("record-{i}").as_bytes())
                .unwrap();
            let content = encrypt_content(&opened, b"ad", b"x");
            assert_eq!(
                decrypt_content(key, b"ad", &content).unwrap().as_slice(),
                b"x"
            );
            // The same wrapped key under another record's binding does not open.
            assert!(opener
                .unwrap(sealed, format!("record-{}", i + 1).as_bytes())
                .is_err());
        }
        // Wrapping the same binding again, even with another key, never repeats.
        let again = session.wrap(&keys[0], b"record-0");
        assert_ne!(again, wrapped[0], "a fresh salt each time");
        // Another reader cannot open the session.
        let other = AgreementSecret::generate();
        let stranger = UnwrapSession::new(&other, &session.enc()).unwrap();
        assert!(stranger.unwrap(&wrapped[0], b"record-0").is_err());
    }
}
