//! Typed credential attributes and their encoding as BLS12-381 scalars.
//!
//! A BBS signature signs a vector of field elements, so every attribute has
//! one fixed encoding: text is hashed (it can be disclosed or tested for
//! membership in a published set, never compared), dates are YYYYMMDD
//! integers and integers and decimals are scaled integers (both can be
//! compared in range predicates without being disclosed).

use ark_bls12_381::Fr;
use blake2::Blake2b512;
use dock_crypto_utils::hashing_utils::hash_to_field;
use serde::{Deserialize, Serialize};

use crate::ZkError;

/// Domain of the text hash; changing it invalidates every credential.
const TEXT_DST: &[u8] = b"salus-zk/text/v1";

/// The largest integer a range predicate can handle; bounds and values stay
/// below it so that proofs stay small (48-bit ranges).
pub const MAX_INTEGER: u64 = (1 << 48) - 1;
/// Dates span 1800 to 2199: every date a living person's health
/// credential needs, and a range proof over it stays at 22 bits.
pub const MIN_DATE: u32 = 1800_01_01;
pub const MAX_DATE: u32 = 2199_12_31;
/// Text attributes longer than this are refused (a credential is not a document store).
pub const MAX_TEXT_BYTES: usize = 1024;

/// What an attribute holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "kind")]
pub enum AttributeKind {
    /// Hashed to a field element: disclosable and set-testable.
    Text,
    /// A calendar date, encoded YYYYMMDD: comparable.
    Date,
    /// A whole number in `0..=MAX_INTEGER`: comparable.
    Integer,
    /// A decimal with `scale` digits after the point, stored as
    /// `value × 10^scale`: comparable.
    Decimal { scale: u8 },
}

impl AttributeKind {
    /// Whether range predicates apply.
    pub fn is_ordered(self) -> bool {
        !matches!(self, AttributeKind::Text)
    }

    /// The smallest and largest encodable values of an ordered kind.
    pub(crate) fn domain(self) -> (u64, u64) {
        match self {
            AttributeKind::Date => (u64::from(MIN_DATE), u64::from(MAX_DATE)),
            _ => (0, MAX_INTEGER),
        }
    }
}

/// One attribute's value, as issued or disclosed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "kind", content = "value")]
pub enum AttributeValue {
    Text(String),
    /// YYYYMMDD.
    Date(u32),
    Integer(u64),
    /// Already scaled: `12.5` with scale 2 is `Decimal(1250)`.
    Decimal(u64),
}

/// A calendar date from `YYYY-MM-DD` (what FHIR `date` holds), as YYYYMMDD.
pub fn parse_date(text: &str) -> Result<u32, ZkError> {
    let bad = || ZkError::BadValue(format!("`{text}` is not a YYYY-MM-DD date"));
    let head = text.get(..10).ok_or_else(bad)?;
    let bytes = head.as_bytes();
    if bytes[4] != b'-' || bytes[7] != b'-' {
        return Err(bad());
    }
    let number = |range: std::ops::Range<usize>| -> Result<u32, ZkError> {
        let part = &head[range];
        if !part.bytes().all(|b| b.is_ascii_digit()) {
            return Err(bad());
        }
        part.parse().map_err(|_| bad())
    };
    let (year, month, day) = (number(0..4)?, number(5..7)?, number(8..10)?);
    let days_in_month = match month {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        2 if (year % 4 == 0 && year % 100 != 0) || year % 400 == 0 => 29,
        2 => 28,
        _ => return Err(bad()),
    };
    if day == 0 || day > days_in_month {
        return Err(bad());
    }
    let date = year * 10_000 + month * 100 + day;
    if !(MIN_DATE..=MAX_DATE).contains(&date) {
        return Err(bad());
    }
    Ok(date)
}

/// A decimal such as `"37.25"` scaled by `10^scale`.
pub fn parse_decimal(text: &str, scale: u8) -> Result<u64, ZkError> {
    let bad = || {
        ZkError::BadValue(format!(
            "`{text}` is not a decimal with at most {scale} places"
        ))
    };
    let (whole, fraction) = text.split_once('.').unwrap_or((text, ""));
    if whole.is_empty() || fraction.len() > usize::from(scale) {
        return Err(bad());
    }
    if !whole
        .bytes()
        .chain(fraction.bytes())
        .all(|b| b.is_ascii_digit())
    {
        return Err(bad());
    }
    let digits = format!("{whole}{fraction:0<width$}", width = usize::from(scale));
    let value: u64 = digits.parse().map_err(|_| bad())?;
    if value > MAX_INTEGER {
        return Err(bad());
    }
    Ok(value)
}

/// The field element a text attribute is signed as.
pub(crate) fn text_scalar(text: &str) -> Fr {
    hash_to_field::<Fr, Blake2b512>(TEXT_DST, text.as_bytes())
}

impl AttributeValue {
    /// Checks that the value fits `kind` and returns its field element.
    pub(crate) fn encode(&self, kind: AttributeKind) -> Result<Fr, ZkError> {
        match (self, kind) {
            (AttributeValue::Text(text), AttributeKind::Text) => {
                if text.len() > MAX_TEXT_BYTES {
                    return Err(ZkError::BadValue(format!(
                        "text longer than {MAX_TEXT_BYTES} bytes"
                    )));
                }
                Ok(text_scalar(text))
            }
            (AttributeValue::Date(date), AttributeKind::Date) => {
                // Round-trip through the parser so that 2024-02-30 is refused.
                let text = format!(
                    "{:04}-{:02}-{:02}",
                    date / 10_000,
                    date / 100 % 100,
                    date % 100
                );
                parse_date(&text)?;
                Ok(Fr::from(u64::from(*date)))
            }
            (AttributeValue::Integer(n), AttributeKind::Integer)
            | (AttributeValue::Decimal(n), AttributeKind::Decimal { .. }) => {
                if *n > MAX_INTEGER {
                    return Err(ZkError::BadValue(format!("{n} exceeds {MAX_INTEGER}")));
                }
                Ok(Fr::from(*n))
            }
            (value, kind) => Err(ZkError::BadValue(format!(
                "a {} value for a {kind:?} attribute",
                value.kind_name()
            ))),
        }
    }

