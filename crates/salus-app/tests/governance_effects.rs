//! What passed proposals do, through `Chain` on a chain and a follower that
//! agree on every root: the treasury's income and grants (to an account and
//! to an insurance pool), roles and authorities, the oracle draw and
//! credential rules; and a proposal whose change no longer applies when its
//! timelock ends, which fails whole and says why.

mod common;

use salus_app::{governance, identity, insurance, oracle, treasury};
use salus_types::governance::Change;
use salus_types::identity::Role;
use salus_types::{AccountId, ErrorCode};

use common::governance::{enact, executed, failure, polity, refused};
use common::insurance::Cast;
use common::records::attest;
use common::User;

#[test]
fn the_treasury_earns_a_share_of_premiums_and_pays_grants() {
    let mut cast = polity();
    let pool = cast.funded_pool(400_000);
    let buy = cast.buy(pool, 0, 200_000, 365 * 24 * 3_600_000);
    cast.all_ok(&[buy]);
    let paid = insurance::policy(&cast.snapshot(), 1)
        .unwrap()
        .unwrap()
        .premium;
    let income = treasury::balance(&cast.snapshot()).unwrap();
    assert_eq!(income, paid / 100, "1 % of the premium, rounded down");
    assert_eq!(cast.pool(pool).premiums, paid - income);

    // Anyone may give to the treasury; only a proposal spends it.
    let gift = cast.stranger.transfer(treasury::account(), 20_000 - income);
    cast.all_ok(&[gift]);
    let lab = User::new(60).id;
    let capital = cast.pool(pool).capital;
    let proposals = enact(
        &mut cast,
        &[
            Change::Spend {
                to: lab,
                amount: 5_000,
            },
            Change::FundPool {
                pool,
                amount: 15_000,
            },
        ],
    );
    assert!(proposals.iter().all(executed), "{proposals:?}");
    assert_eq!(cast.balance(&lab), 5_000);
    let funded = cast.pool(pool);
    assert_eq!(
        (funded.capital, funded.granted),
        (capital + 15_000, 15_000),
        "a grant adds capital without shares"
    );
    assert_eq!(treasury::balance(&cast.snapshot()).unwrap(), 0);

    // A grant larger than the treasury may be proposed (income may come),
    // but if the treasury is still short when it executes, it fails whole.
    let proposals = enact(
        &mut cast,
        &[Change::Spend {
            to: lab,
            amount: 1_000,
        }],
    );
    assert_eq!(
        failure(&proposals[0]),
        "the treasury holds 0, less than 1000"
    );
    assert_eq!(cast.balance(&lab), 5_000, "nothing moved");
    assert_eq!(
        refused(
            &mut cast,
            Change::FundPool {
                pool: 99,
                amount: 1
            }
        ),
        ErrorCode::PoolNotFound
    );
    assert_eq!(
        refused(&mut cast, Change::Spend { to: lab, amount: 0 }),
        ErrorCode::BadProposal
    );
}

#[test]
fn governance_attests_and_revokes_roles_and_appoints_authorities() {
    let mut cast = polity();
    let newcomer = User::new(61).id;
    assert_eq!(
        refused(
            &mut cast,
            Change::AttestRole {
                subject: newcomer,
                role: Role::Oracle
            }
        ),
        ErrorCode::DidNotFound,
        "no proposal for a subject without a DID"
    );
    let subject = cast.stranger.id;
    let attest_change = Change::AttestRole {
        subject,
        role: Role::Researcher,
    };
    let proposals = enact(&mut cast, &[attest_change]);
    assert!(executed(&proposals[0]), "{proposals:?}");
    let grant = identity::role(&cast.snapshot(), &subject, Role::Researcher)
        .unwrap()
        .expect("attested");
    assert_eq!(grant.attested_by, governance::custody());

    // Two proposals to revoke the same role pass; the second finds it gone.
    let revoke = Change::RevokeRole {
        subject,
        role: Role::Researcher,
    };
    let proposals = enact(&mut cast, &[revoke.clone(), revoke]);
    assert!(executed(&proposals[0]));
    assert_eq!(
        failure(&proposals[1]),
        format!("{} does not hold role researcher", subject.did())
    );
    assert!(identity::role(&cast.snapshot(), &subject, Role::Researcher)
        .unwrap()
        .is_none());

    // The stranger becomes an authority for insurers, then stops being one.
    let appoint = Change::SetAuthority {
        account: subject,
        roles: vec![Role::Insurer],
    };
    assert!(executed(&enact(&mut cast, &[appoint])[0]));
    let tx = attest(&mut cast.stranger, &User::new(13), Role::Insurer);
    cast.all_ok(&[tx]);
    let dismiss = Change::SetAuthority {
        account: subject,
        roles: vec![],
    };
    assert!(executed(
        &enact(&mut cast, std::slice::from_ref(&dismiss))[0]
    ));
    let tx = attest(&mut cast.stranger, &User::new(14), Role::Insurer);
    assert_eq!(cast.net.code(tx), ErrorCode::NotAnAuthority);
    assert_eq!(refused(&mut cast, dismiss), ErrorCode::NotAnAuthority);
    assert_eq!(
        refused(
            &mut cast,
            Change::SetAuthority {
                account: subject,
                roles: vec![Role::Oracle, Role::Oracle]
            }
        ),
        ErrorCode::BadProposal
    );
}

fn in_draw(cast: &Cast, account: &AccountId) -> bool {
    oracle::eligible(&cast.snapshot())
        .unwrap()
        .iter()
        .any(|(eligible, _)| eligible == account)
}

#[test]
fn governance_bars_an_oracle_from_the_draw_and_admits_it_again() {
    let mut cast = polity();
    let suspect = cast.oracles[0].id;
    assert!(in_draw(&cast, &suspect));
    let bar = Change::BarOracle { oracle: suspect };
    let proposals = enact(&mut cast, &[bar.clone(), bar]);
    assert!(executed(&proposals[0]));
    assert_eq!(
        failure(&proposals[1]),
        format!("{} is already barred", suspect.did())
    );
    assert!(!in_draw(&cast, &suspect));
    assert!(oracle::barred(&cast.snapshot(), &suspect).unwrap());
    // A barred oracle may add to its bond, but stays out of the draw.
    let tx = cast.oracles[0].tx(vec![
        salus_types::oracle::OracleAction::Bond { amount: 1 }.into()
    ]);
    cast.all_ok(&[tx]);
    assert!(!in_draw(&cast, &suspect));

    let admit = Change::AdmitOracle { oracle: suspect };
    assert!(executed(&enact(&mut cast, std::slice::from_ref(&admit))[0]));
    assert!(in_draw(&cast, &suspect));
    assert_eq!(refused(&mut cast, admit), ErrorCode::BarUnchanged);
}

#[test]
fn a_role_rule_needs_a_published_definition() {
    let mut cast = polity();
    let rule = salus_types::credentials::RoleRule {
        role: Role::Provider,
        definition: format!("{}#license", cast.authority.id.did()),
        subject_attribute: "holder_did".into(),
        required: vec![],
        valid_until_attribute: None,
    };
    assert_eq!(
        refused(&mut cast, Change::SetRoleRule { rule }),
        ErrorCode::UnknownDefinition
    );
}
