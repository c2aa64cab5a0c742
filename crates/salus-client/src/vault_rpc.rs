//! The client side of the records, consent, audit and vault endpoints.

use salus_crypto::SigningKey;
use salus_types::consent::ReaderBasis;
use salus_types::records::{Category, RecordId};
use salus_types::vault::{sign_bundle, ReadRequest, Signed, WriteRequest};
use salus_types::AccountId;
use salus_vault::wire::{
    to_base64, ItemResult, ReadBody, ReadResponse, ServedRecord, StoredRecord, UploadItem,
    WriteBody, WriteResponse,
};
use serde_json::Value;

use crate::records::Reader;
use crate::rpc::{Client, ClientError};

impl Client {
    /// The node's vault: its operator account (requests must name it).
    pub async fn vault_account(&self) -> Result<AccountId, ClientError> {
        let info = self.get_json("/v1/vault").await?;
        info["account"]
            .as_str()
            .and_then(|s| AccountId::from_hex(s).ok())
            .ok_or_else(|| ClientError::Decode("vault info has no account".into()))
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
        let response: ReadResponse = self.post_json("/v1/vault/read", &body).await?;
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
        let response: ReadResponse = self.post_json("/v1/vault/read", &body).await?;
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
        let response: WriteResponse = self.post_json("/v1/vault/records", &body).await?;
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
        let response: WriteResponse = self.post_json("/v1/vault/records", &body).await?;
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
        let value = self
            .get_json(&format!(
                "/v1/consent/readers?patient={patient}&record={record}&category={category}"
            ))
            .await?;
        parse_readers(&value["readers"])
    }

    /// A record's anchors: its head and every version.
    pub async fn record(&self, record: &RecordId) -> Result<Value, ClientError> {
        self.get_json(&format!("/v1/records/{record}")).await
    }

    /// A patient's records.
    pub async fn records_of(&self, patient: &AccountId) -> Result<Value, ClientError> {
        self.get_json(&format!("/v1/records?patient={patient}"))
            .await
    }

    /// A patient's unrevoked grants, delegations and emergency policy.
    pub async fn consent_of(&self, patient: &AccountId) -> Result<Value, ClientError> {
        self.get_json(&format!("/v1/consent?patient={patient}"))
            .await
    }

    /// A patient's audit trail: accesses and consent changes, newest first.
    pub async fn audit(&self, patient: &AccountId, limit: usize) -> Result<Value, ClientError> {
        self.get_json(&format!("/v1/audit?patient={patient}&limit={limit}"))
            .await
    }
}

fn parse_readers(value: &Value) -> Result<Vec<(Reader, ReaderBasis)>, ClientError> {
    let bad = || ClientError::Decode("malformed reader list".into());
    value
        .as_array()
        .ok_or_else(bad)?
        .iter()
        .map(|r| {
            let account = r["account"]
                .as_str()
                .and_then(|s| AccountId::from_hex(s).ok())
                .ok_or_else(bad)?;
            let key = r["agreement_key"]
                .as_str()
                .and_then(|s| salus_crypto::AgreementPublicKey::from_hex(s).ok())
                .ok_or_else(bad)?;
            let basis: ReaderBasis =
                serde_json::from_value(r["basis"].clone()).map_err(|_| bad())?;
            Ok((Reader { account, key }, basis))
        })
        .collect()
}
