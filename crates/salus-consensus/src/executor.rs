//! Applies finalized blocks, in order, and acknowledges each one to marshal only
//! after it is durably committed (journaled by the store, which writes its
//! tables [`FLUSH_EVERY`] blocks at a time). Marshal redelivers anything
//! unacknowledged after a crash, and [`Chain::finalize`] ignores blocks it
//! already has, so no finalized block is lost or applied twice.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use commonware_actor::Feedback;
use commonware_consensus::marshal::Update;
use commonware_consensus::Reporter;
use commonware_cryptography::Digested;
use commonware_utils::acknowledgement::Exact;
use commonware_utils::Acknowledgement as _;
use futures::channel::mpsc;
use futures::StreamExt as _;
use salus_app::{Chain, ChainError};
use tracing::{debug, error, info};

use crate::block::ConsensusBlock;
use crate::Hooks;

type Delivery = (Digested<ConsensusBlock>, Exact);

/// How far this node's chain is behind the network's. A late joiner or a
/// wiped node learns the finalized tip from its peers' certificates long
/// before it has fetched and applied every block below it.
#[derive(Debug, Default)]
pub struct SyncProgress {
    /// The highest finalized height this node knows of, applied or not.
    network_tip: AtomicU64,
}

impl SyncProgress {
    pub fn network_tip(&self) -> u64 {
        self.network_tip.load(Ordering::Relaxed)
    }

    fn saw(&self, height: u64) {
        self.network_tip.fetch_max(height, Ordering::Relaxed);
    }
}

/// How many committed blocks the store buffers before one flush writes them
/// all to its tables. Consecutive blocks touch many of the same pages, which
/// a flush then writes once.
pub const FLUSH_EVERY: usize = 8;

/// A node this many blocks behind the network tip says it is catching up.
pub const SYNCING_LAG: u64 = 8;
const PROGRESS_EVERY: Duration = Duration::from_secs(2);

/// Marshal's reporter: hands finalized blocks to the executor task.
#[derive(Clone)]
pub struct Finalizer {
    sender: mpsc::UnboundedSender<Delivery>,
    progress: Arc<SyncProgress>,
}

impl Reporter for Finalizer {
    type Activity = Update<ConsensusBlock>;

    fn report(&mut self, activity: Update<ConsensusBlock>) -> Feedback {
        match activity {
            Update::Tip(_, height, _) => {
                self.progress.saw(height.get());
                Feedback::Ok
            }
            Update::Block(block, ack) => match self.sender.unbounded_send((block, ack)) {
                Ok(()) => Feedback::Ok,
                Err(_) => Feedback::Closed,
            },
        }
    }
}

pub fn channel(progress: Arc<SyncProgress>) -> (Finalizer, mpsc::UnboundedReceiver<Delivery>) {
    let (sender, receiver) = mpsc::unbounded();
    (Finalizer { sender, progress }, receiver)
}

/// Runs until marshal closes the channel or a block cannot be applied. A
/// finalized block that does not apply means this node's state diverged from a
/// quorum's (or its disk failed): it stops rather than serve a wrong state.
pub async fn run(
    chain: Arc<Chain>,
    hooks: Arc<dyn Hooks>,
    progress: Arc<SyncProgress>,
    mut deliveries: mpsc::UnboundedReceiver<Delivery>,
) -> Result<(), ChainError> {
    let mut catching_up = false;
    let mut last_report = Instant::now();
    while let Some((block, ack)) = deliveries.next().await {
        let block = block.inner().block();
        let height = block.header.height;
        match chain.finalize(block) {
            Ok(committed) => {
                if let Some(receipts) = committed {
                    hooks.finalized(block, &receipts);
                }
                progress.saw(height);
                let tip = progress.network_tip();
                let behind = tip.saturating_sub(height) >= SYNCING_LAG;
                if behind && (!catching_up || last_report.elapsed() >= PROGRESS_EVERY) {
                    info!(height, network_tip = tip, "catching up from peers");
                    last_report = Instant::now();
                } else if catching_up && !behind {
                    info!(height, network_tip = tip, "caught up with the network");
                } else if height.is_multiple_of(1000) {
                    info!(height, "finalized");
                }
                catching_up = behind;
                ack.acknowledge();
                if chain.store().buffered_blocks() >= FLUSH_EVERY {
                    flush(&chain, hooks.as_ref())?;
                }
            }
            Err(e) => {
                error!(height = block.header.height, error = %e, "cannot apply finalized block; halting");
                return Err(e);
            }
        }
    }
    flush(&chain, hooks.as_ref())
}

fn flush(chain: &Chain, hooks: &dyn Hooks) -> Result<(), ChainError> {
    let blocks = chain.store().buffered_blocks();
    if blocks == 0 {
        return Ok(());
    }
    let started = Instant::now();
    if let Err(e) = chain.store().flush() {
        error!(error = %e, "cannot write finalized blocks to disk; halting");
        return Err(e.into());
    }
    let took = started.elapsed();
    hooks.flushed(blocks, took);
    debug!(blocks, took_ms = took.as_millis() as u64, "flushed");
    Ok(())
}
