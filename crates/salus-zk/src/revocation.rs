//! Revocation: a VB positive accumulator over the ids of every credential a
//! definition may ever issue. The issuer fills it with `capacity` ids when it
//! creates the definition, so issuing a credential never changes the
//! accumulator; only a revocation does, by removing one id. A holder
//! proves its (hidden) id is still a member at the current epoch, and
//! keeps its witness current by applying each published
//! [`RevocationUpdate`] in order, from public data alone.

use std::sync::OnceLock;

use blake2::Blake2b512;
use dock_crypto_utils::hashing_utils::hash_to_field;
use serde::{Deserialize, Serialize};
use vb_accumulator::persistence::State;
use vb_accumulator::positive::{Accumulator as _, PositiveAccumulator};
use vb_accumulator::setup::{Keypair, SetupParams};
use vb_accumulator::witness::MembershipWitness;

use crate::codec::hex_ark;
use crate::{Curve, Scalar, ZkError, G1};

/// Credentials a definition can issue unless told otherwise.
pub const DEFAULT_CAPACITY: u32 = 1024;
/// The most a definition may ask for: the issuer computes over all of them once.
pub const MAX_CAPACITY: u32 = 1 << 20;

/// Accumulator parameters every definition shares, derived from a public
/// label so nobody holds a trapdoor for them.
pub(crate) fn accumulator_params() -> &'static SetupParams<Curve> {
    static PARAMS: OnceLock<SetupParams<Curve>> = OnceLock::new();
    PARAMS.get_or_init(|| SetupParams::new::<Blake2b512>(b"salus-zk/accumulator/v1"))
}

/// The accumulator element of credential `index` of `definition`.
pub(crate) fn credential_element(definition: &str, index: u32) -> Scalar {
    let mut seed = Vec::with_capacity(definition.len() + 5);
    seed.extend_from_slice(definition.as_bytes());
    seed.push(0);
    seed.extend_from_slice(&index.to_le_bytes());
    hash_to_field::<Scalar, Blake2b512>(b"salus-zk/credential-id/v1", &seed)
}

/// What a verifier checks non-revocation against: the registry's current
/// accumulator value and the epoch (revocations so far) it belongs to.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RevocationStatus {
    pub epoch: u64,
    #[serde(with = "hex_ark")]
    pub(crate) value: G1,
}

/// One revocation, as the issuer publishes it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RevocationUpdate {
    /// The epoch this revocation starts.
    pub epoch: u64,
    /// The revoked credential's index.
    pub index: u32,
    /// The accumulator value after the removal.
    #[serde(with = "hex_ark")]
    pub(crate) value: G1,
}

impl RevocationUpdate {
    pub fn status(&self) -> RevocationStatus {
        RevocationStatus {
            epoch: self.epoch,
            value: self.value,
        }
    }
}

/// The issuer's side: the accumulator secret and which ids are gone.
#[derive(Clone, Serialize, Deserialize)]
pub(crate) struct Registry {
    #[serde(with = "hex_ark")]
    keypair: Keypair<Curve>,
    pub capacity: u32,
    pub issued: u32,
    pub revoked: std::collections::BTreeSet<u32>,
    #[serde(with = "hex_ark")]
    value: G1,
    pub epoch: u64,
}

/// The accumulator "state" used only while filling a new accumulator (a
/// registry, a published set): it counts. Afterwards membership is tracked
/// elsewhere (`issued`/`revoked`, or a set's published elements).
pub(crate) struct Filling(pub u64);

impl State<Scalar> for Filling {
    fn add(&mut self, _: Scalar) {
        self.0 += 1;
    }
    fn remove(&mut self, _: &Scalar) {
        self.0 -= 1;
    }
    fn has(&self, _: &Scalar) -> bool {
        false
    }
    fn size(&self) -> u64 {
        self.0
    }
}

impl Registry {
    pub fn new(definition: &str, capacity: u32) -> Result<Registry, ZkError> {
        if capacity == 0 || capacity > MAX_CAPACITY {
            return Err(ZkError::BadRequest(format!(
                "a revocation registry holds 1 to {MAX_CAPACITY} credentials"
            )));
        }
        let keypair =
            Keypair::<Curve>::generate_using_rng(&mut rand::rngs::OsRng, accumulator_params());
        let elements = (0..capacity)
            .map(|i| credential_element(definition, i))
            .collect();
        let accumulator = PositiveAccumulator::<G1>::initialize(accumulator_params())
            .add_batch(elements, &keypair.secret_key, &mut Filling(0))
            .map_err(|e| ZkError::Crypto(format!("{e:?}")))?;
        Ok(Registry {
            value: *accumulator.value(),
            keypair,
            capacity,
            issued: 0,
            revoked: Default::default(),
            epoch: 0,
        })
    }

    pub fn public_key(&self) -> vb_accumulator::setup::PublicKey<Curve> {
        self.keypair.public_key.clone()
    }

    pub fn status(&self) -> RevocationStatus {
        RevocationStatus {
            epoch: self.epoch,
            value: self.value,
        }
    }

    /// The next unused index.
    pub fn take(&mut self) -> Result<u32, ZkError> {
        if self.issued >= self.capacity {
            return Err(ZkError::RegistryFull(self.capacity));
        }
        self.issued += 1;
        Ok(self.issued - 1)
    }

    /// A fresh witness for a live credential at the current epoch.
    pub fn witness(&self, definition: &str, index: u32) -> Result<MembershipWitness<G1>, ZkError> {
        if index >= self.issued || self.revoked.contains(&index) {
            return Err(ZkError::Revoked);
        }
        let accumulator = PositiveAccumulator::<G1>::from_value(self.value);
        Ok(accumulator.compute_membership_witness(
            &credential_element(definition, index),
            &self.keypair.secret_key,
        ))
    }

    pub fn revoke(&mut self, definition: &str, index: u32) -> Result<RevocationUpdate, ZkError> {
        if index >= self.issued {
            return Err(ZkError::BadRequest(format!(
                "credential {index} was never issued"
            )));
        }
        if self.revoked.contains(&index) {
            return Err(ZkError::Revoked);
        }
        let accumulator = PositiveAccumulator::<G1>::from_value(self.value);
        self.value = accumulator.compute_new_post_remove(
            &credential_element(definition, index),
            &self.keypair.secret_key,
        );
        self.revoked.insert(index);
        self.epoch += 1;
        Ok(RevocationUpdate {
            epoch: self.epoch,
            index,
            value: self.value,
        })
    }
}

/// Moves a holder's witness past one revocation.
pub(crate) fn apply(
    witness: &MembershipWitness<G1>,
    definition: &str,
    own: u32,
    update: &RevocationUpdate,
) -> Result<MembershipWitness<G1>, ZkError> {
    if update.index == own {
        return Err(ZkError::Revoked);
    }
    witness
        .update_after_removal(
            &credential_element(definition, own),
            &credential_element(definition, update.index),
            &update.value,
        )
        .map_err(|e| ZkError::Crypto(format!("{e:?}")))
}
