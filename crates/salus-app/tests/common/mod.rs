//! Helpers shared by the state-machine tests.
#![allow(dead_code)]

use salus_app::Chain;
use salus_crypto::{AgreementSecret, SigningKey};
use salus_state::Store;
use salus_types::identity::IdentityAction;
use salus_types::token::TokenAction;
use salus_types::{AccountId, Action, ErrorCode, Genesis, Hash, Receipt, Tx, TxBody, TxError};

pub const CHAIN: &str = "salus-test";

/// An account with its key, agreement key and next nonce.
pub struct User {
    pub key: SigningKey,
    pub agreement: AgreementSecret,
    pub id: AccountId,
    pub nonce: u64,
}

impl User {
    pub fn new(seed: u8) -> User {
        let key = SigningKey::from_seed(&[seed; 32]);
        let id = AccountId::from_public_key(&key.public_key());
        let agreement = AgreementSecret::from_bytes(&[seed.wrapping_add(100); 32]);
        User {
            key,
            agreement,
            id,
            nonce: 0,
        }
    }

    pub fn tx(&mut self, actions: Vec<Action>) -> Tx {
        let tx = TxBody {
            chain_id: CHAIN.into(),
            signer: self.id,
            public_key: self.key.public_key(),
            nonce: self.nonce,
            actions,
        }
        .sign(&self.key);
        self.nonce += 1;
        tx
    }

    pub fn transfer(&mut self, to: AccountId, amount: u128) -> Tx {
        self.tx(vec![Action::Token(TokenAction::Transfer { to, amount })])
    }

    pub fn register(&mut self) -> Tx {
        self.tx(vec![Action::Identity(IdentityAction::Register {
            agreement_key: self.agreement.public_key(),
            services: vec![],
        })])
    }
}

pub fn open(dir: &tempfile::TempDir, name: &str, genesis: &Genesis) -> Chain {
    Chain::open(Store::open(&dir.path().join(name)).unwrap(), genesis).unwrap()
}

pub fn proposer_key() -> SigningKey {
    SigningKey::from_seed(&[200; 32])
}

/// Proposes a block of `txs` on the tip and finalizes it; returns its receipts' codes.
pub fn step(
    chain: &Chain,
    txs: &[Tx],
) -> (salus_types::Block, Vec<ErrorCode>, Vec<(Hash, TxError)>) {
    let (block, receipts, rejected) = step_receipts(chain, txs);
    (block, receipts.iter().map(|r| r.code).collect(), rejected)
}

/// Like [`step`], with the full receipts.
pub fn step_receipts(
    chain: &Chain,
    txs: &[Tx],
) -> (salus_types::Block, Vec<Receipt>, Vec<(Hash, TxError)>) {
    let (tip, digest) = chain.tip();
    let proposal = chain
        .propose(
            &digest,
            tip.timestamp_ms + 1_000,
            proposer_key().public_key(),
            txs,
        )
        .unwrap();
    let receipts = chain
        .finalize(&proposal.block)
        .unwrap()
        .expect("a new block");
    (proposal.block, receipts, proposal.rejected)
}
