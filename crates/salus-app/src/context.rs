//! The module framework: the [`Module`] trait and its phases, what an action
//! sees while it runs, and the typed state helpers modules use.

use borsh::{BorshDeserialize, BorshSerialize};
use salus_state::{Overlay, StateError, StateRead};
use salus_types::{AccountId, ErrorCode, Event, PublicKey};

use crate::genesis::GenesisError;

/// The transaction an action came in: all that the stateless and pre-check
/// phases know of it.
#[derive(Clone, Copy)]
pub struct TxOrigin<'a> {
    pub chain_id: &'a str,
    pub signer: AccountId,
    /// The transaction's nonce (unique per signer): what one-time proofs bind to.
    pub tx_nonce: u64,
    /// The key that signed the transaction (authorized for `signer` before
    /// any module runs).
    pub signing_key: PublicKey,
}

/// The environment of one transaction's execution.
#[derive(Clone, Copy)]
pub struct TxContext<'a> {
    pub tx: TxOrigin<'a>,
    pub height: u64,
    /// The digest of the block this one builds on. No signer knows it when
    /// it signs (it does not know which block will take its transaction),
    /// so it seeds draws that a signer must not be able to aim.
    pub parent: salus_types::Hash,
    /// The block's timestamp: the only notion of time in the state machine.
    pub timestamp_ms: u64,
}

/// What the block's own work (after its transactions) sees.
#[derive(Clone, Copy)]
pub struct BlockContext<'a> {
    pub chain_id: &'a str,
    pub height: u64,
    pub timestamp_ms: u64,
}

/// A module of the state machine, with the phases of Penumbra's components.
///
/// A module owns its state keys (all under `PREFIX/`; the layout is in its
/// `salus_types` file), its action, event and genesis types (listed in the
/// module registry, `salus_types::with_modules!`), and its queries (plain
/// functions over a [`StateRead`] in its file). Modules never write each
/// other's keys; where one changes another's state it calls that module's
/// public function, which confines itself to its own prefix (identity
/// rotation calls `auth::set_key`). Execution enforces this in debug builds.
///
/// An action passes these phases, each optional but `execute`:
/// 1. [`Module::check`]: shape and bounds, without state. Admission refuses
///    a transaction that fails it; execution runs it again first, so a
///    proposer that includes one anyway gets a failed receipt.
/// 2. [`Module::precheck`]: expensive work against finalized state at
///    admission, off the consensus path, whose verdict goes into the
///    module's own [`Module::Cache`] for execution to reuse.
/// 3. [`Module::weight`]: the action's share of the block weight budget
///    (`salus_types::MAX_BLOCK_WEIGHT`).
/// 4. [`Module::execute`]: the rules, on the block's state.
///
/// After a block's transactions, every module's [`Module::end_block`] runs,
/// in registry order: the block's own work (deadlines, expiries,
/// settlements).
pub trait Module {
    /// Every state key of this module starts with this prefix and a `/`.
    const PREFIX: &'static str;
    type Action;
    type Genesis;
    /// What the pre-check remembers for execution. A hit must give exactly
    /// the verdict a fresh check would, so caches never make nodes disagree.
    type Cache: Default + Send + Sync;

    /// Writes the module's initial state. Modules without a genesis section
    /// start empty.
    fn init_genesis(state: &mut Overlay<'_>, genesis: &Self::Genesis) -> Result<(), GenesisError> {
        let _ = (state, genesis);
        Ok(())
    }

    /// Shape and bounds, without state.
    fn check(tx: &TxOrigin<'_>, action: &Self::Action) -> Result<(), ActionError> {
        let _ = (tx, action);
        Ok(())
    }

    /// Admission-time work against finalized state. Failures are not
    /// remembered: execution decides them again.
    fn precheck(
        cache: &Self::Cache,
        state: &dyn StateRead,
        tx: &TxOrigin<'_>,
        action: &Self::Action,
    ) -> Result<(), StateError> {
        let _ = (cache, state, tx, action);
        Ok(())
    }

    /// The action's weight against the block budget; most weigh nothing.
    fn weight(action: &Self::Action) -> u64 {
        let _ = action;
        0
    }

    /// The block's own work after its transactions, in registry order, so a
    /// module sees what modules before it did in this block. Nothing here
    /// may be refused by the rules: a rejection means an invariant broke,
    /// and it stops the block (every node stops at the same place).
    fn end_block(
        ctx: &BlockContext<'_>,
        state: &mut Overlay<'_>,
        events: &mut Events,
    ) -> ExecResult<()> {
        let _ = (ctx, state, events);
        Ok(())
    }

    /// Runs one action. A rule violation is `ExecError::Rejected` (the whole
    /// transaction rolls back); a storage fault is `ExecError::State`.
    fn execute(
        ctx: &TxContext<'_>,
        cache: &Self::Cache,
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

/// Fails a stateless check with `code`.
pub fn refuse<T>(code: ErrorCode, message: impl Into<String>) -> Result<T, ActionError> {
    Err(ActionError::new(code, message))
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

/// Reads and removes a typed value. An absent key is left alone, so that
/// the end of an idle block writes nothing.
pub fn take<T: BorshDeserialize>(
    state: &mut Overlay<'_>,
    key: &[u8],
) -> Result<Option<T>, StateError> {
    let value = read(state, key)?;
    if value.is_some() {
        state.delete(key.to_vec());
    }
    Ok(value)
}

/// Appends `id` to the list of ids under `key` (a queue of work that falls
/// due together, such as the questions whose deadline is one height).
pub fn push_id(state: &mut Overlay<'_>, key: Vec<u8>, id: u64) -> Result<(), StateError> {
    let mut ids: Vec<u64> = read(state, &key)?.unwrap_or_default();
    ids.push(id);
    write(state, key, &ids);
    Ok(())
}

/// Collects the events of one transaction.
#[derive(Debug, Default)]
pub struct Events(pub Vec<Event>);

impl Events {
    pub fn emit(&mut self, event: impl Into<Event>) {
        self.0.push(event.into());
    }
}
