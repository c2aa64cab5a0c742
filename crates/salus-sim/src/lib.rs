//! Deterministic simulation of a Salus validator network.
//!
//! One seed fixes everything: the validators' keys, every link's latency,
//! jitter and loss, which validator is cut off and when, which one crashes
//! and restarts, whether one validator is Byzantine and how, and the
//! transaction load. The same validators as in production run on
//! commonware's deterministic runtime and simulated network (the same
//! `engine::start`, `Chain`, mempool and hooks), so a failing seed replays
//! exactly.
//!
//! Epochs are a few blocks long, so every run crosses several epoch
//! boundaries, where each validator stops one consensus instance and starts
//! the next, with the faults above falling across them. The validator set
//! changes by vote on the way (`steward`): a fifth node, running from the
//! start as a follower, is voted in and joins at its epoch, and then one of
//! the four genesis validators is voted out and follows from its epoch on.
//! (The simulated network admits all five nodes from the start: which peers
//! a node admits is the real p2p layer's, tested with processes in
//! `salus-cli/tests/validator_join.rs`.)
//!
//! After the faults end, the run checks:
//! - **safety**: every validator holds the same finalized block at every
//!   height they all reached (so also the same state root), and no
//!   validator's executor halted on a finalized block it could not apply;
//! - **liveness**: after the network heals, every honest node (validator or
//!   follower) finalizes new blocks, and transactions get finalized.
//!
//! A crash stops every task of a validator at once; its restart reopens the
//! same store and journals, as a process restarted on the same disk would.
//! (`salus-cli/tests/testnet.rs` does the same with real processes.)

mod byzantine;
mod cluster;
mod equivocator;
mod steward;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use commonware_cryptography::ed25519;
use commonware_p2p::simulated::{Config as NetConfig, Link, Network};
use commonware_p2p::Manager as _;
use commonware_runtime::deterministic;
use commonware_runtime::{Clock as _, Runner as _, Supervisor as _};
use commonware_utils::ordered::Set;
use commonware_utils::{NZUsize, Probability};
use rand::rngs::StdRng;
use rand::{Rng as _, SeedableRng as _};
use salus_app::Chain;
use salus_consensus::engine::Timing;
use salus_crypto::SigningKey;
use salus_types::token::{Allocation, TokenAction, TokenGenesis};
use salus_types::{AccountId, Action, Genesis, GenesisValidator, Tx, TxBody};

pub use byzantine::Byzantine;
use cluster::{consensus_key, Cluster, Node};
pub use equivocator::Equivocating;

const CHAIN_ID: &str = "salus-sim";
/// Genesis's validators.
const VALIDATORS: usize = 4;
/// Every node: genesis's validators and the joiner.
const NODES: usize = VALIDATORS + 1;
const JOINER: usize = VALIDATORS;
/// The genesis validator voted out once the joiner signs.
const LEAVER: usize = 0;
/// Short epochs, so every run crosses several boundaries, crashes included.
const SIM_EPOCH_BLOCKS: u64 = 8;
const SENDERS: usize = 8;
/// The load and the faults run for this many rounds; then the network heals.
const ROUNDS: u64 = 60;
const ROUND: Duration = Duration::from_millis(250);
/// How long healed validators get to show progress.
const RECOVERY_ROUNDS: u64 = 160;

/// How the Byzantine validator lies.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lie {
    /// Proposes blocks whose claimed state root its transactions do not produce.
    WrongStateRoot,
    /// Proposes blocks without the transactions their header commits to.
    MissingTransactions,
    /// Sends half its peers honest votes and the other half votes, for the
    /// same views, for blocks that do not exist.
    Equivocate,
}

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
    /// Epoch boundaries every validator crossed, each one a switch to a
    /// new consensus instance.
    pub epochs_crossed: u64,
    /// The validator-set changes that took effect, by epoch.
    pub set_changes: Vec<String>,
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
    #[error("seed {seed}: a finalized block did not apply: {reason}")]
    InvalidTransition { seed: u64, reason: String },
    #[error("seed {seed}: no progress after the network healed (heights {heights:?})")]
    Stalled { seed: u64, heights: Vec<u64> },
    #[error("seed {seed}: the simulation failed: {reason}")]
    Broken { seed: u64, reason: String },
}

impl Violation {
    pub fn seed(&self) -> u64 {
        match self {
            Violation::Fork { seed, .. }
            | Violation::InvalidTransition { seed, .. }
            | Violation::Stalled { seed, .. }
            | Violation::Broken { seed, .. } => *seed,
        }
    }
}

fn key(seed: u64, i: usize) -> SigningKey {
    let mut bytes = [0u8; 32];
    bytes[..8].copy_from_slice(&seed.to_le_bytes());
    bytes[8] = i as u8;
    bytes[9] = 0x5a;
    SigningKey::from_seed(&bytes)
}

fn public(key: &SigningKey) -> ed25519::PublicKey {
    commonware_cryptography::Signer::public_key(&consensus_key(key))
}

