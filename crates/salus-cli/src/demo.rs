//! `salus demo`: a throwaway dev chain and a scripted tour through the real API.

use std::net::{SocketAddr, TcpListener};

use anyhow::{bail, ensure, Context as _, Result};
use salus_client::record_flow::{Actor, FlowError, RecordFlow};
use salus_client::{actions, Client, Signer};
use salus_crypto::keystore::KeyPair;
use salus_crypto::SigningKey;
use salus_node::layout::dev::dev_chain;
use salus_node::layout::testnet::LocalTestnet;
use salus_node::NodeConfig;
use salus_types::audit::AuditEvent;
use salus_types::consent::{Purpose, Scope};
use salus_types::identity::{Role, Service};
use salus_types::records::Category;
use salus_types::{Action, Event};
use serde_json::json;

use crate::cli::DemoArgs;
use crate::dev::{now_ms, DEV_PASSPHRASE};
use crate::output::Context;
use crate::query::{borsh_u128, proven_value};

/// A free loopback port (the OS picks it; we release it for the node to bind).
pub fn free_port() -> Result<SocketAddr> {
    let listener = TcpListener::bind("127.0.0.1:0").context("no free loopback port")?;
    Ok(listener.local_addr()?)
}

pub(crate) struct Party {
    pub(crate) name: &'static str,
    pub(crate) actor: Actor,
}

impl Party {
    pub(crate) fn new(name: &'static str, chain_id: &str) -> Party {
        let keys = KeyPair::generate();
        Party {
            name,
            actor: Actor {
                signer: Signer::new(chain_id, keys.signing.clone(), 0),
                agreement: keys.agreement,
            },
        }
    }
}

pub(crate) struct Tour<'a> {
    pub(crate) ctx: &'a Context,
    pub(crate) client: Client,
    pub(crate) steps: Vec<serde_json::Value>,
}

impl Tour<'_> {
    pub(crate) fn say(&mut self, what: String, detail: impl serde::Serialize) {
        let detail = serde_json::to_value(detail).expect("API bodies serialize to JSON");
        if !self.ctx.json {
            println!("• {what}");
        }
        self.steps.push(json!({"step": what, "detail": detail}));
    }

    pub(crate) async fn send(&mut self, party: &mut Party, actions: Vec<Action>) -> Result<u64> {
        let tx = party.actor.signer.sign(actions);
        let outcome = self
            .client
            .submit_and_wait(&tx)
            .await
            .with_context(|| format!("{}'s transaction", party.name))?;
        if !outcome.receipt.succeeded() {
            bail!(
                "{}'s transaction failed: {}",
                party.name,
                outcome.receipt.message
            );
        }
        Ok(outcome.height)
    }
}

pub fn run(ctx: &Context, args: DemoArgs) -> Result<()> {
    ensure!(
        (1..=MAX_DEMO_VALIDATORS).contains(&args.validators),
        "the demo runs 1..={MAX_DEMO_VALIDATORS} validators"
    );
    let dir = tempfile::tempdir().context("cannot create a temporary directory")?;
    let (nodes, chain_id, authority) = if args.validators == 1 {
        let chain = dev_chain(dir.path(), DEV_PASSPHRASE.as_bytes(), None, now_ms())?;
        let node = salus_node::spawn(NodeConfig::single_validator(
            dir.path().to_path_buf(),
            chain.genesis.clone(),
            chain.validator.clone(),
            free_port()?,
        ))?;
        (vec![node], chain.genesis.chain_id, chain.authority)
    } else {
        let net = LocalTestnet::start(dir.path(), args.validators, now_ms(), Vec::new(), |_| {})?;
        let chain_id = net.testnet.genesis.chain_id.clone();
        (net.nodes, chain_id, net.testnet.authority)
    };
    let apis: Vec<String> = nodes
        .iter()
        .map(|n| format!("http://{}", n.handle.http_addr))
        .collect();
    if !ctx.json {
        println!(
            "Salus demo: chain `{chain_id}` with {} validator(s) in {} (APIs {})\n",
            nodes.len(),
            dir.path().display(),
            apis.join(", ")
        );
    }
    let runtime = ctx.runtime()?;
    let steps = runtime.block_on(async {
        let mut steps = tour(ctx, Client::new(apis[0].clone()), &chain_id, authority).await?;
        if nodes.len() > 1 {
            steps.push(agreement(ctx, &apis).await?);
        }
        Ok::<_, anyhow::Error>(steps)
    })?;
    for node in nodes {
        node.stop()?;
    }
    if ctx.json {
        println!(
            "{}",
            serde_json::to_string_pretty(&json!({"chain_id": chain_id, "steps": steps}))?
        );
    } else {
        println!("\nDemo complete: every step above went through the node's HTTP API and was final on chain.");
    }
    Ok(())
}

