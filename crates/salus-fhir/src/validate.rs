//! Validation of FHIR R4 JSON against the R4 definitions, for the gateway
//! and for `salus record put`.
//!
//! A document is valid when it reads as its R4 type (every required element
//! present, every element of its type, every code of a required binding
//! known), when the R4 primitive formats and invariants hold (the `fhir`
//! crate's `Validate`), and when nothing in it is lost by reading it as its
//! type: an element R4 does not define would otherwise be dropped silently,
//! so it is refused by name instead.
//!
//! Messages carry element paths, never values: a refused document may hold
//! health data, and an error message ends up in logs.

use fhir::r4::resources::Resource;
use fhir::r4::validate::Validate;
use serde_json::Value;

/// The largest document accepted (as the light SDK's `MAX_FHIR_BYTES`).
pub const MAX_DOCUMENT_BYTES: usize = 15 * 1024 * 1024;
/// Problems named in one refusal; the rest are counted.
const MAX_PROBLEMS: usize = 20;

/// One problem, at an element path (`Observation.code.coding[0].system`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    pub path: String,
    pub message: String,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Invalid {
    #[error("the document is larger than {MAX_DOCUMENT_BYTES} bytes")]
    TooLarge,
    #[error("the document is not JSON (line {line}, column {column})")]
    NotJson { line: usize, column: usize },
    #[error("the document is not a JSON object")]
    NotAnObject,
    #[error("resourceType is missing")]
    NoResourceType,
    #[error("`{0}` is not an R4 resource type")]
    UnknownType(String),
    #[error("the {resource_type} does not read as R4: {detail}")]
    Unreadable {
        resource_type: String,
        detail: String,
    },
    #[error("the {resource_type} breaks {count} R4 rule(s), first at {}", .problems[0].path)]
    Rules {
        resource_type: String,
        count: usize,
        problems: Vec<Problem>,
    },
}

impl Invalid {
    /// Every problem with its path, for an OperationOutcome's issues.
    pub fn problems(&self) -> Vec<Problem> {
        match self {
            Invalid::Rules { problems, .. } => problems.clone(),
            other => vec![Problem {
                path: String::new(),
                message: other.to_string(),
            }],
        }
    }
}

/// A valid document, parsed.
#[derive(Debug, Clone)]
pub struct Valid {
    pub resource_type: String,
    pub value: Value,
}

/// Validates `bytes` as one FHIR R4 resource (a Bundle included).
pub fn validate(bytes: &[u8]) -> Result<Valid, Invalid> {
    if bytes.len() > MAX_DOCUMENT_BYTES {
        return Err(Invalid::TooLarge);
    }
    let value: Value = serde_json::from_slice(bytes).map_err(|e| Invalid::NotJson {
        line: e.line(),
        column: e.column(),
    })?;
    validate_value(&value)?;
    let resource_type = resource_type(&value)?.to_owned();
    Ok(Valid {
        resource_type,
        value,
    })
}

/// Validates a parsed document.
pub fn validate_value(value: &Value) -> Result<(), Invalid> {
    let resource_type = resource_type(value)?;
    let typed: Resource =
        serde_json::from_value(value.clone()).map_err(|e| Invalid::Unreadable {
            resource_type: resource_type.to_owned(),
            detail: without_values(&e.to_string()),
        })?;
    let mut problems: Vec<Problem> = typed
        .validate()
        .into_iter()
        .map(|issue| Problem {
            path: join_path(resource_type, &issue.path),
            message: without_values(&issue.message),
        })
        .collect();
    let read_back = serde_json::to_value(&typed).map_err(|e| Invalid::Unreadable {
        resource_type: resource_type.to_owned(),
        detail: without_values(&e.to_string()),
    })?;
    lost_elements(value, &read_back, resource_type, &mut problems);
    // The model reads `id` as a plain string; R4 constrains it.
    if let Some(id) = value.get("id") {
        if !id.as_str().is_some_and(crate::is_fhir_id) {
            problems.push(Problem {
                path: format!("{resource_type}.id"),
                message: "an id is 1 to 64 of A-Z, a-z, 0-9, '-' and '.'".into(),
            });
        }
    }
    if problems.is_empty() {
        return Ok(());
    }
    let count = problems.len();
    problems.truncate(MAX_PROBLEMS);
    Err(Invalid::Rules {
        resource_type: resource_type.to_owned(),
        count,
        problems,
    })
}

/// The document's `resourceType`, if it names an R4 resource.
fn resource_type(value: &Value) -> Result<&str, Invalid> {
    let object = value.as_object().ok_or(Invalid::NotAnObject)?;
    let name = object
        .get("resourceType")
        .and_then(Value::as_str)
        .ok_or(Invalid::NoResourceType)?;
    if !crate::is_r4_type(name) {
        // Only a well-formed name is repeated: anything else could be content.
        let shown = if name.len() <= 64 && name.bytes().all(|b| b.is_ascii_alphanumeric()) {
            name.to_owned()
        } else {
            "(not a type name)".to_owned()
        };
        return Err(Invalid::UnknownType(shown));
    }
    Ok(name)
}

