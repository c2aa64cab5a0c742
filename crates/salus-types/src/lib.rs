//! The Salus wire types.
//!
//! Everything here has exactly one binary encoding (borsh, checked to round-trip)
//! and a JSON form for the API. The crate knows nothing about storage, rules or
//! the network: clients build transactions from these types, and the state
//! machine gives them meaning.
//!
//! Each module's action and event types live in a submodule named after the
//! module (`identity`, `token`, `records`, `consent`, `audit`, `credentials`); the rules that
//! give them meaning live in `salus-app`. `vault` holds the signed requests
//! that vaults serve.

pub mod amount;
pub mod audit;
mod block;
pub mod codec;
pub mod consent;
pub mod credentials;
mod error_code;
mod genesis;
pub mod identity;
mod ids;
mod named;
mod receipt;
pub mod records;
pub mod token;
mod tx;
pub mod vault;

pub use block::{Block, Header, MAX_BLOCK_BYTES, MAX_BLOCK_CLAIMS, MAX_BLOCK_TXS};
pub use error_code::ErrorCode;
pub use genesis::{Genesis, GenesisError, GenesisValidator};
pub use ids::{AccountId, Did, DidError};
pub use receipt::{Event, Receipt};
pub use salus_crypto::{Hash, PublicKey, Signature};
pub use tx::{Action, Tx, TxBody, TxError, MAX_ACTIONS_PER_TX, MAX_CHAIN_ID_LEN, MAX_TX_BYTES};
