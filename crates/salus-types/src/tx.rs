//! Transactions: `{chain_id, signer, public_key, nonce, actions}` plus an ed25519
//! signature over the canonical encoding of that body.
//!
//! The public key travels in the transaction so that signatures can be checked
//! without state (in parallel, in batches, before admission). The state machine
//! then checks that the key is the signer account's current key, which is what
//! makes key rotation possible while the account id stays fixed.

use borsh::{BorshDeserialize, BorshSerialize};
use salus_crypto::{Hash, PublicKey, Signature, SigningKey};

use crate::codec::{self, DecodeError};
use crate::{AccountId, Action, ErrorCode, MAX_BLOCK_WEIGHT};

/// The largest encoded transaction accepted anywhere.
pub const MAX_TX_BYTES: usize = 64 * 1024;
pub const MAX_ACTIONS_PER_TX: usize = 16;
pub const MAX_CHAIN_ID_LEN: usize = 64;

const SIGNING_DOMAIN: &[u8] = b"salus/tx/v1\0";
const HASH_DOMAIN: &str = "salus/tx-hash/v1";

#[derive(
    Debug,
    Clone,
    PartialEq,
    Eq,
    BorshSerialize,
    BorshDeserialize,
    serde::Serialize,
    serde::Deserialize,
)]
pub struct TxBody {
    pub chain_id: String,
    pub signer: AccountId,
    pub public_key: PublicKey,
    pub nonce: u64,
    pub actions: Vec<Action>,
}

#[derive(
    Debug,
    Clone,
    PartialEq,
    Eq,
    BorshSerialize,
    BorshDeserialize,
    serde::Serialize,
    serde::Deserialize,
)]
pub struct Tx {
    pub body: TxBody,
    pub signature: Signature,
}

/// Why a transaction was refused before it could touch state.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TxError {
    #[error("transaction is {actual} bytes, above the limit of {limit}")]
    TooLarge { actual: usize, limit: usize },
    #[error("transaction is malformed: {0}")]
    Malformed(String),
    #[error("transaction is for chain `{actual}`, this is `{expected}`")]
    WrongChain { expected: String, actual: String },
    #[error("transaction signature does not verify")]
    BadSignature,
    #[error("transaction has no actions")]
    NoActions,
    #[error("transaction has {0} actions, above the limit of {MAX_ACTIONS_PER_TX}")]
    TooManyActions(usize),
    #[error("nonce {actual} is not the next nonce {expected} of the signer")]
    BadNonce { expected: u64, actual: u64 },
    #[error("the signing key is not the signer account's current key")]
    WrongSignerKey,
    #[error("transaction weighs {0}, above the block budget of {MAX_BLOCK_WEIGHT}")]
    TooHeavy(u64),
}

impl TxError {
    pub fn code(&self) -> ErrorCode {
        match self {
            TxError::TooLarge { .. } => ErrorCode::TxTooLarge,
            TxError::Malformed(_) => ErrorCode::MalformedTx,
            TxError::WrongChain { .. } => ErrorCode::WrongChain,
            TxError::BadSignature => ErrorCode::BadSignature,
            TxError::NoActions => ErrorCode::NoActions,
            TxError::TooManyActions(_) => ErrorCode::TooManyActions,
            TxError::BadNonce { .. } => ErrorCode::BadNonce,
            TxError::WrongSignerKey => ErrorCode::WrongSignerKey,
            TxError::TooHeavy(_) => ErrorCode::TxTooHeavy,
        }
    }
}

impl From<DecodeError> for TxError {
    fn from(e: DecodeError) -> Self {
        match e {
            DecodeError::TooLarge { actual, limit, .. } => TxError::TooLarge { actual, limit },
            // The reason only: "transaction is malformed" is said once, by TxError.
            DecodeError::Malformed { reason, .. } => TxError::Malformed(reason),
            DecodeError::NotCanonical { .. } => TxError::Malformed("not in canonical form".into()),
        }
    }
}

impl TxBody {
    /// The exact bytes that the signature covers.
    pub fn signing_bytes(&self) -> Vec<u8> {
        let mut message = SIGNING_DOMAIN.to_vec();
        message.extend_from_slice(&codec::encode(self));
        message
    }

    pub fn sign(self, key: &SigningKey) -> Tx {
        let signature = key.sign(&self.signing_bytes());
        Tx {
            body: self,
            signature,
        }
    }
}

impl Tx {
    pub fn encode(&self) -> Vec<u8> {
        codec::encode(self)
    }

