//! `salus did`: register, show and rotate DIDs.

use anyhow::{bail, Result};
use clap::Subcommand;
use salus_client::actions;
use salus_types::identity::Service;

use super::tx::{report, send};
use crate::output::{pretty, Context};

#[derive(Subcommand, Debug)]
pub enum DidCommand {
    /// Register did:salus for a key's account.
    Register {
        #[arg(long)]
        key: String,
        /// A service as `id=type=endpoint`, e.g. `vault=SalusVault=https://vault.example`.
        #[arg(long = "service")]
        services: Vec<String>,
    },
    /// Resolve a did:salus or did:key.
    Show { did: String },
    /// Rotate an account to a new key (the new key must be in the keystore).
    Rotate {
        #[arg(long)]
        key: String,
        #[arg(long)]
        new_key: String,
    },
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

pub fn run(ctx: &Context, command: DidCommand) -> Result<()> {
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
                ctx.emit(&value, || pretty(&value));
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
