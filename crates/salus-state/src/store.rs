//! The redb-backed Jellyfish Merkle store: opening, preparing, committing
//! and flushing. Reads are in [`crate::snapshot`], the table layout in
//! [`crate::tables`].

use std::path::Path;
use std::sync::{Arc, Mutex, MutexGuard};

use jmt::storage::{LeafNode, Node, NodeBatch, NodeKey, TreeReader};
use jmt::{KeyHash, OwnedValue, Version};
use redb::{Database, Durability, ReadableDatabase, ReadableTable};
use salus_types::{Block, Hash, Receipt};

use crate::archive;
use crate::buffer::{self, Buffer, Layer};
use crate::overlay::WriteSet;
use crate::snapshot::{LayeredView, Snapshot};
use crate::tables::{self, JMT_NODES, JMT_VALUES, LATEST, META, META_HEIGHT};
use crate::StateError;
use salus_types::proof::{key_hash, StateProof};

/// The most finalized blocks above the last durable flush that a lazy
/// flush leaves to the journal alone (see [`Store::flush_lazily`]).
pub const MAX_UNDURABLE: u64 = 256;

/// The persistent store. Cheap to clone; all clones share one database and
/// one buffer of finalized blocks not yet flushed to it.
#[derive(Clone)]
pub struct Store {
    db: Arc<Database>,
    /// The write-ahead log of committed blocks not yet flushed to `db`.
    pub(crate) journal: Arc<Database>,
    buffer: Arc<Mutex<Buffer>>,
    /// Held for a whole flush: one writer at a time.
    flushing: Arc<Mutex<()>>,
    /// Heights `h` with `(h + 1) % n == 0` always end a flush, so their
    /// state stays provable (see [`Store::keep_every`]).
    keep_every: Arc<std::sync::atomic::AtomicU64>,
}

/// A redb database held in memory (simulations and tests).
pub(crate) fn memory_database() -> Result<Database, redb::DatabaseError> {
    Database::builder().create_with_backend(redb::backends::InMemoryBackend::new())
}

/// A block's effect on state, computed but not yet committed.
#[derive(Debug, Clone)]
pub struct Pending {
    pub height: u64,
    pub root: Hash,
    pub writes: WriteSet,
    pub(crate) batch: NodeBatch,
}

impl Store {
    /// Opens (or creates) the store at `path`, with its journal beside it
    /// (the same name, extension `journal`).
    pub fn open(path: &Path) -> Result<Store, StateError> {
        let journal = Database::create(path.with_extension("journal"))?;
        Store::init(Database::create(path)?, journal)
    }

    /// A store in memory: for simulations, where "durable" means surviving a
    /// simulated crash of the node that owns it, not of the process.
    pub fn in_memory() -> Result<Store, StateError> {
        Store::init(memory_database()?, memory_database()?)
    }

    fn init(db: Database, journal: Database) -> Result<Store, StateError> {
        let txn = db.begin_write()?;
        let (flushed, journaled) = {
            tables::migrate_node_keys(&txn)?;
            txn.open_table(JMT_NODES)?;
            JMT_VALUES.create(&txn)?;
            txn.open_table(LATEST)?;
            archive::create_tables(&txn)?;
            let flushed = txn.open_table(META)?.get(META_HEIGHT)?.map(|v| v.value());
            tables::migrate_values(&txn, flushed)?;
            (flushed, buffer::open_journal(&journal, flushed)?)
        };
        txn.commit()?;
        Ok(Store {
            db: Arc::new(db),
            journal: Arc::new(journal),
            buffer: Arc::new(Mutex::new(Buffer {
                flushed,
                durable: flushed,
                journaled,
                layers: Vec::new(),
            })),
            flushing: Arc::new(Mutex::new(())),
            keep_every: Arc::default(),
        })
    }

