//! `salus credential …`: issuers define, issue, publish sets and revoke;
//! authorities set role rules; verifiers write requests and verify;
//! holders present, claim roles and export W3C credentials.
//!
//! An issuer's secrets live in the keystore's `issuers/` folder, sealed by
//! `salus_client::issuer` under a key derived from its own signing key.

use std::path::{Path, PathBuf};

use anyhow::{anyhow, ensure, Context as _, Result};
use clap::Subcommand;
use salus_client::credentials::present;
use salus_client::issuer::{attribute_value, immunization_claims, IssuerSecrets};
use salus_types::clock::now_ms;
use salus_types::credentials::date_of;
use salus_types::credentials::{CredentialAction, RoleRule};
use salus_types::identity::Role;
use salus_types::Action;
use salus_zk::{
    AttributeValue, Credential, Issuer, Predicate, Presentation, PresentationRequest, PublicSet,
    Schema,
};
use serde_json::{json, Value};

use crate::output::{parse_account, Context};

#[derive(Subcommand, Debug)]
pub enum CredentialCommand {
    /// Define a credential (issuer): a schema, fresh keys and a revocation registry.
    Define {
        #[arg(long)]
        key: String,
        /// The fragment: the definition id becomes `did:salus:<you>#<name>`.
        #[arg(long)]
        name: String,
        /// Schema JSON: {"id": "...", "attributes": [{"name": "...", "kind": "text|date|integer|decimal", "scale": 2}]}.
        #[arg(long)]
        schema: PathBuf,
        #[arg(long, default_value_t = salus_zk::DEFAULT_CAPACITY)]
        capacity: u32,
    },
    /// Issue a credential (issuer). Values come from --values (a JSON object),
    /// --from-fhir (an Immunization resource) and --set name=value, later ones winning.
    Issue {
        #[arg(long)]
        key: String,
        #[arg(long)]
        name: String,
        #[arg(long)]
        values: Option<PathBuf>,
        #[arg(long)]
        from_fhir: Option<PathBuf>,
        #[arg(long = "set")]
        set: Vec<String>,
        #[arg(long)]
        out: PathBuf,
    },
    /// Revoke a credential (issuer); naming its holder also withdraws a role it earned.
    Revoke {
        #[arg(long)]
        key: String,
        #[arg(long)]
        name: String,
        #[arg(long)]
        index: u32,
        #[arg(long)]
        holder: Option<String>,
    },
    /// Publish a set of codes that presentations can prove membership in.
    PublishSet {
        #[arg(long)]
        key: String,
        #[arg(long)]
        name: String,
        /// Comma-separated elements.
        #[arg(long, value_delimiter = ',')]
        elements: Vec<String>,
    },
    /// Say which credential earns a role (an authority for that role).
    Rule {
        #[arg(long)]
        key: String,
        #[arg(long)]
        role: Role,
        #[arg(long)]
        definition: String,
        #[arg(long)]
        subject_attribute: String,
        /// name=value: a text attribute the claimant must disclose with this value.
        #[arg(long = "require")]
        require: Vec<String>,
        /// A date attribute that must be on or after the claim's date.
        #[arg(long)]
        valid_until: Option<String>,
    },
    /// Write a presentation request with a fresh nonce (verifier).
    Request {
        #[arg(long)]
        definition: String,
        /// Attributes to disclose.
        #[arg(long, value_delimiter = ',')]
        reveal: Vec<String>,
        /// name=value (dates YYYY-MM-DD): a hidden attribute at least this.
        #[arg(long)]
        at_least: Vec<String>,
        /// name=value: a hidden attribute at most this.
        #[arg(long)]
        at_most: Vec<String>,
        /// name=set-id: a hidden text attribute in a published set.
        #[arg(long)]
        in_set: Vec<String>,
        /// name=years: a hidden birth date at least this many years ago (today, UTC).
        #[arg(long)]
        older_than: Vec<String>,
        #[arg(long)]
        out: PathBuf,
    },
    /// Answer a request with a credential (holder); nothing but the proof leaves.
    Present {
        #[arg(long)]
        credential: PathBuf,
        #[arg(long)]
        request: PathBuf,
        #[arg(long)]
        out: PathBuf,
    },
    /// Verify a presentation against a request on the node's finalized state.
    Verify {
        #[arg(long)]
        request: PathBuf,
        #[arg(long)]
        presentation: PathBuf,
    },
    /// Claim a role with a credential, by the chain's rule for it (holder).
    ClaimRole {
        #[arg(long)]
        key: String,
        #[arg(long)]
        credential: PathBuf,
        #[arg(long)]
        role: Role,
    },
    /// Print a credential as a W3C Verifiable Credential (VC Data Model 2.0).
    Export {
        #[arg(long)]
        credential: PathBuf,
    },
}

fn read_json<T: serde::de::DeserializeOwned>(path: &Path, what: &str) -> Result<T> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
    serde_json::from_str(&text).with_context(|| format!("{} is not a valid {what}", path.display()))
}

fn write_json(path: &Path, value: &impl serde::Serialize) -> Result<()> {
    let text = serde_json::to_string_pretty(value).expect("values serialize");
    std::fs::write(path, text).with_context(|| format!("cannot write {}", path.display()))
}

