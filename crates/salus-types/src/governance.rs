//! Wire types of the governance module: proposals that token holders vote
//! on with their staked power, and that execute themselves after a
//! timelock.
//!
//! A proposal's weights are the voters' power at its start height (staking
//! checkpoints), so tokens bought or bonded later buy nothing. Each vote
//! updates the proposal's running totals, so the tally at the end costs one
//! read, whatever the number of holders. One account's weight is capped at a
//! share of the total bonded.

use borsh::{BorshDeserialize, BorshSerialize};
use serde::{Deserialize, Serialize};

use crate::credentials::RoleRule;
use crate::identity::Role;
use crate::insurance::InsuranceParams;
use crate::layout::key;
use crate::oracle::OracleParams;
use crate::staking::StakingParams;
use crate::{AccountId, PublicKey};

/// The longest proposal title.
pub const MAX_TITLE: usize = 140;
/// The longest voting period or timelock, in blocks.
pub const MAX_GOVERNANCE_BLOCKS: u64 = 10_000_000;
const BPS: u32 = 10_000;

#[derive(Debug, Clone, PartialEq, Eq, BorshSerialize, BorshDeserialize, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GovernanceParams {
    /// What opening a proposal deposits (refunded unless vetoed).
    #[serde(with = "crate::amount")]
    pub min_deposit: u128,
    pub voting_blocks: u64,
    pub timelock_blocks: u64,
    /// Turnout (every vote, abstentions too) ≥ this share of the total bonded.
    pub quorum_bps: u32,
    /// Yes > this share of yes + no + veto.
    pub threshold_bps: u32,
    /// Veto < this share of all votes.
    pub veto_bps: u32,
    /// One account's weight is at most this share of the total bonded.
    pub cap_bps: u32,
}

impl Default for GovernanceParams {
    fn default() -> Self {
        GovernanceParams {
            min_deposit: 10_000,
            voting_blocks: 600,
            timelock_blocks: 60,
            quorum_bps: 3_340,
            threshold_bps: 5_000,
            veto_bps: 3_340,
            cap_bps: 500,
        }
    }
}

