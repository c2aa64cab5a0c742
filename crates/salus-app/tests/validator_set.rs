//! Validator-set changes by governance, through `Chain` on a chain and a
//! follower that agree on every root: a validator added, re-keyed and
//! removed, each only from the next epoch; a change executed in an epoch's
//! very last block still lands in the next epoch; and every change that
//! cannot apply is refused when proposed, or fails whole when its timelock
//! ends, with a typed reason.

mod common;

use salus_app::epochs;
use salus_types::epochs::{epoch_of, EpochsEvent, Validator};
use salus_types::governance::{Change, ProposalStatus};
use salus_types::{ErrorCode, Event, PublicKey};

use common::governance::{enact, executed, failure, polity, refused};
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

/// Finalizes empty blocks until the next block starts an epoch, so that a
/// change enacted now executes well inside that epoch.
fn to_epoch_start(cast: &Cast) {
    while (cast.net.chain.tip().0.height + 1) % EPOCH_BLOCKS != 0 {
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
