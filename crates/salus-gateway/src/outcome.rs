//! Every refusal as an R4 `OperationOutcome` with its HTTP status.
//!
//! Messages name elements, parameters, ids and reason codes, never content:
//! an outcome may be logged by the client, the gateway or a proxy.

use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::{json, Value};

use crate::search::SearchError;
use crate::validate::{Invalid, Problem};

/// The media type of every answer.
pub const FHIR_JSON: &str = "application/fhir+json; charset=utf-8";

/// Why a request failed.
#[derive(Debug, thiserror::Error)]
pub enum GatewayError {
    #[error("the request has no valid bearer token")]
    Unauthorized,
    #[error("access denied ({reason})")]
    Denied { reason: String },
    #[error("{0}")]
    Forbidden(String),
    #[error("{0} is not known to this gateway")]
    NotFound(String),
    #[error("{0} was erased")]
    Gone(String),
    #[error("the resource is at version {current}, not {expected}")]
    VersionConflict { current: u32, expected: u32 },
    #[error("{0}")]
    Conflict(String),
    #[error("{0}")]
    Precondition(String),
    #[error(transparent)]
    Invalid(#[from] Invalid),
    #[error(transparent)]
    Search(#[from] SearchError),
    #[error("{0}")]
    BadRequest(String),
    #[error("{0}")]
    Unprocessable(String),
    #[error("{0}")]
    NotSupported(String),
    #[error("the body must be application/fhir+json or application/json")]
    UnsupportedMediaType,
    #[error("the body is larger than {0} bytes")]
    TooLarge(usize),
    #[error("the network refused the write ({code}): {message}")]
    Rejected { code: String, message: String },
    #[error("the network could not be reached: {0}")]
    Unavailable(String),
    #[error("the network's answer could not be used: {0}")]
    Upstream(String),
}

impl GatewayError {
    pub fn status(&self) -> StatusCode {
        match self {
            GatewayError::Unauthorized => StatusCode::UNAUTHORIZED,
            GatewayError::Denied { .. } | GatewayError::Forbidden(_) => StatusCode::FORBIDDEN,
            GatewayError::NotFound(_) => StatusCode::NOT_FOUND,
            GatewayError::Gone(_) => StatusCode::GONE,
            GatewayError::VersionConflict { .. } | GatewayError::Precondition(_) => {
                StatusCode::PRECONDITION_FAILED
            }
            GatewayError::Conflict(_) => StatusCode::CONFLICT,
            GatewayError::Invalid(Invalid::TooLarge) | GatewayError::TooLarge(_) => {
                StatusCode::PAYLOAD_TOO_LARGE
            }
            GatewayError::Invalid(_) | GatewayError::Search(_) | GatewayError::BadRequest(_) => {
                StatusCode::BAD_REQUEST
            }
            GatewayError::Unprocessable(_) | GatewayError::Rejected { .. } => {
                StatusCode::UNPROCESSABLE_ENTITY
            }
            GatewayError::NotSupported(_) => StatusCode::METHOD_NOT_ALLOWED,
            GatewayError::UnsupportedMediaType => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            GatewayError::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            GatewayError::Upstream(_) => StatusCode::BAD_GATEWAY,
        }
    }

    /// The issue type (R4 `IssueType`) and, for a consent denial, its reason code.
    fn code(&self) -> &'static str {
        match self {
            GatewayError::Unauthorized => "login",
            GatewayError::Denied { .. } | GatewayError::Forbidden(_) => "forbidden",
            GatewayError::NotFound(_) | GatewayError::Gone(_) => "not-found",
            GatewayError::VersionConflict { .. } | GatewayError::Conflict(_) => "conflict",
            GatewayError::Precondition(_) => "duplicate",
            GatewayError::Invalid(Invalid::TooLarge) | GatewayError::TooLarge(_) => "too-long",
            GatewayError::Invalid(_) => "structure",
            GatewayError::Search(SearchError::Unsupported(_)) => "not-supported",
            GatewayError::Search(_) | GatewayError::BadRequest(_) => "invalid",
            GatewayError::Unprocessable(_) => "processing",
            GatewayError::Rejected { .. } => "business-rule",
            GatewayError::NotSupported(_) | GatewayError::UnsupportedMediaType => "not-supported",
            GatewayError::Unavailable(_) => "transient",
            GatewayError::Upstream(_) => "exception",
        }
    }

    /// The `OperationOutcome` this error answers with.
    pub fn outcome(&self) -> Value {
        let problems = match self {
            GatewayError::Invalid(invalid) => invalid.problems(),
            other => vec![Problem {
                path: String::new(),
                message: other.to_string(),
            }],
        };
        let reason = match self {
            GatewayError::Denied { reason } => Some(reason.as_str()),
            GatewayError::Rejected { code, .. } => Some(code.as_str()),
            _ => None,
        };
        let issues: Vec<Value> = problems
            .into_iter()
            .map(|problem| {
                let mut issue = json!({
                    "severity": "error",
                    "code": self.code(),
                    "diagnostics": problem.message,
                });
                if !problem.path.is_empty() {
                    issue["expression"] = json!([problem.path]);
                }
                if let Some(reason) = reason {
                    issue["details"] = json!({
                        "coding": [{"system": REASON_SYSTEM, "code": reason}],
                        "text": reason,
                    });
                }
                issue
            })
            .collect();
        json!({"resourceType": "OperationOutcome", "issue": issues})
    }
}

/// The code system of Salus's reason codes (consent denials, chain refusals).
pub const REASON_SYSTEM: &str = "https://salus.health/fhir/CodeSystem/reason";

impl IntoResponse for GatewayError {
    fn into_response(self) -> Response {
        let status = self.status();
        if status.is_server_error() {
            tracing::warn!(error = %self, "request failed");
        }
        let mut response = (
            status,
            [(header::CONTENT_TYPE, FHIR_JSON)],
            self.outcome().to_string(),
        )
            .into_response();
        if status == StatusCode::UNAUTHORIZED {
            response.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                axum::http::HeaderValue::from_static("Bearer realm=\"salus-gateway\""),
            );
        }
        response
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_consent_denial_names_its_reason_and_nothing_else() {
        let error = GatewayError::Denied {
            reason: "no_grant".into(),
        };
        assert_eq!(error.status(), StatusCode::FORBIDDEN);
        let outcome = error.outcome();
        assert_eq!(outcome["resourceType"], "OperationOutcome");
        assert_eq!(
            outcome["issue"][0]["details"]["coding"][0]["code"],
            "no_grant"
        );
        assert_eq!(outcome["issue"][0]["code"], "forbidden");
    }

    #[test]
    fn validation_problems_become_issues_with_paths() {
        let invalid = crate::validate::validate(
            br#"{"resourceType":"Observation","code":{"text":"x"},"status":"final","bogus":1}"#,
        )
        .expect_err("invalid");
        let outcome = GatewayError::from(invalid).outcome();
        assert_eq!(outcome["issue"][0]["expression"][0], "Observation.bogus");
        assert_eq!(outcome["issue"][0]["code"], "structure");
    }
}
