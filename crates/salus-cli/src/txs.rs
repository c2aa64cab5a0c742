//! Commands that sign and submit transactions: `did`, `role`, `tx`.

use anyhow::{bail, Context as _, Result};
use salus_client::{actions, Client, Signer, TxOutcome};
use salus_types::identity::{Role, Service};
use salus_types::Action;
use serde_json::json;

use crate::cli::{DidCommand, RoleCommand, TxCommand};
use crate::output::{parse_account, Context};

/// Signs, submits and waits; a failed receipt is an error (non-zero exit).
pub(crate) async fn send(
    client: &Client,
    signer: &mut Signer,
    actions: Vec<Action>,
) -> Result<TxOutcome> {
    let tx = signer.sign(actions);
    let hash = tx.hash();
    let outcome = client.submit_and_wait(&tx).await?;
    if !outcome.receipt.succeeded() {
        bail!(
            "transaction {hash} failed at height {}: {} ({})",
            outcome.height,
            outcome.receipt.message,
            outcome.receipt.code.name()
        );
    }
    Ok(outcome)
}

pub(crate) fn report(ctx: &Context, what: &str, outcome: &TxOutcome) {
    let value = json!({
        "result": what,
        "tx": outcome.receipt.tx_hash,
        "height": outcome.height,
        "events": outcome.receipt.events,
    });
    ctx.emit(&value, || {
        format!(
            "{what} (tx {} final at height {})",
            outcome.receipt.tx_hash, outcome.height
        )
    });
}

fn parse_service(text: &str) -> Result<Service> {
    let mut parts = text.splitn(3, '=');
    match (parts.next(), parts.next(), parts.next()) {
        (Some(id), Some(kind), Some(endpoint))
            if !id.is_empty() && !kind.is_empty() && !endpoint.is_empty() =>
        {
            Ok(Service {
                id: id.into(),
                kind: kind.into(),
                endpoint: endpoint.into(),
            })
        }
        _ => bail!("service `{text}` must look like id=type=endpoint"),
    }
}

pub fn did(ctx: &Context, command: DidCommand) -> Result<()> {
    let client = ctx.client();
    ctx.runtime()?.block_on(async {
        match command {
            DidCommand::Register { key, services } => {
                let services = services
                    .iter()
                    .map(|s| parse_service(s))
                    .collect::<Result<Vec<_>>>()?;
                let (mut signer, pair) = ctx.signer(&key, &client).await?;
                let did = signer.account.did();
                let outcome = send(
                    &client,
                    &mut signer,
                    vec![actions::register_did(pair.agreement.public_key(), services)],
                )
                .await?;
                report(ctx, &format!("registered {did}"), &outcome);
            }
            DidCommand::Show { did } => {
                let value = client.resolve(&did).await?;
                ctx.emit(&value, || {
                    serde_json::to_string_pretty(&value).unwrap_or_default()
                });
            }
            DidCommand::Rotate { key, new_key } => {
                let (mut signer, _) = ctx.signer(&key, &client).await?;
                let next = ctx.open_key(&new_key)?;
                let account = signer.account;
                let action = actions::rotate_keys(
                    &signer.chain_id,
                    &account,
                    &next.signing,
                    next.agreement.public_key(),
                );
                let outcome = send(&client, &mut signer, vec![action]).await?;
                // From now on `new_key` signs for this account.
                ctx.record_account(&new_key, &account)?;
                report(
                    ctx,
                    &format!("rotated {} to key `{new_key}`", account.did()),
                    &outcome,
                );
            }
        }
        Ok(())
    })
}

pub fn role(ctx: &Context, command: RoleCommand) -> Result<()> {
    let client = ctx.client();
    ctx.runtime()?.block_on(async {
        let (key, subject, role_name, attest) = match command {
            RoleCommand::Attest { key, subject, role } => (key, subject, role, true),
            RoleCommand::Revoke { key, subject, role } => (key, subject, role, false),
        };
        let subject = parse_account(&subject)?;
        let role: Role = role_name.parse().map_err(anyhow::Error::msg)?;
        let (mut signer, _) = ctx.signer(&key, &client).await?;
        let action = if attest {
            actions::attest_role(subject, role)
        } else {
            actions::revoke_role(subject, role)
        };
        let outcome = send(&client, &mut signer, vec![action]).await?;
        let verb = if attest { "attested" } else { "revoked" };
        report(
            ctx,
            &format!("{verb} role {} for {}", role.name(), subject.did()),
            &outcome,
        );
        Ok(())
    })
}

pub fn tx(ctx: &Context, command: TxCommand) -> Result<()> {
    let client = ctx.client();
    ctx.runtime()?.block_on(async {
        match command {
            TxCommand::Transfer { key, to, amount } => {
                let to = parse_account(&to)?;
                let (mut signer, _) = ctx.signer(&key, &client).await?;
                let outcome =
                    send(&client, &mut signer, vec![actions::transfer(to, amount)]).await?;
                report(
                    ctx,
                    &format!("transferred {amount} to {}", to.did()),
                    &outcome,
                );
            }
            TxCommand::Status { hash } => {
                let hash = salus_types::Hash::from_hex(&hash)
                    .context("transaction hash must be 64 hex digits")?;
                let value = client.tx_status(&hash).await?;
                ctx.emit(&value, || {
                    serde_json::to_string_pretty(&value).unwrap_or_default()
                });
            }
        }
        Ok(())
    })
}
