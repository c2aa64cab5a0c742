//! Chain endpoints: transactions, blocks, state with proofs, accounts,
//! events and node status.

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use salus_api::chain::{
    AccountResponse, BatchRejection, BatchRequest, BatchResponse, BlockSummary, EventParams,
    EventsPage, FinalityProof, StateParams, StateResponse, StatusResponse, SubmitRequest,
    SubmitResponse, TxState, TxStatus, MAX_BATCH, MAX_FINALITY_WALK,
};
use salus_api::ErrorBody;
use salus_app::{auth, identity, token};
use salus_types::{Hash, Tx};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::error::ApiError;
use super::{page_end, page_size, parse_account, parse_cursor, ApiState, JsonBody, Path, Query};
use crate::admission::mempool::AdmitError;

pub(super) fn routes() -> OpenApiRouter<ApiState> {
    OpenApiRouter::new()
        .routes(routes!(submit_tx))
        .routes(routes!(submit_batch))
        .routes(routes!(tx_status))
        .routes(routes!(block_by_height))
        .routes(routes!(finality))
        .routes(routes!(state_query))
        .routes(routes!(account))
        .routes(routes!(events))
        .routes(routes!(status))
}

fn decode_tx(text: &str) -> Result<Tx, (String, String)> {
    let bytes = hex::decode(text).map_err(|_| {
        (
            "malformed_tx".to_owned(),
            "transaction is not hex".to_owned(),
        )
    })?;
    Tx::decode(&bytes).map_err(|e| (e.code().name().to_owned(), e.to_string()))
}

fn admit_code(error: &AdmitError) -> &'static str {
    match error {
        AdmitError::Invalid(e) => e.code().name(),
        AdmitError::ActionRefused { error, .. } => error.code.name(),
        AdmitError::Duplicate => "duplicate",
        AdmitError::NonceTaken(_) => "nonce_taken",
        AdmitError::Full(_) => "mempool_full",
        AdmitError::SenderFull(_) => "sender_full",
        AdmitError::NonceTooFar { .. } => "nonce_too_far",
    }
}

/// Admits client transactions and gossips those admitted to the other validators.
fn admit(state: &ApiState, txs: Vec<Tx>) -> Result<Vec<Result<Hash, AdmitError>>, ApiError> {
    let (count, started) = (txs.len(), std::time::Instant::now());
    let admission = crate::admission::admit(&state.chain, &state.mempool, txs)?;
    tracing::debug!(
        count,
        admitted = admission.admitted.len(),
        took_ms = started.elapsed().as_millis() as u64,
        "admitted client transactions"
    );
    state.gossip.share(admission.admitted);
    Ok(admission.verdicts)
}

/// Submit one signed transaction.
#[utoipa::path(post, path = "/v1/txs", request_body = SubmitRequest,
    responses((status = 202, body = SubmitResponse), (status = 400, body = ErrorBody), (status = 409, body = ErrorBody), (status = 503, body = ErrorBody)))]
pub(super) async fn submit_tx(
    State(state): State<ApiState>,
    JsonBody(request): JsonBody<SubmitRequest>,
) -> Result<(StatusCode, Json<SubmitResponse>), ApiError> {
    let tx =
        decode_tx(&request.tx).map_err(|(code, message)| ApiError::bad_request(&code, message))?;
    // Admission reads state and may verify a zero-knowledge proof (tens of
    // milliseconds): keep it off the async workers.
    let verdict = tokio::task::spawn_blocking(move || admit(&state, vec![tx]))
        .await
        .map_err(ApiError::internal)??
        .pop()
        .expect("one verdict per tx");
    match verdict {
        Ok(hash) => Ok((StatusCode::ACCEPTED, Json(SubmitResponse { hash }))),
        Err(e) => {
            let status = match e {
                AdmitError::Invalid(_)
                | AdmitError::ActionRefused { .. }
                | AdmitError::NonceTooFar { .. } => StatusCode::BAD_REQUEST,
                AdmitError::Duplicate | AdmitError::NonceTaken(_) => StatusCode::CONFLICT,
                AdmitError::Full(_) | AdmitError::SenderFull(_) => StatusCode::SERVICE_UNAVAILABLE,
            };
            Err(ApiError::new(status, admit_code(&e), e.to_string()))
        }
    }
}

/// Submit up to 10,000 signed transactions at once; each gets its own verdict.
#[utoipa::path(post, path = "/v1/txs/batch", request_body = BatchRequest,
    responses((status = 200, body = BatchResponse), (status = 400, body = ErrorBody)))]
