//! Helpers shared by the state-machine tests.
#![allow(dead_code)]

pub mod governance;
pub mod insurance;
pub mod records;

use salus_app::Chain;
use salus_crypto::{AgreementSecret, SigningKey};
use salus_state::Store;
use salus_types::identity::{IdentityAction, IdentityGenesis, Role, RoleAuthority};
use salus_types::token::TokenAction;
use salus_types::{
    AccountId, Action, ErrorCode, Genesis, GenesisValidator, Hash, Receipt, Tx, TxBody, TxError,
};

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

/// A one-validator genesis ([`proposer_key`]) at `time_ms` in which
/// `authority` may attest every role; no balances, no vault operators.
pub fn genesis(authority: &User, time_ms: u64) -> Genesis {
    Genesis {
        chain_id: CHAIN.into(),
        genesis_time_ms: time_ms,
        validators: vec![GenesisValidator {
            public_key: proposer_key().public_key(),
            address: String::new(),
        }],
        identity: IdentityGenesis {
            authorities: vec![RoleAuthority {
                account: authority.id,
                roles: Role::ALL.to_vec(),
            }],
        },
        token: Default::default(),
        audit: Default::default(),
        oracle: Default::default(),
        insurance: Default::default(),
        staking: Default::default(),
        epochs: Default::default(),
        governance: Default::default(),
    }
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
    step_after(chain, txs, 1_000)
}

/// Like [`step_receipts`], with the block `elapsed_ms` after the tip.
pub fn step_after(
    chain: &Chain,
    txs: &[Tx],
    elapsed_ms: u64,
) -> (salus_types::Block, Vec<Receipt>, Vec<(Hash, TxError)>) {
    let (tip, digest) = chain.tip();
    let proposal = chain
        .propose(
            &digest,
            tip.timestamp_ms + elapsed_ms,
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

/// A chain and an independent follower that verifies and finalizes every
/// block, so every rule a test exercises is also checked for determinism.
pub struct Net {
    pub chain: Chain,
    pub follower: Chain,
    _dir: tempfile::TempDir,
}

impl Net {
    pub fn new(genesis: &Genesis) -> Net {
        let dir = tempfile::tempdir().unwrap();
        Net {
            chain: open(&dir, "chain.redb", genesis),
            follower: open(&dir, "follower.redb", genesis),
            _dir: dir,
        }
    }

    /// Proposes `txs`, finalizes on the chain, verifies and finalizes on the
    /// follower, and checks both agree.
    pub fn block(&self, txs: &[Tx]) -> Vec<Receipt> {
        self.block_after(txs, 1_000)
    }

    /// Like [`Net::block`], with the block `elapsed_ms` after the tip.
    pub fn block_after(&self, txs: &[Tx], elapsed_ms: u64) -> Vec<Receipt> {
        let (block, receipts, rejected) = step_after(&self.chain, txs, elapsed_ms);
        assert!(rejected.is_empty(), "{rejected:?}");
        self.follower.verify(&block).unwrap();
        self.follower.finalize(&block).unwrap();
        assert_eq!(
            self.chain.tip(),
            self.follower.tip(),
            "the follower diverged"
        );
        receipts
    }

    pub fn codes(&self, txs: &[Tx]) -> Vec<ErrorCode> {
        self.block(txs).iter().map(|r| r.code).collect()
    }

    /// The receipt code of a block holding only `tx`.
    pub fn code(&self, tx: Tx) -> ErrorCode {
        self.block(&[tx])[0].code
    }

    /// Expects `tx` to succeed in a block of its own.
    pub fn ok(&self, tx: Tx) {
        let receipts = self.block(&[tx]);
        assert_eq!(receipts[0].code, ErrorCode::Ok, "{}", receipts[0].message);
    }

    pub fn now(&self) -> u64 {
        self.chain.tip().0.timestamp_ms
    }
}
