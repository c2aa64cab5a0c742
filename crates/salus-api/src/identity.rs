//! DID resolution: W3C DID Core resolution results for `did:salus` (from
//! chain state) and `did:key`. The document types are `salus_types`', which
//! also builds them.

/// `/v1/dids/{did}`.
pub const RESOLVE: &str = "/v1/dids";

pub use salus_types::did_document::{
    DidDocument, DidResolution, DocumentMetadata, ResolutionMetadata, ServiceEndpoint,
    VerificationMethod,
};