pub(super) async fn submit_batch(
    State(state): State<ApiState>,
    JsonBody(request): JsonBody<BatchRequest>,
) -> Result<Json<BatchResponse>, ApiError> {
    if request.txs.len() > MAX_BATCH {
        return Err(ApiError::bad_request(
            "batch_too_large",
            format!("at most {MAX_BATCH} transactions per batch"),
        ));
    }
    let mut rejected = Vec::new();
    let mut decoded = Vec::new();
    let mut positions = Vec::new();
    for (index, text) in request.txs.iter().enumerate() {
        match decode_tx(text) {
            Ok(tx) => {
                decoded.push(tx);
                positions.push(index);
            }
            Err((code, message)) => rejected.push(BatchRejection {
                index,
                code,
                message,
            }),
        }
    }
    let state_for_admit = state.clone();
    let verdicts = tokio::task::spawn_blocking(move || admit(&state_for_admit, decoded))
        .await
        .map_err(ApiError::internal)??;
    let mut accepted = Vec::new();
    for (index, verdict) in positions.into_iter().zip(verdicts) {
        match verdict {
            Ok(hash) => accepted.push(hash),
            Err(e) => rejected.push(BatchRejection {
                index,
                code: admit_code(&e).to_owned(),
                message: e.to_string(),
            }),
        }
    }
    rejected.sort_by_key(|r| r.index);
    Ok(Json(BatchResponse { accepted, rejected }))
}

fn parse_hash(text: &str) -> Result<Hash, ApiError> {
    Hash::from_hex(text).map_err(|e| ApiError::bad_request("bad_hash", e.to_string()))
}

/// Status and receipt of a transaction.
#[utoipa::path(get, path = "/v1/txs/{hash}", params(("hash" = String, Path, description = "transaction hash, hex")),
    responses((status = 200, body = TxStatus), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub(super) async fn tx_status(
    State(state): State<ApiState>,
    Path(hash): Path<String>,
) -> Result<Json<TxStatus>, ApiError> {
    let hash = parse_hash(&hash)?;
    // Mempool first, then the archive, then blocks in flight: a transaction
    // leaves the mempool when its block is committed, or when a leader finds
    // it already inside a parent block that is not final yet. One in none of
    // them is truly unknown. Both pending checks come before the snapshot:
    // a block that commits in between is then in the snapshot.
    let pending = state.mempool.contains(&hash) || state.chain.in_flight(&hash);
    let snapshot = state.chain.store().snapshot()?;
    if let Some((height, index)) = snapshot.tx_location(&hash)? {
        let receipt = snapshot
            .receipt(height, index)?
            .ok_or_else(|| ApiError::internal("indexed receipt is missing"))?;
        return Ok(Json(TxStatus {
            hash,
            status: TxState::Final,
            height: Some(height),
            receipt: Some(receipt),
        }));
    }
    if pending {
        return Ok(Json(TxStatus {
            hash,
            status: TxState::Pending,
            height: None,
            receipt: None,
        }));
    }
    Err(ApiError::not_found(format!(
        "transaction {hash} is unknown"
    )))
}

/// A finalized block: its header, digest and transaction hashes. `latest` names the tip.
#[utoipa::path(get, path = "/v1/blocks/{height}", params(("height" = String, Path, description = "a height, or `latest`")),
    responses((status = 200, body = BlockSummary), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub(super) async fn block_by_height(
    State(state): State<ApiState>,
    Path(height): Path<String>,
) -> Result<Json<BlockSummary>, ApiError> {
    let snapshot = state.chain.store().snapshot()?;
    let tip = snapshot.height().unwrap_or(0);
    let height = parse_height(&height, tip)?;
    let block = snapshot.block(height)?.ok_or_else(|| {
        ApiError::not_found(format!(
            "no finalized block at height {height} (tip is {tip})"
        ))
    })?;
    let txs: Vec<Hash> = block.txs.iter().map(Tx::hash).collect();
    Ok(Json(BlockSummary {
        height,
        digest: block.digest(),
        tx_count: txs.len(),
        header: block.header,
        txs,
    }))
}

fn parse_height(text: &str, tip: u64) -> Result<u64, ApiError> {
    match text {
        "latest" => Ok(tip),
        text => text.parse::<u64>().map_err(|_| {
            ApiError::bad_request("bad_height", "height must be a number or `latest`")
        }),
    }
}

/// Why a finalized block is final: the finalization certificate of the
/// nearest block at or above it that has one, and the headers linking the two.
#[utoipa::path(get, path = "/v1/blocks/{height}/finality", params(("height" = String, Path, description = "a height, or `latest`")),
    responses((status = 200, body = FinalityProof), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub(super) async fn finality(
    State(state): State<ApiState>,
    Path(height): Path<String>,
) -> Result<Json<FinalityProof>, ApiError> {
    let store = state.chain.store();
    let tip = state.chain.tip().0.height;
    let height = parse_height(&height, tip)?;
    if height == 0 {
        return Err(ApiError::not_found(
            "the genesis block has no certificate: genesis itself fixes it",
        ));
    }
    if height > tip {
        return Err(ApiError::not_found(format!(
            "no finalized block at height {height} (tip is {tip})"
        )));
    }
    let mut headers = Vec::new();
    let last = tip.min(height.saturating_add(MAX_FINALITY_WALK as u64 - 1));
    for at in height..=last {
        let block = store.block(at)?.ok_or_else(|| {
            ApiError::not_found(format!("no finalized block at height {at} (tip is {tip})"))
        })?;
        headers.push(block.header);
        if let Some(certificate) = state.certificates.at(at).await {
            return Ok(Json(FinalityProof {
                height,
                certificate: hex::encode(certificate),
                headers,
            }));
        }
    }
    Err(ApiError::not_found(format!(
        "no certificate yet for block {height} or the {} above it",
        last - height
    )))
}

/// A raw state value with its Merkle proof and the header it proves against.
#[utoipa::path(get, path = "/v1/state", params(StateParams),
    responses((status = 200, body = StateResponse), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody), (status = 410, body = ErrorBody)))]
