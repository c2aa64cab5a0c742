//! DID resolution: `did:salus` from finalized state, `did:key` from the key.

use axum::extract::State;
use axum::Json;
use salus_api::identity::DidResolution;
use salus_api::ErrorBody;
use salus_app::identity;
use salus_types::Did;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::error::ApiError;
use super::{ApiState, Path};

pub(super) fn routes() -> OpenApiRouter<ApiState> {
    OpenApiRouter::new().routes(routes!(resolve_did))
}

/// Resolve a `did:salus` (from chain state) or a `did:key` to a DID Core resolution result.
#[utoipa::path(get, path = "/v1/dids/{did}", params(("did" = String, Path)),
    responses((status = 200, body = Object), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub(super) async fn resolve_did(
    State(state): State<ApiState>,
    Path(text): Path<String>,
) -> Result<Json<DidResolution>, ApiError> {
    if text.starts_with("did:key:") {
        return identity::resolve_did_key(&text)
            .map(Json)
            .map_err(|e| ApiError::bad_request("bad_did", e.to_string()));
    }
    let did = Did::parse(&text).map_err(|e| ApiError::bad_request("bad_did", e.to_string()))?;
    let snapshot = state.chain.store().snapshot()?;
    let record = identity::did_record(&snapshot, &did.account())?
        .ok_or_else(|| ApiError::not_found(format!("{did} is not registered")))?;
    let roles = identity::roles(&snapshot, &did.account())?;
    Ok(Json(identity::resolve_salus(&did, &record, &roles)))
}
