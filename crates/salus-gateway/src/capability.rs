//! The CapabilityStatement: built from the same table the search code reads,
//! so it lists exactly what this gateway does.

use serde_json::{json, Value};

use crate::resource::{searchable, ParamKind, R4_TYPES};

/// What every resource type supports.
const INTERACTIONS: &[&str] = &[
    "read",
    "vread",
    "update",
    "delete",
    "history-instance",
    "create",
];

/// The CapabilityStatement of a gateway served at `base`.
pub fn capability_statement(base: &str, software_version: &str) -> Value {
    let resources: Vec<Value> = R4_TYPES
        .iter()
        .filter(|t| {
            !matches!(
                **t,
                "CapabilityStatement" | "OperationOutcome" | "Parameters"
            )
        })
        .map(|resource_type| resource(resource_type))
        .collect();
    json!({
        "resourceType": "CapabilityStatement",
        "status": "active",
        "date": "2026-12-07",
        "kind": "instance",
        "software": {"name": "salus-gateway", "version": software_version},
        "implementation": {
            "description": "Salus FHIR gateway: every resource is an encrypted, patient-owned record; reads are consented and audited",
            "url": base,
        },
        "fhirVersion": "4.0.1",
        "format": ["application/fhir+json", "json"],
        "rest": [{
            "mode": "server",
            "security": {
                "cors": false,
                "service": [{"coding": [{
                    "system": "http://terminology.hl7.org/CodeSystem/restful-security-service",
                    "code": "OAuth",
                }], "text": "A bearer token that the gateway prints at start or reads from its configuration"}],
            },
            "resource": resources,
            "interaction": [{"code": "transaction"}, {"code": "batch"}],
            "searchParam": [
                {"name": "_id", "type": "token"},
                {"name": "_lastUpdated", "type": "date"},
                {"name": "_count", "type": "number"},
                {"name": "_sort", "type": "string"},
                {"name": "_include", "type": "string"},
            ],
        }],
    })
}

fn resource(resource_type: &str) -> Value {
    let interactions: Vec<Value> = INTERACTIONS
        .iter()
        .map(|code| json!({"code": code}))
        .chain(searchable(resource_type).map(|_| json!({"code": "search-type"})))
        .collect();
    let mut entry = json!({
        "type": resource_type,
        "interaction": interactions,
        "versioning": "versioned",
        "readHistory": true,
        "updateCreate": false,
        "conditionalCreate": searchable(resource_type).is_some(),
        "conditionalRead": "not-supported",
        "conditionalUpdate": false,
        "conditionalDelete": "not-supported",
        "referencePolicy": ["literal", "logical"],
    });
    if let Some(search) = searchable(resource_type) {
        let mut params: Vec<Value> = Vec::new();
        if let Some((element, names)) = search.patient {
            for name in names {
                params.push(json!({
                    "name": name,
                    "type": "reference",
                    "documentation": format!("{resource_type}.{element}: Patient/{{id}} or a did:salus DID"),
                }));
            }
        }
        for param in search.params {
            let kind = match param.kind {
                ParamKind::Token => "token",
                ParamKind::Date => "date",
            };
            params.push(
                json!({"name": param.name, "type": kind, "documentation": param.documentation}),
            );
        }
        entry["searchParam"] = Value::Array(params);
        if let Some((element, _)) = search.patient {
            entry["searchInclude"] = json!([format!("{resource_type}:{element}")]);
        }
    }
    entry
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn it_is_valid_r4_and_lists_the_searchable_types() {
        let statement = capability_statement("http://127.0.0.1:8080/fhir", "0.1.0");
        crate::validate::validate_value(&statement).expect("a valid CapabilityStatement");
        let observation = statement["rest"][0]["resource"]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["type"] == "Observation")
            .unwrap();
        let names: Vec<&str> = observation["searchParam"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| p["name"].as_str().unwrap())
            .collect();
        assert!(names.contains(&"code") && names.contains(&"date") && names.contains(&"patient"));
    }
}
