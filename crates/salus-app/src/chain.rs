//! The executor that consensus drives.
//!
//! Consensus may build on blocks that are not final yet, so the chain keeps
//! every proposed or verified block's result (its receipts and [`Pending`] state)
//! in a cache keyed by digest. Building on such a block stacks the pending
//! states; finalizing it commits the cached result without running it again.
//! Only finalized blocks ever reach the store, which journals each one and
//! writes several at a time to its tables; the caller decides when to flush.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex, MutexGuard};

use salus_crypto::merkle_root;
use salus_state::{Overlay, Pending, Snapshot, StateError, StateRead, Store};
use salus_types::{
    AccountId, Block, Genesis, Hash, Header, PublicKey, Receipt, Tx, TxError, MAX_BLOCK_BYTES,
    MAX_BLOCK_TXS, MAX_BLOCK_WEIGHT,
};

use crate::bounded_set::BoundedSet;
use crate::dispatch::{self, tx_weight, ModuleCaches};
use crate::execute::{apply_tx, end_block, execute_block, Applied, BlockEnv, BlockError};
use crate::genesis::{genesis_writes, GenesisError};

/// Why the chain refused a block or could not proceed.
#[derive(Debug, thiserror::Error)]
pub enum ChainError {
    #[error(transparent)]
    State(#[from] StateError),
    #[error(transparent)]
    Genesis(#[from] GenesisError),
    #[error("the stored chain was made from another genesis (stored root {stored}, this genesis {computed})")]
    GenesisMismatch { stored: Hash, computed: Hash },
    #[error("parent block {0} is unknown or no longer extends the finalized chain")]
    UnknownParent(Hash),
    #[error("block height {actual} does not follow its parent (expected {expected})")]
    BadHeight { expected: u64, actual: u64 },
    #[error("block timestamp {actual} is not after its parent's {parent}")]
    BadTimestamp { parent: u64, actual: u64 },
    #[error("block has {0} transactions, above the limit of {MAX_BLOCK_TXS}")]
    TooManyTxs(usize),
    #[error("block weighs {0}, above the budget of {MAX_BLOCK_WEIGHT}")]
    TooHeavy(u64),
    #[error("block transaction root does not match its transactions")]
    BadTxRoot,
    #[error("transaction {index} has a bad signature")]
    BadSignature { index: usize },
    #[error("transaction {index} is invalid: {error}")]
    InvalidTx { index: usize, error: TxError },
    #[error("block claims state root {claimed}, execution gives {computed}")]
    StateRootMismatch { claimed: Hash, computed: Hash },
    #[error("block at height {height} cannot be finalized: the finalized tip is {tip}")]
    NotNext { tip: u64, height: u64 },
    #[error("height {height} is already finalized as another block")]
    Conflict { height: u64 },
}

impl From<BlockError> for ChainError {
    fn from(e: BlockError) -> Self {
        match e {
            BlockError::InvalidTx { index, error } => ChainError::InvalidTx { index, error },
            BlockError::State(s) => ChainError::State(s),
        }
    }
}

/// A block executed but not finalized.
#[derive(Debug)]
pub struct Speculative {
    pub block: Block,
    pub state: Arc<Pending>,
    pub receipts: Vec<Receipt>,
}

/// A new block and the candidates that could not go in it.
#[derive(Debug)]
pub struct Proposal {
    pub block: Block,
    pub receipts: Vec<Receipt>,
    /// Candidates that are invalid now (stale nonce, wrong key, wrong chain…):
    /// the mempool should drop them.
    pub rejected: Vec<(Hash, TxError)>,
}

struct Inner {
    /// The newest finalized header.
    tip: Header,
    tip_digest: Hash,
    speculative: BTreeMap<Hash, Arc<Speculative>>,
}

pub struct Chain {
    store: Store,
    chain_id: String,
    genesis: Block,
    inner: Mutex<Inner>,
    /// Transactions whose signatures this node already checked (at
    /// admission, or in a block it verified). A transaction's hash covers
    /// its signature, and ZIP-215 verdicts never change, so a block need
    /// not check them again.
    verified: Mutex<BoundedSet<Hash>>,
    /// What the modules' pre-checks remembered at admission.
    caches: ModuleCaches,
}

/// The most remembered verified transactions (about 80 MB at the limit).
const MAX_VERIFIED: usize = 1 << 20;

impl Chain {
    /// Opens the chain in `store`, writing the genesis block on first use and
    /// refusing a store that was made from another genesis.
    pub fn open(store: Store, genesis: &Genesis) -> Result<Chain, ChainError> {
        let writes = genesis_writes(genesis)?;
        let snapshot = store.snapshot()?;
        let pending = store.prepare_genesis(writes)?;
        let genesis_block = Block {
            header: Header {
                height: 0,
                parent: Hash::ZERO,
                timestamp_ms: genesis.genesis_time_ms,
                proposer: PublicKey([0; 32]),
                tx_root: Hash::ZERO,
                state_root: pending.root,
            },
            txs: Vec::new(),
        };
        match snapshot.height() {
            None => store.commit(&pending, &genesis_block, &[])?,
            Some(_) => {
                let stored = snapshot
                    .block(0)?
                    .ok_or_else(|| StateError::Corrupt("genesis block is missing".into()))?;
                if stored != genesis_block {
                    return Err(ChainError::GenesisMismatch {
                        stored: stored.header.state_root,
                        computed: pending.root,
                    });
                }
            }
        }
        drop(snapshot);
        let snapshot = store.snapshot()?;
        // Each epoch's last block fixes the next epoch's validators, which
        // clients prove against it: its state must stay provable.
        store.keep_every(crate::epochs::length(&snapshot)?);
        let height = snapshot.height().expect("genesis is committed");
        let tip = snapshot
            .block(height)?
            .ok_or_else(|| StateError::Corrupt(format!("tip block {height} is missing")))?;
        drop(snapshot);
        let chain = Chain {
            store,
            chain_id: genesis.chain_id.clone(),
            genesis: genesis_block,
            inner: Mutex::new(Inner {
                tip_digest: tip.digest(),
                tip: tip.header,
                speculative: BTreeMap::new(),
            }),
            verified: Mutex::new(BoundedSet::new(MAX_VERIFIED)),
            caches: ModuleCaches::default(),
        };
        // Blocks committed before a crash but not flushed: execute them again
        // (execution is deterministic) so that the chain resumes where it was.
        for block in chain.store.journaled_blocks()? {
            chain.finalize(&block)?;
        }
        Ok(chain)
    }

    /// Remembers transactions whose signatures were verified (by the
    /// mempool), so that blocks carrying them skip the check.
    pub fn note_verified(&self, hashes: impl IntoIterator<Item = Hash>) {
        let mut verified = self.verified.lock().expect("verified-set lock");
        for hash in hashes {
            verified.insert(hash);
        }
    }

    /// Whether this node already verified the signature of the transaction
    /// with this hash (which covers the signature).
    pub fn signature_checked(&self, hash: &Hash) -> bool {
        self.verified
            .lock()
            .expect("verified-set lock")
            .contains(hash)
    }

    /// Runs the modules' pre-checks of `txs` against finalized `state`
    /// ahead of any block (admission calls this), so that proposing and
    /// verifying blocks that carry them is cheap. Failures are not
    /// remembered: the block's own execution refuses them.
    pub fn precheck(&self, state: &dyn StateRead, txs: &[Tx]) -> Result<(), StateError> {
        txs.iter()
            .try_for_each(|tx| dispatch::precheck(&self.caches, state, tx))
    }

    /// Whether a block executed here but not yet final carries `tx`. Such a
    /// transaction may already have left the mempool (a leader drops a
    /// candidate that fails on a parent that already holds it) while the
    /// archive does not have it yet.
    pub fn in_flight(&self, tx: &Hash) -> bool {
        self.lock()
            .speculative
            .values()
            .any(|s| s.receipts.iter().any(|r| r.tx_hash == *tx))
    }

    pub fn store(&self) -> &Store {
        &self.store
    }

    pub fn chain_id(&self) -> &str {
        &self.chain_id
    }

    pub fn genesis_block(&self) -> &Block {
        &self.genesis
    }

    /// The newest finalized header and its digest.
    pub fn tip(&self) -> (Header, Hash) {
        let inner = self.lock();
        (inner.tip.clone(), inner.tip_digest)
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        // A panic while holding this lock means an invariant broke; do not go on.
        self.inner.lock().expect("chain lock poisoned")
    }

    /// A snapshot, and the chain of unfinalized blocks from the snapshot's tip to
    /// `parent` (oldest first), taken consistently under the lock.
    fn base_for(
        &self,
        parent: &Hash,
    ) -> Result<(Snapshot, Header, Vec<Arc<Speculative>>), ChainError> {
        let inner = self.lock();
        let snapshot = self.store.snapshot()?;
        let mut chain = Vec::new();
        let mut cursor = *parent;
        while cursor != inner.tip_digest {
            let spec = inner
                .speculative
                .get(&cursor)
                .ok_or(ChainError::UnknownParent(*parent))?;
            cursor = spec.block.header.parent;
            chain.push(spec.clone());
        }
        chain.reverse();
        let parent_header = chain
            .last()
            .map(|s| s.block.header.clone())
            .unwrap_or_else(|| inner.tip.clone());
        Ok((snapshot, parent_header, chain))
    }

    /// Builds a block on `parent` from `candidates` (in order, already
    /// signature-checked), skipping any that are invalid in this state.
    pub fn propose(
        &self,
        parent: &Hash,
        timestamp_ms: u64,
        proposer: PublicKey,
        candidates: &[Tx],
    ) -> Result<Proposal, ChainError> {
        let (snapshot, parent_header, ancestors) = self.base_for(parent)?;
        let height = parent_header.height + 1;
        let env = BlockEnv {
            chain_id: &self.chain_id,
            height,
            parent: *parent,
            timestamp_ms: timestamp_ms.max(parent_header.timestamp_ms + 1),
            caches: &self.caches,
        };
        let pendings: Vec<&Pending> = ancestors.iter().map(|s| &*s.state).collect();
        let base = snapshot.layered(&pendings);
        let mut overlay = Overlay::new(&base);
        let mut txs = Vec::new();
        let mut receipts = Vec::new();
        let mut rejected = Vec::new();
        let mut bytes = 0usize;
        let mut weight = 0u64;
        // Signers with a transaction held back: their later nonces wait too.
        let mut deferred: BTreeSet<AccountId> = BTreeSet::new();
        for tx in candidates {
            if txs.len() == MAX_BLOCK_TXS {
                break;
            }
            let size = tx.encode().len();
            if bytes + size > MAX_BLOCK_BYTES / 2 {
                break;
            }
            // Weight beyond the block's budget waits in the pool for the next.
            let tx_weight = tx_weight(tx);
            if deferred.contains(&tx.body.signer) || weight + tx_weight > MAX_BLOCK_WEIGHT {
                deferred.insert(tx.body.signer);
                continue;
            }
            let index = u32::try_from(txs.len()).expect("bounded by MAX_BLOCK_TXS");
            match apply_tx(&env, &mut overlay, tx, index)? {
                Applied::Included(receipt) => {
                    bytes += size;
                    weight += tx_weight;
                    receipts.push(receipt);
                    txs.push(tx.clone());
                }
                Applied::Invalid(error) => rejected.push((tx.hash(), error)),
            }
        }
        end_block(&env, &mut overlay, &mut receipts)?;
        let writes = overlay.into_writes();
        let state = self.store.prepare(&snapshot, &pendings, height, writes)?;
        let block = Block {
            header: Header {
                height,
                parent: *parent,
                timestamp_ms: env.timestamp_ms,
                proposer,
                tx_root: Block::tx_root_of(&txs),
                state_root: state.root,
            },
            txs,
        };
        self.remember(Speculative {
            block: block.clone(),
            state: Arc::new(state),
            receipts: receipts.clone(),
        });
        Ok(Proposal {
            block,
            receipts,
            rejected,
        })
    }

    /// Fully checks a block proposed by someone else: structure, signatures,
    /// every transaction's validity, and the claimed state root.
    pub fn verify(&self, block: &Block) -> Result<(), ChainError> {
        let digest = block.digest();
        if self.lock().speculative.contains_key(&digest) {
            return Ok(());
        }
        let (snapshot, parent_header, ancestors) = self.base_for(&block.header.parent)?;
        let header = &block.header;
        if header.height != parent_header.height + 1 {
            return Err(ChainError::BadHeight {
                expected: parent_header.height + 1,
                actual: header.height,
            });
        }
        if header.timestamp_ms <= parent_header.timestamp_ms {
            return Err(ChainError::BadTimestamp {
                parent: parent_header.timestamp_ms,
                actual: header.timestamp_ms,
            });
        }
        if block.txs.len() > MAX_BLOCK_TXS {
            return Err(ChainError::TooManyTxs(block.txs.len()));
        }
        let weight = block.txs.iter().map(tx_weight).fold(0, u64::saturating_add);
        if weight > MAX_BLOCK_WEIGHT {
            return Err(ChainError::TooHeavy(weight));
        }
        // One hashing pass serves the root check and the verified-set lookups.
        let hashes: Vec<Hash> = block.txs.iter().map(Tx::hash).collect();
        if merkle_root(&hashes) != header.tx_root {
            return Err(ChainError::BadTxRoot);
        }
        self.check_signatures(&block.txs, &hashes)?;
        let env = BlockEnv {
            chain_id: &self.chain_id,
            height: header.height,
            parent: header.parent,
            timestamp_ms: header.timestamp_ms,
            caches: &self.caches,
        };
        let pendings: Vec<&Pending> = ancestors.iter().map(|s| &*s.state).collect();
        let base = snapshot.layered(&pendings);
        let mut overlay = Overlay::new(&base);
        let receipts = execute_block(&env, &mut overlay, &block.txs)?;
        let state =
            self.store
                .prepare(&snapshot, &pendings, header.height, overlay.into_writes())?;
        if state.root != header.state_root {
            return Err(ChainError::StateRootMismatch {
                claimed: header.state_root,
                computed: state.root,
            });
        }
        self.remember(Speculative {
            block: block.clone(),
            state: Arc::new(state),
            receipts,
        });
        Ok(())
    }

    fn remember(&self, speculative: Speculative) {
        let mut inner = self.lock();
        // A block at or below the tip is already decided; caching it would leak.
        if speculative.block.header.height > inner.tip.height {
            inner
                .speculative
                .insert(speculative.block.digest(), Arc::new(speculative));
        }
    }

    /// Commits a finalized block (verifying it first if this node has not) and
    /// returns its receipts. The store journals it durably and writes it to
    /// its tables at the next [`Store::flush`]. Idempotent: a block that is
    /// already committed gives `None`, so consensus may redeliver after a
    /// crash.
    pub fn finalize(&self, block: &Block) -> Result<Option<Vec<Receipt>>, ChainError> {
        let digest = block.digest();
        let height = block.header.height;
        {
            let inner = self.lock();
            if height <= inner.tip.height {
                let stored = self.store.snapshot()?.height_of_block(&digest)?;
                return match stored {
                    Some(h) if h == height => Ok(None),
                    _ => Err(ChainError::Conflict { height }),
                };
            }
            if height != inner.tip.height + 1 {
                return Err(ChainError::NotNext {
                    tip: inner.tip.height,
                    height,
                });
            }
            if block.header.parent != inner.tip_digest {
                return Err(ChainError::UnknownParent(block.header.parent));
            }
        }
        let cached = self.lock().speculative.get(&digest).cloned();
        let speculative = match cached {
            Some(s) => s,
            None => {
                self.verify(block)?;
                self.lock()
                    .speculative
                    .get(&digest)
                    .cloned()
                    .expect("verify caches the block it accepts")
            }
        };
        let mut inner = self.lock();
        self.store.commit_buffered(
            speculative.state.clone(),
            speculative.block.clone(),
            speculative.receipts.clone(),
        )?;
        inner.tip = speculative.block.header.clone();
        inner.tip_digest = digest;
        // Anything at or below the new tip is either committed or a dead fork.
        inner
            .speculative
            .retain(|_, s| s.block.header.height > height);
        Ok(Some(speculative.receipts.clone()))
    }

    /// Whether this node can build on `digest`: it is the finalized tip, a
    /// block it executed speculatively, or an older finalized block (which is
    /// known, though only a fork would build on it).
    pub fn is_known(&self, digest: &Hash) -> Result<bool, ChainError> {
        {
            let inner = self.lock();
            if inner.tip_digest == *digest || inner.speculative.contains_key(digest) {
                return Ok(true);
            }
        }
        Ok(self.store.snapshot()?.height_of_block(digest)?.is_some())
    }

    /// How many unfinalized blocks are cached (for metrics and tests).
    pub fn speculative_len(&self) -> usize {
        self.lock().speculative.len()
    }
}

impl Chain {
    /// Verifies the signatures of a block's transactions that this node has
    /// not verified before, in parallel batches.
    fn check_signatures(&self, txs: &[Tx], hashes: &[Hash]) -> Result<(), ChainError> {
        let unchecked: Vec<usize> = {
            let verified = self.verified.lock().expect("verified-set lock");
            (0..txs.len())
                .filter(|&i| !verified.contains(&hashes[i]))
                .collect()
        };
        let verdicts = Tx::verify_signatures(unchecked.iter().map(|&i| &txs[i]));
        match verdicts.iter().position(|ok| !ok) {
            Some(position) => Err(ChainError::BadSignature {
                index: unchecked[position],
            }),
            None => {
                // Their gossip may still come; its admission need not check
                // them again.
                self.note_verified(unchecked.iter().map(|&i| hashes[i]));
                Ok(())
            }
        }
    }
}
