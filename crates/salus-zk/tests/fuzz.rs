//! Hostile bytes against the decoders and the verifier: every outcome is a
//! typed error, never a panic and never an acceptance.

use std::sync::OnceLock;

use proptest::prelude::*;
use salus_zk::{
    AttributeKind as Kind, AttributeValue as V, CredentialDefinition, Issuer, Predicate,
    Presentation, PresentationRequest, PublicSet, RevocationStatus, Schema,
};

struct Fixture {
    definition: CredentialDefinition,
    request: PresentationRequest,
    status: RevocationStatus,
    set: PublicSet,
    presentation: Presentation,
}

/// One valid presentation with two ranges and a set predicate (a proof in
/// two parts), built once.
fn fixture() -> &'static Fixture {
    static FIXTURE: OnceLock<Fixture> = OnceLock::new();
    FIXTURE.get_or_init(|| {
        let schema = Schema::new(
            "fuzz-v1",
            &[
                ("code", Kind::Text),
                ("when", Kind::Date),
                ("count", Kind::Integer),
            ],
        )
        .unwrap();
        let mut issuer = Issuer::new("did:salus:fuzz#v1", schema, 4).unwrap();
        let credential = issuer
            .issue(vec![
                V::Text("b".into()),
                V::Date(2024_01_01),
                V::Integer(7),
            ])
            .unwrap();
        let set = PublicSet::publish("codes", &["a", "b", "c"]).unwrap();
        let definition = issuer.definition().clone();
        let request = PresentationRequest {
            definition: definition.id.clone(),
            nonce: vec![9; 32],
            reveal: vec![],
            predicates: vec![
                Predicate::InSet {
                    attribute: "code".into(),
                    set: "codes".into(),
                },
                Predicate::AtLeast {
                    attribute: "when".into(),
                    min: V::Date(2023_01_01),
                },
                Predicate::AtMost {
                    attribute: "count".into(),
                    max: V::Integer(100),
                },
            ],
            check_revocation: true,
        };
        let status = issuer.status();
        let presentation =
            Presentation::create(&credential, &definition, &request, &status, &[&set]).unwrap();
        presentation
            .verify(&definition, &request, &status, &[&set])
            .unwrap();
        Fixture {
            definition,
            request,
            status,
            set,
            presentation,
        }
    })
}

fn verify(proof: Vec<u8>) -> Result<(), salus_zk::ZkError> {
    let f = fixture();
    let mut presentation = f.presentation.clone();
    presentation.proof = proof;
    presentation.verify(&f.definition, &f.request, &f.status, &[&f.set])
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    #[test]
    fn flipped_bytes_never_verify(at in any::<prop::sample::Index>(), mask in 1u8..=255) {
        let mut proof = fixture().presentation.proof.clone();
        let i = at.index(proof.len());
        proof[i] ^= mask;
        prop_assert!(verify(proof).is_err());
    }

    #[test]
    fn truncated_or_extended_proofs_never_verify(cut in any::<prop::sample::Index>(), tail in prop::collection::vec(any::<u8>(), 1..64)) {
        let proof = fixture().presentation.proof.clone();
        let short = proof[..cut.index(proof.len())].to_vec();
        prop_assert!(verify(short).is_err());
        let mut long = proof;
        long.extend(tail);
        prop_assert!(verify(long).is_err());
    }

    #[test]
    fn random_proofs_never_verify(bytes in prop::collection::vec(any::<u8>(), 0..8192)) {
        prop_assert!(verify(bytes).is_err());
    }

    #[test]
    fn random_json_never_panics(text in "\\PC{0,400}") {
        let _ = serde_json::from_str::<Presentation>(&text);
        let _ = serde_json::from_str::<CredentialDefinition>(&text);
        let _ = serde_json::from_str::<PublicSet>(&text);
        let _ = serde_json::from_str::<PresentationRequest>(&text);
    }
}

#[test]
fn spliced_statement_proofs_never_verify() {
    // A well-formed proof of another presentation (other nonce) is rejected.
    let f = fixture();
    let mut request = f.request.clone();
    request.nonce = vec![8; 32];
    assert!(verify(f.presentation.proof.iter().rev().copied().collect()).is_err());
    let mut relabelled = f.presentation.clone();
    relabelled.nonce = request.nonce.clone();
    assert!(relabelled
        .verify(&f.definition, &request, &f.status, &[&f.set])
        .is_err());
}
