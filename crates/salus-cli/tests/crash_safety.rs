//! Kill -9 the real `salus dev` binary at random moments while transactions
//! flow; after every restart, every transaction that was reported final must
//! still be final at the same height, under the same state root.

mod common;

use std::time::{Duration, Instant};

use common::{free_port, start_dev};
use rand::{Rng, SeedableRng};
use salus_client::api::chain::TxState;
use salus_client::{actions, Client, Signer};
use salus_crypto::keystore::KeyDir;
use salus_types::{AccountId, Hash};

const PASSPHRASE: &str = "crash-test-passphrase";

async fn wait_up(client: &Client) {
    let deadline = Instant::now() + Duration::from_secs(60);
    while client.status().await.is_err() {
        assert!(
            Instant::now() < deadline,
            "node did not come up within 60 s"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_final_transaction_is_lost_across_kill_9() {
    let cycles: usize = std::env::var("SALUS_CRASH_CYCLES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(20);
    let seed: u64 = std::env::var("SALUS_CRASH_SEED")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(0x5a15);
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    let dir = tempfile::tempdir().unwrap();
    let (data, keystore) = (dir.path().join("node"), dir.path().join("keys"));
    let (http, p2p) = (free_port(), free_port());
    let client = Client::new(format!("http://127.0.0.1:{http}"));

    let mut node = start_dev(&data, &keystore, http, p2p, PASSPHRASE);
    wait_up(&client).await;
    let authority = KeyDir::new(&keystore)
        .load("dev-authority")
        .unwrap()
        .open(PASSPHRASE.as_bytes())
        .unwrap();
    let chain_id = client.status().await.unwrap().chain_id;
    let mut signer = Signer::new(chain_id, authority.signing, 0);

    // (tx hash, height, state root at that height) for every tx seen final.
    let mut finals: Vec<(Hash, u64, Hash)> = Vec::new();
    for cycle in 0..cycles {
        signer.next_nonce = client.next_nonce(&signer.account).await.unwrap();
        let mut submitted = Vec::new();
        for _ in 0..rng.gen_range(3..12) {
            let to = AccountId(rng.gen());
            let tx = signer.sign(vec![actions::transfer(to, rng.gen_range(1..1_000))]);
            match client.submit(&tx).await {
                Ok(hash) => submitted.push(hash),
                Err(_) => break,
            }
        }
        // Kill at a random moment: in half the cycles only after the first
        // transaction is final (so there is always something to lose), in the
        // others possibly before anything is.
        if rng.gen_bool(0.5) {
            if let Some(first) = submitted.first() {
                let _ = client.wait_final(first, Duration::from_secs(10)).await;
            }
        }
        tokio::time::sleep(Duration::from_millis(rng.gen_range(0..400))).await;
        for hash in &submitted {
            if let Ok(status) = client.tx_status(hash).await {
                if status.status == TxState::Final {
                    let height = status.height.unwrap();
                    let header = client.header(height).await.unwrap();
                    finals.push((*hash, height, header.state_root));
                }
            }
        }
        node.kill().expect("SIGKILL the node");
        node.wait().unwrap();

        node = start_dev(&data, &keystore, http, p2p, PASSPHRASE);
        wait_up(&client).await;
        for (hash, height, root) in &finals {
            let status = client
                .tx_status(hash)
                .await
                .unwrap_or_else(|e| panic!("cycle {cycle}: final tx {hash} lost: {e}"));
            assert_eq!(
                status.status,
                TxState::Final,
                "cycle {cycle}: tx {hash} is no longer final"
            );
            assert_eq!(
                status.height,
                Some(*height),
                "cycle {cycle}: tx {hash} moved"
            );
            let header = client.header(*height).await.unwrap();
            assert_eq!(
                header.state_root, *root,
                "cycle {cycle}: state root at {height} changed"
            );
        }
    }
    // The chain still makes progress after all that.
    signer.next_nonce = client.next_nonce(&signer.account).await.unwrap();
    let outcome = client
        .submit_and_wait(&signer.sign(vec![actions::transfer(AccountId([1; 20]), 1)]))
        .await
        .unwrap();
    assert!(outcome.receipt.succeeded());
    node.kill().unwrap();
    node.wait().unwrap();
    assert!(
        finals.len() >= cycles / 2,
        "too few transactions were final before kills ({}) to prove anything",
        finals.len()
    );
    eprintln!(
        "crash safety: {cycles} kill -9 cycles, {} final transactions checked after every restart",
        finals.len()
    );
}
