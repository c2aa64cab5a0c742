//! Read views and write buffers over state.

use std::collections::BTreeMap;

use crate::StateError;

/// Writes keyed by state key; `None` deletes. A BTreeMap, so iteration order is
/// the same on every node.
pub type WriteSet = BTreeMap<Vec<u8>, Option<Vec<u8>>>;

/// Anything state can be read from.
pub trait StateRead {
    fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>, StateError>;
}

/// A key and its value.
pub type Entry = (Vec<u8>, Vec<u8>);

/// State that can also be listed by key prefix. Only committed snapshots
/// offer it: queries list, while the state machine reads single keys, so
/// execution never depends on iteration over uncommitted writes.
pub trait StateScan: StateRead {
    /// Entries whose keys start with `prefix`, in key order, strictly after
    /// `after` when given, at most `limit`.
    fn scan_prefix(
        &self,
        prefix: &[u8],
        after: Option<&[u8]>,
        limit: usize,
    ) -> Result<Vec<Entry>, StateError>;
}

/// Buffers writes over a base; reads see the buffer first. Dropping it discards
/// the writes, which is how a failed transaction rolls back.
pub struct Overlay<'a> {
    base: &'a dyn StateRead,
    writes: WriteSet,
}

impl<'a> Overlay<'a> {
    pub fn new(base: &'a dyn StateRead) -> Self {
        Overlay {
            base,
            writes: WriteSet::new(),
        }
    }

    pub fn put(&mut self, key: Vec<u8>, value: Vec<u8>) {
        self.writes.insert(key, Some(value));
    }

    pub fn delete(&mut self, key: Vec<u8>) {
        self.writes.insert(key, None);
    }

    pub fn into_writes(self) -> WriteSet {
        self.writes
    }

    pub fn writes(&self) -> &WriteSet {
        &self.writes
    }

    /// Moves `other`'s writes into this overlay (a transaction's writes into its
    /// block's).
    pub fn absorb(&mut self, other: WriteSet) {
        self.writes.extend(other);
    }
}

impl StateRead for Overlay<'_> {
    fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>, StateError> {
        match self.writes.get(key) {
            Some(value) => Ok(value.clone()),
            None => self.base.get(key),
        }
    }
}

impl StateRead for BTreeMap<Vec<u8>, Vec<u8>> {
    fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>, StateError> {
        Ok(BTreeMap::get(self, key).cloned())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn overlay_shadows_and_discards() {
        let mut base = BTreeMap::new();
        base.insert(b"a".to_vec(), b"1".to_vec());
        base.insert(b"b".to_vec(), b"2".to_vec());
        let mut block = Overlay::new(&base);
        {
            let mut tx = Overlay::new(&block);
            tx.put(b"a".to_vec(), b"9".to_vec());
            tx.delete(b"b".to_vec());
            assert_eq!(tx.get(b"a").unwrap(), Some(b"9".to_vec()));
            assert_eq!(tx.get(b"b").unwrap(), None);
            // dropped: rolled back
        }
        assert_eq!(block.get(b"a").unwrap(), Some(b"1".to_vec()));
        let writes = {
            let mut tx = Overlay::new(&block);
            tx.delete(b"b".to_vec());
            tx.into_writes()
        };
        block.absorb(writes);
        assert_eq!(block.get(b"b").unwrap(), None);
        assert_eq!(block.get(b"a").unwrap(), Some(b"1".to_vec()));
    }
}
