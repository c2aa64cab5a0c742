//! Writes: ciphertext for an anchored version, and key envelopes for it.
//!
//! A vault stores only what the finalized chain anchors: the version must
//! exist, the content must hash to the anchored hash, and the writer must be
//! the version's author, the patient or a guardian. Envelopes must name each
//! reader's current agreement key, so that every stored envelope can be opened.

use std::sync::Arc;

use salus_app::{consent, identity, records};
use salus_types::vault::{ciphertext_hash, Signed, WriteRequest, MAX_ENVELOPES};

use futures::StreamExt as _;

use crate::blobs::pack::PackedVersion;
use crate::blobs::StoredVersion;

use crate::ledger::Accepted;
use salus_types::records::RecordId;

use crate::{blocking, verify_signatures, Vault, VaultError};

/// Envelope-only uploads stored concurrently (the object store works off-runtime).
const PARALLEL_STORES: usize = 16;

/// A signed write request and the ciphertext it names, if any.
#[derive(Debug, Clone)]
pub struct Upload {
    pub request: Signed<WriteRequest>,
    pub content: Option<Vec<u8>>,
}

/// What a write stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stored {
    pub content_stored: bool,
    pub envelopes: usize,
}

impl Vault {
    /// Stores a batch of uploads; one result per upload, in order.
    pub async fn write(self: &Arc<Self>, uploads: Vec<Upload>) -> Vec<Result<Stored, VaultError>> {
        self.write_checked(uploads, None).await
    }

    /// Stores the uploads of one bundle ([`crate::open_bundle`]), given for
    /// each whether the bundle's signature authenticates its request.
    pub async fn write_bundled(
        self: &Arc<Self>,
        uploads: Vec<Upload>,
        authentic: Vec<bool>,
    ) -> Vec<Result<Stored, VaultError>> {
        assert_eq!(uploads.len(), authentic.len(), "one verdict per upload");
        self.write_checked(uploads, Some(authentic)).await
    }

    async fn write_checked(
        self: &Arc<Self>,
        uploads: Vec<Upload>,
        authentic: Option<Vec<bool>>,
    ) -> Vec<Result<Stored, VaultError>> {
        let count = uploads.len();
        let vault = self.clone();
        let checked = match blocking(move || {
            let checks = vault.check_writes(&uploads, authentic)?;
            Ok(uploads.into_iter().zip(checks).collect::<Vec<_>>())
        })
        .await
        {
            Ok(checked) => checked,
            Err(e) => return vec![Err(e); count],
        };
        // Mark the requests used first: a replayed upload must not store twice.
        let accepted: Vec<Accepted> = checked
            .iter()
            .filter_map(|(upload, check)| {
                check.as_ref().ok().map(|request| Accepted {
                    request: *request,
                    issued_ms: upload.request.body.header.issued_ms,
                    audit: None,
                })
            })
            .collect();
        let mut replayed = match self.commit(accepted).await {
            Ok(flags) => flags.into_iter(),
            Err(e) => return vec![Err(e); count],
        };
        let admitted: Vec<(Upload, Result<(), VaultError>)> = checked
            .into_iter()
            .map(|(upload, check)| {
                let verdict = match check {
                    Err(e) => Err(e),
                    Ok(_) if replayed.next().unwrap_or(true) => Err(VaultError::Replayed),
                    Ok(_) => Ok(()),
                };
                (upload, verdict)
            })
            .collect();
        let written: Vec<RecordId> = admitted
            .iter()
            .filter(|(_, verdict)| verdict.is_ok())
            .map(|(upload, _)| upload.request.body.record)
            .collect();
        let mut results = self.store_all(admitted).await;
        // Acknowledge nothing until it is durable.
        if results.iter().any(Result::is_ok) {
            if let Err(e) = self.blobs.sync().await {
                for result in results.iter_mut().filter(|r| r.is_ok()) {
                    *result = Err(e.clone());
                }
            }
            // An erasure finalized while these were stored must still win.
            self.erase_if_erased(&written).await;
        }
        results
    }

