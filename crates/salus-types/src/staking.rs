//! Wire types of the staking module: native tokens bonded for voting power,
//! delegation, and unbonding.
//!
//! An account's voting power is its own bonded tokens (unless it delegates
//! them) plus the bonded tokens of every account that delegates to it; a
//! delegate does not pass on what it receives. Every change of power is a
//! checkpoint `(height, power)`, so a proposal reads each voter's power at
//! its start height in O(log changes), never by scanning holders. Unbonding
//! tokens leave the voting power at once but stay in custody, slashable,
//! until their period ends.

use borsh::{BorshDeserialize, BorshSerialize};
use serde::{Deserialize, Serialize};

use crate::layout::key;
use crate::AccountId;

/// At most this many unbonding entries per account at once.
pub const MAX_UNBONDING_ENTRIES: usize = 16;
/// The longest unbonding period or history window, in blocks.
pub const MAX_STAKING_BLOCKS: u64 = 100_000_000;

#[derive(Debug, Clone, PartialEq, Eq, BorshSerialize, BorshDeserialize, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StakingParams {
    /// Blocks between an unbond and the withdrawal it allows.
    pub unbonding_blocks: u64,
    /// How far back voting power can be read: checkpoints older than this
    /// are pruned (the newest one before the window is kept).
    pub history_blocks: u64,
}

impl Default for StakingParams {
    fn default() -> Self {
        StakingParams {
            unbonding_blocks: 1_000,
            history_blocks: 100_000,
        }
    }
}

impl StakingParams {
    /// Why these parameters cannot run a network, if they cannot.
    pub fn problem(&self) -> Option<String> {
        let range = 1..=MAX_STAKING_BLOCKS;
        (!range.contains(&self.unbonding_blocks) || !range.contains(&self.history_blocks))
            .then(|| format!("staking periods are 1..={MAX_STAKING_BLOCKS} blocks"))
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StakingGenesis {
    #[serde(default)]
    pub params: StakingParams,
}

/// Tokens on their way out.
#[derive(Debug, Clone, PartialEq, Eq, BorshSerialize, BorshDeserialize, Serialize, Deserialize)]
pub struct Unbonding {
    #[serde(with = "crate::amount")]
    pub amount: u128,
    /// The height from which it may be withdrawn.
    pub release_height: u64,
}

/// An account's stake, as stored on chain.
#[derive(
    Debug, Clone, Default, PartialEq, Eq, BorshSerialize, BorshDeserialize, Serialize, Deserialize,
)]
pub struct Stake {
    #[serde(with = "crate::amount")]
    pub bonded: u128,
    /// Oldest first.
    pub unbonding: Vec<Unbonding>,
    /// Who votes with the bonded tokens; the account itself when `None`.
    pub delegate: Option<AccountId>,
}

/// An account's voting power (or the total bonded) from `height` on.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, BorshSerialize, BorshDeserialize, Serialize, Deserialize,
)]
pub struct Checkpoint {
    pub height: u64,
    #[serde(with = "crate::amount")]
    pub power: u128,
}

/// An account's own bonded tokens and its delegate from `height` on: what
/// a delegator brings back when it votes itself.
#[derive(Debug, Clone, PartialEq, Eq, BorshSerialize, BorshDeserialize, Serialize, Deserialize)]
pub struct OwnCheckpoint {
    pub height: u64,
    #[serde(with = "crate::amount")]
    pub bonded: u128,
    pub delegate: Option<AccountId>,
}

/// The value of `checkpoints` (sorted by height) at `height`: the last one
/// at or before it, or zero.
pub fn value_at(checkpoints: &[Checkpoint], height: u64) -> u128 {
    let after = checkpoints.partition_point(|c| c.height <= height);
    after.checked_sub(1).map_or(0, |i| checkpoints[i].power)
}

#[derive(Debug, Clone, PartialEq, Eq, BorshSerialize, BorshDeserialize, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum StakingAction {
    Bond {
        #[serde(with = "crate::amount")]
        amount: u128,
    },
    /// Takes `amount` out of the voting power now; withdrawable after the
    /// unbonding period.
    Unbond {
        #[serde(with = "crate::amount")]
        amount: u128,
    },
    /// Withdraws every unbonding entry whose period has ended.
    Withdraw,
    /// Lets `to` vote with the signer's bonded tokens (`None`: vote itself).
    Delegate { to: Option<AccountId> },
}

#[derive(Debug, Clone, PartialEq, Eq, BorshSerialize, BorshDeserialize, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum StakingEvent {
    Bonded {
        account: AccountId,
        #[serde(with = "crate::amount")]
        amount: u128,
    },
    Unbonding {
        account: AccountId,
        #[serde(with = "crate::amount")]
        amount: u128,
        release_height: u64,
    },
    Withdrawn {
        account: AccountId,
        #[serde(with = "crate::amount")]
        amount: u128,
    },
    Delegated {
        account: AccountId,
        from: Option<AccountId>,
        to: Option<AccountId>,
    },
}

impl StakingEvent {
    pub fn accounts(&self) -> Vec<AccountId> {
        match self {
            StakingEvent::Bonded { account, .. }
            | StakingEvent::Unbonding { account, .. }
            | StakingEvent::Withdrawn { account, .. } => vec![*account],
            StakingEvent::Delegated { account, from, to } => {
                let mut accounts = vec![*account];
                accounts.extend(from.iter().chain(to));
                accounts
            }
        }
    }
}

// Error codes: 1000..1099 (the registry's range for this module).

crate::error_codes! {
    NotEnoughBonded = 1001 => "not_enough_bonded",
    TooManyUnbondings = 1002 => "too_many_unbondings",
    NothingToWithdraw = 1003 => "nothing_to_withdraw",
    AlreadyDelegated = 1004 => "already_delegated",
}

// State layout: every key of this module starts with `PREFIX/`.

pub const PREFIX: &str = "staking";

pub fn params_key() -> Vec<u8> {
    key(PREFIX, "params", &[])
}

pub fn stake_key(account: &AccountId) -> Vec<u8> {
    key(PREFIX, "stake", &account.0)
}

/// An account's voting-power checkpoints, oldest first.
pub fn power_key(account: &AccountId) -> Vec<u8> {
    key(PREFIX, "power", &account.0)
}

/// An account's own bonded tokens and delegate, as checkpoints, oldest first.
pub fn own_key(account: &AccountId) -> Vec<u8> {
    key(PREFIX, "own", &account.0)
}

/// The total bonded's checkpoints, oldest first.
pub fn total_key() -> Vec<u8> {
    key(PREFIX, "total", &[])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_value_holds_from_its_checkpoint_on() {
        let checkpoints = [
            Checkpoint {
                height: 5,
                power: 10,
            },
            Checkpoint {
                height: 9,
                power: 3,
            },
        ];
        assert_eq!(value_at(&checkpoints, 4), 0);
        assert_eq!(value_at(&checkpoints, 5), 10);
        assert_eq!(value_at(&checkpoints, 8), 10);
        assert_eq!(value_at(&checkpoints, 9), 3);
        assert_eq!(value_at(&checkpoints, 1_000), 3);
        assert_eq!(value_at(&[], 7), 0);
    }
}
