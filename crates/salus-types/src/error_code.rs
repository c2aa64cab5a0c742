//! Stable error codes. They appear in receipts and API bodies; a code, once
//! published, never changes meaning.
//!
//! The transaction envelope owns 1xx (below). Every module declares its own
//! codes in its types file with [`error_codes!`](crate::error_codes), inside
//! the range the module registry gives it, which the registry checks at
//! compile time.

use borsh::{BorshDeserialize, BorshSerialize};

/// A stable numeric error code with a snake_case name.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ErrorCode(u16);

/// Declares error codes: `ErrorCode::<Name>` constants and `ERROR_CODES`,
/// the table of codes and names that the module registry collects.
#[macro_export]
macro_rules! error_codes {
    ($($(#[$meta:meta])* $variant:ident = $code:literal => $name:literal,)+) => {
        #[allow(non_upper_case_globals)]
        impl $crate::ErrorCode {
            $($(#[$meta])* pub const $variant: $crate::ErrorCode = $crate::ErrorCode::new($code);)+
        }

        /// These codes and their snake_case names.
        pub const ERROR_CODES: &[($crate::ErrorCode, &str)] = &[$(($crate::ErrorCode::$variant, $name),)+];
    };
}

pub(crate) mod envelope {
    crate::error_codes! {
        Ok = 0 => "ok",
        WrongChain = 101 => "wrong_chain",
        BadSignature = 102 => "bad_signature",
        BadNonce = 103 => "bad_nonce",
        TxTooLarge = 104 => "tx_too_large",
        MalformedTx = 105 => "malformed_tx",
        NoActions = 106 => "no_actions",
        TooManyActions = 107 => "too_many_actions",
        WrongSignerKey = 108 => "wrong_signer_key",
        TxTooHeavy = 109 => "tx_too_heavy",
    }
}

/// The transaction envelope's range: `Ok` and 1xx.
pub const ENVELOPE_CODES: std::ops::Range<u16> = 0..200;

impl ErrorCode {
    #[doc(hidden)]
    pub const fn new(code: u16) -> ErrorCode {
        ErrorCode(code)
    }

    pub const fn code(self) -> u16 {
        self.0
    }

    /// Every code: the envelope's, then each module's in registry order.
    pub fn all() -> impl Iterator<Item = ErrorCode> {
        crate::modules::error_tables()
            .iter()
            .flat_map(|table| table.iter().map(|(code, _)| *code))
    }

    /// The snake_case name used in JSON bodies.
    pub fn name(self) -> &'static str {
        lookup(|(code, _)| *code == self)
            .map(|(_, name)| name)
            .expect("an ErrorCode is only built from the declared codes")
    }

    pub fn from_code(code: u16) -> Option<ErrorCode> {
        lookup(|(known, _)| known.0 == code).map(|(code, _)| code)
    }

    pub fn from_name(name: &str) -> Option<ErrorCode> {
        lookup(|(_, known)| *known == name).map(|(code, _)| code)
    }
}

fn lookup(matches: impl Fn(&(ErrorCode, &str)) -> bool) -> Option<(ErrorCode, &'static str)> {
    crate::modules::error_tables()
        .iter()
        .flat_map(|table| table.iter())
        .find(|entry| matches(entry))
        .copied()
}

impl std::fmt::Debug for ErrorCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match lookup(|(code, _)| code == self) {
            Some((_, name)) => write!(f, "{name}({})", self.0),
            None => write!(f, "ErrorCode({})", self.0),
        }
    }
}

impl BorshSerialize for ErrorCode {
    fn serialize<W: std::io::Write>(&self, writer: &mut W) -> std::io::Result<()> {
        self.0.serialize(writer)
    }
}

impl BorshDeserialize for ErrorCode {
    fn deserialize_reader<R: std::io::Read>(reader: &mut R) -> std::io::Result<Self> {
        let code = u16::deserialize_reader(reader)?;
        ErrorCode::from_code(code).ok_or_else(|| {
            std::io::Error::new(std::io::ErrorKind::InvalidData, "unknown error code")
        })
    }
}

impl serde::Serialize for ErrorCode {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.name())
    }
}

impl<'de> serde::Deserialize<'de> for ErrorCode {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let name = <String as serde::Deserialize>::deserialize(d)?;
        ErrorCode::from_name(&name)
            .ok_or_else(|| serde::de::Error::custom(format!("unknown error code `{name}`")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_and_names_are_unique_and_round_trip() {
        let all: Vec<ErrorCode> = ErrorCode::all().collect();
        let mut codes: Vec<u16> = all.iter().map(|c| c.code()).collect();
        let mut names: Vec<&str> = all.iter().map(|c| c.name()).collect();
        codes.sort();
        codes.dedup();
        names.sort();
        names.dedup();
        assert_eq!(codes.len(), all.len());
        assert_eq!(names.len(), all.len());
        for code in &all {
            assert_eq!(ErrorCode::from_code(code.code()), Some(*code));
            assert_eq!(ErrorCode::from_name(code.name()), Some(*code));
            let bytes = borsh::to_vec(code).unwrap();
            assert_eq!(borsh::from_slice::<ErrorCode>(&bytes).unwrap(), *code);
        }
        assert!(borsh::from_slice::<ErrorCode>(&999u16.to_le_bytes()).is_err());
        assert_eq!(format!("{:?}", ErrorCode::ZeroAmount), "zero_amount(302)");
    }
}
