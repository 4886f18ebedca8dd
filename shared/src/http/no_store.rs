//! Responses that carry a secret or an API key: `Cache-Control: no-store`, so no browser,
//! proxy or CDN keeps a copy.

use axum::http::{header, HeaderValue};
use axum::response::{IntoResponse, Response};

/// A response no cache may keep.
#[derive(Debug)]
pub struct NoStore<T>(pub T);

impl<T: IntoResponse> IntoResponse for NoStore<T> {
    fn into_response(self) -> Response {
        let mut response = self.0.into_response();
        response
            .headers_mut()
            .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
        response
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::StatusCode;

    #[test]
    fn says_no_store_whatever_it_wraps() {
        let response = NoStore((StatusCode::CREATED, "secret")).into_response();
        assert_eq!(response.status(), StatusCode::CREATED);
        assert_eq!(response.headers()[header::CACHE_CONTROL], "no-store");
    }
}
