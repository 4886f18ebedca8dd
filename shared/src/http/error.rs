//! API errors as `{"error": {"code", "message", "field"}}` with the right status.

use crate::formats::InvalidEvent;
use crate::queue::QueueError;
use crate::store::StoreError;
use crate::url_policy::UrlRefused;
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Serialize;
use utoipa::ToSchema;

/// The body of every error answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct ErrorBody {
    /// What went wrong.
    pub error: ErrorDetail,
}

/// What went wrong, for programs (`code`, `field`) and for people (`message`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct ErrorDetail {
    /// A stable word: `invalid_request`, `refused`, `unauthorized`, `forbidden`, `not_found`,
    /// `body_too_large`, `conflict`, `throttled` or `unavailable`.
    pub code: &'static str,
    /// A sentence naming what is wrong.
    pub message: String,
    /// The offending field, when one is.
    pub field: Option<String>,
}

/// Everything an HTTP handler can answer with instead of success.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// The body is not the expected JSON, or a field has the wrong type or shape.
    #[error("{field}: {message}")]
    Invalid {
        /// Offending field path.
        field: String,
        /// What is wrong.
        message: String,
    },
    /// Understood, but refused (e.g. a webhook URL pointing inside our network).
    #[error("{field}: {message}")]
    Unprocessable {
        /// Offending field.
        field: String,
        /// Why.
        message: String,
    },
    /// Missing or wrong credentials.
    #[error("unauthorized: {0}")]
    Unauthorized(&'static str),
    /// A valid credential that may not do this: the API key lacks the scope.
    #[error("forbidden: this API key lacks the scope {0}")]
    MissingScope(crate::domain::Scope),
    /// Nothing there.
    #[error("not found: {0}")]
    NotFound(&'static str),
    /// The body exceeds the limit.
    #[error("body exceeds {0} bytes")]
    TooLarge(usize),
    /// The request cannot be carried out in the resource's current state.
    #[error("conflict: {0}")]
    Conflict(&'static str),
    /// The workspace has as many of something as it may (`what`, `limit`).
    #[error("conflict: a workspace has at most {limit} {what}")]
    LimitReached {
        /// What it has too many of ("endpoints").
        what: &'static str,
        /// How many it may have.
        limit: usize,
    },
    /// Over the workspace's request rate; the client may retry after this many seconds.
    #[error("too many requests: the workspace allows {limit} requests per {window_secs} s; retry after {retry_after_secs} s")]
    Throttled {
        /// Requests allowed per window.
        limit: u32,
        /// The window's length.
        window_secs: u32,
        /// Seconds until the next window opens.
        retry_after_secs: u32,
    },
    /// A backing service failed; the client may retry.
    #[error("service unavailable: {0}")]
    Unavailable(String),
}

impl ApiError {
    /// A malformed field.
    pub fn invalid(field: impl Into<String>, message: impl Into<String>) -> Self {
        ApiError::Invalid {
            field: field.into(),
            message: message.into(),
        }
    }

    /// A refusal of the request as sent (4xx): nothing it asked for was carried out.
    pub fn is_refusal(&self) -> bool {
        self.parts().0.is_client_error()
    }

    fn parts(&self) -> (StatusCode, &'static str, Option<&str>) {
        match self {
            ApiError::Invalid { field, .. } => {
                (StatusCode::BAD_REQUEST, "invalid_request", Some(field))
            }
            ApiError::Unprocessable { field, .. } => {
                (StatusCode::UNPROCESSABLE_ENTITY, "refused", Some(field))
            }
            ApiError::Unauthorized(_) => (
                StatusCode::UNAUTHORIZED,
                "unauthorized",
                Some("authorization"),
            ),
            ApiError::MissingScope(_) => {
                (StatusCode::FORBIDDEN, "forbidden", Some("authorization"))
            }
            ApiError::NotFound(_) => (StatusCode::NOT_FOUND, "not_found", None),
            ApiError::TooLarge(_) => (
                StatusCode::PAYLOAD_TOO_LARGE,
                "body_too_large",
                Some("body"),
            ),
            ApiError::Conflict(_) | ApiError::LimitReached { .. } => {
                (StatusCode::CONFLICT, "conflict", None)
            }
            ApiError::Throttled { .. } => (StatusCode::TOO_MANY_REQUESTS, "throttled", None),
            ApiError::Unavailable(_) => (StatusCode::SERVICE_UNAVAILABLE, "unavailable", None),
        }
    }
}

impl From<InvalidEvent> for ApiError {
    fn from(e: InvalidEvent) -> Self {
        ApiError::Invalid {
            field: e.field,
            message: e.message,
        }
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        tracing::error!(error = %e, "store failure");
        ApiError::Unavailable("storage is temporarily unavailable; retry later".into())
    }
}

impl From<QueueError> for ApiError {
    fn from(e: QueueError) -> Self {
        tracing::error!(error = %e, "queue failure");
        ApiError::Unavailable("the delivery queue is temporarily unavailable; retry later".into())
    }
}

impl From<crate::delivery::ReleaseError> for ApiError {
    fn from(e: crate::delivery::ReleaseError) -> Self {
        match e {
            crate::delivery::ReleaseError::Store(e) => e.into(),
            crate::delivery::ReleaseError::Queue(e) => e.into(),
        }
    }
}

impl From<UrlRefused> for ApiError {
    fn from(e: UrlRefused) -> Self {
        ApiError::Unprocessable {
            field: "url".into(),
            message: format!("webhook URL {e}"),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let (status, code, field) = self.parts();
        let message = match &self {
            ApiError::Invalid { message, .. } | ApiError::Unprocessable { message, .. } => {
                message.clone()
            }
            other => other.to_string(),
        };
        let body = ErrorBody {
            error: ErrorDetail {
                code,
                message,
                field: field.map(str::to_string),
            },
        };
        let mut response = (status, Json(body)).into_response();
        if let ApiError::Throttled {
            retry_after_secs, ..
        } = self
        {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(retry_after_secs));
        }
        response
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_error_maps_to_its_status() {
        assert_eq!(
            ApiError::invalid("x", "y").parts().0,
            StatusCode::BAD_REQUEST
        );
        assert_eq!(
            ApiError::Unauthorized("k").parts().0,
            StatusCode::UNAUTHORIZED
        );
        assert_eq!(ApiError::NotFound("w").parts().0, StatusCode::NOT_FOUND);
        assert_eq!(ApiError::Conflict("c").parts().0, StatusCode::CONFLICT);
        let limit = ApiError::LimitReached {
            what: "endpoints",
            limit: 10,
        };
        assert_eq!(limit.parts().0, StatusCode::CONFLICT);
        assert_eq!(
            limit.to_string(),
            "conflict: a workspace has at most 10 endpoints"
        );
        let throttled = ApiError::Throttled {
            limit: 10,
            window_secs: 1,
            retry_after_secs: 1,
        }
        .into_response();
        assert_eq!(throttled.status(), StatusCode::TOO_MANY_REQUESTS);
        assert_eq!(throttled.headers()[header::RETRY_AFTER], "1");
        assert_eq!(
            ApiError::TooLarge(1).parts().0,
            StatusCode::PAYLOAD_TOO_LARGE
        );
        let refused: ApiError = UrlRefused::Scheme("ftp".into()).into();
        assert_eq!(
            refused.parts(),
            (StatusCode::UNPROCESSABLE_ENTITY, "refused", Some("url"))
        );
    }
}
