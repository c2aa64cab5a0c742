//! `salus dev`: a single-validator chain on embedded storage.

use std::net::SocketAddr;
use std::path::PathBuf;

use anyhow::{Context as _, Result};
use clap::Args;
use salus_node::layout::dev::dev_chain;
use salus_node::NodeConfig;
use salus_types::clock::now_ms;

use super::node::{ctrl_c, init_logging, node_passphrase, NODE_PASSPHRASE_ENV};
use crate::output::Context;

#[derive(Args, Debug)]
pub struct DevArgs {
    /// Data directory (created on first start, reused after).
    #[arg(long, default_value = ".salus-dev")]
    pub data_dir: PathBuf,
    #[arg(long, default_value = "127.0.0.1:8545")]
    pub http: SocketAddr,
    #[arg(long, default_value = "127.0.0.1:26656")]
    pub p2p: SocketAddr,
    /// Keep vault blobs in this S3-compatible endpoint instead of the data
    /// directory (credentials from AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY).
    #[arg(long, requires = "vault_s3_bucket")]
    pub vault_s3_endpoint: Option<String>,
    #[arg(long, requires = "vault_s3_endpoint")]
    pub vault_s3_bucket: Option<String>,
    #[arg(long, default_value = "us-east-1")]
    pub vault_s3_region: String,
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
    salus_node::run(config, None, ctrl_c())?;
    Ok(())
}
