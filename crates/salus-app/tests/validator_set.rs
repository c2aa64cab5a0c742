//! Validator-set changes by governance, through `Chain` on a chain and a
//! follower that agree on every root: a validator added, re-keyed and
//! removed, each only from the next epoch; a change executed in an epoch's
//! very last block still lands in the next epoch; and every change that
//! cannot apply is refused when proposed, or fails whole when its timelock
//! ends, with a typed reason. A proptest checks every epoch's set against a
//! model over random proposals and waits.

mod common;

use proptest::prelude::*;
use salus_app::epochs;
use salus_types::epochs::{epoch_of, EpochsEvent, Validator};
use salus_types::governance::{Change, GovernanceEvent, ProposalStatus};
use salus_types::{ErrorCode, Event, PublicKey};

use common::governance::{enact, executed, failure, pass, polity, propose, refused};
use common::insurance::{events, Cast, EPOCH_BLOCKS, TIMELOCK, VOTING};
use common::{proposer_key, User};

fn set(cast: &Cast, epoch: u64) -> Option<Vec<Validator>> {
    epochs::set(&cast.snapshot(), epoch).unwrap()
}

fn epoch(cast: &Cast) -> u64 {
    epoch_of(cast.net.chain.tip().0.height, EPOCH_BLOCKS)
}

fn keys(set: &[Validator]) -> Vec<PublicKey> {
    set.iter().map(|v| v.key).collect()
}

/// Finalizes empty blocks until the chain enters the next epoch; returns
/// the epoch-set events on the way.
fn next_epoch(cast: &Cast) -> Vec<EpochsEvent> {
    let from = epoch(cast);
    let mut receipts = Vec::new();
    while epoch(cast) == from {
        receipts.extend(cast.net.block(&[]));
    }
    events(&receipts, |e| match e {
        Event::Epochs(event) => Some(event.clone()),
        _ => None,
    })
}

/// 32 bytes that decode to no point of ed25519.
fn off_the_curve() -> PublicKey {
    (0..=u8::MAX)
        .map(|byte| PublicKey([byte; 32]))
        .find(|key| !key.is_valid())
        .expect("most 32-byte strings are not points")
}

/// The encoding of ed25519's identity point, a key of small order.
fn identity_point() -> PublicKey {
    let mut bytes = [0; 32];
    bytes[0] = 1;
    let key = PublicKey(bytes);
    assert!(key.is_valid() && !key.is_strong());
    key
}

/// Finalizes empty blocks until the next block starts an epoch, so that a
/// change enacted now executes well inside that epoch.
fn to_epoch_start(cast: &Cast) {
    while !(cast.net.chain.tip().0.height + 1).is_multiple_of(EPOCH_BLOCKS) {
        cast.net.block(&[]);
    }
}

fn add(key: PublicKey, address: &str) -> Change {
    Change::AddValidator {
        key,
        address: address.into(),
    }
}

#[test]
fn governance_adds_rekeys_and_removes_validators_from_the_next_epoch() {
    let mut cast = polity();
    let genesis_key = proposer_key().public_key();
    let joiner = User::new(50).key.public_key();
    to_epoch_start(&cast);
    let [proposal] = &enact(&mut cast, &[add(joiner, "10.0.0.5:7000")])[..] else {
        unreachable!()
    };
    assert!(executed(proposal), "{proposal:?}");
    // The running epoch keeps its set; the next one has the joiner.
    let now = epoch(&cast);
    assert_eq!(keys(&set(&cast, now).unwrap()), vec![genesis_key]);
    assert_eq!(set(&cast, now + 1), None);
    let fixed = next_epoch(&cast);
    assert!(
        fixed.contains(&EpochsEvent::NextSet {
            epoch: now + 1,
            validators: 2
        }),
        "{fixed:?}"
    );
    let mut expected = vec![genesis_key, joiner];
    expected.sort();
    assert_eq!(keys(&set(&cast, now + 1).unwrap()), expected);

    // Re-keyed: same address, new key, from the epoch after.
    let rekeyed = User::new(51).key.public_key();
    let change = Change::RekeyValidator {
        key: joiner,
        new_key: rekeyed,
    };
    to_epoch_start(&cast);
    assert!(executed(&enact(&mut cast, &[change])[0]));
    let now = epoch(&cast);
    next_epoch(&cast);
    let after = set(&cast, now + 1).unwrap();
    let moved = after.iter().find(|v| v.key == rekeyed).unwrap();
    assert_eq!(moved.address, "10.0.0.5:7000");
    assert!(!keys(&after).contains(&joiner));

    // Removed: the genesis validator leaves; the re-keyed one carries on.
    let change = Change::RemoveValidator { key: genesis_key };
    to_epoch_start(&cast);
    assert!(executed(&enact(&mut cast, &[change])[0]));
    let now = epoch(&cast);
    assert!(keys(&set(&cast, now).unwrap()).contains(&genesis_key));
    next_epoch(&cast);
    assert_eq!(keys(&set(&cast, now + 1).unwrap()), vec![rekeyed]);
    // Written sets never change afterwards.
    assert_eq!(keys(&set(&cast, 0).unwrap()), vec![genesis_key]);
}

