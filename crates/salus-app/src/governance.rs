//! The governance module: proposals to change the network (parameters,
//! treasury grants, roles and authorities, the oracle draw), voted on
//! with staked power at the proposal's start, executed after a timelock.
//!
//! State (layout in `salus_types::governance`): `governance/params`,
//! `governance/proposal/<id>` (with its running tally),
//! `governance/ballot/<proposal><voter>`, and the queues
//! `governance/ending/<height>` and `governance/executing/<height>` that the
//! end of the block works through. Deposits sit in the module account (its
//! balance is the deposits of proposals still voting); vetoed ones go to the
//! community treasury, which only an executed proposal spends.
//!
//! The tally is kept as votes arrive (a vote replacing an earlier one takes
//! the earlier weight back), so closing a proposal reads one value: its cost
//! is O(votes cast), never O(holders).

use salus_state::{Overlay, StateError, StateRead};
use salus_types::epochs::Validator;
use salus_types::governance::{
    ballot_key, ending_key, executing_key, next_proposal_key, params_key, proposal_key,
    reclaimed_key, Ballot, Change, GovernanceAction, GovernanceEvent, GovernanceGenesis,
    GovernanceParams, Outcome, ParamChange, Proposal, ProposalStatus, Tally, MAX_TITLE, PREFIX,
};
use salus_types::layout::key;
use salus_types::token::module_account;
use salus_types::{AccountId, ErrorCode};

use crate::context::{
    push_id, read, refuse, reject, take, write, ActionError, BlockContext, Events, ExecError,
    ExecResult, Module, TxContext, TxOrigin,
};
use crate::genesis::GenesisError;
use crate::{credentials, epochs, identity, insurance, oracle, staking, token, treasury};

/// The account that holds deposits and the treasury.
pub fn custody() -> AccountId {
    module_account(PREFIX)
}

pub fn params(state: &dyn StateRead) -> Result<GovernanceParams, StateError> {
    crate::params::load(state, &params_key())
}

pub fn proposal(state: &dyn StateRead, id: u64) -> Result<Option<Proposal>, StateError> {
    read(state, &proposal_key(id))
}

pub fn ballot(
    state: &dyn StateRead,
    proposal: u64,
    voter: &AccountId,
) -> Result<Option<Ballot>, StateError> {
    read(state, &ballot_key(proposal, voter))
}

/// Proposals after `after`, oldest first, at most `limit`.
pub fn proposals<S: salus_state::StateScan>(
    state: &S,
    after: Option<u64>,
    limit: usize,
) -> Result<Vec<Proposal>, StateError> {
    let prefix = key(PREFIX, "proposal", &[]);
    let after = after.map(proposal_key);
    state
        .scan_prefix(&prefix, after.as_deref(), limit)?
        .into_iter()
        .map(|(_, value)| {
            borsh::from_slice(&value)
                .map_err(|e| StateError::Corrupt(format!("undecodable proposal: {e}")))
        })
        .collect()
}

/// The governance module.
pub struct Governance;

impl Module for Governance {
    const PREFIX: &'static str = PREFIX;
    type Action = GovernanceAction;
    type Cache = ();
    type Genesis = GovernanceGenesis;

    fn init_genesis(
        state: &mut Overlay<'_>,
        genesis: &GovernanceGenesis,
    ) -> Result<(), GenesisError> {
        crate::params::init(state, params_key(), &genesis.params, "governance")
    }

    fn check(_tx: &TxOrigin<'_>, action: &GovernanceAction) -> Result<(), ActionError> {
        match action {
            GovernanceAction::Propose { title, change } => {
                if title.trim().is_empty()
                    || title.len() > MAX_TITLE
                    || title.chars().any(char::is_control)
                {
                    return refuse(
                        ErrorCode::BadProposal,
                        format!("a title is 1..={MAX_TITLE} bytes of printable text"),
                    );
                }
                match change.problem() {
                    Some(problem) => refuse(malformed(change), problem),
                    None => Ok(()),
                }
            }
            GovernanceAction::Vote { .. } => Ok(()),
        }
    }

