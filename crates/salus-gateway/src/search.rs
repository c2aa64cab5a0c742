//! FHIR search over the index: parsing the parameters the gateway supports,
//! matching, sorting and paging. Reading the page's resources (through the
//! vault) and building the Bundle is the gateway's job.

use std::collections::BTreeSet;

use salus_types::records::RecordId;
use salus_types::AccountId;

use crate::index::{date_range, Entry, Index};
use crate::resource::{searchable, ParamKind, Searchable};

/// Results per page unless `_count` says otherwise.
pub const DEFAULT_COUNT: usize = 50;
/// The most results one page holds.
pub const MAX_COUNT: usize = 1_000;

/// A date comparison prefix.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Prefix {
    Eq,
    Ne,
    Gt,
    Lt,
    Ge,
    Le,
}

/// One date condition: the resource's range against the value's range.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DateCondition {
    pub prefix: Prefix,
    pub first: u64,
    pub last: u64,
}

impl DateCondition {
    /// FHIR's date matching (R4 §3.1.1.4.2.2) between ranges.
    pub fn matches(&self, first: u64, last: u64) -> bool {
        match self.prefix {
            Prefix::Eq => first >= self.first && last <= self.last,
            Prefix::Ne => !(first >= self.first && last <= self.last),
            Prefix::Gt => last > self.last,
            Prefix::Lt => first < self.first,
            Prefix::Ge => last >= self.first,
            Prefix::Le => first <= self.last,
        }
    }
}

/// One alternative of a token condition.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenValue {
    /// `Some("")` for `|code` (no system); `None` for any system.
    pub system: Option<String>,
    /// `None` for `system|` (any code of the system).
    pub code: Option<String>,
}

impl TokenValue {
    fn matches(&self, system: &Option<String>, code: &str) -> bool {
        let system_ok = match (&self.system, system) {
            (None, _) => true,
            (Some(wanted), None) => wanted.is_empty(),
            (Some(wanted), Some(had)) => wanted == had,
        };
        system_ok && self.code.as_deref().is_none_or(|c| c == code)
    }
}

/// How results are ordered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Sort {
    /// By record id: stable, and as good as any when nothing is asked.
    Id,
    LastUpdated {
        descending: bool,
    },
    Date {
        param: &'static str,
        descending: bool,
    },
}

