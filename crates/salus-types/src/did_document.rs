//! What a DID resolves to: W3C DID Core resolution results for `did:salus`
//! (from its on-chain record and roles) and `did:key` (from the key alone).

use salus_crypto::didkey::{DidKey, DidKeyError};
use serde::{Deserialize, Serialize};

use crate::identity::{DidRecord, Role, RoleGrant};
use crate::Did;

const DID_CONTEXTS: [&str; 3] = [
    "https://www.w3.org/ns/did/v1",
    "https://w3id.org/security/suites/ed25519-2020/v1",
    "https://w3id.org/security/suites/x25519-2020/v1",
];

/// A DID resolution result (DID Core §7.1).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
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
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
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

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct VerificationMethod {
    pub id: String,
    #[serde(rename = "type")]
    pub kind: String,
    pub controller: String,
    pub public_key_multibase: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ServiceEndpoint {
    pub id: String,
    #[serde(rename = "type")]
    pub kind: String,
    pub service_endpoint: String,
}

/// What the chain knows of a `did:salus` beyond its document; empty for a
/// `did:key`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
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

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
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

fn contexts() -> Vec<String> {
    DID_CONTEXTS.iter().map(|c| (*c).to_owned()).collect()
}

/// The resolution result for a registered `did:salus`. A deactivated DID
/// keeps no usable keys (DID Core §7.1.2).
pub fn resolve_salus(did: &Did, record: &DidRecord, roles: &[(Role, RoleGrant)]) -> DidResolution {
    let id = did.to_string();
    let key_id = format!("{id}#key-{}", record.key_version);
    let agreement_id = format!("{id}#agreement-{}", record.key_version);
    let live = !record.deactivated;
    let methods = vec![
        VerificationMethod {
            id: key_id.clone(),
            kind: "Ed25519VerificationKey2020".into(),
            controller: id.clone(),
            public_key_multibase: DidKey::Ed25519(record.verification_key).multibase(),
        },
        VerificationMethod {
            id: agreement_id.clone(),
            kind: "X25519KeyAgreementKey2020".into(),
            controller: id.clone(),
            public_key_multibase: DidKey::X25519(record.agreement_key).multibase(),
        },
    ];
    let only_if_live = |ids: Vec<String>| Some(if live { ids } else { Vec::new() });
    DidResolution {
        document: DidDocument {
            context: contexts(),
            controller: Some(id.clone()),
            verification_method: if live { methods } else { Vec::new() },
            authentication: only_if_live(vec![key_id.clone()]),
            assertion_method: only_if_live(vec![key_id]),
            key_agreement: only_if_live(vec![agreement_id]),
            service: Some(
                record
                    .services
                    .iter()
                    .map(|s| ServiceEndpoint {
                        id: format!("{id}#{}", s.id),
                        kind: s.kind.clone(),
                        service_endpoint: s.endpoint.clone(),
                    })
                    .collect(),
            ),
            id,
        },
        document_metadata: DocumentMetadata {
            created: Some(record.created_ms),
            updated: Some(record.updated_ms),
            version_id: Some(record.key_version.to_string()),
            deactivated: Some(record.deactivated),
            salus_roles: Some(roles.iter().map(|(r, _)| r.name().to_owned()).collect()),
        },
        resolution_metadata: ResolutionMetadata::json_ld(),
    }
}

/// The resolution result for a `did:key` (no chain state needed).
pub fn resolve_did_key(did: &str) -> Result<DidResolution, DidKeyError> {
    let key = DidKey::parse(did)?;
    let fragment = key.multibase();
    let method_id = format!("{did}#{fragment}");
    let (kind, signs) = match key {
        DidKey::Ed25519(_) => ("Ed25519VerificationKey2020", true),
        DidKey::X25519(_) => ("X25519KeyAgreementKey2020", false),
    };
    let relationship = |applies: bool| applies.then(|| vec![method_id.clone()]);
    Ok(DidResolution {
        document: DidDocument {
            context: contexts(),
            id: did.to_owned(),
            controller: None,
            verification_method: vec![VerificationMethod {
                id: method_id.clone(),
                kind: kind.into(),
                controller: did.to_owned(),
                public_key_multibase: fragment.clone(),
            }],
            authentication: relationship(signs),
            assertion_method: relationship(signs),
            key_agreement: relationship(!signs),
            service: None,
        },
        document_metadata: DocumentMetadata::default(),
        resolution_metadata: ResolutionMetadata::json_ld(),
    })
}
