//! A fault-injecting proxy between the AWS SDK and moto, reached through the same
//! `AWS_ENDPOINT_URL` mechanism: requests pass through to moto unless a rule matches their
//! operation (`DynamoDB.BatchWriteItem`, `SQS.SendMessageBatch`, `*`), in which case they
//! get what AWS answers under stress — throttling errors, 500/503, added latency, or a
//! connection cut mid-answer.

use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::Response;
use axum::Router;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// What a matching request gets.
#[derive(Debug, Clone, PartialEq)]
pub enum Fault {
    /// The service's throttling error (`ProvisionedThroughputExceededException` for
    /// DynamoDB, `ThrottlingException` otherwise), HTTP 400.
    Throttle,
    /// A server error with this status (500, 503).
    ServerError(u16),
    /// A refusal the SDK does not retry (HTTP 400, `InvalidParameterValue`).
    Refuse,
    /// The request goes through after this long.
    Latency(Duration),
    /// The request goes through once the test opens the gate.
    Hold(Gate),
    /// The answer's headers arrive, then the connection breaks.
    Reset,
    /// The request is done, then its answer is lost as in `Reset`: the caller cannot
    /// tell it from a request never made.
    LostAnswer,
    /// BatchWriteItem: the entries holding this text are left unprocessed (handed back in
    /// `UnprocessedItems`, as DynamoDB does under load); the rest are written.
    /// SendMessageBatch: the entries holding it fail (`Failed`, an internal error); the
    /// rest are queued.
    Unprocessed(String),
}

/// What holds a request (`Fault::Hold`) until the test opens it; a gate opened before
/// the request arrives lets it through at once. An `open` lets one held request through
/// (opens before any request arrives count as one).
#[derive(Debug, Clone)]
pub struct Gate {
    opened: Arc<tokio::sync::Notify>,
    /// One permit per request held, taken by `until_held`.
    held: Arc<tokio::sync::Semaphore>,
}

impl Default for Gate {
    fn default() -> Self {
        Self {
            opened: Arc::default(),
            held: Arc::new(tokio::sync::Semaphore::new(0)),
        }
    }
}

impl Gate {
    /// Lets one held request through.
    pub fn open(&self) {
        self.opened.notify_one();
    }

    /// Waits until this gate holds one more request than earlier calls waited for (at
    /// most 30 s; else panics with `what`).
    pub async fn until_held(&self, what: &str) {
        let held = self.held.acquire();
        let waited = tokio::time::timeout(Duration::from_secs(30), held).await;
        let permit = waited.unwrap_or_else(|_| panic!("{what}"));
        permit.expect("the semaphore is never closed").forget();
    }
}

impl PartialEq for Gate {
    fn eq(&self, other: &Self) -> bool {
        Arc::ptr_eq(&self.opened, &other.opened)
    }
}

/// When to inject a fault.
#[derive(Debug, Clone)]
pub struct Rule {
    /// `Service.Operation`, or `Service.*`, or `*`.
    pub operation: String,
    /// Only requests whose body holds this text (e.g. `DeleteRequest`).
    pub body_contains: Option<String>,
    /// Share of matching requests that fail, 0 to 1.
    pub rate: f64,
    /// How many faults this rule may still inject (`None`: no limit).
    pub remaining: Option<u32>,
    /// What they get.
    pub fault: Fault,
}

impl Rule {
    /// Every request of `operation` gets `fault`.
    pub fn always(operation: &str, fault: Fault) -> Self {
        Self {
            operation: operation.into(),
            body_contains: None,
            rate: 1.0,
            remaining: None,
            fault,
        }
    }

    /// Only requests whose body holds `text`.
    pub fn when_body_contains(mut self, text: &str) -> Self {
        self.body_contains = Some(text.into());
        self
    }

    /// Only the first `n` matching requests.
    pub fn times(mut self, n: u32) -> Self {
        self.remaining = Some(n);
        self
    }

