//! What a verifier asks for, and the plan both sides derive from it.
//!
//! A [`PresentationRequest`] names the attributes to disclose and the
//! [`Predicate`]s the hidden ones must satisfy. Checked against a
//! definition it becomes a [`Plan`]: schema indices, encoded ranges and
//! the published sets involved. Prover and verifier each build the plan
//! themselves; nothing in it comes from the other side.

use serde::{Deserialize, Serialize};

use crate::attributes::{AttributeKind, AttributeValue};
use crate::codec::hex_bytes;
use crate::credential::CredentialDefinition;
use crate::{PublicSet, ZkError};

/// Bounds on what one request may ask, so verification cost is bounded.
pub const MAX_PREDICATES: usize = 16;
pub const MIN_NONCE_BYTES: usize = 16;
pub const MAX_NONCE_BYTES: usize = 256;

/// A claim about a hidden attribute.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "type")]
pub enum Predicate {
    /// `attribute ≥ min`.
    AtLeast {
        attribute: String,
        min: AttributeValue,
    },
    /// `attribute ≤ max`.
    AtMost {
        attribute: String,
        max: AttributeValue,
    },
    /// `min ≤ attribute ≤ max`.
    Between {
        attribute: String,
        min: AttributeValue,
        max: AttributeValue,
    },
    /// The (text) attribute is one of the published set's elements.
    InSet { attribute: String, set: String },
}

impl Predicate {
    pub fn attribute(&self) -> &str {
        match self {
            Predicate::AtLeast { attribute, .. }
            | Predicate::AtMost { attribute, .. }
            | Predicate::Between { attribute, .. }
            | Predicate::InSet { attribute, .. } => attribute,
        }
    }

    /// "At least `years` old on `today`" (YYYYMMDD) about a birth date: the
    /// birth date is on or before the same day `years` earlier (28 February
    /// for a 29 February that year lacks).
    pub fn older_than(
        attribute: impl Into<String>,
        years: u32,
        today: u32,
    ) -> Result<Predicate, ZkError> {
        let year = (today / 10_000)
            .checked_sub(years)
            .filter(|y| *y >= 1800)
            .ok_or_else(|| {
                ZkError::BadRequest(format!("{years} years before {today} is out of range"))
            })?;
        let month_day = today % 10_000;
        let mut cutoff = year * 10_000 + month_day;
        let leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;
        if month_day == 229 && !leap {
            cutoff = year * 10_000 + 228;
        }
        Ok(Predicate::AtMost {
            attribute: attribute.into(),
            max: AttributeValue::Date(cutoff),
        })
    }

    /// The proven range `[min, max)` over the attribute's encoding.
    pub(crate) fn range(&self, kind: AttributeKind) -> Result<Option<(u64, u64)>, ZkError> {
        let bound = |value: &AttributeValue| -> Result<u64, ZkError> {
            value.encode(kind).map_err(|e| {
                ZkError::BadRequest(format!("predicate on `{}`: {e}", self.attribute()))
            })?;
            value.ordinal().ok_or_else(|| {
                ZkError::BadRequest(format!("`{}` is not comparable", self.attribute()))
            })
        };
        let (low, high) = kind.domain();
        let (min, max) = match self {
            Predicate::AtLeast { min, .. } => (bound(min)?, high),
            Predicate::AtMost { max, .. } => (low, bound(max)?),
            Predicate::Between { min, max, .. } => (bound(min)?, bound(max)?),
            Predicate::InSet { .. } => return Ok(None),
        };
        if min > max {
            return Err(ZkError::BadRequest(format!(
                "predicate on `{}` has an empty range",
                self.attribute()
            )));
        }
        Ok(Some((min, max + 1)))
    }

    pub(crate) fn holds(
        &self,
        value: &AttributeValue,
        range: Option<(u64, u64)>,
        set: Option<&PublicSet>,
    ) -> bool {
        match (range, set, value) {
            (Some((min, end)), _, value) => value.ordinal().is_some_and(|v| min <= v && v < end),
            (None, Some(set), AttributeValue::Text(text)) => set.contains(text),
            _ => false,
        }
    }
}

/// What a verifier asks for. The nonce makes every presentation single-use:
/// a presentation for one nonce never verifies for another.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PresentationRequest {
    pub definition: String,
    #[serde(with = "hex_bytes")]
    pub nonce: Vec<u8>,
    /// Attributes to disclose.
    #[serde(default)]
    pub reveal: Vec<String>,
    #[serde(default)]
    pub predicates: Vec<Predicate>,
    /// Prove the credential is not revoked at the current epoch. On unless
    /// a verifier explicitly accepts revoked credentials.
    #[serde(default = "yes")]
    pub check_revocation: bool,
}

fn yes() -> bool {
    true
}

/// A request checked against a definition.
pub(crate) struct Plan<'a> {
    pub(crate) check_revocation: bool,
    pub(crate) revealed: Vec<(usize, &'a str, AttributeKind)>,
    pub(crate) predicates: Vec<Planned<'a>>,
}

pub(crate) struct Planned<'a> {
    pub(crate) predicate: &'a Predicate,
    /// Attribute index in the schema.
    pub(crate) index: usize,
    pub(crate) range: Option<(u64, u64)>,
    pub(crate) set: Option<&'a PublicSet>,
}

impl PresentationRequest {
    pub(crate) fn plan<'a>(
        &'a self,
        definition: &CredentialDefinition,
        sets: &[&'a PublicSet],
    ) -> Result<Plan<'a>, ZkError> {
        definition.expect_id(&self.definition)?;
        if !(MIN_NONCE_BYTES..=MAX_NONCE_BYTES).contains(&self.nonce.len()) {
            return Err(ZkError::BadRequest(format!(
                "a nonce has {MIN_NONCE_BYTES} to {MAX_NONCE_BYTES} bytes"
            )));
        }
        if self.predicates.len() > MAX_PREDICATES {
            return Err(ZkError::BadRequest(format!(
                "at most {MAX_PREDICATES} predicates"
            )));
        }
        let mut revealed = Vec::new();
        for name in &self.reveal {
            let (index, kind) = definition.schema.attribute(name)?;
            if revealed.iter().any(|(i, _, _)| *i == index) {
                return Err(ZkError::BadRequest(format!("`{name}` is disclosed twice")));
            }
            revealed.push((index, name.as_str(), kind));
        }
        let mut predicates = Vec::new();
        for predicate in &self.predicates {
            let (index, kind) = definition.schema.attribute(predicate.attribute())?;
            if revealed.iter().any(|(i, _, _)| *i == index) {
                return Err(ZkError::BadRequest(format!(
                    "`{}` is both disclosed and hidden behind a predicate",
                    predicate.attribute()
                )));
            }
            let set = match predicate {
                Predicate::InSet { set, .. } => {
                    if kind != AttributeKind::Text {
                        return Err(ZkError::BadRequest(format!(
                            "set membership needs a text attribute, `{}` is not",
                            predicate.attribute()
                        )));
                    }
                    Some(
                        *sets
                            .iter()
                            .find(|s| s.id == *set)
                            .ok_or_else(|| ZkError::UnknownSet(set.clone()))?,
                    )
                }
                _ => {
                    if !kind.is_ordered() {
                        return Err(ZkError::BadRequest(format!(
                            "`{}` is text: it has no order",
                            predicate.attribute()
                        )));
                    }
                    None
                }
            };
            predicates.push(Planned {
                predicate,
                index,
                range: predicate.range(kind)?,
                set,
            });
        }
        Ok(Plan {
            check_revocation: self.check_revocation,
            revealed,
            predicates,
        })
    }
}
