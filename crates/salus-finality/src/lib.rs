//! Finality as a client checks it.
//!
//! A block is final when a quorum of its epoch's validators signed a simplex
//! finalization for its digest. Nodes serve that certificate next to the
//! header; [`ValidatorHistory`] checks it against the validator sets the
//! client tracks itself, starting from genesis, so a client needs to trust
//! nothing a node says beyond the genesis validators it was given.
//!
//! Consensus signs with the same [`Scheme`] and [`NAMESPACE`] (salus-consensus
//! re-exports them from here), so a certificate that verifies here is exactly
//! one that the validators' own engines accept.

use std::collections::BTreeMap;

use commonware_codec::{Copying, Decode as _, DecodeExt as _, Encode as _};
use commonware_parallel::Sequential;
use commonware_utils::ordered::Set;
use salus_types::epochs::{epoch_of, MIN_EPOCH_BLOCKS};
use salus_types::{Genesis, Hash, Header, PublicKey};

/// The ed25519 multi-signature scheme for simplex votes and certificates.
pub type Scheme = commonware_consensus::simplex::scheme::ed25519::Scheme;
/// The digest simplex agrees on: a Salus header digest.
pub type Digest = commonware_cryptography::sha256::Digest;
/// A quorum's certificate that a block is final.
pub type Finalization = commonware_consensus::simplex::types::Finalization<Scheme, Digest>;

/// Domain separator for every consensus signature of this network.
pub const NAMESPACE: &[u8] = b"_SALUS_CONSENSUS";

/// The most validators one epoch may have. It bounds how much a certificate
/// may claim before its signatures are checked.
pub const MAX_VALIDATORS: usize = 1_024;

pub fn to_digest(hash: &Hash) -> Digest {
    commonware_cryptography::sha256::Digest(hash.0)
}

pub fn to_hash(digest: &Digest) -> Hash {
    Hash(digest.0)
}

/// A Salus validator key as consensus uses it; `None` when it is not a
/// valid ed25519 point (genesis validation rules that out for its own set).
pub fn consensus_key(key: &PublicKey) -> Option<commonware_cryptography::ed25519::PublicKey> {
    commonware_cryptography::ed25519::PublicKey::decode(Copying(key.0.as_slice())).ok()
}

/// The wire form of a certificate, as nodes serve it.
pub fn encode(finalization: &Finalization) -> Vec<u8> {
    finalization.encode().to_vec()
}

/// What a verified certificate proves.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Certified {
    pub epoch: u64,
    pub view: u64,
    /// The digest of the finalized header.
    pub digest: Hash,
    /// The validators whose signatures make up the quorum.
    pub signers: Vec<PublicKey>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FinalityError {
    #[error("the finalization certificate does not decode: {0}")]
    Malformed(String),
    #[error("the certificate is for epoch {0}, whose validator set this client does not know")]
    UnknownEpoch(u64),
    #[error("the certificate's signatures are not a quorum of epoch {0}'s validators")]
    NotAQuorum(u64),
    #[error("the certificate finalizes block {certified}, not the header served ({served})")]
    WrongBlock { certified: Hash, served: Hash },
    #[error("validator key {0} is not a valid ed25519 public key")]
    BadValidatorKey(PublicKey),
    #[error("a validator set must have 1..={MAX_VALIDATORS} distinct keys")]
    BadValidatorSet,
    #[error("epoch {epoch} is already known with a different validator set")]
    EpochConflict { epoch: u64 },
    #[error("epoch {epoch} cannot be learned before epoch {missing}")]
    EpochGap { epoch: u64, missing: u64 },
    #[error("the certificate is epoch {epoch}'s, but block {height} belongs to epoch {expected}")]
    WrongEpoch {
        epoch: u64,
        height: u64,
        expected: u64,
    },
    #[error("an epoch is at least {MIN_EPOCH_BLOCKS} blocks")]
    BadEpochLength,
}

/// The validator set of every epoch a client has learned, from genesis on,
/// and the epoch length, which ties each height to the one epoch whose set
/// may certify it: a quorum of an old epoch (whose keys may since have
/// leaked) certifies nothing after its epoch.
#[derive(Clone)]
pub struct ValidatorHistory {
    epoch_blocks: u64,
    epochs: BTreeMap<u64, Epoch>,
}

#[derive(Clone)]
struct Epoch {
    validators: Vec<PublicKey>,
    verifier: Scheme,
}

impl std::fmt::Debug for ValidatorHistory {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ValidatorHistory")
            .field("epoch_blocks", &self.epoch_blocks)
            .field(
                "validators_per_epoch",
                &self
                    .epochs
                    .iter()
                    .map(|(e, s)| (*e, s.validators.len()))
                    .collect::<BTreeMap<_, _>>(),
            )
            .finish()
    }
}

