//! Chapter 7 (on a network of validators): the validator set changes by
//! vote. A new member's node, which genesis does not name, has run since
//! the start as a follower that nobody admits; the members vote its key in,
//! and from the next epoch it syncs, signs blocks and counts for quorum.

use std::net::SocketAddr;

use anyhow::{bail, Context as _, Result};
use salus_client::Client;
use salus_types::epochs::epoch_of;
use salus_types::governance::{Change, GovernanceAction, ProposalStatus, VoteOption};
use salus_types::PublicKey;
use serde_json::json;

use super::governance::settled;
use crate::tour::{Party, Tour};

/// The node that joins: its key, where it listens for peers, and its API.
pub(crate) struct Joiner {
    pub(crate) key: PublicKey,
    pub(crate) p2p: SocketAddr,
    pub(crate) api: Client,
}

pub(crate) async fn run(tour: &mut Tour<'_>, members: &mut [Party], joiner: &Joiner) -> Result<()> {
    let status = joiner.api.status().await?;
    tour.say_as(
        "a node outside the set",
        format!(
            "Westbrook Health runs a node with its own key, which genesis does not name. The validators admit no stranger, so it sits at height {} while the chain is at {}.",
            status.height,
            tour.client.status().await?.height
        ),
        json!({"key": joiner.key, "height": status.height}),
    );
    const TITLE: &str = "Admit Westbrook Health as a validator";
    let (first, rest) = members.split_first_mut().context("the members vote")?;
    let change = Change::AddValidator {
        key: joiner.key,
        address: joiner.p2p.to_string(),
    };
    let proposed_at = tour
        .send(
            first,
            vec![GovernanceAction::Propose {
                title: TITLE.into(),
                change,
            }
            .into()],
        )
        .await?;
    // The chain numbers proposals: read back the one just made.
    let proposal = tour
        .client
        .proposals()
        .await?
        .proposals
        .iter()
        .rev()
        .find(|p| p.title == TITLE && p.start_height <= proposed_at)
        .map(|p| p.id)
        .context("the proposal just made is not listed")?;
    let vote = || -> salus_types::Action {
        GovernanceAction::Vote {
            proposal,
            option: VoteOption::Yes,
        }
        .into()
    };
    tour.send(first, vec![vote()]).await?;
    for member in rest.iter_mut() {
        tour.send(member, vec![vote()]).await?;
    }
    let executed = settled(tour, proposal, true).await?;
    let ProposalStatus::Executed { height } = executed else {
        bail!("the members' proposal must execute, not end {executed:?}");
    };
    let epoch_blocks = tour.client.epoch_set(0).await?.epoch_blocks;
    let epoch = epoch_of(height, epoch_blocks) + 1;
    let starts = epoch * epoch_blocks;
    tour.say_as(
        "validator voted in",
        format!(
            "The members voted Westbrook Health's key in; the proposal executed at block {height}, so the key joins the set of the next epoch, {epoch}, which starts at block {starts}. Until then every validator admits the node, and it syncs."
        ),
        json!({"executed_at": height, "epoch": epoch, "starts": starts}),
    );

    // It syncs, and signs blocks of its epoch: find its signature in the
    // certificates, each one checked by the client. A quorum of four of
    // five may finalize the first blocks while it catches up.
    let mut next = starts;
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(120);
    let certified = loop {
        if tokio::time::Instant::now() > deadline {
            bail!("the new validator never signed a block");
        }
        // Both nodes must have the block: the joiner, and the one the client asks.
        let reached = joiner
            .api
            .status()
            .await?
            .height
            .min(tour.client.status().await?.height);
        if reached < next {
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
            continue;
        }
        let certified = tour.client.certified(next).await?;
        if certified.signers.contains(&joiner.key) {
            break certified;
        }
        next += 1;
    };
    let set = tour.client.status().await?.validators;
    tour.say_as(
        "validator joined",
        format!(
            "From epoch {epoch} the set has {} validators, and Westbrook Health's node is one of them: the certificate that finalizes block {next} carries {} signatures, its own among them. It counts for quorum like any other.",
            set.len(),
            certified.signers.len()
        ),
        json!({"epoch": certified.epoch, "height": next, "signers": certified.signers, "validators": set}),
    );
    Ok(())
}
