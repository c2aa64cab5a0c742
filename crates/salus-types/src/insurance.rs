//! Wire types of the insurance module: capital pools, policies and claims
//! that the oracle network settles.
//!
//! A pool holds its liquidity providers' capital (native tokens, in the
//! module's custody account) and issues shares priced at capital ÷ shares,
//! so premiums earned and claims paid move the share price. Capital always
//! covers `min_capital_ratio_bps` of the cover its running policies
//! reserve, and the ratio is at least one: every policy is fully funded.
//! A claim becomes an oracle question; the pool pays in the block where the
//! question resolves.

use borsh::{BorshDeserialize, BorshSerialize};
use serde::{Deserialize, Serialize};

use crate::layout::key;
use crate::oracle::Evidence;
use crate::AccountId;

/// At most this many products per pool.
pub const MAX_PRODUCTS: usize = 8;
/// The longest product name.
pub const MAX_PRODUCT_NAME: usize = 48;
/// The shortest and longest policy terms.
pub const MIN_TERM_MS: u64 = 60_000;
pub const MAX_TERM_MS: u64 = 5 * YEAR_MS;
/// The year premium rates are quoted per.
pub const YEAR_MS: u64 = 365 * 24 * 3600 * 1000;
/// The longest withdrawal lockup a pool may set.
pub const MAX_LOCKUP_MS: u64 = YEAR_MS;
/// Policy expiries are queued in buckets of this many ms.
pub const EXPIRY_BUCKET_MS: u64 = 60_000;
/// At most this many expiry buckets are swept per block, so a chain that
/// stood still for a day catches up over a few blocks instead of one huge one.
pub const MAX_BUCKETS_PER_BLOCK: u64 = 64;
/// At most this many policies wait in one expiry bucket; a full bucket
/// sends a policy to the next one (its cover is released a minute later).
pub const MAX_BUCKET_POLICIES: usize = 1_024;
/// At most this many policies are released per block.
pub const MAX_RELEASES_PER_BLOCK: usize = 1_024;

/// The most of each premium the treasury may take: a pool keeps most of
/// what it is paid for the risk it carries.
pub const MAX_TREASURY_SHARE_BPS: u32 = 2_000;

/// The module's parameters. Genesis sets them; they live under
/// `insurance/params`, for governance to move.
#[derive(Debug, Clone, PartialEq, Eq, BorshSerialize, BorshDeserialize, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InsuranceParams {
    /// The fee a claimant pays each committee member that answers.
    #[serde(with = "crate::amount")]
    pub oracle_fee: u128,
    /// Blocks a claim's committee has to answer.
    pub claim_deadline_blocks: u64,
    /// A backstop for the committee's read grants, which settlement revokes.
    pub claim_grant_ms: u64,
    /// The community treasury's share of each premium, rounded down (the
    /// pool keeps the rest).
    pub treasury_share_bps: u32,
}

impl Default for InsuranceParams {
    fn default() -> Self {
        InsuranceParams {
            oracle_fee: 10,
            claim_deadline_blocks: 600,
            claim_grant_ms: 24 * 3600 * 1000,
            treasury_share_bps: 100,
        }
    }
}

