//! The governance every seed runs while its faults fall: a steward bonds,
//! proposes to add the joiner (a node that has run from the start without
//! being a validator) and votes for it; once the joiner is in the running
//! epoch's set, it proposes to remove one of the genesis validators and
//! votes for that. Each change takes effect at an epoch boundary, so the
//! run's crashes and partitions fall across boundaries where the set
//! changes.

use salus_app::{auth, epochs, governance, Chain};
use salus_crypto::SigningKey;
use salus_types::epochs::{epoch_of, Validator};
use salus_types::governance::{
    Change, GovernanceAction, GovernanceGenesis, GovernanceParams, ProposalStatus, VoteOption,
};
use salus_types::staking::StakingAction;
use salus_types::{AccountId, Action, PublicKey, Tx, TxBody};

use crate::CHAIN_ID;

/// The steward's bond: all of the voting power there is.
pub const BOND: u128 = 1_000_000;

/// Governance quick enough for a run of a few hundred blocks, with no cap,
/// so that the steward's vote alone passes.
pub fn genesis() -> GovernanceGenesis {
    GovernanceGenesis {
        params: GovernanceParams {
            min_deposit: 100,
            voting_blocks: 4,
            timelock_blocks: 2,
            cap_bps: 10_000,
            ..GovernanceParams::default()
        },
    }
}

pub struct Steward {
    pub key: SigningKey,
    joiner: PublicKey,
    leaver: PublicKey,
}

impl Steward {
    pub fn new(key: SigningKey, joiner: PublicKey, leaver: PublicKey) -> Steward {
        Steward {
            key,
            joiner,
            leaver,
        }
    }

    pub fn account(&self) -> AccountId {
        AccountId::from_public_key(&self.key.public_key())
    }

    /// The steward's next transaction, judged from `chain` (the furthest
    /// node's): the one its finalized nonce calls for, once the chain is
    /// ready for it. Offered every round until it is final.
    pub fn next(&self, chain: &Chain) -> Option<Tx> {
        let snapshot = chain.store().snapshot().ok()?;
        let nonce = auth::account(&snapshot, &self.account()).ok()?.nonce;
        let action = match nonce {
            0 => StakingAction::Bond { amount: BOND }.into(),
            1 => propose(Change::AddValidator {
                key: self.joiner,
                address: "10.0.0.5:7000".into(),
            }),
            2 => vote(1),
            // The joiner must sign before an original may go.
            3 if self
                .running_set(chain)?
                .iter()
                .any(|v| v.key == self.joiner) =>
            {
                propose(Change::RemoveValidator { key: self.leaver })
            }
            4 => vote(2),
            _ => return None,
        };
        Some(
            TxBody {
                chain_id: CHAIN_ID.into(),
                signer: self.account(),
                public_key: self.key.public_key(),
                nonce,
                actions: vec![action],
            }
            .sign(&self.key),
        )
    }

    /// Whether the leaver is out of the running epoch's set: both changes
    /// have taken effect.
    pub fn done(&self, chain: &Chain) -> bool {
        self.running_set(chain)
            .is_some_and(|set| !set.iter().any(|v| v.key == self.leaver))
    }

    fn running_set(&self, chain: &Chain) -> Option<Vec<Validator>> {
        let height = chain.tip().0.height;
        let snapshot = chain.store().snapshot().ok()?;
        let epoch = epoch_of(height + 1, epochs::length(&snapshot).ok()?);
        epochs::set(&snapshot, epoch).ok()?
    }

    /// What the run changed, read from `chain`: the epoch the joiner joined
    /// and the one the leaver left, and any proposal that failed.
    pub fn changes(&self, chain: &Chain) -> Vec<String> {
        let Ok(snapshot) = chain.store().snapshot() else {
            return vec!["the store cannot be read".into()];
        };
        let mut changes = Vec::new();
        let mut joined = false;
        let mut left = false;
        for epoch in 0.. {
            let Ok(Some(set)) = epochs::set(&snapshot, epoch) else {
                break;
            };
            let has = |key: &PublicKey| set.iter().any(|v| v.key == *key);
            if !joined && has(&self.joiner) {
                joined = true;
                changes.push(format!("the joiner signs from epoch {epoch}"));
            }
            if !left && !has(&self.leaver) {
                left = true;
                changes.push(format!("validator 0 leaves from epoch {epoch}"));
            }
        }
        for id in [1, 2] {
            if let Ok(Some(proposal)) = governance::proposal(&snapshot, id) {
                if let ProposalStatus::Failed { reason, .. } = proposal.status {
                    changes.push(format!("proposal {id} failed: {reason}"));
                }
            }
        }
        changes
    }
}

fn propose(change: Change) -> Action {
    GovernanceAction::Propose {
        title: "Validator set".into(),
        change,
    }
    .into()
}

fn vote(proposal: u64) -> Action {
    GovernanceAction::Vote {
        proposal,
        option: VoteOption::Yes,
    }
    .into()
}
