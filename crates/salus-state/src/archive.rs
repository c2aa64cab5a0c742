//! Finalized blocks, receipts and the indexes the API serves, written in the same
//! transaction as the state they produced, and read through the buffer of
//! blocks not yet flushed.

use std::sync::Arc;

use redb::{ReadableTable as _, TableDefinition, WriteTransaction};
use salus_types::{AccountId, Block, Event, EventCursor, EventRecord, Hash, Receipt};

use crate::buffer::Layer;
use crate::runs::RunIndex;
use crate::snapshot::Snapshot;
use crate::store::Store;
use crate::StateError;

const BLOCKS: TableDefinition<u64, &[u8]> = TableDefinition::new("blocks");
const BLOCK_HEIGHTS: TableDefinition<&[u8], u64> = TableDefinition::new("block_heights");
const RECEIPTS: TableDefinition<(u64, u32), &[u8]> = TableDefinition::new("receipts");
/// tx hash → height (big-endian) ‖ index in block (big-endian), in sorted
/// runs (see [`crate::runs`]): hashes are random, and inserting them into
/// one B-tree rewrote most of it on every flush.
const TX_LOCATIONS: RunIndex = RunIndex::new("tx_location_runs", "tx_location_run_directory");
/// account ‖ height ‖ tx index ‖ event index → (), in sorted runs.
const ACCOUNT_EVENTS: RunIndex = RunIndex::new("account_event_runs", "account_event_run_directory");
/// The single-table layouts before the runs; a store that has them is moved
/// to the runs when opened.
const TX_LOCATIONS_UNSORTED: TableDefinition<&[u8], (u64, u32)> =
    TableDefinition::new("tx_locations");
const ACCOUNT_EVENTS_UNSORTED: TableDefinition<&[u8], ()> = TableDefinition::new("account_events");

pub(crate) fn create_tables(txn: &WriteTransaction) -> Result<(), StateError> {
    txn.open_table(BLOCKS)?;
    txn.open_table(BLOCK_HEIGHTS)?;
    txn.open_table(RECEIPTS)?;
    TX_LOCATIONS.create(txn)?;
    ACCOUNT_EVENTS.create(txn)?;
    migrate_indexes(txn)
}

/// Moves the indexes of a store written before the runs into one run each,
/// covering every height up to the newest block.
fn migrate_indexes(txn: &WriteTransaction) -> Result<(), StateError> {
    let newest = txn.open_table(BLOCKS)?.last()?.map(|(h, _)| h.value());
    TX_LOCATIONS.adopt(txn, TX_LOCATIONS_UNSORTED, newest, |(height, index)| {
        location_bytes(height, index).to_vec()
    })?;
    ACCOUNT_EVENTS.adopt(txn, ACCOUNT_EVENTS_UNSORTED, newest, |()| Vec::new())
}

fn location_bytes(height: u64, index: u32) -> [u8; 12] {
    let mut out = [0u8; 12];
    out[..8].copy_from_slice(&height.to_be_bytes());
    out[8..].copy_from_slice(&index.to_be_bytes());
    out
}

/// The hash and account index entries of one block, each sorted by key.
#[derive(Debug)]
pub(crate) struct BlockIndex {
    /// (tx hash, index in block), by hash.
    locations: Vec<(Hash, u32)>,
    /// `event_key`s.
    events: Vec<[u8; 36]>,
}

impl BlockIndex {
    pub(crate) fn of(height: u64, receipts: &[Receipt]) -> BlockIndex {
        let mut locations = Vec::with_capacity(receipts.len());
        let mut events = Vec::new();
        for (index, receipt) in receipts.iter().enumerate() {
            let index = u32::try_from(index).expect("block tx count fits u32");
            locations.push((receipt.tx_hash, index));
            for (event_index, event) in receipt.events.iter().enumerate() {
                let event_index = u32::try_from(event_index).expect("event count fits u32");
                let mut accounts = event.accounts();
                accounts.sort();
                accounts.dedup();
                events.extend(
                    accounts
                        .iter()
                        .map(|account| event_key(account, height, index, event_index)),
                );
            }
        }
        locations.sort_unstable();
        events.sort_unstable();
        BlockIndex { locations, events }
    }

    /// The event keys from `low` up to `high`.
    fn events_between(&self, low: &[u8; 36], high: std::ops::Bound<&[u8; 36]>) -> &[[u8; 36]] {
        use std::ops::Bound;
        let start = self.events.partition_point(|key| key < low);
        let end = match high {
            Bound::Included(high) => self.events.partition_point(|key| key <= high),
            Bound::Excluded(high) => self.events.partition_point(|key| key < high),
            Bound::Unbounded => self.events.len(),
        };
        &self.events[start..end.max(start)]
    }

    fn location(&self, tx_hash: &Hash) -> Option<u32> {
        self.locations
            .binary_search_by(|(hash, _)| hash.cmp(tx_hash))
            .ok()
            .map(|at| self.locations[at].1)
    }
}

