//! One signed POST to the tenant, recorded in full for the request log, its failure
//! classified by kind.

use crate::domain::{
    Attempt, DeliveryEnvelope, FailureKind, Outcome, RecordedResponse, RequestId, Timestamp,
    RESPONSE_BODY_LIMIT, RESPONSE_HEADERS_LIMIT, RESPONSE_HEADER_BYTES_LIMIT,
};
use crate::signing;
use crate::url_policy::{UrlPolicy, UrlRefused};
use reqwest::header::{HeaderMap, HeaderName, HeaderValue, CONTENT_TYPE};
use std::collections::BTreeMap;
use std::error::Error as _;
use std::time::Instant;
use url::Url;

/// The Standard Webhooks headers, named once (no per-request name parsing).
const WEBHOOK_ID: HeaderName = HeaderName::from_static("webhook-id");
const WEBHOOK_TIMESTAMP: HeaderName = HeaderName::from_static("webhook-timestamp");
const WEBHOOK_SIGNATURE: HeaderName = HeaderName::from_static("webhook-signature");
/// The header naming a delivery's event type (`message:received:new`, ...).
pub const EVENT_TYPE_HEADER: &str = "webhook-event-type";

/// A webhook URL checked against the policy once for all the deliveries of a batch, and
/// parsed once: the client is handed the parsed form.
#[derive(Debug, Clone)]
pub struct Destination {
    url: String,
    checked: Result<Url, String>,
}

impl Destination {
    /// Checks `url`'s syntax and literal address (its name is checked again at connect).
    pub fn check(policy: &UrlPolicy, url: &str) -> Self {
        Self {
            url: url.to_string(),
            checked: policy
                .check_syntax(url)
                .map_err(|e| format!("URL refused: {e}")),
        }
    }
}

/// Sends one delivery at `now` and classifies the result; never panics, never returns
/// early on error.
pub async fn attempt(
    client: &reqwest::Client,
    destination: &Destination,
    secrets: &[&str],
    envelope: &DeliveryEnvelope,
    now: Timestamp,
) -> Attempt {
    let mut attempt = Attempt {
        request_id: RequestId::at(now.millis()),
        delivery_id: envelope.delivery_id.clone(),
        chat_id: envelope.chat_id.clone(),
        time: now,
        outcome: Outcome::Success,
        url: destination.url.clone(),
        request_headers: BTreeMap::new(),
        request_body: envelope.body.clone(),
        response: None,
        latency_ms: 0,
        error: None,
        failure_kind: None,
        request_body_cut: None,
    };
    let headers = match signed_headers(secrets, envelope, now) {
        Ok(headers) => headers,
        Err(error) => {
            attempt.fail(FailureKind::InvalidRequest, error);
            return attempt;
        }
    };
    attempt.request_headers = recorded(&headers);
    let target = match &destination.checked {
        Ok(target) => target.clone(),
        Err(refused) => {
            attempt.fail(FailureKind::UrlRefused, refused.clone());
            return attempt;
        }
    };
    let request = client
        .post(target)
        .headers(headers)
        .body(envelope.body.clone());
    let started = Instant::now();
    let result = request.send().await;
    let failure = match result {
        Ok(response) => {
            let status = response.status();
            let (recorded, read_error) = read_response(response).await;
            attempt.response = Some(recorded);
            judge(status, read_error)
        }
        Err(e) => Some((classify(&e), describe(&e))),
    };
    attempt.latency_ms = started.elapsed().as_millis() as u64;
    if let Some((kind, error)) = failure {
        attempt.fail(kind, error);
    }
    attempt
}

/// The Standard Webhooks headers of one delivery: space-separated signatures, one per
/// active secret (rotation).
fn signed_headers(
    secrets: &[&str],
    envelope: &DeliveryEnvelope,
    now: Timestamp,
) -> Result<HeaderMap, String> {
    let unix = now.utc().timestamp();
    let signatures = secrets
        .iter()
        .map(|secret| {
            signing::sign(
                secret,
                envelope.delivery_id.as_str(),
                unix,
                envelope.body.as_bytes(),
            )
        })
        .collect::<Result<Vec<String>, _>>()
        .map_err(|e| e.to_string())?;
    let mut headers = HeaderMap::with_capacity(5);
    headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    for (name, value) in [
        (WEBHOOK_ID, envelope.delivery_id.to_string()),
        (WEBHOOK_TIMESTAMP, unix.to_string()),
        (WEBHOOK_SIGNATURE, signatures.join(" ")),
    ] {
        let value =
            HeaderValue::from_str(&value).map_err(|e| format!("invalid {name} header: {e}"))?;
        headers.insert(name, value);
    }
    if let Some(event_type) = envelope.event_type {
        let name = HeaderName::from_static(EVENT_TYPE_HEADER);
        headers.insert(name, HeaderValue::from_static(event_type.as_str()));
    }
    Ok(headers)
}

