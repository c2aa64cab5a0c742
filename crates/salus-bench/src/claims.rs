//! `salus bench claims`: insurance claims settled end to end on a dev node,
//! by three oracle daemons running as processes of their own.
//!
//! Set-up (not timed): parties with DIDs and roles, three bonded oracles, a
//! funded pool, a policy per patient, and per patient a FHIR Claim written
//! by a hospital as an encrypted record. Timed, per claim: the patient signs
//! and submits the claim; once it is final, the patient's client wraps the
//! record's key to the committee the chain drew; each daemon reads the
//! record through the vault (purpose payment, audited), evaluates the rule
//! and answers; the pool pays in the block where two answers agree.
//! Latency is from the claim's submission to the block that pays it.

use std::collections::HashMap;
use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::{bail, ensure, Context as _, Result};
use futures::{StreamExt as _, TryStreamExt as _};
use salus_app::{insurance, oracle};
use salus_client::record_flow::{Actor, RecordFlow};
use salus_client::{actions, Client, Signer};
use salus_crypto::keystore::KeyPair;
use salus_node::layout::dev::dev_genesis;
use salus_oracle::process::Daemons;
use salus_types::identity::Role;
use salus_types::insurance::{Coverage, InsuranceAction, InsuranceEvent, PoolTerms, Product};
use salus_types::oracle::{Evidence, OracleAction};
use salus_types::token::Allocation;
use salus_types::{AccountId, Action, Event, Receipt, Tx};
use serde_json::json;

use crate::load::{machine, BenchNode};
use crate::Report;

#[derive(clap::Args, Debug)]
pub struct ClaimsArgs {
    /// Claims to settle, one per patient.
    #[arg(long, default_value_t = 300)]
    pub claims: usize,
}

/// Hospitals writing the claims' records in parallel during set-up.
const HOSPITALS: usize = 8;
/// Patients sharing keys with their committees at once.
const SHARES_IN_FLIGHT: usize = 64;
/// Claims submitted per API call.
const FILE_BATCH: usize = 100;
/// Each patient's policy term.
const TERM_MS: u64 = 30 * 86_400_000;
/// How long the timed phase may take.
const TIMEOUT: Duration = Duration::from_secs(300);

fn party(chain_id: &str, keys: &KeyPair) -> Actor {
    Actor {
        signer: Signer::new(chain_id, keys.signing.clone(), 0),
        agreement: keys.agreement.clone(),
    }
}

/// A FHIR Claim for a pneumonia admission at `admitted_ms` (after the
/// policies began).
fn claim_resource(index: usize, admitted_ms: u64) -> Vec<u8> {
    let today = salus_types::calendar::fhir_instant(admitted_ms);
    json!({
        "resourceType": "Claim", "status": "active", "use": "claim",
        "type": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/claim-type", "code": "institutional"}]},
        "created": today, "billablePeriod": {"start": today},
        "identifier": [{"value": format!("bench-claim-{index}")}],
        "diagnosis": [{"sequence": 1, "diagnosisCodeableConcept": {"coding": [
            {"system": "http://hl7.org/fhir/sid/icd-10", "code": "J18.9"}]}}],
        "total": {"value": 2_400.00 + index as f64, "currency": "USD"}
    })
    .to_string()
    .into_bytes()
}

/// Submits `txs` and waits until each is final and succeeded.
async fn settle_all(client: &Client, txs: &[Tx]) -> Result<Vec<Receipt>> {
    for chunk in txs.chunks(1_000) {
        client.submit_batch(chunk).await?;
    }
    let mut receipts = Vec::with_capacity(txs.len());
    for tx in txs {
        let outcome = client
            .wait_final(&tx.hash(), Duration::from_secs(60))
            .await?;
        ensure!(
            outcome.receipt.succeeded(),
            "set-up transaction failed: {}",
            outcome.receipt.message
        );
        receipts.push(outcome.receipt);
    }
    Ok(receipts)
}

