//! The consent module through the `Chain` executor: every access decision
//! names its reason. Every block also runs on a second, independent chain
//! that must reach the same state root.

mod common;

use salus_app::consent::{self, Access};
use salus_types::consent::{
    AccessReason, ConsentAction, DelegateKind, EmergencyReason, Purpose, ReaderBasis, Scope,
};
use salus_types::identity::{IdentityAction, Role};
use salus_types::records::{Category, RecordAction, RecordId};
use salus_types::{AccountId, Action, ErrorCode, Event};

use common::records::{anchor, cast, consent, Decisions, HOUR};
use common::User;

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
