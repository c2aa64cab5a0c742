//! `salus tx`: token transfers and transaction status; and the helpers every
//! command that signs a transaction uses.

use anyhow::{bail, Context as _, Result};
use clap::Subcommand;
use salus_client::{actions, Client, Signer, TxOutcome};
use salus_types::Action;
use serde_json::json;

use crate::output::{parse_account, pretty, Context};

#[derive(Subcommand, Debug)]
pub enum TxCommand {
    /// Transfer tokens (base units).
    Transfer {
        #[arg(long)]
        key: String,
        #[arg(long)]
        to: String,
        #[arg(long)]
        amount: u128,
    },
    /// Status and receipt of a transaction.
    Status { hash: String },
}

/// Signs, submits and waits; a failed receipt is an error (non-zero exit).
pub(crate) async fn send(
    client: &Client,
    signer: &mut Signer,
    actions: Vec<Action>,
) -> Result<TxOutcome> {
    let tx = signer.sign(actions);
    let hash = tx.hash();
    let outcome = client.submit_and_wait(&tx).await?;
    if !outcome.receipt.succeeded() {
        bail!(
            "transaction {hash} failed at height {}: {} ({})",
            outcome.height,
            outcome.receipt.message,
            outcome.receipt.code.name()
        );
    }
    Ok(outcome)
}

pub(crate) fn report(ctx: &Context, what: &str, outcome: &TxOutcome) {
    let value = json!({
        "result": what,
        "tx": outcome.receipt.tx_hash,
        "height": outcome.height,
        "events": outcome.receipt.events,
    });
    ctx.emit(&value, || {
        format!(
            "{what} (tx {} final at height {})",
            outcome.receipt.tx_hash, outcome.height
        )
    });
}

pub fn run(ctx: &Context, command: TxCommand) -> Result<()> {
    let client = ctx.client();
    ctx.runtime()?.block_on(async {
        match command {
            TxCommand::Transfer { key, to, amount } => {
                let to = parse_account(&to)?;
                let (mut signer, _) = ctx.signer(&key, &client).await?;
                let outcome =
                    send(&client, &mut signer, vec![actions::transfer(to, amount)]).await?;
                report(
                    ctx,
                    &format!("transferred {amount} to {}", to.did()),
                    &outcome,
                );
            }
            TxCommand::Status { hash } => {
                let hash = salus_types::Hash::from_hex(&hash)
                    .context("transaction hash must be 64 hex digits")?;
                let value = client.tx_status(&hash).await?;
                ctx.emit(&value, || pretty(&value));
            }
        }
        Ok(())
    })
}
