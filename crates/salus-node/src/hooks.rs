//! How consensus reaches the mempool, subscribers and metrics.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Instant;

use salus_app::{auth, Chain};
use salus_consensus::{Execution, Hooks};
use salus_types::records::{RecordEvent, RecordId};
use salus_types::{AccountId, Block, Event, Hash, Receipt, Tx, TxError};
use tokio::sync::broadcast;

use crate::admission::mempool::Mempool;

/// Sent to subscribers when a block is final and durable.
#[derive(Debug, Clone)]
pub struct FinalizedNotice {
    pub height: u64,
    pub tx_hashes: Vec<Hash>,
    pub at: Instant,
    /// When the proposer started building the block (its header timestamp,
    /// by the proposer's clock).
    pub proposed_at_ms: u64,
}

/// Histograms the node keeps in the runtime's metrics registry.
pub struct NodeMetrics {
    /// Admission to finality, per transaction.
    pub finality: commonware_runtime::telemetry::metrics::Histogram,
    /// Writing buffered finalized blocks (state, archive and indexes) to disk.
    pub state_commit: commonware_runtime::telemetry::metrics::Histogram,
    /// Building a block as leader (execution and the new state root).
    pub propose: commonware_runtime::telemetry::metrics::Histogram,
    /// Checking a peer's proposal (signatures, execution, state root).
    pub verify: commonware_runtime::telemetry::metrics::Histogram,
}

impl NodeMetrics {
    pub fn register(context: &impl commonware_runtime::Metrics) -> NodeMetrics {
        use commonware_runtime::telemetry::metrics::MetricsExt as _;
        let buckets = |start: f64| (0..16).map(move |i| start * 2f64.powi(i));
        NodeMetrics {
            finality: context.histogram(
                "finality_seconds",
                "time from admission to finality, per transaction",
                buckets(0.002),
            ),
            state_commit: context.histogram(
                "state_commit_seconds",
                "time to write buffered finalized blocks to disk, per flush",
                buckets(0.000_25),
            ),
            propose: context.histogram(
                "propose_seconds",
                "time to build a block as leader",
                buckets(0.000_25),
            ),
            verify: context.histogram(
                "verify_seconds",
                "time to check a proposed block",
                buckets(0.000_25),
            ),
        }
    }
}

pub struct NodeHooks {
    chain: Arc<Chain>,
    mempool: Arc<Mempool>,
    finalized: broadcast::Sender<Arc<FinalizedNotice>>,
    /// Records erased on chain, for the vault to delete.
    erasures: futures::channel::mpsc::UnboundedSender<RecordId>,
    metrics: NodeMetrics,
    finalized_txs: AtomicU64,
    proposals: AtomicU64,
}

impl NodeHooks {
    pub fn new(
        chain: Arc<Chain>,
        mempool: Arc<Mempool>,
        finalized: broadcast::Sender<Arc<FinalizedNotice>>,
        erasures: futures::channel::mpsc::UnboundedSender<RecordId>,
        metrics: NodeMetrics,
    ) -> Self {
        NodeHooks {
            chain,
            mempool,
            finalized,
            erasures,
            metrics,
            finalized_txs: AtomicU64::new(0),
            proposals: AtomicU64::new(0),
        }
    }

    fn committed_nonce(&self) -> impl Fn(&AccountId) -> u64 + '_ {
        let snapshot = self.chain.store().snapshot().ok();
        move |id| {
            snapshot
                .as_ref()
                .and_then(|s| auth::account(s, id).ok())
                .map_or(0, |a| a.nonce)
        }
    }

    /// Prometheus text exposition.
    pub fn metrics_text(&self) -> String {
        let (tip, _) = self.chain.tip();
        format!(
            "# TYPE salus_height gauge\nsalus_height {}\n# TYPE salus_finalized_txs_total counter\nsalus_finalized_txs_total {}\n# TYPE salus_mempool_size gauge\nsalus_mempool_size {}\n# TYPE salus_proposals_total counter\nsalus_proposals_total {}\n",
            tip.height,
            self.finalized_txs.load(Ordering::Relaxed),
            self.mempool.len(),
            self.proposals.load(Ordering::Relaxed),
        )
    }
}

impl Hooks for NodeHooks {
    fn candidates(&self, max: usize) -> Vec<Tx> {
        self.mempool.candidates(max, self.committed_nonce())
    }

    fn proposed(&self, block: &Block) {
        self.proposals.fetch_add(1, Ordering::Relaxed);
        self.mempool.mark_proposed(block);
    }

    fn verified(&self, block: &Block) {
        self.mempool.mark_proposed(block);
    }

    fn rejected(&self, rejected: &[(Hash, TxError)]) {
        self.mempool.drop_rejected(rejected);
    }

    fn executed(&self, execution: Execution, took: std::time::Duration) {
        let histogram = match execution {
            Execution::Proposed => &self.metrics.propose,
            Execution::Verified => &self.metrics.verify,
        };
        histogram.observe(took.as_secs_f64());
    }

    fn flushed(&self, _blocks: usize, took: std::time::Duration) {
        self.metrics.state_commit.observe(took.as_secs_f64());
    }

    fn finalized(&self, block: &Block, receipts: &[Receipt]) {
        for event in receipts.iter().flat_map(|r| &r.events) {
            if let Event::Records(RecordEvent::Erased { record, .. }) = event {
                // A closed channel means the node is stopping; the vault
                // reconciles erasures at its next start.
                let _ = self.erasures.unbounded_send(*record);
            }
        }
        self.finalized_txs
            .fetch_add(block.txs.len() as u64, Ordering::Relaxed);
        // Receipts carry each transaction's hash: no need to hash them again.
        // The block's own receipt (end-of-block events), if any, comes last.
        let tx_hashes: Vec<Hash> = receipts
            .iter()
            .take(block.txs.len())
            .map(|r| r.tx_hash)
            .collect();
        for waited in self
            .mempool
            .finalized(block, &tx_hashes, self.committed_nonce())
        {
            self.metrics.finality.observe(waited.as_secs_f64());
        }
        let notice = FinalizedNotice {
            height: block.header.height,
            tx_hashes,
            at: Instant::now(),
            proposed_at_ms: block.header.timestamp_ms,
        };
        // No subscribers is fine.
        let _ = self.finalized.send(Arc::new(notice));
    }
}
