//! The credentials module through the `Chain` executor: a medical board
//! defines a license credential, an authority says a license earns the
//! provider role, and a physician claims the role with a zero-knowledge
//! presentation and no human attestation. Every block also runs on an
//! independent follower that must reach the same state root, so proof
//! verification inside the state machine is checked for determinism too.

mod common;

use salus_app::credentials::{self, claim_request, date_of};
use salus_app::identity;
use salus_types::credentials::{CredentialAction, RoleRule};
use salus_types::identity::{IdentityAction, Role};
use salus_types::{Action, ErrorCode, Tx};
use salus_zk::{
    AttributeKind as Kind, AttributeValue as V, Credential, Issuer, Presentation, Schema,
};

use common::{genesis, proposer_key, Net, User, CHAIN};

fn net(authority: &User) -> Net {
    Net::new(&genesis(authority, 1_795_305_600_000)) // 2026-11-22
}

/// What these tests ask of the shared harness.
trait Claims {
    fn today(&self) -> u32;
    fn role(&self, who: &User, role: Role) -> bool;
}

impl Claims for Net {
    fn today(&self) -> u32 {
        date_of(self.chain.tip().0.timestamp_ms + 1_000)
    }

    fn role(&self, who: &User, role: Role) -> bool {
        let snapshot = self.chain.store().snapshot().unwrap();
        identity::role(&snapshot, &who.id, role).unwrap().is_some()
    }
}

fn credentials(action: CredentialAction) -> Vec<Action> {
    vec![Action::Credentials(action)]
}

fn license_schema() -> Schema {
    Schema::new(
        "medical-license-v1",
        &[
            ("holder_did", Kind::Text),
            ("full_name", Kind::Text),
            ("specialty", Kind::Text),
            ("valid_until", Kind::Date),
        ],
    )
    .unwrap()
}

fn license(board: &mut Issuer, holder: &User, specialty: &str, valid_until: u32) -> Credential {
    board
        .issue(vec![
            V::Text(holder.id.did().to_string()),
            V::Text("Dr. Example".into()),
            V::Text(specialty.into()),
            V::Date(valid_until),
        ])
        .unwrap()
}

fn rule(definition: &str) -> RoleRule {
    RoleRule {
        role: Role::Provider,
        definition: definition.into(),
        subject_attribute: "holder_did".into(),
        required: vec![("specialty".into(), "cardiology".into())],
        valid_until_attribute: Some("valid_until".into()),
    }
}

/// The claim transaction a holder builds: a presentation answering the
/// rule's request for its own next nonce.
fn claim(
    net: &Net,
    who: &mut User,
    credential: &Credential,
    board: &Issuer,
    rule: &RoleRule,
) -> Tx {
    let as_of = net.today();
    let request = claim_request(rule, CHAIN, &who.id, who.nonce, as_of);
    let presentation = Presentation::create(
        credential,
        board.definition(),
        &request,
        &board.status(),
        &[],
    )
    .unwrap();
    who.tx(credentials(CredentialAction::ClaimRole {
        role: Role::Provider,
        as_of,
        presentation: serde_json::to_string(&presentation).unwrap(),
    }))
}

fn define(board_user: &mut User, board: &Issuer) -> Tx {
    board_user.tx(credentials(CredentialAction::Define {
        definition: serde_json::to_string(board.definition()).unwrap(),
        status: serde_json::to_string(&board.status()).unwrap(),
    }))
}

