//! Helpers shared by the tests that run a node in-process.
#![allow(dead_code)]

use std::net::{SocketAddr, TcpListener};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use salus_client::record_flow::Actor;
use salus_client::{actions, Client, Signer};
use salus_crypto::{AgreementSecret, SigningKey};
use salus_node::config::{dev_chain, DevChain};
use salus_node::{NodeConfig, SpawnedNode};
use salus_types::identity::Role;

pub fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64
}

pub fn free_addr() -> SocketAddr {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
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

/// A FHIR fixture from `testdata/fhir`.
pub fn fixture(name: &str) -> Vec<u8> {
    let path = format!("{}/../../testdata/fhir/{name}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

/// Every file under `dir`, with its bytes.
pub fn files_under(dir: &std::path::Path) -> Vec<(std::path::PathBuf, Vec<u8>)> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(next) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&next) else {
            continue;
        };
        for entry in entries.flatten() {
            let path = entry.path();
            if path.is_dir() {
                stack.push(path);
            } else if let Ok(bytes) = std::fs::read(&path) {
                out.push((path, bytes));
            }
        }
    }
    out
}

/// Whether `needle` occurs in `haystack`.
pub fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

/// The files a vault under `root` holds for `record`.
pub fn record_files(
    root: &std::path::Path,
    record: &salus_types::records::RecordId,
) -> Vec<(std::path::PathBuf, Vec<u8>)> {
    let prefix = format!("{record}-");
    files_under(root)
        .into_iter()
        .filter(|(path, _)| {
            path.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with(&prefix))
        })
        .collect()
}
