//! `salus gov`: propose a change (parameters, a treasury grant, roles,
//! authorities, the oracle draw), vote, and follow proposals.

use std::path::PathBuf;

use anyhow::{Context as _, Result};
use clap::Subcommand;
use salus_types::governance::{Change, GovernanceAction, GovernanceEvent, VoteOption};
use salus_types::Event;
use serde_json::json;

use super::oracle::submit;
use crate::output::Context;

#[derive(Subcommand, Debug)]
pub enum GovCommand {
    /// Propose a change, from a JSON file: {"kind": "params", "module": "oracle",
    /// "params": {…}}, {"kind": "spend", "to": ACCOUNT, "amount": "N"},
    /// {"kind": "fund_pool", …}, {"kind": "attest_role" | "revoke_role", "subject": ACCOUNT,
    /// "role": "oracle"}, {"kind": "set_authority", "account": ACCOUNT, "roles": […]},
    /// {"kind": "bar_oracle" | "admit_oracle", "oracle": ACCOUNT},
    /// {"kind": "set_role_rule", "rule": {…}}, {"kind": "add_validator", "key": HEX,
    /// "address": "IP:PORT"}, {"kind": "remove_validator", "key": HEX} or
    /// {"kind": "rekey_validator", "key": HEX, "new_key": HEX} (these three from the
    /// next epoch). The deposit is refunded unless the proposal is vetoed.
    Propose {
        #[arg(long)]
        key: String,
        #[arg(long)]
        title: String,
        #[arg(long)]
        change: PathBuf,
    },
    /// Vote yes, no, abstain or veto with your voting power at the proposal's start;
    /// a later vote replaces an earlier one.
    Vote {
        #[arg(long)]
        key: String,
        #[arg(long)]
        proposal: u64,
        #[arg(long)]
        option: String,
    },
    /// One proposal with its tally and status.
    Show {
        #[arg(long)]
        proposal: u64,
    },
    /// Every proposal.
    List,
    /// The governance parameters and treasury.
    Params,
}

pub fn run(ctx: &Context, command: GovCommand) -> Result<()> {
    let client = ctx.client();
    ctx.runtime()?.block_on(async {
        match command {
            GovCommand::Propose { key, title, change } => {
                let text = std::fs::read_to_string(&change)
                    .with_context(|| format!("cannot read {}", change.display()))?;
                let change: Change = serde_json::from_str(&text)
                    .with_context(|| format!("{} is not a proposal's change", change.display()))?;
                let outcome = submit(
                    ctx,
                    &client,
                    &key,
                    GovernanceAction::Propose { title, change }.into(),
                )
                .await?;
                let (proposal, end_height) = outcome
                    .receipt
                    .events
                    .iter()
                    .find_map(|e| match e {
                        Event::Governance(GovernanceEvent::Proposed {
                            proposal,
                            end_height,
                            ..
                        }) => Some((*proposal, *end_height)),
                        _ => None,
                    })
                    .context("the receipt names no proposal")?;
                ctx.emit(
                    &json!({"proposal": proposal, "end_height": end_height}),
                    || format!("proposal {proposal} takes votes until block {end_height}"),
                );
            }
            GovCommand::Vote {
                key,
                proposal,
                option,
            } => {
                let option: VoteOption = option.parse().map_err(anyhow::Error::msg)?;
                let outcome = submit(
                    ctx,
                    &client,
                    &key,
                    GovernanceAction::Vote { proposal, option }.into(),
                )
                .await?;
                let weight = outcome
                    .receipt
                    .events
                    .iter()
                    .find_map(|e| match e {
                        Event::Governance(GovernanceEvent::Voted { weight, .. }) => Some(*weight),
                        _ => None,
                    })
                    .context("the receipt names no vote")?;
                ctx.emit(
                    &json!({"proposal": proposal, "option": option, "weight": weight.to_string()}),
                    || format!("voted {option} on proposal {proposal} with weight {weight}"),
                );
            }
            GovCommand::Show { proposal } => {
                let value = client.proposal(proposal).await?;
                ctx.emit(&value, || {
                    let p = &value.proposal;
                    format!(
                        "proposal {} ({}): yes {}, no {}, abstain {}, veto {} of {} bonded; {:?}",
                        p.id,
                        p.title,
                        p.tally.yes,
                        p.tally.no,
                        p.tally.abstain,
                        p.tally.veto,
                        p.bonded,
                        p.status
                    )
                });
            }
            GovCommand::List => {
                let value = client.proposals().await?;
                ctx.emit(&value, || {
                    let rows: Vec<String> = value
                        .proposals
                        .iter()
                        .map(|p| format!("proposal {}: {} — {:?}", p.id, p.title, p.status))
                        .collect();
                    if rows.is_empty() {
                        "no proposals".into()
                    } else {
                        rows.join("\n")
                    }
                });
            }
            GovCommand::Params => {
                let value = client.governance_params().await?;
                ctx.emit(&value, || {
                    format!("{:?}; treasury {}", value.params, value.treasury)
                });
            }
        }
        Ok(())
    })
}
