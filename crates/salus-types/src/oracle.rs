//! Wire types of the oracle module: staked oracles that answer questions
//! about anchored evidence, by a rule published as data.
//!
//! An oracle is a DID with the attested `oracle` role and a bond. A question
//! names its evidence (anchored record versions), the rule to judge them by
//! and a deadline; the chain draws its committee from the bonded oracles,
//! weighted by bond. Members answer with signed transactions; the question
//! resolves in the block where a quorum of the committee's stake agrees.
//! Nothing here knows what asked: insurance claims are one client, and the
//! question names its client by module tag and reference only.

use borsh::{BorshDeserialize, BorshSerialize};
use serde::{Deserialize, Serialize};

use crate::layout::key;
use crate::records::RecordId;
use crate::AccountId;

/// At most this many oracles are bonded at once: the draw reads them all.
pub const MAX_ORACLES: usize = 256;
/// The largest committee a question may have.
pub const MAX_COMMITTEE: u16 = 31;
/// At most this many record versions back one question.
pub const MAX_EVIDENCE: usize = 16;
/// At most this many codes in a rule's code set.
pub const MAX_RULE_CODES: usize = 64;
/// The longest code (ICD-10, CPT, SNOMED CT ids all fit).
pub const MAX_CODE_LEN: usize = 32;
/// The longest unbonding period or deadline, in blocks.
pub const MAX_PERIOD_BLOCKS: u64 = 100_000_000;
/// Basis points in one whole.
pub const BPS: u128 = 10_000;

/// The module's parameters. Genesis sets them; they are stored under
/// `oracle/params`, so that governance can later move them.
#[derive(Debug, Clone, PartialEq, Eq, BorshSerialize, BorshDeserialize, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OracleParams {
    /// The least bond (base units) that makes an oracle eligible for draws.
    #[serde(with = "crate::amount")]
    pub min_bond: u128,
    /// Blocks between an unbond and the withdrawal it allows. At least
    /// `max_deadline_blocks`, so stake on an open question is still there to
    /// slash when the question closes.
    pub unbonding_blocks: u64,
    /// Oracles drawn per question.
    pub committee_size: u16,
    /// The quorum: agreeing stake × denominator ≥ committee stake × numerator.
    pub quorum_numerator: u16,
    pub quorum_denominator: u16,
    /// The share of its bond a member loses for answering against the
    /// resolved answer.
    pub slash_bps: u16,
    pub min_deadline_blocks: u64,
    pub max_deadline_blocks: u64,
}

impl Default for OracleParams {
    fn default() -> Self {
        OracleParams {
            min_bond: 1_000,
            unbonding_blocks: 2_000,
            committee_size: 3,
            quorum_numerator: 2,
            quorum_denominator: 3,
            slash_bps: 1_000,
            min_deadline_blocks: 5,
            max_deadline_blocks: 1_000,
        }
    }
}

impl OracleParams {
    /// Why these parameters cannot run a network, if they cannot.
    pub fn problem(&self) -> Option<String> {
        let OracleParams {
            min_bond,
            unbonding_blocks,
            committee_size,
            quorum_numerator,
            quorum_denominator,
            slash_bps,
            min_deadline_blocks,
            max_deadline_blocks,
        } = *self;
        if min_bond == 0 {
            return Some("min_bond must be positive".into());
        }
        if committee_size == 0 || committee_size > MAX_COMMITTEE {
            return Some(format!("committee_size must be 1..={MAX_COMMITTEE}"));
        }
        // A quorum of at most half could resolve two different answers.
        if quorum_denominator == 0
            || quorum_numerator > quorum_denominator
            || 2 * u32::from(quorum_numerator) <= u32::from(quorum_denominator)
        {
            return Some("the quorum must be a fraction above one half and at most one".into());
        }
        if u128::from(slash_bps) > BPS {
            return Some("slash_bps must be at most 10000".into());
        }
        if min_deadline_blocks == 0 || min_deadline_blocks > max_deadline_blocks {
            return Some("deadlines need 0 < min_deadline_blocks <= max_deadline_blocks".into());
        }
        // Strictly longer, so stake on a question is still bonded in the
        // question's deadline block.
        if unbonding_blocks <= max_deadline_blocks || unbonding_blocks > MAX_PERIOD_BLOCKS {
            return Some(format!(
                "unbonding_blocks must exceed max_deadline_blocks and be at most {MAX_PERIOD_BLOCKS}"
            ));
        }
        None
    }

