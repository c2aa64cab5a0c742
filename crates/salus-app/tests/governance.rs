//! Governance through `Chain`, on a chain and a follower that agree on every
//! root: proposals, votes weighted by staked power at the start and capped
//! per account, quorum, threshold and veto, the timelock and execution of a
//! parameter change, deposits, and every refusal.

mod common;

use salus_app::{governance, oracle, token, treasury};
use salus_types::governance::{
    Change, GovernanceAction, GovernanceEvent, GovernanceGenesis, GovernanceParams, Outcome,
    ParamChange, ProposalStatus, VoteOption,
};
use salus_types::oracle::OracleParams;
use salus_types::staking::StakingAction;
use salus_types::token::{Allocation, TokenGenesis};
use salus_types::{Action, ErrorCode, Event, Genesis, Receipt, Tx};

use common::{genesis, Net, User};

const VOTING: u64 = 5;
const TIMELOCK: u64 = 3;
const DEPOSIT: u128 = 100;

struct Polity {
    net: Net,
    /// Ten holders with 100 bonded each (a 5 % cap is 50 of 1,000).
    holders: Vec<User>,
    whale: User,
    latecomer: User,
}

fn polity(whale_bond: u128) -> Polity {
    polity_with(whale_bond, GovernanceParams::default().cap_bps, |_| {})
}

/// A polity with a weight cap of `cap_bps`, where `before` may act (delegate)
/// before any proposal.
fn polity_with(whale_bond: u128, cap_bps: u32, before: impl FnOnce(&mut Polity)) -> Polity {
    let authority = User::new(1);
    let mut holders: Vec<User> = (30..40).map(User::new).collect();
    let mut whale = User::new(40);
    let latecomer = User::new(41);
    let everyone: Vec<&User> = holders.iter().chain([&whale, &latecomer]).collect();
    let genesis = Genesis {
        token: TokenGenesis {
            denom: "usal".into(),
            allocations: everyone
                .iter()
                .map(|u| Allocation {
                    account: u.id,
                    amount: 1_000_000,
                })
                .collect(),
        },
        epochs: Default::default(),
        governance: GovernanceGenesis {
            params: GovernanceParams {
                min_deposit: DEPOSIT,
                voting_blocks: VOTING,
                timelock_blocks: TIMELOCK,
                cap_bps,
                ..GovernanceParams::default()
            },
        },
        ..genesis(&authority, 1_700_000_000_000)
    };
    let net = Net::new(&genesis);
    let mut bonds: Vec<Tx> = holders
        .iter_mut()
        .map(|h| h.tx(vec![Action::Staking(StakingAction::Bond { amount: 100 })]))
        .collect();
    if whale_bond > 0 {
        bonds.push(whale.tx(vec![Action::Staking(StakingAction::Bond {
            amount: whale_bond,
        })]));
    }
    assert!(net.codes(&bonds).iter().all(|c| *c == ErrorCode::Ok));
    let mut polity = Polity {
        net,
        holders,
        whale,
        latecomer,
    };
    before(&mut polity);
    polity
}

fn committee_of_five() -> Change {
    Change::Params(ParamChange::Oracle(OracleParams {
        committee_size: 5,
        ..OracleParams::default()
    }))
}

fn propose(user: &mut User, change: Change) -> Tx {
    user.tx(vec![Action::Governance(GovernanceAction::Propose {
        title: "Committees of five".into(),
        change,
    })])
}

fn vote(user: &mut User, proposal: u64, option: VoteOption) -> Tx {
    user.tx(vec![Action::Governance(GovernanceAction::Vote {
        proposal,
        option,
    })])
}

fn closed(receipts: &[Receipt]) -> Vec<Outcome> {
    receipts
        .iter()
        .flat_map(|r| &r.events)
        .filter_map(|e| match e {
            Event::Governance(GovernanceEvent::Closed { outcome, .. }) => Some(*outcome),
            _ => None,
        })
        .collect()
}

/// Blocks until voting on a proposal opened at `opened` has closed.
fn finish_voting(net: &Net, opened: u64) -> Vec<Receipt> {
    let mut receipts = Vec::new();
    while net.chain.tip().0.height < opened + VOTING {
        receipts.extend(net.block(&[]));
    }
    receipts
}

