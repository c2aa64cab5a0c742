//! The consent module: grants, delegation and break-glass access, and the
//! access decision every vault makes from them.
//!
//! State:
//! - `consent/grant/<id>`: every grant ever made; revoked ones stay, marked.
//! - `consent/patient/<patient><id>`: the patient's unrevoked grants.
//! - `consent/pair/<grantee><patient><id>`: every grant from a patient to a
//!   grantee, so that a denial can say *why* (expired, revoked, …).
//! - `consent/delegate/<patient><delegate>`, `consent/policy/<patient>`,
//!   `consent/emergency/<patient><provider>`.

use salus_state::{Overlay, StateError, StateRead};
use salus_types::consent::{
    ConsentAction, ConsentEvent, Delegation, EmergencyAccess, EmergencyPolicy, Grant, Purpose,
    Scope, MAX_ACTIVE_GRANTS, MAX_EMERGENCY_WINDOW_MS, MAX_GRANT_MS, MAX_RESPONDERS,
    MAX_SCOPE_ITEMS,
};
use salus_types::identity::Role;
use salus_types::{AccountId, ErrorCode};

use crate::context::{
    read, refuse, reject, write, ActionError, Events, ExecResult, Module, TxContext, TxOrigin,
};
use crate::identity;
use salus_types::consent::{
    active_count_key, delegate_key, emergency_key, grant_key, next_grant_key, pair_prefix,
    patient_grant_key, policy_key, PREFIX,
};

mod access;

pub use access::*;

/// A grant to open: what [`ConsentAction::Grant`] names.
pub struct NewGrant {
    pub patient: AccountId,
    pub grantee: AccountId,
    pub scope: Scope,
    pub purpose: Purpose,
    pub expires_ms: u64,
}

/// Opens a grant, checked against the expiry and per-patient limits, and
/// returns its id. The caller has decided that `by` may grant for the
/// patient: the patient or a delegate, or another module's rule the patient
/// agreed to (an insurance claim's committee). Confines itself to the
/// consent prefix.
pub fn open_grant(
    state: &mut Overlay<'_>,
    new: NewGrant,
    now: u64,
    by: &AccountId,
    events: &mut Events,
) -> ExecResult<u64> {
    state.confine(PREFIX, |state| {
        let NewGrant {
            patient,
            grantee,
            scope,
            purpose,
            expires_ms,
        } = new;
        check_scope(&scope)?;
        check_expiry(now, expires_ms)?;
        let active: u32 = read(state, &active_count_key(&patient))?.unwrap_or(0);
        if active >= MAX_ACTIVE_GRANTS {
            return reject(
                ErrorCode::TooManyGrants,
                format!("at most {MAX_ACTIVE_GRANTS} unrevoked grants; revoke expired ones"),
            );
        }
        let id: u64 = read(state, &next_grant_key())?.unwrap_or(1);
        let grant = Grant {
            id,
            patient,
            grantee,
            scope,
            purpose,
            created_ms: now,
            expires_ms,
            granted_by: *by,
            revoked_ms: None,
        };
        write(state, grant_key(id), &grant);
        write(state, next_grant_key(), &(id + 1));
        write(state, active_count_key(&patient), &(active + 1));
        write(state, patient_grant_key(&patient, id), &());
        let mut pair = pair_prefix(&grantee, &patient);
        pair.extend_from_slice(&id.to_be_bytes());
        write(state, pair, &());
        events.emit(ConsentEvent::Granted {
            grant: id,
            patient,
            grantee,
            purpose,
            expires_ms,
            by: *by,
        });
        Ok(id)
    })
}

/// Revokes `grant` (which must not be revoked yet) from `now` on. The
/// caller has decided that `by` may. Confines itself to the consent prefix.
pub fn close_grant(
    state: &mut Overlay<'_>,
    mut grant: Grant,
    now: u64,
    by: &AccountId,
    events: &mut Events,
) -> ExecResult<()> {
    assert!(grant.revoked_ms.is_none(), "a grant is revoked once");
    state.confine(PREFIX, |state| {
        let id = grant.id;
        grant.revoked_ms = Some(now);
        write(state, grant_key(id), &grant);
        state.delete(patient_grant_key(&grant.patient, id));
        let active: u32 = read(state, &active_count_key(&grant.patient))?.unwrap_or(0);
        let active = active
            .checked_sub(1)
            .ok_or_else(|| StateError::Corrupt("active grant count underflows".into()))?;
        write(state, active_count_key(&grant.patient), &active);
        events.emit(ConsentEvent::Revoked {
            grant: id,
            patient: grant.patient,
            grantee: grant.grantee,
            by: *by,
        });
        Ok(())
    })
}

