//! `salus bench fhir`: the FHIR gateway against a dev chain, measured as an
//! EHR sees it, over HTTP.
//!
//! - creates: `POST /fhir/Observation` by many concurrent clients; each
//!   answer means validated, sealed, anchored until final and stored;
//! - the index is then filled with transaction Bundles to `--indexed`
//!   resources;
//! - reads: `GET /fhir/Observation/{id}`: a signed vault read (consent check,
//!   durable audit entry), opened against its anchor;
//! - searches: `GET /fhir/Observation?code=…&date=ge…&_count=20` over the
//!   whole index, each result read through the vault.

use std::time::{Duration, Instant};

use anyhow::{bail, ensure, Context as _, Result};
use futures::StreamExt as _;
use salus_client::record_flow::Actor;
use salus_client::{actions, Client, Signer};
use salus_crypto::{AgreementSecret, SigningKey};
use salus_node::layout::dev::{dev_chain, DEV_PASSPHRASE};
use salus_types::clock::now_ms;
use salus_types::identity::Role;
use serde_json::{json, Value};

use crate::load::{machine, BenchNode};
use crate::Report;

#[derive(clap::Args, Debug)]
pub struct FhirArgs {
    /// Resources created one `POST` at a time, by `--clients` clients at once.
    #[arg(long, default_value_t = 3_000)]
    pub creates: usize,
    /// Resources in the index when reads and searches are measured (the
    /// rest arrive as transaction Bundles).
    #[arg(long, default_value_t = 100_000)]
    pub indexed: usize,
    #[arg(long, default_value_t = 10_000)]
    pub reads: usize,
    #[arg(long, default_value_t = 1_000)]
    pub searches: usize,
    /// Concurrent EHR clients.
    #[arg(long, default_value_t = 64)]
    pub clients: usize,
}

/// Resources per transaction Bundle while filling the index: as many as one
/// Salus transaction anchors.
const FILL_BUNDLE: usize = salus_types::MAX_ACTIONS_PER_TX;
/// Distinct codes the Observations carry (a search matches about 1 in this).
const CODES: usize = 200;
/// Patients the resources belong to.
const PATIENTS: usize = 20;
const TOKEN: &str = "salus-bench-fhir-token-0000000000";

fn party(chain_id: &str) -> Actor {
    Actor {
        signer: Signer::new(chain_id, SigningKey::generate(), 0),
        agreement: AgreementSecret::generate(),
    }
}

fn observation(n: usize, patient: &str) -> Value {
    json!({
        "resourceType": "Observation",
        "status": "final",
        "code": {"coding": [{"system": "http://loinc.org", "code": format!("{}-{}", 1000 + n % CODES, n % 7)}]},
        "subject": {"identifier": {"system": "urn:ietf:rfc:3986", "value": patient}},
        "effectiveDateTime": salus_types::calendar::fhir_instant(1_767_225_600_000 + (n as u64 % 365) * 86_400_000),
        "valueQuantity": {"value": 60 + n % 60, "unit": "/min", "system": "http://unitsofmeasure.org", "code": "/min"},
    })
}

/// Figures of one kind of request.
fn figures(mut latencies: Vec<Duration>, elapsed: Duration) -> Value {
    latencies.sort();
    let at = |q: f64| {
        let index = ((latencies.len() as f64 - 1.0) * q).round() as usize;
        latencies
            .get(index)
            .map_or(0.0, |d| (d.as_secs_f64() * 1e4).round() / 10.0)
    };
    json!({
        "count": latencies.len(),
        "per_s": (latencies.len() as f64 / elapsed.as_secs_f64()).round(),
        "p50_ms": at(0.5),
        "p99_ms": at(0.99),
    })
}

/// Sends `requests` with `clients` in flight; each must answer `expected`.
async fn drive(
    http: &reqwest::Client,
    requests: Vec<reqwest::RequestBuilder>,
    clients: usize,
    expected: reqwest::StatusCode,
) -> Result<(Vec<(Duration, Value)>, Duration)> {
    let _ = http;
    let start = Instant::now();
    let answers: Vec<Result<(Duration, Value)>> = futures::stream::iter(requests)
        .map(|request| async move {
            let begun = Instant::now();
            let response = request.bearer_auth(TOKEN).send().await?;
            let status = response.status();
            let bytes = response.bytes().await?;
            // `Prefer: return=minimal` answers with no body.
            let body: Value = if bytes.is_empty() {
                Value::Null
            } else {
                serde_json::from_slice(&bytes)?
            };
            if status != expected {
                bail!("the gateway answered {status}: {body}");
            }
            Ok((begun.elapsed(), body))
        })
        .buffer_unordered(clients)
        .collect()
        .await;
    let elapsed = start.elapsed();
    Ok((answers.into_iter().collect::<Result<Vec<_>>>()?, elapsed))
}

