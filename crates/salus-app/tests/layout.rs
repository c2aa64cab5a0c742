//! The state layout stays put: a fixed history that touches every key kind
//! of the identity, token, records, consent and audit modules reaches the
//! state root pinned in `layout.txt`, with exactly the keys listed there. A
//! credential scenario (its issuers draw fresh randomness, so values change
//! run to run) pins the keys it writes. Both fixtures were written before
//! the module registry existed: a moved key function, a changed genesis
//! order or a new write in an old action shows up here.

mod common;

use salus_app::credentials::claim_request;
use salus_crypto::SigningKey;
use salus_state::StateScan;
use salus_types::audit::{AccessEntry, AuditAction, AuditGenesis, VaultOperator};
use salus_types::consent::{
    AccessReason, ConsentAction, DelegateKind, EmergencyReason, Purpose, Scope,
};
use salus_types::credentials::{CredentialAction, RoleRule};
use salus_types::identity::{rotation_message, IdentityAction, Role, Service};
use salus_types::records::{Category, RecordAction, RecordId, RecordVersion};
use salus_types::token::{Allocation, TokenAction, TokenGenesis};
use salus_types::{Action, ErrorCode, Hash};
use salus_zk::{AttributeKind, AttributeValue, Issuer, Presentation, PublicSet, Schema};

use common::{genesis, Net, User, CHAIN};

const FIXTURES: &str = include_str!("layout.txt");

/// The lines of `layout.txt` under `[section]`.
fn fixture(section: &str) -> Vec<&'static str> {
    let header = format!("[{section}]");
    FIXTURES
        .lines()
        .skip_while(|line| *line != header)
        .skip(1)
        .take_while(|line| !line.starts_with('['))
        .filter(|line| !line.trim().is_empty())
        .collect()
}

/// Every state key under `prefix`, printed as its readable head (up to the
/// second `/`) and the rest in hex.
fn keys(net: &Net, prefix: &str) -> Vec<String> {
    let snapshot = net.chain.store().snapshot().unwrap();
    snapshot
        .scan_prefix(prefix.as_bytes(), None, usize::MAX)
        .unwrap()
        .into_iter()
        .map(|(key, _)| {
            let split = key
                .iter()
                .enumerate()
                .filter(|(_, b)| **b == b'/')
                .nth(1)
                .map_or(key.len(), |(i, _)| i + 1);
            format!(
                "{}{}",
                String::from_utf8_lossy(&key[..split]),
                hex::encode(&key[split..])
            )
        })
        .collect()
}

fn check(section: &str, actual: &[String]) {
    let expected = fixture(section);
    assert!(
        !expected.is_empty(),
        "no [{section}] in layout.txt; it would hold:\n[{section}]\n{}",
        actual.join("\n")
    );
    assert_eq!(
        actual, expected,
        "the state layout of [{section}] changed: stored state would no longer be found"
    );
}

fn ok(net: &Net, tx: salus_types::Tx) {
    let receipts = net.block(&[tx]);
    assert_eq!(receipts[0].code, ErrorCode::Ok, "{}", receipts[0].message);
}

