//! Transactions, blocks, state with proofs, accounts, events and node status.

use salus_types::identity::Role;
use salus_types::{AccountId, Did, EventRecord, Hash, Header, PublicKey, Receipt};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

pub const SUBMIT_TX: &str = "/v1/txs";
pub const SUBMIT_BATCH: &str = "/v1/txs/batch";
/// `/v1/txs/{hash}`.
pub const TX_STATUS: &str = "/v1/txs";
/// `/v1/blocks/{height}`.
pub const BLOCK: &str = "/v1/blocks";
/// `/v1/blocks/{height}/finality`.
pub const FINALITY_SUFFIX: &str = "finality";
pub const STATE: &str = "/v1/state";
/// `/v1/accounts/{account}`.
pub const ACCOUNT: &str = "/v1/accounts";
pub const EVENTS: &str = "/v1/events";
pub const STATUS: &str = "/v1/status";

/// The most transactions in one batch submission.
pub const MAX_BATCH: usize = 10_000;

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct SubmitRequest {
    /// Hex of the transaction's canonical encoding.
    pub tx: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct SubmitResponse {
    #[schema(value_type = String)]
    pub hash: Hash,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct BatchRequest {
    /// Hex of each transaction's canonical encoding.
    pub txs: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct BatchRejection {
    /// The transaction's position in the request.
    pub index: usize,
    pub code: String,
    pub message: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct BatchResponse {
    /// The hashes of the admitted transactions, in request order.
    #[schema(value_type = Vec<String>)]
    pub accepted: Vec<Hash>,
    /// The refused ones, by position.
    pub rejected: Vec<BatchRejection>,
}

/// Where a transaction stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum TxState {
    /// In a mempool, or in a block that is not final yet.
    Pending,
    Final,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct TxStatus {
    #[schema(value_type = String)]
    pub hash: Hash,
    pub status: TxState,
    pub height: Option<u64>,
    #[schema(value_type = Option<Object>)]
    pub receipt: Option<Receipt>,
}

/// A finalized block: its header, digest and transaction hashes.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct BlockSummary {
    pub height: u64,
    /// The header's digest, which the client checks against the header.
    #[schema(value_type = String)]
    pub digest: Hash,
    #[schema(value_type = Object)]
    pub header: Header,
    pub tx_count: usize,
    #[schema(value_type = Vec<String>)]
    pub txs: Vec<Hash>,
}

/// The most headers a finality proof walks from the block asked for up to
/// the nearest block with a certificate of its own.
pub const MAX_FINALITY_WALK: usize = 256;

/// Why block `height` is final: a finalization certificate for a block at
/// or above it, and the headers that link the two by parent digests.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct FinalityProof {
    /// The height the proof was asked for.
    pub height: u64,
    /// The simplex finalization certificate (commonware codec, hex) of the
    /// last header in `headers`, signed by a quorum of its epoch's validators.
    pub certificate: String,
    /// Headers from `height` up to the certified block, in order (at most
    /// [`MAX_FINALITY_WALK`]); each one's `parent` is the digest of the one
    /// before.
    #[schema(value_type = Vec<Object>)]
    pub headers: Vec<Header>,
}

#[derive(Debug, Clone, Serialize, Deserialize, IntoParams)]
pub struct StateParams {
    /// The state key, hex.
    pub key: String,
    /// A finalized height; the tip when absent. The state is kept at the
    /// newest heights and at each flush's newest height (410 otherwise).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub height: Option<u64>,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct StateResponse {
    /// The key, hex.
    pub key: String,
    pub height: u64,
    /// Hex of the value, or null when the key is absent (the proof then proves absence).
    pub value: Option<String>,
    /// Hex of the Jellyfish Merkle proof against `header.state_root`.
    pub proof: String,
    #[schema(value_type = Object)]
    pub header: Header,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct AccountResponse {
    #[schema(value_type = String)]
    pub account: AccountId,
    #[schema(value_type = String)]
    pub did: Did,
    /// The finalized height this was read at.
    pub height: Option<u64>,
    /// The nonce the next transaction must carry.
    pub nonce: u64,
    /// In base units, as a decimal string.
    #[serde(with = "salus_types::amount")]
    #[schema(value_type = String)]
    pub balance: u128,
    /// The key the account rotated to, if it ever did.
    #[schema(value_type = Option<String>)]
    pub rotated_key: Option<PublicKey>,
    pub disabled: bool,
    pub did_registered: bool,
    #[schema(value_type = Vec<String>)]
    pub roles: Vec<Role>,
}

#[derive(Debug, Clone, Serialize, Deserialize, IntoParams)]
pub struct EventParams {
    /// did:salus or account id hex.
    pub account: String,
    /// Only events strictly before this cursor: a height, or the `next` of
    /// the previous page (`height.tx.event`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub before: Option<String>,
    /// At most this many (default 100, at most 500).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub limit: Option<usize>,
}

/// A page of an account's events, newest first.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct EventsPage {
    #[schema(value_type = String)]
    pub account: AccountId,
    #[schema(value_type = Vec<Object>)]
    pub events: Vec<EventRecord>,
    /// The cursor of the next page, when this one is full.
    pub next: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct StatusResponse {
    pub chain_id: String,
    pub height: u64,
    pub tip_digest: String,
    pub state_root: String,
    pub timestamp_ms: u64,
    pub mempool: usize,
    /// The validators (hex ed25519 keys) of the epoch the next block
    /// belongs to.
    pub validators: Vec<String>,
    /// The highest finalized height this node has heard of from its peers.
    pub network_tip: u64,
    /// True while this node is more than a few blocks behind `network_tip`
    /// (a late joiner or a wiped node fetching finalized blocks).
    pub syncing: bool,
}