fn split_pair<'a>(text: &'a str, what: &str) -> Result<(&'a str, &'a str)> {
    text.split_once('=')
        .filter(|(k, v)| !k.is_empty() && !v.is_empty())
        .ok_or_else(|| anyhow!("{what} `{text}` must look like name=value"))
}

/// Where this keystore keeps issuers' sealed secrets.
fn issuer_secrets(ctx: &Context) -> IssuerSecrets {
    IssuerSecrets::new(ctx.keys.path().join("issuers"))
}

fn today() -> u32 {
    date_of(now_ms())
}

pub fn run(ctx: &Context, command: CredentialCommand) -> Result<()> {
    let runtime = ctx.runtime()?;
    runtime.block_on(run_async(ctx, command))
}

async fn run_async(ctx: &Context, command: CredentialCommand) -> Result<()> {
    let client = ctx.client();
    match command {
        CredentialCommand::Define {
            key,
            name,
            schema,
            capacity,
        } => {
            let schema: Schema = read_json(&schema, "schema")?;
            let (mut signer, pair) = ctx.signer(&key, &client).await?;
            let secrets = issuer_secrets(ctx);
            ensure!(
                !secrets.exists(&key, &name)?,
                "`{key}` already holds the secrets of a credential named `{name}`"
            );
            let id = format!("{}#{name}", signer.account.did());
            let issuer = Issuer::new(id.clone(), schema, capacity)?;
            secrets.save(&key, &name, &pair, &issuer)?;
            let action = CredentialAction::Define {
                definition: serde_json::to_string(issuer.definition())?,
                status: serde_json::to_string(&issuer.status())?,
            };
            let outcome =
                super::tx::send(&client, &mut signer, vec![Action::Credentials(action)]).await?;
            super::tx::report(ctx, &format!("defined {id}"), &outcome);
        }
        CredentialCommand::Issue {
            key,
            name,
            values,
            from_fhir,
            set,
            out,
        } => {
            let pair = ctx.open_key(&key)?;
            let secrets = issuer_secrets(ctx);
            let mut issuer = secrets.load(&key, &name, &pair)?;
            // FHIR supplies what it has; the schema takes what it names. Values
            // given explicitly must each name an attribute.
            let mut claims: Vec<(String, Value)> = Vec::new();
            if let Some(fhir) = from_fhir {
                claims.extend(immunization_claims(&read_json(&fhir, "FHIR resource")?)?);
            }
            let mut explicit: Vec<(String, Value)> = Vec::new();
            if let Some(values) = values {
                let object: serde_json::Map<String, Value> =
                    read_json(&values, "JSON object of values")?;
                explicit.extend(object);
            }
            for pair in &set {
                let (name, value) = split_pair(pair, "--set")?;
                explicit.push((name.into(), json!(value)));
            }
            for (name, _) in &explicit {
                issuer.definition().schema.attribute(name)?;
            }
            claims.extend(explicit);
            let schema = issuer.definition().schema.clone();
            let mut ordered = Vec::new();
            for spec in &schema.attributes {
                let raw = claims
                    .iter()
                    .rev()
                    .find(|(n, _)| *n == spec.name)
                    .ok_or_else(|| anyhow!("no value for attribute `{}`", spec.name))?;
                ordered.push(
                    attribute_value(spec.kind, &raw.1)
                        .with_context(|| format!("attribute `{}`", spec.name))?,
                );
            }
            let credential = issuer.issue(ordered)?;
            secrets.save(&key, &name, &pair, &issuer)?;
            write_json(&out, &credential)?;
            ctx.emit(
                &json!({"definition": credential.definition, "index": credential.index, "out": out}),
                || format!("issued credential {} of {} to {}", credential.index, credential.definition, out.display()),
            );
        }
        CredentialCommand::Revoke {
            key,
            name,
            index,
            holder,
        } => {
            let (mut signer, pair) = ctx.signer(&key, &client).await?;
            let secrets = issuer_secrets(ctx);
            let mut issuer = secrets.load(&key, &name, &pair)?;
            let holder = holder.as_deref().map(parse_account).transpose()?;
            let update = issuer.revoke(index)?;
            let action = CredentialAction::Revoke {
                definition: issuer.definition().id.clone(),
                update: serde_json::to_string(&update)?,
                holder,
            };
            let outcome =
                super::tx::send(&client, &mut signer, vec![Action::Credentials(action)]).await;
            // Keep the registry in step with the chain only once the chain has it.
            let outcome = outcome?;
            secrets.save(&key, &name, &pair, &issuer)?;
            super::tx::report(
                ctx,
                &format!("revoked credential {index} (epoch {})", update.epoch),
                &outcome,
            );
        }
        CredentialCommand::PublishSet {
            key,
            name,
            elements,
        } => {
            let (mut signer, _) = ctx.signer(&key, &client).await?;
            let id = format!("{}#{name}", signer.account.did());
            let set = PublicSet::publish(id.clone(), &elements)?;
            let action = CredentialAction::PublishSet {
                set: serde_json::to_string(&set)?,
            };
            let outcome =
                super::tx::send(&client, &mut signer, vec![Action::Credentials(action)]).await?;
            super::tx::report(ctx, &format!("published set {id}"), &outcome);
        }
        CredentialCommand::Rule {
            key,
            role,
            definition,
            subject_attribute,
            require,
            valid_until,
        } => {
            let (mut signer, _) = ctx.signer(&key, &client).await?;
            let required = require
                .iter()
                .map(|r| split_pair(r, "--require").map(|(k, v)| (k.to_owned(), v.to_owned())))
                .collect::<Result<_>>()?;
            let rule = RoleRule {
                role,
                definition,
                subject_attribute,
                required,
                valid_until_attribute: valid_until,
            };
            let action = CredentialAction::SetRoleRule { rule };
            let outcome =
                super::tx::send(&client, &mut signer, vec![Action::Credentials(action)]).await?;
            super::tx::report(ctx, &format!("set the rule for role {role}"), &outcome);
        }
        CredentialCommand::Request {
            definition,
            reveal,
            at_least,
            at_most,
            in_set,
            older_than,
            out,
        } => {
            let published = client.credential_definition(&definition).await?;
            let schema = &published.definition.schema;
            let bound = |text: &str, what: &str| -> Result<(String, AttributeValue)> {
                let (name, value) = split_pair(text, what)?;
                let (_, kind) = schema.attribute(name)?;
                Ok((name.to_owned(), attribute_value(kind, &json!(value))?))
            };
            let mut predicates = Vec::new();
            for text in &at_least {
                let (attribute, min) = bound(text, "--at-least")?;
                predicates.push(Predicate::AtLeast { attribute, min });
            }
            for text in &at_most {
                let (attribute, max) = bound(text, "--at-most")?;
                predicates.push(Predicate::AtMost { attribute, max });
            }
            for text in &in_set {
                let (attribute, set) = split_pair(text, "--in-set")?;
                predicates.push(Predicate::InSet {
                    attribute: attribute.into(),
                    set: set.into(),
                });
            }
            for text in &older_than {
                let (attribute, years) = split_pair(text, "--older-than")?;
                let years: u32 = years
                    .parse()
                    .map_err(|_| anyhow!("`{years}` is not a number of years"))?;
                predicates.push(Predicate::older_than(attribute, years, today())?);
            }
            let request = PresentationRequest {
                definition,
                nonce: salus_crypto::random_bytes::<32>().to_vec(),
                reveal,
                predicates,
                check_revocation: true,
            };
            write_json(&out, &request)?;
            ctx.emit(&serde_json::to_value(&request)?, || {
                format!("wrote request to {}", out.display())
            });
        }
        CredentialCommand::Present {
            credential: path,
            request,
            out,
        } => {
            let mut credential: Credential = read_json(&path, "credential")?;
            let request: PresentationRequest = read_json(&request, "presentation request")?;
            let epoch = credential.epoch;
            let presentation = present(&client, &mut credential, &request).await?;
            if credential.epoch != epoch {
                // The witness moved past new revocations: keep it current.
                write_json(&path, &credential)?;
            }
            write_json(&out, &presentation)?;
            ctx.emit(
                &json!({"out": out, "proof_bytes": presentation.proof.len(), "revealed": presentation.revealed}),
                || format!("wrote presentation ({} byte proof) to {}", presentation.proof.len(), out.display()),
            );
        }
        CredentialCommand::Verify {
            request,
            presentation,
        } => {
            let request: PresentationRequest = read_json(&request, "presentation request")?;
            let presentation: Presentation = read_json(&presentation, "presentation")?;
            let verdict = client.verify_presentation(&request, &presentation).await?;
            ctx.emit(&verdict, || {
                format!(
                    "verified: issued by {}, revealed {}",
                    verdict.issuer,
                    serde_json::Value::from(serde_json::Map::from_iter(verdict.revealed.clone()))
                )
            });
        }
        CredentialCommand::ClaimRole {
            key,
            credential: path,
            role,
        } => {
            let mut credential: Credential = read_json(&path, "credential")?;
            let (mut signer, _) = ctx.signer(&key, &client).await?;
            let rule = client.role_rule(role).await?;
            let as_of = today();
            let request = salus_app::credentials::claim_request(
                &rule,
                &signer.chain_id,
                &signer.account,
                signer.next_nonce,
                as_of,
            );
            let presentation = present(&client, &mut credential, &request).await?;
            let action = CredentialAction::ClaimRole {
                role,
                as_of,
                presentation: serde_json::to_string(&presentation)?,
            };
            let outcome =
                super::tx::send(&client, &mut signer, vec![Action::Credentials(action)]).await?;
            super::tx::report(ctx, &format!("claimed role {role}"), &outcome);
        }
        CredentialCommand::Export { credential } => {
            let credential: Credential = read_json(&credential, "credential")?;
            let published = client.credential_definition(&credential.definition).await?;
            let vc = credential.to_w3c(&published.definition)?;
            println!("{}", serde_json::to_string_pretty(&vc)?);
        }
    }
    Ok(())
}
