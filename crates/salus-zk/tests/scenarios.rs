//! The credential scenarios end to end: a medical license, an immunization
//! record, revocation, and every way a presentation can be wrong.

use salus_zk::{
    catalog, AttributeValue as V, Credential, CredentialDefinition, Issuer, Predicate,
    Presentation, PresentationRequest, PublicSet, RevocationStatus, ZkError,
};

fn immunization_issuer() -> Issuer {
    Issuer::new(
        "did:salus:hospital#immunization-v1",
        catalog::immunization(),
        64,
    )
    .unwrap()
}

fn immunization(issuer: &mut Issuer, birth: u32, code: &str, date: u32) -> Credential {
    let credential = issuer
        .issue(vec![
            V::Text("Ada Lovelace".into()),
            V::Date(birth),
            V::Text(code.into()),
            V::Date(date),
            V::Text("LOT-4471".into()),
            V::Decimal(30),
        ])
        .unwrap();
    credential.verify(issuer.definition()).unwrap();
    credential
}

fn nonce(tag: u8) -> Vec<u8> {
    vec![tag; 32]
}

fn covid_codes() -> PublicSet {
    PublicSet::publish("cvx-covid-19", catalog::COVID19_CVX).unwrap()
}

/// "Vaccinated with a COVID-19 vaccine on or after 2021-06-01, and at least
/// 18 on 2026-11-22", disclosing nothing else.
fn vaccination_request(definition: &CredentialDefinition, tag: u8) -> PresentationRequest {
    PresentationRequest {
        definition: definition.id.clone(),
        nonce: nonce(tag),
        reveal: vec![],
        predicates: vec![
            Predicate::InSet {
                attribute: "vaccine_code".into(),
                set: "cvx-covid-19".into(),
            },
            Predicate::AtLeast {
                attribute: "occurrence_date".into(),
                min: V::Date(2021_06_01),
            },
            Predicate::older_than("birth_date", 18, 2026_11_22).unwrap(),
        ],
        check_revocation: true,
    }
}

#[test]
fn immunization_proves_code_date_and_age_without_revealing_them() {
    let mut issuer = immunization_issuer();
    let credential = immunization(&mut issuer, 1990_04_12, "208", 2021_09_30);
    let set = covid_codes();
    let definition = issuer.definition().clone();
    let request = vaccination_request(&definition, 1);
    let status = issuer.status();
    let presentation =
        Presentation::create(&credential, &definition, &request, &status, &[&set]).unwrap();
    presentation
        .verify(&definition, &request, &status, &[&set])
        .unwrap();

    // Nothing identifying travels: no name, birth date, vaccination date or lot.
    assert!(presentation.revealed.is_empty());
    // (The proof is hex, where short digit strings occur by chance, so the
    // digits are checked in everything but the proof.)
    let wire = serde_json::to_string(&presentation).unwrap();
    let mut without_proof = presentation.clone();
    without_proof.proof.clear();
    let envelope = serde_json::to_string(&without_proof).unwrap();
    for secret in ["Ada", "Lovelace", "LOT-4471"] {
        assert!(!wire.contains(secret), "the presentation leaks {secret}");
    }
    for secret in ["1990", "0412", "2021", "0930", "208"] {
        assert!(
            !envelope.contains(secret),
            "the presentation leaks {secret}"
        );
    }
    // And it survives the wire.
    let back: Presentation = serde_json::from_str(&wire).unwrap();
    back.verify(&definition, &request, &status, &[&set])
        .unwrap();
}

#[test]
fn unsatisfied_predicates_are_refused_before_proving() {
    let mut issuer = immunization_issuer();
    let set = covid_codes();
    let definition = issuer.definition().clone();
    let request = vaccination_request(&definition, 2);
    let status = issuer.status();
    let cases = [
        immunization(&mut issuer, 2012_01_01, "208", 2021_09_30), // a minor
        immunization(&mut issuer, 1990_04_12, "141", 2021_09_30), // influenza, not COVID
        immunization(&mut issuer, 1990_04_12, "208", 2021_05_31), // a day too early
    ];
    for credential in &cases {
        let err =
            Presentation::create(credential, &definition, &request, &status, &[&set]).unwrap_err();
        assert!(matches!(err, ZkError::Unsatisfied(_)), "{err}");
    }
    // The age boundary is exact: 18 today passes.
    let birthday = immunization(&mut issuer, 2008_11_22, "208", 2021_09_30);
    Presentation::create(&birthday, &definition, &request, &status, &[&set]).unwrap();
}

