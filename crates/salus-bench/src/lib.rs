//! Salus benchmarks: each runs real nodes on this machine and measures a
//! whole path end to end. `salus bench <name> --json` prints a [`Report`]'s
//! JSON, one object; the figures and their history are in
//! `docs/decisions/`.
//!
//! - [`load`]: `tps`, token transfers through one dev node, and the load
//!   driver the network bench shares;
//! - [`records`]: encrypted record writes and consent-checked reads;
//! - [`claims`]: insurance claims settled by oracle daemons, file to payout;
//! - [`governance`]: votes on one proposal and the cost of closing it, on
//!   the state machine;
//! - [`testnet`]: a validator network at saturation and at half load;
//! - [`zk`]: credential issuance, proving and verification;
//! - [`fhir`]: the FHIR gateway's creates, reads and searches over HTTP.
//!
//! A harness of the `salus` binary, so its errors are `anyhow`'s, like the
//! binary's own (see `docs/decisions/harness-errors.md`).

pub mod claims;
pub mod fhir;
pub mod governance;
pub mod load;
pub mod records;
pub mod testnet;
pub mod zk;

/// A benchmark's figures: one JSON object, and a line for people.
#[derive(Debug)]
pub struct Report {
    pub json: serde_json::Value,
    pub summary: String,
}