impl InsuranceParams {
    /// Why these parameters cannot run claims, if they cannot.
    pub fn problem(&self) -> Option<String> {
        use crate::consent::MAX_GRANT_MS;
        use crate::oracle::MAX_PERIOD_BLOCKS;
        if !(1..=MAX_PERIOD_BLOCKS).contains(&self.claim_deadline_blocks)
            || !(1..=MAX_GRANT_MS).contains(&self.claim_grant_ms)
        {
            return Some(format!(
                "a claim deadline is 1..={MAX_PERIOD_BLOCKS} blocks and its grants 1..={MAX_GRANT_MS} ms"
            ));
        }
        (self.treasury_share_bps > MAX_TREASURY_SHARE_BPS).then(|| {
            format!(
                "the treasury's share of premiums is at most {MAX_TREASURY_SHARE_BPS} basis points"
            )
        })
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InsuranceGenesis {
    #[serde(default)]
    pub params: InsuranceParams,
}

/// What a product covers; the oracles evaluate it on FHIR resources.
#[derive(Debug, Clone, PartialEq, Eq, BorshSerialize, BorshDeserialize, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Coverage {
    /// A FHIR `Claim` for services with a diagnosis in `diagnosis_codes`
    /// (ICD-10), dated inside the term: pays the billed amount less the
    /// deductible, up to the remaining cover.
    Indemnity {
        diagnosis_codes: Vec<String>,
        currency: String,
        #[serde(with = "crate::amount")]
        units_per_cent: u128,
        #[serde(with = "crate::amount")]
        deductible: u128,
    },
    /// A fixed sum per whole inpatient day, from a FHIR `Encounter` of class
    /// inpatient inside the term.
    Parametric {
        #[serde(with = "crate::amount")]
        per_day: u128,
        max_days: u32,
    },
}

#[derive(Debug, Clone, PartialEq, Eq, BorshSerialize, BorshDeserialize, Serialize, Deserialize)]
pub struct Product {
    pub name: String,
    pub coverage: Coverage,
}

/// A pool's terms, fixed when it is created.
#[derive(Debug, Clone, PartialEq, Eq, BorshSerialize, BorshDeserialize, Serialize, Deserialize)]
pub struct PoolTerms {
    pub products: Vec<Product>,
    /// The premium per year of cover, in basis points of the cover.
    pub premium_rate_bps: u32,
    /// Capital × 10000 ≥ this × active cover; at least 10000.
    pub min_capital_ratio_bps: u32,
    #[serde(with = "crate::amount")]
    pub max_cover: u128,
    /// How long a deposit stays locked.
    pub lockup_ms: u64,
}

/// A pool, as stored on chain. `capital` always equals
/// `deposited + premiums + granted - paid_out - withdrawn`, where
/// `premiums` is what the pool kept after the treasury's share.
#[derive(Debug, Clone, PartialEq, Eq, BorshSerialize, BorshDeserialize, Serialize, Deserialize)]
pub struct Pool {
    pub id: u64,
    pub insurer: AccountId,
    pub terms: PoolTerms,
    #[serde(with = "crate::amount")]
    pub capital: u128,
    #[serde(with = "crate::amount")]
    pub shares: u128,
    /// The cover the pool reserves: each running policy's remaining cover,
    /// and each released policy's pending claims.
    #[serde(with = "crate::amount")]
    pub active_cover: u128,
    #[serde(with = "crate::amount")]
    pub deposited: u128,
    #[serde(with = "crate::amount")]
    pub premiums: u128,
    #[serde(with = "crate::amount")]
    pub paid_out: u128,
    #[serde(with = "crate::amount")]
    pub withdrawn: u128,
    /// Capital the treasury granted (no shares were minted for it).
    #[serde(with = "crate::amount")]
    pub granted: u128,
}

/// A liquidity provider's position in a pool.
#[derive(Debug, Clone, PartialEq, Eq, BorshSerialize, BorshDeserialize, Serialize, Deserialize)]
pub struct Position {
    #[serde(with = "crate::amount")]
    pub shares: u128,
    /// Withdrawals wait until this time (the last deposit plus the lockup).
    pub unlocks_ms: u64,
}

#[derive(Debug, Clone, PartialEq, Eq, BorshSerialize, BorshDeserialize, Serialize, Deserialize)]
pub struct Policy {
    pub id: u64,
    pub pool: u64,
    pub product: u16,
    /// The insured patient.
    pub holder: AccountId,
    /// Who paid the premium (the patient, a guardian, an employer).
    pub payer: AccountId,
    #[serde(with = "crate::amount")]
    pub cover: u128,
    /// Cover not yet paid out.
    #[serde(with = "crate::amount")]
    pub remaining: u128,
    /// What pending claims ask, out of `remaining`. It stays reserved in the
    /// pool's active cover after the policy ends, until they settle.
    #[serde(with = "crate::amount")]
    pub pending: u128,
    #[serde(with = "crate::amount")]
    pub premium: u128,
    pub starts_ms: u64,
    pub ends_ms: u64,
    /// Set once the policy ended and its cover left the pool's active cover.
    pub released: bool,
}

impl Policy {
    pub fn is_running(&self, now_ms: u64) -> bool {
        !self.released && self.starts_ms <= now_ms && now_ms < self.ends_ms
    }
}

#[derive(Debug, Clone, PartialEq, Eq, BorshSerialize, BorshDeserialize, Serialize, Deserialize)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum ClaimStatus {
    /// Waiting for the oracles.
    Pending,
    Paid {
        #[serde(with = "crate::amount")]
        amount: u128,
        height: u64,
    },
    Denied {
        height: u64,
    },
    /// The committee reached no quorum by the deadline; the evidence may be
    /// claimed again.
    Unresolved {
        height: u64,
    },
}

