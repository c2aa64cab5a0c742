//! The oracle module: bonded oracles, questions with committees drawn by
//! stake, answers, resolution by a quorum of stake, slashing and fees.
//!
//! State (layout in `salus_types::oracle`):
//! - `oracle/params`; `oracle/oracle/<account>`: bond and public record;
//!   `oracle/eligible`: the draw pool (accounts bonded at least `min_bond`,
//!   with their bonds), one sorted value.
//! - `oracle/question/<id>`; `oracle/assigned/<oracle><id>`: open questions
//!   by member, for the daemons; `oracle/due/<height>`: questions whose
//!   deadline is `height`; `oracle/closed/<height>`: questions closed in that
//!   block, read by the modules that asked (in their end of block) and
//!   deleted one block later.
//! - `oracle/barred/<account>`: oracles governance took out of the draw.
//!
//! Tokens: bonds and fees sit in the module account
//! (`token::module_account("oracle")`). Invariant: its balance equals the
//! sum of bonds and unbonding stake, plus the fees of open questions.
//! Slashed stake goes to the community treasury.

use salus_state::{Overlay, StateError, StateRead, StateScan};
use salus_types::identity::Role;
use salus_types::oracle::{
    assigned_key, assigned_prefix, barred_key, closed_key, due_key, eligible_key,
    next_question_key, oracle_key, params_key, question_key, Answer, Evidence, Member,
    OracleAction, OracleEvent, OracleGenesis, OracleParams, OracleRecord, Question, QuestionStatus,
    Rule, BPS, MAX_EVIDENCE, MAX_ORACLES, PREFIX,
};
use salus_types::token::module_account;
use salus_types::{AccountId, ErrorCode};

use crate::context::{
    push_id, read, refuse, reject, take, write, ActionError, BlockContext, Events, ExecResult,
    Module, TxContext, TxOrigin,
};
use crate::genesis::GenesisError;
use crate::{identity, records, token, treasury};

/// The account that holds bonds and fees.
pub fn custody() -> AccountId {
    module_account(PREFIX)
}

pub fn params(state: &dyn StateRead) -> Result<OracleParams, StateError> {
    crate::params::load(state, &params_key())
}

/// Replaces the parameters (governance, after checking their bounds).
pub fn set_params(state: &mut Overlay<'_>, params: &OracleParams) {
    crate::params::store(state, PREFIX, params_key(), params);
}

pub fn oracle(
    state: &dyn StateRead,
    account: &AccountId,
) -> Result<Option<OracleRecord>, StateError> {
    read(state, &oracle_key(account))
}

pub fn question(state: &dyn StateRead, id: u64) -> Result<Option<Question>, StateError> {
    read(state, &question_key(id))
}

/// The draw pool: eligible oracles and their bonds, sorted by account.
pub fn eligible(state: &dyn StateRead) -> Result<Vec<(AccountId, u128)>, StateError> {
    Ok(read(state, &eligible_key())?.unwrap_or_default())
}

/// The questions that closed (resolved or not) in the block at `height`.
pub fn closed_at(state: &dyn StateRead, height: u64) -> Result<Vec<u64>, StateError> {
    Ok(read(state, &closed_key(height))?.unwrap_or_default())
}

/// Whether governance took `oracle` out of the committee draw.
pub fn barred(state: &dyn StateRead, oracle: &AccountId) -> Result<bool, StateError> {
    Ok(read::<()>(state, &barred_key(oracle))?.is_some())
}

/// Takes `oracle` out of the draw (`barred`) or returns it (governance).
/// Questions already drawn keep it as a member.
pub fn set_barred(state: &mut Overlay<'_>, account: &AccountId, bar: bool) -> ExecResult<()> {
    state.confine(PREFIX, |state| {
        if barred(state, account)? == bar {
            let already = if bar { "barred" } else { "not barred" };
            return reject(
                ErrorCode::BarUnchanged,
                format!("{} is already {already}", account.did()),
            );
        }
        if bar {
            write(state, barred_key(account), &());
        } else {
            state.delete(barred_key(account));
        }
        let bond = oracle(state, account)?.map_or(0, |record| record.bond);
        let params = params(state)?;
        set_eligible(state, account, bond, params.min_bond)
    })
}

