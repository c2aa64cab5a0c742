//! The Salus state machine.
//!
//! Everything here is deterministic: no clock (time is the block's timestamp),
//! no randomness, no floating point, no hash-map iteration, checked integer math.
//! The same blocks give the same state root on every node.
//!
//! Layout, Penumbra-style: each module (`auth`, `identity`, `token`,
//! `records`, `consent`, `audit`, `credentials`) owns its state keys under its own prefix, executes its own actions, emits its own
//! events and answers its own queries. [`execute`] runs transactions
//! all-or-nothing; [`Chain`] is the executor that consensus drives (propose,
//! verify, finalize), caching speculative results so that a finalized block is
//! committed without being executed twice.

pub mod audit;
pub mod auth;
mod chain;
pub mod consent;
mod context;
pub mod credentials;
pub mod execute;
pub mod genesis;
pub mod identity;
pub mod records;
pub mod token;

pub use chain::{Chain, ChainError, Proposal};
pub use context::{ActionError, Events, ExecError, ExecResult, Module, TxContext};
pub use execute::{BlockEnv, BlockError};
