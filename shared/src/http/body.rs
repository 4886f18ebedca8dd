//! Request bodies: read up to the limit (a JSON 413 beyond it), and typed JSON whose
//! errors name the field.

use super::ApiError;
use crate::formats::invalid::from_path_error;
use crate::formats::limits::MAX_BODY_BYTES;
use axum::body::Bytes;
use axum::extract::{FromRequest, Request};
use serde::de::DeserializeOwned;

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
    pub fn json<T: DeserializeOwned>(&self) -> Result<T, ApiError> {
        let de = &mut serde_json::Deserializer::from_slice(&self.0);
        serde_path_to_error::deserialize(de).map_err(|e| {
            let inner = e.inner();
            if inner.is_syntax() || inner.is_eof() {
                return ApiError::invalid("body", format!("is not valid JSON: {inner}"));
            }
            from_path_error(e, "", "body").into()
        })
    }
}

/// A typed JSON body: at most `MAX_BODY_BYTES`, every error naming its field (`400`).
pub struct JsonBody<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for JsonBody<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let body = LimitedBody::from_request(req, state).await?;
        body.json().map(JsonBody)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Replay {
        #[allow(dead_code)]
        since: String,
    }

    async fn parse(body: &'static str) -> Result<Replay, ApiError> {
        let request = Request::builder()
            .body(axum::body::Body::from(body))
            .unwrap();
        JsonBody::<Replay>::from_request(request, &())
            .await
            .map(|b| b.0)
    }

    #[tokio::test]
    async fn errors_name_the_field() {
        let field = |e: ApiError| match e {
            ApiError::Invalid { field, .. } => field,
            other => panic!("{other:?}"),
        };
        assert!(parse(r#"{"since": "2026-01-01T00:00:00Z"}"#).await.is_ok());
        assert_eq!(field(parse("{").await.unwrap_err()), "body");
        assert_eq!(field(parse("{}").await.unwrap_err()), "since");
        assert_eq!(field(parse(r#"{"since": 5}"#).await.unwrap_err()), "since");
        assert_eq!(
            field(parse(r#"{"since": "x", "y": 1}"#).await.unwrap_err()),
            "y"
        );
    }
}
