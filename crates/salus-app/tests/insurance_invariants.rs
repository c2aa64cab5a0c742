//! The insurance and oracle invariants, proptested over random sequences of
//! deposits, withdrawals, purchases, claims (fresh and duplicate), answers
//! and the passing of time, on a chain and a follower:
//! - a pool's capital is deposits + premiums - payouts - withdrawals, and the
//!   custody account holds exactly the pools' capital;
//! - the capital ratio never breaks, and the pool can always pay what its
//!   pending claims ask;
//! - no claim is paid twice, and no record backs two paid claims;
//! - the oracle custody holds every bond, unbonding stake and open fee; the
//!   treasury holds exactly its share of premiums and the slashed stake; the
//!   total token supply never changes.

mod common;

use std::collections::{BTreeMap, BTreeSet};

use proptest::prelude::*;
use salus_app::{insurance, oracle, token, treasury};
use salus_types::insurance::{ClaimStatus, InsuranceAction, InsuranceEvent};
use salus_types::oracle::{Answer, Evidence, QuestionStatus, BPS};
use salus_types::{Event, Receipt};

use common::insurance::{Cast, FUNDS};

#[derive(Debug, Clone)]
enum Step {
    Deposit {
        lp: usize,
        amount: u128,
    },
    Withdraw {
        lp: usize,
        shares: u128,
    },
    Buy {
        product: u16,
        cover: u128,
        minutes: u64,
    },
    File {
        policy: usize,
        amount: u128,
    },
    Duplicate {
        claim: usize,
        amount: u128,
    },
    /// `verdict` 0 approves the amount asked, 1 half of it, 2 denies: few
    /// distinct answers, so quorums form as often as they fail.
    /// The first `voters` members give `verdict`; the next one, if any,
    /// dissents when `dissent` is set.
    Answer {
        question: usize,
        verdict: u8,
        voters: usize,
        dissent: bool,
    },
    Wait {
        blocks: u64,
    },
}

fn step() -> impl Strategy<Value = Step> {
    prop_oneof![
        (0..2usize, 1..300_000u128).prop_map(|(lp, amount)| Step::Deposit { lp, amount }),
        (0..2usize, 1..400_000u128).prop_map(|(lp, shares)| Step::Withdraw { lp, shares }),
        (0..2u16, 1..400_000u128, 1..4u64).prop_map(|(product, cover, minutes)| Step::Buy {
            product,
            cover,
            minutes
        }),
        (0..8usize, 1..150_000u128).prop_map(|(policy, amount)| Step::File { policy, amount }),
        (0..8usize, 1..50_000u128).prop_map(|(claim, amount)| Step::Duplicate { claim, amount }),
        (0..8usize, 0..3u8, 1..=3usize, any::<bool>()).prop_map(
            |(question, verdict, voters, dissent)| Step::Answer {
                question,
                verdict,
                voters,
                dissent
            }
        ),
        (1..20u64).prop_map(|blocks| Step::Wait { blocks }),
    ]
}

struct Run {
    cast: Cast,
    pool: u64,
    supply: u128,
    paid: BTreeMap<u64, u32>,
    claim_evidence: Vec<Evidence>,
}

impl Run {
    fn block(&mut self, txs: &[salus_types::Tx]) -> Vec<Receipt> {
        let receipts = self.cast.net.block(txs);
        for event in receipts.iter().flat_map(|r| &r.events) {
            if let Event::Insurance(InsuranceEvent::ClaimPaid { claim, .. }) = event {
                *self.paid.entry(*claim).or_default() += 1;
            }
        }
        receipts
    }

    fn apply(&mut self, step: Step) {
        let snapshot = self.cast.snapshot();
        let pool = self.pool;
        match step {
            Step::Deposit { lp, amount } => {
                let tx =
                    self.cast.lps[lp].tx(vec![InsuranceAction::Deposit { pool, amount }.into()]);
                self.block(&[tx]);
            }
            Step::Withdraw { lp, shares } => {
                let tx =
                    self.cast.lps[lp].tx(vec![InsuranceAction::Withdraw { pool, shares }.into()]);
                self.block(&[tx]);
            }
            Step::Buy {
                product,
                cover,
                minutes,
            } => {
                let tx = self.cast.buy(pool, product, cover, minutes * 60_000);
                self.block(&[tx]);
            }
            Step::File { policy, amount } => {
                let policies =
                    insurance::policies_of(&snapshot, &self.cast.patient.id, None, 100).unwrap();
                if policies.is_empty() {
                    return;
                }
                let policy = policies[policy % policies.len()].id;
                let evidence = self.cast.evidence();
                let tx = self.cast.file(policy, vec![evidence], amount);
                let receipts = self.block(&[tx]);
                if receipts[0].succeeded() {
                    self.claim_evidence.push(evidence);
                }
            }
            Step::Duplicate { claim, amount } => {
                if self.claim_evidence.is_empty() {
                    return;
                }
                let evidence = self.claim_evidence[claim % self.claim_evidence.len()];
                let policies =
                    insurance::policies_of(&snapshot, &self.cast.patient.id, None, 100).unwrap();
                let Some(policy) = policies.last() else {
                    return;
                };
                let tx = self.cast.file(policy.id, vec![evidence], amount);
                self.block(&[tx]);
            }
            Step::Answer {
                question,
                verdict,
                voters,
                dissent,
            } => {
                let claims =
                    insurance::claims_of(&snapshot, &self.cast.patient.id, None, 100).unwrap();
                if claims.is_empty() {
                    return;
                }
                let claim = &claims[question % claims.len()];
                let asked = oracle::question(&snapshot, claim.question)
                    .unwrap()
                    .unwrap();
                let verdict_answer = |verdict: u8| match verdict % 3 {
                    0 => Answer::Approve {
                        amount: claim.amount,
                    },
                    1 => Answer::Approve {
                        amount: claim.amount.div_ceil(2),
                    },
                    _ => Answer::Deny,
                };
                let mut txs = Vec::new();
                if dissent && voters < asked.committee.len() {
                    let dissenter = asked.committee[voters].oracle;
                    txs.push(
                        self.cast
                            .answer(dissenter, asked.id, verdict_answer(verdict + 1)),
                    );
                }
                for member in &asked.committee[..voters] {
                    txs.push(
                        self.cast
                            .answer(member.oracle, asked.id, verdict_answer(verdict)),
                    );
                }
                self.block(&txs);
            }
            Step::Wait { blocks } => {
                for _ in 0..blocks {
                    self.block(&[]);
                }
            }
        }
    }

