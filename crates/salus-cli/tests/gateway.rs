//! The FHIR gateway as a real process against a real dev node: a hospital's
//! gateway takes FHIR writes and searches; the gateway is killed with
//! SIGKILL and rebuilds its index from the chain; a specialist's gateway sees
//! the patient's records only while a grant lasts; bad input gets an
//! OperationOutcome; and no plaintext reaches the node's logs or files.

mod common;

use std::path::Path;
use std::process::Child;
use std::time::{Duration, Instant};

use common::{free_port, DevNode, Env};
use reqwest::StatusCode;
use serde_json::{json, Value};

const TOKEN: &str = "gateway-test-token-0123456789";
/// A value that must never leave the gateway in plaintext.
const MARKER: &str = "Zyxomycosis-4471";

/// A `salus gateway` process; dropping it kills it.
struct GatewayProcess {
    child: Child,
    base: String,
}

impl GatewayProcess {
    fn start(env: &Env, key: &str, log: &Path) -> GatewayProcess {
        let port = free_port();
        let child = common::start_gateway(env, key, port, TOKEN, log);
        GatewayProcess {
            child,
            base: format!("http://127.0.0.1:{port}/fhir"),
        }
    }

    /// SIGKILL: no chance to flush or say goodbye.
    fn kill_9(&mut self) {
        self.child.kill().expect("the gateway is running");
        self.child.wait().expect("the gateway exits");
    }
}

impl Drop for GatewayProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A FHIR client that speaks plain HTTP, to check headers exactly.
struct Fhir {
    http: reqwest::Client,
    base: String,
}

struct Answer {
    status: StatusCode,
    headers: reqwest::header::HeaderMap,
    body: Value,
}

impl Fhir {
    fn new(base: &str) -> Fhir {
        Fhir {
            http: reqwest::Client::new(),
            base: base.to_owned(),
        }
    }

    async fn send(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<&Value>,
        headers: &[(&str, &str)],
    ) -> Answer {
        let url = if path.starts_with("http") {
            path.to_owned()
        } else {
            format!("{}{path}", self.base)
        };
        let mut request = self.http.request(method, url).bearer_auth(TOKEN);
        if let Some(body) = body {
            request = request
                .header("content-type", "application/fhir+json")
                .body(body.to_string());
        }
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        let response = request.send().await.expect("the gateway answers");
        let status = response.status();
        let headers = response.headers().clone();
        let bytes = response.bytes().await.expect("a body");
        let body = if bytes.is_empty() {
            Value::Null
        } else {
            serde_json::from_slice(&bytes).expect("FHIR JSON")
        };
        if !status.is_success() {
            assert_eq!(body["resourceType"], "OperationOutcome", "{status}: {body}");
            assert!(
                !body.to_string().contains(MARKER),
                "an outcome repeats content: {body}"
            );
        }
        Answer {
            status,
            headers,
            body,
        }
    }

    async fn get(&self, path: &str) -> Answer {
        self.send(reqwest::Method::GET, path, None, &[]).await
    }

    async fn post(&self, path: &str, body: &Value) -> Answer {
        self.send(reqwest::Method::POST, path, Some(body), &[])
            .await
    }

