//! The FHIR REST routes (R4 §3.1.0): HTTP in, gateway operations, FHIR out.

use std::sync::Arc;

use axum::body::{Body, Bytes};
use axum::extract::{Path, Request, State};
use axum::http::{header, HeaderMap, HeaderValue, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use serde_json::{json, Value};

use crate::bundle;
use crate::capability::capability_statement;
use crate::gateway::{Gateway, Stored};
use crate::outcome::{GatewayError, FHIR_JSON};
use crate::resource::{is_fhir_id, is_r4_type};
use crate::search::{self, Query};
use crate::validate::{validate, MAX_DOCUMENT_BYTES};

/// What the handlers share.
pub struct Served {
    pub gateway: Gateway,
    /// The FHIR base URL, as clients reach it (`http://127.0.0.1:8080/fhir`).
    pub base: String,
    /// The bearer token clients present.
    pub token: String,
}

type Shared = State<Arc<Served>>;

/// The `/fhir` router.
pub fn router(served: Arc<Served>) -> Router {
    let protected = Router::new()
        // Some clients post to the base with a trailing slash.
        .route("/fhir", axum::routing::post(transaction))
        .route("/fhir/", axum::routing::post(transaction))
        .route("/fhir/{resource_type}", get(search_type).post(create))
        .route(
            "/fhir/{resource_type}/{id}",
            get(read).put(update).delete(delete),
        )
        .route("/fhir/{resource_type}/{id}/_history", get(history))
        .route("/fhir/{resource_type}/{id}/_history/{version}", get(vread))
        .route_layer(axum::middleware::from_fn_with_state(
            served.clone(),
            authenticate,
        ));
    Router::new()
        .route("/fhir/metadata", get(metadata))
        .merge(protected)
        .fallback(unknown_route)
        .method_not_allowed_fallback(unsupported_method)
        .with_state(served)
}

async fn authenticate(State(served): Shared, request: Request, next: Next) -> Response {
    let presented = request
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .unwrap_or_default();
    if !constant_time_eq(presented.as_bytes(), served.token.as_bytes()) {
        return GatewayError::Unauthorized.into_response();
    }
    next.run(request).await
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

async fn unknown_route(method: Method) -> GatewayError {
    GatewayError::NotFound(format!("no FHIR interaction here for {method}"))
}

async fn unsupported_method(method: Method) -> GatewayError {
    GatewayError::NotSupported(format!(
        "{method} is not a FHIR interaction this gateway offers here"
    ))
}

async fn metadata(State(served): Shared) -> Response {
    fhir(
        StatusCode::OK,
        &capability_statement(&served.base, env!("CARGO_PKG_VERSION")),
    )
}

/// A FHIR JSON answer.
pub(crate) fn fhir(status: StatusCode, body: &Value) -> Response {
    (
        status,
        [(header::CONTENT_TYPE, FHIR_JSON)],
        body.to_string(),
    )
        .into_response()
}

/// A resource answer with its version headers.
fn resource_response(
    served: &Served,
    status: StatusCode,
    stored: &Stored,
    prefer: Return,
) -> Response {
    let mut response = match prefer {
        Return::Representation => fhir(status, &stored.resource),
        Return::Minimal => status.into_response(),
        Return::Outcome => fhir(
            status,
            &json!({"resourceType": "OperationOutcome", "issue": [{
                "severity": "information", "code": "informational",
                "diagnostics": format!("{} version {}", stored.location(), stored.version)}]}),
        ),
    };
    let headers = response.headers_mut();
    if let Ok(etag) = HeaderValue::from_str(&format!("W/\"{}\"", stored.version)) {
        headers.insert(header::ETAG, etag);
    }
    let location = format!(
        "{}/{}/_history/{}",
        served.base,
        stored.location(),
        stored.version
    );
    if let Ok(location) = HeaderValue::from_str(&location) {
        headers.insert(header::LOCATION, location.clone());
        headers.insert(header::CONTENT_LOCATION, location);
    }
    response
}

/// What `Prefer: return=` asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Return {
    Representation,
    Minimal,
    Outcome,
}

fn preference(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all("prefer")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split([',', ';']))
        .filter_map(|part| part.trim().split_once('='))
        .find(|(key, _)| key.trim() == name)
        .map(|(_, value)| value.trim().trim_matches('"').to_owned())
}

fn return_preference(headers: &HeaderMap) -> Return {
    match preference(headers, "return").as_deref() {
        Some("minimal") => Return::Minimal,
        Some("OperationOutcome") => Return::Outcome,
        _ => Return::Representation,
    }
}

