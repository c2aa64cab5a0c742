//! The command line: global options, the list of commands, and dispatch.
//! Each command's arguments and work live in `commands/<name>.rs`.

use std::path::PathBuf;

use anyhow::Result;
use clap::{Parser, Subcommand};

use crate::commands::{
    audit, bench, claim, consent, credential, demo, dev, did, gateway, gov, keys, node, oracle,
    policy, pool, query, record, role, sim, stake, testnet, tx,
};

#[derive(Parser, Debug)]
#[command(
    name = "salus",
    version,
    about = "Salus: a decentralized healthcare network node and client"
)]
pub struct Cli {
    /// Print machine-readable JSON instead of prose.
    #[arg(long, global = true)]
    pub json: bool,
    /// The node's HTTP API.
    #[arg(
        long,
        global = true,
        env = "SALUS_NODE",
        default_value = "http://127.0.0.1:8545"
    )]
    pub node: String,
    /// Where encrypted key files live.
    #[arg(long, global = true, env = "SALUS_KEYSTORE")]
    pub keystore: Option<PathBuf>,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Start a throwaway chain and walk through Salus end to end.
    Demo(demo::DemoArgs),
    /// Run a single-validator dev chain.
    Dev(dev::DevArgs),
    /// Run one validator of a network from its node file (see `testnet init`).
    Node(node::NodeArgs),
    /// Lay out and run a local multi-validator network on loopback.
    #[command(subcommand)]
    Testnet(testnet::TestnetCommand),
    /// Manage encrypted keys.
    #[command(subcommand)]
    Keys(keys::KeysCommand),
    /// Register, show and rotate DIDs.
    #[command(subcommand)]
    Did(did::DidCommand),
    /// Attest or revoke roles (genesis authorities only).
    #[command(subcommand)]
    Role(role::RoleCommand),
    /// Build, sign and submit transactions.
    #[command(subcommand)]
    Tx(tx::TxCommand),
    /// Read chain state.
    #[command(subcommand)]
    Query(query::QueryCommand),
    /// Write, read and list encrypted health records (FHIR R4 JSON).
    #[command(subcommand)]
    Record(record::RecordCommand),
    /// Grant, revoke and list consent.
    #[command(subcommand)]
    Consent(consent::ConsentCommand),
    /// Verifiable credentials: define, issue, revoke, request, present,
    /// verify, claim a role, export as W3C.
    #[command(subcommand)]
    Credential(credential::CredentialCommand),
    /// A patient's audit trail: who accessed what, when, allowed or denied, and why.
    Audit(audit::AuditArgs),
    /// Serve FHIR R4 at /fhir with a key from the keystore, for EHRs and FHIR clients.
    Gateway(gateway::GatewayArgs),
    /// Bond as an oracle, unbond, show, and run the oracle daemon.
    #[command(subcommand)]
    Oracle(oracle::OracleCommand),
    /// Insurance pools: create, deposit, withdraw, show.
    #[command(subcommand)]
    Pool(pool::PoolCommand),
    /// Buy cover and show policies.
    #[command(subcommand)]
    Policy(policy::PolicyCommand),
    /// File claims that oracles settle, and follow them.
    #[command(subcommand)]
    Claim(claim::ClaimCommand),
    /// Bond tokens for voting power, unbond, withdraw, delegate.
    #[command(subcommand)]
    Stake(stake::StakeCommand),
    /// Propose parameter changes, vote, follow proposals.
    #[command(subcommand)]
    Gov(gov::GovCommand),
    /// Measure performance.
    #[command(subcommand)]
    Bench(bench::BenchCommand),
    /// Run seeded deterministic simulations of a validator network under
    /// faults, and print the seed of any that breaks safety or liveness.
    Sim(sim::SimArgs),
}

pub fn dispatch(cli: Cli) -> Result<()> {
    let ctx = crate::output::Context::new(&cli);
    match cli.command {
        Command::Demo(args) => demo::run(&ctx, args),
        Command::Dev(args) => dev::run(&ctx, args),
        Command::Node(args) => node::run(&ctx, args),
        Command::Testnet(command) => testnet::run(&ctx, command),
        Command::Keys(command) => keys::run(&ctx, command),
        Command::Did(command) => did::run(&ctx, command),
        Command::Role(command) => role::run(&ctx, command),
        Command::Tx(command) => tx::run(&ctx, command),
        Command::Query(command) => query::run(&ctx, command),
        Command::Record(command) => record::run(&ctx, command),
        Command::Consent(command) => consent::run(&ctx, command),
        Command::Audit(args) => audit::run(&ctx, args),
        Command::Oracle(command) => oracle::run(&ctx, command),
        Command::Gateway(args) => gateway::run(&ctx, args),
        Command::Pool(command) => pool::run(&ctx, command),
        Command::Policy(command) => policy::run(&ctx, command),
        Command::Claim(command) => claim::run(&ctx, command),
        Command::Stake(command) => stake::run(&ctx, command),
        Command::Gov(command) => gov::run(&ctx, command),
        Command::Credential(command) => credential::run(&ctx, command),
        Command::Bench(command) => bench::run(&ctx, command),
        Command::Sim(args) => sim::run(&ctx, args),
    }
}
