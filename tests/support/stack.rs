//! A private Outflow stack inside the shared moto server.

use crate::faults::FaultProxy;
use aws_sdk_dynamodb::types::AttributeValue;
use axum::body::Body;
use axum::http::{HeaderMap, Method, Request, StatusCode};
use http_body_util::BodyExt;
use outflow::clients::AwsClients;
use outflow::clock::Clock;
use outflow::url_policy::UrlPolicy;
use outflow_local::app::LocalApp;
use outflow_local::pump::{Pump, PumpStats};
use outflow_local::request_count::{counting_clients, RequestCounter};
use outflow_local::stack::{self, Stack, StackNames};
use serde_json::{json, Value};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;
use tower::ServiceExt;

/// The admin token of test stacks.
pub const ADMIN_TOKEN: &str = "test-admin-token";

/// An HTTP answer from the functions.
#[derive(Debug)]
pub struct Response {
    /// Status code.
    pub status: StatusCode,
    /// Headers.
    pub headers: HeaderMap,
    /// JSON body (Null when empty).
    pub body: Value,
}

/// How a test stack differs from the local default.
#[derive(Debug, Clone)]
pub struct Options {
    /// Allowed webhook destinations.
    pub url_policy: UrlPolicy,
    /// Delivery timeout (short, so timeout tests stay fast).
    pub delivery_timeout: Duration,
    /// Seconds until a failed delivery is tried again (every attempt of the schedule; also
    /// the queue's visibility timeout).
    pub retry_delay_secs: u32,
    /// Ingest requests a workspace may make per second (the test clock stands still, so
    /// every request of a test falls in one window).
    pub ingest_requests_per_second: u32,
    /// The functions reach moto through a fault-injecting proxy (`TestStack::faults`).
    pub faults: bool,
    /// Pages of 100 the sender re-queues per release step (the default when `None`).
    pub release_pages_per_step: Option<u32>,
    /// A slow workspace's share of the sender (the default when `None`).
    pub sender_share: Option<outflow::delivery::SenderShare>,
    /// Origins allowed to embed the portal.
    pub portal_frame_ancestors: Vec<String>,
    /// A wait in the queue after which the sender reads a delivery's edits (the default
    /// when `None`).
    pub edits_after_wait: Option<Duration>,
}

impl Default for Options {
    fn default() -> Self {
        Self {
            url_policy: UrlPolicy {
                allow_loopback: true,
            },
            delivery_timeout: Duration::from_secs(2),
            // Long enough that a failed delivery never reappears mid-test on its own.
            retry_delay_secs: 120,
            ingest_requests_per_second: 1_000_000,
            faults: false,
            release_pages_per_step: None,
            sender_share: None,
            portal_frame_ancestors: Vec::new(),
            edits_after_wait: None,
        }
    }
}

/// A stack of its own: table, queue and DLQ with unique names, the functions on top.
pub struct TestStack {
    /// AWS clients pointed at moto.
    pub aws: AwsClients,
    /// The functions.
    pub app: LocalApp,
    /// The SQS event source stand-in.
    pub pump: Pump,
    /// Resource names.
    pub stack: Stack,
    /// The proxy the functions reach AWS through, when the options asked for one (the
    /// test's own clients, `aws`, always reach moto directly).
    pub faults: Option<FaultProxy>,
    config: outflow::config::Config,
    endpoint: String,
    id: String,
}

/// The AWS requests each function made, by `Service.Operation` (`TestStack::count_requests`).
#[derive(Debug, Clone, Default)]
pub struct FunctionRequests {
    /// The ingest function's.
    pub ingest: RequestCounter,
    /// The api function's.
    pub api: RequestCounter,
    /// The sender's.
    pub sender: RequestCounter,
    /// The aggregator's.
    pub aggregator: RequestCounter,
}

fn unique() -> String {
    static N: AtomicU64 = AtomicU64::new(0);
    format!(
        "{}-{}-{}",
        std::process::id(),
        rand::random::<u32>() % 1_000_000_000,
        N.fetch_add(1, Ordering::Relaxed)
    )
}

impl TestStack {
    /// A stack that, like local runs, allows loopback webhook targets.
    pub async fn new() -> Self {
        Self::with(Options::default()).await
    }

    /// A stack whose functions reach moto through the fault proxy (`TestStack::faults`).
    pub async fn behind_faults() -> Self {
        Self::with(Options {
            faults: true,
            ..Options::default()
        })
        .await
    }

