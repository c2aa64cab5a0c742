//! Valid FHIR is never refused: every clinical or financial example and every
//! Bundle in HL7's official R4 examples package (`hl7.fhir.r4.examples`,
//! which `.ci/run` installs with npm) validates, except documents over the
//! size limit, which get their own clear error.
//!
//! Ignored by default because the package is 190 MB that `cargo test` does
//! not fetch: `.ci/run` installs it and runs this with `--ignored`.

use std::collections::BTreeSet;
use std::path::PathBuf;

use salus_fhir::validate::{validate, Invalid, MAX_DOCUMENT_BYTES};
use serde_json::Value;

fn clients_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../tests/fhir-clients")
}

fn wanted_types() -> BTreeSet<String> {
    let text = std::fs::read(clients_dir().join("clinical-types.json")).expect("the type list");
    let lists: Value = serde_json::from_slice(&text).expect("JSON");
    let mut types: BTreeSet<String> = ["clinical", "financial"]
        .iter()
        .flat_map(|k| lists[k].as_array().expect("a list").iter())
        .map(|t| t.as_str().expect("a name").to_owned())
        .collect();
    types.insert("Bundle".into());
    types
}

#[test]
#[ignore = "needs the hl7.fhir.r4.examples npm package (.ci/run installs it)"]
fn every_clinical_financial_and_bundle_example_is_accepted() {
    let dir = std::env::var_os("SALUS_HL7_EXAMPLES")
        .map(PathBuf::from)
        .unwrap_or_else(|| clients_dir().join("node_modules/hl7.fhir.r4.examples"));
    let wanted = wanted_types();
    let (mut accepted, mut too_large, mut refused) = (0, 0, Vec::new());
    let mut entries: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", dir.display()))
        .map(|e| e.expect("an entry").path())
        .filter(|p| p.extension().is_some_and(|x| x == "json"))
        .collect();
    entries.sort();
    for path in entries {
        let bytes = std::fs::read(&path).expect("readable");
        let Ok(value) = serde_json::from_slice::<Value>(&bytes) else {
            continue;
        };
        let Some(kind) = value["resourceType"].as_str() else {
            continue;
        };
        if !wanted.contains(kind) {
            continue;
        }
        match validate(&bytes) {
            Ok(valid) => {
                assert_eq!(valid.resource_type, kind);
                accepted += 1;
            }
            Err(Invalid::TooLarge) if bytes.len() > MAX_DOCUMENT_BYTES => too_large += 1,
            Err(e) => refused.push(format!("{}: {e} {:?}", path.display(), e.problems())),
        }
    }
    assert!(
        refused.is_empty(),
        "valid examples refused:\n{}",
        refused.join("\n")
    );
    // 445 such examples in 4.0.1; fewer means the package did not unpack.
    assert!(
        accepted + too_large >= 440,
        "only {accepted} examples found in {}",
        dir.display()
    );
    println!("accepted {accepted}, over the size limit {too_large}");
}
