//! A Salus node: every role runs the same binary.
//!
//! [`run`] opens the chain store, starts p2p, consensus (salus-consensus), the
//! mempool, the vault (salus-vault) with its audit submitter, and the HTTP API
//! on the commonware tokio runtime, and runs until told to stop or until the
//! chain cannot apply a finalized block.

pub mod admission;
mod audit_submitter;
pub mod hooks;
pub mod layout;
pub mod rpc;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use commonware_codec::DecodeExt as _;
use commonware_p2p::AddressableManager as _;
use commonware_runtime::{tokio as cw, Runner as _, Spawner as _, Supervisor as _};
use futures::FutureExt as _;
use salus_app::{Chain, ChainError};
use salus_consensus::engine::{self, Timing, ValidatorSetup};
use salus_consensus::peers::PeerSet;
use salus_crypto::SigningKey;
use salus_state::Store;
use salus_types::Genesis;
use salus_vault::{BlobConfig, Vault};
use tokio::sync::broadcast;
use tracing::{info, warn};

use admission::gossip;
use admission::mempool::{Mempool, MempoolLimits};
pub use hooks::FinalizedNotice;
use hooks::NodeHooks;

/// Everything a node needs to start.
pub struct NodeConfig {
    pub data_dir: PathBuf,
    pub genesis: Genesis,
    /// This node's ed25519 key. It signs in every epoch whose validator
    /// set names it, and follows the chain in the others (a node outside
    /// genesis's set starts as a follower until governance adds it).
    pub validator_key: SigningKey,
    /// Where this node listens for p2p. Peers dial the address the chain
    /// holds for it (genesis's, or the one it announced).
    pub p2p_listen: SocketAddr,
    /// The most peers this node connects to: it sizes the p2p queues.
    pub max_peers: usize,
    pub http_listen: SocketAddr,
    pub mempool: MempoolLimits,
    pub timing: Timing,
    pub worker_threads: usize,
    /// Where the vault keeps ciphertext.
    pub vault_blobs: BlobConfig,
    /// The vault's clock (injected by tests that move time).
    pub vault_clock: salus_vault::Clock,
}