pub(super) async fn state_query(
    State(state): State<ApiState>,
    Query(params): Query<StateParams>,
) -> Result<Json<StateResponse>, ApiError> {
    let key = hex::decode(&params.key)
        .map_err(|_| ApiError::bad_request("bad_key", "key must be hex"))?;
    if key.is_empty() || key.len() > 1024 {
        return Err(ApiError::bad_request(
            "bad_key",
            "key must be 1..=1024 bytes",
        ));
    }
    let store = state.chain.store();
    let (height, value, proof) = match params.height {
        Some(height) => {
            let (value, proof) = store.get_with_proof(&key, height)?;
            (height, value, proof)
        }
        None => store.get_latest_with_proof(&key)?,
    };
    let header = store
        .block(height)?
        .ok_or_else(|| ApiError::not_found(format!("no block at height {height}")))?
        .header;
    Ok(Json(StateResponse {
        key: params.key,
        height,
        value: value.map(hex::encode),
        proof: hex::encode(proof.0),
        header,
    }))
}

/// An account's nonce, balance, key state and roles.
#[utoipa::path(get, path = "/v1/accounts/{account}", params(("account" = String, Path, description = "did:salus or account id hex")),
    responses((status = 200, body = AccountResponse), (status = 400, body = ErrorBody)))]
pub(super) async fn account(
    State(state): State<ApiState>,
    Path(text): Path<String>,
) -> Result<Json<AccountResponse>, ApiError> {
    let id = parse_account(&text)?;
    let snapshot = state.chain.store().snapshot()?;
    let acct = auth::account(&snapshot, &id)?;
    Ok(Json(AccountResponse {
        account: id,
        did: id.did(),
        height: snapshot.height(),
        nonce: acct.nonce,
        balance: token::balance(&snapshot, &id)?,
        rotated_key: acct.key,
        disabled: acct.disabled,
        did_registered: identity::did_record(&snapshot, &id)?.is_some(),
        roles: identity::roles(&snapshot, &id)?
            .into_iter()
            .map(|(role, _)| role)
            .collect(),
    }))
}

/// Events that concern an account, newest first.
#[utoipa::path(get, path = "/v1/events", params(EventParams),
    responses((status = 200, body = EventsPage), (status = 400, body = ErrorBody)))]
pub(super) async fn events(
    State(state): State<ApiState>,
    Query(params): Query<EventParams>,
) -> Result<Json<EventsPage>, ApiError> {
    let id = parse_account(&params.account)?;
    let limit = page_size(params.limit);
    let before = parse_cursor(params.before.as_deref())?;
    let snapshot = state.chain.store().snapshot()?;
    let events = snapshot.events_for_account(&id, before, limit)?;
    let next = page_end(&events, limit);
    Ok(Json(EventsPage {
        account: id,
        events,
        next,
    }))
}

/// Node status: chain, tip and mempool.
#[utoipa::path(get, path = "/v1/status", responses((status = 200, body = StatusResponse)))]
pub(super) async fn status(
    State(state): State<ApiState>,
) -> Result<Json<StatusResponse>, ApiError> {
    let (tip, digest) = state.chain.tip();
    let validators = salus_consensus::peers::PeerSet::at_tip(&state.chain)?
        .primary
        .iter()
        .map(|v| v.key.to_hex())
        .collect();
    Ok(Json(StatusResponse {
        chain_id: state.chain.chain_id().to_owned(),
        height: tip.height,
        tip_digest: digest.to_hex(),
        state_root: tip.state_root.to_hex(),
        timestamp_ms: tip.timestamp_ms,
        mempool: state.mempool.len(),
        validators,
        network_tip: state.sync.network_tip().max(tip.height),
        syncing: state.sync.network_tip().saturating_sub(tip.height)
            >= salus_consensus::executor::SYNCING_LAG,
    }))
}
