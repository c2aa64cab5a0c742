//! Presentation requests, and the single proof that answers one.
//!
//! Prover and verifier build the same proof specification from the same
//! public inputs (definition, request, revocation status, sets); only the
//! signature statement differs (the verifier adds the issuer's key). The
//! specification is never taken from the prover.
//!
//! Statement layout: 0 = knowledge of the BBS signature with the disclosed
//! messages; then, if the request checks revocation, the hidden credential
//! id is in the revocation accumulator; then one statement per predicate,
//! each tied to its hidden attribute by a witness equality.

use std::collections::{BTreeMap, BTreeSet};
use std::panic::{catch_unwind, AssertUnwindSafe};

use blake2::{Blake2b512, Digest as _};
use proof_system::meta_statement::{EqualWitnesses, MetaStatements};
use proof_system::proof::Proof;
use proof_system::proof_spec::ProofSpec;
use proof_system::setup_params::SetupParams;
use proof_system::statement::accumulator::cdh::{
    VBAccumulatorMembershipCDHProver, VBAccumulatorMembershipCDHVerifier,
};
use proof_system::statement::bbs_23::{PoKBBSSignature23G1Prover, PoKBBSSignature23G1Verifier};
use proof_system::statement::bound_check_smc::BoundCheckSmc;
use proof_system::statement::{Statement, Statements};
use proof_system::verifier::VerifierConfig;
use proof_system::witness::{Membership, PoKBBSSignature23G1, Witness, Witnesses};
use rand::SeedableRng as _;
use serde::{Deserialize, Serialize};

use crate::attributes::{AttributeKind, AttributeValue};
use crate::codec::{from_bytes, hex_bytes, to_bytes};
use crate::credential::{Credential, CredentialDefinition, RESERVED_MESSAGES};
use crate::revocation::{accumulator_params, RevocationStatus};
use crate::{Curve, PublicSet, Scalar, ZkError, G1};

/// Every pairing check of a proof folded into one multi-pairing with random
/// weights, instead of one final exponentiation per check.
const BATCHED: VerifierConfig = VerifierConfig {
    use_lazy_randomized_pairing_checks: Some(true),
};

/// Bounds on what one request may ask, so verification cost is bounded.
pub const MAX_PREDICATES: usize = 16;
pub const MIN_NONCE_BYTES: usize = 16;
pub const MAX_NONCE_BYTES: usize = 256;

/// A claim about a hidden attribute.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "type")]
pub enum Predicate {
    /// `attribute ≥ min`.
    AtLeast {
        attribute: String,
        min: AttributeValue,
    },
    /// `attribute ≤ max`.
    AtMost {
        attribute: String,
        max: AttributeValue,
    },
    /// `min ≤ attribute ≤ max`.
    Between {
        attribute: String,
        min: AttributeValue,
        max: AttributeValue,
    },
    /// The (text) attribute is one of the published set's elements.
    InSet { attribute: String, set: String },
}

impl Predicate {
    pub fn attribute(&self) -> &str {
        match self {
            Predicate::AtLeast { attribute, .. }
            | Predicate::AtMost { attribute, .. }
            | Predicate::Between { attribute, .. }
            | Predicate::InSet { attribute, .. } => attribute,
        }
    }

    /// "At least `years` old on `today`" (YYYYMMDD) about a birth date: the
    /// birth date is on or before the same day `years` earlier (28 February
    /// for a 29 February that year lacks).
    pub fn older_than(
        attribute: impl Into<String>,
        years: u32,
        today: u32,
    ) -> Result<Predicate, ZkError> {
        let year = (today / 10_000)
            .checked_sub(years)
            .filter(|y| *y >= 1800)
            .ok_or_else(|| {
                ZkError::BadRequest(format!("{years} years before {today} is out of range"))
            })?;
        let month_day = today % 10_000;
        let mut cutoff = year * 10_000 + month_day;
        let leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;
        if month_day == 229 && !leap {
            cutoff = year * 10_000 + 228;
        }
        Ok(Predicate::AtMost {
            attribute: attribute.into(),
            max: AttributeValue::Date(cutoff),
        })
    }