pub fn claims(args: ClaimsArgs, salus: &Path) -> Result<Report> {
    ensure!(args.claims > 0, "--claims must be positive");
    let dir = tempfile::tempdir().context("cannot create a temporary directory")?;
    let validator = salus_crypto::SigningKey::generate();
    let authority_keys = KeyPair::generate();
    let authority_id = AccountId::from_public_key(&authority_keys.signing.public_key());
    let insurer_keys = KeyPair::generate();
    let lp_keys = KeyPair::generate();
    let oracle_keys: Vec<KeyPair> = (0..3).map(|_| KeyPair::generate()).collect();
    let hospital_keys: Vec<KeyPair> = (0..HOSPITALS).map(|_| KeyPair::generate()).collect();
    let patient_keys: Vec<KeyPair> = (0..args.claims).map(|_| KeyPair::generate()).collect();
    let id = |keys: &KeyPair| AccountId::from_public_key(&keys.signing.public_key());
    let mut extra = vec![
        Allocation {
            account: id(&lp_keys),
            amount: 1_000_000_000_000,
        },
        Allocation {
            account: id(&insurer_keys),
            amount: 1_000_000,
        },
    ];
    for keys in oracle_keys.iter().chain(&patient_keys) {
        extra.push(Allocation {
            account: id(keys),
            amount: 10_000_000,
        });
    }
    let genesis = dev_genesis(
        &validator,
        &authority_id,
        salus_types::clock::now_ms(),
        extra,
    );
    let chain_id = genesis.chain_id.clone();
    let bench = BenchNode::start(dir.path(), genesis, &validator, 100_000)?;
    let client = bench.client.clone();
    let node_url = client.base().to_owned();
    let chain = bench.node.handle.chain.clone();
    let mut finalized = bench.finalized.resubscribe();

    let measured = bench.runtime.block_on(async {
        let mut authority = party(&chain_id, &authority_keys);
        let mut insurer = party(&chain_id, &insurer_keys);
        let mut lp = party(&chain_id, &lp_keys);
        let mut oracles: Vec<Actor> = oracle_keys.iter().map(|k| party(&chain_id, k)).collect();
        let mut hospitals: Vec<Actor> = hospital_keys.iter().map(|k| party(&chain_id, k)).collect();
        let mut patients: Vec<Actor> = patient_keys.iter().map(|k| party(&chain_id, k)).collect();

        // Everyone registers; the authority funds the hospitals and attests roles.
        let mut setup: Vec<Tx> = Vec::new();
        for actor in std::iter::once(&mut insurer)
            .chain(std::iter::once(&mut lp))
            .chain(oracles.iter_mut())
            .chain(hospitals.iter_mut())
            .chain(patients.iter_mut())
        {
            let agreement = actor.agreement.public_key();
            setup.push(
                actor
                    .signer
                    .sign(vec![actions::register_did(agreement, vec![])]),
            );
        }
        settle_all(&client, &setup).await?;
        let mut roles = vec![actions::attest_role(insurer.account(), Role::Insurer)];
        roles.extend(
            oracles
                .iter()
                .map(|o| actions::attest_role(o.account(), Role::Oracle)),
        );
        roles.extend(
            hospitals
                .iter()
                .map(|h| actions::attest_role(h.account(), Role::Provider)),
        );
        let attest: Vec<Tx> = roles
            .chunks(8)
            .map(|chunk| authority.signer.sign(chunk.to_vec()))
            .collect();
        settle_all(&client, &attest).await?;

        let terms = PoolTerms {
            products: vec![Product {
                name: "hospital indemnity".into(),
                coverage: Coverage::Indemnity {
                    diagnosis_codes: vec!["J18.9".into()],
                    currency: "USD".into(),
                    units_per_cent: 1,
                    deductible: 10_000,
                },
            }],
            premium_rate_bps: 500,
            min_capital_ratio_bps: 10_000,
            max_cover: 1_000_000,
            lockup_ms: 0,
        };
        let mut funding = vec![insurer
            .signer
            .sign(vec![InsuranceAction::CreatePool { terms }.into()])];
        funding.extend(oracles.iter_mut().map(|o| {
            o.signer
                .sign(vec![OracleAction::Bond { amount: 100_000 }.into()])
        }));
        settle_all(&client, &funding).await?;
        let deposit = lp.signer.sign(vec![InsuranceAction::Deposit {
            pool: 1,
            amount: 1_000_000_000_000,
        }
        .into()]);
        settle_all(&client, &[deposit]).await?;
        let buys: Vec<Tx> = patients
            .iter_mut()
            .map(|p| {
                let holder = p.account();
                p.signer.sign(vec![InsuranceAction::BuyPolicy {
                    pool: 1,
                    product: 0,
                    holder,
                    cover: 1_000_000,
                    term_ms: TERM_MS,
                }
                .into()])
            })
            .collect();
        let bought = settle_all(&client, &buys).await?;
        let mut policies: HashMap<AccountId, u64> = HashMap::new();
        let mut last_end = 0;
        for event in bought.iter().flat_map(|r| &r.events) {
            if let Event::Insurance(InsuranceEvent::PolicyBought {
                policy,
                holder,
                ends_ms,
                ..
            }) = event
            {
                policies.insert(*holder, *policy);
                last_end = last_end.max(*ends_ms);
            }
        }
        // The next whole second after the last policy began.
        let admitted_ms = ((last_end - TERM_MS) / 1000 + 1) * 1000;

        // The hospitals write one Claim per patient, in parallel.
        let patient_ids: Vec<AccountId> = patients.iter().map(Actor::account).collect();
        let written: Vec<Vec<(AccountId, Evidence)>> =
            futures::future::try_join_all(hospitals.iter_mut().enumerate().map(|(h, hospital)| {
                let client = client.clone();
                let mine: Vec<(usize, AccountId)> = patient_ids
                    .iter()
                    .copied()
                    .enumerate()
                    .filter(|(i, _)| i % HOSPITALS == h)
                    .collect();
                async move {
                    let flow = RecordFlow::connect(&client).await?;
                    let mut out = Vec::with_capacity(mine.len());
                    for (i, patient) in mine {
                        let put = flow
                            .put(
                                hospital,
                                patient,
                                None,
                                None,
                                &claim_resource(i, admitted_ms),
                            )
                            .await?;
                        out.push((
                            patient,
                            Evidence {
                                record: put.record,
                                version: put.version,
                            },
                        ));
                    }
                    Ok::<_, anyhow::Error>(out)
                }
            }))
            .await?;
        let evidence: HashMap<AccountId, Evidence> = written.into_iter().flatten().collect();

        let keystore = dir.path().join("oracle-keys");
        let _daemons = Daemons(
            oracle_keys
                .iter()
                .enumerate()
                .map(|(i, keys)| {
                    salus_oracle::process::spawn(
                        salus,
                        &node_url,
                        &keystore,
                        &format!("oracle-{i}"),
                        keys,
                        None,
                    )
                })
                .collect::<Result<_, _>>()?,
        );

        let vault = client.vault_account().await?;
        // Timed: file every claim, share keys as each is final, and watch payouts.
        let start = Instant::now();
        let mut filed_at: HashMap<AccountId, Instant> = HashMap::new();
        let files: Vec<Tx> = patients
            .iter_mut()
            .map(|p| {
                let holder = p.account();
                let action = InsuranceAction::FileClaim {
                    policy: policies[&holder],
                    evidence: vec![evidence[&holder]],
                    amount: 1_000_000,
                    payee: holder,
                };
                p.signer.sign(vec![Action::from(action)])
            })
            .collect();
        // Patients file independently; their submissions arrive in batches.
        for (chunk, txs) in patients.chunks(FILE_BATCH).zip(files.chunks(FILE_BATCH)) {
            let now = Instant::now();
            filed_at.extend(chunk.iter().map(|p| (p.account(), now)));
            client.submit_batch(txs).await?;
        }
        let shares = futures::stream::iter(patients.iter().zip(&files))
            .map(|(patient, tx)| {
                let client = client.clone();
                let chain = chain.clone();
                let record = evidence[&patient.account()];
                async move {
                    client
                        .wait_final(&tx.hash(), Duration::from_secs(120))
                        .await?;
                    let snapshot = chain.store().snapshot()?;
                    let claim = insurance::claims_of(&snapshot, &patient.account(), None, 1)?
                        .pop()
                        .context("a filed claim is missing")?;
                    let question = oracle::question(&snapshot, claim.question)?
                        .context("a claim's question is missing")?;
                    let committee: Vec<AccountId> =
                        question.committee.iter().map(|m| m.oracle).collect();
                    // Each patient's own client: its own key cache.
                    let flow = RecordFlow {
                        client: &client,
                        vault,
                        clock: salus_types::clock::system_clock(),
                        keys: Default::default(),
                    };
                    flow.share(patient, &committee, &[(record.record, record.version)])
                        .await?;
                    Ok::<_, anyhow::Error>(())
                }
            })
            .buffer_unordered(SHARES_IN_FLIGHT)
            .try_collect::<Vec<()>>();
        let shares = async {
            let shared = shares.await;
            (shared, start.elapsed().as_secs_f64())
        };
        let watch = async {
            let mut latencies = Vec::with_capacity(args.claims);
            let mut last = start;
            while latencies.len() < args.claims {
                let notice = tokio::time::timeout(TIMEOUT, finalized.recv())
                    .await
                    .context("no block finalized for minutes")??;
                let snapshot = chain.store().snapshot()?;
                let index = u32::try_from(notice.tx_hashes.len())?;
                let Some(receipt) = snapshot.receipt(notice.height, index)? else {
                    continue;
                };
                for event in &receipt.events {
                    if let Event::Insurance(InsuranceEvent::ClaimPaid { holder, .. }) = event {
                        if let Some(at) = filed_at.get(holder) {
                            latencies
                                .push(notice.at.saturating_duration_since(*at).as_secs_f64() * 1e3);
                            last = notice.at;
                        }
                    }
                }
                if start.elapsed() > TIMEOUT {
                    bail!(
                        "{} of {} claims settled in {TIMEOUT:?}",
                        latencies.len(),
                        args.claims
                    );
                }
            }
            Ok::<_, anyhow::Error>((latencies, last))
        };
        let ((shared, keys_shared_s), watched) = tokio::join!(shares, watch);
        shared?;
        let (mut latencies, last) = watched?;
        let seconds = last.saturating_duration_since(start).as_secs_f64();
        latencies.sort_by(f64::total_cmp);
        Ok::<_, anyhow::Error>((latencies, seconds, keys_shared_s))
    });
    let (latencies, seconds, keys_shared_s) = measured?;
    bench.node.stop()?;
    let settled = latencies.len();
    let percentile = |p: f64| latencies[((settled as f64 - 1.0) * p).round() as usize];
    let claims_per_s = settled as f64 / seconds.max(f64::EPSILON);
    let json = json!({
        "bench": "claims",
        "claims": settled,
        "oracles": 3,
        "claims_per_s": claims_per_s,
        "p50_ms": percentile(0.5),
        "p99_ms": percentile(0.99),
        "seconds": seconds,
        // When the last patient had filed and shared keys with its committee.
        "keys_shared_s": keys_shared_s,
        "machine": machine(),
    });
    let summary = format!(
        "{settled} claims settled by 3 oracle daemons in {seconds:.1} s: {claims_per_s:.0} claims/s, file to payout p50 {:.0} ms, p99 {:.0} ms",
        percentile(0.5),
        percentile(0.99)
    );
    Ok(Report { json, summary })
}
