//! `salus oracle`: bond stake as an oracle, unbond and withdraw it, show an
//! oracle's record, and run the oracle daemon.

use anyhow::{bail, Result};
use clap::Subcommand;
use salus_client::TxOutcome;
use salus_oracle::{Daemon, Fault};
use salus_types::oracle::OracleAction;
use salus_types::Action;
use serde_json::json;

use super::node::{ctrl_c, init_logging};
use super::record::actor;
use crate::output::{parse_account, Context};

#[derive(Subcommand, Debug)]
pub enum OracleCommand {
    /// Bond stake (base units) as an attested oracle; the first bond registers.
    Register {
        #[arg(long)]
        key: String,
        #[arg(long)]
        bond: u128,
    },
    /// Start unbonding stake; `withdraw` returns it after the unbonding period.
    Unbond {
        #[arg(long)]
        key: String,
        #[arg(long)]
        amount: u128,
    },
    /// Withdraw stake whose unbonding period has passed.
    Withdraw {
        #[arg(long)]
        key: String,
    },
    /// Answer the questions assigned to a key until stopped: read the
    /// evidence through the vault (purpose payment), apply the rule, sign.
    Run {
        #[arg(long)]
        key: String,
        /// How often to ask for work when idle, in milliseconds.
        #[arg(long, default_value_t = salus_oracle::DEFAULT_POLL.as_millis() as u64)]
        poll_ms: u64,
        /// A deliberate fault for drills: `always-deny` answers without reading.
        #[arg(long)]
        fault: Option<String>,
    },
    /// An oracle's bond, unbonding stake and record of answers.
    Show {
        #[arg(long)]
        oracle: String,
    },
}

/// Submits one action signed by `key` and fails on a refusal.
pub(crate) async fn submit(
    ctx: &Context,
    client: &salus_client::Client,
    key: &str,
    action: Action,
) -> Result<TxOutcome> {
    let (mut signer, _) = ctx.signer(key, client).await?;
    let outcome = client.submit_and_wait(&signer.sign(vec![action])).await?;
    if !outcome.receipt.succeeded() {
        bail!(
            "the chain refused ({}): {}",
            outcome.receipt.code.name(),
            outcome.receipt.message
        );
    }
    Ok(outcome)
}

pub fn run(ctx: &Context, command: OracleCommand) -> Result<()> {
    let client = ctx.client();
    ctx.runtime()?.block_on(async {
        match command {
            OracleCommand::Register { key, bond } => {
                let outcome = submit(ctx, &client, &key, OracleAction::Bond { amount: bond }.into()).await?;
                let value = json!({"bonded": bond.to_string(), "height": outcome.height});
                ctx.emit(&value, || format!("bonded {bond} at block {}; committees may now draw this oracle", outcome.height));
            }
            OracleCommand::Unbond { key, amount } => {
                let outcome = submit(ctx, &client, &key, OracleAction::Unbond { amount }.into()).await?;
                let value = json!({"unbonding": amount.to_string(), "height": outcome.height});
                ctx.emit(&value, || format!("unbonding {amount} from block {}; withdraw after the unbonding period", outcome.height));
            }
            OracleCommand::Withdraw { key } => {
                let outcome = submit(ctx, &client, &key, OracleAction::Withdraw.into()).await?;
                let value = json!({"height": outcome.height, "events": outcome.receipt.events});
                ctx.emit(&value, || format!("withdrew the unbonded stake at block {}", outcome.height));
            }
            OracleCommand::Run { key, poll_ms, fault } => {
                let fault = match fault.as_deref() {
                    None => None,
                    Some("always-deny") => Some(Fault::AlwaysDeny),
                    Some(other) => bail!("unknown fault `{other}` (the one drill is always-deny)"),
                };
                init_logging();
                let oracle = actor(ctx, &client, &key).await?;
                if !ctx.json {
                    eprintln!("oracle {} answering its questions at {}", oracle.account().did(), client.base());
                }
                Daemon::new(client.clone(), oracle, fault)
                    .run(std::time::Duration::from_millis(poll_ms), ctrl_c())
                    .await;
            }
            OracleCommand::Show { oracle } => {
                let value = client.oracle(&parse_account(&oracle)?).await?;
                ctx.emit(&value, || {
                    let r = &value.record;
                    format!(
                        "{}: bond {}, unbonding {}{}; answered {}, agreed {}, disputed {}, missed {}; slashed {}, fees earned {}",
                        value.oracle, r.bond, r.unbonding,
                        if value.eligible { " (eligible)" } else { " (not eligible)" },
                        r.answered, r.agreed, r.disputed, r.missed, r.slashed, r.fees_earned
                    )
                });
            }
        }
        Ok(())
    })
}
