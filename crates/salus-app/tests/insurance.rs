//! Oracles and insurance through `Chain`, on a chain and a follower that
//! agree on every root: pools and shares, policies, claims settled by an
//! oracle quorum in the block it forms, slashing, deadlines, and every
//! refusal.

mod common;

use salus_app::{consent, insurance, oracle, records, treasury};
use salus_types::consent::{ConsentAction, ConsentEvent, Purpose, Scope};
use salus_types::insurance::{ClaimStatus, InsuranceAction, InsuranceEvent};
use salus_types::oracle::{Answer, Evidence, OracleAction, OracleEvent};
use salus_types::records::RecordId;
use salus_types::{AccountId, Action, ErrorCode, Event};

use common::insurance::{events, Cast, BOND, DEADLINE, FEE};

const MINUTE: u64 = 60_000;

/// A pool with 1,000,000 of capital and a patient's policy of 200,000 cover
/// on the indemnity product; returns (pool, policy).
fn insured(cast: &mut Cast) -> (u64, u64) {
    let pool = cast.funded_pool(500_000);
    let buy = cast.buy(pool, 0, 200_000, 60 * MINUTE);
    cast.all_ok(&[buy]);
    (pool, 1)
}

/// Whether consent on the latest state lets `reader` read `evidence` for payment.
fn may_read_for_payment(cast: &Cast, reader: &salus_types::AccountId, evidence: &Evidence) -> bool {
    let access = consent::decide(
        &cast.snapshot(),
        reader,
        &evidence.record,
        Some(evidence.version),
        salus_types::consent::Purpose::Payment,
        cast.net.now(),
    )
    .unwrap();
    let consent::Access::Decided { reason, .. } = access else {
        panic!("the evidence's record is unknown");
    };
    reason.allows()
}

fn filed_question(receipts: &[salus_types::Receipt]) -> (u64, u64) {
    events(receipts, |e| match e {
        Event::Insurance(InsuranceEvent::ClaimFiled {
            claim, question, ..
        }) => Some((*claim, *question)),
        _ => None,
    })[0]
}

#[test]
fn a_claim_pays_in_the_block_where_the_quorum_forms() {
    let mut cast = Cast::new();
    let (pool, policy) = insured(&mut cast);
    let supply = cast.supply();
    let evidence = cast.evidence();
    let file = cast.file(policy, vec![evidence], 50_000);
    let (claim, question) = filed_question(&cast.all_ok(&[file]));
    let asked = cast.question(question);
    assert_eq!(asked.committee.len(), 3);
    assert!(asked.committee.iter().all(|m| m.stake == BOND));
    assert!(asked.committee.iter().all(|m| m.oracle != cast.patient.id));

    // Each member may read exactly the evidence, for payment, while it runs.
    for member in &asked.committee {
        assert!(may_read_for_payment(&cast, &member.oracle, &evidence));
    }

    let [first, second, silent] = [0, 1, 2].map(|i| asked.committee[i].oracle);
    let before = cast.balance(&cast.patient.id);
    let approve = Answer::Approve { amount: 45_000 };
    let answer = cast.answer(first, question, approve.clone());
    let receipts = cast.all_ok(&[answer]);
    assert!(events(&receipts, |e| matches!(
        e,
        Event::Insurance(InsuranceEvent::ClaimPaid { .. })
    )
    .then_some(()))
    .is_empty());
    let answer = cast.answer(second, question, approve.clone());
    let receipts = cast.all_ok(&[answer]);
    let paid = events(&receipts, |e| match e {
        Event::Insurance(InsuranceEvent::ClaimPaid { amount, .. }) => Some(*amount),
        _ => None,
    });
    assert_eq!(
        paid,
        vec![45_000],
        "paid in the block where the quorum formed"
    );
    assert_eq!(cast.balance(&cast.patient.id), before + 45_000 + FEE);
    assert!(matches!(
        cast.claim(claim).status,
        ClaimStatus::Paid { amount: 45_000, .. }
    ));
    let state = cast.pool(pool);
    assert_eq!(state.capital, 1_000_000 + state.premiums - 45_000);
    assert_eq!(state.active_cover, 200_000 - 45_000);

    // The silent member lost its fee (refunded to the claimant) and missed.
    let snapshot = cast.snapshot();
    let record = oracle::oracle(&snapshot, &silent).unwrap().unwrap();
    assert_eq!((record.missed, record.fees_earned), (1, 0));
    let record = oracle::oracle(&snapshot, &first).unwrap().unwrap();
    assert_eq!((record.agreed, record.fees_earned), (1, FEE));
    // The committee's access ended with the question.
    for member in &asked.committee {
        assert!(!may_read_for_payment(&cast, &member.oracle, &evidence));
    }
    // A late answer is refused: the question is closed.
    let late = cast.answer(silent, question, approve);
    assert_eq!(cast.net.code(late), ErrorCode::QuestionClosed);
    assert_eq!(cast.supply(), supply, "no token is created or destroyed");

    // The patient saw the claim, the question, the attestations and the payout.
    let mut seen = Vec::new();
    let snapshot = cast.snapshot();
    for event in snapshot
        .events_for_account(&cast.patient.id, None, 1_000)
        .unwrap()
    {
        seen.push(match event.event {
            Event::Insurance(InsuranceEvent::ClaimFiled { .. }) => "filed",
            Event::Oracle(OracleEvent::Asked { .. }) => "asked",
            Event::Oracle(OracleEvent::Answered { .. }) => "answered",
            Event::Oracle(OracleEvent::Resolved { .. }) => "resolved",
            Event::Insurance(InsuranceEvent::ClaimPaid { .. }) => "paid",
            _ => continue,
        });
    }
    for kind in ["filed", "asked", "answered", "resolved", "paid"] {
        assert!(
            seen.contains(&kind),
            "the patient's events lack {kind}: {seen:?}"
        );
    }
}