pub fn fhir(args: FhirArgs) -> Result<Report> {
    ensure!(
        args.indexed >= args.creates,
        "--indexed counts the creates too"
    );
    let dir = tempfile::tempdir()?;
    let chain = dev_chain(dir.path(), DEV_PASSPHRASE.as_bytes(), None, now_ms())?;
    let chain_id = chain.genesis.chain_id.clone();
    let bench = BenchNode::start(dir.path(), chain.genesis.clone(), &chain.validator, 200_000)?;
    let client = bench.client.clone();
    // The gateway and its clients get both cores' worth of async workers.
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    let result = runtime.block_on(async {
        let mut authority = Signer::new(chain_id.clone(), chain.authority.signing.clone(), 0);
        let hospital = party(&chain_id);
        let mut members = vec![party(&chain_id)];
        for _ in 0..PATIENTS {
            members.push(party(&chain_id));
        }
        for member in members.iter_mut().chain(std::iter::once(&mut Actor {
            signer: Signer::new(chain_id.clone(), hospital.signer.key.clone(), 0),
            agreement: hospital.agreement.clone(),
        })) {
            let tx = member.signer.sign(vec![actions::register_did(
                member.agreement.public_key(),
                vec![],
            )]);
            let outcome = client.submit_and_wait(&tx).await?;
            ensure!(
                outcome.receipt.succeeded(),
                "registering a DID: {}",
                outcome.receipt.message
            );
        }
        let tx = authority.sign(vec![actions::attest_role(
            hospital.signer.account,
            Role::Provider,
        )]);
        ensure!(
            client.submit_and_wait(&tx).await?.receipt.succeeded(),
            "attesting the hospital"
        );
        let patients: Vec<String> = members[1..]
            .iter()
            .map(|m| m.account().did().to_string())
            .collect();

        let config = salus_gateway::Config {
            listen: "127.0.0.1:0".parse()?,
            token: TOKEN.into(),
            refresh: salus_gateway::DEFAULT_REFRESH,
        };
        let gateway = salus_gateway::start(config, Client::new(client.base().to_owned()), hospital)
            .await
            .context("starting the gateway")?;
        let base = gateway.base.clone();
        let http = reqwest::Client::builder()
            .pool_max_idle_per_host(args.clients)
            .build()?;

        // Creates, one resource per request.
        let requests = (0..args.creates)
            .map(|n| {
                http.post(format!("{base}/Observation"))
                    .header("content-type", "application/fhir+json")
                    .header("prefer", "return=minimal")
                    .body(observation(n, &patients[n % PATIENTS]).to_string())
            })
            .collect();
        let (created, elapsed) =
            drive(&http, requests, args.clients, reqwest::StatusCode::CREATED).await?;
        let creates = figures(created.iter().map(|(d, _)| *d).collect(), elapsed);

        // Fill the index with transaction Bundles.
        let start = Instant::now();
        let bundles: Vec<reqwest::RequestBuilder> = (args.creates..args.indexed)
            .collect::<Vec<_>>()
            .chunks(FILL_BUNDLE)
            .map(|chunk| {
                let entries: Vec<Value> = chunk
                    .iter()
                    .map(|n| {
                        json!({"resource": observation(*n, &patients[n % PATIENTS]),
                        "request": {"method": "POST", "url": "Observation"}})
                    })
                    .collect();
                http.post(&base)
                    .header("content-type", "application/fhir+json")
                    .body(
                        json!({"resourceType": "Bundle", "type": "transaction", "entry": entries})
                            .to_string(),
                    )
            })
            .collect();
        let (filled, _) = drive(&http, bundles, args.clients, reqwest::StatusCode::OK).await?;
        let fill_elapsed = start.elapsed();
        let filled_count: usize = filled
            .iter()
            .map(|(_, b)| b["entry"].as_array().map_or(0, Vec::len))
            .sum();
        ensure!(
            filled_count + args.creates == args.indexed,
            "filled {filled_count} resources"
        );

        // Reads of random created resources.
        let ids: Vec<String> = filled
            .iter()
            .flat_map(|(_, b)| b["entry"].as_array().cloned().unwrap_or_default())
            .filter_map(|e| e["resource"]["id"].as_str().map(str::to_owned))
            .collect();
        ensure!(!ids.is_empty(), "no resource ids to read");
        let requests = (0..args.reads)
            .map(|n| {
                http.get(format!(
                    "{base}/Observation/{}",
                    ids[(n * 7919) % ids.len()]
                ))
            })
            .collect();
        let (read, elapsed) = drive(&http, requests, args.clients, reqwest::StatusCode::OK).await?;
        let reads = figures(read.iter().map(|(d, _)| *d).collect(), elapsed);

        // Searches over the whole index.
        let requests = (0..args.searches)
            .map(|n| {
                http.get(format!(
                    "{base}/Observation?code=http://loinc.org|{}-{}&date=ge2026-03-01&_count=20",
                    1000 + n % CODES,
                    n % 7
                ))
            })
            .collect();
        let (found, elapsed) = drive(&http, requests, 8, reqwest::StatusCode::OK).await?;
        let matched: u64 = found
            .iter()
            .map(|(_, b)| b["total"].as_u64().unwrap_or_default())
            .sum();
        ensure!(matched > 0, "the searches matched nothing");
        let searches = figures(found.iter().map(|(d, _)| *d).collect(), elapsed);
        gateway.stop();
        Ok::<_, anyhow::Error>(json!({
            "bench": "fhir",
            "creates_per_s": creates["per_s"],
            "reads_per_s": reads["per_s"],
            "searches_per_s": searches["per_s"],
            "creates": creates,
            "reads": reads,
            "searches": searches,
            "fill": {
                "resources": filled_count,
                "per_bundle": FILL_BUNDLE,
                "per_s": (filled_count as f64 / fill_elapsed.as_secs_f64()).round(),
            },
            "indexed": args.indexed,
            "mean_search_total": matched / args.searches as u64,
            "clients": args.clients,
            "goals": {"creates_per_s": 3000, "reads_per_s": 10000, "search_p50_ms": 20},
            "machine": machine(),
        }))
    });
    bench.node.stop()?;
    let value = result?;
    let summary = format!(
        "FHIR gateway: {} creates/s (p50 {} ms), {} reads/s (p50 {} ms), search over {} resources p50 {} ms ({} searches/s)",
        value["creates_per_s"], value["creates"]["p50_ms"], value["reads_per_s"], value["reads"]["p50_ms"],
        value["indexed"], value["searches"]["p50_ms"], value["searches_per_s"]
    );
    Ok(Report {
        json: value,
        summary,
    })
}
