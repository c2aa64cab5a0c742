//! The insurance module: capital pools with shares, policies that reserve
//! cover until they end (`expiry.rs`), and claims that the oracle network
//! settles (`claims.rs`).
//!
//! State (layout in `salus_types::insurance`): `insurance/params`; pools
//! (`pool/<id>`) and liquidity positions (`position/<pool><account>`);
//! policies (`policy/<id>`, indexed by holder) and their expiry queue
//! (`expiry/<bucket>`, swept from `expiry_cursor` at the end of each block);
//! claims (`claim/<id>`, indexed by holder) and the records they hold as
//! evidence (`evidence/<record>`).
//!
//! Invariants (proptested in `tests/insurance.rs`):
//! - a pool's capital is `deposited + premiums + granted - paid_out -
//!   withdrawn`, and the pools' capital together is what the custody account
//!   holds;
//! - capital × 10000 ≥ `min_capital_ratio_bps` × active cover, after every
//!   action (purchases and withdrawals that would break it are refused, and
//!   with a ratio of at least one a payout cannot);
//! - a record backs at most one paid claim, and a claim is paid at most once;
//! - rounding favours the pool: shares minted and amounts redeemed round
//!   down, premiums round up, the treasury's share of a premium rounds down.

use salus_state::{Overlay, StateError, StateRead, StateScan};
use salus_types::identity::Role;
use salus_types::insurance::{
    claims_prefix, expiry_cursor_key, expiry_key, holder_policy_key, holder_prefix,
    next_policy_key, next_pool_key, params_key, policy_key, pool_key, position_key, Claim,
    Coverage, InsuranceAction, InsuranceEvent, InsuranceGenesis, InsuranceParams, Policy, Pool,
    PoolTerms, Position, EXPIRY_BUCKET_MS, MAX_LOCKUP_MS, MAX_PRODUCTS, MAX_PRODUCT_NAME,
    MAX_TERM_MS, MIN_TERM_MS, PREFIX, YEAR_MS,
};
use salus_types::oracle::{is_code, BPS, MAX_RULE_CODES};
use salus_types::token::module_account;
use salus_types::{AccountId, ErrorCode};

use crate::context::{
    read, refuse, reject, write, ActionError, BlockContext, Events, ExecResult, Module, TxContext,
    TxOrigin,
};
use crate::genesis::GenesisError;
use crate::{identity, token, treasury};

mod claims;
mod expiry;

pub use claims::claim;

/// The account that holds every pool's capital.
pub fn custody() -> AccountId {
    module_account(PREFIX)
}

pub fn params(state: &dyn StateRead) -> Result<InsuranceParams, StateError> {
    crate::params::load(state, &params_key())
}

/// Replaces the parameters (governance, after checking their bounds).
pub fn set_params(state: &mut Overlay<'_>, params: &InsuranceParams) {
    crate::params::store(state, PREFIX, params_key(), params);
}

pub fn pool(state: &dyn StateRead, id: u64) -> Result<Option<Pool>, StateError> {
    read(state, &pool_key(id))
}

/// How many pools exist (ids run from 1).
pub fn pool_count(state: &dyn StateRead) -> Result<u64, StateError> {
    Ok(read::<u64>(state, &next_pool_key())?.map_or(0, |next| next - 1))
}

pub fn position(
    state: &dyn StateRead,
    pool: u64,
    provider: &AccountId,
) -> Result<Option<Position>, StateError> {
    read(state, &position_key(pool, provider))
}

pub fn policy(state: &dyn StateRead, id: u64) -> Result<Option<Policy>, StateError> {
    read(state, &policy_key(id))
}

/// The policies queued to end in expiry bucket `bucket`.
pub fn queued_expiries(state: &dyn StateRead, bucket: u64) -> Result<Vec<u64>, StateError> {
    Ok(read(state, &expiry_key(bucket))?.unwrap_or_default())
}