impl GovernanceParams {
    /// Why these parameters cannot govern, if they cannot.
    pub fn problem(&self) -> Option<String> {
        let periods = 1..=MAX_GOVERNANCE_BLOCKS;
        if !periods.contains(&self.voting_blocks) || self.timelock_blocks > MAX_GOVERNANCE_BLOCKS {
            return Some(format!(
                "voting lasts 1..={MAX_GOVERNANCE_BLOCKS} blocks and a timelock at most as long"
            ));
        }
        let shares = [
            self.quorum_bps,
            self.threshold_bps,
            self.veto_bps,
            self.cap_bps,
        ];
        if shares.iter().any(|s| *s == 0 || *s > BPS) {
            return Some("quorum, threshold, veto and cap are 1..=10000 basis points".into());
        }
        if self.min_deposit == 0 {
            return Some("min_deposit must be positive".into());
        }
        None
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GovernanceGenesis {
    #[serde(default)]
    pub params: GovernanceParams,
}

/// New parameters for one module, checked against its bounds when proposed
/// and again when executed.
#[derive(Debug, Clone, PartialEq, Eq, BorshSerialize, BorshDeserialize, Serialize, Deserialize)]
#[serde(tag = "module", content = "params", rename_all = "snake_case")]
pub enum ParamChange {
    Oracle(OracleParams),
    Insurance(InsuranceParams),
    Staking(StakingParams),
    Governance(GovernanceParams),
}

impl ParamChange {
    /// Why the new parameters are out of bounds, if they are.
    pub fn problem(&self) -> Option<String> {
        match self {
            ParamChange::Oracle(params) => params.problem(),
            ParamChange::Insurance(params) => params.problem(),
            ParamChange::Staking(params) => params.problem(),
            ParamChange::Governance(params) => params.problem(),
        }
    }
}

/// What a proposal does when it executes. Its shape is checked when it is
/// proposed ([`Change::problem`]); whether it still applies to the state
/// (the treasury holds enough, the subject still holds the role) is decided
/// when its timelock ends, and a change that no longer applies fails whole,
/// with its reason in the events.
#[derive(Debug, Clone, PartialEq, Eq, BorshSerialize, BorshDeserialize, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Change {
    /// New parameters for one module.
    Params(ParamChange),
    /// Pays `amount` from the treasury to `to` (a grant, e.g. a study's
    /// funding).
    Spend {
        to: AccountId,
        #[serde(with = "crate::amount")]
        amount: u128,
    },
    /// Adds `amount` from the treasury to an insurance pool's capital,
    /// without shares: every provider's shares gain value.
    FundPool {
        pool: u64,
        #[serde(with = "crate::amount")]
        amount: u128,
    },
    /// The network attests `role` for `subject`.
    AttestRole { subject: AccountId, role: Role },
    /// The network withdraws `role` from `subject`, whoever attested it.
    RevokeRole { subject: AccountId, role: Role },
    /// Makes `account` an authority for exactly `roles` (none removes it).
    SetAuthority {
        account: AccountId,
        roles: Vec<Role>,
    },
    /// Takes `oracle` out of the committee draw (open questions keep it).
    BarOracle { oracle: AccountId },
    /// Returns a barred oracle to the draw (if its bond still qualifies).
    AdmitOracle { oracle: AccountId },
    /// Sets which credential earns a role, as an authority for it would.
    SetRoleRule { rule: RoleRule },
    /// Adds a validator, listening at `address`, from the next epoch on.
    AddValidator { key: PublicKey, address: String },
    /// Takes a validator out of the set from the next epoch on.
    RemoveValidator { key: PublicKey },
    /// Moves a validator to `new_key` from the next epoch on (its address
    /// stays), for a key that is old or may have leaked.
    RekeyValidator { key: PublicKey, new_key: PublicKey },
}

impl Change {
    /// Why this change is malformed, if it is: what no state could fix.
    pub fn problem(&self) -> Option<String> {
        match self {
            Change::Params(change) => change.problem(),
            Change::Spend { amount, .. } | Change::FundPool { amount, .. } if *amount == 0 => {
                Some("a grant moves a positive amount".into())
            }
            Change::SetAuthority { roles, .. } => {
                let mut sorted = roles.clone();
                sorted.sort();
                sorted.dedup();
                (sorted.len() != roles.len()).then(|| "an authority's roles are distinct".into())
            }
            Change::AddValidator { key, address } => {
                if !key.is_strong() {
                    Some(
                        "a validator's key is a valid ed25519 public key, not of small order"
                            .into(),
                    )
                } else {
                    crate::epochs::address_problem(address).map(str::to_owned)
                }
            }
            Change::RekeyValidator { key, new_key } if key == new_key => {
                Some("a new key differs from the old".into())
            }
            Change::RekeyValidator { new_key, .. } if !new_key.is_strong() => {
                Some("a validator's key is a valid ed25519 public key, not of small order".into())
            }
            _ => None,
        }
    }
}

crate::named_enum! {
    VoteOption, "vote option" {
        Yes = 0 => "yes",
        No = 1 => "no",
        Abstain = 2 => "abstain",
        Veto = 3 => "veto",
    }
}

/// Running totals, by option.
#[derive(
    Debug, Clone, Default, PartialEq, Eq, BorshSerialize, BorshDeserialize, Serialize, Deserialize,
)]
pub struct Tally {
    #[serde(with = "crate::amount")]
    pub yes: u128,
    #[serde(with = "crate::amount")]
    pub no: u128,
    #[serde(with = "crate::amount")]
    pub abstain: u128,
    #[serde(with = "crate::amount")]
    pub veto: u128,
}

impl Tally {
    pub fn of(&mut self, option: VoteOption) -> &mut u128 {
        match option {
            VoteOption::Yes => &mut self.yes,
            VoteOption::No => &mut self.no,
            VoteOption::Abstain => &mut self.abstain,
            VoteOption::Veto => &mut self.veto,
        }
    }

