//! The redb tables that hold flushed state, their key layouts, and the write
//! of buffered blocks' state into them.

use std::collections::BTreeMap;
use std::sync::Arc;

use jmt::storage::{Node, NodeKey};
use jmt::{KeyHash, OwnedValue, Version};
use redb::{ReadableTable, TableDefinition, WriteTransaction};

use crate::buffer::Layer;
use crate::runs::RunIndex;
use crate::StateError;

/// version (big-endian) ‖ borsh(NodeKey) → borsh(Node). Leading with the
/// big-endian version makes each flush append at the end of the tree rather
/// than touch pages all over it.
pub(crate) const JMT_NODES: TableDefinition<&[u8], &[u8]> =
    TableDefinition::new("jmt_nodes_by_version");
/// The layout before: borsh(NodeKey) (little-endian version first) → borsh(Node).
/// A store that has it is moved to [`JMT_NODES`] when opened.
const JMT_NODES_UNORDERED: TableDefinition<&[u8], &[u8]> = TableDefinition::new("jmt_nodes");
/// key hash ‖ version (big-endian) → tag byte (1 present, 0 deleted) ‖ value,
/// in sorted runs (see [`crate::runs`]): key hashes are random, and a flush
/// inserting thousands of them into one B-tree rewrote most of its pages.
pub(crate) const JMT_VALUES: RunIndex = RunIndex::new("jmt_value_runs", "jmt_value_run_directory");
/// The single-table layout before the runs; moved into one run on opening.
const JMT_VALUES_UNSORTED: TableDefinition<&[u8], &[u8]> = TableDefinition::new("jmt_values");
/// state key → latest committed value.
pub(crate) const LATEST: TableDefinition<&[u8], &[u8]> = TableDefinition::new("latest");
pub(crate) const META: TableDefinition<&str, u64> = TableDefinition::new("meta");
pub(crate) const META_HEIGHT: &str = "height";