#[test]
fn a_member_that_answers_against_the_quorum_is_slashed() {
    let mut cast = Cast::new();
    let (_, policy) = insured(&mut cast);
    let evidence = cast.evidence();
    let file = cast.file(policy, vec![evidence], 50_000);
    let (claim, question) = filed_question(&cast.all_ok(&[file]));
    let committee: Vec<_> = cast
        .question(question)
        .committee
        .iter()
        .map(|m| m.oracle)
        .collect();
    let liar = committee[0];
    let liar_balance = cast.balance(&liar);
    let treasury_before = treasury::balance(&cast.snapshot()).unwrap();
    let lie = cast.answer(liar, question, Answer::Deny);
    let honest: Vec<_> = committee[1..]
        .iter()
        .map(|o| cast.answer(*o, question, Answer::Approve { amount: 45_000 }))
        .collect();
    cast.all_ok(&[lie]);
    let receipts = cast.all_ok(&honest);
    let slashed = events(&receipts, |e| match e {
        Event::Oracle(OracleEvent::Slashed { oracle, amount, .. }) => Some((*oracle, *amount)),
        _ => None,
    });
    assert_eq!(slashed, vec![(liar, BOND / 10)]);
    let snapshot = cast.snapshot();
    let record = oracle::oracle(&snapshot, &liar).unwrap().unwrap();
    assert_eq!(
        (record.bond, record.disputed, record.fees_earned),
        (BOND - BOND / 10, 1, 0)
    );
    assert_eq!(
        treasury::balance(&snapshot).unwrap() - treasury_before,
        BOND / 10,
        "the slashed stake went to the treasury"
    );
    assert_eq!(cast.balance(&liar), liar_balance, "a liar earns no fee");
    assert!(matches!(cast.claim(claim).status, ClaimStatus::Paid { .. }));
}

