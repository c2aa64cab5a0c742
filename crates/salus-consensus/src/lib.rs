//! Consensus for Salus: commonware simplex (BFT, ed25519 votes) with marshal
//! (block dissemination, backfill, ordered delivery of finalized blocks), wired
//! to the salus-app [`Chain`](salus_app::Chain).
//!
//! - [`block::ConsensusBlock`] adapts a Salus block to commonware's codec and
//!   block traits; its digest is the Salus header digest.
//! - [`app::SalusApp`] is the commonware `Application`: it builds blocks from the
//!   node's mempool and fully verifies other validators' blocks (inline, before
//!   voting), including their claimed state root.
//! - [`executor`] applies finalized blocks in order, durably (journaled, with
//!   the tables written a few blocks at a time), and only then acknowledges
//!   them to marshal, so a crash replays from the last commit.
//! - [`engine::start`] wires buffer, marshal, simplex and p2p channels; it is
//!   generic over the runtime so that deterministic simulations use the same code.
//! - [`orchestrator`] runs one simplex instance per epoch over that epoch's
//!   set ([`epochs`]); [`peers`] says whom the p2p network should connect to
//!   as the sets change.
//!
//! The crate knows nothing of module rules, HTTP or the mempool's internals: the
//! node plugs in through [`Hooks`].

pub mod app;
pub mod block;
pub mod certificates;
pub mod engine;
pub mod epochs;
pub mod executor;
pub mod network;
pub mod orchestrator;
pub mod peers;

use salus_types::{Block, Hash, Receipt, Tx, TxError};

pub use salus_finality::{Digest, Scheme, NAMESPACE};
pub type ConsensusContext = commonware_consensus::simplex::types::Context<
    Digest,
    commonware_cryptography::ed25519::PublicKey,
>;

/// How the node's mempool and indexes hear from consensus.
pub trait Hooks: Send + Sync + 'static {
    /// Transactions to offer to the next block, in order (signatures already checked).
    fn candidates(&self, max: usize) -> Vec<Tx>;
    /// A block was proposed with these transactions; until it is final or dead,
    /// they should not be offered again.
    fn proposed(&self, block: &Block);
    /// Another validator's proposal passed verification. Its transactions
    /// are in flight too: offered again, the next leader (building on this
    /// block) would find them all spent and propose an empty block.
    fn verified(&self, block: &Block);
    /// Candidates the chain found invalid in the proposal's state.
    fn rejected(&self, rejected: &[(Hash, TxError)]);
    /// A block was finalized and its state committed (readable, though not
    /// yet flushed to disk).
    fn finalized(&self, block: &Block, receipts: &[Receipt]);
    /// `blocks` finalized blocks were written to disk in one flush, which
    /// took `took`.
    fn flushed(&self, blocks: usize, took: std::time::Duration);
    /// Executing a block (building it, or checking a peer's) took `took`.
    fn executed(&self, execution: Execution, took: std::time::Duration);
}

/// Why this validator executed a block.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Execution {
    /// It built the block as leader.
    Proposed,
    /// It checked a block another validator proposed.
    Verified,
}

pub(crate) use salus_finality::{to_digest, to_hash};