#[test]
fn a_passed_proposal_waits_out_its_timelock_and_executes_on_every_node() {
    let mut p = polity(0);
    let tx = propose(&mut p.holders[0], committee_of_five());
    p.net.ok(tx);
    let opened = p.net.chain.tip().0.height;
    // Seven of ten vote yes (350 of 1,000 ≥ the 33.4 % quorum); one votes no.
    let mut votes: Vec<Tx> = p.holders[..7]
        .iter_mut()
        .map(|h| vote(h, 1, VoteOption::Yes))
        .collect();
    votes.push(vote(&mut p.holders[7], 1, VoteOption::No));
    assert!(p.net.codes(&votes).iter().all(|c| *c == ErrorCode::Ok));
    // A second vote replaces the first: the last one counts.
    let tx = vote(&mut p.holders[7], 1, VoteOption::Yes);
    p.net.ok(tx);
    let snapshot = p.net.chain.store().snapshot().unwrap();
    let proposal = governance::proposal(&snapshot, 1).unwrap().unwrap();
    assert_eq!((proposal.tally.yes, proposal.tally.no), (400, 0));
    // Tokens bonded after the start carry no weight on it.
    let tx = p
        .latecomer
        .tx(vec![Action::Staking(StakingAction::Bond { amount: 500 })]);
    p.net.ok(tx);
    let tx = vote(&mut p.latecomer, 1, VoteOption::No);
    assert_eq!(p.net.code(tx), ErrorCode::NoVotingPower);

    let balance = token::balance(&snapshot, &p.holders[0].id).unwrap();
    assert_eq!(
        closed(&finish_voting(&p.net, opened)),
        vec![Outcome::Passed]
    );
    let snapshot = p.net.chain.store().snapshot().unwrap();
    assert_eq!(
        token::balance(&snapshot, &p.holders[0].id).unwrap(),
        balance + DEPOSIT,
        "deposit refunded"
    );
    assert_eq!(
        oracle::params(&snapshot).unwrap().committee_size,
        3,
        "not before the timelock"
    );
    let tx = vote(&mut p.holders[9], 1, VoteOption::No);
    assert_eq!(p.net.code(tx), ErrorCode::VotingClosed);
    for _ in 0..TIMELOCK {
        p.net.block(&[]);
    }
    let snapshot = p.net.chain.store().snapshot().unwrap();
    assert_eq!(oracle::params(&snapshot).unwrap().committee_size, 5);
    assert!(matches!(
        governance::proposal(&snapshot, 1).unwrap().unwrap().status,
        ProposalStatus::Executed { .. }
    ));
}

#[test]
fn a_capped_whale_cannot_pass_a_proposal_alone() {
    // The whale bonds 9,000 of 10,000: its weight is capped at 5 % (500).
    let mut p = polity(9_000);
    let whale = &mut p.whale;
    let tx = propose(whale, committee_of_five());
    p.net.ok(tx);
    let opened = p.net.chain.tip().0.height;
    let tx = vote(&mut p.whale, 1, VoteOption::Yes);
    let receipts = p.net.block(&[tx]);
    let weight = receipts[0].events.iter().find_map(|e| match e {
        Event::Governance(GovernanceEvent::Voted { weight, .. }) => Some(*weight),
        _ => None,
    });
    assert_eq!(weight, Some(500));
    assert_eq!(
        closed(&finish_voting(&p.net, opened)),
        vec![Outcome::NoQuorum]
    );
}