#[test]
fn without_a_quorum_by_the_deadline_a_claim_is_unresolved_and_pays_nothing() {
    let mut cast = Cast::new();
    let (pool, policy) = insured(&mut cast);
    let evidence = cast.evidence();
    let file = cast.file(policy, vec![evidence], 50_000);
    let receipts = cast.all_ok(&[file]);
    let (claim, question) = filed_question(&receipts);
    let asked = cast.question(question);
    assert_eq!(asked.deadline_height, asked.asked_height + DEADLINE);
    // One approval, one denial: no two-thirds quorum.
    let a = cast.answer(
        asked.committee[0].oracle,
        question,
        Answer::Approve { amount: 10 },
    );
    let b = cast.answer(asked.committee[1].oracle, question, Answer::Deny);
    cast.all_ok(&[a, b]);
    let capital = cast.pool(pool).capital;
    let receipts = cast.advance_to(asked.deadline_height);
    let unresolved = events(&receipts, |e| match e {
        Event::Insurance(InsuranceEvent::ClaimUnresolved { claim, .. }) => Some(*claim),
        _ => None,
    });
    assert_eq!(unresolved, vec![claim]);
    assert!(matches!(
        cast.claim(claim).status,
        ClaimStatus::Unresolved { .. }
    ));
    assert_eq!(cast.pool(pool).capital, capital, "nothing paid");
    assert_eq!(cast.pool(pool).active_cover, 200_000);
    // Nobody is slashed without a resolved answer; the evidence is free again.
    let slashed: u128 = cast
        .oracles
        .iter()
        .map(|o| {
            oracle::oracle(&cast.snapshot(), &o.id)
                .unwrap()
                .unwrap()
                .slashed
        })
        .sum();
    assert_eq!(slashed, 0);
    let again = cast.file(policy, vec![evidence], 50_000);
    cast.all_ok(&[again]);
}

#[test]
fn attestations_from_outside_the_committee_are_refused() {
    let mut cast = Cast::new();
    let (_, policy) = insured(&mut cast);
    let first = cast.evidence();
    let second = cast.evidence();
    let files = [
        cast.file(policy, vec![first], 10_000),
        cast.file(policy, vec![second], 10_000),
    ];
    let receipts = cast.all_ok(&files);
    let questions: Vec<u64> = events(&receipts, |e| match e {
        Event::Insurance(InsuranceEvent::ClaimFiled { question, .. }) => Some(*question),
        _ => None,
    });
    let committee = cast.question(questions[0]).committee;
    let outsider = cast
        .oracles
        .iter()
        .map(|o| o.id)
        .find(|o| committee.iter().all(|m| m.oracle != *o))
        .expect("four oracles, three seats");
    let tx = cast.answer(outsider, questions[0], Answer::Deny);
    assert_eq!(cast.net.code(tx), ErrorCode::NotACommitteeMember);
    let tx = cast.answer(committee[0].oracle, 99, Answer::Deny);
    assert_eq!(cast.net.code(tx), ErrorCode::QuestionNotFound);
    let stranger = cast.stranger.tx(vec![Action::Oracle(OracleAction::Answer {
        question: questions[0],
        answer: Answer::Deny,
    })]);
    assert_eq!(cast.net.code(stranger), ErrorCode::NotACommitteeMember);
    // Twice from the same member, and above the rule's cap.
    let member = committee[0].oracle;
    let first = cast.answer(member, questions[0], Answer::Deny);
    cast.all_ok(&[first]);
    let twice = cast.answer(member, questions[0], Answer::Deny);
    assert_eq!(cast.net.code(twice), ErrorCode::AlreadyAnswered);
    let member = committee[1].oracle;
    let greedy = cast.answer(member, questions[0], Answer::Approve { amount: 10_001 });
    assert_eq!(cast.net.code(greedy), ErrorCode::BadAnswer);
}

