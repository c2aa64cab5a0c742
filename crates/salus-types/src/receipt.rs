//! Receipts: what executing a transaction did. [`Event`] is derived from the
//! module registry.

use borsh::{BorshDeserialize, BorshSerialize};
use salus_crypto::Hash;
use serde::{Deserialize, Serialize};

use crate::{ErrorCode, Event};

/// The outcome of one included transaction. A failed transaction is included
/// too: its nonce is consumed, its actions are rolled back, and `code` says why.
#[derive(Debug, Clone, PartialEq, Eq, BorshSerialize, BorshDeserialize, Serialize, Deserialize)]
pub struct Receipt {
    pub tx_hash: Hash,
    pub height: u64,
    pub index: u32,
    pub code: ErrorCode,
    /// Human-readable reason; empty on success. Never holds health data.
    pub message: String,
    /// Index of the failing action, if any.
    pub failed_action: Option<u32>,
    pub events: Vec<Event>,
}

impl Receipt {
    pub fn succeeded(&self) -> bool {
        self.code == ErrorCode::Ok
    }

    /// The receipt of a block's own work after its transactions (deadlines,
    /// expiries, settlements): it follows the transactions' receipts, at
    /// `index` = their count, under a hash no transaction can have.
    pub fn end_of_block(height: u64, index: u32, events: Vec<Event>) -> Receipt {
        Receipt {
            tx_hash: Receipt::end_of_block_hash(height),
            height,
            index,
            code: ErrorCode::Ok,
            message: String::new(),
            failed_action: None,
            events,
        }
    }

    /// What stands for a transaction hash in block `height`'s own receipt.
    pub fn end_of_block_hash(height: u64) -> Hash {
        salus_crypto::sha256("salus/end-of-block/v1", &height.to_be_bytes())
    }

    pub fn is_end_of_block(&self) -> bool {
        self.tx_hash == Receipt::end_of_block_hash(self.height)
    }
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
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EventRecord {
    pub height: u64,
    pub tx_index: u32,
    pub event_index: u32,
    pub tx_hash: Hash,
    pub event: Event,
}
