//! `salus credential …`: issuers define, issue, publish sets and revoke;
//! authorities set role rules; verifiers write requests and verify;
//! holders present, claim roles and export W3C credentials.
//!
//! An issuer's secrets (BBS key, revocation registry) live in the keystore
//! directory, sealed under a key derived from the issuer's own signing key,
//! which is itself passphrase-encrypted: nothing secret rests in plaintext.

use std::path::{Path, PathBuf};

use anyhow::{anyhow, bail, ensure, Context as _, Result};
use clap::Subcommand;
use salus_client::credentials::present;
use salus_crypto::keystore::KeyPair;
use salus_crypto::seal::{decrypt_content, encrypt_content, DataKey};
use salus_types::credentials::{CredentialAction, RoleRule};
use salus_types::identity::Role;
use salus_types::Action;
use salus_zk::{
    parse_date, parse_decimal, AttributeKind, AttributeValue, Credential, Issuer, Predicate,
    Presentation, PresentationRequest, PublicSet, Schema,
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

/// Reads a value as the attribute's kind wants it.
pub(crate) fn parse_value(kind: AttributeKind, raw: &Value) -> Result<AttributeValue> {
    let text = match raw {
        Value::String(s) => s.clone(),
        Value::Number(n) => n.to_string(),
        other => bail!("`{other}` is neither a string nor a number"),
    };
    Ok(match kind {
        AttributeKind::Text => AttributeValue::Text(text),
        AttributeKind::Date => AttributeValue::Date(parse_date(&text)?),
        AttributeKind::Integer => AttributeValue::Integer(
            text.parse()
                .map_err(|_| anyhow!("`{text}` is not a whole number"))?,
        ),
        AttributeKind::Decimal { scale } => AttributeValue::Decimal(parse_decimal(&text, scale)?),
    })
}

/// The claims an Immunization resource makes, under the attribute names
/// the immunization schemas use.
pub(crate) fn from_immunization(resource: &Value) -> Result<Vec<(String, Value)>> {
    ensure!(
        resource["resourceType"] == "Immunization",
        "--from-fhir expects a FHIR R4 Immunization resource"
    );
    let mut claims = Vec::new();
    let codings = resource["vaccineCode"]["coding"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    if let Some(cvx) = codings
        .iter()
        .find(|c| c["system"] == "http://hl7.org/fhir/sid/cvx")
        .and_then(|c| c["code"].as_str())
    {
        claims.push(("vaccine_code".into(), json!(cvx)));
    }
    if let Some(date) = resource["occurrenceDateTime"].as_str() {
        claims.push(("occurrence_date".into(), json!(date)));
    }
    if let Some(lot) = resource["lotNumber"].as_str() {
        claims.push(("lot_number".into(), json!(lot)));
    }
    if let Some(status) = resource["status"].as_str() {
        claims.push(("status".into(), json!(status)));
    }
    Ok(claims)
}

/// Where an issuer's sealed secrets live.
fn issuer_path(ctx: &Context, key: &str, name: &str) -> Result<PathBuf> {
    ensure!(
        !name.is_empty()
            && name
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.')),
        "a credential name is [A-Za-z0-9._-]"
    );
    let dir = ctx.keys.path().join("issuers");
    std::fs::create_dir_all(&dir).with_context(|| format!("cannot create {}", dir.display()))?;
    Ok(dir.join(format!("{key}.{name}.sealed")))
}

fn sealing_key(pair: &KeyPair) -> DataKey {
    DataKey::derive("salus/issuer-secrets/v1", pair.signing.seed().as_slice())
}

fn save_issuer(path: &Path, pair: &KeyPair, issuer: &Issuer) -> Result<()> {
    let plain = zeroize::Zeroizing::new(serde_json::to_vec(issuer).expect("issuers serialize"));
    let sealed = encrypt_content(&sealing_key(pair), b"salus issuer", &plain);
    // Write then rename, so a crash never leaves a half-written registry.
    let partial = path.with_extension("partial");
    std::fs::write(&partial, sealed)
        .with_context(|| format!("cannot write {}", partial.display()))?;
    std::fs::rename(&partial, path).with_context(|| format!("cannot write {}", path.display()))
}

fn load_issuer(path: &Path, pair: &KeyPair) -> Result<Issuer> {
    let sealed = std::fs::read(path).with_context(|| {
        format!(
            "no issuer secrets at {} (run `credential define` first)",
            path.display()
        )
    })?;
    let plain = decrypt_content(&sealing_key(pair), b"salus issuer", &sealed)
        .map_err(|_| anyhow!("{} does not open with this key", path.display()))?;
    serde_json::from_slice(&plain).context("issuer secrets are corrupt")
}

fn today() -> u32 {
    salus_app::credentials::date_of(crate::dev::now_ms())
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
            let path = issuer_path(ctx, &key, &name)?;
            ensure!(!path.exists(), "{} already exists", path.display());
            let id = format!("{}#{name}", signer.account.did());
            let issuer = Issuer::new(id.clone(), schema, capacity)?;
            save_issuer(&path, &pair, &issuer)?;
            let action = CredentialAction::Define {
                definition: serde_json::to_string(issuer.definition())?,
                status: serde_json::to_string(&issuer.status())?,
            };
            let outcome =
                crate::txs::send(&client, &mut signer, vec![Action::Credentials(action)]).await?;
            crate::txs::report(ctx, &format!("defined {id}"), &outcome);
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
            let path = issuer_path(ctx, &key, &name)?;
            let mut issuer = load_issuer(&path, &pair)?;
            // FHIR supplies what it has; the schema takes what it names. Values
            // given explicitly must each name an attribute.
            let mut claims: Vec<(String, Value)> = Vec::new();
            if let Some(fhir) = from_fhir {
                claims.extend(from_immunization(&read_json(&fhir, "FHIR resource")?)?);
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
                    parse_value(spec.kind, &raw.1)
                        .with_context(|| format!("attribute `{}`", spec.name))?,
                );
            }
            let credential = issuer.issue(ordered)?;
            save_issuer(&path, &pair, &issuer)?;
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
            let path = issuer_path(ctx, &key, &name)?;
            let mut issuer = load_issuer(&path, &pair)?;
            let holder = holder.as_deref().map(parse_account).transpose()?;
            let update = issuer.revoke(index)?;
            let action = CredentialAction::Revoke {
                definition: issuer.definition().id.clone(),
                update: serde_json::to_string(&update)?,
                holder,
            };
            let outcome =
                crate::txs::send(&client, &mut signer, vec![Action::Credentials(action)]).await;
            // Keep the registry in step with the chain only once the chain has it.
            let outcome = outcome?;
            save_issuer(&path, &pair, &issuer)?;
            crate::txs::report(
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
                crate::txs::send(&client, &mut signer, vec![Action::Credentials(action)]).await?;
            crate::txs::report(ctx, &format!("published set {id}"), &outcome);
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
                crate::txs::send(&client, &mut signer, vec![Action::Credentials(action)]).await?;
            crate::txs::report(ctx, &format!("set the rule for role {role}"), &outcome);
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
                Ok((name.to_owned(), parse_value(kind, &json!(value))?))
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
                crate::txs::send(&client, &mut signer, vec![Action::Credentials(action)]).await?;
            crate::txs::report(ctx, &format!("claimed role {role}"), &outcome);
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
