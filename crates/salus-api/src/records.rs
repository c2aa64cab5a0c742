//! Record anchors: a patient's records and a record's versions (never
//! content).

use salus_types::records::{RecordHead, RecordId, RecordVersion};
use salus_types::{Did, Hash};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

pub const LIST: &str = "/v1/records";
/// `/v1/records/{record}`.
pub const HISTORY: &str = "/v1/records";

#[derive(Debug, Clone, Serialize, Deserialize, IntoParams)]
pub struct ListParams {
    /// The patient: did:salus or account id hex.
    pub patient: String,
    /// Continue after this record id (paging).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub after: Option<String>,
    /// At most this many (default 100, at most 500).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub limit: Option<usize>,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct RecordListing {
    #[schema(value_type = String)]
    pub record: RecordId,
    #[schema(value_type = Object)]
    pub head: RecordHead,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct RecordList {
    #[schema(value_type = String)]
    pub patient: Did,
    pub height: Option<u64>,
    pub records: Vec<RecordListing>,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct AnchoredVersion {
    #[schema(value_type = Object)]
    pub anchor: RecordVersion,
    /// What the next version names as `previous`.
    #[schema(value_type = String)]
    pub digest: Hash,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct RecordHistory {
    #[schema(value_type = String)]
    pub record: RecordId,
    #[schema(value_type = String)]
    pub patient: Did,
    #[schema(value_type = Object)]
    pub head: RecordHead,
    /// Oldest first.
    pub versions: Vec<AnchoredVersion>,
}