#[test]
fn a_presentation_answers_one_nonce_only() {
    let mut issuer = immunization_issuer();
    let credential = immunization(&mut issuer, 1990_04_12, "208", 2021_09_30);
    let set = covid_codes();
    let definition = issuer.definition().clone();
    let status = issuer.status();
    let first = vaccination_request(&definition, 3);
    let presentation =
        Presentation::create(&credential, &definition, &first, &status, &[&set]).unwrap();

    let second = vaccination_request(&definition, 4);
    assert_eq!(
        presentation.verify(&definition, &second, &status, &[&set]),
        Err(ZkError::NonceMismatch)
    );
    // Relabelled with the new nonce, the proof still answers the old one.
    let mut relabelled = presentation.clone();
    relabelled.nonce = second.nonce.clone();
    assert_eq!(
        relabelled.verify(&definition, &second, &status, &[&set]),
        Err(ZkError::InvalidProof)
    );
}

fn license_issuer() -> Issuer {
    Issuer::new(
        "did:salus:medical-board#license-v1",
        catalog::medical_license(),
        16,
    )
    .unwrap()
}

fn license(issuer: &mut Issuer, holder: &str, specialty: &str) -> Credential {
    issuer
        .issue(vec![
            V::Text(holder.into()),
            V::Text("Dr. Example".into()),
            V::Text(specialty.into()),
            V::Text("MB-2231".into()),
            V::Date(2030_12_31),
        ])
        .unwrap()
}

fn license_request(definition: &CredentialDefinition, tag: u8) -> PresentationRequest {
    PresentationRequest {
        definition: definition.id.clone(),
        nonce: nonce(tag),
        reveal: vec!["holder_did".into(), "specialty".into()],
        predicates: vec![Predicate::AtLeast {
            attribute: "valid_until".into(),
            min: V::Date(2026_11_22),
        }],
        check_revocation: true,
    }
}

#[test]
fn a_license_proves_specialty_and_validity_until_revoked() {
    let mut board = license_issuer();
    let mut cardiologist = license(&mut board, "did:salus:aa", "cardiology");
    let mut other = license(&mut board, "did:salus:bb", "oncology");
    let definition = board.definition().clone();
    let request = license_request(&definition, 5);
    let before = board.status();
    let presentation =
        Presentation::create(&cardiologist, &definition, &request, &before, &[]).unwrap();
    presentation
        .verify(&definition, &request, &before, &[])
        .unwrap();
    assert_eq!(
        presentation.revealed["specialty"],
        V::Text("cardiology".into())
    );
    assert!(!serde_json::to_string(&presentation)
        .unwrap()
        .contains("MB-2231"));

    // The board revokes the oncologist's license.
    let update = board.revoke(other.index).unwrap();
    let after = board.status();
    assert_eq!(update.status(), after);
    // Old presentations are now stale, even the cardiologist's.
    assert!(matches!(
        presentation.verify(&definition, &request, &after, &[]),
        Err(ZkError::StaleRevocation {
            presented: 0,
            current: 1
        })
    ));
    // A holder that has not caught up cannot present.
    assert!(matches!(
        Presentation::create(&cardiologist, &definition, &request, &after, &[]),
        Err(ZkError::StaleRevocation { .. })
    ));
    // The cardiologist applies the published update and presents again.
    cardiologist.apply(std::slice::from_ref(&update)).unwrap();
    let fresh = Presentation::create(&cardiologist, &definition, &request, &after, &[]).unwrap();
    fresh.verify(&definition, &request, &after, &[]).unwrap();
    // The revoked holder cannot catch up.
    assert_eq!(
        other.apply(std::slice::from_ref(&update)),
        Err(ZkError::Revoked)
    );
    // Even if it claims the new epoch, its witness is for a value without it.
    other.epoch = after.epoch;
    let forged = Presentation::create(&other, &definition, &request, &after, &[]).unwrap();
    assert_eq!(
        forged.verify(&definition, &request, &after, &[]),
        Err(ZkError::InvalidProof)
    );
    // A verifier that explicitly does not care about revocation accepts it.
    let mut lax = request.clone();
    lax.check_revocation = false;
    let lax_presentation = Presentation::create(&other, &definition, &lax, &after, &[]).unwrap();
    lax_presentation
        .verify(&definition, &lax, &after, &[])
        .unwrap();
    // Nor can the issuer refresh it.
    assert_eq!(board.refresh(&mut other), Err(ZkError::Revoked));
    assert_eq!(board.revoke(other.index), Err(ZkError::Revoked));
}

