//! The pack index (one redb file): which pack holds each stored version, and
//! how many live versions each pack holds.
//!
//! The index is written only after the pack it points into is durable, so it
//! never names a missing pack. A pack it does not name (a crash between the
//! two, an erasure interrupted before it deleted the old pack, or a lost
//! index) is adopted or deleted by [`super::BlobStore::adopt_unindexed_packs`].

use std::collections::BTreeSet;
use std::path::Path;

use redb::{Database, ReadableDatabase, ReadableTable, TableDefinition};
use salus_types::records::RecordId;
use salus_types::Hash;

use super::pack::{PackId, Span};
use crate::VaultError;

/// (record, version) → (anchored ciphertext hash, pack, offset, length).
const VERSIONS: TableDefinition<(&[u8; 16], u32), Row<'static>> =
    TableDefinition::new("pack_versions");
/// pack → how many versions the index points into it for.
const PACKS: TableDefinition<&[u8; 32], u64> = TableDefinition::new("packs");
/// (record, pack) → (): a live pack that also holds an unindexed copy of one
/// of the record's versions (two writes of one version raced). Erasing the
/// record must rewrite these packs too, or the copy would outlive it.
const DEAD_COPIES: TableDefinition<(&[u8; 16], &[u8; 32]), ()> =
    TableDefinition::new("dead_copies");

/// Where a stored version lives.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Location {
    pub hash: Hash,
    pub pack: PackId,
    pub span: Span,
}

/// A version to index: its record, version number and location.
pub type Entry = (RecordId, u32, Location);

pub struct PackIndex {
    db: Database,
}

fn storage(e: impl std::fmt::Display) -> VaultError {
    VaultError::Storage(format!("pack index: {e}"))
}

type Row<'a> = (&'a [u8; 32], &'a [u8; 32], u64, u64);

fn row(location: &Location) -> Row<'_> {
    (
        &location.hash.0,
        &location.pack.0,
        location.span.offset,
        location.span.len,
    )
}

fn location((hash, pack, offset, len): Row<'_>) -> Location {
    Location {
        hash: Hash(*hash),
        pack: Hash(*pack),
        span: Span { offset, len },
    }
}

