//! Insurance through the `salus` CLI against a real dev node, with three
//! oracle daemons as real processes: an insurer opens a pool, a provider
//! funds it, a patient buys cover, a hospital writes a FHIR Claim, the
//! patient files; two daemons are killed with kill -9 mid-question and
//! restarted, and the claim still settles; the oracles' reads are in the
//! patient's audit trail, a duplicate claim is refused, and no plaintext of
//! the Claim appears in the node's logs, its files, or any CLI error.

mod common;

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::{DevNode, Env, PASSPHRASE};
use salus_testkit::{contains, files_under};
use serde_json::json;

/// Words of the Claim that must never leave the vault in clear.
const SECRETS: [&str; 2] = ["Ada Lovelace-Byron", "48213.77"];

fn daemon(env: &Env, key: &str, log: &std::path::Path) -> Child {
    let file = std::fs::File::create(log).unwrap();
    Command::new(env!("CARGO_BIN_EXE_salus"))
        .args(["oracle", "run", "--key", key, "--poll-ms", "100"])
        .env("SALUS_NODE", &env.node)
        .env("SALUS_KEYSTORE", &env.keystore)
        .env("SALUS_PASSPHRASE", PASSPHRASE)
        .env("SALUS_LOG", "debug")
        .stdin(Stdio::null())
        .stdout(file.try_clone().unwrap())
        .stderr(file)
        .spawn()
        .expect("the oracle daemon starts")
}

