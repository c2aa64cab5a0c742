//! `salus`: the one binary for every role.

mod bench;
mod bench_records;
mod bench_testnet;
mod bench_zk;
mod cli;
mod credentials;
mod demo;
mod demo_credentials;
mod dev;
mod keys;
mod output;
mod query;
mod records;
mod sim;
mod testnet;
mod txs;

use clap::Parser as _;

fn main() {
    let args = cli::Cli::parse();
    let json = args.json;
    if let Err(error) = cli::dispatch(args) {
        if json {
            let body = serde_json::json!({"error": {"message": format!("{error:#}")}});
            println!("{body}");
        } else {
            eprintln!("error: {error:#}");
        }
        std::process::exit(1);
    }
}
