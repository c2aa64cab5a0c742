//! Published sets (a list of vaccine codes, of specialties, of diagnosis
//! codes) that a hidden text attribute can be proven to belong to.
//!
//! A set is a VB accumulator of its elements' hashes. Its elements are
//! public, so its publisher also publishes every element's membership
//! witness: any holder can prove membership without asking anyone, and the
//! proof hides which element it is.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use vb_accumulator::positive::{Accumulator as _, PositiveAccumulator};
use vb_accumulator::setup::{Keypair, PublicKey};
use vb_accumulator::witness::MembershipWitness;

use crate::attributes::{text_scalar, MAX_TEXT_BYTES};
use crate::codec::hex_ark;
use crate::revocation::{accumulator_params, Filling};
use crate::{Curve, Scalar, ZkError, G1};

/// The most elements a published set may have.
pub const MAX_SET_ELEMENTS: usize = 4096;

#[derive(Clone, Serialize, Deserialize)]
pub struct PublicSet {
    pub id: String,
    #[serde(with = "hex_ark")]
    pub(crate) public_key: PublicKey<Curve>,
    #[serde(with = "hex_ark")]
    pub(crate) value: G1,
    /// Element → its membership witness, in element order.
    #[serde(with = "witness_map")]
    witnesses: BTreeMap<String, MembershipWitness<G1>>,
}

impl std::fmt::Debug for PublicSet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PublicSet")
            .field("id", &self.id)
            .field("elements", &self.witnesses.keys().collect::<Vec<_>>())
            .finish_non_exhaustive()
    }
}

impl PublicSet {
    /// Publishes `elements` as set `id`. The accumulator secret is used to
    /// compute the witnesses and then dropped: the set can never change, so
    /// nobody can slip an element in later.
    pub fn publish<S: AsRef<str>>(
        id: impl Into<String>,
        elements: &[S],
    ) -> Result<PublicSet, ZkError> {
        let id = id.into();
        if id.is_empty() || id.len() > 256 {
            return Err(ZkError::BadRequest("a set id has 1 to 256 bytes".into()));
        }
        let mut distinct: Vec<&str> = elements.iter().map(AsRef::as_ref).collect();
        distinct.sort_unstable();
        distinct.dedup();
        if distinct.is_empty() || distinct.len() > MAX_SET_ELEMENTS {
            return Err(ZkError::BadRequest(format!(
                "a set has 1 to {MAX_SET_ELEMENTS} elements"
            )));
        }
        if let Some(long) = distinct.iter().find(|e| e.len() > MAX_TEXT_BYTES) {
            return Err(ZkError::BadValue(format!(
                "set element of {} bytes",
                long.len()
            )));
        }
        let keypair =
            Keypair::<Curve>::generate_using_rng(&mut rand::rngs::OsRng, accumulator_params());
        let scalars: Vec<Scalar> = distinct.iter().map(|e| text_scalar(e)).collect();
        let accumulator = PositiveAccumulator::<G1>::initialize(accumulator_params())
            .add_batch(scalars.clone(), &keypair.secret_key, &mut Filling(0))
            .map_err(|e| ZkError::Crypto(format!("{e:?}")))?;
        let witnesses = distinct
            .iter()
            .zip(&scalars)
            .map(|(element, scalar)| {
                let witness = accumulator.compute_membership_witness(scalar, &keypair.secret_key);
                ((*element).to_owned(), witness)
            })
            .collect();
        Ok(PublicSet {
            id,
            public_key: keypair.public_key.clone(),
            value: *accumulator.value(),
            witnesses,
        })
    }

    pub fn contains(&self, element: &str) -> bool {
        self.witnesses.contains_key(element)
    }

    pub fn elements(&self) -> impl Iterator<Item = &str> {
        self.witnesses.keys().map(String::as_str)
    }

    /// Checks a set received from elsewhere: every published witness must
    /// verify against the accumulator, so a holder can trust any of them.
    pub fn validate(&self) -> Result<(), ZkError> {
        let accumulator = PositiveAccumulator::<G1>::from_value(self.value);
        for (element, witness) in &self.witnesses {
            if !accumulator.verify_membership(
                &text_scalar(element),
                witness,
                &self.public_key,
                accumulator_params(),
            ) {
                return Err(ZkError::Malformed {
                    what: "published set",
                    reason: format!(
                        "the witness of one element of `{}` does not verify",
                        self.id
                    ),
                });
            }
        }
        Ok(())
    }

    pub(crate) fn witness(&self, element: &str) -> Option<&MembershipWitness<G1>> {
        self.witnesses.get(element)
    }
}

mod witness_map {
    use std::collections::BTreeMap;

    use serde::{Deserialize as _, Deserializer, Serialize as _, Serializer};
    use vb_accumulator::witness::MembershipWitness;

    use crate::codec::{from_bytes, to_bytes};
    use crate::G1;

    pub fn serialize<S: Serializer>(
        map: &BTreeMap<String, MembershipWitness<G1>>,
        s: S,
    ) -> Result<S::Ok, S::Error> {
        map.iter()
            .map(|(k, w)| (k.as_str(), hex::encode(to_bytes(w))))
            .collect::<BTreeMap<_, _>>()
            .serialize(s)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(
        d: D,
    ) -> Result<BTreeMap<String, MembershipWitness<G1>>, D::Error> {
        let raw = BTreeMap::<String, String>::deserialize(d)?;
        if raw.len() > super::MAX_SET_ELEMENTS {
            return Err(serde::de::Error::custom("too many set elements"));
        }
        raw.into_iter()
            .map(|(k, hex_witness)| {
                let bytes = hex::decode(hex_witness).map_err(serde::de::Error::custom)?;
                let witness =
                    from_bytes("set witness", &bytes).map_err(serde::de::Error::custom)?;
                Ok((k, witness))
            })
            .collect()
    }
}
