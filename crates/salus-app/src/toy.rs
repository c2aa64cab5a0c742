//! The toy module's rules (types and layout in `salus_types::toy`): the
//! template that takes every step of "Adding a module", compiled only with
//! the `toy-module` feature for its test.

use std::sync::atomic::{AtomicU64, Ordering};

use salus_state::{Overlay, StateError, StateRead};
use salus_types::toy::{counter_key, ToyAction, ToyEvent, PREFIX};
use salus_types::{AccountId, ErrorCode};

use crate::context::{
    read, refuse, write, ActionError, Events, ExecResult, Module, TxContext, TxOrigin,
};

/// How many actions the pre-check has seen: the module's own cache.
#[derive(Default)]
pub struct Prechecked(pub AtomicU64);

pub fn counter(state: &dyn StateRead, account: &AccountId) -> Result<u64, StateError> {
    Ok(read(state, &counter_key(account))?.unwrap_or(0))
}

pub struct Toy;

impl Module for Toy {
    const PREFIX: &'static str = PREFIX;
    type Action = ToyAction;
    type Genesis = ();
    type Cache = Prechecked;

    fn check(_tx: &TxOrigin<'_>, action: &ToyAction) -> Result<(), ActionError> {
        match action {
            ToyAction::Count { by: 0 } => refuse(ErrorCode::ToyZero, "count by at least 1"),
            _ => Ok(()),
        }
    }

    fn precheck(
        cache: &Prechecked,
        _state: &dyn StateRead,
        _tx: &TxOrigin<'_>,
        _action: &ToyAction,
    ) -> Result<(), StateError> {
        cache.0.fetch_add(1, Ordering::Relaxed);
        Ok(())
    }

    fn weight(action: &ToyAction) -> u64 {
        u64::from(matches!(action, ToyAction::Count { .. }))
    }

    fn execute(
        ctx: &TxContext<'_>,
        _cache: &Prechecked,
        state: &mut Overlay<'_>,
        action: &ToyAction,
        events: &mut Events,
    ) -> ExecResult<()> {
        let me = ctx.tx.signer;
        match action {
            ToyAction::Count { by } => {
                let total = counter(state, &me)?.saturating_add(u64::from(*by));
                write(state, counter_key(&me), &total);
                events.emit(ToyEvent::Counted { account: me, total });
            }
            ToyAction::StrayWrite => {
                write(state, salus_types::token::balance_key(&me), &u128::MAX);
            }
        }
        Ok(())
    }
}
