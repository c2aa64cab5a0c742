//! Epochs from finalized state: each epoch's validator set with its proof.

use axum::extract::State;
use axum::Json;
use salus_api::epochs::EpochSet;
use salus_api::ErrorBody;
use salus_app::epochs;
use salus_types::epochs::{last_height, set_key, Validator};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::error::ApiError;
use super::{ApiState, Path};

pub(super) fn routes() -> OpenApiRouter<ApiState> {
    OpenApiRouter::new().routes(routes!(epoch_set))
}

/// An epoch's validator set, proven against the last block of the epoch
/// before (which fixed it), for clients that check finality themselves.
#[utoipa::path(get, path = "/v1/epochs/{epoch}", params(("epoch" = u64, Path, description = "an epoch number")),
    responses((status = 200, body = EpochSet), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub(super) async fn epoch_set(
    State(state): State<ApiState>,
    Path(epoch): Path<String>,
) -> Result<Json<EpochSet>, ApiError> {
    let epoch: u64 = epoch
        .parse()
        .map_err(|_| ApiError::bad_request("bad_epoch", "an epoch is a number"))?;
    let store = state.chain.store();
    let snapshot = store.snapshot()?;
    let epoch_blocks = epochs::length(&snapshot)?;
    let tip = snapshot.height().unwrap_or(0);
    drop(snapshot);
    let height = match epoch.checked_sub(1) {
        None => 0,
        Some(previous) => last_height(previous, epoch_blocks)
            .filter(|&h| h <= tip)
            .ok_or_else(|| {
                ApiError::not_found(format!(
                    "the chain has not reached epoch {epoch} (tip is {tip})"
                ))
            })?,
    };
    // The value served is the one proven, at the block that fixed it.
    let (value, proof) = store.get_with_proof(&set_key(epoch), height)?;
    let value = value
        .ok_or_else(|| ApiError::internal(format!("epoch {epoch}'s validator set is missing")))?;
    let validators: Vec<Validator> =
        salus_types::codec::decode("a validator set", &value, value.len())
            .map_err(|_| ApiError::internal("a stored validator set does not decode"))?;
    Ok(Json(EpochSet {
        epoch,
        epoch_blocks,
        height,
        validators,
        proof: hex::encode(proof.0),
    }))
}
