//! The genesis document's checks. The struct itself, [`Genesis`], is derived
//! from the module registry: one section per module that has one.

use salus_crypto::PublicKey;
use serde::{Deserialize, Serialize};

use crate::{Genesis, MAX_CHAIN_ID_LEN};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GenesisValidator {
    pub public_key: PublicKey,
    /// `host:port` of its p2p listener; empty for a dev chain.
    #[serde(default)]
    pub address: String,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum GenesisError {
    #[error("genesis is not valid JSON: {0}")]
    Json(String),
    #[error("chain id must be 1..={MAX_CHAIN_ID_LEN} characters of [a-z0-9-]")]
    ChainId,
    #[error("genesis needs at least one validator")]
    NoValidators,
    #[error("validator {0} is listed twice")]
    DuplicateValidator(PublicKey),
    #[error("validator key {0} is not a valid ed25519 public key")]
    InvalidValidatorKey(PublicKey),
}

impl Genesis {
    pub fn from_json(text: &str) -> Result<Genesis, GenesisError> {
        let genesis: Genesis =
            serde_json::from_str(text).map_err(|e| GenesisError::Json(e.to_string()))?;
        genesis.validate()?;
        Ok(genesis)
    }

    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(self).expect("genesis always serializes")
    }

    /// Structural checks; each module checks its own section when it loads it.
    pub fn validate(&self) -> Result<(), GenesisError> {
        let id_ok = !self.chain_id.is_empty()
            && self.chain_id.len() <= MAX_CHAIN_ID_LEN
            && self
                .chain_id
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
        if !id_ok {
            return Err(GenesisError::ChainId);
        }
        if self.validators.is_empty() {
            return Err(GenesisError::NoValidators);
        }
        if let Some(bad) = self.validators.iter().find(|v| !v.public_key.is_valid()) {
            return Err(GenesisError::InvalidValidatorKey(bad.public_key));
        }
        let mut keys: Vec<PublicKey> = self.validators.iter().map(|v| v.public_key).collect();
        keys.sort();
        if let Some(pair) = keys.windows(2).find(|w| w[0] == w[1]) {
            return Err(GenesisError::DuplicateValidator(pair[0]));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn genesis(validator: PublicKey) -> Genesis {
        Genesis {
            chain_id: "salus-test".into(),
            genesis_time_ms: 0,
            validators: vec![crate::GenesisValidator {
                public_key: validator,
                address: String::new(),
            }],
            identity: Default::default(),
            token: Default::default(),
            audit: Default::default(),
            oracle: Default::default(),
            insurance: Default::default(),
            staking: Default::default(),
            epochs: Default::default(),
            governance: Default::default(),
        }
    }

    #[test]
    fn a_validator_key_off_the_curve_is_refused() {
        let good = salus_crypto::SigningKey::from_seed(&[1; 32]).public_key();
        assert_eq!(genesis(good).validate(), Ok(()));
        // y = 2 has no x on edwards25519: these bytes are no point at all.
        let mut off_curve = [0u8; 32];
        off_curve[0] = 2;
        let bad = PublicKey(off_curve);
        assert!(!bad.is_valid());
        assert_eq!(
            genesis(bad).validate(),
            Err(GenesisError::InvalidValidatorKey(bad))
        );
    }
}
