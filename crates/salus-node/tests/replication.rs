//! Two vaults on one chain: a vault that lacks a version fetches it from its
//! peer and checks it against the anchor; erasure leaves the data
//! unrecoverable from both.

mod common;

use std::sync::Arc;
use std::time::{Duration, Instant};

use salus_client::record_flow::RecordFlow;
use salus_client::records::{open_version, read_request};
use salus_client::{Client, Signer};
use salus_crypto::SigningKey;
use salus_types::audit::VaultOperator;
use salus_types::consent::{AccessReason, Purpose};
use salus_types::identity::Role;
use salus_types::vault::{ReplicaRequest, RequestHeader, Signed, Want};
use salus_types::AccountId;
use salus_vault::{BlobConfig, Vault, VaultError};

use common::{actor, contains, enroll, files_under, fixture, free_addr, record_files, spawn_with};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn vaults_replicate_verified_ciphertext_and_erasure_reaches_every_vault() {
    let dir = tempfile::tempdir().unwrap();
    let second_key = SigningKey::generate();
    let second_account = AccountId::from_public_key(&second_key.public_key());
    let http = free_addr();
    let (node, chain) = spawn_with(&dir.path().join("node"), |config| {
        config.http_listen = http;
        // Two vault operators: this node's, and a second vault with no endpoint.
        config.genesis.audit.vaults[0].endpoint = format!("http://{http}");
        config.genesis.audit.vaults.push(VaultOperator {
            account: second_account,
            endpoint: String::new(),
        });
    });
    let client = Client::new(format!("http://{http}"));
    let chain_id = chain.genesis.chain_id.clone();
    let second_dir = dir.path().join("second-vault");
    let second = Arc::new(
        Vault::open(
            &second_dir,
            salus_vault::BlobStore::open(
                &BlobConfig::Local {
                    dir: second_dir.join("blobs"),
                    fsync: false,
                },
                &second_dir.join("packs.redb"),
            )
            .unwrap(),
            node.handle.chain.store().clone(),
            chain_id.clone(),
            second_key.clone(),
            salus_vault::system_clock(),
            salus_api::vault::REPLICA,
        )
        .unwrap(),
    );

    let mut authority = Signer::new(chain_id.clone(), chain.authority.signing.clone(), 0);
    let [mut hospital, mut patient, stranger] = [0; 3].map(|_| actor(&chain_id));
    enroll(
        &client,
        &mut authority,
        &mut [(&mut hospital, Some(Role::Provider)), (&mut patient, None)],
    )
    .await;
    let flow = RecordFlow::connect(&client).await.unwrap();
    let content = fixture("Condition-f201.json");
    let first = flow
        .put(&mut hospital, patient.account(), None, None, &content)
        .await
        .unwrap();

    // The second vault lacks the record: it fetches it from the first, checks
    // it against the anchor, keeps it, and serves it.
    let (patient_key, patient_id) = (patient.signer.key.clone(), patient.account());
    let ask_second = |record| {
        let header = RequestHeader::new(
            &chain_id,
            second_account,
            patient_id,
            &patient_key,
            salus_vault::system_clock()(),
        );
        read_request(
            header,
            &patient_key,
            record,
            None,
            Purpose::Treatment,
            Want::Record,
        )
    };
    let served = second
        .read(vec![ask_second(first.record)])
        .await
        .pop()
        .unwrap()
        .unwrap();
    let ciphertext = served.content.clone().unwrap();
    let anchored = flow.anchored(&first.record, 1).await.unwrap().unwrap();
    let plaintext = open_version(
        &first.record,
        1,
        &ciphertext,
        &anchored.ciphertext_hash,
        &served.envelope,
        &patient.account(),
        &patient.agreement,
        &flow.keys,
    )
    .unwrap();
    assert_eq!(plaintext.as_slice(), content.as_slice());
    assert!(
        files_under(&second_dir)
            .iter()
            .any(|(_, bytes)| contains(bytes, &ciphertext)),
        "the second vault kept the replica"
    );

    // Only vault operators may ask for replicas.
    let header = RequestHeader::new(
        &chain_id,
        flow.vault,
        stranger.account(),
        &stranger.signer.key,
        salus_vault::system_clock()(),
    );
    let request = Signed::sign(
        ReplicaRequest {
            header,
            record: first.record,
            version: 1,
        },
        &stranger.signer.key,
    );
    let response = reqwest::Client::new()
        .post(format!("http://{http}/v1/vault/replica"))
        .json(&serde_json::json!({"request": hex::encode(request.encode())}))
        .send()
        .await
        .unwrap();
    assert!(response.status().is_client_error());
    let body: serde_json::Value = response.json().await.unwrap();
    assert!(
        ["not_a_vault", "wrong_signer_key"].contains(&body["error"]["code"].as_str().unwrap()),
        "{body}"
    );

    // A peer that serves bytes other than the anchored ones is ignored.
    let second_record = flow
        .put(
            &mut hospital,
            patient.account(),
            None,
            None,
            &fixture("AllergyIntolerance-example.json"),
        )
        .await
        .unwrap();
    let first_vault = dir.path().join("node/vault/blobs");
    common::tamper_with_version(&first_vault, &second_record.record, 1);
    let refused = second
        .read(vec![ask_second(second_record.record)])
        .await
        .pop()
        .unwrap();
    assert_eq!(refused.unwrap_err(), VaultError::Unavailable);
    assert!(record_files(&second_dir, &second_record.record).is_empty());

    // Erasure: the chain keeps the hashes; both vaults delete everything.
    flow.erase(&mut patient, first.record).await.unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    while !record_files(&first_vault, &first.record).is_empty() {
        assert!(
            Instant::now() < deadline,
            "the node's vault did not erase the record"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(
        second.reconcile().await.unwrap(),
        1,
        "a vault that was away catches up"
    );
    for (path, bytes) in files_under(dir.path()) {
        assert!(
            !contains(&bytes, &ciphertext[..64]),
            "ciphertext survives in {}",
            path.display()
        );
    }
    let head = flow.head(&first.record).await.unwrap().unwrap();
    assert!(head.erased_ms.is_some());
    assert_eq!(
        flow.anchored(&first.record, 1)
            .await
            .unwrap()
            .unwrap()
            .ciphertext_hash,
        anchored.ciphertext_hash,
        "only the hash remains on chain"
    );
    let from_first = flow
        .get(&patient, first.record, None, Purpose::Treatment)
        .await;
    assert!(
        matches!(from_first, Err(salus_client::record_flow::FlowError::Vault { code, .. }) if code == "erased")
    );
    let from_second = second
        .read(vec![ask_second(first.record)])
        .await
        .pop()
        .unwrap();
    assert_eq!(
        from_second.unwrap_err(),
        VaultError::Denied(AccessReason::Erased)
    );
    node.stop().unwrap();
}