#[test]
fn claims_are_refused_with_typed_errors() {
    let mut cast = Cast::new();
    let (_, policy) = insured(&mut cast);
    let evidence = cast.evidence();

    // A foreign policy: the stranger is neither holder, guardian nor author.
    let payee = cast.stranger.id;
    let foreign = cast.stranger.tx(vec![InsuranceAction::FileClaim {
        policy,
        evidence: vec![evidence],
        amount: 1_000,
        payee,
    }
    .into()]);
    assert_eq!(cast.net.code(foreign), ErrorCode::NotPolicyHolder);
    let unknown = cast.file(99, vec![evidence], 1_000);
    assert_eq!(cast.net.code(unknown), ErrorCode::PolicyNotFound);
    // Evidence that is not anchored, or not the patient's.
    let missing = Evidence {
        record: RecordId([9; 16]),
        version: 1,
    };
    let tx = cast.file(policy, vec![missing], 1_000);
    assert_eq!(cast.net.code(tx), ErrorCode::EvidenceNotAnchored);
    let tx = cast.file(
        policy,
        vec![Evidence {
            version: 2,
            ..evidence
        }],
        1_000,
    );
    assert_eq!(cast.net.code(tx), ErrorCode::EvidenceNotAnchored);
    // The patient's own record is no evidence, nor is a superseded version.
    let own = RecordId::random();
    let patient_id = cast.patient.id;
    let tx = common::records::anchor(
        &mut cast.patient,
        own,
        patient_id,
        salus_types::records::Category::Financial,
        1,
        None,
    );
    cast.all_ok(&[tx]);
    let tx = cast.file(
        policy,
        vec![Evidence {
            record: own,
            version: 1,
        }],
        1_000,
    );
    assert_eq!(cast.net.code(tx), ErrorCode::EvidenceNotFromProvider);
    let corrected = cast.evidence();
    let previous = records::version(&cast.snapshot(), &corrected.record, 1)
        .unwrap()
        .unwrap()
        .digest(&corrected.record);
    let tx = common::records::anchor(
        &mut cast.hospital,
        corrected.record,
        patient_id,
        salus_types::records::Category::Financial,
        2,
        Some(previous),
    );
    cast.all_ok(&[tx]);
    let tx = cast.file(policy, vec![corrected], 1_000);
    assert_eq!(cast.net.code(tx), ErrorCode::EvidenceOutdated);
    // More than the cover.
    let tx = cast.file(policy, vec![evidence], 200_001);
    assert_eq!(cast.net.code(tx), ErrorCode::OverCover);
    // A payee that is neither the insured nor the evidence's author.
    let payee = cast.stranger.id;
    let tx = cast.patient.tx(vec![InsuranceAction::FileClaim {
        policy,
        evidence: vec![evidence],
        amount: 1_000,
        payee,
    }
    .into()]);
    assert_eq!(cast.net.code(tx), ErrorCode::BadPayee);

    // Paid evidence is remembered: no second claim on it, by anyone.
    let file = cast.file(policy, vec![evidence], 150_000);
    let (_, question) = filed_question(&cast.all_ok(&[file]));
    let more = cast.evidence();
    let pending = cast.file(policy, vec![more], 50_001);
    assert_eq!(
        cast.net.code(pending),
        ErrorCode::OverCover,
        "pending claims reserve cover"
    );
    let committee = cast.question(question).committee;
    let answers: Vec<_> = committee[..2]
        .iter()
        .map(|m| cast.answer(m.oracle, question, Answer::Approve { amount: 150_000 }))
        .collect();
    cast.all_ok(&answers);
    let tx = cast.file(policy, vec![evidence], 1_000);
    assert_eq!(cast.net.code(tx), ErrorCode::EvidenceAlreadyClaimed);

    // The provider that wrote new evidence may file for the insured, with
    // the patient's payment consent for exactly that evidence, and no other.
    let fresh = cast.evidence();
    let by_provider = |cast: &mut Cast, evidence: Evidence, authorization: Option<u64>| {
        let payee = cast.hospital.id;
        let action = match authorization {
            None => InsuranceAction::FileClaim {
                policy,
                evidence: vec![evidence],
                amount: 1_000,
                payee,
            },
            Some(authorization) => InsuranceAction::FileClaimForInsured {
                policy,
                evidence: vec![evidence],
                amount: 1_000,
                payee,
                authorization,
            },
        };
        let tx = cast.hospital.tx(vec![action.into()]);
        cast.net.code(tx)
    };
    let hospital = cast.hospital.id;
    let stranger = cast.stranger.id;
    let treatment = grant(&mut cast, hospital, Purpose::Treatment, vec![fresh.record]);
    let elsewhere = grant(&mut cast, hospital, Purpose::Payment, vec![evidence.record]);
    let someone_else = grant(&mut cast, stranger, Purpose::Payment, vec![fresh.record]);
    let consented = grant(
        &mut cast,
        hospital,
        Purpose::Payment,
        vec![evidence.record, fresh.record],
    );
    for authorization in [
        None,
        Some(treatment),
        Some(elsewhere),
        Some(someone_else),
        Some(999),
    ] {
        assert_eq!(
            by_provider(&mut cast, fresh, authorization),
            ErrorCode::NoPaymentConsent,
            "{authorization:?}"
        );
    }
    assert_eq!(
        by_provider(&mut cast, evidence, Some(consented)),
        ErrorCode::EvidenceAlreadyClaimed
    );
    assert_eq!(
        by_provider(&mut cast, fresh, Some(consented)),
        ErrorCode::Ok
    );

    // An expired policy.
    let ends = insurance::policy(&cast.snapshot(), policy)
        .unwrap()
        .unwrap()
        .ends_ms;
    cast.wait_until(ends);
    let late = cast.evidence();
    let tx = cast.file(policy, vec![late], 1_000);
    assert_eq!(cast.net.code(tx), ErrorCode::PolicyNotRunning);
}

