//! `salus bench records`: encrypted records through a real dev node and its
//! vault, measured end to end.
//!
//! A write is: seal on the client (fresh data key, XChaCha20-Poly1305, the key
//! HPKE-wrapped to the patient, the author and a grantee), sign and submit the
//! anchor, wait until it is final, and upload ciphertext and envelopes to the
//! vault (the batch's upload requests signed once, as a bundle; durable: fsync
//! before the vault answers). A read is an authorized
//! read by a grantee: its request (signed with the rest of its batch as one
//! bundle), the vault's admission and consent check on finalized state, the
//! durable audit entry, the fetch, and on the client the key unwrap, the hash
//! check and the decryption.

use std::collections::{BTreeMap, HashSet};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, ensure, Context as _, Result};
use futures::{StreamExt as _, TryStreamExt as _};
use salus_api::vault::{from_base64, ItemResult, ServedRecord};
use salus_client::record_flow::Actor;
use salus_client::records::{open_version, seal_version, KeyCache, Reader, SealedVersion};
use salus_client::{actions, Client, Signer};
use salus_crypto::{AgreementSecret, SigningKey};
use salus_node::layout::dev::{dev_chain, DEV_PASSPHRASE};
use salus_node::FinalizedNotice;
use salus_types::clock::now_ms;
use salus_types::consent::{ConsentAction, Purpose, Scope};
use salus_types::identity::Role;
use salus_types::records::{Category, RecordId};
use salus_types::vault::{ReadRequest, RequestHeader, Want};
use salus_types::{AccountId, Action, Hash, Tx};
use serde_json::{json, Value};
use tokio::sync::broadcast;

use crate::load::{machine, BenchNode};
use crate::Report;

#[derive(clap::Args, Debug)]
pub struct RecordsArgs {
    /// 4 KiB records to write (each is then read `--reads` times). Enough
    /// for a sustained rate: a few seconds, not one pipeline fill.
    #[arg(long, default_value_t = 20_000)]
    pub records_4k: usize,
    /// 1 MiB records to write.
    #[arg(long, default_value_t = 100)]
    pub records_1m: usize,
    /// Authorized reads per record.
    #[arg(long, default_value_t = 2)]
    pub reads: usize,
}

/// A positive setting from `SALUS_BENCH_<name>`, or `default`.
fn setting(name: &str, default: usize) -> usize {
    std::env::var(format!("SALUS_BENCH_{name}"))
        .ok()
        .and_then(|v| v.parse().ok())
        .filter(|n| *n > 0)
        .unwrap_or(default)
}

/// Batches the benchmark's client keeps in flight (`SALUS_BENCH_WRITES_IN_FLIGHT`,
/// `SALUS_BENCH_READS_IN_FLIGHT`): enough that one batch's consensus round or
/// upload overlaps the next batch's work.
const IN_FLIGHT: usize = 4;
/// Records sealed, anchored and uploaded per round trip: as many as one vault
/// call takes (`SALUS_BENCH_BATCH` for fewer), up to this many bytes.
const WRITE_BATCH_BYTES: usize = 8 << 20;
const MAX_BATCH: usize = salus_api::vault::MAX_VAULT_BATCH;

fn party(chain_id: &str) -> Actor {
    Actor {
        signer: Signer::new(chain_id, SigningKey::generate(), 0),
        agreement: AgreementSecret::generate(),
    }
}

/// A valid FHIR DiagnosticReport of about `size` bytes: a lab report with its
/// PDF attached, which is what large records usually are.
fn report_of_size(size: usize) -> Vec<u8> {
    let skeleton = json!({
        "resourceType": "DiagnosticReport",
        "status": "final",
        "code": {"coding": [{"system": "http://loinc.org", "code": "24323-8", "display": "Comprehensive metabolic panel"}]},
        "presentedForm": [{"contentType": "application/pdf", "data": ""}],
    });
    let overhead = skeleton.to_string().len();
    let filler: Vec<u8> = (0..size.saturating_sub(overhead) * 3 / 4)
        .map(|i| (i * 131 % 251) as u8)
        .collect();
    let mut report = skeleton;
    report["presentedForm"][0]["data"] = json!(salus_api::vault::to_base64(&filler));
    report.to_string().into_bytes()
}

async fn submit_and_wait(client: &Client, tx: Tx) -> Result<()> {
    let outcome = client.submit_and_wait(&tx).await?;
    ensure!(
        outcome.receipt.succeeded(),
        "setup transaction failed: {}",
        outcome.receipt.message
    );
    Ok(())
}