#[test]
fn a_license_earns_the_provider_role_until_it_is_revoked() {
    let mut authority = User::new(1);
    let mut board_user = User::new(2);
    let mut physician = User::new(3);
    let mut impostor = User::new(4);
    let net = net(&authority);
    for user in [
        &mut authority,
        &mut board_user,
        &mut physician,
        &mut impostor,
    ] {
        let tx = user.register();
        net.ok(tx);
    }
    net.ok(
        authority.tx(vec![Action::Identity(IdentityAction::AttestRole {
            subject: board_user.id,
            role: Role::Board,
        })]),
    );

    // Only an attested issuer defines credentials, and only under its own DID.
    let id = format!("{}#license-v1", board_user.id.did());
    let mut board = Issuer::new(id.clone(), license_schema(), 32).unwrap();
    let foreign = Issuer::new(
        format!("{}#license-v1", impostor.id.did()),
        license_schema(),
        4,
    )
    .unwrap();
    assert_eq!(
        net.code(define(&mut impostor, &foreign)),
        ErrorCode::NotAnIssuer
    );
    let squatted = Issuer::new(format!("{}#x", authority.id.did()), license_schema(), 4).unwrap();
    assert_eq!(
        net.code(define(&mut board_user, &squatted)),
        ErrorCode::BadCredentialObject
    );
    let garbage = board_user.tx(credentials(CredentialAction::Define {
        definition: "{\"id\": 7}".into(),
        status: "{}".into(),
    }));
    assert_eq!(net.code(garbage), ErrorCode::BadCredentialObject);
    net.ok(define(&mut board_user, &board));
    assert_eq!(
        net.code(define(&mut board_user, &board)),
        ErrorCode::DefinitionExists
    );

    // Only the authority for a role says which credential earns it.
    let rule = rule(&id);
    let set_rule = |user: &mut User, rule: &RoleRule| {
        user.tx(credentials(CredentialAction::SetRoleRule {
            rule: rule.clone(),
        }))
    };
    assert_eq!(
        net.code(set_rule(&mut board_user, &rule)),
        ErrorCode::NotAnAuthority
    );
    let mut bad = rule.clone();
    bad.valid_until_attribute = Some("full_name".into());
    assert_eq!(
        net.code(set_rule(&mut authority, &bad)),
        ErrorCode::BadRoleRule
    );
    net.ok(set_rule(&mut authority, &rule));

    // The cardiologist claims the role with a proof; nobody attests it.
    let credential = license(&mut board, &physician, "cardiology", 2030_12_31);
    assert!(!net.role(&physician, Role::Provider));
    let tx = claim(&net, &mut physician, &credential, &board, &rule);
    net.ok(tx.clone());
    assert!(net.role(&physician, Role::Provider));
    {
        let snapshot = net.chain.store().snapshot().unwrap();
        let grant = identity::role(&snapshot, &physician.id, Role::Provider)
            .unwrap()
            .unwrap();
        assert_eq!(
            grant.attested_by, board_user.id,
            "the board's credential vouched"
        );
        assert!(
            credentials::claimed_role(&snapshot, &physician.id, Role::Provider)
                .unwrap()
                .is_some()
        );
    }

    // The same presentation does not work for anyone else, or twice.
    let Action::Credentials(CredentialAction::ClaimRole {
        presentation,
        as_of,
        ..
    }) = &tx.body.actions[0]
    else {
        unreachable!()
    };
    let replay = impostor.tx(credentials(CredentialAction::ClaimRole {
        role: Role::Provider,
        as_of: *as_of,
        presentation: presentation.clone(),
    }));
    assert_eq!(net.code(replay), ErrorCode::PresentationRejected);
    // Someone else's license proves nothing about the impostor.
    let not_theirs = claim(&net, &mut impostor, &credential, &board, &rule);
    assert_eq!(net.code(not_theirs), ErrorCode::PresentationRejected);
    // The wrong specialty, or an expired license, earns nothing.
    let oncology = license(&mut board, &impostor, "oncology", 2030_12_31);
    let mut lax = rule.clone();
    lax.required.clear();
    let wrong_specialty = {
        let as_of = net.today();
        let request = claim_request(&lax, CHAIN, &impostor.id, impostor.nonce, as_of);
        let presentation = Presentation::create(
            &oncology,
            board.definition(),
            &request,
            &board.status(),
            &[],
        )
        .unwrap();
        impostor.tx(credentials(CredentialAction::ClaimRole {
            role: Role::Provider,
            as_of,
            presentation: serde_json::to_string(&presentation).unwrap(),
        }))
    };
    assert_eq!(net.code(wrong_specialty), ErrorCode::PresentationRejected);
    let expired = license(&mut board, &impostor, "cardiology", 2020_01_01);
    let request = claim_request(&rule, CHAIN, &impostor.id, impostor.nonce, net.today());
    assert!(
        Presentation::create(&expired, board.definition(), &request, &board.status(), &[]).is_err()
    );
    // A malformed presentation is a typed refusal.
    let malformed = impostor.tx(credentials(CredentialAction::ClaimRole {
        role: Role::Provider,
        as_of: net.today(),
        presentation: "{\"proof\": \"zz\"}".into(),
    }));
    assert_eq!(net.code(malformed), ErrorCode::BadCredentialObject);
    let unknown_rule = impostor.tx(credentials(CredentialAction::ClaimRole {
        role: Role::Insurer,
        as_of: net.today(),
        presentation: presentation.clone(),
    }));
    assert_eq!(net.code(unknown_rule), ErrorCode::UnknownRoleRule);
    assert!(!net.role(&impostor, Role::Provider));

    // Revocation: only the board, one epoch at a time; naming the holder
    // withdraws the role it earned.
    let update = board.revoke(credential.index).unwrap();
    let revoke = |user: &mut User, update: &salus_zk::RevocationUpdate| {
        user.tx(credentials(CredentialAction::Revoke {
            definition: id.clone(),
            update: serde_json::to_string(update).unwrap(),
            holder: Some(physician.id),
        }))
    };
    assert_eq!(
        net.code(revoke(&mut impostor, &update)),
        ErrorCode::NotTheIssuer
    );
    let mut skipped = update.clone();
    skipped.epoch = 5;
    assert_eq!(
        net.code(revoke(&mut board_user, &skipped)),
        ErrorCode::BadRevocationUpdate
    );
    net.ok(revoke(&mut board_user, &update));
    assert!(
        !net.role(&physician, Role::Provider),
        "the role went with the license"
    );
    {
        let snapshot = net.chain.store().snapshot().unwrap();
        let record = credentials::definition(&snapshot, &id).unwrap().unwrap();
        assert_eq!(record.epoch, 1);
        assert!(credentials::revocation_update(&snapshot, &id, 1)
            .unwrap()
            .is_some());
    }
    // A presentation made before the revocation no longer verifies on chain.
    let stale = {
        let as_of = net.today();
        let request = claim_request(&rule, CHAIN, &physician.id, physician.nonce, as_of);
        let mut old_status = board.status();
        old_status.epoch = 0;
        let mut credential = credential.clone();
        credential.epoch = 0;
        // Built against the old registry value the holder still has.
        let presentation =
            Presentation::create(&credential, board.definition(), &request, &old_status, &[]);
        physician.tx(credentials(CredentialAction::ClaimRole {
            role: Role::Provider,
            as_of,
            presentation: serde_json::to_string(&presentation.unwrap()).unwrap(),
        }))
    };
    assert_eq!(net.code(stale), ErrorCode::PresentationRejected);
    assert!(!net.role(&physician, Role::Provider));
}

