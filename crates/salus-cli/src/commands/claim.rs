//! `salus claim`: file a claim on a policy (sharing the evidence's keys with
//! the oracle committee the chain drew), show one, and list a patient's.

use anyhow::{Context as _, Result};
use clap::Subcommand;
use salus_client::record_flow::RecordFlow;
use salus_types::insurance::{InsuranceAction, InsuranceEvent};
use salus_types::oracle::Evidence;
use salus_types::records::RecordId;
use salus_types::Event;
use serde_json::json;

use super::record::actor;
use crate::output::{parse_account, Context};

#[derive(Subcommand, Debug)]
pub enum ClaimCommand {
    /// File a claim: the evidence's keys go to the drawn committee, which
    /// may read exactly that evidence, for payment, until the claim settles.
    File {
        /// The insured (or its guardian, or the provider who wrote the evidence).
        #[arg(long)]
        key: String,
        #[arg(long)]
        policy: u64,
        /// `<record id>` (latest version) or `<record id>:<version>`; repeat for several.
        #[arg(long = "evidence", required = true)]
        evidence: Vec<String>,
        #[arg(long)]
        amount: u128,
        /// Who is paid: the insured (default) or the provider who wrote the evidence.
        #[arg(long)]
        payee: Option<String>,
        /// A provider filing for the insured: the patient's consent grant
        /// (purpose payment, to the provider, covering the evidence).
        #[arg(long)]
        authorization: Option<u64>,
    },
    /// One claim, with its oracle question's answers.
    Show {
        #[arg(long)]
        claim: u64,
    },
    /// Every claim on a patient's cover.
    List {
        #[arg(long)]
        holder: String,
    },
}

pub fn run(ctx: &Context, command: ClaimCommand) -> Result<()> {
    let client = ctx.client();
    ctx.runtime()?.block_on(async {
        match command {
            ClaimCommand::File { key, policy, evidence, amount, payee, authorization } => {
                let flow = RecordFlow::connect(&client).await?;
                let mut items = Vec::with_capacity(evidence.len());
                for text in &evidence {
                    let (record, version) = match text.split_once(':') {
                        Some((record, version)) => (record, Some(version.parse::<u32>().with_context(|| format!("version in `{text}` is not a number"))?)),
                        None => (text.as_str(), None),
                    };
                    let record = RecordId::from_hex(record).map_err(|_| anyhow::anyhow!("`{record}` is not a record id (32 hex digits)"))?;
                    let version = match version {
                        Some(v) => v,
                        None => flow.head(&record).await?.with_context(|| format!("record {record} is unknown"))?.latest_version,
                    };
                    items.push(Evidence { record, version });
                }
                let mut claimant = actor(ctx, &client, &key).await?;
                let payee = match payee {
                    Some(text) => parse_account(&text)?,
                    None => client.policy(policy).await?.policy.holder,
                };
                let evidence = items.clone();
                let action = match authorization {
                    None => InsuranceAction::FileClaim { policy, evidence, amount, payee },
                    Some(authorization) => InsuranceAction::FileClaimForInsured { policy, evidence, amount, payee, authorization },
                };
                let outcome = client.submit_and_wait(&claimant.signer.sign(vec![action.into()])).await?;
                if !outcome.receipt.succeeded() {
                    anyhow::bail!("the chain refused ({}): {}", outcome.receipt.code.name(), outcome.receipt.message);
                }
                let (claim, question) = outcome.receipt.events.iter().find_map(|e| match e {
                    Event::Insurance(InsuranceEvent::ClaimFiled { claim, question, .. }) => Some((*claim, *question)),
                    _ => None,
                }).context("the receipt names no claim")?;
                let committee: Vec<_> = client.question(question).await?.question.committee.iter().map(|m| m.oracle).collect();
                let versions: Vec<_> = items.iter().map(|e| (e.record, e.version)).collect();
                let shared = flow.share(&claimant, &committee, &versions).await?;
                let value = json!({"claim": claim, "question": question, "committee": committee.iter().map(|c| c.did()).collect::<Vec<_>>(), "versions_shared": shared});
                ctx.emit(&value, || format!("claim {claim} filed as oracle question {question}; the evidence's keys went to its {} committee members", committee.len()));
            }
            ClaimCommand::Show { claim } => {
                let claim = client.claim(claim).await?;
                let question = client.question(claim.claim.question).await?;
                let value = json!({"claim": claim.claim, "question": question.question});
                ctx.emit(&value, || {
                    let c = &claim.claim;
                    let answers: Vec<String> = question.question.committee.iter().map(|m| format!("{}: {}", m.oracle.did(), m.answer.as_ref().map_or("no answer".to_owned(), |a| format!("{a:?}")))).collect();
                    format!("claim {} on policy {}: {} asked, {:?}\n{}", c.id, c.policy, c.amount, c.status, answers.join("\n"))
                });
            }
            ClaimCommand::List { holder } => {
                let value = client.claims_of(&parse_account(&holder)?).await?;
                ctx.emit(&value, || {
                    let rows: Vec<String> = value.claims.iter().map(|c| format!("claim {}: policy {}, {} asked, {:?}", c.id, c.policy, c.amount, c.status)).collect();
                    if rows.is_empty() { format!("no claims on {}'s cover", value.holder) } else { rows.join("\n") }
                });
            }
        }
        Ok(())
    })
}
