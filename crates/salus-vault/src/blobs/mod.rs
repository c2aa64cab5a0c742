//! Ciphertext and key envelopes in an object store.
//!
//! Layout:
//! - `packs/<pack hash>.pack`: versions stored together, each with the
//!   envelopes written with it ([`pack`]). A batch of uploads becomes one pack,
//!   so storing a version costs neither a file creation nor a PUT of its own.
//!   A redb [`index`] beside the vault says which pack holds each version.
//! - `records/<shard>/<record>-<version>.keys`: envelopes added later (grants,
//!   replicas), one small object per version, in 256 shard folders named by
//!   the record id's first byte.
//!
//! Only ciphertext and wrapped keys ever reach the store; the index holds ids,
//! hashes and offsets.

mod erasure;
mod index;
pub mod pack;

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use futures::StreamExt as _;
use object_store::path::Path;
use object_store::{ObjectStore, ObjectStoreExt as _, PutPayload};
use salus_types::records::RecordId;
use salus_types::vault::KeyEnvelope;
use salus_types::{AccountId, Hash};

use self::index::{Entry, Location, PackIndex};
use self::pack::{pack_path, PackId, PackedVersion};
use crate::{BlobConfig, VaultError};

/// At most this many envelopes are kept per version (one per reader).
pub const MAX_ENVELOPES_PER_VERSION: usize = 1_024;
/// Envelope updates of records in different stripes run concurrently.
const LOCK_STRIPES: usize = 64;
/// How often a read retries a pack that an erasure replaced meanwhile.
const PACK_RETRIES: usize = 3;
/// Packs read at once by one batch of reads.
const PARALLEL_PACK_READS: usize = 8;

/// A version's ciphertext and the envelopes written with it.
#[derive(Debug, Clone, Default, PartialEq, Eq, borsh::BorshSerialize, borsh::BorshDeserialize)]
pub struct StoredVersion {
    pub content: Vec<u8>,
    pub envelopes: Vec<KeyEnvelope>,
}

impl StoredVersion {
    /// Every envelope: those written with the version, then `added` (a later
    /// envelope for the same reader wins).
    pub fn with_added(mut self, added: Vec<KeyEnvelope>) -> StoredVersion {
        for envelope in added {
            self.envelopes.retain(|e| e.recipient != envelope.recipient);
            self.envelopes.push(envelope);
        }
        self
    }
}

pub struct BlobStore {
    store: Arc<dyn ObjectStore>,
    index: Arc<PackIndex>,
    /// For a durable local store: the directory the store writes under. Packs
    /// are fsynced one by one; envelope objects by one file-system flush per
    /// batch ([`BlobStore::sync`]).
    durable_dir: Option<std::path::PathBuf>,
    /// Held shared by a write from its pack upload to its index commit, and
    /// alone by erasure and garbage collection, so that neither deletes a pack
    /// a write is about to index.
    packs_lock: tokio::sync::RwLock<()>,
    /// Serialize read-modify-write of a record's envelope sets.
    key_locks: Vec<tokio::sync::Mutex<()>>,
    /// Envelope objects written since the last flush.
    keys_unsynced: AtomicBool,
    sync_lock: tokio::sync::Mutex<()>,
}

fn storage(e: object_store::Error) -> VaultError {
    VaultError::Storage(e.to_string())
}

/// Envelope objects are spread over 256 shard folders by their record's
/// first id byte, so that adding one creates a file but never a folder.
fn shard(record: &RecordId) -> Path {
    Path::from(format!("records/{:02x}", record.0[0]))
}

fn keys_path(record: &RecordId, version: u32) -> Path {
    Path::from(format!("{}/{record}-{version}.keys", shard(record)))
}

/// The record an envelope object belongs to, from its file name.
fn record_of(path: &Path) -> Option<RecordId> {
    let name = path.filename()?;
    RecordId::from_hex(name.split('-').next()?).ok()
}

impl BlobStore {
    /// A store over any object store, made durable by the store itself, with
    /// its pack index at `index`.
    pub fn new(
        store: Arc<dyn ObjectStore>,
        index: &std::path::Path,
    ) -> Result<BlobStore, VaultError> {
        Ok(BlobStore {
            store,
            index: Arc::new(PackIndex::open(index)?),
            durable_dir: None,
            packs_lock: tokio::sync::RwLock::new(()),
            key_locks: (0..LOCK_STRIPES)
                .map(|_| tokio::sync::Mutex::new(()))
                .collect(),
            keys_unsynced: AtomicBool::new(false),
            sync_lock: tokio::sync::Mutex::new(()),
        })
    }

