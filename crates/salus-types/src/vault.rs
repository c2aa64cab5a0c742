//! Signed requests to vaults, and the key envelopes vaults store.
//!
//! Every vault request is signed by its sender's current key and carries a
//! header that binds it to one chain and one vault, with a time and a random
//! nonce: a vault refuses requests that are stale, meant for another vault, or
//! seen before. Each request kind signs under its own domain, so a signature
//! for one kind can never pass as another.

use borsh::{BorshDeserialize, BorshSerialize};
use salus_crypto::{AgreementPublicKey, Hash, PublicKey, Signature, SigningKey};
use serde::{Deserialize, Serialize};

use crate::codec::{self, DecodeError};
use crate::consent::Purpose;
use crate::records::RecordId;
use crate::AccountId;

/// How far a request's time may be from the vault's clock, either way.
pub const MAX_REQUEST_SKEW_MS: u64 = 60_000;
/// The largest encoded signed request.
pub const MAX_REQUEST_BYTES: usize = 64 * 1024;
/// At most this many key envelopes in one write.
pub const MAX_ENVELOPES: usize = 64;

salus_crypto::hex_bytes_newtype!(
    /// A request's random nonce.
    RequestNonce,
    16
);

salus_crypto::hex_bytes_newtype!(
    /// A data key wrapped to one reader: a 16-byte salt, the 32 sealed key
    /// bytes and a 16-byte tag (see `salus_crypto::seal`).
    WrappedKey,
    64
);

/// What every vault request starts with.
#[derive(Debug, Clone, PartialEq, Eq, BorshSerialize, BorshDeserialize, Serialize, Deserialize)]
pub struct RequestHeader {
    pub chain_id: String,
    /// The vault operator the request is for.
    pub vault: AccountId,
    pub signer: AccountId,
    /// Must be the signer account's current key on the finalized chain.
    pub public_key: PublicKey,
    pub issued_ms: u64,
    pub nonce: RequestNonce,
}

impl RequestHeader {
    pub fn new(
        chain_id: &str,
        vault: AccountId,
        signer: AccountId,
        key: &SigningKey,
        issued_ms: u64,
    ) -> Self {
        RequestHeader {
            chain_id: chain_id.to_owned(),
            vault,
            signer,
            public_key: key.public_key(),
            issued_ms,
            nonce: RequestNonce(salus_crypto::random_bytes()),
        }
    }
}

/// A data key wrapped to one reader.
#[derive(Debug, Clone, PartialEq, Eq, BorshSerialize, BorshDeserialize, Serialize, Deserialize)]
pub struct KeyEnvelope {
    pub recipient: AccountId,
    /// The key it was wrapped to (the recipient's agreement key at the time).
    pub recipient_key: AgreementPublicKey,
    /// HPKE's encapsulated (ephemeral) key.
    pub enc: AgreementPublicKey,
    pub wrapped: WrappedKey,
}

crate::named_enum! {
    /// What a reader asks for.
    Want, "want" {
        /// The ciphertext and the reader's key envelope.
        Record = 0 => "record",
        /// Only the key envelope (to re-wrap a key for a new grantee).
        Key = 1 => "key",
    }
}

/// Read a record version (the latest when `version` is `None`).
#[derive(Debug, Clone, PartialEq, Eq, BorshSerialize, BorshDeserialize, Serialize, Deserialize)]
pub struct ReadRequest {
    pub header: RequestHeader,
    pub record: RecordId,
    pub version: Option<u32>,
    pub purpose: Purpose,
    pub want: Want,
}

/// Store a version's ciphertext (whose hash the chain anchors) and/or key
/// envelopes for it.
#[derive(Debug, Clone, PartialEq, Eq, BorshSerialize, BorshDeserialize, Serialize, Deserialize)]
pub struct WriteRequest {
    pub header: RequestHeader,
    pub record: RecordId,
    pub version: u32,
    /// The hash of the ciphertext sent with the request, if any; signing it
    /// binds the upload to these exact bytes.
    pub content: Option<Hash>,
    pub envelopes: Vec<KeyEnvelope>,
}

/// One vault asks another for a version it lacks (replication).
#[derive(Debug, Clone, PartialEq, Eq, BorshSerialize, BorshDeserialize, Serialize, Deserialize)]
pub struct ReplicaRequest {
    pub header: RequestHeader,
    pub record: RecordId,
    pub version: u32,
}

/// A request kind: its signing domain and its header.
pub trait VaultRequest: BorshSerialize + BorshDeserialize {
    const DOMAIN: &'static [u8];
    const WHAT: &'static str;
    fn header(&self) -> &RequestHeader;
}

impl VaultRequest for ReadRequest {
    const DOMAIN: &'static [u8] = b"salus/vault-read/v1\0";
    const WHAT: &'static str = "read request";
    fn header(&self) -> &RequestHeader {
        &self.header
    }
}

impl VaultRequest for WriteRequest {
    const DOMAIN: &'static [u8] = b"salus/vault-write/v1\0";
    const WHAT: &'static str = "write request";
    fn header(&self) -> &RequestHeader {
        &self.header
    }
}

impl VaultRequest for ReplicaRequest {
    const DOMAIN: &'static [u8] = b"salus/vault-replica/v1\0";
    const WHAT: &'static str = "replica request";
    fn header(&self) -> &RequestHeader {
        &self.header
    }
}

/// A request with its signer's signature.
#[derive(Debug, Clone, PartialEq, Eq, BorshSerialize, BorshDeserialize)]
pub struct Signed<T> {
    pub body: T,
    pub signature: Signature,
}

