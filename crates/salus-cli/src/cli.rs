//! Command-line grammar and dispatch.

use std::net::SocketAddr;
use std::path::PathBuf;

use anyhow::Result;
use clap::{Args, Parser, Subcommand};

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
    Demo(DemoArgs),
    /// Run a single-validator dev chain.
    Dev(DevArgs),
    /// Run one validator of a network from its node file (see `testnet init`).
    Node(NodeArgs),
    /// Lay out and run a local multi-validator network on loopback.
    #[command(subcommand)]
    Testnet(TestnetCommand),
    /// Manage encrypted keys.
    #[command(subcommand)]
    Keys(KeysCommand),
    /// Register, show and rotate DIDs.
    #[command(subcommand)]
    Did(DidCommand),
    /// Attest or revoke roles (genesis authorities only).
    #[command(subcommand)]
    Role(RoleCommand),
    /// Build, sign and submit transactions.
    #[command(subcommand)]
    Tx(TxCommand),
    /// Read chain state.
    #[command(subcommand)]
    Query(QueryCommand),
    /// Write, read and list encrypted health records (FHIR R4 JSON).
    #[command(subcommand)]
    Record(RecordCommand),
    /// Grant, revoke and list consent.
    #[command(subcommand)]
    Consent(ConsentCommand),
    /// Verifiable credentials: define, issue, revoke, request, present,
    /// verify, claim a role, export as W3C.
    #[command(subcommand)]
    Credential(crate::credentials::CredentialCommand),
    /// A patient's audit trail: who accessed what, when, allowed or denied, and why.
    Audit(AuditArgs),
    /// Measure performance.
    #[command(subcommand)]
    Bench(BenchCommand),
    /// Run seeded deterministic simulations of a validator network under
    /// faults, and print the seed of any that breaks safety or liveness.
    Sim(crate::sim::SimArgs),
}

#[derive(Args, Debug)]
pub struct DevArgs {
    /// Data directory (created on first start, reused after).
    #[arg(long, default_value = ".salus-dev")]
    pub data_dir: PathBuf,
    #[arg(long, default_value = "127.0.0.1:8545")]
    pub http: SocketAddr,
    #[arg(long, default_value = "127.0.0.1:26656")]
    pub p2p: SocketAddr,
    /// Keep vault blobs in this S3-compatible endpoint instead of the data
    /// directory (credentials from AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY).
    #[arg(long, requires = "vault_s3_bucket")]
    pub vault_s3_endpoint: Option<String>,
    #[arg(long, requires = "vault_s3_endpoint")]
    pub vault_s3_bucket: Option<String>,
    #[arg(long, default_value = "us-east-1")]
    pub vault_s3_region: String,
}

#[derive(Args, Debug)]
pub struct DemoArgs {
    /// Run the demo on a network of this many validators (on loopback).
    #[arg(long, default_value_t = 1)]
    pub validators: usize,
}

#[derive(Args, Debug)]
pub struct NodeArgs {
    /// The node's TOML file.
    #[arg(long)]
    pub config: PathBuf,
}

#[derive(Subcommand, Debug)]
pub enum TestnetCommand {
    /// Write genesis, encrypted keys and one node file per validator into a folder.
    Init {
        #[arg(long, default_value_t = 4)]
        validators: usize,
        #[arg(long)]
        dir: PathBuf,
        /// Node i uses p2p port base+2i and HTTP port base+2i+1.
        #[arg(long, default_value_t = 27_000)]
        base_port: u16,
    },
    /// Run every node of a laid-out testnet as a child process until Ctrl-C.
    Up {
        #[arg(long)]
        dir: PathBuf,
    },
}

#[derive(Subcommand, Debug)]
pub enum KeysCommand {
    /// Create a new key pair (ed25519 signing + x25519 agreement).
    New { name: String },
    /// List keys in the keystore.
    List,
    /// Show a key's public parts and DIDs.
    Show { name: String },
}

#[derive(Subcommand, Debug)]
pub enum DidCommand {
    /// Register did:salus for a key's account.
    Register {
        #[arg(long)]
        key: String,
        /// A service as `id=type=endpoint`, e.g. `vault=SalusVault=https://vault.example`.
        #[arg(long = "service")]
        services: Vec<String>,
    },
    /// Resolve a did:salus or did:key.
    Show { did: String },
    /// Rotate an account to a new key (the new key must be in the keystore).
    Rotate {
        #[arg(long)]
        key: String,
        #[arg(long)]
        new_key: String,
    },
}

#[derive(Subcommand, Debug)]
pub enum RoleCommand {
    /// Attest that a DID holds a role.
    Attest {
        #[arg(long)]
        key: String,
        #[arg(long)]
        subject: String,
        #[arg(long)]
        role: String,
    },
    /// Revoke a role attestation.
    Revoke {
        #[arg(long)]
        key: String,
        #[arg(long)]
        subject: String,
        #[arg(long)]
        role: String,
    },
}

#[derive(Subcommand, Debug)]
pub enum TxCommand {
    /// Transfer tokens (base units).
    Transfer {
        #[arg(long)]
        key: String,
        #[arg(long)]
        to: String,
        #[arg(long)]
        amount: u128,
    },
    /// Status and receipt of a transaction.
    Status { hash: String },
}

#[derive(Subcommand, Debug)]
pub enum QueryCommand {
    /// Node status.
    Status,
    /// An account's nonce, balance and roles.
    Account { account: String },
    /// A finalized block (`latest` for the tip).
    Block { height: String },
    /// A raw state key (hex) with its proof, verified against the block header.
    State {
        key: String,
        #[arg(long)]
        height: Option<u64>,
    },
    /// A token balance, proven against the latest header.
    Balance { account: String },
    /// Events that concern an account.
    Events {
        account: String,
        #[arg(long, default_value_t = 20)]
        limit: usize,
    },
}

