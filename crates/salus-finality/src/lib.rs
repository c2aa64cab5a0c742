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
use salus_types::{Hash, PublicKey};

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
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Certified {
    pub epoch: u64,
    pub view: u64,
    /// The digest of the finalized header.
    pub digest: Hash,
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
}

/// The validator set of every epoch a client has learned, from genesis on.
#[derive(Clone)]
pub struct ValidatorHistory {
    epochs: BTreeMap<u64, Epoch>,
}

#[derive(Clone)]
struct Epoch {
    validators: Vec<PublicKey>,
    verifier: Scheme,
}

impl std::fmt::Debug for ValidatorHistory {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_map()
            .entries(self.epochs.iter().map(|(e, s)| (e, s.validators.len())))
            .finish()
    }
}

impl ValidatorHistory {
    /// Trusts `validators` (genesis's) for epoch 0.
    pub fn from_genesis(validators: &[PublicKey]) -> Result<ValidatorHistory, FinalityError> {
        let mut history = ValidatorHistory {
            epochs: BTreeMap::new(),
        };
        history.learn(0, validators)?;
        Ok(history)
    }

    /// Records `validators` as `epoch`'s set. The caller must have proven it
    /// against a header certified by the epoch before; learning the same set
    /// twice is harmless, a different one for a known epoch is refused.
    pub fn learn(&mut self, epoch: u64, validators: &[PublicKey]) -> Result<(), FinalityError> {
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

    /// Checks that `certificate` is a quorum's finalization of `header_digest`
    /// under the validator set of the epoch it names.
    pub fn verify(
        &self,
        certificate: &[u8],
        header_digest: &Hash,
    ) -> Result<Certified, FinalityError> {
        // Decoding refuses trailing bytes as well as short ones.
        let finalization = Finalization::decode_cfg(Copying(certificate), &MAX_VALIDATORS)
            .map_err(|e| FinalityError::Malformed(e.to_string()))?;
        let epoch = finalization.round().epoch().get();
        let known = self
            .epochs
            .get(&epoch)
            .ok_or(FinalityError::UnknownEpoch(epoch))?;
        if !finalization.verify(&mut rand_010::rng(), &known.verifier, &Sequential) {
            return Err(FinalityError::NotAQuorum(epoch));
        }
        let certified = to_hash(&finalization.proposal.payload);
        if certified != *header_digest {
            return Err(FinalityError::WrongBlock {
                certified,
                served: *header_digest,
            });
        }
        Ok(Certified {
            epoch,
            view: finalization.round().view().get(),
            digest: certified,
        })
    }
}

#[cfg(test)]
mod tests;