/// What an answer means: success only for a 2xx read to the end.
fn judge(
    status: reqwest::StatusCode,
    read_error: Option<(FailureKind, String)>,
) -> Option<(FailureKind, String)> {
    match (status.is_success(), read_error) {
        (true, None) => None,
        (true, Some(read_error)) => Some(read_error),
        (false, _) if status.is_redirection() => Some((
            FailureKind::Redirect,
            format!("HTTP {status}: redirects are not followed"),
        )),
        (false, _) => Some((FailureKind::HttpStatus, format!("HTTP {status}"))),
    }
}

/// Headers as the request log keeps them.
fn recorded(headers: &HeaderMap) -> BTreeMap<String, String> {
    headers
        .iter()
        .map(|(k, v)| {
            (
                k.to_string(),
                String::from_utf8_lossy(v.as_bytes()).into_owned(),
            )
        })
        .collect()
}

/// A response's headers as the log keeps them: the first `RESPONSE_HEADERS_LIMIT`, within
/// `RESPONSE_HEADER_BYTES_LIMIT` bytes in all; true when some were left out.
fn recorded_response_headers(headers: &HeaderMap) -> (BTreeMap<String, String>, bool) {
    let mut kept = BTreeMap::new();
    let mut bytes = 0;
    for (name, value) in headers {
        let size = name.as_str().len() + value.len();
        if kept.len() == RESPONSE_HEADERS_LIMIT || bytes + size > RESPONSE_HEADER_BYTES_LIMIT {
            return (kept, true);
        }
        bytes += size;
        let value = String::from_utf8_lossy(value.as_bytes()).into_owned();
        kept.insert(name.to_string(), value);
    }
    (kept, false)
}

/// Reads headers and up to the limit of the body; a read error (e.g. the timeout) is returned.
async fn read_response(
    mut response: reqwest::Response,
) -> (RecordedResponse, Option<(FailureKind, String)>) {
    let status = response.status().as_u16();
    let (headers, headers_truncated) = recorded_response_headers(response.headers());
    let mut body = Vec::new();
    let mut truncated = false;
    let mut read_error = None;
    loop {
        match response.chunk().await {
            Ok(Some(chunk)) => {
                let room = RESPONSE_BODY_LIMIT.saturating_sub(body.len());
                body.extend_from_slice(&chunk[..chunk.len().min(room)]);
                if chunk.len() > room {
                    truncated = true;
                    break;
                }
            }
            Ok(None) => break,
            Err(e) => {
                read_error = Some((classify(&e), describe(&e)));
                break;
            }
        }
    }
    let recorded = RecordedResponse {
        status,
        headers,
        body: String::from_utf8_lossy(&body).into_owned(),
        body_truncated: truncated,
        headers_truncated,
    };
    (recorded, read_error)
}

/// The kind of a transport error, from reqwest's flags and its chain of causes: our
/// resolver's refusals, TLS (rustls reports handshake failures as invalid data).
fn classify(err: &reqwest::Error) -> FailureKind {
    if err.is_timeout() {
        return FailureKind::Timeout;
    }
    let mut source = err.source();
    while let Some(cause) = source {
        if let Some(refused) = cause.downcast_ref::<UrlRefused>() {
            return match refused {
                UrlRefused::Unresolvable(_) => FailureKind::Dns,
                _ => FailureKind::UrlRefused,
            };
        }
        let io = cause.downcast_ref::<std::io::Error>();
        if io.is_some_and(|io| io.kind() == std::io::ErrorKind::InvalidData) {
            return FailureKind::Tls;
        }
        source = cause.source();
    }
    if err.is_connect() {
        FailureKind::Connect
    } else if err.is_builder() {
        FailureKind::InvalidRequest
    } else {
        FailureKind::ConnectionClosed
    }
}

/// A one-line description of a transport error with its causes (DNS, connect, TLS, timeout).
fn describe(err: &reqwest::Error) -> String {
    let kind = if err.is_timeout() {
        "timeout"
    } else if err.is_connect() {
        "connection failed"
    } else if err.is_builder() {
        "invalid request"
    } else {
        "request failed"
    };
    let mut text = kind.to_string();
    let mut source = err.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}
