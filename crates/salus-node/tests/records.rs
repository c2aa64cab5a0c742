//! Encrypted records end to end against a real node: writing, sharing,
//! revoking, every denial path, the patient's audit trail, and a scan for
//! plaintext anywhere the node keeps or says anything.

mod common;

use std::time::Duration;

use salus_client::record_flow::{Actor, FlowError};
use salus_client::records::{read_request, RecordError};
use salus_client::Client;
use salus_crypto::SigningKey;
use salus_state::StateScan;
use salus_types::consent::{ConsentAction, Purpose, Scope};
use salus_types::identity::Role;
use salus_types::records::{Category, RecordId};
use salus_types::vault::{sign_bundle, ReadRequest, RequestHeader, Signed, Want, WriteRequest};
use salus_types::{AccountId, Action};
use serde_json::Value;

use common::{contains, files_under, fixture, get_json, Scene, TestClock};

const HOUR: u64 = 3_600_000;

/// The code of a refused flow, or a panic naming what happened instead.
fn refused<T>(result: Result<T, FlowError>) -> String {
    match result {
        Err(FlowError::Vault { code, .. }) => code,
        Err(other) => panic!("expected a vault refusal, got {other}"),
        Ok(_) => panic!("expected a vault refusal, got access"),
    }
}

async fn wait_for_audit(client: &Client, expected_entries: u64, patient: &AccountId) -> Value {
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    loop {
        let vault = get_json(client, "/v1/vault").await;
        let audit = serde_json::to_value(client.audit(patient, 500).await.unwrap()).unwrap();
        let logged = audit["log_head"]["count"].as_u64().unwrap_or(0);
        if vault["pending_audit_entries"] == 0 && logged >= expected_entries {
            return audit;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "audit entries did not reach the chain: {vault} / {logged} of {expected_entries}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn records_are_sealed_shared_revoked_denied_and_audited() {
    let provider = Some(Role::Provider);
    let (scene, parties) = Scene::start([provider, Some(Role::Patient), provider, None]).await;
    let (dir, client, chain_id, time) = (&scene.dir, &scene.client, &scene.chain_id, &scene.time);
    let flow = scene.flow().await;
    let [mut hospital, mut patient, specialist, stranger] = parties;
    let glucose = fixture("Observation-f001.json");

    // A hospital writes an encrypted lab record for the patient.
    let written = flow
        .put(&mut hospital, patient.account(), None, None, &glucose)
        .await
        .unwrap();
    let lab = written.record;
    assert_eq!(written.version, 1);
    let mut readers = written.readers.clone();
    readers.sort();
    let mut expected = vec![patient.account(), hospital.account()];
    expected.sort();
    assert_eq!(
        readers, expected,
        "wrapped to the patient and the author only"
    );
    let head = flow.head(&lab).await.unwrap().unwrap();
    assert_eq!(head.category, Category::Laboratory);

    // The patient and the author read it; nobody else can yet.
    let read = flow
        .get(&patient, lab, None, Purpose::Treatment)
        .await
        .unwrap();
    assert_eq!(read.plaintext.as_slice(), glucose.as_slice());
    assert_eq!(read.served.reason, "owner");
    assert_eq!(
        flow.get(&hospital, lab, None, Purpose::Treatment)
            .await
            .unwrap()
            .served
            .reason,
        "author"
    );
    assert_eq!(
        refused(flow.get(&specialist, lab, None, Purpose::Treatment).await),
        "no_grant"
    );

    // The patient grants the specialist lab results for treatment; keys are re-wrapped.
    let now = flow_now(client).await;
    let (grant, shared) = flow
        .grant(
            &mut patient,
            specialist.account(),
            Scope::Categories(vec![Category::Laboratory]),
            Purpose::Treatment,
            now + HOUR,
        )
        .await
        .unwrap();
    assert_eq!(shared, 1);
    let read = flow
        .get(&specialist, lab, None, Purpose::Treatment)
        .await
        .unwrap();
    assert_eq!(read.plaintext.as_slice(), glucose.as_slice());
    assert_eq!(
        (read.served.reason.as_str(), read.served.grant),
        ("grant", Some(grant))
    );

    // Denials: wrong purpose, wrong grantee, out of scope.
    assert_eq!(
        refused(flow.get(&specialist, lab, None, Purpose::Research).await),
        "wrong_purpose"
    );
    assert_eq!(
        refused(flow.get(&stranger, lab, None, Purpose::Treatment).await),
        "no_grant"
    );
    let immunization = flow
        .put(
            &mut hospital,
            patient.account(),
            None,
            None,
            &fixture("Immunization-example.json"),
        )
        .await
        .unwrap();
    assert_eq!(
        refused(
            flow.get(&specialist, immunization.record, None, Purpose::Treatment)
                .await
        ),
        "out_of_scope"
    );

    // A new lab record is wrapped to the running grantee at once.
    let lipids = fixture("Bundle-lipids.json");
    let panel = flow
        .put(&mut hospital, patient.account(), None, None, &lipids)
        .await
        .unwrap();
    assert!(panel.readers.contains(&specialist.account()));
    let read = flow
        .get(&specialist, panel.record, None, Purpose::Treatment)
        .await
        .unwrap();
    assert_eq!(read.plaintext.as_slice(), lipids.as_slice());

    // A new version of the lab record: a fresh key, readable by the grantee.
    let v2 = flow
        .put(&mut hospital, patient.account(), Some(lab), None, &glucose)
        .await
        .unwrap();
    assert_eq!(v2.version, 2);
    assert_eq!(
        flow.get(&specialist, lab, Some(2), Purpose::Treatment)
            .await
            .unwrap()
            .served
            .version,
        2
    );

    // A grant without the keys re-wrapped: allowed by consent, but no key to serve.
    let t = flow_now(client).await;
    let action = Action::Consent(ConsentAction::Grant {
        patient: patient.account(),
        grantee: stranger.account(),
        scope: Scope::Records(vec![immunization.record]),
        purpose: Purpose::Payment,
        expires_ms: t + HOUR,
    });
    let outcome = client
        .submit_and_wait(&patient.signer.sign(vec![action]))
        .await
        .unwrap();
    assert!(outcome.receipt.succeeded());
    assert_eq!(
        refused(
            flow.get(&stranger, immunization.record, None, Purpose::Payment)
                .await
        ),
        "key_not_shared"
    );

    // Expiry, by the vault's clock.
    time.advance(2 * HOUR);
    assert_eq!(
        refused(flow.get(&specialist, lab, None, Purpose::Treatment).await),
        "expired"
    );
    time.reset();

    // Revocation takes effect with the next finalized block.
    flow.revoke(&mut patient, grant).await.unwrap();
    assert_eq!(
        refused(flow.get(&specialist, lab, None, Purpose::Treatment).await),
        "revoked"
    );

    // Requests that are forged, replayed, stale, misaddressed or for nothing.
    let header = |who: &Actor, vault: AccountId, issued_ms: u64| {
        RequestHeader::new(chain_id, vault, who.account(), &who.signer.key, issued_ms)
    };
    let request = |who: &Actor, vault, issued, record| {
        read_request(
            header(who, vault, issued),
            &who.signer.key,
            record,
            None,
            Purpose::Treatment,
            Want::Record,
        )
    };
    let code_of = |results: Vec<salus_api::vault::ItemResult<salus_api::vault::ServedRecord>>| {
        results
            .into_iter()
            .map(|r| r.error.map_or("ok".to_owned(), |e| e.code))
            .collect::<Vec<_>>()
    };
    let mut forged = request(&patient, flow.vault, now_ms(time), lab);
    forged.body.purpose = Purpose::Research;
    let good = request(&patient, flow.vault, now_ms(time), lab);
    let stale = request(&patient, flow.vault, now_ms(time) - 10 * 60_000, lab);
    let elsewhere = request(&patient, AccountId([7; 20]), now_ms(time), lab);
    let nothing = request(&patient, flow.vault, now_ms(time), RecordId([9; 16]));
    let impostor = Signed::sign(good.body.clone(), &stranger.signer.key);
    let ghost = common::actor(chain_id);
    let unregistered = request(&ghost, flow.vault, now_ms(time), lab);
    let codes = code_of(
        client
            .vault_read(&[
                forged,
                good.clone(),
                good.clone(),
                stale,
                elsewhere,
                nothing,
                impostor,
                unregistered,
            ])
            .await
            .unwrap(),
    );
    assert_eq!(
        codes,
        vec![
            "bad_signature",
            "ok",
            "replayed_request",
            "stale_request",
            "wrong_vault",
            "unknown_record",
            "bad_signature",
            "unknown_signer"
        ]
    );
    assert_eq!(
        code_of(client.vault_read(&[good]).await.unwrap()),
        vec!["replayed_request"]
    );

    // Bundles: one signature over many requests, each still checked on its own.
    let body = |who: &Actor, record| ReadRequest {
        header: header(who, flow.vault, now_ms(time)),
        record,
        version: None,
        purpose: Purpose::Treatment,
        want: Want::Record,
    };
    let bundle = vec![
        body(&patient, lab),
        body(&patient, lab),
        body(&patient, RecordId([9; 16])),
        // Names another key than the one the bundle is signed with.
        body(&stranger, lab),
    ];
    let read_bundle = |requests: Vec<ReadRequest>, key: SigningKey| async move {
        code_of(client.vault_read_bundle(&requests, &key).await.unwrap())
    };
    assert_eq!(
        read_bundle(bundle.clone(), patient.signer.key.clone()).await,
        vec!["ok", "ok", "unknown_record", "bad_signature"]
    );
    assert_eq!(
        read_bundle(bundle.clone(), patient.signer.key.clone()).await,
        vec![
            "replayed_request",
            "replayed_request",
            "unknown_record",
            "bad_signature"
        ],
        "a replayed bundle replays every request in it"
    );
    let fresh = vec![body(&patient, lab), body(&patient, lab)];
    assert_eq!(
        read_bundle(fresh.clone(), stranger.signer.key.clone()).await,
        vec!["bad_signature", "bad_signature"],
        "signed by a key the requests do not name"
    );
    // A request changed after the bundle was signed breaks the whole bundle.
    let (mut encoded, signature) = sign_bundle(&fresh, &patient.signer.key);
    let mut changed = fresh[1].clone();
    changed.purpose = Purpose::Research;
    encoded[1] = salus_types::codec::encode(&changed);
    let post = |requests: Vec<String>, signature: String| async move {
        let response = reqwest::Client::new()
            .post(format!("{}/v1/vault/read", client.base()))
            .json(&serde_json::json!({"requests": requests, "bundle_signature": signature}))
            .send()
            .await
            .unwrap();
        (
            response.status().as_u16(),
            response.json::<Value>().await.unwrap(),
        )
    };
    let (status, answer) = post(
        encoded.iter().map(hex::encode).collect(),
        signature.to_hex(),
    )
    .await;
    assert_eq!(status, 200);
    let codes: Vec<&str> = answer["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["error"]["code"].as_str().unwrap_or("ok"))
        .collect();
    assert_eq!(codes, vec!["bad_signature", "bad_signature"]);
    // Malformed bundles are refused whole, with a JSON error.
    let (status, answer) = post(vec!["zz".into()], signature.to_hex()).await;
    assert_eq!(
        (status, answer["error"]["code"].as_str()),
        (400, Some("malformed_request"))
    );
    let (status, _) = post(encoded.iter().map(hex::encode).collect(), "00".into()).await;
    assert_eq!(status, 400);

    // Uploads that do not match the anchor are refused; so are strangers' uploads.
    let upload = |who: &Actor, content: Option<salus_types::Hash>| {
        Signed::sign(
            WriteRequest {
                header: header(who, flow.vault, now_ms(time)),
                record: lab,
                version: 1,
                content,
                envelopes: vec![],
            },
            &who.signer.key,
        )
    };
    let other_bytes = b"not the anchored ciphertext".to_vec();
    let results = client
        .vault_write(&[
            (
                upload(
                    &hospital,
                    Some(salus_types::vault::ciphertext_hash(&other_bytes)),
                ),
                Some(&other_bytes),
            ),
            (upload(&stranger, None), None),
            (upload(&hospital, None), Some(&other_bytes)),
        ])
        .await
        .unwrap();
    let codes: Vec<String> = results
        .into_iter()
        .map(|r| r.error.map_or("ok".into(), |e| e.code))
        .collect();
    assert_eq!(
        codes,
        vec!["content_mismatch", "not_authorized", "content_mismatch"]
    );
    // Uploads signed as one bundle: each still checked on its own.
    let write_body = |who: &Actor| WriteRequest {
        header: header(who, flow.vault, now_ms(time)),
        record: lab,
        version: 1,
        content: None,
        envelopes: vec![],
    };
    let bundle = [(write_body(&hospital), None), (write_body(&stranger), None)];
    let codes_of = |results: Vec<salus_api::vault::ItemResult<salus_api::vault::StoredRecord>>| {
        results
            .into_iter()
            .map(|r| r.error.map_or("ok".to_owned(), |e| e.code))
            .collect::<Vec<_>>()
    };
    let write_bundle = || async {
        codes_of(
            client
                .vault_write_bundle(&bundle, &hospital.signer.key)
                .await
                .unwrap(),
        )
    };
    assert_eq!(write_bundle().await, vec!["ok", "bad_signature"]);
    assert_eq!(
        write_bundle().await,
        vec!["replayed_request", "bad_signature"]
    );

    // Tampered ciphertext in the vault's storage is caught by the reader.
    common::tamper_with_version(&dir.path().join("vault/blobs/packs"), &lab, 1);
    assert!(matches!(
        flow.get(&patient, lab, Some(1), Purpose::Treatment).await,
        Err(FlowError::Record(RecordError::HashMismatch))
    ));

    // The patient's audit trail shows every decided access, allowed or denied.
    let audit = wait_for_audit(client, 15, &patient.account()).await;
    let entries = audit["entries"].as_array().unwrap();
    let accesses: Vec<(String, String, String)> = entries
        .iter()
        .filter(|e| e["event"]["module"] == "audit")
        .map(|e| {
            let entry = &e["event"]["event"]["entry"];
            (
                entry["requester"].as_str().unwrap().to_owned(),
                entry["purpose"].as_str().unwrap().to_owned(),
                entry["reason"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    let has = |who: &Actor, purpose: &str, reason: &str| {
        accesses.contains(&(
            who.account().to_hex(),
            purpose.to_owned(),
            reason.to_owned(),
        ))
    };
    assert!(has(&patient, "treatment", "owner"));
    assert!(has(&hospital, "treatment", "author"));
    assert!(has(&specialist, "treatment", "grant"));
    for (who, purpose, reason) in [
        (&specialist, "treatment", "no_grant"),
        (&specialist, "research", "wrong_purpose"),
        (&stranger, "treatment", "no_grant"),
        (&specialist, "treatment", "out_of_scope"),
        (&stranger, "payment", "key_not_shared"),
        (&specialist, "treatment", "expired"),
        (&specialist, "treatment", "revoked"),
    ] {
        assert!(
            has(who, purpose, reason),
            "no audit entry for {reason}: {accesses:?}"
        );
    }
    assert_eq!(
        audit["log_head"]["count"].as_u64().unwrap() as usize,
        accesses.len(),
        "the hash-chained log counts exactly the accesses listed"
    );
    // Paging back three at a time visits every entry once, in the same order.
    let mut paged = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let mut path = format!("/v1/audit?patient={}&limit=3", patient.account());
        if let Some(c) = &cursor {
            path.push_str(&format!("&before={c}"));
        }
        let page = get_json(client, &path).await;
        paged.extend(page["entries"].as_array().unwrap().iter().cloned());
        match page["next"].as_str() {
            Some(next) => cursor = Some(next.to_owned()),
            None => break,
        }
    }
    assert_eq!(&paged, entries, "paging loses or repeats nothing");
    let consent_changes: Vec<&str> = entries
        .iter()
        .filter(|e| e["event"]["module"] == "consent")
        .map(|e| e["event"]["event"]["type"].as_str().unwrap())
        .collect();
    assert!(consent_changes.contains(&"granted") && consent_changes.contains(&"revoked"));
    // Unauthenticated attempts (forged, impostor, unregistered) reach no log.
    assert!(!accesses
        .iter()
        .any(|(who, _, _)| who == &ghost.account().to_hex()));

    // No plaintext anywhere: chain state, blocks and receipts, vault storage,
    // the node's files, and the error bodies above.
    let markers: [&[u8]; 5] = [
        b"Glucose",
        b"van de Heuvel",
        b"Cholesterol",
        b"Fluvax",
        b"15074-8",
    ];
    let snapshot = scene.node.handle.chain.store().snapshot().unwrap();
    let state = snapshot.scan_prefix(b"", None, usize::MAX).unwrap();
    assert!(state.len() > 20);
    let tip = snapshot.height().unwrap();
    let mut archive = Vec::new();
    for height in 0..=tip {
        archive.extend(
            get_json(client, &format!("/v1/blocks/{height}"))
                .await
                .to_string()
                .into_bytes(),
        );
        let block = snapshot.block(height).unwrap().unwrap();
        for index in 0..block.txs.len() {
            let receipt = snapshot.receipt(height, index as u32).unwrap().unwrap();
            archive.extend(serde_json::to_vec(&receipt).unwrap());
            archive.extend(block.txs[index].encode());
        }
    }
    drop(snapshot);
    let files = files_under(dir.path());
    assert!(files.len() > 10);
    for marker in markers {
        assert!(
            contains(&glucose, marker)
                || contains(&lipids, marker)
                || contains(&fixture("Immunization-example.json"), marker)
        );
        for (key, value) in &state {
            assert!(
                !contains(key, marker) && !contains(value, marker),
                "plaintext in chain state"
            );
        }
        assert!(
            !contains(&archive, marker),
            "plaintext in blocks or receipts"
        );
        for (path, bytes) in &files {
            assert!(!contains(bytes, marker), "plaintext in {}", path.display());
        }
    }
    scene.node.stop().unwrap();
}

/// The vault clock the test moves (requests must be fresh by it).
fn now_ms(time: &TestClock) -> u64 {
    (time.clock())()
}

/// The chain's latest block time.
async fn flow_now(client: &Client) -> u64 {
    client.status().await.unwrap().timestamp_ms
}