    /// Whether `agreeing` stake is a quorum of `committee` stake.
    pub fn is_quorum(&self, agreeing: u128, committee: u128) -> bool {
        match (
            agreeing.checked_mul(u128::from(self.quorum_denominator)),
            committee.checked_mul(u128::from(self.quorum_numerator)),
        ) {
            (Some(left), Some(right)) => left >= right,
            // Bonds are bounded by the token supply, far below overflow.
            _ => unreachable!("stake times a u16 overflows u128"),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OracleGenesis {
    #[serde(default)]
    pub params: OracleParams,
}

/// One anchored record version that a question is about.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    BorshSerialize,
    BorshDeserialize,
    Serialize,
    Deserialize,
)]
pub struct Evidence {
    pub record: RecordId,
    pub version: u32,
}

/// What the committee evaluates on the decrypted evidence: data, not code,
/// so that every oracle runs the same published rule.
#[derive(Debug, Clone, PartialEq, Eq, BorshSerialize, BorshDeserialize, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Rule {
    /// Services billed on a FHIR `Claim`: approve the billed total less the
    /// deductible, up to `cap`, when a diagnosis code is in `diagnosis_codes`
    /// and the service lies wholly in `[from_ms, to_ms)` (a date-only
    /// service date counts as its whole day).
    Indemnity {
        diagnosis_codes: Vec<String>,
        from_ms: u64,
        to_ms: u64,
        /// The ISO 4217 code the claim must bill in.
        currency: String,
        /// Base units paid per cent billed.
        #[serde(with = "crate::amount")]
        units_per_cent: u128,
        #[serde(with = "crate::amount")]
        deductible: u128,
        #[serde(with = "crate::amount")]
        cap: u128,
    },
    /// Inpatient days from a FHIR `Encounter` of class inpatient whose
    /// period lies wholly in `[from_ms, to_ms)`: `per_day` for each night,
    /// at most `max_days`, up to `cap`.
    Parametric {
        #[serde(with = "crate::amount")]
        per_day: u128,
        max_days: u32,
        from_ms: u64,
        to_ms: u64,
        #[serde(with = "crate::amount")]
        cap: u128,
    },
}

impl Rule {
    /// The most an approval may grant.
    pub fn cap(&self) -> u128 {
        match self {
            Rule::Indemnity { cap, .. } | Rule::Parametric { cap, .. } => *cap,
        }
    }

    /// Why the rule is malformed, if it is.
    pub fn problem(&self) -> Option<String> {
        let (from_ms, to_ms) = match self {
            Rule::Indemnity {
                diagnosis_codes,
                from_ms,
                to_ms,
                currency,
                units_per_cent,
                ..
            } => {
                if diagnosis_codes.is_empty() || diagnosis_codes.len() > MAX_RULE_CODES {
                    return Some(format!("a rule names 1..={MAX_RULE_CODES} diagnosis codes"));
                }
                if diagnosis_codes.iter().any(|c| !is_code(c)) {
                    return Some(format!(
                        "a code is 1..={MAX_CODE_LEN} letters, digits, dots or dashes"
                    ));
                }
                if currency.len() != 3 || !currency.bytes().all(|b| b.is_ascii_uppercase()) {
                    return Some("the currency is an ISO 4217 code such as USD".into());
                }
                if *units_per_cent == 0 {
                    return Some("units_per_cent must be positive".into());
                }
                (*from_ms, *to_ms)
            }
            Rule::Parametric {
                per_day,
                max_days,
                from_ms,
                to_ms,
                ..
            } => {
                if *per_day == 0 || *max_days == 0 {
                    return Some("per_day and max_days must be positive".into());
                }
                (*from_ms, *to_ms)
            }
        };
        (from_ms >= to_ms).then(|| "the rule's window must end after it starts".into())
    }
}