    /// A stack with particular options.
    pub async fn with(options: Options) -> Self {
        let Options {
            url_policy,
            delivery_timeout,
            retry_delay_secs,
            ingest_requests_per_second,
            faults,
            release_pages_per_step,
            sender_share,
            portal_frame_ancestors,
            edits_after_wait,
        } = options;
        // The standard schedule's shape (8 attempts, the first at once) in test-sized delays.
        let mut schedule = vec![Duration::from_secs(retry_delay_secs.into()); 8];
        schedule[0] = Duration::ZERO;
        let options_retry = outflow::delivery::RetryPolicy::new(schedule, 0.0);
        let endpoint = std::env::var("AWS_ENDPOINT_URL")
            .expect("AWS_ENDPOINT_URL must point at moto: run the tests with `make test`");
        let aws = AwsClients::from_env().await;
        let id = unique();
        let names = StackNames {
            table: format!("outflow-test-{id}"),
            queue: format!("outflow-test-{id}"),
            dead_letter_queue: format!("outflow-test-{id}-dlq"),
            sender_email: "outflow@example.com".into(),
            visibility_timeout_secs: retry_delay_secs,
        };
        let stack = stack::ensure(&aws, &names).await.expect("local stack");
        let mut config = stack.config(&names.sender_email, ADMIN_TOKEN);
        config.url_policy = url_policy;
        config.delivery_timeout = delivery_timeout;
        config.chat_url_base = "https://app.livedesk.example".into();
        config.permalink_base = "https://app.livedesk.example/permalink".into();
        config.ingest_rate.requests = ingest_requests_per_second;
        config.retry = options_retry;
        config.public_base_url = Some("https://hooks.outflow.test".into());
        config.portal_frame_ancestors = portal_frame_ancestors;
        if let Some(wait) = edits_after_wait {
            config.edits_after_wait = wait;
        }
        if let Some(share) = sender_share {
            config.sender_share = share;
        }
        if let Some(pages) = release_pages_per_step {
            config.release_pages_per_step = pages;
        }
        let clock = Clock::fixed(Clock::system().now().utc());
        let faults = match faults {
            true => Some(FaultProxy::start(&endpoint).await),
            false => None,
        };
        let functions = match &faults {
            Some(proxy) => {
                // The SDK's standard retries (3 attempts), with its backoff scaled down as
                // the tests scale every other delay: 10 ms where AWS waits up to a second.
                let retries = aws_config::retry::RetryConfig::standard()
                    .with_initial_backoff(Duration::from_millis(10));
                let shared = aws_config::defaults(aws_config::BehaviorVersion::latest())
                    .endpoint_url(proxy.url())
                    .retry_config(retries)
                    .load()
                    .await;
                AwsClients::from_config(&shared)
            }
            None => aws.clone(),
        };
        let app = LocalApp::new(&functions, &config, clock).expect("a complete config");
        let pump = Pump::of(&aws, &stack, "us-east-1");
        Self {
            aws,
            app,
            pump,
            stack,
            faults,
            config,
            endpoint,
            id,
        }
    }

    /// Rebuilds the functions with clients of their own that count every AWS request
    /// each makes (what its IAM role must allow); the counters.
    pub async fn count_requests(&mut self) -> FunctionRequests {
        let shared = aws_config::load_from_env().await;
        let counters = FunctionRequests::default();
        let [ingest, api, sender, aggregator] = [
            &counters.ingest,
            &counters.api,
            &counters.sender,
            &counters.aggregator,
        ]
        .map(|counter| counting_clients(&shared, counter));
        let clients = [&ingest, &api, &sender, &aggregator];
        let clock = self.app.clock.clone();
        self.app = LocalApp::with_clients(clients, &self.config, clock).expect("a complete config");
        counters
    }

    /// Calls the HTTP functions exactly as API Gateway would route the request.
    pub async fn call(
        &self,
        method: Method,
        path: &str,
        token: Option<&str>,
        body: Option<Vec<u8>>,
    ) -> Response {
        self.call_with(method, path, token, body, &[]).await
    }