impl<T: VaultRequest> Signed<T> {
    fn message(body: &T) -> Vec<u8> {
        let mut message = T::DOMAIN.to_vec();
        message.extend_from_slice(&codec::encode(body));
        message
    }

    pub fn sign(body: T, key: &SigningKey) -> Signed<T> {
        let signature = key.sign(&Self::message(&body));
        Signed { body, signature }
    }

    /// The exact bytes the signature covers.
    pub fn signing_bytes(&self) -> Vec<u8> {
        Self::message(&self.body)
    }

    /// Checks the signature against the key the header names. Whether that key
    /// is the signer's current key is for the caller to check against state.
    pub fn verify_signature(&self) -> bool {
        self.body
            .header()
            .public_key
            .verify(&self.signing_bytes(), &self.signature)
            .is_ok()
    }

    pub fn encode(&self) -> Vec<u8> {
        codec::encode(self)
    }

    pub fn decode(bytes: &[u8]) -> Result<Signed<T>, DecodeError> {
        codec::decode(T::WHAT, bytes, MAX_REQUEST_BYTES)
    }

    /// The request's identity: what audit entries point at and what replay
    /// protection remembers.
    pub fn hash(&self) -> Hash {
        salus_crypto::sha256("salus/vault-request/v1", &self.encode())
    }
}

/// A bundle: many requests of one kind under one signature, so that a client
/// reading or writing a thousand records signs once rather than a thousand
/// times (a signature costs about as much as the vault's whole consent check).
///
/// The signature covers the kind's domain, the number of requests and the
/// hash of each request's canonical encoding, in order. Every request in a
/// bundle still carries its own header (fresh time, random nonce, this vault)
/// and is admitted, decided, audited and replay-checked on its own; it is
/// authentic only if its header names the key the bundle's signature verifies
/// under. A request's identity in a bundle is that of the request signed with
/// the bundle's signature ([`Signed::hash`]), so replaying a bundle replays
/// every request in it.
pub fn bundle_message<T: VaultRequest>(encoded: &[&[u8]]) -> Vec<u8> {
    let mut message = b"salus/vault-bundle/v1\0".to_vec();
    message.extend_from_slice(T::DOMAIN);
    message.extend_from_slice(&(encoded.len() as u64).to_le_bytes());
    for request in encoded {
        message.extend_from_slice(&salus_crypto::sha256("salus/vault-bundle-item/v1", request).0);
    }
    message
}

/// Signs requests as one bundle: their canonical encodings, and the signature.
pub fn sign_bundle<T: VaultRequest>(requests: &[T], key: &SigningKey) -> (Vec<Vec<u8>>, Signature) {
    let encoded: Vec<Vec<u8>> = requests.iter().map(codec::encode).collect();
    let refs: Vec<&[u8]> = encoded.iter().map(Vec::as_slice).collect();
    let signature = key.sign(&bundle_message::<T>(&refs));
    (encoded, signature)
}

/// Decodes one request of a bundle (its canonical encoding).
pub fn decode_bundled<T: VaultRequest>(bytes: &[u8]) -> Result<T, DecodeError> {
    codec::decode(T::WHAT, bytes, MAX_REQUEST_BYTES)
}

/// Associated data that binds a record's content to its id and version.
pub fn content_aad(record: &RecordId, version: u32) -> Vec<u8> {
    let mut aad = b"salus/record-content/v1\0".to_vec();
    aad.extend_from_slice(&record.0);
    aad.extend_from_slice(&version.to_be_bytes());
    aad
}

/// Associated data that binds a wrapped key to its record, version and reader.
pub fn envelope_aad(record: &RecordId, version: u32, recipient: &AccountId) -> Vec<u8> {
    let mut aad = b"salus/record-key/v1\0".to_vec();
    aad.extend_from_slice(&record.0);
    aad.extend_from_slice(&version.to_be_bytes());
    aad.extend_from_slice(&recipient.0);
    aad
}

/// The hash the chain anchors for a version's ciphertext.
pub fn ciphertext_hash(ciphertext: &[u8]) -> Hash {
    salus_crypto::sha256("salus/ciphertext/v1", ciphertext)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(key: &SigningKey) -> Signed<ReadRequest> {
        let signer = AccountId::from_public_key(&key.public_key());
        let body = ReadRequest {
            header: RequestHeader::new("salus-test", AccountId([1; 20]), signer, key, 1_000),
            record: RecordId([2; 16]),
            version: None,
            purpose: Purpose::Treatment,
            want: Want::Record,
        };
        Signed::sign(body, key)
    }

    #[test]
    fn signatures_bind_the_body_and_the_kind() {
        let key = SigningKey::from_seed(&[3; 32]);
        let signed = request(&key);
        assert!(signed.verify_signature());
        let back = Signed::<ReadRequest>::decode(&signed.encode()).unwrap();
        assert_eq!(back, signed);
        assert_eq!(back.hash(), signed.hash());

        let mut tampered = signed.clone();
        tampered.body.purpose = Purpose::Research;
        assert!(!tampered.verify_signature());

        // The same signature cannot pass as a replica request with equal fields.
        let replica = Signed {
            body: ReplicaRequest {
                header: signed.body.header.clone(),
                record: signed.body.record,
                version: 1,
            },
            signature: signed.signature,
        };
        assert!(!replica.verify_signature());
    }

    proptest::proptest! {
        #[test]
        fn decoding_arbitrary_bytes_never_panics(bytes in proptest::collection::vec(proptest::num::u8::ANY, 0..400)) {
            let _ = Signed::<ReadRequest>::decode(&bytes);
            let _ = Signed::<WriteRequest>::decode(&bytes);
            let _ = Signed::<ReplicaRequest>::decode(&bytes);
        }
    }
}