    fn matches(&self, operation: &str, body: &[u8]) -> bool {
        let (service, _) = operation.split_once('.').unwrap_or((operation, ""));
        let named = self.operation == "*"
            || self.operation == operation
            || self.operation == format!("{service}.*");
        let holds = self
            .body_contains
            .as_ref()
            .is_none_or(|text| String::from_utf8_lossy(body).contains(text.as_str()));
        named && holds && self.remaining != Some(0) && rand::random::<f64>() < self.rate
    }
}

struct Inner {
    upstream: String,
    client: reqwest::Client,
    rules: Mutex<Vec<Rule>>,
    injected: AtomicU64,
    passed: AtomicU64,
}

/// The proxy, listening on a free loopback port.
#[derive(Clone)]
pub struct FaultProxy {
    port: u16,
    inner: Arc<Inner>,
}

/// The operation a request calls: from `X-Amz-Target` for the JSON protocols (DynamoDB,
/// SQS), from the path for REST ones (SES v2).
fn operation(headers: &HeaderMap, uri: &Uri) -> String {
    let target = headers
        .get("x-amz-target")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    match target.split_once('.') {
        Some((prefix, op)) if prefix.starts_with("DynamoDB") => format!("DynamoDB.{op}"),
        Some((prefix, op)) if prefix.contains("SQS") => format!("SQS.{op}"),
        Some((prefix, op)) => format!("{prefix}.{op}"),
        None if uri.path().starts_with("/v2/email") => format!("SES.{}", uri.path()),
        None => format!("other.{}", uri.path()),
    }
}

fn error(status: u16, kind: &str, message: &str) -> Response {
    let body = serde_json::json!({ "__type": kind, "message": message }).to_string();
    Response::builder()
        .status(status)
        .header("content-type", "application/x-amz-json-1.0")
        .header("x-amzn-query-error", format!("{kind};Sender"))
        .body(Body::from(body))
        .unwrap()
}

fn faulty(fault: &Fault, operation: &str) -> Option<Response> {
    Some(match fault {
        Fault::Throttle if operation.starts_with("DynamoDB") => error(
            400,
            "com.amazonaws.dynamodb.v20120810#ProvisionedThroughputExceededException",
            "injected: the level of configured provisioned throughput was exceeded",
        ),
        Fault::Throttle => error(400, "ThrottlingException", "injected: rate exceeded"),
        Fault::ServerError(status) => error(*status, "InternalServerError", "injected"),
        Fault::Refuse => error(400, "InvalidParameterValue", "injected: refused"),
        Fault::Reset | Fault::LostAnswer => {
            let broken = futures::stream::once(async {
                Err::<Bytes, std::io::Error>(std::io::Error::other("injected reset"))
            });
            Response::builder()
                .status(200)
                .header("content-type", "application/x-amz-json-1.0")
                .body(Body::from_stream(broken))
                .unwrap()
        }
        Fault::Latency(_) | Fault::Hold(_) | Fault::Unprocessed(_) => return None,
    })
}

