//! Wire types of the native token module.

use borsh::{BorshDeserialize, BorshSerialize};
use serde::{Deserialize, Serialize};

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