/// Waits until every hash in `pending` is in a finalized block.
async fn wait_final(
    finalized: &mut broadcast::Receiver<std::sync::Arc<FinalizedNotice>>,
    mut pending: HashSet<Hash>,
) -> Result<()> {
    while !pending.is_empty() {
        let notice = tokio::time::timeout(Duration::from_secs(60), finalized.recv())
            .await
            .context("no block finalized for 60 s")??;
        for hash in &notice.tx_hashes {
            pending.remove(hash);
        }
    }
    Ok(())
}

fn ok<T>(results: Vec<ItemResult<T>>) -> Result<Vec<T>> {
    results
        .into_iter()
        .map(|r| {
            r.into_result().map_err(|e| {
                anyhow::anyhow!(
                    "the vault refused a benchmark item ({}): {}",
                    e.code,
                    e.message
                )
            })
        })
        .collect()
}

/// Seals `count` versions of `content`, on every core.
fn seal_all(
    content: &[u8],
    count: usize,
    readers: &[Reader],
    keys: &KeyCache,
) -> Result<Vec<SealedVersion>> {
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    let per = count.div_ceil(threads).max(1);
    std::thread::scope(|scope| {
        let handles: Vec<_> = (0..count)
            .step_by(per)
            .map(|start| {
                let n = per.min(count - start);
                scope.spawn(move || {
                    (0..n)
                        .map(|_| seal_version(RecordId::random(), 1, content, readers, keys))
                        .collect::<Result<Vec<_>, _>>()
                })
            })
            .collect();
        let mut out = Vec::with_capacity(count);
        for handle in handles {
            out.extend(
                handle
                    .join()
                    .map_err(|_| anyhow::anyhow!("a sealing thread panicked"))??,
            );
        }
        Ok(out)
    })
}

/// Opens served versions on every core, each checked against the hash the
/// writer anchored; returns how many opened to the expected size.
fn open_all(
    answers: Vec<ServedRecord>,
    anchored: &BTreeMap<RecordId, Hash>,
    reader: &AccountId,
    secret: &AgreementSecret,
    keys: &KeyCache,
    expected: usize,
) -> Result<usize> {
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    let per = answers.len().div_ceil(threads).max(1);
    std::thread::scope(|scope| {
        let handles: Vec<_> = answers
            .chunks(per)
            .map(|chunk| {
                scope.spawn(move || -> Result<usize> {
                    for served in chunk {
                        let record = RecordId::from_hex(&served.record)?;
                        let anchored = anchored.get(&record).context("a record nobody wrote")?;
                        let ciphertext =
                            from_base64(served.content.as_deref().context("no content served")?)
                                .context("the vault sent content that is not base64")?;
                        let plaintext = open_version(
                            &record,
                            served.version,
                            &ciphertext,
                            anchored,
                            &served.envelope,
                            reader,
                            secret,
                            keys,
                        )?;
                        ensure!(plaintext.len() == expected, "a read returned other content");
                    }
                    Ok(chunk.len())
                })
            })
            .collect();
        let mut opened = 0;
        for handle in handles {
            opened += handle
                .join()
                .map_err(|_| anyhow::anyhow!("an opening thread panicked"))??;
        }
        Ok(opened)
    })
}

/// A written batch's records and anchored hashes, and how long it spent in
/// submission, until final, and in the upload.
type WrittenBatch = (Vec<(RecordId, Hash)>, [Duration; 3]);

/// A batch of sealed versions and their signed anchors.
type SealedBatch = Result<(Vec<SealedVersion>, Vec<Tx>)>;

/// Seals `count` versions in batches on a thread of its own, signing each
/// batch's anchors in nonce order; at most `ahead` batches wait unsubmitted.
#[allow(clippy::too_many_arguments)]
fn spawn_sealer(
    mut author: Signer,
    patient: AccountId,
    content: Arc<Vec<u8>>,
    readers: Vec<Reader>,
    keys: Arc<KeyCache>,
    count: usize,
    batch: usize,
    ahead: usize,
) -> impl futures::Stream<Item = SealedBatch> {
    let (sender, receiver) = tokio::sync::mpsc::channel(ahead.max(1));
    std::thread::spawn(move || {
        let mut remaining = count;
        while remaining > 0 {
            let n = batch.min(remaining);
            remaining -= n;
            let sealed = seal_all(&content, n, &readers, &keys).map(|sealed| {
                let anchors = sealed
                    .iter()
                    .map(|s| author.sign(vec![s.anchor(patient, Category::Laboratory, None)]))
                    .collect();
                (sealed, anchors)
            });
            let failed = sealed.is_err();
            if sender.blocking_send(sealed).is_err() || failed {
                return;
            }
        }
    });
    futures::stream::unfold(receiver, |mut receiver| async move {
        receiver.recv().await.map(|item| (item, receiver))
    })
}

