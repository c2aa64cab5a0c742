//! Blocks. The header commits to the transactions (Merkle root of their hashes)
//! and to the state after executing them, so the header digest alone identifies
//! the whole block.

use borsh::{BorshDeserialize, BorshSerialize};
use salus_crypto::{merkle_root, Hash, PublicKey};
use serde::{Deserialize, Serialize};

use crate::codec::{self, DecodeError};
use crate::Tx;

pub const MAX_BLOCK_TXS: usize = 20_000;
pub const MAX_BLOCK_BYTES: usize = 8 * 1024 * 1024;
/// The block weight budget. Each action weighs what its module says (a
/// zero-knowledge role claim weighs 1: a validator that has not seen it
/// verifies its proof during the block, tens of milliseconds; most actions
/// weigh nothing), so this bounds how long a block can take to verify. A
/// transaction heavier than this can never be included, and admission
/// refuses it.
pub const MAX_BLOCK_WEIGHT: u64 = 16;

#[derive(Debug, Clone, PartialEq, Eq, BorshSerialize, BorshDeserialize, Serialize, Deserialize)]
pub struct Header {
    pub height: u64,
    pub parent: Hash,
    /// Milliseconds since the Unix epoch, chosen by the proposer and checked by
    /// every verifier; the only clock the state machine ever sees.
    pub timestamp_ms: u64,
    pub proposer: PublicKey,
    pub tx_root: Hash,
    /// The root of the authenticated state after this block's transactions.
    pub state_root: Hash,
}

#[derive(Debug, Clone, PartialEq, Eq, BorshSerialize, BorshDeserialize, Serialize, Deserialize)]
pub struct Block {
    pub header: Header,
    pub txs: Vec<Tx>,
}

impl Header {
    pub fn digest(&self) -> Hash {
        salus_crypto::sha256("salus/header/v1", &codec::encode(self))
    }
}

impl Block {
    pub fn digest(&self) -> Hash {
        self.header.digest()
    }

    pub fn tx_root_of(txs: &[Tx]) -> Hash {
        let hashes: Vec<Hash> = txs.iter().map(Tx::hash).collect();
        merkle_root(&hashes)
    }

    pub fn encode(&self) -> Vec<u8> {
        codec::encode(self)
    }

    pub fn decode(bytes: &[u8]) -> Result<Block, DecodeError> {
        codec::decode("block", bytes, MAX_BLOCK_BYTES)
    }
}