    /// The proven range `[min, max)` over the attribute's encoding.
    fn range(&self, kind: AttributeKind) -> Result<Option<(u64, u64)>, ZkError> {
        let bound = |value: &AttributeValue| -> Result<u64, ZkError> {
            value.encode(kind).map_err(|e| {
                ZkError::BadRequest(format!("predicate on `{}`: {e}", self.attribute()))
            })?;
            value.ordinal().ok_or_else(|| {
                ZkError::BadRequest(format!("`{}` is not comparable", self.attribute()))
            })
        };
        let (low, high) = kind.domain();
        let (min, max) = match self {
            Predicate::AtLeast { min, .. } => (bound(min)?, high),
            Predicate::AtMost { max, .. } => (low, bound(max)?),
            Predicate::Between { min, max, .. } => (bound(min)?, bound(max)?),
            Predicate::InSet { .. } => return Ok(None),
        };
        if min > max {
            return Err(ZkError::BadRequest(format!(
                "predicate on `{}` has an empty range",
                self.attribute()
            )));
        }
        Ok(Some((min, max + 1)))
    }

    fn holds(
        &self,
        value: &AttributeValue,
        range: Option<(u64, u64)>,
        set: Option<&PublicSet>,
    ) -> bool {
        match (range, set, value) {
            (Some((min, end)), _, value) => value.ordinal().is_some_and(|v| min <= v && v < end),
            (None, Some(set), AttributeValue::Text(text)) => set.contains(text),
            _ => false,
        }
    }
}

/// What a verifier asks for. The nonce makes every presentation single-use:
/// a presentation for one nonce never verifies for another.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PresentationRequest {
    pub definition: String,
    #[serde(with = "hex_bytes")]
    pub nonce: Vec<u8>,
    /// Attributes to disclose.
    #[serde(default)]
    pub reveal: Vec<String>,
    #[serde(default)]
    pub predicates: Vec<Predicate>,
    /// Prove the credential is not revoked at the current epoch. On unless
    /// a verifier explicitly accepts revoked credentials.
    #[serde(default = "yes")]
    pub check_revocation: bool,
}

fn yes() -> bool {
    true
}

/// A request checked against a definition.
struct Plan<'a> {
    check_revocation: bool,
    revealed: Vec<(usize, &'a str, AttributeKind)>,
    predicates: Vec<Planned<'a>>,
}

struct Planned<'a> {
    predicate: &'a Predicate,
    /// Attribute index in the schema.
    index: usize,
    range: Option<(u64, u64)>,
    set: Option<&'a PublicSet>,
}

impl PresentationRequest {
    fn plan<'a>(
        &'a self,
        definition: &CredentialDefinition,
        sets: &[&'a PublicSet],
    ) -> Result<Plan<'a>, ZkError> {
        if self.definition != definition.id {
            return Err(ZkError::WrongDefinition {
                expected: definition.id.clone(),
                presented: self.definition.clone(),
            });
        }
        if !(MIN_NONCE_BYTES..=MAX_NONCE_BYTES).contains(&self.nonce.len()) {
            return Err(ZkError::BadRequest(format!(
                "a nonce has {MIN_NONCE_BYTES} to {MAX_NONCE_BYTES} bytes"
            )));
        }
        if self.predicates.len() > MAX_PREDICATES {
            return Err(ZkError::BadRequest(format!(
                "at most {MAX_PREDICATES} predicates"
            )));
        }
        let mut revealed = Vec::new();
        for name in &self.reveal {
            let (index, kind) = definition.schema.attribute(name)?;
            if revealed.iter().any(|(i, _, _)| *i == index) {
                return Err(ZkError::BadRequest(format!("`{name}` is disclosed twice")));
            }
            revealed.push((index, name.as_str(), kind));
        }
        let mut predicates = Vec::new();
        for predicate in &self.predicates {
            let (index, kind) = definition.schema.attribute(predicate.attribute())?;
            if revealed.iter().any(|(i, _, _)| *i == index) {
                return Err(ZkError::BadRequest(format!(
                    "`{}` is both disclosed and hidden behind a predicate",
                    predicate.attribute()
                )));
            }
            let set = match predicate {
                Predicate::InSet { set, .. } => {
                    if kind != AttributeKind::Text {
                        return Err(ZkError::BadRequest(format!(
                            "set membership needs a text attribute, `{}` is not",
                            predicate.attribute()
                        )));
                    }
                    Some(
                        *sets
                            .iter()
                            .find(|s| s.id == *set)
                            .ok_or_else(|| ZkError::UnknownSet(set.clone()))?,
                    )
                }
                _ => {
                    if !kind.is_ordered() {
                        return Err(ZkError::BadRequest(format!(
                            "`{}` is text: it has no order",
                            predicate.attribute()
                        )));
                    }
                    None
                }
            };
            predicates.push(Planned {
                predicate,
                index,
                range: predicate.range(kind)?,
                set,
            });
        }
        Ok(Plan {
            check_revocation: self.check_revocation,
            revealed,
            predicates,
        })
    }
}

