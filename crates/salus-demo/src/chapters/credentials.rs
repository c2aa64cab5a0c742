//! Chapter 4: credentials. A medical board licenses a physician,
//! who earns the provider role with a zero-knowledge proof; a hospital
//! issues an immunization credential from a FHIR record, and the patient
//! proves "COVID-19 vaccinated since 2021, and an adult" without revealing
//! any of it; then the board revokes the license and its proofs fail.

use anyhow::{bail, ensure, Context as _, Result};
use salus_client::actions;
use salus_client::credentials::present;
use salus_client::issuer::{attribute_value, immunization_claims};
use salus_client::ClientError;
use salus_types::credentials::{CredentialAction, RoleRule};
use salus_types::identity::Role;
use salus_types::Action;
use salus_zk::{catalog, AttributeValue, Issuer, Predicate, PresentationRequest, PublicSet};
use serde_json::json;

use super::Cast;
use crate::tour::{Party, Tour};

fn credentials(action: CredentialAction) -> Vec<Action> {
    vec![Action::Credentials(action)]
}

fn define(issuer: &Issuer) -> Result<Vec<Action>> {
    Ok(credentials(CredentialAction::Define {
        definition: serde_json::to_string(issuer.definition())?,
        status: serde_json::to_string(&issuer.status())?,
    }))
}

fn nonce() -> Vec<u8> {
    salus_crypto::random_bytes::<32>().to_vec()
}

/// A FHIR R4 Immunization as the hospital's EHR would hold it.
fn immunization_record(patient: &str) -> serde_json::Value {
    json!({
        "resourceType": "Immunization",
        "status": "completed",
        "vaccineCode": {"coding": [{"system": "http://hl7.org/fhir/sid/cvx", "code": "208",
            "display": "COVID-19, mRNA, LNP-S, PF, 30 mcg/0.3 mL dose"}]},
        "patient": {"reference": patient},
        "occurrenceDateTime": "2021-09-30",
        "lotNumber": "FF2588",
        "doseQuantity": {"value": 0.3, "unit": "mL", "system": "http://unitsofmeasure.org", "code": "mL"},
        "primarySource": true
    })
}

