//! Bundles: search results (`searchset`), and the `transaction` and `batch`
//! Bundles posted to the base (R4 §3.1.0.11).
//!
//! A transaction becomes one Salus transaction whose actions are all its
//! anchors, so the chain lands all of it or none of it. Its entries may
//! create (with `ifNoneExist`) and update; `urn:uuid` full URLs are given
//! their record ids before anything is sealed, and every reference to them
//! is rewritten. A batch runs each entry alone and answers each alone.

use std::collections::BTreeMap;

use axum::http::StatusCode;
use salus_types::records::RecordId;
use serde_json::{json, Value};

use crate::gateway::{Pending, Stored};
use crate::outcome::GatewayError;
use crate::resource::{is_r4_type, references, relative_reference};
use crate::routes::{etag_version, parse_query, Served};
use crate::search::{self, Query};

/// Entries one batch may hold.
pub const MAX_ENTRIES: usize = salus_api::vault::MAX_VAULT_BATCH;
/// Entries one transaction may hold: the chain's actions per transaction.
pub const MAX_TRANSACTION_ENTRIES: usize = salus_types::MAX_ACTIONS_PER_TX;

/// A searchset Bundle for `query`: the page's resources, read through the
/// vault, and the patients they name when `_include` asked for them.
pub async fn searchset(served: &Served, query: &Query) -> Result<Value, GatewayError> {
    let gateway = &served.gateway;
    let (total, page) = search::run(&gateway.index(), query);
    let matches = gateway.read_indexed(&page).await?;
    // Whatever the vault refused has left the index, and the total with it.
    let total = total - (page.len() - matches.len());
    let mut entries: Vec<Value> = matches
        .iter()
        .map(|stored| entry(served, stored, "match"))
        .collect();
    if query.include_patient {
        let mut patients: Vec<RecordId> = Vec::new();
        {
            let index = gateway.index();
            for stored in &matches {
                let Some(entry) = index.get(&stored.record) else {
                    continue;
                };
                for record in index
                    .of_patient("Patient", &entry.patient)
                    .into_iter()
                    .flatten()
                {
                    if !patients.contains(record) {
                        patients.push(*record);
                    }
                }
            }
        }
        for stored in gateway.read_indexed(&patients).await? {
            entries.push(entry(served, &stored, "include"));
        }
    }
    let mut links = vec![json!({"relation": "self", "url": page_url(served, query, query.offset)})];
    if query.count > 0 && query.offset.saturating_add(query.count) < total {
        links.push(
            json!({"relation": "next", "url": page_url(served, query, query.offset + query.count)}),
        );
    }
    if query.offset > 0 {
        let previous = query.offset.saturating_sub(query.count);
        links.push(json!({"relation": "previous", "url": page_url(served, query, previous)}));
    }
    Ok(json!({
        "resourceType": "Bundle",
        "type": "searchset",
        "total": total,
        "link": links,
        "entry": entries,
    }))
}

fn entry(served: &Served, stored: &Stored, mode: &str) -> Value {
    json!({
        "fullUrl": format!("{}/{}", served.base, stored.location()),
        "resource": stored.resource,
        "search": {"mode": mode},
    })
}

fn page_url(served: &Served, query: &Query, offset: usize) -> String {
    let mut parts: Vec<String> = query
        .applied
        .iter()
        .filter(|(name, _)| name != "_count")
        .map(|(name, value)| format!("{}={}", encode(name), encode(value)))
        .collect();
    parts.push(format!("_count={}", query.count));
    if offset > 0 {
        parts.push(format!("_offset={offset}"));
    }
    format!(
        "{}/{}?{}",
        served.base,
        query.resource_type,
        parts.join("&")
    )
}

