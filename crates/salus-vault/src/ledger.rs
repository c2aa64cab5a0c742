//! The vault's own durable ledger (one redb file): requests already seen, for
//! replay protection, and access entries not yet final on chain.
//!
//! An access entry is written here, durably, before the vault answers the
//! request it describes; it leaves only once the chain has it. So a crash may
//! delay an audit entry, but never lose one.

use std::path::Path;

use redb::{Database, ReadableDatabase, ReadableTable, ReadableTableMetadata, TableDefinition};
use salus_types::audit::AccessEntry;
use salus_types::Hash;

use crate::VaultError;

/// request hash → issued_ms.
const SEEN: TableDefinition<&[u8; 32], u64> = TableDefinition::new("seen_requests");
/// (issued_ms, request hash) → (), to forget old requests in time order.
const SEEN_BY_TIME: TableDefinition<(u64, &[u8; 32]), ()> = TableDefinition::new("seen_by_time");
/// sequence → borsh(AccessEntry).
const AUDIT_QUEUE: TableDefinition<u64, &[u8]> = TableDefinition::new("audit_queue");
/// sequence → borsh(AccessEntry): entries the chain refused, kept for an
/// operator to inspect rather than dropped.
const AUDIT_REFUSED: TableDefinition<u64, &[u8]> = TableDefinition::new("audit_refused");

/// How many expired replay entries one write transaction forgets, at most.
const PRUNE_PER_WRITE: usize = 4_096;

pub struct Ledger {
    db: Database,
}

/// One accepted request: its hash, when it was issued, and the access entry
/// it produced, if it was a read.
pub struct Accepted {
    pub request: Hash,
    pub issued_ms: u64,
    pub audit: Option<AccessEntry>,
}

fn storage(e: impl std::fmt::Display) -> VaultError {
    VaultError::Storage(e.to_string())
}

impl Ledger {
    pub fn open(path: &Path) -> Result<Ledger, VaultError> {
        let db = Database::create(path).map_err(storage)?;
        let txn = db.begin_write().map_err(storage)?;
        {
            txn.open_table(SEEN).map_err(storage)?;
            txn.open_table(SEEN_BY_TIME).map_err(storage)?;
            txn.open_table(AUDIT_QUEUE).map_err(storage)?;
            txn.open_table(AUDIT_REFUSED).map_err(storage)?;
        }
        txn.commit().map_err(storage)?;
        Ok(Ledger { db })
    }

    /// Whether a request with this hash was already accepted.
    pub fn seen(&self, request: &Hash) -> Result<bool, VaultError> {
        let txn = self.db.begin_read().map_err(storage)?;
        let table = txn.open_table(SEEN).map_err(storage)?;
        Ok(table.get(&request.0).map_err(storage)?.is_some())
    }

    /// Records requests as seen and queues their access entries, durably, in
    /// one transaction, and forgets requests issued before `forget_before_ms`
    /// (they would be refused as stale anyway). A request seen before (in an
    /// earlier or a concurrent batch, or twice in this one) is skipped, its
    /// entry too, and flagged: the caller must refuse it as a replay. Returns
    /// one flag per item, `true` for a replay.
    pub fn commit(
        &self,
        accepted: &[Accepted],
        forget_before_ms: u64,
    ) -> Result<Vec<bool>, VaultError> {
        let txn = self.db.begin_write().map_err(storage)?;
        let mut replayed = Vec::new();
        {
            let mut seen = txn.open_table(SEEN).map_err(storage)?;
            let mut by_time = txn.open_table(SEEN_BY_TIME).map_err(storage)?;
            let mut queue = txn.open_table(AUDIT_QUEUE).map_err(storage)?;
            let mut next = queue
                .last()
                .map_err(storage)?
                .map_or(0, |(key, _)| key.value() + 1);
            for item in accepted {
                let hash = &item.request.0;
                let replay = seen.get(hash).map_err(storage)?.is_some();
                replayed.push(replay);
                if replay {
                    continue;
                }
                seen.insert(hash, item.issued_ms).map_err(storage)?;
                by_time
                    .insert((item.issued_ms, hash), ())
                    .map_err(storage)?;
                if let Some(entry) = &item.audit {
                    let bytes = borsh::to_vec(entry).map_err(storage)?;
                    queue.insert(next, bytes.as_slice()).map_err(storage)?;
                    next += 1;
                }
            }
            let old: Vec<(u64, [u8; 32])> = by_time
                .range(..(forget_before_ms, &[0u8; 32]))
                .map_err(storage)?
                .take(PRUNE_PER_WRITE)
                .map(|entry| {
                    entry.map(|(key, _)| {
                        let (issued_ms, hash) = key.value();
                        (issued_ms, *hash)
                    })
                })
                .collect::<Result<_, _>>()
                .map_err(storage)?;
            for (issued_ms, hash) in old {
                by_time.remove((issued_ms, &hash)).map_err(storage)?;
                seen.remove(&hash).map_err(storage)?;
            }
        }
        txn.commit().map_err(storage)?;
        Ok(replayed)
    }

