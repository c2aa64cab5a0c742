//! One simplex instance per epoch.
//!
//! The orchestrator runs the instance of the epoch this node's chain is in,
//! over that epoch's set, and moves to the next when the executor has
//! applied the epoch's last block (which fixed the next set): it stops the
//! old instance and starts the new one from that block, the new epoch's
//! genesis as commonware's marshal sees it. An epoch whose set does not
//! name this node gets no instance: the node follows the chain through
//! marshal, asking that epoch's validators for its last block (and again
//! every [`FOLLOW_EVERY`] until it has it), so that a follower trails the
//! chain by at most an epoch. A validator whose chain has not moved for
//! [`FOLLOW_EVERY`] asks the same: its peers may have finished the epoch
//! while it was away, and no longer answer for it. Hearing a peer in a
//! later epoch than its own means the node is behind, so it asks that peer
//! for the last block of its own epoch.

use std::sync::Arc;
use std::time::Duration;

use commonware_consensus::types::Height;
use commonware_cryptography::ed25519::PublicKey;
use commonware_p2p::utils::mux::{MuxHandle, SubReceiver, SubSender};
use commonware_p2p::{Channel, Message, Sender};
use commonware_runtime::{Clock, Handle};
use commonware_utils::channel::mpsc;
use commonware_utils::vec::NonEmptyVec;
use futures::channel::mpsc::UnboundedReceiver;
use futures::{FutureExt as _, StreamExt as _};
use salus_app::Chain;
use salus_types::epochs::{epoch_of, last_height};
use tracing::{debug, error, info};

use crate::engine::Mailbox;
use crate::epochs::EpochSchemes;
use crate::{to_digest, Digest, Scheme};

/// A sub-channel pair of one epoch.
pub type EpochChannel<S> = (SubSender<S>, SubReceiver<PublicKey>);

/// The simplex channels, split by epoch.
pub struct EpochChannels<S: Sender<PublicKey = PublicKey>> {
    pub votes: MuxHandle<S>,
    pub certificates: MuxHandle<S>,
    pub resolver: MuxHandle<S>,
    pub votes_backup: mpsc::Receiver<(Channel, Message<PublicKey>)>,
    pub certificates_backup: mpsc::Receiver<(Channel, Message<PublicKey>)>,
}

pub struct Orchestrator<C> {
    pub clock: C,
    pub chain: Arc<Chain>,
    pub schemes: EpochSchemes,
    pub marshal: Mailbox,
    pub epoch_blocks: u64,
    pub genesis: Digest,
    /// The epochs whose last block the executor has applied.
    pub ended: UnboundedReceiver<u64>,
}

/// How often a follower asks again for the end of its epoch.
pub const FOLLOW_EVERY: Duration = Duration::from_secs(2);

impl<C: Clock> Orchestrator<C> {
    /// The block epoch `epoch` starts from: genesis, or the last block of the
    /// epoch before, which this node has applied before it enters `epoch`.
    fn floor(&self, epoch: u64) -> Option<Digest> {
        let Some(previous) = epoch.checked_sub(1) else {
            return Some(self.genesis);
        };
        let height = last_height(previous, self.epoch_blocks)?;
        match self.chain.store().block(height) {
            Ok(Some(block)) => Some(to_digest(&block.digest())),
            Ok(None) => {
                error!(epoch, height, "the block that starts this epoch is missing");
                None
            }
            Err(e) => {
                error!(epoch, height, error = %e, "cannot read the block that starts this epoch");
                None
            }
        }
    }

