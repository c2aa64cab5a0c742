//! Staking through `Chain`, on a chain and a follower that agree on every
//! root: bonding, delegation and unbonding, and the voting power read back
//! at past heights. The proptest drives random sequences and checks the
//! invariants against a model: power per account at every height so far,
//! total bonded, custody, supply.

mod common;

use std::collections::BTreeMap;

use proptest::prelude::*;
use salus_app::{staking, token};
use salus_types::staking::{StakingAction, StakingGenesis, StakingParams};
use salus_types::token::{Allocation, TokenGenesis};
use salus_types::{AccountId, Action, ErrorCode, Genesis, Tx};

use common::{genesis, Net, User};

const FUNDS: u128 = 1_000_000;
const UNBONDING: u64 = 5;

fn net(users: &[User]) -> Net {
    let authority = User::new(1);
    Net::new(&Genesis {
        token: TokenGenesis {
            denom: "usal".into(),
            allocations: users
                .iter()
                .map(|u| Allocation {
                    account: u.id,
                    amount: FUNDS,
                })
                .collect(),
        },
        staking: StakingGenesis {
            params: StakingParams {
                unbonding_blocks: UNBONDING,
                history_blocks: 1_000,
            },
        },
        ..genesis(&authority, 1_700_000_000_000)
    })
}

fn act(user: &mut User, action: StakingAction) -> Tx {
    user.tx(vec![Action::Staking(action)])
}

#[test]
fn bonded_tokens_vote_where_they_are_delegated_and_stop_when_unbonded() {
    let mut users: Vec<User> = (10..13).map(User::new).collect();
    let net = net(&users);
    let [alice, bob, carol] = [0, 1, 2].map(|i| users[i].id);
    let txs = vec![
        act(&mut users[0], StakingAction::Bond { amount: 600 }),
        act(&mut users[1], StakingAction::Bond { amount: 300 }),
    ];
    assert_eq!(net.codes(&txs), vec![ErrorCode::Ok; 2]);
    let bonded_at = net.chain.tip().0.height;
    let tx = act(&mut users[1], StakingAction::Delegate { to: Some(alice) });
    net.ok(tx);
    let delegated_at = net.chain.tip().0.height;
    let snapshot = net.chain.store().snapshot().unwrap();
    assert_eq!(
        staking::power_at(&snapshot, &alice, bonded_at).unwrap(),
        600
    );
    assert_eq!(
        staking::power_at(&snapshot, &alice, delegated_at).unwrap(),
        900
    );
    assert_eq!(staking::power_at(&snapshot, &bob, bonded_at).unwrap(), 300);
    assert_eq!(staking::power_at(&snapshot, &bob, delegated_at).unwrap(), 0);
    assert_eq!(staking::total_at(&snapshot, delegated_at).unwrap(), 900);

    // Unbonding leaves the vote at once and the custody only later.
    let tx = act(&mut users[1], StakingAction::Unbond { amount: 100 });
    net.ok(tx);
    let snapshot = net.chain.store().snapshot().unwrap();
    let now = net.chain.tip().0.height;
    assert_eq!(staking::power_at(&snapshot, &alice, now).unwrap(), 800);
    assert_eq!(token::balance(&snapshot, &staking::custody()).unwrap(), 900);
    let tx = act(&mut users[1], StakingAction::Withdraw);
    assert_eq!(net.code(tx), ErrorCode::NothingToWithdraw);
    for _ in 0..UNBONDING {
        net.block(&[]);
    }
    let tx = act(&mut users[1], StakingAction::Withdraw);
    net.ok(tx);
    let snapshot = net.chain.store().snapshot().unwrap();
    assert_eq!(token::balance(&snapshot, &bob).unwrap(), FUNDS - 200);

    // Refusals.
    let tx = act(&mut users[2], StakingAction::Unbond { amount: 1 });
    assert_eq!(net.code(tx), ErrorCode::NotEnoughBonded);
    let tx = act(&mut users[2], StakingAction::Bond { amount: FUNDS + 1 });
    assert_eq!(net.code(tx), ErrorCode::InsufficientBalance);
    let tx = act(&mut users[1], StakingAction::Delegate { to: Some(alice) });
    assert_eq!(net.code(tx), ErrorCode::AlreadyDelegated);
    let _ = carol;
}

