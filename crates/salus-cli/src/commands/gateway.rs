//! `salus gateway`: serve FHIR R4 at `/fhir` with a key from the keystore,
//! so that an EHR or any FHIR client writes and reads Salus records.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::{bail, Context as _, Result};
use salus_client::Client;
use serde_json::json;

use super::node::init_logging;
use super::record::actor;
use crate::output::Context;

/// Where the gateway reads its bearer token when no file is given.
pub const TOKEN_ENV: &str = "SALUS_GATEWAY_TOKEN";

#[derive(clap::Args, Debug)]
pub struct GatewayArgs {
    /// The key the gateway acts with: a patient's, or a provider's.
    #[arg(long)]
    key: String,
    /// Where to serve FHIR: a loopback address.
    #[arg(long, default_value = "127.0.0.1:8080")]
    listen: SocketAddr,
    /// Further nodes to use, in order, when `--node` cannot be reached.
    #[arg(long = "fallback-node")]
    fallback_nodes: Vec<String>,
    /// A file holding the bearer token clients must present. Without it the
    /// token comes from SALUS_GATEWAY_TOKEN, or a fresh one is printed.
    #[arg(long)]
    token_file: Option<PathBuf>,
    /// How often to follow the chain for grants, revocations and new versions.
    #[arg(long, default_value_t = salus_gateway::DEFAULT_REFRESH.as_millis() as u64)]
    refresh_ms: u64,
}

fn token(args: &GatewayArgs) -> Result<(String, bool)> {
    if let Some(path) = &args.token_file {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("cannot read the token file {}", path.display()))?;
        return Ok((text.trim().to_owned(), false));
    }
    if let Ok(token) = std::env::var(TOKEN_ENV) {
        return Ok((token, false));
    }
    Ok((hex::encode(salus_crypto::random_bytes::<32>()), true))
}

/// The first node that answers, in the order given.
async fn reachable(nodes: &[String]) -> Result<Client> {
    for node in nodes {
        let client = Client::new(node.clone());
        match client.status().await {
            Ok(_) => return Ok(client),
            Err(e) => eprintln!("node {node} cannot be reached ({e}); trying the next"),
        }
    }
    bail!("none of the nodes can be reached: {}", nodes.join(", "))
}

pub fn run(ctx: &Context, args: GatewayArgs) -> Result<()> {
    init_logging();
    let (token, fresh) = token(&args)?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    runtime.block_on(async {
        let mut nodes = vec![ctx.node.clone()];
        nodes.extend(args.fallback_nodes.iter().cloned());
        let client = reachable(&nodes).await?;
        let member = actor(ctx, &client, &args.key).await?;
        let account = member.account();
        let config = salus_gateway::Config {
            listen: args.listen,
            token: token.clone(),
            refresh: Duration::from_millis(args.refresh_ms.max(100)),
        };
        let running = salus_gateway::start(config, client, member).await?;
        let shown_token = if fresh {
            token.as_str()
        } else {
            "(as configured)"
        };
        let value = json!({
            "base": running.base,
            "account": account.did(),
            "indexed": running.indexed,
            "token": shown_token,
        });
        ctx.emit(&value, || {
            format!(
                "FHIR gateway for {} at {} ({} records indexed)\nbearer token: {shown_token}",
                account.did(),
                running.base,
                running.indexed
            )
        });
        tokio::select! {
            served = running.wait() => served.context("the gateway stopped serving"),
            _ = tokio::signal::ctrl_c() => Ok(()),
        }
    })
}