#[test]
fn shares_price_premiums_and_payouts_and_withdrawals_wait_for_the_lockup() {
    let mut cast = Cast::new();
    // A pool without providers sells nothing: its premiums would be the first depositor's.
    let create = cast.insurer.tx(vec![InsuranceAction::CreatePool {
        terms: common::insurance::terms(),
    }
    .into()]);
    cast.all_ok(&[create]);
    let tx = cast.buy(1, 0, 1_000, 60 * MINUTE);
    assert_eq!(cast.net.code(tx), ErrorCode::NoLiquidity);
    let pool = cast.funded_pool(500_000);
    assert_eq!(cast.pool(pool).shares, 1_000_000);
    // Cover beyond the capital is refused, and so is cover above the maximum.
    let tx = cast.buy(pool, 1, 1_000_001, 60 * MINUTE);
    assert_eq!(cast.net.code(tx), ErrorCode::BadCover);
    let buy = cast.buy(pool, 1, 900_000, 60 * MINUTE);
    cast.all_ok(&[buy]);
    let tx = cast.buy(pool, 1, 200_000, 60 * MINUTE);
    assert_eq!(cast.net.code(tx), ErrorCode::CapitalRatio);
    let premium = cast.pool(pool).premiums;
    assert!(premium > 0);

    // Locked: the lockup is 30 s from the deposit.
    let lp = &mut cast.lps[0];
    let tx = lp.tx(vec![InsuranceAction::Withdraw { pool, shares: 1 }.into()]);
    assert_eq!(cast.net.code(tx), ErrorCode::StillLocked);
    for _ in 0..30 {
        cast.net.block(&[]);
    }
    // Withdrawing everything would leave 900,000 of cover unfunded.
    let lp = &mut cast.lps[0];
    let tx = lp.tx(vec![InsuranceAction::Withdraw {
        pool,
        shares: 500_000,
    }
    .into()]);
    assert_eq!(cast.net.code(tx), ErrorCode::CapitalRatio);
    // A late deposit buys fewer shares: premiums raised the price.
    let lp = &mut cast.lps[1];
    let tx = lp.tx(vec![InsuranceAction::Deposit {
        pool,
        amount: 100_000,
    }
    .into()]);
    let receipts = cast.all_ok(&[tx]);
    let minted = events(&receipts, |e| match e {
        Event::Insurance(InsuranceEvent::Deposited { shares, .. }) => Some(*shares),
        _ => None,
    })[0];
    assert_eq!(minted, 100_000 * 1_000_000 / (1_000_000 + premium));
    // After the policy ends, its cover is released and the first provider
    // withdraws at the new price: its half of the premiums with its capital.
    let ends = insurance::policy(&cast.snapshot(), 1)
        .unwrap()
        .unwrap()
        .ends_ms;
    cast.wait_until(ends + MINUTE);
    assert_eq!(cast.pool(pool).active_cover, 0);
    let before = cast.balance(&cast.lps[0].id);
    let state = cast.pool(pool);
    let lp = &mut cast.lps[0];
    let tx = lp.tx(vec![InsuranceAction::Withdraw {
        pool,
        shares: 500_000,
    }
    .into()]);
    cast.all_ok(&[tx]);
    let out = cast.balance(&cast.lps[0].id) - before;
    assert_eq!(out, 500_000 * state.capital / state.shares);
    assert!(out > 500_000, "the provider earned premiums");
}

