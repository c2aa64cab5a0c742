//! Credential definitions, revocation registries, published sets and role
//! rules, as finalized; and presentation verification against them, for
//! verifiers off chain (a pharmacy, an airline, an employer).

use axum::extract::State;
use axum::Json;
use salus_app::credentials as module;
use salus_types::identity::Role;
use salus_zk::{
    CredentialDefinition, Presentation, PresentationRequest, PublicSet, RevocationStatus, ZkError,
};
use serde::Deserialize;
use serde_json::{json, Value};
use utoipa::{IntoParams, ToSchema};

use super::{ApiState, JsonBody, Query};
use crate::api_error::{ApiError, ErrorBody};

/// Revocation updates returned per page.
const MAX_UPDATES: u64 = 1_000;
/// Sets a verification may name.
const MAX_SETS: usize = 8;

#[derive(Debug, Deserialize, IntoParams)]
pub struct DefinitionParams {
    /// The definition id, e.g. `did:salus:…#license-v1`.
    pub id: String,
}

fn corrupt(e: serde_json::Error) -> ApiError {
    ApiError::internal(format!("stored credential object: {e}"))
}

fn load_definition(
    snapshot: &dyn salus_state::StateRead,
    id: &str,
) -> Result<
    (
        salus_types::credentials::DefinitionRecord,
        CredentialDefinition,
        RevocationStatus,
    ),
    ApiError,
> {
    let record = module::definition(snapshot, id)?.ok_or_else(|| {
        ApiError::new(
            axum::http::StatusCode::NOT_FOUND,
            "unknown_definition",
            format!("no credential definition `{id}`"),
        )
    })?;
    let definition: CredentialDefinition =
        serde_json::from_str(&record.definition).map_err(corrupt)?;
    let status: RevocationStatus = serde_json::from_str(&record.status).map_err(corrupt)?;
    Ok((record, definition, status))
}

/// A credential definition with its issuer and current revocation status.
#[utoipa::path(get, path = "/v1/credentials/definition", params(DefinitionParams),
    responses((status = 200, body = Object), (status = 404, body = ErrorBody)))]
pub(super) async fn definition(
    State(state): State<ApiState>,
    Query(params): Query<DefinitionParams>,
) -> Result<Json<Value>, ApiError> {
    let snapshot = state.chain.store().snapshot()?;
    let (record, definition, status) = load_definition(&snapshot, &params.id)?;
    Ok(Json(json!({
        "issuer": record.issuer.did(),
        "definition": definition,
        "status": status,
        "published_ms": record.published_ms,
        "height": snapshot.height(),
    })))
}

#[derive(Debug, Deserialize, IntoParams)]
pub struct RevocationParams {
    pub id: String,
    /// Updates after this epoch (the holder's witness epoch).
    pub after: Option<u64>,
}

/// The revocation updates a holder applies to bring its witness current.
#[utoipa::path(get, path = "/v1/credentials/revocations", params(RevocationParams),
    responses((status = 200, body = Object), (status = 404, body = ErrorBody)))]
pub(super) async fn revocations(
    State(state): State<ApiState>,
    Query(params): Query<RevocationParams>,
) -> Result<Json<Value>, ApiError> {
    let snapshot = state.chain.store().snapshot()?;
    let (record, _, status) = load_definition(&snapshot, &params.id)?;
    let after = params.after.unwrap_or(0);
    let last = record.epoch.min(after.saturating_add(MAX_UPDATES));
    let mut updates = Vec::new();
    for epoch in after.saturating_add(1)..=last {
        let update = module::revocation_update(&snapshot, &params.id, epoch)?
            .ok_or_else(|| ApiError::internal(format!("revocation epoch {epoch} is missing")))?;
        updates.push(serde_json::from_str::<Value>(&update).map_err(corrupt)?);
    }
    Ok(Json(
        json!({"status": status, "updates": updates, "complete": last == record.epoch}),
    ))
}

/// A published set.
#[utoipa::path(get, path = "/v1/credentials/set", params(DefinitionParams),
    responses((status = 200, body = Object), (status = 404, body = ErrorBody)))]
pub(super) async fn set(
    State(state): State<ApiState>,
    Query(params): Query<DefinitionParams>,
) -> Result<Json<Value>, ApiError> {
    let snapshot = state.chain.store().snapshot()?;
    let (publisher, set) = module::set(&snapshot, &params.id)?
        .ok_or_else(|| ApiError::not_found(format!("no published set `{}`", params.id)))?;
    let set: Value = serde_json::from_str(&set).map_err(corrupt)?;
    Ok(Json(json!({"publisher": publisher.did(), "set": set})))
}