/// The consent module.
pub struct Consent;

impl Module for Consent {
    const PREFIX: &'static str = PREFIX;
    type Action = ConsentAction;
    type Cache = ();
    type Genesis = ();

    fn check(_tx: &TxOrigin<'_>, action: &ConsentAction) -> Result<(), ActionError> {
        match action {
            ConsentAction::Grant { scope, .. } => check_scope(scope),
            ConsentAction::SetEmergencyPolicy {
                enabled, window_ms, ..
            } if *enabled && (*window_ms == 0 || *window_ms > MAX_EMERGENCY_WINDOW_MS) => refuse(
                ErrorCode::BadWindow,
                format!("the emergency window must be 1..={MAX_EMERGENCY_WINDOW_MS} ms"),
            ),
            _ => Ok(()),
        }
    }

    fn execute(
        ctx: &TxContext<'_>,
        _cache: &(),
        state: &mut Overlay<'_>,
        action: &ConsentAction,
        events: &mut Events,
    ) -> ExecResult<()> {
        let me = ctx.tx.signer;
        let now = ctx.timestamp_ms;
        match action {
            ConsentAction::Grant {
                patient,
                grantee,
                scope,
                purpose,
                expires_ms,
            } => {
                require_patient_or_delegate(state, patient, &me, now)?;
                identity::require_live(state, grantee)?;
                if grantee == patient {
                    return reject(ErrorCode::SelfGrant, "a patient needs no grant to itself");
                }
                if *grantee == me {
                    // A proxy manages consent; it must not use that to read.
                    return reject(
                        ErrorCode::SelfGrant,
                        "a delegate cannot grant itself access",
                    );
                }
                if *purpose == Purpose::Emergency {
                    return reject(
                        ErrorCode::BadPurpose,
                        "emergency access is opened by break-glass, not granted",
                    );
                }
                open_grant(
                    state,
                    NewGrant {
                        patient: *patient,
                        grantee: *grantee,
                        scope: scope.clone(),
                        purpose: *purpose,
                        expires_ms: *expires_ms,
                    },
                    now,
                    &me,
                    events,
                )?;
            }
            ConsentAction::Revoke { grant: id } => {
                let Some(grant) = grant(state, *id)? else {
                    return reject(ErrorCode::GrantNotFound, format!("grant {id} is unknown"));
                };
                require_patient_or_delegate(state, &grant.patient, &me, now)?;
                if grant.revoked_ms.is_some() {
                    return reject(
                        ErrorCode::GrantRevoked,
                        format!("grant {id} is already revoked"),
                    );
                }
                close_grant(state, grant, now, &me, events)?;
            }
            ConsentAction::Delegate {
                delegate,
                kind,
                expires_ms,
            } => {
                identity::require_live(state, &me)?;
                identity::require_live(state, delegate)?;
                if *delegate == me {
                    return reject(ErrorCode::SelfGrant, "a patient cannot delegate to itself");
                }
                check_expiry(now, *expires_ms)?;
                let delegation = Delegation {
                    kind: *kind,
                    created_ms: now,
                    expires_ms: *expires_ms,
                };
                write(state, delegate_key(&me, delegate), &delegation);
                events.emit(ConsentEvent::Delegated {
                    patient: me,
                    delegate: *delegate,
                    kind: *kind,
                    expires_ms: *expires_ms,
                });
            }
            ConsentAction::Undelegate { delegate } => {
                if delegation(state, &me, delegate)?.is_none() {
                    return reject(
                        ErrorCode::DelegationNotFound,
                        format!("{} is not a delegate of {}", delegate.did(), me.did()),
                    );
                }
                state.delete(delegate_key(&me, delegate));
                events.emit(ConsentEvent::Undelegated {
                    patient: me,
                    delegate: *delegate,
                });
            }
            ConsentAction::SetEmergencyPolicy {
                patient,
                enabled,
                window_ms,
                responders,
            } => {
                if !is_patient_or_guardian(state, patient, &me, now)? {
                    return reject(
                        ErrorCode::NotPatientOrGuardian,
                        "only the patient or a guardian may set the emergency policy",
                    );
                }
                identity::require_live(state, patient)?;
                check_responders(state, patient, responders, *enabled)?;
                let policy = EmergencyPolicy {
                    enabled: *enabled,
                    window_ms: if *enabled { *window_ms } else { 0 },
                    responders: if *enabled {
                        responders.clone()
                    } else {
                        Vec::new()
                    },
                };
                write(state, policy_key(patient), &policy);
                events.emit(ConsentEvent::EmergencyPolicySet {
                    patient: *patient,
                    enabled: policy.enabled,
                    window_ms: policy.window_ms,
                    responders: policy.responders,
                    by: me,
                });
            }
            ConsentAction::BreakGlass { patient, reason } => {
                if identity::role(state, &me, Role::Provider)?.is_none() {
                    return reject(
                        ErrorCode::NotAProvider,
                        "break-glass access needs an attested provider role",
                    );
                }
                let policy = emergency_policy(state, patient)?;
                if !policy.enabled {
                    return reject(
                        ErrorCode::EmergencyNotEnabled,
                        format!("{} has not opted in to emergency access", patient.did()),
                    );
                }
                if !policy.responders.contains(&me) {
                    return reject(
                        ErrorCode::NotAResponder,
                        format!(
                            "{} is not one of this patient's emergency responders",
                            me.did()
                        ),
                    );
                }
                if emergency_access(state, patient, &me)?.is_some_and(|a| now < a.expires_ms) {
                    return reject(
                        ErrorCode::EmergencyOpen,
                        "emergency access is already open for this provider",
                    );
                }
                let expires_ms = now.checked_add(policy.window_ms).ok_or_else(|| {
                    ActionError::new(ErrorCode::Overflow, "emergency window overflows")
                })?;
                let access = EmergencyAccess {
                    reason: *reason,
                    opened_ms: now,
                    expires_ms,
                };
                write(state, emergency_key(patient, &me), &access);
                events.emit(ConsentEvent::BreakGlass {
                    patient: *patient,
                    provider: me,
                    reason: *reason,
                    expires_ms,
                });
            }
        }
        Ok(())
    }
}

