//! Wire types of the consent module: grants, delegation, break-glass emergency
//! access, and the access decisions vaults make from them.

use borsh::{BorshDeserialize, BorshSerialize};
use serde::{Deserialize, Serialize};

use crate::layout::key;
use crate::records::{Category, RecordId};
use crate::AccountId;

/// At most this many categories or record ids in one grant's scope.
pub const MAX_SCOPE_ITEMS: usize = 64;
/// At most this many grants are active for one patient at a time.
pub const MAX_ACTIVE_GRANTS: u32 = 256;
/// The longest a grant or delegation may run: about five years.
pub const MAX_GRANT_MS: u64 = 5 * 366 * 24 * 3600 * 1000;
/// The longest break-glass window a patient may allow.
pub const MAX_EMERGENCY_WINDOW_MS: u64 = 72 * 3600 * 1000;
/// At most this many providers may be named as emergency responders.
pub const MAX_RESPONDERS: usize = 16;

crate::named_enum! {
    /// Why data is used (HIPAA-style purposes of use).
    Purpose, "purpose" {
        Treatment = 0 => "treatment",
        Payment = 1 => "payment",
        Operations = 2 => "operations",
        Research = 3 => "research",
        PublicHealth = 4 => "public_health",
        /// Only through break-glass access, never through a grant.
        Emergency = 5 => "emergency",
    }
}

crate::named_enum! {
    /// What a delegate may do for a patient.
    DelegateKind, "delegate kind" {
        /// Manages consent and reads records (a parent, a legal guardian).
        Guardian = 0 => "guardian",
        /// Manages consent only (a care coordinator).
        Proxy = 1 => "proxy",
    }
}

crate::named_enum! {
    /// Why a provider opened break-glass access. A code, not free text, so that
    /// no clinical detail lands on chain.
    EmergencyReason, "emergency reason" {
        Unconscious = 0 => "unconscious",
        LifeThreatening = 1 => "life_threatening",
        UrgentCare = 2 => "urgent_care",
    }
}

crate::named_enum! {
    /// The outcome of an access check, and why. Codes below 10 allow.
    AccessReason, "access reason" {
        Owner = 0 => "owner",
        Guardian = 1 => "guardian",
        Author = 2 => "author",
        Grant = 3 => "grant",
        Emergency = 4 => "emergency",
        NoGrant = 10 => "no_grant",
        Expired = 11 => "expired",
        Revoked = 12 => "revoked",
        WrongPurpose = 13 => "wrong_purpose",
        OutOfScope = 14 => "out_of_scope",
        Erased = 15 => "erased",
        UnknownVersion = 16 => "unknown_version",
        KeyNotShared = 17 => "key_not_shared",
    }
}

impl AccessReason {
    pub fn allows(self) -> bool {
        self.code() < 10
    }
}

/// Why a reader must receive a record's key, so that a writer can check the
/// claim against proven state instead of taking a node's word for it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", content = "grant", rename_all = "snake_case")]
pub enum ReaderBasis {
    Patient,
    Guardian,
    Responder,
    Grant(u64),
}

/// What a grant covers.
#[derive(Debug, Clone, PartialEq, Eq, BorshSerialize, BorshDeserialize, Serialize, Deserialize)]
#[serde(tag = "type", content = "items", rename_all = "snake_case")]
pub enum Scope {
    All,
    Categories(Vec<Category>),
    Records(Vec<RecordId>),
}

impl Scope {
    pub fn covers(&self, record: &RecordId, category: Category) -> bool {
        match self {
            Scope::All => true,
            Scope::Categories(categories) => categories.contains(&category),
            Scope::Records(records) => records.contains(record),
        }
    }

    /// Parses `all`, `categories:laboratory,imaging` or `records:<hex>,<hex>`.
    pub fn parse(text: &str) -> Result<Scope, String> {
        if text == "all" {
            return Ok(Scope::All);
        }
        let (kind, items) = text.split_once(':').ok_or_else(|| {
            format!("scope `{text}` must be `all`, `categories:…` or `records:…`")
        })?;
        let items: Vec<&str> = items.split(',').filter(|s| !s.is_empty()).collect();
        match kind {
            "categories" => items
                .iter()
                .map(|s| s.parse())
                .collect::<Result<_, _>>()
                .map(Scope::Categories),
            "records" => items
                .iter()
                .map(|s| RecordId::from_hex(s).map_err(|e| format!("record id `{s}`: {e}")))
                .collect::<Result<_, _>>()
                .map(Scope::Records),
            other => Err(format!("unknown scope kind `{other}`")),
        }
    }
}

