//! A patient's consent, and who must receive a new version's key.

use salus_crypto::AgreementPublicKey;
use salus_types::consent::{Delegation, EmergencyPolicy, Grant, ReaderBasis};
use salus_types::{AccountId, Did};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

pub const CONSENT: &str = "/v1/consent";
pub const READERS: &str = "/v1/consent/readers";

#[derive(Debug, Clone, Serialize, Deserialize, IntoParams)]
pub struct PatientParams {
    /// The patient: did:salus or account id hex.
    pub patient: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct GrantState {
    #[schema(value_type = Object)]
    pub grant: Grant,
    /// Unrevoked and unexpired by the vault's clock.
    pub active: bool,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct DelegationState {
    #[schema(value_type = String)]
    pub delegate: Did,
    #[schema(value_type = Object)]
    pub delegation: Delegation,
}

/// A patient's unrevoked grants, running delegations and emergency policy.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct ConsentState {
    #[schema(value_type = String)]
    pub patient: Did,
    pub height: Option<u64>,
    pub grants: Vec<GrantState>,
    pub delegations: Vec<DelegationState>,
    #[schema(value_type = Object)]
    pub emergency_policy: EmergencyPolicy,
}

#[derive(Debug, Clone, Serialize, Deserialize, IntoParams)]
pub struct ReaderParams {
    pub patient: String,
    /// The record id (32 hex digits).
    pub record: String,
    /// Its category, e.g. `laboratory`.
    pub category: String,
}

/// One reader of a new version, with the basis a writer checks with proofs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Reader {
    #[schema(value_type = String)]
    pub account: AccountId,
    #[schema(value_type = String)]
    pub agreement_key: AgreementPublicKey,
    #[schema(value_type = Object)]
    pub basis: ReaderBasis,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct Readers {
    #[schema(value_type = String)]
    pub patient: Did,
    pub readers: Vec<Reader>,
}
