//! Verifiable credentials through the `salus` CLI against a real dev node:
//! a board licenses a physician, who claims the provider role with a proof;
//! a hospital issues an immunization credential from FHIR, a verifier asks,
//! the patient proves without disclosing; revocation takes the role away;
//! and bad input gets clear errors.

mod common;

use common::{DevNode, Env};
use serde_json::Value;

fn has_role(env: &Env, did: &str, role: &str) -> bool {
    env.json(&["did", "show", did])
        .to_string()
        .contains(&format!("\"{role}\""))
}

#[test]
fn credentials_through_the_cli() {
    let dir = tempfile::tempdir().unwrap();
    let (mut node, env) = DevNode::start(dir.path());
    let path = |name: &str| dir.path().join(name).display().to_string();

    let did = |name: &str| {
        env.json(&["keys", "new", name])["did"]
            .as_str()
            .unwrap()
            .to_owned()
    };
    let (board, physician, hospital, patient) = (
        did("board"),
        did("physician"),
        did("hospital"),
        did("patient"),
    );
    for name in ["board", "physician", "hospital", "patient"] {
        env.json(&["did", "register", "--key", name]);
    }
    for (subject, role) in [(&board, "board"), (&hospital, "provider")] {
        env.attest(subject, role);
    }

    // License → provider role, by rule, with no attestation.
    std::fs::write(
        path("license.json"),
        r#"{"id": "medical-license-v1", "attributes": [
            {"name": "holder_did", "kind": "text"}, {"name": "full_name", "kind": "text"},
            {"name": "specialty", "kind": "text"}, {"name": "valid_until", "kind": "date"}]}"#,
    )
    .unwrap();
    env.json(&[
        "credential",
        "define",
        "--key",
        "board",
        "--name",
        "license-v1",
        "--schema",
        &path("license.json"),
    ]);
    let license_id = format!("{board}#license-v1");
    env.json(&[
        "credential",
        "rule",
        "--key",
        "dev-authority",
        "--role",
        "provider",
        "--definition",
        &license_id,
        "--subject-attribute",
        "holder_did",
        "--require",
        "specialty=cardiology",
        "--valid-until",
        "valid_until",
    ]);
    let issued = env.json(&[
        "credential",
        "issue",
        "--key",
        "board",
        "--name",
        "license-v1",
        "--set",
        &format!("holder_did={physician}"),
        "--set",
        "full_name=Dr. Ana Rivera",
        "--set",
        "specialty=cardiology",
        "--set",
        "valid_until=2030-06-30",
        "--out",
        &path("lic.json"),
    ]);
    assert_eq!(issued["index"], 0);
    assert!(!has_role(&env, &physician, "provider"));
    env.json(&[
        "credential",
        "claim-role",
        "--key",
        "physician",
        "--credential",
        &path("lic.json"),
        "--role",
        "provider",
    ]);
    assert!(has_role(&env, &physician, "provider"));
    // The patient cannot claim with the physician's license.
    env.fails(
        &[
            "credential",
            "claim-role",
            "--key",
            "patient",
            "--credential",
            &path("lic.json"),
            "--role",
            "provider",
        ],
        "presentation_rejected",
    );

    // Immunization from a FHIR record, a published code set, a verifier's request.
    std::fs::write(
        path("imm-schema.json"),
        r#"{"id": "immunization-v1", "attributes": [
            {"name": "patient_did", "kind": "text"}, {"name": "birth_date", "kind": "date"},
            {"name": "vaccine_code", "kind": "text"}, {"name": "occurrence_date", "kind": "date"},
            {"name": "lot_number", "kind": "text"}]}"#,
    )
    .unwrap();
    std::fs::write(
        path("immunization.json"),
        r#"{"resourceType": "Immunization", "status": "completed",
            "vaccineCode": {"coding": [{"system": "http://hl7.org/fhir/sid/cvx", "code": "208"}]},
            "patient": {"reference": "Patient/example"}, "occurrenceDateTime": "2021-09-30", "lotNumber": "FF2588"}"#,
    )
    .unwrap();
    env.json(&[
        "credential",
        "define",
        "--key",
        "hospital",
        "--name",
        "immunization-v1",
        "--schema",
        &path("imm-schema.json"),
    ]);
    env.json(&[
        "credential",
        "publish-set",
        "--key",
        "hospital",
        "--name",
        "cvx-covid",
        "--elements",
        "207,208,210,212",
    ]);
    let immunization_id = format!("{hospital}#immunization-v1");
    let set_id = format!("{hospital}#cvx-covid");
    env.json(&[
        "credential",
        "issue",
        "--key",
        "hospital",
        "--name",
        "immunization-v1",
        "--from-fhir",
        &path("immunization.json"),
        "--set",
        &format!("patient_did={patient}"),
        "--set",
        "birth_date=1988-03-14",
        "--out",
        &path("vax.json"),
    ]);
    let request = |file: &str, years: &str| {
        env.json(&[
            "credential",
            "request",
            "--definition",
            &immunization_id,
            "--in-set",
            &format!("vaccine_code={set_id}"),
            "--at-least",
            "occurrence_date=2021-01-01",
            "--older-than",
            &format!("birth_date={years}"),
            "--out",
            &path(file),
        ])
    };
    request("req.json", "18");
    env.json(&[
        "credential",
        "present",
        "--credential",
        &path("vax.json"),
        "--request",
        &path("req.json"),
        "--out",
        &path("pres.json"),
    ]);
    let verdict = env.json(&[
        "credential",
        "verify",
        "--request",
        &path("req.json"),
        "--presentation",
        &path("pres.json"),
    ]);
    assert_eq!(verdict["verified"], true);
    assert_eq!(verdict["revealed"], serde_json::json!({}));
    // Every field but the opaque proof and nonce bytes is readable; those
    // are random-looking hex, where "1988" turns up by chance in about one
    // presentation in eight, so they are left out of the search.
    let mut presentation: Value =
        serde_json::from_str(&std::fs::read_to_string(path("pres.json")).unwrap()).unwrap();
    let fields = presentation.as_object_mut().unwrap();
    for opaque in ["proof", "nonce"] {
        let bytes = fields.remove(opaque).unwrap();
        assert!(
            hex::decode(bytes.as_str().unwrap()).is_ok(),
            "{opaque} is hex"
        );
    }
    let readable = presentation.to_string();
    for secret in ["FF2588", "1988", patient.as_str()] {
        assert!(
            !readable.contains(secret),
            "the presentation carries {secret}"
        );
    }
    // Another verifier's request (another nonce): the old proof fails.
    request("req2.json", "18");
    env.fails(
        &[
            "credential",
            "verify",
            "--request",
            &path("req2.json"),
            "--presentation",
            &path("pres.json"),
        ],
        "nonce_mismatch",
    );
    // An unsatisfied predicate: the holder's client refuses to prove.
    request("req60.json", "60");
    env.fails(
        &[
            "credential",
            "present",
            "--credential",
            &path("vax.json"),
            "--request",
            &path("req60.json"),
            "--out",
            &path("x.json"),
        ],
        "does not satisfy",
    );
    // W3C export.
    let vc: Value = env.json(&["credential", "export", "--credential", &path("vax.json")]);
    assert_eq!(vc["type"][0], "VerifiableCredential");
    assert_eq!(vc["credentialSubject"]["vaccine_code"], "208");

    // Revocation withdraws the claimed role.
    env.json(&[
        "credential",
        "revoke",
        "--key",
        "board",
        "--name",
        "license-v1",
        "--index",
        "0",
        "--holder",
        &physician,
    ]);
    assert!(!has_role(&env, &physician, "provider"));
    env.fails(
        &[
            "credential",
            "claim-role",
            "--key",
            "physician",
            "--credential",
            &path("lic.json"),
            "--role",
            "provider",
        ],
        "revoked",
    );

    // Bad input: clear errors, never a panic.
    std::fs::write(path("bad.json"), "{\"proof\": 12}").unwrap();
    env.fails(
        &[
            "credential",
            "verify",
            "--request",
            &path("req.json"),
            "--presentation",
            &path("bad.json"),
        ],
        "not a valid presentation",
    );
    env.fails(
        &[
            "credential",
            "present",
            "--credential",
            &path("missing.json"),
            "--request",
            &path("req.json"),
            "--out",
            &path("y.json"),
        ],
        "cannot read",
    );
    env.fails(
        &[
            "credential",
            "issue",
            "--key",
            "board",
            "--name",
            "license-v1",
            "--set",
            "holder_did=x",
            "--out",
            &path("z.json"),
        ],
        "no value for attribute",
    );
    env.fails(
        &[
            "credential",
            "request",
            "--definition",
            "did:salus:00#nothing",
            "--out",
            &path("r.json"),
        ],
        "unknown_definition",
    );
    node.stop();
}
