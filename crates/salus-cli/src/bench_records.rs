//! `salus bench records`: encrypted records through a real dev node and its
//! vault, measured end to end.
//!
//! A write is: seal on the client (fresh data key, XChaCha20-Poly1305, the key
//! HPKE-wrapped to the patient, the author and a grantee), sign and submit the
//! anchor, wait until it is final, and upload ciphertext and envelopes to the
//! vault (durable: fsync before the vault answers). A read is an authorized
//! read by a grantee: sign the request, the vault's admission and consent
//! check on finalized state, the durable audit entry, the fetch, and on the
//! client the key unwrap, the hash check and the decryption.

use std::collections::{BTreeMap, HashSet};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{ensure, Context as _, Result};
use futures::{StreamExt as _, TryStreamExt as _};
use salus_client::record_flow::Actor;
use salus_client::records::{
    open_version, read_request, seal_version, KeyCache, Reader, SealedVersion,
};
use salus_client::{actions, Client, Signer};
use salus_crypto::{AgreementSecret, SigningKey};
use salus_node::config::dev_chain;
use salus_node::FinalizedNotice;
use salus_types::consent::{ConsentAction, Purpose, Scope};
use salus_types::identity::Role;
use salus_types::records::{Category, RecordId};
use salus_types::vault::{RequestHeader, Want};
use salus_types::{AccountId, Action, Hash, Tx};
use salus_vault::wire::{from_base64, ItemResult, ServedRecord};
use serde_json::{json, Value};
use tokio::sync::broadcast;

use crate::bench::{machine, BenchNode};
use crate::dev::{now_ms, DEV_PASSPHRASE};
use crate::output::Context;

#[derive(clap::Args, Debug)]
pub struct RecordsArgs {
    /// 4 KiB records to write (each is then read `--reads` times).
    #[arg(long, default_value_t = 5_000)]
    pub records_4k: usize,
    /// 1 MiB records to write.
    #[arg(long, default_value_t = 100)]
    pub records_1m: usize,
    /// Authorized reads per record.
    #[arg(long, default_value_t = 2)]
    pub reads: usize,
}

/// Batches kept in flight by the benchmark's client.
fn in_flight(kind: &str, default: usize) -> usize {
    std::env::var(format!("SALUS_BENCH_{kind}_IN_FLIGHT"))
        .ok()
        .and_then(|v| v.parse().ok())
        .filter(|n| *n > 0)
        .unwrap_or(default)
}

/// Records sealed, anchored and uploaded per round trip.
const WRITE_BATCH_BYTES: usize = 8 << 20;
const MAX_BATCH: usize = 500;

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
    report["presentedForm"][0]["data"] = json!(salus_vault::wire::to_base64(&filler));
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
                            from_base64(served.content.as_deref().context("no content served")?)?;
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
        let status = client.status().await?;
        let now = status["timestamp_ms"]
            .as_u64()
            .context("node status has no time")?;
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
        let (keys, reader_keys) = (KeyCache::default(), KeyCache::default());
        let content = report_of_size(size);
        let batch = (WRITE_BATCH_BYTES / size).clamp(1, MAX_BATCH);
        let header = |party: &Actor| {
            RequestHeader::new(
                &chain_id,
                vault,
                party.signer.account,
                &party.signer.key,
                now_ms(),
            )
        };

        // Writes: seal, anchor until final, upload.
        // Writes: seal everything on every core and sign the anchors in nonce
        // order, then keep a few batches in flight: while one waits for its
        // anchors to be final, another uploads.
        let (writes_in_flight, reads_in_flight) = (in_flight("WRITES", 2), in_flight("READS", 3));
        let start = Instant::now();
        let mut batches = Vec::new();
        let mut remaining = count;
        while remaining > 0 {
            let n = batch.min(remaining);
            remaining -= n;
            let sealed = seal_all(&content, n, &readers, &keys)?;
            let anchors: Vec<Tx> = sealed
                .iter()
                .map(|s| {
                    hospital.signer.sign(vec![s.anchor(
                        patient.signer.account,
                        Category::Laboratory,
                        None,
                    )])
                })
                .collect();
            batches.push((sealed, anchors));
        }
        let sealed_at = start.elapsed();
        let notices = node.handle.finalized.clone();
        let (client_ref, hospital_ref) = (&client, &hospital);
        let written: Vec<Vec<(RecordId, Hash)>> =
            futures::stream::iter(batches.into_iter().map(|(sealed, anchors)| {
                let mut finalized = notices.subscribe();
                async move {
                    let verdict = client_ref.submit_batch(&anchors).await?;
                    let rejected = verdict["rejected"].as_array().map_or(0, Vec::len);
                    ensure!(
                        rejected == 0,
                        "the node refused {rejected} anchors: {}",
                        verdict["rejected"][0]
                    );
                    wait_final(&mut finalized, anchors.iter().map(Tx::hash).collect()).await?;
                    let uploads: Vec<_> = sealed
                        .iter()
                        .map(|s| {
                            (
                                s.upload(header(hospital_ref), &hospital_ref.signer.key),
                                Some(s.ciphertext.as_slice()),
                            )
                        })
                        .collect();
                    ok(client_ref.vault_write(&uploads).await?)?;
                    Ok(sealed
                        .iter()
                        .map(|s| (s.record, s.ciphertext_hash))
                        .collect())
                }
            }))
            .buffered(writes_in_flight)
            .try_collect()
            .await?;
        let write_elapsed = start.elapsed();
        let records: Vec<(RecordId, Hash)> = written.into_iter().flatten().collect();

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
            let requests: Vec<_> = chunk
                .iter()
                .map(|record| {
                    read_request(
                        header(specialist_ref),
                        &specialist_ref.signer.key,
                        *record,
                        None,
                        Purpose::Treatment,
                        Want::Record,
                    )
                })
                .collect();
            let expected = content.len();
            async move {
                let answers = ok(client_ref.vault_read(&requests).await?)?;
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
            "seal_ms": sealed_at.as_millis(),
            "batch": batch,
            "batches_in_flight": {"writes": writes_in_flight, "reads": reads_in_flight},
        }))
    });
    node.stop()?;
    result
}

pub fn records(ctx: &Context, args: RecordsArgs) -> Result<()> {
    let small = run_size(4 * 1024, args.records_4k, args.reads)?;
    let large = run_size(1 << 20, args.records_1m, args.reads)?;
    let value = json!({
        "bench": "records",
        "record_4k": small,
        "record_1m": large,
        "durable_vault_writes": true,
        "machine": machine(),
    });
    ctx.emit(&value, || {
        format!(
            "4 KiB records: {} writes/s, {} reads/s; 1 MiB records: {} writes/s, {} reads/s (writes: seal + anchor until final + durable upload; reads: consent check + audit + fetch + decrypt)",
            value["record_4k"]["writes_per_s"], value["record_4k"]["reads_per_s"], value["record_1m"]["writes_per_s"], value["record_1m"]["reads_per_s"]
        )
    });
    Ok(())
}
