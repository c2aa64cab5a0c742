//! Client-side record encryption and vault requests.
//!
//! The client seals FHIR content under a fresh data key per version, wraps that
//! key to every reader with HPKE, anchors the ciphertext hash on chain, and
//! uploads ciphertext and envelopes to a vault. Reading reverses it: a signed
//! request, the reader's envelope, the data key, and the content, checked
//! against the anchored hash and the record binding.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use salus_crypto::seal::{self, DataKey, SealError, UnwrapSession, WrapSession};
use salus_crypto::{AgreementPublicKey, AgreementSecret, SigningKey};
use salus_types::consent::Purpose;
use salus_types::records::{Category, RecordAction, RecordId};
use salus_types::vault::{
    ciphertext_hash, content_aad, envelope_aad, KeyEnvelope, ReadRequest, RequestHeader, Signed,
    Want, WrappedKey, WriteRequest,
};
use salus_types::{AccountId, Action, Hash};
use zeroize::Zeroizing;

/// A reader of a record version: an account and its agreement key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Reader {
    pub account: AccountId,
    pub key: AgreementPublicKey,
}

/// A sealed record version, ready to anchor and upload.
#[derive(Debug, Clone)]
pub struct SealedVersion {
    pub record: RecordId,
    pub version: u32,
    pub ciphertext: Vec<u8>,
    pub ciphertext_hash: Hash,
    pub envelopes: Vec<KeyEnvelope>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RecordError {
    #[error(transparent)]
    Seal(#[from] SealError),
    #[error("the vault's ciphertext does not match the anchored hash")]
    HashMismatch,
    #[error("the key envelope is for another reader or key")]
    WrongEnvelope,
    #[error("the vault sent no content")]
    NoContent,
    #[error("the vault sent malformed data: {0}")]
    Malformed(String),
}

/// A client's HPKE contexts, kept in memory so that one X25519 operation per
/// reader serves many keys: wrapping reuses a context per reader for up to
/// [`MAX_WRAPS_PER_SESSION`] keys; opening keeps the contexts it decapsulated.
#[derive(Default)]
pub struct KeyCache {
    wrapping: Mutex<BTreeMap<AgreementPublicKey, (Arc<WrapSession>, u32)>>,
    opening: Mutex<BTreeMap<(AgreementPublicKey, AgreementPublicKey), Arc<UnwrapSession>>>,
}

/// A wrapping context is retired after this many keys.
pub const MAX_WRAPS_PER_SESSION: u32 = 4_096;
/// At most this many opened contexts are kept.
const MAX_OPENED: usize = 4_096;

impl KeyCache {
    fn wrapper(&self, recipient: &AgreementPublicKey) -> Result<Arc<WrapSession>, SealError> {
        let mut sessions = self.wrapping.lock().expect("key cache lock");
        if let Some((session, uses)) = sessions.get_mut(recipient) {
            if *uses < MAX_WRAPS_PER_SESSION {
                *uses += 1;
                return Ok(session.clone());
            }
        }
        let session = Arc::new(WrapSession::new(recipient)?);
        sessions.insert(*recipient, (session.clone(), 1));
        Ok(session)
    }

    fn opener(
        &self,
        secret: &AgreementSecret,
        enc: &AgreementPublicKey,
    ) -> Result<Arc<UnwrapSession>, SealError> {
        let id = (secret.public_key(), *enc);
        if let Some(session) = self.opening.lock().expect("key cache lock").get(&id) {
            return Ok(session.clone());
        }
        let session = Arc::new(UnwrapSession::new(secret, enc)?);
        let mut opened = self.opening.lock().expect("key cache lock");
        if opened.len() >= MAX_OPENED {
            opened.clear();
        }
        opened.insert(id, session.clone());
        Ok(session)
    }
}

/// Wraps `key` for one reader of `record`/`version`.
pub fn envelope_for(
    key: &DataKey,
    record: &RecordId,
    version: u32,
    reader: &Reader,
    cache: &KeyCache,
) -> Result<KeyEnvelope, SealError> {
    let binding = envelope_aad(record, version, &reader.account);
    let session = cache.wrapper(&reader.key)?;
    Ok(KeyEnvelope {
        recipient: reader.account,
        recipient_key: reader.key,
        enc: session.enc(),
        wrapped: WrappedKey(session.wrap(key, &binding)),
    })
}

/// Encrypts `plaintext` as `version` of `record` and wraps its fresh data key
/// to every reader (repeats are wrapped once).
pub fn seal_version(
    record: RecordId,
    version: u32,
    plaintext: &[u8],
    readers: &[Reader],
    cache: &KeyCache,
) -> Result<SealedVersion, SealError> {
    let key = DataKey::generate();
    let ciphertext = seal::encrypt_content(&key, &content_aad(&record, version), plaintext);
    let mut envelopes: Vec<KeyEnvelope> = Vec::with_capacity(readers.len());
    for reader in readers {
        if envelopes.iter().any(|e| e.recipient == reader.account) {
            continue;
        }
        envelopes.push(envelope_for(&key, &record, version, reader, cache)?);
    }
    Ok(SealedVersion {
        record,
        version,
        ciphertext_hash: ciphertext_hash(&ciphertext),
        ciphertext,
        envelopes,
    })
}

impl SealedVersion {
    /// The anchor for this version (`previous`: the prior version's digest).
    pub fn anchor(&self, patient: AccountId, category: Category, previous: Option<Hash>) -> Action {
        Action::Records(RecordAction::Anchor {
            record: self.record,
            patient,
            category,
            version: self.version,
            ciphertext_hash: self.ciphertext_hash,
            ciphertext_len: self.ciphertext.len() as u64,
            previous,
        })
    }

    /// The signed upload of this version's ciphertext and envelopes.
    pub fn upload(&self, header: RequestHeader, key: &SigningKey) -> Signed<WriteRequest> {
        Signed::sign(self.upload_request(header), key)
    }

    /// The upload request, unsigned (to be signed in a bundle).
    pub fn upload_request(&self, header: RequestHeader) -> WriteRequest {
        WriteRequest {
            header,
            record: self.record,
            version: self.version,
            content: Some(self.ciphertext_hash),
            envelopes: self.envelopes.clone(),
        }
    }
}

/// A signed read request.
pub fn read_request(
    header: RequestHeader,
    key: &SigningKey,
    record: RecordId,
    version: Option<u32>,
    purpose: Purpose,
    want: Want,
) -> Signed<ReadRequest> {
    Signed::sign(
        ReadRequest {
            header,
            record,
            version,
            purpose,
            want,
        },
        key,
    )
}

/// Recovers the data key from the reader's envelope.
pub fn open_envelope(
    envelope: &KeyEnvelope,
    record: &RecordId,
    version: u32,
    reader: &AccountId,
    secret: &AgreementSecret,
    cache: &KeyCache,
) -> Result<DataKey, RecordError> {
    if envelope.recipient != *reader || envelope.recipient_key != secret.public_key() {
        return Err(RecordError::WrongEnvelope);
    }
    let binding = envelope_aad(record, version, reader);
    let session = cache.opener(secret, &envelope.enc)?;
    Ok(session.unwrap(&envelope.wrapped.0, &binding)?)
}

/// Decrypts a served version: checks the ciphertext against `anchored` (the
/// hash the chain holds), unwraps the reader's key, and opens the content.
#[allow(clippy::too_many_arguments)]
pub fn open_version(
    record: &RecordId,
    version: u32,
    ciphertext: &[u8],
    anchored: &Hash,
    envelope: &KeyEnvelope,
    reader: &AccountId,
    secret: &AgreementSecret,
    cache: &KeyCache,
) -> Result<Zeroizing<Vec<u8>>, RecordError> {
    if ciphertext_hash(ciphertext) != *anchored {
        return Err(RecordError::HashMismatch);
    }
    let key = open_envelope(envelope, record, version, reader, secret, cache)?;
    Ok(seal::decrypt_content(
        &key,
        &content_aad(record, version),
        ciphertext,
    )?)
}

/// Re-wraps a version's data key (opened from `own` envelope) to new readers,
/// without touching the content.
pub fn rewrap(
    own: &KeyEnvelope,
    record: &RecordId,
    version: u32,
    me: &AccountId,
    secret: &AgreementSecret,
    readers: &[Reader],
    cache: &KeyCache,
) -> Result<Vec<KeyEnvelope>, RecordError> {
    let key = open_envelope(own, record, version, me, secret, cache)?;
    readers
        .iter()
        .map(|reader| envelope_for(&key, record, version, reader, cache).map_err(RecordError::from))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reader() -> (AgreementSecret, Reader) {
        let secret = AgreementSecret::generate();
        let account = AccountId(salus_crypto::random_bytes());
        let key = secret.public_key();
        (secret, Reader { account, key })
    }

    #[test]
    fn sealed_versions_open_for_each_reader_and_detect_tampering() {
        let cache = KeyCache::default();
        let (patient_secret, patient) = reader();
        let (author_secret, author) = reader();
        let (_, stranger) = reader();
        let record = RecordId::random();
        let text = br#"{"resourceType":"Observation","status":"final"}"#;
        let sealed = seal_version(record, 1, text, &[patient, author, patient], &cache).unwrap();
        assert_eq!(
            sealed.envelopes.len(),
            2,
            "repeated readers are wrapped once"
        );
        for (secret, who) in [(&patient_secret, &patient), (&author_secret, &author)] {
            let envelope = sealed
                .envelopes
                .iter()
                .find(|e| e.recipient == who.account)
                .unwrap();
            let opened = open_version(
                &record,
                1,
                &sealed.ciphertext,
                &sealed.ciphertext_hash,
                envelope,
                &who.account,
                secret,
                &cache,
            )
            .unwrap();
            assert_eq!(opened.as_slice(), text);
        }
        let envelope = &sealed.envelopes[0];
        let owner = envelope.recipient;
        let secret = if owner == patient.account {
            &patient_secret
        } else {
            &author_secret
        };
        // Tampered ciphertext: caught by the anchored hash.
        let mut bad = sealed.ciphertext.clone();
        bad[40] ^= 1;
        assert_eq!(
            open_version(
                &record,
                1,
                &bad,
                &sealed.ciphertext_hash,
                envelope,
                &owner,
                secret,
                &cache
            )
            .unwrap_err(),
            RecordError::HashMismatch
        );
        // Tampered and re-hashed: caught by the AEAD.
        assert!(matches!(
            open_version(
                &record,
                1,
                &bad,
                &ciphertext_hash(&bad),
                envelope,
                &owner,
                secret,
                &cache
            ),
            Err(RecordError::Seal(SealError::Tampered))
        ));
        // Moved to another version or record: the binding fails.
        assert!(open_version(
            &record,
            2,
            &sealed.ciphertext,
            &sealed.ciphertext_hash,
            envelope,
            &owner,
            secret,
            &cache
        )
        .is_err());
        // Someone else's envelope is refused before any crypto.
        assert_eq!(
            open_version(
                &record,
                1,
                &sealed.ciphertext,
                &sealed.ciphertext_hash,
                envelope,
                &stranger.account,
                secret,
                &cache
            )
            .unwrap_err(),
            RecordError::WrongEnvelope
        );
    }

    #[test]
    fn rewrapping_shares_the_same_key_without_reencrypting() {
        let cache = KeyCache::default();
        let (patient_secret, patient) = reader();
        let (grantee_secret, grantee) = reader();
        let record = RecordId::random();
        let sealed = seal_version(
            record,
            3,
            b"{\"resourceType\":\"Condition\"}",
            &[patient],
            &cache,
        )
        .unwrap();
        let added = rewrap(
            &sealed.envelopes[0],
            &record,
            3,
            &patient.account,
            &patient_secret,
            &[grantee],
            &cache,
        )
        .unwrap();
        let opened = open_version(
            &record,
            3,
            &sealed.ciphertext,
            &sealed.ciphertext_hash,
            &added[0],
            &grantee.account,
            &grantee_secret,
            &cache,
        )
        .unwrap();
        assert_eq!(opened.as_slice(), b"{\"resourceType\":\"Condition\"}");
    }
}
