//! The portal page: one HTML document, its script and its style, compiled into the binary
//! (no CDN, font or third-party script), served with a strict Content-Security-Policy
//! whose `frame-ancestors` names the origins allowed to embed it.

use crate::ApiState;
use axum::extract::State;
use axum::http::{header, HeaderName, HeaderValue};
use axum::response::{IntoResponse, Response};

const HTML: &str = include_str!("portal.html");
const SCRIPT: &str = include_str!("portal.js");
const STYLE: &str = include_str!("portal.css");
/// Bytes the page loads: its HTML, script and style (uncompressed).
pub const WEIGHT: usize = HTML.len() + SCRIPT.len() + STYLE.len();

/// The Content-Security-Policy of the page: its own script, style and API only.
pub fn content_security_policy(frame_ancestors: &[String]) -> String {
    let ancestors = match frame_ancestors.is_empty() {
        true => "'none'".to_string(),
        false => frame_ancestors.join(" "),
    };
    format!(
        "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; \
         img-src 'self' data:; form-action 'none'; base-uri 'none'; frame-ancestors {ancestors}"
    )
}

/// The policy as a header value; one that is not a valid header (never, with the origins
/// config.rs keeps) falls back to refusing everything, framing included.
pub fn policy_header(frame_ancestors: &[String]) -> HeaderValue {
    HeaderValue::from_str(&content_security_policy(frame_ancestors)).unwrap_or(
        HeaderValue::from_static("default-src 'none'; frame-ancestors 'none'"),
    )
}

fn asset(state: &ApiState, content_type: &'static str, body: &'static str) -> Response {
    let headers: [(HeaderName, HeaderValue); 5] = [
        (header::CONTENT_TYPE, HeaderValue::from_static(content_type)),
        (header::CONTENT_SECURITY_POLICY, state.portal_csp.clone()),
        // The token is in the fragment, which is never sent; no referrer either way.
        (
            header::REFERRER_POLICY,
            HeaderValue::from_static("no-referrer"),
        ),
        (
            header::X_CONTENT_TYPE_OPTIONS,
            HeaderValue::from_static("nosniff"),
        ),
        (header::CACHE_CONTROL, HeaderValue::from_static("no-store")),
    ];
    (headers, body).into_response()
}

/// `GET /portal`: the page (its token comes in the URL's fragment).
#[utoipa::path(
    get, path = "/portal", tag = "portal",
    responses((status = 200, description = "The portal page (its link's token comes in the URL's fragment)", content_type = "text/html"))
)]
pub async fn html(State(state): State<ApiState>) -> Response {
    asset(&state, "text/html; charset=utf-8", HTML)
}

/// `GET /portal/portal.js`.
#[utoipa::path(
    get, path = "/portal/portal.js", tag = "portal",
    responses((status = 200, description = "The page's script", content_type = "text/javascript"))
)]
pub async fn script(State(state): State<ApiState>) -> Response {
    asset(&state, "text/javascript; charset=utf-8", SCRIPT)
}

/// `GET /portal/portal.css`.
#[utoipa::path(
    get, path = "/portal/portal.css", tag = "portal",
    responses((status = 200, description = "The page's style", content_type = "text/css"))
)]
pub async fn style(State(state): State<ApiState>) -> Response {
    asset(&state, "text/css; charset=utf-8", STYLE)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_policy_allows_only_its_own_origin_and_the_named_frame_ancestors() {
        let none = content_security_policy(&[]);
        assert!(none.contains("frame-ancestors 'none'"));
        assert!(none.contains("script-src 'self';"));
        assert!(!none.contains("unsafe"));
        let some = content_security_policy(&["https://app.example".into()]);
        assert!(some.ends_with("frame-ancestors https://app.example"));
    }

    #[test]
    fn the_page_loads_nothing_from_elsewhere() {
        for text in [HTML, SCRIPT, STYLE] {
            for external in [
                "src=\"http",
                "href=\"http",
                "url(",
                "@import",
                "fetch(\"http",
            ] {
                assert!(
                    !text.contains(external),
                    "an external reference: {external}"
                );
            }
        }
        // Relative, so the page works under an API Gateway stage's path.
        assert!(HTML.contains(r#"<script src="portal/portal.js" defer></script>"#));
        assert!(HTML.contains(r#"href="portal/portal.css""#));
        assert!(!HTML.contains("style="), "inline styles break the policy");
    }
}