#[derive(Debug, Deserialize, IntoParams)]
pub struct RuleParams {
    /// A role name, e.g. `provider`.
    pub role: String,
}

/// The credential that earns a role, and what its presentation must show.
#[utoipa::path(get, path = "/v1/credentials/rule", params(RuleParams),
    responses((status = 200, body = Object), (status = 404, body = ErrorBody)))]
pub(super) async fn rule(
    State(state): State<ApiState>,
    Query(params): Query<RuleParams>,
) -> Result<Json<Value>, ApiError> {
    let role: Role = params
        .role
        .parse()
        .map_err(|e: String| ApiError::bad_request("bad_role", e))?;
    let snapshot = state.chain.store().snapshot()?;
    let rule = module::role_rule(&snapshot, role)?
        .ok_or_else(|| ApiError::not_found(format!("no credential earns role {}", role.name())))?;
    Ok(Json(json!({"rule": rule})))
}

/// A presentation and the request it answers.
#[derive(Debug, Deserialize, ToSchema)]
pub struct VerifyBody {
    #[schema(value_type = Object)]
    pub request: PresentationRequest,
    #[schema(value_type = Object)]
    pub presentation: Presentation,
}

/// The verifier's typed error as an HTTP 422 (or 404 for an unknown issuer).
fn rejection(e: ZkError) -> ApiError {
    let code = match &e {
        ZkError::NonceMismatch => "nonce_mismatch",
        ZkError::StaleRevocation { .. } => "stale_revocation",
        ZkError::Revoked => "revoked",
        ZkError::UnknownSet(_) => "unknown_set",
        ZkError::Unsatisfied(_) => "unsatisfied",
        ZkError::DisclosureMismatch => "disclosure_mismatch",
        ZkError::WrongDefinition { .. } => "wrong_definition",
        ZkError::Malformed { .. } => "malformed_proof",
        ZkError::InvalidProof => "invalid_proof",
        ZkError::BadRequest(_) | ZkError::UnknownAttribute(_) | ZkError::BadValue(_) => {
            "bad_request"
        }
        _ => "rejected",
    };
    ApiError::new(
        axum::http::StatusCode::UNPROCESSABLE_ENTITY,
        code,
        e.to_string(),
    )
}

/// Verifies a presentation against the latest finalized definition,
/// revocation status and sets. Answers 200 only for a valid presentation.
#[utoipa::path(post, path = "/v1/credentials/verify", request_body = VerifyBody,
    responses((status = 200, body = Object), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub(super) async fn verify(
    State(state): State<ApiState>,
    JsonBody(body): JsonBody<VerifyBody>,
) -> Result<Json<Value>, ApiError> {
    let snapshot = state.chain.store().snapshot()?;
    let (record, definition, status) = load_definition(&snapshot, &body.request.definition)?;
    let mut names: Vec<&str> = body
        .request
        .predicates
        .iter()
        .filter_map(|p| match p {
            salus_zk::Predicate::InSet { set, .. } => Some(set.as_str()),
            _ => None,
        })
        .collect();
    names.sort_unstable();
    names.dedup();
    if names.len() > MAX_SETS {
        return Err(ApiError::bad_request(
            "bad_request",
            format!("at most {MAX_SETS} sets"),
        ));
    }
    let mut sets: Vec<PublicSet> = Vec::new();
    for name in names {
        if let Some((_, json)) = module::set(&snapshot, name)? {
            sets.push(serde_json::from_str(&json).map_err(corrupt)?);
        }
    }
    // Pairings take tens of milliseconds: off the async workers.
    let presentation = body.presentation;
    let request = body.request;
    let (definition, outcome) = tokio::task::spawn_blocking(move || {
        let set_refs: Vec<&PublicSet> = sets.iter().collect();
        let outcome = presentation.verify(&definition, &request, &status, &set_refs);
        (
            definition,
            outcome.map(|()| (presentation.revealed, status.epoch)),
        )
    })
    .await
    .map_err(ApiError::internal)?;
    let (revealed, epoch) = outcome.map_err(rejection)?;
    Ok(Json(json!({
        "verified": true,
        "definition": definition.id,
        "issuer": record.issuer.did(),
        "revocation_epoch": epoch,
        "revealed": revealed,
        "height": snapshot.height(),
    })))
}
