//! The redb-backed Jellyfish Merkle store.

use std::path::Path;
use std::sync::Arc;

use jmt::storage::{LeafNode, Node, NodeBatch, NodeKey, TreeReader};
use jmt::{KeyHash, OwnedValue, Version};
use redb::{
    Database, ReadOnlyTable, ReadTransaction, ReadableDatabase, ReadableTable, TableDefinition,
};
use salus_types::{Block, Hash, Receipt};

use crate::archive;
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

/// The persistent store. Cheap to clone; all clones share one database.
#[derive(Clone)]
pub struct Store {
    db: Arc<Database>,
}

/// A consistent read-only view of the committed state at the moment it was taken.
pub struct Snapshot {
    height: Option<u64>,
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
    /// Opens (or creates) the store at `path`.
    pub fn open(path: &Path) -> Result<Store, StateError> {
        Store::init(Database::create(path)?)
    }

    /// A store in memory: for simulations, where "durable" means surviving a
    /// simulated crash of the node that owns it, not of the process.
    pub fn in_memory() -> Result<Store, StateError> {
        let db = Database::builder().create_with_backend(redb::backends::InMemoryBackend::new())?;
        Store::init(db)
    }

    fn init(db: Database) -> Result<Store, StateError> {
        let txn = db.begin_write()?;
        {
            txn.open_table(JMT_NODES)?;
            txn.open_table(JMT_VALUES)?;
            txn.open_table(LATEST)?;
            txn.open_table(META)?;
            archive::create_tables(&txn)?;
        }
        txn.commit()?;
        Ok(Store { db: Arc::new(db) })
    }

    pub fn snapshot(&self) -> Result<Snapshot, StateError> {
        let txn = self.db.begin_read()?;
        let meta = txn.open_table(META)?;
        let height = meta.get(META_HEIGHT)?.map(|v| v.value());
        Ok(Snapshot {
            height,
            latest: txn.open_table(LATEST)?,
            nodes: txn.open_table(JMT_NODES)?,
            values: txn.open_table(JMT_VALUES)?,
            txn,
        })
    }

    /// The height of the newest committed block, if any.
    pub fn committed_height(&self) -> Result<Option<u64>, StateError> {
        Ok(self.snapshot()?.height)
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

    /// Writes a finalized block: its state, its receipts and its indexes, in one
    /// atomic, durable transaction.
    pub fn commit(
        &self,
        pending: &Pending,
        block: &Block,
        receipts: &[Receipt],
    ) -> Result<(), StateError> {
        assert_eq!(
            block.header.height, pending.height,
            "block and state heights differ"
        );
        assert_eq!(
            block.header.state_root, pending.root,
            "block claims another state root"
        );
        assert_eq!(
            receipts.len(),
            block.txs.len(),
            "one receipt per transaction"
        );
        let txn = self.db.begin_write()?;
        {
            let mut meta = txn.open_table(META)?;
            let committed = meta.get(META_HEIGHT)?.map(|v| v.value());
            if committed.map_or(0, |h| h + 1) != pending.height {
                return Err(StateError::OutOfOrder {
                    actual: pending.height,
                    expected_parent: committed,
                });
            }
            meta.insert(META_HEIGHT, pending.height)?;

            let mut nodes = txn.open_table(JMT_NODES)?;
            for (key, node) in pending.batch.nodes() {
                nodes.insert(encode(key).as_slice(), encode(node).as_slice())?;
            }
            let mut values = txn.open_table(JMT_VALUES)?;
            for ((version, hash), value) in pending.batch.values() {
                values.insert(
                    value_key(hash, *version).as_slice(),
                    tagged(value.as_deref()).as_slice(),
                )?;
            }
            let mut latest = txn.open_table(LATEST)?;
            for (key, value) in &pending.writes {
                match value {
                    Some(v) => latest.insert(key.as_slice(), v.as_slice())?,
                    None => latest.remove(key.as_slice())?,
                };
            }
        }
        archive::write_block(&txn, block, receipts)?;
        txn.commit()?;
        Ok(())
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
        let mut out = Vec::new();
        for entry in self.latest.range::<&[u8]>((start, Bound::Unbounded))? {
            if out.len() >= limit {
                break;
            }
            let (key, value) = entry?;
            if !key.value().starts_with(prefix) {
                break;
            }
            out.push((key.value().to_vec(), value.value().to_vec()));
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
        for pending in self.ancestors.iter().rev() {
            if let Some(node) = pending.batch.get_node(node_key) {
                return Ok(Some(node.clone()));
            }
        }
        match self.snapshot.nodes.get(encode(node_key).as_slice())? {
            Some(bytes) => Ok(Some(borsh::from_slice(bytes.value())?)),
            None => Ok(None),
        }
    }

    fn get_value_option(
        &self,
        max_version: Version,
        key_hash: KeyHash,
    ) -> anyhow::Result<Option<OwnedValue>> {
        for pending in self.ancestors.iter().rev() {
            if pending.height <= max_version {
                if let Some(value) = pending.batch.values().get(&(pending.height, key_hash)) {
                    return Ok(value.clone());
                }
            }
        }
        let low = value_key(&key_hash, 0);
        let high = value_key(&key_hash, max_version);
        let newest = self
            .snapshot
            .values
            .range(low.as_slice()..=high.as_slice())?
            .next_back();
        match newest {
            Some(entry) => untagged(entry?.1.value()),
            None => Ok(None),
        }
    }

    fn get_rightmost_leaf(&self) -> anyhow::Result<Option<(NodeKey, LeafNode)>> {
        // Only tree restoration (not used by Salus) needs this.
        anyhow::bail!("get_rightmost_leaf is not supported")
    }
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
