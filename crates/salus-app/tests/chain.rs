//! End-to-end tests of the state machine through the `Chain` executor.

mod common;

use salus_app::{auth, identity, token, Chain, ChainError};
use salus_crypto::{AgreementSecret, SigningKey};
use salus_state::Store;
use salus_types::identity::{
    rotation_message, IdentityAction, IdentityGenesis, Role, RoleAuthority,
};
use salus_types::token::{Allocation, TokenAction, TokenGenesis};
use salus_types::{
    AccountId, Action, ErrorCode, Genesis, GenesisValidator, Hash, Tx, TxBody, TxError,
};

use common::{open, step, User, CHAIN};

fn genesis(users: &[&User], authority: &User) -> Genesis {
    Genesis {
        chain_id: CHAIN.into(),
        genesis_time_ms: 1_700_000_000_000,
        validators: vec![GenesisValidator {
            public_key: SigningKey::from_seed(&[200; 32]).public_key(),
            address: String::new(),
        }],
        identity: IdentityGenesis {
            authorities: vec![RoleAuthority {
                account: authority.id,
                roles: vec![Role::Provider, Role::Patient],
            }],
        },
        token: TokenGenesis {
            denom: "usal".into(),
            allocations: users
                .iter()
                .map(|u| Allocation {
                    account: u.id,
                    amount: 1_000_000,
                })
                .collect(),
        },
        audit: Default::default(),
        oracle: Default::default(),
        insurance: Default::default(),
        staking: Default::default(),
        epochs: Default::default(),
        governance: Default::default(),
    }
}

#[test]
fn two_fresh_nodes_reach_the_same_state_roots() {
    let dir = tempfile::tempdir().unwrap();
    let (mut a, mut b, authority) = (User::new(1), User::new(2), User::new(3));
    let genesis = genesis(&[&a, &b], &authority);
    let proposer = open(&dir, "proposer.redb", &genesis);
    let follower = open(&dir, "follower.redb", &genesis);
    assert_eq!(proposer.tip(), follower.tip());

    let blocks = vec![
        vec![a.transfer(b.id, 10), b.transfer(a.id, 3), a.register()],
        vec![a.transfer(b.id, 5_000_000)], // fails: insufficient
        vec![],
        vec![b.register(), a.transfer(b.id, 1)],
    ];
    for txs in &blocks {
        let (block, _, rejected) = step(&proposer, txs);
        assert!(rejected.is_empty());
        // The follower checks everything itself, then commits; the
        // signatures it checked are remembered for their late gossip.
        assert!(!txs.iter().any(|tx| follower.signature_checked(&tx.hash())));
        follower.verify(&block).unwrap();
        assert!(txs.iter().all(|tx| follower.signature_checked(&tx.hash())));
        follower.finalize(&block).unwrap();
        assert_eq!(proposer.tip(), follower.tip());
    }
    let height = proposer.tip().0.height;
    assert_eq!(height, 4);
    for h in 0..=height {
        assert_eq!(
            proposer.store().root(h).unwrap(),
            follower.store().root(h).unwrap()
        );
    }
}

#[test]
fn a_reopened_chain_executes_its_journal_again_and_resumes_where_it_was() {
    let dir = tempfile::tempdir().unwrap();
    let (mut a, b, authority) = (User::new(1), User::new(2), User::new(3));
    let genesis = genesis(&[&a, &b], &authority);
    let before = {
        let chain = open(&dir, "c.redb", &genesis);
        step(&chain, &[a.transfer(b.id, 10)]);
        chain.store().flush().unwrap();
        step(&chain, &[a.transfer(b.id, 20), a.register()]);
        step(&chain, &[a.transfer(b.id, 30)]);
        assert_eq!(chain.store().flushed_height(), Some(1));
        assert_eq!(chain.store().buffered_blocks(), 2);
        let snapshot = chain.store().snapshot().unwrap();
        let balance = token::balance(&snapshot, &b.id).unwrap();
        (chain.tip(), chain.store().root(3).unwrap(), balance)
        // Dropped without a flush, as in a crash.
    };
    let chain = open(&dir, "c.redb", &genesis);
    assert_eq!(chain.tip(), before.0);
    assert_eq!(chain.store().root(3).unwrap(), before.1);
    let snapshot = chain.store().snapshot().unwrap();
    assert_eq!(token::balance(&snapshot, &b.id).unwrap(), before.2);
    assert_eq!(before.2, 1_000_060);
    assert_eq!(auth::account(&snapshot, &a.id).unwrap().nonce, 4);
    drop(snapshot);
    // It goes on from there.
    let (_, codes, _) = step(&chain, &[a.transfer(b.id, 1)]);
    assert_eq!(codes, vec![ErrorCode::Ok]);
    assert_eq!(chain.tip().0.height, 4);
}