#[test]
fn a_fixed_history_reaches_its_pinned_root_and_keys() {
    let mut authority = User::new(1);
    let mut patient = User::new(2);
    let mut doctor = User::new(3);
    let mut guardian = User::new(4);
    let mut rotator = User::new(5);
    let mut vault = User::new(9);
    let mut genesis = genesis(&authority, 1_795_305_600_000);
    genesis.token = TokenGenesis {
        denom: "usal".into(),
        allocations: vec![Allocation {
            account: authority.id,
            amount: 1_000_000,
        }],
    };
    genesis.audit = AuditGenesis {
        vaults: vec![VaultOperator {
            account: vault.id,
            endpoint: "http://127.0.0.1:9".into(),
        }],
    };
    let net = Net::new(&genesis);
    for user in [
        &mut authority,
        &mut patient,
        &mut doctor,
        &mut guardian,
        &mut rotator,
        &mut vault,
    ] {
        let tx = user.register();
        ok(&net, tx);
    }
    ok(
        &net,
        authority.tx(vec![Action::Token(TokenAction::Transfer {
            to: patient.id,
            amount: 2_500,
        })]),
    );
    for role in [Role::Provider, Role::Researcher] {
        ok(
            &net,
            authority.tx(vec![Action::Identity(IdentityAction::AttestRole {
                subject: doctor.id,
                role,
            })]),
        );
    }
    ok(
        &net,
        authority.tx(vec![Action::Identity(IdentityAction::RevokeRole {
            subject: doctor.id,
            role: Role::Researcher,
        })]),
    );

    let record = RecordId([0x5a; 16]);
    ok(
        &net,
        doctor.tx(vec![Action::Records(RecordAction::Anchor {
            record,
            patient: patient.id,
            category: Category::Laboratory,
            version: 1,
            ciphertext_hash: Hash([1; 32]),
            ciphertext_len: 1_000,
            previous: None,
        })]),
    );
    let first = {
        let snapshot = net.chain.store().snapshot().unwrap();
        salus_app::records::version(&snapshot, &record, 1)
            .unwrap()
            .unwrap()
    };
    ok(
        &net,
        patient.tx(vec![Action::Records(RecordAction::Anchor {
            record,
            patient: patient.id,
            category: Category::Laboratory,
            version: 2,
            ciphertext_hash: Hash([2; 32]),
            ciphertext_len: 2_000,
            previous: Some(RecordVersion::digest(&first, &record)),
        })]),
    );
    let expires = net.now() + 30 * 86_400_000;
    ok(
        &net,
        patient.tx(vec![
            Action::Consent(ConsentAction::Grant {
                patient: patient.id,
                grantee: doctor.id,
                scope: Scope::Categories(vec![Category::Laboratory]),
                purpose: Purpose::Treatment,
                expires_ms: expires,
            }),
            Action::Consent(ConsentAction::Grant {
                patient: patient.id,
                grantee: guardian.id,
                scope: Scope::Records(vec![record]),
                purpose: Purpose::Research,
                expires_ms: expires,
            }),
            Action::Consent(ConsentAction::Delegate {
                delegate: guardian.id,
                kind: DelegateKind::Guardian,
                expires_ms: expires,
            }),
            Action::Consent(ConsentAction::SetEmergencyPolicy {
                patient: patient.id,
                enabled: true,
                window_ms: 3_600_000,
                responders: vec![doctor.id],
            }),
        ]),
    );
    ok(
        &net,
        doctor.tx(vec![Action::Consent(ConsentAction::BreakGlass {
            patient: patient.id,
            reason: EmergencyReason::Unconscious,
        })]),
    );
    ok(
        &net,
        vault.tx(vec![Action::Audit(AuditAction::RecordAccess {
            entries: vec![AccessEntry {
                record,
                version: 2,
                patient: patient.id,
                requester: doctor.id,
                purpose: Purpose::Treatment,
                reason: AccessReason::Grant,
                grant: Some(1),
                at_ms: net.now(),
                request: Hash([7; 32]),
            }],
        })]),
    );
    ok(
        &net,
        patient.tx(vec![
            Action::Consent(ConsentAction::Revoke { grant: 2 }),
            Action::Consent(ConsentAction::Undelegate {
                delegate: guardian.id,
            }),
            Action::Records(RecordAction::Erase { record }),
        ]),
    );
    let new_key = SigningKey::from_seed(&[55; 32]);
    let possession = new_key.sign(&rotation_message(CHAIN, &rotator.id, &new_key.public_key()));
    ok(
        &net,
        rotator.tx(vec![
            Action::Identity(IdentityAction::SetServices {
                services: vec![Service {
                    id: "portal".into(),
                    kind: "LinkedDomains".into(),
                    endpoint: "https://portal.example".into(),
                }],
            }),
            Action::Identity(IdentityAction::RotateKeys {
                new_key: new_key.public_key(),
                new_agreement_key: salus_crypto::AgreementSecret::from_bytes(&[56; 32])
                    .public_key(),
                possession,
            }),
        ]),
    );
    ok(
        &net,
        guardian.tx(vec![Action::Identity(IdentityAction::Deactivate)]),
    );

    let root = net.chain.tip().0.state_root.to_hex();
    let mut actual = vec![format!("root {root}")];
    actual.extend(keys(&net, ""));
    check("history", &actual);
}