    /// `call` with more request headers.
    pub async fn call_with(
        &self,
        method: Method,
        path: &str,
        token: Option<&str>,
        body: Option<Vec<u8>>,
        headers: &[(&str, &str)],
    ) -> Response {
        let mut request = Request::builder()
            .method(method)
            .uri(path)
            .header("content-type", "application/json");
        if let Some(token) = token {
            request = request.header("authorization", format!("Bearer {token}"));
        }
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        let request = request
            .body(body.map(Body::from).unwrap_or_else(Body::empty))
            .unwrap();
        self.send(request).await
    }

    /// Posts events as a Lambda invocation that must answer by `deadline`.
    pub async fn ingest_by(
        &self,
        key: &str,
        body: impl Into<Vec<u8>>,
        deadline: std::time::Instant,
    ) -> Response {
        let mut request = Request::builder()
            .method(Method::POST)
            .uri("/v1/events")
            .header("content-type", "application/json")
            .header("authorization", format!("Bearer {key}"))
            .body(Body::from(body.into()))
            .unwrap();
        request
            .extensions_mut()
            .insert(outflow::http::Deadline(deadline));
        self.send(request).await
    }

    async fn send(&self, request: Request<Body>) -> Response {
        let response = self.app.router().oneshot(request).await.unwrap();
        let status = response.status();
        let headers = response.headers().clone();
        let bytes = response.into_body().collect().await.unwrap().to_bytes();
        let body = if bytes.is_empty() {
            Value::Null
        } else if headers
            .get("content-type")
            .is_some_and(|t| t.as_bytes().starts_with(b"application/json"))
        {
            serde_json::from_slice(&bytes).expect("JSON answer")
        } else {
            // The portal's page, script and style.
            Value::String(String::from_utf8_lossy(&bytes).into_owned())
        };
        Response {
            status,
            headers,
            body,
        }
    }

    /// The environment a function binary of this stack runs with (beside the inherited
    /// AWS endpoint and credentials), as the template sets it.
    pub fn function_env(&self, stack_name: &str) -> Vec<(String, String)> {
        self.stack.function_env(stack_name, ADMIN_TOKEN)
    }

    /// An owner address no other test run uses (moto keeps sent emails until reset).
    pub fn unique_email(&self, name: &str) -> String {
        format!("{name}+{}@outflow.test", self.id)
    }

    /// Creates a workspace; returns its id and API key.
    pub async fn workspace(&self, owner_email: &str) -> (String, String) {
        let body = json!({"name": "Acme", "owner_email": owner_email})
            .to_string()
            .into_bytes();
        let r = self
            .call(
                Method::POST,
                "/v1/workspaces",
                Some(ADMIN_TOKEN),
                Some(body),
            )
            .await;
        assert_eq!(r.status, StatusCode::CREATED, "{:?}", r.body);
        (
            r.body["workspace_id"].as_str().unwrap().into(),
            r.body["api_key"].as_str().unwrap().into(),
        )
    }

    /// Registers an immediate-mode webhook; returns the settings answer.
    pub async fn register(&self, key: &str, url: &str) -> Value {
        self.register_with(key, url, "none").await
    }

    /// Registers a webhook with the given aggregation.
    pub async fn register_with(&self, key: &str, url: &str, aggregation: &str) -> Value {
        let body = json!({"url": url, "enabled": true, "aggregation": aggregation});
        let r = self.save_settings(key, &body).await;
        assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
        r.body
    }

    /// Adds an endpoint beside the default, delivering every type to `url` immediately
    /// (`POST /v1/endpoints`); returns its answer.
    pub async fn add_endpoint(&self, key: &str, url: &str) -> Value {
        let body = json!({ "url": url }).to_string().into_bytes();
        let r = self
            .call(Method::POST, "/v1/endpoints", Some(key), Some(body))
            .await;
        assert_eq!(r.status, StatusCode::CREATED, "{:?}", r.body);
        r.body
    }

    /// Saves the webhook settings `body` (`PUT /v1/webhooks/outbound`), whatever it holds.
    pub async fn save_settings(&self, key: &str, body: &Value) -> Response {
        let body = body.to_string().into_bytes();
        self.call(Method::PUT, "/v1/webhooks/outbound", Some(key), Some(body))
            .await
    }

    /// Makes a key named `name` holding `scopes` with the key `by` (`POST /v1/api-keys`).
    pub async fn make_key(&self, by: &str, name: &str, scopes: Value) -> Response {
        let body = json!({"name": name, "scopes": scopes}).to_string();
        self.call(Method::POST, "/v1/api-keys", Some(by), Some(body.into()))
            .await
    }

