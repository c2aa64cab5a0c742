//! Accounts as the transaction envelope sees them: the next nonce and the key
//! that may sign. Not a registry module (it has no actions); the state
//! machine's authorization and the identity module's rotation write it.
//!
//! An account that has never rotated has no stored key: its key is the one
//! whose hash is the account id. Rotation stores the new key; deactivation
//! disables the account for good.

use borsh::{BorshDeserialize, BorshSerialize};
use serde::{Deserialize, Serialize};

use crate::layout::key;
use crate::{AccountId, PublicKey};

pub const PREFIX: &str = "auth";

#[derive(
    Debug, Clone, Default, PartialEq, Eq, BorshSerialize, BorshDeserialize, Serialize, Deserialize,
)]
pub struct Account {
    /// The nonce the next transaction must carry.
    pub nonce: u64,
    /// Set after a key rotation; `None` means the account's original key.
    pub key: Option<PublicKey>,
    pub disabled: bool,
}

impl Account {
    /// Whether `key` may sign for account `id` now.
    pub fn may_sign(&self, id: &AccountId, key: &PublicKey) -> bool {
        !self.disabled
            && match self.key {
                Some(stored) => stored == *key,
                None => AccountId::from_public_key(key) == *id,
            }
    }
}

pub fn account_key(account: &AccountId) -> Vec<u8> {
    key(PREFIX, "acct", &account.0)
}
