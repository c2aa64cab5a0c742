//! Chapter 3: the FHIR gateway. The hospital's EHR speaks plain FHIR R4 to
//! the hospital's own gateway, which turns a transaction Bundle into sealed,
//! anchored records; a specialist's gateway finds them by search only once
//! the patient grants it access.

use anyhow::{ensure, Context as _, Result};
use salus_client::record_flow::{Actor, RecordFlow};
use salus_client::{actions, Signer};
use salus_types::consent::{Purpose, Scope};
use salus_types::identity::Role;
use serde_json::{json, Value};

use super::Cast;
use crate::tour::{wait_for, Party, Tour};

/// Starts a gateway on a free loopback port with `actor`'s keys.
async fn start_gateway(
    tour: &Tour<'_>,
    actor: Actor,
    token: &str,
) -> Result<salus_gateway::Running> {
    let config = salus_gateway::Config {
        listen: "127.0.0.1:0".parse().context("a loopback address")?,
        token: token.to_owned(),
        refresh: std::time::Duration::from_millis(200),
    };
    Ok(salus_gateway::start(config, tour.client.clone(), actor).await?)
}

/// The same keys, for a process of their own (the gateway keeps its nonce).
fn keys_of(party: &Party) -> Actor {
    let signer = &party.actor.signer;
    Actor {
        // The account, not one derived from the key: keys rotate, accounts stay.
        signer: Signer {
            chain_id: signer.chain_id.clone(),
            account: signer.account,
            key: signer.key.clone(),
            next_nonce: signer.next_nonce,
        },
        agreement: party.actor.agreement.clone(),
    }
}

pub(crate) async fn run(tour: &mut Tour<'_>, chain_id: &str, cast: &mut Cast) -> Result<()> {
    let mut cardiologist = Party::new("Dr. Lindqvist", chain_id);
    let agreement = cardiologist.actor.agreement.public_key();
    tour.send(
        &mut cardiologist,
        vec![actions::register_did(agreement, vec![])],
    )
    .await?;
    let subject = cardiologist.actor.signer.account;
    tour.send(
        &mut cast.authority,
        vec![actions::attest_role(subject, Role::Provider)],
    )
    .await?;

    let token = hex::encode(salus_crypto::random_bytes::<24>());
    let hospital_gateway = start_gateway(tour, keys_of(&cast.hospital), &token).await?;
    let base = hospital_gateway.base.clone();
    tour.say(
        format!("{} started its FHIR gateway at {base}: a FHIR R4 server on the hospital's side, holding the hospital's keys; its EHR needs nothing but the URL and a bearer token.", cast.hospital.name),
        json!({"base": base}),
    );

    // The EHR: a plain HTTP client posting a FHIR transaction Bundle.
    let patient_did = cast.patient.actor.account().did().to_string();
    let bundle = json!({"resourceType": "Bundle", "type": "transaction", "entry": [
        {"fullUrl": "urn:uuid:8c5e2b1e-3f0a-4d8e-9b4a-2f6c1d7e9a01",
         "resource": {"resourceType": "Patient", "name": [{"family": "Rivera", "given": ["Ana"]}],
            "identifier": [{"system": salus_gateway::DID_SYSTEM, "value": patient_did}]},
         "request": {"method": "POST", "url": "Patient"}},
        {"resource": {"resourceType": "Observation", "status": "final",
            "code": {"coding": [{"system": "http://loinc.org", "code": "8480-6", "display": "Systolic blood pressure"}]},
            "subject": {"reference": "urn:uuid:8c5e2b1e-3f0a-4d8e-9b4a-2f6c1d7e9a01"},
            "effectiveDateTime": "2026-12-01T09:30:00Z",
            "valueQuantity": {"value": 148, "unit": "mm[Hg]", "system": "http://unitsofmeasure.org", "code": "mm[Hg]"}},
         "request": {"method": "POST", "url": "Observation"}},
    ]});
    let http = reqwest::Client::new();
    let response = http
        .post(&base)
        .bearer_auth(&token)
        .header("content-type", "application/fhir+json")
        .body(bundle.to_string())
        .send()
        .await?;
    ensure!(
        response.status().is_success(),
        "the gateway refused the transaction: {}",
        response.status()
    );
    let answer: Value = response.json().await?;
    let statuses: Vec<&str> = answer["entry"]
        .as_array()
        .map(|e| {
            e.iter()
                .filter_map(|x| x["response"]["status"].as_str())
                .collect()
        })
        .unwrap_or_default();
    let observation = answer["entry"][1]["response"]["location"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    tour.say(
        format!("The hospital's EHR posted a FHIR transaction Bundle (a Patient and a blood pressure Observation that names it by urn:uuid) to the gateway with a plain HTTP client: {statuses:?}. Both landed in one Salus transaction, sealed for the patient and anchored by hash; the Observation is {observation}."),
        json!({"statuses": statuses, "observation": observation}),
    );

    let cardiology_gateway = start_gateway(tour, keys_of(&cardiologist), &token).await?;
    let search = format!(
        "{}/Observation?patient={patient_did}&code=http://loinc.org|8480-6",
        cardiology_gateway.base
    );
    let total = |http: reqwest::Client, search: String, token: String| async move {
        let bundle: Value = http
            .get(&search)
            .bearer_auth(&token)
            .send()
            .await?
            .json()
            .await?;
        anyhow::Ok(bundle["total"].as_u64().unwrap_or_default())
    };
    let before = total(http.clone(), search.clone(), token.clone()).await?;
    let denied: Value = http
        .get(format!("{}/{observation}", cardiology_gateway.base).replace("/_history/1", ""))
        .bearer_auth(&token)
        .send()
        .await?
        .json()
        .await?;
    let reason = denied["issue"][0]["details"]["text"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    ensure!(
        before == 0 && reason == "no_grant",
        "the cardiologist must see nothing yet"
    );
    tour.say(
        format!("{}'s own gateway searched for the patient's blood pressure: {before} results, and reading the Observation directly was refused ({reason}), as an OperationOutcome with no content.", cardiologist.name),
        json!({"total": before, "reason": reason}),
    );

    let flow = RecordFlow::connect(&tour.client).await?;
    let week = 7 * 24 * 3_600_000;
    let (grant, shared) = flow
        .grant(
            &mut cast.patient.actor,
            subject,
            Scope::All,
            Purpose::Treatment,
            salus_types::clock::now_ms() + week,
        )
        .await?;
    let client_http = http.clone();
    wait_for(|| {
        let (http, search, token) = (client_http.clone(), search.clone(), token.clone());
        async move { Ok(total(http, search, token).await? == 1) }
    })
    .await
    .context("the cardiologist's gateway never found the granted record")?;
    tour.say_as(
        "gateway search after grant",
        format!("The patient granted {} treatment access for a week (grant {grant}, {shared} record keys re-wrapped). The cardiologist's gateway saw the grant on chain, read the records through the vault (each read audited), and the same search now finds the Observation.", cardiologist.name),
        json!({"grant": grant, "total": 1}),
    );

    hospital_gateway.stop();
    cardiology_gateway.stop();
    // The gateway signed with the hospital's key; the tour's copy catches up.
    let hospital = cast.hospital.actor.account();
    cast.hospital.actor.signer.next_nonce = tour.client.next_nonce(&hospital).await?;
    Ok(())
}
