//! Wire types of the native token module.

use borsh::{BorshDeserialize, BorshSerialize};
use serde::{Deserialize, Serialize};

use crate::layout::key;
use crate::AccountId;

#[derive(Debug, Clone, PartialEq, Eq, BorshSerialize, BorshDeserialize, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum TokenAction {
    Transfer {
        to: AccountId,
        #[serde(with = "crate::amount")]
        amount: u128,
    },
}

#[derive(Debug, Clone, PartialEq, Eq, BorshSerialize, BorshDeserialize, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum TokenEvent {
    Transferred {
        from: AccountId,
        to: AccountId,
        #[serde(with = "crate::amount")]
        amount: u128,
    },
}

impl TokenEvent {
    pub fn accounts(&self) -> Vec<AccountId> {
        match self {
            TokenEvent::Transferred { from, to, .. } => vec![*from, *to],
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Allocation {
    pub account: AccountId,
    #[serde(with = "crate::amount")]
    pub amount: u128,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TokenGenesis {
    /// Display name of the base unit, e.g. `usal`.
    pub denom: String,
    pub allocations: Vec<Allocation>,
}

impl Default for TokenGenesis {
    fn default() -> Self {
        TokenGenesis {
            denom: "usal".into(),
            allocations: Vec::new(),
        }
    }
}

// Error codes: 300..399 (the registry's range for this module).

crate::error_codes! {
    InsufficientBalance = 301 => "insufficient_balance",
    ZeroAmount = 302 => "zero_amount",
    SelfTransfer = 303 => "self_transfer",
    Overflow = 304 => "overflow",
}

// State layout: every key of this module starts with `PREFIX/`.

pub const PREFIX: &str = "token";

pub fn balance_key(account: &AccountId) -> Vec<u8> {
    key(PREFIX, "bal", &account.0)
}

/// The account a module holds tokens in (bonds, pool capital). No key
/// controls it: its id is a digest in a domain that account keys never use,
/// so only its module's rules move its tokens.
pub fn module_account(module: &str) -> AccountId {
    let digest = salus_crypto::sha256("salus/module-account/v1", module.as_bytes());
    let mut id = [0u8; 20];
    id.copy_from_slice(&digest.0[..20]);
    AccountId(id)
}

pub fn supply_key() -> Vec<u8> {
    key(PREFIX, "supply", &[])
}
