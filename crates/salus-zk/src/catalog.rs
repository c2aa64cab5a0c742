//! The credential schemas and code sets that Salus issuers publish, named
//! once, so that issuers, verifiers, the demo, the benchmarks and the tests
//! agree on every attribute's name, kind and place. An issuer may define
//! schemas of its own; these are the ones the network's tools know.

use crate::{AttributeKind, Schema};

/// A medical board's license for a physician: who holds it, for what
/// specialty, and until when.
pub const MEDICAL_LICENSE: &[(&str, AttributeKind)] = &[
    ("holder_did", AttributeKind::Text),
    ("full_name", AttributeKind::Text),
    ("specialty", AttributeKind::Text),
    ("license_number", AttributeKind::Text),
    ("valid_until", AttributeKind::Date),
];

/// One vaccine dose, as a FHIR R4 Immunization records it: the patient (a
/// DID, or a name where the issuer's policy allows), their birth date, the
/// CVX code, the date given, the lot, and the dose in millilitres.
pub const IMMUNIZATION: &[(&str, AttributeKind)] = &[
    ("patient", AttributeKind::Text),
    ("birth_date", AttributeKind::Date),
    ("vaccine_code", AttributeKind::Text),
    ("occurrence_date", AttributeKind::Date),
    ("lot_number", AttributeKind::Text),
    ("dose_ml", AttributeKind::Decimal { scale: 2 }),
];

/// The CVX codes (the CDC's vaccine-administered code set) of COVID-19
/// vaccines: what a "vaccinated against COVID-19" set holds.
pub const COVID19_CVX: &[&str] = &[
    "207", "208", "210", "212", "213", "217", "218", "219", "221",
];

/// The `medical-license-v1` schema.
pub fn medical_license() -> Schema {
    Schema::new("medical-license-v1", MEDICAL_LICENSE).expect("the catalog's schemas are valid")
}

/// The `immunization-v1` schema.
pub fn immunization() -> Schema {
    Schema::new("immunization-v1", IMMUNIZATION).expect("the catalog's schemas are valid")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_catalog_schemas_are_valid() {
        assert_eq!(medical_license().attributes.len(), MEDICAL_LICENSE.len());
        assert_eq!(immunization().attributes.len(), IMMUNIZATION.len());
        assert!(crate::PublicSet::publish("cvx-covid-19", COVID19_CVX).is_ok());
    }
}
