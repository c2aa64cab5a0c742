//! `salus audit`: a patient's audit trail, from the chain.

use anyhow::Result;
use clap::Args;
use serde_json::Value;

use crate::output::{parse_account, when, Context};

#[derive(Args, Debug)]
pub struct AuditArgs {
    #[arg(long)]
    pub patient: String,
    #[arg(long, default_value_t = 100)]
    pub limit: usize,
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

pub fn run(ctx: &Context, args: AuditArgs) -> Result<()> {
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
