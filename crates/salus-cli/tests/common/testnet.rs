//! A local testnet of real `salus node` processes: starting, killing and
//! watching them.

use std::path::{Path, PathBuf};
use std::process::{Child, Command};
use std::time::{Duration, Instant};

use salus_client::{actions, Client, ClientError, Signer};
use salus_node::layout::ports::free_ports;
use salus_node::layout::testnet::{init_testnet, Testnet};
use salus_types::{AccountId, Hash};

pub const PASSPHRASE: &str = "testnet-test-passphrase";

/// Consecutive free ports for `nodes` nodes (p2p and HTTP each), laid out
/// as `init_testnet` does.
pub fn free_base_port(nodes: usize) -> u16 {
    free_ports(2 * nodes as u16).expect("free loopback ports")
}

/// Lays out a testnet of `validators` in `dir` on ports from `base`, as
/// `init_testnet` does, with the genesis time now.
pub fn lay_out(dir: &Path, validators: usize, base: u16) -> Testnet {
    init_testnet(
        dir,
        validators,
        base,
        PASSPHRASE.as_bytes(),
        salus_types::clock::now_ms(),
    )
    .unwrap()
}

pub struct Node {
    pub file: PathBuf,
    pub log: PathBuf,
    pub api: Client,
    pub child: Option<Child>,
}

impl Node {
    /// Node `i` of a testnet in `dir` whose ports start at `base`: its
    /// file is `dir/node-<i>.toml` and its log `dir/node-<i>.log`.
    pub fn new(dir: &Path, i: usize, base: u16) -> Node {
        Node {
            file: dir.join(format!("node-{i}.toml")),
            log: dir.join(format!("node-{i}.log")),
            api: Client::new(format!("http://127.0.0.1:{}", base + 2 * i as u16 + 1)),
            child: None,
        }
    }

    pub fn start(&mut self) {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.log)
            .unwrap();
        self.child = Some(
            Command::new(env!("CARGO_BIN_EXE_salus"))
                .arg("node")
                .arg("--config")
                .arg(&self.file)
                .env("SALUS_NODE_PASSPHRASE", PASSPHRASE)
                .env("SALUS_LOG", "info,commonware=warn")
                .stdout(log.try_clone().unwrap())
                .stderr(log)
                .spawn()
                .expect("salus node starts"),
        );
    }

    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            child.kill().unwrap();
            child.wait().unwrap();
        }
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        self.kill();
    }
}

pub async fn height(node: &Node) -> Option<u64> {
    node.api.status().await.ok().map(|status| status.height)
}

pub async fn wait_height(node: &Node, at_least: u64, within: Duration) {
    let deadline = Instant::now() + within;
    loop {
        if height(node).await.is_some_and(|h| h >= at_least) {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "{} did not reach height {at_least}",
            node.file.display()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Every running node's block at `at` has the same digest and state root.
/// Each node is first given time to finalize `at`: one node reporting a
/// height final says nothing about when its peers hear of it.
pub async fn agree(nodes: &[&Node], at: u64) -> Hash {
    let mut seen = None;
    for node in nodes {
        wait_height(node, at, Duration::from_secs(30)).await;
        let block = node.api.block(at).await.unwrap();
        let root = block.header.state_root.to_hex();
        let digest = block.digest.to_hex();
        match &seen {
            None => seen = Some((digest, root)),
            Some(first) => assert_eq!(first, &(digest, root), "validators disagree at height {at}"),
        }
    }
    Hash::from_hex(&seen.unwrap().1).unwrap()
}

pub async fn transfer(via: &Node, signer: &mut Signer, amount: u128) -> Hash {
    let tx = signer.sign(vec![actions::transfer(AccountId([9; 20]), amount)]);
    via.api.submit(&tx).await.unwrap()
}

/// The height `hash` became final at, or `None` if it did not within
/// `within`. Any other error fails the test: a refused request proves nothing
/// about finality.
pub async fn final_height(node: &Node, hash: &Hash, within: Duration) -> Option<u64> {
    match node.api.wait_final(hash, within).await {
        Ok(outcome) => Some(outcome.height),
        Err(ClientError::Timeout(..)) => None,
        Err(error) => panic!("{}: {error}", node.file.display()),
    }
}
