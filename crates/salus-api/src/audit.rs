//! A patient's audit trail.

use salus_types::audit::AuditHead;
use salus_types::{Did, EventRecord};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

pub const AUDIT: &str = "/v1/audit";

#[derive(Debug, Clone, Serialize, Deserialize, IntoParams)]
pub struct AuditParams {
    pub patient: String,
    /// Only entries strictly before this cursor: a height, or the `next` of
    /// the previous page (`height.tx.event`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub before: Option<String>,
    /// At most this many (default 100, at most 500).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub limit: Option<usize>,
}

/// A page of a patient's audit trail, newest first, with the hash-chained
/// log head that commits to every access.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct AuditTrail {
    #[schema(value_type = String)]
    pub patient: Did,
    pub height: Option<u64>,
    #[schema(value_type = Object)]
    pub log_head: AuditHead,
    /// The cursor of the next page, when this one is full.
    pub next: Option<String>,
    #[schema(value_type = Vec<Object>)]
    pub entries: Vec<EventRecord>,
}
