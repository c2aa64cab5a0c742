//! Proposals on the insurance cast: three voters bond, and a helper passes
//! any changes through a full vote and timelock.

use salus_app::governance;
use salus_types::governance::{
    Change, GovernanceAction, GovernanceEvent, Proposal, ProposalStatus, VoteOption,
};
use salus_types::staking::StakingAction;
use salus_types::{Action, ErrorCode, Event, Tx};

use super::insurance::{events, Cast, TIMELOCK, VOTING};
use super::User;

pub const STAKE: u128 = 1_000;

pub fn voters(cast: &mut Cast) -> Vec<&mut User> {
    let [first, second] = &mut cast.lps;
    vec![first, second, &mut cast.insurer]
}

/// The cast, with both liquidity providers and the insurer bonded to vote.
pub fn polity() -> Cast {
    let mut cast = Cast::new();
    let bonds: Vec<Tx> = voters(&mut cast)
        .into_iter()
        .map(|voter| voter.tx(vec![StakingAction::Bond { amount: STAKE }.into()]))
        .collect();
    cast.all_ok(&bonds);
    cast
}

pub fn propose(changes: &[Change]) -> Vec<Action> {
    changes
        .iter()
        .map(|change| {
            GovernanceAction::Propose {
                title: "A change".into(),
                change: change.clone(),
            }
            .into()
        })
        .collect()
}

/// Proposes `changes` together, passes them all, and returns them after
/// their timelock ended.
pub fn enact(cast: &mut Cast, changes: &[Change]) -> Vec<Proposal> {
    let tx = cast.lps[0].tx(propose(changes));
    let ids = events(&cast.all_ok(&[tx]), |e| match e {
        Event::Governance(GovernanceEvent::Proposed { proposal, .. }) => Some(*proposal),
        _ => None,
    });
    assert_eq!(ids.len(), changes.len());
    pass(cast, &ids);
    let snapshot = cast.snapshot();
    ids.iter()
        .map(|id| governance::proposal(&snapshot, *id).unwrap().unwrap())
        .collect()
}

/// Every voter votes yes on proposals `ids`; returns once their timelock
/// has ended.
pub fn pass(cast: &mut Cast, ids: &[u64]) {
    let votes: Vec<Tx> = voters(cast)
        .into_iter()
        .map(|voter| {
            voter.tx(ids
                .iter()
                .map(|id| {
                    GovernanceAction::Vote {
                        proposal: *id,
                        option: VoteOption::Yes,
                    }
                    .into()
                })
                .collect())
        })
        .collect();
    cast.all_ok(&votes);
    for _ in 0..VOTING + TIMELOCK {
        cast.net.block(&[]);
    }
}

pub fn executed(proposal: &Proposal) -> bool {
    matches!(proposal.status, ProposalStatus::Executed { .. })
}

pub fn failure(proposal: &Proposal) -> &str {
    match &proposal.status {
        ProposalStatus::Failed { reason, .. } => reason,
        other => panic!("proposal {} should have failed, not {other:?}", proposal.id),
    }
}

pub fn refused(cast: &mut Cast, change: Change) -> ErrorCode {
    let tx = cast.lps[0].tx(propose(&[change]));
    cast.net.code(tx)
}
