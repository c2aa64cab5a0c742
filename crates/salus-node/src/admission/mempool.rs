//! The mempool: signature-checked transactions waiting for a block.
//!
//! Bounded in total and per sender; rejects duplicates and anything already
//! stale against the finalized state. Proposals take each sender's
//! transactions as a run of consecutive nonces, senders in order of arrival, so
//! a sender's transactions never overtake each other. Transactions in a block
//! this node proposed or verified are held back until a block at that height
//! is final: removed if it carried them, offered again if not.

use std::collections::{BTreeMap, HashMap};
use std::sync::Mutex;

use salus_app::StatelessError;
use salus_types::auth::Account;
use salus_types::{AccountId, Block, Hash, Tx, TxError};

/// Mempool limits.
#[derive(Debug, Clone, Copy)]
pub struct MempoolLimits {
    pub max_txs: usize,
    pub max_per_sender: usize,
}

impl Default for MempoolLimits {
    fn default() -> Self {
        MempoolLimits {
            max_txs: 200_000,
            max_per_sender: 10_000,
        }
    }
}

/// Why a transaction was not admitted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AdmitError {
    #[error(transparent)]
    Invalid(#[from] TxError),
    /// An action failed its module's stateless check: it could only fail.
    #[error("action {index} is refused: {error}")]
    ActionRefused {
        index: usize,
        error: salus_app::ActionError,
    },
    #[error("transaction is already known")]
    Duplicate,
    #[error("another transaction with nonce {0} from this sender is pending")]
    NonceTaken(u64),
    #[error("the mempool is full ({0} transactions)")]
    Full(usize),
    #[error("this sender already has {0} pending transactions")]
    SenderFull(usize),
    #[error("nonce {actual} is more than {window} ahead of the sender's next nonce {expected}")]
    NonceTooFar {
        expected: u64,
        actual: u64,
        window: u64,
    },
}

struct Entry {
    tx: Tx,
    sender: AccountId,
    nonce: u64,
    arrival: u64,
    /// When this node admitted it (for the finality-latency metric only).
    admitted_at: std::time::Instant,
    /// Height of the proposed block that carries it, if any.
    proposed_at: Option<u64>,
}

#[derive(Default)]
struct Pool {
    entries: HashMap<Hash, Entry>,
    by_sender: BTreeMap<AccountId, BTreeMap<u64, Hash>>,
    /// Entries held back by proposals, by the height of the proposal, so
    /// that finality releases them without a walk over the whole pool.
    held: BTreeMap<u64, Vec<Hash>>,
    next_arrival: u64,
}

pub struct Mempool {
    chain_id: String,
    limits: MempoolLimits,
    pool: Mutex<Pool>,
}

