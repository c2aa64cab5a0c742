//! Claims: filing turns a claim into an oracle question and grants the
//! committee `payment` access to exactly the evidence; the end of the block
//! in which the question closes settles it (pays, denies, or frees the
//! evidence for another try) and revokes those grants.

use salus_state::{Overlay, StateError, StateRead};
use salus_types::consent::{Purpose, Scope};
use salus_types::identity::Role;
use salus_types::insurance::{
    claim_key, evidence_key, holder_claim_key, next_claim_key, policy_key, pool_key, Claim,
    ClaimStatus, Coverage, InsuranceEvent, Policy, Pool,
};
use salus_types::oracle::{Answer, Evidence, QuestionStatus, Rule};
use salus_types::{AccountId, ErrorCode};

use super::{custody, existing_pool, params, policy};
use crate::consent::{self, NewGrant};
use crate::context::{read, reject, write, BlockContext, Events, ExecResult, TxContext};
use crate::{identity, oracle, records, token};

/// The registry tag the oracle module knows insurance questions by.
const CLIENT_TAG: u8 = salus_types::modules::tag::insurance;

pub fn claim(state: &dyn StateRead, id: u64) -> Result<Option<Claim>, StateError> {
    read(state, &claim_key(id))
}

/// The rule the committee applies: the product's coverage over the policy's
/// term (services before the purchase, even earlier that day, are not
/// covered), capped at the amount asked.
fn rule_for(pool: &Pool, policy: &Policy, cap: u128) -> Rule {
    let (from_ms, to_ms) = (policy.starts_ms, policy.ends_ms);
    match &pool.terms.products[usize::from(policy.product)].coverage {
        Coverage::Indemnity {
            diagnosis_codes,
            currency,
            units_per_cent,
            deductible,
        } => Rule::Indemnity {
            diagnosis_codes: diagnosis_codes.clone(),
            from_ms,
            to_ms,
            currency: currency.clone(),
            units_per_cent: *units_per_cent,
            deductible: *deductible,
            cap,
        },
        Coverage::Parametric { per_day, max_days } => Rule::Parametric {
            per_day: *per_day,
            max_days: *max_days,
            from_ms,
            to_ms,
            cap,
        },
    }
}

/// Who files a claim.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Filer {
    /// The policy's holder or its guardian.
    Insured,
    /// An attested provider that wrote every piece of evidence, filing for
    /// the insured with the patient's payment consent.
    Provider,
}

/// Who may file on `policy`, if anyone: see [`Filer`].
fn filer(
    state: &dyn StateRead,
    policy: &Policy,
    claimant: &AccountId,
    evidence: &[Evidence],
    now: u64,
) -> Result<Option<Filer>, StateError> {
    if consent::is_patient_or_guardian(state, &policy.holder, claimant, now)? {
        return Ok(Some(Filer::Insured));
    }
    if identity::role(state, claimant, Role::Provider)?.is_none() {
        return Ok(None);
    }
    Ok(wrote_all(state, claimant, evidence)?.then_some(Filer::Provider))
}

/// Checks that grant `authorization` lets `provider` use every piece of
/// `evidence` for payment on `patient`'s behalf. Filing opens the
/// committee's access to the patient's records, which only the patient
/// (or a delegate) may allow: a provider's authorship of a record is not
/// the patient's consent to show it to an insurer's oracles.
fn payment_consent(
    state: &dyn StateRead,
    patient: &AccountId,
    provider: &AccountId,
    evidence: &[Evidence],
    authorization: Option<u64>,
    now: u64,
) -> ExecResult<()> {
    let Some(id) = authorization else {
        return reject(
            ErrorCode::NoPaymentConsent,
            "a provider files for the insured only with the patient's payment consent; name its grant",
        );
    };
    let refused = |why: &str| -> ExecResult<()> {
        reject(ErrorCode::NoPaymentConsent, format!("grant {id} {why}"))
    };
    let Some(grant) = consent::grant(state, id)? else {
        return refused("is unknown");
    };
    if grant.patient != *patient || grant.grantee != *provider {
        return refused("is not the insured's grant to this provider");
    }
    if grant.purpose != Purpose::Payment {
        return refused("is not for payment");
    }
    if !grant.is_active(now) {
        return refused("has expired or been revoked");
    }
    for item in evidence {
        let head = records::head(state, &item.record)?.ok_or_else(|| {
            StateError::Corrupt(format!("anchored record {} has no head", item.record))
        })?;
        if !grant.scope.covers(&item.record, head.category) {
            return refused(&format!("does not cover record {}", item.record));
        }
    }
    Ok(())
}

fn wrote_all(
    state: &dyn StateRead,
    author: &AccountId,
    evidence: &[Evidence],
) -> Result<bool, StateError> {
    for item in evidence {
        match records::version(state, &item.record, item.version)? {
            Some(version) if version.author == *author => {}
            _ => return Ok(false),
        }
    }
    Ok(true)
}

