//! The identity module: a DID registry (`did:salus:<account>`), key rotation,
//! deactivation, and role attestation by authorities: the first set named at
//! genesis, later ones appointed by governance.

use salus_state::{Overlay, StateError, StateRead};
pub use salus_types::did_document::{resolve_did_key, resolve_salus};
use salus_types::identity::{
    rotation_message, DidRecord, IdentityAction, IdentityEvent, IdentityGenesis, Role, RoleGrant,
    Service, MAX_SERVICES, MAX_SERVICE_FIELD_LEN,
};
use salus_types::{AccountId, ErrorCode};

use crate::auth;
use crate::context::{
    read, refuse, reject, write, ActionError, Events, ExecResult, Module, TxContext, TxOrigin,
};
use crate::genesis::GenesisError;
use salus_types::identity::{authority_key, did_key, role_key, PREFIX};

pub fn did_record(
    state: &dyn StateRead,
    account: &AccountId,
) -> Result<Option<DidRecord>, StateError> {
    read(state, &did_key(account))
}

pub fn role(
    state: &dyn StateRead,
    account: &AccountId,
    role: Role,
) -> Result<Option<RoleGrant>, StateError> {
    read(state, &role_key(account, role))
}

pub fn roles(
    state: &dyn StateRead,
    account: &AccountId,
) -> Result<Vec<(Role, RoleGrant)>, StateError> {
    let mut out = Vec::new();
    for r in Role::ALL.iter().copied() {
        if let Some(grant) = role(state, account, r)? {
            out.push((r, grant));
        }
    }
    Ok(out)
}

/// The roles `account` may attest.
pub fn authority_roles(
    state: &dyn StateRead,
    account: &AccountId,
) -> Result<Vec<Role>, StateError> {
    Ok(read(state, &authority_key(account))?.unwrap_or_default())
}

/// The identity module.
pub struct Identity;

impl Module for Identity {
    const PREFIX: &'static str = PREFIX;
    type Action = IdentityAction;
    type Cache = ();
    type Genesis = IdentityGenesis;

    fn init_genesis(
        state: &mut Overlay<'_>,
        genesis: &IdentityGenesis,
    ) -> Result<(), GenesisError> {
        let mut seen = std::collections::BTreeSet::new();
        for authority in &genesis.authorities {
            if !seen.insert(authority.account) {
                return Err(GenesisError::Invalid(format!(
                    "identity authority {} is listed twice",
                    authority.account
                )));
            }
            let mut roles = authority.roles.clone();
            roles.sort();
            roles.dedup();
            write(state, authority_key(&authority.account), &roles);
        }
        Ok(())
    }

    fn check(_tx: &TxOrigin<'_>, action: &IdentityAction) -> Result<(), ActionError> {
        match action {
            IdentityAction::Register { services, .. }
            | IdentityAction::SetServices { services } => check_services(services),
            _ => Ok(()),
        }
    }

    fn execute(
        ctx: &TxContext<'_>,
        _cache: &(),
        state: &mut Overlay<'_>,
        action: &IdentityAction,
        events: &mut Events,
    ) -> ExecResult<()> {
        let me = ctx.tx.signer;
        match action {
            IdentityAction::Register {
                agreement_key,
                services,
            } => {
                if did_record(state, &me)?.is_some() {
                    return reject(
                        ErrorCode::DidAlreadyRegistered,
                        format!("{} is already registered", me.did()),
                    );
                }
                let record = DidRecord {
                    verification_key: ctx.tx.signing_key,
                    agreement_key: *agreement_key,
                    services: services.clone(),
                    created_ms: ctx.timestamp_ms,
                    updated_ms: ctx.timestamp_ms,
                    key_version: 1,
                    deactivated: false,
                };
                write(state, did_key(&me), &record);
                events.emit(IdentityEvent::Registered { account: me });
            }
            IdentityAction::RotateKeys {
                new_key,
                new_agreement_key,
                possession,
            } => {
                let mut record = live_record(state, &me)?;
                let message = rotation_message(ctx.tx.chain_id, &me, new_key);
                if new_key.verify(&message, possession).is_err() {
                    return reject(
                        ErrorCode::BadKeyPossession,
                        "the new key did not sign the rotation",
                    );
                }
                record.verification_key = *new_key;
                record.agreement_key = *new_agreement_key;
                record.updated_ms = ctx.timestamp_ms;
                record.key_version = record
                    .key_version
                    .checked_add(1)
                    .ok_or_else(|| ActionError::new(ErrorCode::Overflow, "too many rotations"))?;
                let key_version = record.key_version;
                write(state, did_key(&me), &record);
                auth::set_key(state, &me, *new_key)?;
                events.emit(IdentityEvent::KeysRotated {
                    account: me,
                    key_version,
                });
            }
            IdentityAction::SetServices { services } => {
                let mut record = live_record(state, &me)?;
                record.services = services.clone();
                record.updated_ms = ctx.timestamp_ms;
                write(state, did_key(&me), &record);
                events.emit(IdentityEvent::ServicesUpdated { account: me });
            }
            IdentityAction::Deactivate => {
                let mut record = live_record(state, &me)?;
                record.deactivated = true;
                record.updated_ms = ctx.timestamp_ms;
                write(state, did_key(&me), &record);
                auth::disable(state, &me)?;
                events.emit(IdentityEvent::Deactivated { account: me });
            }
            IdentityAction::AttestRole { subject, role: r } => {
                if !authority_roles(state, &me)?.contains(r) {
                    return reject(
                        ErrorCode::NotAnAuthority,
                        format!("{} may not attest role {}", me.did(), r.name()),
                    );
                }
                live_record(state, subject)?;
                if role(state, subject, *r)?.is_some() {
                    return reject(
                        ErrorCode::RoleAlreadyHeld,
                        format!("{} already holds role {}", subject.did(), r.name()),
                    );
                }
                let grant = RoleGrant {
                    attested_by: me,
                    attested_ms: ctx.timestamp_ms,
                };
                write(state, role_key(subject, *r), &grant);
                events.emit(IdentityEvent::RoleAttested {
                    subject: *subject,
                    role: *r,
                    by: me,
                });
            }
            IdentityAction::RevokeRole { subject, role: r } => {
                if !authority_roles(state, &me)?.contains(r) {
                    return reject(
                        ErrorCode::NotAnAuthority,
                        format!("{} may not revoke role {}", me.did(), r.name()),
                    );
                }
                if role(state, subject, *r)?.is_none() {
                    return reject(
                        ErrorCode::RoleNotHeld,
                        format!("{} does not hold role {}", subject.did(), r.name()),
                    );
                }
                state.delete(role_key(subject, *r));
                events.emit(IdentityEvent::RoleRevoked {
                    subject: *subject,
                    role: *r,
                    by: me,
                });
            }
        }
        Ok(())
    }
}

