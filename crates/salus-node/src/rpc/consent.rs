//! A patient's consent, and who must receive a new version's key: read from
//! finalized state, judged by the vault's clock.

use axum::extract::State;
use axum::Json;
use salus_api::consent::{
    ConsentState, DelegationState, GrantState, PatientParams, Reader, ReaderParams, Readers,
};
use salus_api::ErrorBody;
use salus_app::{consent as module, identity};
use salus_types::consent::ReaderBasis;
use salus_types::records::Category;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::error::ApiError;
use super::records::parse_record;
use super::{parse_account, ApiState, Query};

pub(super) fn routes() -> OpenApiRouter<ApiState> {
    OpenApiRouter::new()
        .routes(routes!(consent))
        .routes(routes!(readers))
}

/// A patient's unrevoked grants, running delegations and emergency policy.
#[utoipa::path(get, path = "/v1/consent", params(PatientParams),
    responses((status = 200, body = ConsentState), (status = 400, body = ErrorBody)))]
pub(super) async fn consent(
    State(state): State<ApiState>,
    Query(params): Query<PatientParams>,
) -> Result<Json<ConsentState>, ApiError> {
    let patient = parse_account(&params.patient)?;
    let snapshot = state.chain.store().snapshot()?;
    let now = state.vault.now_ms();
    let grants = module::grants_for_patient(&snapshot, &patient, None, usize::MAX)?
        .into_iter()
        .map(|grant| GrantState {
            active: grant.is_active(now),
            grant,
        })
        .collect();
    let delegations = module::delegations(&snapshot, &patient, now)?
        .into_iter()
        .map(|(delegate, delegation)| DelegationState {
            delegate: delegate.did(),
            delegation,
        })
        .collect();
    Ok(Json(ConsentState {
        patient: patient.did(),
        height: snapshot.height(),
        grants,
        delegations,
        emergency_policy: module::emergency_policy(&snapshot, &patient)?,
    }))
}

/// Who must receive a wrapped key for a new version: the patient, guardians,
/// emergency responders, and grantees whose running grants cover the record,
/// each with its agreement key and the basis a writer checks with proofs.
#[utoipa::path(get, path = "/v1/consent/readers", params(ReaderParams),
    responses((status = 200, body = Readers), (status = 400, body = ErrorBody)))]
pub(super) async fn readers(
    State(state): State<ApiState>,
    Query(params): Query<ReaderParams>,
) -> Result<Json<Readers>, ApiError> {
    let patient = parse_account(&params.patient)?;
    let record = parse_record(&params.record)?;
    let category: Category = params
        .category
        .parse()
        .map_err(|e: String| ApiError::bad_request("bad_category", e))?;
    let snapshot = state.chain.store().snapshot()?;
    let mut accounts = vec![(patient, ReaderBasis::Patient)];
    accounts.extend(module::recipients(
        &snapshot,
        &patient,
        &record,
        category,
        state.vault.now_ms(),
    )?);
    let mut readers = Vec::new();
    for (account, basis) in accounts {
        if let Some(did) = identity::did_record(&snapshot, &account)?.filter(|d| !d.deactivated) {
            readers.push(Reader {
                account,
                agreement_key: did.agreement_key,
                basis,
            });
        }
    }
    Ok(Json(Readers {
        patient: patient.did(),
        readers,
    }))
}