#[test]
fn a_veto_keeps_the_deposit_and_a_rejection_refunds_it() {
    let mut p = polity(0);
    let tx = propose(&mut p.holders[0], committee_of_five());
    p.net.ok(tx);
    let opened = p.net.chain.tip().0.height;
    let mut votes: Vec<Tx> = p.holders[1..5]
        .iter_mut()
        .map(|h| vote(h, 1, VoteOption::Yes))
        .collect();
    votes.extend(
        p.holders[5..8]
            .iter_mut()
            .map(|h| vote(h, 1, VoteOption::Veto)),
    );
    p.net.block(&votes);
    assert_eq!(
        closed(&finish_voting(&p.net, opened)),
        vec![Outcome::Vetoed]
    );
    let snapshot = p.net.chain.store().snapshot().unwrap();
    assert_eq!(treasury::balance(&snapshot).unwrap(), DEPOSIT);
    assert_eq!(
        token::balance(&snapshot, &governance::custody()).unwrap(),
        0,
        "the vetoed deposit went to the treasury"
    );

    let tx = propose(&mut p.holders[1], committee_of_five());
    p.net.ok(tx);
    let opened = p.net.chain.tip().0.height;
    let votes: Vec<Tx> = p.holders[2..9]
        .iter_mut()
        .map(|h| vote(h, 2, VoteOption::No))
        .collect();
    p.net.block(&votes);
    assert_eq!(
        closed(&finish_voting(&p.net, opened)),
        vec![Outcome::Rejected]
    );
    let snapshot = p.net.chain.store().snapshot().unwrap();
    assert_eq!(
        token::balance(&snapshot, &governance::custody()).unwrap(),
        0,
        "the rejected deposit went back"
    );
    assert_eq!(treasury::balance(&snapshot).unwrap(), DEPOSIT);
}

#[test]
fn malformed_proposals_and_votes_are_refused_with_typed_errors() {
    let mut p = polity(0);
    let out_of_bounds = Change::Params(ParamChange::Oracle(OracleParams {
        committee_size: 0,
        ..OracleParams::default()
    }));
    let tx = propose(&mut p.holders[0], out_of_bounds);
    assert_eq!(p.net.code(tx), ErrorCode::ParamsOutOfBounds);
    let tx = p.holders[0].tx(vec![Action::Governance(GovernanceAction::Propose {
        title: " ".into(),
        change: committee_of_five(),
    })]);
    assert_eq!(p.net.code(tx), ErrorCode::BadProposal);
    let tx = vote(&mut p.holders[0], 9, VoteOption::Yes);
    assert_eq!(p.net.code(tx), ErrorCode::ProposalNotFound);
    let tx = propose(&mut p.latecomer, committee_of_five());
    p.net.ok(tx);
    let tx = vote(&mut p.latecomer, 1, VoteOption::Yes);
    assert_eq!(p.net.code(tx), ErrorCode::NoVotingPower);
}

/// Holder 0 delegates to holder 1 before the proposal.
fn delegated() -> Polity {
    polity_with(0, 10_000, |p| {
        let to = Some(p.holders[1].id);
        let tx = p.holders[0].tx(vec![Action::Staking(StakingAction::Delegate { to })]);
        p.net.ok(tx);
    })
}

fn tally_of(p: &Polity, proposal: u64) -> (u128, u128) {
    let snapshot = p.net.chain.store().snapshot().unwrap();
    let tally = governance::proposal(&snapshot, proposal)
        .unwrap()
        .unwrap()
        .tally;
    (tally.yes, tally.no)
}

#[test]
fn a_delegators_own_vote_overrides_its_delegate_in_either_order() {
    // The delegate votes first with both holdings; the delegator then takes its own back.
    let mut p = delegated();
    let tx = propose(&mut p.holders[2], committee_of_five());
    p.net.ok(tx);
    let tx = vote(&mut p.holders[1], 1, VoteOption::Yes);
    p.net.ok(tx);
    assert_eq!(tally_of(&p, 1), (200, 0));
    let tx = vote(&mut p.holders[0], 1, VoteOption::No);
    p.net.ok(tx);
    assert_eq!(tally_of(&p, 1), (100, 100));
    // Voting again does not take anything back twice.
    let tx = vote(&mut p.holders[0], 1, VoteOption::No);
    p.net.ok(tx);
    assert_eq!(tally_of(&p, 1), (100, 100));

    // The delegator votes first; its delegate then votes with what is left.
    let mut p = delegated();
    let tx = propose(&mut p.holders[2], committee_of_five());
    p.net.ok(tx);
    let tx = vote(&mut p.holders[0], 1, VoteOption::No);
    p.net.ok(tx);
    let tx = vote(&mut p.holders[1], 1, VoteOption::Yes);
    p.net.ok(tx);
    assert_eq!(tally_of(&p, 1), (100, 100));
}
