use super::*;
use salus_client::{actions, Signer};
use salus_crypto::SigningKey;
use salus_types::{Header, PublicKey};

/// A transfer from the sender seeded by `seed`, signed as a client would.
fn tx(seed: u8, nonce: u64) -> Tx {
    let key = SigningKey::from_seed(&[seed; 32]);
    Signer::new("c", key, nonce).sign(vec![actions::transfer(AccountId([0; 20]), 1)])
}

fn nonce(n: u64) -> Account {
    Account {
        nonce: n,
        key: None,
        disabled: false,
    }
}

fn block(height: u64, txs: Vec<Tx>) -> Block {
    Block {
        header: Header {
            height,
            parent: Hash::ZERO,
            timestamp_ms: 0,
            proposer: PublicKey([0; 32]),
            tx_root: Hash::ZERO,
            state_root: Hash::ZERO,
        },
        txs,
    }
}

#[test]
fn orders_by_nonce_and_rejects_duplicates_and_stale() {
    let pool = Mempool::new("c".into(), MempoolLimits::default());
    let verdicts = pool.admit(
        vec![tx(1, 2), tx(1, 0), tx(2, 0), tx(1, 1), tx(1, 0)],
        |_| nonce(0),
    );
    assert!(verdicts[..4].iter().all(Result::is_ok));
    assert_eq!(verdicts[4], Err(AdmitError::Duplicate));
    let order: Vec<(u8, u64)> = pool
        .candidates(10, |_| 0)
        .iter()
        .map(|t| (t.body.public_key.0[0], t.body.nonce))
        .collect();
    // Sender 1 arrived first (its nonce 2 came first), then sender 2; nonces ascend.
    let k1 = SigningKey::from_seed(&[1; 32]).public_key().0[0];
    let k2 = SigningKey::from_seed(&[2; 32]).public_key().0[0];
    assert_eq!(order, vec![(k1, 0), (k1, 1), (k1, 2), (k2, 0)]);
    assert_eq!(
        pool.admit(vec![tx(3, 0)], |_| nonce(5))[0],
        Err(AdmitError::Invalid(TxError::BadNonce {
            expected: 5,
            actual: 0
        }))
    );
    let mut forged = tx(3, 9);
    forged.body.nonce = 10;
    assert_eq!(
        pool.admit(vec![forged], |_| nonce(0))[0],
        Err(AdmitError::Invalid(TxError::BadSignature))
    );
}

#[test]
fn signatures_already_checked_are_not_checked_again() {
    let pool = Mempool::new("c".into(), MempoolLimits::default());
    let mut forged = tx(3, 9);
    forged.body.nonce = 10;
    let (good, forged_hash) = (tx(4, 0), forged.hash());
    // Only a hash the caller vouches for skips the check: the forged
    // one passes only because this test vouches for it, the good one
    // next to it is still checked and admitted.
    let verdicts = pool.admit_checked(vec![forged, good], |h| *h == forged_hash, |_| nonce(0));
    assert_eq!(verdicts[0], Ok(forged_hash));
    assert!(verdicts[1].is_ok());
    let mut forged_again = tx(3, 9);
    forged_again.body.nonce = 11;
    assert_eq!(
        pool.admit_checked(vec![forged_again], |h| *h == forged_hash, |_| nonce(0))[0],
        Err(AdmitError::Invalid(TxError::BadSignature))
    );
}

#[test]
fn replays_and_stale_transactions_are_refused_before_any_signature_check() {
    let pool = Mempool::new("c".into(), MempoolLimits::default());
    let pending = tx(1, 0);
    assert!(pool.admit(vec![pending.clone()], |_| nonce(0))[0].is_ok());
    // A forged transaction with a stale nonce: refused for its nonce.
    let mut stale_forgery = tx(2, 3);
    stale_forgery.body.nonce = 4;
    let stale_sender = stale_forgery.body.signer;
    // The probe sees every transaction that reaches the signature stage.
    let reached_signatures = std::cell::Cell::new(0);
    let verdicts = pool.admit_checked(
        vec![pending, stale_forgery, tx(3, 0)],
        |_| {
            reached_signatures.set(reached_signatures.get() + 1);
            false
        },
        |id| {
            if *id == stale_sender {
                nonce(7)
            } else {
                nonce(0)
            }
        },
    );
    assert_eq!(verdicts[0], Err(AdmitError::Duplicate));
    assert_eq!(
        verdicts[1],
        Err(AdmitError::Invalid(TxError::BadNonce {
            expected: 7,
            actual: 4
        }))
    );
    assert!(verdicts[2].is_ok());
    assert_eq!(reached_signatures.get(), 1, "only the fresh transaction");
}