/// The most validators the demo starts on one machine.
const MAX_DEMO_VALIDATORS: usize = 7;

/// Every validator holds the same block and state at a common height.
async fn agreement(ctx: &Context, apis: &[String]) -> Result<serde_json::Value> {
    let clients: Vec<Client> = apis.iter().map(|a| Client::new(a.clone())).collect();
    let mut lowest = u64::MAX;
    for client in &clients {
        lowest = lowest.min(client.status().await?.height);
    }
    let mut views = Vec::new();
    for client in &clients {
        let block = client.block(lowest).await?;
        views.push((block.digest.to_hex(), block.header.state_root.to_hex()));
    }
    ensure!(
        views.windows(2).all(|w| w[0] == w[1]),
        "validators disagree at height {lowest}: {views:?}"
    );
    let root = views[0].1.clone();
    if !ctx.json {
        println!(
            "• All {} validators hold the same block and state root at height {lowest} ({}…).",
            clients.len(),
            &root[..16.min(root.len())]
        );
    }
    Ok(
        json!({"step": "validators agree", "detail": {"height": lowest, "state_root": root, "validators": clients.len()}}),
    )
}

async fn tour(
    ctx: &Context,
    client: Client,
    chain_id: &str,
    authority_keys: KeyPair,
) -> Result<Vec<serde_json::Value>> {
    let mut tour = Tour {
        ctx,
        client: client.clone(),
        steps: Vec::new(),
    };
    let mut authority = Party {
        name: "the consortium authority",
        actor: Actor {
            signer: Signer::new(chain_id, authority_keys.signing.clone(), 0),
            agreement: authority_keys.agreement,
        },
    };
    let mut hospital = Party::new("St. Mary's Hospital", chain_id);
    let mut patient = Party::new("the patient", chain_id);
    let mut insurer = Party::new("Acme Health Insurance", chain_id);

    let height = tour
        .send(
            &mut authority,
            vec![
                actions::transfer(hospital.actor.signer.account, 50_000_000),
                actions::transfer(patient.actor.signer.account, 10_000_000),
                actions::transfer(insurer.actor.signer.account, 80_000_000),
            ],
        )
        .await?;
    tour.say(
        format!("The consortium authority funded the hospital, the patient and the insurer (one transaction, final at block {height})."),
        json!({"height": height}),
    );

    for party in [&mut hospital, &mut patient, &mut insurer] {
        let services = if party.name.contains("Hospital") {
            vec![Service {
                id: "vault".into(),
                kind: "SalusVault".into(),
                endpoint: "https://vault.stmarys.example".into(),
            }]
        } else {
            vec![]
        };
        let agreement = party.actor.agreement.public_key();
        let did = party.actor.signer.account.did();
        let height = tour
            .send(party, vec![actions::register_did(agreement, services)])
            .await?;
        tour.say(
            format!("{} registered {did} (block {height}).", party.name),
            json!({"did": did, "height": height}),
        );
    }

    for (party, role) in [
        (&hospital, Role::Provider),
        (&patient, Role::Patient),
        (&insurer, Role::Insurer),
    ] {
        let subject = party.actor.signer.account;
        let height = tour
            .send(&mut authority, vec![actions::attest_role(subject, role)])
            .await?;
        tour.say(
            format!(
                "The authority attested {} as {} (block {height}).",
                party.name,
                role.name()
            ),
            json!({"did": subject.did(), "role": role.name(), "height": height}),
        );
    }

    // An unauthorized attestation is refused by the chain, with a typed code.
    let forged = patient.actor.signer.sign(vec![actions::attest_role(
        patient.actor.signer.account,
        Role::Provider,
    )]);
    let outcome = tour.client.submit_and_wait(&forged).await?;
    ensure!(
        !outcome.receipt.succeeded(),
        "a patient must not be able to attest roles"
    );
    tour.say(
        format!(
            "The patient tried to attest itself as a provider: refused ({}).",
            outcome.receipt.code.name()
        ),
        json!({"code": outcome.receipt.code.name()}),
    );

    let height = tour
        .send(
            &mut patient,
            vec![actions::transfer(hospital.actor.signer.account, 1_250_000)],
        )
        .await?;
    tour.say(
        format!("The patient paid the hospital 1,250,000 usal for a visit (block {height})."),
        json!({"height": height}),
    );
    let height = tour
        .send(
            &mut insurer,
            vec![actions::transfer(hospital.actor.signer.account, 8_750_000)],
        )
        .await?;
    tour.say(
        format!("The insurer paid the hospital 8,750,000 usal (block {height})."),
        json!({"height": height}),
    );

    let new_key = SigningKey::generate();
    let new_agreement = salus_crypto::AgreementSecret::generate();
    let account = hospital.actor.signer.account;
    let rotate = actions::rotate_keys(chain_id, &account, &new_key, new_agreement.public_key());
    let height = tour.send(&mut hospital, vec![rotate]).await?;
    let document = tour.client.resolve(&account.did().to_string()).await?;
    tour.say(
        format!(
            "The hospital rotated its key (block {height}); its DID document is now at version {}.",
            document
                .document_metadata
                .version_id
                .as_deref()
                .unwrap_or("?")
        ),
        json!({"height": height, "did_document": document}),
    );
    let stale = hospital
        .actor
        .signer
        .sign(vec![actions::transfer(patient.actor.signer.account, 1)]);
    match tour.client.submit(&stale).await {
        Err(salus_client::ClientError::Api { code, .. }) => tour.say(
            format!("A transaction signed with the hospital's old key was refused ({code})."),
            json!({"code": code}),
        ),
        other => bail!("the old key must no longer sign for the hospital, got {other:?}"),
    }
    hospital.actor.signer.key = new_key;
    hospital.actor.agreement = new_agreement;
    hospital.actor.signer.next_nonce -= 1;
    let height = tour
        .send(
            &mut hospital,
            vec![actions::transfer(patient.actor.signer.account, 1)],
        )
        .await?;
    tour.say(
        format!("The new key signs for the same DID (block {height})."),
        json!({"height": height}),
    );

    let key = salus_types::token::balance_key(&account);
    let (value, height, root) = proven_value(&tour.client, &key, None).await?;
    let balance = borsh_u128(&value.context("the hospital has a balance")?)?;
    tour.say(
        format!("Fetched the hospital's balance ({balance} usal) with a Merkle proof and verified it against block {height}'s header (state root {}…).", &root[..16]),
        json!({"balance": balance.to_string(), "height": height, "state_root": root, "verified": true}),
    );

    let events = tour
        .client
        .events(&patient.actor.signer.account, 50)
        .await?;
    let count = events.events.len();
    tour.say(format!("The patient's account shows {count} events on chain (funding, registration, role, payments)."), events);

    records_tour(
        &mut tour,
        chain_id,
        &mut authority,
        &mut hospital,
        &mut patient,
    )
    .await?;
    crate::demo_credentials::credentials_tour(
        &mut tour,
        chain_id,
        &mut authority,
        &mut hospital,
        &mut patient,
    )
    .await?;
    Ok(tour.steps)
}

