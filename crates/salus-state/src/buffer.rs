//! Finalized blocks held in memory between flushes.
//!
//! Writing each block in its own redb transaction costs about one 4 KiB page
//! copy per key touched, because the state, tree-value and index tables are
//! keyed at random and redb copies every page a transaction changes. A busy
//! chain touches the same accounts block after block, so flushing several
//! blocks in one transaction writes each of those pages once instead of once
//! per block.
//!
//! Readers see a buffered block at once: a [`Snapshot`](crate::Snapshot) lays
//! the buffer over the flushed tables. Each buffered block is also appended to
//! a journal (a write-ahead log) in its own small, durable transaction, which
//! costs a few sequential pages instead of thousands of random ones. The
//! journal is a database of its own, so that appending to it never waits for
//! a flush in progress. Most flushes commit without waiting for the disk, so
//! a crash rolls the tables back to the last durable flush; the journal keeps
//! every block above it, and after a crash the chain re-executes the
//! journaled blocks above the flushed height. Entries at or below the last
//! durable flush are stale, and the next append deletes them.

use std::sync::Arc;

use redb::{Database, ReadableDatabase, TableDefinition};
use salus_types::{Block, Hash, Receipt};

use crate::archive::BlockIndex;
use crate::store::Pending;
use crate::StateError;

/// height → encoded block, for finalized blocks not yet flushed.
const JOURNAL: TableDefinition<u64, &[u8]> = TableDefinition::new("journal");

/// One finalized block and everything the store would write for it.
#[derive(Debug)]
pub(crate) struct Layer {
    pub(crate) state: Arc<Pending>,
    pub(crate) block: Block,
    pub(crate) digest: Hash,
    pub(crate) receipts: Vec<Receipt>,
    pub(crate) index: BlockIndex,
}

impl Layer {
    pub(crate) fn new(state: Arc<Pending>, block: Block, receipts: Vec<Receipt>) -> Layer {
        assert_eq!(
            block.header.height, state.height,
            "block and state heights differ"
        );
        assert_eq!(
            block.header.state_root, state.root,
            "block claims another state root"
        );
        assert!(
            receipts.len() == block.txs.len()
                || (receipts.len() == block.txs.len() + 1
                    && receipts.last().is_some_and(Receipt::is_end_of_block)),
            "one receipt per transaction, then at most the block's own"
        );
        let index = BlockIndex::of(block.header.height, &receipts);
        Layer {
            digest: block.digest(),
            state,
            block,
            receipts,
            index,
        }
    }

    pub(crate) fn height(&self) -> u64 {
        self.block.header.height
    }
}

/// The layer of block `height` among consecutive `layers` (oldest first).
pub(crate) fn layer_at(layers: &[Arc<Layer>], height: u64) -> Option<&Layer> {
    let first = layers.first()?.height();
    let layer = layers.get(usize::try_from(height.checked_sub(first)?).ok()?)?;
    assert_eq!(layer.height(), height, "buffered blocks are consecutive");
    Some(layer)
}

/// The flushed height and the finalized blocks above it, oldest first and
/// consecutive.
#[derive(Debug, Default)]
pub(crate) struct Buffer {
    /// The newest block in the state and archive tables.
    pub(crate) flushed: Option<u64>,
    /// The newest flushed block that a crash cannot take back: flushes in
    /// between were committed without waiting for the disk, and a crash
    /// rolls the tables back to this height.
    pub(crate) durable: Option<u64>,
    /// The newest block in the journal (or the flushed height, if newer).
    pub(crate) journaled: Option<u64>,
    pub(crate) layers: Vec<Arc<Layer>>,
}

impl Buffer {
    /// The newest finalized height in memory or in the tables.
    pub(crate) fn newest(&self) -> Option<u64> {
        self.layers.last().map(|l| l.height()).or(self.flushed)
    }

    /// Forgets the layers a flush wrote, up to and including `height`.
    pub(crate) fn flushed(&mut self, height: u64, durable: bool) {
        assert!(
            self.flushed < Some(height),
            "flushes only move the flushed height forward"
        );
        self.flushed = Some(height);
        if durable {
            self.durable = Some(height);
        }
        self.journaled = self.journaled.max(Some(height));
        self.layers.retain(|l| l.height() > height);
    }
}

/// Creates the journal table if need be, and gives the newest journaled
/// height, checking that the entries above `flushed` run without a gap from
/// `flushed + 1`: a journal that does not continue the tables (say, beside a
/// state file restored from an older backup) cannot be replayed.
pub(crate) fn open_journal(db: &Database, flushed: Option<u64>) -> Result<Option<u64>, StateError> {
    let txn = db.begin_write()?;
    txn.open_table(JOURNAL)?;
    txn.commit()?;
    let txn = db.begin_read()?;
    let journal = txn.open_table(JOURNAL)?;
    let mut newest = flushed;
    for entry in journal.range(flushed.map_or(0, |h| h + 1)..)? {
        let height = entry?.0.value();
        let expected = newest.map_or(0, |h| h + 1);
        if height != expected {
            return Err(StateError::Corrupt(format!(
                "the journal holds block {height} where block {expected} should follow the \
                 state tables; it does not belong with this state file"
            )));
        }
        newest = Some(height);
    }
    Ok(newest)
}

