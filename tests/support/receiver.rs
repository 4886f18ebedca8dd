//! A real webhook receiver on 127.0.0.1 whose answer the test controls.

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use axum::Router;
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// One request the receiver got.
#[derive(Debug, Clone)]
pub struct Received {
    /// Lower-case header names to values.
    pub headers: BTreeMap<String, String>,
    /// The raw body.
    pub body: String,
}

impl Received {
    /// The body as JSON.
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.body).expect("delivery body is JSON")
    }

    /// A header value.
    pub fn header(&self, name: &str) -> &str {
        self.headers
            .get(name)
            .map(String::as_str)
            .unwrap_or_default()
    }
}

#[derive(Default)]
struct Inner {
    received: Vec<Received>,
    status: u16,
    delay: Duration,
    headers: Vec<(String, String)>,
}

/// The receiver handle.
#[derive(Clone)]
pub struct Receiver {
    port: u16,
    inner: Arc<Mutex<Inner>>,
}

async fn handle(
    State(inner): State<Arc<Mutex<Inner>>>,
    headers: HeaderMap,
    body: String,
) -> (StatusCode, HeaderMap) {
    let (status, delay, extra) = {
        let mut guard = inner.lock().unwrap();
        guard.received.push(Received {
            headers: headers
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_str().unwrap_or_default().to_string()))
                .collect(),
            body,
        });
        (guard.status, guard.delay, guard.headers.clone())
    };
    tokio::time::sleep(delay).await;
    let mut reply = HeaderMap::new();
    for (name, value) in extra {
        reply.insert(
            axum::http::HeaderName::from_bytes(name.as_bytes()).unwrap(),
            value.parse().unwrap(),
        );
    }
    (StatusCode::from_u16(status).unwrap(), reply)
}

impl Receiver {
    /// Starts answering 200 on a free loopback port.
    pub async fn start() -> Self {
        let inner = Arc::new(Mutex::new(Inner {
            status: 200,
            ..Default::default()
        }));
        let app = Router::new()
            .route("/hook", post(handle))
            .with_state(inner.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        Self { port, inner }
    }

    /// The webhook URL.
    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}/hook", self.port)
    }

    /// Answers `status` from now on.
    pub fn respond_with(&self, status: u16) {
        self.inner.lock().unwrap().status = status;
    }

    /// Answers `status` with these headers from now on.
    pub fn respond_with_headers(&self, status: u16, headers: &[(&str, &str)]) {
        let mut inner = self.inner.lock().unwrap();
        inner.status = status;
        inner.headers = headers
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
    }

    /// Waits this long before answering.
    pub fn delay(&self, delay: Duration) {
        self.inner.lock().unwrap().delay = delay;
    }

    /// Everything received so far.
    pub fn received(&self) -> Vec<Received> {
        self.inner.lock().unwrap().received.clone()
    }
}

/// A loopback URL where nothing listens (connection refused).
pub async fn refusing_url() -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    drop(listener);
    format!("http://127.0.0.1:{port}/hook")
}
