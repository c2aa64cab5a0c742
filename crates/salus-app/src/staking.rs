//! The staking module: bonded tokens become voting power, delegated or not,
//! recorded as checkpoints so that power at any recent height is one lookup.
//!
//! State (layout in `salus_types::staking`): `staking/params`,
//! `staking/stake/<account>`, `staking/power/<account>` and `staking/total`
//! (checkpoints, oldest first, pruned to the history window).
//!
//! Invariants (proptested in `tests/staking.rs`): the custody account holds
//! every account's bonded and unbonding tokens; at every height the sum of
//! all voting power equals the total bonded; the token supply never changes.

use salus_state::{Overlay, StateError, StateRead};
use salus_types::staking::{
    own_key, params_key, power_key, stake_key, total_key, value_at, Checkpoint, OwnCheckpoint,
    Stake, StakingAction, StakingEvent, StakingGenesis, StakingParams, Unbonding,
    MAX_UNBONDING_ENTRIES, PREFIX,
};
use salus_types::token::module_account;
use salus_types::{AccountId, ErrorCode};

use crate::context::{
    read, refuse, reject, write, ActionError, Events, ExecResult, Module, TxContext, TxOrigin,
};
use crate::genesis::GenesisError;
use crate::token;

/// The account that holds bonded and unbonding tokens.
pub fn custody() -> AccountId {
    module_account(PREFIX)
}

pub fn params(state: &dyn StateRead) -> Result<StakingParams, StateError> {
    crate::params::load(state, &params_key())
}

/// Replaces the parameters (governance, after checking their bounds).
pub fn set_params(state: &mut Overlay<'_>, params: &StakingParams) {
    crate::params::store(state, PREFIX, params_key(), params);
}

pub fn stake(state: &dyn StateRead, account: &AccountId) -> Result<Stake, StateError> {
    Ok(read(state, &stake_key(account))?.unwrap_or_default())
}

/// `account`'s voting power at `height` (within the history window).
pub fn power_at(
    state: &dyn StateRead,
    account: &AccountId,
    height: u64,
) -> Result<u128, StateError> {
    let checkpoints: Vec<Checkpoint> = read(state, &power_key(account))?.unwrap_or_default();
    Ok(value_at(&checkpoints, height))
}

/// `account`'s own bonded tokens and delegate at `height` (within the
/// history window).
pub fn own_at(
    state: &dyn StateRead,
    account: &AccountId,
    height: u64,
) -> Result<(u128, Option<AccountId>), StateError> {
    let checkpoints: Vec<OwnCheckpoint> = read(state, &own_key(account))?.unwrap_or_default();
    let after = checkpoints.partition_point(|c| c.height <= height);
    Ok(after.checked_sub(1).map_or((0, None), |i| {
        (checkpoints[i].bonded, checkpoints[i].delegate)
    }))
}

/// Records `stake`'s bonded tokens and delegate from `height` on, pruned to
/// the history window like the power checkpoints.
fn record_own(
    state: &mut Overlay<'_>,
    account: &AccountId,
    stake: &Stake,
    height: u64,
    history: u64,
) -> Result<(), StateError> {
    let key = own_key(account);
    let mut checkpoints: Vec<OwnCheckpoint> = read(state, &key)?.unwrap_or_default();
    if checkpoints
        .last()
        .is_some_and(|c| c.bonded == stake.bonded && c.delegate == stake.delegate)
    {
        return Ok(());
    }
    let entry = OwnCheckpoint {
        height,
        bonded: stake.bonded,
        delegate: stake.delegate,
    };
    match checkpoints.last_mut() {
        Some(last) if last.height == height => *last = entry,
        _ => checkpoints.push(entry),
    }
    prune(
        &mut checkpoints,
        |c| c.height,
        height.saturating_sub(history),
    );
    if checkpoints.len() == 1 && checkpoints[0].bonded == 0 && checkpoints[0].delegate.is_none() {
        state.delete(key);
    } else {
        write(state, key, &checkpoints);
    }
    Ok(())
}

/// The total bonded at `height` (within the history window).
pub fn total_at(state: &dyn StateRead, height: u64) -> Result<u128, StateError> {
    let checkpoints: Vec<Checkpoint> = read(state, &total_key())?.unwrap_or_default();
    Ok(value_at(&checkpoints, height))
}

/// Drops the checkpoints a window starting at `start` no longer needs,
/// keeping the newest one at or before `start`: it gives the value at every
/// height inside the window.
fn prune<T>(checkpoints: &mut Vec<T>, height: impl Fn(&T) -> u64, start: u64) {
    let keep_from = checkpoints
        .partition_point(|c| height(c) <= start)
        .saturating_sub(1);
    checkpoints.drain(..keep_from);
}

/// Moves bonded tokens into or out of `voter`'s power and the total.
fn shift_bonded(
    state: &mut Overlay<'_>,
    voter: &AccountId,
    height: u64,
    history: u64,
    change: Change,
) -> ExecResult<()> {
    shift(state, power_key(voter), height, history, change)?;
    shift(state, total_key(), height, history, change)
}

/// Who votes with `stake`'s bonded tokens.
fn voter(account: &AccountId, stake: &Stake) -> AccountId {
    stake.delegate.unwrap_or(*account)
}

/// Which way power moves.
#[derive(Clone, Copy)]
enum Change {
    Up(u128),
    Down(u128),
}