pub(crate) async fn run(tour: &mut Tour<'_>, chain_id: &str, cast: &mut Cast) -> Result<()> {
    let Cast {
        authority,
        hospital,
        patient,
        ..
    } = cast;
    let client = tour.client.clone();
    let today = salus_types::credentials::date_of(salus_types::clock::now_ms());
    let mut board = Party::new("The State Medical Board", chain_id);
    let mut physician = Party::new("Dr. Rivera", chain_id);
    tour.send(
        authority,
        vec![
            actions::transfer(board.actor.signer.account, 10_000_000),
            actions::transfer(physician.actor.signer.account, 10_000_000),
        ],
    )
    .await?;
    for party in [&mut board, &mut physician] {
        let agreement = party.actor.agreement.public_key();
        tour.send(party, vec![actions::register_did(agreement, vec![])])
            .await?;
    }
    tour.send(
        authority,
        vec![actions::attest_role(
            board.actor.signer.account,
            Role::Board,
        )],
    )
    .await?;

    // The board publishes a license credential; the authority says a valid
    // cardiology license earns the provider role.
    let license_id = format!("{}#medical-license-v1", board.actor.signer.account.did());
    let mut license_issuer = Issuer::new(license_id.clone(), catalog::medical_license(), 64)?;
    let height = tour.send(&mut board, define(&license_issuer)?).await?;
    let rule = RoleRule {
        role: Role::Provider,
        definition: license_id.clone(),
        subject_attribute: "holder_did".into(),
        required: vec![("specialty".into(), "cardiology".into())],
        valid_until_attribute: Some("valid_until".into()),
    };
    tour.send(
        authority,
        credentials(CredentialAction::SetRoleRule { rule: rule.clone() }),
    )
    .await?;
    tour.say(
        format!("{} defined a BBS-signed license credential (block {height}); the authority ruled that a valid cardiology license earns the provider role.", board.name),
        json!({"definition": license_id, "rule": rule}),
    );

    // The physician proves "licensed in cardiology, valid today, not
    // revoked": the chain grants the role with no human attestation.
    let physician_did = physician.actor.signer.account.did().to_string();
    let mut license = license_issuer.issue(vec![
        AttributeValue::Text(physician_did.clone()),
        AttributeValue::Text("Dr. Ana Rivera".into()),
        AttributeValue::Text("cardiology".into()),
        AttributeValue::Text("MB-55120".into()),
        AttributeValue::Date(2030_06_30),
    ])?;
    let signer = &physician.actor.signer;
    let request = salus_app::credentials::claim_request(
        &rule,
        chain_id,
        &signer.account,
        signer.next_nonce,
        today,
    );
    let presentation = present(&client, &mut license, &request).await?;
    let proof_bytes = presentation.proof.len();
    let claim = credentials(CredentialAction::ClaimRole {
        role: Role::Provider,
        as_of: today,
        presentation: serde_json::to_string(&presentation)?,
    });
    let height = tour.send(&mut physician, claim).await?;
    let document = client.resolve(&physician_did).await?;
    ensure!(
        holds_provider_role(&document),
        "the physician's DID document must list the provider role"
    );
    tour.say(
        format!("{} proved a valid cardiology license in zero knowledge ({proof_bytes}-byte proof, license number and name undisclosed); the chain granted the provider role (block {height})."
            , physician.name),
        json!({"did": physician_did, "revealed": presentation.revealed, "proof_bytes": proof_bytes, "height": height}),
    );

    // Immunization: the hospital issues from a FHIR record; the patient
    // proves code, date and age to a verifier without disclosing them.
    let immunization_id = format!("{}#immunization-v1", hospital.actor.signer.account.did());
    let schema = catalog::immunization();
    let mut immunization_issuer = Issuer::new(immunization_id.clone(), schema.clone(), 1_024)?;
    tour.send(hospital, define(&immunization_issuer)?).await?;
    let set_id = format!("{}#cvx-covid-19", hospital.actor.signer.account.did());
    let set = PublicSet::publish(set_id.clone(), catalog::COVID19_CVX)?;
    tour.send(
        hospital,
        credentials(CredentialAction::PublishSet {
            set: serde_json::to_string(&set)?,
        }),
    )
    .await?;
    let patient_did = patient.actor.signer.account.did().to_string();
    let mut claims = immunization_claims(&immunization_record(&patient_did))?;
    claims.push(("patient".into(), json!(patient_did)));
    claims.push(("birth_date".into(), json!("1988-03-14")));
    let mut values = Vec::new();
    for spec in &schema.attributes {
        let (_, raw) = claims
            .iter()
            .find(|(n, _)| *n == spec.name)
            .context("a claim per attribute")?;
        values.push(attribute_value(spec.kind, raw)?);
    }
    let mut vaccination = immunization_issuer.issue(values)?;
    tour.say(
        format!("{} issued an immunization credential from a FHIR R4 Immunization (CVX 208) and published the COVID-19 CVX code set.", hospital.name),
        json!({"definition": immunization_id, "set": set_id}),
    );
    let request = PresentationRequest {
        definition: immunization_id.clone(),
        nonce: nonce(),
        reveal: vec![],
        predicates: vec![
            Predicate::InSet {
                attribute: "vaccine_code".into(),
                set: set_id.clone(),
            },
            Predicate::AtLeast {
                attribute: "occurrence_date".into(),
                min: AttributeValue::Date(2021_01_01),
            },
            Predicate::older_than("birth_date", 18, today)?,
        ],
        check_revocation: true,
    };
    let presentation = present(&client, &mut vaccination, &request).await?;
    let verdict = client.verify_presentation(&request, &presentation).await?;
    let wire = serde_json::to_string(&presentation)?;
    ensure!(
        !wire.contains(&patient_did) && !wire.contains("FF2588") && !wire.contains("Rivera"),
        "a presentation must not carry identifying data"
    );
    tour.say(
        format!(
            "The patient proved to a verifier \"COVID-19 vaccine (CVX set) on or after 2021-01-01, and 18 or older\" in a {}-byte proof; the node verified it, and nothing was disclosed: no name, DID, birth date, code or date.",
            presentation.proof.len()
        ),
        json!({"verdict": verdict, "proof_bytes": presentation.proof.len()}),
    );
    let vc = vaccination.to_w3c(immunization_issuer.definition())?;
    tour.say(
        "The credential also exports as a W3C Verifiable Credential (Data Model 2.0) for standard wallets.".into(),
        json!({"type": vc["type"], "issuer": vc["issuer"], "cryptosuite": vc["proof"]["cryptosuite"]}),
    );

    // Revocation: the board revokes the license; the role goes with it and
    // proofs made before no longer verify.
    let old_request = PresentationRequest {
        definition: license_id.clone(),
        nonce: nonce(),
        reveal: vec!["specialty".into()],
        predicates: vec![],
        check_revocation: true,
    };
    let old_presentation = present(&client, &mut license, &old_request).await?;
    let update = license_issuer.revoke(license.index)?;
    let revoke = credentials(CredentialAction::Revoke {
        definition: license_id.clone(),
        update: serde_json::to_string(&update)?,
        holder: Some(physician.actor.signer.account),
    });
    let height = tour.send(&mut board, revoke).await?;
    let stale = match client
        .verify_presentation(&old_request, &old_presentation)
        .await
    {
        Err(ClientError::Api { code, .. }) => code,
        Ok(_) => bail!("a presentation made before the revocation must fail"),
        Err(other) => return Err(other.into()),
    };
    let fresh = present(&client, &mut license, &old_request).await;
    ensure!(fresh.is_err(), "a revoked credential must not present");
    let document = client.resolve(&physician_did).await?;
    ensure!(
        !holds_provider_role(&document),
        "the provider role must go with the license"
    );
    tour.say(
        format!("{} revoked the license (block {height}): the provider role was withdrawn, an earlier proof now fails ({stale}), and the credential can no longer present.", board.name),
        json!({"height": height, "stale_proof": stale, "epoch": update.epoch}),
    );
    Ok(())
}

/// Whether a resolved DID lists the provider role among its chain roles.
fn holds_provider_role(document: &salus_client::api::identity::DidResolution) -> bool {
    document
        .document_metadata
        .salus_roles
        .as_ref()
        .is_some_and(|roles| roles.iter().any(|r| r == "provider"))
}
