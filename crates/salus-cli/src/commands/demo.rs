//! `salus demo`: a throwaway chain and a tour of every capability (see
//! `salus-demo`).

use anyhow::{Context as _, Result};
use clap::Args;

use crate::output::Context;

#[derive(Args, Debug)]
pub struct DemoArgs {
    /// Run the demo on a network of this many validators (on loopback).
    #[arg(long, default_value_t = 1)]
    pub validators: usize,
}

pub fn run(ctx: &Context, args: DemoArgs) -> Result<()> {
    let narrate = |line: &str| {
        if !ctx.json {
            println!("{line}");
        }
    };
    let salus = std::env::current_exe().context("cannot find the salus binary")?;
    let report = salus_demo::run(args.validators, &narrate, &salus)?;
    if ctx.json {
        println!("{}", crate::output::pretty(&report));
    }
    Ok(())
}
