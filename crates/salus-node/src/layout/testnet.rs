//! A local testnet laid out in one folder (genesis, encrypted keys, one node
//! file per validator), and one whose nodes all run in this process.

use super::quick_governance;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use salus_crypto::keystore::{KdfParams, KeyDir, KeyFile, KeyPair};
use salus_types::audit::{AuditGenesis, VaultOperator};
use salus_types::identity::{IdentityGenesis, Role, RoleAuthority};
use salus_types::token::{Allocation, TokenGenesis};
use salus_types::{AccountId, Genesis, GenesisValidator};

use super::node_file::{io, NodeFile};
use super::ports::free_ports;
use super::ConfigError;
use crate::NodeConfig;

pub const TESTNET_CHAIN_ID: &str = "salus-testnet";
/// The testnet authority's key name and initial balance.
pub const TESTNET_AUTHORITY: &str = "testnet-authority";
pub const TESTNET_AUTHORITY_FUNDS: u128 = 1_000_000_000_000_000;
/// The most validators `init_testnet` lays out.
pub const MAX_TESTNET_VALIDATORS: usize = 64;

/// A testnet laid out by [`init_testnet`].
pub struct Testnet {
    pub genesis: Genesis,
    /// One node file per validator, in genesis order.
    pub node_files: Vec<PathBuf>,
    pub authority: KeyPair,
}

/// Lays out a local testnet of `validators` nodes in `dir`: encrypted keys in
/// `dir/keys`, `dir/genesis.json` (every validator also runs a vault), and
/// `dir/node-<i>.toml`. Node `i` listens for p2p on `base_port + 2i` and for
/// HTTP on `base_port + 2i + 1`, on loopback.
pub fn init_testnet(
    dir: &Path,
    validators: usize,
    base_port: u16,
    passphrase: &[u8],
    genesis_time_ms: u64,
) -> Result<Testnet, ConfigError> {
    init_testnet_with(
        dir,
        validators,
        base_port,
        passphrase,
        genesis_time_ms,
        Vec::new(),
    )
}

/// [`init_testnet`], with more genesis allocations (benchmarks fund senders).
pub fn init_testnet_with(
    dir: &Path,
    validators: usize,
    base_port: u16,
    passphrase: &[u8],
    genesis_time_ms: u64,
    extra: Vec<Allocation>,
) -> Result<Testnet, ConfigError> {
    if validators == 0 || validators > MAX_TESTNET_VALIDATORS {
        return Err(ConfigError::Invalid {
            path: dir.display().to_string(),
            reason: format!("a testnet has 1..={MAX_TESTNET_VALIDATORS} validators"),
        });
    }
    let last_port = u32::from(base_port) + 2 * validators as u32;
    if base_port < 1024 || last_port > u32::from(u16::MAX) {
        return Err(ConfigError::Invalid {
            path: dir.display().to_string(),
            reason: format!("ports {base_port}..{last_port} are not all usable"),
        });
    }
    let genesis_path = dir.join("genesis.json");
    if genesis_path.exists() {
        return Err(ConfigError::Invalid {
            path: genesis_path.display().to_string(),
            reason: "a testnet is already laid out here".into(),
        });
    }
    std::fs::create_dir_all(dir).map_err(io(dir))?;
    let authority = KeyPair::generate();
    seal(dir, TESTNET_AUTHORITY, &authority, passphrase)?;
    let authority_id = AccountId::from_public_key(&authority.signing.public_key());
    let port = |i: usize, offset: u16| base_port + 2 * i as u16 + offset;
    let mut members = Vec::with_capacity(validators);
    let mut node_files = Vec::with_capacity(validators);
    for i in 0..validators {
        let p2p = SocketAddr::from(([127, 0, 0, 1], port(i, 0)));
        let http = SocketAddr::from(([127, 0, 0, 1], port(i, 1)));
        let (path, pair) = add_node(dir, i, p2p, http, passphrase)?;
        members.push((pair.signing.public_key(), p2p, http));
        node_files.push(path);
    }
    let genesis = Genesis {
        chain_id: TESTNET_CHAIN_ID.into(),
        genesis_time_ms,
        validators: members
            .iter()
            .map(|(key, p2p, _)| GenesisValidator {
                public_key: *key,
                address: p2p.to_string(),
            })
            .collect(),
        identity: IdentityGenesis {
            authorities: vec![RoleAuthority {
                account: authority_id,
                roles: Role::ALL.to_vec(),
            }],
        },
        token: TokenGenesis {
            denom: "usal".into(),
            allocations: std::iter::once(Allocation {
                account: authority_id,
                amount: TESTNET_AUTHORITY_FUNDS,
            })
            .chain(extra)
            .collect(),
        },
        audit: AuditGenesis {
            vaults: members
                .iter()
                .map(|(key, _, http)| VaultOperator {
                    account: AccountId::from_public_key(key),
                    endpoint: format!("http://{http}"),
                })
                .collect(),
        },
        oracle: Default::default(),
        insurance: Default::default(),
        staking: Default::default(),
        epochs: super::quick_epochs(),
        governance: quick_governance(),
    };
    std::fs::write(&genesis_path, genesis.to_json()).map_err(io(&genesis_path))?;
    Ok(Testnet {
        genesis,
        node_files,
        authority,
    })
}

