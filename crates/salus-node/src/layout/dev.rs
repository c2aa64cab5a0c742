//! The single-validator dev chain, created on first start in the data
//! directory and reused on every restart.

use super::quick_governance;
use std::path::Path;

use salus_consensus::engine::Timing;
use salus_crypto::keystore::{KdfParams, KeyDir, KeyDirError, KeyFile, KeyPair};

use super::ConfigError;
use salus_crypto::SigningKey;
use salus_types::audit::{AuditGenesis, VaultOperator};
use salus_types::identity::{IdentityGenesis, Role, RoleAuthority};
use salus_types::token::{Allocation, TokenGenesis};
use salus_types::{AccountId, Genesis, GenesisValidator};
use std::time::Duration;

pub const DEV_CHAIN_ID: &str = "salus-dev";
/// The passphrase of a dev chain's keys when no other is given: for dev
/// chains, the demo and benchmarks only.
pub const DEV_PASSPHRASE: &str = "salus-dev-insecure";
/// The dev authority's initial balance, in base units.
pub const DEV_AUTHORITY_FUNDS: u128 = 1_000_000_000_000_000;
const VALIDATOR_KEY: &str = "validator";
const AUTHORITY_KEY: &str = "dev-authority";

/// A dev chain's genesis and the keys that run it.
pub struct DevChain {
    pub genesis: Genesis,
    pub validator: SigningKey,
    /// The genesis authority (attests every role) that holds the dev funds.
    pub authority: KeyPair,
}

/// The genesis of a single-validator dev chain.
pub fn dev_genesis(
    validator: &SigningKey,
    authority: &AccountId,
    genesis_time_ms: u64,
    extra: Vec<Allocation>,
) -> Genesis {
    let mut allocations = vec![Allocation {
        account: *authority,
        amount: DEV_AUTHORITY_FUNDS,
    }];
    allocations.extend(extra);
    Genesis {
        chain_id: DEV_CHAIN_ID.into(),
        genesis_time_ms,
        validators: vec![GenesisValidator {
            public_key: validator.public_key(),
            address: String::new(),
        }],
        identity: IdentityGenesis {
            authorities: vec![RoleAuthority {
                account: *authority,
                roles: Role::ALL.to_vec(),
            }],
        },
        token: TokenGenesis {
            denom: "usal".into(),
            allocations,
        },
        // The validator runs the chain's one vault; with no peers it needs no
        // replication endpoint.
        audit: AuditGenesis {
            vaults: vec![VaultOperator {
                account: AccountId::from_public_key(&validator.public_key()),
                endpoint: String::new(),
            }],
        },
        oracle: Default::default(),
        insurance: Default::default(),
        staking: Default::default(),
        epochs: super::quick_epochs(),
        governance: quick_governance(),
    }
}

/// Loads the dev chain in `data_dir`, creating it on first use. Keys are stored
/// encrypted under `passphrase`; the dev authority key is also written to
/// `wallet` (if given) so the CLI can sign with it.
pub fn dev_chain(
    data_dir: &Path,
    passphrase: &[u8],
    wallet: Option<&KeyDir>,
    now_ms: u64,
) -> Result<DevChain, ConfigError> {
    let keys = KeyDir::new(data_dir.join("keys"));
    let validator = load_or_create(&keys, VALIDATOR_KEY, passphrase)?;
    let authority = load_or_create(&keys, AUTHORITY_KEY, passphrase)?;
    if let Some(wallet) = wallet {
        if !wallet.exists(AUTHORITY_KEY) {
            wallet.save(
                &KeyFile::seal(
                    AUTHORITY_KEY,
                    &authority,
                    passphrase,
                    KdfParams::RECOMMENDED,
                )
                .map_err(KeyDirError::from)?,
            )?;
        }
    }
    let genesis_path = data_dir.join("genesis.json");
    let io = |source| ConfigError::Io {
        path: genesis_path.display().to_string(),
        source,
    };
    let genesis = if genesis_path.exists() {
        let text = std::fs::read_to_string(&genesis_path).map_err(io)?;
        Genesis::from_json(&text).map_err(|e| ConfigError::Genesis {
            path: genesis_path.display().to_string(),
            reason: e.to_string(),
        })?
    } else {
        let authority_id = AccountId::from_public_key(&authority.signing.public_key());
        let genesis = dev_genesis(&validator.signing, &authority_id, now_ms, Vec::new());
        std::fs::write(&genesis_path, genesis.to_json()).map_err(io)?;
        genesis
    };
    Ok(DevChain {
        genesis,
        validator: validator.signing,
        authority,
    })
}

fn load_or_create(keys: &KeyDir, name: &str, passphrase: &[u8]) -> Result<KeyPair, ConfigError> {
    if keys.exists(name) {
        return Ok(keys
            .load(name)?
            .open(passphrase)
            .map_err(KeyDirError::from)?);
    }
    let pair = KeyPair::generate();
    keys.save(
        &KeyFile::seal(name, &pair, passphrase, KdfParams::RECOMMENDED)
            .map_err(KeyDirError::from)?,
    )?;
    Ok(pair)
}

/// Consensus timing for validators on one machine or a LAN.
pub fn dev_timing() -> Timing {
    Timing {
        leader_timeout: Duration::from_millis(500),
        certification_timeout: Duration::from_millis(1000),
        timeout_retry: Duration::from_millis(2000),
        skip_timeout: Duration::from_millis(4000),
        fetch_timeout: Duration::from_millis(1000),
        empty_block_delay: Duration::from_millis(150),
    }
}
