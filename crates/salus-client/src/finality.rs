//! The client's own check that a header is final: the node serves a
//! finalization certificate and the headers linking it down to the block
//! asked for, and the client verifies both against the validator sets it
//! tracks (salus-finality). State proofs then hang off a verified header.
//!
//! Trust starts at genesis: its validators and its epoch length. A client
//! built with [`Client::trusting`](crate::Client::trusting) is given them
//! (`ValidatorHistory::from_genesis`); one built with
//! [`Client::new`](crate::Client::new) pins what its node reports for epoch
//! 0 at the first verified read, and catches any later header that those
//! validators, or the sets they certified after them, did not sign.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use salus_api::chain::{FinalityProof, MAX_FINALITY_WALK};
pub use salus_finality::{Certified, FinalityError, ValidatorHistory};
use salus_types::{Header, PublicKey};

use crate::rpc::ClientError;

/// How many verified headers a client remembers, newest kept.
const REMEMBERED_HEADERS: usize = 1_024;

/// What a client trusts, shared by its clones.
#[derive(Debug, Clone, Default)]
pub(crate) struct Trust {
    inner: Arc<Mutex<TrustState>>,
}

#[derive(Debug, Default)]
struct TrustState {
    history: Option<ValidatorHistory>,
    verified: BTreeMap<u64, Header>,
}

impl Trust {
    pub(crate) fn pinned(history: ValidatorHistory) -> Trust {
        Trust {
            inner: Arc::new(Mutex::new(TrustState {
                history: Some(history),
                verified: BTreeMap::new(),
            })),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, TrustState> {
        // A panic elsewhere while holding the lock leaves the map
        // consistent (every insert is whole), so the data stays usable.
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub(crate) fn history(&self) -> Option<ValidatorHistory> {
        self.lock().history.clone()
    }

    /// Pins `history` unless a set is pinned already (the first one wins).
    pub(crate) fn pin(&self, history: ValidatorHistory) -> ValidatorHistory {
        self.lock().history.get_or_insert(history).clone()
    }

    /// Adds `epoch`'s set, proven by the caller, to the pinned history.
    pub(crate) fn learn(&self, epoch: u64, validators: &[PublicKey]) -> Result<(), FinalityError> {
        match self.lock().history.as_mut() {
            Some(history) => history.learn(epoch, validators),
            None => Err(FinalityError::UnknownEpoch(epoch)),
        }
    }

    pub(crate) fn remembered(&self, height: u64) -> Option<Header> {
        self.lock().verified.get(&height).cloned()
    }

    pub(crate) fn remember(&self, headers: &[Header]) {
        let mut state = self.lock();
        for header in headers {
            state.verified.insert(header.height, header.clone());
        }
        while state.verified.len() > REMEMBERED_HEADERS {
            state.verified.pop_first();
        }
    }
}

/// Checks `proof` for block `height` against `history`: the headers run
/// from `height` upward without a gap, each names the one before as its
/// parent, and a quorum of the right epoch's validators certified the last.
/// Returns the verified headers, the asked-for block first.
pub fn verify_finality(
    history: &ValidatorHistory,
    height: u64,
    proof: &FinalityProof,
) -> Result<Vec<Header>, ClientError> {
    verify_certified(history, height, proof).map(|(headers, _)| headers)
}

/// [`verify_finality`], which also returns what the certificate proves of
/// the last header: its epoch, its view and who signed it.
pub fn verify_certified(
    history: &ValidatorHistory,
    height: u64,
    proof: &FinalityProof,
) -> Result<(Vec<Header>, Certified), ClientError> {
    let forged =
        |why: &str| ClientError::Proof(format!("finality proof for block {height}: {why}"));
    let (Some(first), Some(last)) = (proof.headers.first(), proof.headers.last()) else {
        return Err(forged("no headers"));
    };
    if proof.headers.len() > MAX_FINALITY_WALK {
        return Err(forged("more headers than a proof may hold"));
    }
    if proof.height != height || first.height != height {
        return Err(forged("it is for another block"));
    }
    for pair in proof.headers.windows(2) {
        if Some(pair[1].height) != pair[0].height.checked_add(1)
            || pair[1].parent != pair[0].digest()
        {
            return Err(forged("its headers do not form a chain"));
        }
    }
    let certificate =
        hex::decode(&proof.certificate).map_err(|_| forged("the certificate is not hex"))?;
    let certified = history
        .verify(&certificate, last)
        .map_err(|source| ClientError::NotFinal { height, source })?;
    Ok((proof.headers.clone(), certified))
}

/// Checks that `set` is epoch `set.epoch`'s validator set: proven under its
/// key against `header`, the block that fixed it, which the caller has
/// verified as final with the sets it already knew. Returns the keys.
pub fn verify_epoch_set(
    set: &salus_api::epochs::EpochSet,
    header: &Header,
) -> Result<Vec<PublicKey>, ClientError> {
    let forged = |why: &str| ClientError::Proof(format!("epoch {}'s set: {why}", set.epoch));
    if header.height != set.height {
        return Err(forged("proven against another block"));
    }
    let value = borsh::to_vec(&set.validators).map_err(|_| forged("does not encode"))?;
    crate::verify_state(
        header,
        &salus_types::epochs::set_key(set.epoch),
        Some(&value),
        &set.proof,
    )
    .map_err(|e| forged(&e.to_string()))?;
    Ok(set.validators.iter().map(|v| v.key).collect())
}