/// Ids listed under `prefix` (8-byte big-endian suffixes), after `after`.
fn ids_under<S: StateScan>(
    state: &S,
    prefix: Vec<u8>,
    after: Option<u64>,
    limit: usize,
) -> Result<Vec<u64>, StateError> {
    let after = after.map(|id| {
        let mut key = prefix.clone();
        key.extend_from_slice(&id.to_be_bytes());
        key
    });
    state
        .scan_prefix(&prefix, after.as_deref(), limit)?
        .into_iter()
        .map(|(key, _)| {
            let raw: [u8; 8] = key[prefix.len()..]
                .try_into()
                .map_err(|_| StateError::Corrupt("malformed insurance index key".into()))?;
            Ok(u64::from_be_bytes(raw))
        })
        .collect()
}

/// `holder`'s policies, after `after`, at most `limit`.
pub fn policies_of<S: StateScan>(
    state: &S,
    holder: &AccountId,
    after: Option<u64>,
    limit: usize,
) -> Result<Vec<Policy>, StateError> {
    ids_under(state, holder_prefix(holder), after, limit)?
        .into_iter()
        .map(|id| {
            policy(state, id)?
                .ok_or_else(|| StateError::Corrupt(format!("indexed policy {id} is missing")))
        })
        .collect()
}

/// Claims on `holder`'s cover, after `after`, at most `limit`.
pub fn claims_of<S: StateScan>(
    state: &S,
    holder: &AccountId,
    after: Option<u64>,
    limit: usize,
) -> Result<Vec<Claim>, StateError> {
    ids_under(state, claims_prefix(holder), after, limit)?
        .into_iter()
        .map(|id| {
            claim(state, id)?
                .ok_or_else(|| StateError::Corrupt(format!("indexed claim {id} is missing")))
        })
        .collect()
}

/// The premium for `cover` over `term_ms`: cover × rate × term / year,
/// rounded up (at least one unit), or `None` on overflow.
pub fn premium(terms: &PoolTerms, cover: u128, term_ms: u64) -> Option<u128> {
    let numerator = cover
        .checked_mul(u128::from(terms.premium_rate_bps))?
        .checked_mul(u128::from(term_ms))?;
    Some(numerator.div_ceil(BPS * u128::from(YEAR_MS)).max(1))
}

/// Whether `capital` meets the pool's minimum capital ratio for `cover`.
fn solvent(terms: &PoolTerms, capital: u128, cover: u128) -> bool {
    match (
        capital.checked_mul(BPS),
        cover.checked_mul(u128::from(terms.min_capital_ratio_bps)),
    ) {
        (Some(left), Some(right)) => left >= right,
        (None, _) => true,
        (Some(_), None) => false,
    }
}

fn check_terms(terms: &PoolTerms) -> Result<(), ActionError> {
    let bad = |why: String| refuse(ErrorCode::BadPoolTerms, why);
    if terms.products.is_empty() || terms.products.len() > MAX_PRODUCTS {
        return bad(format!("a pool offers 1..={MAX_PRODUCTS} products"));
    }
    for product in &terms.products {
        if product.name.is_empty()
            || product.name.len() > MAX_PRODUCT_NAME
            || product.name.chars().any(char::is_control)
        {
            return bad(format!(
                "a product name is 1..={MAX_PRODUCT_NAME} bytes of printable text"
            ));
        }
        match &product.coverage {
            Coverage::Indemnity {
                diagnosis_codes,
                currency,
                units_per_cent,
                ..
            } => {
                if diagnosis_codes.is_empty()
                    || diagnosis_codes.len() > MAX_RULE_CODES
                    || !diagnosis_codes.iter().all(|c| is_code(c))
                {
                    return bad(format!(
                        "an indemnity product names 1..={MAX_RULE_CODES} diagnosis codes"
                    ));
                }
                if currency.len() != 3 || !currency.bytes().all(|b| b.is_ascii_uppercase()) {
                    return bad("the currency is an ISO 4217 code such as USD".into());
                }
                if *units_per_cent == 0 {
                    return bad("units_per_cent must be positive".into());
                }
            }
            Coverage::Parametric { per_day, max_days } => {
                if *per_day == 0 || *max_days == 0 {
                    return bad("per_day and max_days must be positive".into());
                }
            }
        }
    }
    if terms.premium_rate_bps == 0 || u128::from(terms.premium_rate_bps) > BPS {
        return bad("the premium rate is 1..=10000 basis points a year".into());
    }
    if u128::from(terms.min_capital_ratio_bps) < BPS {
        return bad("the minimum capital ratio is at least 10000 (every policy funded)".into());
    }
    if terms.max_cover == 0 {
        return bad("max_cover must be positive".into());
    }
    if terms.lockup_ms > MAX_LOCKUP_MS {
        return bad(format!("the lockup is at most {MAX_LOCKUP_MS} ms"));
    }
    Ok(())
}