fn genesis(validators: &[SigningKey], senders: &[SigningKey], steward: &SigningKey) -> Genesis {
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
                .chain([steward])
                .map(|k| Allocation {
                    account: AccountId::from_public_key(&k.public_key()),
                    amount: 2 * steward::BOND,
                })
                .collect(),
        },
        audit: Default::default(),
        oracle: Default::default(),
        insurance: Default::default(),
        staking: Default::default(),
        epochs: salus_types::epochs::EpochsGenesis {
            epoch_blocks: SIM_EPOCH_BLOCKS,
        },
        governance: steward::genesis(),
    }
}

pub(crate) fn timing() -> Timing {
    Timing {
        leader_timeout: Duration::from_millis(500),
        certification_timeout: Duration::from_millis(1_000),
        timeout_retry: Duration::from_millis(2_000),
        skip_timeout: Duration::from_millis(4_000),
        fetch_timeout: Duration::from_millis(1_000),
        empty_block_delay: Duration::from_millis(100),
    }
}

/// A stretch of rounds during which one validator is down or cut off.
#[derive(Debug, Clone, Copy)]
struct Outage {
    victim: usize,
    from: u64,
    until: u64,
}

impl Outage {
    fn draw(plan: &mut StdRng) -> Outage {
        let from = plan.gen_range(5..30);
        Outage {
            victim: plan.gen_range(0..NODES),
            from,
            until: from + plan.gen_range(3..25),
        }
    }
}

/// Everything a seed decides before the run starts.
struct Scenario {
    lossy: bool,
    liar: Option<Lie>,
    partition: Option<Outage>,
    crash: Option<Outage>,
}

/// The Byzantine validator, when there is one (f = 1 of 4).
const LIAR: usize = VALIDATORS - 1;

impl Scenario {
    fn draw(plan: &mut StdRng) -> Scenario {
        let lossy = plan.gen_bool(0.5);
        let liar = match plan.gen_range(0..4) {
            0 => None,
            1 => Some(Lie::WrongStateRoot),
            2 => Some(Lie::MissingTransactions),
            _ => Some(Lie::Equivocate),
        };
        let partition = plan.gen_bool(0.6).then(|| Outage::draw(plan));
        let crash = plan.gen_bool(0.6).then(|| Outage::draw(plan));
        Scenario {
            lossy,
            liar,
            partition,
            crash,
        }
    }

    fn describe(&self) -> Vec<String> {
        let mut faults = Vec::new();
        if self.lossy {
            faults.push("lossy links".into());
        }
        if let Some(lie) = self.liar {
            faults.push(format!("validator {LIAR} is Byzantine ({lie:?})"));
        }
        if let Some(o) = self.partition {
            faults.push(format!(
                "validator {} cut off in rounds {}..{}",
                o.victim, o.from, o.until
            ));
        }
        if let Some(o) = self.crash {
            faults.push(format!(
                "validator {} crashed in rounds {}..{}",
                o.victim, o.from, o.until
            ));
        }
        faults
    }
}

/// Runs one seed. `Ok` means safety and liveness held.
pub fn run(seed: u64) -> Result<Report, Violation> {
    let config = deterministic::Config::default()
        .with_seed(seed)
        .with_timeout(Some(Duration::from_secs(3_600)));
    deterministic::Runner::new(config).start(|context| simulate(context, seed))
}

