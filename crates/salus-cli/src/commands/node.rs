//! `salus node`: run one validator of a network from its node file; and the
//! process setup every command that runs a node shares.

use std::path::PathBuf;

use anyhow::{Context as _, Result};
use clap::Args;
use salus_node::layout::dev::DEV_PASSPHRASE;
use salus_node::layout::node_file::NodeFile;

use crate::output::Context;

/// Where a node's key files get their passphrase.
pub const NODE_PASSPHRASE_ENV: &str = "SALUS_NODE_PASSPHRASE";

#[derive(Args, Debug)]
pub struct NodeArgs {
    /// The node's TOML file.
    #[arg(long)]
    pub config: PathBuf,
}

/// The node's key-file passphrase: `SALUS_NODE_PASSPHRASE`, or the dev
/// default (dev chains only: a real node must set it).
pub fn node_passphrase() -> String {
    std::env::var(NODE_PASSPHRASE_ENV).unwrap_or_else(|_| DEV_PASSPHRASE.to_owned())
}

/// Logs to standard error, filtered by `SALUS_LOG`.
pub fn init_logging() {
    let filter = tracing_subscriber::EnvFilter::try_from_env("SALUS_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info,commonware=warn"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .try_init();
}

/// Resolves when the process is asked to stop (Ctrl-C).
pub fn ctrl_c() -> futures::future::BoxFuture<'static, ()> {
    Box::pin(async {
        let _ = tokio::signal::ctrl_c().await;
    })
}

/// Runs one node until Ctrl-C.
pub fn run(ctx: &Context, args: NodeArgs) -> Result<()> {
    init_logging();
    let config = NodeFile::load(&args.config, node_passphrase().as_bytes())
        .with_context(|| format!("cannot load the node file {}", args.config.display()))?;
    if !ctx.json {
        eprintln!(
            "salus node: chain {} with key {} (it signs in the epochs whose validator set names it), API on http://{}",
            config.genesis.chain_id,
            config.validator_key.public_key(),
            config.http_listen
        );
    }
    salus_node::run(config, None, ctrl_c())?;
    Ok(())
}
