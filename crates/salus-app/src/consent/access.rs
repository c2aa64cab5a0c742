//! What consent allows: reads of grants, delegations and emergency access,
//! who may decrypt a record, and the access decision every vault makes from
//! finalized state.

use salus_state::{StateError, StateRead, StateScan};
use salus_types::consent::{
    AccessReason, DelegateKind, Delegation, EmergencyAccess, EmergencyPolicy, Grant, Purpose,
    ReaderBasis,
};
use salus_types::identity::Role;
use salus_types::records::{Category, RecordId};
use salus_types::AccountId;

use crate::context::read;
use crate::{identity, records};
use salus_types::consent::{
    delegate_key, delegate_prefix, emergency_key, grant_key, pair_prefix, patient_grant_key,
    patient_prefix, policy_key,
};

pub fn grant(state: &dyn StateRead, id: u64) -> Result<Option<Grant>, StateError> {
    read(state, &grant_key(id))
}

pub fn delegation(
    state: &dyn StateRead,
    patient: &AccountId,
    delegate: &AccountId,
) -> Result<Option<Delegation>, StateError> {
    read(state, &delegate_key(patient, delegate))
}

pub fn emergency_policy(
    state: &dyn StateRead,
    patient: &AccountId,
) -> Result<EmergencyPolicy, StateError> {
    Ok(read(state, &policy_key(patient))?.unwrap_or_default())
}

pub fn emergency_access(
    state: &dyn StateRead,
    patient: &AccountId,
    provider: &AccountId,
) -> Result<Option<EmergencyAccess>, StateError> {
    read(state, &emergency_key(patient, provider))
}

/// The delegation of `delegate` for `patient`, if it is still running.
fn active_delegation(
    state: &dyn StateRead,
    patient: &AccountId,
    delegate: &AccountId,
    now_ms: u64,
) -> Result<Option<Delegation>, StateError> {
    Ok(delegation(state, patient, delegate)?.filter(|d| now_ms < d.expires_ms))
}

/// Whether `actor` may manage `patient`'s consent (the patient or any delegate).
pub fn is_patient_or_delegate(
    state: &dyn StateRead,
    patient: &AccountId,
    actor: &AccountId,
    now_ms: u64,
) -> Result<bool, StateError> {
    Ok(actor == patient || active_delegation(state, patient, actor, now_ms)?.is_some())
}

/// Whether `actor` may act for `patient`'s records (the patient or a guardian).
pub fn is_patient_or_guardian(
    state: &dyn StateRead,
    patient: &AccountId,
    actor: &AccountId,
    now_ms: u64,
) -> Result<bool, StateError> {
    Ok(actor == patient
        || active_delegation(state, patient, actor, now_ms)?
            .is_some_and(|d| d.kind == DelegateKind::Guardian))
}

/// The patient's unrevoked grants in id order, after grant `after`, at most `limit`.
pub fn grants_for_patient<S: StateScan>(
    state: &S,
    patient: &AccountId,
    after: Option<u64>,
    limit: usize,
) -> Result<Vec<Grant>, StateError> {
    let prefix = patient_prefix(patient);
    let after = after.map(|id| patient_grant_key(patient, id));
    grants_at(state, &prefix, after.as_deref(), limit)
}

/// Every grant `patient` ever gave `grantee`, in id order.
pub fn grants_between<S: StateScan>(
    state: &S,
    grantee: &AccountId,
    patient: &AccountId,
) -> Result<Vec<Grant>, StateError> {
    grants_at(state, &pair_prefix(grantee, patient), None, usize::MAX)
}

/// Index entries under `prefix` end in a big-endian grant id.
fn grants_at<S: StateScan>(
    state: &S,
    prefix: &[u8],
    after: Option<&[u8]>,
    limit: usize,
) -> Result<Vec<Grant>, StateError> {
    let mut out = Vec::new();
    for (index_key, _) in state.scan_prefix(prefix, after, limit)? {
        let id = index_key
            .get(prefix.len()..)
            .and_then(|tail| <[u8; 8]>::try_from(tail).ok())
            .map(u64::from_be_bytes)
            .ok_or_else(|| StateError::Corrupt("grant index key has the wrong length".into()))?;
        let grant = grant(state, id)?
            .ok_or_else(|| StateError::Corrupt(format!("indexed grant {id} is missing")))?;
        out.push(grant);
    }
    Ok(out)
}

/// The patient's running delegations.
pub fn delegations<S: StateScan>(
    state: &S,
    patient: &AccountId,
    now_ms: u64,
) -> Result<Vec<(AccountId, Delegation)>, StateError> {
    let prefix = delegate_prefix(patient);
    let mut out = Vec::new();
    for (entry_key, value) in state.scan_prefix(&prefix, None, usize::MAX)? {
        let delegate: [u8; 20] = entry_key
            .get(prefix.len()..)
            .and_then(|tail| tail.try_into().ok())
            .ok_or_else(|| StateError::Corrupt("delegate key has the wrong length".into()))?;
        let delegation: Delegation = borsh::from_slice(&value)
            .map_err(|e| StateError::Corrupt(format!("undecodable delegation: {e}")))?;
        if now_ms < delegation.expires_ms {
            out.push((AccountId(delegate), delegation));
        }
    }
    Ok(out)
}

