//! Credential definitions, revocation registries, published sets and role
//! rules as finalized, and presentation verification for verifiers off
//! chain. Zero-knowledge objects travel as the JSON `salus_zk` defines
//! (`CredentialDefinition`, `RevocationStatus`, `RevocationUpdate`,
//! `PublicSet`, `PresentationRequest`, `Presentation`).

use std::collections::BTreeMap;

use salus_types::credentials::RoleRule;
use salus_types::Did;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::{IntoParams, ToSchema};

pub const DEFINITION: &str = "/v1/credentials/definition";
pub const REVOCATIONS: &str = "/v1/credentials/revocations";
pub const SET: &str = "/v1/credentials/set";
pub const RULE: &str = "/v1/credentials/rule";
pub const VERIFY: &str = "/v1/credentials/verify";

/// Revocation updates returned per page.
pub const MAX_UPDATES: u64 = 1_000;
/// Sets one verification may name.
pub const MAX_SETS: usize = 8;

#[derive(Debug, Clone, Serialize, Deserialize, IntoParams)]
pub struct IdParams {
    /// The definition or set id, e.g. `did:salus:…#license-v1`.
    pub id: String,
}

/// A credential definition with its issuer and current revocation status.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct PublishedDefinition {
    #[schema(value_type = String)]
    pub issuer: Did,
    /// A `salus_zk::CredentialDefinition`.
    #[schema(value_type = Object)]
    pub definition: Value,
    /// A `salus_zk::RevocationStatus`.
    #[schema(value_type = Object)]
    pub status: Value,
    pub published_ms: u64,
    pub height: Option<u64>,
}

#[derive(Debug, Clone, Serialize, Deserialize, IntoParams)]
pub struct RevocationParams {
    pub id: String,
    /// Updates after this epoch (the holder's witness epoch).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub after: Option<u64>,
}

/// The revocation updates a holder applies to bring its witness current.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct RevocationPage {
    /// The registry's current `salus_zk::RevocationStatus`.
    #[schema(value_type = Object)]
    pub status: Value,
    /// `salus_zk::RevocationUpdate`s, oldest first, at most `MAX_UPDATES`.
    #[schema(value_type = Vec<Object>)]
    pub updates: Vec<Value>,
    /// Whether the last update is the current epoch's.
    pub complete: bool,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct PublishedSet {
    #[schema(value_type = String)]
    pub publisher: Did,
    /// A `salus_zk::PublicSet`.
    #[schema(value_type = Object)]
    pub set: Value,
}

#[derive(Debug, Clone, Serialize, Deserialize, IntoParams)]
pub struct RuleParams {
    /// A role name, e.g. `provider`.
    pub role: String,
}

/// The credential that earns a role, and what its presentation must show.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct RuleResponse {
    #[schema(value_type = Object)]
    pub rule: RoleRule,
}

/// A presentation and the request it answers.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct VerifyRequest {
    /// A `salus_zk::PresentationRequest`.
    #[schema(value_type = Object)]
    pub request: Value,
    /// A `salus_zk::Presentation`.
    #[schema(value_type = Object)]
    pub presentation: Value,
}

/// A presentation that verified (anything else is a 4xx).
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct Verified {
    pub verified: bool,
    /// The definition id.
    pub definition: String,
    #[schema(value_type = String)]
    pub issuer: Did,
    pub revocation_epoch: u64,
    /// The disclosed attributes, by name (`salus_zk::AttributeValue`s).
    #[schema(value_type = Object)]
    pub revealed: BTreeMap<String, Value>,
    pub height: Option<u64>,
}
