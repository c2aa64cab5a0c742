//! Chapter 6: the network governs itself. Consortium members bond tokens
//! for voting power; a whale's proposal fails for want of a quorum because
//! one account's weight is capped; the members pass a change to the
//! insurance parameters and a grant from the community treasury, which wait
//! out their timelock and execute themselves.

use anyhow::{bail, Result};
use salus_client::actions;
use salus_types::governance::{
    Change, GovernanceAction, Outcome, ParamChange, ProposalStatus, VoteOption,
};
use salus_types::insurance::InsuranceParams;
use salus_types::staking::StakingAction;
use salus_types::Action;
use serde_json::json;

use super::Cast;
use crate::tour::{wait_for, Party, Tour};

const MEMBER_BOND: u128 = 300_000;
const WHALE_BOND: u128 = 1_000_000;

/// Waits until proposal `id` has left `Voting` (and `Queued`, if `executed`).
pub(crate) async fn settled(tour: &Tour<'_>, id: u64, executed: bool) -> Result<ProposalStatus> {
    let client = tour.client.clone();
    wait_for(|| async {
        let status = client.proposal(id).await?.proposal.status;
        Ok(match status {
            ProposalStatus::Voting => false,
            ProposalStatus::Queued { .. } => !executed,
            _ => true,
        })
    })
    .await?;
    Ok(tour.client.proposal(id).await?.proposal.status)
}

fn vote(proposal: u64, option: VoteOption) -> Action {
    GovernanceAction::Vote { proposal, option }.into()
}

/// Returns the bonded members, who vote in the chapters after.
pub(crate) async fn run(
    tour: &mut Tour<'_>,
    chain_id: &str,
    cast: &mut Cast,
) -> Result<Vec<Party>> {
    let Cast {
        authority, insurer, ..
    } = cast;
    let mut members: Vec<Party> = [
        "Northside Clinic",
        "Lakeview Labs",
        "Harbor Pharmacy",
        "Mercy Hospital",
        "Valley Imaging",
        "Summit Health Plan",
        "Riverside Hospice",
        "Eastgate Dental",
    ]
    .into_iter()
    .map(|name| Party::new(name, chain_id))
    .collect();
    let funding = members
        .iter()
        .map(|m| actions::transfer(m.actor.account(), MEMBER_BOND + 100_000))
        .collect();
    tour.send(authority, funding).await?;
    for member in &mut members {
        tour.send(
            member,
            vec![StakingAction::Bond {
                amount: MEMBER_BOND,
            }
            .into()],
        )
        .await?;
    }
    tour.send(
        insurer,
        vec![StakingAction::Bond { amount: WHALE_BOND }.into()],
    )
    .await?;
    let stake = tour.client.stake(&insurer.actor.account()).await?;
    let params = tour.client.governance_params().await?.params;
    tour.say(
        format!(
            "Eight consortium members bonded {MEMBER_BOND} usal each and {} bonded {WHALE_BOND}: {} usal of voting power in all. One account's weight is capped at {}%.",
            insurer.name,
            stake.total_bonded,
            params.cap_bps / 100
        ),
        json!({"total_bonded": stake.total_bonded, "cap_bps": params.cap_bps}),
    );

    let change = Change::Params(ParamChange::Insurance(InsuranceParams {
        claim_deadline_blocks: 300,
        ..InsuranceParams::default()
    }));
    let propose = |title: &str, change: &Change| -> Action {
        GovernanceAction::Propose {
            title: title.into(),
            change: change.clone(),
        }
        .into()
    };
    tour.send(
        insurer,
        vec![propose("Oracles answer claims within 300 blocks", &change)],
    )
    .await?;
    tour.send(insurer, vec![vote(1, VoteOption::Yes)]).await?;
    let status = settled(tour, 1, false).await?;
    let ProposalStatus::Closed {
        outcome: Outcome::NoQuorum,
        ..
    } = status
    else {
        bail!("the whale's proposal must fail for want of a quorum, not end {status:?}");
    };
    let whale = tour.client.proposal(1).await?.proposal;
    tour.say_as(
        "capped whale",
        format!(
            "{} proposed and voted alone: its {WHALE_BOND} usal counted as {} (the cap), far from the quorum; the proposal closed without effect and its deposit came back.",
            insurer.name, whale.tally.yes
        ),
        json!({"proposal": whale}),
    );

    let governance = tour.client.governance_params().await?;
    let (first, rest) = members.split_first_mut().expect("eight members");
    let lab = rest[0].actor.account();
    let grant = governance
        .treasury
        .parse::<u128>()
        .map_err(|e| anyhow::anyhow!("the treasury's balance does not parse: {e}"))?;
    tour.say_as(
        "treasury",
        format!(
            "The community treasury holds {grant} usal: its share of every premium and the stake slashed from a dissenting oracle. Only a proposal spends it."
        ),
        json!({"treasury": governance.treasury, "account": governance.treasury_account}),
    );
    let spend = Change::Spend {
        to: lab,
        amount: grant,
    };
    tour.send(
        first,
        vec![
            propose("Oracles answer claims within 300 blocks (members)", &change),
            propose(
                "Fund Lakeview Labs' diabetes study from the treasury",
                &spend,
            ),
        ],
    )
    .await?;
    let both = |option| vec![vote(2, option), vote(3, option)];
    tour.send(first, both(VoteOption::Yes)).await?;
    for member in rest.iter_mut().take(6) {
        tour.send(member, both(VoteOption::Yes)).await?;
    }
    tour.send(&mut rest[6], both(VoteOption::No)).await?;
    let queued = settled(tour, 2, false).await?;
    let ProposalStatus::Queued { execute_height } = queued else {
        bail!("the members' proposal must pass, not end {queued:?}");
    };
    let tally = tour.client.proposal(2).await?.proposal.tally;
    tour.say(
        format!(
            "Seven members voted yes and one no on both proposals ({} to {}): they passed and wait for their timelock, until block {execute_height}.",
            tally.yes, tally.no
        ),
        json!({"tally": tally, "execute_height": execute_height}),
    );
    let executed = settled(tour, 2, true).await?;
    let ProposalStatus::Executed { height } = executed else {
        bail!("the passed proposal must execute, not end {executed:?}");
    };
    tour.say_as(
        "proposal executed",
        format!("At block {height} the chain executed it by itself: claims now get 300 blocks of oracle time. Each validator executes a proposal in the same block, from the same state."),
        json!({"executed_at": height}),
    );
    let granted = settled(tour, 3, true).await?;
    let ProposalStatus::Executed { .. } = granted else {
        bail!("the treasury grant must execute, not end {granted:?}");
    };
    let lab_balance = tour.client.account(&lab).await?.balance;
    tour.say_as(
        "treasury grant",
        format!(
            "In the same block the treasury paid its {grant} usal to Lakeview Labs, which now holds {lab_balance} usal."
        ),
        json!({"granted": grant, "lab_balance": lab_balance.to_string()}),
    );
    Ok(members)
}
