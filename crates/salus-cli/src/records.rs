//! `salus record`, `salus consent` and `salus audit`.

use std::time::{Duration, UNIX_EPOCH};

use anyhow::{bail, Context as _, Result};
use salus_client::record_flow::{Actor, RecordFlow};
use salus_client::Client;
use salus_types::consent::{Purpose, Scope};
use salus_types::records::{Category, RecordId};
use serde_json::{json, Value};

use crate::cli::{AuditArgs, ConsentCommand, RecordCommand};
use crate::output::{parse_account, Context};
use crate::query::pretty;

/// Parses `90s`, `90m`, `12h` or `30d` into milliseconds.
pub fn parse_duration(text: &str) -> Result<u64> {
    let split = text
        .find(|c: char| !c.is_ascii_digit())
        .filter(|&i| i > 0)
        .with_context(|| {
            format!("duration `{text}` must be a number and a unit: 90s, 90m, 12h, 30d")
        })?;
    let (number, unit) = text.split_at(split);
    let number: u64 = number
        .parse()
        .with_context(|| format!("duration `{text}` is too large"))?;
    let unit_ms = match unit {
        "s" => 1_000,
        "m" => 60_000,
        "h" => 3_600_000,
        "d" => 86_400_000,
        other => bail!("unknown duration unit `{other}` (use s, m, h or d)"),
    };
    number.checked_mul(unit_ms).context("duration is too large")
}

fn parse_record(text: &str) -> Result<RecordId> {
    RecordId::from_hex(text)
        .map_err(|_| anyhow::anyhow!("`{text}` is not a record id (32 hex digits)"))
}

fn when(ms: u64) -> String {
    humantime::format_rfc3339_seconds(UNIX_EPOCH + Duration::from_millis(ms)).to_string()
}

async fn actor(ctx: &Context, client: &Client, key: &str) -> Result<Actor> {
    let (signer, pair) = ctx.signer(key, client).await?;
    Ok(Actor {
        signer,
        agreement: pair.agreement,
    })
}

