//! The client side of the records, consent, audit and vault endpoints.

use salus_api::audit::{AuditParams, AuditTrail};
use salus_api::consent::{ConsentState, PatientParams, ReaderParams, Readers};
use salus_api::records::{ListParams, RecordHistory, RecordList};
use salus_api::vault::{
    to_base64, ItemResult, ReadBody, ReadResponse, ServedRecord, StoredRecord, UploadItem,
    VaultInfo, WriteBody, WriteResponse, READ, WRITE,
};
use salus_crypto::SigningKey;
use salus_types::consent::ReaderBasis;
use salus_types::records::{Category, RecordId};
use salus_types::vault::{sign_bundle, ReadRequest, Signed, WriteRequest};
use salus_types::AccountId;

use crate::records::Reader;
use crate::rpc::{Client, ClientError};

impl Client {
    /// The node's vault: its operator account (requests must name it).
    pub async fn vault_account(&self) -> Result<AccountId, ClientError> {
        Ok(self.vault_info().await?.account)
    }

    /// The node's vault: operator, chain, and audit entries not yet final.
    pub async fn vault_info(&self) -> Result<VaultInfo, ClientError> {
        self.get(salus_api::vault::INFO).await
    }

    /// Sends signed read requests; one result per request, in order.
    pub async fn vault_read(
        &self,
        requests: &[Signed<ReadRequest>],
    ) -> Result<Vec<ItemResult<ServedRecord>>, ClientError> {
        let body = ReadBody {
            requests: requests.iter().map(|r| hex::encode(r.encode())).collect(),
            bundle_signature: None,
        };
        let response: ReadResponse = self.post_json(READ, &body).await?;
        Ok(response.results)
    }

    /// Sends read requests signed once, as a bundle; one result per request,
    /// in order. Every request's header must name `key`.
    pub async fn vault_read_bundle(
        &self,
        requests: &[ReadRequest],
        key: &SigningKey,
    ) -> Result<Vec<ItemResult<ServedRecord>>, ClientError> {
        let (encoded, signature) = sign_bundle(requests, key);
        let body = ReadBody {
            requests: encoded.iter().map(hex::encode).collect(),
            bundle_signature: Some(signature.to_hex()),
        };
        let response: ReadResponse = self.post_json(READ, &body).await?;
        Ok(response.results)
    }

    /// Uploads writes signed once, as a bundle, with their ciphertext; one
    /// result per upload, in order. Every request's header must name `key`.
    pub async fn vault_write_bundle(
        &self,
        uploads: &[(WriteRequest, Option<&[u8]>)],
        key: &SigningKey,
    ) -> Result<Vec<ItemResult<StoredRecord>>, ClientError> {
        let requests: Vec<WriteRequest> = uploads.iter().map(|(r, _)| r.clone()).collect();
        let (encoded, signature) = sign_bundle(&requests, key);
        let body = WriteBody {
            uploads: encoded
                .iter()
                .zip(uploads)
                .map(|(request, (_, content))| UploadItem {
                    request: hex::encode(request),
                    content: content.map(to_base64),
                })
                .collect(),
            bundle_signature: Some(signature.to_hex()),
        };
        let response: WriteResponse = self.post_json(WRITE, &body).await?;
        Ok(response.results)
    }

    /// Uploads signed writes with their ciphertext; one result per upload.
    pub async fn vault_write(
        &self,
        uploads: &[(Signed<WriteRequest>, Option<&[u8]>)],
    ) -> Result<Vec<ItemResult<StoredRecord>>, ClientError> {
        let body = WriteBody {
            uploads: uploads
                .iter()
                .map(|(request, content)| UploadItem {
                    request: hex::encode(request.encode()),
                    content: content.map(to_base64),
                })
                .collect(),
            bundle_signature: None,
        };
        let response: WriteResponse = self.post_json(WRITE, &body).await?;
        Ok(response.results)
    }

    /// Who the node says must be able to read a new record of `patient` in
    /// `category`, and why. Unchecked: `RecordFlow` checks each with proofs.
    pub async fn readers(
        &self,
        patient: &AccountId,
        record: &RecordId,
        category: Category,
    ) -> Result<Vec<(Reader, ReaderBasis)>, ClientError> {
        let params = ReaderParams {
            patient: patient.to_hex(),
            record: record.to_hex(),
            category: category.name().to_owned(),
        };
        let readers: Readers = self.get_query(salus_api::consent::READERS, &params).await?;
        Ok(readers
            .readers
            .into_iter()
            .map(|r| {
                (
                    Reader {
                        account: r.account,
                        key: r.agreement_key,
                    },
                    r.basis,
                )
            })
            .collect())
    }

    /// A record's anchors: its head and every version.
    pub async fn record(&self, record: &RecordId) -> Result<RecordHistory, ClientError> {
        self.get(&format!("{}/{record}", salus_api::records::HISTORY))
            .await
    }

    /// A patient's records (the first page of up to 500).
    pub async fn records_of(&self, patient: &AccountId) -> Result<RecordList, ClientError> {
        self.records_page(patient, None).await
    }

    /// A page of a patient's records, in record id order, after `after`.
    pub async fn records_page(
        &self,
        patient: &AccountId,
        after: Option<&RecordId>,
    ) -> Result<RecordList, ClientError> {
        let params = ListParams {
            patient: patient.to_hex(),
            after: after.map(RecordId::to_hex),
            limit: Some(salus_api::MAX_PAGE),
        };
        self.get_query(salus_api::records::LIST, &params).await
    }

    /// Every record of a patient, page after page.
    pub async fn all_records_of(
        &self,
        patient: &AccountId,
    ) -> Result<Vec<salus_api::records::RecordListing>, ClientError> {
        let mut all = Vec::new();
        loop {
            let page = self
                .records_page(
                    patient,
                    all.last()
                        .map(|r: &salus_api::records::RecordListing| &r.record),
                )
                .await?;
            let full = page.records.len() >= salus_api::MAX_PAGE;
            all.extend(page.records);
            if !full {
                return Ok(all);
            }
        }
    }

    /// A patient's unrevoked grants, delegations and emergency policy.
    pub async fn consent_of(&self, patient: &AccountId) -> Result<ConsentState, ClientError> {
        let params = PatientParams {
            patient: patient.to_hex(),
        };
        self.get_query(salus_api::consent::CONSENT, &params).await
    }

    /// A patient's audit trail: accesses and consent changes, newest first.
    pub async fn audit(
        &self,
        patient: &AccountId,
        limit: usize,
    ) -> Result<AuditTrail, ClientError> {
        let params = AuditParams {
            patient: patient.to_hex(),
            before: None,
            limit: Some(limit),
        };
        self.get_query(salus_api::audit::AUDIT, &params).await
    }
}