impl NodeConfig {
    /// A node of a single-validator chain with the defaults a dev chain, the
    /// demo, benchmarks and tests use: HTTP on a free loopback port, dev timing,
    /// a vault in `data_dir/vault/blobs` with durable writes.
    pub fn single_validator(
        data_dir: PathBuf,
        genesis: Genesis,
        validator_key: SigningKey,
        p2p_listen: SocketAddr,
    ) -> NodeConfig {
        let vault_blobs = BlobConfig::Local {
            dir: data_dir.join("vault").join("blobs"),
            fsync: true,
        };
        NodeConfig {
            data_dir,
            genesis,
            validator_key,
            p2p_listen,
            max_peers: salus_consensus::peers::DEFAULT_MAX_PEERS,
            http_listen: SocketAddr::from(([127, 0, 0, 1], 0)),
            mempool: MempoolLimits::default(),
            timing: layout::dev::dev_timing(),
            worker_threads: 2,
            vault_blobs,
            vault_clock: salus_vault::system_clock(),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum NodeError {
    #[error("cannot open the chain store")]
    Store(#[from] salus_state::StateError),
    #[error(transparent)]
    Chain(#[from] ChainError),
    #[error("cannot listen for HTTP on {addr}")]
    HttpBind {
        addr: SocketAddr,
        source: std::io::Error,
    },
    #[error("the consensus executor stopped: {0}")]
    Executor(String),
    #[error("cannot create the data directory: {0}")]
    DataDir(std::io::Error),
    #[error("cannot open the vault")]
    Vault(#[from] salus_vault::VaultError),
    #[error(transparent)]
    Config(layout::ConfigError),
}

/// What a running node tells its starter.
#[derive(Clone)]
pub struct NodeHandle {
    pub http_addr: SocketAddr,
    pub finalized: broadcast::Sender<Arc<FinalizedNotice>>,
    pub chain: Arc<Chain>,
    pub mempool: Arc<Mempool>,
    pub vault: Arc<Vault>,
}

/// How many tasks a runtime worker polls from its own queue between looks at
/// the shared one. Work finished off the workers lands in the shared queue: a
/// block executed on the blocking pool, a storage write or sync completed. A
/// verified block's vote could wait there behind a worker's queue of gossip
/// and p2p tasks. Looking every 4 polls rather than at tokio's self-tuned
/// interval shortened finality at half load (figures in
/// `docs/decisions/blocks-execute-on-blocking-pool.md`).
const GLOBAL_QUEUE_INTERVAL: u32 = 4;

/// Runs a node until `shutdown` resolves (or the chain halts). Blocks the
/// calling thread: it owns the runtime. `ready` receives the handle once the
/// HTTP API is listening.
pub fn run(
    config: NodeConfig,
    ready: Option<std::sync::mpsc::Sender<NodeHandle>>,
    shutdown: futures::future::BoxFuture<'static, ()>,
) -> Result<(), NodeError> {
    std::fs::create_dir_all(&config.data_dir).map_err(NodeError::DataDir)?;
    let runtime = cw::Config::new()
        .with_worker_threads(config.worker_threads)
        .with_storage_directory(config.data_dir.join("consensus"))
        .with_tcp_nodelay(Some(true))
        .with_global_queue_interval(GLOBAL_QUEUE_INTERVAL)
        .with_catch_panics(false);
    cw::Runner::new(runtime)
        .start(|context| async move { serve(context, config, ready, shutdown).await })
}

async fn serve(
    context: cw::Context,
    config: NodeConfig,
    ready: Option<std::sync::mpsc::Sender<NodeHandle>>,
    shutdown: futures::future::BoxFuture<'static, ()>,
) -> Result<(), NodeError> {
    let genesis = &config.genesis;
    let store = Store::open(&config.data_dir.join("state.redb"))?;
    let chain = Arc::new(Chain::open(store, genesis)?);
    let mempool = Arc::new(Mempool::new(genesis.chain_id.clone(), config.mempool));
    let vault = Arc::new(Vault::open(
        &config.data_dir.join("vault"),
        salus_vault::BlobStore::open(
            &config.vault_blobs,
            &config.data_dir.join("vault").join("packs.redb"),
        )?,
        chain.store().clone(),
        genesis.chain_id.clone(),
        config.validator_key.clone(),
        config.vault_clock.clone(),
        salus_api::vault::REPLICA,
    )?);
    let erased = vault.reconcile().await?;
    if erased > 0 {
        info!(
            erased,
            "deleted records erased on chain while this vault was down"
        );
    }
    let (finalized, _) = broadcast::channel(1024);
    let (erasures, mut erase_queue) = futures::channel::mpsc::unbounded();
    let hooks = Arc::new(NodeHooks::new(
        chain.clone(),
        mempool.clone(),
        finalized.clone(),
        erasures,
        hooks::NodeMetrics::register(&context.child("salus")),
    ));
    let eraser_vault = vault.clone();
    let eraser = context.child("vault_eraser").spawn(move |_| async move {
        while let Some(record) = futures::StreamExt::next(&mut erase_queue).await {
            if let Err(error) = eraser_vault.erase(&record).await {
                warn!(%record, %error, "cannot erase a record from the vault; will retry at restart");
            }
        }
    });
    let (gossip, outbox) = gossip::Gossip::channel();
    let auditor = {
        let (vault, chain, mempool) = (vault.clone(), chain.clone(), mempool.clone());
        let gossip = gossip.clone();
        context
            .child("audit_submitter")
            .spawn(move |ctx| audit_submitter::run(ctx, vault, chain, mempool, gossip))
    };

    let signer = commonware_cryptography::ed25519::PrivateKey::decode(commonware_codec::Copying(
        config.validator_key.seed().as_slice(),
    ))
    .expect("a 32-byte seed is a valid ed25519 private key");
    let peers = PeerSet::at_tip(&chain)?;
    // Room for the sets the chain names now, whatever the node file says.
    let max_peers = config
        .max_peers
        .max(peers.primary.len() + peers.secondary.len());
    let (network, mut oracle, p2p) = salus_consensus::network::start(
        context.child("network"),
        signer.clone(),
        config.p2p_listen,
        max_peers,
    );
    let me = commonware_cryptography::Signer::public_key(&signer);
    let _ = oracle.track(peers.id, peers.addressed(&me, max_peers));
    let running = engine::start(
        context.child("engine"),
        ValidatorSetup {
            signer,
            partition_prefix: "salus".into(),
            timing: config.timing.clone(),
            flush: salus_consensus::executor::FlushMode::Background,
        },
        chain.clone(),
        hooks.clone(),
        oracle.clone(),
        oracle.clone(),
        network.consensus,
    )
    .await;
    let peer_tracker = {
        let mut changes = running.peer_sets;
        context.child("peer_tracker").spawn(move |_| async move {
            while let Some(peers) = futures::StreamExt::next(&mut changes).await {
                info!(
                    id = peers.id,
                    validators = peers.primary.len(),
                    joining = peers.secondary.len(),
                    "tracking the chain's validators"
                );
                let _ = oracle.track(peers.id, peers.addressed(&me, max_peers));
            }
        })
    };
    let gossiper = {
        let (chain, mempool) = (chain.clone(), mempool.clone());
        let (sender, receiver) = network.txs;
        context
            .child("tx_gossip")
            .spawn(move |_| gossip::run(sender, receiver, outbox, chain, mempool))
    };

    let listener = tokio::net::TcpListener::bind(config.http_listen)
        .await
        .map_err(|source| NodeError::HttpBind {
            addr: config.http_listen,
            source,
        })?;
    let http_addr = listener
        .local_addr()
        .map_err(|source| NodeError::HttpBind {
            addr: config.http_listen,
            source,
        })?;
    let metrics_hooks = hooks.clone();
    let registry = context.child("metrics");
    let api = rpc::ApiState {
        chain: chain.clone(),
        mempool: mempool.clone(),
        gossip,
        vault: vault.clone(),
        sync: running.sync.clone(),
        certificates: running.certificates.clone(),
        // Ours, then everything the runtime registered (consensus views and
        // timeouts, p2p peers, storage) and our histograms.
        metrics: Arc::new(move || {
            let mut text = metrics_hooks.metrics_text();
            text.push_str(&commonware_runtime::Metrics::encode(&registry));
            text
        }),
    };
    let http = context.child("http").spawn(move |_| async move {
        if let Err(error) = axum::serve(listener, rpc::router(api)).await {
            tracing::error!(%error, "HTTP server stopped");
        }
    });
    info!(%http_addr, chain_id = %genesis.chain_id, height = chain.tip().0.height, "node is up");
    if let Some(ready) = ready {
        let _ = ready.send(NodeHandle {
            http_addr,
            finalized,
            chain: chain.clone(),
            mempool,
            vault,
        });
    }

    let outcome = futures::select! {
        _ = shutdown.fuse() => Ok(()),
        result = running.executor.fuse() => match result {
            Ok(Ok(())) => Ok(()),
            Ok(Err(e)) => Err(NodeError::Executor(e.to_string())),
            Err(e) => Err(NodeError::Executor(e.to_string())),
        },
    };
    info!("node stopping");
    http.abort();
    auditor.abort();
    eraser.abort();
    gossiper.abort();
    peer_tracker.abort();
    p2p.abort();
    for handle in running.handles {
        handle.abort();
    }
    // The next start would re-execute the buffered blocks from the journal;
    // writing them now makes that start quicker.
    if let Err(error) = chain.store().flush() {
        warn!(%error, "cannot write buffered finalized blocks at shutdown");
    }
    outcome
}

/// A node running on its own thread (for the demo, benchmarks and tests).
pub struct SpawnedNode {
    pub handle: NodeHandle,
    stop: Option<futures::channel::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<Result<(), NodeError>>>,
}

impl SpawnedNode {
    /// Stops the node and waits for its thread.
    pub fn stop(mut self) -> Result<(), NodeError> {
        self.shutdown()
    }

    fn shutdown(&mut self) -> Result<(), NodeError> {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        match self.thread.take().map(|t| t.join()) {
            Some(Ok(result)) => result,
            Some(Err(_)) => Err(NodeError::Executor("node thread panicked".into())),
            None => Ok(()),
        }
    }
}

impl Drop for SpawnedNode {
    fn drop(&mut self) {
        let _ = self.shutdown();
    }
}

/// Starts a node on a new thread and returns once its API is listening.
pub fn spawn(config: NodeConfig) -> Result<SpawnedNode, NodeError> {
    let (ready_tx, ready_rx) = std::sync::mpsc::channel();
    let (stop_tx, stop_rx) = futures::channel::oneshot::channel::<()>();
    let thread = std::thread::Builder::new()
        .name("salus-node".into())
        .spawn(move || {
            let shutdown = Box::pin(async move {
                let _ = stop_rx.await;
            });
            run(config, Some(ready_tx), shutdown)
        })
        .map_err(NodeError::DataDir)?;
    match ready_rx.recv() {
        Ok(handle) => Ok(SpawnedNode {
            handle,
            stop: Some(stop_tx),
            thread: Some(thread),
        }),
        // The node exited before it was ready: report why.
        Err(_) => match thread.join() {
            Ok(Err(e)) => Err(e),
            Ok(Ok(())) => Err(NodeError::Executor("node exited during startup".into())),
            Err(_) => Err(NodeError::Executor(
                "node thread panicked during startup".into(),
            )),
        },
    }
}
