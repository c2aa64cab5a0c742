//! The gateway's one writer.
//!
//! Every write is signed by the member's one account, whose nonces must be
//! used in order. Concurrent requests' writes queue here and are packed into
//! transactions of up to `MAX_ACTIONS_PER_TX` anchors; a request's own writes
//! are never split (a FHIR transaction is one Salus transaction). Each
//! transaction is submitted only once the one before it was admitted, so a
//! refusal at admission never leaves a gap in the nonces; waiting for
//! finality and uploading the ciphertext overlap with the next transactions.
//! A packed transaction that fails is retried one request per transaction,
//! so one bad write fails alone.

use std::collections::{BTreeMap, VecDeque};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use salus_client::record_flow::{Actor, FlowError, RecordFlow, Written};
use salus_client::records::{seal_version, KeyCache, Reader, RecordError, SealedVersion};
use salus_client::{Client, ClientError, Slot};
use salus_types::clock::Clock;
use salus_types::records::{Category, RecordAction, RecordId};
use salus_types::{AccountId, Action, Hash, MAX_ACTIONS_PER_TX};
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinSet;

/// Requests waiting for the writer; beyond this, callers wait to enqueue.
const QUEUE: usize = 4_096;
/// How long a transaction may take to become final.
const FINALITY_TIMEOUT: Duration = Duration::from_secs(60);

type Reply = oneshot::Sender<Result<Vec<Written>, FlowError>>;

/// One request's writes: all land together or not at all.
struct Group {
    items: Vec<(Slot, Vec<u8>)>,
    /// An erasure instead of versions (always in a transaction of its own).
    erase: Option<RecordId>,
    reply: Reply,
    /// Retried after a packed transaction failed: it goes alone.
    alone: bool,
    /// Submissions refused because the nonce moved.
    tries: u32,
}

/// Times a request is re-signed after the account's nonce moved.
const MAX_TRIES: u32 = 3;

/// What the writer needs to build record flows.
#[derive(Clone)]
pub(crate) struct Parts {
    pub client: Client,
    pub vault: AccountId,
    pub keys: Arc<KeyCache>,
    pub clock: Clock,
}

impl Parts {
    pub(crate) fn flow(&self) -> RecordFlow<'_> {
        RecordFlow {
            client: &self.client,
            vault: self.vault,
            clock: self.clock.clone(),
            keys: self.keys.clone(),
        }
    }
}

/// The handle requests write through.
pub(crate) struct Writer {
    queue: mpsc::Sender<Group>,
}

impl Writer {
    /// Starts the writer task for `actor` (whose nonce must be the chain's next).
    pub(crate) fn start(parts: Parts, actor: Actor) -> Writer {
        let (queue, requests) = mpsc::channel(QUEUE);
        tokio::spawn(run(parts, actor, requests));
        Writer { queue }
    }

    /// Writes one request's versions, all or nothing.
    pub(crate) async fn write(
        &self,
        items: Vec<(Slot, Vec<u8>)>,
    ) -> Result<Vec<Written>, FlowError> {
        assert!(
            items.len() <= MAX_ACTIONS_PER_TX,
            "a request's writes fit one transaction"
        );
        let (reply, answer) = oneshot::channel();
        self.send(
            Group {
                items,
                erase: None,
                reply,
                alone: false,
                tries: 0,
            },
            answer,
        )
        .await
    }

    /// Erases a record (only its patient or a guardian may).
    pub(crate) async fn erase(&self, record: RecordId) -> Result<(), FlowError> {
        let (reply, answer) = oneshot::channel();
        let group = Group {
            items: Vec::new(),
            erase: Some(record),
            reply,
            alone: true,
            tries: 0,
        };
        self.send(group, answer).await.map(drop)
    }

    async fn send(
        &self,
        group: Group,
        answer: oneshot::Receiver<Result<Vec<Written>, FlowError>>,
    ) -> Result<Vec<Written>, FlowError> {
        let stopped = || FlowError::Invalid("the gateway's writer stopped".into());
        self.queue.send(group).await.map_err(|_| stopped())?;
        answer.await.map_err(|_| stopped())?
    }
}

