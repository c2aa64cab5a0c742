//! Byte encodings of the arkworks values inside our types: compressed
//! canonical encoding, checked on the way in (points on the curve and in
//! the prime-order subgroup), and hex in JSON.
//!
//! The docknetwork decoders are not written for hostile input, so every
//! decode runs under `catch_unwind`: a panic there becomes a typed error.

use std::panic::{catch_unwind, AssertUnwindSafe};

use ark_serialize::{CanonicalDeserialize, CanonicalSerialize};

use crate::ZkError;

/// Upper bound on any single encoded value we accept (a proof is ~5 KB).
pub const MAX_ENCODED_BYTES: usize = 256 * 1024;

pub fn to_bytes<T: CanonicalSerialize>(value: &T) -> Vec<u8> {
    let mut out = Vec::with_capacity(value.compressed_size());
    value
        .serialize_compressed(&mut out)
        .expect("writing to a Vec cannot fail");
    out
}

pub fn from_bytes<T: CanonicalDeserialize>(what: &'static str, bytes: &[u8]) -> Result<T, ZkError> {
    let malformed = |reason: String| ZkError::Malformed { what, reason };
    if bytes.len() > MAX_ENCODED_BYTES {
        return Err(malformed(format!("{} bytes is too long", bytes.len())));
    }
    let mut reader = bytes;
    let decoded = catch_unwind(AssertUnwindSafe(|| T::deserialize_compressed(&mut reader)))
        .map_err(|_| malformed("the decoder panicked".into()))?
        .map_err(|e| malformed(e.to_string()))?;
    if !reader.is_empty() {
        return Err(malformed(format!("{} trailing bytes", reader.len())));
    }
    Ok(decoded)
}

/// `#[serde(with = "hex_ark")]` for arkworks values.
pub mod hex_ark {
    use ark_serialize::{CanonicalDeserialize, CanonicalSerialize};
    use serde::{Deserialize as _, Deserializer, Serializer};

    pub fn serialize<T: CanonicalSerialize, S: Serializer>(
        value: &T,
        s: S,
    ) -> Result<S::Ok, S::Error> {
        s.serialize_str(&hex::encode(super::to_bytes(value)))
    }

    pub fn deserialize<'de, T: CanonicalDeserialize, D: Deserializer<'de>>(
        d: D,
    ) -> Result<T, D::Error> {
        let text = String::deserialize(d)?;
        let bytes = hex::decode(text).map_err(serde::de::Error::custom)?;
        super::from_bytes("value", &bytes).map_err(serde::de::Error::custom)
    }
}

/// `#[serde(with = "hex_bytes")]` for plain byte strings.
pub mod hex_bytes {
    use serde::{Deserialize as _, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(value: &[u8], s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&hex::encode(value))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<u8>, D::Error> {
        let text = String::deserialize(d)?;
        hex::decode(text).map_err(serde::de::Error::custom)
    }
}