/// A consent grant, as stored on chain. Revoked grants stay, marked.
#[derive(Debug, Clone, PartialEq, Eq, BorshSerialize, BorshDeserialize, Serialize, Deserialize)]
pub struct Grant {
    pub id: u64,
    pub patient: AccountId,
    pub grantee: AccountId,
    pub scope: Scope,
    pub purpose: Purpose,
    pub created_ms: u64,
    pub expires_ms: u64,
    /// The patient, or the delegate who granted for them.
    pub granted_by: AccountId,
    pub revoked_ms: Option<u64>,
}

impl Grant {
    pub fn is_active(&self, now_ms: u64) -> bool {
        self.revoked_ms.is_none() && now_ms < self.expires_ms
    }
}

/// A delegation, as stored on chain.
#[derive(Debug, Clone, PartialEq, Eq, BorshSerialize, BorshDeserialize, Serialize, Deserialize)]
pub struct Delegation {
    pub kind: DelegateKind,
    pub created_ms: u64,
    pub expires_ms: u64,
}

/// Whether, for how long, and by whom the patient allows break-glass access.
///
/// Responders are the providers (an emergency department, an on-call team)
/// who may break the glass. The patient's client wraps record keys to them in
/// advance; vaults release those keys only while a break-glass access, opened
/// on chain and shown to the patient, is running.
#[derive(
    Debug, Clone, Default, PartialEq, Eq, BorshSerialize, BorshDeserialize, Serialize, Deserialize,
)]
pub struct EmergencyPolicy {
    pub enabled: bool,
    pub window_ms: u64,
    pub responders: Vec<AccountId>,
}

/// An open break-glass access, as stored on chain.
#[derive(Debug, Clone, PartialEq, Eq, BorshSerialize, BorshDeserialize, Serialize, Deserialize)]
pub struct EmergencyAccess {
    pub reason: EmergencyReason,
    pub opened_ms: u64,
    pub expires_ms: u64,
}

#[derive(Debug, Clone, PartialEq, Eq, BorshSerialize, BorshDeserialize, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ConsentAction {
    /// Patient or delegate: lets `grantee` read what `scope` covers, for
    /// `purpose`, until `expires_ms`.
    Grant {
        patient: AccountId,
        grantee: AccountId,
        scope: Scope,
        purpose: Purpose,
        expires_ms: u64,
    },
    /// Patient or delegate. Takes effect with the block that includes it.
    Revoke { grant: u64 },
    /// Patient only.
    Delegate {
        delegate: AccountId,
        kind: DelegateKind,
        expires_ms: u64,
    },
    /// Patient only.
    Undelegate { delegate: AccountId },
    /// Patient or guardian: opts in to (or out of) break-glass access by the
    /// named responders.
    SetEmergencyPolicy {
        patient: AccountId,
        enabled: bool,
        window_ms: u64,
        responders: Vec<AccountId>,
    },
    /// A responder with an attested provider role opens time-limited emergency
    /// access to a patient who opted in.
    BreakGlass {
        patient: AccountId,
        reason: EmergencyReason,
    },
}

#[derive(Debug, Clone, PartialEq, Eq, BorshSerialize, BorshDeserialize, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ConsentEvent {
    Granted {
        grant: u64,
        patient: AccountId,
        grantee: AccountId,
        purpose: Purpose,
        expires_ms: u64,
        by: AccountId,
    },
    Revoked {
        grant: u64,
        patient: AccountId,
        grantee: AccountId,
        by: AccountId,
    },
    Delegated {
        patient: AccountId,
        delegate: AccountId,
        kind: DelegateKind,
        expires_ms: u64,
    },
    Undelegated {
        patient: AccountId,
        delegate: AccountId,
    },
    EmergencyPolicySet {
        patient: AccountId,
        enabled: bool,
        window_ms: u64,
        responders: Vec<AccountId>,
        by: AccountId,
    },
    BreakGlass {
        patient: AccountId,
        provider: AccountId,
        reason: EmergencyReason,
        expires_ms: u64,
    },
}

