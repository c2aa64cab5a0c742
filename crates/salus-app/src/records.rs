//! The records module: anchors of encrypted health records.
//!
//! Only the patient, or an author with an attested provider role, may anchor a
//! record for a patient. Each version names the digest of the one before, so
//! the versions of a record form a hash chain. Erasure marks the record; the
//! vaults then delete its ciphertext and keys, and only hashes remain here.

use salus_state::{Overlay, StateError, StateRead, StateScan};
use salus_types::identity::Role;
use salus_types::records::{
    Category, RecordAction, RecordEvent, RecordHead, RecordId, RecordVersion, MAX_RECORD_BYTES,
};
use salus_types::{AccountId, ErrorCode};

use crate::consent;
use crate::context::{
    read, refuse, reject, write, ActionError, Events, ExecResult, Module, TxContext, TxOrigin,
};
use crate::identity;
use salus_types::records::{head_key, patient_prefix, patient_record_key, version_key, PREFIX};

pub fn head(state: &dyn StateRead, record: &RecordId) -> Result<Option<RecordHead>, StateError> {
    read(state, &head_key(record))
}

pub fn version(
    state: &dyn StateRead,
    record: &RecordId,
    version: u32,
) -> Result<Option<RecordVersion>, StateError> {
    read(state, &version_key(record, version))
}

/// Every version of a record, oldest first.
pub fn history(
    state: &dyn StateRead,
    record: &RecordId,
) -> Result<Option<(RecordHead, Vec<RecordVersion>)>, StateError> {
    let Some(head) = head(state, record)? else {
        return Ok(None);
    };
    let mut versions = Vec::with_capacity(head.latest_version as usize);
    for number in 1..=head.latest_version {
        let entry = version(state, record, number)?.ok_or_else(|| {
            StateError::Corrupt(format!("record {record} lacks version {number}"))
        })?;
        versions.push(entry);
    }
    Ok(Some((head, versions)))
}

/// A patient's records in id order, after `after`, at most `limit`.
pub fn for_patient<S: StateScan>(
    state: &S,
    patient: &AccountId,
    after: Option<&RecordId>,
    limit: usize,
) -> Result<Vec<(RecordId, RecordHead)>, StateError> {
    let prefix = patient_prefix(patient);
    let after = after.map(|r| patient_record_key(patient, r));
    let mut out = Vec::new();
    for (index_key, _) in state.scan_prefix(&prefix, after.as_deref(), limit)? {
        let id: [u8; 16] = index_key[prefix.len()..]
            .try_into()
            .map_err(|_| StateError::Corrupt("record index key has the wrong length".into()))?;
        let record = RecordId(id);
        let head = head(state, &record)?
            .ok_or_else(|| StateError::Corrupt(format!("indexed record {record} has no head")))?;
        out.push((record, head));
    }
    Ok(out)
}

/// The records module.
pub struct Records;

impl Module for Records {
    const PREFIX: &'static str = PREFIX;
    type Action = RecordAction;
    type Cache = ();
    type Genesis = ();

    fn check(_tx: &TxOrigin<'_>, action: &RecordAction) -> Result<(), ActionError> {
        match action {
            RecordAction::Anchor { ciphertext_len, .. }
                if *ciphertext_len == 0 || *ciphertext_len > MAX_RECORD_BYTES =>
            {
                refuse(
                    ErrorCode::BadRecordSize,
                    format!("ciphertext must be 1..={MAX_RECORD_BYTES} bytes"),
                )
            }
            _ => Ok(()),
        }
    }

