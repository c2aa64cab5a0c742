//! The proof that answers a presentation request.
//!
//! Prover and verifier build the same proof specifications from the same
//! public inputs (definition, request, revocation status, sets); only the
//! signature statement differs (the verifier adds the issuer's key). No
//! specification is ever taken from the prover.
//!
//! A request with several costly statements is answered by two proofs
//! ("parts") that are made and checked on two cores at once. Each part
//! proves knowledge of the credential's signature and some of the
//! statements. A Pedersen commitment to the hidden credential id, shared
//! by both parts, ties them to one credential: the commitment is binding
//! and an issuer gives every credential its own id. Its randomness is fresh
//! for every presentation, so presentations stay unlinkable. How a plan
//! splits is a function of the plan alone, so both sides agree on it.
//!
//! Statement layout of a part: 0 = knowledge of the BBS signature with the
//! disclosed messages; then, if there are two parts, the link commitment
//! opens to the credential id; then the part's statements in plan order
//! (non-revocation first, then predicates), each tied to its hidden
//! attribute by a witness equality.

use std::cmp::Reverse;
use std::collections::{BTreeMap, BTreeSet};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::OnceLock;

use ark_ec::{AffineRepr as _, CurveGroup as _};
use ark_std::UniformRand as _;
use blake2::{Blake2b512, Digest as _};
use dock_crypto_utils::hashing_utils::affine_group_elem_from_try_and_incr;
use proof_system::meta_statement::{EqualWitnesses, MetaStatements};
use proof_system::proof::Proof;
use proof_system::proof_spec::ProofSpec;
use proof_system::setup_params::SetupParams;
use proof_system::statement::accumulator::cdh::{
    VBAccumulatorMembershipCDHProver, VBAccumulatorMembershipCDHVerifier,
};
use proof_system::statement::bbs_23::{PoKBBSSignature23G1Prover, PoKBBSSignature23G1Verifier};
use proof_system::statement::bound_check_smc::BoundCheckSmc;
use proof_system::statement::ped_comm::PedersenCommitment;
use proof_system::statement::{Statement, Statements};
use proof_system::verifier::VerifierConfig;
use proof_system::witness::{Membership, PoKBBSSignature23G1, Witness, Witnesses};
use rand::SeedableRng as _;
use serde::{Deserialize, Serialize};

use crate::attributes::AttributeValue;
use crate::codec::{from_bytes, hex_bytes, to_bytes};
use crate::credential::{Credential, CredentialDefinition, RANGE_BASE, RESERVED_MESSAGES};
use crate::request::{Plan, PresentationRequest};
use crate::revocation::{accumulator_params, RevocationStatus};
use crate::{Curve, PublicSet, Scalar, ZkError, G1};

/// Every pairing check of a proof folded into one multi-pairing with random
/// weights, instead of one final exponentiation per check.
const BATCHED: VerifierConfig = VerifierConfig {
    use_lazy_randomized_pairing_checks: Some(true),
};

/// The most parts a presentation has: the cores of the smallest machine
/// Salus is sized for. A constant, because prover and verifier must split
/// alike whatever machines they run on.
const MAX_PARTS: usize = 2;

/// Rough verification costs, in milliseconds on one core of the reference
/// machine (see `salus bench zk`). Only their ratios matter: they decide
/// whether a plan splits and how.
const SIGNATURE_COST: u64 = 8;
const MEMBERSHIP_COST: u64 = 3;
const RANGE_COST: u64 = 6;
const RANGE_DIGIT_COST: u64 = 3;

/// The holder's answer: the disclosed values and a proof of everything else.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Presentation {
    pub definition: String,
    #[serde(with = "hex_bytes")]
    pub nonce: Vec<u8>,
    pub revealed: BTreeMap<String, AttributeValue>,
    /// The revocation epoch the proof was made at.
    pub revocation_epoch: u64,
    /// The link commitment (if the proof has two parts) and each part's
    /// proof, in arkworks' compressed encoding.
    #[serde(with = "hex_bytes")]
    pub proof: Vec<u8>,
}

