//! The records module through the `Chain` executor: anchors form version
//! chains. Every block also runs on a second, independent chain that must
//! reach the same state root, so each rule here is also checked for
//! determinism.

mod common;

use salus_app::records;
use salus_types::records::{Category, RecordAction, RecordId};
use salus_types::{Action, ErrorCode, Hash};

use common::records::{anchor, cast};
use common::User;

#[test]
fn anchors_form_a_version_chain_that_only_the_patient_or_a_provider_extends() {
    let (net, [_, _, mut hospital, mut patient, mut specialist, mut stranger]) = cast();
    let (patient_id, stranger_id) = (patient.id, stranger.id);
    let record = RecordId([1; 16]);
    let lab = Category::Laboratory;

    assert_eq!(
        net.codes(&[anchor(&mut stranger, record, patient_id, lab, 1, None)]),
        vec![ErrorCode::NotPatientOrProvider]
    );
    assert_eq!(
        net.codes(&[anchor(&mut hospital, record, patient_id, lab, 1, None)]),
        vec![ErrorCode::Ok]
    );
    let snapshot = net.chain.store().snapshot().unwrap();
    let v1 = records::version(&snapshot, &record, 1).unwrap().unwrap();
    assert_eq!(v1.author, hospital.id);
    drop(snapshot);

    let wrong = Some(Hash([9; 32]));
    let codes = net.codes(&[
        anchor(&mut hospital, record, patient_id, lab, 1, None),
        anchor(&mut hospital, record, patient_id, lab, 2, None),
        anchor(&mut hospital, record, patient_id, lab, 2, wrong),
        anchor(
            &mut hospital,
            record,
            patient_id,
            lab,
            3,
            Some(v1.digest(&record)),
        ),
        anchor(
            &mut hospital,
            record,
            patient_id,
            Category::Imaging,
            2,
            Some(v1.digest(&record)),
        ),
        anchor(
            &mut hospital,
            record,
            stranger_id,
            lab,
            2,
            Some(v1.digest(&record)),
        ),
    ]);
    assert_eq!(
        codes,
        vec![
            ErrorCode::RecordExists,
            ErrorCode::BadPrevious,
            ErrorCode::BadPrevious,
            ErrorCode::BadVersion,
            ErrorCode::CategoryMismatch,
            ErrorCode::PatientMismatch,
        ]
    );
    // Another provider may start records for the patient, but not extend this one.
    assert_eq!(
        net.codes(&[anchor(
            &mut specialist,
            record,
            patient_id,
            lab,
            2,
            Some(v1.digest(&record))
        )]),
        vec![ErrorCode::NotRecordWriter]
    );
    // The patient may extend its own record; the chain links versions by digest.
    assert_eq!(
        net.codes(&[anchor(
            &mut patient,
            record,
            patient_id,
            lab,
            2,
            Some(v1.digest(&record))
        )]),
        vec![ErrorCode::Ok]
    );
    let mut empty = hospital.tx(vec![Action::Records(RecordAction::Anchor {
        record: RecordId([2; 16]),
        patient: patient.id,
        category: lab,
        version: 1,
        ciphertext_hash: Hash([1; 32]),
        ciphertext_len: 0,
        previous: None,
    })]);
    assert_eq!(net.codes(&[empty.clone()]), vec![ErrorCode::BadRecordSize]);
    let unregistered = User::new(77);
    empty = anchor(
        &mut hospital,
        RecordId([3; 16]),
        unregistered.id,
        lab,
        1,
        None,
    );
    assert_eq!(net.codes(&[empty]), vec![ErrorCode::DidNotFound]);

    let snapshot = net.chain.store().snapshot().unwrap();
    let (head, versions) = records::history(&snapshot, &record).unwrap().unwrap();
    assert_eq!(head.latest_version, 2);
    assert_eq!(versions[1].previous, Some(versions[0].digest(&record)));
    assert_eq!(versions[1].author, patient.id);
    let listed = records::for_patient(&snapshot, &patient.id, None, 10).unwrap();
    assert_eq!(
        listed.iter().map(|(r, _)| *r).collect::<Vec<_>>(),
        vec![record]
    );
    drop(snapshot);

    // Erasure: patient only, once, and nothing can be anchored after it.
    let erase = |user: &mut User| user.tx(vec![Action::Records(RecordAction::Erase { record })]);
    let codes = net.codes(&[
        erase(&mut hospital),
        erase(&mut patient),
        erase(&mut patient),
    ]);
    assert_eq!(
        codes,
        vec![
            ErrorCode::NotPatientOrGuardian,
            ErrorCode::Ok,
            ErrorCode::RecordErased
        ]
    );
    let snapshot = net.chain.store().snapshot().unwrap();
    let (head, versions) = records::history(&snapshot, &record).unwrap().unwrap();
    assert!(head.erased_ms.is_some());
    assert_eq!(versions.len(), 2, "the hashes stay on chain");
    drop(snapshot);
    assert_eq!(
        net.codes(&[anchor(
            &mut hospital,
            record,
            patient_id,
            lab,
            3,
            Some(versions[1].digest(&record))
        )]),
        vec![ErrorCode::RecordErased]
    );
}
