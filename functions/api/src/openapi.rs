//! The OpenAPI 3.1 document of the whole HTTP API (api and ingest functions), generated
//! from the handlers' `#[utoipa::path]` attributes and typed bodies. The local runner
//! assembles it (`outflow-local openapi`) and commits it as `docs/openapi.json`; a test
//! fails when the two differ, so the document this route serves is the generated one.

use axum::http::header;
use axum::response::IntoResponse;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::openapi::OpenApi;
use utoipa::Modify;

/// The committed document.
pub const DOCUMENT: &str = include_str!("../../../docs/openapi.json");

/// The parts of the document no handler describes: title, version, credentials.
#[derive(utoipa::OpenApi)]
#[openapi(
    info(
        title = "Outflow",
        description = "Outbound webhooks for chat and CRM data: tenants register a webhook, \
                       the channel's events come in at /v1/events, and every message goes out \
                       signed (Standard Webhooks), one by one or bundled per chat per window.",
        license(name = "MIT")
    ),
    modifiers(&Credentials),
    tags(
        (name = "events", description = "Channel events in (tenant API key)"),
        (name = "webhook", description = "The workspace's outbound webhook (tenant API key, or a portal link's token)"),
        (name = "portal", description = "Portal links the SaaS mints for its tenants (admin token)"),
        (name = "workspaces", description = "Workspaces and API keys"),
        (name = "meta", description = "This document")
    )
)]
pub struct Base;

/// Declares the three bearer credentials the routes name.
struct Credentials;

impl Modify for Credentials {
    fn modify(&self, openapi: &mut OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        for (name, format) in [
            ("tenant_key", "ofk.<workspace id>.<secret>"),
            ("admin_token", "the operator's admin token"),
            (
                "portal_link",
                "ofp.<workspace id>.<secret>, from a portal link's fragment",
            ),
        ] {
            let scheme = HttpBuilder::new()
                .scheme(HttpAuthScheme::Bearer)
                .bearer_format(format)
                .build();
            components.add_security_scheme(name, SecurityScheme::Http(scheme));
        }
    }
}

/// This document.
#[utoipa::path(
    get, path = "/v1/openapi.json", tag = "meta",
    responses((status = 200, description = "The OpenAPI 3.1 document", content_type = "application/json"))
)]
pub async fn document() -> impl IntoResponse {
    ([(header::CONTENT_TYPE, "application/json")], DOCUMENT)
}