/// A real FHIR R4 lab result (HL7's example Observation f001), embedded.
const LAB_RESULT: &[u8] = include_bytes!("../../../testdata/fhir/Observation-f001.json");

/// Encrypted records, consent, revocation and the audit trail.
async fn records_tour(
    tour: &mut Tour<'_>,
    chain_id: &str,
    authority: &mut Party,
    hospital: &mut Party,
    patient: &mut Party,
) -> Result<()> {
    let mut specialist = Party::new("Dr. Okafor", chain_id);
    let agreement = specialist.actor.agreement.public_key();
    tour.send(
        &mut specialist,
        vec![actions::register_did(agreement, vec![])],
    )
    .await?;
    let subject = specialist.actor.signer.account;
    tour.send(
        authority,
        vec![actions::attest_role(subject, Role::Provider)],
    )
    .await?;
    tour.say(
        format!(
            "{}, an endocrinologist, registered {} and was attested as a provider.",
            specialist.name,
            subject.did()
        ),
        json!({"did": subject.did()}),
    );

    let client = tour.client.clone();
    let flow = RecordFlow::connect(&client).await?;
    let written = flow
        .put(
            &mut hospital.actor,
            patient.actor.account(),
            None,
            None,
            LAB_RESULT,
        )
        .await?;
    let record = written.record;
    tour.say(
        format!(
            "The hospital encrypted a FHIR Observation (a blood glucose result) on its own machine, anchored only its hash on chain (record {record}, block {}), and stored the ciphertext in the vault; its key is wrapped to the patient and the hospital.",
            written.height
        ),
        json!({"record": record, "version": written.version, "height": written.height, "wrapped_to": written.readers}),
    );

    let read = flow
        .get(&patient.actor, record, None, Purpose::Treatment)
        .await?;
    ensure!(
        read.plaintext.as_slice() == LAB_RESULT,
        "the patient must read back exactly what was written"
    );
    tour.say(
        format!("The patient fetched and decrypted it ({} bytes of FHIR JSON, checked against the anchored hash).", read.plaintext.len()),
        json!({"reason": read.served.reason}),
    );

    let denied = denial(
        flow.get(&specialist.actor, record, None, Purpose::Treatment)
            .await,
    )?;
    tour.say(
        format!(
            "{} asked for it without consent: the vault refused ({denied}).",
            specialist.name
        ),
        json!({"code": denied}),
    );

    let now = tour.client.status().await?.timestamp_ms;
    let scope = Scope::Categories(vec![Category::Laboratory]);
    let (grant, shared) = flow
        .grant(
            &mut patient.actor,
            specialist.actor.account(),
            scope,
            Purpose::Treatment,
            now + 24 * 3_600_000,
        )
        .await?;
    tour.say(
        format!("The patient granted {} lab results for treatment for 24 hours (grant {grant}); the patient's client re-wrapped the key of {shared} record to the specialist without re-encrypting it.", specialist.name),
        json!({"grant": grant, "versions_shared": shared}),
    );
    let read = flow
        .get(&specialist.actor, record, None, Purpose::Treatment)
        .await?;
    ensure!(
        read.plaintext.as_slice() == LAB_RESULT,
        "the specialist must read the same record"
    );
    tour.say(
        format!(
            "{} read and decrypted the record (access by grant {grant}).",
            specialist.name
        ),
        json!({"reason": read.served.reason}),
    );

    let height = flow.revoke(&mut patient.actor, grant).await?;
    let denied = denial(
        flow.get(&specialist.actor, record, None, Purpose::Treatment)
            .await,
    )?;
    tour.say(
        format!("The patient revoked the grant (block {height}); the specialist's next request was refused ({denied}). A copy the specialist already made cannot be recalled: revocation stops future access."),
        json!({"code": denied, "height": height}),
    );

    // The vault's audit batches reach the chain within a few blocks.
    let account = patient.actor.account();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    let audit = loop {
        let audit = tour.client.audit(&account, 100).await?;
        if audit.log_head.count >= 5 {
            break audit;
        }
        ensure!(
            std::time::Instant::now() < deadline,
            "the vault's audit entries did not reach the chain"
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    };
    let mut lines = Vec::new();
    for record in audit.entries.iter().rev() {
        if let Event::Audit(AuditEvent::Accessed { entry, .. }) = &record.event {
            let who = if entry.requester == account {
                "the patient"
            } else if entry.requester == specialist.actor.account() {
                specialist.name
            } else {
                "another party"
            };
            lines.push(format!(
                "{who}: {} ({})",
                if entry.allowed() { "allowed" } else { "denied" },
                entry.reason
            ));
        }
    }
    tour.say(
        format!(
            "The patient's audit trail on chain lists every access, allowed or denied, with its reason: {}.",
            lines.join("; ")
        ),
        audit,
    );
    Ok(())
}

/// The vault's refusal code, or an error if access was (wrongly) allowed.
fn denial<T>(result: std::result::Result<T, FlowError>) -> Result<String> {
    match result {
        Err(FlowError::Vault { code, .. }) => Ok(code),
        Err(other) => Err(other.into()),
        Ok(_) => bail!("the vault must refuse this request"),
    }
}