/// The open questions assigned to `oracle`, after `after`, at most `limit`.
pub fn assigned<S: StateScan>(
    state: &S,
    oracle: &AccountId,
    after: Option<u64>,
    limit: usize,
) -> Result<Vec<u64>, StateError> {
    let prefix = assigned_prefix(oracle);
    let after = after.map(|id| assigned_key(oracle, id));
    state
        .scan_prefix(&prefix, after.as_deref(), limit)?
        .into_iter()
        .map(|(key, _)| {
            let raw: [u8; 8] = key[prefix.len()..]
                .try_into()
                .map_err(|_| StateError::Corrupt("malformed assigned-question key".into()))?;
            Ok(u64::from_be_bytes(raw))
        })
        .collect()
}

/// What a client module asks.
pub struct Ask {
    /// Pays `fee_per_member` for each member; gets back the fees of the
    /// members who stay silent, and all of them if no quorum forms.
    pub asker: AccountId,
    /// The asking module's registry tag and its own reference.
    pub client: u8,
    pub reference: u64,
    /// The patient whose records are the evidence; never on the committee.
    pub subject: AccountId,
    /// Others who may not judge this question (who would be paid, who
    /// would pay); never on the committee either.
    pub conflicted: Vec<AccountId>,
    pub evidence: Vec<Evidence>,
    pub rule: Rule,
    pub fee_per_member: u128,
    pub deadline_blocks: u64,
}

/// Opens a question: checks the evidence is anchored to the subject and the
/// rule is well formed, draws the committee, takes the fees and schedules
/// the deadline. Confines itself to the oracle prefix (and the token
/// module's, to take the fees).
pub fn ask(
    state: &mut Overlay<'_>,
    ctx: &TxContext<'_>,
    ask: Ask,
    events: &mut Events,
) -> ExecResult<Question> {
    let height = ctx.height;
    let params = params(state)?;
    if let Some(problem) = ask.rule.problem() {
        return reject(ErrorCode::BadRule, problem);
    }
    if !(params.min_deadline_blocks..=params.max_deadline_blocks).contains(&ask.deadline_blocks) {
        return reject(
            ErrorCode::BadDeadline,
            format!(
                "a deadline is {}..={} blocks away",
                params.min_deadline_blocks, params.max_deadline_blocks
            ),
        );
    }
    check_evidence(state, &ask.subject, &ask.evidence)?;
    let id: u64 = read(state, &next_question_key())?.unwrap_or(1);
    let mut excluded = vec![ask.asker, ask.subject];
    excluded.extend(&ask.conflicted);
    let committee = draw(state, &params, id, ctx, &excluded)?;
    let fees = ask
        .fee_per_member
        .checked_mul(committee.len() as u128)
        .ok_or_else(|| ActionError::new(ErrorCode::Overflow, "the fees overflow"))?;
    if fees > 0 {
        token::transfer(state, &ask.asker, &custody(), fees, events)?;
    }
    let deadline_height = height + ask.deadline_blocks;
    let question = Question {
        id,
        asker: ask.asker,
        client: ask.client,
        reference: ask.reference,
        subject: ask.subject,
        evidence: ask.evidence,
        rule: ask.rule,
        committee: committee
            .iter()
            .map(|(oracle, stake)| Member {
                oracle: *oracle,
                stake: *stake,
                answer: None,
            })
            .collect(),
        fee_per_member: ask.fee_per_member,
        asked_height: height,
        deadline_height,
        status: QuestionStatus::Open,
    };
    state.confine(PREFIX, |state| -> Result<(), StateError> {
        write(state, next_question_key(), &(id + 1));
        write(state, question_key(id), &question);
        for (oracle, _) in &committee {
            write(state, assigned_key(oracle, id), &());
        }
        push_id(state, due_key(deadline_height), id)
    })?;
    events.emit(OracleEvent::Asked {
        question: id,
        asker: question.asker,
        subject: question.subject,
        committee: committee.iter().map(|(oracle, _)| *oracle).collect(),
        deadline_height,
    });
    Ok(question)
}

