//! Account ids and `did:salus` identifiers.

use salus_crypto::{sha256, PublicKey};

salus_crypto::hex_bytes_newtype!(
    /// An account: 20 bytes derived from the account's first public key. The id
    /// stays fixed when the account later rotates its key.
    AccountId,
    20
);

impl AccountId {
    /// The account id that a fresh key controls before any rotation.
    pub fn from_public_key(key: &PublicKey) -> AccountId {
        let digest = sha256("salus/account/v1", &key.0);
        let mut id = [0u8; 20];
        id.copy_from_slice(&digest.0[..20]);
        AccountId(id)
    }

    /// `did:salus:<40 hex digits>`.
    pub fn did(&self) -> Did {
        Did(*self)
    }
}

/// A `did:salus` DID. Its method-specific id is the account id in hex.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Debug)]
pub struct Did(pub AccountId);

pub const DID_PREFIX: &str = "did:salus:";

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DidError {
    #[error("not a did:salus identifier (expected `did:salus:` and 40 hex digits)")]
    NotSalus,
}

impl Did {
    pub fn parse(text: &str) -> Result<Did, DidError> {
        let id = text.strip_prefix(DID_PREFIX).ok_or(DidError::NotSalus)?;
        if id.len() != 40 || id.starts_with("0x") {
            return Err(DidError::NotSalus);
        }
        AccountId::from_hex(id)
            .map(Did)
            .map_err(|_| DidError::NotSalus)
    }

    pub fn account(&self) -> AccountId {
        self.0
    }
}

impl std::fmt::Display for Did {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{DID_PREFIX}{}", self.0)
    }
}

impl std::str::FromStr for Did {
    type Err = DidError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Did::parse(s)
    }
}

impl serde::Serialize for Did {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> serde::Deserialize<'de> for Did {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        Did::parse(&text).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use salus_crypto::SigningKey;

    #[test]
    fn did_round_trip() {
        let account = AccountId::from_public_key(&SigningKey::from_seed(&[7; 32]).public_key());
        let did = account.did();
        let text = did.to_string();
        assert!(text.starts_with("did:salus:"));
        assert_eq!(text.len(), 10 + 40);
        assert_eq!(Did::parse(&text).unwrap(), did);
        assert_eq!(Did::parse("did:salus:xyz"), Err(DidError::NotSalus));
        assert_eq!(Did::parse("did:key:z6Mk"), Err(DidError::NotSalus));
    }
}