impl Mempool {
    pub fn new(chain_id: String, limits: MempoolLimits) -> Self {
        Mempool {
            chain_id,
            limits,
            pool: Mutex::new(Pool::default()),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Pool> {
        self.pool.lock().expect("mempool lock poisoned")
    }

    pub fn len(&self) -> usize {
        self.lock().entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub fn contains(&self, hash: &Hash) -> bool {
        self.lock().entries.contains_key(hash)
    }

    /// [`Mempool::admit_checked`] with every signature checked (tests).
    #[cfg(test)]
    pub fn admit(
        &self,
        txs: Vec<Tx>,
        committed: impl Fn(&AccountId) -> Account,
    ) -> Vec<Result<Hash, AdmitError>> {
        self.admit_checked(txs, |_| false, committed)
    }

    /// Admits a batch. One verdict per transaction, in order.
    ///
    /// Everything that needs no signature comes first: shape, the sender's
    /// finalized `Account` (current key, next nonce, nonce window) and
    /// whether the pool already holds the transaction. A signature check is
    /// the costliest step of admission, so a replayed, stale or duplicate
    /// transaction is refused before it, and a flood of them costs the node
    /// little. Survivors' signatures are then verified in one batch, except
    /// those of transactions (by hash, which covers the signature) that
    /// `signature_checked` says this node already verified: a peer's block
    /// can bring a transaction before its gossip does.
    pub fn admit_checked(
        &self,
        txs: Vec<Tx>,
        signature_checked: impl Fn(&Hash) -> bool,
        committed: impl Fn(&AccountId) -> Account,
    ) -> Vec<Result<Hash, AdmitError>> {
        let hashes: Vec<Hash> = txs.iter().map(Tx::hash).collect();
        let mut verdicts: Vec<Result<(), AdmitError>> = txs
            .iter()
            .map(|tx| self.check_without_signature(tx, &committed))
            .collect();
        {
            let pool = self.lock();
            for (verdict, hash) in verdicts.iter_mut().zip(&hashes) {
                if verdict.is_ok() && pool.entries.contains_key(hash) {
                    *verdict = Err(AdmitError::Duplicate);
                }
            }
        }
        let unchecked: Vec<usize> = (0..txs.len())
            .filter(|&i| verdicts[i].is_ok() && !signature_checked(&hashes[i]))
            .collect();
        let verdicts_of_unchecked = Tx::verify_signatures(unchecked.iter().map(|&i| &txs[i]));
        for (&i, holds) in unchecked.iter().zip(verdicts_of_unchecked) {
            if !holds {
                verdicts[i] = Err(TxError::BadSignature.into());
            }
        }
        // `insert` looks for duplicates again: the same transaction twice in
        // this batch, or admitted by another caller since the look above.
        let mut pool = self.lock();
        txs.into_iter()
            .zip(hashes)
            .zip(verdicts)
            .map(|((tx, hash), verdict)| {
                verdict?;
                self.insert(&mut pool, tx, hash)
            })
            .collect()
    }

    /// The checks of [`Mempool::admit_checked`] that need neither the
    /// signature nor the pool: the envelope's shape, the sender's finalized
    /// account, then every action's stateless check and the transaction's
    /// weight (`salus_app::check_actions`).
    fn check_without_signature(
        &self,
        tx: &Tx,
        committed: impl Fn(&AccountId) -> Account,
    ) -> Result<(), AdmitError> {
        tx.check_shape(&self.chain_id)?;
        let account = committed(&tx.body.signer);
        if !account.may_sign(&tx.body.signer, &tx.body.public_key) {
            return Err(TxError::WrongSignerKey.into());
        }
        let expected = account.nonce;
        if tx.body.nonce < expected {
            return Err(TxError::BadNonce {
                expected,
                actual: tx.body.nonce,
            }
            .into());
        }
        // Far-future nonces could never run soon; refusing them keeps one
        // sender from parking a queue that blocks nobody but wastes the pool.
        let window = self.limits.max_per_sender as u64;
        if tx.body.nonce - expected >= window {
            return Err(AdmitError::NonceTooFar {
                expected,
                actual: tx.body.nonce,
                window,
            });
        }
        salus_app::check_actions(tx).map_err(|e| match e {
            StatelessError::Tx(e) => AdmitError::Invalid(e),
            StatelessError::Action { index, error } => AdmitError::ActionRefused { index, error },
        })
    }

    fn insert(&self, pool: &mut Pool, tx: Tx, hash: Hash) -> Result<Hash, AdmitError> {
        if pool.entries.contains_key(&hash) {
            return Err(AdmitError::Duplicate);
        }
        if pool.entries.len() >= self.limits.max_txs {
            return Err(AdmitError::Full(pool.entries.len()));
        }
        let sender = tx.body.signer;
        let nonce = tx.body.nonce;
        let queue = pool.by_sender.entry(sender).or_default();
        if queue.contains_key(&nonce) {
            return Err(AdmitError::NonceTaken(nonce));
        }
        if queue.len() >= self.limits.max_per_sender {
            return Err(AdmitError::SenderFull(queue.len()));
        }
        queue.insert(nonce, hash);
        let arrival = pool.next_arrival;
        pool.next_arrival += 1;
        pool.entries.insert(
            hash,
            Entry {
                tx,
                sender,
                nonce,
                arrival,
                admitted_at: std::time::Instant::now(),
                proposed_at: None,
            },
        );
        Ok(hash)
    }

    /// Up to `max` transactions for the next block. Per sender, the run of
    /// consecutive nonces that starts at its finalized next nonce, skipping
    /// (but counting) those already in a proposed block; senders ordered by the
    /// arrival of their first offered transaction. Stale entries found on the way
    /// (nonce below the finalized one) are removed.
    pub fn candidates(&self, max: usize, committed_nonce: impl Fn(&AccountId) -> u64) -> Vec<Tx> {
        let mut pool = self.lock();
        let mut runs: Vec<(u64, Vec<Hash>)> = Vec::new();
        let mut stale = Vec::new();
        for (sender, queue) in &pool.by_sender {
            let mut expected = committed_nonce(sender);
            let mut run = Vec::new();
            let mut first_arrival = u64::MAX;
            for (nonce, hash) in queue {
                if *nonce < expected {
                    stale.push(*hash);
                    continue;
                }
                if *nonce != expected {
                    break;
                }
                expected = expected.saturating_add(1);
                let entry = &pool.entries[hash];
                if entry.proposed_at.is_none() {
                    first_arrival = first_arrival.min(entry.arrival);
                    run.push(*hash);
                }
            }
            if !run.is_empty() {
                runs.push((first_arrival, run));
            }
        }
        for hash in &stale {
            let _ = remove(&mut pool, hash);
        }
        runs.sort_by_key(|(arrival, _)| *arrival);
        runs.into_iter()
            .flat_map(|(_, run)| run)
            .take(max)
            .map(|hash| pool.entries[&hash].tx.clone())
            .collect()
    }

    /// Holds back the transactions of a block proposed or verified here,
    /// until a block at its height is final.
    pub fn mark_proposed(&self, block: &Block) {
        let height = block.header.height;
        let hashes: Vec<Hash> = block.txs.iter().map(Tx::hash).collect();
        let mut pool = self.lock();
        let mut held = Vec::with_capacity(hashes.len());
        for hash in hashes {
            if let Some(entry) = pool.entries.get_mut(&hash) {
                entry.proposed_at = Some(height);
                held.push(hash);
            }
        }
        pool.held.entry(height).or_default().extend(held);
    }

    /// Drops transactions that can never be included. A nonce that is too high
    /// may become valid, and one that is too low may be in a block in flight:
    /// those stay until finality decides.
    pub fn drop_rejected(&self, rejected: &[(Hash, TxError)]) {
        let mut pool = self.lock();
        for (hash, error) in rejected {
            if !matches!(error, TxError::BadNonce { .. }) {
                let _ = remove(&mut pool, hash);
            }
        }
    }

    /// Removes a finalized block's transactions and everything its senders can
    /// no longer use; releases transactions held for dead proposals.
    ///
    /// Returns how long each of the block's transactions that this node held
    /// waited, from admission to finality.
    pub fn finalized(
        &self,
        block: &Block,
        tx_hashes: &[Hash],
        committed_nonce: impl Fn(&AccountId) -> u64,
    ) -> Vec<std::time::Duration> {
        assert_eq!(block.txs.len(), tx_hashes.len(), "one hash per transaction");
        let mut pool = self.lock();
        let now = std::time::Instant::now();
        let mut waited = Vec::with_capacity(block.txs.len());
        for hash in tx_hashes {
            if let Some(entry) = remove(&mut pool, hash) {
                waited.push(now.saturating_duration_since(entry.admitted_at));
            }
        }
        let mut senders: Vec<AccountId> = block.txs.iter().map(|t| t.body.signer).collect();
        senders.sort();
        senders.dedup();
        for sender in senders {
            let next = committed_nonce(&sender);
            let stale: Vec<Hash> = pool
                .by_sender
                .get(&sender)
                .map(|q| q.range(..next).map(|(_, h)| *h).collect())
                .unwrap_or_default();
            for hash in stale {
                let _ = remove(&mut pool, &hash);
            }
        }
        // Proposals at or below a final height are final or dead: what they
        // held and is still here goes back on offer.
        let height = block.header.height;
        let still_held = pool.held.split_off(&(height + 1));
        let released = std::mem::replace(&mut pool.held, still_held);
        for hash in released.into_values().flatten() {
            if let Some(entry) = pool.entries.get_mut(&hash) {
                if entry.proposed_at.is_some_and(|h| h <= height) {
                    entry.proposed_at = None;
                }
            }
        }
        waited
    }
}

fn remove(pool: &mut Pool, hash: &Hash) -> Option<Entry> {
    let entry = pool.entries.remove(hash)?;
    if let Some(queue) = pool.by_sender.get_mut(&entry.sender) {
        queue.remove(&entry.nonce);
        if queue.is_empty() {
            pool.by_sender.remove(&entry.sender);
        }
    }
    Some(entry)
}

#[cfg(test)]
mod tests;
