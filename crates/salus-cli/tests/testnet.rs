//! A four-validator network of real `salus node` processes on loopback,
//! under faults: one validator crashed (the rest keep finalizing; it catches
//! up on restart), two crashed (the chain halts without conflicting
//! finalizations, and resumes when one returns), and a wiped validator that
//! syncs everything from its peers.

mod common;

use std::path::Path;
use std::time::{Duration, Instant};

use common::testnet::{
    agree, final_height, free_base_port, height, lay_out, transfer, wait_height, Node,
};
use salus_client::Signer;
use salus_consensus::executor::SYNCING_LAG;
use salus_node::layout::testnet::TESTNET_CHAIN_ID;
use salus_types::{AccountId, Hash};

/// Waits until `node`'s height has not moved for two seconds: blocks
/// finalized before a halt may still be on their way to it.
async fn settled_height(node: &Node) -> u64 {
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut last = (height(node).await, Instant::now());
    loop {
        tokio::time::sleep(Duration::from_millis(200)).await;
        let now = height(node).await;
        if now != last.0 {
            last = (now, Instant::now());
        } else if let Some(h) = now.filter(|_| last.1.elapsed() >= Duration::from_secs(2)) {
            return h;
        }
        assert!(Instant::now() < deadline, "the height never settled");
    }
}

fn wipe(path: &Path) {
    if path.exists() {
        std::fs::remove_dir_all(path).unwrap();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn four_validators_survive_crashes_halt_safely_and_resync() {
    let dir = tempfile::tempdir().unwrap();
    let base = free_base_port(4);
    let net = lay_out(dir.path(), 4, base);
    let mut nodes: Vec<Node> = (0..net.node_files.len())
        .map(|i| Node::new(dir.path(), i, base))
        .collect();
    for node in &mut nodes {
        node.start();
    }
    for node in &nodes {
        wait_height(node, 2, Duration::from_secs(60)).await;
    }
    let mut signer = Signer::new(TESTNET_CHAIN_ID, net.authority.signing.clone(), 0);

    // A transaction sent to one validator is final on all of them, and every
    // validator holds the same block and state root at that height.
    let hash = transfer(&nodes[1], &mut signer, 1).await;
    let at = final_height(&nodes[1], &hash, Duration::from_secs(30))
        .await
        .expect("final");
    agree(&nodes.iter().collect::<Vec<_>>(), at).await;

    // One of four crashed: the others keep finalizing.
    nodes[3].kill();
    let hash = transfer(&nodes[0], &mut signer, 2).await;
    let at = final_height(&nodes[0], &hash, Duration::from_secs(30))
        .await
        .expect("three of four validators keep finalizing");
    agree(&[&nodes[0], &nodes[1], &nodes[2]], at).await;

    // The survivors' metrics show it: views that timed out (once the crashed
    // validator's turn to lead has come), connected peers, finality latency,
    // and the time to build, check and commit blocks.
    let names = [
        "salus_height ",
        "salus_finalized_txs_total ",
        "salus_mempool_size ",
        "salus_finality_seconds_bucket",
        "salus_state_commit_seconds_bucket",
        "salus_propose_seconds_bucket",
        "salus_verify_seconds_bucket",
        "engine_orchestrator_epochs_simplex_voter_state_current_view{epoch=",
        "engine_orchestrator_epochs_simplex_voter_state_timeouts",
        "network_p2p_tracker_directory_connected{",
    ];
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    loop {
        let metrics = reqwest::get(format!("http://127.0.0.1:{}/metrics", base + 1))
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        let missing: Vec<&str> = names
            .iter()
            .copied()
            .filter(|name| !metrics.contains(name))
            .collect();
        if missing.is_empty() {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "/metrics lacks {missing:?}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }

    // It restarts and catches up from its peers, to the same state.
    nodes[3].start();
    wait_height(&nodes[3], at, Duration::from_secs(60)).await;
    agree(&nodes.iter().collect::<Vec<_>>(), at).await;

    // Two of four down: no finality, and nothing conflicting gets finalized.
    nodes[2].kill();
    nodes[3].kill();
    let stalled_at = settled_height(&nodes[0]).await;
    let hash = transfer(&nodes[0], &mut signer, 3).await;
    assert_eq!(
        final_height(&nodes[0], &hash, Duration::from_secs(4)).await,
        None,
        "two of four validators must not finalize"
    );
    let stalled = height(&nodes[0]).await.unwrap();
    assert!(
        stalled <= stalled_at + 1,
        "the chain must halt ({stalled_at} → {stalled})"
    );
    agree(
        &[&nodes[0], &nodes[1]],
        stalled.min(height(&nodes[1]).await.unwrap()),
    )
    .await;

    // One returns: the pending transaction becomes final.
    nodes[2].start();
    let at = final_height(&nodes[0], &hash, Duration::from_secs(60))
        .await
        .expect("the chain resumes with three of four");
    wait_height(&nodes[2], at, Duration::from_secs(60)).await;
    agree(&[&nodes[0], &nodes[1], &nodes[2]], at).await;

    // A wiped validator rejoins and syncs every finalized block and the state.
    // The chain first moves well past the lag at which a node says it is
    // catching up: the phases above finalize only a few blocks, and a wiped
    // node less than that far behind would have no sync to report.
    wipe(&dir.path().join("node-3"));
    let lead = height(&nodes[0]).await.expect("node 0 answers") + 2 * SYNCING_LAG;
    wait_height(&nodes[0], lead, Duration::from_secs(60)).await;
    nodes[3].start();
    let hash = transfer(&nodes[1], &mut signer, 4).await;
    let at = final_height(&nodes[1], &hash, Duration::from_secs(30))
        .await
        .expect("final");
    wait_height(&nodes[3], at, Duration::from_secs(90)).await;
    let root = agree(&nodes.iter().collect::<Vec<_>>(), at).await;
    for h in 0..=at {
        agree(&[&nodes[0], &nodes[3]], h).await;
    }
    assert_ne!(root, Hash::ZERO);
    // It said so while it synced, and its status says it is done.
    // The chain moved on while it synced: give it time to close the gap.
    let deadline = Instant::now() + Duration::from_secs(60);
    let status = loop {
        let log = std::fs::read_to_string(&nodes[3].log).unwrap();
        let status = nodes[3].api.status().await.unwrap();
        if log.contains("caught up with the network") && !status.syncing {
            assert!(
                log.contains("catching up from peers"),
                "the wiped node logs its sync progress"
            );
            break status;
        }
        assert!(
            Instant::now() < deadline,
            "the wiped node never reported itself caught up"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    assert!(status.network_tip >= at);
    // Its state, proven against its newest header (nothing moved the balance
    // since `at`; a height inside one of its flushes is not kept).
    let balance = nodes[3]
        .api
        .proven(&salus_types::token::balance_key(&AccountId([9; 20])), None)
        .await
        .unwrap();
    assert_eq!(balance.value, Some(10u128.to_le_bytes().to_vec()));
}
