//! The validator set changes by vote, on real `salus node` processes: four
//! genesis validators vote in a fifth, laid out by `salus testnet add-node`
//! and started beforehand from genesis with nothing but its own key and
//! node file. It joins at the next
//! epoch without a manual step, signs that epoch's blocks, and is needed
//! for quorum (one original killed with SIGKILL, the chain goes on with the
//! four that remain). A later vote removes that original: from the epoch
//! after, it no longer signs, and the chain goes on without it while it
//! follows as a non-validator.

mod common;

use std::path::Path;
use std::time::{Duration, Instant};

use common::testnet::{
    agree, final_height, free_base_port, height, lay_out, transfer, wait_height, Node, PASSPHRASE,
};
use salus_client::Signer;
use salus_node::layout::testnet::TESTNET_CHAIN_ID;
use salus_types::epochs::epoch_of;
use salus_types::governance::{Change, GovernanceAction, ProposalStatus, VoteOption};
use salus_types::staking::StakingAction;
use salus_types::{Action, PublicKey};

const EPOCH_BLOCKS: u64 = 20;
const VOTING: u64 = 6;
const TIMELOCK: u64 = 2;

/// Short epochs and votes, and no weight cap, so that the testnet's
/// authority alone passes proposals within seconds.
fn quicken(genesis: &Path) {
    let text = std::fs::read_to_string(genesis).unwrap();
    let mut json: serde_json::Value = serde_json::from_str(&text).unwrap();
    json["epochs"]["epoch_blocks"] = EPOCH_BLOCKS.into();
    let params = &mut json["governance"]["params"];
    params["voting_blocks"] = VOTING.into();
    params["timelock_blocks"] = TIMELOCK.into();
    params["cap_bps"] = 10_000.into();
    std::fs::write(genesis, json.to_string()).unwrap();
}

