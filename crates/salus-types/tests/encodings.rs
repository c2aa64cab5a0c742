//! Every module's actions and events keep the bytes they were first published
//! with. A signed transaction carrying every action variant of a module, and
//! each event variant, is encoded and compared with `encodings.txt`, which
//! was written before the module registry existed. A changed line means a
//! changed encoding: old blocks would no longer decode, and hashes and state
//! roots would move. A new module appends its own lines; no line ever
//! changes.

use salus_crypto::{AgreementPublicKey, Hash, PublicKey, Signature, SigningKey};
use salus_types::audit::{AccessEntry, AuditAction, AuditEvent};
use salus_types::consent::{
    AccessReason, ConsentAction, ConsentEvent, DelegateKind, EmergencyReason, Purpose, Scope,
};
use salus_types::credentials::{CredentialAction, CredentialEvent, RoleRule};
use salus_types::governance::{
    Change, GovernanceAction, GovernanceEvent, Outcome, ParamChange, VoteOption,
};
use salus_types::identity::{IdentityAction, IdentityEvent, Role, Service};
use salus_types::insurance::{Coverage, InsuranceAction, InsuranceEvent, PoolTerms, Product};
use salus_types::oracle::{Answer, Evidence, OracleAction, OracleEvent, OracleParams};
use salus_types::records::{Category, RecordAction, RecordEvent, RecordId};
use salus_types::staking::{StakingAction, StakingEvent};
use salus_types::token::{TokenAction, TokenEvent};
use salus_types::{codec, AccountId, Action, Event, TxBody};

const FIXTURES: &str = include_str!("encodings.txt");

fn account(byte: u8) -> AccountId {
    AccountId([byte; 20])
}

fn tx_hex(actions: Vec<Action>) -> String {
    let key = SigningKey::from_seed(&[7; 32]);
    let tx = TxBody {
        chain_id: "salus-fixtures".into(),
        signer: AccountId::from_public_key(&key.public_key()),
        public_key: key.public_key(),
        nonce: 42,
        actions,
    }
    .sign(&key);
    hex::encode(tx.encode())
}

fn event_hex(event: impl Into<Event>) -> String {
    hex::encode(codec::encode(&event.into()))
}

fn entry() -> AccessEntry {
    AccessEntry {
        record: RecordId([3; 16]),
        version: 2,
        patient: account(1),
        requester: account(2),
        purpose: Purpose::Treatment,
        reason: AccessReason::Grant,
        grant: Some(9),
        at_ms: 1_700_000_000_000,
        request: Hash([4; 32]),
    }
}