#[test]
fn presentations_cannot_be_altered_or_moved() {
    let mut board = license_issuer();
    let credential = license(&mut board, "did:salus:aa", "cardiology");
    let definition = board.definition().clone();
    let request = license_request(&definition, 6);
    let status = board.status();
    let presentation =
        Presentation::create(&credential, &definition, &request, &status, &[]).unwrap();

    // A disclosed value changed after proving.
    let mut altered = presentation.clone();
    altered
        .revealed
        .insert("specialty".into(), V::Text("neurosurgery".into()));
    assert_eq!(
        altered.verify(&definition, &request, &status, &[]),
        Err(ZkError::InvalidProof)
    );
    // A disclosed value dropped, or one added.
    let mut dropped = presentation.clone();
    dropped.revealed.remove("specialty");
    assert_eq!(
        dropped.verify(&definition, &request, &status, &[]),
        Err(ZkError::DisclosureMismatch)
    );
    // A weaker request than the one proven.
    let mut weaker = request.clone();
    weaker.predicates[0] = Predicate::AtLeast {
        attribute: "valid_until".into(),
        min: V::Date(2020_01_01),
    };
    assert_eq!(
        presentation.verify(&definition, &weaker, &status, &[]),
        Err(ZkError::InvalidProof)
    );
    // The same credential shape from another issuer (an impostor board).
    let impostor = license_issuer();
    let mut foreign = impostor.definition().clone();
    foreign.id = definition.id.clone();
    assert_eq!(
        presentation.verify(&foreign, &request, &status, &[]),
        Err(ZkError::InvalidProof)
    );
    // A request for another definition.
    let mut elsewhere = request.clone();
    elsewhere.definition = "did:salus:other#license-v1".into();
    assert!(matches!(
        presentation.verify(&definition, &elsewhere, &status, &[]),
        Err(ZkError::WrongDefinition { .. })
    ));
}

/// The proof's parts and their link, as `Presentation::create` encodes
/// them.
type Parts = (Option<ark_bls12_381::G1Affine>, Vec<Vec<u8>>);

fn parts(presentation: &Presentation) -> Parts {
    use ark_serialize::CanonicalDeserialize as _;
    Parts::deserialize_compressed(&mut presentation.proof.as_slice()).unwrap()
}

fn with_parts(presentation: &Presentation, parts: &Parts) -> Presentation {
    use ark_serialize::CanonicalSerialize as _;
    let mut proof = Vec::new();
    parts.serialize_compressed(&mut proof).unwrap();
    Presentation {
        proof,
        ..presentation.clone()
    }
}

#[test]
fn parts_of_a_split_proof_bind_to_one_credential() {
    let mut hospital = immunization_issuer();
    let alice = immunization(&mut hospital, 1990_04_12, "208", 2021_09_30);
    let bob = immunization(&mut hospital, 1985_01_02, "207", 2022_03_15);
    let definition = hospital.definition().clone();
    let status = hospital.status();
    let codes = covid_codes();
    let request = vaccination_request(&definition, 12);
    let prove = |credential| {
        Presentation::create(credential, &definition, &request, &status, &[&codes]).unwrap()
    };
    let (from_alice, from_bob) = (prove(&alice), prove(&bob));
    let verify = |p: &Presentation| p.verify(&definition, &request, &status, &[&codes]);
    let (a, b) = (parts(&from_alice), parts(&from_bob));
    assert_eq!(a.1.len(), 2, "three predicates and revocation split in two");
    assert!(
        a.0.is_some() && a.0 != b.0,
        "each presentation has its own link"
    );
    // Re-encoding the parts unchanged still verifies, so every rejection
    // below comes from the mix, not from the encoding.
    assert_eq!(verify(&with_parts(&from_alice, &a)), Ok(()));

    let mixes: [Parts; 5] = [
        (a.0, vec![a.1[0].clone(), b.1[1].clone()]),
        (b.0, vec![a.1[0].clone(), b.1[1].clone()]),
        (a.0, vec![a.1[1].clone(), a.1[0].clone()]),
        (None, vec![a.1[0].clone(), a.1[1].clone()]),
        (a.0, vec![a.1[0].clone()]),
    ];
    for mix in &mixes {
        assert_eq!(
            verify(&with_parts(&from_alice, mix)),
            Err(ZkError::InvalidProof)
        );
    }
}

