//! Accounts: the next nonce and the key that may sign for each account.
//!
//! An account that has never rotated has no stored key: its key is the one whose
//! hash is the account id. Rotation (identity module) stores the new key;
//! deactivation disables the account for good.

use borsh::{BorshDeserialize, BorshSerialize};
use salus_state::{Overlay, StateError, StateRead};
use salus_types::{AccountId, PublicKey, Tx, TxError};
use serde::Serialize;

use crate::context::{key, read, write};

pub const PREFIX: &str = "auth";

#[derive(Debug, Clone, Default, PartialEq, Eq, BorshSerialize, BorshDeserialize, Serialize)]
pub struct Account {
    /// The nonce the next transaction must carry.
    pub nonce: u64,
    /// Set after a key rotation; `None` means the account's original key.
    pub key: Option<PublicKey>,
    pub disabled: bool,
}

pub fn account_key(account: &AccountId) -> Vec<u8> {
    key(PREFIX, "acct", &account.0)
}

pub fn account(state: &dyn StateRead, id: &AccountId) -> Result<Account, StateError> {
    Ok(read(state, &account_key(id))?.unwrap_or_default())
}

/// The key currently allowed to sign for `id`, if the account can sign at all.
pub fn current_key_matches(account: &Account, id: &AccountId, key: &PublicKey) -> bool {
    match account.key {
        Some(stored) => stored == *key,
        None => AccountId::from_public_key(key) == *id,
    }
}

/// Checks that `tx` may run now, and consumes its nonce. A failure here makes
/// the transaction invalid (never included), not merely failed.
pub fn authorize(state: &mut Overlay<'_>, tx: &Tx) -> Result<Result<(), TxError>, StateError> {
    let id = tx.body.signer;
    let mut acct = account(state, &id)?;
    if acct.disabled || !current_key_matches(&acct, &id, &tx.body.public_key) {
        return Ok(Err(TxError::WrongSignerKey));
    }
    if tx.body.nonce != acct.nonce {
        return Ok(Err(TxError::BadNonce {
            expected: acct.nonce,
            actual: tx.body.nonce,
        }));
    }
    acct.nonce = acct
        .nonce
        .checked_add(1)
        .expect("a nonce cannot reach u64::MAX: one per transaction");
    write(state, account_key(&id), &acct);
    Ok(Ok(()))
}

pub(crate) fn set_key(
    state: &mut Overlay<'_>,
    id: &AccountId,
    new_key: PublicKey,
) -> Result<(), StateError> {
    let mut acct = account(state, id)?;
    acct.key = Some(new_key);
    write(state, account_key(id), &acct);
    Ok(())
}

pub(crate) fn disable(state: &mut Overlay<'_>, id: &AccountId) -> Result<(), StateError> {
    let mut acct = account(state, id)?;
    acct.disabled = true;
    write(state, account_key(id), &acct);
    Ok(())
}
