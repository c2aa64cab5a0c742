//! The redb-backed Jellyfish Merkle store.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::{Arc, Mutex, MutexGuard};

use jmt::storage::{LeafNode, Node, NodeBatch, NodeKey, TreeReader};
use jmt::{KeyHash, OwnedValue, Version};
use redb::{
    Database, ReadOnlyTable, ReadTransaction, ReadableDatabase, ReadableTable, TableDefinition,
    WriteTransaction,
};
use salus_types::{Block, Hash, Receipt};

use crate::archive;
use crate::buffer::{self, Buffer, Layer};
use crate::overlay::{Entry, StateRead, StateScan, WriteSet};
use crate::proof::{key_hash, StateProof};
use crate::StateError;

/// borsh(NodeKey) → borsh(Node).
const JMT_NODES: TableDefinition<&[u8], &[u8]> = TableDefinition::new("jmt_nodes");
/// key hash ‖ version (big-endian) → tag byte (1 present, 0 deleted) ‖ value.
const JMT_VALUES: TableDefinition<&[u8], &[u8]> = TableDefinition::new("jmt_values");
/// state key → latest committed value.
const LATEST: TableDefinition<&[u8], &[u8]> = TableDefinition::new("latest");
const META: TableDefinition<&str, u64> = TableDefinition::new("meta");
const META_HEIGHT: &str = "height";

/// The persistent store. Cheap to clone; all clones share one database and
/// one buffer of finalized blocks not yet flushed to it.
#[derive(Clone)]
pub struct Store {
    db: Arc<Database>,
    /// The write-ahead log of committed blocks not yet flushed to `db`.
    journal: Arc<Database>,
    buffer: Arc<Mutex<Buffer>>,
    /// Held for a whole flush: one writer at a time.
    flushing: Arc<Mutex<()>>,
}

/// A consistent read-only view of the finalized state at the moment it was
/// taken: the flushed tables with the buffered blocks above them laid over.
pub struct Snapshot {
    height: Option<u64>,
    /// Buffered blocks above the flushed tables' height, oldest first.
    layers: Vec<Arc<Layer>>,
    latest: ReadOnlyTable<&'static [u8], &'static [u8]>,
    nodes: ReadOnlyTable<&'static [u8], &'static [u8]>,
    values: ReadOnlyTable<&'static [u8], &'static [u8]>,
    // Kept so the tables above stay on one snapshot; also reused by archive reads.
    txn: ReadTransaction,
}