impl ValidatorHistory {
    /// Trusts `validators` for epoch 0, in epochs of `epoch_blocks`.
    pub fn new(
        validators: &[PublicKey],
        epoch_blocks: u64,
    ) -> Result<ValidatorHistory, FinalityError> {
        if epoch_blocks < MIN_EPOCH_BLOCKS {
            return Err(FinalityError::BadEpochLength);
        }
        let mut history = ValidatorHistory {
            epoch_blocks,
            epochs: BTreeMap::new(),
        };
        history.learn(0, validators)?;
        Ok(history)
    }

    /// Trusts what `genesis` says: its validators and its epoch length.
    pub fn from_genesis(genesis: &Genesis) -> Result<ValidatorHistory, FinalityError> {
        let validators: Vec<PublicKey> = genesis.validators.iter().map(|v| v.public_key).collect();
        ValidatorHistory::new(&validators, genesis.epochs.epoch_blocks)
    }

    /// Blocks per epoch.
    pub fn epoch_blocks(&self) -> u64 {
        self.epoch_blocks
    }

    /// Records `validators` as `epoch`'s set, epochs in order. The caller
    /// must have proven it against the last block of the epoch before,
    /// certified by that epoch's set; learning the same set twice is
    /// harmless, a different one for a known epoch is refused.
    pub fn learn(&mut self, epoch: u64, validators: &[PublicKey]) -> Result<(), FinalityError> {
        let next = self.epochs.keys().next_back().map_or(0, |e| e + 1);
        if epoch > next {
            return Err(FinalityError::EpochGap {
                epoch,
                missing: next,
            });
        }
        let mut keys = Vec::with_capacity(validators.len());
        for key in validators {
            keys.push(consensus_key(key).ok_or(FinalityError::BadValidatorKey(*key))?);
        }
        if keys.is_empty() || keys.len() > MAX_VALIDATORS {
            return Err(FinalityError::BadValidatorSet);
        }
        let set = Set::from_iter_dedup(keys);
        if set.len() != validators.len() {
            return Err(FinalityError::BadValidatorSet);
        }
        let mut sorted = validators.to_vec();
        sorted.sort();
        if let Some(known) = self.epochs.get(&epoch) {
            return if known.validators == sorted {
                Ok(())
            } else {
                Err(FinalityError::EpochConflict { epoch })
            };
        }
        self.epochs.insert(
            epoch,
            Epoch {
                validators: sorted,
                verifier: Scheme::verifier(NAMESPACE, set),
            },
        );
        Ok(())
    }

    /// The newest epoch this history knows.
    pub fn latest_epoch(&self) -> u64 {
        self.epochs.keys().next_back().copied().unwrap_or(0)
    }

    /// `epoch`'s validators, sorted, if known.
    pub fn validators(&self, epoch: u64) -> Option<&[PublicKey]> {
        self.epochs.get(&epoch).map(|e| e.validators.as_slice())
    }

    /// Checks that `certificate` is a quorum's finalization of `header`,
    /// signed by the set of the epoch that `header`'s height belongs to.
    pub fn verify(&self, certificate: &[u8], header: &Header) -> Result<Certified, FinalityError> {
        let header_digest = header.digest();
        // Decoding refuses trailing bytes as well as short ones.
        let finalization = Finalization::decode_cfg(Copying(certificate), &MAX_VALIDATORS)
            .map_err(|e| FinalityError::Malformed(e.to_string()))?;
        let epoch = finalization.round().epoch().get();
        let expected = epoch_of(header.height, self.epoch_blocks);
        if epoch != expected {
            return Err(FinalityError::WrongEpoch {
                epoch,
                height: header.height,
                expected,
            });
        }
        let known = self
            .epochs
            .get(&epoch)
            .ok_or(FinalityError::UnknownEpoch(epoch))?;
        if !finalization.verify(&mut rand_010::rng(), &known.verifier, &Sequential) {
            return Err(FinalityError::NotAQuorum(epoch));
        }
        let certified = to_hash(&finalization.proposal.payload);
        if certified != header_digest {
            return Err(FinalityError::WrongBlock {
                certified,
                served: header_digest,
            });
        }
        let participants =
            commonware_cryptography::certificate::Scheme::participants(&known.verifier);
        let signers = finalization
            .certificate
            .signers
            .iter()
            .filter_map(|index| participants.get(index.get() as usize))
            .map(|key| PublicKey(key.as_ref().try_into().expect("ed25519 keys are 32 bytes")))
            .collect();
        Ok(Certified {
            epoch,
            view: finalization.round().view().get(),
            digest: certified,
            signers,
        })
    }
}

#[cfg(test)]
mod tests;
