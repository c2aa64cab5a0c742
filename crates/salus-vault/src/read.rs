//! Reads: admission, the consent decision on finalized state, the durable
//! audit entry, then the ciphertext and the reader's wrapped key.

use std::sync::Arc;

use salus_app::consent::{decide, Access};
use salus_crypto::AgreementPublicKey;
use salus_types::audit::AccessEntry;
use salus_types::consent::AccessReason;
use salus_types::records::RecordId;
use salus_types::vault::{KeyEnvelope, ReadRequest, Signed, Want};
use salus_types::{AccountId, Hash};

use futures::StreamExt as _;

use crate::blobs::StoredVersion;
use crate::ledger::Accepted;
use crate::{blocking, verify_signatures, Vault, VaultError};

/// Requests completed concurrently (those that fetch from peers wait long).
const PARALLEL_LOADS: usize = 16;
/// The most ciphertext one read call returns.
pub const MAX_SERVED_BYTES: u64 = 64 * 1024 * 1024;

/// A record version served to its reader.
#[derive(Debug, Clone)]
pub struct Served {
    pub record: RecordId,
    pub version: u32,
    pub patient: AccountId,
    pub reason: AccessReason,
    pub grant: Option<u64>,
    pub ciphertext_hash: Hash,
    /// `None` when only the key was asked for.
    pub content: Option<Vec<u8>>,
    pub envelope: KeyEnvelope,
}

/// A decided request and what it gets.
type Loaded = (Decided, Result<Served, VaultError>);

/// A request that passed admission and got a consent decision.
struct Decided {
    request: Hash,
    issued_ms: u64,
    want: Want,
    entry: AccessEntry,
    ciphertext_hash: Hash,
    ciphertext_len: u64,
    /// The reader's current agreement key: an envelope wrapped to it needs
    /// no look at envelopes added later.
    reader_key: Option<AgreementPublicKey>,
}

impl Vault {
    /// Serves a batch of signed read requests; one result per request, in order.
    ///
    /// Every request that passes admission (a fresh, correctly signed request
    /// from a known signer, for a record the chain knows) is decided and logged
    /// for the audit trail, allowed or denied, before any answer is returned.
    pub async fn read(
        self: &Arc<Self>,
        requests: Vec<Signed<ReadRequest>>,
    ) -> Vec<Result<Served, VaultError>> {
        self.read_checked(requests, None).await
    }

    /// Serves the requests of one bundle ([`crate::open_bundle`]), given for
    /// each whether the bundle's signature authenticates it.
    pub async fn read_bundled(
        self: &Arc<Self>,
        requests: Vec<Signed<ReadRequest>>,
        authentic: Vec<bool>,
    ) -> Vec<Result<Served, VaultError>> {
        assert_eq!(requests.len(), authentic.len(), "one verdict per request");
        self.read_checked(requests, Some(authentic)).await
    }