fn join_path(resource_type: &str, path: &str) -> String {
    if path.is_empty() {
        resource_type.to_owned()
    } else {
        format!("{resource_type}.{path}")
    }
}

/// Records every element of `input` that reading it as R4 dropped or changed.
fn lost_elements(input: &Value, read_back: &Value, path: &str, problems: &mut Vec<Problem>) {
    match (input, read_back) {
        (Value::Object(given), Value::Object(kept)) => {
            for (name, value) in given {
                // A name R4 does not define may be content: shown only if
                // it looks like an element name.
                let shown = if is_element_name(name) {
                    name.as_str()
                } else {
                    "(element)"
                };
                let inner = format!("{path}.{shown}");
                match kept.get(name) {
                    Some(kept) => lost_elements(value, kept, &inner, problems),
                    None => problems.push(Problem {
                        path: inner,
                        message: "R4 defines no such element here".into(),
                    }),
                }
            }
        }
        (Value::Array(given), Value::Array(kept)) if given.len() == kept.len() => {
            for (index, (value, kept)) in given.iter().zip(kept).enumerate() {
                lost_elements(value, kept, &format!("{path}[{index}]"), problems);
            }
        }
        (given, kept) if given == kept => {}
        _ => problems.push(Problem {
            path: path.to_owned(),
            message: "the value does not read as its R4 type".into(),
        }),
    }
}

fn is_element_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
        && name.len() <= 64
}

/// A message with every quoted part (a value the document held) elided.
fn without_values(message: &str) -> String {
    let field_names_only = ["missing field", "duplicate field"]
        .iter()
        .any(|p| message.starts_with(p));
    let mut out = String::with_capacity(message.len());
    let mut quote: Option<char> = None;
    let mut first_backtick_done = false;
    for c in message.chars() {
        match quote {
            Some(q) if c == q => {
                out.push('…');
                out.push(c);
                quote = None;
            }
            Some(_) => {}
            None if c == '"' => {
                out.push(c);
                quote = Some(c);
            }
            // Backticks quote the offending value first, then the expected
            // names (schema, not content); field names are schema too.
            None if c == '`' && !field_names_only && !first_backtick_done => {
                out.push(c);
                quote = Some(c);
                first_backtick_done = true;
            }
            None => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn problems_of(json: &str) -> Vec<Problem> {
        validate(json.as_bytes()).expect_err("invalid").problems()
    }

    #[test]
    fn a_valid_observation_passes_and_keeps_its_decimals() {
        let text = r#"{"resourceType":"Observation","status":"final",
            "code":{"coding":[{"system":"http://loinc.org","code":"4548-4"}]},
            "valueQuantity":{"value":6.50,"unit":"%"}}"#;
        let valid = validate(text.as_bytes()).expect("valid");
        assert_eq!(valid.resource_type, "Observation");
        assert_eq!(valid.value["valueQuantity"]["value"].to_string(), "6.50");
    }

    #[test]
    fn batch_entries_with_only_a_request_are_valid() {
        let text = r#"{"resourceType":"Bundle","type":"batch","entry":[
            {"request":{"method":"GET","url":"Patient/example"}}]}"#;
        validate(text.as_bytes()).expect("valid");
    }

    #[test]
    fn refusals_name_paths_and_never_values() {
        let secret = "HIV-positive";
        let unknown = format!(
            r#"{{"resourceType":"Observation","status":"final","code":{{"text":"x"}},"diagnosis":"{secret}"}}"#
        );
        let problems = problems_of(&unknown);
        assert_eq!(problems[0].path, "Observation.diagnosis");
        let bad_code = format!(
            r#"{{"resourceType":"Observation","status":"{secret}","code":{{"text":"x"}}}}"#
        );
        let bad_id = format!(r#"{{"resourceType":"Patient","id":"{secret} !"}}"#);
        for text in [unknown, bad_code, bad_id] {
            let error = validate(text.as_bytes()).expect_err("invalid");
            let shown = format!("{error} {:?}", error.problems());
            assert!(!shown.contains(secret), "{shown}");
        }
        let missing = problems_of(r#"{"resourceType":"Observation","code":{"text":"x"}}"#);
        assert!(missing[0].message.contains("status"), "{missing:?}");
    }

    #[test]
    fn non_resources_are_typed_errors() {
        assert!(matches!(validate(b"{"), Err(Invalid::NotJson { .. })));
        assert_eq!(validate(b"[]").unwrap_err(), Invalid::NotAnObject);
        assert_eq!(validate(b"{}").unwrap_err(), Invalid::NoResourceType);
        assert_eq!(
            validate(br#"{"resourceType":"Spaceship"}"#).unwrap_err(),
            Invalid::UnknownType("Spaceship".into())
        );
        let huge = vec![b' '; MAX_DOCUMENT_BYTES + 1];
        assert_eq!(validate(&huge).unwrap_err(), Invalid::TooLarge);
    }
}