fn samples() -> Vec<(&'static str, String)> {
    let service = Service {
        id: "vault".into(),
        kind: "SalusVault".into(),
        endpoint: "https://vault.example".into(),
    };
    let identity = vec![
        IdentityAction::Register {
            agreement_key: AgreementPublicKey([5; 32]),
            services: vec![service.clone()],
        },
        IdentityAction::RotateKeys {
            new_key: PublicKey([6; 32]),
            new_agreement_key: AgreementPublicKey([7; 32]),
            possession: Signature([8; 64]),
        },
        IdentityAction::SetServices {
            services: vec![service],
        },
        IdentityAction::Deactivate,
        IdentityAction::AttestRole {
            subject: account(1),
            role: Role::Provider,
        },
        IdentityAction::RevokeRole {
            subject: account(1),
            role: Role::Board,
        },
    ];
    let token = vec![TokenAction::Transfer {
        to: account(2),
        amount: u128::MAX - 5,
    }];
    let records = vec![
        RecordAction::Anchor {
            record: RecordId([3; 16]),
            patient: account(1),
            category: Category::Laboratory,
            version: 2,
            ciphertext_hash: Hash([9; 32]),
            ciphertext_len: 4096,
            previous: Some(Hash([10; 32])),
        },
        RecordAction::Erase {
            record: RecordId([3; 16]),
        },
    ];
    let consent = vec![
        ConsentAction::Grant {
            patient: account(1),
            grantee: account(2),
            scope: Scope::Categories(vec![Category::Laboratory, Category::Imaging]),
            purpose: Purpose::Research,
            expires_ms: 1_800_000_000_000,
        },
        ConsentAction::Revoke { grant: 7 },
        ConsentAction::Delegate {
            delegate: account(3),
            kind: DelegateKind::Guardian,
            expires_ms: 1_800_000_000_000,
        },
        ConsentAction::Undelegate {
            delegate: account(3),
        },
        ConsentAction::SetEmergencyPolicy {
            patient: account(1),
            enabled: true,
            window_ms: 3_600_000,
            responders: vec![account(4), account(5)],
        },
        ConsentAction::BreakGlass {
            patient: account(1),
            reason: EmergencyReason::Unconscious,
        },
    ];
    let audit = vec![AuditAction::RecordAccess {
        entries: vec![entry()],
    }];
    let credentials = vec![
        CredentialAction::Define {
            definition: "{\"id\":\"d\"}".into(),
            status: "{\"epoch\":0}".into(),
        },
        CredentialAction::PublishSet {
            set: "{\"id\":\"s\"}".into(),
        },
        CredentialAction::Revoke {
            definition: "did:salus:01#license".into(),
            update: "{\"epoch\":1}".into(),
            holder: Some(account(6)),
        },
        CredentialAction::SetRoleRule {
            rule: RoleRule {
                role: Role::Provider,
                definition: "did:salus:01#license".into(),
                subject_attribute: "holder_did".into(),
                required: vec![("specialty".into(), "cardiology".into())],
                valid_until_attribute: Some("valid_until".into()),
            },
        },
        CredentialAction::ClaimRole {
            role: Role::Provider,
            as_of: 2026_12_05,
            presentation: "{\"proof\":\"p\"}".into(),
        },
    ];
    let wrap = |actions: Vec<Action>| tx_hex(actions);
    vec![
        (
            "tx/identity",
            wrap(identity.into_iter().map(Action::Identity).collect()),
        ),
        (
            "tx/token",
            wrap(token.into_iter().map(Action::Token).collect()),
        ),
        (
            "tx/records",
            wrap(records.into_iter().map(Action::Records).collect()),
        ),
        (
            "tx/consent",
            wrap(consent.into_iter().map(Action::Consent).collect()),
        ),
        (
            "tx/audit",
            wrap(audit.into_iter().map(Action::Audit).collect()),
        ),
        (
            "tx/credentials",
            wrap(credentials.into_iter().map(Action::Credentials).collect()),
        ),
        (
            "event/identity/registered",
            event_hex(IdentityEvent::Registered {
                account: account(1),
            }),
        ),
        (
            "event/identity/keys_rotated",
            event_hex(IdentityEvent::KeysRotated {
                account: account(1),
                key_version: 3,
            }),
        ),
        (
            "event/identity/services_updated",
            event_hex(IdentityEvent::ServicesUpdated {
                account: account(1),
            }),
        ),
        (
            "event/identity/deactivated",
            event_hex(IdentityEvent::Deactivated {
                account: account(1),
            }),
        ),
        (
            "event/identity/role_attested",
            event_hex(IdentityEvent::RoleAttested {
                subject: account(1),
                role: Role::Insurer,
                by: account(2),
            }),
        ),
        (
            "event/identity/role_revoked",
            event_hex(IdentityEvent::RoleRevoked {
                subject: account(1),
                role: Role::Oracle,
                by: account(2),
            }),
        ),
        (
            "event/token/transferred",
            event_hex(TokenEvent::Transferred {
                from: account(1),
                to: account(2),
                amount: 1_000_000,
            }),
        ),
        (
            "event/records/anchored",
            event_hex(RecordEvent::Anchored {
                record: RecordId([3; 16]),
                patient: account(1),
                author: account(2),
                category: Category::Imaging,
                version: 1,
            }),
        ),
        (
            "event/records/erased",
            event_hex(RecordEvent::Erased {
                record: RecordId([3; 16]),
                patient: account(1),
                by: account(1),
            }),
        ),
        (
            "event/consent/granted",
            event_hex(ConsentEvent::Granted {
                grant: 1,
                patient: account(1),
                grantee: account(2),
                purpose: Purpose::Payment,
                expires_ms: 1_800_000_000_000,
                by: account(1),
            }),
        ),
        (
            "event/consent/revoked",
            event_hex(ConsentEvent::Revoked {
                grant: 1,
                patient: account(1),
                grantee: account(2),
                by: account(3),
            }),
        ),
        (
            "event/consent/delegated",
            event_hex(ConsentEvent::Delegated {
                patient: account(1),
                delegate: account(3),
                kind: DelegateKind::Proxy,
                expires_ms: 1_800_000_000_000,
            }),
        ),
        (
            "event/consent/undelegated",
            event_hex(ConsentEvent::Undelegated {
                patient: account(1),
                delegate: account(3),
            }),
        ),
        (
            "event/consent/emergency_policy_set",
            event_hex(ConsentEvent::EmergencyPolicySet {
                patient: account(1),
                enabled: false,
                window_ms: 60_000,
                responders: vec![account(4)],
                by: account(1),
            }),
        ),
        (
            "event/consent/break_glass",
            event_hex(ConsentEvent::BreakGlass {
                patient: account(1),
                provider: account(4),
                reason: EmergencyReason::LifeThreatening,
                expires_ms: 1_700_000_060_000,
            }),
        ),
        (
            "event/audit/accessed",
            event_hex(AuditEvent::Accessed {
                vault: account(8),
                seq: 12,
                entry: entry(),
            }),
        ),
        (
            "event/credentials/defined",
            event_hex(CredentialEvent::Defined {
                issuer: account(1),
                definition: "did:salus:01#license".into(),
            }),
        ),
        (
            "event/credentials/set_published",
            event_hex(CredentialEvent::SetPublished {
                publisher: account(1),
                set: "did:salus:01#cvx".into(),
            }),
        ),
        (
            "event/credentials/revoked",
            event_hex(CredentialEvent::Revoked {
                issuer: account(1),
                definition: "did:salus:01#license".into(),
                epoch: 4,
            }),
        ),
        (
            "event/credentials/role_rule_set",
            event_hex(CredentialEvent::RoleRuleSet {
                by: account(2),
                role: Role::Provider,
                definition: "did:salus:01#license".into(),
            }),
        ),
        (
            "event/credentials/role_claimed",
            event_hex(CredentialEvent::RoleClaimed {
                subject: account(3),
                role: Role::Provider,
                definition: "did:salus:01#license".into(),
            }),
        ),
        (
            "tx/oracle",
            wrap(
                vec![
                    OracleAction::Bond { amount: 5_000 },
                    OracleAction::Unbond { amount: 7 },
                    OracleAction::Withdraw,
                    OracleAction::Answer {
                        question: 3,
                        answer: Answer::Approve { amount: 42 },
                    },
                ]
                .into_iter()
                .map(Action::Oracle)
                .collect(),
            ),
        ),
        (
            "tx/insurance",
            wrap(
                vec![
                    InsuranceAction::CreatePool {
                        terms: PoolTerms {
                            products: vec![
                                Product {
                                    name: "indemnity".into(),
                                    coverage: Coverage::Indemnity {
                                        diagnosis_codes: vec!["J18.9".into()],
                                        currency: "USD".into(),
                                        units_per_cent: 2,
                                        deductible: 500,
                                    },
                                },
                                Product {
                                    name: "cash".into(),
                                    coverage: Coverage::Parametric {
                                        per_day: 100,
                                        max_days: 9,
                                    },
                                },
                            ],
                            premium_rate_bps: 300,
                            min_capital_ratio_bps: 12_000,
                            max_cover: 1_000_000,
                            lockup_ms: 60_000,
                        },
                    },
                    InsuranceAction::Deposit {
                        pool: 1,
                        amount: 9_000,
                    },
                    InsuranceAction::Withdraw { pool: 1, shares: 8 },
                    InsuranceAction::BuyPolicy {
                        pool: 1,
                        product: 1,
                        holder: account(4),
                        cover: 700,
                        term_ms: 86_400_000,
                    },
                    InsuranceAction::FileClaim {
                        policy: 2,
                        evidence: vec![Evidence {
                            record: RecordId([3; 16]),
                            version: 1,
                        }],
                        amount: 650,
                        payee: account(5),
                    },
                ]
                .into_iter()
                .map(Action::Insurance)
                .collect(),
            ),
        ),
        (
            "tx/staking",
            wrap(
                vec![
                    StakingAction::Bond { amount: 700 },
                    StakingAction::Unbond { amount: 70 },
                    StakingAction::Withdraw,
                    StakingAction::Delegate {
                        to: Some(account(6)),
                    },
                    StakingAction::Delegate { to: None },
                ]
                .into_iter()
                .map(Action::Staking)
                .collect(),
            ),
        ),
        (
            "event/staking/delegated",
            event_hex(StakingEvent::Delegated {
                account: account(1),
                from: None,
                to: Some(account(6)),
            }),
        ),
        (
            "tx/governance",
            wrap(
                vec![
                    GovernanceAction::Propose {
                        title: "Committees of five".into(),
                        change: Change::Params(ParamChange::Oracle(OracleParams {
                            committee_size: 5,
                            ..OracleParams::default()
                        })),
                    },
                    GovernanceAction::Propose {
                        title: "A study grant".into(),
                        change: Change::Spend {
                            to: account(3),
                            amount: 5_000,
                        },
                    },
                    GovernanceAction::Propose {
                        title: "A new oracle".into(),
                        change: Change::AttestRole {
                            subject: account(4),
                            role: Role::Oracle,
                        },
                    },
                    GovernanceAction::Vote {
                        proposal: 1,
                        option: VoteOption::Veto,
                    },
                ]
                .into_iter()
                .map(Action::Governance)
                .collect(),
            ),
        ),
        (
            "tx/governance/validator_set",
            wrap(
                vec![
                    Change::AddValidator {
                        key: PublicKey([5; 32]),
                        address: "10.0.0.5:7000".into(),
                    },
                    Change::RemoveValidator {
                        key: PublicKey([6; 32]),
                    },
                    Change::RekeyValidator {
                        key: PublicKey([6; 32]),
                        new_key: PublicKey([7; 32]),
                    },
                ]
                .into_iter()
                .map(|change| {
                    Action::Governance(GovernanceAction::Propose {
                        title: "The validator set".into(),
                        change,
                    })
                })
                .collect(),
            ),
        ),
        (
            "tx/insurance/for_the_insured",
            wrap(vec![Action::Insurance(
                InsuranceAction::FileClaimForInsured {
                    policy: 2,
                    evidence: vec![Evidence {
                        record: RecordId([3; 16]),
                        version: 1,
                    }],
                    amount: 650,
                    payee: account(6),
                    authorization: 9,
                },
            )]),
        ),
        (
            "event/governance/closed",
            event_hex(GovernanceEvent::Closed {
                proposal: 1,
                proposer: account(2),
                outcome: Outcome::Passed,
            }),
        ),
        (
            "event/oracle/asked",
            event_hex(OracleEvent::Asked {
                question: 3,
                asker: account(1),
                subject: account(2),
                committee: vec![account(3), account(4)],
                deadline_height: 99,
            }),
        ),
        (
            "event/oracle/resolved",
            event_hex(OracleEvent::Resolved {
                question: 3,
                asker: account(1),
                subject: account(2),
                answer: Answer::Deny,
                agreed: vec![account(3)],
            }),
        ),
        (
            "event/oracle/slashed",
            event_hex(OracleEvent::Slashed {
                question: 3,
                oracle: account(3),
                amount: 100,
            }),
        ),
        (
            "event/insurance/claim_filed",
            event_hex(InsuranceEvent::ClaimFiled {
                claim: 1,
                policy: 2,
                holder: account(2),
                claimant: account(2),
                question: 3,
                amount: 650,
            }),
        ),
        (
            "event/insurance/claim_paid",
            event_hex(InsuranceEvent::ClaimPaid {
                claim: 1,
                holder: account(2),
                payee: account(5),
                amount: 600,
            }),
        ),
        (
            "event/credentials/claimed_role_withdrawn",
            event_hex(CredentialEvent::ClaimedRoleWithdrawn {
                subject: account(3),
                role: Role::Provider,
                definition: "did:salus:01#license".into(),
            }),
        ),
    ]
}

#[test]
fn every_module_encodes_as_its_fixture() {
    let fixtures: std::collections::BTreeMap<&str, &str> = FIXTURES
        .lines()
        .filter(|line| !line.trim().is_empty() && !line.starts_with('#'))
        .map(|line| {
            line.split_once(' ')
                .unwrap_or_else(|| panic!("fixture line `{line}` is not `name hex`"))
        })
        .collect();
    let samples = samples();
    let mut missing = Vec::new();
    for (name, hex) in &samples {
        match fixtures.get(name) {
            Some(expected) => assert_eq!(
                hex, expected,
                "the encoding of `{name}` changed; old blocks would no longer decode"
            ),
            None => missing.push(format!("{name} {hex}")),
        }
    }
    assert!(
        missing.is_empty(),
        "no fixture for these samples; append them to encodings.txt:\n{}",
        missing.join("\n")
    );
    for name in fixtures.keys() {
        assert!(
            samples.iter().any(|(sample, _)| sample == name),
            "fixture `{name}` has no sample: a module's encoding was dropped"
        );
    }
}
