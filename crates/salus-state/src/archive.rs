//! Finalized blocks, receipts and the indexes the API serves, written in the same
//! transaction as the state they produced, and read through the buffer of
//! blocks not yet flushed.

use std::sync::Arc;

use redb::{TableDefinition, WriteTransaction};
use salus_types::{AccountId, Block, Event, Hash, Receipt};

use crate::buffer::Layer;
use crate::snapshot::Snapshot;
use crate::store::Store;
use crate::StateError;

const BLOCKS: TableDefinition<u64, &[u8]> = TableDefinition::new("blocks");
const BLOCK_HEIGHTS: TableDefinition<&[u8], u64> = TableDefinition::new("block_heights");
/// tx hash → (height, index in block).
const TX_LOCATIONS: TableDefinition<&[u8], (u64, u32)> = TableDefinition::new("tx_locations");
const RECEIPTS: TableDefinition<(u64, u32), &[u8]> = TableDefinition::new("receipts");
/// account ‖ height ‖ tx index ‖ event index → ().
const ACCOUNT_EVENTS: TableDefinition<&[u8], ()> = TableDefinition::new("account_events");

pub(crate) fn create_tables(txn: &WriteTransaction) -> Result<(), StateError> {
    txn.open_table(BLOCKS)?;
    txn.open_table(BLOCK_HEIGHTS)?;
    txn.open_table(TX_LOCATIONS)?;
    txn.open_table(RECEIPTS)?;
    txn.open_table(ACCOUNT_EVENTS)?;
    Ok(())
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
    // The hash and account indexes are keyed at random: inserting every
    // block's entries in key order walks each B-tree once, left to right.
    let mut locations: Vec<(Hash, u64, u32)> = layers
        .iter()
        .flat_map(|l| l.index.locations.iter().map(|(h, i)| (*h, l.height(), *i)))
        .collect();
    locations.sort_unstable();
    let mut location_table = txn.open_table(TX_LOCATIONS)?;
    for (hash, height, index) in locations {
        location_table.insert(hash.as_bytes(), (height, index))?;
    }
    let mut events: Vec<&[u8; 36]> = layers.iter().flat_map(|l| &l.index.events).collect();
    events.sort_unstable();
    let mut account_events = txn.open_table(ACCOUNT_EVENTS)?;
    for key in events {
        account_events.insert(key.as_slice(), ())?;
    }
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

/// A position in an account's events, for paging back: listing continues
/// strictly before it. A bare height `h` stands for `h.0.0`: everything
/// below height `h`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct EventCursor {
    pub height: u64,
    pub tx_index: u32,
    pub event_index: u32,
}

impl EventCursor {
    /// The cursor after which the next page of `record` starts.
    pub fn of(record: &EventRecord) -> EventCursor {
        EventCursor {
            height: record.height,
            tx_index: record.tx_index,
            event_index: record.event_index,
        }
    }
}

impl std::fmt::Display for EventCursor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}.{}.{}", self.height, self.tx_index, self.event_index)
    }
}

impl std::str::FromStr for EventCursor {
    type Err = String;
    /// `height` or `height.tx.event`.
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let bad = || format!("`{text}` is not a cursor (a height, or height.tx.event)");
        let mut parts = text.split('.');
        let height = parts.next().and_then(|p| p.parse().ok()).ok_or_else(bad)?;
        let (tx_index, event_index) = match (parts.next(), parts.next(), parts.next()) {
            (None, None, None) => (0, 0),
            (Some(t), Some(e), None) => {
                (t.parse().map_err(|_| bad())?, e.parse().map_err(|_| bad())?)
            }
            _ => return Err(bad()),
        };
        Ok(EventCursor {
            height,
            tx_index,
            event_index,
        })
    }
}

/// Where an event sits in the chain.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct EventRecord {
    pub height: u64,
    pub tx_index: u32,
    pub event_index: u32,
    pub tx_hash: Hash,
    pub event: Event,
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
        let table = self.txn().open_table(TX_LOCATIONS)?;
        Ok(table.get(tx_hash.as_bytes())?.map(|v| v.value()))
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
        let table = self.txn().open_table(ACCOUNT_EVENTS)?;
        let high = match &high {
            Bound::Excluded(k) => Bound::Excluded(k.as_slice()),
            Bound::Included(k) => Bound::Included(k.as_slice()),
            Bound::Unbounded => Bound::Unbounded,
        };
        let flushed = table
            .range::<&[u8]>((Bound::Included(low.as_slice()), high))?
            .rev()
            .map(|entry| -> Result<[u8; 36], StateError> {
                let (key, _) = entry?;
                key.value()
                    .try_into()
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
