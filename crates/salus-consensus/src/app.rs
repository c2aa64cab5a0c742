//! The commonware `Application`: block building and full verification.

use std::sync::Arc;
use std::time::Duration;

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
use crate::{to_hash, ConsensusContext, Hooks, Scheme};

/// How far ahead of this node's clock a proposal's timestamp may be. A block
/// further ahead is not rejected (it may be our clock that lags) but waits.
pub const MAX_CLOCK_DRIFT: Duration = Duration::from_millis(500);

#[derive(Clone)]
pub struct SalusApp {
    chain: Arc<Chain>,
    hooks: Arc<dyn Hooks>,
    /// This validator's key, written into the headers it proposes.
    proposer: PublicKey,
}

impl SalusApp {
    pub fn new(chain: Arc<Chain>, hooks: Arc<dyn Hooks>, proposer: PublicKey) -> Self {
        SalusApp {
            chain,
            hooks,
            proposer,
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
        let now = runtime.current().epoch_millis();
        let candidates = self.hooks.candidates(MAX_BLOCK_TXS);
        match self
            .chain
            .propose(&parent_hash, now, self.proposer, &candidates)
        {
            Ok(proposal) => {
                if !proposal.rejected.is_empty() {
                    self.hooks.rejected(&proposal.rejected);
                }
                self.hooks.proposed(&proposal.block);
                debug!(
                    height = proposal.block.header.height,
                    txs = proposal.block.txs.len(),
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
        let limit = now.saturating_add(MAX_CLOCK_DRIFT.as_millis() as u64);
        if block.header.timestamp_ms > limit {
            // Not invalid, only early: wait until our clock catches up.
            runtime
                .sleep(Duration::from_millis(block.header.timestamp_ms - limit))
                .await;
        }
        match self.chain.verify(block) {
            Ok(()) => true,
            Err(error) => {
                warn!(height = block.header.height, %error, "rejected proposal");
                false
            }
        }
    }
}
