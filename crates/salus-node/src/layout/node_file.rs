//! One validator's TOML file: where its data, genesis and key live and
//! where it listens. Relative paths are relative to the file's folder.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use salus_crypto::keystore::KeyDir;
use salus_types::epochs::address_problem;
use salus_types::Genesis;
use serde::{Deserialize, Serialize};

use super::ConfigError;
use crate::NodeConfig;

/// One node, as a TOML file. Relative paths are relative to the file's folder.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NodeFile {
    pub data_dir: PathBuf,
    pub genesis: PathBuf,
    /// The folder of encrypted key files, and this validator's key in it.
    pub keys: PathBuf,
    pub key: String,
    pub http: SocketAddr,
    pub p2p: SocketAddr,
    /// The most peers the node connects to (default 32); raise it for a
    /// network whose validator sets, with a pending one, are larger.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_peers: Option<usize>,
}

pub(super) fn io(path: &Path) -> impl FnOnce(std::io::Error) -> ConfigError + '_ {
    move |source| ConfigError::Io {
        path: path.display().to_string(),
        source,
    }
}

impl NodeFile {
    /// Reads a node file and builds the node's configuration, opening its key
    /// with `passphrase`.
    pub fn load(path: &Path, passphrase: &[u8]) -> Result<NodeConfig, ConfigError> {
        let base = path.parent().unwrap_or(Path::new("."));
        NodeFile::read(path)?.config(base, passphrase)
    }

    /// Reads a node file without opening its key.
    pub fn read(path: &Path) -> Result<NodeFile, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(io(path))?;
        toml::from_str(&text).map_err(|e| ConfigError::Invalid {
            path: path.display().to_string(),
            reason: e.message().to_owned(),
        })
    }

    fn config(self, base: &Path, passphrase: &[u8]) -> Result<NodeConfig, ConfigError> {
        let genesis_path = base.join(&self.genesis);
        let text = std::fs::read_to_string(&genesis_path).map_err(io(&genesis_path))?;
        let genesis = Genesis::from_json(&text).map_err(|e| ConfigError::Genesis {
            path: genesis_path.display().to_string(),
            reason: e.to_string(),
        })?;
        // Nodes dial the addresses the chain holds, from genesis's on: a
        // network of more than one validator needs every one of them.
        if genesis.validators.len() > 1 {
            if let Some(v) = genesis
                .validators
                .iter()
                .find(|v| address_problem(&v.address).is_some())
            {
                return Err(ConfigError::Genesis {
                    path: genesis_path.display().to_string(),
                    reason: format!("validator {} has no ip:port address", v.public_key),
                });
            }
        }
        let keys = KeyDir::new(base.join(&self.keys));
        let validator = keys
            .load(&self.key)?
            .open(passphrase)
            .map_err(salus_crypto::keystore::KeyDirError::from)?;
        let mut config = NodeConfig::single_validator(
            base.join(&self.data_dir),
            genesis,
            validator.signing,
            self.p2p,
        );
        config.http_listen = self.http;
        if let Some(max_peers) = self.max_peers {
            config.max_peers = max_peers;
        }
        Ok(config)
    }
}
