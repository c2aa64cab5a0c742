//! The vault endpoints: signed reads and writes of encrypted records, and
//! replication between vaults. Per-item failures come back in `results`, each
//! with a stable code; a malformed body as a whole is a 4xx.

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use salus_api::vault::{
    ReadBody, ReadResponse, ReplicaBody, ReplicaResponse, ServedRecord, StoredRecord, VaultInfo,
    WriteBody, WriteResponse, MAX_VAULT_BATCH,
};
use salus_api::ErrorBody;
use salus_crypto::Signature;
use salus_types::vault::{ReadRequest, ReplicaRequest, VaultRequest, WriteRequest};
use salus_vault::wire::{decode_request, from_base64, item_result};
use salus_vault::{Opened, Served, Upload, VaultError};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::error::ApiError;
use super::{ApiState, JsonBody};

pub(super) fn routes() -> OpenApiRouter<ApiState> {
    OpenApiRouter::new()
        .routes(routes!(vault_info))
        .routes(routes!(read))
        .routes(routes!(write))
        .routes(routes!(replica))
}

fn vault_error(e: &VaultError) -> ApiError {
    let status = StatusCode::from_u16(e.status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    if let VaultError::Storage(message) = e {
        return ApiError::internal(message);
    }
    ApiError::new(status, e.code(), e.to_string())
}

fn check_batch(len: usize) -> Result<(), ApiError> {
    if len == 0 || len > MAX_VAULT_BATCH {
        return Err(ApiError::bad_request(
            "bad_batch",
            format!("send 1..={MAX_VAULT_BATCH} items"),
        ));
    }
    Ok(())
}

/// Decodes a batch's requests (hex of each): one verdict per request, each
/// authentic by its own signature, or, with a `bundle_signature` (hex), by
/// the bundle's. A malformed bundle as a whole is a 400.
fn decode_requests<T: VaultRequest>(
    requests: &[&str],
    bundle_signature: Option<&str>,
) -> Result<Vec<Opened<T>>, ApiError> {
    let Some(signature) = bundle_signature else {
        return Ok(requests
            .iter()
            .map(|text| decode_request::<T>(text).map(|r| (r, true)))
            .collect());
    };
    let signature = Signature::from_hex(signature).map_err(|_| {
        ApiError::bad_request(
            "malformed_request",
            "bundle_signature is not 64 bytes of hex",
        )
    })?;
    let encoded = requests
        .iter()
        .map(hex::decode)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|_| ApiError::bad_request("malformed_request", "a bundled request is not hex"))?;
    Ok(salus_vault::open_bundle(&encoded, &signature))
}

/// This node's vault: the operator account that requests must name.
#[utoipa::path(get, path = "/v1/vault", responses((status = 200, body = VaultInfo)))]
pub(super) async fn vault_info(State(state): State<ApiState>) -> Result<Json<VaultInfo>, ApiError> {
    let vault = state.vault.clone();
    let pending = tokio::task::spawn_blocking(move || vault.ledger().pending_audit_len())
        .await
        .map_err(ApiError::internal)?
        .map_err(|e| vault_error(&e))?;
    Ok(Json(VaultInfo {
        account: state.vault.account(),
        did: state.vault.account().did(),
        chain_id: state.vault.chain_id().to_owned(),
        pending_audit_entries: pending,
    }))
}

fn served_json(served: Served) -> ServedRecord {
    ServedRecord {
        record: served.record.to_hex(),
        version: served.version,
        patient: served.patient.did().to_string(),
        reason: served.reason.name().to_owned(),
        grant: served.grant,
        ciphertext_hash: served.ciphertext_hash.to_hex(),
        content: served.content.as_deref().map(salus_api::vault::to_base64),
        envelope: served.envelope,
    }
}

/// Read record versions. Each request is hex of a signed `ReadRequest`: fresh,
/// addressed to this vault, signed by the requester's current key. Consent is
/// checked on the latest finalized state, and every decided request, allowed
/// or denied, is logged for the patient's audit trail before the answer.
#[utoipa::path(post, path = "/v1/vault/read", request_body = ReadBody,
    responses((status = 200, body = ReadResponse), (status = 400, body = ErrorBody)))]