/// A code in a rule's code set.
pub fn is_code(code: &str) -> bool {
    !code.is_empty()
        && code.len() <= MAX_CODE_LEN
        && code
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'.' || b == b'-')
}

/// A committee member's answer. Members agree when their answers are equal.
#[derive(Debug, Clone, PartialEq, Eq, BorshSerialize, BorshDeserialize, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Answer {
    Approve {
        #[serde(with = "crate::amount")]
        amount: u128,
    },
    Deny,
}

/// A committee seat: who, with what stake at the draw, and its answer.
#[derive(Debug, Clone, PartialEq, Eq, BorshSerialize, BorshDeserialize, Serialize, Deserialize)]
pub struct Member {
    pub oracle: AccountId,
    #[serde(with = "crate::amount")]
    pub stake: u128,
    pub answer: Option<Answer>,
}

#[derive(Debug, Clone, PartialEq, Eq, BorshSerialize, BorshDeserialize, Serialize, Deserialize)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum QuestionStatus {
    Open,
    /// A quorum agreed on `answer` in the block at `height`.
    Resolved {
        answer: Answer,
        height: u64,
    },
    /// The deadline passed without a quorum; nothing is paid on it.
    Unresolved {
        height: u64,
    },
}

/// A question, as stored on chain.
#[derive(Debug, Clone, PartialEq, Eq, BorshSerialize, BorshDeserialize, Serialize, Deserialize)]
pub struct Question {
    pub id: u64,
    /// Who paid the fees, and gets back those of silent members.
    pub asker: AccountId,
    /// The registry tag of the module that asked, and its own reference.
    pub client: u8,
    pub reference: u64,
    /// The patient the evidence belongs to.
    pub subject: AccountId,
    pub evidence: Vec<Evidence>,
    pub rule: Rule,
    pub committee: Vec<Member>,
    #[serde(with = "crate::amount")]
    pub fee_per_member: u128,
    pub asked_height: u64,
    /// Answers are taken up to and including this height.
    pub deadline_height: u64,
    pub status: QuestionStatus,
}

impl Question {
    pub fn member(&self, oracle: &AccountId) -> Option<&Member> {
        self.committee.iter().find(|m| m.oracle == *oracle)
    }

    pub fn is_open(&self) -> bool {
        self.status == QuestionStatus::Open
    }
}

/// An oracle's bond and its public record.
#[derive(
    Debug, Clone, Default, PartialEq, Eq, BorshSerialize, BorshDeserialize, Serialize, Deserialize,
)]
pub struct OracleRecord {
    #[serde(with = "crate::amount")]
    pub bond: u128,
    /// Unbonded stake waiting out the unbonding period; still slashable.
    #[serde(with = "crate::amount")]
    pub unbonding: u128,
    /// The height from which `unbonding` may be withdrawn.
    pub release_height: u64,
    /// Answers given.
    pub answered: u64,
    /// Answers equal to the resolved answer.
    pub agreed: u64,
    /// Answers against the resolved answer (each one slashed).
    pub disputed: u64,
    /// Questions closed without this member's answer.
    pub missed: u64,
    #[serde(with = "crate::amount")]
    pub slashed: u128,
    #[serde(with = "crate::amount")]
    pub fees_earned: u128,
}

#[derive(Debug, Clone, PartialEq, Eq, BorshSerialize, BorshDeserialize, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum OracleAction {
    /// Adds `amount` to the signer's bond; the first bond registers it. The
    /// signer must hold the attested `oracle` role.
    Bond {
        #[serde(with = "crate::amount")]
        amount: u128,
    },
    /// Starts unbonding `amount`; it may be withdrawn after the unbonding
    /// period (which restarts for the whole unbonding amount).
    Unbond {
        #[serde(with = "crate::amount")]
        amount: u128,
    },
    /// Withdraws unbonded stake whose period has passed.
    Withdraw,
    /// A committee member's signed attestation.
    Answer { question: u64, answer: Answer },
}