#[derive(Subcommand, Debug)]
pub enum RecordCommand {
    /// Encrypt a FHIR R4 resource or Bundle for a patient, anchor it and store it.
    Put {
        /// The writer: the patient, or a provider.
        #[arg(long)]
        key: String,
        /// The patient the record belongs to (did:salus or account id).
        #[arg(long)]
        patient: String,
        /// The FHIR JSON file.
        #[arg(long)]
        file: std::path::PathBuf,
        /// Write a new version of this record instead of a new record.
        #[arg(long)]
        record: Option<String>,
        /// Coarse category (otherwise taken from the resource type).
        #[arg(long)]
        category: Option<String>,
    },
    /// Fetch and decrypt a record (consent is checked and the access audited).
    Get {
        #[arg(long)]
        key: String,
        #[arg(long)]
        record: String,
        /// A version; the latest when absent.
        #[arg(long)]
        version: Option<u32>,
        /// Why: treatment, payment, operations, research, public_health, emergency.
        #[arg(long, default_value = "treatment")]
        purpose: String,
        /// Write the FHIR JSON here instead of standard output.
        #[arg(long)]
        out: Option<std::path::PathBuf>,
    },
    /// A patient's records (ids, categories, versions; never content).
    List {
        #[arg(long)]
        patient: String,
    },
    /// A record's versions as anchored on chain.
    History {
        #[arg(long)]
        record: String,
    },
    /// Erase a record: every vault deletes its ciphertext and keys.
    Erase {
        #[arg(long)]
        key: String,
        #[arg(long)]
        record: String,
    },
}

#[derive(Subcommand, Debug)]
pub enum ConsentCommand {
    /// Let a grantee read records, and share the keys of the records covered.
    Grant {
        /// The patient's key (the grant is signed by it).
        #[arg(long)]
        key: String,
        #[arg(long)]
        grantee: String,
        #[arg(long)]
        purpose: String,
        /// `all`, `categories:laboratory,imaging` or `records:<id>,<id>`.
        #[arg(long, default_value = "all")]
        scope: String,
        /// How long the grant runs: `90m`, `12h`, `30d`.
        #[arg(long, default_value = "30d")]
        expires: String,
    },
    /// Revoke a grant; the next finalized block enforces it.
    Revoke {
        #[arg(long)]
        key: String,
        #[arg(long)]
        grant: u64,
    },
    /// A patient's grants, delegations and emergency policy.
    List {
        #[arg(long)]
        patient: String,
    },
    /// Opt in to break-glass access by named responders (their keys are wrapped in advance).
    Emergency {
        #[arg(long)]
        key: String,
        /// A provider who may break the glass (repeat for several).
        #[arg(long = "responder", required = true)]
        responders: Vec<String>,
        /// How long one break-glass access lasts: `30m`, `4h`.
        #[arg(long, default_value = "4h")]
        window: String,
    },
    /// As a named responder, open time-limited emergency access to a patient.
    BreakGlass {
        #[arg(long)]
        key: String,
        #[arg(long)]
        patient: String,
        /// unconscious, life_threatening or urgent_care.
        #[arg(long)]
        reason: String,
    },
}

#[derive(Args, Debug)]
pub struct AuditArgs {
    #[arg(long)]
    pub patient: String,
    #[arg(long, default_value_t = 100)]
    pub limit: usize,
}

#[derive(Subcommand, Debug)]
pub enum BenchCommand {
    /// Token-transfer throughput and submit-to-final latency on a dev chain.
    Tps(crate::bench::TpsArgs),
    /// Encrypted record writes and authorized reads per second (4 KiB and 1 MiB).
    Records(crate::bench_records::RecordsArgs),
    /// Throughput and finality of a multi-validator network on this machine.
    Testnet(crate::bench_testnet::TestnetArgs),
    /// Credential issuance, presentation proving and verification, proof size.
    Zk(crate::bench_zk::ZkArgs),
}

pub fn dispatch(cli: Cli) -> Result<()> {
    let ctx = crate::output::Context::new(&cli);
    match cli.command {
        Command::Demo(args) => crate::demo::run(&ctx, args),
        Command::Dev(args) => crate::dev::run(&ctx, args),
        Command::Node(args) => crate::testnet::node(&ctx, args),
        Command::Testnet(command) => crate::testnet::run(&ctx, command),
        Command::Keys(command) => crate::keys::run(&ctx, command),
        Command::Did(command) => crate::txs::did(&ctx, command),
        Command::Role(command) => crate::txs::role(&ctx, command),
        Command::Tx(command) => crate::txs::tx(&ctx, command),
        Command::Query(command) => crate::query::run(&ctx, command),
        Command::Record(command) => crate::records::record(&ctx, command),
        Command::Consent(command) => crate::records::consent(&ctx, command),
        Command::Audit(args) => crate::records::audit(&ctx, args),
        Command::Sim(args) => crate::sim::run(&ctx, args),
        Command::Credential(command) => crate::credentials::run(&ctx, command),
        Command::Bench(BenchCommand::Tps(args)) => crate::bench::tps(&ctx, args),
        Command::Bench(BenchCommand::Records(args)) => crate::bench_records::records(&ctx, args),
        Command::Bench(BenchCommand::Testnet(args)) => crate::bench_testnet::testnet(&ctx, args),
        Command::Bench(BenchCommand::Zk(args)) => crate::bench_zk::zk(&ctx, args),
    }
}
