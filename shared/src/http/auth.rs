//! Bearer tokens: the admin token and tenant API keys.

use super::ApiError;
use crate::domain::{ApiKey, WorkspaceId};
use crate::store::Store;
use axum::http::{header, HeaderMap};
use subtle::ConstantTimeEq;

/// The bearer token of a request.
pub fn bearer_token(headers: &HeaderMap) -> Result<&str, ApiError> {
    let value = headers
        .get(header::AUTHORIZATION)
        .ok_or(ApiError::Unauthorized(
            "missing Authorization: Bearer header",
        ))?
        .to_str()
        .map_err(|_| ApiError::Unauthorized("malformed Authorization header"))?;
    value
        .strip_prefix("Bearer ")
        .map(str::trim)
        .filter(|t| !t.is_empty())
        .ok_or(ApiError::Unauthorized(
            "expected Authorization: Bearer <token>",
        ))
}

/// Compares secrets in constant time.
pub fn tokens_match(presented: &str, expected: &str) -> bool {
    !expected.is_empty() && bool::from(presented.as_bytes().ct_eq(expected.as_bytes()))
}

/// The refusal of a key that is not (or no longer) valid.
pub const INVALID_KEY: ApiError = ApiError::Unauthorized("invalid API key");

/// The API key a request carries and the workspace it names (not verified yet).
pub fn presented_key(headers: &HeaderMap) -> Result<(ApiKey, WorkspaceId), ApiError> {
    let key = ApiKey::presented(bearer_token(headers)?);
    let ws = key.workspace().ok_or(INVALID_KEY)?;
    Ok((key, ws))
}

/// The workspace whose API key the request carries.
pub async fn require_workspace(
    store: &Store,
    headers: &HeaderMap,
) -> Result<WorkspaceId, ApiError> {
    let key = ApiKey::presented(bearer_token(headers)?);
    store.authenticate(&key).await?.ok_or(INVALID_KEY)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_bearer_tokens() {
        let mut h = HeaderMap::new();
        assert!(bearer_token(&h).is_err());
        h.insert(header::AUTHORIZATION, "Bearer abc".parse().unwrap());
        assert_eq!(bearer_token(&h).unwrap(), "abc");
        h.insert(header::AUTHORIZATION, "Basic abc".parse().unwrap());
        assert!(bearer_token(&h).is_err());
    }

    #[test]
    fn compares_tokens() {
        assert!(tokens_match("s3cret", "s3cret"));
        assert!(!tokens_match("s3cret", "s3creT"));
        assert!(!tokens_match("", ""));
    }
}