    /// Waits until the gateway serves its CapabilityStatement.
    async fn wait_up(&self) {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if let Ok(r) = self
                .http
                .get(format!("{}/metadata", self.base))
                .send()
                .await
            {
                if r.status().is_success() {
                    return;
                }
            }
            assert!(Instant::now() < deadline, "the gateway did not start");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Waits until a search returns `total` matches.
    async fn wait_total(&self, query: &str, total: u64) -> Value {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let answer = self.get(query).await;
            if answer.status == StatusCode::OK && answer.body["total"] == total {
                return answer.body;
            }
            assert!(
                Instant::now() < deadline,
                "{query} never had {total} matches: {}",
                answer.body
            );
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }
}

fn observation(patient_ref: &str, code: &str, day: &str, value: f64) -> Value {
    json!({
        "resourceType": "Observation",
        "status": "final",
        "code": {"coding": [{"system": "http://loinc.org", "code": code}], "text": MARKER},
        "subject": {"reference": patient_ref},
        "effectiveDateTime": day,
        "valueQuantity": {"value": value, "unit": "/min", "system": "http://unitsofmeasure.org", "code": "/min"},
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hospital_gateway_serves_fhir_over_salus() {
    let dir = tempfile::tempdir().unwrap();
    let node_log = dir.path().join("node.log");
    let (_node, env) = DevNode::start_logged(dir.path(), &node_log);
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

    let gateway_log = dir.path().join("gateway.log");
    let mut gateway = GatewayProcess::start(&env, "hospital", &gateway_log);
    let fhir = Fhir::new(&gateway.base);
    fhir.wait_up().await;

    // The CapabilityStatement is public and truthful; everything else needs the token.
    let metadata = fhir.get("/metadata").await;
    assert_eq!(metadata.body["fhirVersion"], "4.0.1");
    let anonymous = reqwest::get(format!("{}/Patient", gateway.base))
        .await
        .unwrap();
    assert_eq!(anonymous.status(), StatusCode::UNAUTHORIZED);
    let outcome: Value = anonymous.json().await.unwrap();
    assert_eq!(outcome["resourceType"], "OperationOutcome");

    // Create the Patient (by DID) and an Observation that names it.
    let created = fhir
        .post(
            "/Patient",
            &json!({"resourceType": "Patient", "name": [{"family": "Doe"}], "birthDate": "1950-03-04",
            "identifier": [{"system": "urn:ietf:rfc:3986", "value": patient}]}),
        )
        .await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.body);
    let patient_id = created.body["id"].as_str().unwrap().to_owned();
    assert_eq!(created.headers["etag"], "W/\"1\"");
    assert!(created.headers["location"]
        .to_str()
        .unwrap()
        .ends_with(&format!("Patient/{patient_id}/_history/1")));
    let patient_ref = format!("Patient/{patient_id}");
    let pulse = fhir
        .post(
            "/Observation",
            &observation(&patient_ref, "8867-4", "2026-03-01", 72.0),
        )
        .await;
    assert_eq!(pulse.status, StatusCode::CREATED, "{}", pulse.body);
    let pulse_id = pulse.body["id"].as_str().unwrap().to_owned();
    assert_eq!(pulse.body["meta"]["versionId"], "1");
    assert!(pulse.body["meta"]["lastUpdated"].is_string());

    // Update with If-Match; a stale If-Match is refused with 412.
    let mut changed = pulse.body.clone();
    changed["valueQuantity"]["value"] = json!(75);
    let updated = fhir
        .send(
            reqwest::Method::PUT,
            &format!("/Observation/{pulse_id}"),
            Some(&changed),
            &[("if-match", "W/\"1\"")],
        )
        .await;
    assert_eq!(updated.status, StatusCode::OK, "{}", updated.body);
    assert_eq!(updated.headers["etag"], "W/\"2\"");
    let stale = fhir
        .send(
            reqwest::Method::PUT,
            &format!("/Observation/{pulse_id}"),
            Some(&changed),
            &[("if-match", "W/\"1\"")],
        )
        .await;
    assert_eq!(stale.status, StatusCode::PRECONDITION_FAILED);
    let first = fhir
        .get(&format!("/Observation/{pulse_id}/_history/1"))
        .await;
    assert_eq!(first.body["valueQuantity"]["value"], 72.0);
    let history = fhir.get(&format!("/Observation/{pulse_id}/_history")).await;
    assert_eq!(history.body["total"], 2);

    // A transaction: an Encounter and an Observation that names it by urn:uuid.
    let transaction = json!({"resourceType": "Bundle", "type": "transaction", "entry": [
        {"fullUrl": "urn:uuid:5b0ae47c-1b1c-4b52-9d1f-0a2a3a4b5c6d",
         "resource": {"resourceType": "Encounter", "status": "finished",
            "class": {"system": "http://terminology.hl7.org/CodeSystem/v3-ActCode", "code": "AMB"},
            "subject": {"reference": patient_ref}, "period": {"start": "2026-03-02T09:00:00Z"}},
         "request": {"method": "POST", "url": "Encounter"}},
        {"resource": {"resourceType": "Observation", "status": "final",
            "code": {"coding": [{"system": "http://loinc.org", "code": "2339-0"}]},
            "subject": {"reference": patient_ref},
            "encounter": {"reference": "urn:uuid:5b0ae47c-1b1c-4b52-9d1f-0a2a3a4b5c6d"},
            "effectiveDateTime": "2026-03-02", "valueQuantity": {"value": 5.4, "unit": "mmol/L"}},
         "request": {"method": "POST", "url": "Observation"}},
    ]});
    let answer = fhir.post("", &transaction).await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.body);
    assert_eq!(answer.body["type"], "transaction-response");
    let encounter_location = answer.body["entry"][0]["response"]["location"]
        .as_str()
        .unwrap()
        .to_owned();
    let glucose = &answer.body["entry"][1]["resource"];
    assert_eq!(
        format!(
            "{}/_history/1",
            glucose["encounter"]["reference"].as_str().unwrap()
        ),
        encounter_location,
        "the urn:uuid reference was resolved"
    );

    // Search by code, patient, date prefixes; sort; page; include the patient.
    let by_code = fhir.get("/Observation?code=http://loinc.org|8867-4").await;
    assert_eq!(by_code.body["total"], 1);
    let all = fhir
        .get(&format!(
            "/Observation?patient={patient_ref}&_sort=-date&_count=1&_include=Observation:patient"
        ))
        .await;
    assert_eq!(all.body["total"], 2);
    assert_eq!(
        all.body["entry"][0]["resource"]["code"]["coding"][0]["code"],
        "2339-0"
    );
    assert_eq!(all.body["entry"][1]["search"]["mode"], "include");
    let next = all.body["link"]
        .as_array()
        .unwrap()
        .iter()
        .find(|l| l["relation"] == "next")
        .unwrap()["url"]
        .as_str()
        .unwrap()
        .to_owned();
    let page_two = fhir.get(&next).await;
    assert_eq!(
        page_two.body["entry"][0]["resource"]["id"],
        pulse_id.as_str()
    );
    assert_eq!(
        fhir.get("/Observation?date=ge2026-03-02").await.body["total"],
        1
    );
    assert_eq!(
        fhir.get("/Patient?birthdate=lt1960").await.body["total"],
        1,
        "dates before 1970 order too"
    );
    assert_eq!(fhir.get("/Patient?birthdate=ge1960").await.body["total"], 0);
    assert_eq!(
        fhir.get("/Observation?date=lt2026-03-02").await.body["total"],
        1
    );

    // Conditional create finds the existing Patient instead of making a second.
    let again = fhir
        .send(
            reqwest::Method::POST,
            "/Patient",
            Some(&json!({"resourceType": "Patient", "identifier": [{"system": "urn:ietf:rfc:3986", "value": patient}]})),
            &[("if-none-exist", &format!("identifier=urn:ietf:rfc:3986|{patient}"))],
        )
        .await;
    assert_eq!(again.status, StatusCode::OK);
    assert_eq!(again.body["id"], patient_id.as_str());

    // Bad input: each an OperationOutcome with the right status, nothing stored.
    let invalid = fhir
        .post(
            "/Observation",
            &json!({"resourceType": "Observation", "code": {"text": MARKER}}),
        )
        .await;
    assert_eq!(invalid.status, StatusCode::BAD_REQUEST);
    let unknown_element = fhir
        .post(
            "/Observation",
            &json!({"resourceType": "Observation", "status": "final",
        "code": {"text": "x"}, "diagnosis": MARKER}),
        )
        .await;
    assert_eq!(unknown_element.status, StatusCode::BAD_REQUEST);
    assert_eq!(
        unknown_element.body["issue"][0]["expression"][0],
        "Observation.diagnosis"
    );
    assert_eq!(fhir.get("/Spaceship").await.status, StatusCode::NOT_FOUND);
    let strict = fhir
        .send(
            reqwest::Method::GET,
            "/Observation?colour=red",
            None,
            &[("prefer", "handling=strict")],
        )
        .await;
    assert_eq!(strict.status, StatusCode::BAD_REQUEST);
    assert_eq!(fhir.get("/Observation?colour=red").await.body["total"], 2);
    let text = fhir
        .http
        .post(format!("{}/Observation", gateway.base))
        .bearer_auth(TOKEN)
        .header("content-type", "text/plain")
        .body("hello")
        .send()
        .await
        .unwrap();
    assert_eq!(text.status(), StatusCode::UNSUPPORTED_MEDIA_TYPE);
    let not_json = fhir
        .http
        .post(format!("{}/Observation", gateway.base))
        .bearer_auth(TOKEN)
        .header("content-type", "application/fhir+json")
        .body("{not json")
        .send()
        .await
        .unwrap();
    assert_eq!(not_json.status(), StatusCode::BAD_REQUEST);
    let orphan = fhir
        .post(
            "/Observation",
            &json!({"resourceType": "Observation", "status": "final", "code": {"text": "x"}}),
        )
        .await;
    assert_eq!(
        orphan.status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "a hospital must name the patient"
    );
    // A resource of one patient may not point at another patient's record.
    let other = fhir
        .post(
            "/Patient",
            &json!({"resourceType": "Patient",
            "identifier": [{"system": "urn:ietf:rfc:3986", "value": specialist}]}),
        )
        .await;
    let crossed = json!({"resourceType": "Observation", "status": "final", "code": {"text": "x"},
        "subject": {"reference": format!("Patient/{}", other.body["id"].as_str().unwrap())},
        "encounter": {"reference": encounter_location.split("/_history").next().unwrap()}});
    let refused = fhir.post("/Observation", &crossed).await;
    assert_eq!(
        refused.status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "{}",
        refused.body
    );
    assert_eq!(
        fhir.get("/Observation?_count=100").await.body["total"],
        2,
        "nothing refused was stored"
    );

    // SIGKILL, restart: the index comes back from the chain through the vault.
    gateway.kill_9();
    let mut gateway = GatewayProcess::start(&env, "hospital", &dir.path().join("gateway-2.log"));
    let fhir = Fhir::new(&gateway.base);
    fhir.wait_up().await;
    assert_eq!(fhir.get("/Observation").await.body["total"], 2);
    assert_eq!(
        fhir.get(&format!("/Observation/{pulse_id}")).await.body["meta"]["versionId"],
        "2"
    );

    // The specialist's gateway sees nothing until the patient grants.
    let specialist_gateway =
        GatewayProcess::start(&env, "specialist", &dir.path().join("specialist.log"));
    let specialist_fhir = Fhir::new(&specialist_gateway.base);
    specialist_fhir.wait_up().await;
    assert_eq!(specialist_fhir.get("/Observation").await.body["total"], 0);
    let denied = specialist_fhir
        .get(&format!("/Observation/{pulse_id}"))
        .await;
    assert_eq!(denied.status, StatusCode::FORBIDDEN);
    assert_eq!(
        denied.body["issue"][0]["details"]["coding"][0]["code"],
        "no_grant"
    );
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
        "all",
        "--expires",
        "1d",
    ]);
    specialist_fhir.wait_total("/Observation", 2).await;
    let read = specialist_fhir
        .get(&format!("/Observation/{pulse_id}"))
        .await;
    assert_eq!(read.body["valueQuantity"]["value"], 75);
    env.json(&[
        "consent",
        "revoke",
        "--key",
        "patient",
        "--grant",
        &grant["grant"].to_string(),
    ]);
    specialist_fhir.wait_total("/Observation", 0).await;