fn run_size(size: usize, count: usize, reads_per_record: usize) -> Result<Value> {
    ensure!(count > 0, "a benchmark needs at least one record");
    let dir = tempfile::tempdir()?;
    let chain = dev_chain(dir.path(), DEV_PASSPHRASE.as_bytes(), None, now_ms())?;
    let chain_id = chain.genesis.chain_id.clone();
    let BenchNode {
        node,
        client,
        runtime,
        ..
    } = BenchNode::start(dir.path(), chain.genesis.clone(), &chain.validator, 200_000)?;
    let result = runtime.block_on(async {
        let mut authority = Signer::new(chain_id.clone(), chain.authority.signing.clone(), 0);
        let (mut hospital, mut patient, mut specialist) =
            (party(&chain_id), party(&chain_id), party(&chain_id));
        for party in [&mut hospital, &mut patient, &mut specialist] {
            let tx = party.signer.sign(vec![actions::register_did(
                party.agreement.public_key(),
                vec![],
            )]);
            submit_and_wait(&client, tx).await?;
        }
        for subject in [hospital.signer.account, specialist.signer.account] {
            submit_and_wait(
                &client,
                authority.sign(vec![actions::attest_role(subject, Role::Provider)]),
            )
            .await?;
        }
        let now = client.status().await?.timestamp_ms;
        let grant = Action::Consent(ConsentAction::Grant {
            patient: patient.signer.account,
            grantee: specialist.signer.account,
            scope: Scope::All,
            purpose: Purpose::Treatment,
            expires_ms: now + 24 * 3_600_000,
        });
        submit_and_wait(&client, patient.signer.sign(vec![grant])).await?;
        let vault = client.vault_account().await?;
        let readers = [patient.reader(), hospital.reader(), specialist.reader()];
        // The writer's and the reader's HPKE contexts, each reused across records.
        let (keys, reader_keys) = (Arc::new(KeyCache::default()), KeyCache::default());
        let content = report_of_size(size);
        let batch = setting("BATCH", MAX_BATCH)
            .min(MAX_BATCH)
            .min(WRITE_BATCH_BYTES / size)
            .max(1);
        let header = |party: &Actor| {
            RequestHeader::new(
                &chain_id,
                vault,
                party.signer.account,
                &party.signer.key,
                now_ms(),
            )
        };

        // Writes: a sealing thread seals each batch on every core and signs
        // its anchors in nonce order, while earlier batches are submitted,
        // wait for their anchors to be final, and upload: sealing overlaps
        // the node's work as it would for any client that streams records.
        let (writes_in_flight, reads_in_flight) = (
            setting("WRITES_IN_FLIGHT", IN_FLIGHT),
            setting("READS_IN_FLIGHT", IN_FLIGHT),
        );
        let start = Instant::now();
        let sealed_batches = spawn_sealer(
            Signer {
                chain_id: chain_id.clone(),
                account: hospital.signer.account,
                key: hospital.signer.key.clone(),
                next_nonce: hospital.signer.next_nonce,
            },
            patient.signer.account,
            Arc::new(content.clone()),
            readers.to_vec(),
            keys.clone(),
            count,
            batch,
            writes_in_flight,
        );
        let notices = node.handle.finalized.clone();
        let (client_ref, hospital_ref) = (&client, &hospital);
        let written: Vec<WrittenBatch> = sealed_batches
            .map(|sealed| {
                let mut finalized = notices.subscribe();
                async move {
                    let (sealed, anchors) = sealed?;
                    let begun = Instant::now();
                    let verdict = client_ref.submit_batch(&anchors).await?;
                    let submitted = begun.elapsed();
                    if let Some(first) = verdict.rejected.first() {
                        bail!(
                            "the node refused {} anchors: {} ({})",
                            verdict.rejected.len(),
                            first.message,
                            first.code
                        );
                    }
                    wait_final(&mut finalized, anchors.iter().map(Tx::hash).collect()).await?;
                    let finalized = begun.elapsed();
                    let uploads: Vec<_> = sealed
                        .iter()
                        .map(|s| {
                            (
                                s.upload_request(header(hospital_ref)),
                                Some(s.ciphertext.as_slice()),
                            )
                        })
                        .collect();
                    ok(client_ref
                        .vault_write_bundle(&uploads, &hospital_ref.signer.key)
                        .await?)?;
                    let phases = [submitted, finalized - submitted, begun.elapsed() - finalized];
                    let written: Vec<(RecordId, Hash)> = sealed
                        .iter()
                        .map(|s| (s.record, s.ciphertext_hash))
                        .collect();
                    Ok((written, phases))
                }
            })
            .buffered(writes_in_flight)
            .try_collect()
            .await?;
        let write_elapsed = start.elapsed();
        // Median time per batch in each phase: submission (admission), until
        // the anchors are final, and the upload.
        let phase_ms: Vec<u128> = (0..3)
            .map(|phase| {
                let mut times: Vec<Duration> = written.iter().map(|(_, p)| p[phase]).collect();
                times.sort();
                times[times.len() / 2].as_millis()
            })
            .collect();
        let records: Vec<(RecordId, Hash)> =
            written.into_iter().flat_map(|(batch, _)| batch).collect();

        // Reads: a grantee's authorized reads, decrypted on the client, a few
        // batches in flight.
        let anchors = Arc::new(
            records
                .iter()
                .copied()
                .collect::<BTreeMap<RecordId, Hash>>(),
        );
        let reads = count * reads_per_record;
        let start = Instant::now();
        let wanted: Vec<RecordId> = (0..reads_per_record)
            .flat_map(|_| records.iter().map(|(r, _)| *r))
            .collect();
        let reader_keys = Arc::new(reader_keys);
        let specialist_ref = &specialist;
        let opened: Vec<usize> = futures::stream::iter(wanted.chunks(batch).map(|chunk| {
            let (anchors, keys) = (anchors.clone(), reader_keys.clone());
            let (account, secret) = (specialist_ref.account(), specialist_ref.agreement.clone());
            // One signature per batch: the requests travel as a bundle.
            let requests: Vec<ReadRequest> = chunk
                .iter()
                .map(|record| ReadRequest {
                    header: header(specialist_ref),
                    record: *record,
                    version: None,
                    purpose: Purpose::Treatment,
                    want: Want::Record,
                })
                .collect();
            let expected = content.len();
            async move {
                let answers = ok(client_ref
                    .vault_read_bundle(&requests, &specialist_ref.signer.key)
                    .await?)?;
                tokio::task::spawn_blocking(move || {
                    open_all(answers, &anchors, &account, &secret, &keys, expected)
                })
                .await?
            }
        }))
        .buffered(reads_in_flight)
        .try_collect()
        .await?;
        let done: usize = opened.iter().sum();
        let read_elapsed = start.elapsed();
        ensure!(done == reads, "{done} of {reads} reads completed");
        Ok::<_, anyhow::Error>(json!({
            "record_bytes": content.len(),
            "records": count,
            "writes_per_s": (count as f64 / write_elapsed.as_secs_f64()).round(),
            "reads": reads,
            "reads_per_s": (reads as f64 / read_elapsed.as_secs_f64()).round(),
            "readers_per_record": readers.len(),
            "batch": batch,
            "write_batch_median_ms": {"submit": phase_ms[0], "until_final": phase_ms[1], "upload": phase_ms[2]},
            "batches_in_flight": {"writes": writes_in_flight, "reads": reads_in_flight},
        }))
    });
    node.stop()?;
    result
}

pub fn records(args: RecordsArgs) -> Result<Report> {
    let small = run_size(4 * 1024, args.records_4k, args.reads)?;
    let large = run_size(1 << 20, args.records_1m, args.reads)?;
    let value = json!({
        "bench": "records",
        "record_4k": small,
        "record_1m": large,
        "durable_vault_writes": true,
        "machine": machine(),
    });
    let summary = format!(
            "4 KiB records: {} writes/s, {} reads/s; 1 MiB records: {} writes/s, {} reads/s (writes: seal + anchor until final + durable upload; reads: consent check + audit + fetch + decrypt)",
            value["record_4k"]["writes_per_s"], value["record_4k"]["reads_per_s"], value["record_1m"]["writes_per_s"], value["record_1m"]["reads_per_s"]
        );
    Ok(Report {
        json: value,
        summary,
    })
}