/// A claim as filed: by the insured (no authorization) or by a provider
/// (the patient's payment consent grant).
pub(super) struct Filing<'a> {
    policy_id: u64,
    evidence: &'a [Evidence],
    amount: u128,
    payee: AccountId,
    authorization: Option<u64>,
}

impl<'a> Filing<'a> {
    pub(super) fn new(
        policy_id: u64,
        evidence: &'a [Evidence],
        amount: u128,
        payee: AccountId,
        authorization: Option<u64>,
    ) -> Filing<'a> {
        Filing {
            policy_id,
            evidence,
            amount,
            payee,
            authorization,
        }
    }
}

pub(super) fn file(
    ctx: &TxContext<'_>,
    state: &mut Overlay<'_>,
    filing: Filing<'_>,
    events: &mut Events,
) -> ExecResult<()> {
    let Filing {
        policy_id,
        evidence,
        amount,
        payee,
        authorization,
    } = filing;
    let me = ctx.tx.signer;
    let now = ctx.timestamp_ms;
    let Some(policy) = policy(state, policy_id)? else {
        return reject(
            ErrorCode::PolicyNotFound,
            format!("policy {policy_id} is unknown"),
        );
    };
    let Some(filer) = filer(state, &policy, &me, evidence, now)? else {
        return reject(
            ErrorCode::NotPolicyHolder,
            format!(
                "{} is neither policy {policy_id}'s holder, its guardian, nor the provider who wrote the evidence",
                me.did()
            ),
        );
    };
    if !policy.is_running(now) {
        return reject(
            ErrorCode::PolicyNotRunning,
            format!("policy {policy_id} is not running"),
        );
    }
    // Facts come from providers: a patient's own notes prove nothing to an insurer.
    for item in evidence {
        let Some(version) = records::version(state, &item.record, item.version)? else {
            return reject(
                ErrorCode::EvidenceNotAnchored,
                format!(
                    "record {} version {} is not anchored",
                    item.record, item.version
                ),
            );
        };
        if version.author == policy.holder
            || identity::role(state, &version.author, Role::Provider)?.is_none()
        {
            return reject(
                ErrorCode::EvidenceNotFromProvider,
                format!(
                    "record {} was not written by an attested provider",
                    item.record
                ),
            );
        }
    }
    if filer == Filer::Provider {
        payment_consent(state, &policy.holder, &me, evidence, authorization, now)?;
    }
    if payee != policy.holder && !wrote_all(state, &payee, evidence)? {
        return reject(
            ErrorCode::BadPayee,
            "the payee is the insured or the provider who wrote the evidence",
        );
    }
    for item in evidence {
        if read::<u64>(state, &evidence_key(&item.record))?.is_some() {
            return reject(
                ErrorCode::EvidenceAlreadyClaimed,
                format!("record {} already backs a claim", item.record),
            );
        }
    }
    let unclaimed = policy.remaining - policy.pending;
    if amount > unclaimed {
        return reject(
            ErrorCode::OverCover,
            format!("the policy has {unclaimed} of cover left that no pending claim asks for"),
        );
    }
    let pool = existing_pool(state, policy.pool)?;
    // Unreachable while every policy is fully funded (capital ≥ active cover
    // ≥ pending claims); kept so that a pool never promises what it lacks.
    if amount > pool.capital {
        return reject(
            ErrorCode::PoolCannotPay,
            format!("pool {} holds {} of capital", pool.id, pool.capital),
        );
    }
    let params = params(state)?;
    let claim_id: u64 = read(state, &next_claim_key())?.unwrap_or(1);
    let question = oracle::ask(
        state,
        ctx,
        oracle::Ask {
            asker: me,
            client: CLIENT_TAG,
            reference: claim_id,
            subject: policy.holder,
            conflicted: vec![payee, pool.insurer],
            evidence: evidence.to_vec(),
            rule: rule_for(&pool, &policy, amount),
            fee_per_member: params.oracle_fee,
            deadline_blocks: params.claim_deadline_blocks,
        },
        events,
    )?;
    let scope = Scope::Records(evidence.iter().map(|e| e.record).collect());
    let mut grants = Vec::with_capacity(question.committee.len());
    for member in &question.committee {
        grants.push(consent::open_grant(
            state,
            NewGrant {
                patient: policy.holder,
                grantee: member.oracle,
                scope: scope.clone(),
                purpose: Purpose::Payment,
                expires_ms: now + params.claim_grant_ms,
            },
            now,
            &me,
            events,
        )?);
    }
    for item in evidence {
        write(state, evidence_key(&item.record), &claim_id);
    }
    let mut policy = policy;
    policy.pending += amount;
    write(state, policy_key(policy_id), &policy);
    let claim = Claim {
        id: claim_id,
        policy: policy_id,
        pool: pool.id,
        holder: policy.holder,
        claimant: me,
        payee,
        evidence: evidence.to_vec(),
        amount,
        question: question.id,
        grants,
        filed_height: ctx.height,
        status: ClaimStatus::Pending,
    };
    write(state, next_claim_key(), &(claim_id + 1));
    write(state, claim_key(claim_id), &claim);
    write(state, holder_claim_key(&policy.holder, claim_id), &());
    events.emit(InsuranceEvent::ClaimFiled {
        claim: claim_id,
        policy: policy_id,
        holder: policy.holder,
        claimant: me,
        question: question.id,
        amount,
    });
    Ok(())
}

