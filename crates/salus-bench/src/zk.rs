//! `salus bench zk`: issuing, proving and verifying credentials.
//!
//! Two presentations of one immunization credential: `disclosure_only`
//! discloses two attributes and proves nothing else; `full` discloses the
//! same two and proves three range predicates, membership of a hidden code
//! in a published set and non-revocation, in one presentation (whose proof
//! has two parts, made and checked on two cores). Each figure is the median
//! of `--runs` runs; `RAYON_NUM_THREADS=1` shows the one-core cost.

use std::time::Instant;

use anyhow::{anyhow, ensure, Result};
use salus_zk::{
    catalog, AttributeKind as Kind, AttributeValue as V, Issuer, Predicate, Presentation,
    PresentationRequest, PublicSet, Schema,
};
use serde_json::json;

use crate::load::machine;
use crate::Report;

#[derive(clap::Args, Debug)]
pub struct ZkArgs {
    /// Runs per figure (the median is reported).
    #[arg(long, default_value_t = 25)]
    pub runs: usize,
}

fn median(mut samples: Vec<f64>) -> f64 {
    samples.sort_by(f64::total_cmp);
    samples[samples.len() / 2]
}

fn millis(started: Instant) -> f64 {
    started.elapsed().as_secs_f64() * 1_000.0
}

fn request(definition: &str, full: bool, run: usize) -> PresentationRequest {
    let mut nonce = vec![0u8; 32];
    nonce[..8].copy_from_slice(&(run as u64).to_le_bytes());
    let predicates = if full {
        vec![
            Predicate::InSet {
                attribute: "vaccine_code".into(),
                set: "cvx-covid-19".into(),
            },
            Predicate::AtLeast {
                attribute: "occurrence_date".into(),
                min: V::Date(2021_06_01),
            },
            Predicate::AtMost {
                attribute: "birth_date".into(),
                max: V::Date(2008_11_22),
            },
            Predicate::Between {
                attribute: "dose_ml".into(),
                min: V::Decimal(25),
                max: V::Decimal(50),
            },
        ]
    } else {
        vec![]
    };
    PresentationRequest {
        definition: definition.into(),
        nonce,
        reveal: vec!["vaccine_target".into(), "issuer_site".into()],
        predicates,
        check_revocation: full,
    }
}

pub fn zk(args: ZkArgs) -> Result<Report> {
    ensure!(args.runs > 0, "--runs must be at least 1");
    let zk = |e: salus_zk::ZkError| anyhow!(e);
    // The catalog's immunization, and two attributes the request discloses.
    let attributes = [
        catalog::IMMUNIZATION,
        &[("vaccine_target", Kind::Text), ("issuer_site", Kind::Text)],
    ]
    .concat();
    let schema = Schema::new("bench-immunization-v1", &attributes).map_err(zk)?;
    let mut issuer = Issuer::new("did:salus:bench#immunization-v1", schema, 4_096).map_err(zk)?;
    let set = PublicSet::publish("cvx-covid-19", catalog::COVID19_CVX).map_err(zk)?;
    let definition = issuer.definition().clone();
    let status = issuer.status();
    let values = vec![
        V::Text("Ada Lovelace".into()),
        V::Date(1990_04_12),
        V::Text("208".into()),
        V::Date(2021_09_30),
        V::Text("LOT-4471".into()),
        V::Decimal(30),
        V::Text("COVID-19".into()),
        V::Text("General Hospital".into()),
    ];

    let mut parts = serde_json::Map::new();
    for (name, full) in [("disclosure_only", false), ("full", true)] {
        let (mut issue, mut prove, mut verify) = (vec![], vec![], vec![]);
        let mut proof_bytes = 0;
        for run in 0..args.runs {
            let started = Instant::now();
            let credential = issuer.issue(values.clone()).map_err(zk)?;
            issue.push(millis(started));
            let request = request(&definition.id, full, run);
            let started = Instant::now();
            let presentation =
                Presentation::create(&credential, &definition, &request, &status, &[&set])
                    .map_err(zk)?;
            prove.push(millis(started));
            let started = Instant::now();
            presentation
                .verify(&definition, &request, &status, &[&set])
                .map_err(zk)?;
            verify.push(millis(started));
            proof_bytes = presentation.proof.len();
        }
        parts.insert(
            name.into(),
            json!({
                "issue_ms": median(issue),
                "prove_ms": median(prove),
                "verify_ms": median(verify),
                "proof_bytes": proof_bytes,
            }),
        );
    }
    let report = json!({
        "disclosure_only": parts["disclosure_only"],
        "full": parts["full"],
        "runs": args.runs,
        "attributes": 8,
        "full_statement": "2 disclosed; 3 range predicates (dates and a decimal); hidden code in a published set; not revoked",
        "machine": machine(),
    });
    let summary = {
        let line = |part: &serde_json::Value| {
            format!(
                "issue {:.1} ms, prove {:.1} ms, verify {:.1} ms, proof {} bytes",
                part["issue_ms"].as_f64().unwrap_or_default(),
                part["prove_ms"].as_f64().unwrap_or_default(),
                part["verify_ms"].as_f64().unwrap_or_default(),
                part["proof_bytes"]
            )
        };
        format!(
            "disclosure only: {}\nfull:            {}\n(medians of {} runs)",
            line(&report["disclosure_only"]),
            line(&report["full"]),
            args.runs
        )
    };
    Ok(Report {
        json: report,
        summary,
    })
}