    /// Rotates `key` (`POST /v1/api-keys/rotate`).
    pub async fn rotate_key(&self, key: &str) -> Response {
        self.call(Method::POST, "/v1/api-keys/rotate", Some(key), None)
            .await
    }

    /// The workspace's keys as `key` lists them (`GET /v1/api-keys`).
    pub async fn list_keys(&self, key: &str) -> Response {
        self.call(Method::GET, "/v1/api-keys", Some(key), None)
            .await
    }

    /// A new signing secret (`POST /v1/webhooks/outbound/rotate-secret`).
    pub async fn rotate_secret(&self, key: &str) -> Response {
        self.call(
            Method::POST,
            "/v1/webhooks/outbound/rotate-secret",
            Some(key),
            None,
        )
        .await
    }

    /// Switches the webhook back on (`POST /v1/webhooks/outbound/enable`).
    pub async fn enable(&self, key: &str) -> Response {
        self.call(
            Method::POST,
            "/v1/webhooks/outbound/enable",
            Some(key),
            None,
        )
        .await
    }

    /// Sets the arrival clock (RFC 3339).
    pub fn set_time(&self, at: &str) {
        self.app.clock.set(at.parse().expect("RFC 3339 time"));
    }

    /// Runs one aggregation through `POST /local/aggregate` as of `now` (RFC 3339).
    pub async fn aggregate(&self, now: &str) -> Value {
        let body = json!({ "now": now }).to_string().into_bytes();
        let r = self
            .call(Method::POST, "/local/aggregate", None, Some(body))
            .await;
        assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
        r.body
    }

    /// Posts events.
    pub async fn ingest(&self, key: &str, body: impl Into<Vec<u8>>) -> Response {
        self.call(Method::POST, "/v1/events", Some(key), Some(body.into()))
            .await
    }

    /// Runs the sender over everything visible on the queue.
    pub async fn drain(&self) -> PumpStats {
        self.pump.drain(&self.app.sender).await.expect("pump")
    }

    /// All items in the table (tests only: the functions never scan).
    pub async fn items(&self) -> Vec<std::collections::HashMap<String, AttributeValue>> {
        let (mut items, mut start) = (Vec::new(), None);
        loop {
            let out = self
                .aws
                .dynamo
                .scan()
                .table_name(&self.stack.table)
                .set_exclusive_start_key(start)
                .send()
                .await
                .unwrap();
            items.extend(out.items.unwrap_or_default());
            start = out.last_evaluated_key;
            if start.is_none() {
                return items;
            }
        }
    }

    /// Items that carry the attribute `name` (e.g. `secret`: a registered webhook).
    pub async fn items_with_attribute(&self, name: &str) -> usize {
        self.items()
            .await
            .iter()
            .filter(|i| i.contains_key(name))
            .count()
    }

    /// Updates the workspace item of `ws` directly, to stage a state the functions would
    /// reach only slowly (an incident an hour old, a key stored before scopes).
    pub async fn update_workspace_item(
        &self,
        ws: &str,
        expression: &str,
        names: &[(&str, &str)],
        values: &[(&str, AttributeValue)],
    ) {
        let key = (format!("WS#{ws}"), "META".to_string());
        self.update_item(key, expression, names, values).await;
    }

    /// Updates the item `(pk, sk)` directly (must succeed), to stage a state the
    /// functions would reach only slowly.
    pub async fn update_item(
        &self,
        (pk, sk): (String, String),
        expression: &str,
        names: &[(&str, &str)],
        values: &[(&str, AttributeValue)],
    ) {
        let mut update = self
            .aws
            .dynamo
            .update_item()
            .table_name(&self.stack.table)
            .key("pk", AttributeValue::S(pk))
            .key("sk", AttributeValue::S(sk))
            .update_expression(expression);
        for (name, value) in names {
            update = update.expression_attribute_names(*name, *value);
        }
        for (name, value) in values {
            update = update.expression_attribute_values(*name, value.clone());
        }
        update.send().await.expect("item updated");
    }

    /// One attribute of the workspace item of `ws`, read consistently.
    pub async fn workspace_attribute(&self, ws: &str, name: &str) -> Option<AttributeValue> {
        let out = self
            .aws
            .dynamo
            .get_item()
            .table_name(&self.stack.table)
            .key("pk", AttributeValue::S(format!("WS#{ws}")))
            .key("sk", AttributeValue::S("META".into()))
            .consistent_read(true)
            .send()
            .await
            .expect("workspace item read");
        out.item.and_then(|mut item| item.remove(name))
    }

