//! Fuzzing the FHIR JSON decoder: arbitrary bytes, arbitrary JSON under a
//! real resource type, and valid resources with one element broken. The
//! validator must answer every one with a value or a typed refusal, never
//! panic, and never repeat a value from the document in its refusal.

use proptest::prelude::*;
use salus_fhir::validate::{validate, validate_value};
use salus_fhir::R4_TYPES;
use serde_json::{json, Value};

/// A string the document holds that no refusal may repeat.
const SECRET: &str = "s3cr3t-diagnosis";

fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        (-1e9f64..1e9).prop_map(|f| json!(f)),
        "[a-zA-Z0-9 :./|-]{0,12}".prop_map(Value::from),
        Just(Value::from(SECRET)),
    ];
    leaf.prop_recursive(4, 48, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            prop::collection::btree_map(
                prop_oneof![
                    Just("status".to_owned()),
                    Just("code".to_owned()),
                    Just("subject".to_owned()),
                    Just("value".to_owned()),
                    Just("coding".to_owned()),
                    Just("system".to_owned()),
                    Just("reference".to_owned()),
                    Just("effectiveDateTime".to_owned()),
                    Just(SECRET.to_owned()),
                    "[a-z]{1,8}",
                ],
                inner,
                0..5
            )
            .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

fn assert_no_secret(result: Result<(), String>) {
    if let Err(shown) = result {
        assert!(
            !shown.contains(SECRET),
            "a refusal repeats a value: {shown}"
        );
    }
}

fn observation() -> Value {
    json!({"resourceType": "Observation", "status": "final",
        "code": {"coding": [{"system": "http://loinc.org", "code": "8867-4"}]},
        "subject": {"reference": "Patient/abc"},
        "effectiveDateTime": "2026-03-01T10:00:00Z",
        "valueQuantity": {"value": 72, "unit": "/min"}})
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn arbitrary_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..512)) {
        let _ = validate(&bytes);
    }

    #[test]
    fn arbitrary_json_under_a_real_type_is_answered(
        index in 0..R4_TYPES.len(),
        body in prop::collection::btree_map(prop_oneof!["[a-zA-Z]{1,10}", Just(SECRET.to_owned())], json_value(), 0..6),
    ) {
        let mut object: serde_json::Map<String, Value> = body.into_iter().collect();
        object.insert("resourceType".into(), json!(R4_TYPES[index]));
        let value = Value::Object(object);
        let result = validate_value(&value).map_err(|e| format!("{e} {:?}", e.problems()));
        assert_no_secret(result);
    }

    #[test]
    fn a_broken_element_is_refused_by_name(
        element in prop_oneof![Just("status"), Just("code"), Just("subject"), Just("effectiveDateTime"), Just("valueQuantity")],
        replacement in json_value(),
    ) {
        let mut value = observation();
        value[element] = replacement;
        let result = validate_value(&value).map_err(|e| format!("{e} {:?}", e.problems()));
        assert_no_secret(result);
    }
}

#[test]
fn the_unbroken_resource_is_valid() {
    validate_value(&observation()).expect("valid");
}
