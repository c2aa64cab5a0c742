//! Record anchors, consent, and the patient's audit trail. Everything here is
//! read from finalized state; nothing here holds health data.

use axum::extract::State;
use axum::Json;
use salus_app::{
    audit as audit_module, consent as consent_module, identity, records as record_module,
};
use salus_types::consent::ReaderBasis;
use salus_types::records::{Category, RecordId};
use salus_types::Event;
use serde::Deserialize;
use serde_json::{json, Value};
use utoipa::IntoParams;

use super::{page_end, parse_account, parse_cursor, ApiState, Path, Query};
use crate::api_error::{ApiError, ErrorBody};

const MAX_PAGE: usize = 500;

fn parse_record(text: &str) -> Result<RecordId, ApiError> {
    RecordId::from_hex(text)
        .map_err(|_| ApiError::bad_request("bad_record", "a record id is 32 hex digits"))
}

fn page(limit: Option<usize>) -> usize {
    limit.unwrap_or(100).clamp(1, MAX_PAGE)
}

#[derive(Debug, Deserialize, IntoParams)]
pub struct ListParams {
    /// The patient: did:salus or account id hex.
    pub patient: String,
    /// Continue after this record id (paging).
    pub after: Option<String>,
    /// At most this many (default 100, at most 500).
    pub limit: Option<usize>,
}

/// A patient's records: ids, categories and versions (never content).
#[utoipa::path(get, path = "/v1/records", params(ListParams),
    responses((status = 200, body = Object), (status = 400, body = ErrorBody)))]
pub(super) async fn list_records(
    State(state): State<ApiState>,
    Query(params): Query<ListParams>,
) -> Result<Json<Value>, ApiError> {
    let patient = parse_account(&params.patient)?;
    let after = params.after.as_deref().map(parse_record).transpose()?;
    let snapshot = state.chain.store().snapshot()?;
    let records =
        record_module::for_patient(&snapshot, &patient, after.as_ref(), page(params.limit))?;
    let records: Vec<Value> = records
        .into_iter()
        .map(|(record, head)| json!({"record": record, "head": head}))
        .collect();
    Ok(Json(
        json!({"patient": patient.did(), "height": snapshot.height(), "records": records}),
    ))
}

/// A record's head and every version's anchor, oldest first.
#[utoipa::path(get, path = "/v1/records/{record}", params(("record" = String, Path, description = "record id, 32 hex digits")),
    responses((status = 200, body = Object), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub(super) async fn record_history(
    State(state): State<ApiState>,
    Path(text): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let record = parse_record(&text)?;
    let snapshot = state.chain.store().snapshot()?;
    let (head, versions) = record_module::history(&snapshot, &record)?
        .ok_or_else(|| ApiError::not_found(format!("record {record} is unknown")))?;
    let versions: Vec<Value> = versions
        .iter()
        .map(|v| json!({"anchor": v, "digest": v.digest(&record)}))
        .collect();
    Ok(Json(json!({
        "record": record,
        "patient": head.patient.did(),
        "head": head,
        "versions": versions,
    })))
}

#[derive(Debug, Deserialize, IntoParams)]
pub struct PatientParams {
    /// The patient: did:salus or account id hex.
    pub patient: String,
}

/// A patient's unrevoked grants, running delegations and emergency policy.
#[utoipa::path(get, path = "/v1/consent", params(PatientParams),
    responses((status = 200, body = Object), (status = 400, body = ErrorBody)))]
pub(super) async fn consent(
    State(state): State<ApiState>,
    Query(params): Query<PatientParams>,
) -> Result<Json<Value>, ApiError> {
    let patient = parse_account(&params.patient)?;
    let snapshot = state.chain.store().snapshot()?;
    let now = state.vault.now_ms();
    let grants = consent_module::grants_for_patient(&snapshot, &patient, None, usize::MAX)?;
    let grants: Vec<Value> = grants
        .iter()
        .map(|g| json!({"grant": g, "active": g.is_active(now)}))
        .collect();
    let delegations: Vec<Value> = consent_module::delegations(&snapshot, &patient, now)?
        .into_iter()
        .map(|(delegate, d)| json!({"delegate": delegate.did(), "delegation": d}))
        .collect();
    Ok(Json(json!({
        "patient": patient.did(),
        "height": snapshot.height(),
        "grants": grants,
        "delegations": delegations,
        "emergency_policy": consent_module::emergency_policy(&snapshot, &patient)?,
    })))
}

#[derive(Debug, Deserialize, IntoParams)]
pub struct ReaderParams {
    pub patient: String,
    /// The record id (32 hex digits).
    pub record: String,
    /// Its category, e.g. `laboratory`.
    pub category: String,
}

/// Who must receive a wrapped key for a new version: the patient, guardians,
/// emergency responders, and grantees whose running grants cover the record,
/// each with its agreement key and the basis a writer checks with proofs.
#[utoipa::path(get, path = "/v1/consent/readers", params(ReaderParams),
    responses((status = 200, body = Object), (status = 400, body = ErrorBody)))]
pub(super) async fn readers(
    State(state): State<ApiState>,
    Query(params): Query<ReaderParams>,
) -> Result<Json<Value>, ApiError> {
    let patient = parse_account(&params.patient)?;
    let record = parse_record(&params.record)?;
    let category: Category = params
        .category
        .parse()
        .map_err(|e: String| ApiError::bad_request("bad_category", e))?;
    let snapshot = state.chain.store().snapshot()?;
    let mut accounts = vec![(patient, ReaderBasis::Patient)];
    accounts.extend(consent_module::recipients(
        &snapshot,
        &patient,
        &record,
        category,
        state.vault.now_ms(),
    )?);
    let mut readers = Vec::new();
    for (account, basis) in accounts {
        if let Some(did) = identity::did_record(&snapshot, &account)?.filter(|d| !d.deactivated) {
            readers.push(
                json!({"account": account, "agreement_key": did.agreement_key, "basis": basis}),
            );
        }
    }
    Ok(Json(json!({"patient": patient.did(), "readers": readers})))
}

#[derive(Debug, Deserialize, IntoParams)]
pub struct AuditParams {
    pub patient: String,
    /// Only entries strictly before this cursor: a height, or the `next` of
    /// the previous page (`height.tx.event`).
    pub before: Option<String>,
    /// At most this many (default 100, at most 500).
    pub limit: Option<usize>,
}

/// A patient's audit trail, newest first: every access to their records
/// (allowed or denied, by whom, for what purpose, and why), every consent
/// change, break-glass access, anchor and erasure; with the hash-chained log
/// head that commits to all accesses.
#[utoipa::path(get, path = "/v1/audit", params(AuditParams),
    responses((status = 200, body = Object), (status = 400, body = ErrorBody)))]
pub(super) async fn audit(
    State(state): State<ApiState>,
    Query(params): Query<AuditParams>,
) -> Result<Json<Value>, ApiError> {
    let patient = parse_account(&params.patient)?;
    let before = parse_cursor(params.before.as_deref())?;
    let limit = page(params.limit);
    let snapshot = state.chain.store().snapshot()?;
    let entries = snapshot.events_for_account_matching(&patient, before, limit, |event| {
        matches!(
            event,
            Event::Audit(_) | Event::Consent(_) | Event::Records(_)
        )
    })?;
    Ok(Json(json!({
        "patient": patient.did(),
        "height": snapshot.height(),
        "log_head": audit_module::head(&snapshot, &patient)?,
        "next": page_end(&entries, limit),
        "entries": entries,
    })))
}
