//! Admission: how a transaction gets from a client or a peer into this
//! node's pool. [`admit`] checks a batch against finalized state, cheapest
//! first ([`mempool`]), runs the modules' pre-checks on what it admits, and
//! remembers the signatures it checked; [`gossip`] sends what clients
//! submitted here to every other validator, whose admission is the same.

pub mod gossip;
pub mod mempool;

use salus_app::{auth, Chain};
use salus_state::StateError;
use salus_types::{Hash, Tx};

use mempool::{AdmitError, Mempool};

/// What [`admit`] made of a batch.
#[derive(Debug)]
pub struct Admission {
    /// One verdict per transaction, in the batch's order.
    pub verdicts: Vec<Result<Hash, AdmitError>>,
    /// The transactions admitted, in the batch's order: what to gossip.
    pub admitted: Vec<Tx>,
}

/// Admits transactions against the finalized state.
pub fn admit(chain: &Chain, mempool: &Mempool, txs: Vec<Tx>) -> Result<Admission, StateError> {
    let copies = txs.clone();
    let snapshot = chain.store().snapshot()?;
    let failure = std::cell::RefCell::new(None);
    let checked = |hash: &Hash| chain.signature_checked(hash);
    let verdicts = mempool.admit_checked(txs, checked, |id| match auth::account(&snapshot, id) {
        Ok(account) => account,
        Err(e) => {
            *failure.borrow_mut() = Some(e);
            // Refuse everything rather than guess at an account we cannot read.
            auth::Account {
                nonce: u64::MAX,
                key: None,
                disabled: true,
            }
        }
    });
    if let Some(e) = failure.into_inner() {
        return Err(e);
    }
    chain.note_verified(verdicts.iter().filter_map(|v| v.as_ref().ok()).copied());
    // Modules' pre-checks (a role claim's zero-knowledge proof, say) run
    // now, off the consensus path, so blocks that carry these execute quickly.
    let admitted: Vec<Tx> = copies
        .into_iter()
        .zip(&verdicts)
        .filter(|(_, verdict)| verdict.is_ok())
        .map(|(tx, _)| tx)
        .collect();
    chain.precheck(&snapshot, &admitted)?;
    Ok(Admission { verdicts, admitted })
}