    /// Runs until the executor stops. `start` starts epoch `epoch`'s
    /// instance with its scheme, its floor and its votes, certificates and
    /// resolver channels.
    pub async fn run<S, F>(mut self, mut channels: EpochChannels<S>, mut start: F)
    where
        S: Sender<PublicKey = PublicKey>,
        F: FnMut(
            u64,
            Scheme,
            Digest,
            (EpochChannel<S>, EpochChannel<S>, EpochChannel<S>),
        ) -> Handle<()>,
    {
        let mut current = epoch_of(self.chain.tip().0.height + 1, self.epoch_blocks);
        let mut instance: Option<Handle<()>> = None;
        let mut hints = Hints::default();
        let mut follow_at = self.clock.current() + FOLLOW_EVERY;
        let mut last_tip = self.chain.tip().0.height;
        'epochs: loop {
            if let Some(old) = instance.take() {
                old.abort();
            }
            let scheme = match self.schemes.signer(current) {
                Ok(scheme) => scheme,
                Err(e) => {
                    error!(epoch = current, error = %e, "cannot read this epoch's validator set; consensus stops");
                    break 'epochs;
                }
            };
            instance = match (scheme, self.floor(current)) {
                (Some(scheme), Some(floor)) => {
                    let registered = async {
                        Some((
                            channels.votes.register(current).await.ok()?,
                            channels.certificates.register(current).await.ok()?,
                            channels.resolver.register(current).await.ok()?,
                        ))
                    };
                    let Some(subchannels) = registered.await else {
                        error!(
                            epoch = current,
                            "the p2p channels are closed; consensus stops"
                        );
                        break 'epochs;
                    };
                    info!(epoch = current, "starting this epoch's consensus instance");
                    Some(start(current, (*scheme).clone(), floor, subchannels))
                }
                (None, _) => {
                    info!(
                        epoch = current,
                        "not a validator of this epoch; following the chain until its end"
                    );
                    follow_at = self.clock.current();
                    None
                }
                (_, None) => {
                    error!(
                        epoch = current,
                        "cannot find the block this epoch starts from; consensus stops"
                    );
                    break 'epochs;
                }
            };
            // Wait for the executor to apply this epoch's last block.
            loop {
                let follow = self.clock.sleep_until(follow_at);
                // Biased, in this order, so that a simulation replays exactly:
                // `select!` picks among ready branches at random.
                futures::select_biased! {
                    ended = self.ended.next() => match ended {
                        Some(mut epoch) if epoch >= current => {
                            // Take every end already reported: a node catching
                            // up must not start instances for epochs long over.
                            while let Ok(later) = self.ended.try_recv() {
                                epoch = epoch.max(later);
                            }
                            current = epoch + 1;
                            follow_at = self.clock.current() + FOLLOW_EVERY;
                            continue 'epochs;
                        }
                        Some(_) => {}
                        None => break 'epochs,
                    },
                    () = follow.fuse() => {
                        let tip = self.chain.tip().0.height;
                        if instance.is_none() || tip == last_tip {
                            self.follow(current);
                        }
                        last_tip = tip;
                        follow_at = self.clock.current() + FOLLOW_EVERY;
                    },
                    message = channels.votes_backup.recv().fuse() => match message {
                        Some(message) => self.behind(current, message, &mut hints),
                        None => break 'epochs,
                    },
                    message = channels.certificates_backup.recv().fuse() => match message {
                        Some(message) => self.behind(current, message, &mut hints),
                        None => break 'epochs,
                    },
                }
            }
        }
        if let Some(last) = instance.take() {
            last.abort();
        }
    }

    /// Asks `epoch`'s validators for its last block: a follower hears no
    /// votes or certificates, and a validator that fell behind within its
    /// epoch may hear none either, so neither could learn of it otherwise.
    fn follow(&self, epoch: u64) {
        let Some(last) = last_height(epoch, self.epoch_blocks) else {
            return;
        };
        let validators = match self.schemes.validators(epoch) {
            Ok(Some(set)) => crate::epochs::participants(&set),
            Ok(None) => return,
            Err(e) => {
                error!(epoch, error = %e, "cannot read this epoch's validator set");
                return;
            }
        };
        let me = self.schemes.public_key();
        let peers: Vec<PublicKey> = validators.into_iter().filter(|p| *p != me).collect();
        if let Ok(peers) = NonEmptyVec::try_from(peers) {
            debug!(
                epoch,
                height = last,
                "following: asking for this epoch's last block"
            );
            self.marshal.hint_finalized(Height::new(last), peers);
        }
    }

    /// A peer spoke in an epoch this node runs no instance for. If it is a
    /// later one, this node is behind: ask that peer for its epoch's end.
    fn behind(
        &self,
        current: u64,
        (epoch, (peer, _)): (Channel, Message<PublicKey>),
        hints: &mut Hints,
    ) {
        if epoch <= current {
            return;
        }
        let Some(last) = last_height(current, self.epoch_blocks) else {
            return;
        };
        if !hints.due(last) {
            return;
        }
        debug!(
            epoch,
            current, "a peer is in a later epoch; fetching this one's end"
        );
        self.marshal
            .hint_finalized(Height::new(last), NonEmptyVec::new(peer));
    }
}

/// How often a lagging node asks for the same height: once, then again
/// every [`REHINT_EVERY`] messages from later epochs (a fetch can fail),
/// rather than on each of the hundreds a second its peers send.
const REHINT_EVERY: u32 = 256;

#[derive(Default)]
struct Hints {
    height: Option<u64>,
    skipped: u32,
}

impl Hints {
    fn due(&mut self, height: u64) -> bool {
        if self.height == Some(height) && self.skipped < REHINT_EVERY {
            self.skipped += 1;
            return false;
        }
        self.height = Some(height);
        self.skipped = 0;
        true
    }
}
