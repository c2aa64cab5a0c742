//! How an oracle judges evidence: a question's [`Rule`] evaluated on the
//! decrypted FHIR R4 resources, the same way by every honest oracle. Pure
//! and conservative: money is read as decimal digits into cents (rounded
//! down; serde_json keeps numbers as f64, so an amount past 15 significant
//! digits or in exponent form is not read at all), a date without a time
//! counts as its whole day, and anything malformed or out of the rule's
//! scope counts for nothing, so a bad document denies rather than pays.

use salus_types::calendar::{day_number, parse_fhir_time, FhirTime};
use salus_types::oracle::{Answer, Rule};
use serde_json::Value;

/// The answer `rule` gives on `resources` (each a resource or a Bundle).
pub fn evaluate(rule: &Rule, resources: &[Value]) -> Answer {
    let resources: Vec<&Value> = resources.iter().flat_map(flatten).collect();
    let owed = match rule {
        Rule::Indemnity {
            diagnosis_codes,
            from_ms,
            to_ms,
            currency,
            units_per_cent,
            deductible,
            cap,
        } => {
            let billed: u128 = resources
                .iter()
                .filter_map(|r| covered_claim(r, diagnosis_codes, (*from_ms, *to_ms), currency))
                .fold(0, u128::saturating_add);
            billed
                .saturating_mul(*units_per_cent)
                .saturating_sub(*deductible)
                .min(*cap)
        }
        Rule::Parametric {
            per_day,
            max_days,
            from_ms,
            to_ms,
            cap,
        } => {
            let days: u64 = resources
                .iter()
                .filter_map(|r| inpatient_days(r, (*from_ms, *to_ms)))
                .fold(0, u64::saturating_add);
            u128::from(days.min(u64::from(*max_days)))
                .saturating_mul(*per_day)
                .min(*cap)
        }
    };
    if owed == 0 {
        Answer::Deny
    } else {
        Answer::Approve { amount: owed }
    }
}

/// A Bundle's entries, or the resource itself.
fn flatten(value: &Value) -> Vec<&Value> {
    if value.get("resourceType").and_then(Value::as_str) == Some("Bundle") {
        value
            .get("entry")
            .and_then(Value::as_array)
            .map(|entries| entries.iter().filter_map(|e| e.get("resource")).collect())
            .unwrap_or_default()
    } else {
        vec![value]
    }
}

fn is_type(resource: &Value, kind: &str) -> bool {
    resource.get("resourceType").and_then(Value::as_str) == Some(kind)
}

fn time_at(resource: &Value, path: &[&str]) -> Option<FhirTime> {
    path.iter()
        .try_fold(resource, |value, step| value.get(step))?
        .as_str()
        .and_then(parse_fhir_time)
}

/// Whether `time` lies wholly in the window `[from_ms, to_ms)`.
fn within(time: FhirTime, (from_ms, to_ms): (u64, u64)) -> bool {
    time.earliest_ms() >= from_ms && time.latest_ms() < to_ms
}

/// The cents a FHIR `Claim` bills for covered services, if it is covered: an
/// ICD-10 diagnosis in `codes`, a service time in the window, and a total
/// in `currency`.
fn covered_claim(
    claim: &Value,
    codes: &[String],
    window: (u64, u64),
    currency: &str,
) -> Option<u128> {
    if !is_type(claim, "Claim") {
        return None;
    }
    if matches!(
        claim.get("status").and_then(Value::as_str),
        Some("cancelled" | "entered-in-error")
    ) {
        return None;
    }
    let diagnosed = claim
        .get("diagnosis")?
        .as_array()?
        .iter()
        .filter_map(|d| d.pointer("/diagnosisCodeableConcept/coding")?.as_array())
        .flatten()
        .any(|coding| {
            let icd10 = coding
                .get("system")
                .and_then(Value::as_str)
                .is_some_and(|s| s.contains("icd-10"));
            let code = coding.get("code").and_then(Value::as_str);
            icd10 && code.is_some_and(|c| codes.iter().any(|k| k == c))
        });
    if !diagnosed {
        return None;
    }
    let served = time_at(claim, &["billablePeriod", "start"]).or_else(|| {
        claim
            .get("item")?
            .as_array()?
            .iter()
            .find_map(|item| time_at(item, &["servicedDate"]))
    })?;
    if !within(served, window) {
        return None;
    }
    let total = claim.get("total")?;
    if total.get("currency").and_then(Value::as_str) != Some(currency) {
        return None;
    }
    cents(total.get("value")?)
}

/// A FHIR decimal as whole cents, rounded down (favouring the pool); `None`
/// for a negative or malformed amount.
pub fn cents(value: &Value) -> Option<u128> {
    let text = match value {
        Value::Number(number) => number.to_string(),
        _ => return None,
    };
    let (whole, fraction) = text.split_once('.').unwrap_or((&text, ""));
    if whole.is_empty()
        || !whole.bytes().all(|b| b.is_ascii_digit())
        || !fraction.bytes().all(|b| b.is_ascii_digit())
    {
        return None;
    }
    let whole: u128 = whole.parse().ok()?;
    let mut fraction = fraction.bytes().map(|b| u128::from(b - b'0'));
    let tenths = fraction.next().unwrap_or(0);
    let hundredths = fraction.next().unwrap_or(0);
    whole
        .checked_mul(100)?
        .checked_add(tenths * 10 + hundredths)
}