    fn buffer(&self) -> MutexGuard<'_, Buffer> {
        self.buffer.lock().expect("store buffer lock poisoned")
    }

    pub fn snapshot(&self) -> Result<Snapshot, StateError> {
        // Under the buffer lock, so that a flush finishing now is seen either
        // whole in the tables or whole in the buffer.
        let buffer = self.buffer();
        let txn = self.db.begin_read()?;
        let flushed = txn.open_table(META)?.get(META_HEIGHT)?.map(|v| v.value());
        let layers: Vec<Arc<Layer>> = buffer
            .layers
            .iter()
            .filter(|l| Some(l.height()) > flushed)
            .cloned()
            .collect();
        drop(buffer);
        Ok(Snapshot {
            height: layers.last().map(|l| l.height()).or(flushed),
            layers,
            latest: txn.open_table(LATEST)?,
            nodes: txn.open_table(JMT_NODES)?,
            values: JMT_VALUES.reader(&txn)?,
            txn,
        })
    }

    /// The height of the newest committed block, buffered or flushed.
    pub fn committed_height(&self) -> Result<Option<u64>, StateError> {
        Ok(self.buffer().newest())
    }

    /// The height of the newest block written to the state and archive
    /// tables. Blocks above it are in the journal (and, unless a crash or
    /// [`Store::discard_buffered`] dropped them, in memory).
    pub fn flushed_height(&self) -> Option<u64> {
        self.buffer().flushed
    }

    /// Committed blocks that a crash left in the journal only, oldest first:
    /// the chain must execute and commit them again before anything else.
    pub fn journaled_blocks(&self) -> Result<Vec<Block>, StateError> {
        let newest = self.buffer().newest();
        buffer::journaled_blocks(&self.journal, newest)
    }

    /// How many finalized blocks wait in memory for the next flush.
    pub fn buffered_blocks(&self) -> usize {
        self.buffer().layers.len()
    }

    /// Computes the effect of `writes` applied at `height` on top of the snapshot
    /// and the given uncommitted ancestors (oldest first). Nothing is written.
    pub fn prepare(
        &self,
        snapshot: &Snapshot,
        ancestors: &[&Pending],
        height: u64,
        writes: WriteSet,
    ) -> Result<Pending, StateError> {
        let base = ancestors
            .last()
            .map(|p| Some(p.height))
            .unwrap_or(snapshot.height);
        let expected = base.map_or(0, |h| h + 1);
        if height != expected {
            return Err(StateError::OutOfOrder {
                actual: height,
                expected_parent: base,
            });
        }
        let view = LayeredView {
            snapshot,
            ancestors,
        };
        apply(&view, height, writes)
    }

    /// Computes the genesis state (height 0) on an empty tree, whatever the
    /// store already holds, so a reopened store can check its genesis.
    pub fn prepare_genesis(&self, writes: WriteSet) -> Result<Pending, StateError> {
        apply(&EmptyTree, 0, writes)
    }

    /// Commits a finalized block and flushes it, with anything buffered
    /// before it.
    pub fn commit(
        &self,
        pending: &Pending,
        block: &Block,
        receipts: &[Receipt],
    ) -> Result<(), StateError> {
        self.commit_buffered(Arc::new(pending.clone()), block.clone(), receipts.to_vec())?;
        self.flush()
    }

    /// Commits a finalized block: it is journaled durably, and readers see it
    /// at once through the buffer; the next [`Store::flush`] writes it to the
    /// state and archive tables.
    pub fn commit_buffered(
        &self,
        pending: Arc<Pending>,
        block: Block,
        receipts: Vec<Receipt>,
    ) -> Result<(), StateError> {
        let layer = Layer::new(pending, block, receipts);
        let height = layer.height();
        let follows = |buffer: &Buffer| -> Result<(), StateError> {
            let newest = buffer.newest();
            if newest.map_or(0, |h| h + 1) == height {
                Ok(())
            } else {
                Err(StateError::OutOfOrder {
                    actual: height,
                    expected_parent: newest,
                })
            }
        };
        let (journaled, durable) = {
            let buffer = self.buffer();
            follows(&buffer)?;
            (buffer.journaled >= Some(height), buffer.durable)
        };
        // Outside the buffer lock: readers need not wait for the disk.
        if !journaled {
            buffer::journal(&self.journal, &layer.block, durable)?;
        }
        let mut buffer = self.buffer();
        follows(&buffer)?;
        buffer.journaled = buffer.journaled.max(Some(height));
        buffer.layers.push(Arc::new(layer));
        Ok(())
    }

    /// Writes every buffered block to the state and archive tables, in one
    /// atomic, durable transaction. Their journal entries go with the next
    /// block's append.
    pub fn flush(&self) -> Result<(), StateError> {
        self.flush_with(Durability::Immediate)
    }

    /// [`Store::flush`], but durable only when the journal would otherwise
    /// hold more than [`MAX_UNDURABLE`] blocks: the journal keeps every block
    /// above the last durable flush, so a crash loses nothing either way.
    ///
    /// A flush rewrites thousands of pages, and waiting for them to reach the
    /// disk also makes every other durable write on the file system wait
    /// (consensus votes among them); see
    /// `docs/decisions/most-flushes-not-durable.md`.
    pub fn flush_lazily(&self) -> Result<(), StateError> {
        let behind = {
            let buffer = self.buffer();
            let newest = buffer.newest().unwrap_or(0);
            newest.saturating_sub(buffer.durable.unwrap_or(0))
        };
        if behind > MAX_UNDURABLE {
            self.flush_with(Durability::Immediate)
        } else {
            self.flush_with(Durability::None)
        }
    }

    /// Keeps the state of every height `h` with `(h + 1) % every == 0`
    /// provable: a flush that would pass over such a height ends there, and
    /// the rest of its blocks go in a second transaction. The chain keeps the
    /// last height of every epoch this way, where the next epoch's validator
    /// set is written and clients prove it. Zero keeps nothing extra.
    pub fn keep_every(&self, every: u64) {
        self.keep_every
            .store(every, std::sync::atomic::Ordering::Relaxed);
    }

    fn flush_with(&self, durability: Durability) -> Result<(), StateError> {
        let _writer = self.flushing.lock().expect("flush lock poisoned");
        let layers = self.buffer().layers.clone();
        let every = self.keep_every.load(std::sync::atomic::Ordering::Relaxed);
        let mut parts: Vec<&[Arc<Layer>]> = Vec::new();
        let mut rest = layers.as_slice();
        while let Some(split) = rest
            .iter()
            .position(|layer| every > 0 && (layer.height() + 1) % every == 0)
            .filter(|&at| at + 1 < rest.len())
        {
            let (kept, later) = rest.split_at(split + 1);
            parts.push(kept);
            rest = later;
        }
        parts.push(rest);
        let count = parts.len();
        for (index, part) in parts.into_iter().enumerate() {
            // Only the last part needs the durability asked for: a durable
            // commit carries every commit before it to the disk.
            let part_durability = if index + 1 == count {
                durability
            } else {
                Durability::None
            };
            self.flush_part(part, part_durability)?;
        }
        Ok(())
    }

    fn flush_part(&self, layers: &[Arc<Layer>], durability: Durability) -> Result<(), StateError> {
        let (Some(first), Some(last)) = (layers.first(), layers.last()) else {
            if matches!(durability, Durability::Immediate) {
                self.make_durable()?;
            }
            return Ok(());
        };
        let durable = matches!(durability, Durability::Immediate);
        let mut txn = self.db.begin_write()?;
        txn.set_durability(durability)
            .map_err(|e| StateError::Storage(e.to_string()))?;
        {
            let mut meta = txn.open_table(META)?;
            let flushed = meta.get(META_HEIGHT)?.map(|v| v.value());
            if flushed.map_or(0, |h| h + 1) != first.height() {
                return Err(StateError::OutOfOrder {
                    actual: first.height(),
                    expected_parent: flushed,
                });
            }
            meta.insert(META_HEIGHT, last.height())?;
            tables::write_state(&txn, layers)?;
        }
        archive::write_blocks(&txn, layers)?;
        txn.commit()?;
        self.buffer().flushed(last.height(), durable);
        // Once durable, the blocks' journal entries go with the next block's
        // (see `buffer::journal`); until then, and after a crash here, they
        // are at or below the flushed height, which reads skip.
        Ok(())
    }

    /// Makes lazy flushes durable: a durable commit carries every commit
    /// before it to the disk.
    fn make_durable(&self) -> Result<(), StateError> {
        let flushed = {
            let buffer = self.buffer();
            if buffer.durable >= buffer.flushed {
                return Ok(());
            }
            buffer.flushed
        };
        self.db.begin_write()?.commit()?;
        self.buffer().durable = flushed;
        Ok(())
    }

    /// Drops the buffered blocks from memory, as a crash would (they stay in
    /// the journal). Simulations call this when they restart a node on the
    /// same in-memory store.
    pub fn discard_buffered(&self) {
        let _writer = self.flushing.lock().expect("flush lock poisoned");
        self.buffer().layers.clear();
    }

    /// The value of `key` at committed `height`, with a proof against that
    /// height's state root; [`StateError::NotRetained`] for a height inside
    /// a flush.
    pub fn get_with_proof(
        &self,
        key: &[u8],
        height: u64,
    ) -> Result<(Option<Vec<u8>>, StateProof), StateError> {
        proven(&self.snapshot()?, key, height)
    }

    /// The newest committed height, and the value of `key` there with its
    /// proof, from one snapshot: a flush finishing meanwhile cannot leave the
    /// height inside it.
    pub fn get_latest_with_proof(
        &self,
        key: &[u8],
    ) -> Result<(u64, Option<Vec<u8>>, StateProof), StateError> {
        let snapshot = self.snapshot()?;
        let height = snapshot.height().ok_or(StateError::UnknownHeight {
            requested: 0,
            latest: None,
        })?;
        let (value, proof) = proven(&snapshot, key, height)?;
        Ok((height, value, proof))
    }

    /// The state root at committed `height`; [`StateError::NotRetained`] for
    /// a height inside a flush.
    pub fn root(&self, height: u64) -> Result<Hash, StateError> {
        let snapshot = self.snapshot()?;
        let view = LayeredView {
            snapshot: &snapshot,
            ancestors: &[],
        };
        retained_root(&view, height)
    }
}