#[test]
fn a_block_carries_a_bounded_number_of_role_claims() {
    use salus_app::ChainError;
    use salus_types::{Block, MAX_ACTIONS_PER_TX, MAX_BLOCK_WEIGHT};

    let net = net(&User::new(1));
    let bogus_claim = || {
        Action::Credentials(CredentialAction::ClaimRole {
            role: Role::Provider,
            as_of: 2026_11_22,
            presentation: "{}".into(),
        })
    };
    let (mut crowd, mut late) = (User::new(2), User::new(3));
    let full = crowd.tx(vec![bogus_claim(); MAX_ACTIONS_PER_TX]);
    let one_more = late.tx(vec![bogus_claim()]);
    let after_it = late.tx(vec![bogus_claim()]);
    assert_eq!(
        MAX_ACTIONS_PER_TX as u64, MAX_BLOCK_WEIGHT,
        "one full transaction of claims (each weighing one) fills a block"
    );

    // The proposer takes claims up to the budget; the rest wait, and so do
    // their signers' later nonces (they are not rejected).
    let (tip, digest) = net.chain.tip();
    let proposal = net
        .chain
        .propose(
            &digest,
            tip.timestamp_ms + 1_000,
            proposer_key().public_key(),
            &[full.clone(), one_more.clone(), after_it.clone()],
        )
        .unwrap();
    assert_eq!(proposal.block.txs, vec![full.clone()]);
    assert!(proposal.rejected.is_empty(), "{:?}", proposal.rejected);

    // A block over the budget is refused before anything executes.
    let mut forged = proposal.block.clone();
    forged.txs.push(one_more.clone());
    forged.header.tx_root = Block::tx_root_of(&forged.txs);
    assert!(matches!(
        net.follower.verify(&forged),
        Err(ChainError::TooHeavy(n)) if n == MAX_BLOCK_WEIGHT + 1
    ));

    // Within the budget, the claims are executed (and fail: they prove nothing).
    let codes = net.codes(&[full]);
    assert_eq!(codes.len(), 1);
    assert_ne!(codes[0], ErrorCode::Ok);
    let codes = net.codes(&[one_more, after_it]);
    assert_eq!(codes.len(), 2);
}
