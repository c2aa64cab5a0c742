//! `salus bench testnet`: token transfers through a network of validators on
//! this machine, at saturation and at half of it.
//!
//! Every validator runs in this process on loopback, with its own p2p stack,
//! consensus, storage and API; transactions go round robin to all of them
//! and reach leaders by gossip. Saturation is a burst far beyond what the
//! network commits; half load offers half the committed saturation rate,
//! paced, and its latency is what a client sees on a network with headroom.

use std::time::Duration;

use anyhow::{ensure, Result};
use salus_node::layout::testnet::{LocalTestnet, TESTNET_CHAIN_ID};
use salus_types::clock::now_ms;
use serde_json::json;

use crate::load::{drive, funded_senders, machine, speed_probe, transfers, Load};
use crate::Report;

#[derive(clap::Args, Debug)]
pub struct TestnetArgs {
    #[arg(long, default_value_t = 4)]
    pub validators: usize,
    /// Transfers offered at saturation.
    #[arg(long, default_value_t = 60_000)]
    pub txs: usize,
    #[arg(long, default_value_t = 2_000)]
    pub senders: usize,
    /// How long half load runs.
    #[arg(long, default_value_t = 10)]
    pub half_load_seconds: u64,
    /// Offer this many transactions per second in the paced part instead
    /// of half the measured saturation: to compare two builds at one load.
    #[arg(long)]
    pub paced_tx_per_s: Option<u32>,
}

/// Transactions per HTTP batch.
const BATCH: usize = 2_000;
/// Half load submits a batch this often.
const TICK: Duration = Duration::from_millis(100);

/// Transactions the speed probe checks before each part (tens of
/// milliseconds of work).
const PROBE_TXS: usize = 1_000;

fn part(load: &Load, offered: Option<f64>, probe_per_s: f64) -> serde_json::Value {
    json!({
        "probe_signature_checks_per_s": probe_per_s.round(),
        "tx_per_s": load.tx_per_s,
        "p50_ms": load.p50_ms,
        "p99_ms": load.p99_ms,
        "p50_to_proposal_ms": load.p50_to_proposal_ms,
        "cpu_cores_busy": load.cpu_cores_busy,
        "blocks": load.blocks,
        "offered_tx_per_s": offered,
    })
}

pub fn testnet(args: TestnetArgs) -> Result<Report> {
    ensure!(
        (1..=16).contains(&args.validators) && args.senders > 0 && args.txs > 0,
        "--validators must be 1..=16, --senders and --txs positive"
    );
    let (allocations, mut signers) = funded_senders(args.senders, TESTNET_CHAIN_ID);
    let dir = tempfile::tempdir()?;
    let net = LocalTestnet::start(
        dir.path(),
        args.validators,
        now_ms(),
        allocations,
        |config| {
            config.mempool.max_txs = 400_000;
            config.mempool.max_per_sender = 100_000;
            config.worker_threads = 1;
        },
    )?;
    let apis: Vec<String> = net
        .nodes
        .iter()
        .map(|n| format!("http://{}", n.handle.http_addr))
        .collect();
    let mut finalized = net.nodes[0].handle.finalized.subscribe();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()?;
    let result = runtime.block_on(async {
        let burst = transfers(&mut signers, args.txs);
        let saturation_probe = speed_probe(&burst[..burst.len().min(PROBE_TXS)]);
        let saturation = drive(&apis, burst, &mut finalized, BATCH, None).await?;
        let rate = args
            .paced_tx_per_s
            .map_or(saturation.tx_per_s / 2.0, f64::from);
        let per_tick = ((rate * TICK.as_secs_f64()).round() as usize).max(1);
        let ticks = (args.half_load_seconds * 1_000 / TICK.as_millis() as u64).max(1) as usize;
        let paced = transfers(&mut signers, per_tick * ticks);
        let half_probe = speed_probe(&paced[..paced.len().min(PROBE_TXS)]);
        let half = drive(&apis, paced, &mut finalized, per_tick, Some(TICK)).await?;
        let finality =
            crate::load::certificate_cost(&salus_client::Client::new(apis[0].clone()), 100).await?;
        Ok::<_, anyhow::Error>(json!({
            "bench": "testnet",
            "validators": args.validators,
            "certificate_verify_us_p50": finality.verify_us_p50,
            "certified_header_ms_p50": finality.header_ms_p50,
            "saturation": part(&saturation, None, saturation_probe),
            "half_load": part(&half, Some(rate.round()), half_probe),
            "machine": machine(),
        }))
    });
    for node in net.nodes {
        node.stop()?;
    }
    let value = result?;
    let summary = format!(
            "{} validators: saturation {} tx/s (p50 {} ms, p99 {} ms); at half load ({} tx/s offered) {} tx/s, p50 {} ms, p99 {} ms; machine speed before each: {} and {} signature checks/s on one thread",
            args.validators,
            value["saturation"]["tx_per_s"],
            value["saturation"]["p50_ms"],
            value["saturation"]["p99_ms"],
            value["half_load"]["offered_tx_per_s"],
            value["half_load"]["tx_per_s"],
            value["half_load"]["p50_ms"],
            value["half_load"]["p99_ms"],
            value["saturation"]["probe_signature_checks_per_s"],
            value["half_load"]["probe_signature_checks_per_s"]
        );
    Ok(Report {
        json: value,
        summary,
    })
}
