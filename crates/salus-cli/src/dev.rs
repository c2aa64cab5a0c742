//! `salus dev`: a single-validator chain on embedded storage.

use std::time::{SystemTime, UNIX_EPOCH};

use anyhow::{Context as _, Result};
use salus_node::layout::dev::dev_chain;
use salus_node::NodeConfig;

use crate::cli::DevArgs;
use crate::output::Context;

/// The dev node's key files are encrypted with this passphrase unless
/// `SALUS_NODE_PASSPHRASE` says otherwise. Dev chains only: a real node must set it.
pub const DEV_PASSPHRASE: &str = "salus-dev-insecure";
pub const NODE_PASSPHRASE_ENV: &str = "SALUS_NODE_PASSPHRASE";

pub fn node_passphrase() -> String {
    std::env::var(NODE_PASSPHRASE_ENV).unwrap_or_else(|_| DEV_PASSPHRASE.to_owned())
}

pub fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

pub fn init_logging() {
    let filter = tracing_subscriber::EnvFilter::try_from_env("SALUS_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info,commonware=warn"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .try_init();
}

pub fn run(ctx: &Context, args: DevArgs) -> Result<()> {
    init_logging();
    let passphrase = node_passphrase();
    let chain = dev_chain(
        &args.data_dir,
        passphrase.as_bytes(),
        Some(&ctx.keys),
        now_ms(),
    )
    .with_context(|| {
        format!(
            "cannot prepare the dev chain in {}",
            args.data_dir.display()
        )
    })?;
    eprintln!(
        "salus dev: chain {} in {}, API on http://{}; the key `dev-authority` in {} holds the dev funds (passphrase: ${NODE_PASSPHRASE_ENV} or the dev default)",
        chain.genesis.chain_id,
        args.data_dir.display(),
        args.http,
        ctx.keys.path().display()
    );
    let mut config = NodeConfig {
        http_listen: args.http,
        ..NodeConfig::single_validator(args.data_dir, chain.genesis, chain.validator, args.p2p)
    };
    if let (Some(endpoint), Some(bucket)) = (args.vault_s3_endpoint, args.vault_s3_bucket) {
        let credential = |name: &str| {
            std::env::var(name).with_context(|| format!("{name} must be set for an S3 vault"))
        };
        config.vault_blobs = salus_vault::BlobConfig::S3 {
            allow_http: endpoint.starts_with("http://"),
            endpoint,
            bucket,
            region: args.vault_s3_region,
            access_key_id: credential("AWS_ACCESS_KEY_ID")?,
            secret_access_key: credential("AWS_SECRET_ACCESS_KEY")?,
        };
    }
    let shutdown = Box::pin(async {
        let _ = tokio::signal::ctrl_c().await;
    });
    salus_node::run(config, None, shutdown)?;
    Ok(())
}