/// Proposes `change` as the authority, votes for it, and waits until it has
/// executed; returns the height it executed at.
async fn enact(via: &Node, authority: &mut Signer, change: Change) -> u64 {
    let propose = authority.sign(vec![Action::Governance(GovernanceAction::Propose {
        title: "Validator set".into(),
        change,
    })]);
    let outcome = via.api.submit_and_wait(&propose).await.unwrap();
    assert!(outcome.receipt.succeeded(), "{:?}", outcome.receipt);
    let id = outcome
        .receipt
        .events
        .iter()
        .find_map(|e| match e {
            salus_types::Event::Governance(
                salus_types::governance::GovernanceEvent::Proposed { proposal, .. },
            ) => Some(*proposal),
            _ => None,
        })
        .expect("a proposal id");
    let vote = authority.sign(vec![Action::Governance(GovernanceAction::Vote {
        proposal: id,
        option: VoteOption::Yes,
    })]);
    let outcome = via.api.submit_and_wait(&vote).await.unwrap();
    assert!(outcome.receipt.succeeded(), "{:?}", outcome.receipt);
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let view = via.api.proposal(id).await.unwrap();
        match view.proposal.status {
            ProposalStatus::Executed { height } => return height,
            ProposalStatus::Voting | ProposalStatus::Queued { .. } => {}
            other => panic!("proposal {id} ended {other:?}"),
        }
        assert!(Instant::now() < deadline, "proposal {id} never executed");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// The first height of the epoch after the one `height` is in.
fn next_epoch_start(height: u64) -> u64 {
    (epoch_of(height, EPOCH_BLOCKS) + 1) * EPOCH_BLOCKS
}

/// Who signed the certificate that makes `height` final, checked by a
/// client that tracks the validator set from genesis.
async fn signers(via: &Node, height: u64) -> Vec<PublicKey> {
    via.api.certified(height).await.unwrap().signers
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_voted_in_validator_joins_at_its_epoch_and_a_voted_out_one_stops_signing() {
    let dir = tempfile::tempdir().unwrap();
    let base = free_base_port(5);
    let net = lay_out(dir.path(), 4, base);
    quicken(&dir.path().join("genesis.json"));
    // The fifth node, laid out as an operator would, with the change that
    // admits it written next to it.
    let added = std::process::Command::new(env!("CARGO_BIN_EXE_salus"))
        .args(["--json", "testnet", "add-node", "--dir"])
        .arg(dir.path())
        .env("SALUS_NODE_PASSPHRASE", PASSPHRASE)
        .output()
        .unwrap();
    assert!(added.status.success(), "{added:?}");
    let added: serde_json::Value = serde_json::from_slice(&added.stdout).unwrap();
    let change = std::fs::read_to_string(added["change"].as_str().unwrap()).unwrap();
    let add: Change = serde_json::from_str(&change).unwrap();
    let Change::AddValidator {
        key: joiner,
        address,
    } = &add
    else {
        panic!("{add:?}");
    };
    let joiner = *joiner;
    assert_eq!(address, &format!("127.0.0.1:{}", base + 8));
    let mut nodes: Vec<Node> = (0..5).map(|i| Node::new(dir.path(), i, base)).collect();
    for node in &mut nodes {
        node.start();
    }
    for node in &nodes[..4] {
        wait_height(node, 2, Duration::from_secs(60)).await;
    }
    // The fifth runs, but nobody admits a stranger: it has nothing yet.
    assert_eq!(height(&nodes[4]).await, Some(0));
    let mut authority = Signer::new(TESTNET_CHAIN_ID, net.authority.signing.clone(), 0);
    let bond = authority.sign(vec![Action::Staking(StakingAction::Bond {
        amount: 1_000_000_000,
    })]);
    let outcome = nodes[0].api.submit_and_wait(&bond).await.unwrap();
    assert!(outcome.receipt.succeeded(), "{:?}", outcome.receipt);

    // Voted in: it joins at the next epoch and signs its blocks.
    let executed = enact(&nodes[0], &mut authority, add).await;
    let joined = next_epoch_start(executed);
    wait_height(&nodes[4], joined + 2, Duration::from_secs(90)).await;
    let root = agree(&nodes.iter().collect::<Vec<_>>(), joined + 2).await;
    assert!(signers(&nodes[1], joined + 2).await.len() >= 4);
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut at = joined + 2;
    while !signers(&nodes[1], at).await.contains(&joiner) {
        assert!(Instant::now() < deadline, "the new validator never signed");
        at += 1;
        wait_height(&nodes[1], at, Duration::from_secs(30)).await;
    }
    let status = nodes[4].api.status().await.unwrap();
    assert!(status.validators.contains(&joiner.to_hex()), "{status:?}");
    assert_ne!(root, salus_types::Hash::ZERO);

    // Needed for quorum: of five, one original killed, the four left
    // (the newcomer among them) still finalize.
    nodes[3].kill();
    let hash = transfer(&nodes[0], &mut authority, 1).await;
    let at = final_height(&nodes[0], &hash, Duration::from_secs(60))
        .await
        .expect("four of five, the newcomer among them, finalize");
    assert!(signers(&nodes[0], at).await.contains(&joiner));
    agree(&[&nodes[0], &nodes[1], &nodes[2], &nodes[4]], at).await;

    // Voted out: from the next epoch the removed validator is no longer in
    // the set, the chain goes on with three of the remaining four, and the
    // removed one follows the chain.
    nodes[3].start();
    let removed = net.genesis.validators[3].public_key;
    let executed = enact(
        &nodes[0],
        &mut authority,
        Change::RemoveValidator { key: removed },
    )
    .await;
    let left = next_epoch_start(executed);
    wait_height(&nodes[0], left + 2, Duration::from_secs(90)).await;
    let status = nodes[0].api.status().await.unwrap();
    assert!(!status.validators.contains(&removed.to_hex()), "{status:?}");
    assert_eq!(status.validators.len(), 4);
    nodes[1].kill();
    let hash = transfer(&nodes[0], &mut authority, 2).await;
    let at = final_height(&nodes[0], &hash, Duration::from_secs(60))
        .await
        .expect("three of the four remaining validators finalize");
    let signed = signers(&nodes[0], at).await;
    assert!(!signed.contains(&removed), "{signed:?}");
    assert!(signed.contains(&joiner), "{signed:?}");
    agree(&[&nodes[0], &nodes[2], &nodes[4]], at).await;
    // The removed validator follows the chain as a non-validator.
    wait_height(&nodes[3], left + 2, Duration::from_secs(90)).await;
    agree(&[&nodes[0], &nodes[3]], left + 2).await;
}