pub fn record(ctx: &Context, command: RecordCommand) -> Result<()> {
    let client = ctx.client();
    ctx.runtime()?.block_on(async {
        match command {
            RecordCommand::Put { key, patient, file, record, category } => {
                let patient = parse_account(&patient)?;
                let record = record.as_deref().map(parse_record).transpose()?;
                let category: Option<Category> =
                    category.map(|c| c.parse()).transpose().map_err(anyhow::Error::msg)?;
                let content = std::fs::read(&file).with_context(|| format!("cannot read {}", file.display()))?;
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

pub fn consent(ctx: &Context, command: ConsentCommand) -> Result<()> {
    let client = ctx.client();
    ctx.runtime()?.block_on(async {
        match command {
            ConsentCommand::Grant { key, grantee, purpose, scope, expires } => {
                let grantee = parse_account(&grantee)?;
                let purpose: Purpose = purpose.parse().map_err(anyhow::Error::msg)?;
                let scope = Scope::parse(&scope).map_err(anyhow::Error::msg)?;
                let lasts = parse_duration(&expires)?;
                let now = client.status().await?.timestamp_ms;
                let flow = RecordFlow::connect(&client).await?;
                let mut patient = actor(ctx, &client, &key).await?;
                let expires_ms = now.checked_add(lasts).context("expiry is too far away")?;
                let (grant, shared) = flow.grant(&mut patient, grantee, scope, purpose, expires_ms).await?;
                let value = json!({"grant": grant, "grantee": grantee.did(), "purpose": purpose, "expires_ms": expires_ms, "versions_shared": shared});
                ctx.emit(&value, || {
                    format!(
                        "grant {grant}: {} may read for {purpose} until {}; keys of {shared} record version(s) shared",
                        grantee.did(),
                        when(expires_ms)
                    )
                });
            }
            ConsentCommand::Revoke { key, grant } => {
                let flow = RecordFlow::connect(&client).await?;
                let mut patient = actor(ctx, &client, &key).await?;
                let height = flow.revoke(&mut patient, grant).await?;
                let value = json!({"grant": grant, "revoked_at_height": height});
                ctx.emit(&value, || format!("revoked grant {grant} at block {height}; vaults refuse it from now on"));
            }
            ConsentCommand::Emergency { key, responders, window } => {
                let responders = responders.iter().map(|r| parse_account(r)).collect::<Result<Vec<_>>>()?;
                let window_ms = parse_duration(&window)?;
                let flow = RecordFlow::connect(&client).await?;
                let mut patient = actor(ctx, &client, &key).await?;
                let shared = flow.allow_emergency(&mut patient, responders.clone(), window_ms).await?;
                let names: Vec<String> = responders.iter().map(|r| r.did().to_string()).collect();
                let value = json!({"responders": names, "window_ms": window_ms, "versions_shared": shared});
                ctx.emit(&value, || {
                    format!("emergency access allowed to {} responder(s) for {window} at a time; keys of {shared} record version(s) wrapped to each in advance", names.len())
                });
            }
            ConsentCommand::BreakGlass { key, patient, reason } => {
                let patient = parse_account(&patient)?;
                let reason: salus_types::consent::EmergencyReason = reason.parse().map_err(anyhow::Error::msg)?;
                let flow = RecordFlow::connect(&client).await?;
                let mut responder = actor(ctx, &client, &key).await?;
                let until = flow.break_glass(&mut responder, patient, reason).await?;
                let value = json!({"patient": patient.did(), "reason": reason, "expires_ms": until});
                ctx.emit(&value, || {
                    format!("emergency access to {} is open until {} (read with --purpose emergency); the patient sees it on chain", patient.did(), when(until))
                });
            }
            ConsentCommand::List { patient } => {
                let value = client.consent_of(&parse_account(&patient)?).await?;
                ctx.emit(&value, || {
                    let mut rows: Vec<String> = value
                        .grants
                        .iter()
                        .map(|g| {
                            format!(
                                "grant {}: {} for {} until {}{}",
                                g.grant.id,
                                g.grant.grantee,
                                g.grant.purpose,
                                when(g.grant.expires_ms),
                                if g.active { "" } else { " (expired)" }
                            )
                        })
                        .collect();
                    if rows.is_empty() {
                        rows.push("no grants".into());
                    }
                    rows.join("\n")
                });
            }
        }
        Ok(())
    })
}

/// Whether an access reason, as named in JSON, allowed the access.
pub fn allows(reason: &str) -> bool {
    reason
        .parse::<salus_types::consent::AccessReason>()
        .is_ok_and(|r| r.allows())
}

/// One line of the audit trail, in plain words.
fn describe(entry: &Value) -> String {
    let at_height = entry["height"].as_u64().unwrap_or(0);
    let event = &entry["event"]["event"];
    let short = |v: &Value| {
        v.as_str()
            .map(|s| format!("{}…", s.chars().take(8).collect::<String>()))
            .unwrap_or_default()
    };
    match (entry["event"]["module"].as_str(), event["type"].as_str()) {
        (Some("audit"), _) => {
            let access = &event["entry"];
            let reason = access["reason"].as_str().unwrap_or("?");
            let allowed = allows(reason);
            format!(
                "{}  {} read record {} v{} for {}: {} ({reason})",
                access["at_ms"].as_u64().map(when).unwrap_or_default(),
                short(&access["requester"]),
                short(&access["record"]),
                access["version"],
                access["purpose"].as_str().unwrap_or("?"),
                if allowed { "ALLOWED" } else { "DENIED" },
            )
        }
        (Some("consent"), Some(kind)) => format!("block {at_height}  consent {kind}: {}", event),
        (Some("records"), Some(kind)) => format!(
            "block {at_height}  record {kind}: {}",
            short(&event["record"])
        ),
        _ => format!("block {at_height}  {}", entry["event"]),
    }
}

pub fn audit(ctx: &Context, args: AuditArgs) -> Result<()> {
    let client = ctx.client();
    ctx.runtime()?.block_on(async {
        let patient = parse_account(&args.patient)?;
        let value = client.audit(&patient, args.limit).await?;
        ctx.emit(&value, || {
            let mut lines = vec![format!(
                "audit trail of {} ({} accesses logged, log head {})",
                patient.did(),
                value.log_head.count,
                value.log_head.head
            )];
            lines.extend(
                value
                    .entries
                    .iter()
                    .map(|entry| describe(&serde_json::to_value(entry).unwrap_or_default())),
            );
            lines.join("\n")
        });
        Ok(())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_parse_with_units_and_refuse_nonsense() {
        assert_eq!(parse_duration("90s").unwrap(), 90_000);
        assert_eq!(parse_duration("12h").unwrap(), 43_200_000);
        assert_eq!(parse_duration("30d").unwrap(), 2_592_000_000);
        for bad in ["", "d", "12", "12w", "-3h", "99999999999999999999d"] {
            assert!(parse_duration(bad).is_err(), "{bad}");
        }
    }
}