impl PackIndex {
    pub fn open(path: &Path) -> Result<PackIndex, VaultError> {
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).map_err(storage)?;
        }
        let db = Database::create(path).map_err(storage)?;
        let txn = db.begin_write().map_err(storage)?;
        {
            txn.open_table(VERSIONS).map_err(storage)?;
            txn.open_table(PACKS).map_err(storage)?;
            txn.open_table(DEAD_COPIES).map_err(storage)?;
        }
        txn.commit().map_err(storage)?;
        Ok(PackIndex { db })
    }

    pub fn get(&self, record: &RecordId, version: u32) -> Result<Option<Location>, VaultError> {
        let txn = self.db.begin_read().map_err(storage)?;
        let table = txn.open_table(VERSIONS).map_err(storage)?;
        let found = table.get((&record.0, version)).map_err(storage)?;
        Ok(found.map(|value| location(value.value())))
    }

    /// Several lookups on one snapshot of the index.
    pub fn get_many(
        &self,
        versions: &[(RecordId, u32)],
    ) -> Result<Vec<Option<Location>>, VaultError> {
        let txn = self.db.begin_read().map_err(storage)?;
        let table = txn.open_table(VERSIONS).map_err(storage)?;
        versions
            .iter()
            .map(|(record, version)| {
                let found = table.get((&record.0, *version)).map_err(storage)?;
                Ok(found.map(|value| location(value.value())))
            })
            .collect()
    }

    /// Every indexed version of a record.
    pub fn versions_of(&self, record: &RecordId) -> Result<Vec<(u32, Location)>, VaultError> {
        let txn = self.db.begin_read().map_err(storage)?;
        let table = txn.open_table(VERSIONS).map_err(storage)?;
        let range = table
            .range((&record.0, 0)..=(&record.0, u32::MAX))
            .map_err(storage)?;
        range
            .map(|item| {
                let (key, value) = item.map_err(storage)?;
                Ok((key.value().1, location(value.value())))
            })
            .collect()
    }

    /// Indexes the entries of a new, durable pack. An entry whose version is
    /// indexed already (a concurrent write of the same version won) is left
    /// out; returns one flag per entry, `true` if it was indexed.
    pub fn add_pack(&self, pack: &PackId, entries: &[Entry]) -> Result<Vec<bool>, VaultError> {
        let txn = self.db.begin_write().map_err(storage)?;
        let mut added = Vec::with_capacity(entries.len());
        {
            let mut versions = txn.open_table(VERSIONS).map_err(storage)?;
            let mut packs = txn.open_table(PACKS).map_err(storage)?;
            for (record, version, location) in entries {
                assert_eq!(location.pack, *pack, "an entry of another pack");
                let key = (&record.0, *version);
                let fresh = versions.get(key).map_err(storage)?.is_none();
                if fresh {
                    versions.insert(key, row(location)).map_err(storage)?;
                }
                added.push(fresh);
            }
            let live = added.iter().filter(|a| **a).count() as u64;
            if live > 0 {
                packs.insert(&pack.0, live).map_err(storage)?;
                let mut dead = txn.open_table(DEAD_COPIES).map_err(storage)?;
                for ((record, _, _), _) in entries.iter().zip(&added).filter(|(_, a)| !**a) {
                    dead.insert((&record.0, &pack.0), ()).map_err(storage)?;
                }
            }
        }
        txn.commit().map_err(storage)?;
        Ok(added)
    }

    /// Packs that hold an unindexed copy of one of the record's versions.
    pub fn dead_copies_of(&self, record: &RecordId) -> Result<Vec<PackId>, VaultError> {
        let txn = self.db.begin_read().map_err(storage)?;
        let table = txn.open_table(DEAD_COPIES).map_err(storage)?;
        let range = table
            .range((&record.0, &[0u8; 32])..=(&record.0, &[0xffu8; 32]))
            .map_err(storage)?;
        range
            .map(|item| Ok(Hash(*item.map_err(storage)?.0.value().1)))
            .collect()
    }

    /// Replaces pack `old` by `new` in one step: `removed` versions leave the
    /// index, `moved` versions now point into `new` (which holds exactly them),
    /// and the dead copies `old` held (of `old_records`) go with it.
    pub fn repack(
        &self,
        old: &PackId,
        old_records: &BTreeSet<RecordId>,
        removed: &[(RecordId, u32)],
        new: Option<(&PackId, &[Entry])>,
    ) -> Result<(), VaultError> {
        let txn = self.db.begin_write().map_err(storage)?;
        {
            let mut versions = txn.open_table(VERSIONS).map_err(storage)?;
            let mut packs = txn.open_table(PACKS).map_err(storage)?;
            let mut dead = txn.open_table(DEAD_COPIES).map_err(storage)?;
            for record in old_records {
                dead.remove((&record.0, &old.0)).map_err(storage)?;
            }
            for (record, version) in removed {
                versions.remove((&record.0, *version)).map_err(storage)?;
            }
            packs.remove(&old.0).map_err(storage)?;
            if let Some((pack, moved)) = new {
                for (record, version, location) in moved {
                    assert_eq!(location.pack, *pack, "an entry of another pack");
                    versions
                        .insert((&record.0, *version), row(location))
                        .map_err(storage)?;
                }
                packs.insert(&pack.0, moved.len() as u64).map_err(storage)?;
            }
        }
        txn.commit().map_err(storage)
    }

    /// Every record with an indexed version.
    pub fn records(&self) -> Result<BTreeSet<RecordId>, VaultError> {
        self.keys(VERSIONS, |(record, _)| RecordId(*record))
    }

    /// Every pack the index points into.
    pub fn packs(&self) -> Result<BTreeSet<PackId>, VaultError> {
        self.keys(PACKS, |pack| Hash(*pack))
    }

    /// The distinct values `name` gives the keys of a table.
    fn keys<K: redb::Key + 'static, V: redb::Value + 'static, T: Ord>(
        &self,
        table: TableDefinition<K, V>,
        name: impl Fn(K::SelfType<'_>) -> T,
    ) -> Result<BTreeSet<T>, VaultError> {
        let txn = self.db.begin_read().map_err(storage)?;
        let table = txn.open_table(table).map_err(storage)?;
        let mut out = BTreeSet::new();
        for item in table.iter().map_err(storage)? {
            let (key, _) = item.map_err(storage)?;
            out.insert(name(key.value()));
        }
        Ok(out)
    }
}
