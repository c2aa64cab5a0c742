//! The gateway's reads: concurrent requests' vault reads leave together.
//!
//! Every read is still its own request to the vault (its own header, nonce,
//! consent decision and audit entry), but the requests waiting at one moment
//! travel in one call, signed once as a bundle. A version's ciphertext hash
//! is checked against its anchor, which never changes once final, so the
//! gateway remembers anchors it has proven or written and proves each only
//! once.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};

use salus_api::vault::{ItemResult, ServedRecord};
use salus_client::record_flow::{Actor, FlowError, Read};
use salus_client::ClientError;
use salus_crypto::Hash;
use salus_types::consent::Purpose;
use salus_types::records::RecordId;
use salus_types::vault::{ReadRequest, RequestHeader, Want};
use tokio::sync::{mpsc, oneshot};

use crate::writer::Parts;

/// Reads waiting for the reader; beyond this, callers wait to enqueue.
const QUEUE: usize = 8_192;
/// Reads per vault call: the vault serves at most 64 MiB of ciphertext per
/// call, and reads of unrelated requests must not make each other fail.
const READ_BATCH: usize = 64;
/// Anchors remembered before the memory is cleared (each is 56 bytes).
const MAX_ANCHORS: usize = 1 << 20;

struct Ask {
    record: RecordId,
    version: Option<u32>,
    purpose: Purpose,
    reply: oneshot::Sender<Result<ServedRecord, FlowError>>,
}

/// Anchored ciphertext hashes, by record version.
#[derive(Default)]
pub(crate) struct Anchors(RwLock<HashMap<(RecordId, u32), Hash>>);

impl Anchors {
    pub(crate) fn get(&self, record: RecordId, version: u32) -> Option<Hash> {
        self.0
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .get(&(record, version))
            .copied()
    }

    pub(crate) fn remember(&self, record: RecordId, version: u32, hash: Hash) {
        let mut anchors = self.0.write().unwrap_or_else(|p| p.into_inner());
        if anchors.len() >= MAX_ANCHORS {
            anchors.clear();
        }
        anchors.insert((record, version), hash);
    }
}

/// The handle reads go through.
pub(crate) struct Reads {
    queue: mpsc::Sender<Ask>,
    parts: Parts,
    pub(crate) anchors: Arc<Anchors>,
}

impl Reads {
    pub(crate) fn start(parts: Parts, reader: &Actor) -> Reads {
        let (queue, asks) = mpsc::channel(QUEUE);
        let key = reader.signer.key.clone();
        let (chain, account) = (reader.signer.chain_id.clone(), reader.signer.account);
        tokio::spawn(run(parts.clone(), chain, account, key, asks));
        Reads {
            queue,
            parts,
            anchors: Arc::default(),
        }
    }

    /// Reads and opens `version` of `record` (the vault's latest when `None`,
    /// which must be at least `at_least`).
    pub(crate) async fn read(
        &self,
        reader: &Actor,
        record: RecordId,
        version: Option<u32>,
        at_least: u32,
        purpose: Purpose,
    ) -> Result<Read, FlowError> {
        let (reply, answer) = oneshot::channel();
        let stopped = || FlowError::Invalid("the gateway's reader stopped".into());
        self.queue
            .send(Ask {
                record,
                version,
                purpose,
                reply,
            })
            .await
            .map_err(|_| stopped())?;
        let served = answer.await.map_err(|_| stopped())??;
        let wanted = version.unwrap_or(served.version.max(at_least));
        if served.version != wanted {
            return Err(FlowError::Invalid(format!(
                "asked for version {wanted}, the vault served {}",
                served.version
            )));
        }
        let anchored = match self.anchors.get(record, served.version) {
            Some(hash) => hash,
            None => {
                let flow = self.parts.flow();
                let proven = flow
                    .anchored(&record, served.version)
                    .await?
                    .ok_or_else(|| {
                        FlowError::Invalid(
                            "the vault served a version the chain does not anchor".into(),
                        )
                    })?;
                self.anchors
                    .remember(record, served.version, proven.ciphertext_hash);
                proven.ciphertext_hash
            }
        };
        self.parts
            .flow()
            .open_against(reader, record, served, &anchored)
    }
}

async fn run(
    parts: Parts,
    chain: String,
    account: salus_types::AccountId,
    key: salus_crypto::SigningKey,
    mut asks: mpsc::Receiver<Ask>,
) {
    let vault = parts.vault;
    while let Some(first) = asks.recv().await {
        let mut batch = vec![first];
        while batch.len() < READ_BATCH {
            match asks.try_recv() {
                Ok(ask) => batch.push(ask),
                Err(_) => break,
            }
        }
        let now = (parts.clock)();
        let requests: Vec<ReadRequest> = batch
            .iter()
            .map(|ask| ReadRequest {
                header: RequestHeader::new(&chain, vault, account, &key, now),
                record: ask.record,
                version: ask.version,
                purpose: ask.purpose,
                want: Want::Record,
            })
            .collect();
        // The call runs beside the next batch's: answers need not wait in line.
        let client = parts.client.clone();
        let key = key.clone();
        tokio::spawn(async move {
            match client.vault_read_bundle(&requests, &key).await {
                Ok(results) if results.len() == batch.len() => {
                    for (ask, result) in batch.into_iter().zip(results) {
                        let _ = ask.reply.send(item(result));
                    }
                }
                Ok(results) => {
                    let message = format!(
                        "asked the vault for {} reads, it answered {}",
                        batch.len(),
                        results.len()
                    );
                    for ask in batch {
                        let _ = ask.reply.send(Err(FlowError::Invalid(message.clone())));
                    }
                }
                Err(error) => {
                    let message = error.to_string();
                    for ask in batch {
                        let _ = ask.reply.send(Err(FlowError::Client(ClientError::Transport(
                            message.clone(),
                        ))));
                    }
                }
            }
        });
    }
}

fn item(result: ItemResult<ServedRecord>) -> Result<ServedRecord, FlowError> {
    result.into_result().map_err(|e| FlowError::Vault {
        code: e.code,
        message: e.message,
    })
}
