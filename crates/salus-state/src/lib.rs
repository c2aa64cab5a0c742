//! Authenticated state and the chain archive, in one redb file, with a journal
//! of committed blocks beside it.
//!
//! - `store` ([`Store`]) owns the files; `tables` holds the layout of the
//!   flushed state, `archive` the blocks and indexes, `buffer` the committed
//!   blocks not yet flushed, and `snapshot` the reads over all of them. State
//!   lives in a Jellyfish Merkle tree whose version is the block height, so
//!   every height keeps its root and every key can be proven at any height. A
//!   flat table mirrors the latest committed values for fast reads.
//! - [`Pending`] is a block's effect computed but not committed: its writes, its
//!   new tree nodes and its root. Pendings stack (a child on top of its parent)
//!   so that consensus can build on blocks that are not yet final.
//! - [`Store::commit_buffered`] commits a finalized block: it appends the block
//!   to a journal, durably, and keeps its effects in an in-memory buffer that
//!   every [`Snapshot`] lays over the tables. [`Store::flush`] writes all
//!   buffered blocks (state, receipts, indexes) in a single redb transaction,
//!   so that consecutive blocks share their page writes. After a crash the
//!   chain re-executes [`Store::journaled_blocks`]. [`Store::commit`] commits
//!   and flushes at once.
//! - [`Overlay`] buffers writes over any [`StateRead`]; the state machine uses one
//!   per transaction to make execution all-or-nothing.
//!
//! The crate knows nothing of the modules' rules; keys are opaque bytes.

mod archive;
mod buffer;
mod overlay;
mod runs;
mod snapshot;
mod store;
mod tables;

pub use overlay::{Entry, Overlay, StateRead, StateScan, WriteSet};
pub use salus_types::proof::{key_hash, verify_proof, StateProof};
pub use salus_types::{EventCursor, EventRecord};
pub use snapshot::{LayeredView, Snapshot};
pub use store::{Pending, Store};

/// Errors from the store. The messages name keys only by hash, never by value.
#[derive(Debug, thiserror::Error)]
pub enum StateError {
    #[error("storage error: {0}")]
    Storage(String),
    #[error("stored data is corrupt: {0}")]
    Corrupt(String),
    #[error("height {requested} is not committed (latest is {latest:?})")]
    UnknownHeight { requested: u64, latest: Option<u64> },
    /// The state at a committed height between two flushes: its blocks are
    /// archived, but the tree is kept only at each flush's newest height.
    #[error("the state at height {height} is not kept (only the heights where the store flushed, and those since); ask for the latest height instead")]
    NotRetained { height: u64 },
    #[error(
        "pending block at height {actual} cannot be committed on top of height {expected_parent:?}"
    )]
    OutOfOrder {
        actual: u64,
        expected_parent: Option<u64>,
    },
    #[error("merkle tree error: {0}")]
    Tree(String),
}

macro_rules! storage_from {
    ($($t:ty),*) => {$(
        impl From<$t> for StateError {
            fn from(e: $t) -> Self { StateError::Storage(e.to_string()) }
        }
    )*};
}
storage_from!(
    redb::Error,
    redb::DatabaseError,
    redb::TransactionError,
    redb::TableError,
    redb::StorageError,
    redb::CommitError
);
