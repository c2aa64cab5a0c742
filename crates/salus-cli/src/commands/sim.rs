//! `salus sim`: seeded deterministic simulations of a four-validator network
//! under faults (see `salus-sim`). Seeds run on every core; each failure is
//! printed as it happens with the command that replays it, and the exit code
//! is non-zero if any seed failed.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;

use anyhow::{bail, ensure, Result};
use serde_json::json;

use crate::output::Context;

#[derive(clap::Args, Debug)]
pub struct SimArgs {
    /// How many seeds to run.
    #[arg(long, default_value_t = 100)]
    pub seeds: u64,
    /// The first seed; seeds run from here upward.
    #[arg(long, default_value_t = 1)]
    pub first: u64,
    /// Simulations run at once (default: one per core).
    #[arg(long)]
    pub jobs: Option<usize>,
    /// Print every seed's outcome, not only failures and progress.
    #[arg(long)]
    pub verbose: bool,
}

pub fn run(ctx: &Context, args: SimArgs) -> Result<()> {
    ensure!(args.seeds > 0, "--seeds must be at least 1");
    let Some(end) = args.first.checked_add(args.seeds) else {
        bail!("--first + --seeds overflows a 64-bit seed");
    };
    let jobs = args
        .jobs
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()))
        .clamp(1, 64);
    let next = AtomicU64::new(args.first);
    let done = AtomicU64::new(0);
    let failures = Mutex::new(Vec::new());
    let started = std::time::Instant::now();
    std::thread::scope(|scope| {
        for _ in 0..jobs {
            scope.spawn(|| loop {
                let seed = next.fetch_add(1, Ordering::Relaxed);
                if seed >= end {
                    return;
                }
                // A panic inside a simulation is a failure of that seed, not of the run.
                let outcome = std::panic::catch_unwind(|| salus_sim::run(seed)).unwrap_or_else(|_| {
                    Err(salus_sim::Violation::Broken {
                        seed,
                        reason: "a validator panicked".into(),
                    })
                });
                let finished = done.fetch_add(1, Ordering::Relaxed) + 1;
                match outcome {
                    Ok(report) if args.verbose => eprintln!(
                        "seed {seed}: ok, heights {:?}, {} transactions, faults {:?}",
                        report.heights, report.transactions, report.faults
                    ),
                    Ok(_) => {}
                    Err(violation) => {
                        eprintln!("FAILED {violation} (replay: salus sim --first {seed} --seeds 1 --verbose)");
                        failures.lock().expect("no thread panics holding it").push(seed);
                    }
                }
                if finished.is_multiple_of(100) {
                    eprintln!("{finished}/{} seeds run", args.seeds);
                }
            });
        }
    });
    let mut failed = failures.into_inner().expect("no thread panics holding it");
    failed.sort_unstable();
    let seconds = started.elapsed().as_secs_f64();
    ctx.emit(
        &json!({
            "seeds": args.seeds,
            "first": args.first,
            "failed": failed,
            "seconds": seconds,
            "jobs": jobs,
        }),
        || {
            format!(
                "{} seeds from {} in {seconds:.1} s on {jobs} threads: {} failed{}",
                args.seeds,
                args.first,
                failed.len(),
                if failed.is_empty() {
                    String::new()
                } else {
                    format!(" (seeds {failed:?})")
                }
            )
        },
    );
    ensure!(
        failed.is_empty(),
        "{} of {} seeds failed",
        failed.len(),
        args.seeds
    );
    Ok(())
}