    async fn read_checked(
        self: &Arc<Self>,
        requests: Vec<Signed<ReadRequest>>,
        authentic: Option<Vec<bool>>,
    ) -> Vec<Result<Served, VaultError>> {
        let count = requests.len();
        let vault = self.clone();
        let decided = match blocking(move || {
            let authentic = authentic.unwrap_or_else(|| verify_signatures(&requests));
            vault.decide_reads(&requests, authentic)
        })
        .await
        {
            Ok(decided) => decided,
            Err(e) => return vec![Err(e); count],
        };
        // Every allowed version at once: one index lookup, one read per pack.
        let wanted: Vec<(RecordId, u32, Hash)> = decided
            .iter()
            .flatten()
            .filter(|d| d.entry.reason.allows())
            .map(|d| (d.entry.record, d.entry.version, d.ciphertext_hash))
            .collect();
        let mut prefetched = self.blobs.versions(&wanted).await.into_iter();
        let outcomes: Vec<Result<Loaded, VaultError>> =
            futures::stream::iter(decided.into_iter().map(|item| {
                let held = match &item {
                    Ok(d) if d.entry.reason.allows() => prefetched.next(),
                    _ => None,
                };
                async move {
                    let mut decided = item?;
                    let served = match held {
                        Some(held) => self.load(&mut decided, held).await,
                        None => Err(VaultError::Denied(decided.entry.reason)),
                    };
                    Ok((decided, served))
                }
            }))
            .buffered(PARALLEL_LOADS)
            .collect()
            .await;
        // Consent may have changed while the versions loaded: decide again on
        // the newest finalized state, so a revocation stops this answer too.
        let vault = self.clone();
        let outcomes = match blocking(move || vault.recheck(outcomes)).await {
            Ok(outcomes) => outcomes,
            Err(e) => return vec![Err(e); count],
        };
        // Log every decision durably before answering.
        let accepted: Vec<Accepted> = outcomes
            .iter()
            .filter_map(|o| o.as_ref().ok())
            .map(|(d, _)| Accepted {
                request: d.request,
                issued_ms: d.issued_ms,
                audit: Some(d.entry.clone()),
            })
            .collect();
        let mut replayed = match self.commit(accepted).await {
            Ok(flags) => flags.into_iter(),
            Err(e) => return vec![Err(e); count],
        };
        outcomes
            .into_iter()
            .map(|outcome| {
                let (_, served) = outcome?;
                if replayed.next().unwrap_or(true) {
                    return Err(VaultError::Replayed);
                }
                served
            })
            .collect()
    }

    /// Decides allowed reads again on a fresh snapshot; a read that consent no
    /// longer allows is denied, and its audit entry says why.
    fn recheck(
        &self,
        outcomes: Vec<Result<Loaded, VaultError>>,
    ) -> Result<Vec<Result<Loaded, VaultError>>, VaultError> {
        let snapshot = self.state.snapshot()?;
        let now = self.now_ms();
        outcomes
            .into_iter()
            .map(|outcome| {
                let Ok((mut decided, served)) = outcome else {
                    return Ok(outcome);
                };
                if served.is_err() {
                    return Ok(Ok((decided, served)));
                }
                let entry = &mut decided.entry;
                let again = decide(
                    &snapshot,
                    &entry.requester,
                    &entry.record,
                    Some(entry.version),
                    entry.purpose,
                    now,
                )?;
                match again {
                    Access::Decided { reason, .. } if reason.allows() => Ok(Ok((decided, served))),
                    Access::Decided { reason, .. } => {
                        entry.reason = reason;
                        entry.grant = None;
                        Ok(Ok((decided, Err(VaultError::Denied(reason)))))
                    }
                    Access::UnknownRecord => Ok(Err(VaultError::UnknownRecord)),
                }
            })
            .collect()
    }

    /// Admission and consent for each request, on one finalized snapshot.
    fn decide_reads(
        &self,
        requests: &[Signed<ReadRequest>],
        signatures: Vec<bool>,
    ) -> Result<Vec<Result<Decided, VaultError>>, VaultError> {
        let snapshot = self.state.snapshot()?;
        let now = self.now_ms();
        let mut out = Vec::with_capacity(requests.len());
        let mut serving = 0u64;
        for (signed, signature_ok) in requests.iter().zip(signatures) {
            let decided = self.decide_read(&snapshot, signed, signature_ok, now);
            // Bound what one answer may carry: refuse the excess, undecided.
            let decided = decided.and_then(|d| {
                if d.want == Want::Record && d.entry.reason.allows() {
                    serving = serving.saturating_add(d.ciphertext_len);
                    if serving > MAX_SERVED_BYTES {
                        return Err(VaultError::TooMuchAtOnce(MAX_SERVED_BYTES));
                    }
                }
                Ok(d)
            });
            out.push(decided);
        }
        Ok(out)
    }

