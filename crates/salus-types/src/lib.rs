//! The Salus wire types.
//!
//! Everything here has exactly one binary encoding (borsh, checked to round-trip)
//! and a JSON form for the API. The crate knows nothing about storage, rules or
//! the network: clients build transactions from these types, and the state
//! machine gives them meaning.
//!
//! Each module's wire types live in a submodule named after the module: its
//! actions, events, genesis section, error codes, the values it stores and
//! its state layout (the keys it stores them under). The registry in
//! [`modules`] lists every module once and derives [`Action`], [`Event`] and
//! [`Genesis`] from that list; the rules that give the types meaning live in
//! `salus-app`. `auth` is the transaction envelope's account, `vault` holds
//! the signed requests that vaults serve, and [`proof`] verifies a state value
//! against a header's root, so a client proves what it reads without the
//! store.

pub mod amount;
pub mod audit;
pub mod auth;
mod block;
pub mod calendar;
pub mod clock;
pub mod codec;
pub mod consent;
pub mod credentials;
pub mod did_document;
pub mod epochs;
mod error_code;
mod genesis;
pub mod governance;
pub mod identity;
mod ids;
pub mod insurance;
pub mod layout;
pub mod modules;
mod named;
pub mod oracle;
pub mod proof;
mod receipt;
pub mod records;
pub mod staking;
pub mod token;
#[cfg(feature = "toy-module")]
pub mod toy;
mod tx;
pub mod vault;

pub use block::{Block, Header, MAX_BLOCK_BYTES, MAX_BLOCK_TXS, MAX_BLOCK_WEIGHT};
pub use error_code::{ErrorCode, ENVELOPE_CODES};
pub use genesis::{GenesisError, GenesisValidator};
pub use ids::{AccountId, Did, DidError};
pub use modules::{modules, Action, Event, Genesis, ModuleInfo};
pub use receipt::{EventCursor, EventRecord, Receipt};
pub use salus_crypto::{Hash, PublicKey, Signature};
pub use tx::{Tx, TxBody, TxError, MAX_ACTIONS_PER_TX, MAX_CHAIN_ID_LEN, MAX_TX_BYTES};