/// A block's effect on state, computed but not yet committed.
#[derive(Debug, Clone)]
pub struct Pending {
    pub height: u64,
    pub root: Hash,
    pub writes: WriteSet,
    batch: NodeBatch,
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
        let memory =
            || Database::builder().create_with_backend(redb::backends::InMemoryBackend::new());
        Store::init(memory()?, memory()?)
    }

    fn init(db: Database, journal: Database) -> Result<Store, StateError> {
        let txn = db.begin_write()?;
        let (flushed, journaled) = {
            txn.open_table(JMT_NODES)?;
            txn.open_table(JMT_VALUES)?;
            txn.open_table(LATEST)?;
            archive::create_tables(&txn)?;
            let journaled = buffer::create_journal(&journal)?;
            let meta = txn.open_table(META)?;
            let flushed = meta.get(META_HEIGHT)?.map(|v| v.value());
            (flushed, journaled.max(flushed))
        };
        txn.commit()?;
        Ok(Store {
            db: Arc::new(db),
            journal: Arc::new(journal),
            buffer: Arc::new(Mutex::new(Buffer {
                flushed,
                journaled,
                layers: Vec::new(),
            })),
            flushing: Arc::new(Mutex::new(())),
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
            values: txn.open_table(JMT_VALUES)?,
            txn,
        })
    }

    /// The height of the newest committed block, buffered or flushed.
    pub fn committed_height(&self) -> Result<Option<u64>, StateError> {
        Ok(self.buffer().newest())
    }

    /// The height of the newest block written to the state and archive
    /// tables. Blocks above it are in memory and in the journal.
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
        let journaled = {
            let buffer = self.buffer();
            follows(&buffer)?;
            buffer.journaled >= Some(height)
        };
        // Outside the buffer lock: readers need not wait for the disk.
        if !journaled {
            buffer::journal(&self.journal, &layer.block)?;
        }
        let mut buffer = self.buffer();
        follows(&buffer)?;
        buffer.journaled = buffer.journaled.max(Some(height));
        buffer.layers.push(Arc::new(layer));
        Ok(())
    }

    /// Writes every buffered block to the state and archive tables, in one
    /// atomic, durable transaction, then drops them from the journal.
    pub fn flush(&self) -> Result<(), StateError> {
        let _writer = self.flushing.lock().expect("flush lock poisoned");
        let layers = self.buffer().layers.clone();
        let (Some(first), Some(last)) = (layers.first(), layers.last()) else {
            return Ok(());
        };
        let txn = self.db.begin_write()?;
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
            write_state(&txn, &layers)?;
        }
        archive::write_blocks(&txn, &layers)?;
        txn.commit()?;
        self.buffer().flushed(last.height());
        // A crash before this leaves stale entries, which reads skip and the
        // next flush deletes.
        buffer::trim_journal(&self.journal, last.height())
    }

    /// Drops the buffered blocks from memory, as a crash would (they stay in
    /// the journal). Simulations call this when they restart a node on the
    /// same in-memory store.
    pub fn discard_buffered(&self) {
        let _writer = self.flushing.lock().expect("flush lock poisoned");
        self.buffer().layers.clear();
    }

    /// The value of `key` at committed `height`, with a proof against that
    /// height's state root.
    pub fn get_with_proof(
        &self,
        key: &[u8],
        height: u64,
    ) -> Result<(Option<Vec<u8>>, StateProof), StateError> {
        let snapshot = self.snapshot()?;
        snapshot.check_height(height)?;
        let view = LayeredView {
            snapshot: &snapshot,
            ancestors: &[],
        };
        let (value, proof) = jmt::Sha256Jmt::new(&view)
            .get_with_proof(key_hash(key), height)
            .map_err(|e| StateError::Tree(e.to_string()))?;
        Ok((value, StateProof::from_jmt(&proof)))
    }

    /// The state root at committed `height`.
    pub fn root(&self, height: u64) -> Result<Hash, StateError> {
        let snapshot = self.snapshot()?;
        snapshot.check_height(height)?;
        let view = LayeredView {
            snapshot: &snapshot,
            ancestors: &[],
        };
        let root = jmt::Sha256Jmt::new(&view)
            .get_root_hash(height)
            .map_err(|e| StateError::Tree(e.to_string()))?;
        Ok(Hash(root.0))
    }
}

impl Snapshot {
    pub fn height(&self) -> Option<u64> {
        self.height
    }

    pub(crate) fn txn(&self) -> &ReadTransaction {
        &self.txn
    }

    /// The buffered blocks this snapshot lays over the flushed tables.
    pub(crate) fn layers(&self) -> &[Arc<Layer>] {
        &self.layers
    }

    pub(crate) fn layer_at(&self, height: u64) -> Option<&Layer> {
        let first = self.layers.first()?.height();
        let layer = self
            .layers
            .get(usize::try_from(height.checked_sub(first)?).ok()?)?;
        assert_eq!(layer.height(), height, "buffered blocks are consecutive");
        Some(layer)
    }

    fn node(&self, node_key: &NodeKey) -> anyhow::Result<Option<Node>> {
        // A node's version is the height of the block that wrote it.
        if let Some(layer) = self.layer_at(node_key.version()) {
            return Ok(layer.state.batch.get_node(node_key).cloned());
        }
        match self.nodes.get(encode(node_key).as_slice())? {
            Some(bytes) => Ok(Some(borsh::from_slice(bytes.value())?)),
            None => Ok(None),
        }
    }

    /// The value of `key_hash` at the newest version up to `max_version`.
    fn value_at(
        &self,
        max_version: Version,
        key_hash: KeyHash,
    ) -> anyhow::Result<Option<OwnedValue>> {
        if let Some(value) =
            newest_pending_value(self.layers.iter().map(|l| &*l.state), max_version, key_hash)
        {
            return Ok(value.clone());
        }
        let low = value_key(&key_hash, 0);
        let high = value_key(&key_hash, max_version);
        let newest = self
            .values
            .range(low.as_slice()..=high.as_slice())?
            .next_back();
        match newest {
            Some(entry) => untagged(entry?.1.value()),
            None => Ok(None),
        }
    }

