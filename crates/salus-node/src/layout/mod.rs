//! How nodes are laid out on disk: the dev chain ([`dev`]), a validator's
//! node file ([`node_file`]), a local testnet ([`testnet`]) and the loopback
//! ports they listen on ([`ports`]).

pub mod dev;
pub mod node_file;
pub mod ports;
pub mod testnet;

use salus_crypto::keystore::KeyDirError;

/// Why a layout cannot be read or written.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error(transparent)]
    Keys(#[from] KeyDirError),
    #[error("cannot read or write {path}")]
    Io {
        path: String,
        source: std::io::Error,
    },
    #[error("genesis file {path} is invalid: {reason}")]
    Genesis { path: String, reason: String },
    #[error("{path}: {reason}")]
    Invalid { path: String, reason: String },
}

/// Epochs on a dev chain or a local testnet: short enough that a run of a
/// minute or two crosses a boundary, where consensus starts a new instance.
pub fn quick_epochs() -> salus_types::epochs::EpochsGenesis {
    salus_types::epochs::EpochsGenesis { epoch_blocks: 100 }
}

/// Governance on a dev chain or a local testnet: votes and timelocks that
/// last seconds, not hours, so a demo or a trial can see them through.
pub fn quick_governance() -> salus_types::governance::GovernanceGenesis {
    salus_types::governance::GovernanceGenesis {
        params: salus_types::governance::GovernanceParams {
            min_deposit: 10_000,
            voting_blocks: 20,
            timelock_blocks: 10,
            ..Default::default()
        },
    }
}