#[test]
fn failed_transaction_is_included_rolled_back_and_consumes_its_nonce() {
    let dir = tempfile::tempdir().unwrap();
    let (mut a, b, authority) = (User::new(1), User::new(2), User::new(3));
    let chain = open(&dir, "c.redb", &genesis(&[&a, &b], &authority));
    // First action would succeed, second fails: the whole tx must roll back.
    let tx = a.tx(vec![
        Action::Token(TokenAction::Transfer {
            to: b.id,
            amount: 100,
        }),
        Action::Token(TokenAction::Transfer {
            to: b.id,
            amount: 0,
        }),
    ]);
    let (block, codes, _) = step(&chain, &[tx]);
    assert_eq!(codes, vec![ErrorCode::ZeroAmount]);
    assert_eq!(block.txs.len(), 1);
    let snapshot = chain.store().snapshot().unwrap();
    assert_eq!(token::balance(&snapshot, &a.id).unwrap(), 1_000_000);
    assert_eq!(token::balance(&snapshot, &b.id).unwrap(), 1_000_000);
    assert_eq!(auth::account(&snapshot, &a.id).unwrap().nonce, 1);
    let receipt = snapshot.receipt(1, 0).unwrap().unwrap();
    assert_eq!(receipt.failed_action, Some(1));
    assert!(receipt.events.is_empty());
}

#[test]
fn replays_bad_signatures_and_foreign_chains_never_enter_a_block() {
    let dir = tempfile::tempdir().unwrap();
    let (mut a, b, authority) = (User::new(1), User::new(2), User::new(3));
    let chain = open(&dir, "c.redb", &genesis(&[&a, &b], &authority));
    let tx = a.transfer(b.id, 7);
    let (_, codes, _) = step(&chain, std::slice::from_ref(&tx));
    assert_eq!(codes, vec![ErrorCode::Ok]);

    // Replay: the proposer drops it.
    let (block, _, rejected) = step(&chain, std::slice::from_ref(&tx));
    assert!(block.txs.is_empty());
    assert_eq!(
        rejected,
        vec![(
            tx.hash(),
            TxError::BadNonce {
                expected: 1,
                actual: 0
            }
        )]
    );

    // A block that carries the replay anyway is rejected by verifiers.
    let other = open(&dir, "other.redb", &genesis(&[&a, &b], &User::new(3)));
    for h in 1..block.header.height {
        other
            .finalize(&chain.store().block(h).unwrap().unwrap())
            .unwrap();
    }
    let mut forged = block.clone();
    forged.txs = vec![tx.clone()];
    forged.header.tx_root = salus_types::Block::tx_root_of(&forged.txs);
    assert!(matches!(
        other.verify(&forged),
        Err(ChainError::InvalidTx {
            index: 0,
            error: TxError::BadNonce { .. }
        })
    ));

    // A bad signature is caught before execution.
    let mut bad = a.transfer(b.id, 1);
    bad.signature.0[5] ^= 1;
    let mut forged = block.clone();
    forged.txs = vec![bad];
    forged.header.tx_root = salus_types::Block::tx_root_of(&forged.txs);
    assert!(matches!(
        other.verify(&forged),
        Err(ChainError::BadSignature { index: 0 })
    ));

    // Another chain's transaction is invalid here.
    let mut foreign = TxBody {
        chain_id: "elsewhere".into(),
        signer: a.id,
        public_key: a.key.public_key(),
        nonce: a.nonce,
        actions: vec![Action::Token(TokenAction::Transfer {
            to: b.id,
            amount: 1,
        })],
    }
    .sign(&a.key);
    let (block, _, rejected) = step(&chain, std::slice::from_ref(&foreign));
    assert!(block.txs.is_empty());
    assert!(matches!(rejected[0].1, TxError::WrongChain { .. }));
    foreign.body.chain_id = CHAIN.into(); // signature no longer matches
    assert!(foreign.verify_signature().is_err());
}

