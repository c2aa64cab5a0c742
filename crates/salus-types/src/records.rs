//! Wire types of the records module: on-chain anchors of encrypted health
//! records.
//!
//! An anchor holds only what the network needs to check integrity and consent:
//! who the record belongs to, who wrote each version, a coarse category, and the
//! hash of the ciphertext. The content itself, and anything that could name a
//! condition, stays encrypted in the vaults.

use borsh::{BorshDeserialize, BorshSerialize};
use salus_crypto::Hash;
use serde::{Deserialize, Serialize};

use crate::layout::key;
use crate::AccountId;

/// The largest ciphertext a record version may have.
pub const MAX_RECORD_BYTES: u64 = 16 * 1024 * 1024;

salus_crypto::hex_bytes_newtype!(
    /// A record's identity: 16 random bytes chosen by the writer's client, so
    /// that the id reveals nothing about the patient or the content.
    RecordId,
    16
);

impl RecordId {
    /// A fresh random id.
    pub fn random() -> RecordId {
        RecordId(salus_crypto::random_bytes())
    }
}

crate::named_enum! {
    /// A coarse category. Consent scopes use it; it is deliberately too coarse
    /// to identify a condition ("laboratory", never "HIV test").
    Category, "category" {
        Clinical = 0 => "clinical",
        Laboratory = 1 => "laboratory",
        Imaging = 2 => "imaging",
        Medication = 3 => "medication",
        Immunization = 4 => "immunization",
        Allergy = 5 => "allergy",
        Administrative = 6 => "administrative",
        Financial = 7 => "financial",
        Other = 8 => "other",
    }
}

#[derive(Debug, Clone, PartialEq, Eq, BorshSerialize, BorshDeserialize, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum RecordAction {
    /// Anchors `version` of `record` for `patient`. Version 1 starts a record;
    /// every later version names the digest of the version before it, so the
    /// versions form a hash chain and a writer cannot overwrite a version it has
    /// not seen.
    Anchor {
        record: RecordId,
        patient: AccountId,
        category: Category,
        version: u32,
        ciphertext_hash: Hash,
        ciphertext_len: u64,
        previous: Option<Hash>,
    },
    /// Crypto-shredding: the vaults delete the ciphertext and key envelopes of
    /// every version; the chain keeps only the hashes. Patient or guardian only.
    Erase { record: RecordId },
}

/// A record's current state, as stored on chain.
#[derive(Debug, Clone, PartialEq, Eq, BorshSerialize, BorshDeserialize, Serialize, Deserialize)]
pub struct RecordHead {
    pub patient: AccountId,
    pub category: Category,
    pub latest_version: u32,
    pub created_ms: u64,
    pub updated_ms: u64,
    /// Set once the patient erased the record; nothing can be anchored after.
    pub erased_ms: Option<u64>,
}

/// One version's anchor, as stored on chain.
#[derive(Debug, Clone, PartialEq, Eq, BorshSerialize, BorshDeserialize, Serialize, Deserialize)]
pub struct RecordVersion {
    pub version: u32,
    pub author: AccountId,
    pub ciphertext_hash: Hash,
    pub ciphertext_len: u64,
    /// The digest of the previous version's anchor; `None` for version 1.
    pub previous: Option<Hash>,
    pub anchored_ms: u64,
    pub height: u64,
}

impl RecordVersion {
    /// What the next version must name as `previous`.
    pub fn digest(&self, record: &RecordId) -> Hash {
        let mut hasher = salus_crypto::Hasher::new("salus/record-version/v1");
        hasher.update(&record.0).update(&crate::codec::encode(self));
        hasher.finish()
    }
}

#[derive(Debug, Clone, PartialEq, Eq, BorshSerialize, BorshDeserialize, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum RecordEvent {
    Anchored {
        record: RecordId,
        patient: AccountId,
        author: AccountId,
        category: Category,
        version: u32,
    },
    Erased {
        record: RecordId,
        patient: AccountId,
        by: AccountId,
    },
}

impl RecordEvent {
    pub fn accounts(&self) -> Vec<AccountId> {
        match self {
            RecordEvent::Anchored {
                patient, author, ..
            } => vec![*patient, *author],
            RecordEvent::Erased { patient, by, .. } => vec![*patient, *by],
        }
    }
}

// Error codes: 400..499 (the registry's range for this module).

crate::error_codes! {
    RecordExists = 401 => "record_exists",
    RecordNotFound = 402 => "record_not_found",
    BadVersion = 403 => "bad_version",
    BadPrevious = 404 => "bad_previous",
    NotPatientOrProvider = 405 => "not_patient_or_provider",
    RecordErased = 406 => "record_erased",
    CategoryMismatch = 407 => "category_mismatch",
    PatientMismatch = 408 => "patient_mismatch",
    BadRecordSize = 409 => "bad_record_size",
    NotPatientOrGuardian = 410 => "not_patient_or_guardian",
    NotRecordWriter = 411 => "not_record_writer",
}

// State layout: every key of this module starts with `PREFIX/`.

pub const PREFIX: &str = "records";

pub fn head_key(record: &RecordId) -> Vec<u8> {
    key(PREFIX, "head", &record.0)
}

pub fn version_key(record: &RecordId, version: u32) -> Vec<u8> {
    let mut id = record.0.to_vec();
    id.extend_from_slice(&version.to_be_bytes());
    key(PREFIX, "ver", &id)
}

pub fn patient_prefix(patient: &AccountId) -> Vec<u8> {
    key(PREFIX, "patient", &patient.0)
}

/// Index entry: a patient's record (value: its category).
pub fn patient_record_key(patient: &AccountId, record: &RecordId) -> Vec<u8> {
    let mut out = patient_prefix(patient);
    out.extend_from_slice(&record.0);
    out
}