/// Who, besides the patient and the author, must receive a wrapped key for a
/// record so that consent that already covers it works at once: guardians,
/// emergency responders (while the patient opts in), and grantees with a
/// running grant whose scope covers it; each with the basis a writer can
/// check. Sorted by account, one basis per account.
pub fn recipients<S: StateScan>(
    state: &S,
    patient: &AccountId,
    record: &RecordId,
    category: Category,
    now_ms: u64,
) -> Result<Vec<(AccountId, ReaderBasis)>, StateError> {
    let mut out: Vec<(AccountId, ReaderBasis)> = delegations(state, patient, now_ms)?
        .into_iter()
        .filter(|(_, d)| d.kind == DelegateKind::Guardian)
        .map(|(account, _)| (account, ReaderBasis::Guardian))
        .collect();
    let policy = emergency_policy(state, patient)?;
    if policy.enabled {
        out.extend(
            policy
                .responders
                .into_iter()
                .map(|a| (a, ReaderBasis::Responder)),
        );
    }
    let mut after = None;
    loop {
        let page = grants_for_patient(state, patient, after, 256)?;
        let Some(last) = page.last() else { break };
        after = Some(last.id);
        out.extend(
            page.iter()
                .filter(|g| g.is_active(now_ms) && g.scope.covers(record, category))
                .map(|g| (g.grantee, ReaderBasis::Grant(g.id))),
        );
    }
    // Stable: for an account named twice, the first basis found stays.
    out.sort_by_key(|(account, _)| *account);
    out.dedup_by_key(|(account, _)| *account);
    Ok(out)
}

/// The outcome of an access check.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Access {
    /// No such record: nothing to attribute the attempt to.
    UnknownRecord,
    Decided {
        patient: AccountId,
        version: u32,
        reason: AccessReason,
        grant: Option<u64>,
    },
}

/// May `requester` read `version` (the latest when `None`) of `record` for
/// `purpose` at `now_ms`? Decided on the given (finalized) state only.
pub fn decide<S: StateScan>(
    state: &S,
    requester: &AccountId,
    record: &RecordId,
    version: Option<u32>,
    purpose: Purpose,
    now_ms: u64,
) -> Result<Access, StateError> {
    let Some(head) = records::head(state, record)? else {
        return Ok(Access::UnknownRecord);
    };
    let number = version.unwrap_or(head.latest_version);
    let decided = |reason, grant| Access::Decided {
        patient: head.patient,
        version: number,
        reason,
        grant,
    };
    if number == 0 || number > head.latest_version {
        return Ok(decided(AccessReason::UnknownVersion, None));
    }
    if head.erased_ms.is_some() {
        return Ok(decided(AccessReason::Erased, None));
    }
    if *requester == head.patient {
        return Ok(decided(AccessReason::Owner, None));
    }
    if is_patient_or_guardian(state, &head.patient, requester, now_ms)? {
        return Ok(decided(AccessReason::Guardian, None));
    }
    let entry = records::version(state, record, number)?
        .ok_or_else(|| StateError::Corrupt(format!("record {record} lacks version {number}")))?;
    // The author wrote the plaintext; refusing it its own version protects nothing.
    if entry.author == *requester {
        return Ok(decided(AccessReason::Author, None));
    }
    if purpose == Purpose::Emergency {
        let open = emergency_access(state, &head.patient, requester)?;
        // The access ends early if the responder lost its provider role or
        // the patient has since opted out or dropped this responder.
        let still_provider = identity::role(state, requester, Role::Provider)?.is_some();
        let policy = emergency_policy(state, &head.patient)?;
        let still_allowed = policy.enabled && policy.responders.contains(requester);
        return Ok(match open {
            Some(access) if now_ms < access.expires_ms && still_provider && still_allowed => {
                decided(AccessReason::Emergency, None)
            }
            Some(_) => decided(AccessReason::Expired, None),
            None => decided(AccessReason::NoGrant, None),
        });
    }
    let grants = grants_between(state, requester, &head.patient)?;
    let covers = |g: &Grant| g.scope.covers(record, head.category);
    if let Some(g) = grants
        .iter()
        .find(|g| g.is_active(now_ms) && g.purpose == purpose && covers(g))
    {
        return Ok(decided(AccessReason::Grant, Some(g.id)));
    }
    // Denied: name the reason of the grant that came closest.
    let lapsed = |g: &Grant| {
        if g.revoked_ms.is_some() {
            AccessReason::Revoked
        } else {
            AccessReason::Expired
        }
    };
    let reason = if let Some(g) = grants.iter().find(|g| g.purpose == purpose && covers(g)) {
        lapsed(g)
    } else if grants.iter().any(|g| g.is_active(now_ms) && covers(g)) {
        AccessReason::WrongPurpose
    } else if grants.iter().any(|g| g.is_active(now_ms)) {
        AccessReason::OutOfScope
    } else if let Some(g) = grants.first() {
        lapsed(g)
    } else {
        AccessReason::NoGrant
    };
    Ok(decided(reason, None))
}