    fn check_height(&self, height: u64) -> Result<(), StateError> {
        match self.height {
            Some(latest) if height <= latest => Ok(()),
            latest => Err(StateError::UnknownHeight {
                requested: height,
                latest,
            }),
        }
    }

    /// A read view of this snapshot with uncommitted ancestors (oldest first)
    /// laid over it.
    pub fn layered<'a>(&'a self, ancestors: &'a [&'a Pending]) -> LayeredView<'a> {
        LayeredView {
            snapshot: self,
            ancestors,
        }
    }
}

impl StateRead for Snapshot {
    fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>, StateError> {
        for layer in self.layers.iter().rev() {
            if let Some(value) = layer.state.writes.get(key) {
                return Ok(value.clone());
            }
        }
        Ok(self.latest.get(key)?.map(|v| v.value().to_vec()))
    }
}

impl StateScan for Snapshot {
    fn scan_prefix(
        &self,
        prefix: &[u8],
        after: Option<&[u8]>,
        limit: usize,
    ) -> Result<Vec<Entry>, StateError> {
        use std::ops::Bound;
        let start = match after {
            Some(a) => Bound::Excluded(a),
            None => Bound::Included(prefix),
        };
        // The newest buffered write of each key in range; `None` deletes.
        let mut buffered: BTreeMap<&[u8], Option<&[u8]>> = BTreeMap::new();
        for layer in &self.layers {
            let writes = layer
                .state
                .writes
                .range::<[u8], _>((start, Bound::Unbounded))
                .take_while(|(key, _)| key.starts_with(prefix));
            for (key, value) in writes {
                buffered.insert(key, value.as_deref());
            }
        }
        let mut buffered = buffered.into_iter().peekable();
        let mut flushed = self
            .latest
            .range::<&[u8]>((start, Bound::Unbounded))?
            .peekable();
        let mut out = Vec::new();
        while out.len() < limit {
            use std::cmp::Ordering;
            let buffered_key = buffered.peek().map(|(key, _)| *key);
            let flushed_key = match flushed.peek() {
                Some(Ok((key, _))) => Some(key.value()).filter(|k| k.starts_with(prefix)),
                None => None,
                // Taken below, to return it.
                Some(Err(_)) => Some(prefix),
            };
            let order = match (buffered_key, flushed_key) {
                (None, None) => break,
                (Some(_), None) => Ordering::Less,
                (None, Some(_)) => Ordering::Greater,
                (Some(b), Some(d)) => b.cmp(d),
            };
            if order != Ordering::Less {
                let (key, value) = flushed.next().expect("peeked")?;
                if order == Ordering::Greater {
                    out.push((key.value().to_vec(), value.value().to_vec()));
                    continue;
                }
                // Equal: the buffered write replaces the flushed value.
            }
            let (key, value) = buffered.next().expect("peeked");
            if let Some(value) = value {
                out.push((key.to_vec(), value.to_vec()));
            }
        }
        Ok(out)
    }
}

/// Committed state with pending blocks laid over it, newest last.
pub struct LayeredView<'a> {
    snapshot: &'a Snapshot,
    ancestors: &'a [&'a Pending],
}

impl StateRead for LayeredView<'_> {
    fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>, StateError> {
        for pending in self.ancestors.iter().rev() {
            if let Some(value) = pending.writes.get(key) {
                return Ok(value.clone());
            }
        }
        self.snapshot.get(key)
    }
}