#[test]
fn oracles_bond_unbond_and_withdraw_after_the_period() {
    let mut cast = Cast::new();
    let oracle_id = cast.oracles[0].id;
    let stranger = cast
        .stranger
        .tx(vec![OracleAction::Bond { amount: BOND }.into()]);
    assert_eq!(cast.net.code(stranger), ErrorCode::NotAnOracle);
    let small = cast.oracles[0].tx(vec![OracleAction::Unbond { amount: BOND }.into()]);
    cast.all_ok(&[small]);
    let snapshot = cast.snapshot();
    assert!(oracle::eligible(&snapshot)
        .unwrap()
        .iter()
        .all(|(o, _)| *o != oracle_id));
    let record = oracle::oracle(&snapshot, &oracle_id).unwrap().unwrap();
    let early = cast.oracles[0].tx(vec![OracleAction::Withdraw.into()]);
    assert_eq!(cast.net.code(early), ErrorCode::StillUnbonding);
    cast.advance_to(record.release_height);
    let before = cast.balance(&oracle_id);
    let withdraw = cast.oracles[0].tx(vec![OracleAction::Withdraw.into()]);
    cast.all_ok(&[withdraw]);
    assert_eq!(cast.balance(&oracle_id), before + BOND);
    // Three oracles left for a committee of three; a fourth unbonding
    // leaves too few to ask anything.
    let mut cast2 = cast;
    let (_, policy) = insured(&mut cast2);
    let leave = cast2.oracles[1].tx(vec![OracleAction::Unbond { amount: BOND }.into()]);
    cast2.all_ok(&[leave]);
    let evidence = cast2.evidence();
    let tx = cast2.file(policy, vec![evidence], 1_000);
    assert_eq!(cast2.net.code(tx), ErrorCode::NotEnoughOracles);
}

#[test]
fn expiries_queue_in_bounded_buckets_and_release_in_bounded_blocks() {
    use salus_types::insurance::{EXPIRY_BUCKET_MS, MAX_BUCKET_POLICIES};

    let mut cast = Cast::new();
    let pool = cast.funded_pool(500_000);
    let count = MAX_BUCKET_POLICIES + 6;
    // One block: every policy ends in the same minute.
    let buys: Vec<_> = (0..count)
        .map(|_| cast.buy(pool, 1, 1, 2 * MINUTE))
        .collect();
    cast.all_ok(&buys);
    assert_eq!(cast.pool(pool).active_cover, count as u128);
    let ends = insurance::policy(&cast.snapshot(), 1)
        .unwrap()
        .unwrap()
        .ends_ms;
    let bucket = ends / EXPIRY_BUCKET_MS;
    let queued = |bucket: u64| -> usize {
        salus_app::insurance::queued_expiries(&cast.snapshot(), bucket)
            .unwrap()
            .len()
    };
    assert_eq!(
        (queued(bucket), queued(bucket + 1)),
        (MAX_BUCKET_POLICIES, 6)
    );
    let receipts = cast.wait_until(ends + 2 * EXPIRY_BUCKET_MS);
    let per_block: Vec<usize> = receipts
        .iter()
        .map(|r| {
            r.events
                .iter()
                .filter(|e| matches!(e, Event::Insurance(InsuranceEvent::PolicyEnded { .. })))
                .count()
        })
        .filter(|n| *n > 0)
        .collect();
    assert_eq!(per_block.iter().sum::<usize>(), count);
    assert!(per_block
        .iter()
        .all(|n| *n <= salus_types::insurance::MAX_RELEASES_PER_BLOCK));
    assert_eq!(cast.pool(pool).active_cover, 0);
}

/// The patient grants `grantee` access to `records` for `purpose`, for an
/// hour; returns the grant's id.
fn grant(cast: &mut Cast, grantee: AccountId, purpose: Purpose, records: Vec<RecordId>) -> u64 {
    let patient = cast.patient.id;
    let expires_ms = cast.net.now() + 3_600_000;
    let tx = cast.patient.tx(vec![ConsentAction::Grant {
        patient,
        grantee,
        scope: Scope::Records(records),
        purpose,
        expires_ms,
    }
    .into()]);
    let granted = events(&cast.all_ok(&[tx]), |e| match e {
        Event::Consent(ConsentEvent::Granted { grant, .. }) => Some(*grant),
        _ => None,
    });
    granted[0]
}
