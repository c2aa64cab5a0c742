//! The audit module through the `Chain` executor: only vaults log accesses,
//! only for real records, and a full batch fits in one transaction. Every
//! block also runs on a second, independent chain that must reach the same
//! state root.

mod common;

use salus_app::audit;
use salus_types::audit::{AccessEntry, AuditAction, AuditHead};
use salus_types::consent::{AccessReason, Purpose};
use salus_types::records::{Category, RecordId};
use salus_types::{Action, ErrorCode, Event, Hash, Tx};

use common::records::{anchor, cast};
use common::User;

#[test]
fn only_vaults_log_accesses_and_only_for_real_records() {
    let (net, [_, mut vault, mut hospital, patient, specialist, mut stranger]) = cast();
    let patient_id = patient.id;
    let record = RecordId([1; 16]);
    net.block(&[anchor(
        &mut hospital,
        record,
        patient_id,
        Category::Clinical,
        1,
        None,
    )]);
    let entry = |patient_id, n: u8| AccessEntry {
        record,
        version: 1,
        patient: patient_id,
        requester: specialist.id,
        purpose: Purpose::Treatment,
        reason: if n.is_multiple_of(2) {
            AccessReason::NoGrant
        } else {
            AccessReason::Grant
        },
        grant: None,
        at_ms: 5,
        request: Hash([n; 32]),
    };
    let batch = |user: &mut User, entries: Vec<AccessEntry>| {
        user.tx(vec![Action::Audit(AuditAction::RecordAccess { entries })])
    };
    let codes = net.codes(&[
        batch(&mut stranger, vec![entry(patient.id, 1)]),
        batch(&mut vault, vec![]),
        batch(&mut vault, vec![entry(stranger.id, 1)]),
        batch(&mut vault, vec![entry(patient.id, 1), entry(patient.id, 2)]),
    ]);
    assert_eq!(
        codes,
        vec![
            ErrorCode::NotAVault,
            ErrorCode::BadAuditBatch,
            ErrorCode::AuditRecordMismatch,
            ErrorCode::Ok
        ]
    );
    let snapshot = net.chain.store().snapshot().unwrap();
    let head = audit::head(&snapshot, &patient.id).unwrap();
    let expected = AuditHead::default()
        .append(&vault.id, &entry(patient.id, 1))
        .append(&vault.id, &entry(patient.id, 2));
    assert_eq!(head, expected);
    assert_eq!(head.count, 2);
    // Both the patient and the requester find the entries in their events.
    for account in [patient.id, specialist.id] {
        let events = snapshot.events_for_account(&account, None, 10).unwrap();
        let accesses = events
            .iter()
            .filter(|e| matches!(e.event, Event::Audit(_)))
            .count();
        assert_eq!(accesses, 2);
    }
    assert_eq!(audit::vaults(&snapshot).unwrap()[0].account, vault.id);
    drop(snapshot);
    // A batch submitted again (after a crash, say) logs nothing twice.
    let codes = net.codes(&[batch(
        &mut vault,
        vec![entry(patient.id, 2), entry(patient.id, 3)],
    )]);
    assert_eq!(codes, vec![ErrorCode::Ok]);
    let snapshot = net.chain.store().snapshot().unwrap();
    let head = audit::head(&snapshot, &patient.id).unwrap();
    assert_eq!(head, expected.append(&vault.id, &entry(patient.id, 3)));
}

#[test]
fn a_full_audit_batch_fits_in_one_transaction() {
    let mut vault = User::new(2);
    let entries = vec![
        AccessEntry {
            record: RecordId([0xff; 16]),
            version: u32::MAX,
            patient: salus_types::AccountId([0xff; 20]),
            requester: salus_types::AccountId([0xff; 20]),
            purpose: Purpose::PublicHealth,
            reason: AccessReason::KeyNotShared,
            grant: Some(u64::MAX),
            at_ms: u64::MAX,
            request: Hash([0xff; 32]),
        };
        salus_types::audit::MAX_AUDIT_ENTRIES
    ];
    let tx = vault.tx(vec![Action::Audit(AuditAction::RecordAccess { entries })]);
    assert!(tx.encode().len() <= salus_types::MAX_TX_BYTES);
    assert!(Tx::decode(&tx.encode()).is_ok());
}