/// Splits a batch body into what goes on (entries without `text`) and the answer's part
/// for the rest: BatchWriteItem's `UnprocessedItems`, or SendMessageBatch's `Failed`
/// entries (an internal error of SQS's, as it reports one entry's failure); and whether
/// nothing goes on.
fn withhold(body: &[u8], text: &str) -> (Bytes, serde_json::Value, bool) {
    let mut request: serde_json::Value = serde_json::from_slice(body).unwrap_or_default();
    if let Some(entries) = request["Entries"].as_array_mut() {
        let (held, kept): (Vec<_>, Vec<_>) = entries
            .drain(..)
            .partition(|e| e.to_string().contains(text));
        let none_left = kept.is_empty();
        *entries = kept;
        let failed: Vec<serde_json::Value> = held
            .iter()
            .map(|e| {
                serde_json::json!({"Id": e["Id"], "Code": "InternalError",
                                   "SenderFault": false, "Message": "injected"})
            })
            .collect();
        let patch = serde_json::json!({ "Failed": failed });
        return (Bytes::from(request.to_string()), patch, none_left);
    }
    let mut unprocessed = serde_json::Map::new();
    if let Some(tables) = request["RequestItems"].as_object_mut() {
        for (table, entries) in tables.iter_mut() {
            let Some(list) = entries.as_array_mut() else {
                continue;
            };
            let (held, kept): (Vec<_>, Vec<_>) =
                list.drain(..).partition(|e| e.to_string().contains(text));
            *list = kept;
            if !held.is_empty() {
                unprocessed.insert(table.clone(), serde_json::Value::Array(held));
            }
        }
        tables.retain(|_, entries| entries.as_array().is_some_and(|l| !l.is_empty()));
    }
    // Only a batch can be left with nothing: another request goes on as it is.
    let none_left = request["RequestItems"]
        .as_object()
        .is_some_and(|tables| tables.is_empty());
    let patch = serde_json::json!({ "UnprocessedItems": unprocessed });
    (Bytes::from(request.to_string()), patch, none_left)
}

/// The answer with the withheld entries' part (`UnprocessedItems` or `Failed`) set in it.
fn with_patch(answer: &[u8], patch: serde_json::Value) -> Bytes {
    let mut answer: serde_json::Value =
        serde_json::from_slice(answer).unwrap_or_else(|_| serde_json::json!({}));
    for (name, value) in patch.as_object().into_iter().flatten() {
        answer[name] = value.clone();
    }
    Bytes::from(answer.to_string())
}

async fn forward(
    State(inner): State<Arc<Inner>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let op = operation(&headers, &uri);
    let fault = {
        let mut rules = inner.rules.lock().unwrap();
        rules.iter_mut().find(|r| r.matches(&op, &body)).map(|r| {
            r.remaining = r.remaining.map(|n| n.saturating_sub(1));
            r.fault.clone()
        })
    };
    let mut body = body;
    let mut unprocessed = None;
    if let Some(fault) = &fault {
        inner.injected.fetch_add(1, Ordering::Relaxed);
        if let Fault::Unprocessed(text) = fault {
            let (rest, held, none_left) = withhold(&body, text);
            if none_left {
                // SQS answers every entry, DynamoDB only what it did not write.
                let empty = match held.get("Failed") {
                    Some(_) => serde_json::json!({ "Successful": [] }),
                    None => serde_json::json!({}),
                }
                .to_string();
                let answer = with_patch(empty.as_bytes(), held);
                return Response::builder()
                    .status(200)
                    .header("content-type", "application/x-amz-json-1.0")
                    .body(Body::from(answer))
                    .unwrap();
            }
            body = rest;
            unprocessed = Some(held);
        } else if let Fault::Latency(delay) = fault {
            tokio::time::sleep(*delay).await;
        } else if let Fault::Hold(gate) = fault {
            gate.held.add_permits(1);
            gate.opened.notified().await;
        } else if let Some(response) = faulty(fault, &op).filter(|_| fault != &Fault::LostAnswer) {
            return response;
        }
    } else {
        inner.passed.fetch_add(1, Ordering::Relaxed);
    }
    let url = format!(
        "{}{}",
        inner.upstream,
        uri.path_and_query().map_or("/", |p| p.as_str())
    );
    let mut request = inner.client.request(method, url).body(body);
    for (name, value) in headers
        .iter()
        .filter(|(n, _)| *n != "host" && *n != "content-length")
    {
        request = request.header(name, value);
    }
    match request.send().await {
        Ok(_) if fault == Some(Fault::LostAnswer) => {
            faulty(&Fault::LostAnswer, &op).expect("a broken answer")
        }
        Ok(answer) => {
            let status = answer.status();
            let mut response = Response::builder().status(status);
            for (name, value) in answer.headers() {
                // A rewritten answer's checksum would no longer match.
                let rewritten = unprocessed.is_some() && name == "x-amz-crc32";
                if name != "content-length" && name != "transfer-encoding" && !rewritten {
                    response = response.header(name, value);
                }
            }
            let bytes = answer.bytes().await.unwrap_or_default();
            let bytes = match unprocessed {
                Some(held) => with_patch(&bytes, held),
                None => bytes,
            };
            response.body(Body::from(bytes)).unwrap()
        }
        Err(e) => Response::builder()
            .status(StatusCode::BAD_GATEWAY)
            .body(Body::from(e.to_string()))
            .unwrap(),
    }
}

