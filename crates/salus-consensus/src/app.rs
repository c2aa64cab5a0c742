//! The commonware `Application`: block building and full verification.

use std::sync::Arc;
use std::time::{Duration, Instant};

use commonware_consensus::marshal::ancestry::Ancestry;
use commonware_consensus::Application;
use commonware_cryptography::{Digested, Digestible as _};
use commonware_runtime::{Clock, Metrics, Spawner};
use commonware_utils::SystemTimeExt as _;
use futures::StreamExt as _;
use salus_app::Chain;
use salus_types::{PublicKey, MAX_BLOCK_TXS};
use tracing::{debug, warn};

use crate::block::ConsensusBlock;
use crate::{to_hash, ConsensusContext, Execution, Hooks, Scheme};

/// How far ahead of this node's clock a proposal's timestamp may be. A block
/// further ahead waits (it may be our clock that lags)…
pub const MAX_CLOCK_DRIFT: Duration = Duration::from_millis(500);
/// …unless it is so far ahead that no honest clock could have produced it.
pub const MAX_FUTURE: Duration = Duration::from_secs(30);
/// The most unexecuted ancestors a node executes to catch up before verifying
/// or building; beyond this it waits for marshal to deliver them as finalized.
pub const MAX_CATCH_UP: usize = 256;

/// Whether this node can build on `digest`. A store that cannot answer is
/// not a "no": it is logged, and `None` makes the caller give up on this
/// block (no vote, no proposal) rather than fetch and re-execute ancestors
/// it may well hold.
fn is_known(chain: &Chain, digest: &salus_types::Hash) -> Option<bool> {
    match chain.is_known(digest) {
        Ok(known) => Some(known),
        Err(error) => {
            tracing::error!(%error, %digest, "cannot read the chain store to look up a block");
            None
        }
    }
}

/// Executes, oldest first, `block` and any ancestors this node has not executed
/// itself (missed while it was behind, or lost in a restart), so that it can
/// verify a child of `block` or build on it.
async fn execute_missing<E: Spawner>(
    runtime: &E,
    chain: &Arc<Chain>,
    block: Digested<ConsensusBlock>,
    ancestry: &mut impl Ancestry<ConsensusBlock>,
) -> bool {
    match is_known(chain, &to_hash(&block.digest())) {
        Some(true) => return true,
        Some(false) => {}
        None => return false,
    }
    let mut next_parent = block.inner().block().header.parent;
    let mut missing = vec![block];
    loop {
        match is_known(chain, &next_parent) {
            Some(true) => break,
            Some(false) => {}
            None => return false,
        }
        if missing.len() >= MAX_CATCH_UP {
            warn!("too many unexecuted ancestors; waiting for finalization to catch up");
            return false;
        }
        let Some(ancestor) = ancestry.next().await else {
            return false;
        };
        if to_hash(&ancestor.digest()) != next_parent {
            warn!("ancestry does not link up");
            return false;
        }
        next_parent = ancestor.inner().block().header.parent;
        missing.push(ancestor);
    }
    for ancestor in missing.iter().rev() {
        match verify_off_worker(runtime, chain, ancestor.inner()).await {
            Some(Ok(())) => {}
            Some(Err(error)) => {
                let height = ancestor.inner().block().header.height;
                warn!(height, %error, "ancestor does not verify");
                return false;
            }
            None => return false,
        }
    }
    true
}

/// Runs `work` (executing a block: tens of milliseconds) on the runtime's
/// blocking pool. On the node's async worker it would hold up every other
/// consensus task of this node: votes that finalize the previous block would
/// wait behind the next block's execution. `None` if the runtime is
/// stopping.
async fn off_worker<E: Spawner, T: Send + 'static>(
    runtime: &E,
    work: impl FnOnce() -> T + Send + 'static,
) -> Option<T> {
    runtime
        .child("execute")
        .shared(true)
        .spawn(move |_| async move { work() })
        .await
        .ok()
}

/// [`Chain::verify`] of `block`, through [`off_worker`].
async fn verify_off_worker<E: Spawner>(
    runtime: &E,
    chain: &Arc<Chain>,
    block: &ConsensusBlock,
) -> Option<Result<(), salus_app::ChainError>> {
    let (chain, block) = (chain.clone(), block.clone());
    off_worker(runtime, move || chain.verify(block.block())).await
}

/// How often a leader waiting for transactions looks at the mempool.
const CANDIDATE_POLL: Duration = Duration::from_millis(5);

