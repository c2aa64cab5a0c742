//! Insurance from finalized state: pools, liquidity positions, policies and
//! claims.

use axum::extract::State;
use axum::Json;
use salus_api::insurance::{
    ClaimList, ClaimView, HolderParams, PolicyList, PolicyView, PoolView, PositionView,
};
use salus_api::ErrorBody;
use salus_app::insurance as module;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::error::ApiError;
use super::{page_size, parse_account, ApiState, Path, Query};

pub(super) fn routes() -> OpenApiRouter<ApiState> {
    OpenApiRouter::new()
        .routes(routes!(pool))
        .routes(routes!(position))
        .routes(routes!(policy))
        .routes(routes!(policies))
        .routes(routes!(claim))
        .routes(routes!(claims))
}

/// A pool: its terms, capital, shares, active cover and totals.
#[utoipa::path(get, path = "/v1/insurance/pools/{id}", params(("id" = u64, Path)),
    responses((status = 200, body = PoolView), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub(super) async fn pool(
    State(state): State<ApiState>,
    Path(id): Path<u64>,
) -> Result<Json<PoolView>, ApiError> {
    let snapshot = state.chain.store().snapshot()?;
    let pool = module::pool(&snapshot, id)?
        .ok_or_else(|| ApiError::not_found(format!("pool {id} is unknown")))?;
    Ok(Json(PoolView {
        height: snapshot.height(),
        pool,
    }))
}

/// A liquidity provider's shares in a pool and what they are worth now.
#[utoipa::path(get, path = "/v1/insurance/pools/{id}/positions/{account}",
    params(("id" = u64, Path), ("account" = String, Path, description = "did:salus or account id hex")),
    responses((status = 200, body = PositionView), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub(super) async fn position(
    State(state): State<ApiState>,
    Path((id, text)): Path<(u64, String)>,
) -> Result<Json<PositionView>, ApiError> {
    let provider = parse_account(&text)?;
    let snapshot = state.chain.store().snapshot()?;
    let pool = module::pool(&snapshot, id)?
        .ok_or_else(|| ApiError::not_found(format!("pool {id} is unknown")))?;
    let position = module::position(&snapshot, id, &provider)?.ok_or_else(|| {
        ApiError::not_found(format!("{} holds no shares of pool {id}", provider.did()))
    })?;
    let value = position
        .shares
        .checked_mul(pool.capital)
        .and_then(|v| v.checked_div(pool.shares))
        .unwrap_or(0);
    Ok(Json(PositionView {
        pool: id,
        provider: provider.did(),
        height: snapshot.height(),
        position,
        value: value.to_string(),
    }))
}

/// A policy: its pool, product, holder, cover left, pending claims and term.
#[utoipa::path(get, path = "/v1/insurance/policies/{id}", params(("id" = u64, Path)),
    responses((status = 200, body = PolicyView), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub(super) async fn policy(
    State(state): State<ApiState>,
    Path(id): Path<u64>,
) -> Result<Json<PolicyView>, ApiError> {
    let snapshot = state.chain.store().snapshot()?;
    let policy = module::policy(&snapshot, id)?
        .ok_or_else(|| ApiError::not_found(format!("policy {id} is unknown")))?;
    Ok(Json(PolicyView {
        height: snapshot.height(),
        policy,
    }))
}

/// The policies a patient holds.
#[utoipa::path(get, path = "/v1/insurance/policies", params(HolderParams),
    responses((status = 200, body = PolicyList), (status = 400, body = ErrorBody)))]
pub(super) async fn policies(
    State(state): State<ApiState>,
    Query(params): Query<HolderParams>,
) -> Result<Json<PolicyList>, ApiError> {
    let holder = parse_account(&params.holder)?;
    let snapshot = state.chain.store().snapshot()?;
    let policies = module::policies_of(&snapshot, &holder, params.after, page_size(params.limit))?;
    Ok(Json(PolicyList {
        holder: holder.did(),
        height: snapshot.height(),
        policies,
    }))
}

/// A claim: its policy, evidence (record ids and versions), amount, oracle
/// question, the committee's grants and its status.
#[utoipa::path(get, path = "/v1/insurance/claims/{id}", params(("id" = u64, Path)),
    responses((status = 200, body = ClaimView), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub(super) async fn claim(
    State(state): State<ApiState>,
    Path(id): Path<u64>,
) -> Result<Json<ClaimView>, ApiError> {
    let snapshot = state.chain.store().snapshot()?;
    let claim = module::claim(&snapshot, id)?
        .ok_or_else(|| ApiError::not_found(format!("claim {id} is unknown")))?;
    Ok(Json(ClaimView {
        height: snapshot.height(),
        claim,
    }))
}

/// The claims on a patient's cover.
#[utoipa::path(get, path = "/v1/insurance/claims", params(HolderParams),
    responses((status = 200, body = ClaimList), (status = 400, body = ErrorBody)))]
pub(super) async fn claims(
    State(state): State<ApiState>,
    Query(params): Query<HolderParams>,
) -> Result<Json<ClaimList>, ApiError> {
    let holder = parse_account(&params.holder)?;
    let snapshot = state.chain.store().snapshot()?;
    let claims = module::claims_of(&snapshot, &holder, params.after, page_size(params.limit))?;
    Ok(Json(ClaimList {
        holder: holder.did(),
        height: snapshot.height(),
        claims,
    }))
}
