//! `salus bench governance`: one proposal and many voters, on the state
//! machine itself (salus-app's `Chain` over an in-memory store, one core,
//! no network): votes per second through signature checks, execution and
//! commit, and what the block that closes the vote costs.
//!
//! Votes update the proposal's running tally as they are cast, so closing
//! reads one proposal, whatever the number of holders: O(changes), not
//! O(holders). The bench shows it by closing the same proposal after
//! `--voters` votes and after a hundredth of them, and comparing both with
//! an idle block.

use std::time::{Duration, Instant};

use anyhow::{ensure, Context as _, Result};
use salus_app::Chain;
use salus_crypto::PublicKey;
use salus_node::layout::dev::{dev_chain, dev_genesis, DEV_CHAIN_ID, DEV_PASSPHRASE};
use salus_state::Store;
use salus_types::clock::now_ms;
use salus_types::governance::{
    Change, GovernanceAction, GovernanceParams, ParamChange, ProposalStatus, VoteOption,
};
use salus_types::staking::StakingAction;
use salus_types::{AccountId, Genesis, Tx};
use serde_json::json;

use crate::load::{funded_senders, machine};
use crate::Report;

#[derive(clap::Args, Debug)]
pub struct GovernanceArgs {
    /// Accounts that bond and vote on the one proposal.
    #[arg(long, default_value_t = 10_000)]
    pub voters: usize,
}

const STAKE: u128 = 1_000;
const VOTING_BLOCKS: u64 = 8;

/// One run's figures.
struct Run {
    votes_per_s: f64,
    vote_blocks: u64,
    /// The block in which voting ends and the tally decides.
    close_ms: f64,
    /// The median block with nothing to do, for comparison.
    idle_ms: f64,
}

/// A chain driven block by block, as one validator would build and commit it.
struct Driver {
    chain: Chain,
    proposer: PublicKey,
}

impl Driver {
    /// Builds a block of `txs` on the tip and commits it; every transaction
    /// must succeed. Returns the time it took, signature checks included.
    fn block(&self, txs: &[Tx]) -> Result<Duration> {
        let start = Instant::now();
        if !txs.is_empty() {
            let keys: Vec<_> = txs.iter().map(|t| t.body.public_key).collect();
            let messages: Vec<Vec<u8>> = txs.iter().map(|t| t.body.signing_bytes()).collect();
            let messages: Vec<&[u8]> = messages.iter().map(Vec::as_slice).collect();
            let signatures: Vec<_> = txs.iter().map(|t| t.signature).collect();
            let verdicts = salus_crypto::verify_batch(&keys, &messages, &signatures)
                .context("one key, message and signature per transaction")?;
            ensure!(
                verdicts.iter().all(|ok| *ok),
                "a transaction is badly signed"
            );
        }
        let (tip, digest) = self.chain.tip();
        let proposal = self
            .chain
            .propose(&digest, tip.timestamp_ms + 1_000, self.proposer, txs)?;
        ensure!(
            proposal.rejected.is_empty(),
            "the chain refused {}",
            proposal.rejected[0].1
        );
        ensure!(
            proposal.block.txs.len() == txs.len(),
            "a block held {} of {} transactions",
            proposal.block.txs.len(),
            txs.len()
        );
        if let Some(failed) = proposal.receipts.iter().find(|r| !r.succeeded()) {
            anyhow::bail!("a transaction failed: {failed:?}");
        }
        self.chain.finalize(&proposal.block)?;
        Ok(start.elapsed())
    }

    /// Commits `txs` over as many blocks as they need.
    fn blocks(&self, txs: &[Tx], per_block: usize) -> Result<(Duration, u64)> {
        let (mut took, mut count) = (Duration::ZERO, 0);
        for chunk in txs.chunks(per_block) {
            took += self.block(chunk)?;
            count += 1;
        }
        Ok((took, count))
    }

    fn height(&self) -> u64 {
        self.chain.tip().0.height
    }
}

