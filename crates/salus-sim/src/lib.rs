//! Deterministic simulation of a Salus validator network.
//!
//! One seed fixes everything: the validators' keys, every link's latency,
//! jitter and loss, which validator is partitioned away and when, whether one
//! validator proposes Byzantine blocks, and the transaction load. The same
//! validators as in production run on commonware's deterministic runtime and
//! simulated network (the same `engine::start`, `Chain`, mempool and hooks),
//! so a failing seed replays exactly.
//!
//! After the faults end, the run checks:
//! - **safety**: every validator holds the same finalized block at every
//!   height they all reached (so also the same state root);
//! - **liveness**: after the network heals, every validator finalizes new
//!   blocks (a validator that halted on a block it could not apply would
//!   stop here), and transactions get finalized.
//!
//! Real crashes and restarts are tested with real processes
//! (`salus-cli/tests/testnet.rs`); here a crash is a validator cut off from
//! every peer for a while.

mod byzantine;

use std::sync::Arc;
use std::time::Duration;

use commonware_codec::DecodeExt as _;
use commonware_cryptography::ed25519;
use commonware_p2p::simulated::{Config as NetConfig, Link, Network};
use commonware_p2p::Manager as _;
use commonware_runtime::deterministic;
use commonware_runtime::{Clock as _, Quota, Runner as _, Supervisor as _};
use commonware_utils::ordered::Set;
use commonware_utils::{NZUsize, Probability, NZU32};
use rand::{Rng as _, SeedableRng as _};
use salus_app::Chain;
use salus_consensus::engine::{self, channel, Channels, Timing, ValidatorSetup};
use salus_crypto::SigningKey;
use salus_node::hooks::{NodeHooks, NodeMetrics};
use salus_node::mempool::{Mempool, MempoolLimits};
use salus_state::Store;
use salus_types::token::{Allocation, TokenAction, TokenGenesis};
use salus_types::{AccountId, Action, Genesis, GenesisValidator, Tx, TxBody};

pub use byzantine::{Byzantine, Lie};

const CHAIN_ID: &str = "salus-sim";
const VALIDATORS: usize = 4;
const SENDERS: usize = 8;

/// What one seed did, and whether it held.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Report {
    pub seed: u64,
    /// Each validator's finalized height at the end.
    pub heights: Vec<u64>,
    /// The height every validator reached, at which they were compared.
    pub common: u64,
    /// Transactions finalized.
    pub transactions: u64,
    pub faults: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Violation {
    #[error("seed {seed}: validators {a} and {b} finalized different blocks at height {height}")]
    Fork {
        seed: u64,
        height: u64,
        a: usize,
        b: usize,
    },
    #[error("seed {seed}: no progress after the network healed (heights {heights:?})")]
    Stalled { seed: u64, heights: Vec<u64> },
    #[error("seed {seed}: the simulation failed: {reason}")]
    Broken { seed: u64, reason: String },
}

fn key(seed: u64, i: usize) -> SigningKey {
    let mut bytes = [0u8; 32];
    bytes[..8].copy_from_slice(&seed.to_le_bytes());
    bytes[8] = i as u8;
    bytes[9] = 0x5a;
    SigningKey::from_seed(&bytes)
}

fn consensus_key(key: &SigningKey) -> ed25519::PrivateKey {
    ed25519::PrivateKey::decode(commonware_codec::Copying(key.seed().as_slice()))
        .expect("a 32-byte seed is an ed25519 key")
}

fn public(key: &SigningKey) -> ed25519::PublicKey {
    commonware_cryptography::Signer::public_key(&consensus_key(key))
}

fn genesis(validators: &[SigningKey], senders: &[SigningKey]) -> Genesis {
    Genesis {
        chain_id: CHAIN_ID.into(),
        genesis_time_ms: 0,
        validators: validators
            .iter()
            .map(|k| GenesisValidator {
                public_key: k.public_key(),
                address: String::new(),
            })
            .collect(),
        identity: Default::default(),
        token: TokenGenesis {
            denom: "usal".into(),
            allocations: senders
                .iter()
                .map(|k| Allocation {
                    account: AccountId::from_public_key(&k.public_key()),
                    amount: 1_000_000,
                })
                .collect(),
        },
        audit: Default::default(),
    }
}

fn timing() -> Timing {
    Timing {
        leader_timeout: Duration::from_millis(500),
        certification_timeout: Duration::from_millis(1_000),
        timeout_retry: Duration::from_millis(2_000),
        skip_timeout: Duration::from_millis(4_000),
        fetch_timeout: Duration::from_millis(1_000),
        empty_block_delay: Duration::from_millis(100),
    }
}

