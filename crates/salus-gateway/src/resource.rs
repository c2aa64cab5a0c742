//! What the gateway knows about FHIR resources: the R4 type names, the search
//! parameters it supports on each type, and how a resource names its patient.
//!
//! The table below is the single source of the CapabilityStatement, the
//! index and the search parser, so that what the gateway says it supports is
//! exactly what it does.

use serde_json::Value;

pub use salus_fhir::{is_fhir_id, is_r4_type, R4_TYPES};

/// How a search parameter reads its values from a resource.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ParamKind {
    /// A code, Coding or CodeableConcept (or a list of them) at this element:
    /// matched as `system|code`, `code` or `system|`.
    Token,
    /// A date, dateTime, instant or Period at this element (a choice `[x]`
    /// element is named by its stem, `effective`): matched with prefixes.
    Date,
}

/// One supported search parameter of a type.
#[derive(Debug, Clone, Copy)]
pub struct Param {
    pub name: &'static str,
    pub kind: ParamKind,
    /// The element it reads (a choice element by its stem).
    pub element: &'static str,
    /// FHIRPath of the element, for the CapabilityStatement.
    pub documentation: &'static str,
}

/// What the gateway supports for searching one type.
#[derive(Debug, Clone, Copy)]
pub struct Searchable {
    pub resource_type: &'static str,
    /// The element holding the patient reference, and the parameter names
    /// that search it (`patient`, and `subject` or `beneficiary` where R4 has them).
    pub patient: Option<(&'static str, &'static [&'static str])>,
    pub params: &'static [Param],
}

const fn token(name: &'static str, element: &'static str, documentation: &'static str) -> Param {
    Param {
        name,
        kind: ParamKind::Token,
        element,
        documentation,
    }
}

const fn date(name: &'static str, element: &'static str, documentation: &'static str) -> Param {
    Param {
        name,
        kind: ParamKind::Date,
        element,
        documentation,
    }
}

const SUBJECT: Option<(&str, &[&str])> = Some(("subject", &["patient", "subject"]));
const PATIENT: Option<(&str, &[&str])> = Some(("patient", &["patient"]));

/// The searchable types, with R4's parameter names.
pub const SEARCHABLE: &[Searchable] = &[
    Searchable {
        resource_type: "Patient",
        patient: None,
        params: &[
            token("identifier", "identifier", "Patient.identifier"),
            date("birthdate", "birthDate", "Patient.birthDate"),
        ],
    },
    Searchable {
        resource_type: "Observation",
        patient: SUBJECT,
        params: &[
            token("identifier", "identifier", "Observation.identifier"),
            token("code", "code", "Observation.code"),
            date("date", "effective", "Observation.effective"),
            token("status", "status", "Observation.status"),
        ],
    },
    Searchable {
        resource_type: "Condition",
        patient: SUBJECT,
        params: &[
            token("identifier", "identifier", "Condition.identifier"),
            token("code", "code", "Condition.code"),
            date(
                "onset-date",
                "onset",
                "Condition.onset.as(dateTime) | Condition.onset.as(Period)",
            ),
            date("recorded-date", "recordedDate", "Condition.recordedDate"),
            token(
                "clinical-status",
                "clinicalStatus",
                "Condition.clinicalStatus",
            ),
        ],
    },
    Searchable {
        resource_type: "Immunization",
        patient: PATIENT,
        params: &[
            token("identifier", "identifier", "Immunization.identifier"),
            token("vaccine-code", "vaccineCode", "Immunization.vaccineCode"),
            date("date", "occurrence", "Immunization.occurrence"),
            token("status", "status", "Immunization.status"),
        ],
    },
    Searchable {
        resource_type: "MedicationRequest",
        patient: SUBJECT,
        params: &[
            token("identifier", "identifier", "MedicationRequest.identifier"),
            token(
                "code",
                "medicationCodeableConcept",
                "MedicationRequest.medication.as(CodeableConcept)",
            ),
            date("authoredon", "authoredOn", "MedicationRequest.authoredOn"),
            token("status", "status", "MedicationRequest.status"),
        ],
    },
    Searchable {
        resource_type: "Procedure",
        patient: SUBJECT,
        params: &[
            token("identifier", "identifier", "Procedure.identifier"),
            token("code", "code", "Procedure.code"),
            date("date", "performed", "Procedure.performed"),
            token("status", "status", "Procedure.status"),
        ],
    },
    Searchable {
        resource_type: "AllergyIntolerance",
        patient: PATIENT,
        params: &[
            token("identifier", "identifier", "AllergyIntolerance.identifier"),
            token("code", "code", "AllergyIntolerance.code"),
            date("date", "recordedDate", "AllergyIntolerance.recordedDate"),
            token(
                "clinical-status",
                "clinicalStatus",
                "AllergyIntolerance.clinicalStatus",
            ),
        ],
    },
    Searchable {
        resource_type: "DiagnosticReport",
        patient: SUBJECT,
        params: &[
            token("identifier", "identifier", "DiagnosticReport.identifier"),
            token("code", "code", "DiagnosticReport.code"),
            date("date", "effective", "DiagnosticReport.effective"),
            token("status", "status", "DiagnosticReport.status"),
        ],
    },
    Searchable {
        resource_type: "Encounter",
        patient: SUBJECT,
        params: &[
            token("identifier", "identifier", "Encounter.identifier"),
            token("type", "type", "Encounter.type"),
            date("date", "period", "Encounter.period"),
            token("status", "status", "Encounter.status"),
        ],
    },
    Searchable {
        resource_type: "Claim",
        patient: PATIENT,
        params: &[
            token("identifier", "identifier", "Claim.identifier"),
            date("created", "created", "Claim.created"),
            token("status", "status", "Claim.status"),
        ],
    },
    Searchable {
        resource_type: "Coverage",
        patient: Some(("beneficiary", &["patient", "beneficiary"])),
        params: &[
            token("identifier", "identifier", "Coverage.identifier"),
            token("type", "type", "Coverage.type"),
            token("status", "status", "Coverage.status"),
        ],
    },
    Searchable {
        resource_type: "ExplanationOfBenefit",
        patient: PATIENT,
        params: &[
            token(
                "identifier",
                "identifier",
                "ExplanationOfBenefit.identifier",
            ),
            date("created", "created", "ExplanationOfBenefit.created"),
            token("status", "status", "ExplanationOfBenefit.status"),
        ],
    },
];

/// The search support of `resource_type`, if it is searchable.
pub fn searchable(resource_type: &str) -> Option<&'static Searchable> {
    SEARCHABLE.iter().find(|s| s.resource_type == resource_type)
}

/// The values of a choice element (`effective` → `effectiveDateTime`, …) or
/// of a plain element.
pub fn element_values<'a>(resource: &'a Value, element: &str) -> Vec<&'a Value> {
    let Some(object) = resource.as_object() else {
        return Vec::new();
    };
    if let Some(value) = object.get(element) {
        return match value {
            Value::Array(items) => items.iter().collect(),
            other => vec![other],
        };
    }
    object
        .iter()
        .filter(|(name, _)| {
            name.strip_prefix(element)
                .is_some_and(|rest| rest.starts_with(|c: char| c.is_ascii_uppercase()))
        })
        .map(|(_, value)| value)
        .collect()
}

