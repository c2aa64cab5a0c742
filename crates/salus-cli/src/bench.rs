//! `salus bench tps`: token transfers through a real dev chain (HTTP API,
//! mempool, consensus, execution, durable commit), measured end to end.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context as _, Result};
use salus_client::{actions, Client, Signer};
use salus_crypto::{verify_batch, SigningKey};
use salus_node::config::{dev_chain, dev_genesis};
use salus_node::mempool::MempoolLimits;
use salus_node::NodeConfig;
use salus_types::token::Allocation;
use salus_types::{AccountId, Hash, Tx};
use serde_json::json;

use crate::demo::free_port;
use crate::dev::{now_ms, DEV_PASSPHRASE};
use crate::output::Context;

#[derive(clap::Args, Debug)]
pub struct TpsArgs {
    /// Transfers to commit.
    #[arg(long, default_value_t = 100_000)]
    pub txs: usize,
    /// Distinct sending accounts.
    #[arg(long, default_value_t = 2_000)]
    pub senders: usize,
    /// Transactions per HTTP batch.
    #[arg(long, default_value_t = 5_000)]
    pub batch: usize,
}

pub fn machine() -> serde_json::Value {
    let model = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|info| {
            info.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split(':').nth(1))
                .map(|m| m.trim().to_owned())
        })
        .unwrap_or_else(|| "unknown".into());
    json!({
        "cpus": std::thread::available_parallelism().map(|p| p.get()).unwrap_or(1),
        "cpu_model": model,
        "os": std::env::consts::OS,
        "arch": std::env::consts::ARCH,
        "optimized": !cfg!(debug_assertions),
    })
}

/// Batches submitted concurrently.
const IN_FLIGHT: usize = 3;

async fn check_batch(response: Result<reqwest::Response, reqwest::Error>) -> Result<()> {
    let verdict: serde_json::Value = response.context("batch request failed")?.json().await?;
    let rejected = verdict["rejected"].as_array().map_or(0, Vec::len);
    anyhow::ensure!(
        rejected == 0,
        "node rejected {rejected} benchmark transactions: {}",
        verdict["rejected"][0]
    );
    Ok(())
}

/// A dev node for a benchmark, its client, its finality notices, and a
/// one-thread runtime for the benchmark's own client work.
pub struct BenchNode {
    pub node: salus_node::SpawnedNode,
    pub client: Client,
    pub finalized: tokio::sync::broadcast::Receiver<Arc<salus_node::FinalizedNotice>>,
    pub runtime: tokio::runtime::Runtime,
}

impl BenchNode {
    /// Starts a node in `dir` whose mempool holds `mempool_limit` transactions.
    pub fn start(
        dir: &std::path::Path,
        genesis: salus_types::Genesis,
        validator: &SigningKey,
        mempool_limit: usize,
    ) -> Result<BenchNode> {
        let node = salus_node::spawn(NodeConfig {
            mempool: MempoolLimits {
                max_txs: mempool_limit,
                max_per_sender: mempool_limit,
            },
            ..NodeConfig::single_validator(
                dir.to_path_buf(),
                genesis,
                validator.clone(),
                free_port()?,
            )
        })?;
        let client = Client::new(format!("http://{}", node.handle.http_addr));
        let finalized = node.handle.finalized.subscribe();
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()?;
        Ok(BenchNode {
            node,
            client,
            finalized,
            runtime,
        })
    }
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let rank = ((sorted.len() - 1) as f64 * p).round() as usize;
    sorted[rank]
}

/// Signature verifications per second with the node's own batch verifier.
fn verify_ceiling(txs: &[Tx]) -> f64 {
    let keys: Vec<_> = txs.iter().map(|t| t.body.public_key).collect();
    let messages: Vec<Vec<u8>> = txs.iter().map(|t| t.body.signing_bytes()).collect();
    let refs: Vec<&[u8]> = messages.iter().map(Vec::as_slice).collect();
    let signatures: Vec<_> = txs.iter().map(|t| t.signature).collect();
    let start = Instant::now();
    let verdicts = verify_batch(&keys, &refs, &signatures).expect("equal lengths");
    let elapsed = start.elapsed().as_secs_f64();
    assert!(
        verdicts.iter().all(|ok| *ok),
        "benchmark transactions are well signed"
    );
    txs.len() as f64 / elapsed
}