/// The insurance module.
pub struct Insurance;

impl Module for Insurance {
    const PREFIX: &'static str = PREFIX;
    type Action = InsuranceAction;
    type Cache = ();
    type Genesis = InsuranceGenesis;

    fn init_genesis(
        state: &mut Overlay<'_>,
        genesis: &InsuranceGenesis,
    ) -> Result<(), GenesisError> {
        crate::params::init(state, params_key(), &genesis.params, "insurance")
    }

    fn check(_tx: &TxOrigin<'_>, action: &InsuranceAction) -> Result<(), ActionError> {
        match action {
            InsuranceAction::CreatePool { terms } => check_terms(terms),
            InsuranceAction::Deposit { amount, .. } if *amount == 0 => {
                refuse(ErrorCode::BadAmount, "the deposit is zero")
            }
            InsuranceAction::Withdraw { shares, .. } if *shares == 0 => {
                refuse(ErrorCode::BadAmount, "no shares to redeem")
            }
            InsuranceAction::BuyPolicy { term_ms, .. }
                if !(MIN_TERM_MS..=MAX_TERM_MS).contains(term_ms) =>
            {
                refuse(
                    ErrorCode::BadTerm,
                    format!("a term is {MIN_TERM_MS}..={MAX_TERM_MS} ms"),
                )
            }
            InsuranceAction::FileClaim { amount, .. }
            | InsuranceAction::FileClaimForInsured { amount, .. }
                if *amount == 0 =>
            {
                refuse(ErrorCode::BadAmount, "the amount asked is zero")
            }
            _ => Ok(()),
        }
    }

