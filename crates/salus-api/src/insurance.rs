//! Insurance: pools and liquidity positions, policies and claims, read from
//! finalized state. Claims name record ids and versions only, never content.

use salus_types::insurance::{Claim, Policy, Pool, Position};
use salus_types::Did;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

/// `/v1/insurance/pools/{id}`, and `/v1/insurance/pools/{id}/positions/{account}`.
pub const POOLS: &str = "/v1/insurance/pools";
/// `/v1/insurance/policies/{id}`, or `?holder=` to list.
pub const POLICIES: &str = "/v1/insurance/policies";
/// `/v1/insurance/claims/{id}`, or `?holder=` to list.
pub const CLAIMS: &str = "/v1/insurance/claims";

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct PoolView {
    pub height: Option<u64>,
    #[schema(value_type = Object)]
    pub pool: Pool,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct PositionView {
    pub pool: u64,
    #[schema(value_type = String)]
    pub provider: Did,
    pub height: Option<u64>,
    #[schema(value_type = Object)]
    pub position: Position,
    /// What the shares would redeem for now, in base units (rounded down).
    pub value: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, IntoParams)]
pub struct HolderParams {
    /// The insured: did:salus or account id hex.
    pub holder: String,
    /// Continue after this id (paging).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub after: Option<u64>,
    /// At most this many (default 100, at most 500).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub limit: Option<usize>,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct PolicyView {
    pub height: Option<u64>,
    #[schema(value_type = Object)]
    pub policy: Policy,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct PolicyList {
    #[schema(value_type = String)]
    pub holder: Did,
    pub height: Option<u64>,
    #[schema(value_type = Vec<Object>)]
    pub policies: Vec<Policy>,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct ClaimView {
    pub height: Option<u64>,
    #[schema(value_type = Object)]
    pub claim: Claim,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct ClaimList {
    #[schema(value_type = String)]
    pub holder: Did,
    pub height: Option<u64>,
    #[schema(value_type = Vec<Object>)]
    pub claims: Vec<Claim>,
}
