//! Credential definitions, issuers and the credentials they sign.

use std::sync::OnceLock;

use bbs_plus::prelude::{KeypairG2, PublicKeyG2, SecretKey, Signature23G1, SignatureParams23G1};
use blake2::Blake2b512;
use proof_system::statement::bound_check_smc::SmcParamsAndCommitmentKey;
use serde::{Deserialize, Serialize};
use vb_accumulator::witness::MembershipWitness;

use crate::attributes::{text_scalar, AttributeValue, Schema};
use crate::codec::hex_ark;
use crate::revocation::{self, credential_element, Registry, RevocationStatus, RevocationUpdate};
use crate::{Curve, Scalar, ZkError, G1};

/// Digit base of the range proofs: 128 keeps a 22-bit date range to 4 digits
/// and a 48-bit range to 7 (larger bases shrink proofs and verification,
/// at the price of one published signature per digit value).
pub(crate) const RANGE_BASE: u16 = 128;
/// Signed messages before the schema's attributes: credential id, definition id.
pub(crate) const RESERVED_MESSAGES: usize = 2;
const MAX_DEFINITION_ID: usize = 256;

/// What an issuer publishes for one kind of credential, and what every
/// verifier of it needs.
#[derive(Clone, Serialize, Deserialize)]
pub struct CredentialDefinition {
    /// Names this definition everywhere, e.g. `did:salus:…#medical-license-v1`.
    pub id: String,
    pub schema: Schema,
    #[serde(with = "hex_ark")]
    pub(crate) public_key: PublicKeyG2<Curve>,
    #[serde(with = "hex_ark")]
    pub(crate) range_params: SmcParamsAndCommitmentKey<Curve>,
    #[serde(with = "hex_ark")]
    pub(crate) revocation_key: vb_accumulator::setup::PublicKey<Curve>,
    /// Derived from `id` and the schema; rebuilt after decoding.
    #[serde(skip)]
    signature_params: OnceLock<SignatureParams23G1<Curve>>,
}

impl std::fmt::Debug for CredentialDefinition {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CredentialDefinition")
            .field("id", &self.id)
            .field("schema", &self.schema)
            .finish_non_exhaustive()
    }
}

impl CredentialDefinition {
    /// `Ok` if `presented` names this definition.
    pub(crate) fn expect_id(&self, presented: &str) -> Result<(), ZkError> {
        if presented == self.id {
            return Ok(());
        }
        Err(ZkError::WrongDefinition {
            expected: self.id.clone(),
            presented: presented.to_owned(),
        })
    }

    /// BBS generators for this definition: hashed from a public label, so
    /// they need no trusted setup and are the same for everyone.
    pub(crate) fn signature_params(&self) -> &SignatureParams23G1<Curve> {
        self.signature_params.get_or_init(|| {
            let label = format!("salus-zk/bbs/v1/{}", self.id);
            let count = (RESERVED_MESSAGES + self.schema.attributes.len()) as u32;
            SignatureParams23G1::new::<Blake2b512>(label.as_bytes(), count)
        })
    }

    /// The cheap checks, fit for a state machine that runs them on every
    /// validator inside a consensus round: id, schema, a valid issuer key,
    /// and range parameters of the expected shape (digits 0..base, one
    /// signature each). What it leaves out is whether those signatures
    /// verify, which only the issuer could spoil, and only for itself.
    pub fn check(&self) -> Result<(), ZkError> {
        check_id(&self.id)?;
        self.schema.validate()?;
        let malformed = |reason: &str| ZkError::Malformed {
            what: "credential definition",
            reason: reason.into(),
        };
        if !self.public_key.is_valid() {
            return Err(malformed("the issuer key is not a valid point"));
        }
        let params = &self.range_params.params;
        let digits_ok = params.set.len() == usize::from(RANGE_BASE)
            && params.sigs.len() == params.set.len()
            && params
                .set
                .iter()
                .enumerate()
                .all(|(i, d)| *d == Scalar::from(i as u64));
        if !digits_ok {
            return Err(malformed(
                "range parameters are not for the expected digit base",
            ));
        }
        Ok(())
    }

