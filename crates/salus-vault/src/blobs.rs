//! Ciphertext and key envelopes in an object store.
//!
//! Layout, in 256 shard folders named by a record id's first byte:
//! - `records/<shard>/<record>-<version>.<ciphertext hash>`: the version,
//!   addressed by the hash the chain anchors (checked before every write): its
//!   ciphertext and the envelopes written with it ([`StoredVersion`], borsh);
//! - `records/<shard>/<record>-<version>.keys`: envelopes added later.
//!
//! Only ciphertext and wrapped keys ever reach the store.

use std::sync::Arc;

use futures::StreamExt as _;
use object_store::path::Path;
use object_store::{ObjectStore, ObjectStoreExt as _, PutPayload};
use salus_types::records::RecordId;
use salus_types::vault::KeyEnvelope;
use salus_types::{AccountId, Hash};

use crate::{BlobConfig, VaultError};

/// At most this many envelopes are kept per version (one per reader).
pub const MAX_ENVELOPES_PER_VERSION: usize = 1_024;
/// Envelope updates of records in different stripes run concurrently.
const LOCK_STRIPES: usize = 64;

/// A version as one object: the ciphertext first, then the envelopes written
/// with it (one file per version keeps writes cheap on local disks).
#[derive(Debug, Clone, PartialEq, Eq, borsh::BorshSerialize, borsh::BorshDeserialize)]
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
    /// For a durable local store: the directory whose file system [`BlobStore::sync`]
    /// flushes. Writes are flushed once per batch, not once per object.
    durable_dir: Option<std::path::PathBuf>,
    /// Serialize read-modify-write of a record's envelope sets.
    key_locks: Vec<tokio::sync::Mutex<()>>,
}

fn storage(e: object_store::Error) -> VaultError {
    VaultError::Storage(e.to_string())
}

/// Records are spread over 256 shard folders by their first id byte, so that
/// storing a record creates a file but never a folder.
fn shard(record: &RecordId) -> Path {
    Path::from(format!("records/{:02x}", record.0[0]))
}

fn content_path(record: &RecordId, version: u32, hash: &Hash) -> Path {
    Path::from(format!("{}/{record}-{version}.{hash}", shard(record)))
}

fn keys_path(record: &RecordId, version: u32) -> Path {
    Path::from(format!("{}/{record}-{version}.keys", shard(record)))
}

/// The record an object belongs to, from its file name.
fn record_of(path: &Path) -> Option<RecordId> {
    let name = path.filename()?;
    RecordId::from_hex(name.split('-').next()?).ok()
}

impl BlobStore {
    /// A store over any object store, made durable by the store itself.
    pub fn new(store: Arc<dyn ObjectStore>) -> BlobStore {
        BlobStore {
            store,
            durable_dir: None,
            key_locks: (0..LOCK_STRIPES)
                .map(|_| tokio::sync::Mutex::new(()))
                .collect(),
        }
    }

    /// Opens the store a [`BlobConfig`] names.
    pub fn open(config: &BlobConfig) -> Result<BlobStore, VaultError> {
        match config {
            BlobConfig::Local { dir, fsync } => {
                std::fs::create_dir_all(dir).map_err(|e| {
                    VaultError::Storage(format!("cannot create {}: {e}", dir.display()))
                })?;
                let store = object_store::local::LocalFileSystem::new_with_prefix(dir)
                    .map_err(|e| VaultError::Storage(e.to_string()))?;
                let mut blobs = BlobStore::new(Arc::new(store));
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
                Ok(BlobStore::new(Arc::new(store)))
            }
        }
    }

    fn key_lock(&self, record: &RecordId) -> &tokio::sync::Mutex<()> {
        &self.key_locks[record.0[0] as usize % LOCK_STRIPES]
    }

    /// Makes every write so far durable. One flush of the file system per
    /// batch costs what one fsync per object would cost per object.
    pub async fn sync(&self) -> Result<(), VaultError> {
        let Some(dir) = self.durable_dir.clone() else {
            return Ok(());
        };
        tokio::task::spawn_blocking(move || sync_file_system(&dir))
            .await
            .map_err(|e| VaultError::Storage(format!("sync task failed: {e}")))?
    }

    /// Stores a version: its ciphertext and the envelopes written with it, in
    /// one object. The caller has checked that the content hashes to `hash`.
    /// If the version is already stored, only the envelopes are added.
    pub async fn put_version(
        &self,
        record: &RecordId,
        version: u32,
        hash: &Hash,
        stored: &StoredVersion,
    ) -> Result<(), VaultError> {
        let path = content_path(record, version, hash);
        let bytes = borsh::to_vec(stored).map_err(|e| VaultError::Storage(e.to_string()))?;
        {
            let _guard = self.key_lock(record).lock().await;
            match self.store.head(&path).await {
                Err(object_store::Error::NotFound { .. }) => {
                    self.store
                        .put(&path, PutPayload::from(bytes))
                        .await
                        .map_err(storage)?;
                    return Ok(());
                }
                Ok(_) => {}
                Err(e) => return Err(storage(e)),
            }
        }
        self.add_envelopes(record, version, &stored.envelopes).await
    }

    /// A stored version, if this vault has it.
    pub async fn version(
        &self,
        record: &RecordId,
        version: u32,
        hash: &Hash,
    ) -> Result<Option<StoredVersion>, VaultError> {
        match read_optional(&*self.store, &content_path(record, version, hash)).await? {
            Some(bytes) => borsh::from_slice(&bytes)
                .map(Some)
                .map_err(|e| VaultError::Storage(format!("corrupt stored version: {e}"))),
            None => Ok(None),
        }
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
    /// replaces the older one.
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

    /// Deletes everything this vault holds for a record. Returns how many
    /// objects were deleted.
    pub async fn erase(&self, record: &RecordId) -> Result<usize, VaultError> {
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
            match self.store.delete(path).await {
                Ok(()) | Err(object_store::Error::NotFound { .. }) => {}
                Err(e) => return Err(storage(e)),
            }
        }
        Ok(paths.len())
    }

    /// Every record this vault holds something for, in id order.
    pub async fn records(&self) -> Result<Vec<RecordId>, VaultError> {
        let mut listing = self.store.list(Some(&Path::from("records")));
        let mut records = std::collections::BTreeSet::new();
        while let Some(meta) = listing.next().await {
            if let Some(record) = record_of(&meta.map_err(storage)?.location) {
                records.insert(record);
            }
        }
        Ok(records.into_iter().collect())
    }
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
