//! u128 token amounts travel in JSON as decimal strings: JavaScript numbers lose
//! precision above 2^53, and a balance must never be rounded.

use serde::{Deserialize, Deserializer, Serializer};

pub fn serialize<S: Serializer>(value: &u128, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&value.to_string())
}

pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<u128, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Either {
        Text(String),
        Number(u64),
    }
    match Either::deserialize(d)? {
        Either::Text(t) => t.parse().map_err(serde::de::Error::custom),
        Either::Number(n) => Ok(n as u128),
    }
}