    /// Up to `limit` queued access entries after sequence `after`, oldest
    /// first, with their sequence numbers.
    pub fn pending_audit(
        &self,
        after: Option<u64>,
        limit: usize,
    ) -> Result<Vec<(u64, AccessEntry)>, VaultError> {
        let txn = self.db.begin_read().map_err(storage)?;
        let queue = txn.open_table(AUDIT_QUEUE).map_err(storage)?;
        let start = after.map_or(0, |seq| seq + 1);
        let mut out = Vec::new();
        for entry in queue.range(start..).map_err(storage)?.take(limit) {
            let (seq, bytes) = entry.map_err(storage)?;
            let access: AccessEntry = borsh::from_slice(bytes.value())
                .map_err(|e| VaultError::Storage(format!("corrupt audit queue entry: {e}")))?;
            out.push((seq.value(), access));
        }
        Ok(out)
    }

    /// How many access entries wait for the chain.
    pub fn pending_audit_len(&self) -> Result<u64, VaultError> {
        let txn = self.db.begin_read().map_err(storage)?;
        let queue = txn.open_table(AUDIT_QUEUE).map_err(storage)?;
        queue.len().map_err(storage)
    }

    /// Drops queued entries that are now final on chain.
    pub fn audit_done(&self, seqs: &[u64]) -> Result<(), VaultError> {
        self.dequeue(seqs, false)
    }

    /// Moves entries the chain refused out of the queue into a table of their
    /// own, so that they neither block the queue nor disappear.
    pub fn audit_refused(&self, seqs: &[u64]) -> Result<(), VaultError> {
        self.dequeue(seqs, true)
    }

    /// How many entries the chain refused.
    pub fn refused_audit_len(&self) -> Result<u64, VaultError> {
        let txn = self.db.begin_read().map_err(storage)?;
        let table = txn.open_table(AUDIT_REFUSED).map_err(storage)?;
        table.len().map_err(storage)
    }

    fn dequeue(&self, seqs: &[u64], keep: bool) -> Result<(), VaultError> {
        let txn = self.db.begin_write().map_err(storage)?;
        {
            let mut queue = txn.open_table(AUDIT_QUEUE).map_err(storage)?;
            let mut refused = txn.open_table(AUDIT_REFUSED).map_err(storage)?;
            for seq in seqs {
                let removed = queue.remove(*seq).map_err(storage)?;
                if let (true, Some(entry)) = (keep, removed) {
                    refused.insert(*seq, entry.value()).map_err(storage)?;
                }
            }
        }
        txn.commit().map_err(storage)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use salus_types::consent::{AccessReason, Purpose};
    use salus_types::records::RecordId;
    use salus_types::AccountId;

    fn entry(n: u8) -> AccessEntry {
        AccessEntry {
            record: RecordId([n; 16]),
            version: 1,
            patient: AccountId([1; 20]),
            requester: AccountId([2; 20]),
            purpose: Purpose::Treatment,
            reason: AccessReason::Grant,
            grant: Some(7),
            at_ms: 1_000,
            request: Hash([n; 32]),
        }
    }

    fn accepted(n: u8, issued_ms: u64, read: bool) -> Accepted {
        Accepted {
            request: Hash([n; 32]),
            issued_ms,
            audit: read.then(|| entry(n)),
        }
    }

    #[test]
    fn replays_are_caught_and_old_requests_forgotten() {
        let dir = tempfile::tempdir().unwrap();
        let ledger = Ledger::open(&dir.path().join("vault.redb")).unwrap();
        let first = [accepted(1, 1_000, true), accepted(2, 5_000, true)];
        assert_eq!(ledger.commit(&first, 0).unwrap(), vec![false, false]);
        // A replay, and a request twice in one batch: both refused, neither logged.
        let again = [
            accepted(1, 1_000, true),
            accepted(3, 1_000, true),
            accepted(3, 1_000, true),
        ];
        assert_eq!(ledger.commit(&again, 0).unwrap(), vec![true, false, true]);
        assert_eq!(ledger.pending_audit_len().unwrap(), 3);
        assert!(ledger.seen(&Hash([2; 32])).unwrap());
        // Forgetting everything issued before 2_000 drops the requests issued at 1_000.
        ledger.commit(&[], 2_000).unwrap();
        assert!(!ledger.seen(&Hash([1; 32])).unwrap());
        assert!(ledger.seen(&Hash([2; 32])).unwrap());
    }

    #[test]
    fn the_audit_queue_survives_reopening_until_done() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("vault.redb");
        {
            let ledger = Ledger::open(&path).unwrap();
            let batch = [
                accepted(1, 9, true),
                accepted(2, 9, false),
                accepted(3, 9, true),
                accepted(4, 9, true),
            ];
            ledger.commit(&batch, 0).unwrap();
        }
        let ledger = Ledger::open(&path).unwrap();
        let pending = ledger.pending_audit(None, 2).unwrap();
        assert_eq!(pending.len(), 2);
        assert_eq!(pending[0].1, entry(1));
        assert_eq!(
            pending[1].1,
            entry(3),
            "a request without an entry queues nothing"
        );
        ledger.audit_done(&[pending[0].0, pending[1].0]).unwrap();
        let rest = ledger.pending_audit(None, 10).unwrap();
        assert_eq!(rest.len(), 1);
        assert_eq!(rest[0].1, entry(4));
        assert_eq!(ledger.pending_audit_len().unwrap(), 1);
        // Sequence numbers keep rising after a removal.
        ledger.commit(&[accepted(5, 9, true)], 0).unwrap();
        let rest = ledger.pending_audit(None, 10).unwrap();
        assert!(rest[1].0 > rest[0].0);
        assert_eq!(
            ledger.pending_audit(Some(rest[0].0), 10).unwrap(),
            rest[1..]
        );
    }
}