/// Settles the claims whose questions closed in this block.
pub(super) fn settle_closed(
    ctx: &BlockContext<'_>,
    state: &mut Overlay<'_>,
    events: &mut Events,
) -> ExecResult<()> {
    for id in oracle::closed_at(state, ctx.height)? {
        let question = oracle::question(state, id)?
            .ok_or_else(|| StateError::Corrupt(format!("closed question {id} is missing")))?;
        if question.client == CLIENT_TAG {
            settle(ctx, state, question.reference, &question.status, events)?;
        }
    }
    Ok(())
}

fn settle(
    ctx: &BlockContext<'_>,
    state: &mut Overlay<'_>,
    claim_id: u64,
    outcome: &QuestionStatus,
    events: &mut Events,
) -> ExecResult<()> {
    let mut claim = claim(state, claim_id)?
        .ok_or_else(|| StateError::Corrupt(format!("claim {claim_id} is missing")))?;
    assert_eq!(claim.status, ClaimStatus::Pending, "a claim settles once");
    let approved = match outcome {
        QuestionStatus::Resolved {
            answer: Answer::Approve { amount },
            ..
        } => *amount,
        _ => 0,
    };
    let paid = pay(state, &claim, approved, events)?;
    claim.status = match outcome {
        QuestionStatus::Resolved {
            answer: Answer::Approve { .. },
            ..
        } => {
            events.emit(InsuranceEvent::ClaimPaid {
                claim: claim_id,
                holder: claim.holder,
                payee: claim.payee,
                amount: paid,
            });
            ClaimStatus::Paid {
                amount: paid,
                height: ctx.height,
            }
        }
        QuestionStatus::Resolved {
            answer: Answer::Deny,
            ..
        } => {
            free_evidence(state, &claim);
            events.emit(InsuranceEvent::ClaimDenied {
                claim: claim_id,
                holder: claim.holder,
            });
            ClaimStatus::Denied { height: ctx.height }
        }
        QuestionStatus::Unresolved { .. } => {
            free_evidence(state, &claim);
            events.emit(InsuranceEvent::ClaimUnresolved {
                claim: claim_id,
                holder: claim.holder,
            });
            ClaimStatus::Unresolved { height: ctx.height }
        }
        QuestionStatus::Open => unreachable!("only closed questions settle"),
    };
    // The committee's access ends with the question.
    for grant_id in &claim.grants {
        if let Some(grant) = consent::grant(state, *grant_id)? {
            if grant.revoked_ms.is_none() {
                consent::close_grant(state, grant, ctx.timestamp_ms, &claim.claimant, events)?;
            }
        }
    }
    write(state, claim_key(claim_id), &claim);
    Ok(())
}

/// Settles a claim's money: pays `approved` (bounded by the amount asked,
/// which the policy reserved, and by the pool's capital; zero for a claim
/// not approved) and releases the claim's reservation. Returns what was paid.
fn pay(
    state: &mut Overlay<'_>,
    claim: &Claim,
    approved: u128,
    events: &mut Events,
) -> ExecResult<u128> {
    let mut policy = policy(state, claim.policy)?
        .ok_or_else(|| StateError::Corrupt(format!("policy {} is missing", claim.policy)))?;
    let mut pool = existing_pool(state, claim.pool)?;
    assert!(
        claim.amount <= policy.pending && policy.pending <= policy.remaining,
        "a pending claim is reserved on its policy"
    );
    let amount = approved.min(claim.amount).min(pool.capital);
    if amount > 0 {
        token::transfer(state, &custody(), &claim.payee, amount, events)?;
    }
    // A running policy reserves its remaining cover, a released one only
    // its pending claims.
    let unreserved = if policy.released {
        claim.amount
    } else {
        amount
    };
    pool.active_cover = pool
        .active_cover
        .checked_sub(unreserved)
        .expect("the pool reserves what its policies reserve");
    policy.remaining -= amount;
    policy.pending -= claim.amount;
    pool.capital -= amount;
    pool.paid_out = pool
        .paid_out
        .checked_add(amount)
        .ok_or_else(|| StateError::Corrupt("the pool's payouts overflow".into()))?;
    write(state, policy_key(policy.id), &policy);
    write(state, pool_key(pool.id), &pool);
    Ok(amount)
}

/// A claim that was not paid frees its evidence for another claim.
fn free_evidence(state: &mut Overlay<'_>, claim: &Claim) {
    for item in &claim.evidence {
        state.delete(evidence_key(&item.record));
    }
}
