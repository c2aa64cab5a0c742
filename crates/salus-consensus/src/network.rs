//! The authenticated, encrypted p2p network between validators
//! (commonware `authenticated::lookup`: known peer sets with addresses,
//! mutually authenticated handshakes, ChaCha20-Poly1305 streams). Which
//! peers it admits is the chain's to say: the node tracks each
//! [`PeerSet`](crate::peers::PeerSet) on the oracle this returns.

use std::net::SocketAddr;
use std::num::NonZeroUsize;
use std::time::Duration;

use commonware_cryptography::ed25519::{PrivateKey, PublicKey};
use commonware_cryptography::ChaCha20Poly1305;
use commonware_p2p::authenticated::lookup;
use commonware_p2p::{Receiver, Sender};
use commonware_runtime::{Clock, Handle, Metrics, Network as RNetwork, Quota, Resolver, Spawner};
use commonware_stream::cups::{self, Cups};
use commonware_stream::sake::{self, Sake};
use commonware_utils::{NZUsize, NZU32};
use salus_types::MAX_BLOCK_BYTES;

use crate::engine::{channel, Channels};

const P2P_NAMESPACE: &[u8] = b"_SALUS_P2P";

/// The largest p2p message: a full block plus framing.
pub const MAX_MESSAGE_BYTES: u32 = (MAX_BLOCK_BYTES + (1 << 20)) as u32;

/// The network's channels: consensus's, and one to gossip transactions so
/// that a transaction submitted to any validator reaches every leader.
pub struct NetworkChannels<S, R> {
    pub consensus: Channels<S, R>,
    pub txs: (S, R),
}

/// Starts the p2p network for `signer` and registers the validator
/// channels. It admits no peer until one is tracked on the oracle, and
/// tracks at most `max_peers` others in one set.
pub fn start<E>(
    context: E,
    signer: PrivateKey,
    listen: SocketAddr,
    max_peers: usize,
) -> (
    NetworkChannels<impl Sender<PublicKey = PublicKey>, impl Receiver<PublicKey = PublicKey>>,
    lookup::Oracle<PublicKey>,
    Handle<()>,
)
where
    E: Spawner + Clock + rand_core_010::CryptoRng + RNetwork + Resolver + Metrics,
{
    let handshake = Cups::<_, ChaCha20Poly1305>::new(
        Sake {
            signer: signer.clone(),
            synchrony_bound: Duration::from_secs(5),
            max_handshake_age: Duration::from_secs(10),
            version: sake::Version::V1,
        },
        cups::Version::V1,
    );
    let config = lookup::Config::local(
        handshake,
        P2P_NAMESPACE,
        listen,
        // commonware counts this node in every set it tracks.
        NonZeroUsize::new(max_peers.saturating_add(1)).expect("at least one"),
        MAX_MESSAGE_BYTES,
        NZUsize!(4096),
    );
    let (mut network, oracle) = lookup::Network::new(context.child("p2p"), config);
    // Each channel queues up to a burst per retained peer: the bursts bound
    // the memory a node sets aside for its peers.
    let fast = Quota::per_second(NZU32!(10_000)).allow_burst(NZU32!(1_000));
    let slow = Quota::per_second(NZU32!(1_000));
    let consensus = Channels {
        votes: network.register(channel::VOTES, fast),
        certificates: network.register(channel::CERTIFICATES, fast),
        resolver: network.register(channel::RESOLVER, fast),
        blocks: network.register(channel::BLOCKS, slow),
        backfill: network.register(channel::BACKFILL, slow),
    };
    let txs = network.register(channel::TXS, fast);
    let channels = NetworkChannels { consensus, txs };
    let handle = network.start();
    (channels, oracle, handle)
}