fn encode(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for byte in text.bytes() {
        if byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'.' | b'_' | b'~' | b':') {
            out.push(byte as char);
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

/// Processes a posted `transaction` or `batch` Bundle.
pub async fn process(served: &Served, bundle: Value) -> Result<Value, GatewayError> {
    let kind = bundle["type"].as_str().unwrap_or_default().to_owned();
    let entries = bundle["entry"].as_array().cloned().unwrap_or_default();
    if entries.len() > MAX_ENTRIES {
        return Err(GatewayError::BadRequest(format!(
            "a {kind} may hold at most {MAX_ENTRIES} entries"
        )));
    }
    match kind.as_str() {
        "transaction" if entries.len() > MAX_TRANSACTION_ENTRIES => Err(GatewayError::BadRequest(format!(
            "a transaction may hold at most {MAX_TRANSACTION_ENTRIES} entries: it becomes one Salus \
             transaction, which is what makes it all or nothing; send more as a batch"
        ))),
        "transaction" => transaction(served, entries).await,
        "batch" => Ok(batch(served, entries).await),
        _ => Err(GatewayError::BadRequest(
            "only a transaction or batch Bundle may be posted to the base".into(),
        )),
    }
}

/// What one transaction entry asks for.
enum Step {
    Create {
        full_url: Option<String>,
        if_none_exist: Option<String>,
    },
    Update {
        record: RecordId,
        if_match: Option<u32>,
    },
}

async fn transaction(served: &Served, entries: Vec<Value>) -> Result<Value, GatewayError> {
    let gateway = &served.gateway;
    let mut steps = Vec::with_capacity(entries.len());
    let mut resources = Vec::with_capacity(entries.len());
    for (number, entry) in entries.iter().enumerate() {
        let refuse = |why: &str| GatewayError::BadRequest(format!("entry {number}: {why}"));
        let request = &entry["request"];
        let method = request["method"].as_str().unwrap_or_default();
        let url = request["url"].as_str().unwrap_or_default();
        let resource = entry
            .get("resource")
            .cloned()
            .ok_or_else(|| refuse("has no resource"))?;
        let resource_type = resource["resourceType"]
            .as_str()
            .unwrap_or_default()
            .to_owned();
        let step = match method {
            "POST" if url == resource_type => Step::Create {
                full_url: entry["fullUrl"].as_str().map(str::to_owned),
                if_none_exist: request["ifNoneExist"].as_str().map(str::to_owned),
            },
            "PUT" => {
                let (kind, id) =
                    relative_reference(url).ok_or_else(|| refuse("PUT needs a Type/id url"))?;
                if kind != resource_type || resource["id"].as_str() != Some(id) {
                    return Err(refuse("the url, the resource's type and its id must agree"));
                }
                let current = gateway.read(kind, id, None).await?;
                let if_match = etag_version(request["ifMatch"].as_str())?;
                Step::Update {
                    record: current.record,
                    if_match,
                }
            }
            "POST" => return Err(refuse("a POST's url must be the resource's type")),
            _ => {
                return Err(GatewayError::NotSupported(format!(
                    "entry {number}: a transaction here may only POST and PUT"
                )))
            }
        };
        steps.push(step);
        resources.push(resource);
    }
    // Give every new resource its id, so references to it can be rewritten.
    let mut assigned: BTreeMap<String, String> = BTreeMap::new();
    let mut existing: BTreeMap<usize, Stored> = BTreeMap::new();
    let mut new_ids: Vec<Option<RecordId>> = Vec::with_capacity(steps.len());
    for (number, (step, resource)) in steps.iter().zip(&resources).enumerate() {
        let resource_type = resource["resourceType"].as_str().unwrap_or_default();
        match step {
            Step::Create {
                full_url,
                if_none_exist,
            } => {
                let found = match if_none_exist {
                    Some(condition) => conditional_match(served, resource_type, condition).await?,
                    None => None,
                };
                let id = match &found {
                    Some(stored) => stored.record,
                    None => RecordId::random(),
                };
                if let Some(url) = full_url {
                    assigned.insert(url.clone(), format!("{resource_type}/{id}"));
                }
                if let Some(stored) = found {
                    existing.insert(number, stored);
                    new_ids.push(None);
                } else {
                    new_ids.push(Some(id));
                }
            }
            Step::Update { .. } => new_ids.push(None),
        }
    }
    let mut pending = Vec::new();
    let mut order = Vec::new();
    for (number, ((step, mut resource), new_id)) in
        steps.iter().zip(resources).zip(&new_ids).enumerate()
    {
        if existing.contains_key(&number) {
            continue;
        }
        rewrite_references(&mut resource, &assigned)?;
        let existing = match step {
            Step::Create { .. } => None,
            Step::Update { record, if_match } => Some((*record, *if_match)),
        };
        pending.push(Pending {
            resource,
            existing,
            new_id: *new_id,
        });
        order.push(number);
    }
    let written = gateway.write_all(pending).await?;
    let mut by_entry: BTreeMap<usize, (Stored, &str)> = BTreeMap::new();
    for (number, stored) in order.into_iter().zip(written) {
        let status = match steps[number] {
            Step::Create { .. } => "201 Created",
            Step::Update { .. } => "200 OK",
        };
        by_entry.insert(number, (stored, status));
    }
    for (number, stored) in existing {
        by_entry.insert(number, (stored, "200 OK"));
    }
    let entries: Vec<Value> = by_entry
        .into_values()
        .map(|(stored, status)| response_entry(served, &stored, status))
        .collect();
    Ok(json!({"resourceType": "Bundle", "type": "transaction-response", "entry": entries}))
}

async fn conditional_match(
    served: &Served,
    resource_type: &str,
    condition: &str,
) -> Result<Option<Stored>, GatewayError> {
    let query = parse_query(
        &served.gateway,
        resource_type,
        condition.trim_start_matches('?'),
        true,
    )?;
    let (total, page) = search::run(&served.gateway.index(), &query);
    match total {
        0 => Ok(None),
        1 => Ok(served.gateway.read_indexed(&page).await?.pop()),
        _ => Err(GatewayError::Precondition(format!(
            "ifNoneExist matches {total} resources; it must match at most one"
        ))),
    }
}

/// Rewrites references to resources created in the same transaction.
fn rewrite_references(
    resource: &mut Value,
    assigned: &BTreeMap<String, String>,
) -> Result<(), GatewayError> {
    let mut found = Vec::new();
    references(resource, &mut Vec::new(), &mut found);
    for (pointer, reference) in found {
        if let Some(target) = assigned.get(&reference) {
            if let Some(slot) = resource.pointer_mut(&pointer) {
                *slot = json!(target);
            }
        } else if reference.starts_with("urn:uuid:") {
            return Err(GatewayError::BadRequest(
                "a urn:uuid reference names no entry of this transaction".into(),
            ));
        }
    }
    Ok(())
}

fn response_entry(served: &Served, stored: &Stored, status: &str) -> Value {
    json!({
        "fullUrl": format!("{}/{}", served.base, stored.location()),
        "resource": stored.resource,
        "response": {
            "status": status,
            "location": format!("{}/_history/{}", stored.location(), stored.version),
            "etag": format!("W/\"{}\"", stored.version),
            "lastModified": stored.resource["meta"]["lastUpdated"],
        },
    })
}

/// Each entry alone: one failing does not stop the others.
async fn batch(served: &Served, entries: Vec<Value>) -> Value {
    let mut answers = Vec::with_capacity(entries.len());
    for entry in entries {
        let answer = match batch_entry(served, &entry).await {
            Ok(answer) => answer,
            Err(error) => json!({"response": {
                "status": status_line(error.status()),
                "outcome": error.outcome(),
            }}),
        };
        answers.push(answer);
    }
    json!({"resourceType": "Bundle", "type": "batch-response", "entry": answers})
}

fn status_line(status: StatusCode) -> String {
    format!(
        "{} {}",
        status.as_u16(),
        status.canonical_reason().unwrap_or_default()
    )
}

async fn batch_entry(served: &Served, entry: &Value) -> Result<Value, GatewayError> {
    let gateway = &served.gateway;
    let request = &entry["request"];
    let method = request["method"].as_str().unwrap_or_default();
    let url = request["url"].as_str().unwrap_or_default();
    let (path, query) = url.split_once('?').unwrap_or((url, ""));
    match method {
        "GET" if is_r4_type(path) => {
            let query = parse_query(gateway, path, query, false)?;
            let bundle = searchset(served, &query).await?;
            Ok(json!({"resource": bundle, "response": {"status": "200 OK"}}))
        }
        "GET" => {
            let (kind, id) = relative_reference(path).ok_or_else(|| {
                GatewayError::BadRequest("GET needs Type/id or Type?query".into())
            })?;
            let version = path
                .split("/_history/")
                .nth(1)
                .map(|v| v.parse::<u32>())
                .transpose()
                .map_err(|_| GatewayError::BadRequest("a bad version".into()))?;
            let stored = gateway.read(kind, id, version).await?;
            Ok(response_entry(served, &stored, "200 OK"))
        }
        "POST" => {
            let resource = entry
                .get("resource")
                .cloned()
                .ok_or_else(|| GatewayError::BadRequest("a POST needs a resource".into()))?;
            if resource["resourceType"].as_str() != Some(path) {
                return Err(GatewayError::BadRequest(
                    "a POST's url must be the resource's type".into(),
                ));
            }
            let stored = gateway.write_one(resource, None).await?;
            Ok(response_entry(served, &stored, "201 Created"))
        }
        "PUT" => {
            let (kind, id) = relative_reference(path)
                .ok_or_else(|| GatewayError::BadRequest("PUT needs a Type/id url".into()))?;
            let resource = entry
                .get("resource")
                .cloned()
                .ok_or_else(|| GatewayError::BadRequest("a PUT needs a resource".into()))?;
            if resource["resourceType"].as_str() != Some(kind)
                || resource["id"].as_str() != Some(id)
            {
                return Err(GatewayError::BadRequest(
                    "the url, the resource's type and its id must agree".into(),
                ));
            }
            let current = gateway.read(kind, id, None).await?;
            let if_match = etag_version(request["ifMatch"].as_str())?;
            let stored = gateway
                .write_one(resource, Some((current.record, if_match)))
                .await?;
            Ok(response_entry(served, &stored, "200 OK"))
        }
        "DELETE" => {
            let (kind, id) = relative_reference(path)
                .ok_or_else(|| GatewayError::BadRequest("DELETE needs a Type/id url".into()))?;
            gateway.delete(kind, id).await?;
            Ok(json!({"response": {"status": "204 No Content"}}))
        }
        _ => Err(GatewayError::NotSupported(
            "a batch entry may GET, POST, PUT or DELETE".into(),
        )),
    }
}