fn strict(headers: &HeaderMap) -> bool {
    preference(headers, "handling").as_deref() == Some("strict")
}

fn check_type(resource_type: &str) -> Result<(), GatewayError> {
    if is_r4_type(resource_type) {
        Ok(())
    } else {
        let shown = if is_fhir_id(resource_type) {
            resource_type
        } else {
            "(malformed)"
        };
        Err(GatewayError::NotFound(format!("resource type {shown}")))
    }
}

/// The request body as a validated resource of the expected type.
async fn body_resource(
    headers: &HeaderMap,
    body: Body,
    expected: Option<&str>,
) -> Result<Value, GatewayError> {
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    let media = content_type.split(';').next().unwrap_or_default().trim();
    if !matches!(
        media,
        "application/fhir+json" | "application/json" | "application/json+fhir"
    ) {
        return Err(GatewayError::UnsupportedMediaType);
    }
    let bytes: Bytes = axum::body::to_bytes(body, MAX_DOCUMENT_BYTES)
        .await
        .map_err(|_| GatewayError::TooLarge(MAX_DOCUMENT_BYTES))?;
    let valid = validate(&bytes)?;
    if let Some(expected) = expected {
        if valid.resource_type != expected {
            return Err(GatewayError::BadRequest(format!(
                "the body is a {}, the URL names {expected}",
                valid.resource_type
            )));
        }
    }
    Ok(valid.value)
}

fn if_match(headers: &HeaderMap) -> Result<Option<u32>, GatewayError> {
    let text = headers
        .get(header::IF_MATCH)
        .map(|v| v.to_str().unwrap_or_default());
    etag_version(text)
}

/// The version an ETag (`W/"3"`, or `"3"`) names, if one is given.
pub(crate) fn etag_version(etag: Option<&str>) -> Result<Option<u32>, GatewayError> {
    let Some(text) = etag.map(str::trim) else {
        return Ok(None);
    };
    let inner = text.strip_prefix("W/").unwrap_or(text).trim_matches('"');
    inner
        .parse()
        .map(Some)
        .map_err(|_| GatewayError::BadRequest("an ETag must be W/\"<version>\"".into()))
}

