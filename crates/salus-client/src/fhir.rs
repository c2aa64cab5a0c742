//! The light SDK's check of FHIR R4 JSON before it is encrypted: the content
//! must be one resource or a Bundle, and every resource in it must name its
//! `resourceType`. It keeps arbitrary bytes out of patients' records and picks
//! a coarse category. Validation against the R4 definitions is heavier and
//! lives in `salus-gateway` (`salus_gateway::validate`), which the gateway and
//! `salus record put` run first.

use salus_types::records::Category;
use serde_json::Value;

/// The largest FHIR document a client will seal.
pub const MAX_FHIR_BYTES: usize = 15 * 1024 * 1024;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FhirError {
    #[error("the document is larger than {MAX_FHIR_BYTES} bytes")]
    TooLarge,
    #[error("the document is not JSON")]
    NotJson,
    #[error("the document is not a JSON object")]
    NotAnObject,
    #[error("resourceType is missing or not a FHIR resource name")]
    NoResourceType,
    #[error("Bundle entry {0} has a resource without a resourceType")]
    BadEntry(usize),
}

/// What the check learned about a document.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FhirSummary {
    pub resource_type: String,
    /// For a Bundle: its entries' resource types, in order.
    pub entries: Vec<String>,
    pub category: Category,
}

/// Checks `bytes` as a FHIR R4 resource or Bundle.
pub fn check_fhir(bytes: &[u8]) -> Result<FhirSummary, FhirError> {
    if bytes.len() > MAX_FHIR_BYTES {
        return Err(FhirError::TooLarge);
    }
    let value: Value = serde_json::from_slice(bytes).map_err(|_| FhirError::NotJson)?;
    let object = value.as_object().ok_or(FhirError::NotAnObject)?;
    let kind = resource_type(object).ok_or(FhirError::NoResourceType)?;
    let mut entries = Vec::new();
    if kind == "Bundle" {
        let list = object
            .get("entry")
            .and_then(Value::as_array)
            .map(Vec::as_slice)
            .unwrap_or_default();
        // A batch's entries may carry only a `request` or a `response`.
        for (index, entry) in list.iter().enumerate() {
            let Some(resource) = entry.get("resource") else {
                continue;
            };
            let inner = resource
                .as_object()
                .and_then(resource_type)
                .ok_or(FhirError::BadEntry(index))?;
            entries.push(inner.to_owned());
        }
    }
    let category = match kind {
        "Bundle" => bundle_category(&entries),
        other => category_of(other),
    };
    Ok(FhirSummary {
        resource_type: kind.to_owned(),
        entries,
        category,
    })
}

fn resource_type(object: &serde_json::Map<String, Value>) -> Option<&str> {
    let name = object.get("resourceType")?.as_str()?;
    let mut chars = name.chars();
    let well_formed = chars.next().is_some_and(|c| c.is_ascii_uppercase())
        && chars.all(|c| c.is_ascii_alphanumeric())
        && name.len() <= 64;
    well_formed.then_some(name)
}

/// A Bundle whose entries share one category takes it; a mixed one is clinical.
fn bundle_category(entries: &[String]) -> Category {
    let mut categories = entries.iter().map(|t| category_of(t));
    match categories.next() {
        Some(first) if categories.all(|c| c == first) => first,
        _ => Category::Clinical,
    }
}

/// The coarse category of a resource type.
pub fn category_of(resource_type: &str) -> Category {
    match resource_type {
        "Observation" | "DiagnosticReport" | "Specimen" | "MolecularSequence" => {
            Category::Laboratory
        }
        "ImagingStudy" | "Media" => Category::Imaging,
        "MedicationRequest"
        | "MedicationStatement"
        | "MedicationAdministration"
        | "MedicationDispense"
        | "Medication" => Category::Medication,
        "Immunization" | "ImmunizationRecommendation" | "ImmunizationEvaluation" => {
            Category::Immunization
        }
        "AllergyIntolerance" => Category::Allergy,
        "Patient" | "RelatedPerson" | "Practitioner" | "Organization" | "Appointment"
        | "Consent" => Category::Administrative,
        "Claim" | "ClaimResponse" | "Coverage" | "ExplanationOfBenefit" | "Invoice" | "Account" => {
            Category::Financial
        }
        "Condition"
        | "Encounter"
        | "Procedure"
        | "CarePlan"
        | "ClinicalImpression"
        | "FamilyMemberHistory"
        | "Composition"
        | "DocumentReference" => Category::Clinical,
        _ => Category::Other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resources_and_bundles_are_recognised() {
        let obs = br#"{"resourceType":"Observation","status":"final"}"#;
        let summary = check_fhir(obs).unwrap();
        assert_eq!(summary.resource_type, "Observation");
        assert_eq!(summary.category, Category::Laboratory);

        let bundle = br#"{"resourceType":"Bundle","type":"collection","entry":[
            {"resource":{"resourceType":"Immunization"}},
            {"resource":{"resourceType":"Immunization"}}]}"#;
        let summary = check_fhir(bundle).unwrap();
        assert_eq!(summary.entries, vec!["Immunization", "Immunization"]);
        assert_eq!(summary.category, Category::Immunization);

        let mixed = br#"{"resourceType":"Bundle","entry":[
            {"resource":{"resourceType":"Condition"}},
            {"resource":{"resourceType":"Observation"}}]}"#;
        assert_eq!(check_fhir(mixed).unwrap().category, Category::Clinical);
    }

    #[test]
    fn anything_else_is_a_typed_error() {
        assert_eq!(check_fhir(b"not json"), Err(FhirError::NotJson));
        assert_eq!(check_fhir(b"[1,2]"), Err(FhirError::NotAnObject));
        assert_eq!(check_fhir(b"{}"), Err(FhirError::NoResourceType));
        assert_eq!(
            check_fhir(br#"{"resourceType":"observation"}"#),
            Err(FhirError::NoResourceType)
        );
        assert_eq!(
            check_fhir(br#"{"resourceType":"Bundle","entry":[{"resource":{}}]}"#),
            Err(FhirError::BadEntry(0))
        );
    }

    #[test]
    fn batch_entries_without_a_resource_are_fine() {
        let batch = br#"{"resourceType":"Bundle","type":"batch","entry":[
            {"request":{"method":"GET","url":"Patient/example"}},
            {"resource":{"resourceType":"Observation"},"request":{"method":"POST","url":"Observation"}}]}"#;
        assert_eq!(check_fhir(batch).unwrap().entries, vec!["Observation"]);
    }
}