/// A parsed search.
#[derive(Debug, Clone)]
pub struct Query {
    pub resource_type: String,
    pub ids: Option<Vec<RecordId>>,
    pub last_updated: Vec<DateCondition>,
    pub patients: Option<Vec<AccountId>>,
    /// AND across entries, OR within one.
    pub tokens: Vec<(&'static str, Vec<TokenValue>)>,
    pub dates: Vec<(&'static str, DateCondition)>,
    pub sort: Sort,
    pub count: usize,
    pub offset: usize,
    pub include_patient: bool,
    /// The parameters honoured, to repeat in the Bundle's links.
    pub applied: Vec<(String, String)>,
}

/// Why a search was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SearchError {
    #[error("search parameter `{0}` is not supported on this type")]
    Unsupported(String),
    #[error("search parameter `{name}` has a value this server cannot read")]
    BadValue { name: String },
}

/// Parses `params` (in request order) for a search of `resource_type`.
/// Unknown parameters are refused when `strict` (`Prefer: handling=strict`)
/// and otherwise ignored. `patient_of` maps a patient reference (`Patient/id`,
/// `id`, or a DID) to the patient's account.
pub fn parse(
    resource_type: &str,
    params: &[(String, String)],
    strict: bool,
    patient_of: impl Fn(&str) -> Option<AccountId>,
) -> Result<Query, SearchError> {
    let support = searchable(resource_type);
    let mut query = Query {
        resource_type: resource_type.to_owned(),
        ids: None,
        last_updated: Vec::new(),
        patients: None,
        tokens: Vec::new(),
        dates: Vec::new(),
        sort: Sort::Id,
        count: DEFAULT_COUNT,
        offset: 0,
        include_patient: false,
        applied: Vec::new(),
    };
    for (name, value) in params {
        let bad = || SearchError::BadValue { name: name.clone() };
        let honoured = match name.as_str() {
            "_id" => {
                let ids = value
                    .split(',')
                    .map(|id| RecordId::from_hex(id).ok())
                    .collect::<Option<Vec<_>>>();
                // An id this server never issues matches nothing.
                query.ids = Some(ids.unwrap_or_default());
                true
            }
            "_lastUpdated" => {
                query
                    .last_updated
                    .push(date_condition(value).ok_or_else(bad)?);
                true
            }
            "_count" => {
                let count: usize = value.parse().map_err(|_| bad())?;
                query.count = count.min(MAX_COUNT);
                true
            }
            "_offset" => {
                query.offset = value.parse().map_err(|_| bad())?;
                true
            }
            "_sort" => {
                query.sort = sort(value, support).ok_or_else(bad)?;
                true
            }
            "_include" => {
                let patient_element = support.and_then(|s| s.patient).map(|p| p.1);
                let target = value
                    .strip_prefix(resource_type)
                    .and_then(|rest| rest.strip_prefix(':'))
                    .map(|rest| rest.trim_end_matches(":Patient"));
                match (target, patient_element) {
                    (Some(param), Some(names)) if names.contains(&param) => {
                        query.include_patient = true;
                        true
                    }
                    _ => false,
                }
            }
            // Formatting parameters: JSON is all this server writes.
            "_format" | "_pretty" | "_summary" if name != "_summary" || value == "false" => true,
            _ => match_param(&mut query, support, name, value, &patient_of).ok_or_else(bad)?,
        };
        if honoured {
            if !name.starts_with("_offset") {
                query.applied.push((name.clone(), value.clone()));
            }
        } else if strict {
            return Err(SearchError::Unsupported(name.clone()));
        }
    }
    Ok(query)
}

/// A type-specific parameter: `Some(true)` when honoured, `Some(false)` when
/// not supported, `None` when supported but its value is unreadable.
fn match_param(
    query: &mut Query,
    support: Option<&Searchable>,
    name: &str,
    value: &str,
    patient_of: &impl Fn(&str) -> Option<AccountId>,
) -> Option<bool> {
    let Some(support) = support else {
        return Some(false);
    };
    if support
        .patient
        .is_some_and(|(_, names)| names.contains(&name))
    {
        // An unknown patient matches nothing, which is what the key may see of it.
        let patients: Vec<AccountId> = value.split(',').filter_map(patient_of).collect();
        query.patients = Some(match query.patients.take() {
            None => patients,
            Some(before) => before
                .into_iter()
                .filter(|p| patients.contains(p))
                .collect(),
        });
        return Some(true);
    }
    let Some(param) = support.params.iter().find(|p| p.name == name) else {
        return Some(false);
    };
    match param.kind {
        ParamKind::Token => {
            let values = value.split(',').map(token_value).collect();
            query.tokens.push((param.name, values));
        }
        ParamKind::Date => query.dates.push((param.name, date_condition(value)?)),
    }
    Some(true)
}

fn token_value(text: &str) -> TokenValue {
    match text.split_once('|') {
        None => TokenValue {
            system: None,
            code: Some(text.to_owned()),
        },
        Some((system, code)) => TokenValue {
            system: Some(system.to_owned()),
            code: (!code.is_empty()).then(|| code.to_owned()),
        },
    }
}

fn date_condition(text: &str) -> Option<DateCondition> {
    let (prefix, rest) = match text.get(..2) {
        Some("eq") => (Prefix::Eq, &text[2..]),
        Some("ne") => (Prefix::Ne, &text[2..]),
        Some("gt") => (Prefix::Gt, &text[2..]),
        Some("lt") => (Prefix::Lt, &text[2..]),
        Some("ge") => (Prefix::Ge, &text[2..]),
        Some("le") => (Prefix::Le, &text[2..]),
        _ => (Prefix::Eq, text),
    };
    let (first, last) = date_range(rest)?;
    Some(DateCondition {
        prefix,
        first,
        last,
    })
}

fn sort(text: &str, support: Option<&Searchable>) -> Option<Sort> {
    let (descending, name) = match text.strip_prefix('-') {
        Some(name) => (true, name),
        None => (false, text),
    };
    if name == "_lastUpdated" {
        return Some(Sort::LastUpdated { descending });
    }
    if name == "_id" {
        return (!descending).then_some(Sort::Id);
    }
    let param = support?
        .params
        .iter()
        .find(|p| p.name == name && p.kind == ParamKind::Date)?;
    Some(Sort::Date {
        param: param.name,
        descending,
    })
}

impl Query {
    fn matches(&self, entry: &Entry) -> bool {
        if entry.resource_type != self.resource_type {
            return false;
        }
        if let Some(ids) = &self.ids {
            if !ids.contains(&entry.record) {
                return false;
            }
        }
        if let Some(patients) = &self.patients {
            if !patients.contains(&entry.patient) {
                return false;
            }
        }
        let updated = entry.last_updated_ms;
        if !self
            .last_updated
            .iter()
            .all(|c| c.matches(updated, updated))
        {
            return false;
        }
        let tokens_ok = self.tokens.iter().all(|(param, alternatives)| {
            entry.tokens.iter().any(|(name, system, code)| {
                name == param && alternatives.iter().any(|a| a.matches(system, code))
            })
        });
        tokens_ok
            && self.dates.iter().all(|(param, condition)| {
                entry
                    .dates
                    .iter()
                    .any(|(name, first, last)| name == param && condition.matches(*first, *last))
            })
    }
}

/// Runs `query`: the total number of matches, and the page's records in order.
pub fn run(index: &Index, query: &Query) -> (usize, Vec<RecordId>) {
    let candidates = candidates(index, query);
    let mut matches: Vec<&Entry> = candidates
        .iter()
        .filter_map(|record| index.get(record))
        .filter(|entry| query.matches(entry))
        .collect();
    match &query.sort {
        Sort::Id => {}
        Sort::LastUpdated { descending } => {
            matches.sort_by_key(|e| (e.last_updated_ms, e.record));
            if *descending {
                matches.reverse();
            }
        }
        Sort::Date { param, descending } => {
            // Undated resources go last either way.
            matches.sort_by_key(|e| {
                let date = e.first_date(param);
                let key = match (date, descending) {
                    (Some(d), false) => d,
                    (Some(d), true) => u64::MAX - d,
                    (None, _) => u64::MAX,
                };
                (date.is_none(), key, e.record)
            });
        }
    }
    let total = matches.len();
    let page = matches
        .into_iter()
        .skip(query.offset)
        .take(query.count)
        .map(|e| e.record)
        .collect();
    (total, page)
}

/// The smallest set of records that can hold every match, in record order.
fn candidates(index: &Index, query: &Query) -> BTreeSet<RecordId> {
    let mut narrowest: Option<BTreeSet<RecordId>> = None;
    let mut consider = |set: BTreeSet<RecordId>| {
        if narrowest.as_ref().is_none_or(|n| set.len() < n.len()) {
            narrowest = Some(set);
        }
    };
    if let Some(ids) = &query.ids {
        consider(ids.iter().copied().collect());
    }
    if let Some(patients) = &query.patients {
        consider(
            patients
                .iter()
                .filter_map(|p| index.of_patient(&query.resource_type, p))
                .flatten()
                .copied()
                .collect(),
        );
    }
    for (param, alternatives) in &query.tokens {
        if alternatives.iter().all(|a| a.code.is_some()) {
            consider(
                alternatives
                    .iter()
                    .filter_map(|a| a.code.as_deref())
                    .filter_map(|code| index.with_code(&query.resource_type, param, code))
                    .flatten()
                    .copied()
                    .collect(),
            );
        }
    }
    narrowest.unwrap_or_else(|| {
        index
            .of_type(&query.resource_type)
            .cloned()
            .unwrap_or_default()
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use salus_types::consent::Purpose;
    use serde_json::json;

    fn params(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(a, b)| (a.to_string(), b.to_string()))
            .collect()
    }

    fn index() -> (Index, AccountId, AccountId) {
        let (alice, bob) = (AccountId([1; 20]), AccountId([2; 20]));
        let mut index = Index::default();
        for (n, (patient, code, day)) in [
            (alice, "8867-4", "2026-01-10"),
            (alice, "8867-4", "2026-02-10"),
            (alice, "2339-0", "2026-03-10"),
            (bob, "8867-4", "2026-02-11"),
        ]
        .into_iter()
        .enumerate()
        {
            let obs = json!({"resourceType":"Observation","status":"final",
                "code":{"coding":[{"system":"http://loinc.org","code":code}]},
                "effectiveDateTime":day});
            index.insert(Entry::of(
                &obs,
                RecordId([n as u8; 16]),
                1,
                patient,
                n as u64,
                Purpose::Treatment,
            ));
        }
        (index, alice, bob)
    }

    fn search(index: &Index, pairs: &[(&str, &str)], alice: AccountId) -> (usize, Vec<RecordId>) {
        let query = parse("Observation", &params(pairs), true, |r| {
            (r == "Patient/alice").then_some(alice)
        })
        .expect("parses");
        run(index, &query)
    }

    #[test]
    fn code_patient_and_date_narrow_together() {
        let (index, alice, _) = index();
        let (total, _) = search(&index, &[("code", "http://loinc.org|8867-4")], alice);
        assert_eq!(total, 3);
        let (total, _) = search(
            &index,
            &[("code", "8867-4"), ("patient", "Patient/alice")],
            alice,
        );
        assert_eq!(total, 2);
        let (total, page) = search(
            &index,
            &[
                ("code", "8867-4"),
                ("date", "ge2026-02"),
                ("_sort", "-date"),
            ],
            alice,
        );
        assert_eq!(total, 2);
        assert_eq!(page, vec![RecordId([3; 16]), RecordId([1; 16])]);
        let (total, _) = search(&index, &[("date", "lt2026-02-10")], alice);
        assert_eq!(total, 1);
        let (total, _) = search(&index, &[("code", "other|8867-4")], alice);
        assert_eq!(total, 0);
        let (total, _) = search(&index, &[("patient", "Patient/unknown")], alice);
        assert_eq!(total, 0);
    }

    #[test]
    fn pages_and_counts() {
        let (index, alice, _) = index();
        let (total, page) = search(&index, &[("_count", "3"), ("_offset", "3")], alice);
        assert_eq!((total, page.len()), (4, 1));
        let (_, page) = search(
            &index,
            &[("_sort", "-_lastUpdated"), ("_count", "1")],
            alice,
        );
        assert_eq!(page, vec![RecordId([3; 16])]);
    }

    #[test]
    fn unknown_parameters_follow_the_handling_preference() {
        let unknown = params(&[("colour", "red")]);
        assert_eq!(
            parse("Observation", &unknown, true, |_| None).unwrap_err(),
            SearchError::Unsupported("colour".into())
        );
        assert!(parse("Observation", &unknown, false, |_| None).is_ok());
        let bad_date = params(&[("date", "ge-yesterday")]);
        assert!(matches!(
            parse("Observation", &bad_date, false, |_| None),
            Err(SearchError::BadValue { .. })
        ));
    }
}

#[cfg(test)]
mod model {
    //! The index's narrowing (by id, patient or code) must never lose a match:
    //! every search equals a plain filter over every entry the index holds,
    //! after any sequence of inserts, replacements and removals.

    use std::collections::BTreeMap;

    use proptest::prelude::*;
    use salus_types::consent::Purpose;
    use serde_json::json;

    use super::*;

    fn resource(code: u8, day: u8, status: bool) -> serde_json::Value {
        json!({"resourceType": "Observation",
            "status": if status { "final" } else { "amended" },
            "code": {"coding": [{"system": "http://loinc.org", "code": format!("c{code}")}]},
            "effectiveDateTime": format!("2026-01-{:02}", 1 + day % 28)})
    }

    #[derive(Debug, Clone)]
    enum Step {
        Put {
            record: u8,
            patient: u8,
            code: u8,
            day: u8,
            status: bool,
            version: u8,
        },
        Remove {
            record: u8,
        },
    }

    fn step() -> impl Strategy<Value = Step> {
        prop_oneof![
            4 => (0u8..24, 0u8..3, 0u8..4, 0u8..28, any::<bool>(), 1u8..4).prop_map(
                |(record, patient, code, day, status, version)| Step::Put { record, patient, code, day, status, version }
            ),
            1 => (0u8..24).prop_map(|record| Step::Remove { record }),
        ]
    }

    fn query() -> impl Strategy<Value = Vec<(String, String)>> {
        let param = prop_oneof![
            (0u8..5).prop_map(|c| ("code".to_owned(), format!("c{c}"))),
            (0u8..5).prop_map(|c| (
                "code".to_owned(),
                format!("http://loinc.org|c{c},c{}", (c + 1) % 5)
            )),
            Just(("code".to_owned(), "http://loinc.org|".to_owned())),
            (0u8..4).prop_map(|p| ("patient".to_owned(), format!("p{p}"))),
            (
                0u8..28,
                prop::sample::select(vec!["ge", "le", "gt", "lt", "eq", "ne"])
            )
                .prop_map(|(d, prefix)| (
                    "date".to_owned(),
                    format!("{prefix}2026-01-{:02}", 1 + d)
                )),
            Just(("status".to_owned(), "final".to_owned())),
            (0u8..24).prop_map(|r| ("_id".to_owned(), RecordId([r; 16]).to_hex())),
        ];
        prop::collection::vec(param, 0..4)
    }

    proptest! {
        #[test]
        fn narrowing_never_loses_a_match(steps in prop::collection::vec(step(), 0..60), pairs in query()) {
            let mut index = Index::default();
            let mut model: BTreeMap<RecordId, Entry> = BTreeMap::new();
            for step in steps {
                match step {
                    Step::Put { record, patient, code, day, status, version } => {
                        let entry = Entry::of(&resource(code, day, status), RecordId([record; 16]),
                            u32::from(version), AccountId([patient; 20]), u64::from(day), Purpose::Treatment);
                        if model.get(&entry.record).is_none_or(|old| old.version <= entry.version) {
                            model.insert(entry.record, entry.clone());
                        }
                        index.insert(entry);
                    }
                    Step::Remove { record } => {
                        model.remove(&RecordId([record; 16]));
                        index.remove(&RecordId([record; 16]));
                    }
                }
            }
            let mut all = pairs.clone();
            all.push(("_count".into(), "1000".into()));
            let query = parse("Observation", &all, true, |r| {
                r.strip_prefix('p').and_then(|n| n.parse::<u8>().ok()).map(|n| AccountId([n; 20]))
            }).expect("a supported query");
            let (total, page) = run(&index, &query);
            let expected: Vec<RecordId> = model.values().filter(|e| query.matches(e)).map(|e| e.record).collect();
            prop_assert_eq!(total, expected.len());
            prop_assert_eq!(page, expected);
        }
    }
}
