//! Credential definitions, revocation registries, published sets and role
//! rules, as finalized; and presentation verification against them, for
//! verifiers off chain (a pharmacy, an airline, an employer).

use axum::extract::State;
use axum::Json;
use salus_api::credentials::{
    IdParams, PublishedDefinition, PublishedSet, RevocationPage, RevocationParams, RuleParams,
    RuleResponse, Verified, VerifyRequest, MAX_SETS, MAX_UPDATES,
};
use salus_api::ErrorBody;
use salus_app::credentials as module;
use salus_types::identity::Role;
use salus_zk::{
    CredentialDefinition, Presentation, PresentationRequest, PublicSet, RevocationStatus, ZkError,
};
use serde_json::Value;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::error::ApiError;
use super::{ApiState, JsonBody, Query};

pub(super) fn routes() -> OpenApiRouter<ApiState> {
    OpenApiRouter::new()
        .routes(routes!(definition))
        .routes(routes!(revocations))
        .routes(routes!(set))
        .routes(routes!(rule))
        .routes(routes!(verify))
}

fn to_json<T: serde::Serialize>(value: &T) -> Result<Value, ApiError> {
    serde_json::to_value(value).map_err(ApiError::internal)
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
#[utoipa::path(get, path = "/v1/credentials/definition", params(IdParams),
    responses((status = 200, body = PublishedDefinition), (status = 404, body = ErrorBody)))]
pub(super) async fn definition(
    State(state): State<ApiState>,
    Query(params): Query<IdParams>,
) -> Result<Json<PublishedDefinition>, ApiError> {
    let snapshot = state.chain.store().snapshot()?;
    let (record, definition, status) = load_definition(&snapshot, &params.id)?;
    Ok(Json(PublishedDefinition {
        issuer: record.issuer.did(),
        definition: to_json(&definition)?,
        status: to_json(&status)?,
        published_ms: record.published_ms,
        height: snapshot.height(),
    }))
}

/// The revocation updates a holder applies to bring its witness current.
#[utoipa::path(get, path = "/v1/credentials/revocations", params(RevocationParams),
    responses((status = 200, body = RevocationPage), (status = 404, body = ErrorBody)))]
pub(super) async fn revocations(
    State(state): State<ApiState>,
    Query(params): Query<RevocationParams>,
) -> Result<Json<RevocationPage>, ApiError> {
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
    Ok(Json(RevocationPage {
        status: to_json(&status)?,
        updates,
        complete: last == record.epoch,
    }))
}

/// A published set.
#[utoipa::path(get, path = "/v1/credentials/set", params(IdParams),
    responses((status = 200, body = PublishedSet), (status = 404, body = ErrorBody)))]
pub(super) async fn set(
    State(state): State<ApiState>,
    Query(params): Query<IdParams>,
) -> Result<Json<PublishedSet>, ApiError> {
    let snapshot = state.chain.store().snapshot()?;
    let (publisher, set) = module::set(&snapshot, &params.id)?
        .ok_or_else(|| ApiError::not_found(format!("no published set `{}`", params.id)))?;
    let set: Value = serde_json::from_str(&set).map_err(corrupt)?;
    Ok(Json(PublishedSet {
        publisher: publisher.did(),
        set,
    }))
}

/// The credential that earns a role, and what its presentation must show.
#[utoipa::path(get, path = "/v1/credentials/rule", params(RuleParams),
    responses((status = 200, body = RuleResponse), (status = 404, body = ErrorBody)))]
pub(super) async fn rule(
    State(state): State<ApiState>,
    Query(params): Query<RuleParams>,
) -> Result<Json<RuleResponse>, ApiError> {
    let role: Role = params
        .role
        .parse()
        .map_err(|e: String| ApiError::bad_request("bad_role", e))?;
    let snapshot = state.chain.store().snapshot()?;
    let rule = module::role_rule(&snapshot, role)?
        .ok_or_else(|| ApiError::not_found(format!("no credential earns role {}", role.name())))?;
    Ok(Json(RuleResponse { rule }))
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
#[utoipa::path(post, path = "/v1/credentials/verify", request_body = VerifyRequest,
    responses((status = 200, body = Verified), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub(super) async fn verify(
    State(state): State<ApiState>,
    JsonBody(body): JsonBody<VerifyRequest>,
) -> Result<Json<Verified>, ApiError> {
    let request: PresentationRequest = serde_json::from_value(body.request).map_err(|_| {
        ApiError::bad_request("bad_request", "`request` is not a presentation request")
    })?;
    let presentation: Presentation = serde_json::from_value(body.presentation).map_err(|_| {
        ApiError::bad_request("bad_request", "`presentation` is not a presentation")
    })?;
    let snapshot = state.chain.store().snapshot()?;
    let (record, definition, status) = load_definition(&snapshot, &request.definition)?;
    let mut names: Vec<&str> = request
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
    Ok(Json(Verified {
        verified: true,
        definition: definition.id,
        issuer: record.issuer.did(),
        revocation_epoch: epoch,
        revealed: revealed
            .into_iter()
            .map(|(name, value)| Ok((name, to_json(&value)?)))
            .collect::<Result<_, ApiError>>()?,
        height: snapshot.height(),
    }))
}
