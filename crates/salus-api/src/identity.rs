//! DID resolution: W3C DID Core resolution results for `did:salus` (from
//! chain state) and `did:key`.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// `/v1/dids/{did}`.
pub const RESOLVE: &str = "/v1/dids";

/// A DID resolution result (DID Core §7.1).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct DidResolution {
    #[serde(rename = "didDocument")]
    pub document: DidDocument,
    #[serde(rename = "didDocumentMetadata")]
    pub document_metadata: DocumentMetadata,
    #[serde(rename = "didResolutionMetadata")]
    pub resolution_metadata: ResolutionMetadata,
}

/// A DID document (DID Core §5). A relationship the DID does not have is
/// absent; a deactivated `did:salus` lists its relationships empty.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct DidDocument {
    #[serde(rename = "@context")]
    pub context: Vec<String>,
    pub id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub controller: Option<String>,
    pub verification_method: Vec<VerificationMethod>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub authentication: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub assertion_method: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key_agreement: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service: Option<Vec<ServiceEndpoint>>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct VerificationMethod {
    pub id: String,
    #[serde(rename = "type")]
    pub kind: String,
    pub controller: String,
    pub public_key_multibase: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ServiceEndpoint {
    pub id: String,
    #[serde(rename = "type")]
    pub kind: String,
    pub service_endpoint: String,
}

/// What the chain knows of a `did:salus` beyond its document; empty for a
/// `did:key`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct DocumentMetadata {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub updated: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deactivated: Option<bool>,
    /// The roles the DID holds on this chain.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub salus_roles: Option<Vec<String>>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ResolutionMetadata {
    pub content_type: String,
}

impl ResolutionMetadata {
    /// The DID Core JSON-LD representation.
    pub fn json_ld() -> Self {
        ResolutionMetadata {
            content_type: "application/did+ld+json".into(),
        }
    }
}
