//! Verifiable credentials with zero-knowledge presentations.
//!
//! An issuer (a medical board, a lab, a hospital) publishes a
//! [`CredentialDefinition`]: a [`Schema`] of typed attributes, a BBS public
//! key, range-proof parameters and a revocation accumulator. It signs
//! [`Credential`]s for holders. A holder answers a verifier's
//! [`PresentationRequest`] with a [`Presentation`]: a proof (in two parts,
//! checked on two cores, when the request is heavy) that discloses the requested attributes and nothing else, that the hidden
//! ones satisfy the requested [`Predicate`]s (ranges, membership in a
//! [`PublicSet`]), that the credential is not revoked at the current
//! [`RevocationStatus`], and that it was made for the verifier's nonce.
//!
//! Everything below is docknetwork's `proof_system` over BLS12-381 (BBS
//! signatures, SMC range proofs, VB accumulators), kept behind these
//! concrete types so that no other crate sees a generic parameter or an
//! arkworks type.
//!
//! Message layout of every credential signature:
//! `[credential id, definition id, attribute 0, attribute 1, …]`. The
//! credential id is the revocation handle and is never disclosed; the
//! definition id is always disclosed, so a credential of one definition can
//! never pass for another's.
//!
//! Trust: the issuer generates its range-proof parameters and throws their
//! trapdoor away. An issuer that kept it could fake range proofs, but an
//! issuer can sign any credential it likes anyway, so this adds no trust.

mod attributes;
pub mod catalog;
mod codec;
mod credential;
mod error;
mod presentation;
mod request;
mod revocation;
mod set;
mod w3c;

pub use attributes::{
    parse_date, parse_decimal, AttributeKind, AttributeSpec, AttributeValue, Schema,
    MAX_ATTRIBUTES, MAX_DATE, MAX_INTEGER, MAX_TEXT_BYTES, MIN_DATE,
};
pub use credential::{Credential, CredentialDefinition, Issuer};
pub use error::ZkError;
pub use presentation::Presentation;
pub use request::{
    Predicate, PresentationRequest, MAX_NONCE_BYTES, MAX_PREDICATES, MIN_NONCE_BYTES,
};
pub use revocation::{RevocationStatus, RevocationUpdate, DEFAULT_CAPACITY};
pub use set::PublicSet;
pub use w3c::{CONTEXT_V2, CRYPTOSUITE};

type Curve = ark_bls12_381::Bls12_381;
type Scalar = ark_bls12_381::Fr;
type G1 = ark_bls12_381::G1Affine;
