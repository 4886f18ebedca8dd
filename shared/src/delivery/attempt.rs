//! One signed POST to the tenant, recorded in full for the request log.

use crate::domain::{RequestId, Timestamp};
use crate::queue::DeliveryEnvelope;
use crate::signing;
use crate::store::{RecordedResponse, RequestLogEntry};
use crate::url_policy::UrlPolicy;
use std::collections::BTreeMap;
use std::error::Error as _;
use std::time::Instant;

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

/// Sends one delivery and classifies the result; never panics, never returns early on error.
pub async fn attempt(
    client: &reqwest::Client,
    policy: &UrlPolicy,
    url: &str,
    secrets: &[&str],
    envelope: &DeliveryEnvelope,
) -> Attempt {
    let time = Timestamp::now();
    let mut headers = BTreeMap::from([
        ("content-type".to_string(), "application/json".to_string()),
        ("webhook-id".to_string(), envelope.delivery_id.to_string()),
        (
            "webhook-timestamp".to_string(),
            time.utc().timestamp().to_string(),
        ),
    ]);
    let mut entry = RequestLogEntry {
        request_id: RequestId::at(time.millis()),
        delivery_id: envelope.delivery_id.clone(),
        chat_id: envelope.chat_id.clone(),
        time,
        outcome: "failure".into(),
        url: url.to_string(),
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
    headers.insert("webhook-signature".into(), signature);
    entry.request_headers = headers.clone();
    if let Err(e) = policy.check_syntax(url) {
        return failed(entry, format!("URL refused: {e}"));
    }
    let mut request = client.post(url).body(envelope.body.clone());
    for (name, value) in &headers {
        request = request.header(name, value);
    }
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
    let headers = response
        .headers()
        .iter()
        .map(|(k, v)| {
            (
                k.to_string(),
                String::from_utf8_lossy(v.as_bytes()).into_owned(),
            )
        })
        .collect();
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
