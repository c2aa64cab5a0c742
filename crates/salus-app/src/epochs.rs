//! The epochs module: the validator set of each epoch.
//!
//! State (layout in `salus_types::epochs`): `epochs/length` (blocks per
//! epoch, from genesis), `epochs/set/<epoch>` (each epoch's set, written by
//! the last block of the epoch before; epoch 0's by genesis) and
//! `epochs/next` (the next epoch's set while a change to it is pending).
//!
//! Governance adds, removes and re-keys validators through
//! [`add_validator`], [`remove_validator`] and [`rekey_validator`]; a
//! validator announces its own address with `SetAddress`. All of them edit
//! `epochs/next`, never a written set.
//!
//! Invariants: every epoch the chain has reached has a set, of 1 to
//! `MAX_VALIDATORS` distinct keys, sorted; a set is written once and never
//! changes afterwards; a change made during epoch `e` shows only in the set
//! of `e + 1`.

use salus_state::{Overlay, StateError, StateRead};
use salus_types::epochs::{
    address_problem, ends_epoch, epoch_of, length_key, next_key, set_key, EpochsAction,
    EpochsEvent, EpochsGenesis, Validator, MAX_VALIDATORS, PREFIX,
};
use salus_types::{ErrorCode, GenesisValidator, PublicKey};

use crate::context::{
    read, refuse, reject, take, write, ActionError, BlockContext, Events, ExecResult, Module,
    TxContext, TxOrigin,
};
use crate::genesis::GenesisError;

/// Blocks per epoch.
pub fn length(state: &dyn StateRead) -> Result<u64, StateError> {
    read(state, &length_key())?
        .ok_or_else(|| StateError::Corrupt("the epoch length is missing".into()))
}

/// The set of `epoch`, if the chain has reached it.
pub fn set(state: &dyn StateRead, epoch: u64) -> Result<Option<Vec<Validator>>, StateError> {
    read(state, &set_key(epoch))
}

/// The next epoch's set, if a change to it is pending.
pub fn pending(state: &dyn StateRead) -> Result<Option<Vec<Validator>>, StateError> {
    read(state, &next_key())
}

/// The set the current epoch's last block will fix for the next.
pub fn next_set(state: &dyn StateRead, height: u64) -> Result<Vec<Validator>, StateError> {
    if let Some(next) = pending(state)? {
        return Ok(next);
    }
    let epoch = epoch_of(height, length(state)?);
    set(state, epoch)?
        .ok_or_else(|| StateError::Corrupt(format!("epoch {epoch} has no validator set")))
}

/// Adds `validator` to the next epoch's set (governance's `AddValidator`).
pub fn add_validator(
    state: &mut Overlay<'_>,
    height: u64,
    validator: Validator,
    events: &mut Events,
) -> ExecResult<()> {
    state.confine(PREFIX, |state| {
        let mut next = next_set(state, height)?;
        let Err(at) = next.binary_search_by(|v| v.key.cmp(&validator.key)) else {
            return reject(
                ErrorCode::AlreadyAValidator,
                format!("{} is already a validator of the next epoch", validator.key),
            );
        };
        if next.len() >= MAX_VALIDATORS {
            return reject(
                ErrorCode::ValidatorSetFull,
                format!("an epoch has at most {MAX_VALIDATORS} validators"),
            );
        }
        let account = validator.account();
        next.insert(at, validator);
        let epoch = write_next(state, height, &next)?;
        events.emit(EpochsEvent::ValidatorAdded {
            validator: account,
            epoch,
        });
        Ok(())
    })
}

/// Takes `key` out of the next epoch's set (governance's `RemoveValidator`).
/// The set never empties: a chain without validators could never finalize
/// the proposal that refills it.
pub fn remove_validator(
    state: &mut Overlay<'_>,
    height: u64,
    key: &PublicKey,
    events: &mut Events,
) -> ExecResult<()> {
    state.confine(PREFIX, |state| {
        let mut next = next_set(state, height)?;
        let at = position(&next, key)?;
        if next.len() == 1 {
            return reject(
                ErrorCode::LastValidator,
                "the last validator cannot be removed",
            );
        }
        let removed = next.remove(at);
        let epoch = write_next(state, height, &next)?;
        events.emit(EpochsEvent::ValidatorRemoved {
            validator: removed.account(),
            epoch,
        });
        Ok(())
    })
}

