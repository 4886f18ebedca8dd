//! The OpenAPI document: generated from the handlers, committed as docs/openapi.json (what
//! `GET /v1/openapi.json` serves), naming exactly the routes the template gives API
//! Gateway, each of which the functions' router answers.

use axum::http::{Method, StatusCode};
use outflow_e2e::TestStack;
use serde_json::Value;
use std::collections::BTreeSet;

fn committed() -> String {
    std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../docs/openapi.json")).unwrap()
}

/// (METHOD, path) of every operation in a document.
fn operations(doc: &Value) -> BTreeSet<(String, String)> {
    doc["paths"]
        .as_object()
        .unwrap()
        .iter()
        .flat_map(|(path, item)| {
            item.as_object()
                .unwrap()
                .keys()
                .map(move |method| (method.to_uppercase(), path.clone()))
        })
        .collect()
}

/// (METHOD, path) of every HttpApi event in template.yaml.
fn template_routes() -> BTreeSet<(String, String)> {
    let t = crate::template_matches_local_stack::template();
    t["Resources"]
        .as_mapping()
        .unwrap()
        .values()
        .filter_map(|r| r["Properties"]["Events"].as_mapping())
        .flat_map(|events| events.values())
        .filter(|e| e["Type"] == "HttpApi")
        .map(|e| {
            let p = &e["Properties"];
            (
                p["Method"].as_str().unwrap().to_string(),
                p["Path"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

#[test]
fn the_committed_document_is_the_generated_one() {
    let generated = outflow_local::openapi::document();
    assert!(
        committed() == generated,
        "docs/openapi.json differs from the document the code generates: run `make openapi`"
    );
    let doc: Value = serde_json::from_str(&generated).unwrap();
    assert_eq!(doc["openapi"], "3.1.0");
}

#[test]
fn the_document_names_exactly_the_routes_api_gateway_has() {
    let doc: Value = serde_json::from_str(&committed()).unwrap();
    let documented = operations(&doc);
    let deployed = template_routes();
    let undocumented: Vec<_> = deployed.difference(&documented).collect();
    let unrouted: Vec<_> = documented.difference(&deployed).collect();
    assert!(
        undocumented.is_empty(),
        "routes missing from the document: {undocumented:?}"
    );
    assert!(
        unrouted.is_empty(),
        "documented but not in the template: {unrouted:?}"
    );
    // Every operation says how it authenticates, or is the public document itself.
    for (path, item) in doc["paths"].as_object().unwrap() {
        for (method, op) in item.as_object().unwrap() {
            // The document, and the portal page (its credential is read by its script).
            let public = path == "/v1/openapi.json" || path.starts_with("/portal");
            assert!(
                public || op["security"].is_array(),
                "{method} {path} has no security"
            );
            assert!(op["responses"].as_object().is_some_and(|r| !r.is_empty()));
        }
    }
}

#[tokio::test]
async fn every_documented_operation_is_routed_and_the_document_is_served() {
    let stack = TestStack::new().await;
    let doc: Value = serde_json::from_str(&committed()).unwrap();
    for (method, path) in operations(&doc) {
        let concrete = path
            .replace("{workspace_id}", "ws_aaaaaaaaaaaaaaaaaaaa")
            .replace("{request_id}", "req_1769000000123_abcdefabcdef");
        let method = Method::from_bytes(method.as_bytes()).unwrap();
        let r = stack.call(method.clone(), &concrete, None, None).await;
        // Unauthenticated: refused by the route's credential, never "no such route".
        assert_ne!(r.status, StatusCode::METHOD_NOT_ALLOWED, "{method} {path}");
        let routed = r.status != StatusCode::NOT_FOUND || r.body["error"]["code"] == "not_found";
        assert!(routed, "{method} {path}: {:?}", r.status);
    }
    let served = stack
        .call(Method::GET, "/v1/openapi.json", None, None)
        .await;
    assert_eq!(served.status, StatusCode::OK);
    assert_eq!(served.body, doc);
}

#[tokio::test]
async fn answers_that_carry_a_secret_or_a_key_are_never_cached() {
    let stack = TestStack::new().await;
    let (ws, key) = stack.workspace("owner@no-store.test").await;
    let no_store = |r: &outflow_e2e::Response| {
        assert!(r.status.is_success(), "{:?} {}", r.status, r.body);
        assert_eq!(r.headers["cache-control"], "no-store", "{}", r.body);
    };
    let settings = serde_json::json!({"url": "http://127.0.0.1:9/hook"}).to_string();
    let put = stack
        .call(
            Method::PUT,
            "/v1/webhooks/outbound",
            Some(&key),
            Some(settings.into()),
        )
        .await;
    no_store(&put);
    assert!(put.body["secret"].as_str().unwrap().starts_with("whsec_"));
    for path in [
        "/v1/webhooks/outbound/enable",
        "/v1/webhooks/outbound/rotate-secret",
    ] {
        no_store(&stack.call(Method::POST, path, Some(&key), None).await);
    }
    no_store(
        &stack
            .call(Method::GET, "/v1/webhooks/outbound", Some(&key), None)
            .await,
    );
    let rotated = stack
        .call(Method::POST, "/v1/api-keys/rotate", Some(&key), None)
        .await;
    no_store(&rotated);
    let reset = format!("/v1/workspaces/{ws}/api-keys/reset");
    let admin = Some(outflow_e2e::stack::ADMIN_TOKEN);
    no_store(&stack.call(Method::POST, &reset, admin, None).await);
    let body = serde_json::json!({"name": "B", "owner_email": "b@no-store.test"}).to_string();
    no_store(
        &stack
            .call(Method::POST, "/v1/workspaces", admin, Some(body.into()))
            .await,
    );
}
