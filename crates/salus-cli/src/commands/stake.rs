//! `salus stake`: bond native tokens for voting power, unbond, withdraw,
//! delegate, and show a stake.

use anyhow::Result;
use clap::Subcommand;
use salus_types::staking::StakingAction;
use serde_json::json;

use super::oracle::submit;
use crate::output::{parse_account, Context};

#[derive(Subcommand, Debug)]
pub enum StakeCommand {
    /// Bond tokens (base units) for voting power.
    Bond {
        #[arg(long)]
        key: String,
        #[arg(long)]
        amount: u128,
    },
    /// Take tokens out of the vote now; withdraw them after the unbonding period.
    Unbond {
        #[arg(long)]
        key: String,
        #[arg(long)]
        amount: u128,
    },
    /// Withdraw every unbonding whose period has ended.
    Withdraw {
        #[arg(long)]
        key: String,
    },
    /// Let another account vote with your bonded tokens (`--to self` to vote yourself).
    Delegate {
        #[arg(long)]
        key: String,
        #[arg(long)]
        to: String,
    },
    /// An account's stake and voting power.
    Show {
        #[arg(long)]
        account: String,
    },
}

pub fn run(ctx: &Context, command: StakeCommand) -> Result<()> {
    let client = ctx.client();
    ctx.runtime()?.block_on(async {
        let (key, action) = match command {
            StakeCommand::Show { account } => {
                let value = client.stake(&parse_account(&account)?).await?;
                ctx.emit(&value, || {
                    format!(
                        "{}: {} bonded, {} unbonding, voting power {} of {} bonded{}",
                        value.account,
                        value.stake.bonded,
                        value.stake.unbonding.iter().map(|u| u.amount).sum::<u128>(),
                        value.power,
                        value.total_bonded,
                        value
                            .stake
                            .delegate
                            .map(|d| format!(", delegated to {}", d.did()))
                            .unwrap_or_default()
                    )
                });
                return Ok(());
            }
            StakeCommand::Bond { key, amount } => (key, StakingAction::Bond { amount }),
            StakeCommand::Unbond { key, amount } => (key, StakingAction::Unbond { amount }),
            StakeCommand::Withdraw { key } => (key, StakingAction::Withdraw),
            StakeCommand::Delegate { key, to } => {
                let to = if to == "self" {
                    None
                } else {
                    Some(parse_account(&to)?)
                };
                (key, StakingAction::Delegate { to })
            }
        };
        let outcome = submit(ctx, &client, &key, action.into()).await?;
        let value = json!({"height": outcome.height, "events": outcome.receipt.events});
        ctx.emit(&value, || format!("done at block {}", outcome.height));
        Ok(())
    })
}
