//! The OpenAPI document of the whole HTTP API: the api function's routes and the ingest
//! function's, merged as API Gateway merges their routes. `outflow-openapi` writes it to
//! `docs/openapi.json`, which the api function serves.

/// The document, pretty-printed with a final newline (as committed).
pub fn document() -> String {
    let mut api = outflow_api::routes().into_openapi();
    api.merge(outflow_ingest::routes().into_openapi());
    let mut text = api.to_pretty_json().expect("the document serializes");
    text.push('\n');
    text
}