/// Writes the state of buffered blocks (oldest first, consecutive) as of the
/// newest of them: the tree nodes and values its state needs, and the latest
/// value of every key they touched.
///
/// The tables keep the state at every flushed batch's newest height, not at
/// the heights inside it. Consecutive blocks rewrite the same tree nodes
/// (those near the root, every block; a busy account's leaf, most blocks), so
/// writing only what the newest block's tree still uses cuts a flush's tree
/// writes several times over. Blocks, receipts and events stay archived for
/// every height; what is lost is a proof against an intermediate height's
/// state root, which [`crate::Store::get_with_proof`] then refuses by name.
pub(crate) fn write_state(txn: &WriteTransaction, layers: &[Arc<Layer>]) -> Result<(), StateError> {
    let mut nodes: Vec<(Vec<u8>, Vec<u8>)> = live_nodes(layers)
        .into_iter()
        .map(|(key, node)| (node_key_bytes(&key), encode(node)))
        .collect();
    nodes.sort_unstable();
    let mut node_table = txn.open_table(JMT_NODES)?;
    for (key, node) in nodes {
        node_table.insert(key.as_slice(), node.as_slice())?;
    }
    // The newest value of each key: a read at the newest height (or at any
    // later one) asks for the newest value at or below it.
    let mut newest: BTreeMap<KeyHash, (Version, Option<&[u8]>)> = BTreeMap::new();
    for ((version, hash), value) in layers.iter().flat_map(|l| l.state.batch.values()) {
        newest.insert(*hash, (*version, value.as_deref()));
    }
    let mut values: Vec<([u8; 40], Vec<u8>)> = newest
        .into_iter()
        .map(|(hash, (version, value))| (value_key(&hash, version), tagged(value)))
        .collect();
    values.sort_unstable();
    let (Some(first), Some(last)) = (layers.first(), layers.last()) else {
        return Ok(());
    };
    JMT_VALUES.append(
        txn,
        first.height(),
        last.height(),
        values.iter().map(|(k, v)| (k.as_slice(), v.as_slice())),
    )?;
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

/// The buffered tree nodes that the newest layer's tree reaches: walked down
/// from its root, into every child that a buffered block wrote. A node's
/// version is never older than its descendants' (a change rewrites the whole
/// path above it), so a child older than the first layer heads a subtree that
/// is already in the tables.
fn live_nodes(layers: &[Arc<Layer>]) -> Vec<(NodeKey, &Node)> {
    let (Some(first), Some(last)) = (layers.first(), layers.last()) else {
        return Vec::new();
    };
    let first = first.height();
    // Every block writes a root of its own version, and a root's path is the
    // shortest, so it is the first of its block's nodes.
    let root = last
        .state
        .batch
        .nodes()
        .keys()
        .next()
        .expect("every block writes its tree's root")
        .clone();
    assert!(root.nibble_path().is_empty(), "a root has the empty path");
    let mut live = Vec::new();
    let mut next = vec![root];
    while let Some(key) = next.pop() {
        let node = crate::buffer::layer_at(layers, key.version())
            .expect("a buffered tree's nodes are at buffered versions")
            .state
            .batch
            .get_node(&key)
            .expect("a buffered tree reaches only nodes its blocks wrote");
        if let Node::Internal(internal) = node {
            for (nibble, child) in internal.children_sorted() {
                if child.version >= first {
                    let path = key
                        .nibble_path()
                        .nibbles()
                        .chain(std::iter::once(nibble))
                        .collect();
                    next.push(NodeKey::new(child.version, path));
                }
            }
        }
        live.push((key, node));
    }
    live
}

/// Moves tree values from the single table, if the store has one, into one
/// run covering every version up to `flushed`.
pub(crate) fn migrate_values(
    txn: &WriteTransaction,
    flushed: Option<u64>,
) -> Result<(), StateError> {
    JMT_VALUES.adopt(txn, JMT_VALUES_UNSORTED, flushed, <[u8]>::to_vec)
}

pub(crate) fn node_key_bytes(key: &NodeKey) -> Vec<u8> {
    let mut bytes = key.version().to_be_bytes().to_vec();
    borsh::to_writer(&mut bytes, key).expect("borsh encoding into a Vec cannot fail");
    bytes
}

/// Moves tree nodes from the table keyed by borsh(NodeKey) alone, if the
/// store has one, to [`JMT_NODES`].
pub(crate) fn migrate_node_keys(txn: &WriteTransaction) -> Result<(), StateError> {
    use redb::TableHandle as _;
    let exists = txn
        .list_tables()?
        .any(|table| table.name() == JMT_NODES_UNORDERED.name());
    if !exists {
        return Ok(());
    }
    {
        let old = txn.open_table(JMT_NODES_UNORDERED)?;
        let mut new = txn.open_table(JMT_NODES)?;
        for entry in old.iter()? {
            let (key, node) = entry?;
            let node_key: NodeKey = borsh::from_slice(key.value())?;
            new.insert(node_key_bytes(&node_key).as_slice(), node.value())?;
        }
    }
    txn.delete_table(JMT_NODES_UNORDERED)?;
    Ok(())
}

fn encode<T: borsh::BorshSerialize>(value: &T) -> Vec<u8> {
    borsh::to_vec(value).expect("borsh encoding into a Vec cannot fail")
}

pub(crate) fn value_key(hash: &KeyHash, version: Version) -> [u8; 40] {
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

pub(crate) fn untagged(bytes: &[u8]) -> anyhow::Result<Option<OwnedValue>> {
    match bytes.split_first() {
        Some((1, value)) => Ok(Some(value.to_vec())),
        Some((0, [])) => Ok(None),
        _ => anyhow::bail!("corrupt value entry"),
    }
}

#[cfg(test)]
mod tests {
    use redb::ReadableDatabase as _;

    use super::*;

    #[test]
    fn a_store_with_the_single_value_table_is_moved_to_runs() {
        let db = crate::store::memory_database().unwrap();
        let key = value_key(&KeyHash([4; 32]), 3);
        let txn = db.begin_write().unwrap();
        txn.open_table(JMT_VALUES_UNSORTED)
            .unwrap()
            .insert(key.as_slice(), tagged(Some(b"v")).as_slice())
            .unwrap();
        txn.commit().unwrap();

        let txn = db.begin_write().unwrap();
        JMT_VALUES.create(&txn).unwrap();
        migrate_values(&txn, Some(5)).unwrap();
        txn.commit().unwrap();

        let txn = db.begin_read().unwrap();
        assert!(txn.open_table(JMT_VALUES_UNSORTED).is_err());
        let value = JMT_VALUES.reader(&txn).unwrap().get(&key).unwrap();
        assert_eq!(untagged(&value.unwrap()).unwrap(), Some(b"v".to_vec()));
    }
}