async fn simulate(context: deterministic::Context, seed: u64) -> Result<Report, Violation> {
    let broken = |reason: String| Violation::Broken { seed, reason };
    let mut plan = StdRng::seed_from_u64(seed ^ 0x5a15);
    let scenario = Scenario::draw(&mut plan);
    let keys: Vec<SigningKey> = (0..NODES).map(|i| key(seed, i)).collect();
    let senders: Vec<SigningKey> = (0..SENDERS).map(|i| key(seed, 100 + i)).collect();
    let steward = steward::Steward::new(
        key(seed, 200),
        keys[JOINER].public_key(),
        keys[LEAVER].public_key(),
    );
    let participants: Vec<ed25519::PublicKey> = keys.iter().map(public).collect();

    let (network, oracle) = Network::new(
        context.child("network"),
        NetConfig {
            max_size: salus_consensus::network::MAX_MESSAGE_BYTES,
            max_peers_per_set: NZUsize!(NODES),
            disconnect_on_block: true,
            tracked_peer_sets: NZUsize!(1),
        },
    );
    network.start();
    oracle
        .manager()
        .track(0, Set::from_iter_dedup(participants.iter().cloned()));

    // Links: each its own latency, jitter and loss.
    let mut links = Vec::new();
    for a in &participants {
        for b in &participants {
            if a == b {
                continue;
            }
            let success_rate = if scenario.lossy {
                Probability::new(plan.gen_range(90..=100), 100)
            } else {
                Probability::new(1, 1)
            };
            let link = Link {
                latency: Duration::from_millis(plan.gen_range(2..60)),
                jitter: Duration::from_millis(plan.gen_range(0..20)),
                success_rate: success_rate.expect("a probability"),
            };
            links.push((a.clone(), b.clone(), link));
        }
    }
    for (a, b, link) in &links {
        oracle
            .add_link(a.clone(), b.clone(), link.clone())
            .await
            .map_err(|e| broken(format!("cannot link: {e}")))?;
    }

    let cluster = Cluster {
        context: context.child("cluster"),
        oracle,
        genesis: genesis(&keys[..VALIDATORS], &senders, &steward.key),
        participants: participants.clone(),
        seed,
        halts: Arc::new(Mutex::new(Vec::new())),
    };
    let mut nodes = Vec::new();
    for (i, key) in keys.iter().enumerate() {
        let lie = scenario.liar.filter(|_| i == LIAR);
        let mut node = cluster.node(i, key.clone(), lie)?;
        cluster.boot(&mut node).await?;
        nodes.push(node);
    }

    // Load and faults. Each round offers a few transfers to every running
    // validator (as gossip would).
    let mut signers: Vec<(SigningKey, u64)> = senders.iter().map(|k| (k.clone(), 0)).collect();
    for round in 0..ROUNDS {
        if let Some(o) = scenario.partition {
            let touches = |(a, b, _): &&(ed25519::PublicKey, ed25519::PublicKey, Link)| {
                *a == participants[o.victim] || *b == participants[o.victim]
            };
            if round == o.from {
                for (a, b, _) in links.iter().filter(touches) {
                    let _ = cluster.oracle.remove_link(a.clone(), b.clone()).await;
                }
            }
            if round == o.until {
                for (a, b, link) in links.iter().filter(touches) {
                    let _ = cluster
                        .oracle
                        .add_link(a.clone(), b.clone(), link.clone())
                        .await;
                }
            }
        }
        if let Some(o) = scenario.crash {
            if round == o.from {
                cluster.crash(&mut nodes[o.victim]);
            }
            if round == o.until {
                cluster.boot(&mut nodes[o.victim]).await?;
            }
        }
        let mut txs: Vec<Tx> = (0..2).map(|_| transfer(&mut plan, &mut signers)).collect();
        txs.extend(steward.next(&furthest(&nodes).chain));
        offer(&nodes, txs);
        context.sleep(ROUND).await;
    }

    // Liveness: after healing, every honest validator moves on.
    let honest: Vec<usize> = (0..NODES)
        .filter(|i| scenario.liar.is_none() || *i != LIAR)
        .collect();
    let healed_at = heights(&nodes);
    let progressed = |now: &[u64]| honest.iter().all(|&i| now[i] >= healed_at[i] + 3);
    // The steward's votes see themselves through too, if faults held them up.
    for _ in 0..RECOVERY_ROUNDS {
        let chain = &furthest(&nodes).chain;
        if progressed(&heights(&nodes)) && steward.done(chain) {
            break;
        }
        offer(&nodes, steward.next(chain).into_iter().collect());
        context.sleep(ROUND).await;
    }
    let final_heights = heights(&nodes);
    if let Some(halt) = cluster
        .halts
        .lock()
        .expect("the halt log is never poisoned")
        .first()
    {
        return Err(Violation::InvalidTransition {
            seed,
            reason: halt.clone(),
        });
    }
    if !progressed(&final_heights) {
        return Err(Violation::Stalled {
            seed,
            heights: final_heights,
        });
    }

    // Safety: one block per height, across every validator.
    let common = *final_heights.iter().min().expect("validators");
    for height in 1..=common {
        let digests: Vec<_> = nodes
            .iter()
            .map(|n| {
                n.chain
                    .store()
                    .block(height)
                    .ok()
                    .flatten()
                    .map(|b| b.digest())
            })
            .collect();
        for b in 1..digests.len() {
            if digests[b] != digests[0] || digests[0].is_none() {
                return Err(Violation::Fork {
                    seed,
                    height,
                    a: 0,
                    b,
                });
            }
        }
    }
    let transactions = finalized_txs(&nodes[honest[0]].chain);
    if transactions == 0 {
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
        epochs_crossed: (common + 1) / SIM_EPOCH_BLOCKS,
        set_changes: steward.changes(&nodes[honest[0]].chain),
        faults: scenario.describe(),
    })
}

fn transfer(plan: &mut StdRng, signers: &mut [(SigningKey, u64)]) -> Tx {
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
}

/// Offers `txs` to every running node, as gossip would. A full or stale
/// pool refuses some: like real gossip, best effort.
fn offer(nodes: &[Node], txs: Vec<Tx>) {
    for node in nodes.iter().filter(|n| n.running()) {
        let _ = salus_node::admission::admit(&node.chain, &node.mempool, txs.clone());
    }
}

/// The node whose chain is furthest ahead.
fn furthest(nodes: &[Node]) -> &Node {
    nodes
        .iter()
        .max_by_key(|n| n.chain.tip().0.height)
        .expect("the cluster has nodes")
}

fn heights(nodes: &[Node]) -> Vec<u64> {
    nodes.iter().map(|n| n.chain.tip().0.height).collect()
}

fn finalized_txs(chain: &Chain) -> u64 {
    let tip = chain.tip().0.height;
    (1..=tip)
        .filter_map(|h| chain.store().block(h).ok().flatten())
        .map(|b| b.txs.len() as u64)
        .sum()
}
