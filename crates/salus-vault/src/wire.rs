//! The JSON bodies of the vault's HTTP endpoints. Signed requests travel as hex
//! of their canonical encoding (like transactions); ciphertext travels as
//! standard base64.

use base64::Engine as _;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::VaultError;

pub fn to_base64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

pub fn from_base64(text: &str) -> Result<Vec<u8>, VaultError> {
    base64::engine::general_purpose::STANDARD
        .decode(text)
        .map_err(|_| VaultError::Malformed("content is not standard base64".into()))
}

/// `POST /v1/vault/read`.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct ReadBody {
    /// Hex of each signed read request; with `bundle_signature`, hex of each
    /// unsigned read request of the bundle.
    pub requests: Vec<String>,
    /// Hex of one signature over all `requests` as a bundle (the domain, the
    /// count, and the SHA-256 of each request, in order): a client reading
    /// many records signs once. Each request must name the signing key.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bundle_signature: Option<String>,
}

/// `POST /v1/vault/records`.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct WriteBody {
    pub uploads: Vec<UploadItem>,
    /// Hex of one signature over every upload's request as a bundle (see
    /// `ReadBody::bundle_signature`); each request must name the signing key.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bundle_signature: Option<String>,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct UploadItem {
    /// Hex of the signed write request; with `bundle_signature`, hex of the
    /// unsigned write request.
    pub request: String,
    /// Base64 of the ciphertext, when the request names one.
    pub content: Option<String>,
}

/// `POST /v1/vault/replica`.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct ReplicaBody {
    /// Hex of the signed replica request.
    pub request: String,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct ReplicaResponse {
    /// Base64 of the ciphertext.
    pub content: String,
    #[schema(value_type = Vec<Object>)]
    pub envelopes: Vec<salus_types::vault::KeyEnvelope>,
}

impl ReplicaResponse {
    pub fn new(content: &[u8], envelopes: Vec<salus_types::vault::KeyEnvelope>) -> Self {
        ReplicaResponse {
            content: to_base64(content),
            envelopes,
        }
    }
}

/// A served record version.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct ServedRecord {
    pub record: String,
    pub version: u32,
    pub patient: String,
    /// Why access was allowed: `owner`, `guardian`, `author`, `grant`, `emergency`.
    pub reason: String,
    pub grant: Option<u64>,
    pub ciphertext_hash: String,
    /// Base64 ciphertext; absent when only the key was asked for.
    pub content: Option<String>,
    /// The requester's wrapped data key.
    #[schema(value_type = Object)]
    pub envelope: salus_types::vault::KeyEnvelope,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct StoredRecord {
    pub record: String,
    pub version: u32,
    pub content_stored: bool,
    pub envelopes: usize,
}

/// One item's failure in a batch.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct ItemError {
    pub code: String,
    pub message: String,
}

impl From<&VaultError> for ItemError {
    fn from(e: &VaultError) -> Self {
        let message = match e {
            // Storage faults name paths and peers: those belong in the node's log.
            VaultError::Storage(detail) => {
                tracing::error!(%detail, "vault storage fault while serving a request");
                "internal error; see the node log".to_owned()
            }
            other => other.to_string(),
        };
        ItemError {
            code: e.code().to_owned(),
            message,
        }
    }
}

impl<T> ItemResult<T> {
    /// The item's value, or its error as (code, message).
    pub fn into_result(self) -> Result<T, ItemError> {
        match (self.ok, self.error) {
            (Some(value), _) => Ok(value),
            (None, Some(e)) => Err(e),
            (None, None) => Err(ItemError {
                code: "empty_result".into(),
                message: "the vault sent an empty result".into(),
            }),
        }
    }
}

/// One item's outcome: exactly one of `ok` and `error` is present.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct ItemResult<T> {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ok: Option<T>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<ItemError>,
}

impl<T> ItemResult<T> {
    pub fn from_result(result: Result<T, &VaultError>) -> Self {
        match result {
            Ok(value) => ItemResult {
                ok: Some(value),
                error: None,
            },
            Err(e) => ItemResult {
                ok: None,
                error: Some(e.into()),
            },
        }
    }
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct ReadResponse {
    pub results: Vec<ItemResult<ServedRecord>>,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct WriteResponse {
    pub results: Vec<ItemResult<StoredRecord>>,
}

/// Decodes hex of a signed request.
pub fn decode_request<T: salus_types::vault::VaultRequest>(
    text: &str,
) -> Result<salus_types::vault::Signed<T>, VaultError> {
    let bytes =
        hex::decode(text).map_err(|_| VaultError::Malformed("request is not hex".into()))?;
    salus_types::vault::Signed::decode(&bytes).map_err(|e| VaultError::Malformed(e.to_string()))
}
