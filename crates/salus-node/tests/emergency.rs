//! Break-glass access end to end: only where the patient opted in, only for a
//! named responder with a provider role, only for the window, always audited
//! and shown to the patient.

mod common;

use std::time::Duration;

use salus_client::record_flow::FlowError;
use salus_types::consent::{EmergencyReason, Purpose};
use salus_types::identity::Role;

use common::{fixture, Scene};

const HOUR: u64 = 3_600_000;

fn code<T>(result: Result<T, FlowError>) -> String {
    match result {
        Err(FlowError::Vault { code, .. }) | Err(FlowError::Rejected { code, .. }) => code,
        Err(other) => panic!("unexpected failure: {other}"),
        Ok(_) => "ok".into(),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn break_glass_is_opt_in_time_limited_and_shown_to_the_patient() {
    let provider = Some(Role::Provider);
    let (scene, parties) = Scene::start([provider, None, provider, provider]).await;
    let (client, time) = (&scene.client, &scene.time);
    let flow = scene.flow().await;
    let [mut hospital, mut patient, mut responder, mut other_doctor] = parties;
    let allergy = fixture("AllergyIntolerance-example.json");
    let record = flow
        .put(&mut hospital, patient.account(), None, None, &allergy)
        .await
        .unwrap()
        .record;

    // Not opted in: nobody can break the glass.
    let glass = EmergencyReason::Unconscious;
    assert_eq!(
        code(
            flow.break_glass(&mut responder, patient.account(), glass)
                .await
        ),
        "emergency_not_enabled"
    );

    // Opted in for one responder: keys are wrapped in advance, but held back.
    let shared = flow
        .allow_emergency(&mut patient, vec![responder.account()], 2 * HOUR)
        .await
        .unwrap();
    assert_eq!(shared, 1);
    assert_eq!(
        code(flow.get(&responder, record, None, Purpose::Emergency).await),
        "no_grant"
    );
    assert_eq!(
        code(
            flow.break_glass(&mut other_doctor, patient.account(), glass)
                .await
        ),
        "not_a_responder"
    );

    // Break the glass: readable for the window, then not.
    flow.break_glass(&mut responder, patient.account(), glass)
        .await
        .unwrap();
    let read = flow
        .get(&responder, record, None, Purpose::Emergency)
        .await
        .unwrap();
    assert_eq!(read.plaintext.as_slice(), allergy.as_slice());
    assert_eq!(read.served.reason, "emergency");
    assert_eq!(
        code(flow.get(&responder, record, None, Purpose::Treatment).await),
        "no_grant"
    );
    time.advance(3 * HOUR);
    assert_eq!(
        code(flow.get(&responder, record, None, Purpose::Emergency).await),
        "expired"
    );
    time.reset();

    // The patient sees the break-glass and every emergency read in the trail.
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    loop {
        let audit =
            serde_json::to_value(client.audit(&patient.account(), 100).await.unwrap()).unwrap();
        let entries = audit["entries"].as_array().unwrap();
        let opened = entries.iter().any(|e| {
            e["event"]["event"]["type"] == "break_glass"
                && e["event"]["event"]["provider"] == responder.account().to_hex()
        });
        let reasons: Vec<&str> = entries
            .iter()
            .filter_map(|e| e["event"]["event"]["entry"]["reason"].as_str())
            .collect();
        if opened && reasons.contains(&"emergency") && reasons.contains(&"expired") {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the trail lacks the emergency access: {audit}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    scene.node.stop().unwrap();
}