/// Writes buffered blocks (oldest first) with their receipts and indexes.
pub(crate) fn write_blocks(
    txn: &WriteTransaction,
    layers: &[Arc<Layer>],
) -> Result<(), StateError> {
    let mut blocks = txn.open_table(BLOCKS)?;
    let mut heights = txn.open_table(BLOCK_HEIGHTS)?;
    let mut receipt_table = txn.open_table(RECEIPTS)?;
    for layer in layers {
        let height = layer.height();
        blocks.insert(height, layer.block.encode().as_slice())?;
        heights.insert(layer.digest.as_bytes(), height)?;
        for (index, receipt) in layer.receipts.iter().enumerate() {
            let index = u32::try_from(index).expect("block tx count fits u32");
            receipt_table.insert((height, index), borsh::to_vec(receipt)?.as_slice())?;
        }
    }
    let (Some(first), Some(last)) = (layers.first(), layers.last()) else {
        return Ok(());
    };
    let (first, last) = (first.height(), last.height());
    let mut locations: Vec<(Hash, u64, u32)> = layers
        .iter()
        .flat_map(|l| l.index.locations.iter().map(|(h, i)| (*h, l.height(), *i)))
        .collect();
    locations.sort_unstable();
    let locations: Vec<(Hash, [u8; 12])> = locations
        .into_iter()
        .map(|(hash, height, index)| (hash, location_bytes(height, index)))
        .collect();
    TX_LOCATIONS.append(
        txn,
        first,
        last,
        locations.iter().map(|(h, l)| (h.as_bytes(), l.as_slice())),
    )?;
    let mut events: Vec<&[u8; 36]> = layers.iter().flat_map(|l| &l.index.events).collect();
    events.sort_unstable();
    ACCOUNT_EVENTS.append(
        txn,
        first,
        last,
        events.into_iter().map(|key| (key.as_slice(), &[][..])),
    )?;
    Ok(())
}

fn event_key(account: &AccountId, height: u64, tx: u32, event: u32) -> [u8; 36] {
    let mut key = [0u8; 36];
    key[..20].copy_from_slice(&account.0);
    key[20..28].copy_from_slice(&height.to_be_bytes());
    key[28..32].copy_from_slice(&tx.to_be_bytes());
    key[32..].copy_from_slice(&event.to_be_bytes());
    key
}

impl From<borsh::io::Error> for StateError {
    fn from(e: borsh::io::Error) -> Self {
        StateError::Corrupt(e.to_string())
    }
}

impl Snapshot {
    pub fn block(&self, height: u64) -> Result<Option<Block>, StateError> {
        if let Some(layer) = self.layer_at(height) {
            return Ok(Some(layer.block.clone()));
        }
        let table = self.txn().open_table(BLOCKS)?;
        match table.get(height)? {
            Some(bytes) => Block::decode(bytes.value())
                .map(Some)
                .map_err(|e| StateError::Corrupt(e.to_string())),
            None => Ok(None),
        }
    }

    pub fn height_of_block(&self, digest: &Hash) -> Result<Option<u64>, StateError> {
        if let Some(layer) = self.layers().iter().find(|l| l.digest == *digest) {
            return Ok(Some(layer.height()));
        }
        let table = self.txn().open_table(BLOCK_HEIGHTS)?;
        Ok(table.get(digest.as_bytes())?.map(|v| v.value()))
    }

    pub fn tx_location(&self, tx_hash: &Hash) -> Result<Option<(u64, u32)>, StateError> {
        for layer in self.layers() {
            if let Some(index) = layer.index.location(tx_hash) {
                return Ok(Some((layer.height(), index)));
            }
        }
        let location = TX_LOCATIONS.reader(self.txn())?.get(tx_hash.as_bytes())?;
        location
            .map(|bytes| {
                let bytes: [u8; 12] = bytes
                    .try_into()
                    .map_err(|_| StateError::Corrupt("a tx location is not 12 bytes".into()))?;
                let height = u64::from_be_bytes(bytes[..8].try_into().expect("8 bytes"));
                let index = u32::from_be_bytes(bytes[8..].try_into().expect("4 bytes"));
                Ok((height, index))
            })
            .transpose()
    }

    pub fn receipt(&self, height: u64, index: u32) -> Result<Option<Receipt>, StateError> {
        if let Some(layer) = self.layer_at(height) {
            return Ok(layer.receipts.get(index as usize).cloned());
        }
        let table = self.txn().open_table(RECEIPTS)?;
        match table.get((height, index))? {
            Some(bytes) => Ok(Some(borsh::from_slice(bytes.value())?)),
            None => Ok(None),
        }
    }

    /// Events that concern `account`, newest first, strictly below `before`
    /// (a height) when given, at most `limit`.
    pub fn events_for_account(
        &self,
        account: &AccountId,
        before: Option<EventCursor>,
        limit: usize,
    ) -> Result<Vec<EventRecord>, StateError> {
        self.events_for_account_matching(account, before, limit, |_| true)
    }

