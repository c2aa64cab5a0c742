//! The Salus demo: a throwaway chain (one validator, or a local network)
//! and a scripted tour through the real HTTP API, one chapter per
//! capability. `salus demo` runs it and prints what it narrates.
//!
//! A harness of the `salus` binary, so its errors are `anyhow`'s, like the
//! binary's own (see `docs/decisions/harness-errors.md`).

mod chapters;
mod tour;

use std::path::Path;

use anyhow::{ensure, Context as _, Result};
use salus_client::Client;
use salus_node::layout::dev::{dev_chain, DEV_PASSPHRASE};
use salus_node::layout::ports::free_loopback_addr;
use salus_node::layout::testnet::LocalTestnet;
use salus_node::NodeConfig;
use salus_types::clock::now_ms;
use serde::Serialize;

use tour::Tour;

/// The most validators the demo starts on one machine.
pub const MAX_DEMO_VALIDATORS: usize = 7;

/// What the demo did: every step, with what the API answered.
#[derive(Debug, Serialize)]
pub struct DemoReport {
    pub chain_id: String,
    pub steps: Vec<serde_json::Value>,
}

/// Runs the demo on `validators` validators, calling `narrate` with a line
/// for people at each step. `salus` is the `salus` binary, which the
/// insurance chapter starts as oracle daemons.
pub fn run(validators: usize, narrate: &dyn Fn(&str), salus: &Path) -> Result<DemoReport> {
    ensure!(
        (1..=MAX_DEMO_VALIDATORS).contains(&validators),
        "the demo runs 1..={MAX_DEMO_VALIDATORS} validators"
    );
    let dir = tempfile::tempdir().context("cannot create a temporary directory")?;
    let (nodes, chain_id, authority, joiner) = if validators == 1 {
        let chain = dev_chain(dir.path(), DEV_PASSPHRASE.as_bytes(), None, now_ms())?;
        let node = salus_node::spawn(NodeConfig::single_validator(
            dir.path().to_path_buf(),
            chain.genesis.clone(),
            chain.validator.clone(),
            free_loopback_addr()?,
        ))?;
        (vec![node], chain.genesis.chain_id, chain.authority, None)
    } else {
        let mut net = LocalTestnet::start(dir.path(), validators, now_ms(), Vec::new(), |_| {})?;
        let joiner = net.add_node(dir.path())?;
        let chain_id = net.testnet.genesis.chain_id.clone();
        (net.nodes, chain_id, net.testnet.authority, Some(joiner))
    };
    let apis: Vec<String> = nodes
        .iter()
        .map(|n| format!("http://{}", n.handle.http_addr))
        .collect();
    narrate(&format!(
        "Salus demo: chain `{chain_id}` with {validators} validator(s){} in {} (APIs {})\n",
        if joiner.is_some() {
            " and a node that is not one yet"
        } else {
            ""
        },
        dir.path().display(),
        apis.join(", ")
    ));
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    let steps = runtime.block_on(async {
        let mut tour = Tour::new(Client::new(apis[0].clone()), narrate);
        let joiner = joiner.map(|(key, p2p)| chapters::Joiner {
            key,
            p2p,
            api: Client::new(apis[apis.len() - 1].clone()),
        });
        chapters::run_all(
            &mut tour,
            &chain_id,
            authority,
            salus,
            dir.path(),
            joiner.as_ref(),
        )
        .await?;
        if nodes.len() > 1 {
            chapters::agreement::validators_agree(&mut tour, &apis).await?;
        }
        Ok::<_, anyhow::Error>(tour.into_steps())
    })?;
    for node in nodes {
        node.stop()?;
    }
    narrate("\nDemo complete: every step above went through the node's HTTP API and was final on chain.");
    Ok(DemoReport { chain_id, steps })
}