#[derive(Debug, Clone, PartialEq, Eq, BorshSerialize, BorshDeserialize, Serialize, Deserialize)]
pub struct Claim {
    pub id: u64,
    pub policy: u64,
    pub pool: u64,
    pub holder: AccountId,
    /// The insured, a guardian, or the provider who wrote the evidence.
    pub claimant: AccountId,
    /// The insured, or the provider who wrote the evidence.
    pub payee: AccountId,
    pub evidence: Vec<Evidence>,
    #[serde(with = "crate::amount")]
    pub amount: u128,
    pub question: u64,
    /// The committee's `payment` grants, revoked at settlement.
    pub grants: Vec<u64>,
    pub filed_height: u64,
    pub status: ClaimStatus,
}

#[derive(Debug, Clone, PartialEq, Eq, BorshSerialize, BorshDeserialize, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum InsuranceAction {
    /// An attested insurer opens a pool.
    CreatePool { terms: PoolTerms },
    Deposit {
        pool: u64,
        #[serde(with = "crate::amount")]
        amount: u128,
    },
    /// Redeems `shares` at the current share price, after the lockup.
    Withdraw {
        pool: u64,
        #[serde(with = "crate::amount")]
        shares: u128,
    },
    /// The signer pays the premium for `holder`'s cover, starting now.
    BuyPolicy {
        pool: u64,
        product: u16,
        holder: AccountId,
        #[serde(with = "crate::amount")]
        cover: u128,
        term_ms: u64,
    },
    FileClaim {
        policy: u64,
        evidence: Vec<Evidence>,
        #[serde(with = "crate::amount")]
        amount: u128,
        payee: AccountId,
    },
    /// A provider files for the insured: as `FileClaim`, naming the
    /// patient's consent grant that authorizes it (purpose `payment`, to
    /// that provider, covering every piece of evidence).
    FileClaimForInsured {
        policy: u64,
        evidence: Vec<Evidence>,
        #[serde(with = "crate::amount")]
        amount: u128,
        payee: AccountId,
        authorization: u64,
    },
}

#[derive(Debug, Clone, PartialEq, Eq, BorshSerialize, BorshDeserialize, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum InsuranceEvent {
    PoolCreated {
        pool: u64,
        insurer: AccountId,
    },
    Deposited {
        pool: u64,
        provider: AccountId,
        #[serde(with = "crate::amount")]
        amount: u128,
        #[serde(with = "crate::amount")]
        shares: u128,
    },
    Withdrawn {
        pool: u64,
        provider: AccountId,
        #[serde(with = "crate::amount")]
        amount: u128,
        #[serde(with = "crate::amount")]
        shares: u128,
    },
    PolicyBought {
        policy: u64,
        pool: u64,
        holder: AccountId,
        payer: AccountId,
        #[serde(with = "crate::amount")]
        cover: u128,
        #[serde(with = "crate::amount")]
        premium: u128,
        ends_ms: u64,
    },
    PolicyEnded {
        policy: u64,
        pool: u64,
        holder: AccountId,
    },
    ClaimFiled {
        claim: u64,
        policy: u64,
        holder: AccountId,
        claimant: AccountId,
        question: u64,
        #[serde(with = "crate::amount")]
        amount: u128,
    },
    ClaimPaid {
        claim: u64,
        holder: AccountId,
        payee: AccountId,
        #[serde(with = "crate::amount")]
        amount: u128,
    },
    ClaimDenied {
        claim: u64,
        holder: AccountId,
    },
    ClaimUnresolved {
        claim: u64,
        holder: AccountId,
    },
    /// Capital added without shares (a treasury grant).
    Granted {
        pool: u64,
        from: AccountId,
        #[serde(with = "crate::amount")]
        amount: u128,
    },
}

impl InsuranceEvent {
    pub fn accounts(&self) -> Vec<AccountId> {
        match self {
            InsuranceEvent::PoolCreated { insurer, .. } => vec![*insurer],
            InsuranceEvent::Deposited { provider, .. }
            | InsuranceEvent::Withdrawn { provider, .. } => vec![*provider],
            InsuranceEvent::PolicyBought { holder, payer, .. } => vec![*holder, *payer],
            InsuranceEvent::PolicyEnded { holder, .. }
            | InsuranceEvent::ClaimDenied { holder, .. }
            | InsuranceEvent::ClaimUnresolved { holder, .. } => vec![*holder],
            InsuranceEvent::ClaimFiled {
                holder, claimant, ..
            } => vec![*holder, *claimant],
            InsuranceEvent::ClaimPaid { holder, payee, .. } => vec![*holder, *payee],
            InsuranceEvent::Granted { from, .. } => vec![*from],
        }
    }
}

