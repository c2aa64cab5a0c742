//! The contract of a Salus node's HTTP API: every endpoint's path, and the
//! request and response bodies it takes and gives, as serde types with
//! OpenAPI schemas. The node's handlers produce these types and the SDK
//! (`salus-client`) consumes them, so the server, the SDK and the OpenAPI
//! document (`/openapi.json`) cannot drift apart.
//!
//! One file per module of the API, named for what it serves. Values that
//! the chain stores (headers, receipts, grants, …) are `salus_types` types
//! and appear in schemas as objects; zero-knowledge objects travel as the
//! JSON `salus_zk` defines, so this crate stays free of the ZK stack.
//!
//! Every error is an [`ErrorBody`] with a stable snake_case code.

pub mod audit;
pub mod chain;
pub mod consent;
pub mod credentials;
pub mod epochs;
mod error;
pub mod governance;
pub mod identity;
pub mod insurance;
pub mod oracle;
pub mod records;
pub mod vault;

pub use error::{ErrorBody, ErrorDetail};

/// The most entries one page of events or audit entries holds.
pub const MAX_PAGE: usize = 500;
/// The page size when a request names none.
pub const DEFAULT_PAGE: usize = 100;
