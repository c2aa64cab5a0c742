//! API errors: a stable machine code, a human message, the right HTTP status,
//! always as JSON. Messages come from typed errors and never echo request bodies.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use salus_api::{ErrorBody, ErrorDetail};

#[derive(Debug, Clone)]
pub struct ApiError {
    pub status: StatusCode,
    pub code: String,
    pub message: String,
}

impl ApiError {
    pub fn new(status: StatusCode, code: impl Into<String>, message: impl Into<String>) -> Self {
        ApiError {
            status,
            code: code.into(),
            message: message.into(),
        }
    }

    pub fn bad_request(code: &str, message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, code, message)
    }

    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, "not_found", message)
    }

    pub fn internal(message: impl std::fmt::Display) -> Self {
        tracing::error!(%message, "internal error while serving a request");
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
            "internal error; see the node log",
        )
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = ErrorBody {
            error: ErrorDetail {
                code: self.code,
                message: self.message,
            },
        };
        (self.status, Json(body)).into_response()
    }
}

impl From<salus_state::StateError> for ApiError {
    fn from(e: salus_state::StateError) -> Self {
        match e {
            salus_state::StateError::UnknownHeight { .. } => {
                ApiError::new(StatusCode::NOT_FOUND, "unknown_height", e.to_string())
            }
            salus_state::StateError::NotRetained { .. } => {
                ApiError::new(StatusCode::GONE, "state_not_retained", e.to_string())
            }
            other => ApiError::internal(other),
        }
    }
}

/// Turns axum's own extractor rejections (bad JSON, bad path) into our JSON
/// shape, with fixed messages: axum's texts can quote the request body.
pub struct Rejection(pub ApiError);

impl From<axum::extract::rejection::JsonRejection> for Rejection {
    fn from(r: axum::extract::rejection::JsonRejection) -> Self {
        if r.status() == StatusCode::PAYLOAD_TOO_LARGE {
            return Rejection(ApiError::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                "body_too_large",
                format!(
                    "the body is larger than the limit of {} MiB",
                    super::MAX_BODY_BYTES >> 20
                ),
            ));
        }
        Rejection(ApiError::new(
            r.status(),
            "bad_request",
            "the body must be JSON (Content-Type: application/json) with the fields this endpoint documents",
        ))
    }
}

impl From<axum::extract::rejection::QueryRejection> for Rejection {
    fn from(r: axum::extract::rejection::QueryRejection) -> Self {
        Rejection(ApiError::new(
            r.status(),
            "bad_request",
            "query parameters are missing or malformed",
        ))
    }
}

impl From<axum::extract::rejection::PathRejection> for Rejection {
    fn from(r: axum::extract::rejection::PathRejection) -> Self {
        Rejection(ApiError::new(
            r.status(),
            "bad_request",
            "a path parameter is malformed",
        ))
    }
}

/// A handler panic becomes a JSON 500 rather than a dropped connection.
pub fn panic_response(_panic: Box<dyn std::any::Any + Send + 'static>) -> Response {
    tracing::error!("a request handler panicked");
    ApiError::new(
        StatusCode::INTERNAL_SERVER_ERROR,
        "internal",
        "internal error; see the node log",
    )
    .into_response()
}

impl IntoResponse for Rejection {
    fn into_response(self) -> Response {
        self.0.into_response()
    }
}
