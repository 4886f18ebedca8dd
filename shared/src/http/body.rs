//! A request body read up to the limit, with a JSON 413 beyond it.

use super::ApiError;
use crate::formats::limits::MAX_BODY_BYTES;
use axum::body::Bytes;
use axum::extract::{FromRequest, Request};

/// The raw body, at most `MAX_BODY_BYTES`.
pub struct LimitedBody(pub Bytes);

impl<S: Send + Sync> FromRequest<S> for LimitedBody {
    type Rejection = ApiError;

    async fn from_request(req: Request, _state: &S) -> Result<Self, Self::Rejection> {
        axum::body::to_bytes(req.into_body(), MAX_BODY_BYTES)
            .await
            .map(LimitedBody)
            .map_err(|_| ApiError::TooLarge(MAX_BODY_BYTES))
    }
}

impl LimitedBody {
    /// Parses the body as `T`, naming the failing field.
    pub fn json<T: serde::de::DeserializeOwned>(&self) -> Result<T, ApiError> {
        let de = &mut serde_json::Deserializer::from_slice(&self.0);
        serde_path_to_error::deserialize(de).map_err(|e| {
            let path = e.path().to_string();
            let inner = e.into_inner();
            let message = inner.to_string();
            if inner.is_syntax() || inner.is_eof() {
                return ApiError::invalid("body", format!("is not valid JSON: {message}"));
            }
            match message
                .strip_prefix("missing field `")
                .and_then(|r| r.split('`').next())
            {
                Some(missing) => ApiError::invalid(missing, "is missing"),
                None => ApiError::invalid(if path == "." { "body".into() } else { path }, message),
            }
        })
    }
}
