//! One file per command: its arguments (clap) and what it does. A module's
//! command lives in the file named after it.

pub mod audit;
pub mod bench;
pub mod claim;
pub mod consent;
pub mod credential;
pub mod demo;
pub mod dev;
pub mod did;
pub mod gateway;
pub mod gov;
pub mod keys;
pub mod node;
pub mod oracle;
pub mod policy;
pub mod pool;
pub mod query;
pub mod record;
pub mod role;
pub mod sim;
pub mod stake;
pub mod testnet;
pub mod tx;
