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

    /// The `message.message_id` of a single-message delivery.
    pub fn message_id(&self) -> String {
        self.json()["message"]["message_id"]
            .as_str()
            .expect("a message delivery")
            .to_string()
    }

    /// The message ids of a bundle delivery, in its order (none for a single message).
    pub fn bundled_ids(&self) -> Vec<String> {
        self.json()["messages"]
            .as_array()
            .map(|messages| {
                messages
                    .iter()
                    .filter_map(|m| m["message_id"].as_str().map(str::to_string))
                    .collect()
            })
            .unwrap_or_default()
    }

    /// A header value.
    pub fn header(&self, name: &str) -> &str {
        self.headers
            .get(name)
            .map(String::as_str)
            .unwrap_or_default()
    }

    /// True when its `webhook-signature` verifies with `secret` (Standard Webhooks).
    pub fn signed_with(&self, secret: &str) -> bool {
        crate::webhooks::verify_signature(
            secret,
            self.header("webhook-id"),
            self.header("webhook-timestamp"),
            self.body.as_bytes(),
            self.header("webhook-signature"),
        )
    }
}

/// Decides the answer per request: given the request and how many came before it,
/// the status and how long to wait before answering.
pub type Script = Arc<dyn Fn(&Received, usize) -> (u16, Duration) + Send + Sync>;

#[derive(Default)]
struct Inner {
    received: Vec<Received>,
    status: u16,
    delay: Duration,
    headers: Vec<(String, String)>,
    script: Option<Script>,
    /// Indexes into `received` and the status given, in the order the answers went out.
    answered: Vec<(usize, u16)>,
    /// The most requests it was answering at once.
    peak_in_flight: usize,
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
    let (status, delay, extra, index) = {
        let mut guard = inner.lock().unwrap();
        let request = Received {
            headers: headers
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_str().unwrap_or_default().to_string()))
                .collect(),
            body,
        };
        let (status, delay) = match &guard.script {
            Some(script) => script(&request, guard.received.len()),
            None => (guard.status, guard.delay),
        };
        guard.received.push(request);
        let in_flight = guard.received.len() - guard.answered.len();
        guard.peak_in_flight = guard.peak_in_flight.max(in_flight);
        (
            status,
            delay,
            guard.headers.clone(),
            guard.received.len() - 1,
        )
    };
    tokio::time::sleep(delay).await;
    inner.lock().unwrap().answered.push((index, status));
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

    /// Lets `script` choose each answer from now on.
    pub fn script(
        &self,
        script: impl Fn(&Received, usize) -> (u16, Duration) + Send + Sync + 'static,
    ) {
        self.inner.lock().unwrap().script = Some(Arc::new(script));
    }

    /// Everything answered so far, in the order the answers went out (a receiver that
    /// handles requests concurrently applies them in this order).
    pub fn answered(&self) -> Vec<(Received, u16)> {
        let inner = self.inner.lock().unwrap();
        inner
            .answered
            .iter()
            .map(|&(i, status)| (inner.received[i].clone(), status))
            .collect()
    }

    /// The most requests it has been answering at once.
    pub fn peak_in_flight(&self) -> usize {
        self.inner.lock().unwrap().peak_in_flight
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