impl TreeReader for LayeredView<'_> {
    fn get_node_option(&self, node_key: &NodeKey) -> anyhow::Result<Option<Node>> {
        // A node's version is the height of the block that wrote it.
        let version = node_key.version();
        match self.ancestors.iter().find(|p| p.height == version) {
            Some(pending) => Ok(pending.batch.get_node(node_key).cloned()),
            None => self.snapshot.node(node_key),
        }
    }

    fn get_value_option(
        &self,
        max_version: Version,
        key_hash: KeyHash,
    ) -> anyhow::Result<Option<OwnedValue>> {
        let ancestors = self.ancestors.iter().copied();
        match newest_pending_value(ancestors, max_version, key_hash) {
            Some(value) => Ok(value.clone()),
            None => self.snapshot.value_at(max_version, key_hash),
        }
    }

    fn get_rightmost_leaf(&self) -> anyhow::Result<Option<(NodeKey, LeafNode)>> {
        // Only tree restoration (not used by Salus) needs this.
        anyhow::bail!("get_rightmost_leaf is not supported")
    }
}

/// The value `key_hash` has in the newest of `pendings` (oldest first) at or
/// below `max_version` that sets it.
fn newest_pending_value<'a>(
    pendings: impl DoubleEndedIterator<Item = &'a Pending>,
    max_version: Version,
    key_hash: KeyHash,
) -> Option<&'a Option<OwnedValue>> {
    pendings
        .rev()
        .filter(|p| p.height <= max_version)
        .find_map(|p| p.batch.values().get(&(p.height, key_hash)))
}

/// Writes the state of buffered blocks (oldest first): their tree nodes and
/// versioned values, and the latest value of every key they touched.
fn write_state(txn: &WriteTransaction, layers: &[Arc<Layer>]) -> Result<(), StateError> {
    let mut nodes: Vec<(Vec<u8>, Vec<u8>)> = layers
        .iter()
        .flat_map(|l| l.state.batch.nodes())
        .map(|(key, node)| (encode(key), encode(node)))
        .collect();
    nodes.sort_unstable();
    let mut node_table = txn.open_table(JMT_NODES)?;
    for (key, node) in nodes {
        node_table.insert(key.as_slice(), node.as_slice())?;
    }
    let mut values: Vec<([u8; 40], Vec<u8>)> = layers
        .iter()
        .flat_map(|l| l.state.batch.values())
        .map(|((version, hash), value)| (value_key(hash, *version), tagged(value.as_deref())))
        .collect();
    values.sort_unstable();
    let mut value_table = txn.open_table(JMT_VALUES)?;
    for (key, value) in values {
        value_table.insert(key.as_slice(), value.as_slice())?;
    }
    let mut latest: BTreeMap<&[u8], Option<&[u8]>> = BTreeMap::new();
    for layer in layers {
        for (key, value) in &layer.state.writes {
            latest.insert(key, value.as_deref());
        }
    }
    let mut latest_table = txn.open_table(LATEST)?;
    for (key, value) in latest {
        match value {
            Some(v) => latest_table.insert(key, v)?,
            None => latest_table.remove(key)?,
        };
    }
    Ok(())
}

/// Computes the tree after `writes` at `height` over `reader`, without writing.
fn apply<R: TreeReader>(reader: &R, height: u64, writes: WriteSet) -> Result<Pending, StateError> {
    let values: Vec<(KeyHash, Option<OwnedValue>)> = writes
        .iter()
        .map(|(key, value)| (key_hash(key), value.clone()))
        .collect();
    let (root, update) = jmt::Sha256Jmt::new(reader)
        .put_value_set(values, height)
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

fn encode<T: borsh::BorshSerialize>(value: &T) -> Vec<u8> {
    borsh::to_vec(value).expect("borsh encoding into a Vec cannot fail")
}

fn value_key(hash: &KeyHash, version: Version) -> [u8; 40] {
    let mut key = [0u8; 40];
    key[..32].copy_from_slice(&hash.0);
    key[32..].copy_from_slice(&version.to_be_bytes());
    key
}

fn tagged(value: Option<&[u8]>) -> Vec<u8> {
    match value {
        Some(v) => {
            let mut out = Vec::with_capacity(v.len() + 1);
            out.push(1);
            out.extend_from_slice(v);
            out
        }
        None => vec![0],
    }
}

fn untagged(bytes: &[u8]) -> anyhow::Result<Option<OwnedValue>> {
    match bytes.split_first() {
        Some((1, value)) => Ok(Some(value.to_vec())),
        Some((0, [])) => Ok(None),
        _ => anyhow::bail!("corrupt value entry"),
    }
}
