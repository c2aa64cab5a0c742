//! One implementation of "a fixed number of bytes, shown as hex" shared by every
//! byte newtype, so that text forms cannot drift between types.

/// A hex string that does not decode to the expected number of bytes.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HexError {
    #[error("invalid hex: {0}")]
    Invalid(String),
    #[error("expected {expected} bytes, got {actual}")]
    Length { expected: usize, actual: usize },
}

pub fn decode_fixed<const N: usize>(text: &str) -> Result<[u8; N], HexError> {
    let text = text.strip_prefix("0x").unwrap_or(text);
    let raw = hex::decode(text).map_err(|e| HexError::Invalid(e.to_string()))?;
    <[u8; N]>::try_from(raw.as_slice()).map_err(|_| HexError::Length {
        expected: N,
        actual: raw.len(),
    })
}

/// Declares a `pub struct $name(pub [u8; $len])` with borsh, serde (as hex),
/// `Display`/`Debug` (as hex) and `FromStr` (from hex).
#[macro_export]
macro_rules! hex_bytes_newtype {
    ($(#[$meta:meta])* $name:ident, $len:expr) => {
        $(#[$meta])*
        #[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
        pub struct $name(pub [u8; $len]);

        impl $crate::__borsh::BorshSerialize for $name {
            fn serialize<W: std::io::Write>(&self, writer: &mut W) -> std::io::Result<()> {
                writer.write_all(&self.0)
            }
        }

        impl $crate::__borsh::BorshDeserialize for $name {
            fn deserialize_reader<R: std::io::Read>(reader: &mut R) -> std::io::Result<Self> {
                let mut bytes = [0u8; $len];
                reader.read_exact(&mut bytes)?;
                Ok(Self(bytes))
            }
        }

        impl $name {
            /// The number of bytes.
            pub const LEN: usize = $len;

            /// The bytes as a slice.
            pub fn as_bytes(&self) -> &[u8] {
                &self.0
            }

            /// Lower-case hex, the canonical text form.
            pub fn to_hex(&self) -> String {
                $crate::__hex::encode(self.0)
            }

            /// Parses lower- or upper-case hex, with or without `0x`.
            pub fn from_hex(text: &str) -> Result<Self, $crate::HexError> {
                $crate::__decode_fixed::<$len>(text).map(Self)
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(&self.to_hex())
            }
        }

        impl std::fmt::Debug for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                write!(f, "{}({})", stringify!($name), self.to_hex())
            }
        }

        impl std::str::FromStr for $name {
            type Err = $crate::HexError;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                Self::from_hex(s)
            }
        }

        impl $crate::__serde::Serialize for $name {
            fn serialize<S: $crate::__serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_str(&self.to_hex())
            }
        }

        impl<'de> $crate::__serde::Deserialize<'de> for $name {
            fn deserialize<D: $crate::__serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let text = <String as $crate::__serde::Deserialize>::deserialize(d)?;
                Self::from_hex(&text).map_err(<D::Error as $crate::__serde::de::Error>::custom)
            }
        }
    };
}