/// The holder's answer: the disclosed values and one proof of everything else.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Presentation {
    pub definition: String,
    #[serde(with = "hex_bytes")]
    pub nonce: Vec<u8>,
    pub revealed: BTreeMap<String, AttributeValue>,
    /// The revocation epoch the proof was made at.
    pub revocation_epoch: u64,
    #[serde(with = "hex_bytes")]
    pub proof: Vec<u8>,
}

enum Side {
    Prover,
    Verifier,
}

fn context(definition: &CredentialDefinition) -> Vec<u8> {
    let mut context = b"salus-zk/presentation/v1\0".to_vec();
    context.extend_from_slice(definition.id.as_bytes());
    context
}

/// "This hidden value is in the accumulator": the CDH-based protocol, whose
/// prover needs no pairing and whose verifier needs one.
fn membership(side: &Side, accumulator: usize, public_key: usize, value: G1) -> Statement<Curve> {
    match side {
        Side::Prover => VBAccumulatorMembershipCDHProver::new(value),
        Side::Verifier => VBAccumulatorMembershipCDHVerifier::new_statement_from_params_ref(
            accumulator,
            public_key,
            value,
        ),
    }
}

/// The proof specification both sides build.
fn specification(
    definition: &CredentialDefinition,
    plan: &Plan<'_>,
    revealed: BTreeMap<usize, Scalar>,
    status: &RevocationStatus,
    side: Side,
) -> Result<ProofSpec<Curve>, ZkError> {
    const RANGE: usize = 0;
    const ACCUMULATOR: usize = 1;
    const REVOCATION_KEY: usize = 2;
    let mut setup = vec![
        SetupParams::SmcParamsAndCommKey(definition.range_params.clone()),
        SetupParams::VbAccumulatorParams(accumulator_params().clone()),
        SetupParams::VbAccumulatorPublicKey(definition.revocation_key.clone()),
    ];
    let mut statements = Statements::<Curve>::new();
    let params = definition.signature_params().clone();
    statements.add(match side {
        Side::Prover => PoKBBSSignature23G1Prover::new_statement_from_params(params, revealed),
        Side::Verifier => PoKBBSSignature23G1Verifier::new_statement_from_params(
            params,
            definition.public_key.clone(),
            revealed,
        ),
    });
    let mut meta = MetaStatements::new();
    if plan.check_revocation {
        let at = statements.add(membership(&side, ACCUMULATOR, REVOCATION_KEY, status.value));
        meta.add_witness_equality(EqualWitnesses(BTreeSet::from([(0, 0), (at, 0)])));
    }
    for planned in &plan.predicates {
        let statement = match (planned.range, planned.set) {
            (Some((min, end)), _) => BoundCheckSmc::new_statement_from_params_ref(min, end, RANGE)?,
            (None, Some(set)) => {
                setup.push(SetupParams::VbAccumulatorPublicKey(set.public_key.clone()));
                membership(&side, ACCUMULATOR, setup.len() - 1, set.value)
            }
            (None, None) => unreachable!("plan() gives every predicate a range or a set"),
        };
        let at = statements.add(statement);
        meta.add_witness_equality(EqualWitnesses(BTreeSet::from([
            (0, RESERVED_MESSAGES + planned.index),
            (at, 0),
        ])));
    }
    let spec = ProofSpec::new(statements, meta, setup, Some(context(definition)));
    spec.validate()?;
    Ok(spec)
}