enum Side {
    Prover,
    Verifier,
}

/// One statement of a plan besides the signature.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Item {
    Revocation,
    /// Index into the plan's predicates.
    Predicate(usize),
}

/// Digits of a range proof over `width` values.
fn range_digits(width: u64) -> u64 {
    let base = u64::from(RANGE_BASE);
    let (mut digits, mut capacity) = (1, base);
    while capacity < width {
        capacity = capacity.saturating_mul(base);
        digits += 1;
    }
    digits
}

fn cost(plan: &Plan<'_>, item: Item) -> u64 {
    match item {
        Item::Revocation => MEMBERSHIP_COST,
        Item::Predicate(i) => match plan.predicates[i].range {
            Some((min, end)) => RANGE_COST + RANGE_DIGIT_COST * range_digits(end - min),
            None => MEMBERSHIP_COST,
        },
    }
}

/// The plan's statements, in parts: each statement, costliest first, goes
/// to the lighter part (the first on a tie). A second part repeats the
/// signature proof, so the split is kept only when it saves at least that
/// much time on the heavier part; otherwise everything is one part.
fn partition(plan: &Plan<'_>) -> Vec<Vec<Item>> {
    let mut items: Vec<Item> = plan
        .check_revocation
        .then_some(Item::Revocation)
        .into_iter()
        .chain((0..plan.predicates.len()).map(Item::Predicate))
        .collect();
    let total: u64 = items.iter().map(|item| cost(plan, *item)).sum();
    // Stable, so equal costs keep plan order.
    items.sort_by_key(|item| Reverse(cost(plan, *item)));
    let mut parts: Vec<(u64, Vec<Item>)> = vec![(0, Vec::new()); MAX_PARTS];
    for item in &items {
        let lightest = (0..MAX_PARTS)
            .min_by_key(|p| parts[*p].0)
            .expect("MAX_PARTS is positive");
        parts[lightest].0 += cost(plan, *item);
        parts[lightest].1.push(*item);
    }
    let heaviest = parts.iter().map(|(load, _)| *load).max().unwrap_or(0);
    if heaviest + SIGNATURE_COST > total {
        items.sort();
        return vec![items];
    }
    parts
        .into_iter()
        .map(|(_, mut part)| {
            part.sort();
            part
        })
        .collect()
}

/// The two generators of the link commitment, hashed to the curve so that
/// nobody knows a discrete log between them.
fn link_key() -> &'static [G1; 2] {
    static KEY: OnceLock<[G1; 2]> = OnceLock::new();
    KEY.get_or_init(|| {
        [
            affine_group_elem_from_try_and_incr::<G1, Blake2b512>(b"salus-zk/link/g"),
            affine_group_elem_from_try_and_incr::<G1, Blake2b512>(b"salus-zk/link/h"),
        ]
    })
}

