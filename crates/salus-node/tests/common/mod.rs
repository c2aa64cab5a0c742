//! Helpers shared by the tests that run a node in-process.
#![allow(dead_code)]

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use salus_client::record_flow::Actor;
use salus_client::{actions, Client, Signer};
use salus_crypto::{AgreementSecret, SigningKey};
use salus_node::layout::dev::{dev_chain, DevChain};
use salus_node::{NodeConfig, SpawnedNode};
use salus_types::identity::Role;

pub use salus_types::clock::now_ms;

pub fn free_addr() -> SocketAddr {
    salus_node::layout::ports::free_loopback_addr().expect("a free loopback port")
}

/// A wall clock that tests can move forward.
#[derive(Clone, Default)]
pub struct TestClock(Arc<AtomicU64>);

impl TestClock {
    pub fn advance(&self, ms: u64) {
        self.0.fetch_add(ms, Ordering::SeqCst);
    }

    pub fn reset(&self) {
        self.0.store(0, Ordering::SeqCst);
    }

    pub fn clock(&self) -> salus_vault::Clock {
        let offset = self.0.clone();
        Arc::new(move || now_ms() + offset.load(Ordering::SeqCst))
    }
}

/// A single-validator node on a dev chain in `dir`; `tweak` may change its
/// configuration (genesis included) before it starts.
pub fn spawn_with(
    dir: &std::path::Path,
    tweak: impl FnOnce(&mut NodeConfig),
) -> (SpawnedNode, DevChain) {
    let chain = dev_chain(dir, b"node-test", None, now_ms()).unwrap();
    let mut config = NodeConfig::single_validator(
        dir.to_path_buf(),
        chain.genesis.clone(),
        chain.validator.clone(),
        free_addr(),
    );
    tweak(&mut config);
    let node = salus_node::spawn(config).unwrap();
    (node, chain)
}

pub fn spawn(dir: &std::path::Path) -> (SpawnedNode, Signer) {
    let (node, chain) = spawn_with(dir, |_| {});
    let signer = Signer::new(
        chain.genesis.chain_id.clone(),
        chain.authority.signing.clone(),
        0,
    );
    (node, signer)
}

/// A fresh party with its own keys.
pub fn actor(chain_id: &str) -> Actor {
    Actor {
        signer: Signer::new(chain_id, SigningKey::generate(), 0),
        agreement: AgreementSecret::generate(),
    }
}

/// Registers each party's DID, then has the authority attest the roles.
pub async fn enroll(
    client: &Client,
    authority: &mut Signer,
    parties: &mut [(&mut Actor, Option<Role>)],
) {
    for (party, _) in parties.iter_mut() {
        let tx = party.signer.sign(vec![actions::register_did(
            party.agreement.public_key(),
            vec![],
        )]);
        let outcome = client.submit_and_wait(&tx).await.unwrap();
        assert!(outcome.receipt.succeeded(), "{:?}", outcome.receipt);
    }
    for (party, role) in parties.iter() {
        if let Some(role) = role {
            let tx = authority.sign(vec![actions::attest_role(party.account(), *role)]);
            assert!(client
                .submit_and_wait(&tx)
                .await
                .unwrap()
                .receipt
                .succeeded());
        }
    }
}

#[allow(unused_imports)]
pub use salus_testkit::{contains, files_under, fixture};

/// The files a vault under `root` holds for `record`: its envelope objects,
/// and every pack that holds one of its versions.
pub fn record_files(
    root: &std::path::Path,
    record: &salus_types::records::RecordId,
) -> Vec<(std::path::PathBuf, Vec<u8>)> {
    let prefix = format!("{record}-");
    files_under(root)
        .into_iter()
        .filter(|(path, bytes)| {
            let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
            name.starts_with(&prefix) || (name.ends_with(".pack") && contains(bytes, &record.0))
        })
        .collect()
}

/// Flips one byte of a stored version's ciphertext in the pack that holds it,
/// as a disk fault or an intruder would. A pack entry is the record id (16
/// bytes), the version (4, little-endian), the anchored hash (32) and the
/// content's length (4), then the content.
pub fn tamper_with_version(
    root: &std::path::Path,
    record: &salus_types::records::RecordId,
    version: u32,
) {
    let mut entry = record.0.to_vec();
    entry.extend_from_slice(&version.to_le_bytes());
    let (path, mut bytes, at) = files_under(root)
        .into_iter()
        .find_map(|(path, bytes)| {
            let at = bytes.windows(entry.len()).position(|w| w == entry)?;
            Some((path, bytes, at))
        })
        .expect("the version is stored in a pack");
    bytes[at + 16 + 4 + 32 + 4 + 40] ^= 0x55;
    std::fs::write(&path, &bytes).unwrap();
}

/// A node on a dev chain whose vault runs on a clock the test moves, with a
/// client.
pub struct Scene {
    pub dir: tempfile::TempDir,
    pub node: SpawnedNode,
    pub client: Client,
    pub chain_id: String,
    pub time: TestClock,
}

impl Scene {
    /// Starts the node and enrolls four parties with the given roles.
    pub async fn start(roles: [Option<Role>; 4]) -> (Scene, [Actor; 4]) {
        let dir = tempfile::tempdir().unwrap();
        let time = TestClock::default();
        let (node, chain) = spawn_with(dir.path(), |config| config.vault_clock = time.clock());
        let client = Client::new(format!("http://{}", node.handle.http_addr));
        let chain_id = chain.genesis.chain_id.clone();
        let mut authority = Signer::new(chain_id.clone(), chain.authority.signing.clone(), 0);
        let mut parties = [0; 4].map(|_| actor(&chain_id));
        let [a, b, c, d] = &mut parties;
        let mut enrolled = [(a, roles[0]), (b, roles[1]), (c, roles[2]), (d, roles[3])];
        enroll(&client, &mut authority, &mut enrolled).await;
        let scene = Scene {
            dir,
            node,
            client,
            chain_id,
            time,
        };
        (scene, parties)
    }

    /// Record operations on the vault's clock.
    pub async fn flow(&self) -> salus_client::record_flow::RecordFlow<'_> {
        let mut flow = salus_client::record_flow::RecordFlow::connect(&self.client)
            .await
            .unwrap();
        flow.clock = self.time.clock();
        flow
    }
}

/// GETs `path` from the node `client` talks to, as raw JSON: for tests that
/// probe the wire format itself.
pub async fn get_json(client: &Client, path: &str) -> serde_json::Value {
    reqwest::get(format!("{}{path}", client.base()))
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}