fn license_schema() -> Schema {
    Schema::new(
        "medical-license-v1",
        &[
            ("holder_did", AttributeKind::Text),
            ("specialty", AttributeKind::Text),
            ("valid_until", AttributeKind::Date),
        ],
    )
    .unwrap()
}

#[test]
fn credential_keys_keep_their_layout() {
    let mut authority = User::new(1);
    let mut board_user = User::new(2);
    let mut physician = User::new(3);
    let net = Net::new(&genesis(&authority, 1_795_305_600_000));
    for user in [&mut authority, &mut board_user, &mut physician] {
        let tx = user.register();
        ok(&net, tx);
    }
    ok(
        &net,
        authority.tx(vec![Action::Identity(IdentityAction::AttestRole {
            subject: board_user.id,
            role: Role::Board,
        })]),
    );
    let id = format!("{}#license-v1", board_user.id.did());
    let mut board = Issuer::new(id.clone(), license_schema(), 8).unwrap();
    let set = PublicSet::publish(
        format!("{}#specialties", board_user.id.did()),
        &["cardiology"],
    )
    .unwrap();
    ok(
        &net,
        board_user.tx(vec![
            Action::Credentials(CredentialAction::Define {
                definition: serde_json::to_string(board.definition()).unwrap(),
                status: serde_json::to_string(&board.status()).unwrap(),
            }),
            Action::Credentials(CredentialAction::PublishSet {
                set: serde_json::to_string(&set).unwrap(),
            }),
        ]),
    );
    let rule = RoleRule {
        role: Role::Provider,
        definition: id.clone(),
        subject_attribute: "holder_did".into(),
        required: vec![("specialty".into(), "cardiology".into())],
        valid_until_attribute: Some("valid_until".into()),
    };
    ok(
        &net,
        authority.tx(vec![Action::Credentials(CredentialAction::SetRoleRule {
            rule: rule.clone(),
        })]),
    );
    let credential = board
        .issue(vec![
            AttributeValue::Text(physician.id.did().to_string()),
            AttributeValue::Text("cardiology".into()),
            AttributeValue::Date(2030_12_31),
        ])
        .unwrap();
    let as_of = salus_app::credentials::date_of(net.now() + 1_000);
    let request = claim_request(&rule, CHAIN, &physician.id, physician.nonce, as_of);
    let presentation = Presentation::create(
        &credential,
        board.definition(),
        &request,
        &board.status(),
        &[],
    )
    .unwrap();
    ok(
        &net,
        physician.tx(vec![Action::Credentials(CredentialAction::ClaimRole {
            role: Role::Provider,
            as_of,
            presentation: serde_json::to_string(&presentation).unwrap(),
        })]),
    );
    assert_eq!(keys(&net, "credentials/claimed/").len(), 1);
    let update = board.revoke(credential.index).unwrap();
    ok(
        &net,
        board_user.tx(vec![Action::Credentials(CredentialAction::Revoke {
            definition: id,
            update: serde_json::to_string(&update).unwrap(),
            holder: None,
        })]),
    );
    let mut actual = keys(&net, "credentials/");
    actual.extend(keys(&net, "identity/role/"));
    check("credentials", &actual);
}