#[derive(Debug, Clone, PartialEq, Eq, BorshSerialize, BorshDeserialize, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum OracleEvent {
    Bonded {
        oracle: AccountId,
        #[serde(with = "crate::amount")]
        amount: u128,
        #[serde(with = "crate::amount")]
        bond: u128,
    },
    Unbonding {
        oracle: AccountId,
        #[serde(with = "crate::amount")]
        amount: u128,
        release_height: u64,
    },
    Withdrawn {
        oracle: AccountId,
        #[serde(with = "crate::amount")]
        amount: u128,
    },
    Asked {
        question: u64,
        asker: AccountId,
        subject: AccountId,
        committee: Vec<AccountId>,
        deadline_height: u64,
    },
    Answered {
        question: u64,
        oracle: AccountId,
        subject: AccountId,
        answer: Answer,
    },
    Resolved {
        question: u64,
        asker: AccountId,
        subject: AccountId,
        answer: Answer,
        /// The members whose answers agreed (each was paid its fee).
        agreed: Vec<AccountId>,
    },
    Unresolved {
        question: u64,
        asker: AccountId,
        subject: AccountId,
    },
    Slashed {
        question: u64,
        oracle: AccountId,
        #[serde(with = "crate::amount")]
        amount: u128,
    },
}

impl OracleEvent {
    pub fn accounts(&self) -> Vec<AccountId> {
        match self {
            OracleEvent::Bonded { oracle, .. }
            | OracleEvent::Unbonding { oracle, .. }
            | OracleEvent::Withdrawn { oracle, .. }
            | OracleEvent::Slashed { oracle, .. } => vec![*oracle],
            OracleEvent::Asked {
                asker,
                subject,
                committee,
                ..
            } => {
                let mut accounts = vec![*asker, *subject];
                accounts.extend(committee);
                accounts
            }
            OracleEvent::Answered {
                oracle, subject, ..
            } => vec![*oracle, *subject],
            OracleEvent::Resolved {
                asker,
                subject,
                agreed,
                ..
            } => {
                let mut accounts = vec![*asker, *subject];
                accounts.extend(agreed);
                accounts
            }
            OracleEvent::Unresolved { asker, subject, .. } => vec![*asker, *subject],
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parameters_that_cannot_run_a_network_are_named() {
        assert_eq!(OracleParams::default().problem(), None);
        let bad = [
            OracleParams {
                min_bond: 0,
                ..Default::default()
            },
            OracleParams {
                committee_size: 0,
                ..Default::default()
            },
            OracleParams {
                committee_size: MAX_COMMITTEE + 1,
                ..Default::default()
            },
            // Half is not a quorum: two answers could both reach it.
            OracleParams {
                quorum_numerator: 1,
                quorum_denominator: 2,
                ..Default::default()
            },
            OracleParams {
                quorum_numerator: 4,
                quorum_denominator: 3,
                ..Default::default()
            },
            OracleParams {
                slash_bps: 10_001,
                ..Default::default()
            },
            OracleParams {
                min_deadline_blocks: 0,
                ..Default::default()
            },
            OracleParams {
                unbonding_blocks: 1_000,
                ..Default::default()
            },
        ];
        for params in bad {
            assert!(params.problem().is_some(), "{params:?}");
        }
    }

    #[test]
    fn a_quorum_is_two_thirds_of_the_committee_stake() {
        let params = OracleParams::default();
        assert!(params.is_quorum(2, 3));
        assert!(!params.is_quorum(1, 3));
        assert!(params.is_quorum(200, 300));
        assert!(!params.is_quorum(199, 300));
    }

    #[test]
    fn malformed_rules_are_named() {
        let good = Rule::Parametric {
            per_day: 1,
            max_days: 1,
            from_ms: 1,
            to_ms: 2,
            cap: 1,
        };
        assert_eq!(good.problem(), None);
        let indemnity = |codes: Vec<&str>, currency: &str| Rule::Indemnity {
            diagnosis_codes: codes.into_iter().map(String::from).collect(),
            from_ms: 1,
            to_ms: 2,
            currency: currency.into(),
            units_per_cent: 1,
            deductible: 0,
            cap: 1,
        };
        assert_eq!(indemnity(vec!["J18.9"], "USD").problem(), None);
        for rule in [
            indemnity(vec![], "USD"),
            indemnity(vec!["J18 9"], "USD"),
            indemnity(vec!["J18.9"], "usd"),
            Rule::Parametric {
                per_day: 1,
                max_days: 1,
                from_ms: 2,
                to_ms: 2,
                cap: 1,
            },
            Rule::Parametric {
                per_day: 0,
                max_days: 1,
                from_ms: 1,
                to_ms: 2,
                cap: 1,
            },
        ] {
            assert!(rule.problem().is_some(), "{rule:?}");
        }
    }
}

// Error codes: 800..899 (the registry's range for this module).

crate::error_codes! {
    NotAnOracle = 801 => "not_an_oracle",
    BondTooSmall = 802 => "bond_too_small",
    TooManyOracles = 803 => "too_many_oracles",
    NotBonded = 804 => "not_bonded",
    StillUnbonding = 805 => "still_unbonding",
    QuestionNotFound = 806 => "question_not_found",
    QuestionClosed = 807 => "question_closed",
    NotACommitteeMember = 808 => "not_a_committee_member",
    AlreadyAnswered = 809 => "already_answered",
    BadAnswer = 811 => "bad_answer",
    BadRule = 812 => "bad_rule",
    BadEvidence = 813 => "bad_evidence",
    NotEnoughOracles = 814 => "not_enough_oracles",
    BadDeadline = 815 => "bad_deadline",
    EvidenceNotAnchored = 816 => "evidence_not_anchored",
    EvidenceOutdated = 817 => "evidence_outdated",
    BarUnchanged = 818 => "bar_unchanged",
}

// State layout: every key of this module starts with `PREFIX/`.

pub const PREFIX: &str = "oracle";

pub fn params_key() -> Vec<u8> {
    key(PREFIX, "params", &[])
}

pub fn oracle_key(oracle: &AccountId) -> Vec<u8> {
    key(PREFIX, "oracle", &oracle.0)
}

/// The draw pool: every oracle bonded at least `min_bond`, with its bond,
/// sorted by account (one value, so a draw reads one key).
pub fn eligible_key() -> Vec<u8> {
    key(PREFIX, "eligible", &[])
}

pub fn next_question_key() -> Vec<u8> {
    key(PREFIX, "next", &[])
}

pub fn question_key(id: u64) -> Vec<u8> {
    key(PREFIX, "question", &id.to_be_bytes())
}

/// The questions whose deadline is `height`.
pub fn due_key(height: u64) -> Vec<u8> {
    key(PREFIX, "due", &height.to_be_bytes())
}

/// The questions that closed in the block at `height`, for the modules that
/// asked them to settle in the same block.
pub fn closed_key(height: u64) -> Vec<u8> {
    key(PREFIX, "closed", &height.to_be_bytes())
}

pub fn assigned_prefix(oracle: &AccountId) -> Vec<u8> {
    key(PREFIX, "assigned", &oracle.0)
}

/// Index entry: an open question assigned to `oracle`.
pub fn assigned_key(oracle: &AccountId, question: u64) -> Vec<u8> {
    let mut out = assigned_prefix(oracle);
    out.extend_from_slice(&question.to_be_bytes());
    out
}

/// Marks an oracle that governance took out of the committee draw.
pub fn barred_key(oracle: &AccountId) -> Vec<u8> {
    key(PREFIX, "barred", &oracle.0)
}
