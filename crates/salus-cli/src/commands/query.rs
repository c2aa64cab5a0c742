//! `salus query`: reads, with state proofs verified on the client.

use anyhow::{Context as _, Result};
use clap::Subcommand;
use salus_client::Client;
use serde_json::json;

use crate::output::{parse_account, pretty, Context};

#[derive(Subcommand, Debug)]
pub enum QueryCommand {
    /// Node status.
    Status,
    /// An account's nonce, balance and roles.
    Account { account: String },
    /// A finalized block (`latest` for the tip).
    Block { height: String },
    /// A raw state key (hex) with its proof, verified against the block header.
    State {
        key: String,
        #[arg(long)]
        height: Option<u64>,
    },
    /// A token balance, proven against the latest header.
    Balance { account: String },
    /// Events that concern an account.
    Events {
        account: String,
        #[arg(long, default_value_t = 20)]
        limit: usize,
    },
}

/// Fetches `key` with its proof, fetches the header independently and checks
/// the proof against it. Returns (value, height, state root).
async fn proven_value(
    client: &Client,
    key: &[u8],
    height: Option<u64>,
) -> Result<(Option<Vec<u8>>, u64, String)> {
    let proven = client.proven(key, height).await?;
    Ok((
        proven.value,
        proven.header.height,
        proven.header.state_root.to_hex(),
    ))
}

pub fn run(ctx: &Context, command: QueryCommand) -> Result<()> {
    let client = ctx.client();
    ctx.runtime()?.block_on(async {
        match command {
            QueryCommand::Status => {
                let value = client.status().await?;
                ctx.emit(&value, || pretty(&value));
            }
            QueryCommand::Account { account } => {
                let value = client.account(&parse_account(&account)?).await?;
                ctx.emit(&value, || pretty(&value));
            }
            QueryCommand::Block { height } => {
                let value = client.block_named(&height).await?;
                ctx.emit(&value, || pretty(&value));
            }
            QueryCommand::State { key, height } => {
                let key = hex::decode(&key).context("key must be hex")?;
                let (value, height, root) = proven_value(&client, &key, height).await?;
                let value = json!({
                    "key": hex::encode(&key),
                    "value": value.map(hex::encode),
                    "height": height,
                    "state_root": root,
                    "verified": true,
                });
                ctx.emit(&value, || pretty(&value));
            }
            QueryCommand::Balance { account } => {
                let account = parse_account(&account)?;
                let key = salus_types::token::balance_key(&account);
                let (value, height, root) = proven_value(&client, &key, None).await?;
                let balance: u128 = match value {
                    Some(bytes) => borsh_u128(&bytes)?,
                    None => 0,
                };
                let value = json!({"account": account.did(), "balance": balance.to_string(), "height": height, "state_root": root, "verified": true});
                ctx.emit(&value, || format!("{} has {balance} (proven against block {height}, state root {root})", account.did()));
            }
            QueryCommand::Events { account, limit } => {
                let value = client.events(&parse_account(&account)?, limit).await?;
                ctx.emit(&value, || pretty(&value));
            }
        }
        Ok(())
    })
}

fn borsh_u128(bytes: &[u8]) -> Result<u128> {
    let array: [u8; 16] = bytes.try_into().context("a balance is 16 bytes")?;
    Ok(u128::from_le_bytes(array))
}
