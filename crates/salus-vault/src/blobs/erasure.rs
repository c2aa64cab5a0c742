//! Erasure and recovery: deleting everything held for a record (rewriting
//! the packs it shares with other records), and adopting the packs a crash
//! or a lost index left unnamed.

use std::collections::{BTreeMap, BTreeSet};

use futures::StreamExt as _;
use object_store::path::Path;
use object_store::ObjectStoreExt as _;
use salus_types::records::RecordId;

use super::index::Entry;
use super::pack::{self, pack_of, pack_path, PackId, PackedVersion};
use super::{index_entry, read_optional, record_of, shard, storage, BlobStore};
use crate::VaultError;

impl BlobStore {
    pub(super) async fn delete(&self, path: &Path) -> Result<(), VaultError> {
        match self.store.delete(path).await {
            Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
            Err(e) => Err(storage(e)),
        }
    }

    /// Deletes everything this vault holds for a record: its versions (each
    /// pack that holds one is rewritten without it, and the old pack deleted)
    /// and its envelope objects. Returns how many versions and envelope
    /// objects were deleted.
    pub async fn erase(&self, record: &RecordId) -> Result<usize, VaultError> {
        let _alone = self.packs_lock.write().await;
        let mut by_pack: BTreeMap<PackId, Vec<(RecordId, u32)>> = BTreeMap::new();
        for (version, location) in self.index.versions_of(record)? {
            by_pack
                .entry(location.pack)
                .or_default()
                .push((*record, version));
        }
        for pack in self.index.dead_copies_of(record)? {
            by_pack.entry(pack).or_default();
        }
        let mut deleted = 0;
        for (pack, removed) in by_pack {
            self.repack_without(&pack, record, &removed).await?;
            deleted += removed.len();
        }
        let _guard = self.key_lock(record).lock().await;
        let mut listing = self.store.list(Some(&shard(record)));
        let mut paths = Vec::new();
        while let Some(meta) = listing.next().await {
            let path = meta.map_err(storage)?.location;
            if record_of(&path) == Some(*record) {
                paths.push(path);
            }
        }
        for path in &paths {
            self.delete(path).await?;
        }
        Ok(deleted + paths.len())
    }

    /// Replaces a pack by one that holds only its live versions of other
    /// records (or by nothing, if there are none): `record`'s versions, and
    /// any dead copy of any version, are gone. The caller holds the packs
    /// lock alone.
    async fn repack_without(
        &self,
        old: &PackId,
        record: &RecordId,
        removed: &[(RecordId, u32)],
    ) -> Result<(), VaultError> {
        let path = pack_path(old);
        let mut old_records = BTreeSet::new();
        let kept: Vec<PackedVersion> = match read_optional(&*self.store, &path).await? {
            Some(bytes) => {
                let entries = pack::decode_all(&bytes)?;
                old_records.extend(entries.iter().map(|(_, e)| e.record));
                let keys: Vec<(RecordId, u32)> =
                    entries.iter().map(|(_, e)| (e.record, e.version)).collect();
                let indexed = self.index.get_many(&keys)?;
                entries
                    .into_iter()
                    .zip(indexed)
                    .filter(|((span, entry), indexed)| {
                        let live = index_entry(*old, *span, entry).2;
                        entry.record != *record && *indexed == Some(live)
                    })
                    .map(|((_, entry), _)| entry)
                    .collect()
            }
            None => Vec::new(),
        };
        let replacement = match kept.is_empty() {
            true => None,
            false => Some(self.put_pack(&kept).await?),
        };
        let (old_id, removed) = (*old, removed.to_vec());
        let new_id = replacement.as_ref().map(|(id, _)| *id);
        self.on_index(move |index| {
            let new = replacement
                .as_ref()
                .map(|(id, entries)| (id, entries.as_slice()));
            index.repack(&old_id, &old_records, &removed, new)
        })
        .await?;
        if new_id != Some(*old) {
            self.delete(&path).await?;
        }
        Ok(())
    }

    /// Indexes the packs the index does not point into, and deletes those
    /// that hold nothing new. Such packs are left by a crash between a pack's
    /// upload and its indexing, by an erasure interrupted before it deleted the
    /// pack it replaced, or by a lost index over a store that survived (an S3
    /// bucket under a re-provisioned node). Every entry in a pack is a version
    /// the chain anchors (writes and replicas are checked before they are
    /// packed), so adopting it is safe; a record the chain has erased since is
    /// erased again by [`crate::Vault::reconcile`], which calls this first.
    /// Returns (packs adopted, packs deleted).
    pub async fn adopt_unindexed_packs(&self) -> Result<(usize, usize), VaultError> {
        let _alone = self.packs_lock.write().await;
        let live = self.index.packs()?;
        let mut listing = self.store.list(Some(&Path::from("packs")));
        let mut unindexed = Vec::new();
        while let Some(meta) = listing.next().await {
            let path = meta.map_err(storage)?.location;
            if let Some(id) = pack_of(&path).filter(|id| !live.contains(id)) {
                unindexed.push((id, path));
            }
        }
        let (mut adopted, mut deleted) = (0, 0);
        for (id, path) in unindexed {
            let Some(bytes) = read_optional(&*self.store, &path).await? else {
                continue;
            };
            // A damaged pack (a crash mid-upload on a store without atomic
            // puts) holds nothing that can be served: it goes.
            let decoded = pack::decode_all(&bytes).unwrap_or_else(|error| {
                tracing::warn!(pack = %id, %error, "deleting a damaged pack the index does not name");
                Vec::new()
            });
            let entries: Vec<Entry> = decoded
                .iter()
                .map(|(span, entry)| index_entry(id, *span, entry))
                .collect();
            let added = self
                .on_index(move |index| index.add_pack(&id, &entries))
                .await?;
            if added.contains(&true) {
                adopted += 1;
            } else {
                self.delete(&path).await?;
                deleted += 1;
            }
        }
        Ok((adopted, deleted))
    }

    /// Every record this vault holds something for, in id order.
    pub async fn records(&self) -> Result<Vec<RecordId>, VaultError> {
        let mut records = self.index.records()?;
        let mut listing = self.store.list(Some(&Path::from("records")));
        while let Some(meta) = listing.next().await {
            if let Some(record) = record_of(&meta.map_err(storage)?.location) {
                records.insert(record);
            }
        }
        Ok(records.into_iter().collect())
    }
}