    // Erasure cannot be undone, so the URL's type must be the record's.
    let mistyped = fhir
        .send(
            reqwest::Method::DELETE,
            &format!("/Patient/{pulse_id}"),
            None,
            &[],
        )
        .await;
    assert_eq!(mistyped.status, StatusCode::NOT_FOUND);
    let patch = fhir
        .send(
            reqwest::Method::PATCH,
            &format!("/Observation/{pulse_id}"),
            None,
            &[],
        )
        .await;
    assert_eq!(patch.status, StatusCode::METHOD_NOT_ALLOWED);
    // The hospital may not erase; the patient can, and then it is gone (410).
    let refused = fhir
        .send(
            reqwest::Method::DELETE,
            &format!("/Observation/{pulse_id}"),
            None,
            &[],
        )
        .await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN);
    env.json(&["record", "erase", "--key", "patient", "--record", &pulse_id]);
    assert_eq!(
        fhir.get(&format!("/Observation/{pulse_id}")).await.status,
        StatusCode::GONE
    );
    fhir.wait_total("/Observation", 1).await;

    // Nothing the gateway wrote is in the node's logs or files.
    drop(specialist_gateway);
    gateway.kill_9();
    // The gateways' own logs too: they hold the keys, but log no content.
    for (path, bytes) in salus_testkit::files_under(dir.path()) {
        assert!(
            !salus_testkit::contains(&bytes, MARKER.as_bytes()),
            "plaintext in {}",
            path.display()
        );
    }
}
