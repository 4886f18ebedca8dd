//! One signed POST to the tenant, recorded in full for the request log.

use crate::domain::{RequestId, Timestamp};
use crate::queue::DeliveryEnvelope;
use crate::signing;
use crate::store::{RecordedResponse, RequestLogEntry};
use crate::url_policy::UrlPolicy;
use reqwest::header::{HeaderMap, HeaderName, HeaderValue, CONTENT_TYPE};
use std::collections::BTreeMap;
use std::error::Error as _;
use std::time::Instant;
use url::Url;

/// Response bodies are kept up to this many bytes in the request log (8 KiB).
pub const RESPONSE_BODY_LIMIT: usize = 8 * 1024;

/// The outcome of one request.
#[derive(Debug, Clone)]
pub struct Attempt {
    /// True for a 2xx within the timeout.
    pub success: bool,
    /// Everything sent and received.
    pub entry: RequestLogEntry,
}

/// The Standard Webhooks headers, named once (no per-request name parsing).
const WEBHOOK_ID: HeaderName = HeaderName::from_static("webhook-id");
const WEBHOOK_TIMESTAMP: HeaderName = HeaderName::from_static("webhook-timestamp");
const WEBHOOK_SIGNATURE: HeaderName = HeaderName::from_static("webhook-signature");

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

/// Sends one delivery and classifies the result; never panics, never returns early on error.
pub async fn attempt(
    client: &reqwest::Client,
    destination: &Destination,
    secrets: &[&str],
    envelope: &DeliveryEnvelope,
) -> Attempt {
    let time = Timestamp::now();
    let unix = time.utc().timestamp().to_string();
    let mut entry = RequestLogEntry {
        request_id: RequestId::at(time.millis()),
        delivery_id: envelope.delivery_id.clone(),
        chat_id: envelope.chat_id.clone(),
        time,
        outcome: "failure".into(),
        url: destination.url.clone(),
        request_headers: BTreeMap::new(),
        request_body: envelope.body.clone(),
        response: None,
        latency_ms: 0,
        error: None,
    };
    // Space-separated signatures, one per active secret (Standard Webhooks rotation).
    let signatures: Result<Vec<String>, _> = secrets
        .iter()
        .map(|secret| {
            signing::sign(
                secret,
                envelope.delivery_id.as_str(),
                time.utc().timestamp(),
                envelope.body.as_bytes(),
            )
        })
        .collect();
    let signature = match signatures {
        Ok(sigs) => sigs.join(" "),
        Err(e) => return failed(entry, e.to_string()),
    };
    let mut headers = HeaderMap::with_capacity(4);
    headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    for (name, value) in [
        (WEBHOOK_ID, envelope.delivery_id.as_str()),
        (WEBHOOK_TIMESTAMP, unix.as_str()),
        (WEBHOOK_SIGNATURE, signature.as_str()),
    ] {
        match HeaderValue::from_str(value) {
            Ok(value) => headers.insert(name, value),
            Err(e) => return failed(entry, format!("invalid {name} header: {e}")),
        };
    }
    entry.request_headers = recorded(&headers);
    let target = match &destination.checked {
        Ok(target) => target.clone(),
        Err(refused) => return failed(entry, refused.clone()),
    };
    let request = client
        .post(target)
        .headers(headers)
        .body(envelope.body.clone());
    let started = Instant::now();
    let result = request.send().await;
    let outcome = match result {
        Ok(response) => {
            let status = response.status();
            let recorded = read_response(response).await;
            entry.response = Some(recorded.0);
            match (status.is_success(), recorded.1) {
                (true, None) => Ok(()),
                (true, Some(read_error)) => Err(read_error),
                (false, _) if status.is_redirection() => {
                    Err(format!("HTTP {status}: redirects are not followed"))
                }
                (false, _) => Err(format!("HTTP {status}")),
            }
        }
        Err(e) => Err(describe(&e)),
    };
    entry.latency_ms = started.elapsed().as_millis() as u64;
    match outcome {
        Ok(()) => {
            entry.outcome = "success".into();
            Attempt {
                success: true,
                entry,
            }
        }
        Err(message) => failed(entry, message),
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

fn failed(mut entry: RequestLogEntry, error: String) -> Attempt {
    entry.outcome = "failure".into();
    entry.error = Some(error);
    Attempt {
        success: false,
        entry,
    }
}

/// Reads headers and up to the limit of the body; a read error (e.g. the timeout) is returned.
async fn read_response(mut response: reqwest::Response) -> (RecordedResponse, Option<String>) {
    let status = response.status().as_u16();
    let headers = recorded(response.headers());
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
                read_error = Some(describe(&e));
                break;
            }
        }
    }
    let recorded = RecordedResponse {
        status,
        headers,
        body: String::from_utf8_lossy(&body).into_owned(),
        body_truncated: truncated,
    };
    (recorded, read_error)
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
