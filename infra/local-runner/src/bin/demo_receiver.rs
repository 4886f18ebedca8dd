//! A webhook receiver for the README walkthrough: prints each delivery and answers 200.

use axum::http::HeaderMap;
use axum::routing::post;
use axum::Router;
use std::net::SocketAddr;

async fn receive(headers: HeaderMap, body: String) -> &'static str {
    println!(
        "--- delivery {}",
        headers
            .get("webhook-id")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("?")
    );
    for name in ["webhook-timestamp", "webhook-signature", "content-type"] {
        if let Some(value) = headers.get(name).and_then(|v| v.to_str().ok()) {
            println!("{name}: {value}");
        }
    }
    match serde_json::from_str::<serde_json::Value>(&body) {
        Ok(json) => println!("{}", serde_json::to_string_pretty(&json).unwrap_or(body)),
        Err(_) => println!("{body}"),
    }
    "ok"
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let addr: SocketAddr = std::env::var("OUTFLOW_RECEIVER_ADDR")
        .unwrap_or_else(|_| "127.0.0.1:9000".into())
        .parse()?;
    if !addr.ip().is_loopback() {
        return Err(format!("{addr} is not a loopback address").into());
    }
    let app = Router::new()
        .route("/{*path}", post(receive))
        .route("/", post(receive));
    println!("demo receiver listening on http://{addr}/hook");
    axum::serve(tokio::net::TcpListener::bind(addr).await?, app).await?;
    Ok(())
}
