//! Record anchors: a patient's records and a record's versions, read from
//! finalized state. Nothing here holds health data.

use axum::extract::State;
use axum::Json;
use salus_api::records::{AnchoredVersion, ListParams, RecordHistory, RecordList, RecordListing};
use salus_api::ErrorBody;
use salus_app::records as module;
use salus_types::records::RecordId;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::error::ApiError;
use super::{page_size, parse_account, ApiState, Path, Query};

pub(super) fn routes() -> OpenApiRouter<ApiState> {
    OpenApiRouter::new()
        .routes(routes!(list_records))
        .routes(routes!(record_history))
}

pub(super) fn parse_record(text: &str) -> Result<RecordId, ApiError> {
    RecordId::from_hex(text)
        .map_err(|_| ApiError::bad_request("bad_record", "a record id is 32 hex digits"))
}

/// A patient's records: ids, categories and versions (never content).
#[utoipa::path(get, path = "/v1/records", params(ListParams),
    responses((status = 200, body = RecordList), (status = 400, body = ErrorBody)))]
pub(super) async fn list_records(
    State(state): State<ApiState>,
    Query(params): Query<ListParams>,
) -> Result<Json<RecordList>, ApiError> {
    let patient = parse_account(&params.patient)?;
    let after = params.after.as_deref().map(parse_record).transpose()?;
    let snapshot = state.chain.store().snapshot()?;
    let records =
        module::for_patient(&snapshot, &patient, after.as_ref(), page_size(params.limit))?
            .into_iter()
            .map(|(record, head)| RecordListing { record, head })
            .collect();
    Ok(Json(RecordList {
        patient: patient.did(),
        height: snapshot.height(),
        records,
    }))
}

/// A record's head and every version's anchor, oldest first.
#[utoipa::path(get, path = "/v1/records/{record}", params(("record" = String, Path, description = "record id, 32 hex digits")),
    responses((status = 200, body = RecordHistory), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub(super) async fn record_history(
    State(state): State<ApiState>,
    Path(text): Path<String>,
) -> Result<Json<RecordHistory>, ApiError> {
    let record = parse_record(&text)?;
    let snapshot = state.chain.store().snapshot()?;
    let (head, versions) = module::history(&snapshot, &record)?
        .ok_or_else(|| ApiError::not_found(format!("record {record} is unknown")))?;
    let versions = versions
        .into_iter()
        .map(|anchor| AnchoredVersion {
            digest: anchor.digest(&record),
            anchor,
        })
        .collect();
    Ok(Json(RecordHistory {
        record,
        patient: head.patient.did(),
        head,
        versions,
    }))
}
