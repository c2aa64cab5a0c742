//! The simulated validators: booting one on the simulated network, crashing
//! it (every task it runs stops at once, whatever it was doing), and
//! restarting it from what it had stored.

use std::sync::{Arc, Mutex};

use commonware_codec::DecodeExt as _;
use commonware_cryptography::ed25519;
use commonware_p2p::simulated::{Control, Oracle};
use commonware_runtime::deterministic;
use commonware_runtime::{Handle, Quota, Spawner as _, Supervisor as _};
use commonware_utils::NZU32;
use salus_app::Chain;
use salus_consensus::engine::{self, channel, Channels, ValidatorSetup};
use salus_consensus::epochs::EpochSchemes;
use salus_consensus::executor::FlushMode;
use salus_crypto::SigningKey;
use salus_node::admission::mempool::{Mempool, MempoolLimits};
use salus_node::hooks::{NodeHooks, NodeMetrics};
use salus_state::Store;
use salus_types::Genesis;

use crate::byzantine::Byzantine;
use crate::equivocator::Equivocating;
use crate::{timing, Lie, Violation, CHAIN_ID};

type Net = Oracle<ed25519::PublicKey, deterministic::Context>;

/// One validator. Its store outlives its crashes, as a disk would.
pub struct Node {
    pub index: usize,
    pub chain: Arc<Chain>,
    pub mempool: Arc<Mempool>,
    store: Store,
    key: SigningKey,
    lie: Option<Lie>,
    task: Option<Handle<()>>,
    boots: u32,
}

impl Node {
    pub fn running(&self) -> bool {
        self.task.is_some()
    }
}

/// What every node shares: the network, the genesis, and where a node that
/// halted says why.
pub struct Cluster {
    pub context: deterministic::Context,
    pub oracle: Net,
    pub genesis: Genesis,
    pub participants: Vec<ed25519::PublicKey>,
    pub seed: u64,
    /// A validator's executor stops only if a finalized block failed to
    /// apply: an invalid state transition got through consensus.
    pub halts: Arc<Mutex<Vec<String>>>,
}

pub fn consensus_key(key: &SigningKey) -> ed25519::PrivateKey {
    ed25519::PrivateKey::decode(commonware_codec::Copying(key.seed().as_slice()))
        .expect("a 32-byte seed is an ed25519 key")
}

impl Cluster {
    fn broken(&self, reason: String) -> Violation {
        Violation::Broken {
            seed: self.seed,
            reason,
        }
    }

    /// A node that has never run, with an empty store.
    pub fn node(&self, index: usize, key: SigningKey, lie: Option<Lie>) -> Result<Node, Violation> {
        let store = Store::in_memory().map_err(|e| self.broken(e.to_string()))?;
        let chain = Arc::new(
            Chain::open(store.clone(), &self.genesis).map_err(|e| self.broken(e.to_string()))?,
        );
        Ok(Node {
            index,
            chain,
            mempool: Arc::new(Mempool::new(CHAIN_ID.into(), MempoolLimits::default())),
            store,
            key,
            lie,
            task: None,
            boots: 0,
        })
    }

    /// Starts `node` from its store: on a restart, the chain reopens at its
    /// last committed block and consensus and marshal recover their journals.
    pub async fn boot(&self, node: &mut Node) -> Result<(), Violation> {
        assert!(
            node.task.is_none(),
            "validator {} is already running",
            node.index
        );
        let i = node.index;
        if node.boots > 0 {
            // A crash loses the committed blocks not yet flushed from memory;
            // the chain re-executes them from the store's journal.
            node.store.discard_buffered();
            node.chain = Arc::new(
                Chain::open(node.store.clone(), &self.genesis)
                    .map_err(|e| self.broken(e.to_string()))?,
            );
            // A crash loses what was only in memory, the pool included.
            node.mempool = Arc::new(Mempool::new(CHAIN_ID.into(), MempoolLimits::default()));
        }
        node.boots += 1;
        let control = self.oracle.control(self.participants[i].clone());
        let channels = register(&control).await.map_err(|e| self.broken(e))?;
        let setup = ValidatorSetup {
            signer: consensus_key(&node.key),
            partition_prefix: format!("v{i}"),
            timing: timing(),
            flush: FlushMode::Inline,
        };
        let provider = self.oracle.manager();
        let (chain, mempool, lie) = (node.chain.clone(), node.mempool.clone(), node.lie);
        let halts = self.halts.clone();
        let task = self
            .context
            .child("validator")
            .with_attribute("index", i)
            .with_attribute("boot", node.boots)
            .spawn(move |context| async move {
                let (finalized, _) = tokio::sync::broadcast::channel(16);
                let (erasures, _) = futures::channel::mpsc::unbounded();
                let hooks = Arc::new(NodeHooks::new(
                    chain.clone(),
                    mempool,
                    finalized,
                    erasures,
                    NodeMetrics::register(&context.child("salus")),
                ));
                let running = match lie {
                    Some(Lie::Equivocate) => {
                        let schemes = EpochSchemes::new(chain.clone(), setup.signer.clone());
                        let channels = Channels {
                            votes: (
                                Equivocating::votes(channels.votes.0, schemes),
                                channels.votes.1,
                            ),
                            certificates: honest(channels.certificates),
                            resolver: honest(channels.resolver),
                            blocks: honest(channels.blocks),
                            backfill: honest(channels.backfill),
                        };
                        engine::start(context, setup, chain, hooks, control, provider, channels)
                            .await
                    }
                    Some(lie @ (Lie::WrongStateRoot | Lie::MissingTransactions)) => {
                        engine::start_with(
                            context,
                            setup,
                            chain,
                            hooks,
                            control,
                            provider,
                            channels,
                            |app| Byzantine::new(app, lie),
                        )
                        .await
                    }
                    None => {
                        engine::start(context, setup, chain, hooks, control, provider, channels)
                            .await
                    }
                };
                let _consensus = running.handles;
                if let Ok(Err(e)) = running.executor.await {
                    halts
                        .lock()
                        .expect("the halt log is never poisoned")
                        .push(format!("validator {i}: {e}"));
                }
            });
        node.task = Some(task);
        Ok(())
    }

    /// Stops every task of `node` at once, mid-write or not.
    pub fn crash(&self, node: &mut Node) {
        if let Some(task) = node.task.take() {
            task.abort();
        }
    }
}

type SimSender = commonware_p2p::simulated::Sender<ed25519::PublicKey, deterministic::Context>;
type SimReceiver = commonware_p2p::simulated::Receiver<ed25519::PublicKey>;

fn honest((sender, receiver): (SimSender, SimReceiver)) -> (Equivocating<SimSender>, SimReceiver) {
    (Equivocating::honest(sender), receiver)
}

async fn register(
    control: &Control<ed25519::PublicKey, deterministic::Context>,
) -> Result<Channels<SimSender, SimReceiver>, String> {
    let quota = Quota::per_second(NZU32!(100_000));
    let register = async |id| {
        control
            .register(id, quota)
            .await
            .map_err(|e| format!("cannot register channel {id}: {e}"))
    };
    Ok(Channels {
        votes: register(channel::VOTES).await?,
        certificates: register(channel::CERTIFICATES).await?,
        resolver: register(channel::RESOLVER).await?,
        blocks: register(channel::BLOCKS).await?,
        backfill: register(channel::BACKFILL).await?,
    })
}