    /// Stores admitted uploads: every new version in one durable pack, and
    /// envelope-only uploads one by one.
    async fn store_all(
        &self,
        admitted: Vec<(Upload, Result<(), VaultError>)>,
    ) -> Vec<Result<Stored, VaultError>> {
        let mut results = Vec::with_capacity(admitted.len());
        let mut versions = Vec::new();
        let mut in_pack = Vec::new();
        let mut envelopes_only = Vec::new();
        for (at, (upload, verdict)) in admitted.into_iter().enumerate() {
            let body = upload.request.body;
            let stored = Stored {
                content_stored: body.content.is_some() && upload.content.is_some(),
                envelopes: body.envelopes.len(),
            };
            results.push(verdict.map(|()| stored));
            if results[at].is_err() {
                continue;
            }
            match (body.content, upload.content) {
                (Some(hash), Some(content)) => {
                    in_pack.push(at);
                    versions.push(PackedVersion {
                        record: body.record,
                        version: body.version,
                        hash,
                        stored: StoredVersion {
                            content,
                            envelopes: body.envelopes,
                        },
                    });
                }
                _ => envelopes_only.push((at, body.record, body.version, body.envelopes)),
            }
        }
        if !versions.is_empty() {
            if let Err(e) = self.blobs.put_versions(versions).await {
                for at in in_pack {
                    results[at] = Err(e.clone());
                }
            }
        }
        let added: Vec<(usize, Result<(), VaultError>)> =
            futures::stream::iter(envelopes_only.into_iter().map(
                |(at, record, version, envelopes)| async move {
                    (
                        at,
                        self.blobs.add_envelopes(&record, version, &envelopes).await,
                    )
                },
            ))
            .buffered(PARALLEL_STORES)
            .collect()
            .await;
        for (at, outcome) in added {
            if let Err(e) = outcome {
                results[at] = Err(e);
            }
        }
        results
    }

    fn check_writes(
        &self,
        uploads: &[Upload],
        authentic: Option<Vec<bool>>,
    ) -> Result<Vec<Result<salus_types::Hash, VaultError>>, VaultError> {
        let signatures = authentic.unwrap_or_else(|| {
            let requests: Vec<Signed<WriteRequest>> =
                uploads.iter().map(|u| u.request.clone()).collect();
            verify_signatures(&requests)
        });
        let snapshot = self.state.snapshot()?;
        let now = self.now_ms();
        Ok(uploads
            .iter()
            .zip(signatures)
            .map(|(upload, signature_ok)| self.check_write(&snapshot, upload, signature_ok, now))
            .collect())
    }

    fn check_write(
        &self,
        snapshot: &salus_state::Snapshot,
        upload: &Upload,
        signature_ok: bool,
        now: u64,
    ) -> Result<salus_types::Hash, VaultError> {
        let request = self.admit(snapshot, &upload.request, signature_ok, now)?;
        let body = &upload.request.body;
        self.require_identity(snapshot, &body.header.signer)?;
        let head = records::head(snapshot, &body.record)?.ok_or(VaultError::UnknownRecord)?;
        if head.erased_ms.is_some() {
            return Err(VaultError::Denied(
                salus_types::consent::AccessReason::Erased,
            ));
        }
        let anchored = records::version(snapshot, &body.record, body.version)?
            .ok_or(VaultError::NotAnchored(body.version))?;
        let writer = body.header.signer;
        if writer != anchored.author
            && !consent::is_patient_or_guardian(snapshot, &head.patient, &writer, now)?
        {
            return Err(VaultError::NotAuthorized);
        }
        match (&body.content, &upload.content) {
            (None, None) => {}
            (Some(hash), Some(bytes)) => {
                if *hash != anchored.ciphertext_hash
                    || ciphertext_hash(bytes) != *hash
                    || bytes.len() as u64 != anchored.ciphertext_len
                {
                    return Err(VaultError::ContentMismatch);
                }
            }
            _ => return Err(VaultError::ContentMismatch),
        }
        if body.envelopes.len() > MAX_ENVELOPES {
            return Err(VaultError::TooManyEnvelopes(MAX_ENVELOPES));
        }
        for envelope in &body.envelopes {
            let current =
                identity::did_record(snapshot, &envelope.recipient)?.map(|d| d.agreement_key);
            if current != Some(envelope.recipient_key) {
                return Err(VaultError::BadEnvelope(envelope.recipient));
            }
        }
        Ok(request)
    }
}