fn proven(
    snapshot: &Snapshot,
    key: &[u8],
    height: u64,
) -> Result<(Option<Vec<u8>>, StateProof), StateError> {
    let view = LayeredView {
        snapshot,
        ancestors: &[],
    };
    retained_root(&view, height)?;
    let (value, proof) = jmt::Sha256Jmt::new(&view)
        .get_with_proof(key_hash(key), height)
        .map_err(|e| StateError::Tree(e.to_string()))?;
    Ok((value, StateProof::from_jmt(&proof)))
}

/// The state root at `height`, if the store keeps the tree at that height.
fn retained_root(view: &LayeredView<'_>, height: u64) -> Result<Hash, StateError> {
    view.snapshot.check_height(height)?;
    let root = jmt::Sha256Jmt::new(view)
        .get_root_hash_option(height)
        .map_err(|e| StateError::Tree(e.to_string()))?;
    match root {
        Some(root) => Ok(Hash(root.0)),
        None => Err(StateError::NotRetained { height }),
    }
}

/// Computes the tree after `writes` at `height` over `reader`, without writing.
fn apply<R: TreeReader>(reader: &R, height: u64, writes: WriteSet) -> Result<Pending, StateError> {
    let tree = jmt::Sha256Jmt::new(reader);
    let (root, update) = match upserts_only(&writes) {
        // One pass over the sorted keys: every internal node on their paths is
        // rebuilt and hashed once for the block. The one-key-at-a-time path
        // below rehashes the whole path to the root for every key, which made
        // the tree most of a block's cost.
        Some(upserts) => tree
            .batch_put_value_sets(vec![upserts], None, height)
            .map(|(roots, update)| (roots[0], update)),
        // The batch path cannot delete; the tree is the same either way
        // (its shape is a function of its keys), only the cost differs.
        None => tree.put_value_set(
            writes
                .iter()
                .map(|(key, value)| (key_hash(key), value.clone())),
            height,
        ),
    }
    .map_err(|e| StateError::Tree(e.to_string()))?;
    assert!(
        update
            .node_batch
            .nodes()
            .keys()
            .all(|key| key.version() == height),
        "a tree update writes nodes of its own version only"
    );
    Ok(Pending {
        height,
        root: Hash(root.0),
        writes,
        batch: update.node_batch,
    })
}