fn check_evidence(
    state: &dyn StateRead,
    subject: &AccountId,
    evidence: &[Evidence],
) -> ExecResult<()> {
    if evidence.is_empty() || evidence.len() > MAX_EVIDENCE {
        return reject(
            ErrorCode::BadEvidence,
            format!("a question names 1..={MAX_EVIDENCE} record versions"),
        );
    }
    let mut records: Vec<_> = evidence.iter().map(|e| e.record).collect();
    records.sort();
    if records.windows(2).any(|w| w[0] == w[1]) {
        return reject(ErrorCode::BadEvidence, "a record is named twice");
    }
    for item in evidence {
        let head = match records::head(state, &item.record)? {
            Some(head)
                if head.patient == *subject
                    && head.erased_ms.is_none()
                    && records::version(state, &item.record, item.version)?.is_some() =>
            {
                head
            }
            _ => {
                return reject(
                    ErrorCode::EvidenceNotAnchored,
                    format!(
                        "record {} version {} is not an anchored, unerased record of the patient",
                        item.record, item.version
                    ),
                )
            }
        };
        // A corrected record supersedes what it corrects.
        if item.version != head.latest_version {
            return reject(
                ErrorCode::EvidenceOutdated,
                format!(
                    "record {} is at version {}; version {} is superseded",
                    item.record, head.latest_version, item.version
                ),
            );
        }
    }
    Ok(())
}

/// Draws `committee_size` distinct oracles, each with probability
/// proportional to its bond among those left, from a seed of the question id,
/// the height and the parent block's digest (which the asker cannot know
/// when it signs). Oracles in `excluded`, and those whose role was revoked,
/// are not drawn.
fn draw(
    state: &dyn StateRead,
    params: &OracleParams,
    question: u64,
    ctx: &TxContext<'_>,
    excluded: &[AccountId],
) -> ExecResult<Vec<(AccountId, u128)>> {
    let mut pool = Vec::new();
    for (oracle, bond) in eligible(state)? {
        if !excluded.contains(&oracle) && identity::role(state, &oracle, Role::Oracle)?.is_some() {
            pool.push((oracle, bond));
        }
    }
    let size = usize::from(params.committee_size);
    if pool.len() < size {
        return reject(
            ErrorCode::NotEnoughOracles,
            format!(
                "a committee needs {size} eligible oracles; {} are bonded",
                pool.len()
            ),
        );
    }
    let mut committee = Vec::with_capacity(size);
    for seat in 0..size {
        let total: u128 = pool.iter().map(|(_, bond)| bond).sum();
        let mut seed = Vec::with_capacity(56);
        seed.extend_from_slice(&question.to_be_bytes());
        seed.extend_from_slice(&ctx.height.to_be_bytes());
        seed.extend_from_slice(&ctx.parent.0);
        seed.extend_from_slice(&(seat as u64).to_be_bytes());
        let digest = salus_crypto::sha256("salus/oracle-draw/v1", &seed);
        let mut point = u128::from_be_bytes(digest.0[..16].try_into().expect("16 bytes"));
        point %= total;
        let index = pool
            .iter()
            .position(|(_, bond)| {
                if point < *bond {
                    true
                } else {
                    point -= bond;
                    false
                }
            })
            .expect("the point lies below the total bond");
        committee.push(pool.remove(index));
    }
    Ok(committee)
}

/// The oracle module.
pub struct Oracle;

impl Module for Oracle {
    const PREFIX: &'static str = PREFIX;
    type Action = OracleAction;
    type Cache = ();
    type Genesis = OracleGenesis;

    fn init_genesis(state: &mut Overlay<'_>, genesis: &OracleGenesis) -> Result<(), GenesisError> {
        crate::params::init(state, params_key(), &genesis.params, "oracle")
    }

    fn check(_tx: &TxOrigin<'_>, action: &OracleAction) -> Result<(), ActionError> {
        match action {
            OracleAction::Bond { amount } | OracleAction::Unbond { amount } if *amount == 0 => {
                refuse(ErrorCode::ZeroAmount, "the amount is zero")
            }
            _ => Ok(()),
        }
    }

