//! The search index: what the gateway's key may read, as search values.
//!
//! It lives in the gateway's memory only and is rebuilt at start by reading
//! through the vault (see ARCHITECTURE.md, "The FHIR gateway"). It holds no
//! resource content, only what search needs: each record's type, patient,
//! version, last update and the token and date values of the supported
//! parameters. Results are always read through the vault, so a record the
//! key can no longer read is refused there and dropped here.

use std::collections::{BTreeSet, HashMap};

use salus_types::calendar::MS_PER_DAY;
use salus_types::consent::Purpose;
use salus_types::records::RecordId;
use salus_types::AccountId;
use serde_json::Value;

use crate::resource::{element_values, searchable, tokens_of, ParamKind};

/// What the index keeps of one record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    pub resource_type: String,
    pub record: RecordId,
    pub version: u32,
    pub patient: AccountId,
    /// `meta.lastUpdated`, in milliseconds.
    pub last_updated_ms: u64,
    /// The purpose this key reads it for (its own records: treatment).
    pub purpose: Purpose,
    /// Token values by parameter: `(parameter, system, code)`.
    pub tokens: Vec<(&'static str, Option<String>, String)>,
    /// Date ranges by parameter: `(parameter, first ms, last ms)`.
    pub dates: Vec<(&'static str, u64, u64)>,
}

impl Entry {
    /// Reads the search values of `resource`.
    pub fn of(
        resource: &Value,
        record: RecordId,
        version: u32,
        patient: AccountId,
        last_updated_ms: u64,
        purpose: Purpose,
    ) -> Entry {
        let resource_type = resource
            .get("resourceType")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned();
        let mut entry = Entry {
            resource_type,
            record,
            version,
            patient,
            last_updated_ms,
            purpose,
            tokens: Vec::new(),
            dates: Vec::new(),
        };
        let Some(search) = searchable(&entry.resource_type) else {
            return entry;
        };
        for param in search.params {
            for value in element_values(resource, param.element) {
                match param.kind {
                    ParamKind::Token => entry.tokens.extend(
                        tokens_of(value)
                            .into_iter()
                            .map(|(system, code)| (param.name, system, code)),
                    ),
                    ParamKind::Date => {
                        if let Some((first, last)) = date_range_of(value) {
                            entry.dates.push((param.name, first, last));
                        }
                    }
                }
            }
        }
        entry
    }

    /// The first date of `param`, for sorting.
    pub fn first_date(&self, param: &str) -> Option<u64> {
        self.dates
            .iter()
            .filter(|(name, ..)| *name == param)
            .map(|(_, first, _)| *first)
            .min()
    }
}

/// The milliseconds a FHIR date, dateTime, instant or Period may stand for.
pub fn date_range_of(value: &Value) -> Option<(u64, u64)> {
    match value {
        Value::String(text) => date_range(text),
        Value::Object(period) => {
            let bound = |name: &str| {
                period
                    .get(name)
                    .and_then(Value::as_str)
                    .and_then(date_range)
            };
            let (start, end) = (bound("start"), bound("end"));
            if start.is_none() && end.is_none() {
                return None;
            }
            Some((start.map_or(0, |s| s.0), end.map_or(u64::MAX, |e| e.1)))
        }
        _ => None,
    }
}

/// The range a date of any FHIR precision stands for: a year, a month, a
/// day, or an instant (with its zone), as milliseconds on a scale that
/// starts at 0000-03-01 so that dates before 1970 (birth dates) order too.
/// Every date the index and its queries compare goes through here.
pub fn date_range(text: &str) -> Option<(u64, u64)> {
    let bytes = text.as_bytes();
    let number = |range: std::ops::Range<usize>| -> Option<i64> {
        let part = text.get(range)?;
        part.bytes()
            .all(|b| b.is_ascii_digit())
            .then(|| part.parse().ok())?
    };
    let year = number(0..4)?;
    let dash = |at: usize| bytes.get(at) == Some(&b'-');
    match bytes.len() {
        4 => Some((day_ms(year, 1, 1)?, day_ms(year, 12, 31)? + MS_PER_DAY - 1)),
        7 if dash(4) => {
            let month = number(5..7)?;
            let last = (28..=31)
                .rev()
                .find(|d| day_ms(year, month, *d).is_some())?;
            Some((
                day_ms(year, month, 1)?,
                day_ms(year, month, last)? + MS_PER_DAY - 1,
            ))
        }
        10 if dash(4) && dash(7) => {
            let day = day_ms(year, number(5..7)?, number(8..10)?)?;
            Some((day, day + MS_PER_DAY - 1))
        }
        n if n > 10 && dash(4) && dash(7) && bytes[10] == b'T' => {
            let day = day_ms(year, number(5..7)?, number(8..10)?)?;
            let instant = day.checked_add_signed(time_of_day_ms(&text[11..])?)?;
            Some((instant, instant))
        }
        _ => None,
    }
}

/// `hh:mm:ss[.fff…](Z|±hh:mm)` as milliseconds after the day's UTC start.
fn time_of_day_ms(text: &str) -> Option<i64> {
    let number = |range: std::ops::Range<usize>| -> Option<i64> {
        let part = text.get(range)?;
        part.bytes()
            .all(|b| b.is_ascii_digit())
            .then(|| part.parse().ok())?
    };
    if text.get(2..3) != Some(":") || text.get(5..6) != Some(":") {
        return None;
    }
    let (hours, minutes, seconds) = (number(0..2)?, number(3..5)?, number(6..8)?);
    if hours > 23 || minutes > 59 || seconds > 60 {
        return None;
    }
    let mut zone = text.get(8..)?;
    let mut millis = 0;
    if let Some(fraction) = zone.strip_prefix('.') {
        let digits = fraction.bytes().take_while(u8::is_ascii_digit).count();
        let kept = fraction.get(..digits.min(3)).filter(|k| !k.is_empty())?;
        millis = kept.parse::<i64>().ok()? * 10i64.pow(3 - kept.len() as u32);
        zone = &fraction[digits..];
    }
    let offset_minutes = match zone {
        "Z" => 0,
        _ if zone.len() == 6 && zone.as_bytes()[3] == b':' => {
            let sign = match zone.as_bytes()[0] {
                b'+' => 1,
                b'-' => -1,
                _ => return None,
            };
            let (h, m): (i64, i64) = (zone.get(1..3)?.parse().ok()?, zone.get(4..6)?.parse().ok()?);
            if h > 14 || m > 59 {
                return None;
            }
            sign * (h * 60 + m)
        }
        _ => return None,
    };
    Some(((hours * 60 + minutes - offset_minutes) * 60 + seconds) * 1000 + millis)
}

/// The first millisecond of a day, counted from 0000-03-01 (Howard
/// Hinnant's days-from-civil); `None` for a day that does not exist.
fn day_ms(year: i64, month: i64, day: i64) -> Option<u64> {
    if !(1..=12).contains(&month) || day < 1 {
        return None;
    }
    let leap = year % 4 == 0 && (year % 100 != 0 || year % 400 == 0);
    let days_in_month = [
        31,
        if leap { 29 } else { 28 },
        31,
        30,
        31,
        30,
        31,
        31,
        30,
        31,
        30,
        31,
    ];
    if day > days_in_month[(month - 1) as usize] {
        return None;
    }
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let year_of_era = y - era * 400;
    let shifted_month = (month + 9) % 12;
    let day_of_year = (153 * shifted_month + 2) / 5 + day - 1;
    let day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
    let days = era * 146_097 + day_of_era;
    u64::try_from(days).ok().map(|d| d * MS_PER_DAY)
}

/// The index of every record the key may read.
#[derive(Debug, Default)]
pub struct Index {
    entries: HashMap<RecordId, Entry>,
    by_type: HashMap<String, BTreeSet<RecordId>>,
    by_patient: HashMap<(String, AccountId), BTreeSet<RecordId>>,
    by_code: HashMap<(String, &'static str, String), BTreeSet<RecordId>>,
}

impl Index {
    pub fn get(&self, record: &RecordId) -> Option<&Entry> {
        self.entries.get(record)
    }

    /// Adds `entry`, replacing what the index had of its record (unless that
    /// was a later version).
    pub fn insert(&mut self, entry: Entry) {
        if let Some(old) = self.entries.get(&entry.record) {
            if old.version > entry.version {
                return;
            }
        }
        self.remove(&entry.record);
        let record = entry.record;
        self.by_type
            .entry(entry.resource_type.clone())
            .or_default()
            .insert(record);
        self.by_patient
            .entry((entry.resource_type.clone(), entry.patient))
            .or_default()
            .insert(record);
        for (param, _, code) in &entry.tokens {
            self.by_code
                .entry((entry.resource_type.clone(), param, code.clone()))
                .or_default()
                .insert(record);
        }
        self.entries.insert(record, entry);
    }

    /// Forgets a record (erased, or no longer readable by this key).
    pub fn remove(&mut self, record: &RecordId) -> Option<Entry> {
        let entry = self.entries.remove(record)?;
        let drop_from = |set: Option<&mut BTreeSet<RecordId>>| {
            if let Some(set) = set {
                set.remove(record);
            }
        };
        drop_from(self.by_type.get_mut(&entry.resource_type));
        drop_from(
            self.by_patient
                .get_mut(&(entry.resource_type.clone(), entry.patient)),
        );
        for (param, _, code) in &entry.tokens {
            drop_from(
                self.by_code
                    .get_mut(&(entry.resource_type.clone(), param, code.clone())),
            );
        }
        Some(entry)
    }

    /// Records of a type, in record id order.
    pub fn of_type(&self, resource_type: &str) -> Option<&BTreeSet<RecordId>> {
        self.by_type.get(resource_type)
    }

    /// Records of a type for one patient.
    pub fn of_patient(
        &self,
        resource_type: &str,
        patient: &AccountId,
    ) -> Option<&BTreeSet<RecordId>> {
        self.by_patient.get(&(resource_type.to_owned(), *patient))
    }

    /// Records of a type with a token value, whatever its system.
    pub fn with_code(
        &self,
        resource_type: &str,
        param: &'static str,
        code: &str,
    ) -> Option<&BTreeSet<RecordId>> {
        self.by_code
            .get(&(resource_type.to_owned(), param, code.to_owned()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn dates_of_every_precision_are_ranges() {
        let day = date_range("2026-03-04").unwrap();
        assert_eq!(day.1 - day.0, MS_PER_DAY - 1);
        let month = date_range("2026-02").unwrap();
        assert_eq!((month.1 + 1 - month.0) / MS_PER_DAY, 28);
        let year = date_range("2024").unwrap();
        assert_eq!((year.1 + 1 - year.0) / MS_PER_DAY, 366);
        let instant = date_range("2026-03-04T10:00:00+01:00").unwrap();
        assert_eq!(instant.0, instant.1);
        assert_eq!(instant.0, day.0 + 9 * 3_600_000);
        assert_eq!(
            date_range("2026-03-04T10:00:00.250Z").unwrap().0,
            day.0 + 10 * 3_600_000 + 250
        );
        // Birth dates before 1970 order with the rest.
        let born = date_range("1950-03-04").unwrap();
        assert!(born.1 < date_range("1969-12-31").unwrap().0);
        assert_eq!(date_range("1950-02-29"), None);
        assert_eq!(
            date_range("2024-02-29").map(|r| r.1 - r.0),
            Some(MS_PER_DAY - 1)
        );
        assert_eq!(
            date_range("2026-03-04T10:00:00"),
            None,
            "a time needs a zone"
        );
        assert_eq!(date_range("2026-13"), None);
        assert_eq!(date_range("tomorrow"), None);
        let open = date_range_of(&json!({"start": "2026-01-01"})).unwrap();
        assert_eq!(open.1, u64::MAX);
    }

    #[test]
    fn entries_replace_and_forget() {
        let patient = AccountId([7; 20]);
        let record = RecordId([1; 16]);
        let obs = |code: &str| {
            json!({"resourceType":"Observation","status":"final",
                "code":{"coding":[{"system":"http://loinc.org","code":code}]},
                "effectiveDateTime":"2026-03-04"})
        };
        let mut index = Index::default();
        index.insert(Entry::of(
            &obs("1"),
            record,
            1,
            patient,
            0,
            Purpose::Treatment,
        ));
        index.insert(Entry::of(
            &obs("2"),
            record,
            2,
            patient,
            0,
            Purpose::Treatment,
        ));
        assert!(index
            .with_code("Observation", "code", "1")
            .is_none_or(BTreeSet::is_empty));
        assert_eq!(
            index
                .with_code("Observation", "code", "2")
                .map(BTreeSet::len),
            Some(1)
        );
        // An older version arriving late does not win.
        index.insert(Entry::of(
            &obs("1"),
            record,
            1,
            patient,
            0,
            Purpose::Treatment,
        ));
        assert_eq!(index.get(&record).map(|e| e.version), Some(2));
        assert_eq!(index.get(&record).unwrap().dates.len(), 1);
        index.remove(&record);
        assert!(index.get(&record).is_none());
        assert!(index.of_type("Observation").is_none_or(BTreeSet::is_empty));
    }
}
