//! `salus pool`: open an insurance pool, provide liquidity, redeem shares,
//! and show a pool or a position.

use std::path::PathBuf;

use anyhow::{Context as _, Result};
use clap::Subcommand;
use salus_types::insurance::{InsuranceAction, InsuranceEvent, PoolTerms};
use salus_types::Event;
use serde_json::json;

use super::oracle::submit;
use crate::output::{parse_account, Context};

#[derive(Subcommand, Debug)]
pub enum PoolCommand {
    /// As an attested insurer, open a pool with the terms in a JSON file
    /// (products, premium_rate_bps, min_capital_ratio_bps, max_cover, lockup_ms).
    Create {
        #[arg(long)]
        key: String,
        #[arg(long)]
        terms: PathBuf,
    },
    /// Deposit capital (base units) for shares at the current share price.
    Deposit {
        #[arg(long)]
        key: String,
        #[arg(long)]
        pool: u64,
        #[arg(long)]
        amount: u128,
    },
    /// Redeem shares at the current share price, after the lockup.
    Withdraw {
        #[arg(long)]
        key: String,
        #[arg(long)]
        pool: u64,
        #[arg(long)]
        shares: u128,
    },
    /// A pool's terms and books, or (with --provider) a position in it.
    Show {
        #[arg(long)]
        pool: u64,
        #[arg(long)]
        provider: Option<String>,
    },
}

pub fn run(ctx: &Context, command: PoolCommand) -> Result<()> {
    let client = ctx.client();
    ctx.runtime()?.block_on(async {
        match command {
            PoolCommand::Create { key, terms } => {
                let text = std::fs::read_to_string(&terms).with_context(|| format!("cannot read {}", terms.display()))?;
                let terms: PoolTerms = serde_json::from_str(&text).with_context(|| format!("{} is not pool terms", terms.display()))?;
                let outcome = submit(ctx, &client, &key, InsuranceAction::CreatePool { terms }.into()).await?;
                let pool = outcome.receipt.events.iter().find_map(|e| match e {
                    Event::Insurance(InsuranceEvent::PoolCreated { pool, .. }) => Some(*pool),
                    _ => None,
                }).context("the receipt names no pool")?;
                ctx.emit(&json!({"pool": pool, "height": outcome.height}), || format!("pool {pool} is open"));
            }
            PoolCommand::Deposit { key, pool, amount } => {
                let outcome = submit(ctx, &client, &key, InsuranceAction::Deposit { pool, amount }.into()).await?;
                let shares = outcome.receipt.events.iter().find_map(|e| match e {
                    Event::Insurance(InsuranceEvent::Deposited { shares, .. }) => Some(*shares),
                    _ => None,
                }).context("the receipt names no shares")?;
                ctx.emit(&json!({"pool": pool, "amount": amount.to_string(), "shares": shares.to_string()}), || format!("deposited {amount} into pool {pool} for {shares} shares"));
            }
            PoolCommand::Withdraw { key, pool, shares } => {
                let outcome = submit(ctx, &client, &key, InsuranceAction::Withdraw { pool, shares }.into()).await?;
                let amount = outcome.receipt.events.iter().find_map(|e| match e {
                    Event::Insurance(InsuranceEvent::Withdrawn { amount, .. }) => Some(*amount),
                    _ => None,
                }).context("the receipt names no amount")?;
                ctx.emit(&json!({"pool": pool, "shares": shares.to_string(), "amount": amount.to_string()}), || format!("redeemed {shares} shares of pool {pool} for {amount}"));
            }
            PoolCommand::Show { pool, provider: Some(provider) } => {
                let value = client.position(pool, &parse_account(&provider)?).await?;
                ctx.emit(&value, || format!("{} holds {} shares of pool {pool}, worth {} now; unlocks at {} ms", value.provider, value.position.shares, value.value, value.position.unlocks_ms));
            }
            PoolCommand::Show { pool, provider: None } => {
                let value = client.pool(pool).await?;
                ctx.emit(&value, || {
                    let p = &value.pool;
                    format!(
                        "pool {}: capital {}, {} shares, active cover {}; deposited {}, premiums {}, paid out {}, withdrawn {}",
                        p.id, p.capital, p.shares, p.active_cover, p.deposited, p.premiums, p.paid_out, p.withdrawn
                    )
                });
            }
        }
        Ok(())
    })
}
