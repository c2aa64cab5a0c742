//! The Salus vault: every node's store of encrypted health records.
//!
//! A vault holds ciphertext and wrapped data keys only; it never sees a data
//! key or a plaintext. It serves a record version to a requester who signed a
//! fresh request, bound to this vault, from a registered identity, and whom
//! consent on the latest finalized state allows
//! ([`salus_app::consent::decide`], asked again just before the answer leaves).
//! Every decided read, allowed or denied, is written to the vault's durable
//! [`ledger`] before the answer leaves, and the node submits the queued
//! entries to the chain in batches signed by the vault operator's key; a
//! vault whose operator is not named at genesis serves nothing.
//!
//! - [`Vault::read`], [`Vault::write`] and [`Vault::replica`] are the three
//!   request kinds ([`salus_types::vault`]); [`wire`] holds their JSON bodies.
//! - [`blobs`] lays records out in an `object_store` (a local directory, or an
//!   S3-compatible bucket): each batch of versions in one pack object, found
//!   through a local redb index.
//! - A vault that lacks a version's ciphertext fetches it from its peers (the
//!   other vault operators named at genesis) and checks it against the hash the
//!   chain anchors before it stores or serves it.
//! - [`Vault::erase`] deletes a record's ciphertext and keys once the chain has
//!   erased it; [`Vault::reconcile`] catches up on erasures missed while down.

pub mod blobs;
pub mod ledger;
mod read;
mod replicate;
pub mod wire;
mod write;

use std::path::Path;
use std::sync::Arc;

use salus_app::auth;
use salus_crypto::Signature;
use salus_crypto::SigningKey;
use salus_state::{Snapshot, Store};
use salus_types::consent::AccessReason;
use salus_types::records::RecordId;
use salus_types::vault::{Signed, VaultRequest, MAX_REQUEST_SKEW_MS};
use salus_types::{AccountId, Hash};
use tracing::info;

pub use crate::blobs::BlobStore;
use crate::ledger::Ledger;

pub use read::Served;
pub use write::{Stored, Upload};

pub use salus_types::clock::{system_clock, Clock};

/// Why a vault refused a request. Messages never contain record content.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum VaultError {
    #[error("request is malformed: {0}")]
    Malformed(String),
    #[error("request is for chain `{0}`")]
    WrongChain(String),
    #[error("request is addressed to another vault")]
    WrongVault,
    #[error("request time is more than {MAX_REQUEST_SKEW_MS} ms from the vault's clock")]
    Stale,
    #[error("request signature does not verify")]
    BadSignature,
    #[error("the signing key is not the signer account's current key")]
    WrongSignerKey,
    #[error("request was already used")]
    Replayed,
    #[error("record is unknown")]
    UnknownRecord,
    #[error("record version {0} is not anchored on the finalized chain")]
    NotAnchored(u32),
    #[error("access denied: {}", .0.name())]
    Denied(AccessReason),
    #[error("only the version's author, the patient or a guardian may store it")]
    NotAuthorized,
    #[error("only a vault operator named at genesis may ask for replicas or serve records")]
    NotAVault,
    #[error("the signer has no active DID")]
    UnknownSigner,
    #[error("the answer would exceed {0} bytes; ask for fewer records at once")]
    TooMuchAtOnce(u64),
    #[error("content does not match the anchored ciphertext hash")]
    ContentMismatch,
    #[error("key envelope for {0} does not name its current agreement key")]
    BadEnvelope(AccountId),
    #[error("more than {0} key envelopes")]
    TooManyEnvelopes(usize),
    #[error("ciphertext is not available from this vault or its peers")]
    Unavailable,
    #[error("vault storage failed: {0}")]
    Storage(String),
}

impl VaultError {
    /// The stable snake_case code for API bodies.
    pub fn code(&self) -> &'static str {
        match self {
            VaultError::Malformed(_) => "malformed_request",
            VaultError::WrongChain(_) => "wrong_chain",
            VaultError::WrongVault => "wrong_vault",
            VaultError::Stale => "stale_request",
            VaultError::BadSignature => "bad_signature",
            VaultError::WrongSignerKey => "wrong_signer_key",
            VaultError::Replayed => "replayed_request",
            VaultError::UnknownRecord => "unknown_record",
            VaultError::NotAnchored(_) => "not_anchored",
            VaultError::Denied(reason) => reason.name(),
            VaultError::NotAuthorized => "not_authorized",
            VaultError::NotAVault => "not_a_vault",
            VaultError::UnknownSigner => "unknown_signer",
            VaultError::TooMuchAtOnce(_) => "too_much_at_once",
            VaultError::ContentMismatch => "content_mismatch",
            VaultError::BadEnvelope(_) => "bad_envelope",
            VaultError::TooManyEnvelopes(_) => "too_many_envelopes",
            VaultError::Unavailable => "unavailable",
            VaultError::Storage(_) => "internal",
        }
    }

    /// The HTTP status that fits.
    pub fn status(&self) -> u16 {
        match self {
            VaultError::Malformed(_)
            | VaultError::WrongChain(_)
            | VaultError::WrongVault
            | VaultError::Stale
            | VaultError::ContentMismatch
            | VaultError::BadEnvelope(_)
            | VaultError::TooManyEnvelopes(_)
            | VaultError::TooMuchAtOnce(_) => 400,
            VaultError::BadSignature | VaultError::WrongSignerKey | VaultError::UnknownSigner => {
                401
            }
            VaultError::Denied(_) | VaultError::NotAuthorized | VaultError::NotAVault => 403,
            VaultError::UnknownRecord | VaultError::NotAnchored(_) => 404,
            VaultError::Replayed => 409,
            VaultError::Unavailable => 503,
            VaultError::Storage(_) => 500,
        }
    }
}