/// Nights of a finished inpatient `Encounter` inside the window.
fn inpatient_days(encounter: &Value, window: (u64, u64)) -> Option<u64> {
    if !is_type(encounter, "Encounter") {
        return None;
    }
    if encounter.get("status").and_then(Value::as_str) != Some("finished") {
        return None;
    }
    if encounter.pointer("/class/code").and_then(Value::as_str) != Some("IMP") {
        return None;
    }
    let start = time_at(encounter, &["period", "start"])?;
    let end = time_at(encounter, &["period", "end"])?;
    if !within(start, window) || !within(end, window) {
        return None;
    }
    day_number(end.date())?.checked_sub(day_number(start.date())?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// 2026-01-01T00:00:00Z and 2027-01-01T00:00:00Z.
    const YEAR_2026: (u64, u64) = (1_767_225_600_000, 1_798_761_600_000);

    fn indemnity() -> Rule {
        Rule::Indemnity {
            diagnosis_codes: vec!["J18.9".into()],
            from_ms: YEAR_2026.0,
            to_ms: YEAR_2026.1,
            currency: "USD".into(),
            units_per_cent: 1,
            deductible: 5_000,
            cap: 1_000_000,
        }
    }

    fn claim(code: &str, date: &str, total: Value) -> Value {
        json!({
            "resourceType": "Claim",
            "status": "active",
            "diagnosis": [{"sequence": 1, "diagnosisCodeableConcept": {"coding": [
                {"system": "http://hl7.org/fhir/sid/icd-10", "code": code}]}}],
            "billablePeriod": {"start": date},
            "total": {"value": total, "currency": "USD"}
        })
    }

    #[test]
    fn an_indemnity_pays_billed_cents_less_the_deductible_up_to_the_cap() {
        let covered = claim("J18.9", "2026-03-04", json!(1234.56));
        let at_midnight = claim("J18.9", "2026-01-01T00:00:00Z", json!(1234.56));
        assert_eq!(
            evaluate(&indemnity(), &[at_midnight]),
            evaluate(&indemnity(), std::slice::from_ref(&covered))
        );
        assert_eq!(
            evaluate(&indemnity(), &[covered]),
            Answer::Approve {
                amount: 123_456 - 5_000
            }
        );
        let huge = claim("J18.9", "2026-03-04", json!(999_999.99));
        assert_eq!(
            evaluate(&indemnity(), &[huge]),
            Answer::Approve { amount: 1_000_000 }
        );
    }

    #[test]
    fn an_indemnity_denies_what_it_does_not_cover() {
        for resource in [
            claim("E11.9", "2026-03-04", json!(100)),
            claim("J18.9", "2025-12-31", json!(100)),
            claim("J18.9", "2025-12-31T23:59:59Z", json!(100)),
            claim("J18.9", "2026-01-01T01:00:00+02:00", json!(100)),
            claim("J18.9", "2026-03-04", json!("100")),
            claim("J18.9", "2026-03-04", json!(-100)),
            claim("J18.9", "2026-03-04", json!(4.99)),
            json!({"resourceType": "Observation"}),
        ] {
            assert_eq!(evaluate(&indemnity(), &[resource]), Answer::Deny);
        }
    }

    #[test]
    fn a_parametric_product_pays_whole_inpatient_days() {
        let rule = Rule::Parametric {
            per_day: 20_000,
            max_days: 3,
            from_ms: YEAR_2026.0,
            to_ms: YEAR_2026.1,
            cap: 50_000,
        };
        let stay = |class: &str, status: &str, start: &str, end: &str| {
            json!({"resourceType": "Encounter", "status": status,
                "class": {"system": "http://terminology.hl7.org/CodeSystem/v3-ActCode", "code": class},
                "period": {"start": start, "end": end}})
        };
        let two_nights = stay(
            "IMP",
            "finished",
            "2026-03-01T20:00:00Z",
            "2026-03-03T09:00:00Z",
        );
        assert_eq!(
            evaluate(&rule, std::slice::from_ref(&two_nights)),
            Answer::Approve { amount: 40_000 }
        );
        let bundle = json!({"resourceType": "Bundle", "type": "collection",
            "entry": [{"resource": two_nights.clone()}, {"resource": two_nights}]});
        assert_eq!(
            evaluate(&rule, &[bundle]),
            Answer::Approve { amount: 50_000 },
            "capped"
        );
        for denied in [
            stay("AMB", "finished", "2026-03-01", "2026-03-03"),
            stay("IMP", "in-progress", "2026-03-01", "2026-03-03"),
            stay("IMP", "finished", "2026-03-01", "2026-03-01"),
            stay("IMP", "finished", "2025-12-30", "2026-01-02"),
        ] {
            assert_eq!(evaluate(&rule, &[denied]), Answer::Deny);
        }
    }

    #[test]
    fn cents_are_exact() {
        assert_eq!(cents(&json!(12)), Some(1_200));
        assert_eq!(cents(&json!(12.5)), Some(1_250));
        assert_eq!(cents(&json!(0.019)), Some(1));
        assert_eq!(cents(&json!(-1)), None);
        assert_eq!(cents(&json!("1")), None);
    }
}