    fn check(&self) {
        let snapshot = self.cast.snapshot();
        assert_eq!(self.cast.supply(), self.supply, "the supply changed");
        let pool = insurance::pool(&snapshot, self.pool).unwrap().unwrap();
        assert_eq!(
            pool.capital + pool.paid_out + pool.withdrawn,
            pool.deposited + pool.premiums + pool.granted,
            "capital is deposits + premiums + grants - payouts - withdrawals"
        );
        assert_eq!(
            token::balance(&snapshot, &insurance::custody()).unwrap(),
            pool.capital,
            "custody holds the pool's capital"
        );
        assert!(
            pool.capital * BPS >= u128::from(pool.terms.min_capital_ratio_bps) * pool.active_cover,
            "the capital ratio broke: {pool:?}"
        );
        let policies =
            insurance::policies_of(&snapshot, &self.cast.patient.id, None, 1_000).unwrap();
        let mut reserved = 0;
        let mut pending = 0;
        let premiums_paid: u128 = policies.iter().map(|p| p.premium).sum();
        let slashed: u128 = self
            .cast
            .oracles
            .iter()
            .filter_map(|o| oracle::oracle(&snapshot, &o.id).unwrap())
            .map(|record| record.slashed)
            .sum();
        assert_eq!(
            treasury::balance(&snapshot).unwrap(),
            premiums_paid - pool.premiums + slashed,
            "the treasury holds its share of premiums and the slashed stake"
        );
        for policy in &policies {
            assert!(policy.pending <= policy.remaining && policy.remaining <= policy.cover);
            reserved += if policy.released {
                policy.pending
            } else {
                policy.remaining
            };
            pending += policy.pending;
        }
        assert_eq!(
            pool.active_cover, reserved,
            "active cover is what policies reserve"
        );
        assert!(
            pool.capital >= pending,
            "the pool can pay every pending claim"
        );
        assert!(
            self.paid.values().all(|n| *n == 1),
            "a claim was paid twice"
        );
        let claims = insurance::claims_of(&snapshot, &self.cast.patient.id, None, 1_000).unwrap();
        let mut paid_records = BTreeSet::new();
        for claim in &claims {
            let question = oracle::question(&snapshot, claim.question)
                .unwrap()
                .unwrap();
            match (&claim.status, &question.status) {
                (ClaimStatus::Pending, QuestionStatus::Open) => {}
                (
                    ClaimStatus::Paid { amount, .. },
                    QuestionStatus::Resolved {
                        answer: Answer::Approve { amount: approved },
                        ..
                    },
                ) => {
                    assert!(amount <= approved && *amount <= claim.amount);
                    for item in &claim.evidence {
                        assert!(
                            paid_records.insert(item.record),
                            "a record backs two paid claims"
                        );
                    }
                }
                (
                    ClaimStatus::Denied { .. },
                    QuestionStatus::Resolved {
                        answer: Answer::Deny,
                        ..
                    },
                )
                | (ClaimStatus::Unresolved { .. }, QuestionStatus::Unresolved { .. }) => {}
                (claim_status, question_status) => {
                    panic!("claim {claim_status:?} disagrees with its question {question_status:?}")
                }
            }
        }
        // Oracle custody: bonds, unbonding stake and open fees.
        let mut held = 0;
        for oracle_user in &self.cast.oracles {
            if let Some(record) = oracle::oracle(&snapshot, &oracle_user.id).unwrap() {
                held += record.bond + record.unbonding;
            }
        }
        for claim in &claims {
            let question = oracle::question(&snapshot, claim.question)
                .unwrap()
                .unwrap();
            if question.is_open() {
                held += question.fee_per_member * question.committee.len() as u128;
            }
        }
        assert_eq!(
            token::balance(&snapshot, &oracle::custody()).unwrap(),
            held,
            "the oracle custody holds bonds and open fees"
        );
        // Every open question is assigned to exactly its committee.
        for oracle_user in &self.cast.oracles {
            let assigned = oracle::assigned(&snapshot, &oracle_user.id, None, 1_000).unwrap();
            for id in assigned {
                let question = oracle::question(&snapshot, id).unwrap().unwrap();
                assert!(question.is_open() && question.member(&oracle_user.id).is_some());
            }
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 32, ..ProptestConfig::default() })]

    #[test]
    fn pools_policies_and_claims_keep_their_invariants(steps in proptest::collection::vec(step(), 10..60)) {
        let mut cast = Cast::new();
        let pool = cast.funded_pool(400_000);
        let supply = cast.supply();
        assert_eq!(supply, FUNDS * 10, "every cast member's funds");
        let mut run = Run { cast, pool, supply, paid: BTreeMap::new(), claim_evidence: Vec::new() };
        run.check();
        for step in steps {
            run.apply(step);
            run.check();
        }
    }
}
