//! Applies finalized blocks, in order, and acknowledges each one to marshal only
//! after it is durably committed: journaled by the store, which writes its
//! tables [`FLUSH_EVERY`] blocks at a time (in the background on a real node).
//! Marshal redelivers anything unacknowledged after a crash, the store's
//! journal gives back anything acknowledged but not flushed, and
//! [`Chain::finalize`] ignores blocks it already has, so no finalized block is
//! lost or applied twice.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
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
use salus_state::StateError;
use tracing::{debug, error, info};

use crate::block::ConsensusBlock;
use crate::peers::PeerSet;
use crate::Hooks;

type Delivery = (Digested<ConsensusBlock>, Exact);

/// How far this node's chain is behind the network's. A late joiner or a
/// wiped node learns the finalized tip from its peers' certificates long
/// before it has fetched and applied every block below it.
#[derive(Debug)]
pub struct SyncProgress {
    /// The highest finalized height this node knows of, applied or not.
    network_tip: AtomicU64,
    /// The newest height this node has applied.
    applied: AtomicU64,
    /// While the node is catching up: when it last said so.
    reported: Mutex<Option<Instant>>,
}

impl SyncProgress {
    /// Progress for a node whose chain is at `applied`.
    pub fn starting_at(applied: u64) -> SyncProgress {
        SyncProgress {
            network_tip: AtomicU64::new(applied),
            applied: AtomicU64::new(applied),
            reported: Mutex::new(None),
        }
    }

    pub fn network_tip(&self) -> u64 {
        self.network_tip.load(Ordering::Relaxed)
    }

    fn saw(&self, height: u64) {
        self.network_tip.fetch_max(height, Ordering::Relaxed);
        self.report();
    }

    fn applied(&self, height: u64) {
        self.applied.store(height, Ordering::Relaxed);
        self.saw(height);
    }

    /// Logs when the node falls [`SYNCING_LAG`] blocks behind (on news of
    /// the tip as much as on applying a block, whichever shows it first),
    /// every [`PROGRESS_EVERY`] while it catches up, and when it is done.
    fn report(&self) {
        let height = self.applied.load(Ordering::Relaxed);
        let network_tip = self.network_tip();
        let behind = network_tip.saturating_sub(height) >= SYNCING_LAG;
        let mut reported = self.reported.lock().expect("sync report lock");
        match (*reported, behind) {
            (None, true) => {
                info!(height, network_tip, "catching up from peers");
                *reported = Some(Instant::now());
            }
            (Some(at), true) if at.elapsed() >= PROGRESS_EVERY => {
                info!(height, network_tip, "catching up from peers");
                *reported = Some(Instant::now());
            }
            (Some(_), false) => {
                info!(height, network_tip, "caught up with the network");
                *reported = None;
            }
            _ => {}
        }
    }
}

/// How many committed blocks the store buffers before one flush writes them
/// all to its tables. Consecutive blocks touch many of the same pages, which
/// a flush then writes once.
pub const FLUSH_EVERY: usize = 16;
/// The most blocks the buffer may hold while a background flush runs; beyond
/// this the executor waits for it, so that a slow disk bounds memory.
pub const MAX_BUFFERED: usize = 2 * FLUSH_EVERY;

/// Where the store's buffer is flushed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FlushMode {
    /// On the executor task, between blocks. Deterministic simulations use
    /// this: their runtime must run every piece of work itself.
    Inline,
    /// On a thread of its own, so that committing the next blocks (and
    /// telling clients they are final) need not wait for a flush.
    Background,
}

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

/// Whom the executor tells what an applied block changed beyond state.
pub struct Notices {
    /// Blocks per epoch.
    pub epoch_blocks: u64,
    /// Each epoch, once its last block (which fixed the next epoch's
    /// validator set) is applied: the orchestrator.
    pub epoch_ends: mpsc::UnboundedSender<u64>,
    /// Each change to whom the node should be connected: the p2p network.
    pub peer_sets: mpsc::UnboundedSender<PeerSet>,
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
    mode: FlushMode,
    notices: Notices,
) -> Result<(), ChainError> {
    let mut flusher = Flusher {
        chain: chain.clone(),
        hooks: hooks.clone(),
        mode,
        running: None,
    };
    while let Some((block, ack)) = deliveries.next().await {
        let block = block.inner().block();
        let height = block.header.height;
        let started = Instant::now();
        match chain.finalize(block) {
            Ok(committed) => {
                let took_ms = started.elapsed().as_millis() as u64;
                if let Some(receipts) = committed {
                    hooks.finalized(block, &receipts);
                    if PeerSet::changed_by(&receipts) {
                        match PeerSet::at_tip(&chain) {
                            // Nobody listening means the node is stopping.
                            Ok(peers) => drop(notices.peer_sets.unbounded_send(peers)),
                            // The block is committed; the peers stay those of the set before.
                            Err(error) => error!(height, %error, "cannot read the new peer set"),
                        }
                    }
                }
                progress.applied(height);
                debug!(
                    height,
                    txs = block.txs.len(),
                    since_proposal_ms = since_proposal_ms(block),
                    took_ms,
                    "committed"
                );
                if height.is_multiple_of(1000) {
                    info!(height, "finalized");
                }
                ack.acknowledge();
                if salus_types::epochs::ends_epoch(height, notices.epoch_blocks) {
                    let epoch = salus_types::epochs::epoch_of(height, notices.epoch_blocks);
                    // Nobody listening means consensus is stopping.
                    let _ = notices.epoch_ends.unbounded_send(epoch);
                }
                flusher.after_commit()?;
            }
            Err(e) => {
                error!(height = block.header.height, error = %e, "cannot apply finalized block; halting");
                return Err(e);
            }
        }
    }
    flusher.finish()
}