    /// Opens the store a [`BlobConfig`] names, with its pack index at `index`
    /// (a local file, whatever the store).
    pub fn open(config: &BlobConfig, index: &std::path::Path) -> Result<BlobStore, VaultError> {
        match config {
            BlobConfig::Local { dir, fsync } => {
                std::fs::create_dir_all(dir).map_err(|e| {
                    VaultError::Storage(format!("cannot create {}: {e}", dir.display()))
                })?;
                let store = object_store::local::LocalFileSystem::new_with_prefix(dir)
                    .map_err(|e| VaultError::Storage(e.to_string()))?;
                let mut blobs = BlobStore::new(Arc::new(store), index)?;
                blobs.durable_dir = fsync.then(|| dir.clone());
                Ok(blobs)
            }
            BlobConfig::S3 {
                endpoint,
                bucket,
                region,
                access_key_id,
                secret_access_key,
                allow_http,
            } => {
                let store = object_store::aws::AmazonS3Builder::new()
                    .with_endpoint(endpoint)
                    .with_bucket_name(bucket)
                    .with_region(region)
                    .with_access_key_id(access_key_id)
                    .with_secret_access_key(secret_access_key)
                    .with_allow_http(*allow_http)
                    .build()
                    .map_err(|e| VaultError::Storage(e.to_string()))?;
                BlobStore::new(Arc::new(store), index)
            }
        }
    }

    fn key_lock(&self, record: &RecordId) -> &tokio::sync::Mutex<()> {
        &self.key_locks[record.0[0] as usize % LOCK_STRIPES]
    }