impl Presentation {
    /// Answers `request` with `credential`. Fails, before any proving, if
    /// the credential does not satisfy the request.
    pub fn create(
        credential: &Credential,
        definition: &CredentialDefinition,
        request: &PresentationRequest,
        status: &RevocationStatus,
        sets: &[&PublicSet],
    ) -> Result<Presentation, ZkError> {
        let plan = request.plan(definition, sets)?;
        if credential.definition != definition.id {
            return Err(ZkError::WrongDefinition {
                expected: definition.id.clone(),
                presented: credential.definition.clone(),
            });
        }
        if plan.check_revocation && credential.epoch != status.epoch {
            return Err(ZkError::StaleRevocation {
                presented: credential.epoch,
                current: status.epoch,
            });
        }
        let messages = credential.messages(definition)?;
        for planned in &plan.predicates {
            let value = &credential.values[planned.index];
            if !planned.predicate.holds(value, planned.range, planned.set) {
                return Err(ZkError::Unsatisfied(format!("{:?}", planned.predicate)));
            }
        }
        let mut revealed_values = BTreeMap::new();
        let mut revealed = BTreeMap::from([(1, messages[1])]);
        for (index, name, _) in &plan.revealed {
            revealed.insert(
                RESERVED_MESSAGES + index,
                messages[RESERVED_MESSAGES + index],
            );
            revealed_values.insert((*name).to_owned(), credential.values[*index].clone());
        }
        let hidden: BTreeMap<usize, Scalar> = messages
            .iter()
            .enumerate()
            .filter(|(i, _)| !revealed.contains_key(i))
            .map(|(i, m)| (i, *m))
            .collect();
        let spec = specification(definition, &plan, revealed, status, Side::Prover)?;

        let mut witnesses = Witnesses::<Curve>::new();
        witnesses.add(PoKBBSSignature23G1::new_as_witness(
            credential.signature.clone(),
            hidden,
        ));
        if plan.check_revocation {
            witnesses.add(Membership::new_as_witness(
                messages[0],
                credential.witness.clone(),
            ));
        }
        for planned in &plan.predicates {
            let message = messages[RESERVED_MESSAGES + planned.index];
            witnesses.add(
                match (
                    planned.range,
                    planned.set,
                    &credential.values[planned.index],
                ) {
                    (Some(_), _, _) => Witness::BoundCheckSmc(message),
                    (None, Some(set), AttributeValue::Text(text)) => {
                        let witness = set.witness(text).ok_or_else(|| {
                            ZkError::Unsatisfied(format!("{:?}", planned.predicate))
                        })?;
                        Membership::new_as_witness(message, witness.clone())
                    }
                    _ => return Err(ZkError::Unsatisfied(format!("{:?}", planned.predicate))),
                },
            );
        }
        let (proof, _) = Proof::new::<_, Blake2b512>(
            &mut rand::rngs::OsRng,
            spec,
            witnesses,
            Some(request.nonce.clone()),
            Default::default(),
        )?;
        Ok(Presentation {
            definition: definition.id.clone(),
            nonce: request.nonce.clone(),
            revealed: revealed_values,
            revocation_epoch: status.epoch,
            proof: to_bytes(&proof),
        })
    }

    /// Verifies this presentation as the answer to `request`, against the
    /// current revocation `status`. Any failure is a typed error.
    pub fn verify(
        &self,
        definition: &CredentialDefinition,
        request: &PresentationRequest,
        status: &RevocationStatus,
        sets: &[&PublicSet],
    ) -> Result<(), ZkError> {
        let plan = request.plan(definition, sets)?;
        if self.definition != definition.id {
            return Err(ZkError::WrongDefinition {
                expected: definition.id.clone(),
                presented: self.definition.clone(),
            });
        }
        if self.nonce != request.nonce {
            return Err(ZkError::NonceMismatch);
        }
        if plan.check_revocation && self.revocation_epoch != status.epoch {
            return Err(ZkError::StaleRevocation {
                presented: self.revocation_epoch,
                current: status.epoch,
            });
        }
        if self.revealed.len() != plan.revealed.len() {
            return Err(ZkError::DisclosureMismatch);
        }
        let mut revealed = BTreeMap::from([(1, definition.definition_scalar())]);
        for (index, name, kind) in &plan.revealed {
            let value = self
                .revealed
                .get(*name)
                .ok_or(ZkError::DisclosureMismatch)?;
            revealed.insert(RESERVED_MESSAGES + index, value.encode(*kind)?);
        }
        let spec = specification(definition, &plan, revealed, status, Side::Verifier)?;
        let proof: Proof<Curve> = from_bytes("proof", &self.proof)?;
        if proof.statement_proofs.len() != spec.statements.len() {
            return Err(ZkError::InvalidProof);
        }
        // Verification batches pairing checks with random weights; seeding
        // them from the proof keeps verification a pure function (the chain
        // verifies presentations inside its state machine).
        let seed: [u8; 32] = Blake2b512::digest(&self.proof)[..32]
            .try_into()
            .expect("a 64-byte digest has 32 leading bytes");
        let mut rng = rand::rngs::StdRng::from_seed(seed);
        let nonce = Some(self.nonce.clone());
        let outcome = catch_unwind(AssertUnwindSafe(|| {
            proof.verify::<_, Blake2b512>(&mut rng, spec, nonce, BATCHED)
        }));
        match outcome {
            Ok(Ok(())) => Ok(()),
            Ok(Err(_)) | Err(_) => Err(ZkError::InvalidProof),
        }
    }
}