    fn decide_read(
        &self,
        snapshot: &salus_state::Snapshot,
        signed: &Signed<ReadRequest>,
        signature_ok: bool,
        now: u64,
    ) -> Result<Decided, VaultError> {
        let request = self.admit(snapshot, signed, signature_ok, now)?;
        let body = &signed.body;
        let requester = body.header.signer;
        self.require_identity(snapshot, &requester)?;
        let (patient, version, reason, grant) = match decide(
            snapshot,
            &requester,
            &body.record,
            body.version,
            body.purpose,
            now,
        )? {
            // Nothing to attribute the attempt to: refused, not logged on chain.
            Access::UnknownRecord => return Err(VaultError::UnknownRecord),
            Access::Decided {
                patient,
                version,
                reason,
                grant,
            } => (patient, version, reason, grant),
        };
        let (ciphertext_hash, ciphertext_len) =
            salus_app::records::version(snapshot, &body.record, version)?
                .map_or((Hash::ZERO, 0), |v| (v.ciphertext_hash, v.ciphertext_len));
        let reader_key =
            salus_app::identity::did_record(snapshot, &requester)?.map(|d| d.agreement_key);
        Ok(Decided {
            request,
            issued_ms: body.header.issued_ms,
            want: body.want,
            ciphertext_hash,
            ciphertext_len,
            reader_key,
            entry: AccessEntry {
                record: body.record,
                version,
                patient,
                requester,
                purpose: body.purpose,
                reason,
                grant,
                at_ms: now,
                request,
            },
        })
    }

    /// Loads what an allowed request gets, given what this vault holds of the
    /// version (`held`). A reader whose key was never wrapped is denied
    /// (`key_not_shared`), and the audit entry says so.
    async fn load(
        &self,
        decided: &mut Decided,
        held: Result<Option<StoredVersion>, VaultError>,
    ) -> Result<Served, VaultError> {
        let entry = &mut decided.entry;
        let (record, version, hash) = (entry.record, entry.version, decided.ciphertext_hash);
        let reader = entry.requester;
        let mut stored = held?;
        let current = stored
            .as_ref()
            .and_then(|s| find(s, &reader))
            .is_some_and(|e| Some(e.recipient_key) == decided.reader_key);
        if stored.is_some() && !current {
            let added = self.blobs.added_envelopes(&record, version).await?;
            stored = stored.map(|s| s.with_added(added));
        }
        if stored.as_ref().is_none_or(|s| find(s, &reader).is_none()) {
            // A peer may hold this version, or keys wrapped after this vault
            // got its copy; failing that, the key was never shared.
            match self.replicate(&record, version, &hash).await {
                Ok(()) => stored = self.stored(&record, version, &hash).await?,
                // Neither this vault nor a peer has the version: an outage,
                // not a consent answer.
                Err(e) if stored.is_none() => return Err(e),
                Err(_) => {}
            }
        }
        let stored = stored.ok_or(VaultError::Unavailable)?;
        let Some(envelope) = find(&stored, &reader) else {
            entry.reason = AccessReason::KeyNotShared;
            entry.grant = None;
            return Err(VaultError::Denied(AccessReason::KeyNotShared));
        };
        Ok(Served {
            record,
            version,
            patient: entry.patient,
            reason: entry.reason,
            grant: entry.grant,
            ciphertext_hash: hash,
            content: (decided.want == Want::Record).then_some(stored.content),
            envelope,
        })
    }

    /// A version with every envelope this vault holds for it.
    pub(crate) async fn stored(
        &self,
        record: &RecordId,
        version: u32,
        hash: &Hash,
    ) -> Result<Option<StoredVersion>, VaultError> {
        let Some(stored) = self.blobs.version(record, version, hash).await? else {
            return Ok(None);
        };
        let added = self.blobs.added_envelopes(record, version).await?;
        Ok(Some(stored.with_added(added)))
    }
}

fn find(stored: &StoredVersion, reader: &AccountId) -> Option<KeyEnvelope> {
    stored
        .envelopes
        .iter()
        .find(|e| e.recipient == *reader)
        .cloned()
}