    /// Runs an index write (a durable commit) off the async runtime.
    async fn on_index<T: Send + 'static>(
        &self,
        work: impl FnOnce(&PackIndex) -> Result<T, VaultError> + Send + 'static,
    ) -> Result<T, VaultError> {
        let index = self.index.clone();
        crate::blocking(move || work(&index)).await
    }

    /// Makes every envelope object written so far durable. One flush of the
    /// file system per batch costs what one fsync per object would cost per
    /// object. (Packs are durable before they are indexed.)
    pub async fn sync(&self) -> Result<(), VaultError> {
        let Some(dir) = self.durable_dir.clone() else {
            return Ok(());
        };
        // Whoever finds the flag set flushes; a caller who finds it clear
        // waited on the lock for any flush that covers its writes.
        let _flushing = self.sync_lock.lock().await;
        if !self.keys_unsynced.swap(false, Ordering::AcqRel) {
            return Ok(());
        }
        let flushed = crate::blocking(move || sync_file_system(&dir)).await;
        if flushed.is_err() {
            self.keys_unsynced.store(true, Ordering::Release);
        }
        flushed
    }

    /// Makes one object durable: the file, then its folder's entry for it.
    async fn make_durable(&self, path: &Path) -> Result<(), VaultError> {
        let Some(dir) = &self.durable_dir else {
            return Ok(());
        };
        let file = dir.join(path.as_ref());
        crate::blocking(move || {
            let fsync = |path: &std::path::Path| {
                std::fs::File::open(path)
                    .and_then(|f| f.sync_all())
                    .map_err(|e| {
                        VaultError::Storage(format!("cannot flush {}: {e}", path.display()))
                    })
            };
            fsync(&file)?;
            fsync(file.parent().unwrap_or(&file))
        })
        .await
    }

    /// Uploads a pack and waits until it is durable.
    async fn put_pack(
        &self,
        entries: &[PackedVersion],
    ) -> Result<(PackId, Vec<Entry>), VaultError> {
        let (id, bytes, spans) = pack::encode(entries)?;
        let path = pack_path(&id);
        self.store
            .put(&path, PutPayload::from(bytes))
            .await
            .map_err(storage)?;
        self.make_durable(&path).await?;
        let located = entries
            .iter()
            .zip(spans)
            .map(|(entry, span)| index_entry(id, span, entry))
            .collect();
        Ok((id, located))
    }

    /// Stores versions, durably, before it returns: new versions together in
    /// one pack; for a version stored already, only its envelopes are added.
    /// The caller has checked that each content hashes to its `hash`.
    pub async fn put_versions(&self, versions: Vec<PackedVersion>) -> Result<(), VaultError> {
        let mut fresh: Vec<PackedVersion> = Vec::new();
        let mut held: Vec<PackedVersion> = Vec::new();
        let mut positions: BTreeMap<(RecordId, u32), usize> = BTreeMap::new();
        let keys: Vec<(RecordId, u32)> = versions.iter().map(|v| (v.record, v.version)).collect();
        let indexed = self.index.get_many(&keys)?;
        for (version, indexed) in versions.into_iter().zip(indexed) {
            let key = (version.record, version.version);
            if let Some(&at) = positions.get(&key) {
                // The same version twice in one batch: one entry, every envelope.
                let first = std::mem::take(&mut fresh[at].stored);
                fresh[at].stored = first.with_added(version.stored.envelopes);
                continue;
            }
            match indexed {
                Some(location) if location.hash == version.hash => held.push(version),
                Some(_) => return Err(VaultError::ContentMismatch),
                None => {
                    positions.insert(key, fresh.len());
                    fresh.push(version);
                }
            }
        }
        if !fresh.is_empty() {
            let _writing = self.packs_lock.read().await;
            let (id, entries) = self.put_pack(&fresh).await?;
            let added = self
                .on_index(move |index| index.add_pack(&id, &entries))
                .await?;
            if !added.contains(&true) {
                // Every version was stored by a concurrent write meanwhile.
                self.delete(&pack_path(&id)).await?;
            }
            held.extend(
                fresh
                    .into_iter()
                    .zip(added)
                    .filter(|(_, added)| !added)
                    .map(|(version, _)| version),
            );
        }
        for version in held {
            self.add_envelopes(&version.record, version.version, &version.stored.envelopes)
                .await?;
        }
        self.sync().await
    }

    /// Stores one version; see [`BlobStore::put_versions`].
    pub async fn put_version(
        &self,
        record: &RecordId,
        version: u32,
        hash: &Hash,
        stored: &StoredVersion,
    ) -> Result<(), VaultError> {
        self.put_versions(vec![PackedVersion {
            record: *record,
            version,
            hash: *hash,
            stored: stored.clone(),
        }])
        .await
    }

    /// A stored version, if this vault has it.
    pub async fn version(
        &self,
        record: &RecordId,
        version: u32,
        hash: &Hash,
    ) -> Result<Option<StoredVersion>, VaultError> {
        for _ in 0..PACK_RETRIES {
            let Some(location) = self.index.get(record, version)? else {
                return Ok(None);
            };
            if location.hash != *hash {
                return Ok(None);
            }
            match self
                .store
                .get_range(&pack_path(&location.pack), location.span.range())
                .await
            {
                Ok(bytes) => return unpack(&bytes, record, version, hash).map(Some),
                // An erasure moved the version to a new pack meanwhile.
                Err(object_store::Error::NotFound { .. }) => continue,
                Err(e) => return Err(storage(e)),
            }
        }
        Err(VaultError::Storage(format!(
            "the pack that holds version {version} of {record} is missing"
        )))
    }

    /// Several stored versions, one answer each, in order: one index lookup
    /// for all, and one ranged read per pack.
    pub async fn versions(
        &self,
        wanted: &[(RecordId, u32, Hash)],
    ) -> Vec<Result<Option<StoredVersion>, VaultError>> {
        let keys: Vec<(RecordId, u32)> = wanted.iter().map(|(r, v, _)| (*r, *v)).collect();
        let locations = match self.index.get_many(&keys) {
            Ok(locations) => locations,
            Err(e) => return vec![Err(e); wanted.len()],
        };
        let mut out: Vec<Result<Option<StoredVersion>, VaultError>> =
            (0..wanted.len()).map(|_| Ok(None)).collect();
        let mut by_pack: BTreeMap<PackId, Vec<(usize, Location)>> = BTreeMap::new();
        for (at, (location, (_, _, hash))) in locations.into_iter().zip(wanted).enumerate() {
            if let Some(location) = location.filter(|l| l.hash == *hash) {
                by_pack
                    .entry(location.pack)
                    .or_default()
                    .push((at, location));
            }
        }
        let reads = futures::stream::iter(by_pack.into_iter().map(|(pack, items)| async move {
            let ranges: Vec<_> = items.iter().map(|(_, l)| l.span.range()).collect();
            let read = self.store.get_ranges(&pack_path(&pack), &ranges).await;
            (items, read)
        }))
        .buffer_unordered(PARALLEL_PACK_READS)
        .collect::<Vec<_>>()
        .await;
        for (items, read) in reads {
            match read {
                Ok(slices) => {
                    for ((at, _), bytes) in items.into_iter().zip(slices) {
                        let (record, version, hash) = &wanted[at];
                        out[at] = unpack(&bytes, record, *version, hash).map(Some);
                    }
                }
                // Replaced by an erasure meanwhile: look each one up again.
                Err(object_store::Error::NotFound { .. }) => {
                    for (at, _) in items {
                        let (record, version, hash) = &wanted[at];
                        out[at] = self.version(record, *version, hash).await;
                    }
                }
                Err(e) => {
                    let failed = storage(e);
                    for (at, _) in items {
                        out[at] = Err(failed.clone());
                    }
                }
            }
        }
        out
    }

    /// Envelopes added to a version after it was stored (grants, replicas).
    pub async fn added_envelopes(
        &self,
        record: &RecordId,
        version: u32,
    ) -> Result<Vec<KeyEnvelope>, VaultError> {
        match read_optional(&*self.store, &keys_path(record, version)).await? {
            Some(bytes) => borsh::from_slice(&bytes)
                .map_err(|e| VaultError::Storage(format!("corrupt key envelopes: {e}"))),
            None => Ok(Vec::new()),
        }
    }

    /// Adds envelopes to a version; a newer envelope for the same reader
    /// replaces the older one. Durable after the next [`BlobStore::sync`].
    pub async fn add_envelopes(
        &self,
        record: &RecordId,
        version: u32,
        added: &[KeyEnvelope],
    ) -> Result<(), VaultError> {
        if added.is_empty() {
            return Ok(());
        }
        let _guard = self.key_lock(record).lock().await;
        let mut envelopes = self.added_envelopes(record, version).await?;
        for envelope in added {
            envelopes.retain(|e| e.recipient != envelope.recipient);
            envelopes.push(envelope.clone());
        }
        if envelopes.len() > MAX_ENVELOPES_PER_VERSION {
            return Err(VaultError::TooManyEnvelopes(MAX_ENVELOPES_PER_VERSION));
        }
        envelopes.sort_by_key(|e| e.recipient);
        let bytes = borsh::to_vec(&envelopes).map_err(|e| VaultError::Storage(e.to_string()))?;
        self.store
            .put(&keys_path(record, version), PutPayload::from(bytes))
            .await
            .map_err(storage)?;
        self.keys_unsynced.store(true, Ordering::Release);
        Ok(())
    }

    /// Adds envelopes only for readers the version has no envelope for yet
    /// (neither written with it nor added since): replicas never replace keys.
    pub async fn add_missing_envelopes(
        &self,
        record: &RecordId,
        version: u32,
        hash: &Hash,
        offered: &[KeyEnvelope],
    ) -> Result<(), VaultError> {
        let mut held: Vec<AccountId> = self
            .added_envelopes(record, version)
            .await?
            .iter()
            .map(|e| e.recipient)
            .collect();
        if let Some(stored) = self.version(record, version, hash).await? {
            held.extend(stored.envelopes.iter().map(|e| e.recipient));
        }
        let missing: Vec<KeyEnvelope> = offered
            .iter()
            .filter(|e| !held.contains(&e.recipient))
            .cloned()
            .collect();
        self.add_envelopes(record, version, &missing).await
    }
}