impl From<salus_state::StateError> for VaultError {
    fn from(e: salus_state::StateError) -> Self {
        VaultError::Storage(e.to_string())
    }
}

/// Where a vault keeps its blobs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BlobConfig {
    /// A local directory (created if missing). `fsync` makes writes durable
    /// before they are acknowledged.
    Local {
        dir: std::path::PathBuf,
        fsync: bool,
    },
    /// An S3-compatible bucket.
    S3 {
        endpoint: String,
        bucket: String,
        region: String,
        access_key_id: String,
        secret_access_key: String,
        allow_http: bool,
    },
}

/// A vault.
pub struct Vault {
    chain_id: String,
    operator: SigningKey,
    account: AccountId,
    state: Store,
    blobs: BlobStore,
    ledger: Ledger,
    clock: Clock,
    http: reqwest::Client,
    /// Where a peer vault's node serves replicas (the node's route, under
    /// the endpoint genesis names).
    replica_path: String,
    /// Whether the operator is a vault named at genesis. A vault that is not
    /// could never put its audit entries on chain, so it serves nothing.
    serving: bool,
}

impl Vault {
    /// Opens a vault whose ledger lives in `dir`, whose blobs live in `blobs`,
    /// and which decides on the finalized chain in `state`. `operator` is the
    /// vault operator's key (it signs replica requests and audit batches).
    /// `replica_path` is the route under a peer's endpoint that answers
    /// replica requests.
    pub fn open(
        dir: &Path,
        blobs: BlobStore,
        state: Store,
        chain_id: String,
        operator: SigningKey,
        clock: Clock,
        replica_path: &str,
    ) -> Result<Vault, VaultError> {
        std::fs::create_dir_all(dir)
            .map_err(|e| VaultError::Storage(format!("cannot create {}: {e}", dir.display())))?;
        let ledger = Ledger::open(&dir.join("vault.redb"))?;
        let account = AccountId::from_public_key(&operator.public_key());
        let http = reqwest::Client::builder()
            .timeout(std::time::Duration::from_secs(30))
            .build()
            .map_err(|e| VaultError::Storage(e.to_string()))?;
        let serving = salus_app::audit::vault_endpoint(&state.snapshot()?, &account)?.is_some();
        if !serving {
            tracing::warn!(%account, "this node's key is not a vault operator in genesis; its vault serves nothing");
        }
        Ok(Vault {
            serving,
            chain_id,
            operator,
            account,
            state,
            blobs,
            ledger,
            clock,
            http,
            replica_path: replica_path.to_owned(),
        })
    }

    /// The vault operator's account: requests must name it.
    pub fn account(&self) -> AccountId {
        self.account
    }

    pub fn operator_key(&self) -> &SigningKey {
        &self.operator
    }

    pub fn chain_id(&self) -> &str {
        &self.chain_id
    }

    pub fn now_ms(&self) -> u64 {
        (self.clock)()
    }

    pub fn ledger(&self) -> &Ledger {
        &self.ledger
    }

    /// Checks what every request kind shares: chain, vault, time, signature,
    /// the signer's current key, and that it was not used before. Returns the
    /// request's hash.
    fn admit<T: VaultRequest>(
        &self,
        snapshot: &Snapshot,
        signed: &Signed<T>,
        signature_ok: bool,
        now_ms: u64,
    ) -> Result<Hash, VaultError> {
        let header = signed.body.header();
        if header.chain_id != self.chain_id {
            return Err(VaultError::WrongChain(header.chain_id.clone()));
        }
        if header.vault != self.account {
            return Err(VaultError::WrongVault);
        }
        if header.issued_ms.abs_diff(now_ms) > MAX_REQUEST_SKEW_MS {
            return Err(VaultError::Stale);
        }
        if !signature_ok {
            return Err(VaultError::BadSignature);
        }
        if !self.serving {
            return Err(VaultError::NotAVault);
        }
        let account = auth::account(snapshot, &header.signer)?;
        if !account.may_sign(&header.signer, &header.public_key) {
            return Err(VaultError::WrongSignerKey);
        }
        let hash = signed.hash();
        if self.ledger.seen(&hash)? {
            return Err(VaultError::Replayed);
        }
        Ok(hash)
    }

