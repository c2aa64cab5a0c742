//! The cast and helpers of the records, consent and audit tests: a chain
//! with one vault operator, six registered users, anchors and consent
//! actions, and consent decisions read from the chain's state.

use salus_app::consent::{self, Access};
use salus_types::audit::{AuditGenesis, VaultOperator};
use salus_types::consent::{AccessReason, ConsentAction, Purpose};
use salus_types::identity::{IdentityAction, Role};
use salus_types::records::{Category, RecordAction, RecordId};
use salus_types::{AccountId, Action, ErrorCode, Genesis, Hash, Tx};

use super::{genesis, Net, User};

pub const HOUR: u64 = 3_600_000;

pub fn net(authority: &User, vault: &User) -> Net {
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
pub trait Decisions {
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

pub fn anchor(
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

pub fn consent(user: &mut User, action: ConsentAction) -> Tx {
    user.tx(vec![Action::Consent(action)])
}

pub fn attest(authority: &mut User, subject: &User, role: Role) -> Tx {
    authority.tx(vec![Action::Identity(IdentityAction::AttestRole {
        subject: subject.id,
        role,
    })])
}

/// authority, vault, hospital (provider), patient, specialist, stranger — all registered.
pub fn cast() -> (Net, [User; 6]) {
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
