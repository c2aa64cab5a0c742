//! The `salus` CLI against a real dev node, as a user would drive it.

mod common;

use std::process::{Command, Stdio};

use common::DevNode;
use serde_json::Value;

#[test]
fn cli_drives_a_dev_chain() {
    let dir = tempfile::tempdir().unwrap();
    let (mut node, env) = DevNode::start(dir.path());

    let alice = env.json(&["keys", "new", "alice"]);
    let did = alice["did"].as_str().unwrap().to_owned();
    env.json(&["keys", "new", "alice-next"]);
    let listed = env.json(&["keys", "list"]);
    assert_eq!(
        listed["keys"].as_array().unwrap().len(),
        3,
        "alice, alice-next and dev-authority"
    );
    env.fails(&["keys", "new", "alice"], "already exists");

    env.fund(&did, 1000);
    let balance = env.json(&["query", "balance", &did]);
    assert_eq!(balance["balance"], "1000");
    assert_eq!(balance["verified"], true);

    env.json(&[
        "did",
        "register",
        "--key",
        "alice",
        "--service",
        "vault=SalusVault=https://vault.example",
    ]);
    env.attest(&did, "patient");
    let account = env.json(&["query", "account", &did]);
    assert_eq!(account["roles"][0], "patient");
    env.json(&["did", "rotate", "--key", "alice", "--new-key", "alice-next"]);
    let document = env.json(&["did", "show", &did]);
    assert_eq!(document["didDocumentMetadata"]["versionId"], "2");
    assert_eq!(
        document["didDocument"]["service"][0]["serviceEndpoint"],
        "https://vault.example"
    );
    // The rotated key signs for alice's DID; the old one no longer does.
    env.json(&[
        "tx",
        "transfer",
        "--key",
        "alice-next",
        "--to",
        "did:salus:0000000000000000000000000000000000000001",
        "--amount",
        "1",
    ]);
    env.fails(
        &[
            "tx", "transfer", "--key", "alice", "--to", &did, "--amount", "1",
        ],
        "wrong_signer_key",
    );
    let events = env.json(&["query", "events", &did]);
    assert!(events["events"].as_array().unwrap().len() >= 4);
    let latest = env.json(&["query", "block", "latest"]);
    assert!(latest["height"].as_u64().unwrap() > 0);

    // Bad input: a clear message and a non-zero exit, never a panic.
    env.fails(
        &[
            "tx",
            "transfer",
            "--key",
            "dev-authority",
            "--to",
            "bob",
            "--amount",
            "1",
        ],
        "neither a did:salus",
    );
    env.fails(
        &[
            "tx",
            "transfer",
            "--key",
            "dev-authority",
            "--to",
            &did,
            "--amount",
            "999999999999999999999999",
        ],
        "insufficient_balance",
    );
    env.fails(&["keys", "show", "nobody"], "no key named");
    env.fails(
        &[
            "role",
            "attest",
            "--key",
            "alice-next",
            "--subject",
            &did,
            "--role",
            "surgeon",
        ],
        "unknown role",
    );
    env.fails(
        &[
            "role",
            "attest",
            "--key",
            "alice-next",
            "--subject",
            &did,
            "--role",
            "provider",
        ],
        "not_an_authority",
    );
    env.fails(&["query", "block", "abc"], "bad_height");
    env.fails(&["query", "state", "zz"], "hex");
    env.fails(&["did", "show", "did:web:example.com"], "bad_did");
    let wrong_pass = Command::new(env!("CARGO_BIN_EXE_salus"))
        .args([
            "tx",
            "transfer",
            "--key",
            "alice-next",
            "--to",
            &did,
            "--amount",
            "1",
        ])
        .env("SALUS_NODE", &env.node)
        .env("SALUS_KEYSTORE", &env.keystore)
        .env("SALUS_PASSPHRASE", "wrong")
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert!(!wrong_pass.status.success());
    assert!(String::from_utf8_lossy(&wrong_pass.stderr).contains("wrong passphrase"));
    let json_error = env.salus(&["keys", "show", "nobody", "--json"]);
    assert!(!json_error.status.success());
    let body: Value = serde_json::from_slice(&json_error.stdout).unwrap();
    assert!(body["error"]["message"]
        .as_str()
        .unwrap()
        .contains("no key named"));

    node.stop();
    // With the node gone, commands fail cleanly.
    env.fails(&["query", "status"], "cannot reach the node");
}

#[test]
fn demo_runs_end_to_end() {
    let out = Command::new(env!("CARGO_BIN_EXE_salus"))
        .args(["demo", "--json"])
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "demo failed: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    let steps = report["steps"].as_array().unwrap();
    assert!(steps.len() >= 14);
    let last_proof = steps
        .iter()
        .find(|s| s["detail"]["verified"] == true)
        .expect("a verified proof step");
    assert!(last_proof["detail"]["state_root"].as_str().unwrap().len() == 64);
    let found = steps
        .iter()
        .find(|s| s["step"] == "gateway search after grant")
        .expect("the FHIR gateway chapter ran");
    assert_eq!(found["detail"]["total"], 1);
}

#[test]
fn demo_runs_on_four_validators() {
    let out = Command::new(env!("CARGO_BIN_EXE_salus"))
        .args(["demo", "--validators", "4", "--json"])
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "demo failed: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    let steps = report["steps"].as_array().unwrap();
    let agreed = steps.last().unwrap();
    assert_eq!(agreed["step"], "validators agree");
    // The four, and the node the members voted in at the next epoch.
    assert_eq!(agreed["detail"]["validators"], 5);
    let joined = steps
        .iter()
        .find(|s| s["step"] == "validator joined")
        .expect("the chapter on validator changes ran");
    assert_eq!(joined["detail"]["validators"].as_array().unwrap().len(), 5);
    let refused = Command::new(env!("CARGO_BIN_EXE_salus"))
        .args(["demo", "--validators", "0"])
        .output()
        .unwrap();
    assert!(!refused.status.success());
    assert!(String::from_utf8_lossy(&refused.stderr).contains("1..="));
}