    /// Only registered identities are heard by reads and writes: a throwaway
    /// key must not be able to write denials into patients' logs. (Replica
    /// requests need a vault operator instead.)
    fn require_identity(&self, snapshot: &Snapshot, signer: &AccountId) -> Result<(), VaultError> {
        if salus_app::identity::did_record(snapshot, signer)?.is_none_or(|d| d.deactivated) {
            return Err(VaultError::UnknownSigner);
        }
        Ok(())
    }

    /// Marks requests used and queues their audit entries, durably, off the
    /// async runtime. Returns one flag per item: `true` for a replay.
    async fn commit(
        self: &Arc<Self>,
        accepted: Vec<ledger::Accepted>,
    ) -> Result<Vec<bool>, VaultError> {
        // Requests issued before this are refused as stale, so the ledger may forget them.
        let forget_before = self.now_ms().saturating_sub(2 * MAX_REQUEST_SKEW_MS);
        let vault = self.clone();
        blocking(move || vault.ledger.commit(&accepted, forget_before)).await
    }

    /// Deletes everything this vault holds for an erased record.
    pub async fn erase(&self, record: &RecordId) -> Result<usize, VaultError> {
        let deleted = self.blobs.erase(record).await?;
        info!(%record, deleted, "erased record from the vault");
        Ok(deleted)
    }

    /// Erases those of `records` that the chain has erased by now: a write or
    /// a replica that raced an erasure must not bring the record back.
    pub(crate) async fn erase_if_erased(&self, records: &[RecordId]) {
        let erased: Result<Vec<RecordId>, VaultError> = (|| {
            let snapshot = self.state.snapshot()?;
            let mut erased = Vec::new();
            for record in records {
                let head = salus_app::records::head(&snapshot, record)?;
                if head.is_some_and(|h| h.erased_ms.is_some()) {
                    erased.push(*record);
                }
            }
            Ok(erased)
        })();
        match erased {
            Ok(erased) => {
                for record in erased {
                    if let Err(error) = self.erase(&record).await {
                        tracing::warn!(%record, %error, "cannot erase a record; will retry at restart");
                    }
                }
            }
            Err(error) => tracing::warn!(%error, "cannot check for erasures after a write"),
        }
    }

    /// Erases every record the chain has erased but this vault still holds
    /// (an erasure finalized while the vault was down), after taking in any
    /// pack the index does not name (left by an interrupted write or erasure,
    /// or by a lost index). Returns how many records it erased.
    pub async fn reconcile(&self) -> Result<usize, VaultError> {
        let (adopted, deleted) = self.blobs.adopt_unindexed_packs().await?;
        if adopted + deleted > 0 {
            info!(
                adopted,
                deleted, "indexed or deleted packs the index did not name"
            );
        }
        let held = self.blobs.records().await?;
        let erased: Vec<RecordId> = {
            let snapshot = self.state.snapshot()?;
            let mut erased = Vec::new();
            for record in held {
                let head = salus_app::records::head(&snapshot, &record)?;
                if head.is_some_and(|h| h.erased_ms.is_some()) {
                    erased.push(record);
                }
            }
            erased
        };
        for record in &erased {
            self.erase(record).await?;
        }
        Ok(erased.len())
    }
}

/// Runs `work` off the async runtime.
pub(crate) async fn blocking<T: Send + 'static>(
    work: impl FnOnce() -> Result<T, VaultError> + Send + 'static,
) -> Result<T, VaultError> {
    tokio::task::spawn_blocking(work)
        .await
        .map_err(|e| VaultError::Storage(format!("a vault task failed: {e}")))?
}

/// A request from a bundle, and whether the bundle's signature authenticates it.
pub type Opened<T> = Result<(Signed<T>, bool), VaultError>;

/// Opens a bundle ([`salus_types::vault::bundle_message`]): decodes each
/// request, and says for each whether the bundle's signature authenticates it
/// (it verifies under the key the request's header names). Each request
/// carries the bundle's signature, which makes its identity.
pub fn open_bundle<T: VaultRequest>(encoded: &[Vec<u8>], signature: &Signature) -> Vec<Opened<T>> {
    let decoded: Vec<Result<T, VaultError>> = encoded
        .iter()
        .map(|bytes| {
            salus_types::vault::decode_bundled::<T>(bytes)
                .map_err(|e| VaultError::Malformed(e.to_string()))
        })
        .collect();
    let key = decoded
        .iter()
        .find_map(|d| d.as_ref().ok().map(|body| body.header().public_key));
    let refs: Vec<&[u8]> = encoded.iter().map(Vec::as_slice).collect();
    let verified = key.is_some_and(|key| {
        key.verify(&salus_types::vault::bundle_message::<T>(&refs), signature)
            .is_ok()
    });
    decoded
        .into_iter()
        .map(|body| {
            let body = body?;
            let authentic = verified && Some(body.header().public_key) == key;
            Ok((
                Signed {
                    body,
                    signature: *signature,
                },
                authentic,
            ))
        })
        .collect()
}

/// Verifies every request's signature, in parallel batches.
fn verify_signatures<T: VaultRequest>(requests: &[Signed<T>]) -> Vec<bool> {
    salus_crypto::verify_each(
        requests
            .iter()
            .map(|r| (r.body.header().public_key, r.signing_bytes(), r.signature)),
    )
}
