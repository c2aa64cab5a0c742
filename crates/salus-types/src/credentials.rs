//! Wire types of the credentials module: issuers' credential definitions and
//! revocation registries, published sets, and the rules by which a
//! zero-knowledge presentation earns a role.
//!
//! The cryptographic objects (definitions, sets, revocation updates,
//! presentations) travel as the JSON that `salus-zk` defines, so this crate
//! stays free of the ZK stack; the credentials module decodes and checks them.

use borsh::{BorshDeserialize, BorshSerialize};
use serde::{Deserialize, Serialize};

use crate::identity::Role;
use crate::layout::key;
use crate::AccountId;

/// The largest JSON object one action may carry (a transaction is at most 64 KiB).
pub const MAX_OBJECT_BYTES: usize = 48 * 1024;
/// Attribute equalities one role rule may require.
pub const MAX_RULE_REQUIREMENTS: usize = 8;

/// The roles that may issue credentials: boards certify providers;
/// providers (hospitals, labs) certify facts about patients.
pub const ISSUER_ROLES: &[Role] = &[Role::Board, Role::Provider];

#[derive(Debug, Clone, PartialEq, Eq, BorshSerialize, BorshDeserialize, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum CredentialAction {
    /// Publishes a credential definition (schema, issuer key, range
    /// parameters, revocation registry) with its registry's status at epoch
    /// 0 (`salus_zk::RevocationStatus` as JSON). Its id must be the
    /// signer's DID and a fragment: `did:salus:<signer>#<name>`.
    Define { definition: String, status: String },
    /// Publishes a set (e.g. vaccine codes) that presentations can prove a
    /// hidden attribute belongs to. Its id is `did:salus:<signer>#<name>` too.
    PublishSet { set: String },
    /// The issuer revokes one credential: `update` is the next epoch of its
    /// registry. If the issuer names the holder, a role the holder claimed
    /// with this definition is withdrawn in the same transaction.
    Revoke {
        definition: String,
        update: String,
        holder: Option<AccountId>,
    },
    /// An authority for `rule.role` says which credential earns it.
    SetRoleRule { rule: RoleRule },
    /// Claims a role with a presentation that satisfies its rule. The
    /// presentation must answer the nonce [`claim_nonce`] of this
    /// transaction, so it cannot be replayed or used by anyone else.
    /// `as_of` is the date (YYYYMMDD) the claimant proved validity on: the
    /// block's date or the day before (a claim made just before midnight).
    ClaimRole {
        role: Role,
        as_of: u32,
        presentation: String,
    },
}

/// Which credential earns a role, and what its presentation must show.
#[derive(Debug, Clone, PartialEq, Eq, BorshSerialize, BorshDeserialize, Serialize, Deserialize)]
pub struct RoleRule {
    pub role: Role,
    pub definition: String,
    /// A text attribute the claimant must disclose, equal to its own DID.
    pub subject_attribute: String,
    /// Text attributes the claimant must disclose with exactly these values
    /// (e.g. `specialty` = `cardiology`).
    pub required: Vec<(String, String)>,
    /// A date attribute proven (not disclosed) to be on or after the
    /// block's date, e.g. a license's `valid_until`.
    pub valid_until_attribute: Option<String>,
}

/// A definition as the chain keeps it.
#[derive(Debug, Clone, PartialEq, Eq, BorshSerialize, BorshDeserialize, Serialize, Deserialize)]
pub struct DefinitionRecord {
    pub issuer: AccountId,
    /// `salus_zk::CredentialDefinition` as JSON.
    pub definition: String,
    /// `salus_zk::RevocationStatus` as JSON: the current epoch and value.
    pub status: String,
    pub epoch: u64,
    pub published_ms: u64,
}

/// A role earned with a credential, so that revoking the credential can
/// withdraw it.
#[derive(Debug, Clone, PartialEq, Eq, BorshSerialize, BorshDeserialize, Serialize, Deserialize)]
pub struct ClaimedRole {
    pub definition: String,
    pub claimed_ms: u64,
}

#[derive(Debug, Clone, PartialEq, Eq, BorshSerialize, BorshDeserialize, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum CredentialEvent {
    Defined {
        issuer: AccountId,
        definition: String,
    },
    SetPublished {
        publisher: AccountId,
        set: String,
    },
    Revoked {
        issuer: AccountId,
        definition: String,
        epoch: u64,
    },
    RoleRuleSet {
        by: AccountId,
        role: Role,
        definition: String,
    },
    RoleClaimed {
        subject: AccountId,
        role: Role,
        definition: String,
    },
    ClaimedRoleWithdrawn {
        subject: AccountId,
        role: Role,
        definition: String,
    },
}

impl CredentialEvent {
    pub fn accounts(&self) -> Vec<AccountId> {
        match self {
            CredentialEvent::Defined { issuer, .. } | CredentialEvent::Revoked { issuer, .. } => {
                vec![*issuer]
            }
            CredentialEvent::SetPublished { publisher, .. } => vec![*publisher],
            CredentialEvent::RoleRuleSet { by, .. } => vec![*by],
            CredentialEvent::RoleClaimed { subject, .. }
            | CredentialEvent::ClaimedRoleWithdrawn { subject, .. } => {
                vec![*subject]
            }
        }
    }
}

/// The nonce a role claim's presentation answers: it binds the proof to the
/// chain, the claimant, the role and the claim transaction's nonce.
pub fn claim_nonce(chain_id: &str, claimant: &AccountId, role: Role, tx_nonce: u64) -> Vec<u8> {
    let mut message = Vec::new();
    message.extend_from_slice(&(chain_id.len() as u32).to_be_bytes());
    message.extend_from_slice(chain_id.as_bytes());
    message.extend_from_slice(&claimant.0);
    message.push(role.code());
    message.extend_from_slice(&tx_nonce.to_be_bytes());
    salus_crypto::sha256("salus/credential-claim/v1", &message)
        .0
        .to_vec()
}

pub use crate::calendar::date_of;

// Error codes: 700..799 (the registry's range for this module).

crate::error_codes! {
    NotAnIssuer = 701 => "not_an_issuer",
    BadCredentialObject = 702 => "bad_credential_object",
    DefinitionExists = 703 => "definition_exists",
    UnknownDefinition = 704 => "unknown_definition",
    NotTheIssuer = 705 => "not_the_issuer",
    BadRevocationUpdate = 706 => "bad_revocation_update",
    SetExists = 707 => "set_exists",
    UnknownRoleRule = 708 => "unknown_role_rule",
    BadRoleRule = 709 => "bad_role_rule",
    PresentationRejected = 710 => "presentation_rejected",
}

// State layout: every key of this module starts with `PREFIX/`.

pub const PREFIX: &str = "credentials";

pub fn definition_key(id: &str) -> Vec<u8> {
    key(PREFIX, "definition", id.as_bytes())
}

pub fn update_key(id: &str, epoch: u64) -> Vec<u8> {
    let mut raw = id.as_bytes().to_vec();
    raw.push(0);
    raw.extend_from_slice(&epoch.to_be_bytes());
    key(PREFIX, "revocation", &raw)
}

pub fn set_key(id: &str) -> Vec<u8> {
    key(PREFIX, "set", id.as_bytes())
}

pub fn rule_key(role: Role) -> Vec<u8> {
    key(PREFIX, "rule", &[role.code()])
}

pub fn claimed_key(subject: &AccountId, role: Role) -> Vec<u8> {
    let mut raw = subject.0.to_vec();
    raw.push(role.code());
    key(PREFIX, "claimed", &raw)
}