#[test]
fn wrong_state_root_tx_root_height_or_timestamp_fail_verify() {
    let dir = tempfile::tempdir().unwrap();
    let (mut a, b, authority) = (User::new(1), User::new(2), User::new(3));
    let g = genesis(&[&a, &b], &authority);
    let proposer = open(&dir, "p.redb", &g);
    let verifier = open(&dir, "v.redb", &g);
    let (tip, digest) = proposer.tip();
    let good = proposer
        .propose(
            &digest,
            tip.timestamp_ms + 10,
            SigningKey::from_seed(&[200; 32]).public_key(),
            &[a.transfer(b.id, 5)],
        )
        .unwrap()
        .block;

    let mut wrong_root = good.clone();
    wrong_root.header.state_root.0[0] ^= 1;
    assert!(matches!(
        verifier.verify(&wrong_root),
        Err(ChainError::StateRootMismatch { .. })
    ));

    let mut wrong_txs = good.clone();
    wrong_txs.header.tx_root = Hash::ZERO;
    assert!(matches!(
        verifier.verify(&wrong_txs),
        Err(ChainError::BadTxRoot)
    ));

    let mut wrong_height = good.clone();
    wrong_height.header.height = 5;
    assert!(matches!(
        verifier.verify(&wrong_height),
        Err(ChainError::BadHeight { .. })
    ));

    let mut old = good.clone();
    old.header.timestamp_ms = tip.timestamp_ms;
    assert!(matches!(
        verifier.verify(&old),
        Err(ChainError::BadTimestamp { .. })
    ));

    let mut orphan = good.clone();
    orphan.header.parent = Hash([9; 32]);
    assert!(matches!(
        verifier.verify(&orphan),
        Err(ChainError::UnknownParent(_))
    ));

    verifier.verify(&good).unwrap();
    verifier.finalize(&good).unwrap();
    // Finalizing the same block again is a no-op; a different block at that height is a conflict.
    assert!(verifier.finalize(&good).unwrap().is_none());
    assert!(matches!(
        verifier.finalize(&wrong_root),
        Err(ChainError::Conflict { height: 1 })
    ));
}

#[test]
fn blocks_can_build_on_unfinalized_parents() {
    let dir = tempfile::tempdir().unwrap();
    let (mut a, b, authority) = (User::new(1), User::new(2), User::new(3));
    let chain = open(&dir, "c.redb", &genesis(&[&a, &b], &authority));
    let proposer = SigningKey::from_seed(&[200; 32]).public_key();
    let (tip, digest) = chain.tip();
    let first = chain
        .propose(
            &digest,
            tip.timestamp_ms + 1,
            proposer,
            &[a.transfer(b.id, 1)],
        )
        .unwrap()
        .block;
    let second = chain
        .propose(
            &first.digest(),
            tip.timestamp_ms + 2,
            proposer,
            &[a.transfer(b.id, 2)],
        )
        .unwrap()
        .block;
    assert_eq!(second.header.height, 2);
    assert_eq!(chain.speculative_len(), 2);
    chain.finalize(&first).unwrap();
    chain.finalize(&second).unwrap();
    assert_eq!(chain.speculative_len(), 0);
    let snapshot = chain.store().snapshot().unwrap();
    assert_eq!(token::balance(&snapshot, &b.id).unwrap(), 1_000_003);
}