    fn execute(
        ctx: &TxContext<'_>,
        _cache: &(),
        state: &mut Overlay<'_>,
        action: &RecordAction,
        events: &mut Events,
    ) -> ExecResult<()> {
        match action {
            RecordAction::Anchor {
                record,
                patient,
                category,
                version,
                ciphertext_hash,
                ciphertext_len,
                previous,
            } => {
                identity::require_live(state, patient)?;
                let me = ctx.tx.signer;
                if me != *patient && identity::role(state, &me, Role::Provider)?.is_none() {
                    return reject(
                        ErrorCode::NotPatientOrProvider,
                        "only the patient or an attested provider may anchor a record",
                    );
                }
                let head = next_head(ctx, state, record, patient, *category, *version, previous)?;
                let entry = RecordVersion {
                    version: *version,
                    author: me,
                    ciphertext_hash: *ciphertext_hash,
                    ciphertext_len: *ciphertext_len,
                    previous: *previous,
                    anchored_ms: ctx.timestamp_ms,
                    height: ctx.height,
                };
                write(state, head_key(record), &head);
                write(state, version_key(record, *version), &entry);
                write(state, patient_record_key(patient, record), category);
                events.emit(RecordEvent::Anchored {
                    record: *record,
                    patient: *patient,
                    author: me,
                    category: *category,
                    version: *version,
                });
            }
            RecordAction::Erase { record } => {
                let Some(mut head) = head(state, record)? else {
                    return reject(
                        ErrorCode::RecordNotFound,
                        format!("record {record} is unknown"),
                    );
                };
                if !consent::is_patient_or_guardian(
                    state,
                    &head.patient,
                    &ctx.tx.signer,
                    ctx.timestamp_ms,
                )? {
                    return reject(
                        ErrorCode::NotPatientOrGuardian,
                        "only the patient or a guardian may erase a record",
                    );
                }
                if head.erased_ms.is_some() {
                    return reject(
                        ErrorCode::RecordErased,
                        format!("record {record} is already erased"),
                    );
                }
                head.erased_ms = Some(ctx.timestamp_ms);
                head.updated_ms = ctx.timestamp_ms;
                write(state, head_key(record), &head);
                events.emit(RecordEvent::Erased {
                    record: *record,
                    patient: head.patient,
                    by: ctx.tx.signer,
                });
            }
        }
        Ok(())
    }
}

/// The record's head after anchoring `version`, if that version may follow.
fn next_head(
    ctx: &TxContext<'_>,
    state: &dyn StateRead,
    record: &RecordId,
    patient: &AccountId,
    category: Category,
    version: u32,
    previous: &Option<salus_types::Hash>,
) -> ExecResult<RecordHead> {
    let Some(mut head) = head(state, record)? else {
        if version != 1 {
            return reject(
                ErrorCode::RecordNotFound,
                format!("record {record} is unknown; its first version must be 1"),
            );
        }
        if previous.is_some() {
            return reject(ErrorCode::BadPrevious, "version 1 has no previous version");
        }
        return Ok(RecordHead {
            patient: *patient,
            category,
            latest_version: 1,
            created_ms: ctx.timestamp_ms,
            updated_ms: ctx.timestamp_ms,
            erased_ms: None,
        });
    };
    if version == 1 {
        return reject(
            ErrorCode::RecordExists,
            format!("record {record} already exists"),
        );
    }
    if head.patient != *patient {
        return reject(
            ErrorCode::PatientMismatch,
            "the record belongs to another patient",
        );
    }
    if head.erased_ms.is_some() {
        return reject(
            ErrorCode::RecordErased,
            format!("record {record} is erased"),
        );
    }
    // Later versions come from the patient, a guardian, or the provider who
    // created the record, never from any provider at all.
    let creator = self::version(state, record, 1)?
        .ok_or_else(|| StateError::Corrupt(format!("record {record} lacks version 1")))?
        .author;
    if ctx.tx.signer != creator
        && !consent::is_patient_or_guardian(state, &head.patient, &ctx.tx.signer, ctx.timestamp_ms)?
    {
        return reject(
            ErrorCode::NotRecordWriter,
            "only the patient, a guardian or the record's creator may add a version",
        );
    }
    if head.category != category {
        return reject(
            ErrorCode::CategoryMismatch,
            format!("record {record} is in category {}", head.category),
        );
    }
    let expected = head.latest_version.checked_add(1);
    if expected != Some(version) {
        return reject(
            ErrorCode::BadVersion,
            format!(
                "record {record} is at version {}; the next is {}",
                head.latest_version,
                head.latest_version.saturating_add(1)
            ),
        );
    }
    let latest = self::version(state, record, head.latest_version)?
        .ok_or_else(|| StateError::Corrupt(format!("record {record} lacks its latest version")))?;
    if *previous != Some(latest.digest(record)) {
        return reject(
            ErrorCode::BadPrevious,
            "previous does not name the latest version's digest",
        );
    }
    head.latest_version = version;
    head.updated_ms = ctx.timestamp_ms;
    Ok(head)
}
