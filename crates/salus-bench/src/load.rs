//! `salus bench tps`: token transfers through a real dev chain (HTTP API,
//! mempool, consensus, execution, durable commit), measured end to end.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context as _, Result};
use salus_client::{actions, Client, Signer};
use salus_crypto::SigningKey;
use salus_node::admission::mempool::MempoolLimits;
use salus_node::layout::dev::{dev_chain, dev_genesis, DEV_CHAIN_ID, DEV_PASSPHRASE};
use salus_node::layout::ports::free_loopback_addr;
use salus_node::NodeConfig;
use salus_types::clock::now_ms;
use salus_types::token::Allocation;
use salus_types::{AccountId, Hash, Tx};
use serde_json::json;

use crate::Report;

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

/// CPU time this process (every validator, API and the benchmark's own
/// client) has used, in seconds; `None` off Linux.
fn process_cpu_seconds() -> Option<f64> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    // Fields after the command name, which may hold spaces: state is the
    // first, user and system time the 12th and 13th, in USER_HZ (100/s).
    let fields: Vec<&str> = stat.rsplit_once(')')?.1.split_whitespace().collect();
    let ticks: u64 = fields.get(11)?.parse::<u64>().ok()? + fields.get(12)?.parse::<u64>().ok()?;
    Some(ticks as f64 / 100.0)
}

/// Batches submitted concurrently.
const IN_FLIGHT: usize = 3;

/// One batch submission, running on its own task: a request future that
/// only the submit loop polled would not even be sent while the loop sleeps
/// until its next tick, and its wait would count as finality latency.
type Submission = tokio::task::JoinHandle<Result<serde_json::Value, reqwest::Error>>;

fn submit(http: &reqwest::Client, url: String, body: String) -> Submission {
    let request = http
        .post(url)
        .header("content-type", "application/json")
        .body(body);
    tokio::spawn(async move { request.send().await?.json().await })
}