/// `writes` as key hashes and values when it sets at least one key and
/// deletes none.
fn upserts_only(writes: &WriteSet) -> Option<Vec<(KeyHash, OwnedValue)>> {
    if writes.is_empty() {
        return None;
    }
    writes
        .iter()
        .map(|(key, value)| Some((key_hash(key), value.clone()?)))
        .collect()
}

/// The tree before genesis.
struct EmptyTree;

impl TreeReader for EmptyTree {
    fn get_node_option(&self, _: &NodeKey) -> anyhow::Result<Option<Node>> {
        Ok(None)
    }

    fn get_value_option(&self, _: Version, _: KeyHash) -> anyhow::Result<Option<OwnedValue>> {
        Ok(None)
    }

    fn get_rightmost_leaf(&self) -> anyhow::Result<Option<(NodeKey, LeafNode)>> {
        Ok(None)
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use proptest::prelude::*;

    use super::*;

    /// What the one-key-at-a-time path computes for `writes` at `height`.
    fn one_by_one(view: &LayeredView<'_>, height: u64, writes: &WriteSet) -> (Hash, NodeBatch) {
        let (root, update) = jmt::Sha256Jmt::new(view)
            .put_value_set(writes.iter().map(|(k, v)| (key_hash(k), v.clone())), height)
            .expect("the reference path applies");
        (Hash(root.0), update.node_batch)
    }

    fn write_sets() -> impl Strategy<Value = Vec<WriteSet>> {
        // Few distinct keys, so that blocks overwrite, extend and split each
        // other's leaves; a deletion now and then forces the other path.
        let key = prop::collection::vec(0u8..24, 1..3);
        let value = prop::option::weighted(0.9, prop::collection::vec(any::<u8>(), 0..4));
        let block = prop::collection::btree_map(key, value, 0..40);
        prop::collection::vec(block, 1..8).prop_map(|blocks| {
            blocks
                .into_iter()
                .map(|b: BTreeMap<Vec<u8>, Option<Vec<u8>>>| b.into_iter().collect())
                .collect()
        })
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(96))]
        /// The batch path must build exactly the tree, nodes and values of
        /// the reference path: every node stores what it computes.
        #[test]
        fn batched_updates_equal_one_key_at_a_time(sets in write_sets()) {
            let store = Store::in_memory().unwrap();
            let snapshot = store.snapshot().unwrap();
            let mut pendings: Vec<Pending> = Vec::new();
            for (height, writes) in sets.into_iter().enumerate() {
                let height = height as u64;
                let ancestors: Vec<&Pending> = pendings.iter().collect();
                let reference = one_by_one(&snapshot.layered(&ancestors), height, &writes);
                let pending = store.prepare(&snapshot, &ancestors, height, writes).unwrap();
                prop_assert_eq!(pending.root, reference.0);
                prop_assert_eq!(&pending.batch, &reference.1);
                pendings.push(pending);
            }
        }
    }
}
