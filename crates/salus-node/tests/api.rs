//! The HTTP API against a real single-validator node: the happy path, the
//! OpenAPI document, and a typed JSON error for every kind of bad input.

mod common;

use std::time::Duration;

use common::spawn;
use reqwest::StatusCode;
use salus_client::{actions, verify_state, Client};
use salus_types::{AccountId, TxBody, MAX_TX_BYTES};
use serde_json::{json, Value};

/// Asserts a JSON error body with this status and code.
async fn expect_error(response: reqwest::Response, status: StatusCode, code: &str) -> Value {
    assert_eq!(response.status(), status);
    let body: Value = response.json().await.expect("error bodies are JSON");
    assert_eq!(body["error"]["code"], code, "body: {body}");
    let message = body["error"]["message"].as_str().unwrap_or_default();
    assert!(!message.is_empty(), "body: {body}");
    salus_testkit::assert_says_each_cause_once(message);
    body
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn api_serves_proofs_and_refuses_bad_input_with_typed_json_errors() {
    let dir = tempfile::tempdir().unwrap();
    let (node, mut signer) = spawn(dir.path());
    let base = format!("http://{}", node.handle.http_addr);
    let client = Client::new(base.clone());
    let http = reqwest::Client::new();
    let post_tx = |body: Value| http.post(format!("{base}/v1/txs")).json(&body).send();

    // Happy path: a transfer is final, has a receipt, and its effect is provable.
    let recipient = AccountId([3; 20]);
    let tx = signer.sign(vec![actions::transfer(recipient, 42)]);
    let outcome = client.submit_and_wait(&tx).await.unwrap();
    assert!(outcome.receipt.succeeded());
    let key = salus_types::token::balance_key(&recipient);
    let state = client.state(&key, None).await.unwrap();
    let header = client.header(state.height).await.unwrap();
    let value = hex::decode(state.value.clone().unwrap()).unwrap();
    assert_eq!(value, 42u128.to_le_bytes());
    verify_state(&header, &key, Some(&value), &state.proof).unwrap();
    assert!(verify_state(&header, &key, Some(&43u128.to_le_bytes()), &state.proof).is_err());
    let mut tampered = state.proof.clone().into_bytes();
    let last = tampered.len() - 1;
    tampered[last] = if tampered[last] == b'0' { b'1' } else { b'0' };
    assert!(verify_state(
        &header,
        &key,
        Some(&value),
        std::str::from_utf8(&tampered).unwrap()
    )
    .is_err());
    let mut other_header = header.clone();
    other_header.state_root.0[0] ^= 1;
    assert!(verify_state(&other_header, &key, Some(&value), &state.proof).is_err());
    let events = serde_json::to_value(client.events(&recipient, 10).await.unwrap()).unwrap();
    assert_eq!(events["events"].as_array().unwrap().len(), 1);

    // Replaying the final transaction: its nonce is spent.
    expect_error(
        post_tx(json!({"tx": hex::encode(tx.encode())}))
            .await
            .unwrap(),
        StatusCode::BAD_REQUEST,
        "bad_nonce",
    )
    .await;
    // Submitting a pending one twice. It skips a nonce, so it cannot become
    // final (and its nonce stale) between the two submissions; the batch
    // below fills the gap.
    signer.next_nonce += 1;
    let pending = signer.sign(vec![actions::transfer(recipient, 1)]);
    signer.next_nonce -= 2;
    let body = json!({"tx": hex::encode(pending.encode())});
    assert_eq!(
        post_tx(body.clone()).await.unwrap().status(),
        StatusCode::ACCEPTED
    );
    expect_error(
        post_tx(body).await.unwrap(),
        StatusCode::CONFLICT,
        "duplicate",
    )
    .await;

    // Malformed envelopes.
    expect_error(
        post_tx(json!({"tx": "zz"})).await.unwrap(),
        StatusCode::BAD_REQUEST,
        "malformed_tx",
    )
    .await;
    let bytes = pending.encode();
    expect_error(
        post_tx(json!({"tx": hex::encode(&bytes[..bytes.len() - 3])}))
            .await
            .unwrap(),
        StatusCode::BAD_REQUEST,
        "malformed_tx",
    )
    .await;
    expect_error(
        post_tx(json!({"tx": "00".repeat(MAX_TX_BYTES + 1)}))
            .await
            .unwrap(),
        StatusCode::BAD_REQUEST,
        "tx_too_large",
    )
    .await;
    let response = http
        .post(format!("{base}/v1/txs"))
        .header("content-type", "application/json")
        .body("{not json")
        .send()
        .await
        .unwrap();
    assert!(response.status().is_client_error());
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["error"]["code"], "bad_request");

    // Well-formed but forged or foreign.
    let mut forged = signer.sign(vec![actions::transfer(recipient, 5)]);
    forged.signature.0[0] ^= 1;
    // The forgery never reaches the chain, so its nonce is still free.
    signer.next_nonce -= 1;
    expect_error(
        post_tx(json!({"tx": hex::encode(forged.encode())}))
            .await
            .unwrap(),
        StatusCode::BAD_REQUEST,
        "bad_signature",
    )
    .await;
    let foreign = TxBody {
        chain_id: "another-chain".into(),
        signer: signer.account,
        public_key: signer.key.public_key(),
        nonce: 99,
        actions: vec![actions::transfer(recipient, 1)],
    }
    .sign(&signer.key);
    expect_error(
        post_tx(json!({"tx": hex::encode(foreign.encode())}))
            .await
            .unwrap(),
        StatusCode::BAD_REQUEST,
        "wrong_chain",
    )
    .await;
    let impostor = salus_crypto::SigningKey::from_seed(&[9; 32]);
    let stolen = TxBody {
        chain_id: signer.chain_id.clone(),
        signer: signer.account,
        public_key: impostor.public_key(),
        nonce: 50,
        actions: vec![actions::transfer(recipient, 1)],
    }
    .sign(&impostor);
    expect_error(
        post_tx(json!({"tx": hex::encode(stolen.encode())}))
            .await
            .unwrap(),
        StatusCode::BAD_REQUEST,
        "wrong_signer_key",
    )
    .await;

    // Batch: each transaction gets its own verdict.
    let good = signer.sign(vec![actions::transfer(recipient, 2)]);
    let verdict: Value = http
        .post(format!("{base}/v1/txs/batch"))
        .json(&json!({"txs": [hex::encode(good.encode()), "zz", hex::encode(forged.encode())]}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(verdict["accepted"].as_array().unwrap().len(), 1);
    let codes: Vec<&str> = verdict["rejected"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["code"].as_str().unwrap())
        .collect();
    assert_eq!(codes, vec!["malformed_tx", "bad_signature"]);

    // Reads with bad or unknown arguments.
    let get = |path: &str| http.get(format!("{base}{path}")).send();
    expect_error(
        get("/v1/txs/xyz").await.unwrap(),
        StatusCode::BAD_REQUEST,
        "bad_hash",
    )
    .await;
    expect_error(
        get(&format!("/v1/txs/{}", "ab".repeat(32))).await.unwrap(),
        StatusCode::NOT_FOUND,
        "not_found",
    )
    .await;
    expect_error(
        get("/v1/blocks/abc").await.unwrap(),
        StatusCode::BAD_REQUEST,
        "bad_height",
    )
    .await;
    expect_error(
        get("/v1/blocks/99999999").await.unwrap(),
        StatusCode::NOT_FOUND,
        "not_found",
    )
    .await;
    expect_error(
        get("/v1/state?key=zz").await.unwrap(),
        StatusCode::BAD_REQUEST,
        "bad_key",
    )
    .await;
    expect_error(
        get("/v1/state?key=00&height=99999999").await.unwrap(),
        StatusCode::NOT_FOUND,
        "unknown_height",
    )
    .await;
    expect_error(
        get("/v1/state").await.unwrap(),
        StatusCode::BAD_REQUEST,
        "bad_request",
    )
    .await;
    expect_error(
        get("/v1/dids/did:salus:nothex").await.unwrap(),
        StatusCode::BAD_REQUEST,
        "bad_did",
    )
    .await;
    expect_error(
        get(&format!("/v1/dids/{}", recipient.did())).await.unwrap(),
        StatusCode::NOT_FOUND,
        "not_found",
    )
    .await;
    expect_error(
        get("/v1/accounts/bob").await.unwrap(),
        StatusCode::BAD_REQUEST,
        "bad_account",
    )
    .await;
    expect_error(
        get("/v1/events?account=bob").await.unwrap(),
        StatusCode::BAD_REQUEST,
        "bad_account",
    )
    .await;
    expect_error(
        get("/no/such/route").await.unwrap(),
        StatusCode::NOT_FOUND,
        "not_found",
    )
    .await;
    expect_error(
        get("/v1/txs").await.unwrap(),
        StatusCode::METHOD_NOT_ALLOWED,
        "method_not_allowed",
    )
    .await;

    // Records, consent, audit and vault endpoints refuse bad input the same way.
    let record = "00112233445566778899aabbccddeeff";
    for (path, status, code) in [
        (
            "/v1/records?patient=nobody",
            StatusCode::BAD_REQUEST,
            "bad_account",
        ),
        ("/v1/records", StatusCode::BAD_REQUEST, "bad_request"),
        ("/v1/records/zz", StatusCode::BAD_REQUEST, "bad_record"),
        (
            &format!("/v1/records/{record}") as &str,
            StatusCode::NOT_FOUND,
            "not_found",
        ),
        (
            &format!("/v1/consent/readers?patient={recipient}&record={record}&category=genome"),
            StatusCode::BAD_REQUEST,
            "bad_category",
        ),
        ("/v1/audit", StatusCode::BAD_REQUEST, "bad_request"),
        // Oracle and insurance reads.
        (
            "/v1/oracle/oracles/bob",
            StatusCode::BAD_REQUEST,
            "bad_account",
        ),
        (
            &format!("/v1/oracle/oracles/{recipient}") as &str,
            StatusCode::NOT_FOUND,
            "not_found",
        ),
        ("/v1/oracle/questions/7", StatusCode::NOT_FOUND, "not_found"),
        (
            "/v1/oracle/questions/seven",
            StatusCode::BAD_REQUEST,
            "bad_request",
        ),
        (
            "/v1/oracle/assigned/bob",
            StatusCode::BAD_REQUEST,
            "bad_account",
        ),
        ("/v1/insurance/pools/1", StatusCode::NOT_FOUND, "not_found"),
        (
            "/v1/insurance/pools/x",
            StatusCode::BAD_REQUEST,
            "bad_request",
        ),
        (
            &format!("/v1/insurance/pools/1/positions/{recipient}") as &str,
            StatusCode::NOT_FOUND,
            "not_found",
        ),
        (
            "/v1/insurance/policies/1",
            StatusCode::NOT_FOUND,
            "not_found",
        ),
        (
            "/v1/insurance/policies?holder=bob",
            StatusCode::BAD_REQUEST,
            "bad_account",
        ),
        ("/v1/insurance/claims/1", StatusCode::NOT_FOUND, "not_found"),
        (
            "/v1/insurance/claims",
            StatusCode::BAD_REQUEST,
            "bad_request",
        ),
    ] {
        expect_error(get(path).await.unwrap(), status, code).await;
    }
    let post = |path: &str, body: Value| http.post(format!("{base}{path}")).json(&body).send();
    expect_error(
        post("/v1/vault/read", json!({"requests": []}))
            .await
            .unwrap(),
        StatusCode::BAD_REQUEST,
        "bad_batch",
    )
    .await;
    expect_error(
        post("/v1/vault/read", json!({"nope": 1})).await.unwrap(),
        StatusCode::UNPROCESSABLE_ENTITY,
        "bad_request",
    )
    .await;
    expect_error(
        post("/v1/vault/replica", json!({"request": "00ff"}))
            .await
            .unwrap(),
        StatusCode::BAD_REQUEST,
        "malformed_request",
    )
    .await;
    let items: Value = post("/v1/vault/read", json!({"requests": ["zz", "00"]}))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    for item in items["results"].as_array().unwrap() {
        assert_eq!(item["error"]["code"], "malformed_request", "{items}");
    }
    let items: Value = post(
        "/v1/vault/records",
        json!({"uploads": [{"request": "00", "content": "%%%"}]}),
    )
    .await
    .unwrap()
    .json()
    .await
    .unwrap();
    assert_eq!(items["results"][0]["error"]["code"], "malformed_request");

    // A body over the size limit is refused as such, in the JSON error shape.
    let oversized = reqwest::Client::new()
        .post(format!("{base}/v1/txs"))
        .header("content-type", "application/json")
        .body(vec![b' '; salus_node::rpc::MAX_BODY_BYTES + 1])
        .send()
        .await
        .unwrap();
    expect_error(oversized, StatusCode::PAYLOAD_TOO_LARGE, "body_too_large").await;

    // The OpenAPI document describes every route.
    let doc: Value = get("/openapi.json").await.unwrap().json().await.unwrap();
    for path in [
        "/v1/txs",
        "/v1/txs/batch",
        "/v1/txs/{hash}",
        "/v1/blocks/{height}",
        "/v1/state",
        "/v1/accounts/{account}",
        "/v1/dids/{did}",
        "/v1/events",
        "/v1/status",
        "/v1/records",
        "/v1/records/{record}",
        "/v1/consent",
        "/v1/consent/readers",
        "/v1/audit",
        "/v1/vault",
        "/v1/vault/read",
        "/v1/vault/records",
        "/v1/vault/replica",
        "/v1/oracle/params",
        "/v1/oracle/oracles/{account}",
        "/v1/oracle/questions/{id}",
        "/v1/oracle/assigned/{account}",
        "/v1/insurance/pools/{id}",
        "/v1/insurance/pools/{id}/positions/{account}",
        "/v1/insurance/policies",
        "/v1/insurance/policies/{id}",
        "/v1/insurance/claims",
        "/v1/insurance/claims/{id}",
        "/v1/staking/{account}",
        "/v1/governance/params",
        "/v1/governance/proposals",
        "/v1/governance/proposals/{id}",
        "/openapi.json",
    ] {
        assert!(doc["paths"][path].is_object(), "OpenAPI lacks {path}");
    }
    let status = client.status().await.unwrap();
    assert!(status.height >= 1);
    let metrics = get("/metrics").await.unwrap().text().await.unwrap();
    assert!(metrics.contains("salus_height"));

    // The pending transfers finalize too.
    client
        .wait_final(&good.hash(), Duration::from_secs(30))
        .await
        .unwrap();
    node.stop().unwrap();
}