/// How long ago, by this node's clock, the block's proposer started
/// building it: from proposal to commit here, for the logs only.
fn since_proposal_ms(block: &salus_types::Block) -> u64 {
    use commonware_utils::SystemTimeExt as _;
    std::time::SystemTime::now()
        .epoch_millis()
        .saturating_sub(block.header.timestamp_ms)
}

/// Starts a flush whenever [`FLUSH_EVERY`] blocks wait in the buffer, one
/// flush at a time.
struct Flusher {
    chain: Arc<Chain>,
    hooks: Arc<dyn Hooks>,
    mode: FlushMode,
    running: Option<std::thread::JoinHandle<Result<(), ChainError>>>,
}

impl Flusher {
    fn after_commit(&mut self) -> Result<(), ChainError> {
        if let Some(flush) = &self.running {
            let buffered = self.chain.store().buffered_blocks();
            if !flush.is_finished() && buffered < MAX_BUFFERED {
                return Ok(());
            }
            self.wait()?;
        }
        if self.chain.store().buffered_blocks() < FLUSH_EVERY {
            return Ok(());
        }
        match self.mode {
            FlushMode::Inline => flush(&self.chain, self.hooks.as_ref()),
            FlushMode::Background => {
                let (chain, hooks) = (self.chain.clone(), self.hooks.clone());
                let spawned = std::thread::Builder::new()
                    .name("salus-flush".into())
                    .spawn(move || {
                        lower_thread_priority();
                        flush(&chain, hooks.as_ref())
                    });
                match spawned {
                    Ok(handle) => self.running = Some(handle),
                    // No thread to be had: flush here rather than not at all.
                    Err(_) => flush(&self.chain, self.hooks.as_ref())?,
                }
                Ok(())
            }
        }
    }

    fn wait(&mut self) -> Result<(), ChainError> {
        match self.running.take() {
            Some(flush) => flush.join().unwrap_or_else(|_| {
                Err(ChainError::State(StateError::Storage(
                    "the flush thread panicked".into(),
                )))
            }),
            None => Ok(()),
        }
    }

    /// Waits for a running flush, then flushes what is left.
    fn finish(mut self) -> Result<(), ChainError> {
        self.wait()?;
        flush(&self.chain, self.hooks.as_ref())
    }
}

/// The nice value of a background flush thread.
const FLUSH_NICE: i32 = 19;

/// Lowers the calling thread's CPU priority. A flush is catch-up work with
/// slack (blocks are journaled and readable before it runs), while proposing,
/// verifying and voting are on every client's path to finality: on a busy
/// node they must not queue behind it. Best effort: without it a flush only
/// competes at normal priority.
fn lower_thread_priority() {
    #[cfg(target_os = "linux")]
    // SAFETY: `setpriority` reads and writes no memory of ours. On Linux,
    // `PRIO_PROCESS` with a thread id changes that one thread's nice value.
    unsafe {
        libc::setpriority(libc::PRIO_PROCESS, libc::gettid() as libc::id_t, FLUSH_NICE);
    }
}

fn flush(chain: &Chain, hooks: &dyn Hooks) -> Result<(), ChainError> {
    let blocks = chain.store().buffered_blocks();
    if blocks == 0 {
        return Ok(());
    }
    let started = Instant::now();
    if let Err(e) = chain.store().flush_lazily() {
        error!(error = %e, "cannot write finalized blocks to disk; halting");
        return Err(e.into());
    }
    let took = started.elapsed();
    hooks.flushed(blocks, took);
    debug!(blocks, took_ms = took.as_millis() as u64, "flushed");
    Ok(())
}
