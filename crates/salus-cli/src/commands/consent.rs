//! `salus consent`: grant (sharing the keys of what the grant covers),
//! revoke, list, and the break-glass opt-in and access.

use anyhow::{bail, Context as _, Result};
use clap::Subcommand;
use salus_client::record_flow::RecordFlow;
use salus_types::consent::{Purpose, Scope};
use serde_json::json;

use super::record::actor;
use crate::output::{parse_account, when, Context};

#[derive(Subcommand, Debug)]
pub enum ConsentCommand {
    /// Let a grantee read records, and share the keys of the records covered.
    Grant {
        /// The patient's key (the grant is signed by it).
        #[arg(long)]
        key: String,
        #[arg(long)]
        grantee: String,
        #[arg(long)]
        purpose: String,
        /// `all`, `categories:laboratory,imaging` or `records:<id>,<id>`.
        #[arg(long, default_value = "all")]
        scope: String,
        /// How long the grant runs: `90m`, `12h`, `30d`.
        #[arg(long, default_value = "30d")]
        expires: String,
    },
    /// Revoke a grant; the next finalized block enforces it.
    Revoke {
        #[arg(long)]
        key: String,
        #[arg(long)]
        grant: u64,
    },
    /// A patient's grants, delegations and emergency policy.
    List {
        #[arg(long)]
        patient: String,
    },
    /// Opt in to break-glass access by named responders (their keys are wrapped in advance).
    Emergency {
        #[arg(long)]
        key: String,
        /// A provider who may break the glass (repeat for several).
        #[arg(long = "responder", required = true)]
        responders: Vec<String>,
        /// How long one break-glass access lasts: `30m`, `4h`.
        #[arg(long, default_value = "4h")]
        window: String,
    },
    /// As a named responder, open time-limited emergency access to a patient.
    BreakGlass {
        #[arg(long)]
        key: String,
        #[arg(long)]
        patient: String,
        /// unconscious, life_threatening or urgent_care.
        #[arg(long)]
        reason: String,
    },
}

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

pub fn run(ctx: &Context, command: ConsentCommand) -> Result<()> {
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
