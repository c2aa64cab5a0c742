//! The genesis document: chain id, start time, validators and each module's
//! initial section.

use salus_crypto::PublicKey;
use serde::{Deserialize, Serialize};

use crate::audit::AuditGenesis;
use crate::identity::IdentityGenesis;
use crate::token::TokenGenesis;
use crate::MAX_CHAIN_ID_LEN;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GenesisValidator {
    pub public_key: PublicKey,
    /// `host:port` of its p2p listener; empty for a dev chain.
    #[serde(default)]
    pub address: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Genesis {
    pub chain_id: String,
    pub genesis_time_ms: u64,
    pub validators: Vec<GenesisValidator>,
    #[serde(default)]
    pub identity: IdentityGenesis,
    #[serde(default)]
    pub token: TokenGenesis,
    /// Vault operators.
    #[serde(default)]
    pub audit: AuditGenesis,
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
        let mut keys: Vec<PublicKey> = self.validators.iter().map(|v| v.public_key).collect();
        keys.sort();
        if let Some(pair) = keys.windows(2).find(|w| w[0] == w[1]) {
            return Err(GenesisError::DuplicateValidator(pair[0]));
        }
        Ok(())
    }
}