/// Applies `change` to the checkpoints under `key` from `height` on,
/// pruning those the history window no longer needs.
fn shift(
    state: &mut Overlay<'_>,
    key: Vec<u8>,
    height: u64,
    history: u64,
    change: Change,
) -> ExecResult<()> {
    let mut checkpoints: Vec<Checkpoint> = read(state, &key)?.unwrap_or_default();
    let current = checkpoints.last().map_or(0, |c| c.power);
    let power = match change {
        Change::Up(delta) => current.checked_add(delta),
        Change::Down(delta) => current.checked_sub(delta),
    }
    .ok_or_else(|| StateError::Corrupt("voting power leaves its range".into()))?;
    match checkpoints.last_mut() {
        Some(last) if last.height == height => last.power = power,
        _ => checkpoints.push(Checkpoint { height, power }),
    }
    prune(
        &mut checkpoints,
        |c| c.height,
        height.saturating_sub(history),
    );
    if checkpoints.len() == 1 && checkpoints[0].power == 0 {
        state.delete(key);
    } else {
        write(state, key, &checkpoints);
    }
    Ok(())
}

/// The staking module.
pub struct Staking;

impl Module for Staking {
    const PREFIX: &'static str = PREFIX;
    type Action = StakingAction;
    type Cache = ();
    type Genesis = StakingGenesis;

    fn init_genesis(state: &mut Overlay<'_>, genesis: &StakingGenesis) -> Result<(), GenesisError> {
        crate::params::init(state, params_key(), &genesis.params, "staking")
    }

    fn check(tx: &TxOrigin<'_>, action: &StakingAction) -> Result<(), ActionError> {
        match action {
            StakingAction::Bond { amount } | StakingAction::Unbond { amount } if *amount == 0 => {
                refuse(ErrorCode::ZeroAmount, "the amount is zero")
            }
            StakingAction::Delegate { to: Some(to) } if *to == tx.signer => refuse(
                ErrorCode::SelfTransfer,
                "to vote yourself, delegate to no one",
            ),
            _ => Ok(()),
        }
    }

    fn execute(
        ctx: &TxContext<'_>,
        _cache: &(),
        state: &mut Overlay<'_>,
        action: &StakingAction,
        events: &mut Events,
    ) -> ExecResult<()> {
        let me = ctx.tx.signer;
        let height = ctx.height;
        let params = params(state)?;
        let history = params.history_blocks;
        let mut stake = stake(state, &me)?;
        match action {
            StakingAction::Bond { amount } => {
                token::transfer(state, &me, &custody(), *amount, events)?;
                stake.bonded = stake
                    .bonded
                    .checked_add(*amount)
                    .ok_or_else(|| ActionError::new(ErrorCode::Overflow, "the bond overflows"))?;
                shift_bonded(
                    state,
                    &voter(&me, &stake),
                    height,
                    history,
                    Change::Up(*amount),
                )?;
                events.emit(StakingEvent::Bonded {
                    account: me,
                    amount: *amount,
                });
            }
            StakingAction::Unbond { amount } => {
                if stake.bonded < *amount {
                    return reject(
                        ErrorCode::NotEnoughBonded,
                        format!("{} is bonded", stake.bonded),
                    );
                }
                if stake.unbonding.len() >= MAX_UNBONDING_ENTRIES {
                    return reject(
                        ErrorCode::TooManyUnbondings,
                        format!(
                            "at most {MAX_UNBONDING_ENTRIES} unbondings at once; withdraw first"
                        ),
                    );
                }
                stake.bonded -= amount;
                let release_height = height + params.unbonding_blocks;
                stake.unbonding.push(Unbonding {
                    amount: *amount,
                    release_height,
                });
                shift_bonded(
                    state,
                    &voter(&me, &stake),
                    height,
                    history,
                    Change::Down(*amount),
                )?;
                events.emit(StakingEvent::Unbonding {
                    account: me,
                    amount: *amount,
                    release_height,
                });
            }
            StakingAction::Withdraw => {
                let (ready, waiting): (Vec<_>, Vec<_>) = std::mem::take(&mut stake.unbonding)
                    .into_iter()
                    .partition(|u| u.release_height <= height);
                stake.unbonding = waiting;
                let amount: u128 = ready.iter().map(|u| u.amount).sum();
                if amount == 0 {
                    return reject(ErrorCode::NothingToWithdraw, "no unbonding has ended");
                }
                token::transfer(state, &custody(), &me, amount, events)?;
                events.emit(StakingEvent::Withdrawn {
                    account: me,
                    amount,
                });
            }
            StakingAction::Delegate { to } => {
                if stake.delegate == *to {
                    return reject(ErrorCode::AlreadyDelegated, "nothing changes");
                }
                let from = stake.delegate;
                let bonded = stake.bonded;
                let old = power_key(&voter(&me, &stake));
                shift(state, old, height, history, Change::Down(bonded))?;
                stake.delegate = *to;
                let new = power_key(&voter(&me, &stake));
                shift(state, new, height, history, Change::Up(bonded))?;
                events.emit(StakingEvent::Delegated {
                    account: me,
                    from,
                    to: *to,
                });
            }
        }
        record_own(state, &me, &stake, height, history)?;
        if stake == Stake::default() {
            state.delete(stake_key(&me));
        } else {
            write(state, stake_key(&me), &stake);
        }
        Ok(())
    }
}
