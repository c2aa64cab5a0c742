//! Epochs: each epoch's validator set, proven against the block that fixed
//! it, so that a client can follow the sets from genesis on.

use salus_types::epochs::Validator;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// `/v1/epochs/{epoch}`.
pub const EPOCH: &str = "/v1/epochs";

/// An epoch's validator set and its proof.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct EpochSet {
    pub epoch: u64,
    /// Blocks per epoch (fixed at genesis).
    pub epoch_blocks: u64,
    /// The block that fixed the set: the last block of the epoch before
    /// (genesis for epoch 0).
    pub height: u64,
    /// Sorted by key.
    #[schema(value_type = Vec<Object>)]
    pub validators: Vec<Validator>,
    /// Merkle proof (hex) of the set under `epochs/set/{epoch}` against
    /// block `height`'s state root.
    pub proof: String,
}