// Error codes: 900..999 (the registry's range for this module).

crate::error_codes! {
    NotAnInsurer = 901 => "not_an_insurer",
    BadPoolTerms = 902 => "bad_pool_terms",
    PoolNotFound = 903 => "pool_not_found",
    DepositTooSmall = 904 => "deposit_too_small",
    PoolInsolvent = 905 => "pool_insolvent",
    NotEnoughShares = 906 => "not_enough_shares",
    StillLocked = 907 => "still_locked",
    CapitalRatio = 908 => "capital_ratio",
    BadProduct = 909 => "bad_product",
    BadCover = 910 => "bad_cover",
    BadTerm = 911 => "bad_term",
    PolicyNotFound = 912 => "policy_not_found",
    PolicyNotRunning = 913 => "policy_not_running",
    NotPolicyHolder = 914 => "not_policy_holder",
    EvidenceAlreadyClaimed = 915 => "evidence_already_claimed",
    OverCover = 916 => "over_cover",
    PoolCannotPay = 917 => "pool_cannot_pay",
    BadPayee = 918 => "bad_payee",
    BadAmount = 920 => "bad_amount",
    EvidenceNotFromProvider = 921 => "evidence_not_from_provider",
    NoLiquidity = 922 => "no_liquidity",
    NoPaymentConsent = 923 => "no_payment_consent",
}

// State layout: every key of this module starts with `PREFIX/`.

pub const PREFIX: &str = "insurance";

pub fn params_key() -> Vec<u8> {
    key(PREFIX, "params", &[])
}

pub fn next_pool_key() -> Vec<u8> {
    key(PREFIX, "next_pool", &[])
}

pub fn pool_key(id: u64) -> Vec<u8> {
    key(PREFIX, "pool", &id.to_be_bytes())
}

pub fn position_key(pool: u64, provider: &AccountId) -> Vec<u8> {
    let mut id = pool.to_be_bytes().to_vec();
    id.extend_from_slice(&provider.0);
    key(PREFIX, "position", &id)
}

pub fn next_policy_key() -> Vec<u8> {
    key(PREFIX, "next_policy", &[])
}

pub fn policy_key(id: u64) -> Vec<u8> {
    key(PREFIX, "policy", &id.to_be_bytes())
}

pub fn holder_prefix(holder: &AccountId) -> Vec<u8> {
    key(PREFIX, "holder", &holder.0)
}

/// `prefix` followed by `id`: an index entry.
fn indexed(mut prefix: Vec<u8>, id: u64) -> Vec<u8> {
    prefix.extend_from_slice(&id.to_be_bytes());
    prefix
}

/// Index entry: a policy held by `holder`.
pub fn holder_policy_key(holder: &AccountId, policy: u64) -> Vec<u8> {
    indexed(holder_prefix(holder), policy)
}

pub fn next_claim_key() -> Vec<u8> {
    key(PREFIX, "next_claim", &[])
}

pub fn claim_key(id: u64) -> Vec<u8> {
    key(PREFIX, "claim", &id.to_be_bytes())
}

pub fn claims_prefix(holder: &AccountId) -> Vec<u8> {
    key(PREFIX, "claims", &holder.0)
}

/// Index entry: a claim on `holder`'s cover.
pub fn holder_claim_key(holder: &AccountId, claim: u64) -> Vec<u8> {
    indexed(claims_prefix(holder), claim)
}

/// The claim that holds a record as evidence: pending or paid. A record
/// backs at most one such claim, ever, whatever its version.
pub fn evidence_key(record: &crate::records::RecordId) -> Vec<u8> {
    key(PREFIX, "evidence", &record.0)
}

/// The policies whose term ends in bucket `bucket` (ms / EXPIRY_BUCKET_MS).
pub fn expiry_key(bucket: u64) -> Vec<u8> {
    key(PREFIX, "expiry", &bucket.to_be_bytes())
}

/// The first expiry bucket not yet swept.
pub fn expiry_cursor_key() -> Vec<u8> {
    key(PREFIX, "expiry_cursor", &[])
}
