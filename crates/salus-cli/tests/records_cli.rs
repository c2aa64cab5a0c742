//! Records through the `salus` CLI against a real dev node with debug logs on:
//! a hospital writes, the patient grants and revokes, the specialist reads and
//! is then denied, the audit trail shows it; and no plaintext from the record
//! appears in the node's logs, its files, or any CLI error.

mod common;

use common::DevNode;
use salus_testkit::{contains, files_under};

#[test]
fn records_consent_and_audit_through_the_cli() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("node.log");
    let (mut node, env) = DevNode::start_logged(dir.path(), &log);

    let did = |name: &str| {
        env.json(&["keys", "new", name])["did"]
            .as_str()
            .unwrap()
            .to_owned()
    };
    let (hospital, patient, specialist) = (did("hospital"), did("patient"), did("specialist"));
    for name in ["hospital", "patient", "specialist"] {
        env.json(&["did", "register", "--key", name]);
    }
    for subject in [&hospital, &specialist] {
        env.attest(subject, "provider");
    }
    let record_file = salus_testkit::fixture_path("Observation-f001.json")
        .display()
        .to_string();
    let plaintext = std::fs::read(&record_file).unwrap();

    // A hospital writes an encrypted FHIR record for the patient.
    let put = env.json(&[
        "record",
        "put",
        "--key",
        "hospital",
        "--patient",
        &patient,
        "--file",
        &record_file,
    ]);
    let record = put["record"].as_str().unwrap().to_owned();
    assert_eq!(put["version"], 1);
    let listed = env.json(&["record", "list", "--patient", &patient]);
    assert_eq!(listed["records"][0]["record"], record.as_str());
    assert_eq!(listed["records"][0]["head"]["category"], "laboratory");
    let history = env.json(&["record", "history", "--record", &record]);
    assert_eq!(history["versions"].as_array().unwrap().len(), 1);

    // The patient reads it; the specialist cannot yet.
    let out = dir.path().join("out.json");
    env.json(&[
        "record",
        "get",
        "--key",
        "patient",
        "--record",
        &record,
        "--out",
        out.to_str().unwrap(),
    ]);
    assert_eq!(std::fs::read(&out).unwrap(), plaintext);
    let mut errors = vec![env.fails(
        &["record", "get", "--key", "specialist", "--record", &record],
        "no_grant",
    )];

    // The patient grants the specialist; the specialist reads; the patient revokes.
    let grant = env.json(&[
        "consent",
        "grant",
        "--key",
        "patient",
        "--grantee",
        &specialist,
        "--purpose",
        "treatment",
        "--scope",
        "categories:laboratory",
        "--expires",
        "2h",
    ]);
    assert_eq!(grant["versions_shared"], 1);
    let got = env.json(&["record", "get", "--key", "specialist", "--record", &record]);
    assert_eq!(got["reason"], "grant");
    assert_eq!(got["content"]["resourceType"], "Observation");
    errors.push(env.fails(
        &[
            "record",
            "get",
            "--key",
            "specialist",
            "--record",
            &record,
            "--purpose",
            "research",
        ],
        "wrong_purpose",
    ));
    let grants = env.json(&["consent", "list", "--patient", &patient]);
    assert_eq!(grants["grants"].as_array().unwrap().len(), 1);
    let grant_id = grant["grant"].to_string();
    env.json(&[
        "consent", "revoke", "--key", "patient", "--grant", &grant_id,
    ]);
    errors.push(env.fails(
        &["record", "get", "--key", "specialist", "--record", &record],
        "revoked",
    ));

    // Bad input: clear messages, non-zero exits, no panics.
    errors.push(env.fails(
        &["record", "get", "--key", "patient", "--record", "xyz"],
        "not a record id",
    ));
    errors.push(env.fails(
        &[
            "record",
            "get",
            "--key",
            "patient",
            "--record",
            &record,
            "--purpose",
            "curiosity",
        ],
        "unknown purpose",
    ));
    errors.push(env.fails(
        &[
            "record",
            "put",
            "--key",
            "hospital",
            "--patient",
            &patient,
            "--file",
            "Cargo.toml",
        ],
        "not valid FHIR R4",
    ));
    errors.push(env.fails(
        &[
            "consent",
            "grant",
            "--key",
            "patient",
            "--grantee",
            &specialist,
            "--purpose",
            "treatment",
            "--expires",
            "soon",
        ],
        "duration",
    ));
    errors.push(env.fails(
        &["consent", "revoke", "--key", "patient", "--grant", "999"],
        "grant_not_found",
    ));
    errors.push(env.fails(
        &[
            "record",
            "put",
            "--key",
            "specialist",
            "--patient",
            &hospital,
            "--file",
            &record_file,
            "--record",
            &record,
        ],
        "patient_mismatch",
    ));

    // The audit trail, in plain words and as JSON.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    let audit = loop {
        let audit = env.json(&["audit", "--patient", &patient]);
        if audit["log_head"]["count"].as_u64().unwrap_or(0) >= 5 {
            break audit;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "audit entries did not reach the chain: {audit}"
        );
        std::thread::sleep(std::time::Duration::from_millis(100));
    };
    let reasons: Vec<&str> = audit["entries"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|e| e["event"]["event"]["entry"]["reason"].as_str())
        .collect();
    for reason in ["owner", "no_grant", "grant", "wrong_purpose", "revoked"] {
        assert!(
            reasons.contains(&reason),
            "{reason} missing from {reasons:?}"
        );
    }
    let prose = env.salus(&["audit", "--patient", &patient]);
    let prose = String::from_utf8_lossy(&prose.stdout);
    assert!(
        prose.contains("DENIED (revoked)") && prose.contains("ALLOWED (grant)"),
        "{prose}"
    );

    node.stop();
    // Nothing the node logged or stored, and no error the CLI printed, holds plaintext.
    let logged = std::fs::read(&log).unwrap();
    assert!(logged.len() > 1_000, "debug logging was on");
    let markers: [&[u8]; 3] = [b"Glucose", b"van de Heuvel", b"15074-8"];
    for marker in markers {
        assert!(contains(&plaintext, marker));
        assert!(!contains(&logged, marker), "plaintext in the node log");
        for error in &errors {
            assert!(
                !contains(error.as_bytes(), marker),
                "plaintext in a CLI error: {error}"
            );
        }
        for (path, bytes) in files_under(&dir.path().join("node")) {
            assert!(!contains(&bytes, marker), "plaintext in {}", path.display());
        }
    }
}
