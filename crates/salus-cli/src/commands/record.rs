//! `salus record`: write, read, list, trace and erase encrypted health
//! records (FHIR R4 JSON).

use anyhow::{Context as _, Result};
use clap::Subcommand;
use salus_client::record_flow::{Actor, RecordFlow};
use salus_client::Client;
use salus_types::consent::Purpose;
use salus_types::records::{Category, RecordId};
use serde_json::json;

use crate::output::{parse_account, pretty, Context};

#[derive(Subcommand, Debug)]
pub enum RecordCommand {
    /// Encrypt a FHIR R4 resource or Bundle for a patient, anchor it and store it.
    Put {
        /// The writer: the patient, or a provider.
        #[arg(long)]
        key: String,
        /// The patient the record belongs to (did:salus or account id).
        #[arg(long)]
        patient: String,
        /// The FHIR JSON file.
        #[arg(long)]
        file: std::path::PathBuf,
        /// Write a new version of this record instead of a new record.
        #[arg(long)]
        record: Option<String>,
        /// Coarse category (otherwise taken from the resource type).
        #[arg(long)]
        category: Option<String>,
    },
    /// Fetch and decrypt a record (consent is checked and the access audited).
    Get {
        #[arg(long)]
        key: String,
        #[arg(long)]
        record: String,
        /// A version; the latest when absent.
        #[arg(long)]
        version: Option<u32>,
        /// Why: treatment, payment, operations, research, public_health, emergency.
        #[arg(long, default_value = "treatment")]
        purpose: String,
        /// Write the FHIR JSON here instead of standard output.
        #[arg(long)]
        out: Option<std::path::PathBuf>,
    },
    /// A patient's records (ids, categories, versions; never content).
    List {
        #[arg(long)]
        patient: String,
    },
    /// A record's versions as anchored on chain.
    History {
        #[arg(long)]
        record: String,
    },
    /// Erase a record: every vault deletes its ciphertext and keys.
    Erase {
        #[arg(long)]
        key: String,
        #[arg(long)]
        record: String,
    },
}

pub(crate) fn parse_record(text: &str) -> Result<RecordId> {
    RecordId::from_hex(text)
        .map_err(|_| anyhow::anyhow!("`{text}` is not a record id (32 hex digits)"))
}

pub(crate) async fn actor(ctx: &Context, client: &Client, key: &str) -> Result<Actor> {
    let (signer, pair) = ctx.signer(key, client).await?;
    Ok(Actor {
        signer,
        agreement: pair.agreement,
    })
}

pub fn run(ctx: &Context, command: RecordCommand) -> Result<()> {
    let client = ctx.client();
    ctx.runtime()?.block_on(async {
        match command {
            RecordCommand::Put { key, patient, file, record, category } => {
                let patient = parse_account(&patient)?;
                let record = record.as_deref().map(parse_record).transpose()?;
                let category: Option<Category> =
                    category.map(|c| c.parse()).transpose().map_err(anyhow::Error::msg)?;
                let content = std::fs::read(&file).with_context(|| format!("cannot read {}", file.display()))?;
                salus_gateway::validate::validate(&content)
                    .with_context(|| format!("{} is not valid FHIR R4", file.display()))?;
                let flow = RecordFlow::connect(&client).await?;
                let mut author = actor(ctx, &client, &key).await?;
                let written = flow.put(&mut author, patient, record, category, &content).await?;
                let readers: Vec<String> = written.readers.iter().map(|a| a.did().to_string()).collect();
                let value = json!({
                    "record": written.record,
                    "version": written.version,
                    "height": written.height,
                    "patient": patient.did(),
                    "wrapped_to": readers,
                });
                ctx.emit(&value, || {
                    format!(
                        "stored record {} version {} for {} (final at block {}); its key is wrapped to {} reader(s)",
                        written.record, written.version, patient.did(), written.height, readers.len()
                    )
                });
            }
            RecordCommand::Get { key, record, version, purpose, out } => {
                let record = parse_record(&record)?;
                let purpose: Purpose = purpose.parse().map_err(anyhow::Error::msg)?;
                let flow = RecordFlow::connect(&client).await?;
                let reader = actor(ctx, &client, &key).await?;
                let read = flow.get(&reader, record, version, purpose).await?;
                let summary = json!({
                    "record": record,
                    "version": read.served.version,
                    "reason": read.served.reason,
                    "grant": read.served.grant,
                });
                match out {
                    Some(path) => {
                        std::fs::write(&path, read.plaintext.as_slice())
                            .with_context(|| format!("cannot write {}", path.display()))?;
                        ctx.emit(&summary, || {
                            format!("decrypted record {record} version {} into {} (access: {})", read.served.version, path.display(), read.served.reason)
                        });
                    }
                    None if ctx.json => {
                        let mut value = summary;
                        value["content"] = serde_json::from_slice(&read.plaintext).context("the record is not JSON")?;
                        println!("{}", pretty(&value));
                    }
                    None => println!("{}", String::from_utf8_lossy(&read.plaintext)),
                }
            }
            RecordCommand::List { patient } => {
                let value = client.records_of(&parse_account(&patient)?).await?;
                ctx.emit(&value, || {
                    let rows: Vec<String> = value
                        .records
                        .iter()
                        .map(|r| {
                            format!(
                                "{}  {:<14} v{}{}",
                                r.record,
                                r.head.category,
                                r.head.latest_version,
                                if r.head.erased_ms.is_none() { "" } else { "  (erased)" }
                            )
                        })
                        .collect();
                    if rows.is_empty() { "no records".into() } else { rows.join("\n") }
                });
            }
            RecordCommand::History { record } => {
                let value = client.record(&parse_record(&record)?).await?;
                ctx.emit(&value, || pretty(&value));
            }
            RecordCommand::Erase { key, record } => {
                let record = parse_record(&record)?;
                let flow = RecordFlow::connect(&client).await?;
                let mut patient = actor(ctx, &client, &key).await?;
                let height = flow.erase(&mut patient, record).await?;
                let value = json!({"record": record, "erased_at_height": height});
                ctx.emit(&value, || {
                    format!("erased record {record} at block {height}: vaults delete its ciphertext and keys; only hashes stay on chain")
                });
            }
        }
        Ok(())
    })
}
