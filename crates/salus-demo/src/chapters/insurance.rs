//! Chapter 5: insurance that settles itself. An insurer opens a pool, two
//! liquidity providers fund it, the patient buys cover, the hospital writes
//! a FHIR Claim, the patient files; three oracle daemons (real `salus oracle
//! run` processes) read the evidence under a payment grant and attest, the
//! claim pays in the block where the quorum forms, the oracle that lied is
//! slashed, a second claim on the same evidence is refused, and a provider
//! withdraws after the lockup at the new share price.

use std::path::Path;
use std::time::Duration;

use anyhow::{bail, ensure, Context as _, Result};
use salus_client::actions;
use salus_client::record_flow::RecordFlow;
use salus_crypto::keystore::KeyPair;
use salus_oracle::process::Daemons;
use salus_types::audit::AuditEvent;
use salus_types::consent::Purpose;
use salus_types::identity::Role;
use salus_types::insurance::{ClaimStatus, Coverage, InsuranceAction, PoolTerms, Product};
use salus_types::oracle::{Answer, Evidence, OracleAction, QuestionStatus};
use salus_types::{Action, ErrorCode, Event};
use serde_json::json;

use super::Cast;
use crate::tour::{wait_for, Party, Tour};

const BOND: u128 = 250_000;
const LOCKUP_MS: u64 = 4_000;
pub(crate) async fn run(
    tour: &mut Tour<'_>,
    chain_id: &str,
    cast: &mut Cast,
    salus: &Path,
    workdir: &Path,
) -> Result<()> {
    let Cast {
        authority,
        hospital,
        patient,
        insurer,
    } = cast;
    let client = tour.client.clone();
    let mut providers = [
        Party::new("the nurses' pension fund", chain_id),
        Party::new("a community credit union", chain_id),
    ];
    let oracle_keys: Vec<KeyPair> = (0..3).map(|_| KeyPair::generate()).collect();
    let mut oracles: Vec<Party> = ["oracle Alpha", "oracle Beta", "oracle Gamma (dishonest)"]
        .into_iter()
        .zip(&oracle_keys)
        .map(|(name, keys)| Party::with_keys(name, chain_id, keys.clone()))
        .collect();
    let mut funding = Vec::new();
    for party in providers.iter().chain(&oracles) {
        funding.push(actions::transfer(party.actor.account(), 5_000_000));
    }
    tour.send(authority, funding).await?;
    for party in providers.iter_mut().chain(oracles.iter_mut()) {
        let agreement = party.actor.agreement.public_key();
        tour.send(party, vec![actions::register_did(agreement, vec![])])
            .await?;
    }
    let attest: Vec<Action> = oracles
        .iter()
        .map(|o| actions::attest_role(o.actor.account(), Role::Oracle))
        .collect();
    tour.send(authority, attest).await?;
    for oracle in &mut oracles {
        tour.send(oracle, vec![OracleAction::Bond { amount: BOND }.into()])
            .await?;
    }
    let keystore = workdir.join("oracle-keys");
    let node = client.base().to_owned();
    let _daemons = Daemons(
        oracle_keys
            .iter()
            .enumerate()
            .map(|(i, keys)| {
                let fault = (i == 2).then_some("always-deny");
                salus_oracle::process::spawn(
                    salus,
                    &node,
                    &keystore,
                    &format!("oracle-{i}"),
                    keys,
                    fault,
                )
            })
            .collect::<Result<_, _>>()?,
    );
    tour.say(
        "Three oracles registered DIDs, were attested, bonded 250,000 usal each, and started their daemons (separate `salus oracle run` processes); the third is a drill that answers without reading.".into(),
        json!({"oracles": oracles.iter().map(|o| o.actor.account().did()).collect::<Vec<_>>(), "bond": BOND.to_string()}),
    );

    let terms = PoolTerms {
        products: vec![Product {
            name: "hospital indemnity".into(),
            coverage: Coverage::Indemnity {
                diagnosis_codes: vec!["J18.9".into(), "J15.9".into(), "S72.001A".into()],
                currency: "USD".into(),
                units_per_cent: 1,
                deductible: 25_000,
            },
        }],
        premium_rate_bps: 600,
        min_capital_ratio_bps: 10_000,
        max_cover: 5_000_000,
        lockup_ms: LOCKUP_MS,
    };
    tour.send(insurer, vec![InsuranceAction::CreatePool { terms }.into()])
        .await?;
    let pool = 1;
    for (party, amount) in providers.iter_mut().zip([3_000_000u128, 1_000_000]) {
        tour.send(
            party,
            vec![InsuranceAction::Deposit { pool, amount }.into()],
        )
        .await?;
    }
    let funded = client.pool(pool).await?.pool;
    tour.say(
        format!(
            "{} opened pool {pool} (hospital indemnity for pneumonia and hip fractures, 6% a year, fully funded); two providers deposited {} usal for {} shares.",
            insurer.name, funded.capital, funded.shares
        ),
        json!({"pool": funded}),
    );

    let holder = patient.actor.account();
    tour.send(
        patient,
        vec![InsuranceAction::BuyPolicy {
            pool,
            product: 0,
            holder,
            cover: 2_000_000,
            term_ms: 30 * 24 * 3_600_000,
        }
        .into()],
    )
    .await?;
    let policy = client
        .policies_of(&holder)
        .await?
        .policies
        .last()
        .cloned()
        .context("the patient holds no policy")?;
    tour.say(
        format!(
            "The patient bought 2,000,000 usal of cover for 30 days (policy {}) for a premium of {} usal.",
            policy.id, policy.premium
        ),
        json!({"policy": policy}),
    );

    // Admitted after the policy began (a FHIR dateTime has whole seconds:
    // the next one), as a policy requires.
    let admitted = salus_types::calendar::fhir_instant((policy.starts_ms / 1000 + 1) * 1000);
    let claim_fhir = json!({
        "resourceType": "Claim", "status": "active", "use": "claim",
        "type": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/claim-type", "code": "institutional"}]},
        "patient": {"display": "the demo patient"},
        "created": admitted,
        "billablePeriod": {"start": admitted, "end": admitted},
        "provider": {"display": hospital.name},
        "priority": {"coding": [{"code": "normal"}]},
        "diagnosis": [{"sequence": 1, "diagnosisCodeableConcept": {"coding": [
            {"system": "http://hl7.org/fhir/sid/icd-10", "code": "J18.9", "display": "Pneumonia, unspecified organism"}]}}],
        "insurance": [{"sequence": 1, "focal": true, "coverage": {"display": format!("Salus policy {}", policy.id)}}],
        "total": {"value": 12_480.00, "currency": "USD"}
    });
    let flow = RecordFlow::connect(&client).await?;
    let written = flow
        .put(
            &mut hospital.actor,
            holder,
            None,
            None,
            claim_fhir.to_string().as_bytes(),
        )
        .await?;
    let evidence = Evidence {
        record: written.record,
        version: written.version,
    };
    tour.say(
        format!(
            "The hospital wrote a FHIR Claim for a pneumonia admission ($12,480.00) as an encrypted record ({}).",
            written.record
        ),
        json!({"record": written.record}),
    );

    let asked = 1_224_800u128;
    let file = InsuranceAction::FileClaim {
        policy: policy.id,
        evidence: vec![evidence],
        amount: asked,
        payee: holder,
    };
    tour.send(patient, vec![file.clone().into()]).await?;
    let claim = client
        .claims_of(&holder)
        .await?
        .claims
        .last()
        .cloned()
        .context("the patient has no claim")?;
    let question = client.question(claim.question).await?.question;
    let committee: Vec<_> = question.committee.iter().map(|m| m.oracle).collect();
    tour.say(
        format!(
            "The patient filed claim {} for {asked} usal; it became oracle question {} with a committee of {} drawn by stake, each granted payment access to exactly that record until it settles.",
            claim.id,
            question.id,
            committee.len()
        ),
        json!({"claim": claim.id, "question": question.id, "committee": committee.iter().map(|c| c.did()).collect::<Vec<_>>(), "deadline_height": question.deadline_height}),
    );
    // The drill answers at once; the honest daemons wait for the keys.
    wait_for(|| async {
        let question = client.question(claim.question).await?.question;
        Ok(question.committee.iter().any(|m| m.answer.is_some()))
    })
    .await
    .context("the drill oracle never answered")?;
    let shared = flow
        .share(
            &patient.actor,
            &committee,
            &[(evidence.record, evidence.version)],
        )
        .await?;
    tour.say(
        format!("The patient's client wrapped the record's key to the {shared} version(s) × {} committee members; the daemons read it through the vault, for payment.", committee.len()),
        json!({"versions_shared": shared}),
    );
    wait_for(|| async {
        Ok(!matches!(
            client.claim(claim.id).await?.claim.status,
            ClaimStatus::Pending
        ))
    })
    .await
    .context("the claim never settled")?;
    let settled = client.claim(claim.id).await?.claim;
    let question = client.question(claim.question).await?.question;
    let ClaimStatus::Paid { amount, height } = settled.status else {
        bail!("the claim settled as {:?}", settled.status);
    };
    let QuestionStatus::Resolved {
        answer: Answer::Approve { amount: approved },
        ..
    } = &question.status
    else {
        bail!("the question is {:?}", question.status);
    };
    tour.say_as(
        "claim paid",
        format!("Two of three oracles approved {approved} usal; the pool paid {amount} usal to the patient in the same block ({height}): $12,480.00 billed less the deductible. No adjuster saw the record."),
        json!({"claim": settled, "answers": question.committee}),
    );
    let liar = oracles[2].actor.account();
    let record = client.oracle(&liar).await?.record;
    ensure!(record.slashed > 0, "the dishonest oracle must be slashed");
    tour.say_as(
        "oracle slashed",
        format!(
            "The oracle that answered against the quorum lost {} usal of its bond (10%) and its fee; its public record shows {} disputed answer(s).",
            record.slashed, record.disputed
        ),
        json!({"oracle": liar.did(), "record": record}),
    );
    // Vaults log reads on chain in batches, a moment after serving them.
    let payment_reads = || async {
        let trail = client.audit(&holder, 100).await?;
        Ok::<_, anyhow::Error>(
            trail
                .entries
                .iter()
                .filter(|e| {
                    matches!(&e.event, Event::Audit(AuditEvent::Accessed { entry, .. })
                        if entry.purpose == Purpose::Payment && entry.reason.allows())
                })
                .count(),
        )
    };
    wait_for(|| async { Ok(payment_reads().await? >= 2) })
        .await
        .context("the oracles' reads never reached the audit trail")?;
    let reads = payment_reads().await?;
    tour.say(
        format!("The patient's audit trail shows each oracle's read of the claim, purpose payment ({reads} entries)."),
        json!({"payment_reads": reads}),
    );

    let outcome = client
        .submit_and_wait(&patient.actor.signer.sign(vec![file.into()]))
        .await?;
    ensure!(
        outcome.receipt.code == ErrorCode::EvidenceAlreadyClaimed,
        "a second claim on paid evidence must be refused"
    );
    tour.say(
        format!(
            "A second claim on the same record was refused ({}).",
            outcome.receipt.code.name()
        ),
        json!({"code": outcome.receipt.code}),
    );

    tokio::time::sleep(Duration::from_millis(LOCKUP_MS)).await;
    // Half its shares: all of them would leave the running cover unfunded.
    let first = &mut providers[0];
    let position = client.position(pool, &first.actor.account()).await?;
    let shares = position.position.shares / 2;
    let before = client.account(&first.actor.account()).await?.balance;
    tour.send(
        first,
        vec![InsuranceAction::Withdraw { pool, shares }.into()],
    )
    .await?;
    let after = client.account(&first.actor.account()).await?.balance;
    tour.say_as(
        "provider withdrew",
        format!(
            "After the lockup, {} redeemed half its shares ({shares}) for {} usal, at the share price the premium raised and the claim lowered (it deposited 3,000,000 for {}).",
            first.name,
            after - before,
            position.position.shares
        ),
        json!({"shares": shares.to_string(), "received": (after - before).to_string(), "balance_before": before.to_string(), "balance_after": after.to_string()}),
    );
    Ok(())
}