    fn execute(
        ctx: &TxContext<'_>,
        _cache: &(),
        state: &mut Overlay<'_>,
        action: &InsuranceAction,
        events: &mut Events,
    ) -> ExecResult<()> {
        let me = ctx.tx.signer;
        let now = ctx.timestamp_ms;
        match action {
            InsuranceAction::CreatePool { terms } => {
                if identity::role(state, &me, Role::Insurer)?.is_none() {
                    return reject(
                        ErrorCode::NotAnInsurer,
                        format!("{} holds no attested insurer role", me.did()),
                    );
                }
                let id: u64 = read(state, &next_pool_key())?.unwrap_or(1);
                let pool = Pool {
                    id,
                    insurer: me,
                    terms: terms.clone(),
                    capital: 0,
                    shares: 0,
                    active_cover: 0,
                    deposited: 0,
                    premiums: 0,
                    paid_out: 0,
                    withdrawn: 0,
                    granted: 0,
                };
                write(state, next_pool_key(), &(id + 1));
                write(state, pool_key(id), &pool);
                events.emit(InsuranceEvent::PoolCreated {
                    pool: id,
                    insurer: me,
                });
            }
            InsuranceAction::Deposit { pool: id, amount } => {
                let mut pool = existing_pool(state, *id)?;
                let shares = if pool.shares == 0 {
                    *amount
                } else {
                    let scaled = amount
                        .checked_mul(pool.shares)
                        .ok_or_else(|| ActionError::new(ErrorCode::Overflow, "shares overflow"))?;
                    // Claims paid out all the capital: its shares are worth nothing.
                    scaled.checked_div(pool.capital).ok_or_else(|| {
                        ActionError::new(
                            ErrorCode::PoolInsolvent,
                            format!("pool {id} has shares but no capital"),
                        )
                    })?
                };
                if shares == 0 {
                    return reject(
                        ErrorCode::DepositTooSmall,
                        "the deposit is worth less than one share",
                    );
                }
                let overflow =
                    || ActionError::new(ErrorCode::Overflow, "the pool's books overflow");
                pool.capital = pool.capital.checked_add(*amount).ok_or_else(overflow)?;
                pool.deposited = pool.deposited.checked_add(*amount).ok_or_else(overflow)?;
                pool.shares = pool.shares.checked_add(shares).ok_or_else(overflow)?;
                token::transfer(state, &me, &custody(), *amount, events)?;
                let mut position = position(state, *id, &me)?.unwrap_or(Position {
                    shares: 0,
                    unlocks_ms: 0,
                });
                position.shares += shares;
                position.unlocks_ms = now + pool.terms.lockup_ms;
                write(state, position_key(*id, &me), &position);
                write(state, pool_key(*id), &pool);
                events.emit(InsuranceEvent::Deposited {
                    pool: *id,
                    provider: me,
                    amount: *amount,
                    shares,
                });
            }
            InsuranceAction::Withdraw { pool: id, shares } => {
                let mut pool = existing_pool(state, *id)?;
                let Some(mut position) = position(state, *id, &me)? else {
                    return reject(
                        ErrorCode::NotEnoughShares,
                        format!("{} holds no shares of pool {id}", me.did()),
                    );
                };
                if position.shares < *shares {
                    return reject(
                        ErrorCode::NotEnoughShares,
                        format!("the position holds {} shares", position.shares),
                    );
                }
                if now < position.unlocks_ms {
                    return reject(
                        ErrorCode::StillLocked,
                        format!("the position unlocks at {} ms", position.unlocks_ms),
                    );
                }
                let amount = shares
                    .checked_mul(pool.capital)
                    .ok_or_else(|| ActionError::new(ErrorCode::Overflow, "redemption overflows"))?
                    / pool.shares;
                let capital = pool.capital - amount;
                if !solvent(&pool.terms, capital, pool.active_cover) {
                    return reject(
                        ErrorCode::CapitalRatio,
                        format!(
                            "the pool must keep capital for {} of active cover",
                            pool.active_cover
                        ),
                    );
                }
                if amount > 0 {
                    token::transfer(state, &custody(), &me, amount, events)?;
                }
                pool.capital = capital;
                pool.withdrawn = pool.withdrawn.checked_add(amount).ok_or_else(|| {
                    ActionError::new(ErrorCode::Overflow, "the pool's books overflow")
                })?;
                pool.shares -= shares;
                position.shares -= shares;
                if position.shares == 0 {
                    state.delete(position_key(*id, &me));
                } else {
                    write(state, position_key(*id, &me), &position);
                }
                write(state, pool_key(*id), &pool);
                events.emit(InsuranceEvent::Withdrawn {
                    pool: *id,
                    provider: me,
                    amount,
                    shares: *shares,
                });
            }
            InsuranceAction::BuyPolicy {
                pool: id,
                product,
                holder,
                cover,
                term_ms,
            } => {
                let mut pool = existing_pool(state, *id)?;
                if usize::from(*product) >= pool.terms.products.len() {
                    return reject(
                        ErrorCode::BadProduct,
                        format!("pool {id} has {} products", pool.terms.products.len()),
                    );
                }
                if *cover == 0 || *cover > pool.terms.max_cover {
                    return reject(
                        ErrorCode::BadCover,
                        format!("cover is 1..={} base units", pool.terms.max_cover),
                    );
                }
                // Premiums paid into a pool without providers would belong to
                // whoever deposited first.
                if pool.shares == 0 {
                    return reject(
                        ErrorCode::NoLiquidity,
                        format!("pool {id} has no liquidity providers"),
                    );
                }
                identity::require_live(state, holder)?;
                let premium = premium(&pool.terms, *cover, *term_ms).ok_or_else(|| {
                    ActionError::new(ErrorCode::Overflow, "the premium overflows")
                })?;
                let overflow =
                    || ActionError::new(ErrorCode::Overflow, "the pool's books overflow");
                let share = premium
                    .checked_mul(u128::from(params(state)?.treasury_share_bps))
                    .ok_or_else(overflow)?
                    / BPS;
                let kept = premium - share;
                let capital = pool.capital.checked_add(kept).ok_or_else(overflow)?;
                let active_cover = pool.active_cover.checked_add(*cover).ok_or_else(overflow)?;
                let premiums = pool.premiums.checked_add(kept).ok_or_else(overflow)?;
                if !solvent(&pool.terms, capital, active_cover) {
                    return reject(
                        ErrorCode::CapitalRatio,
                        format!("pool {id} lacks the capital for this cover"),
                    );
                }
                token::transfer(state, &me, &custody(), kept, events)?;
                if share > 0 {
                    token::transfer(state, &me, &treasury::account(), share, events)?;
                }
                pool.capital = capital;
                pool.premiums = premiums;
                pool.active_cover = active_cover;
                let policy_id: u64 = read(state, &next_policy_key())?.unwrap_or(1);
                let policy = Policy {
                    id: policy_id,
                    pool: *id,
                    product: *product,
                    holder: *holder,
                    payer: me,
                    cover: *cover,
                    remaining: *cover,
                    pending: 0,
                    premium,
                    starts_ms: now,
                    ends_ms: now + term_ms,
                    released: false,
                };
                write(state, next_policy_key(), &(policy_id + 1));
                write(state, policy_key(policy_id), &policy);
                write(state, holder_policy_key(holder, policy_id), &());
                write(state, pool_key(*id), &pool);
                expiry::queue_expiry(state, &policy)?;
                if read::<u64>(state, &expiry_cursor_key())?.is_none() {
                    write(state, expiry_cursor_key(), &(now / EXPIRY_BUCKET_MS));
                }
                events.emit(InsuranceEvent::PolicyBought {
                    policy: policy_id,
                    pool: *id,
                    holder: *holder,
                    payer: me,
                    cover: *cover,
                    premium,
                    ends_ms: policy.ends_ms,
                });
            }
            InsuranceAction::FileClaim {
                policy,
                evidence,
                amount,
                payee,
            } => {
                let filing = claims::Filing::new(*policy, evidence, *amount, *payee, None);
                claims::file(ctx, state, filing, events)?;
            }
            InsuranceAction::FileClaimForInsured {
                policy,
                evidence,
                amount,
                payee,
                authorization,
            } => {
                let authorization = Some(*authorization);
                let filing = claims::Filing::new(*policy, evidence, *amount, *payee, authorization);
                claims::file(ctx, state, filing, events)?;
            }
        }
        Ok(())
    }

