//! The toy module's wire types: the smallest module that takes every step
//! of "Adding a module" in ARCHITECTURE.md. It exists to prove that those
//! steps are all a module needs, and is compiled only with the `toy-module`
//! feature (its tests run in CI); no chain ever runs it.
//!
//! A toy counter per account: `Count` adds to the signer's counter.

use borsh::{BorshDeserialize, BorshSerialize};
use serde::{Deserialize, Serialize};

use crate::layout::key;
use crate::AccountId;

#[derive(Debug, Clone, PartialEq, Eq, BorshSerialize, BorshDeserialize, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ToyAction {
    /// Adds `by` (at least 1) to the signer's counter.
    Count { by: u32 },
    /// Writes outside the module's prefix: the framework must refuse it.
    StrayWrite,
}

#[derive(Debug, Clone, PartialEq, Eq, BorshSerialize, BorshDeserialize, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ToyEvent {
    Counted { account: AccountId, total: u64 },
}

impl ToyEvent {
    pub fn accounts(&self) -> Vec<AccountId> {
        match self {
            ToyEvent::Counted { account, .. } => vec![*account],
        }
    }
}

// Error codes: 9900..9999 (the registry's range for this module).

crate::error_codes! {
    ToyZero = 9901 => "toy_zero",
}

// State layout: every key of this module starts with `PREFIX/`.

pub const PREFIX: &str = "toy";

pub fn counter_key(account: &AccountId) -> Vec<u8> {
    key(PREFIX, "counter", &account.0)
}