/// Governance's end of block runs before the epochs module's (registry
/// order), so a change executed in the last block of epoch `e` is part of
/// the set that same block fixes for `e + 1`.
#[test]
fn a_change_executed_in_an_epochs_last_block_lands_in_the_next_epoch() {
    let mut cast = polity();
    // A proposal made in block p closes voting at p + VOTING and executes
    // TIMELOCK blocks later: start it so that this is an epoch's last block.
    let target = |p: u64| (p + VOTING + TIMELOCK) % EPOCH_BLOCKS == EPOCH_BLOCKS - 1;
    while !target(cast.net.chain.tip().0.height + 1) {
        cast.net.block(&[]);
    }
    let joiner = User::new(52).key.public_key();
    let proposal = &enact(&mut cast, &[add(joiner, "10.0.0.6:7000")])[0];
    let ProposalStatus::Executed { height } = proposal.status else {
        panic!("{proposal:?}");
    };
    assert_eq!(
        height % EPOCH_BLOCKS,
        EPOCH_BLOCKS - 1,
        "executed at {height}"
    );
    let next = epoch_of(height, EPOCH_BLOCKS) + 1;
    assert!(keys(&set(&cast, next).unwrap()).contains(&joiner));
}

#[test]
fn validator_changes_that_cannot_apply_are_refused_with_typed_errors() {
    let mut cast = polity();
    let genesis_key = proposer_key().public_key();
    let stranger = User::new(53).key.public_key();
    let cases = [
        (
            add(genesis_key, "10.0.0.7:7000"),
            ErrorCode::AlreadyAValidator,
        ),
        (
            Change::RemoveValidator { key: stranger },
            ErrorCode::NotAValidator,
        ),
        (
            Change::RemoveValidator { key: genesis_key },
            ErrorCode::LastValidator,
        ),
        (
            Change::RekeyValidator {
                key: stranger,
                new_key: User::new(54).key.public_key(),
            },
            ErrorCode::NotAValidator,
        ),
        (
            Change::RekeyValidator {
                key: genesis_key,
                new_key: genesis_key,
            },
            ErrorCode::BadProposal,
        ),
        (
            add(stranger, "validator.example:7000"),
            ErrorCode::BadProposal,
        ),
        (add(stranger, "10.0.0.7:0"), ErrorCode::BadProposal),
        (add(stranger, ""), ErrorCode::BadProposal),
        (
            add(off_the_curve(), "10.0.0.7:7000"),
            ErrorCode::BadProposal,
        ),
        // The identity point: valid under ZIP-215, and anyone can sign for it.
        (
            add(identity_point(), "10.0.0.7:7000"),
            ErrorCode::BadProposal,
        ),
    ];
    for (change, code) in cases {
        assert_eq!(refused(&mut cast, change.clone()), code, "{change:?}");
    }

    // Two proposals add the same validator: both are valid when made, the
    // first executes, and the second fails whole, saying why.
    let enacted = enact(
        &mut cast,
        &[
            add(stranger, "10.0.0.8:7000"),
            add(stranger, "10.0.0.9:7000"),
        ],
    );
    assert!(executed(&enacted[0]), "{:?}", enacted[0]);
    assert!(
        failure(&enacted[1]).contains("already a validator"),
        "{:?}",
        enacted[1]
    );
}

/// One step of the proptest: propose up to three set changes in one block
/// (keys by index into a pool), or let blocks pass.
#[derive(Debug, Clone)]
enum Step {
    Propose(Vec<(u8, usize, usize)>),
    Wait(u64),
}

fn step() -> impl Strategy<Value = Step> {
    prop_oneof![
        proptest::collection::vec((0u8..3, 0usize..POOL, 0usize..POOL), 1..4)
            .prop_map(Step::Propose),
        (1u64..2 * EPOCH_BLOCKS).prop_map(Step::Wait),
    ]
}

/// How many keys the proptest draws from: genesis's validator and others.
const POOL: usize = 5;