/// Appends `block` to the journal, durably, and deletes the entries a flush
/// made durable in the tables (up to and including `durable`).
///
/// Trimming rides on the append rather than on the flush: the journal has
/// one writer at a time, and a flush runs at the lowest CPU priority. A trim
/// of its own would hold the journal while the scheduler starves it, and the
/// next block's commit, on the path to finality, would wait behind it.
pub(crate) fn journal(
    db: &Database,
    block: &Block,
    durable: Option<u64>,
) -> Result<(), StateError> {
    let txn = db.begin_write()?;
    {
        let mut journal = txn.open_table(JOURNAL)?;
        if let Some(durable) = durable {
            journal.retain_in(..=durable, |_, _| false)?;
        }
        journal.insert(block.header.height, block.encode().as_slice())?;
    }
    txn.commit()?;
    Ok(())
}

/// The journaled blocks above `flushed`, oldest first.
pub(crate) fn journaled_blocks(
    db: &Database,
    flushed: Option<u64>,
) -> Result<Vec<Block>, StateError> {
    let txn = db.begin_read()?;
    let journal = txn.open_table(JOURNAL)?;
    let from = flushed.map_or(0, |h| h + 1);
    let mut blocks = Vec::new();
    for entry in journal.range(from..)? {
        let (height, bytes) = entry?;
        let block = Block::decode(bytes.value()).map_err(|e| StateError::Corrupt(e.to_string()))?;
        if block.header.height != height.value() {
            return Err(StateError::Corrupt(format!(
                "journal entry {} holds block {}",
                height.value(),
                block.header.height
            )));
        }
        blocks.push(block);
    }
    Ok(blocks)
}

#[cfg(test)]
mod tests {
    use redb::{ReadableTable as _, ReadableTableMetadata as _};
    use salus_crypto::SigningKey;
    use salus_types::Header;

    use super::*;

    fn block(height: u64) -> Block {
        Block {
            header: Header {
                height,
                parent: Hash::ZERO,
                timestamp_ms: height,
                proposer: SigningKey::from_seed(&[1; 32]).public_key(),
                tx_root: Block::tx_root_of(&[]),
                state_root: Hash::ZERO,
            },
            txs: vec![],
        }
    }

    fn journal_heights(db: &Database) -> Vec<u64> {
        let txn = db.begin_read().unwrap();
        let table = txn.open_table(JOURNAL).unwrap();
        let heights: Vec<u64> = table
            .iter()
            .unwrap()
            .map(|entry| entry.unwrap().0.value())
            .collect();
        assert_eq!(heights.len() as u64, table.len().unwrap());
        heights
    }

    /// Commits block `height` on `parent`, writing one key; its digest.
    fn commit_next(store: &crate::Store, height: u64, parent: Hash) -> Hash {
        let snapshot = store.snapshot().unwrap();
        let writes = [(format!("k{height}").into_bytes(), Some(vec![height as u8]))]
            .into_iter()
            .collect();
        let pending = store.prepare(&snapshot, &[], height, writes).unwrap();
        drop(snapshot);
        let mut next = block(height);
        next.header.parent = parent;
        next.header.state_root = pending.root;
        let digest = next.digest();
        store
            .commit_buffered(Arc::new(pending), next, vec![])
            .unwrap();
        digest
    }

    #[test]
    fn a_lazy_flush_is_durable_once_too_many_blocks_sit_above_the_last_durable_one() {
        use crate::store::MAX_UNDURABLE;
        let store = crate::Store::in_memory().unwrap();
        let mut parent = Hash::ZERO;
        for height in 0..=MAX_UNDURABLE + 1 {
            parent = commit_next(&store, height, parent);
            store.flush_lazily().unwrap();
        }
        // No flush was durable before the last: an append after one would
        // have dropped the entries it covered.
        let all: Vec<u64> = (0..=MAX_UNDURABLE + 1).collect();
        assert_eq!(journal_heights(&store.journal), all);
        // The last was, with MAX_UNDURABLE + 1 blocks above none durable.
        commit_next(&store, MAX_UNDURABLE + 2, parent);
        assert_eq!(journal_heights(&store.journal), vec![MAX_UNDURABLE + 2]);
    }

    #[test]
    fn a_lazy_flush_leaves_its_blocks_in_the_journal_until_a_durable_one() {
        let store = crate::Store::in_memory().unwrap();
        let mut parent = Hash::ZERO;
        for height in 0..6u64 {
            parent = commit_next(&store, height, parent);
            match height {
                2 => store.flush_lazily().unwrap(),
                // Heights 0 to 2 are in the tables, but a crash could take
                // them back: the journal keeps them.
                3 => assert_eq!(journal_heights(&store.journal), vec![0, 1, 2, 3]),
                4 => store.flush().unwrap(),
                _ => {}
            }
        }
        assert_eq!(store.flushed_height(), Some(4));
        assert_eq!(journal_heights(&store.journal), vec![5]);
    }

    #[test]
    fn an_append_drops_the_entries_a_flush_made_durable() {
        let db = crate::store::memory_database().unwrap();
        assert_eq!(open_journal(&db, None).unwrap(), None);
        for height in 0..4 {
            journal(&db, &block(height), None).unwrap();
        }
        assert_eq!(journal_heights(&db), vec![0, 1, 2, 3]);
        // A flush through height 2 leaves the journal alone…
        assert_eq!(journaled_blocks(&db, Some(2)).unwrap(), vec![block(3)]);
        // …and the next append removes what it made durable, nothing more.
        journal(&db, &block(4), Some(2)).unwrap();
        assert_eq!(journal_heights(&db), vec![3, 4]);
        journal(&db, &block(5), Some(2)).unwrap();
        assert_eq!(journal_heights(&db), vec![3, 4, 5]);
    }
}