#[derive(Clone)]
pub struct SalusApp {
    chain: Arc<Chain>,
    hooks: Arc<dyn Hooks>,
    /// This validator's key, written into the headers it proposes.
    proposer: PublicKey,
    /// How long to wait for transactions before proposing an empty block.
    empty_block_delay: Duration,
}

impl SalusApp {
    pub fn new(
        chain: Arc<Chain>,
        hooks: Arc<dyn Hooks>,
        proposer: PublicKey,
        empty_block_delay: Duration,
    ) -> Self {
        SalusApp {
            chain,
            hooks,
            proposer,
            empty_block_delay,
        }
    }
}

impl<E: Clock + Spawner + Metrics> Application<E> for SalusApp {
    type SigningScheme = Scheme;
    type Context = ConsensusContext;
    type Block = ConsensusBlock;
    type Input = ();

    async fn propose(
        &mut self,
        (runtime, _context): (E, ConsensusContext),
        mut ancestry: impl Ancestry<ConsensusBlock>,
        _input: (),
    ) -> Option<Digested<ConsensusBlock>> {
        let parent = ancestry.next().await?;
        let parent_hash = to_hash(&parent.digest());
        if !execute_missing(&runtime, &self.chain, parent, &mut ancestry).await {
            return None;
        }
        // An idle chain waits a little for transactions rather than finalize
        // empty blocks back to back; a busy one proposes at once.
        let deadline = runtime.current() + self.empty_block_delay;
        let mut candidates = self.hooks.candidates(MAX_BLOCK_TXS);
        while candidates.is_empty() && runtime.current() < deadline {
            runtime.sleep(CANDIDATE_POLL).await;
            candidates = self.hooks.candidates(MAX_BLOCK_TXS);
        }
        let now = runtime.current().epoch_millis();
        let started = Instant::now();
        let (chain, proposer) = (self.chain.clone(), self.proposer);
        let candidate_count = candidates.len();
        let proposed = off_worker(&runtime, move || {
            chain.propose(&parent_hash, now, proposer, &candidates)
        })
        .await?;
        let took = started.elapsed();
        self.hooks.executed(Execution::Proposed, took);
        match proposed {
            Ok(proposal) => {
                if !proposal.rejected.is_empty() {
                    self.hooks.rejected(&proposal.rejected);
                }
                self.hooks.proposed(&proposal.block);
                debug!(
                    height = proposal.block.header.height,
                    txs = proposal.block.txs.len(),
                    candidates = candidate_count,
                    took_ms = took.as_millis() as u64,
                    "proposed"
                );
                let block = ConsensusBlock::new(proposal.block);
                let digest = block.digest();
                Some(Digested::precomputed(block, digest))
            }
            Err(error) => {
                warn!(%error, "cannot build on parent; skipping this proposal");
                None
            }
        }
    }

    async fn verify(
        &mut self,
        (runtime, _context): (E, ConsensusContext),
        mut ancestry: impl Ancestry<ConsensusBlock>,
    ) -> bool {
        let Some(candidate) = ancestry.next().await else {
            return false;
        };
        let block = candidate.inner().block();
        let now = runtime.current().epoch_millis();
        if block.header.timestamp_ms > now.saturating_add(MAX_FUTURE.as_millis() as u64) {
            warn!(
                height = block.header.height,
                "rejected proposal: timestamp too far in the future"
            );
            return false;
        }
        let limit = now.saturating_add(MAX_CLOCK_DRIFT.as_millis() as u64);
        if block.header.timestamp_ms > limit {
            // Not invalid, only early: wait until our clock catches up.
            runtime
                .sleep(Duration::from_millis(block.header.timestamp_ms - limit))
                .await;
        }
        let Some(parent_known) = is_known(&self.chain, &block.header.parent) else {
            return false;
        };
        if !parent_known {
            let Some(parent) = ancestry.next().await else {
                return false;
            };
            if to_hash(&parent.digest()) != block.header.parent
                || !execute_missing(&runtime, &self.chain, parent, &mut ancestry).await
            {
                return false;
            }
        }
        let started = Instant::now();
        // `None`: the runtime is stopping, and the verdict reaches no one.
        let Some(verified) = verify_off_worker(&runtime, &self.chain, candidate.inner()).await
        else {
            return false;
        };
        let took = started.elapsed();
        self.hooks.executed(Execution::Verified, took);
        debug!(
            height = block.header.height,
            txs = block.txs.len(),
            took_ms = took.as_millis() as u64,
            "verified"
        );
        match verified {
            Ok(()) => {
                self.hooks.verified(block);
                true
            }
            Err(error) => {
                warn!(height = block.header.height, %error, "rejected proposal");
                false
            }
        }
    }
}
