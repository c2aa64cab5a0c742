//! `did:key` identifiers (W3C CCG did:key method) for off-chain identities.
//!
//! A did:key is a public key written as `did:key:z<base58btc(multicodec || key)>`.
//! Salus supports ed25519 verification keys and x25519 key-agreement keys.

use crate::{AgreementPublicKey, PublicKey};

const ED25519_PUB: [u8; 2] = [0xed, 0x01];
const X25519_PUB: [u8; 2] = [0xec, 0x01];

/// The key that a did:key names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DidKey {
    Ed25519(PublicKey),
    X25519(AgreementPublicKey),
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DidKeyError {
    #[error("not a did:key (expected `did:key:z…`)")]
    NotDidKey,
    #[error("did:key is not valid base58btc")]
    Base58,
    #[error("did:key names an unsupported key type")]
    UnsupportedKeyType,
    #[error("did:key has a key of the wrong length")]
    Length,
}

impl DidKey {
    pub fn to_did(&self) -> String {
        let (codec, key) = match self {
            DidKey::Ed25519(k) => (ED25519_PUB, k.0),
            DidKey::X25519(k) => (X25519_PUB, k.0),
        };
        let mut raw = Vec::with_capacity(34);
        raw.extend_from_slice(&codec);
        raw.extend_from_slice(&key);
        format!("did:key:z{}", bs58::encode(raw).into_string())
    }

    pub fn parse(did: &str) -> Result<DidKey, DidKeyError> {
        let encoded = did
            .strip_prefix("did:key:z")
            .ok_or(DidKeyError::NotDidKey)?;
        let raw = bs58::decode(encoded)
            .into_vec()
            .map_err(|_| DidKeyError::Base58)?;
        if raw.len() < 2 {
            return Err(DidKeyError::UnsupportedKeyType);
        }
        let (codec, key) = raw.split_at(2);
        let key: [u8; 32] = key.try_into().map_err(|_| DidKeyError::Length)?;
        match [codec[0], codec[1]] {
            ED25519_PUB => Ok(DidKey::Ed25519(PublicKey(key))),
            X25519_PUB => Ok(DidKey::X25519(AgreementPublicKey(key))),
            _ => Err(DidKeyError::UnsupportedKeyType),
        }
    }

    /// The multibase form of the key alone (`z…`), as used in
    /// `publicKeyMultibase` of a DID document.
    pub fn multibase(&self) -> String {
        self.to_did()
            .strip_prefix("did:key:")
            .map(str::to_owned)
            .unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_vector_round_trips() {
        // The did:key spec's first ed25519 example.
        let did = "did:key:z6MkhaXgBZDvotDkL5257faiztiGiC2QtKLGpbnnEGta2doK";
        let parsed = DidKey::parse(did).unwrap();
        assert!(matches!(parsed, DidKey::Ed25519(_)));
        assert_eq!(parsed.to_did(), did);
    }

    #[test]
    fn rejects_garbage() {
        assert_eq!(DidKey::parse("did:web:x"), Err(DidKeyError::NotDidKey));
        assert_eq!(DidKey::parse("did:key:z0OIl"), Err(DidKeyError::Base58));
        assert_eq!(
            DidKey::parse("did:key:z2"),
            Err(DidKeyError::UnsupportedKeyType)
        );
        let short = format!(
            "did:key:z{}",
            bs58::encode([0xed, 0x01, 1, 2]).into_string()
        );
        assert_eq!(DidKey::parse(&short), Err(DidKeyError::Length));
    }
}
