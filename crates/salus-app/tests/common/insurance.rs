//! A cast for the oracle and insurance tests: an insurer, two liquidity
//! providers, a patient, a hospital, four bonded oracles and a stranger, on
//! a chain and a follower that must agree on every root.

use salus_app::{insurance, oracle, token};
use salus_types::epochs::EpochsGenesis;
use salus_types::governance::{GovernanceGenesis, GovernanceParams};
use salus_types::identity::Role;
use salus_types::insurance::{
    Claim, Coverage, InsuranceAction, InsuranceGenesis, InsuranceParams, Pool, PoolTerms, Product,
};
use salus_types::oracle::{Answer, Evidence, OracleAction, Question};
use salus_types::records::{Category, RecordId};
use salus_types::token::{Allocation, TokenGenesis};
use salus_types::{AccountId, Action, ErrorCode, Event, Genesis, Receipt, Tx};

use super::records::{anchor, attest};
use super::{genesis, Net, User};

pub const FUNDS: u128 = 1_000_000_000;
pub const BOND: u128 = 100_000;
/// Blocks a claim's committee has (each test block is one second).
pub const DEADLINE: u64 = 10;
pub const FEE: u128 = 10;
/// Governance's voting period and timelock, in blocks.
/// Short epochs, so that validator changes take effect within a test.
pub const EPOCH_BLOCKS: u64 = 12;
pub const VOTING: u64 = 4;
pub const TIMELOCK: u64 = 2;

pub struct Cast {
    pub net: Net,
    pub authority: User,
    pub insurer: User,
    pub lps: [User; 2],
    pub patient: User,
    pub hospital: User,
    pub oracles: Vec<User>,
    pub stranger: User,
}

pub fn indemnity() -> Product {
    Product {
        name: "hospital indemnity".into(),
        coverage: Coverage::Indemnity {
            diagnosis_codes: vec!["J18.9".into(), "S72.001A".into()],
            currency: "USD".into(),
            units_per_cent: 1,
            deductible: 5_000,
        },
    }
}

pub fn parametric() -> Product {
    Product {
        name: "inpatient cash".into(),
        coverage: Coverage::Parametric {
            per_day: 20_000,
            max_days: 30,
        },
    }
}

pub fn terms() -> PoolTerms {
    PoolTerms {
        products: vec![indemnity(), parametric()],
        premium_rate_bps: 500,
        min_capital_ratio_bps: 10_000,
        max_cover: 1_000_000,
        lockup_ms: 30_000,
    }
}

impl Cast {
    pub fn new() -> Cast {
        let authority = User::new(1);
        let insurer = User::new(10);
        let lps = [User::new(11), User::new(12)];
        let patient = User::new(13);
        let hospital = User::new(14);
        let oracles: Vec<User> = (20..24).map(User::new).collect();
        let stranger = User::new(15);
        let mut everyone: Vec<&User> = vec![&insurer, &lps[0], &lps[1], &patient, &hospital];
        everyone.extend(oracles.iter());
        everyone.push(&stranger);
        let genesis = Genesis {
            token: TokenGenesis {
                denom: "usal".into(),
                allocations: everyone
                    .iter()
                    .map(|u| Allocation {
                        account: u.id,
                        amount: FUNDS,
                    })
                    .collect(),
            },
            insurance: InsuranceGenesis {
                params: InsuranceParams {
                    oracle_fee: FEE,
                    claim_deadline_blocks: DEADLINE,
                    claim_grant_ms: 3_600_000,
                    treasury_share_bps: 100,
                },
            },
            epochs: EpochsGenesis {
                epoch_blocks: EPOCH_BLOCKS,
            },
            // Quick governance, without a weight cap: the governance tests
            // that use this cast test what proposals do, not how they pass.
            governance: GovernanceGenesis {
                params: GovernanceParams {
                    min_deposit: 100,
                    voting_blocks: VOTING,
                    timelock_blocks: TIMELOCK,
                    cap_bps: 10_000,
                    ..GovernanceParams::default()
                },
            },
            ..genesis(&authority, 1_700_000_000_000)
        };
        let mut cast = Cast {
            net: Net::new(&genesis),
            authority,
            insurer,
            lps,
            patient,
            hospital,
            oracles,
            stranger,
        };
        let mut registrations = vec![
            cast.authority.register(),
            cast.insurer.register(),
            cast.lps[0].register(),
            cast.lps[1].register(),
            cast.patient.register(),
            cast.hospital.register(),
            cast.stranger.register(),
        ];
        registrations.extend(cast.oracles.iter_mut().map(User::register));
        cast.all_ok(&registrations);
        let mut roles = vec![
            attest(&mut cast.authority, &cast.insurer, Role::Insurer),
            attest(&mut cast.authority, &cast.hospital, Role::Provider),
            attest(&mut cast.authority, &cast.patient, Role::Patient),
        ];
        for oracle in &cast.oracles {
            roles.push(attest(&mut cast.authority, oracle, Role::Oracle));
        }
        cast.all_ok(&roles);
        let bonds: Vec<Tx> = cast
            .oracles
            .iter_mut()
            .map(|o| o.tx(vec![OracleAction::Bond { amount: BOND }.into()]))
            .collect();
        cast.all_ok(&bonds);
        cast
    }

