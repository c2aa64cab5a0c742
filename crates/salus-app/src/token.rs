//! The native token: u128 balances in base units, transfers, genesis
//! allocations. Invariant: the sum of all balances equals the total supply,
//! which only genesis sets.

use salus_state::{Overlay, StateError, StateRead};
use salus_types::token::{TokenAction, TokenEvent, TokenGenesis};
use salus_types::{AccountId, ErrorCode};

use crate::context::{read, write, ActionError, Events, ExecResult, Module, TxContext, TxOrigin};
use crate::genesis::GenesisError;
use salus_types::token::{balance_key, supply_key, PREFIX};

pub fn balance(state: &dyn StateRead, account: &AccountId) -> Result<u128, StateError> {
    Ok(read(state, &balance_key(account))?.unwrap_or(0))
}

pub fn total_supply(state: &dyn StateRead) -> Result<u128, StateError> {
    Ok(read(state, &supply_key())?.unwrap_or(0))
}

fn set_balance(state: &mut Overlay<'_>, account: &AccountId, amount: u128) {
    // Zero balances are deleted so that state holds no dead entries.
    if amount == 0 {
        state.delete(balance_key(account));
    } else {
        write(state, balance_key(account), &amount);
    }
}

/// Moves `amount` from `from` to `to`, with the event. This is how every
/// module moves tokens (into its custody account and out of it); it confines
/// itself to the token prefix, so callers in other modules may use it.
pub fn transfer(
    state: &mut Overlay<'_>,
    from: &AccountId,
    to: &AccountId,
    amount: u128,
    events: &mut Events,
) -> ExecResult<()> {
    state.confine(PREFIX, |state| {
        let from_balance = balance(state, from)?;
        let remaining = from_balance.checked_sub(amount).ok_or_else(|| {
            ActionError::new(
                ErrorCode::InsufficientBalance,
                format!("balance {from_balance} is below {amount}"),
            )
        })?;
        if from == to {
            return Ok(());
        }
        let to_balance = balance(state, to)?
            .checked_add(amount)
            .ok_or_else(|| ActionError::new(ErrorCode::Overflow, "recipient balance overflows"))?;
        set_balance(state, from, remaining);
        set_balance(state, to, to_balance);
        events.emit(TokenEvent::Transferred {
            from: *from,
            to: *to,
            amount,
        });
        Ok(())
    })
}

/// The token module.
pub struct Token;

impl Module for Token {
    const PREFIX: &'static str = PREFIX;
    type Action = TokenAction;
    type Cache = ();
    type Genesis = TokenGenesis;

    fn init_genesis(state: &mut Overlay<'_>, genesis: &TokenGenesis) -> Result<(), GenesisError> {
        let mut supply: u128 = 0;
        let mut seen = std::collections::BTreeSet::new();
        for allocation in &genesis.allocations {
            if !seen.insert(allocation.account) {
                return Err(GenesisError::Invalid(format!(
                    "token allocation to {} is listed twice",
                    allocation.account
                )));
            }
            supply = supply
                .checked_add(allocation.amount)
                .ok_or_else(|| GenesisError::Invalid("token allocations overflow u128".into()))?;
            set_balance(state, &allocation.account, allocation.amount);
        }
        write(state, supply_key(), &supply);
        Ok(())
    }

    fn check(tx: &TxOrigin<'_>, action: &TokenAction) -> Result<(), ActionError> {
        match action {
            TokenAction::Transfer { to, amount } => {
                if *amount == 0 {
                    return Err(ActionError::new(
                        ErrorCode::ZeroAmount,
                        "transfer amount is zero",
                    ));
                }
                if tx.signer == *to {
                    return Err(ActionError::new(
                        ErrorCode::SelfTransfer,
                        "cannot transfer to self",
                    ));
                }
                Ok(())
            }
        }
    }

    fn execute(
        ctx: &TxContext<'_>,
        _cache: &(),
        state: &mut Overlay<'_>,
        action: &TokenAction,
        events: &mut Events,
    ) -> ExecResult<()> {
        match action {
            TokenAction::Transfer { to, amount } => {
                transfer(state, &ctx.tx.signer, to, *amount, events)
            }
        }
    }
}
