//! Many record versions read in one vault call: what a reader with a queue
//! of work (an oracle daemon) does instead of one round trip per record.
//! Each version is still its own signed, consent-checked and audited
//! request, and each is checked against its proven anchor and decrypted
//! exactly as [`RecordFlow::get`] does.

use futures::StreamExt as _;
use salus_types::consent::Purpose;
use salus_types::records::RecordId;
use salus_types::vault::Want;

use crate::record_flow::{item, Actor, FlowError, Read, RecordFlow};
use crate::records::read_request;

/// Anchors proven at once while opening a batch.
const PROOFS_IN_FLIGHT: usize = 16;

impl RecordFlow<'_> {
    /// Reads `versions` for `purpose` in one vault call (at most
    /// `salus_api::vault::MAX_VAULT_BATCH`); one result per version, in order.
    pub async fn get_many(
        &self,
        reader: &Actor,
        versions: &[(RecordId, u32)],
        purpose: Purpose,
    ) -> Result<Vec<Result<Read, FlowError>>, FlowError> {
        if versions.len() > salus_api::vault::MAX_VAULT_BATCH {
            return Err(FlowError::Invalid(format!(
                "at most {} versions per batch",
                salus_api::vault::MAX_VAULT_BATCH
            )));
        }
        let requests: Vec<_> = versions
            .iter()
            .map(|(record, version)| {
                read_request(
                    self.header(reader),
                    &reader.signer.key,
                    *record,
                    Some(*version),
                    purpose,
                    Want::Record,
                )
            })
            .collect();
        let results = self.client.vault_read(&requests).await?;
        if results.len() != versions.len() {
            return Err(FlowError::Invalid(format!(
                "asked the vault for {} versions, it answered {}",
                versions.len(),
                results.len()
            )));
        }
        // Owned items: a closure over borrowed ones makes the future not
        // `Send` for every lifetime, which a server's handlers need.
        let items: Vec<((RecordId, u32), _)> = versions.iter().copied().zip(results).collect();
        Ok(futures::stream::iter(items)
            .map(|((record, version), result)| async move {
                self.open_served(reader, record, version, item(result)?)
                    .await
            })
            .buffered(PROOFS_IN_FLIGHT)
            .collect()
            .await)
    }
}