impl ConsentEvent {
    pub fn accounts(&self) -> Vec<AccountId> {
        match self {
            ConsentEvent::Granted {
                patient,
                grantee,
                by,
                ..
            }
            | ConsentEvent::Revoked {
                patient,
                grantee,
                by,
                ..
            } => vec![*patient, *grantee, *by],
            ConsentEvent::Delegated {
                patient, delegate, ..
            }
            | ConsentEvent::Undelegated { patient, delegate } => vec![*patient, *delegate],
            ConsentEvent::EmergencyPolicySet {
                patient,
                by,
                responders,
                ..
            } => {
                let mut accounts = vec![*patient, *by];
                accounts.extend(responders);
                accounts
            }
            ConsentEvent::BreakGlass {
                patient, provider, ..
            } => vec![*patient, *provider],
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scopes_parse_and_cover() {
        let record = RecordId([7; 16]);
        assert_eq!(Scope::parse("all"), Ok(Scope::All));
        let labs = Scope::parse("categories:laboratory,imaging").unwrap();
        assert!(labs.covers(&record, Category::Imaging));
        assert!(!labs.covers(&record, Category::Clinical));
        let one = Scope::parse(&format!("records:{record}")).unwrap();
        assert!(one.covers(&record, Category::Clinical));
        assert!(!one.covers(&RecordId([8; 16]), Category::Clinical));
        assert!(Scope::parse("categories:genome").is_err());
        assert!(Scope::parse("records:zz").is_err());
        assert!(Scope::parse("everything").is_err());
    }

    #[test]
    fn only_low_codes_allow() {
        for reason in AccessReason::ALL {
            let allowed = matches!(
                reason,
                AccessReason::Owner
                    | AccessReason::Guardian
                    | AccessReason::Author
                    | AccessReason::Grant
                    | AccessReason::Emergency
            );
            assert_eq!(reason.allows(), allowed, "{reason}");
        }
    }
}

// Error codes: 500..599 (the registry's range for this module).

crate::error_codes! {
    NotPatientOrDelegate = 501 => "not_patient_or_delegate",
    GrantNotFound = 502 => "grant_not_found",
    GrantRevoked = 503 => "grant_revoked",
    BadExpiry = 504 => "bad_expiry",
    BadScope = 505 => "bad_scope",
    TooManyGrants = 506 => "too_many_grants",
    EmergencyNotEnabled = 507 => "emergency_not_enabled",
    NotAProvider = 508 => "not_a_provider",
    EmergencyOpen = 509 => "emergency_open",
    DelegationNotFound = 510 => "delegation_not_found",
    SelfGrant = 511 => "self_grant",
    BadPurpose = 512 => "bad_purpose",
    BadWindow = 513 => "bad_window",
    BadResponders = 514 => "bad_responders",
    NotAResponder = 515 => "not_a_responder",
}

// State layout: every key of this module starts with `PREFIX/`.

pub const PREFIX: &str = "consent";

pub fn next_grant_key() -> Vec<u8> {
    key(PREFIX, "next", &[])
}

pub fn grant_key(id: u64) -> Vec<u8> {
    key(PREFIX, "grant", &id.to_be_bytes())
}

pub fn active_count_key(patient: &AccountId) -> Vec<u8> {
    key(PREFIX, "active", &patient.0)
}

pub fn patient_prefix(patient: &AccountId) -> Vec<u8> {
    key(PREFIX, "patient", &patient.0)
}

pub fn patient_grant_key(patient: &AccountId, id: u64) -> Vec<u8> {
    let mut out = patient_prefix(patient);
    out.extend_from_slice(&id.to_be_bytes());
    out
}

pub fn pair_prefix(grantee: &AccountId, patient: &AccountId) -> Vec<u8> {
    let mut id = grantee.0.to_vec();
    id.extend_from_slice(&patient.0);
    key(PREFIX, "pair", &id)
}

pub fn delegate_key(patient: &AccountId, delegate: &AccountId) -> Vec<u8> {
    let mut id = patient.0.to_vec();
    id.extend_from_slice(&delegate.0);
    key(PREFIX, "delegate", &id)
}

pub fn delegate_prefix(patient: &AccountId) -> Vec<u8> {
    key(PREFIX, "delegate", &patient.0)
}

pub fn policy_key(patient: &AccountId) -> Vec<u8> {
    key(PREFIX, "policy", &patient.0)
}

pub fn emergency_key(patient: &AccountId, provider: &AccountId) -> Vec<u8> {
    let mut id = patient.0.to_vec();
    id.extend_from_slice(&provider.0);
    key(PREFIX, "emergency", &id)
}