/// Moves validator `key` to `new_key` in the next epoch's set, keeping its
/// address (governance's `RekeyValidator`).
pub fn rekey_validator(
    state: &mut Overlay<'_>,
    height: u64,
    key: &PublicKey,
    new_key: PublicKey,
    events: &mut Events,
) -> ExecResult<()> {
    state.confine(PREFIX, |state| {
        let mut next = next_set(state, height)?;
        let at = position(&next, key)?;
        if next.iter().any(|v| v.key == new_key) {
            return reject(
                ErrorCode::AlreadyAValidator,
                format!("{new_key} is already a validator of the next epoch"),
            );
        }
        let mut moved = next.remove(at);
        let validator = moved.account();
        moved.key = new_key;
        let new_account = moved.account();
        next.push(moved);
        next.sort();
        let epoch = write_next(state, height, &next)?;
        events.emit(EpochsEvent::ValidatorRekeyed {
            validator,
            new_account,
            epoch,
        });
        Ok(())
    })
}

fn position(set: &[Validator], key: &PublicKey) -> ExecResult<usize> {
    match set.binary_search_by(|v| v.key.cmp(key)) {
        Ok(at) => Ok(at),
        Err(_) => reject(
            ErrorCode::NotAValidator,
            format!("{key} is not a validator of the next epoch"),
        ),
    }
}

/// Stores the pending next set; returns the epoch it takes effect in.
fn write_next(state: &mut Overlay<'_>, height: u64, next: &[Validator]) -> ExecResult<u64> {
    write(state, next_key(), &next.to_vec());
    Ok(epoch_of(height, length(state)?) + 1)
}

/// Epoch 0's set: genesis's validators, sorted.
pub(crate) fn init_set(
    state: &mut Overlay<'_>,
    validators: &[GenesisValidator],
) -> Result<(), GenesisError> {
    let mut set: Vec<Validator> = validators.iter().map(Validator::from).collect();
    set.sort();
    if set.len() > MAX_VALIDATORS {
        return Err(GenesisError::Invalid(format!(
            "at most {MAX_VALIDATORS} validators"
        )));
    }
    write(state, set_key(0), &set);
    Ok(())
}

pub struct Epochs;

impl Module for Epochs {
    const PREFIX: &'static str = PREFIX;
    type Action = EpochsAction;
    type Genesis = EpochsGenesis;
    type Cache = ();

    fn init_genesis(state: &mut Overlay<'_>, genesis: &EpochsGenesis) -> Result<(), GenesisError> {
        if let Some(problem) = genesis.problem() {
            return Err(GenesisError::Invalid(problem));
        }
        write(state, length_key(), &genesis.epoch_blocks);
        Ok(())
    }

    fn check(_tx: &TxOrigin<'_>, action: &EpochsAction) -> Result<(), ActionError> {
        match action {
            EpochsAction::SetAddress { address } => match address_problem(address) {
                Some(problem) => refuse(ErrorCode::BadAddress, problem),
                None => Ok(()),
            },
        }
    }

    fn execute(
        ctx: &TxContext<'_>,
        _cache: &(),
        state: &mut Overlay<'_>,
        action: &EpochsAction,
        events: &mut Events,
    ) -> ExecResult<()> {
        match action {
            EpochsAction::SetAddress { address } => {
                let mut next = next_set(state, ctx.height)?;
                let Some(me) = next.iter_mut().find(|v| v.account() == ctx.tx.signer) else {
                    return reject(
                        ErrorCode::NotAValidator,
                        "only a validator of the next epoch may set its address",
                    );
                };
                me.address = address.clone();
                let epoch = write_next(state, ctx.height, &next)?;
                events.emit(EpochsEvent::AddressSet {
                    validator: ctx.tx.signer,
                    epoch,
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
        let blocks = length(state)?;
        if !ends_epoch(ctx.height, blocks) {
            return Ok(());
        }
        let epoch = epoch_of(ctx.height, blocks) + 1;
        let next = match take::<Vec<Validator>>(state, &next_key())? {
            Some(next) => next,
            None => next_set(state, ctx.height)?,
        };
        assert!(
            !next.is_empty()
                && next.len() <= MAX_VALIDATORS
                && next.windows(2).all(|pair| pair[0].key < pair[1].key),
            "epoch {epoch}'s set breaks its bounds: 1..={MAX_VALIDATORS} distinct keys, sorted"
        );
        assert!(
            set(state, epoch)?.is_none(),
            "epoch {epoch}'s set is written once"
        );
        write(state, set_key(epoch), &next);
        events.emit(EpochsEvent::NextSet {
            epoch,
            validators: u32::try_from(next.len()).expect("bounded by MAX_VALIDATORS"),
        });
        Ok(())
    }
}
