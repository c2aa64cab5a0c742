//! Governance through the `salus` CLI against a real dev node: seven members
//! bond, one proposes a parameter change, all vote (one changes its mind:
//! the last vote counts), the proposal passes, waits out its timelock and
//! executes itself, and `gov params` shows the new value. Bad input (an
//! out-of-range parameter, a garbled change file, an unknown proposal, an
//! unknown option, a vote after the end) exits non-zero with a clear message.

mod common;

use std::time::{Duration, Instant};

use common::DevNode;
use serde_json::{json, Value};

const BOND: u64 = 1_000_000;

/// `salus gov vote` as `key`, on `proposal`, with `option`.
fn vote<'a>(key: &'a str, proposal: &'a str, option: &'a str) -> [&'a str; 8] {
    [
        "gov",
        "vote",
        "--key",
        key,
        "--proposal",
        proposal,
        "--option",
        option,
    ]
}

fn args(owned: &[String]) -> Vec<&str> {
    owned.iter().map(String::as_str).collect()
}

#[test]
fn members_pass_a_parameter_change_that_executes_itself() {
    let dir = tempfile::tempdir().unwrap();
    let (mut node, env) = DevNode::start(dir.path());
    let members: Vec<String> = (0..7).map(|i| format!("member-{i}")).collect();
    for name in &members {
        let did = env.json(&["keys", "new", name])["did"]
            .as_str()
            .unwrap()
            .to_owned();
        env.fund(&did, 10_000_000);
        env.json(&[
            "stake",
            "bond",
            "--key",
            name,
            "--amount",
            &BOND.to_string(),
        ]);
    }
    let before = env.json(&["gov", "params"]);
    let mut params = before["params"].clone();
    assert_ne!(params["timelock_blocks"], 4);
    params["timelock_blocks"] = json!(4);

    // Out-of-range values and garbled files are refused when proposed.
    let write = |name: &str, value: &Value| {
        let path = dir.path().join(name);
        std::fs::write(&path, value.to_string()).unwrap();
        path.to_str().unwrap().to_owned()
    };
    let mut too_high = params.clone();
    too_high["quorum_bps"] = json!(20_000);
    let bad = write(
        "bad.json",
        &json!({"kind": "params", "module": "governance", "params": too_high}),
    );
    let propose = |file: &str| {
        vec![
            "gov".to_owned(),
            "propose".into(),
            "--key".into(),
            members[0].clone(),
            "--title".into(),
            "Shorter timelock".into(),
            "--change".into(),
            file.to_owned(),
        ]
    };
    env.fails(&args(&propose(&bad)), "params_out_of_bounds");
    let garbled = dir.path().join("garbled.json");
    std::fs::write(&garbled, "{\"kind\": \"teleport\"}").unwrap();
    env.fails(
        &args(&propose(garbled.to_str().unwrap())),
        "is not a proposal's change",
    );

    let good = write(
        "good.json",
        &json!({"kind": "params", "module": "governance", "params": params}),
    );
    let proposed = env.json(&args(&propose(&good)));
    let id = proposed["proposal"].as_u64().unwrap().to_string();
    env.fails(&vote(&members[1], "99", "yes"), "proposal 99 is unknown");
    env.fails(&vote(&members[1], &id, "maybe"), "maybe");
    // A member changes its mind: its last vote counts.
    env.json(&vote(&members[1], &id, "no"));
    for name in &members {
        let cast = env.json(&vote(name, &id, "yes"));
        // Seven equal members: each is capped at 5 % of everything bonded.
        assert_eq!(cast["weight"], (7 * BOND / 20).to_string());
    }
    let shown = env.json(&["gov", "show", "--proposal", &id]);
    let tally = &shown["proposal"]["tally"];
    assert_eq!(tally["yes"], (7 * (7 * BOND / 20)).to_string(), "{shown}");
    assert_eq!(tally["no"], "0", "{shown}");

    let deadline = Instant::now() + Duration::from_secs(90);
    let status = loop {
        let shown = env.json(&["gov", "show", "--proposal", &id]);
        let status = shown["proposal"]["status"].clone();
        if status["state"] != "voting" && status["state"] != "queued" {
            break status;
        }
        assert!(Instant::now() < deadline, "proposal stuck at {status}");
        std::thread::sleep(Duration::from_millis(250));
    };
    assert_eq!(status["state"], "executed", "{status}");
    assert_eq!(env.json(&["gov", "params"])["params"]["timelock_blocks"], 4);
    env.fails(&vote(&members[2], &id, "no"), "took votes until");
    let listed = env.json(&["gov", "list"]);
    assert_eq!(listed["proposals"].as_array().unwrap().len(), 1, "{listed}");
    node.stop();
}
