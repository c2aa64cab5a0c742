//! Applies finalized blocks, in order, and acknowledges each one to marshal only
//! after it is durably committed. Marshal redelivers anything unacknowledged
//! after a crash, and [`Chain::finalize`] ignores blocks it already has, so no
//! finalized block is lost or applied twice.

use std::sync::Arc;

use commonware_actor::Feedback;
use commonware_consensus::marshal::Update;
use commonware_consensus::Reporter;
use commonware_cryptography::Digested;
use commonware_utils::acknowledgement::Exact;
use commonware_utils::Acknowledgement as _;
use futures::channel::mpsc;
use futures::StreamExt as _;
use salus_app::{Chain, ChainError};
use tracing::{error, info};

use crate::block::ConsensusBlock;
use crate::Hooks;

type Delivery = (Digested<ConsensusBlock>, Exact);

/// Marshal's reporter: hands finalized blocks to the executor task.
#[derive(Clone)]
pub struct Finalizer {
    sender: mpsc::UnboundedSender<Delivery>,
}

impl Reporter for Finalizer {
    type Activity = Update<ConsensusBlock>;

    fn report(&mut self, activity: Update<ConsensusBlock>) -> Feedback {
        match activity {
            Update::Tip(..) => Feedback::Ok,
            Update::Block(block, ack) => match self.sender.unbounded_send((block, ack)) {
                Ok(()) => Feedback::Ok,
                Err(_) => Feedback::Closed,
            },
        }
    }
}

pub fn channel() -> (Finalizer, mpsc::UnboundedReceiver<Delivery>) {
    let (sender, receiver) = mpsc::unbounded();
    (Finalizer { sender }, receiver)
}

/// Runs until marshal closes the channel or a block cannot be applied. A
/// finalized block that does not apply means this node's state diverged from a
/// quorum's (or its disk failed): it stops rather than serve a wrong state.
pub async fn run(
    chain: Arc<Chain>,
    hooks: Arc<dyn Hooks>,
    mut deliveries: mpsc::UnboundedReceiver<Delivery>,
) -> Result<(), ChainError> {
    while let Some((block, ack)) = deliveries.next().await {
        let block = block.inner().block();
        let started = std::time::Instant::now();
        match chain.finalize(block) {
            Ok(committed) => {
                if let Some(receipts) = committed {
                    hooks.finalized(block, &receipts, started.elapsed());
                }
                if block.header.height % 1000 == 0 {
                    info!(height = block.header.height, "finalized");
                }
                ack.acknowledge();
            }
            Err(e) => {
                error!(height = block.header.height, error = %e, "cannot apply finalized block; halting");
                return Err(e);
            }
        }
    }
    Ok(())
}
