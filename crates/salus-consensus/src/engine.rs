//! Wires one validator: block buffer, marshal (with its backfill resolver and
//! finalized archives), simplex, and the executor. Generic over the runtime and
//! the p2p implementation, so the tokio node and deterministic simulations run
//! the same code.

use std::num::NonZeroUsize;
use std::sync::Arc;
use std::time::Duration;

use commonware_broadcast::buffered;
use commonware_consensus::marshal::core::{Actor as MarshalActor, Mailbox as MarshalMailbox};
use commonware_consensus::marshal::standard::{Inline, Standard};
use commonware_consensus::marshal::{self, Start};
use commonware_consensus::simplex::{
    self, elector::RoundRobin, ForwardPolicy, SkipBudget, SkipPolicy,
};
use commonware_consensus::types::{Epoch, FixedEpocher, ViewDelta};
use commonware_cryptography::certificate::Verifier as _;
use commonware_cryptography::ed25519::{PrivateKey, PublicKey};
use commonware_cryptography::sha256::Sha256;
use commonware_cryptography::{Digested, Signer as _};
use commonware_p2p::utils::mux::{Builder as _, Muxer};
use commonware_p2p::{Blocker, Provider, Receiver, Sender};
use commonware_parallel::Sequential;
use commonware_runtime::buffer::paged::{self, CacheRef};
use commonware_runtime::{Clock, Handle, Metrics, Spawner, Storage};
use commonware_storage::archive::immutable;
use commonware_utils::{NZDuration, NZUsize, NZU64};
use salus_app::{Chain, ChainError};

use crate::app::SalusApp;
use crate::block::ConsensusBlock;
use crate::epochs::EpochSchemes;
use crate::orchestrator::{EpochChannels, Orchestrator};
use crate::{executor, to_digest, Digest, Hooks, Scheme};

pub type Mailbox = MarshalMailbox<Scheme, Standard<ConsensusBlock>>;
type FinalizationArchive<E> =
    immutable::Archive<E, Digest, simplex::types::Finalization<Scheme, Digest>>;
type BlockArchive<E> = immutable::Archive<E, Digest, Arc<ConsensusBlock>>;
type Marshal<E> = MarshalActor<
    E,
    Standard<ConsensusBlock>,
    EpochSchemes,
    FinalizationArchive<E>,
    BlockArchive<E>,
    FixedEpocher,
    Sequential,
>;

/// Consensus timing. Defaults suit a LAN consortium; tests shorten them.
#[derive(Debug, Clone)]
pub struct Timing {
    pub leader_timeout: Duration,
    pub certification_timeout: Duration,
    pub timeout_retry: Duration,
    pub skip_timeout: Duration,
    pub fetch_timeout: Duration,
    /// How long a leader with no transactions waits for some before it
    /// proposes an empty block (well below `leader_timeout`). Without it an
    /// idle chain finalizes hundreds of empty blocks a second, each with its
    /// own fsyncs.
    pub empty_block_delay: Duration,
}

impl Default for Timing {
    fn default() -> Self {
        Timing {
            leader_timeout: Duration::from_secs(1),
            certification_timeout: Duration::from_secs(2),
            timeout_retry: Duration::from_secs(5),
            skip_timeout: Duration::from_secs(10),
            fetch_timeout: Duration::from_secs(2),
            empty_block_delay: Duration::from_millis(250),
        }
    }
}

/// One validator's identity and place in the network. Which epochs it
/// signs in is the chain's to say (its `epochs` module).
pub struct ValidatorSetup {
    pub signer: PrivateKey,
    /// Names this validator's storage partitions; unique per node on a shared disk.
    pub partition_prefix: String,
    pub timing: Timing,
    pub flush: executor::FlushMode,
}

/// The five p2p channels a validator needs, as (sender, receiver) pairs.
pub struct Channels<S, R> {
    pub votes: (S, R),
    pub certificates: (S, R),
    pub resolver: (S, R),
    pub blocks: (S, R),
    pub backfill: (S, R),
}