    /// Like [`Snapshot::events_for_account`], keeping only events `keep` accepts.
    pub fn events_for_account_matching(
        &self,
        account: &AccountId,
        before: Option<EventCursor>,
        limit: usize,
        keep: impl Fn(&Event) -> bool,
    ) -> Result<Vec<EventRecord>, StateError> {
        use std::ops::Bound;
        let low = event_key(account, 0, 0, 0);
        let high = match before {
            Some(c) => Bound::Excluded(event_key(account, c.height, c.tx_index, c.event_index)),
            None => Bound::Included(event_key(account, u64::MAX, u32::MAX, u32::MAX)),
        };
        // Buffered blocks are all newer than the flushed ones.
        let buffered = self.layers().iter().rev().flat_map(|layer| {
            layer
                .index
                .events_between(&low, high.as_ref())
                .iter()
                .rev()
                .map(|key| Ok(*key))
        });
        // Runs are newest first, and each covers heights above the next.
        let runs = ACCOUNT_EVENTS.reader(self.txn())?;
        let flushed = runs
            .descending(
                before.map(|c| c.height),
                &low,
                high.as_ref().map(|k| k.as_slice()),
            )
            .map(|entry| -> Result<[u8; 36], StateError> {
                let (key, _) = entry?;
                key.try_into()
                    .map_err(|_| StateError::Corrupt("event index key is not 36 bytes".into()))
            });
        let mut out = Vec::new();
        // Consecutive events often share a receipt (an audit batch holds
        // hundreds): decode each receipt once.
        let mut cached: Option<((u64, u32), Receipt)> = None;
        for key in buffered.chain(flushed) {
            if out.len() >= limit {
                break;
            }
            let key = key?;
            let height = u64::from_be_bytes(key[20..28].try_into().expect("8 bytes"));
            let tx_index = u32::from_be_bytes(key[28..32].try_into().expect("4 bytes"));
            let event_index = u32::from_be_bytes(key[32..36].try_into().expect("4 bytes"));
            if cached
                .as_ref()
                .is_none_or(|(at, _)| *at != (height, tx_index))
            {
                let receipt = self.receipt(height, tx_index)?.ok_or_else(|| {
                    StateError::Corrupt(format!(
                        "event index points at missing receipt {height}/{tx_index}"
                    ))
                })?;
                cached = Some(((height, tx_index), receipt));
            }
            let receipt = &cached.as_ref().expect("just cached").1;
            let event = receipt
                .events
                .get(event_index as usize)
                .cloned()
                .ok_or_else(|| StateError::Corrupt("event index out of range".into()))?;
            if !keep(&event) {
                continue;
            }
            out.push(EventRecord {
                height,
                tx_index,
                event_index,
                tx_hash: receipt.tx_hash,
                event,
            });
        }
        Ok(out)
    }
}

impl Store {
    pub fn block(&self, height: u64) -> Result<Option<Block>, StateError> {
        self.snapshot()?.block(height)
    }
}

#[cfg(test)]
mod tests {
    use std::ops::Bound;

    use redb::{ReadableDatabase as _, TableHandle as _};

    use super::*;

    #[test]
    fn a_store_with_the_single_table_indexes_is_moved_to_runs() {
        let db = crate::store::memory_database().unwrap();
        let account = AccountId([3; 20]);
        let events = [event_key(&account, 1, 0, 0), event_key(&account, 2, 4, 1)];
        let txn = db.begin_write().unwrap();
        {
            txn.open_table(BLOCKS)
                .unwrap()
                .insert(2, &b"block"[..])
                .unwrap();
            let mut locations = txn.open_table(TX_LOCATIONS_UNSORTED).unwrap();
            locations.insert(&[5u8; 32][..], (1, 0)).unwrap();
            locations.insert(&[1u8; 32][..], (2, 4)).unwrap();
            let mut account_events = txn.open_table(ACCOUNT_EVENTS_UNSORTED).unwrap();
            for key in &events {
                account_events.insert(key.as_slice(), ()).unwrap();
            }
        }
        txn.commit().unwrap();

        let txn = db.begin_write().unwrap();
        create_tables(&txn).unwrap();
        let names: Vec<String> = txn
            .list_tables()
            .unwrap()
            .map(|t| t.name().to_owned())
            .collect();
        assert!(!names.contains(&"tx_locations".to_owned()));
        assert!(!names.contains(&"account_events".to_owned()));
        txn.commit().unwrap();

        let txn = db.begin_read().unwrap();
        let locations = TX_LOCATIONS.reader(&txn).unwrap();
        assert_eq!(
            locations.get(&[5u8; 32]).unwrap(),
            Some(location_bytes(1, 0).to_vec())
        );
        assert_eq!(
            locations.get(&[1u8; 32]).unwrap(),
            Some(location_bytes(2, 4).to_vec())
        );
        let high = event_key(&account, u64::MAX, u32::MAX, u32::MAX);
        let moved: Vec<Vec<u8>> = ACCOUNT_EVENTS
            .reader(&txn)
            .unwrap()
            .descending(
                None,
                &event_key(&account, 0, 0, 0),
                Bound::Included(&high[..]),
            )
            .map(|entry| entry.unwrap().0)
            .collect();
        assert_eq!(moved, vec![events[1].to_vec(), events[0].to_vec()]);
    }
}