fn check_services(services: &[Service]) -> Result<(), ActionError> {
    if services.len() > MAX_SERVICES {
        return refuse(
            ErrorCode::InvalidService,
            format!("at most {MAX_SERVICES} services"),
        );
    }
    for service in services {
        let fields = [&service.id, &service.kind, &service.endpoint];
        if fields
            .iter()
            .any(|f| f.is_empty() || f.len() > MAX_SERVICE_FIELD_LEN)
        {
            return refuse(
                ErrorCode::InvalidService,
                format!("service fields must be 1..={MAX_SERVICE_FIELD_LEN} bytes"),
            );
        }
        if !service
            .id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        {
            return refuse(
                ErrorCode::InvalidService,
                "service id must be [A-Za-z0-9_-]",
            );
        }
    }
    let mut ids: Vec<&str> = services.iter().map(|s| s.id.as_str()).collect();
    ids.sort();
    if ids.windows(2).any(|w| w[0] == w[1]) {
        return refuse(ErrorCode::InvalidService, "service ids must be unique");
    }
    Ok(())
}

/// Grants `role` to `subject` on the word of another module's rule (the
/// credentials module, when a presentation satisfies a role rule).
/// `attested_by` is whoever vouched: the credential's issuer.
pub fn grant_role(
    state: &mut Overlay<'_>,
    subject: &AccountId,
    r: Role,
    attested_by: AccountId,
    at_ms: u64,
    events: &mut Events,
) -> ExecResult<()> {
    state.confine(PREFIX, |state| {
        live_record(state, subject)?;
        if role(state, subject, r)?.is_some() {
            return reject(
                ErrorCode::RoleAlreadyHeld,
                format!("{} already holds role {}", subject.did(), r.name()),
            );
        }
        let grant = RoleGrant {
            attested_by,
            attested_ms: at_ms,
        };
        write(state, role_key(subject, r), &grant);
        events.emit(IdentityEvent::RoleAttested {
            subject: *subject,
            role: r,
            by: attested_by,
        });
        Ok(())
    })
}

/// Makes `account` an authority for exactly `roles` (governance); no roles
/// removes it. An authority needs a live DID; removing a non-authority is
/// refused, so a stale proposal says so.
pub fn set_authority(
    state: &mut Overlay<'_>,
    account: &AccountId,
    roles: &[Role],
    events: &mut Events,
) -> ExecResult<()> {
    state.confine(PREFIX, |state| {
        let mut roles = roles.to_vec();
        roles.sort();
        roles.dedup();
        if roles.is_empty() {
            if authority_roles(state, account)?.is_empty() {
                return reject(
                    ErrorCode::NotAnAuthority,
                    format!("{} is not an authority", account.did()),
                );
            }
            state.delete(authority_key(account));
        } else {
            live_record(state, account)?;
            write(state, authority_key(account), &roles);
        }
        events.emit(IdentityEvent::AuthoritySet {
            account: *account,
            roles,
        });
        Ok(())
    })
}

/// Withdraws a role granted through [`grant_role`].
pub fn withdraw_role(
    state: &mut Overlay<'_>,
    subject: &AccountId,
    r: Role,
    by: AccountId,
    events: &mut Events,
) -> ExecResult<()> {
    state.confine(PREFIX, |state| {
        if role(state, subject, r)?.is_some() {
            state.delete(role_key(subject, r));
            events.emit(IdentityEvent::RoleRevoked {
                subject: *subject,
                role: r,
                by,
            });
        }
        Ok(())
    })
}

/// Fails unless `account` has a registered, active DID.
pub fn require_live(state: &dyn StateRead, account: &AccountId) -> ExecResult<()> {
    live_record(state, account).map(|_| ())
}

fn live_record(state: &dyn StateRead, account: &AccountId) -> ExecResult<DidRecord> {
    match did_record(state, account)? {
        None => Err(ActionError::new(
            ErrorCode::DidNotFound,
            format!("{} is not registered", account.did()),
        )
        .into()),
        Some(r) if r.deactivated => Err(ActionError::new(
            ErrorCode::DidDeactivated,
            format!("{} is deactivated", account.did()),
        )
        .into()),
        Some(r) => Ok(r),
    }
}
