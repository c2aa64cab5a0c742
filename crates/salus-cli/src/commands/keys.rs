//! `salus keys`: create, list and show encrypted keys.

use anyhow::Result;
use clap::Subcommand;
use salus_crypto::didkey::DidKey;
use salus_crypto::keystore::{KdfParams, KeyFile, KeyPair};
use salus_types::AccountId;
use serde_json::json;

use crate::output::{passphrase, pretty, Context};

#[derive(Subcommand, Debug)]
pub enum KeysCommand {
    /// Create a new key pair (ed25519 signing + x25519 agreement).
    New { name: String },
    /// List keys in the keystore.
    List,
    /// Show a key's public parts and DIDs.
    Show { name: String },
}

fn describe(file: &KeyFile) -> serde_json::Value {
    let account = AccountId::from_public_key(&file.public_key);
    json!({
        "name": file.name,
        "public_key": file.public_key,
        "agreement_key": file.agreement_key,
        "account": account,
        "did": account.did(),
        "did_key": DidKey::Ed25519(file.public_key).to_did(),
    })
}

pub fn run(ctx: &Context, command: KeysCommand) -> Result<()> {
    match command {
        KeysCommand::New { name } => {
            if ctx.keys.exists(&name) {
                anyhow::bail!(
                    "a key named `{name}` already exists in {}",
                    ctx.keys.path().display()
                );
            }
            let pass = passphrase(&format!("New passphrase for `{name}`: "), true)?;
            let file = KeyFile::seal(
                &name,
                &KeyPair::generate(),
                pass.as_bytes(),
                KdfParams::RECOMMENDED,
            )?;
            ctx.keys.save(&file)?;
            let value = describe(&file);
            ctx.emit(&value, || {
                format!(
                    "Created key `{name}`\n  did:  {}\n  file: {}",
                    value["did"].as_str().unwrap_or_default(),
                    ctx.keys.path().join(format!("{name}.json")).display()
                )
            });
        }
        KeysCommand::List => {
            let files = ctx.keys.list()?;
            let values: Vec<_> = files.iter().map(describe).collect();
            let value = json!({ "keys": values });
            ctx.emit(&value, || {
                if files.is_empty() {
                    format!("No keys in {}", ctx.keys.path().display())
                } else {
                    values
                        .iter()
                        .map(|v| {
                            format!(
                                "{:<20} {}",
                                v["name"].as_str().unwrap_or_default(),
                                v["did"].as_str().unwrap_or_default()
                            )
                        })
                        .collect::<Vec<_>>()
                        .join("\n")
                }
            });
        }
        KeysCommand::Show { name } => {
            let value = describe(&ctx.keys.load(&name)?);
            ctx.emit(&value, || pretty(&value));
        }
    }
    Ok(())
}