    fn end_block(
        ctx: &BlockContext<'_>,
        state: &mut Overlay<'_>,
        events: &mut Events,
    ) -> ExecResult<()> {
        claims::settle_closed(ctx, state, events)?;
        expiry::release_ended(ctx, state, events)
    }
}

/// Queues `policy` in the first bucket from its end with room: a full bucket
/// delays a release by a minute rather than growing without bound.
/// Adds `amount` from `from` to a pool's capital without minting shares
/// (a treasury grant): every provider's shares gain value. A pool without
/// providers takes none, or its first depositor would own the gift.
pub fn grant(
    state: &mut Overlay<'_>,
    from: &AccountId,
    id: u64,
    amount: u128,
    events: &mut Events,
) -> ExecResult<()> {
    let mut pool = grantable(state, id)?;
    let overflow = || ActionError::new(ErrorCode::Overflow, "the pool's books overflow");
    pool.capital = pool.capital.checked_add(amount).ok_or_else(overflow)?;
    pool.granted = pool.granted.checked_add(amount).ok_or_else(overflow)?;
    token::transfer(state, from, &custody(), amount, events)?;
    state.confine(PREFIX, |state| write(state, pool_key(id), &pool));
    events.emit(InsuranceEvent::Granted {
        pool: id,
        from: *from,
        amount,
    });
    Ok(())
}

/// The pool `id`, if it exists and has providers to take a grant.
pub fn grantable(state: &dyn StateRead, id: u64) -> ExecResult<Pool> {
    let pool = existing_pool(state, id)?;
    if pool.shares == 0 {
        return reject(
            ErrorCode::NoLiquidity,
            format!("pool {id} has no liquidity providers"),
        );
    }
    Ok(pool)
}

fn existing_pool(state: &dyn StateRead, id: u64) -> ExecResult<Pool> {
    match pool(state, id)? {
        Some(pool) => Ok(pool),
        None => reject(ErrorCode::PoolNotFound, format!("pool {id} is unknown")),
    }
}
