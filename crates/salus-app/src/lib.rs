//! The Salus state machine.
//!
//! Everything here is deterministic: no clock (time is the block's timestamp),
//! no randomness, no floating point, no hash-map iteration, checked integer math.
//! The same blocks give the same state root on every node.
//!
//! Layout, Penumbra-style: each module (`identity`, `token`, `records`,
//! `consent`, `audit`, `credentials`, `oracle`, `insurance`, `staking`, `governance`, one line each in the registry,
//! `salus_types::with_modules!`) owns its state keys under its own prefix,
//! checks, executes and weighs its own actions, emits its own events and
//! answers its own queries; [`dispatch`] routes every phase to it. `auth`
//! (nonces and current keys) is the transaction envelope's. [`execute`] runs transactions
//! all-or-nothing; [`Chain`] is the executor that consensus drives (propose,
//! verify, finalize), caching speculative results so that a finalized block is
//! committed without being executed twice.

pub mod audit;
pub mod auth;
mod bounded_set;
mod chain;
pub mod consent;
mod context;
pub mod credentials;
mod dispatch;
pub mod epochs;
pub mod execute;
pub mod genesis;
pub mod governance;
pub mod identity;
pub mod insurance;
pub mod oracle;
mod params;
pub mod records;
pub mod staking;
pub mod token;
#[cfg(feature = "toy-module")]
pub mod toy;
pub mod treasury;

pub use chain::{Chain, ChainError, Proposal};
pub use context::{
    ActionError, BlockContext, Events, ExecError, ExecResult, Module, TxContext, TxOrigin,
};
pub use dispatch::{
    action_weight, check_actions, precheck, tx_weight, ModuleCaches, StatelessError,
};
pub use execute::{BlockEnv, BlockError};
