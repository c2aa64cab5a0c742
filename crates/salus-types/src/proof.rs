//! State proofs: a Jellyfish Merkle proof that a key has a value (or none) under
//! a state root. Verification needs only the root, so a light client checks any
//! value against a finalized block header.

use borsh::{BorshDeserialize, BorshSerialize};
use salus_crypto::Hash;
use sha2::Digest;

/// A serialized sparse Merkle proof (SHA-256 tree).
#[derive(Debug, Clone, PartialEq, Eq, BorshSerialize, BorshDeserialize)]
pub struct StateProof(pub Vec<u8>);

pub type Proof = jmt::proof::SparseMerkleProof<sha2::Sha256>;

/// Where a key sits in the tree: plain SHA-256 of the key bytes, so any client
/// can recompute it.
pub fn key_hash(key: &[u8]) -> jmt::KeyHash {
    jmt::KeyHash(sha2::Sha256::digest(key).into())
}

impl StateProof {
    /// The proof jmt gave the store, in its canonical encoding.
    pub fn from_jmt(proof: &Proof) -> StateProof {
        StateProof(borsh::to_vec(proof).expect("proof encoding cannot fail"))
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProofError {
    #[error("proof is malformed")]
    Malformed,
    #[error("proof does not match the root: {0}")]
    Mismatch(String),
}

/// Checks that under `root`, `key` holds `value` (`None`: the key is absent).
pub fn verify_proof(
    root: &Hash,
    key: &[u8],
    value: Option<&[u8]>,
    proof: &StateProof,
) -> Result<(), ProofError> {
    let proof: Proof = borsh::from_slice(&proof.0).map_err(|_| ProofError::Malformed)?;
    proof
        .verify(jmt::RootHash(root.0), key_hash(key), value)
        .map_err(|e| ProofError::Mismatch(e.to_string()))
}