async fn run(parts: Parts, mut actor: Actor, mut requests: mpsc::Receiver<Group>) {
    let (retry, mut retried) = mpsc::unbounded_channel::<Group>();
    let mut backlog: VecDeque<Group> = VecDeque::new();
    let mut in_flight: JoinSet<()> = JoinSet::new();
    let unsure = Arc::new(AtomicBool::new(false));
    loop {
        while let Ok(group) = retried.try_recv() {
            backlog.push_back(group);
        }
        while in_flight.try_join_next().is_some() {}
        if unsure.swap(false, Ordering::SeqCst) {
            resync(&parts, &mut actor, &mut in_flight).await;
        }
        let first = match backlog.pop_front() {
            Some(group) => group,
            None => tokio::select! {
                biased;
                Some(group) = retried.recv() => group,
                Some(group) = requests.recv() => group,
                else => return,
            },
        };
        let mut packed = vec![first];
        let mut count = packed[0].items.len();
        while !packed[0].alone && count < MAX_ACTIONS_PER_TX {
            let Some(next) = backlog.pop_front().or_else(|| requests.try_recv().ok()) else {
                break;
            };
            if next.alone || count + next.items.len() > MAX_ACTIONS_PER_TX {
                backlog.push_front(next);
                break;
            }
            count += next.items.len();
            packed.push(next);
        }
        let Some((groups, sealed, tx)) = seal_and_sign(&parts, &mut actor, packed).await else {
            continue;
        };
        match parts.client.submit(&tx).await {
            Ok(hash) => {
                let (parts, retry, key) = (parts.clone(), retry.clone(), actor.clone_keys());
                let unsure = unsure.clone();
                in_flight.spawn(async move {
                    complete(parts, key, hash, groups, sealed, retry, unsure).await
                });
            }
            Err(ClientError::Api { code, .. }) if code.contains("nonce") => {
                // The account's nonce moved without this writer (the key
                // signed elsewhere too): settle, ask the chain, try again.
                resync(&parts, &mut actor, &mut in_flight).await;
                for mut group in groups.into_iter().rev() {
                    group.tries += 1;
                    if group.tries > MAX_TRIES {
                        let _ = group.reply.send(Err(FlowError::Invalid(
                            "the account's nonce kept moving; is the key in use elsewhere?".into(),
                        )));
                    } else {
                        backlog.push_front(group);
                    }
                }
            }
            Err(error @ ClientError::Api { .. }) => {
                // Refused at admission: the nonce was not used.
                actor.signer.next_nonce -= 1;
                fail_or_split(groups, FlowError::Client(error), &retry);
            }
            Err(error) => {
                // Unknown whether the node took it: settle, then ask the chain.
                resync(&parts, &mut actor, &mut in_flight).await;
                fail_all(groups, &error.to_string());
            }
        }
    }
}

/// Seals every group's versions and signs their anchors as one transaction.
/// Groups whose readers cannot be established are answered at once.
async fn seal_and_sign(
    parts: &Parts,
    actor: &mut Actor,
    packed: Vec<Group>,
) -> Option<(Vec<Group>, Vec<Vec<SealedVersion>>, salus_types::Tx)> {
    let flow = parts.flow();
    // A new record's readers depend only on its patient and category (no
    // grant can name a record id nobody has seen): one check per pair.
    let mut readers_of: BTreeMap<(AccountId, Category), Vec<Reader>> = BTreeMap::new();
    let mut groups = Vec::with_capacity(packed.len());
    let mut sealed_groups = Vec::with_capacity(packed.len());
    let mut anchors = Vec::new();
    'groups: for group in packed {
        if let Some(record) = group.erase {
            anchors.push(Action::Records(RecordAction::Erase { record }));
            sealed_groups.push(Vec::new());
            groups.push(group);
            continue;
        }
        let mut sealed = Vec::with_capacity(group.items.len());
        for (slot, content) in &group.items {
            let key = (slot.patient, slot.category);
            let readers = match readers_of.get(&key) {
                Some(readers) if slot.version == 1 => readers.clone(),
                _ => match flow
                    .verified_readers(&slot.patient, &slot.record, slot.category)
                    .await
                {
                    Ok(readers) => {
                        if slot.version == 1 {
                            readers_of.insert(key, readers.clone());
                        }
                        readers
                    }
                    Err(error) => {
                        let _ = group.reply.send(Err(error));
                        continue 'groups;
                    }
                },
            };
            let mut readers = readers;
            readers.push(actor.reader());
            match seal_version(slot.record, slot.version, content, &readers, &parts.keys) {
                Ok(version) => sealed.push(version),
                Err(error) => {
                    let _ = group.reply.send(Err(RecordError::from(error).into()));
                    continue 'groups;
                }
            }
        }
        for (version, (slot, _)) in sealed.iter().zip(&group.items) {
            anchors.push(version.anchor(slot.patient, slot.category, slot.previous));
        }
        sealed_groups.push(sealed);
        groups.push(group);
    }
    if groups.is_empty() {
        return None;
    }
    let tx = actor.signer.sign(anchors);
    Some((groups, sealed_groups, tx))
}

