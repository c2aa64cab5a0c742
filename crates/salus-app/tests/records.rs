//! The records, consent and audit modules through the `Chain` executor. Every
//! block also runs on a second, independent chain that must reach the same
//! state root, so each rule here is also checked for determinism.

mod common;

use salus_app::consent::{self, Access};
use salus_app::{audit, records};
use salus_types::audit::{AccessEntry, AuditAction, AuditGenesis, AuditHead, VaultOperator};
use salus_types::consent::{
    AccessReason, ConsentAction, DelegateKind, EmergencyReason, Purpose, ReaderBasis, Scope,
};
use salus_types::identity::{IdentityAction, Role};
use salus_types::records::{Category, RecordAction, RecordId};
use salus_types::{AccountId, Action, ErrorCode, Event, Genesis, Hash, Tx};

use common::{genesis, Net, User};

const HOUR: u64 = 3_600_000;

fn net(authority: &User, vault: &User) -> Net {
    Net::new(&Genesis {
        audit: AuditGenesis {
            vaults: vec![VaultOperator {
                account: vault.id,
                endpoint: "http://vault.example".into(),
            }],
        },
        ..genesis(authority, 1_700_000_000_000)
    })
}

/// Consent decisions on the harness's chain.
trait Decisions {
    fn decide(
        &self,
        who: &User,
        record: RecordId,
        version: Option<u32>,
        purpose: Purpose,
        at: u64,
    ) -> Access;
    fn reason(&self, who: &User, record: RecordId, purpose: Purpose, at: u64) -> AccessReason;
}

impl Decisions for Net {
    fn decide(
        &self,
        who: &User,
        record: RecordId,
        version: Option<u32>,
        purpose: Purpose,
        at: u64,
    ) -> Access {
        let snapshot = self.chain.store().snapshot().unwrap();
        consent::decide(&snapshot, &who.id, &record, version, purpose, at).unwrap()
    }

    fn reason(&self, who: &User, record: RecordId, purpose: Purpose, at: u64) -> AccessReason {
        match self.decide(who, record, None, purpose, at) {
            Access::Decided { reason, .. } => reason,
            Access::UnknownRecord => panic!("record {record} is unknown"),
        }
    }
}

fn anchor(
    author: &mut User,
    record: RecordId,
    patient: AccountId,
    category: Category,
    version: u32,
    previous: Option<Hash>,
) -> Tx {
    author.tx(vec![Action::Records(RecordAction::Anchor {
        record,
        patient,
        category,
        version,
        ciphertext_hash: Hash([version as u8; 32]),
        ciphertext_len: 4096,
        previous,
    })])
}

fn consent(user: &mut User, action: ConsentAction) -> Tx {
    user.tx(vec![Action::Consent(action)])
}

fn attest(authority: &mut User, subject: &User, role: Role) -> Tx {
    authority.tx(vec![Action::Identity(IdentityAction::AttestRole {
        subject: subject.id,
        role,
    })])
}

/// authority, vault, hospital (provider), patient, specialist, stranger — all registered.
fn cast() -> (Net, [User; 6]) {
    let [mut authority, mut vault, mut hospital, mut patient, mut specialist, mut stranger] =
        [1, 2, 3, 4, 5, 6].map(User::new);
    let net = net(&authority, &vault);
    let registrations = [
        authority.register(),
        vault.register(),
        hospital.register(),
        patient.register(),
        specialist.register(),
        stranger.register(),
    ];
    assert!(net
        .codes(&registrations)
        .iter()
        .all(|c| *c == ErrorCode::Ok));
    let roles = [
        attest(&mut authority, &hospital, Role::Provider),
        attest(&mut authority, &specialist, Role::Provider),
        attest(&mut authority, &patient, Role::Patient),
    ];
    assert!(net.codes(&roles).iter().all(|c| *c == ErrorCode::Ok));
    (
        net,
        [authority, vault, hospital, patient, specialist, stranger],
    )
}

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

