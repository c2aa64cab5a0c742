//! The canonical binary encoding: borsh, plus a round-trip check on decode so that
//! exactly one byte string stands for each value (a hash of the bytes is then a
//! hash of the value).

use borsh::{BorshDeserialize, BorshSerialize};

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    #[error("{what} is {actual} bytes, above the limit of {limit}")]
    TooLarge {
        what: &'static str,
        actual: usize,
        limit: usize,
    },
    #[error("{what} is malformed: {reason}")]
    Malformed { what: &'static str, reason: String },
    #[error("{what} is not in canonical form")]
    NotCanonical { what: &'static str },
}

pub fn encode<T: BorshSerialize>(value: &T) -> Vec<u8> {
    borsh::to_vec(value).expect("borsh encoding into a Vec cannot fail")
}

/// Decodes `bytes` as `T`, rejecting oversized input, trailing bytes and any
/// encoding other than the canonical one.
pub fn decode<T: BorshSerialize + BorshDeserialize>(
    what: &'static str,
    bytes: &[u8],
    limit: usize,
) -> Result<T, DecodeError> {
    if bytes.len() > limit {
        return Err(DecodeError::TooLarge {
            what,
            actual: bytes.len(),
            limit,
        });
    }
    let value = borsh::from_slice::<T>(bytes).map_err(|e| DecodeError::Malformed {
        what,
        reason: e.to_string(),
    })?;
    if encode(&value) != bytes {
        return Err(DecodeError::NotCanonical { what });
    }
    Ok(value)
}
