//! Wire types of the audit module: vault operators and the access log they
//! write to the chain.

use borsh::{BorshDeserialize, BorshSerialize};
use salus_crypto::Hash;
use serde::{Deserialize, Serialize};

use crate::consent::{AccessReason, Purpose};
use crate::layout::key;
use crate::records::RecordId;
use crate::AccountId;

/// At most this many access entries in one audit action: a full batch still
/// fits in one transaction (`MAX_TX_BYTES`).
pub const MAX_AUDIT_ENTRIES: usize = 512;
pub const MAX_VAULT_ENDPOINT_LEN: usize = 256;

/// One access to a vault, allowed or denied, as the vault decided it.
#[derive(Debug, Clone, PartialEq, Eq, BorshSerialize, BorshDeserialize, Serialize, Deserialize)]
pub struct AccessEntry {
    pub record: RecordId,
    pub version: u32,
    pub patient: AccountId,
    pub requester: AccountId,
    pub purpose: Purpose,
    pub reason: AccessReason,
    /// The grant that allowed it, if a grant did.
    pub grant: Option<u64>,
    /// The vault's clock when it decided.
    pub at_ms: u64,
    /// The hash of the requester's signed request.
    pub request: Hash,
}

impl AccessEntry {
    pub fn allowed(&self) -> bool {
        self.reason.allows()
    }
}

#[derive(Debug, Clone, PartialEq, Eq, BorshSerialize, BorshDeserialize, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum AuditAction {
    /// A batch of access entries, signed by the vault operator that served them.
    RecordAccess { entries: Vec<AccessEntry> },
}

/// A patient's audit log head: how many entries, and a hash chain over them, so
/// that a proof of this one value commits to the patient's whole access log.
#[derive(Debug, Clone, PartialEq, Eq, BorshSerialize, BorshDeserialize, Serialize, Deserialize)]
pub struct AuditHead {
    pub count: u64,
    pub head: Hash,
}

impl Default for AuditHead {
    fn default() -> Self {
        AuditHead {
            count: 0,
            head: Hash::ZERO,
        }
    }
}

impl AuditHead {
    /// The head after appending `entry`, logged by `vault`.
    pub fn append(&self, vault: &AccountId, entry: &AccessEntry) -> AuditHead {
        let mut hasher = salus_crypto::Hasher::new("salus/audit-log/v1");
        hasher
            .update(&self.head.0)
            .update(&vault.0)
            .update(&crate::codec::encode(entry));
        AuditHead {
            count: self
                .count
                .checked_add(1)
                .expect("an audit log cannot reach u64::MAX entries"),
            head: hasher.finish(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, BorshSerialize, BorshDeserialize, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum AuditEvent {
    Accessed {
        vault: AccountId,
        /// The entry's position in the patient's log (1-based).
        seq: u64,
        entry: AccessEntry,
    },
}

impl AuditEvent {
    pub fn accounts(&self) -> Vec<AccountId> {
        match self {
            AuditEvent::Accessed { entry, .. } => vec![entry.patient, entry.requester],
        }
    }
}

/// A vault operator named at genesis: the account that signs its audit batches
/// and the URL its peers replicate from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct VaultOperator {
    pub account: AccountId,
    pub endpoint: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct AuditGenesis {
    pub vaults: Vec<VaultOperator>,
}

// Error codes: 600..699 (the registry's range for this module).

crate::error_codes! {
    NotAVault = 601 => "not_a_vault",
    BadAuditBatch = 602 => "bad_audit_batch",
    AuditRecordMismatch = 603 => "audit_record_mismatch",
}

// State layout: every key of this module starts with `PREFIX/`.

pub const PREFIX: &str = "audit";

pub fn vault_key(account: &AccountId) -> Vec<u8> {
    key(PREFIX, "vault", &account.0)
}

/// Where every vault operator's key starts.
pub fn vaults_prefix() -> Vec<u8> {
    key(PREFIX, "vault", &[])
}

pub fn head_key(patient: &AccountId) -> Vec<u8> {
    key(PREFIX, "head", &patient.0)
}

/// Marks a request as logged, so that a batch submitted twice (after a
/// crash, or a resubmission that raced its own inclusion) logs it once.
pub fn logged_key(request: &salus_crypto::Hash) -> Vec<u8> {
    key(PREFIX, "req", &request.0)
}