/// Channel ids on the wire; every validator must use the same.
pub mod channel {
    pub const VOTES: u64 = 0;
    pub const CERTIFICATES: u64 = 1;
    pub const RESOLVER: u64 = 2;
    pub const BLOCKS: u64 = 3;
    pub const BACKFILL: u64 = 4;
    /// Transaction gossip (not consensus: batches of signed transactions).
    pub const TXS: u64 = 5;
}

/// A running validator.
pub struct Running {
    pub marshal: Mailbox,
    /// The finalization certificates this validator has seen.
    pub certificates: crate::certificates::Certificates,
    pub handles: Vec<Handle<()>>,
    /// Ends with the executor; an error means a finalized block did not apply.
    pub executor: Handle<Result<(), ChainError>>,
    /// How far the applied chain is behind the network's finalized tip.
    pub sync: Arc<executor::SyncProgress>,
    /// Each change to whom this node should be connected, after the set
    /// [`PeerSet::at_tip`](crate::peers::PeerSet::at_tip) gave at start.
    pub peer_sets: futures::channel::mpsc::UnboundedReceiver<crate::peers::PeerSet>,
}

fn archive_config<C>(
    prefix: &str,
    name: &str,
    page_cache: &CacheRef,
    codec_config: C,
) -> immutable::Config<C> {
    let write_buffer = NZUsize!(1 << 20);
    immutable::Config {
        metadata_partition: format!("{prefix}-{name}-metadata"),
        freezer_table_partition: format!("{prefix}-{name}-freezer-table"),
        freezer_table_initial_size: 1 << 14,
        freezer_table_resize_frequency: 4,
        freezer_table_resize_chunk_size: 1 << 14,
        freezer_key_partition: format!("{prefix}-{name}-freezer-key"),
        freezer_key_page_cache: page_cache.clone(),
        freezer_value_partition: format!("{prefix}-{name}-freezer-value"),
        freezer_value_target_size: 1 << 30,
        freezer_value_compression: None,
        ordinal_partition: format!("{prefix}-{name}-ordinal"),
        items_per_section: NZU64!(262_144),
        freezer_key_write_buffer: write_buffer,
        freezer_value_write_buffer: write_buffer,
        ordinal_write_buffer: write_buffer,
        replay_buffer: NZUsize!(8 << 20),
        codec_config,
    }
}

/// Starts a validator on `context`. It takes part in every epoch whose set
/// names its key, and follows the chain through the others.
pub async fn start<E, B, P, S, R>(
    context: E,
    setup: ValidatorSetup,
    chain: Arc<Chain>,
    hooks: Arc<dyn Hooks>,
    blocker: B,
    provider: P,
    channels: Channels<S, R>,
) -> Running
where
    E: Spawner + Clock + Metrics + Storage + rand_core_010::CryptoRng,
    B: Blocker<PublicKey = PublicKey>,
    P: Provider<PublicKey = PublicKey>,
    S: Sender<PublicKey = PublicKey>,
    R: Receiver<PublicKey = PublicKey>,
{
    start_with(
        context,
        setup,
        chain,
        hooks,
        blocker,
        provider,
        channels,
        |app| app,
    )
    .await
}

