//! Whom a node keeps p2p connections with, as its chain says.
//!
//! The chain holds every epoch's validator set with each validator's
//! address (salus-app's `epochs` module). A node connects to the set of the
//! epoch its next block belongs to (the primary peers, who drive
//! consensus) and to the validators of a pending next set (secondary peers,
//! who follow until their epoch starts). A node therefore admits and dials
//! a validator that governance has just voted in before its first epoch,
//! and that validator, starting from genesis, first dials the genesis set
//! and syncs from it.
//!
//! Each change comes as a [`PeerSet`] whose id is the height of the block
//! that made it: ids only grow, as commonware's peer managers require, and
//! every node that applied the same chain tracks the same sets under the
//! same ids.

use std::net::SocketAddr;

use commonware_cryptography::ed25519::PublicKey;
use commonware_p2p::{Address, AddressableTrackedPeers, TrackedPeers};
use commonware_utils::ordered::{Map, Set};
use salus_app::{epochs, Chain};
use salus_state::StateError;
use salus_types::epochs::{epoch_of, Validator};
use salus_types::{Event, Receipt};
use tracing::{error, warn};

/// How many peers a node connects to by default: an epoch's set and a
/// pending one of up to 16 validators each. The p2p network sizes its
/// queues by this bound (per peer, per channel), so it is a node setting
/// rather than the chain's `MAX_VALIDATORS`.
pub const DEFAULT_MAX_PEERS: usize = 32;

/// The peers a node should be connected to after applying block `id`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PeerSet {
    /// The height of the block that made this set.
    pub id: u64,
    /// The validators of the epoch the next block belongs to.
    pub primary: Vec<Validator>,
    /// Validators of the pending next set that are not primary.
    pub secondary: Vec<Validator>,
}

impl PeerSet {
    /// The set as of `chain`'s applied tip.
    pub fn at_tip(chain: &Chain) -> Result<PeerSet, StateError> {
        // The tip first: a state at least as new has its epoch's set.
        let height = chain.tip().0.height;
        let snapshot = chain.store().snapshot()?;
        let epoch = epoch_of(height + 1, epochs::length(&snapshot)?);
        let primary = epochs::set(&snapshot, epoch)?
            .ok_or_else(|| StateError::Corrupt(format!("epoch {epoch} has no validator set")))?;
        let secondary = epochs::pending(&snapshot)?
            .unwrap_or_default()
            .into_iter()
            .filter(|v| !primary.iter().any(|p| p.key == v.key))
            .collect();
        Ok(PeerSet {
            id: height,
            primary,
            secondary,
        })
    }

    /// Whether a block with these receipts may have changed the set: only
    /// the epochs module's events (a set fixed, a validator added, removed,
    /// re-keyed or moved) do.
    pub fn changed_by(receipts: &[Receipt]) -> bool {
        receipts
            .iter()
            .flat_map(|r| &r.events)
            .any(|e| matches!(e, Event::Epochs(_)))
    }

    /// The keys, for peer managers that know no addresses (simulations).
    pub fn keys(&self) -> TrackedPeers<PublicKey> {
        let keys = |set: &[Validator]| Set::from_iter_dedup(set.iter().map(consensus_key));
        TrackedPeers::new(keys(&self.primary), keys(&self.secondary))
    }

    /// The keys with their addresses, for the p2p network: this node
    /// itself left out, and at most `max_peers` others, primary ones first
    /// (a set larger than that is logged as an error: the operator must
    /// raise the node's bound). A validator whose address cannot be dialled
    /// (a dev chain's, which is empty) is left out with a warning.
    pub fn addressed(
        &self,
        me: &PublicKey,
        max_peers: usize,
    ) -> AddressableTrackedPeers<PublicKey> {
        let mut room = max_peers;
        let mut addressed = |set: &[Validator]| {
            let mut peers = Vec::new();
            for v in set {
                let key = consensus_key(v);
                if key == *me {
                    continue;
                }
                let Ok(addr) = v.address.parse::<SocketAddr>() else {
                    warn!(validator = %v.key, address = %v.address, "a validator has no address to dial");
                    continue;
                };
                if room == 0 {
                    error!(
                        id = self.id,
                        max_peers, "the validator sets name more peers than this node connects to; raise its max_peers"
                    );
                    break;
                }
                room -= 1;
                peers.push((key, Address::Symmetric(addr)));
            }
            Map::from_iter_dedup(peers)
        };
        let primary = addressed(&self.primary);
        let secondary = addressed(&self.secondary);
        AddressableTrackedPeers::new(primary, secondary)
    }
}

/// A validator's key as consensus knows it.
pub(crate) fn consensus_key(validator: &Validator) -> PublicKey {
    salus_finality::consensus_key(&validator.key)
        .expect("the chain admits only valid ed25519 validator keys")
}
