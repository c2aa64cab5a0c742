//! `salus role`: attest or revoke roles (genesis authorities only).

use anyhow::Result;
use clap::Subcommand;
use salus_client::actions;
use salus_types::identity::Role;

use super::tx::{report, send};
use crate::output::{parse_account, Context};

#[derive(Subcommand, Debug)]
pub enum RoleCommand {
    /// Attest that a DID holds a role.
    Attest {
        #[arg(long)]
        key: String,
        #[arg(long)]
        subject: String,
        #[arg(long)]
        role: String,
    },
    /// Revoke a role attestation.
    Revoke {
        #[arg(long)]
        key: String,
        #[arg(long)]
        subject: String,
        #[arg(long)]
        role: String,
    },
}

pub fn run(ctx: &Context, command: RoleCommand) -> Result<()> {
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