#[derive(Debug, Clone)]
enum Step {
    Bond(usize, u128),
    Unbond(usize, u128),
    Withdraw(usize),
    Delegate(usize, Option<usize>),
    Wait(u64),
}

fn step() -> impl Strategy<Value = Step> {
    prop_oneof![
        (0..4usize, 1..200_000u128).prop_map(|(u, a)| Step::Bond(u, a)),
        (0..4usize, 1..200_000u128).prop_map(|(u, a)| Step::Unbond(u, a)),
        (0..4usize).prop_map(Step::Withdraw),
        (0..4usize, proptest::option::of(0..4usize)).prop_map(|(u, to)| Step::Delegate(u, to)),
        (1..8u64).prop_map(Step::Wait),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]

    #[test]
    fn voting_power_always_adds_up_to_the_total_bonded(steps in proptest::collection::vec(step(), 5..40)) {
        let mut users: Vec<User> = (20..24).map(User::new).collect();
        let ids: Vec<AccountId> = users.iter().map(|u| u.id).collect();
        let net = net(&users);
        let supply = token::total_supply(&net.chain.store().snapshot().unwrap()).unwrap();
        // What every account's power was after each height, by the chain.
        let mut history: BTreeMap<u64, Vec<u128>> = BTreeMap::new();
        for step in steps {
            let txs = match step {
                Step::Bond(u, amount) => vec![act(&mut users[u], StakingAction::Bond { amount })],
                Step::Unbond(u, amount) => vec![act(&mut users[u], StakingAction::Unbond { amount })],
                Step::Withdraw(u) => vec![act(&mut users[u], StakingAction::Withdraw)],
                Step::Delegate(u, to) => {
                    let to = to.map(|t| ids[t]).filter(|t| *t != ids[u]);
                    vec![act(&mut users[u], StakingAction::Delegate { to })]
                }
                Step::Wait(blocks) => {
                    for _ in 1..blocks {
                        net.block(&[]);
                    }
                    vec![]
                }
            };
            net.block(&txs);
            let snapshot = net.chain.store().snapshot().unwrap();
            let height = net.chain.tip().0.height;
            // Power from the stakes themselves.
            let mut expected = vec![0u128; ids.len()];
            let mut held = 0;
            for id in &ids {
                let stake = staking::stake(&snapshot, id).unwrap();
                prop_assert_eq!(staking::own_at(&snapshot, id, height).unwrap(), (stake.bonded, stake.delegate));
                let voter = stake.delegate.unwrap_or(*id);
                let at = ids.iter().position(|i| *i == voter).unwrap();
                expected[at] += stake.bonded;
                held += stake.bonded + stake.unbonding.iter().map(|u| u.amount).sum::<u128>();
            }
            let powers: Vec<u128> = ids.iter().map(|id| staking::power_at(&snapshot, id, height).unwrap()).collect();
            prop_assert_eq!(&powers, &expected);
            prop_assert_eq!(staking::total_at(&snapshot, height).unwrap(), expected.iter().sum::<u128>());
            prop_assert_eq!(token::balance(&snapshot, &staking::custody()).unwrap(), held);
            prop_assert_eq!(token::total_supply(&snapshot).unwrap(), supply);
            history.insert(height, powers);
            // The past does not change.
            for (past, powers) in &history {
                for (id, power) in ids.iter().zip(powers) {
                    prop_assert_eq!(staking::power_at(&snapshot, id, *past).unwrap(), *power);
                }
            }
        }
    }
}