fn kill9(child: &mut Child) {
    let status = Command::new("kill")
        .args(["-9", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    child.wait().unwrap();
}

#[test]
fn a_claim_settles_through_oracle_daemons_that_are_killed_and_restarted() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("node.log");
    let (mut node, env) = DevNode::start_logged(dir.path(), &log);
    let did = |name: &str| {
        env.json(&["keys", "new", name])["did"]
            .as_str()
            .unwrap()
            .to_owned()
    };
    let names = [
        "insurer", "lp", "patient", "hospital", "oracle-a", "oracle-b", "oracle-c",
    ];
    let dids: Vec<String> = names.iter().map(|n| did(n)).collect();
    for name in names {
        env.json(&["did", "register", "--key", name]);
    }
    let [insurer, lp, patient, hospital, oracles @ ..] = dids.as_slice() else {
        unreachable!()
    };
    env.attest(insurer, "insurer");
    env.attest(hospital, "provider");
    for oracle in oracles {
        env.attest(oracle, "oracle");
    }
    for account in [lp, patient].into_iter().chain(oracles) {
        env.fund(account, 10_000_000);
    }
    for key in ["oracle-a", "oracle-b", "oracle-c"] {
        env.json(&["oracle", "register", "--key", key, "--bond", "50000"]);
    }

    let terms = dir.path().join("terms.json");
    std::fs::write(
        &terms,
        json!({
            "products": [{"name": "hospital indemnity", "coverage": {"type": "indemnity",
                "diagnosis_codes": ["J18.9"], "currency": "USD", "units_per_cent": "1", "deductible": "5000"}}],
            "premium_rate_bps": 400, "min_capital_ratio_bps": 10000,
            "max_cover": "8000000", "lockup_ms": 0
        })
        .to_string(),
    )
    .unwrap();
    let pool = env.json(&[
        "pool",
        "create",
        "--key",
        "insurer",
        "--terms",
        terms.to_str().unwrap(),
    ])["pool"]
        .as_u64()
        .unwrap();
    let pool_arg = pool.to_string();
    env.json(&[
        "pool", "deposit", "--key", "lp", "--pool", &pool_arg, "--amount", "8000000",
    ]);
    let bought = env.json(&[
        "policy", "buy", "--key", "patient", "--pool", &pool_arg, "--cover", "6000000", "--term",
        "30d",
    ]);
    let policy = bought["policy"].as_u64().unwrap().to_string();

    // The hospital's EHR writes the claim, for care after the policy began
    // (a FHIR dateTime has whole seconds: the next one).
    let starts_ms = env.json(&["policy", "show", "--policy", &policy])["policy"]["starts_ms"]
        .as_u64()
        .unwrap();
    let admitted = salus_types::calendar::fhir_instant((starts_ms / 1000 + 1) * 1000);
    let claim_fhir = dir.path().join("claim.json");
    std::fs::write(
        &claim_fhir,
        json!({
            "resourceType": "Claim", "status": "active", "use": "claim",
            "type": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/claim-type", "code": "institutional"}]},
            "patient": {"display": SECRETS[0]},
            "created": admitted,
            "provider": {"display": "St. Mary's Hospital"},
            "priority": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/processpriority", "code": "normal"}]},
            "insurance": [{"sequence": 1, "focal": true, "coverage": {"display": "the patient's policy"}}],
            "billablePeriod": {"start": admitted},
            "diagnosis": [{"sequence": 1, "diagnosisCodeableConcept": {"coding": [
                {"system": "http://hl7.org/fhir/sid/icd-10", "code": "J18.9"}]}}],
            "total": {"value": 48213.77, "currency": "USD"}
        })
        .to_string(),
    )
    .unwrap();
    let put = env.json(&[
        "record",
        "put",
        "--key",
        "hospital",
        "--patient",
        patient,
        "--file",
        claim_fhir.to_str().unwrap(),
    ]);
    let record = put["record"].as_str().unwrap().to_owned();

    let logs: Vec<_> = (0..3)
        .map(|i| dir.path().join(format!("oracle-{i}.log")))
        .collect();
    let mut daemons: Vec<Child> = ["oracle-a", "oracle-b", "oracle-c"]
        .iter()
        .zip(&logs)
        .map(|(key, log)| daemon(&env, key, log))
        .collect();
    let filed = env.json(&[
        "claim",
        "file",
        "--key",
        "patient",
        "--policy",
        &policy,
        "--evidence",
        &record,
        "--amount",
        "4816377",
    ]);
    let claim = filed["claim"].as_u64().unwrap().to_string();
    assert_eq!(filed["committee"].as_array().unwrap().len(), 3);
    // Mid-question: two of three die at once, so no quorum can form until
    // they come back.
    kill9(&mut daemons[0]);
    kill9(&mut daemons[1]);
    std::thread::sleep(Duration::from_millis(300));
    daemons[0] = daemon(&env, "oracle-a", &logs[0]);
    daemons[1] = daemon(&env, "oracle-b", &logs[1]);

    let deadline = Instant::now() + Duration::from_secs(90);
    let shown = loop {
        let shown = env.json(&["claim", "show", "--claim", &claim]);
        if shown["claim"]["status"]["state"] == "paid" {
            break shown;
        }
        assert!(
            Instant::now() < deadline,
            "the claim did not settle: {shown}"
        );
        std::thread::sleep(Duration::from_millis(200));
    };
    // Billed 4,821,377 cents less the 5,000 deductible, within the asked amount.
    assert_eq!(shown["claim"]["status"]["amount"], "4816377");
    assert_eq!(shown["question"]["status"]["state"], "resolved");
    let pool_view = env.json(&["pool", "show", "--pool", &pool_arg]);
    assert_eq!(pool_view["pool"]["paid_out"], "4816377");

    // Every oracle read is in the patient's audit trail, for payment (the
    // vault logs reads on chain in batches, a moment after serving them).
    let payment_reads = || {
        let trail = env.json(&["audit", "--patient", patient]);
        trail["entries"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|e| e["event"]["event"]["entry"]["purpose"] == "payment")
            .count()
    };
    let deadline = Instant::now() + Duration::from_secs(30);
    while payment_reads() < 2 {
        assert!(
            Instant::now() < deadline,
            "oracle reads missing from the audit trail"
        );
        std::thread::sleep(Duration::from_millis(200));
    }

    // The same evidence cannot be claimed twice.
    let errors = [env.fails(
        &[
            "claim",
            "file",
            "--key",
            "patient",
            "--policy",
            &policy,
            "--evidence",
            &record,
            "--amount",
            "1000",
        ],
        "evidence_already_claimed",
    )];

    for child in &mut daemons {
        kill9(child);
    }
    node.stop();
    let mut scanned = files_under(&dir.path().join("node"));
    scanned.extend(
        logs.iter()
            .chain([&log])
            .map(|p| (p.clone(), std::fs::read(p).unwrap())),
    );
    for secret in SECRETS {
        for (path, bytes) in &scanned {
            assert!(
                !contains(bytes, secret.as_bytes()),
                "{secret} leaked into {}",
                path.display()
            );
        }
        for error in &errors {
            assert!(!error.contains(secret));
        }
    }
}