/// What the index holds for a pack entry.
fn index_entry(pack: PackId, span: pack::Span, entry: &PackedVersion) -> Entry {
    let location = Location {
        hash: entry.hash,
        pack,
        span,
    };
    (entry.record, entry.version, location)
}

/// The version a pack entry holds, checked to be the one the index promised.
fn unpack(
    bytes: &[u8],
    record: &RecordId,
    version: u32,
    hash: &Hash,
) -> Result<StoredVersion, VaultError> {
    let entry = pack::decode_one(bytes)?;
    if (entry.record, entry.version, entry.hash) != (*record, version, *hash) {
        return Err(VaultError::Storage(format!(
            "a pack holds another version where the index points to version {version} of {record}"
        )));
    }
    Ok(entry.stored)
}

/// Flushes the file system that holds `dir` (Linux `syncfs`; elsewhere an
/// fsync of the directory, which is what other systems offer).
fn sync_file_system(dir: &std::path::Path) -> Result<(), VaultError> {
    let handle = std::fs::File::open(dir)
        .map_err(|e| VaultError::Storage(format!("cannot open {}: {e}", dir.display())))?;
    #[cfg(target_os = "linux")]
    {
        use std::os::fd::AsRawFd as _;
        // SAFETY: the descriptor is valid for the life of `handle`.
        if unsafe { libc::syncfs(handle.as_raw_fd()) } != 0 {
            return Err(VaultError::Storage(format!(
                "cannot flush the vault's file system: {}",
                std::io::Error::last_os_error()
            )));
        }
        Ok(())
    }
    #[cfg(not(target_os = "linux"))]
    handle
        .sync_all()
        .map_err(|e| VaultError::Storage(format!("cannot flush {}: {e}", dir.display())))
}

async fn read_optional(
    store: &dyn ObjectStore,
    path: &Path,
) -> Result<Option<Vec<u8>>, VaultError> {
    match store.get(path).await {
        Ok(result) => Ok(Some(result.bytes().await.map_err(storage)?.to_vec())),
        Err(object_store::Error::NotFound { .. }) => Ok(None),
        Err(e) => Err(storage(e)),
    }
}