    fn execute(
        ctx: &TxContext<'_>,
        _cache: &(),
        state: &mut Overlay<'_>,
        action: &OracleAction,
        events: &mut Events,
    ) -> ExecResult<()> {
        let me = ctx.tx.signer;
        match action {
            OracleAction::Bond { amount } => {
                if identity::role(state, &me, Role::Oracle)?.is_none() {
                    return reject(
                        ErrorCode::NotAnOracle,
                        format!("{} holds no attested oracle role", me.did()),
                    );
                }
                let mut record = oracle(state, &me)?.unwrap_or_default();
                record.bond = record
                    .bond
                    .checked_add(*amount)
                    .ok_or_else(|| ActionError::new(ErrorCode::Overflow, "the bond overflows"))?;
                let params = params(state)?;
                if record.bond < params.min_bond {
                    return reject(
                        ErrorCode::BondTooSmall,
                        format!("a bond is at least {}", params.min_bond),
                    );
                }
                token::transfer(state, &me, &custody(), *amount, events)?;
                write(state, oracle_key(&me), &record);
                set_eligible(state, &me, record.bond, params.min_bond)?;
                events.emit(OracleEvent::Bonded {
                    oracle: me,
                    amount: *amount,
                    bond: record.bond,
                });
            }
            OracleAction::Unbond { amount } => {
                let Some(mut record) = oracle(state, &me)? else {
                    return reject(ErrorCode::NotBonded, format!("{} has no bond", me.did()));
                };
                record.bond = record.bond.checked_sub(*amount).ok_or_else(|| {
                    ActionError::new(
                        ErrorCode::NotBonded,
                        format!("the bond is {}, below {amount}", record.bond),
                    )
                })?;
                let params = params(state)?;
                record.unbonding += amount;
                record.release_height = ctx.height + params.unbonding_blocks;
                write(state, oracle_key(&me), &record);
                set_eligible(state, &me, record.bond, params.min_bond)?;
                events.emit(OracleEvent::Unbonding {
                    oracle: me,
                    amount: *amount,
                    release_height: record.release_height,
                });
            }
            OracleAction::Withdraw => {
                let Some(mut record) = oracle(state, &me)? else {
                    return reject(ErrorCode::NotBonded, format!("{} has no bond", me.did()));
                };
                if record.unbonding == 0 {
                    return reject(ErrorCode::NotBonded, "nothing is unbonding");
                }
                if ctx.height < record.release_height {
                    return reject(
                        ErrorCode::StillUnbonding,
                        format!("unbonding ends at height {}", record.release_height),
                    );
                }
                let amount = std::mem::take(&mut record.unbonding);
                token::transfer(state, &custody(), &me, amount, events)?;
                write(state, oracle_key(&me), &record);
                events.emit(OracleEvent::Withdrawn { oracle: me, amount });
            }
            OracleAction::Answer {
                question: id,
                answer,
            } => answer_question(ctx, state, *id, answer, events)?,
        }
        Ok(())
    }

    fn end_block(
        ctx: &BlockContext<'_>,
        state: &mut Overlay<'_>,
        events: &mut Events,
    ) -> ExecResult<()> {
        if ctx.height > 0 {
            take::<Vec<u64>>(state, &closed_key(ctx.height - 1))?;
        }
        let due: Vec<u64> = take(state, &due_key(ctx.height))?.unwrap_or_default();
        for id in due {
            let mut question = question(state, id)?
                .ok_or_else(|| StateError::Corrupt(format!("due question {id} is missing")))?;
            if question.is_open() {
                question.status = QuestionStatus::Unresolved { height: ctx.height };
                close(state, ctx.height, &question, events)?;
                events.emit(OracleEvent::Unresolved {
                    question: id,
                    asker: question.asker,
                    subject: question.subject,
                });
            }
        }
        Ok(())
    }
}

fn answer_question(
    ctx: &TxContext<'_>,
    state: &mut Overlay<'_>,
    id: u64,
    answer: &Answer,
    events: &mut Events,
) -> ExecResult<()> {
    let me = ctx.tx.signer;
    let Some(mut question) = question(state, id)? else {
        return reject(
            ErrorCode::QuestionNotFound,
            format!("question {id} is unknown"),
        );
    };
    if !question.is_open() {
        return reject(
            ErrorCode::QuestionClosed,
            format!("question {id} is closed"),
        );
    }
    // Past the deadline the question is closed: its deadline block closed it.
    debug_assert!(ctx.height <= question.deadline_height);
    let Some(seat) = question.committee.iter_mut().find(|m| m.oracle == me) else {
        return reject(
            ErrorCode::NotACommitteeMember,
            format!("{} is not on question {id}'s committee", me.did()),
        );
    };
    if seat.answer.is_some() {
        return reject(
            ErrorCode::AlreadyAnswered,
            format!("question {id} is answered"),
        );
    }
    if let Answer::Approve { amount } = answer {
        if *amount == 0 || *amount > question.rule.cap() {
            return reject(
                ErrorCode::BadAnswer,
                format!("an approval is 1..={} base units", question.rule.cap()),
            );
        }
    }
    seat.answer = Some(answer.clone());
    let mut record = oracle(state, &me)?.unwrap_or_default();
    record.answered += 1;
    write(state, oracle_key(&me), &record);
    events.emit(OracleEvent::Answered {
        question: id,
        oracle: me,
        subject: question.subject,
        answer: answer.clone(),
    });
    let params = params(state)?;
    let committee_stake: u128 = question.committee.iter().map(|m| m.stake).sum();
    let agreeing: u128 = question
        .committee
        .iter()
        .filter(|m| m.answer.as_ref() == Some(answer))
        .map(|m| m.stake)
        .sum();
    if params.is_quorum(agreeing, committee_stake) {
        question.status = QuestionStatus::Resolved {
            answer: answer.clone(),
            height: ctx.height,
        };
        close(state, ctx.height, &question, events)?;
        let agreed = question
            .committee
            .iter()
            .filter(|m| m.answer.as_ref() == Some(answer))
            .map(|m| m.oracle)
            .collect();
        events.emit(OracleEvent::Resolved {
            question: id,
            asker: question.asker,
            subject: question.subject,
            answer: answer.clone(),
            agreed,
        });
    } else {
        write(state, question_key(id), &question);
    }
    Ok(())
}

