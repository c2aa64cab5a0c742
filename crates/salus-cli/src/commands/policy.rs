//! `salus policy`: buy cover for a patient, and show policies.

use anyhow::{Context as _, Result};
use clap::Subcommand;
use salus_types::insurance::{InsuranceAction, InsuranceEvent};
use salus_types::Event;
use serde_json::json;

use super::consent::parse_duration;
use super::oracle::submit;
use crate::output::{parse_account, when, Context};

#[derive(Subcommand, Debug)]
pub enum PolicyCommand {
    /// Pay the premium for a patient's cover, starting now.
    Buy {
        /// Who pays (the patient, a guardian, an employer).
        #[arg(long)]
        key: String,
        #[arg(long)]
        pool: u64,
        /// The product's index in the pool's terms.
        #[arg(long, default_value_t = 0)]
        product: u16,
        /// The insured; the payer when absent.
        #[arg(long)]
        holder: Option<String>,
        #[arg(long)]
        cover: u128,
        /// `30d`, `12h`, …
        #[arg(long)]
        term: String,
    },
    /// One policy, or (with --holder) every policy a patient holds.
    Show {
        #[arg(long)]
        policy: Option<u64>,
        #[arg(long)]
        holder: Option<String>,
    },
}

pub fn run(ctx: &Context, command: PolicyCommand) -> Result<()> {
    let client = ctx.client();
    ctx.runtime()?.block_on(async {
        match command {
            PolicyCommand::Buy {
                key,
                pool,
                product,
                holder,
                cover,
                term,
            } => {
                let term_ms = parse_duration(&term)?;
                let holder = match holder {
                    Some(text) => parse_account(&text)?,
                    None => ctx.signer(&key, &client).await?.0.account,
                };
                let action = InsuranceAction::BuyPolicy {
                    pool,
                    product,
                    holder,
                    cover,
                    term_ms,
                };
                let outcome = submit(ctx, &client, &key, action.into()).await?;
                let (policy, premium, ends_ms) = outcome
                    .receipt
                    .events
                    .iter()
                    .find_map(|e| match e {
                        Event::Insurance(InsuranceEvent::PolicyBought {
                            policy,
                            premium,
                            ends_ms,
                            ..
                        }) => Some((*policy, *premium, *ends_ms)),
                        _ => None,
                    })
                    .context("the receipt names no policy")?;
                let value =
                    json!({"policy": policy, "premium": premium.to_string(), "ends_ms": ends_ms});
                ctx.emit(&value, || {
                    format!(
                        "policy {policy}: {cover} of cover for {} until {}, premium {premium}",
                        holder.did(),
                        when(ends_ms)
                    )
                });
            }
            PolicyCommand::Show {
                policy: Some(id), ..
            } => {
                let value = client.policy(id).await?;
                ctx.emit(&value, || {
                    let p = &value.policy;
                    format!(
                        "policy {}: {} of {} cover left ({} pending) for {}, pool {}, until {}{}",
                        p.id,
                        p.remaining,
                        p.cover,
                        p.pending,
                        p.holder.did(),
                        p.pool,
                        when(p.ends_ms),
                        if p.released { ", ended" } else { "" }
                    )
                });
            }
            PolicyCommand::Show {
                policy: None,
                holder: Some(holder),
            } => {
                let value = client.policies_of(&parse_account(&holder)?).await?;
                ctx.emit(&value, || {
                    let rows: Vec<String> = value
                        .policies
                        .iter()
                        .map(|p| {
                            format!(
                                "policy {}: {} of {} cover left, until {}",
                                p.id,
                                p.remaining,
                                p.cover,
                                when(p.ends_ms)
                            )
                        })
                        .collect();
                    if rows.is_empty() {
                        format!("{} holds no policies", value.holder)
                    } else {
                        rows.join("\n")
                    }
                });
            }
            PolicyCommand::Show {
                policy: None,
                holder: None,
            } => anyhow::bail!("name a --policy or a --holder"),
        }
        Ok(())
    })
}
