//! Replication between vaults. A vault that lacks a version's ciphertext asks
//! the other vault operators named at genesis, and keeps the first answer whose
//! bytes hash to the anchored hash. Only vault operators may ask, and only for
//! records that are not erased.

use std::sync::Arc;

use salus_app::{audit, records};
use salus_types::records::{RecordId, MAX_RECORD_BYTES};
use salus_types::vault::{ciphertext_hash, KeyEnvelope, ReplicaRequest, RequestHeader, Signed};
use salus_types::Hash;
use tracing::{debug, warn};

use crate::blobs::StoredVersion;
use crate::ledger::Accepted;
use salus_api::vault::{ReplicaBody, ReplicaResponse};

use crate::wire::from_base64;
use crate::{verify_signatures, Vault, VaultError};

impl Vault {
    /// Answers another vault's replica request: the ciphertext and envelopes.
    pub async fn replica(
        self: &Arc<Self>,
        request: Signed<ReplicaRequest>,
    ) -> Result<(Vec<u8>, Vec<KeyEnvelope>), VaultError> {
        let vault = self.clone();
        let (request, hash) = tokio::task::spawn_blocking(move || {
            let checked = vault.check_replica(&request);
            (request, checked)
        })
        .await
        .map_err(|e| VaultError::Storage(format!("check task failed: {e}")))?;
        let (request_hash, content_hash) = hash?;
        let accepted = [Accepted {
            request: request_hash,
            issued_ms: request.body.header.issued_ms,
            audit: None,
        }];
        if self.commit(accepted.into()).await?.contains(&true) {
            return Err(VaultError::Replayed);
        }
        let body = &request.body;
        let stored = self
            .stored(&body.record, body.version, &content_hash)
            .await?
            .ok_or(VaultError::Unavailable)?;
        Ok((stored.content, stored.envelopes))
    }

    fn check_replica(&self, request: &Signed<ReplicaRequest>) -> Result<(Hash, Hash), VaultError> {
        let signature_ok = verify_signatures(std::slice::from_ref(request))[0];
        let snapshot = self.state.snapshot()?;
        let hash = self.admit(&snapshot, request, signature_ok, self.now_ms())?;
        if audit::vault_endpoint(&snapshot, &request.body.header.signer)?.is_none() {
            return Err(VaultError::NotAVault);
        }
        let body = &request.body;
        let head = records::head(&snapshot, &body.record)?.ok_or(VaultError::UnknownRecord)?;
        if head.erased_ms.is_some() {
            return Err(VaultError::Denied(
                salus_types::consent::AccessReason::Erased,
            ));
        }
        let anchored = records::version(&snapshot, &body.record, body.version)?
            .ok_or(VaultError::NotAnchored(body.version))?;
        Ok((hash, anchored.ciphertext_hash))
    }

    /// Fetches a version (its ciphertext and every key envelope) from the
    /// first peer whose ciphertext matches `expected`, and keeps it.
    pub(crate) async fn replicate(
        &self,
        record: &RecordId,
        version: u32,
        expected: &Hash,
    ) -> Result<(), VaultError> {
        let peers: Vec<_> = {
            let snapshot = self.state.snapshot()?;
            audit::vaults(&snapshot)?
                .into_iter()
                .filter(|v| v.account != self.account && !v.endpoint.is_empty())
                .collect()
        };
        for peer in peers {
            let header = RequestHeader::new(
                &self.chain_id,
                peer.account,
                self.account,
                &self.operator,
                self.now_ms(),
            );
            let request = Signed::sign(
                ReplicaRequest {
                    header,
                    record: *record,
                    version,
                },
                &self.operator,
            );
            match self.fetch_replica(&peer.endpoint, &request).await {
                Ok((content, envelopes)) => {
                    if ciphertext_hash(&content) != *expected {
                        warn!(peer = %peer.account, %record, version, "peer sent ciphertext that does not match the anchor; ignored");
                        continue;
                    }
                    let envelopes = self.current_envelopes(envelopes)?;
                    if self
                        .blobs
                        .version(record, version, expected)
                        .await?
                        .is_some()
                    {
                        // Held already: take only keys for readers who have none here.
                        self.blobs
                            .add_missing_envelopes(record, version, expected, &envelopes)
                            .await?;
                    } else {
                        let stored = StoredVersion { content, envelopes };
                        self.blobs
                            .put_version(record, version, expected, &stored)
                            .await?;
                    }
                    self.blobs.sync().await?;
                    self.erase_if_erased(std::slice::from_ref(record)).await;
                    debug!(peer = %peer.account, %record, version, "replicated from a peer");
                    return Ok(());
                }
                Err(error) => {
                    debug!(peer = %peer.account, %record, version, %error, "peer could not supply a replica");
                }
            }
        }
        Err(VaultError::Unavailable)
    }

    async fn fetch_replica(
        &self,
        endpoint: &str,
        request: &Signed<ReplicaRequest>,
    ) -> Result<(Vec<u8>, Vec<KeyEnvelope>), VaultError> {
        let url = format!("{}{}", endpoint.trim_end_matches('/'), self.replica_path);
        let body = ReplicaBody {
            request: hex::encode(request.encode()),
        };
        let response = self
            .http
            .post(url)
            .json(&body)
            .send()
            .await
            .map_err(|e| VaultError::Storage(format!("peer unreachable: {e}")))?;
        if !response.status().is_success() {
            return Err(VaultError::Storage(format!(
                "peer answered {}",
                response.status()
            )));
        }
        // A replica is at most a record's ciphertext in base64, plus its keys.
        let limit = (MAX_RECORD_BYTES as usize / 3 + 1) * 4 + (1 << 20);
        if response
            .content_length()
            .is_some_and(|n| n as usize > limit)
        {
            return Err(VaultError::Storage("peer sent an oversized replica".into()));
        }
        let mut body = Vec::new();
        let mut response = response;
        while let Some(chunk) = response
            .chunk()
            .await
            .map_err(|e| VaultError::Storage(format!("peer stopped mid-replica: {e}")))?
        {
            if body.len() + chunk.len() > limit {
                return Err(VaultError::Storage("peer sent an oversized replica".into()));
            }
            body.extend_from_slice(&chunk);
        }
        let replica: ReplicaResponse = serde_json::from_slice(&body)
            .map_err(|e| VaultError::Storage(format!("peer sent a malformed replica: {e}")))?;
        Ok((from_base64(&replica.content)?, replica.envelopes))
    }

    /// The envelopes that name their reader's current agreement key (a peer's
    /// word is not taken for the rest), at most the per-version bound.
    fn current_envelopes(
        &self,
        envelopes: Vec<KeyEnvelope>,
    ) -> Result<Vec<KeyEnvelope>, VaultError> {
        let snapshot = self.state.snapshot()?;
        let mut kept = Vec::new();
        for envelope in envelopes
            .into_iter()
            .take(crate::blobs::MAX_ENVELOPES_PER_VERSION)
        {
            let current = salus_app::identity::did_record(&snapshot, &envelope.recipient)?
                .filter(|d| !d.deactivated)
                .map(|d| d.agreement_key);
            if current == Some(envelope.recipient_key) {
                kept.push(envelope);
            }
        }
        Ok(kept)
    }
}