pub fn tps(ctx: &Context, args: TpsArgs) -> Result<()> {
    anyhow::ensure!(
        args.senders > 0 && args.txs > 0 && args.batch > 0,
        "--txs, --senders and --batch must be positive"
    );
    let dir = tempfile::tempdir()?;
    let base = dev_chain(dir.path(), DEV_PASSPHRASE.as_bytes(), None, now_ms())?;
    let senders: Vec<SigningKey> = (0..args.senders)
        .map(|i| {
            let mut seed = [7u8; 32];
            seed[..8].copy_from_slice(&(i as u64).to_le_bytes());
            SigningKey::from_seed(&seed)
        })
        .collect();
    let allocations = senders
        .iter()
        .map(|k| Allocation {
            account: AccountId::from_public_key(&k.public_key()),
            amount: 1_000_000_000,
        })
        .collect();
    let authority = AccountId::from_public_key(&base.authority.signing.public_key());
    let genesis = dev_genesis(&base.validator, &authority, now_ms(), allocations);

    // Pre-sign: nonce-major order, so every batch spreads over many senders.
    let mut signers: Vec<Signer> = senders
        .iter()
        .map(|k| Signer::new(&genesis.chain_id, k.clone(), 0))
        .collect();
    let recipients: Vec<AccountId> = signers.iter().map(|s| s.account).collect();
    let mut txs = Vec::with_capacity(args.txs);
    'outer: loop {
        for (i, signer) in signers.iter_mut().enumerate() {
            if txs.len() == args.txs {
                break 'outer;
            }
            let to = recipients[(i + 1) % recipients.len()];
            txs.push(signer.sign(vec![actions::transfer(to, 1)]));
        }
    }
    let ceiling = verify_ceiling(&txs[..txs.len().min(50_000)]);

    // Start over in a fresh directory with the funded genesis.
    let dir = tempfile::tempdir()?;
    let limit = args.txs.max(1);
    let BenchNode {
        node,
        client,
        mut finalized,
        runtime,
    } = BenchNode::start(dir.path(), genesis, &base.validator, limit)?;
    let total = txs.len();
    let result = runtime.block_on(async move {
        let submitted: Arc<std::sync::Mutex<HashMap<Hash, Instant>>> = Default::default();
        let watcher_submitted = submitted.clone();
        let watcher = tokio::spawn(async move {
            let mut latencies = Vec::with_capacity(total);
            let mut last = None;
            let mut blocks = 0u64;
            while latencies.len() < total {
                match tokio::time::timeout(Duration::from_secs(60), finalized.recv()).await {
                    Ok(Ok(notice)) => {
                        blocks += 1;
                        let times = watcher_submitted.lock().expect("lock");
                        for hash in &notice.tx_hashes {
                            if let Some(at) = times.get(hash) {
                                latencies.push(
                                    notice.at.saturating_duration_since(*at).as_secs_f64() * 1e3,
                                );
                            }
                        }
                        last = Some(notice.at);
                    }
                    Ok(Err(tokio::sync::broadcast::error::RecvError::Lagged(n))) => {
                        anyhow::bail!("benchmark fell {n} blocks behind the node's notifications")
                    }
                    Ok(Err(_)) => anyhow::bail!("node stopped"),
                    Err(_) => anyhow::bail!(
                        "no block finalized for 60 s ({} of {total} committed)",
                        latencies.len()
                    ),
                }
            }
            Ok((latencies, last, blocks))
        });
        // Clients are other machines: encode request bodies before the clock starts,
        // then keep a few batches in flight so the node never waits on the client.
        let bodies: Vec<(Vec<Hash>, String)> = txs
            .chunks(args.batch)
            .map(|chunk| {
                let encoded: Vec<String> = chunk.iter().map(|t| hex::encode(t.encode())).collect();
                (
                    chunk.iter().map(Tx::hash).collect(),
                    json!({ "txs": encoded }).to_string(),
                )
            })
            .collect();
        drop(txs);
        let url = format!("{}/v1/txs/batch", client.base());
        let http = reqwest::Client::new();
        let start = Instant::now();
        let mut in_flight = futures::stream::FuturesUnordered::new();
        for (hashes, body) in bodies {
            if in_flight.len() >= IN_FLIGHT {
                check_batch(
                    futures::StreamExt::next(&mut in_flight)
                        .await
                        .expect("a request is in flight"),
                )
                .await?;
            }
            {
                let now = Instant::now();
                let mut times = submitted.lock().expect("lock");
                for hash in hashes {
                    times.insert(hash, now);
                }
            }
            in_flight.push(
                http.post(&url)
                    .header("content-type", "application/json")
                    .body(body)
                    .send(),
            );
        }
        while let Some(response) = futures::StreamExt::next(&mut in_flight).await {
            check_batch(response).await?;
        }
        let submit_elapsed = start.elapsed();
        let (mut latencies, last, blocks) = watcher.await.context("watcher task failed")??;
        let elapsed = last.map_or(submit_elapsed, |l| l.duration_since(start));
        latencies.sort_by(|a, b| a.total_cmp(b));
        Ok::<_, anyhow::Error>(json!({
            "bench": "tps",
            "txs": total,
            "senders": args.senders,
            "blocks": blocks,
            "tx_per_s": (total as f64 / elapsed.as_secs_f64()).round(),
            "submit_per_s": (total as f64 / submit_elapsed.as_secs_f64()).round(),
            "p50_ms": (percentile(&latencies, 0.50) * 10.0).round() / 10.0,
            "p99_ms": (percentile(&latencies, 0.99) * 10.0).round() / 10.0,
            "verify_ceiling_per_s": ceiling.round(),
            "machine": machine(),
        }))
    });
    node.stop()?;
    let value = result?;
    ctx.emit(&value, || {
        format!(
            "{} transfers committed in {} blocks: {} tx/s; submit-to-final p50 {} ms, p99 {} ms; signature-verification ceiling {} /s",
            value["txs"], value["blocks"], value["tx_per_s"], value["p50_ms"], value["p99_ms"], value["verify_ceiling_per_s"]
        )
    });
    Ok(())
}
