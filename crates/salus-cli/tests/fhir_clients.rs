//! Real FHIR clients that no one here wrote, against real gateway processes:
//! npm's `fhir-kit-client` (with HL7's `fhirpath.js` for assertions) drives a
//! patient's gateway as an EHR would, and HL7's official R4 examples
//! round-trip through another. The scripts live in `tests/fhir-clients`.
//!
//! Ignored by default: it needs Node and the npm packages, which `.ci/run`
//! installs (`npm ci` in `tests/fhir-clients`) before running it with `--ignored`.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Child, Command};
use std::time::{Duration, Instant};

use common::{free_port, DevNode, Env};

const TOKEN: &str = "fhir-clients-test-token-0123456789";

fn clients_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../tests/fhir-clients")
}

struct Gateway(Child);

impl Drop for Gateway {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Starts a gateway for `key` and waits until it serves; returns it and its base.
fn gateway(env: &Env, key: &str, log: &Path) -> (Gateway, String) {
    let port = free_port();
    let child = common::start_gateway(env, key, port, TOKEN, log);
    let base = format!("http://127.0.0.1:{port}/fhir");
    let deadline = Instant::now() + Duration::from_secs(60);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < deadline, "the gateway did not start");
        std::thread::sleep(Duration::from_millis(100));
    }
    (Gateway(child), base)
}

fn node_test(script: &str, base: &str) {
    let examples = clients_dir().join("node_modules/hl7.fhir.r4.examples");
    let out = Command::new("node")
        .args(["--test", "--test-reporter=spec", script])
        .current_dir(clients_dir())
        .env("FHIR_BASE", base)
        .env("FHIR_TOKEN", TOKEN)
        .env("HL7_EXAMPLES", examples)
        .output()
        .expect("node runs (install it, then `npm ci` in tests/fhir-clients)");
    let report = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    println!("{report}");
    assert!(out.status.success(), "{script} failed:\n{report}");
}

#[test]
#[ignore = "needs node and the npm packages in tests/fhir-clients (.ci/run installs them)"]
fn fhir_kit_client_and_hl7_examples_against_gateways() {
    let dir = tempfile::tempdir().unwrap();
    let (_node, env) = DevNode::start(dir.path());
    for name in ["patient", "examples-patient"] {
        env.json(&["keys", "new", name]);
        env.json(&["did", "register", "--key", name]);
    }
    let (_ehr_gateway, base) = gateway(&env, "patient", &dir.path().join("gateway.log"));
    node_test("gateway.test.mjs", &base);
    let (_examples_gateway, base) =
        gateway(&env, "examples-patient", &dir.path().join("examples.log"));
    node_test("examples.test.mjs", &base);
}
