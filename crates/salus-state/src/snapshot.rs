//! Reads of finalized state: a [`Snapshot`] of the flushed tables with the
//! buffered blocks laid over them, and a [`LayeredView`] that stacks pending
//! (not yet final) blocks on top of that.

use std::collections::BTreeMap;
use std::sync::Arc;

use jmt::storage::{LeafNode, Node, NodeKey, TreeReader};
use jmt::{KeyHash, OwnedValue, Version};
use redb::{ReadOnlyTable, ReadTransaction};

use crate::buffer::Layer;
use crate::overlay::{Entry, StateRead, StateScan};
use crate::runs::RunReader;
use crate::store::Pending;
use crate::tables::{node_key_bytes, untagged, value_key};
use crate::StateError;

/// A consistent read-only view of the finalized state at the moment it was
/// taken: the flushed tables with the buffered blocks above them laid over.
pub struct Snapshot {
    pub(crate) height: Option<u64>,
    /// Buffered blocks above the flushed tables' height, oldest first.
    pub(crate) layers: Vec<Arc<Layer>>,
    pub(crate) latest: ReadOnlyTable<&'static [u8], &'static [u8]>,
    pub(crate) nodes: ReadOnlyTable<&'static [u8], &'static [u8]>,
    pub(crate) values: RunReader,
    // Kept so the tables above stay on one snapshot; also reused by archive reads.
    pub(crate) txn: ReadTransaction,
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
        crate::buffer::layer_at(&self.layers, height)
    }

    fn node(&self, node_key: &NodeKey) -> anyhow::Result<Option<Node>> {
        // A node's version is the height of the block that wrote it.
        if let Some(layer) = self.layer_at(node_key.version()) {
            return Ok(layer.state.batch.get_node(node_key).cloned());
        }
        match self.nodes.get(node_key_bytes(node_key).as_slice())? {
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
        // A run holds the versions of its own heights only.
        let low = value_key(&key_hash, 0);
        let high = value_key(&key_hash, max_version);
        let newest = self
            .values
            .descending(
                Some(max_version),
                &low,
                std::ops::Bound::Included(high.as_slice()),
            )
            .next();
        match newest {
            Some(entry) => untagged(&entry?.1),
            None => Ok(None),
        }
    }

    pub(crate) fn check_height(&self, height: u64) -> Result<(), StateError> {
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
    pub(crate) snapshot: &'a Snapshot,
    pub(crate) ancestors: &'a [&'a Pending],
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