/// `(system, code)` pairs of a code, Coding or CodeableConcept.
pub fn tokens_of(value: &Value) -> Vec<(Option<String>, String)> {
    match value {
        Value::String(code) => vec![(None, code.clone())],
        // An Identifier matches as `system|value`.
        Value::Object(object) if !object.contains_key("coding") && !object.contains_key("code") => {
            object
                .get("value")
                .and_then(Value::as_str)
                .map(|value| {
                    let system = object
                        .get("system")
                        .and_then(Value::as_str)
                        .map(str::to_owned);
                    (system, value.to_owned())
                })
                .into_iter()
                .collect()
        }
        Value::Object(object) => {
            let coding = |c: &Value| {
                c.get("code").and_then(Value::as_str).map(|code| {
                    let system = c.get("system").and_then(Value::as_str).map(str::to_owned);
                    (system, code.to_owned())
                })
            };
            match object.get("coding").and_then(Value::as_array) {
                Some(codings) => codings.iter().filter_map(coding).collect(),
                None => coding(value).into_iter().collect(),
            }
        }
        _ => Vec::new(),
    }
}

/// The id in a relative literal reference `Type/id` (or `Type/id/_history/n`).
pub fn relative_reference(reference: &str) -> Option<(&str, &str)> {
    let mut parts = reference.split('/');
    let (kind, id) = (parts.next()?, parts.next()?);
    match (parts.next(), parts.next(), parts.next()) {
        (None, None, None) | (Some("_history"), Some(_), None) => {}
        _ => return None,
    }
    (is_r4_type(kind) && is_fhir_id(id)).then_some((kind, id))
}

