//! Chapter 1: the consortium funds its members, who register DIDs with
//! services; roles are attested, keys rotate, and a balance is proven
//! against a header.

use anyhow::{bail, ensure, Context as _, Result};
use salus_client::actions;
use salus_crypto::SigningKey;
use salus_types::identity::{Role, Service};
use serde_json::json;

use super::Cast;
use crate::tour::Tour;

pub(crate) async fn run(tour: &mut Tour<'_>, chain_id: &str, cast: &mut Cast) -> Result<()> {
    let Cast {
        authority,
        hospital,
        patient,
        insurer,
    } = cast;
    let height = tour
        .send(
            authority,
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

    for party in [&mut *hospital, &mut *patient, &mut *insurer] {
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
            .send(authority, vec![actions::attest_role(subject, role)])
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
            patient,
            vec![actions::transfer(hospital.actor.signer.account, 1_250_000)],
        )
        .await?;
    tour.say(
        format!("The patient paid the hospital 1,250,000 usal for a visit (block {height})."),
        json!({"height": height}),
    );
    let height = tour
        .send(
            insurer,
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
    let height = tour.send(hospital, vec![rotate]).await?;
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
            hospital,
            vec![actions::transfer(patient.actor.signer.account, 1)],
        )
        .await?;
    tour.say(
        format!("The new key signs for the same DID (block {height})."),
        json!({"height": height}),
    );

    let key = salus_types::token::balance_key(&account);
    let proven = tour.client.proven(&key, None).await?;
    let balance: u128 = proven.decode()?.context("the hospital has a balance")?;
    let (height, root) = (proven.header.height, proven.header.state_root.to_hex());
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
    Ok(())
}
