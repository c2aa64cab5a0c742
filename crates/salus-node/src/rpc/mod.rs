//! The HTTP JSON API. Each module of the API lives in a file of its own that
//! registers its routes with their OpenAPI paths (`routes()`, a utoipa-axum
//! `OpenApiRouter`); this file only merges them, and adds the OpenAPI
//! document and the metrics. Bodies are `salus_api` types, shared with the
//! SDK.

mod audit;
mod chain;
mod consent;
mod credentials;
mod epochs;
mod error;
mod governance;
mod identity;
mod insurance;
mod oracle;
mod records;
mod vault;

use std::sync::{Arc, OnceLock};

use axum::extract::{FromRequest, FromRequestParts, State};
use axum::http::StatusCode;
use axum::routing::get;
use axum::{Json, Router};
use salus_app::Chain;
use salus_types::{AccountId, Did, EventCursor, EventRecord};
use utoipa::OpenApi;
use utoipa_axum::router::OpenApiRouter;

use crate::admission::mempool::Mempool;
use error::{ApiError, Rejection};

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
    pub gossip: crate::admission::gossip::Gossip,
    pub vault: Arc<salus_vault::Vault>,
    /// The network's finalized tip as this node knows it.
    pub sync: Arc<salus_consensus::executor::SyncProgress>,
    /// The finalization certificates consensus produced or fetched.
    pub certificates: salus_consensus::certificates::Certificates,
    pub metrics: Arc<dyn Fn() -> String + Send + Sync>,
}

/// The largest request body; a larger one gets 413.
pub const MAX_BODY_BYTES: usize = 64 * 1024 * 1024;

#[derive(OpenApi)]
#[openapi(info(
    title = "Salus node API",
    description = "Submit transactions; read blocks, receipts, state with Merkle proofs, events and DIDs; anchor, share and read encrypted health records; read a patient's audit trail; read credential definitions, revocation registries and published sets, and verify zero-knowledge presentations; read oracles and their questions, insurance pools, policies and claims; read stakes, voting power and governance proposals."
))]
struct ApiInfo;

/// Every module's routes, with their OpenAPI paths.
fn api_routes() -> OpenApiRouter<ApiState> {
    OpenApiRouter::with_openapi(ApiInfo::openapi())
        .merge(chain::routes())
        .merge(identity::routes())
        .merge(records::routes())
        .merge(consent::routes())
        .merge(audit::routes())
        .merge(credentials::routes())
        .merge(oracle::routes())
        .merge(insurance::routes())
        .merge(governance::routes())
        .merge(epochs::routes())
        .merge(vault::routes())
        .routes(utoipa_axum::routes!(openapi_json))
}

/// The OpenAPI document of every route.
pub fn openapi() -> &'static utoipa::openapi::OpenApi {
    static DOCUMENT: OnceLock<utoipa::openapi::OpenApi> = OnceLock::new();
    DOCUMENT.get_or_init(|| api_routes().split_for_parts().1)
}

pub fn router(state: ApiState) -> Router {
    let (routes, _) = api_routes().split_for_parts();
    routes
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
            error::panic_response,
        ))
        .layer(axum::extract::DefaultBodyLimit::max(MAX_BODY_BYTES))
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
pub(crate) fn parse_cursor(text: Option<&str>) -> Result<Option<EventCursor>, ApiError> {
    text.map(|t| {
        t.parse()
            .map_err(|e: String| ApiError::bad_request("bad_cursor", e))
    })
    .transpose()
}

/// A page size: the default when absent, at most [`salus_api::MAX_PAGE`].
pub(crate) fn page_size(limit: Option<usize>) -> usize {
    limit
        .unwrap_or(salus_api::DEFAULT_PAGE)
        .clamp(1, salus_api::MAX_PAGE)
}

/// The cursor of the next page, if this one is full.
pub(crate) fn page_end(events: &[EventRecord], limit: usize) -> Option<String> {
    (events.len() >= limit)
        .then(|| events.last())
        .flatten()
        .map(|last| EventCursor::of(last).to_string())
}

/// This document.
#[utoipa::path(get, path = "/openapi.json", responses((status = 200, body = Object)))]
async fn openapi_json() -> Json<utoipa::openapi::OpenApi> {
    Json(openapi().clone())
}

async fn metrics(State(state): State<ApiState>) -> String {
    (state.metrics)()
}
