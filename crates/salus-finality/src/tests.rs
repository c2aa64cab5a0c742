use commonware_consensus::simplex::types::{Finalize, Proposal};
use commonware_consensus::types::{Epoch, Round, View};
use commonware_cryptography::ed25519::PrivateKey;
use commonware_cryptography::Signer as _;
use commonware_utils::iter::NonEmpty;

use super::*;

fn keys(seeds: std::ops::Range<u64>) -> Vec<PrivateKey> {
    seeds.map(PrivateKey::from_seed).collect()
}

fn salus_key(key: &PrivateKey) -> PublicKey {
    PublicKey(
        key.public_key()
            .as_ref()
            .try_into()
            .expect("ed25519 keys are 32 bytes"),
    )
}

fn public(keys: &[PrivateKey]) -> Vec<PublicKey> {
    keys.iter().map(salus_key).collect()
}

/// Blocks per epoch in these tests.
const L: u64 = 10;

/// A header at `height` (its digest is what certificates sign).
fn header(height: u64) -> Header {
    Header {
        height,
        parent: Hash([1; 32]),
        timestamp_ms: 1_000 + height,
        proposer: PublicKey([2; 32]),
        tx_root: Hash([3; 32]),
        state_root: Hash([4; 32]),
    }
}

/// A finalization of `header` in `epoch` (view 7) signed by `signers`,
/// each of which signs as a member of `set`.
fn certificate(set: &[PrivateKey], signers: &[usize], epoch: u64, header: &Header) -> Vec<u8> {
    let digest = header.digest();
    let participants = Set::from_iter_dedup(set.iter().map(|k| k.public_key()));
    let proposal = Proposal::new(
        Round::new(Epoch::new(epoch), View::new(7)),
        View::new(6),
        to_digest(&digest),
    );
    let votes: Vec<Finalize<Scheme, Digest>> = signers
        .iter()
        .map(|&i| {
            let scheme =
                Scheme::signer(NAMESPACE, participants.clone(), set[i].clone()).expect("a member");
            Finalize::sign(&scheme, proposal.clone()).expect("members sign")
        })
        .collect();
    let scheme = Scheme::verifier(NAMESPACE, participants);
    let finalization = Finalization::from_finalizes(
        &scheme,
        NonEmpty::try_new(votes.iter()).expect("some votes"),
        &Sequential,
    )
    .expect("assembles");
    encode(&finalization)
}

#[test]
fn a_quorum_of_the_epoch_set_certifies_its_block() {
    let set = keys(0..4);
    let history = ValidatorHistory::new(&public(&set), L).unwrap();
    let block = header(5);
    let certified = history
        .verify(&certificate(&set, &[0, 1, 2], 0, &block), &block)
        .unwrap();
    assert_eq!((certified.epoch, certified.view), (0, 7));
    assert_eq!(certified.digest, block.digest());
}

#[test]
fn a_certificate_for_another_block_is_caught() {
    let set = keys(0..4);
    let history = ValidatorHistory::new(&public(&set), L).unwrap();
    let error = history
        .verify(&certificate(&set, &[0, 1, 2], 0, &header(5)), &header(6))
        .unwrap_err();
    assert!(matches!(error, FinalityError::WrongBlock { .. }), "{error}");
}

#[test]
fn signatures_short_of_a_quorum_or_from_strangers_do_not_certify() {
    let set = keys(0..4);
    let history = ValidatorHistory::new(&public(&set), L).unwrap();
    // Two of four is below the 2f+1 quorum: signed as a set of two, where
    // two is a quorum, their certificate still does not pass for the four.
    let block = header(5);
    let error = history
        .verify(&certificate(&set[..2], &[0, 1], 0, &block), &block)
        .unwrap_err();
    assert!(matches!(error, FinalityError::NotAQuorum(0)), "{error}");
    // A quorum of a different set of keys, in the same positions.
    let forgers = keys(10..14);
    assert_eq!(
        history.verify(&certificate(&forgers, &[0, 1, 2, 3], 0, &block), &block),
        Err(FinalityError::NotAQuorum(0))
    );
}

#[test]
fn only_learned_epochs_verify_and_an_epoch_is_learned_once() {
    let first = keys(0..4);
    let second = keys(2..7);
    let mut history = ValidatorHistory::new(&public(&first), L).unwrap();
    let (old, new) = (header(L - 1), header(L));
    let next = certificate(&second, &[0, 1, 2, 3], 1, &new);
    assert_eq!(
        history.verify(&next, &new),
        Err(FinalityError::UnknownEpoch(1))
    );
    // Epochs are learned in order.
    assert_eq!(
        history.clone().learn(2, &public(&second)),
        Err(FinalityError::EpochGap {
            epoch: 2,
            missing: 1
        })
    );
    history.learn(1, &public(&second)).unwrap();
    assert_eq!(history.verify(&next, &new).unwrap().epoch, 1);
    assert_eq!(history.latest_epoch(), 1);
    // The old epoch's set still certifies its own blocks, not the new epoch's.
    assert!(history
        .verify(&certificate(&first, &[0, 1, 2], 0, &old), &old)
        .is_ok());
    assert_eq!(
        history.verify(&certificate(&first, &[0, 1, 2, 3], 1, &new), &new),
        Err(FinalityError::NotAQuorum(1))
    );
    // A quorum of an old epoch certifies nothing past its epoch, and the new
    // set nothing before its own.
    assert_eq!(
        history.verify(&certificate(&first, &[0, 1, 2], 0, &new), &new),
        Err(FinalityError::WrongEpoch {
            epoch: 0,
            height: L,
            expected: 1
        })
    );
    assert!(matches!(
        history.verify(&certificate(&second, &[0, 1, 2, 3], 1, &old), &old),
        Err(FinalityError::WrongEpoch { .. })
    ));
    history.learn(1, &public(&second)).unwrap();
    assert_eq!(
        history.learn(1, &public(&first)),
        Err(FinalityError::EpochConflict { epoch: 1 })
    );
}

#[test]
fn garbage_and_bad_sets_get_typed_errors() {
    let set = keys(0..4);
    let history = ValidatorHistory::new(&public(&set), L).unwrap();
    let block = header(5);
    let good = certificate(&set, &[0, 1, 2], 0, &block);
    for bad in [
        vec![],
        good[..good.len() - 1].to_vec(),
        [good.clone(), vec![0]].concat(),
        vec![0xff; 200],
    ] {
        assert!(
            matches!(
                history.verify(&bad, &block),
                Err(FinalityError::Malformed(_))
            ),
            "{bad:?}"
        );
    }
    assert_eq!(
        ValidatorHistory::new(&[], L).unwrap_err(),
        FinalityError::BadValidatorSet
    );
    let twice = [public(&set), public(&set[..1])].concat();
    assert_eq!(
        ValidatorHistory::new(&twice, L).unwrap_err(),
        FinalityError::BadValidatorSet
    );
    assert_eq!(
        ValidatorHistory::new(&public(&set), 1).unwrap_err(),
        FinalityError::BadEpochLength
    );
}
