//! The HTTP JSON API. Every route is in the OpenAPI document at `/openapi.json`.
//!
//! - [`chain`]: transactions, blocks, state with proofs, accounts, DIDs, events.
//! - [`records`]: record anchors, consent and the patient's audit trail.
//! - [`vault`]: signed reads and writes of encrypted records, and replication.

mod chain;
mod credentials;
mod records;
mod vault;

use std::sync::Arc;

use axum::extract::{FromRequest, FromRequestParts, State};
use axum::http::StatusCode;
use axum::routing::{get, post};
use axum::{Json, Router};
use salus_app::Chain;
use salus_types::{AccountId, Did};
use utoipa::OpenApi;

use crate::api_error::{ApiError, ErrorBody, Rejection};
use crate::mempool::Mempool;

pub use vault::MAX_VAULT_BATCH;

pub use chain::{
    BatchRejection, BatchRequest, BatchResponse, StateResponse, StatusResponse, SubmitRequest,
    SubmitResponse, TxStatus,
};

#[derive(FromRequest)]
#[from_request(via(axum::Json), rejection(Rejection))]
pub struct JsonBody<T>(pub T);

#[derive(FromRequestParts)]
#[from_request(via(axum::extract::Query), rejection(Rejection))]
pub struct Query<T>(pub T);

#[derive(FromRequestParts)]
#[from_request(via(axum::extract::Path), rejection(Rejection))]
pub struct Path<T>(pub T);

/// What the handlers share.
#[derive(Clone)]
pub struct ApiState {
    pub chain: Arc<Chain>,
    pub mempool: Arc<Mempool>,
    /// Hands admitted transactions to the other validators.
    pub gossip: crate::gossip::Gossip,
    pub vault: Arc<salus_vault::Vault>,
    pub validators: Vec<String>,
    /// The network's finalized tip as this node knows it.
    pub sync: Arc<salus_consensus::executor::SyncProgress>,
    pub metrics: Arc<dyn Fn() -> String + Send + Sync>,
}

/// The most transactions in one batch submission.
pub const MAX_BATCH: usize = 10_000;

#[derive(OpenApi)]
#[openapi(
    info(
        title = "Salus node API",
        description = "Submit transactions; read blocks, receipts, state with Merkle proofs, events and DIDs; anchor, share and read encrypted health records; read a patient's audit trail; read credential definitions, revocation registries and published sets, and verify zero-knowledge presentations."
    ),
    paths(
        chain::submit_tx,
        chain::submit_batch,
        chain::tx_status,
        chain::block_by_height,
        chain::state_query,
        chain::account,
        chain::resolve_did,
        chain::events,
        chain::status,
        records::list_records,
        records::record_history,
        records::consent,
        records::readers,
        records::audit,
        credentials::definition,
        credentials::revocations,
        credentials::set,
        credentials::rule,
        credentials::verify,
        vault::vault_info,
        vault::read,
        vault::write,
        vault::replica,
        openapi_json
    ),
    components(schemas(
        ErrorBody,
        SubmitRequest,
        SubmitResponse,
        BatchRequest,
        BatchResponse,
        BatchRejection,
        TxStatus,
        StateResponse,
        StatusResponse,
        credentials::VerifyBody,
        salus_vault::wire::ReadBody,
        salus_vault::wire::ReadResponse,
        salus_vault::wire::WriteBody,
        salus_vault::wire::UploadItem,
        salus_vault::wire::WriteResponse,
        salus_vault::wire::ReplicaBody,
        salus_vault::wire::ReplicaResponse,
        salus_vault::wire::ServedRecord,
        salus_vault::wire::StoredRecord,
        salus_vault::wire::ItemError
    ))
)]
pub struct ApiDoc;

pub fn router(state: ApiState) -> Router {
    Router::new()
        .route("/v1/txs", post(chain::submit_tx))
        .route("/v1/txs/batch", post(chain::submit_batch))
        .route("/v1/txs/{hash}", get(chain::tx_status))
        .route("/v1/blocks/{height}", get(chain::block_by_height))
        .route("/v1/state", get(chain::state_query))
        .route("/v1/accounts/{account}", get(chain::account))
        .route("/v1/dids/{did}", get(chain::resolve_did))
        .route("/v1/events", get(chain::events))
        .route("/v1/status", get(chain::status))
        .route("/v1/records", get(records::list_records))
        .route("/v1/records/{record}", get(records::record_history))
        .route("/v1/consent", get(records::consent))
        .route("/v1/consent/readers", get(records::readers))
        .route("/v1/audit", get(records::audit))
        .route("/v1/credentials/definition", get(credentials::definition))
        .route("/v1/credentials/revocations", get(credentials::revocations))
        .route("/v1/credentials/set", get(credentials::set))
        .route("/v1/credentials/rule", get(credentials::rule))
        .route("/v1/credentials/verify", post(credentials::verify))
        .route("/v1/vault", get(vault::vault_info))
        .route("/v1/vault/read", post(vault::read))
        .route("/v1/vault/records", post(vault::write))
        .route("/v1/vault/replica", post(vault::replica))
        .route("/openapi.json", get(openapi_json))
        .route("/metrics", get(metrics))
        .fallback(|| async { ApiError::not_found("no such route") })
        .method_not_allowed_fallback(|| async {
            ApiError::new(
                StatusCode::METHOD_NOT_ALLOWED,
                "method_not_allowed",
                "this route does not accept that method",
            )
        })
        .layer(tower_http::catch_panic::CatchPanicLayer::custom(
            crate::api_error::panic_response,
        ))
        .layer(axum::extract::DefaultBodyLimit::max(64 * 1024 * 1024))
        .with_state(state)
}

/// Accepts a did:salus or an account id in hex.
pub(crate) fn parse_account(text: &str) -> Result<AccountId, ApiError> {
    if let Ok(did) = Did::parse(text) {
        return Ok(did.account());
    }
    AccountId::from_hex(text)
        .map_err(|_| ApiError::bad_request("bad_account", "expected a did:salus or 40 hex digits"))
}

/// Parses a paging cursor (`height` or `height.tx.event`).
pub(crate) fn parse_cursor(
    text: Option<&str>,
) -> Result<Option<salus_state::EventCursor>, ApiError> {
    text.map(|t| {
        t.parse()
            .map_err(|e: String| ApiError::bad_request("bad_cursor", e))
    })
    .transpose()
}

/// The cursor of the next page, if this one is full.
pub(crate) fn page_end(events: &[salus_state::EventRecord], limit: usize) -> Option<String> {
    (events.len() >= limit)
        .then(|| events.last())
        .flatten()
        .map(|last| salus_state::EventCursor::of(last).to_string())
}

/// This document.
#[utoipa::path(get, path = "/openapi.json", responses((status = 200, body = Object)))]
async fn openapi_json() -> Json<utoipa::openapi::OpenApi> {
    Json(ApiDoc::openapi())
}

async fn metrics(State(state): State<ApiState>) -> String {
    (state.metrics)()
}