    pub fn turnout(&self) -> u128 {
        self.yes
            .saturating_add(self.no)
            .saturating_add(self.abstain)
            .saturating_add(self.veto)
    }

    /// The outcome under `params` with `bonded` the total bonded at the start.
    pub fn outcome(&self, params: &GovernanceParams, bonded: u128) -> Outcome {
        // Saturating: only a supply near u128::MAX could reach the bound.
        let share = |part: u128, whole: u128, bps: u32| {
            part.saturating_mul(u128::from(BPS)) >= whole.saturating_mul(u128::from(bps))
        };
        let turnout = self.turnout();
        if bonded == 0 || !share(turnout, bonded, params.quorum_bps) {
            return Outcome::NoQuorum;
        }
        if turnout > 0 && share(self.veto, turnout, params.veto_bps) {
            return Outcome::Vetoed;
        }
        let deciding = self.yes.saturating_add(self.no).saturating_add(self.veto);
        if deciding > 0
            && self.yes.saturating_mul(u128::from(BPS))
                > deciding.saturating_mul(u128::from(params.threshold_bps))
        {
            Outcome::Passed
        } else {
            Outcome::Rejected
        }
    }
}

#[derive(
    Debug, Clone, Copy, PartialEq, Eq, BorshSerialize, BorshDeserialize, Serialize, Deserialize,
)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    Passed,
    Rejected,
    Vetoed,
    NoQuorum,
}

#[derive(Debug, Clone, PartialEq, Eq, BorshSerialize, BorshDeserialize, Serialize, Deserialize)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum ProposalStatus {
    Voting,
    /// Passed; executes at `execute_height`.
    Queued {
        execute_height: u64,
    },
    Executed {
        height: u64,
    },
    /// Passed, but its change was no longer valid when its time came.
    Failed {
        height: u64,
        reason: String,
    },
    Closed {
        outcome: Outcome,
        height: u64,
    },
}

#[derive(Debug, Clone, PartialEq, Eq, BorshSerialize, BorshDeserialize, Serialize, Deserialize)]
pub struct Proposal {
    pub id: u64,
    pub proposer: AccountId,
    pub title: String,
    pub change: Change,
    #[serde(with = "crate::amount")]
    pub deposit: u128,
    /// Weights are voting power at this height.
    pub start_height: u64,
    /// The last height that takes votes.
    pub end_height: u64,
    /// The total bonded at the start, and the cap on one voter's weight.
    #[serde(with = "crate::amount")]
    pub bonded: u128,
    #[serde(with = "crate::amount")]
    pub cap: u128,
    pub tally: Tally,
    pub status: ProposalStatus,
}

/// A vote, as stored on chain (the last one counts).
#[derive(Debug, Clone, PartialEq, Eq, BorshSerialize, BorshDeserialize, Serialize, Deserialize)]
pub struct Ballot {
    pub option: VoteOption,
    #[serde(with = "crate::amount")]
    pub weight: u128,
}

#[derive(Debug, Clone, PartialEq, Eq, BorshSerialize, BorshDeserialize, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum GovernanceAction {
    Propose {
        title: String,
        change: Change,
    },
    /// A second vote replaces the first.
    Vote {
        proposal: u64,
        option: VoteOption,
    },
}

#[derive(Debug, Clone, PartialEq, Eq, BorshSerialize, BorshDeserialize, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum GovernanceEvent {
    Proposed {
        proposal: u64,
        proposer: AccountId,
        end_height: u64,
    },
    Voted {
        proposal: u64,
        voter: AccountId,
        option: VoteOption,
        #[serde(with = "crate::amount")]
        weight: u128,
    },
    Closed {
        proposal: u64,
        proposer: AccountId,
        outcome: Outcome,
    },
    Executed {
        proposal: u64,
        proposer: AccountId,
    },
    ExecutionFailed {
        proposal: u64,
        proposer: AccountId,
        reason: String,
    },
}

