//! The vault endpoints: signed reads and writes of encrypted records, and
//! replication between vaults. Signed requests travel as hex of their
//! canonical encoding (like transactions); ciphertext travels as standard
//! base64. Per-item failures come back in `results`, each with a code.

use base64::Engine as _;
use salus_types::vault::KeyEnvelope;
use salus_types::{AccountId, Did};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

pub const INFO: &str = "/v1/vault";
pub const READ: &str = "/v1/vault/read";
pub const WRITE: &str = "/v1/vault/records";
pub const REPLICA: &str = "/v1/vault/replica";

/// The most requests or uploads in one vault call.
pub const MAX_VAULT_BATCH: usize = 1_000;

pub fn to_base64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

/// Decodes standard base64; `None` for anything else.
pub fn from_base64(text: &str) -> Option<Vec<u8>> {
    base64::engine::general_purpose::STANDARD.decode(text).ok()
}

/// This node's vault: the operator account that requests must name.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct VaultInfo {
    #[schema(value_type = String)]
    pub account: AccountId,
    #[schema(value_type = String)]
    pub did: Did,
    pub chain_id: String,
    /// Access entries decided but not yet final on chain.
    pub pending_audit_entries: u64,
}

/// `POST /v1/vault/read`.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
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
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct WriteBody {
    pub uploads: Vec<UploadItem>,
    /// Hex of one signature over every upload's request as a bundle (see
    /// `ReadBody::bundle_signature`); each request must name the signing key.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bundle_signature: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct UploadItem {
    /// Hex of the signed write request; with `bundle_signature`, hex of the
    /// unsigned write request.
    pub request: String,
    /// Base64 of the ciphertext, when the request names one.
    pub content: Option<String>,
}

/// `POST /v1/vault/replica`.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct ReplicaBody {
    /// Hex of the signed replica request.
    pub request: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct ReplicaResponse {
    /// Base64 of the ciphertext.
    pub content: String,
    #[schema(value_type = Vec<Object>)]
    pub envelopes: Vec<KeyEnvelope>,
}

impl ReplicaResponse {
    pub fn new(content: &[u8], envelopes: Vec<KeyEnvelope>) -> Self {
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
    pub envelope: KeyEnvelope,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct StoredRecord {
    pub record: String,
    pub version: u32,
    pub content_stored: bool,
    pub envelopes: usize,
}

/// One item's failure in a batch.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct ItemError {
    pub code: String,
    pub message: String,
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
    pub fn ok(value: T) -> Self {
        ItemResult {
            ok: Some(value),
            error: None,
        }
    }

    pub fn err(error: ItemError) -> Self {
        ItemResult {
            ok: None,
            error: Some(error),
        }
    }

    /// The item's value, or its error.
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

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct ReadResponse {
    pub results: Vec<ItemResult<ServedRecord>>,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct WriteResponse {
    pub results: Vec<ItemResult<StoredRecord>>,
}