async fn check_batch(submission: Submission) -> Result<()> {
    let verdict = submission
        .await
        .context("batch request task failed")?
        .context("batch request failed")?;
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
                free_loopback_addr()?,
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

/// What [`drive`] measured.
pub struct Load {
    pub blocks: u64,
    /// Committed transactions per second, from the first submission to the
    /// last finality.
    pub tx_per_s: f64,
    pub submit_per_s: f64,
    pub p50_ms: f64,
    pub p99_ms: f64,
    /// The median wait from submission until a proposer started building
    /// the block that holds the transaction: admission, gossip, and waiting
    /// for a proposal slot. The rest of `p50_ms` is consensus and commit.
    pub p50_to_proposal_ms: f64,
    /// Cores kept busy on average over the run (CPU time over wall time):
    /// near the machine's count means the run was CPU-bound.
    pub cpu_cores_busy: Option<f64>,
}

/// Submits `txs` in batches of `batch` to the nodes at `apis` (round robin, a
/// few batches in flight), one batch every `pace` if given, and waits until
/// `finalized` reports all of them; latency is submission to finality.
pub async fn drive(
    apis: &[String],
    txs: Vec<Tx>,
    finalized: &mut tokio::sync::broadcast::Receiver<Arc<salus_node::FinalizedNotice>>,
    batch: usize,
    pace: Option<Duration>,
) -> Result<Load> {
    let total = txs.len();
    // Clients are other machines: encode request bodies before the clock
    // starts, so the node never waits on the client.
    let bodies: Vec<(Vec<Hash>, String)> = txs
        .chunks(batch)
        .map(|chunk| {
            let encoded: Vec<String> = chunk.iter().map(|t| hex::encode(t.encode())).collect();
            (
                chunk.iter().map(Tx::hash).collect(),
                json!({ "txs": encoded }).to_string(),
            )
        })
        .collect();
    drop(txs);
    let mut submitted: HashMap<Hash, (Instant, u64)> = HashMap::with_capacity(total);
    let mut latencies = Vec::with_capacity(total);
    let mut to_proposal = Vec::with_capacity(total);
    let (mut blocks, mut last) = (0u64, None);
    let mut take = |notice: &salus_node::FinalizedNotice,
                    submitted: &mut HashMap<Hash, (Instant, u64)>,
                    latencies: &mut Vec<f64>| {
        blocks += 1;
        for hash in &notice.tx_hashes {
            if let Some((at, at_ms)) = submitted.remove(hash) {
                latencies.push(notice.at.saturating_duration_since(at).as_secs_f64() * 1e3);
                to_proposal.push(notice.proposed_at_ms.saturating_sub(at_ms) as f64);
            }
        }
        last = Some(notice.at);
    };
    let http = reqwest::Client::new();
    let start = Instant::now();
    let cpu_at_start = process_cpu_seconds();
    let mut in_flight = std::collections::VecDeque::new();
    for (index, (hashes, body)) in bodies.into_iter().enumerate() {
        if let Some(pace) = pace {
            tokio::time::sleep_until((start + pace * index as u32).into()).await;
        }
        while in_flight.len() >= IN_FLIGHT {
            check_batch(in_flight.pop_front().expect("a request is in flight")).await?;
        }
        // Take finality notices as they come, so none is missed or lagged.
        loop {
            use tokio::sync::broadcast::error::TryRecvError;
            match finalized.try_recv() {
                Ok(notice) => take(&notice, &mut submitted, &mut latencies),
                Err(TryRecvError::Empty) => break,
                Err(TryRecvError::Lagged(n)) => {
                    anyhow::bail!("benchmark fell {n} blocks behind the node's notifications")
                }
                Err(TryRecvError::Closed) => anyhow::bail!("node stopped"),
            }
        }
        let now = (Instant::now(), now_ms());
        submitted.extend(hashes.into_iter().map(|h| (h, now)));
        let url = format!("{}/v1/txs/batch", apis[index % apis.len()]);
        tracing::debug!(index, node = index % apis.len(), "submitting a batch");
        in_flight.push_back(submit(&http, url, body));
    }
    while let Some(submission) = in_flight.pop_front() {
        check_batch(submission).await?;
    }
    let submit_elapsed = start.elapsed();
    while latencies.len() < total {
        match tokio::time::timeout(Duration::from_secs(60), finalized.recv()).await {
            Ok(Ok(notice)) => take(&notice, &mut submitted, &mut latencies),
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
    let elapsed = last.map_or(submit_elapsed, |l: Instant| l.duration_since(start));
    let cpu_cores_busy = cpu_at_start
        .zip(process_cpu_seconds())
        .map(|(before, after)| {
            ((after - before) / start.elapsed().as_secs_f64() * 100.0).round() / 100.0
        });
    latencies.sort_by(|a, b| a.total_cmp(b));
    to_proposal.sort_by(|a, b| a.total_cmp(b));
    let round = |ms: f64| (ms * 10.0).round() / 10.0;
    Ok(Load {
        blocks,
        tx_per_s: (total as f64 / elapsed.as_secs_f64()).round(),
        submit_per_s: (total as f64 / submit_elapsed.as_secs_f64()).round(),
        p50_ms: round(percentile(&latencies, 0.50)),
        p99_ms: round(percentile(&latencies, 0.99)),
        p50_to_proposal_ms: round(percentile(&to_proposal, 0.50)),
        cpu_cores_busy,
    })
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let rank = ((sorted.len() - 1) as f64 * p).round() as usize;
    sorted[rank]
}

/// How many of the newest headers [`certificate_cost`] checks.
const CERTIFIED_HEADERS: u64 = 200;

/// What checking finality costs a client, per header.
pub struct FinalityCost {
    /// Checking a finalization certificate and its header links, alone.
    pub verify_us_p50: f64,
    /// Fetching a header's finality proof and checking it, end to end.
    pub header_ms_p50: f64,
    /// Validators in the certificates' epoch.
    pub signers: usize,
}

/// Measures [`FinalityCost`] over the newest `headers` blocks.
pub async fn certificate_cost(client: &Client, headers: u64) -> Result<FinalityCost> {
    let history = client.validator_history().await?;
    let tip = client.status().await?.height;
    let (mut verify_us, mut header_ms) = (Vec::new(), Vec::new());
    for height in tip.saturating_sub(headers).max(1)..=tip {
        let fresh = Client::trusting(client.base(), history.clone());
        let start = Instant::now();
        fresh.header(height).await?;
        header_ms.push(start.elapsed().as_secs_f64() * 1e3);
        // The fresh client learned any epoch the header needed.
        let learned = fresh.validator_history().await?;
        let proof = client.finality(height).await?;
        let start = Instant::now();
        salus_client::finality::verify_finality(&learned, height, &proof)?;
        verify_us.push(start.elapsed().as_secs_f64() * 1e6);
    }
    verify_us.sort_by(|a, b| a.total_cmp(b));
    header_ms.sort_by(|a, b| a.total_cmp(b));
    Ok(FinalityCost {
        verify_us_p50: percentile(&verify_us, 0.5).round(),
        header_ms_p50: (percentile(&header_ms, 0.5) * 100.0).round() / 100.0,
        signers: history
            .validators(history.latest_epoch())
            .map_or(0, <[_]>::len),
    })
}

/// Signature verifications per second with the node's own batch verifier:
/// the signature checks alone, their messages encoded before the clock starts.
fn verify_ceiling(txs: &[Tx]) -> f64 {
    let keys: Vec<_> = txs.iter().map(|t| t.body.public_key).collect();
    let messages: Vec<Vec<u8>> = txs.iter().map(|t| t.body.signing_bytes()).collect();
    let messages: Vec<&[u8]> = messages.iter().map(Vec::as_slice).collect();
    let signatures: Vec<_> = txs.iter().map(|t| t.signature).collect();
    let start = Instant::now();
    let verdicts = salus_crypto::verify_batch(&keys, &messages, &signatures)
        .expect("one key, message and signature per transaction");
    let elapsed = start.elapsed().as_secs_f64();
    assert!(
        verdicts.iter().all(|ok| *ok),
        "benchmark transactions are well signed"
    );
    txs.len() as f64 / elapsed
}

/// Single signature checks per second on the calling thread: a gauge of how
/// fast this machine runs right now. A shared virtual machine's speed drifts
/// from minute to minute, and a figure measured in a slow spell should be
/// read as such.
pub fn speed_probe(txs: &[Tx]) -> f64 {
    assert!(!txs.is_empty(), "the probe needs transactions");
    let messages: Vec<Vec<u8>> = txs.iter().map(|t| t.body.signing_bytes()).collect();
    let start = Instant::now();
    for (tx, message) in txs.iter().zip(&messages) {
        assert!(
            tx.body.public_key.verify(message, &tx.signature).is_ok(),
            "benchmark transactions are well signed"
        );
    }
    txs.len() as f64 / start.elapsed().as_secs_f64()
}

/// `count` deterministic sender keys, funded by genesis allocations.
pub fn funded_senders(count: usize, chain_id: &str) -> (Vec<Allocation>, Vec<Signer>) {
    let signers: Vec<Signer> = (0..count)
        .map(|i| {
            let mut seed = [7u8; 32];
            seed[..8].copy_from_slice(&(i as u64).to_le_bytes());
            Signer::new(chain_id, SigningKey::from_seed(&seed), 0)
        })
        .collect();
    let allocations = signers
        .iter()
        .map(|s| Allocation {
            account: s.account,
            amount: 1_000_000_000,
        })
        .collect();
    (allocations, signers)
}

/// `count` signed transfers, nonce-major so that every batch spreads over many
/// senders; signers keep their next nonces for more.
pub fn transfers(signers: &mut [Signer], count: usize) -> Vec<Tx> {
    let recipients: Vec<AccountId> = signers.iter().map(|s| s.account).collect();
    let mut txs = Vec::with_capacity(count);
    'outer: loop {
        for (i, signer) in signers.iter_mut().enumerate() {
            if txs.len() == count {
                break 'outer;
            }
            let to = recipients[(i + 1) % recipients.len()];
            txs.push(signer.sign(vec![actions::transfer(to, 1)]));
        }
    }
    txs
}

pub fn tps(args: TpsArgs) -> Result<Report> {
    anyhow::ensure!(
        args.senders > 0 && args.txs > 0 && args.batch > 0,
        "--txs, --senders and --batch must be positive"
    );
    let dir = tempfile::tempdir()?;
    let base = dev_chain(dir.path(), DEV_PASSPHRASE.as_bytes(), None, now_ms())?;
    let (allocations, mut signers) = funded_senders(args.senders, DEV_CHAIN_ID);
    let authority = AccountId::from_public_key(&base.authority.signing.public_key());
    let genesis = dev_genesis(&base.validator, &authority, now_ms(), allocations);
    let txs = transfers(&mut signers, args.txs);
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
        let load = drive(
            &[client.base().to_owned()],
            txs,
            &mut finalized,
            args.batch,
            None,
        )
        .await?;
        let finality = certificate_cost(&client, CERTIFIED_HEADERS).await?;
        Ok::<_, anyhow::Error>(json!({
            "bench": "tps",
            "txs": total,
            "senders": args.senders,
            "blocks": load.blocks,
            "tx_per_s": load.tx_per_s,
            "submit_per_s": load.submit_per_s,
            "p50_ms": load.p50_ms,
            "cpu_cores_busy": load.cpu_cores_busy,
            "p99_ms": load.p99_ms,
            "verify_ceiling_per_s": ceiling.round(),
            "certificate_verify_us_p50": finality.verify_us_p50,
            "certified_header_ms_p50": finality.header_ms_p50,
            "certificate_signers": finality.signers,
            "machine": machine(),
        }))
    });
    node.stop()?;
    let value = result?;
    let summary = format!(
            "{} transfers committed in {} blocks: {} tx/s; submit-to-final p50 {} ms, p99 {} ms; signature-verification ceiling {} /s; a client checks a header's certificate in {} µs",
            value["txs"], value["blocks"], value["tx_per_s"], value["p50_ms"], value["p99_ms"], value["verify_ceiling_per_s"], value["certificate_verify_us_p50"]
        );
    Ok(Report {
        json: value,
        summary,
    })
}
