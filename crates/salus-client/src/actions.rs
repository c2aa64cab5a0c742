//! Action constructors, one per module action.

use salus_crypto::{AgreementPublicKey, SigningKey};
use salus_types::identity::{rotation_message, IdentityAction, Role, Service};
use salus_types::token::TokenAction;
use salus_types::{AccountId, Action};

pub fn transfer(to: AccountId, amount: u128) -> Action {
    Action::Token(TokenAction::Transfer { to, amount })
}

pub fn register_did(agreement_key: AgreementPublicKey, services: Vec<Service>) -> Action {
    Action::Identity(IdentityAction::Register {
        agreement_key,
        services,
    })
}

/// Rotates `account` to `new_key`, proving possession of it.
pub fn rotate_keys(
    chain_id: &str,
    account: &AccountId,
    new_key: &SigningKey,
    new_agreement_key: AgreementPublicKey,
) -> Action {
    let possession = new_key.sign(&rotation_message(chain_id, account, &new_key.public_key()));
    Action::Identity(IdentityAction::RotateKeys {
        new_key: new_key.public_key(),
        new_agreement_key,
        possession,
    })
}

pub fn attest_role(subject: AccountId, role: Role) -> Action {
    Action::Identity(IdentityAction::AttestRole { subject, role })
}

pub fn revoke_role(subject: AccountId, role: Role) -> Action {
    Action::Identity(IdentityAction::RevokeRole { subject, role })
}

pub fn deactivate() -> Action {
    Action::Identity(IdentityAction::Deactivate)
}
