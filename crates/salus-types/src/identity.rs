//! Wire types of the identity module: DID registration, key rotation,
//! deactivation and role attestation.

use borsh::{BorshDeserialize, BorshSerialize};
use salus_crypto::{AgreementPublicKey, PublicKey, Signature};
use serde::{Deserialize, Serialize};

use crate::layout::key;
use crate::AccountId;

pub const MAX_SERVICES: usize = 8;
pub const MAX_SERVICE_FIELD_LEN: usize = 256;

crate::named_enum! {
    /// The roles an authority can attest. Every role needs an attestation.
    Role, "role" {
        Patient = 0 => "patient",
        Provider = 1 => "provider",
        Insurer = 2 => "insurer",
        Researcher = 3 => "researcher",
        Oracle = 4 => "oracle",
        Manufacturer = 5 => "manufacturer",
        Regulator = 6 => "regulator",
        Board = 7 => "board",
    }
}

/// A DID document service entry (W3C DID Core §5.4).
#[derive(Debug, Clone, PartialEq, Eq, BorshSerialize, BorshDeserialize, Serialize, Deserialize)]
pub struct Service {
    /// Fragment, e.g. `vault` (the document shows `did:salus:…#vault`).
    pub id: String,
    /// e.g. `SalusVault`, `LinkedDomains`.
    #[serde(rename = "type")]
    pub kind: String,
    pub endpoint: String,
}

#[derive(Debug, Clone, PartialEq, Eq, BorshSerialize, BorshDeserialize, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum IdentityAction {
    /// Registers `did:salus:<signer>` with the transaction's signing key as its
    /// verification key.
    Register {
        agreement_key: AgreementPublicKey,
        services: Vec<Service>,
    },
    /// Replaces the signer's keys. `possession` is the new key's signature over
    /// [`rotation_message`], so no one can rotate to a key they do not hold.
    RotateKeys {
        new_key: PublicKey,
        new_agreement_key: AgreementPublicKey,
        possession: Signature,
    },
    SetServices {
        services: Vec<Service>,
    },
    /// Permanent: a deactivated DID resolves with `deactivated: true` and can no
    /// longer sign.
    Deactivate,
    AttestRole {
        subject: AccountId,
        role: Role,
    },
    RevokeRole {
        subject: AccountId,
        role: Role,
    },
}

/// What the new key signs to prove possession during rotation.
pub fn rotation_message(chain_id: &str, account: &AccountId, new_key: &PublicKey) -> Vec<u8> {
    let mut message = b"salus/rotate/v1\0".to_vec();
    message.extend_from_slice(&(chain_id.len() as u32).to_be_bytes());
    message.extend_from_slice(chain_id.as_bytes());
    message.extend_from_slice(&account.0);
    message.extend_from_slice(&new_key.0);
    message
}

/// A registered DID, as stored on chain.
#[derive(Debug, Clone, PartialEq, Eq, BorshSerialize, BorshDeserialize, Serialize, Deserialize)]
pub struct DidRecord {
    pub verification_key: PublicKey,
    pub agreement_key: AgreementPublicKey,
    pub services: Vec<Service>,
    pub created_ms: u64,
    pub updated_ms: u64,
    /// How many times the keys were rotated; key ids in the DID document use it.
    pub key_version: u32,
    pub deactivated: bool,
}

/// A role attestation, as stored on chain.
#[derive(Debug, Clone, PartialEq, Eq, BorshSerialize, BorshDeserialize, Serialize, Deserialize)]
pub struct RoleGrant {
    pub attested_by: AccountId,
    pub attested_ms: u64,
}

#[derive(Debug, Clone, PartialEq, Eq, BorshSerialize, BorshDeserialize, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum IdentityEvent {
    Registered {
        account: AccountId,
    },
    KeysRotated {
        account: AccountId,
        key_version: u32,
    },
    ServicesUpdated {
        account: AccountId,
    },
    Deactivated {
        account: AccountId,
    },
    RoleAttested {
        subject: AccountId,
        role: Role,
        by: AccountId,
    },
    RoleRevoked {
        subject: AccountId,
        role: Role,
        by: AccountId,
    },
    /// Governance made `account` an authority for exactly `roles` (none:
    /// no longer one).
    AuthoritySet {
        account: AccountId,
        roles: Vec<Role>,
    },
}

impl IdentityEvent {
    pub fn accounts(&self) -> Vec<AccountId> {
        match self {
            IdentityEvent::Registered { account }
            | IdentityEvent::KeysRotated { account, .. }
            | IdentityEvent::ServicesUpdated { account }
            | IdentityEvent::Deactivated { account }
            | IdentityEvent::AuthoritySet { account, .. } => vec![*account],
            IdentityEvent::RoleAttested { subject, by, .. }
            | IdentityEvent::RoleRevoked { subject, by, .. } => vec![*subject, *by],
        }
    }
}

/// Who may attest which roles: the first set, named at genesis; governance
/// appoints and removes authorities after that.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RoleAuthority {
    pub account: AccountId,
    pub roles: Vec<Role>,
}

#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct IdentityGenesis {
    pub authorities: Vec<RoleAuthority>,
}

// Error codes: 200..299 (the registry's range for this module).

crate::error_codes! {
    DidAlreadyRegistered = 201 => "did_already_registered",
    DidNotFound = 202 => "did_not_found",
    DidDeactivated = 203 => "did_deactivated",
    NotAnAuthority = 204 => "not_an_authority",
    RoleAlreadyHeld = 205 => "role_already_held",
    RoleNotHeld = 206 => "role_not_held",
    BadKeyPossession = 207 => "bad_key_possession",
    InvalidService = 208 => "invalid_service",
}

// State layout: every key of this module starts with `PREFIX/`.

pub const PREFIX: &str = "identity";

pub fn did_key(account: &AccountId) -> Vec<u8> {
    key(PREFIX, "did", &account.0)
}

pub fn role_key(account: &AccountId, role: Role) -> Vec<u8> {
    let mut id = account.0.to_vec();
    id.push(role.code());
    key(PREFIX, "role", &id)
}

pub fn authority_key(account: &AccountId) -> Vec<u8> {
    key(PREFIX, "authority", &account.0)
}
