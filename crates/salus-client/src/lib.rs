//! The Salus Rust SDK.
//!
//! - [`Signer`] builds and signs transactions for one account, tracking its nonce.
//! - [`actions`] has constructors for every module's actions.
//! - [`Client`] speaks the node's HTTP JSON API.
//! - [`verify_state`] checks a state value against a finalized block header,
//!   and [`finality`] checks that header's finalization certificate against
//!   the validator sets the client tracks from genesis.
//! - [`credentials`] fetches definitions, revocations and sets, builds
//!   presentations locally and verifies them through a node; [`issuer`]
//!   keeps an issuer's secrets sealed at rest and turns claims (values, or a
//!   FHIR Immunization) into attribute values.
//! - [`records`] seals FHIR content on the client (the node never sees a data
//!   key) and opens what vaults serve; [`fhir`] checks content before sealing.
//! - [`rules`] evaluates an oracle question's rule on decrypted FHIR
//!   resources, as every honest oracle does.

pub mod actions;
pub mod credentials;
pub mod fhir;
pub mod finality;
pub mod issuer;
mod module_rpc;
pub mod record_flow;
mod record_reads;
mod record_writes;
pub mod records;
mod rpc;
pub mod rules;
mod vault_rpc;

pub use record_writes::Slot;
pub use rpc::{Client, ClientError, Proven, TxOutcome};
/// The API contract the client speaks.
pub use salus_api as api;

use salus_crypto::SigningKey;
use salus_types::proof::{verify_proof, StateProof};
use salus_types::{AccountId, Action, Header, Tx, TxBody};

/// Signs transactions for one account.
pub struct Signer {
    pub chain_id: String,
    pub account: AccountId,
    pub key: SigningKey,
    pub next_nonce: u64,
}

impl Signer {
    /// A signer for the account that `key` created (no rotation yet).
    pub fn new(chain_id: impl Into<String>, key: SigningKey, next_nonce: u64) -> Self {
        let account = AccountId::from_public_key(&key.public_key());
        Signer {
            chain_id: chain_id.into(),
            account,
            key,
            next_nonce,
        }
    }

    /// Signs `actions` with the next nonce and advances it.
    pub fn sign(&mut self, actions: Vec<Action>) -> Tx {
        let tx = TxBody {
            chain_id: self.chain_id.clone(),
            signer: self.account,
            public_key: self.key.public_key(),
            nonce: self.next_nonce,
            actions,
        }
        .sign(&self.key);
        self.next_nonce += 1;
        tx
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum VerifyError {
    #[error("proof is not valid hex")]
    Encoding,
    #[error("proof does not match the header's state root: {0}")]
    Proof(String),
}

/// Checks that, in the state committed by `header`, `key` holds `value`
/// (`None`: the key is absent).
pub fn verify_state(
    header: &Header,
    key: &[u8],
    value: Option<&[u8]>,
    proof_hex: &str,
) -> Result<(), VerifyError> {
    let proof = StateProof(hex::decode(proof_hex).map_err(|_| VerifyError::Encoding)?);
    verify_proof(&header.state_root, key, value, &proof)
        .map_err(|e| VerifyError::Proof(e.to_string()))
}
