//! Epochs: each one's validator set as consensus needs it.
//!
//! The chain fixes epoch `e + 1`'s set in the last block of epoch `e`
//! (salus-app's `epochs` module). [`EpochSchemes`] reads it from state the
//! first time marshal or the orchestrator asks, so marshal verifies any
//! epoch's certificates as soon as this node has applied the block that
//! fixed its set, and never before.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use commonware_consensus::types::Epoch;
use commonware_cryptography::certificate::{Provider, Scoped};
use commonware_cryptography::ed25519::{PrivateKey, PublicKey};
use commonware_cryptography::Signer as _;
use commonware_utils::ordered::Set;
use salus_app::Chain;
use salus_state::StateError;
use salus_types::epochs::Validator;

use crate::{Scheme, NAMESPACE};

/// One epoch's scheme, and whether this node signs in it.
#[derive(Clone)]
struct Known {
    scheme: Arc<Scheme>,
    signs: bool,
}

/// Marshal's and simplex's source of each epoch's scheme.
#[derive(Clone)]
pub struct EpochSchemes {
    chain: Arc<Chain>,
    signer: PrivateKey,
    known: Arc<Mutex<BTreeMap<u64, Known>>>,
}

impl EpochSchemes {
    pub fn new(chain: Arc<Chain>, signer: PrivateKey) -> EpochSchemes {
        EpochSchemes {
            chain,
            signer,
            known: Arc::default(),
        }
    }

    /// This node's consensus key.
    pub fn public_key(&self) -> PublicKey {
        self.signer.public_key()
    }

    /// `epoch`'s validator set, if this node's state has it yet.
    pub fn validators(&self, epoch: u64) -> Result<Option<Vec<Validator>>, StateError> {
        salus_app::epochs::set(&self.chain.store().snapshot()?, epoch)
    }

    fn known(&self, epoch: u64) -> Result<Option<Known>, StateError> {
        let mut known = self.known.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(hit) = known.get(&epoch) {
            return Ok(Some(hit.clone()));
        }
        let Some(set) = self.validators(epoch)? else {
            return Ok(None);
        };
        let participants = participants(&set);
        let me = self.signer.public_key();
        let signs = participants.position(&me).is_some();
        let scheme = if signs {
            Scheme::signer(NAMESPACE, participants, self.signer.clone())
                .expect("a member of the set can sign in it")
        } else {
            Scheme::verifier(NAMESPACE, participants)
        };
        let entry = Known {
            scheme: Arc::new(scheme),
            signs,
        };
        known.insert(epoch, entry.clone());
        Ok(Some(entry))
    }

    /// `epoch`'s scheme, if this node signs in it.
    pub fn signer(&self, epoch: u64) -> Result<Option<Arc<Scheme>>, StateError> {
        Ok(self.known(epoch)?.filter(|k| k.signs).map(|k| k.scheme))
    }

    /// [`EpochSchemes::known`] for marshal, which can only hear "not yet":
    /// a store that cannot answer is logged.
    fn known_or_logged(&self, epoch: u64) -> Option<Known> {
        self.known(epoch).unwrap_or_else(|error| {
            tracing::error!(%error, epoch, "cannot read an epoch's validator set");
            None
        })
    }
}

/// A set's keys as consensus knows them.
pub fn participants(set: &[Validator]) -> Set<PublicKey> {
    Set::from_iter_dedup(set.iter().map(crate::peers::consensus_key))
}

impl Provider for EpochSchemes {
    type Scope = Epoch;
    type Scheme = Scheme;

    fn scoped(&self, epoch: Epoch) -> Option<Scoped<Scheme>> {
        let known = self.known_or_logged(epoch.get())?;
        Some(if known.signs {
            Scoped::scheme(known.scheme)
        } else {
            Scoped::verifier(known.scheme)
        })
    }

    // Marshal checks notarizations it fetches with the full scheme; a node
    // outside an epoch's set still verifies them.
    fn scheme(&self, epoch: Epoch) -> Option<Arc<Scheme>> {
        self.known_or_logged(epoch.get()).map(|k| k.scheme)
    }
}