    fn execute(
        ctx: &TxContext<'_>,
        _cache: &(),
        state: &mut Overlay<'_>,
        action: &GovernanceAction,
        events: &mut Events,
    ) -> ExecResult<()> {
        let me = ctx.tx.signer;
        match action {
            GovernanceAction::Propose { title, change } => {
                dry_run(ctx, state, change)?;
                let params = params(state)?;
                // Weights are the power before this block: bonding in the
                // proposal's own block buys nothing.
                let start_height = ctx.height - 1;
                let bonded = staking::total_at(state, start_height)?;
                if bonded == 0 {
                    return reject(
                        ErrorCode::BadProposal,
                        "nothing is bonded: no one could vote",
                    );
                }
                token::transfer(state, &me, &custody(), params.min_deposit, events)?;
                let id: u64 = read(state, &next_proposal_key())?.unwrap_or(1);
                let end_height = ctx.height + params.voting_blocks;
                let proposal = Proposal {
                    id,
                    proposer: me,
                    title: title.clone(),
                    change: change.clone(),
                    deposit: params.min_deposit,
                    start_height,
                    end_height,
                    bonded,
                    cap: (bonded * u128::from(params.cap_bps) / 10_000).max(1),
                    tally: Tally::default(),
                    status: ProposalStatus::Voting,
                };
                write(state, next_proposal_key(), &(id + 1));
                write(state, proposal_key(id), &proposal);
                push_id(state, ending_key(end_height), id)?;
                events.emit(GovernanceEvent::Proposed {
                    proposal: id,
                    proposer: me,
                    end_height,
                });
            }
            GovernanceAction::Vote {
                proposal: id,
                option,
            } => {
                let Some(mut proposal) = proposal(state, *id)? else {
                    return reject(
                        ErrorCode::ProposalNotFound,
                        format!("proposal {id} is unknown"),
                    );
                };
                if proposal.status != ProposalStatus::Voting || ctx.height > proposal.end_height {
                    return reject(
                        ErrorCode::VotingClosed,
                        format!(
                            "proposal {id} took votes until height {}",
                            proposal.end_height
                        ),
                    );
                }
                let weight = weight_of(state, &proposal, &me)?;
                if weight == 0 {
                    return reject(
                        ErrorCode::NoVotingPower,
                        format!(
                            "{} had no voting power at height {}",
                            me.did(),
                            proposal.start_height
                        ),
                    );
                }
                match ballot(state, *id, &me)? {
                    Some(previous) => *proposal.tally.of(previous.option) -= previous.weight,
                    // A delegator's first vote takes its tokens back from its delegate.
                    None => take_back(state, &mut proposal, &me)?,
                }
                *proposal.tally.of(*option) += weight;
                write(
                    state,
                    ballot_key(*id, &me),
                    &Ballot {
                        option: *option,
                        weight,
                    },
                );
                write(state, proposal_key(*id), &proposal);
                events.emit(GovernanceEvent::Voted {
                    proposal: *id,
                    voter: me,
                    option: *option,
                    weight,
                });
            }
        }
        Ok(())
    }

    fn end_block(
        ctx: &BlockContext<'_>,
        state: &mut Overlay<'_>,
        events: &mut Events,
    ) -> ExecResult<()> {
        let ending: Vec<u64> = take(state, &ending_key(ctx.height))?.unwrap_or_default();
        for id in ending {
            close(ctx, state, id, events)?;
        }
        let executing: Vec<u64> = take(state, &executing_key(ctx.height))?.unwrap_or_default();
        for id in executing {
            run(ctx, state, id, events)?;
        }
        Ok(())
    }
}