impl FaultProxy {
    /// A proxy to `upstream` (moto), passing everything through until rules are added.
    pub async fn start(upstream: &str) -> Self {
        let inner = Arc::new(Inner {
            upstream: upstream.trim_end_matches('/').to_string(),
            client: reqwest::Client::builder().no_proxy().build().unwrap(),
            rules: Mutex::new(Vec::new()),
            injected: AtomicU64::new(0),
            passed: AtomicU64::new(0),
        });
        let app = Router::new().fallback(forward).with_state(inner.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        Self { port, inner }
    }

    /// The endpoint the SDK is pointed at.
    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// Adds a rule (the first matching rule applies).
    pub fn inject(&self, rule: Rule) {
        self.inner.rules.lock().unwrap().push(rule);
    }

    /// Removes every rule: everything passes through again.
    pub fn clear(&self) {
        self.inner.rules.lock().unwrap().clear();
    }

    /// Faults injected so far.
    pub fn injected(&self) -> u64 {
        self.inner.injected.load(Ordering::Relaxed)
    }

    /// Requests passed through untouched so far.
    pub fn passed(&self) -> u64 {
        self.inner.passed.load(Ordering::Relaxed)
    }

    /// Holds the first `operation` call whose body holds `text` until the gate returned
    /// opens (never opened: until the caller is gone).
    pub fn hold_once(&self, (operation, text): (&str, &str)) -> Gate {
        let gate = Gate::default();
        let hold = Rule::always(operation, Fault::Hold(gate.clone()));
        self.inject(hold.when_body_contains(text).times(1));
        gate
    }

    /// Runs `request` with its first `operation` call whose body holds `text` held until
    /// `meanwhile`, started once that call is held, is done; both outputs.
    pub async fn while_held<R, T>(
        &self,
        (operation, text): (&str, &str),
        request: impl std::future::Future<Output = R>,
        meanwhile: impl std::future::Future<Output = T>,
    ) -> (R, T) {
        let gate = self.hold_once((operation, text));
        let others = async {
            gate.until_held(&format!("{operation} holding {text:?} is held"))
                .await;
            let done = meanwhile.await;
            gate.open();
            done
        };
        tokio::join!(request, others)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn operations_are_named_by_service_and_action() {
        let mut h = HeaderMap::new();
        h.insert(
            "x-amz-target",
            "DynamoDB_20120810.BatchWriteItem".parse().unwrap(),
        );
        assert_eq!(
            operation(&h, &"/".parse().unwrap()),
            "DynamoDB.BatchWriteItem"
        );
        h.insert(
            "x-amz-target",
            "AmazonSQS.SendMessageBatch".parse().unwrap(),
        );
        assert_eq!(operation(&h, &"/".parse().unwrap()), "SQS.SendMessageBatch");
        let rule = Rule::always("SQS.*", Fault::Throttle);
        assert!(rule.matches("SQS.SendMessageBatch", b""));
        assert!(!rule.matches("DynamoDB.PutItem", b""));
        let only_deletes = Rule::always("DynamoDB.BatchWriteItem", Fault::ServerError(500))
            .when_body_contains("DeleteRequest");
        assert!(only_deletes.matches("DynamoDB.BatchWriteItem", b"{\"DeleteRequest\":{}}"));
        assert!(!only_deletes.matches("DynamoDB.BatchWriteItem", b"{\"PutRequest\":{}}"));
    }
}
