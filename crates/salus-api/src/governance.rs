//! Staking and governance: an account's stake and voting power, the
//! governance parameters and treasury, and proposals with their tallies.

use salus_types::governance::{GovernanceParams, Proposal};
use salus_types::staking::Stake;
use salus_types::Did;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

/// `/v1/staking/{account}`.
pub const STAKE: &str = "/v1/staking";
pub const PARAMS: &str = "/v1/governance/params";
/// `/v1/governance/proposals/{id}`, or the list.
pub const PROPOSALS: &str = "/v1/governance/proposals";

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct StakeView {
    #[schema(value_type = String)]
    pub account: Did,
    pub height: Option<u64>,
    #[schema(value_type = Object)]
    pub stake: Stake,
    /// Voting power now (own bonded unless delegated, plus what is delegated to it).
    pub power: String,
    /// The total bonded now.
    pub total_bonded: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct GovernanceView {
    pub height: Option<u64>,
    #[schema(value_type = Object)]
    pub params: GovernanceParams,
    /// The community treasury's balance, in base units: vetoed deposits,
    /// slashed oracle stake and a share of premiums, less grants.
    pub treasury: String,
    /// The treasury's account (anyone may send to it; only proposals spend).
    pub treasury_account: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct ProposalView {
    pub height: Option<u64>,
    #[schema(value_type = Object)]
    pub proposal: Proposal,
}

#[derive(Debug, Clone, Serialize, Deserialize, IntoParams)]
pub struct ProposalParams {
    /// Continue after this proposal id (paging).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub after: Option<u64>,
    /// At most this many (default 100, at most 500).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub limit: Option<usize>,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct ProposalList {
    pub height: Option<u64>,
    #[schema(value_type = Vec<Object>)]
    pub proposals: Vec<Proposal>,
}
