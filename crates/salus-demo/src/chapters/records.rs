//! Chapter 2: encrypted records, consent, revocation and the audit trail.

use anyhow::{bail, ensure, Result};
use salus_client::actions;
use salus_client::record_flow::{FlowError, RecordFlow};
use salus_types::audit::AuditEvent;
use salus_types::consent::{Purpose, Scope};
use salus_types::identity::Role;
use salus_types::records::Category;
use salus_types::Event;
use serde_json::json;

use super::Cast;
use crate::tour::{Party, Tour};

const LAB_RESULT: &[u8] = include_bytes!("../../../../testdata/fhir/Observation-f001.json");

pub(crate) async fn run(tour: &mut Tour<'_>, chain_id: &str, cast: &mut Cast) -> Result<()> {
    let Cast {
        authority,
        hospital,
        patient,
        ..
    } = cast;
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