/// Lays out node `index` of the testnet in `dir`: a new key, sealed in
/// `dir/keys` as `validator-<index>`, and `dir/node-<index>.toml`, which
/// listens on `p2p` and `http`. Returns the file and the key. A node laid
/// out after genesis starts as a follower, and signs from the epoch after
/// governance adds its key.
pub fn add_node(
    dir: &Path,
    index: usize,
    p2p: SocketAddr,
    http: SocketAddr,
    passphrase: &[u8],
) -> Result<(PathBuf, KeyPair), ConfigError> {
    let path = dir.join(format!("node-{index}.toml"));
    if path.exists() {
        return Err(ConfigError::Invalid {
            path: path.display().to_string(),
            reason: "a node is already laid out here".into(),
        });
    }
    let pair = KeyPair::generate();
    let name = format!("validator-{index}");
    seal(dir, &name, &pair, passphrase)?;
    let file = NodeFile {
        data_dir: PathBuf::from(format!("node-{index}")),
        genesis: PathBuf::from("genesis.json"),
        keys: PathBuf::from("keys"),
        key: name,
        http,
        p2p,
        max_peers: None,
    };
    let text = toml::to_string(&file).map_err(|e| ConfigError::Invalid {
        path: path.display().to_string(),
        reason: e.to_string(),
    })?;
    std::fs::write(&path, text).map_err(io(&path))?;
    Ok((path, pair))
}

fn seal(dir: &Path, name: &str, pair: &KeyPair, passphrase: &[u8]) -> Result<(), ConfigError> {
    let file = KeyFile::seal(name, pair, passphrase, KdfParams::RECOMMENDED)
        .map_err(salus_crypto::keystore::KeyDirError::from)?;
    Ok(KeyDir::new(dir.join("keys")).save(&file)?)
}

/// A laid-out testnet whose nodes all run in this process.
pub struct LocalTestnet {
    pub testnet: Testnet,
    pub nodes: Vec<crate::SpawnedNode>,
}

/// The key files of a [`LocalTestnet`] are sealed with this.
const LOCAL_PASSPHRASE: &[u8] = b"salus-local-testnet";

impl LocalTestnet {
    /// Lays out `validators` nodes in `dir` and starts each on its own thread.
    pub fn start(
        dir: &Path,
        validators: usize,
        genesis_time_ms: u64,
        extra: Vec<Allocation>,
        tweak: impl Fn(&mut NodeConfig),
    ) -> Result<LocalTestnet, crate::NodeError> {
        let base = free_ports(2 * validators as u16).map_err(crate::NodeError::Config)?;
        let testnet = init_testnet_with(
            dir,
            validators,
            base,
            LOCAL_PASSPHRASE,
            genesis_time_ms,
            extra,
        )
        .map_err(crate::NodeError::Config)?;
        let mut nodes = Vec::with_capacity(validators);
        for file in &testnet.node_files {
            let mut config =
                NodeFile::load(file, LOCAL_PASSPHRASE).map_err(crate::NodeError::Config)?;
            tweak(&mut config);
            nodes.push(crate::spawn(config)?);
        }
        Ok(LocalTestnet { testnet, nodes })
    }

    /// Lays out and starts one more node in `dir` (the testnet's folder),
    /// on free ports: genesis does not name it, so it follows until
    /// governance adds its key. Returns its key and p2p address; it is the
    /// last of [`LocalTestnet::nodes`].
    pub fn add_node(
        &mut self,
        dir: &Path,
    ) -> Result<(salus_types::PublicKey, SocketAddr), crate::NodeError> {
        let base = free_ports(2).map_err(crate::NodeError::Config)?;
        let loopback = |port: u16| SocketAddr::from(([127, 0, 0, 1], port));
        let (file, pair) = add_node(
            dir,
            self.nodes.len(),
            loopback(base),
            loopback(base + 1),
            LOCAL_PASSPHRASE,
        )
        .map_err(crate::NodeError::Config)?;
        let config = NodeFile::load(&file, LOCAL_PASSPHRASE).map_err(crate::NodeError::Config)?;
        self.nodes.push(crate::spawn(config)?);
        Ok((pair.signing.public_key(), loopback(base)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_laid_out_testnet_loads_node_by_node() {
        let dir = tempfile::tempdir().unwrap();
        let net = init_testnet(dir.path(), 4, 40_000, b"pw", 1_700_000_000_000).unwrap();
        assert_eq!(net.genesis.validators.len(), 4);
        assert_eq!(net.genesis.audit.vaults.len(), 4);
        for (i, path) in net.node_files.iter().enumerate() {
            let config = NodeFile::load(path, b"pw").unwrap();
            assert_eq!(config.genesis, net.genesis);
            assert_eq!(
                config.validator_key.public_key(),
                net.genesis.validators[i].public_key
            );
            assert_eq!(config.p2p_listen.port(), 40_000 + 2 * i as u16);
            assert_eq!(config.http_listen.port(), 40_000 + 2 * i as u16 + 1);
            assert_eq!(config.data_dir, dir.path().join(format!("node-{i}")));
        }
        assert!(matches!(
            NodeFile::load(&net.node_files[0], b"wrong"),
            Err(ConfigError::Keys(_))
        ));
        assert!(
            init_testnet(dir.path(), 4, 40_000, b"pw", 0).is_err(),
            "never overwrites"
        );
        let other = tempfile::tempdir().unwrap();
        assert!(init_testnet(other.path(), 0, 40_000, b"pw", 0).is_err());
        assert!(init_testnet(other.path(), 4, 65_530, b"pw", 0).is_err());
        std::fs::write(other.path().join("bad.toml"), "data_dir = 3").unwrap();
        assert!(matches!(
            NodeFile::load(&other.path().join("bad.toml"), b"pw"),
            Err(ConfigError::Invalid { .. })
        ));
    }
}