fn require_patient_or_delegate(
    state: &dyn StateRead,
    patient: &AccountId,
    actor: &AccountId,
    now_ms: u64,
) -> ExecResult<()> {
    if !is_patient_or_delegate(state, patient, actor, now_ms)? {
        return reject(
            ErrorCode::NotPatientOrDelegate,
            "only the patient or a delegate may manage this patient's consent",
        );
    }
    identity::require_live(state, patient)
}

fn check_responders(
    state: &dyn StateRead,
    patient: &AccountId,
    responders: &[AccountId],
    enabled: bool,
) -> ExecResult<()> {
    let mut sorted = responders.to_vec();
    sorted.sort();
    sorted.dedup();
    let well_formed = sorted.len() == responders.len()
        && responders.len() <= MAX_RESPONDERS
        && (enabled != responders.is_empty())
        && !responders.contains(patient);
    if !well_formed {
        return reject(
            ErrorCode::BadResponders,
            format!("opting in names 1..={MAX_RESPONDERS} distinct responders other than the patient; opting out names none"),
        );
    }
    for responder in responders {
        identity::require_live(state, responder)?;
    }
    Ok(())
}

fn check_scope(scope: &Scope) -> Result<(), ActionError> {
    fn distinct<T: Ord + Clone>(items: &[T]) -> bool {
        let mut sorted = items.to_vec();
        sorted.sort();
        sorted.windows(2).all(|w| w[0] != w[1])
    }
    let ok = match scope {
        Scope::All => true,
        Scope::Categories(items) => {
            !items.is_empty() && items.len() <= MAX_SCOPE_ITEMS && distinct(items)
        }
        Scope::Records(items) => {
            !items.is_empty() && items.len() <= MAX_SCOPE_ITEMS && distinct(items)
        }
    };
    if !ok {
        return refuse(
            ErrorCode::BadScope,
            format!("a scope lists 1..={MAX_SCOPE_ITEMS} distinct items"),
        );
    }
    Ok(())
}

fn check_expiry(now_ms: u64, expires_ms: u64) -> ExecResult<()> {
    if expires_ms <= now_ms || expires_ms - now_ms > MAX_GRANT_MS {
        return reject(
            ErrorCode::BadExpiry,
            format!("expiry must be after the block time and at most {MAX_GRANT_MS} ms later"),
        );
    }
    Ok(())
}