    pub fn all_ok(&self, txs: &[Tx]) -> Vec<Receipt> {
        let receipts = self.net.block(txs);
        for receipt in receipts.iter().take(txs.len()) {
            assert_eq!(receipt.code, ErrorCode::Ok, "{}", receipt.message);
        }
        receipts
    }

    /// A pool funded by both providers; returns its id.
    pub fn funded_pool(&mut self, each: u128) -> u64 {
        let create = self
            .insurer
            .tx(vec![InsuranceAction::CreatePool { terms: terms() }.into()]);
        self.all_ok(&[create]);
        let id = insurance::pool_count(&self.snapshot()).unwrap();
        let deposits: Vec<Tx> = self
            .lps
            .iter_mut()
            .map(|lp| {
                lp.tx(vec![InsuranceAction::Deposit {
                    pool: id,
                    amount: each,
                }
                .into()])
            })
            .collect();
        self.all_ok(&deposits);
        id
    }

    pub fn buy(&mut self, pool: u64, product: u16, cover: u128, term_ms: u64) -> Tx {
        let holder = self.patient.id;
        self.patient.tx(vec![InsuranceAction::BuyPolicy {
            pool,
            product,
            holder,
            cover,
            term_ms,
        }
        .into()])
    }

    /// The hospital anchors a fresh record for the patient.
    pub fn evidence(&mut self) -> Evidence {
        let record = RecordId::random();
        let tx = anchor(
            &mut self.hospital,
            record,
            self.patient.id,
            Category::Financial,
            1,
            None,
        );
        self.all_ok(&[tx]);
        Evidence { record, version: 1 }
    }

    pub fn file(&mut self, policy: u64, evidence: Vec<Evidence>, amount: u128) -> Tx {
        let payee = self.patient.id;
        self.patient.tx(vec![InsuranceAction::FileClaim {
            policy,
            evidence,
            amount,
            payee,
        }
        .into()])
    }

    pub fn answer(&mut self, oracle: AccountId, question: u64, answer: Answer) -> Tx {
        let user = self
            .oracles
            .iter_mut()
            .find(|o| o.id == oracle)
            .expect("an oracle of the cast");
        user.tx(vec![Action::Oracle(OracleAction::Answer {
            question,
            answer,
        })])
    }

    pub fn snapshot(&self) -> salus_state::Snapshot {
        self.net.chain.store().snapshot().unwrap()
    }

    pub fn pool(&self, id: u64) -> Pool {
        insurance::pool(&self.snapshot(), id).unwrap().unwrap()
    }

    pub fn claim(&self, id: u64) -> Claim {
        insurance::claim(&self.snapshot(), id).unwrap().unwrap()
    }

    pub fn question(&self, id: u64) -> Question {
        oracle::question(&self.snapshot(), id).unwrap().unwrap()
    }

    pub fn balance(&self, account: &AccountId) -> u128 {
        token::balance(&self.snapshot(), account).unwrap()
    }

    pub fn supply(&self) -> u128 {
        token::total_supply(&self.snapshot()).unwrap()
    }

    /// Empty blocks half a minute apart until the block time passes `ms`
    /// (each sweeps at most one policy-expiry bucket).
    pub fn wait_until(&self, ms: u64) -> Vec<Receipt> {
        let mut receipts = Vec::new();
        while self.net.now() <= ms {
            receipts.extend(self.net.block_after(&[], 30_000));
        }
        receipts
    }

    /// Empty blocks until the chain's height is `height`.
    pub fn advance_to(&self, height: u64) -> Vec<Receipt> {
        let mut receipts = Vec::new();
        while self.net.chain.tip().0.height < height {
            receipts.extend(self.net.block(&[]));
        }
        receipts
    }
}

/// The events of `receipts` that `pick` selects.
pub fn events<T>(receipts: &[Receipt], pick: impl Fn(&Event) -> Option<T>) -> Vec<T> {
    receipts
        .iter()
        .flat_map(|r| &r.events)
        .filter_map(pick)
        .collect()
}
