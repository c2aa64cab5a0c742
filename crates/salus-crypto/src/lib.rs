//! Cryptographic building blocks for Salus.
//!
//! This crate knows nothing about the chain. It owns:
//! - fixed-size byte newtypes with one canonical text form (lower-case hex),
//! - SHA-256 hashing with domain separation and a binary Merkle root,
//! - ed25519 signing keys, single and batched (parallel) verification,
//! - x25519 key-agreement keys,
//! - `did:key` encoding for ed25519 and x25519 public keys,
//! - an encrypted keystore file format (Argon2id + XChaCha20-Poly1305),
//! - envelope encryption for records (XChaCha20-Poly1305 content, HPKE-wrapped keys).

mod batch;
mod bytes;
pub mod didkey;
mod hash;
pub mod keystore;
pub mod seal;
mod sign;

pub use bytes::HexError;
pub use hash::{merkle_root, sha256, Hash, Hasher};
pub use sign::{
    random_bytes, verify_batch, verify_each, AgreementPublicKey, AgreementSecret, PublicKey,
    Signature, SignatureError, SigningKey,
};

// Re-exports used by `hex_bytes_newtype!` so that callers need not depend on
// these crates themselves.
#[doc(hidden)]
pub use borsh as __borsh;
#[doc(hidden)]
pub use bytes::decode_fixed as __decode_fixed;
#[doc(hidden)]
pub use hex as __hex;
#[doc(hidden)]
pub use serde as __serde;
