//! `salus bench`: measure performance (see `salus-bench`). Each prints one
//! JSON object with `--json`, or a line for people.

use anyhow::Context as _;
use anyhow::Result;
use clap::Subcommand;
use salus_bench::{claims, fhir, governance, load, records, testnet, zk, Report};

use crate::output::Context;

#[derive(Subcommand, Debug)]
pub enum BenchCommand {
    /// Token-transfer throughput and submit-to-final latency on a dev chain.
    Tps(load::TpsArgs),
    /// Encrypted record writes and authorized reads per second (4 KiB and 1 MiB).
    Records(records::RecordsArgs),
    /// Insurance claims settled end to end by three oracle daemons: claims/s
    /// and file-to-payout latency.
    Claims(claims::ClaimsArgs),
    /// Votes per second on one proposal with many voters, and the cost of
    /// the block that closes it (on the state machine).
    Governance(governance::GovernanceArgs),
    /// Throughput and finality of a multi-validator network on this machine.
    Testnet(testnet::TestnetArgs),
    /// Credential issuance, presentation proving and verification, proof size.
    Zk(zk::ZkArgs),
    /// The FHIR gateway over HTTP: creates, reads and searches per second, with p50 and p99.
    Fhir(fhir::FhirArgs),
}

pub fn run(ctx: &Context, command: BenchCommand) -> Result<()> {
    let report: Report = match command {
        BenchCommand::Tps(args) => load::tps(args)?,
        BenchCommand::Records(args) => records::records(args)?,
        BenchCommand::Testnet(args) => {
            // The network bench is the one whose nodes' logs explain a bad figure.
            if std::env::var_os("SALUS_LOG").is_some() {
                super::node::init_logging();
            }
            testnet::testnet(args)?
        }
        BenchCommand::Zk(args) => zk::zk(args)?,
        BenchCommand::Fhir(args) => fhir::fhir(args)?,
        BenchCommand::Governance(args) => governance::governance(args)?,
        BenchCommand::Claims(args) => {
            let salus = std::env::current_exe().context("cannot find the salus binary")?;
            claims::claims(args, &salus)?
        }
    };
    ctx.emit(&report.json, || report.summary);
    Ok(())
}