    /// [`check`](Self::check), plus every range-parameter signature (some
    /// two pairings per digit value): what a verifier does once when it first trusts
    /// a definition.
    pub fn validate(&self) -> Result<(), ZkError> {
        self.check()?;
        let params = self.range_params.clone();
        std::panic::catch_unwind(move || params.verify())
            .map_err(|_| ZkError::Malformed {
                what: "credential definition",
                reason: "range parameters".into(),
            })?
            .map_err(|e| ZkError::Malformed {
                what: "credential definition",
                reason: format!("range parameters do not verify: {e:?}"),
            })
    }

    pub(crate) fn definition_scalar(&self) -> Scalar {
        text_scalar(&self.id)
    }

    /// The signed messages of credential `index` with `values`.
    fn messages(&self, index: u32, values: &[AttributeValue]) -> Result<Vec<Scalar>, ZkError> {
        if values.len() != self.schema.attributes.len() {
            return Err(ZkError::WrongValueCount {
                expected: self.schema.attributes.len(),
                got: values.len(),
            });
        }
        let mut messages = vec![
            credential_element(&self.id, index),
            self.definition_scalar(),
        ];
        for (value, spec) in values.iter().zip(&self.schema.attributes) {
            messages.push(value.encode(spec.kind)?);
        }
        Ok(messages)
    }
}

fn check_id(id: &str) -> Result<(), ZkError> {
    if id.is_empty() || id.len() > MAX_DEFINITION_ID {
        return Err(ZkError::BadSchema(format!(
            "a definition id has 1 to {MAX_DEFINITION_ID} bytes"
        )));
    }
    Ok(())
}

/// An issuer's secrets for one definition. Store it encrypted.
#[derive(Clone, Serialize, Deserialize)]
pub struct Issuer {
    definition: CredentialDefinition,
    #[serde(with = "hex_ark")]
    signing_key: SecretKey<Scalar>,
    registry: Registry,
}

impl std::fmt::Debug for Issuer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Issuer")
            .field("definition", &self.definition.id)
            .finish_non_exhaustive()
    }
}

impl Issuer {
    /// A new definition with fresh keys, able to issue `capacity` credentials.
    pub fn new(id: impl Into<String>, schema: Schema, capacity: u32) -> Result<Issuer, ZkError> {
        let id = id.into();
        check_id(&id)?;
        schema.validate()?;
        let mut rng = rand::rngs::OsRng;
        // The trapdoor of the range parameters is dropped here, unseen.
        let (range_params, _trapdoor) = SmcParamsAndCommitmentKey::new::<_, Blake2b512>(
            &mut rng,
            format!("salus-zk/range/{id}").as_bytes(),
            RANGE_BASE,
        );
        let registry = Registry::new(&id, capacity)?;
        let mut definition = CredentialDefinition {
            id,
            schema,
            public_key: PublicKeyG2(Default::default()),
            range_params,
            revocation_key: registry.public_key(),
            signature_params: OnceLock::new(),
        };
        let keypair = KeypairG2::<Curve>::generate_using_rng_and_bbs23_params(
            &mut rng,
            definition.signature_params(),
        );
        definition.public_key = keypair.public_key.clone();
        Ok(Issuer {
            definition,
            signing_key: keypair.secret_key.clone(),
            registry,
        })
    }

    pub fn definition(&self) -> &CredentialDefinition {
        &self.definition
    }

    pub fn status(&self) -> RevocationStatus {
        self.registry.status()
    }

    /// Credentials issued so far, and which of them are revoked.
    pub fn issued(&self) -> u32 {
        self.registry.issued
    }

