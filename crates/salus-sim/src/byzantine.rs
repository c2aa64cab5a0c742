//! A Byzantine proposer: it runs the honest application but corrupts every
//! block it proposes (a wrong state root, or a transaction the block never
//! executed), so honest validators must refuse its blocks while the chain
//! goes on without it.

use commonware_consensus::marshal::ancestry::Ancestry;
use commonware_consensus::Application;
use commonware_cryptography::{Digested, Digestible as _};
use commonware_runtime::{Clock, Metrics, Spawner};
use salus_consensus::app::SalusApp;
use salus_consensus::block::ConsensusBlock;
use salus_consensus::{ConsensusContext, Scheme};
use salus_types::Hash;

use crate::Lie;

#[derive(Clone)]
pub struct Byzantine {
    honest: SalusApp,
    lie: Lie,
}

impl Byzantine {
    pub fn new(honest: SalusApp, lie: Lie) -> Byzantine {
        Byzantine { honest, lie }
    }
}

impl<E: Clock + Spawner + Metrics> Application<E> for Byzantine {
    type SigningScheme = Scheme;
    type Context = ConsensusContext;
    type Block = ConsensusBlock;
    type Input = ();

    async fn propose(
        &mut self,
        context: (E, ConsensusContext),
        ancestry: impl Ancestry<ConsensusBlock>,
        input: (),
    ) -> Option<Digested<ConsensusBlock>> {
        let honest = self.honest.propose(context, ancestry, input).await?;
        let mut block = honest.inner().block().clone();
        match self.lie {
            Lie::WrongStateRoot => block.header.state_root = Hash([0xba; 32]),
            Lie::MissingTransactions => {
                if block.txs.is_empty() {
                    block.header.state_root = Hash([0xbb; 32]);
                }
                block.txs.clear();
            }
            // Its lie is in its votes, not its blocks.
            Lie::Equivocate => return Some(honest),
        }
        let forged = ConsensusBlock::new(block);
        let digest = forged.digest();
        Some(Digested::precomputed(forged, digest))
    }

    async fn verify(
        &mut self,
        context: (E, ConsensusContext),
        ancestry: impl Ancestry<ConsensusBlock>,
    ) -> bool {
        // It votes like anyone else: lying in votes is what the quorum rule
        // already tolerates.
        self.honest.verify(context, ancestry).await
    }
}