fn genesis(
    voters: usize,
) -> Result<(Genesis, salus_crypto::SigningKey, Vec<salus_client::Signer>)> {
    let dir = tempfile::tempdir()?;
    let base = dev_chain(dir.path(), DEV_PASSPHRASE.as_bytes(), None, now_ms())?;
    let (allocations, signers) = funded_senders(voters, DEV_CHAIN_ID);
    let authority = AccountId::from_public_key(&base.authority.signing.public_key());
    let mut genesis = dev_genesis(&base.validator, &authority, now_ms(), allocations);
    genesis.governance.params.voting_blocks = VOTING_BLOCKS;
    Ok((genesis, base.validator, signers))
}

fn run(voters: usize) -> Result<Run> {
    // Fewer than 1 / cap_bps equal voters could never reach the quorum.
    ensure!(voters >= 20, "--voters must be at least 20");
    let (genesis, validator, mut signers) = genesis(voters)?;
    let driver = Driver {
        chain: Chain::open(Store::in_memory()?, &genesis)?,
        proposer: validator.public_key(),
    };
    // Blocks of a few thousand, as a busy network would fill them.
    let per_block = 5_000;
    let bonds: Vec<Tx> = signers
        .iter_mut()
        .map(|s| s.sign(vec![StakingAction::Bond { amount: STAKE }.into()]))
        .collect();
    driver.blocks(&bonds, per_block)?;
    let change = Change::Params(ParamChange::Governance(GovernanceParams {
        timelock_blocks: 5,
        ..genesis.governance.params.clone()
    }));
    let propose = signers[0].sign(vec![GovernanceAction::Propose {
        title: "Shorter timelock".into(),
        change,
    }
    .into()]);
    driver.block(&[propose])?;
    let id = 1;
    let votes: Vec<Tx> = signers
        .iter_mut()
        .map(|s| {
            s.sign(vec![GovernanceAction::Vote {
                proposal: id,
                option: VoteOption::Yes,
            }
            .into()])
        })
        .collect();
    let (voting, vote_blocks) = driver.blocks(&votes, per_block)?;

    let snapshot = driver.chain.store().snapshot()?;
    let proposal =
        salus_app::governance::proposal(&snapshot, id)?.context("the proposal is on chain")?;
    // Each weight is capped at a share of everything bonded.
    let weight = STAKE.min(proposal.cap);
    ensure!(
        proposal.tally.yes == weight * voters as u128,
        "the tally counted {} of {} votes",
        proposal.tally.yes / weight,
        voters
    );
    drop(snapshot);
    let mut idle = Vec::new();
    while driver.height() + 1 < proposal.end_height {
        idle.push(driver.block(&[])?.as_secs_f64() * 1e3);
    }
    let close = driver.block(&[])?;
    let snapshot = driver.chain.store().snapshot()?;
    let closed =
        salus_app::governance::proposal(&snapshot, id)?.context("the proposal is on chain")?;
    ensure!(
        matches!(closed.status, ProposalStatus::Queued { .. }),
        "the proposal should pass, and is {:?}",
        closed.status
    );
    ensure!(!idle.is_empty(), "voting ended before an idle block");
    idle.sort_by(|a, b| a.total_cmp(b));
    let round = |ms: f64| (ms * 100.0).round() / 100.0;
    Ok(Run {
        votes_per_s: (voters as f64 / voting.as_secs_f64()).round(),
        vote_blocks,
        close_ms: round(close.as_secs_f64() * 1e3),
        idle_ms: round(idle[idle.len() / 2]),
    })
}

pub fn governance(args: GovernanceArgs) -> Result<Report> {
    let full = run(args.voters)?;
    let few_voters = (args.voters / 100).max(20);
    let few = run(few_voters)?;
    let value = json!({
        "bench": "governance",
        "layer": "state machine: salus-app Chain, in-memory store, one core",
        "voters": args.voters,
        "votes_per_s": full.votes_per_s,
        "vote_blocks": full.vote_blocks,
        "tally_block_ms": full.close_ms,
        "idle_block_ms": full.idle_ms,
        "few_voters": few_voters,
        "few_voters_tally_block_ms": few.close_ms,
        "few_voters_idle_block_ms": few.idle_ms,
        "machine": machine(),
    });
    let summary = format!(
        "{} voters: {} votes/s; the block that closes the vote takes {} ms (an idle block {} ms); with {} voters it takes {} ms",
        args.voters, full.votes_per_s, full.close_ms, full.idle_ms, few_voters, few.close_ms
    );
    Ok(Report {
        json: value,
        summary,
    })
}
