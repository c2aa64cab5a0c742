//! `salus`: the one binary for every role.

mod cli;
mod commands;
mod output;

use clap::Parser as _;

/// jemalloc instead of the C library's allocator. Validators allocate and free
/// small objects (tree nodes, overlays, encoded transactions) on many threads;
/// glibc kept returning heap to the kernel and faulting it back in (figures in
/// `docs/decisions/jemalloc-allocator.md`).
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