#[test]
fn bad_requests_get_typed_errors() {
    let mut board = license_issuer();
    let credential = license(&mut board, "did:salus:aa", "cardiology");
    let definition = board.definition().clone();
    let status: RevocationStatus = board.status();
    let base = license_request(&definition, 7);
    let attempt = |request: PresentationRequest| {
        Presentation::create(&credential, &definition, &request, &status, &[]).unwrap_err()
    };
    let mut r = base.clone();
    r.nonce = vec![1; 3];
    assert!(matches!(attempt(r), ZkError::BadRequest(_)));
    let mut r = base.clone();
    r.reveal.push("nope".into());
    assert!(matches!(attempt(r), ZkError::UnknownAttribute(_)));
    let mut r = base.clone();
    r.predicates.push(Predicate::AtLeast {
        attribute: "specialty".into(),
        min: V::Integer(1),
    });
    assert!(matches!(attempt(r), ZkError::BadRequest(_)));
    let mut r = base.clone();
    r.predicates.push(Predicate::InSet {
        attribute: "full_name".into(),
        set: "unpublished".into(),
    });
    assert!(matches!(attempt(r), ZkError::UnknownSet(_)));
    let mut r = base.clone();
    r.predicates.push(Predicate::Between {
        attribute: "valid_until".into(),
        min: V::Date(2030_01_01),
        max: V::Date(2029_01_01),
    });
    assert!(matches!(attempt(r), ZkError::BadRequest(_)));
    let mut r = base.clone();
    r.predicates.push(Predicate::AtLeast {
        attribute: "specialty".into(),
        min: V::Text("x".into()),
    });
    assert!(matches!(attempt(r), ZkError::BadRequest(_)));
    let mut r = base;
    r.predicates.push(Predicate::AtLeast {
        attribute: "holder_did".into(),
        min: V::Text("x".into()),
    });
    assert!(matches!(attempt(r), ZkError::BadRequest(_)));
}

#[test]
fn public_parts_round_trip_and_validate() {
    let mut board = license_issuer();
    let credential = license(&mut board, "did:salus:aa", "cardiology");
    let definition: CredentialDefinition =
        serde_json::from_str(&serde_json::to_string(board.definition()).unwrap()).unwrap();
    definition.validate().unwrap();
    let credential: Credential =
        serde_json::from_str(&serde_json::to_string(&credential).unwrap()).unwrap();
    credential.verify(&definition).unwrap();
    let set = covid_codes();
    let set: PublicSet = serde_json::from_str(&serde_json::to_string(&set).unwrap()).unwrap();
    set.validate().unwrap();
    // The issuer's secrets survive storage too (the caller encrypts them).
    let mut restored: Issuer =
        serde_json::from_str(&serde_json::to_string(&board).unwrap()).unwrap();
    let next = license(&mut restored, "did:salus:cc", "oncology");
    next.verify(&definition).unwrap();
    assert_eq!(next.index, 1);
    // A credential whose values were edited no longer verifies.
    let mut edited = credential.clone();
    edited.values[2] = V::Text("neurosurgery".into());
    assert_eq!(edited.verify(&definition), Err(ZkError::InvalidSignature));
}

#[test]
fn credentials_export_as_w3c_verifiable_credentials() {
    let mut issuer = immunization_issuer();
    let credential = immunization(&mut issuer, 1990_04_12, "208", 2021_09_30);
    let vc = credential.to_w3c(issuer.definition()).unwrap();
    // The VC Data Model 2.0 shape: base context first, the base type, an
    // issuer URL, a subject, and a Data Integrity proof with a multibase value.
    assert_eq!(vc["@context"][0], salus_zk::CONTEXT_V2);
    assert_eq!(vc["type"][0], "VerifiableCredential");
    assert_eq!(vc["issuer"], "did:salus:hospital");
    assert_eq!(vc["credentialSubject"]["birth_date"], "1990-04-12");
    assert_eq!(vc["credentialSubject"]["vaccine_code"], "208");
    assert_eq!(vc["credentialSubject"]["dose_ml"], "0.30");
    assert_eq!(vc["proof"]["type"], "DataIntegrityProof");
    assert_eq!(vc["proof"]["cryptosuite"], salus_zk::CRYPTOSUITE);
    assert!(vc["proof"]["proofValue"].as_str().unwrap().starts_with('u'));
    assert_eq!(vc["credentialStatus"]["statusIndex"], credential.index);
    let other = immunization_issuer();
    assert!(
        credential.to_w3c(other.definition()).is_err()
            || other.definition().id == issuer.definition().id
    );
}