/// `voter`'s weight on `proposal`: its power at the start, less what its
/// delegators took back by voting themselves, plus its own tokens if it had
/// delegated them (voting itself takes them back), capped.
fn weight_of(
    state: &dyn StateRead,
    proposal: &Proposal,
    voter: &AccountId,
) -> Result<u128, StateError> {
    let power = staking::power_at(state, voter, proposal.start_height)?;
    let taken: u128 = read(state, &reclaimed_key(proposal.id, voter))?.unwrap_or(0);
    let (own, delegate) = staking::own_at(state, voter, proposal.start_height)?;
    let brought = if delegate.is_some() { own } else { 0 };
    let weight = power.checked_sub(taken).ok_or_else(|| {
        StateError::Corrupt("delegators took back more than their delegate held".into())
    })? + brought;
    Ok(weight.min(proposal.cap))
}

/// On a delegator's first vote: moves its own tokens out of its delegate's
/// weight, and re-weighs the delegate's ballot if it has voted.
fn take_back(
    state: &mut Overlay<'_>,
    proposal: &mut Proposal,
    delegator: &AccountId,
) -> Result<(), StateError> {
    let (own, delegate) = staking::own_at(state, delegator, proposal.start_height)?;
    let Some(delegate) = delegate.filter(|_| own > 0) else {
        return Ok(());
    };
    let key = reclaimed_key(proposal.id, &delegate);
    let taken: u128 = read(state, &key)?.unwrap_or(0);
    write(state, key, &(taken + own));
    if let Some(mut ballot) = ballot(state, proposal.id, &delegate)? {
        *proposal.tally.of(ballot.option) -= ballot.weight;
        ballot.weight = weight_of(state, proposal, &delegate)?;
        *proposal.tally.of(ballot.option) += ballot.weight;
        write(state, ballot_key(proposal.id, &delegate), &ballot);
    }
    Ok(())
}

fn existing(state: &dyn StateRead, id: u64) -> Result<Proposal, StateError> {
    proposal(state, id)?
        .ok_or_else(|| StateError::Corrupt(format!("queued proposal {id} is missing")))
}

/// Ends a proposal's voting: decides it, refunds the deposit unless it was
/// vetoed, and queues a passed one for its timelock.
fn close(
    ctx: &BlockContext<'_>,
    state: &mut Overlay<'_>,
    id: u64,
    events: &mut Events,
) -> ExecResult<()> {
    let mut proposal = existing(state, id)?;
    let params = params(state)?;
    let outcome = proposal.tally.outcome(&params, proposal.bonded);
    let refund_to = if outcome == Outcome::Vetoed {
        treasury::account()
    } else {
        proposal.proposer
    };
    token::transfer(state, &custody(), &refund_to, proposal.deposit, events)?;
    proposal.status = if outcome == Outcome::Passed {
        let execute_height = ctx.height + params.timelock_blocks;
        push_id(state, executing_key(execute_height), id)?;
        ProposalStatus::Queued { execute_height }
    } else {
        ProposalStatus::Closed {
            outcome,
            height: ctx.height,
        }
    };
    write(state, proposal_key(id), &proposal);
    events.emit(GovernanceEvent::Closed {
        proposal: id,
        proposer: proposal.proposer,
        outcome,
    });
    Ok(())
}

/// Executes a passed proposal whose timelock ended. Its change applies whole
/// or not at all: one that no longer fits the state (the treasury holds too
/// little, the subject lost the role) fails, and the events say why.
fn run(
    ctx: &BlockContext<'_>,
    state: &mut Overlay<'_>,
    id: u64,
    events: &mut Events,
) -> ExecResult<()> {
    let mut proposal = existing(state, id)?;
    let mut effects = Events::default();
    let applied = {
        let mut scratch = Overlay::new(&*state);
        apply(ctx, &mut scratch, &proposal.change, &mut effects).map(|()| scratch.into_writes())
    };
    match applied {
        Ok(writes) => {
            state.absorb(writes);
            events.0.append(&mut effects.0);
            proposal.status = ProposalStatus::Executed { height: ctx.height };
            events.emit(GovernanceEvent::Executed {
                proposal: id,
                proposer: proposal.proposer,
            });
        }
        Err(ExecError::Rejected(refused)) => {
            proposal.status = ProposalStatus::Failed {
                height: ctx.height,
                reason: refused.message.clone(),
            };
            events.emit(GovernanceEvent::ExecutionFailed {
                proposal: id,
                proposer: proposal.proposer,
                reason: refused.message,
            });
        }
        Err(fault @ ExecError::State(_)) => return Err(fault),
    }
    write(state, proposal_key(id), &proposal);
    Ok(())
}

