//! Wire types of the epochs module: the chain in epochs of a fixed number of
//! blocks, and the validator set of each epoch.
//!
//! Epoch `e` holds heights `e·L ..= (e+1)·L − 1` for the genesis length `L`
//! (epoch 0 includes genesis), the same arithmetic as commonware's
//! `FixedEpocher`. The last block of epoch `e` writes the set of epoch
//! `e + 1` (see [`set_key`]); consensus starts that epoch's simplex instance
//! over it, and clients learn it by a state proof against that block, which
//! epoch `e`'s set certified. `L` is fixed at genesis: a height's epoch must
//! never change, or old certificates would name the wrong set.

use borsh::{BorshDeserialize, BorshSerialize};
use serde::{Deserialize, Serialize};

use crate::layout::key;
use crate::{AccountId, PublicKey};

/// The shortest epoch: commonware's epocher needs two heights at least.
pub const MIN_EPOCH_BLOCKS: u64 = 2;
/// The longest epoch.
pub const MAX_EPOCH_BLOCKS: u64 = 1 << 40;
/// The most validators one epoch may have (salus-finality's bound too).
pub const MAX_VALIDATORS: usize = 1_024;
/// The longest p2p address, `host:port`.
pub const MAX_ADDRESS_LEN: usize = 255;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EpochsGenesis {
    /// Blocks per epoch.
    pub epoch_blocks: u64,
}

impl Default for EpochsGenesis {
    fn default() -> Self {
        EpochsGenesis {
            epoch_blocks: 10_000,
        }
    }
}

impl EpochsGenesis {
    /// Why this epoch length cannot run a network, if it cannot.
    pub fn problem(&self) -> Option<String> {
        (!(MIN_EPOCH_BLOCKS..=MAX_EPOCH_BLOCKS).contains(&self.epoch_blocks))
            .then(|| format!("an epoch is {MIN_EPOCH_BLOCKS}..={MAX_EPOCH_BLOCKS} blocks"))
    }
}

/// The epoch that holds `height`.
pub fn epoch_of(height: u64, epoch_blocks: u64) -> u64 {
    height / epoch_blocks
}

/// The last height of `epoch`; `None` past the end of time.
pub fn last_height(epoch: u64, epoch_blocks: u64) -> Option<u64> {
    epoch
        .checked_add(1)?
        .checked_mul(epoch_blocks)?
        .checked_sub(1)
}

/// Whether `height` ends its epoch.
pub fn ends_epoch(height: u64, epoch_blocks: u64) -> bool {
    height % epoch_blocks == epoch_blocks - 1
}

/// One validator of an epoch.
#[derive(
    Debug,
    Clone,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    BorshSerialize,
    BorshDeserialize,
    Serialize,
    Deserialize,
)]
pub struct Validator {
    /// Its consensus (ed25519) key.
    pub key: PublicKey,
    /// `host:port` of its p2p listener; empty where peers are configured
    /// locally (a dev chain).
    pub address: String,
}

impl From<&crate::GenesisValidator> for Validator {
    fn from(genesis: &crate::GenesisValidator) -> Validator {
        Validator {
            key: genesis.public_key,
            address: genesis.address.clone(),
        }
    }
}

impl Validator {
    /// The account a validator signs transactions with: its key's.
    pub fn account(&self) -> AccountId {
        AccountId::from_public_key(&self.key)
    }
}

#[derive(Debug, Clone, PartialEq, Eq, BorshSerialize, BorshDeserialize, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum EpochsAction {
    /// A validator of the next epoch announces where its p2p listener is;
    /// the address lands in that epoch's set, where every node reads it and
    /// dials it.
    SetAddress { address: String },
}

#[derive(Debug, Clone, PartialEq, Eq, BorshSerialize, BorshDeserialize, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum EpochsEvent {
    /// The last block of an epoch fixed the next epoch's set.
    NextSet { epoch: u64, validators: u32 },
    /// A validator moved its p2p listener, from `epoch` on.
    AddressSet { validator: AccountId, epoch: u64 },
    /// Governance added a validator, from `epoch` on.
    ValidatorAdded { validator: AccountId, epoch: u64 },
    /// Governance removed a validator, from `epoch` on.
    ValidatorRemoved { validator: AccountId, epoch: u64 },
    /// Governance moved a validator to a new key, from `epoch` on.
    ValidatorRekeyed {
        validator: AccountId,
        new_account: AccountId,
        epoch: u64,
    },
}

impl EpochsEvent {
    pub fn accounts(&self) -> Vec<AccountId> {
        match self {
            EpochsEvent::NextSet { .. } => vec![],
            EpochsEvent::AddressSet { validator, .. }
            | EpochsEvent::ValidatorAdded { validator, .. }
            | EpochsEvent::ValidatorRemoved { validator, .. } => vec![*validator],
            EpochsEvent::ValidatorRekeyed {
                validator,
                new_account,
                ..
            } => vec![*validator, *new_account],
        }
    }
}

// Error codes: 1200..1299 (the registry's range for this module).

crate::error_codes! {
    NotAValidator = 1201 => "not_a_validator",
    BadAddress = 1202 => "bad_address",
    AlreadyAValidator = 1203 => "already_a_validator",
    LastValidator = 1204 => "last_validator",
    ValidatorSetFull = 1205 => "validator_set_full",
}

// State layout: every key of this module starts with `PREFIX/`.

pub const PREFIX: &str = "epochs";

/// Blocks per epoch, from genesis.
pub fn length_key() -> Vec<u8> {
    key(PREFIX, "length", &[])
}

/// The validator set of epoch `epoch` (sorted by key), written by the last
/// block of the epoch before.
pub fn set_key(epoch: u64) -> Vec<u8> {
    key(PREFIX, "set", &epoch.to_be_bytes())
}

/// The set the current epoch's last block will fix for the next, while a
/// change to it is pending.
pub fn next_key() -> Vec<u8> {
    key(PREFIX, "next", &[])
}

/// Why `address` cannot be dialled, if it cannot: nodes dial exactly what
/// the chain says, so it is an IP address and a port (a name would need a
/// resolver every node agrees with, and an IP that each node checks the
/// peer's connections against).
pub fn address_problem(address: &str) -> Option<&'static str> {
    if address.len() > MAX_ADDRESS_LEN {
        return Some("an address is at most 255 characters");
    }
    match address.parse::<std::net::SocketAddr>() {
        Ok(addr) if addr.port() != 0 => None,
        _ => Some("an address is ip:port, with a port of 1..=65535"),
    }
}