/// Every `reference` string anywhere in a resource, with a pointer to it
/// (for rewriting `urn:uuid` references inside a transaction).
pub fn references(value: &Value, path: &mut Vec<String>, out: &mut Vec<(String, String)>) {
    match value {
        Value::Object(object) => {
            for (name, inner) in object {
                if name == "reference" {
                    if let Value::String(text) = inner {
                        let mut pointer: String = path
                            .iter()
                            .map(|p| format!("/{}", escape_pointer(p)))
                            .collect();
                        pointer.push_str("/reference");
                        out.push((pointer, text.clone()));
                    }
                    continue;
                }
                // A contained resource's references are local to it.
                if name == "contained" {
                    continue;
                }
                path.push(name.clone());
                references(inner, path, out);
                path.pop();
            }
        }
        Value::Array(items) => {
            for (index, inner) in items.iter().enumerate() {
                path.push(index.to_string());
                references(inner, path, out);
                path.pop();
            }
        }
        _ => {}
    }
}

fn escape_pointer(segment: &str) -> String {
    segment.replace('~', "~0").replace('/', "~1")
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn the_searchable_types_are_r4_types() {
        for s in SEARCHABLE {
            assert!(is_r4_type(s.resource_type));
        }
    }

    #[test]
    fn choice_elements_and_tokens_are_read() {
        let obs = json!({"resourceType":"Observation","effectivePeriod":{"start":"2026-01-01"},
            "code":{"coding":[{"system":"http://loinc.org","code":"8867-4"},{"code":"x"}]},
            "status":"final"});
        assert_eq!(element_values(&obs, "effective").len(), 1);
        assert!(element_values(&obs, "effect").is_empty());
        assert_eq!(
            tokens_of(&obs["code"]),
            vec![
                (Some("http://loinc.org".into()), "8867-4".into()),
                (None, "x".into())
            ]
        );
        assert_eq!(tokens_of(&obs["status"]), vec![(None, "final".into())]);
    }

    #[test]
    fn references_are_found_with_pointers() {
        let obs = json!({"subject":{"reference":"urn:uuid:1"},"performer":[{"reference":"Practitioner/p"}],
            "contained":[{"resourceType":"Patient","link":[{"other":{"reference":"#x"}}]}]});
        let mut found = Vec::new();
        references(&obs, &mut Vec::new(), &mut found);
        found.sort();
        assert_eq!(
            found,
            vec![
                (
                    "/performer/0/reference".to_owned(),
                    "Practitioner/p".to_owned()
                ),
                ("/subject/reference".to_owned(), "urn:uuid:1".to_owned()),
            ]
        );
        assert_eq!(relative_reference("Patient/abc"), Some(("Patient", "abc")));
        assert_eq!(
            relative_reference("Patient/abc/_history/2"),
            Some(("Patient", "abc"))
        );
        assert_eq!(relative_reference("http://x/Patient/abc"), None);
        assert_eq!(relative_reference("Spaceship/abc"), None);
    }
}