async fn create(
    State(served): Shared,
    Path(resource_type): Path<String>,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, GatewayError> {
    check_type(&resource_type)?;
    let resource = body_resource(&headers, body, Some(&resource_type)).await?;
    let prefer = return_preference(&headers);
    if let Some(condition) = headers.get("if-none-exist") {
        let condition = condition
            .to_str()
            .map_err(|_| GatewayError::BadRequest("If-None-Exist is not a query".into()))?;
        let query = parse_query(
            &served.gateway,
            &resource_type,
            condition.trim_start_matches('?'),
            true,
        )?;
        let (total, page) = search::run(&served.gateway.index(), &query);
        match total {
            0 => {}
            1 => {
                let existing = served.gateway.read_indexed(&page).await?;
                if let Some(stored) = existing.first() {
                    return Ok(resource_response(&served, StatusCode::OK, stored, prefer));
                }
            }
            _ => {
                return Err(GatewayError::Precondition(format!(
                    "If-None-Exist matches {total} resources; it must match at most one"
                )))
            }
        }
    }
    let stored = served.gateway.write_one(resource, None).await?;
    Ok(resource_response(
        &served,
        StatusCode::CREATED,
        &stored,
        prefer,
    ))
}

async fn update(
    State(served): Shared,
    Path((resource_type, id)): Path<(String, String)>,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, GatewayError> {
    check_type(&resource_type)?;
    let expected = if_match(&headers)?;
    let resource = body_resource(&headers, body, Some(&resource_type)).await?;
    if resource.get("id").and_then(Value::as_str) != Some(id.as_str()) {
        return Err(GatewayError::BadRequest(
            "the body's id must match the URL's".into(),
        ));
    }
    // The resource must exist and be readable by this key: updating blind
    // would let a key overwrite what it may not see.
    let current = served.gateway.read(&resource_type, &id, None).await?;
    let stored = served
        .gateway
        .write_one(resource, Some((current.record, expected)))
        .await?;
    Ok(resource_response(
        &served,
        StatusCode::OK,
        &stored,
        return_preference(&headers),
    ))
}

async fn read(
    State(served): Shared,
    Path((resource_type, id)): Path<(String, String)>,
) -> Result<Response, GatewayError> {
    check_type(&resource_type)?;
    let stored = served.gateway.read(&resource_type, &id, None).await?;
    Ok(resource_response(
        &served,
        StatusCode::OK,
        &stored,
        Return::Representation,
    ))
}

async fn vread(
    State(served): Shared,
    Path((resource_type, id, version)): Path<(String, String, String)>,
) -> Result<Response, GatewayError> {
    check_type(&resource_type)?;
    let version: u32 = version
        .parse()
        .ok()
        .filter(|v| *v > 0)
        .ok_or_else(|| GatewayError::NotFound(format!("version of {resource_type}/{id}")))?;
    let stored = served
        .gateway
        .read(&resource_type, &id, Some(version))
        .await?;
    Ok(resource_response(
        &served,
        StatusCode::OK,
        &stored,
        Return::Representation,
    ))
}

async fn delete(
    State(served): Shared,
    Path((resource_type, id)): Path<(String, String)>,
) -> Result<Response, GatewayError> {
    check_type(&resource_type)?;
    served.gateway.delete(&resource_type, &id).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

async fn history(
    State(served): Shared,
    Path((resource_type, id)): Path<(String, String)>,
) -> Result<Response, GatewayError> {
    check_type(&resource_type)?;
    let versions = served.gateway.history(&resource_type, &id).await?;
    let entries: Vec<Value> = versions
        .iter()
        .map(|stored| {
            json!({
                "fullUrl": format!("{}/{}", served.base, stored.location()),
                "resource": stored.resource,
                "request": {
                    "method": if stored.version == 1 { "POST" } else { "PUT" },
                    "url": if stored.version == 1 { resource_type.clone() } else { stored.location() },
                },
                "response": {
                    "status": if stored.version == 1 { "201 Created" } else { "200 OK" },
                    "etag": format!("W/\"{}\"", stored.version),
                },
            })
        })
        .collect();
    Ok(fhir(
        StatusCode::OK,
        &json!({"resourceType": "Bundle", "type": "history", "total": entries.len(), "entry": entries}),
    ))
}

/// Parses a query string for a search of `resource_type`.
pub(crate) fn parse_query(
    gateway: &Gateway,
    resource_type: &str,
    query: &str,
    strict: bool,
) -> Result<Query, GatewayError> {
    let pairs = form_pairs(query)?;
    Ok(search::parse(resource_type, &pairs, strict, |reference| {
        gateway.patient_by_reference(reference)
    })?)
}

/// `a=1&b=2`, percent-decoded.
fn form_pairs(query: &str) -> Result<Vec<(String, String)>, GatewayError> {
    query
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|pair| {
            let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
            Ok((percent_decode(name)?, percent_decode(value)?))
        })
        .collect()
}

fn percent_decode(text: &str) -> Result<String, GatewayError> {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'%' => {
                let hex = text
                    .get(i + 1..i + 3)
                    .and_then(|h| u8::from_str_radix(h, 16).ok())
                    .ok_or_else(|| {
                        GatewayError::BadRequest("a query has a bad percent-escape".into())
                    })?;
                out.push(hex);
                i += 3;
            }
            b'+' => {
                out.push(b' ');
                i += 1;
            }
            other => {
                out.push(other);
                i += 1;
            }
        }
    }
    String::from_utf8(out).map_err(|_| GatewayError::BadRequest("a query is not UTF-8".into()))
}

async fn search_type(
    State(served): Shared,
    Path(resource_type): Path<String>,
    headers: HeaderMap,
    request: Request,
) -> Result<Response, GatewayError> {
    check_type(&resource_type)?;
    let query_text = request.uri().query().unwrap_or_default().to_owned();
    let query = parse_query(
        &served.gateway,
        &resource_type,
        &query_text,
        strict(&headers),
    )?;
    let bundle = bundle::searchset(&served, &query).await?;
    Ok(fhir(StatusCode::OK, &bundle))
}

async fn transaction(
    State(served): Shared,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, GatewayError> {
    let bundle = body_resource(&headers, body, Some("Bundle")).await?;
    let answer = bundle::process(&served, bundle).await?;
    Ok(fhir(StatusCode::OK, &answer))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn queries_are_decoded() {
        let pairs =
            form_pairs("code=http%3A%2F%2Floinc.org%7C8867-4&date=ge2026-01-01&_count=2").unwrap();
        assert_eq!(pairs[0], ("code".into(), "http://loinc.org|8867-4".into()));
        assert_eq!(pairs.len(), 3);
        assert!(form_pairs("code=%zz").is_err());
    }

    #[test]
    fn preferences_are_read() {
        let mut headers = HeaderMap::new();
        headers.insert(
            "prefer",
            HeaderValue::from_static("handling=strict, return=minimal"),
        );
        assert!(strict(&headers));
        assert_eq!(return_preference(&headers), Return::Minimal);
    }
}