/// Waits for the transaction, uploads its versions, and answers each group.
async fn complete(
    parts: Parts,
    author: Actor,
    hash: Hash,
    groups: Vec<Group>,
    sealed: Vec<Vec<SealedVersion>>,
    retry: mpsc::UnboundedSender<Group>,
    unsure: Arc<AtomicBool>,
) {
    let outcome = match parts.client.wait_final(&hash, FINALITY_TIMEOUT).await {
        Ok(outcome) => outcome,
        Err(error) => {
            // It may still land: nothing is retried, and the writer asks the
            // chain for its nonce before it signs again.
            unsure.store(true, Ordering::SeqCst);
            return fail_all(groups, &error.to_string());
        }
    };
    if !outcome.receipt.succeeded() {
        let error = FlowError::Rejected {
            code: outcome.receipt.code.name().to_owned(),
            message: outcome.receipt.message,
        };
        return fail_or_split(groups, error, &retry);
    }
    let flow = parts.flow();
    let versions: Vec<&SealedVersion> = sealed.iter().flatten().collect();
    let stored = flow.upload_sealed(&author, &versions).await;
    for (group, versions) in groups.into_iter().zip(sealed) {
        let answer = match &stored {
            Ok(()) => Ok(versions
                .iter()
                .map(|v| Written {
                    record: v.record,
                    version: v.version,
                    height: outcome.height,
                    readers: v.envelopes.iter().map(|e| e.recipient).collect(),
                    ciphertext_hash: v.ciphertext_hash,
                })
                .collect()),
            Err(error) => Err(FlowError::Invalid(format!(
                "anchored but not stored: {error}"
            ))),
        };
        let _ = group.reply.send(answer);
    }
}

/// Lets everything in flight settle, then takes the chain's next nonce.
async fn resync(parts: &Parts, actor: &mut Actor, in_flight: &mut JoinSet<()>) {
    while in_flight.join_next().await.is_some() {}
    if let Ok(nonce) = parts.client.next_nonce(&actor.account()).await {
        actor.signer.next_nonce = nonce;
    }
}

/// The transaction's fate is unknown: every request in it fails as unavailable.
fn fail_all(groups: Vec<Group>, why: &str) {
    for group in groups {
        let error = ClientError::Transport(format!("the write's outcome is unknown: {why}"));
        let _ = group.reply.send(Err(FlowError::Client(error)));
    }
}

/// A packed transaction failed: retry each request alone; a request that
/// was alone gets the error.
fn fail_or_split(groups: Vec<Group>, error: FlowError, retry: &mpsc::UnboundedSender<Group>) {
    if groups.len() == 1 {
        if let Some(group) = groups.into_iter().next() {
            let _ = group.reply.send(Err(error));
        }
        return;
    }
    for mut group in groups {
        group.alone = true;
        if let Err(mpsc::error::SendError(group)) = retry.send(group) {
            let _ = group.reply.send(Err(FlowError::Invalid(
                "the gateway's writer stopped".into(),
            )));
        }
    }
}

/// The keys of an actor, for a task that only uploads (it signs no transaction).
trait CloneKeys {
    fn clone_keys(&self) -> Actor;
}

impl CloneKeys for Actor {
    fn clone_keys(&self) -> Actor {
        Actor {
            signer: salus_client::Signer {
                chain_id: self.signer.chain_id.clone(),
                account: self.signer.account,
                key: self.signer.key.clone(),
                next_nonce: self.signer.next_nonce,
            },
            agreement: self.agreement.clone(),
        }
    }
}