/// Closes `question` (its status already set): pays, refunds and slashes
/// members, clears its assignments, and lists it as closed in this block.
fn close(
    state: &mut Overlay<'_>,
    height: u64,
    question: &Question,
    events: &mut Events,
) -> ExecResult<()> {
    let params = params(state)?;
    let resolved = match &question.status {
        QuestionStatus::Resolved { answer, .. } => Some(answer),
        QuestionStatus::Unresolved { .. } => None,
        QuestionStatus::Open => unreachable!("only a decided question closes"),
    };
    let mut refund: u128 = 0;
    for member in &question.committee {
        let mut record = oracle(state, &member.oracle)?.unwrap_or_default();
        match (&member.answer, resolved) {
            (None, _) => {
                record.missed += 1;
                refund += question.fee_per_member;
            }
            (Some(given), Some(answer)) if given != answer => {
                record.disputed += 1;
                let slashed = slash(state, &params, &member.oracle, &mut record, events)?;
                events.emit(OracleEvent::Slashed {
                    question: question.id,
                    oracle: member.oracle,
                    amount: slashed,
                });
                refund += question.fee_per_member;
            }
            (Some(_), agreed) => {
                if agreed.is_some() {
                    record.agreed += 1;
                }
                record.fees_earned += question.fee_per_member;
                if question.fee_per_member > 0 {
                    token::transfer(
                        state,
                        &custody(),
                        &member.oracle,
                        question.fee_per_member,
                        events,
                    )?;
                }
            }
        }
        write(state, oracle_key(&member.oracle), &record);
        state.delete(assigned_key(&member.oracle, question.id));
    }
    if refund > 0 {
        token::transfer(state, &custody(), &question.asker, refund, events)?;
    }
    write(state, question_key(question.id), question);
    push_id(state, closed_key(height), question.id)?;
    Ok(())
}

/// Takes `slash_bps` of a member's stake (bond first, then unbonding
/// stake), rounded up, into the community treasury; returns the amount.
fn slash(
    state: &mut Overlay<'_>,
    params: &OracleParams,
    oracle: &AccountId,
    record: &mut OracleRecord,
    events: &mut Events,
) -> ExecResult<u128> {
    let stake = record.bond + record.unbonding;
    let amount = (stake * u128::from(params.slash_bps))
        .div_ceil(BPS)
        .min(stake);
    let from_bond = amount.min(record.bond);
    record.bond -= from_bond;
    record.unbonding -= amount - from_bond;
    record.slashed += amount;
    token::transfer(state, &custody(), &treasury::account(), amount, events)?;
    set_eligible(state, oracle, record.bond, params.min_bond)?;
    Ok(amount)
}

/// Keeps the draw pool in step with `oracle`'s bond.
fn set_eligible(
    state: &mut Overlay<'_>,
    oracle: &AccountId,
    bond: u128,
    min_bond: u128,
) -> ExecResult<()> {
    let mut pool = eligible(state)?;
    let position = pool.binary_search_by(|(account, _)| account.cmp(oracle));
    let qualifies = bond >= min_bond && !barred(state, oracle)?;
    match (position, qualifies) {
        (Ok(at), true) => pool[at].1 = bond,
        (Ok(at), false) => {
            pool.remove(at);
        }
        (Err(at), true) => {
            if pool.len() >= MAX_ORACLES {
                return reject(
                    ErrorCode::TooManyOracles,
                    format!("at most {MAX_ORACLES} oracles are bonded at once"),
                );
            }
            pool.insert(at, (*oracle, bond));
        }
        (Err(_), false) => return Ok(()),
    }
    write(state, eligible_key(), &pool);
    Ok(())
}
