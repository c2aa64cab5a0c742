//! The community treasury: one module account, whose balance is the
//! treasury. Tokens flow in from vetoed proposal deposits, slashed oracle
//! stake and a share of insurance premiums; only an executed governance
//! proposal moves them out. It keeps no state of its own: the token module
//! holds its balance, so the supply invariant covers it.

use salus_state::{StateError, StateRead};
use salus_types::token::module_account;
use salus_types::AccountId;

/// The treasury's account (no key: only the state machine moves it).
pub fn account() -> AccountId {
    module_account("treasury")
}

/// What the treasury holds, in base units.
pub fn balance(state: &dyn StateRead) -> Result<u128, StateError> {
    crate::token::balance(state, &account())
}