/// Checked last, after everything else about a grant: a dry run forgives
/// only this.
fn treasury_holds(state: &dyn StateRead, amount: u128) -> ExecResult<()> {
    let held = treasury::balance(state)?;
    if held < amount {
        return reject(
            ErrorCode::TreasuryShort,
            format!("the treasury holds {held}, less than {amount}"),
        );
    }
    Ok(())
}

fn malformed(change: &Change) -> ErrorCode {
    match change {
        Change::Params(_) => ErrorCode::ParamsOutOfBounds,
        _ => ErrorCode::BadProposal,
    }
}

/// Refuses a proposal whose change could not apply to the state as it is
/// now (an unknown pool, a subject without a DID, a role not held), so that
/// holders never vote on what cannot run. A grant larger than the treasury
/// may wait for income, so a short treasury is left for execution to judge.
fn dry_run(ctx: &TxContext<'_>, state: &Overlay<'_>, change: &Change) -> ExecResult<()> {
    let block = BlockContext {
        chain_id: ctx.tx.chain_id,
        height: ctx.height,
        timestamp_ms: ctx.timestamp_ms,
    };
    let mut scratch = Overlay::new(state);
    match apply(&block, &mut scratch, change, &mut Events::default()) {
        Err(ExecError::Rejected(refused)) if refused.code == ErrorCode::TreasuryShort => Ok(()),
        other => other,
    }
}

/// Makes `change` happen, through the owning modules' public functions,
/// with governance's account as the actor.
fn apply(
    ctx: &BlockContext<'_>,
    state: &mut Overlay<'_>,
    change: &Change,
    events: &mut Events,
) -> ExecResult<()> {
    if let Some(problem) = change.problem() {
        return reject(malformed(change), problem);
    }
    let network = custody();
    match change {
        Change::Params(params) => match params {
            ParamChange::Oracle(params) => oracle::set_params(state, params),
            ParamChange::Insurance(params) => insurance::set_params(state, params),
            ParamChange::Staking(params) => staking::set_params(state, params),
            ParamChange::Governance(params) => {
                crate::params::store(state, PREFIX, params_key(), params)
            }
        },
        Change::Spend { to, amount } => {
            treasury_holds(state, *amount)?;
            token::transfer(state, &treasury::account(), to, *amount, events)?;
        }
        Change::FundPool { pool, amount } => {
            insurance::grantable(state, *pool)?;
            treasury_holds(state, *amount)?;
            insurance::grant(state, &treasury::account(), *pool, *amount, events)?;
        }
        Change::AttestRole { subject, role } => {
            identity::grant_role(state, subject, *role, network, ctx.timestamp_ms, events)?;
        }
        Change::RevokeRole { subject, role } => {
            if identity::role(state, subject, *role)?.is_none() {
                return reject(
                    ErrorCode::RoleNotHeld,
                    format!("{} does not hold role {}", subject.did(), role.name()),
                );
            }
            identity::withdraw_role(state, subject, *role, network, events)?;
        }
        Change::SetAuthority { account, roles } => {
            identity::set_authority(state, account, roles, events)?;
        }
        Change::BarOracle { oracle } => oracle::set_barred(state, oracle, true)?,
        Change::AdmitOracle { oracle } => oracle::set_barred(state, oracle, false)?,
        Change::SetRoleRule { rule } => credentials::set_rule(state, network, rule, events)?,
        Change::AddValidator { key, address } => {
            let validator = Validator {
                key: *key,
                address: address.clone(),
            };
            epochs::add_validator(state, ctx.height, validator, events)?;
        }
        Change::RemoveValidator { key } => {
            epochs::remove_validator(state, ctx.height, key, events)?
        }
        Change::RekeyValidator { key, new_key } => {
            epochs::rekey_validator(state, ctx.height, key, *new_key, events)?;
        }
    }
    Ok(())
}
