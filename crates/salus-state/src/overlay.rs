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
///
/// In debug builds (and so in every test) an overlay can be confined to a
/// key prefix ([`Overlay::confine`]): a write outside it panics. The state
/// machine confines each module's code to the module's own prefix, so a
/// module that writes another's keys, except through that module's public
/// functions (which confine themselves to their own prefix), fails loudly.
pub struct Overlay<'a> {
    base: &'a dyn StateRead,
    writes: WriteSet,
    #[cfg(debug_assertions)]
    confined_to: Option<&'static str>,
}

impl<'a> Overlay<'a> {
    pub fn new(base: &'a dyn StateRead) -> Self {
        Overlay {
            base,
            writes: WriteSet::new(),
            #[cfg(debug_assertions)]
            confined_to: None,
        }
    }

    pub fn put(&mut self, key: Vec<u8>, value: Vec<u8>) {
        self.check_confinement(&key);
        self.writes.insert(key, Some(value));
    }

    pub fn delete(&mut self, key: Vec<u8>) {
        self.check_confinement(&key);
        self.writes.insert(key, None);
    }

    /// Runs `f` with writes confined to keys under `prefix/` (checked in
    /// debug builds), then restores the confinement that was in force.
    pub fn confine<R>(&mut self, prefix: &'static str, f: impl FnOnce(&mut Self) -> R) -> R {
        #[cfg(debug_assertions)]
        let outer = self.confined_to.replace(prefix);
        #[cfg(not(debug_assertions))]
        let _ = prefix;
        let result = f(self);
        #[cfg(debug_assertions)]
        {
            self.confined_to = outer;
        }
        result
    }

    #[cfg(debug_assertions)]
    fn check_confinement(&self, key: &[u8]) {
        if let Some(prefix) = self.confined_to {
            assert!(
                salus_types::layout::is_under(key, prefix),
                "a write to key `{}` escapes module prefix `{prefix}/`: a module writes only its own keys, and another module's through that module's public functions",
                String::from_utf8_lossy(key)
            );
        }
    }

    #[cfg(not(debug_assertions))]
    fn check_confinement(&self, _key: &[u8]) {}

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

    #[test]
    fn confinement_nests_and_restores() {
        let base = BTreeMap::new();
        let mut state = Overlay::new(&base);
        state.confine("token", |state| {
            state.put(b"token/bal/x".to_vec(), vec![1]);
            state.confine("auth", |state| state.put(b"auth/acct/x".to_vec(), vec![2]));
            state.delete(b"token/bal/y".to_vec());
        });
        state.put(b"chain/id/".to_vec(), vec![3]);
        assert_eq!(state.writes().len(), 4);
    }

    #[test]
    #[cfg(debug_assertions)]
    #[should_panic(expected = "escapes module prefix `token/`")]
    fn a_stray_write_fails_loudly() {
        let base = BTreeMap::new();
        let mut state = Overlay::new(&base);
        // `tokens/` is not under `token/`.
        state.confine("token", |state| state.put(b"tokens/x".to_vec(), vec![1]));
    }
}