    /// The API key hashes the workspace item of `ws` holds.
    pub async fn api_key_hashes(&self, ws: &str) -> Vec<String> {
        let pk = format!("WS#{ws}");
        self.items()
            .await
            .iter()
            .filter(|i| i.get("pk").and_then(|v| v.as_s().ok()) == Some(&pk))
            .filter_map(|i| i.get("api_keys").and_then(|v| v.as_m().ok()))
            .flat_map(|m| m.keys().cloned())
            .collect()
    }

    /// Items whose sort key starts with `prefix`.
    pub async fn items_with_prefix(&self, prefix: &str) -> usize {
        self.items()
            .await
            .iter()
            .filter(|i| {
                i.get("sk")
                    .and_then(|v| v.as_s().ok())
                    .is_some_and(|s| s.starts_with(prefix))
            })
            .count()
    }

    /// Emails the emulator sent to `to`.
    pub async fn emails_to(&self, to: &str) -> Vec<Value> {
        // moto builds this dump by walking live state; while other tests write, a dump can
        // fail midway, so a failed one is fetched again.
        // SES's models only (infra/moto_server.py): the whole dump grows with the run.
        let url = format!("{}/moto-api/data.json?service=ses", self.endpoint);
        let mut data = None;
        for _ in 0..10 {
            if let Ok(response) = reqwest::get(&url).await {
                if let Ok(json) = response.json::<Value>().await {
                    data = Some(json);
                    break;
                }
            }
            tokio::time::sleep(Duration::from_millis(300)).await;
        }
        let data = data.expect("moto state dump");
        let mut found = Vec::new();
        collect_emails(&data["ses"], to, &mut found);
        found
    }

    /// Messages waiting in the dead-letter queue.
    pub async fn dead_letter_messages(&self) -> Vec<aws_sdk_sqs::types::Message> {
        self.aws
            .sqs
            .receive_message()
            .queue_url(&self.stack.dead_letter_queue_url)
            .max_number_of_messages(10)
            .message_attribute_names("All")
            .visibility_timeout(0)
            .send()
            .await
            .unwrap()
            .messages
            .unwrap_or_default()
    }

    /// Messages on the delivery queue, visible or in flight.
    pub async fn queue_depth(&self) -> usize {
        use aws_sdk_sqs::types::QueueAttributeName as A;
        let out = self
            .aws
            .sqs
            .get_queue_attributes()
            .queue_url(&self.stack.queue_url)
            .attribute_names(A::ApproximateNumberOfMessages)
            .attribute_names(A::ApproximateNumberOfMessagesNotVisible)
            .send()
            .await
            .unwrap();
        let attributes = out.attributes.unwrap_or_default();
        [
            A::ApproximateNumberOfMessages,
            A::ApproximateNumberOfMessagesNotVisible,
        ]
        .iter()
        .filter_map(|a| attributes.get(a)?.parse::<usize>().ok())
        .sum()
    }

    /// How many messages the DLQ holds.
    pub async fn dead_letters(&self) -> usize {
        let out = self
            .aws
            .sqs
            .get_queue_attributes()
            .queue_url(&self.stack.dead_letter_queue_url)
            .attribute_names(aws_sdk_sqs::types::QueueAttributeName::ApproximateNumberOfMessages)
            .send()
            .await
            .unwrap();
        out.attributes
            .and_then(|a| {
                a.get(&aws_sdk_sqs::types::QueueAttributeName::ApproximateNumberOfMessages)
                    .cloned()
            })
            .map(|v| v.parse().unwrap())
            .unwrap_or(0)
    }
}

/// moto's state dump nests sent messages by region/account; find those addressed to `to`.
fn collect_emails(node: &Value, to: &str, found: &mut Vec<Value>) {
    match node {
        Value::Object(map) => {
            let addressed = map
                .get("destinations")
                .or_else(|| map.get("destination"))
                .is_some_and(|d| d.to_string().contains(to));
            if addressed {
                found.push(node.clone());
                return;
            }
            map.values().for_each(|v| collect_emails(v, to, found));
        }
        Value::Array(items) => items.iter().for_each(|v| collect_emails(v, to, found)),
        _ => {}
    }
}
