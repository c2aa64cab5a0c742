//! The oracle network from finalized state: parameters, oracles, questions
//! and the open questions assigned to an oracle.

use axum::extract::State;
use axum::Json;
use salus_api::oracle::{AssignedParams, AssignedQuestions, OracleView, ParamsView, QuestionView};
use salus_api::ErrorBody;
use salus_app::oracle as module;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::error::ApiError;
use super::{page_size, parse_account, ApiState, Path, Query};

pub(super) fn routes() -> OpenApiRouter<ApiState> {
    OpenApiRouter::new()
        .routes(routes!(params))
        .routes(routes!(oracle))
        .routes(routes!(question))
        .routes(routes!(assigned))
}

/// The oracle module's parameters.
#[utoipa::path(get, path = "/v1/oracle/params", responses((status = 200, body = ParamsView)))]
pub(super) async fn params(State(state): State<ApiState>) -> Result<Json<ParamsView>, ApiError> {
    let snapshot = state.chain.store().snapshot()?;
    Ok(Json(ParamsView {
        height: snapshot.height(),
        params: module::params(&snapshot)?,
    }))
}

/// An oracle's bond, unbonding stake and public record of answers.
#[utoipa::path(get, path = "/v1/oracle/oracles/{account}", params(("account" = String, Path, description = "did:salus or account id hex")),
    responses((status = 200, body = OracleView), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub(super) async fn oracle(
    State(state): State<ApiState>,
    Path(text): Path<String>,
) -> Result<Json<OracleView>, ApiError> {
    let account = parse_account(&text)?;
    let snapshot = state.chain.store().snapshot()?;
    let record = module::oracle(&snapshot, &account)?
        .ok_or_else(|| ApiError::not_found(format!("{} never bonded", account.did())))?;
    let eligible = module::eligible(&snapshot)?
        .iter()
        .any(|(oracle, _)| *oracle == account);
    Ok(Json(OracleView {
        oracle: account.did(),
        height: snapshot.height(),
        eligible,
        record,
    }))
}

/// A question: its evidence (record ids and versions), rule, committee,
/// answers so far, deadline and status.
#[utoipa::path(get, path = "/v1/oracle/questions/{id}", params(("id" = u64, Path)),
    responses((status = 200, body = QuestionView), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub(super) async fn question(
    State(state): State<ApiState>,
    Path(id): Path<u64>,
) -> Result<Json<QuestionView>, ApiError> {
    let snapshot = state.chain.store().snapshot()?;
    let question = module::question(&snapshot, id)?
        .ok_or_else(|| ApiError::not_found(format!("question {id} is unknown")))?;
    Ok(Json(QuestionView {
        height: snapshot.height(),
        question,
    }))
}

/// The open questions assigned to an oracle, oldest first.
#[utoipa::path(get, path = "/v1/oracle/assigned/{account}", params(("account" = String, Path, description = "did:salus or account id hex"), AssignedParams),
    responses((status = 200, body = AssignedQuestions), (status = 400, body = ErrorBody)))]
pub(super) async fn assigned(
    State(state): State<ApiState>,
    Path(text): Path<String>,
    Query(params): Query<AssignedParams>,
) -> Result<Json<AssignedQuestions>, ApiError> {
    let account = parse_account(&text)?;
    let snapshot = state.chain.store().snapshot()?;
    let ids = module::assigned(&snapshot, &account, params.after, page_size(params.limit))?;
    let mut questions = Vec::with_capacity(ids.len());
    for id in ids {
        questions.push(
            module::question(&snapshot, id)?
                .ok_or_else(|| ApiError::internal("an assigned question is missing"))?,
        );
    }
    Ok(Json(AssignedQuestions {
        oracle: account.did(),
        height: snapshot.height(),
        questions,
    }))
}