/// Binds a part to its definition and its place, so parts cannot be
/// swapped or lifted into another presentation's shape.
fn context(definition: &CredentialDefinition, part: usize, parts: usize) -> Vec<u8> {
    let mut context = b"salus-zk/presentation/v2\0".to_vec();
    context.extend_from_slice(definition.id.as_bytes());
    context.push(0);
    context.extend_from_slice(&(part as u32).to_le_bytes());
    context.extend_from_slice(&(parts as u32).to_le_bytes());
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

/// Where a part sits in its presentation.
struct Place {
    index: usize,
    count: usize,
    /// The link commitment, when there are several parts.
    link: Option<G1>,
}

/// The proof specification of one part, which both sides build.
fn specification(
    definition: &CredentialDefinition,
    plan: &Plan<'_>,
    part: &[Item],
    place: &Place,
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
    if let Some(link) = place.link {
        let at = statements.add(PedersenCommitment::new_statement_from_params(
            link_key().to_vec(),
            link,
        ));
        meta.add_witness_equality(EqualWitnesses(BTreeSet::from([(0, 0), (at, 0)])));
    }
    for item in part {
        let (statement, message) = match *item {
            Item::Revocation => (
                membership(&side, ACCUMULATOR, REVOCATION_KEY, status.value),
                0,
            ),
            Item::Predicate(i) => {
                let planned = &plan.predicates[i];
                let statement = match (planned.range, planned.set) {
                    (Some((min, end)), _) => {
                        BoundCheckSmc::new_statement_from_params_ref(min, end, RANGE)?
                    }
                    (None, Some(set)) => {
                        setup.push(SetupParams::VbAccumulatorPublicKey(set.public_key.clone()));
                        membership(&side, ACCUMULATOR, setup.len() - 1, set.value)
                    }
                    (None, None) => unreachable!("plan() gives every predicate a range or a set"),
                };
                (statement, RESERVED_MESSAGES + planned.index)
            }
        };
        let at = statements.add(statement);
        meta.add_witness_equality(EqualWitnesses(BTreeSet::from([(0, message), (at, 0)])));
    }
    let spec = ProofSpec::new(
        statements,
        meta,
        setup,
        Some(context(definition, place.index, place.count)),
    );
    spec.validate()?;
    Ok(spec)
}

/// Runs `work` on every part at once and returns the results in part
/// order. Parts run as tasks of the same pool as the proof system's own
/// parallel loops, so neither blocks waiting for the other's threads.
fn on_each_part<T: Send, R: Send>(parts: Vec<T>, work: impl Fn(usize, T) -> R + Sync) -> Vec<R> {
    use rayon::prelude::*;
    parts
        .into_par_iter()
        .enumerate()
        .map(|(index, part)| work(index, part))
        .collect()
}

/// The wire form of a presentation's proof: the link commitment (with two
/// parts) and each part's proof, encoded separately so that parts decode
/// in parallel.
type Encoded = (Option<G1>, Vec<Vec<u8>>);

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
        definition.expect_id(&credential.definition)?;
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

        let parts = partition(&plan);
        let count = parts.len();
        let link = (count > 1).then(|| {
            let randomness = Scalar::rand(&mut rand::rngs::OsRng);
            let [g, h] = link_key();
            let commitment =
                (g.into_group() * messages[0] + h.into_group() * randomness).into_affine();
            (commitment, randomness)
        });
        let proofs = on_each_part(parts, |index, part| -> Result<Vec<u8>, ZkError> {
            let place = Place {
                index,
                count,
                link: link.map(|(commitment, _)| commitment),
            };
            let spec = specification(
                definition,
                &plan,
                &part,
                &place,
                revealed.clone(),
                status,
                Side::Prover,
            )?;
            let mut witnesses = Witnesses::<Curve>::new();
            witnesses.add(PoKBBSSignature23G1::new_as_witness(
                credential.signature.clone(),
                hidden.clone(),
            ));
            if let Some((_, randomness)) = link {
                witnesses.add(Witness::PedersenCommitment(vec![messages[0], randomness]));
            }
            for item in &part {
                witnesses.add(match *item {
                    Item::Revocation => {
                        Membership::new_as_witness(messages[0], credential.witness.clone())
                    }
                    Item::Predicate(i) => {
                        let planned = &plan.predicates[i];
                        let message = messages[RESERVED_MESSAGES + planned.index];
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
                            _ => {
                                return Err(ZkError::Unsatisfied(format!(
                                    "{:?}",
                                    planned.predicate
                                )))
                            }
                        }
                    }
                });
            }
            let (proof, _) = Proof::new::<_, Blake2b512>(
                &mut rand::rngs::OsRng,
                spec,
                witnesses,
                Some(request.nonce.clone()),
                Default::default(),
            )?;
            Ok(to_bytes(&proof))
        });
        let encoded: Encoded = (
            link.map(|(commitment, _)| commitment),
            proofs.into_iter().collect::<Result<_, _>>()?,
        );
        Ok(Presentation {
            definition: definition.id.clone(),
            nonce: request.nonce.clone(),
            revealed: revealed_values,
            revocation_epoch: status.epoch,
            proof: to_bytes(&encoded),
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
        definition.expect_id(&self.definition)?;
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
        let parts = partition(&plan);
        let count = parts.len();
        let (link, proofs): Encoded = from_bytes("proof", &self.proof)?;
        if proofs.len() != count || link.is_some() != (count > 1) {
            return Err(ZkError::InvalidProof);
        }
        // Verification batches pairing checks with random weights; seeding
        // them from the proof keeps verification a pure function (the chain
        // verifies presentations inside its state machine).
        let digest = Blake2b512::digest(&self.proof);
        let verdicts = on_each_part(
            parts.into_iter().zip(proofs).collect(),
            |index, (part, bytes)| -> Result<(), ZkError> {
                let place = Place { index, count, link };
                let spec = specification(
                    definition,
                    &plan,
                    &part,
                    &place,
                    revealed.clone(),
                    status,
                    Side::Verifier,
                )?;
                let proof: Proof<Curve> = from_bytes("proof", &bytes)?;
                if proof.statement_proofs.len() != spec.statements.len() {
                    return Err(ZkError::InvalidProof);
                }
                let mut seed = Blake2b512::new();
                seed.update(digest);
                seed.update((index as u32).to_le_bytes());
                let seed: [u8; 32] = seed.finalize()[..32]
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
            },
        );
        verdicts.into_iter().collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{AttributeKind as Kind, AttributeValue as V, Issuer, Predicate, Schema};

    fn parts_for(predicates: Vec<Predicate>, check_revocation: bool) -> Vec<Vec<Item>> {
        let schema = Schema::new(
            "t-v1",
            &[
                ("code", Kind::Text),
                ("born", Kind::Date),
                ("when", Kind::Date),
                ("dose", Kind::Integer),
            ],
        )
        .unwrap();
        let issuer = Issuer::new("did:salus:t#v1", schema, 4).unwrap();
        let set = PublicSet::publish("codes", &["a", "b"]).unwrap();
        let request = PresentationRequest {
            definition: issuer.definition().id.clone(),
            nonce: vec![0; 32],
            reveal: vec![],
            predicates,
            check_revocation,
        };
        partition(&request.plan(issuer.definition(), &[&set]).unwrap())
    }

    fn after(attribute: &str) -> Predicate {
        Predicate::AtLeast {
            attribute: attribute.into(),
            min: V::Date(2021_06_01),
        }
    }

    #[test]
    fn light_plans_stay_whole_and_heavy_ones_split_evenly() {
        assert_eq!(parts_for(vec![], false), vec![Vec::<Item>::new()]);
        // One range and revocation: a second signature proof would cost
        // more than it saves.
        assert_eq!(
            parts_for(vec![after("when")], true),
            vec![vec![Item::Revocation, Item::Predicate(0)]]
        );
        // Two dates, a set and revocation: one date on each side.
        let set = Predicate::InSet {
            attribute: "code".into(),
            set: "codes".into(),
        };
        let split = parts_for(vec![set, after("when"), after("born")], true);
        assert_eq!(
            split,
            vec![
                vec![Item::Revocation, Item::Predicate(1)],
                vec![Item::Predicate(0), Item::Predicate(2)],
            ]
        );
    }

    #[test]
    fn range_digits_count_base_128_places() {
        assert_eq!(range_digits(1), 1);
        assert_eq!(range_digits(128), 1);
        assert_eq!(range_digits(129), 2);
        assert_eq!(range_digits(128 * 128 * 128), 3);
        assert_eq!(range_digits(u64::MAX), 10);
    }
}
