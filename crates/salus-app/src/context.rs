//! What an action sees while it runs, and the typed state helpers modules use.

use borsh::{BorshDeserialize, BorshSerialize};
use salus_state::{Overlay, StateError, StateRead};
use salus_types::{AccountId, ErrorCode, Event, PublicKey};

use crate::genesis::GenesisError;

/// The environment of one transaction.
#[derive(Clone)]
pub struct TxContext<'a> {
    pub chain_id: &'a str,
    pub height: u64,
    /// The block's timestamp: the only notion of time in the state machine.
    pub timestamp_ms: u64,
    pub signer: AccountId,
    /// The transaction's nonce (unique per signer): what one-time proofs bind to.
    pub tx_nonce: u64,
    /// The key that signed the transaction (already authorized for `signer`).
    pub signing_key: PublicKey,
    /// Presentation verdicts already known (see `BlockEnv::verdicts`).
    pub verdicts: Option<&'a crate::credentials::ProofVerdicts>,
}

/// A module of the state machine.
///
/// A module owns its state keys (all under `PREFIX/`), its action type, its
/// events (emitted through [`Events`]), its genesis section and its queries
/// (plain functions over a [`StateRead`] in the module's file). Modules never
/// touch each other's keys; where one needs another's state it calls that
/// module's public functions (identity rotation calls `auth::set_key`).
pub trait Module {
    /// Every state key of this module starts with this prefix and a `/`.
    const PREFIX: &'static str;
    type Action;
    type Genesis;

    /// Writes the module's initial state. Modules without a genesis section
    /// start empty.
    fn init_genesis(state: &mut Overlay<'_>, genesis: &Self::Genesis) -> Result<(), GenesisError> {
        let _ = (state, genesis);
        Ok(())
    }

    /// Runs one action. A rule violation is `ExecError::Rejected` (the whole
    /// transaction rolls back); a storage fault is `ExecError::State`.
    fn execute(
        ctx: &TxContext<'_>,
        state: &mut Overlay<'_>,
        action: &Self::Action,
        events: &mut Events,
    ) -> ExecResult<()>;
}

/// An action failed by the rules: the transaction is rolled back and its receipt
/// carries `code`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct ActionError {
    pub code: ErrorCode,
    pub message: String,
}

impl ActionError {
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        ActionError {
            code,
            message: message.into(),
        }
    }
}

/// Either the rules said no (deterministic; goes into the receipt), or the node
/// could not read its own state (not deterministic; aborts the whole block).
#[derive(Debug, thiserror::Error)]
pub enum ExecError {
    #[error(transparent)]
    Rejected(#[from] ActionError),
    #[error(transparent)]
    State(#[from] StateError),
}

pub type ExecResult<T> = Result<T, ExecError>;

/// Fails the action with `code`.
pub fn reject<T>(code: ErrorCode, message: impl Into<String>) -> ExecResult<T> {
    Err(ActionError::new(code, message).into())
}

/// Reads and decodes a typed value. A value that does not decode means the
/// store is corrupt, which is a node fault, not a rule failure.
pub fn read<T: BorshDeserialize>(
    state: &dyn StateRead,
    key: &[u8],
) -> Result<Option<T>, StateError> {
    match state.get(key)? {
        Some(bytes) => borsh::from_slice(&bytes)
            .map(Some)
            .map_err(|e| StateError::Corrupt(format!("undecodable state value: {e}"))),
        None => Ok(None),
    }
}

pub fn write<T: BorshSerialize>(state: &mut Overlay<'_>, key: Vec<u8>, value: &T) {
    state.put(
        key,
        borsh::to_vec(value).expect("borsh encoding into a Vec cannot fail"),
    );
}

/// Builds `prefix/kind/` followed by raw id bytes. Every module's keys start with
/// its own prefix, so modules cannot collide.
pub fn key(prefix: &str, kind: &str, id: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(prefix.len() + kind.len() + 2 + id.len());
    out.extend_from_slice(prefix.as_bytes());
    out.push(b'/');
    out.extend_from_slice(kind.as_bytes());
    out.push(b'/');
    out.extend_from_slice(id);
    out
}

/// Collects the events of one transaction.
#[derive(Debug, Default)]
pub struct Events(pub Vec<Event>);

impl Events {
    pub fn emit(&mut self, event: impl Into<Event>) {
        self.0.push(event.into());
    }
}