/// Runs one seed. `Ok` means safety and liveness held.
pub fn run(seed: u64) -> Result<Report, Violation> {
    let config = deterministic::Config::default()
        .with_seed(seed)
        .with_timeout(Some(Duration::from_secs(3_600)));
    deterministic::Runner::new(config).start(|context| simulate(context, seed))
}

struct Validator {
    chain: Arc<Chain>,
    mempool: Arc<Mempool>,
    _running: engine::Running,
}

async fn simulate(context: deterministic::Context, seed: u64) -> Result<Report, Violation> {
    let broken = |reason: String| Violation::Broken { seed, reason };
    let mut plan = rand::rngs::StdRng::seed_from_u64(seed ^ 0x5a15);
    let keys: Vec<SigningKey> = (0..VALIDATORS).map(|i| key(seed, i)).collect();
    let senders: Vec<SigningKey> = (0..SENDERS).map(|i| key(seed, 100 + i)).collect();
    let genesis = genesis(&keys, &senders);
    let participants: Vec<ed25519::PublicKey> = keys.iter().map(public).collect();
    let mut faults = Vec::new();

    let (network, oracle) = Network::new(
        context.child("network"),
        NetConfig {
            max_size: salus_consensus::network::MAX_MESSAGE_BYTES,
            max_peers_per_set: NZUsize!(VALIDATORS),
            disconnect_on_block: true,
            tracked_peer_sets: NZUsize!(1),
        },
    );
    network.start();
    oracle
        .manager()
        .track(0, Set::from_iter_dedup(participants.iter().cloned()));

    // Links: each its own latency, jitter and loss.
    let lossy = plan.gen_bool(0.5);
    let mut links = Vec::new();
    for a in &participants {
        for b in &participants {
            if a == b {
                continue;
            }
            let link = Link {
                latency: Duration::from_millis(plan.gen_range(2..60)),
                jitter: Duration::from_millis(plan.gen_range(0..20)),
                success_rate: if lossy {
                    Probability::new(plan.gen_range(90..=100), 100).expect("a probability")
                } else {
                    Probability::new(1, 1).expect("a probability")
                },
            };
            links.push((a.clone(), b.clone(), link));
        }
    }
    if lossy {
        faults.push("lossy links".into());
    }
    for (a, b, link) in &links {
        oracle
            .add_link(a.clone(), b.clone(), link.clone())
            .await
            .map_err(|e| broken(format!("cannot link: {e}")))?;
    }

    // At most one Byzantine proposer (f = 1 of 4).
    let liar = match plan.gen_range(0..3) {
        0 => None,
        1 => Some(Lie::WrongStateRoot),
        _ => Some(Lie::MissingTransactions),
    };
    let liar_index = VALIDATORS - 1;
    if let Some(lie) = liar {
        faults.push(format!("validator {liar_index} is Byzantine ({lie:?})"));
    }

    let mut validators = Vec::new();
    for (i, key) in keys.iter().enumerate() {
        let control = oracle.control(participants[i].clone());
        let quota = Quota::per_second(NZU32!(100_000));
        let register = async |id| {
            control
                .register(id, quota)
                .await
                .map_err(|e| broken(format!("cannot register channel {id}: {e}")))
        };
        let channels = Channels {
            votes: register(channel::VOTES).await?,
            certificates: register(channel::CERTIFICATES).await?,
            resolver: register(channel::RESOLVER).await?,
            blocks: register(channel::BLOCKS).await?,
            backfill: register(channel::BACKFILL).await?,
        };
        let store = Store::in_memory().map_err(|e| broken(e.to_string()))?;
        let chain = Arc::new(Chain::open(store, &genesis).map_err(|e| broken(e.to_string()))?);
        let mempool = Arc::new(Mempool::new(CHAIN_ID.into(), MempoolLimits::default()));
        let node = context.child("validator").with_attribute("index", i);
        let (finalized, _) = tokio::sync::broadcast::channel(16);
        let (erasures, _) = futures::channel::mpsc::unbounded();
        let hooks = Arc::new(NodeHooks::new(
            chain.clone(),
            mempool.clone(),
            finalized,
            erasures,
            NodeMetrics::register(&node.child("salus")),
        ));
        let setup = ValidatorSetup {
            signer: consensus_key(key),
            participants: Set::from_iter_dedup(participants.iter().cloned()),
            partition_prefix: format!("v{i}"),
            timing: timing(),
        };
        let provider = oracle.manager();
        let running = match liar.filter(|_| i == liar_index) {
            Some(lie) => {
                engine::start_with(
                    node,
                    setup,
                    chain.clone(),
                    hooks,
                    control.clone(),
                    provider,
                    channels,
                    |app| Byzantine::new(app, lie),
                )
                .await
            }
            None => {
                engine::start(
                    node,
                    setup,
                    chain.clone(),
                    hooks,
                    control.clone(),
                    provider,
                    channels,
                )
                .await
            }
        };
        validators.push(Validator {
            chain,
            mempool,
            _running: running,
        });
    }

    // Load and faults. Each round offers a few transfers to every validator
    // (as gossip would); some rounds cut one validator off for a while.
    let mut signers: Vec<(SigningKey, u64)> = senders.iter().map(|k| (k.clone(), 0)).collect();
    let fault_round = plan.gen_range(5..25);
    let fault_rounds = plan.gen_range(5..30);
    let victim = plan.gen_range(0..VALIDATORS);
    let partition = plan.gen_bool(0.7);
    if partition {
        faults.push(format!(
            "validator {victim} cut off in rounds {fault_round}..{}",
            fault_round + fault_rounds
        ));
    }
    const ROUNDS: u64 = 60;
    const ROUND: Duration = Duration::from_millis(250);
    for round in 0..ROUNDS {
        if partition && round == fault_round {
            for (a, b, _) in &links {
                if *a == participants[victim] || *b == participants[victim] {
                    let _ = oracle.remove_link(a.clone(), b.clone()).await;
                }
            }
        }
        if partition && round == fault_round + fault_rounds {
            for (a, b, link) in &links {
                if *a == participants[victim] || *b == participants[victim] {
                    let _ = oracle.add_link(a.clone(), b.clone(), link.clone()).await;
                }
            }
        }
        let txs: Vec<Tx> = (0..2)
            .map(|_| {
                let index = plan.gen_range(0..signers.len());
                let (key, nonce) = &mut signers[index];
                let to = AccountId([plan.gen(); 20]);
                let tx = TxBody {
                    chain_id: CHAIN_ID.into(),
                    signer: AccountId::from_public_key(&key.public_key()),
                    public_key: key.public_key(),
                    nonce: *nonce,
                    actions: vec![Action::Token(TokenAction::Transfer { to, amount: 1 })],
                }
                .sign(key);
                *nonce += 1;
                tx
            })
            .collect();
        for validator in &validators {
            // A full or stale pool refuses some: like real gossip, best effort.
            let _ = salus_node::gossip::admit(&validator.chain, &validator.mempool, txs.clone());
        }
        context.sleep(ROUND).await;
    }
    let healed_at = heights(&validators);
    // Liveness: after healing, everyone moves on, with transactions.
    let before: u64 = finalized_txs(&validators[0].chain);
    for _ in 0..120 {
        context.sleep(ROUND).await;
        let now = heights(&validators);
        if now.iter().zip(&healed_at).all(|(n, h)| *n >= h + 3) {
            break;
        }
    }
    let final_heights = heights(&validators);
    let stalled = final_heights
        .iter()
        .zip(&healed_at)
        .any(|(n, h)| *n < h + 3);
    if stalled {
        return Err(Violation::Stalled {
            seed,
            heights: final_heights,
        });
    }
    let common = *final_heights.iter().min().expect("validators");
    for height in 1..=common {
        let blocks: Vec<_> = validators
            .iter()
            .map(|v| {
                v.chain
                    .store()
                    .block(height)
                    .ok()
                    .flatten()
                    .map(|b| b.digest())
            })
            .collect();
        for b in 1..blocks.len() {
            if blocks[b] != blocks[0] || blocks[0].is_none() {
                return Err(Violation::Fork {
                    seed,
                    height,
                    a: 0,
                    b,
                });
            }
        }
    }
    let transactions = finalized_txs(&validators[0].chain);
    if transactions <= before && transactions == 0 {
        return Err(Violation::Stalled {
            seed,
            heights: final_heights,
        });
    }
    Ok(Report {
        seed,
        heights: final_heights,
        common,
        transactions,
        faults,
    })
}

fn heights(validators: &[Validator]) -> Vec<u64> {
    validators.iter().map(|v| v.chain.tip().0.height).collect()
}

fn finalized_txs(chain: &Chain) -> u64 {
    let tip = chain.tip().0.height;
    (1..=tip)
        .filter_map(|h| chain.store().block(h).ok().flatten())
        .map(|b| b.txs.len() as u64)
        .sum()
}