pub(super) async fn read(
    State(state): State<ApiState>,
    JsonBody(body): JsonBody<ReadBody>,
) -> Result<Json<ReadResponse>, ApiError> {
    check_batch(body.requests.len())?;
    let texts: Vec<&str> = body.requests.iter().map(String::as_str).collect();
    let decoded: Vec<Opened<ReadRequest>> =
        decode_requests(&texts, body.bundle_signature.as_deref())?;
    let (valid, authentic): (Vec<_>, Vec<_>) = decoded
        .iter()
        .filter_map(|r| r.as_ref().ok().cloned())
        .unzip();
    let mut served = match body.bundle_signature {
        None => state.vault.read(valid).await.into_iter(),
        Some(_) => state.vault.read_bundled(valid, authentic).await.into_iter(),
    };
    let results = decoded
        .iter()
        .map(|item| match item {
            Err(e) => item_result(Err(e)),
            Ok(_) => match served.next() {
                Some(Ok(s)) => item_result(Ok(served_json(s))),
                Some(Err(e)) => item_result(Err(&e)),
                None => item_result(Err(&VaultError::Storage("missing result".into()))),
            },
        })
        .collect();
    Ok(Json(ReadResponse { results }))
}

/// Store ciphertext and/or key envelopes for anchored record versions. The
/// content must hash to the anchor; the writer must be the version's author,
/// the patient or a guardian.
#[utoipa::path(post, path = "/v1/vault/records", request_body = WriteBody,
    responses((status = 200, body = WriteResponse), (status = 400, body = ErrorBody)))]
pub(super) async fn write(
    State(state): State<ApiState>,
    JsonBody(body): JsonBody<WriteBody>,
) -> Result<Json<WriteResponse>, ApiError> {
    check_batch(body.uploads.len())?;
    let texts: Vec<&str> = body.uploads.iter().map(|u| u.request.as_str()).collect();
    let requests: Vec<Opened<WriteRequest>> =
        decode_requests(&texts, body.bundle_signature.as_deref())?;
    let decoded: Vec<Result<(Upload, bool), VaultError>> = requests
        .into_iter()
        .zip(&body.uploads)
        .map(|(request, item)| {
            let (request, authentic) = request?;
            let content = item.content.as_deref().map(from_base64).transpose()?;
            Ok((Upload { request, content }, authentic))
        })
        .collect();
    let (valid, authentic): (Vec<Upload>, Vec<bool>) = decoded
        .iter()
        .filter_map(|r| r.as_ref().ok().cloned())
        .unzip();
    let mut stored = match body.bundle_signature {
        None => state.vault.write(valid).await.into_iter(),
        Some(_) => state
            .vault
            .write_bundled(valid, authentic)
            .await
            .into_iter(),
    };
    let results = decoded
        .iter()
        .map(|item| match item {
            Err(e) => item_result(Err(e)),
            Ok((upload, _)) => match stored.next() {
                Some(Ok(s)) => item_result(Ok(StoredRecord {
                    record: upload.request.body.record.to_hex(),
                    version: upload.request.body.version,
                    content_stored: s.content_stored,
                    envelopes: s.envelopes,
                })),
                Some(Err(e)) => item_result(Err(&e)),
                None => item_result(Err(&VaultError::Storage("missing result".into()))),
            },
        })
        .collect();
    Ok(Json(WriteResponse { results }))
}

/// Another vault operator fetches a version this vault holds (replication).
#[utoipa::path(post, path = "/v1/vault/replica", request_body = ReplicaBody,
    responses((status = 200, body = ReplicaResponse), (status = 400, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub(super) async fn replica(
    State(state): State<ApiState>,
    JsonBody(body): JsonBody<ReplicaBody>,
) -> Result<Json<ReplicaResponse>, ApiError> {
    let request = decode_request::<ReplicaRequest>(&body.request).map_err(|e| vault_error(&e))?;
    let (content, envelopes) = state
        .vault
        .replica(request)
        .await
        .map_err(|e| vault_error(&e))?;
    Ok(Json(ReplicaResponse::new(&content, envelopes)))
}
