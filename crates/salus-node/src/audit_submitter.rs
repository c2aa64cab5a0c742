//! Moves the vault's queued access entries onto the chain, in audit
//! transactions signed by the vault operator's key.
//!
//! Entries leave the vault's ledger only once a transaction carrying them is
//! final, so a crash or a dropped transaction delays entries but never loses
//! them; an entry submitted twice is logged once (the chain remembers each
//! request hash). A few transactions are kept in flight (consecutive nonces)
//! so the log keeps up with a busy vault.

use std::sync::Arc;
use std::time::{Duration, Instant};

use salus_app::{auth, Chain};
use salus_types::audit::{AuditAction, MAX_AUDIT_ENTRIES};
use salus_types::{Action, Hash, TxBody};
use salus_vault::Vault;
use tracing::{error, warn};

use crate::admission::gossip::Gossip;
use crate::admission::mempool::Mempool;

const TICK: Duration = Duration::from_millis(25);
const MAX_IN_FLIGHT: usize = 8;
/// A transaction neither pending nor final after this long was dropped.
const DROP_AFTER: Duration = Duration::from_secs(10);

struct InFlight {
    hash: Hash,
    seqs: Vec<u64>,
    since: Instant,
}

pub async fn run<C: commonware_runtime::Clock>(
    clock: C,
    vault: Arc<Vault>,
    chain: Arc<Chain>,
    mempool: Arc<Mempool>,
    gossip: Gossip,
) {
    let mut in_flight: Vec<InFlight> = Vec::new();
    loop {
        clock.sleep(TICK).await;
        if let Err(message) = step(&vault, &chain, &mempool, &gossip, &mut in_flight) {
            warn!(%message, "audit submission failed; retrying");
        }
    }
}

fn step(
    vault: &Vault,
    chain: &Chain,
    mempool: &Mempool,
    gossip: &Gossip,
    in_flight: &mut Vec<InFlight>,
) -> Result<(), String> {
    let snapshot = chain.store().snapshot().map_err(|e| e.to_string())?;
    // Settle what is final, oldest first. Mempool first, then the archive: a
    // transaction leaves the mempool only after its block is committed.
    while let Some(oldest) = in_flight.first() {
        if mempool.contains(&oldest.hash) {
            break;
        }
        match snapshot
            .tx_location(&oldest.hash)
            .map_err(|e| e.to_string())?
        {
            Some((height, index)) => {
                let receipt = snapshot.receipt(height, index).map_err(|e| e.to_string())?;
                if let Some(failed) = receipt.filter(|r| !r.succeeded()) {
                    // The vault decided on finalized state, so this is a bug: say so loudly.
                    error!(code = failed.code.name(), message = %failed.message, "the chain refused an audit batch; its entries are dropped");
                }
                vault
                    .ledger()
                    .audit_done(&oldest.seqs)
                    .map_err(|e| e.to_string())?;
                in_flight.remove(0);
            }
            None if oldest.since.elapsed() > DROP_AFTER => {
                // Dropped: resubmit everything from the chain's nonce on.
                warn!("an audit batch was dropped before inclusion; resubmitting");
                in_flight.clear();
            }
            None => break,
        }
    }
    let snapshot = chain.store().snapshot().map_err(|e| e.to_string())?;
    let account = auth::account(&snapshot, &vault.account()).map_err(|e| e.to_string())?;
    while in_flight.len() < MAX_IN_FLIGHT {
        // In-flight batches hold consecutive runs of the queue, in order.
        let after = in_flight.last().and_then(|f| f.seqs.last().copied());
        let pending = vault
            .ledger()
            .pending_audit(after, MAX_AUDIT_ENTRIES)
            .map_err(|e| e.to_string())?;
        if pending.is_empty() {
            break;
        }
        let nonce = account.nonce + in_flight.len() as u64;
        let (seqs, entries): (Vec<u64>, Vec<_>) = pending.into_iter().unzip();
        let tx = TxBody {
            chain_id: vault.chain_id().to_owned(),
            signer: vault.account(),
            public_key: vault.operator_key().public_key(),
            nonce,
            actions: vec![Action::Audit(AuditAction::RecordAccess { entries })],
        }
        .sign(vault.operator_key());
        // Admitted here and gossiped, so whichever validator leads includes it.
        let verdict = crate::admission::admit(chain, mempool, vec![tx.clone()])
            .map_err(|e| e.to_string())?
            .verdicts
            .pop()
            .expect("one verdict per transaction");
        match verdict {
            Ok(hash) => {
                gossip.share(vec![tx]);
                in_flight.push(InFlight {
                    hash,
                    seqs,
                    since: Instant::now(),
                });
            }
            Err(e) => return Err(format!("mempool refused an audit batch: {e}")),
        }
    }
    Ok(())
}