#[test]
fn identity_rotation_deactivation_and_roles() {
    let dir = tempfile::tempdir().unwrap();
    let (mut a, mut b, mut authority) = (User::new(1), User::new(2), User::new(3));
    let chain = open(&dir, "c.redb", &genesis(&[&a, &b], &authority));

    let (_, codes, _) = step(&chain, &[a.register(), b.register(), authority.register()]);
    assert_eq!(codes, vec![ErrorCode::Ok; 3]);
    let (_, codes, _) = step(&chain, &[a.register()]);
    assert_eq!(codes, vec![ErrorCode::DidAlreadyRegistered]);

    // Only a genesis authority may attest, and only its roles.
    let attest = |subject: AccountId, role: Role| {
        Action::Identity(IdentityAction::AttestRole { subject, role })
    };
    let (_, codes, _) = step(
        &chain,
        &[
            b.tx(vec![attest(a.id, Role::Provider)]),
            authority.tx(vec![attest(a.id, Role::Provider)]),
            authority.tx(vec![attest(a.id, Role::Insurer)]),
            authority.tx(vec![attest(a.id, Role::Provider)]),
        ],
    );
    assert_eq!(
        codes,
        vec![
            ErrorCode::NotAnAuthority,
            ErrorCode::Ok,
            ErrorCode::NotAnAuthority,
            ErrorCode::RoleAlreadyHeld
        ]
    );
    let snapshot = chain.store().snapshot().unwrap();
    assert!(identity::role(&snapshot, &a.id, Role::Provider)
        .unwrap()
        .is_some());
    drop(snapshot);

    // Rotation needs proof of possession of the new key.
    let new_key = SigningKey::from_seed(&[77; 32]);
    let bogus = a.tx(vec![Action::Identity(IdentityAction::RotateKeys {
        new_key: new_key.public_key(),
        new_agreement_key: AgreementSecret::from_bytes(&[5; 32]).public_key(),
        possession: a.key.sign(b"not the rotation message"),
    })]);
    let good = a.tx(vec![Action::Identity(IdentityAction::RotateKeys {
        new_key: new_key.public_key(),
        new_agreement_key: AgreementSecret::from_bytes(&[5; 32]).public_key(),
        possession: new_key.sign(&rotation_message(CHAIN, &a.id, &new_key.public_key())),
    })]);
    let (_, codes, _) = step(&chain, &[bogus, good]);
    assert_eq!(codes, vec![ErrorCode::BadKeyPossession, ErrorCode::Ok]);

    // The old key no longer signs for the account; the new one does.
    let stale = a.transfer(b.id, 1);
    let (block, _, rejected) = step(&chain, &[stale]);
    assert!(block.txs.is_empty());
    assert_eq!(rejected[0].1, TxError::WrongSignerKey);
    a.key = new_key;
    a.nonce -= 1;
    let (_, codes, _) = step(&chain, &[a.transfer(b.id, 1)]);
    assert_eq!(codes, vec![ErrorCode::Ok]);

    // Deactivation is final: the account can no longer sign.
    let (_, codes, _) = step(
        &chain,
        &[a.tx(vec![Action::Identity(IdentityAction::Deactivate)])],
    );
    assert_eq!(codes, vec![ErrorCode::Ok]);
    let (_, _, rejected) = step(&chain, &[a.transfer(b.id, 1)]);
    assert_eq!(rejected[0].1, TxError::WrongSignerKey);
    let snapshot = chain.store().snapshot().unwrap();
    let record = identity::did_record(&snapshot, &a.id).unwrap().unwrap();
    assert!(record.deactivated);
    let doc = serde_json::to_value(identity::resolve_salus(&a.id.did(), &record, &[])).unwrap();
    assert_eq!(doc["didDocumentMetadata"]["deactivated"], true);
    assert_eq!(
        doc["didDocument"]["verificationMethod"]
            .as_array()
            .unwrap()
            .len(),
        0
    );

    let events = snapshot.events_for_account(&a.id, None, 100).unwrap();
    assert!(
        events.len() >= 4,
        "registration, role, rotation and deactivation are indexed"
    );
}