    /// The integer an ordered value compares as.
    pub(crate) fn ordinal(&self) -> Option<u64> {
        match self {
            AttributeValue::Text(_) => None,
            AttributeValue::Date(d) => Some(u64::from(*d)),
            AttributeValue::Integer(n) | AttributeValue::Decimal(n) => Some(*n),
        }
    }

    fn kind_name(&self) -> &'static str {
        match self {
            AttributeValue::Text(_) => "text",
            AttributeValue::Date(_) => "date",
            AttributeValue::Integer(_) => "integer",
            AttributeValue::Decimal(_) => "decimal",
        }
    }
}

/// One named, typed slot of a schema.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AttributeSpec {
    pub name: String,
    #[serde(flatten)]
    pub kind: AttributeKind,
}

/// The most attributes a schema may have.
pub const MAX_ATTRIBUTES: usize = 64;

/// A credential schema: an id and an ordered list of typed attributes. The
/// order is part of the signature, so a schema never changes; a new
/// version is a new id.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Schema {
    pub id: String,
    pub attributes: Vec<AttributeSpec>,
}

impl Schema {
    pub fn new(
        id: impl Into<String>,
        attributes: &[(&str, AttributeKind)],
    ) -> Result<Schema, ZkError> {
        let schema = Schema {
            id: id.into(),
            attributes: attributes
                .iter()
                .map(|(name, kind)| AttributeSpec {
                    name: (*name).to_owned(),
                    kind: *kind,
                })
                .collect(),
        };
        schema.validate()?;
        Ok(schema)
    }

    /// Names unique and well-formed, a bounded count, an id present.
    pub fn validate(&self) -> Result<(), ZkError> {
        let bad = |why: String| Err(ZkError::BadSchema(why));
        if self.id.is_empty() || self.id.len() > 128 {
            return bad("a schema id has 1 to 128 bytes".into());
        }
        if self.attributes.is_empty() || self.attributes.len() > MAX_ATTRIBUTES {
            return bad(format!("a schema has 1 to {MAX_ATTRIBUTES} attributes"));
        }
        for (i, spec) in self.attributes.iter().enumerate() {
            let well_formed = !spec.name.is_empty()
                && spec.name.len() <= 64
                && spec
                    .name
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'_');
            if !well_formed {
                return bad(format!(
                    "attribute name `{}` is not [A-Za-z0-9_]{{1,64}}",
                    spec.name
                ));
            }
            if self.attributes[..i].iter().any(|s| s.name == spec.name) {
                return bad(format!("attribute `{}` appears twice", spec.name));
            }
            if let AttributeKind::Decimal { scale } = spec.kind {
                if scale > 12 {
                    return bad(format!(
                        "attribute `{}`: a decimal scale is at most 12",
                        spec.name
                    ));
                }
            }
        }
        Ok(())
    }

    /// The attribute's position and kind.
    pub fn attribute(&self, name: &str) -> Result<(usize, AttributeKind), ZkError> {
        self.attributes
            .iter()
            .position(|s| s.name == name)
            .map(|i| (i, self.attributes[i].kind))
            .ok_or_else(|| ZkError::UnknownAttribute(name.to_owned()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_parse_strictly() {
        assert_eq!(parse_date("2024-02-29").unwrap(), 2024_02_29);
        assert_eq!(parse_date("1990-12-31T00:00:00Z").unwrap(), 1990_12_31);
        for bad in [
            "2023-02-29",
            "2024-13-01",
            "2024-00-10",
            "24-01-01",
            "2024/01/01",
            "",
            "0999-01-01",
            "2024-1-01",
        ] {
            assert!(parse_date(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn decimals_scale() {
        assert_eq!(parse_decimal("37.25", 2).unwrap(), 3725);
        assert_eq!(parse_decimal("37.2", 2).unwrap(), 3720);
        assert_eq!(parse_decimal("37", 2).unwrap(), 3700);
        for bad in ["37.255", "-1", "1e3", ".5", "x"] {
            assert!(parse_decimal(bad, 2).is_err(), "{bad}");
        }
    }

    #[test]
    fn values_must_match_their_kind() {
        assert!(AttributeValue::Text("a".into())
            .encode(AttributeKind::Date)
            .is_err());
        assert!(AttributeValue::Date(2024_02_30)
            .encode(AttributeKind::Date)
            .is_err());
        assert!(AttributeValue::Integer(MAX_INTEGER + 1)
            .encode(AttributeKind::Integer)
            .is_err());
        assert_eq!(
            AttributeValue::Text("x".into())
                .encode(AttributeKind::Text)
                .unwrap(),
            text_scalar("x")
        );
    }

    #[test]
    fn schemas_reject_duplicates_and_bad_names() {
        assert!(Schema::new(
            "s",
            &[("a", AttributeKind::Text), ("a", AttributeKind::Date)]
        )
        .is_err());
        assert!(Schema::new("s", &[("a b", AttributeKind::Text)]).is_err());
        assert!(Schema::new("", &[("a", AttributeKind::Text)]).is_err());
        assert!(Schema::new("s", &[]).is_err());
    }
}
