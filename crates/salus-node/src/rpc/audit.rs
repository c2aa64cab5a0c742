//! A patient's audit trail, read from finalized state.

use axum::extract::State;
use axum::Json;
use salus_api::audit::{AuditParams, AuditTrail};
use salus_api::ErrorBody;
use salus_app::audit as module;
use salus_types::Event;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::error::ApiError;
use super::{page_end, page_size, parse_account, parse_cursor, ApiState, Query};

pub(super) fn routes() -> OpenApiRouter<ApiState> {
    OpenApiRouter::new().routes(routes!(audit))
}

/// A patient's audit trail, newest first: every access to their records
/// (allowed or denied, by whom, for what purpose, and why), every consent
/// change, break-glass access, anchor and erasure; with the hash-chained log
/// head that commits to all accesses.
#[utoipa::path(get, path = "/v1/audit", params(AuditParams),
    responses((status = 200, body = AuditTrail), (status = 400, body = ErrorBody)))]
pub(super) async fn audit(
    State(state): State<ApiState>,
    Query(params): Query<AuditParams>,
) -> Result<Json<AuditTrail>, ApiError> {
    let patient = parse_account(&params.patient)?;
    let before = parse_cursor(params.before.as_deref())?;
    let limit = page_size(params.limit);
    let snapshot = state.chain.store().snapshot()?;
    let entries = snapshot.events_for_account_matching(&patient, before, limit, |event| {
        matches!(
            event,
            Event::Audit(_) | Event::Consent(_) | Event::Records(_)
        )
    })?;
    Ok(Json(AuditTrail {
        patient: patient.did(),
        height: snapshot.height(),
        log_head: module::head(&snapshot, &patient)?,
        next: page_end(&entries, limit),
        entries,
    }))
}