impl GovernanceEvent {
    pub fn accounts(&self) -> Vec<AccountId> {
        match self {
            GovernanceEvent::Proposed { proposer, .. }
            | GovernanceEvent::Closed { proposer, .. }
            | GovernanceEvent::Executed { proposer, .. }
            | GovernanceEvent::ExecutionFailed { proposer, .. } => vec![*proposer],
            GovernanceEvent::Voted { voter, .. } => vec![*voter],
        }
    }
}

// Error codes: 1100..1199 (the registry's range for this module).

crate::error_codes! {
    BadProposal = 1101 => "bad_proposal",
    ParamsOutOfBounds = 1102 => "params_out_of_bounds",
    ProposalNotFound = 1103 => "proposal_not_found",
    VotingClosed = 1104 => "voting_closed",
    NoVotingPower = 1105 => "no_voting_power",
    TreasuryShort = 1106 => "treasury_short",
}

// State layout: every key of this module starts with `PREFIX/`.

pub const PREFIX: &str = "governance";

pub fn params_key() -> Vec<u8> {
    key(PREFIX, "params", &[])
}

pub fn next_proposal_key() -> Vec<u8> {
    key(PREFIX, "next", &[])
}

pub fn proposal_key(id: u64) -> Vec<u8> {
    key(PREFIX, "proposal", &id.to_be_bytes())
}

pub fn ballot_key(proposal: u64, voter: &AccountId) -> Vec<u8> {
    let mut id = proposal.to_be_bytes().to_vec();
    id.extend_from_slice(&voter.0);
    key(PREFIX, "ballot", &id)
}

/// How much of `voter`'s power at a proposal's start its delegators took
/// back by voting themselves.
pub fn reclaimed_key(proposal: u64, voter: &AccountId) -> Vec<u8> {
    let mut id = proposal.to_be_bytes().to_vec();
    id.extend_from_slice(&voter.0);
    key(PREFIX, "reclaimed", &id)
}

/// Proposals whose voting ends at `height`.
pub fn ending_key(height: u64) -> Vec<u8> {
    key(PREFIX, "ending", &height.to_be_bytes())
}

/// Proposals that execute at `height`.
pub fn executing_key(height: u64) -> Vec<u8> {
    key(PREFIX, "executing", &height.to_be_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tally(yes: u128, no: u128, abstain: u128, veto: u128) -> Tally {
        Tally {
            yes,
            no,
            abstain,
            veto,
        }
    }

    #[test]
    fn quorum_threshold_and_veto_decide() {
        let params = GovernanceParams::default();
        assert_eq!(
            tally(300, 0, 0, 0).outcome(&params, 1_000),
            Outcome::NoQuorum
        );
        assert_eq!(tally(334, 0, 0, 0).outcome(&params, 1_000), Outcome::Passed);
        assert_eq!(
            tally(200, 200, 0, 0).outcome(&params, 1_000),
            Outcome::Rejected
        );
        assert_eq!(
            tally(201, 200, 0, 0).outcome(&params, 1_000),
            Outcome::Passed
        );
        // Abstentions count for the quorum, not for the threshold.
        assert_eq!(
            tally(10, 5, 400, 0).outcome(&params, 1_000),
            Outcome::Passed
        );
        assert_eq!(
            tally(600, 0, 0, 334).outcome(&params, 1_000),
            Outcome::Vetoed
        );
        assert_eq!(tally(0, 0, 0, 0).outcome(&params, 0), Outcome::NoQuorum);
    }

    #[test]
    fn parameters_out_of_bounds_are_named() {
        assert_eq!(GovernanceParams::default().problem(), None);
        for bad in [
            GovernanceParams {
                voting_blocks: 0,
                ..Default::default()
            },
            GovernanceParams {
                cap_bps: 0,
                ..Default::default()
            },
            GovernanceParams {
                quorum_bps: 10_001,
                ..Default::default()
            },
            GovernanceParams {
                min_deposit: 0,
                ..Default::default()
            },
        ] {
            assert!(bad.problem().is_some(), "{bad:?}");
        }
    }
}