    /// Signs `values` (in schema order) into a new credential.
    pub fn issue(&mut self, values: Vec<AttributeValue>) -> Result<Credential, ZkError> {
        // Validate before taking an index, so bad input wastes no capacity.
        self.definition.messages(0, &values)?;
        let index = self.registry.take()?;
        let messages = self.definition.messages(index, &values)?;
        let signature = Signature23G1::<Curve>::new(
            &mut rand::rngs::OsRng,
            &messages,
            &self.signing_key,
            self.definition.signature_params(),
        )
        .map_err(|e| ZkError::Crypto(format!("{e:?}")))?;
        Ok(Credential {
            definition: self.definition.id.clone(),
            index,
            values,
            signature,
            witness: self.registry.witness(&self.definition.id, index)?,
            epoch: self.registry.epoch,
        })
    }

    /// Revokes credential `index`; publish the update for holders and verifiers.
    pub fn revoke(&mut self, index: u32) -> Result<RevocationUpdate, ZkError> {
        self.registry.revoke(&self.definition.id, index)
    }

    /// A current witness for a live credential (for a holder that lost track).
    pub fn refresh(&self, credential: &mut Credential) -> Result<(), ZkError> {
        credential.witness = self
            .registry
            .witness(&self.definition.id, credential.index)?;
        credential.epoch = self.registry.epoch;
        Ok(())
    }
}

/// A holder's credential: the values, the issuer's signature over them, and
/// the witness that it is not revoked. Private to the holder.
#[derive(Clone, Serialize, Deserialize)]
pub struct Credential {
    pub definition: String,
    /// Its place in the revocation registry; never disclosed in presentations.
    pub index: u32,
    pub values: Vec<AttributeValue>,
    #[serde(with = "hex_ark")]
    pub(crate) signature: Signature23G1<Curve>,
    #[serde(with = "hex_ark")]
    pub(crate) witness: MembershipWitness<G1>,
    /// The revocation epoch the witness is current for.
    pub epoch: u64,
}

impl std::fmt::Debug for Credential {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Values are health data: never in logs.
        f.debug_struct("Credential")
            .field("definition", &self.definition)
            .field("epoch", &self.epoch)
            .finish_non_exhaustive()
    }
}

impl Credential {
    /// Checks the issuer's signature (a holder does this on receipt).
    pub fn verify(&self, definition: &CredentialDefinition) -> Result<(), ZkError> {
        definition.expect_id(&self.definition)?;
        let messages = definition.messages(self.index, &self.values)?;
        self.signature
            .verify(
                &messages,
                definition.public_key.clone(),
                definition.signature_params().clone(),
            )
            .map_err(|_| ZkError::InvalidSignature)
    }

    /// Brings the witness past revocations published since its epoch.
    /// Updates at or before the current epoch are skipped; a gap is an error.
    pub fn apply(&mut self, updates: &[RevocationUpdate]) -> Result<(), ZkError> {
        for update in updates {
            if update.epoch <= self.epoch {
                continue;
            }
            if update.epoch != self.epoch + 1 {
                return Err(ZkError::StaleRevocation {
                    presented: self.epoch,
                    current: update.epoch,
                });
            }
            self.witness = revocation::apply(&self.witness, &self.definition, self.index, update)?;
            self.epoch = update.epoch;
        }
        Ok(())
    }

    /// The value of attribute `name`.
    pub fn value(
        &self,
        definition: &CredentialDefinition,
        name: &str,
    ) -> Result<&AttributeValue, ZkError> {
        let (i, _) = definition.schema.attribute(name)?;
        self.values.get(i).ok_or(ZkError::WrongValueCount {
            expected: definition.schema.attributes.len(),
            got: self.values.len(),
        })
    }

    pub(crate) fn messages(
        &self,
        definition: &CredentialDefinition,
    ) -> Result<Vec<Scalar>, ZkError> {
        definition.messages(self.index, &self.values)
    }
}
