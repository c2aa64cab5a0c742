//! Many record versions written in one transaction. A FHIR transaction
//! Bundle must land whole or not at all, and the chain already executes a
//! transaction's actions all or nothing, so every version's anchor goes into
//! one transaction; the ciphertexts follow in one vault call, signed once.

use salus_crypto::Hash;
use salus_types::records::{Category, RecordId};
use salus_types::AccountId;

use crate::record_flow::{item, submit, Actor, FlowError, RecordFlow, Written};
use crate::records::{seal_version, RecordError, SealedVersion};

/// Uploads of an anchored batch tried before giving up.
const UPLOAD_ATTEMPTS: u64 = 3;

/// Where a new version will go: chosen before the content is final, so that
/// a writer can put the record's id and version inside the content it seals
/// (a FHIR server writes `id` and `meta.versionId`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Slot {
    pub patient: AccountId,
    pub record: RecordId,
    pub version: u32,
    /// The digest of the version this one follows (`None` for version 1).
    pub previous: Option<Hash>,
    pub category: Category,
}

impl RecordFlow<'_> {
    /// Uploads anchored versions' ciphertext and envelopes in one bundle,
    /// retried (with fresh request headers) before the error is reported:
    /// an anchored version is unreadable until it is stored.
    pub async fn upload_sealed(
        &self,
        author: &Actor,
        versions: &[&SealedVersion],
    ) -> Result<(), FlowError> {
        if versions.is_empty() {
            return Ok(());
        }
        let mut attempt = 0;
        loop {
            let uploads: Vec<_> = versions
                .iter()
                .map(|v| {
                    (
                        v.upload_request(self.header(author)),
                        Some(v.ciphertext.as_slice()),
                    )
                })
                .collect();
            let stored = match self
                .client
                .vault_write_bundle(&uploads, &author.signer.key)
                .await
            {
                Ok(results) if results.len() == uploads.len() => {
                    results.into_iter().try_for_each(|r| item(r).map(drop))
                }
                Ok(results) => Err(FlowError::Invalid(format!(
                    "uploaded {} versions, the vault answered {}",
                    uploads.len(),
                    results.len()
                ))),
                Err(e) => Err(e.into()),
            };
            attempt += 1;
            match stored {
                Ok(()) => return Ok(()),
                Err(e) if attempt >= UPLOAD_ATTEMPTS => return Err(e),
                Err(_) => tokio::time::sleep(std::time::Duration::from_millis(200 * attempt)).await,
            }
        }
    }

    /// The slot of a new record of `patient`, or of the next version of
    /// `existing` (which keeps its category), read from proven state. The
    /// chain refuses a version whose patient is not the record's.
    pub async fn slot(
        &self,
        patient: AccountId,
        existing: Option<RecordId>,
        category: Category,
    ) -> Result<Slot, FlowError> {
        let Some(record) = existing else {
            return Ok(Slot {
                patient,
                record: RecordId::random(),
                version: 1,
                previous: None,
                category,
            });
        };
        let head = self
            .head(&record)
            .await?
            .ok_or_else(|| FlowError::Invalid(format!("record {record} is unknown")))?;
        let latest = self
            .anchored(&record, head.latest_version)
            .await?
            .ok_or_else(|| {
                FlowError::Invalid(format!("record {record} lacks its latest version"))
            })?;
        Ok(Slot {
            patient,
            record,
            version: head.latest_version + 1,
            previous: Some(latest.digest(&record)),
            category: head.category,
        })
    }

    /// Seals each content to the readers consent names for its slot, anchors
    /// them all in one transaction (all or nothing), waits for finality and
    /// uploads them in one bundle. The caller has checked the contents.
    pub async fn put_slots(
        &self,
        author: &mut Actor,
        items: Vec<(Slot, Vec<u8>)>,
    ) -> Result<Vec<Written>, FlowError> {
        if items.is_empty() {
            return Ok(Vec::new());
        }
        let mut sealed = Vec::with_capacity(items.len());
        let mut anchors = Vec::with_capacity(items.len());
        for (slot, content) in &items {
            let mut readers = self
                .verified_readers(&slot.patient, &slot.record, slot.category)
                .await?;
            readers.push(author.reader());
            let version = seal_version(slot.record, slot.version, content, &readers, &self.keys)
                .map_err(RecordError::from)?;
            anchors.push(version.anchor(slot.patient, slot.category, slot.previous));
            sealed.push(version);
        }
        let outcome = submit(self.client, &mut author.signer, anchors).await?;
        // The anchors are final: the versions are unreadable until their
        // ciphertext is stored.
        self.upload_sealed(author, &sealed.iter().collect::<Vec<_>>())
            .await?;
        Ok(sealed
            .iter()
            .map(|v| Written {
                record: v.record,
                version: v.version,
                height: outcome.height,
                readers: v.envelopes.iter().map(|e| e.recipient).collect(),
                ciphertext_hash: v.ciphertext_hash,
            })
            .collect())
    }
}