#[test]
fn did_documents_follow_did_core() {
    let dir = tempfile::tempdir().unwrap();
    let (mut a, b, authority) = (User::new(1), User::new(2), User::new(3));
    let chain = open(&dir, "c.redb", &genesis(&[&a, &b], &authority));
    step(&chain, &[a.register()]);
    let snapshot = chain.store().snapshot().unwrap();
    let record = identity::did_record(&snapshot, &a.id).unwrap().unwrap();
    let doc = serde_json::to_value(identity::resolve_salus(&a.id.did(), &record, &[])).unwrap();
    let document = &doc["didDocument"];
    assert_eq!(document["id"], a.id.did().to_string());
    assert_eq!(
        document["verificationMethod"][0]["type"],
        "Ed25519VerificationKey2020"
    );
    assert!(document["verificationMethod"][0]["publicKeyMultibase"]
        .as_str()
        .unwrap()
        .starts_with("z6Mk"));
    assert_eq!(
        document["keyAgreement"][0],
        format!("{}#agreement-1", a.id.did())
    );

    let did_key = salus_crypto::didkey::DidKey::Ed25519(a.key.public_key()).to_did();
    let resolved = serde_json::to_value(identity::resolve_did_key(&did_key).unwrap()).unwrap();
    assert_eq!(resolved["didDocument"]["id"], did_key);
    assert!(identity::resolve_did_key("did:key:zzz").is_err());
}

#[test]
fn reopening_with_another_genesis_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let (a, b, authority) = (User::new(1), User::new(2), User::new(3));
    let g = genesis(&[&a, &b], &authority);
    drop(open(&dir, "c.redb", &g));
    let mut other = g.clone();
    other.token.allocations[0].amount += 1;
    let store = Store::open(&dir.path().join("c.redb")).unwrap();
    assert!(matches!(
        Chain::open(store, &other),
        Err(ChainError::GenesisMismatch { .. })
    ));
}

mod invariants {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #![proptest_config(ProptestConfig { cases: 24, .. ProptestConfig::default() })]

        /// Random transfers (many failing) never create or destroy tokens, and two
        /// nodes executing the same blocks agree on every root.
        #[test]
        fn supply_is_conserved_and_roots_agree(
            transfers in proptest::collection::vec((0usize..4, 0usize..4, 0u128..600_000), 1..40),
            block_size in 1usize..8,
        ) {
            let dir = tempfile::tempdir().unwrap();
            let mut users: Vec<User> = (1..=4).map(User::new).collect();
            let refs: Vec<&User> = users.iter().collect();
            let g = genesis(&refs, &User::new(9));
            let a = open(&dir, "a.redb", &g);
            let b = open(&dir, "b.redb", &g);
            let ids: Vec<AccountId> = users.iter().map(|u| u.id).collect();
            let txs: Vec<Tx> = transfers
                .iter()
                .map(|(from, to, amount)| users[*from].transfer(ids[*to], *amount))
                .collect();
            for chunk in txs.chunks(block_size) {
                let (block, _, rejected) = step(&a, chunk);
                prop_assert!(rejected.is_empty());
                b.finalize(&block).unwrap();
            }
            let snapshot = a.store().snapshot().unwrap();
            let total: u128 = ids.iter().map(|id| token::balance(&snapshot, id).unwrap()).sum();
            prop_assert_eq!(total, token::total_supply(&snapshot).unwrap());
            prop_assert_eq!(total, 4_000_000);
            let height = a.tip().0.height;
            prop_assert_eq!(a.store().root(height).unwrap(), b.store().root(height).unwrap());
        }
    }
}
