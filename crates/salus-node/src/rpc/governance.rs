//! Staking and governance from finalized state.

use axum::extract::State;
use axum::Json;
use salus_api::governance::{
    GovernanceView, ProposalList, ProposalParams, ProposalView, StakeView,
};
use salus_api::ErrorBody;
use salus_app::{governance, staking, treasury};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::error::ApiError;
use super::{page_size, parse_account, ApiState, Path, Query};

pub(super) fn routes() -> OpenApiRouter<ApiState> {
    OpenApiRouter::new()
        .routes(routes!(stake))
        .routes(routes!(params))
        .routes(routes!(proposal))
        .routes(routes!(proposals))
}

/// An account's stake (bonded, unbonding, delegate) and voting power.
#[utoipa::path(get, path = "/v1/staking/{account}", params(("account" = String, Path, description = "did:salus or account id hex")),
    responses((status = 200, body = StakeView), (status = 400, body = ErrorBody)))]
pub(super) async fn stake(
    State(state): State<ApiState>,
    Path(text): Path<String>,
) -> Result<Json<StakeView>, ApiError> {
    let account = parse_account(&text)?;
    let snapshot = state.chain.store().snapshot()?;
    let height = snapshot.height().unwrap_or(0);
    Ok(Json(StakeView {
        account: account.did(),
        height: snapshot.height(),
        stake: staking::stake(&snapshot, &account)?,
        power: staking::power_at(&snapshot, &account, height)?.to_string(),
        total_bonded: staking::total_at(&snapshot, height)?.to_string(),
    }))
}

/// The governance parameters and treasury.
#[utoipa::path(get, path = "/v1/governance/params", responses((status = 200, body = GovernanceView)))]
pub(super) async fn params(
    State(state): State<ApiState>,
) -> Result<Json<GovernanceView>, ApiError> {
    let snapshot = state.chain.store().snapshot()?;
    Ok(Json(GovernanceView {
        height: snapshot.height(),
        params: governance::params(&snapshot)?,
        treasury: treasury::balance(&snapshot)?.to_string(),
        treasury_account: treasury::account().did().to_string(),
    }))
}

/// A proposal: its change, deposit, heights, cap, running tally and status.
#[utoipa::path(get, path = "/v1/governance/proposals/{id}", params(("id" = u64, Path)),
    responses((status = 200, body = ProposalView), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub(super) async fn proposal(
    State(state): State<ApiState>,
    Path(id): Path<u64>,
) -> Result<Json<ProposalView>, ApiError> {
    let snapshot = state.chain.store().snapshot()?;
    let proposal = governance::proposal(&snapshot, id)?
        .ok_or_else(|| ApiError::not_found(format!("proposal {id} is unknown")))?;
    Ok(Json(ProposalView {
        height: snapshot.height(),
        proposal,
    }))
}

/// Proposals, oldest first.
#[utoipa::path(get, path = "/v1/governance/proposals", params(ProposalParams),
    responses((status = 200, body = ProposalList), (status = 400, body = ErrorBody)))]
pub(super) async fn proposals(
    State(state): State<ApiState>,
    Query(params): Query<ProposalParams>,
) -> Result<Json<ProposalList>, ApiError> {
    let snapshot = state.chain.store().snapshot()?;
    let proposals = governance::proposals(&snapshot, params.after, page_size(params.limit))?;
    Ok(Json(ProposalList {
        height: snapshot.height(),
        proposals,
    }))
}
