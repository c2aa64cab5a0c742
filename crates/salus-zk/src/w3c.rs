//! Export as a W3C Verifiable Credential (VC Data Model 2.0), so that
//! wallets and tools that speak the standard can read a Salus credential.
//!
//! The proof is a Data Integrity proof whose cryptosuite names our own BBS
//! encoding (`salus-bbs-2026`): the signature is over the typed field
//! elements described in this crate, not over RDF canonicalization, so
//! standard tools can read every claim but only Salus verifies the proof.

use base64::Engine as _;
use serde_json::{json, Map, Value};

use crate::attributes::{AttributeKind, AttributeValue};
use crate::codec::to_bytes;
use crate::{Credential, CredentialDefinition, ZkError};

pub const CONTEXT_V2: &str = "https://www.w3.org/ns/credentials/v2";
pub const CRYPTOSUITE: &str = "salus-bbs-2026";

fn claim(value: &AttributeValue, kind: AttributeKind) -> Value {
    match (value, kind) {
        (AttributeValue::Text(text), _) => json!(text),
        (AttributeValue::Date(d), _) => json!(format!(
            "{:04}-{:02}-{:02}",
            d / 10_000,
            d / 100 % 100,
            d % 100
        )),
        (AttributeValue::Decimal(n), AttributeKind::Decimal { scale }) => {
            let scale = u32::from(scale);
            let unit = 10u64.pow(scale);
            if scale == 0 {
                json!(n.to_string())
            } else {
                json!(format!(
                    "{}.{:0width$}",
                    n / unit,
                    n % unit,
                    width = scale as usize
                ))
            }
        }
        (AttributeValue::Integer(n), _) | (AttributeValue::Decimal(n), _) => json!(n),
    }
}

impl Credential {
    /// This credential as a VC Data Model 2.0 document.
    pub fn to_w3c(&self, definition: &CredentialDefinition) -> Result<Value, ZkError> {
        definition.expect_id(&self.definition)?;
        let issuer = definition.id.split('#').next().unwrap_or(&definition.id);
        let mut subject = Map::new();
        for (value, spec) in self.values.iter().zip(&definition.schema.attributes) {
            subject.insert(spec.name.clone(), claim(value, spec.kind));
        }
        let signature =
            base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(to_bytes(&self.signature));
        Ok(json!({
            "@context": [CONTEXT_V2, {"@vocab": "urn:salus:credentials:"}],
            "id": format!("urn:salus:credential:{}:{}", definition.id, self.index),
            "type": ["VerifiableCredential", definition.schema.id],
            "issuer": issuer,
            "credentialSchema": {
                "id": definition.id,
                "type": "SalusCredentialDefinition",
            },
            "credentialSubject": subject,
            "credentialStatus": {
                "id": format!("{}#revocation-{}", definition.id, self.index),
                "type": "SalusAccumulatorStatus",
                "statusRegistry": definition.id,
                "statusIndex": self.index,
            },
            "proof": {
                "type": "DataIntegrityProof",
                "cryptosuite": CRYPTOSUITE,
                "verificationMethod": definition.id,
                "proofPurpose": "assertionMethod",
                // Multibase: `u` is base64url without padding.
                "proofValue": format!("u{signature}"),
            },
        }))
    }
}