fn change(kind: u8, a: PublicKey, b: PublicKey) -> Change {
    match kind {
        0 => add(a, "10.0.0.9:7000"),
        1 => Change::RemoveValidator { key: a },
        _ => Change::RekeyValidator { key: a, new_key: b },
    }
}

/// The chain's rules for a set change, on a model: whether it applies.
fn apply(set: &mut Vec<PublicKey>, change: &Change) -> bool {
    let applied = match change {
        Change::AddValidator { key, .. } if !set.contains(key) => {
            set.push(*key);
            true
        }
        Change::RemoveValidator { key } if set.contains(key) && set.len() > 1 => {
            set.retain(|k| k != key);
            true
        }
        Change::RekeyValidator { key, new_key } if set.contains(key) && !set.contains(new_key) => {
            set.retain(|k| k != key);
            set.push(*new_key);
            true
        }
        _ => false,
    };
    set.sort();
    applied
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 12, ..ProptestConfig::default() })]

    /// Against a model, over random proposals and waits: a change is
    /// refused when proposed exactly when it could not apply then, executes
    /// exactly when it still applies, and every epoch's set is genesis's
    /// with every change executed before the epoch started, in order:
    /// never empty, sorted, without a key twice, and never rewritten.
    #[test]
    fn every_epochs_set_is_genesis_with_the_changes_executed_before_it(
        steps in proptest::collection::vec(step(), 3..10)
    ) {
        let mut cast = polity();
        let mut pool: Vec<PublicKey> = vec![proposer_key().public_key()];
        pool.extend((60..60 + POOL as u8 - 1).map(|seed| User::new(seed).key.public_key()));
        let genesis = vec![pool[0]];
        // Each executed change with the height it executed at.
        let mut executed_log: Vec<(u64, Change)> = Vec::new();
        let model_at = |log: &[(u64, Change)], before: u64| {
            let mut set = genesis.clone();
            for (_, change) in log.iter().filter(|(h, _)| *h < before) {
                prop_assert!(apply(&mut set, change));
            }
            Ok(set)
        };
        for step in steps {
            match step {
                Step::Wait(blocks) => {
                    for _ in 0..blocks {
                        cast.net.block(&[]);
                    }
                }
                Step::Propose(drawn) => {
                    let changes: Vec<Change> = drawn
                        .iter()
                        .filter(|(_, a, b)| a != b)
                        .map(|(kind, a, b)| change(*kind, pool[*a], pool[*b]))
                        .collect();
                    let pending = model_at(&executed_log, u64::MAX)?;
                    let txs: Vec<_> = changes
                        .iter()
                        .map(|c| cast.lps[0].tx(propose(std::slice::from_ref(c))))
                        .collect();
                    let receipts = cast.net.block(&txs);
                    let mut proposed = Vec::new();
                    for (change, receipt) in changes.iter().zip(&receipts) {
                        let applies = apply(&mut pending.clone(), change);
                        prop_assert_eq!(receipt.succeeded(), applies, "{:?}: {:?}", change, receipt.code);
                        if applies {
                            proposed.push(change.clone());
                        }
                    }
                    let ids = events(&receipts, |e| match e {
                        Event::Governance(GovernanceEvent::Proposed { proposal, .. }) => Some(*proposal),
                        _ => None,
                    });
                    prop_assert_eq!(ids.len(), proposed.len());
                    if proposed.is_empty() {
                        continue;
                    }
                    pass(&mut cast, &ids);
                    let snapshot = cast.snapshot();
                    let mut at_execution = model_at(&executed_log, u64::MAX)?;
                    for (id, change) in ids.iter().zip(&proposed) {
                        let proposal = salus_app::governance::proposal(&snapshot, *id).unwrap().unwrap();
                        let applies = apply(&mut at_execution, change);
                        match proposal.status {
                            ProposalStatus::Executed { height } => {
                                prop_assert!(applies, "{:?} executed", change);
                                executed_log.push((height, change.clone()));
                            }
                            ProposalStatus::Failed { .. } => prop_assert!(!applies, "{:?} failed", change),
                            other => prop_assert!(false, "{:?} ended {:?}", change, other),
                        }
                    }
                }
            }
            let now = epoch(&cast);
            for e in 0..=now {
                let set = keys(&set(&cast, e).unwrap());
                prop_assert_eq!(&set, &model_at(&executed_log, e * EPOCH_BLOCKS)?, "epoch {}", e);
                prop_assert!(!set.is_empty() && set.windows(2).all(|w| w[0] < w[1]));
            }
        }
    }
}