    /// Decodes the canonical encoding. Oversized, truncated, padded or
    /// non-canonical bytes are errors.
    pub fn decode(bytes: &[u8]) -> Result<Tx, TxError> {
        Ok(codec::decode("transaction", bytes, MAX_TX_BYTES)?)
    }

    /// The hash of the canonical encoding: the transaction's identity.
    pub fn hash(&self) -> Hash {
        salus_crypto::sha256(HASH_DOMAIN, &self.encode())
    }

    /// Every check that needs no state except the signature, which callers
    /// verify in batches (see [`Tx::verify_signature`]).
    pub fn check_shape(&self, chain_id: &str) -> Result<(), TxError> {
        if self.body.chain_id != chain_id {
            return Err(TxError::WrongChain {
                expected: chain_id.to_owned(),
                actual: self.body.chain_id.clone(),
            });
        }
        match self.body.actions.len() {
            0 => Err(TxError::NoActions),
            n if n > MAX_ACTIONS_PER_TX => Err(TxError::TooManyActions(n)),
            _ => Ok(()),
        }
    }

    /// Verifies many transactions' signatures in parallel batches: one
    /// verdict per transaction, in order.
    pub fn verify_signatures<'a>(txs: impl IntoIterator<Item = &'a Tx>) -> Vec<bool> {
        salus_crypto::verify_each(
            txs.into_iter()
                .map(|tx| (tx.body.public_key, tx.body.signing_bytes(), tx.signature)),
        )
    }

    pub fn verify_signature(&self) -> Result<(), TxError> {
        self.body
            .public_key
            .verify(&self.body.signing_bytes(), &self.signature)
            .map_err(|_| TxError::BadSignature)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::token::TokenAction;

    fn sample(nonce: u64) -> (SigningKey, Tx) {
        let key = SigningKey::from_seed(&[1; 32]);
        let body = TxBody {
            chain_id: "salus-test".into(),
            signer: AccountId::from_public_key(&key.public_key()),
            public_key: key.public_key(),
            nonce,
            actions: vec![Action::Token(TokenAction::Transfer {
                to: AccountId([9; 20]),
                amount: 5,
            })],
        };
        (key.clone(), body.sign(&key))
    }

    #[test]
    fn encode_decode_hash_round_trip() {
        let (_, tx) = sample(0);
        let bytes = tx.encode();
        let back = Tx::decode(&bytes).unwrap();
        assert_eq!(back, tx);
        assert_eq!(back.hash(), tx.hash());
        assert!(tx.verify_signature().is_ok());
        assert!(tx.check_shape("salus-test").is_ok());
    }

    #[test]
    fn malformed_inputs_are_typed_errors() {
        let (_, tx) = sample(0);
        let bytes = tx.encode();
        assert!(matches!(
            Tx::decode(&bytes[..bytes.len() - 1]),
            Err(TxError::Malformed(_))
        ));
        let mut padded = bytes.clone();
        padded.push(0);
        assert!(matches!(Tx::decode(&padded), Err(TxError::Malformed(_))));
        let huge = vec![0u8; MAX_TX_BYTES + 1];
        assert!(matches!(Tx::decode(&huge), Err(TxError::TooLarge { .. })));
        assert!(matches!(Tx::decode(&[]), Err(TxError::Malformed(_))));
        let message = Tx::decode(&padded).unwrap_err().to_string();
        assert_eq!(message.matches("malformed").count(), 1, "{message}");
    }

    #[test]
    fn tampering_and_wrong_chain_are_caught() {
        let (_, mut tx) = sample(0);
        tx.body.nonce = 1;
        assert_eq!(tx.verify_signature(), Err(TxError::BadSignature));
        let (_, tx) = sample(0);
        assert!(matches!(
            tx.check_shape("other"),
            Err(TxError::WrongChain { .. })
        ));
        let (key, mut tx) = sample(0);
        tx.body.actions.clear();
        let tx = tx.body.sign(&key);
        assert_eq!(tx.check_shape("salus-test"), Err(TxError::NoActions));
    }

    proptest::proptest! {
        #[test]
        fn decoding_arbitrary_bytes_never_panics(bytes in proptest::collection::vec(proptest::num::u8::ANY, 0..512)) {
            let _ = Tx::decode(&bytes);
        }

        #[test]
        fn flipping_any_byte_breaks_decode_or_signature(index in 0usize..200, bit in 0u8..8) {
            let (_, tx) = sample(3);
            let mut bytes = tx.encode();
            let index = index % bytes.len();
            bytes[index] ^= 1 << bit;
            if let Ok(changed) = Tx::decode(&bytes) {
                proptest::prop_assert!(changed.verify_signature().is_err() || changed == tx);
            }
        }
    }
}