/// [`start`], with the application wrapped by `wrap` (simulations wrap it to
/// make a validator Byzantine).
#[allow(clippy::too_many_arguments)]
pub async fn start_with<E, B, P, S, R, A>(
    context: E,
    setup: ValidatorSetup,
    chain: Arc<Chain>,
    hooks: Arc<dyn Hooks>,
    blocker: B,
    provider: P,
    channels: Channels<S, R>,
    wrap: impl FnOnce(SalusApp) -> A,
) -> Running
where
    E: Spawner + Clock + Metrics + Storage + rand_core_010::CryptoRng,
    B: Blocker<PublicKey = PublicKey>,
    P: Provider<PublicKey = PublicKey>,
    S: Sender<PublicKey = PublicKey>,
    R: Receiver<PublicKey = PublicKey>,
    A: commonware_consensus::Application<
        E,
        SigningScheme = Scheme,
        Context = crate::ConsensusContext,
        Block = ConsensusBlock,
        Input = (),
    >,
{
    let me = setup.signer.public_key();
    let proposer =
        salus_types::PublicKey(me.as_ref().try_into().expect("ed25519 keys are 32 bytes"));
    let prefix = setup.partition_prefix;
    let timing = setup.timing;
    let epoch_blocks = chain
        .store()
        .snapshot()
        .map_err(ChainError::from)
        .and_then(|snapshot| Ok(salus_app::epochs::length(&snapshot)?))
        .expect("a chain opened from genesis has an epoch length");
    let epocher = FixedEpocher::new(
        std::num::NonZeroU64::new(epoch_blocks).expect("genesis refuses epochs under 2 blocks"),
    );
    let schemes = EpochSchemes::new(chain.clone(), setup.signer.clone());
    let page_cache = CacheRef::new(paged::page_size(4096), NZUsize!(8192));
    let mailbox_size: NonZeroUsize = NZUsize!(4096);
    let genesis = ConsensusBlock::new(chain.genesis_block().clone());
    let genesis_digest = to_digest(&chain.genesis_block().digest());

    let (buffer_engine, buffer) = buffered::Engine::new(
        context.child("buffer"),
        buffered::Config {
            public_key: me.clone(),
            mailbox_size,
            deque_size: 10,
            priority: false,
            codec_config: (),
            peer_provider: provider.clone(),
            strategy: Sequential,
        },
    );

    let backfill = marshal::resolver::p2p::init(
        context.child("backfill"),
        marshal::resolver::p2p::Config {
            public_key: me,
            peer_provider: provider,
            blocker: blocker.clone(),
            mailbox_size,
            fetch_timeout: NZDuration!(timing.fetch_timeout),
            fetch_retry_delay: Duration::from_millis(100),
            priority_requests: false,
            priority_responses: false,
        },
        channels.backfill,
    );

    let finalizations: FinalizationArchive<E> = immutable::Archive::init(
        context.child("finalizations"),
        archive_config(
            &prefix,
            "finalizations",
            &page_cache,
            Scheme::certificate_codec_config_unbounded(),
        ),
    )
    .await
    .expect("cannot open the finalizations archive");
    let blocks: BlockArchive<E> = immutable::Archive::init(
        context.child("blocks"),
        archive_config(&prefix, "blocks", &page_cache, ()),
    )
    .await
    .expect("cannot open the blocks archive");

    let (marshal_actor, marshal_mailbox, _floor) = Marshal::<E>::init(
        context.child("marshal"),
        finalizations,
        blocks,
        marshal::Config {
            provider: schemes.clone(),
            epocher: epocher.clone(),
            start: Start::Genesis(Digested::precomputed(genesis, genesis_digest)),
            partition_prefix: format!("{prefix}-marshal"),
            mailbox_size,
            view_retention: ViewDelta::new(2_560),
            prunable_items_per_section: NZU64!(4_096),
            page_cache: page_cache.clone(),
            replay_buffer: NZUsize!(8 << 20),
            key_write_buffer: NZUsize!(1 << 20),
            value_write_buffer: NZUsize!(1 << 20),
            block_codec_config: (),
            max_repair: NZUsize!(20),
            max_pending_acks: NZUsize!(16),
            strategy: Sequential,
        },
    )
    .await;

    let app = wrap(SalusApp::new(
        chain.clone(),
        hooks.clone(),
        proposer,
        timing.empty_block_delay,
    ));
    let wrapper = Inline::new(
        context.child("application"),
        app,
        marshal_mailbox.clone(),
        epocher,
    );

    let sync = Arc::new(executor::SyncProgress::starting_at(chain.tip().0.height));
    let (finalizer, deliveries) = executor::channel(sync.clone());
    let (epoch_ends, ended) = futures::channel::mpsc::unbounded();
    let (peer_sets, peer_set_changes) = futures::channel::mpsc::unbounded();
    let executor = {
        let (chain, sync) = (chain.clone(), sync.clone());
        let notices = executor::Notices {
            epoch_blocks,
            epoch_ends,
            peer_sets,
        };
        context
            .child("executor")
            .spawn(move |_| executor::run(chain, hooks, sync, deliveries, setup.flush, notices))
    };
    let buffer_handle = buffer_engine.start(channels.blocks);
    let marshal_handle = marshal_actor.start(finalizer, buffer, backfill);
    let orchestrator = Orchestrator {
        clock: context.child("follower"),
        chain,
        schemes,
        marshal: marshal_mailbox.clone(),
        epoch_blocks,
        genesis: genesis_digest,
        ended,
    };
    let simplex_config = move |epoch: u64, scheme: Scheme, floor: Digest| simplex::Config {
        scheme,
        elector: RoundRobin::<Sha256>::default(),
        blocker: blocker.clone(),
        automaton: wrapper.clone(),
        relay: wrapper.clone(),
        reporter: wrapper.clone(),
        track_historical_votes: false,
        strategy: Sequential,
        partition: format!("{prefix}-simplex-e{epoch}"),
        mailbox_size,
        epoch: Epoch::new(epoch),
        floor: simplex::Floor::Genesis(floor),
        replay_buffer: NZUsize!(8 << 20),
        write_buffer: NZUsize!(1 << 20),
        page_cache: page_cache.clone(),
        leader_timeout: timing.leader_timeout,
        certification_timeout: timing.certification_timeout,
        timeout_retry: timing.timeout_retry,
        view_retention: ViewDelta::new(256),
        skip: SkipPolicy::Enabled {
            timeout: timing.skip_timeout,
            budget: SkipBudget::Participants,
        },
        fetch_timeout: NZDuration!(timing.fetch_timeout),
        fetch_retry_delay: Duration::from_millis(100),
        forward: ForwardPolicy::Disabled,
    };
    let orchestrator = context.child("orchestrator").spawn(move |ctx| async move {
        // The simplex channels carry one sub-channel per epoch, so that each
        // epoch's instance hears only its own; traffic of an epoch this node
        // has no instance for lands in the backups.
        let (votes_mux, votes, votes_backup) =
            Muxer::builder(ctx.child("votes_mux"), channels.votes.0, channels.votes.1)
                .with_backup()
                .build();
        let (certificates_mux, certificates, certificates_backup) = Muxer::builder(
            ctx.child("certificates_mux"),
            channels.certificates.0,
            channels.certificates.1,
        )
        .with_backup()
        .build();
        let (resolver_mux, resolver) = Muxer::new(
            ctx.child("resolver_mux"),
            channels.resolver.0,
            channels.resolver.1,
        );
        let _muxers = (
            votes_mux.start(),
            certificates_mux.start(),
            resolver_mux.start(),
        );
        let channels = EpochChannels {
            votes,
            certificates,
            resolver,
            votes_backup,
            certificates_backup,
        };
        // Each epoch's instance is this task's child (stopped with it), and
        // registers its metrics under `engine_orchestrator_epochs_simplex_…`
        // with an `epoch` label.
        let engines = ctx.child("epochs");
        orchestrator
            .run(channels, move |epoch, scheme, floor, (v, c, r)| {
                simplex::Engine::new(
                    engines.child("simplex").with_attribute("epoch", epoch),
                    simplex_config(epoch, scheme, floor),
                )
                .start(v, c, r)
            })
            .await;
    });
    Running {
        certificates: crate::certificates::Certificates::new(marshal_mailbox.clone()),
        marshal: marshal_mailbox,
        handles: vec![buffer_handle, marshal_handle, orchestrator],
        executor,
        sync,
        peer_sets: peer_set_changes,
    }
}