#[test]
fn gaps_wait_and_bounds_hold() {
    let pool = Mempool::new(
        "c".into(),
        MempoolLimits {
            max_txs: 4,
            max_per_sender: 3,
        },
    );
    assert!(pool
        .admit(vec![tx(1, 0), tx(1, 2)], |_| nonce(0))
        .iter()
        .all(Result::is_ok));
    assert_eq!(
        pool.candidates(10, |_| 0).len(),
        1,
        "nonce 2 waits for nonce 1"
    );
    assert!(pool.admit(vec![tx(1, 1)], |_| nonce(0))[0].is_ok());
    assert_eq!(pool.candidates(10, |_| 0).len(), 3, "the gap is filled");
    assert_eq!(
        pool.admit(vec![tx(4, 3)], |_| nonce(0))[0],
        Err(AdmitError::NonceTooFar {
            expected: 0,
            actual: 3,
            window: 3
        })
    );
    assert_eq!(
        pool.admit(vec![tx(1, 3)], |_| nonce(1))[0],
        Err(AdmitError::SenderFull(3))
    );
    assert!(pool.admit(vec![tx(2, 0)], |_| nonce(0))[0].is_ok());
    assert_eq!(
        pool.admit(vec![tx(3, 0)], |_| nonce(0))[0],
        Err(AdmitError::Full(4))
    );
}

#[test]
fn proposed_transactions_are_held_then_released_or_removed() {
    let pool = Mempool::new("c".into(), MempoolLimits::default());
    pool.admit(vec![tx(1, 0), tx(1, 1), tx(2, 0)], |_| nonce(0));
    let first = block(1, vec![tx(1, 0)]);
    pool.mark_proposed(&first);
    let next: Vec<u64> = pool
        .candidates(10, |_| 0)
        .iter()
        .map(|t| t.body.nonce)
        .collect();
    assert_eq!(
        next.len(),
        2,
        "sender 1 continues at nonce 1, sender 2 at 0: {next:?}"
    );
    // A proposal at height 3 holds sender 2's transaction past a final
    // height 1 and 2.
    pool.mark_proposed(&block(3, vec![tx(2, 0)]));
    let finalize = |block: Block| {
        let hashes: Vec<Hash> = block.txs.iter().map(Tx::hash).collect();
        pool.finalized(&block, &hashes, |_| 0);
    };
    // A different block wins height 1: the held tx is offered again.
    finalize(block(1, vec![]));
    let offered: Vec<Tx> = pool.candidates(10, |_| 0);
    assert_eq!(
        offered,
        vec![tx(1, 0), tx(1, 1)],
        "sender 1's nonce 0 is back, sender 2's still held"
    );
    finalize(block(3, vec![]));
    assert_eq!(pool.candidates(10, |_| 0).len(), 3, "all released");
    // Its own block finalizes: it is gone.
    let hashes = [tx(1, 0).hash()];
    pool.finalized(&block(4, vec![tx(1, 0)]), &hashes, |_| 1);
    assert_eq!(pool.len(), 2);
}

#[test]
fn runs_start_at_the_finalized_nonce_so_parked_queues_cannot_censor() {
    let pool = Mempool::new("c".into(), MempoolLimits::default());
    // Sender 1 arrives first but parks nonces 5..8 (its chain nonce is 0).
    pool.admit((5..8).map(|n| tx(1, n)).collect(), |_| nonce(0));
    pool.admit(vec![tx(2, 0)], |_| nonce(0));
    let offered = pool.candidates(1, |_| 0);
    assert_eq!(offered.len(), 1);
    assert_eq!(
        offered[0].body.nonce, 0,
        "sender 2 is not starved by sender 1's gap"
    );
    // Entries below the finalized nonce are pruned when met.
    assert_eq!(pool.candidates(10, |_| 6).len(), 2);
    assert_eq!(
        pool.len(),
        2,
        "sender 1's nonce 5 was stale and removed; sender 2's too"
    );
}

#[test]
fn an_action_that_can_only_fail_is_refused_before_its_signature_is_checked() {
    let pool = Mempool::new("c".into(), MempoolLimits::default());
    let key = SigningKey::from_seed(&[4; 32]);
    let zero = Signer::new("c", key, 0).sign(vec![actions::transfer(AccountId([0; 20]), 0)]);
    let checked = std::cell::Cell::new(0);
    let verdicts = pool.admit_checked(
        vec![zero],
        |_| {
            checked.set(checked.get() + 1);
            false
        },
        |_| nonce(0),
    );
    match &verdicts[0] {
        Err(AdmitError::ActionRefused { index: 0, error }) => {
            assert_eq!(error.code, salus_types::ErrorCode::ZeroAmount)
        }
        other => panic!("expected a refused action, got {other:?}"),
    }
    assert_eq!(checked.get(), 0, "no signature stage for a refused action");
    assert!(pool.is_empty());
}