#[test]
fn every_access_decision_names_its_reason() {
    let (net, [mut authority, _, mut hospital, mut patient, mut specialist, mut stranger]) = cast();
    let patient_id = patient.id;
    let lab_record = RecordId([1; 16]);
    let imaging_record = RecordId([2; 16]);
    net.block(&[
        anchor(
            &mut hospital,
            lab_record,
            patient_id,
            Category::Laboratory,
            1,
            None,
        ),
        anchor(
            &mut hospital,
            imaging_record,
            patient_id,
            Category::Imaging,
            1,
            None,
        ),
    ]);
    let now = net.now();
    let receipts = net.block(&[consent(
        &mut patient,
        ConsentAction::Grant {
            patient: patient_id,
            grantee: specialist.id,
            scope: Scope::Categories(vec![Category::Laboratory]),
            purpose: Purpose::Treatment,
            expires_ms: now + HOUR,
        },
    )]);
    let grant = match &receipts[0].events[0] {
        Event::Consent(salus_types::consent::ConsentEvent::Granted { grant, .. }) => *grant,
        other => panic!("unexpected event {other:?}"),
    };
    let t = net.now();
    use AccessReason::*;
    assert_eq!(
        net.reason(&specialist, lab_record, Purpose::Treatment, t),
        Grant
    );
    assert!(matches!(
        net.decide(&specialist, lab_record, None, Purpose::Treatment, t),
        Access::Decided { grant: Some(g), version: 1, .. } if g == grant
    ));
    assert_eq!(
        net.reason(&specialist, lab_record, Purpose::Research, t),
        WrongPurpose
    );
    assert_eq!(
        net.reason(&specialist, imaging_record, Purpose::Treatment, t),
        OutOfScope
    );
    assert_eq!(
        net.reason(&stranger, lab_record, Purpose::Treatment, t),
        NoGrant
    );
    assert_eq!(
        net.reason(&specialist, lab_record, Purpose::Treatment, now + HOUR),
        Expired
    );
    assert_eq!(
        net.reason(&patient, lab_record, Purpose::Research, t),
        Owner
    );
    assert_eq!(
        net.reason(&hospital, lab_record, Purpose::Treatment, t),
        Author
    );
    assert_eq!(
        net.decide(&patient, RecordId([9; 16]), None, Purpose::Treatment, t),
        Access::UnknownRecord
    );
    assert!(matches!(
        net.decide(&patient, lab_record, Some(7), Purpose::Treatment, t),
        Access::Decided {
            reason: UnknownVersion,
            ..
        }
    ));

    // Readers for a new lab record: the grantee; for imaging: nobody yet.
    let snapshot = net.chain.store().snapshot().unwrap();
    let lab_readers = consent::recipients(
        &snapshot,
        &patient.id,
        &RecordId([5; 16]),
        Category::Laboratory,
        t,
    )
    .unwrap();
    assert_eq!(
        lab_readers,
        vec![(specialist.id, ReaderBasis::Grant(grant))]
    );
    assert!(consent::recipients(
        &snapshot,
        &patient.id,
        &RecordId([5; 16]),
        Category::Imaging,
        t
    )
    .unwrap()
    .is_empty());
    drop(snapshot);

    // Only the patient (or a delegate) revokes, once; then access is refused.
    let codes = net.codes(&[
        consent(&mut stranger, ConsentAction::Revoke { grant }),
        consent(&mut patient, ConsentAction::Revoke { grant }),
        consent(&mut patient, ConsentAction::Revoke { grant }),
        consent(&mut patient, ConsentAction::Revoke { grant: 999 }),
    ]);
    assert_eq!(
        codes,
        vec![
            ErrorCode::NotPatientOrDelegate,
            ErrorCode::Ok,
            ErrorCode::GrantRevoked,
            ErrorCode::GrantNotFound
        ]
    );
    assert_eq!(
        net.reason(&specialist, lab_record, Purpose::Treatment, net.now()),
        Revoked
    );

    // Malformed grants are refused.
    let t = net.now();
    let pid = patient.id;
    let grant_tx = |user: &mut User, grantee, scope: Scope, purpose, expires_ms| {
        consent(
            user,
            ConsentAction::Grant {
                patient: pid,
                grantee,
                scope,
                purpose,
                expires_ms,
            },
        )
    };
    let codes = net.codes(&[
        grant_tx(
            &mut patient,
            patient_id,
            Scope::All,
            Purpose::Treatment,
            t + HOUR,
        ),
        grant_tx(
            &mut patient,
            specialist.id,
            Scope::All,
            Purpose::Emergency,
            t + HOUR,
        ),
        grant_tx(
            &mut patient,
            specialist.id,
            Scope::Categories(vec![]),
            Purpose::Treatment,
            t + HOUR,
        ),
        grant_tx(
            &mut patient,
            specialist.id,
            Scope::Records(vec![lab_record, lab_record]),
            Purpose::Treatment,
            t + HOUR,
        ),
        grant_tx(
            &mut patient,
            specialist.id,
            Scope::All,
            Purpose::Treatment,
            t,
        ),
        grant_tx(
            &mut patient,
            User::new(88).id,
            Scope::All,
            Purpose::Treatment,
            t + HOUR,
        ),
        grant_tx(
            &mut stranger,
            specialist.id,
            Scope::All,
            Purpose::Treatment,
            t + HOUR,
        ),
    ]);
    assert_eq!(
        codes,
        vec![
            ErrorCode::SelfGrant,
            ErrorCode::BadPurpose,
            ErrorCode::BadScope,
            ErrorCode::BadScope,
            ErrorCode::BadExpiry,
            ErrorCode::DidNotFound,
            ErrorCode::NotPatientOrDelegate,
        ]
    );

    // Delegation: a proxy manages consent but cannot erase; a guardian reads.
    let (mut proxy, mut guardian) = (User::new(20), User::new(21));
    net.block(&[proxy.register(), guardian.register()]);
    let t = net.now();
    let codes = net.codes(&[
        consent(
            &mut patient,
            ConsentAction::Delegate {
                delegate: proxy.id,
                kind: DelegateKind::Proxy,
                expires_ms: t + HOUR,
            },
        ),
        consent(
            &mut patient,
            ConsentAction::Delegate {
                delegate: guardian.id,
                kind: DelegateKind::Guardian,
                expires_ms: t + HOUR,
            },
        ),
    ]);
    assert_eq!(codes, vec![ErrorCode::Ok, ErrorCode::Ok]);
    let t = net.now();
    let proxy_id = proxy.id;
    let codes = net.codes(&[
        grant_tx(
            &mut proxy,
            stranger.id,
            Scope::Records(vec![imaging_record]),
            Purpose::Payment,
            t + HOUR,
        ),
        proxy.tx(vec![Action::Records(RecordAction::Erase {
            record: imaging_record,
        })]),
        grant_tx(
            &mut proxy,
            proxy_id,
            Scope::All,
            Purpose::Treatment,
            t + HOUR,
        ),
    ]);
    assert_eq!(
        codes,
        vec![
            ErrorCode::Ok,
            ErrorCode::NotPatientOrGuardian,
            ErrorCode::SelfGrant
        ]
    );
    assert_eq!(
        net.reason(&stranger, imaging_record, Purpose::Payment, net.now()),
        Grant
    );
    assert_eq!(
        net.reason(&guardian, imaging_record, Purpose::Treatment, net.now()),
        Guardian
    );
    assert_eq!(
        net.reason(&proxy, imaging_record, Purpose::Treatment, net.now()),
        NoGrant
    );
    let snapshot = net.chain.store().snapshot().unwrap();
    let readers = consent::recipients(
        &snapshot,
        &patient.id,
        &imaging_record,
        Category::Imaging,
        net.now(),
    )
    .unwrap();
    let mut expected = vec![guardian.id, stranger.id];
    expected.sort();
    let accounts: Vec<AccountId> = readers.iter().map(|(a, _)| *a).collect();
    assert_eq!(
        accounts, expected,
        "guardians and covering grantees receive keys"
    );
    assert!(readers.contains(&(guardian.id, ReaderBasis::Guardian)));
    drop(snapshot);
    let codes = net.codes(&[consent(
        &mut patient,
        ConsentAction::Undelegate {
            delegate: guardian.id,
        },
    )]);
    assert_eq!(codes, vec![ErrorCode::Ok]);
    assert_eq!(
        net.reason(&guardian, imaging_record, Purpose::Treatment, net.now()),
        NoGrant
    );

    // Break-glass: only a provider, only after the patient opted in, time-limited.
    let glass = |user: &mut User| {
        consent(
            user,
            ConsentAction::BreakGlass {
                patient: pid,
                reason: EmergencyReason::Unconscious,
            },
        )
    };
    let codes = net.codes(&[glass(&mut specialist), glass(&mut stranger)]);
    assert_eq!(
        codes,
        vec![ErrorCode::EmergencyNotEnabled, ErrorCode::NotAProvider]
    );
    let policy = |window_ms, responders: Vec<AccountId>| ConsentAction::SetEmergencyPolicy {
        patient: pid,
        enabled: true,
        window_ms,
        responders,
    };
    let codes = net.codes(&[
        consent(&mut patient, policy(100 * HOUR, vec![specialist.id])),
        consent(&mut patient, policy(4 * HOUR, vec![])),
        consent(
            &mut patient,
            policy(4 * HOUR, vec![specialist.id, specialist.id]),
        ),
        consent(&mut patient, policy(4 * HOUR, vec![pid])),
        consent(&mut patient, policy(4 * HOUR, vec![User::new(99).id])),
        consent(&mut stranger, policy(4 * HOUR, vec![specialist.id])),
        consent(&mut patient, policy(4 * HOUR, vec![specialist.id])),
    ]);
    assert_eq!(
        codes,
        vec![
            ErrorCode::BadWindow,
            ErrorCode::BadResponders,
            ErrorCode::BadResponders,
            ErrorCode::BadResponders,
            ErrorCode::DidNotFound,
            ErrorCode::NotPatientOrGuardian,
            ErrorCode::Ok
        ]
    );
    // Only a named responder may break the glass, even among providers.
    assert_eq!(
        net.codes(&[glass(&mut hospital)]),
        vec![ErrorCode::NotAResponder]
    );
    let snapshot = net.chain.store().snapshot().unwrap();
    let readers = consent::recipients(
        &snapshot,
        &pid,
        &imaging_record,
        Category::Imaging,
        net.now(),
    )
    .unwrap();
    assert!(
        readers.contains(&(specialist.id, ReaderBasis::Responder)),
        "responders receive keys in advance"
    );
    drop(snapshot);
    assert_eq!(
        net.reason(&specialist, imaging_record, Purpose::Emergency, net.now()),
        NoGrant
    );
    let receipts = net.block(&[glass(&mut specialist), glass(&mut specialist)]);
    assert_eq!(receipts[0].code, ErrorCode::Ok);
    assert_eq!(receipts[1].code, ErrorCode::EmergencyOpen);
    assert!(
        receipts[0].events[0].accounts().contains(&patient.id),
        "the patient sees it"
    );
    let t = net.now();
    assert_eq!(
        net.reason(&specialist, imaging_record, Purpose::Emergency, t),
        Emergency
    );
    assert_eq!(
        net.reason(
            &specialist,
            imaging_record,
            Purpose::Emergency,
            t + 4 * HOUR
        ),
        Expired
    );
    // Opting out ends an open access at once, and opting back in restores it.
    let opt = |enabled: bool, responders: Vec<AccountId>| ConsentAction::SetEmergencyPolicy {
        patient: pid,
        enabled,
        window_ms: if enabled { 4 * HOUR } else { 0 },
        responders,
    };
    net.block(&[consent(&mut patient, opt(false, vec![]))]);
    assert_eq!(
        net.reason(&specialist, imaging_record, Purpose::Emergency, net.now()),
        Expired
    );
    net.block(&[consent(&mut patient, opt(true, vec![specialist.id]))]);
    assert_eq!(
        net.reason(&specialist, imaging_record, Purpose::Emergency, net.now()),
        Emergency
    );
    // A provider whose role is revoked loses emergency access at once.
    let codes = net.codes(&[
        authority.tx(vec![Action::Identity(IdentityAction::RevokeRole {
            subject: specialist.id,
            role: Role::Provider,
        })]),
    ]);
    assert_eq!(codes, vec![ErrorCode::Ok]);
    assert_eq!(
        net.reason(&specialist, imaging_record, Purpose::Emergency, net.now()),
        Expired
    );

    // Erased records are refused to everyone, the patient included.
    net.block(&[patient.tx(vec![Action::Records(RecordAction::Erase {
        record: lab_record,
    })])]);
    assert_eq!(
        net.reason(&patient, lab_record, Purpose::Treatment, net.now()),
        Erased
    );
}

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
