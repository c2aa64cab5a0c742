//! Ciphertext and key envelopes in an object store.
//!
//! Layout, one folder per record so that erasure is one prefix:
//! - `records/<record>/<version>/<ciphertext hash>`: the ciphertext, addressed
//!   by the hash the chain anchors (written once, never changed);
//! - `records/<record>/<version>/keys`: the version's key envelopes, one per
//!   reader (borsh).
//!
//! Only ciphertext and wrapped keys ever reach the store.

use std::sync::Arc;

use futures::StreamExt as _;
use object_store::path::Path;
use object_store::{ObjectStore, ObjectStoreExt as _, PutMode, PutPayload};
use salus_types::records::RecordId;
use salus_types::vault::KeyEnvelope;
use salus_types::Hash;

use crate::VaultError;

/// At most this many envelopes are kept per version (one per reader).
pub const MAX_ENVELOPES_PER_VERSION: usize = 1_024;

pub struct BlobStore {
    store: Arc<dyn ObjectStore>,
    /// Serializes read-modify-write of envelope sets.
    keys_lock: tokio::sync::Mutex<()>,
}

fn storage(e: object_store::Error) -> VaultError {
    VaultError::Storage(e.to_string())
}

fn record_dir(record: &RecordId) -> Path {
    Path::from(format!("records/{record}"))
}

fn content_path(record: &RecordId, version: u32, hash: &Hash) -> Path {
    Path::from(format!("records/{record}/{version}/{hash}"))
}

fn keys_path(record: &RecordId, version: u32) -> Path {
    Path::from(format!("records/{record}/{version}/keys"))
}

impl BlobStore {
    pub fn new(store: Arc<dyn ObjectStore>) -> BlobStore {
        BlobStore {
            store,
            keys_lock: tokio::sync::Mutex::new(()),
        }
    }

    /// Stores a version's ciphertext. The caller has checked `hash`. Writing the
    /// same bytes twice is harmless.
    pub async fn put_content(
        &self,
        record: &RecordId,
        version: u32,
        hash: &Hash,
        content: Vec<u8>,
    ) -> Result<(), VaultError> {
        let path = content_path(record, version, hash);
        match self
            .store
            .put_opts(&path, PutPayload::from(content), PutMode::Create.into())
            .await
        {
            Ok(_) | Err(object_store::Error::AlreadyExists { .. }) => Ok(()),
            Err(e) => Err(storage(e)),
        }
    }

    /// The ciphertext, if this vault has it.
    pub async fn content(
        &self,
        record: &RecordId,
        version: u32,
        hash: &Hash,
    ) -> Result<Option<Vec<u8>>, VaultError> {
        read_optional(&*self.store, &content_path(record, version, hash)).await
    }

    /// A version's key envelopes.
    pub async fn envelopes(
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
        let _guard = self.keys_lock.lock().await;
        let mut envelopes = self.envelopes(record, version).await?;
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

    /// Deletes everything this vault holds for a record. Returns how many
    /// objects were deleted.
    pub async fn erase(&self, record: &RecordId) -> Result<usize, VaultError> {
        let _guard = self.keys_lock.lock().await;
        let prefix = record_dir(record);
        let mut listing = self.store.list(Some(&prefix));
        let mut paths = Vec::new();
        while let Some(meta) = listing.next().await {
            paths.push(meta.map_err(storage)?.location);
        }
        for path in &paths {
            match self.store.delete(path).await {
                Ok(()) | Err(object_store::Error::NotFound { .. }) => {}
                Err(e) => return Err(storage(e)),
            }
        }
        Ok(paths.len())
    }

    /// Every record this vault holds something for.
    pub async fn records(&self) -> Result<Vec<RecordId>, VaultError> {
        let listing = self
            .store
            .list_with_delimiter(Some(&Path::from("records")))
            .await
            .map_err(storage)?;
        Ok(listing
            .common_prefixes
            .iter()
            .filter_map(|p| p.filename().and_then(|name| RecordId::from_hex(name).ok()))
            .collect())
    }
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
