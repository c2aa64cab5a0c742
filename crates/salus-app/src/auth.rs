//! Authorization: the transaction envelope's rules over accounts (layout and
//! [`Account`] in `salus_types::auth`). Not a registry module: every
//! transaction passes here before any module runs.

use salus_state::{Overlay, StateError, StateRead};
pub use salus_types::auth::{account_key, Account, PREFIX};
use salus_types::{AccountId, PublicKey, Tx, TxError};

use crate::context::{read, write};

pub fn account(state: &dyn StateRead, id: &AccountId) -> Result<Account, StateError> {
    Ok(read(state, &account_key(id))?.unwrap_or_default())
}

/// Checks that `tx` may run now, and consumes its nonce. A failure here makes
/// the transaction invalid (never included), not merely failed.
pub fn authorize(state: &mut Overlay<'_>, tx: &Tx) -> Result<Result<(), TxError>, StateError> {
    let id = tx.body.signer;
    let mut acct = account(state, &id)?;
    if !acct.may_sign(&id, &tx.body.public_key) {
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

/// The identity module's key rotation: `new_key` signs for `id` from now on.
pub(crate) fn set_key(
    state: &mut Overlay<'_>,
    id: &AccountId,
    new_key: PublicKey,
) -> Result<(), StateError> {
    state.confine(PREFIX, |state| {
        let mut acct = account(state, id)?;
        acct.key = Some(new_key);
        write(state, account_key(id), &acct);
        Ok(())
    })
}

/// The identity module's deactivation: `id` can never sign again.
pub(crate) fn disable(state: &mut Overlay<'_>, id: &AccountId) -> Result<(), StateError> {
    state.confine(PREFIX, |state| {
        let mut acct = account(state, id)?;
        acct.disabled = true;
        write(state, account_key(id), &acct);
        Ok(())
    })
}
