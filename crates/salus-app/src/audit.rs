//! The audit module: vault operators (named at genesis) and the access log
//! they write. Each entry becomes an event for the patient and the requester,
//! and extends the patient's hash-chained log head, so a single proven state
//! value commits to a patient's whole access history.

use salus_state::{Overlay, StateError, StateRead, StateScan};
use salus_types::audit::{
    AuditAction, AuditEvent, AuditGenesis, AuditHead, VaultOperator, MAX_AUDIT_ENTRIES,
    MAX_VAULT_ENDPOINT_LEN,
};
use salus_types::{AccountId, ErrorCode};

use crate::context::{
    read, refuse, reject, write, ActionError, Events, ExecResult, Module, TxContext, TxOrigin,
};
use crate::genesis::GenesisError;
use crate::records;
use salus_types::audit::{head_key, logged_key, vault_key, vaults_prefix, PREFIX};

/// The endpoint of a genesis vault operator, if `account` is one.
pub fn vault_endpoint(
    state: &dyn StateRead,
    account: &AccountId,
) -> Result<Option<String>, StateError> {
    read(state, &vault_key(account))
}

/// Every vault operator, in account order.
pub fn vaults<S: StateScan>(state: &S) -> Result<Vec<VaultOperator>, StateError> {
    let prefix = vaults_prefix();
    let mut out = Vec::new();
    for (entry_key, value) in state.scan_prefix(&prefix, None, usize::MAX)? {
        let account: [u8; 20] = entry_key
            .get(prefix.len()..)
            .and_then(|tail| tail.try_into().ok())
            .ok_or_else(|| StateError::Corrupt("vault key has the wrong length".into()))?;
        let endpoint: String = borsh::from_slice(&value)
            .map_err(|e| StateError::Corrupt(format!("undecodable vault endpoint: {e}")))?;
        out.push(VaultOperator {
            account: AccountId(account),
            endpoint,
        });
    }
    Ok(out)
}

pub fn head(state: &dyn StateRead, patient: &AccountId) -> Result<AuditHead, StateError> {
    Ok(read(state, &head_key(patient))?.unwrap_or_default())
}

/// The audit module.
pub struct Audit;

impl Module for Audit {
    const PREFIX: &'static str = PREFIX;
    type Action = AuditAction;
    type Cache = ();
    type Genesis = AuditGenesis;

    fn init_genesis(state: &mut Overlay<'_>, genesis: &AuditGenesis) -> Result<(), GenesisError> {
        let mut seen = std::collections::BTreeSet::new();
        for vault in &genesis.vaults {
            if !seen.insert(vault.account) {
                return Err(GenesisError::Invalid(format!(
                    "vault operator {} is listed twice",
                    vault.account
                )));
            }
            if vault.endpoint.len() > MAX_VAULT_ENDPOINT_LEN {
                return Err(GenesisError::Invalid(format!(
                    "vault endpoint of {} is longer than {MAX_VAULT_ENDPOINT_LEN} bytes",
                    vault.account
                )));
            }
            write(state, vault_key(&vault.account), &vault.endpoint);
        }
        Ok(())
    }

    fn check(_tx: &TxOrigin<'_>, action: &AuditAction) -> Result<(), ActionError> {
        match action {
            AuditAction::RecordAccess { entries }
                if entries.is_empty() || entries.len() > MAX_AUDIT_ENTRIES =>
            {
                refuse(
                    ErrorCode::BadAuditBatch,
                    format!("an audit batch holds 1..={MAX_AUDIT_ENTRIES} entries"),
                )
            }
            _ => Ok(()),
        }
    }

    fn execute(
        ctx: &TxContext<'_>,
        _cache: &(),
        state: &mut Overlay<'_>,
        action: &AuditAction,
        events: &mut Events,
    ) -> ExecResult<()> {
        match action {
            AuditAction::RecordAccess { entries } => {
                if vault_endpoint(state, &ctx.tx.signer)?.is_none() {
                    return reject(
                        ErrorCode::NotAVault,
                        format!("{} is not a vault operator", ctx.tx.signer.did()),
                    );
                }
                for entry in entries {
                    if state.get(&logged_key(&entry.request))?.is_some() {
                        continue;
                    }
                    write(state, logged_key(&entry.request), &());
                    // A vault may only log accesses to records that exist, under
                    // their real patient: it cannot plant entries in anyone's log.
                    let owner = records::head(state, &entry.record)?.map(|h| h.patient);
                    if owner != Some(entry.patient) {
                        return reject(
                            ErrorCode::AuditRecordMismatch,
                            format!("record {} does not belong to that patient", entry.record),
                        );
                    }
                    let next = head(state, &entry.patient)?.append(&ctx.tx.signer, entry);
                    write(state, head_key(&entry.patient), &next);
                    events.emit(AuditEvent::Accessed {
                        vault: ctx.tx.signer,
                        seq: next.count,
                        entry: entry.clone(),
                    });
                }
            }
        }
        Ok(())
    }
}
