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

/// jemalloc instead of the C library's allocator. A validator allocates and
/// frees millions of small objects a second (tree nodes, overlays, encoded
/// transactions) from many threads. glibc kept returning memory to the kernel
/// and taking it back, page fault by page fault: on the 4-validator bench at
/// 7,000 tx/s it spent about a quarter of its CPU in malloc, free and page
/// clearing, and jemalloc kept about 0.13 of the 2 cores free.
#[cfg(all(unix, not(target_env = "musl")))]
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

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
